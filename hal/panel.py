"""The front panel: a character display, a few keys (`KeyPressed`) and status LEDs.

What the panel shows and how keys move through menus is firmware's (`firmware/panel`); this is
only the hardware: lines of text in, key presses out.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from enum import StrEnum

from hal.eventqueue import EventDevice
from hal.events import PanelEvent


class PanelLed(StrEnum):
    """The panel's LEDs."""

    STATUS = "status"
    ALARM = "alarm"


class Panel(EventDevice[PanelEvent], abc.ABC):
    """The front panel."""

    @property
    @abc.abstractmethod
    def lines(self) -> int:
        """Display lines."""

    @property
    @abc.abstractmethod
    def columns(self) -> int:
        """Characters per line."""

    @abc.abstractmethod
    async def show(self, text: Sequence[str]) -> None:
        """Display `text`, one string per line; longer lines are cut, missing ones blank.
        Raises ValueError for more lines than the display has."""

    @abc.abstractmethod
    async def set_led(self, led: PanelLed, on: bool) -> None: ...
