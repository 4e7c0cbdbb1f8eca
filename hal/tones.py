"""Tones the hardware side produces itself, as 20 ms frames: DTMF for an FXO port dialling out
(and a simulated phone), and the exchange's call-progress tones for the simulated office.

Pure numpy, no I/O. The firmware has its own tone generator and DTMF receiver
(firmware/media/dsp); hal cannot import them, and needs only clean reference signals.

DTMF (ITU-T Q.23 frequencies; Q.24 / ETSI ES 201 235-2 sending): low group 697/770/852/941 Hz,
high group 1209/1336/1477/1633 Hz, sent at −7 dBm0 (low) and −5 dBm0 (high: 2 dB pre-emphasis
against the line's high-frequency loss), 80 ms tone and 80 ms pause (Q.24 accepts ≥ 40 ms).

Call-progress tones (ETSI ES 201 970 / ITU-T E.180 Supplement 2): Russia and most of Europe use
425 Hz — dial continuous, busy 0.35/0.35 s (RU) or 0.5/0.5 s (EU), ringback 1/4 s; North
America uses 350+440 Hz dial, 480+620 Hz busy 0.5/0.5 s, 440+480 Hz ringback 2/4 s; all at
−10 dBm0 per frequency.

Levels: a full-scale int16 sine is +3.17 dBm0, so a 0 dBm0 sine peaks at ≈ 22776. Phases are
computed from the absolute sample index, so a tone cut into frames at any point is continuous.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from hal.audio import FRAME_SAMPLES, FULL_SCALE_DBM0, RATE_HZ, Frame

DTMF_LOW_HZ = (697, 770, 852, 941)
DTMF_HIGH_HZ = (1209, 1336, 1477, 1633)
DTMF_KEYS = ("123A", "456B", "789C", "*0#D")
DTMF_FREQUENCIES_HZ: Mapping[str, tuple[int, int]] = MappingProxyType({
    key: (DTMF_LOW_HZ[row], DTMF_HIGH_HZ[col])
    for row, keys in enumerate(DTMF_KEYS) for col, key in enumerate(keys)
})
"""Q.23: key → (low, high) frequency."""


def peak_amplitude(level_dbm0: float) -> float:
    """Peak int16 amplitude of a sine at `level_dbm0` (0 dBm0 → ≈ 22776)."""
    return float(32767.0 * 10.0 ** ((level_dbm0 - FULL_SCALE_DBM0) / 20.0))


def sines(frequencies_hz: Sequence[float], level_dbm0: Sequence[float] | float,
          start_sample: int, count: int) -> npt.NDArray[np.float64]:
    """The sum of sines at the given levels for samples [start_sample, start_sample+count)."""
    n = np.arange(start_sample, start_sample + count, dtype=np.float64)
    levels = ([float(level_dbm0)] * len(frequencies_hz) if isinstance(level_dbm0, int | float)
              else list(level_dbm0))
    out = np.zeros(count, dtype=np.float64)
    for f, level in zip(frequencies_hz, levels, strict=True):
        out += peak_amplitude(level) * np.sin(2.0 * np.pi * f / RATE_HZ * n)
    return out


def to_frames(samples: npt.NDArray[np.float64]) -> list[Frame]:
    """Cut float samples into int16 frames, padding the last with silence."""
    padded = np.zeros(-(-len(samples) // FRAME_SAMPLES) * FRAME_SAMPLES, dtype=np.float64)
    padded[:len(samples)] = samples
    ints = np.clip(np.rint(padded), -32768, 32767).astype(np.int16)
    return list(ints.reshape(-1, FRAME_SAMPLES))


def dtmf_frames(digits: str, on_ms: int = 80, off_ms: int = 80,
                low_dbm0: float = -7.0, high_dbm0: float = -5.0) -> list[Frame]:
    """`digits` as DTMF, each `on_ms` of tone then `off_ms` of silence, in whole frames.

    Raises ValueError for a key DTMF does not have.
    """
    on = on_ms * RATE_HZ // 1000
    off = off_ms * RATE_HZ // 1000
    parts = []
    for key in digits.upper():
        if key not in DTMF_FREQUENCIES_HZ:
            raise ValueError(f"DTMF has no key {key!r}")
        low, high = DTMF_FREQUENCIES_HZ[key]
        parts.append(sines((low, high), (low_dbm0, high_dbm0), 0, on))
        parts.append(np.zeros(off, dtype=np.float64))
    return to_frames(np.concatenate(parts)) if parts else []


@dataclass(frozen=True, slots=True)
class Tone:
    """A call-progress tone: frequencies, level per frequency, cadence (None = continuous)."""

    frequencies_hz: tuple[float, ...]
    level_dbm0: float = -10.0
    cadence_ms: tuple[int, ...] | None = None

    def frame(self, start_sample: int) -> Frame:
        """The 20 ms of this tone starting at absolute sample `start_sample` (its time zero
        is sample 0), cadence applied."""
        samples = sines(self.frequencies_hz, self.level_dbm0, start_sample, FRAME_SAMPLES)
        if self.cadence_ms is not None:
            bounds = np.cumsum(np.asarray(self.cadence_ms, dtype=np.int64) * RATE_HZ // 1000)
            position = np.arange(start_sample, start_sample + FRAME_SAMPLES) % bounds[-1]
            phase = np.searchsorted(bounds, position, side="right")
            samples = np.where(phase % 2 == 0, samples, 0.0)
        return np.clip(np.rint(samples), -32768, 32767).astype(np.int16)


@dataclass(frozen=True, slots=True)
class TonePlan:
    """An exchange's call-progress tones."""

    dial: Tone
    busy: Tone
    ringback: Tone
    congestion: Tone


TONE_PLANS: Mapping[str, TonePlan] = MappingProxyType({
    "ru": TonePlan(Tone((425,)), Tone((425,), cadence_ms=(350, 350)),
                   Tone((425,), cadence_ms=(1000, 4000)), Tone((425,), cadence_ms=(175, 175))),
    "eu": TonePlan(Tone((425,)), Tone((425,), cadence_ms=(500, 500)),
                   Tone((425,), cadence_ms=(1000, 4000)), Tone((425,), cadence_ms=(250, 250))),
    "us": TonePlan(Tone((350, 440)), Tone((480, 620), cadence_ms=(500, 500)),
                   Tone((440, 480), cadence_ms=(2000, 4000)),
                   Tone((480, 620), cadence_ms=(250, 250))),
})
"""Call-progress tones by region, for the simulated exchange."""
