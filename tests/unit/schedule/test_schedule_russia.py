"""A Moscow office: lunch 13–14, night 19–09, Russian public holidays and transferred days.

Expected dates are from the Russian government's transfer decrees (No. 1302 of 10.08.2023 for
2024, No. 1335 of 04.10.2024 for 2025), not from the holidays library's output.
"""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from firmware.schedule import WORKDAYS, Weekday, Window

from .office import msk, ru_office, utc


@pytest.mark.parametrize(("local", "mode"), [
    ("2025-01-09T08:59", "night"),   # Thu, first working day after the New Year holidays
    ("2025-01-09T09:00", "day"),
    ("2025-01-09T12:59:59", "day"),
    ("2025-01-09T13:00", "lunch"),
    ("2025-01-09T13:59", "lunch"),
    ("2025-01-09T14:00", "day"),
    ("2025-01-09T19:00", "night"),
    ("2025-01-10T03:00", "night"),   # overnight window from Thursday
    ("2025-01-11T12:00", "night"),   # Saturday: default mode
])
def test_moscow_office_weekday_modes(local: str, mode: str) -> None:
    assert ru_office().mode_at(msk(local)) == mode


@pytest.mark.parametrize("day", [date(2025, 1, d) for d in range(1, 9)])
def test_new_year_holidays_1_to_8_january_are_holiday_mode(day: date) -> None:
    office = ru_office()
    assert office.mode_at(msk(f"{day.isoformat()}T11:00")) == "holiday"
    assert office.mode_at(msk(f"{day.isoformat()}T13:30")) == "holiday"


def test_last_working_night_before_new_year_is_cut_at_midnight() -> None:
    office = ru_office()
    # 2024-12-28 (Sat) was the transferred working day; 30 and 31 Dec were days off.
    assert office.mode_at(msk("2024-12-28T23:59")) == "night"
    assert office.next_change_after(msk("2024-12-28T23:59")) == msk("2024-12-30T00:00")
    assert office.next_change_after(msk("2024-12-30T10:00")) == msk("2025-01-09T00:00")


@pytest.mark.parametrize("saturday", ["2024-04-27", "2024-11-02", "2024-12-28", "2025-11-01"])
def test_transferred_working_saturday_runs_the_weekday_windows(saturday: str) -> None:
    office = ru_office()
    assert office.mode_at(msk(f"{saturday}T08:00")) == "night"
    assert office.mode_at(msk(f"{saturday}T10:00")) == "day"
    assert office.mode_at(msk(f"{saturday}T13:15")) == "lunch"
    assert office.mode_at(msk(f"{saturday}T19:30")) == "night"
    sunday = (date.fromisoformat(saturday) + timedelta(days=1)).isoformat()
    assert office.mode_at(msk(f"{sunday}T10:00")) in {"night", "holiday"}


def test_ordinary_saturday_stays_closed() -> None:
    assert ru_office().mode_at(msk("2024-11-09T10:00")) == "night"


@pytest.mark.parametrize("day_off", ["2024-04-29", "2024-04-30", "2024-12-30", "2024-12-31",
                                     "2024-05-10", "2025-05-02", "2025-11-03"])
def test_day_off_moved_onto_a_weekday_is_holiday_mode(day_off: str) -> None:
    assert ru_office().mode_at(msk(f"{day_off}T10:00")) == "holiday"


def test_friday_night_before_working_saturday_ends_at_nine() -> None:
    office = ru_office()
    at = msk("2024-11-01T19:00")
    assert office.mode_at(at) == "night"
    change = office.next_change_after(at)
    assert change == utc("2024-11-02T06:00")  # 09:00 MSK, UTC+3
    assert office.mode_at(change) == "day"


def test_without_country_new_year_is_an_ordinary_day() -> None:
    assert ru_office(country=None).mode_at(msk("2025-01-03T10:00")) == "day"


def test_installer_closure_and_working_day() -> None:
    office = ru_office(closures=frozenset({date(2025, 12, 26)}),
                       working_days=frozenset({date(2025, 1, 8), date(2025, 3, 15)}))
    assert office.mode_at(msk("2025-12-26T10:00")) == "holiday"  # Friday, company closure
    assert office.holiday_name(date(2025, 12, 26)) == "closure"
    assert office.mode_at(msk("2025-01-08T10:00")) == "day"      # public holiday, opened
    assert office.mode_at(msk("2025-03-15T13:30")) == "lunch"    # Saturday, opened
    assert office.mode_at(msk("2025-01-07T10:00")) == "holiday"


def test_weekend_workday_follows_the_chosen_weekday() -> None:
    mon_thu = frozenset(Weekday(d) for d in range(4))
    friday = frozenset({Weekday.FRIDAY})
    windows = (
        Window("day", mon_thu, time(9), time(13)),
        Window("lunch", mon_thu, time(13), time(14)),
        Window("day", mon_thu, time(14), time(19)),
        Window("day", friday, time(9), time(16)),       # short Friday, no lunch
        Window("night", WORKDAYS, time(19), time(9)),
    )
    as_friday = ru_office(windows=windows, weekend_workday_as=Weekday.FRIDAY)
    assert as_friday.mode_at(msk("2024-11-02T13:30")) == "day"
    assert as_friday.mode_at(msk("2024-11-02T16:30")) == "night"   # uncovered: default
    as_monday = ru_office(windows=windows)
    assert as_monday.mode_at(msk("2024-11-02T13:30")) == "lunch"
    assert as_monday.mode_at(msk("2024-11-02T16:30")) == "day"


def test_night_before_a_public_holiday_turns_to_holiday_at_midnight() -> None:
    office = ru_office()
    # Wed 30 April 2025, then 1 May (Holiday of Spring and Labour).
    assert office.next_change_after(msk("2025-04-30T20:00")) == msk("2025-05-01T00:00")
    assert office.mode_at(msk("2025-05-01T08:00")) == "holiday"


def test_overnight_window_of_a_closed_day_does_not_run_into_the_next_day() -> None:
    office = ru_office(country=None, windows=(Window("late", WORKDAYS, time(20), time(2)),),
                       closures=frozenset({date(2025, 1, 13)}))
    assert office.mode_at(msk("2025-01-13T21:00")) == "holiday"
    assert office.mode_at(msk("2025-01-14T01:00")) == "night"      # Monday's window never began
    assert office.mode_at(msk("2025-01-15T01:00")) == "late"       # Tuesday's did
