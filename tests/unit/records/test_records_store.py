import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from firmware.bus import EventBus
from firmware.clock import ManualClock
from firmware.records.cdr import CallRecorder
from firmware.records.store import (
    SCHEMA_VERSION,
    RecordStore,
    RecordStoreError,
    RecordWriter,
    Retention,
    connect,
    db_path,
    record_calls,
)

from .office_day import MIDNIGHT, TARIFFS, day_events, feed

REPO = Path(__file__).resolve().parents[3]
DAY = (MIDNIGHT, MIDNIGHT + timedelta(days=1))


def test_stored_records_read_back_equal(tmp_path: Path) -> None:
    records = feed(day_events())
    store = RecordStore(db_path(tmp_path))
    for record in records:
        assert store.insert(record)
    assert store.records(*DAY) == records
    store.close()


def test_same_call_is_stored_once(tmp_path: Path) -> None:
    record = feed(day_events())[0]
    store = RecordStore(db_path(tmp_path))
    assert store.insert(record) and not store.insert(record)
    assert store.connection.execute("SELECT COUNT(*) FROM legs").fetchone()[0] == 2
    store.close()


def test_database_is_wal_with_full_sync_and_versioned(tmp_path: Path) -> None:
    store = RecordStore(db_path(tmp_path))
    c = store.connection
    assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert c.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.close()
    assert oct(db_path(tmp_path).parent.stat().st_mode & 0o777) == "0o700"


def test_database_from_newer_firmware_is_refused(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    RecordStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RecordStoreError, match="newer"):
        RecordStore(path)


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RecordStoreError):
        RecordStore(path)


def test_retention_deletes_old_and_excess_records_with_their_legs(tmp_path: Path) -> None:
    records = feed(day_events())
    store = RecordStore(db_path(tmp_path), Retention(max_age_days=30, max_calls=4))
    old = replace(records[0], call="old", started=records[0].started - timedelta(days=31))
    for record in [old, *records]:
        store.insert(record)
    deleted = store.purge(MIDNIGHT + timedelta(days=1))
    assert deleted == 1 + 6
    assert [r.call for r in store.records(MIDNIGHT - timedelta(days=60), DAY[1])] == [
        "c7", "c8", "c9", "c10"]
    assert store.connection.execute(
        "SELECT COUNT(*) FROM legs WHERE call_id NOT IN (SELECT id FROM calls)").fetchone()[0] == 0
    store.close()


WRITER = textwrap.dedent("""
    import sys
    from dataclasses import replace
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from firmware.records.store import RecordStore
    from tests.unit.records.office_day import day_events, feed
    base = feed(day_events())[2]
    store = RecordStore(Path({path!r}))
    i = 0
    while True:
        store.insert(replace(base, call=f"k{{i}}"))
        sys.stdout.write(f"{{i}}\\n")
        sys.stdout.flush()
        i += 1
""")


def test_committed_record_survives_sigkill_of_the_writer(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    script = WRITER.format(repo=str(REPO), path=str(path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    last = -1
    try:
        for line in proc.stdout:
            last = int(line)
            if last >= 40:
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert last >= 40
    conn = connect(path, read_only=True)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {row[0] for row in conn.execute("SELECT call FROM calls")}
    # Every record whose insert returned is there, whole (legs with it).
    assert {f"k{i}" for i in range(last + 1)} <= stored
    legs = conn.execute("SELECT COUNT(*) FROM legs").fetchone()[0]
    assert legs == 2 * len(stored)
    conn.close()


async def test_service_records_bus_events_without_blocking(tmp_path: Path) -> None:
    bus = EventBus()
    clock = ManualClock()
    writer = RecordWriter(db_path(tmp_path))
    await writer.open()
    events = day_events()

    def wall() -> object:
        return MIDNIGHT + timedelta(seconds=clock.now())

    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(record_calls(bus, CallRecorder(TARIFFS), writer, clock,
                                           wall))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        for event in events:
            clock.advance(max(event.at - clock.now(), 0.0))  # type: ignore[attr-defined]
            bus.publish(event)
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        task.cancel()  # the service drains the writer before it ends
    assert (writer.written, writer.failed) == (10, 0)
    rows = await writer.call(lambda store: store.records(*DAY))
    await writer.close()
    assert rows == feed(day_events())
    assert rows[0].talk_s == 120.0 and rows[7].cost_minor == 268
