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

DISA (`disa.lines`, off until enabled): the line is answered at the first ring with a dial
tone as greeting; the caller's DTMF (detected on the line's slot by the media engine) drives a
`features.disa.DisaSession`: an extension dialled at once, or `*` PIN `#` for the box's dial
tone and a number dialled through the dial plan with the PIN owner's class of service
(`cos.Action.DISA`). A wrong PIN gets a second of busy tone and may be retried; lock-outs
and refusals get congestion and the line is released after `DISA_REFUSAL_S`; the caller never
hears a dial tone while locked out.

Every hardware step runs on one worker per line, in order; nothing here blocks the loop.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from firmware.calls import analog
from firmware.calls.cos import Action, Subject
from firmware.calls.dialplan import DialPlan
from firmware.calls.events import CallId, Cause, LegId
from firmware.calls.leg import CallerInfo, LegKind, PortLeg
from firmware.calls.lines import Controller, PlanCollector
from firmware.calls.sip_leg import LegRole, LegState
from firmware.clock import Clock
from firmware.features.disa import (
    Authorised,
    DialExtension,
    DisaGuard,
    DisaSession,
    DisaSettings,
    LockedOut,
    Refused,
    WrongPin,
)
from firmware.media.dsp.dtmf import DigitDetected
from firmware.media.dsp.tones import ToneKind
from firmware.media.negotiation import LocalMedia
from firmware.media.ports import PortMedia
from hal.errors import DeviceError
from hal.events import LoopCurrentChanged, PolarityReversed, RingDetected, RingStopped
from hal.fxo import FxoPort

log = logging.getLogger(__name__)

DIAL_DELAY_S = 1.0
"""Seized line → first digit: exchanges give dial tone within a few hundred ms."""
DISA_REFUSAL_S = 3.0
"""Congestion a refused DISA caller hears before the line is released."""
WRONG_PIN_TONE_S = 1.0


@dataclass(eq=False, slots=True)
class _Disa:
    """A DISA caller on a line: the session, then (authorised) its dial-plan collector."""

    session: DisaSession
    caller: str
    subject: Subject | None = None
    collector: PlanCollector | None = None
    timer: asyncio.TimerHandle | None = None


@dataclass(eq=False, slots=True)
class _Line:
    port: FxoPort
    slot: int
    work: asyncio.Queue[Callable[[], object]] = field(default_factory=asyncio.Queue)
    leg: PortLeg | None = None
    refused: bool = False
    """An inbound call the office could not take: ignore rings until they stop."""
    disconnect_by_reversal: bool = False
    disa: _Disa | None = None


class CityLines:
    """The `PortSide` of FXO lines."""

    def __init__(self, controller: Controller, media: PortMedia, ports: Mapping[str, FxoPort],
                 clock: Clock, *, dial_delay_s: float = DIAL_DELAY_S) -> None:
        self._controller = controller
        self._media = media
        self._clock = clock
        self._dial_delay_s = dial_delay_s
        self._lines = {name: _Line(port, port.audio.slot) for name, port in ports.items()}
        self._inbound: Callable[[str], str | None] = lambda line: None
        self._ids = itertools.count(1)
        self._by_slot = {line.slot: line for line in self._lines.values()}
        self._guard = DisaGuard(DisaSettings())
        self._disa_lines: frozenset[str] = frozenset()
        self._extensions: frozenset[str] = frozenset()
        self._dial_plan = DialPlan()

    def apply(self, inbound: Callable[[str], str | None],
              reversal_disconnects: Mapping[str, bool],
              *, disa: DisaSettings | None = None, disa_lines: Collection[str] = (),
              extensions: Collection[str] = (), dial_plan: DialPlan | None = None) -> None:
        """Take a revision: where each line's calls go (`inbound(line)`, asked when the line
        rings, so the operating mode of that moment decides), how each exchange clears a
        call, and DISA (its failure counts and lock-outs carry over)."""
        self._inbound = inbound
        for name, line in self._lines.items():
            line.disconnect_by_reversal = reversal_disconnects.get(name, False)
        self._guard.settings = disa if disa is not None else DisaSettings()
        self._disa_lines = frozenset(disa_lines) if self._guard.settings.enabled else frozenset()
        self._extensions = frozenset(extensions)
        if dial_plan is not None:
            self._dial_plan = dial_plan

    async def run(self) -> None:
        unsubscribe = self._media.subscribe(self._media_event)
        try:
            await self._run_lines()
        finally:
            unsubscribe()

    async def _run_lines(self) -> None:
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
                if (leg is None and line.disa is None and not line.refused
                        and not line.port.seized):
                    if line.port.name in self._disa_lines:
                        self._disa_answer(line)
                    else:
                        self._ring_in(line)
            elif isinstance(event, RingStopped):
                line.refused = False
                if leg is not None and leg.role is LegRole.INBOUND and leg.media is None:
                    line.leg = None
                    log.info("%s: the caller gave up", line.port.name)
                    self._controller.port_released(leg, Cause.CANCELLED)
            elif isinstance(event, LoopCurrentChanged):
                if not event.flowing and line.disa is not None and line.port.seized:
                    self._disa_end(line, "the caller hung up")
                elif not event.flowing and leg is not None and line.port.seized:
                    self._cleared(line, "loop current dropped")
            elif isinstance(event, PolarityReversed):
                if line.disconnect_by_reversal and leg is not None and leg.media is not None:
                    self._cleared(line, "polarity reversed")

    def _ring_in(self, line: _Line) -> None:
        name = line.port.name
        destination = self._inbound(name)
        if destination is None:
            log.warning("%s rings but has no inbound destination", name)
            line.refused = True
            return
        leg = PortLeg(LegId(""), LegKind.FXO, LegRole.INBOUND, name, name,
                      ref=f"{name}:{next(self._ids)}")
        line.leg = leg
        log.info("%s: incoming call for %s", name, destination)
        self._controller.originate(leg, destination, CallerInfo(""))

    # -- DISA ---------------------------------------------------------------------------------

    def _disa_answer(self, line: _Line) -> None:
        name = line.port.name
        caller = ""  # caller ID on FXO lines is not decoded yet: one lock-out bucket for all
        session = self._guard.start(CallId(f"{name}:disa{next(self._ids)}"), caller or None,
                                    datetime.now().astimezone(), self._clock.now(),
                                    self._extensions)
        line.disa = _Disa(session, caller)
        log.info("%s: answered by DISA", name)
        line.work.put_nowait(line.port.seize)
        self._media.play_tone(line.slot, ToneKind.DIAL)
        self._disa_events(line)

    def _media_event(self, event: object) -> None:
        if not isinstance(event, DigitDetected):
            return
        line = self._by_slot.get(event.channel)
        if line is None or line.disa is None:
            return
        disa, now = line.disa, self._clock.now()
        if disa.collector is not None:
            self._media.play_tone(line.slot, None)
            found = disa.collector.feed(event.digit, now)
            self._disa_collected(line, found)
            return
        self._media.play_tone(line.slot, None)
        disa.session.digit(event.digit, now)
        self._disa_events(line)

    def _disa_events(self, line: _Line) -> None:
        disa = line.disa
        if disa is None:
            return
        while (event := disa.session.next_event()) is not None:
            if isinstance(event, DialExtension):
                self._disa_call(line, event.number, None)
                return
            if isinstance(event, Authorised):
                disa.subject = event.subject
                disa.collector = PlanCollector(self._dial_plan, self._clock.now())
                self._media.play_tone(line.slot, ToneKind.DIAL)
            elif isinstance(event, WrongPin):
                self._media.play_tone(line.slot, ToneKind.BUSY)
                asyncio.get_running_loop().call_later(
                    WRONG_PIN_TONE_S, self._disa_retry_tone, line, disa)
            elif isinstance(event, LockedOut | Refused):
                self._disa_refuse(line, str(getattr(event, "reason", "locked out")))
                return
        self._disa_rearm(line)

    def _disa_retry_tone(self, line: _Line, disa: _Disa) -> None:
        if line.disa is disa and disa.collector is None:
            self._media.play_tone(line.slot, ToneKind.DIAL)

    def _disa_rearm(self, line: _Line) -> None:
        disa = line.disa
        if disa is None:
            return
        if disa.timer is not None:
            disa.timer.cancel()
            disa.timer = None
        deadline = (disa.collector.next_deadline() if disa.collector is not None
                    else disa.session.next_deadline())
        if deadline is not None:
            delay = max(0.0, deadline - self._clock.now())
            disa.timer = asyncio.get_running_loop().call_later(delay, self._disa_timer, line)

    def _disa_timer(self, line: _Line) -> None:
        disa = line.disa
        if disa is None:
            return
        disa.timer = None
        now = self._clock.now()
        if disa.collector is not None:
            self._disa_collected(line, disa.collector.expire(now))
            return
        disa.session.handle_timers(now)
        self._disa_events(line)

    def _disa_collected(self, line: _Line, found: analog.Collected) -> None:
        disa = line.disa
        if disa is None:
            return
        if isinstance(found, analog.Complete):
            self._disa_call(line, found.number, disa.subject)
        elif isinstance(found, analog.Invalid):
            self._disa_refuse(line, f"invalid number ({found.reason})")
        else:
            self._disa_rearm(line)

    def _disa_call(self, line: _Line, number: str, subject: Subject | None) -> None:
        disa = line.disa
        if disa is not None and disa.timer is not None:
            disa.timer.cancel()
        line.disa = None
        self._media.play_tone(line.slot, None)
        name = line.port.name
        leg = PortLeg(LegId(""), LegKind.FXO, LegRole.INBOUND, name, name,
                      ref=f"{name}:{next(self._ids)}")
        line.leg = leg
        log.info("%s: DISA caller dials %s", name, number)
        self._controller.originate(leg, number, CallerInfo(disa.caller if disa else ""),
                                   subject=subject,
                                   action=Action.DISA if subject is not None else Action.CALL)

    def _disa_refuse(self, line: _Line, why: str) -> None:
        disa = line.disa
        if disa is not None and disa.timer is not None:
            disa.timer.cancel()
            disa.timer = None
        log.warning("%s: DISA refused: %s", line.port.name, why)
        self._media.play_tone(line.slot, ToneKind.CONGESTION)
        asyncio.get_running_loop().call_later(DISA_REFUSAL_S, self._disa_end, line,
                                              "refused")

    def _disa_end(self, line: _Line, why: str) -> None:
        disa = line.disa
        if disa is None:
            return
        if disa.timer is not None:
            disa.timer.cancel()
        line.disa = None
        log.info("%s: DISA call over (%s)", line.port.name, why)
        self._media.play_tone(line.slot, None)
        line.work.put_nowait(line.port.release)

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
        return (line is not None and line.leg is None and line.disa is None
                and not line.refused
                and not line.port.seized and line.port.status.in_service)

    def offer(self, leg: PortLeg, caller: CallerInfo) -> bool:
        line = self._lines.get(leg.port)
        if line is None or line.leg is not None:
            return False
        line.leg = leg
        port = line.port

        async def seize_and_dial() -> None:
            await port.seize()
            await asyncio.sleep(self._dial_delay_s)
            if line.leg is not leg:
                return  # withdrawn while the exchange got ready
            await port.dial(leg.dial)
            if line.leg is leg and leg.state is not LegState.TERMINATED:
                self._controller.port_answered(leg)

        line.work.put_nowait(seize_and_dial)
        return True

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
        if line is not None and line.leg is leg and line.port.seized:
            log.info("%s: the call failed (%s); releasing the answered line", leg.port, cause)
            self._hang_up(line)
            return
        if line is not None and line.leg is leg:
            line.leg = None
            line.refused = True
            log.info("%s: the office cannot take the call (%s); left unanswered",
                     leg.port, cause)

    def confirmed(self, leg: PortLeg) -> None:
        pass  # a city line dials no feature codes

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
