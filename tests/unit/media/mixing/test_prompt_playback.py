"""Voice prompts: espeak-ng build (EN + RU subset), uploads over generated, grammar, barge-in."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from firmware.media import prompt_catalog as pc
from firmware.media.prompt_catalog import CATALOG, Gender, Language
from firmware.media.prompts import (
    BargeIn,
    PlayerState,
    PromptLibrary,
    PromptNotFound,
    PromptPlayer,
    build,
)

ROOT = Path(__file__).resolve().parents[4]
N = 160
EN_SUBSET = ["queue.position", "number.3", "vm.enter_pin"]
RU_SUBSET = ["queue.position", "ordinal.3", "number.1.neuter"]


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A subset of prompts built once: EN through the command line, RU through `build()`."""
    out = tmp_path_factory.mktemp("prompts")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "firmware.media.prompts",
            "build",
            "--out",
            str(out),
            "--lang",
            "en",
            "--only",
            ",".join(EN_SUBSET),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )
    build(out, [Language.RU], RU_SUBSET)
    return out


def sox_info(path: Path, flag: str) -> str:
    return subprocess.run(
        ["sox", "--i", flag, str(path)], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()


def dbm0(x: npt.NDArray[np.int16]) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) / (22776.0**2 / 2) + 1e-20))


@pytest.mark.parametrize(
    ("lang", "prompt_id"),
    [("en", p) for p in EN_SUBSET] + [("ru", p) for p in RU_SUBSET],
)
def test_generated_prompt_is_8khz_mono_16bit_speech(
    generated: Path, lang: str, prompt_id: str
) -> None:
    path = generated / lang / f"{prompt_id}.wav"
    assert sox_info(path, "-r") == "8000"
    assert sox_info(path, "-c") == "1"
    assert sox_info(path, "-b") == "16"
    seconds = float(sox_info(path, "-D"))
    assert 0.2 < seconds < 6.0
    with wave.open(str(path), "rb") as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert dbm0(samples) > -35.0  # speech, not silence
    assert np.abs(samples).max() < 32767  # normalised below full scale, not clipped


def test_longer_text_makes_a_longer_prompt(generated: Path) -> None:
    short = float(sox_info(generated / "en" / "number.3.wav", "-D"))
    long = float(sox_info(generated / "en" / "vm.enter_pin.wav", "-D"))
    assert long > 2 * short


def test_rebuild_skips_unchanged_prompts(generated: Path) -> None:
    report = build(generated, [Language.RU], RU_SUBSET)
    assert report.built == () and len(report.skipped) == len(RU_SUBSET)


def test_uploaded_recording_wins_over_the_generated_prompt(generated: Path, tmp_path: Path) -> None:
    custom = tmp_path / "custom"
    upload = custom / "en" / "vm.enter_pin.flac"
    upload.parent.mkdir(parents=True)
    subprocess.run(
        ["sox", "-n", "-r", "16000", "-c", "2", str(upload), "synth", "0.5", "sine", "1000"],
        check=True,
        timeout=30,
    )
    library = PromptLibrary(generated, custom)
    assert library.path(Language.EN, "vm.enter_pin") == upload
    audio = library.audio(Language.EN, "vm.enter_pin")
    assert len(audio) == 4000  # converted to 8 kHz mono on load
    spectrum = np.abs(np.fft.rfft(audio.astype(np.float64)))
    assert np.argmax(spectrum) * 8000 / len(audio) == pytest.approx(1000, abs=4)
    assert library.path(Language.EN, "number.3") == generated / "en" / "number.3.wav"
    upload.unlink()
    library.forget(Language.EN, "vm.enter_pin")
    assert len(library.audio(Language.EN, "vm.enter_pin")) > 8000  # the spoken one again


def test_upload_command_converts_once_to_8khz_mono_wav(tmp_path: Path) -> None:
    source = tmp_path / "greeting.wav"
    subprocess.run(
        ["sox", "-n", "-r", "44100", "-c", "2", str(source), "synth", "0.3", "sine", "500"],
        check=True,
        timeout=30,
    )
    custom = tmp_path / "custom"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "firmware.media.prompts",
            "upload",
            "--custom",
            str(custom),
            "--lang",
            "ru",
            "--id",
            "vm.greeting.default",
            str(source),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )
    target = custom / "ru" / "vm.greeting.default.wav"
    assert (sox_info(target, "-r"), sox_info(target, "-c")) == ("8000", "1")
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "firmware.media.prompts",
            "upload",
            "--custom",
            str(custom),
            "--lang",
            "ru",
            "--id",
            "../../etc/passwd",
            str(source),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "no prompt" in bad.stderr


def test_missing_prompt_falls_back_to_default_language_then_fails(generated: Path) -> None:
    library = PromptLibrary(generated, default_language=Language.EN)
    assert library.path(Language.RU, "vm.enter_pin") == generated / "en" / "vm.enter_pin.wav"
    with pytest.raises(PromptNotFound):
        library.path(Language.RU, "vm.main_menu")


def test_library_player_says_the_russian_queue_position(generated: Path) -> None:
    library = PromptLibrary(generated)
    ids = pc.queue_position(3, Language.RU)
    assert ids == ["queue.position", "ordinal.3"]
    player = library.player(Language.RU, ids)
    total = sum(len(library.audio(Language.RU, p)) for p in ids)
    frames = []
    while (frame := player.next_frame()) is not None:
        frames.append(frame)
    assert len(frames) == -(-total // N)
    assert player.state is PlayerState.FINISHED


# --- player -------------------------------------------------------------------------------------


def test_player_plays_clips_back_to_back_then_stops() -> None:
    a = np.arange(1, 401, dtype=np.int16)
    b = -np.arange(1, 251, dtype=np.int16)
    player = PromptPlayer([a, b])
    assert player.duration_ms == 100
    frames = []
    while (frame := player.next_frame()) is not None:
        frames.append(frame)
    played = np.concatenate(frames)
    np.testing.assert_array_equal(played[:650], np.concatenate([a, b]))
    assert not played[650:].any() and len(played) == 800
    assert player.state is PlayerState.FINISHED
    assert player.on_digit("1") is None


def test_digit_barges_in_and_is_reported() -> None:
    player = PromptPlayer([np.ones(50 * N, dtype=np.int16)])
    for _ in range(3):
        assert player.next_frame() is not None
    assert player.on_digit("5") == BargeIn("5", 60)
    assert player.state is PlayerState.INTERRUPTED
    assert player.next_frame() is None
    assert player.on_digit("6") is None


def test_uninterruptible_prompt_ignores_digits() -> None:
    player = PromptPlayer([np.ones(3 * N, dtype=np.int16)], barge_in=False)
    player.next_frame()
    assert player.on_digit("5") is None
    assert player.next_frame() is not None and player.state is PlayerState.PLAYING


# --- catalog and grammar ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "У вас нет новых сообщений."),
        (1, "У вас одно новое сообщение."),
        (2, "У вас два новых сообщения."),
        (4, "У вас четыре новых сообщения."),
        (5, "У вас пять новых сообщений."),
        (11, "У вас одиннадцать новых сообщений."),
        (12, "У вас двенадцать новых сообщений."),
        (21, "У вас двадцать одно новое сообщение."),
        (22, "У вас двадцать два новых сообщения."),
        (111, "У вас сто одиннадцать новых сообщений."),
        (101, "У вас сто одно новое сообщение."),
        (345, "У вас триста сорок пять новых сообщений."),
    ],
)
def test_russian_message_count_agrees_in_gender_and_case(n: int, expected: str) -> None:
    assert pc.render(Language.RU, pc.message_count(n, Language.RU)) == expected


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, "Ваш номер в очереди: первый"),
        (3, "Ваш номер в очереди: третий"),
        (4, "Ваш номер в очереди: четвёртый"),
        (12, "Ваш номер в очереди: двенадцатый"),
        (21, "Ваш номер в очереди: двадцать первый"),
        (40, "Ваш номер в очереди: сороковой"),
        (99, "Ваш номер в очереди: девяносто девятый"),
        (150, "Перед вами в очереди много абонентов."),
    ],
)
def test_russian_queue_position_is_an_ordinal(n: int, expected: str) -> None:
    assert pc.render(Language.RU, pc.queue_position(n, Language.RU)) == expected


def test_english_phrases() -> None:
    en = Language.EN
    assert pc.render(en, pc.queue_position(3, en)) == "You are caller number three"
    assert pc.render(en, pc.queue_position(47, en)) == "You are caller number forty seven"
    assert pc.render(en, pc.message_count(1, en)) == "You have one new message."
    assert pc.render(en, pc.message_count(305, en)) == "You have three hundred five new messages."
    assert pc.render(en, pc.digits("20#", en)) == "two zero hash"


def test_russian_feminine_numbers() -> None:
    assert pc.render(Language.RU, pc.cardinal(22, Language.RU, Gender.FEMININE)) == "двадцать две"
    assert pc.render(Language.RU, pc.cardinal(31, Language.RU, Gender.FEMININE)) == "тридцать одна"


@pytest.mark.parametrize("lang", list(Language))
def test_every_phrase_for_0_to_999_uses_only_catalog_prompts(lang: Language) -> None:
    texts = CATALOG[lang]
    for n in range(0, 1000):
        ids = pc.message_count(n, lang) + pc.message_count(n, lang, saved=True)
        ids += pc.cardinal(n, lang, Gender.FEMININE) + pc.cardinal(n, lang, Gender.NEUTER)
        if n >= 1:
            ids += pc.queue_position(n, lang)
        missing = [p for p in ids if p not in texts]
        assert not missing, f"{lang.value} {n}: {missing}"
    assert all(p in texts for p in pc.extension_greeting("201*#", lang))
    assert all(p in texts for p in pc.default_greeting(lang))
    assert {"vm.enter_pin", "queue.position", "number_unavailable"} <= texts.keys()
    assert all(f"number.{d}" in texts for d in range(10))


def test_catalog_languages_have_the_same_phrases() -> None:
    def phrases(lang: Language) -> set[str]:
        return {
            p
            for p in CATALOG[lang]
            if not p.startswith(("number.", "ordinal.", "vm.new_messages.", "vm.saved_messages."))
        }

    assert phrases(Language.EN) == phrases(Language.RU)
