"""The DECT UART driver against the module emulator: bring-up, registration, incoming and
outgoing calls, keypad, display, handover between two bases, a silent UART (out of service,
PortAlarm, retry with back-off), noise and lost frames on the wire — and driver bugs that the
emulator catches. Every test runs the real driver over the emulator's pyserial-shaped port on
the manual clock; the emulator must see no protocol violation unless a test provokes one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import MappingProxyType

import pytest

from drivers.dect.base import BaseDirectory, DectUartBase, SerialPort, create_devices
from drivers.dect.emulator import (
    DectCluster,
    DectModuleEmulator,
    EmulatedHandset,
    EmulatedSerialPort,
)
from drivers.dect.frames import Frame, FrameErrorReason, FrameKind, encode
from drivers.dect.messages import Command, RegOpenReq
from hal.audio import AudioPort
from hal.board import BoardEntry, BoardError, DeviceKind
from hal.dect import CallerIdText, Handset
from hal.errors import DeviceError, DeviceFault, DeviceNotResponding, LineFault
from hal.events import (
    HandoverCompleted,
    HandoverStarted,
    HandsetDeregistered,
    HandsetOffHook,
    HandsetOnHook,
    HandsetRegistered,
    KeypadPressed,
    PortAlarm,
    PortAlarmCleared,
    RegistrationWindowClosed,
)
from hal.loader import BoardContext
from hal.sim.clock import ManualClock
from hal.sim.fxs import SimFxsPort

T0 = 1000.0
RFPI1, RFPI2 = "0012345670", "0012345680"
IPUI_A, IPUI_B, IPUI_C = "0123456789", "0123456790", "0123456791"
PIN = "1234"


def near(seconds: float) -> object:
    """A board time `seconds` after T0, as float steps of the manual clock reach it."""
    return pytest.approx(T0 + seconds, abs=1e-6)


@dataclass
class Rig:
    clock: ManualClock
    cluster: DectCluster
    m1: DectModuleEmulator
    m2: DectModuleEmulator
    b1: DectUartBase
    b2: DectUartBase
    opened_at: list[float]
    """When the driver (re)opened dect1's port."""


async def open_base(base: DectUartBase, clock: ManualClock) -> None:
    task = asyncio.create_task(base.open())
    assert await clock.run_until(task.done, 5.0)
    await task


def counting(module: DectModuleEmulator, clock: ManualClock,
             log: list[float]) -> Callable[[], SerialPort]:
    def open_port() -> SerialPort:
        log.append(clock.now())
        return module.open_port()

    return open_port


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=T0)


@pytest.fixture
async def rig(clock: ManualClock) -> AsyncIterator[Rig]:
    cluster = DectCluster(clock)
    m1, m2 = cluster.base(RFPI1), cluster.base(RFPI2)
    directory = BaseDirectory()
    opened_at: list[float] = []
    b1 = DectUartBase("dect1", counting(m1, clock, opened_at), clock,
                      [AudioPort("dect1", 6), AudioPort("dect1", 7)], directory=directory,
                      port_label="/dev/ttyAMA1")
    b2 = DectUartBase("dect2", m2.open_port, clock, [AudioPort("dect2", 8)],
                      directory=directory, port_label="/dev/ttyAMA2")
    await open_base(b1, clock)
    await open_base(b2, clock)
    yield Rig(clock, cluster, m1, m2, b1, b2, opened_at)
    await b1.close()
    await b2.close()
    assert m1.violations == [] and m2.violations == []


async def registered(rig: Rig, ipui: str, module: DectModuleEmulator | None = None,
                     base: DectUartBase | None = None) -> EmulatedHandset:
    """A handset subscribed through `base` (dect1), events taken."""
    module, base = module or rig.m1, base or rig.b1
    await base.open_registration(60, PIN)
    handset = rig.cluster.handset(ipui)
    assert handset.register(module, PIN) is not None
    await base.close_registration()
    await rig.clock.settle()
    rig.b1.take_events()
    rig.b2.take_events()
    return handset


def commands(module: DectModuleEmulator) -> list[Command]:
    return [Command(f.command) for _, f in module.requests]


# --- bring-up ------------------------------------------------------------------------------------

async def test_bring_up_resets_reads_info_configures_slots_and_reads_the_table(
        clock: ManualClock) -> None:
    cluster = DectCluster(clock)
    module = cluster.base(RFPI1)
    cluster.subscriptions[4] = IPUI_A              # subscribed before: in the module's EEPROM
    cluster.handset(IPUI_A).base = module
    base = DectUartBase("dect1", module.open_port, clock, [AudioPort("dect1", 6)])
    await open_base(base, clock)
    assert commands(module) == [Command.SYS_RESET, Command.SYS_INFO, Command.AUDIO_CONFIG,
                                Command.HS_LIST]
    info_at = module.requests[1][0]
    assert info_at - T0 == pytest.approx(0.2)      # waited for SYS_READY after the boot
    assert module.audio_slots == (6,) and base.rfpi == RFPI1
    assert base.status.in_service and base.handsets() == (Handset(4, IPUI_A, True),)
    await base.close()
    await base.close()                              # idempotent
    assert module.port is None and module.violations == []


# --- registration --------------------------------------------------------------------------------

async def test_a_handset_registers_with_the_pin_during_the_window_only(rig: Rig) -> None:
    clock, b1, b2 = rig.clock, rig.b1, rig.b2
    handset = rig.cluster.handset(IPUI_A)
    assert handset.register(rig.m1, PIN) is None    # no window yet
    await b1.open_registration(60, PIN)
    assert b1.registration_open and rig.m1.registration_open
    assert handset.register(rig.m1, "0000") is None and handset.display == "Registration failed"
    assert handset.register(rig.m1, PIN) == 1
    await clock.settle()
    assert b1.take_events() == [HandsetRegistered("dect1", near(0.42), 1, IPUI_A)]
    # The cluster shares the table: dect2 knows the handset too, not in its range.
    assert b2.take_events() == [HandsetRegistered("dect2", near(0.42), 1, IPUI_A)]
    assert b1.handsets() == (Handset(1, IPUI_A, True),)
    assert b2.handsets() == (Handset(1, IPUI_A, False),)
    await clock.advance(60.0)
    assert not b1.registration_open
    assert b1.take_events() == [RegistrationWindowClosed("dect1", near(60.42))]
    assert rig.cluster.handset(IPUI_B).register(rig.m1, PIN) is None


async def test_closing_the_window_reports_it_once_and_bad_arguments_send_nothing(
        rig: Rig) -> None:
    b1 = rig.b1
    await b1.open_registration(120, PIN)
    await b1.close_registration()
    await rig.clock.settle()
    assert b1.take_events() == [RegistrationWindowClosed("dect1", near(0.42))]
    sent = len(rig.m1.requests)
    with pytest.raises(ValueError, match="4 digits"):
        await b1.open_registration(60, "12345")
    with pytest.raises(ValueError, match="1-600"):
        await b1.open_registration(3600, PIN)
    assert len(rig.m1.requests) == sent


async def test_deregistering_removes_the_handset_from_every_base(rig: Rig) -> None:
    handset = await registered(rig, IPUI_A)
    await rig.b1.deregister(1)
    await rig.clock.settle()
    assert rig.b1.take_events() == [HandsetDeregistered("dect1", near(0.42), 1)]
    assert rig.b2.take_events() == [HandsetDeregistered("dect2", near(0.42), 1)]
    assert rig.b1.handsets() == () and handset.display == "Not registered"
    with pytest.raises(KeyError):
        await rig.b1.page(1)


# --- calls ---------------------------------------------------------------------------------------

async def test_incoming_call_rings_with_caller_id_and_answering_connects_a_slot(
        rig: Rig) -> None:
    clock, b1 = rig.clock, rig.b1
    handset = await registered(rig, IPUI_A)
    await b1.page(1, CallerIdText("+7 (495) 123-45-67", "Иван Petrov"))
    assert handset.is_ringing
    assert (handset.caller_number, handset.caller_name) == ("+74951234567", "???? Petrov")
    await clock.advance(3.0)
    handset.talk()
    await clock.settle()
    assert b1.take_events() == [HandsetOffHook("dect1", near(3.42), 1)]
    slot = await b1.connect(1)
    assert slot.slot == 6 and b1.call_slot(1) is slot
    assert rig.m1.calls == {1: 6} and handset.pcm_slot == 6
    assert await b1.connect(1) is slot              # asking again changes nothing
    handset.end()
    await clock.settle()
    assert b1.take_events() == [HandsetOnHook("dect1", near(3.42), 1)]
    assert b1.call_slot(1) is None and rig.m1.calls == {}
    await b1.release(1)                              # harmless when idle


async def test_outgoing_call_is_off_hook_then_the_number_en_bloc_then_keys_in_the_call(
        rig: Rig) -> None:
    clock, b1 = rig.clock, rig.b1
    handset = await registered(rig, IPUI_A)
    handset.call("201")
    await clock.settle()
    at = near(0.42)
    assert b1.take_events() == [HandsetOffHook("dect1", at, 1), KeypadPressed("dect1", at, 1,
                                                                              "201")]
    await b1.connect(1)
    handset.press("5#")
    await clock.settle()
    assert b1.take_events() == [KeypadPressed("dect1", at, 1, "5#")]
    await b1.release(1)                              # the far end hung up
    assert handset.display == "Call ended" and b1.call_slot(1) is None
    assert rig.m1.calls == {}


async def test_display_text_is_cut_to_the_module_and_mapped_to_its_charset(rig: Rig) -> None:
    handset = await registered(rig, IPUI_A)
    await rig.b1.show(1, "Звонок: Café 201 — 0123456789012345678901234")
    assert handset.display == "??????: Café 201 ? 0123456789012"
    assert len(handset.display) == 32
    await rig.b1.set_message_waiting(1, True)
    assert handset.message_waiting


async def test_slots_are_shared_out_and_a_full_base_refuses_another_call(rig: Rig) -> None:
    b1 = rig.b1
    phones = [await registered(rig, ipui) for ipui in (IPUI_A, IPUI_B, IPUI_C)]
    for phone in phones:
        phone.talk()
    await rig.clock.settle()
    assert [(await b1.connect(n)).slot for n in (1, 2)] == [6, 7]
    with pytest.raises(DeviceError, match="every speech slot is busy"):
        await b1.connect(3)
    await b1.release(1)
    assert (await b1.connect(3)).slot == 6


async def test_unknown_handsets_raise_key_error_and_absent_ones_line_fault(rig: Rig) -> None:
    handset = await registered(rig, IPUI_A)
    sent = len(rig.m1.requests)
    with pytest.raises(KeyError):
        await rig.b1.page(9)
    assert len(rig.m1.requests) == sent              # refused without asking the module
    handset.roam_to(rig.m2)
    with pytest.raises(LineFault, match="handset 1 is out of range"):
        await rig.b1.page(1)
    with pytest.raises(DeviceFault, match="Connect refused by the module: WRONG_STATE"):
        await rig.b2.connect(1)                      # not off-hook


# --- handover ------------------------------------------------------------------------------------

async def test_a_call_hands_over_to_the_other_base(rig: Rig) -> None:
    clock, b1, b2 = rig.clock, rig.b1, rig.b2
    handset = await registered(rig, IPUI_A)
    handset.talk()
    await clock.settle()
    await b1.connect(1)
    b1.take_events()
    await clock.advance(10.0)
    handset.roam_to(rig.m2)
    await clock.settle()
    at = near(10.42)
    assert b2.take_events() == [HandoverStarted("dect2", at, 1, "dect1")]
    new_slot = await b2.connect(1)                   # the firmware moves the audio
    await clock.settle()
    assert new_slot.slot == 8
    assert b2.take_events() == [HandoverCompleted("dect2", at, 1, "dect1")]
    assert b1.take_events() == [] and b1.call_slot(1) is None
    assert rig.m1.calls == {} and rig.m2.calls == {1: 8} and handset.base is rig.m2
    assert b1.handsets() == (Handset(1, IPUI_A, False),)
    assert b2.handsets() == (Handset(1, IPUI_A, True),)
    handset.end()
    await clock.settle()
    assert b2.take_events() == [HandsetOnHook("dect2", at, 1)]


async def test_a_handover_not_connected_in_time_leaves_the_call_where_it_was(
        rig: Rig) -> None:
    clock, b1, b2 = rig.clock, rig.b1, rig.b2
    handset = await registered(rig, IPUI_A)
    handset.talk()
    await clock.settle()
    slot = await b1.connect(1)
    handset.roam_to(rig.m2)
    await clock.advance(1.1)
    assert [type(e) for e in b2.take_events()] == [HandoverStarted]
    assert b1.call_slot(1) is slot and handset.base is rig.m1 and rig.m1.calls == {1: 6}


# --- faults --------------------------------------------------------------------------------------

async def test_a_silent_uart_takes_the_base_out_of_service_and_it_retries_with_backoff(
        rig: Rig) -> None:
    clock, b1, b2, m1 = rig.clock, rig.b1, rig.b2, rig.m1
    handset = await registered(rig, IPUI_A)
    handset.talk()
    await clock.settle()
    await b1.connect(1)
    b1.take_events()
    m1.silent = True
    showing = asyncio.create_task(b1.show(1, "hello"))
    await clock.advance(0.89)
    assert not showing.done()                        # still retransmitting (3 × 0.3 s)
    await clock.advance(0.02)
    with pytest.raises(DeviceNotResponding, match="no answer from the DECT module"):
        await showing
    failed_at = T0 + 0.42 + 0.9
    reason = "no answer from the DECT module on /dev/ttyAMA1"
    assert b1.status.reason == reason
    assert b1.take_events() == [PortAlarm("dect1", pytest.approx(failed_at), reason),
                                HandsetOnHook("dect1", pytest.approx(failed_at), 1)]
    with pytest.raises(DeviceNotResponding):
        await b1.page(1)
    assert b2.status.in_service                      # the rest of the box keeps working
    await b2.set_message_waiting(1, True)
    assert handset.message_waiting
    rig.opened_at.clear()
    await clock.advance(12.0)
    # Each try reopens the port and gives SYS_RESET 0.9 s; the waits between grow 1, 2, 4 s.
    tries = [round(t - failed_at, 2) for t in rig.opened_at]
    assert tries == [1.0, 3.9, 8.8]
    assert b1.take_events() == []                   # one alarm, not one per try
    m1.silent = False
    # The next try, at 17.7 s, finds it: SYS_READY after the 0.2 s boot, then the bring-up.
    assert await clock.run_until(lambda: b1.status.in_service, 7.0)
    assert round(rig.opened_at[-1] - failed_at, 2) == 17.7
    events = b1.take_events()
    assert [type(e) for e in events] == [PortAlarmCleared]
    assert events[0].at == pytest.approx(failed_at + 17.7 + 0.2, abs=0.011)
    await b1.show(1, "back")
    assert handset.display == "back"


async def test_idle_silence_is_found_by_the_keepalive(rig: Rig) -> None:
    clock, b1 = rig.clock, rig.b1
    await clock.advance(30.0)                        # idle but alive: pings answered
    assert b1.status.in_service and commands(rig.m1).count(Command.SYS_PING) >= 5
    rig.m1.silent = True
    await clock.advance(5.0 + 0.9 + 0.01)
    assert not b1.status.in_service
    assert [type(e) for e in b1.take_events()] == [PortAlarm]


async def test_a_module_missing_at_start_up_is_an_alarm_not_an_error(
        clock: ManualClock) -> None:
    cluster = DectCluster(clock)
    module = cluster.base(RFPI1)
    module.unplugged = True
    base = DectUartBase("dect1", module.open_port, clock, [AudioPort("dect1", 6)],
                        port_label="/dev/ttyUSB0")
    await base.open()                                # does not raise: the box starts anyway
    reason = "cannot open /dev/ttyUSB0: cannot open the DECT module 0012345670: no such device"
    assert base.status.reason == reason
    assert base.take_events() == [PortAlarm("dect1", T0, reason)]
    module.unplugged = False
    await clock.advance(1.0 + 0.2 + 0.05)
    assert base.status.in_service
    assert [type(e) for e in base.take_events()] == [PortAlarmCleared]
    await base.close()
    assert module.violations == []


async def test_a_module_that_reboots_by_itself_ends_calls_and_comes_back(rig: Rig) -> None:
    clock, b1 = rig.clock, rig.b1
    handset = await registered(rig, IPUI_A)
    handset.talk()
    await clock.settle()
    await b1.connect(1)
    b1.take_events()
    rig.m1.crash()
    await clock.advance(0.2)
    assert [type(e) for e in b1.take_events()] == [PortAlarm, HandsetOnHook]
    assert b1.status.reason == "the DECT module restarted on its own"
    await clock.advance(1.0 + 0.2 + 0.05)
    assert b1.status.in_service and rig.m1.audio_slots == (6, 7)
    assert [type(e) for e in b1.take_events()] == [PortAlarmCleared]


def corrupt_next_frame(module: DectModuleEmulator) -> None:
    """The next frame the module sends gets a bit error on the wire."""
    port = module.port
    assert port is not None
    original = port._to_host

    def once(data: bytes) -> None:
        port._to_host = original  # type: ignore[method-assign]
        broken = bytearray(data)
        broken[-3] ^= 0x10
        original(bytes(broken))

    port._to_host = once  # type: ignore[method-assign]


async def test_noise_and_a_corrupted_confirm_cost_a_retransmission_not_a_double_page(
        rig: Rig) -> None:
    clock, b1, m1 = rig.clock, rig.b1, rig.m1
    handset = await registered(rig, IPUI_A)
    m1.inject(b"\x00\xff\xf5\x02")                  # noise, with a false SOF
    await clock.advance(0.1)
    corrupt_next_frame(m1)
    paging = asyncio.create_task(b1.page(1, CallerIdText("201")))
    await clock.advance(0.31)
    await paging
    assert m1.duplicates == 1                        # answered from the confirm cache
    assert commands(m1).count(Command.CALL_PAGE) == 2 and handset.is_ringing
    assert b1.link.frame_errors[FrameErrorReason.CRC] == 1
    assert b1.link.retransmissions == 1 and b1.status.in_service


async def test_a_lost_indication_makes_the_driver_reread_the_handset_table(rig: Rig) -> None:
    clock, b2 = rig.clock, rig.b2
    await rig.b1.open_registration(60, PIN)
    corrupt_next_frame(rig.m2)                       # dect2 loses HS_REGISTERED
    assert rig.cluster.handset(IPUI_A).register(rig.m1, PIN) == 1
    await clock.settle()
    assert b2.handsets() == ()
    rig.m2.inject(b"")                               # nothing; the next indication shows the gap
    rig.cluster.handset(IPUI_B).register(rig.m1, PIN)
    await clock.advance(5.1)                         # the supervisor re-reads at its next turn
    assert [h.number for h in b2.handsets()] == [1, 2] and b2.link.indications_lost == 1


async def test_concurrent_commands_wait_their_turn_on_a_slow_module(clock: ManualClock) -> None:
    cluster = DectCluster(clock)
    module = cluster.base(RFPI1, processing_s=0.04)  # confirms 40 ms after each request
    cluster.subscriptions[1] = IPUI_A
    handset = cluster.handset(IPUI_A)
    handset.base = module
    base = DectUartBase("dect1", module.open_port, clock, [AudioPort("dect1", 6)])
    await open_base(base, clock)
    tasks = [asyncio.create_task(base.show(1, f"line {k}")) for k in range(3)]
    tasks.append(asyncio.create_task(base.set_message_waiting(1, True)))
    assert await clock.run_until(lambda: all(t.done() for t in tasks), 1.0)
    for task in tasks:
        await task
    sent = [t for t, f in module.requests if f.command in (Command.HS_DISPLAY, Command.HS_MWI)]
    assert all(b - a >= 0.04 - 1e-9 for a, b in zip(sent, sent[1:], strict=False))
    assert handset.display == "line 2" and handset.message_waiting
    assert module.violations == []
    await base.close()


# --- driver bugs the emulator catches ------------------------------------------------------------

def test_the_emulator_catches_a_host_that_does_not_wait_for_the_confirm(
        clock: ManualClock) -> None:
    module = DectCluster(clock).base(RFPI1, processing_s=0.04)
    port = module.open_port()
    port.write(encode(Frame(FrameKind.REQUEST, 1, Command.SYS_PING)))
    port.write(encode(Frame(FrameKind.REQUEST, 2, Command.SYS_PING)))
    port.write(b"\xf5\x00\x01\x03\x03\x00\x00")   # and a frame with a bad CRC
    assert module.violations == ["request 0x03 sent before the previous one was confirmed",
                                 "host sent a bad frame: crc (7 bytes)"]
    port.close()


class ForgetsAudioConfig(DectUartBase):
    """A bring-up that skips AUDIO_CONFIG (a plausible refactoring slip)."""

    async def _configure_audio(self) -> None:
        return None


class LittleEndianRegOpen(RegOpenReq):
    """Encodes the window's duration little-endian: 60 s goes out as 0x3C00 = 15360 s."""

    def encode(self) -> bytes:
        return self.duration_s.to_bytes(2, "little") + self.pin.encode("ascii")


class SwapsDurationBytes(DectUartBase):
    async def open_registration(self, duration_s: float, pin: str) -> None:
        self._check_usable()
        await self._request(LittleEndianRegOpen(int(duration_s), pin))
        self._registration_open = True


@pytest.mark.parametrize(("driver", "action", "violation"), [
    (ForgetsAudioConfig, "connect", "CALL_CONNECT refused: NOT_READY"),
    (SwapsDurationBytes, "register", "REG_OPEN: duration_s must be 1-600, not 15360"),
])
async def test_the_emulator_catches_a_driver_bug(clock: ManualClock, driver: type[DectUartBase],
                                                 action: str, violation: str) -> None:
    cluster = DectCluster(clock)
    module = cluster.base(RFPI1)
    cluster.subscriptions[1] = IPUI_A
    handset = cluster.handset(IPUI_A)
    handset.base = module
    base = driver("dect1", module.open_port, clock, [AudioPort("dect1", 6)])
    await open_base(base, clock)
    with pytest.raises(DeviceFault):
        if action == "connect":
            handset.talk()
            await clock.settle()
            await base.connect(1)
        else:
            await base.open_registration(60, PIN)
    assert module.violations == [violation]
    await base.close()


async def test_the_correct_driver_passes_the_same_checks(rig: Rig) -> None:
    # The control for the test above: the same steps with DectUartBase leave no violation.
    handset = await registered(rig, IPUI_A)
    handset.talk()
    await rig.clock.settle()
    assert (await rig.b1.connect(1)).slot == 6
    assert rig.m1.violations == []


# --- the board factory ---------------------------------------------------------------------------

def entry(index: int = 0, **options: object) -> BoardEntry:
    return BoardEntry(DeviceKind.DECT, index, "dect", MappingProxyType(dict(options)))


def test_the_factory_builds_a_base_per_entry_and_checks_its_options(clock: ManualClock) -> None:
    fxs = SimFxsPort("fxs1", 0, clock, 6)
    names = iter(["dect1", "dect2"])
    first = create_devices(entry(uart="/dev/ttyAMA1", pcm_slots=[7, 8]), lambda: next(names),
                           BoardContext(clock, (fxs,)))
    (base,) = first
    assert isinstance(base, DectUartBase)
    assert [p.slot for p in base.audio_ports] == [7, 8] and base.port_label == "/dev/ttyAMA1"
    (second,) = create_devices(entry(1, uart="/dev/ttyUSB0", pcm_slots=[9], baud_rate=921600),
                               lambda: next(names), BoardContext(clock, (fxs, base)))
    assert isinstance(second, DectUartBase) and second.directory is base.directory
    with pytest.raises(BoardError) as info:
        create_devices(entry(uart="ttyAMA1", baud_rate=12345, pcm_slots=[6, 8], parity="N"),
                       lambda: "dect3", BoardContext(clock, (fxs, base)))
    assert info.value.problems == (
        "dect[0].parity: unknown option of the dect driver; it takes `uart`, `baud_rate`, "
        "`rtscts`, `pcm_slots`",
        'dect[0].uart: must be the module\'s tty, e.g. uart = "/dev/ttyAMA1"',
        "dect[0].baud_rate: must be one of 9600, 19200, 38400, 57600, 115200, 230400, "
        "460800, 921600, not 12345",
        "dect[0].pcm_slots: slot 6 already carries fxs1",
        "dect[0].pcm_slots: slot 8 already carries dect1")


def test_the_emulated_port_speaks_pyserials_api(clock: ManualClock) -> None:
    module = DectCluster(clock).base(RFPI1)
    port: SerialPort = module.open_port()
    assert isinstance(port, EmulatedSerialPort)
    module.inject(b"\x01\x02\x03")
    assert port.read(2) == b"\x01\x02" and port.read(10) == b"\x03" and port.read(1) == b""
    module.unplugged = True
    with pytest.raises(OSError, match="disconnected"):
        port.write(b"\xf5")
    port.close()
    port.close()

