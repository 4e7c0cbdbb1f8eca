"""Passwords are checked, and a source that keeps guessing is shut out while others are not."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from .harness import Box, Office, account


def _loopback_alias_usable(host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, 0))
        except OSError:
            return False
    return True


async def test_wrong_password_is_forbidden(office: Office) -> None:
    intruder = await office.phone("201", register=False, password="not-alices-pw-9")
    assert (await intruder.register()).status == 403


async def test_wrong_password_on_a_call_is_forbidden(office: Office) -> None:
    await office.phone("203")
    alice = await office.phone("201")
    alice.password = "not-alices-pw-9"
    await alice.dial("203")
    assert (await alice.final_response("INVITE")).status == 403


async def test_guessing_source_is_locked_out_and_others_still_served(office: Office) -> None:
    if not _loopback_alias_usable("127.0.0.2"):
        pytest.skip("127.0.0.2 cannot be bound here")
    guesser = await office.phone("201", register=False, password="guess-number-1")
    for _ in range(5):
        assert (await guesser.register()).status == 403

    guesser.password = account("201").password
    locked_out = await guesser.register()
    assert locked_out.status == 403 and "too many" in locked_out.reason

    neighbour = await office.phone("203", host="127.0.0.2")  # registers, or the fixture fails
    assert neighbour.host == "127.0.0.2"


async def test_phones_registering_at_the_same_moment_all_get_in(office: Office) -> None:
    # After a power cut every phone in the office registers at once, each with nc=1 (RFC 7616).
    staff = [await office.phone(name, register=False, first_nc=1)
             for name in ("201", "202", "202-soft", "203")]
    answers = await asyncio.gather(*(phone.register() for phone in staff))
    assert [a.status for a in answers] == [200, 200, 200, 200]


async def test_one_address_may_not_hold_more_calls_than_allowed(tmp_path: Path) -> None:
    """Every phone of this rehearsal is on 127.0.0.1: with one call allowed per address, a
    second call is refused with 503 and Retry-After, and once the first ends the next goes."""
    async with Office(await Box.serve(tmp_path, max_calls_per_source=1)) as office:
        alice, bob, carol = (await office.phone("201"), await office.phone("202"),
                             await office.phone("203"))
        await alice.dial("203")
        await carol.ringing()
        await bob.dial("203")
        refused = await bob.expect_response(503, "INVITE")
        assert refused.headers.get("Retry-After") == "5"
        alice.cancel()
        await alice.expect_response(487, "INVITE")
        await bob.dial("203")
        await carol.ringing()
