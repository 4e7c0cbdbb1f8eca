"""`switchbox line learn`: a rehearsal on the simulated board, and every way the command refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware import cli
from firmware.config.schema import CallerIdMethod, CallerIdTiming, DisconnectMethod
from firmware.config.store import ConfigStore
from firmware.linewizard.profile import load_profile


def test_rehearsal_learns_the_line_and_writes_its_profile(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["line", "learn", "2", "--simulate", "ru-aon", "--data", str(tmp_path),
                     "--calls", "1"])
    out, err = capsys.readouterr()
    assert code == cli.EX_OK, err
    assert ">>> Call this line (fxo2) now from a mobile phone (test call 1 of 1)" in out
    assert ">>> Hang up now (test call 1 of 1)." in out
    assert "caller ID      Russian AON (after answering); heard 1234567 (matches)" in out
    assert f"Evidence written to {tmp_path / 'lines' / 'fxo2.yaml'}" in out
    assert "No configuration in this data directory yet" in out
    profile = load_profile(tmp_path / "lines" / "fxo2.yaml")
    assert profile.port == "fxo2" and profile.learnt_at.endswith("+00:00")
    assert profile.settings.caller_id is CallerIdMethod.AON
    assert profile.settings.disconnect is DisconnectMethod.BUSY_TONE


def test_learnt_settings_become_the_ports_entry_in_a_new_configuration_revision(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = ConfigStore(tmp_path)
    store.bootstrap()                                    # the default office, revision 1
    for kind, revision in (("ru-aon", 2), ("bell-after-ring", 3)):
        code = cli.main(["line", "learn", "1", "--simulate", kind, "--data", str(tmp_path),
                         "--calls", "1"])
        out, err = capsys.readouterr()
        assert code == cli.EX_OK, err
        assert f"Configuration revision {revision} is active" in out
    number, config = ConfigStore(tmp_path).current()
    assert number == 3
    [line] = config.fxo_lines                            # learnt again: replaced, not added
    assert line.port == "fxo1" and line.caller_id is CallerIdMethod.BELL_202
    assert line.caller_id_timing is CallerIdTiming.AFTER_FIRST_RING
    assert [u.extension for u in config.users] == ["201", "202", "203", "204"]  # kept


def test_no_ring_within_the_time_limit_is_a_message_not_a_crash(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["line", "learn", "fxo1", "--simulate", "nobody-calls", "--data",
                     str(tmp_path), "--ring-timeout", "5"])
    out, err = capsys.readouterr()
    assert code == cli.EX_FAILED
    assert err == ("fxo1: no call reached fxo1 within 5 s: check that the line is plugged "
                   "into fxo1 and that the number called is this line's\n")
    assert "Traceback" not in out + err
    assert not (tmp_path / "lines").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["fxo3", "--simulate", "ru-aon"], "no FXO port 'fxo3' on this board; FXO ports: fxo1, "
                                       "fxo2"),
    (["fxo1"], "nobody can call a simulated line: add --simulate KIND"),
    (["fxo1", "--simulate", "pstn"], "no simulated exchange 'pstn'; kinds: ru-aon, "),
    (["fxo1", "--simulate", "ru-aon", "--board", "switchbox-r1"],
     "--simulate needs a simulated board; switchbox-r1 has real FXO ports"),
    (["fxo1", "--simulate", "ru-aon", "--calls", "9"], "calls must be 1-5, not 9"),
    (["fxo1", "--simulate", "ru-aon", "--ring-timeout", "1"], "ring_timeout_s must be 5-600 s"),
])
def test_bad_usage_is_refused_with_the_fix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
        message: str) -> None:
    code = cli.main(["line", "learn", *args, "--data", str(tmp_path)])
    _, err = capsys.readouterr()
    assert code == cli.EX_USAGE
    assert err.startswith(f"switchbox line learn: {message}")


def test_unknown_board_is_a_configuration_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["line", "learn", "fxo1", "--board", "no-such-board", "--data",
                     str(tmp_path)]) == cli.EX_CONFIG
    assert "no such board" in capsys.readouterr().err


def test_unwritable_data_directory_is_reported(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data directory should be")
    code = cli.main(["line", "learn", "fxo1", "--simulate", "busy-tone-only", "--calls", "1",
                     "--data", str(blocker)])
    assert code == cli.EX_IOERR
    assert "cannot write the line profile" in capsys.readouterr().err
