"""The board's phones and city lines joined to call control: one start, one revision, one stop.

Built by the composition root from the opened board: the analog media engine over the PCM bus
(`media/ports.py`, one 20 ms tick for every slot), the FXS phones (`calls/lines.py`), the
FXO city lines (`calls/trunks.py`) and the DECT handsets (`calls/handsets.py`), attached to
the controller as the `PortSide` of their kind. A board without a PCM bus (or without ports)
simply has no port legs: SIP keeps working.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence

from firmware.bus import EventBus
from firmware.calls.controller import CallController
from firmware.calls.doors import DoorService
from firmware.calls.handsets import Handsets
from firmware.calls.leg import LegKind
from firmware.calls.lines import PhoneLines
from firmware.calls.office import Office
from firmware.calls.trunks import CityLines
from firmware.config.schema import Config, DisconnectMethod
from firmware.media.bridge import AnalogMediaEngine
from firmware.media.dsp.tones import PLANS, Country, TonePlan
from firmware.media.ports import PortMedia
from hal.audio import PcmBus
from hal.board import Board
from hal.contact import ContactInput
from hal.dect import DectBase
from hal.fxo import FxoPort
from hal.fxs import FxsPort
from hal.relay import Relay

log = logging.getLogger(__name__)


def tone_plan(country: str) -> TonePlan:
    """The tone plan of the office's country; the European one where we ship none."""
    try:
        return PLANS[Country(country.lower())]
    except ValueError:
        return PLANS[Country.EU]


class PortServices:
    """Everything that makes the board's ports legs of calls."""

    def __init__(self, board: Board, controller: CallController, config: Config, *,
                 bus: EventBus, mode: Callable[[], str] = lambda: "day") -> None:
        """`mode` gives the operating mode in force (inbound routes differ per mode)."""
        self._controller = controller
        self._mode = mode
        buses = [d for d in board.devices if isinstance(d, PcmBus)]
        self.fxs = {d.name: d for d in board.devices if isinstance(d, FxsPort)}
        self.fxo = {d.name: d for d in board.devices if isinstance(d, FxoPort)}
        self.dect = [d for d in board.devices if isinstance(d, DectBase)]
        self.media: PortMedia | None = None
        self.lines: PhoneLines | None = None
        self.trunks: CityLines | None = None
        self.handsets: Handsets | None = None
        self._tasks: list[asyncio.Task[None]] = []
        relays = [d for d in board.devices if isinstance(d, Relay)]
        inputs = [d for d in board.devices if isinstance(d, ContactInput)]
        self.doors = DoorService(bus, controller.clock, relays=relays, inputs=inputs)
        if not buses or not (self.fxs or self.fxo or self.dect):
            return
        plan = tone_plan(config.office.country)
        pcm = buses[0]
        engine = AnalogMediaEngine(pcm.slots, tone_plan=plan, rng=random.SystemRandom())
        self.media = PortMedia(pcm, engine, board.clock)
        self.doors.listen_to(self.media, {n: p.audio.slot for n, p in self.fxs.items()})
        clock = controller.clock
        self.lines = PhoneLines(controller, self.media, self.fxs, clock, tone_plan=plan)
        self.trunks = CityLines(controller, self.media, self.fxo, clock)
        controller.attach(LegKind.FXS, self.lines)
        controller.attach(LegKind.FXO, self.trunks)
        if self.dect:
            self.handsets = Handsets(controller, self.media, self.dect, clock)
            controller.attach(LegKind.DECT, self.handsets)

    @property
    def fxo_ports(self) -> Sequence[str]:
        return list(self.fxo)

    def apply(self, office: Office, config: Config) -> None:
        """Take a revision's routes, devices and lines."""
        self._controller.apply_routes(
            office.dial_plan, {g.id: g.lines for g in office.trunk_groups.values()},
            office.cos)
        if self.lines is not None:
            self.lines.apply(office.directory, office.dial_plan)
        if self.handsets is not None:
            self.handsets.apply(office.directory, office.dial_plan)
        if self.trunks is not None:
            reversal = {line.port: line.disconnect is DisconnectMethod.POLARITY_REVERSAL
                        for line in config.fxo_lines}
            extensions = [u.extension for u in office.directory.users.values()]
            mode = self._mode
            self.trunks.apply(lambda line: office.inbound_for(line, mode()), reversal,
                              disa=office.disa,
                              disa_lines=office.disa_lines, extensions=extensions,
                              dial_plan=office.dial_plan)
        self.doors.apply(config.doors, office.directory)

    async def start(self) -> None:
        """Bind the slots' sockets and start the tick, the ports' listeners and the doors."""
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self.doors.run(), name="doors"))
        self._tasks[-1].add_done_callback(_report)
        if self.media is None:
            return
        await self.media.start()
        self._tasks.append(loop.create_task(self.media.run(), name="port-media"))
        if self.lines is not None:
            self._tasks.append(loop.create_task(self.lines.run(), name="phone-lines"))
        if self.trunks is not None:
            self._tasks.append(loop.create_task(self.trunks.run(), name="city-lines"))
        if self.handsets is not None:
            self._tasks.append(loop.create_task(self.handsets.run(), name="dect-handsets"))
        for task in self._tasks[1:]:
            task.add_done_callback(_report)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        if self.media is not None:
            await self.media.close()


def _report(task: asyncio.Task[None]) -> None:
    """A port service that stops by itself is a fault worth a loud line in the log."""
    with contextlib.suppress(asyncio.CancelledError):
        exc = task.exception()
        if exc is not None:
            log.error("%s stopped: %s", task.get_name(), exc, exc_info=exc)
