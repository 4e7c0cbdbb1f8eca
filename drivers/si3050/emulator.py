"""An emulated Si3050 + Si3018/19 on an SPI daisy chain, and the exchange line behind it, so the
real driver runs in CI.

`Si3050Chain` is the SPI bus (`xfer2`, as spidev): a byte stream of control, address and data
bytes (control 0x20 write / 0x60 read, bit 7 broadcast, the channel bit-reversed in bits 4:0;
see `registers`). Every chip on it is a `Si3050Emulator`: the register file of `registers`,
reset values where known (register 6 = 0x10, line side powered down; 22 = 0x96, data sheet
p. 76; 31 = 0x20, FOH 128 ms; the rest 0x00, UNVERIFIED), and behind it:

- the isolation link: clearing PDL (register 6) brings frame lock (register 12 FDT) after
  `link_up_s` (15 ms, UNVERIFIED: Silicon Labs' self-test waits 50 ms); until then LSID/LREV
  (registers 11/13) read 0, LVS and LCS read 0, rings are not detected and OH cannot take the
  line off-hook; the power-up latches RDTI (Si306x Register 4 note);
- the hook: OH closes the loop; clearing it opens the loop after the country's on-hook speed
  (OHS/OHS2/SQ: 0.5, 3 or 26 ms);
- DC: the loop current solves the exchange's feed (battery behind a resistance) against the
  DAA's I/V line: ≈ 6 V · DCV/3.5 V plus a 50 Ω slope (800 Ω with DCR), and with ILIM a
  2000 Ω slope above 40 mA (data sheet §5.16, Figures 23/24; the 6 V intercept is read off
  Figure 23 and is approximate). LCS = mA / 3.3 (0x1F = overload); LVS = TIP/RING volts,
  signed by polarity, 0 at ≤ 3 V; POLI latches on every change of LVS bit 7; DODI when
  the loop current collapses off-hook; LCSOI on overload;
- ringing: RDTP/RDTN show the ring's AC beyond the threshold (RT/RT2), one sign each, while
  a burst is on, and LVS swings with it (latching POLI); with ring validation (RNGV) a burst
  counts once its frequency fits RAS/RMX (2 ms steps) and it lasted RCC (+RDLY), and ends RTO
  after the last crossing; RDT follows, and RDTI latches at the start and, with RDI, at the
  end. Without RNGV a polarity reversal alone (one crossing) is a "ring": the data
  sheet §5.25.1 warns that a reversal trips RDTP/RDTN. RDT clears when the chip goes off-hook;
- INT asserts while INTE and (mask & source) ≠ 0; the handler runs via `loop.call_soon`, as a
  gpiozero edge would through `call_soon_threadsafe`;
- AC: the ACIM network is compared with the line's nominal impedance as return loss over
  300–3400 Hz (`EmulatedLine.return_loss_db`).

Behaviour the data sheet forbids or that real hardware would silently ignore is recorded in
`violations` (read-only or reserved registers written, OH set while the line side is down,
OH with ONHM, malformed control bytes); the tests require none.

`EmulatedLine` is the exchange: battery and feed per `LineProfile` ("ru" 60 V, "eu" the TBR21
worst case 50 V / 230 Ω with its 60 mA limit, "us" 48 V), ringing with a cadence, polarity
reversal, a parallel set off-hook (the line drops to ≈ 8 V), a cut cable (no line voltage), a
timed battery drop (disconnect signal), and a `HookDecoder` reading the digits pulsed at it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from drivers.si3050.registers import (
    ACIM_MASK,
    ACIM_NETWORKS,
    CHANNEL_MASK,
    CONTROL_BROADCAST,
    CONTROL_FIXED,
    DCR,
    DCV_SHIFT,
    ILIM,
    LCS_MA_PER_BIT,
    LCS_OVERLOAD,
    LINE_SIDE_REVISION_DAA,
    LREV_SHIFT,
    LSID_SHIFT,
    RCC_MS,
    READ_ONLY,
    RNGV,
    RTO_STEP_MS,
    SQ_BITS,
    Acim,
    Ctrl1,
    Ctrl2,
    DaaCtrl1,
    DaaCtrl2,
    DaaCtrl5,
    Dcv,
    Interrupt,
    IntlCtrl1,
    IntlCtrl2,
    IntlCtrl4,
    LineSideDevice,
    LineSideStatus,
    Register,
    channel_of,
    lvs_byte,
)
from hal.clock import Clock, DeadlineTimer, TimerHandle
from hal.events import OffHook, OnHook, PulseDigit
from hal.linesignal import RING_CADENCES, HookDecoder, RingCadence

log = logging.getLogger(__name__)

RESET_VALUES: Mapping[Register, int] = MappingProxyType({
    Register.DAA_CTRL2: int(DaaCtrl2.PDL),
    Register.RING_VALIDATION1: 0x96,
    Register.DAA_CTRL5: 0x20,
})
DAA_INTERCEPT_V = 6.0
"""TIP/RING voltage of the DAA at DCV = 3.5 V and no current (approximate, Figure 23)."""
ILIM_KNEE_A = 0.040
ILIM_SLOPE_OHM = 2000.0
MIN_LOOP_CURRENT_MA = 1.0
"""Below this the line-side supply collapses (DOD)."""
RING_THRESHOLD_VRMS = {(0, 0): 16.5, (1, 0): 23.65, (1, 1): 49.5, (0, 1): 49.5}
"""(RT, RT2) → the level above which a ring is surely detected ([VDAA] tRT, Si3056 Reg 16)."""
RETURN_LOSS_BAND_HZ = np.linspace(300.0, 3400.0, 32)
MAX_RETURN_LOSS_DB = 60.0


def impedance(acim: Acim, frequencies_hz: npt.NDArray[np.float64]) -> npt.NDArray[np.complex128]:
    """The impedance ACIM code `acim` synthesises at each frequency. Raises KeyError for the
    unspecified global complex impedance."""
    network = ACIM_NETWORKS[acim]
    omega = 2j * np.pi * frequencies_hz
    if isinstance(network, float):
        return np.full(frequencies_hz.shape, network, dtype=np.complex128)
    if len(network) == 2:
        r, c = network
        series: npt.NDArray[np.complex128] = (r + 1.0 / (omega * c)).astype(np.complex128)
        return series
    rs, rp, cp = network
    zc = 1.0 / (omega * cp)
    shunted: npt.NDArray[np.complex128] = (rs + rp * zc / (rp + zc)).astype(np.complex128)
    return shunted


@dataclass(frozen=True, slots=True)
class LineProfile:
    """An exchange line, electrically."""

    name: str
    battery_v: float
    feed_resistance_ohm: float
    line_resistance_ohm: float
    ring_vrms: float
    ring_hz: float
    cadence: RingCadence
    impedance: Acim
    """The line's nominal impedance, as the ACIM network that equals it."""
    loop_current_limit_ma: float | None = None
    """A standard's ceiling for the DAA's loop current (TBR21: 60 mA)."""
    parallel_set_v: float = 8.0
    parallel_set_ohm: float = 150.0


LINE_PROFILES: Mapping[str, LineProfile] = MappingProxyType({
    "ru": LineProfile("ru", 60.0, 1000.0, 500.0, 90.0, 25.0, RING_CADENCES["ru"], Acim.R600),
    "eu": LineProfile("eu", 50.0, 230.0, 0.0, 75.0, 25.0, RING_CADENCES["de"], Acim.CTR21,
                      loop_current_limit_ma=60.0),
    "us": LineProfile("us", 48.0, 400.0, 300.0, 86.0, 20.0, RING_CADENCES["us"], Acim.R600),
})


class EmulatedLine:
    """The exchange end of one line. The DAA calls `attach`, `set_loop` and `source`; tests
    call the rest."""

    def __init__(self, clock: Clock, profile: LineProfile | str = "ru") -> None:
        self.clock = clock
        self.profile = LINE_PROFILES[profile] if isinstance(profile, str) else profile
        self.dialled = ""
        """Digits the exchange decoded from loop-disconnect pulses."""
        self.seizures = 0
        """Times the loop was closed long enough to count as off-hook."""
        self.max_loop_current_ma = 0.0
        self.violations: list[str] = []
        """Where the DAA broke the line's standard (a current above its limit)."""
        self._listener: Callable[[], None] | None = None
        self._cable = True
        self._battery = True
        self._reversed = False
        self._parallel = False
        self._loop = False
        self._burst = False
        self._burst_at = 0.0
        self._ringing = False
        self._ring_timer: TimerHandle | None = None
        self._battery_timer: TimerHandle | None = None
        self._decoder = HookDecoder("exchange")
        self._decoder_timer = DeadlineTimer(clock, self._on_decoder_timer)

    # --- stimulus -------------------------------------------------------------------------------

    def ring(self, cadence: RingCadence | None = None, bursts: int | None = None) -> None:
        """Ring with `cadence` (the profile's by default), `bursts` times or until the loop
        closes or `stop_ringing()`."""
        self.stop_ringing()
        self._ringing = True
        self._ring_phase(cadence or self.profile.cadence, 0, self.clock.now(), bursts)

    def stop_ringing(self) -> None:
        self._ringing = False
        if self._ring_timer is not None:
            self._ring_timer.cancel()
            self._ring_timer = None
        self._set_burst(False)

    def reverse_polarity(self, reversed: bool | None = None) -> None:
        """Swap TIP and RING (toggle, or set `reversed`)."""
        self._reversed = (not self._reversed) if reversed is None else reversed
        self._changed()

    def parallel_set(self, off_hook: bool) -> None:
        """Another phone on the pair goes off-hook or back."""
        self._parallel = off_hook
        self._changed()

    def cut(self) -> None:
        """The cable is cut: no line voltage, no ringing."""
        self._cable = False
        self.stop_ringing()
        self._changed()

    def reconnect(self) -> None:
        self._cable = True
        self._changed()

    def drop_battery(self, duration_ms: float) -> None:
        """Remove the battery for `duration_ms`: the loop-current-drop disconnect signal."""
        self._battery = False
        if self._battery_timer is not None:
            self._battery_timer.cancel()
        self._battery_timer = self.clock.call_at(self.clock.now() + duration_ms / 1000.0,
                                                 self._restore_battery)
        self._changed()

    # --- what can be checked --------------------------------------------------------------------

    @property
    def loop_closed(self) -> bool:
        return self._loop

    @property
    def polarity_reversed(self) -> bool:
        return self._reversed

    @property
    def ringing(self) -> bool:
        return self._ringing

    def return_loss_db(self, termination: Acim) -> float:
        """Worst return loss over 300–3400 Hz of `termination` against the line's nominal
        impedance: 20·log10|(Z_line + Z_daa) / (Z_line − Z_daa)|, capped at 60 dB."""
        f = RETURN_LOSS_BAND_HZ
        z_line, z_daa = impedance(self.profile.impedance, f), impedance(termination, f)
        with np.errstate(divide="ignore"):
            loss = 20.0 * np.log10(np.abs(z_line + z_daa) / np.abs(z_line - z_daa))
        return float(min(MAX_RETURN_LOSS_DB, np.min(loss)))

    # --- the DAA's side -------------------------------------------------------------------------

    def attach(self, listener: Callable[[], None]) -> None:
        """`listener` runs after every change the DAA should re-read."""
        self._listener = listener

    @property
    def ring_burst(self) -> bool:
        """Ring voltage is on the line now."""
        return self._burst

    @property
    def ring_burst_started_at(self) -> float:
        return self._burst_at

    def source(self) -> tuple[float, float]:
        """Open-circuit TIP/RING volts (negative when reversed) and the source resistance."""
        p = self.profile
        if not self._cable:
            return 0.0, 0.0
        if self._parallel and not self._loop:
            volts, ohms = p.parallel_set_v, p.parallel_set_ohm
        elif not self._battery:
            return 0.0, 0.0
        else:
            volts, ohms = p.battery_v, p.feed_resistance_ohm + p.line_resistance_ohm
        return (-volts if self._reversed else volts), ohms

    def set_loop(self, closed: bool) -> None:
        """The DAA closed (off-hook) or opened its loop."""
        if closed == self._loop:
            return
        self._loop = closed
        now = self.clock.now()
        if closed and self._ringing:  # ring trip
            self.stop_ringing()
        self._decoder.hook(closed, now)
        self._deliver()

    def loop_current(self, milliamps: float) -> None:
        """What the DAA draws now (the exchange's meter)."""
        self.max_loop_current_ma = max(self.max_loop_current_ma, milliamps)
        limit = self.profile.loop_current_limit_ma
        if limit is not None and milliamps > limit:
            message = f"loop current {milliamps:.1f} mA above the {limit:g} mA limit"
            if message not in self.violations:
                self.violations.append(message)

    # --- internals -------------------------------------------------------------------------------

    def _changed(self) -> None:
        if self._listener is not None:
            self._listener()

    def _set_burst(self, on: bool) -> None:
        if on != self._burst:
            self._burst = on
            if on:
                self._burst_at = self.clock.now()
            self._changed()

    def _ring_phase(self, cadence: RingCadence, index: int, at: float,
                    bursts: int | None) -> None:
        self._ring_timer = None
        if not self._ringing or not self._cable:
            return
        pattern = cadence.on_off_ms
        burst = index % 2 == 0
        if burst and bursts is not None and index // 2 >= bursts:
            self.stop_ringing()
            return
        self._set_burst(burst)
        next_at = at + pattern[index % len(pattern)] / 1000.0
        self._ring_timer = self.clock.call_at(
            next_at, lambda: self._ring_phase(cadence, index + 1, next_at, bursts))

    def _restore_battery(self) -> None:
        self._battery_timer = None
        self._battery = True
        self._changed()

    def _deliver(self) -> None:
        while (event := self._decoder.next_event()) is not None:
            if isinstance(event, PulseDigit):
                self.dialled += event.digit
            elif isinstance(event, OffHook):
                self.seizures += 1
            elif isinstance(event, OnHook):
                self._reversed = False  # the exchange restores idle polarity after a call
                self._changed()
        self._decoder_timer.follow(self._decoder.next_deadline())

    def _on_decoder_timer(self) -> None:
        self._decoder.handle_timers(self.clock.now())
        self._deliver()


class EmulatedInterruptLine:
    """The chip's INT pin as `drivers.si3050.port.InterruptLine`."""

    def __init__(self) -> None:
        self._handler: Callable[[], None] | None = None
        self.asserted = False
        self.edges = 0

    def set_handler(self, handler: Callable[[], None] | None) -> None:
        self._handler = handler

    def _set(self, asserted: bool) -> None:
        rising = asserted and not self.asserted
        self.asserted = asserted
        if rising:
            self.edges += 1
            handler = self._handler
            if handler is not None:
                asyncio.get_running_loop().call_soon(handler)


class Si3050Emulator:
    """One Si3050 with its line side at daisy-chain `channel`, `line` behind it."""

    def __init__(self, clock: Clock, line: EmulatedLine | None = None, *, channel: int = 0,
                 line_side: LineSideDevice = LineSideDevice.SI3019,
                 system_revision: int = 3, line_side_revision: int = 2,
                 link_up_s: float = 0.015) -> None:
        self.clock = clock
        self.line = line
        self.channel = channel
        self.line_side = line_side
        self.system_revision = system_revision
        self.line_side_revision = line_side_revision
        self.link_up_s = link_up_s
        self.responding = True
        """False: the chip is gone; reads return `stuck_value`, writes are lost."""
        self.stuck_value = 0xFF
        self.link_fails = False
        """True: the line side never frame-locks (a broken isolation capacitor)."""
        self.violations: list[str] = []
        self.interrupt = EmulatedInterruptLine()
        self.writes: list[tuple[Register, int]] = []
        """Every register write, in order."""
        self._regs = [0] * 64
        self._timers: list[TimerHandle] = []
        self._link_timer: TimerHandle | None = None
        self._hook_timer: TimerHandle | None = None
        self._validate_timer: TimerHandle | None = None
        self._ring_end_timer: TimerHandle | None = None
        self._link = False
        self._loop = False
        self._source = 0
        self._rdt = False
        self._burst = False
        self._lvs = 0
        self._lcs = 0
        self._dod = False
        self._milliamps = 0.0
        self._reset()
        if line is not None:
            line.attach(self._line_changed)

    # --- what tests look at ----------------------------------------------------------------------

    @property
    def link_up(self) -> bool:
        return self._link

    @property
    def off_hook(self) -> bool:
        """The loop is closed (the line sees the DAA off-hook)."""
        return self._loop

    @property
    def loop_current_ma(self) -> float:
        return self._milliamps

    @property
    def ac_termination(self) -> Acim:
        """The AC termination now in effect (Si3019: ACIM)."""
        return Acim(self._regs[Register.AC_TERMINATION] & ACIM_MASK)

    def register(self, register: Register) -> int:
        """The stored value of `register`, without side effects."""
        return self._regs[register]

    def break_link(self) -> None:
        """The isolation link loses frame lock (a surge through the capacitors) and stays
        down until `link_fails` is cleared and PDL is cycled."""
        self.link_fails = True
        if self._link:
            self._link = False
            self._source |= Interrupt.FDT
            self._lost_link()
            self._update()

    # --- the SPI side ----------------------------------------------------------------------------

    def read(self, address: int) -> int:
        if not self.responding:
            return self.stuck_value
        try:
            register = Register(address)
        except ValueError:
            self._violation(f"read of reserved register {address}")
            return 0
        regs = self._regs
        if register is Register.INTERRUPT_SOURCE:
            return int(self._source)
        if register is Register.DAA_CTRL1:
            value = regs[register] & (DaaCtrl1.ONHM | DaaCtrl1.OH)
            return int(value | (DaaCtrl1.RDT if self._rdt else 0) | self._ring_half_cycle())
        if register is Register.DEVICE_REVISION:
            lsid = self.line_side.value if self._link else 0
            return lsid << LSID_SHIFT | self.system_revision & 0x0F
        if register is Register.LINE_SIDE_STATUS:
            return int(LineSideStatus.FDT if self._link else 0) | self._lcs
        if register is Register.LINE_SIDE_REVISION:
            lrev = self.line_side_revision if self._link else 0
            return LINE_SIDE_REVISION_DAA | (lrev << LREV_SHIFT & 0x3C)
        if register is Register.INTL_CTRL4:
            return int(IntlCtrl4.DOD) if self._dod else 0
        if register is Register.LINE_VOLTAGE_STATUS:
            return self._lvs_now()
        return regs[register]

    def write(self, address: int, value: int) -> None:
        if not self.responding:
            return
        try:
            register = Register(address)
        except ValueError:
            self._violation(f"write of 0x{value:02X} to reserved register {address}")
            return
        self.writes.append((register, value))
        if register in READ_ONLY:
            self._violation(f"write of 0x{value:02X} to read-only register {address}")
            return
        if register is Register.CTRL1 and value & Ctrl1.SR:
            self._reset()
            return
        if register is Register.INTERRUPT_SOURCE:
            self._source &= value  # a 0 clears, a 1 leaves (Si306x Register 4)
            self._update_irq()
            return
        if register is Register.DAA_CTRL1:
            self._write_hook(value)
            return
        self._regs[register] = value & 0xFF
        if register is Register.DAA_CTRL2:
            self._power_changed()
        elif register is Register.DAA_CTRL5 and value & DaaCtrl5.FULL and (
                self._regs[Register.DC_TERMINATION] >> DCV_SHIFT) != Dcv.V3_5:
            self._violation("FULL set without DCV = 11 (Register 31: set DCV to all 1s)")
        self._update()

    # --- internals -------------------------------------------------------------------------------

    def _violation(self, message: str) -> None:
        log.debug("Si3050 emulator ch %d: %s", self.channel, message)
        self.violations.append(message)

    def _reset(self) -> None:
        for timer in (self._link_timer, self._hook_timer, self._validate_timer,
                      self._ring_end_timer, *self._timers):
            if timer is not None:
                timer.cancel()
        self._timers.clear()
        self._link_timer = self._hook_timer = None
        self._validate_timer = self._ring_end_timer = None
        self._regs = [0] * 64
        for register, value in RESET_VALUES.items():
            self._regs[register] = value
        self._link = False
        self._source = 0
        self._rdt = False
        self._set_loop(False)
        self._update()

    def _power_changed(self) -> None:
        powered = not self._regs[Register.DAA_CTRL2] & DaaCtrl2.PDL
        if not powered:
            if self._link_timer is not None:
                self._link_timer.cancel()
                self._link_timer = None
            if self._link:
                self._link = False
                self._source |= Interrupt.FDT
                self._lost_link()
        elif not self._link and self._link_timer is None and not self.link_fails:
            self._link_timer = self.clock.call_at(self.clock.now() + self.link_up_s,
                                                  self._link_established)

    def _link_established(self) -> None:
        self._link_timer = None
        self._link = True
        self._source |= Interrupt.RDT  # powering the line side up may raise RDTI (Si306x)
        self._apply_hook()
        self._line_changed()

    def _lost_link(self) -> None:
        self._rdt = False
        self._cancel_ring_timers()
        self._set_loop(False)

    def _write_hook(self, value: int) -> None:
        self._regs[Register.DAA_CTRL1] = value & (DaaCtrl1.ONHM | DaaCtrl1.OH)
        if value & DaaCtrl1.OH and value & DaaCtrl1.ONHM:
            self._violation("OH set together with ONHM (Register 5: clear ONHM first)")
        if value & DaaCtrl1.OH and not self._link:
            self._violation("OH set while the line side is down (PDL set or no frame lock): "
                            "the line stays on-hook")
        self._apply_hook()
        self._update()

    def _apply_hook(self) -> None:
        want = bool(self._regs[Register.DAA_CTRL1] & DaaCtrl1.OH) and self._link
        if want:
            if self._hook_timer is not None:
                self._hook_timer.cancel()
                self._hook_timer = None
            if not self._loop:
                self._rdt = False  # RDT resets when the system goes off-hook
                self._cancel_ring_timers()
                self._set_loop(True)
        elif self._loop and self._hook_timer is None:
            self._hook_timer = self.clock.call_at(self.clock.now() + self._on_hook_s(),
                                                  self._loop_opens)

    def _loop_opens(self) -> None:
        self._hook_timer = None
        self._set_loop(False)
        self._update()

    def _set_loop(self, closed: bool) -> None:
        self._loop = closed
        if self.line is not None:
            self.line.set_loop(closed)

    def _on_hook_s(self) -> float:
        regs = self._regs
        sq = regs[Register.SPARK_QUENCHING] & (SQ_BITS[0] | SQ_BITS[1])
        if regs[Register.INTL_CTRL1] & IntlCtrl1.OHS and sq == SQ_BITS[0] | SQ_BITS[1]:
            return 0.026
        if regs[Register.DAA_CTRL5] & DaaCtrl5.OHS2:
            return 0.003
        return 0.0005

    def _measure(self) -> tuple[float, float]:
        """TIP/RING volts (signed) and loop mA from the line's feed and the DC termination."""
        if self.line is None or not self._link:
            return 0.0, 0.0
        volts, source_ohm = self.line.source()
        if not self._loop:
            return volts, 0.0
        dc = self._regs[Register.DC_TERMINATION]
        intercept = DAA_INTERCEPT_V * Dcv(dc >> DCV_SHIFT & 0x3).volts / Dcv.V3_5.volts
        slope = 800.0 if dc & DCR else 50.0
        magnitude = abs(volts)
        amps = (magnitude - intercept) / (source_ohm + slope)
        if dc & ILIM and amps > ILIM_KNEE_A:
            amps = ((magnitude - intercept - slope * ILIM_KNEE_A + ILIM_SLOPE_OHM * ILIM_KNEE_A)
                    / (source_ohm + ILIM_SLOPE_OHM))
        if amps * 1000.0 < MIN_LOOP_CURRENT_MA:
            return 0.0, 0.0
        return math.copysign(magnitude - source_ohm * amps, volts), amps * 1000.0

    def _lvs_now(self) -> int:
        """LVS as read now: during a ring burst the ring's AC rides on the battery, so the
        reading swings through both signs at the ring frequency."""
        line = self.line
        if line is None or not line.ring_burst or not self._lvs or self._loop:
            return self._lvs
        phase = (self.clock.now() - line.ring_burst_started_at) * line.profile.ring_hz
        volts, _ = line.source()
        return lvs_byte(volts + line.profile.ring_vrms * math.sqrt(2.0)
                        * math.sin(2.0 * math.pi * phase))

    def _line_changed(self) -> None:
        line = self.line
        if line is not None and line.ring_burst != self._burst:
            self._burst = line.ring_burst
            if self._link and self.line_side.measures_line_voltage and not self._loop:
                self._source |= Interrupt.POL  # the ring swings LVS through both signs
            self._ring_edge(self._burst)
        self._update()

    def _update(self) -> None:
        volts, milliamps = self._measure()
        self._milliamps = milliamps
        lvs = lvs_byte(volts) if self._link and self.line_side.measures_line_voltage else 0
        if (lvs ^ self._lvs) & 0x80:
            self._source |= Interrupt.POL  # POLI: bit 7 of LVS changed ([DS] §5.12.1)
            if not self._loop and not self._regs[Register.RING_VALIDATION3] & RNGV:
                self._crossing()
        self._lvs = lvs
        steps = milliamps / LCS_MA_PER_BIT
        lcs = LCS_OVERLOAD if steps >= LCS_OVERLOAD else round(steps)
        if lcs == LCS_OVERLOAD and self._lcs != LCS_OVERLOAD:
            self._source |= Interrupt.LCSO
        self._lcs = lcs if self._loop else 0
        dod = self._loop and milliamps == 0.0
        if dod and not self._dod:
            self._source |= Interrupt.DOD
        self._dod = dod
        if self._loop and self.line is not None:
            self.line.loop_current(milliamps)
        self._update_irq()

    def _update_irq(self) -> None:
        enabled = bool(self._regs[Register.CTRL2] & Ctrl2.INTE)
        self.interrupt._set(enabled and bool(self._regs[Register.INTERRUPT_MASK]
                                             & self._source))

    # --- ring detection ---------------------------------------------------------------------------

    def _ring_detectable(self) -> bool:
        line = self.line
        if line is None or not self._link or self._loop:
            return False
        return line.profile.ring_vrms > self._ring_threshold_vrms()

    def _ring_half_cycle(self) -> int:
        """RDTP/RDTN now: the ring's AC beyond the threshold's peak, one sign or the other."""
        line = self.line
        if line is None or not line.ring_burst or not self._ring_detectable():
            return 0
        phase = (self.clock.now() - line.ring_burst_started_at) * line.profile.ring_hz
        ac = line.profile.ring_vrms * math.sin(2.0 * math.pi * phase)
        threshold = self._ring_threshold_vrms()
        if ac > threshold:
            return int(DaaCtrl1.RDTP)
        if ac < -threshold:
            return int(DaaCtrl1.RDTN)
        return 0

    def _ring_threshold_vrms(self) -> float:
        rt = self._regs[Register.INTL_CTRL1] & IntlCtrl1.RT
        rt2 = 1 if self._regs[Register.INTL_CTRL2] & IntlCtrl2.RT2 else 0
        return RING_THRESHOLD_VRMS[(rt, rt2)]

    def _validated(self) -> bool:
        """Whether the ring frequency fits RAS/RMX: TIP/RING events (two per cycle) must come
        no later than RAS·2 ms and no sooner than (RAS − RMX)·2 ms apart ([DS] Register 22)."""
        assert self.line is not None
        regs = self._regs
        ras = regs[Register.RING_VALIDATION3] & 0x3F
        rmx = regs[Register.RING_VALIDATION1] & 0x3F
        half_period_ms = 1000.0 / (2.0 * self.line.profile.ring_hz)
        return (ras - rmx) * 2.0 <= half_period_ms <= ras * 2.0

    def _ring_edge(self, on: bool) -> None:
        if not self._ring_detectable():
            return
        regs = self._regs
        now = self.clock.now()
        validate = bool(regs[Register.RING_VALIDATION3] & RNGV)
        if on:
            if self._ring_end_timer is not None:  # the gap was shorter than RTO: same ring
                self._ring_end_timer.cancel()
                self._ring_end_timer = None
            if self._rdt or self._validate_timer is not None:
                return
            if not validate:
                self._set_rdt(True)
            elif self._validated():
                rcc = RCC_MS[regs[Register.RING_VALIDATION2] & 0x7]
                rdly = (regs[Register.RING_VALIDATION1] >> 6
                        | (regs[Register.RING_VALIDATION2] >> 7) << 2) * 256.0
                self._validate_timer = self.clock.call_at(now + (rcc + rdly) / 1000.0,
                                                          self._ring_validated)
        else:
            if self._validate_timer is not None:  # shorter than RCC: not a ring
                self._validate_timer.cancel()
                self._validate_timer = None
            if self._rdt and self._ring_end_timer is None:
                self._ring_end_timer = self.clock.call_at(now + self._rto_s(), self._ring_over)

    def _crossing(self) -> None:
        """One TIP/RING event without ringing (a polarity reversal), ring validation off."""
        if not self._ring_detectable() or self._rdt:
            return
        self._set_rdt(True)
        self._ring_end_timer = self.clock.call_at(self.clock.now() + self._rto_s(),
                                                  self._ring_over)

    def _rto_s(self) -> float:
        rto = self._regs[Register.RING_VALIDATION2] >> 3 & 0xF
        return (rto * RTO_STEP_MS if rto else 80.0) / 1000.0

    def _ring_validated(self) -> None:
        self._validate_timer = None
        self._set_rdt(True)

    def _ring_over(self) -> None:
        self._ring_end_timer = None
        self._set_rdt(False)

    def _set_rdt(self, on: bool) -> None:
        self._rdt = on
        if on or self._regs[Register.CTRL2] & Ctrl2.RDI:
            self._source |= Interrupt.RDT
        self._update_irq()

    def _cancel_ring_timers(self) -> None:
        if self._validate_timer is not None:
            self._validate_timer.cancel()
            self._validate_timer = None
        if self._ring_end_timer is not None:
            self._ring_end_timer.cancel()
            self._ring_end_timer = None


class Si3050Chain:
    """The SPI bus with Si3050s daisy-chained on one chip select; implements `SpiBus`.

    Bytes are parsed as a stream (control, address, data), whatever the chip-select framing.
    A channel without a chip answers 0xFF (SDO pulled up).
    """

    def __init__(self, chips: Sequence[Si3050Emulator]) -> None:
        channels = [c.channel for c in chips]
        if len(set(channels)) != len(channels):
            raise ValueError(f"two emulated chips on one channel: {channels}")
        self.chips = {c.channel: c for c in chips}
        self.violations: list[str] = []
        self.transfers = 0
        self.closes = 0
        self._phase = 0
        self._control = 0
        self._address = 0

    def xfer2(self, data: list[int]) -> list[int]:
        self.transfers += 1
        return [self._byte(b & 0xFF) for b in data]

    def close(self) -> None:
        self.closes += 1

    def _byte(self, value: int) -> int:
        if self._phase == 0:
            if not value & CONTROL_FIXED:
                self.violations.append(f"control byte 0x{value:02X} lacks bit 5")
                return 0xFF
            self._control, self._phase = value, 1
            return 0xFF
        if self._phase == 1:
            self._address, self._phase = value, 2
            return 0xFF
        self._phase = 0
        control, address = self._control, self._address
        reading = bool(control & 0x40)
        if control & CONTROL_BROADCAST:
            if reading:
                self.violations.append("broadcast read")
                return 0xFF
            for chip in self.chips.values():
                chip.write(address, value)
            return 0xFF
        target = self.chips.get(channel_of(control & CHANNEL_MASK))
        if target is None:
            return 0xFF
        if reading:
            return target.read(address)
        target.write(address, value)
        return 0xFF
