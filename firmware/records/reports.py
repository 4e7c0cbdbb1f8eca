"""Call reports as SQL over the record store, and CSV export/import of any report.

Every report covers the calls that *started* in a period [start, end) and returns frozen rows
(one dataclass per report) that print as a table, export as CSV (RFC 4180, header = field
names) and read back equal (`read_csv`). Definitions, so a manager and a test agree:

* calls — one row per call; `rung` lists the phones rung, in order, joined by ";".
* employees — per device: `offered` calls that rang it (inbound and internal), `answered` of
  those on it, `answered_share` = answered / offered, `missed` = offered calls nobody answered;
  `outbound` calls it placed to a trunk and how many `connected`; `talk_s` its own talk (its
  answered legs plus its connected outbound calls); conversion inputs: `long_calls` — talks of
  at least `long_call_s` (default 60 s), and `unique_numbers` — distinct external numbers
  talked with.
* departments (ring groups and queues) — per group: `offered` visits, `answered`, `abandoned`,
  `overflowed` (overflow, voicemail key, callback request); `service_level` = visits answered
  within `service_level_s` (default 20 s, the "80/20" convention) / offered; `abandon_rate` =
  abandoned / offered; `avg_wait_s` over all visits, `avg_answer_s` over answered visits (ASA),
  `max_wait_s` the longest wait.
* trunks — per trunk: calls in and out, answered, talk, billed seconds and cost (integer minor
  units; `unpriced` counts answered outbound uses no rate matched).
* hourly — 24 rows, hour of day on the office's clock when the call started (the UTC offset
  stored with each record), calls by direction, answered, missed inbound, talk.
* missed — inbound calls nobody answered, with the phones they rang and the groups they
  waited in (issue 6 item 8: "recorded with whom it rang").
"""

from __future__ import annotations

import csv
import dataclasses
import sqlite3
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO, TypeVar

from firmware.records.store import read_records

SERVICE_LEVEL_S = 20.0
LONG_CALL_S = 60.0


class ReportKind(StrEnum):
    CALLS = "calls"
    EMPLOYEES = "employees"
    DEPARTMENTS = "departments"
    TRUNKS = "trunks"
    HOURLY = "hourly"
    MISSED = "missed"


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end): both timezone-aware."""

    start: datetime
    end: datetime

    def params(self) -> dict[str, float]:
        return {"start": self.start.timestamp(), "end": self.end.timestamp()}


@dataclass(frozen=True, slots=True)
class CallRow:
    started: str
    """ISO 8601 with the office's UTC offset."""
    call: str
    direction: str
    caller: str
    dialled: str
    external_number: str | None
    trunk: str | None
    disposition: str
    cause: str
    answered_by: str | None
    rung: str
    ring_s: float
    talk_s: float
    duration_s: float
    queue: str | None
    queue_wait_s: float
    transfers: int
    cost_minor: int | None
    currency: str | None
    mos_min: float | None


@dataclass(frozen=True, slots=True)
class EmployeeRow:
    device: str
    offered: int
    answered: int
    answered_share: float | None
    missed: int
    outbound: int
    connected: int
    talk_s: float
    long_calls: int
    unique_numbers: int


@dataclass(frozen=True, slots=True)
class DepartmentRow:
    queue: str
    kind: str
    offered: int
    answered: int
    abandoned: int
    overflowed: int
    service_level: float | None
    abandon_rate: float | None
    avg_wait_s: float | None
    avg_answer_s: float | None
    max_wait_s: float | None


@dataclass(frozen=True, slots=True)
class TrunkRow:
    trunk: str
    inbound: int
    outbound: int
    answered: int
    talk_s: float
    billed_s: int
    cost_minor: int
    currency: str | None
    unpriced: int


@dataclass(frozen=True, slots=True)
class HourRow:
    hour: int
    calls: int
    inbound: int
    outbound: int
    internal: int
    answered: int
    missed: int
    talk_s: float


@dataclass(frozen=True, slots=True)
class MissedRow:
    started: str
    call: str
    caller: str
    dialled: str
    trunk: str | None
    disposition: str
    ring_s: float
    queues: str
    rung: str


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def calls_report(conn: sqlite3.Connection, period: Period) -> list[CallRow]:
    rows = []
    for rec in read_records(conn, period.start, period.end):
        rows.append(CallRow(
            started=rec.started.isoformat(), call=rec.call, direction=rec.direction.value,
            caller=rec.caller, dialled=rec.dialled, external_number=rec.external_number,
            trunk=rec.trunk, disposition=rec.disposition.value, cause=rec.cause.value,
            answered_by=rec.answered_by, rung=";".join(rec.rung), ring_s=round(rec.ring_s, 3),
            talk_s=round(rec.talk_s, 3), duration_s=round(rec.duration_s, 3),
            queue=rec.queues[0].queue if rec.queues else None,
            queue_wait_s=round(rec.queue_wait_s, 3), transfers=len(rec.transfers),
            cost_minor=rec.cost_minor,
            currency=next((t.charge.currency for t in rec.trunks if t.charge), None),
            mos_min=_r(rec.mos_min, 2),
        ))
    return rows


_PERIOD_CALLS = (
    "pc AS (SELECT * FROM calls WHERE started_epoch_s >= :start AND started_epoch_s < :end)"
)


def employees_report(
    conn: sqlite3.Connection, period: Period, long_call_s: float = LONG_CALL_S
) -> list[EmployeeRow]:
    sql = f"""
    WITH {_PERIOD_CALLS},
    rang AS (
        SELECT l.device AS device, c.id AS cid, MAX(l.answered_s IS NOT NULL) AS ans,
               c.disposition AS disposition
        FROM legs l JOIN pc c ON c.id = l.call_id
        WHERE c.direction != 'outbound' GROUP BY l.device, c.id),
    talks AS (
        SELECT l.device AS device, c.id AS cid, l.talk_s AS talk_s, c.external_number AS number
        FROM legs l JOIN pc c ON c.id = l.call_id
        WHERE l.answered_s IS NOT NULL AND c.direction != 'outbound'
        UNION ALL
        SELECT caller, id, talk_s, external_number FROM pc
        WHERE direction = 'outbound' AND disposition = 'answered'),
    outb AS (
        SELECT caller AS device, COUNT(*) AS placed, SUM(disposition = 'answered') AS connected
        FROM pc WHERE direction = 'outbound' GROUP BY caller),
    devs AS (SELECT device FROM rang UNION SELECT device FROM outb)
    SELECT d.device,
        (SELECT COUNT(*) FROM rang r WHERE r.device = d.device),
        (SELECT COALESCE(SUM(ans), 0) FROM rang r WHERE r.device = d.device),
        (SELECT COUNT(*) FROM rang r WHERE r.device = d.device AND r.disposition != 'answered'),
        COALESCE(o.placed, 0), COALESCE(o.connected, 0),
        (SELECT COALESCE(SUM(talk_s), 0) FROM talks t WHERE t.device = d.device),
        (SELECT COUNT(DISTINCT cid) FROM talks t
            WHERE t.device = d.device AND t.talk_s >= :long_s),
        (SELECT COUNT(DISTINCT number) FROM talks t WHERE t.device = d.device)
    FROM devs d LEFT JOIN outb o ON o.device = d.device ORDER BY d.device
    """
    out = []
    for dev, offered, answered, missed, placed, connected, talk, long_n, uniq in conn.execute(
        sql, {**period.params(), "long_s": long_call_s}
    ):
        out.append(EmployeeRow(
            dev, offered, answered, _share(answered, offered), missed, placed, connected,
            round(talk, 3), long_n, uniq,
        ))
    return out


def departments_report(
    conn: sqlite3.Connection, period: Period, service_level_s: float = SERVICE_LEVEL_S
) -> list[DepartmentRow]:
    sql = f"""
    WITH {_PERIOD_CALLS}
    SELECT v.queue, v.kind, COUNT(*),
        SUM(v.outcome = 'answered'), SUM(v.outcome = 'abandoned'),
        SUM(v.outcome IN ('overflow', 'voicemail', 'callback')),
        SUM(v.outcome = 'answered' AND v.wait_s <= :sl_s),
        AVG(v.wait_s), AVG(CASE WHEN v.outcome = 'answered' THEN v.wait_s END), MAX(v.wait_s)
    FROM queue_visits v JOIN pc c ON c.id = v.call_id
    GROUP BY v.queue, v.kind ORDER BY v.queue, v.kind
    """
    out = []
    for q, kind, offered, answered, abandoned, overflowed, in_sl, avg_w, asa, max_w in (
        conn.execute(sql, {**period.params(), "sl_s": service_level_s})
    ):
        out.append(DepartmentRow(
            q, kind, offered, answered, abandoned, overflowed, _share(in_sl, offered),
            _share(abandoned, offered), _r(avg_w), _r(asa), _r(max_w),
        ))
    return out


def trunks_report(conn: sqlite3.Connection, period: Period) -> list[TrunkRow]:
    sql = f"""
    WITH {_PERIOD_CALLS}
    SELECT t.trunk, SUM(t.direction = 'inbound'), SUM(t.direction = 'outbound'),
        SUM(c.disposition = 'answered'), COALESCE(SUM(t.talk_s), 0),
        COALESCE(SUM(t.billed_s), 0), COALESCE(SUM(t.cost_minor), 0), MAX(t.currency),
        SUM(t.direction = 'outbound' AND t.talk_s > 0 AND t.cost_minor IS NULL)
    FROM trunk_uses t JOIN pc c ON c.id = t.call_id
    GROUP BY t.trunk ORDER BY t.trunk
    """
    return [
        TrunkRow(trunk, inb, outb, ans, round(talk, 3), billed, cost, cur, unpriced)
        for trunk, inb, outb, ans, talk, billed, cost, cur, unpriced in conn.execute(
            sql, period.params())
    ]


def hourly_report(conn: sqlite3.Connection, period: Period) -> list[HourRow]:
    sql = f"""
    WITH {_PERIOD_CALLS}
    SELECT (CAST(started_epoch_s AS INTEGER) + utc_offset_s) % 86400 / 3600 AS hour, COUNT(*),
        SUM(direction = 'inbound'), SUM(direction = 'outbound'), SUM(direction = 'internal'),
        SUM(disposition = 'answered'),
        SUM(direction = 'inbound' AND disposition != 'answered'), SUM(talk_s)
    FROM pc GROUP BY hour
    """
    found = {
        h: HourRow(h, n, i, o, x, a, m, round(t, 3))
        for h, n, i, o, x, a, m, t in conn.execute(sql, period.params())
    }
    return [found.get(h, HourRow(h, 0, 0, 0, 0, 0, 0, 0.0)) for h in range(24)]


def missed_report(conn: sqlite3.Connection, period: Period) -> list[MissedRow]:
    out = []
    for rec in read_records(conn, period.start, period.end):
        if rec.direction.value != "inbound" or rec.answered:
            continue
        out.append(MissedRow(
            rec.started.isoformat(), rec.call, rec.caller, rec.dialled, rec.trunk,
            rec.disposition.value, round(rec.ring_s, 3),
            ";".join(v.queue for v in rec.queues), ";".join(rec.rung),
        ))
    return out


Row = CallRow | EmployeeRow | DepartmentRow | TrunkRow | HourRow | MissedRow


def run_report(
    kind: ReportKind,
    conn: sqlite3.Connection,
    period: Period,
    *,
    service_level_s: float = SERVICE_LEVEL_S,
    long_call_s: float = LONG_CALL_S,
) -> Sequence[Row]:
    if kind is ReportKind.CALLS:
        return calls_report(conn, period)
    if kind is ReportKind.EMPLOYEES:
        return employees_report(conn, period, long_call_s)
    if kind is ReportKind.DEPARTMENTS:
        return departments_report(conn, period, service_level_s)
    if kind is ReportKind.TRUNKS:
        return trunks_report(conn, period)
    if kind is ReportKind.HOURLY:
        return hourly_report(conn, period)
    return missed_report(conn, period)


ROW_TYPES: dict[ReportKind, type[Any]] = {
    ReportKind.CALLS: CallRow, ReportKind.EMPLOYEES: EmployeeRow,
    ReportKind.DEPARTMENTS: DepartmentRow, ReportKind.TRUNKS: TrunkRow,
    ReportKind.HOURLY: HourRow, ReportKind.MISSED: MissedRow,
}


def _cell(value: object) -> str:
    # An empty cell is None; repr-exact floats (str(float) is the shortest round-trip form).
    return "" if value is None else str(value)


def write_csv(rows: Iterable[Any], row_type: type[Any], out: TextIO) -> int:
    """Write rows of `row_type` with a header line; returns the number of rows."""
    names = [f.name for f in dataclasses.fields(row_type)]
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(names)
    n = 0
    for row in rows:
        writer.writerow([_cell(getattr(row, name)) for name in names])
        n += 1
    return n


T = TypeVar("T")


def _parse(text: str, hint: Any) -> Any:
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        if text == "" and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
    if hint is int:
        return int(text)
    if hint is float:
        return float(text)
    return text


def read_csv(source: TextIO, row_type: type[T]) -> list[T]:
    """Rows written by `write_csv`; ValueError when the header does not match `row_type`."""
    hints = typing.get_type_hints(row_type)
    names = [f.name for f in dataclasses.fields(row_type)]  # type: ignore[arg-type]
    reader = csv.reader(source)
    header = next(reader, None)
    if header != names:
        raise ValueError(f"CSV header {header!r} is not a {row_type.__name__} report")
    return [row_type(*(_parse(c, hints[n]) for c, n in zip(cells, names, strict=True)))
            for cells in reader]


def export_csv(rows: Sequence[Any], row_type: type[Any], path: Path) -> int:
    """Write a report to `path` atomically enough for an export (temp file, rename)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        n = write_csv(rows, row_type, fh)
    tmp.replace(path)
    return n


def format_table(rows: Sequence[Any], row_type: type[Any]) -> str:
    """Rows as an aligned text table for a terminal."""
    names = [f.name for f in dataclasses.fields(row_type)]
    cells = [[_cell(getattr(r, n)) for n in names] for r in rows]
    widths = [max([len(n), *(len(c[i]) for c in cells)]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in cells]
    return "\n".join(lines)


def day_period(day: datetime, days: int = 1) -> Period:
    """From the midnight of `day` (in its own timezone) for `days` days."""
    start = day.replace(hour=0, minute=0, second=0, microsecond=0)
    return Period(start, start + timedelta(days=days))

