"""An emulated Si3210/Si3215 ProSLIC on SPI, with the phone line and the phone behind it.

Driver tests run the real driver against this. It models, from the sources listed in
`registers.py`:

- SPI: two-byte frames, control byte (bit 7 read, bits 6:0 address) then data; a chip that
  does not answer returns the idle MISO level (0xFF with a pull-up) for every byte.
- Direct registers with their reset values (DR8 = 0x02, DR11 = 0x33, DR64 = 0: verified;
  the other defaults are the ones OpenUSBFXS names) and read-only status registers; indirect
  registers through IDA/IAA with the IAS busy flag, which stays set for two SPI frames after
  IAA is written. An indirect write is IAA after IDA was written, a read is IAA alone (every
  driver we read works that way; the datasheet text itself was not available to us).
- The AN35 sequence: the DC-DC converter (DR14) charges VBAT (DR82, 0.376 V/LSB) to the DR74
  target in 50 ms; DCCAL (DR93 bit 7) takes 20 ms; CAL (DR96) takes 200 ms (100 ms for the
  longitudinal balance calibration, which flags DR20 bit 2 if the phone is off-hook); the
  manual Q5/Q6 calibration reads DR88/DR89 nonzero while DR98/DR99 is above this chip's
  calibration point, 30 ms after each step.
- The linefeed (DR64 LF, LFS), loop closure detection with the DR69 debounce, the interrupt
  status/enable registers (status bits are set only when enabled, cleared by writing 1), and an
  edge on the INT line when the first status bit is set.
- Ringing: LF = RINGING drives the ring oscillator (IR20 frequency, IR21 amplitude, capped by
  VBAT), continuously, or in bursts timed by the ring active/inactive timers (DR48–51, 125 µs)
  when DR34 enables both; ring trip after the DR70 debounce in a burst or the DR63 debounce in
  a pause; automatic switch to forward active on ring trip and to open on a power alarm (the
  ProSLIC family's automatic transitions, [DS3220] Table 50: assumed for the Si3210).
- The phone: lifts, hangs up, flashes and pulse-dials with contact bounce and real timing; hears
  ring bursts it can ring on (14–70 Hz, ≥ 42 Vpk ≈ 30 Vrms), on-hook transmission windows, line
  polarity and a neon message-waiting lamp (on-hook voltage ≥ 90 V).
- Faults: `answering = False`, `dcdc_fails`, `inject_foreign_voltage()`,
  `inject_power_alarm()`, `reset()`.

What the driver does against the AN35 order or the access protocol is a *violation*: recorded
in `violations` and, with `strict=True`, raised as `EmulatorProtocolError` from the SPI call —
so a driver bug fails the test at the frame that caused it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from drivers.proslic.registers import (
    DEBOUNCE_LSB_S,
    DR,
    IR,
    LF_MASK,
    SENSE_VOLTS_PER_LSB,
    SI3210_ADDRESSES,
    SI3215_ADDRESSES,
    SI3215_FAMILY,
    TIMER_LSB_S,
    VOLTS_PER_STEP,
    Irq1,
    Irq2,
    Irq3,
    LinefeedCode,
    Part,
    ring_frequency_hz,
    ring_vpk,
)
from hal.clock import Clock, TimerHandle
from hal.linesignal import PulseTiming

log = logging.getLogger(__name__)

INDIRECT_BUSY_FRAMES = 2
DCDC_RISE_S = 0.05
DCDC_CAL_S = 0.02
CAL_STANDARD_S = 0.2
CAL_BALANCE_S = 0.1
MANUAL_CAL_SETTLE_S = 0.03
POWER_ALARM_DELAY_S = 0.005
PHONE_RING_MIN_VPK = 42.0
PHONE_RING_BAND_HZ = (14.0, 70.0)
NEON_MIN_V = 90.0
MIN_BATTERY_V = 20.0

_ACTIVE = frozenset({LinefeedCode.FORWARD_ACTIVE, LinefeedCode.FORWARD_OHT,
                     LinefeedCode.REVERSE_ACTIVE, LinefeedCode.REVERSE_OHT})
_OHT = frozenset({LinefeedCode.FORWARD_OHT, LinefeedCode.REVERSE_OHT})
_REVERSE = frozenset({LinefeedCode.REVERSE_ACTIVE, LinefeedCode.REVERSE_OHT})
_PART_BITS = {Part.SI3210: 0, Part.SI3211: 1, Part.SI3212: 2, Part.SI3210M: 3, Part.SI3215: 0}
_RESET_VALUES = {
    DR.LOOPBACK: 0x02, DR.HYBRID: 0x33, DR.POWERDOWN1: 0x10, DR.EXT_TRANSISTOR: 0x61,
    DR.AUTO_MANUAL: 0x1F, DR.LOOP_DEBOUNCE_SILENT: 0x54, DR.LOOP_DEBOUNCE: 0x0A,
    DR.RING_TRIP_DEBOUNCE: 0x0A, DR.ON_HOOK_VOLTAGE: 0x20, DR.COMMON_MODE_VOLTAGE: 0x02,
    DR.VBAT_HIGH: 0x32, DR.VBAT_LOW: 0x10,
}
_STATUS = (DR.IRQ_STATUS1, DR.IRQ_STATUS2, DR.IRQ_STATUS3)
_ENABLE = (DR.IRQ_ENABLE1, DR.IRQ_ENABLE2, DR.IRQ_ENABLE3)


class EmulatorProtocolError(AssertionError):
    """The driver broke the chip's access protocol or the AN35 order."""


@dataclass(slots=True)
class RingBurst:
    """One burst of ring voltage the phone heard."""

    start: float
    end: float | None
    frequency_hz: float
    vpk: float


class EmulatedInterruptLine:
    """The INT pin as `drivers.proslic.port.InterruptLine`: handlers run on the transition
    to active, like gpiozero's `when_activated`."""

    def __init__(self) -> None:
        self._handlers: list[Callable[[], None]] = []
        self._active = False
        self.edges = 0
        """Transitions to active so far."""

    @property
    def is_active(self) -> bool:
        return self._active

    def add_handler(self, handler: Callable[[], None]) -> None:
        self._handlers.append(handler)

    def remove_handler(self, handler: Callable[[], None]) -> None:
        if handler in self._handlers:
            self._handlers.remove(handler)

    def _set(self, active: bool) -> None:
        rising = active and not self._active
        self._active = active
        if rising:
            self.edges += 1
            for handler in list(self._handlers):
                handler()


class EmulatedResetLine:
    """The RESET pin as `drivers.proslic.port.ResetLine`: 250 ms low, 250 ms to settle."""

    def __init__(self, chip: ProSlicEmulator, clock: Clock, hold_s: float = 0.25) -> None:
        self._chip = chip
        self._clock = clock
        self._hold_s = hold_s
        self.pulses = 0

    async def pulse(self) -> None:
        self.pulses += 1
        self._chip.hold_reset(True)
        await self._clock.sleep(self._hold_s)
        self._chip.hold_reset(False)
        await self._clock.sleep(self._hold_s)


class ProSlicEmulator:
    """One ProSLIC on its chip select, as `drivers.proslic.chip.SpiBus`, with `phone` on its
    line and `interrupt` its INT pin. Timing runs on `clock`."""

    def __init__(self, clock: Clock, *, part: Part = Part.SI3210, revision: int = 5,
                 strict: bool = True, ring_cal_point: int = 0x17, tip_cal_point: int = 0x15,
                 dcdc_cal_result: int = 0x09) -> None:
        self._clock = clock
        self.part = part
        self.revision = revision
        self.strict = strict
        self.ring_cal_point = ring_cal_point
        self.tip_cal_point = tip_cal_point
        self.dcdc_cal_result = dcdc_cal_result
        self.violations: list[str] = []
        self.interrupt = EmulatedInterruptLine()
        self.phone = EmulatedPhone(self, clock)
        self.answering = True
        """False: nothing on the chip select (unplugged module, dead chip)."""
        self.miso_idle = 0xFF
        """What a silent bus reads: 0xFF with a pull-up on MISO, 0x00 with a pull-down."""
        self.dcdc_fails = False
        """True: the converter never charges VBAT (broken inductor or FET)."""
        self.foreign_voltage_v = 0.0
        self.frames = 0
        self.resets = 0
        self.closed = False
        self._timers: dict[str, TimerHandle] = {}
        self._reset_held = False
        self._power_on()

    # --- SPI ---------------------------------------------------------------------------------

    def xfer2(self, values: list[int]) -> list[int]:
        """One chip-select frame. Raises OSError once closed, EmulatorProtocolError (strict)
        for a frame that is not control + data."""
        if self.closed:
            raise OSError(9, "SPI device closed")
        if not self.answering or self._reset_held:
            return [self.miso_idle] * len(values)
        if len(values) != 2:
            self._violate(f"an SPI frame to the ProSLIC is 2 bytes (control, data), "
                          f"not {len(values)}")
            return [self.miso_idle] * len(values)
        self.frames += 1
        self._tick_indirect()
        control, data = values[0] & 0xFF, values[1] & 0xFF
        register = control & 0x7F
        if control & 0x80:
            return [0x00, self._read(register)]
        self._write(register, data)
        return [0x00, 0x00]

    def close(self) -> None:
        self.closed = True

    # --- test controls -------------------------------------------------------------------------

    def reset(self) -> None:
        """The chip resets (power glitch, RESET pulse): every register back to its default."""
        self._power_on()

    def hold_reset(self, held: bool) -> None:
        if held and not self._reset_held:
            self._power_on()
        self._reset_held = held

    def inject_power_alarm(self, transistor: int = 5) -> None:
        """Transistor Q`transistor` (1–6) overheats: power alarm, the chip opens the line."""
        if not 1 <= transistor <= 6:
            raise ValueError("transistors are Q1-Q6")
        self._power_alarm(transistor)

    def inject_foreign_voltage(self, volts: float = 48.0) -> None:
        """Another line's battery on our pair: sensed on tip/ring, and a power alarm as soon
        as we drive the line."""
        self.foreign_voltage_v = volts
        if self._lfs is not LinefeedCode.OPEN:
            self._after("alarm", POWER_ALARM_DELAY_S, lambda: self._power_alarm(5))

    def clear_line_fault(self) -> None:
        self.foreign_voltage_v = 0.0

    # --- observation -------------------------------------------------------------------------

    def register(self, register: int) -> int:
        """A direct register as the driver would read it (no side effects on IAS)."""
        return self._read(register)

    def indirect(self, register: IR) -> int:
        address = self._address(register)
        return 0 if address is None else self._ir[address]

    @property
    def linefeed(self) -> LinefeedCode:
        """LFS: what the chip applies to the line now."""
        return self._lfs

    @property
    def vbat_v(self) -> float:
        return self._vbat_v(self._clock.now())

    @property
    def calibrated(self) -> bool:
        return self._cal_done

    @property
    def balance_calibrated(self) -> bool:
        return self._balance_done

    # --- power-on state ------------------------------------------------------------------------

    def _power_on(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self.resets += 1
        self._dr = [0] * 128
        for register, value in _RESET_VALUES.items():
            self._dr[register] = value
        self._dr[DR.SPI_MODE] = _PART_BITS[self.part] << 4 | (self.revision & 0x0F)
        self._ir = [0] * 256
        self._ida_written = False
        self._indirect_busy = 0
        self._pending_read: int | None = None
        self._status = [0, 0, 0]
        self._lf = LinefeedCode.OPEN
        self._lfs = LinefeedCode.OPEN
        self._lcr = False
        self._rtp = False
        self._raw_loop = self.phone.loop_closed
        self._dcdc_on_at: float | None = None
        self._cal_done = False
        self._balance_done = False
        self._cal_kind = 0
        self._ring_burst = False
        self._manual = {DR.RING_GAIN_CAL: (0, float("-inf"), 0),
                        DR.TIP_GAIN_CAL: (0, float("-inf"), 0)}
        self.interrupt._set(False)
        self.phone._linefeed_changed(LinefeedCode.OPEN, self._clock.now())

    # --- registers ---------------------------------------------------------------------------

    def _read(self, register: int) -> int:
        now = self._clock.now()
        if register == DR.SPI_MODE:
            return self._dr[DR.SPI_MODE]
        if register == DR.PCM_MODE:
            family = SI3215_FAMILY if self.part is Part.SI3215 else 0
            return family | (self._dr[DR.PCM_MODE] & 0x7F)
        if register in _STATUS:
            return self._status[_STATUS.index(DR(register))]
        if register in (DR.IDA_LO, DR.IDA_HI) and self._indirect_busy:
            self._violate("IDA (DR28/29) read while the indirect access is pending: poll IAS "
                          "(DR31) until 0 first")
        if register == DR.IAS:
            return 1 if self._indirect_busy else 0
        if register == DR.LINEFEED:
            return self._lfs << 4 | self._lf
        if register == DR.LOOP_STATUS:
            return int(self._lcr) | int(self._rtp) << 1
        if register in (DR.TIP_SENSE, DR.RING_SENSE):
            return self._sense(register, now)
        if register in (DR.VBAT_SENSE, DR.VBAT_SENSE + 1):
            return min(0xFF, int(self._vbat_v(now) / SENSE_VOLTS_PER_LSB))
        if register in (DR.Q5_CURRENT_SENSE, DR.Q6_CURRENT_SENSE):
            return self._manual_sense(register, now)
        return self._dr[register]

    def _write(self, register: int, value: int) -> None:
        now = self._clock.now()
        if register == DR.SPI_MODE:
            if value & 0x80:
                self._violate("DR0 bit 7 selects daisy-chain SPI, which is not emulated")
            return
        if register in _STATUS:
            index = _STATUS.index(DR(register))
            self._status[index] &= ~value
            self._update_int()
            return
        if register in (DR.IDA_LO, DR.IDA_HI):
            if self._indirect_busy:
                self._violate("IDA (DR28/29) written while an indirect access is pending: "
                              "poll IAS (DR31) until 0 first")
            self._dr[register] = value
            self._ida_written = True
            return
        if register == DR.IAA:
            self._start_indirect(value)
            return
        if register in (DR.IAS, DR.LOOP_STATUS, DR.TIP_SENSE, DR.RING_SENSE, DR.VBAT_SENSE,
                        DR.Q5_CURRENT_SENSE, DR.Q6_CURRENT_SENSE):
            return  # read-only
        self._dr[register] = value
        if register == DR.POWERDOWN1:
            if value & 0x10:
                self._dcdc_on_at = None
            elif self._dcdc_on_at is None:
                self._dcdc_on_at = now
        elif register == DR.LINEFEED:
            self._apply_linefeed(LinefeedCode(value & LF_MASK))
        elif register == DR.DCDC_SWITCH_DELAY and value & 0x80:
            if self._vbat_v(now) < MIN_BATTERY_V:
                self._violate("DC-DC calibration (DR93 bit 7) with the converter down")
            self._after("dccal", DCDC_CAL_S, self._dcdc_cal_done)
        elif register == DR.CAL_CONTROL1 and value & 0x40:
            self._start_calibration(now)
        elif register in (DR.RING_GAIN_CAL, DR.TIP_GAIN_CAL):
            old, at, previous = self._manual[DR(register)]
            settled = old if now - at >= MANUAL_CAL_SETTLE_S else previous
            self._manual[DR(register)] = (value, now, settled)

    def _start_indirect(self, address: int) -> None:
        if self._indirect_busy:
            self._violate("IAA (DR30) written while the previous indirect access is pending: "
                          "poll IAS (DR31) until 0 first")
        if self._ida_written:
            self._ir[address] = self._dr[DR.IDA_HI] << 8 | self._dr[DR.IDA_LO]
            self._pending_read = None
        else:
            self._pending_read = address
        self._ida_written = False
        self._indirect_busy = INDIRECT_BUSY_FRAMES

    def _tick_indirect(self) -> None:
        if not self._indirect_busy:
            return
        self._indirect_busy -= 1
        if not self._indirect_busy and self._pending_read is not None:
            value = self._ir[self._pending_read]
            self._dr[DR.IDA_LO], self._dr[DR.IDA_HI] = value & 0xFF, value >> 8
            self._pending_read = None

    def _address(self, register: IR) -> int | None:
        table = SI3215_ADDRESSES if self.part is Part.SI3215 else SI3210_ADDRESSES
        return table[register]

    def _violate(self, what: str) -> None:
        self.violations.append(what)
        log.debug("emulated ProSLIC: protocol violation: %s", what)
        if self.strict:
            raise EmulatorProtocolError(what)

    # --- converter and calibration -------------------------------------------------------------

    def _vbat_v(self, now: float) -> float:
        if self._dcdc_on_at is None or self.dcdc_fails:
            return 0.0
        target = self._dr[DR.VBAT_HIGH] * VOLTS_PER_STEP
        return min(target, target * (now - self._dcdc_on_at) / DCDC_RISE_S)

    def _dcdc_cal_done(self) -> None:
        self._dr[DR.DCDC_SWITCH_DELAY] &= 0x7F
        self._dr[DR.DCDC_CAL_RESULT] = self.dcdc_cal_result

    def _start_calibration(self, now: float) -> None:
        kind = self._dr[DR.CAL_CONTROL2]
        if self._lfs is not LinefeedCode.OPEN:
            self._violate("AN35 step 14: calibrate with the line open (DR64 = 0)")
        target = self._dr[DR.VBAT_HIGH] * VOLTS_PER_STEP
        if self._vbat_v(now) < target - 6.0:
            self._violate("AN35 step 12 comes before 14: the DC-DC converter must be up "
                          "before calibrating")
        if kind & 0x01 and not self._cal_done:
            self._violate("AN35: the longitudinal balance calibration (steps 17-19) comes "
                          "after the ADC/DAC/ILIM calibration (steps 14-15)")
        self._cal_kind = kind
        duration = CAL_BALANCE_S if kind == 0x01 else CAL_STANDARD_S
        self._after("cal", duration, self._calibration_done)

    def _calibration_done(self) -> None:
        self._dr[DR.CAL_CONTROL1] = 0
        if self._cal_kind & 0x01:
            if self.phone.loop_closed:
                self._raise(2, Irq3.CM_BALANCE)  # calibrating against an off-hook loop
            else:
                self._balance_done = True
        if self._cal_kind & 0x1E:
            self._cal_done = True

    def _manual_sense(self, register: int, now: float) -> int:
        source = DR.RING_GAIN_CAL if register == DR.Q5_CURRENT_SENSE else DR.TIP_GAIN_CAL
        value, at, previous = self._manual[source]
        effective = value if now - at >= MANUAL_CAL_SETTLE_S else previous
        point = self.ring_cal_point if source == DR.RING_GAIN_CAL else self.tip_cal_point
        return 0 if effective <= point else min(0xFF, (effective - point) * 12)

    # --- line ----------------------------------------------------------------------------------

    def _sense(self, register: int, now: float) -> int:
        if self._lfs is LinefeedCode.OPEN:
            volts = self.foreign_voltage_v
        else:
            vcm = self._dr[DR.COMMON_MODE_VOLTAGE] * VOLTS_PER_STEP
            voc = 8.0 if self._lcr else self._dr[DR.ON_HOOK_VOLTAGE] * VOLTS_PER_STEP
            low, high = vcm, min(self._vbat_v(now), vcm + voc)
            tip_low = self._lfs not in _REVERSE
            volts = low if (register == DR.TIP_SENSE) == tip_low else high
        return min(0xFF, int(volts / SENSE_VOLTS_PER_LSB))

    def _apply_linefeed(self, code: LinefeedCode, automatic: bool = False) -> None:
        now = self._clock.now()
        if code is not LinefeedCode.OPEN and not automatic:
            if not self._cal_done:
                self._violate(f"AN35 steps 14-16: the line is driven ({code.name}) before "
                              "the chip is calibrated")
            elif self._vbat_v(now) < MIN_BATTERY_V:
                self._violate(f"the line is driven ({code.name}) with the DC-DC converter "
                              "down: no battery")
        self._lf = code
        self._lfs = code
        self._cancel("ring")
        self._cancel("trip")
        if self._ring_burst:
            self._burst(False)
        if code is LinefeedCode.RINGING:
            self._rtp = False
            self._start_ringing()
        elif code in _ACTIVE:
            self._debounce_lcr()
        else:
            self._lcr = False
            self._cancel("lcr")
        if self.foreign_voltage_v and code is not LinefeedCode.OPEN:
            self._after("alarm", POWER_ALARM_DELAY_S, lambda: self._power_alarm(5))
        self.phone._linefeed_changed(code, now)

    def _loop_edge(self, closed: bool) -> None:
        """The phone's hook contact moved (every raw edge, bounces included)."""
        self._raw_loop = closed
        if self._lfs in _ACTIVE:
            self._debounce_lcr()
        elif self._lfs is LinefeedCode.RINGING:
            self._trip_check()

    def _debounce_lcr(self) -> None:
        if self._raw_loop == self._lcr:
            self._cancel("lcr")
            return
        self._after("lcr", self._dr[DR.LOOP_DEBOUNCE] * DEBOUNCE_LSB_S, self._lcr_settled)

    def _lcr_settled(self) -> None:
        if self._lfs not in _ACTIVE or self._raw_loop == self._lcr:
            return
        self._lcr = self._raw_loop
        if not self._lcr:
            self._rtp = False
        self._raise(1, Irq2.LOOP_CLOSURE)

    # --- ringing -------------------------------------------------------------------------------

    def _timers_on(self) -> bool:
        control = self._dr[DR.RING_OSC_CONTROL]
        return (control & 0x18) == 0x18 and self._timer(DR.RING_ACTIVE_LO) > 0 \
            and self._timer(DR.RING_INACTIVE_LO) > 0

    def _timer(self, low: int) -> int:
        return self._dr[low] | self._dr[low + 1] << 8

    def _start_ringing(self) -> None:
        self._burst(True)
        if self._timers_on():
            self._after("ring", self._timer(DR.RING_ACTIVE_LO) * TIMER_LSB_S, self._ring_ended)

    def _ring_ended(self) -> None:
        """Active timer expired: the burst ends, the silent period begins."""
        self._burst(False)
        self._raise(0, Irq1.RING_T1)
        self._after("ring", self._timer(DR.RING_INACTIVE_LO) * TIMER_LSB_S, self._ring_again)

    def _ring_again(self) -> None:
        self._raise(0, Irq1.RING_T2)
        self._burst(True)
        self._after("ring", self._timer(DR.RING_ACTIVE_LO) * TIMER_LSB_S, self._ring_ended)

    def _burst(self, on: bool) -> None:
        self._ring_burst = on
        now = self._clock.now()
        address_f, address_x = self._address(IR.RING_OSC), self._address(IR.RING_X)
        frequency = ring_frequency_hz(self._ir[address_f]) if address_f is not None else 0.0
        amplitude = self._ir[address_x] if address_x is not None else 0
        vpk = min(ring_vpk(frequency, amplitude), self._vbat_v(now))
        self.phone._bell(on, now, frequency, vpk)
        self._trip_check()

    def _trip_check(self) -> None:
        if self._lfs is not LinefeedCode.RINGING or not self._raw_loop:
            self._cancel("trip")
            return
        register = DR.RING_TRIP_DEBOUNCE if self._ring_burst else DR.LOOP_DEBOUNCE_SILENT
        self._after("trip", self._dr[register] * DEBOUNCE_LSB_S, self._ring_trip)

    def _ring_trip(self) -> None:
        if self._lfs is not LinefeedCode.RINGING or not self._raw_loop:
            return
        self._rtp = True
        self._raise(1, Irq2.RING_TRIP)
        self._apply_linefeed(LinefeedCode.FORWARD_ACTIVE, automatic=True)

    def _power_alarm(self, transistor: int) -> None:
        if self._lfs is LinefeedCode.OPEN:
            return  # no current, no dissipation
        self._raise(1, 0x02 << transistor)
        self._apply_linefeed(LinefeedCode.OPEN, automatic=True)

    # --- interrupts and timers -----------------------------------------------------------------

    def _raise(self, index: int, bit: int) -> None:
        if self._dr[_ENABLE[index]] & bit:
            self._status[index] |= bit
            self._update_int()

    def _update_int(self) -> None:
        self.interrupt._set(any(self._status))

    def _after(self, name: str, delay_s: float, action: Callable[[], None]) -> None:
        self._cancel(name)

        def run() -> None:
            self._timers.pop(name, None)
            action()

        self._timers[name] = self._clock.call_at(self._clock.now() + delay_s, run)

    def _cancel(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()


class EmulatedPhone:
    """An analog phone on the emulated line: stimulus, and what it saw and heard."""

    def __init__(self, chip: ProSlicEmulator, clock: Clock,
                 contact_bounce_ms: float = 2.0) -> None:
        self._chip = chip
        self._clock = clock
        self.contact_bounce_ms = contact_bounce_ms
        self._lifted = False
        self._closed = False
        self._busy_until = 0.0
        self._actions: list[TimerHandle] = []
        self.ring_bursts: list[RingBurst] = []
        self.oht_windows: list[tuple[float, float | None]] = []
        """On-hook transmission windows: (start, end), end None while open."""
        self.linefeed_log: list[tuple[float, LinefeedCode]] = []
        self._lfs = LinefeedCode.OPEN

    # --- what the user does --------------------------------------------------------------------

    def lift(self) -> None:
        if self._lifted:
            return
        self._lifted = True
        self._busy_until = self._clock.now()
        self._edge(True, self._clock.now())

    def hang_up(self) -> None:
        for action in self._actions:
            action.cancel()
        self._actions.clear()
        self._busy_until = self._clock.now()
        if self._lifted:
            self._lifted = False
            self._edge(False, self._clock.now())

    def flash(self, duration_ms: float = 100.0) -> float:
        """A timed break of `duration_ms` after whatever is in progress; seconds until done."""
        start = self._start()
        self._edge(False, start)
        self._edge(True, start + duration_ms / 1000.0)
        self._busy_until = start + duration_ms / 1000.0
        return self._busy_until - self._clock.now()

    def dial(self, digits: str, timing: PulseTiming | None = None) -> float:
        """Pulse-dial `digits` (10 pps, 60/40 ms, 700 ms between digits by default); seconds
        until the last make."""
        start = self._start()
        timing = timing or PulseTiming()
        counts = [timing.numbering.pulses(d) for d in digits]
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

    # --- what can be checked -------------------------------------------------------------------

    @property
    def is_off_hook(self) -> bool:
        return self._lifted

    @property
    def loop_closed(self) -> bool:
        return self._closed

    @property
    def bell_on(self) -> bool:
        return bool(self.ring_bursts) and self.ring_bursts[-1].end is None

    def ring_cadence_ms(self) -> list[int]:
        """On, off, on, … durations as rung so far."""
        out: list[int] = []
        for i, burst in enumerate(self.ring_bursts):
            if i:
                previous_end = self.ring_bursts[i - 1].end
                assert previous_end is not None
                out.append(round((burst.start - previous_end) * 1000))
            if burst.end is not None:
                out.append(round((burst.end - burst.start) * 1000))
        return out

    @property
    def line_reversed(self) -> bool:
        return self._lfs in _REVERSE

    @property
    def has_battery(self) -> bool:
        return self._lfs in _ACTIVE

    @property
    def mwi_lamp_lit(self) -> bool:
        """A neon lamp strikes on hook above ~90 V."""
        on_hook_v = self._chip.register(DR.ON_HOOK_VOLTAGE) * VOLTS_PER_STEP
        return self._lfs in _ACTIVE and not self._closed and on_hook_v >= NEON_MIN_V

    # --- the chip's side -----------------------------------------------------------------------

    def _start(self) -> float:
        if not self._lifted:
            raise RuntimeError("the handset is on-hook; lift() first")
        return max(self._clock.now(), self._busy_until)

    def _edge(self, closed: bool, at: float) -> None:
        bounce_s = self.contact_bounce_ms / 1000.0
        steps = [(closed, at)]
        if bounce_s > 0:
            steps += [(not closed, at + bounce_s * 0.4), (closed, at + bounce_s)]
        now = self._clock.now()
        for state, when in steps:
            if when <= now:
                self._apply(state)
            else:
                self._actions.append(self._clock.call_at(
                    when, functools.partial(self._apply, state)))

    def _apply(self, closed: bool) -> None:
        if closed != self._closed:
            self._closed = closed
            self._chip._loop_edge(closed)

    def _bell(self, on: bool, at: float, frequency_hz: float, vpk: float) -> None:
        low, high = PHONE_RING_BAND_HZ
        audible = low <= frequency_hz <= high and vpk >= PHONE_RING_MIN_VPK
        if on and audible and not self.bell_on:
            self.ring_bursts.append(RingBurst(at, None, frequency_hz, vpk))
        elif not on and self.bell_on:
            self.ring_bursts[-1].end = at

    def _linefeed_changed(self, code: LinefeedCode, at: float) -> None:
        if code is not self._lfs:
            self.linefeed_log.append((at, code))
        in_window = bool(self.oht_windows) and self.oht_windows[-1][1] is None
        if code in _OHT and not in_window:
            self.oht_windows.append((at, None))
        elif code not in _OHT and in_window:
            self.oht_windows[-1] = (self.oht_windows[-1][0], at)
        self._lfs = code
