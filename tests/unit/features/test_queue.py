"""Queue rules one at a time: strategies that differ, priority, keys, limits, agent states."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from firmware.features.destination import Destination, DestinationKind
from firmware.features.queue import (
    Abandoned,
    AgentConnected,
    AgentMissed,
    AgentStateChanged,
    AgentStatus,
    Announce,
    BridgeToAgent,
    CallbackRequested,
    CallQueue,
    Enqueued,
    LeftForVoicemail,
    MusicOnHold,
    Overflowed,
    OverflowReason,
    PauseReason,
    QueueAgent,
    QueueOutput,
    QueueSettings,
    QueueStrategy,
    ReleaseCaller,
    RingAgent,
    SendTo,
    StopRingingAgent,
    VoicemailReason,
    agents_of,
)

VM = Destination(DestinationKind.VOICEMAIL, "support")


def make(strategy: QueueStrategy = QueueStrategy.LONGEST_IDLE,
         agents: tuple[QueueAgent, ...] | None = None, now: float = 0.0,
         **kw: object) -> CallQueue:
    options: dict[str, object] = {"wrap_up_s": 0.0, "announce_first_s": 0.0, **kw}
    return CallQueue(QueueSettings("support", agents or agents_of("abc"), strategy,
                                   **options), now)  # type: ignore[arg-type]


def rings(out: list[QueueOutput]) -> list[tuple[str, str]]:
    return [(o.caller, o.agent) for o in out if isinstance(o, RingAgent)]


def serve(q: CallQueue, caller: str, now: float, talk_s: float = 10.0) -> str:
    """Enqueue with every agent free, let the offered agent answer, talk and hang up."""
    (c, agent), = rings(q.enqueue(caller, now))
    q.on_agent_answered(c, agent, now + 1.0)
    q.on_call_ended(agent, now + 1.0 + talk_s)
    q.handle_timers(now + 1.0 + talk_s + 1000.0)
    return agent


def occupy(q: CallQueue, *agents: str, now: float = 0.0) -> None:
    for agent in agents:
        caller = f"busy-{agent}"
        out = q.enqueue(caller, now)
        assert (caller, agent) in rings(out)
        q.on_agent_answered(caller, agent, now)


def test_enqueue_reports_position_and_starts_music_then_offers_a_free_agent() -> None:
    q = make()
    assert q.enqueue("x", 5.0) == [Enqueued("support", "x", 1, 0, 5.0),
                                   MusicOnHold("x", True, "default"), RingAgent("x", "a")]
    assert q.music_on_hold("x") and q.agent_status("a") is AgentStatus.RINGING


def test_answer_bridges_stops_music_and_reports_the_wait() -> None:
    q = make()
    q.enqueue("x", 5.0)
    assert q.on_agent_answered("x", "a", 9.0) == [
        MusicOnHold("x", False, "default"),
        AgentConnected("support", "x", "a", 4.0, False, 9.0), BridgeToAgent("x", "a")]
    assert q.agent_status("a") is AgentStatus.ON_CALL and q.line() == []


def test_priority_callers_go_ahead_fifo_within_a_priority() -> None:
    q = make(agents=agents_of("a"))
    occupy(q, "a")
    for caller, prio in [("p0-1", 0), ("p5-1", 5), ("p0-2", 0), ("p5-2", 5), ("p9", 9)]:
        q.enqueue(caller, 1.0, priority=prio)
    assert q.line() == ["p9", "p5-1", "p5-2", "p0-1", "p0-2"]
    assert rings(q.on_call_ended("a", 2.0)) == [("p9", "a")]


def test_round_robin_remembers_where_it_left_off() -> None:
    q = make(QueueStrategy.ROUND_ROBIN)
    assert [serve(q, f"x{i}", 100.0 * i) for i in range(5)] == ["a", "b", "c", "a", "b"]


def test_round_robin_skips_a_busy_agent_and_goes_on_after_the_one_rung() -> None:
    q = make(QueueStrategy.ROUND_ROBIN, agents=agents_of("abcd"))
    assert serve(q, "x0", 0.0) == "a"
    occupy(q, "b", now=50.0)  # round robin puts b as last rung
    assert serve(q, "x1", 100.0) == "c"  # after b, not back to a


def test_fewest_calls_prefers_the_agent_with_fewest_answered_calls() -> None:
    q = make(QueueStrategy.FEWEST_CALLS)
    occupy(q, "a", "b")
    q.on_call_ended("a", 1.0)
    q.on_call_ended("b", 1.0)
    # a and b took one call each, c none: c first, then a (tie with b, configured order)
    assert [serve(q, f"x{i}", 100.0 * (i + 1)) for i in range(3)] == ["c", "a", "b"]


def test_least_recent_and_longest_idle_differ_after_a_pause() -> None:
    results = {}
    for strategy in (QueueStrategy.LEAST_RECENT, QueueStrategy.LONGEST_IDLE):
        q = make(strategy, agents=agents_of("ab"))
        occupy(q, "a", "b")
        q.on_call_ended("b", 50.0)   # b's last call ended first ...
        q.on_call_ended("a", 100.0)
        q.pause("b", PauseReason.LUNCH, 60.0)
        q.unpause("b", 200.0)        # ... but b has been free only since 200
        results[strategy] = rings(q.enqueue("x", 300.0))
    assert results == {QueueStrategy.LEAST_RECENT: [("x", "b")],
                       QueueStrategy.LONGEST_IDLE: [("x", "a")]}


def test_ranked_offers_a_higher_rank_only_when_no_lower_rank_is_free() -> None:
    agents = (QueueAgent("junior", rank=2), QueueAgent("senior", rank=1),
              QueueAgent("trainee", rank=3))
    q = make(QueueStrategy.RANKED, agents=agents)
    assert [serve(q, f"s{i}", 100.0 * i) for i in range(4)] == ["senior"] * 4
    assert rings(q.enqueue("x", 1000.0)) == [("x", "senior")]
    assert rings(q.enqueue("y", 1000.0)) == [("y", "junior")]
    assert rings(q.enqueue("z", 1000.0)) == [("z", "trainee")]


def test_weighted_shares_follow_the_weights() -> None:
    agents = (QueueAgent("a", weight=1), QueueAgent("b", weight=3), QueueAgent("c", weight=6))
    q = CallQueue(QueueSettings("support", agents, QueueStrategy.WEIGHTED, wrap_up_s=0.0,
                                announce_first_s=0.0), 0.0, rng=random.Random(1))
    counts = Counter(serve(q, f"x{i}", 20.0 * i) for i in range(600))
    # Binomial standard deviations are 7.3, 11.2 and 12: allow four of them.
    assert abs(counts["a"] - 60) < 30 and abs(counts["b"] - 180) < 45
    assert abs(counts["c"] - 360) < 48


def test_ring_all_adds_an_agent_who_becomes_free_while_the_head_caller_rings() -> None:
    q = make(QueueStrategy.RING_ALL)
    occupy(q, "c")
    assert rings(q.enqueue("x", 1.0)) == [("x", "a"), ("x", "b")]
    assert rings(q.on_call_ended("c", 2.0)) == [("x", "c")]
    out = q.on_agent_answered("x", "b", 3.0)
    assert [o for o in out if isinstance(o, StopRingingAgent)] == [
        StopRingingAgent("x", "a"), StopRingingAgent("x", "c")]


def test_skills_restrict_offers_to_agents_who_have_them() -> None:
    agents = (QueueAgent("a"), QueueAgent("b", skills=("en",)), QueueAgent("c"))
    q = make(agents=agents)
    assert rings(q.enqueue("x", 0.0, skill="en")) == [("x", "b")]
    assert rings(q.enqueue("y", 0.0, skill="en")) == []
    assert rings(q.enqueue("z", 0.0)) == [("z", "a")]


def test_ring_timeout_moves_to_the_next_agent_and_counts_a_miss() -> None:
    q = make(QueueStrategy.ROUND_ROBIN, agent_ring_timeout_s=15.0)
    q.enqueue("x", 0.0)
    assert q.next_deadline() == 15.0
    assert q.handle_timers(15.0) == [StopRingingAgent("x", "a"),
                                     AgentMissed("support", "x", "a", 15.0), RingAgent("x", "b")]


def test_decline_moves_on_without_a_stop_and_repeats_the_round_when_all_tried() -> None:
    q = make(agents=agents_of("ab"), misses_before_pause=0)
    q.enqueue("x", 0.0)
    assert rings(q.on_agent_declined("x", "a", 1.0)) == [("x", "b")]
    assert rings(q.on_agent_declined("x", "b", 2.0)) == [("x", "a")]


def test_three_misses_in_a_row_pause_the_agent_for_no_answer() -> None:
    q = make(agents=agents_of("a"), agent_ring_timeout_s=10.0, misses_before_pause=3)
    q.enqueue("x", 0.0)
    out = q.handle_timers(30.0)
    assert [o.at for o in out if isinstance(o, AgentMissed)] == [10.0, 20.0, 30.0]
    assert AgentStateChanged("support", "a", AgentStatus.PAUSED, PauseReason.NO_ANSWER,
                             30.0) in out
    assert q.agent_status("a") is AgentStatus.PAUSED
    assert q.next_deadline() == 300.0  # only x's maximum wait is left


def test_an_answer_resets_the_miss_count() -> None:
    q = make(agents=agents_of("a"), agent_ring_timeout_s=10.0, misses_before_pause=2)
    q.enqueue("x", 0.0)
    q.handle_timers(10.0)
    q.on_agent_answered("x", "a", 12.0)
    q.on_call_ended("a", 20.0)
    q.enqueue("y", 30.0)
    q.handle_timers(40.0)
    assert q.agent_status("a") is AgentStatus.RINGING


def test_wrap_up_holds_the_next_offer_until_it_ends() -> None:
    q = make(agents=agents_of("a"), wrap_up_s=30.0)
    occupy(q, "a")
    q.enqueue("x", 10.0)
    assert q.on_call_ended("a", 100.0) == []
    assert q.agent_status("a") is AgentStatus.WRAP_UP and q.next_deadline() == 130.0
    assert q.handle_timers(129.9) == []
    assert rings(q.handle_timers(130.0)) == [("x", "a")]


def test_paused_and_logged_out_agents_get_no_offers() -> None:
    q = make(agents=agents_of("ab"))
    assert q.pause("a", PauseReason.BREAK, 0.0) == [
        AgentStateChanged("support", "a", AgentStatus.PAUSED, PauseReason.BREAK, 0.0)]
    q.logout("b", 0.0)
    assert q.enqueue("x", 1.0)[-1] == SendTo("x", VM)  # nobody staffed: overflow
    q.login("b", 2.0)
    assert rings(q.enqueue("y", 3.0)) == [("y", "b")]
    assert q.pause_reason("a") is PauseReason.BREAK
    q.enqueue("z", 4.0)
    assert rings(q.unpause("a", 5.0)) == [("z", "a")]


def test_logout_while_ringing_withdraws_the_offer_without_a_miss() -> None:
    q = make(agents=agents_of("ab"))
    q.enqueue("x", 0.0)
    out = q.logout("a", 1.0)
    assert out[0] == StopRingingAgent("x", "a") and ("x", "b") in rings(out)
    assert not [o for o in out if isinstance(o, AgentMissed)]


def test_agents_configured_logged_out_wait_for_login() -> None:
    q = make(agents=(QueueAgent("a", starts_logged_in=False),), overflow_when_unstaffed=False)
    assert rings(q.enqueue("x", 0.0)) == []
    assert rings(q.login("a", 5.0)) == [("x", "a")]


def test_max_length_overflows_new_callers_without_enqueueing() -> None:
    q = make(agents=agents_of("a"), max_callers=1,
             overflow=Destination(DestinationKind.QUEUE, "backup"))
    occupy(q, "a")
    q.enqueue("x", 1.0)
    out = q.enqueue("y", 2.0)
    assert out == [Overflowed("support", "y", OverflowReason.MAX_LENGTH,
                              Destination(DestinationKind.QUEUE, "backup"), 0.0, 2.0),
                   SendTo("y", Destination(DestinationKind.QUEUE, "backup"))]
    assert q.line() == ["x"]


def test_max_wait_stops_the_ringing_agent_and_overflows() -> None:
    q = make(agents=agents_of("a"), max_wait_s=60.0, agent_ring_timeout_s=100.0)
    q.enqueue("x", 10.0)
    assert q.handle_timers(70.0) == [
        StopRingingAgent("x", "a"), MusicOnHold("x", False, "default"),
        Overflowed("support", "x", OverflowReason.MAX_WAIT, VM, 60.0, 70.0), SendTo("x", VM)]


def test_no_agent_free_sends_straight_to_voicemail_when_configured() -> None:
    q = make(agents=agents_of("a"), voicemail_when_no_agent_free=True)
    assert rings(q.enqueue("x", 0.0)) == [("x", "a")]
    assert q.enqueue("y", 1.0) == [
        LeftForVoicemail("support", "y", VoicemailReason.NO_AGENT_FREE, 0.0, 1.0),
        SendTo("y", VM)]


def test_key_1_leaves_for_voicemail_and_frees_the_ringing_agent() -> None:
    q = make(agents=agents_of("a"))
    q.enqueue("x", 0.0)
    q.enqueue("y", 1.0)
    out = q.on_key("x", "1", 7.0)
    assert out[:4] == [StopRingingAgent("x", "a"), MusicOnHold("x", False, "default"),
                       LeftForVoicemail("support", "x", VoicemailReason.KEY, 7.0, 7.0),
                       SendTo("x", VM)]
    assert rings(out) == [("y", "a")]


def test_key_2_without_a_known_number_and_other_keys_do_nothing() -> None:
    q = make(agents=agents_of("a"))
    occupy(q, "a")
    q.enqueue("x", 0.0)
    assert q.on_key("x", "2", 1.0) == [] and q.on_key("x", "5", 1.0) == []


def test_callback_releases_the_caller_and_ignores_their_hangup() -> None:
    q = make(agents=agents_of("a"), max_wait_s=60.0, announce_first_s=10.0)
    occupy(q, "a")
    q.enqueue("x", 0.0, number="+74951234567")
    q.enqueue("y", 1.0)
    assert q.on_key("x", "2", 5.0) == [
        MusicOnHold("x", False, "default"),
        CallbackRequested("support", "x", "+74951234567", 1, 5.0), ReleaseCaller("x")]
    assert q.on_caller_hangup("x", 6.0) == []
    out = q.handle_timers(500.0)  # y overflows at 61; x neither is announced nor overflows
    assert [o.caller for o in out if isinstance(o, Overflowed)] == ["y"]
    assert [o.caller for o in out if isinstance(o, Announce)] == ["y"]
    assert q.line() == ["x"]


def test_hangup_while_waiting_is_recorded_as_abandoned_with_position() -> None:
    q = make(agents=agents_of("a"))
    occupy(q, "a")
    q.enqueue("x", 0.0)
    q.enqueue("y", 2.0)
    assert q.on_caller_hangup("y", 9.5) == [Abandoned("support", "y", 2, 7.5, 9.5)]
    assert q.line() == ["x"]


def test_estimated_wait_uses_recent_handle_times_per_staffed_agent() -> None:
    q = make(QueueStrategy.RANKED, (QueueAgent("a", rank=1), QueueAgent("b", rank=2)),
             wrap_up_s=20.0, ewt_window_calls=2,
             default_handle_s=100.0)
    assert q.estimated_wait_s(3) == 150
    for talk_s in (1000.0, 40.0, 80.0):  # the first falls out of the two-call window
        occupy(q, "a", now=0.0)
        q.on_call_ended("a", talk_s)
        q.handle_timers(talk_s + 20.0)
    assert q.estimated_wait_s(3) == 3 * ((40 + 20 + 80 + 20) / 2) / 2
    q.logout("a", 2000.0)
    q.logout("b", 2000.0)
    assert q.estimated_wait_s(1) is None


@pytest.mark.parametrize("call", [
    lambda q: q.on_agent_answered("nobody", "a", 1.0),
    lambda q: q.on_agent_answered("x", "ghost", 1.0),
    lambda q: q.on_agent_declined("x", "b", 1.0),
    lambda q: q.on_call_ended("a", 1.0),
    lambda q: q.on_caller_hangup("nobody", 1.0),
    lambda q: q.login("a", 1.0),
    lambda q: q.unpause("a", 1.0),
    lambda q: q.pause("ghost", PauseReason.OTHER, 1.0),
    lambda q: q.enqueue("x", 1.0),
])
def test_events_that_do_not_apply_are_ignored(call) -> None:  # type: ignore[no-untyped-def]
    q = make()
    q.enqueue("x", 0.0)
    assert call(q) == []
