"""G.711 Appendix I packet-loss concealment: pitch, fading, merging, and error vs silence."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from firmware.media.dsp.plc import DELAY_SAMPLES, G711Plc, find_pitch

FRAME = 160
RATE_HZ = 8000
Signal = npt.NDArray[np.int16]


def vowel(seconds: float, f0_hz: float, vibrato: float = 0.0) -> Signal:
    """A voiced-speech stand-in: harmonics of f0 shaped by two formants (700, 1200 Hz).

    Peak ≈ 12 000, about −5.6 dBm0 (a 0 dBm0 sine peaks at 22 776, 3.17 dB below full scale).
    """
    n = int(seconds * RATE_HZ)
    t = np.arange(n) / RATE_HZ
    f = f0_hz * (1 + vibrato * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(f) / RATE_HZ
    x = np.zeros(n)
    for k in range(1, 30):
        weight = np.exp(-(((k * f0_hz - 700) / 400) ** 2)) + 0.5 * np.exp(
            -(((k * f0_hz - 1200) / 300) ** 2)
        )
        x += weight / k * np.sin(k * phase)
    return (x / np.abs(x).max() * 12000).astype(np.int16)


def conceal_gaps(signal: Signal, gaps: set[int]) -> Signal:
    """Run `signal` frame by frame through the PLC, losing the frames in `gaps`; undo the delay."""
    plc = G711Plc()
    frames = [
        plc.conceal() if i in gaps else plc.good(signal[i * FRAME : (i + 1) * FRAME])
        for i in range(len(signal) // FRAME)
    ]
    return np.concatenate(frames)[DELAY_SAMPLES:]


def silence_gaps(signal: Signal, gaps: set[int]) -> Signal:
    out = signal[: len(signal) // FRAME * FRAME].copy()
    for i in gaps:
        out[i * FRAME : (i + 1) * FRAME] = 0
    return out


def _stft_magnitude(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    frames = np.lib.stride_tricks.sliding_window_view(x, FRAME)[::80] * np.hanning(FRAME)
    return np.abs(np.fft.rfft(frames, axis=1))


def gain_over_silence_db(signal: Signal, gap_frames: int, starts: list[int]) -> tuple[float, float]:
    """(waveform, spectral) error reduction in dB of PLC over silence substitution.

    Waveform error: squared difference over each gap and the 10 ms merge after it. Spectral
    error: squared difference of 20 ms STFT magnitudes (hop 10 ms) over the gap ± 5 ms, which
    forgives the phase drift a repeated pitch period accumulates.
    """
    gaps = {s + k for s in starts for k in range(gap_frames)}
    concealed = conceal_gaps(signal, gaps).astype(np.float64)
    silenced = silence_gaps(signal, gaps).astype(np.float64)
    ref = signal.astype(np.float64)
    wave = {"plc": 0.0, "silence": 0.0}
    spec = {"plc": 0.0, "silence": 0.0}
    for s in starts:
        a, b = s * FRAME, (s + gap_frames) * FRAME + 80
        for name, out in (("plc", concealed), ("silence", silenced)):
            wave[name] += float(np.sum((ref[a:b] - out[a:b]) ** 2))
            r, o = _stft_magnitude(ref[a - 40 : b + 40]), _stft_magnitude(out[a - 40 : b + 40])
            spec[name] += float(np.sum((r - o) ** 2))
    return (
        10 * np.log10(wave["silence"] / wave["plc"]),
        10 * np.log10(spec["silence"] / spec["plc"]),
    )


def voiced_starts(signal: Signal, gap_frames: int, every: int = 9) -> list[int]:
    """Gap positions (frame indices) inside speech: frames around the gap all carry energy."""
    n = len(signal) // FRAME
    energy = np.mean(signal[: n * FRAME].reshape(n, FRAME).astype(np.float64) ** 2, axis=1)
    floor = 0.1 * np.median(energy[energy > 0])
    return [
        s
        for s in range(5, n - gap_frames - 2, every)
        if energy[s - 1 : s + gap_frames + 1].min() > floor
    ]


# -- pitch ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("period", [40, 45, 57, 66, 80, 100, 119, 120])
def test_pitch_of_a_periodic_signal_is_its_period(period: int) -> None:
    rng = np.random.default_rng(period)
    one_period = rng.normal(0, 3000, period)
    history = np.tile(one_period, 400 // period + 2)[-390:]
    assert find_pitch(history) == period


def test_pitch_of_a_vowel_is_found_within_one_sample() -> None:
    signal = vowel(0.1, f0_hz=8000 / 75).astype(np.float64)
    assert abs(find_pitch(signal[-390:]) - 75) <= 1


# -- behaviour -----------------------------------------------------------------------------------


def test_good_frames_pass_through_delayed_by_3_75_ms() -> None:
    signal = vowel(0.2, 110.0)
    out = conceal_gaps(signal, set())
    assert DELAY_SAMPLES == 30
    assert np.array_equal(out, signal[: len(out)])


def test_first_10_ms_repeat_a_periodic_signal_exactly() -> None:
    signal = vowel(0.5, 100.0)  # period 80 samples, a whole number
    out = conceal_gaps(signal, {12})
    gap = slice(12 * FRAME, 12 * FRAME + 80)
    error = np.max(np.abs(out[gap].astype(int) - signal[gap].astype(int)))
    assert error <= 2  # rounding only


def test_concealment_fades_20_percent_per_10_ms_and_is_silent_after_60_ms() -> None:
    signal = vowel(0.6, 100.0)
    out = conceal_gaps(signal, {10, 11, 12, 13}).astype(np.float64)
    ref = signal.astype(np.float64)
    start = 10 * FRAME
    rms = [
        np.sqrt(np.mean(out[start + k * 80 : start + (k + 1) * 80] ** 2))
        / np.sqrt(np.mean(ref[start + k * 80 : start + (k + 1) * 80] ** 2))
        for k in range(8)
    ]
    # 10 ms steps: 1.0, then linear ramps averaging 0.9, 0.7, 0.5, 0.3, 0.1; then 0.
    expected = [1.0, 0.9, 0.7, 0.5, 0.3, 0.1, 0.0, 0.0]
    assert rms == pytest.approx(expected, abs=0.08)
    assert not out[start + 480 : start + 640].any()


def test_merge_after_erasure_has_no_click() -> None:
    signal = vowel(0.6, 118.0, vibrato=0.02)
    out = conceal_gaps(signal, {10, 11}).astype(np.float64)
    merge_at = 12 * FRAME
    window = out[merge_at - 40 : merge_at + 120]
    largest_step = float(np.max(np.abs(np.diff(window))))
    natural_step = float(np.max(np.abs(np.diff(signal.astype(np.float64)))))
    assert largest_step <= 1.2 * natural_step
    # whereas switching abruptly from the faded synthetic signal to speech would step further
    abrupt = np.concatenate((out[merge_at - 40 : merge_at], signal[merge_at : merge_at + 120]))
    assert float(np.max(np.abs(np.diff(abrupt)))) > largest_step


def test_frames_of_the_wrong_shape_are_refused() -> None:
    plc = G711Plc()
    with pytest.raises(ValueError):
        plc.good(np.zeros(80, dtype=np.int16))
    with pytest.raises(ValueError):
        G711Plc(frame_samples=100)


# -- quality vs silence substitution -------------------------------------------------------------


@pytest.mark.parametrize(
    ("gap_frames", "min_wave_db", "min_spectral_db"), [(1, 5.0, 10.0), (2, 2.5, 5.0), (3, 1.5, 3.0)]
)
def test_concealing_a_voiced_signal_beats_silence(
    gap_frames: int, min_wave_db: float, min_spectral_db: float
) -> None:
    # 120 Hz: a 66.7-sample period, not a whole number; slight vibrato as in a held vowel.
    signal = vowel(2.0, 120.0, vibrato=0.005)
    starts = list(range(10, 90, 12))
    wave_db, spectral_db = gain_over_silence_db(signal, gap_frames, starts)
    assert wave_db >= min_wave_db
    assert spectral_db >= min_spectral_db


@pytest.mark.parametrize(("gap_frames", "min_spectral_db"), [(1, 1.5), (2, 0.6), (3, 0.4)])
def test_concealing_espeak_speech_beats_silence(
    speech_8k: Signal, gap_frames: int, min_spectral_db: float
) -> None:
    # Sample-by-sample error is no measure here: a repeated period drifts out of phase with
    # real speech within a few milliseconds, so PLC and silence score alike (PLC ≈ 1 dB worse);
    # the short-time spectrum, which is what the ear follows, shows the gain.
    starts = voiced_starts(speech_8k, gap_frames)
    assert len(starts) >= 10
    _, spectral_db = gain_over_silence_db(speech_8k, gap_frames, starts)
    assert spectral_db >= min_spectral_db
