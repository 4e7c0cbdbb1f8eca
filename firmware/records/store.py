"""Durable storage of call records in SQLite, written off the event loop.

Layout: `data_dir/records/calls.sqlite3` (directory 0700: numbers are personal data). The
database runs in WAL mode with `synchronous=FULL` (SQLite "PRAGMA synchronous": in WAL mode FULL
syncs the WAL on every commit), so a record whose `insert` returned survives a crash or power
loss of the box; each record is one transaction (call, legs, queue visits, transfers, trunk uses
commit together or not at all). `foreign_keys=ON` makes retention's deletes cascade.

The schema version is SQLite's `user_version`; `MIGRATIONS[i]` brings version i to i+1 inside
one transaction, so an interrupted upgrade leaves the old version intact. A database from a
newer firmware is refused (`RecordStoreError`), never written.

Retention is bounded twice: records older than `Retention.max_age_days` and all but the newest
`Retention.max_calls` records are deleted, at open and every `purge_every` inserts.

`RecordStore` is synchronous and owned by one thread. `RecordWriter` gives the event loop an
async face over it: one worker thread does every open, insert and purge, so the loop never
waits on an fsync (≈ 2–10 ms on eMMC/SD per commit). `record_calls` is the service: bus events
→ `CallRecorder` → writer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from firmware.bus import EventBus, Subscription
from firmware.calls.events import Cause
from firmware.calls.numbers import NumberClass
from firmware.clock import Clock
from firmware.media.quality import CallQuality
from firmware.records.cdr import (
    RECORD_EVENTS,
    CallRecord,
    CallRecorder,
    Disposition,
    LegOutcome,
    LegRecord,
    QueueVisit,
    TransferRecord,
    TrunkRecord,
)
from firmware.records.facts import Direction, GroupKind, QueueOutcome, TransferKind
from firmware.records.tariff import Charge

log = logging.getLogger(__name__)

RECORDS_DIR = "records"
DB_NAME = "calls.sqlite3"

MIGRATIONS: tuple[str, ...] = (
    # 0 → 1
    """
    CREATE TABLE calls (
        id INTEGER PRIMARY KEY,
        call TEXT NOT NULL,
        started_epoch_s REAL NOT NULL,
        utc_offset_s INTEGER NOT NULL,
        caller TEXT NOT NULL,
        dialled TEXT NOT NULL,
        direction TEXT NOT NULL,
        disposition TEXT NOT NULL,
        cause TEXT NOT NULL,
        status INTEGER NOT NULL,
        answered_by TEXT,
        ring_s REAL NOT NULL,
        talk_s REAL NOT NULL,
        duration_s REAL NOT NULL,
        queue_wait_s REAL NOT NULL,
        trunk TEXT,
        external_number TEXT,
        cost_minor INTEGER,
        currency TEXT,
        mos_min REAL,
        UNIQUE (call, started_epoch_s)
    );
    CREATE INDEX calls_started ON calls (started_epoch_s);
    CREATE TABLE legs (
        call_id INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        leg TEXT NOT NULL,
        device TEXT NOT NULL,
        rang_s REAL NOT NULL,
        answered_s REAL,
        ended_s REAL NOT NULL,
        outcome TEXT NOT NULL,
        talk_s REAL NOT NULL,
        mos REAL,
        loss_pct REAL,
        jitter_ms REAL,
        quality_json TEXT,
        PRIMARY KEY (call_id, seq)
    );
    CREATE INDEX legs_device ON legs (device);
    CREATE TABLE queue_visits (
        call_id INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        queue TEXT NOT NULL,
        kind TEXT NOT NULL,
        joined_s REAL NOT NULL,
        left_s REAL NOT NULL,
        wait_s REAL NOT NULL,
        outcome TEXT NOT NULL,
        position INTEGER NOT NULL,
        PRIMARY KEY (call_id, seq)
    );
    CREATE INDEX queue_visits_queue ON queue_visits (queue);
    CREATE TABLE transfers (
        call_id INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        from_device TEXT NOT NULL,
        target TEXT NOT NULL,
        kind TEXT NOT NULL,
        at_s REAL NOT NULL,
        PRIMARY KEY (call_id, seq)
    );
    CREATE TABLE trunk_uses (
        call_id INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        trunk TEXT NOT NULL,
        direction TEXT NOT NULL,
        number TEXT NOT NULL,
        number_class TEXT,
        at_s REAL NOT NULL,
        talk_s REAL NOT NULL,
        rate TEXT,
        billed_s INTEGER,
        cost_minor INTEGER,
        currency TEXT,
        PRIMARY KEY (call_id, seq)
    );
    CREATE INDEX trunk_uses_trunk ON trunk_uses (trunk);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class RecordStoreError(Exception):
    """The record database cannot be used (newer schema, not a database, disk failure)."""


@dataclass(frozen=True, slots=True)
class Retention:
    """How long call records are kept."""

    max_age_days: int = field(default=365, metadata={"min": 1, "max": 3650})
    """Records older than this many days are deleted."""
    max_calls: int = field(default=1_000_000, metadata={"min": 1000, "max": 10_000_000})
    """At most this many records are kept; the oldest go first (≈ 1 KB each on disk)."""
    purge_every: int = 500
    """Inserts between purges (one also runs at open)."""


def db_path(data_dir: Path) -> Path:
    return data_dir / RECORDS_DIR / DB_NAME


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection with the durability settings; read-only ones never create the file."""
    if read_only:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    else:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to `SCHEMA_VERSION`; returns the version found. Raises
    RecordStoreError for a database written by newer firmware."""
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise RecordStoreError(
            f"call records schema {found} is newer than this firmware's {SCHEMA_VERSION}"
        )
    for version in range(found, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        log.info("call records schema migrated to %d", version + 1)
    return found


class RecordStore:
    """The call-record database. Synchronous; use from one thread (see `RecordWriter`)."""

    def __init__(self, path: Path, retention: Retention | None = None) -> None:
        self.path = path
        self.retention = retention or Retention()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            self._conn = connect(path)
            migrate(self._conn)
        except sqlite3.DatabaseError as exc:
            raise RecordStoreError(f"{path}: {exc}") from exc
        self._since_purge = 0

    def close(self) -> None:
        self._conn.close()

    @property
    def connection(self) -> sqlite3.Connection:
        return self._conn

    def insert(self, record: CallRecord) -> bool:
        """Commit one record durably; False if it was stored before (same call and start)."""
        return self.insert_many([record])[0]

    def insert_many(self, records: list[CallRecord]) -> list[bool]:
        """Commit `records` in one durable transaction: one fsync for the lot, which is what
        lets a busy box record hundreds of calls a second. Per record, False if it was stored
        before (same call and start)."""
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            stored = [self._insert(c, record) for record in records]
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        self._since_purge += sum(stored)
        if self._since_purge >= self.retention.purge_every:
            self.purge(datetime.now(UTC))
        return stored

    def _insert(self, c: sqlite3.Connection, record: CallRecord) -> bool:
        """One record's rows, inside the caller's transaction."""
        cur = c.execute(
            "INSERT OR IGNORE INTO calls (call, started_epoch_s, utc_offset_s, caller, "
            "dialled, direction, disposition, cause, status, answered_by, ring_s, talk_s, "
            "duration_s, queue_wait_s, trunk, external_number, cost_minor, currency, mos_min)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                record.call, record.started.timestamp(), _offset_s(record.started),
                record.caller, record.dialled, record.direction.value,
                record.disposition.value, record.cause.value, record.status,
                record.answered_by, record.ring_s, record.talk_s, record.duration_s,
                record.queue_wait_s, record.trunk, record.external_number,
                record.cost_minor, _currency(record), record.mos_min,
            ),
        )
        if cur.rowcount == 0:
            return False
        row_id = cur.lastrowid
        c.executemany(
            "INSERT INTO legs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (row_id, i, leg.leg, leg.device, leg.rang_s, leg.answered_s, leg.ended_s,
                 leg.outcome.value, leg.talk_s,
                 None if leg.quality is None else leg.quality.mos,
                 None if leg.quality is None else leg.quality.loss_pct,
                 None if leg.quality is None else leg.quality.jitter_ms,
                 None if leg.quality is None else json.dumps(asdict(leg.quality)))
                for i, leg in enumerate(record.legs)
            ],
        )
        c.executemany(
            "INSERT INTO queue_visits VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (row_id, i, v.queue, v.kind.value, v.joined_s, v.left_s, v.wait_s,
                 v.outcome.value, v.position)
                for i, v in enumerate(record.queues)
            ],
        )
        c.executemany(
            "INSERT INTO transfers VALUES (?,?,?,?,?,?)",
            [
                (row_id, i, t.from_device, t.target, t.kind.value, t.at_s)
                for i, t in enumerate(record.transfers)
            ],
        )
        c.executemany(
            "INSERT INTO trunk_uses VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (row_id, i, t.trunk, t.direction.value, t.number,
                 None if t.number_class is None else t.number_class.value, t.at_s, t.talk_s,
                 None if t.charge is None else t.charge.rate,
                 None if t.charge is None else t.charge.billed_s,
                 None if t.charge is None else t.charge.cost_minor,
                 None if t.charge is None else t.charge.currency)
                for i, t in enumerate(record.trunks)
            ],
        )
        return True

    def purge(self, now: datetime) -> int:
        """Delete records beyond the retention limits; returns how many went."""
        self._since_purge = 0
        cutoff = (now - timedelta(days=self.retention.max_age_days)).timestamp()
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            n = c.execute("DELETE FROM calls WHERE started_epoch_s < ?", (cutoff,)).rowcount
            n += c.execute(
                "DELETE FROM calls WHERE id IN (SELECT id FROM calls "
                "ORDER BY started_epoch_s DESC, id DESC LIMIT -1 OFFSET ?)",
                (self.retention.max_calls,),
            ).rowcount
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        if n:
            log.info("call records: %d past retention deleted", n)
        return n

    def records(self, start: datetime, end: datetime) -> list[CallRecord]:
        """Records that started in [start, end), oldest first, rebuilt whole."""
        return read_records(self._conn, start, end)


def _offset_s(when: datetime) -> int:
    offset = when.utcoffset()
    if offset is None:
        raise ValueError("call record start must be timezone-aware")
    return int(offset.total_seconds())


def _currency(record: CallRecord) -> str | None:
    return next((t.charge.currency for t in record.trunks if t.charge is not None), None)


def read_records(conn: sqlite3.Connection, start: datetime, end: datetime) -> list[CallRecord]:
    """Records that started in [start, end) from any connection, oldest first."""
    rows = conn.execute(
        "SELECT id, call, started_epoch_s, utc_offset_s, caller, dialled, direction, "
        "disposition, cause, status, answered_by, ring_s, talk_s, duration_s FROM calls "
        "WHERE started_epoch_s >= ? AND started_epoch_s < ? ORDER BY started_epoch_s, id",
        (start.timestamp(), end.timestamp()),
    ).fetchall()
    out: list[CallRecord] = []
    for r in rows:
        row_id = r[0]
        legs = tuple(
            LegRecord(leg, device, rang, ans, ended, LegOutcome(outcome),
                      None if q is None else CallQuality(**json.loads(q)))
            for leg, device, rang, ans, ended, outcome, q in conn.execute(
                "SELECT leg, device, rang_s, answered_s, ended_s, outcome, quality_json "
                "FROM legs WHERE call_id = ? ORDER BY seq", (row_id,))
        )
        visits = tuple(
            QueueVisit(q, GroupKind(kind), joined, left, QueueOutcome(outcome), pos)
            for q, kind, joined, left, outcome, pos in conn.execute(
                "SELECT queue, kind, joined_s, left_s, outcome, position FROM queue_visits "
                "WHERE call_id = ? ORDER BY seq", (row_id,))
        )
        transfers = tuple(
            TransferRecord(frm, target, TransferKind(kind), at)
            for frm, target, kind, at in conn.execute(
                "SELECT from_device, target, kind, at_s FROM transfers WHERE call_id = ? "
                "ORDER BY seq", (row_id,))
        )
        trunks = tuple(
            TrunkRecord(trunk, Direction(direction), number,
                        None if ncls is None else NumberClass(ncls), at, talk,
                        None if rate is None else Charge(rate, billed, cost, currency))
            for trunk, direction, number, ncls, at, talk, rate, billed, cost, currency
            in conn.execute(
                "SELECT trunk, direction, number, number_class, at_s, talk_s, rate, billed_s, "
                "cost_minor, currency FROM trunk_uses WHERE call_id = ? ORDER BY seq", (row_id,))
        )
        tz = timezone(timedelta(seconds=r[3]))
        out.append(CallRecord(
            call=r[1], started=datetime.fromtimestamp(r[2], tz), caller=r[4], dialled=r[5],
            direction=Direction(r[6]), disposition=Disposition(r[7]), cause=Cause(r[8]),
            status=r[9], answered_by=r[10], ring_s=r[11], talk_s=r[12], duration_s=r[13],
            legs=legs, queues=visits, transfers=transfers, trunks=trunks,
        ))
    return out


FLUSH_INTERVAL_S = 0.2
"""Longest a finished call's record waits before its transaction starts (group commit)."""


class RecordWriter:
    """Async front of a `RecordStore` whose every operation runs on one worker thread."""

    def __init__(self, path: Path, retention: Retention | None = None) -> None:
        self._path = path
        self._retention = retention
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cdr-writer")
        self._store: RecordStore | None = None
        self._queue: list[CallRecord] = []
        self._flush_timer: asyncio.TimerHandle | None = None
        self._pending: set[Future[int]] = set()
        self.written = 0
        self.failed = 0

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._store = await loop.run_in_executor(
            self._executor, self._open_and_purge
        )

    def _open_and_purge(self) -> RecordStore:
        store = RecordStore(self._path, self._retention)
        store.purge(datetime.now(UTC))
        return store

    def submit(self, record: CallRecord) -> None:
        """Queue `record` for the worker; never blocks. Failures are logged and counted.

        Records are committed together, at most `FLUSH_INTERVAL_S` after the first of them
        (group commit): at hundreds of calls a second one transaction and fsync per record
        cost more CPU than the calls themselves; a power cut can take the last fraction of a
        second of records, a crash of the service cannot (the queue is flushed on stop)."""
        if self._store is None:
            raise RuntimeError("RecordWriter.open() first")
        self._queue.append(record)
        if self._flush_timer is None:
            self._flush_timer = asyncio.get_running_loop().call_later(
                FLUSH_INTERVAL_S, self._flush)

    def _flush(self) -> None:
        """Hand everything queued to the worker as one transaction."""
        self._flush_timer = None
        store = self._store
        if not self._queue or store is None:
            return
        batch, self._queue = self._queue, []
        fut = self._executor.submit(self._commit, store, batch)
        self._pending.add(fut)
        fut.add_done_callback(self._done)

    def _commit(self, store: RecordStore, batch: list[CallRecord]) -> int:
        """On the worker: one transaction for `batch`; returns how many records."""
        try:
            store.insert_many(batch)
        except (sqlite3.Error, OSError) as exc:
            self.failed += len(batch)
            log.error("%d call records not stored (%s): %s", len(batch),
                      ", ".join(r.call for r in batch[:5]), exc)
            return 0
        return len(batch)

    def _done(self, fut: Future[int]) -> None:
        self._pending.discard(fut)
        exc = fut.exception()
        if exc is None:
            self.written += fut.result()
        else:
            self.failed += 1
            log.error("call records not stored: %s", exc)

    async def write(self, record: CallRecord) -> bool:
        """Store `record` and wait for its commit; raises what the store raised."""
        store = self._store
        if store is None:
            raise RuntimeError("RecordWriter.open() first")
        loop = asyncio.get_running_loop()
        stored = await loop.run_in_executor(self._executor, store.insert, record)
        self.written += 1
        return stored

    async def drain(self) -> None:
        """Commit what is queued now and wait for every submitted record (or its failure)."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
        self._flush()
        pending = list(self._pending)
        if pending:
            await asyncio.gather(*(asyncio.wrap_future(f) for f in pending),
                                 return_exceptions=True)

    async def call(self, fn: Callable[[RecordStore], Any]) -> Any:
        """Run `fn(store)` on the writer thread (reports on the live database, purges)."""
        store = self._store
        if store is None:
            raise RuntimeError("RecordWriter.open() first")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, store)

    async def close(self) -> None:
        """Drain, close the database and stop the thread; idempotent."""
        await self.drain()
        store, self._store = self._store, None
        if store is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, store.close)
        self._executor.shutdown(wait=True)


def local_now() -> datetime:
    """The wall clock with the system's offset (what the office reads on its clocks)."""
    return datetime.now().astimezone()


async def record_calls(
    bus: EventBus,
    recorder: CallRecorder,
    writer: RecordWriter,
    clock: Clock,
    wall: Callable[[], datetime] = local_now,
    maxlen: int = 8192,
    *,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until cancelled, or until `stop` is set and the events already published are
    recorded (the service's shutdown: the calls it ended get their records): every call event
    into `recorder`, every finished record to `writer` (submitted, not awaited, so the loop
    never waits for a commit)."""

    async def close_on_stop(sub: Subscription, stop: asyncio.Event) -> None:
        await stop.wait()
        sub.close()  # the loop below takes what is queued, then ends

    with bus.subscribe(*RECORD_EVENTS, maxlen=maxlen) as sub:
        watcher = (asyncio.get_running_loop().create_task(close_on_stop(sub, stop))
                   if stop is not None else None)
        try:
            async for event in sub:
                record = recorder.handle(event, clock.now(), wall())
                if record is not None:
                    writer.submit(record)
                if sub.dropped:
                    log.warning("call records: %d events dropped, records may lack legs",
                                sub.dropped)
                    sub.dropped = 0
        finally:
            if watcher is not None:
                watcher.cancel()
            await writer.drain()

