"""A Munich office across the 2026 DST changes (Europe/Berlin: 29 March 02:00 CET → 03:00 CEST
at 01:00 UTC; 25 October 03:00 CEST → 02:00 CET at 01:00 UTC) and Bavarian holidays."""

from __future__ import annotations

from datetime import time

import pytest

from firmware.schedule import Window

from .office import SATURDAY, SUNDAY, de_office, utc

MAINTENANCE = Window("maintenance", SUNDAY, time(2, 30), time(4))
SATURDAY_NIGHT = Window("late", SATURDAY, time(22), time(6))


def test_day_window_is_local_wall_time_on_both_sides_of_spring_forward() -> None:
    office = de_office()
    assert office.next_change_after(utc("2026-03-22T12:00")) == utc("2026-03-23T07:00")  # CET
    assert office.next_change_after(utc("2026-03-29T12:00")) == utc("2026-03-30T06:00")  # CEST
    assert office.mode_at(utc("2026-03-30T06:30")) == "day"
    assert office.mode_at(utc("2026-03-23T06:30")) == "night"


def test_boundary_at_nonexistent_0230_takes_effect_at_the_jump() -> None:
    office = de_office("BY", MAINTENANCE)
    assert office.mode_at(utc("2026-03-29T00:59:59")) == "night"   # 01:59:59 CET
    assert office.next_change_after(utc("2026-03-29T00:30")) == utc("2026-03-29T01:00")
    assert office.mode_at(utc("2026-03-29T01:00")) == "maintenance"  # 03:00 CEST
    assert office.next_change_after(utc("2026-03-29T01:00")) == utc("2026-03-29T02:00")  # 04:00


def test_repeated_hour_does_not_switch_back_in_autumn() -> None:
    office = de_office("BY", MAINTENANCE)
    assert office.next_change_after(utc("2026-10-25T00:00")) == utc("2026-10-25T00:30")  # CEST
    for minute in ("00:30", "00:59", "01:00", "01:15", "01:29", "01:45", "02:59"):
        assert office.mode_at(utc(f"2026-10-25T{minute}")) == "maintenance", minute
    assert office.next_change_after(utc("2026-10-25T01:15")) == utc("2026-10-25T03:00")  # CET
    assert office.mode_at(utc("2026-10-25T03:00")) == "night"


def test_overnight_window_across_spring_forward_is_an_hour_shorter() -> None:
    office = de_office("BY", Window("late", SATURDAY, time(22), time(6)))
    start = office.next_change_after(utc("2026-03-28T20:00"))
    assert start == utc("2026-03-28T21:00")                 # 22:00 CET
    end = office.next_change_after(start)
    assert end == utc("2026-03-29T04:00")                   # 06:00 CEST
    assert (end - start).total_seconds() == 7 * 3600


def test_overnight_window_across_fall_back_is_an_hour_longer() -> None:
    office = de_office("BY", SATURDAY_NIGHT)
    start = office.next_change_after(utc("2026-10-24T18:00"))
    end = office.next_change_after(start)
    assert (start, end) == (utc("2026-10-24T20:00"), utc("2026-10-25T05:00"))


@pytest.mark.parametrize(("subdivision", "mode"), [("BY", "holiday"), ("BE", "day")])
def test_corpus_christi_is_a_holiday_in_bavaria_only(subdivision: str, mode: str) -> None:
    assert de_office(subdivision).mode_at(utc("2026-06-04T09:00")) == mode   # Thursday


def test_christmas_friday_is_holiday_then_weekend() -> None:
    office = de_office()
    assert office.mode_at(utc("2026-12-25T09:00")) == "holiday"
    assert office.next_change_after(utc("2026-12-25T09:00")) == utc("2026-12-26T23:00")
