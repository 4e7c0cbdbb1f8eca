"""DoorService: door calls followed on the bus, RFC 4733 keys at the station's slot, relay
pulses on the simulated relay (manual clock), bells, the configuration section and its rules."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from firmware.bus import EventBus
from firmware.calls.directory import DeviceEntry, DeviceKind, Directory, UserEntry
from firmware.calls.doors import DoorService, door_settings
from firmware.calls.events import Answered, CallEnded, CallId, CallStarted, Cause, LegId
from firmware.config.errors import ConfigError
from firmware.config.schema import Config, Door
from firmware.config.validate import validate_data
from firmware.features.door import DoorOpened, DoorSettings, OpenMethod, RingDoor
from firmware.media.bridge import DigitReceived, MediaEvent
from firmware.media.dsp.dtmf import DigitDetected
from hal.errors import DeviceFault
from hal.sim.clock import ManualClock
from hal.sim.contact import SimContactInput
from hal.sim.relay import SimRelay

DOOR_SLOT = 2  # fxs3
DIRECTORY = Directory(
    [UserEntry("door", "Front door", "390"), UserEntry("alice", "Alice", "201")],
    [DeviceEntry("front-door", "door", kind=DeviceKind.FXS, port="fxs3", hotline="201"),
     DeviceEntry("alice-desk", "alice", username="201", password="x")],
)
FRONT = Door("front", "front-door", "201", relay="relay1", pulse_ms=1500, bell_input="input1")
CALL = CallId("c7")


class FakeMedia:
    """PortMedia's event side: the subscribers get what the test says the tick produced."""

    def __init__(self) -> None:
        self.subscribers: list[Callable[[MediaEvent], None]] = []

    def subscribe(self, callback: Callable[[MediaEvent], None]) -> Callable[[], None]:
        self.subscribers.append(callback)
        return lambda: self.subscribers.remove(callback)

    def emit(self, event: MediaEvent) -> None:
        for callback in self.subscribers:
            callback(event)


class Rig:
    def __init__(self, clock: ManualClock, service: DoorService, bus: EventBus,
                 relay: SimRelay, bell: SimContactInput, media: FakeMedia) -> None:
        self.clock, self.service, self.bus, self.relay, self.bell = (clock, service, bus,
                                                                     relay, bell)
        self.media = media
        self.published: list[object] = []

    async def settle(self) -> None:
        for _ in range(10):
            await asyncio.sleep(0)

    async def door_call(self, answered_by: str | None = "alice-desk") -> None:
        self.bus.publish(CallStarted(CALL, "390", "201", self.clock.now()))
        if answered_by is not None:
            self.bus.publish(Answered(CALL, LegId("c7-b0"), answered_by, self.clock.now()))
        await self.settle()

    def key(self, digit: str, slot: int = DOOR_SLOT) -> None:
        self.media.emit(DigitReceived(slot, digit, 100, True, self.clock.now()))

    def openings(self) -> list[DoorOpened]:
        return [e for e in self.published if isinstance(e, DoorOpened)]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = ManualClock(100.0)
    bus = EventBus()
    relay, bell = SimRelay("relay1", 0, clock), SimContactInput("input1", 0, clock)
    await relay.open()
    await bell.open()
    service = DoorService(bus, clock, relays=[relay], inputs=[bell])
    media = FakeMedia()
    service.listen_to(media, {"fxs1": 0, "fxs3": DOOR_SLOT})
    service.apply([FRONT], DIRECTORY)
    rig = Rig(clock, service, bus, relay, bell, media)
    watch = bus.subscribe(DoorOpened, RingDoor)

    async def collect() -> None:
        async for event in watch:
            rig.published.append(event)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(service.run()), group.create_task(collect())]
        await rig.settle()
        yield rig
        for task in tasks:
            task.cancel()


async def test_star_1_from_the_answering_phone_pulses_the_relay_for_pulse_ms(rig: Rig) -> None:
    await rig.door_call()
    rig.key("*")
    await rig.settle()
    assert not rig.relay.is_on, "half the code opens nothing"
    rig.key("1")
    await rig.settle()
    assert rig.relay.is_on
    await rig.clock.advance(1.499)
    assert rig.relay.is_on
    await rig.clock.advance(0.002)
    assert not rig.relay.is_on
    assert [(p.at, round(p.duration_ms)) for p in rig.relay.pulses] == [(100.0, 1500)]
    [opened] = rig.openings()
    assert (opened.door, opened.by, opened.method) == ("front", "alice-desk", OpenMethod.DTMF)


async def test_keys_before_the_answer_or_on_another_slot_or_after_the_end_open_nothing(
        rig: Rig) -> None:
    await rig.door_call(answered_by=None)
    rig.key("*")
    rig.key("1")
    rig.bus.publish(Answered(CALL, LegId("c7-b0"), "alice-desk", rig.clock.now()))
    await rig.settle()
    rig.key("*", slot=0)
    rig.key("1", slot=0)
    rig.bus.publish(CallEnded(CALL, "390", "201", Cause.NORMAL, 200, 99.0, 99.5,
                              rig.clock.now()))
    await rig.settle()
    rig.key("*")
    rig.key("1")
    await rig.settle()
    assert rig.relay.history == [] and rig.openings() == []
    assert rig.service.door_calls() == {}


async def test_the_station_keypad_heard_in_band_opens_nothing(rig: Rig) -> None:
    await rig.door_call()
    for digit in "*1":
        rig.media.emit(DigitDetected(digit, DOOR_SLOT, 0, 80))
    await rig.settle()
    assert rig.relay.history == [] and rig.openings() == []


async def test_a_call_from_another_extension_is_no_door_call(rig: Rig) -> None:
    rig.bus.publish(CallStarted(CALL, "202", "201", rig.clock.now()))
    rig.bus.publish(Answered(CALL, LegId("c7-b0"), "alice-desk", rig.clock.now()))
    await rig.settle()
    rig.key("*")
    rig.key("1")
    await rig.settle()
    assert rig.service.door_calls() == {} and rig.relay.history == []


async def test_a_failing_relay_is_logged_and_the_next_opening_still_works(
        rig: Rig, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real_pulse = rig.relay.pulse

    async def flaky(duration_ms: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise DeviceFault("relay1", "coil open")
        await real_pulse(duration_ms)

    monkeypatch.setattr(rig.relay, "pulse", flaky)
    await rig.door_call()
    with caplog.at_level(logging.ERROR, "firmware.calls.doors"):
        rig.key("*")
        rig.key("1")
        await rig.settle()
    assert "did not switch" in caplog.text and rig.service.relay_failures == 1
    assert not rig.relay.is_on
    await rig.clock.advance(2.0)  # past the (unswitched) pulse: the panel takes a new one
    rig.key("*")
    rig.key("1")
    await rig.settle()
    assert rig.relay.is_on, "the service survived the fault"
    assert len(rig.openings()) == 2


async def test_a_revision_keeps_the_answered_door_call(rig: Rig) -> None:
    await rig.door_call()
    rig.service.apply([dataclasses.replace(FRONT, pulse_ms=800)], DIRECTORY)
    rig.key("*")
    rig.key("1")
    await rig.settle()
    await rig.clock.advance(1.0)
    assert [round(p.duration_ms) for p in rig.relay.pulses] == [800]


async def test_web_opening_is_recorded_with_the_user(rig: Rig,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "firmware.calls.doors"):
        rig.service.open_from_web("front", "alice")
        await rig.settle()
    assert rig.relay.is_on
    [opened] = rig.openings()
    assert (opened.by, opened.method) == ("alice", OpenMethod.WEB)
    assert "door 'front' opened by 'alice' (web)" in caplog.text


async def test_the_bell_contact_publishes_ring_door_once_per_holdoff(rig: Rig) -> None:
    rig.bell.press()
    await rig.clock.advance(0.05)  # past the 20 ms debounce
    await rig.settle()
    rig.bell.release()
    await rig.clock.advance(0.05)
    rig.bell.press()
    await rig.clock.advance(0.05)
    await rig.settle()
    rings = [e for e in rig.published if isinstance(e, RingDoor)]
    assert [(r.door, r.rings) for r in rings] == [("front", "201")]


# --- the configuration ------------------------------------------------------------------------


def test_the_config_entry_has_the_door_cores_fields_and_defaults() -> None:
    ours = {f.name: (f.default) for f in dataclasses.fields(Door)}
    theirs = {f.name: (f.default) for f in dataclasses.fields(DoorSettings)}
    assert ours == theirs
    pulse = {f.name: f for f in dataclasses.fields(Door)}["pulse_ms"].metadata
    core = {f.name: f for f in dataclasses.fields(DoorSettings)}["pulse_ms"].metadata
    assert (pulse["minimum"], pulse["maximum"], pulse["unit"]) == (
        core["minimum"], core["maximum"], core["unit"])
    assert door_settings(FRONT) == DoorSettings("front", "front-door", "201", "relay1", 1500,
                                                "*1", "input1")


def _document(**door: Any) -> dict[str, Any]:
    entry = {"id": "front", "station_device": "front-door", "rings": "201"} | door
    return {
        "users": [{"id": "door", "name": "Front door", "extension": "390"},
                  {"id": "alice", "name": "Alice", "extension": "201"}],
        "devices": [{"id": "front-door", "user": "door", "kind": "fxs", "port": "fxs3",
                     "hotline": "201"},
                    {"id": "alice-desk", "user": "alice", "username": "201",
                     "password": "Rehearse-x7-Pw!"}],
        "doors": [entry],
    }


def _problems(**door: Any) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        validate_data(_document(**door))
    return {p.path: p.message for p in caught.value.problems}


def test_a_valid_door_section_is_accepted() -> None:
    config = validate_data(_document(relay="relay2", pulse_ms=2000, bell_input="input1"))
    assert isinstance(config, Config)
    assert config.doors == (Door("front", "front-door", "201", "relay2", 2000, "*1",
                                 "input1"),)


@pytest.mark.parametrize(("door", "path", "words"), [
    ({"station_device": "back-door"}, "doors[0].station_device", "no device has id"),
    ({"station_device": "alice-desk"}, "doors[0].station_device", "is a sip device"),
    ({"rings": "299"}, "doors[0].rings", "no extension or department"),
    ({"relay": "output1"}, "doors[0].relay", "relay1"),
    ({"bell_input": "door"}, "doors[0].bell_input", "input1"),
    ({"pulse_ms": 50}, "doors[0].pulse_ms", "100"),
    ({"open_code": "12E"}, "doors[0].open_code", "A-D"),
])
def test_door_section_mistakes_are_reported_at_their_setting(door: dict[str, Any], path: str,
                                                             words: str) -> None:
    problems = _problems(**door)
    assert path in problems, problems
    assert words in problems[path]
