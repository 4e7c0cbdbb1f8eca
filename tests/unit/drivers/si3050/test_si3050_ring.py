"""Ringing from the emulated exchange, through the chip's ring validation and RDTI, into the
shared RingDetector: cadence measured against what the exchange sent."""

from __future__ import annotations

import dataclasses

import pytest
from si3050_rig import Rig, RigFactory

from drivers.si3050.emulator import LINE_PROFILES
from hal.events import (
    LoopCurrentChanged,
    PolarityReversed,
    RingDetected,
    RingEnded,
    RingStopped,
)
from hal.linesignal import RING_CADENCES, RingCadence, RingValidation
from hal.sim.clock import ManualClock

RU = RING_CADENCES["ru"]


async def test_russian_ringing_is_reported_with_its_cadence(rig: Rig,
                                                           clock: ManualClock) -> None:
    rig.port.set_ring_validation(RingValidation(expected=RU))
    t = clock.now()
    rig.line.ring(bursts=2)
    await clock.advance(5.5)
    assert rig.port.take_events() == [
        RingDetected("fxo1", t, 1, (), None),
        RingEnded("fxo1", t + 1.0, 1, 1000),
        RingDetected("fxo1", t + 5.0, 2, (1000, 4000), True),
    ]
    await clock.advance(8.0)
    assert rig.port.take_events() == [RingEnded("fxo1", t + 6.0, 2, 1000),
                                      RingStopped("fxo1", t + 6.0, 2)]


async def test_a_cadence_unlike_the_expected_one_does_not_match(rig: Rig,
                                                               clock: ManualClock) -> None:
    rig.port.set_ring_validation(RingValidation(expected=RU))
    rig.line.ring(RING_CADENCES["us"], bursts=3)     # 2 s on, 4 s off
    await clock.advance(12.5)
    events = [e for e in rig.port.take_events() if isinstance(e, RingDetected)]
    # The first burst is not judged (a shared ring generator cuts it short); the second is.
    assert events[1].cadence_ms == (2000, 4000) and events[1].cadence_matches is True
    assert events[2].cadence_ms == (2000, 4000, 2000, 4000)
    assert events[2].cadence_matches is False


async def test_the_british_double_ring_keeps_its_200_ms_gap(make_rig: RigFactory,
                                                            clock: ManualClock) -> None:
    uk = RING_CADENCES["uk"]
    r = make_rig(dataclasses.replace(LINE_PROFILES["eu"], cadence=uk), "eu",
                 ring_validation=RingValidation(expected=uk))
    await r.open()
    r.port.take_events()
    r.line.ring(bursts=4)
    await clock.advance(4.0)
    detected = [e for e in r.port.take_events() if isinstance(e, RingDetected)]
    assert [e.ring_number for e in detected] == [1, 2, 3, 4]
    assert detected[-1].cadence_ms == (400, 200, 400, 2000, 400, 200)
    assert detected[-1].cadence_matches is True


@pytest.mark.parametrize("ring_hz", [25.0, 16.0, 50.0])
async def test_ring_frequencies_from_16_to_50_hz_are_rings(
        make_rig: RigFactory, clock: ManualClock, ring_hz: float) -> None:
    r = make_rig(dataclasses.replace(LINE_PROFILES["ru"], ring_hz=ring_hz))
    await r.open()
    r.line.ring(bursts=1)
    await clock.advance(1.0)
    assert [type(e) for e in r.port.take_events()] == [RingDetected]


async def test_a_60_hz_hum_burst_is_not_a_ring(make_rig: RigFactory,
                                              clock: ManualClock) -> None:
    r = make_rig(dataclasses.replace(LINE_PROFILES["ru"], ring_hz=60.0))
    await r.open()
    r.line.ring(bursts=2)
    await clock.advance(8.0)
    assert r.port.take_events() == [] and not r.port.ringing


async def test_a_burst_shorter_than_the_confirmation_time_is_not_a_ring(
        rig: Rig, clock: ManualClock) -> None:
    rig.line.ring(RingCadence((80, 5000)), bursts=1)  # a bell tinkle
    await clock.advance(6.0)
    assert rig.port.take_events() == []


async def test_a_polarity_reversal_alone_is_not_ringing(rig: Rig, clock: ManualClock) -> None:
    t = clock.now()
    rig.line.reverse_polarity()
    await clock.advance(1.0)
    assert rig.port.take_events() == [PolarityReversed("fxo1", t, True)]


async def test_answering_trips_the_ring_and_ends_ring_reporting(rig: Rig,
                                                              clock: ManualClock) -> None:
    rig.line.ring()
    await clock.advance(0.5)
    [detected] = rig.port.take_events()
    assert isinstance(detected, RingDetected)
    await rig.run(rig.port.seize())
    assert rig.line.loop_closed and not rig.line.ringing
    await clock.advance(10.0)
    events = rig.port.take_events()
    assert [type(e) for e in events] == [LoopCurrentChanged]
    assert not rig.port.ringing


async def test_without_an_int_line_the_scan_still_finds_the_rings(make_rig: RigFactory,
                                                                  clock: ManualClock) -> None:
    r = make_rig(interrupt=False)
    await r.open()
    r.port.take_events()
    t = clock.now()
    r.line.ring(bursts=1)
    await clock.advance(2.0)
    detected, ended = r.port.take_events()
    assert isinstance(detected, RingDetected) and isinstance(ended, RingEnded)
    assert t <= detected.at <= t + 0.1                # as exact as the 100 ms scan
    assert 900 <= ended.on_ms <= 1100
