"""G.711 against the Recommendation's tables, sox and CPython's audioop, on every input.

Three references, none derived from firmware/media/codecs/g711.py:

- G.711 tables 1a (A-law) and 2a (µ-law), rebuilt here from the segment layout the
  Recommendation prints (intervals per segment x interval size): decision values, decoder
  outputs and character signals. The int16 → 14/13-bit convention is ITU-T G.191's: an int16
  `x` stands for the input in [x, x+1), so a negative sample's magnitude interval is found from
  `~x` (one's complement).
- sox 14.4.2. Its decoders agree on all 256 codes. Its encoders first *round* the int16 sample
  to 14 bits (µ-law) / 13 bits (A-law), clipping at the top, and then apply Sun's `g711.c`
  tables; G.711 and G.191 truncate. That moves 510 (µ-law) and 1020 (A-law) of the 65 536
  inputs to the neighbouring code, and there sox's code is never nearer to the input than ours;
  sox's error exceeds half a quantisation step (e.g. A-law -1 → +8, µ-law 2 → 8).
- audioop (Python ≤ 3.12; Sun's code again): A-law identical on every input. µ-law differs on
  508 = 4 x 127 inputs: Sun negates a negative sample after the shift to 14 bits instead of taking
  the one's complement, which moves each of the 127 negative decision levels by one 14-bit
  unit (4 int16 values); there audioop is off by more than half a step, ours is not.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import ModuleType

import hypothesis.extra.numpy as hnp
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings

from firmware.media.codecs import (
    PcmaCodec,
    PcmuCodec,
    alaw_decode,
    alaw_encode,
    ulaw_decode,
    ulaw_encode,
)
from firmware.media.frame import silence

from .conftest import Sox

Int16 = npt.NDArray[np.int16]
UInt8 = npt.NDArray[np.uint8]
Ints = npt.NDArray[np.int64]

ALL_INT16: Int16 = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES: UInt8 = np.arange(256, dtype=np.uint8)


class Law:
    """One companding law rebuilt from its G.711 table, in int16 units."""

    def __init__(
        self,
        segments: list[tuple[int, int]],
        scale: int,
        positive: Callable[[Ints], Ints],
        negative: Callable[[Ints], Ints],
        zero_output_at_edge: bool,
    ) -> None:
        sizes = np.concatenate([np.full(count, size) for count, size in segments])
        assert len(sizes) == 128
        ends = np.cumsum(sizes)
        starts = ends - sizes
        self.decisions = starts[1:] * scale  # 127 decision values
        outputs = (starts + ends) / 2
        if zero_output_at_edge:
            outputs[0] = 0  # µ-law table 2a: the first interval (0..1) decodes to 0
        self.outputs = np.round(outputs * scale).astype(np.int64)
        # The regular step of each interval's segment (µ-law's half-size first interval counts
        # as its segment's step: it decodes to 0, at most one step/2 away).
        steps = sizes.copy()
        steps[0] = sizes[1]
        self.half_step = steps * scale // 2
        self.overload = ends[-1] * scale
        self.positive, self.negative = positive, negative

    def interval(self, x: Int16) -> Ints:
        wide = x.astype(np.int64)
        magnitude = np.where(wide < 0, ~wide, wide)
        return np.searchsorted(self.decisions, magnitude, side="right").astype(np.int64)

    def encode(self, x: Int16) -> UInt8:
        n = self.interval(x)
        return np.where(x >= 0, self.positive(n), self.negative(n)).astype(np.uint8)

    def decode(self, codes: UInt8) -> Ints:
        wide = codes.astype(np.int64)
        positive = np.isin(wide, self.positive(np.arange(128)))
        n = np.where(positive, self._index(self.positive, wide), self._index(self.negative, wide))
        out: Ints = np.where(positive, self.outputs[n], -self.outputs[n])
        return out

    @staticmethod
    def _index(char: Callable[[Ints], Ints], codes: Ints) -> Ints:
        lookup = np.zeros(256, dtype=np.int64)
        lookup[char(np.arange(128))] = np.arange(128)
        return lookup[codes]


# G.711 table 2a: segment 1 is one interval of 1 then 15 of 2, segments 2-8 are 16 intervals of
# 4, 8, ... 256 (14-bit units, 8159 at the top); all bits inverted on the line.
ULAW = Law(
    [(1, 1), (15, 2)] + [(16, 2**k) for k in range(2, 9)],
    scale=4,
    positive=lambda n: 0xFF - n,
    negative=lambda n: 0x7F - n,
    zero_output_at_edge=True,
)
# G.711 table 1a: segments 1 and 2 are 32 intervals of 2, then 16 of 4, 8, ... 128 (13-bit
# units, 4096 at the top); even bits inverted on the line.
ALAW = Law(
    [(32, 2)] + [(16, 2**k) for k in range(2, 8)],
    scale=8,
    positive=lambda n: (0x80 | n) ^ 0x55,
    negative=lambda n: n ^ 0x55,
    zero_output_at_edge=False,
)

LAWS = {
    "ulaw": (ULAW, ulaw_encode, ulaw_decode, "u-law", 14),
    "alaw": (ALAW, alaw_encode, alaw_decode, "a-law", 13),
}

RAW_S16 = ["-t", "raw", "-r", "8000", "-e", "signed-integer", "-b", "16", "-c", "1", "-L"]


def raw_law(encoding: str) -> list[str]:
    return ["-t", "raw", "-r", "8000", "-e", encoding, "-b", "8", "-c", "1"]


@pytest.fixture(scope="session")
def sox_codes(sox: Sox) -> dict[str, tuple[UInt8, Int16]]:
    """sox's encoding of every int16 and decoding of every code, per law."""
    out = {}
    for key, (_, _, _, encoding, _) in LAWS.items():
        encoded = sox.convert(ALL_INT16.astype("<i2").tobytes(), RAW_S16, raw_law(encoding))
        decoded = sox.convert(ALL_CODES.tobytes(), raw_law(encoding), RAW_S16)
        out[key] = (
            np.frombuffer(encoded, np.uint8),
            np.frombuffer(decoded, "<i2").astype(np.int16),
        )
    return out


@pytest.fixture(scope="session")
def audioop() -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module: ModuleType = pytest.importorskip("audioop", reason="gone in Python 3.13")
        return module


def rounded(x: Int16, bits: int) -> Int16:
    """sox's SOX_SAMPLE_TO_SIGNED(bits): round half up to `bits`, clip at the top, back to int16."""
    shift = 16 - bits
    wide: Ints = np.minimum(
        (x.astype(np.int64) + (1 << (shift - 1))) >> shift, (1 << (bits - 1)) - 1
    )
    return (wide << shift).astype(np.int16)


@pytest.mark.parametrize("law", LAWS)
def test_encoder_matches_g711_table_for_every_int16(law: str) -> None:
    table, encode, _, _, _ = LAWS[law]
    assert np.array_equal(encode(ALL_INT16), table.encode(ALL_INT16))


@pytest.mark.parametrize("law", LAWS)
def test_decoder_matches_g711_table_for_every_code(law: str) -> None:
    table, _, decode, _, _ = LAWS[law]
    assert np.array_equal(decode(ALL_CODES).astype(np.int64), table.decode(ALL_CODES))


def test_table_extremes_are_the_recommendations() -> None:
    # G.711 table 2a: ±8031 x 4 at the top, 0 for 0xFF/0x7F; table 1a: ±4032 x 8, ±1 x 8.
    assert ulaw_decode(np.array([0x80, 0x00, 0xFF, 0x7F], np.uint8)).tolist() == [
        32124,
        -32124,
        0,
        0,
    ]
    assert alaw_decode(np.array([0xAA, 0x2A, 0xD5, 0x55], np.uint8)).tolist() == [
        32256,
        -32256,
        8,
        -8,
    ]
    assert ulaw_encode(np.array([0, -1, 32767, -32768], np.int16)).tolist() == [
        0xFF,
        0x7F,
        0x80,
        0x00,
    ]
    assert alaw_encode(np.array([0, -1, 32767, -32768], np.int16)).tolist() == [
        0xD5,
        0x55,
        0xAA,
        0x2A,
    ]


@pytest.mark.parametrize("law", LAWS)
def test_decoder_matches_sox_for_all_256_codes(
    law: str, sox_codes: dict[str, tuple[UInt8, Int16]]
) -> None:
    _, _, decode, _, _ = LAWS[law]
    assert np.array_equal(decode(ALL_CODES), sox_codes[law][1])


@pytest.mark.parametrize("law", LAWS)
def test_encoder_differs_from_sox_by_one_level_only_where_sox_rounding_crosses_a_decision(
    law: str, sox_codes: dict[str, tuple[UInt8, Int16]]
) -> None:
    table, encode, decode, _, _ = LAWS[law]
    ours, theirs = encode(ALL_INT16), sox_codes[law][0]
    differ = ours != theirs
    # sox adds half a 14-bit (µ-law: 2) or 13-bit (A-law: 4) unit before truncating, which moves
    # every decision value by that many int16 inputs: A-law 127 + 127 levels and the sign change
    # at 0 (-4..-1 → +8) = 255 x 4; µ-law 127 positive and 128 negative (Sun's negation) x 2.
    assert np.count_nonzero(differ) == {"ulaw": 2 * (127 + 128), "alaw": 4 * 255}[law]
    levels = np.unique(decode(ALL_CODES))
    ours_rank = np.searchsorted(levels, decode(ours[differ]))
    sox_rank = np.searchsorted(levels, decode(theirs[differ]))
    # One level apart; µ-law -2 and -1 differ only in the sign of zero (sox 0xFF, ours 0x7F).
    assert np.all(np.abs(ours_rank - sox_rank) <= 1)
    x = ALL_INT16[differ].astype(np.int64)
    sox_error = np.abs(decode(theirs[differ]) - x)
    assert np.any(sox_error > table.half_step[table.interval(ALL_INT16[differ])])


def test_alaw_encoder_equals_sox_once_sox_rounding_to_13_bits_is_applied(
    sox_codes: dict[str, tuple[UInt8, Int16]],
) -> None:
    assert np.array_equal(alaw_encode(rounded(ALL_INT16, 13)), sox_codes["alaw"][0])


@pytest.mark.parametrize("law", LAWS)
def test_sox_encoder_is_audioop_after_rounding(
    law: str, sox_codes: dict[str, tuple[UInt8, Int16]], audioop: ModuleType
) -> None:
    _, _, _, _, bits = LAWS[law]
    convert = audioop.lin2ulaw if law == "ulaw" else audioop.lin2alaw
    model = np.frombuffer(convert(rounded(ALL_INT16, bits).astype("<i2").tobytes(), 2), np.uint8)
    assert np.array_equal(model, sox_codes[law][0])


def test_alaw_matches_audioop_on_every_input_and_code(audioop: ModuleType) -> None:
    theirs = np.frombuffer(audioop.lin2alaw(ALL_INT16.astype("<i2").tobytes(), 2), np.uint8)
    assert np.array_equal(alaw_encode(ALL_INT16), theirs)
    decoded = np.frombuffer(audioop.alaw2lin(ALL_CODES.tobytes(), 2), "<i2")
    assert np.array_equal(alaw_decode(ALL_CODES), decoded)


def test_ulaw_differs_from_audioop_only_at_its_shifted_negative_decision_levels(
    audioop: ModuleType,
) -> None:
    theirs = np.frombuffer(audioop.lin2ulaw(ALL_INT16.astype("<i2").tobytes(), 2), np.uint8)
    assert np.array_equal(
        ulaw_decode(ALL_CODES), np.frombuffer(audioop.ulaw2lin(ALL_CODES.tobytes(), 2), "<i2")
    )
    differ = ulaw_encode(ALL_INT16) != theirs
    x = ALL_INT16[differ]
    assert np.count_nonzero(differ) == 4 * 127 and np.all(x < 0)
    audioop_error = np.abs(ulaw_decode(theirs[differ]).astype(np.int64) - x)
    our_error = np.abs(ulaw_decode(ulaw_encode(x)).astype(np.int64) - x)
    assert np.all(audioop_error >= our_error)
    assert np.any(audioop_error > ULAW.half_step[ULAW.interval(x)])


def check_round_trip(law: str, x: Int16) -> None:
    table, encode, decode, _, _ = LAWS[law]
    y = decode(encode(x))
    assert y.shape == x.shape and y.dtype == np.int16
    wide = x.astype(np.int64)
    magnitude = np.where(wide < 0, ~wide, wide)
    overload = magnitude >= table.overload
    error = np.abs(y.astype(np.int64) - wide)
    assert np.all(error[~overload] <= table.half_step[table.interval(x)][~overload])
    top = int(table.outputs[-1])
    assert np.all(np.abs(y[overload]) == top)


@pytest.mark.parametrize("law", LAWS)
def test_round_trip_within_half_a_step_for_every_int16(law: str) -> None:
    check_round_trip(law, ALL_INT16)


@pytest.mark.parametrize("law", LAWS)
@settings(max_examples=100, deadline=None)
@given(x=hnp.arrays(np.int16, hnp.array_shapes(min_dims=1, max_dims=2, max_side=64)))
def test_round_trip_within_half_a_step_property(law: str, x: Int16) -> None:
    check_round_trip(law, x)


@pytest.mark.parametrize("law", LAWS)
def test_many_channels_in_one_call_equal_each_channel_alone(law: str) -> None:
    _, encode, decode, _, _ = LAWS[law]
    rng = np.random.default_rng(7)
    bus = rng.integers(-32768, 32768, size=(32, 160)).astype(np.int16)
    codes = encode(bus)
    assert codes.shape == (32, 160)
    assert all(np.array_equal(codes[ch], encode(bus[ch])) for ch in range(32))
    assert np.array_equal(encode(np.asfortranarray(bus)), codes)
    assert np.array_equal(encode(bus.T), codes.T)  # a transposed view, not contiguous
    assert np.array_equal(decode(codes), np.stack([decode(codes[ch]) for ch in range(32)]))


def test_codec_objects_carry_rtp_bytes() -> None:
    frame = np.arange(-80, 80, dtype=np.int16) * 200
    for codec, encode in ((PcmuCodec(), ulaw_encode), (PcmaCodec(), alaw_encode)):
        payload = codec.encode(frame)
        assert payload == encode(frame).tobytes() and len(payload) == 160
        assert np.array_equal(codec.decode(payload), codec.decode(bytes(payload)))
        assert codec.decode(payload).shape == (160,)
    assert PcmuCodec().encode(silence()) == b"\xff" * 160
    assert PcmaCodec().encode(silence()) == b"\xd5" * 160


def test_encode_refuses_anything_but_int16() -> None:
    with pytest.raises(ValueError, match="int16"):
        ulaw_encode(np.zeros(160, np.float32))
    with pytest.raises(ValueError, match="int16"):
        alaw_encode(np.zeros(160, np.int32))
    with pytest.raises(ValueError, match="uint8"):
        ulaw_decode(np.zeros(160, np.int16))
