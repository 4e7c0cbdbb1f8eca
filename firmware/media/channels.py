"""Application channels: RTP endpoints terminated by the box itself (menus, voicemail,
conference rooms, paging, announcements, the installer's programming menu).

A channel is a UDP RTP socket on 127.0.0.1 that the call's `RelaySession` bridges like any other
leg. All channels share one `AnalogMediaEngine` (`bridge.py`, engine port == channel index,
echo canceller off: there is no hybrid), driven by a 20 ms loop on the clock instead of a PCM
bus. In engine terms what the application *says* is the tick's `captured[ch]` (sent as RTP)
and what the far end says is the tick's returned `playback[ch]` (jitter buffer, G.711 decode,
PLC). Per tick, for all channels at once:

1. `captured` = each channel's source (clips of `play`/`say` through `PromptPlayer`, a tone
   plan tone, a music loop) summed with saturation with the mix its room sent it last tick;
2. `engine.tick(captured, now)` and send its packets (only to the `connect`ed remote; only that
   remote may feed the channel, other sources are dropped and counted as in `ports.py`);
3. one `DtmfReceiver.process` (Q.24, `dsp/dtmf.py`) on `playback`: the engine's own detector
   runs on `captured` (the application's side), so in-band digits of the far end need this
   second one. RFC 4733 digits are the engine's `DigitReceived`. A key press reported by both
   (a phone that sends telephone-events without muting its audio) is delivered once: an event
   absorbs at most one twin of the same digit from the other source within 0.5 s;
4. every room (`dsp/conference.py` mixer: each listener hears the others, never itself; a
   loudspeaker is a listen-only party that hears everyone) mixes `playback`; its rows are
   sent at the next tick (20 ms of mixing latency);
5. recordings receive `playback[ch]`; they are written by their own coroutine, never in the
   tick. Paging outputs get the mix through a bounded queue (5 frames, oldest dropped) served
   by a task of their own, so a slow sound device never stalls the loop.

An application clip that itself contains DTMF is sent as RFC 4733 when the peer negotiated it
(the engine relays what it detects in `captured`), in-band otherwise.

Pacing: deadlines at start + k·20 ms on the clock (no drift); a tick that starts after its
successor's deadline counts as an overrun, and after more than 5 missed ticks the schedule is
re-based rather than bursting.

Levels follow G.711: a full-scale int16 sine is +3.17 dBm0, so a 0 dBm0 sine peaks at
32767·10^(−3.17/20) ≈ 22776.

Figures (tests/unit/media/channels, real UDP loopback, MonotonicClock): a −10 dBm0 1 kHz tone
played on a channel reaches an RTP peer at −10.0 dBm0 in PCMA and PCMU (asserted ±1 dB);
RFC 4733, in-band, and both-at-once key presses are each collected exactly once. Loop time
(`bench/channels_bench.py --seconds 8`, 16 channels all connected and receiving −20 dBm0 noise,
2 rooms of 4 mixing, 8 channels playing dial tone, uvloop, peers in the same process, shared
2-core VM): mean ≈ 2.2 ms per tick (11 % of a core), max ≈ 3.4 ms, no overrun; the engine is
≈ 0.9 ms of it, the rest the second (far-end) DTMF receiver ≈ 0.3 ms, the two room mixes
≈ 0.25 ms, tone generation and the 16 sends. Ticks over the 2 ms budget are counted
(`tick_over_budget`), not fatal: the 20 ms deadline was never missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import pathlib
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt

from firmware.media.bridge import AnalogMediaEngine, DigitReceived
from firmware.media.codecs.codec import Encoding
from firmware.media.dsp.conference import (
    ConferenceMixer,
    ConferenceSettings,
    PartyMode,
    level_dbm0,
)
from firmware.media.dsp.dtmf import DigitDetected, DtmfReceiver
from firmware.media.dsp.fax import FaxTone, FaxToneDetector
from firmware.media.dsp.tones import ToneGenerator, ToneKind, TonePlan
from firmware.media.frame import FRAME_MS, Frame, SampleRate, samples_per_frame
from firmware.media.prompt_catalog import Language
from firmware.media.prompts import PlayerState, PromptError, PromptLibrary, PromptPlayer
from firmware.media.recorder import (
    CallRecorder,
    RecorderSettings,
    RecordingError,
    RecordingLayout,
    RecordingParty,
)
from firmware.media.rtp_session import RandomSource
from hal.clock import Clock
from hal.errors import DeviceError
from hal.paging import PagingOutput

log = logging.getLogger(__name__)

TICK_S = FRAME_MS / 1000.0
TICK_BUDGET_S = 0.002
"""Loop time one tick may take before it counts in `tick_over_budget`."""
RESYNC_AFTER_TICKS = 5
"""A loop this many ticks late re-bases its schedule instead of running the backlog."""
DIGIT_TWIN_WINDOW_S = 0.5
"""An RFC 4733 and an in-band report of the same key closer than this are one key press."""
PAGING_QUEUE_FRAMES = 5
"""Frames a paging output may lag behind the room (100 ms) before the oldest are dropped."""
DSCP_EF = 46
"""RFC 4594 §4.1 telephony: Expedited Forwarding, like the relay and the port sockets."""

Address = tuple[str, int]
Pcm = npt.NDArray[np.int16]


class ChannelsExhausted(RuntimeError):
    """Every channel of the pool is in use."""


class ChannelClosed(Exception):
    """The channel was closed (the call hung up) while the application waited on it."""


class MusicSource(Protocol):
    """A looping audio source every listener shares, e.g. `moh.MohClass`."""

    def frame_at(self, tick: int) -> Frame: ...


class DigitSource(StrEnum):
    """How a digit reached the channel."""

    RFC4733 = "rfc4733"
    INBAND = "inband"


@dataclass(frozen=True, slots=True)
class DigitPressed:
    """The far end pressed `digit` (once per key press, whichever way it was signalled)."""

    channel: int
    digit: str
    source: DigitSource
    at: float


@dataclass(frozen=True, slots=True)
class FaxToneHeard:
    """The far end is a fax machine or modem (CNG or CED, `dsp/fax.py`)."""

    channel: int
    tone: FaxTone
    at: float


ChannelEvent = DigitPressed | FaxToneHeard


class RecordEnd(StrEnum):
    """Why `Channel.record` ended."""

    KEY = "key"
    SILENCE = "silence"
    LIMIT = "limit"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class RecordResult:
    """A finished recording made by `Channel.record`."""

    path: pathlib.Path
    duration_s: float
    ended_by: RecordEnd


def _normalise(remote: Address) -> Address:
    host, port = remote
    if not 0 < port <= 65535:
        raise ValueError(f"RTP port must be 1-65535, not {port}")
    return str(ipaddress.ip_address(host)), port


class _ChannelProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: ChannelMedia, index: int) -> None:
        self._owner = owner
        self._index = index

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self._owner._received(self._index, data, addr)

    def error_received(self, exc: Exception) -> None:
        self._owner._send_errors += 1
        log.debug("channel %d: socket error %s", self._index, exc)


class _Tone:
    """A tone plan tone as a channel source."""

    def __init__(self, generator: ToneGenerator) -> None:
        self.generator = generator


class _Music:
    def __init__(self, source: MusicSource) -> None:
        self.source = source


_Source = PromptPlayer | _Tone | _Music


class _Recording:
    """Frames of a running `record`, handed from the tick to its coroutine."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []


class Channel:
    """One application channel: created by `ChannelMedia.open()`, ended by `close()`.

    Everything runs on the loop thread. A handle stays closed after `close()`; the index goes
    back to the pool and a later `open()` returns a new handle.
    """

    def __init__(self, media: ChannelMedia, index: int) -> None:
        self.index = index
        self.closed = False
        self._media = media
        self._source: _Source | None = None
        self._digits: deque[str] = deque()
        self._waiters: list[asyncio.Future[None]] = []
        self._subscribers: list[asyncio.Queue[ChannelEvent | None]] = []
        self._fax: FaxToneDetector | None = None
        self._recording: _Recording | None = None
        self._room: Room | None = None
        self._last_digit: tuple[str, DigitSource, float, bool] | None = None
        """(digit, source, at, twin absorbed) of the last digit delivered."""
        self._barged: tuple[PromptPlayer, str] | None = None

    def __repr__(self) -> str:
        return f"<Channel {self.index}{' closed' if self.closed else ''}>"

    @property
    def address(self) -> Address:
        """Where the relay endpoint must send this channel's RTP."""
        return self._media._address(self.index)

    @property
    def room_key(self) -> str | None:
        """The room this channel is in, or None."""
        return None if self._room is None else self._room.key

    def connect(
        self,
        remote: Address,
        codec: Encoding,
        payload_type: int,
        telephone_event_pt: int | None,
    ) -> None:
        """Join the RTP stream at `remote` (IP literal and port): `codec` under `payload_type`
        both ways, RFC 4733 under `telephone_event_pt` (None: digits in-band only). Only
        `remote` may feed the channel from now on. Raises ChannelClosed, or ValueError for a
        codec other than G.711 or a bad address."""
        self._check_open()
        self._media._connect(self.index, _normalise(remote), codec, payload_type,
                             telephone_event_pt)  # fmt: skip

    def close(self) -> None:
        """Back to the pool; awaits pending on it raise ChannelClosed (a `record` returns its
        file, ended by CLOSED: a caller hanging up keeps the message). Idempotent."""
        if self.closed:
            return
        self.closed = True
        if self._room is not None:
            self._room.leave(self)
        self._source = None
        for queue in self._subscribers:
            queue.put_nowait(None)
        self._notify()
        self._media._release(self)

    # -- sources ---------------------------------------------------------------------------------

    def _set_source(self, source: _Source | None) -> None:
        self._check_open()
        self._source = source
        self._notify()

    async def play(self, pcm: Sequence[Pcm], *, barge_in: bool = True) -> str | None:
        """Play 8 kHz int16 clips in order; returns the key that interrupted them (it stays in
        the type-ahead of `collect`), None when played out or replaced by another source.
        Raises ChannelClosed."""
        player = PromptPlayer(list(pcm), rate=SampleRate.NARROWBAND, barge_in=barge_in)
        return await self._play(player)

    async def _play(self, player: PromptPlayer) -> str | None:
        self._set_source(player)
        try:
            while True:
                self._check_open()
                if player.state is PlayerState.INTERRUPTED:
                    barged = self._barged
                    return barged[1] if barged is not None and barged[0] is player else None
                if player.state is PlayerState.FINISHED or self._source is not player:
                    return None
                await self._wait(None)
        finally:
            if self._source is player:
                self._source = None

    async def say(
        self, language: Language, prompt_ids: Sequence[str], *, barge_in: bool = True
    ) -> str | None:
        """Speak prompts of the ChannelMedia's PromptLibrary; a missing or unreadable prompt
        is logged and skipped. Returns as `play`."""
        library = self._media.prompts
        clips: list[Pcm] = []
        if library is None:
            log.warning("channel %d: no prompt library, cannot say %s", self.index, prompt_ids)
        else:
            for prompt_id in prompt_ids:
                try:
                    # The first use of a prompt reads its file: off the loop thread.
                    clips.append(await asyncio.to_thread(library.audio, language, prompt_id))
                except PromptError as exc:
                    log.warning("channel %d: prompt %s skipped: %s", self.index, prompt_id, exc)
        return await self.play(clips, barge_in=barge_in)

    def play_tone(self, kind: ToneKind | None) -> None:
        """Play a tone of the tone plan to the far end (None: stop)."""
        if kind is None:
            if isinstance(self._source, _Tone):
                self._set_source(None)
            return
        tone = self._media.tone_plan.tone(kind)
        self._set_source(_Tone(ToneGenerator(tone, SampleRate.NARROWBAND)))

    def music(self, source: MusicSource | None) -> None:
        """Loop `source` to the far end, in step with every other listener (None: stop)."""
        if source is None:
            if isinstance(self._source, _Music):
                self._set_source(None)
            return
        self._set_source(_Music(source))

    def _next_frame(self, tick: int) -> Frame | None:
        source = self._source
        if source is None:
            return None
        if isinstance(source, PromptPlayer):
            frame = source.next_frame()
            if source.state is not PlayerState.PLAYING:
                self._notify()
            return frame
        if isinstance(source, _Tone):
            frame = source.generator.next_frame()
            if source.generator.finished:
                self._source = None
            return frame
        return source.source.frame_at(tick)

    # -- digits ----------------------------------------------------------------------------------

    def flush_digits(self) -> str:
        """Forget the type-ahead; returns what it held."""
        out = "".join(self._digits)
        self._digits.clear()
        return out

    def _digit(self, digit: str, source: DigitSource, now: float) -> bool:
        """Deliver one report of a key; False when it was the twin of the last one."""
        last = self._last_digit
        if (
            last is not None
            and not last[3]
            and last[0] == digit
            and last[1] is not source
            and now - last[2] <= DIGIT_TWIN_WINDOW_S
        ):
            self._last_digit = (last[0], last[1], last[2], True)
            return False
        self._last_digit = (digit, source, now, False)
        self._digits.append(digit)
        if isinstance(self._source, PromptPlayer) and self._source.on_digit(digit) is not None:
            self._barged = (self._source, digit)
        self._publish(DigitPressed(self.index, digit, source, now))
        self._notify()
        return True

    async def collect(
        self, max_digits: int, *, first_s: float, between_s: float, end: str = "#"
    ) -> str:
        """Up to `max_digits` keys, typed-ahead ones first; stops at `end` (not returned), at
        `first_s` without a first key ("" then) or `between_s` after the last one. Raises
        ChannelClosed."""
        self._check_open()
        collected = ""
        clock = self._media.clock
        deadline = clock.now() + first_s
        while len(collected) < max_digits:
            self._check_open()
            if self._digits:
                digit = self._digits.popleft()
                if end and digit in end:
                    break
                collected += digit
                deadline = clock.now() + between_s
                continue
            remaining = deadline - clock.now()
            if remaining <= 0:
                break
            await self._wait(remaining)
        return collected

    # -- recording -------------------------------------------------------------------------------

    async def record(
        self,
        path: pathlib.Path,
        *,
        max_s: float,
        silence_s: float = 5.0,
        silence_level_dbm0: float = -45.0,
        end: str = "#",
    ) -> RecordResult:
        """Record what the far end says into the WAV `path` (8 kHz mono, `recorder.py`, so a
        crash leaves a recoverable `.part`). Ends on a key of `end` (consumed), after
        `silence_s` below `silence_level_dbm0`, at `max_s`, or when the channel closes.
        Raises RecordingError (e.g. RecordingRefused) when the file cannot be written,
        ChannelClosed when already closed, RuntimeError when this channel already records."""
        self._check_open()
        if self._recording is not None:
            raise RuntimeError(f"channel {self.index} is already recording")
        clock = self._media.clock
        settings = RecorderSettings(
            layout=RecordingLayout.MIXED,
            max_duration_s=None,
            min_free_bytes=self._media.record_min_free_bytes,
        )
        recorder = await asyncio.to_thread(
            CallRecorder.open,
            path.parent,
            f"channel-{self.index}",
            [RecordingParty("caller", "")],
            codec="pcm",
            now=clock.now(),
            started_wall_s=time.time(),
            settings=settings,
            name=path.stem,
        )
        recording = self._recording = _Recording()
        limit_frames = max(1, round(max_s / TICK_S))
        silence_frames = max(1, round(silence_s / TICK_S))
        written = quiet = 0
        ended_by: RecordEnd | None = None
        try:
            while ended_by is None:
                if recording.frames:
                    batch, recording.frames = recording.frames, []
                    keep = len(batch)
                    for i, frame in enumerate(batch):
                        written += 1
                        quiet = quiet + 1 if level_dbm0(frame) < silence_level_dbm0 else 0
                        if written >= limit_frames:
                            ended_by, keep = RecordEnd.LIMIT, i + 1
                            break
                        if quiet >= silence_frames:
                            ended_by, keep = RecordEnd.SILENCE, i + 1
                            break
                    audio = np.concatenate(batch[:keep])
                    await asyncio.to_thread(recorder.write, audio, None, clock.now())
                    continue
                if self.closed:
                    ended_by = RecordEnd.CLOSED
                    break
                if end and any(d in end for d in self._digits):
                    self._take_first_of(end)
                    ended_by = RecordEnd.KEY
                    break
                await self._wait(None)
        finally:
            self._recording = None
            done = await asyncio.to_thread(recorder.close, clock.now())
        return RecordResult(done.audio_path, recorder.duration_s, ended_by or RecordEnd.CLOSED)

    def _take_first_of(self, keys: str) -> None:
        for i, digit in enumerate(self._digits):
            if digit in keys:
                del self._digits[i]
                return

    # -- events ----------------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[ChannelEvent]:
        """Digits (each key press once) and fax tones from now until the channel closes."""
        queue: asyncio.Queue[ChannelEvent | None] = asyncio.Queue()
        if self.closed:
            return
        self._subscribers.append(queue)
        if self._fax is None:
            self._fax = FaxToneDetector(SampleRate.NARROWBAND)
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(queue)
            if not self._subscribers:
                self._fax = None

    def _publish(self, event: ChannelEvent) -> None:
        for queue in self._subscribers:
            queue.put_nowait(event)

    # -- plumbing --------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise ChannelClosed(f"channel {self.index} is closed")

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def _wait(self, timeout_s: float | None) -> None:
        """Until the channel's state changes (a digit, a source ending, close) or `timeout_s`
        passes on the clock."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        if timeout_s is None:
            await fut
            return
        sleeper = asyncio.ensure_future(self._media.clock.sleep(timeout_s))
        try:
            await asyncio.wait((fut, sleeper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            fut.cancel()


class _Output:
    """A loudspeaker fed from a room: bounded queue, its own task."""

    def __init__(self, output: PagingOutput) -> None:
        self.output = output
        self.frames: deque[Frame] = deque(maxlen=PAGING_QUEUE_FRAMES)
        self.ready = asyncio.Event()
        self.more = asyncio.Event()
        self.dropped = 0
        self.task: asyncio.Task[None] | None = None

    def put(self, frame: Frame) -> None:
        if len(self.frames) == self.frames.maxlen:
            self.dropped += 1
        self.frames.append(frame)
        self.more.set()

    async def serve(self) -> None:
        try:
            await self.output.start()
            self.ready.set()
            self.frames.clear()
            while True:
                while not self.frames:
                    self.more.clear()
                    await self.more.wait()
                await self.output.play(self.frames.popleft())
        except (DeviceError, RuntimeError, ValueError) as exc:
            log.warning("paging output %s failed: %s", self.output.name, exc)
        finally:
            with contextlib.suppress(DeviceError, RuntimeError):
                await asyncio.shield(self.output.stop())


class Room:
    """A mixing room: every listening member hears every other talking member, never itself
    (`dsp/conference.py`: automatic gain, the 3 loudest talkers, soft limiter)."""

    def __init__(self, media: ChannelMedia, key: str, settings: ConferenceSettings) -> None:
        self.key = key
        self._media = media
        self._mixer = ConferenceMixer(settings)
        self._members: dict[int, Channel] = {}
        self._hears: dict[int, bool] = {}
        self._outputs: dict[int, _Output] = {}
        self.heard: dict[int, Frame] = {}
        """Mix for each listening member, produced by the last tick, sent by the next."""

    @property
    def members(self) -> tuple[Channel, ...]:
        return tuple(self._members.values())

    def join(self, channel: Channel, *, talk: bool = True, listen: bool = True) -> None:
        """Add `channel` (leaving any other room). Joining again changes talk/listen.
        Raises ChannelClosed."""
        channel._check_open()
        if channel._room is not None and channel._room is not self:
            channel._room.leave(channel)
        mode = PartyMode.TALK if talk else PartyMode.LISTEN_ONLY
        if channel.index in self._members:
            self._mixer.set_mode(channel.index, mode)
        else:
            self._mixer.join(channel.index, mode)
        self._members[channel.index] = channel
        self._hears[channel.index] = listen
        channel._room = self

    def leave(self, channel: Channel) -> None:
        """Remove `channel`; a no-op for a stranger. An empty room stops its outputs and is
        dropped."""
        if self._members.get(channel.index) is not channel:
            return
        del self._members[channel.index]
        del self._hears[channel.index]
        self.heard.pop(channel.index, None)
        self._mixer.leave(channel.index)
        channel._room = None
        if not self._members:
            for output in list(self._outputs.values()):
                self.remove_output(output.output)
            self._media._drop_room(self)

    def add_output(self, output: PagingOutput) -> None:
        """A loudspeaker hears the room's mix: its amplifier is switched on now (its warm-up is
        not waited for: audio reaches it once ready), off on `remove_output` or when the room
        empties."""
        if id(output) in self._outputs:
            return
        entry = _Output(output)
        self._mixer.join(("output", id(output)), PartyMode.LISTEN_ONLY)
        self._outputs[id(output)] = entry
        entry.task = self._media._spawn(entry.serve())

    def remove_output(self, output: PagingOutput) -> None:
        """Stop feeding `output` and switch its amplifier off; a no-op for a stranger."""
        entry = self._outputs.pop(id(output), None)
        if entry is None:
            return
        self._mixer.leave(("output", id(output)))
        if entry.task is not None:
            entry.task.cancel()

    def _mix(self, playback: Frame, now: float) -> None:
        parties = self._mixer.parties
        if not parties:
            return
        frames = np.zeros((len(parties), playback.shape[1]), np.int16)
        for row, party in enumerate(parties):
            if isinstance(party, int):
                frames[row] = playback[party]
        heard = self._mixer.mix(frames, now)
        self._mixer.events()  # talker changes: not used yet; keep the list from growing
        self.heard = {}
        for row, party in enumerate(parties):
            if isinstance(party, int):
                if self._hears.get(party, False):
                    self.heard[party] = heard[row]
            else:
                entry = self._outputs.get(cast(tuple[str, int], party)[1])
                if entry is not None and entry.ready.is_set():
                    entry.put(heard[row])

    @property
    def paging_dropped(self) -> int:
        return sum(o.dropped for o in self._outputs.values())


class ChannelMedia:
    """The pool of application channels and their 20 ms loop (see the module docstring).

    Lifetime: `await start()`, run `run()` as a task, `open()` channels, `close()` at shutdown.
    Not thread-safe: everything runs on one loop.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        channels: int = 16,
        host: str = "127.0.0.1",
        tone_plan: TonePlan,
        rng: RandomSource,
        prompts: PromptLibrary | None = None,
        record_min_free_bytes: int = 50 * 1024 * 1024,
    ) -> None:
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.clock = clock
        self.tone_plan = tone_plan
        self.prompts = prompts
        self.record_min_free_bytes = record_min_free_bytes
        self._count = channels
        self._host = host
        self._samples = samples_per_frame(SampleRate.NARROWBAND)
        self._engine = AnalogMediaEngine(channels, tone_plan=tone_plan, rng=rng, echo=False)
        self._far_dtmf = DtmfReceiver(channels, SampleRate.NARROWBAND)
        self._transports: list[asyncio.DatagramTransport] = []
        self._remotes: list[Address | None] = [None] * channels
        self._open: dict[int, Channel] = {}
        self._free: deque[int] = deque(range(channels))
        self._rooms: dict[str, Room] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._tick_count = 0
        self._counters = dict.fromkeys(
            ("packets_sent", "packets_received", "drop_wrong_source", "drop_not_connected",
             "digits", "digits_twin_dropped", "tick_overruns", "tick_over_budget",
             "schedule_rebased"), 0)  # fmt: skip
        self._send_errors = 0
        self._tick_total_us = 0
        self._engine_total_us = 0
        self._tick_max_us = 0

    # -- lifetime --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind one UDP socket per channel on an ephemeral port of `host`. Raises OSError
        (nothing stays bound), RuntimeError when started twice or after `close()`."""
        if self._transports or self._closed:
            raise RuntimeError("ChannelMedia: start() once, before close()")
        loop = asyncio.get_running_loop()
        transports: list[asyncio.DatagramTransport] = []
        try:
            for index in range(self._count):
                transport, _ = await loop.create_datagram_endpoint(
                    functools.partial(_ChannelProtocol, self, index),
                    local_addr=(self._host, 0),
                )
                _mark_expedited(transport)
                transports.append(transport)
        except BaseException:
            for transport in transports:
                transport.close()
            raise
        self._transports = transports

    def close(self) -> None:
        """Close every channel, room output and socket; idempotent. Cancel `run()` first."""
        if self._closed:
            return
        for channel in list(self._open.values()):
            channel.close()
        for task in list(self._tasks):
            task.cancel()
        self._closed = True
        for transport in self._transports:
            transport.close()

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- the pool --------------------------------------------------------------------------------

    def open(self) -> Channel:
        """A free channel (not connected, silent). Raises ChannelsExhausted, RuntimeError
        before `start()` or after `close()`."""
        if not self._transports or self._closed:
            raise RuntimeError("ChannelMedia: open() needs start() and no close()")
        if not self._free:
            raise ChannelsExhausted(f"all {self._count} application channels are in use")
        index = self._free.popleft()
        channel = Channel(self, index)
        self._open[index] = channel
        return channel

    def _release(self, channel: Channel) -> None:
        if self._open.get(channel.index) is not channel:
            return
        del self._open[channel.index]
        self._engine.disconnect(channel.index)
        self._remotes[channel.index] = None
        self._free.append(channel.index)

    def room(self, key: str, settings: ConferenceSettings | None = None) -> Room:
        """The room `key`, created on first use (with `settings`), dropped when empty."""
        found = self._rooms.get(key)
        if found is None:
            found = self._rooms[key] = Room(self, key, settings or ConferenceSettings())
        return found

    def _drop_room(self, room: Room) -> None:
        if self._rooms.get(room.key) is room:
            del self._rooms[room.key]

    def _address(self, index: int) -> Address:
        if not self._transports:
            raise RuntimeError("ChannelMedia: address before start()")
        sockname = self._transports[index].get_extra_info("sockname")
        return str(sockname[0]), int(sockname[1])

    def _connect(
        self, index: int, remote: Address, codec: Encoding, pt: int, event_pt: int | None
    ) -> None:
        self._engine.connect(index, codec, pt, event_pt, self.clock.now())
        self._far_dtmf.reset_channel(index)
        self._remotes[index] = remote

    # -- the network -----------------------------------------------------------------------------

    def _received(self, index: int, data: bytes, addr: tuple[Any, ...]) -> None:
        remote = self._remotes[index]
        if remote is None:
            self._counters["drop_not_connected"] += 1
            return
        if addr[1] != remote[1] or addr[0] != remote[0]:
            self._counters["drop_wrong_source"] += 1
            return
        self._counters["packets_received"] += 1
        self._engine.receive(index, data, self.clock.now())

    # -- the loop --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Tick every 20 ms on the clock until cancelled. Raises RuntimeError before `start()`
        or after `close()`."""
        if not self._transports or self._closed:
            raise RuntimeError("ChannelMedia: run() needs start() and no close()")
        deadline = self.clock.now()
        while True:
            now = self.clock.now()
            late_ticks = int((now - deadline) / TICK_S)
            if late_ticks >= 1:
                self._counters["tick_overruns"] += 1
            if late_ticks > RESYNC_AFTER_TICKS:
                self._counters["schedule_rebased"] += 1
                deadline = now
            self._tick(now)
            deadline += TICK_S
            await self.clock.sleep(deadline - self.clock.now())

    def _tick(self, now: float) -> None:
        started = time.perf_counter()
        n = self._samples
        captured: Frame = np.zeros((self._count, n), np.int16)
        heard: dict[int, Frame] = {}
        for room in self._rooms.values():
            heard.update(room.heard)
        tick = self._tick_count
        for index, channel in self._open.items():
            frame = channel._next_frame(tick)
            mix = heard.get(index)
            if frame is not None and mix is not None:
                total = frame.astype(np.int32) + mix
                captured[index] = np.clip(total, -32768, 32767)
            elif frame is not None:
                captured[index] = frame
            elif mix is not None:
                captured[index] = mix
        engine_started = time.perf_counter()
        result = self._engine.tick(captured, now)
        engine_done = time.perf_counter()
        transports, remotes = self._transports, self._remotes
        for index, data in result.packets:
            remote = remotes[index]
            if remote is not None:
                transports[index].sendto(data, remote)
                self._counters["packets_sent"] += 1
        playback = result.playback
        for event in result.events:
            if isinstance(event, DigitReceived):
                self._digit(event.port, event.digit, DigitSource.RFC4733, now)
        for far in self._far_dtmf.process(playback):
            if isinstance(far, DigitDetected):
                self._digit(far.channel, far.digit, DigitSource.INBAND, now)
        for room in list(self._rooms.values()):
            room._mix(playback, now)
        for index, channel in self._open.items():
            if channel._recording is not None:
                channel._recording.frames.append(playback[index].copy())
                channel._notify()
            if channel._fax is not None:
                for fax in channel._fax.process(playback[index]):
                    channel._publish(FaxToneHeard(index, fax.tone, now))
        self._tick_count += 1
        spent_us = int((time.perf_counter() - started) * 1e6)
        self._tick_total_us += spent_us
        self._engine_total_us += int((engine_done - engine_started) * 1e6)
        self._tick_max_us = max(self._tick_max_us, spent_us)
        if spent_us > TICK_BUDGET_S * 1e6:
            self._counters["tick_over_budget"] += 1

    def _digit(self, index: int, digit: str, source: DigitSource, now: float) -> None:
        channel = self._open.get(index)
        if channel is None or self._remotes[index] is None:
            return
        if channel._digit(digit, source, now):
            self._counters["digits"] += 1
        else:
            self._counters["digits_twin_dropped"] += 1

    def stats(self) -> dict[str, int]:
        """Counters since `start`: ticks, packets, drops by reason (ours and the engine's),
        digits delivered and twins dropped, overruns (ticks that started a whole tick late),
        ticks over the 2 ms budget, loop time in µs (total, max, the engine's share), channels
        open, rooms, paging frames dropped."""
        out = dict(self._counters)
        out.update(
            ticks=self._tick_count,
            send_errors=self._send_errors,
            tick_total_us=self._tick_total_us,
            engine_total_us=self._engine_total_us,
            tick_max_us=self._tick_max_us,
            channels_open=len(self._open),
            rooms=len(self._rooms),
            paging_frames_dropped=sum(r.paging_dropped for r in self._rooms.values()),
        )
        for reason, count in self._engine.drops.items():
            key = f"drop_{reason.value}"
            out[key] = out.get(key, 0) + count
        return out


def _mark_expedited(transport: asyncio.DatagramTransport) -> None:
    sock = cast(socket.socket | None, transport.get_extra_info("socket"))
    if sock is None:
        return
    with contextlib.suppress(OSError):
        if sock.family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, DSCP_EF << 2)
        elif sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, DSCP_EF << 2)


__all__ = [
    "Channel",
    "ChannelClosed",
    "ChannelEvent",
    "ChannelMedia",
    "ChannelsExhausted",
    "DigitPressed",
    "DigitSource",
    "FaxToneHeard",
    "MusicSource",
    "RecordEnd",
    "RecordResult",
    "RecordingError",
    "Room",
]
