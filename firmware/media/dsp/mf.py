"""MF "two out of six" (R1 / Soviet «2 из 6»): receiver, generator, and the 500 Hz AON request.

Six frequencies, 700 to 1700 Hz in 200 Hz steps; each signal is two of them. The digit
assignment is the CCITT/R1 one (ITU-T Q.320 table 1), which is also the one the Soviet AON
("безынтервальный пакет") uses, with two of the R1 control pairs given AON meanings:

    1 700+900    2 700+1100   3 900+1100   4 700+1300   5 900+1300   6 1100+1300
    7 700+1500   8 900+1500   9 1100+1500  0 1300+1500
    KP 1100+1700 (AON «Начало», start)     ST 1500+1700
    STP 900+1700   ST2P 1300+1700 (AON «Повтор», repeat)   ST3P 700+1700

The receiver is the dual-tone engine of `dtmf.py` with MF parameters: 5 ms blocks (the six
tones are 200 Hz apart, so each block's DFT bins are orthogonal to the other tones), 10 ms
Hann windows every 5 ms, a signal confirmed after three hits (15 ms) and ended by three misses
or at once by the next confirmed signal — AON packets are sent without pauses, 40 ± 2 ms per
signal, so a change of pair is the only boundary. It accepts each tone within ±(2 % + 5 Hz)
(R1, Q.322: ±(1.5 % + 5 Hz) must be accepted), tones from -32 dBm0 up, up to 7 dB apart, and
ignores a 500 Hz tone underneath (an exchange answers the AON request while the request is
still being sent: Правила применения междугородных телефонных станций, ч. VIII, табл. 11).

`RequestToneDetector` finds the 500 Hz AON request (495–505 Hz, about 100 ms): the exchange
side of the simulation uses it to know when to answer.

Levels follow the G.711 convention (0 dBm0 sine peak ≈ 22 776, see `dtmf.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from firmware.media.dsp.dtmf import (
    DualToneReceiver,
    DualToneSpec,
    amplitude_for,
)
from firmware.media.frame import Frame, SampleRate

MF_HZ: Final = (700.0, 900.0, 1100.0, 1300.0, 1500.0, 1700.0)
"""The six frequencies, in index order."""

AON_REQUEST_HZ: Final = 500.0
"""The AON request tone («запрос АОН»)."""


class MfSignal(StrEnum):
    """The fifteen two-out-of-six signals (values are what the receiver reports)."""

    D1 = "1"
    D2 = "2"
    D3 = "3"
    D4 = "4"
    D5 = "5"
    D6 = "6"
    D7 = "7"
    D8 = "8"
    D9 = "9"
    D0 = "0"
    KP = "KP"
    ST = "ST"
    STP = "STP"
    ST2P = "ST2P"
    ST3P = "ST3P"


PAIRS: Final[dict[MfSignal, tuple[int, int]]] = {
    MfSignal.D1: (0, 1),
    MfSignal.D2: (0, 2),
    MfSignal.D3: (1, 2),
    MfSignal.D4: (0, 3),
    MfSignal.D5: (1, 3),
    MfSignal.D6: (2, 3),
    MfSignal.D7: (0, 4),
    MfSignal.D8: (1, 4),
    MfSignal.D9: (2, 4),
    MfSignal.D0: (3, 4),
    MfSignal.KP: (2, 5),
    MfSignal.ST: (4, 5),
    MfSignal.STP: (1, 5),
    MfSignal.ST2P: (3, 5),
    MfSignal.ST3P: (0, 5),
}
"""Indices into `MF_HZ` of each signal's two tones (Q.320 table 1)."""

MF_SPEC: Final = DualToneSpec(
    freqs_hz=MF_HZ,
    symbols=tuple((lo, hi, str(sig)) for sig, (lo, hi) in PAIRS.items()),
    groups=None,
    block_ms=5.0,
    window_blocks=2,
    confirm_windows=3,
    release_windows=3,
    min_level_dbm0=-32.0,
    max_normal_twist_db=7.0,
    max_reverse_twist_db=7.0,
    freq_tolerance=0.02,
    freq_tolerance_hz=5.0,
    min_energy_ratio=0.75,
    ignore_hz=(AON_REQUEST_HZ,),
    confirm_gaps=0,
    max_offset_spread=0.05,
    max_drift=0.02,
    min_peak_margin_db=None,
)
"""R1 / AON receiver limits (module docstring)."""


@dataclass(frozen=True, slots=True)
class MfDetected:
    """An MF signal was confirmed on `channel`, starting near `start_sample`."""

    signal: MfSignal
    channel: int
    start_sample: int


@dataclass(frozen=True, slots=True)
class MfEnded:
    """An MF signal ended; `duration_ms` from its start (±5 ms)."""

    signal: MfSignal
    channel: int
    start_sample: int
    duration_ms: int


class MfReceiver:
    """Two-out-of-six receiver for `channels` channels processed as one array.

    `process` takes `(samples,)` or `(channels, samples)` of any length and returns
    `MfDetected` when a signal is confirmed (the order of these is the received sequence) and
    `MfEnded` when it ends. Pure: positions are sample counts since the first sample.
    """

    def __init__(self, channels: int = 1, rate: SampleRate = SampleRate.NARROWBAND) -> None:
        self._core = DualToneReceiver(MF_SPEC, channels, rate)
        self._ms_per_sample = 1000.0 / float(rate)

    @property
    def samples_consumed(self) -> int:
        """Samples per channel processed so far."""
        return self._core.samples_consumed

    def reset_channel(self, channel: int) -> None:
        """Forget `channel`'s state."""
        self._core.reset_channel(channel)

    def process(self, samples: Frame) -> list[MfDetected | MfEnded]:
        """Consume samples; raises `ValueError` on a bad shape or dtype."""
        out: list[MfDetected | MfEnded] = []
        for ev in self._core.process(samples):
            signal = MfSignal(ev.symbol)
            if ev.ended:
                duration_ms = round(ev.duration_samples * self._ms_per_sample)
                out.append(MfEnded(signal, ev.channel, ev.start_sample, duration_ms))
            else:
                out.append(MfDetected(signal, ev.channel, ev.start_sample))
        return out


def mf_sequence(
    signals: list[MfSignal] | list[str],
    signal_ms: float = 40.0,
    gap_ms: float = 0.0,
    level_dbm0: float = -7.0,
    rate: SampleRate = SampleRate.NARROWBAND,
) -> Frame:
    """`signals` one after another, `signal_ms` each with `gap_ms` of silence between.

    Six free-running oscillators keyed on and off, as an exchange's sender is built: a tone
    shared by consecutive signals continues without a phase jump. `level_dbm0` is per tone
    (R1 sends -7 dBm0). Raises `ValueError` for an unknown signal.
    """
    fs = int(rate)
    on = round(fs * signal_ms / 1000.0)
    off = round(fs * gap_ms / 1000.0)
    keys = [PAIRS[MfSignal(s)] for s in signals]
    total = len(keys) * (on + off)
    gate = np.zeros((len(MF_HZ), total), dtype=np.float64)
    for i, (lo, hi) in enumerate(keys):
        a = i * (on + off)
        gate[lo, a : a + on] = 1.0
        gate[hi, a : a + on] = 1.0
    t = np.arange(total, dtype=np.float64) / fs
    osc = np.sin(2.0 * math.pi * np.outer(np.array(MF_HZ), t))
    signal = amplitude_for(level_dbm0) * (gate * osc).sum(axis=0)
    out: Frame = np.clip(np.rint(signal), -32768, 32767).astype(np.int16)
    return out


def request_tone(
    duration_ms: float = 100.0,
    level_dbm0: float = -6.0,
    rate: SampleRate = SampleRate.NARROWBAND,
) -> Frame:
    """The AON request: `duration_ms` of 500 Hz (modems sent 100–200 ms, 200–250 ms after
    answering; cited in `firmware/media/aon.py`)."""
    n = round(int(rate) * duration_ms / 1000.0)
    t = np.arange(n, dtype=np.float64) / int(rate)
    tone = amplitude_for(level_dbm0) * np.sin(2.0 * math.pi * AON_REQUEST_HZ * t)
    out: Frame = np.clip(np.rint(tone), -32768, 32767).astype(np.int16)
    return out


@dataclass(frozen=True, slots=True)
class RequestToneStarted:
    """The 500 Hz request was confirmed on `channel` (about 30 ms after `start_sample`)."""

    channel: int
    start_sample: int


@dataclass(frozen=True, slots=True)
class RequestToneEnded:
    """The 500 Hz request ended on `channel` after `duration_ms` (±10 ms)."""

    channel: int
    start_sample: int
    duration_ms: int


class RequestToneDetector:
    """Finds the 500 Hz AON request on `channels` channels (one array per call, any length).

    10 ms blocks (five whole cycles, so the block DFT is exact); a block is a hit when the tone
    is above `min_level_dbm0`, holds `min_energy_ratio` of the block's energy and its phase
    advance from the previous block puts it within ±`tolerance_hz` of 500 Hz. Three hits in a
    row confirm, two misses end. Pure: sample counts, no clock.
    """

    _CONFIRM = 3
    _RELEASE = 2

    def __init__(
        self,
        channels: int = 1,
        rate: SampleRate = SampleRate.NARROWBAND,
        min_level_dbm0: float = -30.0,
        min_energy_ratio: float = 0.7,
        tolerance_hz: float = 10.0,
    ) -> None:
        self.channels = channels
        fs = float(rate)
        self._block = round(fs / 100.0)
        n = np.arange(self._block)
        self._basis = np.exp(-2j * math.pi * AON_REQUEST_HZ * n / fs).astype(np.complex64)
        self._rho = complex(np.exp(-2j * math.pi * AON_REQUEST_HZ * self._block / fs))
        self._hz_per_rad = fs / (2.0 * math.pi * self._block)
        self._min_energy = 0.5 * amplitude_for(min_level_dbm0) ** 2 * self._block
        self._ratio = min_energy_ratio
        self._tolerance_hz = tolerance_hz
        self._ms_per_sample = 1000.0 / fs
        self._tail = np.zeros((channels, 0), dtype=np.float32)
        self._prev = np.zeros(channels, dtype=np.complex64)
        self._blocks_done = 0
        self._run = [0] * channels
        self._misses = [0] * channels
        self._start = [0] * channels
        self._on = [False] * channels

    def process(self, samples: Frame) -> list[RequestToneStarted | RequestToneEnded]:
        """Consume samples; raises `ValueError` on a bad shape or dtype."""
        if samples.dtype != np.int16:
            raise ValueError("samples must be int16")
        data = samples.reshape(1, -1) if samples.ndim == 1 else samples
        if data.shape[0] != self.channels:
            raise ValueError(f"expected ({self.channels}, n) samples, got {samples.shape}")
        buf = np.concatenate((self._tail, data.astype(np.float32)), axis=1)
        nb = buf.shape[1] // self._block
        self._tail = buf[:, nb * self._block :].copy()
        if nb == 0:
            return []
        blocks = buf[:, : nb * self._block].reshape(self.channels, nb, self._block)
        z = blocks @ self._basis
        energy = np.einsum("cbn,cbn->cb", blocks, blocks)
        tone = np.abs(z) ** 2 * (2.0 / self._block)
        prev = np.concatenate((self._prev[:, None], z[:, :-1]), axis=1)
        self._prev = z[:, -1].copy()
        offset = np.angle(z * np.conj(prev) * self._rho) * self._hz_per_rad
        hit: npt.NDArray[np.bool_] = (
            (tone >= self._min_energy)
            & (tone >= self._ratio * energy)
            & (np.abs(offset) <= self._tolerance_hz)
        )
        first_block = self._blocks_done
        self._blocks_done += nb
        events: list[RequestToneStarted | RequestToneEnded] = []
        for ch in range(self.channels):
            if not hit[ch].any() and not self._on[ch] and not self._run[ch]:
                continue
            for k, h in enumerate(hit[ch].tolist()):
                block_start = (first_block + k) * self._block
                if h:
                    if self._run[ch] == 0:
                        self._start[ch] = block_start
                    self._run[ch] += 1
                    self._misses[ch] = 0
                    if not self._on[ch] and self._run[ch] >= self._CONFIRM:
                        self._on[ch] = True
                        events.append(RequestToneStarted(ch, self._start[ch]))
                else:
                    self._misses[ch] += 1
                    if self._on[ch] and self._misses[ch] >= self._RELEASE:
                        end = block_start - (self._RELEASE - 1) * self._block
                        ms = round((end - self._start[ch]) * self._ms_per_sample)
                        events.append(RequestToneEnded(ch, self._start[ch], ms))
                        self._on[ch] = False
                    if not self._on[ch]:
                        self._run[ch] = 0
        return events
