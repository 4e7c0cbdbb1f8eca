"""Each report over the office day of office_day.py, against figures worked out by hand there."""

import io
from datetime import timedelta
from pathlib import Path

import pytest

from firmware.records.report_cli import main
from firmware.records.reports import (
    ROW_TYPES,
    DepartmentRow,
    EmployeeRow,
    HourRow,
    Period,
    ReportKind,
    TrunkRow,
    calls_report,
    departments_report,
    employees_report,
    hourly_report,
    missed_report,
    read_csv,
    run_report,
    trunks_report,
    write_csv,
)
from firmware.records.store import RecordStore, connect, db_path

from .office_day import MIDNIGHT, day_events, feed

DAY = Period(MIDNIGHT, MIDNIGHT + timedelta(days=1))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("records")
    store = RecordStore(db_path(root))
    for record in feed(day_events()):
        store.insert(record)
    store.close()
    return root


@pytest.fixture
def conn(data_dir: Path):  # type: ignore[no-untyped-def]
    c = connect(db_path(data_dir), read_only=True)
    yield c
    c.close()


def test_employee_report(conn) -> None:  # type: ignore[no-untyped-def]
    # 201: rang in c1, c2, c10, answered none, c2 and c10 missed by everyone; placed c7
    #      (95.5 s to +74951234567).
    # 202: rang in c1, c2, c10, answered c1 (120 s); placed c8 (61.2 s, connected) and c9.
    # 203: c3 (60 s until the transfer) and c5 (60 s), both from +74951110003.
    # 204: c3 after the transfer, 60 s.
    assert employees_report(conn, DAY) == [
        EmployeeRow("201", 3, 0, 0.0, 2, 1, 1, 95.5, 1, 1),
        EmployeeRow("202", 3, 1, 0.3333, 2, 2, 1, 181.2, 2, 2),
        EmployeeRow("203", 2, 2, 1.0, 0, 0, 0, 120.0, 2, 1),
        EmployeeRow("204", 1, 1, 1.0, 0, 0, 0, 60.0, 1, 1),
    ]
    # A 90 s threshold leaves 201's 95.5 s and 202's 120 s as long calls.
    long_90 = {r.device: r.long_calls for r in employees_report(conn, DAY, long_call_s=90.0)}
    assert long_90 == {"201": 1, "202": 1, "203": 0, "204": 0}


def test_department_and_queue_report(conn) -> None:  # type: ignore[no-untyped-def]
    # sales: c1 answered after 8 s, c2 abandoned at 30 s, c10 overflowed at 30 s.
    # support: c3 answered after 45 s, c4 abandoned at 15 s, c5 answered after 10 s.
    assert departments_report(conn, DAY) == [
        DepartmentRow("sales", "department", 3, 1, 1, 1, 0.3333, 0.3333, 22.667, 8.0, 30.0),
        DepartmentRow("support", "queue", 3, 2, 1, 0, 0.3333, 0.3333, 23.333, 27.5, 45.0),
    ]
    # With a 60 s service-level target both of support's answers count.
    assert departments_report(conn, DAY, service_level_s=60.0)[1].service_level == 0.6667


def test_trunk_report(conn) -> None:  # type: ignore[no-untyped-def]
    # city1: in c1 (120 s), c2, c10; out c7 95.5 s → 120 s billed per minute at 1.20 = 2.40.
    # sip1: in c3 (125 s), c4, c5 (60 s); out c8 61.2 s → 62 s billed 60+1 at 2.50 + 0.10
    #       setup = 2.68; c9 unanswered, 0.
    assert trunks_report(conn, DAY) == [
        TrunkRow("city1", 3, 1, 2, 215.5, 120, 240, "RUB", 0),
        TrunkRow("sip1", 3, 2, 3, 246.2, 62, 268, "RUB", 0),
    ]


def test_hourly_report_uses_the_office_clock(conn) -> None:  # type: ignore[no-untyped-def]
    rows = {r.hour: r for r in hourly_report(conn, DAY)}
    assert len(rows) == 24
    assert rows[9] == HourRow(9, 2, 2, 0, 0, 1, 1, 120.0)
    assert rows[10] == HourRow(10, 3, 3, 0, 0, 2, 1, 185.0)
    assert rows[11] == HourRow(11, 1, 0, 0, 1, 0, 0, 0.0)
    assert rows[14] == HourRow(14, 2, 0, 2, 0, 2, 0, 156.7)
    assert rows[15] == HourRow(15, 1, 0, 1, 0, 0, 0, 0.0)
    assert rows[16] == HourRow(16, 1, 1, 0, 0, 0, 1, 0.0)
    assert sum(r.calls for r in rows.values()) == 10  # nothing in UTC hours 6, 7, 13


def test_missed_report_says_whom_each_call_rang(conn) -> None:  # type: ignore[no-untyped-def]
    missed = missed_report(conn, DAY)
    assert [(m.call, m.caller, m.disposition, m.ring_s, m.queues, m.rung) for m in missed] == [
        ("c2", "+74951110002", "cancelled", 30.0, "sales", "201;202"),
        ("c4", "+74951110004", "cancelled", 15.0, "support", ""),
        ("c10", "+74951110005", "no_answer", 30.0, "sales", "201;202"),
    ]
    assert missed[0].started == "2024-05-06T09:30:00+03:00"


def test_period_bounds_select_calls(conn) -> None:  # type: ignore[no-untyped-def]
    morning = Period(MIDNIGHT + timedelta(hours=9), MIDNIGHT + timedelta(hours=10, minutes=20))
    assert [r.call for r in calls_report(conn, morning)] == ["c1", "c2", "c3"]


@pytest.mark.parametrize("kind", list(ReportKind))
def test_csv_round_trip(conn, kind: ReportKind) -> None:  # type: ignore[no-untyped-def]
    rows = run_report(kind, conn, DAY)
    assert rows
    buf = io.StringIO()
    write_csv(rows, ROW_TYPES[kind], buf)
    buf.seek(0)
    assert read_csv(buf, ROW_TYPES[kind]) == list(rows)


def test_csv_with_the_wrong_header_is_refused() -> None:
    with pytest.raises(ValueError, match="header"):
        read_csv(io.StringIO("a,b\r\n1,2\r\n"), EmployeeRow)


def test_cli_exports_csv_that_reads_back(data_dir: Path, tmp_path: Path, conn) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "calls.csv"
    code = main(["calls", "--from", "2024-05-06T00:00+03:00", "--to", "2024-05-07T00:00+03:00",
                 "--csv", str(out), "--data", str(data_dir)])
    assert code == 0
    with out.open(newline="") as fh:
        back = read_csv(fh, ROW_TYPES[ReportKind.CALLS])
    assert back == calls_report(conn, DAY)
    assert back[7].cost_minor == 268 and back[2].rung == "203;204" and back[2].transfers == 1


def test_cli_prints_a_table_and_rejects_bad_input(data_dir: Path, tmp_path: Path) -> None:
    buf = io.StringIO()
    assert main(["trunks", "--from", "2024-05-06T00:00+03:00", "--to", "2024-05-07T00:00+03:00",
                 "--data", str(data_dir)], out=buf) == 0
    lines = buf.getvalue().splitlines()
    assert lines[0].split()[:3] == ["trunk", "inbound", "outbound"]
    assert lines[2].split()[:3] == ["sip1", "3", "2"]
    assert main(["trunks", "--from", "yesterday", "--data", str(data_dir)]) == 64
    assert main(["bogus", "--data", str(data_dir)]) == 64
    assert main(["calls", "--data", str(tmp_path / "empty")]) == 66


def test_switchbox_report_is_the_records_command_line(tmp_path: Path) -> None:
    from firmware.cli import main

    assert main(["report", "calls", "--data", str(tmp_path)]) == 66  # no records yet
