"""One small SQLite file, used from the event loop without blocking it.

SQLite (stdlib `sqlite3`) in WAL mode with `synchronous=FULL`: every committed write is fsynced
before the call returns, so a power cut loses nothing acknowledged (house rule for durable
data). Each operation runs in a worker thread (`asyncio.to_thread`) under one lock — a lookup
is one indexed read of ≈50 µs and a write one fsync (≈1–10 ms on an SD card), far too long to
hold the loop. A file that cannot be opened raises `sqlite3.Error` at construction: the caller
decides whether the contact manager runs without it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class SqliteFile:
    """A connection shared by worker threads; `schema` is run once at open (idempotent DDL)."""

    def __init__(self, path: Path | str, schema: str) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=1000")
        self._db.executescript(schema)
        self._closed = False

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on the connection inside one transaction (blocking: not on the loop)."""
        with self._lock:
            if self._closed:
                raise sqlite3.ProgrammingError("store is closed")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return result

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self.run_sync, fn)

    def close(self) -> None:
        """Idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()
