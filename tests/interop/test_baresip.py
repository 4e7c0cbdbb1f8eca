"""baresip to baresip, with real audio: each side sends a tone and must hear the other's.

201 sends 1000 Hz, 202 sends 600 Hz; after the call each side's recording of what it received
must be dominated by the other side's tone (±10 Hz) at a sane level. The direct call (no PBX)
validates the harness; the PBX call checks registration, routing and anchored media both ways.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .audio import analyse, write_tone
from .baresip import BaresipPhone
from .pbx import PbxProcess

pytestmark = pytest.mark.interop

CALLER_HZ = 1000.0
CALLEE_HZ = 600.0
TALK_S = 2.0
TOLERANCE_HZ = 10.0
MIN_RMS_DBFS = -30.0  # the tones are sent at about -11 dBFS


def _phones(
    baresip: str,
    tmp_path: Path,
    caller_account: str,
    callee_account: str,
    caller_password: str | None = None,
    callee_password: str | None = None,
) -> tuple[BaresipPhone, BaresipPhone]:
    caller = BaresipPhone(
        baresip,
        tmp_path,
        "caller",
        caller_account,
        source_wav=write_tone(tmp_path / "caller.wav", CALLER_HZ, 20.0),
        password=caller_password,
    )
    callee = BaresipPhone(
        baresip,
        tmp_path,
        "callee",
        callee_account,
        source_wav=write_tone(tmp_path / "callee.wav", CALLEE_HZ, 20.0),
        password=callee_password,
        auto_answer=True,
    )
    return caller, callee


def exchange_tones(
    caller: BaresipPhone, callee: BaresipPhone, uri: str, talk_s: float = TALK_S
) -> None:
    """Call `uri` from `caller` (the callee auto-answers), talk TALK_S, hang up, stop both.

    Then checks each side's received audio. Both phones must be started (and registered where
    a server is used); both are stopped on return, so their WAV files are complete.
    """
    try:
        caller.dial(uri)
        caller.wait_event("CALL_ESTABLISHED", timeout_s=10)
        callee.wait_event("CALL_ESTABLISHED", timeout_s=5)
        time.sleep(talk_s)  # audio has to flow for a while: this is the call, not a wait
        caller.hangup()
        caller.wait_event("CALL_CLOSED", timeout_s=5)
        callee.wait_event("CALL_CLOSED", timeout_s=5)
    finally:
        caller.stop()
        callee.stop()
    for phone, expected_hz in ((callee, CALLER_HZ), (caller, CALLEE_HZ)):
        recordings = phone.received_wavs()
        assert len(recordings) == 1, f"{phone.name}: recordings {recordings}\n{phone.log_tail()}"
        result = analyse(recordings[0])
        context = f"{phone.name} received {result}\n{phone.log_tail()}"
        assert result.duration_s >= talk_s * 0.75, context
        assert result.rms_dbfs > MIN_RMS_DBFS, context
        assert abs(result.dominant_hz - expected_hz) <= TOLERANCE_HZ, context
        assert result.purity > 0.8, context


def test_baresip_direct_call_carries_tones_both_ways(baresip: str, tmp_path: Path) -> None:
    caller, callee = _phones(baresip, tmp_path, "sip:201@127.0.0.1", "sip:202@127.0.0.1")
    with caller, callee:
        exchange_tones(caller, callee, callee.direct_uri)


def test_baresip_call_through_pbx_carries_tones_both_ways(
    baresip: str, pbx: PbxProcess, tmp_path: Path
) -> None:
    caller, callee = _phones(
        baresip,
        tmp_path,
        f"sip:201@{pbx.uri_host}",
        f"sip:202@{pbx.uri_host}",
        caller_password=pbx.ext("201").password,
        callee_password=pbx.ext("202").password,
    )
    with caller, callee:
        caller.wait_registered(timeout_s=5)
        callee.wait_registered(timeout_s=5)
        exchange_tones(caller, callee, f"sip:202@{pbx.uri_host}")
