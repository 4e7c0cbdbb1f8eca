"""City lines on FXO ports as legs of calls.

Outbound: the controller picks a free line of the trunk group and offers it a leg with the
digits to send; the line is seized, given `dial_delay_s` for the exchange's dial tone, dialled
(DTMF), and then counts as answered: an analog city line gives no answer signal unless the
exchange reverses polarity, so, as on Panasonic and Yeastar analog trunks, the caller is
connected once dialling is done and hears the exchange's own ringback and the called party
through the box.

Inbound: the first validated ring starts a call to the line's inbound destination
(`inbound` in the configuration); the line is answered (seized) when the called phone
answers, and the call ends when the exchange clears the line — loop current gone, or a
polarity reversal on lines configured to disconnect so — or, before answer, when ringing stops.
A call the office cannot take (everyone busy) leaves the line ringing, unanswered, so the
caller is not charged; the line is not offered again until its ringing stops.

Every hardware step runs on one worker per line, in order; nothing here blocks the loop.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from firmware.calls.events import Cause, LegId
from firmware.calls.leg import CallerInfo, LegKind, PortLeg
from firmware.calls.lines import Controller
from firmware.calls.sip_leg import LegRole, LegState
from firmware.clock import Clock
from firmware.media.negotiation import LocalMedia
from firmware.media.ports import PortMedia
from hal.errors import DeviceError
from hal.events import LoopCurrentChanged, PolarityReversed, RingDetected, RingStopped
from hal.fxo import FxoPort

log = logging.getLogger(__name__)

DIAL_DELAY_S = 1.0
"""Seized line → first digit: exchanges give dial tone within a few hundred ms."""


@dataclass(eq=False, slots=True)
class _Line:
    port: FxoPort
    slot: int
    work: asyncio.Queue[Callable[[], object]] = field(default_factory=asyncio.Queue)
    leg: PortLeg | None = None
    refused: bool = False
    """An inbound call the office could not take: ignore rings until they stop."""
    disconnect_by_reversal: bool = False


class CityLines:
    """The `PortSide` of FXO lines."""

    def __init__(self, controller: Controller, media: PortMedia, ports: Mapping[str, FxoPort],
                 clock: Clock, *, dial_delay_s: float = DIAL_DELAY_S) -> None:
        self._controller = controller
        self._media = media
        self._clock = clock
        self._dial_delay_s = dial_delay_s
        self._lines = {name: _Line(port, port.audio.slot) for name, port in ports.items()}
        self._inbound: dict[str, str] = {}
        self._ids = itertools.count(1)

    def apply(self, inbound: Mapping[str, str], reversal_disconnects: Mapping[str, bool]) -> None:
        """Take a revision: where each line's calls go, how each exchange clears a call."""
        self._inbound = dict(inbound)
        for name, line in self._lines.items():
            line.disconnect_by_reversal = reversal_disconnects.get(name, False)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for name, line in self._lines.items():
                group.create_task(self._listen(line), name=f"trunk-{name}")
                group.create_task(self._worker(line), name=f"trunk-work-{name}")

    async def _worker(self, line: _Line) -> None:
        while True:
            job = await line.work.get()
            try:
                result = job()
                if asyncio.iscoroutine(result):
                    await result
            except (DeviceError, RuntimeError, OSError) as exc:
                log.warning("%s: line command failed: %s", line.port.name, exc)
                leg = line.leg
                if leg is not None:
                    line.leg = None
                    self._controller.port_released(leg, Cause.UNAVAILABLE)

    async def _listen(self, line: _Line) -> None:
        async for event in line.port.events():
            leg = line.leg
            if isinstance(event, RingDetected):
                if leg is None and not line.refused and not line.port.seized:
                    self._ring_in(line)
            elif isinstance(event, RingStopped):
                line.refused = False
                if leg is not None and leg.role is LegRole.INBOUND and leg.media is None:
                    line.leg = None
                    log.info("%s: the caller gave up", line.port.name)
                    self._controller.port_released(leg, Cause.CANCELLED)
            elif isinstance(event, LoopCurrentChanged):
                if not event.flowing and leg is not None and line.port.seized:
                    self._cleared(line, "loop current dropped")
            elif isinstance(event, PolarityReversed):
                if line.disconnect_by_reversal and leg is not None and leg.media is not None:
                    self._cleared(line, "polarity reversed")

    def _ring_in(self, line: _Line) -> None:
        name = line.port.name
        destination = self._inbound.get(name)
        if destination is None:
            log.warning("%s rings but has no inbound destination", name)
            line.refused = True
            return
        leg = PortLeg(LegId(""), LegKind.FXO, LegRole.INBOUND, name, name,
                      ref=f"{name}:{next(self._ids)}")
        line.leg = leg
        log.info("%s: incoming call for %s", name, destination)
        self._controller.originate(leg, destination, CallerInfo(""))

    def _cleared(self, line: _Line, why: str) -> None:
        leg = line.leg
        if leg is None:
            return
        log.info("%s: the exchange cleared the call (%s)", line.port.name, why)
        self._hang_up(line)
        self._controller.port_released(leg, Cause.NORMAL)

    def _hang_up(self, line: _Line) -> None:
        line.leg = None
        self._media.disconnect(line.slot)
        line.work.put_nowait(line.port.release)

    # -- PortSide -------------------------------------------------------------------------

    def is_free(self, port: str) -> bool:
        line = self._lines.get(port)
        return (line is not None and line.leg is None and not line.refused
                and not line.port.seized and line.port.status.in_service)

    def offer(self, leg: PortLeg, caller: CallerInfo) -> bool:
        line = self._lines.get(leg.port)
        if line is None or line.leg is not None:
            return False
        line.leg = leg
        port = line.port

        async def seize_and_dial() -> None:
            await port.seize()
            await self._clock_sleep(self._dial_delay_s)
            if line.leg is not leg:
                return  # withdrawn while the exchange got ready
            await port.dial(leg.dial)
            if line.leg is leg and leg.state is not LegState.TERMINATED:
                self._controller.port_answered(leg)

        line.work.put_nowait(seize_and_dial)
        return True

    async def _clock_sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def alerting(self, leg: PortLeg) -> None:
        pass  # the city caller hears the exchange's ringback, not ours

    def answered(self, leg: PortLeg, remote: tuple[str, int], media: LocalMedia) -> None:
        line = self._lines.get(leg.port)
        if line is None or line.leg is not leg:
            return
        leg.media = media
        if leg.role is LegRole.INBOUND:
            line.work.put_nowait(line.port.seize)  # answer the city call
        self._media.connect(line.slot, remote, media.codec, media.payload_type,
                            media.telephone_event_pt)

    def failed(self, leg: PortLeg, cause: Cause) -> None:
        line = self._lines.get(leg.port)
        if line is not None and line.leg is leg:
            line.leg = None
            line.refused = True
            log.info("%s: the office cannot take the call (%s); left unanswered",
                     leg.port, cause)

    def released(self, leg: PortLeg, cause: Cause) -> None:
        line = self._lines.get(leg.port)
        if line is not None and line.leg is leg:
            if line.port.seized or leg.role is LegRole.OUTBOUND:
                self._hang_up(line)
            else:  # never answered: leave it ringing until the caller gives up
                line.leg = None
                line.refused = True

    def media_address(self, leg: PortLeg) -> tuple[str, int] | None:
        line = self._lines.get(leg.port)
        return None if line is None else self._media.address(line.slot)
