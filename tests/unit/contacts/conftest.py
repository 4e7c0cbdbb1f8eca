"""A fake CRM served over real HTTP on loopback, and the stores in a temporary directory."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from firmware.calls.numbers import NumberingContext
from firmware.contacts.cache import OwnerCache
from firmware.contacts.history import HistoryStore

MOSCOW = NumberingContext(country="RU", city_code="495")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    raw_path: str


@dataclass
class FakeCrm:
    """An HTTP server on 127.0.0.1 answering every request with `handler` (set per test)."""

    base_url: str = ""
    seen: list[Seen] = field(default_factory=list)
    handler: Handler | None = None

    def json_body(self, index: int = -1) -> object:
        return json.loads(self.seen[index].body)


def reply(payload: object, status: int = 200) -> Handler:
    async def handle(_request: web.Request) -> web.StreamResponse:
        return web.json_response(payload, status=status)

    return handle


def raw(body: bytes, status: int = 200, content_type: str = "application/json") -> Handler:
    async def handle(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, status=status, content_type=content_type)

    return handle


def slow(delay_s: float) -> Handler:
    async def handle(_request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(delay_s)
        return web.json_response({})

    return handle


@pytest.fixture
async def crm() -> AsyncIterator[FakeCrm]:
    fake = FakeCrm()

    async def dispatch(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        fake.seen.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                body,
                request.raw_path,
            )
        )
        if fake.handler is None:
            return web.Response(status=404)
        return await fake.handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", dispatch)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.base_url = f"http://{host}:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


@pytest.fixture
def refused_url() -> str:
    """A loopback URL nothing listens on (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def history(tmp_path: Path) -> HistoryStore:
    store = HistoryStore(tmp_path / "contacts.sqlite")
    yield store  # type: ignore[misc]
    store.close()


@pytest.fixture
def cache(tmp_path: Path) -> OwnerCache:
    store = OwnerCache(tmp_path / "contacts.sqlite")
    yield store  # type: ignore[misc]
    store.close()
