"""Suite-wide pytest setup: the run's header says which real SIP peers the interop tests have.

Interop tests (`@pytest.mark.interop`, tests/interop/) skip without SIPp or baresip on a
developer machine and fail without them under CI (`CI=true`), where `./setup.sh test` installs
them. Run only them with `pytest -m interop`, or everything else with `pytest -m "not interop"`.
"""

from __future__ import annotations

import os
import shutil

import pytest

PEERS = {"sipp": "sip-tester", "baresip": "baresip-core"}


def pytest_report_header(config: pytest.Config) -> list[str]:
    found = []
    for binary, package in PEERS.items():
        path = shutil.which(binary)
        found.append(f"{binary}={path}" if path else f"{binary}=missing (apt {package})")
    ci = os.environ.get("CI", "") or "unset"
    return [f"interop peers: {', '.join(found)}; CI={ci}"]
