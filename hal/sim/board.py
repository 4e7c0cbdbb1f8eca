"""The simulated board: every hal device in memory, for `switchbox run`, tests and rehearsal.

The "sim" driver builds devices from a board description like any chip driver (see
`hal.loader`); `SimBoard` adds what a rehearsal needs: the phone on each FXS port
(`board.phone(1)`), the exchange behind the FXO ports (`board.office`), relays, contacts, the
panel, the paging output, the watchdog and the PCM bus, all on the board's clock.

Options of the sim driver, per section (all checked, each problem named):
    fxs, fxo   channels = [0, 1]  pcm_slots = [0, 1]  (default: the next free slots)
    dect       channels = [0]  pcm_slots = [6]  (a base per channel, a call slot each; the
               bases of a board form one cluster: shared handset table, handover)
    relay      channels = [0, 1]
    input      channels = [0, 1]  debounce_ms = 20
    paging     warmup_ms = 300
    panel      lines = 2  columns = 16
    watchdog   timeout_s = 15
    pcm        slots = 8          (the bus carries every sim port described before it)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from hal.board import (
    Board,
    BoardDescription,
    BoardEntry,
    BoardError,
    DeviceKind,
    EntryProblems,
    is_whole_number,
)
from hal.clock import Clock
from hal.device import Device
from hal.fxo import FxoPort
from hal.fxs import FxsPort
from hal.loader import DRIVERS, BoardContext, create_board
from hal.sim.audio import SimLinePort, SimPcmBus
from hal.sim.contact import SimContactInput
from hal.sim.dect import SimDectBase, SimDectCluster
from hal.sim.fxo import SimCentralOffice, SimFxoPort
from hal.sim.fxs import SimFxsPort, SimPhone
from hal.sim.paging import SimPagingOutput
from hal.sim.panel import SimPanel
from hal.sim.relay import SimRelay
from hal.sim.watchdog import SimWatchdog

log = logging.getLogger(__name__)

MAX_CHANNEL = 63
MAX_PCM_SLOTS = 64

_OPTIONS: dict[DeviceKind, tuple[str, ...]] = {
    DeviceKind.FXS: ("channels", "pcm_slots"),
    DeviceKind.FXO: ("channels", "pcm_slots"),
    DeviceKind.DECT: ("channels", "pcm_slots"),
    DeviceKind.RELAY: ("channels",),
    DeviceKind.INPUT: ("channels", "debounce_ms"),
    DeviceKind.PAGING: ("warmup_ms",),
    DeviceKind.PANEL: ("lines", "columns"),
    DeviceKind.WATCHDOG: ("timeout_s",),
    DeviceKind.PCM: ("slots",),
}
SIMULATED_KINDS = frozenset(_OPTIONS)
"""Kinds the sim driver creates devices for."""

_D = TypeVar("_D", bound=Device)


def _int_list(problems: EntryProblems, key: str, lo: int, hi: int, example: str) -> list[int]:
    value = problems.entry.options.get(key)
    if (not isinstance(value, list) or not value
            or not all(is_whole_number(v) and lo <= v <= hi for v in value)
            or len(set(value)) != len(value)):
        problems.add(key, f"must be a list of distinct numbers {lo}-{hi}, e.g. {example}")
        return []
    return list(value)


def _number(problems: EntryProblems, key: str, default: float, lo: float, hi: float,
            integer: bool = False) -> float:
    value = problems.entry.options.get(key, default)
    ok = is_whole_number(value) if integer else (is_whole_number(value) or isinstance(value, float))
    if not ok or not lo <= value <= hi:
        kind = "a whole number" if integer else "a number"
        problems.add(key, f"must be {kind} {lo:g}-{hi:g}, not {value!r}")
        return default
    return float(value)


def _audio_slots(problems: EntryProblems, channels: list[int],
                 context: BoardContext) -> list[int]:
    used = {d.audio.slot: d.name for d in context.devices
            if isinstance(d, SimFxsPort | SimFxoPort)}
    used.update((p.slot, d.name) for d in context.devices if isinstance(d, SimDectBase)
                for p in d.audio_ports)
    if "pcm_slots" not in problems.entry.options:
        free = (s for s in range(MAX_PCM_SLOTS) if s not in used)
        return [next(free) for _ in channels]
    slots = _int_list(problems, "pcm_slots", 0, MAX_PCM_SLOTS - 1, "pcm_slots = [0, 1]")
    if slots and len(slots) != len(channels):
        problems.add("pcm_slots", f"needs one slot per channel: {len(channels)} channels, "
                                  f"{len(slots)} slots")
    for slot in slots:
        if slot in used:
            problems.add("pcm_slots", f"slot {slot} already carries {used[slot]}")
    return slots


def create_devices(entry: BoardEntry, next_name: Callable[[], str],
                   context: BoardContext) -> Sequence[Device]:
    """The sim driver's factory (see `hal.loader`). Raises BoardError naming every problem."""
    problems = EntryProblems(entry, "sim")
    allowed = _OPTIONS[entry.kind]
    for key in sorted(set(entry.options) - set(allowed)):
        takes = ", ".join(f"`{k}`" for k in allowed)
        problems.add(key, f"unknown option of the sim driver; {entry.kind.value} takes "
                          f"only {takes}")
    clock = context.clock
    kind = entry.kind
    if kind is DeviceKind.PCM:
        return _create_pcm(problems, next_name, context)
    if kind is DeviceKind.PAGING:
        warmup_ms = _number(problems, "warmup_ms", 300, 0, 5000, integer=True)
        problems.raise_if_any()
        return [SimPagingOutput(next_name(), clock, int(warmup_ms))]
    if kind is DeviceKind.PANEL:
        lines = _number(problems, "lines", 2, 1, 8, integer=True)
        columns = _number(problems, "columns", 16, 8, 40, integer=True)
        problems.raise_if_any()
        return [SimPanel(next_name(), clock, int(lines), int(columns))]
    if kind is DeviceKind.WATCHDOG:
        timeout_s = _number(problems, "timeout_s", 15.0, 1.0, 600.0)
        problems.raise_if_any()
        return [SimWatchdog(next_name(), clock, timeout_s)]
    channels = _int_list(problems, "channels", 0, MAX_CHANNEL, "channels = [0, 1]")
    if kind is DeviceKind.DECT:
        slots = _audio_slots(problems, channels, context)
        problems.raise_if_any()
        cluster = next((d.cluster for d in context.devices if isinstance(d, SimDectBase)),
                       None) or SimDectCluster(clock)
        return [SimDectBase(next_name(), channel, clock, [slot], cluster)
                for channel, slot in zip(channels, slots, strict=True)]
    if kind in (DeviceKind.FXS, DeviceKind.FXO):
        slots = _audio_slots(problems, channels, context)
        problems.raise_if_any()
        port = SimFxsPort if kind is DeviceKind.FXS else SimFxoPort
        return [port(next_name(), channel, clock, slot)
                for channel, slot in zip(channels, slots, strict=True)]
    if kind is DeviceKind.INPUT:
        debounce_ms = _number(problems, "debounce_ms", 20.0, 0.0, 1000.0)
        problems.raise_if_any()
        return [SimContactInput(next_name(), c, clock, debounce_ms) for c in channels]
    problems.raise_if_any()
    if kind is DeviceKind.RELAY:
        return [SimRelay(next_name(), c, clock) for c in channels]
    log.debug("%s: %d %s channel(s) described but not simulated yet",
              entry.path, len(channels), kind.value)
    return []


def _create_pcm(problems: EntryProblems, next_name: Callable[[], str],
                context: BoardContext) -> Sequence[Device]:
    slots = 0.0
    if "slots" not in problems.entry.options:
        problems.add("slots", "missing: add `slots = 8` (time slots on the bus)")
    else:
        slots = _number(problems, "slots", 0, 1, MAX_PCM_SLOTS, integer=True)
    ports: list[SimLinePort] = []
    for device in context.devices:
        if isinstance(device, SimFxsPort | SimFxoPort):
            ports.append(device)
        elif isinstance(device, SimDectBase):
            ports.extend(device.speech_paths)  # one line side per call slot
        elif isinstance(device, FxsPort | FxoPort):
            problems.add("driver", f"the sim PCM bus carries sim ports only; {device.name} "
                                   f"is {type(device).__name__}")
    problems.raise_if_any()
    try:
        return [SimPcmBus(next_name(), int(slots), ports, context.clock)]
    except ValueError as exc:  # a port's slot outside the bus, or two ports on one slot
        reason = str(exc).split(": ", 1)[-1]
        raise BoardError("sim", [f"{problems.entry.path}.slots: {reason}"]) from exc


class SimBoard(Board):
    """A board built by the sim driver, with accessors for rehearsal and tests."""

    _office: SimCentralOffice | None = None

    @classmethod
    def from_description(cls, description: BoardDescription,
                         clock: Clock | None = None) -> SimBoard:
        """Create (not open) the simulated devices. Raises BoardError for an entry whose
        driver is not "sim" or whose options the sim driver refuses."""
        return cls.wrap(create_board(description, {"sim": DRIVERS["sim"]}, clock=clock))

    @classmethod
    def wrap(cls, board: Board) -> SimBoard:
        """The same devices, with the sim accessors (for a board from `create_board`)."""
        return cls(board.description, board.devices, board.clock)

    def _nth(self, cls: type[_D], number: int) -> _D:
        devices = self.of_type(cls)
        if not 1 <= number <= len(devices):
            raise IndexError(f"no {cls.__name__} {number}; the board has {len(devices)}")
        return devices[number - 1]

    @property
    def fxs_ports(self) -> list[SimFxsPort]:
        return self.of_type(SimFxsPort)

    def fxs(self, number: int) -> SimFxsPort:
        """FXS port `number`, counted from 1 as on the box's label. Raises IndexError."""
        return self._nth(SimFxsPort, number)

    def phone(self, number: int) -> SimPhone:
        """The phone on FXS port `number`."""
        return self.fxs(number).phone

    @property
    def fxo_ports(self) -> list[SimFxoPort]:
        return self.of_type(SimFxoPort)

    def fxo(self, number: int) -> SimFxoPort:
        return self._nth(SimFxoPort, number)

    @property
    def office(self) -> SimCentralOffice:
        """The exchange behind the FXO ports."""
        if self._office is None:
            self._office = SimCentralOffice([p.line for p in self.fxo_ports])
        return self._office

    def dect(self, number: int) -> SimDectBase:
        """DECT base `number`, counted from 1."""
        return self._nth(SimDectBase, number)

    def relay(self, number: int) -> SimRelay:
        return self._nth(SimRelay, number)

    def contact(self, number: int) -> SimContactInput:
        return self._nth(SimContactInput, number)

    @property
    def pcm(self) -> SimPcmBus:
        """The PCM bus. Raises LookupError when the description has no [[pcm]]."""
        buses = self.of_type(SimPcmBus)
        if not buses:
            raise LookupError(f"{self.description.name}: no [[pcm]] bus described")
        return buses[0]

    @property
    def paging(self) -> SimPagingOutput:
        return self._nth(SimPagingOutput, 1)

    @property
    def panel(self) -> SimPanel:
        return self._nth(SimPanel, 1)

    @property
    def watchdog(self) -> SimWatchdog:
        return self._nth(SimWatchdog, 1)

    @property
    def not_simulated(self) -> list[str]:
        """Entries described but without simulated devices yet, e.g. ["dect[0]"]."""
        return [e.path for e in self.description.entries if e.kind not in SIMULATED_KINDS]
