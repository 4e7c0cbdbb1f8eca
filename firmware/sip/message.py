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

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

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

_REQUIRED_REQUEST = ("Via", "From", "To", "Call-ID", "CSeq")
_REQUIRED_RESPONSE = ("Via", "From", "To", "Call-ID", "CSeq")

_TOKEN_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
)


def canonical_name(name: str) -> str:
    """The spelling Switchbox uses for a header name (compact forms expanded)."""
    canon = _CANONICAL.get(name.lower())
    if canon is not None:
        return canon
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


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


@dataclass(slots=True, eq=True)
class Request:
    """A SIP request. `uri` is the Request-URI as text; parse it with `firmware.sip.uri`."""

    method: str
    uri: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def to_bytes(self) -> bytes:
        return _serialize(f"{self.method} {self.uri} {SIP_VERSION}", self.headers, self.body)

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self.headers.get("CSeq") or "")


@dataclass(slots=True, eq=True)
class Response:
    """A SIP response."""

    status: int
    reason: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def to_bytes(self) -> bytes:
        return _serialize(f"{SIP_VERSION} {self.status} {self.reason}", self.headers, self.body)

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self.headers.get("CSeq") or "")


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
    if len(parts) != 2 or not parts[0].isdigit() or len(parts[0]) > 10:
        raise SipParseError(SipStatus.BAD_REQUEST, "malformed CSeq")
    seq = int(parts[0])
    if seq >= 2**31:  # RFC 3261 §8.1.1.5: less than 2**31
        raise SipParseError(SipStatus.BAD_REQUEST, "CSeq out of range")
    return seq, parts[1]


def split_list(value: str) -> list[str]:
    """Split a header value on commas that are outside quotes and angle brackets."""
    if "," not in value:
        return [value.strip()]
    out: list[str] = []
    depth = 0
    quoted = False
    start = 0
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            out.append(value[start:i].strip())
            start = i + 1
        i += 1
    out.append(value[start:].strip())
    return [v for v in out if v]


def _is_token(text: str) -> bool:
    return bool(text) and all(c in _TOKEN_CHARS for c in text)


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    """Separate head from body, accepting LF-only line ends from sloppy phones."""
    idx = data.find(b"\r\n\r\n")
    if idx >= 0:
        return data[:idx], data[idx + 4 :]
    idx = data.find(b"\n\n")
    if idx >= 0:
        return data[:idx], data[idx + 2 :]
    # A message with no blank line has no body; tolerate a missing final CRLF.
    return data.rstrip(b"\r\n"), b""


def _head_lines(head: bytes, limits: Limits) -> list[str]:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError(SipStatus.BAD_REQUEST, "header not UTF-8") from None
    raw = text.replace("\r\n", "\n").split("\n")
    if len(raw) > limits.max_headers + 1:
        raise SipParseError(SipStatus.BAD_REQUEST, "too many headers")
    lines: list[str] = []
    for line in raw:
        if len(line) > limits.max_header_line_bytes:
            raise SipParseError(SipStatus.BAD_REQUEST, "header line too long")
        if line[:1] in (" ", "\t") and lines:
            # RFC 3261 §7.3.1: header folding; the continuation joins with one space.
            lines[-1] = lines[-1] + " " + line.strip()
        else:
            lines.append(line)
    return lines


def parse_message(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Request | Response:
    """Parse one whole SIP message (a datagram, or one framed by the stream transport).

    Raises `SipParseError`: 413 for an oversize message or body, 505 for another SIP version,
    400 for everything else, with a short stable reason.
    """
    if len(data) > limits.max_message_bytes:
        raise SipParseError(SipStatus.MESSAGE_TOO_LARGE, "message too large")
    data = data.lstrip(b"\r\n")  # RFC 3261 §7.5: ignore CRLFs before the start line
    if not data:
        raise SipParseError(SipStatus.BAD_REQUEST, "empty message")
    head, body = _split_head(data)
    lines = _head_lines(head, limits)
    start = lines[0]
    items: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        colon = line.find(":")
        if colon <= 0:
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed header line")
        raw_name = line[:colon].rstrip()
        if not _is_token(raw_name):
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed header name")
        name = canonical_name(raw_name)
        value = line[colon + 1 :].strip()
        if name in _SPLIT_LISTS and "," in value and not (name == "Contact" and value == "*"):
            for part in split_list(value):
                items.append((name, part))
        else:
            items.append((name, value))
    if len(items) > limits.max_headers:
        raise SipParseError(SipStatus.BAD_REQUEST, "too many headers")
    headers = Headers._trusted(items)

    message: Request | Response
    if start.startswith("SIP/"):
        parts = start.split(" ", 2)
        if len(parts) < 2:
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed status line")
        if parts[0] != SIP_VERSION:
            raise SipParseError(SipStatus.VERSION_NOT_SUPPORTED, "unsupported SIP version")
        code = parts[1]
        if len(code) != 3 or not code.isdigit() or not "100" <= code <= "699":
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed status code")
        message = Response(int(code), parts[2] if len(parts) == 3 else "", headers, b"")
        required = _REQUIRED_RESPONSE
    else:
        parts = start.split(" ")
        if len(parts) != 3:
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed request line")
        method, uri, version = parts
        if version != SIP_VERSION:
            if version.upper().startswith("SIP/"):
                raise SipParseError(SipStatus.VERSION_NOT_SUPPORTED, "unsupported SIP version")
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed request line")
        if not _is_token(method):
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed method")
        if len(uri) > limits.max_uri_bytes:
            raise SipParseError(SipStatus.REQUEST_URI_TOO_LONG, "request-URI too long")
        if ":" not in uri:
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed request-URI")
        message = Request(method, uri, headers, b"")
        required = _REQUIRED_REQUEST

    for name in required:
        if name not in headers:
            raise SipParseError(SipStatus.BAD_REQUEST, f"missing {name}")
    _, cseq_method = parse_cseq(headers.get("CSeq") or "")
    if isinstance(message, Request) and cseq_method != message.method:
        raise SipParseError(SipStatus.BAD_REQUEST, "CSeq method does not match request")

    length_text = headers.get("Content-Length")
    if length_text is not None:
        if not length_text.isdigit() or len(length_text) > 9:
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed Content-Length")
        length = int(length_text)
        if length > limits.max_body_bytes:
            raise SipParseError(SipStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
        if length > len(body):
            raise SipParseError(SipStatus.BAD_REQUEST, "Content-Length exceeds message")
        body = body[:length]  # RFC 3261 §18.3: bytes past Content-Length are discarded
    elif len(body) > limits.max_body_bytes:
        raise SipParseError(SipStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
    message.body = body
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


def error_response_bytes(data: bytes, error: SipParseError) -> bytes | None:
    """Best-effort answer to a datagram that failed to parse (style: answer when possible).

    Returns a serialized error response when the bytes look like a request other than ACK
    and carry the headers a response needs (Via, From, To, Call-ID, CSeq); otherwise `None`,
    and the caller drops the datagram.
    """
    head, _ = _split_head(data[: DEFAULT_LIMITS.max_message_bytes].lstrip(b"\r\n"))
    try:
        text = head.decode("utf-8", errors="replace")
    except ValueError:  # pragma: no cover - decode with "replace" does not raise
        return None
    lines = text.replace("\r\n", "\n").split("\n")
    start = lines[0].split(" ")
    if len(start) < 2 or start[0].startswith("SIP/") or start[0] == "ACK":
        return None
    wanted = {"Via", "From", "To", "Call-ID", "CSeq"}
    found: list[tuple[str, str]] = []
    for line in lines[1 : DEFAULT_LIMITS.max_headers]:
        colon = line.find(":")
        if colon <= 0 or len(line) > DEFAULT_LIMITS.max_header_line_bytes:
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
    fake = Request("X", "sip:x", headers)
    return make_response(fake, int(error.status), reason).to_bytes()
