"""Random event sequences: the queue never raises and never double-books a caller or an agent.

The checker keeps its own books from the commands alone: which agent rings for whom, who talks
to whom; every offer and every connection is checked against them.
"""

from __future__ import annotations

import random

from hypothesis import event, given, settings
from hypothesis import strategies as st

from firmware.features.queue import (
    AgentConnected,
    BridgeToAgent,
    CallBack,
    CallQueue,
    PauseReason,
    QueueAgent,
    QueueOutput,
    QueueSettings,
    QueueStrategy,
    RingAgent,
    SendTo,
    StopRingingAgent,
)

AGENTS = ("a", "b", "c")

_OPS = st.lists(st.tuples(
    st.sampled_from(["enqueue"] * 3 + ["answer"] * 3 + ["end"] * 2 + [
        "hangup", "key", "decline", "busy", "login", "logout", "pause", "unpause", "timers"]),
    st.integers(0, 30),              # caller index (into callers seen so far, or new)
    st.sampled_from(AGENTS + ("ghost",)),
    st.sampled_from(["1", "2", "5"]),
    st.sampled_from([0.0, 0.0, 0.5, 1.0, 3.0, 3.0, 8.0, 12.0, 60.0]),  # time before the op
    st.integers(-1, 3),              # priority
), min_size=10, max_size=60)


@settings(max_examples=250, deadline=None)
@given(strategy=st.sampled_from(list(QueueStrategy)), ops=_OPS, seed=st.integers(0, 9),
       wrap_s=st.sampled_from([0.0, 5.0]), max_wait_s=st.sampled_from([0.0, 45.0]),
       vm_now=st.booleans(), max_callers=st.integers(0, 4))
def test_random_events_never_raise_nor_double_connect(
        strategy: QueueStrategy, ops: list[tuple[str, int, str, str, float, int]], seed: int,
        wrap_s: float, max_wait_s: float, vm_now: bool, max_callers: int) -> None:
    connected = drive(strategy, ops, seed, wrap_s, max_wait_s, vm_now, max_callers)
    event(f"connected {min(connected, 3)}{'+' if connected >= 3 else ''}")


def test_long_random_walks_never_double_connect() -> None:
    rng = random.Random(2024)
    ops_pool = ["enqueue"] * 3 + ["answer"] * 4 + ["end"] * 2 + [
        "hangup", "key", "decline", "busy", "login", "logout", "pause", "unpause", "timers"]
    total = 0
    for _ in range(150):
        ops = [(rng.choice(ops_pool), rng.randrange(31), rng.choice(AGENTS + ("ghost",)),
                rng.choice("125"), rng.choice([0.0, 0.5, 1.0, 3.0, 8.0, 12.0, 60.0]),
                rng.randrange(-1, 4)) for _ in range(200)]
        total += drive(rng.choice(list(QueueStrategy)), ops, rng.randrange(10),
                       rng.choice([0.0, 5.0]), rng.choice([0.0, 45.0]), rng.random() < 0.3,
                       rng.randrange(5))
    assert total > 250  # the walks really connect calls (352 with this seed)


def drive(strategy: QueueStrategy, ops: list[tuple[str, int, str, str, float, int]], seed: int,
          wrap_s: float, max_wait_s: float, vm_now: bool, max_callers: int) -> int:
    """Run `ops` against a queue, checking the books after each; returns the calls connected."""
    agents = (QueueAgent("a", rank=1, weight=1, skills=("en",)),
              QueueAgent("b", rank=2, weight=5),
              QueueAgent("c", rank=2, weight=2, skills=("en",), starts_logged_in=False))
    q = CallQueue(QueueSettings("q", agents, strategy, agent_ring_timeout_s=10.0,
                                wrap_up_s=wrap_s, max_wait_s=max_wait_s, max_callers=max_callers,
                                voicemail_when_no_agent_free=vm_now, announce_first_s=7.0,
                                announce_every_s=11.0, misses_before_pause=2),
                  0.0, rng=random.Random(seed))
    callers: list[str] = []
    ringing: dict[str, str] = {}      # agent -> caller it rings for
    talking: dict[str, str] = {}      # agent -> caller
    connected: set[str] = set()
    gone: set[str] = set()            # callers that left the queue one way or another

    def check(out: list[QueueOutput]) -> None:
        for o in out:
            if isinstance(o, RingAgent):
                assert o.agent not in ringing and o.agent not in talking
                assert o.caller not in connected and o.caller not in gone
                ringing[o.agent] = o.caller
            elif isinstance(o, StopRingingAgent):
                assert ringing.pop(o.agent) == o.caller
            elif isinstance(o, BridgeToAgent | CallBack):
                assert o.caller not in connected and o.agent not in talking
                connected.add(o.caller)
                talking[o.agent] = o.caller
            elif isinstance(o, SendTo):
                assert o.caller not in connected and o.caller not in gone
                gone.add(o.caller)
            elif isinstance(o, AgentConnected):
                assert o.waited_s >= 0.0

    now = 0.0
    for op, ci, agent, key, dt, prio in ops:
        now += dt
        check(q.handle_timers(now))
        caller = callers[ci % len(callers)] if callers and ci < 30 else "nobody"
        if op in ("answer", "decline", "busy") and ci % 3 and ringing:
            agent = sorted(ringing)[ci % len(ringing)]  # mostly an offer that is out there
            caller = ringing[agent]
        if op == "enqueue":  # call ids are never reused: a new caller each time
            caller = f"x{len(callers)}"
            callers.append(caller)
            check(q.enqueue(caller, now, priority=prio, skill="en" if ci % 4 == 0 else None,
                            number="+1555" if ci % 2 else ""))
        elif op == "hangup":
            check(q.on_caller_hangup(caller, now))
            for a, c in list(ringing.items()):
                if c == caller and q.position(caller) is None:
                    ringing.pop(a)  # the queue stopped them (checked via StopRingingAgent)
        elif op == "key":
            check(q.on_key(caller, key, now))
        elif op == "answer":
            if ringing.get(agent) == caller:
                ringing.pop(agent)
            check(q.on_agent_answered(caller, agent, now))
        elif op in ("decline", "busy"):
            was = ringing.get(agent) == caller
            method = q.on_agent_declined if op == "decline" else q.on_agent_busy
            out = method(caller, agent, now)
            if was:
                ringing.pop(agent)  # the phone stopped itself
            check(out)
        elif op == "end":
            if agent in talking:
                talking.pop(agent)
            check(q.on_call_ended(agent, now))
        elif op == "login":
            check(q.login(agent, now))
        elif op == "logout":
            check(q.logout(agent, now))
        elif op == "pause":
            check(q.pause(agent, PauseReason.BREAK, now))
        elif op == "unpause":
            check(q.unpause(agent, now))
        check(q.handle_timers(now))
        # The queue's own view agrees with the books.
        for a in AGENTS:
            assert q.ringing_agents(ringing[a]) >= {a} if a in ringing else True
        assert not (set(q.line()) & connected)
    return len(connected)
