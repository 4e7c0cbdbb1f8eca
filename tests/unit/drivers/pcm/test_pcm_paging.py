"""AlsaPagingOutput: the amplifier relay and its warm-up on the board clock, frames written as
S16_LE, underruns, a missing sound device; and the "alsa" factory's options and port map."""

from __future__ import annotations

import asyncio
import struct

import numpy as np
import pytest
from pcm_fakes import EPIPE, FakeAlsa

from drivers.pcm.alsa import Direction
from drivers.pcm.board import make_create_devices
from drivers.pcm.bus import AlsaPcmBus
from drivers.pcm.paging import AlsaPagingOutput
from hal.board import BoardError, DeviceKind, parse_board
from hal.device import Device
from hal.errors import DeviceNotResponding
from hal.loader import BoardContext
from hal.sim.board import create_devices as sim_create_devices
from hal.sim.clock import ManualClock
from hal.sim.relay import SimRelay


async def test_start_switches_the_amplifier_on_and_waits_its_warm_up(
        alsa: FakeAlsa, clock: ManualClock) -> None:
    relay = SimRelay("relay3", 2, clock)
    await relay.open()
    paging = AlsaPagingOutput("paging1", "plughw:CARD=Headphones,DEV=0", clock, relay,
                              warmup_ms=300, opener=alsa)
    async with paging:
        started = asyncio.ensure_future(paging.start())
        await clock.advance(0.299)
        assert relay.is_on and paging.amplifier_on and not started.done()
        await clock.advance(0.002)
        await started
        stream = alsa.latest(Direction.PLAYBACK)
        assert stream.params.channels == 1 and stream.params.period_frames == 160
        frame = (np.arange(160) * 100 - 8000).astype(np.int16)
        await paging.play(frame)
        assert stream.writes[-1] == b"".join(struct.pack("<h", int(v)) for v in frame)
        await paging.stop()
        assert not relay.is_on and not paging.amplifier_on and stream.closed
    assert relay.pulses[0].duration_ms == pytest.approx(301, abs=1)


async def test_play_before_start_is_refused(alsa: FakeAlsa, clock: ManualClock) -> None:
    async with AlsaPagingOutput("paging1", "plughw:0", clock, opener=alsa) as paging:
        with pytest.raises(RuntimeError, match="start"):
            await paging.play(np.zeros(160, dtype=np.int16))


async def test_an_underrun_reprimes_and_still_plays_the_frame(alsa: FakeAlsa,
                                                              clock: ManualClock) -> None:
    async with AlsaPagingOutput("paging1", "plughw:0", clock, warmup_ms=0,
                                opener=alsa) as paging:
        await paging.start()
        stream = alsa.latest(Direction.PLAYBACK)
        stream.write_results.append(EPIPE)
        frame = np.full(160, 99, dtype=np.int16)
        await paging.play(frame)
        assert paging.underruns == 1
        assert stream.writes[-1] == frame.astype("<i2").tobytes()
        assert stream.writes[-2] == bytes(320)


async def test_a_missing_sound_device_is_out_of_service_and_start_says_so(
        alsa: FakeAlsa, clock: ManualClock) -> None:
    alsa.fail = "plughw:CARD=Headphones: No such file or directory"
    relay = SimRelay("relay3", 2, clock)
    await relay.open()
    async with AlsaPagingOutput("paging1", "plughw:CARD=Headphones,DEV=0", clock, relay,
                                opener=alsa) as paging:
        assert not paging.status.in_service
        with pytest.raises(DeviceNotResponding, match="No such file"):
            await paging.start()
        assert not relay.is_on  # no amplifier without a stream to feed it
        alsa.fail = None
        await clock.advance(1.0)
        assert paging.status.in_service


def _create_all(text: str, clock: ManualClock, alsa: FakeAlsa) -> tuple[list[Device], list[str]]:
    """Build a board: "sim" ports and relays, "alsa" pcm and paging (as hal.loader does)."""
    create = make_create_devices(alsa)
    devices: list[Device] = []
    problems: list[str] = []
    counters: dict[DeviceKind, int] = {}
    for entry in parse_board('name = "t"\n' + text).entries:
        def next_name(kind: DeviceKind = entry.kind) -> str:
            counters[kind] = counters.get(kind, 0) + 1
            return f"{kind.value}{counters[kind]}"
        factory = create if entry.driver == "alsa" else sim_create_devices
        try:
            devices += factory(entry, next_name, BoardContext(clock, tuple(devices)))
        except BoardError as exc:
            problems += exc.problems
    return devices, problems


PORTS = """
[[fxs]]
driver = "sim"
channels = [0, 1]
pcm_slots = [0, 1]

[[fxo]]
driver = "sim"
channels = [0]
pcm_slots = [4]

[[relay]]
driver = "sim"
channels = [0, 1, 2]
"""


def test_the_alsa_factory_builds_the_bus_over_the_boards_ports(alsa: FakeAlsa,
                                                               clock: ManualClock) -> None:
    devices, problems = _create_all(PORTS + """
[[paging]]
driver = "alsa"
device = "plughw:CARD=Headphones,DEV=0"
amplifier_relay = "relay3"

[[pcm]]
driver = "alsa"
device = "hw:CARD=switchboxpcm,DEV=0"
slots = 8
""", clock, alsa)
    assert problems == []
    bus = next(d for d in devices if isinstance(d, AlsaPcmBus))
    assert {name: p.slot for name, p in bus.ports.items()} == {"fxs1": 0, "fxs2": 1, "fxo1": 4}
    paging = next(d for d in devices if isinstance(d, AlsaPagingOutput))
    assert paging.amplifier is not None and paging.amplifier.name == "relay3"


def test_the_alsa_factory_names_every_problem(alsa: FakeAlsa, clock: ManualClock) -> None:
    _, problems = _create_all(PORTS + """
[[paging]]
driver = "alsa"
amplifier_relay = "relay9"
volume = 11

[[pcm]]
driver = "alsa"
device = "hw:0"
slots = 4
prefill_periods = 4
""", clock, alsa)
    assert problems == [
        "paging[0].volume: unknown option of the alsa driver; paging takes only `device`, "
        "`amplifier_relay`, `warmup_ms`",
        'paging[0].device: missing: add the ALSA device, e.g. '
        '`device = "plughw:CARD=Headphones,DEV=0"`',
        "paging[0].amplifier_relay: no relay 'relay9' on this board "
        "(relays: relay1, relay2, relay3)",
        "pcm[0].prefill_periods: must be less than periods (4), not 4",
    ]
    _, problems = _create_all(PORTS + """
[[pcm]]
driver = "alsa"
device = "hw:0"
slots = 4
""", clock, alsa)
    assert problems == ["pcm[0].slots: fxo1 uses PCM slot 4; the bus has slots 0-3"]
