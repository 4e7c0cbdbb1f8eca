"""Two-out-of-six MF receiver and generator, and the 500 Hz AON request detector."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from firmware.media.dsp.mf import (
    MF_HZ,
    PAIRS,
    MfDetected,
    MfEnded,
    MfReceiver,
    MfSignal,
    RequestToneDetector,
    RequestToneEnded,
    RequestToneStarted,
    mf_sequence,
    request_tone,
)

from .conftest import add_noise

ALL = list(MfSignal)


def _signals(x: np.ndarray, frame: int = 160) -> list[str]:
    receiver = MfReceiver()
    events = []
    for i in range(0, len(x), frame):
        events += receiver.process(x[i : i + frame])
    events += receiver.process(np.zeros(400, np.int16))
    return [str(e.signal) for e in events if isinstance(e, MfDetected)]


def test_pairs_are_the_r1_code() -> None:
    # R1 is a weighted two-out-of-five code: 700, 900, 1100, 1300, 1500 Hz weigh 0, 1, 2, 4, 7
    # and a digit is the sum of its two weights, 0 being 4 + 7 = 11; 1700 Hz marks controls.
    weight = {700.0: 0, 900.0: 1, 1100.0: 2, 1300.0: 4, 1500.0: 7}
    for sig, (lo, hi) in PAIRS.items():
        if sig.value.isdigit():
            total = weight[MF_HZ[lo]] + weight[MF_HZ[hi]]
            assert total == (11 if sig.value == "0" else int(sig.value))
        else:
            assert MF_HZ[hi] == 1700.0
    assert (MF_HZ[PAIRS[MfSignal.KP][0]], MF_HZ[PAIRS[MfSignal.ST2P][0]]) == (1100.0, 1300.0)


def test_generator_keys_the_two_tones_of_each_signal() -> None:
    for sig in ALL:
        x = mf_sequence([sig], signal_ms=1000).astype(np.float64)
        peaks = sorted(int(i) for i in np.argsort(np.abs(np.fft.rfft(x)))[-2:])
        assert peaks == [int(MF_HZ[i]) for i in PAIRS[sig]]


def test_every_signal_back_to_back_at_40_ms_is_received_in_order() -> None:
    rng = np.random.default_rng(1)
    for _ in range(4):
        order = [ALL[i] for i in rng.permutation(len(ALL))]
        # equal neighbours cannot be told apart without a pause: the AON repeat rule
        seq = [s for i, s in enumerate(order) if i == 0 or s != order[i - 1]]
        x = np.concatenate((np.zeros(int(rng.integers(0, 40)), np.int16), mf_sequence(seq)))
        assert _signals(x) == [str(s) for s in seq]


def test_signals_with_pauses_repeat_the_same_signal() -> None:
    x = mf_sequence(["KP", "5", "5", "5", "ST"], signal_ms=68, gap_ms=68)  # R1 timing
    assert _signals(x) == ["KP", "5", "5", "5", "ST"]


def test_received_over_the_500_hz_request_and_noise() -> None:
    rng = np.random.default_rng(2)
    seq = ["KP", "1", "2", "ST2P", "3", "0", "KP"]
    mf = mf_sequence(seq, level_dbm0=-12.0)
    request = request_tone(len(mf) / 8, level_dbm0=-6.0)[: len(mf)]  # louder than the MF
    x = add_noise((mf.astype(np.int32) + request).astype(np.int16), 15.0, rng, ref=mf)
    assert _signals(x) == seq


def test_signal_durations_are_measured() -> None:
    receiver = MfReceiver()
    x = np.concatenate((mf_sequence(["KP", "7"], signal_ms=100), np.zeros(400, np.int16)))
    ends = [e for e in receiver.process(x) if isinstance(e, MfEnded)]
    assert [str(e.signal) for e in ends] == ["KP", "7"]
    assert all(abs(e.duration_ms - 100) <= 6 for e in ends)


def test_a_tone_off_by_5_percent_is_not_a_signal() -> None:
    t = np.arange(800) / 8000
    a = 22776 * 10 ** (-10 / 20)
    x = (a * np.sin(2 * np.pi * 700 * 1.05 * t) + a * np.sin(2 * np.pi * 900 * t)).astype(np.int16)
    assert _signals(x) == []


def test_sox_made_pairs_are_received() -> None:
    if shutil.which("sox") is None:
        pytest.skip("sox not installed")
    raw = b""
    for sig in ("KP", "4", "9", "ST"):
        lo, hi = (MF_HZ[i] for i in PAIRS[MfSignal(sig)])
        raw += subprocess.run(
            [
                "sox",
                "-D",
                "-n",
                "-r",
                "8000",
                "-b",
                "16",
                "-e",
                "signed-integer",
                "-c",
                "1",
                "-t",
                "raw",
                "-",
                "synth",
                "0.06",
                "sine",
                str(lo),
                "sine",
                str(hi),
                "channels",
                "1",
                "gain",
                "-n",
                "-10",
                "pad",
                "0",
                "0.05",
            ],
            capture_output=True,
            timeout=30,
            check=True,
        ).stdout
    assert _signals(np.frombuffer(raw, np.int16)) == ["KP", "4", "9", "ST"]


def test_request_tone_is_found_and_timed() -> None:
    detector = RequestToneDetector()
    x = np.concatenate((np.zeros(800, np.int16), request_tone(100), np.zeros(800, np.int16)))
    events = []
    for i in range(0, len(x), 160):
        events += detector.process(x[i : i + 160])
    assert [type(e) for e in events] == [RequestToneStarted, RequestToneEnded]
    end = events[1]
    assert isinstance(end, RequestToneEnded)
    assert abs(end.start_sample - 800) <= 80 and abs(end.duration_ms - 100) <= 10


def test_request_detector_ignores_mf_dtmf_and_other_tones() -> None:
    detector = RequestToneDetector()
    t = np.arange(8000) / 8000
    other = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)  # dial tone's 440 Hz
    near = (8000 * np.sin(2 * np.pi * 530 * t)).astype(np.int16)  # 6 % off
    assert detector.process(mf_sequence(["KP", "1", "2"] * 5)) == []
    assert detector.process(other) == []
    assert detector.process(near) == []


@pytest.mark.parametrize(("level_dbm0", "twist_db"), [(-7.0, 0.0), (-28.0, 0.0), (-12.0, 6.0)])
def test_levels_and_level_differences_an_r1_receiver_must_take(
    level_dbm0: float, twist_db: float
) -> None:
    rng = np.random.default_rng(int(-level_dbm0))
    seq = ["KP", "3", "8", "0", "ST"]
    x = mf_sequence(seq, signal_ms=50, gap_ms=30, level_dbm0=level_dbm0)
    if twist_db:  # lower the 700–1100 Hz tones of every pair by twist_db
        low = mf_sequence(seq, signal_ms=50, gap_ms=30, level_dbm0=level_dbm0)
        spectrum = np.fft.rfft(low.astype(np.float64))
        freqs = np.fft.rfftfreq(len(low), 1 / 8000)
        spectrum[freqs < 1200] *= 10 ** (-twist_db / 20)
        x = np.rint(np.fft.irfft(spectrum, len(low))).astype(np.int16)
    assert _signals(add_noise(x, 20.0, rng)) == seq
