"""Voice prompts: generated with espeak-ng at install time, replaceable by the installer,
played frame by frame with barge-in.

Build (install time, idempotent — unchanged prompts are skipped by a manifest of text, voice
and speed hashes):

    python -m firmware.media.prompts build --out DIR --lang en,ru

writes `DIR/<lang>/<id>.wav` for every id of `prompt_catalog.CATALOG`: espeak-ng speaks the
text (voices en-us / ru, 150 words per minute), sox trims leading and trailing silence below
−55 dBFS, resamples to 8 kHz (sox `rate`, high quality), normalises the peak to −6 dBFS and adds
60 ms of silence at the end, so concatenated words ("caller number" + "twenty" + "one") flow
with a natural gap. Output: 8 kHz mono 16-bit PCM WAV, written temp-then-rename.

Lookup (`PromptLibrary`): an installer-uploaded recording `CUSTOM/<lang>/<id>.wav` (or
`.flac`, `.ogg`…; anything not 8 kHz mono 16-bit WAV is converted with sox when loaded) wins
over the generated `DIR/<lang>/<id>.wav`; a prompt missing in the caller's language falls back
to the library's default language. `python -m firmware.media.prompts upload` converts an
upload to 8 kHz mono WAV once, so the box never runs sox for it again.

Playback (`PromptPlayer`) is sans-I/O: the owner pulls one 20 ms frame per tick and forwards
DTMF digits to `on_digit()`, which stops playback at once (barge-in) and reports the digit and
how much had been played. Loading is blocking file I/O: run `PromptLibrary.preload()` in a
worker thread at start-up.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from firmware.config.durable import write_json_atomic
from firmware.media.frame import FRAME_MS, Frame, SampleRate, samples_per_frame
from firmware.media.moh import AUDIO_SUFFIXES, AudioDecodeError, Pcm, decode_audio_file
from firmware.media.prompt_catalog import CATALOG, Language

log = logging.getLogger(__name__)

VOICES: dict[Language, str] = {Language.EN: "en-us", Language.RU: "ru"}
"""espeak-ng voice per language."""
SPEED_WPM = 150
"""Speaking rate: a little slower than espeak's 175, clearer over a phone line."""
TRIM_THRESHOLD_DB = -55
PEAK_DBFS = -6.0
TAIL_PAD_S = 0.06
TOOL_TIMEOUT_S = 60.0
MANIFEST = "manifest.json"
_ID_PATTERN = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")


class PromptError(Exception):
    """A prompt that cannot be built, found or installed; the message says which and why."""


class PromptNotFound(PromptError, KeyError):
    """Neither an uploaded nor a generated file exists for the prompt in any allowed language."""


# --- build ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What `build()` did."""

    built: tuple[str, ...] = ()
    """`lang/id` of prompts (re)generated."""
    skipped: tuple[str, ...] = ()
    """`lang/id` of prompts already up to date."""


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise PromptError(f"{name} is not installed (apt install {name})")
    return found


def _run(command: list[str], stdin: bytes | None = None) -> None:
    try:
        result = subprocess.run(
            command, input=stdin, capture_output=True, timeout=TOOL_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        tool = Path(command[0]).name
        raise PromptError(f"{tool} took longer than {TOOL_TIMEOUT_S:.0f} s") from exc
    if result.returncode != 0:
        detail = result.stderr.decode("utf-8", "replace").strip() or f"exit {result.returncode}"
        raise PromptError(f"{Path(command[0]).name} failed: {detail}")


def _fingerprint(language: Language, prompt_text: str) -> str:
    settings = f"{VOICES[language]}|{SPEED_WPM}|{TRIM_THRESHOLD_DB}|{PEAK_DBFS}|{TAIL_PAD_S}"
    key = f"{settings}|{prompt_text}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def synthesise(language: Language, prompt_text: str, out: Path, workdir: Path) -> None:
    """Speak `prompt_text` into `out` (8 kHz mono s16 WAV, trimmed, normalised), atomically.

    Raises PromptError when espeak-ng or sox is missing or fails.
    """
    espeak, sox = _tool("espeak-ng"), _tool("sox")
    out.parent.mkdir(parents=True, exist_ok=True)
    spoken = workdir / f"{out.stem}.{language.value}.22k.wav"
    temp = out.with_name(f".{out.name}.tmp")
    # Text on stdin: no prompt text can be mistaken for an option.
    _run([espeak, "-v", VOICES[language], "-s", str(SPEED_WPM), "-w", str(spoken), "--stdin"],
         stdin=prompt_text.encode("utf-8"))  # fmt: skip
    trim = ["silence", "1", "0.01", f"{TRIM_THRESHOLD_DB}d"]
    _run([
        sox, "-V1", str(spoken), "-t", "wav", "-e", "signed-integer", "-b", "16", "-c", "1",
        str(temp), *trim, "reverse", *trim, "reverse", "rate", "8000",
        "gain", "-n", str(PEAK_DBFS), "pad", "0", str(TAIL_PAD_S),
    ])  # fmt: skip
    with open(temp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(temp, out)
    spoken.unlink(missing_ok=True)


def build(
    out_dir: Path,
    languages: Sequence[Language],
    prompt_ids: Iterable[str] | None = None,
    *,
    force: bool = False,
    jobs: int = 2,
) -> BuildReport:
    """Generate the prompts of `languages` (all ids, or `prompt_ids`) under `out_dir/<lang>/`.

    Skips prompts whose text, voice and processing are unchanged since the last build (unless
    `force`). Raises PromptError for an unknown id or a tool failure (prompts built before the
    failure stay, and are recorded in the manifest).
    """
    manifest_path = out_dir / MANIFEST
    try:
        manifest: dict[str, str] = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        manifest = {}
    wanted = list(prompt_ids) if prompt_ids is not None else None
    todo: list[tuple[Language, str, str]] = []
    skipped: list[str] = []
    for language in languages:
        texts = CATALOG[language]
        ids = wanted if wanted is not None else sorted(texts)
        for prompt_id in ids:
            if prompt_id not in texts:
                raise PromptError(f"no prompt {prompt_id!r} in {language.value}")
            key = f"{language.value}/{prompt_id}"
            target = out_dir / language.value / f"{prompt_id}.wav"
            current = manifest.get(key) == _fingerprint(language, texts[prompt_id])
            if current and target.is_file() and not force:
                skipped.append(key)
            else:
                todo.append((language, prompt_id, key))
    built: list[str] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="prompts-") as work:

        def one(item: tuple[Language, str, str]) -> str:
            language, prompt_id, key = item
            synthesise(language, CATALOG[language][prompt_id],
                       out_dir / language.value / f"{prompt_id}.wav", Path(work))  # fmt: skip
            return key

        error: PromptError | None = None
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [(item, pool.submit(one, item)) for item in todo]
            for (language, prompt_id, key), future in futures:
                try:
                    future.result()
                except PromptError as exc:
                    error = error or PromptError(f"{key}: {exc}")
                    continue
                manifest[key] = _fingerprint(language, CATALOG[language][prompt_id])
                built.append(key)
    write_json_atomic(manifest_path, manifest, 0o644)
    if error is not None:
        raise error
    log.info("prompts: %d built, %d up to date in %s", len(built), len(skipped), out_dir)
    return BuildReport(tuple(built), tuple(skipped))


# --- installer uploads ------------------------------------------------------------------------


def install_upload(source: Path, custom_dir: Path, language: Language, prompt_id: str) -> Path:
    """Convert an uploaded recording to `custom_dir/<lang>/<id>.wav` (8 kHz mono s16), atomically.

    The id must be in the catalog (this also keeps uploads inside `custom_dir`). Any earlier
    upload of the prompt in another format is removed. Raises PromptError when the id is unknown
    or sox cannot read the file.
    """
    if prompt_id not in CATALOG[language] or not _ID_PATTERN.match(prompt_id):
        raise PromptError(f"no prompt {prompt_id!r} in {language.value}")
    sox = _tool("sox")
    target_dir = custom_dir / language.value
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{prompt_id}.wav"
    temp = target.with_name(f".{target.name}.tmp")
    try:
        _run([sox, "-V1", str(source), "-t", "wav", "-e", "signed-integer", "-b", "16",
              "-c", "1", "-r", "8000", str(temp)])  # fmt: skip
        with open(temp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    for stale in target_dir.glob(f"{prompt_id}.*"):
        if stale != target and stale.suffix.lower() in AUDIO_SUFFIXES:
            stale.unlink()
    return target


# --- lookup -----------------------------------------------------------------------------------


class PromptLibrary:
    """Finds and caches prompt audio: uploaded over generated, then the default language."""

    def __init__(
        self,
        generated_dir: Path,
        custom_dir: Path | None = None,
        *,
        default_language: Language = Language.EN,
        rate: SampleRate = SampleRate.NARROWBAND,
    ) -> None:
        self.generated_dir = generated_dir
        self.custom_dir = custom_dir
        self.default_language = default_language
        self.rate = rate
        self._cache: dict[tuple[Language, str], Pcm] = {}

    def path(self, language: Language, prompt_id: str) -> Path:
        """The file that will be played for `prompt_id`; raises PromptNotFound."""
        for lang in dict.fromkeys((language, self.default_language)):
            found = self._find(lang, prompt_id)
            if found is not None:
                return found
        raise PromptNotFound(f"no recording of prompt {prompt_id!r} ({language.value})")

    def _find(self, language: Language, prompt_id: str) -> Path | None:
        if not _ID_PATTERN.match(prompt_id):
            return None
        if self.custom_dir is not None:
            directory = self.custom_dir / language.value
            for suffix in (".wav", ".flac", *sorted(AUDIO_SUFFIXES - {".wav", ".flac"})):
                candidate = directory / f"{prompt_id}{suffix}"
                if candidate.is_file():
                    return candidate
        generated = self.generated_dir / language.value / f"{prompt_id}.wav"
        return generated if generated.is_file() else None

    def audio(self, language: Language, prompt_id: str) -> Pcm:
        """Samples of `prompt_id` (cached; blocking the first time). Raises PromptNotFound or
        PromptError when the file does not decode."""
        key = (language, prompt_id)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        path = self.path(language, prompt_id)
        try:
            samples = decode_audio_file(path, self.rate)
        except AudioDecodeError as exc:
            raise PromptError(str(exc)) from exc
        samples.flags.writeable = False
        self._cache[key] = samples
        return samples

    def preload(self, languages: Iterable[Language]) -> list[str]:
        """Load every catalog prompt of `languages`; returns `lang/id` of those missing."""
        missing: list[str] = []
        for language in languages:
            for prompt_id in CATALOG[language]:
                try:
                    self.audio(language, prompt_id)
                except PromptError as exc:
                    log.warning("prompt %s/%s unavailable: %s", language.value, prompt_id, exc)
                    missing.append(f"{language.value}/{prompt_id}")
        return missing

    def forget(self, language: Language, prompt_id: str) -> None:
        """Drop the cached audio (after an upload) so the next use reads the new file."""
        self._cache.pop((language, prompt_id), None)

    def player(
        self, language: Language, prompt_ids: Sequence[str], *, barge_in: bool = True
    ) -> PromptPlayer:
        """A player for the sentence `prompt_ids` (see `prompt_catalog` phrase builders)."""
        clips = [self.audio(language, p) for p in prompt_ids]
        return PromptPlayer(clips, rate=self.rate, barge_in=barge_in)


# --- playback ---------------------------------------------------------------------------------


class PlayerState(Enum):
    """Where a prompt player is."""

    PLAYING = "playing"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class BargeIn:
    """The caller pressed a key during a prompt and playback stopped."""

    digit: str
    played_ms: int
    """How much of the sentence had been heard, in whole frames."""


@dataclass(slots=True)
class PromptPlayer:
    """Plays clips back to back, one 20 ms frame per `next_frame()`; stops on a digit.

    Not thread-safe: the media tick owns it.
    """

    clips: Sequence[Pcm]
    rate: SampleRate = SampleRate.NARROWBAND
    barge_in: bool = True
    """When False, digits do not stop playback (legal notices); the owner buffers them."""
    state: PlayerState = field(init=False, default=PlayerState.PLAYING)
    _rows: list[Frame] = field(init=False, default_factory=list)
    _next: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        n = samples_per_frame(self.rate)
        audio = np.concatenate(list(self.clips)) if self.clips else np.zeros(0, np.int16)
        ring = np.zeros((-(-len(audio) // n), n), dtype=np.int16)
        ring.reshape(-1)[: len(audio)] = audio
        ring.flags.writeable = False
        self._rows = list(ring)
        if not self._rows:
            self.state = PlayerState.FINISHED

    @property
    def duration_ms(self) -> int:
        """Length of the whole sentence, in whole frames."""
        return len(self._rows) * FRAME_MS

    @property
    def played_ms(self) -> int:
        """How much has been handed out so far."""
        return self._next * FRAME_MS

    def next_frame(self) -> Frame | None:
        """The next frame (read-only), or None once finished or interrupted."""
        if self.state is not PlayerState.PLAYING:
            return None
        frame = self._rows[self._next]
        self._next += 1
        if self._next == len(self._rows):
            self.state = PlayerState.FINISHED
        return frame

    def on_digit(self, digit: str) -> BargeIn | None:
        """A DTMF digit arrived: stop (barge-in) and report it; None if not playing or not
        interruptible (the owner keeps the digit as type-ahead)."""
        if self.state is not PlayerState.PLAYING or not self.barge_in:
            return None
        self.state = PlayerState.INTERRUPTED
        return BargeIn(digit, self.played_ms)


# --- command line -----------------------------------------------------------------------------


def _languages(value: str) -> list[Language]:
    try:
        return [Language(part.strip()) for part in value.split(",") if part.strip()]
    except ValueError as exc:
        known = ",".join(lang.value for lang in Language)
        raise argparse.ArgumentTypeError(f"{exc}; languages are {known}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    """`build --out DIR --lang en,ru [--only ID,…] [--force]`; `upload --custom DIR --lang en
    --id ID FILE`. Exit status 1 with the reason on stderr when a tool or file fails."""
    parser = argparse.ArgumentParser(prog="python -m firmware.media.prompts")
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build", help="generate prompts with espeak-ng (idempotent)")
    b.add_argument("--out", type=Path, required=True, help="generated prompts directory")
    b.add_argument("--lang", type=_languages, default=list(Language), help="e.g. en,ru")
    b.add_argument("--only", default=None, help="comma-separated prompt ids (default: all)")
    b.add_argument("--force", action="store_true", help="rebuild even if up to date")
    b.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    u = commands.add_parser("upload", help="install a recorded prompt over the generated one")
    u.add_argument("--custom", type=Path, required=True, help="uploaded prompts directory")
    u.add_argument("--lang", type=Language, required=True)
    u.add_argument("--id", required=True, dest="prompt_id")
    u.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "build":
            only = [p.strip() for p in args.only.split(",")] if args.only else None
            report = build(args.out, args.lang, only, force=args.force, jobs=args.jobs)
            sys.stdout.write(f"{len(report.built)} built, {len(report.skipped)} up to date\n")
        else:
            target = install_upload(args.file, args.custom, args.lang, args.prompt_id)
            sys.stdout.write(f"{target}\n")
    except PromptError as exc:
        sys.stderr.write(f"prompts: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
