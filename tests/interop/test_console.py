"""`switchbox run --console`: an installer rehearses on the simulated board from a terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .ports import free_port

pytestmark = pytest.mark.interop


def test_the_console_drives_the_simulated_board_of_the_running_pbx(tmp_path: Path) -> None:
    commands = "board\nphone 1 lift\nphone 1 status\nphone 7 lift\nphone 1 hangup\n"
    proc = subprocess.Popen(
        [sys.executable, "-m", "firmware", "run", "--data", str(tmp_path / "data"),
         "--sip-listen", "127.0.0.1", "--sip-port", str(free_port()), "--console",
         "--log-level", "warning"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(commands, timeout=3)
    except subprocess.TimeoutExpired:
        # Still serving after the commands ran out: the console ended, the PBX did not.
        proc.terminate()
        out, err = proc.communicate(timeout=5)
    lines = out.splitlines()
    assert any(line.startswith("switchbox ready") for line in lines), err
    assert any(line.startswith("fxs1: in service") for line in lines), out
    assert "phone 1 off hook" in lines, out
    assert any(line.startswith("phone 1: handset up") for line in lines), out
    assert any(line.startswith("error: no SimFxsPort 7") for line in lines), out
    assert "phone 1 on hook" in lines, out
    assert "Traceback" not in err, err
