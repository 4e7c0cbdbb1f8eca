"""CPU cost of the line echo canceller (firmware.media.dsp.echo) per 20 ms frame and channel.

Run: .venv/bin/python bench/echo_bench.py [--speex]

Worst case: every channel's far end talks (−18 dBm0 noise), so every channel adapts every
frame, NLP on. Prints the best of 60 runs × 25 frames (short runs, so the best one misses other
load on a shared host), wall and CPU time. The budget
(docs/PERFORMANCE.md): the whole analog path ≤ 0.5 % of a core per channel on a Raspberry Pi 4,
taken as 3× slower than the development machines: ≤ 33 µs per frame per channel here for
decode + echo cancel + DTMF + encode together.

--speex also times libspeexdsp's MDF canceller (the library alternative, through ctypes, one
call per channel and frame) when libspeexdsp.so.1 is installed, for comparison.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import time
import timeit
from collections.abc import Callable

import numpy as np

from firmware.media.dsp.echo import EchoCanceller

FRAME = 160
FRAMES = 50
RUNS = 60
CALLS = 25
DBM0_RMS = 22776.0 / np.sqrt(2.0)


def _signals(channels: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    far = rng.normal(0.0, DBM0_RMS * 10 ** (-18 / 20), (channels, FRAME * FRAMES))
    path = rng.normal(0.0, 1.0, 64) * np.exp(-np.arange(64) / 12.0)
    path *= 10 ** (-10 / 20) / np.sqrt(np.sum(path**2))
    echo = np.stack(
        [np.convolve(row, np.concatenate([np.zeros(40), path]))[: row.size] for row in far]
    )
    near = echo + rng.normal(0.0, DBM0_RMS * 10 ** (-65 / 20), echo.shape)
    return _to_int16(far), _to_int16(near)


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def _best_us(step: Callable[[], None], timer: Callable[[], float]) -> float:
    return min(timeit.repeat(step, number=CALLS, repeat=RUNS, timer=timer)) / CALLS * 1e6


def _ours(channels: int) -> tuple[float, float]:
    far, near = _signals(channels)
    ec = EchoCanceller(channels)
    frame = [0]

    def step() -> None:
        k = frame[0] % FRAMES
        frame[0] += 1
        ec.process(far[:, k * FRAME : (k + 1) * FRAME], near[:, k * FRAME : (k + 1) * FRAME])

    for _ in range(3 * FRAMES):  # past the initial phase
        step()
    return _best_us(step, time.perf_counter), _best_us(step, time.process_time)


def _speex(channels: int) -> tuple[float, float] | None:
    name = ctypes.util.find_library("speexdsp") or "libspeexdsp.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.speex_echo_state_init.restype = ctypes.c_void_p
    lib.speex_echo_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.speex_echo_cancellation.argtypes = [ctypes.c_void_p] * 4
    states = [lib.speex_echo_state_init(FRAME, 256) for _ in range(channels)]
    far, near = _signals(channels)
    out = np.empty(FRAME, np.int16)
    frame = [0]

    def step() -> None:
        k = frame[0] % FRAMES
        frame[0] += 1
        for c, state in enumerate(states):
            rec = np.ascontiguousarray(near[c, k * FRAME : (k + 1) * FRAME])
            play = np.ascontiguousarray(far[c, k * FRAME : (k + 1) * FRAME])
            lib.speex_echo_cancellation(state, rec.ctypes.data, play.ctypes.data, out.ctypes.data)

    for _ in range(3 * FRAMES):
        step()
    return _best_us(step, time.perf_counter), _best_us(step, time.process_time)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speex", action="store_true", help="also time libspeexdsp's MDF")
    args = parser.parse_args()
    rows: list[tuple[str, Callable[[int], tuple[float, float] | None]]] = [("ours", _ours)]
    if args.speex:
        rows.append(("speexdsp MDF", _speex))
    for label, bench in rows:
        for channels in (1, 32):
            result = bench(channels)
            if result is None:
                print(f"{label}: libspeexdsp not installed")
                break
            wall, cpu = result
            print(
                f"{label:13s} {channels:2d} ch: {wall:7.1f} µs/frame wall, {cpu:7.1f} CPU "
                f"= {cpu / channels:6.1f} µs per channel-frame "
                f"({cpu / channels / 20000 * 100:.3f} % of a core here, "
                f"{3 * cpu / channels / 20000 * 100:.3f} % on a Pi 4)"
            )


if __name__ == "__main__":
    main()
