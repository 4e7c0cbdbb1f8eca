"""The line wizard's pure part, with chosen event times and signals made independently of it:
caller-ID audio from the FXS transmission plans (`caller_id_plan`, the box's own sender built to
EN 300 659-1 / GR-30 timing), tones from hal's generator (the simulated exchange's), speech
from espeak-ng, and the echo path checked against the G.168 echo canceller's converged filter."""

from __future__ import annotations

import math
import shutil
import subprocess
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from firmware.config.schema import CallerIdMethod, DisconnectMethod
from firmware.linewizard.learner import (
    DBM0_PEAK,
    AlertToneDetector,
    CadencedToneTracker,
    CallRecord,
    DisconnectObserver,
    EchoEstimator,
    EchoMeasurement,
    EchoResult,
    IncomingCall,
    IncomingCallObservation,
    cadence_from_bursts,
    echo_test_signal,
    matching_cadences,
    measure_cadenced_tone,
    measure_steady_tone,
    periodic_frames,
    summarise,
)
from firmware.linewizard.profile import (
    load_profile,
    profile_from_data,
    profile_to_data,
)
from firmware.media.dsp.callerid import (
    CallerId,
    CallTime,
    CidSignalling,
    CidTiming,
    StepKind,
    caller_id_plan,
    dtmf_clip_audio,
    encode_mdmf,
    fsk_audio,
)
from firmware.media.dsp.echo import EchoCanceller
from firmware.media.dsp.fsk import FskStandard
from firmware.media.dsp.tones import RingCadence
from hal.events import FxoEvent, LoopCurrentChanged, PolarityReversed, RingDetected, RingEnded
from hal.tones import TONE_PLANS, Tone

Samples = npt.NDArray[np.int16]
CALLER = CallerId(number="4951234567", time=CallTime(3, 8, 10, 15))


def bursts(cadence: tuple[int, ...], count: int, first_ms: int | None = None,
           start: float = 100.0) -> list[tuple[float, float]]:
    out = []
    t = start
    for i in range(count):
        on = cadence[(2 * i) % len(cadence)] / 1000
        off = cadence[(2 * i + 1) % len(cadence)] / 1000
        if i == 0 and first_ms is not None:
            on = first_ms / 1000
        out.append((t, t + on))
        t += on + off
    return out


def frames(samples: Samples) -> list[Samples]:
    padded = np.concatenate((samples, np.zeros(-samples.size % 160, np.int16)))
    return list(padded.reshape(-1, 160))


def tone(t: Tone, seconds: float, loss_db: float = 0.0) -> Samples:
    out = np.concatenate([t.frame(i * 160) for i in range(round(seconds * 50))])
    return np.rint(out * 10 ** (-loss_db / 20)).astype(np.int16)


# --- ring cadence ------------------------------------------------------------------------------


def test_cadence_is_known_after_the_third_russian_burst() -> None:
    ring = bursts((1000, 4000), 3)
    assert cadence_from_bursts(ring[:2]) is None
    assert cadence_from_bursts(ring) == (1000, 4000)


def test_double_ring_cadence_ignores_a_short_first_burst_and_ends_with_the_long_pause() -> None:
    ring = bursts((400, 200, 400, 2000), 5, first_ms=180)
    assert cadence_from_bursts(ring[:4]) is None
    assert cadence_from_bursts(ring) == (400, 200, 400, 2000)
    assert matching_cadences((400, 200, 400, 2000)) == ("uk",)


def test_rp_as_alert_before_ringing_does_not_break_the_cadence() -> None:
    # A 250 ms alert, 1.9 s of data and pause, then 1/4 s ringing.
    ring = [(100.0, 100.25)] + bursts((1000, 4000), 4, start=102.15)
    assert cadence_from_bursts(ring) == (1000, 4000)


def test_irregular_ringing_has_no_cadence() -> None:
    times = [0.0, 1.0, 3.0, 3.5, 9.0, 10.4, 12.0, 13.0, 20.0, 20.2, 22.0, 24.0]
    ring = list(zip(times[::2], times[1::2], strict=True))
    assert cadence_from_bursts(ring) is None


def test_cadence_within_tolerance_matches_the_country() -> None:
    assert matching_cadences((800, 3200)) == ("ru", "de")  # some Russian exchanges: ±20 %
    assert matching_cadences((1500, 3500)) == ("fr",)
    assert matching_cadences((600, 4000)) == ()


# --- caller ID ---------------------------------------------------------------------------------


def observe_plan(signalling: CidSignalling, timing: CidTiming) -> IncomingCallObservation:
    """Play an FXS caller-ID plan (then ringing 1/4 s) into the observer, events included."""
    ring = RingCadence((1000, 4000))
    steps = caller_id_plan(CALLER, signalling, timing, ring)
    call = IncomingCall()
    t = 50.0
    audio: list[Samples] = []
    events: list[FxoEvent] = []
    number = 0

    def ringing(on_ms: int, off_ms: int) -> None:
        nonlocal t, number
        number += 1
        events.append(RingDetected("fxo1", t, number, (), None))
        events.append(RingEnded("fxo1", t + on_ms / 1000, number, on_ms))
        audio.append(np.zeros(8 * (on_ms + off_ms), np.int16))
        t += (on_ms + off_ms) / 1000

    audio.append(np.zeros(800, np.int16))
    t += 0.1
    for step in steps:
        if step.kind is StepKind.POLARITY_REVERSAL:
            events.append(PolarityReversed("fxo1", t, True))
        elif step.kind is StepKind.RING:
            ringing(step.duration_ms, 0)
        else:
            part = (step.audio if step.audio is not None
                    else np.zeros(8 * step.duration_ms, np.int16))
            audio.append(part)
            t += part.size / 8000
    for _ in range(3):
        ringing(1000, 4000)
    stream = np.concatenate(audio)
    start = 50.0
    pending = sorted(events, key=lambda e: e.at)
    for i, frame in enumerate(frames(stream)):
        at = start + (i + 1) * 0.02
        while pending and pending[0].at <= at:
            call.event(pending.pop(0))
        call.frame(frame, at)
    return call.result()


@pytest.mark.parametrize("timing", list(CidTiming))
@pytest.mark.parametrize("signalling", list(CidSignalling))
def test_every_signalling_and_timing_of_the_standards_is_told_apart(
        signalling: CidSignalling, timing: CidTiming) -> None:
    seen = observe_plan(signalling, timing)
    assert (seen.signalling, seen.timing) == (signalling, timing)
    assert seen.caller is not None and seen.caller.number == CALLER.number


def test_alert_tone_detector_finds_dt_as_and_ignores_dtmf_and_single_tones() -> None:
    from firmware.media.dsp.callerid import DT_AS_HZ, DT_AS_LEVEL_DBM0
    from firmware.media.dsp.tones import dual_tone

    silence = np.zeros(1000, np.int16)
    dt_as = dual_tone(DT_AS_HZ, 100, DT_AS_LEVEL_DBM0)
    (start,) = AlertToneDetector().process(np.concatenate((silence, dt_as, silence)))
    assert abs(start - silence.size) < 160  # to the 20 ms block
    single = dual_tone((2130.0,), 300, -10.0)
    dtmf = dtmf_clip_audio("A123C")
    assert AlertToneDetector().process(np.concatenate((single, dtmf))) == []


def test_corrupted_caller_id_is_counted_not_taken() -> None:
    message = bytearray(encode_mdmf(CALLER))
    message[8] ^= 0x04  # one digit of the number changes; the checksum no longer fits
    bad = fsk_audio(bytes(message), FskStandard.V23)
    call = IncomingCall()
    for i, frame in enumerate(frames(np.concatenate((np.zeros(800, np.int16), bad)))):
        call.frame(frame, 10.0 + (i + 1) * 0.02)
    seen = call.result()
    assert seen.signalling is None and seen.rejected_frames == 1


# --- tones and disconnect -------------------------------------------------------------------------


@pytest.mark.parametrize(("plan", "hz", "cadence"), [
    ("ru", (425.0,), (350, 350)), ("eu", (425.0,), (500, 500)),
    ("us", (480.0, 620.0), (500, 500))])
def test_busy_tone_is_measured_from_the_exchanges_generator(
        plan: str, hz: tuple[float, ...], cadence: tuple[int, int]) -> None:
    audio = tone(TONE_PLANS[plan].busy, 4.0, loss_db=7.0)[1200:]  # starts mid-burst
    busy = measure_cadenced_tone(audio)
    assert busy is not None
    assert busy.frequencies_hz == hz
    assert busy.cadence_ms == cadence
    assert busy.level_dbm0 == pytest.approx(-17.0, abs=0.3)


def test_steady_tone_frequencies_and_level() -> None:
    dial = measure_steady_tone(tone(Tone((350, 440), level_dbm0=-13.0), 1.0))
    assert dial is not None
    assert dial.frequencies_hz == pytest.approx((350.0, 440.0), abs=0.5)
    assert dial.level_dbm0 == pytest.approx(-13.0, abs=0.2)
    assert measure_steady_tone(np.zeros(8000, np.int16)) is None
    noise = np.random.default_rng(1).normal(0, 3000, 8000).astype(np.int16)
    assert measure_steady_tone(noise) is None


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Samples:
    """Sustained-vowel speech (the most tone-like espeak-ng makes), 8 kHz via sox."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are needed for speech")
    base = tmp_path_factory.mktemp("speech")
    raw, narrow = base / "raw.wav", base / "8k.wav"
    text = "Oooh, I see. Yes, yes, yes. Mmmm. Well, no. Aaaaah, hello? Hello? Okay, bye bye."
    subprocess.run(["espeak-ng", "-v", "en+f3", "-w", str(raw), text], check=True, timeout=30)
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(narrow)],
                   check=True, timeout=30)
    with wave.open(str(narrow)) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    scale = DBM0_PEAK * 10 ** (-12 / 20) / float(np.abs(samples).max())  # peaks at −12 dBm0
    out: Samples = np.rint(samples * scale).astype(np.int16)
    return out


def test_speech_is_not_a_busy_tone(speech: Samples) -> None:
    tracker = CadencedToneTracker()
    assert not any(tracker.process(f) for f in frames(np.tile(speech, 2)))


def feed(observer: DisconnectObserver, audio: Samples, start: float,
         events: Sequence[PolarityReversed | LoopCurrentChanged] = ()) -> float:
    pending = sorted(events, key=lambda e: e.at)
    at = start
    for i, frame in enumerate(frames(audio)):
        at = start + (i + 1) * 0.02
        while pending and pending[0].at <= at:
            observer.event(pending.pop(0))
        observer.frame(frame, at)
        if observer.done(at):
            break
    return at


def test_busy_tone_after_goodbye_speech_is_found_from_its_onset(speech: Samples) -> None:
    observer = DisconnectObserver()
    observer.prompted(100.0)
    busy = tone(TONE_PLANS["ru"].busy, 6.0)
    audio = np.concatenate((speech, busy))
    end = feed(observer, audio, 100.0)
    seen = observer.result()
    assert observer.done(end)
    assert seen.first is DisconnectMethod.BUSY_TONE and seen.signals == (seen.first,)
    assert seen.busy_tone is not None and seen.busy_tone.cadence_ms == (350, 350)
    # Two full cycles, as progress.py confirms; ± a 20 ms block.
    assert seen.detect_ms is not None and abs(seen.detect_ms - 1400) <= 40
    assert not seen.before_prompt


def test_polarity_reversal_before_busy_tone_wins_and_both_are_recorded() -> None:
    observer = DisconnectObserver()
    observer.prompted(10.0)
    quiet = np.zeros(8 * 2000, np.int16)
    audio = np.concatenate((quiet, tone(TONE_PLANS["eu"].busy, 6.0)))
    feed(observer, audio, 10.0, [PolarityReversed("fxo1", 12.0, True)])
    seen = observer.result()
    assert seen.first is DisconnectMethod.POLARITY_REVERSAL and seen.detect_ms == 0
    assert seen.signals == (DisconnectMethod.POLARITY_REVERSAL, DisconnectMethod.BUSY_TONE)
    assert seen.busy_tone is not None and seen.busy_tone.frequencies_hz == (425.0,)
    assert set(seen.plans_matching) == {"eu", "de"}  # DE busy is 480/480, within ±25 %


def test_loop_current_drop_and_its_length() -> None:
    observer = DisconnectObserver()
    observer.prompted(0.0)
    drops = [LoopCurrentChanged("fxo1", 1.0, 0.0), LoopCurrentChanged("fxo1", 1.35, 28.0)]
    feed(observer, np.zeros(8 * 8000, np.int16), 0.0, drops)
    seen = observer.result()
    assert (seen.first, seen.detect_ms, seen.loop_drop_ms) == (
        DisconnectMethod.LOOP_CURRENT_DROP, 0, 350)


def test_nothing_within_the_time_limit_is_no_disconnect_signal() -> None:
    observer = DisconnectObserver(timeout_s=5.0)
    observer.prompted(0.0)
    end = feed(observer, np.zeros(8 * 7000, np.int16), 0.0)
    assert end == pytest.approx(5.0)
    assert observer.result().first is DisconnectMethod.NONE


# --- echo --------------------------------------------------------------------------------------


def band_erl_db(h: npt.NDArray[np.float64]) -> float:
    freqs = np.fft.rfftfreq(4096, 1 / 8000)
    band = (freqs >= 300) & (freqs <= 3400)
    return -10 * math.log10(float(np.mean(np.abs(np.fft.rfft(h, 4096)[band]) ** 2)))


def dispersive_path(erl_db: float, delay: int, seed: int = 4) -> npt.NDArray[np.float64]:
    """A G.168-like hybrid: bulk delay, then a decaying random 8 ms response."""
    rng = np.random.default_rng(seed)
    h = np.zeros(delay + 64)
    h[delay:] = rng.normal(0, 1, 64) * np.exp(-np.arange(64) / 12)
    return h * 10 ** ((band_erl_db(h) - erl_db) / 20)


def run_echo(h: npt.NDArray[np.float64], noise_dbm0: float, periods: int = 2,
             seed: int = 5) -> tuple[EchoMeasurement | None, list[Samples], list[Samples]]:
    period = echo_test_signal()
    ticks = -(-(periods + 1) * period.size // 160)
    played = periodic_frames(period, ticks)
    x = np.concatenate(played).astype(np.float64)
    rms = DBM0_PEAK / math.sqrt(2) * 10 ** (noise_dbm0 / 20)
    y = np.convolve(x, h)[: x.size] + np.random.default_rng(seed).normal(0, rms, x.size)
    captured = frames(np.clip(np.rint(y), -32768, 32767).astype(np.int16))
    estimator = EchoEstimator(period)
    for frame in captured:
        estimator.add(frame)
    return estimator.result(), played, captured


@pytest.mark.parametrize(("erl_db", "delay", "noise_dbm0"), [
    (6.0, 0, -60.0), (12.0, 40, -60.0), (20.0, 300, -60.0), (35.0, 16, -60.0),
    (28.0, 16, -38.0),  # line noise louder than the echo: it must be taken off
])
def test_echo_return_loss_of_a_dispersive_hybrid(erl_db: float, delay: int,
                                                 noise_dbm0: float) -> None:
    h = dispersive_path(erl_db, delay)
    measured, _, _ = run_echo(h, noise_dbm0=noise_dbm0, periods=4)
    assert measured is not None
    assert measured.erl_db == pytest.approx(erl_db, abs=0.3)
    assert abs(measured.delay_samples - int(np.argmax(np.abs(h)))) <= 1


def test_echo_path_agrees_with_the_echo_cancellers_converged_filter() -> None:
    """The G.168 canceller (firmware/media/dsp/echo.py) learns the same path from the same
    signals; its filter's ERL must agree with the wizard's figure."""
    h = dispersive_path(14.0, 24, seed=9)
    measured, played, captured = run_echo(h, noise_dbm0=-60.0, periods=25)
    assert measured is not None
    canceller = EchoCanceller(1)
    for far, near in zip(played, captured, strict=True):
        canceller.process(far, near)
    learnt = canceller.impulse_response(0)
    assert float(canceller.erle_db()[0]) > 20.0  # it converged
    assert band_erl_db(learnt) == pytest.approx(measured.erl_db, abs=0.5)


def test_echo_below_the_line_noise_is_reported_at_the_measurements_limit() -> None:
    measured, _, _ = run_echo(np.zeros(8), noise_dbm0=-50.0)
    assert measured is not None
    assert measured.erl_db == measured.limit_db
    assert 30.0 <= measured.limit_db <= 45.0


def test_too_short_an_echo_run_gives_no_figure() -> None:
    period = echo_test_signal()
    estimator = EchoEstimator(period)
    for frame in periodic_frames(period, 10):  # 1600 samples: not two periods
        estimator.add(frame)
    assert estimator.result() is None


# --- summary and file -----------------------------------------------------------------------------


def observation(signalling: CidSignalling | None, timing: CidTiming | None,
                cadence: tuple[int, ...] | None = (1000, 4000)) -> IncomingCallObservation:
    caller = CALLER if signalling else None
    return IncomingCallObservation(5, cadence, 1000, signalling, timing, caller, 0, False)


def test_summary_takes_the_majority_and_says_where_calls_disagreed() -> None:
    calls = [
        CallRecord(observation(CidSignalling.V23, CidTiming.BEFORE_RING_DT_AS), True),
        CallRecord(observation(CidSignalling.V23, CidTiming.BEFORE_RING_DT_AS), True),
        CallRecord(observation(CidSignalling.DTMF, CidTiming.BEFORE_RING_REVERSAL,
                               cadence=(1200, 3800)), True),
    ]
    echo = EchoResult((("r600", EchoMeasurement(11.0, 8, 50.0)),
                       ("ctr21", EchoMeasurement(24.5, 8, 50.0))), adjustable=True)
    profile = summarise("fxo2", calls, echo, None, expected_number="8 (495) 123-45-67")
    s = profile.settings
    assert (s.caller_id, s.caller_id_timing) == (CallerIdMethod.V23, CidTiming.BEFORE_RING_DT_AS)
    assert s.ring_cadence_ms == (1000, 4000) and profile.ring.calls_agreeing == 3
    assert s.ac_termination == "ctr21" and s.tx_gain_db == 0.0
    assert profile.caller_id.number_matches is True
    assert "caller ID came as v23 in 2 of 3 decoded calls" in profile.notes
    assert "no test call was answered" not in " ".join(profile.notes)
    assert s.disconnect is DisconnectMethod.NONE  # no disconnect was observed


def test_summary_lowers_the_transmit_gain_on_a_poor_hybrid_and_notes_unreadable_caller_id() -> None:
    bad = IncomingCallObservation(4, (1000, 4000), 1000, None, None, None, 3, False)
    echo = EchoResult((("current", EchoMeasurement(2.5, 8, 50.0)),), adjustable=False)
    profile = summarise("fxo1", [CallRecord(bad, False)], echo, None)
    assert profile.settings.tx_gain_db == -3.5
    assert profile.settings.ac_termination is None
    assert profile.settings.caller_id is CallerIdMethod.NONE
    assert any("unreadable" in n for n in profile.notes)
    assert any("no test call was answered" in n for n in profile.notes)


def test_profile_data_errors_name_the_key(tmp_path: Path) -> None:
    profile = summarise("fxo1", [CallRecord(observation(CidSignalling.BELL_202,
                                                        CidTiming.AFTER_FIRST_RING), True)],
                        None, None)
    data = profile_to_data(profile)
    assert profile_from_data(data) == profile
    data["settings"]["caller_id"] = "fsk"
    with pytest.raises(ValueError, match=r"^settings\.caller_id: 'fsk' is not one of none, "):
        profile_from_data(data)
    data["settings"]["caller_id"] = "v23"
    data["settings"]["ring_cadence"] = [1, 2]
    with pytest.raises(ValueError, match=r"^settings\.ring_cadence: unknown key$"):
        profile_from_data(data)
    del data["settings"]["ring_cadence"]
    data["ring"]["calls"] = "two"
    with pytest.raises(ValueError, match=r"^ring\.calls: must be int$"):
        profile_from_data(data)
    path = tmp_path / "fxo1.yaml"
    path.write_text("port: [unclosed\n")
    with pytest.raises(ValueError, match="not YAML"):
        load_profile(path)
