"""Music on hold: classes of audio files decoded once, one shared stream per class.

A class is a directory under the music-on-hold root (`<root>/<class>/*.wav|flac|ogg|…`); its
files play in name order, back to back, then loop. A class is decoded once into one read-only
`(frames, samples)` int16 array of 20 ms rows, kept in memory (8 kHz: 0.96 MB per minute;
`max_class_duration_s` caps it, 15 min by default). Everyone holding on a class hears the same
stream — like a radio station, not a per-caller playback — so 100 callers on hold cost one
decode and one row lookup per class per tick, and every listener of a class gets the *same*
frame object for a tick (no per-caller copy; rows are read-only so no listener can corrupt it).

Position is a pure function of the media tick (`tick` = 20 ms periods of the owner's clock):
`MohClass.frame_at(tick)` is row `tick mod frames`. The owner ticks once per 20 ms for all
listeners; moving a caller to another class is just asking another class for the next tick.

Decoding: 8 kHz mono 16-bit WAV is read with the stdlib `wave` module; anything else (other
rates, stereo, FLAC, Ogg, MP3 where sox has the format) goes through `sox` to 8 kHz mono s16 at
load time, so no audio library is linked into the service and sox is needed only when an
installer uploads something other than telephone-ready WAV. Loading does file and process I/O:
call `MusicOnHold.load()` from a worker thread (`asyncio.to_thread`) at start-up and after an
upload, never from the media tick. A file that does not decode is logged and skipped; a class
with no playable file falls back to the default class, and that to silence.

The project's own default class is a music-box tune synthesised here with numpy (no recording,
no copyright): `python -m firmware.media.moh default --out <root>` writes
`<root>/default/switchbox-tune.wav`: I–vi–IV–V arpeggios under a melody, 8 bars at 84 bpm
(≈ 23 s), peaks at −9 dBFS, median frame level ≈ −19 dBm0 (G.711 convention: a full-scale sine
is +3.17 dBm0). numpy rather than `sox synth` so that the tune is deterministic, needs no tool,
and each note gets a music-box envelope that sox's per-command fades cannot give.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from firmware.media.frame import FRAME_MS, Frame, SampleRate, samples_per_frame

log = logging.getLogger(__name__)

DEFAULT_CLASS = "default"
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3", ".au", ".aif", ".aiff"})
SOX_TIMEOUT_S = 120.0

Pcm = npt.NDArray[np.int16]
Decoder = Callable[[Path, SampleRate], Pcm]
"""Decodes one file to mono int16 at the given rate; raises `AudioDecodeError`."""


class AudioDecodeError(Exception):
    """A file that could not be turned into telephone audio; the message says why."""


def decode_audio_file(path: Path, rate: SampleRate = SampleRate.NARROWBAND) -> Pcm:
    """Mono int16 samples of `path` at `rate`: stdlib `wave` when it already fits, else sox.

    Raises AudioDecodeError (unreadable file, sox missing, sox failure or timeout).
    """
    if path.suffix.lower() == ".wav":
        try:
            with wave.open(str(path), "rb") as w:
                fits = (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (int(rate), 1, 2)
                if fits:
                    return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
        except (wave.Error, EOFError) as exc:
            # Not a PCM WAV the stdlib reads (e.g. WAVE_FORMAT_EXTENSIBLE, A-law): try sox.
            log.debug("%s: stdlib wave cannot read it (%s); using sox", path, exc)
        except OSError as exc:
            raise AudioDecodeError(f"{path}: {exc.strerror or exc}") from exc
    return _decode_with_sox(path, rate)


def _decode_with_sox(path: Path, rate: SampleRate) -> Pcm:
    sox = shutil.which("sox")
    if sox is None:
        raise AudioDecodeError(f"{path}: sox is not installed (needed unless 8 kHz mono WAV)")
    command = [
        sox, "-V1", str(path),
        "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", "-c", "1", "-r", str(int(rate)),
        "-",
    ]  # fmt: skip
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            timeout=SOX_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise AudioDecodeError(f"{path}: sox took longer than {SOX_TIMEOUT_S:.0f} s") from exc
    if result.returncode != 0:
        reason = result.stderr.decode("utf-8", "replace").strip() or f"exit {result.returncode}"
        raise AudioDecodeError(f"{path}: sox: {reason}")
    data = result.stdout[: len(result.stdout) // 2 * 2]
    return np.frombuffer(data, dtype="<i2").astype(np.int16)


class MohClass:
    """One class, decoded: a read-only ring of 20 ms frames shared by every listener."""

    def __init__(
        self,
        name: str,
        audio: Pcm,
        rate: SampleRate = SampleRate.NARROWBAND,
        files: Sequence[Path] = (),
    ) -> None:
        self.name = name
        self.rate = rate
        self.files = tuple(files)
        n = samples_per_frame(rate)
        frames = max(1, -(-len(audio) // n))
        ring = np.zeros((frames, n), dtype=np.int16)
        ring.reshape(-1)[: len(audio)] = audio
        ring.flags.writeable = False
        self._ring = ring
        # One view object per row, made once, so every listener of a tick gets the same object.
        self._rows: list[Frame] = list(ring)

    @property
    def frames(self) -> int:
        """Length of the loop in 20 ms frames."""
        return len(self._rows)

    @property
    def duration_s(self) -> float:
        """Length of the loop in seconds."""
        return self.frames * FRAME_MS / 1000.0

    def frame_at(self, tick: int) -> Frame:
        """The read-only frame every listener of this class hears at media tick `tick`."""
        return self._rows[tick % len(self._rows)]


class MusicOnHold:
    """The music-on-hold classes under `root`, each decoded once on `load()`.

    `decoder` is injectable (tests count decodes); the default uses stdlib wave or sox.
    """

    def __init__(
        self,
        root: Path,
        *,
        rate: SampleRate = SampleRate.NARROWBAND,
        decoder: Decoder = decode_audio_file,
        max_class_duration_s: float = 900.0,
    ) -> None:
        self.root = root
        self.rate = rate
        self._decoder = decoder
        self._max_samples = int(max_class_duration_s * int(rate))
        self._classes: dict[str, MohClass] = {}
        self._silence = MohClass("silence", np.zeros(0, dtype=np.int16), rate)

    def available(self) -> list[str]:
        """Class names on disk (subdirectories of root), sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def loaded(self) -> list[str]:
        """Classes decoded and ready."""
        return sorted(self._classes)

    def load(self, names: Sequence[str] | None = None) -> None:
        """Decode `names` (default: every class on disk), replacing what was loaded for them.

        Blocking (file reads, sox): run in a worker thread. A class whose directory vanished is
        dropped; a class with no playable file is dropped (listeners fall back to default).
        """
        for name in names if names is not None else self.available():
            loaded = self._decode_class(name)
            if loaded is None:
                self._classes.pop(name, None)
            else:
                self._classes[name] = loaded

    def get(self, name: str) -> MohClass:
        """The loaded class `name`, else the default class, else silence (never raises)."""
        found = self._classes.get(name) or self._classes.get(DEFAULT_CLASS)
        return found if found is not None else self._silence

    def frame(self, name: str, tick: int) -> Frame:
        """Shorthand for `get(name).frame_at(tick)`: what a caller on hold in `name` hears."""
        return self.get(name).frame_at(tick)

    def _decode_class(self, name: str) -> MohClass | None:
        directory = self.root / name
        if not directory.is_dir():
            return None
        files = sorted(
            p for p in directory.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in AUDIO_SUFFIXES
        )  # fmt: skip
        parts: list[Pcm] = []
        used: list[Path] = []
        total = 0
        for path in files:
            if total >= self._max_samples:
                log.warning(
                    "music on hold %r: longer than the cap; %s and later files ignored",
                    name,
                    path.name,
                )
                break
            try:
                audio = self._decoder(path, self.rate)
            except AudioDecodeError as exc:
                log.warning("music on hold %r: skipping %s: %s", name, path.name, exc)
                continue
            if len(audio) == 0:
                continue
            audio = audio[: self._max_samples - total]
            parts.append(audio)
            used.append(path)
            total += len(audio)
        if not parts:
            log.warning("music on hold %r: no playable file in %s", name, directory)
            return None
        loaded = MohClass(name, np.concatenate(parts), self.rate, used)
        log.info("music on hold %r: %d file(s), %.1f s", name, len(used), loaded.duration_s)
        return loaded


# --- the project's default tune -----------------------------------------------------------------

_BPM = 84.0
# I–vi–IV–V in C major, two passes; MIDI note numbers of each bar's chord (root position).
_CHORDS = ((60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62))
_ARPEGGIO = (0, 1, 2, 1, 0, 1, 2, 1)  # eighth notes through the chord, bar after bar
_MELODY = (  # (MIDI note or None, beats) over 8 bars of 4 beats
    (72, 1.5),
    (71, 0.5),
    (69, 2.0),
    (69, 1.5),
    (67, 0.5),
    (64, 2.0),
    (65, 1.0),
    (67, 1.0),
    (69, 2.0),
    (67, 1.5),
    (62, 0.5),
    (67, 2.0),
    (72, 1.5),
    (74, 0.5),
    (76, 2.0),
    (72, 1.5),
    (69, 0.5),
    (72, 2.0),
    (69, 1.0),
    (72, 1.0),
    (74, 2.0),
    (71, 2.0),
    (67, 2.0),
)


def _note(midi: int, duration_s: float, rate: int, amplitude: float) -> npt.NDArray[np.float64]:
    """A music-box note: a few decaying harmonics with a 5 ms attack."""
    t = np.arange(int(duration_s * rate)) / rate
    f0 = 440.0 * 2.0 ** ((midi - 69) / 12.0)
    tone = np.zeros_like(t)
    for harmonic, weight in ((1, 1.0), (2, 0.35), (3, 0.12)):
        if f0 * harmonic < 0.45 * rate:
            tone += weight * np.sin(2.0 * math.pi * f0 * harmonic * t)
    envelope = np.exp(-t / 0.45) * np.minimum(1.0, t / 0.005)
    shaped: npt.NDArray[np.float64] = amplitude * tone * envelope
    return shaped


def default_tune(rate: SampleRate = SampleRate.NARROWBAND) -> Pcm:
    """The project's music-on-hold tune: 8 bars at 84 bpm (≈ 22.9 s) that loop without a seam."""
    fs = int(rate)
    beat_s = 60.0 / _BPM
    bars = 2 * len(_CHORDS)
    total_s = bars * 4 * beat_s
    out = np.zeros(int(total_s * fs) + fs, dtype=np.float64)

    def place(start_s: float, samples: npt.NDArray[np.float64]) -> None:
        i = int(start_s * fs)
        out[i : i + len(samples)] += samples[: len(out) - i]

    for bar in range(bars):
        chord = _CHORDS[bar % len(_CHORDS)]
        bar_s = bar * 4 * beat_s
        place(bar_s, _note(chord[0] - 12, 4 * beat_s, fs, 0.30))
        for step, which in enumerate(_ARPEGGIO):
            place(bar_s + step * beat_s / 2, _note(chord[which], 1.2, fs, 0.16))
    at_s = 0.0
    for midi, beats in _MELODY:
        place(at_s, _note(midi, max(beats * beat_s, 0.8), fs, 0.38))
        at_s += beats * beat_s
    # Fold the tail past the loop end back onto the start, so the loop point is seamless.
    loop = int(total_s * fs)
    tail = out[loop:]
    out = out[:loop]
    out[: len(tail)] += tail
    peak = float(np.abs(out).max())
    scaled = out * (32767.0 * 10.0 ** (-9.0 / 20.0) / peak)
    tune: Pcm = np.rint(scaled).astype(np.int16)
    return tune


def write_wav(path: Path, audio: Pcm, rate: SampleRate = SampleRate.NARROWBAND) -> None:
    """Write mono 16-bit `audio` to `path` atomically (temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            with wave.open(raw, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(int(rate))
                w.writeframes(audio.astype("<i2").tobytes())
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def install_default_class(root: Path) -> Path:
    """Write the default tune as `<root>/default/switchbox-tune.wav` (replacing it); its path."""
    path = root / DEFAULT_CLASS / "switchbox-tune.wav"
    write_wav(path, default_tune())
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m firmware.media.moh default --out ROOT`: install the default class."""
    parser = argparse.ArgumentParser(prog="python -m firmware.media.moh")
    commands = parser.add_subparsers(dest="command", required=True)
    default = commands.add_parser("default", help="write the project's default music-on-hold class")
    default.add_argument("--out", type=Path, required=True, help="music-on-hold root directory")
    args = parser.parse_args(argv)
    path = install_default_class(args.out)
    sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
