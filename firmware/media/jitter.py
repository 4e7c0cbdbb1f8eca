"""Adaptive jitter buffer for packetised audio: packets in at arrival, one frame out per tick.

Pure: `put(header, payload, now)` for every audio RTP packet, `get(now)` once per 20 ms playout
tick; no clock, no I/O. `get` says what to play: the frame due (`AUDIO`), a frame that is
missing and must be concealed (`CONCEAL`, so the caller runs its PLC), or nothing (`SILENCE`:
before the stream starts, between talkspurts, or after a stream stopped).

How the delay adapts (the approach of ITU-T G.1020 Appendix II and most VoIP endpoints):

* Every packet's transit time (arrival − timestamp/clock) goes into a window of the last
  `history_packets`; the target delay is the `percentile` of transit minus the minimum (the
  delay that would have played that share of packets on time) plus `margin_ms`, bounded to
  [`min_delay_ms`, `max_delay_ms`]. With 0–60 ms uniform network delay and the defaults
  (95th percentile, 5 ms margin) it settles near 62 ms and at most about 5 % of packets arrive
  late (none when the 20 ms tick grid rounds the actual delay up past 60 ms).
* The target is applied where nobody hears it: at the start of a talkspurt (RTP marker bit, or
  a timestamp gap with no sequence gap, i.e. the sender's silence suppression) the first frame
  is scheduled at its earliest arrival plus the target, lengthening or shortening the silence.
  Streams without silence suppression adapt in single frames: one concealed frame inserted when
  the delay falls short of the target by half a frame or more (at most one per tick), one frame
  dropped when it exceeds the target by a frame for `shrink_hold_ticks` ticks.
* Reordered packets are put in order; duplicates and packets whose playout time has passed
  ("late") are counted and dropped. An SSRC change, or a timestamp jump the arrival times do not
  account for (a sender restart), resets the buffer. At most `max_packets` frames are held; the
  oldest is dropped on overflow, so memory is bounded whatever arrives.

Packets are assumed to carry one frame of `frame_samples` (20 ms at 8 kHz); telephone events and
other payload types are the caller's to filter out.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

from firmware.media.rtp import RtpHeader

log = logging.getLogger(__name__)

_TS_MOD = 1 << 32
_TS_HALF = 1 << 31
_RECOMPUTE_EVERY = 10
"""Packets between target recomputations (every late packet also triggers one)."""
_MIN_HISTORY_FOR_TARGET = 20
"""Below this many packets the target never falls under the initial delay."""


class PlayoutKind(Enum):
    """What the caller plays at a tick."""

    AUDIO = "audio"
    """`payload` is the frame due: decode and play it."""
    CONCEAL = "conceal"
    """The frame due is missing (lost, late, or the buffer is growing): conceal it."""
    SILENCE = "silence"
    """Nothing is due: play silence (or comfort noise)."""


@dataclass(frozen=True, slots=True)
class Playout:
    """One tick's output. `timestamp` is the RTP timestamp due (None for `SILENCE`)."""

    kind: PlayoutKind
    payload: bytes = b""
    timestamp: int | None = None
    sequence_number: int | None = None


_SILENCE = Playout(PlayoutKind.SILENCE)


class Admission(Enum):
    """What `put` did with a packet."""

    BUFFERED = "buffered"
    LATE = "late"
    """Its playout time had passed: dropped."""
    DUPLICATE = "duplicate"
    """Already buffered or played: dropped."""


@dataclass(frozen=True, slots=True)
class JitterBufferStats:
    """Counters since the buffer was created, and the current delays in milliseconds."""

    received: int
    played: int
    concealed: int
    late: int
    duplicates: int
    overflows: int
    resets: int
    stretched: int
    shrunk: int
    target_delay_ms: float
    delay_ms: float


class JitterBuffer:
    """An adaptive playout buffer for one audio stream (see the module docstring).

    `now` is monotonic seconds; `get` must be called once per frame period.
    """

    def __init__(
        self,
        *,
        clock_rate_hz: int = 8000,
        frame_samples: int = 160,
        min_delay_ms: float = 20.0,
        max_delay_ms: float = 300.0,
        initial_delay_ms: float = 60.0,
        percentile: float = 0.95,
        margin_ms: float = 5.0,
        history_packets: int = 250,
        max_packets: int = 32,
        conceal_frames: int = 3,
        shrink_hold_ticks: int = 10,
        max_transit_jump_s: float = 1.0,
    ) -> None:
        if not 0.0 < percentile <= 1.0:
            raise ValueError("percentile must be in (0, 1]")
        if not 0 < min_delay_ms <= initial_delay_ms <= max_delay_ms:
            raise ValueError("need 0 < min_delay_ms <= initial_delay_ms <= max_delay_ms")
        if max_packets < 2 or history_packets < _MIN_HISTORY_FOR_TARGET:
            raise ValueError("max_packets must be >= 2 and history_packets >= 20")
        self.clock_rate_hz = clock_rate_hz
        self.frame_samples = frame_samples
        self._frame_s = frame_samples / clock_rate_hz
        self._min_delay_s = min_delay_ms / 1000
        self._max_delay_s = max_delay_ms / 1000
        self._initial_delay_s = initial_delay_ms / 1000
        self._percentile = percentile
        self._margin_s = margin_ms / 1000
        self._max_packets = max_packets
        self._conceal_frames = conceal_frames
        self._shrink_hold_ticks = shrink_hold_ticks
        self._max_transit_jump_s = max_transit_jump_s
        self._history: npt.NDArray[np.float64] = np.zeros(history_packets, dtype=np.float64)
        # counters
        self._received = 0
        self._played = 0
        self._concealed = 0
        self._late = 0
        self._duplicates = 0
        self._overflows = 0
        self._resets = 0
        self._stretched = 0
        self._shrunk = 0
        self._ssrc: int | None = None
        self._clear()

    def _clear(self) -> None:
        """Forget the stream: frames, alignment and the transit history."""
        self._frames: dict[int, tuple[int, bytes, bool]] = {}
        self._ts_ref: int | None = None
        self._next_ts: int | None = None  # None: waiting to align on the next frame
        self._horizon: int | None = None  # frames before this timestamp can no longer play
        self._last_seq: int | None = None
        self._played_ts: deque[int] = deque(maxlen=2 * self._max_packets)
        self._played_set: set[int] = set()
        self._hist_count = 0
        self._hist_pos = 0
        self._since_recompute = 0
        self._min_transit = 0.0
        self._target_s = self._initial_delay_s
        self._empty_ticks = 0
        self._excess_ticks = 0
        self._delay_s = 0.0

    def reset(self) -> None:
        """Drop everything buffered and realign on the next packet (the caller changed stream)."""
        self._resets += 1
        self._clear()

    # -- input -----------------------------------------------------------------------------------

    def put(self, header: RtpHeader, payload: bytes, now: float) -> Admission:
        """Accept one audio RTP packet that arrived at `now`."""
        if header.ssrc != self._ssrc:
            if self._ssrc is not None:
                log.debug("jitter buffer: SSRC %08x -> %08x, reset", self._ssrc, header.ssrc)
                self.reset()
            self._ssrc = header.ssrc
        ts = self._unwrap(header.timestamp)
        transit = now - ts / self.clock_rate_hz
        if self._hist_count and abs(transit - self._min_transit) > self._max_transit_jump_s:
            # The timestamp moved in a way arrival times do not explain: a sender restart.
            log.debug("jitter buffer: timestamp jump, reset")
            self.reset()
            ts = self._unwrap(header.timestamp)
        self._received += 1
        if ts in self._frames or ts in self._played_set:
            self._duplicates += 1
            return Admission.DUPLICATE
        self._record_transit(transit)
        if self._horizon is not None and ts < self._horizon:
            self._late += 1
            self._recompute_target()
            return Admission.LATE
        self._frames[ts] = (header.sequence_number, payload, header.marker)
        if len(self._frames) > self._max_packets:
            del self._frames[min(self._frames)]
            self._overflows += 1
        return Admission.BUFFERED

    def _unwrap(self, timestamp: int) -> int:
        ref = self._ts_ref
        if ref is None:
            self._ts_ref = timestamp
            return timestamp
        delta = ((timestamp - ref) + _TS_HALF) % _TS_MOD - _TS_HALF
        unwrapped = ref + delta
        self._ts_ref = unwrapped
        return unwrapped

    def _record_transit(self, transit: float) -> None:
        size = self._history.shape[0]
        self._history[self._hist_pos] = transit
        self._hist_pos = (self._hist_pos + 1) % size
        if self._hist_count < size:
            self._hist_count += 1
        if self._hist_count == 1:
            self._min_transit = transit
        elif transit < self._min_transit:
            self._min_transit = transit
        self._since_recompute += 1
        if self._since_recompute >= _RECOMPUTE_EVERY:
            self._recompute_target()

    def _recompute_target(self) -> None:
        self._since_recompute = 0
        window = self._history[: self._hist_count]
        low = float(window.min())
        k = int(self._percentile * (self._hist_count - 1))
        high = float(np.partition(window, k)[k])
        self._min_transit = low
        target = high - low + self._margin_s
        if self._hist_count < _MIN_HISTORY_FOR_TARGET:
            target = max(target, self._initial_delay_s)
        self._target_s = min(max(target, self._min_delay_s), self._max_delay_s)

    # -- output ----------------------------------------------------------------------------------

    def get(self, now: float) -> Playout:
        """What to play at the tick `now`; call exactly once per frame period."""
        due_ts = self._next_ts
        if due_ts is None:
            due_ts = self._align(now)
            if due_ts is None:
                return _SILENCE
        self._delay_s = now - (due_ts / self.clock_rate_hz + self._min_transit)
        entry = self._frames.pop(due_ts, None)
        if entry is None:
            return self._missing(due_ts)
        self._empty_ticks = 0
        if self._delay_s < self._target_s - self._frame_s / 2:
            # Grow: hold the frame back one tick and conceal in its place.
            self._frames[due_ts] = entry
            self._stretched += 1
            self._concealed += 1
            return Playout(PlayoutKind.CONCEAL, timestamp=due_ts % _TS_MOD)
        if self._should_shrink():
            # Shrink: skip this frame if the next one is here to take its tick.
            following = self._frames.pop(due_ts + self.frame_samples, None)
            if following is not None:
                self._shrunk += 1
                self._mark_played(due_ts, entry[0])
                due_ts += self.frame_samples
                entry = following
        self._mark_played(due_ts, entry[0])
        self._next_ts = self._horizon = due_ts + self.frame_samples
        self._played += 1
        return Playout(PlayoutKind.AUDIO, entry[1], due_ts % _TS_MOD, entry[0])

    def _should_shrink(self) -> bool:
        if self._delay_s > self._target_s + self._frame_s:
            self._excess_ticks += 1
            if self._excess_ticks >= self._shrink_hold_ticks:
                self._excess_ticks = 0
                return True
        else:
            self._excess_ticks = 0
        return False

    def _mark_played(self, ts: int, seq: int) -> None:
        if len(self._played_ts) == self._played_ts.maxlen:
            self._played_set.discard(self._played_ts[0])
        self._played_ts.append(ts)
        self._played_set.add(ts)
        self._last_seq = seq

    def _missing(self, due_ts: int) -> Playout:
        if self._frames:
            first_ts = min(self._frames)
            seq, _, marker = self._frames[first_ts]
            contiguous = self._last_seq is not None and seq == (self._last_seq + 1) & 0xFFFF
            if marker or contiguous:
                # Nothing was lost: the sender paused (silence suppression). Realign on the
                # next talkspurt, where a change of delay goes unheard.
                self._next_ts = None
                return _SILENCE
            self._empty_ticks = 0
        else:
            self._empty_ticks += 1
            if self._empty_ticks > self._conceal_frames:
                self._next_ts = None
                return _SILENCE
        self._next_ts = self._horizon = due_ts + self.frame_samples
        self._concealed += 1
        return Playout(PlayoutKind.CONCEAL, timestamp=due_ts % _TS_MOD)

    def _align(self, now: float) -> int | None:
        """The earliest buffered frame's timestamp if its scheduled time has come, else None."""
        if not self._frames:
            return None
        first_ts = min(self._frames)
        due_at = first_ts / self.clock_rate_hz + self._min_transit + self._target_s
        if now < due_at:
            return None
        self._next_ts = first_ts
        self._empty_ticks = 0
        self._excess_ticks = 0
        return first_ts

    # -- figures ---------------------------------------------------------------------------------

    @property
    def target_delay_ms(self) -> float:
        """The delay the buffer aims at, from the transit-time percentile."""
        return self._target_s * 1000

    @property
    def delay_ms(self) -> float:
        """The delay of the last frame played beyond its earliest possible arrival."""
        return self._delay_s * 1000

    @property
    def buffered(self) -> int:
        """Frames held now."""
        return len(self._frames)

    def stats(self) -> JitterBufferStats:
        """The counters and delays now."""
        return JitterBufferStats(
            received=self._received,
            played=self._played,
            concealed=self._concealed,
            late=self._late,
            duplicates=self._duplicates,
            overflows=self._overflows,
            resets=self._resets,
            stretched=self._stretched,
            shrunk=self._shrunk,
            target_delay_ms=self.target_delay_ms,
            delay_ms=self.delay_ms,
        )
