"""An FXO port on a Silicon Labs Si3050 system-side DAA with a Si3018/Si3019 line side, over SPI.

Bring-up follows the ProSLIC API's Vdaa_Init / Vdaa_PowerupLineside / Vdaa_CountrySetup order
(`registers` module docstring lists the sources): soft reset (register 1 SR), a write/verify
of register 34 to prove the chip answers, general setup, PDL cleared (register 6) to power the
line side across the isolation capacitors, then wait for frame lock (register 12 FDT) before
anything that needs the line side: its identity (registers 11/13), the country's AC and DC
termination (registers 16, 26, 30, 31, 59, read back to catch writes that did not land), the
interrupt sources cleared (the power-up itself may raise RDTI, Si306x Register 4), interrupts
and PCM on.

Line supervision:
- ring bursts from the chip's own ring validation (registers 22–24: 14.7–50 Hz, 100 ms
  confirmation, 128 ms ring timeout) through RDTI at the start and the end of each burst
  (register 2 RDI), qualified by the shared `hal.linesignal.RingDetector`. The chip reports a
  burst 100 ms after it began and 128 ms after it ended; the port subtracts both, and runs
  the detector 128 ms behind the clock so every edge reaches it in time order;
- polarity from the sign of LVS (register 29, 1 V/bit, Si3019 only), POLI prompting a reading
  and the next scan confirming it; not while RDTP/RDTN/RDT show ringing, whose AC swings LVS
  through both signs;
- loop current from LCS (register 12, 3.3 mA/bit), DODI prompting when it collapses;
- line in use (a parallel set off-hook) and line fault (no line voltage) from the magnitude of
  LVS while on-hook: below `line_in_use_below_v` (25 V, as Realtek's DAA glue decides "line
  busy" under 26 V) is in use, 0 V (LVS reads 0 at ≤ 3 V) held 1.5 s is a fault.
The chip interrupts on edges (ring, polarity, drop-out, link loss) but reports line voltage and
loop current only as levels, and a parallel set changes nothing but LVS; so the port also reads
registers 4, 5, 12, 13, 29 and 34 every `supervision_ms` (100 ms: 18 one-byte SPI transfers;
reading register 4 also services what a missed INT edge left latched). The threshold
interrupt CVI (registers 43/44) could replace part of that; it is not used because its edge
behaviour could not be verified.

A chip that does not answer, or whose line side loses frame lock, puts the port out of service
(`PortAlarm`) and is brought up again after 1, 2, 4 … 60 s. Each register access is three
one-byte SPI transfers; between two awaits the port makes at most 16 accesses (bring-up
segments; an interrupt service pass is 8, a scan 5), ≈ 1.2 ms at an estimated 25 µs per spidev
transfer (not measured on the board yet).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from drivers.si3050 import countries
from drivers.si3050.countries import CountrySettings, country_fields
from drivers.si3050.registers import (
    CONTROL_READ,
    CONTROL_WRITE,
    FOH_MASK,
    FOH_SHIFT,
    LCS_MASK,
    LCS_OVERLOAD,
    LINE_SIDE_REVISION_DAA,
    LREV_MASK,
    LREV_SHIFT,
    LSID_SHIFT,
    PCM_COUNT_HIGH_MASK,
    PCMF_SHIFT,
    PROBE_PATTERN,
    PROBE_REGISTER,
    RCC_MS,
    RDLY_STEP_MS,
    REVA_MASK,
    RTO_STEP_MS,
    Ctrl1,
    Ctrl2,
    DaaCtrl1,
    DaaCtrl2,
    DaaCtrl5,
    Foh,
    Interrupt,
    IntlCtrl2,
    LineSideDevice,
    LineSideStatus,
    PcmFormat,
    PcmSpiMode,
    Register,
    channel_address,
    line_voltage_v,
    loop_current_ma,
    ring_validation_registers,
)
from hal.audio import FRAME_MS, AudioPort
from hal.clock import Clock, TimerHandle
from hal.debounce import Debouncer
from hal.errors import DeviceError, DeviceFault, DeviceNotResponding, LineFault
from hal.eventqueue import DEFAULT_MAXLEN
from hal.events import (
    LineInUse,
    LoopCurrentChanged,
    PolarityReversed,
    PortAlarm,
    PortAlarmCleared,
)
from hal.fxo import DialMethod, FxoPort
from hal.linesignal import PulseTiming, RingDetector, RingValidation
from hal.tones import dtmf_frames

log = logging.getLogger(__name__)

RESET_S = 0.002
"""After a soft reset. UNVERIFIED: the data sheet's reset time was not found; the ProSLIC API
writes the next register at once."""
LINK_TIMEOUT_S = 0.1
LINK_POLL_S = 0.005
"""Frame lock is awaited for up to 100 ms in 5 ms steps (Silicon Labs' SPI self-test waits
50 ms after clearing PDL before it checks FDT)."""
SEIZE_SETTLE_S = 0.02
"""Loop current is read this long after OH is set."""
RETRY_FIRST_S, RETRY_MAX_S = 1.0, 60.0
LINE_FAULT_AFTER_MS = 1500.0
LINE_IN_USE_DEBOUNCE_MS = 300.0
POLARITY_DEBOUNCE_MS = 50.0
"""A reversal counts once two readings agree (the POLI-prompted one and the next scan); its
time is the first."""
LOOP_CURRENT_STEP_MA = 5.0
"""A change smaller than this (1.5 LSB) is not reported: LCS jitters by one step."""

# Ring validation (registers 22-24): RAS 17 → ring half-periods up to 34 ms (f ≥ 14.7 Hz),
# RMX 12 → at least (17 - 12) · 2 ms = 10 ms between TIP/RING events (f ≤ 50 Hz), as the
# ProSLIC API's validated preset; confirmation RCC 100 ms and timeout RTO 128 ms instead of its
# 640/1408 ms, which would swallow the 400 ms bursts and 200 ms gaps of a British double ring.
RING_RAS, RING_RMX, RING_RDLY, RING_RTO, RING_RCC = 17, 12, 0, 1, 0
RING_START_LATENCY_S = (RCC_MS[RING_RCC] + RING_RDLY * RDLY_STEP_MS) / 1000.0
RING_END_LATENCY_S = RING_RTO * RTO_STEP_MS / 1000.0

ENABLED_INTERRUPTS = Interrupt.RDT | Interrupt.FDT | Interrupt.DOD | Interrupt.LCSO
MAX_SERVICE_PASSES = 4

T = TypeVar("T")


class SpiBus(Protocol):
    """What the port needs of `spidev.SpiDev`: full-duplex transfers of whole bytes in one
    chip-select frame, and release. The emulator implements it in tests."""

    def xfer2(self, data: list[int]) -> list[int]: ...

    def close(self) -> None: ...


class InterruptLine(Protocol):
    """The chip's AOUT/INT pin. `handler` runs on the event loop, once per assertion (a
    gpiozero edge handed over with `call_soon_threadsafe`); None detaches it."""

    def set_handler(self, handler: Callable[[], None] | None) -> None: ...


@dataclass(frozen=True, slots=True)
class ChipInfo:
    """What the chip says it is (registers 11 and 13), for `switchbox board check`."""

    system_revision: int
    line_side: LineSideDevice
    line_side_revision: int


class Si3050Registers:
    """Register access to the chip at daisy-chain `channel` on `spi`. Raises
    DeviceNotResponding when the bus fails."""

    def __init__(self, spi: SpiBus, channel: int, device: str) -> None:
        self._spi = spi
        self._address = channel_address(channel)
        self._device = device

    def read(self, register: Register) -> int:
        # Control, address, then a dummy byte during which SDO carries the value; each byte
        # in its own chip-select frame, as Silicon Labs' driver does in 8-bit mode.
        reply = self._transfer(CONTROL_READ | self._address, int(register), 0xFF)
        return reply & 0xFF

    def write(self, register: Register, value: int) -> None:
        self._transfer(CONTROL_WRITE | self._address, int(register), value & 0xFF)

    def modify(self, register: Register, mask: int, value: int) -> None:
        """Set the bits `mask` of `register` to `value`, keeping the others."""
        old = self.read(register)
        self.write(register, (old & ~mask & 0xFF) | (value & mask))

    def _transfer(self, control: int, address: int, data: int) -> int:
        try:
            self._spi.xfer2([control])
            self._spi.xfer2([address])
            reply = self._spi.xfer2([data])
        except OSError as exc:
            raise DeviceNotResponding(self._device, f"SPI transfer failed: {exc}") from exc
        if len(reply) != 1:
            raise DeviceNotResponding(self._device, f"SPI returned {len(reply)} bytes for 1")
        return reply[0]


class Si3050FxoPort(FxoPort):
    """One FXO line on a Si3050 + Si3018/19 at daisy-chain `channel` of `spi`, audio on PCM
    `slot`. `country` is a code of `drivers.si3050.countries` or a row; `interrupt` is
    the chip's INT pin (None: the supervision scan alone, ring edges then only as exact as
    `supervision_ms`)."""

    def __init__(self, name: str, spi: SpiBus, channel: int, clock: Clock, slot: int, *,
                 country: CountrySettings | str = "ru",
                 interrupt: InterruptLine | None = None,
                 pcm_format: PcmFormat = PcmFormat.LINEAR16,
                 ring_validation: RingValidation | None = None,
                 supervision_ms: float = 100.0,
                 line_in_use_below_v: float = 25.0,
                 queue_maxlen: int = DEFAULT_MAXLEN) -> None:
        super().__init__(name, AudioPort(name, slot), queue_maxlen)
        if supervision_ms <= 0:
            raise ValueError(f"{name}: supervision_ms must be > 0, not {supervision_ms}")
        self.channel = channel
        self.country = countries.country(country) if isinstance(country, str) else country
        self.pcm_format = pcm_format
        self._spi = spi
        self._regs = Si3050Registers(spi, channel, name)
        self._clock = clock
        self._interrupt = interrupt
        self._supervision_s = supervision_ms / 1000.0
        self._in_use_below_v = line_in_use_below_v
        self._detector = RingDetector(name, ring_validation)
        self._detector_timer: TimerHandle | None = None
        self._scan_timer: TimerHandle | None = None
        self._retry_timer: TimerHandle | None = None
        self._retry_task: asyncio.Task[None] | None = None
        self._retry_s = RETRY_FIRST_S
        self._chip: ChipInfo | None = None
        self._running = False
        self._chip_alarm: str | None = None
        self._line_fault = False
        self._seized = False
        self._pulsing = False
        self._monitor = False
        self._ring_on = False
        self._current_ma = 0.0
        self._overload_logged = False
        self._volts: int | None = None
        self._idle_negative: bool | None = None
        self._reversed = False
        self._in_use = False
        self._polarity = Debouncer(False, POLARITY_DEBOUNCE_MS)
        self._in_use_debounce = Debouncer(False, LINE_IN_USE_DEBOUNCE_MS)
        self._no_voltage = Debouncer(False, LINE_FAULT_AFTER_MS)

    # --- FxoPort ------------------------------------------------------------------------------

    @property
    def seized(self) -> bool:
        return self._seized

    async def seize(self) -> None:
        """Go off-hook. Raises LineFault when no loop current flows and the line shows no
        voltage afterwards (no battery), DeviceError when the chip fails."""
        self._check_usable()
        if self._seized:
            return
        # Register 5: ONHM must be clear before OH is set (Si3016/Si3050 register 5 note).
        self._guarded(self._regs.write, Register.DAA_CTRL1, 0)
        self._guarded(self._regs.write, Register.DAA_CTRL1, int(DaaCtrl1.OH))
        self._seized = True
        self._ring_on = False
        self._detector.answered()
        self._cancel_detector_timer()
        if self._in_use:
            self._in_use = False
            self._emit(LineInUse(self.name, self._clock.now(), False))
        self._in_use_debounce = Debouncer(False, LINE_IN_USE_DEBOUNCE_MS)
        await self._clock.sleep(SEIZE_SETTLE_S)
        if not self._running or not self._seized:
            return
        self._guarded(self._scan, self._clock.now())
        if self._current_ma == 0.0 and self._volts == 0:
            await self.release()
            raise LineFault(self.name, "no loop current after going off-hook: no battery")

    async def release(self) -> None:
        self._check_open()
        if not self._seized:
            return
        self._seized = False
        self.audio.cancel()
        if self._running:
            self._guarded(self._regs.write, Register.DAA_CTRL1,
                          int(DaaCtrl1.ONHM) if self._monitor else 0)
        if self._current_ma != 0.0:
            self._current_ma = 0.0
            self._emit(LoopCurrentChanged(self.name, self._clock.now(), 0.0))

    async def dial(self, digits: str, method: DialMethod = DialMethod.DTMF,
                   pulse_timing: PulseTiming | None = None) -> None:
        self._check_usable()
        if not self._seized:
            raise RuntimeError(f"{self.name}: seize the line before dialling")
        if method is DialMethod.DTMF:
            frames = dtmf_frames(digits)
            self.audio.play(frames)
            await self._clock.sleep(len(frames) * FRAME_MS / 1000.0)
            return
        timing = pulse_timing or PulseTiming()
        counts = [timing.numbering.pulses(d) for d in digits]  # ValueError before any break
        await self._pulse(counts, timing)

    @property
    def ring_validation(self) -> RingValidation:
        return self._detector.validation

    def set_ring_validation(self, validation: RingValidation) -> None:
        self._detector.validation = validation

    async def monitor_on_hook(self, enabled: bool) -> None:
        self._check_usable()
        self._monitor = enabled
        if not self._seized:
            self._guarded(self._regs.write, Register.DAA_CTRL1,
                          int(DaaCtrl1.ONHM) if enabled else 0)

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

    # --- more than FxoPort: for `board check` and the line wizard --------------------------

    @property
    def chip(self) -> ChipInfo | None:
        """The chip's identity once brought up, else None."""
        return self._chip

    @property
    def line_voltage_v(self) -> int | None:
        """TIP/RING voltage at the last scan (signed, 1 V steps; None before, or on a Si3018)."""
        return self._volts

    @property
    def ringing(self) -> bool:
        return self._detector.ringing

    # --- lifetime -------------------------------------------------------------------------------

    async def _open(self) -> None:
        try:
            await self._bring_up()
        except DeviceError as exc:
            self._fail(exc)

    async def _close(self) -> None:
        self._stop()
        for timer in (self._retry_timer, self._detector_timer):
            if timer is not None:
                timer.cancel()
        task, self._retry_task = self._retry_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._chip is not None:
            try:  # leave the line on-hook and the line side powered down
                self._regs.write(Register.DAA_CTRL1, 0)
                self._regs.write(Register.DAA_CTRL2, int(DaaCtrl2.PDL))
            except DeviceError as exc:
                log.debug("%s: not parked on close: %s", self.name, exc.reason)
        self._seized = False
        self._spi.close()

    async def _bring_up(self) -> None:
        regs = self._regs
        regs.write(Register.CTRL1, int(Ctrl1.SR))
        await self._clock.sleep(RESET_S)
        self._probe()
        await self._clock.sleep(0)
        self._configure_system_side()
        await self._clock.sleep(0)
        regs.write(Register.DAA_CTRL2, 0)  # PDL = 0: power the line side up
        await self._await_frame_lock()
        self._chip = chip = self._identify()
        await self._apply_country(chip.line_side)
        regs.write(Register.INTERRUPT_SOURCE, 0)  # RDTI may fire on line-side power-up
        mask = ENABLED_INTERRUPTS
        if chip.line_side.measures_line_voltage:
            mask |= Interrupt.POL
        else:
            log.warning("%s: %s line side measures no line voltage: no polarity, "
                        "line-in-use or line-fault detection", self.name, chip.line_side.name)
        regs.write(Register.INTERRUPT_MASK, int(mask))
        if self._interrupt is not None:  # before INTE: an edge must not come unheard
            self._interrupt.set_handler(self._on_interrupt)
        regs.write(Register.CTRL2, int(Ctrl2.INTE | Ctrl2.RDI | Ctrl2.HBE | Ctrl2.RXE))
        regs.modify(Register.PCM_SPI_MODE, int(PcmSpiMode.PCME), int(PcmSpiMode.PCME))
        if self._monitor:
            regs.write(Register.DAA_CTRL1, int(DaaCtrl1.ONHM))
        log.info("%s: Si3050 rev %d + %s rev %d up, %s settings", self.name,
                 chip.system_revision, chip.line_side.name, chip.line_side_revision,
                 self.country.code)
        self._start()

    def _probe(self) -> None:
        regs = self._regs
        regs.write(PROBE_REGISTER, PROBE_PATTERN)
        echo = regs.read(PROBE_REGISTER)
        if echo != PROBE_PATTERN:
            raise DeviceNotResponding(self.name, f"no Si3050 on SPI channel {self.channel}: "
                                                 f"wrote 0x{PROBE_PATTERN:02X} to register "
                                                 f"34, read 0x{echo:02X}")
        if not regs.read(Register.LINE_SIDE_REVISION) & LINE_SIDE_REVISION_DAA:
            raise DeviceNotResponding(self.name, f"SPI channel {self.channel} answers but is "
                                                 "not a Si3050 DAA (register 13 bit 6 clear)")

    def _configure_system_side(self) -> None:
        regs = self._regs
        regs.write(Register.CTRL1, 0)
        regs.write(Register.CTRL2, int(Ctrl2.HBE | Ctrl2.RXE))  # interrupts off until ready
        regs.write(Register.INTERRUPT_MASK, 0)
        regs.write(Register.SAMPLE_RATE, 0)  # 8 kHz
        regs.write(Register.DAA_CTRL5, Foh.MS_128 << FOH_SHIFT | int(DaaCtrl5.FILT))
        for register, value in ring_validation_registers(
                RING_RAS, RING_RMX, RING_RDLY, RING_RTO, RING_RCC).items():
            regs.write(register, value)
        count = self.audio.slot * self.pcm_format.bits_per_slot
        if count > 0x3FF:
            raise DeviceFault(self.name, f"PCM slot {self.audio.slot} is beyond the 10-bit "
                                         "start count of registers 34-37")
        regs.write(Register.PCM_SPI_MODE, self.pcm_format.value << PCMF_SHIFT)  # PCME off
        regs.write(Register.PCM_TX_COUNT_LOW, count & 0xFF)
        regs.write(Register.PCM_TX_COUNT_HIGH, count >> 8 & PCM_COUNT_HIGH_MASK)
        regs.write(Register.PCM_RX_COUNT_LOW, count & 0xFF)
        regs.write(Register.PCM_RX_COUNT_HIGH, count >> 8 & PCM_COUNT_HIGH_MASK)

    async def _await_frame_lock(self) -> None:
        deadline = self._clock.now() + LINK_TIMEOUT_S
        while not self._regs.read(Register.LINE_SIDE_STATUS) & LineSideStatus.FDT:
            if self._clock.now() >= deadline:
                raise DeviceFault(self.name, "the line-side device did not frame-lock over "
                                             f"the isolation link in {LINK_TIMEOUT_S * 1000:g} "
                                             "ms: check the Si3018/19 and its capacitors")
            await self._clock.sleep(LINK_POLL_S)

    def _identify(self) -> ChipInfo:
        revision = self._regs.read(Register.DEVICE_REVISION)
        lsid = revision >> LSID_SHIFT
        try:
            line_side = LineSideDevice(lsid)
        except ValueError:
            raise DeviceFault(self.name, f"unknown line-side device id {lsid} in register "
                                         "11 (Si3018 is 1, Si3019 is 3)") from None
        lrev = (self._regs.read(Register.LINE_SIDE_REVISION) & LREV_MASK) >> LREV_SHIFT
        return ChipInfo(revision & REVA_MASK, line_side, lrev)

    async def _apply_country(self, line_side: LineSideDevice) -> None:
        fields = country_fields(self.country, line_side)
        for field in fields:
            self._regs.modify(field.register, field.mask, field.value)
        await self._clock.sleep(0)  # let the loop run between the writes and the read-back
        wrong = [f"register {int(f.register)} reads 0x{got:02X}, wants 0x{f.value:02X} in "
                 f"mask 0x{f.mask:02X}" for f in fields
                 if (got := self._regs.read(f.register)) & f.mask != f.value]
        if wrong:
            raise DeviceFault(self.name, f"{self.country.code} settings did not take: "
                                         + "; ".join(wrong))

    def _start(self) -> None:
        self._running = True
        self._idle_negative = None
        self._reversed = False
        self._polarity = Debouncer(False, POLARITY_DEBOUNCE_MS)
        self._scan(self._clock.now())
        self._arm_scan()
        if self._chip_alarm is not None:
            self._chip_alarm = None
            self._retry_s = RETRY_FIRST_S
            self._emit(PortAlarmCleared(self.name, self._clock.now()))
        self._update_status()

    def _stop(self) -> None:
        self._running = False
        if self._interrupt is not None:
            self._interrupt.set_handler(None)
        if self._scan_timer is not None:
            self._scan_timer.cancel()
            self._scan_timer = None

    def _fail(self, exc: DeviceError) -> None:
        """The chip failed: out of service, `PortAlarm`, bring it up again after back-off."""
        self._stop()
        self._chip = None
        self._seized = self._ring_on = False
        self._detector.answered()
        self._cancel_detector_timer()
        now = self._clock.now()
        if exc.reason != self._chip_alarm:
            log.warning("%s: out of service: %s; retrying in %g s", self.name, exc.reason,
                        self._retry_s)
            self._chip_alarm = exc.reason
            self._emit(PortAlarm(self.name, now, exc.reason))
        self._update_status()
        if not self.closed:
            self._retry_timer = self._clock.call_at(now + self._retry_s, self._retry_due)
            self._retry_s = min(RETRY_MAX_S, self._retry_s * 2)

    def _retry_due(self) -> None:
        self._retry_timer = None
        if not self.closed:
            self._retry_task = asyncio.get_running_loop().create_task(self._retry())

    async def _retry(self) -> None:
        try:
            await self._bring_up()
        except DeviceError as exc:
            self._fail(exc)

    def _update_status(self) -> None:
        if self._chip_alarm is not None:
            self._out_of_service(self._chip_alarm)
        elif self._line_fault:
            self._out_of_service("no line voltage")
        elif not self.closed:
            self._in_service()

    def _check_open(self) -> None:
        if self.closed or not self._opened:
            raise RuntimeError(f"{self.name}: not open")

    def _check_usable(self) -> None:
        self._check_open()
        if self._chip_alarm is not None:
            raise DeviceNotResponding(self.name, self._chip_alarm)
        if self._line_fault:
            raise LineFault(self.name, "no line voltage")

    def _guarded(self, method: Callable[..., T], *args: float) -> T:
        """A register access on behalf of a command: a failing chip raises to the caller and
        also takes the port out of service."""
        try:
            return method(*args)
        except DeviceError as exc:
            self._fail(exc)
            raise

    # --- pulse dialling -----------------------------------------------------------------------

    async def _pulse(self, counts: list[int], timing: PulseTiming) -> None:
        regs = self._regs
        # Realtek's DAA glue: for pulse dialling the off-hook counter (FOH) goes to its minimum
        # and the automatic calibration after each off-hook (CALD) is disabled. UNVERIFIED
        # against the data sheet's pulse-dialling section, which was not found.
        saved_foh = self._guarded(regs.read, Register.DAA_CTRL5) & FOH_MASK
        self._guarded(regs.modify, Register.DAA_CTRL5, FOH_MASK, Foh.MS_8 << FOH_SHIFT)
        self._guarded(regs.modify, Register.INTL_CTRL2, int(IntlCtrl2.CALD),
                      int(IntlCtrl2.CALD))
        self._pulsing = True  # loop current is not reported while the dial breaks the loop
        try:
            for i, pulses in enumerate(counts):
                if i:
                    await self._clock.sleep((timing.interdigit_ms - timing.make_ms) / 1000.0)
                for _ in range(pulses):
                    if not self._seized or not self._running:
                        return
                    self._guarded(regs.write, Register.DAA_CTRL1, 0)
                    await self._clock.sleep(timing.break_ms / 1000.0)
                    if not self._seized or not self._running:
                        return
                    self._guarded(regs.write, Register.DAA_CTRL1, int(DaaCtrl1.OH))
                    await self._clock.sleep(timing.make_ms / 1000.0)
        finally:
            self._pulsing = False
            if self._running:
                with contextlib.suppress(DeviceError):
                    regs.modify(Register.DAA_CTRL5, FOH_MASK, saved_foh)
                    regs.modify(Register.INTL_CTRL2, int(IntlCtrl2.CALD), 0)
                self._safe_scan()

    # --- interrupts and supervision -----------------------------------------------------------

    def _on_interrupt(self) -> None:
        if not self._running:
            return
        now = self._clock.now()
        try:
            for _ in range(MAX_SERVICE_PASSES):
                source = self._regs.read(Register.INTERRUPT_SOURCE)
                if not source:
                    break
                # Writing 0 clears a source bit, 1 leaves it (Si306x Register 4).
                self._regs.write(Register.INTERRUPT_SOURCE, ~source & 0xFF)
                if source & Interrupt.RDT:
                    ring = bool(self._regs.read(Register.DAA_CTRL1) & DaaCtrl1.RDT)
                    self._chip_ring_edge(ring, now)
                if source & (Interrupt.FDT | Interrupt.POL | Interrupt.DOD | Interrupt.LCSO):
                    self._scan(now)
        except DeviceError as exc:
            self._fail(exc)

    def _chip_ring_edge(self, on: bool, now: float) -> None:
        if self._seized or on == self._ring_on:
            return
        self._ring_on = on
        at = now - (RING_START_LATENCY_S if on else RING_END_LATENCY_S)
        self._detector.ring_signal(on, at)
        self._deliver_ring_events()

    def _deliver_ring_events(self) -> None:
        while (event := self._detector.next_event()) is not None:
            self._emit(event)
        self._cancel_detector_timer()
        deadline = self._detector.next_deadline()
        if deadline is not None:
            # The detector runs RING_END_LATENCY_S behind the clock (module docstring).
            self._detector_timer = self._clock.call_at(deadline + RING_END_LATENCY_S,
                                                       self._on_detector_timer)

    def _on_detector_timer(self) -> None:
        self._detector_timer = None
        self._detector.handle_timers(self._clock.now() - RING_END_LATENCY_S)
        self._deliver_ring_events()

    def _cancel_detector_timer(self) -> None:
        if self._detector_timer is not None:
            self._detector_timer.cancel()
            self._detector_timer = None

    def _arm_scan(self) -> None:
        self._scan_timer = self._clock.call_at(self._clock.now() + self._supervision_s,
                                               self._on_scan_timer)

    def _on_scan_timer(self) -> None:
        self._scan_timer = None
        if not self._running:
            return
        self._on_interrupt()  # what a missed edge (or a board without INT) left latched
        if self._running and self._safe_scan():
            self._arm_scan()

    def _safe_scan(self) -> bool:
        try:
            self._scan(self._clock.now())
        except DeviceError as exc:
            self._fail(exc)
            return False
        return True

    def _scan(self, now: float) -> None:
        """Read the line's state and report what changed. Raises DeviceError."""
        regs, chip = self._regs, self._chip
        assert chip is not None  # only scanned while running
        status = regs.read(Register.LINE_SIDE_STATUS)
        alive = (regs.read(Register.LINE_SIDE_REVISION) & LINE_SIDE_REVISION_DAA
                 and regs.read(PROBE_REGISTER) == self._probe_value())
        if not alive:
            raise DeviceNotResponding(self.name, "the Si3050 stopped answering on SPI")
        if not status & LineSideStatus.FDT:
            raise DeviceFault(self.name, "the line-side device lost frame lock on the "
                                         "isolation link")
        if chip.line_side.measures_line_voltage:
            ring = regs.read(Register.DAA_CTRL1) & (DaaCtrl1.RDTP | DaaCtrl1.RDTN | DaaCtrl1.RDT)
            volts = line_voltage_v(regs.read(Register.LINE_VOLTAGE_STATUS))
            if ring or self._ring_on:
                # The ring's AC swings LVS through both signs: no polarity or level from it.
                self._polarity = Debouncer(self._reversed, POLARITY_DEBOUNCE_MS)
            else:
                self._volts = volts
                self._supervise_voltage(volts, now)
        lcs = status & LCS_MASK
        if lcs == LCS_OVERLOAD and self._seized and not self._overload_logged:
            self._overload_logged = True
            log.warning("%s: loop current overload (LCS = 0x1F, > 100 mA): is the country "
                        "setting %r right for this line?", self.name, self.country.code)
        current = loop_current_ma(lcs) if self._seized else 0.0
        if self._seized and not self._pulsing and (
                (current > 0.0) != (self._current_ma > 0.0)
                or abs(current - self._current_ma) >= LOOP_CURRENT_STEP_MA):
            self._current_ma = current
            self._emit(LoopCurrentChanged(self.name, now, current))

    def _probe_value(self) -> int:
        return self.audio.slot * self.pcm_format.bits_per_slot & 0xFF

    def _supervise_voltage(self, volts: int, now: float) -> None:
        if volts:
            negative = volts < 0
            if self._idle_negative is None:
                self._idle_negative = negative  # the line's idle polarity is what we met
            for edge in self._polarity.sample(negative != self._idle_negative, now):
                self._reversed = edge.state
                self._emit(PolarityReversed(self.name, edge.at, edge.state))
        if self._seized or self._detector.ringing:
            return
        for edge in self._no_voltage.sample(volts == 0, now):
            self._line_fault = edge.state
            if edge.state:
                log.warning("%s: no line voltage: line fault", self.name)
                self._emit(PortAlarm(self.name, edge.at, "no line voltage"))
            else:
                self._emit(PortAlarmCleared(self.name, edge.at))
            self._update_status()
        in_use = 0 < abs(volts) < self._in_use_below_v
        for edge in self._in_use_debounce.sample(in_use, now):
            if edge.state != self._in_use:
                self._in_use = edge.state
                self._emit(LineInUse(self.name, edge.at, edge.state))
