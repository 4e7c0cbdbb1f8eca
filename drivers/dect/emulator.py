"""An emulator of the DECT base module and the handsets around it, speaking docs/dect-uart.md.

`DectModuleEmulator` is one base module behind a UART: it decodes the host's frames with the
same framing, answers each request as §4 of the document says (with its error codes), keeps a
confirm cache so a retransmitted SEQ is answered without executing twice, boots for
`boot_time_s` after SYS_RESET (silent meanwhile), and sends indications for what handsets do.
Several modules form a `DectCluster`: one subscription table shared over the cluster's sync
link (so a handset registered through one base is known to all, with the same number), and
handover of a call when a handset in a call moves to another base (§5.3).

`EmulatedHandset` is what a user does: `register(base, pin)`, `talk()`, `end()`,
`press("201")`, `call("201")`, `roam_to(base)`, `leave_range()`; and what can be checked:
`is_ringing`, `caller_number`, `display`, `message_waiting`, `pcm_slot`.

The emulator catches host bugs: every frame the host gets wrong, every request with a bad
length or parameter, call commands before AUDIO_CONFIG, a slot used twice, a SEQ reused for a
different request, and a request sent while another is unanswered are recorded in
`violations` (tests assert it stays empty); refusals that can be races (an unknown handset,
connect after the handset hung up) are in `refusals`.

Faults: `silent = True` (the UART goes quiet both ways), `unplugged = True` (opening the port
fails), `crash()` (the module reboots on its own), `inject(b"…")` (noise on the line).

`EmulatedSerialPort` is the host's end of the wire with pyserial's API (`read`, `write`,
`fileno`, `reset_input_buffer`, `close`); its `fileno()` is a pipe that is readable while
bytes wait, so the driver's event-loop reader runs exactly as on a real tty.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from enum import Enum

from drivers.dect.frames import Frame, FrameDecoder, FrameError, FrameKind, encode
from drivers.dect.messages import (
    REQUESTS,
    AudioConfigReq,
    Command,
    ConnectReq,
    DeregisteredInd,
    DisplayReq,
    HandoverDoneInd,
    HandoverFailedInd,
    HandoverOutInd,
    HandoverStartInd,
    HandsetDeleteReq,
    HandsetListCnf,
    HandsetRecord,
    InfoCnf,
    KeypadInd,
    LocationInd,
    Message,
    MessageError,
    MessageWaitingReq,
    OffHookInd,
    OnHookCause,
    OnHookInd,
    PageReq,
    ReadyInd,
    RegClosedInd,
    RegisteredInd,
    RegistrationCloseCause,
    RegOpenReq,
    ReleaseReq,
    Status,
    StopPageReq,
    confirm_payload,
)
from hal.clock import Clock, TimerHandle

log = logging.getLogger(__name__)

BOOT_TIME_S = 0.2
"""SYS_RESET confirm → SYS_READY (the document allows up to 1 s)."""
HANDOVER_TIMEOUT_S = 1.0
"""HANDOVER_START → CALL_CONNECT on the new base, or the handover fails (§5.3)."""
FIRMWARE = (2, 1)
PROCESSING_S = 0.0
"""Default confirm latency; tests raise it to check stop-and-wait."""


class HandsetState(Enum):
    IDLE = "idle"
    RINGING = "ringing"
    OFF_HOOK = "off_hook"
    """Talk key pressed (answered or calling), no speech channel yet."""
    CONNECTED = "connected"


class EmulatedSerialPort:
    """The host's end of the emulated UART (pyserial's API, non-blocking like timeout=0)."""

    def __init__(self, module: DectModuleEmulator) -> None:
        self._module = module
        self._rx = bytearray()
        self._ready_r, self._ready_w = os.pipe()
        os.set_blocking(self._ready_r, False)
        os.set_blocking(self._ready_w, False)
        self.closed = False
        self.written = bytearray()
        """Everything the host wrote (for tests that look at raw bytes)."""

    def read(self, size: int = 1) -> bytes:
        self._check()
        data = bytes(self._rx[:size])
        del self._rx[:size]
        if not self._rx:
            self._drain_token()
        return data

    def write(self, data: bytes, /) -> int:
        self._check()
        self.written += data
        self._module._from_host(bytes(data))
        return len(data)

    def fileno(self) -> int:
        return self._ready_r

    def reset_input_buffer(self) -> None:
        self._check()
        self._rx.clear()
        self._drain_token()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        os.close(self._ready_r)
        os.close(self._ready_w)
        self._module._port_closed(self)

    def _to_host(self, data: bytes) -> None:
        if self.closed:
            return
        was_empty = not self._rx
        self._rx += data
        if was_empty and self._rx:
            os.write(self._ready_w, b"\x00")

    def _drain_token(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._ready_r, 64):
                pass

    def _check(self) -> None:
        if self.closed:
            raise OSError("port not open")
        if self._module.unplugged:
            raise OSError("device disconnected")


class DectCluster:
    """Bases sharing one subscription table (their sync link) and the handsets among them."""

    def __init__(self, clock: Clock, max_handsets: int = 8) -> None:
        self.clock = clock
        self.max_handsets = max_handsets
        self.bases: list[DectModuleEmulator] = []
        self.subscriptions: dict[int, str] = {}
        """Handset number → IPUI."""
        self.handsets: dict[str, EmulatedHandset] = {}

    def base(self, rfpi: str, *, speech_channels: int = 4, boot_time_s: float = BOOT_TIME_S,
             processing_s: float = PROCESSING_S) -> DectModuleEmulator:
        """A new module in the cluster, identified by `rfpi` (10 hex digits)."""
        module = DectModuleEmulator(self, rfpi, speech_channels=speech_channels,
                                    boot_time_s=boot_time_s, processing_s=processing_s)
        self.bases.append(module)
        return module

    def handset(self, ipui: str) -> EmulatedHandset:
        handset = EmulatedHandset(self, ipui)
        self.handsets[ipui] = handset
        return handset

    def number_of(self, ipui: str) -> int | None:
        for number, known in self.subscriptions.items():
            if known == ipui:
                return number
        return None

    def by_number(self, number: int) -> EmulatedHandset | None:
        ipui = self.subscriptions.get(number)
        return self.handsets.get(ipui) if ipui is not None else None

    def _subscribe(self, ipui: str, via: DectModuleEmulator) -> int | None:
        number = self.number_of(ipui)
        if number is None:
            free = [n for n in range(1, self.max_handsets + 1) if n not in self.subscriptions]
            if not free:
                return None
            number = free[0]
            self.subscriptions[number] = ipui
        for base in self.bases:
            base._indicate(RegisteredInd(number, ipui, base is via))
        if len(self.subscriptions) >= self.max_handsets:
            for base in self.bases:
                base._close_window(RegistrationCloseCause.TABLE_FULL)
        return number

    def _unsubscribe(self, number: int) -> None:
        ipui = self.subscriptions.pop(number)
        handset = self.handsets.get(ipui)
        if handset is not None:
            handset._dropped()
        for base in self.bases:
            base._calls.pop(number, None)
            base._indicate(DeregisteredInd(number))


class DectModuleEmulator:
    """One base module on a UART, in `cluster` (create with `cluster.base(rfpi)`)."""

    def __init__(self, cluster: DectCluster, rfpi: str, *, speech_channels: int = 4,
                 boot_time_s: float = BOOT_TIME_S, processing_s: float = PROCESSING_S) -> None:
        self.cluster = cluster
        self.rfpi = rfpi
        self.speech_channels = speech_channels
        self.boot_time_s = boot_time_s
        self.processing_s = processing_s
        self._clock = cluster.clock
        self.port: EmulatedSerialPort | None = None
        self.silent = False
        """The UART is quiet both ways (a hung module, a broken wire)."""
        self.unplugged = False
        """Opening, reading and writing the port fail (a USB adapter pulled)."""
        self.violations: list[str] = []
        self.refusals: list[tuple[Command, Status]] = []
        self.requests: list[tuple[float, Frame]] = []
        """Every request frame received, with its time."""
        self.duplicates = 0
        """Retransmissions answered from the confirm cache."""
        self.display: dict[int, str] = {}
        self.audio_slots: tuple[int, ...] = ()
        self._decoder = FrameDecoder()
        self._booted = True  # powered up before the host opened the port
        self._boot_timer: TimerHandle | None = None
        self._ind_seq = 0
        self._last: tuple[int, bytes, bytes] | None = None  # seq, request bytes, confirm bytes
        self._busy_until = -1.0
        self._window_until: float | None = None
        self._window_pin = ""
        self._window_timer: TimerHandle | None = None
        self._calls: dict[int, int] = {}
        """Handset number → PCM slot of its speech channel on this base."""

    # --- what a test does to the module ------------------------------------------------------

    def open_port(self) -> EmulatedSerialPort:
        """The host opens the tty. Raises OSError when unplugged."""
        if self.unplugged:
            raise OSError(f"cannot open the DECT module {self.rfpi}: no such device")
        if self.port is not None:
            self.port.close()
        self.port = EmulatedSerialPort(self)
        return self.port

    def inject(self, data: bytes) -> None:
        """Put raw bytes on the wire to the host (noise, a partial frame)."""
        if self.port is not None:
            self.port._to_host(data)

    def crash(self) -> None:
        """The module reboots on its own (watchdog reset): calls and window are lost."""
        self._reboot()

    @property
    def registration_open(self) -> bool:
        return self._window_until is not None

    @property
    def calls(self) -> dict[int, int]:
        """Handset number → PCM slot, for calls through this base."""
        return dict(self._calls)

    @property
    def ready(self) -> bool:
        return self._booted and not self.silent

    # --- the wire ----------------------------------------------------------------------------

    def _port_closed(self, port: EmulatedSerialPort) -> None:
        if self.port is port:
            self.port = None

    def _send(self, frame: Frame) -> None:
        if self.port is not None and not self.silent:
            self.port._to_host(encode(frame))

    def _from_host(self, data: bytes) -> None:
        if self.silent:
            return
        now = self._clock.now()
        self._decoder.feed(data, now)
        while (item := self._decoder.next_item()) is not None:
            if isinstance(item, FrameError):
                self.violations.append(f"host sent a bad frame: {item.reason} "
                                       f"({item.dropped} bytes)")
            elif item.kind is not FrameKind.REQUEST:
                self.violations.append(f"host sent a {item.kind.name} frame")
            elif self._booted:
                self.requests.append((now, item))
                self._request(item, now)
            # while booting the module hears nothing

    def _request(self, frame: Frame, now: float) -> None:
        raw = encode(frame)
        if self._last is not None and self._last[0] == frame.seq:
            if self._last[1] == raw:
                self.duplicates += 1
                self._send_raw_later(self._last[2], now)
                return
            self.violations.append(f"SEQ {frame.seq} reused for a different request")
        if now < self._busy_until:
            self.violations.append(f"request 0x{frame.command:02X} sent before the previous "
                                   f"one was confirmed")
        try:
            command = Command(frame.command)
        except ValueError:
            self.violations.append(f"unknown command 0x{frame.command:02X}")
            self._confirm(frame, Status.UNKNOWN_COMMAND, None, now, raw)
            return
        try:
            message = REQUESTS[command].decode(frame.payload)
        except MessageError as exc:
            self.violations.append(f"{command.name}: {exc}")
            self._confirm(frame, exc.status, None, now, raw)
            return
        after: list[Callable[[], None]] = []
        status, body = self._execute(command, message, after)
        if status is not Status.OK:
            self.refusals.append((command, status))
            if status in (Status.NOT_READY, Status.SLOT_BUSY, Status.BAD_PARAMETER):
                self.violations.append(f"{command.name} refused: {status.name}")
        self._confirm(frame, status, body, now, raw, after)

    def _confirm(self, frame: Frame, status: Status, body: Message | None, now: float,
                 raw: bytes, after: list[Callable[[], None]] | None = None) -> None:
        confirm = encode(Frame(FrameKind.CONFIRM, frame.seq, frame.command,
                               confirm_payload(status, body)))
        self._last = (frame.seq, raw, confirm)
        self._send_raw_later(confirm, now, after or [])

    def _send_raw_later(self, data: bytes, now: float,
                        after: list[Callable[[], None]] | None = None) -> None:
        """Send a confirm after the processing time, then run what the command does next
        (its indications follow its confirm on the wire)."""

        def send() -> None:
            if self.port is not None and not self.silent:
                self.port._to_host(data)
            for action in after or []:
                action()

        if self.processing_s <= 0:
            send()
            return
        self._busy_until = now + self.processing_s
        self._clock.call_at(now + self.processing_s, send)

    def _indicate(self, message: Message) -> None:
        """Send an indication now (lost when silent, booting or no port, as on the wire)."""
        if not self._booted or self.silent:
            return
        seq = self._ind_seq
        self._ind_seq = (self._ind_seq + 1) & 0xFF
        self._send(Frame(FrameKind.INDICATION, seq, message.CODE, message.encode()))

    # --- commands (docs/dect-uart.md §4) --------------------------------------------------------

    def _execute(self, command: Command, message: Message,
                 after: list[Callable[[], None]]) -> tuple[Status, Message | None]:
        cluster = self.cluster
        if command is Command.SYS_RESET:
            after.append(self._reboot)
            return Status.OK, None
        if command is Command.SYS_INFO:
            return Status.OK, InfoCnf(*FIRMWARE, self.rfpi, cluster.max_handsets,
                                      self.speech_channels)
        if command is Command.SYS_PING:
            return Status.OK, None
        if isinstance(message, AudioConfigReq):
            if len(message.slots) > self.speech_channels:
                return Status.BAD_PARAMETER, None
            if self._calls:
                return Status.WRONG_STATE, None
            self.audio_slots = message.slots
            return Status.OK, None
        if isinstance(message, RegOpenReq):
            self._open_window(message.duration_s, message.pin)
            return Status.OK, None
        if command is Command.REG_CLOSE:
            after.append(lambda: self._close_window(RegistrationCloseCause.HOST))
            return Status.OK, None
        if command is Command.HS_LIST:
            records = tuple(HandsetRecord(n, ipui, self._locked_here(n))
                            for n, ipui in sorted(cluster.subscriptions.items()))
            return Status.OK, HandsetListCnf(records)
        handset_number = getattr(message, "handset", None)
        if not isinstance(handset_number, int) or handset_number not in cluster.subscriptions:
            return Status.UNKNOWN_HANDSET, None
        handset = cluster.by_number(handset_number)
        if isinstance(message, HandsetDeleteReq):
            after.append(lambda: cluster._unsubscribe(handset_number))
            return Status.OK, None
        if isinstance(message, MessageWaitingReq):
            if handset is not None:
                handset.message_waiting = message.on
            return Status.OK, None
        here = handset is not None and handset.base is self
        if isinstance(message, DisplayReq):
            if not here or handset is None:
                return Status.OUT_OF_RANGE, None
            handset.display = message.text
            self.display[handset_number] = message.text
            return Status.OK, None
        if isinstance(message, PageReq):
            if not here or handset is None:
                return Status.OUT_OF_RANGE, None
            if handset.state in (HandsetState.OFF_HOOK, HandsetState.CONNECTED):
                return Status.BUSY, None
            handset._ring(self, message.number, message.name)
            return Status.OK, None
        if isinstance(message, StopPageReq):
            if handset is not None and handset.state is HandsetState.RINGING \
                    and handset.base is self:
                handset._stop_ringing()
            return Status.OK, None
        if isinstance(message, ReleaseReq):
            self._calls.pop(handset_number, None)
            if handset is not None and handset.base is self:
                if handset.state is HandsetState.RINGING:
                    handset._stop_ringing()
                elif handset.state in (HandsetState.OFF_HOOK, HandsetState.CONNECTED):
                    handset._released_by_base()
            return Status.OK, None
        if isinstance(message, ConnectReq):
            return self._connect(handset_number, handset, message.pcm_slot, after)
        raise AssertionError(f"unhandled {command.name}")  # every Command is handled above

    def _connect(self, number: int, handset: EmulatedHandset | None, slot: int,
                 after: list[Callable[[], None]]) -> tuple[Status, Message | None]:
        if not self.audio_slots:
            return Status.NOT_READY, None
        if slot not in self.audio_slots:
            return Status.BAD_PARAMETER, None
        if any(s == slot and n != number for n, s in self._calls.items()):
            return Status.SLOT_BUSY, None
        if handset is None:
            return Status.WRONG_STATE, None
        if handset.handover_to is self:
            after.append(lambda: handset._complete_handover(self, slot))
            self._calls[number] = slot
            return Status.OK, None
        if handset.base is not self:
            return Status.OUT_OF_RANGE, None
        if handset.state not in (HandsetState.OFF_HOOK, HandsetState.CONNECTED):
            return Status.WRONG_STATE, None
        self._calls[number] = slot
        handset._connected(slot)
        return Status.OK, None

    # --- module state -------------------------------------------------------------------------

    def _reboot(self) -> None:
        for number in list(self._calls):
            handset = self.cluster.by_number(number)
            if handset is not None and handset.base is self:
                handset._released_by_base()
        self._calls.clear()
        for handset in self.cluster.handsets.values():
            if handset.base is self and handset.state is HandsetState.RINGING:
                handset._stop_ringing()
        self._cancel_window()
        self.audio_slots = ()
        self._last = None
        self._booted = False
        self._decoder.reset()
        if self._boot_timer is not None:
            self._boot_timer.cancel()
        self._boot_timer = self._clock.call_at(self._clock.now() + self.boot_time_s,
                                               self._boot_done)

    def _boot_done(self) -> None:
        self._boot_timer = None
        self._booted = True
        self._ind_seq = 0
        self._indicate(ReadyInd(*FIRMWARE))

    def _open_window(self, duration_s: int, pin: str) -> None:
        self._cancel_window()
        self._window_until = self._clock.now() + duration_s
        self._window_pin = pin
        self._window_timer = self._clock.call_at(
            self._window_until, lambda: self._close_window(RegistrationCloseCause.TIMEOUT))

    def _cancel_window(self) -> bool:
        was_open = self._window_until is not None
        if self._window_timer is not None:
            self._window_timer.cancel()
        self._window_timer = None
        self._window_until = None
        return was_open

    def _close_window(self, cause: RegistrationCloseCause) -> None:
        if self._cancel_window():
            self._indicate(RegClosedInd(cause))

    def _locked_here(self, number: int) -> bool:
        handset = self.cluster.by_number(number)
        return handset is not None and handset.base is self


class EmulatedHandset:
    """A GAP handset near the cluster's bases (create with `cluster.handset(ipui)`)."""

    def __init__(self, cluster: DectCluster, ipui: str) -> None:
        self.cluster = cluster
        self.ipui = ipui
        self.base: DectModuleEmulator | None = None
        """The base the handset is locked to (None: out of range)."""
        self.state = HandsetState.IDLE
        self.display = ""
        self.caller_number = ""
        self.caller_name = ""
        self.message_waiting = False
        self.pcm_slot: int | None = None
        self.handover_to: DectModuleEmulator | None = None
        self._handover_timer: TimerHandle | None = None

    @property
    def number(self) -> int | None:
        return self.cluster.number_of(self.ipui)

    @property
    def is_ringing(self) -> bool:
        return self.state is HandsetState.RINGING

    # --- the user ----------------------------------------------------------------------------

    def register(self, base: DectModuleEmulator, pin: str) -> int | None:
        """Lock to `base` and subscribe with `pin`; the handset number, or None when the
        base has no open window, the PIN is wrong or the table is full."""
        self.roam_to(base)
        if not base.ready or not base.registration_open or pin != base._window_pin:
            self.display = "Registration failed"
            return None
        number = self.cluster._subscribe(self.ipui, base)
        self.display = "Registered" if number is not None else "Base full"
        return number

    def talk(self) -> None:
        """The talk key: answers a ringing call, or goes off-hook to call."""
        if self.state in (HandsetState.IDLE, HandsetState.RINGING) and self._indicate(
                lambda n: OffHookInd(n)):
            self.state = HandsetState.OFF_HOOK

    def end(self) -> None:
        """The end key: hangs up, or rejects a ringing call."""
        number = self.number
        if self.state is not HandsetState.IDLE and self._indicate(
                lambda n: OnHookInd(n, OnHookCause.END_KEY)):
            if self.base is not None and number is not None:
                self.base._calls.pop(number, None)
            self._idle()

    def press(self, keys: str) -> None:
        """Keys while off-hook, sent together (one KEYPAD indication)."""
        if self.state not in (HandsetState.OFF_HOOK, HandsetState.CONNECTED):
            raise RuntimeError(f"handset {self.ipui} is on-hook; talk() first")
        self._indicate(lambda n: KeypadInd(n, keys))

    def call(self, number: str) -> None:
        """Pre-dial `number`, then the talk key: off-hook, then the number en bloc."""
        self.talk()
        self.press(number)

    def roam_to(self, base: DectModuleEmulator) -> None:
        """Move into `base`'s range (and out of the current one's): a call hands over."""
        old = self.base
        if old is base:
            return
        number = self.number
        if number is not None and old is not None and self.state is HandsetState.CONNECTED:
            self.handover_to = base
            base._indicate(HandoverStartInd(number, old.rfpi))
            self._handover_timer = self.cluster.clock.call_at(
                self.cluster.clock.now() + HANDOVER_TIMEOUT_S, self._handover_timeout)
            return
        if number is not None and old is not None and self.state is not HandsetState.IDLE:
            old._calls.pop(number, None)
            if self.state is HandsetState.OFF_HOOK:
                old._indicate(OnHookInd(number, OnHookCause.LINK_LOST))
            self._idle()
        self.base = base
        if number is not None:
            if old is not None:
                old._indicate(LocationInd(number, False))
            base._indicate(LocationInd(number, True))

    def leave_range(self) -> None:
        """Out of every base's range: a call is lost."""
        old, number = self.base, self.number
        self.base = None
        if old is None or number is None:
            return
        old._calls.pop(number, None)
        if self.state in (HandsetState.OFF_HOOK, HandsetState.CONNECTED):
            old._indicate(OnHookInd(number, OnHookCause.LINK_LOST))
        old._indicate(LocationInd(number, False))
        self._idle()

    # --- the base's side ----------------------------------------------------------------------

    def _indicate(self, build: Callable[[int], Message]) -> bool:
        number = self.number
        if number is None or self.base is None or not self.base.ready:
            return False
        self.base._indicate(build(number))
        return True

    def _ring(self, base: DectModuleEmulator, number: str, name: str) -> None:
        self.state = HandsetState.RINGING
        self.caller_number, self.caller_name = number, name

    def _stop_ringing(self) -> None:
        self.state = HandsetState.IDLE

    def _connected(self, slot: int) -> None:
        self.state = HandsetState.CONNECTED
        self.pcm_slot = slot

    def _released_by_base(self) -> None:
        self._idle()
        self.display = "Call ended"

    def _dropped(self) -> None:
        self._idle()
        self.display = "Not registered"

    def _idle(self) -> None:
        self.state = HandsetState.IDLE
        self.pcm_slot = None
        self.caller_number = self.caller_name = ""
        self._cancel_handover()

    def _complete_handover(self, new: DectModuleEmulator, slot: int) -> None:
        old, number = self.base, self.number
        self._cancel_handover()
        if old is None or number is None:
            return
        old._calls.pop(number, None)
        self.base = new
        self.pcm_slot = slot
        new._indicate(HandoverDoneInd(number, old.rfpi))
        old._indicate(HandoverOutInd(number, new.rfpi))

    def _handover_timeout(self) -> None:
        new, old, number = self.handover_to, self.base, self.number
        self._handover_timer = None
        self.handover_to = None
        if new is not None and old is not None and number is not None:
            new._indicate(HandoverFailedInd(number, old.rfpi))

    def _cancel_handover(self) -> None:
        if self._handover_timer is not None:
            self._handover_timer.cancel()
        self._handover_timer = None
        self.handover_to = None
