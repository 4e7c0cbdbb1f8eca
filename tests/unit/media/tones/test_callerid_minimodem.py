"""Caller ID against an independent modem: minimodem (Debian package `minimodem`, 0.24).

Both directions at the box's own rate, 8 kHz 16-bit mono WAV:
* we send, minimodem receives: `minimodem --rx callerid` (its Bell 202 caller-ID decoder, which
  parses SDMF/MDMF itself) and `minimodem --rx 1200 [-M 1300 -S 2100]` (raw 8-N-1 bytes, for
  V.23 too), `-f file.wav` so the sample rate comes from the file;
* minimodem sends (`--tx 1200 -R 8000 [-M 1300 -S 2100]`, 30 × 0x55 seizure + our frame),
  `CallerIdDecoder` receives and must name the standard.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from firmware.media.dsp.callerid import (
    CallerId,
    CallerIdDecoder,
    CallTime,
    CidSignalling,
    MessageWaiting,
    encode_mdmf,
    encode_sdmf,
    encode_vmwi,
    fsk_audio,
)
from firmware.media.dsp.fsk import FskStandard

from .conftest import frames_of, read_wav, write_wav

pytestmark = pytest.mark.skipif(shutil.which("minimodem") is None, reason="needs minimodem")

V23_FLAGS = ["-M", "1300", "-S", "2100"]
PAD = np.zeros(800, dtype=np.int16)


def minimodem(*args: str, stdin: bytes = b"") -> bytes:
    done = subprocess.run(
        ["minimodem", *args], input=stdin, capture_output=True, check=True, timeout=20
    )
    return done.stdout


def callers(count: int, seed: int) -> list[CallerId]:
    rnd = random.Random(seed)
    return [
        CallerId(
            number="".join(rnd.choice("0123456789") for _ in range(10)),
            name="".join(rnd.choice("ABCDEFGHIJKLMNOP ") for _ in range(rnd.randint(4, 15))),
            time=CallTime(
                rnd.randint(1, 12), rnd.randint(1, 28), rnd.randint(0, 23), rnd.randint(0, 59)
            ),
        )
        for _ in range(count)
    ]


def test_minimodem_callerid_decoder_reads_our_bell202_mdmf(tmp_path: Path) -> None:
    cid = CallerId(number="5551234567", name="JOHN DOE", time=CallTime(3, 24, 9, 2))
    wav = tmp_path / "mdmf.wav"
    write_wav(wav, np.concatenate([PAD, fsk_audio(encode_mdmf(cid), FskStandard.BELL_202), PAD]))
    text = minimodem("--rx", "callerid", "-q", "-f", str(wav)).decode()
    assert "CALLER-ID" in text
    assert "Time:  03/24 09:02" in text
    assert "Phone: 555-123-4567" in text
    assert "Name:  JOHN DOE" in text


def test_minimodem_callerid_decoder_reads_our_bell202_sdmf(tmp_path: Path) -> None:
    cid = CallerId(number="6095551212", time=CallTime(9, 30, 12, 24))
    wav = tmp_path / "sdmf.wav"
    write_wav(wav, np.concatenate([PAD, fsk_audio(encode_sdmf(cid), FskStandard.BELL_202), PAD]))
    text = minimodem("--rx", "callerid", "-q", "-f", str(wav)).decode()
    assert "Time:  09/30 12:24" in text and "Phone: 609-555-1212" in text


@pytest.mark.parametrize("standard", list(FskStandard))
def test_minimodem_receives_our_frames_byte_exact(standard: FskStandard, tmp_path: Path) -> None:
    flags = V23_FLAGS if standard is FskStandard.V23 else []
    frames = [encode_mdmf(c) for c in callers(6, seed=1)]
    frames += [encode_vmwi(MessageWaiting(True)), encode_vmwi(MessageWaiting(False), mdmf=False)]
    for i, frame in enumerate(frames):
        wav = tmp_path / f"{standard}-{i}.wav"
        write_wav(wav, np.concatenate([PAD, fsk_audio(frame, standard), PAD]))
        got = minimodem("--rx", "1200", *flags, "-q", "-f", str(wav))
        assert frame in got, f"frame {i}: sent {frame.hex()} minimodem got {got.hex()}"


@pytest.mark.parametrize("standard", list(FskStandard))
def test_we_decode_what_minimodem_sends(standard: FskStandard, tmp_path: Path) -> None:
    flags = V23_FLAGS if standard is FskStandard.V23 else []
    want = CidSignalling.V23 if standard is FskStandard.V23 else CidSignalling.BELL_202
    for i, cid in enumerate(callers(6, seed=2)):
        wav = tmp_path / f"tx-{standard}-{i}.wav"
        minimodem(
            "--tx",
            "1200",
            *flags,
            "-R",
            "8000",
            "-f",
            str(wav),
            stdin=b"\x55" * 30 + encode_mdmf(cid),
        )
        rate, audio = read_wav(wav)
        assert rate == 8000
        decoder = CallerIdDecoder(dtmf=False)
        got = [r for f in frames_of(np.concatenate([PAD, audio, PAD])) for r in decoder.process(f)]
        assert [(r.message, r.signalling) for r in got] == [(cid, want)], f"caller {i}"
