"""Music on hold into calls: the held party hears the office's music, not silence.

When a phone the box terminates (an analog phone, a DECT handset) puts its call on hold, its
side of the relay falls silent; the controller asks `HoldMusic.start` to play music towards
the other party instead, injected into the call's relay session as if the held phone sent it
(`RelaySession.inject`), encoded in the codec that party agreed (G.711 µ-law or A-law) under
its own SSRC (RFC 3550 §5.1: a new source, so the far end's jitter buffer starts afresh).

One 20 ms tick for every held call, running only while someone is held; every listener of a
class hears the same frame (`media/moh.py`), so a tick costs one G.711 table look-up per codec
and one packet per listener. Music comes from the installed classes (`.venv/share/switchbox/
moh`, built by `setup.sh run`); a box without any plays the built-in tune made in memory.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

from firmware.media.codecs.codec import Encoding
from firmware.media.codecs.g711 import alaw_encode, ulaw_encode
from firmware.media.frame import samples_per_frame
from firmware.media.moh import DEFAULT_CLASS, MohClass, MusicOnHold, default_tune
from firmware.media.relay import Direction, RelaySession
from firmware.media.rtp_session import RtpSender

log = logging.getLogger(__name__)

TICK_S = 0.02


@dataclass(eq=False, slots=True)
class _Listener:
    session: RelaySession
    direction: Direction
    encoding: Encoding
    sender: RtpSender


class HoldMusic:
    """Plays a music class to every held party (see the module docstring)."""

    def __init__(self, root: Path | None = None, music_class: str = DEFAULT_CLASS) -> None:
        self._library = MusicOnHold(root) if root is not None else None
        self._class_name = music_class
        self._fallback: MohClass | None = None
        self._listeners: dict[Hashable, _Listener] = {}
        self._task: asyncio.Task[None] | None = None
        self._rng = random.SystemRandom()
        self.packets = 0

    async def load(self) -> None:
        """Decode the installed classes off the loop (sox may run for uploaded files)."""
        if self._library is not None:
            await asyncio.to_thread(self._library.load)
        if self._library is None or not self._library.loaded():
            # Made once, off the loop: ≈ 23 s of audio synthesised with numpy.
            self._fallback = await asyncio.to_thread(
                lambda: MohClass(DEFAULT_CLASS, default_tune()))

    def _music(self) -> MohClass:
        if self._library is not None and self._library.loaded():
            return self._library.get(self._class_name)
        if self._fallback is None:
            self._fallback = MohClass(DEFAULT_CLASS, default_tune())
        return self._fallback

    def start(self, key: Hashable, session: RelaySession, direction: Direction,
              encoding: Encoding, payload_type: int) -> None:
        """Play music out of `session` in `direction` (A_TO_B: to the B side's phone) until
        `stop(key)`; starting a key again replaces its listener."""
        if encoding not in (Encoding.PCMU, Encoding.PCMA):
            log.info("no music on hold in %s", encoding)
            return
        self._listeners[key] = _Listener(session, direction, encoding,
                                         RtpSender(payload_type, rng=self._rng))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="hold-music")

    def stop(self, key: Hashable) -> None:
        self._listeners.pop(key, None)

    def playing(self, key: Hashable) -> bool:
        return key in self._listeners

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        n = samples_per_frame()
        tick = 0
        due = loop.time()
        while self._listeners:
            music = self._music()
            frame = music.frame_at(tick)
            encoded: dict[Encoding, bytes] = {}
            now = loop.time()
            for key, listener in list(self._listeners.items()):
                if listener.session.closed:
                    self._listeners.pop(key, None)
                    continue
                payload = encoded.get(listener.encoding)
                if payload is None:
                    table = ulaw_encode if listener.encoding is Encoding.PCMU else alaw_encode
                    payload = encoded[listener.encoding] = table(frame).tobytes()
                listener.session.inject(listener.direction,
                                        listener.sender.audio(payload, n, now))
                self.packets += 1
            tick += 1
            due += TICK_S
            await asyncio.sleep(max(0.0, due - loop.time()))
        self._task = None

    async def close(self) -> None:
        self._listeners.clear()
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
