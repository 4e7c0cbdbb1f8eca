"""G.722 through libg722, checked against spandsp's G.722 (apt libspandsp2, via ctypes).

spandsp is where libg722's code came from, and spandsp's own test suite runs the ITU-T G.722
Appendix II test sequences, so bit-exactness with it stands in for the ITU vectors (which are
distributed by the ITU, not kept here). The one known difference: spandsp 0.0.6 lets an
overloaded decoder output wrap around the int16 range, libg722 saturates it.
"""

from __future__ import annotations

import subprocess

import numpy as np
import numpy.typing as npt
import pytest

from firmware.media.codecs import G722Codec, PcmuCodec
from firmware.media.frame import SampleRate, samples_per_frame

from .conftest import Sox, SpanDspG722
from .signals import DBM0_PEAK, fit_tone, peak_frequency_hz, tone

Int16 = npt.NDArray[np.int16]
WB = int(SampleRate.WIDEBAND)
NB = int(SampleRate.NARROWBAND)


def speech_like(rate_hz: int, seconds: float) -> Int16:
    """Tones across the band, a sweep and noise at speech levels: no decoder overload."""
    rng = np.random.default_rng(5)
    n = int(rate_hz * seconds)
    t = np.arange(n) / rate_hz
    sweep = np.sin(2 * np.pi * (100 + (rate_hz / 2 - 200) * t / seconds / 2) * t)
    parts = [
        0.5 * DBM0_PEAK * sweep,
        0.3 * DBM0_PEAK * np.sin(2 * np.pi * 440 * t)
        + 0.2 * DBM0_PEAK * np.sin(2 * np.pi * 3100 * t),
        rng.normal(0, 0.15 * DBM0_PEAK, n),
        np.zeros(n // 4),
    ]
    return np.clip(np.round(np.concatenate(parts)), -32768, 32767).astype(np.int16)


def overload(rate_hz: int) -> Int16:
    """Full-scale noise, DC and a square wave at Nyquist: drives the decoder past int16."""
    rng = np.random.default_rng(9)
    n = rate_hz // 2
    parts = [
        rng.integers(-32768, 32768, n),
        np.full(n, 32767),
        np.full(n, -32768),
        np.tile([32767, -32768], n // 2),
    ]
    return np.concatenate(parts).astype(np.int16)


def through(codec: G722Codec, signal: Int16) -> tuple[bytes, Int16]:
    """Encode `signal` frame by frame, then decode the payloads frame by frame."""
    step = samples_per_frame(codec.sample_rate)
    payloads = [codec.encode(signal[i : i + step]) for i in range(0, len(signal), step)]
    decoded = np.concatenate([codec.decode(p) for p in payloads])
    return b"".join(payloads), decoded


@pytest.mark.parametrize("rate", [SampleRate.WIDEBAND, SampleRate.NARROWBAND])
def test_encoder_is_bit_exact_with_spandsp_frame_by_frame(
    rate: SampleRate, spandsp: SpanDspG722
) -> None:
    signal = np.concatenate([speech_like(int(rate), 2.0), overload(int(rate))])
    ours, _ = through(G722Codec(rate), signal)
    assert ours == spandsp.encode(signal, eight_khz=rate is SampleRate.NARROWBAND)


@pytest.mark.parametrize("rate", [SampleRate.WIDEBAND, SampleRate.NARROWBAND])
def test_decoder_is_bit_exact_with_spandsp_below_overload(
    rate: SampleRate, spandsp: SpanDspG722
) -> None:
    payload = spandsp.encode(speech_like(int(rate), 2.0), eight_khz=rate is SampleRate.NARROWBAND)
    codec = G722Codec(rate)
    ours = np.concatenate([codec.decode(payload[i : i + 160]) for i in range(0, len(payload), 160)])
    assert np.array_equal(ours, spandsp.decode(payload, eight_khz=rate is SampleRate.NARROWBAND))


def test_decoder_saturates_where_spandsp_wraps_around(spandsp: SpanDspG722) -> None:
    rng = np.random.default_rng(3)
    payload = spandsp.encode(overload(WB)) + rng.integers(0, 256, 20000).astype(np.uint8).tobytes()
    ours = G722Codec().decode(payload)
    theirs = spandsp.decode(payload)
    differ = ours != theirs
    assert np.count_nonzero(differ) > 0  # the overload really reaches past int16
    assert np.all(np.isin(ours[differ], [-32768, 32767]))
    # Wrapped around: spandsp lands on the other side of zero from the saturated value.
    assert np.all(
        np.sign(theirs[differ].astype(np.int64)) == -np.sign(ours[differ].astype(np.int64))
    )


def test_1khz_tone_comes_back_at_1khz_above_20db_snr() -> None:
    _, decoded = through(G722Codec(), tone(1000, WB, 1.0))
    settled = decoded[WB // 10 :]  # past the codec's start-up
    amplitude, snr_db = fit_tone(settled, 1000, WB)
    assert peak_frequency_hz(settled, WB) == pytest.approx(1000, abs=2)
    assert snr_db > 20
    assert amplitude == pytest.approx(DBM0_PEAK, rel=0.06)  # within ±0.5 dB


def test_7khz_tone_survives_g722_but_not_the_g711_path(sox: Sox) -> None:
    source = tone(7000, WB, 1.0)
    _, wideband = through(G722Codec(), source)
    amplitude, snr_db = fit_tone(wideband[WB // 10 :], 7000, WB)
    assert amplitude == pytest.approx(DBM0_PEAK, rel=0.12)  # within ±1 dB
    assert snr_db > 15
    # The narrowband path: sox resamples to 8 kHz (its anti-alias filter), G.711 both ways,
    # sox back to 16 kHz. Nothing at 7 kHz is left.
    raw16 = ["-t", "raw", "-e", "signed-integer", "-b", "16", "-c", "1", "-L", "-r", str(WB)]
    raw8 = ["-t", "raw", "-e", "signed-integer", "-b", "16", "-c", "1", "-L", "-r", str(NB)]
    try:
        down = sox.convert(source.astype("<i2").tobytes(), raw16, raw8)
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"sox: {exc.stderr!r}")
    pcmu = PcmuCodec()
    narrow = pcmu.decode(pcmu.encode(np.frombuffer(down, "<i2").astype(np.int16)))
    back = np.frombuffer(sox.convert(narrow.astype("<i2").tobytes(), raw8, raw16), "<i2")
    lost, _ = fit_tone(back[WB // 10 :].astype(np.int16), 7000, WB)
    assert 20 * np.log10(max(lost, 1e-3) / DBM0_PEAK) < -40


def test_narrowband_mode_payload_plays_on_a_wideband_decoder() -> None:
    sender = G722Codec(SampleRate.NARROWBAND)
    source = tone(1000, NB, 1.0)
    payloads = [sender.encode(source[i : i + 160]) for i in range(0, NB, 160)]
    assert {len(p) for p in payloads} == {160}
    receiver = G722Codec()
    heard = np.concatenate([receiver.decode(p) for p in payloads])
    assert len(heard) == 2 * NB
    assert peak_frequency_hz(heard[WB // 10 :], WB) == pytest.approx(1000, abs=2)
    assert fit_tone(heard[WB // 10 :], 1000, WB)[1] > 20


def test_each_codec_keeps_its_own_state() -> None:
    a_signal, b_signal = tone(1000, WB, 0.2), tone(2500, WB, 0.2, peak=8000)
    alone_a, heard_a = through(G722Codec(), a_signal)
    alone_b, heard_b = through(G722Codec(), b_signal)
    a, b = G722Codec(), G722Codec()
    sent_a, sent_b, got_a, got_b = [], [], [], []
    for i in range(0, len(a_signal), 320):  # interleaved, as two calls on one tick
        sent_a.append(a.encode(a_signal[i : i + 320]))
        sent_b.append(b.encode(b_signal[i : i + 320]))
    for pa, pb in zip(sent_a, sent_b, strict=True):
        got_a.append(a.decode(pa))
        got_b.append(b.decode(pb))
    assert b"".join(sent_a) == alone_a and b"".join(sent_b) == alone_b
    assert np.array_equal(np.concatenate(got_a), heard_a)
    assert np.array_equal(np.concatenate(got_b), heard_b)


def test_decoder_state_carries_across_frames_and_resets() -> None:
    payload, _ = through(G722Codec(), tone(1000, WB, 0.1))
    codec = G722Codec()
    first = codec.decode(payload[:160])
    assert not np.array_equal(codec.decode(payload[:160]), first)  # state moved on
    codec.reset_decoder()
    assert np.array_equal(codec.decode(payload[:160]), first)


def test_frame_sizes_follow_rfc_3551() -> None:
    codec = G722Codec()
    assert (codec.payload_type, codec.clock_rate_hz, codec.sample_rate) == (
        9,
        8000,
        SampleRate.WIDEBAND,
    )
    assert len(codec.encode(np.zeros(320, np.int16))) == 160
    assert codec.decode(bytes(160)).shape == (320,)
    assert codec.decode(bytes(160)).dtype == np.int16


def test_encode_takes_non_contiguous_one_channel_views() -> None:
    bus = np.ascontiguousarray(np.stack([tone(1000, WB, 0.02), tone(3000, WB, 0.02)]).T)
    assert G722Codec().encode(bus[:, 1]) == G722Codec().encode(np.ascontiguousarray(bus[:, 1]))


def test_encode_refuses_what_it_cannot_code() -> None:
    codec = G722Codec()
    with pytest.raises(ValueError, match="one channel"):
        codec.encode(np.zeros((2, 320), np.int16))
    with pytest.raises(ValueError, match="one channel"):
        codec.encode(np.zeros(320, np.float64))
    with pytest.raises(ValueError, match="pairs"):
        codec.encode(np.zeros(319, np.int16))
    assert len(G722Codec(SampleRate.NARROWBAND).encode(np.zeros(159, np.int16))) == 159
