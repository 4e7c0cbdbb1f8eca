"""Voicemail: leave a message, MWI, PIN lock-out, listen/save/delete, quotas, crash recovery."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from firmware.features.destination import Destination, DestinationKind
from firmware.features.menu import (
    FaxToneDetected,
    PlayPrompt,
    StopPrompt,
    Transfer,
)
from firmware.features.voicemail import (
    Folder,
    GreetingKind,
    Hangup,
    LeaveMessageSession,
    LeaveReason,
    MailboxSession,
    MailboxSettings,
    MessageWaitingChanged,
    PinGuard,
    PlayBeep,
    PlayFile,
    Record,
    StopRecording,
    VoicemailSettings,
    VoicemailStore,
    frame_level_dbm0,
)
from firmware.media.frame import Frame
from firmware.media.prompt_catalog import CATALOG, Language
from firmware.media.recorder import CallRecorder, RecorderSettings, RecordingLayout, RecordingParty

WALL = datetime(2026, 3, 5, 14, 30, tzinfo=UTC)
BOX = MailboxSettings(id="alice", extension="201", pin="1234", max_messages=3,
                      max_total_s=120.0, max_message_s=30.0)
SETTINGS = VoicemailSettings(retry_delay_s=2.0, lockout_s=300.0, pin_attempts=3)
RATE = 8000
FRAME = 160


def tone(level_dbm0: float = -10.0) -> Frame:
    peak = 32767 * 10 ** (-3.17 / 20) * 10 ** (level_dbm0 / 20)
    t = np.arange(FRAME) / RATE
    return np.round(peak * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)


VOICE = tone()
QUIET = np.zeros(FRAME, dtype=np.int16)


@pytest.fixture
def store(tmp_path: Path) -> VoicemailStore:
    return VoicemailStore(tmp_path / "vm", min_free_bytes=0)


def feed(session: LeaveMessageSession | MailboxSession, frame: Frame, seconds: float,
         start: float) -> tuple[list[object], float]:
    """Feed `seconds` of `frame`; stop at the first actions; returns them and the time."""
    now = start
    for _ in range(round(seconds * RATE / FRAME)):
        now += FRAME / RATE
        out = session.on_frame(frame, now)
        if out:
            return list(out), now
    return [], now


def leave(store: VoicemailStore, caller: str = "+74951234567", voice_s: float = 3.0,
          reason: LeaveReason = LeaveReason.UNAVAILABLE, wall: datetime = WALL) -> list[object]:
    session = LeaveMessageSession(store, BOX, SETTINGS, reason, caller, now=0.0, wall=wall)
    session.start()
    assert session.on_prompt_finished(now=5.0) == [PlayBeep()]
    assert isinstance(session.on_prompt_finished(now=5.5)[0], Record)
    out, now = feed(session, VOICE, voice_s, 5.5)
    assert out == []
    return session.on_digit("#", now + 0.1)


def test_level_meter_follows_g711_convention() -> None:
    assert frame_level_dbm0(tone(0.0)) == pytest.approx(0.0, abs=0.1)
    assert frame_level_dbm0(tone(-30.0)) == pytest.approx(-30.0, abs=0.1)
    assert frame_level_dbm0(QUIET) == -math.inf


def test_default_greeting_names_extension_then_beep_and_record(store: VoicemailStore) -> None:
    session = LeaveMessageSession(store, BOX, SETTINGS, LeaveReason.UNAVAILABLE, "100", 0.0, WALL)
    out = session.start()
    assert out == [PlayPrompt(("vm.greeting.extension", "number.2", "number.0", "number.1",
                               "vm.greeting.not_available", "vm.leave_message"))]
    assert session.on_prompt_finished(1.0) == [PlayBeep()]
    assert session.on_prompt_finished(1.5) == [Record(30.0)]


def test_greeting_is_chosen_by_reason(store: VoicemailStore) -> None:
    for kind in (GreetingKind.BUSY, GreetingKind.UNAVAILABLE):
        path = store.root / "alice" / "greetings" / f"{kind.value}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF")
    busy = LeaveMessageSession(store, BOX, SETTINGS, LeaveReason.BUSY, "1", 0.0, WALL).start()
    unavailable = LeaveMessageSession(store, BOX, SETTINGS, LeaveReason.UNAVAILABLE, "1", 0.0,
                                      WALL).start()
    assert busy == [PlayFile(store.root / "alice" / "greetings" / "busy.wav")]
    assert unavailable == [PlayFile(store.root / "alice" / "greetings" / "unavailable.wav")]
    (store.root / "alice" / "greetings" / "busy.wav").unlink()
    fallback = LeaveMessageSession(store, BOX, SETTINGS, LeaveReason.BUSY, "1", 0.0, WALL).start()
    assert fallback == unavailable  # no busy greeting: the unavailable one


def test_hash_skips_greeting(store: VoicemailStore) -> None:
    session = LeaveMessageSession(store, BOX, SETTINGS, LeaveReason.UNAVAILABLE, "1", 0.0, WALL)
    session.start()
    assert session.on_digit("#", 0.5) == [StopPrompt(), PlayBeep()]


def test_leaving_a_message_stores_wav_and_lights_mwi(store: VoicemailStore) -> None:
    out = leave(store)
    assert out[0] == StopRecording()
    assert MessageWaitingChanged("alice", 1, 0) in out
    assert out[-1] == PlayPrompt(("goodbye",))
    [message] = store.messages("alice")
    assert message.folder is Folder.NEW and message.caller == "+74951234567"
    assert message.received_at == WALL
    assert message.duration_s == pytest.approx(3.0, abs=0.05)
    sox_duration = subprocess.run(["soxi", "-D", str(message.audio_path)], capture_output=True,
                                  text=True, timeout=10, check=True).stdout
    assert float(sox_duration) == pytest.approx(3.0, abs=0.05)  # independent reader agrees


def test_silence_ends_message_and_hangup_keeps_it(store: VoicemailStore) -> None:
    session = LeaveMessageSession(store, BOX, SETTINGS, LeaveReason.UNAVAILABLE, "9", 0.0, WALL)
    session.start()
    session.on_prompt_finished(1.0)
    session.on_prompt_finished(1.5)
    feed(session, VOICE, 2.0, 1.5)
    out, now = feed(session, QUIET, 10.0, 3.5)
    assert now == pytest.approx(3.5 + 5.0)  # exactly silence_s of quiet
    assert MessageWaitingChanged("alice", 1, 0) in out
    session2 = LeaveMessageSession(store, BOX, SETTINGS, LeaveReason.UNAVAILABLE, "8", 0.0, WALL)
    session2.start()
    session2.on_prompt_finished(1.0)
    session2.on_prompt_finished(1.5)
    feed(session2, VOICE, 2.0, 1.5)
    assert session2.on_hangup(4.0) == [StopRecording(), MessageWaitingChanged("alice", 2, 0)]


def test_too_short_message_is_discarded(store: VoicemailStore) -> None:
    session = LeaveMessageSession(store, BOX, SETTINGS, LeaveReason.UNAVAILABLE, "9", 0.0, WALL)
    session.start()
    session.on_prompt_finished(1.0)
    session.on_prompt_finished(1.5)
    feed(session, VOICE, 0.5, 1.5)
    feed(session, QUIET, 2.0, 2.0)  # trailing silence does not count
    assert session.on_hangup(4.0) == [StopRecording()]
    assert store.messages("alice") == []
    assert not any((store.root / "alice" / "incoming").iterdir())


def test_message_cut_at_max_length(store: VoicemailStore) -> None:
    out, now = [], 0.0
    session = LeaveMessageSession(store, BOX, SETTINGS, LeaveReason.UNAVAILABLE, "9", 0.0, WALL)
    session.start()
    session.on_prompt_finished(1.0)
    session.on_prompt_finished(1.5)
    out, now = feed(session, VOICE, 40.0, 1.5)
    assert now == pytest.approx(1.5 + 30.0)
    assert out[-1] == PlayPrompt(("goodbye",))
    assert session.on_prompt_finished(now + 1) == [Hangup()]


def test_full_mailbox_by_count_is_refused_with_prompt(store: VoicemailStore) -> None:
    for _ in range(3):
        leave(store, voice_s=1.5)
    session = LeaveMessageSession(store, BOX, SETTINGS, LeaveReason.UNAVAILABLE, "9", 0.0, WALL)
    assert session.start() == [PlayPrompt(("vm.mailbox_full",))]
    assert session.on_prompt_finished(3.0) == [Hangup()]
    assert "vm.mailbox_full" in CATALOG[Language.RU]


def test_seconds_quota_limits_length_then_refuses(store: VoicemailStore) -> None:
    box = MailboxSettings(id="alice", pin="1234", max_total_s=60.0, max_message_s=50.0)
    assert store.room_s(box) == 50.0
    session = LeaveMessageSession(store, box, SETTINGS, LeaveReason.UNAVAILABLE, "9", 0.0, WALL)
    session.start()
    session.on_prompt_finished(1.0)
    session.on_prompt_finished(1.5)
    feed(session, VOICE, 59.5, 1.5)  # cut at 50 s
    assert store.room_s(box) == pytest.approx(10.0, abs=0.05)
    session = LeaveMessageSession(store, box, SETTINGS, LeaveReason.UNAVAILABLE, "9", 0.0, WALL)
    session.start()
    session.on_prompt_finished(1.0)
    assert session.on_prompt_finished(1.5) == [Record(pytest.approx(10.0, abs=0.05))]


def test_fax_tone_on_voicemail_goes_to_fax(store: VoicemailStore) -> None:
    fax = Destination(DestinationKind.FAX, "fax")
    settings = VoicemailSettings(fax=fax)
    session = LeaveMessageSession(store, BOX, settings, LeaveReason.UNAVAILABLE, "9", 0.0, WALL)
    session.start()
    session.on_prompt_finished(1.0)
    session.on_prompt_finished(1.5)
    feed(session, VOICE, 2.0, 1.5)
    out = session.on_fax_tone(FaxToneDetected(at=3.6))
    assert out == [StopPrompt(), StopRecording(), Transfer(fax)]
    assert store.messages("alice") == []


# --- the owner's menu ---


def login(session: MailboxSession, pin: str, now: float) -> list[object]:
    for d in pin:
        session.on_digit(d, now)
    return session.on_digit("#", now)


def test_full_cycle_leave_lockout_unlock_listen_save_delete(store: VoicemailStore) -> None:
    assert MessageWaitingChanged("alice", 1, 0) in leave(store, caller="+74951234567")
    guard = PinGuard(SETTINGS)
    session = MailboxSession(store, guard, BOX, SETTINGS, source="sip:10.0.0.9", now=0.0,
                             wall=WALL)
    assert session.start() == [PlayPrompt(("vm.enter_pin",))]
    session.on_prompt_finished(1.0)
    assert login(session, "9999", 2.0) == []  # no answer yet
    assert session.next_deadline() == 4.0  # throttled: answer only after retry_delay_s
    assert login(session, "1234", 3.0) == []  # ignored during the delay
    assert session.handle_timers(4.0) == [PlayPrompt(("vm.pin_invalid", "vm.enter_pin"))]
    login(session, "1111", 5.0)
    session.handle_timers(7.0)
    out = login(session, "2222", 8.0)  # third wrong PIN: locked
    assert out[-1] == PlayPrompt(("vm.pin_invalid", "goodbye"))
    assert session.on_prompt_finished(9.0) == [Hangup()]

    # Calling again while locked: even the right PIN is refused.
    again = MailboxSession(store, guard, BOX, SETTINGS, "sip:10.0.0.9", now=100.0, wall=WALL)
    assert again.start() == [PlayPrompt(("vm.pin_invalid", "goodbye"))]
    other_source = MailboxSession(store, guard, BOX, SETTINGS, "sip:10.0.0.7", 100.0, WALL)
    assert other_source.start() == [PlayPrompt(("vm.pin_invalid", "goodbye"))]  # box locked

    # After lockout_s the mailbox opens with the right PIN.
    session = MailboxSession(store, guard, BOX, SETTINGS, "sip:10.0.0.9", now=309.0, wall=WALL)
    session.start()
    session.on_prompt_finished(310.0)
    out = login(session, "1234", 311.0)
    assert out[-1] == PlayPrompt(("vm.you_have", "number.1", "vm.new_messages.one",
                                  "vm.main_menu"))
    session.on_prompt_finished(312.0)
    [message] = store.messages("alice")
    out = session.on_digit("1", 313.0)
    # envelope: 5 March, 14:30, then the caller's digits
    assert out == [PlayPrompt(("number.5", "number.3", "number.14",
                               "number.30", "number.7", "number.4", "number.9", "number.5",
                               "number.1", "number.2", "number.3", "number.4", "number.5",
                               "number.6", "number.7")),
                   PlayFile(message.audio_path), PlayPrompt(("vm.message_menu",))]
    out = session.on_digit("9", 314.0)  # save
    assert out[:2] == [StopPrompt(), MessageWaitingChanged("alice", 0, 1)]
    assert out[-1] == PlayPrompt(("vm.message_saved", "vm.no_more_messages", "vm.main_menu"))
    session.on_prompt_finished(315.0)
    out = session.on_digit("2", 316.0)  # saved folder
    assert PlayFile(message.audio_path) in out
    out = session.on_digit("7", 317.0)  # delete
    assert MessageWaitingChanged("alice", 0, 0) in out
    assert out[-1] == PlayPrompt(("vm.message_deleted", "vm.no_more_messages", "vm.main_menu"))
    assert store.messages("alice") == []
    assert not message.audio_path.exists()
    out = session.on_digit("*", 318.0)
    assert out[-1] == PlayPrompt(("goodbye",))


def test_next_and_previous_walk_messages(store: VoicemailStore) -> None:
    leave(store, caller="2", wall=WALL.replace(minute=31))  # later, stored first
    leave(store, caller="1")
    session = MailboxSession(store, PinGuard(SETTINGS), BOX, SETTINGS, "s", 0.0, WALL)
    session.start()
    login(session, "1234", 1.0)
    first = session.on_digit("1", 2.0)
    assert first[1] == PlayPrompt(("number.5", "number.3", "number.14", "number.30", "number.1"))
    assert session.on_digit("#", 3.0)[1].prompt_ids[-1] == "number.2"  # type: ignore[union-attr]
    assert session.on_digit("4", 4.0)[1].prompt_ids[-1] == "number.1"  # type: ignore[union-attr]


def test_no_input_replays_then_hangs_up(store: VoicemailStore) -> None:
    session = MailboxSession(store, PinGuard(SETTINGS), BOX, SETTINGS, "s", 0.0, WALL)
    session.start()
    session.on_prompt_finished(1.0)
    assert session.handle_timers(11.0) == [PlayPrompt(("vm.enter_pin",))]
    session.on_prompt_finished(12.0)
    session.handle_timers(22.0)
    session.on_prompt_finished(23.0)
    assert session.handle_timers(33.0) == [PlayPrompt(("goodbye",))]


def test_changed_pin_is_durable_and_replaces_configured_one(store: VoicemailStore) -> None:
    session = MailboxSession(store, PinGuard(SETTINGS), BOX, SETTINGS, "s", 0.0, WALL)
    session.start()
    login(session, "1234", 1.0)
    assert session.on_digit("4", 2.0)[-1] == PlayPrompt(("vm.enter_pin",))
    login(session, "5678", 3.0)
    assert login(session, "5678", 4.0)[-1] == PlayPrompt(("vm.main_menu",))
    reopened = VoicemailStore(store.root, min_free_bytes=0)
    assert reopened.check_pin(BOX, "5678")
    assert not reopened.check_pin(BOX, "1234")
    assert "5678" not in (store.root / "alice" / "pin.json").read_text()


def test_pin_change_mismatch_keeps_old_pin(store: VoicemailStore) -> None:
    session = MailboxSession(store, PinGuard(SETTINGS), BOX, SETTINGS, "s", 0.0, WALL)
    session.start()
    login(session, "1234", 1.0)
    session.on_digit("4", 2.0)
    login(session, "5678", 3.0)
    assert login(session, "5679", 4.0)[-1] == PlayPrompt(("vm.pin_invalid", "vm.main_menu"))
    assert store.check_pin(BOX, "1234")


def test_recorded_greeting_replaces_old_and_is_played_to_callers(store: VoicemailStore) -> None:
    session = MailboxSession(store, PinGuard(SETTINGS), BOX, SETTINGS, "s", 0.0, WALL)
    session.start()
    login(session, "1234", 1.0)
    assert session.on_digit("5", 2.0)[-2:] == [PlayPrompt(("vm.record_greeting",)), PlayBeep()]
    assert session.on_prompt_finished(4.0) == [Record(60.0)]
    feed(session, VOICE, 2.0, 4.0)
    out = session.on_digit("#", 6.1)
    assert out[-1] == PlayPrompt(("vm.greeting_saved", "vm.main_menu"))
    busy = store.greeting_path("alice", GreetingKind.BUSY)
    assert busy is not None
    sox = subprocess.run(["soxi", "-D", str(busy)], capture_output=True, text=True, timeout=10,
                         check=True)
    assert float(sox.stdout) == pytest.approx(2.0, abs=0.05)
    caller = LeaveMessageSession(store, BOX, SETTINGS, LeaveReason.BUSY, "1", 0.0, WALL)
    assert caller.start() == [PlayFile(busy)]


def test_hangup_during_greeting_recording_keeps_old_greeting(store: VoicemailStore) -> None:
    session = MailboxSession(store, PinGuard(SETTINGS), BOX, SETTINGS, "s", 0.0, WALL)
    session.start()
    login(session, "1234", 1.0)
    session.on_digit("3", 2.0)
    session.on_prompt_finished(3.0)
    feed(session, VOICE, 2.0, 3.0)
    session.on_hangup(5.5)
    assert store.greeting_path("alice", GreetingKind.UNAVAILABLE) is None


# --- crash safety ---


def crashed_recording(store: VoicemailStore, seconds: float, tail: bytes = b"") -> str:
    """A message recorder killed mid-way: flushed audio + an unflushed tail, never closed."""
    directory = store.root / "alice" / "incoming"
    recorder = CallRecorder.open(
        directory, "crash", [RecordingParty("caller", "+74957654321")], codec="L16", now=0.0,
        started_wall_s=WALL.timestamp(), name="20260305T143000-dead",
        settings=RecorderSettings(layout=RecordingLayout.MIXED, flush_interval_s=0.2,
                                  min_free_bytes=0, max_duration_s=None),
    )
    now = 0.0
    for _ in range(round(seconds * RATE / FRAME)):
        now += FRAME / RATE
        recorder.write(VOICE, None, now)
    recorder.flush(now)
    with open(recorder.part_path, "ab") as f:
        f.write(tail)
    recorder._file.close()  # the process died: no close(), no rename
    return "20260305T143000-dead"


def test_recover_indexes_message_written_but_not_committed(store: VoicemailStore) -> None:
    message_id = crashed_recording(store, 2.0, tail=b"\x01\x02\x03")  # odd partial sample
    assert store.messages("alice") == []
    assert store.recover() == [MessageWaitingChanged("alice", 1, 0)]
    [message] = store.messages("alice")
    assert message.id == message_id and message.recovered
    assert message.caller == "+74957654321" and message.received_at == WALL
    sox = subprocess.run(["soxi", "-D", str(message.audio_path)], capture_output=True,
                         text=True, timeout=10, check=True)
    assert float(sox.stdout) == pytest.approx(2.0, abs=0.03)
    assert list((store.root / "alice" / "incoming").iterdir()) == []
    assert store.recover() == []  # idempotent


def test_recover_discards_fragment_too_short(store: VoicemailStore) -> None:
    crashed_recording(store, 0.2)
    (store.root / "alice" / "incoming" / "junk.wav.part").write_bytes(b"RIFF\x00")  # no header
    assert store.recover() == []
    assert store.messages("alice") == []
    assert list((store.root / "alice" / "incoming").iterdir()) == []


def test_recover_finishes_commit_interrupted_after_index(store: VoicemailStore) -> None:
    leave(store)
    [message] = store.messages("alice")
    incoming = store.root / "alice" / "incoming"
    shutil.move(message.audio_path, incoming / message.audio_path.name)  # before the rename
    assert store.messages("alice") == []  # half-committed: not listed
    assert store.recover() == [MessageWaitingChanged("alice", 1, 0)]
    assert [m.id for m in store.messages("alice")] == [message.id]


def test_recover_finishes_interrupted_delete(store: VoicemailStore) -> None:
    leave(store)
    [message] = store.messages("alice")
    message.audio_path.unlink()  # delete removed the audio, then the box lost power
    assert store.recover() == [MessageWaitingChanged("alice", 0, 0)]
    assert not (store.root / "alice" / "messages" / f"{message.id}.json").exists()


def test_save_is_one_atomic_index_write(store: VoicemailStore) -> None:
    leave(store)
    [message] = store.messages("alice")
    index = store.root / "alice" / "messages" / f"{message.id}.json"
    before = json.loads(index.read_text())
    assert store.move("alice", message.id, Folder.SAVED) == MessageWaitingChanged("alice", 0, 1)
    after = json.loads(index.read_text())
    assert (before["folder"], after["folder"]) == ("new", "saved")
    assert not list(index.parent.glob(".tmp-*"))
