"""DTMF generator and receiver (ITU-T Q.23 tones, Q.24 receiver limits), many channels at once.

The receiver is also the engine of the "two out of six" MF receiver (`mf.py`): a `DualToneSpec`
says which frequencies, which pairs mean which symbol and which limits apply.

How it decides (all channels are one array operation; a 20 ms frame is 3⅓ blocks):

* Samples are cut into 6 ms blocks, projected onto the eight tones by one matrix product (a
  Goertzel bank evaluated as exact DFTs). A window is 4 blocks (24 ms), one every block.
* Cheap test, every window: the loudest tone of each group, its energy (sum over the blocks),
  the share of the window's energy the pair holds (≥ 75 %) and the level (≥ -36 dBm0 a tone).
* Full test, only on windows that pass and are not the continuation of a confirmed digit:
  - frequency: the phase advance of each tone between windows one block apart gives its offset
    to ±0.1 Hz; accepted within ±2.5 % (this, not a filter skirt, rejects 3.5 % and takes
    1.5 %), the two offsets within 3.5 % of each other (a harmonic pair reaches a DTMF pair
    only with opposite offsets near the limit);
  - twist from a Hann-windowed DFT of the window (a rectangular one lets the louder tone
    into the quieter one's estimate: ±1 dB at 8 dB twist);
  - the tone covers the window (the pair's weakest block ≥ 16 % of its strongest in power):
    this is what sets the shortest accepted tone;
  - talk-off: no other spectral line in 250–3400 Hz within 10 dB of the weaker tone (counting
    only lines 15× above the band's median, i.e. not noise). Voiced speech that lines two of
    its harmonics up with a pair has neighbouring harmonics of similar level; DTMF has none.
* A digit is confirmed by 3 hits of the same pair (one failed window tolerated between them),
  judged together with the exact limits: twist on the summed powers (≤ 9.5 dB normal, 5.5 dB
  reverse), mean offsets, and each tone's offset steady within 1 % (speech glides). It ends
  after 4 misses or when another digit is confirmed.

Figures met (tests/unit/media/dtmf/test_q24.py; margins by `bench/dtmf_bench.py --margins`):
accepts ±1.5 % (to ±2.25 % measured) and rejects ±3.5 % (from ±3.0 %) on any tone; accepts
normal twist (low-group tone the louder) of 8 dB and reverse twist of 4 dB, rejects 10 and 6 dB;
accepts 40 ms tones (from 36 ms) and rejects 25 ms ones (to 28 ms); a 40 ms pause separates
two digits; works at 10 dB signal-to-noise (white noise, whole band; 40 ms tones still at 8 dB)
from 0 down to -32 dBm0 composite (-35 dBm0 a tone). Talk-off: no digit on 7.8 minutes of
espeak-ng speech in seven languages and 5 minutes of sox music (tests/unit/media/dtmf/
test_talkoff.py), nor on 2.7 hours of further speech (18 more languages, 3 levels) used while
designing the guards. CPU (bench/dtmf_bench.py): per 20 ms frame and channel, 32 channels as
one array: 3.7 µs idle, 11 µs speech, 26 µs with a digit on every channel.

Levels follow the G.711 convention: a full-scale int16 sine is +3.17 dBm0, so a 0 dBm0 sine has a
peak amplitude of 32767 * 10**(-3.17/20) ≈ 22 776. The receiver assumes no DC offset.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from firmware.media.frame import Frame, SampleRate

log = logging.getLogger(__name__)

FULL_SCALE_DBM0: Final = 3.17
"""G.711: a full-scale int16 sine is +3.17 dBm0."""
PEAK_0DBM0: Final = 32767.0 * 10.0 ** (-FULL_SCALE_DBM0 / 20.0)
"""Peak amplitude of a 0 dBm0 sine in int16 units (≈ 22 776)."""

ROW_HZ: Final = (697.0, 770.0, 852.0, 941.0)
"""Q.23 low group."""
COLUMN_HZ: Final = (1209.0, 1336.0, 1477.0, 1633.0)
"""Q.23 high group."""
KEYPAD: Final = ("123A", "456B", "789C", "*0#D")
"""Q.23 keypad: row by low-group tone, column by high-group tone."""
DIGITS: Final = "0123456789*#ABCD"
"""Every DTMF symbol."""

def amplitude_for(level_dbm0: float) -> float:
    """Peak int16 amplitude of a sine at `level_dbm0` (G.711: 0 dBm0 ≈ 22 776)."""
    return float(PEAK_0DBM0 * 10.0 ** (level_dbm0 / 20.0))


def digit_frequencies(digit: str) -> tuple[float, float]:
    """(low-group Hz, high-group Hz) of `digit`; raises `ValueError` for anything else."""
    if len(digit) == 1:
        for row, keys in enumerate(KEYPAD):
            col = keys.find(digit.upper())
            if col >= 0:
                return ROW_HZ[row], COLUMN_HZ[col]
    raise ValueError(f"not a DTMF digit: {digit!r}")


def tone_pair(
    low_hz: float,
    high_hz: float,
    duration_ms: float,
    level_dbm0: float,
    rate: SampleRate = SampleRate.NARROWBAND,
    twist_db: float = 0.0,
    phase_rad: float = 0.0,
) -> Frame:
    """Two sines at `level_dbm0` each, the higher `twist_db` louder; rounded, clipped to int16."""
    n = round(int(rate) * duration_ms / 1000.0)
    t = np.arange(n, dtype=np.float64) / float(rate)
    amp = amplitude_for(level_dbm0)
    signal = amp * np.sin(2.0 * math.pi * low_hz * t + phase_rad) + amp * 10.0 ** (
        twist_db / 20.0
    ) * np.sin(2.0 * math.pi * high_hz * t + phase_rad)
    out: Frame = np.clip(np.rint(signal), -32768, 32767).astype(np.int16)
    return out


def dtmf_tone(
    digit: str,
    duration_ms: int,
    level_dbm0: float = -6.0,
    rate: SampleRate = SampleRate.NARROWBAND,
    twist_db: float = 0.0,
) -> Frame:
    """`duration_ms` of `digit` (Q.23 pair), one channel.

    `level_dbm0` is the level of the low-group tone; the high-group tone is `twist_db` louder
    (positive: reverse twist in receiver terms; telephones send about +2 dB). Two tones at more
    than -3 dBm0 each would exceed int16 and are clipped. Raises `ValueError` for a bad digit.
    """
    low_hz, high_hz = digit_frequencies(digit)
    return tone_pair(low_hz, high_hz, duration_ms, level_dbm0, rate, twist_db)


def dtmf_sequence(
    digits: str,
    on_ms: int = 80,
    off_ms: int = 80,
    level_dbm0: float = -6.0,
    rate: SampleRate = SampleRate.NARROWBAND,
    twist_db: float = 0.0,
) -> Frame:
    """`digits` as tones of `on_ms` separated (and followed) by `off_ms` of silence."""
    gap = np.zeros(round(int(rate) * off_ms / 1000.0), dtype=np.int16)
    parts: list[Frame] = []
    for digit in digits:
        parts.append(dtmf_tone(digit, on_ms, level_dbm0, rate, twist_db))
        parts.append(gap)
    return np.concatenate(parts) if parts else gap[:0]


@dataclass(frozen=True, slots=True)
class DualToneSpec:
    """What a dual-tone receiver listens for and the limits it applies.

    Tones are indexed by their position in `freqs_hz`. With `groups`, one tone is taken from each
    group (DTMF rows and columns); without, the two loudest of all (MF "two out of six").
    `symbols` maps (lower index, higher index) pairs to symbols. Twist compares the tone of the
    lower frequency with the higher: `max_normal_twist_db` bounds how much louder the lower may
    be, `max_reverse_twist_db` how much louder the higher may be. `ignore_hz` are tones whose
    energy is not counted against the pair (the 500 Hz AON request the exchange answers over).

    Twist and frequency are judged twice: each window loosely (`window_slack_db` added to the
    twist limits, `window_slack_freq` times the frequency tolerance), then the confirming run's
    last `confirm_windows` hits together with the exact limits (summed powers, mean offsets).
    Judging the run is what keeps a tone at 8 dB twist and 10 dB signal-to-noise from
    flickering across a 9.5 dB limit.
    """

    freqs_hz: tuple[float, ...]
    symbols: tuple[tuple[int, int, str], ...]
    groups: tuple[tuple[int, ...], tuple[int, ...]] | None
    block_ms: float
    """Analysis block; the phase advance over one block measures frequency (±1/(2·block))."""
    window_blocks: int
    """Blocks per decision window."""
    confirm_windows: int
    """Hits of the same symbol that confirm it."""
    release_windows: int
    """Consecutive misses that end a confirmed symbol."""
    min_level_dbm0: float
    """Threshold per tone."""
    max_normal_twist_db: float
    max_reverse_twist_db: float
    freq_tolerance: float
    """Largest accepted offset as a fraction of the nominal frequency…"""
    freq_tolerance_hz: float
    """…plus this many hertz."""
    min_energy_ratio: float
    """Share of the window's energy the two tones must hold."""
    ignore_hz: tuple[float, ...] = ()
    confirm_gaps: int = 0
    """Failed windows tolerated inside a confirming run."""
    max_offset_spread: float = 1.0
    """Largest difference between the two tones' fractional offsets. Q.24 offsets are
    independent, so a genuine pair may differ by twice the accept limit; a harmonic pair from
    speech or a sawtooth reaches the pair's frequencies only with opposite offsets near the
    tolerance (f and 2f against 697 and 1336 Hz: -2.2 % and +2.1 %)."""
    max_drift: float = 1.0
    """Largest spread of one tone's fractional offset across the confirming run's windows: a
    generator is crystal-stable, voiced speech glides (harmonics of a falling pitch move several
    per cent in 40 ms)."""
    min_block_fill: float = 0.4
    """The pair's weakest block in a window must reach this fraction of its strongest (in
    amplitude): a window passes only when the tone covers its first and last blocks, which is
    what sets the shortest accepted tone."""
    min_peak_margin_db: float | None = None
    """If set, no other spectral line from `peak_band_hz` (Hann-windowed FFT of the window,
    beyond 2.5 bins of either tone) may come within this many dB of the weaker tone. A DTMF
    signal is two lines; voiced speech that lines two of its harmonics up with a pair always
    has neighbouring harmonics of similar level."""
    peak_band_hz: tuple[float, float] = (250.0, 3400.0)
    line_over_floor: float = 15.0
    """…counting only lines this many times the band's median bin (noise is not a line)."""
    window_slack_db: float = 3.0
    window_slack_freq: float = 1.4


DTMF_SPEC: Final = DualToneSpec(
    freqs_hz=ROW_HZ + COLUMN_HZ,
    symbols=tuple((row, 4 + col, KEYPAD[row][col]) for row in range(4) for col in range(4)),
    groups=((0, 1, 2, 3), (4, 5, 6, 7)),
    block_ms=6.0,
    window_blocks=4,
    confirm_windows=3,
    release_windows=4,
    min_level_dbm0=-36.0,
    max_normal_twist_db=9.5,
    max_reverse_twist_db=5.5,
    freq_tolerance=0.025,
    freq_tolerance_hz=0.0,
    min_energy_ratio=0.75,
    confirm_gaps=1,
    max_offset_spread=0.035,
    max_drift=0.01,
    min_peak_margin_db=10.0,
)
"""Q.24 as an exchange applies it: each decision midway between its accept and reject figures."""


@dataclass(frozen=True, slots=True)
class DigitOnset:
    """A DTMF digit was confirmed on `channel`; it began near `start_sample` (±1 block)."""

    digit: str
    channel: int
    start_sample: int


@dataclass(frozen=True, slots=True)
class DigitDetected:
    """A DTMF digit ended: the whole tone, `duration_ms` long from `start_sample` (±8 ms)."""

    digit: str
    channel: int
    start_sample: int
    duration_ms: int


@dataclass(frozen=True, slots=True)
class ToneEvent:
    """Result of `DualToneReceiver`: `ended` False at onset, True with the duration."""

    symbol: str
    channel: int
    start_sample: int
    ended: bool
    duration_samples: int = 0


class _Track:
    """One channel's confirmation state (mutable, private)."""

    __slots__ = (
        "cand",
        "count",
        "gaps",
        "first",
        "recent",
        "active",
        "start",
        "last_hit",
        "misses",
    )

    def __init__(self) -> None:
        self.cand = -1
        self.count = 0
        self.gaps = 0
        self.first = 0
        self.recent: list[tuple[float, float, float, float]] = []
        """The candidate's last hits: (power low, power high, offset low, offset high)."""
        self.active = -1
        self.start = 0
        self.last_hit = 0
        self.misses = 0


@dataclass(frozen=True, slots=True)
class _Windows:
    """Per channel and window: symbol (-1 none), the pair's powers as the twist sees them
    (Hann-windowed DFT, corrected for the offset) and the pair's fractional offsets."""

    symbol: npt.NDArray[np.int16]
    p_lo: npt.NDArray[np.float32]
    p_hi: npt.NDArray[np.float32]
    d_lo: npt.NDArray[np.float32]
    d_hi: npt.NDArray[np.float32]


def _sinc2(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    out: npt.NDArray[np.float32] = np.sinc(x) ** 2
    return out


class DualToneReceiver:
    """Streaming dual-tone receiver over `channels` channels: feed blocks of any length.

    Pure: no clock. Sample positions count from the first sample ever given to `process`, so
    the caller turns them into time (`start_sample / rate`). State carries across calls: a tone
    may span any number of frames.

    Work is staged so that its cost follows the signal: every window gets the cheap test (one
    matrix product of the blocks onto the tones, then energy share and level); only windows
    that pass it (a tone pair is likely) get the Hann-windowed DFT, the frequency measurement
    and the spectral-line test; only channels with a candidate or a tone run the tracker.
    """

    def __init__(
        self,
        spec: DualToneSpec,
        channels: int = 1,
        rate: SampleRate = SampleRate.NARROWBAND,
    ) -> None:
        if channels < 1:
            raise ValueError("channels must be ≥ 1")
        self.spec = spec
        self.channels = channels
        self.rate = rate
        fs = float(rate)
        block = self._block = round(spec.block_ms * fs / 1000.0)
        window = self._window = spec.window_blocks * block
        tone_hz = np.array(spec.freqs_hz, dtype=np.float64)
        self._n_tones = len(tone_hz)
        # Per block: the tones and the ignored tones (cheap stage).
        freqs = np.concatenate((tone_hz, np.array(spec.ignore_hz, dtype=np.float64)))
        arg = 2.0 * math.pi * np.outer(np.arange(block), freqs) / fs
        self._block_basis = np.concatenate((np.cos(arg), -np.sin(arg)), axis=1).astype(np.float32)
        # Per candidate window: the Hann-windowed DFT at each tone. Its sidelobes keep the
        # louder tone out of the quieter one's estimate (a rectangular window lets -26 dB
        # through: ±1 dB of twist error at 8 dB twist).
        self._hann = (0.5 - 0.5 * np.cos(2.0 * math.pi * np.arange(window) / window)).astype(
            np.float32
        )
        arg = 2.0 * math.pi * np.outer(np.arange(window), tone_hz) / fs
        basis = np.concatenate((np.cos(arg), -np.sin(arg)), axis=1)
        self._hann_basis = (basis * self._hann[:, None]).astype(np.float32)
        # Pulse pair: the phase advance between windows one block apart, minus the nominal.
        self._rho = np.exp(-2j * math.pi * tone_hz * block / fs).astype(np.complex64)
        self._hz_per_rad = fs / (2.0 * math.pi * block)
        self._nominal = tone_hz.astype(np.float32)
        self._tol = (spec.freq_tolerance + spec.freq_tolerance_hz / tone_hz).astype(np.float32)
        self._cap_hz = (spec.window_slack_freq * self._tol * tone_hz).astype(np.float32)
        # Energy over one window of a tone at the threshold: (a²/2)·N.
        self._min_energy = 0.5 * amplitude_for(spec.min_level_dbm0) ** 2 * window
        # Cheap-stage margin: the most a block's response can lose at an accepted offset.
        x = math.pi * float(self._cap_hz.max()) * block / fs
        self._gate = (math.sin(x) / x) ** 2
        self._normal = 10.0 ** (spec.max_normal_twist_db / 10.0)
        self._reverse = 10.0 ** (spec.max_reverse_twist_db / 10.0)
        slack = 10.0 ** (spec.window_slack_db / 10.0)
        self._loose_normal = self._normal * slack
        self._loose_reverse = self._reverse * slack
        table = np.full((self._n_tones, self._n_tones), -1, dtype=np.int16)
        self._symbols: list[str] = []
        self._pairs: list[tuple[int, int]] = []
        for lo, hi, sym in spec.symbols:
            table[min(lo, hi), max(lo, hi)] = len(self._symbols)
            self._symbols.append(sym)
            self._pairs.append((min(lo, hi), max(lo, hi)))
        self._table = table
        # DTMF groups are runs of indices (rows 0–3, columns 4–7), lower group first: slices.
        self._slices: tuple[tuple[int, int], tuple[int, int]] | None = None
        if spec.groups is not None:
            ga, gb = spec.groups
            runs = list(ga) == list(range(ga[0], ga[-1] + 1)) and list(gb) == list(
                range(gb[0], gb[-1] + 1)
            )
            if not runs or ga[-1] >= gb[0]:
                raise ValueError("groups must be runs of indices, the lower group first")
            self._slices = ((ga[0], ga[-1] + 1), (gb[0], gb[-1] + 1))
        self._bin_hz = fs / window
        self._band = (
            math.ceil(spec.peak_band_hz[0] / self._bin_hz),
            math.floor(spec.peak_band_hz[1] / self._bin_hz) + 1,
        )
        self._grid = np.arange(*self._band, dtype=np.float32)
        margin = spec.min_peak_margin_db
        self._peak_margin = 10.0 ** (-margin / 10.0) if margin is not None else 0.0
        # A window passes once the tone fills `min_block_fill` of its first (last) block: the
        # onset and end estimates step back by that much, plus half a block for the grid.
        edge = spec.min_block_fill * block
        self._onset_lag = round((spec.window_blocks - 1) * block + edge + block / 2)
        self._end_lag = round(block / 2 - edge)
        # The last W blocks seen (the current window and the one before it need them).
        self._hist = np.zeros((channels, window), dtype=np.float32)
        self._tail = np.zeros((channels, 0), dtype=np.float32)
        self._blocks_done = 0
        self._tracks = [_Track() for _ in range(channels)]
        self._active = np.full(channels, -1, dtype=np.int16)  # mirrors _Track.active
        self._pending = np.zeros(channels, dtype=np.bool_)  # mirrors _Track.cand >= 0
        self._n_busy = 0  # channels with a candidate or a tone

    @property
    def samples_consumed(self) -> int:
        """Samples per channel given to `process` so far."""
        return self._blocks_done * self._block + self._tail.shape[1]

    def reset_channel(self, channel: int) -> None:
        """Forget `channel`'s history (a new call on the port); no event is emitted."""
        self._hist[channel] = 0
        self._tracks[channel] = _Track()
        self._active[channel] = -1
        self._pending[channel] = False
        self._n_busy = int(np.count_nonzero((self._active >= 0) | self._pending))

    def process(self, samples: Frame) -> list[ToneEvent]:
        """Consume `samples` (`(n,)` for one channel or `(channels, n)`), any n ≥ 0.

        Returns the onsets and ends these samples confirm, in time order per channel.
        Raises `ValueError` on a wrong shape or dtype.
        """
        if samples.dtype != np.int16:
            raise ValueError("samples must be int16")
        if samples.ndim == 1 and self.channels == 1:
            data = samples.reshape(1, -1)
        elif samples.ndim == 2 and samples.shape[0] == self.channels:
            data = samples
        else:
            raise ValueError(f"expected ({self.channels}, n) samples, got {samples.shape}")
        windows = self._analyse(data)
        if windows is None:
            return []
        return self._track(windows)

    def _analyse(self, data: Frame) -> _Windows | None:
        """Judge every window completed by `data`; None if no block was completed."""
        block, spec, w = self._block, self.spec, self.spec.window_blocks
        if self._tail.shape[1]:
            buf = np.concatenate((self._tail, data.astype(np.float32)), axis=1)
        else:
            buf = data.astype(np.float32)
        nb = buf.shape[1] // block
        self._tail = buf[:, nb * block :].copy()
        if nb == 0:
            return None
        c, f = self.channels, self._n_tones
        # xs: the previous W blocks, then the new ones; window k is blocks k+1 … k+W.
        xs = np.concatenate((self._hist, buf[:, : nb * block]), axis=1)
        self._hist = xs[:, nb * block :].copy()
        self._blocks_done += nb
        blocks = xs.reshape(c * (w + nb), block)
        proj = blocks @ self._block_basis
        squares = proj * proj
        half = proj.shape[1] // 2
        power = (squares[:, :half] + squares[:, half:]).reshape(c, w + nb, half)
        # One running sum over blocks for the tones and, in the last column, the energy.
        per_block = np.empty((c, w + nb, f + 1), dtype=np.float32)
        per_block[..., :f] = power[..., :f]
        energy = np.einsum("ij,ij->i", blocks, blocks).reshape(c, w + nb)
        if half > f:  # ignored tones do not count against the pair
            energy -= power[..., f:].sum(axis=-1) * (2.0 / block)
        per_block[..., f] = energy
        cum = np.cumsum(per_block, axis=1)
        sums = cum[:, w:] - cum[:, :nb]  # over window k: blocks k+1 … k+W
        tones = sums[..., :f] * (2.0 / block)  # energy of each tone in window k
        e_win = sums[..., f]

        if self._slices is not None:
            (a0, a1), (b0, b1) = self._slices
            ga, gb = tones[..., a0:a1], tones[..., b0:b1]
            lo, hi = ga.argmax(axis=-1) + a0, gb.argmax(axis=-1) + b0
            e_lo, e_hi = ga.max(axis=-1), gb.max(axis=-1)
        else:
            top2 = np.argpartition(-tones, 1, axis=-1)[..., :2]
            lo, hi = top2.min(axis=-1), top2.max(axis=-1)
            e_lo = np.take_along_axis(tones, lo[..., None], axis=-1)[..., 0]
            e_hi = np.take_along_axis(tones, hi[..., None], axis=-1)[..., 0]
        floor = self._min_energy * self._gate
        gate = (
            (e_lo >= floor)
            & (e_hi >= floor)
            & (e_lo + e_hi >= spec.min_energy_ratio * self._gate * e_win)
        )
        flat = np.flatnonzero(gate)
        if not flat.size and not self._n_busy:
            return None  # quiet everywhere: nothing to confirm, nothing to end
        ci, ki = np.divmod(flat, nb)
        symbol = np.full((c, nb), -1, dtype=np.int16)
        out = [np.zeros((c, nb), dtype=np.float32) for _ in range(4)]
        if ci.size:
            lo_c, hi_c = lo[ci, ki], hi[ci, ki]
            sym = self._table[lo_c, hi_c]
            # A tone already confirmed only has to go on being the same pair: the full test
            # is for confirming, where talk-off is decided.
            same = sym == self._active[ci]
            if same.any():
                cs, ks, ls, hs = ci[same], ki[same], lo_c[same], hi_c[same]
                rows_s, cs2 = ks[:, None] + 1 + np.arange(w)[None, :], cs[:, None]
                pair = power[cs2, rows_s, ls[:, None]] + power[cs2, rows_s, hs[:, None]]
                going_on = (pair.min(axis=1) >= spec.min_block_fill**2 * pair.max(axis=1)) & (
                    e_lo[cs, ks] + e_hi[cs, ks] >= spec.min_energy_ratio * e_win[cs, ks]
                )
                symbol[cs, ks] = np.where(going_on, sym[same], -1)
            full = np.flatnonzero(~same)
            if full.size:
                ci, ki, lo_c, hi_c, sym = ci[full], ki[full], lo_c[full], hi_c[full], sym[full]
                ok, vals = self._judge(xs, power, tones[ci, ki], ci, ki, lo_c, hi_c, e_win[ci, ki])
                symbol[ci, ki] = np.where(ok, sym, -1)
                for arr, val in zip(out, vals, strict=True):
                    arr[ci, ki] = val
        return _Windows(symbol, *out)

    def _judge(
        self,
        xs: npt.NDArray[np.float32],
        power: npt.NDArray[np.float32],
        tones: npt.NDArray[np.float32],
        ci: npt.NDArray[np.intp],
        ki: npt.NDArray[np.intp],
        lo: npt.NDArray[np.intp],
        hi: npt.NDArray[np.intp],
        e_win: npt.NDArray[np.float32],
    ) -> tuple[npt.NDArray[np.bool_], tuple[npt.NDArray[np.float32], ...]]:
        """The full test on candidate windows (channel `ci`, window `ki`); `tones` are their
        per-tone energies from the blocks."""
        block, spec, w, f = self._block, self.spec, self.spec.window_blocks, self._n_tones
        n = ci.size
        sel = np.arange(n)
        # Window k starts at block k+1 of xs; the one before it a block earlier.
        starts = np.lib.stride_tricks.sliding_window_view(xs, self._window, axis=1)[:, ::block]
        cur = starts[ci, ki + 1]
        both = np.concatenate((cur, starts[ci, ki])) @ self._hann_basis
        dft = both[:, :f] + 1j * both[:, f:]
        h_cur, h_prev = dft[:n], dft[n:]
        pair = np.stack((lo, hi))  # (2, n): each quantity below is computed for both tones
        h = h_cur[sel, pair]
        offset_hz = (
            np.angle(h * np.conj(h_prev[sel, pair]) * self._rho[pair]) * self._hz_per_rad
        ).astype(np.float32)
        a = np.minimum(np.abs(offset_hz), self._cap_hz[pair])
        # Energies from the blocks, corrected for one block's loss at the offset; twist from
        # the Hann DFT, corrected for the Hann response at the offset.
        p = tones[sel, pair] / _sinc2(a * (block / float(self.rate)))
        u = a * (self._window / float(self.rate))
        t = (h.real**2 + h.imag**2) / np.maximum(_sinc2(u) / (1.0 - u**2) ** 2, 0.05)
        frac = offset_hz / self._nominal[pair]
        # The pair's power in each block: the weakest against the strongest says whether the
        # tone covers the window's first and last blocks. (The pair's sum, because a block is
        # too short to keep the louder tone out of the quieter one's bin.)
        rows = ki[:, None] + 1 + np.arange(w)[None, :]
        pair_blocks = power[ci[:, None], rows, lo[:, None]] + power[ci[:, None], rows, hi[:, None]]
        even = pair_blocks.min(axis=1) >= spec.min_block_fill**2 * pair_blocks.max(axis=1)
        loose = spec.window_slack_freq
        ok = (
            even
            & (p[0] >= self._min_energy)
            & (p[1] >= self._min_energy)
            & (t[0] <= t[1] * self._loose_normal)
            & (t[1] <= t[0] * self._loose_reverse)
            & (np.abs(frac) <= loose * self._tol[pair]).all(axis=0)
            & (np.abs(frac[0] - frac[1]) <= loose * spec.max_offset_spread)
            & (p[0] + p[1] >= spec.min_energy_ratio * e_win)
        )
        if spec.min_peak_margin_db is not None and ok.any():
            keep = np.flatnonzero(ok)
            lines_ok = self._lines_ok(
                cur[keep] * self._hann,
                (offset_hz + self._nominal[pair])[:, keep],
                np.minimum(t[0], t[1])[keep],
            )
            ok[keep] = lines_ok
        return ok, (t[0], t[1], frac[0], frac[1])

    def _lines_ok(
        self,
        windowed: npt.NDArray[np.float32],
        tone_hz: npt.NDArray[np.float32],
        weak: npt.NDArray[np.float32],
    ) -> npt.NDArray[np.bool_]:
        """Is every other spectral line in the band far enough below the weaker tone?"""
        spectrum = np.fft.rfft(windowed, axis=-1)[:, self._band[0] : self._band[1]]
        lines = spectrum.real**2 + spectrum.imag**2
        pos = tone_hz / self._bin_hz  # (2, n)
        far = (np.abs(self._grid - pos[0][:, None]) > 2.5) & (
            np.abs(self._grid - pos[1][:, None]) > 2.5
        )
        other = np.where(far, lines, 0.0).max(axis=-1)
        # A line, not the top of a noise floor: white noise's largest bin over this band is
        # about 5x the mean (7x the median); a speech harmonic stands far higher.
        half = lines.shape[1] // 2
        floor = np.partition(lines, half, axis=-1)[:, half]
        ok: npt.NDArray[np.bool_] = (other <= weak * self._peak_margin) | (
            other <= self.spec.line_over_floor * floor
        )
        return ok

    def _run_ok(self, t: _Track) -> bool:
        """The exact limits on the candidate's last `confirm_windows` hits: twist on summed
        powers, offsets on their means, and each tone's offset steady across them."""
        if t.count < self.spec.confirm_windows:
            return False
        lo, hi = self._pairs[t.cand]
        p_lo, p_hi, d_lo, d_hi = zip(*t.recent, strict=True)
        n = len(t.recent)
        s_lo, s_hi, m_lo, m_hi = sum(p_lo), sum(p_hi), sum(d_lo) / n, sum(d_hi) / n
        spec = self.spec
        return bool(
            s_lo <= s_hi * self._normal
            and s_hi <= s_lo * self._reverse
            and abs(m_lo) <= self._tol[lo]
            and abs(m_hi) <= self._tol[hi]
            and abs(m_lo - m_hi) <= spec.max_offset_spread
            and max(d_lo) - min(d_lo) <= spec.max_drift
            and max(d_hi) - min(d_hi) <= spec.max_drift
        )

    def _track(self, win: _Windows) -> list[ToneEvent]:
        """Confirm and release symbols per channel; only busy channels are looked at."""
        hits = win.symbol
        busy: npt.NDArray[np.bool_] = (hits >= 0).any(axis=1) | (self._active >= 0) | self._pending
        if not busy.any():
            return []
        events: list[ToneEvent] = []
        nw = hits.shape[1]
        first_end = (self._blocks_done - nw + 1) * self._block
        spec = self.spec
        confirm, release, max_gaps = spec.confirm_windows, spec.release_windows, spec.confirm_gaps
        for ch in np.flatnonzero(busy).tolist():
            t = self._tracks[ch]
            row = hits[ch].tolist()
            if t.active >= 0 and row.count(t.active) == nw:  # a tone going on: the usual case
                t.count += nw
                t.misses, t.last_hit = 0, first_end + (nw - 1) * self._block
                continue
            for k, d in enumerate(row):
                now = first_end + k * self._block
                if d >= 0:
                    if d != t.cand:
                        t.cand, t.count, t.gaps, t.first = d, 0, 0, now
                        t.recent.clear()
                    t.count += 1
                    if d != t.active:
                        t.recent.append(
                            (
                                float(win.p_lo[ch, k]),
                                float(win.p_hi[ch, k]),
                                float(win.d_lo[ch, k]),
                                float(win.d_hi[ch, k]),
                            )
                        )
                        if len(t.recent) > confirm:
                            del t.recent[0]
                elif t.cand >= 0 and t.gaps < max_gaps and t.cand != t.active:
                    t.gaps += 1  # one noisy window does not restart a confirming run
                else:
                    t.cand, t.count = -1, 0
                if t.active >= 0:
                    if d == t.active:
                        t.misses, t.last_hit = 0, now
                    else:
                        t.misses += 1
                        if t.misses >= release or (t.cand >= 0 and self._run_ok(t)):
                            end = max(t.last_hit - self._end_lag, t.start + 1)
                            symbol = self._symbols[t.active]
                            events.append(ToneEvent(symbol, ch, t.start, True, end - t.start))
                            t.active = -1
                if t.active < 0 and t.cand >= 0 and self._run_ok(t):
                    t.active, t.misses, t.last_hit = t.cand, 0, now
                    t.start = max(t.first - self._onset_lag, 0)
                    events.append(ToneEvent(self._symbols[t.active], ch, t.start, False))
            self._active[ch] = t.active
            self._pending[ch] = t.cand >= 0
        self._n_busy = int(np.count_nonzero((self._active >= 0) | self._pending))
        return events


class DtmfReceiver:
    """ITU-T Q.24 DTMF receiver for `channels` ports processed as one array.

    `process` takes `(samples,)` for one channel or `(channels, samples)`, any length (a 20 ms
    frame is usual) and returns `DigitOnset` when a digit is confirmed (about 40 ms into the
    tone; use it to start an RFC 4733 event) and `DigitDetected` when it ends.
    """

    def __init__(self, channels: int = 1, rate: SampleRate = SampleRate.NARROWBAND) -> None:
        self._core = DualToneReceiver(DTMF_SPEC, channels, rate)
        self._ms_per_sample = 1000.0 / float(rate)

    @property
    def channels(self) -> int:
        """Channels per `process` call."""
        return self._core.channels

    @property
    def samples_consumed(self) -> int:
        """Samples per channel processed so far (the clock of `start_sample`)."""
        return self._core.samples_consumed

    def reset_channel(self, channel: int) -> None:
        """Forget `channel`'s state (new call); a digit in progress is dropped silently."""
        self._core.reset_channel(channel)

    def process(self, samples: Frame) -> list[DigitOnset | DigitDetected]:
        """Consume samples; see the class docstring. Raises `ValueError` on a bad shape."""
        out: list[DigitOnset | DigitDetected] = []
        for ev in self._core.process(samples):
            if ev.ended:
                duration_ms = round(ev.duration_samples * self._ms_per_sample)
                out.append(DigitDetected(ev.symbol, ev.channel, ev.start_sample, duration_ms))
            else:
                out.append(DigitOnset(ev.symbol, ev.channel, ev.start_sample))
        return out
