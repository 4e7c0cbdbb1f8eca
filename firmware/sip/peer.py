"""Where a SIP message came from or goes to: transport, address and (for streams) connection.

Pure value types shared by the transaction layer (which never does I/O) and the transport
adapter (which does). A response to a request received on TCP must leave on the same
connection (RFC 3261 §18.2.2), so a stream peer carries the id of that connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Transport(StrEnum):
    """SIP transports by their Via token (RFC 3261 §18, RFC 5630 for TLS)."""

    UDP = "UDP"
    TCP = "TCP"
    TLS = "TLS"

    @property
    def reliable(self) -> bool:
        """Reliable transports need no retransmission timers (RFC 3261 §17.1.1.2, §17.1.2.2)."""
        return self is not Transport.UDP


@dataclass(frozen=True, slots=True)
class Peer:
    """A remote SIP endpoint. `connection` identifies the stream a message arrived on
    (None for UDP, or for a stream peer we have not connected to yet)."""

    transport: Transport
    host: str
    port: int
    connection: int | None = None

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def __str__(self) -> str:
        return f"{self.transport.lower()}:{self.host}:{self.port}"
