"""Hardware faults as everyday events: the port goes out of service with the reason and a
PortAlarm, the other ports keep working, and the driver retries with back-off until the fault
is gone, then reports PortAlarmCleared."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from drivers.proslic.emulator import ProSlicEmulator
from drivers.proslic.port import ProSlicFxsPort
from drivers.proslic.registers import LinefeedCode
from hal.events import OffHook, OnHook, PortAlarm, PortAlarmCleared
from hal.linesignal import RING_CADENCES
from hal.sim.clock import ManualClock

MakePort = Callable[..., ProSlicFxsPort]
OpenPort = Callable[[ProSlicFxsPort], Awaitable[None]]


def alarms(port: ProSlicFxsPort) -> list[object]:
    return [e for e in port.take_events() if isinstance(e, PortAlarm | PortAlarmCleared)]


@pytest.mark.parametrize("miso", [0xFF, 0x00])
async def test_silent_chip_is_out_of_service_and_the_other_port_works(
        clock: ManualClock, make_port: MakePort, open_port: OpenPort, miso: int) -> None:
    dead, alive = ProSlicEmulator(clock), ProSlicEmulator(clock)
    dead.answering, dead.miso_idle = False, miso
    fxs1, fxs2 = make_port(dead, "fxs1", 0), make_port(alive, "fxs2", 1)
    await open_port(fxs1)  # does not raise
    await open_port(fxs2)
    assert not fxs1.status.in_service
    assert fxs1.status.reason == f"no ProSLIC answers on SPI (DR0 reads 0x{miso:02X})"
    (alarm,) = alarms(fxs1)
    assert isinstance(alarm, PortAlarm) and alarm.reason == fxs1.status.reason
    with pytest.raises(RuntimeError):
        await fxs1.ring(RING_CADENCES["ru"])
    await fxs2.ring(RING_CADENCES["ru"])
    await clock.advance(0.5)
    assert fxs2.status.in_service and alive.phone.bell_on
    await fxs1.close()
    await fxs2.close()


async def test_retry_backs_off_and_recovers(clock: ManualClock, emulator: ProSlicEmulator,
                                            make_port: MakePort, open_port: OpenPort) -> None:
    emulator.answering = False
    fxs = make_port(emulator)
    await open_port(fxs)
    failed_at = clock.now()
    await clock.advance(3.5)  # retries at +1 s and +3 s fail
    emulator.answering = True
    await clock.advance(failed_at + 6.9 - clock.now())
    assert not fxs.status.in_service  # the next retry is due at +7 s
    await clock.run_until(lambda: fxs.status.in_service, 5.0)
    assert clock.now() >= failed_at + 7.0
    assert fxs.status.in_service and emulator.linefeed is LinefeedCode.FORWARD_ACTIVE
    assert [type(e) for e in alarms(fxs)] == [PortAlarm, PortAlarmCleared]  # one episode
    await fxs.close()


async def test_foreign_voltage_at_start_up_keeps_the_converter_off(
        clock: ManualClock, emulator: ProSlicEmulator, make_port: MakePort,
        open_port: OpenPort) -> None:
    emulator.inject_foreign_voltage(60.0)
    fxs = make_port(emulator)
    await open_port(fxs)
    assert fxs.status.reason is not None
    assert fxs.status.reason.startswith("foreign voltage on the line before power-up: tip 60 V")
    assert emulator.vbat_v == 0.0 and emulator.linefeed is LinefeedCode.OPEN
    emulator.clear_line_fault()
    assert await clock.run_until(lambda: fxs.status.in_service, 5.0)
    await fxs.close()


async def test_power_alarm_in_a_call_ends_it_and_the_line_comes_back(
        port: ProSlicFxsPort, emulator: ProSlicEmulator, clock: ManualClock) -> None:
    emulator.phone.lift()
    await clock.advance(0.5)
    port.take_events()
    emulator.inject_power_alarm(5)
    await clock.advance(0.01)
    assert not port.status.in_service
    assert port.status.reason == ("power alarm on Q5: short or foreign voltage on the line")
    assert emulator.linefeed is LinefeedCode.OPEN  # the chip opened the line itself
    await clock.advance(0.5)
    events = port.take_events()
    assert [type(e) for e in events] == [PortAlarm, OnHook]
    # Retry after 1 s, confirmed after 0.5 s without a new alarm.
    assert await clock.run_until(lambda: port.status.in_service, 3.0)
    events = port.take_events()
    assert [type(e) for e in events] == [OffHook, PortAlarmCleared]  # still lifted
    assert port.power_alarms == 1


async def test_persistent_foreign_voltage_alarms_once_and_backs_off(
        port: ProSlicFxsPort, emulator: ProSlicEmulator, clock: ManualClock) -> None:
    emulator.inject_foreign_voltage(48.0)
    await clock.advance(20.0)
    assert not port.status.in_service
    # Re-powered at about +1, +3, +7 and +15 s: each time the alarm came back at once.
    assert 3 <= port.power_alarms <= 5
    assert [type(e) for e in alarms(port)] == [PortAlarm]
    emulator.clear_line_fault()
    assert await clock.run_until(lambda: port.status.in_service, 40.0)
    assert [type(e) for e in alarms(port)] == [PortAlarmCleared]


async def test_chip_that_reset_itself_is_re_initialised(port: ProSlicFxsPort,
                                                        emulator: ProSlicEmulator,
                                                        clock: ManualClock) -> None:
    emulator.reset()  # a supply glitch: every register back to default, line open
    await clock.advance(1.1)  # the one-second supervision notices DR8 = 0x02
    assert not port.status.in_service
    assert port.status.reason == "the chip reset itself; re-initialising"
    assert await clock.run_until(lambda: port.status.in_service, 6.0)
    assert emulator.calibrated and emulator.linefeed is LinefeedCode.FORWARD_ACTIVE
    assert emulator.violations == []


async def test_chip_that_stops_answering_is_noticed(port: ProSlicFxsPort,
                                                    emulator: ProSlicEmulator,
                                                    clock: ManualClock) -> None:
    emulator.answering = False
    await clock.advance(1.1)
    assert port.status.reason == "no answer on SPI"
    emulator.answering = True
    assert await clock.run_until(lambda: port.status.in_service, 6.0)


async def test_dead_converter_and_old_silicon_are_named(
        clock: ManualClock, make_port: MakePort, open_port: OpenPort) -> None:
    no_dcdc = ProSlicEmulator(clock)
    no_dcdc.dcdc_fails = True
    old = ProSlicEmulator(clock, revision=1)
    fxs1, fxs2 = make_port(no_dcdc, "fxs1", 0), make_port(old, "fxs2", 1)
    await open_port(fxs1)
    await open_port(fxs2)
    assert fxs1.status.reason == "DC-DC converter reached only 0 V of 66 V"
    assert fxs2.status.reason == "Si3210 revision 1 is too old (need ≥ 2)"
    await fxs1.close()
    await fxs2.close()
