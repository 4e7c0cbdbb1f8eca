"""Logging setup: the journal under systemd, stderr elsewhere, and a TRACE level below DEBUG.

TRACE (5) is for raw frames and messages (SIP bytes, DECT frames); guard it on hot paths with
`log.isEnabledFor(TRACE)`. Under systemd (JOURNAL_STREAM or INVOCATION_ID set) records go to
the journal with their priority and logger name as structured fields, so that
`journalctl -u switchbox -p warning` works; without systemd-python they fall back to stderr,
which systemd also captures.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

TRACE = 5
LEVELS: dict[str, int] = {
    "trace": TRACE,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
"""Level names accepted by `--log-level`."""

_STDERR_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_JOURNAL_FORMAT = "%(name)s: %(message)s"  # the journal adds time, priority and identifier
_OURS = "_switchbox_handler"

logging.addLevelName(TRACE, "TRACE")


def under_systemd(environ: Mapping[str, str] | None = None) -> bool:
    """True when systemd started us (its journal captures our output)."""
    env = os.environ if environ is None else environ
    return bool(env.get("JOURNAL_STREAM") or env.get("INVOCATION_ID"))


def parse_level(name: str | int) -> int:
    """A level from a name in `LEVELS` (any case) or a number. Raises ValueError."""
    if isinstance(name, int):
        return name
    try:
        return LEVELS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {name!r}: use one of {', '.join(LEVELS)}") from None


def setup_logging(
    level: str | int = "info",
    *,
    environ: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Configure the root logger once for the process; calling again replaces our handler.

    Returns the handler installed. Raises ValueError for an unknown level name.
    """
    numeric = parse_level(level)
    handler: logging.Handler | None = None
    if stream is None and under_systemd(environ):
        handler = _journal_handler()
    if handler is None:
        handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
        handler.setFormatter(logging.Formatter(_STDERR_FORMAT))
    setattr(handler, _OURS, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(numeric)
    return handler


def _journal_handler() -> logging.Handler | None:
    try:
        from systemd.journal import JournalHandler
    except ImportError:
        return None
    handler: logging.Handler = JournalHandler(SYSLOG_IDENTIFIER="switchbox")
    handler.setFormatter(logging.Formatter(_JOURNAL_FORMAT))
    return handler
