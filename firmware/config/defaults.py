"""The default office: what a Switchbox runs when nobody has configured it yet.

Four users with extensions 201–204, one SIP device each that registers with username = extension
and a random password. The passwords come from `secrets` and are shown once on the console at
the first start (`switchbox credentials` shows them again), so a box plugged into a network is
never reachable with a guessable password.
"""

from __future__ import annotations

import secrets

from firmware.config.schema import Config, Device, Role, User
from firmware.config.validate import dump_config, password_weakness

DEFAULT_EXTENSIONS = ("201", "202", "203", "204")
PASSWORD_LENGTH = 16
# Letters and digits without the look-alikes 0/O, 1/l/I: these passwords are read off a console
# and typed into a phone's keypad or web page.
PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"


def generate_password(username: str | None = None) -> str:
    """A random password of `PASSWORD_LENGTH` characters (≈ 93 bits) that passes the checks."""
    while True:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))
        if password_weakness(password, username) is None:
            return password


def default_office() -> Config:
    """A fresh default office with newly generated passwords; the first user is the admin."""
    users = tuple(
        User(id=f"user{i}", extension=ext, name=f"Extension {ext}",
             role=Role.ADMIN if i == 1 else Role.USER)
        for i, ext in enumerate(DEFAULT_EXTENSIONS, start=1)
    )
    devices = tuple(
        Device(id=f"phone{i}", user=u.id, username=u.extension,
               password=generate_password(u.extension))
        for i, u in enumerate(users, start=1)
    )
    return Config(users=users, devices=devices)


DEFAULT_HEADER = """\
Switchbox configuration, generated at the first start.
Every setting is described in docs/CONFIGURATION.md; settings left out take their default.
`switchbox check-config FILE` validates an edited copy; `switchbox run --config FILE` applies it."""


def default_office_text() -> str:
    """The YAML text of a fresh `default_office()`, with a comment saying where it came from."""
    return dump_config(default_office(), header=DEFAULT_HEADER, omit_defaults=True)
