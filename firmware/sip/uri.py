"""SIP and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966 for tel; RFC 4475 §3.1.1 torture URIs).

Pure. `parse_uri` never guesses: a URI it cannot read raises `SipParseError` (400, or 416 for
a scheme we do not serve) so that the caller answers instead of misrouting.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from firmware.sip.errors import SipParseError
from firmware.sip.status import SipStatus

Params = tuple[tuple[str, str | None], ...]

_SCHEMES = ("sip", "sips", "tel")


def parse_params(text: str) -> Params:
    """`;a=1;lr;B=x` → `(("a", "1"), ("lr", None), ("b", "x"))`. Names are lower-cased;
    values keep their case (a branch or tag is case-sensitive in practice)."""
    out: list[tuple[str, str | None]] = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, eq, value = part.partition("=")
        out.append((name.strip().lower(), value.strip() if eq else None))
    return tuple(out)


def format_params(params: Params) -> str:
    """The inverse of `parse_params`, with a leading `;` when there is anything."""
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)


def param_value(params: Params, name: str) -> str | None:
    """The value of `name` (None when absent or valueless; test presence with `has_param`)."""
    for n, v in params:
        if n == name:
            return v
    return None


def has_param(params: Params, name: str) -> bool:
    return any(n == name for n, _ in params)


def set_param(params: Params, name: str, value: str | None) -> Params:
    """`params` with `name` set to `value` (replacing, else appended)."""
    out = [(n, v) for n, v in params if n != name]
    out.append((name, value))
    return tuple(out)


def split_host_port(text: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]`, `[v6]:port` → (host, port). Raises `SipParseError`."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed IPv6 reference")
        host = text[: end + 1]
        rest = text[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed host")
        port_text = rest[1:]
    else:
        host, colon, port_text = text.partition(":")
        if not colon:
            port_text = ""
    if not host:
        raise SipParseError(SipStatus.BAD_REQUEST, "missing host")
    if not port_text:
        return host, None
    if (
        not (port_text.isascii() and port_text.isdigit())  # "²".isdigit() is true
        or len(port_text) > 5
        or not 0 < int(port_text) < 65536
    ):
        raise SipParseError(SipStatus.BAD_REQUEST, "malformed port")
    return host, int(port_text)


@dataclass(frozen=True, slots=True)
class SipUri:
    """`sip:user:password@host:port;params?headers`, or `tel:number;params` (host empty)."""

    scheme: str
    user: str | None
    host: str
    port: int | None = None
    params: Params = ()
    headers: str | None = None
    password: str | None = None

    def param(self, name: str) -> str | None:
        return param_value(self.params, name)

    def has_param(self, name: str) -> bool:
        return has_param(self.params, name)

    def with_params(self, **values: str | None) -> SipUri:
        params = self.params
        for name, value in values.items():
            params = set_param(params, name, value)
        return replace(self, params=params)

    @property
    def host_port(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        if self.scheme == "tel":
            return f"tel:{self.user or ''}{format_params(self.params)}"
        userinfo = ""
        if self.user is not None:
            userinfo = self.user
            if self.password is not None:
                userinfo += ":" + self.password
            userinfo += "@"
        tail = "" if self.headers is None else "?" + self.headers
        return f"{self.scheme}:{userinfo}{self.host_port}{format_params(self.params)}{tail}"


def parse_uri(text: str) -> SipUri:
    """Parse a SIP, SIPS or tel URI. Raises `SipParseError`: 416 for another scheme, else 400.

    The result is immutable and remembered (bounded), as each layer reads the same URIs."""
    if len(text) <= _CACHED_TEXT_MAX:
        return _parse_uri_cached(text)
    return _parse_uri(text)


_CACHED_TEXT_MAX = 512


@lru_cache(maxsize=2048)  # bounded: a flood of new URIs only evicts entries
def _parse_uri_cached(text: str) -> SipUri:
    return _parse_uri(text)


def _parse_uri(text: str) -> SipUri:
    text = text.strip()
    scheme, colon, rest = text.partition(":")
    scheme = scheme.lower()
    if not colon or not rest:
        raise SipParseError(SipStatus.BAD_REQUEST, "malformed URI")
    if scheme not in _SCHEMES:
        raise SipParseError(SipStatus.UNSUPPORTED_URI_SCHEME, "unsupported URI scheme")
    if scheme == "tel":
        number, _, ptext = rest.partition(";")
        if not number:
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed tel URI")
        return SipUri("tel", number, "", None, parse_params(ptext))
    user: str | None = None
    password: str | None = None
    # RFC 3261 §25.1: "@" is not allowed unescaped in uri-parameters or headers, so the last
    # one ends the userinfo, which may itself hold "?", ";" and ":" (RFC 4475 §3.1.1.2, §3.1.1.9).
    at = rest.rfind("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, pcolon, pw = userinfo.partition(":")
        password = pw if pcolon else None
    rest, qmark, headers = rest.partition("?")
    hostport, _, ptext = rest.partition(";")
    host, port = split_host_port(hostport)
    if any(c in host for c in " <>\"\\"):
        raise SipParseError(SipStatus.BAD_REQUEST, "malformed host")
    return SipUri(scheme, user, host.lower(), port, parse_params(ptext),
                  headers if qmark else None, password)
