"""Validation of the SIPp harness itself, without the PBX.

SIPp's built-in uac calls its built-in uas (the runner works); each of our UAC scenarios runs
against a SIPp stand-in for the PBX that challenges with digest auth and checks the credentials
(`verifyauth`), and our answering UAS runs against SIPp's built-in uac. If these fail, the PBX
tests in test_sipp_pbx.py cannot be trusted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .sipp import SippResult, SippRun, expect_success, scenario

pytestmark = pytest.mark.interop

USER, PASSWORD = "201", "secret-201-pass"
# c= of the stand-in's answer: what the PBX advertises, so the anchoring check passes.
PBX_IP = "127.0.0.1"


def _pair(uas: SippRun, uac: SippRun) -> tuple[SippResult, SippResult]:
    uas.start()
    try:
        uac_result = uac.run()
        uas_result = uas.wait()
    finally:
        uac.kill()
        uas.kill()
    return uas_result, uac_result


def _stand_in(sipp: str, tmp_path: Path, stub: str, **keys: str) -> SippRun:
    return SippRun(
        sipp,
        scenario(stub),
        tmp_path,
        name="pbx-stand-in",
        keys={"user": USER, "password": PASSWORD, "sdp_ip": PBX_IP, **keys},
        timeout_s=10,
    )


def _caller(sipp: str, tmp_path: Path, uac: SippRun, name: str) -> SippRun:
    return SippRun(
        sipp,
        scenario(name),
        tmp_path,
        name="caller",
        remote=f"127.0.0.1:{uac.local_port}",
        service="202",
        auth=(USER, PASSWORD),
        keys={"caller": USER, "sdp_ip": "127.0.0.3"},
        timeout_s=10,
    )


def test_sipp_builtin_uac_calls_builtin_uas(sipp: str, tmp_path: Path) -> None:
    uas = SippRun(sipp, "uas", tmp_path, name="uas", timeout_s=10)
    uas.argv()
    uac = SippRun(
        sipp, "uac", tmp_path, name="uac", remote=f"127.0.0.1:{uas.local_port}", timeout_s=10
    )
    expect_success(*_pair(uas, uac))


def _registering(sipp: str, tmp_path: Path, stub: SippRun, password: str = PASSWORD) -> SippRun:
    return SippRun(
        sipp,
        scenario("register"),
        tmp_path,
        name="register",
        remote=f"127.0.0.1:{stub.local_port}",
        auth=(USER, password),
        keys={"user": USER, "contact_port": "5999", "expires": "300"},
        timeout_s=10,
    )


def test_register_scenario_authenticates_against_stand_in(sipp: str, tmp_path: Path) -> None:
    stub = _stand_in(sipp, tmp_path, "stub_registrar")
    stub.argv()
    expect_success(*_pair(stub, _registering(sipp, tmp_path, stub)))


def test_registrar_stand_in_rejects_wrong_password(sipp: str, tmp_path: Path) -> None:
    stub = _stand_in(sipp, tmp_path, "stub_registrar")
    stub.timeout_s = 3
    stub.argv()
    uac = _registering(sipp, tmp_path, stub, password="wrong")
    uac.timeout_s = 3
    stub_result, _ = _pair(stub, uac)
    assert stub_result.returncode != 0, stub_result.describe()


@pytest.mark.parametrize("flow", ["call", "cancel", "busy", "unknown", "unavailable"])
def test_call_scenario_runs_against_stand_in(sipp: str, tmp_path: Path, flow: str) -> None:
    stand_in = _stand_in(sipp, tmp_path, f"stub_{flow}")
    stand_in.argv()
    expect_success(*_pair(stand_in, _caller(sipp, tmp_path, stand_in, f"uac_{flow}")))


def test_answering_scenario_takes_a_call_from_builtin_uac(sipp: str, tmp_path: Path) -> None:
    # The built-in uac offers c=127.0.0.1, which is what uas_answer expects from the PBX.
    uas = SippRun(
        sipp,
        scenario("uas_answer"),
        tmp_path,
        name="callee",
        keys={"sdp_ip": "127.0.0.2"},
        timeout_s=10,
    )
    uas.argv()
    uac = SippRun(
        sipp,
        "uac",
        tmp_path,
        name="uac",
        remote=f"127.0.0.1:{uas.local_port}",
        timeout_s=10,
        service="202",
    )
    expect_success(*_pair(uas, uac))
