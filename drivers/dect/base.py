"""`DectUartBase`: `hal.dect.DectBase` over a DECT base module on a UART (docs/dect-uart.md).

Bring-up (§7): SYS_RESET, wait ≤ 1 s for SYS_READY, SYS_INFO (RFPI, speech channels),
AUDIO_CONFIG with the board's PCM slots, HS_LIST. Afterwards the module's indications become
hal events, and hal commands become requests matched to confirms by `protocol.DectLink`.

I/O model — event-loop readiness, no thread. The tty is opened non-blocking (pyserial
`timeout=0`, `write_timeout=0`) and its file descriptor is watched with `loop.add_reader`; each
readiness reads what is waiting, at most `READ_CHUNK` = 512 bytes (44 ms of the line at
115 200 baud; framing and parsing that many of the shortest indications holds the loop 0.8 ms
on a desktop core, the rest is read on the next loop turn — a burst that long happens only
after a stall), and feeds the pure link. A write is one frame of ≤ 247 bytes into the tty's
4 KiB kernel buffer, so it returns at once; a short write means the module stopped draining
(CTS held low) and counts as a link failure. Chosen over a reader thread because nothing then needs
`call_soon_threadsafe` hand-offs or locks, cancellation and `close()` are plain, and the same
path runs in tests against the emulator (whose port offers a pipe as its `fileno()`) on the
manual clock, deterministically. The cost — POSIX only — is the box's platform anyway.

Faults (§6): a request unanswered after its retransmissions (0.9 s), a read/write error or an
unexpected SYS_READY (the module rebooted) put the base out of service: `PortAlarm` with the
reason, `HandsetOnHook` for every handset whose call died with it, `RegistrationWindowClosed`
if a window was open. A supervisor task then reopens the port and repeats the bring-up after
1, 2, 4 … 60 s; success brings `PortAlarmCleared`. While in service and idle it sends
SYS_PING after 5 s without a frame from the module, so a silent UART is found within ~6 s
even when nobody calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from drivers.dect.messages import (
    MAX_DISPLAY_CHARS,
    MAX_NAME_CHARS,
    MAX_NUMBER_CHARS,
    NUMBER_ALPHABET,
    AudioConfigReq,
    ConnectReq,
    DeregisteredInd,
    DisplayReq,
    HandoverDoneInd,
    HandoverFailedInd,
    HandoverOutInd,
    HandoverStartInd,
    HandsetDeleteReq,
    HandsetListCnf,
    HandsetListReq,
    InfoCnf,
    InfoReq,
    KeypadInd,
    LocationInd,
    Message,
    MessageError,
    MessageWaitingReq,
    OffHookInd,
    OnHookInd,
    PageReq,
    PingReq,
    ReadyInd,
    RegClosedInd,
    RegCloseReq,
    RegisteredInd,
    RegOpenReq,
    ReleaseReq,
    ResetReq,
    Status,
    StopPageReq,
    decode_indication,
)
from drivers.dect.protocol import (
    REQUEST_RETRIES,
    REQUEST_TIMEOUT_S,
    Confirmed,
    DectLink,
    IndicationReceived,
    RequestTimedOut,
)
from hal.audio import AudioPort
from hal.board import BoardEntry, BoardError
from hal.clock import Clock, TimerHandle
from hal.dect import CallerIdText, DectBase, Handset
from hal.device import Device
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
from hal.fxo import FxoPort
from hal.fxs import FxsPort
from hal.loader import BoardContext

log = logging.getLogger(__name__)

READ_CHUNK = 512
BAUD_RATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
DEFAULT_BAUD = 115200


class SerialPort(Protocol):
    """The slice of pyserial's `Serial` the driver uses, opened with timeout=0 and
    write_timeout=0 (non-blocking); the emulator's port implements it too. Every method may
    raise OSError (pyserial's SerialException is one)."""

    def read(self, size: int = 1, /) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...

    def fileno(self) -> int: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class DectTiming:
    """The driver's clocks (docs/dect-uart.md §6)."""

    request_timeout_s: float = REQUEST_TIMEOUT_S
    request_retries: int = REQUEST_RETRIES
    boot_timeout_s: float = 1.0
    """SYS_RESET confirm → SYS_READY."""
    keepalive_s: float = 5.0
    """Silence from the module after which an idle driver pings it."""
    retry_initial_s: float = 1.0
    retry_max_s: float = 60.0


class BaseDirectory:
    """RFPI → board device name, shared by the bases of one board, so a handover names the
    base it came from as the firmware knows it ("dect1")."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}

    def add(self, rfpi: str, name: str) -> None:
        self._names[rfpi] = name

    def name_of(self, rfpi: str) -> str:
        """The device name, or "rfpi:XXXXXXXXXX" for a base this board does not drive."""
        return self._names.get(rfpi, f"rfpi:{rfpi}")


class DectUartBase(DectBase):
    """One DECT base module behind the UART that `open_port()` opens (again on each retry)."""

    def __init__(self, name: str, open_port: Callable[[], SerialPort], clock: Clock,
                 audio_ports: Sequence[AudioPort], *, directory: BaseDirectory | None = None,
                 port_label: str = "the UART", timing: DectTiming | None = None,
                 queue_maxlen: int = DEFAULT_MAXLEN) -> None:
        super().__init__(name, audio_ports, queue_maxlen)
        if not self.audio_ports:
            raise ValueError(f"{name}: a DECT base needs at least one PCM slot")
        self._open_port = open_port
        self._clock = clock
        self.directory = directory if directory is not None else BaseDirectory()
        self.port_label = port_label
        self.timing = timing if timing is not None else DectTiming()
        self.link = self._new_link()
        """The link's counters (frame errors, retransmissions, lost indications)."""
        self.info: InfoCnf | None = None
        """What SYS_INFO said at the last bring-up."""
        self.malformed_indications = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._port: SerialPort | None = None
        self._fd: int | None = None
        self._timer: TimerHandle | None = None
        self._pending: dict[int, asyncio.Future[Confirmed]] = {}
        self._ready_waiter: asyncio.Future[None] | None = None
        self._nap_waiter: asyncio.Future[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._alarmed = False
        self._refresh_table = False
        self._registration_open = False
        self._handsets: dict[int, Handset] = {}
        self._calls: dict[int, AudioPort] = {}
        self._off_hook: set[int] = set()
        self._slots: tuple[AudioPort, ...] = self.audio_ports

    # --- DectBase --------------------------------------------------------------------------

    @property
    def registration_open(self) -> bool:
        return self._registration_open

    async def open_registration(self, duration_s: float, pin: str) -> None:
        """Raises ValueError for a duration outside 1–600 s or a PIN that is not 4 digits."""
        self._check_usable()
        duration = math.ceil(duration_s)
        request = RegOpenReq(duration, pin)
        request.encode()  # ValueError (MessageError) before anything is sent
        await self._request(request)
        self._registration_open = True

    async def close_registration(self) -> None:
        self._check_usable()
        await self._request(RegCloseReq())
        self._window_closed()

    def handsets(self) -> Sequence[Handset]:
        return tuple(self._handsets[n] for n in sorted(self._handsets))

    async def deregister(self, handset: int) -> None:
        self._check_usable(handset)
        await self._request(HandsetDeleteReq(handset))
        self._forget(handset)

    async def page(self, handset: int, caller_id: CallerIdText | None = None) -> None:
        self._check_usable(handset)
        number = name = ""
        if caller_id is not None:
            number = "".join(c for c in caller_id.number if c in NUMBER_ALPHABET)
            number = number[:MAX_NUMBER_CHARS]
            name = _display_text(caller_id.name, MAX_NAME_CHARS)
        await self._request(PageReq(handset, number, name))

    async def stop_paging(self, handset: int) -> None:
        self._check_usable(handset)
        await self._request(StopPageReq(handset))

    async def connect(self, handset: int) -> AudioPort:
        self._check_usable(handset)
        current = self._calls.get(handset)
        if current is not None:
            return current
        used = {p.slot for p in self._calls.values()}
        free = [p for p in self._slots if p.slot not in used]
        if not free:
            raise DeviceError(self.name, f"every speech slot is busy ({len(self._slots)})")
        port = free[0]
        self._calls[handset] = port  # reserved now: a concurrent connect() takes another
        try:
            await self._request(ConnectReq(handset, port.slot))
        except BaseException:
            if self._calls.get(handset) is port:
                del self._calls[handset]
            raise
        self._off_hook.add(handset)
        return port

    async def release(self, handset: int) -> None:
        self._check_usable(handset)
        await self._request(ReleaseReq(handset))
        self._calls.pop(handset, None)
        self._off_hook.discard(handset)

    async def show(self, handset: int, text: str) -> None:
        self._check_usable(handset)
        await self._request(DisplayReq(handset, _display_text(text, MAX_DISPLAY_CHARS)))

    async def set_message_waiting(self, handset: int, on: bool) -> None:
        self._check_usable(handset)
        await self._request(MessageWaitingReq(handset, on))

    # --- what else can be checked ------------------------------------------------------------

    @property
    def rfpi(self) -> str | None:
        return self.info.rfpi if self.info is not None else None

    def call_slot(self, handset: int) -> AudioPort | None:
        """The PCM slot carrying `handset`'s call, or None."""
        return self._calls.get(handset)

    # --- lifetime ----------------------------------------------------------------------------

    async def _open(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            await self._bring_up()
        except DeviceError as exc:
            self._fail(exc.reason)
        self._supervisor = self._loop.create_task(self._supervise(),
                                                  name=f"{self.name} supervisor")

    async def _close(self) -> None:
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        self._abort_requests(RuntimeError(f"{self.name}: closed"))
        self._drop_port()

    async def _bring_up(self) -> None:
        """Open the port and initialise the module. Raises DeviceError (the port stays
        closed) when any step fails."""
        assert self._loop is not None
        self._drop_port()
        try:
            port = self._open_port()
        except OSError as exc:
            raise DeviceNotResponding(self.name, f"cannot open {self.port_label}: {exc}") \
                from exc
        self._port = port
        try:
            port.reset_input_buffer()
            self._fd = port.fileno()
            self._loop.add_reader(self._fd, self._on_readable)
        except OSError as exc:
            self._drop_port()
            raise DeviceNotResponding(self.name, f"{self.port_label}: {exc}") from exc
        try:
            await self._reset_module()
            info = self._decode(InfoCnf, await self._request(InfoReq()))
            self._slots = self.audio_ports[:info.speech_channels]
            if len(self._slots) < len(self.audio_ports):
                log.warning("%s: the module has %d speech channels; PCM slots %s stay unused",
                            self.name, info.speech_channels,
                            [p.slot for p in self.audio_ports[info.speech_channels:]])
            await self._configure_audio()
            await self._read_table()
        except DeviceError:
            self._drop_port()
            raise
        self.info = info
        self.directory.add(info.rfpi, self.name)
        log.info("%s: DECT module %d.%d, RFPI %s, %d handsets, PCM slots %s", self.name,
                 info.firmware_major, info.firmware_minor, info.rfpi, len(self._handsets),
                 [p.slot for p in self._slots])

    async def _reset_module(self) -> None:
        """SYS_RESET, then wait for SYS_READY (the module is silent while it boots)."""
        assert self._loop is not None
        self._ready_waiter = self._loop.create_future()
        try:
            await self._request(ResetReq())
            await self._await_within(self._ready_waiter, self.timing.boot_timeout_s,
                                     "no SYS_READY after SYS_RESET")
        finally:
            waiter, self._ready_waiter = self._ready_waiter, None
            if waiter.done() and not waiter.cancelled():
                waiter.exception()  # failed while the reset itself was unanswered: seen

    async def _configure_audio(self) -> None:
        """AUDIO_CONFIG: the PCM slots the module's speech channels use (before any call)."""
        await self._request(AudioConfigReq(tuple(p.slot for p in self._slots)))

    async def _read_table(self) -> None:
        table = self._decode(HandsetListCnf, await self._request(HandsetListReq()))
        self._handsets = {r.number: Handset(r.number, r.ipui, r.in_range)
                          for r in table.handsets}

    async def _supervise(self) -> None:
        """Keep the link alive while in service; bring it back with back-off when not."""
        backoff = self.timing.retry_initial_s
        while True:
            if self._port is not None:
                await self._nap(self.timing.keepalive_s)
                if self._port is None:
                    continue
                try:
                    if self._refresh_table:
                        self._refresh_table = False
                        await self._read_table()
                    last = self.link.last_received_at
                    idle_s = math.inf if last is None else self._clock.now() - last
                    if not self.link.busy and idle_s >= self.timing.keepalive_s - 1e-6:
                        await self._request(PingReq())
                except DeviceError as exc:
                    log.debug("%s: keepalive: %s", self.name, exc)
                continue
            await self._nap(backoff)
            try:
                await self._bring_up()
            except DeviceError as exc:
                backoff = min(backoff * 2.0, self.timing.retry_max_s)
                log.info("%s: still out of service (%s); next try in %.0f s", self.name,
                         exc.reason, backoff)
                self._fail(exc.reason)
                continue
            backoff = self.timing.retry_initial_s
            self._restored()

    # --- requests ----------------------------------------------------------------------------

    async def _request(self, message: Message) -> bytes:
        """Send `message`, wait for its confirm; the body after an OK status. Raises
        DeviceNotResponding (no answer: the base goes out of service), KeyError (unknown
        handset), LineFault (out of range), DeviceFault/DeviceError (refused)."""
        if self._port is None or self._loop is None:
            raise DeviceNotResponding(self.name, self.status.reason or "port not open")
        payload = message.encode()
        handle = self.link.request(message.CODE, payload, self._clock.now())
        future: asyncio.Future[Confirmed] = self._loop.create_future()
        self._pending[handle] = future
        self._pump()
        try:
            confirm = await future
        finally:
            self._pending.pop(handle, None)
        if confirm.status != Status.OK:
            raise self._refused(message, confirm.status)
        return confirm.body

    def _refused(self, message: Message, status: int) -> Exception:
        handset: Any = getattr(message, "handset", None)
        what = type(message).__name__.removesuffix("Req")
        try:
            named = Status(status).name
        except ValueError:
            named = f"status 0x{status:02X}"
        if status == Status.UNKNOWN_HANDSET and handset is not None:
            self._refresh_table = True
            return KeyError(handset)
        if status == Status.OUT_OF_RANGE:
            return LineFault(self.name, f"handset {handset} is out of range of this base")
        if status == Status.BUSY:
            return DeviceError(self.name, f"handset {handset} is busy")
        if status == Status.SLOT_BUSY:
            return DeviceError(self.name, f"{what}: the module's speech slot is busy")
        return DeviceFault(self.name, f"{what} refused by the module: {named}")

    def _decode(self, cls: type[InfoCnf] | type[HandsetListCnf], body: bytes) -> Any:
        try:
            return cls.decode(body)
        except MessageError as exc:
            raise DeviceFault(self.name, f"malformed {cls.__name__}: {exc}") from exc

    async def _await_within(self, future: asyncio.Future[None], timeout_s: float,
                            reason: str) -> None:
        def expire() -> None:
            if not future.done():
                future.set_exception(DeviceNotResponding(self.name, reason))

        timer = self._clock.call_at(self._clock.now() + timeout_s, expire)
        try:
            await future
        finally:
            timer.cancel()

    async def _nap(self, seconds: float) -> None:
        """Sleep on the clock; `_wake()` ends it early."""
        assert self._loop is not None
        future: asyncio.Future[None] = self._loop.create_future()
        self._nap_waiter = future

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self._clock.call_at(self._clock.now() + seconds, wake)
        try:
            await future
        finally:
            timer.cancel()
            self._nap_waiter = None

    def _wake(self) -> None:
        if self._nap_waiter is not None and not self._nap_waiter.done():
            self._nap_waiter.set_result(None)

    # --- the wire ----------------------------------------------------------------------------

    def _on_readable(self) -> None:
        port = self._port
        if port is None:
            return
        try:
            data = port.read(READ_CHUNK)
        except OSError as exc:
            self._fail(f"{self.port_label}: read failed: {exc}")
            return
        if data:
            self.link.receive(data, self._clock.now())
            self._pump()

    def _on_timer(self) -> None:
        self._timer = None
        self.link.handle_timers(self._clock.now())
        self._pump()

    def _pump(self) -> None:
        """Write what the link has to send, act on its events, re-arm its timer."""
        port = self._port
        for data in self.link.outgoing():
            if port is None:
                break
            try:
                written = port.write(data)
            except OSError as exc:
                self._fail(f"{self.port_label}: write failed: {exc}")
                return
            if written is not None and written < len(data):
                self._fail(f"{self.port_label}: write stalled (module not reading)")
                return
        while (event := self.link.next_event()) is not None:
            if isinstance(event, Confirmed):
                future = self._pending.get(event.request)
                if future is not None and not future.done():
                    future.set_result(event)
            elif isinstance(event, RequestTimedOut):
                self._fail(f"no answer from the DECT module on {self.port_label}")
                return
            else:
                self._indication(event)
        self._rearm()

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.link.next_deadline()
        if deadline is not None and self._port is not None:
            self._timer = self._clock.call_at(deadline, self._on_timer)

    def _new_link(self) -> DectLink:
        return DectLink(self.timing.request_timeout_s, self.timing.request_retries)

    def _drop_port(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._fd is not None and self._loop is not None:
            self._loop.remove_reader(self._fd)
        self._fd = None
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except OSError as exc:
                log.debug("%s: closing %s: %s", self.name, self.port_label, exc)

    def _abort_requests(self, error: Exception) -> None:
        self.link.abort()
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)
        waiter = self._ready_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    # --- faults --------------------------------------------------------------------------------

    def _fail(self, reason: str) -> None:
        """The module is lost: out of service, alarm once, end what depended on it."""
        now = self._clock.now()
        self._abort_requests(DeviceNotResponding(self.name, reason))
        self._drop_port()
        self._out_of_service(reason)
        if not self._alarmed:
            self._alarmed = True
            log.warning("%s: out of service: %s", self.name, reason)
            self._emit(PortAlarm(self.name, now, reason))
        for handset in sorted(self._off_hook | set(self._calls)):
            self._emit(HandsetOnHook(self.name, now, handset))
        self._off_hook.clear()
        self._calls.clear()
        self._window_closed()
        self._wake()

    def _restored(self) -> None:
        self._in_service()
        if self._alarmed:
            self._alarmed = False
            log.warning("%s: back in service", self.name)
            self._emit(PortAlarmCleared(self.name, self._clock.now()))

    def _check_usable(self, handset: int | None = None) -> None:
        if self.closed or not self._opened:
            raise RuntimeError(f"{self.name}: not open")
        if not self.status.in_service or self._port is None:
            raise DeviceNotResponding(self.name, self.status.reason or "out of service")
        if handset is not None and handset not in self._handsets:
            raise KeyError(handset)

    # --- indications ---------------------------------------------------------------------------

    def _indication(self, event: IndicationReceived) -> None:
        if event.lost:
            log.warning("%s: %d indications lost on the UART; re-reading the handset table",
                        self.name, event.lost)
            self._refresh_table = True
        try:
            message = decode_indication(event.code, event.payload)
        except MessageError as exc:
            self.malformed_indications += 1
            log.debug("%s: indication 0x%02X dropped: %s", self.name, event.code, exc)
            return
        now = self._clock.now()
        name = self.name
        match message:
            case ReadyInd():
                waiter = self._ready_waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                else:
                    self._fail("the DECT module restarted on its own")
            case RegClosedInd():
                self._window_closed()
            case RegisteredInd(handset=n, ipui=ipui, here=here):
                known = self._handsets.get(n)
                in_range = here or (known is not None and known.ipui == ipui and known.in_range)
                self._handsets[n] = Handset(n, ipui, in_range)
                self._emit(HandsetRegistered(name, now, n, ipui))
            case DeregisteredInd(handset=n):
                self._forget(n)
            case LocationInd(handset=n, in_range=in_range):
                self._locate(n, in_range)
            case OffHookInd(handset=n):
                self._off_hook.add(n)
                self._emit(HandsetOffHook(name, now, n))
            case OnHookInd(handset=n):
                self._off_hook.discard(n)
                self._calls.pop(n, None)
                self._emit(HandsetOnHook(name, now, n))
            case KeypadInd(handset=n, keys=keys):
                self._emit(KeypadPressed(name, now, n, keys))
            case HandoverStartInd(handset=n, from_rfpi=rfpi):
                self._locate(n, True)
                self._emit(HandoverStarted(name, now, n, self.directory.name_of(rfpi)))
            case HandoverDoneInd(handset=n, from_rfpi=rfpi):
                self._off_hook.add(n)
                self._emit(HandoverCompleted(name, now, n, self.directory.name_of(rfpi)))
            case HandoverOutInd(handset=n, to_rfpi=rfpi):
                self._calls.pop(n, None)
                self._off_hook.discard(n)
                self._locate(n, False)
                log.info("%s: handset %d handed over to %s", name, n,
                         self.directory.name_of(rfpi))
            case HandoverFailedInd(handset=n, from_rfpi=rfpi):
                self._calls.pop(n, None)
                self._locate(n, False)
                log.warning("%s: handover of handset %d from %s failed", name, n,
                            self.directory.name_of(rfpi))
            case _:
                log.debug("%s: indication %s ignored", name, message)

    def _window_closed(self) -> None:
        if self._registration_open:
            self._registration_open = False
            self._emit(RegistrationWindowClosed(self.name, self._clock.now()))

    def _forget(self, handset: int) -> None:
        if self._handsets.pop(handset, None) is not None:
            self._calls.pop(handset, None)
            self._off_hook.discard(handset)
            self._emit(HandsetDeregistered(self.name, self._clock.now(), handset))

    def _locate(self, handset: int, in_range: bool) -> None:
        known = self._handsets.get(handset)
        if known is None:
            self._refresh_table = True
        elif known.in_range != in_range:
            self._handsets[handset] = Handset(handset, known.ipui, in_range)


def _display_text(text: str, max_chars: int) -> str:
    """`text` in the module's character set (ISO 8859-1 printable, others as "?"), cut to
    `max_chars`."""
    out = "".join(c if (" " <= c <= "~" or "\xa0" <= c <= "\xff") else "?" for c in text)
    return out[:max_chars]


# --- the board factory ------------------------------------------------------------------------

_OPTIONS = ("uart", "baud_rate", "rtscts", "pcm_slots")


def create_devices(entry: BoardEntry, next_name: Callable[[], str],
                   context: BoardContext) -> Sequence[Device]:
    """The "dect" driver: one base module per `[[dect]]` entry.

        [[dect]]
        driver = "dect"
        uart = "/dev/ttyAMA1"     # the module's UART
        baud_rate = 115200        # optional
        rtscts = false            # optional: hardware flow control
        pcm_slots = [6, 7]        # TDM slots of the module's speech channels

    Raises BoardError naming every problem.
    """
    problems: list[str] = []
    path = entry.path
    options = entry.options
    for key in sorted(set(options) - set(_OPTIONS)):
        problems.append(f"{path}.{key}: unknown option of the dect driver; it takes "
                        + ", ".join(f"`{k}`" for k in _OPTIONS))
    uart = options.get("uart")
    if not isinstance(uart, str) or not uart.startswith("/dev/"):
        problems.append(f'{path}.uart: must be the module\'s tty, e.g. uart = "/dev/ttyAMA1"')
    baud = options.get("baud_rate", DEFAULT_BAUD)
    if baud not in BAUD_RATES or isinstance(baud, bool):
        problems.append(f"{path}.baud_rate: must be one of {', '.join(map(str, BAUD_RATES))}, "
                        f"not {baud!r}")
    rtscts = options.get("rtscts", False)
    if not isinstance(rtscts, bool):
        problems.append(f"{path}.rtscts: must be true or false, not {rtscts!r}")
    slots = options.get("pcm_slots")
    if (not isinstance(slots, list) or not 1 <= len(slots) <= 8
            or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= 63
                       for s in slots) or len(set(slots)) != len(slots)):
        problems.append(f"{path}.pcm_slots: must list 1-8 distinct slots 0-63, "
                        f"e.g. pcm_slots = [6, 7]")
        slots = []
    used: dict[int, str] = {}
    directory: BaseDirectory | None = None
    for device in context.devices:
        if isinstance(device, FxsPort | FxoPort):
            used[device.audio.slot] = device.name
        elif isinstance(device, DectBase):
            used.update((p.slot, device.name) for p in device.audio_ports)
        if isinstance(device, DectUartBase):
            directory = device.directory
    for slot in slots:
        if slot in used:
            problems.append(f"{path}.pcm_slots: slot {slot} already carries {used[slot]}")
    try:
        import serial  # pyserial: imported here so boards without DECT need not have it
    except ImportError:
        problems.append(f"{path}.driver: the dect driver needs pyserial (pip install pyserial)")
    if problems or not isinstance(uart, str):
        raise BoardError("dect", problems)
    tty: str = uart

    def open_port() -> SerialPort:
        return serial.Serial(tty, baudrate=baud, timeout=0, write_timeout=0,
                             rtscts=rtscts, exclusive=True)

    name = next_name()
    return [DectUartBase(name, open_port, context.clock,
                         [AudioPort(f"{name}.{i}", s) for i, s in enumerate(slots, 1)],
                         directory=directory or BaseDirectory(), port_label=tty)]
