"""`Handsets`: DECT handsets as port legs, run against the simulated base (hal.sim.dect) with a
recording controller and port media in place of the real ones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from firmware.calls.dialplan import DialPlan, Extension
from firmware.calls.directory import DeviceEntry, DeviceKind, Directory, UserEntry
from firmware.calls.events import CallId, Cause, LegId
from firmware.calls.handsets import NO_SLOT_TEXT, Address, Handsets
from firmware.calls.leg import CallerInfo, LegKind, PortLeg
from firmware.calls.sip_leg import LegRole
from firmware.clock import MonotonicClock
from firmware.media.codecs.codec import Encoding
from firmware.media.dsp.tones import ToneKind
from firmware.media.negotiation import LocalMedia
from hal.dect import CallerIdText
from hal.sim.clock import ManualClock
from hal.sim.dect import HandsetState, SimDectBase, SimHandset

PIN = "0000"
SLOT = 6
MEDIA = LocalMedia(Encoding.PCMA, 8, 101)
RELAY: Address = ("127.0.0.1", 5004)


@dataclass
class FakeMedia:
    connected: dict[int, Address] = field(default_factory=dict)
    tones: list[tuple[int, ToneKind | None]] = field(default_factory=list)

    def address(self, slot: int) -> Address:
        return ("127.0.0.1", 40000 + slot)

    def connect(self, slot: int, remote: Address, codec: Encoding, payload_type: int,
                telephone_event_pt: int | None) -> None:
        self.connected[slot] = remote

    def disconnect(self, slot: int) -> None:
        self.connected.pop(slot, None)

    def play_tone(self, slot: int, kind: ToneKind | None) -> None:
        self.tones.append((slot, kind))


@dataclass
class FakeController:
    """Records what the handsets tell call control, and where their audio was at that time."""

    side: Handsets | None = None
    originated: list[tuple[PortLeg, str, CallerInfo, Address | None]] = field(
        default_factory=list)
    answered: list[tuple[PortLeg, Address | None]] = field(default_factory=list)
    released: list[tuple[PortLeg, Cause]] = field(default_factory=list)
    transferred: list[tuple[PortLeg, PortLeg]] = field(default_factory=list)

    def originate(self, leg: PortLeg, dialled: str, caller: CallerInfo,
                  user: str | None = None) -> CallId:
        leg.id = LegId(f"c{len(self.originated) + 1}-a")
        assert self.side is not None
        self.originated.append((leg, dialled, caller, self.side.media_address(leg)))
        return CallId("c1")

    def port_answered(self, leg: PortLeg) -> None:
        assert self.side is not None
        self.answered.append((leg, self.side.media_address(leg)))

    def port_released(self, leg: PortLeg, cause: Cause = Cause.NORMAL) -> None:
        self.released.append((leg, cause))

    def transfer(self, held: PortLeg, active: PortLeg) -> None:
        self.transferred.append((held, active))


@dataclass
class Rig:
    base: SimDectBase
    handsets: Handsets
    controller: FakeController
    media: FakeMedia
    warehouse: SimHandset
    yard: SimHandset


async def until(check: Callable[[], object], timeout_s: float = 2.0) -> None:
    async with asyncio.timeout(timeout_s):
        while True:  # the worker and the sim run on this loop: look every 5 ms
            if check():
                return
            await asyncio.sleep(0.005)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    base = SimDectBase("dect1", 0, ManualClock(), slots=[SLOT])
    await base.open()
    await base.open_registration(60.0, PIN)
    warehouse, yard = base.add_handset(), base.add_handset()
    assert warehouse.register(PIN) == 1 and yard.register(PIN) == 2
    controller, media = FakeController(), FakeMedia()
    handsets = Handsets(controller, media, [base], MonotonicClock())
    controller.side = handsets
    directory = Directory(
        [UserEntry("u310", "Warehouse", "310"), UserEntry("u311", "Yard", "311")],
        [DeviceEntry("warehouse", "u310", kind=DeviceKind.DECT, port="dect1", handset=1),
         DeviceEntry("yard", "u311", kind=DeviceKind.DECT, port="dect1", handset=2)])
    handsets.apply(directory, DialPlan(extensions=(Extension("201", "u201"),
                                                  Extension("202", "u202"))))
    task = asyncio.get_running_loop().create_task(handsets.run())
    yield Rig(base, handsets, controller, media, warehouse, yard)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await base.close()


def offered_leg(handset: int = 1) -> PortLeg:
    return PortLeg(LegId("c9-b0"), LegKind.DECT, LegRole.OUTBOUND, "warehouse", "dect1",
                   ref="c9-b0", handset=handset)


async def test_talk_key_takes_a_slot_plays_dial_tone_and_dials_from_the_keypad(rig: Rig) -> None:
    rig.warehouse.talk()
    await until(lambda: (SLOT, ToneKind.DIAL) in rig.media.tones)
    port = rig.base.call_slot(1)
    assert port is not None and port.slot == SLOT
    assert rig.warehouse.in_call
    rig.warehouse.press("201")
    await until(lambda: rig.controller.originated)
    leg, dialled, caller, address = rig.controller.originated[0]
    assert (leg.kind, leg.port, leg.handset, leg.device) == (LegKind.DECT, "dect1", 1,
                                                             "warehouse")
    assert dialled == "201"
    assert caller == CallerInfo("310", "Warehouse")
    assert address == rig.media.address(SLOT), "the call's audio address is known at dialling"


async def test_answered_outgoing_call_joins_the_slot_to_the_relay(rig: Rig) -> None:
    rig.warehouse.call("201")
    await until(lambda: rig.controller.originated)
    leg = rig.controller.originated[0][0]
    rig.handsets.answered(leg, RELAY, MEDIA)
    await until(lambda: rig.media.connected.get(SLOT) == RELAY)
    rig.warehouse.hang_up()
    await until(lambda: rig.controller.released)
    assert rig.controller.released == [(leg, Cause.NORMAL)]
    assert SLOT not in rig.media.connected
    assert rig.base.call_slot(1) is None
    assert rig.handsets.media_address(leg) is None


async def test_recall_a_number_and_the_end_key_transfer_the_call(rig: Rig) -> None:
    rig.warehouse.call("201")
    await until(lambda: rig.controller.originated)
    first = rig.controller.originated[0][0]
    rig.handsets.answered(first, RELAY, MEDIA)
    await until(lambda: SLOT in rig.media.connected)
    rig.warehouse.press("R")
    await until(lambda: SLOT not in rig.media.connected)  # the first call is held
    rig.warehouse.press("202")
    await until(lambda: len(rig.controller.originated) == 2)
    second = rig.controller.originated[1][0]
    rig.warehouse.hang_up()
    await until(lambda: rig.controller.transferred)
    assert rig.controller.transferred == [(first, second)]
    assert rig.controller.released == []
    await until(lambda: rig.base.call_slot(1) is None)


async def test_offer_pages_with_caller_id_and_the_display_follows_the_line(rig: Rig) -> None:
    leg = offered_leg()
    assert rig.handsets.offer(leg, CallerInfo("201", "Alice"))
    await until(lambda: rig.warehouse.is_ringing)
    assert rig.warehouse.caller_id == CallerIdText("201", "Alice")
    # The sim shows "201 Alice" when paged; the line's own text comes through base.show().
    await until(lambda: rig.warehouse.display == "Alice 201")
    assert rig.handsets.media_address(leg) is None, "no speech path before the answer"


async def test_answer_connects_the_speech_path_before_it_is_reported(rig: Rig) -> None:
    leg = offered_leg()
    rig.handsets.offer(leg, CallerInfo("201", "Alice"))
    await until(lambda: rig.warehouse.is_ringing)
    rig.warehouse.answer()
    await until(lambda: rig.controller.answered)
    assert rig.controller.answered == [(leg, rig.media.address(SLOT))]
    rig.handsets.answered(leg, RELAY, MEDIA)
    assert rig.media.connected[SLOT] == RELAY
    rig.handsets.released(leg, Cause.NORMAL)  # the caller hangs up
    assert SLOT not in rig.media.connected
    await until(lambda: (SLOT, ToneKind.BUSY) in rig.media.tones)
    rig.warehouse.hang_up()
    await until(lambda: rig.base.call_slot(1) is None and rig.handsets.is_free("dect1"))
    assert rig.controller.released == [], "the far end left first: nothing to report"


async def test_caller_giving_up_stops_paging(rig: Rig) -> None:
    leg = offered_leg()
    rig.handsets.offer(leg, CallerInfo("201", "Alice"))
    await until(lambda: rig.warehouse.is_ringing)
    rig.handsets.released(leg, Cause.CANCELLED)
    await until(lambda: not rig.warehouse.is_ringing)
    assert rig.warehouse.state is HandsetState.IDLE
    assert rig.controller.released == []


async def test_end_key_on_a_ringing_handset_rejects_the_call(rig: Rig) -> None:
    leg = offered_leg()
    rig.handsets.offer(leg, CallerInfo("201", "Alice"))
    await until(lambda: rig.warehouse.is_ringing)
    rig.warehouse.hang_up()
    await until(lambda: rig.controller.released)
    assert rig.controller.released == [(leg, Cause.REJECTED)]
    assert rig.handsets.is_free("dect1")


async def test_offer_to_a_handset_in_a_call_is_refused(rig: Rig) -> None:
    rig.warehouse.talk()
    await until(lambda: rig.base.call_slot(1) is not None)
    assert not rig.handsets.offer(offered_leg(), CallerInfo("201"))
    assert not rig.handsets.offer(offered_leg(handset=5), CallerInfo("201")), "not configured"


async def test_second_handset_is_told_no_line_is_free_when_the_base_slot_is_taken(
        rig: Rig) -> None:
    rig.warehouse.talk()
    await until(lambda: rig.base.call_slot(1) is not None)
    rig.yard.talk()
    await until(lambda: rig.yard.display == NO_SLOT_TEXT)
    assert rig.yard.state is HandsetState.IDLE
    rig.yard.talk()  # and the line did not hear the first attempt: it still works later
    await until(lambda: rig.yard.display == NO_SLOT_TEXT)
    rig.warehouse.hang_up()
    await until(lambda: rig.base.call_slot(1) is None)
    rig.yard.call("201")
    await until(lambda: rig.controller.originated)
    assert rig.controller.originated[0][1] == "201"
    assert rig.controller.originated[0][0].handset == 2


async def test_page_that_fails_withdraws_the_offer(rig: Rig) -> None:
    rig.warehouse.leave_range()
    leg = offered_leg()
    assert rig.handsets.offer(leg, CallerInfo("201"))
    await until(lambda: rig.controller.released)
    assert rig.controller.released == [(leg, Cause.UNAVAILABLE)]
    await until(lambda: rig.handsets.is_free("dect1"))
    assert rig.handsets.offer(offered_leg(), CallerInfo("201")), "the line is idle again"


async def test_handset_with_no_configured_device_is_sent_back_on_hook(rig: Rig) -> None:
    stranger = rig.base.add_handset()
    assert stranger.register(PIN) == 3
    stranger.talk()
    await until(lambda: stranger.display == "Not configured")
    assert stranger.state is HandsetState.IDLE
    assert rig.base.call_slot(3) is None
