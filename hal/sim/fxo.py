"""A simulated FXO port, the line behind it, and the central office at the other end.

`SimFxoPort` behaves as the Si3050 driver will: ring voltage read through the shared
`hal.linesignal.RingDetector`, loop current and polarity supervision, line-in-use, pulse or
DTMF dialling, on-hook line monitoring for caller ID.

`SimFxoLine` is one exchange line as an installer meets it, configured by `LineSettings`:
- incoming: `ring(cli)` rings with the line's cadence and sends caller ID — frames made by an
  injected `caller_id_encoder` (the firmware owns the encoder) — after the first ring (500 ms
  into the first cycle's long pause: Bell 202 / ETSI) or before it, after a line reversal;
- outgoing: when the port seizes, dial tone; digits by pulses (read with the same
  `HookDecoder` the FXS ports use) or DTMF (`SimDtmfReceiver`); the number is complete after
  `number_length` digits or `number_timeout_s` without one; ringback, then the far end answers
  after `answer_after_s` (with a polarity reversal when `answer_polarity_reversal`);
- the far end hangs up: the line signals `disconnect` — polarity reversal, loop-current drop
  (`loop_current_drop_ms`), or nothing but busy tone — and plays busy tone until released;
- `disconnect_cable()` takes the battery away (the port raises `PortAlarm`).
Tones follow the line's `TonePlan` (Russian 425 Hz by default). `SimCentralOffice` numbers the
lines from 1 as the box's label does: `office.ring_line(1, cli="+74951234567")`.
"""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from hal.audio import RATE_HZ, AudioPort, Frame
from hal.clock import Clock, DeadlineTimer, TimerHandle
from hal.eventqueue import DEFAULT_MAXLEN
from hal.events import (
    HookFlash,
    LineInUse,
    LoopCurrentChanged,
    OffHook,
    OnHook,
    PolarityReversed,
    PortAlarm,
    PortAlarmCleared,
    PulseDigit,
)
from hal.fxo import DialMethod, FxoPort
from hal.fxs import CALLER_ID_AFTER_RING_S, CALLER_ID_LINE_REVERSAL_S, CallerIdTiming
from hal.linesignal import (
    RING_CADENCES,
    HookDecoder,
    PulseTiming,
    RingCadence,
    RingDetector,
    RingValidation,
)
from hal.sim.audio import TICK_S, LineEffects, LineModel, concatenate
from hal.sim.dtmf import SimDtmfReceiver
from hal.tones import TONE_PLANS, Tone, TonePlan, dtmf_frames

log = logging.getLogger(__name__)

CallerIdEncoder = Callable[[str], Sequence[Frame]]
"""The caller's number → the caller-ID frames to send (FSK or DTMF, the firmware's choice)."""

MAX_FAR_END_FRAMES = 3000
"""What the far end remembers hearing: the last 60 s."""


class DisconnectSignal(StrEnum):
    """How the exchange tells the box the far end hung up."""

    POLARITY_REVERSAL = "polarity_reversal"
    LOOP_CURRENT_DROP = "loop_current_drop"
    BUSY_TONE_ONLY = "busy_tone_only"


class LineState(StrEnum):
    IDLE = "idle"
    RINGING = "ringing"
    DIAL_TONE = "dial_tone"
    DIALLING = "dialling"
    ALERTING = "alerting"
    CONNECTED = "connected"
    BUSY = "busy"


@dataclass(frozen=True, slots=True)
class LineSettings:
    """How one exchange line behaves."""

    cadence: RingCadence = RING_CADENCES["ru"]
    tones: TonePlan = TONE_PLANS["ru"]
    caller_id_timing: CallerIdTiming = CallerIdTiming.AFTER_FIRST_RING
    disconnect: DisconnectSignal = DisconnectSignal.LOOP_CURRENT_DROP
    loop_current_drop_ms: int = 600
    answer_polarity_reversal: bool = False
    loop_current_ma: float = 28.0
    number_length: int | None = None
    number_timeout_s: float = 4.0
    answer_after_s: float = 3.0
    model: LineModel = field(default_factory=LineModel)


class SimFxoLine:
    """One exchange line, behind `port`. Numbers and states are observable for tests."""

    def __init__(self, port: SimFxoPort, clock: Clock, settings: LineSettings) -> None:
        self.port = port
        self._clock = clock
        self.settings = settings
        self.caller_id_encoder: CallerIdEncoder | None = None
        """Makes caller-ID frames; set by the composition root or the test."""
        self.state = LineState.IDLE
        self._state_at = clock.now()
        self.dialled = ""
        """Digits received on the current outgoing call."""
        self.calls: list[str] = []
        """Numbers the box called, in order."""
        self._battery = True
        self._cable = True
        self._reversed = False
        self._parallel = False
        self._timers: list[TimerHandle] = []
        self._ring_timer: TimerHandle | None = None
        self._number_timer: TimerHandle | None = None
        self._decoder = HookDecoder(f"{port.name} exchange")
        self._decoder_timer = DeadlineTimer(clock, self._on_decoder_timer)
        self._dtmf = SimDtmfReceiver()
        self._cid: tuple[float, tuple[Frame, ...]] | None = None
        self._ring_voltage = False
        self._far_speech: collections.deque[Frame] = collections.deque()
        self._far_heard: collections.deque[Frame] = collections.deque(maxlen=MAX_FAR_END_FRAMES)

    # --- what the exchange / far end does ----------------------------------------------------

    def ring(self, cli: str | None = None, cadence: RingCadence | None = None,
             caller_id_timing: CallerIdTiming | None = None) -> None:
        """An incoming call from `cli`. Raises RuntimeError unless the line is idle."""
        if self.state is not LineState.IDLE or self.port.seized:
            raise RuntimeError(f"{self.port.name}: line is {self.state}, cannot ring it")
        self._enter(LineState.RINGING)
        cadence = cadence or self.settings.cadence
        timing = caller_id_timing or self.settings.caller_id_timing
        frames: tuple[Frame, ...] = ()
        if cli and self.caller_id_encoder is not None:
            frames = tuple(self.caller_id_encoder(cli))
        now = self._clock.now()
        if frames and timing is CallerIdTiming.BEFORE_FIRST_RING:
            self._set_polarity(True)
            cid_at = now + CALLER_ID_LINE_REVERSAL_S
            self._cid = (cid_at, frames)
            ring_at = cid_at + len(frames) * TICK_S + CALLER_ID_LINE_REVERSAL_S

            def first_ring() -> None:
                self._set_polarity(False)
                self._ring_phase(cadence, 0, ring_at, ())

            self._later(ring_at, first_ring)
        else:
            self._ring_phase(cadence, 0, now, frames)

    def far_end_hangs_up(self) -> None:
        """The other party hangs up: ringing stops, or a call gets the disconnect signal."""
        if self.state is LineState.RINGING:
            self._cancel_timers()
            self._set_ring_voltage(False)
            self._enter(LineState.IDLE)
        elif self.state in (LineState.CONNECTED, LineState.ALERTING):
            self._disconnect()

    def far_end_speak(self, frames: Sequence[Frame]) -> None:
        """The far party says `frames` (heard by the box while connected)."""
        self._far_speech.extend(frames)

    def far_end_heard(self) -> Frame:
        """What reached the far party since the last call, as one array (then forgotten)."""
        frames = list(self._far_heard)
        self._far_heard.clear()
        return concatenate(frames)

    def parallel_set(self, off_hook: bool) -> None:
        """Another phone on the same pair goes off-hook (True) or back."""
        self._parallel = off_hook
        self.port._line_changed()

    def disconnect_cable(self) -> None:
        """The line is unplugged: no battery, no ringing."""
        self._cable = False
        self.far_end_hangs_up()
        self.port._line_changed()

    def reconnect_cable(self) -> None:
        self._cable = True
        self.port._line_changed()

    # --- what can be checked -----------------------------------------------------------------

    @property
    def battery(self) -> bool:
        """Line voltage is present (not unplugged, not inside a loop-current drop)."""
        return self._battery and self._cable

    @property
    def polarity_reversed(self) -> bool:
        return self._reversed

    @property
    def ring_voltage(self) -> bool:
        return self._ring_voltage

    @property
    def parallel_off_hook(self) -> bool:
        return self._parallel

    # --- the port's side -----------------------------------------------------------------------

    def _port_loop(self, closed: bool) -> None:
        at = self._clock.now()
        if closed and self._ring_voltage:
            self._cancel_timers()  # ring trip: the exchange cuts ringing at once
            self._set_ring_voltage(False)
        self._decoder.hook(closed, at)
        self._deliver()

    def _from_box(self, frame: Frame) -> None:
        if self.state in (LineState.DIAL_TONE, LineState.DIALLING):
            key = self._dtmf.feed(frame)
            if key is not None:
                self._digit(key)
        elif self.state is LineState.CONNECTED:
            self._far_heard.append(frame.copy())

    def _to_box(self, at: float, seized: bool) -> Frame | None:
        start = at - TICK_S
        if not seized:
            if self._cid is None:
                return None
            cid_at, frames = self._cid
            index = math.floor((start - cid_at) / TICK_S + 0.5 + 1e-9)  # nearest tick
            return frames[index] if 0 <= index < len(frames) else None
        tone = self._tone()
        if tone is not None:
            return tone.frame(round((start - self._state_at) * RATE_HZ))
        if self.state is LineState.CONNECTED and self._far_speech:
            return self._far_speech.popleft()
        return None

    # --- internals -----------------------------------------------------------------------------

    def _tone(self) -> Tone | None:
        plan = self.settings.tones
        return {LineState.DIAL_TONE: plan.dial, LineState.ALERTING: plan.ringback,
                LineState.BUSY: plan.busy}.get(self.state)

    def _enter(self, state: LineState) -> None:
        log.debug("%s line: %s → %s", self.port.name, self.state, state)
        self.state = state
        self._state_at = self._clock.now()
        if state is not LineState.RINGING:
            self._cid = None

    def _later(self, when: float, callback: Callable[[], None]) -> None:
        self._timers.append(self._clock.call_at(when, callback))

    def _cancel_timers(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._ring_timer is not None:
            self._ring_timer.cancel()
            self._ring_timer = None
        if self._number_timer is not None:
            self._number_timer.cancel()
            self._number_timer = None

    def _ring_phase(self, cadence: RingCadence, index: int, at: float,
                    frames: tuple[Frame, ...]) -> None:
        if self.state is not LineState.RINGING:
            return
        phase = index % len(cadence.on_off_ms)
        burst = phase % 2 == 0
        self._set_ring_voltage(burst)
        if index == len(cadence.on_off_ms) - 1 and frames:
            # The first cycle's closing (long) pause: Bell 202 / ETSI "during ringing".
            self._cid = (at + CALLER_ID_AFTER_RING_S, frames)
        next_at = at + cadence.on_off_ms[phase] / 1000.0
        self._ring_timer = self._clock.call_at(
            next_at, lambda: self._ring_phase(cadence, index + 1, next_at, frames))

    def _set_ring_voltage(self, on: bool) -> None:
        if on != self._ring_voltage:
            self._ring_voltage = on
            self.port._ring_voltage(on)

    def _set_polarity(self, reversed: bool) -> None:
        if reversed != self._reversed:
            self._reversed = reversed
            self.port._line_changed()

    def _deliver(self) -> None:
        while (event := self._decoder.next_event()) is not None:
            if isinstance(event, OffHook):
                if self.state is LineState.RINGING:
                    self._cancel_timers()
                    self._enter(LineState.CONNECTED)
                elif self.state is LineState.IDLE:
                    self._enter(LineState.DIAL_TONE)
                    self.dialled = ""
                    self._dtmf = SimDtmfReceiver()
            elif isinstance(event, OnHook):
                self._cancel_timers()
                self._battery = True
                self._set_polarity(False)
                self._enter(LineState.IDLE)
                self.port._line_changed()
            elif isinstance(event, PulseDigit):
                self._digit(event.digit)
            elif isinstance(event, HookFlash):
                log.debug("%s line: register recall ignored", self.port.name)
        self._decoder_timer.follow(self._decoder.next_deadline())

    def _on_decoder_timer(self) -> None:
        self._decoder.handle_timers(self._clock.now())
        self._deliver()

    def _digit(self, digit: str) -> None:
        if self.state not in (LineState.DIAL_TONE, LineState.DIALLING):
            return
        if self.state is LineState.DIAL_TONE:
            self._enter(LineState.DIALLING)
        self.dialled += digit
        if self._number_timer is not None:
            self._number_timer.cancel()
        length = self.settings.number_length
        if length is not None and len(self.dialled) >= length:
            self._number_complete()
        else:
            self._number_timer = self._clock.call_at(
                self._clock.now() + self.settings.number_timeout_s, self._number_complete)

    def _number_complete(self) -> None:
        self._number_timer = None
        if self.state is not LineState.DIALLING:
            return
        self.calls.append(self.dialled)
        self._enter(LineState.ALERTING)
        self._later(self._clock.now() + self.settings.answer_after_s, self._answer)

    def _answer(self) -> None:
        if self.state is not LineState.ALERTING:
            return
        self._enter(LineState.CONNECTED)
        if self.settings.answer_polarity_reversal:
            self._set_polarity(True)

    def _disconnect(self) -> None:
        self._cancel_timers()
        self._enter(LineState.BUSY)
        signal = self.settings.disconnect
        if signal is DisconnectSignal.POLARITY_REVERSAL:
            self._set_polarity(not self._reversed)
        elif signal is DisconnectSignal.LOOP_CURRENT_DROP:
            self._battery = False
            self.port._line_changed()

            def restore() -> None:
                self._battery = True
                self.port._line_changed()

            self._later(self._clock.now() + self.settings.loop_current_drop_ms / 1000.0,
                        restore)


class SimFxoPort(FxoPort):
    """A simulated FXO port on `channel`, audio on PCM `slot`, a `SimFxoLine` behind it."""

    def __init__(self, name: str, channel: int, clock: Clock, slot: int, *,
                 ring_validation: RingValidation | None = None,
                 settings: LineSettings | None = None,
                 queue_maxlen: int = DEFAULT_MAXLEN) -> None:
        super().__init__(name, AudioPort(name, slot), queue_maxlen)
        self.channel = channel
        self._clock = clock
        self._detector = RingDetector(name, ring_validation)
        self._detector_timer: TimerHandle | None = None
        self._seized = False
        self._pulsing = False
        self._monitor = False
        self._current_ma = 0.0
        self._reversed = False
        self._in_use = False
        self._alarm = False
        self.line = SimFxoLine(self, clock, settings or LineSettings())
        """The exchange line behind this port."""
        self._effects = LineEffects(self.line.settings.model)

    # --- FxoPort ---------------------------------------------------------------------------

    @property
    def seized(self) -> bool:
        return self._seized

    async def seize(self) -> None:
        self._check_open()
        if not self._seized:
            self._set_loop(True)

    async def release(self) -> None:
        self._check_open()
        if self._seized:
            self._set_loop(False)

    async def dial(self, digits: str, method: DialMethod = DialMethod.DTMF,
                   pulse_timing: PulseTiming | None = None) -> None:
        self._check_open()
        if not self._seized:
            raise RuntimeError(f"{self.name}: seize the line before dialling")
        if method is DialMethod.DTMF:
            frames = dtmf_frames(digits)
            self.audio.play(frames)
            await self._clock.sleep(len(frames) * TICK_S)
            return
        timing = pulse_timing or PulseTiming()
        counts = [timing.numbering.pulses(d) for d in digits]
        self._pulsing = True  # loop-current reports are masked while the dial breaks the loop
        try:
            for i, pulses in enumerate(counts):
                if i:
                    await self._clock.sleep((timing.interdigit_ms - timing.make_ms) / 1000.0)
                for _ in range(pulses):
                    if not self._seized:
                        return
                    self._set_loop(False)
                    await self._clock.sleep(timing.break_ms / 1000.0)
                    if not self.status.in_service:
                        return
                    self._set_loop(True)
                    await self._clock.sleep(timing.make_ms / 1000.0)
        finally:
            self._pulsing = False
            self._line_changed()

    @property
    def ring_validation(self) -> RingValidation:
        return self._detector.validation

    def set_ring_validation(self, validation: RingValidation) -> None:
        self._detector.validation = validation

    async def monitor_on_hook(self, enabled: bool) -> None:
        self._check_open()
        self._monitor = enabled

    @property
    def on_hook_monitor(self) -> bool:
        return self._monitor

    @property
    def loop_current_ma(self) -> float:
        return self._current_ma

    @property
    def polarity_reversed(self) -> bool:
        return self._reversed

    @property
    def line_in_use(self) -> bool:
        return self._in_use

    @property
    def ringing(self) -> bool:
        """A ringing sequence is in progress as the port's ring detector sees it."""
        return self._detector.ringing

    # --- the line side ---------------------------------------------------------------------

    def box_to_line(self, frame: Frame, at: float) -> None:
        self._effects.played(frame)
        if self._seized and self.line.battery:
            self.line._from_box(frame)

    def line_to_box(self, at: float) -> Frame | None:
        if not self.status.in_service:
            return None
        if self._seized:
            if not self.line.battery:
                return None  # no loop current, no speech path
            return self._effects.captured(self.line._to_box(at, seized=True))
        if self._monitor:
            return self.line._to_box(at, seized=False)
        return None

    def _ring_voltage(self, on: bool) -> None:
        if not self.status.in_service or self._seized:
            return
        self._detector.ring_signal(on, self._clock.now())
        self._deliver()

    def _line_changed(self) -> None:
        """Re-read the line's electrical state; report what changed."""
        if not self.status.in_service and not self._alarm:
            return
        now = self._clock.now()
        if not self.line._cable:
            if not self._alarm:
                self._alarm = True
                self._out_of_service("no line voltage")
                self._emit(PortAlarm(self.name, now, "no line voltage"))
            return
        if self._alarm:
            self._alarm = False
            self._in_service()
            self._emit(PortAlarmCleared(self.name, now))
        current = (self.line.settings.loop_current_ma
                   if self._seized and self.line.battery else 0.0)
        if current != self._current_ma and not self._pulsing:
            self._current_ma = current
            self._emit(LoopCurrentChanged(self.name, now, current))
        if self.line.polarity_reversed != self._reversed:
            self._reversed = self.line.polarity_reversed
            self._emit(PolarityReversed(self.name, now, self._reversed))
        in_use = self.line.parallel_off_hook and not self._seized
        if in_use != self._in_use:
            self._in_use = in_use
            self._emit(LineInUse(self.name, now, in_use))

    # --- internals -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if not self.status.in_service:
            raise RuntimeError(f"{self.name}: {self.status.reason}")

    def _set_loop(self, closed: bool) -> None:
        self._seized = closed
        if closed:
            self._detector.answered()
        else:
            self.audio.cancel()
        self.line._port_loop(closed)
        self._line_changed()

    def _deliver(self) -> None:
        while (event := self._detector.next_event()) is not None:
            self._emit(event)
        if self._detector_timer is not None:
            self._detector_timer.cancel()
            self._detector_timer = None
        deadline = self._detector.next_deadline()
        if deadline is not None:
            self._detector_timer = self._clock.call_at(deadline, self._on_detector_timer)

    def _on_detector_timer(self) -> None:
        self._detector_timer = None
        self._detector.handle_timers(self._clock.now())
        self._deliver()

    async def _open(self) -> None:
        self._line_changed()

    async def _close(self) -> None:
        if self._seized:
            self._set_loop(False)
        if self._detector_timer is not None:
            self._detector_timer.cancel()


class SimCentralOffice:
    """The exchange behind the box's FXO ports; lines numbered from 1 as on the label."""

    def __init__(self, lines: Sequence[SimFxoLine],
                 caller_id_encoder: CallerIdEncoder | None = None) -> None:
        self.lines = tuple(lines)
        if caller_id_encoder is not None:
            self.caller_id_encoder = caller_id_encoder

    @property
    def caller_id_encoder(self) -> CallerIdEncoder | None:
        return self.lines[0].caller_id_encoder if self.lines else None

    @caller_id_encoder.setter
    def caller_id_encoder(self, encoder: CallerIdEncoder | None) -> None:
        for line in self.lines:
            line.caller_id_encoder = encoder

    def line(self, number: int) -> SimFxoLine:
        """Line `number` (1…). Raises IndexError."""
        if not 1 <= number <= len(self.lines):
            raise IndexError(f"no line {number}; the office has {len(self.lines)}")
        return self.lines[number - 1]

    async def ring_line(self, number: int, cli: str | None = None,
                        cadence: RingCadence | None = None,
                        caller_id_timing: CallerIdTiming | None = None) -> None:
        """Call the box on line `number` from `cli`; returns once ringing has begun."""
        self.line(number).ring(cli, cadence, caller_id_timing)

    def hang_up(self, number: int) -> None:
        """The caller (or called party) on line `number` hangs up."""
        self.line(number).far_end_hangs_up()
