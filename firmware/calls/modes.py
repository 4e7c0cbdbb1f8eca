"""The operating mode in force (day / night / lunch / holiday) as a running service.

Issue 5 item 8 and issue 6 item 1: the mode follows the revision's schedule (`Office.schedule`,
built by `firmware.calls.office.build_schedule`) and can be switched by hand: the `mode`
feature code (`*4` + 1 day, 2 night, 3 lunch, 4 holiday, 0 back to the schedule) from an
authorised phone, the front panel and the web page. Inbound routing asks `mode` per call
(`Office.inbound_for(line, service.mode)`); every change is a `ModeChanged` on the bus.

`ModeService` is the I/O shell around the pure `firmware.schedule.ModeClock`: it sleeps until
the clock's next deadline (at most `MAX_SLEEP_S` = 60 s, so a wall-clock step by NTP or the
installer is noticed within a minute) and keeps a manual override in a state file written
durably (`firmware.config.durable.write_json_atomic`: temp file, fsync, rename, directory
fsync), so that a restart or power cut keeps a manual night mode. A damaged or unreadable
state file is logged and ignored: the box then follows the schedule.

How long a manual switch lasts: a code or panel switch to day, night or lunch holds until the
schedule next changes mode (`Until.NEXT_CHANGE`), the behaviour of the automatic time-service
mode of Panasonic KX-TDA/NS systems, where a manual change lasts until the next programmed
switch time. A receptionist who leaves at 16:00 with `*42` has night mode until the schedule's
own 18:00 switch and day mode again on Monday at 09:00: a forgotten switch cannot keep the
office unreachable. Holiday (`*44`, a snow day) holds for the rest of the local day and until
the schedule next changes after midnight, because ending a closure at the next 09:00
boundary the same morning is never what was meant. Without a schedule (`schedule.enabled`
false) nothing ever changes, so every switch holds until switched back, as Panasonic's manual
day/night mode does. The panel and the web may pass their own end (`until`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Final

from firmware.bus import EventBus
from firmware.calls.office import MODE_DIGITS
from firmware.config.durable import write_json_atomic
from firmware.schedule import (
    NEXT_CHANGE,
    ModeChanged,
    ModeClock,
    Override,
    Schedule,
    ScheduleSpec,
    StandardMode,
    UnknownModeError,
    Until,
)

log = logging.getLogger(__name__)

__all__ = ["ALWAYS_DAY", "MAX_SLEEP_S", "ModeService", "ModeSwitch", "ModeSwitchResult"]

MAX_SLEEP_S: Final = 60.0
"""Longest sleep of `ModeService.run`: bounds how late a wall-clock step is noticed."""
STATE_VERSION: Final = 1
CLEAR_DIGIT: Final = "0"

ALWAYS_DAY: Final = Schedule.from_spec(ScheduleSpec(
    time_zone="UTC", default_mode=StandardMode.DAY, holiday_mode=StandardMode.HOLIDAY,
    extra_modes=frozenset(StandardMode)))
"""The schedule of an office without one: day mode for ever, every standard mode selectable."""


class ModeSwitch(StrEnum):
    """The outcome of a `mode` feature code; the controller plays confirmation or error tone."""

    DONE = "done"
    NOT_AUTHORISED = "not_authorised"
    """The caller is no user in `Office.mode_switchers`; nothing changed."""
    BAD_ARGUMENT = "bad_argument"
    """The digit after the code selects no mode (5–9, several digits); nothing changed."""


@dataclass(frozen=True, slots=True)
class ModeSwitchResult:
    outcome: ModeSwitch
    mode: str
    """The mode in force after the attempt."""
    events: tuple[ModeChanged, ...] = ()


class ModeService:
    """Owns the `ModeClock`; one per box. Not thread-safe: call it from the event loop.

    Call `apply` with every activated revision (the first call restores a saved override),
    run `run` as a task, and ask `mode` when routing a call.
    """

    def __init__(self, bus: EventBus, state_path: Path | None = None) -> None:
        self._bus = bus
        self._state_path = state_path
        self._clock: ModeClock | None = None
        self._authorised: frozenset[str] = frozenset()
        self._wake = asyncio.Event()

    # -- queries ---------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """The mode in force; day until the first `apply`."""
        return self._clock.mode if self._clock is not None else StandardMode.DAY

    @property
    def override(self) -> Override | None:
        return self._clock.override if self._clock is not None else None

    @property
    def authorised_users(self) -> frozenset[str]:
        return self._authorised

    def next_deadline(self) -> datetime | None:
        return self._clock.next_deadline() if self._clock is not None else None

    # -- configuration ---------------------------------------------------------------------

    def apply(
        self, schedule: Schedule | None, at: datetime, *, authorised_users: Iterable[str] = ()
    ) -> list[ModeChanged]:
        """Adopt a revision's schedule (None: always day) and mode switchers at ``at``
        (aware). An override survives when the new schedule knows its mode."""
        sched = schedule if schedule is not None else ALWAYS_DAY
        self._authorised = frozenset(authorised_users)
        if self._clock is None:
            self._clock = ModeClock(sched, at)
            events = self._restore(at)
        else:
            before = self._clock.override
            events = self._clock.replace_schedule(sched, at)
            if before is not None and self._clock.override is None:
                log.warning("manual mode %r dropped: the new schedule has no such mode",
                            before.mode)
                self._save()
        self._publish(events)
        return events

    # -- switching -------------------------------------------------------------------------

    def switch_by_code(self, user_id: str | None, argument: str, at: datetime) -> ModeSwitchResult:
        """The `mode` feature code dialled by ``user_id`` (None: a phone of no user, a DISA
        caller) with ``argument`` digits: "1"–"4" select a mode, "0" returns to the schedule."""
        if user_id is None or user_id not in self._authorised:
            log.warning("mode switch *%s refused: %s is not authorised", argument,
                        user_id or "an unknown caller")
            return ModeSwitchResult(ModeSwitch.NOT_AUTHORISED, self.mode)
        by = f"user:{user_id}"
        if argument == CLEAR_DIGIT:
            events = self.clear(at, by=by)
            return ModeSwitchResult(ModeSwitch.DONE, self.mode, tuple(events))
        mode = MODE_DIGITS.get(argument)
        if mode is None:
            return ModeSwitchResult(ModeSwitch.BAD_ARGUMENT, self.mode)
        try:
            events = self.set_from_panel(mode, at, by=by)
        except UnknownModeError:
            return ModeSwitchResult(ModeSwitch.BAD_ARGUMENT, self.mode)
        return ModeSwitchResult(ModeSwitch.DONE, self.mode, tuple(events))

    def set_from_panel(
        self, mode: str, at: datetime, *, by: str, until: datetime | Until | None = NEXT_CHANGE
    ) -> list[ModeChanged]:
        """Put the office in ``mode`` by hand (panel: ``by="panel"``, web: ``"web:<login>"``).

        ``until``: see the module docstring for `NEXT_CHANGE` (holiday lasts the local day);
        a datetime ends it then; None holds until `clear`. Raises `UnknownModeError` for a
        mode the schedule lacks, ValueError for an ``until`` not after ``at``.
        """
        clock = self._ensure(at)
        end = until
        if until is NEXT_CHANGE and mode == StandardMode.HOLIDAY:
            end = self._end_of_holiday(clock.schedule, at)
        events = clock.set_override(mode, at, until=end, by=by)
        self._save()
        self._publish(events)
        self._wake.set()
        return events

    def clear(self, at: datetime, *, by: str) -> list[ModeChanged]:
        """Return to the schedule now."""
        clock = self._ensure(at)
        had = clock.override is not None
        events = clock.clear_override(at, by=by)
        if had:
            self._save()
        self._publish(events)
        self._wake.set()
        return events

    def tick(self, at: datetime) -> list[ModeChanged]:
        """Bring the mode up to ``at``; `run` calls it, tests may too."""
        if self._clock is None:
            return []
        had = self._clock.override
        events = self._clock.tick(at)
        if had is not None and self._clock.override is None:
            self._save()
        self._publish(events)
        return events

    async def run(self, wall_clock: Callable[[], datetime]) -> None:
        """Tick at every deadline until cancelled. ``wall_clock`` returns the aware time."""
        while True:
            now = wall_clock()
            try:
                self.tick(now)
            except ValueError:
                log.exception("mode clock cannot tick at %s", now.isoformat())
            deadline = self.next_deadline()
            delay = MAX_SLEEP_S
            if deadline is not None:
                delay = min(MAX_SLEEP_S, max(0.0, (deadline - now).total_seconds()))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass

    # -- internals -------------------------------------------------------------------------

    def _ensure(self, at: datetime) -> ModeClock:
        if self._clock is None:
            self.apply(None, at)
        assert self._clock is not None
        return self._clock

    @staticmethod
    def _end_of_holiday(schedule: Schedule, at: datetime) -> datetime | None:
        local = at.astimezone(schedule.time_zone)
        midnight = datetime.combine(local.date() + timedelta(days=1), time(),
                                    tzinfo=schedule.time_zone)
        return schedule.next_change_after(midnight)

    def _publish(self, events: Iterable[ModeChanged]) -> None:
        for event in events:
            log.info("mode %s → %s (%s%s)", event.old, event.new, event.reason.value,
                     f" by {event.by}" if event.by else "")
            self._bus.publish(event)

    def _save(self) -> None:
        if self._state_path is None or self._clock is None:
            return
        ov = self._clock.override
        data: dict[str, object] = {"version": STATE_VERSION, "override": None}
        if ov is not None:
            data["override"] = {
                "mode": ov.mode, "since": ov.since.isoformat(),
                "until": ov.until.isoformat() if ov.until is not None else None, "by": ov.by}
        try:
            self._state_path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self._state_path, data, mode=0o644)
        except OSError:
            log.exception("cannot save the operating mode to %s; a restart will follow the "
                          "schedule", self._state_path)

    def _load(self) -> Override | None:
        path = self._state_path
        if path is None:
            return None
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("ignoring unreadable mode state %s: %s", path, exc)
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
                raise ValueError("not a version 1 mode state")
            ov = data.get("override")
            if ov is None:
                return None
            if not isinstance(ov, dict):
                raise ValueError("override is not an object")
            mode, since, until, by = ov["mode"], ov["since"], ov["until"], ov["by"]
            if not (isinstance(mode, str) and isinstance(since, str) and isinstance(by, str)
                    and (until is None or isinstance(until, str))):
                raise ValueError("override fields have the wrong types")
            since_at = datetime.fromisoformat(since)
            until_at = datetime.fromisoformat(until) if until is not None else None
            for value in (since_at, until_at):
                if value is not None and value.utcoffset() is None:
                    raise ValueError("times must carry a UTC offset")
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring damaged mode state %s: %s", path, exc)
            return None
        return Override(mode, since_at, until_at, by)

    def _restore(self, at: datetime) -> list[ModeChanged]:
        clock = self._clock
        saved = self._load()
        if clock is None or saved is None:
            return []
        if saved.until is not None and saved.until <= at:
            log.info("saved manual mode %r ended at %s while the box was off", saved.mode,
                     saved.until.isoformat())
            self._save()
            return []
        try:
            events = clock.set_override(saved.mode, at, until=saved.until, by=saved.by)
        except UnknownModeError:
            log.warning("ignoring saved manual mode %r: the schedule has no such mode",
                        saved.mode)
            self._save()
            return []
        log.info("restored manual mode %r set by %s", saved.mode, saved.by)
        return events
