"""Fax tones: CNG (T.30), CED and V.25 ANS with phase reversals / ANSam; none on speech."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from firmware.media.dsp.fax import FaxTone, FaxToneDetected, FaxToneDetector

from .conftest import add_noise, frames_of

RATE = 8000


def sine(
    freq_hz: float,
    ms: int,
    level_dbm0: float = -10.0,
    reversal_ms: int | None = None,
    am_hz: float | None = None,
) -> npt.NDArray[np.int16]:
    """A tone; with `reversal_ms` its phase flips by 180° every that many ms (V.25 /ANS)."""
    t = np.arange(RATE * ms // 1000) / RATE
    phase = 2 * math.pi * freq_hz * t
    if reversal_ms:
        phase = phase + math.pi * (np.floor(t * 1000 / reversal_ms) % 2)
    x = 32767 * 10 ** ((level_dbm0 - 3.17) / 20) * np.sin(phase)
    if am_hz:  # V.8 ANSam: 20 % amplitude modulation at 15 Hz
        x = x * (1 + 0.2 * np.sin(2 * math.pi * am_hz * t)) / 1.2
    return np.rint(x).astype(np.int16)


def gap(ms: int) -> npt.NDArray[np.int16]:
    return np.zeros(RATE * ms // 1000, dtype=np.int16)


def detect(samples: npt.NDArray[np.int16], cng_bursts: int = 1) -> list[FaxToneDetected]:
    detector = FaxToneDetector(cng_bursts=cng_bursts)
    return [ev for f in frames_of(samples) for ev in detector.process(f)]


@pytest.mark.parametrize("freq_hz", [1062.0, 1100.0, 1138.0])  # T.30: 1100 ± 38 Hz
def test_cng_burst_is_detected_once(freq_hz: float) -> None:
    calling = np.concatenate(
        [gap(100), sine(freq_hz, 500), gap(3000), sine(freq_hz, 500), gap(500)]
    )
    events = detect(add_noise(calling, 15.0))
    assert [e.tone for e in events] == [FaxTone.CNG]
    assert 600 <= events[0].at_ms <= 760  # burst end + the 100 ms of quiet that confirm it


def test_cng_two_burst_mode_waits_for_the_second_burst() -> None:
    calling = np.concatenate([sine(1100, 500), gap(3000), sine(1100, 500), gap(500)])
    events = detect(calling, cng_bursts=2)
    assert [e.tone for e in events] == [FaxTone.CNG] and events[0].at_ms > 3500


@pytest.mark.parametrize("ms", [250, 1000, 3000])
def test_1100_hz_of_the_wrong_length_is_not_cng(ms: int) -> None:
    assert detect(np.concatenate([sine(1100, ms), gap(500)])) == []


def test_cng_at_1200_hz_is_rejected() -> None:
    assert detect(np.concatenate([sine(1200, 500), gap(500)])) == []


@pytest.mark.parametrize("freq_hz", [2085.0, 2100.0, 2115.0])  # T.30: 2100 ± 15 Hz
def test_ced_without_reversals(freq_hz: float) -> None:
    events = detect(add_noise(np.concatenate([gap(200), sine(freq_hz, 2600)]), 15.0))
    assert events == [FaxToneDetected(FaxTone.CED, events[0].at_ms, phase_reversals=False)]
    assert 200 + 600 - 40 <= events[0].at_ms <= 200 + 600 + 40


@pytest.mark.parametrize("am_hz", [None, 15.0])
def test_ans_with_phase_reversals_is_flagged(am_hz: float | None) -> None:
    answer = np.concatenate([gap(200), sine(2100, 3300, -20.0, reversal_ms=450, am_hz=am_hz)])
    events = detect(add_noise(answer, 15.0))
    assert [(e.tone, e.phase_reversals) for e in events] == [(FaxTone.CED, True)]


def test_ced_below_the_threshold_is_ignored() -> None:
    assert detect(sine(2100, 3000, -50.0)) == []


def test_no_fax_tone_in_speech(speech: dict[str, npt.NDArray[np.int16]]) -> None:
    for voice, samples in speech.items():
        for gain in (1.0, 3.0):
            loud = np.clip(np.rint(samples * gain), -32768, 32767).astype(np.int16)
            assert detect(loud) == [], (voice, gain)
