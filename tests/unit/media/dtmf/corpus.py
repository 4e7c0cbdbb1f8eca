"""Talk-off corpus made at test time: espeak-ng speech in seven languages and sox music.

Nothing here is stored in the repository: the tools synthesise it once per test session (a few
seconds) into pytest's temporary directory. Speech comes in three voices per language (low male,
mid, high female: sparse high harmonics are the classic speech talk-off risk). Music is what
DTMF receivers are traditionally tested against: triads and seventh chords in five timbres over
two octaves, fast arpeggios, two-note intervals in harmonic-rich timbres, and slow and fast
sweeps (a sweep passes every frequency pair in turn). Pure two-sine intervals are left out on
purpose: two sines within tolerance of a DTMF pair *are* a DTMF signal by Q.24's definition.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

RATE_HZ = 8000
TOOL_TIMEOUT_S = 60

TEXTS: dict[str, str] = {
    "en-us": (
        "Good morning, you have reached the front desk. Please hold while we transfer your call. "
        "The quarterly report shows that sales rose by seven percent, while costs stayed flat. "
        "If you know the extension of the person you are calling, you may dial it at any time. "
        "Our office is open from nine to five, Monday through Friday, except public holidays. "
        "Thank you for calling, and have a wonderful day."
    ),
    "ru": (
        "Здравствуйте, вы позвонили в приёмную. Пожалуйста, оставайтесь на линии. "
        "Отчёт за квартал показывает, что продажи выросли на семь процентов, а расходы не "
        "изменились. Если вы знаете добавочный номер сотрудника, наберите его в любое время. "
        "Офис работает с девяти до шести, с понедельника по пятницу. Спасибо за звонок, "
        "всего вам доброго, до свидания."
    ),
    "de": (
        "Guten Morgen, Sie sind mit der Zentrale verbunden. Bitte bleiben Sie am Apparat. "
        "Der Quartalsbericht zeigt, dass der Umsatz um sieben Prozent gestiegen ist. "
        "Wenn Sie die Durchwahl kennen, können Sie sie jederzeit wählen. Unser Büro ist von "
        "neun bis siebzehn Uhr geöffnet. Vielen Dank für Ihren Anruf und auf Wiederhören."
    ),
    "fr": (
        "Bonjour, vous êtes bien à l'accueil. Veuillez patienter, nous transférons votre appel. "
        "Le rapport trimestriel montre que les ventes ont augmenté de sept pour cent. "
        "Si vous connaissez le numéro de poste de votre correspondant, composez-le à tout "
        "moment. Nos bureaux sont ouverts de neuf heures à dix-sept heures. Merci de votre appel."
    ),
    "es": (
        "Buenos días, ha llamado a la recepción. Por favor, espere mientras transferimos su "
        "llamada. El informe trimestral muestra que las ventas subieron un siete por ciento. "
        "Si conoce la extensión de la persona, puede marcarla en cualquier momento. Nuestra "
        "oficina abre de nueve a cinco, de lunes a viernes. Gracias por llamar."
    ),
    "cmn": (
        "早上好，这里是前台。请稍等，我们正在为您转接电话。季度报告显示，销售额增长了百分之七，"
        "而成本保持不变。如果您知道对方的分机号码，可以随时拨打。我们的办公时间是周一至周五，"
        "上午九点到下午五点。感谢您的来电，祝您愉快。"
    ),
    "it": (
        "Buongiorno, avete chiamato il centralino. Restate in linea, per favore. Il rapporto "
        "trimestrale mostra che le vendite sono cresciute del sette per cento. Se conoscete "
        "l'interno della persona, potete comporlo in qualsiasi momento. Grazie per aver chiamato."
    ),
}

VOICES: tuple[tuple[str, int, int], ...] = (("+m3", 25, 150), ("", 55, 170), ("+f4", 95, 185))
"""(espeak-ng variant, pitch 0–99, words per minute)."""

TIMBRES = ("sine", "triangle", "square", "sawtooth", "pluck")
CHORDS = ((0, 4, 7), (0, 3, 7), (0, 4, 7, 10), (0, 3, 7, 10), (0, 4, 7, 11))
INTERVAL_TIMBRES = ("square", "sawtooth", "pluck", "triangle")


@dataclass(frozen=True, slots=True)
class Corpus:
    """Talk-off material, 8 kHz int16, by item name."""

    speech: dict[str, npt.NDArray[np.int16]]
    music: dict[str, npt.NDArray[np.int16]]

    @staticmethod
    def seconds(part: dict[str, npt.NDArray[np.int16]]) -> float:
        return sum(len(x) for x in part.values()) / RATE_HZ


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=TOOL_TIMEOUT_S)


def _to_8k_raw(src: Path, dst: Path) -> npt.NDArray[np.int16]:
    _run(
        [
            "sox",
            "-D",
            str(src),
            "-r",
            str(RATE_HZ),
            "-b",
            "16",
            "-e",
            "signed-integer",
            "-c",
            "1",
            "-t",
            "raw",
            str(dst),
        ]
    )
    return np.fromfile(dst, dtype=np.int16)


def _normalise(x: npt.NDArray[np.int16], rms_dbm0: float) -> npt.NDArray[np.int16]:
    """Scale so the active (non-silent) part has RMS `rms_dbm0` (0 dBm0 RMS = 22 776/√2)."""
    xf = x.astype(np.float64)
    active = xf[np.abs(xf) > 0.01 * np.abs(xf).max()] if xf.any() else xf
    rms = float(np.sqrt(np.mean(active**2))) if active.size else 1.0
    target = 22776.0 / np.sqrt(2.0) * 10.0 ** (rms_dbm0 / 20.0)
    return np.clip(np.rint(xf * target / rms), -32768, 32767).astype(np.int16)


def _speak(workdir: Path, lang: str, variant: str, pitch: int, wpm: int, text: str) -> str:
    name = f"speech-{lang}{variant or '+default'}-p{pitch}"
    wav = workdir / f"{name}.wav"
    _run(
        ["espeak-ng", "-v", lang + variant, "-p", str(pitch), "-s", str(wpm), "-w", str(wav), text]
    )
    raw = _to_8k_raw(wav, workdir / f"{name}.raw")
    _normalise(raw, -18.0).tofile(workdir / f"{name}.raw")
    wav.unlink()
    return name


def make_speech(workdir: Path, pool: ThreadPoolExecutor) -> list[str]:
    jobs = [
        pool.submit(_speak, workdir, lang, variant, pitch, wpm, text)
        for lang, text in TEXTS.items()
        for variant, pitch, wpm in VOICES
    ]
    return [job.result() for job in jobs]


def _synth(workdir: Path, name: str, segments: list[str]) -> str:
    """One sox run: effect chains separated by ':' play one after the other."""
    raw = workdir / f"music-{name}.raw"
    cmd = [
        "sox",
        "-D",
        "-n",
        "-r",
        str(RATE_HZ),
        "-b",
        "16",
        "-e",
        "signed-integer",
        "-c",
        "1",
        "-t",
        "raw",
        str(raw),
    ]
    for i, seg in enumerate(segments):
        if i:
            cmd.append(":")
        cmd += seg.split()
    _run(cmd)
    _normalise(np.fromfile(raw, dtype=np.int16), -15.0).tofile(raw)
    return raw.stem


def make_music(workdir: Path, pool: ThreadPoolExecutor) -> list[str]:
    pieces: dict[str, list[str]] = {}
    # Roots from C4 (%-9 semitones from A4) up two octaves: the DTMF band and its harmonics.
    roots = range(-9, 15)
    for timbre in TIMBRES:
        pieces[f"chords-{timbre}"] = [
            f"synth 0.3 {' '.join(f'{timbre} %{root + n}' for n in chord)} channels 1 gain -n -3"
            for root in roots
            for chord in CHORDS
        ]
    for timbre in ("pluck", "triangle", "square"):
        pieces[f"arpeggio-{timbre}"] = [
            f"synth 0.07 {timbre} %{root + n} gain -n -3"
            for root in roots
            for chord in CHORDS[:2]
            for n in chord + (12,)
        ]
    for timbre in INTERVAL_TIMBRES:
        pieces[f"intervals-{timbre}"] = [
            f"synth 0.15 {timbre} %{low} {timbre} %{low + step} channels 1 gain -n -3"
            for low in range(-12, 6, 2)
            for step in range(3, 25, 2)
        ]
    pieces["sweeps"] = [
        "synth 4 sine 300-3400 gain -n -3",
        "synth 2 sine 3400-300 gain -n -3",
        "synth 4 sawtooth 200-1800 gain -n -3",
        "synth 3 square 150-1000 gain -n -3",
        "synth 6 sine 300-3400 sine 450-2000 channels 1 gain -n -3",
    ]
    jobs = [pool.submit(_synth, workdir, name, segs) for name, segs in pieces.items()]
    return [job.result() for job in jobs]


def make_corpus(workdir: Path) -> None:
    """Synthesise every item into `workdir` as 8 kHz int16 raw files."""
    workdir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        make_speech(workdir, pool)
        make_music(workdir, pool)


def load_corpus(workdir: Path) -> Corpus:
    speech = {p.stem: np.fromfile(p, dtype=np.int16) for p in sorted(workdir.glob("speech-*.raw"))}
    music = {p.stem: np.fromfile(p, dtype=np.int16) for p in sorted(workdir.glob("music-*.raw"))}
    return Corpus(speech, music)
