"""The simulated exchange's DTMF receiver: enough to collect digits the box dials.

A plain DFT at the eight Q.23 frequencies over each 20 ms frame (50 Hz bins; the closest DTMF
frequencies are 73 Hz apart). A frame holds a key when its strongest low and high tones carry
≥ 80 % of the frame's energy, each is above −35 dBm0, and twist is within 8 dB; a key counts once
it is held for two frames (40 ms, the Q.24 minimum) and again only after a frame without it.
This is the exchange's receiver, not the product's (firmware/media/dsp/dtmf.py is, with talk-off
and the full Q.24 tolerances); it only has to read the clean tones a port sends.
"""

from __future__ import annotations

import numpy as np

from hal.audio import FRAME_SAMPLES, RATE_HZ, Frame
from hal.tones import DTMF_HIGH_HZ, DTMF_KEYS, DTMF_LOW_HZ, peak_amplitude

_FREQUENCIES_HZ = np.array(DTMF_LOW_HZ + DTMF_HIGH_HZ, dtype=np.float64)
_BASIS = np.exp(-2j * np.pi * np.outer(_FREQUENCIES_HZ, np.arange(FRAME_SAMPLES)) / RATE_HZ)
_MIN_ENERGY_FRACTION = 0.8
_MIN_PEAK = peak_amplitude(-35.0)
_MAX_TWIST_DB = 8.0


def frame_key(frame: Frame) -> str | None:
    """The DTMF key sounding through `frame`, or None."""
    x = frame.astype(np.float64)
    energy = float(np.dot(x, x))
    if energy <= 0.0:
        return None
    spectrum = np.abs(_BASIS @ x)
    low, high = int(np.argmax(spectrum[:4])), int(np.argmax(spectrum[4:]))
    a_low, a_high = spectrum[low], spectrum[4 + high]
    # A sine of peak A gives |X| = A·N/2 and energy A²·N/2.
    fraction = 2.0 * (a_low ** 2 + a_high ** 2) / (FRAME_SAMPLES * energy)
    peaks = 2.0 * np.array([a_low, a_high]) / FRAME_SAMPLES
    if fraction < _MIN_ENERGY_FRACTION or peaks.min() < _MIN_PEAK:
        return None
    if abs(20.0 * np.log10(peaks[0] / peaks[1])) > _MAX_TWIST_DB:
        return None
    return DTMF_KEYS[low][high]


class SimDtmfReceiver:
    """Feed frames in order; `feed` returns each key once, when it has lasted 40 ms."""

    def __init__(self) -> None:
        self._candidate: str | None = None
        self._count = 0

    def feed(self, frame: Frame) -> str | None:
        key = frame_key(frame)
        if key is None or key != self._candidate:
            self._candidate, self._count = key, 1 if key else 0
            return None
        self._count += 1
        return key if self._count == 2 else None
