"""One configuration revision as call control needs it: directory, dial plan, class of service,
trunk groups, where city lines ring, analog line behaviour.

`build_office` is pure (no I/O, no clock) and total for a validated revision: the configuration
validator builds the same dial plan and reports `dialplan.validate` problems with the setting
path, so a revision that activates always gives a usable `Office`. The controller swaps the
whole `Office` when a revision is applied; calls in progress keep the one they started with.

Feature codes: each `numbering.feature_codes` setting is one `Feature`, the key the controller
acts on (`FeatureTarget.feature`); what follows each code (nothing, an extension, a
destination, N digits) is fixed here in `FEATURE_ARGUMENTS`, not configurable, because the
feature's code depends on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from firmware.calls.analog import LineSettings
from firmware.calls.cos import (
    INTERNAL_ONLY,
    ClassOfService,
    CosPolicy,
    Limits,
    Subject,
    SubjectKind,
)
from firmware.calls.dialplan import (
    ArgumentKind,
    DialPlan,
    DialTimeouts,
    Extension,
    FeatureCode,
    TrunkAccess,
)
from firmware.calls.directory import DeviceEntry, Directory, UserEntry
from firmware.calls.numbers import NumberingContext
from firmware.config.schema import (
    ClassOfServiceSettings,
    Config,
    DeviceAuth,
    DeviceKind,
    FeatureCodeSettings,
    Hunting,
    Role,
)
from firmware.features.disa import DisaPin, DisaSettings
from firmware.sip.errors import SipParseError
from firmware.sip.uri import parse_uri

__all__ = [
    "DEFAULT_TRUNK_GROUP",
    "FEATURE_ARGUMENTS",
    "Feature",
    "Office",
    "TrunkGroup",
    "build_dial_plan",
    "build_directory",
    "build_office",
    "effective_trunk_groups",
    "numbering_context",
]

DEFAULT_TRUNK_GROUP = "city"
"""The group that holds every FXO port of the board when no `trunk_groups` are configured."""


class Feature(StrEnum):
    """What a feature code asks for; the values are the `numbering.feature_codes` settings."""

    PICKUP = "pickup"
    DIRECTED_PICKUP = "directed_pickup"
    PARK = "park"
    UNPARK = "unpark"
    FORWARD_ALWAYS = "forward_always"
    FORWARD_BUSY = "forward_busy"
    FORWARD_NO_ANSWER = "forward_no_answer"
    FORWARD_CANCEL = "forward_cancel"
    DND_ON = "dnd_on"
    DND_OFF = "dnd_off"
    MODE = "mode"
    DOOR_OPEN = "door_open"
    VOICEMAIL = "voicemail"
    INTERCOM = "intercom"
    PAGE = "page"
    PROGRAMMING = "programming"


@dataclass(frozen=True, slots=True)
class FeatureArgument:
    kind: ArgumentKind
    min_digits: int = 1
    max_digits: int = 1


_NONE = FeatureArgument(ArgumentKind.NONE)
_ONE_DIGIT = FeatureArgument(ArgumentKind.DIGITS, 1, 1)

FEATURE_ARGUMENTS: Mapping[Feature, FeatureArgument] = MappingProxyType({
    Feature.PICKUP: _NONE,
    Feature.DIRECTED_PICKUP: FeatureArgument(ArgumentKind.EXTENSION),
    Feature.PARK: _ONE_DIGIT,            # slot 0-9
    Feature.UNPARK: _ONE_DIGIT,
    Feature.FORWARD_ALWAYS: FeatureArgument(ArgumentKind.DESTINATION),
    Feature.FORWARD_BUSY: FeatureArgument(ArgumentKind.DESTINATION),
    Feature.FORWARD_NO_ANSWER: FeatureArgument(ArgumentKind.DESTINATION),
    Feature.FORWARD_CANCEL: _NONE,
    Feature.DND_ON: _NONE,
    Feature.DND_OFF: _NONE,
    Feature.MODE: _ONE_DIGIT,            # 0 auto, 1 day, 2 night, 3 lunch, 4 holiday
    Feature.DOOR_OPEN: _NONE,
    Feature.VOICEMAIL: _NONE,
    Feature.INTERCOM: FeatureArgument(ArgumentKind.EXTENSION),
    Feature.PAGE: _ONE_DIGIT,            # zone 0-9, 0 = every zone
    Feature.PROGRAMMING: _NONE,
})


@dataclass(frozen=True, slots=True)
class TrunkGroup:
    """City lines that outgoing calls share; `lines` are FXO hal device names in hunting
    order."""

    id: str
    lines: tuple[str, ...]
    hunting: Hunting = Hunting.FIRST
    caller_id: str | None = None
    """E.164 number to present where the exchange allows; None: the line's own."""


@dataclass(frozen=True, slots=True)
class Office:
    """Everything call control reads from one revision."""

    directory: Directory
    dial_plan: DialPlan
    cos: CosPolicy
    trunk_groups: Mapping[str, TrunkGroup]
    inbound: Mapping[str, str]
    """FXO hal device name → the number its incoming calls ring (an extension or department)."""
    line_settings: LineSettings = field(default_factory=LineSettings)
    numbering: NumberingContext = field(default_factory=NumberingContext)
    disa: DisaSettings = field(default_factory=DisaSettings)
    disa_lines: tuple[str, ...] = ()
    """FXO ports answered by DISA (empty unless DISA is enabled)."""


def numbering_context(config: Config) -> NumberingContext:
    n = config.numbering
    return NumberingContext(
        country=config.office.country,
        city_code=n.city_code,
        local_codes=n.local_codes,
        extra_emergency=n.emergency,
        legacy_emergency=n.legacy_emergency,
    )


def build_dial_plan(config: Config) -> DialPlan:
    """The dial plan of a revision; every entry carries its setting path for problem reports
    (`dialplan.validate`). Departments come with issue 6's `departments` section."""
    n = config.numbering
    extensions = tuple(
        Extension(u.extension, u.id, setting=f"users[{i}].extension")
        for i, u in enumerate(config.users)
    )
    features: list[FeatureCode] = []
    for f in dataclasses.fields(FeatureCodeSettings):
        code = getattr(n.feature_codes, f.name)
        if code is None:
            continue
        arg = FEATURE_ARGUMENTS[Feature(f.name)]
        features.append(FeatureCode(code, f.name, arg.kind, arg.min_digits, arg.max_digits,
                                    setting=f"numbering.feature_codes.{f.name}"))
    access = tuple(
        TrunkAccess(a.code, a.trunk_group, setting=f"numbering.trunk_access[{i}].code")
        for i, a in enumerate(n.trunk_access)
    )
    t = n.timeouts
    return DialPlan(
        numbering=numbering_context(config),
        extensions=extensions,
        features=tuple(features),
        trunk_access=access,
        timeouts=DialTimeouts(t.first_digit_s, t.inter_digit_s, t.maybe_complete_s),
        terminator=n.terminator,
    )


def build_directory(config: Config) -> Directory:
    """Users and devices. Contacts that do not parse (the validator refuses them) are left
    out rather than raising."""
    users = [UserEntry(u.id, u.name or f"Extension {u.extension}", u.extension)
             for u in config.users]
    devices: list[DeviceEntry] = []
    for d in config.devices:
        if d.kind is DeviceKind.SIP:
            try:
                contact = parse_uri(d.contact) if d.contact else None
            except SipParseError:
                contact = None
            password = d.password if d.auth is DeviceAuth.DIGEST else None
            devices.append(DeviceEntry(d.id, d.user, d.username, password, contact))
        else:
            devices.append(DeviceEntry(d.id, d.user, kind=d.kind, port=d.port,
                                       handset=d.handset if d.kind is DeviceKind.DECT else None,
                                       hotline=d.hotline))
    return Directory(users, devices)


def effective_trunk_groups(config: Config, fxo_ports: Sequence[str] = ()) -> dict[str, TrunkGroup]:
    """Configured groups, or the default group `city` of every FXO port when none are."""
    if not config.trunk_groups:
        return {DEFAULT_TRUNK_GROUP: TrunkGroup(DEFAULT_TRUNK_GROUP, tuple(fxo_ports))}
    groups: dict[str, TrunkGroup] = {}
    for g in config.trunk_groups:
        groups.setdefault(g.id, TrunkGroup(g.id, g.lines, g.hunting, g.caller_id))
    return groups


def _class_of_service(c: ClassOfServiceSettings) -> ClassOfService:
    return ClassOfService(
        name=c.name,
        number_classes=frozenset(c.number_classes),
        trunk_groups=None if c.trunk_groups is None else frozenset(c.trunk_groups),
        limits=Limits(c.calls_per_hour, c.calls_per_day, c.cost_per_hour_minor,
                      c.cost_per_day_minor),
    )


def build_cos(config: Config) -> CosPolicy:
    """Configured classes first (they may redefine `standard` and `internal_only`), then the
    built-ins not redefined; each user's extension holds the user's class."""
    configured = [_class_of_service(c) for c in config.classes_of_service]
    names = {c.name for c in configured}
    builtins = [c for c in (ClassOfService(), INTERNAL_ONLY) if c.name not in names]
    assignments = {Subject(SubjectKind.EXTENSION, u.extension): u.class_of_service
                   for u in config.users}
    return CosPolicy(classes=tuple(configured + builtins), assignments=assignments)


def default_destination(config: Config) -> str | None:
    """Where a city line without an inbound route rings: the first admin's extension, else
    the first user's; None for an office without users."""
    for user in config.users:
        if user.role is Role.ADMIN:
            return user.extension
    return config.users[0].extension if config.users else None


def build_inbound(config: Config, lines: Sequence[str]) -> dict[str, str]:
    """FXO line → number for every line of the board or a trunk group and every configured
    route; configured routes win."""
    inbound: dict[str, str] = {}
    fallback = default_destination(config)
    if fallback is not None:
        for line in lines:
            inbound[line] = fallback
    for route in config.inbound:
        inbound[route.line] = route.destination
    return inbound


def build_disa(config: Config) -> DisaSettings:
    """The DISA guard's settings; each PIN carries its user's extension as the subject whose
    class of service its calls get."""
    d = config.disa
    by_id = {u.id: u for u in config.users}
    pins = tuple(DisaPin(Subject(SubjectKind.EXTENSION, by_id[p.user].extension), p.pin)
                 for p in d.user_pins if p.user in by_id)
    return DisaSettings(
        enabled=d.enabled, caller_allow=d.caller_allow, pins=pins,
        extensions_without_pin=d.extensions_without_pin, max_attempts=d.max_attempts,
        caller_lockout_failures=d.caller_lockout_failures, caller_window_s=d.caller_window_s,
        caller_lockout_s=d.caller_lockout_s, global_lockout_failures=d.global_lockout_failures,
        global_window_s=d.global_window_s, global_lockout_s=d.global_lockout_s)


def build_office(config: Config, fxo_ports: Sequence[str] = ()) -> Office:
    """The call controller's view of `config` on a board whose FXO ports are `fxo_ports`
    (hal device names, e.g. ("fxo1", "fxo2")). Pure; `config` must be validated."""
    groups = effective_trunk_groups(config, fxo_ports)
    lines = list(dict.fromkeys([*fxo_ports, *(ln for g in groups.values() for ln in g.lines)]))
    analog = config.analog
    line_settings = LineSettings(**{f.name: getattr(analog, f.name)
                                    for f in dataclasses.fields(analog)})
    return Office(
        directory=build_directory(config),
        dial_plan=build_dial_plan(config),
        cos=build_cos(config),
        trunk_groups=MappingProxyType(groups),
        inbound=MappingProxyType(build_inbound(config, lines)),
        line_settings=line_settings,
        numbering=numbering_context(config),
        disa=build_disa(config),
        disa_lines=config.disa.lines if config.disa.enabled else (),
    )
