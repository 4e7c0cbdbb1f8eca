"""A synthetic analog line for echo-canceller tests: hybrid echo path, G.711 codec, levels.

The echo path is derived from circuit theory, not from the canceller: a 2-wire line of impedance
Z_line meets a hybrid balanced for Z_bal, so the transhybrid echo is
H(f) = (Z_line − Z_bal) / (Z_line + Z_bal) (e.g. ETSI TBR 21's 270 Ω + 750 Ω ∥ 150 nF against a
600 Ω balance gives ≈ 11 dB ERL). The SLIC codec's band filters (4th-order high-pass at 200 Hz,
6th-order low-pass at 3.5 kHz, Butterworth, mapped to 8 kHz by the bilinear transform) and a
bulk delay (the PCM path and the far side of a long loop) complete it. The response is scaled to
the wanted ERL (on white noise) and kept as a FIR of the canceller's tail length, like the
G.168 echo path models (bulk delay, then a few milliseconds of dispersion).

The near end is quantised to G.711 µ-law and back by sox (an implementation independent of
ours), as the SLIC's codec does; that quantisation noise (≈ 38 dB below the signal) bounds the
achievable ERLE.

Levels: a full-scale int16 sine is +3.17 dBm0, so 0 dBm0 has RMS 22776 / √2.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from firmware.media.dsp.echo import EchoCanceller

RATE_HZ = 8000
FRAME = 160
TOOL_TIMEOUT_S = 60
DBM0_RMS = 22776.0 / np.sqrt(2.0)

Signal = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Line:
    """Z_line = r1_ohm + (r2_ohm ∥ c_farad); the hybrid is balanced for balance_ohm."""

    r1_ohm: float
    r2_ohm: float
    c_farad: float
    balance_ohm: float


TBR21_ON_600 = Line(270.0, 750.0, 150e-9, 600.0)
"""European complex line impedance on a 600 Ω hybrid."""
LONG_LOOP_ON_600 = Line(100.0, 1000.0, 220e-9, 600.0)
"""A long cable loop (more capacitance) on a 600 Ω hybrid."""
RESISTIVE_ON_TBR21_ISH = Line(600.0, 1e6, 1e-12, 820.0)
"""A nearly resistive 600 Ω line on an 820 Ω balance: flat, mostly real echo."""


def _butterworth_poles(order: int) -> npt.NDArray[np.complex128]:
    k = np.arange(1, order + 1)
    return np.exp(1j * np.pi * (2 * k + order - 1) / (2 * order))


def hybrid_echo_path(
    bulk_delay_ms: float,
    erl_db: float,
    line: Line = TBR21_ON_600,
    taps: int = 256,
    rate_hz: int = RATE_HZ,
) -> Signal:
    """Impulse response (`taps` long) of the hybrid echo at `erl_db` below the far end."""
    nfft = 16384
    w = np.linspace(0.0, np.pi, nfft // 2 + 1)
    w[0] = 1e-9
    w[-1] = np.pi - 1e-9
    s = 1j * 2.0 * rate_hz * np.tan(w / 2.0)  # bilinear transform: analog s at digital ω
    z_line = line.r1_ohm + line.r2_ohm / (1.0 + s * line.r2_ohm * line.c_farad)
    h = (z_line - line.balance_ohm) / (z_line + line.balance_ohm)
    wc_high = 2 * np.pi * 200.0
    wc_low = 2 * np.pi * 3500.0
    h = h / np.prod(wc_high / s[:, None] - _butterworth_poles(4)[None, :], axis=1)
    h = h / np.prod(s[:, None] / wc_low - _butterworth_poles(6)[None, :], axis=1)
    h = h * np.exp(-1j * w * bulk_delay_ms * rate_hz / 1000.0)
    full = np.fft.irfft(h, nfft)
    response = full[:taps]
    lost = float(np.sum(full[taps:] ** 2) / np.sum(full**2))
    assert lost < 1e-3, f"echo path longer than {taps} taps ({10 * np.log10(lost):.1f} dB)"
    return response * (10 ** (-erl_db / 20.0) / np.sqrt(np.sum(response**2)))


def at_level(signal: npt.ArrayLike, level_dbm0: float) -> Signal:
    """`signal` scaled so its RMS over non-silent samples is `level_dbm0`."""
    x = np.asarray(signal, dtype=np.float64)
    active = x[np.abs(x) > 1e-3 * np.max(np.abs(x))]
    return x * (DBM0_RMS * 10 ** (level_dbm0 / 20.0) / np.sqrt(np.mean(active**2)))


def to_int16(signal: Signal) -> npt.NDArray[np.int16]:
    return np.clip(np.rint(signal), -32768, 32767).astype(np.int16)


def ulaw_round_trip(signal: Signal) -> npt.NDArray[np.int16]:
    """`signal` encoded to G.711 µ-law and decoded again, by sox (no dither)."""
    raw = ["-t", "raw", "-r", str(RATE_HZ), "-c", "1"]
    encoded = subprocess.run(
        [
            "sox",
            "-D",
            *raw,
            "-e",
            "signed-integer",
            "-b",
            "16",
            "-",
            *raw,
            "-e",
            "u-law",
            "-b",
            "8",
            "-",
        ],
        input=to_int16(signal).astype("<i2").tobytes(),
        capture_output=True,
        check=True,
        timeout=TOOL_TIMEOUT_S,
    ).stdout
    decoded = subprocess.run(
        [
            "sox",
            "-D",
            *raw,
            "-e",
            "u-law",
            "-b",
            "8",
            "-",
            *raw,
            "-e",
            "signed-integer",
            "-b",
            "16",
            "-",
        ],
        input=encoded,
        capture_output=True,
        check=True,
        timeout=TOOL_TIMEOUT_S,
    ).stdout
    return np.frombuffer(decoded, dtype="<i2").astype(np.int16)


def sox_noise(kind: str, seconds: float, level_dbm0: float, seed: int) -> Signal:
    """White or pink noise from sox's synth at `level_dbm0`."""
    out = subprocess.run(
        [
            "sox",
            "-D",
            "-R",
            "-n",
            "-t",
            "raw",
            "-r",
            str(RATE_HZ),
            "-e",
            "signed-integer",
            "-b",
            "16",
            "-c",
            "1",
            "-",
            "synth",
            str(seconds),
            kind,
            "vol",
            "0.3",
        ],
        capture_output=True,
        check=True,
        timeout=TOOL_TIMEOUT_S,
    ).stdout
    noise = np.frombuffer(out, dtype="<i2").astype(np.float64)
    # sox -R makes it repeatable; different seeds get different stretches of one long run.
    return at_level(np.roll(noise, seed * 1231), level_dbm0)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One channel: what we send, the echo path(s), and what the line adds (near speech, noise).

    `path_after` replaces `path` from `change_at_s` on (the line changed).
    """

    far: Signal
    path: Signal
    near_speech: Signal | None = None
    line_noise_dbm0: float | None = -65.0
    path_after: Signal | None = None
    change_at_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Run:
    """Signals of one channel after a run, all the same length (whole frames)."""

    far: Signal
    echo: Signal
    near_speech: Signal
    line_noise: Signal
    near: npt.NDArray[np.int16]
    out: npt.NDArray[np.int16]
    erle_estimates_db: Signal  # the canceller's own estimate after each frame


def line_signals(scenario: Scenario, samples: int, seed: int) -> tuple[Signal, Signal, Signal]:
    """(far, echo, near speech) of `scenario`, `samples` long."""
    far = np.zeros(samples)
    far[: min(samples, scenario.far.size)] = scenario.far[:samples]
    far = to_int16(far).astype(np.float64)
    echo = np.convolve(far, scenario.path)[:samples]
    if scenario.path_after is not None:
        change = int(scenario.change_at_s * RATE_HZ)
        echo[change:] = np.convolve(far, scenario.path_after)[change:samples]
    near_speech = np.zeros(samples)
    if scenario.near_speech is not None:
        near_speech[: scenario.near_speech.size] = scenario.near_speech[:samples]
    return far, echo, near_speech


def run_channels(
    scenarios: list[Scenario],
    seconds: float,
    canceller: EchoCanceller | None = None,
    nlp: bool = False,
) -> list[Run]:
    """Feed every scenario as one channel of one canceller, frame by frame, as the box does."""
    samples = int(seconds * RATE_HZ) // FRAME * FRAME
    ec = canceller if canceller is not None else EchoCanceller(len(scenarios), nlp=nlp)
    fars, echoes, speeches, noises, nears = [], [], [], [], []
    for seed, scenario in enumerate(scenarios):
        far, echo, near_speech = line_signals(scenario, samples, seed)
        noise = np.zeros(samples)
        if scenario.line_noise_dbm0 is not None:
            rms = DBM0_RMS * 10 ** (scenario.line_noise_dbm0 / 20)
            noise = np.random.default_rng(seed).normal(0, rms, samples)
        fars.append(far)
        echoes.append(echo)
        speeches.append(near_speech)
        noises.append(noise)
        nears.append(ulaw_round_trip(echo + near_speech + noise))
    far_block = to_int16(np.stack(fars))
    near_block = np.stack(nears)
    out = np.empty_like(near_block)
    estimates = np.empty((len(scenarios), samples // FRAME))
    for i in range(samples // FRAME):
        frame = slice(i * FRAME, (i + 1) * FRAME)
        out[:, frame] = ec.process(far_block[:, frame], near_block[:, frame])
        estimates[:, i] = ec.erle_db()
    return [
        Run(fars[c], echoes[c], speeches[c], noises[c], near_block[c], out[c], estimates[c])
        for c in range(len(scenarios))
    ]


def seconds(t: float) -> int:
    return int(t * RATE_HZ)


def erle_db(run: Run, start_s: float, stop_s: float, *, with_noise: bool = False) -> float:
    """Echo over what is left of it in the output, between two instants, in dB.

    What is left is the output minus the near-end speech and the line noise (which a linear
    canceller passes untouched): residual echo and µ-law noise. `with_noise` leaves the line
    noise in (for the NLP, which replaces it). Only frames where the far end speaks (above
    −30 dBm0) count: no echo, nothing to enhance.
    """
    a, b = seconds(start_s), seconds(stop_s)
    echo = run.echo[a:b].reshape(-1, FRAME)
    left = run.out[a:b].astype(np.float64) - run.near_speech[a:b]
    if not with_noise:
        left = left - run.line_noise[a:b]
    left = left.reshape(-1, FRAME)
    far = run.far[a:b].reshape(-1, FRAME)
    active = np.mean(far**2, axis=1) > (DBM0_RMS * 10 ** (-30 / 20)) ** 2
    if not active.any():
        return float("inf")
    return float(10 * np.log10(np.sum(echo[active] ** 2) / max(np.sum(left[active] ** 2), 1e-9)))


def level_dbm0(signal: npt.ArrayLike) -> float:
    x = np.asarray(signal, dtype=np.float64)
    return float(10 * np.log10(max(np.mean(x**2), 1e-12) / DBM0_RMS**2))


def convergence_time_s(run: Run, target_db: float, window_s: float = 0.5) -> float:
    """First instant from which every later `window_s` window reaches `target_db` of ERLE."""
    duration = run.out.size / RATE_HZ
    starts = np.arange(0.0, duration - window_s + 1e-9, 0.1)
    ok = [erle_db(run, t, t + window_s) >= target_db for t in starts]
    for i in range(len(ok)):
        if all(ok[i:]):
            return float(starts[i])
    return float("inf")
