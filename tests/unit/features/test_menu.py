"""Voice menu sessions: navigation, timeouts, invalid input, direct dial, modes, fax."""

from __future__ import annotations

import pytest

from firmware.features.destination import Destination, DestinationKind
from firmware.features.menu import (
    FaxToneDetected,
    KeyAction,
    KeyBinding,
    Menu,
    MenuError,
    MenuNode,
    MenuSession,
    ModeGreeting,
    PlayPrompt,
    StopPrompt,
    Transfer,
)
from firmware.media.prompt_catalog import CATALOG, Language

OPERATOR = Destination(DestinationKind.DEPARTMENT, "reception")
SUPPORT_QUEUE = Destination(DestinationKind.QUEUE, "support")


def ext(number: str) -> Transfer:
    return Transfer(Destination(DestinationKind.EXTENSION, number))
FAX = Destination(DestinationKind.FAX, "fax-machine")

MAIN = MenuNode(
    id="main",
    greeting=("menu.main",),
    mode_greetings=(ModeGreeting("night", ("menu.main.night",)),),
    default=OPERATOR,
    keys=(
        KeyBinding("1", KeyAction.DEPARTMENT, "sales"),
        KeyBinding("2", KeyAction.QUEUE, "orders"),
        KeyBinding("6", KeyAction.SUBMENU, "support"),
        KeyBinding("5", KeyAction.DIAL_EXTENSION),
        KeyBinding("8", KeyAction.FAX),
        KeyBinding("9", KeyAction.REPEAT),
        KeyBinding("0", KeyAction.EMPLOYEE, "alice"),
    ),
)
SUPPORT = MenuNode(
    id="support",
    greeting=("menu.support",),
    default=Destination(DestinationKind.QUEUE, "support"),
    keys=(
        KeyBinding("1", KeyAction.VOICEMAIL, "support"),
        KeyBinding("*", KeyAction.BACK),
    ),
    max_invalid=2,
)
MENU = Menu(
    id="main",
    nodes=(MAIN, SUPPORT),
    extensions=frozenset({"201", "202", "2031", "7"}),
    fax=FAX,
)


def started(mode: str = "day", menu: MenuSession | None = None) -> tuple[MenuSession, list[object]]:
    session = menu or MenuSession(MENU, mode, now=0.0)
    return session, list(session.start())


def test_greeting_depends_on_operating_mode() -> None:
    assert started("day")[1] == [PlayPrompt(("menu.main",))]
    assert started("night")[1] == [PlayPrompt(("menu.main.night",))]
    assert started("holiday")[1] == [PlayPrompt(("menu.main",))]  # no own greeting: general


def test_key_during_greeting_stops_prompt_and_transfers() -> None:
    session, _ = started()
    out = session.on_digit("1", now=1.0)
    assert out == [StopPrompt(), Transfer(Destination(DestinationKind.DEPARTMENT, "sales"))]
    assert session.on_digit("9", now=1.5) == []  # done: nothing more happens
    assert session.next_deadline() is None


def test_no_input_goes_to_default_five_seconds_after_greeting_ends() -> None:
    session, _ = started()
    assert session.next_deadline() is None  # no timer while the greeting plays
    session.on_prompt_finished(now=10.0)
    assert session.next_deadline() == 15.0
    assert session.handle_timers(now=14.9) == []
    assert session.handle_timers(now=15.0) == [Transfer(OPERATOR)]


def test_submenu_back_and_repeat() -> None:
    session, _ = started()
    session.on_prompt_finished(now=4.0)
    assert session.on_digit("6", now=5.0) == [PlayPrompt(("menu.support",))]
    session.on_prompt_finished(now=8.0)
    assert session.on_digit("*", now=9.0) == [PlayPrompt(("menu.main",))]  # back
    assert session.on_digit("9", now=9.5) == [StopPrompt(), PlayPrompt(("menu.main",))]
    out = session.on_digit("6", now=10.0) + session.on_digit("1", now=11.0)
    assert out[-1] == Transfer(Destination(DestinationKind.VOICEMAIL, "support"))


def test_submenu_timeout_uses_submenu_default() -> None:
    session, _ = started()
    session.on_digit("6", now=1.0)
    session.on_prompt_finished(now=3.0)
    assert session.handle_timers(now=8.0) == [Transfer(SUPPORT_QUEUE)]


def test_invalid_key_reprompts_then_goes_to_default_after_limit() -> None:
    session, _ = started()
    session.on_digit("6", now=1.0)  # support: max_invalid = 2
    session.on_prompt_finished(now=2.0)
    for i in range(2):
        out = session.on_digit("4", now=3.0 + i)
        assert out[-1] == PlayPrompt(("invalid_option", "menu.support"))
        session.on_prompt_finished(now=3.5 + i)
    assert session.on_digit("4", now=6.0) == [Transfer(SUPPORT_QUEUE)]


def test_invalid_counter_resets_in_new_node() -> None:
    session, _ = started()
    session.on_prompt_finished(now=1.0)
    for i in range(3):  # main allows 3
        session.on_digit("4", now=2.0 + i)
    session.on_digit("6", now=6.0)
    session.on_prompt_finished(now=7.0)
    out = session.on_digit("4", now=8.0)
    assert out == [PlayPrompt(("invalid_option", "menu.support"))]


def test_dial_extension_from_greeting_unique_match_transfers_at_once() -> None:
    session, _ = started()
    assert session.on_digit("2", now=1.0) == [StopPrompt()]  # "2" also starts 201/202/2031
    assert session.on_digit("0", now=2.0) == []
    assert session.next_deadline() == 5.0
    assert session.on_digit("2", now=3.0) == [ext("202")]


def test_dial_extension_prefix_match_waits_inter_digit_timeout() -> None:
    session, _ = started()
    session.on_prompt_finished(now=1.0)
    for i, d in enumerate("203"):
        session.on_digit(d, now=2.0 + i)
    assert session.handle_timers(now=6.9) == []
    out = session.handle_timers(now=7.0)  # 203 is no extension (2031 is): invalid
    assert out == [PlayPrompt(("invalid_option", "menu.main"))]


def test_complete_extension_transfers_without_waiting() -> None:
    session, _ = started()
    for d in "201":
        session.on_digit(d, now=1.0)
    # 201 is complete and no longer extension starts with it: transferred without waiting
    assert session.result == Destination(DestinationKind.EXTENSION, "201")


def test_single_digit_key_that_starts_an_extension_acts_as_key_after_timeout() -> None:
    session, _ = started()
    session.on_prompt_finished(now=1.0)
    assert session.on_digit("2", now=2.0) == []
    orders = Destination(DestinationKind.QUEUE, "orders")
    assert session.handle_timers(now=5.0) == [Transfer(orders)]


def test_one_digit_extension_that_is_not_a_key_transfers() -> None:
    session, _ = started()
    assert session.on_digit("7", now=1.0)[-1] == ext("7")


def test_dial_extension_key_collects_digits_without_key_meaning() -> None:
    session, _ = started()
    assert session.on_digit("5", now=1.0) == [StopPrompt(), PlayPrompt(("enter_extension",))]
    session.on_digit("2", now=2.0)
    session.on_digit("0", now=2.5)
    session.on_digit("3", now=3.0)
    assert session.on_digit("#", now=3.5) == [PlayPrompt(("invalid_option", "menu.main"))]
    session.on_digit("5", now=4.0)
    for d in "2031":
        out = session.on_digit(d, now=5.0)
    assert out == [Transfer(Destination(DestinationKind.EXTENSION, "2031"))]


def test_dial_extension_key_then_silence_goes_to_default() -> None:
    session, _ = started()
    session.on_digit("5", now=1.0)
    assert session.handle_timers(now=6.0) == [Transfer(OPERATOR)]


def test_direct_dial_off_treats_digits_as_keys() -> None:
    node = MenuNode(id="n", greeting=("g",), default=OPERATOR, direct_dial=False,
                    keys=(KeyBinding("2", KeyAction.QUEUE, "q"),))
    session = MenuSession(Menu(id="m", nodes=(node,), extensions=frozenset({"201"})), "day", 0.0)
    session.start()
    assert session.on_digit("2", now=1.0)[-1] == Transfer(Destination(DestinationKind.QUEUE, "q"))


def test_fax_tone_goes_to_fax_destination_from_anywhere() -> None:
    session, _ = started()
    assert session.on_fax_tone(FaxToneDetected(at=2.0)) == [StopPrompt(), Transfer(FAX)]
    session, _ = started()
    session.on_digit("6", now=1.0)
    session.on_prompt_finished(now=2.0)
    assert session.on_fax_tone(FaxToneDetected(at=3.0)) == [Transfer(FAX)]


def test_fax_key_uses_menu_fax_destination() -> None:
    session, _ = started()
    assert session.on_digit("8", now=1.0)[-1] == Transfer(FAX)


def test_fax_tone_without_fax_destination_is_ignored() -> None:
    menu = Menu(id="m", nodes=(SUPPORT,))
    session = MenuSession(menu, "day", 0.0)
    session.start()
    assert session.on_fax_tone(FaxToneDetected(at=1.0)) == []


def test_menu_rejects_broken_definitions() -> None:
    with pytest.raises(MenuError, match="no node 'nowhere'"):
        Menu(id="m", nodes=(MenuNode(id="a", greeting=("g",), default=OPERATOR,
                                     keys=(KeyBinding("1", KeyAction.SUBMENU, "nowhere"),)),))
    with pytest.raises(MenuError, match="bound twice"):
        Menu(id="m", nodes=(MenuNode(id="a", greeting=("g",), default=OPERATOR,
                                     keys=(KeyBinding("1", KeyAction.REPEAT),
                                           KeyBinding("1", KeyAction.BACK))),))
    with pytest.raises(MenuError, match="set `fax`"):
        Menu(id="m", nodes=(MenuNode(id="a", greeting=("g",), default=OPERATOR,
                                     keys=(KeyBinding("8", KeyAction.FAX),)),))


def test_session_prompts_exist_in_every_catalog_language() -> None:
    for prompt_id in ("invalid_option", "enter_extension", "transfer.please_wait"):
        for language in Language:
            assert prompt_id in CATALOG[language]
