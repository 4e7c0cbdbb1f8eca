"""What the line wizard learnt about one exchange line, and its file `lines/<port>.yaml`.

A `LineProfile` has two parts:
- `settings` (`FxoLineSettings`): what the FXO port should be configured with — ring cadence,
  caller-ID method and timing, disconnect signal, busy tone, AC termination, transmit gain.
  Each field is declared as the configuration schema declares settings
  (`firmware.config.schema.setting`: meaning, unit, bounds), so the section can move into
  `Config` unchanged once the schema has FXO lines;
- the evidence: what was measured on each test call, how many calls agreed, and notes for the
  installer where the line did something unexpected.

The file is YAML, written with temp file + fsync + rename + directory fsync
(`firmware.config.durable`), so a power cut leaves the old profile or the new one. Reading it
back (`load_profile`) checks every type and enum value and names the offending key.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from firmware.config.durable import fsync_directory, write_atomic
from firmware.config.schema import (
    DisconnectMethod,
    FxoLineSettings,
)

LINES_DIR = "lines"
"""Where profiles live inside the data directory."""
FILE_MODE = 0o644
"""Not secret: the web page and support bundles read it."""
MAX_FILE_BYTES = 64 * 1024
"""A profile is about 2 KiB; anything much larger is not one."""


@dataclass(frozen=True, slots=True)
class ToneMeasurement:
    """A tone heard on the line: its frequencies and level per frequency."""

    frequencies_hz: tuple[float, ...]
    level_dbm0: float


@dataclass(frozen=True, slots=True)
class BusyTone:
    """A cadenced tone: frequencies, on/off times, level per frequency."""

    frequencies_hz: tuple[float, ...]
    cadence_ms: tuple[int, int]
    level_dbm0: float


@dataclass(frozen=True, slots=True)
class RingEvidence:
    """Ringing as measured."""

    cadence_ms: tuple[int, ...]
    """Agreed cadence, longest pause last; empty when no call rang regularly."""
    matches: tuple[str, ...]
    """Country cadences of `hal.linesignal.RING_CADENCES` it matches (±20 %)."""
    first_burst_ms: tuple[int, ...]
    """The first burst of each call (often cut short by the exchange; an RP-AS alert)."""
    calls_agreeing: int
    calls: int


@dataclass(frozen=True, slots=True)
class CallerIdEvidence:
    """Caller ID as received."""

    decoded_calls: int
    """Calls whose on-hook caller ID decoded (valid checksum, known message)."""
    aon_calls: int
    """Answered calls on which the exchange answered the AON request."""
    calls: int
    numbers: tuple[str, ...]
    """Numbers decoded (on hook, then AON), "private"/"unavailable" when withheld."""
    number_matches: bool | None
    """The decoded number ends like the number the installer called from (None: not given
    or nothing decoded)."""
    rejected_frames: int
    """Caller-ID frames heard but refused (bad checksum): a noisy line."""


@dataclass(frozen=True, slots=True)
class DisconnectEvidence:
    """The disconnect signal as observed on each answered call."""

    first_signals: tuple[DisconnectMethod, ...]
    """Per answered call, the signal the box could act on first."""
    detect_ms: int | None
    """From the far end's hang-up (the first sign of it) to the signal being certain:
    0 for an electrical signal, two tone cycles for busy tone."""
    loop_drop_ms: int | None
    """How long the loop current stayed off (None: it did not drop, or did not return)."""
    busy_tone: BusyTone | None
    busy_detect_ms: int | None
    """How long the box's progress detector, configured with `busy_tone`, takes from the
    tone's start to report busy."""
    plans_matching: tuple[str, ...]
    """Shipped country tone plans whose busy or congestion tone the detector reports."""


@dataclass(frozen=True, slots=True)
class EchoEvidence:
    """Echo return loss of the line's hybrid, per termination tried."""

    erl_db: float
    """At the chosen termination: the echo's loss averaged over 300–3400 Hz."""
    limit_db: float
    """The most the measurement could tell above the line's noise: `erl_db` equal to it means
    "at least"."""
    by_termination: tuple[tuple[str, float], ...]
    """(termination, ERL dB) in the order tried; "current" when the port cannot switch."""
    adjustable: bool
    """The port could change its AC termination."""
    delay_ms: float
    """Where the echo peaks after what was sent (PCM bus and codec latency)."""


@dataclass(frozen=True, slots=True)
class LineProfile:
    """Everything learnt about the line on `port` in `calls` test calls."""

    port: str
    settings: FxoLineSettings
    ring: RingEvidence
    caller_id: CallerIdEvidence
    disconnect: DisconnectEvidence
    echo: EchoEvidence | None
    dial_tone: ToneMeasurement | None
    calls: int
    answered_calls: int
    notes: tuple[str, ...] = ()
    """What the installer should know: disagreements between calls, unusual findings."""
    learnt_at: str = ""
    """Wall-clock time of the run (ISO 8601), for the record only."""


# --- data (YAML) -----------------------------------------------------------------------------


def profile_to_data(profile: LineProfile) -> dict[str, Any]:
    """`profile` as plain data: mappings, lists, strings, numbers, None."""
    data: dict[str, Any] = _to_data(profile)
    return data


def profile_from_data(data: Any) -> LineProfile:
    """The profile in `data` (from `profile_to_data` or the YAML file). Raises ValueError
    naming the first key that is missing, unknown or of the wrong type."""
    return typing.cast(LineProfile, _from_data(LineProfile, data, ""))


def dump_profile(profile: LineProfile) -> str:
    """The YAML text of `profile`, with a header saying what wrote it."""
    header = (f"# Learnt by `switchbox line learn {profile.port}` in {profile.calls} test "
              f"call(s).\n# `settings` is what the port should be configured with; the rest "
              f"is the evidence.\n")
    body = yaml.safe_dump(profile_to_data(profile), sort_keys=False, allow_unicode=True,
                          default_flow_style=None, width=100)
    return header + body


def load_profile(path: Path) -> LineProfile:
    """Read a profile file. Raises OSError, or ValueError for anything that is not one."""
    with path.open("rb") as file:
        raw = file.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"{path}: larger than {MAX_FILE_BYTES} bytes, not a line profile")
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not YAML: {exc}") from exc
    try:
        return profile_from_data(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def profile_path(data_dir: Path, port: str) -> Path:
    """`<data_dir>/lines/<port>.yaml`."""
    return data_dir / LINES_DIR / f"{port}.yaml"


def write_profile(data_dir: Path, profile: LineProfile) -> Path:
    """Write `profile` durably to `profile_path(data_dir, profile.port)`, creating the
    directories; returns the path. Raises OSError."""
    path = profile_path(data_dir, profile.port)
    created = not path.parent.is_dir()
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    if created:
        fsync_directory(path.parent.parent)
    write_atomic(path, dump_profile(profile).encode("utf-8"), FILE_MODE)
    return path


def _to_data(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_to_data(v) for v in value]
    return value


def _from_data(kind: Any, value: Any, path: str) -> Any:
    """`value` as an instance of the annotation `kind`; `path` names it in errors."""
    where = path or "the profile"
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        (inner,) = [o for o in options if o is not type(None)]
        return _from_data(inner, value, path)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: must be a mapping")
        hints = typing.get_type_hints(kind)
        names = {f.name for f in dataclasses.fields(kind)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ValueError(f"{path + '.' if path else ''}{unknown[0]}: unknown key")
        args = {}
        for f in dataclasses.fields(kind):
            sub = f"{path}.{f.name}" if path else f.name
            if f.name not in value:
                if (f.default is dataclasses.MISSING
                        and f.default_factory is dataclasses.MISSING):
                    raise ValueError(f"{sub}: missing")
                continue
            args[f.name] = _from_data(hints[f.name], value[f.name], sub)
        return kind(**args)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in kind)
            raise ValueError(f"{where}: {value!r} is not one of {allowed}") from None
    if origin is tuple:
        if not isinstance(value, list):
            raise ValueError(f"{where}: must be a list")
        args_ = typing.get_args(kind)
        if len(args_) == 2 and args_[1] is Ellipsis:
            return tuple(_from_data(args_[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args_):
            raise ValueError(f"{where}: must have {len(args_)} items")
        return tuple(_from_data(a, v, f"{path}[{i}]")
                     for i, (a, v) in enumerate(zip(args_, value, strict=True)))
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: must be a number")
        return float(value)
    if kind in (int, str, bool):
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"{where}: must be {kind.__name__}")
        return value
    raise TypeError(f"{where}: cannot read annotation {kind!r}")
