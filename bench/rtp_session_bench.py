"""Micro-benchmark of the receive path of a call leg: µs per RTP packet, stage by stage.

One synthetic G.711 stream (20 ms frames, 0–40 ms uniform network jitter, 2 % loss, 2 %
reordering) is generated up front; then each stage runs alone over the same input, and finally
all together, so the figures are the pure CPU cost of:

* `parse_rtp`            — header parse (firmware/media/rtp.py), for scale;
* `receiver`             — RtpReceiver.receive: RFC 3550 A.1/A.8 statistics;
* `jitter buffer`        — JitterBuffer.put per packet + JitterBuffer.get per 20 ms tick;
* `plc frame`            — G711Plc.good / .conceal per 20 ms frame (160 samples);
* `pipeline`             — all of the above per packet, as a leg would run them.

    .venv/bin/python bench/rtp_session_bench.py               # 20 000 packets (400 s of audio)
    .venv/bin/python bench/rtp_session_bench.py --packets 5000 --json

At 50 packets/s per call, X µs per packet costs X · 50 µs of CPU per second per call direction.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmware.media.dsp.plc import G711Plc  # noqa: E402
from firmware.media.jitter import JitterBuffer, PlayoutKind  # noqa: E402
from firmware.media.rtp import RtpHeader, build_rtp, parse_rtp, rtp_payload  # noqa: E402
from firmware.media.rtp_session import RtpReceiver  # noqa: E402

FRAME_S = 0.020


def make_stream(packets: int, seed: int) -> tuple[list[tuple[float, int, bytes]], int]:
    """Events in time order: (time, 0, packet bytes) arrivals and (time, 1, b"") ticks."""
    rng = random.Random(seed)
    events: list[tuple[float, int, bytes]] = []
    payload = bytes(160)
    for i in range(packets):
        if rng.random() < 0.02:
            continue
        delay = 0.010 + rng.uniform(0.0, 0.040) + (FRAME_S if rng.random() < 0.02 else 0.0)
        header = RtpHeader(0, (1000 + i) & 0xFFFF, (5000 + 160 * i) & 0xFFFF_FFFF, 0xCAFE)
        events.append((i * FRAME_S + delay, 0, build_rtp(header, payload)))
    ticks = packets + 10
    events.extend((0.007 + k * FRAME_S, 1, b"") for k in range(ticks))
    heapq.heapify(events)
    ordered = [heapq.heappop(events) for _ in range(len(events))]
    arrivals = sum(1 for _, kind, _ in ordered if kind == 0)
    return ordered, arrivals


def bench(packets: int, seed: int) -> dict[str, float]:
    events, arrivals = make_stream(packets, seed)
    frame = (np.sin(np.arange(160) * 0.3) * 8000).astype(np.int16)

    arrival_data = [(now, data) for now, kind, data in events if kind == 0]
    t0 = time.perf_counter()
    headers = [(now, parse_rtp(data), data) for now, data in arrival_data]
    parse_us = (time.perf_counter() - t0) / arrivals * 1e6

    receiver = RtpReceiver()
    t0 = time.perf_counter()
    for now, header, _ in headers:
        receiver.receive(header, now)
    receiver_us = (time.perf_counter() - t0) / arrivals * 1e6

    parsed = iter(headers)
    jb_events = [(now, kind, next(parsed) if kind == 0 else None) for now, kind, _ in events]
    jitter = JitterBuffer()
    kinds: list[PlayoutKind] = []
    t0 = time.perf_counter()
    for now, _kind, item in jb_events:
        if item is not None:
            jitter.put(item[1], item[2], now)
        else:
            kinds.append(jitter.get(now).kind)
    jitter_us = (time.perf_counter() - t0) / arrivals * 1e6

    plc = G711Plc()
    t0 = time.perf_counter()
    for playout in kinds:
        if playout is PlayoutKind.CONCEAL:
            plc.conceal()
        else:
            plc.good(frame)
    plc_us = (time.perf_counter() - t0) / len(kinds) * 1e6
    concealed = kinds.count(PlayoutKind.CONCEAL)

    receiver = RtpReceiver()
    jitter = JitterBuffer()
    plc = G711Plc()
    silent = np.zeros(160, dtype=np.int16)
    t0 = time.perf_counter()
    for now, kind, data in events:
        if kind == 0:
            header = parse_rtp(data)
            if receiver.receive(header, now).counted:
                jitter.put(header, rtp_payload(data, header), now)
        else:
            out = jitter.get(now)
            if out.kind is PlayoutKind.AUDIO:
                plc.good(frame)  # a decoder would turn out.payload into this frame
            elif out.kind is PlayoutKind.CONCEAL:
                plc.conceal()
            else:
                plc.good(silent)
    pipeline_us = (time.perf_counter() - t0) / arrivals * 1e6

    stats = jitter.stats()
    return {
        "packets": float(arrivals),
        "parse_rtp_us": parse_us,
        "receiver_us": receiver_us,
        "jitter_buffer_us": jitter_us,
        "plc_frame_us": plc_us,
        "pipeline_us": pipeline_us,
        "concealed_frames": float(concealed),
        "late": float(stats.late),
        "target_delay_ms": stats.target_delay_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = bench(args.packets, args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{int(result['packets'])} packets, 0–40 ms jitter, 2 % loss, 2 % reordered")
    for key, label in (
        ("parse_rtp_us", "parse_rtp"),
        ("receiver_us", "receiver statistics"),
        ("jitter_buffer_us", "jitter buffer put+get"),
        ("plc_frame_us", "PLC per 20 ms frame"),
        ("pipeline_us", "pipeline per packet"),
    ):
        print(f"  {label:24s} {result[key]:7.2f} µs")
    share = result["pipeline_us"] * 50 / 1e6 * 100
    print(f"  one call direction at 50 packets/s: {share:.3f} % of a core")
    print(
        f"  jitter buffer: target {result['target_delay_ms']:.1f} ms, "
        f"{int(result['late'])} late, {int(result['concealed_frames'])} frames concealed"
    )


if __name__ == "__main__":
    main()
