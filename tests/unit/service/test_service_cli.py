"""The `switchbox` command line: options, check-config, credentials, first-start preparation."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from firmware.cli import (
    EX_CONFIG,
    EX_FAILED,
    EX_OK,
    EX_USAGE,
    Loop,
    RunOptions,
    build_parser,
    default_data_dir,
    main,
    prepare,
)
from firmware.config.errors import ConfigError
from firmware.config.reference import EXAMPLE
from firmware.config.validate import parse_config


def test_run_defaults_simulated_board_and_config_sip_settings() -> None:
    args = build_parser().parse_args(["run"])
    assert args.board == "sim"
    assert args.sip_port is None and args.sip_listen is None and args.config is None
    assert args.log_level == "info"
    assert args.loop in (Loop.UVLOOP, Loop.ASYNCIO)


def test_run_options_parse() -> None:
    args = build_parser().parse_args(
        ["run", "--config", "o.yaml", "--data", "/d", "--sip-port", "5070", "--board", "sim",
         "--log-level", "trace", "--loop", "asyncio"])
    assert (args.config, args.data, args.sip_port) == (Path("o.yaml"), Path("/d"), 5070)
    assert args.loop is Loop.ASYNCIO


def test_bad_port_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "--sip-port", "70000"])
    assert info.value.code == 2
    assert "not a port number" in capsys.readouterr().err


def test_data_dir_defaults() -> None:
    assert default_data_dir({}, euid=0) == Path("/var/lib/switchbox")
    assert default_data_dir({"XDG_DATA_HOME": "/x", "HOME": "/h"}, euid=1000) == \
        Path("/x/switchbox")
    assert default_data_dir({"XDG_DATA_HOME": "rel", "HOME": "/h"}, euid=1000) == \
        Path("/h/.local/share/switchbox")


def test_command_line_overrides_apply_over_the_config() -> None:
    config = parse_config(EXAMPLE)
    options = RunOptions(data_dir=Path("/d"), sip_port=5070, sip_listen="127.0.0.1")
    applied = options.apply_to(config)
    assert (applied.sip.port, applied.sip.listen) == (5070, "127.0.0.1")
    assert applied.users == config.users
    assert RunOptions(data_dir=Path("/d")).apply_to(config) is config
    with pytest.raises(ConfigError, match="sip.port: 15000 lies inside rtp_ports"):
        RunOptions(data_dir=Path("/d"), sip_port=15000).apply_to(config)


def test_check_config_accepts_a_valid_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "office.yaml"
    path.write_text(EXAMPLE)
    assert main(["check-config", str(path)]) == EX_OK
    assert capsys.readouterr().out == f"{path}: valid (2 users, 2 devices)\n"


def test_check_config_lists_every_problem_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "office.yaml"
    path.write_text('sip: {prot: 5060}\nusers:\n  - {id: a, extension: "1"}\n')
    assert main(["check-config", str(path)]) == EX_FAILED
    assert capsys.readouterr().err.splitlines() == [
        f"{path}:1:7: sip.prot: unknown setting 'prot': did you mean 'port'?",
        f"{path}:3:24: users[0].extension: must be 2 to 5 digits, not '1'",
        f"{path}: refused, 2 problems",
    ]


def test_first_start_prints_credentials_once_and_credentials_shows_them_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = RunOptions(data_dir=tmp_path / "data")
    out = io.StringIO()
    assert prepare(options, out) == EX_OK
    first = out.getvalue()
    assert "Default office created" in first
    passwords = [line.split()[2] for line in first.splitlines()[2:]]
    assert len(passwords) == 4 and all(len(p) == 16 for p in passwords)

    out = io.StringIO()
    assert prepare(options, out) == EX_OK
    assert out.getvalue() == ""  # the second start stays quiet

    assert main(["credentials", "--data", str(tmp_path / "data")]) == EX_OK
    shown = capsys.readouterr().out
    assert all(p in shown for p in passwords)


def test_credentials_without_a_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["credentials", "--data", str(tmp_path)]) == EX_FAILED
    assert "no configuration yet" in capsys.readouterr().err


def test_prepare_refuses_a_bad_first_config_with_ex_config(tmp_path: Path) -> None:
    path = tmp_path / "office.yaml"
    path.write_text("users: [")
    options = RunOptions(data_dir=tmp_path / "data", config_path=path)
    assert prepare(options, io.StringIO()) == EX_CONFIG


def test_prepare_refuses_conflicting_overrides(tmp_path: Path) -> None:
    options = RunOptions(data_dir=tmp_path / "data", sip_port=10000)
    assert prepare(options, io.StringIO()) == EX_USAGE
