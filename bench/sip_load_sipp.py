"""SIPp for bench/sip_load: command lines, processes, and reading back what SIPp measured.

Scenarios live in bench/sipp/ and are copied into the run directory, where SIPp runs (it writes
its `<scenario>_<pid>_rtt.csv` next to the scenario). What is read back:

* `-trace_stat` (`-stf`, one row a second and one at exit): calls created, successful, failed
  by reason, retransmissions;
* `-trace_rtt -rtt_freq`: response time 1 (INVITE sent → 200 OK received) of every call, in
  whole milliseconds (SIPp's clock);
* `-trace_msg`: every message with a microsecond timestamp; parsed for set-up times finer
  than SIPp's millisecond rtd when the rate is low enough to afford the trace.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import random
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SCENARIO_DIR = Path(__file__).resolve().parent / "sipp"
TONE_FILE = "sip_load_tone.wav"  # the name media_uac.xml streams, in SIPp's working directory
RETRANS_LIMITS = ["-max_invite_retrans", "4", "-max_non_invite_retrans", "4"]


class SippError(RuntimeError):
    """SIPp would not start or misbehaved; the message carries its screen and error log."""


def copy_scenarios(workdir: Path) -> None:
    for path in SCENARIO_DIR.glob("*.xml"):
        shutil.copy(path, workdir / path.name)


def make_tone(workdir: Path, seconds: int = 30) -> Path:
    """A G.711 u-law 8 kHz 1 kHz tone for `rtp_stream` (SIPp skips the RIFF header)."""
    path = workdir / TONE_FILE
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", str(path),
         "synth", str(seconds), "sine", "1000"],
        check=True, capture_output=True,
    )
    return path


def write_injection(path: Path, extensions: list[str]) -> None:
    """The -inf file: field0 is the callee, taken in turn (SEQUENTIAL) and wrapping around."""
    path.write_text("SEQUENTIAL\n" + "".join(f"{e};\n" for e in extensions))


def udp_port_bound(host: str, port: int) -> bool:
    """Whether some socket is bound to host:port (read from /proc/net/udp, no probing)."""
    want = f"{socket.htonl(int.from_bytes(socket.inet_aton(host), 'big')):08X}:{port:04X}"
    any_addr = f"00000000:{port:04X}"
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            local = line.split()[1]
            if local in (want, any_addr):
                return True
    return False


def free_port(host: str, span: int = 1, even: bool = False) -> int:
    """A port with `span` consecutive free UDP ports on `host` (checked by binding them)."""
    for _ in range(200):
        port = random.randrange(41000, 59000 - span)
        if even:
            port &= ~1
        sockets: list[socket.socket] = []
        try:
            for p in range(port, port + span):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(s)
                s.bind((host, p))
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
        return port
    raise SippError(f"no {span} free UDP ports on {host}")


@dataclass
class SippProcess:
    """One SIPp process, run in `workdir`, its screen in `<name>.screen.log`."""

    name: str
    argv: list[str]
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ended_at: float = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None, "start() first"
        return self.proc.pid

    def start(self, bound: tuple[str, int] | None = None, timeout_s: float = 5.0) -> None:
        """Start SIPp; with `bound`, return only once that UDP address is bound."""
        with open(self.workdir / f"{self.name}.screen.log", "wb") as screen:
            self.proc = subprocess.Popen(self.argv, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                         stdout=screen, stderr=subprocess.STDOUT)
        self.started_at = time.monotonic()
        if bound is None:
            return
        deadline = time.monotonic() + timeout_s
        while not udp_port_bound(*bound):
            if self.proc.poll() is not None:
                raise SippError(f"SIPp {self.name} exited with {self.proc.returncode}\n"
                                + self.describe())
            if time.monotonic() > deadline:
                self.stop()
                raise SippError(f"SIPp {self.name} did not bind {bound}\n" + self.describe())
            time.sleep(0.02)

    def wait(self, timeout_s: float) -> int:
        """Wait for the exit; kill after `timeout_s`. Returns the exit code."""
        assert self.proc is not None, "start() first"
        try:
            rc = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.ended_at = time.monotonic()
        return rc

    def stop(self) -> None:
        """End a SIPp that runs until told (the UAS)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=3.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def describe(self) -> str:
        screen = self.workdir / f"{self.name}.screen.log"
        errors = self.workdir / f"{self.name}.errors.log"
        text = "argv: " + " ".join(self.argv) + "\n"
        for path in (errors, screen):
            if path.exists():
                text += f"--- {path.name} ---\n" + path.read_text(errors="replace")[-3000:] + "\n"
        return text


def uas_argv(*, sipp: str, name: str, host: str, port: int, media_port: int,
             echo: bool) -> list[str]:
    """The answering phones: runs until stopped, answers every INVITE of load_uas.xml."""
    argv = [sipp, "-sf", "load_uas.xml", "-i", host, "-p", str(port),
            "-mi", host, "-mp", str(media_port), "-nostdin",
            "-trace_err", "-error_file", f"{name}.errors.log",
            "-max_recv_loops", "10000", "-max_sched_loops", "10000"]
    if echo:
        argv.append("-rtp_echo")
    return argv


def uac_argv(*, sipp: str, name: str, scenario: str, remote: str, host: str, port: int,
             media_port: int, injection: str, rate: float, calls: int, hold_ms: int,
             limit: int, timeout_s: float, auth: tuple[str, str] | None = None,
             trace_msg: bool = False, rtt: bool = True) -> list[str]:
    """The calling side: places `calls` calls at `rate` per second, then exits."""
    argv = [
        sipp, remote, "-sf", scenario,
        "-i", host, "-p", str(port), "-mi", host, "-mp", str(media_port),
        "-inf", injection,
        "-r", f"{rate:g}", "-rp", "1000", "-m", str(calls), "-l", str(limit),
        "-d", str(hold_ms),
        "-nostdin", "-timeout", f"{timeout_s:g}s", "-recv_timeout", "8000",
        "-trace_stat", "-stf", f"{name}.stat.csv", "-fd", "1",
        "-trace_err", "-error_file", f"{name}.errors.log",
        "-trace_screen", "-screen_file", f"{name}.final.log",
        "-max_recv_loops", "10000", "-max_sched_loops", "10000",
        *RETRANS_LIMITS,
    ]  # fmt: skip
    if rtt:
        argv += ["-trace_rtt", "-rtt_freq", "200"]
    if trace_msg:
        argv += ["-trace_msg", "-message_file", f"{name}.messages.log"]
    if auth is not None:
        argv += ["-au", auth[0], "-ap", auth[1]]
    return argv


# --- reading back ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CallCounts:
    """The UAC's final statistics row."""

    created: int
    successful: int
    failed: int
    failed_by: dict[str, int]
    retransmissions: int
    unexpected: int
    dead_call_msgs: int

    @property
    def failure_ratio(self) -> float:
        return self.failed / self.created if self.created else 1.0


def read_stat(path: Path) -> list[dict[str, str]]:
    """Rows of a -trace_stat file (';'-separated, header first)."""
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [row for row in csv.DictReader(f, delimiter=";") if row.get("TotalCallCreated")]


def call_counts(rows: list[dict[str, str]]) -> CallCounts:
    if not rows:
        return CallCounts(0, 0, 0, {}, 0, 0, 0)
    last = rows[-1]

    def n(key: str) -> int:
        try:
            return int(float(last.get(key) or 0))
        except ValueError:
            return 0

    failed_by = {
        key[len("Failed"):-len("(C)")]: n(key)
        for key in last
        if key.startswith("Failed") and key.endswith("(C)") and key != "FailedCall(C)" and n(key)
    }
    return CallCounts(
        created=n("TotalCallCreated"), successful=n("SuccessfulCall(C)"),
        failed=n("FailedCall(C)"), failed_by=failed_by,
        retransmissions=n("Retransmissions(C)"), unexpected=n("FailedUnexpectedMessage(C)"),
        dead_call_msgs=n("DeadCallMsgs(C)"),
    )


def read_rtt(workdir: Path, scenario: str, pid: int) -> list[tuple[float, float]]:
    """(ms since SIPp started, set-up time ms) of every call, from `<scenario>_<pid>_rtt.csv`."""
    path = workdir / f"{Path(scenario).stem}_{pid}_rtt.csv"
    out: list[tuple[float, float]] = []
    if not path.exists():
        return out
    with open(path) as f:
        next(f, None)
        for line in f:
            parts = line.strip().split(";")
            if len(parts) >= 3 and parts[2] == "1":
                with contextlib.suppress(ValueError):
                    out.append((float(parts[0]), float(parts[1])))
    return out


@dataclass
class _Setup:
    invite_at: float | None = None
    ok_at: float | None = None
    statuses: list[int] = field(default_factory=list)


def read_setup_times(path: Path) -> list[float]:
    """Set-up times in ms (first INVITE sent → 200 OK to an INVITE received), one per answered
    call, from a -trace_msg file (microsecond timestamps)."""
    calls: dict[str, _Setup] = {}
    at = 0.0
    first = ""
    direction = ""
    call_id = ""
    cseq = ""
    expect_first = False

    def close() -> None:
        if not call_id or not first:
            return
        setup = calls.setdefault(call_id, _Setup())
        if direction == "sent" and first.startswith("INVITE ") and setup.invite_at is None:
            setup.invite_at = at
        elif (direction == "received" and first.startswith("SIP/2.0 2")
              and cseq.endswith("INVITE") and setup.ok_at is None):
            setup.ok_at = at

    with open(path, errors="replace") as f:
        for raw in f:
            line = raw.rstrip("\r\n")
            if line.startswith("-----------------------------------------------"):
                close()
                stamp = line.strip("- ")
                try:
                    at = dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
                except ValueError:
                    at = 0.0
                first = call_id = cseq = direction = ""
                expect_first = False
                continue
            if not direction:
                if "message sent" in line:
                    direction = "sent"
                elif "message received" in line:
                    direction = "received"
                expect_first = True
                continue
            if expect_first:
                if line.strip():
                    first = line.strip()
                    expect_first = False
                continue
            lower = line.lower()
            if lower.startswith("call-id:") or lower.startswith("i:"):
                call_id = line.split(":", 1)[1].strip()
            elif lower.startswith("cseq:"):
                cseq = line.split(":", 1)[1].strip().upper()
        close()
    return sorted(
        (s.ok_at - s.invite_at) * 1000.0
        for s in calls.values()
        if s.invite_at is not None and s.ok_at is not None
    )


def udp_socket_drops(host: str, port: int) -> int | None:
    """The kernel's drop counter of the UDP socket bound to host:port (/proc/net/udp), or None.

    Used on the caller's RTP socket, which SIPp 3.6 sends every stream from but never reads:
    once its receive buffer is full, every packet the relay sends back to the caller is
    counted here, so the difference over a window is the B→A packets the PBX relayed."""
    want = f"{socket.htonl(int.from_bytes(socket.inet_aton(host), 'big')):08X}:{port:04X}"
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[1] == want:
                return int(parts[-1])
    return None


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100), nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]
