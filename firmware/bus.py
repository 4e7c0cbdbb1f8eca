"""One stream of immutable events (style rule 4): call records, busy-lamp fields, the web page,
the front panel and recordings subscribe; nobody calls them.

Publishing never blocks and never fails: a subscriber that falls behind loses its oldest
events (counted in `dropped`), so a stuck web client cannot slow a call down.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger(__name__)


class Subscription:
    """A bounded mailbox of events of the requested types."""

    def __init__(self, bus: EventBus, types: tuple[type[Any], ...], maxlen: int) -> None:
        self._bus = bus
        self.types = types
        self._events: deque[object] = deque(maxlen=maxlen)
        self._waiter: asyncio.Event = asyncio.Event()
        self.dropped = 0
        self.closed = False

    def _push(self, event: object) -> None:
        if len(self._events) == self._events.maxlen:
            self.dropped += 1
        self._events.append(event)
        self._waiter.set()

    def get_nowait(self) -> object | None:
        return self._events.popleft() if self._events else None

    async def get(self) -> object:
        while not self._events:
            if self.closed:
                raise StopAsyncIteration
            self._waiter.clear()
            await self._waiter.wait()
        return self._events.popleft()

    def close(self) -> None:
        self.closed = True
        self._waiter.set()
        self._bus._unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[object]:
        return self

    async def __anext__(self) -> object:
        return await self.get()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    """Fan-out of events to subscribers by type (an event matches a subscription when it is
    an instance of one of the subscribed types; subscribe to `object` for everything)."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self.published = 0

    def subscribe(self, *types: type[Any], maxlen: int = 1024) -> Subscription:
        sub = Subscription(self, types or (object,), maxlen)
        self._subs.append(sub)
        return sub

    def publish(self, event: object) -> None:
        self.published += 1
        for sub in self._subs:
            if isinstance(event, sub.types):
                sub._push(event)

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
