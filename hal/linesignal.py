"""Analog line signalling, pure: hook changes in, OffHook/OnHook/HookFlash/PulseDigit out;
ring bursts in, RingDetected/RingEnded/RingStopped out. Time is passed in (`at`, `now`).

Chip drivers and the simulation share these decoders, so a simulated rotary phone exercises
the very code that reads a real one. The shape is the sans-I/O one of the protocol cores:
`hook(off_hook, at)`, `handle_timers(now)`, `next_deadline()`, `next_event()`.

Loop-disconnect (pulse) dialling. Senders run at 10 ± 1 pulses per second with a break of
58–67 % of each period (GOST 7153 break/make 1.6 ± 0.2 ≈ 60/40 ms; TIA-968 and Bellcore
61/39–64/36 ≈ 66/33 ms) and pause at least 200 ms between digits (typically 500–800 ms). The
default `HookTiming` accepts breaks of 40–76 ms and makes of 20–60 ms, ends a digit after 200 ms
of make, and refuses a whole digit when any of its breaks or makes is outside those windows
(a slipping dial, a bad contact) rather than guess its pulse count.

Hook flash (timed break recall, the R key): ETSI ES 201 970 / TBR 21 send 70–130 ms, Russian
sets ≈ 100 ms, North American 300–1000 ms. The default window is 80–300 ms; a break reaching
`flash_max_ms` is a hang-up. Each port may set its own window (`HookTiming`), as long as pulses,
flashes and hang-ups stay distinguishable (checked when the timing is built).

Ring detection (FXO): a burst counts once it lasted `min_burst_ms` (150 ms, below the UK's
400 ms double ring); ringing has stopped when no burst came for `ring_timeout_ms` (6.5 s: the
longest common pause is 4 s ± 10 %). Measured cadences are compared with an expected one within
`tolerance_pct` (20 %), skipping the first burst, which exchanges with a common ring generator
cut short.

Contact bounce is removed by `hal.debounce.Debouncer` (default 10 ms) before classification;
durations are measured from each change's first edge.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from types import MappingProxyType

from hal.debounce import Debouncer, Edge
from hal.events import (
    HookFlash,
    OffHook,
    OnHook,
    PulseDigit,
    RingDetected,
    RingEnded,
    RingStopped,
)

HookEvent = OffHook | OnHook | HookFlash | PulseDigit
RingEvent = RingDetected | RingEnded | RingStopped

# --- ring cadences -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RingCadence:
    """A ring pattern: alternating on and off times in ms, repeated. (1000, 4000) rings 1 s
    and pauses 4 s; (400, 200, 400, 2000) is the British double ring."""

    on_off_ms: tuple[int, ...]
    name: str = ""

    def __post_init__(self) -> None:
        if not self.on_off_ms or len(self.on_off_ms) % 2:
            raise ValueError(f"ring cadence {self.on_off_ms}: needs on/off pairs")
        if any(ms <= 0 for ms in self.on_off_ms):
            raise ValueError(f"ring cadence {self.on_off_ms}: every time must be > 0 ms")

    @property
    def period_ms(self) -> int:
        """One full cycle."""
        return sum(self.on_off_ms)

    @property
    def first_on_ms(self) -> int:
        return self.on_off_ms[0]


RING_CADENCES: Mapping[str, RingCadence] = MappingProxyType({
    # ETSI ES 201 970 annex / national specifications; ring frequency is 25 Hz (RU, EU) or 20 Hz.
    "ru": RingCadence((1000, 4000), "ru"),
    "de": RingCadence((1000, 4000), "de"),
    "fr": RingCadence((1500, 3500), "fr"),
    "uk": RingCadence((400, 200, 400, 2000), "uk"),
    "us": RingCadence((2000, 4000), "us"),
})
"""Ring cadences by country code, for ports and for the simulated exchange."""

# --- hook signalling -----------------------------------------------------------------------------


class PulseNumbering(StrEnum):
    """How many loop breaks make which digit."""

    STANDARD = "standard"
    """1–9 pulses are 1–9, 10 pulses are 0 (ITU-T, nearly everywhere)."""
    SWEDEN = "sweden"
    """0 is one pulse, n is n + 1."""
    NEW_ZEALAND = "new_zealand"
    """n is 10 − n pulses (0 is 10)."""

    def pulses(self, digit: str) -> int:
        """The pulse count for `digit` ("0"–"9"). Raises ValueError for anything else."""
        if len(digit) != 1 or not digit.isdigit():
            raise ValueError(f"pulse dialling sends 0-9 only, not {digit!r}")
        n = int(digit)
        if self is PulseNumbering.SWEDEN:
            return n + 1
        if self is PulseNumbering.NEW_ZEALAND:
            return 10 - n
        return n or 10

    def digit(self, pulses: int) -> str | None:
        """The digit of `pulses` breaks, or None when no digit has that many."""
        for d in "0123456789":
            if self.pulses(d) == pulses:
                return d
        return None


@dataclass(frozen=True, slots=True)
class HookTiming:
    """How one port reads its loop: windows in ms, all measured from first edges.

    Raises ValueError when two windows overlap (a pulse could be read as a flash) or a
    window is empty.
    """

    debounce_ms: float = 10.0
    """A change counts once it held this long; shorter blips are contact bounce."""
    pulse_break_min_ms: float = 40.0
    pulse_break_max_ms: float = 76.0
    pulse_make_min_ms: float = 20.0
    pulse_make_max_ms: float = 60.0
    interdigit_min_ms: float = 200.0
    """A make this long ends the digit being dialled."""
    flash_min_ms: float = 80.0
    flash_max_ms: float = 300.0
    """A break reaching this is a hang-up."""
    numbering: PulseNumbering = PulseNumbering.STANDARD

    def __post_init__(self) -> None:
        chains = (
            ("debounce_ms", "<", "pulse_break_min_ms", "<=", "pulse_break_max_ms", "<",
             "flash_min_ms", "<", "flash_max_ms"),
            ("debounce_ms", "<", "pulse_make_min_ms", "<=", "pulse_make_max_ms", "<",
             "interdigit_min_ms"),
        )
        problems = []
        if self.debounce_ms < 0:
            problems.append(f"debounce_ms must be ≥ 0, not {self.debounce_ms:g}")
        for chain in chains:
            for i in range(0, len(chain) - 2, 2):
                a, op, b = chain[i], chain[i + 1], chain[i + 2]
                va, vb = getattr(self, a), getattr(self, b)
                if not (va < vb if op == "<" else va <= vb):
                    why = "below" if op == "<" else "at most"
                    problems.append(f"{a} ({va:g}) must be {why} {b} ({vb:g})")
        if problems:
            raise ValueError("hook timing: " + "; ".join(problems)
                             + ": pulses, flashes and hang-ups must stay distinguishable")


@dataclass(frozen=True, slots=True)
class PulseTiming:
    """How a pulse *sender* dials (a simulated rotary phone, an FXO port dialling out)."""

    break_ms: float = 60.0
    make_ms: float = 40.0
    interdigit_ms: float = 700.0
    numbering: PulseNumbering = PulseNumbering.STANDARD

    def __post_init__(self) -> None:
        if min(self.break_ms, self.make_ms, self.interdigit_ms) <= 0:
            raise ValueError(f"pulse timing: every time must be > 0 ms: {self}")

    def duration_s(self, digits: str) -> float:
        """How long dialling `digits` takes, from the first break to the end of the last
        make (without the trailing pause)."""
        total_ms = 0.0
        for i, d in enumerate(digits):
            n = self.numbering.pulses(d)
            total_ms += n * (self.break_ms + self.make_ms)
            if i < len(digits) - 1:
                total_ms += self.interdigit_ms - self.make_ms
        return total_ms / 1000.0


class RejectReason(StrEnum):
    """Why a pulse digit was refused; counted in `HookDecoder.rejected`."""

    BREAK_TOO_SHORT = "break_too_short"
    BREAK_TOO_LONG = "break_too_long"
    MAKE_TOO_SHORT = "make_too_short"
    MAKE_TOO_LONG = "make_too_long"
    NO_SUCH_DIGIT = "no_such_digit"
    CUT_BY_FLASH = "cut_by_flash"


class _Loop(Enum):
    ON_HOOK = "on_hook"
    OFF_HOOK = "off_hook"
    BREAK = "break"  # open while off-hook: a pulse, a flash or a hang-up, not known yet


class HookDecoder:
    """One port's loop: raw hook readings in, hook events out.

    Feed every raw change with `hook(off_hook, at)` (repeats are harmless) and call
    `handle_timers(now)` at `next_deadline()`: hang-ups and digits are decided by time
    passing, not by a further edge. Events come out in the order they happened.
    """

    def __init__(self, device: str, timing: HookTiming | None = None,
                 off_hook: bool = False) -> None:
        self.device = device
        self._timing = timing or HookTiming()
        self._debouncer = Debouncer(off_hook, self._timing.debounce_ms)
        self._loop = _Loop.OFF_HOOK if off_hook else _Loop.ON_HOOK
        self._break_at = 0.0
        self._pulses = 0
        self._last_make_at: float | None = None  # set while a digit is in progress
        self._digit_reject: RejectReason | None = None
        self._events: collections.deque[HookEvent] = collections.deque()
        self.rejected: collections.Counter[RejectReason] = collections.Counter()
        """Digits refused, by reason."""

    @property
    def timing(self) -> HookTiming:
        return self._timing

    def set_timing(self, timing: HookTiming) -> None:
        """Use `timing` from now on (a digit in progress is judged by the new windows)."""
        self._timing = timing
        pending = self._debouncer.pending
        self._debouncer = Debouncer(self._debouncer.state, timing.debounce_ms)
        if pending is not None:
            self._debouncer.sample(pending.state, pending.at)

    @property
    def off_hook(self) -> bool:
        """Whether the port counts as off-hook (a break not yet decided still counts)."""
        return self._loop is not _Loop.ON_HOOK

    def hook(self, off_hook: bool, at: float) -> None:
        """The loop reads closed (`off_hook`) or open from `at` on."""
        self._advance(at)
        for edge in self._debouncer.sample(off_hook, at):
            self._edge(edge)

    def handle_timers(self, now: float) -> None:
        """Decide what time alone decides: debounced edges, digits, hang-ups."""
        self._advance(now)

    def next_deadline(self) -> float | None:
        """When `handle_timers` has something to decide, or None."""
        own = self._own_deadline()
        debounce = self._debouncer.next_deadline()
        pending = self._debouncer.pending
        if pending is None:
            return own
        if own is not None and own <= pending.at:
            return own
        return debounce

    def next_event(self) -> HookEvent | None:
        """The oldest undelivered event, or None."""
        return self._events.popleft() if self._events else None

    # --- internals -----------------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        while True:
            pending = self._debouncer.pending
            # A pending edge may yet be a bounce: only time before it is certain.
            known = now if pending is None else min(now, pending.at)
            self._fire_timers(known)
            edges = self._debouncer.handle_timers(now)
            if not edges:
                return
            for edge in edges:
                self._edge(edge)

    def _own_deadline(self) -> float | None:
        t = self._timing
        if self._loop is _Loop.BREAK:
            return self._break_at + t.flash_max_ms / 1000.0
        if self._loop is _Loop.OFF_HOOK and self._last_make_at is not None:
            return self._last_make_at + t.interdigit_min_ms / 1000.0
        return None

    def _fire_timers(self, known: float) -> None:
        deadline = self._own_deadline()
        while deadline is not None and deadline <= known + 1e-9:
            if self._loop is _Loop.BREAK:
                self._drop_digit()
                self._loop = _Loop.ON_HOOK
                self._events.append(OnHook(self.device, self._break_at))
            else:
                self._end_digit()
            deadline = self._own_deadline()

    def _edge(self, edge: Edge) -> None:
        t = self._timing
        if edge.state:  # loop closed
            if self._loop is _Loop.ON_HOOK:
                self._loop = _Loop.OFF_HOOK
                self._events.append(OffHook(self.device, edge.at))
                return
            if self._loop is not _Loop.BREAK:
                return
            self._loop = _Loop.OFF_HOOK
            break_ms = (edge.at - self._break_at) * 1000.0
            if t.flash_min_ms <= break_ms < t.flash_max_ms:
                if self._last_make_at is not None:
                    self._reject(RejectReason.CUT_BY_FLASH)
                    self._drop_digit()
                self._events.append(HookFlash(self.device, self._break_at, round(break_ms)))
                return
            if break_ms < t.pulse_break_min_ms:
                self._reject_pulse(RejectReason.BREAK_TOO_SHORT)
            elif break_ms > t.pulse_break_max_ms:
                self._reject_pulse(RejectReason.BREAK_TOO_LONG)
            self._pulses += 1
            self._last_make_at = edge.at
        else:  # loop opened
            if self._loop is not _Loop.OFF_HOOK:
                return
            if self._last_make_at is not None:
                make_ms = (edge.at - self._last_make_at) * 1000.0
                if make_ms < t.pulse_make_min_ms:
                    self._reject_pulse(RejectReason.MAKE_TOO_SHORT)
                elif make_ms > t.pulse_make_max_ms:
                    self._reject_pulse(RejectReason.MAKE_TOO_LONG)
            self._loop = _Loop.BREAK
            self._break_at = edge.at

    def _reject_pulse(self, reason: RejectReason) -> None:
        if self._digit_reject is None:
            self._digit_reject = reason

    def _reject(self, reason: RejectReason) -> None:
        self.rejected[reason] += 1

    def _end_digit(self) -> None:
        at = self._last_make_at
        assert at is not None  # only called while a digit is in progress
        digit = self._timing.numbering.digit(self._pulses)
        if self._digit_reject is not None:
            self._reject(self._digit_reject)
        elif digit is None:
            self._reject(RejectReason.NO_SUCH_DIGIT)
        else:
            self._events.append(PulseDigit(self.device, at, digit, self._pulses))
        self._drop_digit()

    def _drop_digit(self) -> None:
        self._pulses = 0
        self._last_make_at = None
        self._digit_reject = None


# --- ring detection ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RingValidation:
    """How an FXO port qualifies ringing. Raises ValueError for impossible values."""

    min_burst_ms: float = 150.0
    ring_timeout_ms: float = 6500.0
    expected: RingCadence | None = None
    """The line's cadence when known (the line wizard learns it); None accepts any."""
    tolerance_pct: float = 20.0

    def __post_init__(self) -> None:
        if self.min_burst_ms <= 0 or self.ring_timeout_ms <= self.min_burst_ms:
            raise ValueError("ring validation: need 0 < min_burst_ms < ring_timeout_ms, "
                             f"not {self.min_burst_ms:g} and {self.ring_timeout_ms:g}")
        if not 0 <= self.tolerance_pct <= 100:
            raise ValueError(f"ring validation: tolerance_pct {self.tolerance_pct:g} "
                             "must be 0-100")


class RingDetector:
    """One FXO port's ring signal: envelope edges in (ring voltage present or not), ring
    events out. Same driving pattern as `HookDecoder`."""

    def __init__(self, device: str, validation: RingValidation | None = None) -> None:
        self.device = device
        self.validation = validation or RingValidation()
        self._in_burst = False
        self._burst_start = 0.0
        self._qualified = False
        self._rings = 0
        self._measured: list[int] = []
        self._last_end: float | None = None
        self._events: collections.deque[RingEvent] = collections.deque()
        self.short_bursts = 0
        """Bursts too short to count (a bell tinkle from a parallel set's dial)."""

    @property
    def ringing(self) -> bool:
        """A ringing sequence is in progress (between its first burst and `RingStopped`)."""
        return self._rings > 0

    def ring_signal(self, on: bool, at: float) -> None:
        """Ring voltage appeared (`on`) or went away at `at`."""
        self.handle_timers(at)
        if on and not self._in_burst:
            self._in_burst, self._burst_start, self._qualified = True, at, False
        elif not on and self._in_burst:
            self._in_burst = False
            if not self._qualified:
                self.short_bursts += 1
                return
            on_ms = round((at - self._burst_start) * 1000.0)
            self._measured.append(on_ms)
            self._last_end = at
            self._events.append(RingEnded(self.device, at, self._rings, on_ms))

    def answered(self) -> None:
        """The port went off-hook: the ringing is over without a `RingStopped` (the firmware
        knows it answered), and ring voltage seen now is not ringing."""
        self._in_burst = False
        self._rings, self._measured, self._last_end = 0, [], None

    def handle_timers(self, now: float) -> None:
        deadline = self.next_deadline()
        while deadline is not None and deadline <= now + 1e-9:
            if self._in_burst:
                self._qualify()
            else:
                assert self._last_end is not None
                self._events.append(RingStopped(self.device, self._last_end, self._rings))
                self._rings, self._measured, self._last_end = 0, [], None
            deadline = self.next_deadline()

    def next_deadline(self) -> float | None:
        v = self.validation
        if self._in_burst:
            return None if self._qualified else self._burst_start + v.min_burst_ms / 1000.0
        if self._last_end is not None:
            return self._last_end + v.ring_timeout_ms / 1000.0
        return None

    def next_event(self) -> RingEvent | None:
        return self._events.popleft() if self._events else None

    def _qualify(self) -> None:
        self._qualified = True
        self._rings += 1
        if self._last_end is not None:
            self._measured.append(round((self._burst_start - self._last_end) * 1000.0))
        measured = tuple(self._measured)
        self._events.append(RingDetected(self.device, self._burst_start, self._rings,
                                         measured, self._matches(measured)))

    def _matches(self, measured: tuple[int, ...]) -> bool | None:
        expected = self.validation.expected
        if expected is None or len(measured) < 2:
            return None
        pattern = expected.on_off_ms
        tolerance = self.validation.tolerance_pct / 100.0
        # Index 0 is the first burst, which a shared ring generator may cut short.
        return all(abs(ms - pattern[i % len(pattern)]) <= tolerance * pattern[i % len(pattern)]
                   for i, ms in enumerate(measured) if i > 0)
