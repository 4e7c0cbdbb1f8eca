"""Far- and near-end speech for the echo canceller: espeak-ng in four languages, made once."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from .line_model import RATE_HZ, TOOL_TIMEOUT_S, Signal, at_level

TEXTS = {
    "en-us": "Good morning, you have reached the front desk. Please hold while we transfer your "
    "call. The quarterly report shows that sales rose by seven percent, while costs stayed flat. "
    "If you know the extension of the person you are calling, you may dial it at any time.",
    "de": "Guten Morgen, Sie sind mit der Zentrale verbunden. Bitte bleiben Sie am Apparat. Der "
    "Quartalsbericht zeigt, dass der Umsatz um sieben Prozent gestiegen ist. Wenn Sie die "
    "Durchwahl kennen, können Sie sie jederzeit wählen.",
    "fr": "Bonjour, vous êtes bien à l'accueil. Veuillez patienter, nous transférons votre appel. "
    "Le rapport trimestriel montre que les ventes ont augmenté de sept pour cent. Si vous "
    "connaissez le numéro de poste, composez-le à tout moment.",
    "es": "Buenos días, ha llamado a la recepción. Por favor, espere mientras transferimos su "
    "llamada. El informe trimestral muestra que las ventas subieron un siete por ciento. Si "
    "conoce la extensión de la persona, puede marcarla en cualquier momento.",
}

SPEECH_LEVEL_DBM0 = -18.0
"""Active speech level of both talkers (a loud but ordinary talker on a phone line)."""


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Signal]:
    """≈ 10 s of speech per language at 8 kHz and −18 dBm0 (espeak-ng, resampled by sox)."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are needed for speech")
    base = tmp_path_factory.mktemp("echo-speech")
    out: dict[str, Signal] = {}
    for voice, text in TEXTS.items():
        wide = base / f"{voice}.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", "165", "-w", str(wide), text],
            check=True,
            timeout=TOOL_TIMEOUT_S,
        )
        narrow = subprocess.run(
            [
                "sox",
                "-D",
                str(wide),
                "-t",
                "raw",
                "-r",
                str(RATE_HZ),
                "-e",
                "signed-integer",
                "-b",
                "16",
                "-c",
                "1",
                "-",
            ],
            capture_output=True,
            check=True,
            timeout=TOOL_TIMEOUT_S,
        ).stdout
        samples = np.frombuffer(narrow, dtype="<i2").astype(np.float64)
        out[voice] = at_level(samples, SPEECH_LEVEL_DBM0)
    return out
