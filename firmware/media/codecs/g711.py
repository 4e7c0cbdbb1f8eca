"""G.711 µ-law (PCMU) and A-law (PCMA) by lookup table, any number of channels at once.

ITU-T G.711 (11/88) tables 1a (A-law) and 2a (µ-law), as implemented by the ITU-T's own
reference software (G.191 Software Tool Library, `g711.c`: `ulaw_compress`, `ulaw_expand`,
`alaw_compress`, `alaw_expand`). Input is 16-bit linear PCM; µ-law keeps its 14 most
significant bits and A-law its 13. As in the reference, a negative sample is coded from its
one's complement (`~x`), so the decision levels of the negative half mirror the positive ones
about -0.5.

The four tables are built once at import from that algorithm (vectorised over every input):
65 536 entries for each encoder, indexed by the sample's bit pattern, and 256 for each decoder.
Encode and decode are then one `numpy.take` over a frame of any shape — one channel
`(samples,)` or the whole analog PCM bus `(channels, samples)` in one call.

Numbers met (tests/unit/media/codecs/test_g711.py, every one of the 65 536 inputs and 256
codes): equal to tables 1a/2a rebuilt from the Recommendation's segment layout; decoders equal to
sox's and audioop's. Two independent encoders differ, and the tests pin down why: sox rounds the
sample to 14 bits (µ-law) / 13 bits (A-law) before coding where G.711 truncates, moving 510 /
1020 inputs one level; audioop (Sun's `g711.c`) negates instead of taking the one's complement,
moving 508 negative µ-law inputs one level away (its A-law is identical to ours). Both then
exceed half a quantisation step; ours never does: decode(encode(x)) is within half a step of x
for every x below µ-law's overload point (|x| ≥ 32 636 gives ±32 124; A-law has none in int16).
Cost (bench/codecs_bench.py, x86_64): ≈2.7 µs per 160-sample frame, ≈7 µs for 32 channels.
Levels: a full-scale int16 sine is +3.17 dBm0 (G.711 convention), so 0 dBm0 peaks at ≈22 776.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from firmware.media.codecs.codec import Encoding
from firmware.media.frame import Frame, SampleRate

Codes = npt.NDArray[np.uint8]
"""Companded octets, one per sample, same shape as the frame they code."""

ULAW_BIAS = 33
"""G.191 `ulaw_compress`: bias added to the 14-bit magnitude before segmenting (0x84 / 4)."""
ULAW_MAX_14BIT = 0x1FFF
"""Largest biased 14-bit µ-law magnitude; above it the encoder clips (overload)."""
ULAW_OVERLOAD = 32636
"""Top of µ-law's last interval in int16 units (G.711 table 2a: 8159 x 4); larger magnitudes
are clipped to ±ULAW_MAX_DECODED."""
ULAW_MAX_DECODED = 32124
"""Largest µ-law decoder output (G.711 table 2a y_127 = 8031 in 14-bit units, times 4)."""
ALAW_MAX_DECODED = 32256
"""Largest A-law decoder output (G.711 table 1a y_127 = 4032 in 13-bit units, times 8)."""


def _bit_length(values: npt.NDArray[np.int32], max_bits: int) -> npt.NDArray[np.int32]:
    """Vectorised `int.bit_length` for 0 <= values < 2**max_bits."""
    out = np.zeros_like(values)
    for bit in range(max_bits):
        out += values >= (1 << bit)
    return out


def _all_int16() -> npt.NDArray[np.int32]:
    """Every int16 value, at the index of its own bit pattern (so index = uint16 view)."""
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)


def _build_ulaw_encoder() -> Codes:
    x = _all_int16()
    magnitude = np.where(x < 0, ~x, x) >> 2  # 14-bit, one's complement for negatives
    biased = np.minimum(magnitude + ULAW_BIAS, ULAW_MAX_14BIT)
    segment = 1 + _bit_length(biased >> 6, 7)  # 1..8
    high = 8 - segment
    low = 0xF - ((biased >> segment) & 0xF)
    code = (high << 4) | low
    signed: npt.NDArray[np.int32] = np.where(x >= 0, code | 0x80, code)
    return signed.astype(np.uint8)


def _build_ulaw_decoder() -> Frame:
    code = np.arange(256, dtype=np.int32)
    inverted = ~code & 0xFF
    exponent = (inverted >> 4) & 0x7
    mantissa = inverted & 0xF
    step = 4 << (exponent + 1)
    magnitude = (0x80 << exponent) + step * mantissa + step // 2 - 4 * ULAW_BIAS
    return np.where(code < 0x80, -magnitude, magnitude).astype(np.int16)


def _build_alaw_encoder() -> Codes:
    x = _all_int16()
    magnitude = np.where(x < 0, ~x, x) >> 4  # 13-bit A-law magnitude / 2: its finest step
    exponent = np.maximum(_bit_length(magnitude, 11) - 4, 0)  # 0 for 0..15, 1..7 above
    mantissa = np.where(exponent == 0, magnitude, (magnitude >> np.maximum(exponent - 1, 0)) - 16)
    code = (exponent << 4) + mantissa
    code = np.where(x >= 0, code | 0x80, code)
    return (code ^ 0x55).astype(np.uint8)  # G.711 table 1a: even bits inverted on the line


def _build_alaw_decoder() -> Frame:
    code = np.arange(256, dtype=np.int32)
    plain = (code ^ 0x55) & 0x7F
    exponent = plain >> 4
    mantissa = plain & 0xF
    mantissa = np.where(exponent > 0, mantissa + 16, mantissa)
    magnitude = ((mantissa << 4) + 8) << np.maximum(exponent - 1, 0)
    signed: npt.NDArray[np.int32] = np.where(code > 0x7F, magnitude, -magnitude)
    return signed.astype(np.int16)


_ULAW_ENCODE = _build_ulaw_encoder()
_ULAW_DECODE = _build_ulaw_decoder()
_ALAW_ENCODE = _build_alaw_encoder()
_ALAW_DECODE = _build_alaw_decoder()
for _table in (_ULAW_ENCODE, _ULAW_DECODE, _ALAW_ENCODE, _ALAW_DECODE):
    _table.flags.writeable = False


def _check_linear(frame: Frame) -> None:
    if frame.dtype != np.int16:
        raise ValueError(f"G.711 encodes int16 linear PCM, got {frame.dtype}")


def _check_codes(codes: Codes) -> None:
    if codes.dtype != np.uint8:
        raise ValueError(f"G.711 decodes uint8 octets, got {codes.dtype}")


def ulaw_encode(frame: Frame) -> Codes:
    """µ-law octets for `frame` (int16, any shape), same shape. Raises ValueError on dtype."""
    _check_linear(frame)
    return np.take(_ULAW_ENCODE, frame.view(np.uint16))


def ulaw_decode(codes: Codes) -> Frame:
    """Linear int16 for µ-law `codes` (uint8, any shape), same shape."""
    _check_codes(codes)
    return np.take(_ULAW_DECODE, codes)


def alaw_encode(frame: Frame) -> Codes:
    """A-law octets for `frame` (int16, any shape), same shape. Raises ValueError on dtype."""
    _check_linear(frame)
    return np.take(_ALAW_ENCODE, frame.view(np.uint16))


def alaw_decode(codes: Codes) -> Frame:
    """Linear int16 for A-law `codes` (uint8, any shape), same shape."""
    _check_codes(codes)
    return np.take(_ALAW_DECODE, codes)


class _G711Codec:
    """G.711 as an RTP payload (RFC 3551 §4.5.14). Stateless: one object may serve every
    channel. `encode` of a `(channels, samples)` frame gives channel-major octets."""

    __slots__ = ()
    _NAME: Encoding
    _PAYLOAD_TYPE: int
    _ENCODE: Codes
    _DECODE: Frame

    @property
    def name(self) -> Encoding:
        return self._NAME

    @property
    def payload_type(self) -> int:
        return self._PAYLOAD_TYPE

    @property
    def clock_rate_hz(self) -> int:
        return 8000

    @property
    def sample_rate(self) -> SampleRate:
        return SampleRate.NARROWBAND

    def encode(self, frame: Frame) -> bytes:
        _check_linear(frame)
        return np.take(self._ENCODE, frame.view(np.uint16)).tobytes()

    def decode(self, payload: bytes) -> Frame:
        return np.take(self._DECODE, np.frombuffer(payload, dtype=np.uint8))


class PcmuCodec(_G711Codec):
    """G.711 µ-law, RTP payload type 0."""

    __slots__ = ()
    _NAME = Encoding.PCMU
    _PAYLOAD_TYPE = 0
    _ENCODE = _ULAW_ENCODE
    _DECODE = _ULAW_DECODE


class PcmaCodec(_G711Codec):
    """G.711 A-law, RTP payload type 8."""

    __slots__ = ()
    _NAME = Encoding.PCMA
    _PAYLOAD_TYPE = 8
    _ENCODE = _ALAW_ENCODE
    _DECODE = _ALAW_DECODE
