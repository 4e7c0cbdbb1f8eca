"""Call-progress detection per country, in noise and at changing levels; speech is never a tone."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from firmware.media.dsp.progress import ProgressDetected, ProgressDetector, ProgressTone
from firmware.media.dsp.tones import PLANS, Country, Segment, Tone, ToneGenerator, ToneKind

from .conftest import add_noise, frames_of

TONES = {
    ToneKind.DIAL: ProgressTone.DIAL,
    ToneKind.RINGBACK: ProgressTone.RINGBACK,
    ToneKind.BUSY: ProgressTone.BUSY,
    ToneKind.CONGESTION: ProgressTone.CONGESTION,
}


def play(tone: Tone, seconds: float, gain_db: float = 0.0) -> npt.NDArray[np.int16]:
    gen = ToneGenerator(tone, gain_db=gain_db)
    return np.concatenate([gen.next_frame() for _ in range(int(seconds * 50))])


def detect(plan_country: Country, samples: npt.NDArray[np.int16]) -> list[ProgressDetected]:
    detector = ProgressDetector(PLANS[plan_country])
    return [ev for f in frames_of(samples) for ev in detector.process(f)]


def listen_time_s(country: Country, kind: ToneKind) -> float:
    """Two cadence cycles (one for ringback) plus margin, or 2 s of dial tone."""
    cadence = PLANS[country].tone(kind).cadence_ms()
    if not cadence:
        return 2.0
    cycles = 1 if kind is ToneKind.RINGBACK else 2
    return (cycles * sum(ms for _, ms in cadence) + cadence[0][1]) / 1000 + 0.5


@pytest.mark.parametrize("kind", list(TONES))
@pytest.mark.parametrize("country", list(Country))
def test_each_country_tone_is_classified_in_noise_and_at_low_level(
    country: Country, kind: ToneKind
) -> None:
    tone = PLANS[country].tone(kind)
    seconds = listen_time_s(country, kind)
    # Start mid-stream (the detector never hears a tone from its first sample), 12 dB below
    # the plan level (line loss), with white noise 10 dB below the tone.
    lead = np.zeros(1234, dtype=np.int16)
    clean = np.concatenate([lead, play(tone, seconds)])
    quiet_noisy = add_noise(np.concatenate([lead, play(tone, seconds, gain_db=-12.0)]), 10.0)
    for signal in (clean, quiet_noisy):
        events = detect(country, signal)
        assert [e.tone for e in events] == [TONES[kind]], events


@pytest.mark.parametrize("country", list(Country))
def test_busy_is_confirmed_after_two_cycles(country: Country) -> None:
    busy = PLANS[country].busy
    cycle_ms = sum(ms for _, ms in busy.cadence_ms())
    events = detect(country, play(busy, 4 * cycle_ms / 1000))
    assert [e.tone for e in events] == [ProgressTone.BUSY]
    # Two whole cycles are heard once the third burst starts; 2 blocks of debounce on top.
    assert 2 * cycle_ms <= events[0].at_ms <= 2 * cycle_ms + 60


def test_level_steps_during_busy_do_not_break_it() -> None:
    plan = PLANS[Country.EU]
    parts = [play(plan.busy, 1.0, gain_db=g) for g in (0.0, -15.0, 0.0, -20.0, -5.0)]
    events = detect(Country.EU, np.concatenate(parts))
    assert [e.tone for e in events] == [ProgressTone.BUSY]


def test_busy_after_speech_clears_the_call(speech: dict[str, npt.NDArray[np.int16]]) -> None:
    # The far end talks, then hangs up: the exchange plays busy. No loop-current signal.
    talk = speech["ru"]
    busy = play(PLANS[Country.RU].busy, 3.0)
    events = detect(Country.RU, np.concatenate([talk, busy]))
    assert [e.tone for e in events] == [ProgressTone.UNKNOWN, ProgressTone.BUSY]
    busy_starts_ms = talk.size // 8
    assert events[-1].at_ms - busy_starts_ms <= 2 * 700 + 60


@pytest.mark.parametrize("country", list(Country))
def test_speech_is_never_a_progress_tone(
    country: Country, speech: dict[str, npt.NDArray[np.int16]]
) -> None:
    for voice, samples in speech.items():
        for gain in (1.0, 0.25):
            scaled = np.rint(samples * gain).astype(np.int16)
            tones = {e.tone for e in detect(country, scaled)}
            assert tones <= {ProgressTone.UNKNOWN, ProgressTone.SILENCE}, (voice, gain, tones)
            assert ProgressTone.UNKNOWN in tones, "speech is line activity"


def test_silence_is_silence_and_never_busy() -> None:
    events = detect(Country.US, np.zeros(8000 * 4, dtype=np.int16))
    assert [(e.tone, e.at_ms) for e in events] == [(ProgressTone.SILENCE, 2500)]
    hiss = add_noise(np.full(8000 * 4, 30, dtype=np.int16), 0.0)  # about −50 dBm0
    assert [e.tone for e in detect(Country.US, hiss)] == [ProgressTone.SILENCE]


def test_wrong_country_cadence_is_not_busy() -> None:
    # German busy (480/480) passes as EU busy (500/500 ± 25 %) but UK busy (375/375, 400 Hz)
    # on an RU line is 400 Hz — no RU tone — and must stay unknown.
    assert [e.tone for e in detect(Country.EU, play(PLANS[Country.DE].busy, 3))] == [
        ProgressTone.BUSY
    ]
    events = detect(Country.RU, play(PLANS[Country.UK].busy, 4))
    assert ProgressTone.BUSY not in {e.tone for e in events}


def test_us_busy_and_ringback_are_told_apart_by_frequency() -> None:
    # 480+620 Hz at the ringback cadence (2 s / 4 s) is neither ringback nor busy.
    odd = Tone((Segment(2000, (480.0, 620.0), -24.0), Segment(4000)))
    events = detect(Country.US, play(odd, 13))
    assert not {e.tone for e in events} & {ProgressTone.RINGBACK, ProgressTone.BUSY}


def test_ringback_pause_is_not_silence_and_ringback_to_dial_is_reported() -> None:
    plan = PLANS[Country.RU]
    audio = np.concatenate([play(plan.ringback, 10.0), play(plan.dial, 3.0)])
    events = detect(Country.RU, audio)
    assert [e.tone for e in events] == [ProgressTone.RINGBACK, ProgressTone.DIAL]


def test_detector_accepts_any_block_size() -> None:
    audio = play(PLANS[Country.UK].congestion, 4.0)
    whole = ProgressDetector(PLANS[Country.UK]).process(audio)
    odd = ProgressDetector(PLANS[Country.UK])
    pieces = [ev for i in range(0, audio.size, 97) for ev in odd.process(audio[i : i + 97])]
    assert whole == pieces == [ProgressDetected(ProgressTone.CONGESTION, whole[0].at_ms)]
