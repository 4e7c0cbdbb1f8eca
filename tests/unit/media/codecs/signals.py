"""Test signals and measurements shared by the codec tests."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

DBM0_PEAK = 32767 * 10 ** (-3.17 / 20)
"""Peak of a 0 dBm0 sine (≈ 22 776): a full-scale int16 sine is +3.17 dBm0 (G.711 convention)."""


def tone(
    freq_hz: float, rate_hz: int, duration_s: float, peak: float = DBM0_PEAK
) -> npt.NDArray[np.int16]:
    """A sine of `peak` amplitude, rounded to int16."""
    t = np.arange(int(rate_hz * duration_s)) / rate_hz
    return np.round(peak * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)


def fit_tone(signal: npt.NDArray[np.int16], freq_hz: float, rate_hz: int) -> tuple[float, float]:
    """(amplitude, SNR in dB) of the sine at `freq_hz` that best fits `signal` (any phase):
    everything the fit does not explain counts as noise, so delay does not matter."""
    t = np.arange(len(signal)) / rate_hz
    basis = np.stack([np.sin(2 * np.pi * freq_hz * t), np.cos(2 * np.pi * freq_hz * t)], axis=1)
    y = signal.astype(np.float64)
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    fitted = basis @ coef
    noise = float(np.sum((y - fitted) ** 2)) or 1e-12
    return float(np.hypot(*coef)), 10 * np.log10(float(np.sum(fitted**2)) / noise)


def peak_frequency_hz(signal: npt.NDArray[np.int16], rate_hz: int) -> float:
    """Frequency of the largest FFT bin (Hann window)."""
    spectrum = np.abs(np.fft.rfft(signal.astype(np.float64) * np.hanning(len(signal))))
    return float(np.argmax(spectrum)) * rate_hz / len(signal)
