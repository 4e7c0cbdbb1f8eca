"""The emulated chip against the data sheet's statements, register by register, through the
same SPI framing the driver uses."""

from __future__ import annotations

from drivers.si3050.emulator import EmulatedLine, Si3050Chain, Si3050Emulator
from drivers.si3050.port import Si3050Registers
from drivers.si3050.registers import Register
from hal.sim.clock import ManualClock


def rig(clock: ManualClock) -> tuple[EmulatedLine, Si3050Emulator, Si3050Registers]:
    line = EmulatedLine(clock, "ru")
    chip = Si3050Emulator(clock, line, channel=2)
    return line, chip, Si3050Registers(Si3050Chain([chip]), 2, "fxo1")


async def test_the_line_side_reads_nothing_until_frame_lock(clock: ManualClock) -> None:
    _, chip, regs = rig(clock)
    assert regs.read(Register.DAA_CTRL2) == 0x10                 # PDL after reset
    assert regs.read(Register.DEVICE_REVISION) == 0x03           # LSID 0 until the link is up
    assert regs.read(Register.LINE_SIDE_REVISION) == 0x40
    assert regs.read(Register.LINE_SIDE_STATUS) & 0x40 == 0
    assert regs.read(Register.LINE_VOLTAGE_STATUS) == 0
    regs.write(Register.DAA_CTRL2, 0)
    await clock.advance(0.01)
    assert regs.read(Register.LINE_SIDE_STATUS) & 0x40 == 0
    await clock.advance(0.01)
    assert regs.read(Register.LINE_SIDE_STATUS) & 0x40
    assert regs.read(Register.DEVICE_REVISION) == 0x33           # Si3019, revision 3
    assert regs.read(Register.LINE_SIDE_REVISION) == 0x40 | 2 << 2
    assert regs.read(Register.LINE_VOLTAGE_STATUS) == 60         # 60 V battery
    assert regs.read(Register.INTERRUPT_SOURCE) & 0x80           # RDTI from the power-up


async def test_interrupt_sources_clear_by_writing_zero_and_gate_the_pin(
        clock: ManualClock) -> None:
    line, chip, regs = rig(clock)
    regs.write(Register.DAA_CTRL2, 0)
    await clock.advance(0.02)
    regs.write(Register.INTERRUPT_MASK, 0x01)                    # POLM
    regs.write(Register.INTERRUPT_SOURCE, 0)
    line.reverse_polarity()
    # POLI latched; and with ring validation off (the reset state) the reversal also trips
    # the ring detector (data sheet §5.25.1), hence RDTI.
    assert regs.read(Register.INTERRUPT_SOURCE) == 0x81
    assert regs.read(Register.LINE_VOLTAGE_STATUS) == 256 - 60   # -60 V: bit 7 is polarity
    assert not chip.interrupt.asserted                           # INTE still off
    regs.write(Register.CTRL2, 0x80)
    assert chip.interrupt.asserted
    regs.write(Register.INTERRUPT_SOURCE, 0xFF)                  # writing 1 leaves it
    assert chip.interrupt.asserted
    regs.write(Register.INTERRUPT_SOURCE, 0x80)
    assert not chip.interrupt.asserted                           # RDTI is masked
    assert regs.read(Register.INTERRUPT_SOURCE) == 0x80


async def test_rdtp_and_rdtn_follow_the_ring_half_cycles(clock: ManualClock) -> None:
    line, chip, regs = rig(clock)
    regs.write(Register.DAA_CTRL2, 0)
    await clock.advance(0.02)
    line.ring()
    samples = []
    for _ in range(200):                                         # 200 ms at 1 ms
        samples.append(regs.read(Register.DAA_CTRL1) & 0x60)
        await clock.advance(0.001)
    positive_runs = sum(1 for a, b in zip(samples, samples[1:], strict=False)
                        if b == 0x20 and a != 0x20)
    negative_runs = sum(1 for a, b in zip(samples, samples[1:], strict=False)
                        if b == 0x40 and a != 0x40)
    assert positive_runs in (4, 5) and negative_runs in (4, 5)   # 25 Hz for 200 ms
    assert 0x60 not in samples


async def test_off_hook_draws_loop_current_and_on_hook_speed_delays_the_break(
        clock: ManualClock) -> None:
    line, chip, regs = rig(clock)
    regs.write(Register.DAA_CTRL5, 0x08)                         # OHS2: 3 ms
    regs.write(Register.DAA_CTRL2, 0)
    await clock.advance(0.02)
    regs.write(Register.DAA_CTRL1, 0x01)
    assert line.loop_closed
    lcs = regs.read(Register.LINE_SIDE_STATUS) & 0x1F
    assert abs(lcs * 3.3 - chip.loop_current_ma) <= 3.3 / 2
    regs.write(Register.DAA_CTRL1, 0)
    await clock.advance(0.002)
    assert line.loop_closed
    await clock.advance(0.002)
    assert not line.loop_closed


async def test_forbidden_writes_are_recorded(clock: ManualClock) -> None:
    _, chip, regs = rig(clock)
    regs.write(Register.DAA_CTRL1, 0x01)                         # OH with the line side down
    regs.write(Register.LINE_VOLTAGE_STATUS, 0)                  # read-only
    assert len(chip.violations) == 2
    assert "line side is down" in chip.violations[0]
    assert "read-only register 29" in chip.violations[1]


async def test_soft_reset_restores_reset_values(clock: ManualClock) -> None:
    _, chip, regs = rig(clock)
    regs.write(Register.DAA_CTRL2, 0)
    regs.write(Register.PCM_TX_COUNT_LOW, 0x40)
    await clock.advance(0.02)
    regs.write(Register.CTRL1, 0x80)
    assert regs.read(Register.PCM_TX_COUNT_LOW) == 0
    assert regs.read(Register.DAA_CTRL2) == 0x10 and not chip.link_up


async def test_the_chain_routes_by_channel_and_broadcasts(clock: ManualClock) -> None:
    chips = [Si3050Emulator(clock, channel=c) for c in (0, 1)]
    chain = Si3050Chain(chips)
    chain.xfer2([0xA0, int(Register.PCM_RX_COUNT_LOW), 0x23])    # broadcast write
    assert [c.register(Register.PCM_RX_COUNT_LOW) for c in chips] == [0x23, 0x23]
    assert chain.xfer2([0x60 | 0x10, int(Register.PCM_RX_COUNT_LOW), 0xFF])[2] == 0x23
    assert chain.xfer2([0x60 | 0x08, int(Register.PCM_RX_COUNT_LOW), 0xFF])[2] == 0xFF
    chain.xfer2([0x00])
    assert chain.violations == ["control byte 0x00 lacks bit 5"]
