"""SIP messages: the parsed form, the parser and the serializer (RFC 3261 §7, §20, §25).

Pure: bytes in, objects out, and back. The parser is strict where a wrong guess would misroute
a call (start line, CSeq, the mandatory headers) and lenient where phones are sloppy (LF-only
line ends, header folding, case of header names, compact forms). Every input size is bounded by
`Limits`; anything we cannot act on raises `SipParseError` whose `status` says what to answer.

Header names are canonicalised on the way in (`v` → `Via`, `call-id` → `Call-ID`), and the
comma-separated headers whose entries matter one by one (Via, Contact, Route, Record-Route) are
split into one entry each, so that callers never parse lists themselves.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from firmware.sip.errors import SipParseError
from firmware.sip.status import SipStatus, reason_phrase

SIP_VERSION = "SIP/2.0"

# RFC 3261 §7.3.3 compact forms, and the canonical spelling we emit.
_CANONICAL: dict[str, str] = {
    name.lower(): name
    for name in (
        "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events",
        "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
        "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
        "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires", "From", "In-Reply-To",
        "Max-Forwards", "Min-Expires", "MIME-Version", "Organization", "P-Asserted-Identity",
        "Priority", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "RAck",
        "Reason", "Record-Route", "Refer-To", "Referred-By", "Replaces", "Reply-To", "Require",
        "Retry-After", "Route", "RSeq", "Server", "Session-Expires", "Subject",
        "Subscription-State", "Supported", "Timestamp", "To", "Unsupported", "User-Agent", "Via",
        "Warning", "WWW-Authenticate", "Min-SE",
    )
}
_CANONICAL.update(
    {
        "i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length",
        "c": "Content-Type", "f": "From", "s": "Subject", "k": "Supported", "t": "To",
        "v": "Via", "o": "Event", "r": "Refer-To", "b": "Referred-By", "u": "Allow-Events",
        "x": "Session-Expires",
    }
)

# Headers whose comma-separated values are independent entries (RFC 3261 §7.3.1).
_SPLIT_LISTS = frozenset({"Via", "Contact", "Route", "Record-Route"})

# Mandatory in every request and response (RFC 3261 §8.1.1); Via is checked on its own.
_REQUIRED = ("From", "To", "Call-ID", "CSeq")

_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")

# Exact spellings seen on the wire → canonical name, so that the parser's common case is one
# dict lookup on the raw name (canonical, lower, upper and "Title-Case" spellings, compact forms).
_FAST_NAMES: dict[str, str] = {}
for _key, _canon in _CANONICAL.items():
    for _spelling in (
        _key,
        _canon,
        _key.upper(),
        "-".join(part[:1].upper() + part[1:] for part in _key.split("-")),
    ):
        _FAST_NAMES[_spelling] = _canon
del _key, _canon, _spelling

_MAX_CACHED_NAME = 64


@lru_cache(maxsize=1024)  # bounded: an attacker inventing names only evicts entries
def _canonical_slow(name: str) -> str:
    canon = _CANONICAL.get(name.lower())
    if canon is not None:
        return canon
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def canonical_name(name: str) -> str:
    """The spelling Switchbox uses for a header name (compact forms expanded)."""
    canon = _FAST_NAMES.get(name)
    if canon is not None:
        return canon
    if len(name) <= _MAX_CACHED_NAME:
        return _canonical_slow(name)
    return _canonical_slow.__wrapped__(name)


@dataclass(frozen=True, slots=True)
class Limits:
    """Hard bounds on what one message may make us hold (style: limits on every input)."""

    max_message_bytes: int = 65_535
    max_headers: int = 128
    max_header_line_bytes: int = 8_192
    max_body_bytes: int = 32_768
    max_uri_bytes: int = 2_048


DEFAULT_LIMITS = Limits()


class Headers:
    """An ordered multimap of header entries with canonical names.

    Order is kept because it matters for Via, Route and Record-Route. Lookups are linear: a
    SIP message has a few dozen entries, and a dict of lists would cost more to build than it
    saves.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = [(canonical_name(n), v) for n, v in items]

    @classmethod
    def _trusted(cls, items: list[tuple[str, str]]) -> Headers:
        """Wrap already-canonical entries without copying (parser fast path)."""
        h = cls.__new__(cls)
        h._items = items
        return h

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of `name`, or `default`."""
        name = canonical_name(name)
        for n, v in self._items:
            if n == name:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of `name`, in message order."""
        name = canonical_name(name)
        return [v for n, v in self._items if n == name]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        name = canonical_name(name)
        return any(n == name for n, _ in self._items)

    def set(self, name: str, value: str) -> None:
        """Replace every entry of `name` by one, in the place of the first (else at the end)."""
        name = canonical_name(name)
        out: list[tuple[str, str]] = []
        placed = False
        for n, v in self._items:
            if n == name:
                if not placed:
                    out.append((name, value))
                    placed = True
            else:
                out.append((n, v))
        if not placed:
            out.append((name, value))
        self._items = out

    def add(self, name: str, value: str, *, first: bool = False) -> None:
        """Append an entry; with `first`, put it before the other entries of that name."""
        name = canonical_name(name)
        if not first:
            self._items.append((name, value))
            return
        for i, (n, _) in enumerate(self._items):
            if n == name:
                self._items.insert(i, (name, value))
                return
        self._items.append((name, value))

    def remove(self, name: str) -> None:
        """Drop every entry of `name`."""
        name = canonical_name(name)
        self._items = [(n, v) for n, v in self._items if n != name]

    def remove_first(self, name: str) -> str | None:
        """Drop and return the first entry of `name` (e.g. our own Via on a response)."""
        name = canonical_name(name)
        for i, (n, v) in enumerate(self._items):
            if n == name:
                del self._items[i]
                return v
        return None

    def copy(self) -> Headers:
        return Headers._trusted(list(self._items))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class _Message:
    """What requests and responses share: the header accessors and serialization."""

    __slots__ = ()
    headers: Headers
    body: bytes

    def start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        return _serialize(self.start_line(), self.headers, self.body)

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self.headers.get("CSeq") or "")


@dataclass(slots=True, eq=True)
class Request(_Message):
    """A SIP request. `uri` is the Request-URI as text; parse it with `firmware.sip.uri`."""

    method: str
    uri: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"


@dataclass(slots=True, eq=True)
class Response(_Message):
    """A SIP response."""

    status: int
    reason: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def start_line(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"


Message = Request | Response


def _serialize(start: str, headers: Headers, body: bytes) -> bytes:
    lines = [start]
    for name, value in headers._items:
        if name != "Content-Length":
            lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}")
    lines.append("")
    lines.append("")
    return "\r\n".join(lines).encode() + body


def parse_cseq(value: str) -> tuple[int, str]:
    """`"42 INVITE"` → `(42, "INVITE")`; raises `SipParseError` (400) on anything else."""
    parts = value.split()
    if len(parts) != 2 or not (parts[0].isascii() and parts[0].isdigit()) or len(parts[0]) > 10:
        raise SipParseError(SipStatus.BAD_REQUEST, "malformed CSeq")
    seq = int(parts[0])
    if seq >= 2**31:  # RFC 3261 §8.1.1.5: less than 2**31
        raise SipParseError(SipStatus.BAD_REQUEST, "CSeq out of range")
    return seq, parts[1]


def split_list(value: str) -> list[str]:
    """Split a header value on commas that are outside quotes and angle brackets."""
    if "," not in value:
        return [value.strip()]
    if '"' not in value:
        parts = value.split(",")
        if "<" in value:
            # Re-join pieces cut inside <…> (a URI parameter may hold a comma).
            joined: list[str] = []
            for part in parts:
                if joined and joined[-1].count("<") > joined[-1].count(">"):
                    joined[-1] += "," + part
                else:
                    joined.append(part)
            parts = joined
        return [p for p in map(str.strip, parts) if p]
    # Quoted strings (escapes honoured, an unterminated one runs to the end), <…> spans,
    # plain runs, and the separating commas, found in one C-level pass.
    out: list[str] = []
    current: list[str] = []
    for piece in _LIST_PIECE_RE.findall(value):
        if piece == ",":
            out.append("".join(current).strip())
            current = []
        else:
            current.append(piece)
    out.append("".join(current).strip())
    return [v for v in out if v]


_LIST_PIECE_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|<[^>]*>?|[^",<]+|,', re.S)


def _is_token(text: str) -> bool:
    return _TOKEN_RE.fullmatch(text) is not None


# Cheap structural checks of the headers every layer relies on (RFC 3261 §25.1 grammar, with
# LWS allowed where the grammar allows SWS/LWS). Deep parsing stays in `headers.py`; these only
# make sure that it will not be handed nonsense by a message we accepted.
_LWS = r"[ \t]*"
_PARAM = (
    rf"{_LWS};{_LWS}[A-Za-z0-9\-.!%*_+`'~]+"
    rf"(?:{_LWS}={_LWS}(?:\"(?:[^\"\\]|\\.)*\"|[^\s;,\"]+))?"
)
_VIA_RE = re.compile(
    rf"[A-Za-z0-9\-.!%*_+`'~]+{_LWS}/{_LWS}[A-Za-z0-9\-.!%*_+`'~]+{_LWS}/{_LWS}"
    rf"[A-Za-z0-9\-.!%*_+`'~]+[ \t]+"
    rf"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?:{_LWS}:{_LWS}[0-9]{{1,5}})?"
    rf"(?:{_PARAM})*{_LWS}"
)
_NAME_ADDR_RE = re.compile(
    rf"(?:(?:\"(?:[^\"\\]|\\.)*\"|[A-Za-z0-9\-.!%*_+`'~]+(?:[ \t]+[A-Za-z0-9\-.!%*_+`'~]+)*)"
    rf"{_LWS})?<[^<>]+>(?:{_PARAM})*{_LWS}"
    rf"|[A-Za-z][A-Za-z0-9+\-.]*:[^\s;<>\",]+(?:{_PARAM})*{_LWS}"
)
_REQUEST_URI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:[^\s<>\"]+")

# The common shapes first (one short regex each); the full grammar only when they miss.
_VIA_FAST_RE = re.compile(r"SIP/2\.0/[A-Z]+ [A-Za-z0-9.\-:\[\]]+(?:;[^;\s\"=]+(?:=[^;\s\",]+)?)*")
_NAME_ADDR_FAST_RE = re.compile(
    r'(?:"[^"\\\n]*" ?)?<[^<>\s"]+>(?:;[^;\s"<>,=]+(?:=[^;\s"<>,]+)?)*'
)
_METHODS = frozenset(
    {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY",
     "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE"}
)

_SINGLE = frozenset({"From", "To", "Call-ID", "CSeq", "Content-Length", "Max-Forwards"})
_WATCH = _SINGLE | _SPLIT_LISTS


_BLANK_LINE_RE = re.compile(rb"\r?\n\r?\n")


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    """Separate head from body at the first empty line, whatever mix of CRLF and LF-only line
    ends a sloppy phone used."""
    match = _BLANK_LINE_RE.search(data)
    if match is not None:
        return data[: match.start()], data[match.end() :]
    # A message with no blank line has no body; tolerate a missing final CRLF.
    return data.rstrip(b"\r\n"), b""


def _head_lines(head: bytes, limits: Limits) -> list[str]:
    """The head's lines, unfolded only when `_fold` is asked to (the common case has no
    folding, and the header loop notices a continuation line on its slow path)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError(SipStatus.BAD_REQUEST, "header not UTF-8") from None
    lines = text.splitlines()
    if len(lines) != text.count("\n") + 1:
        # splitlines() also breaks on a bare CR and on other separators (VT, FF, U+2028…).
        # RFC 3261 §7: lines end in CRLF (LF tolerated); a bare CR could smuggle a header into
        # whatever we copy the value to, so it is refused; the rest belong to the value.
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            raise SipParseError(SipStatus.BAD_REQUEST, "bare CR in header")
        lines = text.split("\n")
    if len(lines) > limits.max_headers + 1:
        raise SipParseError(SipStatus.BAD_REQUEST, "too many headers")
    if len(head) > limits.max_header_line_bytes and (
        max(map(len, lines)) > limits.max_header_line_bytes
    ):
        raise SipParseError(SipStatus.BAD_REQUEST, "header line too long")
    return lines


def _fold(lines: list[str], limits: Limits) -> list[str]:
    """RFC 3261 §7.3.1: a line starting with SP/HTAB continues the previous header; the
    continuation joins with one space. The start line cannot be continued."""
    folded: list[str] = [lines[0]]
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and line:
            if len(folded) == 1:
                raise SipParseError(SipStatus.BAD_REQUEST, "malformed header line")
            joined = folded[-1].rstrip(" \t") + " " + line.strip(" \t")
            if len(joined) > limits.max_header_line_bytes:
                raise SipParseError(SipStatus.BAD_REQUEST, "header line too long")
            folded[-1] = joined
        else:
            folded.append(line)
    return folded


class _Folded(Exception):
    """Internal: the header loop met a continuation line; unfold and start again."""


class _Reframe(Exception):
    """Internal: the header loop met an empty line; split head and body the careful way."""


def _name_of(line: str, raw_name: str, colon: str) -> str:
    """The canonical name of a header line the fast lookup missed; raises `_Reframe` (empty
    line), `_Folded` (continuation line) or `SipParseError`."""
    if not line:
        raise _Reframe  # an empty line: the head really ended earlier (mixed line ends)
    if line[0] in (" ", "\t"):
        raise _Folded
    if not colon or not raw_name:
        raise SipParseError(SipStatus.BAD_REQUEST, "malformed header line")
    raw_name = raw_name.rstrip(" \t")  # RFC 3261 §25.1: HCOLON allows WSP before ":"
    if _TOKEN_RE.fullmatch(raw_name) is None:
        raise SipParseError(SipStatus.BAD_REQUEST, "malformed header name")
    return canonical_name(raw_name)


def _list_entries(name: str, value: str) -> list[tuple[str, str]]:
    """One entry per element of a comma list (Via entries checked one by one)."""
    parts = split_list(value)
    if name == "Via":
        if not parts:
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed Via")
        for part in parts:
            _check_via(part)
    return [(name, part) for part in parts]


def _parse_headers(lines: list[str]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Header entries in order, and the first value of each single-valued header."""
    items: list[tuple[str, str]] = []
    append = items.append
    seen: dict[str, str] = {}
    fast = _FAST_NAMES
    watch = _WATCH
    for line in lines:
        raw_name, colon, value = line.partition(":")
        name = fast.get(raw_name)
        if name is None or not colon:
            name = _name_of(line, raw_name, colon)
        value = value.strip()
        if name in watch:
            if name in _SINGLE:
                if name in seen:
                    # RFC 4475 §3.3.8, §3.3.9: one From/To/Call-ID/CSeq/Content-Length only.
                    raise SipParseError(SipStatus.BAD_REQUEST, f"duplicate {name}")
                seen[name] = value
            elif "," in value and not (name == "Contact" and value == "*"):
                items.extend(_list_entries(name, value))
                continue
            elif name == "Via":
                _check_via(value)
        append((name, value))
    return items, seen


def _parse_lines(
    lines: list[str], limits: Limits
) -> tuple[list[str], list[tuple[str, str]], dict[str, str]]:
    """The slow path: `_parse_headers` with unfolding. Raises `_Reframe` on an empty line."""
    try:
        return lines, *_parse_headers(lines[1:])
    except _Folded:
        lines = _fold(lines, limits)
        return lines, *_parse_headers(lines[1:])


def _check_via(value: str) -> None:
    if _VIA_FAST_RE.fullmatch(value) is None and _VIA_RE.fullmatch(value) is None:
        raise SipParseError(SipStatus.BAD_REQUEST, "malformed Via")


def _is_name_addr(value: str) -> bool:
    return (
        _NAME_ADDR_FAST_RE.fullmatch(value) is not None
        or _NAME_ADDR_RE.fullmatch(value) is not None
    )


def parse_message(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Request | Response:
    """Parse one whole SIP message (a datagram, or one framed by the stream transport).

    Raises `SipParseError`: 513 for an oversize message, 413 for an oversize body, 414 for an
    oversize Request-URI, 505 for another SIP version, 400 for everything else, with a short stable
    reason. Beyond the start line, the mandatory headers are checked for shape (each Via
    entry, From, To, Call-ID, CSeq, Max-Forwards, Content-Length) and the single-valued ones
    for duplicates (RFC 4475 §3.3.8/§3.3.9), so later layers can parse them without surprise.
    """
    # Hot path: ~12 µs for a 14-header INVITE on the reference box (bench/sip_parse_bench.py); the
    # common case is kept inline and every unusual shape drops to a slower helper.
    if len(data) > limits.max_message_bytes:
        raise SipParseError(SipStatus.MESSAGE_TOO_LARGE, "message too large")
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")  # RFC 3261 §7.5: ignore CRLFs before the start line
    if not data:
        raise SipParseError(SipStatus.BAD_REQUEST, "empty message")
    idx = data.find(b"\r\n\r\n")
    if idx >= 0:
        head = data[:idx]
        body = data[idx + 4 :]
    else:
        head, body = _split_head(data)
    lines = _head_lines(head, limits)
    # Folding and mixed line ends are rare: `_parse_headers` signals them and the slow path
    # unfolds and parses again.
    try:
        items, seen = _parse_headers(lines[1:])
    except (_Folded, _Reframe):
        try:
            lines, items, seen = _parse_lines(lines, limits)
        except _Reframe:
            head, body = _split_head(data)
            lines = _head_lines(head, limits)
            try:
                lines, items, seen = _parse_lines(lines, limits)
            except _Reframe:  # pragma: no cover - _split_head cut at the first empty line
                raise SipParseError(SipStatus.BAD_REQUEST, "malformed header line") from None
    if len(items) > limits.max_headers:
        raise SipParseError(SipStatus.BAD_REQUEST, "too many headers")
    headers = Headers.__new__(Headers)
    headers._items = items

    message: Request | Response
    start = lines[0]
    method = ""
    if start.startswith("SIP/"):
        parts = start.split(" ", 2)
        if len(parts) < 2:
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed status line")
        if parts[0] != SIP_VERSION:
            raise SipParseError(SipStatus.VERSION_NOT_SUPPORTED, "unsupported SIP version")
        code = parts[1]
        if len(code) != 3 or not (code.isascii() and code.isdigit()) or not "100" <= code <= "699":
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed status code")
        message = Response(int(code), parts[2] if len(parts) == 3 else "", headers, body)
    else:
        parts = start.split(" ")
        if len(parts) != 3:
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed request line")
        method, uri, version = parts
        if version != SIP_VERSION:
            if version.upper().startswith("SIP/"):
                raise SipParseError(SipStatus.VERSION_NOT_SUPPORTED, "unsupported SIP version")
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed request line")
        if method not in _METHODS and _TOKEN_RE.fullmatch(method) is None:
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed method")
        if len(uri) > limits.max_uri_bytes:
            raise SipParseError(SipStatus.REQUEST_URI_TOO_LONG, "request-URI too long")
        if _REQUEST_URI_RE.fullmatch(uri) is None:
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed request-URI")
        if "?" in uri and uri.rfind("?") > uri.rfind("@"):
            # RFC 3261 §19.1.1 table: headers are not allowed in a Request-URI (RFC 4475
            # §3.1.2.11 lets us refuse rather than guess).
            raise SipParseError(SipStatus.BAD_REQUEST, "headers in request-URI")
        message = Request(method, uri, headers, body)

    if not items or (items[0][0] != "Via" and all(n != "Via" for n, _ in items)):
        raise SipParseError(SipStatus.BAD_REQUEST, "missing Via")
    for name in _REQUIRED:
        if name not in seen:
            raise SipParseError(SipStatus.BAD_REQUEST, f"missing {name}")
    if not _is_name_addr(seen["From"]):
        raise SipParseError(SipStatus.BAD_REQUEST, "malformed From")
    if not _is_name_addr(seen["To"]):
        raise SipParseError(SipStatus.BAD_REQUEST, "malformed To")
    call_id = seen["Call-ID"]
    if not call_id or " " in call_id or "\t" in call_id:
        raise SipParseError(SipStatus.BAD_REQUEST, "malformed Call-ID")
    cseq = seen["CSeq"]
    seq_text, space, cseq_method = cseq.partition(" ")
    if not (
        space
        and seq_text.isascii()  # str.isdigit() is also true for "²", which int() refuses
        and seq_text.isdigit()
        and len(seq_text) < 10
        and cseq_method in _METHODS
    ):
        _, cseq_method = parse_cseq(cseq)  # the uncommon shapes, and the error text
    if method and cseq_method != method:
        raise SipParseError(SipStatus.BAD_REQUEST, "CSeq method does not match request")
    if "Max-Forwards" in seen:
        max_forwards = seen["Max-Forwards"]
        # RFC 3261 §20.22: 0-255 (RFC 4475 §3.1.1.1 sends "0068"; §3.1.2.4 an overlarge one)
        if (
            not (max_forwards.isascii() and max_forwards.isdigit())
            or len(max_forwards) > 9
            or int(max_forwards) > 255
        ):
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed Max-Forwards")

    length_text = seen.get("Content-Length")
    if length_text is not None:
        if length_text == "0" and not body:
            return message
        if not (length_text.isascii() and length_text.isdigit()) or len(length_text) > 9:
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed Content-Length")
        length = int(length_text)
        if length > limits.max_body_bytes:
            raise SipParseError(SipStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
        if length > len(body):
            raise SipParseError(SipStatus.BAD_REQUEST, "Content-Length exceeds message")
        if length != len(body):
            message.body = body[:length]  # RFC 3261 §18.3: bytes past Content-Length go
    elif len(body) > limits.max_body_bytes:
        raise SipParseError(SipStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
    return message


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> Response:
    """A response to `request` (RFC 3261 §8.2.6.2): Via, From, Call-ID, CSeq copied; To copied
    and given `to_tag` unless it has a tag already. `extra` headers are appended in order.
    """
    items: list[tuple[str, str]] = [("Via", v) for v in request.headers.get_all("Via")]
    items.append(("From", request.headers.get("From") or ""))
    to = request.headers.get("To") or ""
    if to_tag and ";tag=" not in to.replace(" ", "").lower():
        to = f"{to};tag={to_tag}"
    items.append(("To", to))
    items.append(("Call-ID", request.headers.get("Call-ID") or ""))
    items.append(("CSeq", request.headers.get("CSeq") or ""))
    for name, value in extra:
        items.append((canonical_name(name), value))
    return Response(status, reason if reason is not None else reason_phrase(status),
                    Headers._trusted(items), body)


def error_response_bytes(
    data: bytes, error: SipParseError, *, to_tag: str | None = None
) -> bytes | None:
    """Best-effort answer to a datagram that failed to parse (style: answer when possible).

    Returns a serialized error response when the bytes look like a request other than ACK
    and carry the headers a response needs (Via, From, To, Call-ID, CSeq); otherwise `None`,
    and the caller drops the datagram. The To header gets `to_tag` when it has no tag
    (RFC 3261 §8.2.6.2); without one, a tag derived from From, Call-ID and CSeq is used, so a
    retransmitted request gets the same answer. Values with a bare CR are never copied.
    """
    head, _ = _split_head(data[: DEFAULT_LIMITS.max_message_bytes].lstrip(b"\r\n"))
    text = head.decode("utf-8", errors="replace")
    lines = text.replace("\r\n", "\n").split("\n")
    start = lines[0].split(" ")
    if len(start) < 2 or start[0].startswith("SIP/") or start[0] == "ACK":
        return None
    wanted = {"Via", "From", "To", "Call-ID", "CSeq"}
    found: list[tuple[str, str]] = []
    for line in lines[1 : DEFAULT_LIMITS.max_headers]:
        colon = line.find(":")
        if colon <= 0 or len(line) > DEFAULT_LIMITS.max_header_line_bytes or "\r" in line:
            continue
        name = _CANONICAL.get(line[:colon].strip().lower())
        if name in wanted:
            value = line[colon + 1 :].strip()
            if name == "Via":
                found.extend(("Via", v) for v in split_list(value))
            else:
                found.append((name, value))
    names = {n for n, _ in found}
    if not wanted <= names:
        return None
    reason = f"{error.status.phrase} ({error.reason})"
    headers = Headers._trusted(found)
    if to_tag is None:
        seed = "\n".join(headers.get(n) or "" for n in ("From", "Call-ID", "CSeq"))
        to_tag = hashlib.blake2s(seed.encode(), digest_size=6).hexdigest()
    fake = Request("X", "sip:x", headers)
    return make_response(fake, int(error.status), reason, to_tag=to_tag).to_bytes()
