"""Configuration revisions on disk: numbering, refusal of bad revisions, atomicity, first start."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from firmware.config.durable import create_exclusive, write_atomic
from firmware.config.errors import ConfigError
from firmware.config.reference import EXAMPLE
from firmware.config.schema import Config
from firmware.config.store import (
    ConfigStore,
    NoActiveRevision,
    Revision,
    credentials_of,
)
from firmware.config.validate import parse_config

BAD = 'users:\n  - {id: alice, extension: "1"}\n'


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".tmp-"))


@pytest.fixture
def store(tmp_path: Path) -> ConfigStore:
    return ConfigStore(tmp_path / "data")


def test_first_start_generates_the_default_office_as_revision_1(store: ConfigStore) -> None:
    startup = store.bootstrap()
    assert startup.revision.number == 1
    assert [u.extension for u in startup.config.users] == ["201", "202", "203", "204"]
    assert [d.username for d in startup.config.devices] == ["201", "202", "203", "204"]
    assert all(d.password is not None and len(d.password) == 16 for d in startup.config.devices)
    assert [c.username for c in startup.announce] == ["201", "202", "203", "204"]
    assert store.current() == (1, startup.config)
    assert (store.config_dir / "rev-000001.yaml").is_file()
    assert (store.config_dir / "active").read_text() == "1\n"


def test_revisions_and_directory_are_private(store: ConfigStore) -> None:
    store.bootstrap()
    assert mode(store.config_dir) == 0o700
    assert mode(store.config_dir / "rev-000001.yaml") == 0o600
    assert mode(store.config_dir / "active") == 0o600


def test_generated_passwords_differ_between_offices(tmp_path: Path) -> None:
    a = ConfigStore(tmp_path / "a").bootstrap().config
    b = ConfigStore(tmp_path / "b").bootstrap().config
    assert {d.password for d in a.devices}.isdisjoint({d.password for d in b.devices})


def test_credentials_are_announced_once(tmp_path: Path) -> None:
    first = ConfigStore(tmp_path)
    assert first.bootstrap().announce
    first.mark_credentials_announced()
    again = ConfigStore(tmp_path).bootstrap()
    assert again.revision.number == 1 and again.announce == ()


def test_credentials_not_announced_when_started_with_a_config_file(tmp_path: Path) -> None:
    config_file = tmp_path / "office.yaml"
    config_file.write_text(EXAMPLE)
    startup = ConfigStore(tmp_path / "data").bootstrap(config_file)
    assert startup.announce == ()
    assert startup.config == parse_config(EXAMPLE)


def test_bad_revision_is_refused_and_nothing_changes(store: ConfigStore) -> None:
    store.bootstrap()
    before = sorted(p.name for p in store.config_dir.iterdir())
    with pytest.raises(ConfigError) as info:
        store.propose(BAD, "web")
    assert str(info.value) == "web:2:28: users[0].extension: must be 2 to 5 digits, not '1'"
    assert sorted(p.name for p in store.config_dir.iterdir()) == before
    assert store.current()[0] == 1


def test_propose_numbers_revisions_and_activate_switches(store: ConfigStore) -> None:
    store.bootstrap()
    revision = store.propose(EXAMPLE)
    assert revision.number == 2
    assert store.current()[0] == 1  # proposing does not activate
    config = store.activate(revision)
    assert store.current() == (2, config)
    assert [r.number for r in store.history()] == [1, 2]
    assert store.text(2) == EXAMPLE  # kept as written, comments and all


def test_listeners_hear_each_activation_after_it_is_durable(store: ConfigStore) -> None:
    store.bootstrap()
    heard: list[tuple[int, Config, str]] = []

    def listener(revision: Revision, config: Config) -> None:
        pointer = (store.config_dir / "active").read_text().strip()
        heard.append((revision.number, config, pointer))

    unsubscribe = store.subscribe(listener)
    revision, config = store.apply_text(EXAMPLE)
    assert heard == [(2, config, "2")]
    unsubscribe()
    store.activate(1)
    assert len(heard) == 1


def test_a_failing_listener_does_not_stop_the_others(store: ConfigStore) -> None:
    store.bootstrap()
    heard: list[int] = []

    def broken(revision: Revision, config: Config) -> None:
        raise RuntimeError("bug in a subsystem")

    store.subscribe(broken)
    store.subscribe(lambda revision, config: heard.append(revision.number))
    store.apply_text(EXAMPLE)
    assert heard == [2]
    assert store.current()[0] == 2


def test_refused_proposal_notifies_nobody(store: ConfigStore) -> None:
    store.bootstrap()
    heard: list[int] = []
    store.subscribe(lambda revision, config: heard.append(revision.number))
    with pytest.raises(ConfigError):
        store.apply_text(BAD)
    assert heard == []


def test_config_file_becomes_a_revision_only_when_it_differs(tmp_path: Path) -> None:
    config_file = tmp_path / "office.yaml"
    config_file.write_text(EXAMPLE)
    data = tmp_path / "data"
    assert ConfigStore(data).bootstrap(config_file).revision.number == 1
    assert ConfigStore(data).bootstrap(config_file).revision.number == 1
    config_file.write_text(EXAMPLE.replace("Acme", "Acme Ltd"))
    startup = ConfigStore(data).bootstrap(config_file)
    assert startup.revision.number == 2 and startup.config.office.name == "Acme Ltd"


def test_bad_config_file_keeps_the_active_revision(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ConfigStore(data).bootstrap()
    config_file = tmp_path / "office.yaml"
    config_file.write_text(BAD)
    startup = ConfigStore(data).bootstrap(config_file)
    assert startup.revision.number == 1
    assert [r.number for r in ConfigStore(data).history()] == [1]


def test_bad_config_file_on_first_start_is_an_error(tmp_path: Path) -> None:
    config_file = tmp_path / "office.yaml"
    config_file.write_text(BAD)
    with pytest.raises(ConfigError, match=r"office\.yaml:2:28: users\[0\]\.extension"):
        ConfigStore(tmp_path / "data").bootstrap(config_file)


def test_damaged_active_revision_falls_back_to_the_newest_valid(store: ConfigStore) -> None:
    store.bootstrap()
    store.apply_text(EXAMPLE)
    (store.config_dir / "rev-000002.yaml").write_text("users: [")  # damaged outside Switchbox
    startup = ConfigStore(store.data_dir).bootstrap()
    assert startup.revision.number == 1
    assert (store.config_dir / "active").read_text() == "1\n"


def test_activating_a_damaged_revision_is_refused(store: ConfigStore) -> None:
    store.bootstrap()
    revision = store.propose(EXAMPLE)
    revision.path.write_text(BAD)
    with pytest.raises(ConfigError):
        store.activate(revision)
    assert store.current()[0] == 1
    assert (store.config_dir / "active").read_text() == "1\n"


def test_current_before_bootstrap_says_so(store: ConfigStore) -> None:
    with pytest.raises(NoActiveRevision):
        store.current()


def test_credentials_come_from_digest_devices_only() -> None:
    creds = credentials_of(parse_config(EXAMPLE))
    assert [(c.extension, c.username, c.device) for c in creds] == [("201", "201", "alice-desk")]


def test_atomic_write_replaces_whole_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "active"
    write_atomic(target, b"1\n")
    write_atomic(target, b"2\n", 0o640)
    assert target.read_bytes() == b"2\n" and mode(target) == 0o640
    assert leftovers(tmp_path) == []


def test_failed_atomic_write_keeps_the_old_file_and_no_partial_one(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()  # rename over a directory fails after the temp file was fully written
    (target / "keep").write_text("old")
    with pytest.raises(OSError):
        write_atomic(target, b"new content")
    assert (target / "keep").read_text() == "old"
    assert leftovers(tmp_path) == []


def test_exclusive_create_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "rev-000001.yaml"
    create_exclusive(target, b"first")
    with pytest.raises(FileExistsError):
        create_exclusive(target, b"second")
    assert target.read_bytes() == b"first"
    assert leftovers(tmp_path) == []
