"""Fax and modem answer tone detection: CNG (calling) and CED / ANS (answering).

ITU-T T.30: CNG is 1100 Hz ± 38 Hz, 0.5 s on, 3 s off; CED is 2100 Hz ± 15 Hz for 2.6–4 s.
ITU-T V.25 / V.8: the answer tone ANS is the same 2100 Hz, optionally with phase reversals every
450 ms (/ANS, used to disable echo cancellers, G.165/G.168) and 15 Hz amplitude modulation (ANSam).

Each 20 ms block is projected (least squares) onto sine/cosine pairs at 1062, 1100 and 1138 Hz
(covering the ±38 Hz CNG tolerance) and at 2080, 2100 and 2120 Hz (±15 Hz and the ANSam
sidebands); a block is a tone block when that projection
holds ≥ 80 % of its energy and the level is above −43 dBm0 (the T.30 receive threshold).
* CNG: one burst of 400–650 ms followed by ≥ 100 ms without it (one burst is enough: a fax that
  calls sends nothing else; `cng_bursts=2` waits for the second burst 3 s later).
* CED/ANS: 2100 Hz held for `ced_confirm_ms` (600 ms; one block may drop out, which is what a
  phase reversal does to a block). Phase reversals are found from the block phasors: a jump of
  about 180° against the tone's own steady phase rotation; `phase_reversals` reports whether one
  was seen, telling V.25 /ANS (echo cancellers must be disabled) from plain CED.
Speech is not tonal enough for long enough: no detection on the espeak-ng speech of
tests/unit/media/tones/test_fax.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from firmware.media.frame import Frame, SampleRate

FULL_SCALE_DBM0 = 3.17
"""G.711: a full-scale int16 sine is +3.17 dBm0 (0 dBm0 peaks at ≈ 22776)."""
BLOCK_MS = 20
CNG_HZ = (1062.0, 1100.0, 1138.0)
CED_HZ = 2100.0
CED_BAND_HZ = (2080.0, 2100.0, 2120.0)
"""±15 Hz tolerance plus the ±15 Hz sidebands of ANSam."""
RESET_AFTER_QUIET_MS = 5000
"""Longer than the 3 s pause between CNG bursts."""


class FaxTone(StrEnum):
    """Which tone was heard."""

    CNG = "cng"
    """A fax machine is calling."""
    CED = "ced"
    """A fax machine or modem answered (2100 Hz)."""


@dataclass(frozen=True, slots=True)
class FaxToneDetected:
    """`tone` confirmed `at_ms` into the audio; for CED, whether phase reversals were seen."""

    tone: FaxTone
    at_ms: int
    phase_reversals: bool = False


class FaxToneDetector:
    """CNG and CED/ANS detector for one channel. Sans-I/O: `process(samples)` → events.

    Each tone is reported once until the line has been quiet for 5 s (`reset` forgets all).
    """

    def __init__(
        self,
        rate: SampleRate = SampleRate.NARROWBAND,
        *,
        floor_dbm0: float = -43.0,
        tonal_share: float = 0.8,
        ced_confirm_ms: int = 600,
        cng_bursts: int = 1,
    ) -> None:
        self._rate = int(rate)
        self._block = self._rate * BLOCK_MS // 1000
        amp = 32767.0 * math.pow(10.0, (floor_dbm0 - FULL_SCALE_DBM0) / 20.0)
        self._floor_energy = amp * amp / 2.0 * self._block
        self._share = tonal_share
        self._ced_blocks = max(1, ced_confirm_ms // BLOCK_MS)
        self._cng_bursts = cng_bursts
        t = np.arange(self._block, dtype=np.float64) / self._rate
        self._cng_q = self._orthonormal(CNG_HZ, t)
        self._ced_q = self._orthonormal(CED_BAND_HZ, t)
        self._ced_ref = np.exp(-2j * math.pi * CED_HZ * t)  # phasor of one block
        self._pending = np.zeros(0, dtype=np.float64)
        self._t_ms = 0
        self.reset()

    @staticmethod
    def _orthonormal(
        freqs: tuple[float, ...], t: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        phase = 2 * math.pi * np.array(freqs)[:, None] * t
        q, _ = np.linalg.qr(np.concatenate([np.cos(phase), np.sin(phase)]).T)
        qt: npt.NDArray[np.float64] = q.T.copy()
        return qt

    def reset(self) -> None:
        """Forget everything heard so far (new call)."""
        self._cng_run = 0
        self._cng_gap = 0
        self._cng_seen = 0
        self._cng_done = False
        self._ced_run = 0
        self._ced_miss = 0
        self._ced_done = False
        self._ced_phasors: list[complex] = []
        self._reversal = False
        self._quiet = 0

    def process(self, samples: Frame) -> list[FaxToneDetected]:
        """Consume int16 samples (one channel); tones confirmed in them."""
        x = np.concatenate([self._pending, np.asarray(samples, dtype=np.float64).reshape(-1)])
        whole = x.size // self._block
        self._pending = x[whole * self._block :]
        out: list[FaxToneDetected] = []
        if whole == 0:
            return out
        blocks = x[: whole * self._block].reshape(whole, self._block)
        energy = np.sum(blocks * blocks, axis=1)
        loud = energy > self._floor_energy
        safe = np.maximum(energy, 1e-9)
        cng = loud & (np.sum((blocks @ self._cng_q.T) ** 2, axis=1) / safe >= self._share)
        ced = loud & (np.sum((blocks @ self._ced_q.T) ** 2, axis=1) / safe >= self._share)
        # Phasor of 2100 Hz per block, on the absolute time axis (rotation per block is steady).
        start = self._t_ms * self._rate // 1000 + np.arange(whole) * self._block
        phasors = (blocks @ self._ced_ref) * np.exp(-2j * math.pi * CED_HZ * start / self._rate)
        for i in range(whole):
            now = self._t_ms
            self._t_ms += BLOCK_MS
            self._quiet = 0 if loud[i] else self._quiet + 1
            if self._quiet * BLOCK_MS >= RESET_AFTER_QUIET_MS:
                self.reset()
            event = self._cng(bool(cng[i]), now)
            if event is not None:
                out.append(event)
            event = self._ced(bool(ced[i]), complex(phasors[i]), now)
            if event is not None:
                out.append(event)
        return out

    def _cng(self, hit: bool, now: int) -> FaxToneDetected | None:
        if hit:
            self._cng_run += 1
            self._cng_gap = 0
            return None
        self._cng_gap += 1
        if self._cng_run and self._cng_gap * BLOCK_MS >= 100:
            burst_ms = self._cng_run * BLOCK_MS
            self._cng_run = 0
            if 400 <= burst_ms <= 650:
                self._cng_seen += 1
                if self._cng_seen >= self._cng_bursts and not self._cng_done:
                    self._cng_done = True
                    return FaxToneDetected(FaxTone.CNG, now)
            else:
                self._cng_seen = 0
        if self._cng_gap * BLOCK_MS > 4000:
            self._cng_seen = 0
        return None

    def _ced(self, hit: bool, phasor: complex, now: int) -> FaxToneDetected | None:
        if hit:
            self._ced_miss = 0
            self._ced_run += 1
            self._ced_phasors.append(phasor)
            self._reversal = self._reversal or self._reversed()
        else:
            self._ced_miss += 1
            if self._ced_miss > 1:  # one block may drop out: a reversal inside it
                self._ced_run = 0
                self._ced_phasors.clear()
                self._reversal = False
                return None
            self._ced_phasors.append(phasor)
        if self._ced_run >= self._ced_blocks and not self._ced_done:
            self._ced_done = True
            return FaxToneDetected(FaxTone.CED, now, self._reversal)
        return None

    def _reversed(self) -> bool:
        """A ~180° jump over the last two block steps against the steady rotation."""
        p = np.array(self._ced_phasors[-12:])
        if p.size < 5:
            return False
        steps = np.angle(p[1:] * np.conj(p[:-1]))
        typical = float(np.median(steps))
        pair = steps[-2] + steps[-1] - 2.0 * typical
        jump = abs(math.remainder(pair, 2.0 * math.pi))
        return jump > 2.0 * math.pi / 3.0
