"""The simulated board: devices that live in memory, for development, tests and rehearsal.

So far it simulates FXS ports only, and only what can be checked honestly without the line
signalling model: whether the port is ringing, and what it was told. FXO lines, DECT bases,
relays and inputs in a description are accepted (and listed in `SimBoard.not_simulated`) but
get no device until their hal interfaces (hal/fxo.py, hal/dect.py, …) exist; then they get
simulations here, with the stimulus/record/check methods the style asks for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from hal.board import Board, BoardDescription, BoardEntry, BoardError, DeviceKind
from hal.device import Device
from hal.loader import DRIVERS, create_board

log = logging.getLogger(__name__)

SIMULATED_KINDS = frozenset({DeviceKind.FXS})
"""Kinds the sim driver creates devices for today."""


class SimFxsPort(Device):
    """A simulated analog phone port. Records the commands it gets; rings nothing."""

    def __init__(self, name: str, channel: int) -> None:
        super().__init__(name)
        self.channel = channel
        self.is_ringing = False
        self.commands: list[str] = []
        """Every command received, in order: "ring", "stop_ringing"."""

    async def ring(self) -> None:
        """Start ringing (a later issue adds the cadence and caller ID)."""
        self._check_open()
        self.commands.append("ring")
        self.is_ringing = True

    async def stop_ringing(self) -> None:
        """Stop ringing; harmless when not ringing."""
        self._check_open()
        self.commands.append("stop_ringing")
        self.is_ringing = False

    def _check_open(self) -> None:
        if not self.status.in_service:
            raise RuntimeError(f"{self.name}: {self.status.reason}")

    async def _open(self) -> None:
        return None

    async def _close(self) -> None:
        self.is_ringing = False


def _channels(entry: BoardEntry) -> list[int]:
    channels = entry.options.get("channels")
    if (not isinstance(channels, list) or not channels
            or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < 64
                       for c in channels)
            or len(set(channels)) != len(channels)):
        raise BoardError("sim", [f"{entry.path}.channels: must be a list of distinct channel "
                                 "numbers 0-63, e.g. channels = [0, 1]"])
    return list(channels)


def create_devices(entry: BoardEntry, next_name: Callable[[], str]) -> Sequence[Device]:
    """The sim driver's factory (see `hal.loader`): one device per channel of the entry."""
    unknown = sorted(set(entry.options) - {"channels"})
    if unknown:
        raise BoardError("sim", [f"{entry.path}.{k}: unknown option of the sim driver; "
                                 "it takes only `channels`" for k in unknown])
    channels = _channels(entry)
    if entry.kind not in SIMULATED_KINDS:
        log.debug("%s: %d %s channel(s) described but not simulated yet",
                  entry.path, len(channels), entry.kind.value)
        return []
    return [SimFxsPort(next_name(), channel) for channel in channels]


class SimBoard(Board):
    """A board whose every entry uses the sim driver, with accessors for tests."""

    @classmethod
    def from_description(cls, description: BoardDescription) -> SimBoard:
        """Create (not open) the simulated devices. Raises BoardError for an entry whose driver
        is not "sim" or whose options the sim driver refuses."""
        board = create_board(description, {"sim": DRIVERS["sim"]})
        return cls(description, board.devices)

    @property
    def fxs_ports(self) -> list[SimFxsPort]:
        return self.of_type(SimFxsPort)

    def fxs(self, number: int) -> SimFxsPort:
        """FXS port `number`, counted from 1 as on the box's label. Raises IndexError."""
        if number < 1:
            raise IndexError(number)
        return self.fxs_ports[number - 1]

    @property
    def not_simulated(self) -> list[str]:
        """Entries described but without simulated devices yet, e.g. ["fxo[0]", "dect[0]"]."""
        return [e.path for e in self.description.entries if e.kind not in SIMULATED_KINDS]
