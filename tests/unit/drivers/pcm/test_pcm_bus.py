"""AlsaPcmBus against a fake ALSA stream: interleaving checked against a hand-packed
S16_LE reference (struct, not numpy), the channel map, period sizing, xruns both ways, a
stalled PCM clock, and a device that is missing at start-up."""

from __future__ import annotations

import asyncio
import struct

import numpy as np
import pytest
from pcm_fakes import EPIPE, FakeAlsa

from drivers.pcm.alsa import Direction, PcmError, PcmParams, check_params, open_alsaaudio
from drivers.pcm.bus import AlsaPcmBus
from hal.audio import AudioPort
from hal.errors import DeviceNotResponding
from hal.sim.clock import ManualClock

SLOTS = 8


def _ports() -> list[AudioPort]:
    return [AudioPort("fxs1", 0), AudioPort("fxs2", 1), AudioPort("fxo1", 4)]


def _pattern(slots: int, offset: int = 0) -> np.ndarray:
    """Sample n of slot s is offset + 1000·s + n (negative for odd slots: sign survives)."""
    n = np.arange(160)
    rows = [(offset + 1000 * s + n) * (-1 if s % 2 else 1) for s in range(slots)]
    return np.array(rows, dtype=np.int16)


def _packed(frames: np.ndarray, channel_of_slot: list[int], channels: int) -> bytes:
    """Reference interleaving, sample by sample with struct: frame n = channels 0…c-1."""
    slot_of_channel = {c: s for s, c in enumerate(channel_of_slot)}
    out = bytearray()
    for n in range(frames.shape[1]):
        for c in range(channels):
            s = slot_of_channel.get(c)
            out += struct.pack("<h", int(frames[s, n]) if s is not None else 0)
    return bytes(out)


async def _bus(alsa: FakeAlsa, clock: ManualClock, **kwargs: object) -> AlsaPcmBus:
    bus = AlsaPcmBus("pcm1", "hw:CARD=switchboxpcm,DEV=0", SLOTS, _ports(), clock, alsa,
                     **kwargs)  # type: ignore[arg-type]
    await bus.open()
    return bus


async def test_streams_are_opened_for_20_ms_periods_of_160_frames(
        alsa: FakeAlsa, clock: ManualClock) -> None:
    bus = await _bus(alsa, clock)
    capture = alsa.latest(Direction.CAPTURE)
    assert capture.params == PcmParams("hw:CARD=switchboxpcm,DEV=0", 8, 8000, 160, 4)
    assert alsa.latest(Direction.PLAYBACK).params == capture.params
    assert bus.latency_ms == 60
    await bus.close()
    assert all(p.closed for p in alsa.opened)


async def test_exchange_writes_interleaved_s16le_and_returns_the_captured_period(
        alsa: FakeAlsa, clock: ManualClock) -> None:
    bus = await _bus(alsa, clock)
    playback, capture = alsa.latest(Direction.PLAYBACK), alsa.latest(Direction.CAPTURE)
    assert playback.writes == [bytes(160 * 16)] * 2  # primed: 2 periods (40 ms) of silence
    sent = _pattern(SLOTS)
    heard = _pattern(SLOTS, offset=7)
    capture.queue(_packed(heard, list(range(SLOTS)), SLOTS))
    got = await bus.exchange(sent)
    assert playback.writes[2] == _packed(sent, list(range(SLOTS)), SLOTS)
    assert got.dtype == np.int16 and got.shape == (SLOTS, 160)
    np.testing.assert_array_equal(got, heard)
    assert bus.port("fxo1").of(got)[5] == 4005 + 7
    await bus.close()


async def test_channel_map_puts_each_slot_on_its_alsa_channel(
        alsa: FakeAlsa, clock: ManualClock) -> None:
    mapping = [0, 1, 2, 3, 9, 5, 6, 7]  # slot 4 (fxo1) rides on ALSA channel 9 of 10
    bus = await _bus(alsa, clock, channels=10, channel_of_slot=mapping)
    capture = alsa.latest(Direction.CAPTURE)
    heard = _pattern(SLOTS, offset=3)
    capture.queue(_packed(heard, mapping, 10))
    sent = _pattern(SLOTS)
    got = await bus.exchange(sent)
    np.testing.assert_array_equal(got, heard)
    assert alsa.latest(Direction.PLAYBACK).writes[-1] == _packed(sent, mapping, 10)
    facts = await bus.probe()
    assert "fxo1=slot 4/ch 9" in facts["channel map"]
    await bus.close()


async def test_a_ports_own_frames_replace_the_firmwares_audio_on_its_slot(
        alsa: FakeAlsa, clock: ManualClock) -> None:
    bus = await _bus(alsa, clock)
    tone = np.full(160, 1234, dtype=np.int16)
    bus.port("fxo1").play([tone])
    alsa.latest(Direction.CAPTURE).queue(bytes(160 * 16))
    await bus.exchange(np.zeros((SLOTS, 160), dtype=np.int16))
    written = np.frombuffer(alsa.latest(Direction.PLAYBACK).writes[-1], "<i2").reshape(160, 8)
    assert (written[:, 4] == 1234).all() and not written[:, [0, 1, 2, 3, 5, 6, 7]].any()
    await bus.close()


async def test_exchange_waits_on_the_capture_descriptor_until_a_period_arrives(
        alsa: FakeAlsa, clock: ManualClock) -> None:
    bus = await _bus(alsa, clock)
    capture = alsa.latest(Direction.CAPTURE)
    task = asyncio.ensure_future(bus.exchange(np.zeros((SLOTS, 160), dtype=np.int16)))
    await asyncio.sleep(0.01)
    assert not task.done()
    half = _packed(_pattern(SLOTS), list(range(SLOTS)), SLOTS)
    capture.queue(half[:len(half) // 2])  # periods may come in pieces
    await asyncio.sleep(0.01)
    assert not task.done()
    capture.queue(half[len(half) // 2:])
    got = await asyncio.wait_for(task, timeout=1.0)
    np.testing.assert_array_equal(got, _pattern(SLOTS))
    await bus.close()


async def test_capture_overrun_counts_an_xrun_and_reprimes_playback(
        alsa: FakeAlsa, clock: ManualClock) -> None:
    bus = await _bus(alsa, clock)
    capture, playback = alsa.latest(Direction.CAPTURE), alsa.latest(Direction.PLAYBACK)
    capture.queue(EPIPE)
    capture.queue(_packed(_pattern(SLOTS), list(range(SLOTS)), SLOTS))
    got = await bus.exchange(np.zeros((SLOTS, 160), dtype=np.int16))
    np.testing.assert_array_equal(got, _pattern(SLOTS))
    assert bus.xruns == 1
    assert len(playback.writes) == 2 + 1 + 2  # prime, the tick's period, prime again
    assert bus.status.in_service


async def test_playback_underrun_counts_an_xrun_and_writes_the_period_after_silence(
        alsa: FakeAlsa, clock: ManualClock) -> None:
    bus = await _bus(alsa, clock)
    capture, playback = alsa.latest(Direction.CAPTURE), alsa.latest(Direction.PLAYBACK)
    playback.write_results.append(EPIPE)
    capture.queue(bytes(160 * 16))
    sent = _pattern(SLOTS)
    await bus.exchange(sent)
    assert bus.xruns == 1
    reference = _packed(sent, list(range(SLOTS)), SLOTS)
    assert playback.writes[2:] == [reference, bytes(160 * 16), bytes(160 * 16), reference]


async def test_a_stalled_pcm_clock_puts_the_bus_out_of_service_and_it_is_reopened(
        alsa: FakeAlsa, clock: ManualClock) -> None:
    bus = await _bus(alsa, clock)
    task = asyncio.ensure_future(bus.exchange(np.zeros((SLOTS, 160), dtype=np.int16)))
    await clock.advance(0.099)
    assert not task.done()
    await clock.advance(0.002)
    with pytest.raises(DeviceNotResponding, match="PCM clock"):
        await task
    assert not bus.status.in_service
    assert all(p.closed for p in alsa.opened)
    # a caller that carries on is paced (one tick) and told again
    paced = asyncio.ensure_future(bus.exchange(np.zeros((SLOTS, 160), dtype=np.int16)))
    await clock.advance(0.019)
    assert not paced.done()
    await clock.advance(0.002)
    with pytest.raises(DeviceNotResponding):
        await paced
    await clock.advance(1.0)  # the first retry reopens the streams
    assert bus.status.in_service and len(alsa.opened) == 4
    alsa.latest(Direction.CAPTURE).queue(bytes(160 * 16))
    await bus.exchange(np.zeros((SLOTS, 160), dtype=np.int16))
    await bus.close()


async def test_a_missing_device_leaves_the_bus_out_of_service_without_raising(
        alsa: FakeAlsa, clock: ManualClock) -> None:
    alsa.fail = "hw:CARD=switchboxpcm: No such file or directory"
    bus = await _bus(alsa, clock)
    assert not bus.status.in_service and "No such file" in (bus.status.reason or "")
    alsa.fail = None
    await clock.advance(1.0)
    assert bus.status.in_service
    await bus.close()


async def test_a_stream_error_mid_call_is_device_not_responding(
        alsa: FakeAlsa, clock: ManualClock) -> None:
    bus = await _bus(alsa, clock)
    alsa.latest(Direction.CAPTURE).read_error = "No such device"
    with pytest.raises(DeviceNotResponding, match="No such device"):
        await bus.exchange(np.zeros((SLOTS, 160), dtype=np.int16))
    assert not bus.status.in_service
    await bus.close()


async def test_malformed_playback_is_a_value_error(alsa: FakeAlsa, clock: ManualClock) -> None:
    bus = await _bus(alsa, clock)
    with pytest.raises(ValueError, match="int16 of shape"):
        await bus.exchange(np.zeros((SLOTS, 80), dtype=np.int16))
    await bus.close()


def test_a_device_running_at_another_rate_is_refused(alsa: FakeAlsa) -> None:
    from pcm_fakes import FakePcm

    params = PcmParams("hw:0", 8, 8000, 160, 4)
    pcm = FakePcm(Direction.CAPTURE, params, info={"rate": 48000, "channels": 8,
                                                   "period_size": 160})
    with pytest.raises(PcmError, match="rate 48000 instead of 8000"):
        check_params(pcm, Direction.CAPTURE, params)
    assert pcm.closed


def test_the_real_library_reports_a_missing_card_as_pcm_error() -> None:
    pytest.importorskip("alsaaudio")
    with pytest.raises(PcmError, match="switchbox-no-such-card"):
        open_alsaaudio(Direction.CAPTURE,
                       PcmParams("hw:CARD=switchbox-no-such-card,DEV=0", 8, 8000, 160, 4))


class _ChannelMajorBus(AlsaPcmBus):
    """A deliberately broken driver: writes slot after slot instead of frame after frame."""

    def _interleave(self, frames: np.ndarray) -> bytes:
        return frames.astype("<i2").tobytes()


async def test_the_reference_packing_catches_a_driver_that_does_not_interleave(
        alsa: FakeAlsa, clock: ManualClock) -> None:
    sent = _pattern(SLOTS)
    reference = _packed(sent, list(range(SLOTS)), SLOTS)
    for cls, matches in ((AlsaPcmBus, True), (_ChannelMajorBus, False)):
        bus = cls("pcm1", "hw:0", SLOTS, _ports(), clock, alsa)
        await bus.open()
        alsa.latest(Direction.CAPTURE).queue(bytes(160 * 16))
        await bus.exchange(sent)
        assert (alsa.latest(Direction.PLAYBACK).writes[-1] == reference) is matches
        await bus.close()
