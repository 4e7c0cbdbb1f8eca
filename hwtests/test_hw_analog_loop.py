"""FXS port cabled to FXO port (SWITCHBOX_HWTEST_LOOP, default fxs1:fxo1) on a real board.

The FXS port rings and the FXO port qualifies the cadence; caller ID sent in the first ring
pause is decoded on the FXO side; seizing the FXO line draws loop current that the FXS port
sees as off-hook; DTMF passes both ways through the PCM bus. Written against the hal
interfaces only, so any board whose drivers implement them can run it.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from hw_media import MediaLoop

from hal.board import Board
from hal.events import OffHook, RingDetected, RingEnded
from hal.fxo import DialMethod, FxoPort
from hal.fxs import FxsPort
from hal.linesignal import RING_CADENCES
from hal.tones import dtmf_frames

RING_TIMEOUT_S = 12.0


def _ports(hw_board: Board, pair: tuple[str, str]) -> tuple[FxsPort, FxoPort]:
    fxs, fxo = hw_board.device(pair[0]), hw_board.device(pair[1])
    assert isinstance(fxs, FxsPort) and isinstance(fxo, FxoPort), pair
    return fxs, fxo


async def _next(port: FxsPort | FxoPort, kind: type, timeout_s: float) -> object:
    async with asyncio.timeout(timeout_s):
        async for event in port.events():
            if isinstance(event, kind):
                return event
    raise AssertionError(f"{port.name}: events ended before a {kind.__name__}")


async def test_fxs_ring_is_detected_on_the_fxo_port_with_its_cadence(
        hw_board: Board, loop_pair: tuple[str, str]) -> None:
    fxs, fxo = _ports(hw_board, loop_pair)
    fxo.take_events()
    await fxs.ring(RING_CADENCES["ru"])
    try:
        first = await _next(fxo, RingDetected, RING_TIMEOUT_S)
        assert isinstance(first, RingDetected) and first.ring_number == 1
        second = await _next(fxo, RingDetected, RING_TIMEOUT_S)
        assert isinstance(second, RingDetected) and second.cadence_matches in (True, None)
        assert second.cadence_ms and abs(second.cadence_ms[0] - 1000) < 150
    finally:
        await fxs.stop_ringing()


async def test_caller_id_sent_by_the_fxs_port_is_decoded_on_the_fxo_port(
        hw_board: Board, media: MediaLoop, loop_pair: tuple[str, str]) -> None:
    callerid = pytest.importorskip("firmware.media.dsp.callerid")
    fsk = pytest.importorskip("firmware.media.dsp.fsk")
    from hal.tones import to_frames

    fxs, fxo = _ports(hw_board, loop_pair)
    cid = callerid.CallerId(number="74951234567", name="SWITCHBOX")
    audio = callerid.fsk_audio(callerid.encode_mdmf(cid), fsk.FskStandard.V23)
    frames = to_frames(audio.astype(np.float64))
    await fxo.monitor_on_hook(True)
    media.clear()
    await fxs.ring(RING_CADENCES["ru"], caller_id=frames)
    try:
        await _next(fxo, RingEnded, RING_TIMEOUT_S)
        await asyncio.sleep(0.5 + len(frames) * 0.02 + 0.5)
    finally:
        await fxs.stop_ringing()
        await fxo.monitor_on_hook(False)
    decoder = callerid.CallerIdDecoder()
    received = decoder.process(media.captured(fxo.name))
    assert [r.message for r in received] == [cid], decoder.rejected


async def test_seizing_the_fxo_line_draws_loop_current_seen_as_off_hook(
        hw_board: Board, loop_pair: tuple[str, str]) -> None:
    fxs, fxo = _ports(hw_board, loop_pair)
    fxs.take_events()
    await fxo.seize()
    try:
        event = await _next(fxs, OffHook, 2.0)
        assert isinstance(event, OffHook)
        await asyncio.sleep(0.3)
        assert 15.0 <= fxo.loop_current_ma <= 45.0, fxo.loop_current_ma  # ProSLIC 20-41 mA
        assert fxs.off_hook
    finally:
        await fxo.release()


async def _digits_heard(media: MediaLoop, device: str) -> str:
    dtmf = pytest.importorskip("firmware.media.dsp.dtmf")
    receiver = dtmf.DtmfReceiver()
    events = receiver.process(media.captured(device))
    return "".join(e.digit for e in events if isinstance(e, dtmf.DigitDetected))


async def test_dtmf_passes_from_fxo_to_fxs(hw_board: Board, media: MediaLoop,
                                           loop_pair: tuple[str, str]) -> None:
    fxs, fxo = _ports(hw_board, loop_pair)
    await fxo.seize()
    try:
        await asyncio.sleep(0.5)
        media.clear()
        await fxo.dial("1234567890*#", DialMethod.DTMF)
        await asyncio.sleep(0.3)
        assert await _digits_heard(media, fxs.name) == "1234567890*#"
    finally:
        await fxo.release()


async def test_dtmf_passes_from_fxs_to_fxo(hw_board: Board, media: MediaLoop,
                                           loop_pair: tuple[str, str]) -> None:
    fxs, fxo = _ports(hw_board, loop_pair)
    await fxo.seize()
    try:
        await asyncio.sleep(0.5)
        media.clear()
        media.play(fxs.name, dtmf_frames("0987654321#*"))
        await asyncio.sleep(12 * 0.16 + 0.5)
        assert await _digits_heard(media, fxo.name) == "0987654321#*"
    finally:
        await fxo.release()
