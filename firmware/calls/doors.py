"""Door phones on the board: the door station's calls, the open code, the lock relay, the bell.

The I/O adapter of the pure `features.door.DoorPanel`. A door station is an analog device on an
FXS port (with a `hotline`, so lifting it calls `rings`); `doors:` in the configuration names
its device, its lock relay and its bell contact. What this module does with them:

- follows the door station's calls on the bus: `CallStarted` whose caller is the door user's
  extension makes the call a door call, `Answered` says who may open (the answering device),
  `CallEnded` forgets it;
- takes RFC 4733 digits arriving at the door station's PCM slot (`media.bridge.DigitReceived`
  from `PortMedia`: a SIP phone's telephone-event, or a port's in-band key relayed as RFC 4733
  by the engine) during the answered door call as the answering party's keys. The door
  station's own keypad is heard in-band on its slot (`DigitDetected`) and is never taken: a
  visitor cannot open the door by pressing keys on the station;
- on `OpenDoor` pulses the lock relay for `pulse_ms` with `Relay.pulse`, which releases it in
  the device itself (the lock closes even if the firmware stalls); a relay that fails
  (`hal.errors.DeviceError`, or one out of service) is logged, never fatal. Every opening
  request is logged at INFO (door, who, how) and published as `features.door.DoorOpened`;
- a bell contact pressed publishes `features.door.RingDoor` (at most once per 5 s of chatter).
  Ringing `rings` for a bell without a door call is not done yet: the call controller has no
  call without a calling leg.

Also `open_from_web(door, user)` for the web page and the front panel.

Figures (tests/scenarios/test_door_phone.py, the box on the simulated board): the code `*1`
sent by a SIP phone as RFC 4733 opens relay1; with pulse_ms 500 the relay's own history shows
500.9-501.1 ms on the board clock over three runs (asserted ±40 ms).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from firmware.bus import EventBus, Subscription
from firmware.calls.directory import DeviceKind, Directory
from firmware.calls.events import Answered, CallEnded, CallId, CallStarted
from firmware.clock import Clock
from firmware.config.schema import Door
from firmware.features.door import DoorOpened, DoorPanel, DoorSettings, OpenDoor, RingDoor
from firmware.media.bridge import DigitReceived, MediaEvent
from hal.contact import ContactInput
from hal.errors import DeviceError
from hal.events import Pressed
from hal.relay import Relay

log = logging.getLogger(__name__)

_KEYS = frozenset("0123456789*#ABCD")
"""Digits that can be part of an open code (a relayed flash is not)."""


class MediaEvents(Protocol):
    """Where the ports' media events come from: `media.ports.PortMedia`."""

    def subscribe(self, callback: Callable[[MediaEvent], None]) -> Callable[[], None]: ...


def door_settings(door: Door) -> DoorSettings:
    """The door core's settings from a configuration entry (the same fields)."""
    return DoorSettings(**{f.name: getattr(door, f.name) for f in dataclasses.fields(Door)})


@dataclass(frozen=True, slots=True)
class _Station:
    """Where a door station is: its device, its user's extension (its calls' caller) and the
    PCM slot whose RTP carries the far party's keys."""

    door: str
    device: str
    extension: str
    slot: int


@dataclass(slots=True)
class _DoorCall:
    station: _Station
    answered_by: str | None = None


class DoorService:
    """All door stations of the board. Lifetime: `apply()` each revision, `run()` as a task
    until cancelled; `open_from_web()` on the loop thread. Not thread-safe."""

    def __init__(self, bus: EventBus, clock: Clock, *, relays: Iterable[Relay],
                 inputs: Iterable[ContactInput]) -> None:
        self._bus = bus
        self._media: MediaEvents | None = None
        self._clock = clock
        self._relays = {r.name: r for r in relays}
        self._inputs = list(inputs)
        self._fxs_slots: dict[str, int] = {}
        self._settings: tuple[DoorSettings, ...] = ()
        self._panel = DoorPanel(())
        self._stations: dict[str, _Station] = {}  # by caller extension
        self._calls: dict[CallId, _DoorCall] = {}
        self._by_slot: dict[int, CallId] = {}
        self._work: asyncio.Queue[OpenDoor] = asyncio.Queue()
        self.relay_failures = 0
        """Openings whose relay did not switch (failed or missing)."""

    # -- configuration -------------------------------------------------------------------------

    def listen_to(self, media: MediaEvents, fxs_slots: Mapping[str, int]) -> None:
        """Take door calls on the board's ports: `media` carries their RTP, `fxs_slots` is the
        PCM slot of each FXS port by hal name. Call before `run()` and `apply()`; without it
        (a board without a PCM bus) the service still rings bells and opens from the web."""
        self._media = media
        self._fxs_slots = dict(fxs_slots)

    def apply(self, doors: Iterable[Door | DoorSettings], directory: Directory) -> None:
        """Take a revision's doors and where their stations are. Door calls in progress stay
        door calls (with who answered) when their door is still configured."""
        settings = tuple(d if isinstance(d, DoorSettings) else door_settings(d) for d in doors)
        stations: dict[str, _Station] = {}
        for door in settings:
            station = self._station(door, directory)
            if station is not None:
                stations[station.extension] = station
        self._stations = stations
        if settings != self._settings:
            self._settings = settings
            self._panel = DoorPanel(settings)
            for call, entry in list(self._calls.items()):
                if not self._panel.call_started(call, entry.station.device):
                    self._forget(call)
                elif entry.answered_by is not None:
                    self._panel.answered(call, entry.answered_by)

    def _station(self, door: DoorSettings, directory: Directory) -> _Station | None:
        device = directory.devices.get(door.station_device)
        if device is None or device.kind is not DeviceKind.FXS or device.port is None:
            log.warning("door %r: station %r is no fxs device; its calls cannot open the door",
                        door.id, door.station_device)
            return None
        user = directory.users.get(device.user)
        slot = self._fxs_slots.get(device.port)
        if user is None or slot is None:
            log.warning("door %r: station %r on %s is not on this board's ports", door.id,
                        device.id, device.port)
            return None
        if door.relay not in self._relays:
            log.warning("door %r: the board has no %s; openings will only be logged",
                        door.id, door.relay)
        return _Station(door.id, device.id, user.extension, slot)

    # -- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Follow calls, digits and bells, and switch relays, until cancelled. This is the
        one reader of the board's contact inputs (hal event queues have one consumer)."""
        unsubscribe = self._media.subscribe(self.media_event) if self._media else None
        subscription = self._bus.subscribe(CallStarted, Answered, CallEnded)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._follow_calls(subscription), name="door-calls")
                group.create_task(self._switch_relays(), name="door-relays")
                for contact in self._inputs:
                    group.create_task(self._listen(contact), name=f"door-bell-{contact.name}")
        finally:
            subscription.close()
            if unsubscribe is not None:
                unsubscribe()

    async def _follow_calls(self, subscription: Subscription) -> None:
        async for event in subscription:
            self.call_event(event)

    async def _switch_relays(self) -> None:
        while True:
            command = await self._work.get()
            await self._pulse(command)

    async def _listen(self, contact: ContactInput) -> None:
        async for event in contact.events():
            if isinstance(event, Pressed):
                self.bell(event.device)

    # -- inputs (also called directly by tests) ------------------------------------------------

    def call_event(self, event: object) -> None:
        """A call event from the bus."""
        if isinstance(event, CallStarted):
            station = self._stations.get(event.caller)
            if station is not None and self._panel.call_started(event.call, station.device):
                self._calls[event.call] = _DoorCall(station)
                self._by_slot[station.slot] = event.call
                log.debug("%s: door call from %r", event.call, station.door)
        elif isinstance(event, Answered):
            entry = self._calls.get(event.call)
            if entry is not None and event.device != entry.station.device:
                entry.answered_by = event.device
                self._panel.answered(event.call, event.device)
                log.debug("%s: door %r answered by %r", event.call, entry.station.door,
                          event.device)
        elif isinstance(event, CallEnded):
            self._forget(event.call)

    def media_event(self, event: object) -> None:
        """A `PortMedia` event: RFC 4733 keys arriving at a door station's slot."""
        if not isinstance(event, DigitReceived) or event.digit not in _KEYS:
            return
        call = self._by_slot.get(event.port)
        entry = self._calls.get(call) if call is not None else None
        if call is None or entry is None or entry.answered_by is None:
            return
        command = self._panel.digits(call, event.digit, entry.answered_by, self._clock.now())
        self._act(command)

    def bell(self, input_device: str) -> RingDoor | None:
        """The contact `input_device` closed: a door's bell rings its number."""
        ring = self._panel.bell(input_device, self._clock.now())
        if ring is not None:
            log.info("door %r: bell pressed (%s); RingDoor for %s published (no call is "
                     "placed yet)", ring.door, input_device, ring.rings)
            self._bus.publish(ring)
        return ring

    def open_from_web(self, door: str, by_user: str) -> OpenDoor | None:
        """Open `door` for `by_user` (the web page). Raises KeyError for an unknown door.
        None: a pulse was already running (the request is still recorded)."""
        command = self._panel.open_from_web(door, by_user, self._clock.now())
        self._act(command)
        return command

    def open_from_panel(self, door: str) -> OpenDoor | None:
        """Open `door` from the front panel. Raises KeyError for an unknown door."""
        command = self._panel.open_from_panel(door, self._clock.now())
        self._act(command)
        return command

    # -- outputs -------------------------------------------------------------------------------

    def _act(self, command: OpenDoor | None) -> None:
        while (record := self._panel.next_event()) is not None:
            self._publish(record)
        if command is not None:
            self._work.put_nowait(command)

    def _publish(self, record: DoorOpened) -> None:
        log.info("door %r opened by %r (%s)%s", record.door, record.by, record.method.value,
                 "" if record.pulse_started else ": a pulse was already running")
        self._bus.publish(record)

    async def _pulse(self, command: OpenDoor) -> None:
        relay = self._relays.get(command.relay)
        if relay is None:
            self.relay_failures += 1
            log.error("door %r: no relay %s on this board; the door stays shut", command.door,
                      command.relay)
            return
        try:
            await relay.pulse(command.pulse_ms)
        except (DeviceError, RuntimeError) as exc:  # RuntimeError: the relay is out of service
            self.relay_failures += 1
            log.error("door %r: %s did not switch (%s); the door stays shut", command.door,
                      command.relay, exc)
            return
        log.debug("door %r: %s pulsed for %d ms", command.door, command.relay, command.pulse_ms)

    def _forget(self, call: CallId) -> None:
        entry = self._calls.pop(call, None)
        self._panel.ended(call)
        if entry is not None and self._by_slot.get(entry.station.slot) == call:
            del self._by_slot[entry.station.slot]

    # -- for the web page and tests ------------------------------------------------------------

    @property
    def panel(self) -> DoorPanel:
        return self._panel

    def door_calls(self) -> dict[CallId, str | None]:
        """Door calls in progress and who answered each (None: still ringing)."""
        return {call: entry.answered_by for call, entry in self._calls.items()}

