"""PortMedia on the simulated board in real time: the slots' RTP sockets on UDP loopback.

The sim PCM bus paces `run()` at 20 ms of the monotonic clock, so every test here lasts a
fraction of a second of audio. Independent checks: Python's audioop G.711 (Sun g711.c) encodes
and decodes the peer's audio, RTP and RFC 4733 headers are unpacked with `struct`, and levels
and frequencies come from an FFT of what the sim phone heard. A 0 dBm0 sine peaks at
32767·10^(−3.17/20) (G.711: a full-scale sine is +3.17 dBm0).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from firmware.media.bridge import AnalogMediaEngine, MediaEvent
from firmware.media.codecs.codec import Encoding
from firmware.media.dsp.dtmf import DigitDetected
from firmware.media.dsp.tones import RU
from firmware.media.ports import PortMedia
from hal.audio import AudioPort, Frame, PcmBus
from hal.board import find_board, load_board
from hal.clock import MonotonicClock
from hal.errors import DeviceNotResponding
from hal.loader import create_board
from hal.sim.board import SimBoard

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

RATE = 8000
N = 160
PEAK_0DBM0 = 32767 * 10 ** (-3.17 / 20)
EVENT_PT = 101
LOOPBACK = "127.0.0.1"


def tone_frames(freq_hz: float, level_dbm0: float, count: int) -> list[Frame]:
    t = np.arange(count * N) / RATE
    x = np.rint(PEAK_0DBM0 * 10 ** (level_dbm0 / 20) * np.sin(2 * np.pi * freq_hz * t))
    return list(x.astype(np.int16).reshape(count, N))


def tone_level_dbm0(x: npt.NDArray[np.int16], freq_hz: float) -> tuple[float, float]:
    """(level of the `freq_hz` component in dBm0, the strongest frequency) of the loud middle
    of `x`: frames above −40 dBm0, less two at each end (jitter-buffer start, PLC fade)."""
    frames = x[: x.size // N * N].reshape(-1, N).astype(np.float64)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > PEAK_0DBM0 * 10 ** (-40 / 20))
    assert loud.size >= 10, f"only {loud.size} loud frames heard"
    y = frames[loud[2] : loud[-1] - 1].ravel()
    window = np.hanning(y.size)
    spectrum = np.abs(np.fft.rfft(y * window))
    freqs = np.fft.rfftfreq(y.size, 1 / RATE)
    k = int(np.argmin(np.abs(freqs - freq_hz)))
    amplitude = 2 * spectrum[k - 2 : k + 3].max() / window.sum()
    return 20 * np.log10(amplitude / PEAK_0DBM0), float(freqs[int(np.argmax(spectrum))])


@dataclass
class Rig:
    board: SimBoard
    media: PortMedia
    events: list[MediaEvent] = field(default_factory=list)

    async def ticks(self, count: int, timeout_s: float = 5.0) -> None:
        """Wait until the media loop has run `count` more ticks."""
        target = self.media.stats()["ticks"] + count
        await until(lambda: self.media.stats()["ticks"] >= target, timeout_s)


async def until(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    """Wait for `condition`, checked every 5 ms (the loop under test runs in real time).
    Raises TimeoutError after `timeout_s`."""
    for _ in range(int(timeout_s / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise TimeoutError(f"condition not met within {timeout_s} s")


@contextlib.asynccontextmanager
async def media_on(board: SimBoard, bus: PcmBus | None = None) -> AsyncIterator[Rig]:
    bus = bus if bus is not None else board.pcm
    engine = AnalogMediaEngine(bus.slots, tone_plan=RU, rng=random.Random(7))
    media = PortMedia(bus, engine, board.clock)
    await media.start()
    rig = Rig(board, media)
    media.subscribe(rig.events.append)
    task = asyncio.create_task(media.run())
    try:
        yield rig
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await media.close()


@pytest.fixture
async def board() -> AsyncIterator[SimBoard]:
    sim = SimBoard.wrap(create_board(load_board(find_board("sim")), clock=MonotonicClock()))
    async with sim:
        yield sim


class Peer(asyncio.DatagramProtocol):
    """A plain UDP socket standing in for the far end's RTP (the call's relay endpoint)."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.received.append(data)

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return host, port

    def send(self, data: bytes, to: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data, to)


@contextlib.asynccontextmanager
async def peer() -> AsyncIterator[Peer]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Peer, local_addr=(LOOPBACK, 0))
    try:
        yield protocol
    finally:
        transport.close()


def rtp(pt: int, seq: int, ts: int, payload: bytes, ssrc: int = 0x1234ABCD) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def unpack_rtp(data: bytes) -> tuple[int, bool, int, int, bytes]:
    """(payload type, marker, sequence, timestamp, payload) of a CSRC-less RTP packet."""
    first, second, seq, ts, _ = struct.unpack("!BBHII", data[:12])
    assert first >> 6 == 2 and not first & 0x1F
    return second & 0x7F, bool(second & 0x80), seq, ts, data[12:]


ENCODE = {Encoding.PCMA: audioop.lin2alaw, Encoding.PCMU: audioop.lin2ulaw}
DECODE = {Encoding.PCMA: audioop.alaw2lin, Encoding.PCMU: audioop.ulaw2lin}
STATIC_PT = {Encoding.PCMA: 8, Encoding.PCMU: 0}


async def lift(rig: Rig, *phones: int) -> None:
    for number in phones:
        rig.board.phone(number).lift()
    await rig.ticks(3)  # past the hook contact's bounce


# -- (a) two slots joined through loopback ------------------------------------------------------


async def test_tone_crosses_between_two_ports_through_udp_loopback_both_ways(
        board: SimBoard) -> None:
    async with media_on(board) as rig:
        media = rig.media
        media.connect(0, media.address(1), Encoding.PCMA, 8, EVENT_PT)
        media.connect(1, media.address(0), Encoding.PCMA, 8, EVENT_PT)
        await lift(rig, 1, 2)
        one, two = board.phone(1), board.phone(2)
        one.heard(), two.heard()
        one.speak(tone_frames(1000, -10.0, 25))          # 0.5 s, then the other way
        await rig.ticks(30)
        two.speak(tone_frames(1000, -10.0, 25))
        await rig.ticks(30)
        heard_by_two, heard_by_one = two.heard(), one.heard()
        stats = media.stats()
    level, peak_hz = tone_level_dbm0(heard_by_two, 1000)
    assert level == pytest.approx(-10.0, abs=1.0) and peak_hz == pytest.approx(1000, abs=10)
    level, peak_hz = tone_level_dbm0(heard_by_one, 1000)
    assert level == pytest.approx(-10.0, abs=1.0) and peak_hz == pytest.approx(1000, abs=10)
    assert stats["packets_received"] >= 100 and stats["drop_wrong_source"] == 0
    # The adapter's own work per tick (sends, dispatch) beside the engine's: small, on average.
    assert (stats["tick_total_us"] - stats["engine_total_us"]) / stats["ticks"] < 300
    assert stats["tick_total_us"] / stats["ticks"] < 5000       # far inside the 20 ms tick


# -- (b) a plain UDP peer, PCMA and PCMU --------------------------------------------------------


async def test_a_plain_rtp_peer_exchanges_g711_with_a_slot_pcma_and_pcmu(
        board: SimBoard) -> None:
    async with media_on(board) as rig, peer() as far_a, peer() as far_u:
        media = rig.media
        media.connect(0, far_a.address, Encoding.PCMA, 8, None)    # fxs1: A-law
        media.connect(1, far_u.address, Encoding.PCMU, 0, None)    # fxs2: µ-law
        await lift(rig, 1, 2)
        for number in (1, 2):
            board.phone(number).heard()
            board.phone(number).speak(tone_frames(1000, -10.0, 25))
        # The far ends talk back: 25 packets each at 20 ms, 1 kHz at −10 dBm0 via audioop.
        for i, frame in enumerate(tone_frames(1000, -10.0, 25)):
            far_a.send(rtp(8, 100 + i, 5000 + N * i, ENCODE[Encoding.PCMA](frame.tobytes(), 2)),
                       media.address(0))
            far_u.send(rtp(0, 900 + i, 7000 + N * i, ENCODE[Encoding.PCMU](frame.tobytes(), 2)),
                       media.address(1))
            await asyncio.sleep(0.02)
        await rig.ticks(10)
        heard = {Encoding.PCMA: board.phone(1).heard(), Encoding.PCMU: board.phone(2).heard()}
    for encoding, far in ((Encoding.PCMA, far_a), (Encoding.PCMU, far_u)):
        headers = [unpack_rtp(p) for p in far.received]
        assert {h[0] for h in headers} == {STATIC_PT[encoding]}
        assert all(len(h[4]) == N for h in headers)
        seqs = [h[2] for h in headers]
        stamps = [h[3] for h in headers]
        assert np.all(np.diff(seqs) % 65536 == 1) and np.all(np.diff(stamps) % 2**32 == N)
        sent = np.frombuffer(b"".join(DECODE[encoding](h[4], 2) for h in headers), np.int16)
        level, peak_hz = tone_level_dbm0(sent, 1000)
        assert level == pytest.approx(-10.0, abs=1.0) and peak_hz == pytest.approx(1000, abs=10)
        level, peak_hz = tone_level_dbm0(heard[encoding], 1000)
        assert level == pytest.approx(-10.0, abs=1.0) and peak_hz == pytest.approx(1000, abs=10)


# -- (c) a digit dialled on the line --------------------------------------------------------------


async def test_dtmf_dialled_on_the_line_reaches_the_peer_as_rfc4733_and_subscribers(
        board: SimBoard) -> None:
    async with media_on(board) as rig, peer() as far:
        broken_calls: list[MediaEvent] = []

        def broken(event: MediaEvent) -> None:
            broken_calls.append(event)
            raise RuntimeError("subscriber bug")

        rig.media.subscribe(broken)
        rig.media.connect(0, far.address, Encoding.PCMU, 0, EVENT_PT)
        await lift(rig, 1)
        took_s = board.phone(1).dial("5")
        await rig.ticks(round(took_s / 0.02) + 12)
        stats = rig.media.stats()
    events = [unpack_rtp(p) for p in far.received if unpack_rtp(p)[0] == EVENT_PT]
    assert events, "no RFC 4733 packets"
    # RFC 4733 §2.3: event 5, the first with the marker, the last ones with the E bit.
    assert {payload[0] for _, _, _, _, payload in events} == {5}
    assert events[0][1] and events[-1][4][1] & 0x80
    assert len({ts for _, _, _, ts, _ in events}) == 1          # one event, one timestamp
    digits = [e for e in rig.events if isinstance(e, DigitDetected)]
    assert [(e.digit, e.channel) for e in digits] == [("5", 0)]
    assert broken_calls and stats["callback_errors"] == len(broken_calls)
    assert stats["ticks"] > 10                                   # the loop kept going


# -- (d) only the connected remote may feed a slot ---------------------------------------------


async def test_packets_from_a_wrong_source_are_dropped_and_counted(board: SimBoard) -> None:
    async with media_on(board) as rig, peer() as far, peer() as stranger:
        media = rig.media
        media.connect(0, far.address, Encoding.PCMA, 8, None)
        loud = audioop.lin2alaw(tone_frames(1000, -10.0, 1)[0].tobytes(), 2)
        for i in range(5):
            stranger.send(rtp(8, i, N * i, loud, ssrc=66), media.address(0))
            stranger.send(rtp(8, i, N * i, loud, ssrc=66), media.address(3))  # not connected
        for i in range(3):
            far.send(rtp(8, i, N * i, loud), media.address(0))
        await until(lambda: media.stats()["drop_wrong_source"] == 5
                    and media.stats()["packets_received"] == 3)
        stats = media.stats()
    assert stats["drop_not_connected"] == 5
    assert stats["packets_received"] == 3


# -- (e) the PCM bus fails for a while ----------------------------------------------------------


class FlakyBus(PcmBus):
    """The sim bus, failing `failures` exchanges from the `fail_at`-th on."""

    def __init__(self, inner: PcmBus, fail_at: int, failures: int) -> None:
        super().__init__("flaky", inner.slots, list[AudioPort](inner.ports.values()))
        self.inner = inner
        self.calls = 0
        self.fail_at = fail_at
        self.failures = failures

    async def exchange(self, playback: Frame) -> Frame:
        self.calls += 1
        if self.fail_at <= self.calls < self.fail_at + self.failures:
            raise DeviceNotResponding(self.name, "PCM clock lost")
        return await self.inner.exchange(playback)

    async def _open(self) -> None:
        return None

    async def _close(self) -> None:
        return None


async def test_a_failing_bus_is_retried_and_the_loop_keeps_going(
        board: SimBoard, caplog: pytest.LogCaptureFixture) -> None:
    bus = FlakyBus(board.pcm, fail_at=5, failures=3)
    async with bus, media_on(board, bus) as rig, peer() as far:
        rig.media.connect(0, far.address, Encoding.PCMA, 8, None)
        await lift(rig, 1)
        await until(lambda: bus.calls > 12)
        board.phone(1).speak(tone_frames(1000, -10.0, 5))
        await until(lambda: len(far.received) >= 5)
        stats = rig.media.stats()
    assert stats["bus_errors"] == 3
    assert stats["ticks"] >= bus.calls - 3 - 1     # every good exchange ticked (one may wait)
    warnings_logged = [r for r in caplog.records if "failed, retrying" in r.getMessage()]
    assert len(warnings_logged) == 1                            # once per outage, not per try
