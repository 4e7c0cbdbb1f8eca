"""Call-progress tones and ring cadences per country, as data, and a frame-by-frame tone generator.

A tone is a list of timed segments (frequencies summed at one level, or one carrier amplitude-
modulated, or silence) with an optional loop point, so continuous, cadenced, stutter-then-steady
and alternating tones (UK special dial: 350+450 Hz then 450 Hz) are all the same data shape.
Ring cadences (ringing voltage on/off for analog phone ports) live beside the tones of the same
country: normal, internal, door and distinctive patterns.

Sources of the numbers (values of national plans as published in the ITU-T E.180 supplement 2
"Various tones used in national networks", ITU Operational Bulletin list tones-0203):
  * EU: ETSI ES 201 970 / ETSI TR 101 041-2 harmonised values (425 Hz; busy 0.5/0.5 s,
    congestion 0.25/0.25 s, ringing 1/4 s), also the ITU-T E.180 recommended values.
  * DE: E.180 Supp. 2, Germany "I" values (busy 0.48/0.48, congestion 0.24/0.24, special dial
    tone 425+400 Hz, call waiting 0.2/0.2/0.2/5.0 s).
  * RU: E.180 Supp. 2, Russian Federation (busy 0.35/0.35, congestion 0.175/0.175, ringing 1/4 s,
    call waiting 0.2/5.0 s); some exchanges use 0.4/0.4 busy and 0.8/3.2 ringing, inside the
    detector tolerance (progress.py).
  * UA: the ex-USSR plan, identical to RU (E.180 Supp. 2 entry not cross-checked; verify on site).
  * UK: BT SIN 350 (dial 350+450 Hz, ringing 400+450 Hz 0.4/0.2/0.4/2.0 s, busy 400 Hz
    0.375/0.375 s, congestion 400 Hz 0.4/0.35/0.225/0.525 s, special dial 350+450 / 450 Hz).
    SIN 351 gives the same ring cadence for the bell.
  * US: Telcordia GR-506 "precise tone plan" (dial 350+440 Hz −13 dBm0, audible ringing
    440+480 Hz −19 dBm0 2/4 s, busy 480+620 Hz −24 dBm0 0.5/0.5 s, reorder 0.25/0.25 s,
    recall/stutter dial 10 × 0.1/0.1 s then steady, call waiting 440 Hz 0.3 s), distinctive
    ringing patterns DR2 (used for internal calls), DR3 and DR4 of GR-506.
Internal / door / distinctive ring cadences outside the US are a PBX convention (the PSTN does not
define them): internal = double short ring, door = triple short ring, both keeping the national
cycle length so a phone's ringer behaves as it does on the public network.

Levels are per frequency component in dBm0 with the G.711 convention that a full-scale int16 sine
is +3.17 dBm0, i.e. a 0 dBm0 sine peaks at 32767·10^(−3.17/20) ≈ 22776.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from firmware.media.frame import Frame, SampleRate, samples_per_frame

FULL_SCALE_DBM0 = 3.17
"""G.711: a full-scale int16 sine is +3.17 dBm0."""


def dbm0_to_amplitude(level_dbm0: float) -> float:
    """Peak int16 amplitude of a sine at `level_dbm0` (0 dBm0 → ≈ 22776)."""
    return 32767.0 * math.pow(10.0, (level_dbm0 - FULL_SCALE_DBM0) / 20.0)


class Country(StrEnum):
    """Tone plans the box ships."""

    EU = "eu"
    DE = "de"
    RU = "ru"
    UA = "ua"
    UK = "uk"
    US = "us"


class ToneKind(StrEnum):
    """Tones the box plays to a caller or a local phone."""

    DIAL = "dial"
    STUTTER_DIAL = "stutter_dial"
    """Dial tone announcing a waiting message (or a diversion); also recall dial tone."""
    RINGBACK = "ringback"
    BUSY = "busy"
    CONGESTION = "congestion"
    CALL_WAITING = "call_waiting"
    CONFIRMATION = "confirmation"


class RingKind(StrEnum):
    """Ringing-voltage patterns an analog port can play."""

    NORMAL = "normal"
    INTERNAL = "internal"
    DOOR = "door"
    DISTINCTIVE_1 = "distinctive_1"
    DISTINCTIVE_2 = "distinctive_2"
    DISTINCTIVE_3 = "distinctive_3"


@dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of a tone: `frequencies_hz` summed, each at `level_dbm0`; empty = silence.

    `duration_ms` None means "until stopped" (a steady dial tone). With `modulation_hz` the
    tone is the single carrier `frequencies_hz[0]` amplitude-modulated, depth
    `modulation_depth` (ITU-T E.180 notation f1×f2), which puts energy at f1 and f1 ± f2.
    """

    duration_ms: int | None
    frequencies_hz: tuple[float, ...] = ()
    level_dbm0: float = -10.0
    modulation_hz: float | None = None
    modulation_depth: float = 1.0

    @property
    def is_on(self) -> bool:
        return bool(self.frequencies_hz)

    def components_hz(self) -> tuple[float, ...]:
        """Frequencies that carry energy (AM sidebands included), for detectors."""
        if self.modulation_hz is None:
            return self.frequencies_hz
        carrier = self.frequencies_hz[0]
        return (carrier - self.modulation_hz, carrier, carrier + self.modulation_hz)


@dataclass(frozen=True, slots=True)
class Tone:
    """A tone as segments; after the last one playback jumps to `loop_from` (None: stop)."""

    segments: tuple[Segment, ...]
    loop_from: int | None = 0

    @property
    def is_continuous(self) -> bool:
        """One steady segment: no cadence to detect, only presence."""
        return len(self.segments) == 1 and self.segments[0].duration_ms is None

    def cadence_ms(self) -> tuple[tuple[bool, int], ...]:
        """The looping part as (on, duration_ms) runs, adjacent equal states merged.

        Alternating tones (e.g. 350+450 then 450 Hz) count as one long "on" run, which is what
        an energy-based detector sees. Empty for continuous and non-looping tones.
        """
        if self.loop_from is None or self.is_continuous:
            return ()
        runs: list[tuple[bool, int]] = []
        for seg in self.segments[self.loop_from :]:
            if seg.duration_ms is None:
                return ()
            if runs and runs[-1][0] == seg.is_on:
                runs[-1] = (seg.is_on, runs[-1][1] + seg.duration_ms)
            else:
                runs.append((seg.is_on, seg.duration_ms))
        if len(runs) > 1 and runs[0][0] == runs[-1][0]:
            first = runs.pop(0)
            runs[-1] = (first[0], runs[-1][1] + first[1])
        return tuple(runs)

    def on_components_hz(self) -> frozenset[float]:
        """Every frequency any "on" segment of this tone uses."""
        return frozenset(f for seg in self.segments for f in seg.components_hz())


def steady(frequencies_hz: tuple[float, ...], level_dbm0: float) -> Tone:
    """A continuous tone."""
    return Tone((Segment(None, frequencies_hz, level_dbm0),))


def cadenced(
    frequencies_hz: tuple[float, ...], level_dbm0: float, cadence_ms: tuple[int, ...]
) -> Tone:
    """`cadence_ms` = on, off, on, off, … repeated for ever."""
    if len(cadence_ms) % 2:
        raise ValueError(f"cadence needs on/off pairs, got {cadence_ms}")
    segs = tuple(
        Segment(ms, frequencies_hz if i % 2 == 0 else (), level_dbm0)
        for i, ms in enumerate(cadence_ms)
    )
    return Tone(segs)


def bursts_then(
    frequencies_hz: tuple[float, ...],
    level_dbm0: float,
    on_ms: int,
    off_ms: int,
    count: int,
    then: Tone | None,
) -> Tone:
    """`count` bursts of on/off, then `then` (looped) or silence when None."""
    segs: list[Segment] = []
    for _ in range(count):
        segs += [Segment(on_ms, frequencies_hz, level_dbm0), Segment(off_ms)]
    if then is None:
        return Tone(tuple(segs), loop_from=None)
    if then.loop_from is None:
        raise ValueError("the tone after the bursts must loop")
    return Tone(tuple(segs) + then.segments, loop_from=len(segs) + then.loop_from)


@dataclass(frozen=True, slots=True)
class RingCadence:
    """Ringing voltage pattern for an analog port: on, off, on, off, … in ms, repeated."""

    cadence_ms: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.cadence_ms or len(self.cadence_ms) % 2 or min(self.cadence_ms) <= 0:
            raise ValueError(f"ring cadence needs positive on/off pairs, got {self.cadence_ms}")

    @property
    def period_ms(self) -> int:
        return sum(self.cadence_ms)

    def first_ring_ms(self) -> tuple[int, ...]:
        """The burst group before the longest pause: where after-first-ring caller ID goes.

        For 2 s/4 s that is (2000,); for the UK double ring 0.4/0.2/0.4/2.0 it is
        (400, 200, 400).
        """
        offs = self.cadence_ms[1::2]
        longest = max(range(len(offs)), key=offs.__getitem__)
        return self.cadence_ms[: 2 * longest + 1]

    def first_pause_ms(self) -> int:
        """The longest pause, which follows `first_ring_ms()`."""
        return max(self.cadence_ms[1::2])


@dataclass(frozen=True, slots=True)
class TonePlan:
    """All tones and ring cadences of one country."""

    country: Country
    dial: Tone
    stutter_dial: Tone
    ringback: Tone
    busy: Tone
    congestion: Tone
    call_waiting: Tone
    confirmation: Tone
    ring_normal: RingCadence
    ring_internal: RingCadence
    ring_door: RingCadence
    ring_distinctive: tuple[RingCadence, RingCadence, RingCadence]
    source: str = field(default="", compare=False)

    def tone(self, kind: ToneKind) -> Tone:
        result: Tone = getattr(self, kind.value)
        return result

    def ring(self, kind: RingKind) -> RingCadence:
        if kind is RingKind.NORMAL:
            return self.ring_normal
        if kind is RingKind.INTERNAL:
            return self.ring_internal
        if kind is RingKind.DOOR:
            return self.ring_door
        return self.ring_distinctive[int(kind.value[-1]) - 1]


# --- Plans ---------------------------------------------------------------------------------

_F425 = (425.0,)
_EU_LEVEL = -10.0  # ES 201 970 / E.180: tones at about −10 dBm0 at the exchange


def _europe_style(
    country: Country,
    *,
    busy_ms: tuple[int, int],
    congestion_ms: tuple[int, int],
    ringback_ms: tuple[int, int],
    call_waiting_ms: tuple[int, ...],
    stutter_dial: Tone | None = None,
    source: str,
) -> TonePlan:
    dial = steady(_F425, _EU_LEVEL)
    period = sum(ringback_ms)
    return TonePlan(
        country=country,
        dial=dial,
        # Message-waiting dial tone: 10 × 0.1/0.1 s then steady, the common ETSI-area practice.
        stutter_dial=stutter_dial or bursts_then(_F425, _EU_LEVEL, 100, 100, 10, dial),
        ringback=cadenced(_F425, _EU_LEVEL, ringback_ms),
        busy=cadenced(_F425, _EU_LEVEL, busy_ms),
        congestion=cadenced(_F425, _EU_LEVEL, congestion_ms),
        call_waiting=cadenced(_F425, _EU_LEVEL - 6.0, call_waiting_ms),
        confirmation=bursts_then(_F425, _EU_LEVEL, 100, 100, 3, None),
        ring_normal=RingCadence(ringback_ms),
        ring_internal=RingCadence((400, 200, 400, period - 1000)),
        ring_door=RingCadence((250, 250, 250, 250, 250, period - 1250)),
        ring_distinctive=(
            RingCadence((800, 400, 800, period - 2000)),
            RingCadence((400, 200, 400, 200, 800, period - 2000)),
            RingCadence((300, 200, 1000, 200, 300, period - 2000)),
        ),
        source=source,
    )


EU = _europe_style(
    Country.EU,
    busy_ms=(500, 500),
    congestion_ms=(250, 250),
    ringback_ms=(1000, 4000),
    call_waiting_ms=(200, 200, 200, 4400),
    source="ETSI ES 201 970 / TR 101 041-2; ITU-T E.180",
)

DE = _europe_style(
    Country.DE,
    busy_ms=(480, 480),
    congestion_ms=(240, 240),
    ringback_ms=(1000, 4000),
    call_waiting_ms=(200, 200, 200, 5000),
    # Sonderwählton: 425+400 Hz steady (E.180 Supp. 2, Germany).
    stutter_dial=steady((425.0, 400.0), _EU_LEVEL),
    source="ITU-T E.180 Supp. 2, Germany (I)",
)

RU = _europe_style(
    Country.RU,
    busy_ms=(350, 350),
    congestion_ms=(175, 175),
    ringback_ms=(1000, 4000),
    call_waiting_ms=(200, 5000),
    source="ITU-T E.180 Supp. 2, Russian Federation",
)

UA = _europe_style(
    Country.UA,
    busy_ms=(350, 350),
    congestion_ms=(175, 175),
    ringback_ms=(1000, 4000),
    call_waiting_ms=(200, 5000),
    source="ex-USSR plan as RU (E.180 Supp. 2 Ukraine entry not cross-checked)",
)

_UK_DIAL = steady((350.0, 450.0), -16.0)
UK = TonePlan(
    country=Country.UK,
    dial=_UK_DIAL,
    # SIN 350 special dial tone: 350+450 Hz and 450 Hz alternating, 0.75 s each.
    stutter_dial=Tone((Segment(750, (350.0, 450.0), -16.0), Segment(750, (450.0,), -16.0))),
    ringback=cadenced((400.0, 450.0), -18.0, (400, 200, 400, 2000)),
    busy=cadenced((400.0,), -18.0, (375, 375)),
    congestion=cadenced((400.0,), -18.0, (400, 350, 225, 525)),
    call_waiting=cadenced((400.0,), -24.0, (100, 4000)),
    confirmation=bursts_then((1400.0,), -18.0, 100, 100, 3, None),
    ring_normal=RingCadence((400, 200, 400, 2000)),
    ring_internal=RingCadence((1000, 2000)),
    ring_door=RingCadence((250, 250, 250, 250, 250, 1750)),
    ring_distinctive=(
        RingCadence((400, 200, 400, 200, 400, 1400)),
        RingCadence((1000, 200, 400, 1400)),
        RingCadence((250, 250, 1000, 1500)),
    ),
    source="BT SIN 350 (tones), SIN 351 (ringing)",
)

_US_DIAL = steady((350.0, 440.0), -13.0)
US = TonePlan(
    country=Country.US,
    dial=_US_DIAL,
    stutter_dial=bursts_then((350.0, 440.0), -13.0, 100, 100, 10, _US_DIAL),
    ringback=cadenced((440.0, 480.0), -19.0, (2000, 4000)),
    busy=cadenced((480.0, 620.0), -24.0, (500, 500)),
    congestion=cadenced((480.0, 620.0), -24.0, (250, 250)),
    call_waiting=cadenced((440.0,), -13.0, (300, 9700)),
    confirmation=bursts_then((350.0, 440.0), -13.0, 100, 100, 3, None),
    ring_normal=RingCadence((2000, 4000)),
    ring_internal=RingCadence((800, 400, 800, 4000)),  # GR-506 DR2, the usual PBX intercom ring
    ring_door=RingCadence((250, 250, 250, 250, 250, 4750)),
    ring_distinctive=(
        RingCadence((400, 200, 400, 200, 800, 4000)),  # GR-506 DR3
        RingCadence((300, 200, 1000, 200, 300, 4000)),  # DR4
        RingCadence((400, 200, 400, 200, 400, 200, 400, 3800)),  # house pattern: four short
    ),
    source="Telcordia GR-506 precise tone plan and distinctive ringing",
)

PLANS: dict[Country, TonePlan] = {p.country: p for p in (EU, DE, RU, UA, UK, US)}
"""Every shipped plan by country."""


# --- Generator -----------------------------------------------------------------------------


class ToneGenerator:
    """Streams a `Tone` as frames, phase-continuous across frame boundaries.

    Sans-I/O: each `next_frame()` returns the next 20 ms; the caller paces it (PCM bus, RTP
    clock). Each segment starts at phase zero so bursts begin without a click; within a
    segment the phase carries over frames exactly (no per-frame restart, no drift).
    """

    def __init__(
        self,
        tone: Tone,
        rate: SampleRate = SampleRate.NARROWBAND,
        gain_db: float = 0.0,
    ) -> None:
        self._tone = tone
        self._rate = int(rate)
        self._frame = samples_per_frame(rate)
        self._gain = math.pow(10.0, gain_db / 20.0)
        self._index = 0  # current segment
        self._offset = 0  # samples already played of the current segment
        self._finished = not tone.segments

    @property
    def finished(self) -> bool:
        """True once a non-looping tone has played out (frames are then silence)."""
        return self._finished

    def next_frame(self) -> Frame:
        """The next 20 ms."""
        return self.read(self._frame)

    def read(self, samples: int) -> Frame:
        """The next `samples` samples (any count; `next_frame` is the usual call)."""
        out = np.zeros(samples, dtype=np.float64)
        pos = 0
        while pos < samples and not self._finished:
            seg = self._tone.segments[self._index]
            if seg.duration_ms is None:
                take = samples - pos
            else:
                seg_len = self._rate * seg.duration_ms // 1000
                take = min(samples - pos, seg_len - self._offset)
            if take > 0 and seg.is_on:
                out[pos : pos + take] = self._render(seg, self._offset, take)
            pos += max(take, 0)
            self._offset += max(take, 0)
            if seg.duration_ms is not None and self._offset >= self._rate * seg.duration_ms // 1000:
                self._advance()
        return np.clip(np.rint(out * self._gain), -32768, 32767).astype(np.int16)

    def _advance(self) -> None:
        self._offset = 0
        self._index += 1
        if self._index >= len(self._tone.segments):
            if self._tone.loop_from is None:
                self._finished = True
                self._index = len(self._tone.segments) - 1
            else:
                self._index = self._tone.loop_from

    def _render(self, seg: Segment, start: int, count: int) -> npt.NDArray[np.float64]:
        # Phase from the sample index within the segment: exact continuity, no accumulation.
        t = (start + np.arange(count, dtype=np.float64)) / self._rate
        amp = dbm0_to_amplitude(seg.level_dbm0)
        if seg.modulation_hz is not None:
            carrier = np.sin(2.0 * math.pi * seg.frequencies_hz[0] * t)
            envelope = 1.0 + seg.modulation_depth * np.cos(2.0 * math.pi * seg.modulation_hz * t)
            # Scale so the envelope peak equals the nominal peak amplitude.
            return amp / (1.0 + seg.modulation_depth) * envelope * carrier
        sig = np.zeros(count, dtype=np.float64)
        for f in seg.frequencies_hz:
            sig += np.sin(2.0 * math.pi * f * t)
        return amp * sig


def dual_tone(
    frequencies_hz: tuple[float, ...],
    duration_ms: int,
    level_dbm0: float,
    rate: SampleRate = SampleRate.NARROWBAND,
) -> Frame:
    """`duration_ms` of the summed sines, each at `level_dbm0` (e.g. the DT-AS alert)."""
    gen = ToneGenerator(Tone((Segment(duration_ms, frequencies_hz, level_dbm0),), None), rate)
    return gen.read(int(rate) * duration_ms // 1000)
