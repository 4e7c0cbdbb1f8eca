"""CRM ownership cache: the last answer each CRM gave for each number, kept on disk.

Two ages matter (settings of the manager, not of this store): within `fresh_s` an entry answers
without asking the CRM at all (a caller who rings back within minutes costs no request); up to
`max_age_s` it answers when the CRM is down, slow or unreachable — the box works offline. A CRM
that answers "no such contact" removes the entry, so a reassigned or deleted contact does not
keep ringing its old manager. Entries store the CRM's user id, not our extension: the user
table is configuration and may change after the entry was written. Durable (see `store`).
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from firmware.contacts.connectors.base import Owner
from firmware.contacts.store import SqliteFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS owner (
    source TEXT NOT NULL,
    e164 TEXT NOT NULL,
    user_id TEXT NOT NULL,
    extension TEXT,
    contact_id TEXT,
    stored_s REAL NOT NULL,
    PRIMARY KEY (source, e164)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS owner_age ON owner (stored_s);
"""


@dataclass(frozen=True, slots=True)
class CachedOwner:
    owner: Owner
    stored_at: datetime

    def age_s(self, at: datetime) -> float:
        return (at - self.stored_at).total_seconds()


def _epoch(at: datetime) -> float:
    if at.tzinfo is None:
        raise ValueError("cache times must be aware datetimes")
    return at.timestamp()


class OwnerCache:
    """Durable (source, number) → owner table. Construct at startup (blocking open)."""

    def __init__(self, path: Path | str) -> None:
        self._file = SqliteFile(path, _SCHEMA)

    async def put(self, source: str, e164: str, owner: Owner, at: datetime) -> None:
        stored_s = _epoch(at)

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                """INSERT OR REPLACE INTO owner
                (source, e164, user_id, extension, contact_id, stored_s)
                VALUES (?, ?, ?, ?, ?, ?)""",
                (source, e164, owner.user_id, owner.extension, owner.contact_id, stored_s),
            )

        await self._file.run(write)

    async def forget(self, source: str, e164: str) -> None:
        await self._file.run(
            lambda db: (
                db.execute(
                    "DELETE FROM owner WHERE source = ? AND e164 = ?", (source, e164)
                ).rowcount
            )
        )

    def entries_sync(self, e164: str) -> dict[str, CachedOwner]:
        """Blocking form of `entries`."""

        def read(db: sqlite3.Connection) -> dict[str, CachedOwner]:
            rows = db.execute(
                """SELECT source, user_id, extension, contact_id, stored_s FROM owner
                WHERE e164 = ?""",
                (e164,),
            ).fetchall()
            return {
                source: CachedOwner(
                    Owner(user_id, extension, contact_id),
                    datetime.fromtimestamp(stored_s, UTC),
                )
                for source, user_id, extension, contact_id, stored_s in rows
            }

        return self._file.run_sync(read)

    async def entries(self, e164: str) -> dict[str, CachedOwner]:
        """Every CRM's cached owner of `e164`, by source name."""
        return await asyncio.to_thread(self.entries_sync, e164)

    async def prune(self, before: datetime) -> int:
        """Drop entries stored before `before` (older than any useful `max_age_s`)."""
        before_s = _epoch(before)
        return await self._file.run(
            lambda db: db.execute("DELETE FROM owner WHERE stored_s < ?", (before_s,)).rowcount
        )

    def close(self) -> None:
        self._file.close()
