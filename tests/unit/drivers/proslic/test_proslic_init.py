"""Bring-up: the AN35 sequence against the emulated chip (which flags any step out of order)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from drivers.proslic.chip import PcmLaw, ProSlicSettings
from drivers.proslic.emulator import ProSlicEmulator
from drivers.proslic.port import ProSlicFxsPort
from drivers.proslic.registers import DR, IR, LinefeedCode, Part, ring_frequency_hz
from hal.events import OffHook
from hal.fxs import Linefeed
from hal.sim.clock import ManualClock

MakePort = Callable[..., ProSlicFxsPort]
OpenPort = Callable[[ProSlicFxsPort], Awaitable[None]]



async def test_open_calibrates_and_powers_the_line(port: ProSlicFxsPort,
                                                   emulator: ProSlicEmulator) -> None:
    assert emulator.violations == []
    assert emulator.calibrated and emulator.balance_calibrated
    assert emulator.vbat_v == pytest.approx(66.0)
    assert emulator.linefeed is LinefeedCode.FORWARD_ACTIVE
    assert port.linefeed is Linefeed.FORWARD_ACTIVE
    assert emulator.phone.has_battery and not emulator.phone.line_reversed
    report = port.report
    assert report is not None
    assert (report.ring_gain_cal, report.tip_gain_cal) == (emulator.ring_cal_point,
                                                           emulator.tip_cal_point)
    assert report.dcdc_cal_result == emulator.dcdc_cal_result
    # AN35 step 10 and the interrupt set the driver relies on.
    assert emulator.register(DR.LOOPBACK) == 0 and emulator.register(DR.ENHANCEMENT) == 0xEB
    assert emulator.register(DR.IRQ_ENABLE2) == 0xFF
    # IR35-39 got their final values after calibration (0x8000 until then).
    assert emulator.indirect(IR.RING_TRIP_FILTER) == 0x0320
    assert emulator.indirect(IR.DTMF_ROW0_PEAK) == 0x55C2


async def test_open_takes_the_reset_and_calibration_time(
        clock: ManualClock, emulator: ProSlicEmulator, make_port: MakePort,
        open_port: OpenPort) -> None:
    fxs = make_port(emulator)
    start = clock.now()
    await open_port(fxs)
    took_s = clock.now() - start
    # 0.5 s reset, ≥ 0.2 s calibration, 0.1 s balance check, 40 ms per manual cal step.
    steps = (0x1F - emulator.ring_cal_point + 1) + (0x1F - emulator.tip_cal_point + 1)
    assert took_s >= 0.5 + 0.2 + 0.1 + 0.1 + steps * 0.04
    assert took_s < 3.0
    await fxs.close()


async def test_pcm_slot_law_and_ring_oscillator_follow_settings(
        emulator: ProSlicEmulator, make_port: MakePort, open_port: OpenPort) -> None:
    settings = ProSlicSettings(ring_frequency_hz=20.0, ring_vpk=60.0, pcm_law=PcmLaw.ULAW)
    fxs = make_port(emulator, slot=3, settings=settings)
    await open_port(fxs)
    assert emulator.register(DR.PCM_TX_START_LO) == 24  # slot 3 × 8 PCLK
    assert emulator.register(DR.PCM_RX_START_LO) == 24
    assert emulator.register(DR.PCM_MODE) == 0x28  # PCM on, µ-law ([OUF] 0x28)
    assert ring_frequency_hz(emulator.indirect(IR.RING_OSC)) == pytest.approx(20.0, abs=0.1)
    await fxs.close()


async def test_si3215_gets_its_own_indirect_addresses(
        clock: ManualClock, make_port: MakePort, open_port: OpenPort) -> None:
    chip = ProSlicEmulator(clock, part=Part.SI3215, revision=3)
    fxs = make_port(chip)
    await open_port(fxs)
    assert fxs.status.in_service and chip.violations == []
    assert fxs.report is not None and fxs.report.identity.part is Part.SI3215
    # The emulator stores IR RING_OSC at the Si3215 address 7, where the driver must put it.
    assert ring_frequency_hz(chip.indirect(IR.RING_OSC)) == pytest.approx(25.0, abs=0.1)
    await fxs.close()


async def test_phone_off_hook_at_start_skips_balance_calibration(
        clock: ManualClock, emulator: ProSlicEmulator, make_port: MakePort,
        open_port: OpenPort) -> None:
    emulator.phone.lift()
    fxs = make_port(emulator)
    await open_port(fxs)
    await clock.advance(0.1)
    assert fxs.status.in_service
    assert fxs.report is not None and not fxs.report.balance_calibrated
    assert not emulator.balance_calibrated
    assert [type(e) for e in fxs.take_events()] == [OffHook]
    await fxs.close()


async def test_close_leaves_the_line_open_and_quiet(
        emulator: ProSlicEmulator, make_port: MakePort, open_port: OpenPort) -> None:
    fxs = make_port(emulator)
    await open_port(fxs)
    await fxs.close()
    await fxs.close()  # idempotent
    assert emulator.linefeed is LinefeedCode.OPEN
    assert emulator.register(DR.IRQ_ENABLE2) == 0
    assert emulator.closed and fxs.linefeed is Linefeed.OPEN


async def test_probe_reports_chip_battery_and_line(port: ProSlicFxsPort,
                                                   emulator: ProSlicEmulator) -> None:
    probe = port.readings()
    assert probe.identity.part is Part.SI3210 and probe.identity.revision_letter == "E"
    assert probe.vbat_v == pytest.approx(66.0, abs=0.5)
    assert probe.tip_v == pytest.approx(3.0, abs=0.5)  # forward: tip near VCM
    assert probe.ring_v == pytest.approx(51.0, abs=0.5)  # VCM + 48 V on hook
    assert probe.linefeed is LinefeedCode.FORWARD_ACTIVE
    facts = await port.probe()
    assert facts["chip"] == "SI3210 rev E" and facts["linefeed"] == "forward_active"
