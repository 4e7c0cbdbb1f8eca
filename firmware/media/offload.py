"""Kernel forwarding of relayed RTP: the nftables rules and element updates, as text.

Why: a relayed packet in user space costs at least one `recvfrom` and one `sendto` — 6–8 µs of
CPU on the development VM before any Python runs — so no user-space relay meets issue 2's
≤ 8 µs per packet. Netfilter's connection tracking can do the same job inside the kernel: the
first packet of a flow is NATed (destination to the other phone, source to our other
endpoint), the kernel remembers the translation, and every later packet of both directions is
rewritten on its way through without waking the box. rtpengine does the same with a kernel
module of its own; stock nftables and conntrack are enough here (nftables ≥ 0.9.4 for
concatenated NAT maps; Debian bookworm ships 1.0.6).

Only *untouched* media goes down there: a session is offloaded when no feature taps it and both
phones have latched (their real source addresses are known); the relay keeps its sockets, so
the moment a tap is set, a re-INVITE moves a phone or the call ends, the flow is removed and
the next packet reaches the socket again.

The table, one per relay (its name carries the port range, so several boxes in one network
namespace, as tests run them, never share one):

* `raw` hooks (prerouting for phones on the network, output for phones on this host): a packet
  to the RTP port range whose (source address, source port, our port) is an offloaded flow gets
  its session's conntrack *zone* and is tracked; every other packet to the range is `notrack`ed,
  so ordinary relaying pays nothing for conntrack and never meets stale NAT state. A zone is
  fresh for each offload: a conntrack entry left by an earlier offload of the same addresses
  (a phone that reuses its RTP port in the next call on a reused endpoint) lives in another
  zone and can never send packets to the old call's peer.
* `nat` hooks, first packet of a connection only: DNAT to the other phone, `ct mark` 1 (A → B)
  or 2 (B → A); postrouting SNATs to our other endpoint by (zone, mark). The reply direction of
  the same conntrack entry carries the other way, so whichever phone speaks first, one entry
  serves both directions.
* Each flow's element in the zone map has a counter; reading it keeps the call's packet counts
  (media timeout, call record) true while the relay's sockets hear nothing.

This module is pure: it builds nft scripts and parses `nft -j` output; `forwarder.py` runs them.
IPv4 only: IPv6 sessions stay in user space.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum

ZONE_MIN = 1
ZONE_MAX = 65535
"""Conntrack zones are 16-bit; zone 0 is everyone else's."""


class FlowDirection(IntEnum):
    """The `ct mark` of a flow: which endpoint it enters by."""

    A_TO_B = 1
    B_TO_A = 2


@dataclass(frozen=True, slots=True)
class FlowKey:
    """What identifies an offloaded flow's packets: who sends them, to which of our ports."""

    source_ip: str
    source_port: int
    local_port: int


@dataclass(frozen=True, slots=True)
class Flow:
    """One direction of an offloaded session."""

    key: FlowKey
    direction: FlowDirection
    dest: tuple[str, int]
    """The other phone: where the packets go."""
    via: tuple[str, int]
    """Our address and port the other phone expects them from (its endpoint's, as in SDP)."""


@dataclass(frozen=True, slots=True)
class SessionFlows:
    """Both directions of a session, in one conntrack zone."""

    forward: Flow
    backward: Flow

    def __iter__(self) -> Iterator[Flow]:
        return iter((self.forward, self.backward))


@dataclass(frozen=True, slots=True)
class Counter:
    """Packets and bytes the kernel forwarded for one flow since it was offloaded."""

    packets: int
    bytes: int


class OffloadParseError(ValueError):
    """`nft -j` printed something this module cannot read."""


def session_flows(
    a_remote: tuple[str, int],
    a_local: tuple[str, int],
    b_remote: tuple[str, int],
    b_local: tuple[str, int],
) -> SessionFlows | None:
    """The flows that forward between phone A (at `a_remote`, sending to our `a_local`) and
    phone B; None unless every address is IPv4 (IPv6 and IPv4-mapped sessions stay in user
    space)."""
    for host, _ in (a_remote, a_local, b_remote, b_local):
        try:
            if ipaddress.ip_address(host).version != 4:
                return None
        except ValueError:
            return None
    return SessionFlows(
        Flow(FlowKey(a_remote[0], a_remote[1], a_local[1]), FlowDirection.A_TO_B,
             dest=b_remote, via=b_local),
        Flow(FlowKey(b_remote[0], b_remote[1], b_local[1]), FlowDirection.B_TO_A,
             dest=a_remote, via=a_local),
    )


def table_name(port_start: int, port_end: int) -> str:
    """The relay's table: one per port range."""
    return f"switchbox_{port_start}_{port_end}"


def ruleset(table: str, port_start: int, port_end: int, *, guard_forwarding: bool) -> str:
    """A script that (re)creates `table` empty, atomically replacing any earlier one.

    With `guard_forwarding`, a forward-hook chain drops every forwarded packet that is not one
    of our offloaded flows: for a box on which the forwarder had to switch IP forwarding on,
    so that it carries media and does not become a router."""
    ports = f"{port_start}-{port_end}"
    key = "ip saddr . udp sport . udp dport"
    guard = (
        "  chain forward { type filter hook forward priority filter; policy drop;\n"
        "    ct zone != 0 accept\n  }\n"
        if guard_forwarding else ""
    )
    return (
        f"table ip {table} {{}}\n"
        f"delete table ip {table}\n"
        f"table ip {table} {{\n"
        f"  map zones {{ typeof {key} : ct zone; counter; }}\n"
        f"  map marks {{ typeof {key} : ct mark; }}\n"
        f"  map dests {{ typeof {key} : ip daddr . udp dport; }}\n"
        "  map vias { typeof ct zone . ct mark : ip saddr . udp sport; }\n"
        "  chain raw_pre { type filter hook prerouting priority raw; policy accept;\n"
        f"    udp dport {ports} ct zone set {key} map @zones accept\n"
        f"    udp dport {ports} notrack\n  }}\n"
        "  chain raw_out { type filter hook output priority raw; policy accept;\n"
        f"    udp dport {ports} ct zone set {key} map @zones accept\n"
        f"    udp dport {ports} notrack\n  }}\n"
        "  chain nat_pre { type nat hook prerouting priority dstnat; policy accept;\n"
        f"    ct zone != 0 udp dport {ports} ct mark set {key} map @marks"
        f" dnat ip to {key} map @dests\n  }}\n"
        "  chain nat_out { type nat hook output priority -100; policy accept;\n"
        f"    ct zone != 0 udp dport {ports} ct mark set {key} map @marks"
        f" dnat ip to {key} map @dests\n  }}\n"
        "  chain nat_post { type nat hook postrouting priority srcnat; policy accept;\n"
        "    ct zone != 0 meta l4proto udp snat ip to ct zone . ct mark map @vias\n  }\n"
        f"{guard}"
        "}\n"
    )


def delete_table(table: str) -> str:
    """A script that removes `table` if it exists."""
    return f"table ip {table} {{}}\ndelete table ip {table}\n"


def _key(key: FlowKey) -> str:
    return f"{key.source_ip} . {key.source_port} . {key.local_port}"


def update(
    table: str,
    *,
    add: Mapping[int, SessionFlows] | None = None,
    remove: Mapping[int, SessionFlows] | None = None,
) -> str:
    """A script that removes the sessions of `remove` and adds those of `add` (zone → flows),
    applied by nft as one transaction: all of it or, on any error, none of it."""
    lines: list[str] = []
    for zone, flows in (remove or {}).items():
        keys = ", ".join(_key(f.key) for f in flows)
        lines.append(f"delete element ip {table} zones {{ {keys} }}")
        lines.append(f"delete element ip {table} marks {{ {keys} }}")
        lines.append(f"delete element ip {table} dests {{ {keys} }}")
        marks = ", ".join(f"{zone} . {int(f.direction)}" for f in flows)
        lines.append(f"delete element ip {table} vias {{ {marks} }}")
    for zone, flows in (add or {}).items():
        _check_zone(zone)
        zones = ", ".join(f"{_key(f.key)} : {zone}" for f in flows)
        marks = ", ".join(f"{_key(f.key)} : {int(f.direction)}" for f in flows)
        dests = ", ".join(f"{_key(f.key)} : {f.dest[0]} . {f.dest[1]}" for f in flows)
        vias = ", ".join(f"{zone} . {int(f.direction)} : {f.via[0]} . {f.via[1]}" for f in flows)
        lines.append(f"add element ip {table} zones {{ {zones} }}")
        lines.append(f"add element ip {table} marks {{ {marks} }}")
        lines.append(f"add element ip {table} dests {{ {dests} }}")
        lines.append(f"add element ip {table} vias {{ {vias} }}")
    return "".join(line + "\n" for line in lines)


def _check_zone(zone: int) -> None:
    if not ZONE_MIN <= zone <= ZONE_MAX:
        raise ValueError(f"conntrack zone {zone} outside {ZONE_MIN}-{ZONE_MAX}")


def counters_command(table: str) -> list[str]:
    """The nft arguments that print the zone map's counters as JSON."""
    return ["-j", "list", "map", "ip", table, "zones"]


def parse_counters(text: str) -> dict[FlowKey, Counter]:
    """Per-flow counters from the output of `counters_command`.

    Raises `OffloadParseError` if the text is not the JSON nft prints for a map with counters.
    """
    try:
        document = json.loads(text)
        items = document["nftables"]
    except (ValueError, KeyError, TypeError) as exc:
        raise OffloadParseError(f"not nft JSON: {exc}") from None
    counters: dict[FlowKey, Counter] = {}
    try:
        for item in items:
            table_map = item.get("map") if isinstance(item, dict) else None
            if table_map is None:
                continue
            for element, _zone in table_map.get("elem", []):
                body = element["elem"]
                ip, sport, dport = body["val"]["concat"]
                counter = body.get("counter") or {"packets": 0, "bytes": 0}
                counters[FlowKey(str(ip), int(sport), int(dport))] = Counter(
                    int(counter["packets"]), int(counter["bytes"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise OffloadParseError(f"unexpected nft map element: {exc}") from None
    return counters
