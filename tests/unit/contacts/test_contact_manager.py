"""The resolver: sources in order, one hard budget, cache and history when the CRM fails."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from firmware.contacts.cache import OwnerCache
from firmware.contacts.connectors.amocrm import AmoCrmConnector, AmoCrmSettings
from firmware.contacts.connectors.base import Connector, FailureReason, Owner
from firmware.contacts.connectors.bitrix24 import Bitrix24Connector, Bitrix24Settings
from firmware.contacts.history import Direction, HistoryStore, TalkFact
from firmware.contacts.manager import (
    ContactManager,
    ContactManagerSettings,
    Lookup,
    Outcome,
    RingMode,
    Target,
    TargetKind,
    Then,
)

from .conftest import MOSCOW, FakeCrm, reply, slow

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NUMBER = "+74951234567"
BUDGET_MS = 300
MARGIN_S = 0.1
"""Local reads, one thread hop and a loaded 2-core CI machine."""


def amo_found(responsible: int) -> dict[str, object]:
    contact = {
        "id": 1,
        "responsible_user_id": responsible,
        "custom_fields_values": [{"field_code": "PHONE", "values": [{"value": "84951234567"}]}],
    }
    return {"_embedded": {"contacts": [contact]}}


def settings(**changes: object) -> ContactManagerSettings:
    base = ContactManagerSettings(
        sources=("amocrm", "history"),
        budget_ms=BUDGET_MS,
        source_timeout_ms=BUDGET_MS,
        users={"amocrm": {"777": "207", "555": "200"}, "bitrix24": {"17": "209"}},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def manager(
    cfg: ContactManagerSettings,
    history: HistoryStore,
    cache: OwnerCache,
    connectors: Mapping[str, Connector],
    mobiles: Mapping[str, str] | None = None,
) -> ContactManager:
    return ContactManager(cfg, MOSCOW, history, cache, connectors, mobiles)


async def talk(history: HistoryStore, ext: str, minutes_ago: float, e164: str = NUMBER) -> None:
    at = NOW - timedelta(minutes=minutes_ago)
    await history.record(TalkFact(e164, ext, Direction.INBOUND, at))


async def timed(cm: ContactManager, caller: str = "8 495 123-45-67") -> tuple[Lookup, float]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await cm.lookup(caller, NOW)
    return result, loop.time() - start


@pytest.fixture
def amocrm(crm: FakeCrm, session: aiohttp.ClientSession) -> AmoCrmConnector:
    return AmoCrmConnector(AmoCrmSettings(crm.base_url, token="t"), session, MOSCOW)


# --- the budget ------------------------------------------------------------------------------


async def test_slow_crm_is_cut_at_the_budget_and_history_decides(
    crm: FakeCrm, amocrm: AmoCrmConnector, history: HistoryStore, cache: OwnerCache
) -> None:
    crm.handler = slow(3.0)
    await talk(history, "205", minutes_ago=30)
    result, elapsed_s = await timed(manager(settings(), history, cache, {"amocrm": amocrm}))
    assert elapsed_s < BUDGET_MS / 1000 + MARGIN_S
    assert elapsed_s >= BUDGET_MS / 1000 * 0.9  # it did wait for the CRM, up to the budget
    assert result.decided_by == "history"
    assert result.targets == (Target(TargetKind.EXTENSION, "205"),)
    assert result.then is Then.CONTINUE_ROUTE
    crm_attempt = result.attempts[0]
    assert (crm_attempt.outcome, crm_attempt.failure) == (Outcome.FAILED, FailureReason.TIMEOUT)


async def test_slow_crm_falls_back_to_its_stale_cache_within_the_budget(
    crm: FakeCrm, amocrm: AmoCrmConnector, history: HistoryStore, cache: OwnerCache
) -> None:
    crm.handler = slow(3.0)
    await cache.put("amocrm", NUMBER, Owner("777"), NOW - timedelta(days=2))
    result, elapsed_s = await timed(manager(settings(), history, cache, {"amocrm": amocrm}))
    assert elapsed_s < BUDGET_MS / 1000 + MARGIN_S
    assert (result.decided_by, result.extension) == ("amocrm", "207")
    assert result.attempts[0].outcome is Outcome.FOUND_IN_CACHE
    assert result.attempts[0].failure is FailureReason.TIMEOUT


async def test_two_slow_crms_share_one_budget(
    crm: FakeCrm,
    session: aiohttp.ClientSession,
    amocrm: AmoCrmConnector,
    history: HistoryStore,
    cache: OwnerCache,
) -> None:
    crm.handler = slow(3.0)
    bitrix = Bitrix24Connector(Bitrix24Settings(f"{crm.base_url}/rest/1/x/"), session, MOSCOW)
    await talk(history, "205", minutes_ago=5)
    cfg = settings(sources=("amocrm", "bitrix24", "history"), source_timeout_ms=200)
    cm = manager(cfg, history, cache, {"amocrm": amocrm, "bitrix24": bitrix})
    result, elapsed_s = await timed(cm)
    assert elapsed_s < BUDGET_MS / 1000 + MARGIN_S
    assert [a.outcome for a in result.attempts] == [Outcome.FAILED, Outcome.FAILED, Outcome.FOUND]
    assert result.extension == "205"


# --- cache -----------------------------------------------------------------------------------


async def test_crm_answer_is_cached_and_decides_when_the_crm_goes_down(
    crm: FakeCrm, amocrm: AmoCrmConnector, history: HistoryStore, cache: OwnerCache
) -> None:
    crm.handler = reply(amo_found(777))
    cm = manager(settings(cache_fresh_s=0.0), history, cache, {"amocrm": amocrm})
    first = await cm.lookup("+7 495 123-45-67", NOW)
    assert (first.decided_by, first.extension, first.attempts[0].outcome) == (
        "amocrm",
        "207",
        Outcome.FOUND,
    )
    await cm.drain()
    crm.handler = reply({"error": "down"}, status=503)
    second = await cm.lookup("84951234567", NOW + timedelta(hours=1))
    assert second.extension == "207"
    assert second.attempts[0].outcome is Outcome.FOUND_IN_CACHE
    assert second.attempts[0].failure is FailureReason.HTTP_STATUS


async def test_cache_is_used_when_the_crm_refuses_connections(
    refused_url: str, session: aiohttp.ClientSession, history: HistoryStore, cache: OwnerCache
) -> None:
    down = AmoCrmConnector(AmoCrmSettings(refused_url, token="t"), session, MOSCOW)
    await cache.put("amocrm", NUMBER, Owner("777"), NOW - timedelta(days=3))
    result = await manager(settings(), history, cache, {"amocrm": down}).lookup(NUMBER, NOW)
    assert result.extension == "207"
    assert result.attempts[0].failure is FailureReason.REFUSED


async def test_cache_older_than_max_age_is_not_used(
    refused_url: str, session: aiohttp.ClientSession, history: HistoryStore, cache: OwnerCache
) -> None:
    down = AmoCrmConnector(AmoCrmSettings(refused_url, token="t"), session, MOSCOW)
    await cache.put("amocrm", NUMBER, Owner("777"), NOW - timedelta(days=31))
    cfg = settings(sources=("amocrm",), cache_max_age_days=30.0)
    result = await manager(cfg, history, cache, {"amocrm": down}).lookup(NUMBER, NOW)
    assert result.extension is None
    assert result.attempts[0].outcome is Outcome.FAILED


async def test_fresh_cache_answers_without_asking_the_crm(
    crm: FakeCrm, amocrm: AmoCrmConnector, history: HistoryStore, cache: OwnerCache
) -> None:
    crm.handler = reply(amo_found(555))
    await cache.put("amocrm", NUMBER, Owner("777"), NOW - timedelta(minutes=1))
    result = await manager(settings(), history, cache, {"amocrm": amocrm}).lookup(NUMBER, NOW)
    assert result.extension == "207"
    assert crm.seen == []


async def test_crm_not_found_forgets_the_cached_owner(
    crm: FakeCrm, amocrm: AmoCrmConnector, history: HistoryStore, cache: OwnerCache
) -> None:
    await cache.put("amocrm", NUMBER, Owner("777"), NOW - timedelta(days=1))
    crm.handler = reply({"_embedded": {"contacts": []}})
    cm = manager(settings(sources=("amocrm",)), history, cache, {"amocrm": amocrm})
    result = await cm.lookup(NUMBER, NOW)
    assert result.attempts[0].outcome is Outcome.NOT_FOUND and result.extension is None
    await cm.drain()
    assert await cache.entries(NUMBER) == {}


async def test_cache_survives_reopening(tmp_path: Path) -> None:
    store = OwnerCache(tmp_path / "c.sqlite")
    await store.put("amocrm", NUMBER, Owner("777", contact_id="1"), NOW)
    store.close()
    reopened = OwnerCache(tmp_path / "c.sqlite")
    entries = await reopened.entries(NUMBER)
    reopened.close()
    assert entries["amocrm"].owner == Owner("777", contact_id="1")
    assert entries["amocrm"].stored_at == NOW


# --- order and history -----------------------------------------------------------------------


async def test_history_first_wins_without_asking_the_crm(
    crm: FakeCrm, amocrm: AmoCrmConnector, history: HistoryStore, cache: OwnerCache
) -> None:
    crm.handler = reply(amo_found(777))
    await talk(history, "205", minutes_ago=60)
    cfg = settings(sources=("history", "amocrm"))
    result = await manager(cfg, history, cache, {"amocrm": amocrm}).lookup(NUMBER, NOW)
    assert (result.decided_by, result.extension) == ("history", "205")
    assert crm.seen == []


async def test_crm_first_wins_over_history(
    crm: FakeCrm, amocrm: AmoCrmConnector, history: HistoryStore, cache: OwnerCache
) -> None:
    crm.handler = reply(amo_found(777))
    await talk(history, "205", minutes_ago=60)
    result = await manager(settings(), history, cache, {"amocrm": amocrm}).lookup(NUMBER, NOW)
    assert (result.decided_by, result.extension) == ("amocrm", "207")


async def test_history_takes_the_latest_talk_in_or_out(
    history: HistoryStore, cache: OwnerCache
) -> None:
    await talk(history, "201", minutes_ago=300)
    await history.record(TalkFact(NUMBER, "202", Direction.OUTBOUND, NOW - timedelta(hours=1)))
    await talk(history, "201", minutes_ago=600)  # late-arriving older fact keeps 201's latest
    cm = manager(settings(sources=("history",)), history, cache, {})
    assert (await cm.lookup(NUMBER, NOW)).extension == "202"


async def test_history_older_than_its_window_is_ignored(
    history: HistoryStore, cache: OwnerCache
) -> None:
    await talk(history, "201", minutes_ago=60 * 24 * 40)
    cm = manager(settings(sources=("history",), history_days=30), history, cache, {})
    result = await cm.lookup(NUMBER, NOW)
    assert result.extension is None and result.attempts[0].outcome is Outcome.NOT_FOUND


@pytest.mark.parametrize(
    "caller", ["8 495 123-45-67", "495 123-45-67", "+7 495 123-45-67", "123-45-67", "74951234567"]
)
async def test_every_russian_form_of_the_caller_finds_the_history(
    history: HistoryStore, cache: OwnerCache, caller: str
) -> None:
    await talk(history, "204", minutes_ago=10)
    cm = manager(settings(sources=("history",)), history, cache, {})
    assert (await cm.lookup(caller, NOW)).extension == "204"


# --- exceptions, modes, defaults -------------------------------------------------------------


async def test_excepted_extension_is_skipped_for_the_talker_before_it(
    history: HistoryStore, cache: OwnerCache
) -> None:
    await talk(history, "200", minutes_ago=1)  # the receptionist answered and transferred
    await talk(history, "206", minutes_ago=2)
    cfg = settings(sources=("history",), exceptions=frozenset({"200"}))
    assert (await manager(cfg, history, cache, {}).lookup(NUMBER, NOW)).extension == "206"


async def test_crm_owner_on_the_exceptions_list_passes_to_the_next_source(
    crm: FakeCrm, amocrm: AmoCrmConnector, history: HistoryStore, cache: OwnerCache
) -> None:
    crm.handler = reply(amo_found(555))  # user 555 is extension 200
    await talk(history, "206", minutes_ago=5)
    cfg = settings(exceptions=frozenset({"200"}))
    result = await manager(cfg, history, cache, {"amocrm": amocrm}).lookup(NUMBER, NOW)
    assert result.attempts[0].outcome is Outcome.EXCLUDED
    assert (result.decided_by, result.extension) == ("history", "206")


async def test_unmapped_crm_user_leads_to_the_default_destination(
    crm: FakeCrm, amocrm: AmoCrmConnector, history: HistoryStore, cache: OwnerCache
) -> None:
    crm.handler = reply(amo_found(999))
    cfg = settings(default_destination="600")
    result = await manager(cfg, history, cache, {"amocrm": amocrm}).lookup(NUMBER, NOW)
    assert result.attempts[0].outcome is Outcome.UNMAPPED
    assert result.decided_by is None
    assert result.targets == (Target(TargetKind.DESTINATION, "600"),)
    assert result.then is Then.CONTINUE_ROUTE


async def test_nobody_found_and_no_default_continues_the_route_at_once(
    history: HistoryStore, cache: OwnerCache
) -> None:
    cm = manager(settings(sources=("history",)), history, cache, {})
    result = await cm.lookup("anonymous", NOW)
    assert (result.e164, result.targets, result.then) == (None, (), Then.CONTINUE_ROUTE)


async def test_ring_mode_with_mobile_adds_the_mobile(
    history: HistoryStore, cache: OwnerCache
) -> None:
    await talk(history, "204", minutes_ago=10)
    mobiles = {"204": "+79161234567"}
    cfg = settings(sources=("history",), ring_mode=RingMode.WITH_MOBILE, ring_s=15.0)
    result = await manager(cfg, history, cache, {}, mobiles).lookup(NUMBER, NOW)
    assert result.targets == (
        Target(TargetKind.EXTENSION, "204"),
        Target(TargetKind.MOBILE, "+79161234567"),
    )
    assert result.ring_s == 15.0
    internal = await manager(settings(sources=("history",)), history, cache, {}, mobiles).lookup(
        NUMBER, NOW
    )
    assert internal.targets == (Target(TargetKind.EXTENSION, "204"),)


def test_unknown_source_is_refused_at_construction(
    history: HistoryStore, cache: OwnerCache
) -> None:
    with pytest.raises(ValueError, match="'megaplan' is not a configured connector"):
        manager(settings(sources=("megaplan", "history")), history, cache, {})


class _DeafConnector:
    """A connector that ignores its deadline (a bug, or a library that never times out)."""

    name = "webhook"

    async def owner_of(self, e164: str, deadline: float) -> Owner | None:
        await asyncio.sleep(5.0)
        return Owner("1", extension="201")

    async def report_call(self, report: object, deadline: float) -> None:
        raise NotImplementedError


async def test_budget_holds_even_when_a_connector_ignores_its_deadline(
    history: HistoryStore, cache: OwnerCache
) -> None:
    await talk(history, "205", minutes_ago=5)
    cfg = settings(sources=("webhook", "history"))
    result, elapsed_s = await timed(manager(cfg, history, cache, {"webhook": _DeafConnector()}))
    assert elapsed_s < BUDGET_MS / 1000 + MARGIN_S
    assert result.attempts[0].failure is FailureReason.TIMEOUT
    assert result.extension == "205"
