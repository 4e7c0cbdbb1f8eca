"""Codecs: G.711 and G.722 between RTP payloads and linear frames.

`codec` defines the interface every codec offers (`AudioCodec`) and the encoding names;
`g711` companding by table for any number of channels at once; `g722` wideband through libg722;
`registry` maps RTP payload types and `a=rtpmap` names to codecs and sizes their packets.
"""

from firmware.media.codecs.codec import AudioCodec, Encoding
from firmware.media.codecs.g711 import (
    PcmaCodec,
    PcmuCodec,
    alaw_decode,
    alaw_encode,
    ulaw_decode,
    ulaw_encode,
)
from firmware.media.codecs.g722 import G722Codec
from firmware.media.codecs.registry import (
    CODECS,
    CodecInfo,
    by_payload_type,
    by_rtpmap,
    frames_per_packet,
    new_codec,
)

__all__ = [
    "CODECS",
    "AudioCodec",
    "CodecInfo",
    "Encoding",
    "G722Codec",
    "PcmaCodec",
    "PcmuCodec",
    "alaw_decode",
    "alaw_encode",
    "by_payload_type",
    "by_rtpmap",
    "frames_per_packet",
    "new_codec",
    "ulaw_decode",
    "ulaw_encode",
]
