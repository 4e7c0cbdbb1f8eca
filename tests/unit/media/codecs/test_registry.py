"""Codec registry: RFC 3551 table 4 payload types, a=rtpmap names, packet sizes."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.media.codecs import (
    CODECS,
    AudioCodec,
    CodecInfo,
    Encoding,
    G722Codec,
    PcmaCodec,
    PcmuCodec,
    by_payload_type,
    by_rtpmap,
    frames_per_packet,
    new_codec,
)
from firmware.media.frame import SampleRate, silence


def test_static_payload_types_are_rfc_3551_table_4() -> None:
    assert {(c.encoding, c.payload_type, c.clock_rate_hz) for c in CODECS} == {
        (Encoding.PCMU, 0, 8000),
        (Encoding.PCMA, 8, 8000),
        (Encoding.G722, 9, 8000),
    }
    for pt, encoding in ((0, Encoding.PCMU), (8, Encoding.PCMA), (9, Encoding.G722)):
        info = by_payload_type(pt)
        assert info is not None and info.encoding is encoding
    assert by_payload_type(18) is None  # G.729: not transcoded here
    assert by_payload_type(101) is None


def test_rtpmap_names_match_case_insensitively_at_their_clock() -> None:
    assert by_rtpmap("pcmu", 8000) == by_payload_type(0)
    assert by_rtpmap("PCMA", 8000) == by_payload_type(8)
    g722 = by_rtpmap("g722", 8000)
    assert g722 is not None and g722.sample_rate is SampleRate.WIDEBAND
    # RFC 3551 §4.5.2: G722/16000 is a common mistake, not the payload format we carry.
    assert by_rtpmap("G722", 16000) is None
    assert by_rtpmap("PCMU", 8000, channels=2) is None
    assert by_rtpmap("opus", 48000) is None


def test_a_20_ms_packet_is_160_octets_and_160_timestamp_ticks_for_all() -> None:
    for info in CODECS:
        assert info.payload_bytes(20) == 160
        assert info.timestamp_step(20) == 160  # G.722 too: 8000 Hz RTP clock
        assert info.payload_bytes(40) == 320
        assert info.payload_duration_ms(160) == 20.0
    assert [c.frame_samples() for c in CODECS] == [160, 160, 320]


@pytest.mark.parametrize("ptime_ms", [0, -20, 10, 30])
def test_ptime_must_be_whole_frames(ptime_ms: int) -> None:
    with pytest.raises(ValueError, match="ptime"):
        frames_per_packet(ptime_ms)


def test_frames_per_packet() -> None:
    assert [frames_per_packet(p) for p in (20, 40, 60)] == [1, 2, 3]


@pytest.mark.parametrize("info", CODECS, ids=lambda c: str(c.encoding))
def test_new_codec_speaks_the_common_interface(info: CodecInfo) -> None:
    codec: AudioCodec = new_codec(info.encoding)
    assert (codec.name, codec.payload_type, codec.clock_rate_hz, codec.sample_rate) == (
        info.encoding,
        info.payload_type,
        info.clock_rate_hz,
        info.sample_rate,
    )
    payload = codec.encode(silence(codec.sample_rate))
    assert len(payload) == info.payload_bytes(20)
    frame = codec.decode(payload)
    assert frame.shape == (info.frame_samples(),) and frame.dtype == np.int16


def test_new_codec_gives_each_channel_its_own_state() -> None:
    assert new_codec(Encoding.G722) is not new_codec(Encoding.G722)
    assert isinstance(new_codec(Encoding.G722), G722Codec)
    assert isinstance(new_codec(Encoding.PCMU), PcmuCodec)
    assert isinstance(new_codec(Encoding.PCMA), PcmaCodec)
