"""The CRM connector interface and the one bounded HTTP exchange every connector uses.

A connector answers one question — who in the CRM is responsible for this phone number — before
a deadline, or fails with a `ConnectorError` naming why (timeout, refused, HTTP status, a body
that is not what the CRM documents). Everything a CRM sends is input from the network: bodies
are read up to `MAX_BODY_BYTES`, parsed with explicit type checks, never trusted by `assert`.
The manager (`contacts.manager`) enforces the deadline again around each call, so a connector
that overran it could still not delay a caller.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import aiohttp
from yarl import URL

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
"""Largest CRM reply read; a contact search answers in a few kB."""


class FailureReason(StrEnum):
    """Why a source gave no answer (for logs, counters and the lookup record)."""

    TIMEOUT = "timeout"
    REFUSED = "refused"
    """No connection: refused, unreachable, DNS, TLS."""
    HTTP_STATUS = "http_status"
    AUTH = "auth"
    """401/403: the credentials are wrong or revoked (an installer must act)."""
    BAD_RESPONSE = "bad_response"
    """Not JSON, too large, or not the shape the CRM documents."""


class ConnectorError(Exception):
    """A CRM gave no usable answer; `reason` says why."""

    def __init__(self, reason: FailureReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Owner:
    """The CRM's responsible user for a number. `extension` is set only by connectors whose
    remote side names extensions itself (webhook); otherwise the manager maps `user_id`
    through the configured user table."""

    user_id: str
    extension: str | None = None
    contact_id: str | None = None


class CallDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


@dataclass(frozen=True, slots=True)
class CallReport:
    """A finished or missed call, for the CRM to create a task (issue 6 item 8)."""

    call: str
    e164: str
    direction: CallDirection
    extension: str | None
    """Who talked; None for a missed call."""
    started_at: datetime
    talk_s: float
    missed: bool


class Connector(Protocol):
    """One CRM. `deadline` is on the running loop's clock (`loop.time()`), absolute."""

    @property
    def name(self) -> str:
        """Source name as configured ("amocrm", "bitrix24", …): the key of user tables,
        cache entries and lookup records."""
        ...

    async def owner_of(self, e164: str, deadline: float) -> Owner | None:
        """The responsible user of the contact with this number, None when the CRM knows no
        such contact (or it has no responsible user). Raises `ConnectorError`; may be
        cancelled at the deadline."""
        ...

    async def report_call(self, report: CallReport, deadline: float) -> None:
        """Tell the CRM about a call. Raises `ConnectorError`; `NotImplementedError` where
        the connector cannot report yet."""
        ...


def remaining_s(deadline: float) -> float:
    """Seconds left before `deadline` (loop clock); raises TIMEOUT when none are."""
    left = deadline - asyncio.get_running_loop().time()
    if left <= 0:
        raise ConnectorError(FailureReason.TIMEOUT, "deadline passed before the request")
    return left


async def exchange_json(
    session: aiohttp.ClientSession,
    method: str,
    url: URL,
    deadline: float,
    *,
    params: Mapping[str, str] | None = None,
    body: Any = None,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    empty_ok: bool = False,
) -> Any:
    """One HTTP exchange (JSON `body` or raw `data`) returning the decoded JSON body (None for
    an empty 204/200 body when `empty_ok`). Raises `ConnectorError` for every failure, TIMEOUT
    when the deadline passes. `url` may carry a secret (Bitrix24 webhook): only its host is
    ever logged."""
    timeout = aiohttp.ClientTimeout(total=remaining_s(deadline))
    try:
        async with session.request(
            method,
            url,
            params=params,
            json=body,
            data=data,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
        ) as response:
            raw = await response.content.read(MAX_BODY_BYTES + 1)
            status = response.status
    except TimeoutError as exc:
        raise ConnectorError(FailureReason.TIMEOUT, f"no answer from {url.host}") from exc
    except aiohttp.ClientConnectionError as exc:
        raise ConnectorError(FailureReason.REFUSED, f"{url.host}: {type(exc).__name__}") from exc
    except aiohttp.ClientError as exc:
        raise ConnectorError(FailureReason.BAD_RESPONSE, f"{url.host}: {exc}") from exc
    if status in (401, 403):
        raise ConnectorError(FailureReason.AUTH, f"{url.host} answered {status}")
    if len(raw) > MAX_BODY_BYTES:
        raise ConnectorError(FailureReason.BAD_RESPONSE, f"{url.host}: body over limit")
    if status == 204 or (empty_ok and status == 200 and not raw.strip()):
        if empty_ok:
            return None
        raise ConnectorError(FailureReason.BAD_RESPONSE, f"{url.host}: empty body")
    if not 200 <= status < 300:
        raise ConnectorError(FailureReason.HTTP_STATUS, f"{url.host} answered {status}")
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ConnectorError(FailureReason.BAD_RESPONSE, f"{url.host}: not JSON") from exc


def bad_shape(host: str | None, what: str) -> ConnectorError:
    """The error for a reply that is JSON but not the documented shape."""
    return ConnectorError(FailureReason.BAD_RESPONSE, f"{host}: {what}")


def id_text(value: object) -> str | None:
    """A CRM id as text: CRMs send ids as numbers or numeric strings; anything else is None.
    (bool is excluded: `True` is an int in Python but never an id.)"""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return str(value)
    if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
        return value.strip()
    return None
