"""Operating modes by schedule: day / lunch / night / custom modes, holidays and manual overrides.

Issue 5 item 8 and issue 6 item 1: the office switches between named modes (``day``, ``lunch``,
``night``, ``holiday`` and installer-named ones) by a weekly schedule in the office's time zone,
by the public holidays of its country, and by hand (a feature code from an authorised phone, the
front panel, the web page). Routes and features look the mode up; this module only says which
mode is in force and when that changes.

Pure: every call takes an aware ``datetime``; nothing reads a clock. The owner asks
`Schedule.next_change_after` (or `ModeClock.next_deadline`) and sleeps until then.

Rules, in order, for the local calendar date *D* of an instant:

1. *D* in ``working_days`` (installer): a working day even if a public holiday or a weekend.
2. *D* in ``closures`` (installer) or a public holiday of ``country``/``subdivision``: the whole
   local day, 00:00 to 24:00, is in ``holiday_mode``.
3. Otherwise the windows of *D*'s weekday apply; on a working weekend day (a Russian "transferred
   working Saturday", or an installer working day on a weekend) those of ``weekend_workday_as``.
   A window that starts on *D* and crosses midnight runs on into *D*+1 unless *D*+1 is closed;
   windows that start on *D*+1 win over that tail. Time not covered is ``default_mode``.

Public holidays come from the ``holidays`` library (python-holidays, ≥ 0.60). For Russia
(``holidays.RU``) it models the government's yearly transfer decrees: the day off moved to a
weekday is a holiday ("Day off (substituted from 04/27/2024)") and the Saturday that becomes a
working day is listed in ``weekend_workdays`` (2024-04-27, 2024-11-02, 2024-12-28, 2025-11-01;
checked against the decrees in tests/unit/schedule). Decrees for next year appear in the library
in the autumn; until a box updates, ``closures`` and ``working_days`` carry them. The Russian
shortened pre-holiday day (one hour less) is not modelled: add a window for it.

Windows are local wall time. Across DST changes (Europe/Berlin: 02:00 → 03:00 on the last Sunday
of March, 03:00 → 02:00 on the last Sunday of October) a boundary takes effect at the first
instant whose wall time reaches it: a boundary at 02:30 on the spring day, a time that does not
exist, takes effect at the jump (01:00 UTC); on the autumn day it takes effect at its first
occurrence and the repeated hour does not switch back. Supported local dates: 1970 to 2199.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import Enum, IntEnum, StrEnum
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from firmware.config.errors import ConfigError, Problem

log = logging.getLogger(__name__)

MIN_DATE: Final = date(1970, 1, 1)
MAX_DATE: Final = date(2199, 12, 31)
HORIZON_DAYS: Final = 400
"""`next_change_after` looks this far ahead: past a year, so a holiday-only schedule works."""
MAX_WINDOWS: Final = 200
MAX_EXTRA_DAYS: Final = 1000
MODE_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")
_DAY_S: Final = 86_400
_WEEK_S: Final = 7 * _DAY_S


class StandardMode(StrEnum):
    """Mode names every installer knows; any other matching `MODE_PATTERN` is a custom mode."""

    DAY = "day"
    LUNCH = "lunch"
    NIGHT = "night"
    HOLIDAY = "holiday"


class Weekday(IntEnum):
    """ISO weekday less one, as `date.weekday()` returns it."""

    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6

    @property
    def short(self) -> str:
        return self.name[:3].title()


WORKDAYS: Final = frozenset(Weekday(d) for d in range(5))


class Until(Enum):
    """How long a manual override lasts when no instant is given."""

    NEXT_CHANGE = "next_change"
    """Until the schedule next changes mode (or indefinitely if it never does)."""


NEXT_CHANGE: Final = Until.NEXT_CHANGE


class ChangeReason(StrEnum):
    """Why the mode in force changed."""

    SCHEDULE = "schedule"
    """A window began or ended, or a holiday began or ended."""
    OVERRIDE = "override"
    """Someone set a mode by hand (`ModeChanged.by` says who)."""
    OVERRIDE_ENDED = "override_ended"
    """A manual override reached its end; the schedule is back in force."""
    OVERRIDE_CLEARED = "override_cleared"
    """Someone cancelled a manual override."""
    SCHEDULE_REPLACED = "schedule_replaced"
    """A new configuration revision brought a different schedule."""


@dataclass(frozen=True, slots=True)
class Window:
    """``mode`` from ``start`` to ``end`` local wall time on each of ``days``.

    ``end <= start`` means the window crosses midnight and ends on the next day (``end`` 00:00
    means "until midnight"). Whole minutes; ``start == end`` is refused (use ``default_mode``).
    """

    mode: str
    days: frozenset[Weekday]
    start: time
    end: time

    @property
    def duration_s(self) -> int:
        return (_seconds(self.end) - _seconds(self.start)) % _DAY_S

    def describe(self) -> str:
        ordered = sorted(self.days)
        contiguous = len(ordered) >= 3 and ordered[-1] - ordered[0] == len(ordered) - 1
        days = (f"{ordered[0].short}–{ordered[-1].short}" if contiguous
                else ",".join(d.short for d in ordered))
        return f"{self.mode}, {days} {self.start:%H:%M}–{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """One office's (or one inbound number's) schedule, as the configuration states it."""

    time_zone: str = "Europe/Moscow"
    """IANA time zone name; windows are wall time there."""
    country: str | None = None
    """ISO 3166-1 alpha-2 code whose public holidays put the office in ``holiday_mode``."""
    subdivision: str | None = None
    """State, region or province code of ``country`` (e.g. DE ``BY``) for regional holidays."""
    windows: tuple[Window, ...] = ()
    default_mode: str = StandardMode.NIGHT
    """Mode when no window covers the time (weekends, nights without a night window)."""
    holiday_mode: str = StandardMode.HOLIDAY
    """Mode for the whole local day on public holidays and ``closures``."""
    closures: frozenset[date] = frozenset()
    """Extra closed days: company holidays, inventory, a decree the library does not have yet."""
    working_days: frozenset[date] = frozenset()
    """Days the office works although they are public holidays or weekends."""
    weekend_workday_as: Weekday = Weekday.MONDAY
    """Whose windows a working weekend day follows."""
    extra_modes: frozenset[str] = frozenset()
    """Modes no window uses that a manual override may still select (e.g. ``emergency``)."""


@dataclass(frozen=True, slots=True)
class _Segment:
    start: datetime  # UTC
    end: datetime  # UTC
    mode: str


@dataclass(frozen=True, slots=True)
class _DayPlan:
    midnight: datetime  # UTC instant this local day begins
    closed: bool
    segments: tuple[_Segment, ...]


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def _require_aware(at: datetime, name: str = "at") -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {at!r}")


class Schedule:
    """A validated `ScheduleSpec` with the time zone and holiday calendar resolved.

    Build with `Schedule.from_spec`; it raises `ConfigError` listing every problem. Not frozen
    only because it caches day plans and the holiday library's lazily expanded years.
    """

    def __init__(
        self, spec: ScheduleSpec, zone: tzinfo, calendar: holidays.HolidayBase | None
    ) -> None:
        self.spec = spec
        self._tz = zone
        self._calendar = calendar
        self._plans: dict[date, _DayPlan] = {}
        self.modes: frozenset[str] = frozenset(
            {spec.default_mode, spec.holiday_mode, *spec.extra_modes}
            | {w.mode for w in spec.windows}
        )
        """Every mode this schedule can be in, including override-only ``extra_modes``."""
        self._by_day: dict[Weekday, tuple[Window, ...]] = {
            d: tuple(sorted((w for w in spec.windows if d in w.days), key=lambda w: w.start))
            for d in Weekday
        }

    @classmethod
    def from_spec(cls, spec: ScheduleSpec, path: str = "schedule") -> Schedule:
        """Validate and resolve; raises `ConfigError`, one `Problem` per fault under ``path``."""
        problems: list[Problem] = []

        def problem(where: str, message: str) -> None:
            problems.append(Problem(f"{path}.{where}", None, None, message))

        zone: tzinfo | None = None
        try:
            zone = ZoneInfo(spec.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            problem("time_zone", f"unknown time zone {spec.time_zone!r}; use an IANA name such "
                                 "as 'Europe/Moscow' (is the tzdata package installed?)")
        calendar: holidays.HolidayBase | None = None
        if spec.country is not None:
            supported = holidays.list_supported_countries()
            if spec.country not in supported:
                problem("country", f"no public holiday calendar for {spec.country!r}; use an "
                                   "ISO 3166-1 alpha-2 code such as 'RU' or leave it empty "
                                   "and list closures")
            elif spec.subdivision is not None and spec.subdivision not in supported[spec.country]:
                choices = ", ".join(supported[spec.country]) or "none"
                problem("subdivision", f"{spec.country} has no subdivision "
                                       f"{spec.subdivision!r}; choose one of: {choices}")
            else:
                calendar = holidays.country_holidays(spec.country, subdiv=spec.subdivision)
        elif spec.subdivision is not None:
            problem("subdivision", "a subdivision needs a country")
        for where, mode in (("default_mode", spec.default_mode),
                            ("holiday_mode", spec.holiday_mode)):
            if not MODE_PATTERN.fullmatch(mode):
                problem(where, f"mode name {mode!r} must be 1 to 32 lower-case letters, digits, "
                               "'.', '_' or '-', starting with a letter or digit")
        for mode in sorted(spec.extra_modes):
            if not MODE_PATTERN.fullmatch(mode):
                problem("extra_modes", f"mode name {mode!r} must be 1 to 32 lower-case "
                                       "letters, digits, '.', '_' or '-'")
        if len(spec.windows) > MAX_WINDOWS:
            problem("windows", f"{len(spec.windows)} windows; at most {MAX_WINDOWS}")
        for i, w in enumerate(spec.windows):
            where = f"windows[{i}]"
            if not MODE_PATTERN.fullmatch(w.mode):
                problem(f"{where}.mode", f"mode name {w.mode!r} must be 1 to 32 lower-case "
                                         "letters, digits, '.', '_' or '-'")
            if not w.days:
                problem(f"{where}.days", "no days: list at least one weekday")
            for name, t in (("start", w.start), ("end", w.end)):
                if t.second or t.microsecond or t.tzinfo is not None:
                    problem(f"{where}.{name}", f"{t.isoformat()} must be whole minutes of local "
                                               "wall time, without seconds or a UTC offset")
            if _seconds(w.start) == _seconds(w.end):
                problem(where, f"starts and ends at {w.start:%H:%M}: a window lasts from one "
                               "minute to 23 h 59 min; leave the time uncovered to use "
                               "default_mode")
        problems.extend(
            Problem(f"{path}.{where}", None, None, message)
            for where, message in _overlaps(spec.windows)
        )
        for d in sorted(spec.closures & spec.working_days):
            problem("working_days", f"{d.isoformat()} is also listed in closures; keep it in "
                                    "one list")
        for name, days in (("closures", spec.closures), ("working_days", spec.working_days)):
            if len(days) > MAX_EXTRA_DAYS:
                problem(name, f"{len(days)} dates; at most {MAX_EXTRA_DAYS}")
            for d in sorted(days):
                if not MIN_DATE <= d <= MAX_DATE:
                    problem(name, f"{d.isoformat()} is outside {MIN_DATE.year}–{MAX_DATE.year}")
        if problems or zone is None:
            raise ConfigError(problems)
        return cls(spec, zone, calendar)

    # -- queries ---------------------------------------------------------------------------

    @property
    def time_zone(self) -> tzinfo:
        return self._tz

    def holiday_name(self, day: date) -> str | None:
        """The public holiday's name on ``day`` (library language), "closure" or None."""
        if day in self.spec.working_days:
            return None
        if day in self.spec.closures:
            return "closure"
        if self._calendar is not None:
            name = self._calendar.get(day)
            return None if name is None else str(name)
        return None

    def is_closed(self, day: date) -> bool:
        """True if ``day`` (local date) is wholly in ``holiday_mode``."""
        return self.holiday_name(day) is not None

    def mode_at(self, at: datetime) -> str:
        """The scheduled mode at instant ``at`` (aware). Raises ValueError if naive or if the
        local date is outside 1970–2199."""
        _require_aware(at)
        u = at.astimezone(UTC)
        day = self._day_of(u)
        return self._mode_in(day, u)

    def next_change_after(self, at: datetime) -> datetime | None:
        """The first instant strictly after ``at`` at which `mode_at` differs from
        ``mode_at(at)``, in UTC; None if the mode stays the same for `HORIZON_DAYS` days.

        Changes fall on whole seconds. Raises ValueError as `mode_at`.
        """
        _require_aware(at)
        u = at.astimezone(UTC)
        day = self._day_of(u)
        current = self._mode_in(day, u)
        pending: list[datetime] = []
        for k in range(-1, HORIZON_DAYS):
            d = day + timedelta(days=k)
            if d > MAX_DATE or d + timedelta(days=1) > MAX_DATE:
                break
            plan = self._plan(d)
            pending.append(plan.midnight)
            for seg in plan.segments:
                pending.extend((seg.start, seg.end))
            # Boundaries of later days all fall at or after the next midnight, so everything
            # before it is final and can be checked in order.
            limit = self._plan(d + timedelta(days=1)).midnight
            ready = sorted(c for c in pending if c < limit)
            pending = [c for c in pending if c >= limit]
            for c in ready:
                if c > u and self._mode_in(self._day_of(c), c) != current:
                    return c
        return None

    # -- internals -------------------------------------------------------------------------

    def _wall(self, u: datetime) -> datetime:
        return u.astimezone(self._tz).replace(tzinfo=None)

    def _instant(self, wall: datetime) -> datetime:
        """The first instant (UTC) whose local wall time is at or after ``wall`` (naive)."""
        u0 = wall.replace(tzinfo=self._tz, fold=0).astimezone(UTC)
        if self._wall(u0) == wall:
            return u0  # exists; fold=0 is the first of two when the hour repeats
        # PEP 495: in a gap fold=0 uses the offset before the jump (too late), fold=1 the one
        # after (too early); the jump lies between. Bisect to the second.
        u1 = wall.replace(tzinfo=self._tz, fold=1).astimezone(UTC)
        lo, hi = min(u0, u1), max(u0, u1)
        if self._wall(lo) >= wall or self._wall(hi) < wall:
            return u0  # not a plain gap (should not happen with IANA data)
        while hi - lo > timedelta(seconds=1):
            mid = lo + (hi - lo) / 2
            mid = mid.replace(microsecond=0)
            if mid <= lo:
                break
            if self._wall(mid) >= wall:
                hi = mid
            else:
                lo = mid
        return hi

    def _day_of(self, u: datetime) -> date:
        day = self._wall(u).date()
        if not MIN_DATE <= day <= MAX_DATE:
            raise ValueError(f"{u.isoformat()} is outside the supported years "
                             f"{MIN_DATE.year}–{MAX_DATE.year}")
        # Keep the instant-based day boundaries authoritative (zones switching at midnight).
        if day > MIN_DATE and u < self._plan(day).midnight:
            day -= timedelta(days=1)
        elif day < MAX_DATE and u >= self._plan(day + timedelta(days=1)).midnight:
            day += timedelta(days=1)
        return day

    def _mode_in(self, day: date, u: datetime) -> str:
        plan = self._plan(day)
        if plan.closed:
            return self.spec.holiday_mode
        for seg in plan.segments:
            if seg.start <= u < seg.end:
                return seg.mode
        if day > MIN_DATE:
            prev = self._plan(day - timedelta(days=1))
            if not prev.closed:
                for seg in prev.segments:
                    if seg.start <= u < seg.end:
                        return seg.mode
        return self.spec.default_mode

    def _template(self, day: date) -> Weekday:
        weekday = Weekday(day.weekday())
        calendar = self._calendar
        weekend = frozenset(calendar.weekend) if calendar is not None else {5, 6}
        if weekday not in weekend:
            return weekday
        if day in self.spec.working_days:
            return self.spec.weekend_workday_as
        if calendar is not None:
            # Expand this and next year: a decree can move a day off across New Year.
            _ = day in calendar, date(min(day.year + 1, MAX_DATE.year), 1, 1) in calendar
            if day in calendar.weekend_workdays:
                return self.spec.weekend_workday_as
        return weekday

    def _plan(self, day: date) -> _DayPlan:
        plan = self._plans.get(day)
        if plan is not None:
            return plan
        midnight = self._instant(datetime.combine(day, time()))
        closed = self.is_closed(day)
        segments: list[_Segment] = []
        if not closed:
            for w in self._by_day[self._template(day)]:
                start = self._instant(datetime.combine(day, w.start))
                end_day = day if w.end > w.start else day + timedelta(days=1)
                end = self._instant(datetime.combine(end_day, w.end))
                if end > start:  # a window wholly inside a DST gap never runs
                    segments.append(_Segment(start, end, w.mode))
        plan = _DayPlan(midnight, closed, tuple(segments))
        if len(self._plans) >= 2048:
            self._plans.clear()
        self._plans[day] = plan
        return plan


def _overlaps(windows: Iterable[Window]) -> list[tuple[str, str]]:
    """One problem per pair of windows that share time in the week, naming where they meet."""
    spans: list[tuple[int, int, int]] = []  # (start_s, end_s, window index) in the week
    items = list(windows)
    for i, w in enumerate(items):
        if w.duration_s == 0:
            continue
        for d in w.days:
            s = d * _DAY_S + _seconds(w.start)
            e = s + w.duration_s
            spans.append((s, min(e, _WEEK_S), i))
            if e > _WEEK_S:
                spans.append((0, e - _WEEK_S, i))
    seen: set[tuple[int, int]] = set()
    out: list[tuple[str, str]] = []
    spans.sort()
    for a, (s1, e1, i) in enumerate(spans):
        for s2, e2, j in spans[a + 1:]:
            if s2 >= e1:
                break
            if i == j:
                continue
            first, second = sorted((i, j))
            if (first, second) in seen:
                continue
            seen.add((first, second))
            lo, hi = max(s1, s2), min(e1, e2)
            out.append((
                f"windows[{second}]",
                f"({items[second].describe()}) overlaps windows[{first}] "
                f"({items[first].describe()}) on {_week_time(lo)}–{_week_time(hi, lo)}; "
                "windows must not share time: split the longer one around the shorter",
            ))
    out.sort()
    return out


def _week_time(s: int, same_day_as: int | None = None) -> str:
    day, rest = divmod(s % _WEEK_S, _DAY_S)
    clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}"
    if same_day_as is not None and (same_day_as % _WEEK_S) // _DAY_S == day:
        return clock
    return f"{Weekday(day).short} {clock}"


# -- the running clock ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Override:
    """A mode set by hand; ``until`` None lasts until cleared."""

    mode: str
    since: datetime
    until: datetime | None
    by: str
    """Who set it: ``"ext:201"``, ``"panel"``, ``"web:admin"`` — for the record and the panel."""


@dataclass(frozen=True, slots=True)
class ModeChanged:
    """The mode in force changed at ``at`` (the instant the owner observed it, aware)."""

    old: str
    new: str
    at: datetime
    reason: ChangeReason
    by: str | None = None
    """Who caused it for override reasons; None for the schedule."""


class UnknownModeError(ValueError):
    """An override named a mode the schedule does not know (a configuration mismatch)."""


class ModeClock:
    """The mode in force: the schedule, or a manual override on top. Sans-I/O.

    The owner calls `tick` at `next_deadline` (and after waking late or a clock step), forwards
    the returned events to the bus, and sleeps again. ``at`` must be aware and should not go
    backwards by more than a clock step; going backwards is tolerated (the mode is recomputed).
    """

    def __init__(self, schedule: Schedule, at: datetime) -> None:
        _require_aware(at)
        self._schedule = schedule
        self._override: Override | None = None
        self._mode = schedule.mode_at(at)
        self._at = at
        self._next: tuple[datetime, datetime | None] | None = None  # (computed at, result)

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def override(self) -> Override | None:
        return self._override

    @property
    def schedule(self) -> Schedule:
        return self._schedule

    def tick(self, at: datetime) -> list[ModeChanged]:
        """Bring the mode up to ``at``; returns at most one change (intermediate modes that a
        late wake-up skipped are not replayed)."""
        _require_aware(at)
        self._at = at
        reason, by = ChangeReason.SCHEDULE, None
        ov = self._override
        if ov is not None and ov.until is not None and at >= ov.until:
            self._override = None
            reason, by = ChangeReason.OVERRIDE_ENDED, ov.by
            log.info("override %r by %r ended at %s", ov.mode, ov.by, at.isoformat())
        return self._settle(at, reason, by)

    def set_override(
        self,
        mode: str,
        at: datetime,
        *,
        until: datetime | Until | None = NEXT_CHANGE,
        by: str,
    ) -> list[ModeChanged]:
        """Put the office in ``mode`` from ``at``.

        ``until``: `NEXT_CHANGE` ends it when the schedule next changes mode (indefinite if it
        never does), an aware datetime after ``at`` ends it then, None lasts until
        `clear_override`. Raises `UnknownModeError` for a mode the schedule lacks, ValueError
        for an ``until`` not after ``at``.
        """
        if mode not in self._schedule.modes:
            raise UnknownModeError(f"unknown mode {mode!r}; known: {sorted(self._schedule.modes)}")
        _require_aware(at)
        if isinstance(until, datetime):
            _require_aware(until, "until")
            if until <= at:
                raise ValueError(f"override end {until.isoformat()} is not after {at.isoformat()}")
        events = self.tick(at)
        end: datetime | None
        if until is NEXT_CHANGE:
            end = self._schedule.next_change_after(at)
        elif isinstance(until, datetime):
            end = until
        else:
            end = None
        self._override = Override(mode, at, end, by)
        log.info("override %r by %r from %s until %s", mode, by, at.isoformat(),
                 end.isoformat() if end else "cleared")
        return events + self._settle(at, ChangeReason.OVERRIDE, by)

    def clear_override(self, at: datetime, *, by: str) -> list[ModeChanged]:
        """Return to the schedule now; no event if the mode stays the same."""
        events = self.tick(at)
        if self._override is None:
            return events
        self._override = None
        return events + self._settle(at, ChangeReason.OVERRIDE_CLEARED, by)

    def replace_schedule(self, schedule: Schedule, at: datetime) -> list[ModeChanged]:
        """Adopt a new configuration's schedule; an override whose mode it lacks is dropped."""
        events = self.tick(at)
        self._schedule = schedule
        self._next = None
        if self._override is not None and self._override.mode not in schedule.modes:
            self._override = None
        return events + self._settle(at, ChangeReason.SCHEDULE_REPLACED, None)

    def next_deadline(self) -> datetime | None:
        """When to call `tick` next (UTC): the override's end or the next scheduled change;
        None while an indefinite override holds or nothing changes within the horizon."""
        ov = self._override
        if ov is not None:
            return ov.until
        if self._next is None or self._next[0] != self._at:
            self._next = (self._at, self._schedule.next_change_after(self._at))
        return self._next[1]

    def _settle(self, at: datetime, reason: ChangeReason, by: str | None) -> list[ModeChanged]:
        ov = self._override
        new = ov.mode if ov is not None else self._schedule.mode_at(at)
        if new == self._mode:
            return []
        event = ModeChanged(self._mode, new, at, reason, by)
        self._mode = new
        return [event]


__all__ = [
    "NEXT_CHANGE",
    "ChangeReason",
    "ModeChanged",
    "ModeClock",
    "Override",
    "Schedule",
    "ScheduleSpec",
    "StandardMode",
    "UnknownModeError",
    "Until",
    "Weekday",
    "Window",
    "WORKDAYS",
]
