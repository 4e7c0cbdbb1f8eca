"""Hands untouched relay sessions to the kernel (see `offload.py` for the rules and why).

`KernelForwarder` watches a `MediaRelay`: a session whose two phones have latched and that no
feature taps is offloaded once it has stayed so for `settle_s` (short calls and early media
never pay for an nft run); a session that gets a tap, a new remote address or ends is taken
back at once — the relay's sockets never closed, so the next packet simply reaches them again.
Kernel counters are read every `counters_interval_s` and credited to the sessions, so media
timeouts and call records still see the packets.

It runs the `nft` command (Debian package `nftables`): one process per batch of changes, at
most every `interval_s`, so its cost is per call, not per packet. Without `nft`, without
CAP_NET_ADMIN, or when a batch fails, media stays in (or falls back to) user space with one
log line; a failed batch reinstalls the table and offloads afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from firmware.media.offload import (
    ZONE_MAX,
    ZONE_MIN,
    Counter,
    FlowKey,
    OffloadParseError,
    SessionFlows,
    counters_command,
    delete_table,
    parse_counters,
    ruleset,
    session_flows,
    table_name,
    update,
)
from firmware.media.relay import Direction, MediaRelay, RelaySession

log = logging.getLogger(__name__)

DEFAULT_SETTLE_S = 1.0
"""Seconds a session must stay latched and untapped before it is offloaded."""
DEFAULT_INTERVAL_S = 0.5
"""Seconds between looks at the relay's sessions (changes that take media back wake it at once)."""
DEFAULT_COUNTERS_INTERVAL_S = 2.0
"""Seconds between reads of the kernel's per-flow counters."""
NFT_TIMEOUT_S = 5.0

_IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
_SEND_REDIRECTS = (Path("/proc/sys/net/ipv4/conf/all/send_redirects"),
                   Path("/proc/sys/net/ipv4/conf/default/send_redirects"))


class NftError(Exception):
    """nft refused a command or could not be run; the message is what it said."""


class NftRunner(Protocol):
    """Runs nft with `args`, feeding `script` on stdin; returns stdout. Raises `NftError`."""

    async def run(self, args: Sequence[str], script: str | None = None) -> str: ...


class NftCommand:
    """The `nft` program as an `NftRunner`."""

    def __init__(self, binary: str = "nft", timeout_s: float = NFT_TIMEOUT_S) -> None:
        self._binary = binary
        self._timeout_s = timeout_s

    @property
    def available(self) -> bool:
        return shutil.which(self._binary) is not None

    async def run(self, args: Sequence[str], script: str | None = None) -> str:
        try:
            proc = await asyncio.create_subprocess_exec(
                self._binary, *args,
                stdin=asyncio.subprocess.PIPE if script is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise NftError(f"cannot run {self._binary}: {exc}") from None
        try:
            async with asyncio.timeout(self._timeout_s):
                out, err = await proc.communicate(
                    script.encode() if script is not None else None)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise NftError(f"{self._binary} {' '.join(args)} took over {self._timeout_s} s") \
                from None
        if proc.returncode != 0:
            raise NftError(err.decode(errors="replace").strip() or f"exit {proc.returncode}")
        return out.decode(errors="replace")


class _Offloaded:
    """A session in the kernel: its zone, flows and the counters last credited."""

    __slots__ = ("zone", "flows", "credited")

    def __init__(self, zone: int, flows: SessionFlows) -> None:
        self.zone = zone
        self.flows = flows
        self.credited = {flow.key: Counter(0, 0) for flow in flows}


class KernelForwarder:
    """Offloads a relay's untouched sessions to netfilter. `start`, then `run` until
    cancelled, then `close`."""

    def __init__(
        self,
        relay: MediaRelay,
        runner: NftRunner,
        *,
        settle_s: float = DEFAULT_SETTLE_S,
        interval_s: float = DEFAULT_INTERVAL_S,
        counters_interval_s: float = DEFAULT_COUNTERS_INTERVAL_S,
        manage_forwarding: bool = True,
    ) -> None:
        """`manage_forwarding`: when phones are on the network (the relay's host is not a
        loopback address) and IP forwarding is off, switch it on for the media — with a guard
        chain that drops any other forwarded packet — and off again at `close`."""
        self._relay = relay
        self._runner = runner
        self._settle_s = settle_s
        self._interval_s = interval_s
        self._counters_interval_s = counters_interval_s
        self._manage_forwarding = manage_forwarding
        ports = relay.ports
        self._port_range = (ports.first, ports.last)
        self._table = table_name(*self._port_range)
        self._guard = False
        self._restore: list[tuple[Path, str]] = []
        self._active = False
        self._offloaded: dict[RelaySession, _Offloaded] = {}
        self._candidates: dict[RelaySession, tuple[SessionFlows, float]] = {}
        self._known: dict[RelaySession, tuple[_Remotes, SessionFlows | None]] = {}
        self._next_zone = ZONE_MIN
        self._wake = asyncio.Event()
        self._counters_due = 0.0
        self.failures = 0

    @property
    def active(self) -> bool:
        """Whether sessions are being offloaded (the table is installed)."""
        return self._active

    @property
    def table(self) -> str:
        return self._table

    @property
    def offloaded(self) -> int:
        """Sessions forwarded by the kernel now."""
        return len(self._offloaded)

    def is_offloaded(self, session: RelaySession) -> bool:
        return session in self._offloaded

    async def start(self) -> bool:
        """Install the table; False, with the reason logged, if the kernel path is unusable
        here (media then stays in user space)."""
        if self._manage_forwarding and not ipaddress.ip_address(self._relay.host).is_loopback:
            self._guard = self._enable_forwarding()
        try:
            await self._install()
        except NftError as exc:
            log.warning("kernel media forwarding unavailable (%s); relaying in user space", exc)
            self._restore_sysctls()
            return False
        self._active = True
        self._relay.watch(self.wake)
        log.info("kernel media forwarding on: nftables table %s, RTP ports %d-%d",
                 self._table, *self._port_range)
        return True

    def wake(self, session: RelaySession) -> None:
        """`session` changed (tap, remote, end): if the kernel forwards it, take it back now.
        Other sessions wait for the next look: waking on every call's set-up and end would
        scan all sessions hundreds of times a second at full call rate."""
        if session in self._offloaded:
            self._wake.set()

    async def run(self) -> None:
        """Offload and take back sessions until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval_s):
                    await self._wake.wait()
            self._wake.clear()
            if not self._active:
                continue
            try:
                await self.sync(loop.time())
            except NftError as exc:
                await self._recover(exc)
            except Exception:  # noqa: BLE001 - a bug here must not strand calls in the kernel
                log.exception("kernel media forwarding failed; all media back to user space")
                await self.close()
                return

    async def sync(self, now: float) -> None:
        """One pass: take back what changed, offload what settled, read counters when due.

        Raises `NftError` if nft refused the batch (nothing of it took effect)."""
        desired: dict[RelaySession, SessionFlows] = {}
        known = self._known
        self._known = {}
        for session in self._relay.sessions:
            remotes = _latched_remotes(session)
            if remotes is None:
                continue
            cached = known.get(session)
            # Flows are rebuilt only when a phone's address changed: this runs every interval
            # for every call.
            flows = cached[1] if cached is not None and cached[0] == remotes else \
                session_flows(remotes[0], session.a.local, remotes[1], session.b.local)
            self._known[session] = (remotes, flows)
            if flows is not None:
                desired[session] = flows
        remove = {s: o for s, o in self._offloaded.items() if desired.get(s) != o.flows}
        add: dict[RelaySession, SessionFlows] = {}
        for session, flows in desired.items():
            held = self._offloaded.get(session)
            if held is not None and held.flows == flows:
                continue
            seen = self._candidates.get(session)
            if seen is None or seen[0] != flows:
                self._candidates[session] = (flows, now)
            elif now - seen[1] >= self._settle_s:
                add[session] = flows
        for session in [s for s in self._candidates if s not in desired or s in add]:
            del self._candidates[session]
        if remove or now >= self._counters_due:
            # Credit what the kernel forwarded before the counters go with the elements.
            await self.read_counters()
            self._counters_due = now + self._counters_interval_s
        if not add and not remove:
            return
        zones = self._allocate_zones(len(add), remove)
        additions = dict(zip(zones, add.values(), strict=True))
        await self._runner.run(["-f", "-"], update(
            self._table, add=additions,
            remove={o.zone: o.flows for o in remove.values()}))
        for session in remove:
            del self._offloaded[session]
            stats = session.stats()
            log.debug("%s: media back from the kernel, which forwarded %d + %d packets",
                      session.label, stats.a_to_b.kernel_packets, stats.b_to_a.kernel_packets)
        for zone, (session, flows) in zip(zones, add.items(), strict=True):
            self._offloaded[session] = _Offloaded(zone, flows)
            log.debug("%s: media forwarded by the kernel (zone %d)", session.label, zone)

    async def read_counters(self) -> None:
        """Credit each offloaded session with what the kernel forwarded since the last read."""
        if not self._offloaded:
            return
        try:
            counters = parse_counters(
                await self._runner.run(counters_command(self._table)))
        except OffloadParseError as exc:
            raise NftError(str(exc)) from None
        for session, held in self._offloaded.items():
            for flow in held.flows:
                now_count = counters.get(flow.key)
                if now_count is None:
                    continue
                before = held.credited[flow.key]
                session.credit_kernel(
                    Direction.A_TO_B if flow is held.flows.forward else Direction.B_TO_A,
                    max(0, now_count.packets - before.packets),
                    max(0, now_count.bytes - before.bytes))
                held.credited[flow.key] = now_count

    async def close(self) -> None:
        """Remove the table (every flow returns to user space) and restore what `start`
        changed. Idempotent."""
        if self._active:
            self._active = False
            with contextlib.suppress(NftError):
                await self.read_counters()
            try:
                await self._runner.run(["-f", "-"], delete_table(self._table))
            except NftError as exc:
                log.warning("cannot remove nftables table %s: %s", self._table, exc)
            self._offloaded.clear()
            self._candidates.clear()
            self._known.clear()
        self._restore_sysctls()

    # --- internals ----------------------------------------------------------------------------

    async def _install(self) -> None:
        await self._runner.run(["-f", "-"], ruleset(
            self._table, *self._port_range, guard_forwarding=self._guard))

    async def _recover(self, exc: NftError) -> None:
        """A batch failed (someone flushed the ruleset, an element vanished): start clean."""
        self.failures += 1
        log.warning("kernel media forwarding: %s; reinstalling table %s", exc, self._table)
        self._offloaded.clear()
        self._candidates.clear()
        try:
            await self._install()
        except NftError as again:
            log.error("kernel media forwarding off: %s", again)
            self._active = False

    def _allocate_zones(self, count: int, freed: dict[RelaySession, _Offloaded]) -> list[int]:
        """`count` zones in use by no offloaded session (those being removed excepted), each
        as long unused as possible: conntrack entries of an old zone must time out first."""
        busy = {o.zone for s, o in self._offloaded.items() if s not in freed}
        zones: list[int] = []
        span = ZONE_MAX - ZONE_MIN + 1
        while len(zones) < count:
            if len(busy) + len(zones) >= span:
                raise NftError("every conntrack zone is in use")
            zone = self._next_zone
            self._next_zone = ZONE_MIN + (zone - ZONE_MIN + 1) % span
            if zone not in busy:
                zones.append(zone)
        return zones

    def _enable_forwarding(self) -> bool:
        """Switch IPv4 forwarding on if it is off; True if we did (then it is guarded)."""
        try:
            if _IP_FORWARD.read_text().strip() != "0":
                return False
            for path in _SEND_REDIRECTS:
                # Media leaves by the interface it came in on: no ICMP redirects to the phones.
                self._restore.append((path, path.read_text().strip()))
                path.write_text("0")
            self._restore.append((_IP_FORWARD, "0"))
            _IP_FORWARD.write_text("1")
        except OSError as exc:
            log.warning("cannot switch IP forwarding on (%s): only phones on this host can be "
                        "forwarded by the kernel", exc)
            self._restore_sysctls()
            return False
        log.info("IP forwarding switched on for kernel media forwarding (guarded: only "
                 "offloaded media is forwarded)")
        return True

    def _restore_sysctls(self) -> None:
        while self._restore:
            path, value = self._restore.pop()
            try:
                path.write_text(value)
            except OSError as exc:
                log.warning("cannot restore %s to %s: %s", path, value, exc)


_Remotes = tuple[tuple[str, int], tuple[str, int]]


def _latched_remotes(session: RelaySession) -> _Remotes | None:
    """Both phones' addresses if the kernel may forward the session: open, untapped, both
    phones latched (IPv4 or not: `session_flows` decides)."""
    if session.closed or session.tap is not None:
        return None
    a, b = session.a, session.b
    a_remote, b_remote = a.remote, b.remote
    if not (a.latched and b.latched) or a_remote is None or b_remote is None:
        return None
    if len(a_remote) != 2 or len(b_remote) != 2:
        return None
    return ((str(a_remote[0]), int(a_remote[1])), (str(b_remote[0]), int(b_remote[1])))


__all__ = ["FlowKey", "KernelForwarder", "NftCommand", "NftError", "NftRunner"]
