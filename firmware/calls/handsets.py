"""DECT handsets as legs of calls: the I/O around each handset's `AnalogLine`.

Each configured DECT device (`kind: dect`, `port: dect1`, `handset: N`) gets one `AnalogLine`
(`calls/analog.py`, pure) of kind `LineKind.DECT`: the same behaviour as an analog phone, plus
`Display` text. The base's `events()` feed it (talk key → `HandsetOffHook`, end key →
`HandsetOnHook`, keys → `KeypadPressed`, en bloc or one by one, "R" for recall); keypad digits
need no DTMF detection, so the media engine's digit events are not listened to. What the
controller says about the handset's calls comes through the `PortSide` methods, as for
`calls/lines.py`, whose shape this module follows.

The speech path is dynamic, unlike an FXS port's fixed slot: a GAP base (EN 300 444 §8.x, call
establishment) only gives a handset a PCM slot when the call needs audio. So the slot is taken
(`await base.connect(handset)`) when the talk key is pressed — before the line hears the
off-hook, so that dial tone, ringback and the call's RTP go through it (`PortMedia`, one RTP
socket per slot) and `media_address` can answer the controller as soon as the line dials or
answers — and given back (`base.release`) once the line is idle again. A base with every slot
busy refuses the talk key ("No line free" on the display; the line never sees the off-hook).

Ring → `base.page(handset, CallerIdText(number, name))` (CLIP/CNAP, EN 300 175-5 §7.7.8);
StopRinging → `stop_paging`; SetLamp → `set_message_waiting`; Display → `show`. Every hardware
command of a base runs on that base's worker, in order, and so does the handling of its events:
a release queued at hang-up can never free the slot a quick re-lift has just been given. A
failed command (`hal.errors.DeviceError`, a handset no longer subscribed) is logged; a page
that fails withdraws the offer (the controller counts the handset unavailable), and so does
the end key pressed while the handset rings (REJECTED: the caller gets 603 Decline).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from firmware.calls import analog
from firmware.calls.analog import AnalogLine, LineKind, LineSettings
from firmware.calls.dialplan import DialPlan
from firmware.calls.directory import Directory
from firmware.calls.events import CallId, Cause, LegId
from firmware.calls.leg import CallerInfo, LegKind, PortLeg
from firmware.calls.lines import Controller, PlanCollector
from firmware.calls.sip_leg import LegRole
from firmware.calls.station import SlotMedia, StationSide
from firmware.clock import Clock
from firmware.config.schema import DeviceKind
from firmware.media.negotiation import LocalMedia
from hal.dect import CallerIdText, DectBase
from hal.errors import DeviceError
from hal.events import (
    DectEvent,
    HandsetOffHook,
    HandsetOnHook,
    KeypadPressed,
    PortAlarm,
    PortAlarmCleared,
)

log = logging.getLogger(__name__)

Address = tuple[str, int]
Job = Callable[[], Coroutine[Any, Any, object] | None]

NO_SLOT_TEXT = "No line free"
"""What a handset shows when the base has no speech slot for its call."""

_FAILURES = (DeviceError, KeyError, RuntimeError, OSError)
"""What a base command may raise: the module failed or refused, the handset is no longer
subscribed, the base is closed (hal.dect.DectBase)."""


@dataclass(eq=False, slots=True)
class _Handset:
    """One configured handset: its pure line, its calls and its speech slot."""

    device: str
    user: str | None
    caller: CallerInfo
    base: DectBase
    number: int
    line: AnalogLine
    work: asyncio.Queue[Job]
    legs: dict[str, PortLeg] = field(default_factory=dict)
    """The line's call id → its leg."""
    audio: dict[str, tuple[Address, LocalMedia]] = field(default_factory=dict)
    """The line's call id → where that call's audio goes, once connected."""
    slot: int | None = None
    """The PCM slot the base gave the handset's call; None while it has no speech path."""
    timer: asyncio.TimerHandle | None = None
    connected: str | None = None
    """The call whose audio the slot carries now."""


class Handsets(StationSide[_Handset]):
    """The `PortSide` of DECT handsets (`LegKind.DECT`) on the board's bases."""

    def __init__(self, controller: Controller, media: SlotMedia, bases: Iterable[DectBase],
                 clock: Clock, *, settings: LineSettings | None = None) -> None:
        super().__init__(media, clock)
        self._controller = controller
        self._bases = {base.name: base for base in bases}
        self._clock = clock
        self._settings = settings or LineSettings()
        self._work: dict[str, asyncio.Queue[Job]] = {name: asyncio.Queue()
                                                     for name in self._bases}
        self._handsets: dict[tuple[str, int], _Handset] = {}
        self._dial_plan = DialPlan()

    # -- configuration ---------------------------------------------------------------------

    def apply(self, directory: Directory, dial_plan: DialPlan) -> None:
        """Take a revision: which device and user each handset is, and the dial plan for the
        next dial tone (a call in progress keeps what it has). A handset dropped from the
        configuration keeps its line until restart, as FXS ports do."""
        self._dial_plan = dial_plan
        now = self._clock.now()
        for device in directory.devices.values():
            if (device.kind is not DeviceKind.DECT or device.port not in self._bases
                    or device.handset is None):
                continue
            user = directory.users.get(device.user)
            caller = CallerInfo(user.extension if user else device.id, user.name if user else "")
            key = (device.port, device.handset)
            found = self._handsets.get(key)
            if found is not None:
                found.device, found.user, found.caller = device.id, device.user, caller
                continue
            line = AnalogLine(device.id, self._collector, kind=LineKind.DECT,
                              settings=self._settings, now=now)
            self._handsets[key] = _Handset(device.id, device.user, caller,
                                           self._bases[device.port], device.handset, line,
                                           self._work[device.port])

    def _collector(self, now: float) -> analog.DigitCollector:
        return PlanCollector(self._dial_plan, now)

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Listen to every base and carry out its commands until cancelled."""
        try:
            async with asyncio.TaskGroup() as group:
                for name, base in self._bases.items():
                    group.create_task(self._listen(base), name=f"handsets-{name}")
                    group.create_task(self._worker(self._work[name]),
                                      name=f"handsets-work-{name}")
        finally:
            for handset in self._handsets.values():
                if handset.timer is not None:
                    handset.timer.cancel()

    async def _listen(self, base: DectBase) -> None:
        async for event in base.events():
            self._work[base.name].put_nowait(functools.partial(self._event, base, event))

    async def _worker(self, work: asyncio.Queue[Job]) -> None:
        while True:
            job = await work.get()
            try:
                result = job()
                if result is not None:
                    await result
            except _FAILURES as exc:
                log.warning("DECT command failed: %s", exc)

    async def _event(self, base: DectBase, event: DectEvent) -> None:
        if isinstance(event, PortAlarm | PortAlarmCleared):
            log.warning("%s: %s", base.name, event)
            for each in self._handsets.values():
                if each.base is base:
                    self._feed(each, event)
            return
        if not isinstance(event, HandsetOffHook | HandsetOnHook | KeypadPressed):
            log.info("%s: %s", base.name, event)  # registrations, handovers: not calls
            return
        handset = self._handsets.get((base.name, event.handset))
        if handset is None:
            if isinstance(event, HandsetOffHook):
                log.info("%s: handset %d is no configured device", base.name, event.handset)
                await base.show(event.handset, "Not configured")
                await base.release(event.handset)
            return
        if isinstance(event, HandsetOnHook) and handset.line.state is analog.State.RINGING:
            # The end key on a ringing handset refuses the call (an analog phone cannot do
            # this, so the line has no such input).
            self._withdraw(handset, handset.line.calls.get(analog.Slot.RINGING), Cause.REJECTED)
            return
        if isinstance(event, HandsetOffHook) and handset.slot is None:
            try:
                port = await base.connect(handset.number)
            except _FAILURES as exc:
                log.warning("%s: no speech path for handset %d: %s", base.name,
                            handset.number, exc)
                await base.show(handset.number, NO_SLOT_TEXT)
                await base.release(handset.number)
                return
            handset.slot = port.slot
        self._feed(handset, event)

    # -- the line ---------------------------------------------------------------------------

    def _after_drain(self, handset: _Handset) -> None:
        if handset.line.state is analog.State.IDLE and handset.slot is not None:
            self._give_back_slot(handset, handset.slot)

    def _give_back_slot(self, handset: _Handset, slot: int) -> None:
        """The line is idle: silence `slot` and let the base free it."""
        base, number = handset.base, handset.number
        self._media.disconnect(slot)
        self._media.play_tone(slot, None)
        handset.slot = None
        handset.connected = None
        handset.work.put_nowait(lambda: base.release(number))

    def _execute(self, handset: _Handset, command: analog.Command) -> None:
        base, number, slot = handset.base, handset.number, handset.slot
        match command:
            case analog.PlayTone(tone=tone):
                if slot is not None:  # the howler has no plan entry: then silence
                    self._media.play_tone(slot, tone.tone_kind)
            case analog.StopTone():
                if slot is not None:
                    self._media.play_tone(slot, None)
            case analog.Ring(caller_id=caller_id):
                text = (CallerIdText(caller_id.number or "", caller_id.name or "")
                        if caller_id else None)
                call = handset.line.calls.get(analog.Slot.RINGING)
                handset.work.put_nowait(lambda: self._page(handset, call, text))
            case analog.StopRinging():
                handset.work.put_nowait(lambda: base.stop_paging(number))
            case analog.SetLamp(on=on):
                handset.work.put_nowait(lambda: base.set_message_waiting(number, on))
            case analog.Display(text=text):
                handset.work.put_nowait(lambda: base.show(number, text))
            case analog.Dial(call=call, number=dialled):
                leg = PortLeg(LegId(""), LegKind.DECT, LegRole.INBOUND, handset.device,
                              base.name, ref=str(call), handset=number)
                handset.legs[str(call)] = leg
                self._controller.originate(leg, dialled, handset.caller, handset.user)
            case analog.Answer(call=call):
                taken = handset.legs.get(str(call))
                if taken is not None:
                    self._controller.port_answered(taken)
            case analog.Connect(call=call):
                self._connect(handset, str(call))
            case analog.Hold(call=call):
                if handset.connected == str(call) and slot is not None:
                    self._media.disconnect(slot)
                    handset.connected = None
            case analog.Release(call=call, cause=cause):
                left = handset.legs.pop(str(call), None)
                handset.audio.pop(str(call), None)
                if handset.connected == str(call) and slot is not None:
                    self._media.disconnect(slot)
                    handset.connected = None
                if left is not None:
                    self._controller.port_released(left, cause)
            case analog.Transfer(held=held, active=active):
                # As `PhoneLines`: R, a number, the end key joins the two far ends.
                first = handset.legs.pop(str(held), None)
                second = handset.legs.pop(str(active), None)
                for ref in (str(held), str(active)):
                    handset.audio.pop(ref, None)
                if handset.connected is not None and slot is not None:
                    self._media.disconnect(slot)
                    handset.connected = None
                if first is not None and second is not None:
                    self._controller.transfer(first, second)
                else:
                    for gone in (first, second):
                        if gone is not None:
                            self._controller.port_released(gone)
            case analog.Conference():
                log.info("%s: three-way conference is not joined to calls yet", handset.device)

    async def _page(self, handset: _Handset, call: CallId | None,
                    text: CallerIdText | None) -> None:
        """Page the handset; a base that cannot (out of range, module failed) withdraws the
        offer so the caller is not left hearing ringback from nobody."""
        try:
            await handset.base.page(handset.number, text)
        except _FAILURES as exc:
            log.info("%s: cannot page handset %d: %s", handset.base.name, handset.number, exc)
            self._withdraw(handset, call, Cause.UNAVAILABLE)

    def _withdraw(self, handset: _Handset, call: CallId | None, cause: Cause) -> None:
        """Take back the offer of `call` ringing on `handset`, telling the controller why."""
        if call is None:
            return
        leg = handset.legs.pop(str(call), None)
        self._feed(handset, analog.FarEndHungUp(call))
        if leg is not None:
            self._controller.port_released(leg, cause)

    def _station_of(self, leg: PortLeg) -> _Handset | None:
        return None if leg.handset is None else self._handsets.get((leg.port, leg.handset))

    # -- PortSide -------------------------------------------------------------------------

    def is_free(self, port: str) -> bool:
        """Whether some configured handset of base `port` is idle (handsets are reached by
        number through `offer`, so this only says the base can take a call at all)."""
        return any(h.base.name == port and h.line.state is analog.State.IDLE
                   for h in self._handsets.values())

