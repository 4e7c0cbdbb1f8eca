"""Running SIPp scenarios from tests: bounded in time, logs kept for the failure message.

One `SippRun` is one SIPp process: a UAC (`remote` given) places `calls` calls and exits; a UAS
(`remote` None) answers `calls` calls and exits. Both stop at `-timeout` with an error, and the
Python side kills them if even that does not happen. Every SIP message is traced
(`-trace_msg`) and unexpected ones too (`-trace_err`), so a failed assertion shows the dialogue.
The scenario XML files live next to this module in `sipp/`.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .ports import LOOPBACK, free_port, free_udp_range

SCENARIOS = Path(__file__).parent / "sipp"
DEFAULT_TIMEOUT_S = 15.0
# Seconds SIPp gets beyond its own -timeout before the Python side kills it.
KILL_GRACE_S = 5.0
LOG_CHARS = 6000


def scenario(name: str) -> Path:
    """Path of the scenario `name` (without `.xml`) in tests/interop/sipp/."""
    path = SCENARIOS / f"{name}.xml"
    if not path.is_file():
        raise FileNotFoundError(path)
    return path


@dataclass(frozen=True, slots=True)
class SippResult:
    """How one SIPp process ended, with the logs a failure message needs."""

    name: str
    returncode: int
    argv: list[str]
    screen: str
    errors: str
    messages: str

    def describe(self) -> str:
        """Exit code, command line and the tails of the error, message and screen logs."""
        return (
            f"SIPp {self.name} exited with {self.returncode}\n"
            f"argv: {' '.join(self.argv)}\n"
            f"--- unexpected messages (-trace_err) ---\n{self.errors[-LOG_CHARS:]}\n"
            f"--- SIP messages (-trace_msg) ---\n{self.messages[-LOG_CHARS:]}\n"
            f"--- screen ---\n{self.screen[-2000:]}"
        )


@dataclass
class SippRun:
    """One SIPp process. `start()`/`wait()` for a background UAS, `run()` for a UAC.

    `scenario` is an XML path or a built-in name (`uac`, `uas`). `keys` become `-key k v`
    (used as `[k]` in the scenario). `service` is the request-URI user (`-s`); `auth` the
    digest username and password (`-au`/`-ap`).
    """

    binary: str
    scenario: Path | str
    workdir: Path
    name: str = "sipp"
    remote: str | None = None
    service: str | None = None
    auth: tuple[str, str] | None = None
    keys: dict[str, str] = field(default_factory=dict)
    calls: int = 1
    timeout_s: float = DEFAULT_TIMEOUT_S
    extra_args: list[str] = field(default_factory=list)
    local_port: int = 0
    media_port: int = 0
    pause_ms: int = 1000
    """Length of a plain `<pause/>` in the scenario (SIPp `-d`): the talk time of a call."""
    _proc: subprocess.Popen[bytes] | None = None
    _argv: list[str] = field(default_factory=list)

    def argv(self) -> list[str]:
        """The SIPp command line (ports are chosen on first call)."""
        self.local_port = self.local_port or free_port(tcp_too=False)
        self.media_port = self.media_port or free_udp_range(4)
        logs = self.workdir / self.name
        argv = [self.binary]
        if self.remote is not None:
            argv.append(self.remote)
        if isinstance(self.scenario, Path):
            argv += ["-sf", str(self.scenario)]
        else:
            argv += ["-sn", self.scenario]
        argv += [
            "-i", LOOPBACK, "-p", str(self.local_port),
            "-mi", LOOPBACK, "-mp", str(self.media_port),
            "-cp", str(free_port(tcp_too=False)),
            "-m", str(self.calls),
            "-d", str(self.pause_ms),
            "-timeout", f"{self.timeout_s:g}s", "-timeout_error",
            "-nostdin",
            "-trace_err", "-error_file", f"{logs}.errors.log",
            "-trace_msg", "-message_file", f"{logs}.messages.log",
        ]  # fmt: skip
        if self.service is not None:
            argv += ["-s", self.service]
        if self.auth is not None:
            argv += ["-au", self.auth[0], "-ap", self.auth[1]]
        for key, value in self.keys.items():
            argv += ["-key", key, value]
        return argv + self.extra_args

    def start(self, *, ready_timeout_s: float = 5.0) -> None:
        """Start SIPp; returns once its SIP port is bound (so a peer may send to it)."""
        self._argv = self.argv()
        screen = open(self.workdir / f"{self.name}.screen.log", "wb")
        with screen:
            self._proc = subprocess.Popen(
                self._argv,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=screen,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + ready_timeout_s
        while not _udp_port_bound(self.local_port):
            if self._proc.poll() is not None:
                if self._proc.returncode != 0:
                    raise AssertionError(self._result().describe())
                return  # done already (a short run, or TCP: no UDP port); `wait` reports it
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(
                    f"SIPp {self.name} did not bind {self.local_port} in {ready_timeout_s} s\n"
                    + self._result().describe()
                )
            time.sleep(0.02)

    def wait(self) -> SippResult:
        """Wait for SIPp to exit (bounded by its -timeout plus a grace); kill it if it hangs."""
        assert self._proc is not None, "start() first"
        try:
            self._proc.wait(timeout=self.timeout_s + KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            self.kill()
        return self._result()

    def run(self) -> SippResult:
        """start() then wait()."""
        self.start()
        return self.wait()

    def kill(self) -> None:
        """Kill SIPp if it still runs (idempotent)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)

    def _result(self) -> SippResult:
        assert self._proc is not None
        code = self._proc.returncode if self._proc.returncode is not None else -9
        return SippResult(
            name=self.name,
            returncode=code,
            argv=self._argv,
            screen=_read(self.workdir / f"{self.name}.screen.log"),
            errors=_read(self.workdir / f"{self.name}.errors.log"),
            messages=_read(self.workdir / f"{self.name}.messages.log"),
        )


def expect_success(*results: SippResult) -> None:
    """Assert every SIPp run exited 0 (all its calls succeeded); the message has all logs."""
    failed = [result for result in results if result.returncode != 0]
    if failed:
        raise AssertionError("\n\n".join(result.describe() for result in results))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _udp_port_bound(port: int) -> bool:
    """True once some process has a UDP socket on `port` (read from /proc: probing by binding
    would race with SIPp's own bind)."""
    suffix = f":{port:04X}"
    with open("/proc/net/udp", encoding="ascii") as table:
        next(table)  # header
        return any(line.split()[1].endswith(suffix) for line in table)
