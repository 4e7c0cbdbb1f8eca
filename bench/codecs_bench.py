"""Codec cost per 20 ms frame: one channel, and 32 channels as one array (the analog PCM bus).

G.711 encode and decode are one table lookup over the whole `(channels, samples)` array;
G.722 has one state per channel, so 32 channels are 32 calls into libg722.
Per-channel cost for the 32-channel rows is the total divided by 32.

Run: .venv/bin/python bench/codecs_bench.py   (min of 30 runs x 2000 calls each)
"""

from __future__ import annotations

import timeit
from collections.abc import Callable

import numpy as np

from firmware.media.codecs import (
    G722Codec,
    PcmaCodec,
    PcmuCodec,
    alaw_decode,
    alaw_encode,
    ulaw_decode,
    ulaw_encode,
)
from firmware.media.frame import SampleRate, samples_per_frame

CHANNELS = 32
CALLS = 2000
REPEAT = 30


def per_call_us(fn: Callable[[], object], calls: int = CALLS) -> float:
    return min(timeit.repeat(fn, number=calls, repeat=REPEAT)) / calls * 1e6


def show(label: str, us: float, channels: int = 1) -> None:
    each = f"  ({us / channels:5.2f} µs/channel)" if channels > 1 else ""
    print(f"{us:8.2f} µs  {label}{each}")


def main() -> None:
    rng = np.random.default_rng(1)
    nb = samples_per_frame(SampleRate.NARROWBAND)
    wb = samples_per_frame(SampleRate.WIDEBAND)
    one = (rng.normal(0, 3000, nb)).clip(-32768, 32767).astype(np.int16)
    bus = (rng.normal(0, 3000, (CHANNELS, nb))).clip(-32768, 32767).astype(np.int16)

    for name, encode, decode, codec in (
        ("µ-law", ulaw_encode, ulaw_decode, PcmuCodec()),
        ("A-law", alaw_encode, alaw_decode, PcmaCodec()),
    ):
        codes_one, codes_bus = encode(one), encode(bus)
        payload = codec.encode(one)
        runs: list[tuple[str, Callable[[], object], int]] = [
            ("encode, 1 channel array", lambda e=encode: e(one), 1),
            ("decode, 1 channel array", lambda d=decode, c=codes_one: d(c), 1),
            ("encode, 1 channel frame -> RTP bytes", lambda c=codec: c.encode(one), 1),
            ("decode, RTP bytes -> frame", lambda c=codec, p=payload: c.decode(p), 1),
            (f"encode, {CHANNELS} channels as one array", lambda e=encode: e(bus), CHANNELS),
            (
                f"decode, {CHANNELS} channels as one array",
                lambda d=decode, c=codes_bus: d(c),
                CHANNELS,
            ),
        ]
        for label, fn, channels in runs:
            show(f"{name} {label}", per_call_us(fn), channels)

    wide_one = (rng.normal(0, 3000, wb)).clip(-32768, 32767).astype(np.int16)
    wide_bus = (rng.normal(0, 3000, (CHANNELS, wb))).clip(-32768, 32767).astype(np.int16)
    codec = G722Codec()
    g722_payload = codec.encode(wide_one)
    codecs = [G722Codec() for _ in range(CHANNELS)]
    payloads = [c.encode(row) for c, row in zip(codecs, wide_bus, strict=True)]
    show("G.722 encode, 1 channel (320 samples)", per_call_us(lambda: codec.encode(wide_one)))
    show("G.722 decode, 1 channel (160 octets)", per_call_us(lambda: codec.decode(g722_payload)))
    show(
        f"G.722 encode, {CHANNELS} channels (one state each)",
        per_call_us(lambda: [c.encode(r) for c, r in zip(codecs, wide_bus, strict=True)], 200),
        CHANNELS,
    )
    show(
        f"G.722 decode, {CHANNELS} channels (one state each)",
        per_call_us(lambda: [c.decode(p) for c, p in zip(codecs, payloads, strict=True)], 200),
        CHANNELS,
    )


if __name__ == "__main__":
    main()
