"""The telephony sections of the configuration: devices on FXS ports and DECT bases, numbering,
trunk groups, classes of service, inbound routes, analog behaviour; every refusal with its
exact message, path and line."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from firmware.calls.analog import LineSettings
from firmware.calls.numbers import NumberClass
from firmware.config.errors import ConfigError, Problem
from firmware.config.schema import (
    AnalogSettings,
    Config,
    DeviceKind,
    FeatureCodeSettings,
    Hunting,
    TrunkAccessSettings,
)
from firmware.config.validate import config_to_data, dump_config, parse_config, validate_data
from firmware.media.dsp.tones import RingKind

PASSWORD = "Vq7mKx2pRt9sWb4n"

GOOD = f"""\
office: {{name: Acme, country: RU}}
users:
  - {{id: alice, extension: "201", role: admin, class_of_service: managers}}
  - {{id: bob, extension: "202"}}
  - {{id: door, extension: "290", class_of_service: internal_only}}
devices:
  - {{id: alice-desk, user: alice, username: "201", password: {PASSWORD}}}
  - {{id: bob-analog, user: bob, kind: fxs, port: fxs1}}
  - {{id: door-station, user: door, kind: fxs, port: fxs2}}
  - {{id: bob-dect, user: bob, kind: dect, port: dect1, handset: 2}}
  - {{id: alice-dect, user: alice, kind: dect, port: dect1, handset: 1}}
numbering:
  city_code: "495"
  local_codes: ["499"]
  emergency: ["0911"]
  trunk_access:
    - {{code: "9", trunk_group: city}}
    - {{code: "8", trunk_group: mobile}}
  feature_codes:
    pickup: "*88"
    programming: null
  timeouts: {{first_digit_s: 20, inter_digit_s: 5, maybe_complete_s: 3}}
trunk_groups:
  - {{id: city, lines: [fxo1, fxo2], hunting: round_robin, caller_id: "+74951234567"}}
  - {{id: mobile, lines: [fxo3]}}
classes_of_service:
  - name: managers
    number_classes: [internal, local, long_distance, mobile, international]
    trunk_groups: [city, mobile]
    calls_per_hour: 60
    calls_per_day: null
inbound:
  - {{line: fxo2, destination: "202"}}
analog:
  call_waiting: false
  recall_ring: distinctive_2
  howler_s: 30
"""


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def problems(text: str) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        parse_config(doc(text), "office.yaml")
    return list(info.value.problems)


def only_problem(text: str) -> Problem:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


USERS = 'users:\n  - {id: alice, extension: "201"}\n  - {id: bob, extension: "202"}\n'


def with_devices(*devices: str) -> str:
    return USERS + "devices:\n" + "".join(f"  - {d}\n" for d in devices)


# --- good documents ---------------------------------------------------------------------------


def test_full_telephony_document_is_read() -> None:
    c = parse_config(GOOD)
    bob_analog = c.devices[1]
    assert bob_analog.kind is DeviceKind.FXS and bob_analog.port == "fxs1"
    assert bob_analog.username is None and bob_analog.handset is None
    bob_dect = c.devices[3]
    assert (bob_dect.kind, bob_dect.port, bob_dect.handset) == (DeviceKind.DECT, "dect1", 2)
    assert c.users[0].class_of_service == "managers"
    assert c.users[1].class_of_service == "standard"
    n = c.numbering
    assert (n.city_code, n.local_codes, n.emergency) == ("495", ("499",), ("0911",))
    assert n.trunk_access[1] == TrunkAccessSettings("8", "mobile")
    assert n.feature_codes.pickup == "*88"
    assert n.feature_codes.programming is None
    assert n.feature_codes.park == "*71"  # untouched codes keep their default
    assert (n.timeouts.first_digit_s, n.timeouts.inter_digit_s) == (20.0, 5.0)
    city = c.trunk_groups[0]
    assert city.lines == ("fxo1", "fxo2") and city.hunting is Hunting.ROUND_ROBIN
    assert city.caller_id == "+74951234567"
    assert c.trunk_groups[1].hunting is Hunting.FIRST and c.trunk_groups[1].caller_id is None
    managers = c.classes_of_service[0]
    assert NumberClass.INTERNATIONAL in managers.number_classes
    assert managers.trunk_groups == ("city", "mobile")
    assert (managers.calls_per_hour, managers.calls_per_day) == (60, None)
    assert c.inbound[0].line == "fxo2" and c.inbound[0].destination == "202"
    assert c.analog.call_waiting is False and c.analog.recall_ring is RingKind.DISTINCTIVE_2
    assert c.analog.howler_s == 30.0


def test_telephony_document_round_trips_through_yaml_and_data() -> None:
    c = parse_config(GOOD)
    text = dump_config(c)
    assert "'*88'" in text and "'#21#'" in text  # quoted, or YAML would read alias / comment
    assert parse_config(text) == c
    assert parse_config(dump_config(c, omit_defaults=True)) == c
    assert validate_data(config_to_data(c)) == c


def test_defaults_work_for_a_russian_office_out_of_the_box() -> None:
    c = parse_config('users:\n  - {id: alice, extension: "201"}\n')
    assert c.office.country == "RU"
    assert c.numbering.trunk_access == (TrunkAccessSettings("9", "city"),)
    assert c.trunk_groups == () and c.inbound == () and c.classes_of_service == ()
    assert c.numbering.terminator == "#"


def test_analog_settings_mirror_the_line_settings_of_calls_analog() -> None:
    ours = {f.name: f.default for f in dataclasses.fields(AnalogSettings)}
    theirs = {f.name: f.default for f in dataclasses.fields(LineSettings)}
    assert ours == theirs


def test_feature_code_defaults_are_the_documented_table() -> None:
    codes = {f.name: f.default for f in dataclasses.fields(FeatureCodeSettings)}
    assert codes == {
        "pickup": "*8", "directed_pickup": "**", "park": "*71", "unpark": "*72",
        "forward_always": "*21*", "forward_busy": "*67*", "forward_no_answer": "*61*",
        "forward_cancel": "#21#", "dnd_on": "*26", "dnd_off": "#26", "mode": "*4",
        "door_open": "*1", "voicemail": "*9", "intercom": "*3", "page": "*5",
        "programming": "*0",
    }


def test_unquoted_feature_code_is_a_yaml_error_with_its_line() -> None:
    p = only_problem("""
        numbering:
          feature_codes:
            pickup: *8
        """)
    assert p.line == 3 and "alias" in p.message


# --- devices on ports --------------------------------------------------------------------------


def test_fxs_device_without_port_is_refused() -> None:
    p = only_problem(with_devices("{id: a, user: alice, kind: fxs}"))
    assert (p.path, p.line) == ("devices[0].port", 5)
    assert p.message == "missing: a fxs device needs the port it is on; add `port: fxs1`"


def test_fxs_device_with_credentials_is_refused() -> None:
    found = problems(with_devices(
        f"{{id: a, user: alice, kind: fxs, port: fxs1, username: a1, password: {PASSWORD}}}"))
    assert [(p.path, p.message) for p in found] == [
        ("devices[0].username", "a fxs device is trusted by its port and never registers: "
                                "remove it"),
        ("devices[0].password", "a fxs device is trusted by its port and never registers: "
                                "remove it"),
    ]


def test_fxs_device_on_a_dect_port_is_refused() -> None:
    p = only_problem(with_devices("{id: a, user: alice, kind: fxs, port: dect1}"))
    assert p.path == "devices[0].port"
    assert p.message == "'dect1' is not a fxs port: a fxs device is on a port such as fxs1"


def test_dect_device_without_handset_is_refused() -> None:
    p = only_problem(with_devices("{id: a, user: alice, kind: dect, port: dect1}"))
    assert p.path == "devices[0].handset"
    assert p.message == ("missing: a dect device needs its handset number on the base; add "
                         "`handset: 1`")


def test_dect_handset_number_is_bounded() -> None:
    p = only_problem(with_devices("{id: a, user: alice, kind: dect, port: dect1, handset: 0}"))
    assert (p.path, p.message) == ("devices[0].handset", "0 is too small (1 at least)")


def test_sip_device_with_a_port_is_refused() -> None:
    p = only_problem(with_devices(
        f"{{id: a, user: alice, username: a1, password: {PASSWORD}, port: fxs1}}"))
    assert p.path == "devices[0].port"
    assert p.message == ("is only for fxs and dect devices: remove it, or set `kind: fxs` or "
                         "`kind: dect`")


def test_two_devices_on_one_fxs_port_are_refused() -> None:
    p = only_problem(with_devices("{id: a, user: alice, kind: fxs, port: fxs1}",
                                  "{id: b, user: bob, kind: fxs, port: fxs1}"))
    assert (p.path, p.line, p.column) == ("devices[1].port", 6, 41)
    assert p.message == "port fxs1 is already used by devices[0]: each is one device"


def test_one_dect_handset_number_on_two_devices_is_refused() -> None:
    p = only_problem(with_devices(
        "{id: a, user: alice, kind: dect, port: dect1, handset: 3}",
        "{id: b, user: bob, kind: dect, port: dect2, handset: 3}",   # another base: fine
        "{id: c, user: bob, kind: dect, port: dect1, handset: 3}"))
    assert (p.path, p.line) == ("devices[2].handset", 7)
    assert p.message == "handset 3 of dect1 is already used by devices[0]: each is one device"


# --- references --------------------------------------------------------------------------------


def test_trunk_access_to_an_unknown_group_is_refused() -> None:
    p = only_problem("""
        numbering:
          trunk_access:
            - {code: "9", trunk_group: citi}
        """)
    assert (p.path, p.line) == ("numbering.trunk_access[0].trunk_group", 3)
    assert p.message == "no trunk group has id 'citi': did you mean 'city'?"


def test_default_city_group_disappears_once_groups_are_configured() -> None:
    p = only_problem("""
        trunk_groups:
          - {id: lines, lines: [fxo1]}
        """)
    assert p.path == "numbering.trunk_access[0].trunk_group"
    assert p.message == "no trunk group has id 'city': known are lines"


def test_class_of_service_naming_an_unknown_trunk_group_is_refused() -> None:
    p = only_problem("""
        classes_of_service:
          - {name: sales, trunk_groups: [city, gsm]}
        """)
    assert (p.path, p.line) == ("classes_of_service[0].trunk_groups[1]", 2)
    assert p.message == "no trunk group has id 'gsm': known are city"


def test_user_with_an_unknown_class_of_service_is_refused() -> None:
    p = only_problem("""
        users:
          - {id: alice, extension: "201", class_of_service: managers}
        """)
    assert (p.path, p.line) == ("users[0].class_of_service", 2)
    assert p.message == "no class of service is named 'managers': add it under " \
                        "`classes_of_service:`"


def test_inbound_route_to_a_number_that_is_no_extension_is_refused() -> None:
    p = only_problem(USERS + 'inbound:\n  - {line: fxo1, destination: "299"}\n')
    assert (p.path, p.line) == ("inbound[0].destination", 5)
    assert p.message == "'299' is no extension or department number"


def test_duplicate_trunk_groups_classes_and_inbound_lines_are_refused() -> None:
    found = problems("""
        trunk_groups:
          - {id: city, lines: [fxo1]}
          - {id: city, lines: [fxo2]}
        classes_of_service:
          - {name: sales}
          - {name: sales}
        inbound: []
        """)
    assert [(p.path, p.message) for p in found] == [
        ("trunk_groups[1].id", "'city' is already used by trunk_groups[0]: each id must be "
                               "unique"),
        ("classes_of_service[1].name", "'sales' is already used by classes_of_service[0]: "
                                       "each name must be unique"),
    ]


# --- the dial plan's own problems, with the setting path ---------------------------------------


def test_conflicting_feature_code_is_reported_with_its_path() -> None:
    # *7 takes an extension after it, so *71 (park) and *72 (unpark) could never be dialled.
    found = problems("""
        numbering:
          feature_codes:
            intercom: "*7"
            unpark: "#72"
        """)
    assert len(found) == 1
    p = found[0]
    assert (p.path, p.line) == ("numbering.feature_codes.park", 3)
    assert p.message == (
        "feature code *71 (park) starts with feature code *7 (intercom) "
        "(numbering.feature_codes.intercom), which takes digits after it: *71 would be read as "
        "*7 and an argument; change one of them")


def test_duplicate_feature_code_is_reported_once() -> None:
    found = problems("""
        numbering:
          feature_codes: {pickup: "*9"}
        """)
    assert [(p.path, p.message) for p in found] == [
        ("numbering.feature_codes.voicemail",
         "feature code *9 (voicemail) is also feature code *9 (pickup) "
         "(numbering.feature_codes.pickup); a number must be unique"),
    ]


def test_extension_beginning_with_the_trunk_access_code_is_refused() -> None:
    p = only_problem('users:\n  - {id: a, extension: "201"}\n  - {id: b, extension: "901"}\n')
    assert (p.path, p.line, p.column) == ("users[1].extension", 3, 24)
    assert p.message.startswith("extension 901 starts with trunk access code 9 of trunk group "
                                "city (numbering.trunk_access[0].code)")


def test_extension_beginning_with_an_emergency_number_is_refused() -> None:
    p = only_problem('users:\n  - {id: a, extension: "1120"}\n')
    assert p.path == "users[0].extension"
    assert "emergency number 112 in RU" in p.message


def test_duplicate_extension_is_reported_once() -> None:
    found = problems('users:\n  - {id: a, extension: "201"}\n  - {id: b, extension: "201"}\n')
    assert [p.message for p in found] == [
        "'201' is already used by users[0]: each extension must be unique"]


def test_timeouts_out_of_order_are_refused_at_their_group() -> None:
    p = only_problem("""
        numbering:
          timeouts: {inter_digit_s: 4, maybe_complete_s: 5}
        """)
    assert (p.path, p.line) == ("numbering.timeouts", 2)
    assert p.message == ("timeouts must satisfy 0 < maybe_complete_s (5.0) <= inter_digit_s "
                         "(4.0) <= first_digit_s (15.0)")


def test_bad_extra_emergency_number_points_at_numbering_emergency() -> None:
    p = only_problem('numbering:\n  emergency: ["1", "0911"]\n')
    assert (p.path, p.line) == ("numbering.emergency[0]", 2)
    assert p.message == "'1' must be 2 to 6 digits"


def test_access_code_zero_clashes_with_legacy_emergency_numbers_until_they_are_off() -> None:
    p = only_problem('numbering:\n  trunk_access: [{code: "0", trunk_group: city}]\n')
    assert p.path == "numbering.trunk_access[0].code"
    assert p.message.startswith("trunk access code 0 of trunk group city is the start of "
                                "emergency numbers 03, 04 in RU")
    parse_config('numbering:\n  legacy_emergency: false\n'
                 '  trunk_access: [{code: "0", trunk_group: city}]\n')


def test_dial_plan_problems_from_data_have_paths_without_lines() -> None:
    with pytest.raises(ConfigError) as info:
        validate_data({"users": [{"id": "a", "extension": "901"}]})
    (p,) = info.value.problems
    assert (p.path, p.line) == ("users[0].extension", None)


def test_default_config_is_valid() -> None:
    assert parse_config("") == Config()


def test_null_usernames_of_several_port_devices_are_no_duplicates() -> None:
    c = parse_config(with_devices(
        "{id: a, user: alice, kind: fxs, port: fxs1, username: null, password: null}",
        "{id: b, user: bob, kind: fxs, port: fxs2, username: null}"))
    assert [d.username for d in c.devices] == [None, None]


def test_trunk_group_line_must_be_an_fxo_port() -> None:
    p = only_problem("""
        trunk_groups:
          - id: city
            lines: [fxo1, fxs2]
        """)
    assert (p.path, p.line, p.column) == ("trunk_groups[0].lines[1]", 3, 19)
    assert p.message == "must be fxo and the port number, e.g. fxo1, not 'fxs2'"
