"""A generic webhook connector: any CRM or script that answers one small JSON question.

Lookup: `POST <url>` with `{"event": "owner_lookup", "phone": "+74951234567", "national":
"4951234567"}`. The answer is `{"extension": "201"}` (our extension, used as is) or
`{"user_id": "17"}` (mapped through the configured user table); 204, `{}` or null fields mean
"not known". Reports: `POST <url>` with `{"event": "call", …}` (see `CallReport`), any 2xx.

When a secret is configured every request carries `X-Switchbox-Signature: sha256=<hex HMAC of
the body>` so the receiver can tell our requests from anyone else's (the scheme GitHub uses
for its webhooks).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field

import aiohttp
from yarl import URL

from firmware.contacts import phone
from firmware.contacts.connectors.base import (
    CallReport,
    Owner,
    bad_shape,
    exchange_json,
    id_text,
)

SIGNATURE_HEADER = "X-Switchbox-Signature"


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    url: str = field(repr=False)
    """Where to POST (may hold a token in its query: treated as a secret)."""
    secret: str = field(default="", repr=False)
    """HMAC-SHA256 key for `X-Switchbox-Signature`; empty: unsigned."""


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookConnector:
    """`Connector` for a generic JSON webhook."""

    def __init__(
        self, settings: WebhookSettings, session: aiohttp.ClientSession, name: str = "webhook"
    ) -> None:
        self._url = URL(settings.url)
        self._secret = settings.secret
        self._session = session
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    async def _post(self, payload: dict[str, object], deadline: float) -> object:
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        return await exchange_json(
            self._session, "POST", self._url, deadline, data=body, headers=headers, empty_ok=True
        )

    async def owner_of(self, e164: str, deadline: float) -> Owner | None:
        payload: dict[str, object] = {
            "event": "owner_lookup",
            "phone": e164,
            "national": phone.national_digits(e164),
        }
        reply = await self._post(payload, deadline)
        if reply is None:
            return None
        if not isinstance(reply, dict):
            raise bad_shape(self._url.host, "reply is not an object")
        extension = reply.get("extension")
        if extension is not None:
            if not isinstance(extension, str) or not extension.isdigit() or len(extension) > 16:
                raise bad_shape(self._url.host, "extension is not a digit string")
            return Owner(user_id=extension, extension=extension)
        user = reply.get("user_id")
        if user is None:
            return None
        text = id_text(user) or (user if isinstance(user, str) and 0 < len(user) <= 64 else None)
        if text is None:
            raise bad_shape(self._url.host, "user_id is not an id")
        return Owner(user_id=text)

    async def report_call(self, report: CallReport, deadline: float) -> None:
        payload: dict[str, object] = {
            "event": "call",
            "call": report.call,
            "phone": report.e164,
            "direction": report.direction.value,
            "extension": report.extension,
            "started_at": report.started_at.isoformat(),
            "talk_s": report.talk_s,
            "missed": report.missed,
        }
        await self._post(payload, deadline)
