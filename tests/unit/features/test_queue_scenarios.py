"""Twenty callers into a queue with three agents, driven through simulated time.

Agents answer 2 s after being offered a call, talk 60 s and wrap up 10 s, so each agent is free
again 72 s after it was offered a call: caller k (k ≥ 0, arriving at t = k s) is offered at
72·(k // 3) + k % 3 and connected 2 s later. Every expected figure below follows from that
arithmetic, worked out by hand.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import Counter
from dataclasses import dataclass, field

import pytest

from firmware.features.destination import Destination, DestinationKind
from firmware.features.queue import (
    AgentConnected,
    Announce,
    BridgeToAgent,
    CallBack,
    CallbackRequested,
    CallQueue,
    Overflowed,
    OverflowReason,
    QueueAgent,
    QueueOutput,
    QueueSettings,
    QueueStrategy,
    RingAgent,
    SendTo,
    StopRingingAgent,
)


@dataclass
class Sim:
    queue: CallQueue
    answer_after_s: dict[str, float]
    talk_s: float = 60.0
    log: list[tuple[float, QueueOutput]] = field(default_factory=list)
    _heap: list[tuple[float, int, str, tuple[str, ...]]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    _rings: set[tuple[str, str]] = field(default_factory=set)
    _busy: set[str] = field(default_factory=set)

    def at(self, t: float, kind: str, *payload: str) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), kind, payload))

    def _feed(self, t: float, outputs: list[QueueOutput]) -> None:
        for o in outputs:
            self.log.append((t, o))
            if isinstance(o, RingAgent):
                assert (o.caller, o.agent) not in self._rings
                assert all(agent != o.agent for _, agent in self._rings)
                self._rings.add((o.caller, o.agent))
                self.at(t + self.answer_after_s[o.agent], "answer", o.caller, o.agent)
            elif isinstance(o, StopRingingAgent):
                self._rings.remove((o.caller, o.agent))
            elif isinstance(o, BridgeToAgent | CallBack):
                assert o.agent not in self._busy
                self._busy.add(o.agent)
                self.at(t + self.talk_s, "end", o.agent)

    def run(self, until: float) -> None:
        q = self.queue
        while True:
            qd = q.next_deadline()
            pt = self._heap[0][0] if self._heap else None
            if qd is not None and (pt is None or qd <= pt):
                if qd > until:
                    return
                self._feed(qd, q.handle_timers(qd))
                continue
            if pt is None or pt > until:
                return
            t, _, kind, p = heapq.heappop(self._heap)
            if kind == "arrive":
                self._feed(t, q.enqueue(p[0], t, number=p[1]))
            elif kind == "key":
                self._feed(t, q.on_key(p[0], p[1], t))
            elif kind == "answer" and (p[0], p[1]) in self._rings:
                self._rings.remove((p[0], p[1]))
                self._feed(t, q.on_agent_answered(p[0], p[1], t))
            elif kind == "end":
                self._busy.remove(p[0])
                self._feed(t, q.on_call_ended(p[0], t))

    def of(self, kind: type) -> list[tuple[float, QueueOutput]]:
        return [(t, o) for t, o in self.log if isinstance(o, kind)]


CALLERS = [f"c{k:02d}" for k in range(20)]


def twenty_callers(strategy: QueueStrategy, **kw: object) -> Sim:
    agents = (QueueAgent("a", rank=1, weight=1), QueueAgent("b", rank=2, weight=2),
              QueueAgent("c", rank=2, weight=3))
    options: dict[str, object] = {"wrap_up_s": 10.0, "max_wait_s": 0.0,
                                  "announce_first_s": 30.0, "announce_every_s": 60.0, **kw}
    settings = QueueSettings("support", agents, strategy, **options)  # type: ignore[arg-type]
    sim = Sim(CallQueue(settings, 0.0), {"a": 2.0, "b": 2.0, "c": 2.0})
    for k, caller in enumerate(CALLERS):
        sim.at(float(k), "arrive", caller, f"+7916000{k:04d}")
    return sim


def offered_at(k: int) -> float:
    return 72.0 * (k // 3) + k % 3


@pytest.mark.parametrize("strategy", list(QueueStrategy))
def test_twenty_callers_are_served_in_arrival_order_by_every_strategy(
        strategy: QueueStrategy) -> None:
    sim = twenty_callers(strategy)
    sim.run(2000.0)
    connected = [o for _, o in sim.of(AgentConnected)]
    assert [o.caller for o in connected] == CALLERS
    # Ring all: every free agent rings for the head caller, so the next caller is offered only
    # once the others are released by the answer, 2 s later.
    connect = ([72.0 * (k // 3) + 2.0 * (k % 3) + 2.0 for k in range(20)]
               if strategy is QueueStrategy.RING_ALL else
               [offered_at(k) + 2.0 for k in range(20)])
    assert [t for t, _ in sim.of(AgentConnected)] == connect
    assert [o.waited_s for o in connected] == [connect[k] - k for k in range(20)]
    counts = Counter(o.agent for o in connected)
    assert sorted(counts.values()) == [6, 7, 7]  # all busy: whoever is free takes the next


def test_round_robin_cycles_through_the_agents_in_configured_order() -> None:
    sim = twenty_callers(QueueStrategy.ROUND_ROBIN)
    sim.run(2000.0)
    assert [o.agent for _, o in sim.of(AgentConnected)] == ["a", "b", "c"] * 6 + ["a", "b"]


def test_ring_all_offers_the_first_caller_to_every_agent() -> None:
    sim = twenty_callers(QueueStrategy.RING_ALL)
    sim.run(0.0)
    assert [o for _, o in sim.of(RingAgent)] == [RingAgent("c00", u) for u in "abc"]


def test_announcements_come_at_30_s_then_every_60_s_with_position_and_wait() -> None:
    sim = twenty_callers(QueueStrategy.LONGEST_IDLE)
    sim.run(2000.0)
    c10 = [(t, o) for t, o in sim.of(Announce) if o.caller == "c10"]
    # c10 joins at 10 and is connected at 219. Position: c03.. wait at 40, c06.. at 100, c09..
    # at 160. Estimate: 180 s default handle time until the first calls end at 62-64, then
    # 60 s talk + 10 s wrap-up = 70 s; three agents staffed.
    assert c10 == [
        (40.0, Announce("c10", 8, math.ceil(8 * 180 / 3))),
        (100.0, Announce("c10", 5, math.ceil(5 * 70 / 3))),
        (160.0, Announce("c10", 2, math.ceil(2 * 70 / 3))),
    ]
    for k, caller in enumerate(CALLERS):
        times = [t for t, o in sim.of(Announce) if o.caller == caller]
        expected = [k + 30.0 + 60.0 * n for n in range(10) if k + 30.0 + 60.0 * n
                    <= offered_at(k) + 2.0]
        assert times == expected, caller


def test_callers_overflow_at_max_wait_and_the_rest_keep_their_order() -> None:
    sim = twenty_callers(QueueStrategy.FEWEST_CALLS, max_wait_s=120.0,
                         overflow=Destination(DestinationKind.DEPARTMENT, "reception"))
    sim.run(2000.0)
    assert [o.caller for _, o in sim.of(AgentConnected)] == CALLERS[:6]
    overflowed = sim.of(Overflowed)
    assert [(t, o.caller, o.reason, o.waited_s) for t, o in overflowed] == [
        (k + 120.0, CALLERS[k], OverflowReason.MAX_WAIT, 120.0) for k in range(6, 20)]
    assert all(o.destination == Destination(DestinationKind.DEPARTMENT, "reception")
               for _, o in overflowed)
    assert len(sim.of(SendTo)) == 14


def test_a_callback_keeps_its_place_and_is_called_back_when_it_reaches_the_front() -> None:
    sim = twenty_callers(QueueStrategy.LONGEST_IDLE)
    sim.at(30.0, "key", "c05", "2")
    sim.run(2000.0)
    (t, req), = sim.of(CallbackRequested)
    assert (t, req.caller, req.position, req.number) == (30.0, "c05", 3, "+79160000005")
    # c05 is offered exactly when it would have been without the callback: at 74, third of the
    # second round, and the agent's answer dials the caller's number.
    assert [(t, o) for t, o in sim.of(RingAgent) if o.caller == "c05"] == [
        (74.0, RingAgent("c05", "c", callback=True))]
    assert (76.0, CallBack("c05", "c", "+79160000005")) in sim.log
    assert [o.caller for _, o in sim.of(AgentConnected)] == CALLERS
    assert not [o for _, o in sim.of(Announce) if o.caller == "c05" and _ > 30.0]
