"""Shared signals: speech generated once per session (espeak-ng → sox → 8 kHz), wav helpers."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

SPEECH_TEXTS = {
    "en": "Hello, you have reached the office of Switchbox. Nobody is available to take your "
    "call right now. Please leave a message after the tone, or call again later. Goodbye.",
    "ru": "Здравствуйте, вы позвонили в компанию. Оставьте, пожалуйста, сообщение после сигнала.",
    # High, sustained vowels: the most tone-like speech espeak makes.
    "en+f3": "Oooh, I see. Yes, yes, yes. Mmmm. Well, no. Aaaaah, so you want the sales "
    "department? Hold on please.",
}


def read_wav(path: Path) -> tuple[int, npt.NDArray[np.int16]]:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def write_wav(path: Path, samples: npt.NDArray[np.int16], rate: int = 8000) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())


def add_noise(signal: npt.NDArray[np.int16], snr_db: float, seed: int = 0) -> npt.NDArray[np.int16]:
    """White noise over the whole band, `snr_db` below the power of the non-silent samples."""
    x = signal.astype(np.float64)
    power = float(np.mean(x[x != 0] ** 2))
    noise = np.random.default_rng(seed).normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), x.size)
    return np.clip(np.rint(x + noise), -32768, 32767).astype(np.int16)


def frames_of(samples: npt.NDArray[np.int16], size: int = 160) -> list[npt.NDArray[np.int16]]:
    return [samples[i : i + size] for i in range(0, samples.size, size)]


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, npt.NDArray[np.int16]]:
    """Speech at 8 kHz by voice (espeak-ng, resampled by sox), made once per session."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are needed for speech")
    out: dict[str, npt.NDArray[np.int16]] = {}
    base = tmp_path_factory.mktemp("speech")
    for voice, text in SPEECH_TEXTS.items():
        raw = base / f"{voice}.wav"
        narrow = base / f"{voice}-8k.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True, timeout=30)
        subprocess.run(
            ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(narrow)],
            check=True,
            timeout=30,
        )
        rate, samples = read_wav(narrow)
        assert rate == 8000
        out[voice] = samples
    return out
