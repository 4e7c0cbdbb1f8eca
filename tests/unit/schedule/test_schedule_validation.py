"""Refused schedules name every problem with its setting path and the fix."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from firmware.config.errors import ConfigError
from firmware.schedule import WORKDAYS, Schedule, ScheduleSpec, Weekday, Window

from .office import ru_office

MONDAY = frozenset({Weekday.MONDAY})


def problems(spec: ScheduleSpec) -> list[str]:
    with pytest.raises(ConfigError) as info:
        Schedule.from_spec(spec, path="inbound[0].schedule")
    return [f"{p.path}: {p.message}" for p in info.value.problems]


def test_lunch_inside_day_window_is_reported_with_the_shared_time() -> None:
    found = problems(ScheduleSpec(windows=(
        Window("day", WORKDAYS, time(9), time(19)),
        Window("lunch", MONDAY, time(13), time(14)),
    )))
    assert found == [
        "inbound[0].schedule.windows[1]: (lunch, Mon 13:00–14:00) overlaps windows[0] "
        "(day, Mon–Fri 09:00–19:00) on Mon 13:00–14:00; windows must not share time: "
        "split the longer one around the shorter"
    ]


def test_sunday_night_into_monday_morning_overlap_wraps_the_week() -> None:
    found = problems(ScheduleSpec(windows=(
        Window("day", WORKDAYS, time(9), time(19)),
        Window("night", frozenset({Weekday.SUNDAY}), time(22), time(10)),
    )))
    assert len(found) == 1
    assert "on Mon 09:00–10:00" in found[0]
    assert found[0].startswith("inbound[0].schedule.windows[1]: (night, Sun 22:00–10:00)")


def test_touching_windows_and_overnight_windows_are_accepted() -> None:
    office = ru_office()    # 09–13, 13–14, 14–19, 19–09 on Mon–Fri touch but never overlap
    assert office.modes == frozenset({"day", "lunch", "night", "holiday", "emergency"})


SUBDIVISION = "subdivision (library-dependent list)"


def test_every_problem_is_listed_at_once() -> None:
    found = problems(ScheduleSpec(
        time_zone="Europe/Moskow", country="DE", subdivision="XX",
        default_mode="Night", windows=(
            Window("day", frozenset(), time(9), time(9)),
            Window("lunch", MONDAY, time(13, 0, 30), time(14)),
        ),
        closures=frozenset({date(2025, 1, 2)}), working_days=frozenset({date(2025, 1, 2)}),
    ))
    # The list of German subdivisions grows with the holidays library (Augsburg since 0.7x).
    assert found[1].startswith("inbound[0].schedule.subdivision: DE has no subdivision 'XX'; "
                               "choose one of: BB, BE, BW, BY, HB, HE, HH, MV, NI, NW, RP, SH")
    found[1] = SUBDIVISION
    assert found == [
        "inbound[0].schedule.time_zone: unknown time zone 'Europe/Moskow'; use an IANA name "
        "such as 'Europe/Moscow' (is the tzdata package installed?)",
        SUBDIVISION,
        "inbound[0].schedule.default_mode: mode name 'Night' must be 1 to 32 lower-case "
        "letters, digits, '.', '_' or '-', starting with a letter or digit",
        "inbound[0].schedule.windows[0].days: no days: list at least one weekday",
        "inbound[0].schedule.windows[0]: starts and ends at 09:00: a window lasts from one "
        "minute to 23 h 59 min; leave the time uncovered to use default_mode",
        "inbound[0].schedule.windows[1].start: 13:00:30 must be whole minutes of local wall "
        "time, without seconds or a UTC offset",
        "inbound[0].schedule.working_days: 2025-01-02 is also listed in closures; keep it in "
        "one list",
    ]


def test_unknown_country_is_refused() -> None:
    found = problems(ScheduleSpec(country="XX"))
    assert found == ["inbound[0].schedule.country: no public holiday calendar for 'XX'; use an "
                     "ISO 3166-1 alpha-2 code such as 'RU' or leave it empty and list closures"]


def test_naive_datetime_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        ru_office().mode_at(datetime(2025, 1, 9, 10))


def test_dates_outside_supported_years_raise_value_error() -> None:
    from .office import msk

    with pytest.raises(ValueError, match="supported years"):
        ru_office().mode_at(msk("2300-01-01T00:00"))
