"""Bitrix24 (REST through an incoming webhook): the responsible user of a number's contact.

Two calls on the portal's incoming webhook URL (`https://<portal>/rest/<user>/<secret>/`, the
secret is in the path, so the URL is a credential and only its host is logged):

1. `crm.duplicate.findbycomm` with `{"type": "PHONE", "values": [...], "entity_type": E}`
   answers `{"result": {"CONTACT": [4, 5]}}` — or `{"result": []}` (PHP's empty array) when
   nothing matches. Up to 20 values per call; we send the forms a number may be stored in
   (E.164, `8…`, national digits, `7…`).
2. `crm.<entity>.get` with `{"id": N}` answers `{"result": {"ASSIGNED_BY_ID": "17", …}}`.

Entity types are tried in the configured order (default contact, then company, then lead); the
first with a responsible user decides. Errors come as HTTP 4xx/5xx with `{"error",
"error_description"}` and are a `ConnectorError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import aiohttp
from yarl import URL

from firmware.calls.numbers import NumberingContext
from firmware.contacts import phone
from firmware.contacts.connectors.base import CallReport, Owner, bad_shape, exchange_json, id_text

MAX_VALUES = 20
"""crm.duplicate.findbycomm accepts at most 20 values (Bitrix24 REST documentation)."""


class BitrixEntity(StrEnum):
    CONTACT = "CONTACT"
    COMPANY = "COMPANY"
    LEAD = "LEAD"


@dataclass(frozen=True, slots=True)
class Bitrix24Settings:
    webhook_url: str = field(repr=False)
    """Incoming webhook with scope `crm`: `https://<portal>.bitrix24.ru/rest/1/<secret>/`
    (secret: never logged, shown masked)."""
    entities: tuple[BitrixEntity, ...] = (
        BitrixEntity.CONTACT,
        BitrixEntity.COMPANY,
        BitrixEntity.LEAD,
    )
    """Where to look, in order."""


class Bitrix24Connector:
    """`Connector` for Bitrix24 REST."""

    def __init__(
        self, settings: Bitrix24Settings, session: aiohttp.ClientSession, ctx: NumberingContext
    ) -> None:
        base = (
            settings.webhook_url
            if settings.webhook_url.endswith("/")
            else (settings.webhook_url + "/")
        )
        self._base = URL(base)
        self._entities = settings.entities
        self._session = session
        self._ctx = ctx

    @property
    def name(self) -> str:
        return "bitrix24"

    def _method(self, method: str) -> URL:
        return self._base.join(URL(f"{method}.json"))

    async def owner_of(self, e164: str, deadline: float) -> Owner | None:
        values = list(phone.search_forms(e164, self._ctx))[:MAX_VALUES]
        for entity in self._entities:
            found = await exchange_json(
                self._session,
                "POST",
                self._method("crm.duplicate.findbycomm"),
                deadline,
                body={"type": "PHONE", "values": values, "entity_type": entity.value},
            )
            for entity_id in self._ids(found, entity):
                card = await exchange_json(
                    self._session,
                    "POST",
                    self._method(f"crm.{entity.value.lower()}.get"),
                    deadline,
                    body={"id": entity_id},
                )
                user = self._assigned(card)
                if user is not None:
                    return Owner(user_id=user, contact_id=f"{entity.value}:{entity_id}")
        return None

    def _ids(self, reply: object, entity: BitrixEntity) -> list[str]:
        if not isinstance(reply, dict) or "result" not in reply:
            raise bad_shape(self._base.host, "findbycomm reply has no result")
        result = reply["result"]
        if isinstance(result, list) and not result:
            return []  # PHP's empty array: no duplicates at all
        if not isinstance(result, dict):
            raise bad_shape(self._base.host, "findbycomm result is not an object")
        ids = result.get(entity.value, [])
        if not isinstance(ids, list):
            raise bad_shape(self._base.host, f"findbycomm {entity} is not a list")
        # Oldest first, as Bitrix24 returns them: the original card, not a later duplicate.
        return [text for text in map(id_text, ids) if text is not None]

    def _assigned(self, reply: object) -> str | None:
        if not isinstance(reply, dict) or not isinstance(reply.get("result"), dict):
            raise bad_shape(self._base.host, "get reply has no result object")
        result: dict[str, object] = reply["result"]
        return id_text(result.get("ASSIGNED_BY_ID"))

    async def report_call(self, report: CallReport, deadline: float) -> None:
        # telephony.externalcall.register/finish is the Bitrix24 way (issue 6 item 8).
        raise NotImplementedError("Bitrix24 call reporting is not built yet")
