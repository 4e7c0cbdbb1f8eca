"""Dialling out: loop-disconnect pulses read by the exchange's own pulse decoder, and DTMF
tones on the port's PCM slot read by an independent DTMF receiver."""

from __future__ import annotations

import pytest
from si3050_rig import Rig, RigFactory

from drivers.si3050.registers import Register
from hal.events import LoopCurrentChanged
from hal.fxo import DialMethod
from hal.linesignal import PulseNumbering, PulseTiming
from hal.sim.clock import ManualClock
from hal.sim.dtmf import SimDtmfReceiver


async def test_pulse_dialling_reaches_the_exchange(rig: Rig, clock: ManualClock) -> None:
    await rig.run(rig.port.seize())
    rig.port.take_events()
    start = clock.now()
    await rig.run(rig.port.dial("2095", DialMethod.PULSE))
    timing = PulseTiming()
    assert clock.now() - start == pytest.approx(timing.duration_s("2095"), abs=0.002)
    await clock.advance(1.0)
    assert rig.line.dialled == "2095"
    assert rig.line.seizures == 1                   # the breaks were pulses, not hang-ups
    assert rig.port.take_events() == []              # loop current is masked while pulsing


async def test_pulse_dialling_with_etsi_on_hook_speed_still_decodes(
        make_rig: RigFactory, clock: ManualClock) -> None:
    r = make_rig("eu", "eu")                         # OHS2: the loop opens 3 ms after OH
    await r.open()
    await r.run(r.port.seize())
    await r.run(r.port.dial("0", DialMethod.PULSE, PulseTiming(break_ms=66, make_ms=34)))
    await clock.advance(1.0)
    assert r.line.dialled == "0"


async def test_swedish_numbering_sends_n_plus_one_pulses(rig: Rig, clock: ManualClock) -> None:
    await rig.run(rig.port.seize())
    await rig.run(rig.port.dial("3", DialMethod.PULSE,
                                PulseTiming(numbering=PulseNumbering.SWEDEN)))
    await clock.advance(1.0)
    assert rig.line.dialled == "4"                   # the exchange counts standard digits


async def test_pulse_dialling_restores_the_off_hook_counter_and_calibration(rig: Rig) -> None:
    await rig.run(rig.port.seize())
    before = (rig.chip.register(Register.DAA_CTRL5), rig.chip.register(Register.INTL_CTRL2))
    await rig.run(rig.port.dial("1", DialMethod.PULSE))
    assert (rig.chip.register(Register.DAA_CTRL5),
            rig.chip.register(Register.INTL_CTRL2)) == before
    assert (Register.DAA_CTRL5, 0x60 | 0x02) in rig.chip.writes    # FOH 8 ms while pulsing


async def test_dtmf_dialling_puts_the_tones_on_the_pcm_slot(rig: Rig, clock: ManualClock) -> None:
    await rig.run(rig.port.seize())
    start = clock.now()
    dialling = rig.port.dial("*0#9", DialMethod.DTMF)
    heard = ""
    receiver = SimDtmfReceiver()

    async def drain() -> None:
        nonlocal heard
        while (frame := rig.port.audio.take_own_frame()) is not None:
            key = receiver.feed(frame)
            heard += key or ""

    task = rig.run(dialling, step_s=0.02)
    await drain()
    await task
    await drain()
    assert heard == "*0#9"
    assert clock.now() - start == pytest.approx(4 * 0.16, abs=0.02)
    assert rig.line.seizures == 1 and rig.line.dialled == ""   # no loop breaks


async def test_dialling_needs_a_seized_line_and_pulses_only_send_digits(rig: Rig) -> None:
    with pytest.raises(RuntimeError, match="seize"):
        await rig.port.dial("1")
    await rig.run(rig.port.seize())
    with pytest.raises(ValueError):
        await rig.port.dial("1*", DialMethod.PULSE)
    assert rig.line.dialled == ""


async def test_a_current_drop_while_pulsing_is_reported_when_dialling_ends(
        rig: Rig, clock: ManualClock) -> None:
    await rig.run(rig.port.seize())
    rig.port.take_events()
    # The far end clears while "9" is being pulsed: the drop is reported when dialling ends.
    clock.call_at(clock.now() + 0.3, lambda: rig.line.drop_battery(5000))
    await rig.run(rig.port.dial("9", DialMethod.PULSE))
    [dropped] = rig.port.take_events()
    assert isinstance(dropped, LoopCurrentChanged) and dropped.current_ma == 0.0
    assert dropped.at == pytest.approx(clock.now(), abs=0.002)
