"""Validation of the `pbx` fixture's process handling, with a stand-in script for the PBX.

The stand-in reads the config the harness wrote, binds the SIP port it names and prints the
ready line, like the real service; variants never get ready or ignore SIGTERM.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .pbx import PbxError, PbxProcess

pytestmark = pytest.mark.interop

STAND_IN = r"""
import signal, socket, sys, time, yaml
config = yaml.safe_load(open(sys.argv[1]))
mode = sys.argv[2]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((config["sip"]["listen"], config["sip"]["port"]))
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if mode != "mute":
    print("switchbox: SIP on %s:%d, ready" % sock.getsockname(), flush=True)
print("some log line", file=sys.stderr, flush=True)
if mode == "crash":
    raise RuntimeError("boom")
while True:
    time.sleep(0.05)
"""


@dataclass
class StandInPbx(PbxProcess):
    mode: str = "good"

    def command(self, config_path: Path, data_dir: Path) -> list[str]:
        return [sys.executable, "-c", STAND_IN, str(config_path), self.mode]


def test_stand_in_gets_ready_with_written_config_and_stops_on_sigterm(tmp_path: Path) -> None:
    pbx = StandInPbx(workdir=tmp_path)
    with pbx:
        config = yaml.safe_load((tmp_path / "switchbox.yaml").read_text())
        assert config["sip"]["port"] == pbx.port
        assert config["sip"]["listen"] == "127.0.0.1"
        assert [d["username"] for d in config["devices"]] == ["201", "202", "203"]
        assert pbx.ext("202").password not in {"", "202"}
        assert "202" not in pbx.ext("202").password
        assert "some log line" in pbx.log_tail() or "ready" in pbx.log_tail()
    assert pbx.returncode == -15


def test_no_ready_line_is_reported_with_the_log(tmp_path: Path) -> None:
    pbx = StandInPbx(workdir=tmp_path, mode="mute", ready_timeout_s=1.0)
    with pytest.raises(PbxError, match="no `ready` line"):
        pbx.start()
    assert pbx.returncode is not None


def test_early_exit_is_reported_with_the_traceback(tmp_path: Path) -> None:
    pbx = StandInPbx(workdir=tmp_path, mode="crash")
    with pytest.raises(PbxError, match="(?s)died during the test.*boom"):
        with pbx:
            pbx._proc.wait(timeout=5)  # type: ignore[union-attr]


def test_ignoring_sigterm_fails_and_is_killed(tmp_path: Path) -> None:
    pbx = StandInPbx(workdir=tmp_path, mode="stubborn", stop_timeout_s=0.5)
    pbx.start()
    with pytest.raises(PbxError, match="did not exit"):
        pbx.stop()
    assert pbx.returncode == -9
