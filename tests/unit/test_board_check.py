"""`switchbox board check`: the CLI on the sim board, and the check on board/switchbox-r1.toml
with emulated chips (ProSLIC emulators, one of them not answering), gpiozero's MockFactory, a
fake ALSA device, and the hardware this machine lacks (spidev, UART, watchdog): every device
is reported, nothing crashes, and the board file parses and its overlay compiles."""

from __future__ import annotations

import asyncio
import collections
import os
import select
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from drivers.gpio.board import make_create_devices as gpio_factory
from drivers.gpio.lines import GpiozeroLines
from drivers.pcm.alsa import Direction, PcmParams
from drivers.pcm.board import make_create_devices as alsa_factory
from drivers.proslic.emulator import EmulatedResetLine, ProSlicEmulator
from drivers.proslic.port import ProSlicFxsPort
from firmware import cli
from firmware.board_check import (
    BoardReport,
    CheckState,
    check_board,
    format_report,
    probe_facts,
)
from hal.board import BoardEntry, DeviceKind, load_board
from hal.device import Device
from hal.errors import DeviceNotResponding
from hal.loader import DRIVERS, BoardContext, DeviceFactory, resolve
from hal.relay import Relay
from hal.sim.clock import ManualClock

ROOT = Path(__file__).resolve().parents[2]
R1 = ROOT / "board" / "switchbox-r1.toml"
OVERLAY = ROOT / "board" / "overlays" / "switchbox-r1.dts"


def test_cli_board_check_reports_every_simulated_device(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["board", "check", "--board", "sim"])
    out = capsys.readouterr().out
    assert code == cli.EX_OK, out
    assert out.startswith("Board sim (")
    for name in ("fxs1", "fxs4", "fxo2", "relay2", "input2", "paging1", "panel1",
                 "watchdog1", "pcm1"):
        assert f"  {name} " in out
    assert "NOT" not in out and "OUT OF SERVICE" not in out
    assert "ports  fxs1=0, fxs2=1, fxs3=2, fxs4=3, fxo1=4, fxo2=5" in out
    summary = out.strip().splitlines()[-1]
    assert summary.endswith("devices in service") and summary.split()[0] == summary.split()[2]


def test_cli_board_check_names_the_boards_that_exist_for_an_unknown_one(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["board", "check", "--board", "no-such-board"]) == cli.EX_CONFIG
    err = capsys.readouterr().err
    assert "no such board" in err and "switchbox-r1" in err and "sim" in err


def test_the_reference_board_file_parses_with_every_section() -> None:
    description = load_board(R1)
    kinds = collections.Counter(e.kind for e in description.entries)
    assert kinds == {DeviceKind.FXS: 1, DeviceKind.FXO: 1, DeviceKind.DECT: 1,
                     DeviceKind.RELAY: 2, DeviceKind.INPUT: 1, DeviceKind.PAGING: 1,
                     DeviceKind.PANEL: 1, DeviceKind.WATCHDOG: 1, DeviceKind.PCM: 1}
    drivers = {e.driver for e in description.entries}
    assert drivers == {"proslic", "si3050", "dect", "gpio", "alsa", "watchdog"}


def test_every_gpio_of_the_reference_board_is_used_once() -> None:
    """The board file's GPIO numbers (gpio driver pins, chip interrupt/reset lines) and the
    overlay's chip selects, UART and PCM pins never collide."""
    used: list[int] = []
    for entry in load_board(R1).entries:
        options = entry.options
        used += list(options.get("pins", []))
        used += list(dict(options.get("leds", {})).values())
        for key in ("interrupt_gpio", "reset_gpio"):
            if key in options:
                used.append(options[key])
    overlay_pins = [8, 7, 24, 25, 6, 9, 10, 11, 18, 19, 20, 21, 4, 5]
    assert "brcm,pins = <8 7 24 25 6>" in OVERLAY.read_text()
    everything = used + overlay_pins
    assert len(everything) == len(set(everything)), sorted(everything)
    assert not {0, 1, 14, 15} & set(everything)  # HAT EEPROM and console stay free


@pytest.mark.skipif(shutil.which("dtc") is None, reason="device-tree-compiler (dtc) missing")
def test_the_overlay_compiles_without_warnings(tmp_path: Path) -> None:
    result = subprocess.run(["dtc", "-@", "-I", "dts", "-O", "dtb", "-o",
                             str(tmp_path / "switchbox-r1.dtbo"), str(OVERLAY)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and result.stderr == "", result.stderr


# --- switchbox-r1 with emulated and missing hardware -------------------------------------------


class _FakeStream:
    """An ALSA stream that opens, is always ready, and captures silence."""

    def __init__(self, direction: Direction, params: PcmParams) -> None:
        self.params = params
        self._r, self._w = os.pipe()
        os.write(self._w, b"x")
        self.direction = direction

    def read(self) -> tuple[int, bytes]:
        return self.params.period_frames, bytes(self.params.period_frames * 2
                                                * self.params.channels)

    def write(self, data: bytes) -> int:
        return len(data) // (2 * self.params.channels)

    def polldescriptors(self) -> list[tuple[int, int]]:
        return [(self._r, select.POLLIN)]

    def info(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._r = self._w = -1


def _emulated_proslic(dead_chip_select: int, clock: ManualClock) -> DeviceFactory:
    """The "proslic" entry built on ProSLIC emulators; the chip on `dead_chip_select` does
    not answer (nothing on that select: the bus reads 0xFF)."""

    def create(entry: BoardEntry, next_name: Callable[[], str],
               context: BoardContext) -> Sequence[Device]:
        selects = entry.options["spi"]["cs"]
        ports: list[Device] = []
        for cs, slot in zip(selects, entry.options["pcm_slots"], strict=True):
            chip = ProSlicEmulator(clock)
            chip.answering = cs != dead_chip_select
            ports.append(ProSlicFxsPort(next_name(), chip, clock, slot, chip.interrupt,
                                        reset=EmulatedResetLine(chip, clock)))
        return ports

    return create


async def _check_r1(factory: MockFactory, clock: ManualClock) -> BoardReport:
    registry = dict(DRIVERS, si3050="drivers.si3050.board:create_devices",
                    dect="drivers.dect.base:create_devices",
                    watchdog="drivers.gpio.watchdog:create_devices")
    own: dict[str, DeviceFactory] = {
        "proslic": _emulated_proslic(2, clock),
        "gpio": gpio_factory(lambda chip: GpiozeroLines(factory, chip=chip)),
        "alsa": alsa_factory(_FakeStream),
    }

    def resolver(driver: str) -> DeviceFactory:
        return own[driver] if driver in own else resolve(driver, registry)

    task = asyncio.ensure_future(check_board(load_board(R1), resolver=resolver, clock=clock))
    assert await clock.run_until(task.done, timeout_s=60.0, step_s=0.05)
    return await task


async def test_r1_check_reports_a_dead_chip_and_missing_hardware_without_crashing() -> None:
    clock = ManualClock(start=10.0)
    factory = MockFactory()
    report = await _check_r1(factory, clock)
    text = format_report(report)
    by_name = {d.name: d for d in report.devices}
    # four emulated Si3215: three answer and say what they are; cs2 (fxs3) is silent
    for name in ("fxs1", "fxs2", "fxs4"):
        assert by_name[name].state is CheckState.IN_SERVICE, text
        facts = dict(by_name[name].facts)
        assert facts["chip"] and facts["linefeed"]
        assert facts["loop"] == "on-hook"
    assert by_name["fxs3"].state in (CheckState.OUT_OF_SERVICE, CheckState.NOT_RESPONDING)
    assert by_name["fxs3"].reason
    # gpio on the mock factory: relays, inputs, LEDs in service with their pins
    for name in ("relay1", "relay2", "relay3", "input1", "input2", "panel1"):
        assert by_name[name].state is CheckState.IN_SERVICE, text
    assert dict(by_name["relay3"].facts)["pin"] == "GPIO26 (active high)"
    assert dict(by_name["panel1"].facts)["alarm LED"] == "GPIO27"
    # the ALSA devices on the fake stream
    assert by_name["pcm1"].state is CheckState.IN_SERVICE, text
    assert dict(by_name["pcm1"].facts)["ports"].startswith("fxs1=0, fxs2=1, fxs3=2, fxs4=3")
    assert dict(by_name["paging1"].facts)["amplifier"] == "relay3"
    # what this machine lacks is reported, each with a reason, not raised
    missing = [d for d in report.devices if d.kind in (DeviceKind.FXO, DeviceKind.DECT)]
    assert missing and all(not d.ok and d.reason for d in missing)
    assert not report.ok
    assert "fxs3" in text and "PROBLEMS" in text
    # the check closed everything: the relays' pins are released
    assert factory.pin(26).function == "input"
    factory.close()


async def test_probe_errors_are_reported_not_raised() -> None:
    class Flaky(Relay):
        def __init__(self) -> None:
            super().__init__("relay1")

        @property
        def is_on(self) -> bool:
            return False

        async def set(self, on: bool) -> None:
            return None

        async def pulse(self, duration_ms: int) -> None:
            return None

        async def _open(self) -> None:
            return None

        async def _close(self) -> None:
            return None

        def probe(self) -> dict[str, str]:
            raise DeviceNotResponding("relay1", "expander at 0x20 does not answer")

    def create(entry: BoardEntry, next_name: Callable[[], str],
               context: BoardContext) -> Sequence[Device]:
        next_name()
        return [Flaky()]

    from hal.board import parse_board

    report = await check_board(parse_board('name = "t"\n[[relay]]\ndriver = "flaky"\n'),
                               resolver=lambda driver: create)
    (device,) = report.devices
    assert device.state is CheckState.NOT_RESPONDING
    assert device.reason == "expander at 0x20 does not answer"
    assert ("state", "off") in device.facts


def test_probe_results_of_any_shape_become_facts() -> None:
    from dataclasses import dataclass
    from enum import Enum

    class Part(Enum):
        SI3215 = 1

    @dataclass(frozen=True)
    class Identity:
        part: Part
        revision: int

    @dataclass(frozen=True)
    class Probe:
        identity: Identity
        vbat_v: float
        on_hook: bool

    assert probe_facts(Probe(Identity(Part.SI3215, 5), -48.04, True)) == [
        ("identity part", "si3215"), ("identity revision", "5"), ("vbat v", "-48.0"),
        ("on hook", "yes")]
    assert probe_facts({"chip": "Si3050", "line voltage": "48 V"}) == [
        ("chip", "Si3050"), ("line voltage", "48 V")]
    assert probe_facts(None) == []
    assert probe_facts("Si3019 rev C") == [("probe", "Si3019 rev C")]
