"""The DECT UART frame codec and message layouts: golden bytes checked against an independent
bitwise CRC-16/CCITT-FALSE (and the catalogue check value), resynchronisation after noise,
bounded lengths, and property tests: any bytes decode to frames or errors, nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.dect.frames import (
    GAP_TIMEOUT_S,
    MAX_FRAME_BYTES,
    MAX_PAYLOAD,
    SOF,
    Frame,
    FrameDecoder,
    FrameError,
    FrameErrorReason,
    FrameKind,
    crc16,
    encode,
)
from drivers.dect.messages import (
    INDICATIONS,
    REQUESTS,
    HandsetListCnf,
    HandsetRecord,
    InfoCnf,
    KeypadInd,
    MessageError,
    OnHookCause,
    OnHookInd,
    PageReq,
    RegisteredInd,
    RegOpenReq,
    Status,
    decode_indication,
    split_confirm,
)


def reference_crc(data: bytes) -> int:
    """CRC-16/CCITT-FALSE bit by bit (poly 0x1021, init 0xFFFF), independent of binascii."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# (description, frame, golden bytes as in docs/dect-uart.md)
GOLDEN = [
    ("SYS_PING request, seq 1", Frame(FrameKind.REQUEST, 1, 0x03), "F5 00 01 01 03 B0 A2"),
    ("REG_OPEN 60 s PIN 1234, seq 0x2A",
     Frame(FrameKind.REQUEST, 0x2A, 0x10, RegOpenReq(60, "1234").encode()),
     "F5 06 01 2A 10 00 3C 31 32 33 34 F4 86"),
    ("its confirm: OK", Frame(FrameKind.CONFIRM, 0x2A, 0x10, b"\x00"),
     "F5 01 02 2A 10 00 14 41"),
    ("HS_REGISTERED handset 1, IPUI 0123456789, here",
     Frame(FrameKind.INDICATION, 5, 0x82, RegisteredInd(1, "0123456789", True).encode()),
     "F5 07 03 05 82 01 01 23 45 67 89 01 2F 32"),
    ("CALL_PAGE handset 1, +74951234567 Ivan",
     Frame(FrameKind.REQUEST, 7, 0x20, PageReq(1, "+74951234567", "Ivan").encode()),
     "F5 13 01 07 20 01 0C 2B 37 34 39 35 31 32 33 34 35 36 37 04 49 76 61 6E E0 54"),
]


def decode_all(data: bytes, now: float = 0.0, flush: bool = True) -> list[Frame | FrameError]:
    decoder = FrameDecoder()
    decoder.feed(data, now)
    if flush:
        decoder.handle_timers(now + GAP_TIMEOUT_S)
    out = []
    while (item := decoder.next_item()) is not None:
        out.append(item)
    return out


def test_crc_is_ccitt_false_by_its_check_value() -> None:
    assert crc16(b"123456789") == 0x29B1 == reference_crc(b"123456789")


@pytest.mark.parametrize(("what", "frame", "golden"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_frames_encode_to_golden_bytes_and_back(what: str, frame: Frame, golden: str) -> None:
    wire = h(golden)
    # The golden bytes are self-consistent by the independent CRC: LEN, then CRC over LEN..payload.
    assert wire[0] == SOF and wire[1] == len(wire) - 7
    assert int.from_bytes(wire[-2:], "big") == reference_crc(wire[1:-2])
    assert encode(frame) == wire
    assert decode_all(wire) == [frame]


def test_a_frame_split_anywhere_decodes_once() -> None:
    wire = h(GOLDEN[4][2])
    for cut in range(1, len(wire)):
        decoder = FrameDecoder()
        decoder.feed(wire[:cut], 0.0)
        assert decoder.next_item() is None
        decoder.feed(wire[cut:], 0.01)
        assert decoder.next_item() == GOLDEN[4][1]
        assert decoder.pending_bytes == 0


def test_noise_before_a_frame_is_one_error_then_the_frame() -> None:
    wire = h(GOLDEN[0][2])
    assert decode_all(b"\x00\x13\xff" + wire) == [FrameError(FrameErrorReason.NOISE, 3),
                                                  GOLDEN[0][1]]


def test_bad_crc_resyncs_on_the_next_sof_inside_the_broken_frame() -> None:
    ping = h(GOLDEN[0][2])
    broken = bytearray(h(GOLDEN[1][2]))
    broken[7] ^= 0x01  # a bit error in the PIN
    items = decode_all(bytes(broken) + ping)
    assert items[0] == FrameError(FrameErrorReason.CRC, len(broken))
    assert items[-1] == GOLDEN[0][1]


def test_a_false_sof_claiming_a_long_frame_does_not_swallow_real_frames() -> None:
    ping, confirm = h(GOLDEN[0][2]), h(GOLDEN[2][2])
    # F5 F0 03 …: a plausible header claiming 240 bytes, then two real frames (17 bytes).
    data = b"\xf5\xf0\x03" + ping + confirm
    decoder = FrameDecoder()
    decoder.feed(data, 10.0)
    assert decoder.next_item() is None          # waiting: the claim could be true
    assert decoder.next_deadline() == pytest.approx(10.0 + GAP_TIMEOUT_S)
    decoder.handle_timers(10.0 + GAP_TIMEOUT_S)  # nothing more came: not a frame
    assert decoder.next_item() == FrameError(FrameErrorReason.TRUNCATED, 3)
    assert decoder.next_item() == GOLDEN[0][1]
    assert decoder.next_item() == GOLDEN[2][1]


@pytest.mark.parametrize(("data", "reason"), [
    (b"\xf5\xf1", FrameErrorReason.LENGTH),      # 241 > MAX_PAYLOAD: rejected at once
    (b"\xf5\x00\x07", FrameErrorReason.KIND),    # no such TYPE
])
def test_impossible_headers_are_rejected_without_waiting(data: bytes,
                                                         reason: FrameErrorReason) -> None:
    assert decode_all(data, flush=False) == [FrameError(reason, len(data))]


def test_encoder_bounds_every_field() -> None:
    with pytest.raises(ValueError, match="at most 240"):
        Frame(FrameKind.REQUEST, 0, 1, bytes(MAX_PAYLOAD + 1))
    with pytest.raises(ValueError, match="seq"):
        Frame(FrameKind.REQUEST, 256, 1)
    assert len(encode(Frame(FrameKind.REQUEST, 0, 1, bytes(MAX_PAYLOAD)))) == MAX_FRAME_BYTES


frames_strategy = st.builds(
    Frame, st.sampled_from(FrameKind), st.integers(0, 255), st.integers(0, 255),
    st.binary(max_size=MAX_PAYLOAD))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(1, 64), max_size=8))
def test_any_bytes_give_frames_or_errors_and_the_buffer_stays_bounded(
        data: bytes, cuts: list[int]) -> None:
    decoder = FrameDecoder()
    items: list[Frame | FrameError] = []
    offset, now = 0, 0.0
    for cut in [*cuts, len(data)]:
        decoder.feed(data[offset:offset + cut], now)
        offset += cut
        now += 0.001
        assert decoder.pending_bytes < MAX_FRAME_BYTES
        while (item := decoder.next_item()) is not None:
            items.append(item)
    decoder.handle_timers(now + GAP_TIMEOUT_S)
    while (item := decoder.next_item()) is not None:
        items.append(item)
    assert decoder.pending_bytes == 0
    assert all(isinstance(i, Frame | FrameError) for i in items)
    # Every input byte is accounted for: in a frame or in an error.
    assert sum(len(encode(i)) if isinstance(i, Frame) else i.dropped for i in items) == len(data)


false_headers = st.builds(lambda length, kind, rest: bytes((SOF, length, kind)) + rest,
                          st.integers(0, 255), st.integers(1, 3), st.binary(max_size=12))
"""Noise that looks like the start of a frame: what a resync rule must survive."""
garbage_strategy = st.lists(st.one_of(st.binary(max_size=24), false_headers),
                            max_size=8).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(garbage_strategy, st.lists(frames_strategy, min_size=1, max_size=4))
def test_frames_after_any_garbage_are_all_recovered(garbage: bytes, frames: list[Frame]) -> None:
    wire = b"".join(encode(f) for f in frames)
    items = decode_all(garbage + wire)
    decoded = [i for i in items if isinstance(i, Frame)]
    # Garbage may (with probability 2^-16 per false SOF) yield a frame of its own, never lose ours.
    assert decoded[-len(frames):] == frames


# --- message layouts ---------------------------------------------------------------------------

def test_messages_round_trip_and_reject_bad_payloads() -> None:
    info = InfoCnf(2, 1, "0012345670", 8, 4)
    assert InfoCnf.decode(info.encode()) == info
    table = HandsetListCnf((HandsetRecord(1, "0123456789", True),
                            HandsetRecord(3, "0123456790", False)))
    assert table.encode() == h("02 01 01 0123456789 03 00 0123456790")
    assert HandsetListCnf.decode(table.encode()) == table
    assert decode_indication(0x86, b"\x02\x01") == OnHookInd(2, OnHookCause.LINK_LOST)
    assert decode_indication(0x87, b"\x02\x03201") == KeypadInd(2, "201")
    with pytest.raises(MessageError) as short:
        decode_indication(0x87, b"\x02\x05201")
    assert short.value.status is Status.BAD_LENGTH
    with pytest.raises(MessageError) as key:
        decode_indication(0x87, b"\x02\x01A")
    assert key.value.status is Status.BAD_PARAMETER
    with pytest.raises(MessageError) as handset:
        decode_indication(0x85, b"\x00")            # handsets are 1-32
    assert handset.value.status is Status.BAD_PARAMETER
    with pytest.raises(MessageError) as extra:
        decode_indication(0x85, b"\x01\x00")
    assert extra.value.status is Status.BAD_LENGTH
    with pytest.raises(MessageError, match="must be 4 digits"):
        RegOpenReq(60, "12a4").encode()
    with pytest.raises(MessageError, match="1-600"):
        RegOpenReq(601, "1234").encode()
    assert split_confirm(b"\x05") == (5, b"")


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 255), st.binary(max_size=64))
def test_any_payload_gives_a_message_or_a_message_error(code: int, payload: bytes) -> None:
    for table in (INDICATIONS, REQUESTS):
        cls = table.get(code)  # type: ignore[call-overload]
        if cls is None:
            continue
        try:
            message = cls.decode(payload)
        except MessageError as exc:
            assert exc.status in (Status.BAD_LENGTH, Status.BAD_PARAMETER)
        else:
            assert message.encode() == payload    # exact layouts: decoding is invertible
