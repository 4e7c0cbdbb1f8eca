"""The PBX under load for bench/sip_load: its office, its process, and what /proc says about it.

The office has one caller and `callee_count` callee users (extensions 3000…), each callee with a
fixed-contact device at the answering SIPp (`auth: none`), so that no REGISTER is needed and
concurrent calls never meet a busy user (the PBX answers 486 to a user already in a call; only
the called user is checked, so one caller is enough). The caller is either trusted by its
source address (`auth: none`, its own loopback address 127.0.0.2) or a digest device
(`auth: digest`, calling from 127.0.0.3 so that no fixed device matches its address).

The PBX runs exactly as an installer starts it: `python -m firmware run --config … --data …`,
optionally under cProfile (bench/sip_load_profiler.py, recording between SIGUSR1 and SIGUSR2).
CPU time is read from /proc/PID/stat (utime + stime, clock ticks), memory from /proc/PID/status
(VmRSS, VmHWM).
"""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 2.0
READY_LINE = re.compile(r"switchbox ready")
FIRST_CALLEE_EXTENSION = 3000
CALLER_EXTENSION = "201"
CALLER_USERNAME = "loadcaller"
CALLER_PASSWORD = "Bench-Load-7q2Xv!"  # strong enough for the config validator
TRUSTED_CALLER_HOST = "127.0.0.2"
DIGEST_CALLER_HOST = "127.0.0.3"
CALLEE_HOST = "127.0.0.1"
PBX_HOST = "127.0.0.1"
RTP_PORTS = (30000, 39999)
_CLK_TCK = os.sysconf("SC_CLK_TCK")


class PbxError(RuntimeError):
    """The PBX would not start, died, or would not stop; the message carries its log tail."""


@dataclass(frozen=True, slots=True)
class LoadOffice:
    """The office configured for the load: who calls, who answers and where."""

    callee_count: int
    uas_port: int
    digest_caller: bool
    sip_port: int
    kernel_forwarding: bool = True

    @property
    def caller_host(self) -> str:
        return DIGEST_CALLER_HOST if self.digest_caller else TRUSTED_CALLER_HOST

    def extensions(self) -> list[str]:
        return [str(FIRST_CALLEE_EXTENSION + n) for n in range(self.callee_count)]

    def document(self) -> dict[str, object]:
        """The configuration document (written as JSON, which every YAML parser reads)."""
        users: list[dict[str, object]] = [
            {"id": "caller", "name": "Load caller", "extension": CALLER_EXTENSION},
        ]
        if self.digest_caller:
            caller_device: dict[str, object] = {
                "id": "uac", "user": "caller", "kind": "sip", "auth": "digest",
                "username": CALLER_USERNAME, "password": CALLER_PASSWORD,
            }
        else:
            caller_device = {
                "id": "uac", "user": "caller", "kind": "sip", "auth": "none",
                "contact": f"sip:uac@{TRUSTED_CALLER_HOST}:5080",
            }
        devices: list[dict[str, object]] = [caller_device]
        for extension in self.extensions():
            users.append({"id": f"callee{extension}", "name": f"Load callee {extension}",
                          "extension": extension})
            devices.append({"id": f"uas{extension}", "user": f"callee{extension}",
                            "kind": "sip", "auth": "none",
                            "contact": f"sip:uas@{CALLEE_HOST}:{self.uas_port}"})
        return {
            # One SIPp process is one address carrying every call of the load.
            "calls": {"max_calls_per_source": 10000},
            "sip": {
                "listen": PBX_HOST,
                "port": self.sip_port,
                "transports": ["udp"],
                "advertise": PBX_HOST,
                "rtp_ports": {"start": RTP_PORTS[0], "end": RTP_PORTS[1]},
                "kernel_forwarding": self.kernel_forwarding,
            },
            "users": users,
            "devices": devices,
        }


@dataclass(frozen=True, slots=True)
class MemoryStatus:
    """/proc/PID/status figures, in MB (10^6 bytes)."""

    rss_mb: float
    peak_rss_mb: float


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and of its waited-for children (the `nft` runs of the kernel
    forwarder), in seconds (resolution 1/SC_CLK_TCK). Raises OSError when gone."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read()
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    fields = raw[raw.rindex(b")") + 2:].split()
    # Fields 14-17 of proc(5): utime, stime, cutime, cstime.
    return sum(int(v) for v in fields[11:15]) / _CLK_TCK


def memory(pid: int) -> MemoryStatus:
    """VmRSS and VmHWM of `pid`."""
    values: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024 / 1e6
    return MemoryStatus(values.get("VmRSS", 0.0), values.get("VmHWM", 0.0))


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (proc(5) clear_refs "5"); False when not permitted."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


class CpuSampler:
    """Samples the CPU time of some processes every `interval_s` on a thread.

    `busiest(pid)` is the highest utilisation (fraction of one core) over any window of
    `window_s` — whether the process ran flat out at some point of the step.
    """

    def __init__(self, pids: dict[str, int], interval_s: float = 0.25) -> None:
        self._pids = dict(pids)
        self._interval_s = interval_s
        self.samples: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def __enter__(self) -> CpuSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        now = time.monotonic()
        for name, pid in self._pids.items():
            try:
                self.samples[name].append((now, cpu_seconds(pid)))
            except OSError:
                continue  # the process ended (a SIPp that finished its calls)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._sample()

    def used_s(self, name: str) -> float:
        series = self.samples[name]
        return series[-1][1] - series[0][1] if len(series) >= 2 else 0.0

    def busiest(self, name: str, window_s: float = 1.0) -> float:
        series = self.samples[name]
        best = 0.0
        for i in range(1, len(series)):
            for j in range(i - 1, -1, -1):
                dt = series[i][0] - series[j][0]
                if dt >= window_s:
                    best = max(best, (series[i][1] - series[j][1]) / dt)
                    break
        return best


@dataclass
class PbxProcess:
    """One Switchbox process started for the bench (`python -m firmware run`).

    `python` is the interpreter with the firmware's dependencies (the repo's .venv);
    `profile_path` runs it under cProfile, written when the process exits on SIGTERM.
    """

    python: str
    root: Path
    workdir: Path
    office: LoadOffice
    loop: str = "uvloop"
    log_level: str = "warning"
    profile_path: Path | None = None
    proc: subprocess.Popen[str] | None = None
    argv: list[str] = field(default_factory=list)
    ready_line: str = ""
    _log: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=400))
    _warnings: collections.Counter[str] = field(default_factory=collections.Counter)
    first_error: list[str] = field(default_factory=list)
    _capturing: bool = False
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def pid(self) -> int:
        assert self.proc is not None, "start() first"
        return self.proc.pid

    def start(self) -> None:
        """Write the config, start the PBX, return once it printed its ready line."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "office.yaml"
        config.write_text(json.dumps(self.office.document(), indent=1) + "\n")
        data = self.workdir / "data"
        if self.profile_path is not None:
            self.argv = [self.python, str(Path(__file__).resolve().parent / "sip_load_profiler.py"),
                         str(self.profile_path)]
        else:
            self.argv = [self.python, "-m", "firmware"]
        self.argv += [
            "run", "--config", str(config), "--data", str(data),
            "--sip-port", str(self.office.sip_port), "--sip-listen", PBX_HOST,
            "--log-level", self.log_level, "--loop", self.loop,
        ]  # fmt: skip
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            self.argv, cwd=self.root, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
        )
        ready = threading.Event()
        for stream, name in ((self.proc.stdout, "stdout"), (self.proc.stderr, "stderr")):
            thread = threading.Thread(target=self._drain, args=(stream, name, ready),
                                      name=f"pbx-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready.wait(0.05):
            if self.proc.poll() is not None:
                for thread in self._threads:
                    thread.join(timeout=1.0)
                raise PbxError(f"the PBX exited with {self.proc.returncode} before it was "
                               f"ready\n{self.describe()}")
            if time.monotonic() > deadline:
                self.stop()
                raise PbxError(f"no ready line in {READY_TIMEOUT_S:g} s\n{self.describe()}")

    def _drain(self, stream: object, name: str, ready: threading.Event) -> None:
        for line in stream:  # type: ignore[attr-defined]
            line = line.rstrip("\n")
            self._log.append(f"[{name}] {line}")
            if READY_LINE.search(line):
                self.ready_line = line
                ready.set()
            level = re.search(r"\b(WARNING|ERROR|CRITICAL)\b", line)
            if self._capturing:
                # The traceback under the first error: until the next log line, 30 lines at most.
                if re.match(r"\d{4}-\d\d-\d\d ", line) or len(self.first_error) >= 30:
                    self._capturing = False
                else:
                    self.first_error.append(line)
            if level and level.group(1) != "WARNING" and not self.first_error:
                self.first_error.append(line)
                self._capturing = True
            if level is None:
                # INFO lines that say why a call was refused are worth a count too.
                level = re.search(r"\b(INFO)\b(?=.*(fail|refus|overload))", line)
            if level:
                # Group by message shape: numbers and call ids vary from line to line.
                self._warnings[re.sub(r"\d+", "N", line.split(level.group(1), 1)[1])[:160]] += 1

    def warnings(self) -> dict[str, int]:
        """WARNING/ERROR log lines (and INFO lines about refusals and failures) seen so far,
        grouped by shape, with counts."""
        return dict(self._warnings.most_common(20))

    def profile(self, on: bool) -> None:
        """Start (True) or stop and write (False) the profile; nothing unless profiled."""
        if self.profile_path is not None and self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGUSR1 if on else signal.SIGUSR2)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> float:
        """SIGTERM, wait for the exit; returns seconds taken. Raises PbxError after 2 s + 5 s."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            # cProfile writes its file after the service stopped: allow it some extra time.
            self.proc.wait(timeout=STOP_TIMEOUT_S + (30.0 if self.profile_path else 5.0))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise PbxError(f"the PBX did not exit on SIGTERM\n{self.describe()}") from None
        for thread in self._threads:
            thread.join(timeout=1.0)
        return time.monotonic() - start

    def log_lines(self, pattern: str, limit: int = 5) -> list[str]:
        """The last `limit` kept log lines matching the regular expression `pattern`."""
        found = [line for line in self._log if re.search(pattern, line)]
        return found[-limit:]

    def describe(self) -> str:
        """Command line and log tail, for error messages."""
        return "argv: " + " ".join(self.argv) + "\n" + "\n".join(list(self._log)[-60:])
