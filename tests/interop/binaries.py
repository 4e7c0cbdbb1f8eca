"""Finding the third-party peers (SIPp, baresip) the interop tests drive.

On a developer machine without them the tests skip and say how to install them; under CI
(`CI=true`) a missing peer fails the test, because `./setup.sh test` installs every one.
"""

from __future__ import annotations

import os
import shutil

import pytest

# binary -> Debian package that ships it (installed by setup.sh test)
PACKAGES = {"sipp": "sip-tester", "baresip": "baresip-core", "sox": "sox"}


def in_ci() -> bool:
    """True when running under CI, where every peer must be present."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(binary: str) -> str:
    """Absolute path of `binary`; skips the test (fails it under CI) when it is not installed."""
    path = shutil.which(binary)
    if path is not None:
        return path
    package = PACKAGES.get(binary, binary)
    reason = f"{binary} not found: install it with `sudo ./setup.sh test` (apt package {package})"
    if in_ci():
        pytest.fail(f"CI: {reason}", pytrace=False)
    pytest.skip(reason)
