"""Fixtures for interop tests: the PBX process and the third-party peers' binaries.

`pbx` starts a fresh PBX per test (its own config, data dir and free ports on 127.0.0.1) and
stops it with SIGTERM afterwards, failing the test if it does not exit within 2 s or logged a
traceback. `sipp` and `baresip` give the binaries' paths, skipping (failing under CI) without them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .binaries import require
from .pbx import PbxProcess


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[PbxProcess]:
    """A running PBX with extensions 201, 202, 203 (see `PbxProcess.extensions`)."""
    workdir = tmp_path / "pbx"
    workdir.mkdir()
    process = PbxProcess(workdir=workdir)
    process.start()
    try:
        yield process
    finally:
        try:
            process.stop()
        finally:
            process.kill()
    process.check_no_tracebacks()


@pytest.fixture
def sipp() -> str:
    """Path of the SIPp binary (Debian package sip-tester)."""
    return require("sipp")


@pytest.fixture
def baresip() -> str:
    """Path of the baresip binary (Debian package baresip-core)."""
    return require("baresip")
