"""Benchmark Switchbox's call handling with SIPp: calls/s, call set-up time, RTP relay cost.

Three processes on loopback: the PBX (`python -m firmware run`, one event loop on one core),
a SIPp UAC placing calls from 127.0.0.2 (127.0.0.3 with --auth digest) and a SIPp UAS answering
them on 127.0.0.1 as every callee's fixed contact. See bench/sip_load_pbx.py for the office.

1. **Set-up time** (`setup`): calls at 100/s for 10 s; time from the INVITE sent to the 200 OK
   received at the UAC, from SIPp's message trace (µs timestamps): p50, p95, p99, max.
   Target p95 ≤ 10 ms.
2. **Call rate** (`rate`): short calls (1 s hold) UAC → PBX → UAS at 50, 100, 200, … calls/s,
   10 s a step; a step passes with < 0.1 % failed calls, ≥ 95 % of the asked rate reached and
   a bounded set-up time: the median of the step's last third ≤ max(2 × the first third's,
   first + 5 ms) (no queue building up) and p95 ≤ 100 ms (SIPp's rtd, whole milliseconds).
   The ramp stops at the first failing step. For each step: PBX CPU per call (utime + stime from
   /proc/PID/stat over the step ÷ calls) and its busiest second, to tell whether it was
   CPU-bound. Target ≥ 400 calls/s on one core.
3. **Media** (`media`): N = 50, 100, 200 concurrent calls carrying G.711 (SIPp `rtp_stream`
   of a u-law tone, 50 packets/s; the UAS echoes with `-rtp_echo`), so 100 packets/s per call
   pass the relay. Over a steady window: PBX CPU µs per relayed packet, CPU per call, and peak
   RSS (VmHWM, reset before each N). Targets ≤ 8 µs per packet, ≤ 80 MB at 200 calls.
   Packets relayed are counted as N × 100/s × window, and cross-checked with the kernel's drop
   counter of the caller's RTP socket (SIPp sends from it but never reads it, so once full it
   counts every packet the relay sends back).

    bench/sip_load                      # full run, ~4 minutes
    bench/sip_load --quick              # < 60 s smoke run
    bench/sip_load --auth both          # the call phases with a trusted and a digest caller
    bench/sip_load --rates 300,400,500 --step 20 --phases rate
    bench/sip_load --concurrency 200 --window 20 --phases media
    bench/sip_load --profile /tmp/prof  # the PBX under cProfile (inflates its CPU figures)
    bench/sip_load --direct --quick     # SIPp UAC ↔ UAS with no PBX: checks the harness
    bench/sip_load --json result.json

Each phase gets a fresh PBX. Everything SIPp writes stays in the run directory (--keep).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from sip_load_pbx import (  # noqa: E402
    CALLEE_HOST,
    CALLER_PASSWORD,
    CALLER_USERNAME,
    PBX_HOST,
    CpuSampler,
    LoadOffice,
    PbxError,
    PbxProcess,
    cpu_seconds,
    memory,
    reset_peak_rss,
)
from sip_load_sipp import (  # noqa: E402
    SippError,
    SippProcess,
    call_counts,
    copy_scenarios,
    free_port,
    make_tone,
    percentile,
    read_rtt,
    read_setup_times,
    read_stat,
    uac_argv,
    uas_argv,
    udp_socket_drops,
    write_injection,
)

TARGET_CPS = 400.0
TARGET_SETUP_P95_MS = 10.0
TARGET_US_PER_PACKET = 8.0
TARGET_RSS_MB = 80.0
MAX_FAILURE_RATIO = 0.001
MIN_RATE_REACHED = 0.95
CPU_BOUND_UTILISATION = 0.9
SETUP_GROWTH_MS = 5.0
SETUP_P95_CEILING_MS = 100.0
PACKETS_PER_CALL_S = 100  # 50 packets/s each way, 20 ms G.711
STEP_PAUSE_S = 2.0
MEDIA_SETTLE_S = 2.0
MEDIA_TAIL_S = 2.0


# --- results -----------------------------------------------------------------------------------

@dataclass
class RateStep:
    auth: str
    rate: float
    calls: int
    hold_ms: int
    created: int = 0
    successful: int = 0
    failed: int = 0
    failed_by: dict[str, int] = field(default_factory=dict)
    retransmissions: int = 0
    achieved_cps: float = 0.0
    setup_p50_ms: float = float("nan")
    setup_p95_ms: float = float("nan")
    setup_max_ms: float = float("nan")
    setup_p50_first_third_ms: float = float("nan")
    setup_p50_last_third_ms: float = float("nan")
    setup_bounded: bool = False
    wall_s: float = 0.0
    pbx_cpu_s: float = 0.0
    pbx_cpu_ms_per_call: float = float("nan")
    pbx_mean_utilisation: float = 0.0
    pbx_busiest_second: float = 0.0
    cpu_bound: bool = False
    uac_busiest_second: float = 0.0
    uas_busiest_second: float = 0.0
    sipp_exit: int = 0
    passed: bool = False
    why_failed: str = ""
    command: str = ""


@dataclass
class SetupResult:
    auth: str
    rate: float
    calls: int
    answered: int = 0
    failed: int = 0
    p50_ms: float = float("nan")
    p95_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    rtd_p95_ms: float = float("nan")
    pbx_cpu_ms_per_call: float = float("nan")
    meets_target: bool = False
    command: str = ""


@dataclass
class MediaResult:
    concurrent: int
    window_s: float = 0.0
    created: int = 0
    failed: int = 0
    failed_by: dict[str, int] = field(default_factory=dict)
    pbx_cpu_s: float = 0.0
    utilisation: float = 0.0
    packets_nominal: int = 0
    packets_measured: int | None = None
    packets_used: int = 0
    us_per_packet: float = float("nan")
    cpu_per_call_pct: float = float("nan")
    rss_mb: float = 0.0
    peak_rss_mb: float = 0.0
    uac_cpu_utilisation: float = 0.0
    uas_cpu_utilisation: float = 0.0
    valid: bool = False
    note: str = ""
    command: str = ""


@dataclass
class Report:
    started: str
    machine: dict[str, Any]
    options: dict[str, Any]
    pbx_commands: list[str] = field(default_factory=list)
    pbx_start_s: list[float] = field(default_factory=list)
    uas_commands: list[str] = field(default_factory=list)
    setup: list[SetupResult] = field(default_factory=list)
    rate: list[RateStep] = field(default_factory=list)
    media: list[MediaResult] = field(default_factory=list)
    max_sustained_cps: dict[str, float] = field(default_factory=dict)
    pbx_warnings: dict[str, dict[str, int]] = field(default_factory=dict)
    profiles: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    workdir: str = ""


# --- the bench ---------------------------------------------------------------------------------

def pbx_python() -> str:
    """The interpreter with the firmware's dependencies: the repo's .venv when present."""
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def machine_info(sipp: str) -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    version = subprocess.run([sipp, "-v"], capture_output=True, text=True).stdout
    sipp_version = next((ln.strip() for ln in version.splitlines() if "SIPp" in ln), "?")
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    return {
        "nproc": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
        "python": subprocess.run([pbx_python(), "-c", "import sys; print(sys.version.split()[0])"],
                                 capture_output=True, text=True).stdout.strip(),
        "sipp": sipp_version, "loadavg_at_start": " ".join(load),
    }


class Bench:
    def __init__(self, opts: argparse.Namespace, workdir: Path) -> None:
        self.o = opts
        self.workdir = workdir
        self.sipp = shutil.which("sipp") or "sipp"
        self.report = Report(
            started=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            machine=machine_info(self.sipp),
            options={k: v for k, v in vars(opts).items() if k != "json"},
            workdir=str(workdir),
        )
        copy_scenarios(workdir)
        self._run_no = 0

    # -- processes ----------------------------------------------------------------------------

    def _office(self, digest: bool, uas_port: int) -> LoadOffice:
        return LoadOffice(callee_count=self.o.callees, uas_port=uas_port, digest_caller=digest,
                          sip_port=free_port(PBX_HOST),
                          kernel_forwarding=self.o.kernel_forwarding == "on")

    def _start_pbx(self, office: LoadOffice, phase: str) -> PbxProcess | None:
        if self.o.direct:
            return None
        profile = None
        if self.o.profile:
            Path(self.o.profile).mkdir(parents=True, exist_ok=True)
            profile = Path(self.o.profile).resolve() / f"{phase}.pstats"
        pbx = PbxProcess(python=pbx_python(), root=Path(self.o.pbx_root or ROOT).resolve(),
                         workdir=self.workdir / f"pbx-{phase}",
                         office=office, loop=self.o.loop, profile_path=profile,
                         log_level=self.o.pbx_log_level)
        started = time.monotonic()
        pbx.start()
        self.report.pbx_start_s.append(round(time.monotonic() - started, 2))
        self.report.pbx_commands.append(" ".join(pbx.argv))
        pbx.profile(True)
        return pbx

    def _stop_pbx(self, pbx: PbxProcess | None, phase: str) -> None:
        if pbx is None:
            return
        pbx.profile(False)
        time.sleep(0.5 if pbx.profile_path else 0.0)  # let it write the profile
        self.report.pbx_warnings[phase] = pbx.warnings()
        if pbx.first_error:
            self.report.errors.append(f"first PBX error in {phase}:\n" + "\n".join(pbx.first_error))
        stop_s = pbx.stop()
        if pbx.profile_path is None and stop_s > 2.0:
            self.report.errors.append(f"the PBX took {stop_s:.1f} s to exit on SIGTERM after "
                                      f"{phase} (the service contract says 2 s); its log: "
                                      + " | ".join(pbx.log_lines(r"stopp")))
        if pbx.profile_path is not None and pbx.profile_path.exists():
            self.report.profiles[phase] = str(pbx.profile_path)

    def _start_uas(self, port: int, echo: bool) -> SippProcess:
        media = free_port(CALLEE_HOST, span=4, even=True)  # -rtp_echo also uses media + 2
        name = f"uas{self._next()}"
        argv = uas_argv(sipp=self.sipp, name=name, host=CALLEE_HOST, port=port,
                        media_port=media, echo=echo)
        uas = SippProcess(name, argv, self.workdir)
        uas.start(bound=(CALLEE_HOST, port))
        self.report.uas_commands.append(" ".join(argv))
        return uas

    def _next(self) -> int:
        self._run_no += 1
        return self._run_no

    def _uac(self, *, office: LoadOffice, scenario: str, rate: float, calls: int, hold_ms: int,
             uas_port: int, trace_msg: bool = False, limit: int | None = None,
             timeout_s: float | None = None) -> tuple[SippProcess, int]:
        name = f"uac{self._next()}"
        host = office.caller_host
        media = free_port(host, span=2, even=True)
        remote = (f"{CALLEE_HOST}:{uas_port}" if self.o.direct
                  else f"{PBX_HOST}:{office.sip_port}")
        hold_s = hold_ms / 1000.0
        argv = uac_argv(
            sipp=self.sipp, name=name, scenario=scenario, remote=remote, host=host,
            port=free_port(host), media_port=media, injection="callees.csv", rate=rate,
            calls=calls, hold_ms=hold_ms,
            limit=limit or max(50, int(rate * (hold_s + 10))),
            timeout_s=timeout_s or (calls / rate + hold_s + 40),
            auth=(CALLER_USERNAME, CALLER_PASSWORD) if office.digest_caller else None,
            trace_msg=trace_msg,
        )
        return SippProcess(name, argv, self.workdir), media

    # -- phases -------------------------------------------------------------------------------

    def run(self) -> Report:
        phases = set(self.o.phases)
        auths = {"none": ["none"], "digest": ["digest"], "both": ["none", "digest"]}[self.o.auth]
        if self.o.direct:
            auths = ["none"]
        for auth in auths:
            if phases & {"setup", "rate"}:
                self._call_phases(auth, phases)
        if "media" in phases:
            self._media_phase()
        return self.report

    def _call_phases(self, auth: str, phases: set[str]) -> None:
        digest = auth == "digest"
        uas_port = free_port(CALLEE_HOST)
        office = self._office(digest, uas_port)
        write_injection(self.workdir / "callees.csv", office.extensions())
        scenario = "load_uac_auth.xml" if digest else "load_uac.xml"
        pbx = self._start_pbx(office, f"calls-{auth}")
        uas = self._start_uas(uas_port, echo=False)
        try:
            if "setup" in phases:
                self._setup_phase(pbx, office, scenario, uas_port, auth)
            if "rate" in phases:
                self._rate_phase(pbx, office, scenario, uas_port, uas, auth)
        finally:
            uas.stop()
            self._stop_pbx(pbx, f"calls-{auth}")

    def _setup_phase(self, pbx: PbxProcess | None, office: LoadOffice, scenario: str,
                     uas_port: int, auth: str) -> None:
        rate = self.o.setup_rate
        calls = int(rate * self.o.setup_duration)
        uac, _ = self._uac(office=office, scenario=scenario, rate=rate, calls=calls,
                           hold_ms=self.o.hold_ms, uas_port=uas_port, trace_msg=True)
        result = SetupResult(auth=auth, rate=rate, calls=calls, command=" ".join(uac.argv))
        self._say(f"setup time: {calls} calls at {rate:g}/s ({auth} caller auth)")
        cpu0 = cpu_seconds(pbx.pid) if pbx else 0.0
        uac.start()
        uac.wait(calls / rate + self.o.hold_ms / 1000 + 60)
        cpu1 = cpu_seconds(pbx.pid) if pbx else 0.0
        counts = call_counts(read_stat(self.workdir / f"{uac.name}.stat.csv"))
        times = read_setup_times(self.workdir / f"{uac.name}.messages.log")
        rtd = [ms for _, ms in read_rtt(self.workdir, scenario, uac.pid)]
        result.answered = len(times)
        result.failed = counts.failed
        result.p50_ms = percentile(times, 50)
        result.p95_ms = percentile(times, 95)
        result.p99_ms = percentile(times, 99)
        result.max_ms = max(times) if times else float("nan")
        result.rtd_p95_ms = percentile(rtd, 95)
        if pbx and counts.created:
            result.pbx_cpu_ms_per_call = (cpu1 - cpu0) * 1000 / counts.created
        result.meets_target = result.p95_ms <= TARGET_SETUP_P95_MS and result.failed == 0
        self.report.setup.append(result)
        self._say(f"  p50 {result.p50_ms:.2f} ms, p95 {result.p95_ms:.2f} ms, "
                  f"max {result.max_ms:.2f} ms, failed {result.failed}")
        time.sleep(STEP_PAUSE_S)

    def _rate_phase(self, pbx: PbxProcess | None, office: LoadOffice, scenario: str,
                    uas_port: int, uas: SippProcess, auth: str) -> None:
        for rate in self.o.rates:
            step = self._rate_step(pbx, office, scenario, uas_port, uas, auth, rate)
            self.report.rate.append(step)
            verdict = "pass" if step.passed else f"FAIL ({step.why_failed})"
            self._say(
                f"  {rate:>5g}/s: {step.created} calls, {step.failed} failed, "
                f"reached {step.achieved_cps:.0f}/s, set-up p95 {step.setup_p95_ms:.0f} ms, "
                f"PBX {step.pbx_cpu_ms_per_call:.2f} ms CPU/call, busiest second "
                f"{step.pbx_busiest_second:.0%} → {verdict}")
            if pbx is not None and not pbx.alive():
                self.report.errors.append(f"the PBX died during the {rate:g}/s step\n"
                                          + pbx.describe())
                break
            if not step.passed and not self.o.keep_going:
                break
            time.sleep(STEP_PAUSE_S)
        # The highest rate that passed with every lower rate passing too.
        best = 0.0
        for step in sorted((s for s in self.report.rate if s.auth == auth), key=lambda s: s.rate):
            if not step.passed:
                break
            best = step.rate
        self.report.max_sustained_cps[auth] = best

    def _rate_step(self, pbx: PbxProcess | None, office: LoadOffice, scenario: str,
                   uas_port: int, uas: SippProcess, auth: str, rate: float) -> RateStep:
        calls = max(1, int(rate * self.o.step))
        uac, _ = self._uac(office=office, scenario=scenario, rate=rate, calls=calls,
                           hold_ms=self.o.hold_ms, uas_port=uas_port)
        step = RateStep(auth=auth, rate=rate, calls=calls, hold_ms=self.o.hold_ms,
                        command=" ".join(uac.argv))
        cpu0 = cpu_seconds(pbx.pid) if pbx else 0.0
        t0 = time.monotonic()
        uac.start()
        pids = {"uac": uac.pid, "uas": uas.pid} | ({"pbx": pbx.pid} if pbx else {})
        with CpuSampler(pids) as sampler:
            step.sipp_exit = uac.wait(calls / rate + self.o.hold_ms / 1000 + 60)
        t1 = time.monotonic()
        cpu1 = cpu_seconds(pbx.pid) if pbx and pbx.alive() else cpu0
        counts = call_counts(read_stat(self.workdir / f"{uac.name}.stat.csv"))
        rtt = read_rtt(self.workdir, scenario, uac.pid)
        step.created, step.successful = counts.created, counts.successful
        step.failed = counts.failed
        step.failed_by = counts.failed_by
        step.retransmissions = counts.retransmissions
        step.wall_s = t1 - t0
        setup = [ms for _, ms in rtt]
        if len(rtt) >= 2:
            span_s = (rtt[-1][0] - rtt[0][0]) / 1000.0
            step.achieved_cps = (len(rtt) - 1) / span_s if span_s > 0 else 0.0
            step.setup_p50_ms = percentile(setup, 50)
            step.setup_p95_ms = percentile(setup, 95)
            step.setup_max_ms = max(setup)
            third = max(1, len(rtt) // 3)
            first = percentile([ms for _, ms in rtt[:third]], 50)
            last = percentile([ms for _, ms in rtt[-third:]], 50)
            step.setup_p50_first_third_ms, step.setup_p50_last_third_ms = first, last
            # A queue that grows moves the median; a stall now and then only the tail, which
            # the ceiling bounds.
            step.setup_bounded = (last <= max(2 * first, first + SETUP_GROWTH_MS)
                                  and step.setup_p95_ms <= SETUP_P95_CEILING_MS)
        if pbx is not None:
            step.pbx_cpu_s = cpu1 - cpu0
            if counts.created:
                step.pbx_cpu_ms_per_call = step.pbx_cpu_s * 1000 / counts.created
            step.pbx_mean_utilisation = step.pbx_cpu_s / step.wall_s if step.wall_s else 0.0
            step.pbx_busiest_second = sampler.busiest("pbx")
            step.cpu_bound = step.pbx_busiest_second >= CPU_BOUND_UTILISATION
        step.uac_busiest_second = sampler.busiest("uac")
        step.uas_busiest_second = sampler.busiest("uas")
        reasons = []
        if counts.created < calls:
            reasons.append(f"only {counts.created}/{calls} calls placed")
        if counts.failure_ratio >= MAX_FAILURE_RATIO:
            reasons.append(f"{counts.failure_ratio:.2%} failed")
        if step.achieved_cps < MIN_RATE_REACHED * rate:
            reasons.append(f"rate reached {step.achieved_cps:.0f}/s")
        if not step.setup_bounded:
            if step.setup_p95_ms > SETUP_P95_CEILING_MS:
                reasons.append(f"set-up p95 {step.setup_p95_ms:.0f} ms > "
                               f"{SETUP_P95_CEILING_MS:g} ms")
            else:
                reasons.append(f"set-up time grew (median {step.setup_p50_first_third_ms:.0f} → "
                               f"{step.setup_p50_last_third_ms:.0f} ms)")
        step.passed = not reasons
        step.why_failed = "; ".join(reasons)
        return step

    def _media_phase(self) -> None:
        uas_port = free_port(CALLEE_HOST)
        office = self._office(False, uas_port)
        write_injection(self.workdir / "callees.csv", office.extensions())
        make_tone(self.workdir, seconds=30)
        pbx = self._start_pbx(office, "media")
        uas = self._start_uas(uas_port, echo=True)
        try:
            for n in self.o.concurrency:
                if n > office.callee_count:
                    self.report.errors.append(f"{n} concurrent calls need --callees ≥ {n}")
                    continue
                result = self._media_run(pbx, office, uas_port, uas, n)
                self.report.media.append(result)
                self._say(
                    f"  {n:>4} calls: {result.us_per_packet:.1f} µs CPU per relayed packet "
                    f"({result.packets_used} packets in {result.window_s:.1f} s, "
                    f"{result.utilisation:.0%} of a core), peak RSS {result.peak_rss_mb:.1f} MB,"
                    f" {result.failed} failed calls" + ("" if result.valid else
                                                        f" — INVALID: {result.note}"))
                if pbx is not None and not pbx.alive():
                    self.report.errors.append("the PBX died in the media phase\n"
                                              + pbx.describe())
                    break
                time.sleep(STEP_PAUSE_S)
        finally:
            uas.stop()
            self._stop_pbx(pbx, "media")

    def _media_run(self, pbx: PbxProcess | None, office: LoadOffice, uas_port: int,
                   uas: SippProcess, n: int) -> MediaResult:
        rate = self.o.media_rate
        ramp_s = n / rate
        window_s = self.o.window
        hold_ms = int((ramp_s + MEDIA_SETTLE_S + window_s + MEDIA_TAIL_S) * 1000)
        uac, media_port = self._uac(office=office, scenario="media_uac.xml", rate=rate, calls=n,
                                    hold_ms=hold_ms, uas_port=uas_port, limit=n + 10)
        result = MediaResult(concurrent=n, command=" ".join(uac.argv))
        self._say(f"media: {n} concurrent calls with G.711 both ways "
                  f"({window_s:g} s measured after {ramp_s + MEDIA_SETTLE_S:.1f} s)")
        if pbx is not None:
            reset_peak_rss(pbx.pid)
        uac.start()
        pids = {"uac": uac.pid, "uas": uas.pid} | ({"pbx": pbx.pid} if pbx else {})
        time.sleep(ramp_s + MEDIA_SETTLE_S)
        host = office.caller_host
        drops0 = udp_socket_drops(host, media_port)
        cpu0 = cpu_seconds(pbx.pid) if pbx else 0.0
        t0 = time.monotonic()
        with CpuSampler(pids, interval_s=1.0) as sampler:
            time.sleep(window_s)
            cpu1 = cpu_seconds(pbx.pid) if pbx else 0.0
            t1 = time.monotonic()
            drops1 = udp_socket_drops(host, media_port)
        if pbx is not None:
            mem = memory(pbx.pid)
            result.rss_mb, result.peak_rss_mb = mem.rss_mb, mem.peak_rss_mb
        uac.wait(hold_ms / 1000 + 60)
        counts = call_counts(read_stat(self.workdir / f"{uac.name}.stat.csv"))
        result.created, result.failed, result.failed_by = (counts.created, counts.failed,
                                                           counts.failed_by)
        result.window_s = t1 - t0
        result.pbx_cpu_s = cpu1 - cpu0
        result.utilisation = result.pbx_cpu_s / result.window_s
        result.uac_cpu_utilisation = sampler.used_s("uac") / result.window_s
        result.uas_cpu_utilisation = sampler.used_s("uas") / result.window_s
        result.packets_nominal = int(n * PACKETS_PER_CALL_S * result.window_s)
        if drops0 is not None and drops1 is not None and drops1 > drops0:
            # B→A packets that reached the caller; A→B went the other way (echoed 1:1).
            result.packets_measured = 2 * (drops1 - drops0)
        measured = result.packets_measured
        # Trust the counter only when it is plausible (the buffer may not have been full).
        if measured is not None and 0.5 * result.packets_nominal <= measured <= (
                1.05 * result.packets_nominal):
            result.packets_used = measured
        else:
            result.packets_used = result.packets_nominal
        if pbx is not None and result.packets_used:
            result.us_per_packet = result.pbx_cpu_s * 1e6 / result.packets_used
            result.cpu_per_call_pct = result.utilisation * 100 / n
        notes = []
        if counts.failed:
            notes.append(f"{counts.failed} of {counts.created} calls failed")
        if measured is None or measured < 0.5 * result.packets_nominal:
            notes.append("the caller's RTP socket counted no (or too few) packets coming back: "
                         "media did not flow through both ways")
        result.valid = not notes
        result.note = "; ".join(notes)
        return result

    def _say(self, text: str) -> None:
        if not self.o.silent:
            print(text, file=sys.stderr, flush=True)


# --- report ------------------------------------------------------------------------------------

def _f(value: float, fmt: str = ".1f") -> str:
    return "—" if value != value else format(value, fmt)  # NaN → dash


def render(report: Report, top: int = 15) -> str:
    m = report.machine
    lines = [
        "Switchbox SIP load benchmark (bench/sip_load)",
        f"date {report.started}; {m['nproc']} × {m['cpu_model']}; kernel {m['kernel']}; "
        f"Python {m['python']}; {m['sipp']}; load average at start {m['loadavg_at_start']}",
        f"run directory: {report.workdir}",
        "",
    ]
    if report.options.get("direct"):
        lines += ["NO PBX (--direct): SIPp UAC calls the UAS itself; this checks the harness and "
                  "shows the load generator's own floor, not Switchbox.", ""]
    if report.setup:
        lines.append(f"Call set-up time (INVITE sent → 200 OK received at the UAC; target p95 ≤ "
                     f"{TARGET_SETUP_P95_MS:g} ms)")
        lines.append("  caller auth | rate/s | answered | failed | p50 ms | p95 ms | p99 ms | "
                     "max ms | PBX CPU ms/call | target")
        for s in report.setup:
            lines.append(
                f"  {s.auth:<11} | {s.rate:>6g} | {s.answered:>8} | {s.failed:>6} | "
                f"{_f(s.p50_ms, '.2f'):>6} | {_f(s.p95_ms, '.2f'):>6} | {_f(s.p99_ms, '.2f'):>6} |"
                f" {_f(s.max_ms, '.2f'):>6} | {_f(s.pbx_cpu_ms_per_call, '.2f'):>15} | "
                f"{'met' if s.meets_target else 'MISSED'}")
        lines.append("")
    if report.rate:
        lines.append(f"Call rate (short calls, {report.rate[0].hold_ms} ms hold; pass: < "
                     f"{MAX_FAILURE_RATIO:.1%} failed, ≥ {MIN_RATE_REACHED:.0%} of the rate, "
                     f"set-up median not growing and p95 ≤ {SETUP_P95_CEILING_MS:g} ms; "
                     f"target ≥ {TARGET_CPS:g}/s)")
        lines.append("  auth   | asked/s | reached/s | calls | failed | set-up p50/p95/max ms |"
                     " PBX CPU ms/call | PBX mean/busiest s | CPU-bound | UAC/UAS busiest | "
                     "verdict")
        for r in report.rate:
            lines.append(
                f"  {r.auth:<6} | {r.rate:>7g} | {r.achieved_cps:>9.0f} | {r.created:>5} | "
                f"{r.failed:>6} | {_f(r.setup_p50_ms, '.0f'):>4}/{_f(r.setup_p95_ms, '.0f')}/"
                f"{_f(r.setup_max_ms, '.0f'):<11} | {_f(r.pbx_cpu_ms_per_call, '.2f'):>15} | "
                f"{r.pbx_mean_utilisation:>6.0%}/{r.pbx_busiest_second:<6.0%}     | "
                f"{'yes' if r.cpu_bound else 'no':<9} | {r.uac_busiest_second:>4.0%}/"
                f"{r.uas_busiest_second:<4.0%}      | "
                + ("pass" if r.passed else f"FAIL: {r.why_failed}"))
            if r.failed_by:
                lines.append(f"           failures by reason: {r.failed_by}")
        for auth, best in report.max_sustained_cps.items():
            tried = max(r.rate for r in report.rate if r.auth == auth)
            ceiling = " — the highest rate tried, so possibly more" if best == tried else ""
            lines.append(f"  → highest sustained rate ({auth} caller auth): {best:g} calls/s "
                         f"({'meets' if best >= TARGET_CPS else 'MISSES'} the target of "
                         f"{TARGET_CPS:g}/s{ceiling})")
        lines.append("")
    if report.media:
        lines.append(f"Media relay through the PBX (G.711 20 ms, {PACKETS_PER_CALL_S} packets/s "
                     f"per call; targets ≤ {TARGET_US_PER_PACKET:g} µs/packet, ≤ "
                     f"{TARGET_RSS_MB:g} MB RSS at 200 calls)")
        lines.append("  calls | window s | packets (nominal/counted) | PBX CPU | µs/packet | "
                     "% core per call | RSS / peak MB | failed calls | UAC/UAS CPU")
        for run in report.media:
            counted = "—" if run.packets_measured is None else str(run.packets_measured)
            lines.append(
                f"  {run.concurrent:>5} | {run.window_s:>8.1f} | "
                f"{run.packets_nominal:>9}/{counted:<15} |"
                f" {run.utilisation:>6.0%} | {_f(run.us_per_packet):>9} | "
                f"{_f(run.cpu_per_call_pct, '.3f'):>15} | "
                f"{run.rss_mb:>5.1f} / {run.peak_rss_mb:<5.1f} |"
                f" {run.failed:>12} | {run.uac_cpu_utilisation:.0%}/{run.uas_cpu_utilisation:.0%}"
                + ("" if run.valid else f"  INVALID: {run.note}"))
        lines.append("")
    if report.pbx_start_s:
        lines.append(f"PBX start-up (process start → ready line) took "
                     f"{', '.join(f'{s:g}' for s in report.pbx_start_s)} s")
    lines.append("Commands")
    for cmd in dict.fromkeys(report.pbx_commands):
        lines.append(f"  PBX: {cmd}")
    for cmd in dict.fromkeys(report.uas_commands):
        lines.append(f"  UAS: {cmd}")
    shown: set[str] = set()
    for kind, items in (("setup", report.setup), ("rate", report.rate), ("media", report.media)):
        for item in items:
            if kind not in shown or kind == "rate" and item is items[-1]:
                lines.append(f"  UAC ({kind}): {item.command}")
                shown.add(kind)
    for phase, warnings in report.pbx_warnings.items():
        if warnings:
            lines.append(f"PBX warnings/errors in {phase} (by shape, count):")
            lines += [f"  {count:>6} × {text}" for text, count in warnings.items()]
    for phase, path in report.profiles.items():
        lines.append(f"Profile of the PBX in {phase} ({path}; cProfile inflates every figure):")
        lines += ["  " + ln for ln in profile_summary(Path(path), top).splitlines()]
    for error in report.errors:
        lines.append("ERROR: " + error)
    return "\n".join(lines)


def profile_summary(path: Path, top: int) -> str:
    """The top functions by own time, then the firmware's by cumulative time."""
    import io

    parts = []
    views = (("tottime", (), "by own time"),
             ("cumulative", ("firmware",), "firmware, by cumulative time"))
    for order, restriction, title in views:
        out = io.StringIO()
        stats = pstats.Stats(str(path), stream=out)
        stats.sort_stats(order).print_stats(*restriction, top)
        text = out.getvalue()
        start = text.find("   ncalls")
        body = text[start:].rstrip() if start >= 0 else text.rstrip()
        parts.append(f"-- {title}\n" + body.replace(str(ROOT) + "/", ""))
    return "\n".join(parts)


def _numbers(text: str, kind: type = float) -> list[Any]:
    return [kind(x) for x in text.split(",") if x.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/sip_load", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--phases", type=lambda s: s.split(","), default=["setup", "rate", "media"],
                   help="comma-separated: setup, rate, media (default: all)")
    p.add_argument("--rates", type=_numbers, default=[50, 100, 200, 300, 400, 500, 600],
                   help="call rates of the ramp, calls/s (default 50,100,200,300,400,500,600)")
    p.add_argument("--step", type=float, default=10.0, help="seconds per rate step (10)")
    p.add_argument("--hold-ms", type=int, default=1000, help="hold time of short calls (1000)")
    p.add_argument("--keep-going", action="store_true",
                   help="run every rate even after a failed step")
    p.add_argument("--setup-rate", type=float, default=100.0, help="rate of the set-up phase")
    p.add_argument("--setup-duration", type=float, default=10.0,
                   help="seconds of the set-up phase (10)")
    p.add_argument("--concurrency", type=lambda s: _numbers(s, int), default=[50, 100, 200],
                   help="concurrent media calls, comma-separated (50,100,200)")
    p.add_argument("--window", type=float, default=15.0,
                   help="measured seconds of each media run (15)")
    p.add_argument("--media-rate", type=float, default=100.0,
                   help="rate at which media calls are placed (100/s)")
    p.add_argument("--callees", type=int, default=1000,
                   help="callee users configured, extensions 3000… (1000)")
    p.add_argument("--auth", choices=["none", "digest", "both"], default="none",
                   help="caller authentication for the call phases: none (trusted by address),"
                        " digest (407 challenge answered), both")
    p.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop",
                   help="the PBX's event loop (uvloop)")
    p.add_argument("--pbx-log-level", default="warning",
                   choices=["debug", "info", "warning", "error"],
                   help="the PBX's --log-level (warning; info costs CPU per call)")
    p.add_argument("--profile", metavar="DIR",
                   help="run the PBX under cProfile, one .pstats per phase in DIR")
    p.add_argument("--pbx-root", metavar="DIR",
                   help="run the PBX from another checkout (its firmware/ is imported first; "
                        "default: this repository)")
    p.add_argument("--kernel-forwarding", choices=["on", "off"], default="on",
                   help="sip.kernel_forwarding of the PBX (on, the product's default: calls "
                        "held over 1 s have their media forwarded by the kernel, whose work "
                        "the PBX's CPU figures then leave out; see bench/rtp_relay)")
    p.add_argument("--direct", action="store_true",
                   help="no PBX: the UAC calls the UAS directly (checks the harness)")
    p.add_argument("--quick", action="store_true", help="a smoke run under 60 s")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--keep", action="store_true", help="keep the run directory")
    p.add_argument("--silent", action="store_true", help="no progress lines on stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    opts = build_parser().parse_args(argv)
    if opts.quick:
        opts.rates = [r for r in opts.rates if r in (50, 200)] or [50, 200]
        opts.step = min(opts.step, 4.0)
        opts.setup_duration = min(opts.setup_duration, 4.0)
        opts.concurrency = [min(opts.concurrency)]
        opts.window = min(opts.window, 4.0)
        opts.callees = min(opts.callees, 300)
    for tool in ("sipp", "sox"):
        if shutil.which(tool) is None:
            print(f"bench/sip_load needs {tool} on PATH", file=sys.stderr)
            return 2
    workdir = Path(tempfile.mkdtemp(prefix="sip_load-"))
    bench = Bench(opts, workdir)
    started = time.monotonic()
    code = 0
    try:
        report = bench.run()
    except (PbxError, SippError) as exc:
        bench.report.errors.append(str(exc))
        report = bench.report
        code = 1
    except KeyboardInterrupt:
        report = bench.report
        report.errors.append("interrupted")
        code = 130
    report.options["elapsed_s"] = round(time.monotonic() - started, 1)
    print(render(report))
    if opts.json:
        Path(opts.json).write_text(json.dumps(asdict(report), indent=2, default=str) + "\n")
    if opts.keep or code:
        print(f"(run directory kept: {workdir})", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return code
