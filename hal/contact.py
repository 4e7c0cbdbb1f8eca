"""Contact inputs: a door button, an alarm contact, a "night mode" key switch.

A contact reports `Pressed` when it closed and stayed closed for its debounce time, and
`Released` (with how long it was held) when it opened again, debounced the same way
(`hal.debounce.Debouncer`; 20 ms by default — push buttons bounce for up to ~10 ms).
"""

from __future__ import annotations

import abc

from hal.eventqueue import EventDevice
from hal.events import ContactEvent

DEFAULT_DEBOUNCE_MS = 20.0


class ContactInput(EventDevice[ContactEvent], abc.ABC):
    """One contact input."""

    @property
    @abc.abstractmethod
    def is_pressed(self) -> bool:
        """The debounced state: closed."""

    @property
    @abc.abstractmethod
    def debounce_ms(self) -> float: ...
