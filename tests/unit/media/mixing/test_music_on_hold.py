"""Music on hold: one decode per class, one shared stream, the same frame object for everyone."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from firmware.media.frame import SampleRate
from firmware.media.moh import MusicOnHold, decode_audio_file

RATE = 8000
N = 160
ROOT = Path(__file__).resolve().parents[4]


def write_wav(
    path: Path, samples: npt.NDArray[np.int16], rate: int = RATE, channels: int = 1
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())


def ramp(start: int, count: int) -> npt.NDArray[np.int16]:
    """Distinct, recognisable samples: frame k of a file is easy to find."""
    return (np.arange(start, start + count) % 30000).astype(np.int16)


@pytest.fixture
def moh_root(tmp_path: Path) -> Path:
    write_wav(tmp_path / "jazz" / "01-first.wav", ramp(0, 10 * N + 37))  # not a whole frame
    write_wav(tmp_path / "jazz" / "02-second.wav", ramp(20000, 5 * N))
    (tmp_path / "jazz" / "notes.txt").write_text("not audio")
    write_wav(tmp_path / "default" / "tune.wav", -ramp(100, 7 * N))
    return tmp_path


class CountingDecoder:
    def __init__(self) -> None:
        self.calls: list[Path] = []

    def __call__(self, path: Path, rate: SampleRate) -> npt.NDArray[np.int16]:
        self.calls.append(path)
        return decode_audio_file(path, rate)


def test_two_listeners_share_one_decode_and_the_same_frame_objects(moh_root: Path) -> None:
    decoder = CountingDecoder()
    moh = MusicOnHold(moh_root, decoder=decoder)
    moh.load()
    assert sorted(p.name for p in decoder.calls) == ["01-first.wav", "02-second.wav", "tune.wav"]
    expected = np.concatenate([ramp(0, 10 * N + 37), ramp(20000, 5 * N)])
    loop = -(-len(expected) // N)  # 17 frames, the last one padded with silence
    padded = np.zeros(loop * N, dtype=np.int16)
    padded[: len(expected)] = expected
    for tick in range(1000, 1000 + 3 * loop):
        alice = moh.frame("jazz", tick)
        bob = moh.frame("jazz", tick)
        assert alice is bob
        i = tick % loop
        np.testing.assert_array_equal(alice, padded[i * N : (i + 1) * N])
    assert len(decoder.calls) == 3  # still one decode per file


def test_frames_are_read_only(moh_root: Path) -> None:
    moh = MusicOnHold(moh_root)
    moh.load(["jazz"])
    frame = moh.frame("jazz", 0)
    with pytest.raises(ValueError):
        frame[0] = 1


def test_switching_class_needs_no_decode_and_unknown_classes_fall_back_to_default(
    moh_root: Path,
) -> None:
    decoder = CountingDecoder()
    moh = MusicOnHold(moh_root, decoder=decoder)
    moh.load()
    decoded = len(decoder.calls)
    jazz, default = moh.get("jazz"), moh.get("default")
    assert moh.frame("jazz", 41) is jazz.frame_at(41)
    assert moh.frame("default", 42) is default.frame_at(42)  # the caller moved class
    assert moh.frame("jazz", 43) is jazz.frame_at(43)  # and back
    np.testing.assert_array_equal(default.frame_at(0), -ramp(100, N))
    assert moh.frame("no-such-class", 5) is default.frame_at(5)
    assert len(decoder.calls) == decoded


def test_without_any_class_callers_hear_silence(tmp_path: Path) -> None:
    moh = MusicOnHold(tmp_path / "missing")
    moh.load()
    assert moh.available() == []
    assert not moh.frame("default", 3).any()


def test_undecodable_file_is_skipped_and_the_rest_plays(moh_root: Path) -> None:
    (moh_root / "jazz" / "00-broken.wav").write_bytes(b"RIFF\x00\x00not a wave file at all")
    moh = MusicOnHold(moh_root)
    moh.load(["jazz"])
    assert [p.name for p in moh.get("jazz").files] == ["01-first.wav", "02-second.wav"]


def test_flac_and_stereo_44k_files_are_converted_with_sox(tmp_path: Path) -> None:
    # sox makes a stereo 44.1 kHz FLAC of 1 s of 440 Hz; the class must decode to 8 kHz mono.
    flac = tmp_path / "classical" / "a440.flac"
    flac.parent.mkdir()
    subprocess.run(
        [
            "sox",
            "-n",
            "-r",
            "44100",
            "-c",
            "2",
            "-b",
            "16",
            str(flac),
            "synth",
            "1.0",
            "sine",
            "440",
        ],
        check=True,
        timeout=30,
    )
    moh = MusicOnHold(tmp_path)
    moh.load()
    cls = moh.get("classical")
    assert cls.name == "classical"
    assert cls.frames == 50
    audio = np.concatenate([cls.frame_at(k) for k in range(cls.frames)]).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    assert np.argmax(spectrum) * RATE / len(audio) == pytest.approx(440, abs=2)


def test_max_duration_caps_a_long_class(moh_root: Path) -> None:
    moh = MusicOnHold(moh_root, max_class_duration_s=0.1)
    moh.load(["jazz"])
    assert moh.get("jazz").frames == 5
    assert [p.name for p in moh.get("jazz").files] == ["01-first.wav"]


def test_default_tune_installs_as_8khz_mono_wav(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "firmware.media.moh", "default", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    path = Path(result.stdout.strip())
    assert path == tmp_path / "default" / "switchbox-tune.wav"
    info = {
        flag: subprocess.run(
            ["sox", "--i", flag, str(path)], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
        for flag in ("-r", "-c", "-D")
    }
    assert info["-r"] == "8000" and info["-c"] == "1"
    assert 20.0 < float(info["-D"]) < 25.0
    moh = MusicOnHold(tmp_path)
    moh.load()
    frames = np.stack([moh.frame("default", k) for k in range(moh.get("default").frames)])
    levels = 10 * np.log10((frames.astype(np.float64) ** 2).mean(axis=1) / (22776.0**2 / 2) + 1e-12)
    assert np.percentile(levels, 5) > -40  # music throughout, no gaps; seam included
    assert np.abs(frames).max() < 32767 * 10 ** (-8 / 20)  # headroom kept
