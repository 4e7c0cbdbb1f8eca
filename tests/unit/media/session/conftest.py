"""Speech for the PLC tests: espeak-ng, resampled to 8 kHz by sox, made once per session."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

SENTENCE = (
    "The quick brown fox jumps over the lazy dog. "
    "Please hold while we connect your call to the sales department."
)


@pytest.fixture(scope="session")
def speech_8k(tmp_path_factory: pytest.TempPathFactory) -> npt.NDArray[np.int16]:
    """About 6 s of synthetic English speech, 8 kHz mono int16."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are needed for the speech signal")
    folder = tmp_path_factory.mktemp("speech")
    wav = folder / "speech.wav"
    raw = folder / "speech_8k.raw"
    subprocess.run(["espeak-ng", "-w", str(wav), SENTENCE], check=True, timeout=60)
    subprocess.run(
        ["sox", str(wav), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(raw)],
        check=True,
        timeout=60,
    )
    return np.fromfile(Path(raw), dtype=np.int16)
