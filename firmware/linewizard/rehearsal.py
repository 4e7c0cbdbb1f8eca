"""Rehearsing the line wizard on the simulated board: exchanges of each kind, and an installer.

`switchbox line learn fxo1 --simulate KIND` and the tests run the real wizard against a
`SimFxoPort` whose exchange is set up as KIND (`EXCHANGES`), on a `ManualClock` driven as fast
as the CPU allows (a two-call run is 50–70 s of line time and under a second of CPU). The
simulated installer prints each instruction and does it: calls the line from `DEFAULT_NUMBER`
two seconds after being asked, hangs up a second after being asked.

The sim board models ringing, on-hook caller ID (from an injected encoder), disconnect signals,
tones and a fixed line echo. What else the wizard learns is not in hal/sim yet, so
`RehearsalFxoPort` adds it on top of `SimFxoPort` (the AON exchange needs firmware DSP, which
hal must not import; the termination model stays beside it until hal grows the capability):
- an AC termination the wizard can switch (`AcTerminationControl`), and the hybrid echo it
  causes: the reflection ρ(f) = (Z_line − Z_term)/(Z_line + Z_term) of the line's own network
  against the termination, as a 128-tap FIR 1 ms after the send, plus a −40 dB residual (a
  perfect match measures 40 dB, not infinity);
- Russian AON: when the box sends the 500 Hz request on an answered call, the exchange answers
  at once with the caller's category and seven digits in MF "2 of 6" (`encode_packet`,
  `mf_sequence` at −7 dBm0 per tone).
And a flat line loss on everything the exchange sends (`line_loss_db`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TextIO, TypeVar

import numpy as np
import numpy.typing as npt

from firmware.config.schema import CallerIdMethod
from firmware.linewizard.profile import LineProfile
from firmware.linewizard.terminations import TERMINATIONS, Network
from firmware.linewizard.wizard import Instruction, WizardOptions, learn_line
from firmware.media.aon import AonCategory, encode_packet
from firmware.media.dsp.callerid import (
    DT_AS_HZ,
    DT_AS_LEVEL_DBM0,
    DT_AS_MS,
    DT_AS_TO_FSK_MS,
    CallerId,
    CallTime,
    dtmf_clip_audio,
    dtmf_clip_digits,
    encode_mdmf,
    fsk_audio,
)
from firmware.media.dsp.fsk import FskStandard
from firmware.media.dsp.mf import RequestToneDetector, RequestToneStarted, mf_sequence
from firmware.media.dsp.tones import dual_tone
from firmware.media.frame import Frame
from hal.audio import FRAME_SAMPLES
from hal.fxs import CallerIdTiming
from hal.linesignal import RING_CADENCES, RingCadence
from hal.sim.audio import LineModel, SimPcmBus
from hal.sim.clock import ManualClock
from hal.sim.fxo import CallerIdEncoder, DisconnectSignal, LineSettings, LineState, SimFxoPort
from hal.tones import TONE_PLANS, Tone, TonePlan

log = logging.getLogger(__name__)

DEFAULT_NUMBER = "+79161234567"
"""The simulated installer's mobile."""
HYBRID_TAPS = 128
HYBRID_DELAY_SAMPLES = 8
HYBRID_RESIDUAL_DB = 40.0
CALL_AFTER_S = 2.0
HANG_UP_AFTER_S = 1.0

_T = TypeVar("_T")

_INDIA_TONES = TonePlan(
    dial=Tone((400,)), busy=Tone((400,), cadence_ms=(750, 750)),
    ringback=Tone((400,), cadence_ms=(400, 200, 400, 2000)),
    congestion=Tone((400,), cadence_ms=(250, 250)))


@dataclass(frozen=True, slots=True)
class SimulatedExchange:
    """What one kind of exchange does on an FXO line."""

    name: str
    description: str
    cadence: RingCadence
    tones: TonePlan
    caller_id: CallerIdMethod
    caller_id_timing: CallerIdTiming = CallerIdTiming.AFTER_FIRST_RING
    dt_as: bool = False
    """V.23 before ringing preceded by the dual-tone alert (ETSI, BT)."""
    disconnect: DisconnectSignal = DisconnectSignal.LOOP_CURRENT_DROP
    line_impedance: str | Network = "r600"
    """The line's own network (a key of `TERMINATIONS`, or any network)."""
    line_loss_db: float = 0.0
    noise_dbm0: float | None = -65.0
    installer_calls: bool = True
    """False: the installer never calls (shows the wizard's time-limit message)."""


EXCHANGES: Mapping[str, SimulatedExchange] = MappingProxyType({e.name: e for e in (
    SimulatedExchange(
        "ru-aon", "Russian analog exchange: 1/4 s ringing, AON after answer, busy tone only",
        RING_CADENCES["ru"], TONE_PLANS["ru"], CallerIdMethod.AON,
        disconnect=DisconnectSignal.BUSY_TONE_ONLY, line_impedance="r600"),
    SimulatedExchange(
        "etsi-fsk-reversal", "ETSI exchange: line reversal, DT-AS and V.23 before ringing, "
        "polarity-reversal disconnect, TBR21 line", RING_CADENCES["de"], TONE_PLANS["eu"],
        CallerIdMethod.V23, CallerIdTiming.BEFORE_FIRST_RING, dt_as=True,
        disconnect=DisconnectSignal.POLARITY_REVERSAL, line_impedance="ctr21"),
    SimulatedExchange(
        "bell-after-ring", "North American exchange: Bell 202 between the first and second "
        "ring, open-loop disconnect", RING_CADENCES["us"], TONE_PLANS["us"],
        CallerIdMethod.BELL_202, CallerIdTiming.AFTER_FIRST_RING,
        disconnect=DisconnectSignal.LOOP_CURRENT_DROP, line_impedance="r900_c2160"),
    SimulatedExchange(
        "dtmf-clip", "Indian exchange: double ring, DTMF CLIP before ringing after a line "
        "reversal, open-loop disconnect", RING_CADENCES["uk"], _INDIA_TONES,
        CallerIdMethod.DTMF, CallerIdTiming.BEFORE_FIRST_RING,
        disconnect=DisconnectSignal.LOOP_CURRENT_DROP, line_impedance="nz_india"),
    SimulatedExchange(
        "busy-tone-only", "Exchange without caller ID or disconnect signalling: 1.5/3.5 s "
        "ringing, busy tone only, 3 dB line loss", RING_CADENCES["fr"], TONE_PLANS["eu"],
        CallerIdMethod.NONE, disconnect=DisconnectSignal.BUSY_TONE_ONLY,
        line_impedance="r600", line_loss_db=3.0),
    SimulatedExchange(
        "nobody-calls", "A Russian line nobody calls: the wizard gives up after "
        "--ring-timeout", RING_CADENCES["ru"], TONE_PLANS["ru"], CallerIdMethod.NONE,
        installer_calls=False),
)})
"""Every `--simulate` kind by name."""


def _frames(audio: Frame) -> list[Frame]:
    padded = np.zeros(-(-audio.size // FRAME_SAMPLES) * FRAME_SAMPLES, dtype=np.int16)
    padded[: audio.size] = audio
    return list(padded.reshape(-1, FRAME_SAMPLES))


def caller_id_encoder(exchange: SimulatedExchange) -> CallerIdEncoder | None:
    """What the exchange sends on hook for a caller (the sim injects it), or None."""
    method = exchange.caller_id
    if method in (CallerIdMethod.NONE, CallerIdMethod.AON):
        return None

    def encode(cli: str) -> list[Frame]:
        cid = CallerId(number="".join(ch for ch in cli if ch.isdigit()),
                       time=CallTime(6, 15, 9, 30))
        if method is CallerIdMethod.DTMF:
            return _frames(dtmf_clip_audio(dtmf_clip_digits(cid)))
        standard = FskStandard.BELL_202 if method is CallerIdMethod.BELL_202 else FskStandard.V23
        data = fsk_audio(encode_mdmf(cid), standard)
        if exchange.dt_as:
            alert = dual_tone(DT_AS_HZ, DT_AS_MS, DT_AS_LEVEL_DBM0)
            gap = np.zeros(8 * DT_AS_TO_FSK_MS, dtype=np.int16)
            data = np.concatenate((alert, gap, data))
        return _frames(data)

    return encode


def hybrid_echo_path(line: Network, termination: Network) -> npt.NDArray[np.float64]:
    """The echo impulse response of `line` terminated by `termination` (see module doc)."""
    size = 512
    f = np.fft.rfftfreq(size, 1.0 / 8000.0).astype(np.float64)
    f[0] = 1e-3  # capacitors are open at DC
    z_line, z_term = line.impedance(f), termination.impedance(f)
    rho = (z_line - z_term) / (z_line + z_term)
    h = np.roll(np.fft.irfft(rho, size), HYBRID_DELAY_SAMPLES)[:HYBRID_TAPS]
    h[-16:] *= 0.5 * (1.0 + np.cos(np.linspace(0.0, np.pi, 16)))
    h[HYBRID_DELAY_SAMPLES] += 10.0 ** (-HYBRID_RESIDUAL_DB / 20.0)
    path: npt.NDArray[np.float64] = h
    return path


class RehearsalFxoPort(SimFxoPort):
    """A `SimFxoPort` with a switchable AC termination, hybrid echo, line loss and an exchange
    that answers the AON request (see the module docstring)."""

    def __init__(self, name: str, channel: int, clock: ManualClock, slot: int, *,
                 settings: LineSettings, line_impedance: str | Network = "r600",
                 line_loss_db: float = 0.0, aon: tuple[AonCategory, str] | None = None,
                 termination: str = "r600") -> None:
        super().__init__(name, channel, clock, slot, settings=settings)
        self._line_network = (TERMINATIONS[line_impedance]
                              if isinstance(line_impedance, str) else line_impedance)
        self._termination = termination
        self._path = hybrid_echo_path(self._line_network, TERMINATIONS[termination])
        self._tail = np.zeros(HYBRID_TAPS - 1)
        self._echo = np.zeros(FRAME_SAMPLES)
        self._loss = 10.0 ** (-line_loss_db / 20.0)
        self._aon = aon
        self._aon_detector = RequestToneDetector()
        self._aon_answered = False
        self._aon_out: collections.deque[Frame] = collections.deque()
        self.terminations_set: list[str] = []
        """Every termination the wizard chose, in order (for tests)."""

    @property
    def ac_terminations(self) -> tuple[str, ...]:
        return tuple(TERMINATIONS)

    @property
    def ac_termination(self) -> str:
        return self._termination

    async def set_ac_termination(self, name: str) -> None:
        if name not in TERMINATIONS:
            raise ValueError(f"{self.name}: no AC termination {name!r}")
        if not self.status.in_service:
            raise RuntimeError(f"{self.name}: {self.status.reason}")
        self._termination = name
        self._path = hybrid_echo_path(self._line_network, TERMINATIONS[name])
        self.terminations_set.append(name)

    def echo_path(self) -> npt.NDArray[np.float64]:
        """The hybrid's echo impulse response with the termination in use."""
        return self._path.copy()

    def box_to_line(self, frame: Frame, at: float) -> None:
        super().box_to_line(frame, at)
        x = np.concatenate((self._tail, frame.astype(np.float64)))
        self._echo = np.convolve(x, self._path, mode="valid")
        self._tail = x[-(HYBRID_TAPS - 1):]
        if not self.seized:
            self._aon_answered = False
            self._aon_out.clear()
        elif (self._aon is not None and not self._aon_answered
              and self.line.state is LineState.CONNECTED):
            if any(isinstance(e, RequestToneStarted) for e in self._aon_detector.process(frame)):
                self._aon_answered = True
                category, number = self._aon
                self._aon_out.extend(_frames(mf_sequence(encode_packet(category, number))))

    def line_to_box(self, at: float) -> Frame | None:
        sent = super().line_to_box(at)
        if not (self.seized and self.line.battery and self.status.in_service):
            return sent
        out = np.zeros(FRAME_SAMPLES) if sent is None else sent.astype(np.float64) * self._loss
        out += self._echo
        if self._aon_out:
            out += self._aon_out.popleft() * self._loss
        result: Frame = np.clip(np.rint(out), -32768, 32767).astype(np.int16)
        return result


class SimulatedInstaller:
    """Prints each instruction to `out` (when given) with the board time, and carries it out
    on `port`'s exchange: a call from `number` `call_after_s` later, a hang-up
    `hang_up_after_s` later."""

    def __init__(self, port: SimFxoPort, clock: ManualClock, number: str = DEFAULT_NUMBER,
                 out: TextIO | None = None, *, calls: bool = True,
                 call_after_s: float = CALL_AFTER_S,
                 hang_up_after_s: float = HANG_UP_AFTER_S) -> None:
        self._port = port
        self._clock = clock
        self.number = number
        self._out = out
        self._calls = calls
        self._call_after_s = call_after_s
        self._hang_up_after_s = hang_up_after_s
        self.heard: list[tuple[Instruction, str]] = []
        self.hung_up_at: list[float] = []
        """When the simulated caller hung up, per answered call."""

    async def instruct(self, instruction: Instruction, text: str) -> None:
        self.heard.append((instruction, text))
        now = self._clock.now()
        if self._out is not None:
            marker = ">>>" if instruction is not Instruction.INFO else "   "
            self._out.write(f"[{now:7.2f} s] {marker} {text}\n")
        if instruction is Instruction.CALL and self._calls:
            self._clock.call_at(now + self._call_after_s, self._call)
        elif instruction is Instruction.HANG_UP:
            self._clock.call_at(now + self._hang_up_after_s, self._hang_up)

    def _call(self) -> None:
        try:
            self._port.line.ring(self.number)
        except RuntimeError as exc:
            log.warning("simulated installer could not call: %s", exc)
            return
        if self._out is not None:
            self._out.write(f"[{self._clock.now():7.2f} s]     (the installer calls from "
                            f"{self.number})\n")

    def _hang_up(self) -> None:
        self.hung_up_at.append(self._clock.now())
        self._port.line.far_end_hangs_up()


@dataclass(frozen=True, slots=True)
class Rehearsal:
    """A simulated line, its bus and installer, on their own manual clock."""

    exchange: SimulatedExchange
    clock: ManualClock
    port: RehearsalFxoPort
    bus: SimPcmBus
    installer: SimulatedInstaller


def build_rehearsal(exchange: SimulatedExchange | str, *, port_name: str = "fxo1",
                    channel: int = 0, slot: int = 0, slots: int = 1,
                    number: str = DEFAULT_NUMBER, out: TextIO | None = None,
                    clock: ManualClock | None = None) -> Rehearsal:
    """A rehearsal of `exchange` (a `SimulatedExchange` or a name of `EXCHANGES`; KeyError
    for an unknown name) on a port called `port_name`."""
    kind = EXCHANGES[exchange] if isinstance(exchange, str) else exchange
    clock = clock or ManualClock()
    settings = LineSettings(cadence=kind.cadence, tones=kind.tones,
                            caller_id_timing=kind.caller_id_timing,
                            disconnect=kind.disconnect,
                            model=LineModel(noise_dbm0=kind.noise_dbm0))
    digits = "".join(ch for ch in number if ch.isdigit())
    aon = ((AonCategory.ORDINARY, digits[-7:])
           if kind.caller_id is CallerIdMethod.AON and len(digits) >= 7 else None)
    port = RehearsalFxoPort(port_name, channel, clock, slot, settings=settings,
                            line_impedance=kind.line_impedance,
                            line_loss_db=kind.line_loss_db, aon=aon)
    port.line.caller_id_encoder = caller_id_encoder(kind)
    bus = SimPcmBus("pcm1", slots, [port], clock)
    installer = SimulatedInstaller(port, clock, number, out, calls=kind.installer_calls)
    return Rehearsal(kind, clock, port, bus, installer)


async def drive(clock: ManualClock, task: asyncio.Task[_T], limit_s: float = 3600.0) -> _T:
    """Run `clock` from timer to timer until `task` finishes; its result. Raises what the
    task raised, or RuntimeError when it stalls (waits on something that is not the clock)
    or runs past `limit_s` of board time (the task is cancelled)."""
    start = clock.now()
    stalls = 0
    try:
        while not task.done():
            due = clock.next_due()
            if due is None:
                stalls += 1
                if stalls > 100:
                    raise RuntimeError("the rehearsal stalled: nothing waits on the clock")
                await clock.settle()
                continue
            stalls = 0
            if due - start > limit_s:
                raise RuntimeError(f"the rehearsal ran past {limit_s:g} s of line time")
            await clock.advance_to(due)
    finally:
        if not task.done():
            task.cancel()
    return await task


async def rehearse(rehearsal: Rehearsal, options: WizardOptions | None = None) -> LineProfile:
    """Open the rehearsal's port and bus and run the wizard on them; its profile."""
    async with rehearsal.port, rehearsal.bus:
        task = asyncio.get_running_loop().create_task(
            learn_line(rehearsal.port, rehearsal.bus, rehearsal.clock, rehearsal.installer,
                       options), name=f"line wizard {rehearsal.port.name}")
        return await drive(rehearsal.clock, task)

