"""SDP offer/answer for a leg whose media the box terminates itself (RFC 3264, RFC 4733).

An analog port, a DECT call slot, later voicemail and IVR: their audio is the analog media
engine's G.711 (`bridge.py`), one codec both ways under one payload type, so these helpers reduce
a negotiation to a `LocalMedia` the engine's `connect` takes.

- `local_offer`: one audio stream, PCMA and PCMU (the preferred one first, RFC 3264 §5.1: the
  m= order is our preference), telephone-event 0-16 (RFC 4733 §7.1.1), a=ptime:20, sendrecv.
- `answer_offer`: one G.711 codec chosen by the *offerer's* order (RFC 3264 §6.1: the answerer
  should send with the offerer's most preferred format), under the offerer's payload type
  numbers and its telephone-event number (RFC 3264 §6.1: the answerer keeps the offer's
  numbers); only the chosen codec is answered, so the far side can send nothing else. Streams
  other than the first usable audio one (video, a second audio stream) are rejected with port 0
  (§6). No G.711 offered: `SdpError` with 488 Not Acceptable Here (RFC 3261 §13.3.1.1).
- `accepted`: what the far side's answer to our offer fixed (the first G.711 format it kept).
- `remote_address`: where the audio goes (None for a rejected stream or a c=0.0.0.0 hold).

Checked against offers and answers shaped like baresip's, Linphone's, Yealink's and
Grandstream's (tests/unit/media/ports/test_negotiation.py): dynamic telephone-event numbers
other than 101, PCMU-only, G.729 first, static types without a=rtpmap, a video m= line.

Pure: bytes in, bytes and values out; no I/O, no clock (callers pass `session_id`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from firmware.media.codecs.codec import Encoding
from firmware.sip.sdp import (
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    Codec,
    MediaDescription,
    SdpError,
    negotiate_answer,
    parse_sdp,
    payloads,
    remote_rtp_address,
)
from firmware.sip.status import SipStatus

DEFAULT_TELEPHONE_EVENT_PT = 101
PTIME_MS = 20
USERNAME = "switchbox"

_G711: dict[Encoding, Codec] = {Encoding.PCMA: PCMA, Encoding.PCMU: PCMU}


@dataclass(frozen=True, slots=True)
class LocalMedia:
    """What a negotiation fixed for the box's end: `codec` under `payload_type` both ways, and
    RFC 4733 events under `telephone_event_pt` (None: the peer has none, digits stay in-band).
    Exactly the arguments of `AnalogMediaEngine.connect` / `PortMedia.connect`."""

    codec: Encoding
    payload_type: int
    telephone_event_pt: int | None


def _addrtype(host: str) -> str:
    return "IP6" if ":" in host else "IP4"


def _check_port(port: int) -> None:
    if not 0 < port <= 65535:
        raise ValueError(f"RTP port must be 1-65535, not {port}")


def _g711_of(codec: Codec) -> Encoding | None:
    for encoding, ours in _G711.items():
        if ours.matches(codec):
            return encoding
    return None


def _telephone_event_pt(found: dict[int, Codec]) -> int | None:
    """The first telephone-event/8000 format: the engine's 8 kHz clock (RFC 4733 §2.3)."""
    for pt, codec in found.items():
        if TELEPHONE_EVENT.matches(codec):
            return pt
    return None


def _is_rtp_audio(m: MediaDescription) -> bool:
    return m.media == "audio" and m.proto.upper() == "RTP/AVP" and m.port != 0


def local_offer(
    host: str,
    port: int,
    *,
    prefer: Encoding = Encoding.PCMA,
    telephone_event_pt: int = DEFAULT_TELEPHONE_EVENT_PT,
    session_id: int = 0,
    session_version: int = 0,
) -> bytes:
    """Our offer for a terminated leg: audio at `host`:`port`, PCMA+PCMU with `prefer` first,
    telephone-event 0-16 under `telephone_event_pt`, ptime 20, sendrecv. `session_id` should
    differ between the box's sessions (RFC 4566 §5.2); bump `session_version` for a re-offer.
    Raises ValueError for a codec other than G.711, a port outside 1-65535 or an event payload
    type outside the dynamic range 96-127 (RFC 3551 §6)."""
    if prefer not in _G711:
        raise ValueError(f"the box terminates G.711 only, not {prefer}")
    _check_port(port)
    if not 96 <= telephone_event_pt <= 127:
        raise ValueError(f"telephone-event needs a dynamic payload type 96-127, not "
                         f"{telephone_event_pt}")
    order = [prefer] + [e for e in _G711 if e is not prefer]
    formats = [str(_G711[e].payload_type) for e in order] + [str(telephone_event_pt)]
    conn = f"IN {_addrtype(host)} {host}"
    lines = [
        "v=0",
        f"o={USERNAME} {session_id} {session_version} {conn}",
        "s=-",
        f"c={conn}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(formats)}",
        *(f"a=rtpmap:{_G711[e].payload_type} {e.value}/8000" for e in order),
        f"a=rtpmap:{telephone_event_pt} telephone-event/8000",
        f"a=fmtp:{telephone_event_pt} 0-16",
        f"a=ptime:{PTIME_MS}",
        "a=sendrecv",
        "",
    ]
    return "\r\n".join(lines).encode()


def answer_offer(
    offer: bytes,
    host: str,
    port: int,
    *,
    prefer: Encoding = Encoding.PCMA,
    session_id: int = 0,
) -> tuple[bytes, LocalMedia]:
    """Our answer to the far side's `offer`, with media at `host`:`port`, and what it fixes.

    The first RTP/AVP audio stream offering PCMU or PCMA is accepted with the G.711 codec the
    offerer listed first (RFC 3264 §6.1) and its telephone-event/8000 if offered; every other
    stream gets port 0 (its type and first format kept, RFC 3264 §6). `prefer` is accepted for
    symmetry with `local_offer` but never overrides the offerer's order. Raises `SdpError`
    400 for a malformed offer, 488 when it offers no G.711 audio; ValueError for a port
    outside 1-65535."""
    _check_port(port)
    if prefer not in _G711:
        raise ValueError(f"the box terminates G.711 only, not {prefer}")
    sdp = parse_sdp(offer)
    chosen_index: int | None = None
    chosen: Codec | None = None
    for index, m in enumerate(sdp.media):
        if not _is_rtp_audio(m):
            continue
        chosen = next((c for c in payloads(m).values() if _g711_of(c) is not None), None)
        if chosen is not None:
            chosen_index = index
            break
    if chosen is None or chosen_index is None:
        raise SdpError("no G.711 audio offered", SipStatus.NOT_ACCEPTABLE_HERE)
    # Only the chosen stream may be accepted: offer the others nothing we support.
    only_chosen = replace(
        sdp, media=tuple(m if i == chosen_index else replace(m, port=0)
                         for i, m in enumerate(sdp.media)))
    answer = negotiate_answer(
        only_chosen,
        (chosen, TELEPHONE_EVENT),
        host=host,
        ports=lambda index: port,
        session_id=str(session_id),
        username=USERNAME,
        ptime_ms=PTIME_MS,
    )
    return answer.to_bytes(), _local_media(answer.media[chosen_index])


def _local_media(m: MediaDescription) -> LocalMedia:
    """The first G.711 format of an accepted stream, and its telephone-event number."""
    found = payloads(m)
    for pt, codec in found.items():
        encoding = _g711_of(codec)
        if encoding is not None:
            return LocalMedia(encoding, pt, _telephone_event_pt(found))
    raise SdpError("no G.711 audio accepted", SipStatus.NOT_ACCEPTABLE_HERE)


def accepted(answer: bytes) -> LocalMedia:
    """What the far side's `answer` to our `local_offer` fixed: the first G.711 format of its
    first accepted audio stream (the one it will send with, RFC 3264 §6.1) and its
    telephone-event/8000 number, or None. Raises `SdpError` 400 for a malformed answer, 488
    when no audio stream was accepted with PCMU or PCMA."""
    sdp = parse_sdp(answer)
    for m in sdp.media:
        if _is_rtp_audio(m):
            return _local_media(m)
    raise SdpError("answer accepts no audio we offered", SipStatus.NOT_ACCEPTABLE_HERE)


def remote_address(body: bytes) -> tuple[str, int] | None:
    """Where the first accepted audio stream of `body` wants its RTP (media c= else session
    c=, and the m= port); None when there is none, its port is 0, or it is on hold with
    c=0.0.0.0 (RFC 3264 §8.4). Raises `SdpError` 400 for a malformed description or an audio
    stream without any c= line."""
    sdp = parse_sdp(body)
    for index, m in enumerate(sdp.media):
        if m.media == "audio" and m.port != 0:
            return remote_rtp_address(sdp, index)
    return None


__all__ = [
    "DEFAULT_TELEPHONE_EVENT_PT",
    "LocalMedia",
    "accepted",
    "answer_offer",
    "local_offer",
    "remote_address",
]
