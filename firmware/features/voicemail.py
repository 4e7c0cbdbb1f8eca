"""Voicemail (issue 6 item 6): mailboxes, a crash-safe message store, the leave-a-message flow,
the PIN-protected phone menu and message-waiting events.

Store layout under `root/<mailbox>/` (one directory per employee or department mailbox):

- `incoming/` — messages being recorded, written by `firmware/media/recorder.py` (a valid WAV
  at all times, fsynced every `flush_interval_s`, plus its JSON sidecar with caller and start);
- `messages/<id>.wav` + `messages/<id>.json` — a message exists exactly when both are there.
  The folder (new / saved) is a field of the JSON, so saving is one atomic replace of one file;
- `greetings/{unavailable,busy,name}.wav` — replaced atomically (record to a temp, rename);
- `pin.json` — a changed PIN (PBKDF2-HMAC-SHA256, salted); absent: the configured PIN.

Every JSON write is temp file, fsync, rename, directory fsync. Order of operations, so a crash
at any instant leaves either the old or the new state, never a lost or a phantom message:
commit = index JSON first, then rename the audio in; delete = audio first, then the index.
`VoicemailStore.recover()` (run at start-up) finalises `incoming/` (`recorder.recover`), moves
audio whose index was written, drops an index without audio (an interrupted delete), indexes
audio without an index (marked `recovered`) when it is at least `min_message_s` long and
discards shorter fragments.

Quotas per mailbox: message count and total seconds; a caller to a full mailbox hears
"The mailbox is full" and the call ends; a message is cut at the seconds left.

Leave-a-message: greeting by reason (busy greeting → unavailable greeting → the catalog's
"The person at extension 2 0 1 is not available"), beep, record up to `max_message_s`; "#",
hang-up, `silence_s` (5 s) below `silence_level_dbm0` (−45 dBm0) or the length limit end it;
a message with less than `min_message_s` (1 s) before the trailing silence is discarded.
Levels use the G.711 convention: a full-scale int16 sine is +3.17 dBm0, so a 0 dBm0 sine has
peak amplitude 32767 · 10^(−3.17/20) ≈ 22776 (RMS ≈ 16105).

Phone menu: PIN + "#"; `pin_attempts` (3) wrong PINs lock the mailbox (and the calling source)
for `lockout_s` (300 s); every wrong PIN is answered only after `retry_delay_s` (2 s). Then
1 new messages (then saved), 2 saved, 3/5/6 record the unavailable/busy/name greeting, 4 change
PIN (twice), * exit; in a message: 1 replay, 5 envelope, 7 delete, 9 save, # or 6 next,
4 previous, * main menu. Counters change → `MessageWaitingChanged` (SIP NOTIFY message-summary
RFC 3842, analog stutter tone/lamp, DECT later).

The sessions are state machines with `now` passed in; the store does blocking file I/O (a few
fsyncs per operation): the controller calls them from a worker when the storage is slow.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
import re
import secrets
import wave
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from enum import Enum, StrEnum
from pathlib import Path

import numpy as np

from firmware.config.durable import fsync_directory, write_json_atomic
from firmware.config.schema import ID_HINT, ID_PATTERN, setting
from firmware.features.destination import Destination
from firmware.features.menu import (
    FaxToneDetected,
    PlayPrompt,
    StopPrompt,
    Transfer,
)
from firmware.media import prompt_catalog as catalog
from firmware.media.frame import Frame, SampleRate
from firmware.media.recorder import (
    CallRecorder,
    RecorderSettings,
    RecordingError,
    RecordingLayout,
    RecordingParty,
)
from firmware.media.recorder import recover as recover_recordings

log = logging.getLogger(__name__)

INDEX_VERSION = 1
DBM0_RMS = 32767 * 10 ** (-3.17 / 20) / math.sqrt(2)
"""RMS of a 0 dBm0 sine in int16 units (G.711: full-scale sine = +3.17 dBm0)."""
_PBKDF2_ITERATIONS = 50_000
_MESSAGE_ID = re.compile(r"[0-9A-Za-z_-]+")


class MailboxOwner(StrEnum):
    """Whose mailbox it is."""

    EMPLOYEE = "employee"
    DEPARTMENT = "department"


class Folder(StrEnum):
    """Message folders."""

    NEW = "new"
    SAVED = "saved"


class GreetingKind(StrEnum):
    """Recorded greetings of a mailbox."""

    UNAVAILABLE = "unavailable"
    BUSY = "busy"
    NAME = "name"


class LeaveReason(StrEnum):
    """Why the call reached voicemail (chooses the greeting)."""

    BUSY = "busy"
    UNAVAILABLE = "unavailable"


class EndReason(StrEnum):
    """Why a recording ended."""

    KEY = "key"
    HANGUP = "hangup"
    SILENCE = "silence"
    MAX_LENGTH = "max_length"


# --- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MailboxSettings:
    """One mailbox (configuration)."""

    id: str = field(metadata=setting("Mailbox id (usually the user or department id).",
                                     minimum=1, maximum=32, pattern=ID_PATTERN,
                                     pattern_hint=ID_HINT, example="alice"))
    extension: str = field(default="", metadata=setting(
        "Extension said by the default greeting; empty: the greeting names no number.",
        maximum=16, pattern=r"[0-9]*", pattern_hint="digits", example='"201"'))
    owner: MailboxOwner = field(default=MailboxOwner.EMPLOYEE, metadata=setting(
        "An employee's or a department's mailbox."))
    pin: str = field(default="", metadata=setting(
        "Initial PIN (4-8 digits) until changed from the phone; empty: no phone access.",
        maximum=8, pattern=r"([0-9]{4,8})?", pattern_hint="4 to 8 digits"))
    max_messages: int = field(default=100, metadata=setting(
        "Most messages kept (new + saved).", minimum=1, maximum=999))
    max_total_s: float = field(default=1800.0, metadata=setting(
        "Most seconds of messages kept (new + saved).", unit="s", minimum=60.0,
        maximum=36000.0))
    max_message_s: float = field(default=180.0, metadata=setting(
        "Longest message.", unit="s", minimum=10.0, maximum=1200.0))
    language: catalog.Language = field(default=catalog.Language.EN, metadata=setting(
        "Language of the mailbox prompts."))


@dataclass(frozen=True, slots=True)
class VoicemailSettings:
    """Box-wide voicemail behaviour (configuration)."""

    min_message_s: float = field(default=1.0, metadata=setting(
        "Shorter messages (before trailing silence) are discarded.", unit="s", minimum=0.0,
        maximum=10.0))
    silence_s: float = field(default=5.0, metadata=setting(
        "Silence that ends a recording.", unit="s", minimum=1.0, maximum=30.0))
    silence_level_dbm0: float = field(default=-45.0, metadata=setting(
        "Frames quieter than this count as silence.", unit="dBm0", minimum=-70.0,
        maximum=-20.0))
    greeting_max_s: float = field(default=60.0, metadata=setting(
        "Longest recorded greeting.", unit="s", minimum=5.0, maximum=300.0))
    pin_attempts: int = field(default=3, metadata=setting(
        "Wrong PINs in a row that lock a mailbox (and the calling source).", minimum=1,
        maximum=10))
    lockout_s: float = field(default=300.0, metadata=setting(
        "How long a locked mailbox refuses PINs.", unit="s", minimum=10.0, maximum=86400.0))
    retry_delay_s: float = field(default=2.0, metadata=setting(
        "Delay before a wrong PIN is answered (throttling).", unit="s", minimum=0.0,
        maximum=30.0))
    input_timeout_s: float = field(default=10.0, metadata=setting(
        "No key for this long repeats the prompt; three times ends the call.", unit="s",
        minimum=3.0, maximum=60.0))
    fax: Destination | None = field(default=None, metadata=setting(
        "Where a fax tone on a voicemail line goes; unset: ignored."))


# --- records and events -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    """A stored message (the index entry)."""

    id: str
    mailbox: str
    folder: Folder
    caller: str
    caller_name: str
    received_at: datetime
    duration_s: float
    audio_path: Path
    recovered: bool = False


@dataclass(frozen=True, slots=True)
class MessageWaitingChanged:
    """A mailbox's counts changed: light or clear the lamp, send NOTIFY message-summary."""

    mailbox: str
    new_count: int
    saved_count: int


class VoicemailError(Exception):
    """The store cannot do what was asked; the message says why."""


class MailboxFull(VoicemailError):
    """A quota leaves no room for another message."""


# --- the store --------------------------------------------------------------------------------


def _wav_duration_s(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


class Draft:
    """A message or greeting being recorded: feed `write()`; the store commits or discards it."""

    def __init__(self, recorder: CallRecorder, mailbox: str, message_id: str,
                 greeting: GreetingKind | None, caller: str, caller_name: str,
                 received_at: datetime) -> None:
        self.recorder = recorder
        self.mailbox = mailbox
        self.message_id = message_id
        self.greeting = greeting
        self.caller = caller
        self.caller_name = caller_name
        self.received_at = received_at

    def write(self, frame: Frame, now: float) -> None:
        """Append one frame of the caller's audio (raises RecordingError on I/O failure)."""
        self.recorder.write(frame, None, now)


class VoicemailStore:
    """Messages, greetings and PINs on disk under `root`. Not thread-safe: one owner."""

    def __init__(self, root: Path, *, rate: SampleRate = SampleRate.NARROWBAND,
                 min_free_bytes: int = 50 * 1024 * 1024, flush_interval_s: float = 1.0) -> None:
        self.root = root
        self._recorder_settings = RecorderSettings(
            layout=RecordingLayout.MIXED, rate=rate, flush_interval_s=flush_interval_s,
            min_free_bytes=min_free_bytes, max_duration_s=None,
        )

    def _dir(self, mailbox: str, sub: str) -> Path:
        if not re.fullmatch(ID_PATTERN, mailbox):
            raise VoicemailError(f"bad mailbox id {mailbox!r}")
        path = self.root / mailbox / sub
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- reading --

    def messages(self, mailbox: str, folder: Folder | None = None) -> list[Message]:
        """Messages with both audio and index, oldest first; `folder` None: all."""
        out = []
        directory = self._dir(mailbox, "messages")
        for index in sorted(directory.glob("*.json")):
            audio = index.with_suffix(".wav")
            if not audio.is_file():
                continue
            try:
                data = json.loads(index.read_text(encoding="utf-8"))
                message = Message(
                    id=index.stem, mailbox=mailbox, folder=Folder(data["folder"]),
                    caller=str(data.get("caller", "")),
                    caller_name=str(data.get("caller_name", "")),
                    received_at=datetime.fromisoformat(data["received_at"]),
                    duration_s=float(data["duration_s"]), audio_path=audio,
                    recovered=bool(data.get("recovered", False)),
                )
            except (OSError, ValueError, KeyError) as exc:
                log.warning("voicemail index %s unreadable: %s", index, exc)
                continue
            if folder is None or message.folder is folder:
                out.append(message)
        out.sort(key=lambda m: (m.received_at, m.id))
        return out

    def counts(self, mailbox: str) -> MessageWaitingChanged:
        """The mailbox's current new and saved counts."""
        all_messages = self.messages(mailbox)
        new = sum(1 for m in all_messages if m.folder is Folder.NEW)
        return MessageWaitingChanged(mailbox, new, len(all_messages) - new)

    def room_s(self, settings: MailboxSettings) -> float:
        """Seconds a new message may last under the quotas (0: full)."""
        stored = self.messages(settings.id)
        if len(stored) >= settings.max_messages:
            return 0.0
        left = settings.max_total_s - sum(m.duration_s for m in stored)
        return max(0.0, min(left, settings.max_message_s))

    def greeting_path(self, mailbox: str, kind: GreetingKind) -> Path | None:
        """The recorded greeting, or None."""
        path = self._dir(mailbox, "greetings") / f"{kind.value}.wav"
        return path if path.is_file() else None

    # -- recording --

    def begin_message(self, mailbox: str, caller: str, caller_name: str, now: float,
                      wall: datetime) -> Draft:
        """Start recording a message into `incoming/`.

        Raises RecordingError (RecordingRefused: disk low, not writable) — nothing is stored.
        """
        message_id = f"{wall.astimezone(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
        recorder = CallRecorder.open(
            self._dir(mailbox, "incoming"), message_id, [RecordingParty("caller", caller,
                                                                        caller_name)],
            codec="L16", now=now, started_wall_s=wall.timestamp(),
            settings=self._recorder_settings, name=message_id,
        )
        return Draft(recorder, mailbox, message_id, None, caller, caller_name, wall)

    def begin_greeting(self, mailbox: str, kind: GreetingKind, now: float,
                       wall: datetime) -> Draft:
        """Start recording a greeting (replaces the old one only on commit)."""
        name = f"rec-{kind.value}-{secrets.token_hex(4)}"
        recorder = CallRecorder.open(
            self._dir(mailbox, "greetings") / "incoming", name, [], codec="L16", now=now,
            started_wall_s=wall.timestamp(), settings=self._recorder_settings, name=name,
        )
        return Draft(recorder, mailbox, name, kind, "", "", wall)

    def commit(self, draft: Draft, now: float) -> MessageWaitingChanged | None:
        """Finish a draft: a message is indexed as new (returns the new counts); a greeting
        replaces the previous one (returns None). Raises RecordingError on I/O failure."""
        recording = draft.recorder.close(now)
        if draft.greeting is not None:
            target = self._dir(draft.mailbox, "greetings") / f"{draft.greeting.value}.wav"
            os.replace(recording.audio_path, target)
            recording.metadata_path.unlink(missing_ok=True)
            fsync_directory(target.parent)
            return None
        messages = self._dir(draft.mailbox, "messages")
        self._index(messages / f"{draft.message_id}.json", Folder.NEW, draft.caller,
                    draft.caller_name, draft.received_at, float(recording.metadata["duration_s"]),
                    recovered=False)
        os.replace(recording.audio_path, messages / f"{draft.message_id}.wav")
        fsync_directory(messages)
        recording.metadata_path.unlink(missing_ok=True)
        log.info("voicemail %r: message %s from %r (%.1f s)", draft.mailbox, draft.message_id,
                 draft.caller, recording.metadata["duration_s"])
        return self.counts(draft.mailbox)

    def discard(self, draft: Draft, now: float) -> None:
        """Throw a draft away (too short, hung up during a greeting recording)."""
        try:
            recording = draft.recorder.close(now)
        except RecordingError as exc:
            log.warning("voicemail %r: discarding draft: %s", draft.mailbox, exc)
            return
        recording.audio_path.unlink(missing_ok=True)
        recording.metadata_path.unlink(missing_ok=True)

    @staticmethod
    def _index(path: Path, folder: Folder, caller: str, caller_name: str, received_at: datetime,
               duration_s: float, *, recovered: bool) -> None:
        write_json_atomic(path, {
            "version": INDEX_VERSION, "folder": folder.value, "caller": caller,
            "caller_name": caller_name, "received_at": received_at.astimezone(UTC).isoformat(),
            "duration_s": round(duration_s, 3), "recovered": recovered,
        })

    # -- changing --

    def _message_index(self, mailbox: str, message_id: str) -> Path:
        if not _MESSAGE_ID.fullmatch(message_id):
            raise VoicemailError(f"bad message id {message_id!r}")
        return self._dir(mailbox, "messages") / f"{message_id}.json"

    def move(self, mailbox: str, message_id: str, folder: Folder) -> MessageWaitingChanged:
        """Put a message in `folder` (one atomic index replace); returns the new counts."""
        index = self._message_index(mailbox, message_id)
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise VoicemailError(f"no message {message_id!r} in {mailbox!r}: {exc}") from exc
        data["folder"] = folder.value
        write_json_atomic(index, data, 0o600)
        return self.counts(mailbox)

    def delete(self, mailbox: str, message_id: str) -> MessageWaitingChanged:
        """Remove a message: audio first, then the index (so it can never come back)."""
        index = self._message_index(mailbox, message_id)
        index.with_suffix(".wav").unlink(missing_ok=True)
        fsync_directory(index.parent)
        index.unlink(missing_ok=True)
        fsync_directory(index.parent)
        return self.counts(mailbox)

    # -- PIN --

    def check_pin(self, settings: MailboxSettings, pin: str) -> bool:
        """Whether `pin` opens the mailbox (the changed PIN, else the configured one)."""
        path = self.root / settings.id / "pin.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return bool(settings.pin) and hmac.compare_digest(pin.encode(), settings.pin.encode())
        except (OSError, ValueError) as exc:
            log.warning("voicemail %r: unreadable %s (%s); using the configured PIN",
                        settings.id, path, exc)
            return bool(settings.pin) and hmac.compare_digest(pin.encode(), settings.pin.encode())
        digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(data["salt"]),
                                     int(data["iterations"]))
        return hmac.compare_digest(digest.hex(), str(data["hash"]))

    def set_pin(self, mailbox: str, pin: str) -> None:
        """Store a new PIN (4-8 digits) durably, hashed. Raises VoicemailError for a bad PIN."""
        if not re.fullmatch(r"[0-9]{4,8}", pin):
            raise VoicemailError("a PIN is 4 to 8 digits")
        salt = secrets.token_bytes(16)
        digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, _PBKDF2_ITERATIONS)
        self._dir(mailbox, "")
        write_json_atomic(self.root / mailbox / "pin.json", {
            "version": 1, "salt": salt.hex(), "iterations": _PBKDF2_ITERATIONS,
            "hash": digest.hex(),
        })

    # -- start-up --

    def recover(self, min_message_s: float = 1.0) -> list[MessageWaitingChanged]:
        """Finish whatever a crash interrupted; returns the counts of mailboxes it changed."""
        changed: list[MessageWaitingChanged] = []
        if not self.root.is_dir():
            return changed
        for box in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if not re.fullmatch(ID_PATTERN, box.name):
                continue
            if self._recover_mailbox(box, min_message_s):
                changed.append(self.counts(box.name))
        return changed

    def _recover_mailbox(self, box: Path, min_message_s: float) -> bool:
        incoming, messages = box / "incoming", self._dir(box.name, "messages")
        greetings_incoming = box / "greetings" / "incoming"
        changed = False
        # Temporary files of an interrupted write_json_atomic (firmware/config/durable.py).
        for stale in [*messages.glob(".tmp-*"), *box.glob(".tmp-*")]:
            stale.unlink(missing_ok=True)
        if greetings_incoming.is_dir():  # an unfinished greeting never replaces the old one
            for stale in greetings_incoming.iterdir():
                stale.unlink(missing_ok=True)
        recover_recordings(incoming)
        for index in sorted(messages.glob("*.json")):
            audio = index.with_suffix(".wav")
            if audio.is_file():
                continue
            pending = incoming / audio.name
            if pending.is_file():  # crashed between index and rename: finish the commit
                os.replace(pending, audio)
                (incoming / index.name).unlink(missing_ok=True)
                log.warning("voicemail %r: finished committing %s", box.name, audio.name)
            else:  # crashed during a delete: finish it
                index.unlink()
                log.warning("voicemail %r: finished deleting %s", box.name, index.stem)
            changed = True
        if incoming.is_dir():
            for audio in sorted(incoming.glob("*.wav")):
                sidecar = audio.with_suffix(".json")
                changed |= self._adopt(box.name, audio, sidecar, messages, min_message_s)
        for audio in sorted(messages.glob("*.wav")):
            if not audio.with_suffix(".json").is_file():
                changed |= self._adopt(box.name, audio, None, messages, min_message_s)
        fsync_directory(messages)
        return changed

    def _adopt(self, mailbox: str, audio: Path, sidecar: Path | None, messages: Path,
               min_message_s: float) -> bool:
        try:
            duration_s = _wav_duration_s(audio)
        except (OSError, EOFError, wave.Error) as exc:
            log.warning("voicemail %r: unreadable %s (%s); discarded", mailbox, audio, exc)
            duration_s = -1.0
        if duration_s < min_message_s:
            audio.unlink(missing_ok=True)
            if sidecar is not None:
                sidecar.unlink(missing_ok=True)
            log.warning("voicemail %r: discarded a %.1f s fragment %s", mailbox,
                        max(duration_s, 0.0), audio.name)
            return False
        caller = caller_name = ""
        received_at = datetime.fromtimestamp(audio.stat().st_mtime, UTC)
        if sidecar is not None:
            try:
                meta = json.loads(sidecar.read_text(encoding="utf-8"))
                party = (meta.get("parties") or [{}])[0]
                caller, caller_name = str(party.get("number", "")), str(party.get("name", ""))
                received_at = datetime.fromisoformat(str(meta["started_at"]).replace("Z",
                                                                                     "+00:00"))
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                log.warning("voicemail %r: sidecar %s unreadable: %s", mailbox, sidecar, exc)
        target = messages / audio.name
        self._index(target.with_suffix(".json"), Folder.NEW, caller, caller_name, received_at,
                    duration_s, recovered=True)
        if audio != target:
            os.replace(audio, target)
        if sidecar is not None:
            sidecar.unlink(missing_ok=True)
        log.warning("voicemail %r: recovered message %s (%.1f s)", mailbox, audio.stem,
                    duration_s)
        return True


# --- PIN guard --------------------------------------------------------------------------------


class PinGuard:
    """Counts wrong PINs per mailbox and per calling source; locks either for `lockout_s`.

    Shared by all sessions (hanging up and calling again does not reset the count); in memory,
    so a reboot unlocks — acceptable since a reboot takes longer than the throttle allows
    guesses.
    """

    def __init__(self, settings: VoicemailSettings) -> None:
        self._settings = settings
        self._failures: dict[str, int] = {}
        self._locked_until: dict[str, float] = {}

    def locked(self, mailbox: str, source: str, now: float) -> bool:
        """Whether PIN entry is refused now for this mailbox or source."""
        return any(self._locked_until.get(k, -math.inf) > now
                   for k in (f"box:{mailbox}", f"src:{source}"))

    def failure(self, mailbox: str, source: str, now: float) -> bool:
        """Count a wrong PIN; True when that locks the mailbox or the source."""
        locked = False
        for key in (f"box:{mailbox}", f"src:{source}"):
            if self._locked_until.get(key, -math.inf) <= now and key in self._locked_until:
                del self._locked_until[key]  # the lock expired: start counting afresh
                self._failures[key] = 0
            self._failures[key] = self._failures.get(key, 0) + 1
            if self._failures[key] >= self._settings.pin_attempts:
                self._locked_until[key] = now + self._settings.lockout_s
                self._failures[key] = 0
                locked = True
                log.warning("voicemail: PIN entry locked for %s until %.0f", key,
                            now + self._settings.lockout_s)
        return locked

    def success(self, mailbox: str, source: str) -> None:
        """A right PIN clears the counts."""
        self._failures.pop(f"box:{mailbox}", None)
        self._failures.pop(f"src:{source}", None)


# --- session outputs --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlayFile:
    """Play a recorded file (a message or a greeting), then call `on_prompt_finished`."""

    path: Path


@dataclass(frozen=True, slots=True)
class PlayBeep:
    """Play the record tone, then call `on_prompt_finished`."""


@dataclass(frozen=True, slots=True)
class Record:
    """Send the caller's audio to `on_frame` from now on."""

    max_duration_s: float


@dataclass(frozen=True, slots=True)
class StopRecording:
    """Stop sending audio to `on_frame`."""


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call."""


VoicemailAction = (PlayPrompt | PlayFile | PlayBeep | StopPrompt | Record | StopRecording
                   | Hangup | Transfer | MessageWaitingChanged)


def frame_level_dbm0(frame: Frame) -> float:
    """RMS level of a frame in dBm0 (−inf for digital silence)."""
    rms = float(np.sqrt(np.mean(np.square(frame.astype(np.float64))))) if frame.size else 0.0
    return 20 * math.log10(rms / DBM0_RMS) if rms > 0 else -math.inf


class _Take:
    """One recording in progress: tracks length and trailing silence."""

    def __init__(self, draft: Draft, max_s: float, now: float, settings: VoicemailSettings,
                 rate: SampleRate) -> None:
        self.draft = draft
        self.max_s = max_s
        self.started = now
        self.settings = settings
        self.rate = int(rate)
        self.samples = 0  # counted in samples: float seconds would drift by a frame
        self.voiced_samples = 0  # at the end of the last non-silent frame

    @property
    def voiced_until_s(self) -> float:
        return self.voiced_samples / self.rate

    def feed(self, frame: Frame, now: float) -> EndReason | None:
        self.draft.write(frame, now)
        self.samples += frame.shape[-1]
        if frame_level_dbm0(frame) >= self.settings.silence_level_dbm0:
            self.voiced_samples = self.samples
        if self.samples >= round(self.max_s * self.rate):
            return EndReason.MAX_LENGTH
        if self.samples - self.voiced_samples >= round(self.settings.silence_s * self.rate):
            return EndReason.SILENCE
        return None

    def deadline(self) -> float:
        # Frames may stop coming (media fault): the wall of the take still ends it.
        return self.started + self.max_s + 1.0

    def long_enough(self) -> bool:
        return self.voiced_until_s >= self.settings.min_message_s


# --- leave a message --------------------------------------------------------------------------


class LeaveState(Enum):
    """Where a caller leaving a message is."""

    GREETING = "greeting"
    BEEP = "beep"
    RECORDING = "recording"
    CLOSING = "closing"
    DONE = "done"


class LeaveMessageSession:
    """A caller leaving a message in one mailbox. Methods return actions, in order."""

    def __init__(self, store: VoicemailStore, mailbox: MailboxSettings,
                 settings: VoicemailSettings, reason: LeaveReason, caller: str, now: float,
                 wall: datetime, caller_name: str = "",
                 rate: SampleRate = SampleRate.NARROWBAND) -> None:
        self.store, self.mailbox, self.settings = store, mailbox, settings
        self.reason, self.caller, self.caller_name = reason, caller, caller_name
        self.wall, self.rate = wall, rate
        self.state = LeaveState.GREETING
        self.end_reason: EndReason | None = None
        self.kept = False
        self._take: _Take | None = None
        self._room_s = 0.0
        self._started = now

    def start(self) -> list[VoicemailAction]:
        """Greeting (or "mailbox full" and hang up)."""
        self._room_s = self.store.room_s(self.mailbox)
        if self._room_s < max(self.settings.min_message_s, 1.0):
            log.info("voicemail %r full: refusing a message from %r", self.mailbox.id,
                     self.caller)
            self.state = LeaveState.CLOSING
            return [PlayPrompt(("vm.mailbox_full",))]
        return self._greeting()

    def _greeting(self) -> list[VoicemailAction]:
        kinds = ([GreetingKind.BUSY] if self.reason is LeaveReason.BUSY else []) + [
            GreetingKind.UNAVAILABLE]
        for kind in kinds:
            path = self.store.greeting_path(self.mailbox.id, kind)
            if path is not None:
                return [PlayFile(path)]
        language = self.mailbox.language
        name = self.store.greeting_path(self.mailbox.id, GreetingKind.NAME)
        if name is not None:
            return [PlayFile(name),
                    PlayPrompt(("vm.greeting.not_available", "vm.leave_message"))]
        if self.mailbox.extension:
            return [PlayPrompt(tuple(catalog.extension_greeting(self.mailbox.extension,
                                                                language)))]
        return [PlayPrompt(tuple(catalog.default_greeting(language)))]

    def next_deadline(self) -> float | None:
        """When `handle_timers` must run (only while recording)."""
        return self._take.deadline() if self._take is not None else None

    def on_prompt_finished(self, now: float) -> list[VoicemailAction]:
        """The last playback asked for has ended."""
        if self.state is LeaveState.GREETING:
            self.state = LeaveState.BEEP
            return [PlayBeep()]
        if self.state is LeaveState.BEEP:
            return self._record(now)
        if self.state is LeaveState.CLOSING:
            self.state = LeaveState.DONE
            return [Hangup()]
        return []

    def _record(self, now: float) -> list[VoicemailAction]:
        try:
            draft = self.store.begin_message(self.mailbox.id, self.caller, self.caller_name,
                                             now, self.wall)
        except RecordingError as exc:
            log.warning("voicemail %r: cannot record: %s", self.mailbox.id, exc)
            self.state = LeaveState.CLOSING
            return [PlayPrompt(("vm.mailbox_full",))]
        self._take = _Take(draft, self._room_s, now, self.settings, self.rate)
        self.state = LeaveState.RECORDING
        return [Record(self._room_s)]

    def on_digit(self, digit: str, now: float) -> list[VoicemailAction]:
        """"#" skips the greeting or ends the message."""
        if digit != "#":
            return []
        if self.state is LeaveState.GREETING:
            self.state = LeaveState.BEEP
            return [StopPrompt(), PlayBeep()]
        if self.state is LeaveState.RECORDING:
            return self._finish(EndReason.KEY, now)
        return []

    def on_frame(self, frame: Frame, now: float) -> list[VoicemailAction]:
        """One frame of the caller's audio while recording."""
        if self._take is None or self.state is not LeaveState.RECORDING:
            return []
        try:
            end = self._take.feed(frame, now)
        except RecordingError as exc:
            log.warning("voicemail %r: recording failed: %s", self.mailbox.id, exc)
            end = EndReason.MAX_LENGTH
        return self._finish(end, now) if end is not None else []

    def on_hangup(self, now: float) -> list[VoicemailAction]:
        """The caller hung up: keep what was said (if long enough)."""
        if self.state is LeaveState.RECORDING:
            out = self._finish(EndReason.HANGUP, now)
            return [a for a in out if not isinstance(a, PlayPrompt | Hangup)]
        self.state = LeaveState.DONE
        return []

    def on_fax_tone(self, event: FaxToneDetected) -> list[VoicemailAction]:
        """A fax machine: to the fax destination, dropping anything recorded."""
        if self.settings.fax is None or self.state is LeaveState.DONE:
            return []
        out: list[VoicemailAction] = [StopPrompt()]
        if self._take is not None:
            self.store.discard(self._take.draft, event.at)
            self._take = None
            out.append(StopRecording())
        self.state = LeaveState.DONE
        return [*out, Transfer(self.settings.fax)]

    def handle_timers(self, now: float) -> list[VoicemailAction]:
        """End a recording whose frames stopped coming."""
        if self._take is not None and now >= self._take.deadline():
            return self._finish(EndReason.MAX_LENGTH, now)
        return []

    def _finish(self, reason: EndReason, now: float) -> list[VoicemailAction]:
        take, self._take = self._take, None
        assert take is not None  # only called while recording
        self.end_reason = reason
        out: list[VoicemailAction] = [StopRecording()]
        if take.long_enough():
            try:
                counts = self.store.commit(take.draft, now)
            except (RecordingError, OSError) as exc:
                log.error("voicemail %r: message lost: %s", self.mailbox.id, exc)
                counts = None
            if counts is not None:
                self.kept = True
                out.append(counts)
        else:
            self.store.discard(take.draft, now)
            log.info("voicemail %r: %.1f s message from %r too short, discarded",
                     self.mailbox.id, take.voiced_until_s, self.caller)
        self.state = LeaveState.CLOSING
        out.append(PlayPrompt(("goodbye",)))
        return out


# --- the owner's phone menu -------------------------------------------------------------------


class MenuState(Enum):
    """Where the mailbox owner is."""

    PIN = "pin"
    PIN_DELAY = "pin_delay"
    MAIN = "main"
    MESSAGE = "message"
    NEW_PIN = "new_pin"
    CONFIRM_PIN = "confirm_pin"
    GREETING_BEEP = "greeting_beep"
    RECORDING_GREETING = "recording_greeting"
    CLOSING = "closing"
    DONE = "done"


_GREETING_KEYS = {"3": GreetingKind.UNAVAILABLE, "5": GreetingKind.BUSY, "6": GreetingKind.NAME}
_MAX_PIN_DIGITS = 16
_MAX_TIMEOUTS = 3


def envelope_prompts(message: Message, language: catalog.Language,
                     tz: tzinfo = UTC) -> tuple[str, ...]:
    """Day, month, hour, minute of arrival (local to `tz`), then the caller's digits."""
    local = message.received_at.astimezone(tz)
    ids = [*catalog.cardinal(local.day, language), *catalog.cardinal(local.month, language),
           *catalog.cardinal(local.hour, language), *catalog.cardinal(local.minute, language)]
    return (*ids, *catalog.digits(message.caller, language))


class MailboxSession:
    """The owner (or anyone with the PIN) calling into one mailbox."""

    def __init__(self, store: VoicemailStore, guard: PinGuard, mailbox: MailboxSettings,
                 settings: VoicemailSettings, source: str, now: float, wall: datetime,
                 tz: tzinfo = UTC, rate: SampleRate = SampleRate.NARROWBAND) -> None:
        self.store, self.guard, self.mailbox, self.settings = store, guard, mailbox, settings
        self.source, self.wall, self.tz, self.rate = source, wall, tz, rate
        self.language = mailbox.language
        self.state = MenuState.PIN
        self._digits = ""
        self._new_pin = ""
        self._deadline: float | None = None
        self._timeouts = 0
        self._playing = False
        self._messages: list[Message] = []
        self._index = 0
        self._greeting: GreetingKind | None = None
        self._take: _Take | None = None
        self._started = now

    # -- helpers --

    def _play(self, *prompt_ids: str) -> list[VoicemailAction]:
        self._playing = True
        self._deadline = None
        return [PlayPrompt(tuple(prompt_ids))]

    def _close(self, *prompt_ids: str) -> list[VoicemailAction]:
        self.state = MenuState.CLOSING
        return self._play(*prompt_ids, "goodbye")

    def _main_menu(self, *before: str) -> list[VoicemailAction]:
        self.state = MenuState.MAIN
        return self._play(*before, "vm.main_menu")

    # -- API --

    def start(self) -> list[VoicemailAction]:
        """Ask for the PIN (or refuse at once while locked)."""
        if not self.mailbox.pin and not (self.store.root / self.mailbox.id / "pin.json").exists():
            return self._close()  # no PIN configured: no phone access
        if self.guard.locked(self.mailbox.id, self.source, self._started):
            return self._close("vm.pin_invalid")
        return self._play("vm.enter_pin")

    def next_deadline(self) -> float | None:
        """When `handle_timers` must run next."""
        if self._take is not None:
            return self._take.deadline()
        return self._deadline

    def on_prompt_finished(self, now: float) -> list[VoicemailAction]:
        """The last playback asked for has ended; the input timer starts."""
        self._playing = False
        if self.state is MenuState.CLOSING:
            self.state = MenuState.DONE
            return [Hangup()]
        if self.state is MenuState.GREETING_BEEP:
            return self._start_greeting(now)
        if self.state in (MenuState.PIN, MenuState.MAIN, MenuState.MESSAGE, MenuState.NEW_PIN,
                          MenuState.CONFIRM_PIN):
            self._deadline = now + self.settings.input_timeout_s
        return []

    def handle_timers(self, now: float) -> list[VoicemailAction]:
        """Throttle delays, input timeouts, a greeting recording whose frames stopped."""
        if self._take is not None and now >= self._take.deadline():
            return self._end_greeting(EndReason.MAX_LENGTH, now)
        if self._deadline is None or now < self._deadline:
            return []
        self._deadline = None
        if self.state is MenuState.PIN_DELAY:
            self.state = MenuState.PIN
            return self._play("vm.pin_invalid", "vm.enter_pin")
        self._timeouts += 1
        if self._timeouts >= _MAX_TIMEOUTS:
            return self._close()
        self._digits = ""
        if self.state is MenuState.PIN:
            return self._play("vm.enter_pin")
        if self.state is MenuState.MESSAGE:
            return self._play("vm.message_menu")
        if self.state in (MenuState.NEW_PIN, MenuState.CONFIRM_PIN):
            return self._main_menu()
        return self._main_menu()

    def on_hangup(self, now: float) -> list[VoicemailAction]:
        """The caller hung up; a greeting being recorded is dropped (the old one stays)."""
        if self._take is not None:
            self.store.discard(self._take.draft, now)
            self._take = None
        self.state = MenuState.DONE
        return []

    def on_frame(self, frame: Frame, now: float) -> list[VoicemailAction]:
        """Caller audio while a greeting is being recorded."""
        if self._take is None:
            return []
        try:
            end = self._take.feed(frame, now)
        except RecordingError as exc:
            log.warning("voicemail %r: greeting recording failed: %s", self.mailbox.id, exc)
            end = EndReason.MAX_LENGTH
        return self._end_greeting(end, now) if end is not None else []

    def on_digit(self, digit: str, now: float) -> list[VoicemailAction]:
        """A DTMF digit."""
        if self.state in (MenuState.DONE, MenuState.CLOSING, MenuState.PIN_DELAY):
            return []  # PIN_DELAY: keys are ignored while a wrong PIN is being throttled
        out: list[VoicemailAction] = []
        if self._playing:
            self._playing = False
            out.append(StopPrompt())
        self._timeouts = 0
        self._deadline = now + self.settings.input_timeout_s
        if self.state is MenuState.RECORDING_GREETING:
            return out + (self._end_greeting(EndReason.KEY, now) if digit == "#" else [])
        if self.state is MenuState.GREETING_BEEP:
            return out
        if self.state in (MenuState.PIN, MenuState.NEW_PIN, MenuState.CONFIRM_PIN):
            if digit != "#":
                self._digits = (self._digits + digit)[-_MAX_PIN_DIGITS:]
                return out
            entered, self._digits = self._digits, ""
            return out + self._pin_entered(entered, now)
        if self.state is MenuState.MAIN:
            return out + self._main_key(digit, now)
        return out + self._message_key(digit)

    # -- PIN --

    def _pin_entered(self, entered: str, now: float) -> list[VoicemailAction]:
        if self.state is MenuState.NEW_PIN:
            if not re.fullmatch(r"[0-9]{4,8}", entered):
                return self._main_menu("vm.pin_invalid")
            self._new_pin = entered
            self.state = MenuState.CONFIRM_PIN
            return self._play("vm.enter_pin")
        if self.state is MenuState.CONFIRM_PIN:
            new_pin, self._new_pin = self._new_pin, ""
            if entered != new_pin:
                return self._main_menu("vm.pin_invalid")
            self.store.set_pin(self.mailbox.id, new_pin)
            log.info("voicemail %r: PIN changed", self.mailbox.id)
            return self._main_menu()
        if self.guard.locked(self.mailbox.id, self.source, now):
            return self._close("vm.pin_invalid")
        if self.store.check_pin(self.mailbox, entered):
            self.guard.success(self.mailbox.id, self.source)
            counts = self.store.counts(self.mailbox.id)
            said = catalog.message_count(counts.new_count, self.language)
            if counts.saved_count:
                said += catalog.message_count(counts.saved_count, self.language, saved=True)
            return self._main_menu(*said)
        log.info("voicemail %r: wrong PIN from %r", self.mailbox.id, self.source)
        if self.guard.failure(self.mailbox.id, self.source, now):
            return self._close("vm.pin_invalid")
        self.state = MenuState.PIN_DELAY
        self._deadline = now + self.settings.retry_delay_s
        return []

    # -- menus --

    def _main_key(self, digit: str, now: float) -> list[VoicemailAction]:
        if digit in ("1", "2"):
            new = self.store.messages(self.mailbox.id, Folder.NEW)
            saved = self.store.messages(self.mailbox.id, Folder.SAVED)
            self._messages = (new + saved) if digit == "1" else saved
            self._index = 0
            if not self._messages:
                return self._main_menu("vm.no_messages")
            self.state = MenuState.MESSAGE
            return self._present()
        if digit in _GREETING_KEYS:
            self._greeting = _GREETING_KEYS[digit]
            self.state = MenuState.GREETING_BEEP
            self._deadline = None
            return [*self._play("vm.record_greeting"), PlayBeep()]
        if digit == "4":
            self.state = MenuState.NEW_PIN
            return self._play("vm.enter_pin")
        if digit == "*":
            return self._close()
        return self._main_menu("invalid_option")

    def _present(self, envelope: bool = True) -> list[VoicemailAction]:
        message = self._messages[self._index]
        self._playing = True
        self._deadline = None
        out: list[VoicemailAction] = []
        if envelope:
            out.append(PlayPrompt(envelope_prompts(message, self.language, self.tz)))
        return [*out, PlayFile(message.audio_path), PlayPrompt(("vm.message_menu",))]

    def _advance(self, step: int, *before: str) -> list[VoicemailAction]:
        index = self._index + step
        if not 0 <= index < len(self._messages):
            return self._main_menu(*before, "vm.no_more_messages")
        self._index = index
        out: list[VoicemailAction] = self._play(*before) if before else []
        return out + self._present()

    def _message_key(self, digit: str) -> list[VoicemailAction]:
        message = self._messages[self._index]
        if digit == "1":
            return self._present(envelope=False)
        if digit == "5":
            return self._present(envelope=True)
        if digit in ("#", "6"):
            return self._advance(+1)
        if digit == "4":
            return self._advance(-1) if self._index > 0 else self._present()
        if digit == "*":
            return self._main_menu()
        if digit == "7":
            counts = self.store.delete(self.mailbox.id, message.id)
            del self._messages[self._index]
            return [counts, *self._advance(0, "vm.message_deleted")]
        if digit == "9":
            counts = self.store.move(self.mailbox.id, message.id, Folder.SAVED)
            return [counts, *self._advance(+1, "vm.message_saved")]
        return self._play("invalid_option", "vm.message_menu")

    # -- greetings --

    def _start_greeting(self, now: float) -> list[VoicemailAction]:
        assert self._greeting is not None  # set with GREETING_BEEP
        try:
            draft = self.store.begin_greeting(self.mailbox.id, self._greeting, now, self.wall)
        except RecordingError as exc:
            log.warning("voicemail %r: cannot record a greeting: %s", self.mailbox.id, exc)
            return self._main_menu()
        self._take = _Take(draft, self.settings.greeting_max_s, now, self.settings, self.rate)
        self.state = MenuState.RECORDING_GREETING
        return [Record(self.settings.greeting_max_s)]

    def _end_greeting(self, reason: EndReason, now: float) -> list[VoicemailAction]:
        take, self._take = self._take, None
        if take is None:
            return []
        out: list[VoicemailAction] = [StopRecording()]
        if not take.long_enough():
            self.store.discard(take.draft, now)
            return out + self._main_menu()
        try:
            self.store.commit(take.draft, now)
        except (RecordingError, OSError) as exc:
            log.error("voicemail %r: greeting not saved: %s", self.mailbox.id, exc)
            return out + self._main_menu()
        log.info("voicemail %r: %s greeting recorded (%s)", self.mailbox.id, take.draft.greeting,
                 reason.value)
        return out + self._main_menu("vm.greeting_saved")

