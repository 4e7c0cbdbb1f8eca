"""Structured SIP header values: Via (RFC 3261 §20.42, RFC 3581 rport) and name-addr headers
(From, To, Contact, Route, Record-Route, Refer-To; RFC 3261 §20.10, §25.1).

Pure. Values come from `Headers` entries already split on commas by the message parser.
LWS is accepted wherever RFC 3261 §25.1 allows it (RFC 4475 §3.1.1.1); a URI with headers
outside <> is refused (RFC 4475 §3.1.2.13).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from firmware.sip.errors import SipParseError
from firmware.sip.status import SipStatus
from firmware.sip.uri import (
    Params,
    SipUri,
    format_params,
    has_param,
    param_value,
    parse_params,
    parse_uri,
    set_param,
    split_host_port,
)

BRANCH_MAGIC = "z9hG4bK"  # RFC 3261 §8.1.1.7


@dataclass(frozen=True, slots=True)
class Via:
    """One Via entry: `SIP/2.0/UDP host:port;branch=…;rport;received=…`."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()

    @property
    def branch(self) -> str | None:
        return param_value(self.params, "branch")

    @property
    def received(self) -> str | None:
        return param_value(self.params, "received")

    @property
    def rport(self) -> int | None:
        """The filled-in rport value, if any (`has_rport` says whether it was asked for)."""
        value = param_value(self.params, "rport")
        return int(value) if value and value.isascii() and value.isdigit() else None

    @property
    def has_rport(self) -> bool:
        return has_param(self.params, "rport")

    def with_param(self, name: str, value: str | None) -> Via:
        return replace(self, params=set_param(self.params, name, value))

    def response_address(self, default_port: int = 5060) -> tuple[str, int]:
        """Where responses go (RFC 3261 §18.2.2 with RFC 3581 §4): received/rport if present."""
        host = self.received or self.host
        port = self.rport or self.port or default_port
        return host.strip("[]"), port

    def __str__(self) -> str:
        hp = self.host if self.port is None else f"{self.host}:{self.port}"
        return f"SIP/2.0/{self.transport} {hp}{format_params(self.params)}"


# RFC 3261 §20.42: sent-protocol = name SLASH version SLASH transport, SLASH = SWS "/" SWS;
# sent-by = host [ COLON port ]. LWS is allowed around both (RFC 4475 §3.1.1.1).
_VIA_PARTS_RE = re.compile(
    r"([^\s/]+)[ \t]*/[ \t]*([^\s/]+)[ \t]*/[ \t]*([^\s/;]+)[ \t]+([^;]*)(;.*)?", re.S
)


def _parse_via(value: str) -> Via:
    """Parse one Via entry. Raises `SipParseError` (400, "malformed Via")."""
    match = _VIA_PARTS_RE.fullmatch(value.strip())
    if match is None:
        raise SipParseError(SipStatus.BAD_REQUEST, "malformed Via")
    name, _version, transport, sent_by, ptext = match.groups()
    sent_by = sent_by.replace(" ", "").replace("\t", "")
    if name.upper() != "SIP" or not sent_by:
        raise SipParseError(SipStatus.BAD_REQUEST, "malformed Via")
    try:
        host, port = split_host_port(sent_by)
    except SipParseError:
        raise SipParseError(SipStatus.BAD_REQUEST, "malformed Via") from None
    return Via(transport.upper(), host, port, parse_params(ptext or ""))


@dataclass(frozen=True, slots=True)
class NameAddr:
    """`"Display" <uri>;params` — From, To, Contact, Route, Record-Route, Refer-To."""

    uri: SipUri
    display: str | None = None
    params: Params = ()

    @property
    def tag(self) -> str | None:
        return param_value(self.params, "tag")

    def param(self, name: str) -> str | None:
        return param_value(self.params, name)

    def with_param(self, name: str, value: str | None) -> NameAddr:
        return replace(self, params=set_param(self.params, name, value))

    def with_tag(self, tag: str) -> NameAddr:
        return self.with_param("tag", tag)

    def __str__(self) -> str:
        display = ""
        if self.display:
            escaped = self.display.replace("\\", "\\\\").replace('"', '\\"')
            display = f'"{escaped}" '
        return f"{display}<{self.uri}>{format_params(self.params)}"


def parse_name_addr(value: str) -> NameAddr:
    """Parse a name-addr or addr-spec header value.

    In the addr-spec form (no angle brackets) every `;param` belongs to the header, not the URI
    (RFC 3261 §20.10). Raises `SipParseError` (400, or 416 for an unsupported scheme).

    The result is immutable and remembered: the transaction layer, the dialog and the
    controller each read From/To/Contact of the same message, and parse it once between them.
    """
    if len(value) <= _CACHED_TEXT_MAX:
        return _parse_name_addr_cached(value)
    return _parse_name_addr(value)


def parse_via(value: str) -> Via:
    """Parse one Via entry (remembered like `parse_name_addr`; raises `SipParseError`)."""
    if len(value) <= _CACHED_TEXT_MAX:
        return _parse_via_cached(value)
    return _parse_via(value)


_CACHED_TEXT_MAX = 512
"""Longer values are parsed every time: the caches stay small whatever a peer sends."""


@lru_cache(maxsize=2048)  # bounded: a flood of new values only evicts entries
def _parse_name_addr_cached(value: str) -> NameAddr:
    return _parse_name_addr(value)


@lru_cache(maxsize=2048)
def _parse_via_cached(value: str) -> Via:
    return _parse_via(value)


def _parse_name_addr(value: str) -> NameAddr:
    text = value.strip()
    display: str | None = None
    if text.startswith('"'):
        i = 1
        buf: list[str] = []
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text):
                buf.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                break
            buf.append(ch)
            i += 1
        else:
            raise SipParseError(SipStatus.BAD_REQUEST, "unterminated display name")
        display = "".join(buf)
        text = text[i + 1 :].strip()
    lt = text.find("<")
    if lt >= 0:
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError(SipStatus.BAD_REQUEST, "unterminated <URI>")
        if display is None and text[:lt].strip():
            display = text[:lt].strip()
        uri = parse_uri(text[lt + 1 : gt])
        params = parse_params(text[gt + 1 :])
    else:
        if display is not None:
            raise SipParseError(SipStatus.BAD_REQUEST, "display name without <URI>")
        uri_text, _, ptext = text.partition(";")
        if "?" in uri_text or "," in uri_text:
            # RFC 3261 §20: a URI with "," "?" or ";" must be in <>; RFC 4475 §3.1.2.13.
            raise SipParseError(SipStatus.BAD_REQUEST, "URI with headers needs <>")
        uri = parse_uri(uri_text)
        params = parse_params(ptext)
    return NameAddr(uri, display, params)


@dataclass(frozen=True, slots=True)
class AuthParams:
    """A digest challenge or credentials: scheme plus `key=value` pairs (RFC 7616 §3.3/§3.4)."""

    scheme: str
    params: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        for n, v in self.params:
            if n == name:
                return v
        return None

    def render(self, unquoted: frozenset[str] = frozenset({"algorithm", "stale", "nc"})) -> str:
        """Format for a header; names in `unquoted` are written bare (RFC 7616 §3.3: algorithm,
        stale; §3.4: nc and, in credentials, qop)."""
        rendered = [f"{n}={v}" if n in unquoted else f'{n}="{_escape(v)}"' for n, v in self.params]
        return f"{self.scheme} " + ", ".join(rendered)

    def __str__(self) -> str:
        return self.render()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def parse_auth(value: str) -> AuthParams:
    """Parse `Digest realm="x", nonce="y", …` (WWW-/Proxy-Authenticate, (Proxy-)Authorization).

    Names are lower-cased; quoted values unescaped. Raises `SipParseError` (400).
    """
    text = value.strip()
    scheme, _, rest = text.partition(" ")
    if not scheme:
        raise SipParseError(SipStatus.BAD_REQUEST, "malformed authorization")
    params: list[tuple[str, str]] = []
    i = 0
    n = len(rest)
    while i < n:
        while i < n and rest[i] in " \t,":
            i += 1
        if i >= n:
            break
        eq = rest.find("=", i)
        if eq < 0:
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed authorization")
        name = rest[i:eq].strip().lower()
        i = eq + 1
        while i < n and rest[i] in " \t":
            i += 1
        if i < n and rest[i] == '"':
            i += 1
            buf: list[str] = []
            while i < n and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(rest[i])
                i += 1
            if i >= n:
                raise SipParseError(SipStatus.BAD_REQUEST, "unterminated quoted string")
            i += 1
            val = "".join(buf)
        else:
            end = rest.find(",", i)
            end = n if end < 0 else end
            val = rest[i:end].strip()
            i = end
        if not name:
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed authorization")
        params.append((name, val))
    return AuthParams(scheme, tuple(params))


def contact_expires(contact: NameAddr, header_expires: str | None, default: int) -> int:
    """The expiry a REGISTER asks for one contact (RFC 3261 §10.2.1.1): the contact's
    `expires` parameter, else the Expires header, else `default`. Malformed values → default."""
    for text in (contact.param("expires"), header_expires):
        if text is not None and text.strip().isascii() and text.strip().isdigit():
            return int(text.strip())
    return default


__all__ = [
    "BRANCH_MAGIC",
    "AuthParams",
    "NameAddr",
    "Params",
    "Via",
    "contact_expires",
    "parse_auth",
    "parse_name_addr",
    "parse_via",
]
