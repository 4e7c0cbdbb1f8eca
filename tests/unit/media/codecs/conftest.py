"""Independent references the codec tests compare against, found once per session.

`sox` (apt sox) for G.711, spandsp's C library (apt libspandsp2, which baresip-core pulls in)
for G.722, called through ctypes. Without them the comparison tests skip on a developer machine
and fail under CI (`CI=true`), where `./setup.sh test` installs both.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

SOX_TIMEOUT_S = 30.0


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing under CI")
    pytest.skip(f"{what} is not installed")


@dataclass(frozen=True)
class Sox:
    """Runs sox on raw files in a scratch directory."""

    binary: str
    workdir: Path

    def convert(self, data: bytes, in_args: list[str], out_args: list[str]) -> bytes:
        src = self.workdir / "in.raw"
        dst = self.workdir / "out.raw"
        src.write_bytes(data)
        # -D: no automatic dither. Without it sox adds TPDF noise whenever the output has fewer
        # bits than the input (16 → 14-bit µ-law), so each run would give different codes.
        subprocess.run(
            [self.binary, "-D", "-V1", *in_args, str(src), *out_args, str(dst)],
            check=True,
            timeout=SOX_TIMEOUT_S,
            capture_output=True,
        )
        return dst.read_bytes()


@pytest.fixture(scope="session")
def sox(tmp_path_factory: pytest.TempPathFactory) -> Sox:
    binary = shutil.which("sox")
    if binary is None:
        _missing("sox (apt sox)")
        raise AssertionError("unreachable")
    return Sox(binary, tmp_path_factory.mktemp("sox"))


Int16 = npt.NDArray[np.int16]
UInt8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class SpanDspG722:
    """spandsp's G.722 (g722_encode_init / g722_encode / g722_decode), one fresh state per call."""

    lib: ctypes.CDLL

    def encode(self, samples: Int16, rate_bps: int = 64000, eight_khz: bool = False) -> bytes:
        state = self.lib.g722_encode_init(None, rate_bps, 1 if eight_khz else 0)
        try:
            pcm = np.ascontiguousarray(samples, dtype=np.int16)
            out = ctypes.create_string_buffer(len(pcm))
            n = self.lib.g722_encode(state, out, pcm.ctypes.data, len(pcm))
            return out.raw[:n]
        finally:
            self.lib.g722_encode_free(state)

    def decode(self, payload: bytes, rate_bps: int = 64000, eight_khz: bool = False) -> Int16:
        state = self.lib.g722_decode_init(None, rate_bps, 1 if eight_khz else 0)
        try:
            out = np.zeros(2 * len(payload), dtype=np.int16)
            n = self.lib.g722_decode(state, out.ctypes.data, payload, len(payload))
            return out[:n]
        finally:
            self.lib.g722_decode_free(state)


@pytest.fixture(scope="session")
def spandsp() -> SpanDspG722:
    name = ctypes.util.find_library("spandsp") or "libspandsp.so.2"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        _missing("libspandsp (apt libspandsp2)")
        raise AssertionError("unreachable") from None
    state_p, buf = ctypes.c_void_p, ctypes.c_char_p
    sigs: dict[str, tuple[type, list[type]]] = {
        "g722_encode_init": (state_p, [state_p, ctypes.c_int, ctypes.c_int]),
        "g722_decode_init": (state_p, [state_p, ctypes.c_int, ctypes.c_int]),
        "g722_encode": (ctypes.c_int, [state_p, buf, ctypes.c_void_p, ctypes.c_int]),
        "g722_decode": (ctypes.c_int, [state_p, ctypes.c_void_p, buf, ctypes.c_int]),
        "g722_encode_free": (ctypes.c_int, [state_p]),
        "g722_decode_free": (ctypes.c_int, [state_p]),
    }
    for fn, (restype, argtypes) in sigs.items():
        getattr(lib, fn).restype = restype
        getattr(lib, fn).argtypes = argtypes
    return SpanDspG722(lib)
