"""The `schedule`, `modes` and per-mode `inbound` settings: defaults that keep old documents
valid, every refusal at its setting path and line, and the hours as the schedule runs them."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from firmware.calls.office import build_office, build_schedule
from firmware.config.errors import ConfigError
from firmware.config.schema import ScheduleSettings, WeekdayName, WorkingHours
from firmware.config.validate import dump_config, parse_config

USERS = """\
office: {country: RU}
users:
  - {id: alice, extension: "201", role: admin}
  - {id: bob, extension: "202"}
"""


def problems(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    return [(p.path, p.line, p.message) for p in err.value.problems]


def test_an_old_document_without_schedule_still_loads() -> None:
    c = parse_config(USERS + 'inbound:\n  - {line: fxo1, destination: "202"}\n')
    assert c.schedule == ScheduleSettings() and not c.schedule.enabled
    assert c.modes.authorised_users is None
    assert c.inbound[0].night is None and c.inbound[0].holiday is None
    assert build_office(c, ("fxo1",)).schedule is None


def test_unquoted_times_and_dates_are_read_as_written() -> None:
    # YAML 1.1 reads 18:00 as the sexagesimal number 1080 and 2026-12-31 as a date.
    c = parse_config(USERS + """\
schedule:
  enabled: true
  working_hours:
    - {days: [fri], start: 08:30, end: 17:00, lunch_start: null, lunch_end: null}
  closures: [2026-12-31]
  working_days: ["2026-11-07"]
  weekend_workday_as: fri
""")
    hours = c.schedule.working_hours[0]
    assert (hours.start, hours.end, hours.lunch_start) == ("08:30", "17:00", None)
    assert hours.days == (WeekdayName.FRI,)
    assert c.schedule.closures == ("2026-12-31",)
    assert parse_config(dump_config(c)) == c


def test_default_hours_are_weekdays_nine_to_six_with_lunch_at_one() -> None:
    assert ScheduleSettings().working_hours == (WorkingHours(),)
    s = build_schedule(parse_config(USERS + "schedule: {enabled: true}\n"))
    assert s is not None
    msk = ZoneInfo("Europe/Moscow")
    tuesday = date(2026, 3, 3)

    def mode(hh: int, mm: int = 0, day: date = tuesday) -> str:
        return s.mode_at(datetime(day.year, day.month, day.day, hh, mm, tzinfo=msk))

    assert [mode(8, 59), mode(9), mode(13, 30), mode(14), mode(20)] == \
        ["night", "day", "lunch", "day", "night"]
    assert mode(10, day=date(2026, 1, 1)) == "holiday"  # RU New Year, office country
    assert mode(10, day=date(2026, 3, 7)) == "night"  # Saturday


def test_holidays_follow_the_schedule_country_or_none() -> None:
    msk = ZoneInfo("Europe/Moscow")
    may_day = datetime(2026, 5, 1, 10, tzinfo=msk)  # Friday: RU and DE holiday, not US
    base = USERS + "schedule:\n  enabled: true\n"
    us = build_schedule(parse_config(base + "  country: US\n"))
    off = build_schedule(parse_config(base + "  public_holidays: false\n"))
    ru = build_schedule(parse_config(base))
    assert us is not None and off is not None and ru is not None
    assert (ru.mode_at(may_day), us.mode_at(may_day), off.mode_at(may_day)) == \
        ("holiday", "day", "day")
    closed = build_schedule(parse_config(base + "  closures: [2026-03-03]\n"))
    assert closed is not None
    assert closed.mode_at(datetime(2026, 3, 3, 10, tzinfo=msk)) == "holiday"


def test_night_shift_hours_cross_midnight() -> None:
    s = build_schedule(parse_config(USERS + """\
schedule:
  enabled: true
  public_holidays: false
  working_hours:
    - {days: [mon], start: "22:00", end: "06:00", lunch_start: "02:00", lunch_end: "02:30"}
"""))
    assert s is not None
    msk = ZoneInfo("Europe/Moscow")
    monday = date(2026, 3, 2)
    assert [s.mode_at(datetime(2026, 3, d, h, m, tzinfo=msk)) for d, h, m in
            ((2, 21, 59), (2, 23, 0), (3, 2, 15), (3, 3, 0), (3, 6, 0))] == \
        ["night", "day", "lunch", "day", "night"]
    assert monday.weekday() == 0


def test_schedule_mistakes_are_each_reported_at_their_setting() -> None:
    found = problems(USERS + """\
schedule:
  enabled: true
  time_zone: Europe/Moskow
  subdivision: XX
  working_hours:
    - {days: [mon, tue]}
    - {days: [tue], start: "17:00", end: "19:00", lunch_start: null, lunch_end: null}
    - {days: [wed], start: "09:00", end: "12:00", lunch_start: "13:00", lunch_end: "14:00"}
    - {days: [thu], start: "09:00", end: "18:00", lunch_start: "13:00", lunch_end: null}
    - {days: [fri], start: "09:00", end: "09:00"}
  closures: [2026-02-30, 2026-03-09]
  working_days: [2026-03-09]
""")
    paths = {path: (line, message) for path, line, message in found}
    assert "unknown time zone 'Europe/Moskow'" in paths["schedule.time_zone"][1]
    assert paths["schedule.time_zone"][0] == 7
    assert "RU has no subdivision 'XX'" in paths["schedule.subdivision"][1]
    assert "overlaps schedule.working_hours[0]" in paths["schedule.working_hours[1]"][1]
    assert paths["schedule.working_hours[1]"][0] == 11
    assert "not within the hours 09:00–12:00" in \
        paths["schedule.working_hours[2].lunch_start"][1]
    assert "give both lunch_start and lunch_end" in \
        paths["schedule.working_hours[3].lunch_end"][1]
    assert "ends when it starts" in paths["schedule.working_hours[4].end"][1]
    assert "'2026-02-30' is no calendar date" in paths["schedule.closures[0]"][1]
    assert "also listed in closures" in paths["schedule.working_days"][1]
    assert len(found) == 8
    shape = problems(USERS + "schedule:\n  working_hours: [{days: [sat], start: '9:00'}]\n")
    assert shape == [("schedule.working_hours[0].start", 6,
                      "must be HH:MM local wall time, 00:00 to 23:59, not '9:00'")]


def test_a_disabled_schedule_is_not_checked() -> None:
    parse_config(USERS + "schedule: {enabled: false, time_zone: Mars/Olympus}\n")


def test_mode_switchers_and_mode_routes_must_exist() -> None:
    found = problems(USERS + """\
modes: {authorised_users: [alice, alcie]}
inbound:
  - {line: fxo1, destination: "201", night: "299", lunch: "202", holiday: "201"}
""")
    assert ("modes.authorised_users[1]", 5,
            "no user has id 'alcie': did you mean 'alice'?") in found
    assert ("inbound[0].night", 7, "'299' is no extension or department number") in found
    assert len(found) == 2
    shape = problems(USERS + 'inbound:\n  - {line: fxo1, destination: "201", holiday: "*8"}\n')
    assert shape == [("inbound[0].holiday", 6, "must be 2 to 5 digits, not '*8'")]
