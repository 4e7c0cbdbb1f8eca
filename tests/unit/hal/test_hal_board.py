"""Board descriptions: parsing board/*.toml, precise errors, the driver loader, the sim board."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from hal.board import (
    BOARD_DIRS,
    Board,
    BoardEntry,
    BoardError,
    DeviceKind,
    find_board,
    load_board,
    parse_board,
)
from hal.device import Device
from hal.linesignal import RING_CADENCES
from hal.loader import DRIVERS, BoardContext, create_board, resolve
from hal.sim.board import SimBoard, create_devices
from hal.sim.fxs import SimFxsPort

SIM_TOML = Path(__file__).resolve().parents[3] / "board" / "sim.toml"


def board_problems(text: str) -> tuple[str, ...]:
    with pytest.raises(BoardError) as info:
        parse_board(text, "test.toml")
    return info.value.problems


def test_sim_board_description_parses() -> None:
    board = load_board(SIM_TOML)
    assert board.name == "sim"
    counts = {kind: sum(len(e.options.get("channels", [None])) for e in board.of_kind(kind))
              for kind in DeviceKind}
    assert counts == {DeviceKind.FXS: 4, DeviceKind.FXO: 2, DeviceKind.DECT: 1,
                      DeviceKind.RELAY: 2, DeviceKind.INPUT: 2, DeviceKind.PAGING: 1,
                      DeviceKind.PANEL: 1, DeviceKind.WATCHDOG: 1, DeviceKind.PCM: 1}
    assert {e.driver for e in board.entries} == {"sim"}
    assert board.of_kind(DeviceKind.FXS)[0].path == "fxs[0]"
    assert board.entries[-1].kind is DeviceKind.PCM  # built after the ports it carries


def test_find_board_by_name_or_path() -> None:
    assert find_board("sim") == SIM_TOML
    assert find_board("./custom.toml") == Path("./custom.toml")
    with pytest.raises(BoardError, match="no such board; available: .*sim"):
        find_board("nonexistent", BOARD_DIRS)


def test_every_problem_of_a_bad_description_is_named() -> None:
    problems = board_problems(
        'descripton = "x"\n'
        "[[fxs]]\n"
        "channels = [0]\n"
        "[[fxs]]\n"
        'driver = "Bad Driver"\n'
    )
    assert problems == (
        "descripton: unknown section: did you mean 'description'?",
        'name: missing: add `name = "…"`',
        'fxs[0].driver: missing: add `driver = "sim"` or the chip',
        "fxs[1].driver: must be a driver name such as \"sim\", not 'Bad Driver'",
    )


def test_section_written_as_a_single_table_is_refused() -> None:
    assert board_problems('name = "x"\n[fxs]\ndriver = "sim"\n') == (
        "fxs: must be an array of tables: write [[fxs]]",
    )


def test_toml_syntax_error_has_its_position() -> None:
    (problem,) = board_problems('name = "x\n')
    assert problem.startswith("TOML syntax:") and "line 1" in problem


def test_error_text_names_the_file() -> None:
    with pytest.raises(BoardError) as info:
        parse_board("[[relay]]\n", "board/x.toml")
    assert str(info.value).splitlines()[0] == 'board/x.toml: name: missing: add `name = "…"`'


def test_loader_resolves_sim_to_hal_sim() -> None:
    assert DRIVERS["sim"] == "hal.sim.board:create_devices"
    assert resolve("sim") is create_devices


def test_loader_names_known_drivers_for_an_unknown_one() -> None:
    with pytest.raises(LookupError, match="unknown driver 'proslik'; known: .*proslic.*sim"):
        resolve("proslik")
    description = parse_board('name = "r1"\n[[fxs]]\ndriver = "proslik"\nchannels = [0]\n')
    with pytest.raises(BoardError, match=r"fxs\[0\]\.driver: unknown driver 'proslik'"):
        create_board(description)


def two_ports(entry: BoardEntry, next_name: Callable[[], str],
              context: BoardContext) -> Sequence[Device]:
    """A driver factory for the test below: two ports per entry."""
    return [SimFxsPort(next_name(), c, context.clock, slot=len(context.devices) + c)
            for c in (0, 1)]


def test_loader_numbers_devices_across_entries_of_a_kind() -> None:
    description = parse_board('name = "x"\n[[fxs]]\ndriver = "two"\n[[fxs]]\ndriver = "two"\n')
    board = create_board(description, {"two": f"{__name__}:two_ports"})
    assert [d.name for d in board.devices] == ["fxs1", "fxs2", "fxs3", "fxs4"]


def test_sim_driver_refuses_bad_options() -> None:
    description = parse_board('name = "x"\n[[fxs]]\ndriver = "sim"\nchannels = [0, 0]\n'
                              '[[fxo]]\ndriver = "sim"\nchannels = [0]\nspi = 1\n')
    with pytest.raises(BoardError) as info:
        create_board(description)
    assert info.value.problems == (
        "fxs[0].channels: must be a list of distinct numbers 0-63, e.g. channels = [0, 1]",
        "fxo[0].spi: unknown option of the sim driver; fxo takes only `channels`, `pcm_slots`",
    )


@pytest.mark.parametrize(("toml", "problems"), [
    ('[[panel]]\ndriver = "sim"\n[[panel]]\ndriver = "sim"\n',
     ("panel: a board has one panel, not 2 [[panel]] entries",)),
    ('[[fxs]]\ndriver = "sim"\nchannels = [0, 1]\n[[pcm]]\ndriver = "sim"\n',
     ("pcm[0].slots: missing: add `slots = 8` (time slots on the bus)",)),
    ('[[fxs]]\ndriver = "sim"\nchannels = [0, 1]\npcm_slots = [0, 5]\n'
     '[[pcm]]\ndriver = "sim"\nslots = 4\n',
     ("pcm[0].slots: fxs2 uses PCM slot 5; the bus has slots 0-3",)),
    ('[[fxs]]\ndriver = "sim"\nchannels = [0]\npcm_slots = [2]\n'
     '[[fxo]]\ndriver = "sim"\nchannels = [0, 1]\npcm_slots = [2]\n',
     ("fxo[0].pcm_slots: needs one slot per channel: 2 channels, 1 slots",
      "fxo[0].pcm_slots: slot 2 already carries fxs1")),
    ('[[paging]]\ndriver = "sim"\nwarmup_ms = "300"\n[[watchdog]]\ndriver = "sim"\n'
     'timeout_s = 0.5\n',
     ("paging[0].warmup_ms: must be a whole number 0-5000, not '300'",
      "watchdog[0].timeout_s: must be a number 1-600, not 0.5")),
])
def test_a_bad_sim_board_is_refused_with_precise_problems(toml: str,
                                                          problems: tuple[str, ...]) -> None:
    with pytest.raises(BoardError) as info:
        create_board(parse_board('name = "x"\n' + toml, "x.toml"))
    assert info.value.problems == problems


async def test_sim_board_opens_rings_and_closes() -> None:
    board = SimBoard.from_description(load_board(SIM_TOML))
    assert [p.name for p in board.fxs_ports] == ["fxs1", "fxs2", "fxs3", "fxs4"]
    assert board.not_simulated == []
    async with board:
        port = board.fxs(2)
        assert port.status.in_service
        await port.ring(RING_CADENCES["ru"])
        assert port.ringing and board.phone(2).bell_on
        await port.stop_ringing()
        assert not port.ringing and not board.phone(2).bell_on
    assert all(d.status.reason == "closed" for d in board.devices)
    await board.close()  # idempotent


async def test_generic_loader_builds_the_same_sim_devices() -> None:
    board = create_board(load_board(SIM_TOML))
    assert isinstance(board, Board)
    assert [d.name for d in board.of_type(SimFxsPort)] == ["fxs1", "fxs2", "fxs3", "fxs4"]
    assert board.device("fxs3").name == "fxs3"
    assert [d.name for d in board.devices][-5:] == ["input2", "paging1", "panel1", "watchdog1",
                                                    "pcm1"]
    assert SimBoard.wrap(board).pcm.port("fxo1").slot == 4
