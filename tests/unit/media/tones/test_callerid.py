"""Caller-ID messages (golden bytes, round trips, rejects), FXS transmission plans, FXO decoding."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from firmware.media.dsp.callerid import (
    Absence,
    CallerId,
    CallerIdDecoder,
    CallerIdError,
    CallerIdReceived,
    CallTime,
    CidSignalling,
    CidTiming,
    MessageWaiting,
    StepKind,
    caller_id_plan,
    checksum,
    decode_dtmf_clip,
    decode_message,
    dtmf_clip_digits,
    encode_mdmf,
    encode_params,
    encode_sdmf,
    encode_vmwi,
    fsk_audio,
    parse_frame,
    plan_audio,
    vmwi_plan,
)
from firmware.media.dsp.fsk import FskStandard
from firmware.media.dsp.tones import PLANS, Country

from .conftest import add_noise, frames_of

# Worked examples published by microEngineering Labs ("Caller ID", melabs.com/resources/
# callerid.htm), the reference minimodem's decoder cites. Bytes copied from the page.
MELABS_SDMF = bytes.fromhex("04 12 30 39 33 30 31 32 32 34 36 30 39 35 35 35 31 32 31 32 51")
"""Sep 30, 12:24, (609) 555-1212. Checksum 0x51 is right: the 21 bytes sum to 0x400."""
MELABS_SDMF_BLOCKED_AS_PRINTED = bytes.fromhex("04 09 30 39 33 30 31 32 32 34 50 12")
MELABS_MDMF_AS_PRINTED = bytes.fromhex(
    "80 20 01 08 30 33 32 34 30 39 30 32 07 08 4A 4F 48 4E 20 44 4F 45"
    " 02 0A 38 30 30 35 35 35 31 32 31 32 7D"
)
"""Mar 24, 09:02, "JOHN DOE", 800 555-1212 — but the printed checksum 0x7D is wrong."""
# Checksums worked by hand (not by the encoder): the MDMF bytes before the checksum add up to
# 0x067C, so the checksum is 0x100 − 0x7C = 0x84; the blocked SDMF bytes add up to 0x01F2,
# checksum 0x100 − 0xF2 = 0x0E.
MELABS_MDMF = MELABS_MDMF_AS_PRINTED[:-1] + b"\x84"
MELABS_SDMF_BLOCKED = MELABS_SDMF_BLOCKED_AS_PRINTED[:-1] + b"\x0e"

JOHN = CallerId(number="5551234567", name="JOHN DOE", time=CallTime(3, 24, 9, 2))


def test_hand_worked_checksums_agree_with_the_sums() -> None:
    assert sum(MELABS_MDMF_AS_PRINTED[:-1]) == 0x067C
    assert sum(MELABS_SDMF_BLOCKED_AS_PRINTED[:-1]) == 0x01F2
    assert sum(MELABS_SDMF) % 256 == 0


def test_golden_sdmf_decodes_and_encodes() -> None:
    want = CallerId(number="6095551212", time=CallTime(9, 30, 12, 24))
    assert decode_message(MELABS_SDMF) == want
    assert encode_sdmf(want) == MELABS_SDMF


def test_golden_mdmf_decodes_and_encodes_in_its_parameter_order() -> None:
    want = CallerId(number="8005551212", name="JOHN DOE", time=CallTime(3, 24, 9, 2))
    assert decode_message(MELABS_MDMF) == want
    params = [(0x01, b"03240902"), (0x07, b"JOHN DOE"), (0x02, b"8005551212")]
    assert encode_params(0x80, params) == MELABS_MDMF


def test_golden_blocked_sdmf_decodes_as_private() -> None:
    want = CallerId(time=CallTime(9, 30, 12, 24), number_absent=Absence.PRIVATE)
    assert decode_message(MELABS_SDMF_BLOCKED) == want
    assert encode_sdmf(want) == MELABS_SDMF_BLOCKED


@pytest.mark.parametrize("printed", [MELABS_MDMF_AS_PRINTED, MELABS_SDMF_BLOCKED_AS_PRINTED])
def test_published_frames_with_wrong_checksum_are_rejected(printed: bytes) -> None:
    with pytest.raises(CallerIdError, match="checksum mismatch"):
        decode_message(printed)


def test_any_single_bit_flip_is_rejected() -> None:
    frame = encode_mdmf(JOHN)
    for i in range(len(frame) * 8):
        corrupt = bytearray(frame)
        corrupt[i // 8] ^= 1 << (i % 8)
        with pytest.raises(CallerIdError):
            decode_message(bytes(corrupt))


def test_truncated_frame_and_overrunning_parameter_are_rejected() -> None:
    frame = encode_mdmf(JOHN)
    with pytest.raises(CallerIdError, match="truncated"):
        decode_message(frame[:-1])
    bad = bytearray(frame[:-1])
    bad[3] = 0x40  # date/time parameter claims 64 bytes
    bad.append(checksum(bytes(bad)))
    with pytest.raises(CallerIdError, match="runs past"):
        decode_message(bytes(bad))


@pytest.mark.parametrize(
    "cid",
    [
        JOHN,
        CallerId(number="+74951234567", name="Müller"),  # 8-bit (Latin-1) names pass through
        CallerId(
            time=CallTime(12, 31, 23, 59),
            number_absent=Absence.PRIVATE,
            name_absent=Absence.PRIVATE,
        ),
        CallerId(time=CallTime(1, 1, 0, 0), number_absent=Absence.UNAVAILABLE, name="ALICE"),
    ],
)
def test_mdmf_round_trip(cid: CallerId) -> None:
    frame = encode_mdmf(cid)
    assert frame[0] == 0x80 and frame[1] == len(frame) - 3 and sum(frame) % 256 == 0
    assert decode_message(frame) == cid


def test_sdmf_round_trip_and_needs_time() -> None:
    cid = CallerId(number="5551234567", time=CallTime(7, 4, 18, 5))
    assert decode_message(encode_sdmf(cid)) == cid
    with pytest.raises(CallerIdError):
        encode_sdmf(CallerId(number="5551234567"))


def test_parse_frame_reports_consumed_length() -> None:
    raw, used = parse_frame(MELABS_SDMF + b"\x55\x55")
    assert used == len(MELABS_SDMF) and raw.type == 0x04 and raw.body == MELABS_SDMF[2:-1]


@pytest.mark.parametrize("active", [True, False])
def test_vmwi_messages(active: bool) -> None:
    # GR-30 SDMF: 06 03 42 42 42 / 06 03 6F 6F 6F; ETSI/MDMF: 82 03 0B 01 FF|00 (+ checksum).
    sdmf = encode_vmwi(MessageWaiting(active), mdmf=False)
    assert sdmf[:5] == (b"\x06\x03BBB" if active else b"\x06\x03ooo")
    mdmf = encode_vmwi(MessageWaiting(active))
    assert mdmf[:5] == (b"\x82\x03\x0b\x01\xff" if active else b"\x82\x03\x0b\x01\x00")
    for frame in (sdmf, mdmf):
        assert decode_message(frame) == MessageWaiting(active)
    counted = encode_vmwi(MessageWaiting(True, count=3))
    assert decode_message(counted) == MessageWaiting(True, count=3)


def test_dtmf_clip_digits() -> None:
    assert dtmf_clip_digits(CallerId(number="4951234567")) == "A4951234567C"
    assert dtmf_clip_digits(CallerId(number_absent=Absence.PRIVATE)) == "B10C"
    assert decode_dtmf_clip("A4951234567C") == CallerId(number="4951234567")
    assert decode_dtmf_clip("D12345#") == CallerId(number="12345")
    assert decode_dtmf_clip("B00C") == CallerId(number_absent=Absence.UNAVAILABLE)
    with pytest.raises(CallerIdError):
        decode_dtmf_clip("A12B4C")


# --- Transmission plans --------------------------------------------------------------------


def test_bell_plan_after_first_ring_fits_the_first_pause() -> None:
    ring = PLANS[Country.US].ring_normal  # 2 s on, 4 s off
    steps = caller_id_plan(JOHN, CidSignalling.BELL_202, CidTiming.AFTER_FIRST_RING, ring)
    kinds = [s.kind for s in steps]
    assert kinds == [StepKind.RING, StepKind.WAIT, StepKind.FSK, StepKind.WAIT]
    assert steps[0].duration_ms == 2000 and steps[0].cadence_ms == (2000,)
    assert steps[1].duration_ms >= 500  # GR-30: data starts ≥ 500 ms after the ring
    assert steps[3].duration_ms >= 200  # …and ends ≥ 200 ms before the next ring
    assert sum(s.duration_ms for s in steps[1:]) == 4000  # the cadence's pause is kept
    # 300 seizure + 180 mark + 10 bits per byte + 10 trailer bits at 1200 baud.
    bits = 300 + 180 + 10 * len(encode_mdmf(JOHN)) + 10
    assert steps[2].duration_ms == round(bits / 1.2)


def test_etsi_dt_as_plan_reverses_then_alerts_then_sends() -> None:
    ring = PLANS[Country.EU].ring_normal
    steps = caller_id_plan(JOHN, CidSignalling.V23, CidTiming.BEFORE_RING_DT_AS, ring)
    assert [s.kind for s in steps] == [
        StepKind.POLARITY_REVERSAL,
        StepKind.WAIT,
        StepKind.TONE,
        StepKind.WAIT,
        StepKind.FSK,
        StepKind.WAIT,
    ]
    assert steps[1].duration_ms >= 100  # EN 300 659-1: ≥ 100 ms from reversal to DT-AS
    alert = steps[2].audio
    assert alert is not None and steps[2].duration_ms == 100 and alert.size == 800
    spec = np.abs(np.fft.rfft(alert))
    top = sorted(np.fft.rfftfreq(alert.size, 1 / 8000)[np.argsort(spec)[-2:]])
    assert top == pytest.approx([2130, 2750], abs=10)
    assert 45 <= steps[3].duration_ms <= 75
    assert steps[5].duration_ms >= 200


def test_uk_after_first_ring_uses_the_double_ring_group() -> None:
    ring = PLANS[Country.UK].ring_normal
    steps = caller_id_plan(JOHN, CidSignalling.V23, CidTiming.AFTER_FIRST_RING, ring)
    assert steps[0].cadence_ms == (400, 200, 400)
    # 2 s pause is too short for 0.6 s + data + 0.2 s: the pause is stretched, never cut.
    assert steps[3].duration_ms >= 200


def test_vmwi_plans() -> None:
    etsi = vmwi_plan(MessageWaiting(True), CidSignalling.V23)
    assert (
        etsi[0].kind is StepKind.POLARITY_REVERSAL and etsi[-1].kind is StepKind.POLARITY_REVERSAL
    )
    assert StepKind.RING not in {s.kind for s in etsi}
    bell = vmwi_plan(MessageWaiting(False), CidSignalling.BELL_202, mdmf=False)
    assert bell[0].kind is StepKind.FSK
    with pytest.raises(CallerIdError):
        vmwi_plan(MessageWaiting(True), CidSignalling.DTMF)


# --- FXO decoding ----------------------------------------------------------------------------


def decode(samples: npt.NDArray[np.int16], dtmf: bool = True) -> tuple[list[CallerIdReceived], int]:
    dec = CallerIdDecoder(dtmf=dtmf)
    out = [r for f in frames_of(samples) for r in dec.process(f)]
    return out, dec.rejected


PLANS_UNDER_TEST = [
    (CidSignalling.BELL_202, CidTiming.AFTER_FIRST_RING, Country.US),
    (CidSignalling.V23, CidTiming.BEFORE_RING_DT_AS, Country.UK),
    (CidSignalling.V23, CidTiming.BEFORE_RING_RP_AS, Country.DE),
    (CidSignalling.V23, CidTiming.AFTER_FIRST_RING, Country.EU),
    (CidSignalling.DTMF, CidTiming.BEFORE_RING_REVERSAL, Country.RU),
]


@pytest.mark.parametrize(("signalling", "timing", "country"), PLANS_UNDER_TEST)
def test_decoder_reads_what_the_plan_sends(
    signalling: CidSignalling, timing: CidTiming, country: Country
) -> None:
    cid = JOHN if signalling is not CidSignalling.DTMF else CallerId(number="4951234567")
    steps = caller_id_plan(cid, signalling, timing, PLANS[country].ring_normal)
    got, rejected = decode(add_noise(plan_audio(steps), 20.0))
    assert [(r.message, r.signalling) for r in got] == [(cid, signalling)]
    assert rejected == 0


def test_decoder_reads_sdmf_and_vmwi_bursts_in_sequence() -> None:
    first = fsk_audio(
        encode_sdmf(CallerId(number="6095551212", time=CallTime(9, 30, 12, 24))),
        FskStandard.BELL_202,
    )
    second = fsk_audio(encode_vmwi(MessageWaiting(True), mdmf=False), FskStandard.BELL_202)
    gap = np.zeros(4000, dtype=np.int16)
    got, _ = decode(np.concatenate([gap, first, gap, second, gap]), dtmf=False)
    assert [r.message for r in got] == [
        CallerId(number="6095551212", time=CallTime(9, 30, 12, 24)),
        MessageWaiting(True),
    ]


def test_decoder_rejects_a_burst_with_a_bad_checksum() -> None:
    frame = bytearray(encode_mdmf(JOHN))
    frame[10] ^= 0x04  # one digit of the date changes, checksum no longer matches
    audio = np.concatenate([fsk_audio(bytes(frame), FskStandard.V23), np.zeros(800, np.int16)])
    got, rejected = decode(audio, dtmf=False)
    assert got == [] and rejected == 1


def test_decoder_recovers_after_a_noise_byte_that_looks_like_a_type() -> None:
    # A stray 0x80 before the real frame must not swallow it.
    audio = fsk_audio(b"\x80\x20" + encode_mdmf(JOHN), FskStandard.BELL_202)
    got, _ = decode(np.concatenate([audio, np.zeros(800, np.int16)]), dtmf=False)
    assert [r.message for r in got] == [JOHN]


def test_decoder_is_silent_on_speech(speech: dict[str, npt.NDArray[np.int16]]) -> None:
    for voice, samples in speech.items():
        got, _ = decode(samples)
        assert got == [], voice


def test_golden_sdmf_as_audio_decodes() -> None:
    audio = fsk_audio(MELABS_SDMF, FskStandard.BELL_202)
    got, _ = decode(np.concatenate([audio, np.zeros(800, np.int16)]), dtmf=False)
    assert [r.message for r in got] == [CallerId(number="6095551212", time=CallTime(9, 30, 12, 24))]
