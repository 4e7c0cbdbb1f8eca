"""Logging setup: stderr outside systemd, the journal under it, and the TRACE level."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from firmware.service.logging import TRACE, parse_level, setup_logging, under_systemd


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def test_trace_is_a_level_below_debug() -> None:
    assert TRACE < logging.DEBUG
    assert logging.getLevelName(TRACE) == "TRACE"
    assert parse_level("TRACE") == TRACE
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        parse_level("loud")


def test_stderr_handler_writes_records_at_the_chosen_level() -> None:
    stream = io.StringIO()
    setup_logging("trace", stream=stream)
    log = logging.getLogger("firmware.sip.test")
    log.log(TRACE, "raw %r", b"INVITE")
    assert "TRACE   firmware.sip.test: raw b'INVITE'" in stream.getvalue()
    setup_logging("warning", stream=stream)
    log.info("not shown")
    assert "not shown" not in stream.getvalue()


def test_setup_twice_replaces_its_own_handler_only() -> None:
    root = logging.getLogger()
    before = len(root.handlers)
    setup_logging("info", stream=io.StringIO())
    setup_logging("info", stream=io.StringIO())
    assert len(root.handlers) == before + 1


def test_systemd_is_recognised_from_its_environment() -> None:
    assert under_systemd({"JOURNAL_STREAM": "8:12345"})
    assert under_systemd({"INVOCATION_ID": "abc"})
    assert not under_systemd({})


def test_journal_handler_under_systemd() -> None:
    journal = pytest.importorskip("systemd.journal")
    handler = setup_logging("info", environ={"INVOCATION_ID": "abc"})
    assert isinstance(handler, journal.JournalHandler)
