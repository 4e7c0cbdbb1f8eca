"""The one audio frame every part of the box exchanges: 20 ms of 16-bit linear PCM.

Inside the box audio is linear: codecs decode to frames at the edge (RTP, the analog PCM bus,
DECT), and everything in between — DTMF detection, echo cancellation, tones, prompts, mixing,
recording — works on frames. A frame is a numpy `int16` array: shape `(samples,)` for one
channel, `(channels, samples)` when many ports are processed as one array operation (the analog
ports arrive as one multi-channel PCM stream). Narrowband is 8 kHz (160 samples per frame),
wideband 16 kHz (320 samples), used end to end only where both ends are wideband (G.722).
"""

from __future__ import annotations

from enum import IntEnum
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

FRAME_MS = 20
"""Frame duration in milliseconds: the packetisation time of every G.711 phone."""


class SampleRate(IntEnum):
    """Sample rates the box runs at."""

    NARROWBAND = 8000
    WIDEBAND = 16000


Frame: TypeAlias = npt.NDArray[np.int16]
"""Linear PCM, `(samples,)` or `(channels, samples)`."""


def samples_per_frame(rate: SampleRate = SampleRate.NARROWBAND) -> int:
    """Samples in one 20 ms frame at `rate` (160 at 8 kHz, 320 at 16 kHz)."""
    return int(rate) * FRAME_MS // 1000


def silence(rate: SampleRate = SampleRate.NARROWBAND, channels: int | None = None) -> Frame:
    """A frame of digital silence, one channel or `channels` stacked."""
    n = samples_per_frame(rate)
    shape = (n,) if channels is None else (channels, n)
    return np.zeros(shape, dtype=np.int16)
