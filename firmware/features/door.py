"""Door stations: the door phone rings a group, the answering phone opens the lock with a code.

What installers expect (Panasonic KX-TDA/NS doorphone + door opener, SIP door stations such as
2N, Fanvil or Akuvox that open on a DTMF code; architecture only):

- a door station (an analog door phone on an FXS port, or a SIP intercom) calls `rings` — a
  department or an extension; a bell contact (`bell_input`, e.g. `input1`) rings it too;
- while the call with the door station is answered, the answering party (and only that
  party) dials `open_code` to pulse the lock relay (`relay`, e.g. `relay1`) for `pulse_ms`
  (3000 ms default, 100–30000 ms: door strikes want 1–5 s). The default code is `*1`: two
  keys, so a stray `*` or `#` pressed while talking (some stations default to one key) cannot
  open; the code is matched over the last digits typed, a pause over `digit_timeout_s` (3 s)
  starts again;
- the door also opens from the web page and the front panel; every request is recorded
  (`DoorOpened`: which door, who, how, when). A request during a running pulse is recorded
  and counted but starts no second pulse and does not lengthen the first (hal's `Relay.pulse`
  would restart the time);
- a bell contact that chatters rings once per `bell_holdoff_s` (5 s).

Pure: no I/O; `now` is the board's monotonic clock in seconds. The controller reports which
call is a door call and who answered it, feeds DTMF digits, and acts on `OpenDoor` (pulse the
relay) and `RingDoor` (place a call from the door to `rings`).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from firmware.calls.events import CallId
from firmware.config.schema import setting

log = logging.getLogger(__name__)

DEFAULT_OPEN_CODE = "*1"
MIN_PULSE_MS = 100
MAX_PULSE_MS = 30_000
_DTMF = frozenset("0123456789*#ABCD")


class OpenMethod(StrEnum):
    DTMF = "dtmf"
    WEB = "web"
    PANEL = "panel"


@dataclass(frozen=True, slots=True)
class DoorSettings:
    id: str
    """The door's name as installers say it (`front`, `yard`)."""
    station_device: str
    """Device id of the door station (`fxs4`, a SIP door phone's device)."""
    rings: str
    """Department or extension number the door station and the bell call."""
    relay: str = "relay1"
    pulse_ms: int = field(default=3000, metadata=setting(
        "How long the lock relay is energised per opening.", unit="ms", minimum=MIN_PULSE_MS,
        maximum=MAX_PULSE_MS))
    open_code: str = DEFAULT_OPEN_CODE
    bell_input: str | None = None
    """Contact input device (`input1`) that rings the door's number; None: no bell."""

    def problems(self) -> list[str]:
        found: list[str] = []
        if not MIN_PULSE_MS <= self.pulse_ms <= MAX_PULSE_MS:
            found.append(f"door {self.id!r}: pulse_ms must be {MIN_PULSE_MS}-{MAX_PULSE_MS}, "
                         f"not {self.pulse_ms}")
        if not (1 <= len(self.open_code) <= 8 and set(self.open_code) <= _DTMF):
            found.append(f"door {self.id!r}: open_code must be 1-8 DTMF keys (0-9 * # A-D)")
        return found


@dataclass(frozen=True, slots=True)
class OpenDoor:
    """Command: pulse `relay` for `pulse_ms`."""

    door: str
    relay: str
    pulse_ms: int
    by: str
    method: OpenMethod
    at: float


@dataclass(frozen=True, slots=True)
class RingDoor:
    """Command: call `rings` from the door (the bell was pressed)."""

    door: str
    rings: str
    at: float


@dataclass(frozen=True, slots=True)
class DoorOpened:
    """Record of an opening request; `pulse_started` False: a pulse was already running."""

    door: str
    by: str
    method: OpenMethod
    at: float
    pulse_started: bool = True


@dataclass(slots=True)
class _DoorCall:
    door: DoorSettings
    answered_by: str | None = None
    digits: str = ""
    last_digit_at: float = 0.0


class DoorPanel:
    """All doors of the box: door calls, DTMF codes, bells, openings and their records."""

    def __init__(self, doors: Iterable[DoorSettings], *, digit_timeout_s: float = 3.0,
                 bell_holdoff_s: float = 5.0) -> None:
        self._doors = {d.id: d for d in doors}
        for door in self._doors.values():
            problems = door.problems()
            if problems:
                raise ValueError("; ".join(problems))
        self._digit_timeout_s = digit_timeout_s
        self._bell_holdoff_s = bell_holdoff_s
        self._calls: dict[CallId, _DoorCall] = {}
        self._pulse_until: dict[str, float] = {}
        self._bell_at: dict[str, float] = {}
        self._pulses: dict[str, int] = dict.fromkeys(self._doors, 0)
        self._requests: dict[str, int] = dict.fromkeys(self._doors, 0)
        self._records: deque[DoorOpened] = deque()

    def door_of_device(self, device: str) -> DoorSettings | None:
        return next((d for d in self._doors.values() if d.station_device == device), None)

    # -- inputs --

    def call_started(self, call: CallId, station_device: str) -> bool:
        """A call with `station_device` began; False if it is no door station."""
        door = self.door_of_device(station_device)
        if door is None:
            return False
        self._calls[call] = _DoorCall(door)
        return True

    def answered(self, call: CallId, by_device: str) -> None:
        """`by_device` answered the door call: only it may dial the open code."""
        entry = self._calls.get(call)
        if entry is not None:
            entry.answered_by, entry.digits = by_device, ""

    def ended(self, call: CallId) -> None:
        self._calls.pop(call, None)

    def digits(self, call: CallId, digit: str, by_device: str, now: float) -> OpenDoor | None:
        """A DTMF digit dialled by `by_device` in `call`. Digits from anyone but the answering
        party, or before the answer, are ignored."""
        entry = self._calls.get(call)
        if entry is None or entry.answered_by is None or by_device != entry.answered_by:
            return None
        if now - entry.last_digit_at > self._digit_timeout_s:
            entry.digits = ""
        code = entry.door.open_code
        entry.digits = (entry.digits + digit)[-len(code):]
        entry.last_digit_at = now
        if entry.digits != code:
            return None
        entry.digits = ""
        return self._open(entry.door, by_device, OpenMethod.DTMF, now)

    def bell(self, input_device: str, now: float) -> RingDoor | None:
        """The bell contact `input_device` closed; None if no door has it or it rang within
        the hold-off."""
        door = next((d for d in self._doors.values() if d.bell_input == input_device), None)
        if door is None:
            return None
        last = self._bell_at.get(door.id)
        if last is not None and now - last < self._bell_holdoff_s:
            return None
        self._bell_at[door.id] = now
        return RingDoor(door.id, door.rings, now)

    def open_from_web(self, door: str, by_user: str, now: float) -> OpenDoor | None:
        """Raises KeyError for an unknown door."""
        return self._open(self._doors[door], by_user, OpenMethod.WEB, now)

    def open_from_panel(self, door: str, now: float, by: str = "panel") -> OpenDoor | None:
        return self._open(self._doors[door], by, OpenMethod.PANEL, now)

    def handle_timers(self, now: float) -> None:
        for door, until in list(self._pulse_until.items()):
            if until <= now:
                del self._pulse_until[door]

    # -- outputs --

    def next_deadline(self) -> float | None:
        return min(self._pulse_until.values(), default=None)

    def next_event(self) -> DoorOpened | None:
        return self._records.popleft() if self._records else None

    def pulses(self, door: str) -> int:
        """Relay pulses started since boot."""
        return self._pulses[door]

    def requests(self, door: str) -> int:
        """Opening requests since boot, including those during a running pulse."""
        return self._requests[door]

    # -- internals --

    def _open(self, door: DoorSettings, by: str, method: OpenMethod,
              now: float) -> OpenDoor | None:
        self.handle_timers(now)
        self._requests[door.id] += 1
        started = door.id not in self._pulse_until
        self._records.append(DoorOpened(door.id, by, method, now, started))
        log.debug("door %r opened by %r (%s)%s", door.id, by, method.value,
                 "" if started else " during a running pulse")
        if not started:
            return None
        self._pulse_until[door.id] = now + door.pulse_ms / 1000.0
        self._pulses[door.id] += 1
        return OpenDoor(door.id, door.relay, door.pulse_ms, by, method, now)
