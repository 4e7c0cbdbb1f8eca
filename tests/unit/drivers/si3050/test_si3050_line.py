"""Line supervision: loop current, polarity, line in use, line faults, the on-hook monitor."""

from __future__ import annotations

import pytest
from si3050_rig import Rig, RigFactory

from drivers.si3050.registers import Register
from hal.errors import LineFault
from hal.events import (
    LineInUse,
    LoopCurrentChanged,
    PolarityReversed,
    PortAlarm,
    PortAlarmCleared,
)
from hal.sim.clock import ManualClock


async def test_seizing_draws_loop_current_and_reports_it(rig: Rig) -> None:
    await rig.run(rig.port.seize())
    assert rig.line.loop_closed and rig.line.seizures == 1
    [event] = rig.port.take_events()
    assert isinstance(event, LoopCurrentChanged)
    # What the port reports is the chip's 3.3 mA/step reading of the current that flows.
    assert event.current_ma == pytest.approx(rig.chip.loop_current_ma, abs=3.3 / 2)
    assert 20.0 < event.current_ma < 50.0
    assert rig.port.loop_current_ma == event.current_ma


async def test_release_opens_the_loop_and_reports_no_current(rig: Rig,
                                                            clock: ManualClock) -> None:
    await rig.run(rig.port.seize())
    rig.port.take_events()
    await rig.port.release()
    await clock.advance(0.01)
    assert not rig.line.loop_closed
    assert rig.port.take_events() == [LoopCurrentChanged("fxo1", clock.now() - 0.01, 0.0)]


async def test_a_tbr21_line_never_sees_more_than_60_ma(make_rig: RigFactory) -> None:
    r = make_rig("eu", "eu")                         # 50 V behind 230 ohm, no line: worst case
    await r.open()
    await r.run(r.port.seize())
    assert 40.0 < r.line.max_loop_current_ma <= 60.0  # ILIM's 2000 ohm slope above 40 mA
    assert r.port.loop_current_ma <= 60.0


async def test_answer_supervision_by_polarity_reversal(rig: Rig, clock: ManualClock) -> None:
    await rig.run(rig.port.seize())
    rig.port.take_events()
    t = clock.now()
    rig.line.reverse_polarity()
    await clock.advance(0.1)      # POLI prompts a reading, the next scan confirms it
    assert rig.port.take_events() == [PolarityReversed("fxo1", t, True)]
    assert rig.port.polarity_reversed
    t = clock.now()
    rig.line.reverse_polarity()
    await clock.advance(0.1)
    assert rig.port.take_events() == [PolarityReversed("fxo1", t, False)]


async def test_a_loop_current_drop_is_reported_at_once_and_its_end_by_the_next_scan(
        rig: Rig, clock: ManualClock) -> None:
    await rig.run(rig.port.seize())
    [flowing] = rig.port.take_events()
    assert isinstance(flowing, LoopCurrentChanged)
    t = clock.now()
    rig.line.drop_battery(600)
    await clock.settle()                             # DODI
    assert rig.port.take_events() == [LoopCurrentChanged("fxo1", t, 0.0)]
    await clock.advance(0.7)
    [back] = rig.port.take_events()
    assert back.current_ma == flowing.current_ma     # type: ignore[union-attr]
    assert t + 0.6 <= back.at <= t + 0.7


async def test_a_parallel_set_off_hook_shows_as_line_in_use(rig: Rig,
                                                           clock: ManualClock) -> None:
    t = clock.now()
    rig.line.parallel_set(True)
    await clock.advance(0.5)
    [in_use] = rig.port.take_events()
    assert in_use == LineInUse("fxo1", pytest.approx(t, abs=0.1), True)  # type: ignore[arg-type]
    assert rig.port.line_in_use and 0 < (rig.port.line_voltage_v or 0) < 25
    rig.line.parallel_set(False)
    await clock.advance(0.5)
    [free] = rig.port.take_events()
    assert isinstance(free, LineInUse) and not free.in_use


async def test_seizing_a_line_in_use_ends_the_line_in_use_state(rig: Rig,
                                                               clock: ManualClock) -> None:
    rig.line.parallel_set(True)
    await clock.advance(0.5)
    rig.port.take_events()
    await rig.run(rig.port.seize())
    events = rig.port.take_events()
    assert isinstance(events[0], LineInUse) and not events[0].in_use
    assert not rig.port.line_in_use


async def test_a_cut_line_is_a_line_fault_after_1_5_s_and_clears_when_restored(
        rig: Rig, clock: ManualClock) -> None:
    t = clock.now()
    rig.line.cut()
    await clock.advance(1.4)
    assert rig.port.take_events() == [] and rig.port.status.in_service
    await clock.advance(0.2)
    [alarm] = rig.port.take_events()
    assert isinstance(alarm, PortAlarm) and alarm.reason == "no line voltage"
    assert alarm.at == pytest.approx(t, abs=0.1)
    assert rig.port.status.reason == "no line voltage"
    with pytest.raises(LineFault):
        await rig.port.seize()
    rig.line.reconnect()
    await clock.advance(1.6)
    assert isinstance(rig.port.take_events()[-1], PortAlarmCleared)
    assert rig.port.status.in_service


async def test_seizing_a_dead_line_raises_line_fault(rig: Rig, clock: ManualClock) -> None:
    rig.line.cut()
    await clock.advance(0.2)                         # not yet a confirmed fault
    with pytest.raises(LineFault, match="no battery"):
        await rig.run(rig.port.seize())


async def test_on_hook_monitor_is_cleared_before_going_off_hook_and_restored_after(
        rig: Rig, clock: ManualClock) -> None:
    await rig.port.monitor_on_hook(True)
    assert rig.chip.register(Register.DAA_CTRL1) == 0x08      # ONHM
    await rig.run(rig.port.seize())
    assert rig.chip.register(Register.DAA_CTRL1) == 0x01      # OH (ONHM cleared first)
    await rig.port.release()
    assert rig.chip.register(Register.DAA_CTRL1) == 0x08
    await rig.port.monitor_on_hook(False)
    assert rig.chip.register(Register.DAA_CTRL1) == 0x00
