"""One SIP side of a call: an INVITE we received (inbound) or sent (outbound), and its dialog.

The controller joins legs; a leg only remembers what its SIP dialog needs (transaction ids,
tags, the flow to send on). Analog ports and DECT handsets will be legs of their own kinds
that speak the same call events (style rule 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from firmware.calls.events import LegId
from firmware.sip.dialog import Dialog
from firmware.sip.message import Request
from firmware.sip.peer import Peer
from firmware.sip.transaction import ClientTransactionId, ServerTransactionId


class LegRole(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class LegState(StrEnum):
    """RFC 3261 dialog life seen from one leg."""

    CALLING = "calling"  # INVITE sent or received, nothing back yet
    EARLY = "early"  # a provisional response passed
    CONFIRMED = "confirmed"  # 2xx passed
    TERMINATED = "terminated"


@dataclass(eq=False, slots=True)
class SipLeg:
    """Mutable per-leg state, owned by the controller and touched only on the loop thread."""

    id: LegId
    role: LegRole
    peer: Peer
    invite: Request
    device: str
    local_tag: str
    state: LegState = LegState.CALLING
    server_tx: ServerTransactionId | None = None
    client_tx: ClientTransactionId | None = None
    dialog: Dialog | None = None
    provisional: bool = False
    cancel_pending: bool = False
    final_status: int | None = None
    ack: Request | None = None

    @property
    def call_id(self) -> str:
        return self.invite.call_id
