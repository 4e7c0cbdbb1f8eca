"""Our own call history: who last talked with each outside number, inbound or outbound.

The first source of the contact manager and the one that always works: no network. The lead's
call records feed it one `TalkFact` per answered call (the employee's extension, the other
party's E.164 number, the wall-clock time); unanswered calls are not talks and are not fed.
One row per (number, extension) keeps the latest talk and a count, so "the last employee"
can skip an extension on the exceptions list (a receptionist who answered and transferred)
and still find the manager before them. Durable (see `store`); about 60 bytes a row, so
100,000 customers × 3 employees is ≈20 MB. `prune` drops talks older than a date.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from firmware.contacts.store import SqliteFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS talk (
    e164 TEXT NOT NULL,
    extension TEXT NOT NULL,
    direction TEXT NOT NULL,
    at_s REAL NOT NULL,
    talks INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (e164, extension)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS talk_recent ON talk (e164, at_s);
"""

RECENT_LIMIT = 8
"""Candidates returned per number: enough to step over excepted extensions."""


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


@dataclass(frozen=True, slots=True)
class TalkFact:
    """An employee talked with an outside number (an answered call, either direction)."""

    e164: str
    extension: str
    direction: Direction
    at: datetime
    """When the talk ended (aware)."""


@dataclass(frozen=True, slots=True)
class PastTalk:
    extension: str
    direction: Direction
    at: datetime
    talks: int


def _epoch(at: datetime) -> float:
    if at.tzinfo is None:
        raise ValueError("history times must be aware datetimes")
    return at.timestamp()


class HistoryStore:
    """Durable last-talk table. Construct at startup (blocking open); methods are async."""

    def __init__(self, path: Path | str) -> None:
        self._file = SqliteFile(path, _SCHEMA)

    async def record(self, fact: TalkFact) -> None:
        """Remember that `fact.extension` talked with `fact.e164`; an older fact than the one
        stored keeps the stored time and direction (facts may arrive out of order)."""
        at_s = _epoch(fact.at)

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                """INSERT INTO talk (e164, extension, direction, at_s) VALUES (?, ?, ?, ?)
                ON CONFLICT (e164, extension) DO UPDATE SET
                    direction = CASE WHEN excluded.at_s >= at_s
                                     THEN excluded.direction ELSE direction END,
                    at_s = max(at_s, excluded.at_s),
                    talks = talks + 1""",
                (fact.e164, fact.extension, fact.direction.value, at_s),
            )

        await self._file.run(write)

    def recent_sync(self, e164: str, since: datetime) -> list[PastTalk]:
        """Blocking form of `recent`, for callers already in a worker thread."""
        since_s = _epoch(since)

        def read(db: sqlite3.Connection) -> list[PastTalk]:
            rows = db.execute(
                """SELECT extension, direction, at_s, talks FROM talk
                WHERE e164 = ? AND at_s >= ? ORDER BY at_s DESC LIMIT ?""",
                (e164, since_s, RECENT_LIMIT),
            ).fetchall()
            return [
                PastTalk(ext, Direction(direction), datetime.fromtimestamp(at_s, UTC), talks)
                for ext, direction, at_s, talks in rows
            ]

        return self._file.run_sync(read)

    async def recent(self, e164: str, since: datetime) -> list[PastTalk]:
        """Employees who talked with `e164` at or after `since`, the latest first."""
        return await asyncio.to_thread(self.recent_sync, e164, since)

    async def prune(self, before: datetime) -> int:
        """Forget talks older than `before`; returns how many rows went."""
        before_s = _epoch(before)

        def delete(db: sqlite3.Connection) -> int:
            return db.execute("DELETE FROM talk WHERE at_s < ?", (before_s,)).rowcount

        return await self._file.run(delete)

    def close(self) -> None:
        self._file.close()
