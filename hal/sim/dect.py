"""Simulated DECT: bases of one cluster and the handsets that register, roam, call and answer.

`SimDectBase` behaves as the DECT UART driver (`drivers/dect`, docs/dect-uart.md) does towards
the firmware: a registration window with a 4-digit PIN, a handset table shared by every base
of the board (a multi-cell system: handset numbers are the same on each base, `in_range` says
which base a handset is locked to), paging with caller-ID text, one PCM slot per call, display
text and message waiting, and handover of a call when a handset in a call moves to another
base: `HandoverStarted` on the new base, the firmware `connect()`s the call there within
`HANDOVER_TIMEOUT_S`, then `HandoverCompleted` and the old base's slot is free.

`SimHandset` is what a user does with a cordless phone: `register(pin)`, `call("201")`
(pre-dial, then the talk key: `HandsetOffHook` and the number en bloc), `answer()`,
`press("5")`, `hang_up()`, `roam_to(base)`, `leave_range()`, `speak(frames)`; and what can be
checked: `is_ringing`, `caller_id`, `display`, `message_waiting`, `in_call`, `heard()`.

Speech: each base slot has a line side (`SimDectBase.speech_paths`, the `SimLinePort` shape of
hal.sim.audio) that plays the box's audio to the handset connected on it and takes what the
handset says; a sim PCM bus that carries them lets handsets talk to analog phones.

Faults: `base.fail("reason")` puts a base out of service as a silent UART does (PortAlarm,
calls through it end with HandsetOnHook), `base.restore()` brings it back (PortAlarmCleared).
"""

from __future__ import annotations

import collections
import itertools
import logging
from collections.abc import Sequence
from enum import Enum

from hal.audio import AudioPort, Frame
from hal.clock import Clock, TimerHandle
from hal.dect import CallerIdText, DectBase, Handset
from hal.errors import DeviceError, DeviceFault, DeviceNotResponding, LineFault
from hal.eventqueue import DEFAULT_MAXLEN
from hal.events import (
    HandoverCompleted,
    HandoverStarted,
    HandsetDeregistered,
    HandsetOffHook,
    HandsetOnHook,
    HandsetRegistered,
    KeypadPressed,
    PortAlarm,
    PortAlarmCleared,
    RegistrationWindowClosed,
)
from hal.sim.audio import concatenate

log = logging.getLogger(__name__)

MAX_HANDSETS = 8
"""Subscriptions a cluster holds (a typical DECT module's table)."""
MAX_REGISTRATION_S = 600.0
HANDOVER_TIMEOUT_S = 1.0
"""HandoverStarted → connect() on the new base, or the call stays on the old base."""
DISPLAY_CHARS = 24
"""What a handset's display shows of a text (two lines of 12 on a typical GAP handset)."""
KEYS = frozenset("0123456789*#R")
MAX_HEARD_FRAMES = 3000
"""A handset remembers the last 60 s it heard."""


class HandsetState(Enum):
    IDLE = "idle"
    RINGING = "ringing"
    OFF_HOOK = "off_hook"
    """Talk key pressed (answered or calling); no speech path yet."""
    CONNECTED = "connected"


class SimDectCluster:
    """The bases of one simulated board: one subscription table, handsets among them."""

    def __init__(self, clock: Clock, max_handsets: int = MAX_HANDSETS) -> None:
        self.clock = clock
        self.max_handsets = max_handsets
        self.bases: list[SimDectBase] = []
        self.subscriptions: dict[int, SimHandset] = {}
        self._ipuis = itertools.count(1)

    def new_ipui(self) -> str:
        """A fresh IPUI-N (EN 300 175-6 §6.2: PUT 0, then an IPEI), 10 hex digits."""
        return f"0{0x0123400000 + next(self._ipuis):09X}"

    def _subscribe(self, handset: SimHandset, via: SimDectBase) -> int | None:
        number = handset.number
        if number is None:
            free = [n for n in range(1, self.max_handsets + 1) if n not in self.subscriptions]
            if not free:
                return None
            number = free[0]
            self.subscriptions[number] = handset
        now = self.clock.now()
        for base in self.bases:
            base._registered(number, handset.ipui, now)
        if len(self.subscriptions) >= self.max_handsets:
            for base in self.bases:
                base._window_closed()
        return number

    def _unsubscribe(self, number: int) -> None:
        handset = self.subscriptions.pop(number, None)
        if handset is not None:
            handset._reset("Not registered")
        now = self.clock.now()
        for base in self.bases:
            base._deregistered(number, now)


class SimSpeechPath:
    """One base slot's line side: the handset connected on it hears and speaks here."""

    def __init__(self, base: SimDectBase, audio: AudioPort) -> None:
        self.base = base
        self.audio = audio

    def box_to_line(self, frame: Frame, at: float) -> None:
        handset = self.base._on_slot(self.audio.slot)
        if handset is not None:
            handset._hear(frame)

    def line_to_box(self, at: float) -> Frame | None:
        handset = self.base._on_slot(self.audio.slot)
        return handset._next_speech() if handset is not None else None


class SimDectBase(DectBase):
    """A simulated DECT base on `channel`, its calls on PCM `slots`, in `cluster`."""

    def __init__(self, name: str, channel: int, clock: Clock, slots: Sequence[int],
                 cluster: SimDectCluster | None = None, *, rfpi: str | None = None,
                 queue_maxlen: int = DEFAULT_MAXLEN) -> None:
        super().__init__(name, [AudioPort(f"{name}.{i}", s) for i, s in enumerate(slots, 1)],
                         queue_maxlen)
        if not slots:
            raise ValueError(f"{name}: a DECT base needs at least one PCM slot")
        self.channel = channel
        self._clock = clock
        self.cluster = cluster if cluster is not None else SimDectCluster(clock)
        self.cluster.bases.append(self)
        self.rfpi = rfpi or f"{0x1000000000 + len(self.cluster.bases):010X}"
        self.speech_paths = tuple(SimSpeechPath(self, a) for a in self.audio_ports)
        """The slots' line sides, for a sim PCM bus."""
        self._window_timer: TimerHandle | None = None
        self._window_pin: str | None = None
        self._calls: dict[int, AudioPort] = {}
        self._fault: str | None = None

    # --- DectBase --------------------------------------------------------------------------

    @property
    def registration_open(self) -> bool:
        return self._window_pin is not None

    async def open_registration(self, duration_s: float, pin: str) -> None:
        self._check_usable()
        if not 0 < duration_s <= MAX_REGISTRATION_S:
            raise ValueError(f"{self.name}: registration window must last 0-"
                             f"{MAX_REGISTRATION_S:g} s, not {duration_s}")
        if len(pin) != 4 or not pin.isascii() or not pin.isdigit():
            raise ValueError(f"{self.name}: the PIN must be 4 digits, not {pin!r}")
        self._cancel_window()
        self._window_pin = pin
        self._window_timer = self._clock.call_at(self._clock.now() + duration_s,
                                                 self._window_closed)

    async def close_registration(self) -> None:
        self._check_usable()
        self._window_closed()

    def handsets(self) -> Sequence[Handset]:
        return tuple(Handset(n, h.ipui, h.base is self)
                     for n, h in sorted(self.cluster.subscriptions.items()))

    async def deregister(self, handset: int) -> None:
        self._check_usable(handset)
        self.cluster._unsubscribe(handset)

    async def page(self, handset: int, caller_id: CallerIdText | None = None) -> None:
        phone = self._here(handset)
        if phone.state in (HandsetState.OFF_HOOK, HandsetState.CONNECTED):
            raise DeviceError(self.name, f"handset {handset} is busy")
        phone._ring(self, caller_id)

    async def stop_paging(self, handset: int) -> None:
        phone = self._subscribed(handset)
        if phone.state is HandsetState.RINGING and phone.base is self:
            phone._set_state(HandsetState.IDLE)

    async def connect(self, handset: int) -> AudioPort:
        phone = self._subscribed(handset)
        current = self._calls.get(handset)
        if current is not None:
            return current
        handover = phone._handover_to is self
        if not handover:
            if phone.base is not self:
                raise LineFault(self.name, f"handset {handset} is out of range of this base")
            if phone.state is not HandsetState.OFF_HOOK:
                raise DeviceFault(self.name, f"handset {handset} is not off-hook "
                                             f"({phone.state.value})")
        used = {p.slot for p in self._calls.values()}
        free = [p for p in self.audio_ports if p.slot not in used]
        if not free:
            raise DeviceError(self.name, f"every speech slot is busy ({len(self.audio_ports)})")
        self._calls[handset] = free[0]
        if handover:
            phone._complete_handover(self)
        else:
            phone._set_state(HandsetState.CONNECTED)
        return free[0]

    async def release(self, handset: int) -> None:
        phone = self._subscribed(handset)
        self._calls.pop(handset, None)
        if phone.base is self and phone.state is not HandsetState.IDLE:
            phone._cancel_handover()
            phone._set_state(HandsetState.IDLE)

    async def show(self, handset: int, text: str) -> None:
        phone = self._here(handset)
        phone.display = text[:phone.display_chars]

    async def set_message_waiting(self, handset: int, on: bool) -> None:
        self._subscribed(handset).message_waiting = on

    # --- rehearsal -------------------------------------------------------------------------

    def add_handset(self, ipui: str | None = None,
                    display_chars: int = DISPLAY_CHARS) -> SimHandset:
        """A new (unregistered) handset in range of this base."""
        handset = SimHandset(self.cluster, ipui or self.cluster.new_ipui(), display_chars)
        handset.base = self
        return handset

    def call_slot(self, handset: int) -> AudioPort | None:
        """The PCM slot carrying `handset`'s call through this base, or None."""
        return self._calls.get(handset)

    def fail(self, reason: str = "no answer from the DECT module") -> None:
        """The module stops answering: out of service, calls through it end."""
        if self._fault is not None or self.closed:
            return
        now = self._clock.now()
        self._fault = reason
        self._out_of_service(reason)
        self._emit(PortAlarm(self.name, now, reason))
        for number in sorted(self._calls):
            self._emit(HandsetOnHook(self.name, now, number))
        for number, phone in self.cluster.subscriptions.items():
            if phone.base is self and phone.state is not HandsetState.IDLE:
                if number not in self._calls and phone.state is HandsetState.OFF_HOOK:
                    self._emit(HandsetOnHook(self.name, now, number))
                phone._reset("No base")
        self._calls.clear()
        self._window_closed()

    def restore(self) -> None:
        """The module answers again."""
        if self._fault is None or self.closed:
            return
        self._fault = None
        self._in_service()
        self._emit(PortAlarmCleared(self.name, self._clock.now()))

    # --- the handsets' side ----------------------------------------------------------------

    @property
    def working(self) -> bool:
        """Open and not failed: handset actions reach the firmware."""
        return self.status.in_service

    def _indicate(self, event: HandsetOffHook | HandsetOnHook | KeypadPressed
                  | HandoverStarted | HandoverCompleted) -> None:
        self._emit(event)

    def _registered(self, number: int, ipui: str, at: float) -> None:
        if self.working:
            self._emit(HandsetRegistered(self.name, at, number, ipui))

    def _deregistered(self, number: int, at: float) -> None:
        self._calls.pop(number, None)
        if self.working:
            self._emit(HandsetDeregistered(self.name, at, number))

    def _window_closed(self) -> None:
        if self._window_pin is None:
            return
        self._cancel_window()
        if not self.closed:
            self._emit(RegistrationWindowClosed(self.name, self._clock.now()))

    def _cancel_window(self) -> None:
        if self._window_timer is not None:
            self._window_timer.cancel()
        self._window_timer = None
        self._window_pin = None

    def _on_slot(self, slot: int) -> SimHandset | None:
        for number, port in self._calls.items():
            if port.slot == slot:
                return self.cluster.subscriptions.get(number)
        return None

    def _check_usable(self, handset: int | None = None) -> None:
        if self.closed or not self._opened:
            raise RuntimeError(f"{self.name}: not open")
        if self._fault is not None:
            raise DeviceNotResponding(self.name, self._fault)
        if handset is not None and handset not in self.cluster.subscriptions:
            raise KeyError(handset)

    def _subscribed(self, handset: int) -> SimHandset:
        self._check_usable(handset)
        return self.cluster.subscriptions[handset]

    def _here(self, handset: int) -> SimHandset:
        phone = self._subscribed(handset)
        if phone.base is not self:
            raise LineFault(self.name, f"handset {handset} is out of range of this base")
        return phone

    async def _open(self) -> None:
        return None

    async def _close(self) -> None:
        self._cancel_window()
        for number in list(self._calls):
            phone = self.cluster.subscriptions.get(number)
            if phone is not None and phone.base is self:
                phone._reset("No base")
        self._calls.clear()


class SimHandset:
    """A GAP handset near the bases of `cluster` (create with `base.add_handset()`)."""

    def __init__(self, cluster: SimDectCluster, ipui: str,
                 display_chars: int = DISPLAY_CHARS) -> None:
        self.cluster = cluster
        self.ipui = ipui
        self.display_chars = display_chars
        self.base: SimDectBase | None = None
        """The base the handset is locked to; None when out of every base's range."""
        self.state = HandsetState.IDLE
        self.display = ""
        """What the display shows (caller ID while ringing, then the base's text)."""
        self.caller_id: CallerIdText | None = None
        """The caller of the current or last ringing call."""
        self.message_waiting = False
        self._handover_to: SimDectBase | None = None
        self._handover_timer: TimerHandle | None = None
        self._speech: collections.deque[Frame] = collections.deque()
        self._heard: collections.deque[Frame] = collections.deque(maxlen=MAX_HEARD_FRAMES)

    # --- what the user does -------------------------------------------------------------------

    def register(self, pin: str = "0000") -> int | None:
        """Subscribe through the base in range, entering `pin`; the handset number, or None
        (the display says why) when no window is open there, the PIN is wrong or the table
        is full."""
        base = self.base
        if base is None or not base.working:
            self.display = "No base"
            return None
        if base._window_pin is None or base._window_pin != pin:
            self.display = "Registration failed"
            return None
        number = self.cluster._subscribe(self, base)
        self.display = "Registered" if number is not None else "Base full"
        return number

    def answer(self) -> None:
        """The talk key while ringing. Raises RuntimeError when not ringing."""
        if self.state is not HandsetState.RINGING:
            raise RuntimeError(f"handset {self.ipui} is not ringing ({self.state.value})")
        self._off_hook()

    def talk(self) -> None:
        """The talk key: answers when ringing, else goes off-hook to call."""
        if self.state in (HandsetState.IDLE, HandsetState.RINGING):
            self._off_hook()

    def call(self, number: str) -> None:
        """Pre-dial `number`, then the talk key: `HandsetOffHook` and the digits en bloc.
        Raises ValueError for a key the handset does not have."""
        self._check_keys(number)
        self.talk()
        self.press(number)

    def press(self, keys: str) -> None:
        """Keys while off-hook (overlap dialling, DTMF in a call), sent together.
        Raises RuntimeError when on-hook, ValueError for a key the handset does not have."""
        self._check_keys(keys)
        if self.state not in (HandsetState.OFF_HOOK, HandsetState.CONNECTED):
            raise RuntimeError(f"handset {self.ipui} is on-hook; talk() first")
        number, base = self.number, self.base
        if number is not None and base is not None and base.working and keys:
            base._indicate(KeypadPressed(base.name, self.cluster.clock.now(), number, keys))

    def hang_up(self) -> None:
        """The end key: ends a call, or rejects a ringing one."""
        number, base = self.number, self.base
        if self.state is HandsetState.IDLE:
            return
        if number is not None and base is not None and base.working:
            base._calls.pop(number, None)
            base._indicate(HandsetOnHook(base.name, self.cluster.clock.now(), number))
        self._set_state(HandsetState.IDLE)

    def roam_to(self, base: SimDectBase) -> None:
        """Move into `base`'s range and out of the current one's. A call hands over (the
        firmware must connect it on `base`); dialling or ringing is lost."""
        old, number = self.base, self.number
        if old is base:
            return
        now = self.cluster.clock.now()
        if (number is not None and old is not None and self.state is HandsetState.CONNECTED
                and base.working):
            self._handover_to = base
            self._handover_timer = self.cluster.clock.call_at(
                now + HANDOVER_TIMEOUT_S, self._handover_failed)
            base._indicate(HandoverStarted(base.name, now, number, old.name))
            return
        self._lose_call()
        self.base = base

    def leave_range(self) -> None:
        """Out of every base's range: a call is lost (`HandsetOnHook`)."""
        self._lose_call()
        self.base = None

    def speak(self, frames: Sequence[Frame]) -> None:
        """Say `frames` into the handset, one per tick, while in a call."""
        self._speech.extend(frames)

    # --- what can be checked ---------------------------------------------------------------------

    @property
    def number(self) -> int | None:
        """The handset's number in the cluster, None while not registered."""
        for n, h in self.cluster.subscriptions.items():
            if h is self:
                return n
        return None

    @property
    def is_ringing(self) -> bool:
        return self.state is HandsetState.RINGING

    @property
    def in_call(self) -> bool:
        """A speech path is connected."""
        return self.state is HandsetState.CONNECTED

    def heard(self) -> Frame:
        """What the earpiece played since the last call, as one array (then forgotten)."""
        frames = list(self._heard)
        self._heard.clear()
        return concatenate(frames)

    # --- the base's side -----------------------------------------------------------------------

    def _check_keys(self, keys: str) -> None:
        bad = [k for k in keys if k not in KEYS]
        if bad:
            raise ValueError(f"a DECT handset has no {bad[0]!r} key")

    def _off_hook(self) -> None:
        number, base = self.number, self.base
        if number is None or base is None or not base.working:
            self.display = "No base"
            return
        self._set_state(HandsetState.OFF_HOOK)
        base._indicate(HandsetOffHook(base.name, self.cluster.clock.now(), number))

    def _ring(self, base: SimDectBase, caller_id: CallerIdText | None) -> None:
        self.caller_id = caller_id
        if caller_id is not None:
            text = f"{caller_id.number} {caller_id.name}".strip()
            self.display = text[:self.display_chars]
        self._set_state(HandsetState.RINGING)

    def _set_state(self, state: HandsetState) -> None:
        self.state = state
        if state is not HandsetState.CONNECTED:
            self._speech.clear()

    def _lose_call(self) -> None:
        old, number = self.base, self.number
        self._cancel_handover()
        if old is None or number is None or self.state is HandsetState.IDLE:
            self._set_state(HandsetState.IDLE)
            return
        in_call = self.state in (HandsetState.OFF_HOOK, HandsetState.CONNECTED)
        old._calls.pop(number, None)
        if in_call and old.working:
            old._indicate(HandsetOnHook(old.name, self.cluster.clock.now(), number))
        self._set_state(HandsetState.IDLE)

    def _complete_handover(self, new: SimDectBase) -> None:
        old, number = self.base, self.number
        self._cancel_handover()
        self.base = new
        if old is None or number is None:
            return
        old._calls.pop(number, None)
        new._indicate(HandoverCompleted(new.name, self.cluster.clock.now(), number, old.name))

    def _handover_failed(self) -> None:
        new = self._handover_to
        self._handover_timer = None
        self._handover_to = None
        log.info("handset %s: handover to %s failed (no connect within %.1f s)", self.ipui,
                 new.name if new else "?", HANDOVER_TIMEOUT_S)

    def _cancel_handover(self) -> None:
        if self._handover_timer is not None:
            self._handover_timer.cancel()
        self._handover_timer = None
        self._handover_to = None

    def _reset(self, display: str) -> None:
        self._cancel_handover()
        self._set_state(HandsetState.IDLE)
        self.display = display

    def _hear(self, frame: Frame) -> None:
        self._heard.append(frame.copy())

    def _next_speech(self) -> Frame | None:
        return self._speech.popleft() if self._speech else None
