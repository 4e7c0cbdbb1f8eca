"""Line echo canceller against synthetic hybrid echo paths (see line_model.py), G.168-style.

ERLE here is echo power over what is left of it in the output (residual echo and µ-law noise;
the known near-end speech and line noise are subtracted), over frames where the far end speaks.
The µ-law codec alone caps it near 36 dB. Every talker, path and noise comes from outside the
canceller (espeak-ng, sox, circuit theory in line_model.py). Run with
`-o log_cli=true --log-cli-level=INFO` to see the measured figures.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from firmware.media.dsp.echo import EchoCanceller
from firmware.media.frame import SampleRate

from .line_model import (
    DBM0_RMS,
    FRAME,
    LONG_LOOP_ON_600,
    RESISTIVE_ON_TBR21_ISH,
    TBR21_ON_600,
    Run,
    Scenario,
    Signal,
    at_level,
    convergence_time_s,
    erle_db,
    hybrid_echo_path,
    level_dbm0,
    run_channels,
    seconds,
    sox_noise,
    to_int16,
)

log = logging.getLogger(__name__)

REQUIRED_ERLE_DB = 25.0


def _near_distortion_db(run: Run, start_s: float, stop_s: float) -> float:
    """Near-end speech over (output − near-end speech) while both talk: what got through cleanly."""
    a, b = seconds(start_s), seconds(stop_s)
    speech = run.near_speech[a:b]
    left = run.out[a:b] - speech - run.line_noise[a:b]
    return float(10 * np.log10(np.sum(speech**2) / np.sum(left**2)))


@pytest.fixture(scope="module")
def converged(speech: dict[str, Signal]) -> list[Run]:
    """Six channels of one canceller, each its own talker or noise, delay, ERL and line."""
    pink = sox_noise("pinknoise", 10.0, -18.0, seed=1)
    white = sox_noise("whitenoise", 10.0, -18.0, seed=2)
    scenarios = [
        Scenario(speech["en-us"], hybrid_echo_path(0.0, 6.0, TBR21_ON_600)),
        Scenario(speech["de"], hybrid_echo_path(5.0, 10.0, LONG_LOOP_ON_600)),
        Scenario(speech["fr"], hybrid_echo_path(12.0, 15.0, RESISTIVE_ON_TBR21_ISH)),
        Scenario(speech["es"], hybrid_echo_path(20.0, 20.0, TBR21_ON_600)),
        Scenario(white, hybrid_echo_path(8.0, 10.0, TBR21_ON_600)),
        Scenario(pink, hybrid_echo_path(16.0, 12.0, LONG_LOOP_ON_600)),
    ]
    return run_channels(scenarios, 10.0)


CHANNEL_NAMES = ["en 0ms 6dB", "de 5ms 10dB", "fr 12ms 15dB", "es 20ms 20dB", "white", "pink"]


@pytest.mark.parametrize("channel", range(6), ids=CHANNEL_NAMES)
def test_erle_exceeds_25_db_after_convergence(converged: list[Run], channel: int) -> None:
    run = converged[channel]
    measured = erle_db(run, 5.0, 10.0)
    log.info("%s: ERLE over 5-10 s %.1f dB", CHANNEL_NAMES[channel], measured)
    assert measured >= REQUIRED_ERLE_DB


@pytest.mark.parametrize("channel", range(6), ids=CHANNEL_NAMES)
def test_erle_estimate_tracks_measured_erle(converged: list[Run], channel: int) -> None:
    run = converged[channel]
    frames = slice(seconds(7.0) // FRAME, seconds(10.0) // FRAME)
    estimate = float(np.median(run.erle_estimates_db[frames]))
    # The canceller cannot tell line noise from residual echo: compare with it left in.
    assert estimate == pytest.approx(erle_db(run, 7.0, 10.0, with_noise=True), abs=3.0)


@pytest.mark.parametrize(
    ("channel", "limit_s"),
    [(0, 2.0), (1, 2.0), (2, 2.0), (3, 2.0), (4, 0.5), (5, 0.5)],
    ids=CHANNEL_NAMES,
)
def test_converges_to_20_db_quickly(converged: list[Run], channel: int, limit_s: float) -> None:
    took = convergence_time_s(converged[channel], 20.0)
    log.info("%s: 20 dB ERLE held from %.1f s", CHANNEL_NAMES[channel], took)
    assert took <= limit_s


def test_disabled_canceller_gives_no_erle_and_passes_bit_exact(speech: dict[str, Signal]) -> None:
    """The measurement can fail: with the canceller switched off ERLE is 0 dB."""
    ec = EchoCanceller(1)
    ec.set_enabled(0, False)
    assert not ec.is_enabled(0)
    (run,) = run_channels(
        [Scenario(speech["en-us"], hybrid_echo_path(5.0, 10.0))], 4.0, canceller=ec
    )
    assert np.array_equal(run.out, run.near)
    assert abs(erle_db(run, 2.0, 4.0)) < 1.0 < REQUIRED_ERLE_DB


def test_double_talk_does_not_diverge_and_near_speech_passes(speech: dict[str, Signal]) -> None:
    """G.168 test 3 in spirit: converge, talk both ways for 4 s, check the filter still holds.

    Channel 0: both talkers at −18 dBm0 (Geigel sees it). Channel 1: near end 10 dB quieter,
    as loud as the echo itself, which no level detector separates from echo. Channel 2: a 6 dB
    ERL hybrid, the worst G.168 allows. Channel 3: noise far end.
    """
    start, stop = 4.0, 8.0

    def near(voice: str, level: float) -> Signal:
        talk = np.zeros(seconds(stop))
        part = at_level(speech[voice][: seconds(stop - start)], level)
        talk[seconds(start) : seconds(start) + part.size] = part
        return talk

    scenarios = [
        Scenario(speech["en-us"], hybrid_echo_path(5.0, 10.0), near("de", -18.0)),
        Scenario(speech["fr"], hybrid_echo_path(10.0, 10.0, LONG_LOOP_ON_600), near("es", -28.0)),
        Scenario(speech["de"], hybrid_echo_path(2.0, 6.0), near("fr", -18.0)),
        Scenario(
            sox_noise("whitenoise", 12.0, -18.0, seed=3),
            hybrid_echo_path(15.0, 12.0),
            near("en-us", -18.0),
        ),
    ]
    runs = run_channels(scenarios, 11.0)
    for channel, run in enumerate(runs):
        before = erle_db(run, 2.5, start)
        during = erle_db(run, start, stop)
        after = erle_db(run, stop, 11.0)
        clean = _near_distortion_db(run, start, stop)
        log.info(
            "double talk ch%d: ERLE before %.1f, during %.1f, after %.1f dB; near speech / "
            "distortion %.1f dB",
            channel,
            before,
            during,
            after,
            clean,
        )
        assert after >= REQUIRED_ERLE_DB
        assert during >= 20.0
        assert clean >= 20.0


def test_echo_path_change_reconverges(speech: dict[str, Signal]) -> None:
    """The line changes at 5 s (another loop, another delay): ERLE is back within 2.5 s."""
    old = hybrid_echo_path(5.0, 10.0, TBR21_ON_600)
    new = hybrid_echo_path(14.0, 8.0, LONG_LOOP_ON_600)
    far = np.concatenate([speech["en-us"], speech["de"]])
    (run,) = run_channels([Scenario(far, old, path_after=new, change_at_s=5.0)], 11.0)
    assert erle_db(run, 3.0, 5.0) >= REQUIRED_ERLE_DB
    assert erle_db(run, 5.0, 5.5) < 10.0  # the change really happened
    after = erle_db(run, 7.5, 11.0)
    took = convergence_time_s(run, 20.0) - 5.0
    log.info("path change: 20 dB again after %.1f s, ERLE 2.5-6 s after %.1f dB", took, after)
    assert after >= REQUIRED_ERLE_DB
    assert took <= 2.5


def test_tones_do_not_make_the_filter_diverge(speech: dict[str, Signal]) -> None:
    """Narrowband far ends (a tone, a DTMF pair, the 2100 Hz answer tone) then speech."""
    t = np.arange(seconds(4.0)) / 8000
    tones = [
        np.sin(2 * np.pi * 1000 * t),
        np.sin(2 * np.pi * 770 * t) + np.sin(2 * np.pi * 1336 * t),
        np.sin(2 * np.pi * 2100 * t),
        np.sin(2 * np.pi * 400 * t),  # period divides the frame: every far frame the same
    ]
    scenarios = [
        Scenario(
            np.concatenate([at_level(tone, -10.0), speech["en-us"]]), hybrid_echo_path(6.0, 10.0)
        )
        for tone in tones
    ]
    runs = run_channels(scenarios, 11.0)
    for run in runs:
        # Never louder than the echo it should remove while the tone lasts.
        a, b = seconds(0.1), seconds(4.0)
        out = run.out[a:b].astype(np.float64).reshape(-1, FRAME)
        echo = run.echo[a:b].reshape(-1, FRAME)
        assert np.all(np.mean(out**2, axis=1) <= 1.26 * np.mean(echo**2, axis=1) + 100.0)
        assert erle_db(run, 2.0, 4.0) >= REQUIRED_ERLE_DB
        assert erle_db(run, 7.0, 11.0) >= REQUIRED_ERLE_DB


def test_reset_forgets_one_channel_only(speech: dict[str, Signal]) -> None:
    ec = EchoCanceller(2, nlp=False)
    paths = [hybrid_echo_path(5.0, 10.0), hybrid_echo_path(9.0, 12.0)]
    first = run_channels([Scenario(speech["en-us"], p) for p in paths], 5.0, canceller=ec)
    assert min(erle_db(r, 3.0, 5.0) for r in first) >= REQUIRED_ERLE_DB
    kept = ec.impulse_response(1)
    ec.reset(0)
    assert ec.erle_db()[0] == 0.0
    assert not ec.impulse_response(0).any()
    assert np.array_equal(ec.impulse_response(1), kept)
    # What channel 1 learnt is the true echo path, to 20 dB (both are echo / far-end ratios).
    misalignment = np.sum((kept - paths[1]) ** 2) / np.sum(paths[1] ** 2)
    assert 10 * np.log10(misalignment) <= -20.0
    again = run_channels([Scenario(speech["de"], p) for p in paths], 0.3, canceller=ec)
    assert np.abs(again[0].out[:FRAME].astype(np.int32) - again[0].near[:FRAME]).max() <= 1
    assert erle_db(again[1], 0.0, 0.3) >= REQUIRED_ERLE_DB


def test_nlp_leaves_comfort_noise_at_line_level(speech: dict[str, Signal]) -> None:
    """With the NLP on, far-end single talk leaves the line's own noise, not silence or echo."""
    far = np.concatenate([speech["en-us"], speech["de"]])
    scenario = Scenario(far, hybrid_echo_path(5.0, 10.0), line_noise_dbm0=-60.0)
    (with_nlp,) = run_channels([scenario], 9.0, nlp=True)
    (linear,) = run_channels([scenario], 9.0, nlp=False)
    a, b = seconds(4.0), seconds(9.0)
    far_frames = np.mean(with_nlp.far[a:b].reshape(-1, FRAME) ** 2, axis=1)
    talking = far_frames > (DBM0_RMS * 10 ** (-30 / 20)) ** 2
    out_nlp = with_nlp.out[a:b].astype(np.float64).reshape(-1, FRAME)[talking]
    out_linear = linear.out[a:b].astype(np.float64).reshape(-1, FRAME)[talking]
    nlp_level = level_dbm0(out_nlp)
    linear_level = level_dbm0(out_linear)
    log.info(
        "NLP: output in far-end speech %.1f dBm0 (linear only %.1f dBm0, line noise -60)",
        nlp_level,
        linear_level,
    )
    assert nlp_level == pytest.approx(-60.0, abs=4.0)
    assert erle_db(with_nlp, 4.0, 9.0, with_noise=True) >= erle_db(
        linear, 4.0, 9.0, with_noise=True
    )


def test_nlp_keeps_near_speech_in_double_talk(speech: dict[str, Signal]) -> None:
    talk = np.zeros(seconds(8.0))
    part = speech["de"][: seconds(4.0)]
    talk[seconds(4.0) : seconds(4.0) + part.size] = part
    (run,) = run_channels(
        [Scenario(speech["en-us"], hybrid_echo_path(5.0, 10.0), talk)], 8.0, nlp=True
    )
    clean = _near_distortion_db(run, 4.0, 8.0)
    log.info("NLP on, double talk: near speech / distortion %.1f dB", clean)
    assert clean >= 15.0


def test_wideband_white_noise_converges() -> None:
    rng = np.random.default_rng(7)
    far = to_int16(rng.normal(0, DBM0_RMS * 10 ** (-18 / 20), 16000 * 3))
    path = hybrid_echo_path(6.0, 10.0, taps=512, rate_hz=16000)
    near = to_int16(np.convolve(far.astype(np.float64), path)[: far.size])
    ec = EchoCanceller(1, rate=SampleRate.WIDEBAND, nlp=False)
    out = np.concatenate(
        [ec.process(far[i : i + 320], near[i : i + 320]) for i in range(0, far.size, 320)]
    )
    tail = slice(16000 * 2, None)
    echo_energy = np.sum(near[tail].astype(np.float64) ** 2)
    erle = 10 * np.log10(echo_energy / np.sum(out[tail].astype(np.float64) ** 2))
    assert erle >= REQUIRED_ERLE_DB


def test_single_channel_takes_one_dimensional_frames() -> None:
    ec = EchoCanceller(1)
    frame = np.zeros(160, np.int16)
    assert ec.process(frame, frame).shape == (160,)


@pytest.mark.parametrize("shape", [(2, 160), (1, 161), (80,)])
def test_wrong_frame_shape_is_refused(shape: tuple[int, ...]) -> None:
    ec = EchoCanceller(1)
    with pytest.raises(ValueError, match="expected frames"):
        ec.process(np.zeros(shape, np.int16), np.zeros(shape, np.int16))


@pytest.mark.parametrize(("channels", "tail_ms"), [(0, 32), (1, 0), (1, 200)])
def test_bad_configuration_is_refused(channels: int, tail_ms: int) -> None:
    with pytest.raises(ValueError):
        EchoCanceller(channels, tail_ms)
