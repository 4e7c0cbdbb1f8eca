"""The analog ports on the network: one RTP socket per PCM slot, and the 20 ms media tick.

`PortMedia` is the I/O adapter of the pure `AnalogMediaEngine` (`bridge.py`): engine port
index == PCM slot number. Every leg of a call is an RTP endpoint and the call's relay joins
them, so every slot gets a UDP socket on `host` (127.0.0.1: only the call's `RelaySession`
talks to it); the call controller tells it where the
slot's RTP goes (`connect`), and only that address may feed the slot — a datagram from any other
source is dropped and counted (`drop_wrong_source`), so a stray or spoofed stream never reaches
a line.

`run()` is the media loop: `captured = await bus.exchange(playback)` (the bus paces it, 20 ms
by the board clock), `engine.tick(captured, now)`, send the tick's packets, keep its playback
for the next exchange and hand its events (in-band digits, relayed RFC 4733 digits, tones
finished) to every `subscribe`r. A bus that raises (`DeviceError`, or RuntimeError from a bus
out of service) is logged once per outage and retried with back-off from 20 ms to 1 s; the loop
only ends when cancelled.

Figures (tests/unit/media/ports, sim board on the MonotonicClock, 8 slots, two joined through
UDP loopback): a −10 dBm0 1 kHz tone spoken on fxs1 is heard on fxs2 at −10.02 dBm0 (PCMA) and
−9.99 dBm0 (PCMU), both ways (asserted ±1 dB). Loop time per tick with all 8 slots connected
and talking (uvloop, shared 2-core VM): ≈ 2.2 ms, of which ≈ 2.1 ms is `engine.tick` (echo
canceller and DTMF over 8 channels, slower with a cold cache after each 20 ms wait than in a
tight loop, where it takes 0.8 ms) and ≈ 0.15 ms this adapter's 8 sends and dispatch
(`stats()`: `tick_total_us`, `engine_total_us`, `tick_overruns` over 2 ms). Levels follow
G.711: a full-scale int16 sine is +3.17 dBm0, a 0 dBm0 sine peaks at 32767·10^(−3.17/20).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import socket
import time
from collections.abc import Callable
from typing import Any, cast

from firmware.media.bridge import AnalogMediaEngine, MediaEvent
from firmware.media.codecs.codec import Encoding
from firmware.media.dsp.tones import ToneKind
from hal.audio import Frame, PcmBus, check_frame, silence
from hal.clock import Clock
from hal.errors import DeviceError

log = logging.getLogger(__name__)

TICK_BUDGET_S = 0.002
"""Loop time one tick may take (engine, sends, events) before it counts as an overrun."""
BUS_RETRY_MIN_S = 0.02
BUS_RETRY_MAX_S = 1.0
"""Back-off between attempts on a failing PCM bus: one tick, doubling to one second."""
DSCP_EF = 46
"""RFC 4594 §4.1 telephony: Expedited Forwarding (the relay marks its sockets the same)."""

Address = tuple[str, int]
MediaCallback = Callable[[MediaEvent], None]

_DROP_REASONS = ("wrong_source", "not_connected")


def _normalise(remote: Address) -> Address:
    """`remote` as the socket reports sources: a canonical IP literal and the port."""
    host, port = remote
    if not 0 < port <= 65535:
        raise ValueError(f"RTP port must be 1-65535, not {port}")
    return str(ipaddress.ip_address(host)), port


class _SlotProtocol(asyncio.DatagramProtocol):
    """One slot's socket: datagrams go to `PortMedia._received` with the slot number."""

    def __init__(self, owner: PortMedia, slot: int) -> None:
        self._owner = owner
        self._slot = slot

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self._owner._received(self._slot, data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a peer that went away: counted, not fatal (UDP).
        self._owner._send_errors += 1
        log.debug("slot %d: socket error %s", self._slot, exc)


class PortMedia:
    """RTP sockets of the PCM bus's slots and the 20 ms tick that runs the analog media engine.

    Lifetime: `await start()` (binds the sockets), run `run()` as a task of the media
    supervisor, `connect`/`disconnect`/`play_tone` from the call controller on the loop thread,
    `await close()` (idempotent) at shutdown. Not thread-safe: everything runs on one loop.
    """

    def __init__(
        self, bus: PcmBus, engine: AnalogMediaEngine, clock: Clock, *, host: str = "127.0.0.1"
    ) -> None:
        """Raises ValueError unless the engine has one port per bus slot."""
        if engine.channels != bus.slots:
            raise ValueError(
                f"the engine has {engine.channels} ports but {bus.name} has {bus.slots} slots"
            )
        self._bus = bus
        self._engine = engine
        self._clock = clock
        self._host = host
        self._slots = bus.slots
        self._transports: list[asyncio.DatagramTransport] = []
        self._remotes: list[Address | None] = [None] * self._slots
        self._subscribers: list[MediaCallback] = []
        self._closed = False
        self._ticks = 0
        self._sent = 0
        self._received_count = 0
        self._drops = dict.fromkeys(_DROP_REASONS, 0)
        self._send_errors = 0
        self._bus_errors = 0
        self._callback_errors = 0
        self._overruns = 0
        self._tick_total_us = 0
        self._engine_total_us = 0
        self._tick_max_us = 0

    # -- lifetime --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind one UDP socket per slot on an ephemeral port of `host`. Raises OSError when a
        socket cannot be bound (nothing stays bound then), RuntimeError when started twice or
        after `close()`."""
        if self._transports or self._closed:
            raise RuntimeError("PortMedia: start() once, before close()")
        loop = asyncio.get_running_loop()
        transports: list[asyncio.DatagramTransport] = []
        try:
            for slot in range(self._slots):
                transport, _ = await loop.create_datagram_endpoint(
                    functools.partial(_SlotProtocol, self, slot),
                    local_addr=(self._host, 0),
                )
                _mark_expedited(transport)
                transports.append(transport)
        except BaseException:
            for transport in transports:
                transport.close()
            raise
        self._transports = transports
        log.debug("%d slot sockets bound on %s", len(transports), self._host)

    async def close(self) -> None:
        """Close every socket; idempotent. Cancel `run()` first (it is the caller's task)."""
        if self._closed:
            return
        self._closed = True
        for transport in self._transports:
            transport.close()
        self._remotes = [None] * self._slots
        # Let the transports' connection_lost callbacks run before the loop may close.
        await asyncio.sleep(0)

    # -- control ---------------------------------------------------------------------------------

    def _check_slot(self, slot: int) -> None:
        if not 0 <= slot < self._slots:
            raise ValueError(f"slot {slot} is not in 0..{self._slots - 1}")

    def address(self, slot: int) -> Address:
        """Where RTP for `slot` must be sent (its socket's host and port). Raises ValueError
        for a slot outside the bus, RuntimeError before `start()`."""
        self._check_slot(slot)
        if not self._transports:
            raise RuntimeError("PortMedia: address() before start()")
        sockname = self._transports[slot].get_extra_info("sockname")
        return str(sockname[0]), int(sockname[1])

    def connect(
        self,
        slot: int,
        remote: Address,
        codec: Encoding,
        payload_type: int,
        telephone_event_pt: int | None,
    ) -> None:
        """Join `slot` to the RTP stream at `remote` (an IP literal and port, e.g. the relay
        endpoint of the call): `codec` under `payload_type` both ways, RFC 4733 under
        `telephone_event_pt` (None: digits stay in-band). Only datagrams from `remote` feed the
        slot from now on. Replaces any previous connection. Raises ValueError for a bad slot,
        a codec other than G.711, or `remote` not an IP literal with a port 1-65535."""
        self._check_slot(slot)
        normalised = _normalise(remote)
        self._engine.connect(slot, codec, payload_type, telephone_event_pt, self._clock.now())
        self._remotes[slot] = normalised

    def disconnect(self, slot: int) -> None:
        """Stop `slot`'s RTP both ways; a no-op when not connected."""
        self._check_slot(slot)
        self._engine.disconnect(slot)
        self._remotes[slot] = None

    def play_tone(self, slot: int, kind: ToneKind | None) -> None:
        """Play `kind` of the engine's tone plan on `slot` from its start (None: stop)."""
        self._engine.play_tone(slot, kind)

    def subscribe(self, callback: MediaCallback) -> Callable[[], None]:
        """Call `callback(event)` for every event of every tick, on the loop thread, in order.
        Returns the unsubscribe function (harmless to call twice). A callback that raises is
        logged and counted (`callback_errors`); the tick and the other subscribers go on. A
        callback must not block: it runs inside the 20 ms tick."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    # -- the network -------------------------------------------------------------------------------

    def _received(self, slot: int, data: bytes, addr: tuple[Any, ...]) -> None:
        remote = self._remotes[slot]
        if remote is None:
            self._drops["not_connected"] += 1
            return
        if addr[1] != remote[1] or addr[0] != remote[0]:
            self._drops["wrong_source"] += 1
            return
        self._received_count += 1
        self._engine.receive(slot, data, self._clock.now())

    # -- the tick ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Exchange, tick, send and dispatch every 20 ms until cancelled (see the module
        docstring). Raises RuntimeError before `start()` or after `close()`."""
        if not self._transports or self._closed:
            raise RuntimeError("PortMedia: run() needs start() and no close()")
        playback: Frame = silence(self._slots)
        backoff_s = 0.0
        failing = False
        errors_before = 0
        while True:
            try:
                captured = await self._bus.exchange(playback)
                check_frame(captured, self._slots)
            except (DeviceError, RuntimeError, ValueError) as exc:
                # RuntimeError: a bus out of service; ValueError: a malformed capture.
                self._bus_errors += 1
                if not failing:
                    failing = True
                    errors_before = self._bus_errors - 1
                    log.warning("%s failed, retrying with back-off: %s", self._bus.name, exc)
                backoff_s = min(max(2 * backoff_s, BUS_RETRY_MIN_S), BUS_RETRY_MAX_S)
                playback = silence(self._slots)
                await self._clock.sleep(backoff_s)
                continue
            if failing:
                failing = False
                backoff_s = 0.0
                log.warning("%s works again after %d failed exchanges", self._bus.name,
                            self._bus_errors - errors_before)
            playback = self._tick(captured)

    def _tick(self, captured: Frame) -> Frame:
        started = time.perf_counter()
        result = self._engine.tick(captured, self._clock.now())
        engine_done = time.perf_counter()
        transports, remotes = self._transports, self._remotes
        for slot, data in result.packets:
            remote = remotes[slot]
            if remote is None:  # packets of a slot disconnected meanwhile
                continue
            transports[slot].sendto(data, remote)
            self._sent += 1
        for event in result.events:
            for callback in tuple(self._subscribers):
                try:
                    callback(event)
                except Exception:  # a subscriber's bug must not stop the lines' audio
                    self._callback_errors += 1
                    log.exception("media event subscriber %r failed on %r", callback, event)
        self._ticks += 1
        spent_us = int((time.perf_counter() - started) * 1e6)
        self._tick_total_us += spent_us
        self._engine_total_us += int((engine_done - started) * 1e6)
        self._tick_max_us = max(self._tick_max_us, spent_us)
        if spent_us > TICK_BUDGET_S * 1e6:
            self._overruns += 1
        return result.playback

    def stats(self) -> dict[str, int]:
        """Counters since `start`: ticks, packets sent/received (accepted from the remote),
        drops by reason (`drop_wrong_source`, `drop_not_connected`, and the engine's
        `drop_malformed`, …), send errors, bus errors, callback errors, tick overruns (ticks
        over the 2 ms budget), and the loop time of ticks in µs (total and max; `engine_total_us`
        is the engine's share of the total, the rest is sending and event dispatch)."""
        out = {
            "ticks": self._ticks,
            "packets_sent": self._sent,
            "packets_received": self._received_count,
            "send_errors": self._send_errors,
            "bus_errors": self._bus_errors,
            "bus_xruns": self._bus.xruns,
            "callback_errors": self._callback_errors,
            "tick_overruns": self._overruns,
            "tick_total_us": self._tick_total_us,
            "engine_total_us": self._engine_total_us,
            "tick_max_us": self._tick_max_us,
        }
        for reason, count in self._drops.items():
            out[f"drop_{reason}"] = count
        for engine_reason, count in self._engine.drops.items():
            out[f"drop_{engine_reason.value}"] = out.get(f"drop_{engine_reason.value}", 0) + count
        return out


def _mark_expedited(transport: asyncio.DatagramTransport) -> None:
    """DSCP EF on the socket where the platform allows it (a LAN switch may prioritise it)."""
    sock = cast(socket.socket | None, transport.get_extra_info("socket"))
    if sock is None:
        return
    with contextlib.suppress(OSError):
        if sock.family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, DSCP_EF << 2)
        elif sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, DSCP_EF << 2)
