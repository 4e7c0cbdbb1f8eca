"""Caller ID and visual message waiting: messages, transmission plans for FXS, decoding for FXO.

Message layer (one frame = type, length, body, checksum; checksum = two's complement of the sum of
all preceding bytes mod 256, so a good frame sums to 0):
  * Telcordia GR-30-CORE: SDMF 0x04 (MMDDHHMM + number, or 'O'/'P'), SDMF VMWI 0x06 (0x42×3 on,
    0x6F×3 off), MDMF 0x80 with parameters 0x01 date/time, 0x02 number, 0x04 number absent
    ('O' unavailable, 'P' private), 0x07 name, 0x08 name absent; MDMF VMWI 0x82 / 0x0B
    (0xFF on, 0x00 off).
  * ETSI EN 300 659-3: 0x80 call set-up with the same parameter codes (0x01, 0x02, 0x04, 0x07,
    0x08, plus 0x03 called line, 0x11 call type), 0x82 message waiting with 0x0B visual
    indicator (0x00 off, 0xFF on) and 0x13 number of messages.
Transmission (EN 300 659-1 and GR-30), as timed `Step`s the FXS port plays in order:
  * after the first ring (GR-30, EN 300 659-1 "during ringing"): FSK starts 600 ms after the
    first ring ends (≥ 500 ms), and ends ≥ 200 ms before the next ring;
  * before ringing, line reversal + DT-AS (2130 + 2750 Hz, 100 ms) — reversal→DT-AS 150 ms
    (≥ 100), DT-AS→FSK 60 ms (≥ 45), FSK→first ring 300 ms (≥ 200);
  * before ringing, ring-pulse alert RP-AS: a 250 ms ring (200…300), FSK 650 ms later
    (500…800), first ring 300 ms after the FSK;
  * DTMF CLIP (ETS 300 659-1 annex C, Nordic/Dutch/Indian practice): 'A' + number + 'C', or
    'B' + '00' (unavailable) / '10' (private) + 'C', 70 ms tones with 70 ms gaps, before the
    first ring after a line reversal (or after the first ring).
FSK is Bell 202 or V.23 (`fsk.py`): 300 bits seizure, 180 mark bits, message, −13.5 dBm0.
The windows in brackets are the standards' limits as this module reads them; each chosen value
sits inside with margin. They were not checked against an exchange or a type-approval test.

Decoding for FXO (`CallerIdDecoder`): the FSK receiver runs on every frame (it serves both
standards and reports which one it heard), bytes are framed by message type, length and checksum;
a frame with a bad checksum or inconsistent parameter lengths is rejected and counted. DTMF CLIP
is decoded with the DTMF receiver of `dtmf.py`. Interoperability with minimodem (Debian) in both
directions is checked in tests/unit/media/tones/test_callerid_minimodem.py.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

import numpy as np
import numpy.typing as npt

from firmware.media.dsp.dtmf import DigitDetected, DtmfReceiver, dtmf_tone
from firmware.media.dsp.fsk import (
    MARK_BITS_ON_HOOK,
    SEIZURE_BITS,
    FskDemodulator,
    FskStandard,
    data_bits,
    modulate,
)
from firmware.media.dsp.tones import RingCadence, dual_tone
from firmware.media.frame import Frame, SampleRate

log = logging.getLogger(__name__)

FSK_LEVEL_DBM0 = -13.5
"""GR-30 and EN 300 659-1 transmit level."""
DT_AS_HZ = (2130.0, 2750.0)
"""EN 300 659-1: dual-tone alerting signal (BT SIN 227: "tone alert signal")."""
DT_AS_MS = 100
DT_AS_LEVEL_DBM0 = -15.0
"""Per tone, 1.5 dB under the FSK level."""
REVERSAL_TO_DT_AS_MS = 150
DT_AS_TO_FSK_MS = 60
FSK_TO_RING_MS = 300
AFTER_RING_TO_FSK_MS = 600
RP_AS_MS = 250
RP_AS_TO_FSK_MS = 650
DTMF_TONE_MS = 70
DTMF_GAP_MS = 70
DTMF_LEVEL_DBM0 = -6.0
MAX_MESSAGE_BYTES = 255


class CallerIdError(ValueError):
    """A caller-ID frame we refuse: bad checksum, truncated, unknown type or bad parameter."""


class MessageType(IntEnum):
    """First byte of a frame."""

    SDMF_CALLER_ID = 0x04
    SDMF_MWI = 0x06
    MDMF_CALL_SETUP = 0x80
    MDMF_MWI = 0x82


class Param(IntEnum):
    """MDMF / EN 300 659-3 parameter codes this module reads or writes."""

    DATE_TIME = 0x01
    NUMBER = 0x02
    CALLED_NUMBER = 0x03
    NUMBER_ABSENT = 0x04
    NAME = 0x07
    NAME_ABSENT = 0x08
    VISUAL_INDICATOR = 0x0B
    CALL_TYPE = 0x11
    MESSAGE_COUNT = 0x13


class Absence(StrEnum):
    """Why a number or name is missing (GR-30, EN 300 659-3)."""

    UNAVAILABLE = "O"
    PRIVATE = "P"


class CidSignalling(StrEnum):
    """How caller ID travels on the line."""

    BELL_202 = "bell202"
    V23 = "v23"
    DTMF = "dtmf"


class CidTiming(StrEnum):
    """When caller ID is sent relative to ringing (EN 300 659-1, GR-30)."""

    AFTER_FIRST_RING = "after_first_ring"
    BEFORE_RING_DT_AS = "before_ring_dt_as"
    """Line reversal, dual-tone alert, data, then ringing (ETSI, BT SIN 227)."""
    BEFORE_RING_RP_AS = "before_ring_rp_as"
    """Short ring pulse as alert, data, then ringing."""
    BEFORE_RING_REVERSAL = "before_ring_reversal"
    """Line reversal only, data, then ringing (usual with DTMF CLIP)."""


@dataclass(frozen=True, slots=True)
class CallTime:
    """Month, day, hour, minute as sent on the line (no year, no zone)."""

    month: int
    day: int
    hour: int
    minute: int

    def __post_init__(self) -> None:
        if not (
            1 <= self.month <= 12
            and 1 <= self.day <= 31
            and 0 <= self.hour <= 23
            and 0 <= self.minute <= 59
        ):
            raise CallerIdError(f"bad date/time {self!r}")

    def encode(self) -> bytes:
        return f"{self.month:02d}{self.day:02d}{self.hour:02d}{self.minute:02d}".encode("ascii")

    @classmethod
    def decode(cls, raw: bytes) -> CallTime:
        if len(raw) != 8 or not raw.isdigit():
            raise CallerIdError(f"date/time must be 8 digits, got {raw!r}")
        return cls(int(raw[0:2]), int(raw[2:4]), int(raw[4:6]), int(raw[6:8]))


@dataclass(frozen=True, slots=True)
class CallerId:
    """Who is calling. A missing number or name may carry the reason it is missing."""

    number: str | None = None
    name: str | None = None
    time: CallTime | None = None
    number_absent: Absence | None = None
    name_absent: Absence | None = None


@dataclass(frozen=True, slots=True)
class MessageWaiting:
    """Visual message-waiting indication: lamp on or off, optionally how many messages."""

    active: bool
    count: int | None = None


CidMessage = CallerId | MessageWaiting


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One frame split into its type and body (checksum already verified)."""

    type: int
    body: bytes


# --- Frames ------------------------------------------------------------------------------


def checksum(data: bytes) -> int:
    """Two's complement of the byte sum mod 256: appended, it makes the frame sum to 0."""
    return (-sum(data)) & 0xFF


def frame(message_type: int, body: bytes) -> bytes:
    """Type, length, body, checksum. Raises `CallerIdError` when the body exceeds 255 bytes."""
    if len(body) > MAX_MESSAGE_BYTES:
        raise CallerIdError(f"body of {len(body)} bytes exceeds 255")
    head = bytes((message_type, len(body))) + body
    return head + bytes((checksum(head),))


def encode_params(message_type: int, params: Sequence[tuple[int, bytes]]) -> bytes:
    """An MDMF frame with `params` in the given order."""
    body = b"".join(bytes((code, len(value))) + value for code, value in params)
    return frame(message_type, body)


def parse_frame(data: bytes) -> tuple[RawMessage, int]:
    """The first frame of `data` and the bytes it used. Raises `CallerIdError`."""
    if len(data) < 3:
        raise CallerIdError("truncated frame")
    length = data[1]
    if len(data) < length + 3:
        raise CallerIdError(f"truncated frame: length {length}, have {len(data) - 3}")
    whole = data[: length + 3]
    if sum(whole) & 0xFF:
        raise CallerIdError(
            f"checksum mismatch: got 0x{whole[-1]:02X}, want 0x{checksum(whole[:-1]):02X}"
        )
    return RawMessage(data[0], whole[2:-1]), length + 3


def parse_params(body: bytes) -> list[tuple[int, bytes]]:
    """MDMF parameters in order. Raises `CallerIdError` when a length runs past the body."""
    params: list[tuple[int, bytes]] = []
    i = 0
    while i < len(body):
        if i + 2 > len(body):
            raise CallerIdError("parameter header cut short")
        code, length = body[i], body[i + 1]
        if i + 2 + length > len(body):
            raise CallerIdError(f"parameter 0x{code:02X} length {length} runs past the message")
        params.append((code, body[i + 2 : i + 2 + length]))
        i += 2 + length
    return params


def _text(raw: bytes) -> str:
    # Names are ASCII on the line; anything else is shown, not rejected (Latin-1 is lossless).
    return raw.decode("latin-1")


def _absence(raw: bytes) -> Absence:
    try:
        return Absence(_text(raw))
    except ValueError as exc:
        raise CallerIdError(f"bad absence reason {raw!r}") from exc


# --- Encoding ----------------------------------------------------------------------------


def encode_sdmf(cid: CallerId) -> bytes:
    """GR-30 SDMF (0x04): date/time then number or 'O'/'P'. Needs `time`."""
    if cid.time is None:
        raise CallerIdError("SDMF needs the date and time")
    if cid.number:
        tail = cid.number.encode("ascii")
    elif cid.number_absent is not None:
        tail = cid.number_absent.value.encode("ascii")
    else:
        tail = Absence.UNAVAILABLE.value.encode("ascii")
    return frame(MessageType.SDMF_CALLER_ID, cid.time.encode() + tail)


def encode_mdmf(cid: CallerId) -> bytes:
    """MDMF / EN 300 659-3 call set-up (0x80): date/time, number (or reason), name (or reason)."""
    params: list[tuple[int, bytes]] = []
    if cid.time is not None:
        params.append((Param.DATE_TIME, cid.time.encode()))
    if cid.number:
        params.append((Param.NUMBER, cid.number.encode("ascii")))
    elif cid.number_absent is not None:
        params.append((Param.NUMBER_ABSENT, cid.number_absent.value.encode("ascii")))
    if cid.name:
        params.append((Param.NAME, cid.name.encode("latin-1")))
    elif cid.name_absent is not None:
        params.append((Param.NAME_ABSENT, cid.name_absent.value.encode("ascii")))
    return encode_params(MessageType.MDMF_CALL_SETUP, params)


def encode_vmwi(mwi: MessageWaiting, mdmf: bool = True) -> bytes:
    """Message waiting: MDMF/ETSI 0x82 with 0x0B (and 0x13 count), or GR-30 SDMF 0x06."""
    if not mdmf:
        marker = b"\x42\x42\x42" if mwi.active else b"\x6f\x6f\x6f"
        return frame(MessageType.SDMF_MWI, marker)
    params = [(int(Param.VISUAL_INDICATOR), b"\xff" if mwi.active else b"\x00")]
    if mwi.count is not None:
        params.append((Param.MESSAGE_COUNT, bytes((max(0, min(mwi.count, 255)),))))
    return encode_params(MessageType.MDMF_MWI, params)


# --- Decoding ----------------------------------------------------------------------------


def decode_message(data: bytes) -> CidMessage:
    """The caller ID or message-waiting state in one frame. Raises `CallerIdError`."""
    raw, _ = parse_frame(data)
    return interpret(raw)


def interpret(raw: RawMessage) -> CidMessage:
    """Meaning of a checksum-verified frame. Raises `CallerIdError` for unknown contents."""
    if raw.type == MessageType.SDMF_CALLER_ID:
        if len(raw.body) < 9:
            raise CallerIdError("SDMF shorter than date/time + 1")
        when = CallTime.decode(raw.body[:8])
        rest = raw.body[8:]
        if rest in (b"O", b"P"):
            return CallerId(time=when, number_absent=Absence(_text(rest)))
        return CallerId(number=_text(rest), time=when)
    if raw.type == MessageType.SDMF_MWI:
        if raw.body == b"\x42\x42\x42":
            return MessageWaiting(active=True)
        if raw.body == b"\x6f\x6f\x6f":
            return MessageWaiting(active=False)
        raise CallerIdError(f"bad SDMF message-waiting body {raw.body!r}")
    if raw.type == MessageType.MDMF_MWI:
        return _interpret_mwi(parse_params(raw.body))
    if raw.type == MessageType.MDMF_CALL_SETUP:
        return _interpret_call(parse_params(raw.body))
    raise CallerIdError(f"unknown message type 0x{raw.type:02X}")


def _interpret_mwi(params: list[tuple[int, bytes]]) -> MessageWaiting:
    active: bool | None = None
    count: int | None = None
    for code, value in params:
        if code == Param.VISUAL_INDICATOR and len(value) == 1:
            # EN 300 659-3: 0x00 deactivation, 0xFF activation; other values reserved.
            if value[0] not in (0x00, 0xFF):
                raise CallerIdError(f"reserved visual indicator 0x{value[0]:02X}")
            active = value[0] == 0xFF
        elif code == Param.MESSAGE_COUNT and len(value) == 1:
            count = value[0]
    if active is None:
        raise CallerIdError("message-waiting frame without a visual indicator")
    return MessageWaiting(active=active, count=count)


def _interpret_call(params: list[tuple[int, bytes]]) -> CallerId:
    number = name = None
    when = None
    number_absent = name_absent = None
    for code, value in params:
        if code == Param.DATE_TIME:
            when = CallTime.decode(value)
        elif code == Param.NUMBER:
            number = _text(value)
        elif code == Param.NUMBER_ABSENT:
            number_absent = _absence(value)
        elif code == Param.NAME:
            name = _text(value)
        elif code == Param.NAME_ABSENT:
            name_absent = _absence(value)
        # Other parameters (called line, call type, network ids…) are legal and ignored.
    return CallerId(number, name, when, number_absent, name_absent)


# --- DTMF CLIP ---------------------------------------------------------------------------

_DTMF_ABSENCE = {Absence.UNAVAILABLE: "00", Absence.PRIVATE: "10"}


def dtmf_clip_digits(cid: CallerId) -> str:
    """'A' + number + 'C', or 'B' + reason code + 'C' when the number is absent."""
    if cid.number:
        if not cid.number.isdigit():
            raise CallerIdError(f"DTMF CLIP carries digits only, got {cid.number!r}")
        return "A" + cid.number + "C"
    return "B" + _DTMF_ABSENCE[cid.number_absent or Absence.UNAVAILABLE] + "C"


def decode_dtmf_clip(digits: str) -> CallerId:
    """Inverse of `dtmf_clip_digits`; also takes 'D' as start and '#' as end (Indian, Brazilian
    variants). Raises `CallerIdError`."""
    if len(digits) < 2 or digits[0] not in "ABD" or digits[-1] not in "C#":
        raise CallerIdError(f"not a DTMF CLIP sequence: {digits!r}")
    inner = digits[1:-1]
    if digits[0] == "B":
        for reason, code in _DTMF_ABSENCE.items():
            if inner == code:
                return CallerId(number_absent=reason)
        raise CallerIdError(f"unknown DTMF CLIP information code {inner!r}")
    if not inner.isdigit():
        raise CallerIdError(f"DTMF CLIP number must be digits: {inner!r}")
    return CallerId(number=inner)


# --- Transmission plans (FXS) ------------------------------------------------------------


class StepKind(StrEnum):
    """What the FXS port does during one step."""

    POLARITY_REVERSAL = "polarity_reversal"
    """Reverse the line feed (instantaneous; `duration_ms` 0)."""
    TONE = "tone"
    FSK = "fsk"
    DTMF = "dtmf"
    RING = "ring"
    """Ring with `cadence_ms` (on/off/on…, ending with an on) for `duration_ms`."""
    WAIT = "wait"
    """Idle, line open for data reception (no ringing, no audio)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One timed action of a caller-ID transmission; `audio` is played for TONE/FSK/DTMF."""

    kind: StepKind
    duration_ms: int
    audio: Frame | None = field(default=None, compare=False, repr=False)
    cadence_ms: tuple[int, ...] = ()


def _audio_step(kind: StepKind, audio: Frame, rate: SampleRate) -> Step:
    return Step(kind, int(round(audio.size * 1000 / int(rate))), audio)


def fsk_audio(
    message: bytes,
    standard: FskStandard,
    rate: SampleRate = SampleRate.NARROWBAND,
    level_dbm0: float = FSK_LEVEL_DBM0,
    seizure: int = SEIZURE_BITS,
    mark: int = MARK_BITS_ON_HOOK,
) -> Frame:
    """Seizure, mark and `message` as FSK audio."""
    return modulate(data_bits(message, seizure, mark), standard, rate, level_dbm0)


def dtmf_clip_audio(digits: str, rate: SampleRate = SampleRate.NARROWBAND) -> Frame:
    """`digits` as DTMF tones of 70 ms with 70 ms gaps."""
    gap = np.zeros(int(rate) * DTMF_GAP_MS // 1000, dtype=np.int16)
    parts: list[Frame] = []
    for digit in digits:
        parts += [dtmf_tone(digit, DTMF_TONE_MS, DTMF_LEVEL_DBM0, rate), gap]
    return np.concatenate(parts)


def _signal_step(
    cid: CallerId,
    signalling: CidSignalling,
    rate: SampleRate,
    mdmf: bool,
) -> Step:
    if signalling is CidSignalling.DTMF:
        return _audio_step(StepKind.DTMF, dtmf_clip_audio(dtmf_clip_digits(cid), rate), rate)
    message = encode_mdmf(cid) if mdmf else encode_sdmf(cid)
    standard = FskStandard.BELL_202 if signalling is CidSignalling.BELL_202 else FskStandard.V23
    return _audio_step(StepKind.FSK, fsk_audio(message, standard, rate), rate)


def caller_id_plan(
    cid: CallerId,
    signalling: CidSignalling,
    timing: CidTiming,
    ring: RingCadence,
    rate: SampleRate = SampleRate.NARROWBAND,
    mdmf: bool = True,
) -> tuple[Step, ...]:
    """Steps from the start of alerting until normal ringing takes over.

    After the last step the port rings with `ring` from the start of its cadence. For
    AFTER_FIRST_RING the first ring group of `ring` is part of the plan and the following WAIT
    stretches the first pause when the data needs more room than the cadence gives.
    """
    data = _signal_step(cid, signalling, rate, mdmf)
    if timing is CidTiming.AFTER_FIRST_RING:
        first = ring.first_ring_ms()
        tail = max(FSK_TO_RING_MS, ring.first_pause_ms() - AFTER_RING_TO_FSK_MS - data.duration_ms)
        return (
            Step(StepKind.RING, sum(first), cadence_ms=first),
            Step(StepKind.WAIT, AFTER_RING_TO_FSK_MS),
            data,
            Step(StepKind.WAIT, tail),
        )
    if timing is CidTiming.BEFORE_RING_DT_AS:
        alert = dual_tone(DT_AS_HZ, DT_AS_MS, DT_AS_LEVEL_DBM0, rate)
        return (
            Step(StepKind.POLARITY_REVERSAL, 0),
            Step(StepKind.WAIT, REVERSAL_TO_DT_AS_MS),
            Step(StepKind.TONE, DT_AS_MS, alert),
            Step(StepKind.WAIT, DT_AS_TO_FSK_MS),
            data,
            Step(StepKind.WAIT, FSK_TO_RING_MS),
        )
    if timing is CidTiming.BEFORE_RING_RP_AS:
        return (
            Step(StepKind.RING, RP_AS_MS, cadence_ms=(RP_AS_MS,)),
            Step(StepKind.WAIT, RP_AS_TO_FSK_MS),
            data,
            Step(StepKind.WAIT, FSK_TO_RING_MS),
        )
    return (
        Step(StepKind.POLARITY_REVERSAL, 0),
        Step(StepKind.WAIT, REVERSAL_TO_DT_AS_MS),
        data,
        Step(StepKind.WAIT, FSK_TO_RING_MS),
    )


def vmwi_plan(
    mwi: MessageWaiting,
    signalling: CidSignalling,
    rate: SampleRate = SampleRate.NARROWBAND,
    mdmf: bool = True,
) -> tuple[Step, ...]:
    """Message-waiting lamp update without ringing.

    V.23 (EN 300 659-1, data not associated with ringing): line reversal, DT-AS, data,
    reversal back. Bell 202 (GR-30 on-hook data without ringing): the data alone. DTMF CLIP has
    no message-waiting message (raises `CallerIdError`).
    """
    message = encode_vmwi(mwi, mdmf)
    if signalling is CidSignalling.DTMF:
        raise CallerIdError("DTMF signalling has no message-waiting indication")
    if signalling is CidSignalling.BELL_202:
        audio = fsk_audio(message, FskStandard.BELL_202, rate)
        return (_audio_step(StepKind.FSK, audio, rate), Step(StepKind.WAIT, FSK_TO_RING_MS))
    alert = dual_tone(DT_AS_HZ, DT_AS_MS, DT_AS_LEVEL_DBM0, rate)
    return (
        Step(StepKind.POLARITY_REVERSAL, 0),
        Step(StepKind.WAIT, REVERSAL_TO_DT_AS_MS),
        Step(StepKind.TONE, DT_AS_MS, alert),
        Step(StepKind.WAIT, DT_AS_TO_FSK_MS),
        _audio_step(StepKind.FSK, fsk_audio(message, FskStandard.V23, rate), rate),
        Step(StepKind.WAIT, FSK_TO_RING_MS),
        Step(StepKind.POLARITY_REVERSAL, 0),
    )


def plan_audio(steps: Sequence[Step], rate: SampleRate = SampleRate.NARROWBAND) -> Frame:
    """What the line carries during `steps` (silence for WAIT and RING): for tests and the sim."""
    parts: list[Frame] = []
    for step in steps:
        if step.audio is not None:
            parts.append(step.audio)
        else:
            parts.append(np.zeros(int(rate) * step.duration_ms // 1000, dtype=np.int16))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


# --- Receiver (FXO) ----------------------------------------------------------------------

_KNOWN_TYPES = frozenset(int(t) for t in MessageType)
_DTMF_IDLE_POWER = (32767.0 * math.pow(10.0, (-45.0 - 3.17) / 20.0)) ** 2 / 2.0
"""Mean power of a −45 dBm0 sine (int16² units)."""
_GAP_BITS = 40
"""A silence of this many bit times inside a frame means the burst ended (GR-30 allows ≤ 10)."""


@dataclass(frozen=True, slots=True)
class CallerIdReceived:
    """A caller-ID or message-waiting frame decoded from the line; `at_ms` is its end."""

    message: CidMessage
    signalling: CidSignalling
    at_ms: int


class CallerIdDecoder:
    """Caller ID receiver for an FXO line, on hook: FSK (either standard) and DTMF CLIP.

    Sans-I/O: feed every received frame to `process`; it returns what was decoded. `rejected`
    counts frames dropped for a bad checksum or bad contents. `dtmf=False` skips the DTMF
    receiver on lines known to send FSK.
    """

    def __init__(self, rate: SampleRate = SampleRate.NARROWBAND, dtmf: bool = True) -> None:
        self._rate = int(rate)
        self._fsk = FskDemodulator(rate)
        self._dtmf = DtmfReceiver(1, rate) if dtmf else None
        self._buf = bytearray()
        self._starts: list[int] = []
        self._last_byte_at = -(10**9)
        self._digits = ""
        self._last_digit_at = -(10**9)
        self._n = 0  # samples seen: the clock of DTMF digits (the receiver may be skipped)
        self._dtmf_quiet = 0
        self.rejected = 0

    def process(self, samples: Frame) -> list[CallerIdReceived]:
        """Consume one channel's samples; decoded messages in order."""
        out: list[CallerIdReceived] = []
        for byte in self._fsk.process(samples):
            result = self._fsk_byte(byte.value, byte.at_sample)
            if result is not None:
                out.append(result)
        x = np.asarray(samples, dtype=np.float64).reshape(-1)
        self._n += x.size
        if self._dtmf is None or not self._dtmf_wanted(x):
            return out
        for ev in self._dtmf.process(samples):
            if isinstance(ev, DigitDetected):
                result = self._dtmf_digit(ev.digit, self._n)
                if result is not None:
                    out.append(result)
        return out

    def _dtmf_wanted(self, x: npt.NDArray[np.float64]) -> bool:
        """The DTMF receiver is the costly part: after 200 ms below −45 dBm0 (every digit has
        ended by then) silent blocks are not fed to it."""
        if float(np.dot(x, x)) >= _DTMF_IDLE_POWER * x.size:
            self._dtmf_quiet = 0
            return True
        self._dtmf_quiet += x.size
        return self._dtmf_quiet <= self._rate // 5

    def _fsk_byte(self, value: int, at_sample: int) -> CallerIdReceived | None:
        gap = at_sample - self._last_byte_at
        self._last_byte_at = at_sample
        if self._buf and gap > _GAP_BITS * self._rate / 1200:
            log.debug("caller ID burst cut after %d bytes", len(self._buf))
            self._buf.clear()
            self._starts.clear()
        if not self._buf and value not in _KNOWN_TYPES:
            return None  # seizure (0x55) or noise before the message type
        if value in _KNOWN_TYPES:
            self._starts.append(len(self._buf))
        self._buf.append(value)
        if len(self._buf) > 2 * (MAX_MESSAGE_BYTES + 3):
            self._buf.clear()
            self._starts.clear()
            return None
        # A noise byte that looks like a message type must not swallow the real frame: every
        # known-type byte is a candidate start, tried once its length says it is complete.
        for start in list(self._starts):
            have = len(self._buf) - start
            if have < 2 or have < self._buf[start + 1] + 3:
                continue
            self._starts.remove(start)
            try:
                message = decode_message(bytes(self._buf[start:]))
            except CallerIdError as exc:
                self.rejected += 1
                log.debug("caller ID frame rejected: %s", exc)
                continue
            self._buf.clear()
            self._starts.clear()
            standard = self._fsk.standard
            signalling = (
                CidSignalling.V23 if standard is FskStandard.V23 else CidSignalling.BELL_202
            )
            return CallerIdReceived(message, signalling, at_sample * 1000 // self._rate)
        return None

    def _dtmf_digit(self, digit: str, at_sample: int) -> CallerIdReceived | None:
        """`digit` ended near `at_sample` (this decoder's clock, ± one block)."""
        # Digits more than 1 s apart belong to different sequences.
        if at_sample - self._last_digit_at > self._rate:
            self._digits = ""
        self._last_digit_at = at_sample
        if not self._digits and digit not in "ABD":
            return None
        self._digits += digit
        if digit not in "C#" or len(self._digits) < 2:
            if len(self._digits) > 32:
                self._digits = ""
            return None
        digits, self._digits = self._digits, ""
        try:
            message = decode_dtmf_clip(digits)
        except CallerIdError as exc:
            self.rejected += 1
            log.debug("DTMF CLIP rejected: %s", exc)
            return None
        return CallerIdReceived(message, CidSignalling.DTMF, at_sample * 1000 // self._rate)
