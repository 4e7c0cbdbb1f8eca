"""One ProSLIC on its own chip select: register access over an injected SPI bus, and the AN35
initialisation and calibration sequence.

Register access ([SLREF] ProSLIC.c; see `registers.py` for the sources): a direct register is
one two-byte SPI frame, control byte then data. An indirect register goes through IDA (DR28
low, DR29 high) and IAA (DR30): wait until IAS (DR31) reads 0, then for a write load IDA and
write the address to IAA; for a read write the address to IAA, wait for IAS again and read
IDA. Every access is synchronous and short (two bytes at ≥ 1 MHz: ~20 µs plus the syscall), so
a batch of accesses holds the event loop well under a millisecond; `initialise` yields between
batches and waits with the injected clock.

`initialise` runs AN35 steps 8–21 in the order the Silicon Labs ProSLIC API `Si321x_Init`
runs them (cross-checked with OpenUSBFXS): SPI sanity, indirect registers, DC-DC converter
power-up (after a foreign-voltage check) and calibration, the automatic ADC/DAC/ILIM
calibration, the manual Q5/Q6 current calibration, the longitudinal balance calibration (on
hook only), accumulator flush, interrupts, filters, PCM slot and the ring oscillator. It
raises `DeviceNotResponding`, `DeviceFault` or `LineFault` naming the step that failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Protocol

from drivers.proslic.registers import (
    ACCUMULATORS_SI3210,
    ACCUMULATORS_SI3215,
    AUTO_ALL,
    CAL1_STANDARD,
    CAL2_LONGITUDINAL,
    CAL2_STANDARD,
    CAL_START,
    DCDC_CAL,
    DCDC_CAL_RESULT_SANE,
    DCDC_POWERED_DOWN,
    DR,
    ENHANCEMENT_REV_E,
    FILTERS_FINAL,
    FOREIGN_VOLTAGE_SENSE_MAX,
    HYBRID_RESET_VALUE,
    INDIRECT_INITIAL,
    IR,
    LF_MASK,
    LFS_SHIFT,
    LOOP_CURRENT_MIN_MA,
    LOOP_CURRENT_STEP_MA,
    MANUAL_CAL_START,
    MIN_REVISION,
    PCM_ENABLE,
    PCM_FORMAT_SHIFT,
    POWER_ALARM_THRESHOLDS,
    SENSE_VOLTS_PER_LSB,
    SI3215_FAMILY,
    ChipIdentity,
    Irq2,
    Irq3,
    LinefeedCircuit,
    LinefeedCode,
    LoopStatus,
    Part,
    control_byte,
    debounce_counts,
    identify,
    ring_amplitude,
    ring_coefficient,
    volts_register,
)
from hal.clock import Clock
from hal.errors import DeviceFault, DeviceNotResponding, LineFault

log = logging.getLogger(__name__)


class SpiBus(Protocol):
    """What the driver needs of a SPI device: `spidev.SpiDev` in the box, the emulator in
    tests. `xfer2` sends the bytes in one chip-select frame and returns as many bytes."""

    def xfer2(self, values: list[int]) -> list[int]: ...

    def close(self) -> None: ...


class PcmLaw(StrEnum):
    """DR1[4:3]: how the chip codes its PCM slot (the ALSA side must match)."""

    ALAW = "alaw"
    ULAW = "ulaw"

    @property
    def code(self) -> int:
        return 0 if self is PcmLaw.ALAW else 1


INDIRECT_POLL_READS = 100
"""IAS reads before an indirect access counts as stuck (each read is one SPI frame)."""
RESET_HOLD_S = 0.25
"""RESET low, then settle, 250 ms each ([SLAPI] Si321x_Reset comment)."""
DCDC_SLOW_PERIOD = 0xFF
DCDC_SLOW_OFF_TIME = 0x12
"""Start the converter at 1/64 kHz "to prevent voltage runaway" ([SLAPI] powerUp)."""
DCDC_POWER_UP_TIMEOUT_S = 0.5
DCDC_MARGIN_V = 6.0
"""VBAT counts as up within 6 V of the target ([SLAPI] "at least 6–10 V below")."""
DCDC_CAL_SETTLE_S = 0.03
DCDC_CAL_TIMEOUT_S = 1.0
DCDC_CAL_FALLBACK = 0x08
"""Written to DR107 when the DC-DC calibration result is implausible ([OUF])."""
CAL_TIMEOUT_S = 0.8
"""[SLAPI] Si321x_Cal: 800 ms for the ADC/DAC/ILIM calibration."""
MANUAL_CAL_SETTLE_S = 0.04
"""40 ms after each DR98/DR99 step before reading DR88/DR89 ([SLAPI], [OUF])."""
TIP_CAL_PRESET = 0x10
"""[SLAPI]: "Initialize TIP gain cal while RING being calibrated"."""
BALANCE_CHECK_S = 0.1
POLL_S = 0.01
BATCH = 4
"""Indirect accesses between yields to the event loop: 4 × (1–3 IAS polls + 3 writes) ≤ 24
frames, ≤ 1 ms at ~40 µs per frame (spidev syscall plus 16 bits at 1 MHz)."""
READ_BATCH = 3
"""Indirect reads cost up to 7 frames each (two IAS polls)."""


async def _yield() -> None:
    """Let the event loop run between batches of SPI frames (keeps each hold ≤ ~1 ms)."""
    await asyncio.sleep(0)


@dataclass(frozen=True, slots=True)
class ProSlicSettings:
    """How one ProSLIC port drives its line. Bounds are checked when built (ValueError)."""

    ring_frequency_hz: float = field(default=25.0, metadata={"min": 15.0, "max": 68.0})
    """Ring frequency: 25 Hz in Russia and Europe, 20 Hz in North America."""
    ring_vpk: float = field(default=65.0, metadata={"min": 40.0, "max": 90.0})
    """Ring amplitude in peak volts (the chip's limit is 90 Vpk, [DS])."""
    loop_current_ma: int = field(default=20, metadata={"min": 20, "max": 41})
    """Constant-current feed off-hook, 20–41 mA in 3 mA steps."""
    on_hook_voltage_v: float = field(default=48.0, metadata={"min": 24.0, "max": 57.0})
    """Open-circuit tip-ring voltage on hook."""
    vbat_high_v: float = field(default=66.0, metadata={"min": 48.0, "max": 94.5})
    """DC-DC converter high battery target (must cover ringing: ring_vpk ≤ vbat_high_v)."""
    vbat_low_v: float = field(default=60.0, metadata={"min": 24.0, "max": 94.5})
    dcdc_pwm_period: int = field(default=0x7F, metadata={"min": 0x10, "max": 0xFF})
    """DR92, 61.035 ns/LSB; depends on the board's inductor (Silicon Labs DC-DC sheet)."""
    dcdc_min_off_time: int = field(default=0x14, metadata={"min": 0x00, "max": 0x7F})
    """DR93[6:0], 61.035 ns/LSB; board dependent as DR92."""
    linefeed_circuit: LinefeedCircuit = LinefeedCircuit.DISCRETE
    """What drives the line: power-alarm thresholds and thermal filters follow it."""
    pcm_law: PcmLaw = PcmLaw.ALAW
    loop_debounce_ms: float = field(default=12.5, metadata={"min": 2.5, "max": 50.0})
    """Chip-side loop-closure debounce (DR69), before `hal.linesignal` sees an edge."""
    ring_trip_debounce_ms: float = field(default=12.5, metadata={"min": 2.5, "max": 50.0})
    silent_loop_debounce_ms: float = field(default=105.0, metadata={"min": 10.0, "max": 300.0})
    """Loop-closure debounce in the silent part of chip-timed ringing (DR63)."""

    def __post_init__(self) -> None:
        problems = []
        for f in fields(self):
            lo, hi = f.metadata.get("min"), f.metadata.get("max")
            value = getattr(self, f.name)
            if lo is not None and not lo <= value <= hi:
                problems.append(f"{f.name} = {value!r} outside {lo:g}-{hi:g}")
        if self.ring_vpk > self.vbat_high_v:
            problems.append(f"ring_vpk {self.ring_vpk:g} exceeds vbat_high_v "
                            f"{self.vbat_high_v:g}: the converter cannot ring that high")
        if (self.loop_current_ma - LOOP_CURRENT_MIN_MA) % LOOP_CURRENT_STEP_MA:
            problems.append(f"loop_current_ma {self.loop_current_ma} is not 20 + 3·n mA")
        if problems:
            raise ValueError("ProSLIC settings: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class InitReport:
    """What `initialise` found: the chip, its battery, the calibration results."""

    identity: ChipIdentity
    vbat_v: float
    dcdc_cal_result: int
    ring_gain_cal: int
    tip_gain_cal: int
    balance_calibrated: bool
    """False when the phone was off-hook or the balance calibration reported an error."""


@dataclass(frozen=True, slots=True)
class InterruptStatus:
    """DR18–20 as read (and cleared) in one pass."""

    irq1: int
    irq2: int
    irq3: int

    def __bool__(self) -> bool:
        return bool(self.irq1 or self.irq2 or self.irq3)


class ProSlicChip:
    """Register access to one ProSLIC; `device` names its port in errors."""

    def __init__(self, spi: SpiBus, device: str) -> None:
        self._spi = spi
        self.device = device
        self.identity: ChipIdentity | None = None
        self.frames = 0
        """SPI frames sent (for the latency budget and the tests)."""

    @property
    def indirect_map(self) -> Mapping[IR, int | None]:
        if self.identity is None:
            raise RuntimeError(f"{self.device}: chip not identified yet")
        return self.identity.indirect_map

    # --- direct registers ------------------------------------------------------------------

    def read(self, register: int) -> int:
        """Read direct register `register`. Raises DeviceNotResponding on a bus error."""
        return self._frame(control_byte(register, read=True), 0x00)

    def write(self, register: int, value: int) -> None:
        """Write direct register `register`. Raises DeviceNotResponding on a bus error."""
        self._frame(control_byte(register, read=False), value & 0xFF)

    def write_checked(self, register: int, value: int, mask: int = 0xFF) -> None:
        """Write and read back the bits in `mask` (read-only bits differ: DR1 bit 7 is the
        Si3215 flag); a difference means the chip is not listening."""
        self.write(register, value)
        got = self.read(register)
        if got & mask != value & mask:
            raise DeviceNotResponding(self.device, f"DR{register} reads back 0x{got:02X} "
                                                   f"after writing 0x{value & 0xFF:02X}")

    def _frame(self, control: int, data: int) -> int:
        try:
            reply = self._spi.xfer2([control, data])
        except OSError as exc:
            raise DeviceNotResponding(self.device, f"SPI transfer failed: {exc}") from exc
        self.frames += 1
        if len(reply) != 2:
            raise DeviceNotResponding(self.device, f"SPI returned {len(reply)} bytes, not 2")
        return reply[1] & 0xFF

    # --- indirect registers ----------------------------------------------------------------

    def wait_indirect(self) -> None:
        """Poll IAS until the previous indirect access is done. Raises DeviceNotResponding
        after `INDIRECT_POLL_READS` reads."""
        for _ in range(INDIRECT_POLL_READS):
            if self.read(DR.IAS) == 0:
                return
        raise DeviceNotResponding(self.device, "indirect access stuck (DR31 stays busy)")

    def address(self, register: IR) -> int | None:
        """The indirect address of `register` on this chip, None when it has none."""
        return self.indirect_map[register]

    def write_indirect(self, register: IR, value: int) -> None:
        """Write indirect `register` (skipped when this chip variant does not have it)."""
        address = self.address(register)
        if address is not None:
            self.write_indirect_at(address, value)

    def write_indirect_at(self, address: int, value: int) -> None:
        self.wait_indirect()
        self.write(DR.IDA_LO, value & 0xFF)
        self.write(DR.IDA_HI, (value >> 8) & 0xFF)
        self.write(DR.IAA, address)

    def read_indirect(self, register: IR) -> int | None:
        """Read indirect `register`, None when this chip variant does not have it."""
        address = self.address(register)
        if address is None:
            return None
        self.wait_indirect()
        self.write(DR.IAA, address)
        self.wait_indirect()
        return self.read(DR.IDA_LO) | self.read(DR.IDA_HI) << 8

    # --- interrupts and status -------------------------------------------------------------

    def take_interrupts(self) -> InterruptStatus:
        """Read DR18–20 and clear what was pending by writing the same bits back (write 1 to
        clear, [SLAPI] Si321x_GetInterrupts)."""
        values = [self.read(r) for r in (DR.IRQ_STATUS1, DR.IRQ_STATUS2, DR.IRQ_STATUS3)]
        for register, value in zip((DR.IRQ_STATUS1, DR.IRQ_STATUS2, DR.IRQ_STATUS3), values,
                                   strict=True):
            if value:
                self.write(register, value)
        return InterruptStatus(*values)

    def linefeed(self) -> tuple[LinefeedCode, LinefeedCode]:
        """(LF as written, LFS as applied) from DR64."""
        value = self.read(DR.LINEFEED)
        return LinefeedCode(value & LF_MASK), LinefeedCode((value >> LFS_SHIFT) & LF_MASK)

    def set_linefeed(self, code: LinefeedCode) -> None:
        self.write(DR.LINEFEED, code)

    def loop_closed(self) -> bool:
        return bool(self.read(DR.LOOP_STATUS) & LoopStatus.LCR)

    def sense_volts(self, register: DR) -> float:
        return self.read(register) * SENSE_VOLTS_PER_LSB


async def _poll(clock: Clock, timeout_s: float, done: Callable[[], bool]) -> bool:
    """Call `done()` every POLL_S until it is true or `timeout_s` passed."""
    deadline = clock.now() + timeout_s
    while True:
        if done():
            return True
        if clock.now() >= deadline:
            return False
        await clock.sleep(POLL_S)


async def identify_chip(chip: ProSlicChip) -> ChipIdentity:
    """AN35 step 8: is a ProSLIC there and talking? Sets `chip.identity`."""
    dr0, dr1 = chip.read(DR.SPI_MODE), chip.read(DR.PCM_MODE)
    identity = identify(dr0, dr1)
    if identity is None:
        raise DeviceNotResponding(chip.device, f"no ProSLIC answers on SPI (DR0 reads "
                                               f"0x{dr0:02X})")
    hybrid = chip.read(DR.HYBRID)
    if hybrid != HYBRID_RESET_VALUE:
        raise DeviceNotResponding(chip.device, f"DR11 reads 0x{hybrid:02X}, a ProSLIC "
                                               f"reads 0x{HYBRID_RESET_VALUE:02X}")
    if identity.revision < MIN_REVISION:
        raise DeviceFault(chip.device, f"{identity.part} revision {identity.revision} is too "
                                       f"old (need ≥ {MIN_REVISION})")
    chip.identity = identity
    return identity


async def initialise(chip: ProSlicChip, clock: Clock, settings: ProSlicSettings,
                     pcm_slot: int) -> InitReport:
    """Bring the chip from reset (or any state) to a calibrated, quiet, open line with the
    port's settings loaded; the caller then sets the linefeed. Raises `DeviceError`s."""
    identity = await identify_chip(chip)
    # Quiesce first ([OUF] step 2): converter down, line open, no interrupts.
    chip.write(DR.POWERDOWN1, DCDC_POWERED_DOWN)
    chip.write(DR.LINEFEED, LinefeedCode.OPEN)
    for register in (DR.IRQ_ENABLE1, DR.IRQ_ENABLE2, DR.IRQ_ENABLE3):
        chip.write(register, 0)
    chip.write_checked(DR.PCM_TX_START_LO, 0xAA)  # [SLREF]: a scratch write must read back
    await _yield()
    await _load_indirect(chip, {**INDIRECT_INITIAL,
                                **POWER_ALARM_THRESHOLDS[settings.linefeed_circuit]})
    # AN35 step 10.
    chip.write(DR.LOOPBACK, 0)
    chip.write(DR.ENHANCEMENT, ENHANCEMENT_REV_E)
    vbat_v = await _power_up(chip, clock, settings)
    dcdc_cal = await _calibrate_dcdc(chip, clock, settings)
    await _calibrate(chip, clock)
    ring_cal, tip_cal = await _calibrate_manual(chip, clock)
    balanced = await _calibrate_balance(chip, clock)
    await _finish(chip, settings, pcm_slot, identity)
    return InitReport(identity, vbat_v, dcdc_cal, ring_cal, tip_cal, balanced)


async def _load_indirect(chip: ProSlicChip, values: Mapping[IR, int]) -> None:
    """Write then read back every indirect register ([SLREF] verifies the same way)."""
    items = [(ir, v) for ir, v in values.items() if chip.address(ir) is not None]
    for i, (register, value) in enumerate(items):
        chip.write_indirect(register, value)
        if i % BATCH == BATCH - 1:
            await _yield()
    await _yield()
    for i, (register, value) in enumerate(items):
        got = chip.read_indirect(register)
        if got != value:
            shown = "nothing" if got is None else f"0x{got:04X}"
            raise DeviceFault(chip.device, f"indirect register {register.name} (IR{int(register)})"
                                           f" reads back {shown}, not 0x{value:04X}")
        if i % READ_BATCH == READ_BATCH - 1:
            await _yield()
    await _yield()


async def _power_up(chip: ProSlicChip, clock: Clock, settings: ProSlicSettings) -> float:
    """AN35 step 12 as [SLAPI] powerUp: slow PWM, targets, foreign-voltage check, converter on,
    wait for VBAT."""
    chip.write(DR.BATTERY_FEED, 0x01)
    chip.write(DR.DCDC_PWM_PERIOD, DCDC_SLOW_PERIOD)
    chip.write(DR.DCDC_SWITCH_DELAY, DCDC_SLOW_OFF_TIME)
    chip.write(DR.VBAT_HIGH, volts_register(settings.vbat_high_v))
    chip.write(DR.VBAT_LOW, volts_register(settings.vbat_low_v))
    chip.write(DR.LOOP_CURRENT_LIMIT,
               (settings.loop_current_ma - LOOP_CURRENT_MIN_MA) // LOOP_CURRENT_STEP_MA)
    tip, ring = chip.read(DR.TIP_SENSE), chip.read(DR.RING_SENSE)
    if max(tip, ring) > FOREIGN_VOLTAGE_SENSE_MAX:
        raise LineFault(chip.device, f"foreign voltage on the line before power-up: tip "
                                     f"{tip * SENSE_VOLTS_PER_LSB:.0f} V, ring "
                                     f"{ring * SENSE_VOLTS_PER_LSB:.0f} V")
    chip.write(DR.POWERDOWN1, 0)
    target = max(0.0, settings.vbat_high_v - DCDC_MARGIN_V) / SENSE_VOLTS_PER_LSB
    if not await _poll(clock, DCDC_POWER_UP_TIMEOUT_S,
                       lambda: chip.read(DR.VBAT_SENSE) >= target):
        got = chip.sense_volts(DR.VBAT_SENSE)
        chip.write(DR.POWERDOWN1, DCDC_POWERED_DOWN)  # [OUF]: do not leave it struggling
        raise DeviceFault(chip.device, f"DC-DC converter reached only {got:.0f} V of "
                                       f"{settings.vbat_high_v:g} V")
    return chip.sense_volts(DR.VBAT_SENSE)


async def _calibrate_dcdc(chip: ProSlicChip, clock: Clock, settings: ProSlicSettings) -> int:
    """The board's PWM timing, then DCCAL ([SLAPI] powerUp tail, [OUF])."""
    chip.write(DR.DCDC_PWM_PERIOD, settings.dcdc_pwm_period)
    chip.write(DR.DCDC_SWITCH_DELAY, settings.dcdc_min_off_time)
    await clock.sleep(DCDC_CAL_SETTLE_S)
    chip.write(DR.DCDC_SWITCH_DELAY, DCDC_CAL | settings.dcdc_min_off_time)
    if not await _poll(clock, DCDC_CAL_TIMEOUT_S,
                       lambda: not chip.read(DR.DCDC_SWITCH_DELAY) & DCDC_CAL):
        raise DeviceFault(chip.device, "DC-DC calibration did not finish")
    result = chip.read(DR.DCDC_CAL_RESULT)
    if result not in DCDC_CAL_RESULT_SANE:
        log.warning("%s: DC-DC calibration gave %d; using %d", chip.device, result,
                    DCDC_CAL_FALLBACK)
        chip.write(DR.DCDC_CAL_RESULT, DCDC_CAL_FALLBACK)
        result = DCDC_CAL_FALLBACK
    return result


async def _calibrate(chip: ProSlicChip, clock: Clock) -> None:
    """AN35 steps 14–15: interrupts off, line open, ADC/DAC/ILIM calibration."""
    for register in (DR.IRQ_ENABLE1, DR.IRQ_ENABLE2, DR.IRQ_ENABLE3):
        chip.write(register, 0)
    chip.write(DR.LINEFEED, LinefeedCode.OPEN)
    chip.write(DR.CAL_CONTROL2, CAL2_STANDARD)
    chip.write(DR.CAL_CONTROL1, CAL1_STANDARD)
    if not await _poll(clock, CAL_TIMEOUT_S, lambda: chip.read(DR.CAL_CONTROL1) == 0):
        raise DeviceFault(chip.device, "ADC/DAC/ILIM calibration did not finish (DR96)")


async def _calibrate_manual(chip: ProSlicChip, clock: Clock) -> tuple[int, int]:
    """AN35 step 16: step the RING then TIP gain-mismatch registers down from 0x1F until the
    Q5 (then Q6) current sense reads 0."""
    chip.write(DR.TIP_GAIN_CAL, TIP_CAL_PRESET)
    found = []
    for register, sense, name in ((DR.RING_GAIN_CAL, DR.Q5_CURRENT_SENSE, "Q5"),
                                   (DR.TIP_GAIN_CAL, DR.Q6_CURRENT_SENSE, "Q6")):
        for step in range(MANUAL_CAL_START, 0, -1):
            chip.write(register, step)
            await clock.sleep(MANUAL_CAL_SETTLE_S)
            if chip.read(sense) == 0:
                found.append(step)
                break
        else:
            raise DeviceFault(chip.device, f"{name} current calibration failed "
                                           f"(DR{int(sense)} never reads 0)")
    return found[0], found[1]


async def _calibrate_balance(chip: ProSlicChip, clock: Clock) -> bool:
    """AN35 steps 17–19: longitudinal balance calibration, which needs the phone on hook."""
    chip.write(DR.IRQ_ENABLE3, Irq3.CM_BALANCE)
    chip.write(DR.LINEFEED, LinefeedCode.FORWARD_ACTIVE)
    await clock.sleep(BALANCE_CHECK_S)
    off_hook = chip.loop_closed()
    chip.write(DR.LINEFEED, LinefeedCode.OPEN)
    if off_hook:
        log.warning("%s: phone off-hook; longitudinal balance calibration skipped",
                    chip.device)
        chip.write(DR.IRQ_ENABLE3, 0)
        return False
    chip.write(DR.CAL_CONTROL2, CAL2_LONGITUDINAL)
    chip.write(DR.CAL_CONTROL1, CAL_START)
    if not await _poll(clock, CAL_TIMEOUT_S, lambda: chip.read(DR.CAL_CONTROL1) == 0):
        raise DeviceFault(chip.device, "longitudinal balance calibration did not finish")
    error = chip.read(DR.IRQ_STATUS3) & Irq3.CM_BALANCE
    chip.write(DR.IRQ_ENABLE3, 0)
    if error:
        chip.write(DR.IRQ_STATUS3, Irq3.CM_BALANCE)
        log.warning("%s: longitudinal balance calibration reported an error", chip.device)
        return False
    return True


async def _finish(chip: ProSlicChip, settings: ProSlicSettings, pcm_slot: int,
                  identity: ChipIdentity) -> None:
    """AN35 steps 20–21 and the port's own settings."""
    flush = ACCUMULATORS_SI3215 if identity.part is Part.SI3215 else ACCUMULATORS_SI3210
    for i, address in enumerate(flush):
        chip.write_indirect_at(address, 0)
        if i % BATCH == BATCH - 1:
            await _yield()
    await _yield()
    chip.take_interrupts()
    for i, (register, value) in enumerate(FILTERS_FINAL[settings.linefeed_circuit].items()):
        chip.write_indirect(register, value)
        if i % BATCH == BATCH - 1:
            await _yield()
    await _yield()
    chip.write(DR.LOOP_DEBOUNCE_SILENT, debounce_counts(settings.silent_loop_debounce_ms))
    chip.write(DR.AUTO_MANUAL, AUTO_ALL)
    chip.write(DR.LOOP_DEBOUNCE, debounce_counts(settings.loop_debounce_ms))
    chip.write(DR.RING_TRIP_DEBOUNCE, debounce_counts(settings.ring_trip_debounce_ms))
    chip.write(DR.EXT_TRANSISTOR, 0x61)
    chip.write(DR.ON_HOOK_VOLTAGE, volts_register(settings.on_hook_voltage_v))
    chip.write(DR.COMMON_MODE_VOLTAGE, 0x02)
    await _yield()
    # PCM: one 8-bit companded sample per frame, slot n starts n·8 PCLK cycles after FSYNC.
    start = pcm_slot * 8
    chip.write(DR.PCM_TX_START_LO, start & 0xFF)
    chip.write(DR.PCM_TX_START_HI, start >> 8)
    chip.write(DR.PCM_RX_START_LO, start & 0xFF)
    chip.write(DR.PCM_RX_START_HI, start >> 8)
    chip.write_checked(DR.PCM_MODE, PCM_ENABLE | settings.pcm_law.code << PCM_FORMAT_SHIFT,
                       mask=0xFF & ~SI3215_FAMILY)
    await _yield()
    # The ring oscillator (IR19–22): no DC offset, start at phase 0.
    chip.write_indirect(IR.RING_V_OFF, 0)
    chip.write_indirect(IR.RING_OSC, ring_coefficient(settings.ring_frequency_hz))
    chip.write_indirect(IR.RING_X, ring_amplitude(settings.ring_frequency_hz,
                                                  settings.ring_vpk))
    chip.write_indirect(IR.RING_Y, 0)
    chip.write(DR.RING_OSC_CONTROL, 0)
    await _yield()
    chip.take_interrupts()
    # Ring trip, loop closure and the six power alarms; no timer, DTMF or indirect interrupts.
    chip.write(DR.IRQ_ENABLE1, 0)
    chip.write_checked(DR.IRQ_ENABLE2, Irq2.RING_TRIP | Irq2.LOOP_CLOSURE | 0xFC)
    chip.write(DR.IRQ_ENABLE3, 0)
