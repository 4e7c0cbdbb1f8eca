"""ModeClock: manual overrides on top of the schedule, and the events the owner publishes."""

from __future__ import annotations

import pytest

from firmware.schedule import (
    ChangeReason,
    ModeChanged,
    ModeClock,
    UnknownModeError,
)

from .office import msk, ru_office


def test_night_override_by_feature_code_lasts_until_next_scheduled_change() -> None:
    clock = ModeClock(ru_office(), msk("2025-01-13T10:00"))        # Monday, day
    assert clock.mode == "day"
    events = clock.set_override("night", msk("2025-01-13T10:05"), by="ext:201")
    assert events == [ModeChanged("day", "night", msk("2025-01-13T10:05"),
                                  ChangeReason.OVERRIDE, "ext:201")]
    assert clock.next_deadline() == msk("2025-01-13T13:00")        # lunch would begin
    assert clock.tick(msk("2025-01-13T12:59:59")) == []
    assert clock.mode == "night"
    events = clock.tick(msk("2025-01-13T13:00"))
    assert events == [ModeChanged("night", "lunch", msk("2025-01-13T13:00"),
                                  ChangeReason.OVERRIDE_ENDED, "ext:201")]
    assert clock.override is None
    assert clock.next_deadline() == msk("2025-01-13T14:00")


def test_indefinite_override_survives_schedule_changes_until_cleared() -> None:
    clock = ModeClock(ru_office(), msk("2025-01-13T10:00"))
    clock.set_override("emergency", msk("2025-01-13T10:00"), until=None, by="panel")
    assert clock.next_deadline() is None
    assert clock.tick(msk("2025-01-13T13:30")) == []
    assert clock.tick(msk("2025-01-14T10:00")) == []
    assert clock.mode == "emergency"
    events = clock.clear_override(msk("2025-01-14T10:00"), by="web:admin")
    assert events == [ModeChanged("emergency", "day", msk("2025-01-14T10:00"),
                                  ChangeReason.OVERRIDE_CLEARED, "web:admin")]


def test_override_until_an_instant() -> None:
    clock = ModeClock(ru_office(), msk("2025-01-13T20:00"))        # night
    clock.set_override("day", msk("2025-01-13T20:00"), until=msk("2025-01-13T21:30"), by="panel")
    assert clock.next_deadline() == msk("2025-01-13T21:30")
    assert clock.tick(msk("2025-01-13T21:30"))[0].new == "night"


def test_override_equal_to_scheduled_mode_changes_nothing_but_still_holds() -> None:
    clock = ModeClock(ru_office(), msk("2025-01-13T20:00"))
    assert clock.set_override("night", msk("2025-01-13T20:00"), by="ext:201") == []
    assert clock.override is not None
    assert clock.next_deadline() == msk("2025-01-14T09:00")


def test_late_tick_reports_one_change_from_last_known_mode() -> None:
    clock = ModeClock(ru_office(), msk("2025-01-13T12:00"))        # day
    events = clock.tick(msk("2025-01-13T20:00"))                   # slept through lunch
    assert events == [ModeChanged("day", "night", msk("2025-01-13T20:00"),
                                  ChangeReason.SCHEDULE)]


def test_holiday_begins_at_midnight() -> None:
    clock = ModeClock(ru_office(), msk("2024-12-31T10:00"))
    assert clock.mode == "holiday"
    assert clock.next_deadline() == msk("2025-01-09T00:00")
    assert clock.tick(msk("2025-01-09T00:00")) == [
        ModeChanged("holiday", "night", msk("2025-01-09T00:00"), ChangeReason.SCHEDULE)]


def test_unknown_mode_and_past_end_are_refused() -> None:
    clock = ModeClock(ru_office(), msk("2025-01-13T10:00"))
    with pytest.raises(UnknownModeError):
        clock.set_override("party", msk("2025-01-13T10:00"), by="ext:201")
    with pytest.raises(ValueError, match="not after"):
        clock.set_override("night", msk("2025-01-13T10:00"), until=msk("2025-01-13T09:00"),
                           by="ext:201")
    assert clock.mode == "day" and clock.override is None


def test_replacing_schedule_drops_override_for_a_vanished_mode() -> None:
    clock = ModeClock(ru_office(), msk("2025-01-13T10:00"))
    clock.set_override("emergency", msk("2025-01-13T10:00"), until=None, by="panel")
    events = clock.replace_schedule(ru_office(extra_modes=frozenset()), msk("2025-01-13T10:01"))
    assert events == [ModeChanged("emergency", "day", msk("2025-01-13T10:01"),
                                  ChangeReason.SCHEDULE_REPLACED)]
    assert clock.override is None
