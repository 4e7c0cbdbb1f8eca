"""CPU cost of the analog media engine (firmware.media.bridge) per 20 ms tick, 32 ports.

Run: .venv/bin/python bench/bridge_bench.py [--ports 32]

Every port is connected to RTP (PCMU, RFC 4733 negotiated), ports paired 0↔1, 2↔3, … through
memory: each tick's datagrams are handed to the peer port's `receive` before the next tick, so
every port encodes, sends, receives, jitter-buffers, decodes and conceals every frame. The lines
carry −18 dBm0 noise (every echo canceller adapts, the DTMF receiver sees speech-like energy),
the worst steady case. Prints the best of RUNS runs of CALLS ticks (short runs, so the best one
misses other load on a shared host) for the whole tick (receive + tick) and, for comparison,
its two batched DSP blocks alone (EchoCanceller.process, DtmfReceiver.process).
"""

from __future__ import annotations

import argparse
import random
import timeit

import numpy as np

from firmware.media.bridge import AnalogMediaEngine
from firmware.media.codecs.codec import Encoding
from firmware.media.dsp.dtmf import DtmfReceiver
from firmware.media.dsp.echo import EchoCanceller
from firmware.media.dsp.tones import RU

FRAME = 160
FRAMES = 100
RUNS = 30
CALLS = 25
WARMUP_TICKS = 100
DBM0_RMS = 22776.0 / np.sqrt(2.0)


def _lines(ports: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    noise = rng.normal(0.0, DBM0_RMS * 10 ** (-18 / 20), (FRAMES, ports, FRAME))
    return np.clip(np.rint(noise), -32768, 32767).astype(np.int16)


def _best_us(step: object) -> float:
    return min(timeit.repeat(step, number=CALLS, repeat=RUNS)) / CALLS * 1e6  # type: ignore[arg-type]


def bench_engine(ports: int) -> float:
    lines = _lines(ports)
    engine = AnalogMediaEngine(ports, tone_plan=RU, rng=random.Random(1))
    for port in range(ports):
        engine.connect(port, Encoding.PCMU, 0, 101, now=0.0)
    state = {"tick": 0, "inbox": []}

    def step() -> None:
        k = state["tick"]
        now = k * 0.02
        for port, data in state["inbox"]:  # type: ignore[attr-defined]
            engine.receive(port ^ 1, data, now)
        result = engine.tick(lines[k % FRAMES], now)
        state["inbox"] = result.packets
        state["tick"] = k + 1

    for _ in range(WARMUP_TICKS):
        step()
    return _best_us(step)


def bench_blocks(ports: int) -> tuple[float, float]:
    lines = _lines(ports)
    echo = EchoCanceller(ports)
    dtmf = DtmfReceiver(ports)
    k = [0]

    def echo_step() -> None:
        echo.process(lines[(k[0] + 1) % FRAMES], lines[k[0] % FRAMES])
        k[0] += 1

    def dtmf_step() -> None:
        dtmf.process(lines[k[0] % FRAMES])
        k[0] += 1

    return _best_us(echo_step), _best_us(dtmf_step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=32)
    args = parser.parse_args()
    ports: int = args.ports
    tick_us = bench_engine(ports)
    echo_us, dtmf_us = bench_blocks(ports)
    print(f"{ports} ports, all connected (PCMU + telephone-event), -18 dBm0 on every line")
    print(
        f"  whole tick (receive + tick):  {tick_us:8.0f} µs  = {tick_us / ports:6.1f} µs/port"
        f"  = {tick_us / 200:5.1f} % of one core"
    )
    print(f"  EchoCanceller.process alone:  {echo_us:8.0f} µs  = {echo_us / ports:6.1f} µs/port")
    print(f"  DtmfReceiver.process alone:   {dtmf_us:8.0f} µs  = {dtmf_us / ports:6.1f} µs/port")
    rest = tick_us - echo_us - dtmf_us
    print(f"  the rest (RTP, jitter, PLC, G.711): {rest:6.0f} µs  = {rest / ports:6.1f} µs/port")


if __name__ == "__main__":
    main()
