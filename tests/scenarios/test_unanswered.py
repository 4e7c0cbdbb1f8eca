"""Calls that do not get through: nobody answers, the phone is unplugged, the line is busy,
the phone signed off."""

from __future__ import annotations

import time
from pathlib import Path

from firmware.calls.events import CallEnded, Cause

from .harness import Box, Office


async def test_nobody_answers_within_the_ring_timeout(tmp_path: Path) -> None:
    box = await Box.serve(tmp_path, ring_timeout_s=1.0)
    with box.bus.subscribe(CallEnded) as ended:
        async with Office(box) as office:
            alice, carol = await office.phone("201"), await office.phone("203")
            await alice.dial("203")
            await carol.ringing()
            await alice.expect_response(180, "INVITE")
            started = time.monotonic()
            assert (await alice.final_response("INVITE")).status == 480
            assert time.monotonic() - started < 2.0
            await carol.expect_request("CANCEL")
        record = ended.get_nowait()
    assert isinstance(record, CallEnded) and record.cause is Cause.NO_ANSWER


async def test_unplugged_phone_times_out_and_the_caller_hears_unavailable(
        tmp_path: Path) -> None:
    # Timer B is 64·T1: 32 s with the standard T1, 1.3 s with T1 = 20 ms.
    box = await Box.serve(tmp_path, t1_s=0.02)
    async with Office(box) as office:
        alice, carol = await office.phone("201"), await office.phone("203")
        carol.deaf = True
        await alice.dial("203")
        final = await alice.final_response("INVITE")
        assert final.status in (408, 480)


async def test_second_caller_hears_busy_until_the_first_call_ends(office: Office) -> None:
    alice, bob, carol = (await office.phone("201"), await office.phone("202"),
                         await office.phone("203"))
    await alice.dial("203")
    await carol.ringing()
    carol.answer()
    assert (await alice.connected()).status == 200

    await bob.dial("203")
    assert (await bob.final_response("INVITE")).status == 486
    assert not carol.got("INVITE")

    await carol.hangup()
    await alice.expect_request("BYE")
    await bob.dial("203")
    await carol.ringing()
    carol.answer()
    assert (await bob.connected()).status == 200


async def test_phone_that_signed_off_is_unavailable(office: Office) -> None:
    alice, carol = await office.phone("201"), await office.phone("203")
    assert (await carol.unregister()).status == 200
    await alice.dial("203")
    assert (await alice.final_response("INVITE")).status == 480
    assert not carol.got("INVITE")
