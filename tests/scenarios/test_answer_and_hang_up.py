"""Two people call each other and hang up, each way round; media flows through the box."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from firmware.records.report_cli import main as report_main

from .harness import LOOPBACK, Box, Office


async def test_callee_hangs_up_first_and_caller_gets_bye(office: Office) -> None:
    alice, carol = await office.phone("201"), await office.phone("203")
    await alice.dial("203")
    await carol.ringing()
    await alice.expect_response(180, "INVITE")
    carol.answer()
    answered = await alice.connected()
    assert answered.status == 200
    await carol.expect_request("ACK")
    assert alice.remote_media is not None and alice.remote_media.host == LOOPBACK
    assert alice.remote_media.port != carol.rtp_port  # anchored at the box, not at Carol

    alice.send_rtp(b"hello carol")
    await carol.expect_rtp(b"hello carol")
    carol.send_rtp(b"hello alice")
    await alice.expect_rtp(b"hello alice")

    bye_answer = await carol.hangup()
    assert bye_answer.status == 200
    bye = await alice.expect_request("BYE")
    assert bye.call_id == answered.call_id


async def test_caller_hangs_up_first_and_callee_gets_bye(office: Office) -> None:
    alice, carol = await office.phone("201"), await office.phone("203")
    await alice.dial("203")
    await carol.ringing()
    carol.answer()
    assert (await alice.connected()).status == 200

    assert (await alice.hangup()).status == 200
    bye = await carol.expect_request("BYE")
    assert carol.dialog is None and bye.method == "BYE"


async def test_every_call_leaves_a_record_the_report_shows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An answered call and an unanswered one; after the box stops, `switchbox report calls`
    lists both from the durable store, the unanswered one with whom it rang."""
    async with Office(await Box.serve(tmp_path)) as office:
        alice, carol = await office.phone("201"), await office.phone("203")
        await alice.dial("203")
        await carol.ringing()
        carol.answer()
        assert (await alice.connected()).status == 200
        assert (await alice.hangup()).status == 200
        await carol.expect_request("BYE")
        await alice.dial("203")
        await carol.ringing()
        alice.cancel()
        await alice.expect_response(487, "INVITE")
    capsys.readouterr()
    assert report_main(["calls", "--data", str(tmp_path / "data"), "--csv", "-"]) == 0
    calls = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [c["disposition"] for c in calls] == ["answered", "cancelled"], calls
    assert calls[0]["answered_by"] == "carol-desk" and float(calls[0]["talk_s"]) >= 0
    assert calls[1]["rung"] == "carol-desk" and calls[1]["answered_by"] == ""
