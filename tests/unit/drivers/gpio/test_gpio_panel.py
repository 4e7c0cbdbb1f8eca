"""GpioPanel: LEDs on outputs, keys on inputs (debounced), and no display."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory

from drivers.gpio.lines import GpiozeroLines
from drivers.gpio.panel import GpioPanel
from hal.events import KeyPressed, PanelKey
from hal.panel import PanelLed
from hal.sim.clock import ManualClock


async def test_leds_follow_set_led_and_go_dark_on_close(
        lines: GpiozeroLines, factory: MockFactory, clock: ManualClock) -> None:
    panel = GpioPanel("panel1", lines, clock, {PanelLed.STATUS: 24, PanelLed.ALARM: 25})
    async with panel:
        await panel.set_led(PanelLed.ALARM, True)
        assert factory.pin(25).state is True and factory.pin(24).state is False
        assert panel.leds == {PanelLed.STATUS: False, PanelLed.ALARM: True}
        await panel.set_led(PanelLed.ALARM, False)
        await panel.set_led(PanelLed.STATUS, True)
        assert factory.pin(25).state is False and factory.pin(24).state is True
    assert factory.pin(24).state is False


async def test_an_led_the_board_lacks_is_a_key_error(lines: GpiozeroLines,
                                                     clock: ManualClock) -> None:
    async with GpioPanel("panel1", lines, clock, {PanelLed.STATUS: 24}) as panel:
        with pytest.raises(KeyError):
            await panel.set_led(PanelLed.ALARM, True)


async def test_keys_report_one_press_each_after_the_debounce(
        lines: GpiozeroLines, factory: MockFactory, clock: ManualClock) -> None:
    panel = GpioPanel("panel1", lines, clock, {PanelLed.STATUS: 24},
                      {PanelKey.UP: 5, PanelKey.OK: 6})
    async with panel:
        at = clock.now()
        factory.pin(6).drive_low()
        await clock.advance(0.001)
        factory.pin(6).drive_high()  # bounce
        await clock.advance(0.001)
        factory.pin(6).drive_low()
        await clock.advance(0.1)
        factory.pin(6).drive_high()
        await clock.advance(0.1)
        assert panel.take_events() == [KeyPressed("panel1", at, PanelKey.OK)]


async def test_a_panel_without_display_takes_only_empty_text(lines: GpiozeroLines,
                                                             clock: ManualClock) -> None:
    async with GpioPanel("panel1", lines, clock, {PanelLed.STATUS: 24}) as panel:
        assert (panel.lines, panel.columns) == (0, 0)
        await panel.show([])
        with pytest.raises(ValueError, match="without a display"):
            await panel.show(["Switchbox"])
