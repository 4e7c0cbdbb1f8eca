"""The pure line-signalling decoders, fed hand-made edge timings: what a phone's hook switch and
a rotary dial really do (10 pps, 60/40 or 66/33 ms, contact bounce, sloppy dials), and ringing
as exchanges send it. The oracle is always what was dialled or rung, never decoder output."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.events import (
    HookFlash,
    OffHook,
    OnHook,
    PulseDigit,
    RingDetected,
    RingEnded,
    RingStopped,
)
from hal.linesignal import (
    RING_CADENCES,
    HookDecoder,
    HookEvent,
    HookTiming,
    PulseNumbering,
    RejectReason,
    RingDetector,
    RingEvent,
    RingValidation,
)

Edges = list[tuple[bool, float]]
T0 = 500.0  # the board clock's time when the handset is lifted


def contact(closed: bool, at: float, bounce_ms: float = 0.0) -> Edges:
    """A hook contact moving to `closed` at `at`, chattering for `bounce_ms`."""
    edges = [(closed, at)]
    if bounce_ms:
        edges += [(not closed, at + bounce_ms * 0.4e-3), (closed, at + bounce_ms * 1e-3)]
    return edges


def pulses(digits: str, start: float, break_ms: float = 60.0, make_ms: float = 40.0,
           interdigit_ms: float = 700.0, bounce_ms: float = 0.0,
           numbering: PulseNumbering = PulseNumbering.STANDARD) -> tuple[Edges, float]:
    """The loop edges of a rotary dial sending `digits` from `start`; returns (edges, end)."""
    edges: Edges = []
    t = start
    for i, digit in enumerate(digits):
        if i:
            t += (interdigit_ms - make_ms) / 1000
        for _ in range(numbering.pulses(digit)):
            edges += contact(False, t, bounce_ms)
            t += break_ms / 1000
            edges += contact(True, t, bounce_ms)
            t += make_ms / 1000
    return edges, t


def decode(edges: Edges, until: float, timing: HookTiming | None = None,
           drive_timers: bool = True) -> tuple[list[HookEvent], HookDecoder]:
    """Run a decoder over `edges` (sorted by time) and then to `until`, like a driver: timers
    handled at their deadlines (or, with drive_timers=False, only when the next edge comes)."""
    decoder = HookDecoder("fxs1", timing)
    events: list[HookEvent] = []

    def run_timers(to: float) -> None:
        while (deadline := decoder.next_deadline()) is not None and deadline <= to:
            decoder.handle_timers(deadline)

    for closed, at in sorted(edges, key=lambda e: e[1]):
        if drive_timers:
            run_timers(at)
        decoder.hook(closed, at)
    run_timers(until)
    while (event := decoder.next_event()) is not None:
        events.append(event)
    return events, decoder


def digits_of(events: list[HookEvent]) -> str:
    return "".join(e.digit for e in events if isinstance(e, PulseDigit))


# --- hook switch -------------------------------------------------------------------------------


def test_lifting_the_handset_is_off_hook_from_its_first_edge() -> None:
    events, _ = decode(contact(True, T0, bounce_ms=3), until=T0 + 1)
    assert events == [OffHook("fxs1", T0)]


def test_hang_up_is_decided_after_the_flash_window_but_dated_when_the_loop_opened() -> None:
    edges = contact(True, T0) + contact(False, T0 + 30.0)
    events, decoder = decode(edges, until=T0 + 30.29)
    assert events == [OffHook("fxs1", T0)] and decoder.off_hook  # could still be a flash
    events, decoder = decode(edges, until=T0 + 30.3)
    assert events == [OffHook("fxs1", T0), OnHook("fxs1", T0 + 30.0)]
    assert not decoder.off_hook


def test_a_100_ms_tap_on_the_hook_is_a_flash_not_a_hang_up() -> None:
    edges = contact(True, T0) + contact(False, T0 + 5.0, 2) + contact(True, T0 + 5.1, 2)
    events, _ = decode(edges, until=T0 + 10)
    assert events == [OffHook("fxs1", T0), HookFlash("fxs1", T0 + 5.0, 100)]


def test_a_350_ms_break_is_a_hang_up_and_the_next_closure_a_new_call() -> None:
    edges = contact(True, T0) + contact(False, T0 + 5.0) + contact(True, T0 + 5.35)
    events, _ = decode(edges, until=T0 + 10)
    assert events == [OffHook("fxs1", T0), OnHook("fxs1", T0 + 5.0), OffHook("fxs1", T0 + 5.35)]


def test_flash_window_is_set_per_port() -> None:
    """A North American port (flash 300–1000 ms) reads a 500 ms break as a flash."""
    us = HookTiming(flash_min_ms=300, flash_max_ms=1000)
    edges = contact(True, T0) + contact(False, T0 + 5.0) + contact(True, T0 + 5.5)
    assert decode(edges, T0 + 10, us)[0][1] == HookFlash("fxs1", T0 + 5.0, 500)
    assert decode(edges, T0 + 10)[0][1] == OnHook("fxs1", T0 + 5.0)


def test_a_flash_still_being_debounced_at_the_hang_up_deadline_stays_a_flash() -> None:
    """The loop closes 295 ms into the break; at 300 ms that edge is 5 ms old, not yet
    debounced. The decoder must wait for it instead of declaring a hang-up."""
    edges = contact(True, T0) + contact(False, T0 + 5.0) + contact(True, T0 + 5.295)
    events, _ = decode(edges, until=T0 + 10)
    assert events == [OffHook("fxs1", T0), HookFlash("fxs1", T0 + 5.0, 295)]


def test_a_closure_shorter_than_the_debounce_on_an_idle_line_is_nothing() -> None:
    edges = contact(True, T0) + contact(False, T0 + 0.004)
    events, decoder = decode(edges, until=T0 + 5)
    assert events == [] and not decoder.off_hook


# --- pulse dialling ----------------------------------------------------------------------------


def test_pulse_dialled_201_at_10_pps_60_40() -> None:
    train, end = pulses("201", T0 + 1.0)
    events, _ = decode(contact(True, T0) + train, until=end + 1)
    assert [type(e) for e in events] == [OffHook, PulseDigit, PulseDigit, PulseDigit]
    assert digits_of(events) == "201"
    assert [e.pulses for e in events if isinstance(e, PulseDigit)] == [2, 10, 1]
    assert events[-1].at == pytest.approx(end - 0.040)  # when the last pulse's break ended


def test_ten_pulses_are_zero() -> None:
    train, end = pulses("0", T0 + 1.0)
    assert len([e for e in train if not e[0]]) == 10
    assert digits_of(decode(contact(True, T0) + train, end + 1)[0]) == "0"


@pytest.mark.parametrize(("break_ms", "make_ms"), [
    (66.0, 34.0),   # North America, 10 pps 66/33
    (61.0, 39.0),   # Bellcore lower break ratio
    (74.0, 37.0),   # a slow dial: 9 pps at 67 % break
    (50.0, 33.0),   # a fast one: 12 pps at 60 %
])
def test_dials_across_national_tolerances(break_ms: float, make_ms: float) -> None:
    train, end = pulses("9054", T0 + 1.0, break_ms, make_ms, interdigit_ms=300)
    assert digits_of(decode(contact(True, T0) + train, end + 1)[0]) == "9054"


def test_contact_bounce_on_every_edge_adds_no_pulses() -> None:
    train, end = pulses("387", T0 + 1.0, bounce_ms=3.0)
    assert digits_of(decode(contact(True, T0, 3) + train, end + 1)[0]) == "387"


def test_a_digit_with_one_overlong_break_is_refused_and_the_next_digit_still_counts() -> None:
    t = T0 + 1.0  # a "3" whose second break lasts 78 ms: beyond 76, short of a flash
    three = [(False, t), (True, t + 0.060), (False, t + 0.100), (True, t + 0.178),
             (False, t + 0.218), (True, t + 0.278)]
    five, end = pulses("5", t + 0.278 + 0.700)
    events, decoder = decode(contact(True, T0) + three + five, end + 1)
    assert digits_of(events) == "5"
    assert decoder.rejected == {RejectReason.BREAK_TOO_LONG: 1}


@pytest.mark.parametrize(("break_ms", "make_ms", "reason"), [
    (30.0, 40.0, RejectReason.BREAK_TOO_SHORT),
    (60.0, 15.0, RejectReason.MAKE_TOO_SHORT),
    (60.0, 120.0, RejectReason.MAKE_TOO_LONG),   # a dial slipping between pulses
])
def test_out_of_tolerance_pulses_are_refused(break_ms: float, make_ms: float,
                                             reason: RejectReason) -> None:
    train, end = pulses("4", T0 + 1.0, break_ms, make_ms)
    events, decoder = decode(contact(True, T0) + train, end + 1)
    assert digits_of(events) == "" and decoder.rejected == {reason: 1}
    assert not any(isinstance(e, OnHook | HookFlash) for e in events)


def test_eleven_pulses_are_no_digit() -> None:
    train, end = pulses("0", T0 + 1.0)
    extra, end = pulses("1", end)  # one more pulse in the same rhythm
    events, decoder = decode(contact(True, T0) + train + extra, end + 1)
    assert digits_of(events) == "" and decoder.rejected == {RejectReason.NO_SUCH_DIGIT: 1}


@pytest.mark.parametrize(("numbering", "digit", "count"), [
    (PulseNumbering.STANDARD, "0", 10),
    (PulseNumbering.SWEDEN, "0", 1),
    (PulseNumbering.SWEDEN, "9", 10),
    (PulseNumbering.NEW_ZEALAND, "1", 9),
    (PulseNumbering.NEW_ZEALAND, "0", 10),
])
def test_national_pulse_numbering(numbering: PulseNumbering, digit: str, count: int) -> None:
    assert numbering.pulses(digit) == count
    train, end = pulses(digit, T0 + 1.0, numbering=numbering)
    events, _ = decode(contact(True, T0) + train, end + 1, HookTiming(numbering=numbering))
    assert digits_of(events) == digit


def test_a_driver_that_only_wakes_on_edges_decodes_the_same() -> None:
    train, end = pulses("42", T0 + 1.0, bounce_ms=2)
    edges = contact(True, T0) + train + contact(False, end + 2) + contact(True, end + 2.1)
    driven, _ = decode(edges, end + 5)
    lazy, _ = decode(edges, end + 5, drive_timers=False)
    assert lazy == driven
    assert [type(e) for e in driven] == [OffHook, PulseDigit, PulseDigit, HookFlash]


@settings(max_examples=60, deadline=None)
@given(digits=st.text("0123456789", min_size=1, max_size=6),
       break_ms=st.floats(45, 72), make_ms=st.floats(25, 55),
       interdigit_ms=st.floats(260, 1200), bounce_ms=st.floats(0, 3))
def test_any_dial_within_tolerance_decodes_exactly(digits: str, break_ms: float,
                                                   make_ms: float, interdigit_ms: float,
                                                   bounce_ms: float) -> None:
    train, end = pulses(digits, T0 + 1.0, break_ms, make_ms, interdigit_ms, bounce_ms)
    events, decoder = decode(contact(True, T0, bounce_ms) + train, end + 1)
    assert digits_of(events) == digits
    assert not decoder.rejected


def test_timing_that_would_confuse_a_pulse_with_a_flash_is_refused() -> None:
    with pytest.raises(ValueError) as info:
        HookTiming(pulse_break_max_ms=90)
    assert "pulse_break_max_ms (90) must be below flash_min_ms (80)" in str(info.value)
    with pytest.raises(ValueError, match=r"pulse_make_max_ms \(250\) must be below "
                                         r"interdigit_min_ms \(200\)"):
        HookTiming(pulse_make_max_ms=250)


# --- ring detection ----------------------------------------------------------------------------


def ring_edges(on_off_ms: tuple[int, ...], start: float, bursts: int) -> Edges:
    edges: Edges = []
    t = start
    for i in range(bursts):
        on_ms, off_ms = on_off_ms[(2 * i) % len(on_off_ms)], on_off_ms[(2 * i + 1) % len(on_off_ms)]
        edges += [(True, t), (False, t + on_ms / 1000)]
        t += (on_ms + off_ms) / 1000
    return edges


def detect(edges: Edges, until: float, validation: RingValidation | None = None
           ) -> tuple[list[RingEvent], RingDetector]:
    detector = RingDetector("fxo1", validation)
    for on, at in edges:
        while (deadline := detector.next_deadline()) is not None and deadline <= at:
            detector.handle_timers(deadline)
        detector.ring_signal(on, at)
    while (deadline := detector.next_deadline()) is not None and deadline <= until:
        detector.handle_timers(deadline)
    events: list[RingEvent] = []
    while (event := detector.next_event()) is not None:
        events.append(event)
    return events, detector


def test_russian_ringing_is_detected_with_its_cadence() -> None:
    ru = RingValidation(expected=RING_CADENCES["ru"])
    events, _ = detect(ring_edges((1000, 4000), T0, bursts=3), T0 + 30, ru)
    assert events == [
        RingDetected("fxo1", T0, 1, (), None),
        RingEnded("fxo1", T0 + 1, 1, 1000),
        RingDetected("fxo1", T0 + 5, 2, (1000, 4000), True),
        RingEnded("fxo1", T0 + 6, 2, 1000),
        RingDetected("fxo1", T0 + 10, 3, (1000, 4000, 1000, 4000), True),
        RingEnded("fxo1", T0 + 11, 3, 1000),
        RingStopped("fxo1", T0 + 11, 3),   # dated at the last burst's end, 6.5 s later
    ]


def test_a_cadence_other_than_the_expected_one_is_flagged() -> None:
    us_on_a_ru_port = RingValidation(expected=RING_CADENCES["ru"])
    events, _ = detect(ring_edges((2000, 4000), T0, bursts=3), T0 + 13, us_on_a_ru_port)
    second, third = [e for e in events if isinstance(e, RingDetected)][1:]
    assert second.cadence_matches is True  # the first burst may be cut: pauses alone agree
    assert third.cadence_ms == (2000, 4000, 2000, 4000) and third.cadence_matches is False


def test_the_british_double_ring_is_one_ringing() -> None:
    uk = RingValidation(expected=RING_CADENCES["uk"])
    events, _ = detect(ring_edges((400, 200, 400, 2000), T0, bursts=4), T0 + 3.5, uk)
    detected = [e for e in events if isinstance(e, RingDetected)]
    assert [e.ring_number for e in detected] == [1, 2, 3, 4]
    assert detected[-1].cadence_ms == (400, 200, 400, 2000, 400, 200)
    assert detected[-1].cadence_matches is True


def test_a_bell_tinkle_is_not_ringing() -> None:
    """A parallel set's pulse dialling makes the ring detector twitch for ~60 ms."""
    events, detector = detect([(True, T0), (False, T0 + 0.06)], T0 + 10)
    assert events == [] and detector.short_bursts == 1
