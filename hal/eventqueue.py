"""How devices deliver events: a bounded queue read as an async iterator, dropping the oldest.

Every hal device that reports something offers `events()`, an async iterator over one
`EventQueue`. One pattern everywhere, chosen over callback registration because:

- the device's side (an interrupt handler, a UART reader, a sim timer) only appends and never
  runs the consumer's code, so a slow or failing consumer cannot stall a chip's interrupt path
  or raise inside a driver;
- the consumer reads at its own pace inside its own task (`async for ev in port.events():`),
  exactly as it reads the firmware's event bus, and cancellation works as usual;
- memory is bounded: when the consumer falls `maxlen` events behind, the oldest is dropped and
  `dropped` counts it (the newest state of a line is worth more than its history); a drop is
  logged once per overflow episode, at WARNING;
- the queue exists from the device's construction, so nothing reported before the consumer
  starts is lost.

A queue has one consumer (the firmware's owner of that port); two readers would split the
events. `put` must be called on the event loop's thread: a library thread (gpiozero edge
callbacks) hands over with `loop.call_soon_threadsafe(queue.put, event)`. After `close()` the
iterator yields what is left, then stops.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

from hal.device import Device

log = logging.getLogger(__name__)

E = TypeVar("E")

DEFAULT_MAXLEN = 256
"""Events a device keeps for a stalled consumer: minutes of a busy port's signalling."""


class EventQueue(Generic[E], AsyncIterator[E]):
    """Bounded, drop-oldest, single-consumer event queue; `owner` names it in logs."""

    def __init__(self, owner: str, maxlen: int = DEFAULT_MAXLEN) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be ≥ 1, not {maxlen}")
        self.owner = owner
        self.maxlen = maxlen
        self.dropped = 0
        """Events discarded because the consumer fell behind."""
        self._items: collections.deque[E] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._overflowing = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, event: E) -> None:
        """Append `event`; drops the oldest when full. Ignored after `close()`."""
        if self._closed:
            return
        if len(self._items) >= self.maxlen:
            self._items.popleft()
            self.dropped += 1
            if not self._overflowing:
                self._overflowing = True
                log.warning("%s: events not read; dropping the oldest (%d dropped so far)",
                            self.owner, self.dropped)
        elif self._overflowing and len(self._items) < self.maxlen // 2:
            self._overflowing = False
        self._items.append(event)
        self._wake()

    def drain(self) -> list[E]:
        """Take every queued event without waiting."""
        items = list(self._items)
        self._items.clear()
        self._overflowing = False
        return items

    def close(self) -> None:
        """No more events: a waiting reader gets the rest, then StopAsyncIteration."""
        self._closed = True
        self._wake()

    async def get(self) -> E:
        """The next event, waiting for one. Raises EOFError once closed and empty."""
        while not self._items:
            if self._closed:
                raise EOFError(self.owner)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def __aiter__(self) -> EventQueue[E]:
        return self

    async def __anext__(self) -> E:
        try:
            return await self.get()
        except EOFError:
            raise StopAsyncIteration from None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class EventDevice(Device, Generic[E]):
    """A device that reports events of type `E` through `events()`; the queue closes with it."""

    def __init__(self, name: str, queue_maxlen: int = DEFAULT_MAXLEN) -> None:
        super().__init__(name)
        self._events: EventQueue[E] = EventQueue(name, queue_maxlen)

    def events(self) -> AsyncIterator[E]:
        """This device's events, in order; ends when the device closes. One consumer only."""
        return self._events

    def take_events(self) -> list[E]:
        """Take what is queued without waiting (pollers, tests); `events()` then goes on from
        the next event."""
        return self._events.drain()

    @property
    def dropped_events(self) -> int:
        """Events lost because nobody read them in time."""
        return self._events.dropped

    def _emit(self, event: E) -> None:
        self._events.put(event)

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self._events.close()
