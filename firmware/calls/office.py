"""One configuration revision as call control needs it: directory, dial plan, class of service,
trunk groups, where city lines ring in each operating mode, the schedule of modes and who may
switch them, analog line behaviour.

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
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
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
from firmware.config.errors import ConfigError, Problem
from firmware.config.schema import (
    ClassOfServiceSettings,
    Config,
    DeviceAuth,
    DeviceKind,
    FeatureCodeSettings,
    Hunting,
    Role,
    ScheduleSettings,
    WeekdayName,
)
from firmware.features.disa import DisaPin, DisaSettings
from firmware.schedule import Schedule, ScheduleSpec, StandardMode, Weekday, Window
from firmware.sip.errors import SipParseError
from firmware.sip.uri import parse_uri

__all__ = [
    "DEFAULT_TRUNK_GROUP",
    "FEATURE_ARGUMENTS",
    "Feature",
    "Office",
    "MODE_DIGITS",
    "TrunkGroup",
    "build_dial_plan",
    "build_directory",
    "build_inbound_by_mode",
    "build_office",
    "build_schedule",
    "mode_switchers",
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


MODE_DIGITS: Mapping[str, StandardMode] = MappingProxyType({
    "1": StandardMode.DAY,
    "2": StandardMode.NIGHT,
    "3": StandardMode.LUNCH,
    "4": StandardMode.HOLIDAY,
})
"""The digit after the `mode` feature code → the mode it selects; "0" returns to the schedule."""

_MODE_FALLBACK: Mapping[str, tuple[str, ...]] = MappingProxyType({
    # Lunch keeps someone in the office, so it falls back to the day route; a holiday is a
    # closed office, so it falls back to the night route before the day one.
    StandardMode.DAY: (),
    StandardMode.NIGHT: (),
    StandardMode.LUNCH: (),
    StandardMode.HOLIDAY: (StandardMode.NIGHT,),
})


@dataclass(frozen=True, slots=True)
class Office:
    """Everything call control reads from one revision."""

    directory: Directory
    dial_plan: DialPlan
    cos: CosPolicy
    trunk_groups: Mapping[str, TrunkGroup]
    inbound: Mapping[str, str]
    """FXO hal device name → the number its incoming calls ring in day mode (an extension or
    department); also the route of every mode a line has no route for."""
    line_settings: LineSettings = field(default_factory=LineSettings)
    numbering: NumberingContext = field(default_factory=NumberingContext)
    disa: DisaSettings = field(default_factory=DisaSettings)
    disa_lines: tuple[str, ...] = ()
    """FXO ports answered by DISA (empty unless DISA is enabled)."""
    inbound_by_mode: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType({}))
    """Mode → FXO line → number, only where a line's route differs from `inbound`."""
    schedule: Schedule | None = None
    """The schedule of operating modes; None: always day mode (`schedule.enabled` false).
    Give it to `ModeService.apply` with every revision."""
    mode_switchers: frozenset[str] = frozenset()
    """User ids whose phones may switch the operating mode by feature code."""

    def inbound_for(self, line: str, mode: str) -> str | None:
        """The number a call on ``line`` rings in ``mode``; None for a line with no route
        (an office without users). An unknown mode (a custom one) uses the day route."""
        by_mode = self.inbound_by_mode
        for m in (mode, *_MODE_FALLBACK.get(mode, ())):
            routes = by_mode.get(m)
            if routes is not None and line in routes:
                return routes[line]
        return self.inbound.get(line)


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


def build_inbound_by_mode(config: Config) -> dict[str, dict[str, str]]:
    """Mode → line → number for the routes that name a night, lunch or holiday destination;
    `Office.inbound_for` falls back to `build_inbound`'s day route for the rest."""
    out: dict[str, dict[str, str]] = {}
    for route in config.inbound:
        for mode, number in ((StandardMode.NIGHT, route.night),
                             (StandardMode.LUNCH, route.lunch),
                             (StandardMode.HOLIDAY, route.holiday)):
            if number is not None:
                out.setdefault(mode, {})[route.line] = number
    return out


def mode_switchers(config: Config) -> frozenset[str]:
    """User ids allowed to switch the mode by code: `modes.authorised_users`, or every admin
    when that is null (the people who may already change the configuration)."""
    listed = config.modes.authorised_users
    if listed is None:
        return frozenset(u.id for u in config.users if u.role is Role.ADMIN)
    return frozenset(listed)


_WEEKDAYS: Mapping[WeekdayName, Weekday] = MappingProxyType(
    {name: Weekday(i) for i, name in enumerate(WeekdayName)})
_DAY_MIN = 24 * 60


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _clock(minutes: int) -> time:
    m = minutes % _DAY_MIN
    return time(m // 60, m % 60)


def _dates(texts: Sequence[str], path: str, problems: list[Problem]) -> frozenset[date]:
    out: set[date] = set()
    for i, text in enumerate(texts):
        try:
            out.add(date.fromisoformat(text))
        except ValueError:
            problems.append(Problem(f"{path}[{i}]", None, None,
                                    f"'{text}' is no calendar date: write YYYY-MM-DD"))
    return frozenset(out)


def _windows(s: ScheduleSettings, problems: list[Problem]) -> tuple[list[Window], list[str]]:
    """Working hours → non-overlapping windows (day, lunch, day), each with the setting path
    it came from so that `Schedule.from_spec`'s overlap problems name the installer's entry."""
    windows: list[Window] = []
    origins: list[str] = []
    for i, hours in enumerate(s.working_hours):
        path = f"schedule.working_hours[{i}]"
        start = _minutes(hours.start)
        span = (_minutes(hours.end) - start) % _DAY_MIN or _DAY_MIN
        if span == _DAY_MIN:
            problems.append(Problem(f"{path}.end", None, None,
                                    f"ends when it starts ({hours.start}): working hours last "
                                    "from one minute to 23 h 59 min"))
            continue
        pieces: list[tuple[str, int, int]] = [(StandardMode.DAY, 0, span)]
        if (hours.lunch_start is None) != (hours.lunch_end is None):
            missing = "lunch_end" if hours.lunch_end is None else "lunch_start"
            problems.append(Problem(f"{path}.{missing}", None, None,
                                    "missing: give both lunch_start and lunch_end, or set "
                                    "both to null for no lunch break"))
            continue
        if hours.lunch_start is not None and hours.lunch_end is not None:
            lunch_from = (_minutes(hours.lunch_start) - start) % _DAY_MIN
            lunch_to = (_minutes(hours.lunch_end) - start) % _DAY_MIN or _DAY_MIN
            if not 0 <= lunch_from < lunch_to <= span:
                problems.append(Problem(f"{path}.lunch_start", None, None,
                                        f"lunch {hours.lunch_start}–{hours.lunch_end} is not "
                                        f"within the hours {hours.start}–{hours.end}: move it "
                                        "inside them"))
                continue
            pieces = [(StandardMode.DAY, 0, lunch_from),
                      (StandardMode.LUNCH, lunch_from, lunch_to),
                      (StandardMode.DAY, lunch_to, span)]
        for mode, begin, finish in pieces:
            if finish <= begin:
                continue
            shift = (start + begin) // _DAY_MIN  # a piece after midnight belongs to the next day
            days = frozenset(Weekday((_WEEKDAYS[d] + shift) % 7) for d in hours.days)
            windows.append(Window(mode, days, _clock(start + begin), _clock(start + finish)))
            origins.append(path)
    return windows, origins


def build_schedule(config: Config) -> Schedule | None:
    """The schedule of operating modes, or None when `schedule.enabled` is false.

    Raises `ConfigError` with every problem at its setting path (the validator reports them;
    a validated revision never raises). Day, lunch, night and holiday are always selectable by
    hand, whether or not the hours use them.
    """
    s = config.schedule
    if not s.enabled:
        return None
    problems: list[Problem] = []
    windows, origins = _windows(s, problems)
    closures = _dates(s.closures, "schedule.closures", problems)
    working = _dates(s.working_days, "schedule.working_days", problems)
    country = (s.country or config.office.country) if s.public_holidays else None
    spec = ScheduleSpec(
        time_zone=s.time_zone,
        country=country,
        subdivision=s.subdivision if country is not None else None,
        windows=tuple(windows),
        default_mode=StandardMode.NIGHT,
        holiday_mode=StandardMode.HOLIDAY,
        closures=closures,
        working_days=working,
        weekend_workday_as=_WEEKDAYS[s.weekend_workday_as],
        extra_modes=frozenset(StandardMode),
    )
    try:
        schedule = Schedule.from_spec(spec)
    except ConfigError as exc:
        problems.extend(_schedule_problem(p, origins) for p in exc.problems)
        schedule = None
    if problems or schedule is None:
        raise ConfigError(problems)
    return schedule


_WINDOW_REF = re.compile(r"windows\[([0-9]+)\]")


def _schedule_problem(p: Problem, origins: Sequence[str]) -> Problem:
    """`Schedule.from_spec` names its own spec's windows (`schedule.windows[3]`); name the
    working-hours entry each came from instead."""

    def origin(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return origins[index] if index < len(origins) else "schedule.working_hours"

    path = _WINDOW_REF.sub(origin, p.path.removeprefix("schedule."))
    if not path.startswith("schedule."):
        path = f"schedule.{path}"
    return Problem(path, None, None, _WINDOW_REF.sub(origin, p.message))


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
        inbound_by_mode=MappingProxyType({
            mode: MappingProxyType(routes)
            for mode, routes in build_inbound_by_mode(config).items()}),
        schedule=build_schedule(config),
        mode_switchers=mode_switchers(config),
    )
