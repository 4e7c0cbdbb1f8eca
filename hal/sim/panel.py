"""A simulated front panel: what it displays, its LEDs, and keys a test presses."""

from __future__ import annotations

from collections.abc import Sequence

from hal.clock import Clock
from hal.events import KeyPressed, PanelKey
from hal.panel import Panel, PanelLed


class SimPanel(Panel):
    """A `lines` × `columns` character display with the four keys and two LEDs."""

    def __init__(self, name: str, clock: Clock, lines: int = 2, columns: int = 16) -> None:
        super().__init__(name)
        if lines < 1 or columns < 1:
            raise ValueError(f"{name}: a display needs ≥ 1 line and column")
        self._clock = clock
        self._lines = lines
        self._columns = columns
        self.display: list[str] = [""] * lines
        """What the display shows now, one string per line."""
        self.leds: dict[PanelLed, bool] = dict.fromkeys(PanelLed, False)

    @property
    def lines(self) -> int:
        return self._lines

    @property
    def columns(self) -> int:
        return self._columns

    async def show(self, text: Sequence[str]) -> None:
        if len(text) > self._lines:
            raise ValueError(f"{self.name}: {len(text)} lines for a {self._lines}-line display")
        padded = [line[:self._columns] for line in text] + [""] * (self._lines - len(text))
        self.display = padded

    async def set_led(self, led: PanelLed, on: bool) -> None:
        self.leds[led] = on

    def press(self, key: PanelKey) -> None:
        """Press `key` (ignored while the panel is not open, like a dead keypad)."""
        if self.status.in_service:
            self._emit(KeyPressed(self.name, self._clock.now(), key))

    async def _open(self) -> None:
        return None

    async def _close(self) -> None:
        self.display = [""] * self._lines
