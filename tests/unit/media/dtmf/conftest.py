"""Shared test signals for the DTMF, MF and AON tests, and the talk-off corpus fixture.

The corpus is synthesised by espeak-ng and sox (see `corpus.py`) once and kept under pytest's
temporary root, keyed by the corpus recipe and the tool versions, so later sessions reuse it.
Without the tools the talk-off tests skip on a developer machine and fail under CI (`CI=true`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from firmware.media.dsp.dtmf import DigitDetected, DigitOnset, DtmfReceiver

from .corpus import Corpus, load_corpus, make_corpus

Int16 = npt.NDArray[np.int16]


def add_noise(x: Int16, snr_db: float, rng: np.random.Generator, ref: Int16 | None = None) -> Int16:
    """`x` plus white Gaussian noise `snr_db` below the power of `ref` (default: `x` itself,
    measured over its non-silent samples)."""
    r = (x if ref is None else ref).astype(np.float64)
    active = r[r != 0] if r.any() else r
    power = float(np.mean(active**2))
    noise = rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), x.shape)
    return np.clip(np.rint(x + noise), -32768, 32767).astype(np.int16)


def feed(receiver: DtmfReceiver, x: Int16, frame: int = 160) -> list[DigitOnset | DigitDetected]:
    """Run `x` (`(n,)` or `(channels, n)`) through `receiver` in frames, then 100 ms of silence."""
    events: list[DigitOnset | DigitDetected] = []
    n = x.shape[-1]
    for i in range(0, n, frame):
        events += receiver.process(x[..., i : i + frame])
    tail = np.zeros(x.shape[:-1] + (800,), dtype=np.int16)
    events += receiver.process(tail)
    return events


def digits(events: Iterable[object], channel: int | None = None) -> str:
    """The digits of the `DigitDetected` events (of one channel if given), in order."""
    return "".join(
        e.digit
        for e in events
        if isinstance(e, DigitDetected) and (channel is None or e.channel == channel)
    )


def _tool_version(cmd: list[str]) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    return (out.stdout + out.stderr).strip()


@pytest.fixture(scope="session")
def talkoff_corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} missing under CI")
        pytest.skip(f"{', '.join(missing)} not installed")
    recipe = (Path(__file__).parent / "corpus.py").read_bytes()
    versions = _tool_version(["espeak-ng", "--version"]) + _tool_version(["sox", "--version"])
    key = hashlib.sha256(recipe + versions.encode()).hexdigest()[:16]
    cache = tmp_path_factory.getbasetemp().parent / f"switchbox-talkoff-{key}"
    if not (cache / "complete").exists():
        work = tmp_path_factory.mktemp("talkoff")
        make_corpus(work)
        (work / "complete").touch()
        shutil.rmtree(cache, ignore_errors=True)
        shutil.copytree(work, cache)
    return load_corpus(cache)
