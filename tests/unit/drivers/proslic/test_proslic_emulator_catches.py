"""The emulator catches driver bugs: each test injects one deliberate bug into the real
driver (a subclass) and shows the emulator refusing it or the line misbehaving, next to the
correct driver passing the same check elsewhere in this directory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from drivers.proslic.chip import InterruptStatus, ProSlicChip
from drivers.proslic.emulator import EmulatorProtocolError, ProSlicEmulator
from drivers.proslic.port import ProSlicFxsPort
from drivers.proslic.registers import DR, IR, SI3210_ADDRESSES, Part
from hal.events import OnHook
from hal.linesignal import RING_CADENCES
from hal.sim.clock import ManualClock

MakePort = Callable[..., ProSlicFxsPort]
OpenPort = Callable[[ProSlicFxsPort], Awaitable[None]]


class NoIasPollChip(ProSlicChip):
    """Bug: starts indirect accesses without waiting for IAS (DR31) to clear."""

    def wait_indirect(self) -> None:
        return None


class NoIasPollPort(ProSlicFxsPort):
    chip_class = NoIasPollChip


async def test_skipping_the_indirect_status_poll_is_refused(
        clock: ManualClock, emulator: ProSlicEmulator, make_port: MakePort,
        open_port: OpenPort) -> None:
    with pytest.raises(EmulatorProtocolError, match="poll IAS"):
        await open_port(make_port(emulator, cls=NoIasPollPort))


async def test_skipping_the_indirect_status_poll_corrupts_the_registers(
        clock: ManualClock, make_port: MakePort, open_port: OpenPort) -> None:
    lenient = ProSlicEmulator(clock, strict=False)  # what a real chip would do: no exception
    fxs = make_port(lenient, cls=NoIasPollPort)
    await open_port(fxs)
    assert lenient.violations
    assert not fxs.status.in_service  # the read-back verification saw stale IDA data
    assert fxs.status.reason is not None and "reads back" in fxs.status.reason


class MillisecondTimerPort(ProSlicFxsPort):
    """Bug: programs the ring timers in milliseconds instead of 125 µs counts."""

    def _program_ring_timers(self, on_ms: int, off_ms: int) -> None:
        self.chip.write(DR.RING_ACTIVE_LO, on_ms & 0xFF)
        self.chip.write(DR.RING_ACTIVE_HI, on_ms >> 8)
        self.chip.write(DR.RING_INACTIVE_LO, off_ms & 0xFF)
        self.chip.write(DR.RING_INACTIVE_HI, off_ms >> 8)
        self.chip.write(DR.RING_OSC_CONTROL, 0x18)


async def test_wrong_ring_timer_units_ring_the_wrong_cadence(
        clock: ManualClock, emulator: ProSlicEmulator, make_port: MakePort,
        open_port: OpenPort) -> None:
    fxs = make_port(emulator, cls=MillisecondTimerPort)
    await open_port(fxs)
    await fxs.ring(RING_CADENCES["ru"])
    await clock.advance(2.0)
    assert emulator.phone.ring_cadence_ms()[:2] == [125, 500]  # not [1000, 4000]
    await fxs.close()


class ClearWithZeroChip(ProSlicChip):
    """Bug: "clears" the interrupt status by writing 0 (the chip clears on writing 1)."""

    def take_interrupts(self) -> InterruptStatus:
        values = [self.read(r) for r in (DR.IRQ_STATUS1, DR.IRQ_STATUS2, DR.IRQ_STATUS3)]
        for register in (DR.IRQ_STATUS1, DR.IRQ_STATUS2, DR.IRQ_STATUS3):
            self.write(register, 0)
        return InterruptStatus(*values)


class ClearWithZeroPort(ProSlicFxsPort):
    chip_class = ClearWithZeroChip


async def test_wrong_interrupt_clear_leaves_int_stuck_and_hang_up_late(
        clock: ManualClock, emulator: ProSlicEmulator, make_port: MakePort,
        open_port: OpenPort) -> None:
    fxs = make_port(emulator, cls=ClearWithZeroPort)
    await open_port(fxs)
    emulator.phone.lift()
    await clock.advance(0.7)
    hung_up_at = clock.now()
    emulator.phone.hang_up()
    await clock.advance(2.0)
    assert emulator.interrupt.is_active and emulator.interrupt.edges == 1  # never re-armed
    on_hooks = [e for e in fxs.take_events() if isinstance(e, OnHook)]
    # The correct driver reports the hang-up at its line time (test_proslic_hook); this one
    # only hears of it from the one-second supervision.
    assert on_hooks and on_hooks[0].at - hung_up_at > 0.1
    await fxs.close()


class Si3210AddressesChip(ProSlicChip):
    """Bug: uses Si3210 indirect addresses on every chip, the Si3215 too."""

    def address(self, register: IR) -> int | None:
        return SI3210_ADDRESSES[register]


class Si3210AddressesPort(ProSlicFxsPort):
    chip_class = Si3210AddressesChip


async def test_si3210_addresses_on_a_si3215_ring_nothing(
        clock: ManualClock, make_port: MakePort, open_port: OpenPort) -> None:
    si3215 = ProSlicEmulator(clock, part=Part.SI3215, revision=3)
    fxs = make_port(si3215, cls=Si3210AddressesPort)
    await open_port(fxs)
    await fxs.ring(RING_CADENCES["ru"])
    await clock.advance(1.5)
    assert si3215.phone.ring_bursts == []  # the ring oscillator never got its coefficients
    await fxs.close()
