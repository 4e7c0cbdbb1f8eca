"""Line wizard, the pure part: what an exchange line does, from the events and audio of test calls.

Sans-I/O: every class here is fed hal events and captured 20 ms frames with the board time
they were taken at (`at`, seconds) and answers questions; nothing here waits, sleeps or touches
hardware (the driver is `firmware.linewizard.wizard`). Levels follow G.711: a full-scale int16
sine is +3.17 dBm0, so a 0 dBm0 sine peaks at 32767 · 10^(−3.17/20) ≈ 22776.

What is learnt, and how:

* Ring cadence (`cadence_from_bursts`): burst start/end times from `RingDetected`/`RingEnded`.
  The first burst's length is skipped (exchanges cut it short; with RP-AS it is the alert
  pulse); the cadence is the shortest run of (on, off) pairs that repeats twice within ±20 %
  or ±60 ms (Russian ringing: known at the end of the third burst, 11 s after the first),
  rotated to end with its longest pause (`hal.linesignal.RingCadence` convention), and named
  after the country cadences it matches.
* Caller ID (`IncomingCall`): the on-hook audio from the moment the installer is asked to call
  goes through `CallerIdDecoder`, which runs the FSK receiver for both Bell 202 and V.23 (the
  measured mark frequency tells them apart) and the DTMF CLIP receiver at once; a method counts
  only when a message decodes with a valid checksum (FSK) or a complete 'A…C'/'B..C' sequence
  (DTMF). Its timing follows from where the message ends relative to the first ring, a line
  reversal before it, an EN 300 659-1 DT-AS (2130 + 2750 Hz, `AlertToneDetector`) or a short
  first ring (RP-AS, ≤ 350 ms).
* Russian AON (`AonProbe`): after answering, `firmware.media.aon.AonRequester` asks with
  100 ms of 500 Hz and `MfReceiver` collects the "2 of 6" reply; a line that answers is an AON
  line.
* Disconnect (`DisconnectObserver`): after answering, the first of a polarity reversal, a
  loop-current drop, or a tone in 300–700 Hz whose on/off cycle repeats twice (±25 % or
  ±60 ms; `CadencedToneTracker`). The tone is then measured (`measure_cadenced_tone`:
  frequencies from averaged Hann spectra of the bursts, on/off from a 10 ms power envelope
  every 5 ms with interpolated half-power edges) and replayed through the box's own
  `ProgressDetector` configured with it, which gives the time the runtime will need to clear
  a call on it, and through every shipped country plan.
* Echo return loss (`EchoEstimator`): a periodic white multisine (128 ms period, −15 dBm0) is
  played; averaged over whole periods, the captured spectrum divided by the sent one is the
  echo path exactly (no estimation self-noise: a cross-correlation with random noise was up
  to 0.8 dB off after 1 s). ERL = −10·log10 of the mean |H(f)|² over 300–3400 Hz (G.122) of
  the path in a 32 ms window at its peak, less the line noise measured in the rest of the
  period, which also sets `limit_db`. The best termination has the highest ERL;
  `tx_gain_db` drops below 0 only when even that is under 6 dB.

Measured (tests/unit/test_line_wizard_learner.py): all 12 combinations of Bell 202 / V.23 /
DTMF with the four EN 300 659-1 timings, played by the FXS side's `caller_id_plan`, classified
right; busy tones of the RU/EU/US plans at −17 dBm0 to the Hz, to the 5 ms and ±0.3 dB; no
tone found in espeak-ng speech; ERL within 0.3 dB on dispersive echo paths of 6–35 dB and
0–300 samples' delay, also with line noise 10 dB above the echo, within 0.1 dB of the
simulated hybrid for all 15 terminations, and within 0.5 dB of the G.168 canceller's own
converged filter.

`summarise` turns the observations of all calls into a `LineProfile`, by majority where calls
disagree (and says so in its notes).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from firmware.config.schema import CallerIdMethod, CallerIdTiming, DisconnectMethod, FxoLineSettings
from firmware.linewizard.profile import (
    BusyTone,
    CallerIdEvidence,
    DisconnectEvidence,
    EchoEvidence,
    LineProfile,
    RingEvidence,
    ToneMeasurement,
)
from firmware.media.aon import AonCallerId, AonFailed, AonReceived, AonRequester, PlayRequestTone
from firmware.media.dsp.callerid import (
    DT_AS_HZ,
    Absence,
    CallerId,
    CallerIdDecoder,
    CidSignalling,
    CidTiming,
)
from firmware.media.dsp.mf import MfDetected, MfReceiver, request_tone
from firmware.media.dsp.progress import ProgressDetector, ProgressTone
from firmware.media.dsp.tones import PLANS, Country, TonePlan, cadenced, steady
from firmware.media.frame import Frame
from hal.events import (
    FxoEvent,
    LoopCurrentChanged,
    PolarityReversed,
    RingDetected,
    RingEnded,
    RingStopped,
)
from hal.linesignal import RING_CADENCES

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

RATE_HZ = 8000
BLOCK = 160
"""Samples per 20 ms block, the PCM tick."""
DBM0_PEAK = 32767.0 * 10.0 ** (-3.17 / 20.0)
"""Peak amplitude of a 0 dBm0 sine (≈ 22776)."""

CADENCE_TOLERANCE = 0.20
CADENCE_TOLERANCE_MS = 60
MAX_CADENCE_PAIRS = 4
MAX_RINGS_BEFORE_ANSWER = 8
"""Answer after this many bursts even when no regular cadence showed."""
RP_AS_MAX_MS = 350
"""EN 300 659-1 ring-pulse alert: 200–300 ms; a first burst this short before data is one."""

TONE_FLOOR_DBM0 = -45.0
TONE_BAND_HZ = (300.0, 700.0)
"""Where busy and congestion tones live (E.180 Supp. 2: 400–620 Hz)."""
TONE_MIN_MS = 100
TONE_MAX_MS = 1500
TONE_TOLERANCE = 0.25
TONE_TOLERANCE_MS = 60
ENVELOPE_SAMPLES = 40
"""5 ms envelope blocks for measuring a cadence."""

MIN_ERL_DB = 6.0
"""G.168 designs for hybrids of at least 6 dB ERL; below it the transmit gain is lowered."""
MIN_TX_GAIN_DB = -6.0
ECHO_PERIOD_SAMPLES = 1024
"""128 ms: the test signal's period, which bounds bulk delay (PCM bus, codec, ALSA) plus echo
tail."""
ECHO_TAIL_SAMPLES = 256
"""32 ms window around the echo peak, the canceller's tail."""
ECHO_PRE_PEAK_SAMPLES = 16
ERL_BAND_HZ = (300.0, 3400.0)
"""ERL is the echo's loss averaged over the voice band (G.122, G.168), flat weighting."""
MAX_ERL_DB = 60.0


# --- ring cadence -------------------------------------------------------------------------------


def _close(a: float, b: float, tolerance: float = CADENCE_TOLERANCE,
           tolerance_ms: float = CADENCE_TOLERANCE_MS) -> bool:
    return abs(a - b) <= max(tolerance * max(a, b), tolerance_ms)


def cadence_from_bursts(bursts: Sequence[tuple[float, float]]) -> tuple[int, ...] | None:
    """The ring cadence in ms from complete bursts (start, end) in seconds, or None when the
    ringing after the first burst does not yet repeat a pattern twice.

    The first burst's length is never used (exchanges cut it short); the pause after it is,
    unless it breaks the pattern (an RP-AS alert followed by caller ID), in which case the
    pattern is looked for from the second burst on."""
    durations: list[float] = []  # off, on, off, on, … from the first burst's end
    for (_, end), (start, stop) in zip(bursts, bursts[1:], strict=False):
        durations += [(start - end) * 1000.0, (stop - start) * 1000.0]
    for skip in (0, 1):
        cycle = _repeating_cycle(durations[skip:])
        if cycle is not None:
            if skip == 0:  # it starts with a pause: make it start with a burst
                cycle = cycle[1:] + cycle[:1]
            pairs = [(cycle[i], cycle[i + 1]) for i in range(0, len(cycle), 2)]
            longest = max(range(len(pairs)), key=lambda j: pairs[j][1])
            pairs = pairs[longest + 1:] + pairs[:longest + 1]
            return tuple(int(round(ms / 10.0)) * 10 for pair in pairs for ms in pair)
    return None


def _repeating_cycle(durations: Sequence[float]) -> list[float] | None:
    """The shortest even-length cycle that `durations` repeat at least twice, as medians."""
    for period in range(2, 2 * MAX_CADENCE_PAIRS + 1, 2):
        if len(durations) < 2 * period:
            return None
        if all(_close(a, b) for a, b in zip(durations, durations[period:], strict=False)):
            return [statistics.median(durations[j::period]) for j in range(period)]
    return None


def matching_cadences(cadence: Sequence[int]) -> tuple[str, ...]:
    """Names of `hal.linesignal.RING_CADENCES` equal to `cadence` within ±20 %."""
    return tuple(
        name for name, known in RING_CADENCES.items()
        if len(known.on_off_ms) == len(cadence)
        and all(_close(a, b, CADENCE_TOLERANCE, 0) for a, b in zip(known.on_off_ms, cadence,
                                                                     strict=True))
    )


# --- caller ID ----------------------------------------------------------------------------------


class AlertToneDetector:
    """The EN 300 659-1 dual-tone alert (DT-AS, 2130 + 2750 Hz, 100 ms) in 20 ms blocks.

    A block is a hit when both tones are above −40 dBm0, within 10 dB of each other and hold
    ≥ 70 % of its energy; three hits in a row (60 ms) confirm. `process` returns the sample
    indexes (from the first sample fed) at which an alert started.
    """

    def __init__(self) -> None:
        n = np.arange(BLOCK, dtype=np.float64)
        self._basis = np.exp(-2j * np.pi * np.outer(np.array(DT_AS_HZ), n) / RATE_HZ)
        self._min_power = (DBM0_PEAK * 10.0 ** (-40.0 / 20.0)) ** 2 / 2.0
        self._pending = np.zeros(0, dtype=np.float64)
        self._done = 0
        self._run = 0
        self._run_start = 0

    def process(self, samples: Frame) -> list[int]:
        x = np.concatenate((self._pending, samples.astype(np.float64).reshape(-1)))
        whole = x.size // BLOCK
        self._pending = x[whole * BLOCK:]
        if whole == 0:
            return []
        blocks = x[: whole * BLOCK].reshape(whole, BLOCK)
        total = np.einsum("ij,ij->i", blocks, blocks) / BLOCK
        hits = np.zeros(whole, dtype=bool)
        loud = total >= 2.0 * self._min_power  # a quiet line costs one dot product
        if loud.any():
            amp = 2.0 * np.abs(blocks[loud] @ self._basis.T) / BLOCK  # the two tone amplitudes
            tone_power = amp ** 2 / 2.0
            hits[loud] = ((tone_power.min(axis=1) >= self._min_power)
                          & (tone_power.min(axis=1) * 10.0 >= tone_power.max(axis=1))
                          & (tone_power.sum(axis=1) >= 0.7 * total[loud]))
        if not hits.any() and self._run == 0:
            self._done += whole
            return []
        found: list[int] = []
        for k, hit in enumerate(hits.tolist()):
            start = (self._done + k) * BLOCK
            if hit:
                if self._run == 0:
                    self._run_start = start
                self._run += 1
                if self._run == 3:
                    found.append(self._run_start)
            else:
                self._run = 0
        self._done += whole
        return found


@dataclass(frozen=True, slots=True)
class IncomingCallObservation:
    """One incoming test call as seen before answering."""

    rings: int
    cadence_ms: tuple[int, ...] | None
    first_burst_ms: int | None
    signalling: CidSignalling | None
    """How the caller ID came, None when none decoded."""
    timing: CidTiming | None
    caller: CallerId | None
    rejected_frames: int
    stopped_before_answer: bool
    notes: tuple[str, ...] = ()


class IncomingCall:
    """Watches one incoming call on hook, from before the first ring until it is answered.

    Feed every captured frame of the port (`frame`, with the board time `at` at which the
    tick ended, frames contiguous) and every port event (`event`); `ready_to_answer` turns
    True once the cadence has repeated twice (every caller-ID window has then passed) or after
    `max_rings` bursts. `result()` at any time.
    """

    def __init__(self, max_rings: int = MAX_RINGS_BEFORE_ANSWER) -> None:
        self._max_rings = max_rings
        self._decoder = CallerIdDecoder()
        self._alert = AlertToneDetector()
        self._t0: float | None = None
        self._bursts: list[tuple[float, float | None]] = []
        self._reversals: list[tuple[float, bool]] = []
        self._received: list[tuple[CallerId, CidSignalling, float]] = []
        self._alerts: list[float] = []
        self.stopped = False
        """The caller gave up (`RingStopped`) before the call was answered."""
        self.first_signal_at: float | None = None
        """The first ring or line reversal: the call has reached the port."""

    @property
    def rings(self) -> int:
        return len(self._bursts)

    def event(self, event: FxoEvent) -> None:
        if isinstance(event, RingDetected):
            self._bursts.append((event.at, None))
            self._signal(event.at)
        elif isinstance(event, RingEnded) and self._bursts:
            start, _ = self._bursts[-1]
            self._bursts[-1] = (start, event.at)
        elif isinstance(event, RingStopped):
            self.stopped = True
        elif isinstance(event, PolarityReversed):
            self._reversals.append((event.at, event.reversed))
            self._signal(event.at)

    def frame(self, samples: Frame, at: float) -> None:
        if self._t0 is None:
            self._t0 = at - samples.size / RATE_HZ
        t0 = self._t0
        for received in self._decoder.process(samples):
            if isinstance(received.message, CallerId):
                end = t0 + received.at_ms / 1000.0
                self._received.append((received.message, received.signalling, end))
        self._alerts += [t0 + s / RATE_HZ for s in self._alert.process(samples)]

    def cadence(self) -> tuple[int, ...] | None:
        complete = [(s, e) for s, e in self._bursts if e is not None]
        return cadence_from_bursts(complete)

    def ready_to_answer(self) -> bool:
        return self.cadence() is not None or self.rings >= self._max_rings

    def result(self) -> IncomingCallObservation:
        first_burst_ms = None
        if self._bursts:
            start, stop = self._bursts[0]
            if stop is not None:
                first_burst_ms = int(round((stop - start) * 1000.0))
        signalling = timing = caller = None
        notes: list[str] = []
        if self._received:
            caller, signalling, end = self._received[0]
            timing, note = self._timing(end)
            if note:
                notes.append(note)
        return IncomingCallObservation(
            rings=self.rings, cadence_ms=self.cadence(), first_burst_ms=first_burst_ms,
            signalling=signalling, timing=timing, caller=caller,
            rejected_frames=self._decoder.rejected, stopped_before_answer=self.stopped,
            notes=tuple(notes))

    def _signal(self, at: float) -> None:
        if self.first_signal_at is None or at < self.first_signal_at:
            self.first_signal_at = at

    def _timing(self, end: float) -> tuple[CidTiming, str | None]:
        """When the message ending at `end` was sent, relative to ringing."""
        first = self._bursts[0] if self._bursts else None
        if first is None or end <= first[0]:
            reversed_at = [at for at, rev in self._reversals if rev and end - 5.0 <= at <= end]
            since = reversed_at[0] if reversed_at else end - 3.0
            if any(since <= at <= end for at in self._alerts):
                return CidTiming.BEFORE_RING_DT_AS, None
            if reversed_at:
                return CidTiming.BEFORE_RING_REVERSAL, None
            return CidTiming.BEFORE_RING_REVERSAL, (
                "caller ID came before the first ring without a line reversal or alert tone: "
                "keep the on-hook monitor on permanently")
        start, stop = first
        later = self._bursts[1] if len(self._bursts) > 1 else None
        if stop is not None and (later is None or end <= later[0]):
            on_ms = (stop - start) * 1000.0
            next_on = ((later[1] - later[0]) * 1000.0
                       if later is not None and later[1] is not None else None)
            if on_ms <= RP_AS_MAX_MS and (next_on is None or next_on >= 1.5 * on_ms):
                return CidTiming.BEFORE_RING_RP_AS, None
        return CidTiming.AFTER_FIRST_RING, None


# --- Russian AON ----------------------------------------------------------------------------------


class AonProbe:
    """Asks an answered line for Russian AON and listens for the reply.

    Created at answer (`now`). Each tick: `handle_timers(now)`, play `next_frame()` (the 500 Hz
    request when due, else None), feed the captured frame to `frame`. `done` once the
    requester gave its result: `caller` when the exchange answered, else `failure`.
    """

    def __init__(self, now: float) -> None:
        self._requester = AonRequester(now)
        self._mf = MfReceiver()
        self._play: collections.deque[Frame] = collections.deque()
        self.caller: AonCallerId | None = None
        self.failure: str | None = None
        self.requested = False

    @property
    def done(self) -> bool:
        return self._requester.done

    def handle_timers(self, now: float) -> None:
        self._requester.handle_timers(now)
        self._drain()

    def frame(self, samples: Frame, now: float) -> None:
        for event in self._mf.process(samples):
            if isinstance(event, MfDetected):
                self._requester.signal_received(str(event.signal), now)
        self._drain()

    def next_frame(self) -> Frame | None:
        return self._play.popleft() if self._play else None

    def _drain(self) -> None:
        while (event := self._requester.next_event()) is not None:
            if isinstance(event, PlayRequestTone):
                self.requested = True
                tone = request_tone(event.duration_ms)
                padded = np.zeros(-(-tone.size // BLOCK) * BLOCK, dtype=np.int16)
                padded[: tone.size] = tone
                self._play.extend(padded.reshape(-1, BLOCK))
            elif isinstance(event, AonReceived):
                self.caller = event.caller
            elif isinstance(event, AonFailed):
                self.failure = event.reason


# --- echo ----------------------------------------------------------------------------------------


def echo_test_signal(period: int = ECHO_PERIOD_SAMPLES, level_dbm0: float = -15.0,
                     seed: int = 1) -> Frame:
    """One period of a multisine with equal power in every FFT bin of the period (random
    phases), at `level_dbm0` RMS: repeated, it is white noise whose sample autocorrelation
    over whole periods is exactly a delta, so the echo path comes out without self-noise.
    Crest factor ≈ 11 dB: peaks near −4 dBm0."""
    rng = np.random.default_rng(seed)
    spectrum = np.exp(2j * np.pi * rng.random(period // 2 + 1))
    spectrum[0] = spectrum[-1] = 0.0
    x = np.fft.irfft(spectrum, period)
    rms = DBM0_PEAK / math.sqrt(2.0) * 10.0 ** (level_dbm0 / 20.0)
    x *= rms / float(np.sqrt(np.mean(x ** 2)))
    out: Frame = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    return out


def periodic_frames(period: Frame, frames: int, samples: int = BLOCK) -> list[Frame]:
    """`frames` consecutive frames of `period` repeated from its first sample."""
    reps = -(-frames * samples // period.size)
    stream = np.tile(period, reps)[: frames * samples]
    return list(stream.reshape(frames, samples))


@dataclass(frozen=True, slots=True)
class EchoMeasurement:
    """Echo return loss of one termination: `erl_db` (capped at `limit_db`, the most the
    measurement could tell above the line's own noise), echo peak `delay_samples` after the
    send."""

    erl_db: float
    delay_samples: int
    limit_db: float


class EchoEstimator:
    """Echo return loss from the periodic test signal `period` played from its first sample
    on, and what came back in the same ticks.

    `add(captured)` per tick (contiguous). The first period is let go by (the echo path's
    transient; a termination just switched settles); whole periods after it are averaged, and
    the echo path is their spectrum divided by the test signal's: exact for any path shorter
    than a period (128 ms by default: bulk delay + 32 ms tail), the line's own noise falling
    with every period. `result()` needs one period after the first.
    """

    def __init__(self, period: Frame, tail_samples: int = ECHO_TAIL_SAMPLES) -> None:
        self._period = period.astype(np.float64)
        self._spectrum = np.fft.rfft(self._period)
        self._tail = min(tail_samples, period.size // 2)
        self._captured: list[Frame] = []

    @property
    def periods(self) -> int:
        """Whole periods captured after the first."""
        return sum(f.size for f in self._captured) // self._period.size - 1

    def add(self, captured: Frame) -> None:
        self._captured.append(captured.reshape(-1).copy())

    def result(self) -> EchoMeasurement | None:
        p = self._period.size
        usable = self.periods
        if usable < 1:
            return None
        y = np.concatenate(self._captured).astype(np.float64)[p: p * (usable + 1)]
        mean = y.reshape(usable, p).mean(axis=0)
        # Every bin but DC and Nyquist carries the same power; those two hold only the
        # int16 rounding of the period and must not be divided by.
        magnitude = np.abs(self._spectrum)
        excited = magnitude > 0.5 * float(np.median(magnitude))
        ratio = np.zeros_like(self._spectrum)
        ratio[excited] = np.fft.rfft(mean)[excited] / self._spectrum[excited]
        h = np.fft.irfft(ratio, p)
        peak = int(np.argmax(np.abs(h)))
        window = (peak - ECHO_PRE_PEAK_SAMPLES + np.arange(self._tail)) % p
        # The line's noise spreads evenly over the period; what lies outside the echo's
        # window measures it (its mean is the DC the test signal leaves out, not noise), and
        # its share inside the window is taken off again.
        floor = float(np.var(np.delete(h, window))) * window.size
        path = np.zeros(p)
        path[window] = h[window]
        freqs = np.fft.rfftfreq(p, 1.0 / RATE_HZ)
        band = (freqs >= ERL_BAND_HZ[0]) & (freqs <= ERL_BAND_HZ[1])
        echo = float(np.mean(np.abs(np.fft.rfft(path)[band]) ** 2)) - floor
        limit = min(MAX_ERL_DB, -10.0 * math.log10(max(floor, 1e-12)))
        erl = min(limit, -10.0 * math.log10(max(echo, floor, 1e-12)))
        return EchoMeasurement(round(erl, 1), peak, round(limit, 1))


@dataclass(frozen=True, slots=True)
class EchoResult:
    """Echo return loss per termination tried; `adjustable` when the port could switch."""

    by_termination: tuple[tuple[str, EchoMeasurement], ...]
    adjustable: bool

    def best(self) -> tuple[str, EchoMeasurement] | None:
        if not self.by_termination:
            return None
        return max(self.by_termination, key=lambda item: item[1].erl_db)


# --- tones ---------------------------------------------------------------------------------------


def _dbm0(power: float) -> float:
    """The level of a sine whose mean power (int16²) is `power`."""
    return 10.0 * math.log10(max(power, 1e-12) / (DBM0_PEAK ** 2 / 2.0))


def _power(level_dbm0: float) -> float:
    return float((DBM0_PEAK * 10.0 ** (level_dbm0 / 20.0)) ** 2 / 2.0)


def _spectral_peaks(segments: Sequence[FloatArray], lo_hz: float, hi_hz: float,
                    max_peaks: int = 2, within_db: float = 10.0
                    ) -> tuple[list[float], list[float], float]:
    """Frequencies and amplitudes of up to `max_peaks` tones in `segments` (each windowed
    with Hann, zero-padded, power spectra averaged), and the share of the energy they hold."""
    size = 1 << 15
    spectrum = np.zeros(size // 2 + 1)
    total = 0.0
    weight = 0.0
    for seg in segments:
        w = np.hanning(seg.size)
        spectrum += np.abs(np.fft.rfft(seg * w, size)) ** 2 / (seg.size / 4.0) ** 2
        total += float(np.mean(seg ** 2))
        weight += 1.0
    spectrum /= max(weight, 1.0)  # now |A|² per tone at its bin (A: peak amplitude)
    total /= max(weight, 1.0)
    freqs = np.fft.rfftfreq(size, 1.0 / RATE_HZ)
    band = (freqs >= lo_hz) & (freqs <= hi_hz)
    work = np.where(band, spectrum, 0.0)
    found_hz: list[float] = []
    found_amp: list[float] = []
    strongest = float(work.max())
    if strongest <= 0:
        return [], [], 0.0
    for _ in range(max_peaks):
        k = int(np.argmax(work))
        if work[k] <= 0 or work[k] < strongest * 10.0 ** (-within_db / 10.0):
            break
        a, b, c = (math.log(max(spectrum[j], 1e-30)) for j in (k - 1, k, k + 1))
        shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c else 0.0
        found_hz.append(float(freqs[k] + shift * RATE_HZ / size))
        found_amp.append(math.sqrt(spectrum[k]))
        guard = int(40.0 * size / RATE_HZ)
        work[max(0, k - guard): k + guard + 1] = 0.0
    tone_power = sum(a * a / 2.0 for a in found_amp)
    share = tone_power / total if total > 0 else 0.0
    order = np.argsort(found_hz)
    return ([found_hz[i] for i in order], [found_amp[i] for i in order], share)


def measure_steady_tone(samples: Frame, lo_hz: float = 250.0,
                        hi_hz: float = 2000.0) -> ToneMeasurement | None:
    """A steady tone's frequencies (±1 Hz) and mean level per frequency, or None when the
    audio is quieter than −45 dBm0 or not ≥ 70 % tone."""
    x = samples.astype(np.float64).reshape(-1)
    if x.size < BLOCK or float(np.mean(x ** 2)) < _power(TONE_FLOOR_DBM0):
        return None
    hz, amps, share = _spectral_peaks([x], lo_hz, hi_hz)
    if not hz or share < 0.7:
        return None
    level = _dbm0(float(np.mean([a * a / 2.0 for a in amps])))
    return ToneMeasurement(tuple(round(f, 1) for f in hz), round(level, 1))


def _runs(on: npt.NDArray[np.bool_]) -> list[tuple[bool, int, int]]:
    """(state, start index, length) of each run of equal values."""
    if on.size == 0:
        return []
    edges = np.flatnonzero(np.diff(on.astype(np.int8))) + 1
    starts = np.concatenate(([0], edges))
    ends = np.concatenate((edges, [on.size]))
    return [(bool(on[s]), int(s), int(e - s)) for s, e in zip(starts, ends, strict=True)]


def measure_cadenced_tone(samples: Frame) -> BusyTone | None:
    """Frequencies, on/off times and level of a cadenced tone filling `samples` (from its
    start), or None when there are not two complete bursts and pauses of a tone."""
    x = samples.astype(np.float64).reshape(-1)
    blocks = x[: x.size // ENVELOPE_SAMPLES * ENVELOPE_SAMPLES].reshape(-1, ENVELOPE_SAMPLES)
    if blocks.shape[0] < 8:
        return None
    # 10 ms power every 5 ms: a dual tone beats (480 + 620 Hz: every 7 ms), and a 10 ms
    # window holds more than one beat.
    block_power = np.mean(blocks ** 2, axis=1)
    power = (block_power[:-1] + block_power[1:]) / 2.0
    loud = float(np.percentile(power, 90))
    if loud < _power(TONE_FLOOR_DBM0):
        return None
    # Edges where the power crosses half the bursts' (the window is half tone), placed
    # between windows by linear interpolation: unbiased and finer than the 5 ms step.
    # The bursts' power is their median window (a beating dual tone's peaks would bias it).
    threshold = max(float(np.median(power[power >= loud / 4.0])) / 2.0, _power(TONE_FLOOR_DBM0))
    above = power >= threshold
    index = np.flatnonzero(np.diff(above.astype(np.int8))) + 1
    before, after = power[index - 1], power[index]
    edges = (index - 1 + (threshold - before) / (after - before) + 1.0) * ENVELOPE_SAMPLES
    runs = [(bool(above[i]), float(a), float(b - a))  # (on, start, length) in samples
            for i, a, b in zip(index[:-1], edges[:-1], edges[1:], strict=True)]
    to_ms = 1000.0 / RATE_HZ
    on_runs = [n * to_ms for state, _, n in runs if state]
    off_runs = [n * to_ms for state, _, n in runs if not state]
    if len(on_runs) < 2 or len(off_runs) < 2:
        return None
    # Runs far from the typical one (the tail of a word before the tone) are left out.
    on_ms, off_ms = statistics.median(on_runs), statistics.median(off_runs)
    fits_on = [r for r in on_runs if _close(r, on_ms, TONE_TOLERANCE, TONE_TOLERANCE_MS)]
    fits_off = [r for r in off_runs if _close(r, off_ms, TONE_TOLERANCE, TONE_TOLERANCE_MS)]
    if len(fits_on) < max(2, 2 * len(on_runs) / 3) or len(fits_off) < 2:
        return None
    on_ms, off_ms = statistics.median(fits_on), statistics.median(fits_off)
    trim = 80  # 10 ms off each end of a burst: the edges smear the spectrum
    bursts = [x[int(a) + trim: int(a + n) - trim] for state, a, n in runs
              if state and n > 2 * trim + 160
              and _close(n * to_ms, on_ms, TONE_TOLERANCE, TONE_TOLERANCE_MS)]
    if not bursts:
        return None
    hz, amps, share = _spectral_peaks(bursts, 200.0, 2000.0)
    if not hz or share < 0.7:
        return None
    level = _dbm0(float(np.mean([a * a / 2.0 for a in amps])))
    return BusyTone(tuple(float(round(f)) for f in hz),
                    (int(round(on_ms / 5.0)) * 5, int(round(off_ms / 5.0)) * 5),
                    round(level, 1))


class CadencedToneTracker:
    """Finds a busy-like tone online: 20 ms blocks ≥ −45 dBm0 with ≥ 60 % of their energy
    (Hann window) in 300–700 Hz are "on"; a state needs two blocks to change. The tone is
    confirmed when two consecutive on/off cycles agree (±25 % or ±60 ms) with on and off
    each 100–1500 ms. Positions are sample counts from the first sample fed."""

    def __init__(self) -> None:
        self._window = np.hanning(BLOCK)
        freqs = np.fft.rfftfreq(BLOCK, 1.0 / RATE_HZ)
        self._band = (freqs >= TONE_BAND_HZ[0]) & (freqs <= TONE_BAND_HZ[1])
        self._floor = _power(TONE_FLOOR_DBM0)
        self._pending = np.zeros(0, dtype=np.float64)
        self._blocks = 0
        self._state = False
        self._state_start = 0
        self._candidate = 0
        self._runs: list[tuple[bool, int, int]] = []  # (on, start block, blocks)
        self.confirmed_at: int | None = None
        """Sample at which the tone was confirmed."""
        self.onset: int | None = None
        """Sample at which the confirmed tone's first whole burst began."""
        self.cycle_ms = 0.0
        """One on/off cycle of the confirmed tone."""

    def process(self, samples: Frame) -> bool:
        """Consume samples; True once the tone is confirmed (and from then on)."""
        x = np.concatenate((self._pending, samples.astype(np.float64).reshape(-1)))
        whole = x.size // BLOCK
        self._pending = x[whole * BLOCK:]
        if whole == 0 or self.confirmed_at is not None:
            self._blocks += whole
            return self.confirmed_at is not None
        blocks = x[: whole * BLOCK].reshape(whole, BLOCK)
        on = np.einsum("ij,ij->i", blocks, blocks) / BLOCK >= self._floor
        if on.any():
            spectra = np.abs(np.fft.rfft(blocks[on] * self._window, axis=1)) ** 2
            band = spectra[:, self._band].sum(axis=1)
            on[on] = band >= 0.6 * np.maximum(spectra.sum(axis=1), 1e-9)
        for state in on.tolist():
            index = self._blocks
            self._blocks += 1
            if state == self._state:
                self._candidate = 0
                continue
            self._candidate += 1
            if self._candidate < 2:
                continue
            start = index - 1
            self._runs.append((self._state, self._state_start, start - self._state_start))
            self._state, self._state_start, self._candidate = state, start, 0
            if self._check(start):
                break
        return self.confirmed_at is not None

    def _check(self, now_block: int) -> bool:
        if len(self._runs) < 4 or self._runs[-1][0]:
            return False
        ms = 1000.0 * BLOCK / RATE_HZ
        (a_on, _, n_a), (_, _, n_b), (c_on, _, n_c), (_, _, n_d) = self._runs[-4:]
        a, b, c, d = n_a * ms, n_b * ms, n_c * ms, n_d * ms
        if not (a_on and c_on and all(TONE_MIN_MS <= v <= TONE_MAX_MS for v in (a, b, c, d))
                and _close(a, c, TONE_TOLERANCE, TONE_TOLERANCE_MS)
                and _close(b, d, TONE_TOLERANCE, TONE_TOLERANCE_MS)):
            return False
        first = len(self._runs) - 4
        # Walk back over earlier whole cycles of the same tone. A shorter burst before them
        # (a free-running busy generator cut mid-burst) is not taken: the tail of the
        # caller's last word looks just like one.
        while first >= 2:
            on_, _, n_on = self._runs[first - 2]
            _, _, n_off = self._runs[first - 1]
            if on_ and _close(n_on * ms, a, TONE_TOLERANCE, TONE_TOLERANCE_MS) and _close(
                    n_off * ms, b, TONE_TOLERANCE, TONE_TOLERANCE_MS):
                first -= 2
            else:
                break
        self.onset = self._runs[first][1] * BLOCK
        self.confirmed_at = now_block * BLOCK
        self.cycle_ms = a + b
        return True


def _verification_plan(tone: BusyTone) -> TonePlan:
    """A tone plan whose every tone uses `tone`'s frequencies, busy being `tone` itself: the
    progress detector must not be offered other frequencies a 20 ms block cannot separate."""
    f, level = tone.frequencies_hz, tone.level_dbm0
    on, off = tone.cadence_ms
    return dataclasses.replace(
        PLANS[Country.EU], dial=steady(f, level), ringback=cadenced(f, level, (1000, 4000)),
        busy=cadenced(f, level, (on, off)),
        congestion=cadenced(f, level, (max(on // 2, 50), max(off // 2, 50))))


def progress_busy_ms(samples: Frame, plan: TonePlan) -> int | None:
    """When the progress detector with `plan` reports busy or congestion in `samples` (ms
    from their start), or None."""
    detector = ProgressDetector(plan)
    for event in detector.process(samples):
        if event.tone in (ProgressTone.BUSY, ProgressTone.CONGESTION):
            return event.at_ms
    return None


# --- disconnect ----------------------------------------------------------------------------------

DISCONNECT_LEAD_IN_S = 0.5
"""Audio kept before a tone's onset when checking it with the progress detector (whose oldest
run is never trusted)."""
OBSERVE_AFTER_S = 6.0
"""After the first disconnect signal, how long to keep listening for a busy tone (two cycles
of the slowest, 750/750 ms, after a loop-current break)."""
TONE_SETTLED_S = 1.5
"""After a busy tone is confirmed, how much more of it to record for measuring (at least a
cycle and a bit)."""


@dataclass(frozen=True, slots=True)
class DisconnectObservation:
    """How one answered call ended."""

    first: DisconnectMethod
    detect_ms: int | None
    """From the first sign of the hang-up to `first` being certain."""
    signals: tuple[DisconnectMethod, ...]
    """Every signal seen, in order of arrival."""
    loop_drop_ms: int | None
    busy_tone: BusyTone | None
    busy_detect_ms: int | None
    plans_matching: tuple[str, ...]
    before_prompt: bool
    """The line was cleared before the caller was asked to hang up."""


class DisconnectObserver:
    """Watches an answered call for the signs of the far end hanging up.

    Created at answer; feed every frame (`frame`, `at` = end of its tick) and event. Call
    `prompted(now)` when the caller is asked to hang up. `done(now)` once the first signal
    was followed by `OBSERVE_AFTER_S` (a confirmed busy tone is recorded a little longer, or
    shorter) or `timeout_s` after
    the prompt passed without any.
    """

    def __init__(self, timeout_s: float = 30.0) -> None:
        self._timeout_s = timeout_s
        self._prompted_at: float | None = None
        self._t0: float | None = None
        self._audio: list[Frame] = []
        self._tracker = CadencedToneTracker()
        self._reversal_at: float | None = None
        self._drop_at: float | None = None
        self._drop_end: float | None = None
        self._tone_confirmed_at: float | None = None

    @property
    def cleared(self) -> bool:
        """Some disconnect signal has been seen."""
        return self._first_at() is not None

    def prompted(self, now: float) -> None:
        self._prompted_at = now

    def event(self, event: FxoEvent) -> None:
        if isinstance(event, PolarityReversed) and self._reversal_at is None:
            self._reversal_at = event.at
        elif isinstance(event, LoopCurrentChanged):
            if not event.flowing and self._drop_at is None:
                self._drop_at = event.at
            elif event.flowing and self._drop_at is not None and self._drop_end is None:
                self._drop_end = event.at

    def frame(self, samples: Frame, at: float) -> None:
        if self._t0 is None:
            self._t0 = at - samples.size / RATE_HZ
        self._audio.append(samples.reshape(-1).copy())
        if self._tracker.process(samples) and self._tone_confirmed_at is None:
            confirmed = self._tracker.confirmed_at or 0
            self._tone_confirmed_at = self._t0 + confirmed / RATE_HZ

    def done(self, now: float) -> bool:
        if self._tone_confirmed_at is not None:
            settled = max(TONE_SETTLED_S, self._tracker.cycle_ms / 1000.0 + 0.3)
            return now >= self._tone_confirmed_at + settled
        first = self._first_at()
        if first is not None:
            return now >= first + OBSERVE_AFTER_S
        return self._prompted_at is not None and now >= self._prompted_at + self._timeout_s

    def result(self) -> DisconnectObservation:
        arrivals: list[tuple[float, float, DisconnectMethod]] = []  # (onset, certain, method)
        if self._reversal_at is not None:
            arrivals.append((self._reversal_at, self._reversal_at,
                             DisconnectMethod.POLARITY_REVERSAL))
        if self._drop_at is not None:
            arrivals.append((self._drop_at, self._drop_at, DisconnectMethod.LOOP_CURRENT_DROP))
        tone = detect_ms = None
        plans: tuple[str, ...] = ()
        if self._tone_confirmed_at is not None and self._t0 is not None:
            onset = self._tracker.onset or 0
            audio = np.concatenate(self._audio)
            lead = int(DISCONNECT_LEAD_IN_S * RATE_HZ)
            excerpt = audio[max(0, onset - lead):]  # from before the first burst's edge
            tone = measure_cadenced_tone(excerpt)
            offset_ms = (onset - max(0, onset - lead)) * 1000 // RATE_HZ
            if tone is not None:
                at_ms = progress_busy_ms(excerpt, _verification_plan(tone))
                detect_ms = None if at_ms is None else max(0, at_ms - offset_ms)
                plans = tuple(str(p.country) for p in PLANS.values()
                              if progress_busy_ms(excerpt, p) is not None)
            onset_at = self._t0 + onset / RATE_HZ
            certain = (onset_at + detect_ms / 1000.0 if detect_ms is not None
                       else self._tone_confirmed_at)
            arrivals.append((onset_at, certain, DisconnectMethod.BUSY_TONE))
        loop_drop_ms = None
        if self._drop_at is not None and self._drop_end is not None:
            loop_drop_ms = int(round((self._drop_end - self._drop_at) * 1000.0))
        if not arrivals:
            return DisconnectObservation(DisconnectMethod.NONE, None, (), loop_drop_ms, tone,
                                         detect_ms, plans, False)
        hang_up = min(onset for onset, _, _ in arrivals)
        certain, method = min((c, m) for _, c, m in arrivals)
        before = self._prompted_at is None or hang_up < self._prompted_at
        return DisconnectObservation(
            method, int(round((certain - hang_up) * 1000.0)),
            tuple(m for _, _, m in sorted(arrivals)), loop_drop_ms, tone, detect_ms, plans,
            before)

    def _first_at(self) -> float | None:
        times = [t for t in (self._reversal_at, self._drop_at, self._tone_confirmed_at)
                 if t is not None]
        return min(times) if times else None


# --- the whole line ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallRecord:
    """Everything observed on one test call."""

    incoming: IncomingCallObservation
    answered: bool
    aon: AonCallerId | None = None
    disconnect: DisconnectObservation | None = None


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _number_text(caller: CallerId) -> str:
    if caller.number:
        return caller.number
    absent = caller.number_absent or Absence.UNAVAILABLE
    return "private" if absent is Absence.PRIVATE else "unavailable"


def _same_number(decoded: str, expected: str) -> bool:
    """Numbers agree when their last seven digits do (national prefixes differ: 8 495…, +7
    495…; AON carries seven digits only)."""
    a, b = _digits(decoded), _digits(expected)
    n = min(len(a), len(b), 7)
    return n >= 4 and a[-n:] == b[-n:]


def _majority(values: Sequence[object]) -> tuple[object, int]:
    counts = collections.Counter(values)
    value, count = counts.most_common(1)[0]
    return value, count


def summarise(port: str, calls: Sequence[CallRecord], echo: EchoResult | None,
              dial_tone: ToneMeasurement | None, expected_number: str | None = None,
              notes: Sequence[str] = ()) -> LineProfile:
    """The line's profile from every test call's observations (majority where they differ)."""
    out_notes = list(notes)
    for i, call in enumerate(calls, 1):
        out_notes += [f"call {i}: {n}" for n in call.incoming.notes]

    # Ringing.
    cadences = [c.incoming.cadence_ms for c in calls if c.incoming.cadence_ms]
    cadence: tuple[int, ...] = ()
    agreeing = 0
    if cadences:
        length, _ = _majority([len(c) for c in cadences])
        same = [c for c in cadences if len(c) == length]
        cadence = tuple(int(statistics.median(c[j] for c in same)) for j in range(len(same[0])))
        agreeing = sum(1 for c in same if all(_close(a, b) for a, b in zip(c, cadence,
                                                                           strict=True)))
        if agreeing < len(calls):
            out_notes.append(f"ring cadence {list(cadence)} ms in {agreeing} of "
                             f"{len(calls)} calls")
    elif calls:
        out_notes.append("ringing never repeated a regular cadence: ring validation accepts "
                         "any cadence")
    ring = RingEvidence(cadence, matching_cadences(cadence) if cadence else (),
                        tuple(c.incoming.first_burst_ms for c in calls
                              if c.incoming.first_burst_ms is not None),
                        agreeing, len(calls))

    # Caller ID.
    decoded = [c.incoming for c in calls if c.incoming.signalling is not None]
    answered = [c for c in calls if c.answered]
    aon = [c.aon for c in answered if c.aon is not None]
    numbers = [_number_text(o.caller) for o in decoded if o.caller is not None]
    numbers += [a.number for a in aon]
    method = CallerIdMethod.NONE
    timing: CidTiming | None = None
    if decoded:
        signalling, count = _majority([o.signalling for o in decoded])
        method = CallerIdMethod(str(signalling))
        timing_value, _ = _majority([o.timing for o in decoded if o.signalling == signalling])
        timing = timing_value if isinstance(timing_value, CidTiming) else None
        if count < len(decoded):
            out_notes.append(f"caller ID came as {signalling} in {count} of {len(decoded)} "
                             f"decoded calls")
        if aon:
            out_notes.append("the exchange also answers the AON request")
    elif aon:
        method = CallerIdMethod.AON
    elif calls:
        out_notes.append(f"no caller ID in {len(calls)} call(s): neither on-hook (Bell 202, "
                         f"V.23, DTMF) nor AON ({len(answered)} answered)")
    rejected = sum(c.incoming.rejected_frames for c in calls)
    if rejected and method is CallerIdMethod.NONE:
        out_notes.append(f"{rejected} caller-ID frame(s) heard but unreadable (bad checksum):"
                         f" check the line for noise")
    matches: bool | None = None
    if expected_number and numbers:
        real = [n for n in numbers if _digits(n)]
        matches = bool(real) and all(_same_number(n, expected_number) for n in real)
        if not matches:
            out_notes.append(f"decoded number(s) {', '.join(numbers)} do not end like "
                             f"{expected_number}, the number called from")
    caller_id = CallerIdEvidence(len(decoded), len(aon), len(calls), tuple(numbers), matches,
                                 rejected)

    # Disconnect.
    ends = [c.disconnect for c in answered if c.disconnect is not None]
    first = DisconnectMethod.NONE
    detect_ms = loop_drop_ms = busy_ms = None
    busy: BusyTone | None = None
    plans: tuple[str, ...] = ()
    if ends:
        first_value, count = _majority([e.first for e in ends])
        first = DisconnectMethod(str(first_value))
        if count < len(ends):
            out_notes.append(f"disconnect by {first} first in {count} of {len(ends)} calls")
        times = [e.detect_ms for e in ends if e.first is first and e.detect_ms is not None]
        detect_ms = int(statistics.median(times)) if times else None
        drops = [e.loop_drop_ms for e in ends if e.loop_drop_ms is not None]
        loop_drop_ms = int(statistics.median(drops)) if drops else None
        tones = [e.busy_tone for e in ends if e.busy_tone is not None]
        if tones:
            width = len(tones[0].frequencies_hz)
            alike = [t for t in tones if len(t.frequencies_hz) == width]
            busy = BusyTone(
                tuple(float(round(statistics.median(t.frequencies_hz[j] for t in alike)))
                      for j in range(width)),
                (int(statistics.median(t.cadence_ms[0] for t in alike)),
                 int(statistics.median(t.cadence_ms[1] for t in alike))),
                round(statistics.median(t.level_dbm0 for t in alike), 1))
            busy_times = [e.busy_detect_ms for e in ends if e.busy_detect_ms is not None]
            busy_ms = int(statistics.median(busy_times)) if busy_times else None
            plans = next(e.plans_matching for e in ends if e.busy_tone is not None)
        if first is DisconnectMethod.NONE:
            out_notes.append("no disconnect signal within the time limit: calls on this line "
                             "can only end on a silence timeout")
        if any(e.before_prompt for e in ends):
            out_notes.append("a caller hung up before being asked to")
    elif calls and not answered:
        out_notes.append("no test call was answered: the disconnect signal is unknown")
    disconnect = DisconnectEvidence(tuple(e.first for e in ends), detect_ms, loop_drop_ms,
                                    busy, busy_ms, plans)

    # Echo and gain.
    echo_evidence = None
    termination = None
    tx_gain = 0.0
    best = echo.best() if echo is not None else None
    if echo is not None and best is not None:
        name, measurement = best
        termination = name if echo.adjustable else None
        if measurement.erl_db < MIN_ERL_DB:
            tx_gain = max(MIN_TX_GAIN_DB, round(measurement.erl_db - MIN_ERL_DB, 1))
            out_notes.append(f"echo return loss only {measurement.erl_db} dB: transmit gain "
                             f"lowered to {tx_gain} dB")
        echo_evidence = EchoEvidence(
            measurement.erl_db, measurement.limit_db,
            tuple((n, m.erl_db) for n, m in echo.by_termination),
            echo.adjustable, round(measurement.delay_samples * 1000.0 / RATE_HZ, 1))

    loop_drop_min_ms = None
    if first is DisconnectMethod.LOOP_CURRENT_DROP:
        loop_drop_min_ms = max(10, min(1000, loop_drop_ms // 2)) if loop_drop_ms else 500
    settings = FxoLineSettings(
        port=port, ring_cadence_ms=cadence, caller_id=method,
        caller_id_timing=CallerIdTiming(timing) if timing is not None else None,
        disconnect=first,
        loop_drop_min_ms=loop_drop_min_ms,
        busy_tone_hz=busy.frequencies_hz if busy else (),
        busy_tone_cadence_ms=busy.cadence_ms if busy else (),
        ac_termination=termination, tx_gain_db=tx_gain)
    return LineProfile(port, settings, ring, caller_id, disconnect, echo_evidence, dial_tone,
                       len(calls), len(answered), tuple(out_notes))
