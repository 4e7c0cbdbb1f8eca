"""Application channels over real UDP loopback: a test-side RTP peer (rtp.py, rtp_session.py,
dtmf_relay.py packets; G.711 decoded with the stdlib `audioop`, independent of codecs/g711.py;
signals made with numpy)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import warnings
import wave
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from firmware.media.channels import (
    Channel,
    ChannelClosed,
    ChannelEvent,
    ChannelMedia,
    ChannelsExhausted,
    DigitPressed,
    RecordEnd,
)
from firmware.media.codecs.codec import Encoding
from firmware.media.dsp.tones import RU
from firmware.media.dtmf_relay import DtmfSender
from firmware.media.prompt_catalog import Language
from firmware.media.prompts import PromptLibrary
from firmware.media.rtp import build_rtp, parse_rtp, rtp_payload
from firmware.media.rtp_session import RtpSender
from hal.clock import MonotonicClock
from hal.sim.paging import SimPagingOutput

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

RATE = 8000
N = 160
PEAK_0DBM0 = 32767 * 10 ** (-3.17 / 20)
PT = {Encoding.PCMU: 0, Encoding.PCMA: 8}
EVENT_PT = 101
Pcm = npt.NDArray[np.int16]


def sine(freq_hz: float, level_dbm0: float, seconds: float, phase: float = 0.0) -> Pcm:
    t = np.arange(int(seconds * RATE)) / RATE
    x = PEAK_0DBM0 * 10 ** (level_dbm0 / 20) * np.sin(2 * np.pi * freq_hz * t + phase)
    return np.rint(x).astype(np.int16)


DTMF_HZ = {"1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "4": (770, 1209),
           "5": (770, 1336), "7": (852, 1209), "8": (852, 1336), "9": (852, 1477),
           "#": (941, 1477)}  # fmt: skip


def dtmf(digit: str, seconds: float = 0.1) -> Pcm:
    low, high = DTMF_HZ[digit]
    return (sine(low, -10, seconds) + sine(high, -8, seconds)).astype(np.int16)


def spectrum_db(x: Pcm) -> Callable[[float], float]:
    """Level (dB re a 0 dBm0 sine) of the component at a frequency, of the loud part of x."""
    frames = x[: x.size // N * N].reshape(-1, N).astype(np.float64)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > PEAK_0DBM0 * 10 ** (-45 / 20))
    assert loud.size >= 8, f"only {loud.size} loud frames heard"
    y = frames[loud[2] : loud[-1] - 1].ravel()
    window = np.hanning(y.size)
    spec = np.abs(np.fft.rfft(y * window))
    freqs = np.fft.rfftfreq(y.size, 1 / RATE)

    def at(freq_hz: float) -> float:
        k = int(np.argmin(np.abs(freqs - freq_hz)))
        amplitude = 2 * spec[k - 2 : k + 3].max() / window.sum()
        return float(20 * np.log10(amplitude / PEAK_0DBM0 + 1e-12))

    at.peak_hz = float(freqs[int(np.argmax(spec))])  # type: ignore[attr-defined]
    return at


async def until(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    """Wait for `condition`, checked every 10 ms (the loop under test runs in real time).
    Raises TimeoutError after `timeout_s`."""
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"condition not met within {timeout_s} s")


class Peer(asyncio.DatagramProtocol):
    """A phone's RTP side: sends paced G.711 (and RFC 4733), keeps what it receives."""

    def __init__(self, codec: Encoding = Encoding.PCMA) -> None:
        self.codec = codec
        self.packets: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.sender = RtpSender(PT[codec], rng=random.Random(7))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.packets.append(data)

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def heard(self) -> Pcm:
        """Audio received, decoded with audioop (not the firmware's codec)."""
        out = []
        for data in self.packets:
            header = parse_rtp(data)
            if header.payload_type != PT[self.codec]:
                continue
            payload = rtp_payload(data, header)
            decode = audioop.ulaw2lin if self.codec is Encoding.PCMU else audioop.alaw2lin
            out.append(np.frombuffer(decode(payload, 2), np.int16))
        return np.concatenate(out) if out else np.zeros(0, np.int16)

    async def talk(self, to: tuple[str, int], audio: Pcm,
                   digits: tuple[tuple[float, str, float], ...] = (), *,
                   mute_during_events: bool = True) -> None:  # fmt: skip
        """Send `audio` in 20 ms packets paced by the clock, and RFC 4733 events
        (start_s, digit, duration_s) over it, renumbered into the audio's sequence space."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        frames = audio[: audio.size // N * N].reshape(-1, N)
        encode = audioop.lin2ulaw if self.codec is Encoding.PCMU else audioop.lin2alaw
        dtmf_tx = DtmfSender(EVENT_PT, self.sender.ssrc, 0)
        start = loop.time()
        pending = list(digits)
        for i, frame in enumerate(frames):
            t = i * 0.02
            now = start + t
            while pending and pending[0][0] <= t:
                _, digit, _ = pending[0]
                dtmf_tx.start(digit, self.sender.next_timestamp, now)
                pending_end = pending.pop(0)
                self._end_at = pending_end[0] + pending_end[2]
            if dtmf_tx.active and t >= self._end_at:
                dtmf_tx.stop(now)
            in_event = dtmf_tx.next_deadline() is not None
            for packet in dtmf_tx.poll(now):
                header = parse_rtp(packet)
                if mute_during_events:
                    packet = self.sender.event(rtp_payload(packet, header), EVENT_PT, now,
                                               start=header.marker)  # fmt: skip
                else:
                    # Audio goes on meanwhile: the event keeps its own timestamp (RFC 4733
                    # §2.5.1.2) in the audio's sequence space, which RtpSender.event cannot do.
                    numbered = dataclasses.replace(
                        header, sequence_number=self.sender.next_sequence_number)
                    packet = build_rtp(numbered, rtp_payload(packet, header))
                    self.sender._sequence = (self.sender._sequence + 1) & 0xFFFF
                self.transport.sendto(packet, to)
            if in_event and mute_during_events:
                self.sender.advance(N)
            else:
                payload = encode(frame.astype("<i2").tobytes(), 2)
                self.transport.sendto(self.sender.audio(payload, N, now), to)
            await asyncio.sleep(max(0.0, start + t + 0.02 - loop.time()))


@pytest.fixture
async def media(tmp_path: Path) -> AsyncIterator[ChannelMedia]:
    (tmp_path / "prompts" / "en").mkdir(parents=True)
    with wave.open(str(tmp_path / "prompts" / "en" / "hello.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(sine(440, -12, 0.4).astype("<i2").tobytes())
    library = PromptLibrary(tmp_path / "prompts")
    m = ChannelMedia(MonotonicClock(), channels=4, tone_plan=RU, rng=random.Random(3),
                     prompts=library, record_min_free_bytes=0)  # fmt: skip
    await m.start()
    task = asyncio.ensure_future(m.run())
    try:
        yield m
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        m.close()


@contextlib.asynccontextmanager
async def peers(count: int, codec: Encoding = Encoding.PCMA) -> AsyncIterator[list[Peer]]:
    loop = asyncio.get_running_loop()
    made = []
    for _ in range(count):
        _, p = await loop.create_datagram_endpoint(lambda: Peer(codec), local_addr=("127.0.0.1", 0))
        made.append(p)
    try:
        yield made
    finally:
        for p in made:
            assert p.transport is not None
            p.transport.close()


def wire(channel: Channel, peer: Peer, events: bool = True) -> None:
    channel.connect(peer.address, peer.codec, PT[peer.codec], EVENT_PT if events else None)


@pytest.mark.parametrize("codec", [Encoding.PCMA, Encoding.PCMU])
async def test_play_of_a_minus_10_dbm0_tone_arrives_at_minus_10_dbm0(
    media: ChannelMedia, codec: Encoding
) -> None:
    async with peers(1, codec) as (peer,):
        ch = media.open()
        wire(ch, peer)
        assert await ch.play([sine(1000, -10, 0.2), sine(1000, -10, 0.2)]) is None
        await until(lambda: peer.heard().size >= int(0.4 * RATE))
        level = spectrum_db(peer.heard())
        assert abs(level(1000) + 10) <= 1.0
        assert level.peak_hz == pytest.approx(1000, abs=15)  # type: ignore[attr-defined]


async def test_say_plays_a_library_prompt_and_skips_a_missing_one(media: ChannelMedia) -> None:
    async with peers(1) as (peer,):
        ch = media.open()
        wire(ch, peer)
        assert await ch.say(Language.EN, ["no_such_prompt", "hello"]) is None
        await until(lambda: peer.heard().size >= int(0.35 * RATE))
        level = spectrum_db(peer.heard())
        assert level.peak_hz == pytest.approx(440, abs=15)  # type: ignore[attr-defined]
        assert abs(level(440) + 12) <= 1.0


async def test_rfc4733_digits_are_collected_each_exactly_once(media: ChannelMedia) -> None:
    async with peers(1) as (peer,):
        ch = media.open()
        wire(ch, peer)
        marks = ((0.04, "1", 0.08), (0.16, "1", 0.08), (0.28, "2", 0.08), (0.4, "#", 0.08))
        talk = asyncio.ensure_future(
            peer.talk(ch.address, np.zeros(int(0.6 * RATE), np.int16), marks)
        )
        assert await ch.collect(8, first_s=2.0, between_s=1.0) == "112"
        await talk
        assert ch.flush_digits() == ""
        assert media.stats()["digits"] == 4


async def test_inband_dtmf_is_collected_each_exactly_once(media: ChannelMedia) -> None:
    async with peers(1, Encoding.PCMU) as (peer,):
        ch = media.open()
        wire(ch, peer, events=False)
        gap = np.zeros(int(0.06 * RATE), np.int16)
        audio = np.concatenate([gap, dtmf("4", 0.08), gap, dtmf("4", 0.08), gap,
                                dtmf("9", 0.08), gap, dtmf("#", 0.08), gap])  # fmt: skip
        talk = asyncio.ensure_future(peer.talk(ch.address, audio))
        assert await ch.collect(8, first_s=2.0, between_s=1.0) == "449"
        await talk
        assert media.stats()["digits"] == 4


async def test_a_phone_sending_rfc4733_and_inband_together_is_not_doubled(
    media: ChannelMedia,
) -> None:
    async with peers(1) as (peer,):
        ch = media.open()
        wire(ch, peer)
        gap = np.zeros(int(0.06 * RATE), np.int16)
        audio = np.concatenate([gap, dtmf("7", 0.08), gap, dtmf("7", 0.08), gap,
                                dtmf("8", 0.08), gap, dtmf("#", 0.08), gap, gap])  # fmt: skip
        marks = ((0.06, "7", 0.08), (0.2, "7", 0.08), (0.34, "8", 0.08), (0.48, "#", 0.08))
        talk = asyncio.ensure_future(peer.talk(ch.address, audio, marks, mute_during_events=False))
        got: list[ChannelEvent] = []

        async def watch() -> None:
            async for event in ch.events():
                got.append(event)

        watcher = asyncio.ensure_future(watch())
        assert await ch.collect(8, first_s=2.0, between_s=1.0) == "778"
        await talk
        await until(lambda: media.stats()["digits_twin_dropped"] == 4)
        assert ch.flush_digits() == ""
        assert media.stats()["digits"] == 4
        assert [e.digit for e in got if isinstance(e, DigitPressed)] == list("778#")
        ch.close()
        await asyncio.wait_for(watcher, 1.0)  # the event stream ends with the channel


async def test_a_digit_barges_in_on_play_and_is_returned(media: ChannelMedia) -> None:
    async with peers(1) as (peer,):
        ch = media.open()
        wire(ch, peer)
        talk = asyncio.ensure_future(peer.talk(ch.address, np.zeros(int(0.4 * RATE), np.int16),
                                               ((0.1, "5", 0.08),)))  # fmt: skip
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await ch.play([sine(1000, -10, 3.0)]) == "5"
        assert loop.time() - started < 1.0
        await talk
        assert peer.heard().size < 1.0 * RATE
        assert await ch.collect(1, first_s=0.1, between_s=0.1) == "5"  # kept as type-ahead


def wav_samples(path: Path) -> Pcm:
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int16)


async def test_record_ends_on_the_key_and_keeps_level_and_frequency(
    media: ChannelMedia, tmp_path: Path
) -> None:
    async with peers(1) as (peer,):
        ch = media.open()
        wire(ch, peer)
        audio = np.concatenate([sine(800, -15, 0.4), np.zeros(int(0.2 * RATE), np.int16)])
        talk = asyncio.ensure_future(peer.talk(ch.address, audio, ((0.44, "#", 0.08),)))
        result = await ch.record(tmp_path / "msg.wav", max_s=5.0, silence_s=2.0)
        await talk
        assert result.ended_by is RecordEnd.KEY
        samples = wav_samples(result.path)
        assert result.duration_s == pytest.approx(samples.size / RATE)
        level = spectrum_db(samples)
        assert abs(level(800) + 15) <= 1.0
        assert level.peak_hz == pytest.approx(800, abs=15)  # type: ignore[attr-defined]


async def test_record_ends_on_silence_and_on_the_limit(
    media: ChannelMedia, tmp_path: Path
) -> None:
    async with peers(2) as (a, b):
        ch_a, ch_b = media.open(), media.open()
        wire(ch_a, a)
        wire(ch_b, b)
        quiet_tail = np.concatenate([sine(600, -20, 0.2), np.zeros(int(0.4 * RATE), np.int16)])
        talks = [asyncio.ensure_future(a.talk(ch_a.address, quiet_tail)),
                 asyncio.ensure_future(b.talk(ch_b.address, sine(600, -20, 0.5)))]  # fmt: skip
        silent, limited = await asyncio.gather(
            ch_a.record(tmp_path / "a.wav", max_s=5.0, silence_s=0.2),
            ch_b.record(tmp_path / "b.wav", max_s=0.3, silence_s=2.0),
        )
        await asyncio.gather(*talks)
        assert silent.ended_by is RecordEnd.SILENCE
        assert 0.35 <= silent.duration_s <= 0.6  # ~0.2 s (+ jitter delay) of tone, 0.2 s quiet
        assert limited.ended_by is RecordEnd.LIMIT
        assert limited.duration_s == pytest.approx(0.3, abs=0.001)
        assert wav_samples(limited.path).size == int(0.3 * RATE)


FREQS = (500.0, 900.0, 1300.0)


async def test_each_room_member_hears_the_others_and_never_itself(media: ChannelMedia) -> None:
    async with peers(3) as ps:
        chans = [media.open() for _ in ps]
        room = media.room("conf")
        for ch, p in zip(chans, ps, strict=True):
            wire(ch, p)
            room.join(ch)
        assert room.members == tuple(chans)
        await asyncio.gather(*(p.talk(ch.address, sine(f, -20, 0.4))
                               for ch, p, f in zip(chans, ps, FREQS, strict=True)))  # fmt: skip
        for i, p in enumerate(ps):
            level = spectrum_db(p.heard())
            others = [level(f) for j, f in enumerate(FREQS) if j != i]
            assert min(others) > -30, (i, others)
            assert level(FREQS[i]) < min(others) - 30, (i, level(FREQS[i]), others)


async def test_a_listen_only_member_hears_but_is_not_heard(media: ChannelMedia) -> None:
    async with peers(3) as ps:
        chans = [media.open() for _ in ps]
        room = media.room("conf")
        for k, (ch, p) in enumerate(zip(chans, ps, strict=True)):
            wire(ch, p)
            room.join(ch, talk=k < 2)
        await asyncio.gather(*(p.talk(ch.address, sine(f, -20, 0.4))
                               for ch, p, f in zip(chans, ps, FREQS, strict=True)))  # fmt: skip
        for i in (0, 1):
            level = spectrum_db(ps[i].heard())
            assert level(FREQS[1 - i]) > -30
            assert level(FREQS[2]) < level(FREQS[1 - i]) - 30  # the listener is not heard
        level = spectrum_db(ps[2].heard())
        assert min(level(FREQS[0]), level(FREQS[1])) > -30


async def test_a_paging_output_gets_the_mix_with_its_amplifier_on_only_meanwhile(
    media: ChannelMedia,
) -> None:
    speaker = SimPagingOutput("zone1", MonotonicClock(), warmup_ms=40)
    await speaker.open()
    async with peers(1) as (p,):
        ch = media.open()
        wire(ch, p)
        room = media.room("page")
        room.join(ch, listen=False)
        room.add_output(speaker)
        await until(lambda: speaker.amplifier_on)
        await p.talk(ch.address, sine(700, -15, 0.4))
        assert speaker.amplifier_on
        room.leave(ch)
        await until(lambda: not speaker.amplifier_on)
        assert [on for _, on in speaker.amplifier_history] == [True, False]
        assert media.stats()["rooms"] == 0
        level = spectrum_db(speaker.audio())
        assert level.peak_hz == pytest.approx(700, abs=15)  # type: ignore[attr-defined]
        assert np.abs(p.heard()).max() < 50  # listen=False: nothing mixed back to the talker
    await speaker.close()


async def test_close_during_collect_raises_channel_closed(media: ChannelMedia) -> None:
    ch = media.open()
    waiting = asyncio.ensure_future(ch.collect(4, first_s=5.0, between_s=5.0))
    await asyncio.sleep(0)  # one loop turn: collect is now waiting for a key
    assert not waiting.done()
    ch.close()
    ch.close()
    with pytest.raises(ChannelClosed):
        await asyncio.wait_for(waiting, 1.0)
    assert ch.closed


async def test_exhausting_the_pool_raises_and_a_closed_channel_is_reused(
    media: ChannelMedia,
) -> None:
    chans = [media.open() for _ in range(4)]
    assert sorted(c.index for c in chans) == [0, 1, 2, 3]
    with pytest.raises(ChannelsExhausted):
        media.open()
    chans[2].close()
    again = media.open()
    assert again.index == 2 and again is not chans[2] and chans[2].closed


async def test_a_datagram_from_a_wrong_source_is_dropped(media: ChannelMedia) -> None:
    async with peers(2) as (good, stranger):
        ch = media.open()
        wire(ch, good)
        talk = asyncio.ensure_future(stranger.talk(ch.address, sine(1000, -10, 0.3),
                                                   ((0.1, "9", 0.1),)))  # fmt: skip
        assert await ch.collect(1, first_s=0.4, between_s=0.1) == ""
        await talk
        stats = media.stats()
        assert stats["drop_wrong_source"] >= 8
        assert stats["packets_received"] == 0
