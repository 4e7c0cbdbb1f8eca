"""Event delivery: bounded queues that drop the oldest and count it, read as async iterators
that end when the device closes."""

from __future__ import annotations

import asyncio
import logging

import pytest

from hal.eventqueue import EventDevice, EventQueue


async def test_a_consumer_that_falls_behind_loses_the_oldest_events_and_they_are_counted(
        caplog: pytest.LogCaptureFixture) -> None:
    queue: EventQueue[int] = EventQueue("fxs1", maxlen=4)
    with caplog.at_level(logging.WARNING, logger="hal.eventqueue"):
        for n in range(10):
            queue.put(n)
    assert queue.drain() == [6, 7, 8, 9]
    assert queue.dropped == 6
    assert len([r for r in caplog.records if "dropping the oldest" in r.message]) == 1


async def test_events_arrive_in_order_and_the_iterator_ends_when_closed() -> None:
    queue: EventQueue[str] = EventQueue("input1")
    received: list[str] = []

    async def consume() -> None:
        async for event in queue:
            received.append(event)

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0)
    queue.put("pressed")
    queue.put("released")
    queue.close()
    await asyncio.wait_for(consumer, 1.0)
    assert received == ["pressed", "released"]
    queue.put("late")  # after close: ignored
    assert len(queue) == 0


async def test_a_waiting_reader_wakes_on_the_first_event() -> None:
    queue: EventQueue[int] = EventQueue("fxo1")
    reader = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not reader.done()
    queue.put(42)
    assert await asyncio.wait_for(reader, 1.0) == 42


class Button(EventDevice[str]):
    async def _open(self) -> None:
        return None

    async def _close(self) -> None:
        return None


async def test_closing_a_device_ends_its_event_stream_and_close_is_idempotent() -> None:
    button = Button("input1", queue_maxlen=2)
    async with button:
        button._emit("a")
        button._emit("b")
        button._emit("c")
    await button.close()
    assert [e async for e in button.events()] == ["b", "c"]
    assert button.dropped_events == 1
