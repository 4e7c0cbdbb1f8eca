"""Figures for docs/PERFORMANCE.md: CPU per 20 ms frame and detection margins (not a test).

Run: .venv/bin/python -m tests.unit.media.tones.bench_tones
CPU time is process time (best of 3), so other load on the machine inflates it less than wall
time would; speech comes from espeak-ng + sox like the tests.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from firmware.media.dsp.callerid import CallerId, CallerIdDecoder, CallTime, encode_mdmf, fsk_audio
from firmware.media.dsp.fax import FaxToneDetector
from firmware.media.dsp.fsk import FskDemodulator, FskStandard
from firmware.media.dsp.progress import ProgressDetector, ProgressTone
from firmware.media.dsp.tones import PLANS, Country, ToneGenerator, ToneKind

from .conftest import SPEECH_TEXTS, add_noise, read_wav

Samples = npt.NDArray[np.int16]


class _Processor(Protocol):
    def process(self, samples: Samples) -> object: ...


def cpu_us_per_frame(make: Callable[[], _Processor], signal: Samples) -> float:
    frames = [signal[i : i + 160] for i in range(0, signal.size // 160 * 160, 160)]
    best = float("inf")
    for _ in range(3):
        obj = make()
        start = time.process_time()
        for f in frames:
            obj.process(f)
        best = min(best, (time.process_time() - start) / len(frames) * 1e6)
    return best


def speech() -> Samples:
    with tempfile.TemporaryDirectory() as tmp:
        parts = []
        for voice, text in SPEECH_TEXTS.items():
            raw, narrow = Path(tmp) / "s.wav", Path(tmp) / "s8.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True)
            subprocess.run(["sox", str(raw), "-r", "8000", "-b", "16", str(narrow)], check=True)
            parts.append(read_wav(narrow)[1])
    return np.concatenate(parts)


def play(country: Country, kind: ToneKind, seconds: float, gain_db: float = 0.0) -> Samples:
    gen = ToneGenerator(PLANS[country].tone(kind), gain_db=gain_db)
    return np.concatenate([gen.next_frame() for _ in range(int(seconds * 50))])


def classified(country: Country, kind: ToneKind, signal: Samples) -> bool:
    det = ProgressDetector(PLANS[country])
    events = [e.tone for i in range(0, signal.size, 160) for e in det.process(signal[i : i + 160])]
    return events == [ProgressTone(kind.value)]


def progress_margins(talk: Samples) -> None:
    kinds = [ToneKind.DIAL, ToneKind.RINGBACK, ToneKind.BUSY, ToneKind.CONGESTION]
    for snr in (10, 6, 3, 0):
        ok = sum(
            classified(c, k, add_noise(play(c, k, 8.0), snr, seed))
            for c in Country
            for k in kinds
            for seed in range(2)
        )
        print(f"progress: {ok}/{len(Country) * len(kinds) * 2} tones classified at {snr} dB SNR")
    for gain in (-12, -18, -24):
        ok = sum(classified(c, k, play(c, k, 8.0, gain)) for c in Country for k in kinds)
        print(f"progress: {ok}/{len(Country) * len(kinds)} classified {gain} dB below plan level")
    for country in Country:
        det = ProgressDetector(PLANS[country])
        blocks = talk[: talk.size // 160 * 160].reshape(-1, 160).astype(np.float64)
        labels, _ = det._label(blocks)  # noqa: SLF001 - measurement of the internal labeller
        tonal = [isinstance(lab, frozenset) for lab in labels]
        longest = run = 0
        for t in tonal:
            run = run + 1 if t else 0
            longest = max(longest, run)
        print(
            f"progress {country}: speech blocks tonal {100 * np.mean(tonal):.1f} %, longest "
            f"tonal run {20 * longest} ms (shortest cadenced burst in plans: 175 ms)"
        )


def fsk_margins() -> None:
    msg = encode_mdmf(CallerId(number="5551234567", name="JOHN DOE", time=CallTime(3, 24, 9, 2)))
    for standard in FskStandard:
        burst = np.concatenate([np.zeros(800, np.int16), fsk_audio(msg, standard)])
        for snr in (10, 8, 6, 4):
            ok = 0
            for seed in range(20):
                dec = CallerIdDecoder(dtmf=False)
                noisy = add_noise(burst, snr, seed)
                got = [
                    r for i in range(0, noisy.size, 160) for r in dec.process(noisy[i : i + 160])
                ]
                ok += len(got) == 1
            print(f"fsk {standard}: {ok}/20 MDMF frames at {snr} dB SNR (white, whole band)")


def main() -> None:
    talk = speech()
    busy = play(Country.EU, ToneKind.BUSY, 10.0)
    quiet = np.zeros(8000 * 10, dtype=np.int16)
    msg = encode_mdmf(CallerId(number="5551234567", name="JOHN DOE", time=CallTime(3, 24, 9, 2)))
    bursts = np.tile(np.concatenate([fsk_audio(msg, FskStandard.V23), np.zeros(800, np.int16)]), 8)
    rows: list[tuple[str, Callable[[], _Processor], Samples]] = [
        ("ProgressDetector(EU), speech", lambda: ProgressDetector(PLANS[Country.EU]), talk),
        ("ProgressDetector(EU), busy tone", lambda: ProgressDetector(PLANS[Country.EU]), busy),
        ("ProgressDetector(US), speech", lambda: ProgressDetector(PLANS[Country.US]), talk),
        ("FskDemodulator, silence", FskDemodulator, quiet),
        ("FskDemodulator, speech", FskDemodulator, talk),
        ("FskDemodulator, back-to-back V.23 bursts", FskDemodulator, bursts),
        ("CallerIdDecoder(dtmf=False), bursts", lambda: CallerIdDecoder(dtmf=False), bursts),
        ("CallerIdDecoder(dtmf=True), speech", CallerIdDecoder, talk),
        ("CallerIdDecoder(dtmf=True), silence", CallerIdDecoder, quiet),
        ("FaxToneDetector, speech", FaxToneDetector, talk),
    ]
    for name, make, signal in rows:
        print(f"{name:45s} {cpu_us_per_frame(make, signal):7.1f} µs per 20 ms frame")
    progress_margins(talk)
    fsk_margins()


if __name__ == "__main__":
    main()
