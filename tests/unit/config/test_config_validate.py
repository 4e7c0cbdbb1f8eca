"""Validation of configuration documents: every rule, exact positions, every problem at once."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.config.defaults import default_office
from firmware.config.errors import ConfigError, Problem
from firmware.config.reference import EXAMPLE
from firmware.config.schema import Config, DeviceAuth, Role, Transport
from firmware.config.validate import (
    config_to_data,
    dump_config,
    parse_config,
    password_weakness,
    validate_data,
)

GOOD_PASSWORD = "Vq7mKx2pRt9sWb4n"


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


def office(*devices: str, users: str = '  - {id: alice, extension: "201"}\n') -> str:
    return "users:\n" + users + "devices:\n" + "".join(f"  - {d}\n" for d in devices)


def test_default_office_round_trips_through_yaml_and_data() -> None:
    config = default_office()
    assert parse_config(dump_config(config)) == config
    assert parse_config(dump_config(config, omit_defaults=True)) == config
    assert validate_data(config_to_data(config)) == config


def test_reference_example_is_valid() -> None:
    config = parse_config(EXAMPLE)
    assert config.office.name == "Acme"
    assert config.sip.transports == (Transport.UDP, Transport.TCP)
    door = config.devices[1]
    assert door.auth is DeviceAuth.NONE and door.contact == "sip:door@192.0.2.10:5060"


def test_empty_document_is_an_office_with_defaults() -> None:
    assert parse_config("") == Config()
    assert parse_config("# nothing yet\n") == Config()


def test_lookups_by_extension_user_and_username() -> None:
    config = parse_config(EXAMPLE)
    alice = config.user_by_extension("201")
    assert alice is not None and alice.role is Role.ADMIN
    assert config.user_by_extension("999") is None
    assert [d.id for d in config.devices_of("alice")] == ["alice-desk"]
    assert config.devices_of("nobody") == ()
    device = config.device_by_username("201")
    assert device is not None and device.id == "alice-desk"
    assert config.device_by_username("door") is None


def test_plain_numbers_in_text_settings_are_kept_as_written() -> None:
    device = f"{{id: a, user: alice, username: 0201, password: {GOOD_PASSWORD}}}"
    # 02 is an emergency number in Russia (the default country): 0201 is dialable elsewhere.
    users = "  - {id: alice, extension: 0201}\nnumbering: {legacy_emergency: false}\n"
    config = parse_config(office(device, users=users))
    assert config.users[0].extension == "0201"  # not the YAML 1.1 octal 129
    assert config.devices[0].username == "0201"


def test_problem_points_at_the_value_line_and_column() -> None:
    p = only_problem("""
        users:
          - id: alice
            extension: "201"
        devices:
          - id: desk
            user: alice
            username: "201"
            password: short
        """)
    assert p == Problem("devices[0].password", 8, 15, "too short (8 characters at least)")


def test_error_text_is_file_line_column_path_message() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("sip:\n  port: 70000\n", "office.yaml")
    assert str(info.value) == "office.yaml:2:9: sip.port: 70000 is too large (65535 at most)"


def test_every_problem_is_reported_at_once_in_line_order() -> None:
    found = problems(f"""
        sip:
          port: 0
          realm: "bad realm"
        users:
          - {{id: alice, extension: "1"}}
        devices:
          - {{id: d1, user: bob, username: u1, password: {GOOD_PASSWORD}}}
        """)
    assert [(p.path, p.line) for p in found] == [
        ("sip.port", 2),
        ("sip.realm", 3),
        ("users[0].extension", 5),
        ("devices[0].user", 7),
    ]


def test_unknown_key_suggests_the_nearest_known_key() -> None:
    found = problems('users:\n  - {id: alice, extention: "201"}\n')
    assert found == [
        Problem("users[0].extension", 2, 5, 'missing: add `extension: "201"`'),
        Problem("users[0].extention", 2, 17,
                "unknown setting 'extention': did you mean 'extension'?"),
    ]


def test_unknown_top_level_section_suggests_nearest() -> None:
    p = only_problem("devises: []\n")
    assert (p.path, p.line, p.column) == ("devises", 1, 1)
    assert "did you mean 'devices'" in p.message


def test_unknown_key_without_near_match_lists_known_keys() -> None:
    p = only_problem("office: {size: 3}\n")
    assert p.message == "unknown setting 'size': known here are name, country"


def test_enum_value_suggests_nearest_choice() -> None:
    p = only_problem("sip: {transports: [udp, tpc]}\n")
    assert p.path == "sip.transports[1]"
    assert p.message == "'tpc' is not one of udp, tcp: did you mean 'tcp'?"


def test_repeated_transport_is_refused() -> None:
    assert only_problem("sip: {transports: [udp, udp]}\n").message == "'udp' is listed twice"


def test_empty_transport_list_is_refused() -> None:
    assert only_problem("sip: {transports: []}\n").message == "needs at least 1 item(s)"


@pytest.mark.parametrize("extension", ["1", "123456", "20a", "''"])
def test_extension_must_be_2_to_5_digits(extension: str) -> None:
    p = only_problem(f"users:\n  - {{id: alice, extension: {extension}}}\n")
    assert p.path == "users[0].extension"
    assert p.message.startswith("must be 2 to 5 digits")


def test_extensions_are_unique() -> None:
    p = only_problem('users:\n  - {id: a, extension: "201"}\n  - {id: b, extension: "201"}\n')
    assert (p.path, p.line) == ("users[1].extension", 3)
    assert p.message == "'201' is already used by users[0]: each extension must be unique"


def test_an_fxo_port_has_one_line_entry() -> None:
    p = only_problem("fxo_lines:\n  - {port: fxo1}\n  - {port: fxo1, caller_id: v23}\n")
    assert (p.path, p.line) == ("fxo_lines[1].port", 3)
    assert p.message == "'fxo1' is already used by fxo_lines[0]: each port must be unique"


def test_user_ids_are_unique() -> None:
    p = only_problem('users:\n  - {id: a, extension: "201"}\n  - {id: a, extension: "202"}\n')
    assert p.path == "users[1].id"


def test_device_usernames_are_unique() -> None:
    p = only_problem(office(
        f'{{id: d1, user: alice, username: "201", password: {GOOD_PASSWORD}}}',
        f'{{id: d2, user: alice, username: "201", password: {GOOD_PASSWORD}x}}',
    ))
    assert (p.path, p.line) == ("devices[1].username", 5)


def test_device_ids_are_unique() -> None:
    p = only_problem(office(
        f"{{id: d1, user: alice, username: a1, password: {GOOD_PASSWORD}}}",
        f"{{id: d1, user: alice, username: a2, password: {GOOD_PASSWORD}}}",
    ))
    assert p.path == "devices[1].id"


def test_device_must_refer_to_an_existing_user_with_suggestion() -> None:
    p = only_problem(office(f"{{id: d1, user: alcie, username: u, password: {GOOD_PASSWORD}}}"))
    assert p.path == "devices[0].user"
    assert p.message == "no user has id 'alcie': did you mean 'alice'?"


def test_digest_device_needs_username_and_password() -> None:
    found = problems(office("{id: d1, user: alice}"))
    assert [p.path for p in found] == ["devices[0].username", "devices[0].password"]
    assert all("auth: none" in p.message for p in found)


def test_fixed_contact_device_without_registration() -> None:
    config = parse_config(office('{id: door, user: alice, auth: none, '
                                 'contact: "sip:door@192.0.2.10:5060"}'))
    assert config.devices[0].username is None


def test_auth_none_needs_a_contact_and_no_password() -> None:
    found = problems(office(f"{{id: door, user: alice, auth: none, password: {GOOD_PASSWORD}}}"))
    assert {p.path for p in found} == {"devices[0].contact", "devices[0].password"}


def test_contact_must_be_a_sip_uri() -> None:
    p = only_problem(office('{id: door, user: alice, auth: none, contact: "tel:+123"}'))
    assert p.message.startswith("must be a sip: or sips: URI")


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "too short (8 characters at least)"),
        ("password", "is a commonly used password: choose another"),
        ("xx201xxyy", "contains the username: choose one that does not"),
        ("abababab", "uses fewer than 4 different characters: choose a less repetitive one"),
        ("abcdefghij", "is a simple sequence: choose another"),
        ("98765432", "is a simple sequence: choose another"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, reason: str) -> None:
    assert password_weakness(password, "201") == reason
    p = only_problem(office(f'{{id: d, user: alice, username: "201", password: "{password}"}}'))
    assert (p.path, p.message) == ("devices[0].password", reason)


def test_password_is_not_echoed_in_pattern_messages() -> None:
    p = only_problem(office(f'{{id: d, user: alice, username: "201", password: "{"x" * 129}"}}'))
    assert "xxx" not in p.message


def test_registration_lifetimes_must_be_ordered() -> None:
    p = only_problem("sip: {registration: {min_expires_s: 600, default_expires_s: 300}}\n")
    assert p.path == "sip.registration.default_expires_s"


def test_rtp_range_start_must_be_even_and_sip_port_outside() -> None:
    assert only_problem("sip: {rtp_ports: {start: 10001}}\n").path == "sip.rtp_ports.start"
    p = only_problem("sip: {port: 12000}\n")
    assert p.message == "12000 lies inside rtp_ports (10000-20000): move one of them"


def test_listen_must_be_an_ip_address() -> None:
    p = only_problem("sip: {listen: example.com}\n")
    assert p.message.startswith("must be an IP address")


def test_wrong_types_are_named() -> None:
    assert only_problem("sip: {port: abc}\n").message == "must be a number, not 'abc'"
    assert only_problem("sip: {port: 50.5}\n").message == "must be a whole number, not 50.5"
    assert only_problem("sip: [1]\n").message == "must be a group of settings (name: value lines)"
    assert only_problem("users: {id: a}\n").message.startswith("must be a list")


def test_duplicate_yaml_key_is_refused_with_first_line() -> None:
    p = only_problem("sip:\n  port: 5060\n  port: 5070\n")
    assert (p.path, p.line, p.message) == ("sip.port", 3, "set twice (first on line 2): remove one")


def test_yaml_syntax_error_has_its_position() -> None:
    p = only_problem("sip:\n  port: [5060\n")
    assert p.path == "" and p.line == 3 and p.message.startswith("YAML syntax:")


def test_alias_cycles_and_bombs_are_refused() -> None:
    assert problems("users: &a [*a]\n")
    bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n"
        for i in range(8)
    )
    with pytest.raises(ConfigError, match="more than"):
        parse_config(bomb)


def test_dict_validation_reports_paths_without_lines() -> None:
    with pytest.raises(ConfigError) as info:
        validate_data({"users": [{"id": "a", "extension": 201}], "sip": {"prot": 1}})
    assert str(info.value) == (
        "sip.prot: unknown setting 'prot': did you mean 'port'?\n"
        "users[0].extension: must be text (quote it)"
    )
    assert all(p.line is None for p in info.value.problems)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_a_config_or_a_config_error(text: str) -> None:
    try:
        parse_config(text)
    except ConfigError as exc:
        assert exc.problems


@settings(max_examples=200, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["sip", "users", "devices", "id", "port", "x"]),
                      children, max_size=4),
    max_leaves=20,
))
def test_any_data_gives_a_config_or_a_config_error(data: object) -> None:
    try:
        validate_data(data if isinstance(data, dict) else {"users": data})
    except ConfigError as exc:
        assert exc.problems
