"""`switchbox line learn PORT`: run the line wizard on a board and write `lines/<port>.yaml`.

On a real board the wizard opens the board's devices (stop the service first, as for
`switchbox board check`), prints what the installer must do, and watches the line on the
monotonic clock. On the simulated board there is nobody to call the line, so `--simulate KIND`
rehearses an exchange of that kind (`firmware.linewizard.rehearsal.EXCHANGES`) with a
simulated installer, on simulated time: the run takes about a second.

Exit codes (sysexits(3), as the rest of the CLI): 0 learnt and written, 1 the wizard could not
learn the line (the message says why: no call came, the line went dead, a chip failed), 64 bad
usage (unknown port or kind, --simulate on a real board), 74 the data directory is unusable,
78 the board description cannot be read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeVar

import yaml

from firmware.config.errors import ConfigError
from firmware.config.schema import CallerIdMethod, DisconnectMethod, FxoLineSettings
from firmware.config.store import ConfigStore, NoActiveRevision
from firmware.config.validate import config_to_data
from firmware.linewizard.profile import (
    LineProfile,
    write_profile,
)
from firmware.linewizard.rehearsal import EXCHANGES, build_rehearsal, rehearse
from firmware.linewizard.wizard import (
    ConsoleInstaller,
    LineWizardError,
    WizardOptions,
    learn_line,
)
from firmware.media.dsp.callerid import CidTiming
from hal.audio import PcmBus
from hal.board import BoardDescription, BoardError, DeviceKind, find_board, load_board
from hal.errors import DeviceError
from hal.fxo import FxoPort
from hal.loader import create_board
from hal.sim.clock import ManualClock
from hal.sim.fxo import SimFxoPort

_P = TypeVar("_P", bound=FxoPort)

EX_OK = 0
EX_FAILED = 1
EX_USAGE = 64
EX_IOERR = 74
EX_CONFIG = 78


@dataclass(frozen=True, slots=True)
class LearnRequest:
    """What `switchbox line learn` was asked to do."""

    port: str
    data_dir: Path
    board: str = "sim"
    calls: int = 2
    caller: str | None = None
    ring_timeout_s: float = 120.0
    simulate: str | None = None


class _UsageError(Exception):
    """The request cannot be carried out as given; the message says what to change."""


def port_name(text: str) -> str:
    """"1" → "fxo1"; names pass unchanged."""
    return f"fxo{text}" if text.isdigit() else text


def learn(request: LearnRequest, out: TextIO, err: TextIO) -> int:
    """Run the command; returns the exit code. Messages for the installer go to `out`,
    problems to `err`."""
    try:
        description = load_board(find_board(request.board))
    except BoardError as exc:
        err.write(f"{exc}\n")
        return EX_CONFIG
    try:
        options = WizardOptions(calls=request.calls, ring_timeout_s=request.ring_timeout_s,
                                caller_number=request.caller)
    except ValueError as exc:
        err.write(f"switchbox line learn: {exc}\n")
        return EX_USAGE
    try:
        profile = asyncio.run(_learn(description, request, options, out))
    except _UsageError as exc:
        err.write(f"switchbox line learn: {exc}\n")
        return EX_USAGE
    except BoardError as exc:
        err.write(f"{exc}\n")
        return EX_CONFIG
    except (LineWizardError, DeviceError) as exc:
        err.write(f"{port_name(request.port)}: {exc}\n")
        return EX_FAILED
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    profile = dataclasses.replace(profile, learnt_at=stamp)
    try:
        path = write_profile(request.data_dir, profile)
    except OSError as exc:
        err.write(f"{request.data_dir}: cannot write the line profile: {exc}\n")
        return EX_IOERR
    out.write(format_summary(profile))
    out.write(f"Evidence written to {path}\n")
    try:
        number = store_in_config(request.data_dir, profile.settings)
    except ConfigError as exc:
        err.write(f"the learnt settings do not fit the configuration:\n{exc}\n")
        return EX_CONFIG
    except OSError as exc:
        err.write(f"{request.data_dir}: cannot store the configuration: {exc}\n")
        return EX_IOERR
    if number is None:
        out.write("No configuration in this data directory yet: start the service once, "
                  "then learn the line again to store its settings.\n")
    else:
        out.write(f"Configuration revision {number} is active with these settings for "
                  f"{profile.settings.port}; the service uses them from its next start.\n")
    return EX_OK


def store_in_config(data_dir: Path, settings: FxoLineSettings) -> int | None:
    """Make `settings` its port's entry of `fxo_lines` in a new active configuration revision
    (the port's earlier entry, if any, is replaced). Returns the revision number, or None when
    the data directory holds no configuration yet. Raises ConfigError, OSError."""
    store = ConfigStore(data_dir)
    try:
        _, config = store.current()
    except NoActiveRevision:
        return None
    lines = [line for line in config.fxo_lines if line.port != settings.port] + [settings]
    lines.sort(key=lambda line: int(line.port.removeprefix("fxo")))
    data = config_to_data(dataclasses.replace(config, fxo_lines=tuple(lines)),
                          omit_defaults=True)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    revision, _ = store.apply_text(text, f"switchbox line learn {settings.port}")
    return revision.number


async def _learn(description: BoardDescription, request: LearnRequest, options: WizardOptions,
                 out: TextIO) -> LineProfile:
    name = port_name(request.port)
    entries = description.of_kind(DeviceKind.FXO)
    simulated = bool(entries) and all(e.driver == "sim" for e in entries)
    if request.simulate is not None:
        if not simulated:
            raise _UsageError(f"--simulate needs a simulated board; {description.name} has "
                              f"real FXO ports")
        if request.simulate not in EXCHANGES:
            raise _UsageError(f"no simulated exchange {request.simulate!r}; kinds: "
                              f"{', '.join(EXCHANGES)}")
        return await _rehearse(description, name, request.simulate, options, out)
    if simulated:
        raise _UsageError("nobody can call a simulated line: add --simulate KIND to rehearse "
                          f"one of {', '.join(EXCHANGES)}")
    board = create_board(description)
    async with board:
        port = _find([d for d in board.devices if isinstance(d, FxoPort)], name)
        buses = [d for d in board.devices if isinstance(d, PcmBus)]
        if not buses:
            raise _UsageError(f"{description.name} has no PCM bus to carry {name}'s audio")
        out.write(f"Learning the line on {name}. Keep a mobile phone at hand.\n")
        return await learn_line(port, buses[0], board.clock, ConsoleInstaller(out), options)


async def _rehearse(description: BoardDescription, name: str, kind: str,
                    options: WizardOptions, out: TextIO) -> LineProfile:
    board = create_board(description, clock=ManualClock())  # only to find the port's wiring
    port = _find(board.of_type(SimFxoPort), name)
    buses = [d for d in board.devices if isinstance(d, PcmBus)]
    slots = buses[0].slots if buses else port.audio.slot + 1
    exchange = EXCHANGES[kind]
    out.write(f"Rehearsing {name} on a simulated exchange, {kind}: {exchange.description}.\n")
    rehearsal = build_rehearsal(exchange, port_name=name, channel=port.channel,
                                slot=port.audio.slot, slots=slots, out=out)
    if options.caller_number is None:
        options = dataclasses.replace(options, caller_number=rehearsal.installer.number)
    return await rehearse(rehearsal, options)


def _find(ports: Sequence[_P], name: str) -> _P:
    for port in ports:
        if port.name == name:
            return port
    names = ", ".join(p.name for p in ports) or "none"
    raise _UsageError(f"no FXO port {name!r} on this board; FXO ports: {names}")


_TIMING_TEXT = {
    CidTiming.AFTER_FIRST_RING: "after the first ring",
    CidTiming.BEFORE_RING_REVERSAL: "before ringing, after a line reversal",
    CidTiming.BEFORE_RING_DT_AS: "before ringing, after a line reversal and DT-AS",
    CidTiming.BEFORE_RING_RP_AS: "before ringing, after a short ring pulse",
}
_METHOD_TEXT = {
    CallerIdMethod.NONE: "none",
    CallerIdMethod.BELL_202: "Bell 202 FSK",
    CallerIdMethod.V23: "V.23 FSK",
    CallerIdMethod.DTMF: "DTMF",
    CallerIdMethod.AON: "Russian AON (after answering)",
}


def format_summary(profile: LineProfile) -> str:
    """What was learnt, for the terminal."""
    s = profile.settings
    lines = [f"{profile.port}: learnt from {profile.calls} test call(s), "
             f"{profile.answered_calls} answered"]
    ring = profile.ring
    if ring.cadence_ms:
        known = f" ({', '.join(ring.matches)})" if ring.matches else ""
        lines.append(f"  ringing        {'/'.join(map(str, ring.cadence_ms))} ms{known}, "
                     f"{ring.calls_agreeing} of {ring.calls} calls")
    else:
        lines.append("  ringing        irregular: any cadence accepted")
    cid = _METHOD_TEXT[s.caller_id]
    if s.caller_id_timing is not None:
        cid += f", {_TIMING_TEXT[CidTiming(s.caller_id_timing)]}"
    if profile.caller_id.numbers:
        cid += f"; heard {', '.join(sorted(set(profile.caller_id.numbers)))}"
        if profile.caller_id.number_matches is not None:
            cid += " (matches)" if profile.caller_id.number_matches else " (DOES NOT MATCH)"
    lines.append(f"  caller ID      {cid}")
    d = profile.disconnect
    end = str(s.disconnect).replace("_", " ")
    if d.detect_ms is not None and s.disconnect is not DisconnectMethod.NONE:
        end += f", certain {d.detect_ms} ms after the hang-up"
    if d.loop_drop_ms is not None:
        end += f" (loop current off for {d.loop_drop_ms} ms)"
    lines.append(f"  disconnect     {end}")
    if d.busy_tone is not None:
        tone = d.busy_tone
        plans = f", as plan {', '.join(d.plans_matching)}" if d.plans_matching else ""
        lines.append(f"  busy tone      {'+'.join(f'{f:g}' for f in tone.frequencies_hz)} Hz "
                     f"{tone.cadence_ms[0]}/{tone.cadence_ms[1]} ms at {tone.level_dbm0:g} dBm0"
                     f"{plans}")
    if profile.echo is not None:
        e = profile.echo
        where = (f"with termination {s.ac_termination} ({len(e.by_termination)} tried)"
                 if e.adjustable else "(termination not adjustable on this port)")
        at_least = "≥ " if e.erl_db >= e.limit_db else ""
        lines.append(f"  echo           ERL {at_least}{e.erl_db:g} dB {where}; transmit gain "
                     f"{s.tx_gain_db:g} dB")
    if profile.dial_tone is not None:
        t = profile.dial_tone
        lines.append(f"  dial tone      {'+'.join(f'{f:g}' for f in t.frequencies_hz)} Hz at "
                     f"{t.level_dbm0:g} dBm0")
    lines += [f"  note: {n}" for n in profile.notes]
    return "\n".join(lines) + "\n"
