"""Analog phones on FXS ports as legs of calls: the I/O around each port's `AnalogLine`.

Each configured FXS device gets one `AnalogLine` (`calls/analog.py`, pure): hook changes,
flashes and pulse digits come from the port's `events()`, DTMF digits from the media engine
(`media/ports.py`, which listens to every slot), and what the controller says about the line's
calls comes through the `PortSide` methods. The line's commands are carried out here: tones and
audio through `PortMedia`, ringing and the lamp through the `FxsPort`, calls through the
controller (`originate`, `port_answered`, `port_released`).

Ordering: port commands that await the hardware (ring, stop ringing, lamp) run one after the
other on a per-port worker, so a ring is never overtaken by its own stop; commands for the
controller run on the loop at once, but never inside a controller callback (those only feed the
line and schedule the drain), so the controller is never re-entered.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from firmware.calls import analog
from firmware.calls.analog import (
    AnalogLine,
    Collected,
    Complete,
    Incomplete,
    Invalid,
    LineKind,
    LineSettings,
)
from firmware.calls.cos import Action, Subject
from firmware.calls.dialplan import DialPlan, DigitCollector, MatchState
from firmware.calls.directory import Directory
from firmware.calls.events import CallId, Cause, LegId
from firmware.calls.leg import CallerInfo, LegKind, PortLeg
from firmware.calls.sip_leg import LegRole
from firmware.calls.station import StationSide
from firmware.clock import Clock
from firmware.media.dsp.callerid import CallerId, encode_mdmf, fsk_audio
from firmware.media.dsp.dtmf import DigitDetected
from firmware.media.dsp.fsk import FskStandard
from firmware.media.dsp.tones import TonePlan
from firmware.media.frame import Frame, samples_per_frame
from firmware.media.negotiation import LocalMedia
from firmware.media.ports import PortMedia
from hal.errors import DeviceError
from hal.events import PortAlarm, PortAlarmCleared
from hal.fxs import FxsPort
from hal.linesignal import RingCadence

log = logging.getLogger(__name__)


class Controller(Protocol):
    """What the lines need of the call controller."""

    def originate(self, leg: PortLeg, dialled: str, caller: CallerInfo,
                  user: str | None = None, *, subject: Subject | None = None,
                  action: Action = Action.CALL) -> CallId: ...

    def port_answered(self, leg: PortLeg) -> None: ...

    def port_released(self, leg: PortLeg, cause: Cause = Cause.NORMAL) -> None: ...

    def transfer(self, held: PortLeg, active: PortLeg) -> None: ...

    def port_hold(self, leg: PortLeg, held: bool) -> None: ...


class PlanCollector:
    """The dial plan's digit collector in the words the line speaks."""

    def __init__(self, plan: DialPlan, now: float) -> None:
        self._inner = DigitCollector(plan, now)

    def feed(self, digit: str, now: float) -> Collected:
        return self._judge(self._inner.feed(digit, now).state)

    def next_deadline(self) -> float | None:
        return self._inner.next_deadline()

    def expire(self, now: float) -> Collected:
        found = self._inner.expire(now)
        return Incomplete() if found is None else self._judge(found.state)

    def _judge(self, state: MatchState) -> Collected:
        if state is MatchState.COMPLETE:
            return Complete(self._inner.digits)
        if state is MatchState.INVALID:
            result = self._inner.result
            return Invalid(str(result.invalid) if result and result.invalid else "")
        return Incomplete()


class Hotline:
    """A phone that calls one number as soon as it is lifted (door station, lift phone): the
    number is whole at once and later digits change nothing."""

    def __init__(self, number: str, now: float) -> None:
        self._number = number
        self._now = now

    def feed(self, digit: str, now: float) -> Collected:
        return Complete(self._number)

    def next_deadline(self) -> float | None:
        return self._now

    def expire(self, now: float) -> Collected:
        return Complete(self._number)


@dataclass(eq=False, slots=True)
class _Phone:
    """One FXS port with its phone: the pure line and what its calls are."""

    device: str
    user: str | None
    caller: CallerInfo
    port: FxsPort
    slot: int
    line: AnalogLine
    work: asyncio.Queue[Callable[[], object]]
    legs: dict[str, PortLeg]
    """The line's call id → its leg."""
    audio: dict[str, tuple[tuple[str, int], LocalMedia]]
    """The line's call id → where that call's audio goes, once connected."""
    timer: asyncio.TimerHandle | None = None
    connected: str | None = None
    """The call whose audio the slot carries now."""


def caller_id_frames(caller: CallerInfo, standard: FskStandard = FskStandard.V23) -> list[Frame]:
    """MDMF caller ID (number and name) as 20 ms frames of FSK for an on-hook phone."""
    audio = fsk_audio(encode_mdmf(CallerId(number=caller.number or None,
                                           name=caller.name or None)), standard)
    n = samples_per_frame()
    padded = np.zeros(-(-audio.size // n) * n, dtype=np.int16)
    padded[: audio.size] = audio
    return [padded[i : i + n] for i in range(0, padded.size, n)]


class PhoneLines(StationSide[_Phone]):
    """The `PortSide` of FXS phones (and door stations on FXS ports)."""

    def __init__(self, controller: Controller, media: PortMedia, ports: Mapping[str, FxsPort],
                 clock: Clock, *, tone_plan: TonePlan, settings: LineSettings | None = None,
                 caller_id_standard: FskStandard = FskStandard.V23) -> None:
        super().__init__(media, clock)
        self._controller = controller
        self._media: PortMedia = media
        self._ports = dict(ports)
        self._plan_tones = tone_plan
        self._settings = settings or LineSettings()
        self._fsk = caller_id_standard
        self._phones: dict[str, _Phone] = {}
        self._by_slot: dict[int, _Phone] = {}
        self._dial_plan = DialPlan()
        self._hotlines: dict[str, str] = {}

    # -- configuration ---------------------------------------------------------------------

    def apply(self, directory: Directory, dial_plan: DialPlan) -> None:
        """Take a revision: which device and user each port serves, and the dial plan for
        the next dial tone (a call in progress keeps what it has)."""
        self._dial_plan = dial_plan
        now = self._clock.now()
        for name, port in self._ports.items():
            device = directory.device_at_port(name)
            phone = self._phones.get(name)
            if device is None:
                continue
            if device.hotline:
                self._hotlines[name] = device.hotline
            else:
                self._hotlines.pop(name, None)
            user = directory.users.get(device.user)
            caller = CallerInfo(user.extension if user else device.id, user.name if user else "")
            if phone is not None:
                phone.device, phone.user, phone.caller = device.id, device.user, caller
                continue
            line = AnalogLine(device.id, functools.partial(self._collector, name),
                              kind=LineKind.ANALOG, settings=self._settings, now=now)
            phone = _Phone(device.id, device.user, caller, port, port.audio.slot, line,
                           asyncio.Queue(), {}, {})
            self._phones[name] = phone
            self._by_slot[phone.slot] = phone

    def _collector(self, port: str, now: float) -> analog.DigitCollector:
        hotline = self._hotlines.get(port)
        if hotline is not None:
            return Hotline(hotline, now)
        return PlanCollector(self._dial_plan, now)

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Listen to every served port until cancelled."""
        unsubscribe = self._media.subscribe(self._media_event)
        try:
            async with asyncio.TaskGroup() as group:
                for phone in self._phones.values():
                    group.create_task(self._listen(phone), name=f"line-{phone.port.name}")
                    group.create_task(self._worker(phone), name=f"line-work-{phone.port.name}")
        finally:
            unsubscribe()
            for phone in self._phones.values():
                if phone.timer is not None:
                    phone.timer.cancel()

    async def _listen(self, phone: _Phone) -> None:
        async for event in phone.port.events():
            if isinstance(event, PortAlarm | PortAlarmCleared):
                log.warning("%s: %s", phone.port.name, event)
            self._feed(phone, event)

    async def _worker(self, phone: _Phone) -> None:
        while True:
            job = await phone.work.get()
            try:
                result = job()
                if asyncio.iscoroutine(result):
                    await result
            except (DeviceError, RuntimeError, OSError) as exc:
                log.warning("%s: port command failed: %s", phone.port.name, exc)

    def _media_event(self, event: object) -> None:
        if isinstance(event, DigitDetected):
            phone = self._by_slot.get(event.channel)
            if phone is not None and phone.connected is None:
                self._feed(phone, event)

    # -- the line ---------------------------------------------------------------------------

    def _execute(self, phone: _Phone, command: analog.Command) -> None:
        slot, port = phone.slot, phone.port
        match command:
            case analog.PlayTone(tone=tone):
                # The howler has no tone plan entry yet: the line then stays silent.
                self._media.play_tone(slot, tone.tone_kind)
            case analog.StopTone():
                self._media.play_tone(slot, None)
            case analog.Ring(kind=kind, caller_id=caller_id):
                cadence = RingCadence(self._plan_tones.ring(kind).cadence_ms)
                frames = caller_id_frames(CallerInfo(caller_id.number or "", caller_id.name or ""),
                                          self._fsk) if caller_id else []
                phone.work.put_nowait(lambda: port.ring(cadence, frames))
            case analog.StopRinging():
                phone.work.put_nowait(port.stop_ringing)
            case analog.SetLamp(on=on):
                phone.work.put_nowait(lambda: port.set_message_waiting(on))
            case analog.Display():
                pass  # analog phones have no display the box can write
            case analog.Dial(call=call, number=number):
                leg = PortLeg(LegId(""), LegKind.FXS, LegRole.INBOUND, phone.device, port.name,
                              ref=str(call))
                phone.legs[str(call)] = leg
                self._controller.originate(leg, number, phone.caller, phone.user)
            case analog.Answer(call=call):
                taken = phone.legs.get(str(call))
                if taken is not None:
                    self._controller.port_answered(taken)
            case analog.Connect(call=call):
                self._connect(phone, str(call))
                resumed = phone.legs.get(str(call))
                if resumed is not None:
                    self._controller.port_hold(resumed, False)
            case analog.Hold(call=call):
                if phone.connected == str(call):
                    self._media.disconnect(slot)
                    phone.connected = None
                held = phone.legs.get(str(call))
                if held is not None:
                    self._controller.port_hold(held, True)
            case analog.Release(call=call, cause=cause):
                left = phone.legs.pop(str(call), None)
                phone.audio.pop(str(call), None)
                if phone.connected == str(call):
                    self._media.disconnect(slot)
                    phone.connected = None
                if left is not None:
                    self._controller.port_released(left, cause)
            case analog.Transfer(held=held, active=active):
                first = phone.legs.pop(str(held), None)
                second = phone.legs.pop(str(active), None)
                for ref in (str(held), str(active)):
                    phone.audio.pop(ref, None)
                if phone.connected is not None:
                    self._media.disconnect(slot)
                    phone.connected = None
                if first is not None and second is not None:
                    self._controller.transfer(first, second)
                else:
                    for gone in (first, second):
                        if gone is not None:
                            self._controller.port_released(gone)
            case analog.Conference():
                log.info("%s: three-way conference is not joined to calls yet", phone.device)

    def _station_of(self, leg: PortLeg) -> _Phone | None:
        return self._phones.get(leg.port)

    # -- PortSide -------------------------------------------------------------------------

    def is_free(self, port: str) -> bool:
        phone = self._phones.get(port)
        return phone is not None and phone.line.state is analog.State.IDLE
