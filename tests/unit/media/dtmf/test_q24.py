"""The in-band DTMF receiver against ITU-T Q.24 as an exchange applies it.

Each condition runs as one multi-channel array (one channel per case), which is also how the
analog ports reach the receiver. Cases use random start alignments and phases (seeded).
Measured margins (`bench/dtmf_bench.py --margins`: share of 128 cases accepted; 10 dB SNR
white noise unless "clean"):
frequency offset on either tone: 1.00 to ±2.25 %, 0.98 at ±2.5 %, 0.15 at ±2.75 %, 0 from ±3 %;
normal twist: 1.00 at 8 dB, 0.98 at 9 dB; clean: 0 from 10 dB; reverse twist: 1.00 at 4 dB,
0.98 at 5 dB; clean: 0 from 6 dB;
duration: 1.00 from 36 ms, 0.3 at 30 ms, 0 at 25 ms and below;
level: 1.00 from composite 0 down to -32 dBm0 (-35 dBm0 a tone), 0 from -34 dBm0;
40 ms tones: 1.00 down to 8 dB SNR, 0.99 at 6 dB.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import numpy as np
import pytest

from firmware.media.dsp.dtmf import (
    DIGITS,
    DigitDetected,
    DigitOnset,
    DtmfReceiver,
    digit_frequencies,
    dtmf_sequence,
    dtmf_tone,
    tone_pair,
)
from firmware.media.frame import SampleRate

from .conftest import add_noise, digits, feed

RATE = 8000


def _cases(
    specs: list[tuple[str, float, float, float, float, float]],
    rng: np.random.Generator,
    snr_db: float | None = None,
) -> np.ndarray:
    """One channel per (digit, low offset, high offset, duration ms, level dBm0, twist dB):
    the tone after a random lead-in of 0–10 ms, then 100 ms of silence."""
    rows = []
    for digit, d_lo, d_hi, ms, level, twist in specs:
        lo, hi = digit_frequencies(digit)
        tone = tone_pair(
            lo * (1 + d_lo),
            hi * (1 + d_hi),
            ms,
            level,
            twist_db=twist,
            phase_rad=float(rng.uniform(0, 2 * np.pi)),
        )
        lead = np.zeros(int(rng.integers(0, 80)), dtype=np.int16)
        x = np.concatenate((lead, tone))
        if snr_db is not None:
            x = add_noise(x, snr_db, rng, ref=tone)
        rows.append(x)
    n = max(len(r) for r in rows) + 800
    out = np.zeros((len(rows), n), dtype=np.int16)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def _detected(x: np.ndarray) -> list[str]:
    receiver = DtmfReceiver(channels=x.shape[0])
    events = feed(receiver, x)
    return [digits(events, ch) for ch in range(x.shape[0])]


def test_all_sixteen_digits_are_detected_in_order() -> None:
    x = dtmf_sequence(DIGITS, on_ms=60, off_ms=60, level_dbm0=-10.0)
    assert digits(feed(DtmfReceiver(), x)) == DIGITS


def test_all_sixteen_digits_are_detected_at_16_khz() -> None:
    x = dtmf_sequence(DIGITS, on_ms=60, off_ms=60, rate=SampleRate.WIDEBAND)
    receiver = DtmfReceiver(rate=SampleRate.WIDEBAND)
    assert digits(feed(receiver, x, frame=320)) == DIGITS


@pytest.mark.parametrize("snr_db", [None, 10.0])
def test_detector_accepts_1_5_percent_offsets_on_either_tone_and_both(
    snr_db: float | None,
) -> None:
    rng = np.random.default_rng(15)
    offsets = [(s, 0.0) for s in (-0.015, 0.015)] + [(0.0, s) for s in (-0.015, 0.015)]
    offsets += [(a, b) for a in (-0.015, 0.015) for b in (-0.015, 0.015)]
    specs = [(d, lo, hi, 60.0, -10.0, 0.0) for d in DIGITS for lo, hi in offsets]
    got = _detected(_cases(specs, rng, snr_db))
    assert got == [s[0] for s in specs]


@pytest.mark.parametrize("snr_db", [None, 10.0])
def test_detector_rejects_3_5_percent_offset_on_any_tone(snr_db: float | None) -> None:
    rng = np.random.default_rng(35)
    specs = [
        (d, lo, hi, 80.0, -10.0, 0.0)
        for d in DIGITS
        for lo, hi in ((-0.035, 0.0), (0.035, 0.0), (0.0, -0.035), (0.0, 0.035))
    ]
    assert _detected(_cases(specs, rng, snr_db)) == [""] * len(specs)


@pytest.mark.parametrize("snr_db", [None, 10.0])
def test_detector_accepts_8_db_normal_and_4_db_reverse_twist(snr_db: float | None) -> None:
    rng = np.random.default_rng(8)
    # twist_db is high group minus low group: -8 is normal twist, +4 reverse.
    specs = [(d, 0.0, 0.0, 60.0, -6.0, tw) for d in DIGITS for tw in (-8.0, 4.0)]
    assert _detected(_cases(specs, rng, snr_db)) == [s[0] for s in specs]


def test_detector_rejects_10_db_normal_and_6_db_reverse_twist() -> None:
    rng = np.random.default_rng(10)
    specs = [(d, 0.0, 0.0, 80.0, -6.0, tw) for d in DIGITS for tw in (-10.0, 6.0)]
    assert _detected(_cases(specs, rng)) == [""] * len(specs)


@pytest.mark.parametrize("snr_db", [None, 10.0])
def test_detector_accepts_40_ms_tones_at_any_alignment(snr_db: float | None) -> None:
    rng = np.random.default_rng(40)
    specs = [(d, 0.0, 0.0, 40.0, -10.0, 0.0) for d in DIGITS for _ in range(4)]
    assert _detected(_cases(specs, rng, snr_db)) == [s[0] for s in specs]


@pytest.mark.parametrize("duration_ms", [20.0, 25.0])
def test_detector_rejects_short_tones(duration_ms: float) -> None:
    rng = np.random.default_rng(int(duration_ms))
    specs = [(d, 0.0, 0.0, duration_ms, -10.0, 0.0) for d in DIGITS for _ in range(4)]
    assert _detected(_cases(specs, rng)) == [""] * len(specs)
    assert _detected(_cases(specs, rng, 10.0)) == [""] * len(specs)


@pytest.mark.parametrize("snr_db", [None, 10.0])
def test_a_40_ms_pause_separates_digits_even_the_same_digit(snr_db: float | None) -> None:
    rng = np.random.default_rng(4040)
    for sequence in (DIGITS, "5555555555", "00##11"):
        x = dtmf_sequence(sequence, on_ms=40, off_ms=40, level_dbm0=-10.0)
        if snr_db is not None:
            x = add_noise(x, snr_db, rng)
        assert digits(feed(DtmfReceiver(), x)) == sequence


def test_random_digit_strings_survive_10_db_snr() -> None:
    rng = np.random.default_rng(2024)
    channels = 8
    strings = ["".join(rng.choice(list(DIGITS), 25)) for _ in range(channels)]
    rows = [
        add_noise(dtmf_sequence(s, on_ms=45, off_ms=45, level_dbm0=-12.0), 10.0, rng)
        for s in strings
    ]
    assert _detected(np.stack(rows)) == strings


@pytest.mark.parametrize("composite_dbm0", [0.0, -5.0, -10.0, -15.0, -20.0, -25.0, -30.0])
def test_detector_works_across_30_db_of_level_at_10_db_snr(composite_dbm0: float) -> None:
    rng = np.random.default_rng(int(-composite_dbm0))
    per_tone = composite_dbm0 - 10 * np.log10(2)  # two equal tones
    specs = [(d, 0.0, 0.0, 50.0, per_tone, 0.0) for d in DIGITS]
    assert _detected(_cases(specs, rng, 10.0)) == list(DIGITS)


def test_detector_ignores_tones_below_its_threshold() -> None:
    rng = np.random.default_rng(45)
    specs = [(d, 0.0, 0.0, 80.0, -40.0, 0.0) for d in DIGITS]
    assert _detected(_cases(specs, rng)) == [""] * len(specs)


def test_onset_comes_first_and_both_events_time_the_tone() -> None:
    lead, on = 1234, 800  # samples: 154 ms of silence, then a 100 ms tone
    x = np.concatenate((np.zeros(lead, np.int16), dtmf_tone("7", 100), np.zeros(800, np.int16)))
    events = feed(DtmfReceiver(), x)
    assert [type(e) for e in events] == [DigitOnset, DigitDetected]
    onset, done = events
    assert isinstance(onset, DigitOnset) and isinstance(done, DigitDetected)
    assert onset.start_sample == done.start_sample
    assert abs(done.start_sample - lead) <= 64  # 8 ms
    assert abs(done.duration_ms - on / 8) <= 8


def test_a_long_press_is_one_digit_with_its_duration() -> None:
    x = dtmf_tone("#", 3000, level_dbm0=-8.0)
    events = [e for e in feed(DtmfReceiver(), x) if isinstance(e, DigitDetected)]
    assert len(events) == 1 and events[0].digit == "#"
    assert abs(events[0].duration_ms - 3000) <= 8


def test_channels_are_independent_and_frame_size_does_not_matter() -> None:
    rng = np.random.default_rng(7)
    strings = ["".join(rng.choice(list(DIGITS), 6)) for _ in range(32)]
    rows = [dtmf_sequence(s, on_ms=50, off_ms=50 + 7 * i) for i, s in enumerate(strings)]
    n = max(len(r) for r in rows)
    x = np.stack([np.pad(r, (0, n - len(r))) for r in rows])
    together = DtmfReceiver(channels=32)
    events = []
    pos = 0
    while pos < n:  # ragged frames: 1 to 400 samples
        step = int(rng.integers(1, 400))
        events += together.process(x[:, pos : pos + step])
        pos += step
    events += together.process(np.zeros((32, 800), np.int16))
    alone = [feed(DtmfReceiver(), x[ch]) for ch in range(32)]
    for ch in range(32):
        assert digits(events, ch) == strings[ch]
        mine = [dataclasses.replace(e, channel=0) for e in events if e.channel == ch]
        assert mine == alone[ch]  # same events, same sample positions


def test_reset_channel_forgets_a_tone_in_progress() -> None:
    receiver = DtmfReceiver(channels=2)
    x = np.stack([dtmf_tone("3", 70), dtmf_tone("9", 70)])
    first = receiver.process(x[:, :400])  # 50 ms in; what is left (20 ms) is too short
    receiver.reset_channel(0)
    rest = receiver.process(np.concatenate((x[:, 400:], np.zeros((2, 800), np.int16)), axis=1))
    assert digits(first + rest, 1) == "9"
    assert digits(first + rest, 0) == ""


def test_bad_input_shape_or_type_is_refused() -> None:
    receiver = DtmfReceiver(channels=2)
    with pytest.raises(ValueError):
        receiver.process(np.zeros(160, np.int16))
    with pytest.raises(ValueError):
        receiver.process(np.zeros((2, 160), np.float32))  # type: ignore[arg-type]


def _sox(args: list[str]) -> bytes:
    if shutil.which("sox") is None:
        pytest.skip("sox not installed")
    done = subprocess.run(["sox", "-D", *args], capture_output=True, timeout=30, check=True)
    return done.stdout


def test_tones_made_by_sox_are_detected() -> None:
    """An independent generator: sox synthesises each pair (its own sines, dither off)."""
    raw = b""
    for digit in DIGITS:
        lo, hi = digit_frequencies(digit)
        raw += _sox(
            [
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
                "-8",
                "pad",
                "0",
                "0.06",
            ]
        )
    x = np.frombuffer(raw, dtype=np.int16)
    assert digits(feed(DtmfReceiver(), x)) == DIGITS


@pytest.mark.parametrize("law", ["u-law", "a-law"])
def test_tones_survive_a_g711_round_trip_through_sox(law: str) -> None:
    x = dtmf_sequence(DIGITS, on_ms=45, off_ms=45, level_dbm0=-20.0)
    fmt = ["-r", "8000", "-c", "1", "-t", "raw"]
    coded = (
        subprocess.run(
            ["sox", "-D", *fmt, "-b", "16", "-e", "signed-integer", "-", *fmt, "-e", law, "-"],
            input=x.tobytes(),
            capture_output=True,
            timeout=30,
            check=True,
        ).stdout
        if shutil.which("sox")
        else pytest.skip("sox not installed")
    )
    back = subprocess.run(
        ["sox", "-D", *fmt, "-e", law, "-", *fmt, "-b", "16", "-e", "signed-integer", "-"],
        input=coded,
        capture_output=True,
        timeout=30,
        check=True,
    ).stdout
    assert digits(feed(DtmfReceiver(), np.frombuffer(back, dtype=np.int16))) == DIGITS
