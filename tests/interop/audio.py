"""Test tones for media checks: write a sine WAV, find the dominant frequency of a received one.

Tones are 8 kHz mono S16LE (what PCMU/PCMA carry and what baresip's aufile source requires).
Analysis: Hann-windowed FFT over the steady part of the recording (the first `skip_s` are jitter
buffer start-up), dominant bin with parabolic interpolation (≈1 Hz resolution at 2 s of audio).
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE_HZ = 8000


def write_tone(path: Path, frequency_hz: float, duration_s: float, amplitude: float = 0.4) -> Path:
    """Write a sine of `frequency_hz` at `amplitude` of full scale to `path` (8 kHz mono S16LE)."""
    t = np.arange(int(RATE_HZ * duration_s)) / RATE_HZ
    samples = np.round(amplitude * 32767 * np.sin(2 * np.pi * frequency_hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE_HZ)
        out.writeframes(samples.tobytes())
    return path


@dataclass(frozen=True, slots=True)
class ToneAnalysis:
    """What a recording holds: its length, level and strongest frequency."""

    duration_s: float
    rms_dbfs: float
    dominant_hz: float
    # Share of the signal's energy within ±50 Hz of the dominant frequency (1.0 = pure tone).
    purity: float


def analyse(path: Path, skip_s: float = 0.3) -> ToneAnalysis:
    """Analyse a 16-bit mono WAV (any rate); `skip_s` seconds at the start are ignored."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise ValueError(f"{path}: need 16-bit mono, got {wav.getparams()}")
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    steady = samples[int(skip_s * rate) :].astype(np.float64) / 32768.0
    duration_s = len(samples) / rate
    if len(steady) < rate // 10:
        return ToneAnalysis(duration_s, float("-inf"), 0.0, 0.0)
    rms = float(np.sqrt(np.mean(steady**2)))
    rms_dbfs = 20 * np.log10(rms) if rms > 0 else float("-inf")
    spectrum = np.abs(np.fft.rfft(steady * np.hanning(len(steady)))) ** 2
    spectrum[0] = 0.0
    peak = int(np.argmax(spectrum))
    offset = 0.0
    if 0 < peak < len(spectrum) - 1:
        left, mid, right = np.log(spectrum[peak - 1 : peak + 2] + 1e-30)
        denominator = left - 2 * mid + right
        if denominator != 0:
            offset = 0.5 * (left - right) / denominator
    bin_hz = rate / len(steady)
    dominant_hz = (peak + offset) * bin_hz
    band = int(50 / bin_hz)
    total = float(spectrum.sum())
    purity = float(spectrum[max(0, peak - band) : peak + band + 1].sum()) / total if total else 0.0
    return ToneAnalysis(duration_s, float(rms_dbfs), float(dominant_hz), purity)
