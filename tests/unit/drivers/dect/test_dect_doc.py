"""docs/dect-uart.md agrees with the code: every worked-example frame decodes, with a CRC
checked by an independent bitwise implementation, into the command, direction and status its
annotation names; and the code table of §3 is the code's Command and Indication enums."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drivers.dect.frames import Frame, FrameDecoder, FrameKind
from drivers.dect.messages import (
    CONFIRM_BODIES,
    INDICATIONS,
    REQUESTS,
    Command,
    Indication,
    Status,
    split_confirm,
)

DOC = Path(__file__).resolve().parents[4] / "docs" / "dect-uart.md"
LINE = re.compile(r"^(H→M|M→H)\s+((?:[0-9A-F]{2} )*[0-9A-F]{2})\s+([A-Z_]+)\.(req|cnf|ind)\b"
                  r"\s*(.*)$")
KINDS = {"req": FrameKind.REQUEST, "cnf": FrameKind.CONFIRM, "ind": FrameKind.INDICATION}


def reference_crc(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def example_lines() -> list[tuple[str, bytes, str, str, str]]:
    out = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = LINE.match(line)
        if match:
            direction, hex_bytes, name, kind, note = match.groups()
            out.append((direction, bytes.fromhex(hex_bytes), name, kind, note))
    return out


EXAMPLES = example_lines()


def test_the_document_has_worked_examples_of_registration_and_an_incoming_call() -> None:
    names = {(name, kind) for _, _, name, kind, _ in EXAMPLES}
    assert {("REG_OPEN", "req"), ("HS_REGISTERED", "ind"), ("CALL_PAGE", "req"),
            ("HS_OFF_HOOK", "ind"), ("CALL_CONNECT", "req"), ("HS_ON_HOOK", "ind")} <= names
    assert len(EXAMPLES) >= 25


@pytest.mark.parametrize(("direction", "wire", "name", "kind", "note"), EXAMPLES,
                         ids=[f"{e[2]}.{e[3]}-{i}" for i, e in enumerate(EXAMPLES)])
def test_every_example_frame_is_what_its_annotation_says(
        direction: str, wire: bytes, name: str, kind: str, note: str) -> None:
    assert int.from_bytes(wire[-2:], "big") == reference_crc(wire[1:-2])
    decoder = FrameDecoder()
    decoder.feed(wire, 0.0)
    frame = decoder.next_item()
    assert isinstance(frame, Frame) and decoder.next_item() is None
    assert frame.kind is KINDS[kind]
    assert (direction == "H→M") == (frame.kind is FrameKind.REQUEST)
    if frame.kind is FrameKind.INDICATION:
        code = Indication[name]
        assert frame.command == code
        INDICATIONS[code].decode(frame.payload)
        return
    command = Command[name]
    assert frame.command == command
    if frame.kind is FrameKind.REQUEST:
        REQUESTS[command].decode(frame.payload)
        return
    status, body = split_confirm(frame.payload)
    assert note.split(",")[0].split()[0] == Status(status).name
    if status == Status.OK and command in CONFIRM_BODIES:
        CONFIRM_BODIES[command].decode(body)
    else:
        assert body == b""


def test_the_code_table_is_the_codes_of_the_implementation() -> None:
    rows = re.findall(r"^\| ([0-9A-F]{2}) \| ([A-Z_]+) \| [→⇐]", DOC.read_text(encoding="utf-8"),
                      re.MULTILINE)
    table = {name: int(code, 16) for code, name in rows}
    code = {c.name: int(c) for c in Command} | {i.name: int(i) for i in Indication}
    assert table == code
    statuses = re.findall(r"^\| ([0-9A-F]{2}) \| ([A-Z_]+) \| [a-z]", DOC.read_text(
        encoding="utf-8"), re.MULTILINE)
    assert {n: int(c, 16) for c, n in statuses} == {s.name: int(s) for s in Status}
