"""YAML text or plain data → `Config`, refusing a bad document with every problem and its line.

The YAML is *composed*, not loaded: PyYAML's node tree keeps the line and column of every key and
value, so each problem points at the exact spot (`config.yaml:14:15: devices[2].password: too
short (8 characters at least)`). The REST API will hand us dicts decoded from JSON; they take
the same path without positions.

The walk is driven by the dataclasses in `firmware.config.schema`: their type hints say the
shape, `field(metadata=setting(...))` the bounds. Cross-field rules (uniqueness, references,
password strength) follow as small functions per record type.

Text settings accept plain YAML scalars as written (`extension: 0201` stays "0201", it does not
become the octal number 129), so installers need not quote numbers.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from firmware.calls.dialplan import DepartmentTarget, ExtensionTarget, MatchState
from firmware.calls.dialplan import validate as validate_plan
from firmware.calls.office import DEFAULT_TRUNK_GROUP, build_dial_plan, build_schedule
from firmware.config.errors import ConfigError, Problem
from firmware.config.schema import (
    Config,
    Device,
    DeviceAuth,
    DeviceKind,
    Door,
    Format,
    PortRange,
    RegistrationSettings,
    SipSettings,
    TrunkGroupSettings,
)
from firmware.features.door import DoorSettings
from firmware.sip.errors import SipParseError
from firmware.sip.uri import parse_uri

__all__ = [
    "CROSS_FIELD_RULES",
    "ConfigError",
    "Problem",
    "config_to_data",
    "dump_config",
    "load_config",
    "parse_config",
    "password_weakness",
    "validate_data",
]

MAX_DOCUMENT_BYTES = 1_048_576
"""A configuration larger than this is refused before parsing (an office needs a few KiB)."""


# --------------------------------------------------------------------------- located values


@dataclass(slots=True)
class _Node:
    """A value with the position it came from (1-based; None for data without text).

    `items` holds a mapping's entries by key, as (key node, value node); `seq` a list's nodes;
    `scalar` a scalar's Python value and `text` its source text when it was a plain YAML scalar.
    """

    kind: str  # "map" | "seq" | "scalar"
    line: int | None
    column: int | None
    items: dict[str, tuple[_Node, _Node]] = dataclasses.field(default_factory=dict)
    seq: list[_Node] = dataclasses.field(default_factory=list)
    scalar: object = None
    text: str | None = None


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


MAX_NODES = 100_000
"""Values walked per document; bounds the work YAML aliases can multiply ("billion laughs")."""


class _Composer:
    """Turns PyYAML's node tree into `_Node`s, refusing alias cycles and alias bombs."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        self.count = 0
        self.open: set[int] = set()

    def convert(self, node: yaml.Node, path: str) -> _Node:
        line, column = _mark(node)
        self.count += 1
        if self.count > MAX_NODES:
            raise ConfigError([Problem(path, line, column,
                                       f"more than {MAX_NODES} values (YAML aliases?)")])
        if id(node) in self.open:
            self.problems.append(Problem(path, line, column, "an alias refers to itself"))
            return _Node("scalar", line, column)
        self.open.add(id(node))
        try:
            return self._convert(node, path, line, column)
        finally:
            self.open.discard(id(node))

    def _convert(self, node: yaml.Node, path: str, line: int, column: int) -> _Node:
        problems = self.problems
        if isinstance(node, yaml.MappingNode):
            out = _Node("map", line, column)
            for key_node, value_node in node.value:
                kline, kcol = _mark(key_node)
                if not isinstance(key_node, yaml.ScalarNode):
                    problems.append(Problem(path, kline, kcol,
                                            "a setting name must be plain text"))
                    continue
                key = str(key_node.value)
                if key == "<<":
                    problems.append(Problem(_join(path, key), kline, kcol,
                                            "YAML merge keys are not supported: write the "
                                            "settings out"))
                    continue
                if key in out.items:
                    first = out.items[key][0]
                    problems.append(Problem(_join(path, key), kline, kcol,
                                            f"set twice (first on line {first.line}): "
                                            "remove one"))
                    continue
                key_located = _Node("scalar", kline, kcol, scalar=key, text=key)
                out.items[key] = (key_located, self.convert(value_node, _join(path, key)))
            return out
        if isinstance(node, yaml.SequenceNode):
            out = _Node("seq", line, column)
            out.seq = [self.convert(n, f"{path}[{i}]") for i, n in enumerate(node.value)]
            return out
        try:
            value = yaml.constructor.SafeConstructor().construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            problems.append(Problem(path, line, column, f"unreadable value: {exc.problem}"))
            value = None
        except ValueError:
            # A timestamp-shaped plain scalar that is no date (2026-02-30): keep the text and
            # let the setting's own check say what is wrong with it.
            value = str(node.value)
        plain = isinstance(node, yaml.ScalarNode) and node.style is None
        text = str(node.value) if plain else None
        return _Node("scalar", line, column, scalar=value, text=text)


def _from_data(value: object, problems: list[Problem], path: str) -> _Node:
    if isinstance(value, Mapping):
        out = _Node("map", None, None)
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append(Problem(path, None, None,
                                        f"setting name {key!r} must be text"))
                continue
            key_node = _Node("scalar", None, None, scalar=key)
            out.items[key] = (key_node, _from_data(item, problems, _join(path, key)))
        return out
    if isinstance(value, list | tuple):
        out = _Node("seq", None, None)
        out.seq = [_from_data(v, problems, f"{path}[{i}]") for i, v in enumerate(value)]
        return out
    return _Node("scalar", None, None, scalar=value)


_SCHEMAS: dict[type[Any], tuple[dict[str, Any], list[dataclasses.Field[Any]]]] = {}


def _schema_of(cls: type[Any]) -> tuple[dict[str, Any], list[dataclasses.Field[Any]]]:
    """Type hints and init fields of a settings class, resolved once: `get_type_hints`
    re-evaluates every annotation, which cost seconds for an office of 1 000 users."""
    schema = _SCHEMAS.get(cls)
    if schema is None:
        hints = typing.get_type_hints(cls)
        schema = _SCHEMAS[cls] = (hints, [f for f in dataclasses.fields(cls) if f.init])
    return schema


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --------------------------------------------------------------------------- the schema walk


class _Invalid:
    """Marks a value that could not be built; its problems are already reported."""


_INVALID = _Invalid()
_NONE_TYPE = type(None)
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)


class _Walker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def report(self, path: str, node: _Node | None, message: str) -> None:
        line = node.line if node is not None else None
        column = node.column if node is not None else None
        self.problems.append(Problem(path, line, column, message))

    # Records -----------------------------------------------------------------------------

    def record(self, cls: type[Any], node: _Node, path: str) -> object:
        """Build the dataclass `cls` from a mapping node; `_INVALID` after reporting problems."""
        if node.kind != "map":
            if node.kind == "scalar" and node.scalar is None:
                node = _Node("map", node.line, node.column)  # `sip:` with nothing under it
            else:
                self.report(path, node, "must be a group of settings (name: value lines)")
                return _INVALID
        hints, fields = _schema_of(cls)
        known = [f.name for f in fields]
        values: dict[str, object] = {}
        ok = True
        for f in fields:
            entry = node.items.get(f.name)
            if entry is None:
                if (f.default is dataclasses.MISSING
                        and f.default_factory is dataclasses.MISSING):
                    example = f.metadata.get("example")
                    hint = f": add `{f.name}: {example}`" if example else ""
                    self.report(_join(path, f.name), node, f"missing{hint}")
                    ok = False
                continue
            value = self.value(hints[f.name], f.metadata, entry[1], _join(path, f.name))
            if value is _INVALID:
                ok = False
            else:
                values[f.name] = value
        for key, (key_node, _) in node.items.items():
            if key not in known:
                self.report(_join(path, key), key_node, _unknown_key(key, known))
                ok = False
        if not ok:
            return _INVALID
        instance = cls(**values)
        rule = _RECORD_RULES.get(cls)
        if rule is not None and not rule(self, instance, node, path):
            return _INVALID
        return instance

    # Values ------------------------------------------------------------------------------

    def value(self, tp: Any, meta: Mapping[str, Any], node: _Node, path: str) -> object:
        origin = typing.get_origin(tp)
        if origin in (types.UnionType, typing.Union):
            args = [a for a in typing.get_args(tp) if a is not _NONE_TYPE]
            if node.kind == "scalar" and node.scalar is None:
                return None
            (tp,) = args  # schema unions are only `X | None`
            origin = typing.get_origin(tp)
        if origin is tuple:
            return self.sequence(typing.get_args(tp)[0], meta, node, path)
        if dataclasses.is_dataclass(tp):
            return self.record(tp, node, path)  # type: ignore[arg-type]
        if node.kind != "scalar":
            self.report(path, node, "must be a single value, not a list or group")
            return _INVALID
        if node.scalar is None:
            self.report(path, node, "needs a value")
            return _INVALID
        if isinstance(tp, type) and issubclass(tp, Enum):
            return self.enum(tp, node, path)
        if tp is str:
            return self.text(meta, node, path)
        if tp is int or tp is float:
            return self.number(tp, meta, node, path)
        if tp is bool:
            if isinstance(node.scalar, bool):
                return node.scalar
            self.report(path, node, "must be true or false")
            return _INVALID
        raise TypeError(f"schema type {tp!r} at {path} is not supported by the validator")

    def sequence(self, item_tp: Any, meta: Mapping[str, Any], node: _Node, path: str) -> object:
        if node.kind == "scalar" and node.scalar is None:
            items: list[_Node] = []
        elif node.kind != "seq":
            self.report(path, node, "must be a list (one '- ' line per item, or [a, b])")
            return _INVALID
        else:
            items = node.seq
        minimum = meta.get("minimum")
        if minimum is not None and len(items) < minimum:
            self.report(path, node, f"needs at least {int(minimum)} item(s)")
            return _INVALID
        out: list[object] = []
        ok = True
        for i, item in enumerate(items):
            value = self.value(item_tp, {}, item, f"{path}[{i}]")
            if value is _INVALID:
                ok = False
            elif meta.get("unique") and value in out:
                self.report(f"{path}[{i}]", item, f"{_show(value)} is listed twice")
                ok = False
            else:
                out.append(value)
        return tuple(out) if ok else _INVALID

    def enum(self, tp: type[Enum], node: _Node, path: str) -> object:
        raw = node.text if node.text is not None else node.scalar
        choices = [str(m.value) for m in tp]
        if isinstance(raw, str):
            for member in tp:
                if member.value == raw:
                    return member
        self.report(path, node, f"{_show(raw)} is not one of {', '.join(choices)}"
                    + _did_you_mean(str(raw), choices))
        return _INVALID

    def text(self, meta: Mapping[str, Any], node: _Node, path: str) -> object:
        secret = meta.get("format") is Format.PASSWORD
        if isinstance(node.scalar, str):
            value = node.scalar
        elif node.text is not None:
            value = node.text  # a plain YAML scalar that looked like a number or a boolean
        else:
            self.report(path, node, "must be text (quote it)")
            return _INVALID
        minimum, maximum = meta.get("minimum"), meta.get("maximum")
        if minimum is not None and len(value) < minimum:
            self.report(path, node, f"too short ({int(minimum)} characters at least)"
                        if minimum > 1 else "must not be empty")
            return _INVALID
        if maximum is not None and len(value) > maximum:
            self.report(path, node, f"too long ({int(maximum)} characters at most)")
            return _INVALID
        pattern = meta.get("pattern")
        if pattern is not None and not re.fullmatch(pattern, value):
            shown = "" if secret else f", not {_show(value)}"
            self.report(path, node, f"must be {meta.get('pattern_hint') or pattern}{shown}")
            return _INVALID
        problem = _FORMAT_CHECKS.get(meta.get("format"), _no_check)(value)
        if problem is not None:
            self.report(path, node, problem)
            return _INVALID
        return value

    def number(self, tp: type[Any], meta: Mapping[str, Any], node: _Node, path: str) -> object:
        value = node.scalar
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.report(path, node, f"must be a number, not {_show(value)}")
            return _INVALID
        if tp is int and not isinstance(value, int):
            self.report(path, node, f"must be a whole number, not {value}")
            return _INVALID
        unit = f" {meta['unit']}" if meta.get("unit") else ""
        minimum, maximum = meta.get("minimum"), meta.get("maximum")
        if minimum is not None and value < minimum:
            self.report(path, node, f"{value} is too small ({_num(minimum)}{unit} at least)")
            return _INVALID
        if maximum is not None and value > maximum:
            self.report(path, node, f"{value} is too large ({_num(maximum)}{unit} at most)")
            return _INVALID
        return tp(value)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _show(value: object) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f": did you mean '{close[0]}'?" if close else ""


def _unknown_key(key: str, known: Sequence[str]) -> str:
    hint = _did_you_mean(key, known)
    if hint:
        return f"unknown setting '{key}'{hint}"
    return f"unknown setting '{key}': known here are {', '.join(known)}"


def _no_check(value: str) -> str | None:
    return None


def _check_ip(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"must be an IP address such as 0.0.0.0 or 192.0.2.1, not '{value}'"
    return None


def _check_host(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if _HOSTNAME.fullmatch(value):
            return None
        return f"must be an IP address or a host name, not '{value}'"
    return None


def _check_sip_uri(value: str) -> str | None:
    try:
        uri = parse_uri(value)
    except SipParseError as exc:
        return f"is not a SIP URI ({exc.reason}): write it as sip:user@192.0.2.10:5060"
    if uri.scheme not in ("sip", "sips"):
        return "must be a sip: or sips: URI, such as sip:door@192.0.2.10:5060"
    return None


_FORMAT_CHECKS: dict[object, Callable[[str], str | None]] = {
    Format.IP_ADDRESS: _check_ip,
    Format.HOST: _check_host,
    Format.SIP_URI: _check_sip_uri,
}


# --------------------------------------------------------------------------- cross-field rules

_COMMON_PASSWORDS = frozenset({
    "password", "password1", "passw0rd", "12345678", "123456789", "1234567890", "87654321",
    "qwertyui", "qwertyuiop", "qwerty123", "asdfghjk", "11111111", "00000000", "abcd1234",
    "iloveyou", "letmein1", "welcome1", "admin123", "administrator", "switchbox",
    "changeme", "trustno1", "sunshine", "football", "baseball", "superman", "1q2w3e4r",
    "zaq12wsx", "secret12", "p@ssw0rd",
})


def password_weakness(password: str, username: str | None = None) -> str | None:
    """Why `password` is too weak for a SIP device, or None when it will do.

    SIP scanners try usernames as passwords, keyboard runs and the few dozen passwords every
    leaked list starts with; a device that registers from the Internet meets them within hours.
    """
    if len(password) < 8:
        return "too short (8 characters at least)"
    lowered = password.lower()
    if username is not None and username.lower() in lowered:
        return "contains the username: choose one that does not"
    if lowered in _COMMON_PASSWORDS:
        return "is a commonly used password: choose another"
    if len(set(password)) < 4:
        return "uses fewer than 4 different characters: choose a less repetitive one"
    steps = {ord(b) - ord(a) for a, b in zip(password, password[1:], strict=False)}
    if steps in ({1}, {-1}):
        return "is a simple sequence: choose another"
    return None


def _child(node: _Node, *keys: str | int) -> _Node:
    """The node at `keys` below `node`, or the deepest one that exists (for a position)."""
    for key in keys:
        if isinstance(key, int):
            if node.kind != "seq" or key >= len(node.seq):
                return node
            node = node.seq[key]
        else:
            entry = node.items.get(key) if node.kind == "map" else None
            if entry is None:
                return node
            node = entry[1]
    return node


def _port_range_rule(w: _Walker, r: PortRange, node: _Node, path: str) -> bool:
    ok = True
    if r.start % 2:
        w.report(_join(path, "start"), _child(node, "start"),
                 f"must be even (RTP uses even ports, RFC 3550 §11): try {r.start - 1}")
        ok = False
    if r.end - r.start < 1:
        w.report(_join(path, "end"), _child(node, "end"),
                 f"must be above start ({r.start})")
        ok = False
    return ok


def _registration_rule(w: _Walker, r: RegistrationSettings, node: _Node, path: str) -> bool:
    if r.min_expires_s > r.max_expires_s:
        w.report(_join(path, "min_expires_s"), _child(node, "min_expires_s"),
                 f"must not exceed max_expires_s ({r.max_expires_s} s)")
        return False
    if not r.min_expires_s <= r.default_expires_s <= r.max_expires_s:
        w.report(_join(path, "default_expires_s"), _child(node, "default_expires_s"),
                 f"must lie between min_expires_s ({r.min_expires_s} s) and max_expires_s "
                 f"({r.max_expires_s} s)")
        return False
    return True


def _sip_rule(w: _Walker, s: SipSettings, node: _Node, path: str) -> bool:
    if s.rtp_ports.start <= s.port <= s.rtp_ports.end:
        w.report(_join(path, "port"), _child(node, "port"),
                 f"{s.port} lies inside rtp_ports ({s.rtp_ports.start}-{s.rtp_ports.end}): "
                 "move one of them")
        return False
    return True


def _device_rule(w: _Walker, d: Device, node: _Node, path: str) -> bool:
    if d.kind is not DeviceKind.SIP:
        return _port_device_rule(w, d, node, path)
    ok = True
    for name in ("port", "handset", "hotline"):
        if getattr(d, name) is not None:
            w.report(_join(path, name), _child(node, name),
                     "is only for fxs and dect devices: remove it, or set `kind: fxs` or "
                     "`kind: dect`")
            ok = False
    if d.auth is DeviceAuth.DIGEST:
        for name in ("username", "password"):
            if getattr(d, name) is None:
                w.report(_join(path, name), _child(node, name),
                         f"missing: a device with auth: digest needs a {name}; or set "
                         "`auth: none` with a fixed `contact:` for a device that does not "
                         "register")
                ok = False
        if d.password is not None:
            weakness = password_weakness(d.password, d.username)
            if weakness is not None:
                w.report(_join(path, "password"), _child(node, "password"), weakness)
                ok = False
    else:
        if d.contact is None:
            w.report(_join(path, "contact"), _child(node, "contact"),
                     "missing: a device with auth: none is reached only at a fixed contact; "
                     "add `contact: sip:name@address`")
            ok = False
        if d.password is not None:
            w.report(_join(path, "password"), _child(node, "password"),
                     "is never checked with auth: none: remove it, or set `auth: digest`")
            ok = False
    return ok


def _port_device_rule(w: _Walker, d: Device, node: _Node, path: str) -> bool:
    """An FXS device is trusted by its port and a DECT handset by its base's subscription:
    neither has SIP credentials or a contact."""
    ok = True
    prefix = "fxs" if d.kind is DeviceKind.FXS else "dect"
    example = "fxs1" if d.kind is DeviceKind.FXS else "dect1"
    if d.port is None:
        w.report(_join(path, "port"), _child(node, "port"),
                 f"missing: a {d.kind.value} device needs the port it is on; add "
                 f"`port: {example}`")
        ok = False
    elif not d.port.startswith(prefix):
        w.report(_join(path, "port"), _child(node, "port"),
                 f"'{d.port}' is not a {prefix} port: a {d.kind.value} device is on a port "
                 f"such as {example}")
        ok = False
    if d.kind is DeviceKind.DECT and d.handset is None:
        w.report(_join(path, "handset"), _child(node, "handset"),
                 "missing: a dect device needs its handset number on the base; add "
                 "`handset: 1`")
        ok = False
    if d.kind is DeviceKind.FXS and d.handset is not None:
        w.report(_join(path, "handset"), _child(node, "handset"),
                 "is only for dect devices: remove it")
        ok = False
    for name in ("username", "password", "contact"):
        if getattr(d, name) is not None:
            w.report(_join(path, name), _child(node, name),
                     f"a {d.kind.value} device is trusted by its port and never registers: "
                     "remove it")
            ok = False
    return ok


_FXO_PORT = re.compile(r"fxo[1-9][0-9]*")


def _trunk_group_rule(w: _Walker, g: TrunkGroupSettings, node: _Node, path: str) -> bool:
    ok = True
    for i, line in enumerate(g.lines):
        if not _FXO_PORT.fullmatch(line):
            w.report(f"{path}.lines[{i}]", _child(node, "lines", i),
                     f"must be fxo and the port number, e.g. fxo1, not '{line}'")
            ok = False
    return ok


def _door_rule(w: _Walker, d: Door, node: _Node, path: str) -> bool:
    """The door core's own checks (features.door.DoorSettings.problems), so that the
    revision the box accepts is one the door panel accepts."""
    settings = DoorSettings(**{f.name: getattr(d, f.name) for f in dataclasses.fields(Door)})
    problems = settings.problems()
    for problem in problems:
        w.report(path, node, problem)
    return not problems


def _text_of(node: _Node) -> str | None:
    if node.kind != "scalar" or node.scalar is None:  # `username: null` is no username
        return None
    if isinstance(node.scalar, str):
        return node.scalar
    return node.text


def _document_rule(w: _Walker, root: _Node) -> None:
    """Uniqueness and references across records.

    Runs on the nodes rather than the built records, so that a document with a bad password in
    one device still hears about a duplicate extension in another: every problem at once.
    """

    def column(section: str, name: str) -> list[tuple[int, str | None, _Node]]:
        seq = _child(root, section)
        if seq.kind != "seq":
            return []
        out: list[tuple[int, str | None, _Node]] = []
        for i, item in enumerate(seq.seq):
            value = _child(item, name) if item.kind == "map" and name in item.items else None
            out.append((i, None if value is None else _text_of(value), value or item))
        return out

    def unique(section: str, name: str) -> None:
        seen: dict[str, int] = {}
        for i, value, node in column(section, name):
            if value is None:
                continue
            if value in seen:
                w.report(f"{section}[{i}].{name}", node,
                         f"'{value}' is already used by {section}[{seen[value]}]: "
                         f"each {name} must be unique")
            else:
                seen[value] = i

    unique("users", "id")
    unique("users", "extension")
    unique("devices", "id")
    unique("devices", "username")
    unique("fxo_lines", "port")
    unique("trunk_groups", "id")
    unique("classes_of_service", "name")
    unique("inbound", "line")
    unique("doors", "id")
    _unique_ports(w, _child(root, "devices"))
    user_ids = [v for _, v, _ in column("users", "id") if v is not None]
    for i, owner, node in column("devices", "user"):
        if owner is not None and owner not in user_ids:
            w.report(f"devices[{i}].user", node,
                     f"no user has id '{owner}'" + (_did_you_mean(owner, user_ids)
                                                    or ": add the user under `users:`"))


def _unique_ports(w: _Walker, devices: _Node) -> None:
    """Each FXS port rings one device, and each DECT handset number on a base is one device."""
    if devices.kind != "seq":
        return
    seen: dict[tuple[str, object], int] = {}
    for i, item in enumerate(devices.seq):
        if item.kind != "map" or "port" not in item.items:
            continue
        kind_node = item.items.get("kind")
        kind = _text_of(kind_node[1]) if kind_node is not None else DeviceKind.SIP.value
        port = _text_of(_child(item, "port"))
        if port is None or kind not in (DeviceKind.FXS.value, DeviceKind.DECT.value):
            continue
        handset = _child(item, "handset").scalar if "handset" in item.items else None
        key = (port, handset if kind == DeviceKind.DECT.value else None)
        if key in seen:
            if kind == DeviceKind.FXS.value:
                path, what = f"devices[{i}].port", f"port {port}"
                node = _child(item, "port")
            else:
                path, what = f"devices[{i}].handset", f"handset {handset} of {port}"
                node = _child(item, "handset")
            w.report(path, node, f"{what} is already used by devices[{seen[key]}]: each is "
                     "one device")
        else:
            seen[key] = i


def _node_at(root: _Node, path: str) -> _Node:
    """The node a problem path (`users[3].extension`) names, or the deepest that exists."""
    keys: list[str | int] = []
    for part in path.split("."):
        name, _, rest = part.partition("[")
        if name:
            keys.append(name)
        for index in rest.replace("]", "").split("[") if rest else ():
            keys.append(int(index))
    return _child(root, *keys)


# dialplan.validate names settings of its own plan; these are where they live in the document.
_PLAN_PATHS = (
    ("numbering.country", "office.country"),
    ("numbering.extra_emergency", "numbering.emergency"),
    ("terminator", "numbering.terminator"),
    ("timeouts", "numbering.timeouts"),
)


def _plan_path(path: str) -> str:
    for theirs, ours in _PLAN_PATHS:
        if path == theirs or path.startswith((theirs + ".", theirs + "[")):
            return ours + path[len(theirs):]
    return path


def _telephony_rule(w: _Walker, c: Config, node: _Node) -> None:
    """References between the telephony sections, and the dial plan's own conflicts.

    Runs after the document rule on a built revision; a plan problem at a path already
    reported (a duplicate extension) is left out, so each mistake is listed once.
    """
    reported = {p.path for p in w.problems}

    def report(where: str, message: str) -> None:
        if where not in reported:
            reported.add(where)
            w.report(where, _node_at(node, where), message)

    groups = [g.id for g in c.trunk_groups] or [DEFAULT_TRUNK_GROUP]
    classes = ["standard", "internal_only", *(k.name for k in c.classes_of_service)]
    for i, access in enumerate(c.numbering.trunk_access):
        if access.trunk_group not in groups:
            report(f"numbering.trunk_access[{i}].trunk_group",
                   f"no trunk group has id '{access.trunk_group}'"
                   + (_did_you_mean(access.trunk_group, groups)
                      or f": known are {', '.join(groups)}"))
    for i, cos in enumerate(c.classes_of_service):
        for j, group in enumerate(cos.trunk_groups or ()):
            if group not in groups:
                report(f"classes_of_service[{i}].trunk_groups[{j}]",
                       f"no trunk group has id '{group}'"
                       + (_did_you_mean(group, groups) or f": known are {', '.join(groups)}"))
    for i, user in enumerate(c.users):
        if user.class_of_service not in classes:
            report(f"users[{i}].class_of_service",
                   f"no class of service is named '{user.class_of_service}'"
                   + (_did_you_mean(user.class_of_service, classes)
                      or ": add it under `classes_of_service:`"))
    plan = build_dial_plan(c)
    for problem in validate_plan(plan):
        report(_plan_path(problem.path), problem.message)
    for i, route in enumerate(c.inbound):
        for name in ("destination", "night", "lunch", "holiday"):
            number = getattr(route, name)
            if number is None:
                continue
            target = plan.resolve(number)
            if target.state is not MatchState.COMPLETE or not isinstance(
                    target.target, ExtensionTarget | DepartmentTarget):
                report(f"inbound[{i}].{name}",
                       f"'{number}' is no extension or department number")
    _mode_rules(c, report)
    for i, door in enumerate(c.doors):
        station = next((d for d in c.devices if d.id == door.station_device), None)
        if station is None:
            fxs = [d.id for d in c.devices if d.kind is DeviceKind.FXS]
            report(f"doors[{i}].station_device",
                   f"no device has id '{door.station_device}'"
                   + (_did_you_mean(door.station_device, fxs)
                      or ": add the door station under `devices:` with `kind: fxs`"))
        elif station.kind is not DeviceKind.FXS:
            report(f"doors[{i}].station_device",
                   f"'{door.station_device}' is a {station.kind.value} device: a door station "
                   "is an fxs device (SIP door intercoms come later)")
        target = plan.resolve(door.rings)
        if target.state is not MatchState.COMPLETE or not isinstance(
                target.target, ExtensionTarget | DepartmentTarget):
            report(f"doors[{i}].rings", f"'{door.rings}' is no extension or department number")
    _disa_rules(c, report)


def _mode_rules(c: Config, report: Callable[[str, str], None]) -> None:
    """The schedule builds (time zone, holiday calendar, hours that do not overlap, real
    dates) and the users allowed to switch modes exist."""
    users = [u.id for u in c.users]
    for i, user in enumerate(c.modes.authorised_users or ()):
        if user not in users:
            report(f"modes.authorised_users[{i}]", f"no user has id '{user}'"
                   + (_did_you_mean(user, users) or ": add the user under `users:`"))
    try:
        build_schedule(c)
    except ConfigError as exc:
        for problem in exc.problems:
            report(problem.path, problem.message)


def _disa_rules(c: Config, report: Callable[[str, str], None]) -> None:
    users = [u.id for u in c.users]
    seen: dict[str, int] = {}
    for i, entry in enumerate(c.disa.user_pins):
        if entry.user not in users:
            report(f"disa.user_pins[{i}].user", f"no user has id '{entry.user}'"
                   + (_did_you_mean(entry.user, users) or ""))
        if entry.pin in seen:
            report(f"disa.user_pins[{i}].pin",
                   f"the same PIN as disa.user_pins[{seen[entry.pin]}]: a PIN must name one user")
        seen.setdefault(entry.pin, i)
    for i, line in enumerate(c.disa.lines):
        if not _FXO_PORT.fullmatch(line):
            report(f"disa.lines[{i}]", f"must be fxo and the port number, e.g. fxo1, "
                                       f"not '{line}'")
    if c.disa.enabled and not c.disa.lines:
        report("disa.lines", "DISA is enabled but answers no line: list the FXO ports")
    if c.disa.enabled and not c.disa.user_pins and not c.disa.extensions_without_pin:
        report("disa.user_pins", "DISA is enabled but has no PIN and no extension dialling")


CROSS_FIELD_RULES: tuple[str, ...] = (
    "`users[].id`, `users[].extension`, `devices[].id`, `devices[].username` and "
    "`fxo_lines[].port` are unique.",
    "`devices[].user` names an existing `users[].id`.",
    "A device with `auth: digest` has a `username` and a `password`; the password is at least "
    "8 characters, does not contain the username, is not a commonly used password, uses at "
    "least 4 different characters and is not a simple sequence such as `abcdefgh`.",
    "A device with `auth: none` has a `contact` and no `password`.",
    "`sip.rtp_ports.start` is even and below `sip.rtp_ports.end`; `sip.port` lies outside "
    "`sip.rtp_ports`.",
    "`sip.registration`: `min_expires_s` ≤ `default_expires_s` ≤ `max_expires_s`.",
    "A device with `kind: fxs` has a `port` (fxsN) and no `handset`, `username`, `password` "
    "or `contact`; one with `kind: dect` has a `port` (dectN) and a `handset`, and no "
    "`username`, `password` or `contact`; a `sip` device has neither `port` nor `handset`. "
    "Each FXS port and each handset number of a DECT base belongs to one device.",
    "`trunk_groups[].id`, `classes_of_service[].name` and `inbound[].line` are unique.",
    "`numbering.trunk_access[].trunk_group` and `classes_of_service[].trunk_groups` name "
    "existing trunk groups (`city` when none are configured); `users[].class_of_service` "
    "names `standard`, `internal_only` or a class under `classes_of_service`; "
    "`inbound[].destination` is an extension or department number.",
    "`disa.user_pins[].user` names an existing user and no two PINs are the same; "
    "`disa.lines` are FXO ports, and an enabled DISA lists at least one.",
    "`inbound[].night`, `.lunch` and `.holiday` are extension or department numbers; "
    "`modes.authorised_users` name existing users.",
    "An enabled `schedule` has a known IANA `time_zone`, a `country` (or `office.country`) "
    "with a public holiday calendar when `public_holidays` is on, and a `subdivision` of it; "
    "`working_hours` entries do not share time, last less than 24 h, and each lunch break "
    "(both ends or neither) lies within its hours; `closures` and `working_days` are real "
    "dates, none in both lists.",
    "`doors[].id` are unique; `doors[].station_device` names an existing `fxs` device; "
    "`doors[].rings` is an extension or department number.",
    "The numbering plan is unambiguous: extensions, feature codes, trunk access codes and the "
    "country's emergency numbers are unique and none is the start of another (an extension "
    "may not begin with a trunk access code, a feature code taking digits may not begin "
    "another code); `numbering.timeouts`: 0 < `maybe_complete_s` ≤ `inter_digit_s` ≤ "
    "`first_digit_s`.",
)
"""The rules the functions above enforce, as the configuration reference states them."""


_RECORD_RULES: dict[type[Any], Callable[[_Walker, Any, _Node, str], bool]] = {
    PortRange: _port_range_rule,
    RegistrationSettings: _registration_rule,
    SipSettings: _sip_rule,
    Device: _device_rule,
    TrunkGroupSettings: _trunk_group_rule,
    Door: _door_rule,
}


# --------------------------------------------------------------------------- public API


def _build(root: _Node | None, problems: list[Problem], source: str | None) -> Config:
    walker = _Walker()
    walker.problems.extend(problems)
    config: object = Config()
    if root is not None:
        config = walker.record(Config, root, "")
        if root.kind == "map":
            _document_rule(walker, root)
            if isinstance(config, Config):
                _telephony_rule(walker, config, root)
    if walker.problems or not isinstance(config, Config):
        raise ConfigError(walker.problems, source)
    return config


def parse_config(text: str, source: str | None = None) -> Config:
    """Validate a YAML document. Raises `ConfigError` listing every problem with its line.

    `source` names the document in messages (a file name). An empty document is the default
    office without users.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES:
        raise ConfigError([Problem("", None, None, f"larger than {MAX_DOCUMENT_BYTES} bytes")],
                          source)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        message = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigError([Problem("", line, column, f"YAML syntax: {message}")],
                          source) from exc
    except yaml.YAMLError as exc:  # e.g. a reader error on a control character
        raise ConfigError([Problem("", None, None, f"YAML: {exc}")], source) from exc
    problems: list[Problem] = []
    root = None
    if node is not None:
        try:
            root = _Composer(problems).convert(node, "")
        except ConfigError as exc:
            raise ConfigError(exc.problems, source) from None
        if root.kind == "scalar" and root.scalar is None:
            root = None
    return _build(root, problems, source)


def load_config(path: Path) -> Config:
    """Read and validate a configuration file. Raises `ConfigError` (also when unreadable)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem("", None, None, f"cannot read: {exc}")], str(path)) from exc
    return parse_config(text, str(path))


def validate_data(data: Mapping[str, object]) -> Config:
    """Validate decoded data (JSON from the REST API). Raises `ConfigError` without lines."""
    problems: list[Problem] = []
    root = _from_data(data, problems, "")
    return _build(root, problems, None)


def config_to_data(config: object, *, omit_defaults: bool = False) -> Any:
    """The plain-data form of a config or one of its sections (dicts, lists, str, numbers).

    `validate_data(config_to_data(c)) == c`. With `omit_defaults`, settings equal to their
    default are left out, which keeps generated documents short.
    """
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(config):
            if not f.init:
                continue
            value = getattr(config, f.name)
            if omit_defaults:
                if f.default is not dataclasses.MISSING and value == f.default:
                    continue
                if (f.default_factory is not dataclasses.MISSING
                        and value == f.default_factory()):
                    continue
            out[f.name] = config_to_data(value, omit_defaults=omit_defaults)
        return out
    if isinstance(config, tuple | list):
        return [config_to_data(v, omit_defaults=omit_defaults) for v in config]
    if isinstance(config, Enum):
        return config.value
    return config


def dump_config(config: Config, *, header: str = "", omit_defaults: bool = False) -> str:
    """The YAML text of `config`, preceded by `header` lines as comments.

    `parse_config(dump_config(c)) == c`.
    """
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    body = yaml.safe_dump(config_to_data(config, omit_defaults=omit_defaults),
                          sort_keys=False, allow_unicode=True, default_flow_style=False,
                          width=100)
    return comments + body
