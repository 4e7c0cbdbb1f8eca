"""What hardware reports: immutable events, one dataclass per thing that happened.

Every event names its `device` as the board does ("fxs1", "fxo2", "dect1") and carries `at`,
the board clock's monotonic seconds at which it happened *on the line* — which can be earlier
than the moment it was reported: an `OnHook` is known only once the loop has stayed open longer
than the flash window, yet `at` is when the loop opened, so call records measure the call, not
the detector. Events are pure data (no I/O, no asyncio); devices deliver them through
`events()` async iterators (see `hal.eventqueue`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# --- every port --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortAlarm:
    """The device went out of service because `reason` (no answer on SPI, foreign voltage)."""

    device: str
    at: float
    reason: str


@dataclass(frozen=True, slots=True)
class PortAlarmCleared:
    """The device works again after a `PortAlarm`."""

    device: str
    at: float


# --- FXS: a phone on our port ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OffHook:
    """The phone closed the loop (lifted the handset, or the loop closed after a hang-up)."""

    device: str
    at: float


@dataclass(frozen=True, slots=True)
class OnHook:
    """The phone hung up: the loop stayed open beyond the flash window. `at` is when it
    opened; the event is reported `flash_max_ms` later."""

    device: str
    at: float


@dataclass(frozen=True, slots=True)
class HookFlash:
    """A timed break recall (R key, or a quick tap of the hook) of `duration_ms`, inside the
    port's flash window. `at` is when the loop opened."""

    device: str
    at: float
    duration_ms: int


@dataclass(frozen=True, slots=True)
class PulseDigit:
    """A rotary-dial (decadic) digit: `pulses` loop breaks, read as `digit` by the port's
    numbering ("0" for 10 pulses normally). `at` is when its last pulse ended."""

    device: str
    at: float
    digit: str
    pulses: int


# --- FXO: a line from the exchange on our port -------------------------------------------------


@dataclass(frozen=True, slots=True)
class RingDetected:
    """A ring burst qualified (lasted the minimum burst time). `at` is the burst's start.

    `ring_number` counts bursts of this ringing from 1. `cadence_ms` is what was measured so
    far, alternating on and off durations (empty for the first burst); `cadence_matches`
    compares them with the expected cadence when the port has one, else None.
    """

    device: str
    at: float
    ring_number: int
    cadence_ms: tuple[int, ...]
    cadence_matches: bool | None


@dataclass(frozen=True, slots=True)
class RingEnded:
    """Ring burst `ring_number` ended after `on_ms`: after the first, the caller-ID window of
    Bell 202 / ETSI "after first ring" lines opens."""

    device: str
    at: float
    ring_number: int
    on_ms: int


@dataclass(frozen=True, slots=True)
class RingStopped:
    """No further burst came within the ring timeout: the caller gave up (or someone on a
    parallel set answered). `at` is the end of the last burst."""

    device: str
    at: float
    rings: int


@dataclass(frozen=True, slots=True)
class LoopCurrentChanged:
    """The line's loop current changed while we hold it; 0 means none flows (a disconnect
    on lines that signal by open loop, or no battery)."""

    device: str
    at: float
    current_ma: float

    @property
    def flowing(self) -> bool:
        return self.current_ma > 0.0


@dataclass(frozen=True, slots=True)
class PolarityReversed:
    """Tip and ring swapped: `reversed` is the new state relative to the line's idle polarity.
    Exchanges use it for answer supervision, disconnect, and to announce on-hook caller ID."""

    device: str
    at: float
    reversed: bool


@dataclass(frozen=True, slots=True)
class LineInUse:
    """While we are on-hook, another set on the same line went off-hook (`in_use`) or back."""

    device: str
    at: float
    in_use: bool


# --- relays, inputs, panel ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pressed:
    """A contact input closed (door button pressed) and stayed closed past the debounce."""

    device: str
    at: float


@dataclass(frozen=True, slots=True)
class Released:
    """The contact opened again after being closed for `held_ms`."""

    device: str
    at: float
    held_ms: int


class PanelKey(StrEnum):
    """The front panel's keys."""

    UP = "up"
    DOWN = "down"
    OK = "ok"
    BACK = "back"


@dataclass(frozen=True, slots=True)
class KeyPressed:
    """A front-panel key was pressed."""

    device: str
    at: float
    key: PanelKey


# --- DECT ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandsetRegistered:
    """A handset subscribed to the base during a registration window. `handset` is the base's
    slot number for it (1…), `ipui` its identity (EN 300 175-6 §6.2)."""

    device: str
    at: float
    handset: int
    ipui: str


@dataclass(frozen=True, slots=True)
class HandsetDeregistered:
    """The handset's subscription was removed (by us, or by the handset's menu)."""

    device: str
    at: float
    handset: int


@dataclass(frozen=True, slots=True)
class RegistrationWindowClosed:
    """The base stopped accepting new handsets (timeout or `close_registration()`)."""

    device: str
    at: float


@dataclass(frozen=True, slots=True)
class HandsetOffHook:
    """The handset's talk key: answers a page, or starts a call when idle."""

    device: str
    at: float
    handset: int


@dataclass(frozen=True, slots=True)
class HandsetOnHook:
    """The handset's end key, or it went out of range for longer than the link timeout."""

    device: str
    at: float
    handset: int


@dataclass(frozen=True, slots=True)
class KeypadPressed:
    """Keys typed on a handset (digits, *, #, R), in order; several may arrive at once when
    the handset sends a whole number (en-bloc)."""

    device: str
    at: float
    handset: int
    keys: str


@dataclass(frozen=True, slots=True)
class HandoverStarted:
    """Handset `handset` is moving a call from base `from_base` to this base (`device`)."""

    device: str
    at: float
    handset: int
    from_base: str


@dataclass(frozen=True, slots=True)
class HandoverCompleted:
    """The call now runs through this base; the audio slot of `from_base` is free."""

    device: str
    at: float
    handset: int
    from_base: str


FxsEvent = OffHook | OnHook | HookFlash | PulseDigit | PortAlarm | PortAlarmCleared
FxoEvent = (RingDetected | RingEnded | RingStopped | LoopCurrentChanged | PolarityReversed
            | LineInUse | PortAlarm | PortAlarmCleared)
ContactEvent = Pressed | Released
PanelEvent = KeyPressed
DectEvent = (HandsetRegistered | HandsetDeregistered | RegistrationWindowClosed | HandsetOffHook
             | HandsetOnHook | KeypadPressed | HandoverStarted | HandoverCompleted | PortAlarm
             | PortAlarmCleared)
