"""Kernel forwarding, the parts that need no kernel: nft scripts, counter parsing, and the
forwarder's decisions driven against a real relay on loopback with a recording `nft`."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Sequence

import pytest

from firmware.media.forwarder import KernelForwarder, NftError
from firmware.media.offload import (
    Counter,
    FlowDirection,
    FlowKey,
    OffloadParseError,
    parse_counters,
    ruleset,
    session_flows,
    table_name,
    update,
)
from firmware.media.relay import Direction, MediaRelay, PortAllocator, RelaySession

from .test_relay import LOOPBACK, Phone, rtp

PORT_START, PORT_END = 24000, 24999

# What nft 1.0.6 printed for `nft -j list map ip sbx zones` with two offloaded flows.
NFT_COUNTERS_JSON = (
    '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", '
    '"json_schema_version": 1}}, {"map": {"family": "ip", "name": "zones", "table": "sbx", '
    '"type": ["ipv4_addr", "inet_service", "inet_service"], "handle": 6, "map": "integer", '
    '"elem": [[{"elem": {"val": {"concat": ["127.0.0.1", 41000, 30000]}, "counter": '
    '{"packets": 1001, "bytes": 29030}}}, 6], [{"elem": {"val": {"concat": ["127.0.0.1", '
    '43000, 30002]}, "counter": {"packets": 7, "bytes": 203}}}, 6]], "stmt": [{"counter": '
    'null}]}}]}'
)


def test_counters_are_read_per_flow_from_nft_json() -> None:
    counters = parse_counters(NFT_COUNTERS_JSON)
    assert counters == {
        FlowKey("127.0.0.1", 41000, 30000): Counter(1001, 29030),
        FlowKey("127.0.0.1", 43000, 30002): Counter(7, 203),
    }


@pytest.mark.parametrize("text", ["", "not json", '{"nftables": 3}',
                                  '{"nftables": [{"map": {"elem": [[{"elem": {}}, 1]]}}]}'])
def test_unreadable_counters_are_a_parse_error(text: str) -> None:
    with pytest.raises(OffloadParseError):
        parse_counters(text)


def test_flows_cross_over_between_the_two_endpoints() -> None:
    flows = session_flows(("10.0.0.2", 4000), ("10.0.0.1", 24000),
                          ("10.0.0.3", 5000), ("10.0.0.1", 24002))
    assert flows is not None
    assert flows.forward.key == FlowKey("10.0.0.2", 4000, 24000)
    assert (flows.forward.dest, flows.forward.via) == (("10.0.0.3", 5000), ("10.0.0.1", 24002))
    assert flows.forward.direction is FlowDirection.A_TO_B
    assert flows.backward.key == FlowKey("10.0.0.3", 5000, 24002)
    assert (flows.backward.dest, flows.backward.via) == (("10.0.0.2", 4000), ("10.0.0.1", 24000))


def test_ipv6_sessions_stay_in_user_space() -> None:
    assert session_flows(("2001:db8::2", 4000), ("2001:db8::1", 24000),
                         ("2001:db8::3", 5000), ("2001:db8::1", 24002)) is None


def test_update_removes_before_it_adds_and_names_every_map() -> None:
    flows = session_flows(("10.0.0.2", 4000), ("10.0.0.1", 24000),
                          ("10.0.0.3", 5000), ("10.0.0.1", 24002))
    assert flows is not None
    script = update("t", add={7: flows}, remove={6: flows})
    lines = script.splitlines()
    assert [line.split()[0] for line in lines] == ["delete"] * 4 + ["add"] * 4
    assert "add element ip t zones { 10.0.0.2 . 4000 . 24000 : 7, " \
           "10.0.0.3 . 5000 . 24002 : 7 }" in lines
    assert "add element ip t vias { 7 . 1 : 10.0.0.1 . 24002, 7 . 2 : 10.0.0.1 . 24000 }" in lines
    assert "delete element ip t vias { 6 . 1, 6 . 2 }" in lines


@pytest.mark.skipif(shutil.which("nft") is None or os.geteuid() != 0,
                    reason="needs the nft command (Debian nftables) and root")
def test_nft_accepts_the_ruleset_and_an_update() -> None:
    """`nft --check` parses and validates against the running kernel, changing nothing."""
    flows = session_flows(("10.0.0.2", 4000), ("10.0.0.1", 24000),
                          ("10.0.0.3", 5000), ("10.0.0.1", 24002))
    assert flows is not None
    table = table_name(PORT_START, PORT_END)
    for guard in (False, True):
        script = ruleset(table, PORT_START, PORT_END, guard_forwarding=guard)
        script += update(table, add={1: flows})
        result = subprocess.run(["nft", "--check", "-f", "-"], input=script, text=True,
                                capture_output=True, timeout=10, check=False)
        assert result.returncode == 0, result.stderr


class RecordingNft:
    """Stands in for the nft command: records scripts, answers counter reads from `counters`."""

    def __init__(self) -> None:
        self.scripts: list[str] = []
        self.counters: dict[FlowKey, Counter] = {}
        self.fail_next = False

    async def run(self, args: Sequence[str], script: str | None = None) -> str:
        if self.fail_next:
            self.fail_next = False
            raise NftError("Error: Could not process rule: No such file or directory")
        if script is not None:
            self.scripts.append(script)
            return ""
        elements = [
            [{"elem": {"val": {"concat": [k.source_ip, k.source_port, k.local_port]},
                       "counter": {"packets": c.packets, "bytes": c.bytes}}}, 1]
            for k, c in self.counters.items()
        ]
        return json.dumps({"nftables": [{"map": {"name": "zones", "elem": elements}}]})

    def added(self) -> list[str]:
        return [line for s in self.scripts for line in s.splitlines()
                if line.startswith("add element") and " zones " in line]

    def deleted(self) -> list[str]:
        return [line for s in self.scripts for line in s.splitlines()
                if line.startswith("delete element") and " zones " in line]


@pytest.fixture
async def relay() -> AsyncIterator[MediaRelay]:
    async with MediaRelay(LOOPBACK, PortAllocator(PORT_START, PORT_END), dscp=0) as r:
        yield r


async def _latched(relay: MediaRelay) -> tuple[RelaySession, Phone, Phone]:
    """A session both of whose phones have sent a packet (so both are latched)."""
    session = await relay.open_session("call-1")
    alice, bob = await Phone.open(), await Phone.open()
    session.a.set_remote(alice.addr)
    session.b.set_remote(bob.addr)
    assert alice.transport is not None and bob.transport is not None
    alice.transport.sendto(rtp(1), session.a.local)
    bob.transport.sendto(rtp(1), session.b.local)
    await asyncio.wait_for(bob.inbox.get(), 2.0)
    await asyncio.wait_for(alice.inbox.get(), 2.0)
    assert session.a.latched and session.b.latched
    return session, alice, bob


async def test_a_session_is_offloaded_only_after_it_settles(relay: MediaRelay) -> None:
    nft = RecordingNft()
    forwarder = KernelForwarder(relay, nft, settle_s=1.0)
    assert await forwarder.start()
    session, alice, bob = await _latched(relay)
    await forwarder.sync(now=10.0)
    assert nft.added() == [] and not forwarder.is_offloaded(session)
    await forwarder.sync(now=10.5)
    assert nft.added() == []
    await forwarder.sync(now=11.0)
    assert forwarder.is_offloaded(session)
    [line] = nft.added()
    assert f"{alice.addr[0]} . {alice.addr[1]} . {session.a.rtp_port}" in line
    assert f"{bob.addr[0]} . {bob.addr[1]} . {session.b.rtp_port}" in line


async def test_a_tap_takes_the_media_back_at_once(relay: MediaRelay) -> None:
    nft = RecordingNft()
    forwarder = KernelForwarder(relay, nft, settle_s=0.0)
    assert await forwarder.start()
    session, _, _ = await _latched(relay)
    await forwarder.sync(now=1.0)
    await forwarder.sync(now=1.0)
    assert forwarder.is_offloaded(session)

    class Tap:
        def on_packet(self, direction: Direction, data: bytes) -> bytes | None:
            return data

    session.set_tap(Tap())
    await forwarder.sync(now=1.1)
    assert not forwarder.is_offloaded(session)
    assert len(nft.deleted()) == 1
    session.set_tap(None)
    await forwarder.sync(now=1.2)
    await forwarder.sync(now=1.2)
    assert forwarder.is_offloaded(session)


async def test_a_new_remote_or_the_end_of_the_call_takes_the_flows_out(
    relay: MediaRelay,
) -> None:
    nft = RecordingNft()
    forwarder = KernelForwarder(relay, nft, settle_s=0.0)
    assert await forwarder.start()
    session, _, bob = await _latched(relay)
    await forwarder.sync(now=1.0)
    await forwarder.sync(now=1.0)
    session.b.set_remote(("127.0.0.1", bob.addr[1] + 2))  # re-INVITE: B moved, unlatched
    await forwarder.sync(now=2.0)
    assert not forwarder.is_offloaded(session) and len(nft.deleted()) == 1
    # B's next packet latches it again: offloaded afresh, in a new zone.
    assert bob.transport is not None
    bob.transport.sendto(rtp(2), session.b.local)
    await asyncio.sleep(0.05)
    await forwarder.sync(now=3.0)
    await forwarder.sync(now=3.0)
    assert forwarder.is_offloaded(session)
    zones = [line.rsplit(": ", 1)[1] for line in nft.added()]
    assert zones[0] != zones[1]
    session.close()
    await forwarder.sync(now=4.0)
    assert forwarder.offloaded == 0 and len(nft.deleted()) == 2


async def test_kernel_counters_count_as_the_calls_media(relay: MediaRelay) -> None:
    nft = RecordingNft()
    forwarder = KernelForwarder(relay, nft, settle_s=0.0, counters_interval_s=1.0)
    assert await forwarder.start()
    session, alice, bob = await _latched(relay)
    await forwarder.sync(now=1.0)
    await forwarder.sync(now=1.0)
    before = session.stats()
    a_key = FlowKey(alice.addr[0], alice.addr[1], session.a.rtp_port)
    b_key = FlowKey(bob.addr[0], bob.addr[1], session.b.rtp_port)
    nft.counters = {a_key: Counter(50, 8600), b_key: Counter(49, 8428)}
    await forwarder.sync(now=3.0)
    nft.counters = {a_key: Counter(100, 17200), b_key: Counter(99, 17028)}
    await forwarder.sync(now=5.0)
    stats = session.stats()
    assert stats.a_to_b.packets == before.a_to_b.packets + 100
    assert stats.a_to_b.kernel_packets == 100
    assert stats.b_to_a.packets == before.b_to_a.packets + 99
    assert stats.b_to_a.bytes == before.b_to_a.bytes + 17028
    # The last packets before the call ends are credited too, after the session closed.
    nft.counters = {a_key: Counter(120, 20640), b_key: Counter(99, 17028)}
    session.close()
    await forwarder.sync(now=5.1)
    assert session.stats().a_to_b.kernel_packets == 120


async def test_a_refused_batch_reinstalls_the_table_and_offloads_again(
    relay: MediaRelay,
) -> None:
    nft = RecordingNft()
    forwarder = KernelForwarder(relay, nft, settle_s=0.0, interval_s=0.01)
    assert await forwarder.start()
    session, _, _ = await _latched(relay)
    nft.fail_next = True
    task = asyncio.create_task(forwarder.run())
    try:
        for _ in range(200):
            if forwarder.is_offloaded(session):
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.wait([task])
    assert forwarder.failures == 1 and forwarder.active
    assert forwarder.is_offloaded(session)
    tables = [s for s in nft.scripts if s.startswith("table ip")]
    assert len(tables) == 2  # the start and the reinstall


async def test_without_nft_rights_media_stays_in_user_space(relay: MediaRelay) -> None:
    class Refusing(RecordingNft):
        async def run(self, args: Sequence[str], script: str | None = None) -> str:
            raise NftError("Error: Operation not permitted")

    forwarder = KernelForwarder(relay, Refusing())
    assert not await forwarder.start()
    assert not forwarder.active


async def test_a_bug_in_the_forwarder_gives_every_call_back_to_user_space(
    relay: MediaRelay,
) -> None:
    class Broken(RecordingNft):
        async def run(self, args: Sequence[str], script: str | None = None) -> str:
            if script is not None and script.startswith("add element"):
                raise RuntimeError("a bug")
            return await super().run(args, script)

    nft = Broken()
    forwarder = KernelForwarder(relay, nft, settle_s=0.0, interval_s=0.01)
    assert await forwarder.start()
    await _latched(relay)
    await asyncio.wait_for(forwarder.run(), 2.0)    # returns instead of dying silently
    assert not forwarder.active
    assert nft.scripts[-1].endswith("delete table ip switchbox_24000_24999\n")
