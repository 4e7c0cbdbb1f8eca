"""Call-progress tone detector for analog lines: dial, ringback, busy, congestion, silence, unknown.

An FXO line often gives no disconnect signal: when the far end hangs up, the exchange plays busy
or congestion tone, and that tone is what must clear the call. The detector is configured with a
country `TonePlan` (tones.py) and classifies by frequency and cadence:

* Every 20 ms block is projected (least squares) onto sine/cosine pairs at every frequency the
  plan's dial, ringback, busy and congestion tones use (300–650 Hz). The block is *tonal* when
  that projection holds ≥ 70 % of its energy (speech and noise spread energy elsewhere), and
  its *signature* is the set of plan frequencies within 6 dB of the strongest one (US busy =
  {480, 620}, ringback = {440, 480}; UK busy {400}, ringback {400, 450}). Below the floor
  (−42 dBm0) a block is *quiet*; a non-tonal block 9 dB or more under the last tone burst is
  quiet too (line noise between bursts), otherwise it is *noise*.
* Block labels are debounced (two blocks to change) into runs with durations. Each time a run
  ends, the recent on/off runs of each tone's signature are compared with that tone's cadence,
  any rotation, each run within ±25 % or ±60 ms: busy and congestion are confirmed after two
  full cycles, ringback after one. Dial tone is a steady run of its signature longer than any
  cadenced tone with the same signature could be (1.0 s for US/UK, 1.35 s for 425 Hz plans).
* Silence is ≥ 2.5 s quiet (longer after a burst that fits a cadence with a longer pause, such
  as the 4 s of ringback); unknown is ≥ 1.5 s of non-tonal energy within 3 s (speech, music,
  modem).

Events (`ProgressDetected`) are emitted when the classification changes; `at_ms` counts audio
from the first sample. Measured (test_progress.py, bench_tones.py): all 24 tones of the six plans
classified at 10 dB SNR (white noise over the band) 12 dB below plan level, and clean down to
18 dB below (US busy at −42 dBm0); busy confirmed 2 cycles + ≤ 60 ms after it starts; on
espeak-ng speech ≤ 0.5 % of blocks are tonal, in stretches of ≤ 40 ms (the shortest
cadenced burst is 175 ms), and no tone is reported on speech or silence.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from firmware.media.dsp.tones import Tone, TonePlan
from firmware.media.frame import Frame, SampleRate

FULL_SCALE_DBM0 = 3.17
"""G.711: a full-scale int16 sine is +3.17 dBm0 (0 dBm0 peaks at ≈ 22776)."""
BLOCK_MS = 20
NOISE_WINDOW_MS = 3000
"""Unknown = at least `unknown_ms` of non-tonal energy within this window."""
TONE_MEMORY_MS = 8000
"""How long the level of the last tone burst sets the quiet threshold."""


class ProgressTone(StrEnum):
    """What the line is doing."""

    DIAL = "dial"
    RINGBACK = "ringback"
    BUSY = "busy"
    CONGESTION = "congestion"
    SILENCE = "silence"
    UNKNOWN = "unknown"
    """Energy that is no progress tone: speech, music, a modem."""


@dataclass(frozen=True, slots=True)
class ProgressDetected:
    """The line changed to `tone`, confirmed `at_ms` into the audio."""

    tone: ProgressTone
    at_ms: int


@dataclass(frozen=True, slots=True)
class _Pattern:
    tone: ProgressTone
    signature: frozenset[float]
    runs: tuple[tuple[bool, int], ...]
    runs_needed: int


class _Label(StrEnum):
    QUIET = "quiet"
    NOISE = "noise"


Symbol = _Label | frozenset[float]


def _signature(tone: Tone) -> frozenset[float]:
    return tone.on_components_hz()


def _power_dbm0(level_dbm0: float) -> float:
    """Mean power (int16² units) of a sine at `level_dbm0`."""
    amp = 32767.0 * math.pow(10.0, (level_dbm0 - FULL_SCALE_DBM0) / 20.0)
    return amp * amp / 2.0


class ProgressDetector:
    """Classifies call-progress tones of one line. Sans-I/O: feed frames, read events.

    `process` takes int16 samples of any length (one channel) and returns the classifications
    confirmed in them. `tone` is the current classification (None before the first one).
    """

    def __init__(
        self,
        plan: TonePlan,
        rate: SampleRate = SampleRate.NARROWBAND,
        *,
        floor_dbm0: float = -42.0,
        tonal_share: float = 0.7,
        tolerance: float = 0.25,
        tolerance_ms: int = 60,
        min_dial_ms: int = 1000,
        silence_ms: int = 2500,
        unknown_ms: int = 1500,
        quiet_below_tone_db: float = 9.0,
    ) -> None:
        self._rate = int(rate)
        self._block = self._rate * BLOCK_MS // 1000
        self._floor = _power_dbm0(floor_dbm0)
        self._share = tonal_share
        self._tol = tolerance
        self._tol_ms = tolerance_ms
        self._silence_ms = silence_ms
        self._unknown_ms = unknown_ms
        self._quiet_ratio = math.pow(10.0, -quiet_below_tone_db / 10.0)

        cadenced = [
            (ProgressTone.RINGBACK, plan.ringback, 1),
            (ProgressTone.BUSY, plan.busy, 2),
            (ProgressTone.CONGESTION, plan.congestion, 2),
        ]
        self._patterns = tuple(
            _Pattern(kind, _signature(t), t.cadence_ms(), len(t.cadence_ms()) * cycles)
            for kind, t, cycles in cadenced
            if t.cadence_ms()
        )
        self._dial_sig = _signature(plan.dial) if plan.dial.is_continuous else None
        same = [
            on_ms
            for p in self._patterns
            if p.signature == self._dial_sig
            for on, on_ms in p.runs
            if on
        ]
        longest_cadenced_on = max(same, default=0)
        self._dial_ms = max(
            min_dial_ms, int(longest_cadenced_on * (1 + self._tol)) + self._tol_ms + 2 * BLOCK_MS
        )
        self._max_on_ms = {
            p.signature: max(
                max(ms for on, ms in p.runs if on) * (1 + self._tol) + self._tol_ms,
                0.0,
            )
            for p in self._patterns
        }

        freqs = sorted(
            set().union(*(p.signature for p in self._patterns), self._dial_sig or frozenset())
        )
        self._freqs = np.array(freqs, dtype=np.float64)
        t = np.arange(self._block, dtype=np.float64) / self._rate
        phase = 2 * np.pi * self._freqs[:, None] * t
        basis = np.concatenate([np.cos(phase), np.sin(phase)]).T  # (block, 2K)
        q, r = np.linalg.qr(basis)
        self._qt_t = np.ascontiguousarray(q)
        self._r_inv_t = np.ascontiguousarray(np.linalg.inv(r).T)
        # Frequency subsets by bit mask, built once: labels compare by identity-cheap hashing.
        k = len(freqs)
        self._bits = 1 << np.arange(k)
        self._signatures = [
            frozenset(f for j, f in enumerate(freqs) if m >> j & 1) for m in range(1 << k)
        ]

        self._pending = np.zeros(0, dtype=np.float64)
        self._t_ms = 0  # start time of the next block
        self._cur: Symbol = _Label.QUIET
        self._cur_start = 0
        self._cand: Symbol | None = None
        self._cand_start = 0
        self._cand_count = 0
        self._runs: deque[tuple[Symbol, int]] = deque(maxlen=24)
        self._tone_power = 0.0  # mean power of the last tonal run
        self._run_power = 0.0
        self._run_blocks = 0
        self._tone_seen_ms = -TONE_MEMORY_MS - 1
        self._noise_blocks: deque[int] = deque()
        self.tone: ProgressTone | None = None

    @property
    def dial_confirm_ms(self) -> int:
        """How long a steady dial tone must last before it is reported."""
        return self._dial_ms

    def process(self, samples: Frame) -> list[ProgressDetected]:
        """Consume int16 samples (one channel); classifications confirmed in them."""
        x = np.asarray(samples, dtype=np.float64).reshape(-1)
        if self._pending.size:
            x = np.concatenate([self._pending, x])
        whole = x.size // self._block
        self._pending = x[whole * self._block :]
        out: list[ProgressDetected] = []
        if whole == 0:
            return out
        blocks = x[: whole * self._block].reshape(whole, self._block)
        labels, powers = self._label(blocks)
        for label, power in zip(labels, powers, strict=True):
            out += self._step(label, power)
        return out

    # --- per block ---------------------------------------------------------------------

    def _label(self, blocks: npt.NDArray[np.float64]) -> tuple[list[Symbol], list[float]]:
        """Label and mean power of each block."""
        energy = np.einsum("ij,ij->i", blocks, blocks)
        proj = blocks @ self._qt_t  # (n, 2K) coordinates in the orthonormal basis
        share = np.einsum("ij,ij->i", proj, proj) / np.maximum(energy, 1e-9)
        coef = proj @ self._r_inv_t  # least-squares cos/sin amplitudes
        k = self._freqs.size
        amp2 = coef[:, :k] ** 2 + coef[:, k:] ** 2
        present = amp2 >= 0.25 * amp2.max(axis=1, keepdims=True)  # within 6 dB of the strongest
        masks = (present @ self._bits).tolist()
        powers = (energy / self._block).tolist()
        shares = share.tolist()
        labels: list[Symbol] = []
        # Relative quiet only while a tone was heard recently: later speech may be softer.
        recent = self._t_ms - self._tone_seen_ms <= TONE_MEMORY_MS
        quiet_level = max(self._floor, self._tone_power * self._quiet_ratio if recent else 0.0)
        for power, tonal, mask in zip(powers, shares, masks, strict=True):
            # A tone is a tone at any level above the floor (levels step when lines switch);
            # the level of the last burst only decides whether the rest is quiet or noise.
            if power < self._floor:
                labels.append(_Label.QUIET)
            elif tonal >= self._share:
                labels.append(self._signatures[mask])
            elif power < quiet_level:
                labels.append(_Label.QUIET)
            else:
                labels.append(_Label.NOISE)
        return labels, powers

    def _step(self, label: Symbol, power: float) -> list[ProgressDetected]:
        now = self._t_ms
        self._t_ms += BLOCK_MS
        events: list[ProgressDetected] = []
        if label == self._cur:
            self._cand = None
        elif label == self._cand:
            self._cand_count += 1
            if self._cand_count >= 2:
                event = self._commit(label, self._cand_start)
                if event is not None:
                    events.append(event)
        else:
            self._cand, self._cand_start, self._cand_count = label, now, 1
        if label == _Label.NOISE:
            self._noise_blocks.append(now)
        elif isinstance(label, frozenset):
            self._noise_blocks.clear()
        if isinstance(self._cur, frozenset) and label == self._cur:
            self._run_power += power
            self._run_blocks += 1
            self._tone_seen_ms = now
            if self._run_blocks >= 3:  # the off blocks right after a burst need its level
                self._tone_power = self._run_power / self._run_blocks
        timed = self._timers(now + BLOCK_MS)
        if timed is not None:
            events.append(timed)
        return events

    def _commit(self, label: Symbol, start: int) -> ProgressDetected | None:
        self._runs.append((self._cur, start - self._cur_start))
        if isinstance(self._cur, frozenset) and self._run_blocks:
            self._tone_power = self._run_power / self._run_blocks
        self._cur, self._cur_start = label, start
        self._cand = None
        self._run_power, self._run_blocks = 0.0, 0
        return self._match_cadence(start)

    def _match_cadence(self, now: int) -> ProgressDetected | None:
        for p in self._patterns:
            onoff = self._onoff(p.signature)
            if len(onoff) < p.runs_needed:
                continue
            recent = onoff[-p.runs_needed :]
            size = len(p.runs)
            for rot in range(size):
                if all(
                    self._fits(recent[i], p.runs[(rot + i) % size]) for i in range(p.runs_needed)
                ):
                    return self._set(p.tone, now)
        return None

    def _onoff(self, signature: frozenset[float]) -> list[tuple[bool, int]]:
        """Closed runs seen as on (this signature) / off (anything else), offs merged."""
        merged: list[tuple[bool, int]] = []
        for symbol, ms in self._runs:
            on = symbol == signature
            if merged and merged[-1][0] == on:
                merged[-1] = (on, merged[-1][1] + ms)
            else:
                merged.append((on, ms))
        # The oldest run may have started before the detector did: never trust it.
        return merged[1:]

    def _fits(self, seen: tuple[bool, int], want: tuple[bool, int]) -> bool:
        if seen[0] != want[0]:
            return False
        slack = max(self._tol * want[1], self._tol_ms)
        return abs(seen[1] - want[1]) <= slack

    def _timers(self, now: int) -> ProgressDetected | None:
        held = now - self._cur_start
        if self._cur == _Label.QUIET:
            if held >= self._silence_limit_ms():
                return self._set(ProgressTone.SILENCE, now)
        elif self._cur == _Label.NOISE and self._noise_ms(now) >= self._unknown_ms:
            return self._set(ProgressTone.UNKNOWN, now)
        elif self._cur == self._dial_sig:
            if held >= self._dial_ms:
                return self._set(ProgressTone.DIAL, now)
        elif isinstance(self._cur, frozenset):
            # A tone steadier than any cadence allows (or of no plan tone) is not progress.
            longest = self._max_on_ms.get(self._cur, 0.0)
            if held >= longest + self._unknown_ms:
                return self._set(ProgressTone.UNKNOWN, now)
        return None

    def _silence_limit_ms(self) -> int:
        """Quiet long enough to be silence: longer when the last burst could be a cadence's."""
        limit = self._silence_ms
        # The last burst, looking past the odd short noise run at its tail.
        burst = next(
            (r for r in reversed(self._runs) if isinstance(r[0], frozenset) or r[1] > 100), None
        )
        if burst is None:
            return limit
        symbol, ms = burst
        for p in self._patterns:
            if p.signature != symbol or not any(self._fits((True, ms), r) for r in p.runs):
                continue
            longest_off = max((off for on, off in p.runs if not on), default=0)
            limit = max(limit, int(longest_off * (1 + self._tol)) + self._tol_ms)
        return limit

    def _noise_ms(self, now: int) -> int:
        """Non-tonal energy within the last `NOISE_WINDOW_MS`: speech has pauses."""
        while self._noise_blocks and self._noise_blocks[0] < now - NOISE_WINDOW_MS:
            self._noise_blocks.popleft()
        return len(self._noise_blocks) * BLOCK_MS

    def _set(self, tone: ProgressTone, now: int) -> ProgressDetected | None:
        if tone is self.tone:
            return None
        self.tone = tone
        return ProgressDetected(tone, now)
