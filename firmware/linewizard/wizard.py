"""The line wizard's driver: runs the test calls on an FXO port and its PCM bus.

`learn_line` owns the port and the bus for the duration (the service must not run): it
exchanges every 20 ms tick itself, plays the wizard's signals in the port's slot, and hands the
captured frames and the port's events to the pure observers of `firmware.linewizard.learner`.
The installer is told what to do through an `Installer` (`ConsoleInstaller` prints to the
terminal; the rehearsal's simulated installer acts on the simulated exchange).

The sequence, per line:
1. dial tone: seize for 1.5 s and measure the tone (evidence of the tone plan), release;
2. `calls` incoming test calls, each: wait for the call (`ring_timeout_s`), watch the on-hook
   audio and ringing until the cadence has repeated twice, answer; ask for Russian AON
   (500 Hz, 100 ms; the reply within 1.2 s); on the first answered call play a periodic white
   test signal at −15 dBm0 for 0.4 s per AC termination the port offers (one 128 ms period to
   settle, two measured);
   ask the caller to hang up and watch for the disconnect signal (`hang_up_timeout_s`);
3. summarise into a `LineProfile`.
Everything the wizard changed (ring validation, on-hook monitor, AC termination, the hook) is
put back, also on error. With Russian ringing a run of two calls takes about a minute of the
installer's time.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TextIO

import numpy as np

from firmware.linewizard.learner import (
    BLOCK,
    AonProbe,
    CallRecord,
    DisconnectObserver,
    EchoEstimator,
    EchoMeasurement,
    EchoResult,
    IncomingCall,
    echo_test_signal,
    measure_steady_tone,
    periodic_frames,
    summarise,
)
from firmware.linewizard.profile import LineProfile, ToneMeasurement
from firmware.linewizard.terminations import AcTerminationControl
from firmware.media.frame import Frame
from hal.audio import PcmBus, silence
from hal.clock import Clock
from hal.events import FxoEvent, PortAlarm
from hal.fxo import FxoPort

log = logging.getLogger(__name__)

TICK_S = 0.02


class Instruction(StrEnum):
    """What the installer is asked to do (or told)."""

    CALL = "call"
    """Call the line now from a mobile phone (the text says which test call)."""
    HANG_UP = "hang_up"
    """Hang up the test call now."""
    INFO = "info"
    """Progress; nothing to do."""


class Installer(Protocol):
    """Whoever makes the test calls. `instruct` returns at once; the wizard does not wait for
    an acknowledgement, it watches the line."""

    async def instruct(self, instruction: Instruction, text: str) -> None: ...


class ConsoleInstaller:
    """Prints instructions to `out` (the terminal of `switchbox line learn`)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    async def instruct(self, instruction: Instruction, text: str) -> None:
        marker = ">>> " if instruction is not Instruction.INFO else "    "
        self._out.write(f"{marker}{text}\n")
        self._out.flush()


class WizardFailure(StrEnum):
    """Why the wizard gave up."""

    NOT_IN_SERVICE = "not_in_service"
    NOT_ON_BUS = "not_on_bus"
    NO_RING = "no_ring"
    LINE_LOST = "line_lost"


class LineWizardError(Exception):
    """The wizard could not learn the line; the message says why and what to check."""

    def __init__(self, failure: WizardFailure, message: str) -> None:
        super().__init__(message)
        self.failure = failure


@dataclass(frozen=True, slots=True)
class WizardOptions:
    """How the wizard runs. Raises ValueError for values out of range."""

    calls: int = 2
    """Incoming test calls (1–5): more calls, more confidence."""
    ring_timeout_s: float = 120.0
    """How long to wait for each test call to reach the port."""
    answer_timeout_s: float = 60.0
    """Answer after this much ringing even when no cadence showed."""
    hang_up_timeout_s: float = 30.0
    """How long after asking the caller to hang up to wait for any disconnect signal."""
    caller_number: str | None = None
    """The number the installer calls from, to check the decoded caller ID."""
    dial_tone_s: float = 1.5
    echo_periods: int = 2
    """128 ms periods of the echo test signal measured per termination, after one to settle."""
    echo_level_dbm0: float = -15.0
    terminations: tuple[str, ...] | None = None
    """AC terminations to try; None: every one the port offers."""

    def __post_init__(self) -> None:
        if not 1 <= self.calls <= 5:
            raise ValueError(f"calls must be 1-5, not {self.calls}")
        for name in ("ring_timeout_s", "answer_timeout_s", "hang_up_timeout_s"):
            if not 5.0 <= getattr(self, name) <= 600.0:
                raise ValueError(f"{name} must be 5-600 s, not {getattr(self, name)}")
        if not 1 <= self.echo_periods <= 40:
            raise ValueError(f"echo_periods must be 1-40, not {self.echo_periods}")


@dataclass(frozen=True, slots=True)
class _Tick:
    samples: Frame
    at: float
    events: list[FxoEvent]


class _LineIo:
    """One port's slot on the bus, one tick at a time."""

    def __init__(self, port: FxoPort, bus: PcmBus, clock: Clock) -> None:
        self._port = port
        self._bus = bus
        self._clock = clock

    async def tick(self, play: Frame | None = None) -> _Tick:
        playback = silence(self._bus.slots)
        if play is not None:
            self._port.audio.put(playback, play)
        captured = await self._bus.exchange(playback)
        events = self._port.take_events()
        for event in events:
            if isinstance(event, PortAlarm):
                raise LineWizardError(WizardFailure.LINE_LOST,
                                      f"{self._port.name} went out of service: {event.reason}")
        return _Tick(self._port.audio.of(captured).copy(), self._clock.now(), events)

    def now(self) -> float:
        return self._clock.now()

    async def idle(self, seconds: float) -> None:
        for _ in range(max(1, round(seconds / TICK_S))):
            await self.tick()


async def learn_line(port: FxoPort, bus: PcmBus, clock: Clock, installer: Installer,
                     options: WizardOptions | None = None) -> LineProfile:
    """Learn the exchange line on `port` (open, in service, on `bus`, both open).

    Raises `LineWizardError` when the port is unusable, no test call reaches it within
    `ring_timeout_s`, or the line goes out of service; `hal.errors.DeviceError` from the chip.
    """
    options = options or WizardOptions()
    if not port.status.in_service:
        raise LineWizardError(WizardFailure.NOT_IN_SERVICE,
                              f"{port.name} is out of service ({port.status.reason}): check "
                              f"that the line is plugged in")
    if bus.ports.get(port.name) is not port.audio:
        raise LineWizardError(WizardFailure.NOT_ON_BUS,
                              f"{port.name} has no slot on the PCM bus {bus.name}")
    io = _LineIo(port, bus, clock)
    control = port if isinstance(port, AcTerminationControl) else None
    saved_validation = port.ring_validation
    saved_termination = control.ac_termination if control is not None else None
    port.take_events()  # what happened before the wizard started is not evidence
    try:
        port.set_ring_validation(dataclasses.replace(saved_validation, expected=None))
        await port.monitor_on_hook(True)
        dial_tone = await _dial_tone(io, port, options)
        records: list[CallRecord] = []
        echo: EchoResult | None = None
        notes: list[str] = []
        for number in range(1, options.calls + 1):
            try:
                record, measured = await _test_call(io, port, control, installer, number,
                                                    options, measure_echo=echo is None)
            except _NoRing:
                if not records:
                    raise LineWizardError(
                        WizardFailure.NO_RING,
                        f"no call reached {port.name} within {options.ring_timeout_s:g} s: "
                        f"check that the line is plugged into {port.name} and that the "
                        f"number called is this line's") from None
                notes.append(f"test call {number} never came; learnt from {len(records)}")
                break
            records.append(record)
            echo = echo or measured
        await installer.instruct(Instruction.INFO, "Test calls done, thank you.")
        return summarise(port.name, records, echo, dial_tone, options.caller_number, notes)
    finally:
        if port.status.in_service:
            await port.release()
            await port.monitor_on_hook(False)
            if control is not None and saved_termination is not None:
                await control.set_ac_termination(saved_termination)
        port.set_ring_validation(saved_validation)


class _NoRing(Exception):
    """No test call reached the port in time."""


async def _dial_tone(io: _LineIo, port: FxoPort, options: WizardOptions) -> ToneMeasurement | None:
    await port.seize()
    frames = []
    for i in range(round(options.dial_tone_s / TICK_S)):
        tick = await io.tick()
        if i * TICK_S >= 0.3:  # the exchange takes a moment to connect its tone
            frames.append(tick.samples)
    await port.release()
    await io.idle(1.0)  # the exchange must see the line idle before it can ring it
    port.take_events()
    tone = measure_steady_tone(np.concatenate(frames)) if frames else None
    log.info("%s: dial tone %s", port.name, tone)
    return tone


async def _test_call(io: _LineIo, port: FxoPort, control: AcTerminationControl | None,
                     installer: Installer, number: int, options: WizardOptions,
                     measure_echo: bool) -> tuple[CallRecord, EchoResult | None]:
    of = f"test call {number} of {options.calls}"
    await installer.instruct(
        Instruction.CALL,
        f"Call this line ({port.name}) now from a mobile phone ({of}). Let it ring: the box "
        f"answers after a few rings. Then stay silent (you will hear a beep and hiss) until "
        f"you are asked to hang up.")
    call = IncomingCall()
    deadline = io.now() + options.ring_timeout_s
    while True:
        tick = await io.tick()
        io_now = tick.at
        for event in tick.events:
            call.event(event)
        call.frame(tick.samples, tick.at)
        if call.stopped:
            await installer.instruct(Instruction.INFO,
                                     f"The caller hung up before the box answered ({of}).")
            return CallRecord(call.result(), answered=False), None
        if call.first_signal_at is None:
            if io_now >= deadline:
                raise _NoRing
            continue
        if call.ready_to_answer() or io_now >= call.first_signal_at + options.answer_timeout_s:
            break
    await port.seize()
    incoming = call.result()
    log.info("%s: answered %s after %d rings: %s", port.name, of, incoming.rings, incoming)
    ending = DisconnectObserver(options.hang_up_timeout_s)

    aon = AonProbe(io_now)
    while not aon.done and not ending.cleared:
        aon.handle_timers(io_now)
        tick = await io.tick(aon.next_frame())
        io_now = tick.at
        for event in tick.events:
            ending.event(event)
        ending.frame(tick.samples, tick.at)
        aon.frame(tick.samples, tick.at)
    log.info("%s: AON %s", port.name, aon.caller or aon.failure)

    echo = None
    if measure_echo and not ending.cleared:
        echo = await _measure_echo(io, control, installer, options, ending)

    await installer.instruct(Instruction.HANG_UP, f"Hang up now ({of}).")
    ending.prompted(io_now)
    while not ending.done(io_now):
        tick = await io.tick()
        io_now = tick.at
        for event in tick.events:
            ending.event(event)
        ending.frame(tick.samples, tick.at)
    await port.release()
    await io.idle(1.0)
    port.take_events()
    result = ending.result()
    log.info("%s: disconnect %s", port.name, result)
    return CallRecord(incoming, True, aon.caller, result), echo


async def _measure_echo(io: _LineIo, control: AcTerminationControl | None,
                        installer: Installer, options: WizardOptions,
                        ending: DisconnectObserver) -> EchoResult | None:
    names: tuple[str | None, ...]
    if control is None:
        names = (None,)
    else:
        names = options.terminations or control.ac_terminations
    await installer.instruct(Instruction.INFO,
                             f"Measuring the echo with {len(names)} line termination(s)…")
    period = echo_test_signal(level_dbm0=options.echo_level_dbm0)
    ticks = -(-(options.echo_periods + 1) * period.size // BLOCK)
    results: list[tuple[str, EchoMeasurement]] = []
    for name in names:
        if control is not None and name is not None:
            await control.set_ac_termination(name)
        estimator = EchoEstimator(period)
        for frame in periodic_frames(period, ticks):
            tick = await io.tick(frame)
            for event in tick.events:
                ending.event(event)
            ending.frame(tick.samples, tick.at)
            if ending.cleared:
                log.info("the line cleared during the echo measurement; dropped")
                return None
            estimator.add(tick.samples)
        measurement = estimator.result()
        if measurement is not None:
            results.append((name or "current", measurement))
    return EchoResult(tuple(results), control is not None) if results else None
