"""SIPp flows shared by the PBX tests: register an extension, a caller, a registered callee.

The callee is a SIPp UAS that first registers as 202 from the very port it then answers on, so
the PBX reaches it whether it routes by Contact or by the REGISTER's source address. The callee
puts c=127.0.0.2 in its SDP and the caller c=127.0.0.3; each side checks it sees 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path

from .pbx import PbxProcess
from .sipp import SippRun, expect_success, scenario

CALLER, CALLEE = "201", "202"


def register_run(
    sipp: str,
    pbx: PbxProcess,
    tmp_path: Path,
    number: str,
    *,
    local_port: int = 0,
    password: str | None = None,
    name: str = "register",
) -> SippRun:
    ext = pbx.ext(number)
    run = SippRun(
        sipp,
        scenario("register"),
        tmp_path,
        name=name,
        remote=pbx.uri_host,
        auth=(ext.username, ext.password if password is None else password),
        keys={"user": number, "expires": "300"},
        local_port=local_port,
        timeout_s=10,
    )
    run.argv()
    run.keys["contact_port"] = str(run.local_port)
    return run


def caller_run(sipp: str, pbx: PbxProcess, tmp_path: Path, flow: str, dialled: str) -> SippRun:
    ext = pbx.ext(CALLER)
    return SippRun(
        sipp,
        scenario(f"uac_{flow}"),
        tmp_path,
        name="caller",
        remote=pbx.uri_host,
        service=dialled,
        auth=(ext.username, ext.password),
        keys={"caller": CALLER, "sdp_ip": "127.0.0.3"},
        timeout_s=15,
    )


def registered_callee(sipp: str, pbx: PbxProcess, tmp_path: Path, flow: str) -> SippRun:
    """A started SIPp UAS running `uas_{flow}`, registered to the PBX as 202 from its own port."""
    callee = SippRun(
        sipp,
        scenario(f"uas_{flow}"),
        tmp_path,
        name="callee",
        keys={"sdp_ip": "127.0.0.2"},
        timeout_s=15,
    )
    callee.argv()
    expect_success(
        register_run(
            sipp, pbx, tmp_path, CALLEE, local_port=callee.local_port, name="register-callee"
        ).run()
    )
    callee.start()
    return callee
