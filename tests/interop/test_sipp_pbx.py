"""The PBX against SIPp: registration with digest auth and the basic call outcomes.

The callee is a SIPp UAS that first registers as 202 from the very port it then answers on, so
the PBX reaches it whether it routes by Contact or by the REGISTER's source address. The callee
puts c=127.0.0.2 in its SDP and the caller c=127.0.0.3; each side checks it sees 127.0.0.1 (the
PBX's advertised address) instead, i.e. the PBX anchors the media.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from .flows import CALLEE, CALLER, caller_run, register_run, registered_callee
from .pbx import PbxProcess
from .sipp import SippRun, expect_success

pytestmark = pytest.mark.interop

def _call(sipp: str, pbx: PbxProcess, tmp_path: Path, caller_flow: str, callee_flow: str) -> None:
    callee = registered_callee(sipp, pbx, tmp_path, callee_flow)
    caller = caller_run(sipp, pbx, tmp_path, caller_flow, CALLEE)
    try:
        caller_result = caller.run()
        callee_result = callee.wait()
    finally:
        caller.kill()
        callee.kill()
    try:
        expect_success(caller_result, callee_result)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- PBX log ---\n{pbx.log_tail()}") from None


def _expect(pbx: PbxProcess, *runs: SippRun) -> None:
    results = []
    try:
        results = [run.run() for run in runs]
    finally:
        for run in runs:
            run.kill()
    try:
        expect_success(*results)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- PBX log ---\n{pbx.log_tail()}") from None


def test_register_with_digest_auth(sipp: str, pbx: PbxProcess, tmp_path: Path) -> None:
    _expect(pbx, register_run(sipp, pbx, tmp_path, CALLER))


def test_register_with_wrong_password_is_refused(
    sipp: str, pbx: PbxProcess, tmp_path: Path
) -> None:
    run = register_run(sipp, pbx, tmp_path, CALLER, password="not-the-password")
    run.timeout_s = 5
    try:
        result = run.run()
    finally:
        run.kill()
    assert result.returncode != 0, result.describe()
    # The REGISTER with (wrong) credentials is refused with 401 or 403, never 200.
    assert "SIP/2.0 200" not in result.messages, result.describe()
    _, _, after_retry = result.messages.partition("CSeq: 2 REGISTER")
    assert re.search(r"SIP/2\.0 40[13] ", after_retry), result.describe()


def test_call_is_answered_with_media_anchored(sipp: str, pbx: PbxProcess, tmp_path: Path) -> None:
    _call(sipp, pbx, tmp_path, "call", "answer")


def test_caller_cancels_while_ringing(sipp: str, pbx: PbxProcess, tmp_path: Path) -> None:
    _call(sipp, pbx, tmp_path, "cancel", "cancel")


def test_busy_callee_gives_caller_486(sipp: str, pbx: PbxProcess, tmp_path: Path) -> None:
    _call(sipp, pbx, tmp_path, "busy", "busy")


def test_unknown_number_gives_404(sipp: str, pbx: PbxProcess, tmp_path: Path) -> None:
    _expect(pbx, caller_run(sipp, pbx, tmp_path, "unknown", "299"))


def test_unregistered_extension_gives_480(sipp: str, pbx: PbxProcess, tmp_path: Path) -> None:
    _expect(pbx, caller_run(sipp, pbx, tmp_path, "unavailable", CALLEE))


def test_registration_over_tcp_ends_with_its_connection(
    sipp: str, pbx: PbxProcess, tmp_path: Path
) -> None:
    run = register_run(sipp, pbx, tmp_path, CALLER)
    run.extra_args += ["-t", "t1"]  # one TCP connection; SIPp closes it when it exits
    _expect(pbx, run)
    deadline = time.monotonic() + 5.0
    while "dropped, its connection closed" not in pbx.output():
        assert time.monotonic() < deadline, pbx.log_tail()
        time.sleep(0.02)
