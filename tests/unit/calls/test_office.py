"""build_office: one configuration revision → directory, dial plan, class of service, trunk
groups, inbound routes and line settings, as the call controller reads them."""

from __future__ import annotations

from firmware.calls.cos import Subject, SubjectKind
from firmware.calls.dialplan import (
    DigitCollector,
    EmergencyTarget,
    ExtensionTarget,
    ExternalTarget,
    FeatureTarget,
    MatchState,
    validate,
)
from firmware.calls.numbers import NumberClass
from firmware.calls.office import (
    FEATURE_ARGUMENTS,
    Feature,
    Office,
    TrunkGroup,
    build_office,
)
from firmware.config.schema import Config, DeviceKind, FeatureCodeSettings, Hunting
from firmware.config.validate import parse_config
from firmware.media.dsp.tones import RingKind

PASSWORD = "Vq7mKx2pRt9sWb4n"

OFFICE = f"""\
users:
  - {{id: bob, extension: "202"}}
  - {{id: alice, extension: "201", role: admin, class_of_service: managers}}
  - {{id: door, extension: "290", class_of_service: internal_only}}
devices:
  - {{id: alice-desk, user: alice, username: "201", password: {PASSWORD}}}
  - {{id: bob-analog, user: bob, kind: fxs, port: fxs1}}
  - {{id: door-station, user: door, kind: fxs, port: fxs2}}
  - {{id: bob-dect, user: bob, kind: dect, port: dect1, handset: 2}}
  - {{id: gate, user: door, auth: none, contact: "sip:gate@192.0.2.10:5060"}}
classes_of_service:
  - {{name: managers, number_classes: [internal, local, long_distance, international]}}
inbound:
  - {{line: fxo2, destination: "202"}}
analog: {{call_waiting: false, recall_ring: distinctive_3}}
"""


def office(text: str = OFFICE, fxo_ports: tuple[str, ...] = ("fxo1", "fxo2")) -> Office:
    return build_office(parse_config(text), fxo_ports)


def target(o: Office, digits: str) -> object:
    found = o.dial_plan.match(digits)
    assert found.state is MatchState.COMPLETE, (digits, found)
    return found.target


# --- directory ---------------------------------------------------------------------------------


def test_fxs_device_is_found_by_its_port() -> None:
    d = office().directory
    device = d.device_at_port("fxs1")
    assert device is not None and device.id == "bob-analog" and device.kind is DeviceKind.FXS
    assert not device.registers and device.password is None
    assert d.device_at_port("fxs3") is None
    assert d.device_at_port("dect1") is None  # a base holds handsets, not one device


def test_dect_device_is_found_by_base_and_handset() -> None:
    d = office().directory
    device = d.device_of_handset("dect1", 2)
    assert device is not None and device.id == "bob-dect" and device.kind is DeviceKind.DECT
    assert d.device_of_handset("dect1", 1) is None
    assert d.device_of_handset("dect2", 2) is None


def test_user_of_device_gives_the_owner() -> None:
    d = office().directory
    owner = d.user_of_device("door-station")
    assert owner is not None and (owner.id, owner.extension) == ("door", "290")
    assert d.user_of_device("nobody") is None
    assert [x.id for x in d.devices_of("bob")] == ["bob-analog", "bob-dect"]


def test_sip_lookups_keep_their_behaviour() -> None:
    d = office().directory
    desk = d.device_by_username("201")
    assert desk is not None and desk.registers and desk.password == PASSWORD
    assert desk.kind is DeviceKind.SIP
    gate = d.trusted_device_at("192.0.2.10")
    assert gate is not None and gate.id == "gate" and not gate.registers
    user = d.user_by_extension("201")
    assert user is not None and user.name == "Extension 201"


# --- dial plan ---------------------------------------------------------------------------------


def test_plan_of_a_valid_revision_has_no_problems() -> None:
    assert validate(office().dial_plan) == []


def test_outside_number_after_9_goes_to_group_city() -> None:
    o = office()
    found = o.dial_plan.resolve("9 8 495 123 45 67")
    assert found.state is MatchState.COMPLETE
    t = found.target
    assert isinstance(t, ExternalTarget)
    assert (t.trunk_group, t.access_code) == ("city", "9")
    assert t.number.dialled == "84951234567"
    assert t.number.e164 == "+74951234567"
    assert t.number.number_class is NumberClass.LONG_DISTANCE


def test_outside_number_dialled_digit_by_digit_completes_on_the_last_digit() -> None:
    collector = DigitCollector(office().dial_plan, now=0.0)
    states = [collector.feed(d, now=float(i)).state for i, d in enumerate("984951234567")]
    assert states[:-1] == [MatchState.INCOMPLETE] * 11
    assert states[-1] is MatchState.COMPLETE


def test_local_number_with_the_city_code_configured() -> None:
    o = office("numbering: {city_code: \"495\"}\n")
    t = o.dial_plan.resolve("91234567").target
    assert isinstance(t, ExternalTarget)
    assert t.number.e164 == "+74951234567" and t.number.number_class is NumberClass.LOCAL


def test_extension_and_emergency_numbers() -> None:
    o = office()
    assert target(o, "201") == ExtensionTarget("201", "alice")
    assert target(o, "112") == EmergencyTarget("112", None)
    assert target(o, "03") == EmergencyTarget("03", None)  # RU legacy ambulance
    assert target(o, "9112") == EmergencyTarget("112", "city")


def test_default_feature_codes_reach_their_features() -> None:
    o = office()
    assert target(o, "*8") == FeatureTarget("pickup", "*8")
    assert target(o, "**201") == FeatureTarget("directed_pickup", "**", "201",
                                               ExtensionTarget("201", "alice"))
    assert target(o, "*713") == FeatureTarget("park", "*71", "3")
    assert target(o, "*723") == FeatureTarget("unpark", "*72", "3")
    assert target(o, "*42") == FeatureTarget("mode", "*4", "2")
    assert target(o, "*50") == FeatureTarget("page", "*5", "0")
    assert target(o, "*3202") == FeatureTarget("intercom", "*3", "202",
                                               ExtensionTarget("202", "bob"))
    for code, feature in (("#21#", "forward_cancel"), ("*26", "dnd_on"), ("#26", "dnd_off"),
                          ("*1", "door_open"), ("*9", "voicemail"), ("*0", "programming")):
        assert target(o, code) == FeatureTarget(feature, code)
    forward = target(o, "*21*984951234567")
    assert isinstance(forward, FeatureTarget) and forward.feature == "forward_always"
    assert isinstance(forward.destination, ExternalTarget)
    assert forward.destination.number.e164 == "+74951234567"
    assert target(o, "*67*201") == FeatureTarget("forward_busy", "*67*", "201",
                                                 ExtensionTarget("201", "alice"))
    assert target(o, "*61*201").feature == "forward_no_answer"  # type: ignore[attr-defined]


def test_every_feature_code_setting_is_a_feature_with_an_argument_kind() -> None:
    import dataclasses

    names = {f.name for f in dataclasses.fields(FeatureCodeSettings)}
    assert names == {f.value for f in Feature} == {f.value for f in FEATURE_ARGUMENTS}


def test_feature_code_turned_off_is_not_in_the_plan() -> None:
    o = office("numbering:\n  feature_codes: {programming: null, pickup: \"*88\"}\n")
    assert o.dial_plan.match("*0").state is MatchState.INVALID
    assert target(o, "*88") == FeatureTarget("pickup", "*88")


# --- trunk groups, inbound, class of service, line settings ------------------------------------


def test_without_groups_every_fxo_port_of_the_board_is_in_city() -> None:
    o = office()
    assert dict(o.trunk_groups) == {"city": TrunkGroup("city", ("fxo1", "fxo2"))}


def test_configured_groups_replace_the_default() -> None:
    o = office("""\
trunk_groups:
  - {id: main, lines: [fxo2, fxo1], hunting: round_robin, caller_id: "+74951234567"}
numbering:
  trunk_access: [{code: "9", trunk_group: main}]
""")
    assert dict(o.trunk_groups) == {
        "main": TrunkGroup("main", ("fxo2", "fxo1"), Hunting.ROUND_ROBIN, "+74951234567")}
    t = o.dial_plan.resolve("984951234567").target
    assert isinstance(t, ExternalTarget) and t.trunk_group == "main"


def test_city_lines_ring_their_route_else_the_first_admin() -> None:
    o = office(fxo_ports=("fxo1", "fxo2", "fxo3"))
    assert dict(o.inbound) == {"fxo1": "201", "fxo2": "202", "fxo3": "201"}


def test_city_lines_ring_the_first_user_without_an_admin() -> None:
    o = office('users:\n  - {id: b, extension: "202"}\n  - {id: a, extension: "201"}\n')
    assert dict(o.inbound) == {"fxo1": "202", "fxo2": "202"}
    assert dict(build_office(Config(), ("fxo1",)).inbound) == {}


def test_users_hold_their_class_of_service() -> None:
    cos = office().cos
    managers = cos.cos_for(Subject(SubjectKind.EXTENSION, "201"))
    assert managers.name == "managers"
    assert NumberClass.INTERNATIONAL in managers.number_classes
    assert managers.limits.calls_per_hour == 30
    standard = cos.cos_for(Subject(SubjectKind.EXTENSION, "202"))
    assert standard.name == "standard"
    assert NumberClass.INTERNATIONAL not in standard.number_classes
    door = cos.cos_for(Subject(SubjectKind.EXTENSION, "290"))
    assert door.name == "internal_only" and door.trunk_groups == frozenset()
    assert cos.problems(frozenset(office().trunk_groups)) == []


def test_redefined_standard_class_replaces_the_built_in() -> None:
    cos = office('users:\n  - {id: a, extension: "201"}\n'
                 'classes_of_service:\n  - {name: standard, number_classes: [internal], '
                 'calls_per_hour: null}\n').cos
    standard = cos.cos_for(Subject(SubjectKind.EXTENSION, "201"))
    assert standard.number_classes == frozenset({NumberClass.INTERNAL})
    assert standard.limits.calls_per_hour is None
    assert [c.name for c in cos.classes] == ["standard", "internal_only"]


def test_line_settings_and_numbering_come_from_the_revision() -> None:
    o = office()
    assert o.line_settings.call_waiting is False
    assert o.line_settings.recall_ring is RingKind.DISTINCTIVE_3
    assert o.line_settings.howler_s == 60.0
    assert o.numbering.country == "RU" and o.dial_plan.numbering == o.numbering


# --- operating modes: inbound per mode, schedule, who may switch --------------------------------

MODES = """\
users:
  - {id: alice, extension: "201", role: admin}
  - {id: bob, extension: "202"}
  - {id: guard, extension: "290"}
  - {id: boss, extension: "210", role: admin}
inbound:
  - {line: fxo1, destination: "201", night: "290", lunch: "202"}
  - {line: fxo2, destination: "202", holiday: "210"}
  - {line: fxo3, destination: "201"}
"""


def test_inbound_picks_the_mode_route_and_falls_back_to_day() -> None:
    o = office(MODES, ("fxo1", "fxo2", "fxo3", "fxo4"))
    assert o.inbound_for("fxo1", "day") == "201"
    assert o.inbound_for("fxo1", "night") == "290"
    assert o.inbound_for("fxo1", "lunch") == "202"
    assert o.inbound_for("fxo1", "holiday") == "290"  # a holiday is a closed office: night
    assert o.inbound_for("fxo2", "night") == "202"  # no night route: the day one
    assert o.inbound_for("fxo2", "holiday") == "210"
    assert o.inbound_for("fxo2", "lunch") == "202"
    assert [o.inbound_for("fxo3", m) for m in ("day", "night", "lunch", "holiday")] == \
        ["201"] * 4
    assert o.inbound_for("fxo4", "night") == "201"  # unlisted: the first admin, every mode
    assert o.inbound_for("fxo1", "emergency") == "201"
    assert o.inbound_for("fxo9", "day") is None
    assert dict(o.inbound) == {"fxo1": "201", "fxo2": "202", "fxo3": "201", "fxo4": "201"}


def test_admins_switch_modes_unless_users_are_listed() -> None:
    assert office(MODES).mode_switchers == {"alice", "boss"}
    listed = office(MODES + "modes: {authorised_users: [bob]}\n")
    assert listed.mode_switchers == {"bob"}
    assert office(MODES + "modes: {authorised_users: []}\n").mode_switchers == frozenset()


def test_the_schedule_is_built_only_when_enabled() -> None:
    assert office(MODES).schedule is None
    o = office(MODES + "schedule: {enabled: true, time_zone: Asia/Yekaterinburg}\n")
    assert o.schedule is not None
    assert {"day", "night", "lunch", "holiday"} <= o.schedule.modes
