"""Call queues (ACD): callers wait in line, agents are offered calls one strategy at a time.

Issue 6 item 3. One `CallQueue` holds the line and the agents of one queue:

- Line order is caller priority (higher first), then arrival (FIFO). A caller who presses 2 asks
  for a callback: their leg is released and the entry keeps its place; when it reaches the front
  and an agent is free, the agent is rung and, on answer, the controller dials the caller back
  (`CallBack`). Key 1 leaves for voicemail.
- The head of the line picks first; further callers are offered the agents left over, in
  parallel (Asterisk's `autofill`). Only free agents ring: logged in, not paused, not ringing,
  not on a call, not in wrap-up. A caller with a `skill` is offered only agents having it.
- Strategies choose among the free agents: ring all; round robin with memory (the next agent
  after the last one rung, in configured order); least recent (the agent whose last queue call
  ended longest ago, never first); fewest calls (fewest answered queue calls); longest idle
  (longest since the agent became free: login, unpause, end of wrap-up); ranked (lowest `rank`
  first, a higher rank only when no lower-ranked agent is free; longest idle within a rank);
  weighted (random choice in proportion to `weight`, injected `random.Random`). Ties keep the
  configured agent order.
- An agent rings for `agent_ring_timeout_s`; a miss (timeout or decline) moves the caller on to
  the next agent and, after `misses_before_pause` misses in a row, pauses the agent with reason
  `no_answer`. An agent the caller has already tried is offered again only once every free
  agent has been tried (a new round).
- Announcements: first `announce_first_s` after joining, then every `announce_every_s`, with the
  position and the estimated wait: position × mean handle time (talk + wrap-up, last
  `ewt_window_calls` calls, `default_handle_s` before any) ÷ staffed agents.
- `max_wait_s` and `max_callers` overflow to `overflow`; so does joining a queue with no staffed
  agent (`overflow_when_unstaffed`); `voicemail_when_no_agent_free` sends a caller who would wait
  straight to voicemail (toll-free numbers where waiting costs money).
- Music on hold is a flag per caller (`MusicOnHold` commands); the controller plays it.

Outputs are commands the controller carries out (`RingAgent`, `StopRingingAgent`,
`BridgeToAgent`, `CallBack`, `Announce`, `MusicOnHold`, `SendTo`, `ReleaseCaller`) and events for
the call record (`Enqueued`, `Abandoned`, `Overflowed`, `LeftForVoicemail`, `AgentConnected`,
`CallbackRequested`, `AgentMissed`, `AgentStateChanged`).

Pure: no I/O; `now` is the board's monotonic clock in seconds. Every input accepts any caller or
agent id: unknown ones and events that no longer apply (an answer after the ring was stopped)
return `[]` and never raise; a caller is connected to one agent at most and an agent to one
caller at most (tests/unit/features/test_queue_properties.py).
"""

from __future__ import annotations

import logging
import math
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from firmware.config.schema import ID_HINT, ID_PATTERN, setting
from firmware.features.destination import Destination, DestinationKind

log = logging.getLogger(__name__)


class QueueStrategy(StrEnum):
    """How a queue chooses among free agents."""

    RING_ALL = "ring_all"
    ROUND_ROBIN = "round_robin"
    LEAST_RECENT = "least_recent"
    FEWEST_CALLS = "fewest_calls"
    LONGEST_IDLE = "longest_idle"
    RANKED = "ranked"
    WEIGHTED = "weighted"


class AgentStatus(StrEnum):
    """What an agent is doing, as the wall board and the web page show it."""

    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class PauseReason(StrEnum):
    """Why an agent is paused (shown on the wall board and in reports)."""

    BREAK = "break"
    LUNCH = "lunch"
    MEETING = "meeting"
    ADMIN = "admin"
    NO_ANSWER = "no_answer"
    """Set by the queue after `misses_before_pause` missed offers in a row."""
    OTHER = "other"


class OverflowReason(StrEnum):
    """Why a caller left for the overflow destination (for the call record)."""

    MAX_WAIT = "max_wait"
    MAX_LENGTH = "max_length"
    NO_AGENTS = "no_agents"


class VoicemailReason(StrEnum):
    """Why a caller left the queue for voicemail."""

    KEY = "key"
    """The caller pressed 1."""
    NO_AGENT_FREE = "no_agent_free"
    """`voicemail_when_no_agent_free` and nobody could take the call at once."""


KEY_VOICEMAIL = "1"
KEY_CALLBACK = "2"


@dataclass(frozen=True, slots=True)
class QueueAgent:
    """An agent of one queue: a user id, a rank, a weight and skills."""

    user: str = field(
        metadata=setting("User id of the agent.", minimum=1, maximum=32, pattern=ID_PATTERN,
                         pattern_hint=ID_HINT, example="alice")
    )
    rank: int = field(
        default=1,
        metadata=setting("Ranked strategy: 1 is offered calls first; rank 2 only when no "
                         "rank-1 agent is free, and so on.", minimum=1, maximum=9)
    )
    weight: int = field(
        default=1,
        metadata=setting("Weighted strategy: relative share of offers.", minimum=1,
                         maximum=100)
    )
    skills: tuple[str, ...] = field(
        default=(),
        metadata=setting("Skills (languages, products); a caller routed with a skill is "
                         "offered only agents having it.", maximum=16, unique=True)
    )
    starts_logged_in: bool = field(
        default=True,
        metadata=setting("Logged in when the box starts (a static member); false: the agent "
                         "logs in by feature code or on the web page.")
    )


def _own_voicemail() -> Destination:
    return Destination(DestinationKind.VOICEMAIL, "")


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """One queue: agents, strategy, limits, announcements and where callers go when it gives up."""

    id: str = field(
        metadata=setting("Queue id, also its voicemail box.", minimum=1, maximum=32,
                         pattern=ID_PATTERN, pattern_hint=ID_HINT, example="support")
    )
    agents: tuple[QueueAgent, ...] = field(
        default=(), metadata=setting("Agents in configured order (ties follow it).",
                                     maximum=128)
    )
    strategy: QueueStrategy = field(
        default=QueueStrategy.LONGEST_IDLE,
        metadata=setting("ring_all, round_robin, least_recent, fewest_calls, longest_idle, "
                         "ranked or weighted.")
    )
    agent_ring_timeout_s: float = field(
        default=15.0,
        metadata=setting("Seconds an agent rings before the call is offered to the next.",
                         unit="s", minimum=5.0, maximum=120.0)
    )
    misses_before_pause: int = field(
        default=3,
        metadata=setting("Missed offers in a row after which the agent is paused "
                         "(no_answer); 0: never.", minimum=0, maximum=20)
    )
    wrap_up_s: float = field(
        default=10.0,
        metadata=setting("Seconds after a call before the agent is offered the next.",
                         unit="s", minimum=0.0, maximum=600.0)
    )
    max_wait_s: float = field(
        default=300.0,
        metadata=setting("Seconds a caller waits before overflow; 0: no limit.", unit="s",
                         minimum=0.0, maximum=7200.0)
    )
    max_callers: int = field(
        default=0,
        metadata=setting("Callers in line (callbacks included) beyond which new callers "
                         "overflow; 0: no limit.", minimum=0, maximum=500)
    )
    overflow: Destination = field(
        default_factory=_own_voicemail,
        metadata=setting("Where callers go at max wait, max length or with nobody staffed; "
                         "voicemail with an empty target is this queue's box.")
    )
    overflow_when_unstaffed: bool = field(
        default=True,
        metadata=setting("A caller arriving when no agent is logged in and unpaused "
                         "overflows at once instead of waiting.")
    )
    voicemail_when_no_agent_free: bool = field(
        default=False,
        metadata=setting("Skip waiting: a caller no agent can take at once goes to "
                         "voicemail (toll-free numbers).")
    )
    voicemail: Destination = field(
        default_factory=_own_voicemail,
        metadata=setting("Voicemail for key 1 and for `voicemail_when_no_agent_free`.")
    )
    voicemail_key: bool = field(
        default=True, metadata=setting("Key 1 while waiting leaves a voicemail.")
    )
    callback_key: bool = field(
        default=True,
        metadata=setting("Key 2 while waiting requests a callback that keeps the place in "
                         "line (needs the caller's number).")
    )
    announce_first_s: float = field(
        default=30.0,
        metadata=setting("Seconds after joining before the first announcement; 0: none.",
                         unit="s", minimum=0.0, maximum=600.0)
    )
    announce_every_s: float = field(
        default=60.0,
        metadata=setting("Seconds between announcements after the first; 0: only one.",
                         unit="s", minimum=0.0, maximum=600.0)
    )
    announce_position: bool = field(
        default=True, metadata=setting("Announcements say the caller's position.")
    )
    announce_wait: bool = field(
        default=True, metadata=setting("Announcements say the estimated wait.")
    )
    ewt_window_calls: int = field(
        default=10,
        metadata=setting("Recent calls whose handle time (talk + wrap-up) estimates the "
                         "wait.", minimum=1, maximum=1000)
    )
    default_handle_s: float = field(
        default=180.0,
        metadata=setting("Handle time assumed before the queue has taken a call.", unit="s",
                         minimum=10.0, maximum=3600.0)
    )
    music_class: str = field(
        default="default",
        metadata=setting("Music on hold class played while waiting.", minimum=1, maximum=32,
                         pattern=ID_PATTERN, pattern_hint=ID_HINT)
    )

    def resolve(self, destination: Destination) -> Destination:
        """An empty voicemail target means this queue's own box."""
        if destination.kind is DestinationKind.VOICEMAIL and not destination.target:
            return Destination(DestinationKind.VOICEMAIL, self.id)
        return destination


# Commands ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RingAgent:
    """Offer `caller` to `agent` (ring their phones); `callback`: the caller is not on the line."""

    caller: str
    agent: str
    callback: bool = False


@dataclass(frozen=True, slots=True)
class StopRingingAgent:
    caller: str
    agent: str


@dataclass(frozen=True, slots=True)
class BridgeToAgent:
    """The agent answered: join the caller's leg to the agent's."""

    caller: str
    agent: str


@dataclass(frozen=True, slots=True)
class CallBack:
    """The agent answered a callback offer: dial `number` with the agent on the line."""

    caller: str
    agent: str
    number: str


@dataclass(frozen=True, slots=True)
class Announce:
    """Play the position and/or estimated wait (None: not announced or unknown)."""

    caller: str
    position: int | None
    wait_s: int | None


@dataclass(frozen=True, slots=True)
class MusicOnHold:
    caller: str
    on: bool
    music_class: str


@dataclass(frozen=True, slots=True)
class SendTo:
    """The caller leaves the queue for `destination`."""

    caller: str
    destination: Destination


@dataclass(frozen=True, slots=True)
class ReleaseCaller:
    """Confirm the callback to the caller and hang up their leg; the place stays in line."""

    caller: str


# Events for the call record ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Enqueued:
    queue: str
    caller: str
    position: int
    priority: int
    at: float


@dataclass(frozen=True, slots=True)
class Abandoned:
    """The caller hung up while waiting."""

    queue: str
    caller: str
    position: int
    waited_s: float
    at: float


@dataclass(frozen=True, slots=True)
class Overflowed:
    queue: str
    caller: str
    reason: OverflowReason
    destination: Destination
    waited_s: float
    at: float


@dataclass(frozen=True, slots=True)
class LeftForVoicemail:
    queue: str
    caller: str
    reason: VoicemailReason
    waited_s: float
    at: float


@dataclass(frozen=True, slots=True)
class AgentConnected:
    """An agent answered; `waited_s` counts from joining (for a callback: until the agent)."""

    queue: str
    caller: str
    agent: str
    waited_s: float
    callback: bool
    at: float


@dataclass(frozen=True, slots=True)
class CallbackRequested:
    queue: str
    caller: str
    number: str
    position: int
    at: float


@dataclass(frozen=True, slots=True)
class AgentMissed:
    """An offer timed out or was declined."""

    queue: str
    caller: str
    agent: str
    at: float


@dataclass(frozen=True, slots=True)
class AgentStateChanged:
    """Login, logout, pause (with reason) or unpause."""

    queue: str
    agent: str
    status: AgentStatus
    reason: PauseReason | None
    at: float


QueueCommand = (RingAgent | StopRingingAgent | BridgeToAgent | CallBack | Announce | MusicOnHold
                | SendTo | ReleaseCaller)
QueueEvent = (Enqueued | Abandoned | Overflowed | LeftForVoicemail | AgentConnected
              | CallbackRequested | AgentMissed | AgentStateChanged)
QueueOutput = QueueCommand | QueueEvent


# State ---------------------------------------------------------------------------------------


class _EntryState(StrEnum):
    WAITING = "waiting"
    RINGING = "ringing"
    CALLBACK = "callback"


class _Timer(IntEnum):
    """Order of timers due at the same instant: a caller leaving beats everything else."""

    MAX_WAIT = 0
    WRAP_END = 1
    RING_TIMEOUT = 2
    ANNOUNCE = 3


class _Entry:
    __slots__ = ("caller", "seq", "priority", "skill", "number", "joined_at", "state",
                 "ringing", "tried", "next_announce_at", "moh")

    def __init__(self, caller: str, seq: int, priority: int, skill: str | None, number: str,
                 joined_at: float) -> None:
        self.caller = caller
        self.seq = seq
        self.priority = priority
        self.skill = skill
        self.number = number
        self.joined_at = joined_at
        self.state = _EntryState.WAITING
        self.ringing: set[str] = set()
        self.tried: set[str] = set()
        self.next_announce_at: float | None = None
        self.moh = False


class _Agent:
    __slots__ = ("config", "index", "logged_in", "paused", "ringing_for", "ring_deadline",
                 "on_call_with", "connected_at", "wrap_until", "calls", "last_call_end_at",
                 "idle_since", "misses")

    def __init__(self, config: QueueAgent, index: int, now: float) -> None:
        self.config = config
        self.index = index
        self.logged_in = config.starts_logged_in
        self.paused: PauseReason | None = None
        self.ringing_for: str | None = None
        self.ring_deadline = 0.0
        self.on_call_with: str | None = None
        self.connected_at = 0.0
        self.wrap_until: float | None = None
        self.calls = 0
        self.last_call_end_at: float | None = None
        self.idle_since = now
        self.misses = 0

    @property
    def staffed(self) -> bool:
        return self.logged_in and self.paused is None

    @property
    def free(self) -> bool:
        return (self.staffed and self.ringing_for is None and self.on_call_with is None
                and self.wrap_until is None)

    def status(self) -> AgentStatus:
        if self.on_call_with is not None:
            return AgentStatus.ON_CALL
        if self.ringing_for is not None:
            return AgentStatus.RINGING
        if not self.logged_in:
            return AgentStatus.LOGGED_OUT
        if self.wrap_until is not None:
            return AgentStatus.WRAP_UP
        if self.paused is not None:
            return AgentStatus.PAUSED
        return AgentStatus.AVAILABLE


class CallQueue:
    """The line and the agents of one queue. Feed it events with `now`; act on what it returns.

    `rng` serves the weighted strategy (inject a seeded one in tests).
    """

    def __init__(self, settings: QueueSettings, now: float, *,
                 rng: random.Random | None = None) -> None:
        self._s = settings
        self._rng = rng or random.Random()
        self._agents = {a.user: _Agent(a, i, now) for i, a in enumerate(settings.agents)}
        self._entries: dict[str, _Entry] = {}
        self._seq = 0
        self._rr_last = -1
        self._handle_s: deque[float] = deque(maxlen=settings.ewt_window_calls)

    # -- queries ------------------------------------------------------------------------------

    def line(self) -> list[str]:
        """Callers in line order, callbacks included."""
        return [e.caller for e in self._line()]

    def position(self, caller: str) -> int | None:
        """1-based place in line, or None when not in line."""
        for i, entry in enumerate(self._line(), start=1):
            if entry.caller == caller:
                return i
        return None

    def agent_status(self, agent: str) -> AgentStatus | None:
        a = self._agents.get(agent)
        return None if a is None else a.status()

    def pause_reason(self, agent: str) -> PauseReason | None:
        a = self._agents.get(agent)
        return None if a is None else a.paused

    def ringing_agents(self, caller: str) -> frozenset[str]:
        entry = self._entries.get(caller)
        return frozenset() if entry is None else frozenset(entry.ringing)

    def music_on_hold(self, caller: str) -> bool:
        entry = self._entries.get(caller)
        return entry is not None and entry.moh

    def calls_taken(self, agent: str) -> int:
        a = self._agents.get(agent)
        return 0 if a is None else a.calls

    def estimated_wait_s(self, position: int) -> int | None:
        """Seconds a caller at `position` can expect to wait; None when nobody is staffed."""
        staffed = sum(1 for a in self._agents.values() if a.staffed)
        if staffed == 0:
            return None
        handle = (sum(self._handle_s) / len(self._handle_s) if self._handle_s
                  else self._s.default_handle_s)
        return math.ceil(position * handle / staffed)

    def next_deadline(self) -> float | None:
        due = self._next_timer()
        return None if due is None else due[0]

    # -- callers ------------------------------------------------------------------------------

    def enqueue(self, caller: str, now: float, *, priority: int = 0, skill: str | None = None,
                number: str = "") -> list[QueueOutput]:
        """A caller arrives; `number` is where a callback goes (empty: no callback offered)."""
        if caller in self._entries:
            return []
        s = self._s
        if s.max_callers and len(self._entries) >= s.max_callers:
            return self._overflow_new(caller, OverflowReason.MAX_LENGTH, now)
        eligible = [a for a in self._agents.values() if _can_take(a.config, skill)]
        if s.overflow_when_unstaffed and not any(a.staffed for a in eligible):
            return self._overflow_new(caller, OverflowReason.NO_AGENTS, now)
        if s.voicemail_when_no_agent_free and not any(a.free for a in eligible):
            destination = s.resolve(s.voicemail)
            return [LeftForVoicemail(s.id, caller, VoicemailReason.NO_AGENT_FREE, 0.0, now),
                    SendTo(caller, destination)]
        self._seq += 1
        entry = _Entry(caller, self._seq, priority, skill, number, now)
        if s.announce_first_s > 0:
            entry.next_announce_at = now + s.announce_first_s
        entry.moh = True
        self._entries[caller] = entry
        position = self.position(caller) or 0
        out: list[QueueOutput] = [Enqueued(s.id, caller, position, priority, now),
                                  MusicOnHold(caller, True, s.music_class)]
        return out + self._dispatch(now)

    def on_caller_hangup(self, caller: str, now: float) -> list[QueueOutput]:
        """The caller's leg ended while in line (ignored for a callback: that leg is gone)."""
        entry = self._entries.get(caller)
        if entry is None or entry.state is _EntryState.CALLBACK:
            return []
        position = self.position(caller) or 0
        out = self._remove(entry, stop_ringing=True, music_off=False)
        out.append(Abandoned(self._s.id, caller, position, now - entry.joined_at, now))
        return out + self._dispatch(now)

    def on_key(self, caller: str, key: str, now: float) -> list[QueueOutput]:
        """A DTMF key from a waiting caller: 1 voicemail, 2 callback; others are ignored."""
        entry = self._entries.get(caller)
        s = self._s
        if entry is None or entry.state is _EntryState.CALLBACK:
            return []
        if key == KEY_VOICEMAIL and s.voicemail_key:
            out = self._remove(entry, stop_ringing=True, music_off=True)
            out += [LeftForVoicemail(s.id, caller, VoicemailReason.KEY, now - entry.joined_at,
                                     now),
                    SendTo(caller, s.resolve(s.voicemail))]
            return out + self._dispatch(now)
        if key == KEY_CALLBACK and s.callback_key and entry.number:
            out = self._stop_offers(entry)
            entry.state = _EntryState.CALLBACK
            entry.next_announce_at = None
            entry.tried.clear()
            entry.moh = False
            out += [MusicOnHold(caller, False, s.music_class),
                    CallbackRequested(s.id, caller, entry.number, self.position(caller) or 0,
                                      now),
                    ReleaseCaller(caller)]
            return out + self._dispatch(now)
        return []

    # -- agents -------------------------------------------------------------------------------

    def on_agent_answered(self, caller: str, agent: str, now: float) -> list[QueueOutput]:
        """The agent took the offer; only an agent ringing for `caller` connects."""
        a = self._agents.get(agent)
        entry = self._entries.get(caller)
        if a is None or entry is None or a.ringing_for != caller:
            log.debug("queue %s: ignored answer by %r for %r", self._s.id, agent, caller)
            return []
        entry.ringing.discard(agent)
        a.ringing_for = None
        callback = entry.state is _EntryState.CALLBACK
        out = self._remove(entry, stop_ringing=True, music_off=not callback)
        a.on_call_with = caller
        a.connected_at = now
        a.misses = 0
        a.calls += 1
        out.append(AgentConnected(self._s.id, caller, agent, now - entry.joined_at, callback,
                                  now))
        out.append(CallBack(caller, agent, entry.number) if callback
                   else BridgeToAgent(caller, agent))
        return out + self._dispatch(now)

    def on_agent_declined(self, caller: str, agent: str, now: float) -> list[QueueOutput]:
        """The agent refused the offer: a miss, and the caller moves on."""
        return self._end_offer(caller, agent, now, miss=True, stop=False)

    def on_agent_busy(self, caller: str, agent: str, now: float) -> list[QueueOutput]:
        """The agent's phone was busy (a private call): the caller moves on, no miss counted."""
        return self._end_offer(caller, agent, now, miss=False, stop=False)

    def on_call_ended(self, agent: str, now: float) -> list[QueueOutput]:
        """The agent's queue call ended: wrap-up starts; the handle time feeds the estimate."""
        a = self._agents.get(agent)
        if a is None or a.on_call_with is None:
            return []
        a.on_call_with = None
        a.last_call_end_at = now
        self._handle_s.append(now - a.connected_at + self._s.wrap_up_s)
        if self._s.wrap_up_s > 0:
            a.wrap_until = now + self._s.wrap_up_s
        else:
            a.idle_since = now
        return self._dispatch(now)

    def login(self, agent: str, now: float) -> list[QueueOutput]:
        a = self._agents.get(agent)
        if a is None or a.logged_in:
            return []
        a.logged_in = True
        a.paused = None
        a.misses = 0
        a.idle_since = now
        out: list[QueueOutput] = [AgentStateChanged(self._s.id, agent, a.status(), None, now)]
        return out + self._dispatch(now)

    def logout(self, agent: str, now: float) -> list[QueueOutput]:
        """Log out; a call in progress goes on, a ringing offer is withdrawn (not a miss)."""
        a = self._agents.get(agent)
        if a is None or not a.logged_in:
            return []
        out = self._withdraw(a)
        a.logged_in = False
        a.paused = None
        out.append(AgentStateChanged(self._s.id, agent, AgentStatus.LOGGED_OUT, None, now))
        return out + self._dispatch(now)

    def pause(self, agent: str, reason: PauseReason, now: float) -> list[QueueOutput]:
        """Pause with a reason; a ringing offer is withdrawn, a call in progress goes on."""
        a = self._agents.get(agent)
        if a is None or not a.logged_in or a.paused is not None:
            return []
        out = self._withdraw(a)
        a.paused = reason
        out.append(AgentStateChanged(self._s.id, agent, AgentStatus.PAUSED, reason, now))
        return out + self._dispatch(now)

    def unpause(self, agent: str, now: float) -> list[QueueOutput]:
        a = self._agents.get(agent)
        if a is None or a.paused is None:
            return []
        a.paused = None
        a.misses = 0
        a.idle_since = now
        out: list[QueueOutput] = [AgentStateChanged(self._s.id, agent, a.status(), None, now)]
        return out + self._dispatch(now)

    # -- timers -------------------------------------------------------------------------------

    def handle_timers(self, now: float) -> list[QueueOutput]:
        """Run every timer due at or before `now`, each at its own due time, in order."""
        out: list[QueueOutput] = []
        while (due := self._next_timer()) is not None and due[0] <= now:
            at, kind, who = due
            if kind is _Timer.MAX_WAIT:
                entry = self._entries[who]
                out += self._remove(entry, stop_ringing=True, music_off=True)
                destination = self._s.resolve(self._s.overflow)
                out += [Overflowed(self._s.id, who, OverflowReason.MAX_WAIT, destination,
                                   at - entry.joined_at, at),
                        SendTo(who, destination)]
                out += self._dispatch(at)
            elif kind is _Timer.WRAP_END:
                agent = self._agents[who]
                agent.wrap_until = None
                agent.idle_since = at
                out += self._dispatch(at)
            elif kind is _Timer.RING_TIMEOUT:
                agent = self._agents[who]
                caller = agent.ringing_for
                if caller is not None:
                    out += self._end_offer(caller, who, at, miss=True, stop=True)
            else:
                entry = self._entries[who]
                every = self._s.announce_every_s
                entry.next_announce_at = at + every if every > 0 else None
                position = self.position(who) or 0
                out.append(Announce(
                    who,
                    position if self._s.announce_position else None,
                    self.estimated_wait_s(position) if self._s.announce_wait else None,
                ))
        return out

    # -- internals ----------------------------------------------------------------------------

    def _line(self) -> list[_Entry]:
        return sorted(self._entries.values(), key=lambda e: (-e.priority, e.seq))

    def _overflow_new(self, caller: str, reason: OverflowReason, now: float) -> list[QueueOutput]:
        destination = self._s.resolve(self._s.overflow)
        return [Overflowed(self._s.id, caller, reason, destination, 0.0, now),
                SendTo(caller, destination)]

    def _remove(self, entry: _Entry, *, stop_ringing: bool, music_off: bool) -> list[QueueOutput]:
        out = self._stop_offers(entry) if stop_ringing else []
        if music_off and entry.moh:
            out.append(MusicOnHold(entry.caller, False, self._s.music_class))
        entry.moh = False
        del self._entries[entry.caller]
        return out

    def _stop_offers(self, entry: _Entry) -> list[QueueOutput]:
        out: list[QueueOutput] = []
        for user in sorted(entry.ringing, key=lambda u: self._agents[u].index):
            self._agents[user].ringing_for = None
            out.append(StopRingingAgent(entry.caller, user))
        entry.ringing.clear()
        if entry.state is _EntryState.RINGING:
            entry.state = _EntryState.WAITING
        return out

    def _withdraw(self, a: _Agent) -> list[QueueOutput]:
        caller = a.ringing_for
        if caller is None:
            return []
        a.ringing_for = None
        entry = self._entries[caller]
        entry.ringing.discard(a.config.user)
        if not entry.ringing and entry.state is _EntryState.RINGING:
            entry.state = _EntryState.WAITING
        return [StopRingingAgent(caller, a.config.user)]

    def _end_offer(self, caller: str, agent: str, now: float, *, miss: bool,
                   stop: bool) -> list[QueueOutput]:
        a = self._agents.get(agent)
        entry = self._entries.get(caller)
        if a is None or entry is None or a.ringing_for != caller:
            return []
        a.ringing_for = None
        entry.ringing.discard(agent)
        entry.tried.add(agent)
        if not entry.ringing and entry.state is _EntryState.RINGING:
            entry.state = _EntryState.WAITING
        out: list[QueueOutput] = [StopRingingAgent(caller, agent)] if stop else []
        if miss:
            a.misses += 1
            out.append(AgentMissed(self._s.id, caller, agent, now))
            limit = self._s.misses_before_pause
            if limit and a.misses >= limit and a.logged_in and a.paused is None:
                a.paused = PauseReason.NO_ANSWER
                out.append(AgentStateChanged(self._s.id, agent, AgentStatus.PAUSED,
                                             PauseReason.NO_ANSWER, now))
        return out + self._dispatch(now)

    def _dispatch(self, now: float) -> list[QueueOutput]:
        """Offer free agents to callers, head of the line first."""
        out: list[QueueOutput] = []
        ring_all = self._s.strategy is QueueStrategy.RING_ALL
        for entry in self._line():
            if entry.ringing and not ring_all:
                continue
            free = [a for a in self._agents.values()
                    if a.free and _can_take(a.config, entry.skill)]
            if not free:
                continue
            candidates = [a for a in free if a.config.user not in entry.tried]
            if not candidates:
                if entry.ringing:
                    continue
                entry.tried.clear()  # everyone free has been tried: a new round
                candidates = free
            for a in self._choose(candidates):
                a.ringing_for = entry.caller
                a.ring_deadline = now + self._s.agent_ring_timeout_s
                entry.ringing.add(a.config.user)
                if entry.state is _EntryState.WAITING:
                    entry.state = _EntryState.RINGING
                out.append(RingAgent(entry.caller, a.config.user,
                                     entry.state is _EntryState.CALLBACK))
        return out

    def _choose(self, candidates: list[_Agent]) -> list[_Agent]:
        strategy = self._s.strategy
        if strategy is QueueStrategy.RING_ALL:
            return sorted(candidates, key=lambda a: a.index)
        if strategy is QueueStrategy.ROUND_ROBIN:
            n = len(self._agents)
            chosen = min(candidates, key=lambda a: (a.index - self._rr_last - 1) % n)
            self._rr_last = chosen.index
            return [chosen]
        if strategy is QueueStrategy.LEAST_RECENT:
            return [min(candidates, key=lambda a: (
                -math.inf if a.last_call_end_at is None else a.last_call_end_at, a.index))]
        if strategy is QueueStrategy.FEWEST_CALLS:
            return [min(candidates, key=lambda a: (a.calls, a.index))]
        if strategy is QueueStrategy.LONGEST_IDLE:
            return [min(candidates, key=lambda a: (a.idle_since, a.index))]
        if strategy is QueueStrategy.RANKED:
            return [min(candidates, key=lambda a: (a.config.rank, a.idle_since, a.index))]
        ordered = sorted(candidates, key=lambda a: a.index)
        return self._rng.choices(ordered, weights=[a.config.weight for a in ordered], k=1)

    def _next_timer(self) -> tuple[float, _Timer, str] | None:
        timers: list[tuple[float, _Timer, str]] = []
        max_wait = self._s.max_wait_s
        for entry in self._entries.values():
            if entry.state is _EntryState.CALLBACK:
                continue
            if max_wait > 0:
                timers.append((entry.joined_at + max_wait, _Timer.MAX_WAIT, entry.caller))
            if entry.next_announce_at is not None:
                timers.append((entry.next_announce_at, _Timer.ANNOUNCE, entry.caller))
        for a in self._agents.values():
            if a.wrap_until is not None:
                timers.append((a.wrap_until, _Timer.WRAP_END, a.config.user))
            if a.ringing_for is not None:
                timers.append((a.ring_deadline, _Timer.RING_TIMEOUT, a.config.user))
        return min(timers, default=None)


def _can_take(agent: QueueAgent, skill: str | None) -> bool:
    return skill is None or skill in agent.skills


def agents_of(users: Iterable[str]) -> tuple[QueueAgent, ...]:
    """Agents with default rank, weight and no skills, in order: shorthand for tests and config."""
    return tuple(QueueAgent(u) for u in users)
