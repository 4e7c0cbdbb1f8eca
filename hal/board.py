"""Board descriptions (board/*.toml) and the `Board` that holds a board's opened devices.

A board description is data: which driver serves each group of ports and where the chip sits
(SPI bus and chip select, GPIO, UART, ALSA device). It names drivers only by string;
`hal.loader` turns those into code.

    name = "sim"
    description = "Simulated board"

    [[fxs]]
    driver = "sim"
    channels = [0, 1, 2, 3]

Sections are `[[fxs]]`, `[[fxo]]`, `[[dect]]`, `[[relay]]`, `[[input]]`, `[[paging]]`,
`[[panel]]`, `[[watchdog]]` and `[[pcm]]`; every entry has `driver`, the other keys belong to that
driver. A board has at most one panel and one watchdog. Entries are created section by section in
that order, so a `[[pcm]]` bus is built after the ports whose slots it carries. A bad description
is refused with every problem, each naming the entry (`fxs[1].driver: missing`).
"""

from __future__ import annotations

import contextlib
import difflib
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Self, TypeVar

from hal.clock import Clock, MonotonicClock
from hal.device import Device

BOARD_DIRS: tuple[Path, ...] = (
    Path(__file__).resolve().parent.parent / "board",  # a source checkout
    Path("/usr/share/switchbox/board"),  # the image
)
"""Where `find_board` looks for `NAME.toml`, in order."""

_DRIVER_NAME = re.compile(r"[a-z][a-z0-9_]*")
_D = TypeVar("_D", bound=Device)


class DeviceKind(StrEnum):
    """The sections of a board description, one per kind of device, in creation order."""

    FXS = "fxs"
    FXO = "fxo"
    DECT = "dect"
    RELAY = "relay"
    INPUT = "input"
    PAGING = "paging"
    PANEL = "panel"
    WATCHDOG = "watchdog"
    PCM = "pcm"
    """Last: a PCM bus carries the slots of the ports created before it."""


SINGLE_KINDS = frozenset({DeviceKind.PANEL, DeviceKind.WATCHDOG})
"""Kinds a board has at most one entry of."""


class BoardError(Exception):
    """A board description that cannot be used; `problems` lists every reason."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__("\n".join(f"{source}: {p}" for p in self.problems))


class EntryProblems:
    """Collects what is wrong with one board entry, so that a driver factory reports every
    problem at once: `add("spi", "missing")` reads `fxs[0].spi: missing`."""

    def __init__(self, entry: BoardEntry, driver: str) -> None:
        self.entry = entry
        self.driver = driver
        self.items: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.items.append(f"{self.entry.path}.{key}: {message}")

    def raise_if_any(self) -> None:
        """Raises BoardError with every problem added so far, if any."""
        if self.items:
            raise BoardError(self.driver, self.items)


def is_whole_number(value: object) -> bool:
    """An integer from TOML (which `bool` is not)."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class BoardEntry:
    """One `[[fxs]]`, `[[fxo]]`, … table: a driver and its own settings.

    `index` counts entries of the same kind from 0, as in `fxs[1]`; `options` holds every
    key but `driver`, for the driver to check.
    """

    kind: DeviceKind
    index: int
    driver: str
    options: Mapping[str, Any]

    @property
    def path(self) -> str:
        """The entry as error messages name it: `fxs[1]`."""
        return f"{self.kind.value}[{self.index}]"


@dataclass(frozen=True, slots=True)
class BoardDescription:
    """A parsed board/*.toml."""

    name: str
    description: str
    source: str
    entries: tuple[BoardEntry, ...]

    def of_kind(self, kind: DeviceKind) -> tuple[BoardEntry, ...]:
        """The entries of one section, in file order."""
        return tuple(e for e in self.entries if e.kind is kind)


def parse_board(text: str, source: str = "<board>") -> BoardDescription:
    """Parse a board description. Raises BoardError listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BoardError(source, [f"TOML syntax: {exc}"]) from exc
    problems: list[str] = []
    known = ["name", "description", *(k.value for k in DeviceKind)]
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f": did you mean '{close[0]}'?" if close else f": known are {', '.join(known)}"
            problems.append(f"{key}: unknown section{hint}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        problems.append('name: missing: add `name = "…"`')
    description = data.get("description", "")
    if not isinstance(description, str):
        problems.append("description: must be text")
    entries: list[BoardEntry] = []
    for kind in DeviceKind:
        tables = data.get(kind.value, [])
        if not isinstance(tables, list):
            problems.append(f"{kind.value}: must be an array of tables: write [[{kind.value}]]")
            continue
        if kind in SINGLE_KINDS and len(tables) > 1:
            problems.append(f"{kind.value}: a board has one {kind.value}, "
                            f"not {len(tables)} [[{kind.value}]] entries")
        for index, table in enumerate(tables):
            path = f"{kind.value}[{index}]"
            if not isinstance(table, dict):
                problems.append(f"{path}: must be a table: write [[{kind.value}]]")
                continue
            driver = table.get("driver")
            if driver is None:
                problems.append(f'{path}.driver: missing: add `driver = "sim"` or the chip')
                continue
            if not isinstance(driver, str) or not _DRIVER_NAME.fullmatch(driver):
                problems.append(f"{path}.driver: must be a driver name such as \"sim\", "
                                f"not {driver!r}")
                continue
            options = {k: v for k, v in table.items() if k != "driver"}
            entries.append(BoardEntry(kind, index, driver, MappingProxyType(options)))
    if problems or not isinstance(name, str) or not isinstance(description, str):
        raise BoardError(source, problems)
    return BoardDescription(name, description, source, tuple(entries))


def load_board(path: Path) -> BoardDescription:
    """Read and parse a board description file. Raises BoardError (also when unreadable)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BoardError(str(path), [f"cannot read: {exc}"]) from exc
    return parse_board(text, str(path))


def find_board(name: str, search_dirs: Sequence[Path] = BOARD_DIRS) -> Path:
    """The file for `--board NAME`: a path when NAME looks like one, else NAME.toml in
    `search_dirs`. Raises BoardError naming the boards that exist."""
    if "/" in name or name.endswith(".toml"):
        return Path(name)
    for directory in search_dirs:
        candidate = directory / f"{name}.toml"
        if candidate.is_file():
            return candidate
    available = sorted({p.stem for d in search_dirs if d.is_dir() for p in d.glob("*.toml")})
    raise BoardError(name, [f"no such board; available: {', '.join(available) or 'none'}"])


class Board:
    """The opened devices of one board; `async with board:` opens them all, closes them all.

    Devices open in description order and close in reverse; if one fails to open, those
    already open are closed before the error propagates.
    """

    def __init__(self, description: BoardDescription, devices: Sequence[Device],
                 clock: Clock | None = None) -> None:
        self.description = description
        self.devices: tuple[Device, ...] = tuple(devices)
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        """The clock the devices were built with."""
        self._stack = contextlib.AsyncExitStack()

    def of_type(self, cls: type[_D]) -> list[_D]:
        """The devices that are instances of `cls`, in description order."""
        return [d for d in self.devices if isinstance(d, cls)]

    def device(self, name: str) -> Device:
        """The device called `name` ("fxs1"). Raises KeyError."""
        for d in self.devices:
            if d.name == name:
                return d
        raise KeyError(name)

    async def open(self) -> None:
        """Open every device. Raises `hal.errors.DeviceError` after closing what opened."""
        async with contextlib.AsyncExitStack() as stack:
            for d in self.devices:
                await stack.enter_async_context(d)
            self._stack = stack.pop_all()

    async def close(self) -> None:
        """Close every device (idempotent)."""
        await self._stack.aclose()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
