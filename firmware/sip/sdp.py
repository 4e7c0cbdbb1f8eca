"""SDP session descriptions (RFC 4566), offer/answer (RFC 3264) and telephone-event (RFC 4733).

Pure. `parse_sdp` keeps every line it does not interpret, in order, so a description from a
phone survives a round trip through the B2BUA byte for byte (`parse_sdp(b).to_bytes() == b` for
CRLF input in RFC 4566 §5 order). Bounds (`SdpLimits`): 16 KiB, 256 lines, 1 KiB per line,
16 media sections. Malformed input raises `SdpError` with status 400; an offer we cannot
answer raises it with 488 Not Acceptable Here (RFC 3261 §13.3.1.1, RFC 3264 §6).

Helpers for the B2BUA: `rewrite_connection` (media anchoring: c=, m= ports, o= version bump,
RFC 3264 §8), `direction` (RFC 3264 §5.1/§8.4 including c=0.0.0.0 hold from RFC 2543),
`payloads` (RFC 3551 static types 0 PCMU and 8 PCMA, a=rtpmap/a=fmtp for dynamic ones such as
telephone-event 101 "0-16"), `negotiate_answer` (RFC 3264 §6.1) and `remote_rtp_address`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from firmware.sip.errors import SipError
from firmware.sip.status import SipStatus


class SdpError(SipError):
    """A session description we cannot read (400) or cannot accept (488)."""

    def __init__(self, reason: str, status: SipStatus = SipStatus.BAD_REQUEST) -> None:
        super().__init__(status, reason)


@dataclass(frozen=True, slots=True)
class SdpLimits:
    """Hard bounds on one session description."""

    max_bytes: int = 16_384
    max_lines: int = 256
    max_line_bytes: int = 1_024
    max_media: int = 16


DEFAULT_SDP_LIMITS = SdpLimits()


class Direction(StrEnum):
    """RFC 3264 §5.1 stream directions, from the point of view of the description's author."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def reversed(self) -> Direction:
        """The direction an answer gives to a stream offered with this one (RFC 3264 §6.1)."""
        return _REVERSED[self]


_REVERSED = {
    Direction.SENDRECV: Direction.SENDRECV,
    Direction.SENDONLY: Direction.RECVONLY,
    Direction.RECVONLY: Direction.SENDONLY,
    Direction.INACTIVE: Direction.INACTIVE,
}
_DIRECTIONS = frozenset(d.value for d in Direction)


@dataclass(frozen=True, slots=True)
class Origin:
    """`o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`."""

    username: str
    session_id: str
    session_version: int
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "0.0.0.0"

    def __str__(self) -> str:
        return (f"{self.username} {self.session_id} {self.session_version} {self.nettype} "
                f"{self.addrtype} {self.address}")


@dataclass(frozen=True, slots=True)
class Connection:
    """`c=<nettype> <addrtype> <connection-address>` (multicast `/ttl/n` kept in `address`)."""

    nettype: str
    addrtype: str
    address: str

    @property
    def host(self) -> str:
        return self.address.split("/", 1)[0]

    @property
    def is_hold(self) -> bool:
        """RFC 3264 §8.4: the RFC 2543 way of putting a stream on hold."""
        return self.host in ("0.0.0.0", "::")

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


def _parse_connection(value: str) -> Connection:
    parts = value.split()
    if len(parts) != 3:
        raise SdpError("malformed SDP c= line")
    return Connection(parts[0], parts[1], parts[2])


Line = tuple[str, str]


@dataclass(frozen=True, slots=True)
class MediaDescription:
    """One `m=` section: `m=<media> <port>[/<count>] <proto> <fmt> …` and its other lines
    (i=, c=, b=, k=, a=, and any unknown type) in their original order."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    lines: tuple[Line, ...] = ()
    port_count: int | None = None

    @property
    def connection(self) -> Connection | None:
        return _connection_of(self.lines)

    def attributes(self, name: str) -> list[str]:
        """Values of every `a=name:value` ("" for a flag such as `a=sendonly`)."""
        return _attributes(self.lines, name)

    def attribute(self, name: str) -> str | None:
        values = self.attributes(name)
        return values[0] if values else None

    def m_line(self) -> str:
        port = self.port if self.port_count is None else f"{self.port}/{self.port_count}"
        return " ".join((self.media, str(port), self.proto, *self.formats))


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """A whole description: v=, o=, s=, the other session-level lines in order, then media."""

    origin: Origin
    session_name: str = "-"
    lines: tuple[Line, ...] = (("t", "0 0"),)
    media: tuple[MediaDescription, ...] = ()
    version: int = 0

    @property
    def connection(self) -> Connection | None:
        return _connection_of(self.lines)

    def attributes(self, name: str) -> list[str]:
        return _attributes(self.lines, name)

    def to_bytes(self) -> bytes:
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name}"]
        out.extend(f"{kind}={value}" for kind, value in self.lines)
        for m in self.media:
            out.append(f"m={m.m_line()}")
            out.extend(f"{kind}={value}" for kind, value in m.lines)
        out.append("")
        return "\r\n".join(out).encode()

    def __bytes__(self) -> bytes:
        return self.to_bytes()


def _connection_of(lines: Iterable[Line]) -> Connection | None:
    """The first c= line of a section (RFC 4566 §5.7), parsed."""
    for kind, value in lines:
        if kind == "c":
            return _parse_connection(value)
    return None


def _attributes(lines: Iterable[Line], name: str) -> list[str]:
    out: list[str] = []
    for kind, value in lines:
        if kind == "a":
            attr, _, rest = value.partition(":")
            if attr == name:
                out.append(rest)
    return out


def _parse_m_line(value: str) -> tuple[str, int, int | None, str, tuple[str, ...]]:
    parts = value.split()
    if len(parts) < 4:
        raise SdpError("malformed SDP m= line")
    port_text, _, count_text = parts[1].partition("/")
    if not _is_port(port_text) or (count_text and not _is_small(count_text)):
        raise SdpError("malformed SDP m= port")
    return (parts[0], int(port_text), int(count_text) if count_text else None, parts[2],
            tuple(parts[3:]))


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5 and int(text) <= 65535


def _is_small(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 3


def parse_sdp(data: bytes | str, limits: SdpLimits = DEFAULT_SDP_LIMITS) -> SessionDescription:
    """Parse a session description (RFC 4566 §5). CRLF or LF line ends; UTF-8.

    Raises `SdpError` (400) with a short stable reason for anything malformed or over `limits`.
    """
    if len(data) > limits.max_bytes:
        raise SdpError("SDP too large")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SdpError("SDP not UTF-8") from None
    else:
        text = data
    raw = text.split("\n")
    if raw and raw[-1] in ("", "\r"):
        raw.pop()
    if len(raw) > limits.max_lines:
        raise SdpError("too many SDP lines")
    lines: list[Line] = []
    for line in raw:
        if line.endswith("\r"):
            line = line[:-1]
        if len(line) > limits.max_line_bytes:
            raise SdpError("SDP line too long")
        if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z") or "\r" in line:
            raise SdpError("malformed SDP line")
        lines.append((line[0], line[2:]))
    if len(lines) < 3 or lines[0][0] != "v" or lines[1][0] != "o" or lines[2][0] != "s":
        raise SdpError("SDP must start with v=, o=, s=")
    if lines[0][1] != "0":
        raise SdpError("unsupported SDP version")
    o = lines[1][1].split(" ")
    if len(o) != 6 or not all(o) or not (o[2].isascii() and o[2].isdigit()) or len(o[2]) > 20:
        raise SdpError("malformed SDP o= line")
    origin = Origin(o[0], o[1], int(o[2]), o[3], o[4], o[5])

    session: list[Line] = []
    media: list[MediaDescription] = []
    current: list[Line] = session
    header: tuple[str, int, int | None, str, tuple[str, ...]] | None = None
    sections: list[tuple[tuple[str, int, int | None, str, tuple[str, ...]], list[Line]]] = []
    for kind, value in lines[3:]:
        if kind == "m":
            if len(sections) >= limits.max_media:
                raise SdpError("too many SDP media")
            header = _parse_m_line(value)
            current = []
            sections.append((header, current))
        else:
            if kind == "c":
                _parse_connection(value)
            current.append((kind, value))
    for (kind_m, port, count, proto, formats), section in sections:
        media.append(MediaDescription(kind_m, port, proto, formats, tuple(section), count))
    return SessionDescription(origin, lines[2][1], tuple(session), tuple(media))


# --- offer/answer helpers ----------------------------------------------------------------


def direction(media: MediaDescription, session: SessionDescription | None = None) -> Direction:
    """The direction of `media` (RFC 3264 §5.1): its own attribute, else the session's, else
    sendrecv. A connection address of 0.0.0.0 (RFC 2543 hold, RFC 3264 §8.4) means "do not
    send to me": sendrecv becomes sendonly and recvonly becomes inactive."""
    found: Direction | None = None
    for kind, value in media.lines:
        if kind == "a" and value in _DIRECTIONS:
            found = Direction(value)
            break
    if found is None and session is not None:
        for kind, value in session.lines:
            if kind == "a" and value in _DIRECTIONS:
                found = Direction(value)
                break
    result = found or Direction.SENDRECV
    conn = media.connection or (session.connection if session is not None else None)
    if conn is not None and conn.is_hold:
        if result is Direction.SENDRECV:
            return Direction.SENDONLY
        if result is Direction.RECVONLY:
            return Direction.INACTIVE
    return result


@dataclass(frozen=True, slots=True)
class Codec:
    """An RTP payload format: `encoding/clock_rate_hz[/channels]` plus its fmtp parameters.
    `payload_type` is the static number (RFC 3551 table 4) or our default dynamic one."""

    encoding: str
    clock_rate_hz: int
    channels: int = 1
    fmtp: str | None = None
    payload_type: int | None = None

    def matches(self, other: Codec) -> bool:
        return (self.encoding.lower() == other.encoding.lower()
                and self.clock_rate_hz == other.clock_rate_hz and self.channels == other.channels)


PCMU = Codec("PCMU", 8000, payload_type=0)
PCMA = Codec("PCMA", 8000, payload_type=8)
TELEPHONE_EVENT = Codec("telephone-event", 8000, fmtp="0-16", payload_type=101)
DEFAULT_CODECS: tuple[Codec, ...] = (PCMU, PCMA, TELEPHONE_EVENT)

# RFC 3551 §6 table 4: the static audio types a phone may list without a=rtpmap.
_STATIC: dict[int, Codec] = {
    0: PCMU,
    3: Codec("GSM", 8000, payload_type=3),
    4: Codec("G723", 8000, payload_type=4),
    8: PCMA,
    9: Codec("G722", 8000, payload_type=9),
    18: Codec("G729", 8000, payload_type=18),
}


def payloads(media: MediaDescription) -> dict[int, Codec]:
    """pt → Codec for every format of `media` we can name (static table or a=rtpmap), in
    m= order; fmtp parameters attached. Formats that are not numbers 0-127 are skipped."""
    rtpmap: dict[int, Codec] = {}
    for value in media.attributes("rtpmap"):
        pt_text, _, spec = value.partition(" ")
        parts = spec.strip().split("/")
        if not _is_small(pt_text) or len(parts) < 2 or not _is_digits(parts[1]):
            continue
        channels = int(parts[2]) if len(parts) > 2 and _is_small(parts[2]) else 1
        rtpmap[int(pt_text)] = Codec(parts[0], int(parts[1]), channels, None, int(pt_text))
    fmtp: dict[int, str] = {}
    for value in media.attributes("fmtp"):
        pt_text, _, params = value.partition(" ")
        if _is_small(pt_text):
            fmtp.setdefault(int(pt_text), params.strip())
    out: dict[int, Codec] = {}
    for fmt in media.formats:
        if not _is_small(fmt) or int(fmt) > 127:
            continue
        pt = int(fmt)
        codec = rtpmap.get(pt) or _STATIC.get(pt)
        if codec is not None:
            out[pt] = replace(codec, fmtp=fmtp.get(pt), payload_type=pt)
    return out


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 9


def _event_set(fmtp: str | None) -> set[int]:
    """RFC 4733 §2.4.1: "0-15,66,70" → events; no fmtp means 0-15 (§7.1.1)."""
    if fmtp is None:
        return set(range(16))
    events: set[int] = set()
    for part in fmtp.replace(" ", "").split(","):
        low, dash, high = part.partition("-")
        if not _is_small(low) or (dash and not _is_small(high)):
            continue
        lo, hi = int(low), int(high) if dash else int(low)
        if lo <= hi <= 255:
            events.update(range(lo, hi + 1))
    return events


def _event_text(events: set[int]) -> str:
    ranges: list[str] = []
    for e in sorted(events):
        if ranges and "-" in ranges[-1] and int(ranges[-1].split("-")[1]) == e - 1:
            ranges[-1] = f"{ranges[-1].split('-')[0]}-{e}"
        elif ranges and "-" not in ranges[-1] and int(ranges[-1]) == e - 1:
            ranges[-1] = f"{ranges[-1]}-{e}"
        else:
            ranges.append(str(e))
    return ",".join(ranges)


PortMap = Mapping[int, int] | Callable[[int], int]


def _port_for(ports: PortMap, index: int) -> int:
    return ports[index] if isinstance(ports, Mapping) else ports(index)


def _addrtype(host: str) -> str:
    return "IP6" if ":" in host else "IP4"


# Attributes that describe the phone's own transport addresses: wrong once media is anchored.
ANCHOR_DROPPED_ATTRIBUTES = frozenset(
    {"rtcp", "candidate", "remote-candidates", "ice-ufrag", "ice-pwd", "ice-options",
     "end-of-candidates", "ice-lite"}
)


def rewrite_connection(
    sdp: SessionDescription,
    host: str,
    port_for_media_index: PortMap,
    *,
    session_version: int | None = None,
) -> SessionDescription:
    """`sdp` with its media anchored at `host` (media relay): session- and media-level c=
    point at `host`, each m= port becomes `port_for_media_index[i]` (a rejected stream, port 0,
    stays 0), o= gets `host` and version `session_version` (default: the old one + 1, RFC 3264
    §8), and RTCP/ICE address attributes are dropped. Everything else is kept in order.
    """
    conn = f"IN {_addrtype(host)} {host}"
    session_has_c = any(kind == "c" for kind, _ in sdp.lines)
    lines = tuple(("c", conn) if kind == "c" else (kind, value) for kind, value in sdp.lines)
    if not session_has_c and not sdp.media:
        lines = _insert_c(lines, conn)
    media: list[MediaDescription] = []
    for index, m in enumerate(sdp.media):
        port = 0 if m.port == 0 else _port_for(port_for_media_index, index)
        m_lines = [
            ("c", conn) if kind == "c" else (kind, value)
            for kind, value in m.lines
            if not (kind == "a" and value.partition(":")[0] in ANCHOR_DROPPED_ATTRIBUTES)
        ]
        if not session_has_c and not any(kind == "c" for kind, _ in m_lines):
            m_lines = list(_insert_c(tuple(m_lines), conn))
        # The constructors, not dataclasses.replace: this runs for every SDP the box relays.
        media.append(MediaDescription(m.media, port, m.proto, m.formats, tuple(m_lines),
                                      m.port_count))
    version = sdp.origin.session_version + 1 if session_version is None else session_version
    o = sdp.origin
    origin = Origin(o.username, o.session_id, version, o.nettype, _addrtype(host), host)
    return SessionDescription(origin, sdp.session_name, lines, tuple(media), sdp.version)


_BEFORE_C = frozenset("iuep")  # RFC 4566 §5 order: c= comes after i=, u=, e=, p=


def _insert_c(lines: tuple[Line, ...], conn: str) -> tuple[Line, ...]:
    at = 0
    while at < len(lines) and lines[at][0] in _BEFORE_C:
        at += 1
    return lines[:at] + (("c", conn),) + lines[at:]


def remote_rtp_address(sdp: SessionDescription, media_index: int) -> tuple[str, int] | None:
    """Where to send RTP for stream `media_index` (RFC 4566 §5.7, §5.14): the media c= else the
    session c=, and the m= port. None for a rejected stream (port 0) or an RFC 2543 hold
    address. Raises `SdpError` (400) when the stream or its connection line is missing."""
    if not 0 <= media_index < len(sdp.media):
        raise SdpError("no such SDP media")
    m = sdp.media[media_index]
    conn = m.connection or sdp.connection
    if conn is None:
        raise SdpError("SDP media without c= line")
    if m.port == 0 or conn.is_hold:
        return None
    return conn.host, m.port


def negotiate_answer(
    offer: SessionDescription,
    supported: Iterable[Codec] = DEFAULT_CODECS,
    *,
    host: str,
    ports: PortMap,
    session_id: str,
    session_version: int = 0,
    username: str = "switchbox",
    ptime_ms: int = 20,
) -> SessionDescription:
    """Our answer to `offer` (RFC 3264 §6.1), for when the box itself terminates media.

    One m= line per offered stream, in order. An RTP/AVP audio stream is accepted with the
    offered formats we support, in the offerer's order and with the offerer's payload numbers
    (telephone-event only beside a voice codec, its events intersected with ours, RFC 4733
    §7.1.1), on port `ports[i]` and the reversed direction; every other stream is rejected with
    port 0. Raises `SdpError` (488) when no stream can be accepted.
    """
    wanted = list(supported)
    conn = f"IN {_addrtype(host)} {host}"
    media: list[MediaDescription] = []
    accepted = 0
    for index, m in enumerate(offer.media):
        chosen: list[tuple[int, Codec, Codec]] = []
        if m.media == "audio" and m.proto.upper() == "RTP/AVP" and m.port != 0:
            used: set[int] = set()  # each of our codecs answers one offered payload type
            for pt, codec in payloads(m).items():
                for i, ours in enumerate(wanted):
                    if i not in used and ours.matches(codec):
                        used.add(i)
                        chosen.append((pt, codec, ours))
                        break
        voice = [c for c in chosen if c[1].encoding.lower() != "telephone-event"]
        if not voice:
            media.append(MediaDescription(m.media, 0, m.proto, m.formats[:1] or ("0",)))
            continue
        accepted += 1
        lines: list[Line] = []
        for pt, codec, ours in chosen:
            if codec.encoding.lower() == "telephone-event":
                events = _event_set(codec.fmtp) & _event_set(ours.fmtp)
                if not events:
                    continue
                name = f"{codec.encoding}/{codec.clock_rate_hz}"
                lines.append(("a", f"rtpmap:{pt} {name}"))
                lines.append(("a", f"fmtp:{pt} {_event_text(events)}"))
            else:
                channels = f"/{codec.channels}" if codec.channels != 1 else ""
                rate = f"{codec.clock_rate_hz}{channels}"
                lines.append(("a", f"rtpmap:{pt} {codec.encoding}/{rate}"))
        formats = tuple(value.split(" ", 1)[0].split(":", 1)[1]
                        for kind, value in lines if value.startswith("rtpmap:"))
        lines.append(("a", f"ptime:{ptime_ms}"))
        lines.append(("a", direction(m, offer).reversed.value))
        media.append(MediaDescription("audio", _port_for(ports, index), m.proto, formats,
                                      tuple(lines)))
    if not accepted:
        raise SdpError("no acceptable media", SipStatus.NOT_ACCEPTABLE_HERE)
    origin = Origin(username, session_id, session_version, "IN", _addrtype(host), host)
    return SessionDescription(origin, "-", (("c", conn), ("t", "0 0")), tuple(media))


__all__ = [
    "ANCHOR_DROPPED_ATTRIBUTES",
    "DEFAULT_CODECS",
    "DEFAULT_SDP_LIMITS",
    "PCMA",
    "PCMU",
    "TELEPHONE_EVENT",
    "Codec",
    "Connection",
    "Direction",
    "MediaDescription",
    "Origin",
    "SdpError",
    "SdpLimits",
    "SessionDescription",
    "direction",
    "negotiate_answer",
    "parse_sdp",
    "payloads",
    "remote_rtp_address",
    "rewrite_connection",
]
