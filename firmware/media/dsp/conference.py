"""N-party conference mixer: one `(P, samples)` array in, one out, per 20 ms tick.

Each party hears the sum of every other mixed party, computed as `total − own` (float32) so the
cost is one sum over parties plus one subtraction, whatever P is. Per tick, vectorised over
parties (no per-party or per-sample Python loop on the hot path):

1. **Talker detection** — frame level against `max(talk_threshold_dbm0, noise floor +
   talk_margin_db)`, held for `hangover_ms` after the last loud frame. The noise floor follows
   quiet frames down at once and rises by `noise_rise_db_per_s`, so a steady hum or a line left
   open with background noise stops counting as a talker (a steady tone at −20 dBm0 is demoted
   after ~30 s; speech, which pauses between words, never is). Changes are reported as
   `TalkingChanged` events for the web page and BLF.
2. **Automatic gain** (per party, on what that party contributes) — the active-speech level is
   tracked only while the party talks (τ `agc_level_tau_s`), and the gain moves towards
   `target_level_dbm0 − level`, bounded to [`agc_min_gain_db`, `agc_max_gain_db`] and slewed at
   ≤ `agc_rise_db_per_s` up / `agc_fall_db_per_s` down, so noise between words is never pumped
   up and a loud party is pulled down within about a second.
3. **Talker selection** — only the `max_talkers` loudest talking parties (after gain; a party
   already in the mix gets `selection_hysteresis_db` of advantage so two equal talkers do not
   flap) are mixed; everyone else contributes nothing, which keeps the noise of idle lines out
   of a 10-party call. `None` mixes every talking party.
4. **Mix and limit** — each party's weight (gain × selected) is ramped linearly across the frame
   from its previous value, so selection changes and gain steps fade over 20 ms instead of
   clicking. The sum-minus-self output goes through a soft-knee limiter (linear up to
   `limiter_knee_dbfs`, tanh above, never beyond ±32767): loud overlaps compress, never wrap.

Muted parties and listen-only parties contribute nothing but hear everyone; a muted party is
still run through talker detection (the web page can show "talking while muted").

Levels use the G.711 convention: a full-scale int16 sine is +3.17 dBm0, so a 0 dBm0 sine peaks
at 32767·10^(−3.17/20) ≈ 22776 (RMS ≈ 16105).

Cost (`bench/conference_bench.py`, 10 parties, 160 samples, CPU time on the 2-core reference
machine): 60–120 µs per tick for the mixer (0.3–0.6 % of a core; the spread is load from other
processes), 115–290 µs with G.711 decode and encode of every party — against a budget of 600 µs
(3 % of a core). The cost is numpy call overhead (~30 small array operations), nearly flat in P.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import numpy.typing as npt

from firmware.media.frame import FRAME_MS, Frame, SampleRate, samples_per_frame

FULL_SCALE_DBM0 = 3.17
"""G.711: a full-scale int16 sine is +3.17 dBm0."""

_FULL_SCALE = 32767.0
_DBM0_REF_POWER = (_FULL_SCALE * 10.0 ** (-FULL_SCALE_DBM0 / 20.0)) ** 2 / 2.0
"""Mean square of a 0 dBm0 sine in int16 units (≈ 16105²)."""

_SILENT_DBM0 = -100.0

PartyId = Hashable
FloatArray = npt.NDArray[np.float32]


class PartyMode(Enum):
    """What a party may do in the conference."""

    TALK = "talk"
    """Talks and listens."""
    MUTED = "muted"
    """Temporarily silenced (by itself or a moderator); still talker-detected."""
    LISTEN_ONLY = "listen_only"
    """Never contributes: a supervisor, a recorder leg, an announcement listener."""


@dataclass(frozen=True, slots=True)
class ConferenceSettings:
    """Tuning of one conference; the defaults suit office speech on G.711 lines."""

    rate: SampleRate = SampleRate.NARROWBAND
    """Sample rate of every frame given to `mix()`."""
    max_talkers: int | None = field(default=3, metadata={"min": 1, "max": 32})
    """How many of the loudest talkers are mixed; None mixes every talking party."""
    target_level_dbm0: float = field(default=-20.0, metadata={"min": -30.0, "max": -10.0})
    """Active-speech level the automatic gain aims each talker at."""
    agc_max_gain_db: float = field(default=12.0, metadata={"min": 0.0, "max": 24.0})
    """Most the gain may boost a quiet party."""
    agc_min_gain_db: float = field(default=-12.0, metadata={"min": -24.0, "max": 0.0})
    """Most the gain may cut a loud party (a negative number)."""
    agc_rise_db_per_s: float = field(default=3.0, metadata={"min": 0.1, "max": 50.0})
    """Fastest rate the gain increases: slow, so breaths and noise are not pumped up."""
    agc_fall_db_per_s: float = field(default=12.0, metadata={"min": 0.1, "max": 100.0})
    """Fastest rate the gain decreases: quicker, so a shouting party is tamed within ~1 s."""
    agc_level_tau_s: float = field(default=0.5, metadata={"min": 0.05, "max": 10.0})
    """Time constant of the active-speech level estimate (updated only while talking)."""
    talk_threshold_dbm0: float = field(default=-40.0, metadata={"min": -60.0, "max": -20.0})
    """A frame below this level is never speech."""
    talk_margin_db: float = field(default=9.0, metadata={"min": 3.0, "max": 30.0})
    """A frame must also be this far above the party's noise floor to count as speech."""
    noise_rise_db_per_s: float = field(default=1.5, metadata={"min": 0.1, "max": 20.0})
    """How fast the noise floor climbs during steady sound (it falls at once on quiet frames)."""
    hangover_ms: int = field(default=300, metadata={"min": 0, "max": 2000})
    """A party stays a talker this long after its last loud frame (covers gaps between words)."""
    selection_hysteresis_db: float = field(default=3.0, metadata={"min": 0.0, "max": 20.0})
    """Advantage a party already in the mix has over a newcomer when choosing the loudest."""
    limiter_knee_dbfs: float = field(default=-6.0, metadata={"min": -20.0, "max": -0.5})
    """Output is linear below this peak level and compressed smoothly towards full scale above."""


@dataclass(frozen=True, slots=True)
class TalkingChanged:
    """A party started or stopped talking (after hangover)."""

    party: PartyId
    talking: bool
    at: float
    """Monotonic seconds, as passed to `mix()`."""


class ConferenceMixer:
    """Mix P parties per tick: each hears the others, gain-levelled, limited.

    Rows of the arrays given to and returned by `mix()` follow `parties` (join order; a party
    leaving shifts the rows after it up). Not thread-safe: one owner calls `mix()` every 20 ms.
    """

    def __init__(self, settings: ConferenceSettings | None = None) -> None:
        self.settings = s = settings or ConferenceSettings()
        self._samples = samples_per_frame(s.rate)
        tick_s = FRAME_MS / 1000.0
        self._hangover_ticks = int(round(s.hangover_ms / FRAME_MS))
        self._rise_db = s.agc_rise_db_per_s * tick_s
        self._fall_db = s.agc_fall_db_per_s * tick_s
        self._level_alpha = 1.0 - math.exp(-tick_s / s.agc_level_tau_s)
        self._noise_rise_db = s.noise_rise_db_per_s * tick_s
        self._knee = _FULL_SCALE * 10.0 ** (s.limiter_knee_dbfs / 20.0)
        # Weight ramp across one frame: sample k gets prev + (new − prev)·(k+1)/n.
        self._ramp = (np.arange(1, self._samples + 1, dtype=np.float32) / self._samples)[None, :]

        self._parties: list[PartyId] = []
        self._index: dict[PartyId, int] = {}
        self._modes: list[PartyMode] = []
        self._may_talk = np.zeros(0, dtype=bool)
        self._gain_db = np.zeros(0, dtype=np.float64)
        self._speech_level_dbm0 = np.zeros(0, dtype=np.float64)
        self._noise_floor_dbm0 = np.zeros(0, dtype=np.float64)
        self._hang = np.zeros(0, dtype=np.int32)
        self._talking = np.zeros(0, dtype=bool)
        self._selected = np.zeros(0, dtype=bool)
        self._weight = np.zeros(0, dtype=np.float32)
        self._events: list[TalkingChanged] = []

    # --- membership ---------------------------------------------------------------------------

    @property
    def parties(self) -> tuple[PartyId, ...]:
        """Party ids in row order."""
        return tuple(self._parties)

    def row(self, party: PartyId) -> int:
        """The row of `party` in `mix()` arrays; raises KeyError for a stranger."""
        return self._index[party]

    def join(self, party: PartyId, mode: PartyMode = PartyMode.TALK) -> int:
        """Add `party` as the last row (returned); its gain starts at 0 dB, silent, not talking.

        Raises ValueError if the party is already in the conference.
        """
        if party in self._index:
            raise ValueError(f"party {party!r} is already in the conference")
        self._index[party] = len(self._parties)
        self._parties.append(party)
        self._modes.append(mode)
        self._may_talk = np.append(self._may_talk, mode is PartyMode.TALK)
        self._gain_db = np.append(self._gain_db, 0.0)
        self._speech_level_dbm0 = np.append(
            self._speech_level_dbm0, self.settings.target_level_dbm0
        )
        self._noise_floor_dbm0 = np.append(self._noise_floor_dbm0, -70.0)
        self._hang = np.append(self._hang, np.int32(0))
        self._talking = np.append(self._talking, False)
        self._selected = np.append(self._selected, False)
        self._weight = np.append(self._weight, np.float32(0.0))
        return self._index[party]

    def leave(self, party: PartyId) -> None:
        """Remove `party`; the rows after it move up by one. Raises KeyError for a stranger."""
        i = self._index.pop(party)
        del self._parties[i]
        del self._modes[i]
        for later in self._parties[i:]:
            self._index[later] -= 1
        self._may_talk = np.delete(self._may_talk, i)
        self._gain_db = np.delete(self._gain_db, i)
        self._speech_level_dbm0 = np.delete(self._speech_level_dbm0, i)
        self._noise_floor_dbm0 = np.delete(self._noise_floor_dbm0, i)
        self._hang = np.delete(self._hang, i)
        self._talking = np.delete(self._talking, i)
        self._selected = np.delete(self._selected, i)
        self._weight = np.delete(self._weight, i)

    def mode(self, party: PartyId) -> PartyMode:
        """The current mode of `party`."""
        return self._modes[self._index[party]]

    def set_mode(self, party: PartyId, mode: PartyMode) -> None:
        """Mute, unmute or make listen-only; takes effect (with a 20 ms fade) on the next tick."""
        i = self._index[party]
        self._modes[i] = mode
        self._may_talk[i] = mode is PartyMode.TALK

    # --- observation --------------------------------------------------------------------------

    @property
    def talking(self) -> frozenset[PartyId]:
        """Parties currently talking (hangover included), muted ones too."""
        return frozenset(self._parties[i] for i in np.flatnonzero(self._talking))

    @property
    def mixed(self) -> frozenset[PartyId]:
        """Parties whose voice went into the last tick's mix."""
        return frozenset(self._parties[i] for i in np.flatnonzero(self._selected))

    def gain_db(self, party: PartyId) -> float:
        """The automatic gain currently applied to what `party` says."""
        return float(self._gain_db[self._index[party]])

    def events(self) -> list[TalkingChanged]:
        """Talker changes since the last call, oldest first (the list is handed over)."""
        out, self._events = self._events, []
        return out

    # --- the tick -----------------------------------------------------------------------------

    def mix(self, frames: Frame, now: float) -> Frame:
        """One tick: `frames[i]` is what `parties[i]` said; row i of the result is what it hears.

        `frames` is int16 of shape `(P, samples)` with P = len(parties) (rows of silence for
        parties with nothing to say this tick). Returns a new int16 array of the same shape.
        Raises ValueError on a shape or dtype mismatch (a caller bug).
        """
        p = len(self._parties)
        if frames.shape != (p, self._samples) or frames.dtype != np.int16:
            raise ValueError(
                f"expected int16 frames of shape {(p, self._samples)}, "
                f"got {frames.dtype} {frames.shape}"
            )
        if p == 0:
            return np.zeros((0, self._samples), dtype=np.int16)
        s = self.settings
        x = frames.astype(np.float32)
        mean_square = np.einsum("ij,ij->i", x, x) / np.float32(self._samples)
        level = 10.0 * np.log10(mean_square.astype(np.float64) / _DBM0_REF_POWER + 1e-10)

        # 1. talker detection: loud frame = above the absolute threshold and the noise floor.
        loud = level >= np.maximum(s.talk_threshold_dbm0, self._noise_floor_dbm0 + s.talk_margin_db)
        self._noise_floor_dbm0 = np.where(
            level < self._noise_floor_dbm0, level, self._noise_floor_dbm0 + self._noise_rise_db
        )
        self._hang = np.where(loud, self._hangover_ticks + 1, np.maximum(self._hang - 1, 0))
        talking = self._hang > 0
        changed = talking != self._talking
        if changed.any():
            for i in np.flatnonzero(changed):
                self._events.append(TalkingChanged(self._parties[i], bool(talking[i]), now))
        self._talking = talking

        # 2. automatic gain: level estimate and gain move only on loud frames.
        self._speech_level_dbm0 = np.where(
            loud,
            self._speech_level_dbm0 + self._level_alpha * (level - self._speech_level_dbm0),
            self._speech_level_dbm0,
        )
        # np.minimum/np.maximum: np.clip costs ~3 µs of dispatch per call on 10-element arrays.
        wanted = np.minimum(
            np.maximum(s.target_level_dbm0 - self._speech_level_dbm0, s.agc_min_gain_db),
            s.agc_max_gain_db,
        )
        step = np.minimum(np.maximum(wanted - self._gain_db, -self._fall_db), self._rise_db)
        self._gain_db = np.where(loud, self._gain_db + step, self._gain_db)

        # 3. the loudest talkers that may talk.
        eligible = talking & self._may_talk
        selected = eligible
        if s.max_talkers is not None and int(eligible.sum()) > s.max_talkers:
            score = np.where(
                eligible,
                level + self._gain_db + np.where(self._selected, s.selection_hysteresis_db, 0.0),
                -np.inf,
            )
            top = np.argpartition(-score, s.max_talkers - 1)[: s.max_talkers]
            selected = np.zeros(p, dtype=bool)
            selected[top] = True
        self._selected = selected

        # 4. weighted contributions, ramped from last tick's weights; sum minus self; limit.
        weight = np.where(selected, 10.0 ** (self._gain_db / 20.0), 0.0).astype(np.float32)
        prev = self._weight
        self._weight = weight
        ramped = prev[:, None] + (weight - prev)[:, None] * self._ramp
        contribution = x * ramped
        heard = contribution.sum(axis=0, dtype=np.float32)[None, :] - contribution
        return self._limit(heard)

    def _limit(self, y: FloatArray) -> Frame:
        knee = self._knee
        peak = float(np.abs(y).max())
        if peak > knee:
            headroom = _FULL_SCALE - knee
            magnitude = np.abs(y)
            over = magnitude > knee
            compressed = knee + headroom * np.tanh((magnitude - knee) / headroom)
            y = np.where(over, np.copysign(compressed, y), y).astype(np.float32)
        return np.rint(y).astype(np.int16)


def level_dbm0(samples: npt.NDArray[np.int16] | npt.NDArray[np.float32]) -> float:
    """Level of `samples` in dBm0 (G.711 convention: full-scale sine = +3.17 dBm0)."""
    x = np.asarray(samples, dtype=np.float64)
    mean_square = float(np.mean(x * x)) if x.size else 0.0
    if mean_square <= 0.0:
        return _SILENT_DBM0
    return 10.0 * math.log10(mean_square / _DBM0_REF_POWER)


def sine_amplitude(level: float) -> float:
    """Peak int16 amplitude of a sine at `level` dBm0 (0 dBm0 → ≈ 22776)."""
    return float(_FULL_SCALE * 10.0 ** ((level - FULL_SCALE_DBM0) / 20.0))


__all__: Sequence[str] = (
    "ConferenceMixer",
    "ConferenceSettings",
    "PartyMode",
    "TalkingChanged",
    "level_dbm0",
    "sine_amplitude",
)
