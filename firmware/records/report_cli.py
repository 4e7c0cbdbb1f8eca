"""`switchbox report`: call reports from the record database, as a table or CSV.

    switchbox report {calls,employees,departments,trunks,hourly,missed}
                     [--from WHEN] [--to WHEN] [--csv FILE] [--data DIR]
                     [--service-level-s S] [--long-call-s S]

WHEN is a date (YYYY-MM-DD, the office's local midnight) or an ISO 8601 date and time (with or
without offset; without, local time). `--to` a date includes that whole day; a time is
exclusive. Defaults: from today's midnight to now. The database is opened read-only, so a
report never blocks or changes the running service's writes (WAL readers do not block the
writer).

Exit codes (sysexits(3)): 0 done, 64 bad usage, 66 no record database, 74 cannot read it or
cannot write the CSV file.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TextIO

from firmware.records.reports import (
    LONG_CALL_S,
    ROW_TYPES,
    SERVICE_LEVEL_S,
    Period,
    ReportKind,
    export_csv,
    format_table,
    run_report,
    write_csv,
)
from firmware.records.store import connect, db_path

log = logging.getLogger(__name__)

EX_OK = 0
EX_USAGE = 64
EX_NOINPUT = 66
EX_IOERR = 74


def parse_when(text: str, *, end: bool = False) -> datetime:
    """A date or date-time as an aware datetime in local time; `end` moves a bare date to the
    next midnight (the day is included)."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day).astimezone()
            return (start + timedelta(days=1)).astimezone() if end else start
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date or ISO 8601 time") from exc
    return when if when.tzinfo is not None else when.astimezone()


def build_parser(default_data: Path | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchbox report", description="Call reports.")
    parser.add_argument("kind", choices=[k.value for k in ReportKind])
    parser.add_argument("--from", dest="start", metavar="WHEN", default=None,
                        help="first day or time (default: today)")
    parser.add_argument("--to", dest="end", metavar="WHEN", default=None,
                        help="last day (included) or time (excluded); default: now")
    parser.add_argument("--csv", type=Path, metavar="FILE", default=None,
                        help="write CSV to FILE ('-' for standard output) instead of a table")
    parser.add_argument("--data", type=Path, metavar="DIR", default=default_data,
                        required=default_data is None, help="data directory")
    parser.add_argument("--service-level-s", type=float, default=SERVICE_LEVEL_S,
                        help="answered within this many seconds counts as in service level")
    parser.add_argument("--long-call-s", type=float, default=LONG_CALL_S,
                        help="talks at least this long count as long calls")
    return parser


def main(
    argv: list[str] | None = None,
    *,
    default_data: Path | None = None,
    out: TextIO | None = None,
    now: datetime | None = None,
) -> int:
    """Run the command; returns the exit code. `now` (aware) fixes the default period."""
    stdout = sys.stdout if out is None else out
    parser = build_parser(default_data)
    try:
        args = parser.parse_args(argv)
        current = now or datetime.now().astimezone()
        start = (parse_when(args.start) if args.start
                 else current.replace(hour=0, minute=0, second=0, microsecond=0))
        end = parse_when(args.end, end=True) if args.end else current + timedelta(seconds=1)
    except argparse.ArgumentTypeError as exc:
        parser.print_usage(sys.stderr)
        sys.stderr.write(f"switchbox report: error: {exc}\n")
        return EX_USAGE
    except SystemExit as exc:
        return EX_OK if exc.code == 0 else EX_USAGE
    if end <= start:
        sys.stderr.write("switchbox report: --to must be after --from\n")
        return EX_USAGE
    path = db_path(args.data)
    if not path.exists():
        sys.stderr.write(f"switchbox report: no call records at {path}\n")
        return EX_NOINPUT
    kind = ReportKind(args.kind)
    row_type = ROW_TYPES[kind]
    try:
        conn = connect(path, read_only=True)
        try:
            rows = run_report(kind, conn, Period(start, end),
                              service_level_s=args.service_level_s,
                              long_call_s=args.long_call_s)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        sys.stderr.write(f"switchbox report: cannot read {path}: {exc}\n")
        return EX_IOERR
    if args.csv is None:
        stdout.write(format_table(rows, row_type) + "\n")
        return EX_OK
    if str(args.csv) == "-":
        write_csv(rows, row_type, stdout)
        return EX_OK
    try:
        n = export_csv(rows, row_type, args.csv)
    except OSError as exc:
        sys.stderr.write(f"switchbox report: cannot write {args.csv}: {exc}\n")
        return EX_IOERR
    sys.stderr.write(f"{n} rows written to {args.csv}\n")
    return EX_OK
