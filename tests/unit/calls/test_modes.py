"""ModeService: the operating mode by schedule (RU holidays), by the `mode` feature code from
authorised phones, by the panel; ModeChanged on the bus; the override kept across restarts."""

from __future__ import annotations

import asyncio
import calendar
import json
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from firmware.bus import EventBus
from firmware.calls import modes
from firmware.calls.modes import ModeService, ModeSwitch
from firmware.calls.office import Office, build_office
from firmware.config.validate import parse_config
from firmware.schedule import ChangeReason, ModeChanged

MSK = ZoneInfo("Europe/Moscow")
PASSWORD = "Vq7mKx2pRt9sWb4n"

CONFIG = f"""\
office: {{country: RU}}
users:
  - {{id: alice, extension: "201", role: admin}}
  - {{id: bob, extension: "202"}}
  - {{id: night, extension: "290"}}
devices:
  - {{id: alice-desk, user: alice, username: "201", password: {PASSWORD}}}
inbound:
  - {{line: fxo1, destination: "201", night: "290"}}
schedule:
  enabled: true
  time_zone: Europe/Moscow
  working_hours:
    - {{days: [mon, tue, wed, thu, fri], start: 09:00, end: 18:00,
       lunch_start: 13:00, lunch_end: 14:00}}
"""

TUESDAY = date(2026, 3, 3)


def at(day: date, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=MSK)


@pytest.fixture(scope="module")
def office() -> Office:
    return build_office(parse_config(CONFIG), ("fxo1",))


def service(office: Office, now: datetime, state: Path | None = None,
            bus: EventBus | None = None) -> ModeService:
    s = ModeService(bus or EventBus(), state)
    s.apply(office.schedule, now, authorised_users=office.mode_switchers)
    return s


def drain(sub: object) -> list[ModeChanged]:
    out: list[ModeChanged] = []
    while (event := sub.get_nowait()) is not None:  # type: ignore[attr-defined]
        assert isinstance(event, ModeChanged)
        out.append(event)
    return out


def test_the_test_dates_are_what_the_tests_say() -> None:
    # Independent of the holiday library: the Gregorian calendar and the Russian Labour Code
    # art. 112 (1-8 January are non-working holidays).
    assert calendar.weekday(2026, 3, 3) == calendar.TUESDAY
    assert calendar.weekday(2026, 1, 1) == calendar.THURSDAY


def test_russian_new_year_at_10_is_holiday(office: Office) -> None:
    assert service(office, at(date(2026, 1, 1), 10)).mode == "holiday"


@pytest.mark.parametrize(("hh", "mm", "mode"), [
    (8, 59, "night"), (9, 0, "day"), (12, 59, "day"), (13, 30, "lunch"), (14, 0, "day"),
    (17, 59, "day"), (18, 0, "night"), (20, 0, "night")])
def test_a_working_tuesday_follows_the_hours(office: Office, hh: int, mm: int,
                                             mode: str) -> None:
    assert service(office, at(TUESDAY, hh, mm)).mode == mode


def test_weekend_is_night(office: Office) -> None:
    assert service(office, at(date(2026, 3, 7), 12)).mode == "night"  # Saturday


def test_unauthorised_code_is_refused_and_changes_nothing(office: Office, tmp_path: Path) -> None:
    bus = EventBus()
    sub = bus.subscribe(ModeChanged)
    s = service(office, at(TUESDAY, 10), tmp_path / "mode.json", bus)
    for user in ("bob", None, "nobody"):
        result = s.switch_by_code(user, "2", at(TUESDAY, 10, 1))
        assert result.outcome is ModeSwitch.NOT_AUTHORISED
        assert s.mode == "day" and s.override is None
    assert drain(sub) == []
    assert not (tmp_path / "mode.json").exists()


def test_authorised_code_gives_night_at_once_with_an_event(office: Office) -> None:
    bus = EventBus()
    sub = bus.subscribe(ModeChanged)
    s = service(office, at(TUESDAY, 10), bus=bus)
    when = at(TUESDAY, 16)
    result = s.switch_by_code("alice", "2", when)
    assert result.outcome is ModeSwitch.DONE and result.mode == "night"
    assert s.mode == "night"
    assert drain(sub) == [ModeChanged("day", "night", when, ChangeReason.OVERRIDE,
                                      "user:alice")]
    assert office.inbound_for("fxo1", s.mode) == "290"


def test_code_0_returns_to_the_schedule(office: Office) -> None:
    bus = EventBus()
    sub = bus.subscribe(ModeChanged)
    s = service(office, at(TUESDAY, 10), bus=bus)
    s.switch_by_code("alice", "2", at(TUESDAY, 10, 5))
    result = s.switch_by_code("alice", "0", at(TUESDAY, 10, 6))
    assert result.outcome is ModeSwitch.DONE and s.mode == "day" and s.override is None
    assert [e.reason for e in drain(sub)] == [ChangeReason.OVERRIDE,
                                              ChangeReason.OVERRIDE_CLEARED]


@pytest.mark.parametrize("argument", ["5", "9", "22", "", "*"])
def test_other_digits_are_a_bad_argument(office: Office, argument: str) -> None:
    s = service(office, at(TUESDAY, 10))
    assert s.switch_by_code("alice", argument, at(TUESDAY, 10)).outcome is \
        ModeSwitch.BAD_ARGUMENT
    assert s.mode == "day" and s.override is None


def test_each_digit_selects_its_mode(office: Office) -> None:
    s = service(office, at(TUESDAY, 10))
    for digit, mode in (("2", "night"), ("3", "lunch"), ("4", "holiday"), ("1", "day")):
        assert s.switch_by_code("alice", digit, at(TUESDAY, 10)).mode == mode


def test_night_by_code_ends_when_the_schedule_next_changes(office: Office) -> None:
    s = service(office, at(TUESDAY, 10))
    s.switch_by_code("alice", "2", at(TUESDAY, 16))
    assert s.next_deadline() == at(TUESDAY, 18)
    s.tick(at(TUESDAY, 17, 59, 59))
    assert s.mode == "night" and s.override is not None
    s.tick(at(TUESDAY, 18))
    assert s.override is None and s.mode == "night"
    s.tick(at(TUESDAY + timedelta(days=1), 9))
    assert s.mode == "day"  # a forgotten *42 does not keep Wednesday's callers out


def test_holiday_by_code_lasts_the_whole_day(office: Office) -> None:
    s = service(office, at(TUESDAY, 8))
    s.switch_by_code("alice", "4", at(TUESDAY, 8))
    s.tick(at(TUESDAY, 9, 30))  # the schedule's 09:00 switch to day does not end it
    assert s.mode == "holiday"
    assert s.next_deadline() == at(TUESDAY + timedelta(days=1), 9)
    s.tick(at(TUESDAY + timedelta(days=1), 9))
    assert s.mode == "day" and s.override is None


def test_without_a_schedule_it_is_day_and_a_switch_holds(tmp_path: Path) -> None:
    plain = build_office(parse_config('users:\n  - {id: a, extension: "201", role: admin}\n'))
    assert plain.schedule is None
    s = service(plain, at(TUESDAY, 23))
    assert s.mode == "day"
    s.switch_by_code("a", "2", at(TUESDAY, 23))
    assert s.override is not None and s.override.until is None
    s.tick(at(TUESDAY, 23) + timedelta(days=30))
    assert s.mode == "night"


def test_override_survives_a_new_service_over_the_same_state_file(office: Office,
                                                                  tmp_path: Path) -> None:
    state = tmp_path / "state" / "mode.json"  # the directory is made on first save
    first = service(office, at(TUESDAY, 10), state)
    first.switch_by_code("alice", "2", at(TUESDAY, 10))
    bus = EventBus()
    sub = bus.subscribe(ModeChanged)
    second = service(office, at(TUESDAY, 11), state, bus)
    assert second.mode == "night"
    assert second.override is not None and second.override.by == "user:alice"
    assert second.override.until == at(TUESDAY, 13)
    assert [e.new for e in drain(sub)] == ["night"]
    second.switch_by_code("alice", "0", at(TUESDAY, 11, 30))
    assert service(office, at(TUESDAY, 11, 31), state).mode == "day"


def test_an_override_that_ended_while_off_is_not_restored(office: Office,
                                                          tmp_path: Path) -> None:
    state = tmp_path / "mode.json"
    service(office, at(TUESDAY, 10), state).switch_by_code("alice", "2", at(TUESDAY, 10))
    assert service(office, at(TUESDAY, 15), state).mode == "day"


@pytest.mark.parametrize("content", [
    b"\x00\xff garbage", b"{not json", b"[]", b'{"version": 1, "override": 5}',
    b'{"version": 1, "override": {"mode": "night"}}',
    b'{"version": 1, "override": {"mode": "night", "since": "yesterday", "until": null, '
    b'"by": "x"}}',
    b'{"version": 1, "override": {"mode": "night", "since": "2026-03-03T10:00:00", '
    b'"until": null, "by": "x"}}',
    b'{"version": 1, "override": {"mode": "party", "since": "2026-03-03T10:00:00+03:00", '
    b'"until": null, "by": "x"}}',
    b'{"version": 99}',
])
def test_a_damaged_state_file_is_logged_and_ignored(office: Office, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture,
                                                    content: bytes) -> None:
    state = tmp_path / "mode.json"
    state.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="firmware.calls.modes"):
        s = service(office, at(TUESDAY, 10), state)
    assert s.mode == "day" and s.override is None
    assert any(r.levelno == logging.WARNING for r in caplog.records)


def test_state_is_plain_json_with_aware_times(office: Office, tmp_path: Path) -> None:
    state = tmp_path / "mode.json"
    service(office, at(TUESDAY, 10), state).switch_by_code("alice", "2", at(TUESDAY, 10))
    data = json.loads(state.read_text())
    assert data["override"]["mode"] == "night"
    assert datetime.fromisoformat(data["override"]["until"]) == at(TUESDAY, 13)


def test_a_new_revision_keeps_the_override_and_the_new_switchers(office: Office) -> None:
    s = service(office, at(TUESDAY, 10))
    s.switch_by_code("alice", "2", at(TUESDAY, 10))
    s.apply(office.schedule, at(TUESDAY, 10, 1), authorised_users={"bob"})
    assert s.mode == "night"
    assert s.switch_by_code("alice", "1", at(TUESDAY, 10, 2)).outcome is \
        ModeSwitch.NOT_AUTHORISED
    s.apply(None, at(TUESDAY, 10, 3))  # schedule turned off: the override stays
    assert s.mode == "night"


async def test_run_switches_at_the_deadline(office: Office) -> None:
    bus = EventBus()
    sub = bus.subscribe(ModeChanged)
    loop = asyncio.get_running_loop()
    t0, start = loop.time(), at(TUESDAY, 17, 59, 59) + timedelta(milliseconds=800)

    def wall() -> datetime:
        return start + timedelta(seconds=loop.time() - t0)

    s = service(office, wall(), bus=bus)
    task = asyncio.create_task(s.run(wall))
    try:
        event = await asyncio.wait_for(sub.get(), timeout=3)
    finally:
        task.cancel()
    assert isinstance(event, ModeChanged)
    assert (event.old, event.new, event.reason) == ("day", "night", ChangeReason.SCHEDULE)
    assert event.at >= at(TUESDAY, 18)


async def test_run_notices_a_wall_clock_step(office: Office,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(modes, "MAX_SLEEP_S", 0.05)
    bus = EventBus()
    sub = bus.subscribe(ModeChanged)
    now = [at(TUESDAY, 10)]
    s = service(office, now[0], bus=bus)
    task = asyncio.create_task(s.run(lambda: now[0]))
    try:
        await asyncio.sleep(0.1)
        assert s.mode == "day"
        now[0] = at(TUESDAY, 20).astimezone(UTC)  # NTP fixed a clock 10 h slow
        event = await asyncio.wait_for(sub.get(), timeout=2)
    finally:
        task.cancel()
    assert isinstance(event, ModeChanged) and event.new == "night"
