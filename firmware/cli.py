"""The `switchbox` command line: argument parsing and the subcommands.

    switchbox run [--config FILE] [--data DIR] [--sip-port N] [--sip-listen ADDR]
                  [--board NAME] [--log-level LEVEL] [--loop {uvloop,asyncio}] [--console]
    switchbox check-config FILE
    switchbox credentials [--data DIR]
    switchbox board check [--board NAME] [--log-level LEVEL]
    switchbox line learn PORT [--board NAME] [--data DIR] [--calls N] [--caller NUMBER]
                              [--ring-timeout S] [--simulate KIND] [--log-level LEVEL]
    switchbox report {calls,employees,departments,trunks,hourly,missed} [--from DATE]
                     [--to DATE] [--csv FILE] [--data DIR]

`run` prepares the data directory and the configuration (imports --config, generates the
default office on the first start and prints its credentials once), then hands over to
`firmware.app.run(options)`, imported only then so that `check-config` starts fast and works
without the runtime's dependencies.

Exit codes follow sysexits(3): 64 bad usage, 74 data directory unusable, 78 no valid
configuration (the unit file tells systemd not to restart on 78: a restart cannot fix it).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TextIO

from firmware.config.errors import ConfigError
from firmware.config.schema import Config
from firmware.config.store import ConfigStore, Credential, NoActiveRevision, credentials_of
from firmware.config.validate import config_to_data, load_config, validate_data
from firmware.service.logging import LEVELS, setup_logging

log = logging.getLogger(__name__)

EX_OK = 0
EX_FAILED = 1
EX_USAGE = 64
EX_IOERR = 74
EX_CONFIG = 78


class Loop(StrEnum):
    """Event loop implementation."""

    UVLOOP = "uvloop"
    ASYNCIO = "asyncio"


def default_loop() -> Loop:
    """uvloop when installed (it is on the appliance), else the standard loop."""
    return Loop.UVLOOP if importlib.util.find_spec("uvloop") is not None else Loop.ASYNCIO


def default_data_dir(environ: Mapping[str, str] | None = None, euid: int | None = None) -> Path:
    """/var/lib/switchbox for root; else $XDG_DATA_HOME/switchbox or ~/.local/share/switchbox."""
    env = os.environ if environ is None else environ
    uid = os.geteuid() if euid is None else euid
    if uid == 0:
        return Path("/var/lib/switchbox")
    xdg = env.get("XDG_DATA_HOME")
    if xdg and Path(xdg).is_absolute():  # XDG spec: relative values are to be ignored
        return Path(xdg) / "switchbox"
    home = env.get("HOME")
    base = Path(home) if home else Path.home()
    return base / ".local" / "share" / "switchbox"


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What `switchbox run` was asked to do.

    By the time `firmware.app.run` receives this, the CLI has already imported `config_path`
    into the store and made sure a valid revision is active: the app opens
    `ConfigStore(data_dir)` and calls `current()`. `sip_port` and `sip_listen` are None unless
    given on the command line; `apply_to` lays them over each configuration revision.
    """

    data_dir: Path
    config_path: Path | None = None
    sip_port: int | None = None
    sip_listen: str | None = None
    board: str = "sim"
    log_level: str = "info"
    loop: Loop = Loop.ASYNCIO
    console: bool = False
    """Drive the simulated board from stdin (see firmware/simulation.py)."""

    def apply_to(self, config: Config) -> Config:
        """`config` with the command-line SIP overrides. Raises ConfigError when the result is
        invalid (e.g. --sip-port inside sip.rtp_ports)."""
        if self.sip_port is None and self.sip_listen is None:
            return config
        sip = config.sip
        if self.sip_port is not None:
            sip = dataclasses.replace(sip, port=self.sip_port)
        if self.sip_listen is not None:
            sip = dataclasses.replace(sip, listen=self.sip_listen)
        # Re-validate: the overrides go through the same bounds and rules as the file.
        return validate_data(config_to_data(dataclasses.replace(config, sip=sip)))


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `switchbox` (exposed for the tests and shell completion)."""
    parser = argparse.ArgumentParser(prog="switchbox", description="Switchbox office PBX.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the PBX service")
    run.add_argument("--config", type=Path, metavar="FILE",
                     help="configuration to store and activate when it differs from the "
                          "active revision (default: keep the active one)")
    run.add_argument("--data", type=Path, metavar="DIR",
                     help=f"data directory, created on the first start "
                          f"(default: {default_data_dir()})")
    run.add_argument("--sip-port", type=_port, metavar="N",
                     help="SIP port for UDP and TCP (default: sip.port, 5060)")
    run.add_argument("--sip-listen", metavar="ADDR",
                     help="address to bind SIP to (default: sip.listen, all interfaces)")
    run.add_argument("--board", default="sim", metavar="NAME",
                     help="board description: a name under board/ or a .toml file "
                          "(default: sim, the simulated board)")
    run.add_argument("--log-level", default="info", choices=list(LEVELS),
                     help="least severe messages logged (default: info)")
    run.add_argument("--loop", type=Loop, default=default_loop(), choices=list(Loop),
                     help="event loop (default: uvloop when installed)")
    run.add_argument("--console", action="store_true",
                     help="drive the simulated board from stdin: lift and dial phones, ring "
                          "lines, press inputs (type a wrong command for the list)")

    check = sub.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file", type=Path, metavar="FILE")

    creds = sub.add_parser("credentials", help="show the SIP credentials of the devices")
    creds.add_argument("--data", type=Path, metavar="DIR",
                       help=f"data directory (default: {default_data_dir()})")

    board = sub.add_parser("board", help="inspect the board's hardware")
    board_sub = board.add_subparsers(dest="board_command", required=True, metavar="ACTION")
    board_check = board_sub.add_parser(
        "check", help="probe every chip of the board and print a report (stop the service "
                      "first: the check opens the devices)")
    board_check.add_argument("--board", default="sim", metavar="NAME",
                             help="board description: a name under board/ or a .toml file "
                                  "(default: sim)")
    board_check.add_argument("--log-level", default="error", choices=list(LEVELS),
                             help="least severe driver messages logged beside the report "
                                  "(default: error; the report already has the reasons)")

    # Listed for `switchbox --help`; `main` hands `report …` to its own parser.
    sub.add_parser("report", help="call records: reports and CSV export "
                                  "(switchbox report --help)")
    line = sub.add_parser("line", help="learn what the exchange does on an FXO line")
    line_sub = line.add_subparsers(dest="line_command", required=True, metavar="ACTION")
    learn = line_sub.add_parser(
        "learn", help="learn ring cadence, caller ID, disconnect signal, echo and line "
                      "impedance with a few test calls, and write them to the data directory "
                      "(stop the service first)")
    learn.add_argument("port", metavar="PORT", help="FXO port: fxo1, or just 1")
    learn.add_argument("--board", default="sim", metavar="NAME",
                       help="board description: a name under board/ or a .toml file "
                            "(default: sim)")
    learn.add_argument("--data", type=Path, metavar="DIR",
                       help=f"data directory; the result goes to DIR/lines/PORT.yaml "
                            f"(default: {default_data_dir()})")
    learn.add_argument("--calls", type=int, default=2, metavar="N",
                       help="incoming test calls, 1-5 (default: 2)")
    learn.add_argument("--caller", metavar="NUMBER",
                       help="the number you call from, to check the caller ID against")
    learn.add_argument("--ring-timeout", type=float, default=120.0, metavar="S",
                       help="seconds to wait for each test call, 5-600 (default: 120)")
    learn.add_argument("--simulate", metavar="KIND",
                       help="on the simulated board: rehearse an exchange of this kind "
                            "(ru-aon, etsi-fsk-reversal, bell-after-ring, dtmf-clip, "
                            "busy-tone-only, nobody-calls)")
    learn.add_argument("--log-level", default="warning", choices=list(LEVELS),
                       help="least severe messages logged (default: warning)")
    return parser


def format_credentials(credentials: Sequence[Credential]) -> str:
    """A table of credentials for the console."""
    rows = [("extension", "username", "password", "device")]
    rows += [(c.extension, c.username, c.password, c.device) for c in credentials]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "".join(
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        + "\n"
        for r in rows
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of `switchbox`; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["report"]:
        # Its own parser (firmware/records/report_cli.py), so that reports start fast.
        from firmware.records.report_cli import main as report_main

        return report_main(argv[1:], default_data=default_data_dir())
    args = build_parser().parse_args(argv)
    if args.command == "check-config":
        return _check_config(args.file)
    if args.command == "credentials":
        return _credentials(args.data or default_data_dir())
    if args.command == "board":
        setup_logging(args.log_level)
        return board_check(args.board, sys.stdout)
    if args.command == "line":
        setup_logging(args.log_level)
        return line_learn(args)
    return _run(RunOptions(
        data_dir=args.data or default_data_dir(),
        config_path=args.config,
        sip_port=args.sip_port,
        sip_listen=args.sip_listen,
        board=args.board,
        log_level=args.log_level,
        loop=args.loop,
        console=args.console,
    ))


def _check_config(path: Path) -> int:
    try:
        config = load_config(path)
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        count = len(exc.problems)
        sys.stderr.write(f"{path}: refused, {count} problem{'s' if count != 1 else ''}\n")
        return EX_FAILED
    sys.stdout.write(f"{path}: valid ({len(config.users)} users, "
                     f"{len(config.devices)} devices)\n")
    return EX_OK


def _credentials(data_dir: Path) -> int:
    try:
        _, config = ConfigStore(data_dir).current()
    except NoActiveRevision:
        sys.stderr.write(f"{data_dir}: no configuration yet (run `switchbox run` first)\n")
        return EX_FAILED
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return EX_FAILED
    except OSError as exc:
        sys.stderr.write(f"{data_dir}: {exc}\n")
        return EX_IOERR
    credentials = credentials_of(config)
    if not credentials:
        sys.stdout.write("no device registers with a password\n")
        return EX_OK
    sys.stdout.write(format_credentials(credentials))
    return EX_OK


def board_check(board: str, out: TextIO) -> int:
    """`switchbox board check`: EX_OK when every device is in service, EX_FAILED when any is
    missing or out of service, EX_CONFIG when the description cannot be read."""
    import asyncio

    from firmware.board_check import check_board, format_report
    from hal.board import BoardError, find_board, load_board

    try:
        description = load_board(find_board(board))
    except BoardError as exc:
        sys.stderr.write(f"{exc}\n")
        return EX_CONFIG
    report = asyncio.run(check_board(description))
    out.write(format_report(report))
    return EX_OK if report.ok else EX_FAILED


def line_learn(args: argparse.Namespace) -> int:
    """`switchbox line learn`: see `firmware.linewizard.command` (imported only here: it
    pulls in the DSP and the simulated board)."""
    from firmware.linewizard.command import LearnRequest, learn

    request = LearnRequest(port=args.port, data_dir=args.data or default_data_dir(),
                           board=args.board, calls=args.calls, caller=args.caller,
                           ring_timeout_s=args.ring_timeout, simulate=args.simulate)
    return learn(request, sys.stdout, sys.stderr)


def prepare(options: RunOptions, out: TextIO) -> int:
    """Everything `run` does before the runtime starts; returns EX_OK or the exit code.

    Makes the data directory and a valid active revision (`ConfigStore.bootstrap`), checks the
    command-line overrides against it, and writes the first-start credentials to `out` once.
    """
    store = ConfigStore(options.data_dir)
    try:
        startup = store.bootstrap(options.config_path)
    except ConfigError as exc:
        log.error("no valid configuration, cannot start:\n%s", exc)
        return EX_CONFIG
    except OSError as exc:
        log.error("data directory %s is unusable: %s", options.data_dir, exc)
        return EX_IOERR
    try:
        options.apply_to(startup.config)
    except ConfigError as exc:
        log.error("command-line options conflict with the configuration:\n%s", exc)
        return EX_USAGE
    if startup.announce:
        out.write(
            "Default office created. Register phones with these credentials; they are shown "
            f"once (`switchbox credentials --data {options.data_dir}` shows them again):\n"
            + format_credentials(startup.announce)
        )
        out.flush()
        store.mark_credentials_announced()
    return EX_OK


def _run(options: RunOptions) -> int:
    setup_logging(options.log_level)
    code = prepare(options, sys.stdout)
    if code != EX_OK:
        return code
    # The runtime is imported only to run it; import_module keeps the CLI importable (and
    # type-checkable) on its own.
    app = importlib.import_module("firmware.app")
    run: Callable[[RunOptions], int] = app.run
    code = run(options)
    _exit_now(code)
    return code  # reached only when _exit_now is replaced (tests)


def _exit_now(code: int) -> None:
    """Leave without the interpreter's teardown. After a busy hour the heap holds tens of
    thousands of finished transactions waiting out RFC 3261's timers, and the final garbage
    collection and deallocation took 2.6 s, past the 2 s the service promises systemd after
    SIGTERM. Nothing is lost: configuration is written atomically before it is used and every
    socket is already closed; the logs are flushed here."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
