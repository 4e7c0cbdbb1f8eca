"""Megaplan (API v1, `BumsCrmApiV01`): the responsible employee of a client with a number.

`GET {base_url}/BumsCrmApiV01/Contractor/list.api?Phone=<number>` — `Phone` is "a phone number
in any format" per Megaplan's documentation — answers `{"status": {"code": "ok"}, "data":
{"clients": [{"Id", "Name", "Responsibles": [{"Id", "Name"}]}]}}`; `status.code` "error" with
`status.message` otherwise. The first responsible of the first client decides.

Requests are signed as Megaplan's "general request rules" describe: `X-Authorization:
<AccessId>:<signature>`, the signature being base64 of the hex HMAC-SHA1, keyed by the
SecretKey, of `method\\ncontent-md5\\ncontent-type\\ndate\\nhost+uri`. AccessId and SecretKey come
from `BumsCommonApiV01/User/authorize.api` once, at setup (not done here).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

import aiohttp
from yarl import URL

from firmware.contacts.connectors.base import (
    CallReport,
    ConnectorError,
    FailureReason,
    Owner,
    bad_shape,
    exchange_json,
    id_text,
)

LIST_PATH = "/BumsCrmApiV01/Contractor/list.api"


@dataclass(frozen=True, slots=True)
class MegaplanSettings:
    base_url: str
    """`https://<account>.megaplan.ru`."""
    access_id: str
    secret_key: str = field(repr=False)
    """API v1 SecretKey (secret: never logged, shown masked)."""


def signature(secret_key: str, method: str, date: str, host_and_uri: str) -> str:
    """Megaplan API v1 request signature (empty Content-MD5 and Content-Type for a GET)."""
    text = f"{method}\n\n\n{date}\n{host_and_uri}"
    digest = hmac.new(secret_key.encode(), text.encode(), hashlib.sha1).hexdigest()
    return base64.b64encode(digest.encode()).decode()


class MegaplanConnector:
    """`Connector` for Megaplan API v1. `wall_clock` gives the Date header (tests pin it)."""

    def __init__(
        self,
        settings: MegaplanSettings,
        session: aiohttp.ClientSession,
        wall_clock: type[datetime] = datetime,
    ) -> None:
        self._base = URL(settings.base_url)
        self._settings = settings
        self._session = session
        self._wall_clock = wall_clock

    @property
    def name(self) -> str:
        return "megaplan"

    async def owner_of(self, e164: str, deadline: float) -> Owner | None:
        url = self._base.with_path(LIST_PATH).with_query({"Phone": e164})
        date = format_datetime(self._wall_clock.now(UTC), usegmt=True)
        # The Host header as sent: the port only when it is not the scheme's default.
        host = (url.host or "") if url.is_default_port() else f"{url.host}:{url.port}"
        sig = signature(self._settings.secret_key, "GET", date, host + url.raw_path_qs)
        headers = {
            "Date": date,
            "Accept": "application/json",
            "X-Authorization": f"{self._settings.access_id}:{sig}",
        }
        reply = await exchange_json(self._session, "GET", url, deadline, headers=headers)
        clients = self._clients(reply)
        for client in clients:
            if not isinstance(client, dict):
                raise bad_shape(host, "client is not an object")
            responsibles = client.get("Responsibles")
            if not isinstance(responsibles, list):
                continue
            for person in responsibles:
                user = id_text(person.get("Id")) if isinstance(person, dict) else None
                if user is not None:
                    return Owner(user_id=user, contact_id=id_text(client.get("Id")))
        return None

    def _clients(self, reply: object) -> list[object]:
        host = self._base.host
        if not isinstance(reply, dict) or not isinstance(reply.get("status"), dict):
            raise bad_shape(host, "no status object")
        status: dict[str, object] = reply["status"]
        if status.get("code") != "ok":
            raise ConnectorError(FailureReason.HTTP_STATUS, f"{host}: status {status!r:.80}")
        data = reply.get("data")
        clients = data.get("clients") if isinstance(data, dict) else None
        if not isinstance(clients, list):
            raise bad_shape(host, "no data.clients list")
        return clients

    async def report_call(self, report: CallReport, deadline: float) -> None:
        raise NotImplementedError("Megaplan call reporting is not built yet")
