"""Relays, contact inputs and DECT on a real board.

Relays: each relay is pulsed and must report on, then off by itself. When a relay's contact is
wired to an input (SWITCHBOX_HWTEST_RELAY_INPUT="relay1:input1"), the input must see the
click. DECT (needs a person: SWITCHBOX_HWTEST_DECT=1): the base opens registration, the tester
registers a handset (PIN 0000), dials 200 and answers when the handset is paged.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from hal.board import Board
from hal.contact import ContactInput
from hal.dect import CallerIdText, DectBase
from hal.events import HandsetOffHook, HandsetRegistered, KeypadPressed, Pressed, Released
from hal.relay import Relay

RELAY_INPUT_ENV = "SWITCHBOX_HWTEST_RELAY_INPUT"


async def test_every_relay_pulses_and_releases_by_itself(hw_board: Board) -> None:
    relays = hw_board.of_type(Relay)
    if not relays:
        pytest.skip("the board has no relays")
    for relay in relays:
        await relay.pulse(300)
        assert relay.is_on, relay.name
        await asyncio.sleep(0.5)
        assert not relay.is_on, f"{relay.name} did not release after its pulse"


async def test_a_relay_wired_to_an_input_is_heard_clicking(hw_board: Board) -> None:
    wiring = os.environ.get(RELAY_INPUT_ENV)
    if not wiring:
        pytest.skip(f"no relay contact wired to an input: set {RELAY_INPUT_ENV}=relay1:input1")
    relay_name, _, input_name = wiring.partition(":")
    relay, contact = hw_board.device(relay_name), hw_board.device(input_name)
    assert isinstance(relay, Relay) and isinstance(contact, ContactInput)
    contact.take_events()
    await relay.pulse(500)
    await asyncio.sleep(1.0)
    events = contact.take_events()
    assert [type(e) for e in events] == [Pressed, Released], events
    assert isinstance(events[1], Released) and 400 <= events[1].held_ms <= 600


async def _wait(base: DectBase, kind: type, timeout_s: float) -> object:
    async with asyncio.timeout(timeout_s):
        async for event in base.events():
            if isinstance(event, kind):
                return event
    raise AssertionError(f"{base.name}: no {kind.__name__}")


async def test_a_handset_registers_calls_and_answers(hw_board: Board, interactive: None) -> None:
    bases = hw_board.of_type(DectBase)
    if not bases:
        pytest.skip("the board has no DECT base")
    base = bases[0]
    await base.open_registration(120.0, "0000")
    registered = await _wait(base, HandsetRegistered, 120.0)  # tester: register, PIN 0000
    assert isinstance(registered, HandsetRegistered)
    handset = registered.handset
    assert any(h.number == handset for h in base.handsets())
    # the tester presses talk and dials 200
    await _wait(base, HandsetOffHook, 60.0)
    keys = ""
    while len(keys) < 3:
        event = await _wait(base, KeypadPressed, 30.0)
        assert isinstance(event, KeypadPressed)
        keys += event.keys
    assert keys.startswith("200")
    slot = await base.connect(handset)
    assert slot.slot in [p.slot for p in base.audio_ports]
    await base.release(handset)
    # the tester answers a page showing the caller
    await base.page(handset, CallerIdText("201", "HWTEST"))
    answered = await _wait(base, HandsetOffHook, 60.0)
    assert isinstance(answered, HandsetOffHook) and answered.handset == handset
    await base.release(handset)
