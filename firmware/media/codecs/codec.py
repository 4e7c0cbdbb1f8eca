"""What every voice codec in the box offers: the `AudioCodec` interface and the `Encoding` names.

A codec turns one channel's 20 ms `Frame` into an RTP payload and back. The names are the SDP
encoding names of RFC 3551 §4.5 (case-insensitive on the wire, upper case here).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from firmware.media.frame import Frame, SampleRate


class Encoding(StrEnum):
    """The payload formats the box can encode and decode (RFC 3551 table 4 names)."""

    PCMU = "PCMU"
    PCMA = "PCMA"
    G722 = "G722"


class AudioCodec(Protocol):
    """One channel's encoder and decoder for one payload format.

    Stateless codecs (G.711) may be shared; a stateful one (G.722) keeps an encoder state for
    the outgoing direction and a decoder state for the incoming one, so each call leg owns its
    own object and feeds it frames in order.
    """

    @property
    def name(self) -> Encoding:
        """SDP encoding name (`a=rtpmap` text before the slash)."""
        ...

    @property
    def payload_type(self) -> int:
        """Static RTP payload type (RFC 3551 table 4)."""
        ...

    @property
    def clock_rate_hz(self) -> int:
        """RTP timestamp clock (SDP `a=rtpmap` rate); 8000 for G.722 too (RFC 3551 §4.5.2)."""
        ...

    @property
    def sample_rate(self) -> SampleRate:
        """Rate of the linear frames `encode` takes and `decode` returns."""
        ...

    def encode(self, frame: Frame) -> bytes:
        """Encode `frame` (int16, `(samples,)`) into payload octets; raises ValueError on a
        frame the codec cannot take (wrong dtype, shape, or a length it cannot split)."""
        ...

    def decode(self, payload: bytes) -> Frame:
        """Decode payload octets into a new int16 frame of shape `(samples,)`. Every octet
        string is a valid payload, so this never raises for data from the network."""
        ...
