"""The per-tick media engine of the analog ports: the PCM bus joined to RTP, line DSP batched.

Every FXS/FXO port's audio arrives from the PCM bus as one `(channels, 160)` int16 array per
20 ms tick and leaves as one array of the same shape. `AnalogMediaEngine.tick(captured, now)`
runs, per tick and for all ports at once:

1. one `EchoCanceller.process` (ITU-T G.168, `dsp/echo.py`) with far end = the playback array
   returned by the previous tick (what the line has been playing while `captured` was taken)
   and near end = `captured`;
2. one `DtmfReceiver.process` (Q.24, `dsp/dtmf.py`) on the echo-cancelled audio; its
   `DigitOnset`/`DigitDetected` go out as events for every port (dialling needs them on ports
   that are not connected);
3. for each port connected to RTP (`connect`): a G.711 payload from one table look-up over the
   whole array per encoding in use (`codecs/g711.py`), numbered by the port's `RtpSender`
   (RFC 3550 §5.1, RFC 3551 §4.1). A digit detected in-band on a port whose peer negotiated
   telephone-event is relayed as RFC 4733 (`dtmf_relay.DtmfSender`: start, updates every
   50 ms, end three times) and its tone is muted: audio packets stop from the confirming frame
   until the last end packet is out, the media clock advancing meanwhile (RFC 4733 §2.5.1).
   Audio towards RTP is held back `dtmf_lookahead_frames` (default 1, 20 ms) so that at most
   ≈ 16 ms of a tone's start leaks as audio, below Q.24's 25 ms must-reject duration;
4. playback per connected port: `JitterBuffer.get(now)` (adaptive, `jitter.py`), decode, and
   G.711 Appendix I concealment (`dsp/plc.py`) of a missing frame; plus, for ports playing a
   tone (`play_tone`), the next frame of a `ToneGenerator` (`dsp/tones.py`), summed with
   saturation. Ports neither connected nor toned play digital silence.

Received RTP (`receive`) goes through the port's `RtpReceiver` (RFC 3550 A.1 validation and
statistics); telephone-event packets go to a `DtmfEventReceiver` and come out as
`DigitReceived` events, never as audio; packets of other payload types are dropped and counted.

Pure: frames, bytes and `now` (monotonic seconds) in; frames, `(port, bytes)` datagrams and
events out. Narrowband only (G.711 PCMU/PCMA, 160 octets per 20 ms packet); each received
packet is taken as one 20 ms frame (`jitter.py`), a payload of another size is cut or padded.
Levels follow G.711: a full-scale int16 sine is +3.17 dBm0, so a 0 dBm0 sine peaks at
32767 · 10^(−3.17/20) ≈ 22776.

Figures (tests/unit/media/bridge, two ports looped through in-memory RTP with 0–40 ms jitter
and 2 % loss): a −10 dBm0 1 kHz tone arrives on the other port at −9.99 dBm0 (asserted ±0.5 dB),
spectral peak at 1000 Hz, both directions, PCMU and PCMA; a 100 ms DTMF digit is relayed as one
RFC 4733 event (83 ms from the confirming frame, end packets complete) and the audio sent carries
none of it (0 samples leak with the default 1-frame lookahead, 15 ms without); linear ERLE 36 dB
(asserted > 20 dB) on a 10 dB dispersive hybrid echo after 4 s of −18 dBm0 far-end noise,
measured on the µ-law packets sent. CPU (bench/bridge_bench.py, 32 ports all connected and
talking, 2-core EPYC VM): ≈ 1.4 ms per tick, 45 µs per port: echo canceller 10, DTMF 3, and 32
for the per-port RTP numbering and parsing, jitter buffer, PLC and G.711.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from firmware.media.codecs.codec import Encoding
from firmware.media.codecs.g711 import Codes, alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from firmware.media.dsp.dtmf import DigitDetected, DigitOnset, DtmfReceiver
from firmware.media.dsp.echo import EchoCanceller
from firmware.media.dsp.plc import G711Plc
from firmware.media.dsp.tones import ToneGenerator, ToneKind, TonePlan
from firmware.media.dtmf_relay import DigitEnded, DtmfEventReceiver, DtmfSender
from firmware.media.frame import Frame, SampleRate, samples_per_frame
from firmware.media.jitter import JitterBuffer, JitterBufferStats, PlayoutKind
from firmware.media.rtp import RtpError, parse_rtp, rtp_payload
from firmware.media.rtp_session import (
    Arrival,
    RandomSource,
    ReceptionStatistics,
    RtpReceiver,
    RtpSender,
)

log = logging.getLogger(__name__)

_G711 = (Encoding.PCMU, Encoding.PCMA)
_DECODERS = {Encoding.PCMU: ulaw_decode, Encoding.PCMA: alaw_decode}


def _octets(chunks: list[bytes], samples: int) -> Codes:
    """Payloads of `samples` octets each as one `(len(chunks), samples)` array."""
    return np.frombuffer(b"".join(chunks), np.uint8).reshape(len(chunks), samples)


class DropReason(Enum):
    """Why `receive` did not use a datagram (keys of `AnalogMediaEngine.drops`)."""

    NOT_CONNECTED = "not_connected"
    MALFORMED = "malformed"
    UNKNOWN_PAYLOAD_TYPE = "unknown_payload_type"
    BAD_SEQUENCE = "bad_sequence"


@dataclass(frozen=True, slots=True)
class DigitReceived:
    """An RFC 4733 DTMF event from the RTP peer of `port` ended (key `digit`, '*', 'A', or
    `dtmf_relay.FLASH`). `complete` is False when its end packets were lost (timeout or the
    next event began); `duration_ms` is then the last duration reported."""

    port: int
    digit: str
    duration_ms: int
    complete: bool
    at: float


@dataclass(frozen=True, slots=True)
class ToneFinished:
    """A non-looping tone (confirmation) played out on `port`; the port is silent again."""

    port: int
    kind: ToneKind
    at: float


MediaEvent = DigitOnset | DigitDetected | DigitReceived | ToneFinished
"""What `tick` reports: in-band digits on the lines (`channel` = port), relayed digits from RTP,
tones played out."""


@dataclass(frozen=True, slots=True)
class TickResult:
    """One tick's output: the PCM bus frame to play, datagrams to send, events."""

    playback: Frame
    """`(channels, 160)` int16: what each port plays to its line during the next 20 ms."""
    packets: list[tuple[int, bytes]]
    """RTP datagrams as `(port, bytes)`, in the order they were made; the caller sends each
    to the remote address of that port's call."""
    events: list[MediaEvent]


class _Connection:
    """One port's RTP state for one call (mutable, private)."""

    __slots__ = (
        "encoding",
        "payload_type",
        "event_payload_type",
        "sender",
        "receiver",
        "jitter",
        "plc",
        "dtmf_sender",
        "dtmf_receiver",
        "muting",
        "event_start_sample",
    )

    def __init__(
        self,
        encoding: Encoding,
        payload_type: int,
        event_payload_type: int | None,
        rng: RandomSource,
        frame_samples: int,
    ) -> None:
        self.encoding = encoding
        self.payload_type = payload_type
        self.event_payload_type = event_payload_type
        self.sender = RtpSender(payload_type, rng=rng)
        self.receiver = RtpReceiver()
        self.jitter = JitterBuffer(frame_samples=frame_samples)
        self.plc = G711Plc(frame_samples)
        self.dtmf_sender: DtmfSender | None = None
        self.dtmf_receiver: DtmfEventReceiver | None = None
        if event_payload_type is not None:
            self.dtmf_sender = DtmfSender(
                event_payload_type, self.sender.ssrc, self.sender.next_sequence_number
            )
            self.dtmf_receiver = DtmfEventReceiver(event_payload_type)
        self.muting = False
        """True from a relayed digit's onset until its last end packet is out."""
        self.event_start_sample = 0
        """DTMF receiver sample clock at the start of the frame where the event began."""


class AnalogMediaEngine:
    """Media of `channels` analog ports, one 20 ms tick at a time (see the module docstring).

    The caller calls `tick` exactly once per 20 ms with the frame captured from the PCM bus and
    writes the returned playback to it; `receive` whenever a datagram arrives for a port's RTP
    socket; `connect`/`disconnect`/`play_tone` when the call controller says so. `rng` numbers
    the RTP streams (SSRC, first sequence number and timestamp): `random.SystemRandom()` in the
    box, a seeded `random.Random` in tests.
    """

    def __init__(
        self,
        channels: int,
        rate: SampleRate = SampleRate.NARROWBAND,
        *,
        tone_plan: TonePlan,
        rng: RandomSource,
        echo_tail_ms: int = 32,
        nlp: bool = True,
        dtmf_lookahead_frames: int = 1,
        echo: bool = True,
    ) -> None:
        """Raises ValueError for `channels` < 1, a rate other than narrowband (G.711 only) or a
        negative lookahead. `echo=False` skips the echo canceller: for ports whose "line" is
        software (application channels, `channels.py`), there is no hybrid to echo."""
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        if rate is not SampleRate.NARROWBAND:
            raise ValueError("the analog media engine runs at 8 kHz (G.711) only")
        if dtmf_lookahead_frames < 0:
            raise ValueError("dtmf_lookahead_frames must be >= 0")
        self.channels = channels
        self.rate = rate
        self.tone_plan = tone_plan
        self._rng = rng
        self._samples = n = samples_per_frame(rate)
        self._echo = EchoCanceller(channels, echo_tail_ms, rate, nlp=nlp) if echo else None
        self._dtmf = DtmfReceiver(channels, rate)
        self._previous_playback: Frame = np.zeros((channels, n), np.int16)
        self._silence: Frame = np.zeros(n, np.int16)
        self._lookahead: Frame = np.zeros((dtmf_lookahead_frames, channels, n), np.int16)
        self._lookahead_pos = 0
        self._connections: list[_Connection | None] = [None] * channels
        self._tones: dict[int, tuple[ToneKind, ToneGenerator]] = {}
        self._pending_events: list[MediaEvent] = []
        self.drops: dict[DropReason, int] = dict.fromkeys(DropReason, 0)
        """Datagrams `receive` did not use, by reason."""

    # -- control ---------------------------------------------------------------------------------

    def _check_port(self, port: int) -> None:
        if not 0 <= port < self.channels:
            raise ValueError(f"port {port} is not in 0..{self.channels - 1}")

    def connect(
        self,
        port: int,
        codec: Encoding,
        remote_payload_type: int,
        telephone_event_pt: int | None,
        now: float,
    ) -> None:
        """Join `port` to a new RTP stream: `codec` (PCMU or PCMA) under `remote_payload_type`
        both ways (as the SDP answer fixed it), RFC 4733 under `telephone_event_pt` or None
        when the peer has none (digits then stay in-band). Replaces any previous connection of
        the port; the echo canceller starts afresh (a new call). Raises ValueError for another
        codec or port."""
        self._check_port(port)
        if codec not in _G711:
            raise ValueError(f"the analog media engine carries G.711 only, not {codec}")
        self._connections[port] = _Connection(
            codec, remote_payload_type, telephone_event_pt, self._rng, self._samples
        )
        if self._echo is not None:
            self._echo.reset(port)
        log.debug(
            "port %d connected: %s pt %d, events %r",
            port,
            codec,
            remote_payload_type,
            telephone_event_pt,
        )

    def disconnect(self, port: int) -> None:
        """Stop `port`'s RTP (nothing more is sent or played); a no-op if not connected."""
        self._check_port(port)
        self._connections[port] = None

    def is_connected(self, port: int) -> bool:
        """Whether `port` is joined to an RTP stream."""
        self._check_port(port)
        return self._connections[port] is not None

    def play_tone(self, port: int, kind: ToneKind | None) -> None:
        """Play `kind` of the engine's tone plan on `port` from its start (None: stop). A tone
        is summed with the port's RTP audio if it is connected."""
        self._check_port(port)
        if kind is None:
            self._tones.pop(port, None)
        else:
            self._tones[port] = (kind, ToneGenerator(self.tone_plan.tone(kind), self.rate))

    def tone(self, port: int) -> ToneKind | None:
        """The tone `port` plays now, or None."""
        self._check_port(port)
        entry = self._tones.get(port)
        return None if entry is None else entry[0]

    def reception(self, port: int) -> ReceptionStatistics | None:
        """RTP reception figures of `port`'s call (RFC 3550 A.3, A.8), None if not connected."""
        self._check_port(port)
        conn = self._connections[port]
        return None if conn is None else conn.receiver.statistics()

    def jitter_stats(self, port: int) -> JitterBufferStats | None:
        """`port`'s jitter-buffer counters and delays, None if not connected."""
        self._check_port(port)
        conn = self._connections[port]
        return None if conn is None else conn.jitter.stats()

    # -- input from the network --------------------------------------------------------------

    def receive(self, port: int, data: bytes, now: float) -> None:
        """Take one datagram from `port`'s RTP peer, arrived at `now`. Never raises for what the
        network sent: unusable datagrams are counted in `drops`."""
        self._check_port(port)
        conn = self._connections[port]
        if conn is None:
            self.drops[DropReason.NOT_CONNECTED] += 1
            return
        try:
            header = parse_rtp(data)
        except RtpError as exc:
            log.debug("port %d: RTP dropped: %s", port, exc.reason)
            self.drops[DropReason.MALFORMED] += 1
            return
        pt = header.payload_type
        if pt != conn.payload_type and pt != conn.event_payload_type:
            self.drops[DropReason.UNKNOWN_PAYLOAD_TYPE] += 1
            return
        if conn.receiver.receive(header, now) is Arrival.BAD_SEQUENCE:
            self.drops[DropReason.BAD_SEQUENCE] += 1
            return
        payload = rtp_payload(data, header)
        if pt == conn.payload_type:
            conn.jitter.put(header, payload, now)
        elif conn.dtmf_receiver is not None:
            conn.dtmf_receiver.receive(header, payload, now)
            self._collect_relayed(port, conn.dtmf_receiver)

    def _collect_relayed(self, port: int, receiver: DtmfEventReceiver) -> None:
        while (ev := receiver.next_event()) is not None:
            if isinstance(ev, DigitEnded):
                self._pending_events.append(
                    DigitReceived(port, ev.digit, ev.duration_ms, ev.complete, ev.at)
                )

    # -- the tick --------------------------------------------------------------------------------

    def tick(self, captured: Frame, now: float) -> TickResult:
        """Process one 20 ms frame of every port; see the module docstring.

        `captured` is `(channels, 160)` int16 from the PCM bus. Raises ValueError on another
        shape or dtype (a driver bug, not network input).
        """
        n = self._samples
        if captured.shape != (self.channels, n) or captured.dtype != np.int16:
            raise ValueError(
                f"expected int16 ({self.channels}, {n}), got {captured.dtype} {captured.shape}"
            )
        events: list[MediaEvent] = self._pending_events
        self._pending_events = []
        packets: list[tuple[int, bytes]] = []

        sample_clock = self._dtmf.samples_consumed
        cleaned = (
            captured
            if self._echo is None
            else self._echo.process(self._previous_playback, captured)
        )
        digits = self._dtmf.process(cleaned)
        events.extend(digits)

        outgoing = self._delay(cleaned)
        for ev in digits:
            conn = self._connections[ev.channel]
            if conn is None or conn.dtmf_sender is None:
                continue
            if isinstance(ev, DigitOnset):
                self._start_relay(
                    ev.channel, conn, conn.dtmf_sender, ev.digit, sample_clock, now, packets
                )
            else:
                # RFC 4733 §2.5.1.2: the duration runs from the event's timestamp (the frame
                # where the digit was confirmed) to the tone's end.
                per_ms = int(self.rate) // 1000
                end_sample = ev.start_sample + ev.duration_ms * per_ms
                duration_ms = max(0, (end_sample - conn.event_start_sample) // per_ms)
                conn.dtmf_sender.stop(now, duration_ms)

        self._send(outgoing, now, packets)
        playback = self._playback(now, events)
        # A copy: the caller may write into what it gets; the canceller needs what was played.
        self._previous_playback = playback.copy()
        return TickResult(playback, packets, events)

    def _delay(self, cleaned: Frame) -> Frame:
        """The frame captured `dtmf_lookahead_frames` ticks ago; `cleaned` takes its place."""
        if self._lookahead.shape[0] == 0:
            return cleaned
        pos = self._lookahead_pos
        out: Frame = self._lookahead[pos].copy()
        self._lookahead[pos] = cleaned
        self._lookahead_pos = (pos + 1) % self._lookahead.shape[0]
        return out

    def _start_relay(
        self,
        port: int,
        conn: _Connection,
        dtmf: DtmfSender,
        digit: str,
        sample_clock: int,
        now: float,
        packets: list[tuple[int, bytes]],
    ) -> None:
        if dtmf.next_deadline() is not None:
            # The end packets of the previous digit go now: the new event must not share them.
            dtmf.stop(now)
            self._relay_packets(port, conn, dtmf.poll(now + 1.0), now, packets)
        conn.muting = True
        conn.event_start_sample = sample_clock
        dtmf.start(digit, conn.sender.next_timestamp, now)

    def _relay_packets(
        self,
        port: int,
        conn: _Connection,
        relay: Sequence[bytes],
        now: float,
        packets: list[tuple[int, bytes]],
    ) -> None:
        # DtmfSender times the packets and fills the RFC 4733 payload; the port's RtpSender
        # numbers them, so events and audio share one sequence space and media clock (§2.1).
        for packet in relay:
            header = parse_rtp(packet)
            payload = rtp_payload(packet, header)
            numbered = conn.sender.event(payload, header.payload_type, now, start=header.marker)
            packets.append((port, numbered))

    def _send(self, outgoing: Frame, now: float, packets: list[tuple[int, bytes]]) -> None:
        codes: dict[Encoding, bytes | None] = {}
        n = self._samples
        for port, conn in enumerate(self._connections):
            if conn is None:
                continue
            dtmf = conn.dtmf_sender
            if dtmf is not None and dtmf.next_deadline() is not None:
                self._relay_packets(port, conn, dtmf.poll(now), now, packets)
            if conn.muting:
                if dtmf is not None and dtmf.next_deadline() is not None:
                    conn.sender.advance(n)
                    continue
                conn.muting = False
            encoded = codes.get(conn.encoding)
            if encoded is None:
                # One table look-up over every port per encoding in use (g711.py).
                table = ulaw_encode if conn.encoding is Encoding.PCMU else alaw_encode
                encoded = codes[conn.encoding] = table(outgoing).tobytes()
            payload = encoded[port * n : (port + 1) * n]
            packets.append((port, conn.sender.audio(payload, n, now)))

    def _playback(self, now: float, events: list[MediaEvent]) -> Frame:
        n = self._samples
        playback: Frame = np.zeros((self.channels, n), np.int16)
        # Pull every jitter buffer first, so that the frames due can be decoded as one table
        # look-up per encoding (g711.py) rather than one per port.
        due: list[tuple[int, _Connection, PlayoutKind]] = []
        payloads: dict[Encoding, list[bytes]] = {Encoding.PCMU: [], Encoding.PCMA: []}
        for port, conn in enumerate(self._connections):
            if conn is None:
                continue
            receiver = conn.dtmf_receiver
            if receiver is not None and receiver.next_deadline() is not None:
                receiver.handle_timers(now)
                self._collect_relayed(port, receiver)
                events.extend(self._pending_events)
                self._pending_events = []
            out = conn.jitter.get(now)
            if out.kind is PlayoutKind.AUDIO:
                payload = out.payload
                if len(payload) != n:
                    # Not a 20 ms packet (another ptime): cut or pad, as jitter.py takes
                    # every packet for one 20 ms frame. 0xFF / 0xD5 decode to (near) zero.
                    fill = b"\xff" if conn.encoding is Encoding.PCMU else b"\xd5"
                    payload = payload[:n].ljust(n, fill)
                payloads[conn.encoding].append(payload)
            due.append((port, conn, out.kind))
        decoded = {
            encoding: iter(_DECODERS[encoding](_octets(chunks, n)))
            for encoding, chunks in payloads.items()
            if chunks
        }
        for port, conn, playout in due:
            if playout is PlayoutKind.AUDIO:
                playback[port] = conn.plc.good(next(decoded[conn.encoding]))
            elif playout is PlayoutKind.CONCEAL:
                playback[port] = conn.plc.conceal()
            else:
                playback[port] = conn.plc.good(self._silence)
        finished: list[int] = []
        for port, (kind, generator) in self._tones.items():
            tone = generator.next_frame()
            if self._connections[port] is None:
                playback[port] = tone
            else:
                mixed = playback[port].astype(np.int32) + tone
                playback[port] = np.clip(mixed, -32768, 32767)
            if generator.finished:
                finished.append(port)
                events.append(ToneFinished(port, kind, now))
        for port in finished:
            del self._tones[port]
        return playback
