"""Tone plans as data and the frame generator: frequencies by FFT, cadence by envelope, levels."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from firmware.media.dsp.tones import (
    PLANS,
    Country,
    RingCadence,
    RingKind,
    Segment,
    Tone,
    ToneGenerator,
    ToneKind,
    dual_tone,
)
from firmware.media.frame import SampleRate

ZERO_DBM0_PEAK = 32767 * 10 ** (-3.17 / 20)


def stream(
    tone: Tone, seconds: float, rate: SampleRate = SampleRate.NARROWBAND
) -> npt.NDArray[np.int16]:
    gen = ToneGenerator(tone, rate)
    frames = [gen.next_frame() for _ in range(int(seconds * 50))]
    assert all(f.shape == (int(rate) // 50,) and f.dtype == np.int16 for f in frames)
    return np.concatenate(frames)


def peaks_hz(x: npt.NDArray[np.int16], rate: int, count: int) -> list[float]:
    """The `count` strongest spectral lines (Hann window, 1 s+ of signal → ≤ 1 Hz bins)."""
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    found: list[float] = []
    for idx in np.argsort(spec)[::-1]:
        if all(abs(freqs[idx] - f) > 10 for f in found):
            found.append(float(freqs[idx]))
        if len(found) == count:
            break
    return sorted(found)


def on_off_runs_ms(x: npt.NDArray[np.int16], rate: int) -> list[tuple[bool, int]]:
    """Envelope in 1 ms steps, as (on, duration) runs."""
    step = rate // 1000
    env = np.abs(x[: x.size // step * step].astype(np.float64)).reshape(-1, step).max(axis=1)
    on = env > 0
    runs: list[tuple[bool, int]] = []
    for value in on:
        if runs and runs[-1][0] == value:
            runs[-1] = (bool(value), runs[-1][1] + 1)
        else:
            runs.append((bool(value), 1))
    return runs


EXPECTED_HZ = {
    (Country.EU, ToneKind.BUSY): [425.0],
    (Country.RU, ToneKind.RINGBACK): [425.0],
    (Country.DE, ToneKind.STUTTER_DIAL): [400.0, 425.0],
    (Country.UK, ToneKind.DIAL): [350.0, 450.0],
    (Country.UK, ToneKind.RINGBACK): [400.0, 450.0],
    (Country.UK, ToneKind.BUSY): [400.0],
    (Country.US, ToneKind.DIAL): [350.0, 440.0],
    (Country.US, ToneKind.RINGBACK): [440.0, 480.0],
    (Country.US, ToneKind.BUSY): [480.0, 620.0],
    (Country.US, ToneKind.CONGESTION): [480.0, 620.0],
}


@pytest.mark.parametrize(("country", "kind"), list(EXPECTED_HZ))
def test_tone_has_the_plan_frequencies(country: Country, kind: ToneKind) -> None:
    want = EXPECTED_HZ[(country, kind)]
    x = stream(PLANS[country].tone(kind), 6.0)
    assert peaks_hz(x, 8000, len(want)) == pytest.approx(want, abs=1.0)


EXPECTED_CADENCE = {
    (Country.EU, ToneKind.BUSY): [500, 500],
    (Country.EU, ToneKind.CONGESTION): [250, 250],
    (Country.DE, ToneKind.BUSY): [480, 480],
    (Country.DE, ToneKind.CONGESTION): [240, 240],
    (Country.RU, ToneKind.BUSY): [350, 350],
    (Country.RU, ToneKind.CONGESTION): [175, 175],
    (Country.UA, ToneKind.RINGBACK): [1000, 4000],
    (Country.UK, ToneKind.RINGBACK): [400, 200, 400, 2000],
    (Country.UK, ToneKind.CONGESTION): [400, 350, 225, 525],
    (Country.US, ToneKind.RINGBACK): [2000, 4000],
    (Country.US, ToneKind.CONGESTION): [250, 250],
}


@pytest.mark.parametrize(("country", "kind"), list(EXPECTED_CADENCE))
def test_tone_follows_the_plan_cadence(country: Country, kind: ToneKind) -> None:
    cadence = EXPECTED_CADENCE[(country, kind)]
    x = stream(PLANS[country].tone(kind), 2.2 * sum(cadence) / 1000 + 0.1)
    runs = on_off_runs_ms(x, 8000)
    assert runs[0][0], "a tone starts with its first burst"
    durations = [ms for _, ms in runs[: 2 * len(cadence)]]
    # ±1 ms: the envelope is sampled per millisecond and a sine starts at zero.
    assert durations == pytest.approx(cadence * 2, abs=1)


def test_stutter_dial_tone_turns_steady_after_ten_bursts() -> None:
    x = stream(PLANS[Country.US].stutter_dial, 3.0)
    runs = on_off_runs_ms(x, 8000)
    assert [ms for _, ms in runs[:20]] == pytest.approx([100] * 20, abs=1)
    assert runs[20] == (True, pytest.approx(1000, abs=1))


def test_uk_special_dial_alternates_350_450_with_450_without_a_gap() -> None:
    x = stream(PLANS[Country.UK].stutter_dial, 3.0)
    assert on_off_runs_ms(x, 8000) == [(True, 3000)]
    first, second = x[:6000], x[6000:12000]
    assert peaks_hz(first, 8000, 2) == pytest.approx([350, 450], abs=2)
    assert peaks_hz(second, 8000, 1) == pytest.approx([450], abs=2)


def test_confirmation_tone_ends_in_silence() -> None:
    gen = ToneGenerator(PLANS[Country.EU].confirmation)
    x = np.concatenate([gen.next_frame() for _ in range(50)])
    assert gen.finished
    assert [on for on, _ in on_off_runs_ms(x, 8000)] == [True, False] * 3
    assert not x[700 * 8 :].any()


def test_generator_is_phase_continuous_across_frames() -> None:
    tone = PLANS[Country.US].dial
    framed = stream(tone, 1.0)
    whole = ToneGenerator(tone).read(8000)
    np.testing.assert_array_equal(framed, whole)
    # No click at frame seams: the largest sample step equals the sine's own largest step.
    steps = np.abs(np.diff(framed.astype(np.int32)))
    seams = steps[159::160]
    assert seams.max() <= steps.max()


@pytest.mark.parametrize("rate", [SampleRate.NARROWBAND, SampleRate.WIDEBAND])
def test_generator_level_matches_dbm0(rate: SampleRate) -> None:
    # One component at −13 dBm0: peak = 22776·10^(−13/20); US dial has two such components.
    x = stream(Tone((Segment(None, (1000.0,), -13.0),)), 1.0, rate).astype(np.float64)
    assert x.max() == pytest.approx(ZERO_DBM0_PEAK * 10 ** (-13 / 20), rel=0.01)
    rms_dbm0 = 10 * np.log10(np.mean(x * x) / (ZERO_DBM0_PEAK**2 / 2))
    assert rms_dbm0 == pytest.approx(-13.0, abs=0.05)


def test_amplitude_modulated_tone_has_sidebands() -> None:
    # E.180 notation 400×25: energy at 375, 400 and 425 Hz and nowhere else.
    x = stream(Tone((Segment(None, (400.0,), -10.0, modulation_hz=25.0, modulation_depth=0.5),)), 2)
    assert peaks_hz(x, 8000, 3) == pytest.approx([375.0, 400.0, 425.0], abs=1.0)
    assert Segment(None, (400.0,), modulation_hz=25.0).components_hz() == (375.0, 400.0, 425.0)


def test_dual_tone_alert_is_2130_and_2750_hz_for_100_ms() -> None:
    x = dual_tone((2130.0, 2750.0), 100, -15.0)
    assert x.size == 800
    spec = np.abs(np.fft.rfft(x))
    top = sorted(np.fft.rfftfreq(x.size, 1 / 8000)[np.argsort(spec)[-2:]])
    assert top == pytest.approx([2130, 2750], abs=10)


def test_cadence_data_merges_alternating_segments() -> None:
    assert PLANS[Country.UK].congestion.cadence_ms() == (
        (True, 400),
        (False, 350),
        (True, 225),
        (False, 525),
    )
    assert PLANS[Country.EU].dial.cadence_ms() == ()
    assert PLANS[Country.EU].dial.is_continuous


@pytest.mark.parametrize("country", list(Country))
def test_every_plan_has_every_tone_and_ring(country: Country) -> None:
    plan = PLANS[country]
    for kind in ToneKind:
        assert plan.tone(kind).segments
    periods = {plan.ring(kind).period_ms for kind in RingKind}
    # Internal, door and distinctive rings keep the national cycle length.
    assert periods == {plan.ring_normal.period_ms}
    assert len({plan.ring(kind) for kind in RingKind}) == len(RingKind), "patterns must differ"


def test_ring_cadence_first_ring_is_the_group_before_the_long_pause() -> None:
    assert PLANS[Country.UK].ring_normal.first_ring_ms() == (400, 200, 400)
    assert PLANS[Country.UK].ring_normal.first_pause_ms() == 2000
    assert PLANS[Country.US].ring_normal.first_ring_ms() == (2000,)
    with pytest.raises(ValueError):
        RingCadence((1000,))
