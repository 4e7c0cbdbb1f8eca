"""Loop time per 20 ms tick of the application channels (firmware.media.channels), live.

Run: .venv/bin/python bench/channels_bench.py [--seconds 10] [--channels 16] [--loop uvloop]

All `--channels` channels are connected over UDP loopback to peers in this process that send
−20 dBm0 noise as PCMA every 20 ms (so every channel receives, jitter-buffers, decodes and
runs the far-end DTMF detector every tick); channels 0–3 and 4–7 are two rooms of 4 mixing,
the others play a tone-plan tone (dial tone) to their peer. After a 1 s warm-up, prints the
`ChannelMedia.stats()` loop time per tick (mean and max, and the engine's share), ticks over
the 2 ms budget and overruns (ticks started a whole tick late). Peers share the loop and the
2 CPU cores with the channels: the figure is an upper bound of the loop's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import time
from typing import Any

import numpy as np

from firmware.media.channels import ChannelMedia
from firmware.media.codecs.codec import Encoding
from firmware.media.codecs.g711 import alaw_encode
from firmware.media.dsp.tones import RU, ToneKind
from firmware.media.rtp_session import RtpSender
from hal.clock import MonotonicClock

N = 160
DBM0_RMS = 22776.0 / np.sqrt(2.0)


class _Sink(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received = 0

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.received += 1


async def _peers(media: ChannelMedia, channels: int, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    rng = np.random.default_rng(1)
    noise = np.clip(np.rint(rng.normal(0, DBM0_RMS * 0.1, (50, N))), -32768, 32767)
    payloads = [bytes(alaw_encode(f.astype(np.int16)).tobytes()) for f in noise]
    peers = []
    for _ in range(channels):
        transport, _sink = await loop.create_datagram_endpoint(
            _Sink, local_addr=("127.0.0.1", 0)
        )
        peers.append((transport, RtpSender(8, rng=random.Random(len(peers)))))
    chans = []
    for transport, _sender in peers:
        ch = media.open()
        ch.connect(transport.get_extra_info("sockname")[:2], Encoding.PCMA, 8, 101)
        chans.append(ch)
    for i, ch in enumerate(chans):
        if i < 8:
            media.room("room-a" if i < 4 else "room-b").join(ch)
        else:
            ch.play_tone(ToneKind.DIAL)
    start = loop.time()
    k = 0
    while not stop.is_set():
        now = time.monotonic()
        for transport, sender in peers:
            to = chans[peers.index((transport, sender))].address
            transport.sendto(sender.audio(payloads[k % 50], N, now), to)
        k += 1
        await asyncio.sleep(max(0.0, start + k * 0.02 - loop.time()))
    for transport, _ in peers:
        transport.close()


async def main(seconds: float, channels: int) -> None:
    media = ChannelMedia(MonotonicClock(), channels=channels, tone_plan=RU,
                         rng=random.Random(1))  # fmt: skip
    await media.start()
    runner = asyncio.ensure_future(media.run())
    stop = asyncio.Event()
    peers = asyncio.ensure_future(_peers(media, channels, stop))
    await asyncio.sleep(1.0)
    before = media.stats()
    await asyncio.sleep(seconds)
    after = media.stats()
    stop.set()
    await peers
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    media.close()
    ticks = after["ticks"] - before["ticks"]
    total = after["tick_total_us"] - before["tick_total_us"]
    engine = after["engine_total_us"] - before["engine_total_us"]
    print(f"{channels} channels connected, 2 rooms of 4 mixing, {ticks} ticks in {seconds:.0f} s")
    print(f"loop time per tick: mean {total / ticks:.0f} us (engine {engine / ticks:.0f} us), "
          f"max {after['tick_max_us']} us")  # fmt: skip
    print(f"ticks over the 2 ms budget: {after['tick_over_budget'] - before['tick_over_budget']}, "
          f"overruns: {after['tick_overruns'] - before['tick_overruns']}, "
          f"packets received {after['packets_received'] - before['packets_received']}, "
          f"sent {after['packets_sent'] - before['packets_sent']}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main(args.seconds, args.channels))
    else:
        asyncio.run(main(args.seconds, args.channels))
