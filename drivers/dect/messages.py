"""The DECT module's command set: payload layouts of every request, confirm and indication
(docs/dect-uart.md §3–§5). Pure: bytes ↔ frozen dataclasses, nothing else.

The command set follows the AT-style DECT embedded modules (registration window with a PIN,
a handset table, per-handset call control, keypad, display text, message waiting, PCM
time-slot assignment) carried in the binary frames of `drivers.dect.frames`. Each message
declares its `LAYOUT`: the fields in wire order with their encodings, each bounded:

    U8 / U16      unsigned, big-endian, with the legal range
    FLAG          one byte, 0 or 1
    IDENT         5 bytes: an RFPI or an IPUI (EN 300 175-6 §5.2, §6.2: 40 bits), shown as
                  10 upper-case hex digits
    PIN           4 ASCII digits (GAP, EN 300 444 §8.3: the base's authentication code)
    TEXT(n)       a length byte (0…n) and that many characters: ISO 8859-1 printable for
                  display text and names, a narrower alphabet for numbers and keys
    SLOTS(n)      a count byte (1…n) and that many distinct PCM time slots (0…63)

A payload that is shorter or longer than its layout, or holds a value out of range, raises
`MessageError` whose `status` is what the module answers (`BAD_LENGTH`, `BAD_PARAMETER`).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Self

MAX_HANDSET = 32
"""Handset numbers are 1…32 on the wire; a module holds `max_handsets` of them."""
MAX_NUMBER_CHARS = 24
MAX_NAME_CHARS = 24
MAX_DISPLAY_CHARS = 32
MAX_KEYS = 32
MAX_PCM_SLOT = 63
MAX_SPEECH_CHANNELS = 8
MAX_REGISTRATION_S = 600
NUMBER_ALPHABET = "0123456789*#+"
KEY_ALPHABET = "0123456789*#R"
"""R is the recall (flash) key."""


class Command(IntEnum):
    """Request codes (host → module); the confirm carries the same code."""

    SYS_RESET = 0x01
    SYS_INFO = 0x02
    SYS_PING = 0x03
    AUDIO_CONFIG = 0x04
    REG_OPEN = 0x10
    REG_CLOSE = 0x11
    HS_LIST = 0x12
    HS_DELETE = 0x13
    CALL_PAGE = 0x20
    CALL_STOP_PAGE = 0x21
    CALL_CONNECT = 0x22
    CALL_RELEASE = 0x23
    HS_DISPLAY = 0x24
    HS_MWI = 0x25


class Indication(IntEnum):
    """Indication codes (module → host, unsolicited)."""

    SYS_READY = 0x80
    REG_CLOSED = 0x81
    HS_REGISTERED = 0x82
    HS_DEREGISTERED = 0x83
    HS_LOCATION = 0x84
    HS_OFF_HOOK = 0x85
    HS_ON_HOOK = 0x86
    HS_KEYPAD = 0x87
    HANDOVER_START = 0x88
    HANDOVER_DONE = 0x89
    HANDOVER_OUT = 0x8A
    HANDOVER_FAILED = 0x8B


class Status(IntEnum):
    """The first byte of every confirm."""

    OK = 0x00
    UNKNOWN_COMMAND = 0x01
    BAD_LENGTH = 0x02
    BAD_PARAMETER = 0x03
    NOT_READY = 0x04
    """Booting, or AUDIO_CONFIG missing for a call command."""
    UNKNOWN_HANDSET = 0x05
    WRONG_STATE = 0x06
    """The handset is not in a state the command applies to (connect before off-hook)."""
    SLOT_BUSY = 0x07
    OUT_OF_RANGE = 0x08
    """The handset is subscribed but not locked to this base."""
    BUSY = 0x09
    """The handset is already in a call (paging it)."""


class RegistrationCloseCause(IntEnum):
    TIMEOUT = 0
    HOST = 1
    TABLE_FULL = 2


class OnHookCause(IntEnum):
    END_KEY = 0
    LINK_LOST = 1
    """The radio link stayed lost beyond the module's link timeout."""


class MessageError(ValueError):
    """A payload that does not fit its layout; `status` is the module's answer to it."""

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status


# --- field encodings ----------------------------------------------------------------------------


class Field(abc.ABC):
    """One field's wire format. `encode` raises MessageError(BAD_PARAMETER) for a value out
    of range; `decode` raises MessageError(BAD_LENGTH) for missing bytes."""

    doc: str

    @abc.abstractmethod
    def encode(self, name: str, value: Any) -> bytes: ...

    @abc.abstractmethod
    def decode(self, name: str, data: bytes, offset: int) -> tuple[Any, int]: ...

    @staticmethod
    def _take(name: str, data: bytes, offset: int, size: int) -> bytes:
        if offset + size > len(data):
            raise MessageError(Status.BAD_LENGTH, f"{name}: payload ends at byte {len(data)}, "
                                                  f"field needs {offset + size}")
        return data[offset:offset + size]


class UInt(Field):
    def __init__(self, size: int, lo: int, hi: int) -> None:
        self.size, self.lo, self.hi = size, lo, hi
        self.doc = f"U{8 * size} {lo}–{hi}"

    def _check(self, name: str, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not self.lo <= value <= self.hi:
            raise MessageError(Status.BAD_PARAMETER,
                               f"{name} must be {self.lo}-{self.hi}, not {value!r}")
        return value

    def encode(self, name: str, value: Any) -> bytes:
        return self._check(name, value).to_bytes(self.size, "big")

    def decode(self, name: str, data: bytes, offset: int) -> tuple[Any, int]:
        value = int.from_bytes(self._take(name, data, offset, self.size), "big")
        return self._check(name, value), offset + self.size


class Flag(Field):
    doc = "FLAG"

    def encode(self, name: str, value: Any) -> bytes:
        if not isinstance(value, bool):
            raise MessageError(Status.BAD_PARAMETER, f"{name} must be a bool, not {value!r}")
        return b"\x01" if value else b"\x00"

    def decode(self, name: str, data: bytes, offset: int) -> tuple[Any, int]:
        byte = self._take(name, data, offset, 1)[0]
        if byte > 1:
            raise MessageError(Status.BAD_PARAMETER, f"{name} must be 0 or 1, not {byte}")
        return byte == 1, offset + 1


class EnumField(Field):
    def __init__(self, enum: type[IntEnum]) -> None:
        self.enum = enum
        self.doc = f"U8 {enum.__name__}"

    def encode(self, name: str, value: Any) -> bytes:
        if not isinstance(value, self.enum):
            raise MessageError(Status.BAD_PARAMETER, f"{name} must be a {self.enum.__name__}")
        return bytes((value,))

    def decode(self, name: str, data: bytes, offset: int) -> tuple[Any, int]:
        byte = self._take(name, data, offset, 1)[0]
        try:
            return self.enum(byte), offset + 1
        except ValueError:
            raise MessageError(Status.BAD_PARAMETER,
                               f"{name}: {byte} is no {self.enum.__name__}") from None


class Ident(Field):
    """RFPI or IPUI: 40 bits on the wire, 10 upper-case hex digits in Python."""

    doc = "IDENT (5 bytes)"
    SIZE = 5

    def encode(self, name: str, value: Any) -> bytes:
        if (not isinstance(value, str) or len(value) != 2 * self.SIZE
                or any(c not in "0123456789ABCDEF" for c in value)):
            raise MessageError(Status.BAD_PARAMETER,
                               f"{name} must be 10 upper-case hex digits, not {value!r}")
        return bytes.fromhex(value)

    def decode(self, name: str, data: bytes, offset: int) -> tuple[Any, int]:
        return self._take(name, data, offset, self.SIZE).hex().upper(), offset + self.SIZE


class Pin(Field):
    doc = "PIN (4 ASCII digits)"

    def encode(self, name: str, value: Any) -> bytes:
        if not isinstance(value, str) or len(value) != 4 or not value.isascii() \
                or not value.isdigit():
            raise MessageError(Status.BAD_PARAMETER, f"{name} must be 4 digits, not {value!r}")
        return value.encode("ascii")

    def decode(self, name: str, data: bytes, offset: int) -> tuple[Any, int]:
        raw = self._take(name, data, offset, 4)
        if not all(0x30 <= b <= 0x39 for b in raw):
            raise MessageError(Status.BAD_PARAMETER, f"{name} must be 4 ASCII digits")
        return raw.decode("ascii"), offset + 4


def _latin1_printable(c: str) -> bool:
    return " " <= c <= "~" or "\xa0" <= c <= "\xff"


class Text(Field):
    """A length byte and characters; `alphabet` None means ISO 8859-1 printable."""

    def __init__(self, max_chars: int, alphabet: str | None = None) -> None:
        self.max_chars, self.alphabet = max_chars, alphabet
        self.doc = f"TEXT({max_chars})" + (f" of {alphabet}" if alphabet else "")

    def _allowed(self, c: str) -> bool:
        return c in self.alphabet if self.alphabet is not None else _latin1_printable(c)

    def _check(self, name: str, value: Any) -> str:
        if not isinstance(value, str) or len(value) > self.max_chars:
            raise MessageError(Status.BAD_PARAMETER,
                               f"{name} must be text of at most {self.max_chars} characters")
        bad = [c for c in value if not self._allowed(c)]
        if bad:
            raise MessageError(Status.BAD_PARAMETER, f"{name}: character {bad[0]!r} not allowed")
        return value

    def encode(self, name: str, value: Any) -> bytes:
        text = self._check(name, value)
        return bytes((len(text),)) + text.encode("latin-1")

    def decode(self, name: str, data: bytes, offset: int) -> tuple[Any, int]:
        length = self._take(name, data, offset, 1)[0]
        if length > self.max_chars:
            raise MessageError(Status.BAD_LENGTH,
                               f"{name}: {length} characters; at most {self.max_chars}")
        text = self._take(name, data, offset + 1, length).decode("latin-1")
        return self._check(name, text), offset + 1 + length


class Slots(Field):
    def __init__(self, max_count: int) -> None:
        self.max_count = max_count
        self.doc = f"SLOTS({max_count})"

    def _check(self, name: str, value: Any) -> tuple[int, ...]:
        if (not isinstance(value, tuple) or not 1 <= len(value) <= self.max_count
                or not all(isinstance(v, int) and 0 <= v <= MAX_PCM_SLOT for v in value)
                or len(set(value)) != len(value)):
            raise MessageError(Status.BAD_PARAMETER,
                               f"{name} must be 1-{self.max_count} distinct slots "
                               f"0-{MAX_PCM_SLOT}, not {value!r}")
        return value

    def encode(self, name: str, value: Any) -> bytes:
        slots = self._check(name, value)
        return bytes((len(slots), *slots))

    def decode(self, name: str, data: bytes, offset: int) -> tuple[Any, int]:
        count = self._take(name, data, offset, 1)[0]
        if not 1 <= count <= self.max_count:
            raise MessageError(Status.BAD_LENGTH, f"{name}: count {count}; 1-{self.max_count}")
        raw = self._take(name, data, offset + 1, count)
        return self._check(name, tuple(raw)), offset + 1 + count


HANDSET = UInt(1, 1, MAX_HANDSET)
U8 = UInt(1, 0, 0xFF)


# --- messages -----------------------------------------------------------------------------------


class Message:
    """A payload with a fixed `LAYOUT`. Subclasses are frozen slotted dataclasses whose fields
    are named as in LAYOUT; `CODE` is their Command or Indication."""

    __slots__ = ()
    CODE: ClassVar[int]
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = ()

    def encode(self) -> bytes:
        """The payload bytes. Raises MessageError(BAD_PARAMETER) for a field out of range."""
        return b"".join(f.encode(name, getattr(self, name)) for name, f in self.LAYOUT)

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        """Parse `payload` exactly (no bytes left over). Raises MessageError."""
        offset = 0
        values: dict[str, Any] = {}
        for name, f in cls.LAYOUT:
            values[name], offset = f.decode(name, payload, offset)
        if offset != len(payload):
            raise MessageError(Status.BAD_LENGTH, f"{cls.__name__}: {len(payload) - offset} "
                                                  f"bytes after the last field")
        return cls(**values)


# Requests (host → module).

@dataclass(frozen=True, slots=True)
class ResetReq(Message):
    """Restart the module; it confirms, goes silent while booting, then sends SYS_READY.
    Subscriptions survive (they are in the module's EEPROM); calls, the registration window
    and the audio configuration do not."""

    CODE: ClassVar[int] = Command.SYS_RESET


@dataclass(frozen=True, slots=True)
class InfoReq(Message):
    CODE: ClassVar[int] = Command.SYS_INFO


@dataclass(frozen=True, slots=True)
class PingReq(Message):
    CODE: ClassVar[int] = Command.SYS_PING


@dataclass(frozen=True, slots=True)
class AudioConfigReq(Message):
    """The PCM time slots the module's speech channels may use, in the host's numbering."""

    CODE: ClassVar[int] = Command.AUDIO_CONFIG
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (("slots", Slots(MAX_SPEECH_CHANNELS)),)
    slots: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class RegOpenReq(Message):
    CODE: ClassVar[int] = Command.REG_OPEN
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("duration_s", UInt(2, 1, MAX_REGISTRATION_S)), ("pin", Pin()))
    duration_s: int
    pin: str


@dataclass(frozen=True, slots=True)
class RegCloseReq(Message):
    CODE: ClassVar[int] = Command.REG_CLOSE


@dataclass(frozen=True, slots=True)
class HandsetListReq(Message):
    CODE: ClassVar[int] = Command.HS_LIST


@dataclass(frozen=True, slots=True)
class HandsetDeleteReq(Message):
    CODE: ClassVar[int] = Command.HS_DELETE
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (("handset", HANDSET),)
    handset: int


@dataclass(frozen=True, slots=True)
class PageReq(Message):
    """Ring the handset, showing the caller's number and name (either may be empty)."""

    CODE: ClassVar[int] = Command.CALL_PAGE
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("handset", HANDSET), ("number", Text(MAX_NUMBER_CHARS, NUMBER_ALPHABET)),
        ("name", Text(MAX_NAME_CHARS)))
    handset: int
    number: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class StopPageReq(Message):
    CODE: ClassVar[int] = Command.CALL_STOP_PAGE
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (("handset", HANDSET),)
    handset: int


@dataclass(frozen=True, slots=True)
class ConnectReq(Message):
    """Switch the handset's speech channel to PCM time slot `pcm_slot` (one of AUDIO_CONFIG's);
    the handset must be off-hook (answered, or calling)."""

    CODE: ClassVar[int] = Command.CALL_CONNECT
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("handset", HANDSET), ("pcm_slot", UInt(1, 0, MAX_PCM_SLOT)))
    handset: int
    pcm_slot: int


@dataclass(frozen=True, slots=True)
class ReleaseReq(Message):
    CODE: ClassVar[int] = Command.CALL_RELEASE
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (("handset", HANDSET),)
    handset: int


@dataclass(frozen=True, slots=True)
class DisplayReq(Message):
    CODE: ClassVar[int] = Command.HS_DISPLAY
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("handset", HANDSET), ("text", Text(MAX_DISPLAY_CHARS)))
    handset: int
    text: str


@dataclass(frozen=True, slots=True)
class MessageWaitingReq(Message):
    CODE: ClassVar[int] = Command.HS_MWI
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (("handset", HANDSET), ("on", Flag()))
    handset: int
    on: bool


# Confirm bodies (after the status byte).

@dataclass(frozen=True, slots=True)
class InfoCnf(Message):
    CODE: ClassVar[int] = Command.SYS_INFO
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("firmware_major", U8), ("firmware_minor", U8), ("rfpi", Ident()),
        ("max_handsets", UInt(1, 1, MAX_HANDSET)),
        ("speech_channels", UInt(1, 1, MAX_SPEECH_CHANNELS)))
    firmware_major: int
    firmware_minor: int
    rfpi: str
    max_handsets: int
    speech_channels: int


@dataclass(frozen=True, slots=True)
class HandsetRecord:
    """One row of the handset table."""

    number: int
    ipui: str
    in_range: bool


_RECORD_FIELDS: tuple[tuple[str, Field], ...] = (
    ("number", HANDSET), ("in_range", Flag()), ("ipui", Ident()))


@dataclass(frozen=True, slots=True)
class HandsetListCnf(Message):
    """A count byte, then per handset: number U8, in_range FLAG, IPUI (7 bytes a row)."""

    CODE: ClassVar[int] = Command.HS_LIST
    handsets: tuple[HandsetRecord, ...] = ()

    def encode(self) -> bytes:
        if len(self.handsets) > MAX_HANDSET:
            raise MessageError(Status.BAD_PARAMETER, f"at most {MAX_HANDSET} handsets")
        rows = [b"".join(f.encode(n, getattr(r, n)) for n, f in _RECORD_FIELDS)
                for r in self.handsets]
        return bytes((len(rows),)) + b"".join(rows)

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        count = Field._take("count", payload, 0, 1)[0]
        if count > MAX_HANDSET:
            raise MessageError(Status.BAD_LENGTH, f"count {count}; at most {MAX_HANDSET}")
        offset = 1
        records = []
        for _ in range(count):
            values: dict[str, Any] = {}
            for name, f in _RECORD_FIELDS:
                values[name], offset = f.decode(name, payload, offset)
            records.append(HandsetRecord(**values))
        if offset != len(payload):
            raise MessageError(Status.BAD_LENGTH, f"HandsetListCnf: {len(payload) - offset} "
                                                  f"bytes after the last row")
        if len({r.number for r in records}) != len(records):
            raise MessageError(Status.BAD_PARAMETER, "a handset number twice in the table")
        return cls(tuple(records))


# Indications (module → host).

@dataclass(frozen=True, slots=True)
class ReadyInd(Message):
    CODE: ClassVar[int] = Indication.SYS_READY
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("firmware_major", U8), ("firmware_minor", U8))
    firmware_major: int
    firmware_minor: int


@dataclass(frozen=True, slots=True)
class RegClosedInd(Message):
    CODE: ClassVar[int] = Indication.REG_CLOSED
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("cause", EnumField(RegistrationCloseCause)),)
    cause: RegistrationCloseCause


@dataclass(frozen=True, slots=True)
class RegisteredInd(Message):
    """Sent by every base of the cluster; `here` on the base the handset registered through."""

    CODE: ClassVar[int] = Indication.HS_REGISTERED
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("handset", HANDSET), ("ipui", Ident()), ("here", Flag()))
    handset: int
    ipui: str
    here: bool


@dataclass(frozen=True, slots=True)
class DeregisteredInd(Message):
    CODE: ClassVar[int] = Indication.HS_DEREGISTERED
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (("handset", HANDSET),)
    handset: int


@dataclass(frozen=True, slots=True)
class LocationInd(Message):
    """The handset locked to this base (`in_range`) or left it, outside a call."""

    CODE: ClassVar[int] = Indication.HS_LOCATION
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (("handset", HANDSET),
                                                       ("in_range", Flag()))
    handset: int
    in_range: bool


@dataclass(frozen=True, slots=True)
class OffHookInd(Message):
    CODE: ClassVar[int] = Indication.HS_OFF_HOOK
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (("handset", HANDSET),)
    handset: int


@dataclass(frozen=True, slots=True)
class OnHookInd(Message):
    CODE: ClassVar[int] = Indication.HS_ON_HOOK
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("handset", HANDSET), ("cause", EnumField(OnHookCause)))
    handset: int
    cause: OnHookCause


@dataclass(frozen=True, slots=True)
class KeypadInd(Message):
    CODE: ClassVar[int] = Indication.HS_KEYPAD
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("handset", HANDSET), ("keys", Text(MAX_KEYS, KEY_ALPHABET)))
    handset: int
    keys: str


@dataclass(frozen=True, slots=True)
class HandoverStartInd(Message):
    """On the new base: the handset in a call on `from_rfpi` wants its call here; the host
    answers with CALL_CONNECT within the handover timeout."""

    CODE: ClassVar[int] = Indication.HANDOVER_START
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (("handset", HANDSET),
                                                       ("from_rfpi", Ident()))
    handset: int
    from_rfpi: str


@dataclass(frozen=True, slots=True)
class HandoverDoneInd(Message):
    CODE: ClassVar[int] = Indication.HANDOVER_DONE
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (("handset", HANDSET),
                                                       ("from_rfpi", Ident()))
    handset: int
    from_rfpi: str


@dataclass(frozen=True, slots=True)
class HandoverOutInd(Message):
    """On the old base: the call moved to `to_rfpi`; its speech channel and slot are free."""

    CODE: ClassVar[int] = Indication.HANDOVER_OUT
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (("handset", HANDSET),
                                                       ("to_rfpi", Ident()))
    handset: int
    to_rfpi: str


@dataclass(frozen=True, slots=True)
class HandoverFailedInd(Message):
    """On the new base: no CALL_CONNECT in time; the call stays on `from_rfpi`."""

    CODE: ClassVar[int] = Indication.HANDOVER_FAILED
    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (("handset", HANDSET),
                                                       ("from_rfpi", Ident()))
    handset: int
    from_rfpi: str


REQUESTS: Mapping[Command, type[Message]] = {
    Command(m.CODE): m for m in (
        ResetReq, InfoReq, PingReq, AudioConfigReq, RegOpenReq, RegCloseReq, HandsetListReq,
        HandsetDeleteReq, PageReq, StopPageReq, ConnectReq, ReleaseReq, DisplayReq,
        MessageWaitingReq)}
CONFIRM_BODIES: Mapping[Command, type[Message]] = {
    Command.SYS_INFO: InfoCnf, Command.HS_LIST: HandsetListCnf}
"""Commands whose OK confirm carries a body; the others confirm with the status byte only."""
INDICATIONS: Mapping[Indication, type[Message]] = {
    Indication(m.CODE): m for m in (
        ReadyInd, RegClosedInd, RegisteredInd, DeregisteredInd, LocationInd, OffHookInd,
        OnHookInd, KeypadInd, HandoverStartInd, HandoverDoneInd, HandoverOutInd,
        HandoverFailedInd)}


def confirm_payload(status: Status, body: Message | None = None) -> bytes:
    """The payload of a confirm: the status byte, then the body when OK."""
    return bytes((status,)) + (body.encode() if body is not None else b"")


def split_confirm(payload: bytes) -> tuple[int, bytes]:
    """(status byte, body) of a confirm's payload. Raises MessageError when empty."""
    if not payload:
        raise MessageError(Status.BAD_LENGTH, "confirm without a status byte")
    return payload[0], payload[1:]


def decode_indication(code: int, payload: bytes) -> Message:
    """The indication `code` with `payload`. Raises MessageError (UNKNOWN_COMMAND for a code
    this host does not know: newer module firmware)."""
    try:
        cls = INDICATIONS[Indication(code)]
    except ValueError:
        raise MessageError(Status.UNKNOWN_COMMAND, f"indication 0x{code:02X}") from None
    return cls.decode(payload)
