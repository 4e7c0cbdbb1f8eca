"""A simulated FXS port and the analog phone plugged into it.

`SimFxsPort` behaves as the ProSLIC driver will: linefeed states, ring cadence from timers,
ring trip when the phone lifts, caller ID in the on-hook transmission state, and the phone's
raw loop read through the shared `hal.linesignal.HookDecoder` (debounce, flash window, pulse
windows) — so the events the firmware sees come from the same decoder as on the box.

`SimPhone` is what an installer would do with a desk phone: `lift()`, `hang_up()`, `flash()`,
`dial("201", pulse=True)` (breaks at 10 pps, 60/40 ms, 700 ms between digits, each edge with
2 ms of contact bounce) or DTMF (Q.23 tones on the line, 80/80 ms), `speak()` frames and read
what it `heard()`. It shows whether it rings, the cadence it rang with, and the caller ID it
received: the FSK frames sent while on-hook, decoded by an injected `caller_id_decoder` (the
firmware owns the decoder; hal cannot import it).

Timing runs on the injected clock; with `ManualClock` a test dials and then advances time.
"""

from __future__ import annotations

import collections
import functools
import logging
from collections.abc import Callable, Sequence

from hal.audio import AudioPort, Frame
from hal.clock import Clock, DeadlineTimer, TimerHandle
from hal.eventqueue import DEFAULT_MAXLEN
from hal.fxs import (
    CALLER_ID_AFTER_RING_S,
    CALLER_ID_LINE_REVERSAL_S,
    CallerIdTiming,
    FxsPort,
    Linefeed,
)
from hal.linesignal import HookDecoder, HookTiming, PulseTiming, RingCadence
from hal.sim.audio import TICK_S, LineEffects, LineModel, concatenate
from hal.tones import dtmf_frames

log = logging.getLogger(__name__)

CallerIdDecoder = Callable[[Sequence[Frame]], str | None]
"""Frames heard on-hook → the caller's number (None when nothing decodes)."""

DEFAULT_CONTACT_BOUNCE_MS = 2.0
MAX_HEARD_FRAMES = 3000
"""What a phone remembers hearing: the last 60 s (a long sim run must not grow without end)."""


class SimFxsPort(FxsPort):
    """A simulated FXS port on `channel`, its audio on PCM `slot`, a `SimPhone` on its line."""

    def __init__(self, name: str, channel: int, clock: Clock, slot: int, *,
                 hook_timing: HookTiming | None = None, line: LineModel | None = None,
                 caller_id_decoder: CallerIdDecoder | None = None,
                 queue_maxlen: int = DEFAULT_MAXLEN) -> None:
        super().__init__(name, AudioPort(name, slot), queue_maxlen)
        self.channel = channel
        self._clock = clock
        self._decoder = HookDecoder(name, hook_timing)
        self._decoder_timer = DeadlineTimer(clock, self._on_decoder_timer)
        self._linefeed = Linefeed.OPEN
        self._reversed = False
        self._mwi = False
        self._cadence: RingCadence | None = None
        self._ring_index = 0
        self._ring_next_at = 0.0
        self._ring_timer: TimerHandle | None = None
        self._cid_frames: tuple[Frame, ...] = ()
        self._cid_timing = CallerIdTiming.AFTER_FIRST_RING
        self._cid_timer: TimerHandle | None = None
        self._oht_timer: TimerHandle | None = None
        self._effects = LineEffects(line or LineModel())
        self.phone = SimPhone(self, clock, caller_id_decoder=caller_id_decoder)
        """The phone on this port's line."""

    # --- FxsPort ---------------------------------------------------------------------------

    @property
    def linefeed(self) -> Linefeed:
        return self._linefeed

    @property
    def off_hook(self) -> bool:
        return self._decoder.off_hook

    @property
    def hook_timing(self) -> HookTiming:
        return self._decoder.timing

    def set_hook_timing(self, timing: HookTiming) -> None:
        self._decoder.set_timing(timing)
        self._rearm()

    @property
    def ringing(self) -> bool:
        """A ring sequence is in progress (bursts, pauses and caller ID in between)."""
        return self._cadence is not None

    async def ring(self, cadence: RingCadence, caller_id: Sequence[Frame] = (),
                   caller_id_timing: CallerIdTiming = CallerIdTiming.AFTER_FIRST_RING) -> None:
        self._check_open()
        if self.phone.loop_closed:
            log.debug("%s: off-hook, not ringing", self.name)
            return
        self._end_ringing(self._clock.now())
        self._cadence = cadence
        self._cid_frames = tuple(caller_id)
        self._cid_timing = caller_id_timing
        now = self._clock.now()
        if self._cid_frames and caller_id_timing is CallerIdTiming.BEFORE_FIRST_RING:
            # EN 300 659-1 §6.1.1: line reversal, then the message, then the first ring.
            self._linefeed = (Linefeed.FORWARD_ACTIVE if self._reversed
                              else Linefeed.REVERSE_ACTIVE)
            self._cid_timer = self._clock.call_at(now + CALLER_ID_LINE_REVERSAL_S,
                                                  self._before_ring_caller_id)
        else:
            self._start_cadence(now)

    async def stop_ringing(self) -> None:
        self._check_open()
        self._end_ringing(self._clock.now())

    async def send_caller_id(self, frames: Sequence[Frame]) -> bool:
        self._check_open()
        if self.phone.loop_closed:
            return False
        self._transmit(tuple(frames), self._clock.now(), then=None)
        return True

    async def set_polarity(self, reversed: bool) -> None:
        self._check_open()
        self._reversed = reversed
        if self._linefeed in (Linefeed.FORWARD_ACTIVE, Linefeed.REVERSE_ACTIVE):
            self._linefeed = self._active()

    @property
    def polarity_reversed(self) -> bool:
        return self._reversed

    async def set_message_waiting(self, on: bool) -> None:
        self._check_open()
        self._mwi = on

    @property
    def message_waiting(self) -> bool:
        return self._mwi

    # --- the line side (SimLinePort for the bus; the phone's loop) --------------------------

    def box_to_line(self, frame: Frame, at: float) -> None:
        self._effects.played(frame)
        if self.phone.loop_closed:
            self.phone._hear(frame, on_hook=False)
        elif self._linefeed is Linefeed.ON_HOOK_TRANSMISSION:
            self.phone._hear(frame, on_hook=True)

    def line_to_box(self, at: float) -> Frame | None:
        if not self.phone.loop_closed or not self.status.in_service:
            return None
        return self._effects.captured(self.phone._next_speech())

    def _loop(self, closed: bool) -> None:
        """The phone's loop closed or opened now (every raw edge, bounces included)."""
        if not self.status.in_service:
            return  # no battery, nothing to detect
        at = self._clock.now()
        if closed and self.ringing:
            self._end_ringing(at)  # ring trip
        self._decoder.hook(closed, at)
        self._deliver()

    # --- internals -------------------------------------------------------------------------

    def _active(self) -> Linefeed:
        return Linefeed.REVERSE_ACTIVE if self._reversed else Linefeed.FORWARD_ACTIVE

    def _check_open(self) -> None:
        if not self.status.in_service:
            raise RuntimeError(f"{self.name}: {self.status.reason}")

    def _deliver(self) -> None:
        while (event := self._decoder.next_event()) is not None:
            self._emit(event)
        self._rearm()

    def _rearm(self) -> None:
        self._decoder_timer.follow(self._decoder.next_deadline())

    def _on_decoder_timer(self) -> None:
        self._decoder.handle_timers(self._clock.now())
        self._deliver()

    def _start_cadence(self, at: float) -> None:
        self._linefeed = Linefeed.RINGING
        self._ring_index = 0
        self._ring_next_at = at
        self._ring_phase()

    def _ring_phase(self) -> None:
        cadence = self._cadence
        if cadence is None:
            return
        at = self._ring_next_at
        index = self._ring_index % len(cadence.on_off_ms)
        burst = index % 2 == 0
        if burst:
            if self._linefeed is Linefeed.ON_HOOK_TRANSMISSION:  # caller ID overran the pause
                self._stop_transmitting()
            self._linefeed = Linefeed.RINGING
        self.phone._bell(burst, at)
        if (self._ring_index == len(cadence.on_off_ms) - 1 and self._cid_frames
                and self._cid_timing is CallerIdTiming.AFTER_FIRST_RING):
            # The first cycle's closing (long) pause; for (400, 200, 400, 2000) the 2 s one.
            frames = self._cid_frames
            self._cid_timer = self._clock.call_at(
                at + CALLER_ID_AFTER_RING_S,
                lambda: self._transmit(frames, at + CALLER_ID_AFTER_RING_S,
                                       then=Linefeed.RINGING))
        self._ring_index += 1
        self._ring_next_at = at + cadence.on_off_ms[index] / 1000.0
        self._ring_timer = self._clock.call_at(self._ring_next_at, self._ring_phase)

    def _before_ring_caller_id(self) -> None:
        start = self._clock.now()
        frames = self._cid_frames
        self._transmit(frames, start, then=None)
        end = start + len(frames) * TICK_S

        def first_ring() -> None:
            if self._cadence is not None:
                self._start_cadence(end + CALLER_ID_LINE_REVERSAL_S)

        self._cid_timer = self._clock.call_at(end + CALLER_ID_LINE_REVERSAL_S, first_ring)

    def _transmit(self, frames: tuple[Frame, ...], at: float, then: Linefeed | None) -> None:
        """On-hook transmission of `frames` from `at`; afterwards `then` (None: active)."""
        self._linefeed = Linefeed.ON_HOOK_TRANSMISSION
        self.audio.cancel()
        self.audio.play(frames)
        if self._oht_timer is not None:
            self._oht_timer.cancel()

        def done() -> None:
            self._oht_timer = None
            self.audio.cancel()  # frames left mean nobody ran the PCM bus: nobody heard them
            if self._linefeed is Linefeed.ON_HOOK_TRANSMISSION:
                self._linefeed = then if then is not None else self._active()

        # One tick of slack: the last frame may be in the tick being played.
        self._oht_timer = self._clock.call_at(at + (len(frames) + 1) * TICK_S, done)

    def _stop_transmitting(self) -> None:
        self.audio.cancel()
        if self._oht_timer is not None:
            self._oht_timer.cancel()
            self._oht_timer = None

    def _end_ringing(self, at: float) -> None:
        for timer in (self._ring_timer, self._cid_timer):
            if timer is not None:
                timer.cancel()
        self._ring_timer = self._cid_timer = None
        was_ringing = self._cadence is not None
        self._cadence = None
        if was_ringing:
            self.phone._bell(False, at)
            if self._linefeed is Linefeed.ON_HOOK_TRANSMISSION:
                self._stop_transmitting()
            self._linefeed = self._active()

    async def _open(self) -> None:
        self._linefeed = self._active()
        if self.phone.loop_closed:
            self._loop(True)

    async def _close(self) -> None:
        self._end_ringing(self._clock.now())
        self._stop_transmitting()
        self._decoder_timer.cancel()
        self._linefeed = Linefeed.OPEN


class SimPhone:
    """An analog phone on `port`: stimulus (`lift`, `dial`, …), records and checks."""

    def __init__(self, port: SimFxsPort, clock: Clock, *,
                 caller_id_decoder: CallerIdDecoder | None = None,
                 contact_bounce_ms: float = DEFAULT_CONTACT_BOUNCE_MS) -> None:
        self.port = port
        self._clock = clock
        self.caller_id_decoder = caller_id_decoder
        """Decodes caller-ID frames; set by the composition root or the test."""
        self.contact_bounce_ms = contact_bounce_ms
        self._lifted = False
        self._closed = False
        self._actions: list[tuple[float, TimerHandle]] = []
        self._busy_until = 0.0
        self._speech: collections.deque[Frame] = collections.deque()
        self._heard: collections.deque[Frame] = collections.deque(maxlen=MAX_HEARD_FRAMES)
        self._cid_frames: collections.deque[Frame] = collections.deque(maxlen=MAX_HEARD_FRAMES)
        self.ring_bursts: list[tuple[float, float | None]] = []
        """Ring bursts seen: (start, end) in board seconds; end None while ringing."""

    @property
    def lifted(self) -> bool:
        """The handset is off the hook (the port decides after its debounce, `port.off_hook`)."""
        return self._lifted

    # --- what the user does ------------------------------------------------------------------

    def lift(self) -> None:
        """Take the handset off the hook (answers when ringing)."""
        if self._lifted:
            return
        self._lifted = True
        self._busy_until = self._clock.now()
        self._edge(True, self._clock.now())

    def hang_up(self) -> None:
        """Put the handset down; dialling in progress is abandoned."""
        for _, action in self._actions:
            action.cancel()
        self._actions.clear()
        self._speech.clear()
        if not self._lifted:
            return
        self._lifted = False
        self._busy_until = self._clock.now()
        self._cid_frames.clear()
        if self._closed:
            self._edge(False, self._clock.now())

    def flash(self, duration_ms: float = 100.0) -> float:
        """Press R (a timed break of `duration_ms`) after whatever is being dialled.
        Returns the seconds until done. Raises RuntimeError when on-hook."""
        start = self._start()
        self._edge(False, start)
        self._edge(True, start + duration_ms / 1000.0)
        self._busy_until = start + duration_ms / 1000.0
        return self._busy_until - self._clock.now()

    def dial(self, digits: str, pulse: bool = False, timing: PulseTiming | None = None,
             dtmf_on_ms: int = 80, dtmf_off_ms: int = 80) -> float:
        """Dial `digits` after whatever is being dialled: by loop-disconnect pulses with
        `timing` (10 pps, 60/40 ms, 700 ms between digits by default) or by DTMF tones.
        Returns the seconds until the last digit is out. Raises RuntimeError when on-hook,
        ValueError for a key the method cannot send."""
        start = self._start()
        if not pulse:
            frames = dtmf_frames(digits, dtmf_on_ms, dtmf_off_ms)
            self._speech.extend(frames)
            return len(self._speech) * TICK_S
        timing = timing or PulseTiming()
        counts = [timing.numbering.pulses(d) for d in digits]  # ValueError before any break
        t = start
        for i, pulses in enumerate(counts):
            if i:
                t += (timing.interdigit_ms - timing.make_ms) / 1000.0
            for _ in range(pulses):
                self._edge(False, t)
                t += timing.break_ms / 1000.0
                self._edge(True, t)
                t += timing.make_ms / 1000.0
        self._busy_until = t
        return t - self._clock.now()

    def speak(self, frames: Sequence[Frame]) -> None:
        """Say `frames` into the handset, one per tick, while off-hook."""
        self._speech.extend(frames)

    # --- what can be checked -----------------------------------------------------------------

    @property
    def is_off_hook(self) -> bool:
        """The handset is lifted (even while the dial breaks the loop)."""
        return self._lifted

    @property
    def loop_closed(self) -> bool:
        """The loop as the port sees it right now, bounces included."""
        return self._closed

    @property
    def is_ringing(self) -> bool:
        """The port is ringing this phone (in a burst or in a pause between bursts)."""
        return self.port.ringing

    @property
    def bell_on(self) -> bool:
        """Ring voltage is on the line right now."""
        return bool(self.ring_bursts) and self.ring_bursts[-1][1] is None

    def ring_cadence_ms(self) -> list[int]:
        """The cadence as rung so far: on, off, on, … durations in ms."""
        out: list[int] = []
        for i, (start, end) in enumerate(self.ring_bursts):
            if i:
                previous_end = self.ring_bursts[i - 1][1]
                assert previous_end is not None
                out.append(round((start - previous_end) * 1000))
            if end is not None:
                out.append(round((end - start) * 1000))
        return out

    def heard(self) -> Frame:
        """What the earpiece played since the last call, as one array (then forgotten)."""
        frames = list(self._heard)
        self._heard.clear()
        return concatenate(frames)

    @property
    def caller_id_frames(self) -> list[Frame]:
        """Frames received on-hook (the caller-ID transmission) since the last hang-up."""
        return list(self._cid_frames)

    @property
    def caller_id(self) -> str | None:
        """The caller ID shown on the display, or None (nothing received, or no decoder)."""
        if self.caller_id_decoder is None or not self._cid_frames:
            return None
        return self.caller_id_decoder(list(self._cid_frames))

    @property
    def message_waiting(self) -> bool:
        """The message-waiting lamp."""
        return self.port.message_waiting

    # --- the port's side ---------------------------------------------------------------------

    def _start(self) -> float:
        if not self._lifted:
            raise RuntimeError(f"{self.port.name}: the handset is on-hook; lift() first")
        return max(self._clock.now(), self._busy_until)

    def _edge(self, closed: bool, at: float) -> None:
        """The hook contact moves to `closed` at `at`, bouncing `contact_bounce_ms`."""
        bounce_s = self.contact_bounce_ms / 1000.0
        steps = [(closed, at)]
        if bounce_s > 0:
            steps += [(not closed, at + bounce_s * 0.4), (closed, at + bounce_s)]
        now = self._clock.now()
        self._actions = [(w, h) for w, h in self._actions if w > now]
        for state, when in steps:
            if when <= now:
                self._apply(state)
            else:
                self._actions.append((when, self._clock.call_at(
                    when, functools.partial(self._apply, state))))

    def _apply(self, closed: bool) -> None:
        if closed != self._closed:
            self._closed = closed
            self.port._loop(closed)

    def _next_speech(self) -> Frame | None:
        return self._speech.popleft() if self._speech else None

    def _hear(self, frame: Frame, on_hook: bool) -> None:
        (self._cid_frames if on_hook else self._heard).append(frame.copy())

    def _bell(self, on: bool, at: float) -> None:
        if on and not self.bell_on:
            self.ring_bursts.append((at, None))
        elif not on and self.bell_on:
            self.ring_bursts[-1] = (self.ring_bursts[-1][0], at)
