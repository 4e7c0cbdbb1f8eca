"""Any valid schedule, any aware instant: mode_at answers and next_change_after is the next one.

The minute scan is an independent search (every UTC minute, by mode_at) for the first change;
changes fall on whole local minutes or on a DST jump, both whole UTC minutes in these zones.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.config.errors import ConfigError
from firmware.schedule import Schedule, ScheduleSpec, Weekday, Window

ZONES = ["Europe/Moscow", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
         "America/Santiago", "UTC"]
COUNTRIES = [None, "RU", "DE", "US", "CL", "AU"]

times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
windows = st.builds(
    Window,
    mode=st.sampled_from(["day", "lunch", "night", "duty"]),
    days=st.frozensets(st.sampled_from(list(Weekday)), min_size=1, max_size=7),
    start=times,
    end=times,
)


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    spec = ScheduleSpec(
        time_zone=draw(st.sampled_from(ZONES)),
        country=draw(st.sampled_from(COUNTRIES)),
        windows=tuple(draw(st.lists(windows, max_size=4))),
        default_mode=draw(st.sampled_from(["night", "day"])),
    )
    try:
        return Schedule.from_spec(spec)
    except ConfigError:
        # Overlapping or empty windows: keep the first window only, which is always valid
        # unless it is empty.
        first = [w for w in spec.windows[:1] if w.start != w.end]
        return Schedule.from_spec(ScheduleSpec(spec.time_zone, spec.country, None, tuple(first),
                                               spec.default_mode))


instants = st.datetimes(
    min_value=datetime(1971, 1, 2), max_value=datetime(2150, 12, 30),
    timezones=st.sampled_from([UTC, *(ZoneInfo(z) for z in ZONES)]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules(), instants)
def test_mode_at_answers_and_next_change_is_strictly_later(office: Schedule, at: datetime) -> None:
    mode = office.mode_at(at)
    assert mode in office.modes
    change = office.next_change_after(at)
    if change is not None:
        assert change > at
        assert office.mode_at(change) != mode
        just_before = change - timedelta(seconds=1)
        if just_before > at:
            assert office.mode_at(just_before) == mode


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules(), st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1),
                                 timezones=st.just(UTC)))
def test_next_change_matches_a_minute_by_minute_scan(office: Schedule, at: datetime) -> None:
    start = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    mode = office.mode_at(at)
    expected = None
    for minute in range(0, 2 * 24 * 60):
        probe = start + timedelta(minutes=minute)
        if office.mode_at(probe) != mode:
            expected = probe
            break
    # the change may fall between `at` and the first whole minute after it
    if office.mode_at(start) != mode:
        assert at < office.next_change_after(at) <= start  # type: ignore[operator]
    elif expected is not None:
        assert office.next_change_after(at) == expected
    else:
        change = office.next_change_after(at)
        assert change is None or change > start + timedelta(days=2) - timedelta(minutes=1)
