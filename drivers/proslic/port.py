"""`hal.fxs.FxsPort` on a Silicon Labs ProSLIC Si3210/Si3215, over `spidev` and a GPIO line.

What the chip does and what the driver does:

- Hook: the chip debounces loop closure (DR69, 12.5 ms) and raises the loop-closure interrupt
  (DR19 bit 1) on its INT pin; the driver reads DR68 and feeds `hal.linesignal.HookDecoder`
  (the sim's decoder: 10 ms debounce, flash 80–300 ms, pulses 40–76 ms break / 20–60 ms make,
  200 ms inter-digit) on *line time*, the interrupt's time less the chip's debounce, so event
  times are those of the line, not of the detector.
- Ringing: a cadence of one on/off pair up to 8.19 s each (RU 1 s/4 s, US 2 s/4 s) is timed by
  the chip's ring timers (DR48–51, 125 µs/LSB, enabled in DR34); longer patterns (UK
  400/200/400/2000) are timed by the driver, writing RINGING and ACTIVE to DR64 at each phase.
  Ring trip (DR19 bit 0) stops ringing; the chip has already switched the line to active.
- Caller ID: the firmware's FSK frames go out on the PCM bus while DR64 is in on-hook
  transmission (LF 2, or 6 reversed), 500 ms into the first cycle's closing pause
  (EN 300 659-1, after first ring) or after a line reversal before the first ring.
- Faults: a chip that does not answer, a DC-DC converter that does not start, a calibration
  that does not finish, a foreign voltage before power-up, a power alarm (DR19 bits 7:2, the
  chip opens the line by itself) or a chip that reset itself (DR8 back at 0x02) put the port out
  of service with the reason and a `PortAlarm`; the driver retries with exponential back-off
  (1 s doubling to 60 s) and reports `PortAlarmCleared` when the line works again. A one-second
  supervision reads DR8, DR11 and DR64 and services an interrupt line left active.

Interrupts arrive on any thread (gpiozero's); they enter the event loop with
`call_soon_threadsafe`. Every register access is synchronous and a few tens of microseconds;
one interrupt costs at most seven SPI frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from drivers.proslic.chip import (
    InitReport,
    InterruptStatus,
    ProSlicChip,
    ProSlicSettings,
    SpiBus,
    initialise,
)
from drivers.proslic.registers import (
    DR,
    HYBRID_RESET_VALUE,
    LOOPBACK_RESET_VALUE,
    POWER_ALARMS,
    RING_TIMERS_ON,
    TIMER_LSB_S,
    ChipIdentity,
    Irq2,
    LinefeedCode,
    timer_counts,
    volts_register,
)
from hal.audio import FRAME_MS, AudioPort, Frame
from hal.clock import Clock, DeadlineTimer, TimerHandle
from hal.errors import DeviceError
from hal.eventqueue import DEFAULT_MAXLEN
from hal.events import PortAlarm, PortAlarmCleared
from hal.fxs import (
    CALLER_ID_AFTER_RING_S,
    CALLER_ID_LINE_REVERSAL_S,
    CallerIdTiming,
    FxsPort,
    Linefeed,
)
from hal.linesignal import HookDecoder, HookTiming, RingCadence

log = logging.getLogger(__name__)

TICK_S = FRAME_MS / 1000.0
RETRY_INITIAL_S = 1.0
RETRY_MAX_S = 60.0
SUPERVISE_INTERVAL_S = 1.0
ALARM_CONFIRM_S = 0.5
"""After re-powering a line that had a power alarm: this long without a new alarm clears it."""
MAX_SERVICE_PASSES = 4
"""An interrupt line still active after this many passes belongs to another chip."""
MAX_CHIP_TIMER_MS = 0xFFFF * TIMER_LSB_S * 1000.0
NEON_ON_HOOK_VOLTAGE = 0x3F
"""DR72 for a neon message-waiting lamp, 94.5 V ([SLAPI] Si321x_MWI "High Neon")."""


class InterruptLine(Protocol):
    """The chip's INT output: active low, open drain, possibly shared by several chips.
    Handlers may be called on any thread and must only hand over to the event loop."""

    @property
    def is_active(self) -> bool: ...

    def add_handler(self, handler: Callable[[], None]) -> None: ...

    def remove_handler(self, handler: Callable[[], None]) -> None: ...


class ResetLine(Protocol):
    """The chip's RESET input (possibly shared): `pulse()` resets once per board power-up."""

    async def pulse(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ProSlicProbe:
    """What `switchbox board check` shows for one port."""

    identity: ChipIdentity
    vbat_v: float
    tip_v: float
    ring_v: float
    linefeed: LinefeedCode
    """LFS: the state the chip applies now."""


_IDLE = {False: LinefeedCode.FORWARD_ACTIVE, True: LinefeedCode.REVERSE_ACTIVE}
_OHT = {False: LinefeedCode.FORWARD_OHT, True: LinefeedCode.REVERSE_OHT}


class ProSlicFxsPort(FxsPort):
    """One FXS port on one ProSLIC: `spi` reaches the chip (spidev, or the emulator), `slot`
    is its PCM time slot, `interrupt` its INT line, `reset` its RESET line if the board has one.

    `open()` resets (once), identifies, initialises and calibrates the chip (AN35) and powers
    the line; it does not raise for chip or line faults — the port stays out of service with
    the reason, a `PortAlarm` is queued, and bring-up is retried with back-off."""

    chip_class: type[ProSlicChip] = ProSlicChip
    """Register access; a test subclass may swap in a deliberately broken one."""

    def __init__(self, name: str, spi: SpiBus, clock: Clock, slot: int,
                 interrupt: InterruptLine, *, reset: ResetLine | None = None,
                 settings: ProSlicSettings | None = None,
                 hook_timing: HookTiming | None = None,
                 retry_initial_s: float = RETRY_INITIAL_S, retry_max_s: float = RETRY_MAX_S,
                 supervise_interval_s: float = SUPERVISE_INTERVAL_S,
                 queue_maxlen: int = DEFAULT_MAXLEN) -> None:
        super().__init__(name, AudioPort(name, slot), queue_maxlen)
        self.chip = self.chip_class(spi, name)
        self._spi = spi
        self._clock = clock
        self._interrupt = interrupt
        self._reset = reset
        self.settings = settings or ProSlicSettings()
        self._decoder = HookDecoder(name, hook_timing)
        self._decoder_timer = DeadlineTimer(clock, self._decoder_due)
        self._line_fed_at = float("-inf")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._chip_ready = False  # initialised and answering
        self._line_ready = False  # and the line is powered (no alarm)
        self._needs_init = True
        self._linefeed = Linefeed.OPEN
        self._reversed = False
        self._mwi = False
        self._cadence: RingCadence | None = None
        self._chip_timed = False
        self._ring_started_at = 0.0
        self._ring_index = 0
        self._ring_next_at = 0.0
        self._ring_timer: TimerHandle | None = None
        self._cid_frames: tuple[Frame, ...] = ()
        self._cid_timing = CallerIdTiming.AFTER_FIRST_RING
        self._cid_timer: TimerHandle | None = None
        self._oht_timer: TimerHandle | None = None
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._retry_delay_s = retry_initial_s
        self._retry_timer: TimerHandle | None = None
        self._supervise_interval_s = supervise_interval_s
        self._supervise_timer: TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._alarm: str | None = None
        self._episode = 0
        self.report: InitReport | None = None
        """The last successful initialisation (chip, battery, calibration results)."""
        self.power_alarms = 0
        self.interrupts_serviced = 0

    # --- FxsPort -------------------------------------------------------------------------------

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
        self._rearm_decoder()

    @property
    def ringing(self) -> bool:
        """A ring sequence is in progress (bursts, pauses and caller ID in between)."""
        return self._cadence is not None

    @property
    def polarity_reversed(self) -> bool:
        return self._reversed

    @property
    def message_waiting(self) -> bool:
        return self._mwi

    async def ring(self, cadence: RingCadence, caller_id: Sequence[Frame] = (),
                   caller_id_timing: CallerIdTiming = CallerIdTiming.AFTER_FIRST_RING) -> None:
        self._check_ready()
        if self.off_hook:
            log.debug("%s: off-hook, not ringing", self.name)
            return
        with self._chip_errors():
            self._end_ringing()
            self._cadence = cadence
            self._cid_frames = tuple(caller_id)
            self._cid_timing = caller_id_timing
            now = self._clock.now()
            if self._cid_frames and caller_id_timing is CallerIdTiming.BEFORE_FIRST_RING:
                # EN 300 659-1 §6.1.1: line reversal, the message, then the first ring.
                self._write_linefeed(_IDLE[not self._reversed])
                self._linefeed = (Linefeed.FORWARD_ACTIVE if self._reversed
                                  else Linefeed.REVERSE_ACTIVE)
                self._cid_timer = self._clock.call_at(
                    now + CALLER_ID_LINE_REVERSAL_S, self._guarded(self._before_ring_cid))
            else:
                self._start_cadence(now)

    async def stop_ringing(self) -> None:
        self._check_ready()
        with self._chip_errors():
            self._end_ringing()

    async def send_caller_id(self, frames: Sequence[Frame]) -> bool:
        self._check_ready()
        if self.off_hook:
            return False
        with self._chip_errors():
            self._transmit(tuple(frames), self._clock.now(), reversed_=self._reversed,
                           ringing_after=False)
        return True

    async def set_polarity(self, reversed: bool) -> None:
        self._check_ready()
        self._reversed = reversed
        with self._chip_errors():
            if self._linefeed in (Linefeed.FORWARD_ACTIVE, Linefeed.REVERSE_ACTIVE):
                self._go_idle()
            elif self._linefeed is Linefeed.ON_HOOK_TRANSMISSION and self._cadence is None:
                self._write_linefeed(_OHT[reversed])

    async def set_message_waiting(self, on: bool) -> None:
        self._check_ready()
        self._mwi = on
        with self._chip_errors():
            self._apply_mwi()

    # --- beyond FxsPort ------------------------------------------------------------------------

    async def probe(self) -> Mapping[str, str]:
        """`readings()` as text, for `switchbox board check`."""
        r = self.readings()
        return {"chip": f"{r.identity.part.name} rev {r.identity.revision_letter}",
                "battery": f"{r.vbat_v:.1f} V", "tip": f"{r.tip_v:.1f} V",
                "ring": f"{r.ring_v:.1f} V", "linefeed": r.linefeed.name.lower()}

    def readings(self) -> ProSlicProbe:
        """Identity, battery and line voltages, read now. Raises DeviceError when the chip
        does not answer, RuntimeError before the first bring-up."""
        identity = self.chip.identity
        if identity is None:
            raise RuntimeError(f"{self.name}: chip never identified ({self.status.reason})")
        _, lfs = self.chip.linefeed()
        return ProSlicProbe(identity, self.chip.sense_volts(DR.VBAT_SENSE),
                            self.chip.sense_volts(DR.TIP_SENSE),
                            self.chip.sense_volts(DR.RING_SENSE), lfs)

    # --- bring-up, faults and retries ----------------------------------------------------------

    async def _open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._interrupt.add_handler(self._on_interrupt)
        if self._reset is not None:
            await self._reset.pulse()
        await self._bring_up()
        self._arm_supervision()

    async def _bring_up(self) -> None:
        """Initialise the chip (or just re-power the line after a power alarm)."""
        episode = self._episode
        try:
            if self._needs_init:
                self._chip_ready = False
                self.report = await initialise(self.chip, self._clock, self.settings,
                                               self.audio.slot)
                self._needs_init = False
                self._chip_ready = True
                log.info("%s: %s rev %s, VBAT %.0f V, calibrated%s", self.name,
                         self.report.identity.part, self.report.identity.revision_letter,
                         self.report.vbat_v,
                         "" if self.report.balance_calibrated else " (no balance cal)")
            else:
                self.chip.take_interrupts()
            self._apply_mwi()
            self._go_idle()
            self._line_ready = True
            if self._alarm is not None:
                await self._clock.sleep(ALARM_CONFIRM_S)
                if episode != self._episode or self.closed:
                    return  # it failed again meanwhile; the failure scheduled the next retry
                _, lfs = self.chip.linefeed()
                if lfs is LinefeedCode.OPEN:
                    self._fail("line opened again by the chip (power alarm)", reinit=False)
                    return
                self._alarm = None
                self._in_service()
                self._emit(PortAlarmCleared(self.name, self._clock.now()))
                log.warning("%s: back in service", self.name)
            self._retry_delay_s = self._retry_initial_s
            self._service()  # anything that happened while we were not listening
        except DeviceError as exc:
            self._fail(exc.reason, reinit=True)

    def _fail(self, reason: str, *, reinit: bool) -> None:
        """Out of service because `reason`; retry after the back-off."""
        now = self._clock.now()
        self._episode += 1
        self._line_ready = False
        if reinit:
            self._needs_init = True
            self._chip_ready = False
        self._end_ringing(write=False)
        self._stop_transmitting()
        self._linefeed = Linefeed.OPEN
        if self._decoder.off_hook:
            self._feed_hook(False, self._line_time())  # no battery, no loop
        if reason != self._alarm:
            self._alarm = reason
            self._out_of_service(reason)
            self._emit(PortAlarm(self.name, now, reason))
            log.warning("%s: out of service: %s", self.name, reason)
        else:
            log.debug("%s: still out of service: %s", self.name, reason)
        if self._retry_timer is not None:
            self._retry_timer.cancel()
        delay = self._retry_delay_s
        self._retry_delay_s = min(self._retry_delay_s * 2.0, self._retry_max_s)
        self._retry_timer = self._clock.call_at(now + delay, self._retry)

    def _retry(self) -> None:
        self._retry_timer = None
        if self.closed or self._loop is None:
            return
        if self._task is not None and not self._task.done():
            return
        self._task = self._loop.create_task(self._bring_up(), name=f"{self.name} bring-up")

    def _arm_supervision(self) -> None:
        if not self.closed:
            self._supervise_timer = self._clock.call_at(
                self._clock.now() + self._supervise_interval_s, self._supervise)

    def _supervise(self) -> None:
        """Once a second: is the chip still there, still initialised, still powering the line?
        DAHDI's wctdm does the same ("Ouch, part reset, quickly restoring reality")."""
        self._supervise_timer = None
        if self.closed:
            return
        try:
            if self._chip_ready:
                if self.chip.read(DR.HYBRID) != HYBRID_RESET_VALUE:
                    raise DeviceError(self.name, "no answer on SPI")
                if self.chip.read(DR.LOOPBACK) == LOOPBACK_RESET_VALUE:
                    self._fail("the chip reset itself; re-initialising", reinit=True)
                elif self._line_ready:
                    self._service()
                    _, lfs = self.chip.linefeed()
                    if self._line_ready and lfs is LinefeedCode.OPEN:
                        self._fail("line opened by the chip (power alarm)", reinit=False)
        except DeviceError as exc:
            self._fail(exc.reason, reinit=True)
        self._arm_supervision()

    # --- interrupts ------------------------------------------------------------------------------

    def _on_interrupt(self) -> None:
        """INT went active. Any thread: hand over to the loop and return."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._service)

    def _service(self) -> None:
        """Read and clear DR18–20 and act on them; again while the line stays active."""
        if self.closed or not self._chip_ready:
            return
        try:
            for _ in range(MAX_SERVICE_PASSES):
                status = self.chip.take_interrupts()
                if status:
                    self.interrupts_serviced += 1
                    self._handle(status)
                if not status or not self._interrupt.is_active:
                    break
        except DeviceError as exc:
            self._fail(exc.reason, reinit=True)

    def _handle(self, status: InterruptStatus) -> None:
        if not self._line_ready:
            return  # the line is open after a fault: nothing on it means anything
        now = self._clock.now()
        irq2 = status.irq2
        if irq2 & POWER_ALARMS:
            self.power_alarms += 1
            transistors = [f"Q{q}" for q in range(1, 7) if irq2 & (0x02 << q)]
            self._fail(f"power alarm on {', '.join(transistors)}: short or foreign voltage "
                       f"on the line", reinit=False)
            return
        if irq2 & Irq2.RING_TRIP:
            # The phone answered during ringing; the chip has switched to active already.
            at = now - self._ring_trip_delay_s(now)
            self._end_ringing()
            self._feed_hook(True, at)
        if irq2 & Irq2.LOOP_CLOSURE:
            closed = self.chip.loop_closed()
            if closed and self._cadence is not None:
                self._end_ringing()  # lifted in a driver-timed pause
            self._feed_hook(closed, now - self.settings.loop_debounce_ms / 1000.0)

    def _ring_trip_delay_s(self, now: float) -> float:
        """How long the chip waited before reporting a ring trip: the ring-trip debounce in a
        burst, the silent-period loop debounce (DR63) in a chip-timed pause."""
        burst_s = self.settings.ring_trip_debounce_ms / 1000.0
        cadence = self._cadence
        if cadence is None or not self._chip_timed:
            return burst_s
        silent_s = self.settings.silent_loop_debounce_ms / 1000.0
        on_s, period_s = cadence.on_off_ms[0] / 1000.0, cadence.period_ms / 1000.0
        phase = (now - silent_s - self._ring_started_at) % period_s
        return silent_s if phase >= on_s else burst_s

    # --- the hook decoder ------------------------------------------------------------------------

    def _line_time(self) -> float:
        """The decoder runs on line time: now, less the chip's loop-closure debounce."""
        return max(self._line_fed_at,
                   self._clock.now() - self.settings.loop_debounce_ms / 1000.0)

    def _feed_hook(self, off_hook: bool, at: float) -> None:
        at = max(at, self._line_fed_at)
        self._line_fed_at = at
        self._decoder.hook(off_hook, at)
        self._deliver()

    def _deliver(self) -> None:
        while (event := self._decoder.next_event()) is not None:
            self._emit(event)
        self._rearm_decoder()

    def _rearm_decoder(self) -> None:
        deadline = self._decoder.next_deadline()
        # The chip reports a loop change one debounce late: so are the decoder's deadlines.
        delay_s = self.settings.loop_debounce_ms / 1000.0
        self._decoder_timer.follow(
            deadline + delay_s if deadline is not None and not self.closed else None)

    def _decoder_due(self) -> None:
        now = self._line_time()
        self._line_fed_at = now
        self._decoder.handle_timers(now)
        self._deliver()

    # --- linefeed, ringing, caller ID ------------------------------------------------------------

    def _write_linefeed(self, code: LinefeedCode) -> None:
        self.chip.set_linefeed(code)

    def _go_idle(self) -> None:
        self._write_linefeed(_IDLE[self._reversed])
        self._linefeed = Linefeed.REVERSE_ACTIVE if self._reversed else Linefeed.FORWARD_ACTIVE

    def _apply_mwi(self) -> None:
        self.chip.write(DR.ON_HOOK_VOLTAGE, NEON_ON_HOOK_VOLTAGE if self._mwi
                        else volts_register(self.settings.on_hook_voltage_v))

    def _start_cadence(self, at: float) -> None:
        cadence = self._cadence
        if cadence is None:
            return
        self._linefeed = Linefeed.RINGING
        self._ring_started_at = at
        pattern = cadence.on_off_ms
        self._chip_timed = len(pattern) == 2 and max(pattern) <= MAX_CHIP_TIMER_MS
        cid_after = bool(self._cid_frames) and self._cid_timing is CallerIdTiming.AFTER_FIRST_RING
        if self._chip_timed:
            self._program_ring_timers(pattern[0], pattern[1])
            self._write_linefeed(LinefeedCode.RINGING)
            if cid_after:
                pause_at = at + pattern[0] / 1000.0
                frames = self._cid_frames
                self._cid_timer = self._clock.call_at(
                    pause_at + CALLER_ID_AFTER_RING_S, self._guarded(
                        lambda: self._transmit(frames, pause_at + CALLER_ID_AFTER_RING_S,
                                               reversed_=self._reversed, ringing_after=True)))
                # The chip's cadence stopped when the line went to on-hook transmission:
                # restart it, with a burst, when the pause is over.
                self._ring_timer = self._clock.call_at(at + cadence.period_ms / 1000.0,
                                                       self._guarded(self._resume_chip_ring))
        else:
            self.chip.write(DR.RING_OSC_CONTROL, 0)
            self._ring_index = 0
            self._ring_next_at = at
            self._ring_phase()

    def _program_ring_timers(self, on_ms: int, off_ms: int) -> None:
        """DR48–51 in 125 µs counts, then both timers on (DR34)."""
        on, off = timer_counts(on_ms), timer_counts(off_ms)
        self.chip.write(DR.RING_ACTIVE_LO, on & 0xFF)
        self.chip.write(DR.RING_ACTIVE_HI, on >> 8)
        self.chip.write(DR.RING_INACTIVE_LO, off & 0xFF)
        self.chip.write(DR.RING_INACTIVE_HI, off >> 8)
        self.chip.write(DR.RING_OSC_CONTROL, RING_TIMERS_ON)

    def _resume_chip_ring(self) -> None:
        self._ring_timer = None
        if self._cadence is None:
            return
        self._stop_transmitting()
        self._ring_started_at = self._clock.now()
        self._linefeed = Linefeed.RINGING
        self._write_linefeed(LinefeedCode.RINGING)

    def _ring_phase(self) -> None:
        """Driver-timed cadence: one burst or pause per call."""
        self._ring_timer = None
        cadence = self._cadence
        if cadence is None:
            return
        at = self._ring_next_at
        pattern = cadence.on_off_ms
        index = self._ring_index % len(pattern)
        if index % 2 == 0:
            self._stop_transmitting()
            self._linefeed = Linefeed.RINGING
            self._write_linefeed(LinefeedCode.RINGING)
        elif self._linefeed is not Linefeed.ON_HOOK_TRANSMISSION:
            self._write_linefeed(_IDLE[self._reversed])
        if (self._ring_index == len(pattern) - 1 and self._cid_frames
                and self._cid_timing is CallerIdTiming.AFTER_FIRST_RING):
            frames = self._cid_frames
            start = at + CALLER_ID_AFTER_RING_S
            self._cid_timer = self._clock.call_at(start, self._guarded(
                lambda: self._transmit(frames, start, reversed_=self._reversed,
                                       ringing_after=True)))
        self._ring_index += 1
        self._ring_next_at = at + pattern[index] / 1000.0
        self._ring_timer = self._clock.call_at(self._ring_next_at,
                                               self._guarded(self._ring_phase))

    def _before_ring_cid(self) -> None:
        self._cid_timer = None
        if self._cadence is None:
            return
        start = self._clock.now()
        frames = self._cid_frames
        self._transmit(frames, start, reversed_=not self._reversed, ringing_after=False)
        end = start + len(frames) * TICK_S

        def first_ring() -> None:
            self._cid_timer = None
            if self._cadence is not None:
                self._start_cadence(self._clock.now())

        self._cid_timer = self._clock.call_at(end + CALLER_ID_LINE_REVERSAL_S,
                                              self._guarded(first_ring))

    def _transmit(self, frames: tuple[Frame, ...], at: float, *, reversed_: bool,
                  ringing_after: bool) -> None:
        """On-hook transmission of `frames` from `at`; then the idle line (a pause, when
        `ringing_after`: the next burst comes from the cadence)."""
        if self._cadence is None and ringing_after:
            return
        self._linefeed = Linefeed.ON_HOOK_TRANSMISSION
        self._write_linefeed(_OHT[reversed_])
        self.audio.cancel()
        self.audio.play(frames)
        if self._oht_timer is not None:
            self._oht_timer.cancel()

        def done() -> None:
            self._oht_timer = None
            self.audio.cancel()  # frames left mean nobody ran the PCM bus: nobody heard them
            if self._linefeed is not Linefeed.ON_HOOK_TRANSMISSION:
                return
            self._write_linefeed(_IDLE[self._reversed])
            if ringing_after and self._cadence is not None:
                self._linefeed = Linefeed.RINGING
            else:
                self._linefeed = (Linefeed.REVERSE_ACTIVE if self._reversed
                                  else Linefeed.FORWARD_ACTIVE)

        # One tick of slack: the last frame may be in the tick being played.
        self._oht_timer = self._clock.call_at(at + (len(frames) + 1) * TICK_S,
                                              self._guarded(done))

    def _stop_transmitting(self) -> None:
        self.audio.cancel()
        if self._oht_timer is not None:
            self._oht_timer.cancel()
            self._oht_timer = None

    def _end_ringing(self, write: bool = True) -> None:
        for timer in (self._ring_timer, self._cid_timer):
            if timer is not None:
                timer.cancel()
        self._ring_timer = self._cid_timer = None
        if self._cadence is None:
            return
        self._cadence = None
        self._stop_transmitting()
        if write:
            if self._chip_timed:
                self.chip.write(DR.RING_OSC_CONTROL, 0)
            self._go_idle()

    # --- helpers -------------------------------------------------------------------------------

    def _check_ready(self) -> None:
        if not self.status.in_service:
            raise RuntimeError(f"{self.name}: {self.status.reason}")

    @contextlib.contextmanager
    def _chip_errors(self) -> Iterator[None]:
        """A chip failure during a command puts the port out of service (re-initialisation
        is retried), then the DeviceError reaches the caller."""
        try:
            yield
        except DeviceError as exc:
            self._fail(exc.reason, reinit=True)
            raise

    def _guarded(self, action: Callable[[], None]) -> Callable[[], None]:
        """A timer callback that turns a chip failure into an out-of-service port."""

        def run() -> None:
            if self.closed or not self._line_ready:
                return
            try:
                action()
            except DeviceError as exc:
                self._fail(exc.reason, reinit=True)

        return run

    async def _close(self) -> None:
        self._interrupt.remove_handler(self._on_interrupt)
        for timer in (self._retry_timer, self._supervise_timer, self._decoder_timer,
                      self._ring_timer, self._cid_timer, self._oht_timer):
            if timer is not None:
                timer.cancel()
        self._cadence = None
        self.audio.cancel()
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        if self._chip_ready:
            try:  # leave the line safe: open, converter down, no interrupts
                self.chip.write(DR.RING_OSC_CONTROL, 0)
                self.chip.set_linefeed(LinefeedCode.OPEN)
                for register in (DR.IRQ_ENABLE1, DR.IRQ_ENABLE2, DR.IRQ_ENABLE3):
                    self.chip.write(register, 0)
            except DeviceError as exc:
                log.debug("%s: could not quiesce the chip on close: %s", self.name, exc)
        self._linefeed = Linefeed.OPEN
        self._spi.close()

    def __repr__(self) -> str:
        identity = self.chip.identity
        chip = f"{identity.part} rev {identity.revision_letter}" if identity else "no chip"
        return f"<ProSlicFxsPort {self.name} slot {self.audio.slot} {chip}>"
