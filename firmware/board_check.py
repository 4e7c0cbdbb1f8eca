"""`switchbox board check`: build a board's devices, open each, ask it what it is, report.

For every entry of the board description the check resolves the driver and creates the
devices (a driver that is not installed, or options it refuses, are reported for that entry
and the others go on), then opens each device on its own — not through `Board.open()`, which
gives up on the whole board at the first failure — so one dead chip is one line of the report.
An opened device reports its hal-level state (linefeed and hook of an FXS port, loop current
and polarity of an FXO line, relay and contact state, PCM channel map) and, when its driver
implements it, what `probe()` reads from the hardware (chip identity and revision, battery and
line voltages, loop state). Every device is closed again before the check returns.

`probe()` is duck-typed until `hal.device.Device` declares it: sync or async, returning a
mapping of facts, a dataclass (flattened), or None. It may raise `hal.errors.DeviceError`
(reported as the chip not answering) or RuntimeError (not identified yet).

Each open and probe is bounded by `step_timeout_s` (default 10 s): a driver that hangs is
reported, not waited for. The check never raises for hardware faults; it raises BoardError
only for a description it cannot read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import inspect
import itertools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hal.audio import PcmBus
from hal.board import BoardDescription, BoardEntry, BoardError, DeviceKind
from hal.clock import Clock, MonotonicClock
from hal.contact import ContactInput
from hal.dect import DectBase
from hal.device import Device
from hal.errors import DeviceError
from hal.fxo import FxoPort
from hal.fxs import FxsPort
from hal.loader import BoardContext, DeviceFactory, resolve
from hal.paging import PagingOutput
from hal.panel import Panel
from hal.relay import Relay
from hal.watchdog import HardwareWatchdog

log = logging.getLogger(__name__)

DEFAULT_STEP_TIMEOUT_S = 10.0

Resolver = Callable[[str], DeviceFactory]
"""Driver name → factory; raises LookupError (unknown) or ImportError (not installed)."""


class CheckState(StrEnum):
    """How a device (or an entry without devices) came out of the check."""

    IN_SERVICE = "in service"
    OUT_OF_SERVICE = "OUT OF SERVICE"
    NOT_RESPONDING = "NOT RESPONDING"
    NOT_CREATED = "NOT CREATED"
    NO_DEVICE = "no device"
    """The driver accepted the entry but made no device for it (e.g. not simulated)."""


_PROBLEMS = frozenset({CheckState.OUT_OF_SERVICE, CheckState.NOT_RESPONDING,
                       CheckState.NOT_CREATED})


@dataclass(frozen=True, slots=True)
class DeviceReport:
    """One line of the report: a device, or an entry that produced none."""

    name: str
    """The device's name ("fxs1"), or the entry's path ("fxs[0]") when no device exists."""
    kind: DeviceKind
    driver: str
    state: CheckState
    reason: str | None = None
    facts: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return self.state not in _PROBLEMS


@dataclass(frozen=True, slots=True)
class BoardReport:
    """The outcome of a check: every device in description order."""

    board: str
    description: str
    source: str
    devices: tuple[DeviceReport, ...]

    @property
    def ok(self) -> bool:
        """Every described device was created, opened and is in service."""
        return all(d.ok for d in self.devices)

    @property
    def problems(self) -> tuple[DeviceReport, ...]:
        return tuple(d for d in self.devices if not d.ok)


def default_resolver(driver: str) -> DeviceFactory:
    """The loader's registry (`hal.loader.DRIVERS`)."""
    return resolve(driver)


async def check_board(description: BoardDescription, *, resolver: Resolver = default_resolver,
                      clock: Clock | None = None,
                      step_timeout_s: float = DEFAULT_STEP_TIMEOUT_S) -> BoardReport:
    """Create, open, describe and close every device of `description`; see the module doc."""
    clock = clock if clock is not None else MonotonicClock()
    counters = {kind: itertools.count(1) for kind in DeviceKind}
    created: list[Device] = []
    reports: list[DeviceReport] = []
    try:
        for entry in description.entries:
            devices, failure = _create(entry, resolver, counters, clock, created)
            if failure is not None:
                reports.append(failure)
                continue
            created += devices
            for device in devices:
                reports.append(await _check(device, entry, step_timeout_s))
    finally:
        for device in reversed(created):
            await _close(device, step_timeout_s)
    return BoardReport(description.name, description.description, description.source,
                       tuple(reports))


def _create(entry: BoardEntry, resolver: Resolver, counters: Mapping[DeviceKind,
            Iterable[int]], clock: Clock, created: Sequence[Device]
            ) -> tuple[list[Device], DeviceReport | None]:
    try:
        factory = resolver(entry.driver)
    except (LookupError, ImportError) as exc:
        return [], DeviceReport(entry.path, entry.kind, entry.driver, CheckState.NOT_CREATED,
                                f"driver not available: {exc}")
    counter = iter(counters[entry.kind])

    def next_name() -> str:
        return f"{entry.kind.value}{next(counter)}"

    try:
        devices = list(factory(entry, next_name, BoardContext(clock, tuple(created))))
    except BoardError as exc:
        return [], DeviceReport(entry.path, entry.kind, entry.driver, CheckState.NOT_CREATED,
                                "; ".join(exc.problems))
    except (ImportError, OSError) as exc:  # a driver that reached for its library too early
        return [], DeviceReport(entry.path, entry.kind, entry.driver, CheckState.NOT_CREATED,
                                f"{type(exc).__name__}: {exc}")
    if not devices:
        return [], DeviceReport(entry.path, entry.kind, entry.driver, CheckState.NO_DEVICE,
                                "the driver made no device for this entry")
    return devices, None


async def _check(device: Device, entry: BoardEntry, timeout_s: float) -> DeviceReport:
    def report(state: CheckState, reason: str | None,
               facts: Sequence[tuple[str, str]] = ()) -> DeviceReport:
        return DeviceReport(device.name, entry.kind, entry.driver, state, reason, tuple(facts))

    try:
        async with asyncio.timeout(timeout_s):
            await device.open()
    except DeviceError as exc:
        return report(CheckState.NOT_RESPONDING, exc.reason)
    except TimeoutError:
        return report(CheckState.NOT_RESPONDING, f"did not open within {timeout_s:g} s")
    except (OSError, ImportError) as exc:  # a driver that let a library error through
        return report(CheckState.NOT_RESPONDING, f"{type(exc).__name__}: {exc}")
    if not device.status.in_service:
        return report(CheckState.OUT_OF_SERVICE, device.status.reason)
    facts = interface_facts(device)
    try:
        known = {label for label, _ in facts}
        facts += [f for f in await _probe(device, timeout_s) if f[0] not in known]
    except DeviceError as exc:
        return report(CheckState.NOT_RESPONDING, exc.reason, facts)
    except TimeoutError:
        return report(CheckState.NOT_RESPONDING, f"probe took over {timeout_s:g} s", facts)
    except RuntimeError as exc:
        return report(CheckState.OUT_OF_SERVICE, str(exc), facts)
    if not device.status.in_service:  # the probe found it dead
        return report(CheckState.OUT_OF_SERVICE, device.status.reason, facts)
    return report(CheckState.IN_SERVICE, None, facts)


async def _probe(device: Device, timeout_s: float) -> list[tuple[str, str]]:
    probe = getattr(device, "probe", None)
    if not callable(probe):
        return []
    async with asyncio.timeout(timeout_s):
        result = probe()
        if inspect.isawaitable(result):
            result = await result
    return probe_facts(result)


async def _close(device: Device, timeout_s: float) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            await device.close()
    except (DeviceError, OSError, TimeoutError) as exc:
        log.warning("%s: did not close cleanly: %s", device.name, exc)


def probe_facts(result: Any) -> list[tuple[str, str]]:
    """A probe's result as (label, text) pairs: a mapping as is, a dataclass by its fields
    (nested dataclasses flattened as "identity part"), anything else as one "probe" fact."""
    if result is None:
        return []
    if isinstance(result, Mapping):
        return [(str(k), _text(v)) for k, v in result.items()]
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        facts: list[tuple[str, str]] = []
        for field in dataclasses.fields(result):
            value = getattr(result, field.name)
            label = field.name.replace("_", " ")
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                facts += [(f"{label} {sub}", text) for sub, text in probe_facts(value)]
            else:
                facts.append((label, _text(value)))
        return facts
    return [("probe", _text(result))]


def _text(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return str(value.name).lower()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def interface_facts(device: Device) -> list[tuple[str, str]]:
    """What the hal interface of an open device says about it (no driver specifics)."""
    facts: list[tuple[str, str]] = []

    def add(label: str, read: Callable[[], object]) -> None:
        try:
            facts.append((label, _text(read())))
        except (DeviceError, RuntimeError, KeyError) as exc:
            facts.append((label, f"unreadable: {exc}"))

    if isinstance(device, FxsPort):
        add("pcm slot", lambda: device.audio.slot)
        add("linefeed", lambda: device.linefeed.value)
        add("loop", lambda: "off-hook" if device.off_hook else "on-hook")
    elif isinstance(device, FxoPort):
        add("pcm slot", lambda: device.audio.slot)
        add("loop current mA", lambda: device.loop_current_ma)
        add("polarity reversed", lambda: device.polarity_reversed)
        add("line in use", lambda: device.line_in_use)
    elif isinstance(device, DectBase):
        add("pcm slots", lambda: ", ".join(str(p.slot) for p in device.audio_ports))
        add("handsets", lambda: len(device.handsets()))
    elif isinstance(device, Relay):
        add("state", lambda: "on" if device.is_on else "off")
    elif isinstance(device, ContactInput):
        add("contact", lambda: "closed" if device.is_pressed else "open")
        add("debounce ms", lambda: device.debounce_ms)
    elif isinstance(device, PagingOutput):
        add("warm-up ms", lambda: device.warmup_ms)
    elif isinstance(device, Panel):
        add("display", lambda: f"{device.lines}×{device.columns}" if device.lines else "none")
    elif isinstance(device, HardwareWatchdog):
        add("timeout s", lambda: device.timeout_s)
        add("armed", lambda: device.running)
    elif isinstance(device, PcmBus):
        add("slots", lambda: device.slots)
        add("ports", lambda: ", ".join(f"{p.device}={p.slot}" for p in sorted(
            device.ports.values(), key=lambda p: p.slot)) or "none")
    return facts


def format_report(report: BoardReport) -> str:
    """The console report: one line per device, its facts indented under it, a summary."""
    lines = [f"Board {report.board} ({report.source})"]
    if report.description:
        lines.append(f"  {report.description}")
    lines.append("")
    name_width = max((len(d.name) for d in report.devices), default=4)
    driver_width = max((len(d.driver) for d in report.devices), default=4)
    for device in report.devices:
        head = f"  {device.name:<{name_width}}  {device.driver:<{driver_width}}  {device.state}"
        if device.reason:
            head += f": {device.reason}"
        lines.append(head)
        label_width = max((len(label) for label, _ in device.facts), default=0)
        for label, text in device.facts:
            lines.append(f"  {'':<{name_width}}    {label:<{label_width}}  {text}")
    in_service = sum(d.state is CheckState.IN_SERVICE for d in report.devices)
    made = sum(d.state not in (CheckState.NOT_CREATED, CheckState.NO_DEVICE)
               for d in report.devices)
    lines.append("")
    summary = f"{in_service} of {made} devices in service"
    missing = [d.name for d in report.devices if d.state is CheckState.NOT_CREATED]
    if missing:
        summary += f"; not created: {', '.join(missing)}"
    lines.append(summary + ("" if report.ok else " — PROBLEMS above"))
    return "\n".join(lines) + "\n"
