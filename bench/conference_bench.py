"""CPU per 20 ms tick of a 10-party conference (firmware/media/dsp/conference.py).

Budget (issue 3): ≤ 3 % of one core for a 10-party conference, i.e. ≤ 600 µs per 20 ms tick
including G.711 decode and encode of every party.

Signals: 10 parties, of which 3 talk (speech-shaped noise bursts at −20…−26 dBm0 with syllable
gaps), the rest send line noise at −60 dBm0; the mixer sees talkers come and go, selection and
gain at work. Cases:

* mixer alone, K = 3 loudest talkers (the default) and K = all;
* the whole tick the way the media layer does it: G.711 µ-law decode of 10 payloads (one
  `ulaw_decode` per party, as RTP packets arrive), stack, mix, encode each party's output;
* the same with decode/encode as one array operation over all parties (the analog PCM bus).

CPU time is `time.process_time` over many ticks (median of repeats), so other processes on the
machine do not inflate it. G.711 is `firmware/media/codecs/g711.py`.

    .venv/bin/python bench/conference_bench.py            # 10 parties, 2 000 ticks × 5
    .venv/bin/python bench/conference_bench.py --parties 30 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from firmware.media.dsp.conference import ConferenceMixer, ConferenceSettings  # noqa: E402

N = 160
TICK_US = 20_000.0
BUDGET_US = 600.0
Codes = npt.NDArray[np.uint8]
Pcm = npt.NDArray[np.int16]

from firmware.media.codecs.g711 import ulaw_decode, ulaw_encode  # noqa: E402

CODEC_SOURCE = "firmware.media.codecs.g711"


def talkers_signal(parties: int, ticks: int, talking: int, seed: int = 1) -> Pcm:
    """(parties, ticks·N): `talking` parties with bursty speech-like noise, the rest line noise."""
    rng = np.random.default_rng(seed)
    full = 22776.0 / np.sqrt(2)  # RMS of a 0 dBm0 sine
    out = rng.normal(0.0, full * 10 ** (-60 / 20), (parties, ticks * N))
    t = np.arange(ticks * N) / 8000.0
    for p in range(talking):
        level = full * 10 ** ((-20 - 3 * p) / 20)
        syllables = (np.sin(2 * np.pi * (3.0 + 0.7 * p) * t + p) > -0.2).astype(np.float64)
        voice = rng.normal(0.0, 1.0, ticks * N)
        voice = np.convolve(voice, np.ones(6) / 6, mode="same")  # low-pass: speech-ish
        out[p] += level * syllables * voice / voice.std()
    return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


def cpu_us_per_tick(step: Callable[[int], object], ticks: int, repeats: int) -> float:
    """Median over `repeats` of CPU µs per call of step(k) for k in range(ticks)."""
    for k in range(min(ticks, 200)):  # warm-up: caches, lazy numpy dispatch
        step(k)
    runs = []
    for _ in range(repeats):
        start = time.process_time()
        for k in range(ticks):
            step(k)
        runs.append((time.process_time() - start) / ticks * 1e6)
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parties", type=int, default=10)
    parser.add_argument("--talking", type=int, default=3)
    parser.add_argument("--ticks", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    signal = talkers_signal(args.parties, args.ticks, args.talking)
    frames = [np.ascontiguousarray(signal[:, k * N : (k + 1) * N]) for k in range(args.ticks)]
    payloads = [ulaw_encode(f) for f in frames]  # what arrives over RTP: (P, 160) octets

    def mixer(max_talkers: int | None) -> ConferenceMixer:
        m = ConferenceMixer(ConferenceSettings(max_talkers=max_talkers))
        for p in range(args.parties):
            m.join(p)
        return m

    results: dict[str, float] = {}
    m3, mall = mixer(3), mixer(None)
    results["mixer alone, K=3"] = cpu_us_per_tick(
        lambda k: m3.mix(frames[k], k * 0.02), args.ticks, args.repeats
    )
    results["mixer alone, K=all"] = cpu_us_per_tick(
        lambda k: mall.mix(frames[k], k * 0.02), args.ticks, args.repeats
    )

    m = mixer(3)

    def per_party(k: int) -> list[Codes]:
        decoded = np.stack([ulaw_decode(payloads[k][p]) for p in range(args.parties)])
        heard = m.mix(decoded, k * 0.02)
        return [ulaw_encode(heard[p]) for p in range(args.parties)]

    results["G.711 decode per party + mix K=3 + encode per party"] = cpu_us_per_tick(
        per_party, args.ticks, args.repeats
    )

    mb = mixer(3)

    def batched(k: int) -> Codes:
        return ulaw_encode(mb.mix(ulaw_decode(payloads[k]), k * 0.02))

    results["G.711 decode (P,160) + mix K=3 + encode (P,160)"] = cpu_us_per_tick(
        batched, args.ticks, args.repeats
    )

    if args.json:
        print(
            json.dumps(
                {
                    "parties": args.parties,
                    "codec": CODEC_SOURCE,
                    "budget_us": BUDGET_US,
                    "cpu_us_per_tick": results,
                },
                indent=2,
            )
        )
    else:
        print(
            f"{args.parties} parties, {args.talking} talking, {args.ticks} ticks × "
            f"{args.repeats} (median), G.711 from {CODEC_SOURCE}"
        )
        for label, us in results.items():
            print(f"{us:8.1f} µs/tick  {100 * us / TICK_US:5.2f} % of a core  {label}")
        print(f"budget: {BUDGET_US:.0f} µs/tick (3 % of a core)")
    worst = max(results.values())
    return 0 if worst <= BUDGET_US else 1


if __name__ == "__main__":
    raise SystemExit(main())
