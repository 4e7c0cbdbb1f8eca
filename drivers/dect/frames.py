"""DECT module UART framing: a pure codec with resynchronisation (docs/dect-uart.md §2).

    offset  0     1     2      3     4     5 … 4+n      5+n      6+n
            SOF   LEN   TYPE   SEQ   CMD   PAYLOAD      CRC hi   CRC lo
            F5    n     1-3                (n bytes)

`LEN` counts payload bytes only and is bounded by `MAX_PAYLOAD` (240), so a frame is at most
247 bytes and the receive buffer never holds more than one frame's worth of undecided bytes.
The CRC is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor; check
value 0x29B1 over "123456789") over LEN…PAYLOAD, sent high byte first.

Resynchronisation follows the length-prefixed UART codecs of embedded radio modules (the TI
ZNP monitor-and-test framing is the model): bytes before a start-of-frame are noise; a header
whose length or type is impossible, or a frame whose CRC fails, costs only its SOF byte — the
search restarts at the *next* SOF after it, so a real frame that a false SOF's claimed length
swallowed is still found. A frame that stops arriving mid-way (a false SOF claiming more bytes
than ever come, or a module reset mid-frame) is abandoned after `GAP_TIMEOUT_S` without a new
byte: at 115 200 baud a whole frame takes 21 ms, so 50 ms of silence inside one means it is not
coming. Every outcome is a `Frame` or a `FrameError`; nothing raises on input.

Pure: no I/O and no clock of its own; the caller passes `now` (seconds) and arms
`next_deadline()`.
"""

from __future__ import annotations

import binascii
import collections
from dataclasses import dataclass
from enum import IntEnum, StrEnum

SOF = 0xF5
"""Start of frame. Not escaped inside frames: the CRC and the resync rules make that safe."""
MAX_PAYLOAD = 240
HEADER_BYTES = 5
"""SOF, LEN, TYPE, SEQ, CMD."""
CRC_BYTES = 2
OVERHEAD_BYTES = HEADER_BYTES + CRC_BYTES
MAX_FRAME_BYTES = MAX_PAYLOAD + OVERHEAD_BYTES
GAP_TIMEOUT_S = 0.05
"""Silence inside a frame after which it is abandoned (a 247-byte frame takes 21 ms)."""
CRC_INIT = 0xFFFF
_SOF_BYTES = bytes([SOF])


class FrameKind(IntEnum):
    """The TYPE byte: who sends the frame and whether it answers something."""

    REQUEST = 0x01
    """Host → module; the module answers with exactly one CONFIRM of the same SEQ and CMD."""
    CONFIRM = 0x02
    """Module → host; the first payload byte is the status."""
    INDICATION = 0x03
    """Module → host, unsolicited; SEQ counts the module's indications."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded or to-be-encoded frame. Raises ValueError for fields out of range."""

    kind: FrameKind
    seq: int
    command: int
    payload: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.seq <= 0xFF or not 0 <= self.command <= 0xFF:
            raise ValueError(f"seq and command are bytes: seq={self.seq}, "
                             f"command={self.command}")
        if len(self.payload) > MAX_PAYLOAD:
            raise ValueError(f"payload of {len(self.payload)} bytes; at most {MAX_PAYLOAD}")


class FrameErrorReason(StrEnum):
    """Why bytes were dropped."""

    NOISE = "noise"
    """Bytes before any start-of-frame."""
    LENGTH = "length"
    """LEN beyond MAX_PAYLOAD: not a header."""
    KIND = "kind"
    """TYPE not a FrameKind: not a header."""
    CRC = "crc"
    """A complete frame whose CRC does not match."""
    TRUNCATED = "truncated"
    """The frame stopped arriving (GAP_TIMEOUT_S of silence inside it)."""


@dataclass(frozen=True, slots=True)
class FrameError:
    """`dropped` bytes were discarded because `reason`."""

    reason: FrameErrorReason
    dropped: int


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE of `data` (binascii's CRC-CCITT with init 0xFFFF)."""
    return binascii.crc_hqx(data, CRC_INIT)


def encode(frame: Frame) -> bytes:
    """The bytes of `frame` on the wire."""
    body = bytes((len(frame.payload), frame.kind, frame.seq, frame.command)) + frame.payload
    return _SOF_BYTES + body + crc16(body).to_bytes(2, "big")


class FrameDecoder:
    """Bytes in (with the time they arrived), frames and errors out, in order.

    `feed()` never raises; `next_item()` returns the next `Frame` or `FrameError`, or None.
    Undecided bytes never exceed one maximal frame; `handle_timers(now)` abandons a frame
    that stopped arriving (see `next_deadline()`).
    """

    def __init__(self, gap_timeout_s: float = GAP_TIMEOUT_S) -> None:
        self.gap_timeout_s = gap_timeout_s
        self._buffer = bytearray()
        self._last_byte_at = 0.0
        self._items: collections.deque[Frame | FrameError] = collections.deque()

    @property
    def pending_bytes(self) -> int:
        """Bytes of a frame not yet complete."""
        return len(self._buffer)

    def feed(self, data: bytes, now: float) -> None:
        """Take bytes that arrived at `now`."""
        if not data:
            return
        self._buffer += data
        self._last_byte_at = now
        self._decode()

    def next_item(self) -> Frame | FrameError | None:
        return self._items.popleft() if self._items else None

    def next_deadline(self) -> float | None:
        """When the partial frame in the buffer is abandoned, or None."""
        return self._last_byte_at + self.gap_timeout_s if self._buffer else None

    def handle_timers(self, now: float) -> None:
        """Abandon a frame that stopped arriving, then decode what follows its SOF. Every
        byte left arrived before the silence, so a later SOF whose frame is also incomplete
        is abandoned as well: the buffer ends empty or decoded."""
        deadline = self.next_deadline()
        while deadline is not None and now >= deadline and self._buffer:
            self._resync(FrameErrorReason.TRUNCATED)
            self._decode()

    def reset(self) -> None:
        """Forget undecided bytes (the port was reopened)."""
        self._buffer.clear()

    def _decode(self) -> None:
        buf = self._buffer
        while buf:
            if buf[0] != SOF:
                start = buf.find(_SOF_BYTES)
                dropped = len(buf) if start < 0 else start
                del buf[:dropped]
                self._items.append(FrameError(FrameErrorReason.NOISE, dropped))
                continue
            if len(buf) >= 2 and buf[1] > MAX_PAYLOAD:
                self._resync(FrameErrorReason.LENGTH)
                continue
            if len(buf) >= 3 and buf[2] not in _KINDS:
                self._resync(FrameErrorReason.KIND)
                continue
            if len(buf) < HEADER_BYTES:
                return
            total = buf[1] + OVERHEAD_BYTES
            if len(buf) < total:
                return
            body = memoryview(buf)[1:total - CRC_BYTES]
            received = int.from_bytes(buf[total - CRC_BYTES:total], "big")
            matches = crc16(body) == received
            body.release()
            if not matches:
                self._resync(FrameErrorReason.CRC)
                continue
            self._items.append(Frame(FrameKind(buf[2]), buf[3], buf[4],
                                     bytes(buf[HEADER_BYTES:total - CRC_BYTES])))
            del buf[:total]

    def _resync(self, reason: FrameErrorReason) -> None:
        """Drop the SOF at the buffer's head and everything up to the next SOF."""
        following = self._buffer.find(_SOF_BYTES, 1)
        dropped = len(self._buffer) if following < 0 else following
        del self._buffer[:dropped]
        self._items.append(FrameError(reason, dropped))


_KINDS = frozenset(int(k) for k in FrameKind)
