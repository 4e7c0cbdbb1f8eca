"""Legs the box terminates itself — analog phones on FXS ports, city lines on FXO ports, DECT
handsets — and what the call controller asks of the services that run them.

A call is always two sides joined by one media relay session (`media/relay.py`). A SIP leg's
side is a phone's RTP address learnt from SDP; a port leg's side is the UDP socket of its PCM
slot (`media/ports.py`), so the controller treats both alike: it learns an address, exposes
its own, and a codec is agreed (`media/negotiation.py` for the port's side). A feature never
asks which kind of leg it holds beyond `LegKind` (style rule 3).

`PortSide` is the controller's view of a port service (`calls/lines.py` for phones and
handsets, `calls/trunks.py` for city lines): commands in the controller's words, each a
non-blocking call on the loop thread. The service answers through the controller's
`port_answered`, `port_released` and `originate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from firmware.calls.events import Cause, LegId
from firmware.calls.sip_leg import LegRole, LegState
from firmware.media.negotiation import LocalMedia


class LegKind(StrEnum):
    """The technology of a leg."""

    SIP = "sip"
    FXS = "fxs"
    """An analog phone (or door station) on an FXS port."""
    FXO = "fxo"
    """A city line on an FXO port."""
    DECT = "dect"
    """A DECT handset through a base."""


@dataclass(frozen=True, slots=True)
class CallerInfo:
    """Who calls, as a phone shows it: `number` (extension or city number) and `name`."""

    number: str
    name: str = ""


@dataclass(eq=False, slots=True)
class PortLeg:
    """One port's part in one call; owned by the controller, touched on the loop thread only."""

    id: LegId
    kind: LegKind
    role: LegRole
    device: str
    """The configured device (FXS phone, DECT handset) or, for a city line, its port name."""
    port: str
    """The hal device that carries it (`fxs1`, `fxo2`, `dect1`)."""
    ref: str
    """The name the port service knows this call by (an `AnalogLine` call id)."""
    dial: str = ""
    """Outbound city line: the digits to send after seizing it."""
    handset: int | None = None
    state: LegState = LegState.CALLING
    media: LocalMedia | None = None
    """The codec agreed for the port's side once the call is answered."""


class PortSide(Protocol):
    """What the controller asks of a port service. Every method returns at once."""

    def is_free(self, port: str) -> bool:
        """Whether `port` can take a new call now (idle line, phone on hook)."""
        ...

    def offer(self, leg: PortLeg, caller: CallerInfo) -> bool:
        """Ring the phone (or seize and dial the city line) for `leg`; False if it cannot
        take the call (busy, out of service): the controller counts the leg as busy."""
        ...

    def alerting(self, leg: PortLeg) -> None:
        """The far end of `leg`'s call rings: play ringback."""
        ...

    def answered(self, leg: PortLeg, remote: tuple[str, int], media: LocalMedia) -> None:
        """The call is connected: send the port's audio to `remote` with `media` (and answer
        the city line, for an inbound trunk leg)."""
        ...

    def failed(self, leg: PortLeg, cause: Cause) -> None:
        """`leg`'s outgoing call did not connect (busy tone for BUSY, congestion otherwise)."""
        ...

    def confirmed(self, leg: PortLeg) -> None:
        """`leg`'s call was a feature code that took effect: confirmation tone."""
        ...

    def released(self, leg: PortLeg, cause: Cause) -> None:
        """The far side left, or an offer is withdrawn (caller gone, answered elsewhere)."""
        ...

    def media_address(self, leg: PortLeg) -> tuple[str, int] | None:
        """Where the relay must send `leg`'s audio (its PCM slot's RTP socket), or None
        when the port has no audio path yet."""
        ...
