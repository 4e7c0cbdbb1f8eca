"""amoCRM (API v4): the responsible user of the contact with a phone number.

`GET {base_url}/api/v4/contacts?query=<digits>&limit=<n>` with `Authorization: Bearer <token>`
(a long-lived token of a private integration). amoCRM answers `{"_embedded": {"contacts":
[{"id", "responsible_user_id", "custom_fields_values": [{"field_code": "PHONE", "values":
[{"value": "+7 495 …"}]}]}]}}`, or 204 with no body when nothing matches. `query` is a substring
search over all fields, so the national digits (`4951234567`) find `+7 495…` and `8 495…`
alike, and a hit is accepted only when one of the contact's PHONE values normalises to the
caller's number — a substring found in a note or an INN must not pick a manager.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
from yarl import URL

from firmware.calls.numbers import NumberingContext
from firmware.contacts import phone
from firmware.contacts.connectors.base import (
    CallReport,
    Owner,
    bad_shape,
    exchange_json,
    id_text,
)

SEARCH_LIMIT = 10
"""Contacts fetched per search; more candidates than this for one number is a data problem."""


@dataclass(frozen=True, slots=True)
class AmoCrmSettings:
    base_url: str
    """`https://<subdomain>.amocrm.ru` (or `.kommo.com`)."""
    token: str = field(repr=False)
    """Long-lived access token (secret: never logged, shown masked)."""


class AmoCrmConnector:
    """`Connector` for amoCRM API v4."""

    def __init__(
        self, settings: AmoCrmSettings, session: aiohttp.ClientSession, ctx: NumberingContext
    ) -> None:
        self._url = URL(settings.base_url) / "api" / "v4" / "contacts"
        self._headers = {"Authorization": f"Bearer {settings.token}", "Accept": "application/json"}
        self._session = session
        self._ctx = ctx

    @property
    def name(self) -> str:
        return "amocrm"

    async def owner_of(self, e164: str, deadline: float) -> Owner | None:
        reply = await exchange_json(
            self._session,
            "GET",
            self._url,
            deadline,
            params={"query": phone.national_digits(e164), "limit": str(SEARCH_LIMIT)},
            headers=self._headers,
            empty_ok=True,
        )
        if reply is None:
            return None
        contacts = _contacts(reply, self._url.host)
        for contact in contacts:
            if not isinstance(contact, dict):
                raise bad_shape(self._url.host, "contact is not an object")
            if e164 not in self._phones(contact):
                continue
            user = id_text(contact.get("responsible_user_id"))
            if user is None:
                continue  # a contact without a responsible user: not this source's answer
            return Owner(user_id=user, contact_id=id_text(contact.get("id")))
        return None

    def _phones(self, contact: dict[str, object]) -> set[str]:
        found: set[str] = set()
        fields = contact.get("custom_fields_values")
        if not isinstance(fields, list):
            return found  # amoCRM sends null when a contact has no custom fields
        for item in fields:
            if not isinstance(item, dict) or item.get("field_code") != "PHONE":
                continue
            values = item.get("values")
            if not isinstance(values, list):
                continue
            for value in values:
                text = value.get("value") if isinstance(value, dict) else None
                if isinstance(text, str) and (e164 := phone.normalise(text, self._ctx)):
                    found.add(e164)
        return found

    async def report_call(self, report: CallReport, deadline: float) -> None:
        raise NotImplementedError("amoCRM call reporting (issue 6 item 8) is not built yet")


def _contacts(reply: object, host: str | None) -> Sequence[object]:
    if not isinstance(reply, dict):
        raise bad_shape(host, "reply is not an object")
    embedded = reply.get("_embedded")
    if not isinstance(embedded, dict):
        raise bad_shape(host, "no _embedded")
    contacts = embedded.get("contacts")
    if not isinstance(contacts, list):
        raise bad_shape(host, "no _embedded.contacts list")
    return contacts
