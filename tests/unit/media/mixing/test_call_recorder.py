"""Call recorder: stereo and mixed WAV read back by sox and stdlib wave, crash safety, sidecar."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from firmware.media.recorder import (
    CallRecorder,
    RecorderSettings,
    RecordingLayout,
    RecordingParty,
    RecordingRefused,
    RefusalReason,
    StopReason,
    recover,
)

ROOT = Path(__file__).resolve().parents[4]
RATE = 8000
N = 160
WALL = 1_795_000_000.0  # 2026-11-18T11:06:40Z
PARTIES = [
    RecordingParty("caller", "+74951234567", "Office line 1"),
    RecordingParty("callee", "201", "Анна"),
]
PLENTY = 10**12


def tone(freq_hz: float, seconds: float, amplitude: float = 8000.0) -> npt.NDArray[np.int16]:
    t = np.arange(int(seconds * RATE)) / RATE
    return np.rint(amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)


def sox_info(path: Path, flag: str) -> str:
    return subprocess.run(
        ["sox", "--i", flag, str(path)], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()


def dominant_hz(x: npt.NDArray[np.int16]) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return float(np.argmax(spectrum) * RATE / len(x))


def record(
    directory: Path,
    layout: RecordingLayout,
    a: npt.NDArray[np.int16],
    b: npt.NDArray[np.int16],
    **kw: object,
) -> CallRecorder:
    settings = RecorderSettings(layout=layout, min_free_bytes=0)
    rec = CallRecorder.open(
        directory,
        "call-1@pbx",
        PARTIES,
        codec="PCMA",
        now=100.0,
        started_wall_s=WALL,
        settings=settings,
        disk_free=lambda p: PLENTY,
    )
    for k in range(len(a) // N):
        assert rec.write(a[k * N : (k + 1) * N], b[k * N : (k + 1) * N], 100.0 + (k + 1) * 0.02)
    return rec


def test_stereo_recording_keeps_each_direction_on_its_channel(tmp_path: Path) -> None:
    rec = record(tmp_path, RecordingLayout.STEREO, tone(500, 2.0), tone(1200, 2.0))
    done = rec.close(now=102.0, ended_wall_s=WALL + 2.0)
    assert done.audio_path.name == "20261118T110640Z-call-1_pbx.wav"
    assert sox_info(done.audio_path, "-c") == "2"
    assert sox_info(done.audio_path, "-r") == "8000"
    assert float(sox_info(done.audio_path, "-D")) == pytest.approx(2.0)
    with wave.open(str(done.audio_path), "rb") as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (2, 8000, 16000)
        samples = np.frombuffer(w.readframes(16000), dtype="<i2").reshape(-1, 2)
    assert dominant_hz(samples[:, 0]) == pytest.approx(500, abs=1)
    assert dominant_hz(samples[:, 1]) == pytest.approx(1200, abs=1)
    np.testing.assert_array_equal(samples[:, 0], tone(500, 2.0))
    assert list(tmp_path.glob("*.part")) == [] and list(tmp_path.glob(".*")) == []


def test_mixed_recording_is_mono_with_both_directions_and_saturates(tmp_path: Path) -> None:
    a = np.concatenate([tone(500, 1.0), np.full(RATE, 30000, dtype=np.int16)])
    b = np.concatenate([tone(1200, 1.0), np.full(RATE, 30000, dtype=np.int16)])
    done = record(tmp_path, RecordingLayout.MIXED, a, b).close(now=102.0)
    assert sox_info(done.audio_path, "-c") == "1"
    with wave.open(str(done.audio_path), "rb") as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert len(samples) == 2 * RATE
    spectrum = np.abs(np.fft.rfft(samples[:RATE].astype(np.float64)))
    assert spectrum[500] > 1e6 and spectrum[1200] > 1e6
    assert np.all(samples[RATE:] == 32767)  # clipped, not wrapped to negative


def test_metadata_sidecar_describes_the_call(tmp_path: Path) -> None:
    done = record(tmp_path, RecordingLayout.STEREO, tone(500, 2.0), tone(900, 2.0)).close(
        now=102.0, ended_wall_s=WALL + 2.5
    )
    meta = json.loads(done.metadata_path.read_text(encoding="utf-8"))
    assert done.metadata_path == done.audio_path.with_suffix(".json")
    assert meta == {
        "version": 1,
        "call_id": "call-1@pbx",
        "parties": [
            {"role": "caller", "number": "+74951234567", "name": "Office line 1"},
            {"role": "callee", "number": "201", "name": "Анна"},
        ],
        "started_at": "2026-11-18T11:06:40.000Z",
        "ended_at": "2026-11-18T11:06:42.500Z",
        "duration_s": 2.0,
        "codec": "PCMA",
        "file": done.audio_path.name,
        "format": {
            "container": "wav",
            "encoding": "pcm_s16le",
            "rate_hz": 8000,
            "channels": 2,
            "layout": "stereo",
            "channel_map": ["caller", "callee"],
        },
        "complete": True,
        "stop_reason": "closed",
    }


CRASHING_RECORDER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import numpy as np
    from firmware.media.recorder import CallRecorder, RecorderSettings, RecordingParty

    t = np.arange(3 * 8000) / 8000
    a = np.rint(8000 * np.sin(2 * np.pi * 500 * t)).astype(np.int16)
    b = np.rint(8000 * np.sin(2 * np.pi * 1200 * t)).astype(np.int16)
    settings = RecorderSettings(flush_interval_s=0.5, min_free_bytes=0)
    rec = CallRecorder.open(Path(sys.argv[1]), "crash", [RecordingParty("caller", "1")],
                            codec="PCMU", now=0.0, started_wall_s=1.8e9, settings=settings)
    for k in range(150):  # 3 s; flushes at 0.5, 1.0, ... 2.5 s, then 0.5 s more unflushed
        rec.write(a[k * 160:(k + 1) * 160], b[k * 160:(k + 1) * 160], (k + 1) * 0.02)
        if k == 139:
            sys.stdout.write(f"{rec.duration_s}\\n"); sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)  # no close(), no Python cleanup, buffers lost
    """
)


def test_killed_recorder_leaves_a_playable_file_up_to_the_last_flush(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CRASHING_RECORDER, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    parts = list(tmp_path.glob("*.wav.part"))
    assert len(parts) == 1
    part = parts[0]
    # Readable as it is, before any recovery: sox and the stdlib agree on ≥ 2.5 s.
    seconds = float(sox_info(part, "-D"))
    assert 2.5 <= seconds <= 3.0
    with wave.open(str(part), "rb") as w:
        frames = w.getnframes()
        samples = np.frombuffer(w.readframes(frames), dtype="<i2").reshape(-1, 2)
    assert frames == int(seconds * RATE)
    t = np.arange(frames) / RATE
    np.testing.assert_array_equal(samples[:, 0], np.rint(8000 * np.sin(2 * np.pi * 500 * t)))
    # Recovery finalises it with a sidecar that says so.
    (rec,) = recover(tmp_path)
    assert rec.audio_path == part.with_name(part.name.removesuffix(".part"))
    assert float(sox_info(rec.audio_path, "-D")) >= 2.5
    meta = json.loads(rec.metadata_path.read_text(encoding="utf-8"))
    assert meta["call_id"] == "crash" and meta["codec"] == "PCMU"
    assert meta["complete"] is False and meta["stop_reason"] == "recovered"
    assert meta["duration_s"] >= 2.5
    assert list(tmp_path.glob("*.part")) == []


def test_refuses_to_start_when_free_space_is_below_the_minimum(tmp_path: Path) -> None:
    settings = RecorderSettings(min_free_bytes=500 * 10**6)
    with pytest.raises(RecordingRefused) as caught:
        CallRecorder.open(
            tmp_path,
            "c",
            PARTIES,
            codec="PCMU",
            now=0.0,
            started_wall_s=WALL,
            settings=settings,
            disk_free=lambda p: 120 * 10**6,
        )
    assert caught.value.reason is RefusalReason.DISK_LOW
    assert "120 MB free" in str(caught.value) and "500 MB" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_recording_stops_and_is_finalised_when_the_disk_fills(tmp_path: Path) -> None:
    free = [PLENTY]
    settings = RecorderSettings(min_free_bytes=10**6, flush_interval_s=1.0)
    rec = CallRecorder.open(
        tmp_path,
        "c",
        PARTIES,
        codec="PCMU",
        now=0.0,
        started_wall_s=WALL,
        settings=settings,
        disk_free=lambda p: free[0],
    )
    a = tone(440, 3.0)
    results = []
    for k in range(150):
        if k == 75:
            free[0] = 10**5
        results.append(rec.write(a[k * N : (k + 1) * N], None, (k + 1) * 0.02))
    assert results.index(False) == 99  # the flush at 2.0 s noticed
    assert rec.stop_reason is StopReason.DISK_LOW
    done = rec.close(now=3.0)
    assert float(sox_info(done.audio_path, "-D")) == pytest.approx(2.0)
    assert json.loads(done.metadata_path.read_text())["stop_reason"] == "disk_low"


def test_recording_stops_at_the_maximum_duration(tmp_path: Path) -> None:
    settings = RecorderSettings(min_free_bytes=0, flush_interval_s=0.5, max_duration_s=1.0)
    rec = CallRecorder.open(
        tmp_path, "c", PARTIES, codec="PCMU", now=0.0, started_wall_s=WALL, settings=settings
    )
    a = tone(440, 2.0)
    for k in range(100):
        rec.write(a[k * N : (k + 1) * N], a[k * N : (k + 1) * N], (k + 1) * 0.02)
    assert rec.stop_reason is StopReason.MAX_DURATION
    assert rec.duration_s == pytest.approx(1.0)
    assert (tmp_path / rec.close(now=2.0).audio_path.name).exists()


def test_a_second_recording_of_the_same_name_is_refused(tmp_path: Path) -> None:
    settings = RecorderSettings(min_free_bytes=0)
    first = CallRecorder.open(
        tmp_path, "c", PARTIES, codec="PCMU", now=0.0, started_wall_s=WALL, settings=settings
    )
    with pytest.raises(RecordingRefused) as caught:
        CallRecorder.open(
            tmp_path, "c", PARTIES, codec="PCMU", now=0.0, started_wall_s=WALL, settings=settings
        )
    assert caught.value.reason is RefusalReason.EXISTS
    first.close(now=1.0)
    assert first.close(now=2.0) is first.close(now=3.0)  # idempotent


def test_recover_writes_the_sidecar_a_crash_after_the_rename_left_out(tmp_path: Path) -> None:
    done = record(tmp_path, RecordingLayout.MIXED, tone(500, 1.0), tone(900, 1.0)).close(now=101.0)
    sidecar = done.metadata_path.read_text(encoding="utf-8")
    # As if killed between renaming the audio and writing the final sidecar:
    partial = json.loads(sidecar) | {"complete": False, "stop_reason": None, "ended_at": None}
    done.metadata_path.unlink()
    (tmp_path / f"{done.audio_path.stem}.json.part").write_text(json.dumps(partial))
    (rec,) = recover(tmp_path)
    meta = json.loads(rec.metadata_path.read_text(encoding="utf-8"))
    assert rec.audio_path == done.audio_path
    assert meta["duration_s"] == 1.0 and meta["stop_reason"] == "recovered"
    assert meta["call_id"] == "call-1@pbx" and meta["ended_at"] is not None
    assert list(tmp_path.glob("*.part")) == []
    assert recover(tmp_path) == []
