"""Which codec a payload type or an SDP `a=rtpmap` names, and how big its packets are.

RFC 3551 §6 table 4 (static payload types) and §4.5 (per-encoding rules): PCMU/8000 is type 0,
PCMA/8000 type 8, G722/8000 type 9. All three put 8 octets on the wire per millisecond, so a
20 ms packet carries 160 octets and the RTP timestamp advances 160 — for G.722 too, whose RTP
clock is 8000 Hz although it samples at 16 kHz (RFC 3551 §4.5.2). Encoding names compare
case-insensitively (RFC 4566 §6, `a=rtpmap`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from firmware.media.codecs.codec import AudioCodec, Encoding
from firmware.media.codecs.g711 import PcmaCodec, PcmuCodec
from firmware.media.codecs.g722 import G722Codec
from firmware.media.frame import FRAME_MS, SampleRate, samples_per_frame


@dataclass(frozen=True, slots=True)
class CodecInfo:
    """What SDP and RTP need to know about an encoding, without making a codec."""

    encoding: Encoding
    payload_type: int
    """Static RTP payload type (RFC 3551 table 4)."""
    clock_rate_hz: int
    """RTP timestamp clock, as written in `a=rtpmap`."""
    sample_rate: SampleRate
    """Rate of the linear frames on our side of the codec (its default)."""
    octets_per_ms: int
    """Payload octets per millisecond of audio (64 kbit/s for all three)."""

    def payload_bytes(self, ptime_ms: int = FRAME_MS) -> int:
        """Octets in one packet of `ptime_ms` (160 for 20 ms). Raises ValueError unless
        `ptime_ms` is a positive whole number of 20 ms frames."""
        return frames_per_packet(ptime_ms) * FRAME_MS * self.octets_per_ms

    def timestamp_step(self, ptime_ms: int = FRAME_MS) -> int:
        """RTP timestamp increment per packet of `ptime_ms` (160 for 20 ms, G.722 included)."""
        return frames_per_packet(ptime_ms) * FRAME_MS * self.clock_rate_hz // 1000

    def payload_duration_ms(self, payload_bytes: int) -> float:
        """Milliseconds of audio in a received payload of `payload_bytes` octets."""
        return payload_bytes / self.octets_per_ms

    def frame_samples(self) -> int:
        """Linear samples in one 20 ms frame (160 narrowband, 320 wideband)."""
        return samples_per_frame(self.sample_rate)


PCMU = CodecInfo(Encoding.PCMU, 0, 8000, SampleRate.NARROWBAND, 8)
PCMA = CodecInfo(Encoding.PCMA, 8, 8000, SampleRate.NARROWBAND, 8)
G722 = CodecInfo(Encoding.G722, 9, 8000, SampleRate.WIDEBAND, 8)

CODECS: tuple[CodecInfo, ...] = (PCMU, PCMA, G722)
"""Every encoding the box can transcode, in no order of preference."""

_BY_PAYLOAD_TYPE = {info.payload_type: info for info in CODECS}
_BY_RTPMAP = {(info.encoding.casefold(), info.clock_rate_hz): info for info in CODECS}
_FACTORIES: dict[Encoding, Callable[[], AudioCodec]] = {
    Encoding.PCMU: PcmuCodec,
    Encoding.PCMA: PcmaCodec,
    Encoding.G722: G722Codec,
}


def frames_per_packet(ptime_ms: int) -> int:
    """20 ms frames in one RTP packet of `ptime_ms` (SDP `a=ptime`). Raises ValueError for a
    ptime that is not a positive multiple of 20 ms: the box only packs whole frames."""
    if ptime_ms <= 0 or ptime_ms % FRAME_MS:
        raise ValueError(f"ptime {ptime_ms} ms is not a whole number of {FRAME_MS} ms frames")
    return ptime_ms // FRAME_MS


def by_payload_type(payload_type: int) -> CodecInfo | None:
    """The static encoding of `payload_type` (0, 8, 9), or None for any other type."""
    return _BY_PAYLOAD_TYPE.get(payload_type)


def by_rtpmap(encoding: str, clock_rate_hz: int, channels: int = 1) -> CodecInfo | None:
    """The encoding an `a=rtpmap:<pt> <encoding>/<clock_rate_hz>[/<channels>]` names, or None
    if we cannot transcode it (another name, another clock, or more than one channel)."""
    if channels != 1:
        return None
    return _BY_RTPMAP.get((encoding.casefold(), clock_rate_hz))


def new_codec(encoding: Encoding) -> AudioCodec:
    """A fresh codec for one channel, both directions. Stateful codecs (G.722) must not be
    shared between channels; G.711 ones may be, but a fresh object costs nothing."""
    return _FACTORIES[encoding]()
