"""Shared schedules for the schedule tests: a Moscow office and a Munich office."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from firmware.schedule import WORKDAYS, Schedule, ScheduleSpec, Weekday, Window

MSK = ZoneInfo("Europe/Moscow")  # UTC+3 all year since 2014, no DST
BERLIN = ZoneInfo("Europe/Berlin")

# Lunch 13:00–14:00, night 19:00–09:00, Mon–Fri; weekends fall to default_mode (night).
RU_WINDOWS = (
    Window("day", WORKDAYS, time(9), time(13)),
    Window("lunch", WORKDAYS, time(13), time(14)),
    Window("day", WORKDAYS, time(14), time(19)),
    Window("night", WORKDAYS, time(19), time(9)),
)


def ru_office(**overrides: object) -> Schedule:
    fields: dict[str, object] = {
        "time_zone": "Europe/Moscow", "country": "RU", "windows": RU_WINDOWS,
        "extra_modes": frozenset({"emergency"}),
    }
    fields.update(overrides)
    return Schedule.from_spec(ScheduleSpec(**fields))  # type: ignore[arg-type]


def de_office(subdivision: str = "BY", *extra: Window) -> Schedule:
    return Schedule.from_spec(ScheduleSpec(
        time_zone="Europe/Berlin", country="DE", subdivision=subdivision,
        windows=(Window("day", WORKDAYS, time(8), time(18)), *extra),
    ))


SUNDAY = frozenset({Weekday.SUNDAY})
SATURDAY = frozenset({Weekday.SATURDAY})


def msk(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=MSK)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
