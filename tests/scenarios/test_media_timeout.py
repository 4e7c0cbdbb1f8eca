"""Answered calls whose phones have vanished are hung up; calls that carry media are not."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from firmware.calls.events import CallEnded, Cause

from .harness import Box, Office


async def test_call_with_no_media_is_hung_up_and_nobody_stays_busy(tmp_path: Path) -> None:
    box = await Box.serve(tmp_path, media_timeout_s=1.0)
    with box.bus.subscribe(CallEnded) as ended:
        async with Office(box) as office:
            alice, carol = await office.phone("201"), await office.phone("203")
            await alice.dial("203")
            await carol.ringing()
            carol.answer()
            assert (await alice.connected()).status == 200
            started = time.monotonic()
            # Neither phone sends RTP or RTCP (both lost power): the box hangs up both.
            await alice.expect_request("BYE")
            await carol.expect_request("BYE")
            assert 1.0 <= time.monotonic() - started < 3.0
            # Carol is not left busy: a new call to her rings.
            await alice.dial("203")
            await carol.ringing()
        records = [ended.get_nowait() for _ in range(2)]
    assert isinstance(records[0], CallEnded) and records[0].cause is Cause.TIMEOUT


async def test_call_carrying_media_outlives_the_media_timeout(tmp_path: Path) -> None:
    box = await Box.serve(tmp_path, media_timeout_s=1.0)
    async with Office(box) as office:
        alice, carol = await office.phone("201"), await office.phone("203")
        await alice.dial("203")
        await carol.ringing()
        carol.answer()
        assert (await alice.connected()).status == 200
        for _ in range(12):  # 2.4 s of speech from Alice, one packet per 200 ms
            alice.send_rtp(b"still talking")
            await asyncio.sleep(0.2)  # the phone's own pace, not a wait for the box
        assert not alice.got("BYE") and not carol.got("BYE")
        assert (await alice.hangup()).status == 200
