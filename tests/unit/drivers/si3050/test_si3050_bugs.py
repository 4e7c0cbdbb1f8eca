"""The emulator catches driver bugs: each test runs a deliberately broken variant of the real
driver and shows the emulated chip or line objecting, next to the correct driver passing."""

from __future__ import annotations

import dataclasses

from si3050_rig import RigFactory

from drivers.si3050.countries import COUNTRIES
from drivers.si3050.port import Si3050FxoPort, Si3050Registers, SpiBus
from drivers.si3050.registers import Acim, DaaCtrl1, Register
from hal.clock import Clock
from hal.events import PortAlarm


class SkipsFrameLockWait(Si3050FxoPort):
    """BUG: talks to the line side as soon as PDL is cleared, without waiting for FDT."""

    async def _await_frame_lock(self) -> None:
        return None


class SeizesBeforeFrameLock(Si3050FxoPort):
    """BUG: a trunk driver that takes the line while the isolation link is still coming up."""

    async def _await_frame_lock(self) -> None:
        self._regs.write(Register.DAA_CTRL1, int(DaaCtrl1.OH))
        await super()._await_frame_lock()


class StraightChannelRegisters(Si3050Registers):
    """BUG: the channel goes into the control byte as is, not bit-reversed."""

    def __init__(self, spi: SpiBus, channel: int, device: str) -> None:
        super().__init__(spi, channel, device)
        self._address = channel


class StraightChannelPort(Si3050FxoPort):
    def __init__(self, name: str, spi: SpiBus, channel: int, clock: Clock, slot: int,
                 **options: object) -> None:
        super().__init__(name, spi, channel, clock, slot, **options)  # type: ignore[arg-type]
        self._regs = StraightChannelRegisters(spi, channel, name)


async def test_skipping_the_frame_lock_wait_is_caught(make_rig: RigFactory) -> None:
    good, bad = make_rig(), make_rig(port_class=SkipsFrameLockWait)
    await good.open()
    await bad.open()
    assert good.port.status.in_service
    # The line side's identity reads 0 until the link has frame lock: the port refuses.
    assert not bad.port.status.in_service
    assert "unknown line-side device id 0" in (bad.port.status.reason or "")
    [alarm] = bad.port.take_events()
    assert isinstance(alarm, PortAlarm)


async def test_going_off_hook_before_the_line_side_link_is_up_is_caught(
        make_rig: RigFactory) -> None:
    good, bad = make_rig(), make_rig(port_class=SeizesBeforeFrameLock)
    await good.open()
    await bad.open()
    assert good.chip.violations == []
    assert bad.chip.violations == ["OH set while the line side is down (PDL set or no frame "
                                   "lock): the line stays on-hook"]
    bad.expect_violations = True


async def test_a_wrong_russian_ac_termination_shows_as_poor_return_loss(
        make_rig: RigFactory) -> None:
    # BUG: the Russian row carries the TBR21 network (a copy-paste from the "eu" row).
    wrong = dataclasses.replace(COUNTRIES["ru"], acim=Acim.CTR21)
    good, bad = make_rig("ru", "ru"), make_rig("ru", wrong)
    await good.open()
    await bad.open()
    assert good.line.return_loss_db(good.chip.ac_termination) >= 40.0
    assert bad.line.return_loss_db(bad.chip.ac_termination) < 14.0   # ≈ 9.4 dB: echo


async def test_fcc_settings_on_a_tbr21_line_exceed_its_current_limit(
        make_rig: RigFactory) -> None:
    good, bad = make_rig("eu", "eu"), make_rig("eu", "us")   # BUG: no ILIM on a TBR21 line
    for r in (good, bad):
        await r.open()
        await r.run(r.port.seize())
    assert good.line.violations == []
    assert bad.line.violations and "above the 60 mA limit" in bad.line.violations[0]
    assert bad.port.loop_current_ma > 100.0            # LCS overload (0x1F)
    bad.expect_violations = True


async def test_an_unreversed_channel_address_reaches_no_chip(make_rig: RigFactory) -> None:
    bad = make_rig(port_class=StraightChannelPort)     # channel 1 sent as 0x01 = channel 16
    await bad.open()
    assert bad.chip.writes == []
    assert "wrote 0x5A to register 34, read 0xFF" in (bad.port.status.reason or "")
