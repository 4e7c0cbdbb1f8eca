"""Conference mixer: who hears whom (FFT with one frequency per party), gain, talkers, limits."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from firmware.media.dsp.conference import (
    ConferenceMixer,
    ConferenceSettings,
    PartyMode,
    TalkingChanged,
)

RATE = 8000
N = 160
TICK_S = 0.02


def amplitude(level_dbm0: float) -> float:
    # G.711: a full-scale sine is +3.17 dBm0 (independent of the module's own helper).
    return 32767.0 * 10.0 ** ((level_dbm0 - 3.17) / 20.0)


def tone(
    freq_hz: float, level_dbm0: float, ticks: int, phase: float = 0.0
) -> npt.NDArray[np.int16]:
    t = np.arange(ticks * N) / RATE
    return np.rint(amplitude(level_dbm0) * np.sin(2 * np.pi * freq_hz * t + phase)).astype(np.int16)


def rms_dbm0(x: npt.NDArray[np.int16]) -> float:
    ms = float(np.mean(x.astype(np.float64) ** 2))
    return 10 * np.log10(ms / (amplitude(0.0) ** 2 / 2) + 1e-20)


def run(
    mixer: ConferenceMixer, signals: npt.NDArray[np.int16], start_tick: int = 0
) -> npt.NDArray[np.int16]:
    """Feed (P, ticks*N) through the mixer tick by tick; return (P, ticks*N) of what each heard."""
    ticks = signals.shape[1] // N
    out = [
        mixer.mix(np.ascontiguousarray(signals[:, k * N : (k + 1) * N]), (start_tick + k) * TICK_S)
        for k in range(ticks)
    ]
    return np.concatenate(out, axis=1)


def band_db(x: npt.NDArray[np.int16], freq_hz: float) -> float:
    """Level (dB, arbitrary reference) of the spectrum at `freq_hz` (Hann window, ±1 bin)."""
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    k = int(round(freq_hz * len(x) / RATE))
    return float(20 * np.log10(spectrum[k - 1 : k + 2].max() + 1e-9))


# Not on a common grid: rounding error of a periodic mix would land exactly on the tones.
FREQS = [413.0 + 211.0 * i for i in range(10)]


def test_each_of_ten_parties_hears_every_other_tone_but_not_its_own() -> None:
    # Gain capped at 0 dB: nine −25 dBm0 tones then peak below the limiter knee, so the limiter
    # adds no intermodulation that could land on a party's own frequency.
    mixer = ConferenceMixer(ConferenceSettings(max_talkers=None, agc_max_gain_db=0.0))
    for i in range(10):
        mixer.join(f"p{i}")
    signals = np.stack([tone(f, -25.0, 60) for f in FREQS])
    heard = run(mixer, signals)[:, 20 * N :]  # after the join fade and AGC start
    for i in range(10):
        levels = [band_db(heard[i], f) for f in FREQS]
        others = [lv for j, lv in enumerate(levels) if j != i]
        assert min(others) > max(others) - 3.0, f"party {i}: others unequal {levels}"
        assert levels[i] < min(others) - 80.0, f"party {i} hears itself: {levels}"
    assert mixer.talking == frozenset(f"p{i}" for i in range(10))


def test_only_the_three_loudest_talkers_are_mixed() -> None:
    mixer = ConferenceMixer(ConferenceSettings(max_talkers=3))
    levels = [-12.0, -27.0, -15.0, -24.0, -18.0]  # loudest: p0, p2, p4
    for i in range(6):
        mixer.join(f"p{i}")
    signals = np.stack([tone(FREQS[i], lv, 10) for i, lv in enumerate(levels)] + [tone(0, -90, 10)])
    heard = run(mixer, signals)[5, 2 * N :]  # p5 is silent and listens
    assert mixer.mixed == {"p0", "p2", "p4"}
    assert mixer.talking == {"p0", "p1", "p2", "p3", "p4"}
    mixed = [band_db(heard, FREQS[i]) for i in (0, 2, 4)]
    dropped = [band_db(heard, FREQS[i]) for i in (1, 3)]
    assert max(dropped) < min(mixed) - 40.0


def test_a_new_louder_talker_displaces_the_quietest_of_the_mix() -> None:
    mixer = ConferenceMixer(ConferenceSettings(max_talkers=2))
    for i in range(4):
        mixer.join(i)
    quiet = np.zeros((4, 10 * N), dtype=np.int16)
    quiet[0], quiet[1] = tone(FREQS[0], -15, 10), tone(FREQS[1], -20, 10)
    run(mixer, quiet)
    assert mixer.mixed == {0, 1}
    loud = quiet.copy()
    loud[2] = tone(FREQS[2], -10, 10)
    run(mixer, loud, start_tick=10)
    assert mixer.mixed == {0, 2}


def test_two_similar_talkers_do_not_flap_in_and_out_of_the_mix() -> None:
    mixer = ConferenceMixer(ConferenceSettings(max_talkers=1, selection_hysteresis_db=3.0))
    mixer.join("a")
    mixer.join("b")
    chosen = []
    for k in range(30):  # a and b take turns being 1 dB louder
        louder, softer = (-19.0, -20.0) if k % 2 else (-20.0, -19.0)
        frames = np.stack([tone(500, louder, 1), tone(900, softer, 1)])
        mixer.mix(frames, k * TICK_S)
        chosen.append(mixer.mixed)
    assert all(c == chosen[0] for c in chosen)


def test_talker_detection_holds_over_and_reports_changes() -> None:
    mixer = ConferenceMixer(ConferenceSettings(hangover_ms=300))
    mixer.join("a")
    mixer.join("noisy")
    rng = np.random.default_rng(7)
    ticks = 50
    signals = np.zeros((2, ticks * N), dtype=np.int16)
    signals[0, : 10 * N] = tone(1000, -20, 10)  # talks for ticks 0-9
    signals[1] = np.rint(rng.normal(0, amplitude(-60) / np.sqrt(2), ticks * N)).astype(np.int16)
    talking_a = []
    for k in range(ticks):
        mixer.mix(np.ascontiguousarray(signals[:, k * N : (k + 1) * N]), k * TICK_S)
        talking_a.append("a" in mixer.talking)
        assert "noisy" not in mixer.talking
    # Loud for ticks 0-9, then held for 300 ms = 15 more ticks.
    assert talking_a[:25] == [True] * 25
    assert talking_a[25:] == [False] * (ticks - 25)
    assert mixer.events() == [
        TalkingChanged("a", True, 0.0),
        TalkingChanged("a", False, pytest.approx(25 * TICK_S)),
    ]
    assert mixer.events() == []


def test_agc_brings_a_quiet_talker_to_the_target_level() -> None:
    mixer = ConferenceMixer(ConferenceSettings(target_level_dbm0=-20.0, max_talkers=None))
    mixer.join("quiet")
    mixer.join("listener")
    ticks = 300  # 6 s: 10 dB at ≤ 3 dB/s plus the level estimate settling
    signals = np.stack([tone(700, -30.0, ticks), np.zeros(ticks * N, dtype=np.int16)])
    heard = run(mixer, signals)
    assert mixer.gain_db("quiet") == pytest.approx(10.0, abs=0.3)
    assert rms_dbm0(heard[1, -50 * N :]) == pytest.approx(-20.0, abs=0.5)
    # Slow: one second in, the gain has risen by no more than 3 dB/s allows.
    first_second = rms_dbm0(heard[1, 40 * N : 50 * N])
    assert first_second < -30.0 + 3.0 + 0.3


def test_agc_gain_stays_within_its_bounds() -> None:
    settings = ConferenceSettings(
        agc_max_gain_db=12.0, agc_min_gain_db=-12.0, agc_fall_db_per_s=50.0, agc_rise_db_per_s=20.0
    )
    mixer = ConferenceMixer(settings)
    mixer.join("whisper")
    mixer.join("shout")
    ticks = 150
    signals = np.stack([tone(500, -38.0, ticks), tone(900, 0.0, ticks)])
    run(mixer, signals)
    assert mixer.gain_db("whisper") == pytest.approx(12.0)  # would need +18
    assert mixer.gain_db("shout") == pytest.approx(-12.0)  # would need −20


def test_agc_does_not_pump_up_silence_between_words() -> None:
    mixer = ConferenceMixer()
    mixer.join("a")
    mixer.join("b")
    signals = np.zeros((2, 20 * N), dtype=np.int16)
    signals[0] = tone(600, -30, 20)
    run(mixer, signals)
    gain_after_speech = mixer.gain_db("a")
    run(mixer, np.zeros((2, 200 * N), dtype=np.int16), start_tick=20)
    assert mixer.gain_db("a") == gain_after_speech


def test_overload_is_soft_limited_never_wrapped() -> None:
    # Gain pinned at 0 dB so the limiter alone shapes the output.
    settings = ConferenceSettings(max_talkers=None, agc_min_gain_db=0.0, agc_max_gain_db=0.0)
    mixer = ConferenceMixer(settings)
    for i in range(4):
        mixer.join(i)
    ticks = 20
    loud = tone(300, 3.0, ticks)  # full-scale sine from three parties in phase
    signals = np.stack([loud, loud, loud, np.zeros_like(loud)])
    heard = run(mixer, signals)[3, N:]  # after the join fade-in
    ideal = 3.0 * loud[N:].astype(np.float64)
    big = np.abs(ideal) > 2000
    assert np.all(np.sign(heard[big]) == np.sign(ideal[big])), "wrapped around"
    assert np.abs(heard.astype(np.int32)).max() <= 32767
    assert np.abs(heard.astype(np.int32)).max() > 30000  # limited, not just attenuated
    # Compression is monotonic in the input (no fold-back) and linear below the knee.
    order = np.argsort(ideal, kind="stable")
    assert np.all(np.diff(heard[order].astype(np.int32)) >= 0)
    small = np.abs(ideal) < 16000
    np.testing.assert_allclose(heard[small], ideal[small], atol=1.0)


def test_quiet_mix_passes_unaltered() -> None:
    mixer = ConferenceMixer(ConferenceSettings(max_talkers=None))
    mixer.join("a")
    mixer.join("b")
    a = tone(440, -20, 3)
    heard = run(mixer, np.stack([a, np.zeros_like(a)]))[1]
    # The first tick fades in; afterwards b hears a exactly (gain 0 dB ± slew).
    np.testing.assert_allclose(heard[2 * N :], a[2 * N :], atol=0.02 * amplitude(-20))


def test_muted_and_listen_only_parties_hear_but_are_not_heard() -> None:
    mixer = ConferenceMixer(ConferenceSettings(max_talkers=None))
    mixer.join("talker")
    mixer.join("muted", PartyMode.MUTED)
    mixer.join("listener", PartyMode.LISTEN_ONLY)
    ticks = 30
    signals = np.stack(
        [tone(FREQS[0], -20, ticks), tone(FREQS[1], -20, ticks), tone(FREQS[2], -20, ticks)]
    )
    heard = run(mixer, signals)[:, 5 * N :]
    talker, muted, listener = heard
    assert band_db(talker, FREQS[1]) < band_db(muted, FREQS[0]) - 50
    assert band_db(talker, FREQS[2]) < band_db(muted, FREQS[0]) - 50
    assert band_db(muted, FREQS[0]) > 100 and band_db(listener, FREQS[0]) > 100
    assert "muted" in mixer.talking  # "talking while muted" for the web page
    assert mixer.mixed == {"talker"}
    mixer.set_mode("muted", PartyMode.TALK)
    heard = run(mixer, signals, start_tick=ticks)[:, 5 * N :]
    assert band_db(heard[0], FREQS[1]) > band_db(heard[0], FREQS[2]) + 50


def test_join_and_leave_resize_the_arrays() -> None:
    mixer = ConferenceMixer(ConferenceSettings(max_talkers=None))
    for name in ("a", "b", "c"):
        mixer.join(name)
    signals = np.stack([tone(FREQS[i], -20, 10) for i in range(3)])
    run(mixer, signals)
    mixer.leave("b")
    assert mixer.parties == ("a", "c") and mixer.row("c") == 1
    heard = run(mixer, signals[[0, 2]], start_tick=10)
    assert heard.shape == (2, 10 * N)
    assert band_db(heard[0], FREQS[1]) < band_db(heard[0], FREQS[2]) - 50
    assert band_db(heard[0], FREQS[2]) > 100
    mixer.join("d")
    assert mixer.row("d") == 2
    with pytest.raises(ValueError):
        mixer.join("a")
    with pytest.raises(KeyError):
        mixer.leave("b")


def test_rejects_frames_of_the_wrong_shape_or_type() -> None:
    mixer = ConferenceMixer()
    mixer.join("a")
    mixer.join("b")
    with pytest.raises(ValueError):
        mixer.mix(np.zeros((3, N), dtype=np.int16), 0.0)
    with pytest.raises(ValueError):
        mixer.mix(np.zeros((2, N), dtype=np.float32), 0.0)  # type: ignore[arg-type]
