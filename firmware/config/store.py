"""Numbered configuration revisions in the data directory, and which one is active.

Layout under `data_dir/config/` (directory mode 0700, files 0600 — revisions hold passwords):

    rev-000001.yaml …        every revision ever accepted, as the text that was proposed
    active                   the number of the active revision, e.g. "3\\n"
    credentials-announced    present once the first-start passwords have been shown

A revision is validated before it is written, so only valid documents get a number; a bad
proposal raises `ConfigError` and changes nothing. Files are written with temp + fsync +
rename (or link) + directory fsync, so a power cut leaves either the old state or the new.

Applying a revision to the running system is the application's job: `subscribe()` registers a
listener that `activate()` calls with the new revision and its `Config`, after the switch is
durable. Listeners must apply the difference (new users, changed passwords, …) without tearing
down calls in progress.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from firmware.config.defaults import default_office_text
from firmware.config.durable import create_exclusive, fsync_directory, write_atomic
from firmware.config.errors import ConfigError, Problem
from firmware.config.schema import Config, DeviceAuth
from firmware.config.validate import parse_config

log = logging.getLogger(__name__)

_REVISION_NAME = re.compile(r"rev-(\d{6,})\.yaml")
_ACTIVE = "active"
_ANNOUNCED = "credentials-announced"
_CREATE_ATTEMPTS = 16


@dataclass(frozen=True, slots=True)
class Revision:
    """One stored revision. `created` is wall-clock time, for the history shown to people."""

    number: int
    path: Path
    created: datetime
    sha256: str


@dataclass(frozen=True, slots=True)
class Credential:
    """What a person types into a phone to register it."""

    device: str
    user: str
    extension: str
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class Startup:
    """The outcome of `ConfigStore.bootstrap`.

    `announce` is non-empty only until `mark_credentials_announced()`: the caller prints the
    credentials once, then marks them.
    """

    revision: Revision
    config: Config
    announce: tuple[Credential, ...]


Listener = Callable[[Revision, Config], None]


class NoActiveRevision(LookupError):
    """The store holds no active revision yet (`bootstrap()` makes one)."""


def credentials_of(config: Config) -> tuple[Credential, ...]:
    """The digest credentials of every device in `config`, in document order."""
    out: list[Credential] = []
    for d in config.devices:
        if d.auth is not DeviceAuth.DIGEST or d.username is None or d.password is None:
            continue
        user = config.user_by_id(d.user)
        out.append(Credential(d.id, d.user, user.extension if user else "", d.username,
                              d.password))
    return tuple(out)


class ConfigStore:
    """The revisions of one data directory. Not thread-safe: use it from the event loop."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.config_dir = data_dir / "config"
        self._listeners: list[Listener] = []
        self._current: tuple[Revision, Config] | None = None

    # Reading ---------------------------------------------------------------------------------

    def history(self) -> list[Revision]:
        """Every stored revision, oldest first (empty before the first start)."""
        if not self.config_dir.is_dir():
            return []
        numbers = sorted(
            int(m.group(1)) for p in self.config_dir.iterdir()
            if (m := _REVISION_NAME.fullmatch(p.name))
        )
        return [self.revision(n) for n in numbers]

    def revision(self, number: int) -> Revision:
        """Revision `number`. Raises FileNotFoundError when there is none."""
        path = self._path(number)
        data = path.read_bytes()
        created = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        return Revision(number, path, created, hashlib.sha256(data).hexdigest())

    def text(self, revision: Revision | int) -> str:
        """The YAML text of a revision, as it was proposed."""
        return self._path(_number(revision)).read_text(encoding="utf-8")

    def load(self, revision: Revision | int) -> Config:
        """Read and validate a revision. Raises ConfigError (a file damaged or edited by hand,
        or rules tightened by a firmware update) and FileNotFoundError."""
        number = _number(revision)
        return parse_config(self.text(number), str(self._path(number)))

    def active(self) -> Revision | None:
        """The active revision, or None before the first start."""
        try:
            text = (self.config_dir / _ACTIVE).read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        if not text.isdigit():
            log.error("%s holds %r, not a revision number", self.config_dir / _ACTIVE, text)
            return None
        try:
            return self.revision(int(text))
        except FileNotFoundError:
            log.error("active revision %s is missing from %s", text, self.config_dir)
            return None

    def current(self) -> tuple[int, Config]:
        """The active revision's number and `Config`.

        Raises NoActiveRevision before `bootstrap()`, ConfigError if the active file no longer
        validates (`bootstrap()` falls back to an older good one).
        """
        revision, config = self._current_pair()
        return revision.number, config

    def _current_pair(self) -> tuple[Revision, Config]:
        if self._current is None:
            revision = self.active()
            if revision is None:
                raise NoActiveRevision(str(self.config_dir))
            self._current = (revision, self.load(revision))
        return self._current

    # Writing ---------------------------------------------------------------------------------

    def propose(self, text: str, source: str | None = None) -> Revision:
        """Validate `text` and store it as the next revision, without activating it.

        Raises ConfigError listing every problem (nothing is written), OSError on a storage
        failure. `source` names the text in error messages.
        """
        parse_config(text, source)
        self._ensure_dirs()
        data = text.encode("utf-8")
        for _ in range(_CREATE_ATTEMPTS):
            existing = self.history()
            number = existing[-1].number + 1 if existing else 1
            try:
                create_exclusive(self._path(number), data, 0o600)
            except FileExistsError:
                continue  # another writer took the number; take the next one
            log.info("stored configuration revision %d", number)
            return self.revision(number)
        raise OSError(f"could not allocate a revision number in {self.config_dir}")

    def activate(self, revision: Revision | int) -> Config:
        """Make `revision` the active one and tell the listeners.

        The revision is validated again first (its file may have been damaged); on ConfigError
        the active revision stays. Listeners run after the switch is durable; one that raises
        is logged and does not stop the others or undo the switch.
        """
        number = _number(revision)
        config = self.load(number)
        self._ensure_dirs()
        write_atomic(self.config_dir / _ACTIVE, f"{number}\n".encode("ascii"), 0o600)
        stored = self.revision(number)
        self._current = (stored, config)
        log.info("configuration revision %d is active", number)
        for listener in list(self._listeners):
            try:
                listener(stored, config)
            except Exception:  # a listener's bug must not leave the others unapplied
                log.exception("applying configuration revision %d failed in %r",
                              number, listener)
        return config

    def apply_text(self, text: str, source: str | None = None) -> tuple[Revision, Config]:
        """`propose` then `activate`: what the web page's "Apply" and `--config` do."""
        revision = self.propose(text, source)
        return revision, self.activate(revision)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(revision, config)` on every activation; returns the unsubscriber.

        Listeners run synchronously inside `activate()` and must not block: a listener that
        needs I/O schedules it on the application's TaskGroup.
        """
        self._listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    # First start -----------------------------------------------------------------------------

    def bootstrap(self, config_file: Path | None = None) -> Startup:
        """Make sure a valid revision is active and return it; called once at service start.

        - `config_file` becomes a new active revision when its text differs from the active
          one. A bad file is logged with every problem and the active revision stays.
        - With no revision at all, the default office is generated as revision 1 and its
          credentials are returned in `Startup.announce` until marked as announced.
        - An active revision that no longer validates is replaced by the newest one that does.

        Raises ConfigError only when no valid revision can be had (a bad `config_file` on the
        first start): the service cannot run then, whatever it retries.
        """
        self._ensure_dirs()
        first_start = not self.history()
        if config_file is not None:
            self._import_file(config_file, first_start)
        active = self.active()
        if active is None:
            revisions = self.history()
            if revisions:  # a crash between propose and activate, or a lost pointer
                revision, config = self._activate_newest_valid(revisions, None)
            else:
                revision = self.propose(default_office_text(), "default office")
                config = self.activate(revision)
                log.warning("no configuration yet: started the default office "
                            "(revision %d)", revision.number)
        else:
            try:
                revision, config = active, self.load(active)
            except ConfigError as exc:
                log.error("active configuration revision %d is invalid:\n%s",
                          active.number, exc)
                revision, config = self._activate_newest_valid(
                    [r for r in self.history() if r.number != active.number], exc)
        self._current = (revision, config)
        return Startup(revision, config, self.pending_credentials())

    def _import_file(self, config_file: Path, first_start: bool) -> None:
        try:
            text = config_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            error = ConfigError([Problem("", None, None, f"cannot read: {exc}")],
                                str(config_file))
            self._refuse_file(error, first_start)
            return
        active = self.active()
        if active is not None and self.text(active) == text:
            log.info("%s is the active revision %d already", config_file, active.number)
            return
        try:
            revision = self.propose(text, str(config_file))
        except ConfigError as exc:
            self._refuse_file(exc, first_start)
            return
        self.activate(revision)
        log.info("%s stored and activated as revision %d", config_file, revision.number)
        # The file's author knows its passwords: nothing generated is left to announce.
        self.mark_credentials_announced()

    def _refuse_file(self, error: ConfigError, first_start: bool) -> None:
        if first_start:
            raise error
        active = self.active()
        log.error("configuration file refused, revision %s stays active:\n%s",
                  active.number if active else "(none)", error)

    def _activate_newest_valid(
        self, revisions: list[Revision], cause: ConfigError | None
    ) -> tuple[Revision, Config]:
        for candidate in reversed(revisions):
            try:
                config = self.activate(candidate)
            except ConfigError as exc:
                log.error("configuration revision %d is invalid too:\n%s",
                          candidate.number, exc)
                continue
            log.warning("fell back to configuration revision %d", candidate.number)
            return self.revision(candidate.number), config
        if cause is not None:
            raise cause
        raise ConfigError([Problem("", None, None, "no stored revision is valid: "
                                   "run with --config FILE")], str(self.config_dir))

    # Credentials -----------------------------------------------------------------------------

    def pending_credentials(self) -> tuple[Credential, ...]:
        """The credentials to show on the console once, or () when already shown."""
        if (self.config_dir / _ANNOUNCED).exists():
            return ()
        try:
            _, config = self._current_pair()
        except (NoActiveRevision, ConfigError):
            return ()
        return credentials_of(config)

    def mark_credentials_announced(self) -> None:
        """Record that the first-start credentials were shown, so later starts stay quiet."""
        self._ensure_dirs()
        write_atomic(self.config_dir / _ANNOUNCED, b"", 0o600)

    # Internals -------------------------------------------------------------------------------

    def _path(self, number: int) -> Path:
        return self.config_dir / f"rev-{number:06d}.yaml"

    def _ensure_dirs(self) -> None:
        for directory in (self.data_dir, self.config_dir):
            if not directory.is_dir():
                directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                fsync_directory(directory.parent)
        os.chmod(self.config_dir, 0o700)


def _number(revision: Revision | int) -> int:
    return revision.number if isinstance(revision, Revision) else revision
