"""From a board description to devices: the driver registry.

The registry maps the `driver = "…"` strings of board/*.toml to "module:factory" strings and
resolves them with importlib. This is the only code that may reach `drivers`; firmware and the
rest of hal name drivers by string only, so a box without a chip's library still imports.

A factory is called once per description entry and returns that entry's devices:

    def create_devices(entry: BoardEntry, next_name: Callable[[], str],
                       context: BoardContext) -> Sequence[Device]

`next_name()` hands out the board-wide device names per kind ("fxs1", "fxs2", …) so numbering
runs on across entries of the same kind. `context` carries what every device may need from the
board as a whole: the clock, and the devices created so far (a PCM bus needs the ports whose
slots it carries; sections are created in `DeviceKind` order). A factory raises BoardError for
options it refuses.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from hal.board import Board, BoardDescription, BoardEntry, BoardError, DeviceKind
from hal.clock import Clock, MonotonicClock
from hal.device import Device

DRIVERS: Mapping[str, str] = {
    "sim": "hal.sim.board:create_devices",
    "proslic": "drivers.proslic.board:create_devices",
    "dect": "drivers.dect.base:create_devices",
    "si3050": "drivers.si3050.board:create_devices",
    "gpio": "drivers.gpio.board:create_devices",
    "alsa": "drivers.pcm.board:create_devices",
    "watchdog": "drivers.gpio.watchdog:create_devices",
}
"""Driver name → "module:factory". Chip drivers (proslic, si3050, dect) join as they land."""


@dataclass(frozen=True, slots=True)
class BoardContext:
    """What a driver factory gets besides its entry."""

    clock: Clock
    devices: tuple[Device, ...]
    """Devices already created for this board, in creation order."""


class DeviceFactory(Protocol):
    def __call__(
        self, entry: BoardEntry, next_name: Callable[[], str], context: BoardContext
    ) -> Sequence[Device]: ...


def resolve(driver: str, registry: Mapping[str, str] = DRIVERS) -> DeviceFactory:
    """The factory of `driver`. Raises LookupError naming the known drivers, ImportError when
    the driver's module or its library is missing."""
    target = registry.get(driver)
    if target is None:
        raise LookupError(f"unknown driver {driver!r}; known: {', '.join(sorted(registry))}")
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ImportError(f"driver {driver!r}: {target} is not callable")
    return cast(DeviceFactory, factory)


def create_board(
    description: BoardDescription, registry: Mapping[str, str] = DRIVERS,
    *, clock: Clock | None = None,
) -> Board:
    """Create (not yet open) the devices a description names, on `clock` (the monotonic
    clock by default). Raises BoardError with every entry whose driver is unknown, missing or
    refuses its options."""
    clock = clock if clock is not None else MonotonicClock()
    counters = {kind: itertools.count(1) for kind in DeviceKind}
    devices: list[Device] = []
    problems: list[str] = []
    for entry in description.entries:
        try:
            factory = resolve(entry.driver, registry)
        except (LookupError, ImportError) as exc:
            problems.append(f"{entry.path}.driver: {exc}")
            continue
        try:
            context = BoardContext(clock, tuple(devices))
            devices.extend(factory(entry, _namer(entry.kind, counters[entry.kind]), context))
        except BoardError as exc:
            problems.extend(exc.problems)
    if problems:
        raise BoardError(description.source, problems)
    return Board(description, devices, clock)


def _namer(kind: DeviceKind, counter: Iterator[int]) -> Callable[[], str]:
    def next_name() -> str:
        return f"{kind.value}{next(counter)}"

    return next_name
