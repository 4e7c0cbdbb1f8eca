"""What analog phones and DECT handsets share as legs of calls: one pure `AnalogLine` per
station, fed in order, its timer re-armed after every input, and the same answers to the
controller's `PortSide` calls. `calls/lines.py` (FXS ports) and `calls/handsets.py` (DECT) add
what differs: where events come from, how a port rings and shows, and where the speech slot is.

The controller is never re-entered: `PortSide` methods only feed the line and schedule the
drain of its commands (`call_soon`); port events drain at once.
"""

from __future__ import annotations

import abc
import asyncio
from typing import Generic, Protocol, TypeVar

from firmware.calls import analog
from firmware.calls.analog import AnalogLine, LineInput
from firmware.calls.events import CallId, Cause
from firmware.calls.leg import CallerInfo, PortLeg
from firmware.calls.sip_leg import LegRole
from firmware.clock import Clock
from firmware.media.codecs.codec import Encoding
from firmware.media.dsp.callerid import CallerId
from firmware.media.dsp.tones import RingKind, ToneKind
from firmware.media.negotiation import LocalMedia

Address = tuple[str, int]


class SlotMedia(Protocol):
    """What stations need of the port media (`media/ports.py::PortMedia`)."""

    def address(self, slot: int) -> Address: ...

    def connect(self, slot: int, remote: Address, codec: Encoding, payload_type: int,
                telephone_event_pt: int | None) -> None: ...

    def disconnect(self, slot: int) -> None: ...

    def play_tone(self, slot: int, kind: ToneKind | None) -> None: ...


class Station(Protocol):
    """One phone or handset as the shared code sees it."""

    line: AnalogLine
    legs: dict[str, PortLeg]
    """The line's call id → its leg."""
    audio: dict[str, tuple[Address, LocalMedia]]
    """The line's call id → where that call's audio goes, once connected."""
    timer: asyncio.TimerHandle | None
    connected: str | None
    """The call whose audio the slot carries now."""

    @property
    def slot(self) -> int | None:
        """The PCM slot of its speech path; None while it has none (a handset on hook)."""
        ...


S = TypeVar("S", bound=Station)


class StationSide(abc.ABC, Generic[S]):
    """The `PortSide` methods common to FXS phones and DECT handsets."""

    def __init__(self, media: SlotMedia, clock: Clock) -> None:
        self._media = media
        self._clock = clock

    @abc.abstractmethod
    def _station_of(self, leg: PortLeg) -> S | None: ...

    @abc.abstractmethod
    def _execute(self, station: S, command: analog.Command) -> None: ...

    def _after_drain(self, station: S) -> None:
        """Hook after the line's commands ran (handsets give an idle slot back)."""

    # -- the line ---------------------------------------------------------------------------

    def _feed(self, station: S, event: LineInput, *, drain_now: bool = True) -> None:
        station.line.handle(event, self._clock.now())
        if drain_now:
            self._drain(station)
        else:
            asyncio.get_running_loop().call_soon(self._drain, station)

    def _drain(self, station: S) -> None:
        for command in station.line.commands():
            self._execute(station, command)
        self._after_drain(station)
        self._rearm(station)

    def _rearm(self, station: S) -> None:
        if station.timer is not None:
            station.timer.cancel()
            station.timer = None
        deadline = station.line.next_deadline()
        if deadline is not None:
            delay = max(0.0, deadline - self._clock.now())
            station.timer = asyncio.get_running_loop().call_later(delay, self._expire, station)

    def _expire(self, station: S) -> None:
        station.timer = None
        station.line.handle_timers(self._clock.now())
        self._drain(station)

    def _connect(self, station: S, call: str) -> None:
        audio = station.audio.get(call)
        slot = station.slot
        if audio is None or slot is None:
            return
        remote, media = audio
        self._media.connect(slot, remote, media.codec, media.payload_type,
                            media.telephone_event_pt)
        station.connected = call

    def _disconnect(self, station: S) -> None:
        if station.connected is not None and station.slot is not None:
            self._media.disconnect(station.slot)
        station.connected = None

    # -- PortSide -------------------------------------------------------------------------

    def offer(self, leg: PortLeg, caller: CallerInfo) -> bool:
        station = self._station_of(leg)
        if station is None or station.line.state is not analog.State.IDLE:
            return False  # call waiting comes with the three-way bridge
        station.legs[leg.ref] = leg
        internal = caller.number.isdigit() and len(caller.number) <= 5
        kind = RingKind.INTERNAL if internal else RingKind.NORMAL
        cid = CallerId(number=caller.number or None, name=caller.name or None)
        self._feed(station, analog.IncomingCall(CallId(leg.ref), cid, kind), drain_now=False)
        return True

    def alerting(self, leg: PortLeg) -> None:
        station = self._station_of(leg)
        if station is not None:
            self._feed(station, analog.Ringing(CallId(leg.ref)), drain_now=False)

    def answered(self, leg: PortLeg, remote: Address, media: LocalMedia) -> None:
        station = self._station_of(leg)
        if station is None:
            return
        station.audio[leg.ref] = (remote, media)
        if leg.role is LegRole.OUTBOUND:  # it answered a call to it: talk at once
            self._connect(station, leg.ref)
        else:
            self._feed(station, analog.Answered(CallId(leg.ref)), drain_now=False)

    def failed(self, leg: PortLeg, cause: Cause) -> None:
        station = self._station_of(leg)
        if station is None:
            return
        station.legs.pop(leg.ref, None)
        signal = analog.Busy if cause is Cause.BUSY else analog.Congestion
        self._feed(station, signal(CallId(leg.ref)), drain_now=False)

    def confirmed(self, leg: PortLeg) -> None:
        station = self._station_of(leg)
        if station is not None:
            station.legs.pop(leg.ref, None)
            self._feed(station, analog.Confirmed(CallId(leg.ref)), drain_now=False)

    def released(self, leg: PortLeg, cause: Cause) -> None:
        station = self._station_of(leg)
        if station is None:
            return
        station.legs.pop(leg.ref, None)
        station.audio.pop(leg.ref, None)
        if station.connected == leg.ref:
            self._disconnect(station)
        self._feed(station, analog.FarEndHungUp(CallId(leg.ref)), drain_now=False)

    def media_address(self, leg: PortLeg) -> Address | None:
        station = self._station_of(leg)
        if station is None or station.slot is None:
            return None
        return self._media.address(station.slot)
