"""AnalogMediaEngine: two ports of one engine talk to each other through in-memory RTP.

Port 0's datagrams go to port 1's `receive` and back, each delayed by a seeded random 0–40 ms
and some lost, as on a busy LAN. Checks are independent of the engine: FFT of what a port
plays, a fresh Q.24 receiver on the playback, dtmf_relay's RFC 4733 receiver on the packets,
and audioop's G.711 decoder for the audio that went out.
"""

from __future__ import annotations

import heapq
import random
import warnings
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from firmware.media.bridge import AnalogMediaEngine, DigitReceived, TickResult, ToneFinished
from firmware.media.codecs.codec import Encoding
from firmware.media.dsp.dtmf import DigitDetected, DigitOnset, DtmfReceiver, dtmf_tone
from firmware.media.dsp.tones import RU, ToneKind
from firmware.media.dtmf_relay import DigitEnded, DigitStarted, DtmfEventReceiver, DtmfSender
from firmware.media.rtp import parse_rtp, rtp_payload

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # Python's own G.711 (Sun g711.c): an independent decoder

RATE = 8000
N = 160
TICK_S = 0.02
PCMU_PT = 0
PCMA_PT = 8
EVENT_PT = 101
PEAK_0DBM0 = 32767 * 10 ** (-3.17 / 20)


def sine(
    freq_hz: float, level_dbm0: float, samples: int, start: int = 0
) -> npt.NDArray[np.float64]:
    t = (start + np.arange(samples)) / RATE
    return PEAK_0DBM0 * 10 ** (level_dbm0 / 20) * np.sin(2 * np.pi * freq_hz * t)


def level_dbm0(x: npt.NDArray[np.generic]) -> float:
    power = float(np.mean(np.asarray(x, np.float64) ** 2))
    return 10 * np.log10(power / (PEAK_0DBM0**2 / 2) + 1e-20)


def peak_hz(x: npt.NDArray[np.generic]) -> float:
    x = np.asarray(x, np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spectrum) * RATE / x.size)


def band_db(x: npt.NDArray[np.generic], freq_hz: float, width_hz: float = 20.0) -> float:
    """Share of the signal's power within ±width_hz of freq_hz, dB."""
    x = np.asarray(x, np.float64)
    power = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / RATE)
    inside = power[np.abs(freqs - freq_hz) <= width_hz].sum()
    return float(10 * np.log10(inside / (power.sum() + 1e-20) + 1e-20))


class Link:
    """Ports 0 and 1 of one engine joined through a lossy, jittery in-memory network."""

    def __init__(
        self,
        *,
        channels: int = 2,
        jitter_ms: float = 40.0,
        loss: float = 0.02,
        events: bool = True,
        nlp: bool = True,
        seed: int = 1,
        encoding: Encoding = Encoding.PCMU,
    ) -> None:
        self.engine = AnalogMediaEngine(channels, tone_plan=RU, rng=random.Random(seed), nlp=nlp)
        pt = EVENT_PT if events else None
        audio_pt = PCMU_PT if encoding is Encoding.PCMU else PCMA_PT
        self.engine.connect(0, encoding, audio_pt, pt, now=0.0)
        self.engine.connect(1, encoding, audio_pt, pt, now=0.0)
        self.net = random.Random(seed + 1000)
        self.jitter_s = jitter_ms / 1000
        self.loss = loss
        self.queue: list[tuple[float, int, int, bytes]] = []
        self.order = 0
        self.sent: dict[int, list[bytes]] = {0: [], 1: []}
        self.playback: list[npt.NDArray[np.int16]] = []
        self.events: list[object] = []
        self.now = 0.0

    def step(self, captured: npt.NDArray[np.int16]) -> TickResult:
        while self.queue and self.queue[0][0] <= self.now:
            at, _, dest, data = heapq.heappop(self.queue)
            self.engine.receive(dest, data, at)
        result = self.engine.tick(captured, self.now)
        for port, data in result.packets:
            self.sent[port].append(data)
            if port > 1 or self.net.random() < self.loss:
                continue
            arrival = self.now + 0.001 + self.net.uniform(0.0, self.jitter_s)
            self.order += 1
            heapq.heappush(self.queue, (arrival, self.order, 1 - port, data))
        self.playback.append(result.playback)
        self.events.extend(result.events)
        self.now = round(self.now + TICK_S, 9)
        return result

    def run(self, lines: Callable[[int], npt.NDArray[np.int16]], ticks: int) -> None:
        for _ in range(ticks):
            self.step(lines(len(self.playback)))

    def played(self, port: int) -> npt.NDArray[np.int16]:
        return np.concatenate([frame[port] for frame in self.playback])


def frames_of(
    signal: npt.NDArray[np.float64], channels: int, port: int
) -> Callable[[int], npt.NDArray[np.int16]]:
    """A line source: `signal` on `port`, silence elsewhere, silence after its end."""

    def line(tick: int) -> npt.NDArray[np.int16]:
        frame = np.zeros((channels, N), np.int16)
        chunk = signal[tick * N : (tick + 1) * N]
        frame[port, : chunk.size] = np.rint(chunk).astype(np.int16)
        return frame

    return line


@pytest.mark.parametrize(
    ("talker", "listener", "encoding"), [(0, 1, Encoding.PCMU), (1, 0, Encoding.PCMA)]
)
def test_tone_spoken_on_one_port_plays_on_the_other(
    talker: int, listener: int, encoding: Encoding
) -> None:
    link = Link(encoding=encoding)
    link.run(frames_of(sine(1000.0, -10.0, 100 * N), 2, talker), 100)  # 2 s
    heard = link.played(listener)[50 * N :]  # after the jitter buffer and PLC settled
    assert abs(peak_hz(heard) - 1000.0) <= RATE / heard.size
    assert abs(level_dbm0(heard) - -10.0) < 0.5
    assert band_db(heard, 1000.0) > -20.0  # 2 % loss concealed: distortion 20 dB down
    # The talker hears nothing of itself: no loop of its own capture into its playback.
    assert level_dbm0(link.played(talker)) < -60.0
    stats = link.engine.reception(listener)
    assert stats is not None and 0 < stats.lost < 0.06 * stats.expected
    assert stats.max_jitter_ms > 3.0


def test_dial_tone_on_an_idle_port_is_steady_425_hz_ru() -> None:
    engine = AnalogMediaEngine(3, tone_plan=RU, rng=random.Random(0))
    engine.play_tone(2, ToneKind.DIAL)
    frames = [engine.tick(np.zeros((3, N), np.int16), k * TICK_S).playback for k in range(100)]
    played = np.concatenate([f[2] for f in frames])
    assert abs(peak_hz(played) - 425.0) <= RATE / played.size
    assert abs(level_dbm0(played) - -10.0) < 0.2  # RU plan: −10 dBm0
    block_levels = [level_dbm0(b) for b in played.reshape(-1, 40)]  # 5 ms blocks
    assert min(block_levels) > -11.0  # continuous: no cadence gap anywhere
    assert not np.any(np.concatenate([f[:2] for f in frames]))  # other ports: silence
    engine.play_tone(2, None)
    assert not np.any(engine.tick(np.zeros((3, N), np.int16), 2.0).playback)


def test_busy_tone_ru_cadence_is_350_on_350_off() -> None:
    engine = AnalogMediaEngine(1, tone_plan=RU, rng=random.Random(0))
    engine.play_tone(0, ToneKind.BUSY)
    played = np.concatenate(
        [engine.tick(np.zeros((1, N), np.int16), k * TICK_S).playback[0] for k in range(150)]
    )
    on = np.array([level_dbm0(b) > -30.0 for b in played.reshape(-1, 40)])  # 5 ms blocks
    edges = np.flatnonzero(np.diff(on.astype(np.int8))) + 1
    runs_ms = np.diff(np.concatenate(([0], edges))) * 5
    assert on[0]
    assert list(runs_ms) == [350] * len(runs_ms) and len(runs_ms) >= 7
    # A 0.7 s cadence puts sidebands 1.43 Hz apart around the carrier: the peak is within one.
    assert abs(peak_hz(played) - 425.0) < 1.43


def test_confirmation_tone_finishes_and_reports_it() -> None:
    engine = AnalogMediaEngine(1, tone_plan=RU, rng=random.Random(0))
    engine.play_tone(0, ToneKind.CONFIRMATION)
    events = []
    for k in range(40):
        events += engine.tick(np.zeros((1, N), np.int16), k * TICK_S).events
    assert [e for e in events if isinstance(e, ToneFinished)] == [
        ToneFinished(0, ToneKind.CONFIRMATION, pytest.approx(0.58, abs=0.03))
    ]
    assert engine.tone(0) is None


def _dial_on_port_0(events: bool) -> Link:
    link = Link(events=events, loss=0.0)
    digit = np.concatenate(
        [np.zeros(20 * N + 37), dtmf_tone("5", 100, -6.0).astype(np.float64), np.zeros(60 * N)]
    )
    link.run(frames_of(digit, 2, 0), 80)
    return link


def test_inband_digit_is_relayed_as_rfc4733_and_muted() -> None:
    link = _dial_on_port_0(events=True)
    # The engine saw it on the line.
    onsets = [e for e in link.events if isinstance(e, DigitOnset)]
    detected = [e for e in link.events if isinstance(e, DigitDetected)]
    assert [(e.digit, e.channel) for e in onsets] == [("5", 0)]
    assert [(e.digit, e.channel) for e in detected] == [("5", 0)]
    # The packets port 0 sent hold one RFC 4733 event, read by dtmf_relay's receiver.
    receiver = DtmfEventReceiver(EVENT_PT)
    audio = []
    seqs = []
    for k, data in enumerate(link.sent[0]):
        header = parse_rtp(data)
        seqs.append(header.sequence_number)
        if header.payload_type == EVENT_PT:
            receiver.receive(header, rtp_payload(data, header), k * 0.02)
        else:
            assert header.payload_type == PCMU_PT
            audio.append(rtp_payload(data, header))
    relayed = []
    while (ev := receiver.next_event()) is not None:
        relayed.append(ev)
    assert [type(e) for e in relayed] == [DigitStarted, DigitEnded]
    end = relayed[1]
    assert isinstance(end, DigitEnded)
    assert end.digit == "5" and end.complete and 40 <= end.duration_ms <= 100
    # One sequence space for audio and events, no gaps.
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:], strict=False))
    # Muted: the audio that went out carries no detectable digit, nor much of its tones.
    sent = np.frombuffer(audioop.ulaw2lin(b"".join(audio), 2), np.int16)
    assert not DtmfReceiver(1).process(sent)
    assert level_dbm0(sent) < -40.0
    # The peer (port 1) got it as an event, and its line hears no digit.
    received = [e for e in link.events if isinstance(e, DigitReceived)]
    assert [(e.port, e.digit, e.complete) for e in received] == [(1, "5", True)]
    assert not DtmfReceiver(1).process(link.played(1))


def test_inband_digit_stays_in_band_without_telephone_event() -> None:
    link = _dial_on_port_0(events=False)
    assert not any(parse_rtp(d).payload_type == EVENT_PT for d in link.sent[0])
    heard = DtmfReceiver(1).process(link.played(1))
    assert [e.digit for e in heard if isinstance(e, DigitDetected)] == ["5"]


def test_rfc4733_from_the_peer_becomes_digit_received() -> None:
    engine = AnalogMediaEngine(2, tone_plan=RU, rng=random.Random(3))
    engine.connect(1, Encoding.PCMA, 8, EVENT_PT, now=0.0)
    peer = DtmfSender(EVENT_PT, ssrc=0x1234, sequence_number=100)
    packets = peer.press("#", timestamp=8000, now=0.1, duration_ms=120)
    events = []
    k = 0
    for at, data in packets:
        while k * TICK_S < at:
            events += engine.tick(np.zeros((2, N), np.int16), k * TICK_S).events
            k += 1
        engine.receive(1, data, at)
    for _ in range(20):
        result = engine.tick(np.zeros((2, N), np.int16), k * TICK_S)
        events += result.events
        assert not np.any(result.playback)  # events are not audio
        k += 1
    got = [e for e in events if isinstance(e, DigitReceived)]
    assert [(e.port, e.digit, e.duration_ms, e.complete) for e in got] == [(1, "#", 120, True)]


def test_hybrid_echo_is_cancelled_by_more_than_20_db() -> None:
    """Port 1's line speaks noise; port 0's hybrid returns it 10 dB down after 5 ms, dispersed."""
    link = Link(loss=0.0, jitter_ms=10.0, nlp=False)
    rng = np.random.default_rng(7)
    far_talk = rng.standard_normal(300 * N) * PEAK_0DBM0 / np.sqrt(2) * 10 ** (-18 / 20)
    taps = np.zeros(160)
    taps[40:80] = rng.standard_normal(40) * np.exp(-np.arange(40) / 8)
    taps *= 10 ** (-10 / 20) / np.sqrt(np.sum(taps**2))  # ERL 10 dB
    line_noise = rng.standard_normal(300 * N) * PEAK_0DBM0 / np.sqrt(2) * 10 ** (-65 / 20)
    echo_in = np.zeros(300 * N)

    def lines(tick: int) -> npt.NDArray[np.int16]:
        frame = np.zeros((2, N), np.int16)
        frame[1] = np.rint(far_talk[tick * N : (tick + 1) * N])
        if tick >= 1:
            # What port 0 played last tick is on the line now; its echo comes back.
            played = np.concatenate((np.zeros(taps.size, np.int16), link.played(0)))
            echo = np.convolve(played[-(N + taps.size) :].astype(np.float64), taps)
            chunk = echo[taps.size : taps.size + N]
            echo_in[tick * N : (tick + 1) * N] = chunk
            frame[0] = np.rint(chunk + line_noise[tick * N : (tick + 1) * N])
        return frame

    link.run(lines, 250)  # 5 s
    audio = [
        rtp_payload(d, parse_rtp(d)) for d in link.sent[0] if parse_rtp(d).payload_type == PCMU_PT
    ]
    sent = np.frombuffer(audioop.ulaw2lin(b"".join(audio), 2), np.int16)
    echo_level = level_dbm0(echo_in[200 * N : 250 * N])
    residual = level_dbm0(sent[-50 * N :])
    assert echo_level > -35.0  # the echo is really there
    assert echo_level - residual > 20.0, (echo_level, residual)
