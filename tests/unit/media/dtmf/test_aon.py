"""Russian AON: the frame codec by hand-written sequences, the full tone path, the requester."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.media.aon import (
    AonCallerId,
    AonCategory,
    AonError,
    AonFailed,
    AonReceived,
    AonRequester,
    PlayRequestTone,
    decode_packet,
    encode_packet,
)
from firmware.media.dsp.mf import MfDetected, MfReceiver, mf_sequence, request_tone

from .conftest import add_noise

S, R = "KP", "ST2P"  # «Начало», «Повтор»


def test_frame_is_start_category_then_number_last_digit_first() -> None:
    # 495 1234567, category 1: start, 1, then 7 6 5 4 3 2 1; twice, then a closing start.
    frame = [S, "1", "7", "6", "5", "4", "3", "2", "1"]
    assert encode_packet(1, "1234567") == frame + frame + [S]


def test_equal_neighbours_become_repeat_and_three_go_digit_repeat_digit() -> None:
    # 2334440 reversed is 0 4 4 4 3 3 2; category 10 goes as 0, equal to the next digit.
    assert encode_packet(AonCategory.GOVERNMENT, "2334440", repetitions=1) == [
        S,
        "0",
        R,
        "4",
        R,
        "4",
        "3",
        R,
        "2",
        S,
    ]


def test_decode_reverses_the_encoding() -> None:
    caller = decode_packet([S, "0", R, "4", R, "4", "3", R, "2", S])
    assert caller == AonCallerId(AonCategory.GOVERNMENT, "2334440", 1)


def test_reception_may_start_inside_the_packet() -> None:
    packet = encode_packet(AonCategory.HOTEL, "9876543", repetitions=3)
    assert decode_packet(packet[4:]) == AonCallerId(AonCategory.HOTEL, "9876543", 2)


def test_an_unclosed_frame_is_not_enough() -> None:
    with pytest.raises(AonError, match="no complete frame"):
        decode_packet(encode_packet(1, "1234567", repetitions=1)[:-1])


def test_a_corrupted_frame_is_outvoted_and_a_tie_is_refused() -> None:
    good = encode_packet(3, "5550123", repetitions=3)
    bad = list(good)
    bad[4] = "8"  # one signal of the first frame misread
    assert decode_packet(bad) == AonCallerId(AonCategory.LOCAL_ONLY, "5550123", 2)
    with pytest.raises(AonError, match="disagree"):
        decode_packet(bad[: 2 * 9 + 1])  # one good frame against one bad


def test_a_frame_of_the_wrong_length_is_ignored() -> None:
    with pytest.raises(AonError):
        decode_packet([S, "1", "2", "3", S, R, "1", S])


@pytest.mark.parametrize(
    ("category", "number"), [(0, "1234567"), (11, "1234567"), (1, "123456"), (1, "12345a7")]
)
def test_encoder_refuses_what_the_frame_cannot_carry(category: int, number: str) -> None:
    with pytest.raises(AonError):
        encode_packet(category, number)


def test_full_path_tones_over_the_request_with_noise_decode_to_the_caller() -> None:
    rng = np.random.default_rng(5)
    packet = encode_packet(AonCategory.LOCAL_PAYPHONE, "4447700")
    mf = mf_sequence(packet, signal_ms=40, level_dbm0=-10.0)
    line = np.concatenate((request_tone(300, level_dbm0=-8.0), np.zeros(len(mf), np.int16)))
    line[2400 - 800 : 2400 - 800 + len(mf)] += mf  # the exchange answers over the request
    line = add_noise(line, 20.0, rng, ref=mf)
    receiver = MfReceiver()
    symbols = []
    for i in range(0, len(line), 160):
        symbols += [
            str(e.signal) for e in receiver.process(line[i : i + 160]) if isinstance(e, MfDetected)
        ]
    assert symbols == packet
    assert decode_packet(symbols) == AonCallerId(AonCategory.LOCAL_PAYPHONE, "4447700", 2)


def test_requester_asks_after_the_delay_and_answers_on_two_agreeing_frames() -> None:
    req = AonRequester(now=10.0)
    assert req.next_deadline() == pytest.approx(10.25)
    req.handle_timers(10.1)
    assert req.next_event() is None
    req.handle_timers(10.25)
    assert req.next_event() == PlayRequestTone(100)
    assert req.next_deadline() == pytest.approx(10.25 + 1.2)
    t = 10.4
    for sig in encode_packet(1, "7654321"):
        req.signal_received(sig, t)
        t += 0.04
    event = req.next_event()
    assert isinstance(event, AonReceived)
    assert event.caller == AonCallerId(AonCategory.ORDINARY, "7654321", 2)
    assert event.at == pytest.approx(10.4 + 18 * 0.04)
    assert req.done and req.next_deadline() is None


def test_requester_takes_a_single_frame_when_time_runs_out() -> None:
    req = AonRequester(now=0.0)
    req.handle_timers(0.25)
    assert isinstance(req.next_event(), PlayRequestTone)
    for sig in encode_packet(2, "1112223", repetitions=1):
        req.signal_received(sig, 0.5)
    assert req.next_event() is None  # one frame: wait for a second
    req.handle_timers(1.45)
    event = req.next_event()
    assert isinstance(event, AonReceived) and event.caller.number == "1112223"


def test_requester_reports_failure_when_nothing_usable_arrives() -> None:
    req = AonRequester(now=0.0)
    req.handle_timers(0.25)
    req.next_event()
    req.signal_received("KP", 0.5)
    req.signal_received("3", 0.54)
    req.handle_timers(1.45)
    assert req.next_event() == AonFailed("no complete frame", 1.45)
    req.signal_received("KP", 1.5)
    assert req.next_event() is None


def test_requester_ignores_signals_before_it_asked() -> None:
    req = AonRequester(now=0.0)
    for sig in encode_packet(1, "1234567", repetitions=3):
        req.signal_received(sig, 0.1)
    req.handle_timers(1.45)
    req.next_event()
    assert isinstance(req.next_event(), AonFailed)
