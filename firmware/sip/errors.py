"""The error family of the SIP boundary: every error says what the peer is answered."""

from __future__ import annotations

from firmware.sip.status import SipStatus


class SipError(Exception):
    """A request we refuse; `status` is what the peer gets back."""

    def __init__(self, status: SipStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class SipParseError(SipError):
    """Bytes we cannot act on, e.g. `SipParseError(SipStatus.BAD_REQUEST, "missing Via")`.

    `reason` is short, stable text: it is used as the drop-counter key and in the 400 phrase.
    """

    def __init__(self, status: SipStatus, reason: str) -> None:
        super().__init__(status, reason)
