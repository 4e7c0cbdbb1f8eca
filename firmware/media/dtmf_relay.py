"""DTMF out of band: RFC 4733 telephone-events over RTP, and SIP INFO bodies.

RFC 4733 §2.3 payload (4 octets): event (8 bits), E (end), R (reserved, sent 0, ignored),
volume (6 bits, power in -dBm0), duration (16 bits, in RTP timestamp units since the event's
timestamp). Event codes 0–15 are the DTMF keys 0–9 * # A–D and 16 is flash (RFC 4733 §3.2).

`DtmfSender` turns a key press into packets (§2.5.1): every packet of an event carries the
same RTP timestamp (the event's start) and the duration so far; the first has the marker bit;
updates follow every `interval_ms`; the end packet (E set) goes three times (§2.5.1.4), each
with its own sequence number. An event longer than 0xFFFF units (8.2 s at 8 kHz) is cut into
segments (§2.5.1.3): a segment ends at duration 0xFFFF (without E), its last packet also sent
three times, and the next segment starts at timestamp + 0xFFFF without the marker bit (the
marker says "new event" to the receiver's jitter buffer; a segment is not one).

`DtmfEventReceiver` turns received packets into `DigitStarted`/`DigitEnded`, each once per
event: redundant end packets and late updates are recognised by the event's timestamp; a lost
start packet is no matter (any packet of a new timestamp starts the event); lost end packets
end the event when the next event begins or `end_timeout_s` after the last packet.

SIP INFO: `application/dtmf-relay` ("Signal=5\\r\\nDuration=160\\r\\n", the Cisco format) and
`application/dtmf` (the key alone). Both parsers bound the body and raise `DtmfInfoError`.

Pure: bytes, headers and `now` in; packets and events out. No numpy.
"""

from __future__ import annotations

import logging
import struct
from collections import deque
from dataclasses import dataclass
from typing import Final

from firmware.media.rtp import RtpHeader, build_rtp

log = logging.getLogger(__name__)

EVENT_CODES: Final = "0123456789*#ABCD"
"""DTMF key for event codes 0–15 (RFC 4733 §3.2)."""
FLASH: Final = "flash"
"""Event 16, hook flash, as reported in `digit` fields."""
FLASH_CODE: Final = 16
MAX_DURATION: Final = 0xFFFF
"""Largest duration field; longer events are segmented (RFC 4733 §2.5.1.3)."""
END_REPEATS: Final = 3
"""Times the final packet of an event or segment is sent (RFC 4733 §2.5.1.4)."""
DEFAULT_INTERVAL_MS: Final = 50
"""Update interval of the sender (RFC 4733 §2.5.1.2 suggests 50 ms)."""
DEFAULT_END_TIMEOUT_S: Final = 0.3
"""Receiver: an event with no packet for this long has ended (its end packets were lost)."""
MAX_INFO_BODY_BYTES: Final = 512
MAX_INFO_DURATION_MS: Final = 60_000

_PAYLOAD = struct.Struct("!BBH")


class DtmfRelayError(ValueError):
    """A telephone-event payload we cannot act on; `reason` is stable text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DtmfInfoError(ValueError):
    """A SIP INFO DTMF body we cannot act on; `reason` is stable text (answer 400)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def event_code(digit: str) -> int:
    """RFC 4733 event code of a DTMF key ('0'–'9', '*', '#', 'A'–'D', any case) or `FLASH`."""
    if digit == FLASH:
        return FLASH_CODE
    code = EVENT_CODES.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise DtmfRelayError("not a DTMF key")
    return code


def event_digit(code: int) -> str:
    """The key of event `code` (0–16); raises `DtmfRelayError` for other events."""
    if 0 <= code < len(EVENT_CODES):
        return EVENT_CODES[code]
    if code == FLASH_CODE:
        return FLASH
    raise DtmfRelayError("not a DTMF event")


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One RFC 4733 payload. `volume` is the power in -dBm0 (0–63); `duration` in RTP units."""

    event: int
    end: bool
    volume: int
    duration: int


def encode_event(ev: TelephoneEvent) -> bytes:
    """The 4-octet payload; raises `DtmfRelayError` if a field does not fit."""
    if not 0 <= ev.event <= 0xFF:
        raise DtmfRelayError("event does not fit 8 bits")
    if not 0 <= ev.volume <= 0x3F:
        raise DtmfRelayError("volume does not fit 6 bits")
    if not 0 <= ev.duration <= MAX_DURATION:
        raise DtmfRelayError("duration does not fit 16 bits")
    return _PAYLOAD.pack(ev.event, (0x80 if ev.end else 0) | ev.volume, ev.duration)


def decode_event(payload: bytes) -> TelephoneEvent:
    """Parse a payload of exactly four octets (the R bit is ignored, RFC 4733 §2.3.4)."""
    if len(payload) != _PAYLOAD.size:
        raise DtmfRelayError("telephone-event payload is not 4 octets")
    event, flags, duration = _PAYLOAD.unpack(payload)
    return TelephoneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


@dataclass(slots=True)
class _Pending:
    due: float
    timestamp: int
    marker: bool
    event: TelephoneEvent


class DtmfSender:
    """RFC 4733 sender for one RTP stream. Pure: `now` in seconds comes from the caller.

    `start` begins an event, `stop` ends it; `poll(now)` returns the packets due by `now`
    and `next_deadline()` says when to poll next. The stream shares its sequence numbers with
    the audio: read `sequence_number` after polling, and set it before starting if audio
    packets went out in between.
    """

    def __init__(
        self,
        payload_type: int,
        ssrc: int,
        sequence_number: int,
        clock_rate_hz: int = 8000,
        interval_ms: int = DEFAULT_INTERVAL_MS,
    ) -> None:
        self.payload_type = payload_type
        self.ssrc = ssrc
        self.sequence_number = sequence_number & 0xFFFF
        self.clock_rate_hz = clock_rate_hz
        self._interval_s = interval_ms / 1000.0
        self._code = -1
        self._volume = 0
        self._timestamp = 0
        self._origin = 0.0
        self._base = 0  # units covered by earlier segments
        self._next_update: float | None = None
        self._pending: list[_Pending] = []

    @property
    def active(self) -> bool:
        """An event is being sent (its end not yet queued)."""
        return self._next_update is not None

    def start(
        self,
        digit: str,
        timestamp: int,
        now: float,
        volume_dbm0: float = -10.0,
        elapsed_ms: int = 0,
    ) -> None:
        """Begin `digit` at RTP `timestamp` (the event's start); `elapsed_ms` of it already
        passed (an in-band detector confirms a digit about 40 ms in). An event still running
        is ended first. Raises `DtmfRelayError` for an unknown key."""
        code = event_code(digit)
        if self.active:
            self.stop(now)
        self._code = code
        self._volume = min(63, max(0, round(-volume_dbm0)))
        self._timestamp = timestamp & 0xFFFF_FFFF
        self._origin = now - elapsed_ms / 1000.0
        self._base = 0
        self._queue(now, self._timestamp, True, False, self._units(now))
        self._next_update = now + self._interval_s

    def stop(self, now: float, duration_ms: int | None = None) -> None:
        """End the event now (or at `duration_ms` from its start): the end packet is sent
        three times, the first at once. Does nothing if no event is active."""
        if not self.active:
            return
        self._segment_if_due(now)
        units = self._units(now) if duration_ms is None else self._ms_units(duration_ms)
        units = max(0, min(units - self._base, MAX_DURATION))
        for i in range(END_REPEATS):
            self._queue(now + i * self._interval_s, self._timestamp, False, True, units)
        self._next_update = None

    def press(
        self, digit: str, timestamp: int, now: float, duration_ms: int, volume_dbm0: float = -10.0
    ) -> list[tuple[float, bytes]]:
        """All packets of a whole press of `duration_ms` starting at `now`, with send times
        (for a key press known in full, e.g. from SIP INFO)."""
        self.start(digit, timestamp, now, volume_dbm0)
        out: list[tuple[float, bytes]] = []
        end = now + duration_ms / 1000.0
        t = now
        while True:
            out += [(t, p) for p in self.poll(t)]
            deadline = self.next_deadline()
            if deadline is None:
                return out
            if self.active and deadline >= end:
                t = end
                self.stop(t, duration_ms)
            else:
                t = deadline

    def next_deadline(self) -> float | None:
        """When `poll` next has something to send, or None."""
        times = [p.due for p in self._pending]
        if self._next_update is not None:
            times.append(self._next_update)
        return min(times) if times else None

    def poll(self, now: float) -> list[bytes]:
        """Packets due by `now`, in order, each with the next sequence number."""
        if self._next_update is not None:
            while now >= self._next_update:
                self._segment_if_due(self._next_update)
                units = self._units(self._next_update) - self._base
                self._queue(self._next_update, self._timestamp, False, False, units)
                self._next_update += self._interval_s
        due = [p for p in self._pending if p.due <= now]
        self._pending = [p for p in self._pending if p.due > now]
        due.sort(key=lambda p: p.due)
        packets = []
        for p in due:
            header = RtpHeader(
                payload_type=self.payload_type,
                sequence_number=self.sequence_number,
                timestamp=p.timestamp,
                ssrc=self.ssrc,
                marker=p.marker,
            )
            packets.append(build_rtp(header, encode_event(p.event)))
            self.sequence_number = (self.sequence_number + 1) & 0xFFFF
        return packets

    def _units(self, now: float) -> int:
        return max(0, round((now - self._origin) * self.clock_rate_hz))

    def _ms_units(self, ms: int) -> int:
        return round(ms * self.clock_rate_hz / 1000)

    def _queue(self, due: float, timestamp: int, marker: bool, end: bool, units: int) -> None:
        ev = TelephoneEvent(self._code, end, self._volume, min(units, MAX_DURATION))
        self._pending.append(_Pending(due, timestamp, marker, ev))

    def _segment_if_due(self, now: float) -> None:
        """RFC 4733 §2.5.1.3: close every full segment, then continue in a new one."""
        while self._units(now) - self._base > MAX_DURATION:
            for i in range(END_REPEATS):
                self._queue(now + i * self._interval_s, self._timestamp, False, False, MAX_DURATION)
            self._base += MAX_DURATION
            self._timestamp = (self._timestamp + MAX_DURATION) & 0xFFFF_FFFF


@dataclass(frozen=True, slots=True)
class DigitStarted:
    """A telephone-event began: key `digit` at RTP `timestamp`, `volume_dbm0` as sent."""

    digit: str
    timestamp: int
    volume_dbm0: int
    at: float


@dataclass(frozen=True, slots=True)
class DigitEnded:
    """The event that began at `timestamp` ended after `duration_ms`.

    `complete` is False when no end packet arrived (timeout, or the next event began): the
    duration is then the last one reported.
    """

    digit: str
    timestamp: int
    duration_ms: int
    complete: bool
    at: float


RelayEvent = DigitStarted | DigitEnded


@dataclass(slots=True)
class _Current:
    code: int
    timestamp: int
    base: int
    duration: int
    last_at: float


def _newer(a: int, b: int) -> bool:
    """RTP timestamp `a` is after `b` (serial-number arithmetic, RFC 3550 §5.1)."""
    return a != b and ((a - b) & 0xFFFF_FFFF) < 0x8000_0000


class DtmfEventReceiver:
    """RFC 4733 receiver for one RTP stream. Pure: the caller supplies `now`.

    Feed every packet of the negotiated telephone-event payload type to `receive`; call
    `handle_timers` at `next_deadline()`; take results from `next_event()`.
    """

    _REMEMBERED = 16

    def __init__(
        self,
        payload_type: int,
        clock_rate_hz: int = 8000,
        end_timeout_s: float = DEFAULT_END_TIMEOUT_S,
    ) -> None:
        self.payload_type = payload_type
        self.clock_rate_hz = clock_rate_hz
        self.end_timeout_s = end_timeout_s
        self._current: _Current | None = None
        self._ended: deque[int] = deque(maxlen=self._REMEMBERED)
        self._last_ended: int | None = None
        self._events: list[RelayEvent] = []
        self.drops: dict[str, int] = {}

    def receive(self, header: RtpHeader, payload: bytes, now: float) -> None:
        """One RTP packet (`payload` without padding). Other payload types are ignored;
        a malformed payload or a non-DTMF event is counted in `drops` and ignored."""
        if header.payload_type != self.payload_type:
            return
        try:
            ev = decode_event(payload)
            digit = event_digit(ev.event)
        except DtmfRelayError as exc:
            self.drops[exc.reason] = self.drops.get(exc.reason, 0) + 1
            return
        ts = header.timestamp
        if ts in self._ended:
            return  # a redundant end packet or a late update of a finished event
        cur = self._current
        if cur is not None and ts != cur.timestamp:
            if (
                ev.event == cur.code
                and (ts - cur.timestamp) & 0xFFFF_FFFF == MAX_DURATION
                and cur.duration >= MAX_DURATION
            ):
                # RFC 4733 §2.5.1.3: the next segment of the same long event.
                self._ended.append(cur.timestamp)
                cur.base += MAX_DURATION
                cur.timestamp = ts
                cur.duration = 0
            elif _newer(ts, cur.timestamp):
                self._finish(cur, complete=False, now=now)
                cur = None
            else:
                return  # older than the event in progress
        if cur is None:
            if self._last_ended is not None and not _newer(ts, self._last_ended):
                return  # older than an event already reported
            cur = self._current = _Current(ev.event, ts, 0, 0, now)
            self._events.append(DigitStarted(digit, ts, -ev.volume, now))
        cur.duration = max(cur.duration, ev.duration)
        cur.last_at = now
        if ev.end:
            self._finish(cur, complete=True, now=now)

    def handle_timers(self, now: float) -> None:
        """End an event whose packets stopped without an end packet."""
        cur = self._current
        if cur is not None and now >= cur.last_at + self.end_timeout_s:
            self._finish(cur, complete=False, now=now)

    def next_deadline(self) -> float | None:
        """When an event in progress will time out, or None."""
        cur = self._current
        return None if cur is None else cur.last_at + self.end_timeout_s

    def next_event(self) -> RelayEvent | None:
        """The next result, oldest first."""
        return self._events.pop(0) if self._events else None

    def _finish(self, cur: _Current, complete: bool, now: float) -> None:
        units = cur.base + cur.duration
        ms = round(units * 1000 / self.clock_rate_hz)
        first = (cur.timestamp - cur.base) & 0xFFFF_FFFF  # the event's own timestamp
        self._events.append(DigitEnded(event_digit(cur.code), first, ms, complete, now))
        self._ended.append(cur.timestamp)
        self._last_ended = cur.timestamp
        self._current = None


# SIP INFO bodies ----------------------------------------------------------------------------

DTMF_RELAY_CONTENT_TYPE: Final = "application/dtmf-relay"
DTMF_CONTENT_TYPE: Final = "application/dtmf"


@dataclass(frozen=True, slots=True)
class DtmfInfo:
    """A key from a SIP INFO body; `duration_ms` None when the body gives none."""

    digit: str
    duration_ms: int | None = None


def _info_digit(value: str) -> str:
    value = value.strip()
    if value.isdigit() and len(value) == 2:
        code = int(value)  # some phones send the event code: 10 for *, 11 for #, 16 flash
        if 10 <= code <= FLASH_CODE:
            return event_digit(code)
    if value.lower() in ("!", "hf", FLASH):
        return FLASH
    if len(value) == 1 and value.upper() in EVENT_CODES:
        return value.upper()
    raise DtmfInfoError("Signal is not a DTMF key")


def _text(body: bytes | str) -> str:
    raw = body.encode() if isinstance(body, str) else body
    if len(raw) > MAX_INFO_BODY_BYTES:
        raise DtmfInfoError("body too long")
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise DtmfInfoError("body is not ASCII") from exc


def parse_dtmf_relay(body: bytes | str) -> DtmfInfo:
    """Parse `application/dtmf-relay`: lines `Signal=<key>` and optional `Duration=<ms>`.

    Keys are case-insensitive, spaces around '=' and CRLF or LF line ends are accepted,
    other lines are ignored. Raises `DtmfInfoError` without a valid Signal or with a
    Duration outside 1–60 000 ms.
    """
    signal: str | None = None
    duration: int | None = None
    for line in _text(body).splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key = key.strip().lower()
        if key == "signal":
            signal = _info_digit(value)
        elif key == "duration":
            value = value.strip()
            if not value.isdigit() or not 0 < int(value) <= MAX_INFO_DURATION_MS:
                raise DtmfInfoError("Duration is not 1 to 60000 ms")
            duration = int(value)
    if signal is None:
        raise DtmfInfoError("no Signal line")
    return DtmfInfo(signal, duration)


def format_dtmf_relay(info: DtmfInfo) -> str:
    """`application/dtmf-relay` body: "Signal=5\\r\\nDuration=160\\r\\n"."""
    signal = "16" if info.digit == FLASH else info.digit
    text = f"Signal={signal}\r\n"
    if info.duration_ms is not None:
        text += f"Duration={info.duration_ms}\r\n"
    return text


def parse_dtmf(body: bytes | str) -> DtmfInfo:
    """Parse `application/dtmf`: the key alone (surrounding white space allowed)."""
    return DtmfInfo(_info_digit(_text(body)))


def format_dtmf(info: DtmfInfo) -> str:
    """`application/dtmf` body: the key alone."""
    return "16" if info.digit == FLASH else info.digit
