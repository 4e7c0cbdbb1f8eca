"""`dtmf_tone`: frequencies and levels checked by FFT and least-squares fit, not by the receiver."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.media.dsp.dtmf import DIGITS, digit_frequencies, dtmf_sequence, dtmf_tone
from firmware.media.frame import SampleRate

DBM0_PEAK = 32767 * 10 ** (-3.17 / 20)  # G.711: a full-scale sine is +3.17 dBm0


def _amplitude(x: np.ndarray, freq_hz: float, rate_hz: int) -> float:
    t = np.arange(len(x)) / rate_hz
    basis = np.stack([np.sin(2 * np.pi * freq_hz * t), np.cos(2 * np.pi * freq_hz * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, x.astype(np.float64), rcond=None)
    return float(np.hypot(*coef))


@pytest.mark.parametrize("digit", list(DIGITS))
def test_tone_has_the_q23_pair_and_nothing_else(digit: str) -> None:
    x = dtmf_tone(digit, 1000).astype(np.float64)  # 1 Hz bins
    spectrum = np.abs(np.fft.rfft(x))
    peaks = sorted(int(i) for i in np.argsort(spectrum)[-2:])
    expected = {
        "1": (697, 1209),
        "2": (697, 1336),
        "3": (697, 1477),
        "A": (697, 1633),
        "4": (770, 1209),
        "5": (770, 1336),
        "6": (770, 1477),
        "B": (770, 1633),
        "7": (852, 1209),
        "8": (852, 1336),
        "9": (852, 1477),
        "C": (852, 1633),
        "*": (941, 1209),
        "0": (941, 1336),
        "#": (941, 1477),
        "D": (941, 1633),
    }[digit]
    assert tuple(peaks) == expected
    assert digit_frequencies(digit) == (float(expected[0]), float(expected[1]))


def test_level_is_per_tone_in_dbm0_and_twist_raises_the_high_group() -> None:
    x = dtmf_tone("5", 500, level_dbm0=-10.0, twist_db=2.0)
    low = _amplitude(x, 770, 8000)
    high = _amplitude(x, 1336, 8000)
    assert 20 * np.log10(low / DBM0_PEAK) == pytest.approx(-10.0, abs=0.02)
    assert 20 * np.log10(high / DBM0_PEAK) == pytest.approx(-8.0, abs=0.02)


def test_wideband_tone_has_the_same_pair_at_16k() -> None:
    x = dtmf_tone("9", 1000, rate=SampleRate.WIDEBAND)
    assert len(x) == 16000
    assert _amplitude(x, 852, 16000) == pytest.approx(DBM0_PEAK * 10 ** (-6 / 20), rel=1e-3)
    assert _amplitude(x, 1477, 16000) == pytest.approx(DBM0_PEAK * 10 ** (-6 / 20), rel=1e-3)


def test_two_tones_above_minus_3_dbm0_each_clip_at_full_scale() -> None:
    assert dtmf_tone("1", 100, level_dbm0=0.0).max() == 32767


def test_sequence_is_tone_then_silence_per_digit() -> None:
    x = dtmf_sequence("12", on_ms=50, off_ms=30)
    assert len(x) == 2 * (400 + 240)
    assert not x[400:640].any() and x[640:1040].any()


def test_unknown_digit_is_refused() -> None:
    with pytest.raises(ValueError):
        dtmf_tone("E", 40)
    with pytest.raises(ValueError):
        dtmf_tone("12", 40)
