"""Call recording: both directions of a call into a WAV file, durable while it grows.

Layout: `MIXED` (mono, caller + callee summed with saturation) or `STEREO` (two channels: left =
what the caller's leg sent, right = what the callee's leg sent), 16-bit PCM at the media rate
(8 kHz: 16 kB/s mono, 32 kB/s stereo; 1 h of stereo ≈ 115 MB).

Crash safety — while recording, the file is `<name>.wav.part`, a *valid* WAV at all times:

1. `open()` writes a 44-byte PCM header claiming 0 data bytes and fsyncs it.
2. Frames are appended through a buffer. Every `flush_interval_s` (2 s by default) the buffer is
   written and fsynced, *then* the RIFF and data sizes in the header are rewritten to cover
   exactly the data now on disk, and fsynced again. The header therefore never claims more than
   is durably there: killed at any instant, the file plays up to the last flush (≤ 2 s lost),
   and anything past the claimed size is ignored by readers.
3. `close()` flushes, fixes the header, renames `.wav.part` → `.wav`, writes the metadata
   sidecar `<name>.json` (temp file, fsync, rename) and fsyncs the directory.

`recover(directory)` (run at start-up) finalises what a crash left: each `.wav.part` gets its
header set to the whole frames present, is renamed, and gets a sidecar with `"complete": false`
and `"stop_reason": "recovered"` (from `<name>.json.part`, written at open); a `.wav` whose
sidecar was not yet written gets one the same way.

Disk use is bounded: `open()` refuses (`RecordingRefused`, reason `DISK_LOW`) when the free
space is below `min_free_bytes`; at each flush the recording stops and is finalised with
`stop_reason` `disk_low` once the free space falls below it, and with `max_duration` past
`max_duration_s`.

Metadata sidecar (JSON, UTF-8): version, call_id, parties (role, number, name), started_at and
ended_at (ISO 8601 UTC wall clock — the only wall-clock times; durations come from the
monotonic `now`), duration_s, codec (what the call used on the wire, e.g. "PCMA"), file, format
(container, encoding, rate_hz, channels, layout, channel_map), complete, stop_reason.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import struct
import wave
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from firmware.config.durable import fsync_directory, write_json_atomic
from firmware.media.frame import Frame, SampleRate

log = logging.getLogger(__name__)

METADATA_VERSION = 1
_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")
_HEADER_BYTES = _HEADER.size  # 44
_WAVE_FORMAT_PCM = 1
_SAMPLE_BYTES = 2
PART_SUFFIX = ".part"

DiskFree = Callable[[Path], int]
"""Free bytes on the file system holding the path (injectable for tests)."""


def _disk_free(path: Path) -> int:
    return shutil.disk_usage(path).free


class RecordingLayout(StrEnum):
    """How the two directions go into the file."""

    MIXED = "mixed"
    """One channel: both directions summed (saturating)."""
    STEREO = "stereo"
    """Two channels: left = caller's leg, right = callee's leg (keeps who-said-what)."""


class StopReason(StrEnum):
    """Why a recording ended."""

    CLOSED = "closed"
    DISK_LOW = "disk_low"
    MAX_DURATION = "max_duration"
    RECOVERED = "recovered"


class RefusalReason(StrEnum):
    """Why a recording could not start."""

    DISK_LOW = "disk_low"
    NOT_WRITABLE = "not_writable"
    EXISTS = "exists"


class RecordingError(Exception):
    """A recording that cannot go on; the message says why (for the log and the web page)."""


class RecordingRefused(RecordingError):
    """`open()` declined to start; nothing was written."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RecordingParty:
    """One side of the recorded call, as it appears in the sidecar."""

    role: str
    """"caller" or "callee" (channel map names), or e.g. "transfer_target"."""
    number: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class RecorderSettings:
    """Recording policy; one instance per box (from configuration)."""

    layout: RecordingLayout = RecordingLayout.STEREO
    """Mixed mono or two-channel."""
    rate: SampleRate = SampleRate.NARROWBAND
    """Sample rate of the frames given to `write()`."""
    flush_interval_s: float = field(default=2.0, metadata={"min": 0.2, "max": 60.0})
    """Most audio a crash may lose; each flush costs two fsyncs."""
    min_free_bytes: int = field(default=200 * 1024 * 1024, metadata={"min": 0})
    """Refuse to start, and stop, below this much free space on the recordings file system."""
    max_duration_s: float | None = field(default=4 * 3600.0, metadata={"min": 1.0})
    """A recording is finalised when it reaches this length; None: no limit."""


@dataclass(frozen=True, slots=True)
class Recording:
    """A finished recording: the audio file and its metadata sidecar."""

    audio_path: Path
    metadata_path: Path
    metadata: dict[str, Any]


def _iso(wall_s: float) -> str:
    return (
        datetime.fromtimestamp(wall_s, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:64].lstrip(".") or "call"


def _header(channels: int, rate_hz: int, data_bytes: int) -> bytes:
    block = channels * _SAMPLE_BYTES
    return _HEADER.pack(
        b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, _WAVE_FORMAT_PCM, channels, rate_hz,
        rate_hz * block, block, 8 * _SAMPLE_BYTES, b"data", data_bytes,
    )  # fmt: skip


class CallRecorder:
    """Records one call; create with `CallRecorder.open()`, feed `write()` every tick, `close()`.

    Not thread-safe. `write()` does buffered file I/O (a 20 ms frame is 320–640 bytes) and, once
    per flush interval, two fsyncs: call it from a recording task or worker thread, not from
    the tick that mixes live audio, if the storage is slow (SD cards).
    """

    def __init__(
        self,
        file: BinaryIO,
        part_path: Path,
        metadata: dict[str, Any],
        settings: RecorderSettings,
        now: float,
        started_wall_s: float,
        disk_free: DiskFree,
    ) -> None:
        self._file = file
        self._part_path = part_path
        self._metadata = metadata
        self.settings = settings
        self._channels = 2 if settings.layout is RecordingLayout.STEREO else 1
        self._started_now = now
        self._started_wall_s = started_wall_s
        self._disk_free = disk_free
        self._data_bytes = 0  # appended (maybe still buffered)
        self._durable_bytes = 0  # covered by the header on disk
        self._last_flush = now
        self._last_now = now
        self.stop_reason: StopReason | None = None
        self._finished: Recording | None = None

    @classmethod
    def open(
        cls,
        directory: Path,
        call_id: str,
        parties: Sequence[RecordingParty],
        *,
        codec: str,
        now: float,
        started_wall_s: float,
        settings: RecorderSettings | None = None,
        name: str | None = None,
        disk_free: DiskFree = _disk_free,
    ) -> CallRecorder:
        """Start recording into `directory/<name>.wav` (default name: UTC start time + call id).

        `now` is monotonic seconds, `started_wall_s` the wall clock (epoch seconds) for the
        sidecar. Raises RecordingRefused when free space is below the minimum, the directory is
        not writable, or a recording of that name exists.
        """
        settings = settings or RecorderSettings()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            free = disk_free(directory)
        except OSError as exc:
            raise RecordingRefused(
                RefusalReason.NOT_WRITABLE, f"recordings directory {directory}: {exc}"
            ) from exc
        if free < settings.min_free_bytes:
            raise RecordingRefused(
                RefusalReason.DISK_LOW,
                f"not recording call {call_id!r}: {free / 1e6:.0f} MB free in {directory}, "
                f"below the minimum of {settings.min_free_bytes / 1e6:.0f} MB",
            )
        stamp = datetime.fromtimestamp(started_wall_s, UTC).strftime("%Y%m%dT%H%M%SZ")
        base = _safe_name(name) if name else f"{stamp}-{_safe_name(call_id)}"
        final = directory / f"{base}.wav"
        part = directory / f"{base}.wav{PART_SUFFIX}"
        if final.exists() or part.exists():
            raise RecordingRefused(RefusalReason.EXISTS, f"recording {final} already exists")
        channels = 2 if settings.layout is RecordingLayout.STEREO else 1
        channel_map = ["caller", "callee"] if channels == 2 else ["caller+callee"]
        metadata: dict[str, Any] = {
            "version": METADATA_VERSION,
            "call_id": call_id,
            "parties": [asdict(p) for p in parties],
            "started_at": _iso(started_wall_s),
            "ended_at": None,
            "duration_s": 0.0,
            "codec": codec,
            "file": final.name,
            "format": {
                "container": "wav",
                "encoding": "pcm_s16le",
                "rate_hz": int(settings.rate),
                "channels": channels,
                "layout": settings.layout.value,
                "channel_map": channel_map,
            },
            "complete": False,
            "stop_reason": None,
        }
        try:
            write_json_atomic(directory / f"{base}.json{PART_SUFFIX}", metadata, 0o640)
            file = open(part, "xb")  # owned by the recorder until close()
        except OSError as exc:
            raise RecordingRefused(
                RefusalReason.NOT_WRITABLE, f"cannot create {part}: {exc}"
            ) from exc
        file.write(_header(channels, int(settings.rate), 0))
        file.flush()
        os.fsync(file.fileno())
        fsync_directory(directory)
        log.info("recording call %r to %s (%s)", call_id, final, settings.layout.value)
        return cls(file, part, metadata, settings, now, started_wall_s, disk_free)

    @property
    def recording(self) -> bool:
        """True until closed or stopped (disk low, max duration)."""
        return self.stop_reason is None

    @property
    def duration_s(self) -> float:
        """Audio written so far."""
        return self._data_bytes / (self._channels * _SAMPLE_BYTES * int(self.settings.rate))

    @property
    def part_path(self) -> Path:
        """The file being written (`…wav.part`)."""
        return self._part_path

    def write(self, caller: Frame | None, callee: Frame | None, now: float) -> bool:
        """Append one frame of each direction (None: silence); flush when the interval is due.

        Returns False (and writes nothing) once the recording has stopped, so the owner can
        drop it. Raises ValueError when the two frames differ in length (a caller bug) and
        RecordingError on an I/O failure (the file up to the last flush stays playable).
        """
        if self.stop_reason is not None:
            return False
        if caller is None:
            if callee is None:
                return self._maybe_flush(now)
            caller = np.zeros_like(callee)
        elif callee is None:
            callee = np.zeros_like(caller)
        if caller.shape != callee.shape:
            raise ValueError(f"direction frames differ: {caller.shape} vs {callee.shape}")
        if self._channels == 2:
            samples = np.empty((caller.shape[-1], 2), dtype="<i2")
            samples[:, 0] = caller
            samples[:, 1] = callee
        else:
            total = caller.astype(np.int32) + callee.astype(np.int32)
            samples = np.clip(total, -32768, 32767).astype("<i2")
        data = samples.tobytes()
        try:
            self._file.write(data)
        except OSError as exc:
            raise RecordingError(f"writing {self._part_path}: {exc}") from exc
        self._data_bytes += len(data)
        return self._maybe_flush(now)

    def _maybe_flush(self, now: float) -> bool:
        self._last_now = now
        if now - self._last_flush < self.settings.flush_interval_s:
            return True
        self.flush(now)
        limit = self.settings.max_duration_s
        if limit is not None and self.duration_s >= limit:
            self._finish(StopReason.MAX_DURATION, None)
            return False
        try:
            free = self._disk_free(self._part_path.parent)
        except OSError:
            free = 0
        if free < self.settings.min_free_bytes:
            log.warning(
                "recording %s stopped: %.0f MB free, below the minimum of %.0f MB",
                self._part_path,
                free / 1e6,
                self.settings.min_free_bytes / 1e6,
            )
            self._finish(StopReason.DISK_LOW, None)
            return False
        return True

    def flush(self, now: float) -> None:
        """Make everything written so far durable: data, fsync, then header sizes, fsync.

        Raises RecordingError on an I/O failure.
        """
        self._last_flush = now
        self._last_now = max(self._last_now, now)
        if self._durable_bytes == self._data_bytes:
            return
        try:
            self._file.flush()
            fd = self._file.fileno()
            os.fsync(fd)  # the data first: the header below must never claim unsynced bytes
            os.pwrite(fd, struct.pack("<I", 36 + self._data_bytes), 4)
            os.pwrite(fd, struct.pack("<I", self._data_bytes), 40)
            os.fsync(fd)
        except OSError as exc:
            raise RecordingError(f"flushing {self._part_path}: {exc}") from exc
        self._durable_bytes = self._data_bytes

    def close(self, now: float, ended_wall_s: float | None = None) -> Recording:
        """Finish: final header, rename to `.wav`, write the sidecar. Idempotent.

        `ended_wall_s` defaults to the start wall time plus the monotonic time elapsed.
        Raises RecordingError on an I/O failure (the `.part` file is left for `recover()`).
        """
        self._last_now = max(self._last_now, now)
        return self._finish(self.stop_reason or StopReason.CLOSED, ended_wall_s)

    def _finish(self, reason: StopReason, ended_wall_s: float | None) -> Recording:
        if self._finished is not None:
            return self._finished
        self.stop_reason = reason
        self.flush(self._last_now)
        self._file.close()
        directory = self._part_path.parent
        final = directory / self._metadata["file"]
        base = final.stem
        if ended_wall_s is None:
            ended_wall_s = self._started_wall_s + (self._last_now - self._started_now)
        self._metadata.update(
            ended_at=_iso(ended_wall_s),
            duration_s=round(self.duration_s, 3),
            complete=True,
            stop_reason=reason.value,
        )
        metadata_path = directory / f"{base}.json"
        try:
            os.replace(self._part_path, final)
            write_json_atomic(metadata_path, self._metadata, 0o640)
            (directory / f"{base}.json{PART_SUFFIX}").unlink(missing_ok=True)
            fsync_directory(directory)
        except OSError as exc:
            raise RecordingError(f"finalising {final}: {exc}") from exc
        log.info("recording %s finished (%s, %.1f s)", final, reason.value, self.duration_s)
        self._finished = Recording(final, metadata_path, dict(self._metadata))
        return self._finished


def recover(directory: Path) -> list[Recording]:
    """Finalise recordings a crash left as `.wav.part`; returns them (sidecar complete=false).

    Data past the last whole frame is cut off; the header is set to what is present (the
    unflushed tail that happened to reach the disk is kept, the header only ever covered the
    flushed part). `ended_at` is the file's modification time.
    """
    recovered: list[Recording] = []
    if not directory.is_dir():
        return recovered
    for part in sorted(directory.glob(f"*.wav{PART_SUFFIX}")):
        final = part.with_name(part.name[: -len(PART_SUFFIX)])
        base = final.stem
        sidecar_part = directory / f"{base}.json{PART_SUFFIX}"
        try:
            metadata: dict[str, Any] = json.loads(sidecar_part.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            metadata = {"version": METADATA_VERSION, "file": final.name, "format": {}}
        try:
            with open(part, "r+b") as f:
                head = f.read(_HEADER_BYTES)
                if len(head) < _HEADER_BYTES:
                    log.warning("recording %s has no header; removed", part)
                    part.unlink()
                    continue
                fields = _HEADER.unpack(head)
                channels, rate_hz, block = fields[6], fields[7], fields[9]
                size = os.fstat(f.fileno()).st_size - _HEADER_BYTES
                data_bytes = size - size % max(block, 1)
                f.truncate(_HEADER_BYTES + data_bytes)
                f.seek(0)
                f.write(_header(channels, rate_hz, data_bytes))
                f.flush()
                os.fsync(f.fileno())
                mtime = os.fstat(f.fileno()).st_mtime
            os.replace(part, final)
            metadata.update(
                ended_at=_iso(mtime),
                duration_s=round(data_bytes / (block * rate_hz), 3) if block and rate_hz else 0.0,
                complete=False,
                stop_reason=StopReason.RECOVERED.value,
            )
            metadata_path = directory / f"{base}.json"
            write_json_atomic(metadata_path, metadata, 0o640)
            sidecar_part.unlink(missing_ok=True)
            fsync_directory(directory)
        except OSError as exc:
            log.warning("cannot recover recording %s: %s", part, exc)
            continue
        log.warning("recovered interrupted recording %s (%.1f s)", final, metadata["duration_s"])
        recovered.append(Recording(final, metadata_path, metadata))
    # A crash between renaming the audio and writing its sidecar leaves a final .wav (header
    # already correct) with only the sidecar from open(): finish the sidecar.
    for sidecar_part in sorted(directory.glob(f"*.json{PART_SUFFIX}")):
        base = sidecar_part.name[: -len(f".json{PART_SUFFIX}")]
        final, metadata_path = directory / f"{base}.wav", directory / f"{base}.json"
        if not final.is_file() or (directory / f"{base}.wav{PART_SUFFIX}").exists():
            continue
        try:
            metadata = json.loads(sidecar_part.read_text(encoding="utf-8"))
            with wave.open(str(final), "rb") as w:
                duration_s = w.getnframes() / w.getframerate()
            metadata.update(
                ended_at=_iso(final.stat().st_mtime),
                duration_s=round(duration_s, 3),
                complete=False,
                stop_reason=StopReason.RECOVERED.value,
            )
            write_json_atomic(metadata_path, metadata, 0o640)
            sidecar_part.unlink()
            fsync_directory(directory)
        except (OSError, ValueError, EOFError, wave.Error) as exc:
            log.warning("cannot recover the sidecar of %s: %s", final, exc)
            continue
        recovered.append(Recording(final, metadata_path, metadata))
    return recovered
