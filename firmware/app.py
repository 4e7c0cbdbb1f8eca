"""The composition root: builds the running box from one configuration revision and runs it.

Order of start: board → media relay → SIP transport → transaction layer and stack → call
controller; the "ready" line and systemd READY=1 come only when SIP is listening. On SIGTERM or
Ctrl-C every call gets BYE (or 503 while ringing), and the process is gone within 2 s.

Configuration revisions applied while running replace the directory of users and devices;
calls in progress keep the legs and media they have (nothing is torn down to apply config).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import secrets
import signal
import socket
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from firmware import simulation
from firmware.bus import EventBus
from firmware.calls.controller import CallController, ControllerSettings
from firmware.calls.modes import ModeService
from firmware.calls.office import build_office
from firmware.calls.ports import PortServices
from firmware.cli import Loop, RunOptions
from firmware.clock import MonotonicClock
from firmware.config.durable import write_atomic
from firmware.config.errors import ConfigError
from firmware.config.schema import Config, DigestAlgorithm
from firmware.config.store import ConfigStore, NoActiveRevision, Revision
from firmware.media.forwarder import KernelForwarder, NftCommand
from firmware.media.hold import HoldMusic
from firmware.media.relay import MediaRelay, PortAllocator
from firmware.records.cdr import CallRecorder
from firmware.records.store import RecordWriter, db_path, record_calls
from firmware.service.systemd import Notifier
from firmware.sip.auth import Algorithm, DigestAuthenticator, FailureThrottle
from firmware.sip.message import Limits
from firmware.sip.peer import Peer, Transport
from firmware.sip.registrar import Registrar, RegistrarPolicy
from firmware.sip.stack import TransactionStack
from firmware.sip.transaction import TransactionEvent, TransactionLayer
from firmware.sip.transport import SipTransport
from hal.board import Board, BoardError, find_board, load_board
from hal.fxo import FxoPort
from hal.loader import create_board
from hal.sim.board import SimBoard

log = logging.getLogger(__name__)

MEDIA_ROOT = Path(sys.prefix) / "share" / "switchbox"
"""Music on hold and prompts, built by `setup.sh run` into the virtual environment."""

EX_OK = 0
EX_CONFIG = 78
EX_UNAVAILABLE = 69
STATUS_INTERVAL_S = 10.0
EXPIRY_INTERVAL_S = 5.0


def advertised_host(config: Config, listen: str) -> str:
    """The address phones must send to: configured, else the listen address, else the
    address of the interface holding the default route (found by a UDP connect, which sends
    nothing), else loopback."""
    if config.sip.advertise:
        return config.sip.advertise
    if listen not in ("0.0.0.0", "::", ""):
        return listen
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: a route lookup only, no packet leaves
        host: str = probe.getsockname()[0]
        return host
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


def _nonce_secret(data_dir: Path) -> bytes:
    """A per-box secret for stateless nonces, kept so that challenges survive a restart."""
    path = data_dir / "secrets" / "nonce.key"
    try:
        secret = path.read_bytes()
        if len(secret) >= 32:
            return secret
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = secrets.token_bytes(32)
    write_atomic(path, secret, mode=0o600)
    return secret


class _DeferredTu:
    """The stack needs its TU at construction and the controller needs the stack: this
    forwards to the controller once both exist."""

    target: CallController | None = None

    def handle(self, event: TransactionEvent) -> None:
        if self.target is not None:
            self.target.handle(event)


async def serve(
    options: RunOptions,
    out: TextIO = sys.stdout,
    stop: asyncio.Event | None = None,
    *,
    bus: EventBus | None = None,
    layer: TransactionLayer | None = None,
    board: Board | None = None,
) -> int:
    """Run until `stop` is set (or SIGTERM/SIGINT). Returns the process exit code.

    `bus` lets an embedding program (the scenario tests, later the web page) watch the events;
    `layer` lets tests run the RFC 3261 timers faster than a network would allow; `board`
    (not yet opened) lets a rehearsal drive the simulated phones and lines it built."""
    store = ConfigStore(options.data_dir)
    try:
        try:
            _, stored = store.current()
        except NoActiveRevision:  # started without the CLI's preparation (tests, bench)
            stored = store.bootstrap().config
        config = options.apply_to(stored)
    except ConfigError as exc:
        log.error("cannot start with this configuration:\n%s", exc)
        return EX_CONFIG
    clock = MonotonicClock()
    notifier = Notifier()
    bus = bus if bus is not None else EventBus()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    try:
        if board is None:
            board = create_board(load_board(find_board(options.board)))
        sim = simulation.wire(board)
    except (BoardError, FileNotFoundError, LookupError) as exc:
        log.error("board %r unusable: %s", options.board, exc)
        return EX_CONFIG

    sip = config.sip
    advertise = advertised_host(config, sip.listen)
    ports = PortAllocator(sip.rtp_ports.start, sip.rtp_ports.end)
    relay = MediaRelay(advertise if _is_ip(advertise) else "127.0.0.1", ports,
                       bind_host=sip.listen if sip.listen not in ("", "::") else "0.0.0.0",
                       spare_endpoints=min(MAX_SPARE_ENDPOINTS, ports.capacity // 4))
    # `stack` and `controller` are bound below; the transport calls these only after a send,
    # and nothing is sent before both exist.
    def on_send_failed(peer: Peer) -> None:
        stack.transport_failed(peer)

    def on_connection_closed(peer: Peer) -> None:
        controller.connection_closed(peer)

    transports = [Transport(t.upper()) for t in sip.transports]
    transport = SipTransport(
        listen_host=sip.listen, port=sip.port, transports=transports,
        limits=Limits(), clock=clock, advertised_host=advertise,
        on_send_failed=on_send_failed, on_connection_closed=on_connection_closed,
    )
    layer = layer if layer is not None else TransactionLayer()
    policy = RegistrarPolicy(sip.registration.min_expires_s, sip.registration.max_expires_s,
                             sip.registration.default_expires_s)
    registrar = Registrar(policy)
    authenticator = DigestAuthenticator(
        sip.realm, _nonce_secret(options.data_dir),
        algorithms=[_ALGORITHMS[a] for a in sip.digest_algorithms])
    stopping_at = loop.time()
    forwarder: KernelForwarder | None = None
    forwarding: asyncio.Task[None] | None = None
    mode_clock: asyncio.Task[None] | None = None
    console: asyncio.Task[None] | None = None
    records = RecordWriter(db_path(options.data_dir))
    records_stop = asyncio.Event()
    recording: asyncio.Task[None] | None = None
    async with board:
        try:
            await transport.start()
        except OSError as exc:
            log.error("cannot listen for SIP on %s:%d: %s", sip.listen, sip.port, exc)
            return EX_UNAVAILABLE
        try:
            tu = _DeferredTu()
            stack = TransactionStack(layer, transport, clock, tu)
            ports_service = None
            office = build_office(config, [d.name for d in board.devices if isinstance(d, FxoPort)])
            controller = CallController(
                stack=stack, directory=office.directory, registrar=registrar,
                authenticator=authenticator, relay=relay, bus=bus, clock=clock,
                settings=_controller_settings(advertise, config),
                throttle=FailureThrottle(),
            )
            tu.target = controller
            modes = ModeService(bus, options.data_dir / "state" / MODE_FILE)
            modes.apply(office.schedule, datetime.now(UTC),
                        authorised_users=office.mode_switchers)
            controller.modes = modes
            ports_service = PortServices(board, controller, config, bus=bus,
                                         mode=lambda: modes.mode)
            ports_service.apply(office, config)
            hold_music = HoldMusic(MEDIA_ROOT / "moh")
            controller.hold_music = hold_music
            _keep_forwarding(controller, options.data_dir / FORWARDING_FILE)

            def on_revision(revision: Revision, new: Config) -> None:
                try:
                    effective = options.apply_to(new)  # command-line overrides stay in force
                except ConfigError as exc:
                    log.error("revision %d conflicts with the command line; not applied:\n%s",
                              revision.number, exc)
                    return
                if effective.sip != config.sip:
                    log.warning("revision %d changes SIP settings; they take effect at the "
                                "next start", revision.number)
                revised = build_office(effective, ports_service.fxo_ports)
                controller.apply_directory(revised.directory)
                modes.apply(revised.schedule, datetime.now(UTC),
                            authorised_users=revised.mode_switchers)
                ports_service.apply(revised, effective)
                controller.settings = _controller_settings(advertise, effective)
                _settle_heap()
                log.info("configuration revision %d applied", revision.number)

            unsubscribe = store.subscribe(on_revision)

            def reload() -> None:
                _reload(store, options.config_path)

            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGHUP, reload)
            listening = ", ".join(
                f"{t.lower()}:{sip.listen}:{transport.local_address(t)[1]}" for t in transports)
            # Everything that watches calls starts before the ready line: a call placed the
            # moment the service says it is ready must be forwarded and recorded.
            if sip.kernel_forwarding:
                forwarder = await _start_forwarder(relay)
                if forwarder is not None:
                    forwarding = loop.create_task(forwarder.run(), name="kernel-forwarder")
            await hold_music.load()
            mode_clock = loop.create_task(modes.run(lambda: datetime.now(UTC)),
                                          name="operating-modes")
            try:
                await ports_service.start()
            except OSError as exc:
                log.error("the board's ports cannot carry calls (%s); SIP goes on", exc)
            try:
                await records.open()
            except (OSError, sqlite3.Error) as exc:
                log.error("call records unavailable (%s); calls go on unrecorded", exc)
            else:
                recording = loop.create_task(
                    record_calls(bus, CallRecorder(), records, clock, stop=records_stop),
                    name="call-records")
                await asyncio.sleep(0)  # let it subscribe to the bus
            _settle_heap()
            out.write(f"switchbox ready: SIP on {listening}, advertised as {advertise}, "
                      f"board {options.board}, {len(config.users)} users, pid {os.getpid()}\n")
            out.flush()
            notifier.ready(f"ready: SIP on {listening}")
            if options.console:
                console = await _start_console(sim, out)
            await _until_stopped(stop, notifier, controller, registrar)
            unsubscribe()
            notifier.stopping()
            stopping_at = loop.time()
            log.info("stopping: %d calls to end", len(controller.calls))
            await controller.shutdown(grace_s=BYE_GRACE_S)
            records_stop.set()  # the calls just ended get their records, then it stops
            stack.close()
        finally:
            # The service contract is to be gone within 2 s of SIGTERM, however busy: each
            # closing step gets what is left of one budget, and sockets still closing when it
            # runs out are left to the process exit.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_BUDGET_S):
                    if console is not None:
                        console.cancel()
                        await asyncio.wait([console])
                    if recording is not None:
                        records_stop.set()
                        await asyncio.wait([recording])
                        await records.close()
                    if ports_service is not None:
                        await ports_service.close()
                        await hold_music.close()
                    for task in (forwarding, mode_clock):
                        if task is not None:
                            task.cancel()
                            await asyncio.wait([task])
                    if forwarder is not None:
                        await forwarder.close()
                    await transport.close()
                    await relay.close_all()
    log.info("stopped in %.2f s", loop.time() - stopping_at)
    return EX_OK


async def _start_console(sim: SimBoard | None, out: TextIO) -> asyncio.Task[None] | None:
    """The rehearsal console on stdin (firmware/simulation.py), for the simulated board."""
    if sim is None:
        log.error("--console drives the simulated board only; this board is real")
        return None
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except (OSError, ValueError) as exc:  # stdin a regular file, or closed
        log.error("--console needs stdin to be a terminal or a pipe: %s", exc)
        return None
    out.write("console: type `board` or `phone 1 lift`; a wrong command lists them all\n")
    out.flush()
    return loop.create_task(simulation.Console(sim).run(reader, out), name="console")


async def _start_forwarder(relay: MediaRelay) -> KernelForwarder | None:
    """The kernel media path, if this host allows it (nft installed, CAP_NET_ADMIN)."""
    nft = NftCommand()
    if not nft.available:
        log.info("nft not installed: media relayed by the service (install nftables for the "
                 "kernel path)")
        return None
    forwarder = KernelForwarder(relay, nft)
    return forwarder if await forwarder.start() else None


BYE_GRACE_S = 0.3
"""After SIGTERM: time given to the BYEs we sent to reach the phones before sockets close."""
CLOSE_BUDGET_S = 0.8
"""After SIGTERM and the BYEs: time for closing the SIP transport and the media sockets."""

MAX_SPARE_ENDPOINTS = 1024
"""Media endpoints the relay keeps open for reuse (at most a quarter of the RTP port range):
enough to recycle every endpoint at 400 calls/s with the relay's 1 s rest (800 a second)."""

GC_YOUNG_THRESHOLD = 10_000
"""Allocations between young-generation collections (CPython's default is 700): a call makes
thousands of short-lived objects, and fewer, larger young collections cost less in total."""


GC_MIDDLE_THRESHOLD = 10
GC_OLD_THRESHOLD = 100
"""Middle-generation collections between full ones (CPython's default is 10). At 400 calls/s
some 40 000 finished transactions wait out RFC 3261's 32 s timers, so a full collection walks
about a million objects (≈ 100 ms); making them ten times rarer keeps those pauses out of most
calls' set-up time. Memory is not at stake: cycles are rare here, and reference counting frees
the rest at once."""


def _settle_heap() -> None:
    """Move everything alive now (modules, configuration, directory) out of the collector's
    sight: a full collection walks every tracked object, and with 1 000 users configured its
    pauses reached 86 ms, the tail of call set-up time. Called after start-up and after each
    configuration revision."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, GC_MIDDLE_THRESHOLD, GC_OLD_THRESHOLD)


_ALGORITHMS = {DigestAlgorithm.MD5: Algorithm.MD5, DigestAlgorithm.SHA256: Algorithm.SHA256}


MODE_FILE = "mode.json"
"""A mode switched by hand (feature code, panel, web), kept across restarts."""
FORWARDING_FILE = "forwarding.json"
"""Users' forwards and do-not-disturb, set by feature code (kept across restarts)."""


def _keep_forwarding(controller: CallController, path: Path) -> None:
    """Load the users' forwarding from `path` and store it there after every change (temp
    file, fsync, rename). A damaged file is logged and set aside, never fatal: the users
    then start without forwards rather than the box without calls."""
    try:
        controller.forwarding.load_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        log.error("forwarding state %s unusable (%s); starting without forwards", path, exc)
        with contextlib.suppress(OSError):
            path.replace(path.with_suffix(".damaged"))

    def store() -> None:
        try:
            write_atomic(path, controller.forwarding.to_json().encode("utf-8"))
        except OSError as exc:
            log.error("cannot store forwarding state in %s: %s", path, exc)

    controller.forwarding_changed = store


def _controller_settings(advertise: str, config: Config) -> ControllerSettings:
    return ControllerSettings(advertise, config.calls.ring_timeout_s,
                              config.calls.media_timeout_s,
                              config.calls.max_calls_per_source)


def _reload(store: ConfigStore, path: Path | None) -> None:
    """SIGHUP: take the configuration file again, if it changed. A bad file is refused with
    every problem logged; the running revision and every call stay as they are."""
    if path is None:
        log.info("SIGHUP: started without --config; nothing to reload")
        return
    try:
        text = path.read_text(encoding="utf-8")
        active = store.active()
        if active is not None and store.text(active) == text:
            log.info("SIGHUP: %s unchanged", path)
            return
        revision, _ = store.apply_text(text, str(path))
    except ConfigError as exc:
        log.error("SIGHUP: %s refused, the running configuration stays:\n%s", path, exc)
    except OSError as exc:
        log.error("SIGHUP: cannot read %s: %s", path, exc)
    else:
        log.info("SIGHUP: %s applied as revision %d", path, revision.number)


async def _until_stopped(stop: asyncio.Event, notifier: Notifier, controller: CallController,
                         registrar: Registrar) -> None:
    """Housekeeping ticks until `stop`: registration expiry, calls without media, systemd
    watchdog and status."""
    status_due = 0.0
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        interval = min(EXPIRY_INTERVAL_S, notifier.watchdog_interval_s or EXPIRY_INTERVAL_S)
        if controller.settings.media_timeout_s > 0:
            interval = min(interval, controller.settings.media_timeout_s / 4)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await stop.wait()
        controller.expire_registrations()
        controller.check_media()
        notifier.watchdog()
        if loop.time() >= status_due:
            status_due = loop.time() + STATUS_INTERVAL_S
            notifier.status(f"{len(controller.calls)} calls, {len(registrar)} registrations")


def _is_ip(text: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)
    except OSError:
        return False
    return True


def run(options: RunOptions) -> int:
    """Run the box in this process on the loop the options ask for."""
    if options.loop is Loop.UVLOOP:
        try:
            import uvloop
        except ImportError:
            log.warning("uvloop is not installed; using the asyncio loop")
        else:
            return int(uvloop.run(serve(options)))
    return asyncio.run(serve(options))
