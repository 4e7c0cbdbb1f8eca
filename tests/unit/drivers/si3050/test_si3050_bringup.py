"""Bringing the chip up: order, identity, country settings in the registers, and what happens
when the chip or its isolation link fails (out of service, alarm, retry with back-off)."""

from __future__ import annotations

import pytest
from si3050_rig import T0, Rig, RigFactory, advance_while

from drivers.si3050.emulator import EmulatedLine, Si3050Chain, Si3050Emulator
from drivers.si3050.port import ChipInfo, Si3050FxoPort
from drivers.si3050.registers import LineSideDevice, Register
from hal.errors import DeviceNotResponding
from hal.events import PortAlarm, PortAlarmCleared
from hal.sim.clock import ManualClock


async def test_open_identifies_the_chip_and_powers_the_line_side_up(rig: Rig) -> None:
    assert rig.port.chip == ChipInfo(3, LineSideDevice.SI3019, 2)
    assert rig.chip.link_up
    assert rig.chip.register(Register.DAA_CTRL2) & 0x10 == 0        # PDL cleared
    assert rig.chip.register(Register.PCM_SPI_MODE) == 0x20 | 3 << 3  # PCME, 16-bit linear
    assert rig.chip.register(Register.PCM_TX_COUNT_LOW) == 4 * 16    # slot 4
    assert rig.chip.register(Register.INTERRUPT_MASK) == 0xA0 | 0x08 | 0x04 | 0x01
    assert rig.chip.register(Register.CTRL2) & 0x84 == 0x84          # INTE, RDI
    assert rig.port.line_voltage_v == 60


async def test_line_side_settings_are_written_only_after_frame_lock(rig: Rig) -> None:
    writes = [r for r, _ in rig.chip.writes]
    power_up = max(i for i, (r, v) in enumerate(rig.chip.writes)
                   if r is Register.DAA_CTRL2 and v == 0)
    for register in (Register.DC_TERMINATION, Register.AC_TERMINATION, Register.INTL_CTRL1):
        assert writes.index(register) > power_up
    assert Register.DAA_CTRL1 not in writes[:power_up]


@pytest.mark.parametrize(("code", "reg26", "reg30", "reg31_ohs2"), [
    ("ru", 0x30, 0x00, 0), ("eu", 0xC2, 0x02, 0x08), ("us", 0xC0, 0x00, 0)])
async def test_country_settings_reach_the_chip(make_rig: RigFactory, code: str, reg26: int,
                                               reg30: int, reg31_ohs2: int) -> None:
    r = make_rig(code, code)
    await r.open()
    assert r.chip.register(Register.DC_TERMINATION) == reg26
    assert r.chip.register(Register.AC_TERMINATION) & 0x0F == reg30
    assert r.chip.register(Register.DAA_CTRL5) & 0x08 == reg31_ohs2


async def test_a_si3018_line_side_gets_act_and_no_polarity_interrupt(
        make_rig: RigFactory) -> None:
    r = make_rig("eu", "eu", line_side=LineSideDevice.SI3018)
    await r.open()
    assert r.port.chip is not None and r.port.chip.line_side is LineSideDevice.SI3018
    assert r.chip.register(Register.INTL_CTRL1) & 0xA0 == 0x20
    assert r.chip.register(Register.INTERRUPT_MASK) & 0x01 == 0
    assert r.port.line_voltage_v is None


@pytest.mark.parametrize("stuck", [0xFF, 0x00])
async def test_a_silent_chip_puts_the_port_out_of_service_and_is_retried(
        make_rig: RigFactory, clock: ManualClock, stuck: int) -> None:
    r = make_rig()
    r.chip.responding, r.chip.stuck_value = False, stuck
    await r.open()                                   # does not raise: the box keeps going
    assert not r.port.status.in_service
    assert "no Si3050 on SPI channel 1" in (r.port.status.reason or "")
    [alarm] = r.port.take_events()
    assert isinstance(alarm, PortAlarm) and alarm.at == pytest.approx(T0, abs=0.01)
    with pytest.raises(DeviceNotResponding):
        await r.port.seize()
    await clock.advance(1.0 + 2.0 + 0.05)            # retries at +1 s and +3 s fail quietly
    assert r.port.take_events() == []
    r.chip.responding = True
    await clock.advance(4.0)                         # the next retry, 4 s later, succeeds
    [cleared] = r.port.take_events()
    assert isinstance(cleared, PortAlarmCleared)
    assert cleared.at == pytest.approx(T0 + 7.0, abs=0.05)
    assert r.port.status.in_service


async def test_one_dead_chip_does_not_stop_its_neighbour_on_the_chain(
        clock: ManualClock) -> None:
    lines = [EmulatedLine(clock), EmulatedLine(clock)]
    chips = [Si3050Emulator(clock, lines[0], channel=0), Si3050Emulator(clock, lines[1],
                                                                      channel=1)]
    chips[0].link_fails = True                       # a broken isolation capacitor
    chain = Si3050Chain(chips)
    ports = [Si3050FxoPort(f"fxo{i + 1}", chain, i, clock, 4 + i, interrupt=chips[i].interrupt)
             for i in range(2)]
    for port in ports:
        await advance_while(clock, port.open())
    assert "did not frame-lock" in (ports[0].status.reason or "")
    assert ports[1].status.in_service
    lines[1].ring()
    await clock.advance(1.0)
    assert ports[1].ringing and not ports[0].ringing
    for port in ports:
        await port.close()
    assert chain.closes == 2


async def test_a_lost_isolation_link_alarms_at_once_and_recovers(rig: Rig,
                                                                 clock: ManualClock) -> None:
    rig.chip.break_link()
    await clock.settle()
    [alarm] = rig.port.take_events()
    assert isinstance(alarm, PortAlarm) and "frame lock" in alarm.reason
    assert alarm.at == pytest.approx(clock.now())    # FDTI, not the next scan
    rig.chip.link_fails = False
    await clock.advance(1.1)
    assert isinstance(rig.port.take_events()[-1], PortAlarmCleared)
    assert rig.port.status.in_service


async def test_a_chip_that_stops_answering_is_noticed_by_the_next_scan(
        rig: Rig, clock: ManualClock) -> None:
    rig.chip.responding = False
    await clock.advance(0.1)
    [alarm] = rig.port.take_events()
    assert alarm == PortAlarm("fxo1", pytest.approx(clock.now()),  # type: ignore[arg-type]
                              "the Si3050 stopped answering on SPI")
    assert not rig.port.status.in_service


async def test_close_leaves_the_line_on_hook_and_the_line_side_powered_down(rig: Rig) -> None:
    await rig.run(rig.port.seize())
    await rig.port.close()
    assert rig.chip.register(Register.DAA_CTRL1) & 0x01 == 0
    assert rig.chip.register(Register.DAA_CTRL2) & 0x10
    assert rig.chain.closes == 1
    await rig.port.close()                           # idempotent
    assert rig.chain.closes == 1
