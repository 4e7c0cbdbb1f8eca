"""Each CRM connector against a fake CRM over real HTTP: request shape, answers, garbage."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from datetime import UTC, datetime

import aiohttp
import pytest

from firmware.contacts.connectors.amocrm import AmoCrmConnector, AmoCrmSettings
from firmware.contacts.connectors.base import ConnectorError, FailureReason, Owner
from firmware.contacts.connectors.bitrix24 import Bitrix24Connector, Bitrix24Settings
from firmware.contacts.connectors.megaplan import MegaplanConnector, MegaplanSettings
from firmware.contacts.connectors.webhook import WebhookConnector, WebhookSettings

from .conftest import MOSCOW, FakeCrm, raw, reply, slow

NUMBER = "+74951234567"


def soon(seconds: float = 2.0) -> float:
    return asyncio.get_running_loop().time() + seconds


def amo_contact(phone: str, responsible: object, contact_id: int = 11) -> dict[str, object]:
    return {
        "id": contact_id,
        "name": "ООО Ромашка",
        "responsible_user_id": responsible,
        "custom_fields_values": [
            {"field_id": 1, "field_code": "PHONE", "values": [{"value": phone}]},
        ],
    }


def amo(crm: FakeCrm, session: aiohttp.ClientSession) -> AmoCrmConnector:
    return AmoCrmConnector(AmoCrmSettings(crm.base_url, token="T0KEN"), session, MOSCOW)


# --- amoCRM ------------------------------------------------------------------------------------


async def test_amocrm_searches_contacts_by_national_digits_with_bearer_token(
    crm: FakeCrm, session: aiohttp.ClientSession
) -> None:
    crm.handler = reply({"_embedded": {"contacts": [amo_contact("8 (495) 123-45-67", 777)]}})
    owner = await amo(crm, session).owner_of(NUMBER, soon())
    assert owner == Owner(user_id="777", contact_id="11")
    seen = crm.seen[0]
    assert (seen.method, seen.path) == ("GET", "/api/v4/contacts")
    assert seen.query["query"] == "4951234567"
    assert seen.headers["Authorization"] == "Bearer T0KEN"


async def test_amocrm_ignores_a_contact_whose_phone_differs(
    crm: FakeCrm, session: aiohttp.ClientSession
) -> None:
    # The substring search also hits a contact whose note holds the digits.
    crm.handler = reply({"_embedded": {"contacts": [amo_contact("+7 916 000-00-00", 5)]}})
    assert await amo(crm, session).owner_of(NUMBER, soon()) is None


async def test_amocrm_no_content_means_unknown(
    crm: FakeCrm, session: aiohttp.ClientSession
) -> None:
    crm.handler = raw(b"", status=204)
    assert await amo(crm, session).owner_of(NUMBER, soon()) is None


@pytest.mark.parametrize(
    ("body", "status", "content_type", "reason"),
    [
        (b"{not json", 200, "application/json", FailureReason.BAD_RESPONSE),
        (
            b"<html><body>502 Bad Gateway</body></html>",
            200,
            "text/html",
            FailureReason.BAD_RESPONSE,
        ),
        (b"<html>nginx</html>", 502, "text/html", FailureReason.HTTP_STATUS),
        (b'{"title": "Internal"}', 500, "application/json", FailureReason.HTTP_STATUS),
        (b'{"title": "Unauthorized"}', 401, "application/problem+json", FailureReason.AUTH),
        (b"[]", 200, "application/json", FailureReason.BAD_RESPONSE),
        (b'{"_embedded": 5}', 200, "application/json", FailureReason.BAD_RESPONSE),
        (
            b'{"_embedded": {"contacts": {"id": 1}}}',
            200,
            "application/json",
            FailureReason.BAD_RESPONSE,
        ),
        (b'{"_embedded": {"contacts": [7]}}', 200, "application/json", FailureReason.BAD_RESPONSE),
        (b"\xff\xfe\x00garbage", 200, "application/json", FailureReason.BAD_RESPONSE),
        (b'{"x": "' + b"a" * 300_000 + b'"}', 200, "application/json", FailureReason.BAD_RESPONSE),
    ],
)
async def test_amocrm_garbage_is_a_connector_error(
    crm: FakeCrm,
    session: aiohttp.ClientSession,
    body: bytes,
    status: int,
    content_type: str,
    reason: FailureReason,
) -> None:
    crm.handler = raw(body, status, content_type)
    with pytest.raises(ConnectorError) as caught:
        await amo(crm, session).owner_of(NUMBER, soon())
    assert caught.value.reason is reason


@pytest.mark.parametrize("responsible", [None, "abc", True, -3, {"id": 1}])
async def test_amocrm_contact_without_a_usable_responsible_is_no_owner(
    crm: FakeCrm, session: aiohttp.ClientSession, responsible: object
) -> None:
    crm.handler = reply({"_embedded": {"contacts": [amo_contact("+74951234567", responsible)]}})
    assert await amo(crm, session).owner_of(NUMBER, soon()) is None


async def test_refused_connection_is_refused(
    refused_url: str, session: aiohttp.ClientSession
) -> None:
    connector = AmoCrmConnector(AmoCrmSettings(refused_url, token="t"), session, MOSCOW)
    with pytest.raises(ConnectorError) as caught:
        await connector.owner_of(NUMBER, soon())
    assert caught.value.reason is FailureReason.REFUSED


async def test_connector_gives_up_at_its_deadline(
    crm: FakeCrm, session: aiohttp.ClientSession
) -> None:
    crm.handler = slow(3.0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(ConnectorError) as caught:
        await amo(crm, session).owner_of(NUMBER, soon(0.2))
    assert caught.value.reason is FailureReason.TIMEOUT
    assert loop.time() - start < 0.35


# --- Bitrix24 ----------------------------------------------------------------------------------


def bitrix(crm: FakeCrm, session: aiohttp.ClientSession) -> Bitrix24Connector:
    url = f"{crm.base_url}/rest/1/s3cr3t/"
    return Bitrix24Connector(Bitrix24Settings(webhook_url=url), session, MOSCOW)


async def test_bitrix24_finds_duplicates_by_phone_then_reads_assigned_user(
    crm: FakeCrm, session: aiohttp.ClientSession
) -> None:
    async def handle(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        if request.path.endswith("crm.duplicate.findbycomm.json"):
            return aiohttp.web.json_response({"result": {"CONTACT": [42, 43]}, "time": {}})
        return aiohttp.web.json_response({"result": {"ID": "42", "ASSIGNED_BY_ID": "17"}})

    crm.handler = handle
    owner = await bitrix(crm, session).owner_of(NUMBER, soon())
    assert owner == Owner(user_id="17", contact_id="CONTACT:42")
    find, get = crm.seen
    assert (find.method, find.path) == ("POST", "/rest/1/s3cr3t/crm.duplicate.findbycomm.json")
    body = crm.json_body(0)
    assert isinstance(body, dict)
    assert body["type"] == "PHONE" and body["entity_type"] == "CONTACT"
    assert {"+74951234567", "84951234567"} <= set(body["values"])
    assert len(body["values"]) <= 20
    assert get.path == "/rest/1/s3cr3t/crm.contact.get.json"
    assert crm.json_body(1) == {"id": "42"}


async def test_bitrix24_empty_result_tries_company_and_lead_then_unknown(
    crm: FakeCrm, session: aiohttp.ClientSession
) -> None:
    crm.handler = reply({"result": []})  # PHP's empty array
    assert await bitrix(crm, session).owner_of(NUMBER, soon()) is None
    kinds = [b["entity_type"] for b in (crm.json_body(i) for i in range(3))]  # type: ignore[index]
    assert kinds == ["CONTACT", "COMPANY", "LEAD"]


async def test_bitrix24_error_reply_is_a_connector_error(
    crm: FakeCrm, session: aiohttp.ClientSession
) -> None:
    crm.handler = reply({"error": "INVALID_CREDENTIALS", "error_description": "x"}, status=401)
    with pytest.raises(ConnectorError) as caught:
        await bitrix(crm, session).owner_of(NUMBER, soon())
    assert caught.value.reason is FailureReason.AUTH


async def test_bitrix24_wrong_shape_is_bad_response(
    crm: FakeCrm, session: aiohttp.ClientSession
) -> None:
    crm.handler = reply({"result": "CONTACT"})
    with pytest.raises(ConnectorError) as caught:
        await bitrix(crm, session).owner_of(NUMBER, soon())
    assert caught.value.reason is FailureReason.BAD_RESPONSE


# --- Megaplan ----------------------------------------------------------------------------------


class _PinnedClock(datetime):
    @classmethod
    def now(cls, tz: object = None) -> _PinnedClock:  # type: ignore[override]
        return cls(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


async def test_megaplan_lists_clients_by_phone_with_signed_request(
    crm: FakeCrm, session: aiohttp.ClientSession
) -> None:
    crm.handler = reply(
        {
            "status": {"code": "ok", "message": None},
            "data": {"clients": [{"Id": 1000123, "Responsibles": [{"Id": 1000005, "Name": "И"}]}]},
        }
    )
    settings = MegaplanSettings(crm.base_url, access_id="AID", secret_key="SK")
    connector = MegaplanConnector(settings, session, wall_clock=_PinnedClock)
    assert await connector.owner_of(NUMBER, soon()) == Owner("1000005", contact_id="1000123")
    seen = crm.seen[0]
    assert (seen.method, seen.path) == ("GET", "/BumsCrmApiV01/Contractor/list.api")
    assert seen.query == {"Phone": NUMBER}
    assert seen.headers["Date"] == "Mon, 23 Nov 2026 12:00:00 GMT"
    # Megaplan "general request rules": base64(hex(HMAC-SHA1(secret, METHOD\nMD5\nTYPE\nDATE\n
    # host+uri))), recomputed here from what the server received.
    host = seen.headers["Host"]
    uri = "/BumsCrmApiV01/Contractor/list.api?Phone=%2B74951234567"
    assert seen.raw_path == uri
    text = f"GET\n\n\n{seen.headers['Date']}\n{host}{uri}"
    digest = hmac.new(b"SK", text.encode(), hashlib.sha1).hexdigest()
    expected = base64.b64encode(digest.encode())
    assert seen.headers["X-Authorization"] == "AID:" + expected.decode()


async def test_megaplan_error_status_is_a_connector_error(
    crm: FakeCrm, session: aiohttp.ClientSession
) -> None:
    crm.handler = reply({"status": {"code": "error", "message": "Access denied"}})
    connector = MegaplanConnector(MegaplanSettings(crm.base_url, "a", "s"), session)
    with pytest.raises(ConnectorError):
        await connector.owner_of(NUMBER, soon())


# --- webhook -----------------------------------------------------------------------------------


async def test_webhook_posts_signed_lookup_and_accepts_an_extension(
    crm: FakeCrm, session: aiohttp.ClientSession
) -> None:
    crm.handler = reply({"extension": "203"})
    connector = WebhookConnector(WebhookSettings(f"{crm.base_url}/hook", secret="k"), session)
    assert await connector.owner_of(NUMBER, soon()) == Owner("203", extension="203")
    seen = crm.seen[0]
    assert seen.method == "POST"
    assert crm.json_body() == {
        "event": "owner_lookup",
        "phone": NUMBER,
        "national": "4951234567",
    }
    mac = hmac.new(b"k", seen.body, hashlib.sha256).hexdigest()
    assert seen.headers["X-Switchbox-Signature"] == f"sha256={mac}"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [({"user_id": 17}, Owner("17")), ({}, None), ({"extension": None, "user_id": None}, None)],
)
async def test_webhook_user_id_or_nothing(
    crm: FakeCrm, session: aiohttp.ClientSession, payload: object, expected: Owner | None
) -> None:
    crm.handler = reply(payload)
    connector = WebhookConnector(WebhookSettings(f"{crm.base_url}/hook"), session)
    assert await connector.owner_of(NUMBER, soon()) == expected
    assert "X-Switchbox-Signature" not in crm.seen[0].headers


@pytest.mark.parametrize("payload", [{"extension": "20; DROP"}, {"extension": 203}, ["203"]])
async def test_webhook_rejects_bad_extensions(
    crm: FakeCrm, session: aiohttp.ClientSession, payload: object
) -> None:
    crm.handler = reply(payload)
    connector = WebhookConnector(WebhookSettings(f"{crm.base_url}/hook"), session)
    with pytest.raises(ConnectorError):
        await connector.owner_of(NUMBER, soon())
