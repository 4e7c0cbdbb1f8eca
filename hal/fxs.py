"""FXS: a port that feeds an analog phone (battery, ringing, caller ID) and reads its loop.

The port drives the line through linefeed states (the ProSLIC's LINEFEED register: open,
forward active, reverse active, on-hook transmission, ringing), rings with a cadence, sends
caller ID in the on-hook transmission window, reverses polarity, lights the message-waiting
lamp. What the phone does arrives on `events()`: `OffHook`, `OnHook`, `HookFlash` and
`PulseDigit` (decoded by `hal.linesignal.HookDecoder` with the port's `HookTiming`), and
`PortAlarm` for line faults. DTMF and speech travel on the PCM bus (`audio`).

Caller ID (ETSI EN 300 659-1, Bell 202 / Telcordia GR-30): AFTER_FIRST_RING sends the frames
from 500 ms into the first cycle's closing pause (after the first burst of a 1 s / 4 s cadence,
after the second of the British double ring), well inside it; BEFORE_FIRST_RING reverses the
line polarity, waits 250 ms, sends the frames, restores polarity and starts ringing 250 ms later
(EN 300 659-1 §6.1.1 "prior to ringing, line reversal").
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from enum import StrEnum

from hal.audio import AudioPort, Frame
from hal.eventqueue import DEFAULT_MAXLEN, EventDevice
from hal.events import FxsEvent
from hal.linesignal import HookTiming, RingCadence

CALLER_ID_AFTER_RING_S = 0.5
"""Pause between the end of the first burst and the caller-ID frames (EN 300 659-1: ≥ 500 ms)."""
CALLER_ID_LINE_REVERSAL_S = 0.25
"""Before-ring caller ID: line reversal → frames, and frames → first ring."""


class Linefeed(StrEnum):
    """What the port puts on the line."""

    OPEN = "open"
    """No battery: the port is disabled or in a line fault."""
    FORWARD_ACTIVE = "forward_active"
    """Normal battery; idle or talking."""
    REVERSE_ACTIVE = "reverse_active"
    """Battery reversed: answer or disconnect signal to pay phones and PBXs behind us."""
    ON_HOOK_TRANSMISSION = "on_hook_transmission"
    """Battery with the audio path open while on-hook: caller-ID transmission."""
    RINGING = "ringing"
    """Ring voltage on, following the cadence (the bursts and pauses both count)."""


class CallerIdTiming(StrEnum):
    """When caller ID goes out relative to ringing."""

    AFTER_FIRST_RING = "after_first_ring"
    """Bell 202, ETSI "during ringing": between the first and second burst."""
    BEFORE_FIRST_RING = "before_first_ring"
    """ETSI "prior to ringing" announced by a line reversal (common in Europe and Russia)."""


class FxsPort(EventDevice[FxsEvent], abc.ABC):
    """An analog phone port. Commands raise `hal.errors.DeviceError` when the chip fails and
    RuntimeError when the port is not open."""

    def __init__(self, name: str, audio: AudioPort,
                 queue_maxlen: int = DEFAULT_MAXLEN) -> None:
        super().__init__(name, queue_maxlen)
        self.audio = audio
        """The port's slot on the PCM bus."""

    @property
    @abc.abstractmethod
    def linefeed(self) -> Linefeed:
        """The state the line is driven in now."""

    @property
    @abc.abstractmethod
    def off_hook(self) -> bool:
        """The phone's hook state as decoded (debounced; a break not yet decided counts as
        off-hook)."""

    @property
    @abc.abstractmethod
    def hook_timing(self) -> HookTiming:
        """The flash window, pulse windows and debounce this port uses."""

    @abc.abstractmethod
    def set_hook_timing(self, timing: HookTiming) -> None:
        """Use `timing` from the next signal on (per-port setting from the configuration)."""

    @abc.abstractmethod
    async def ring(self, cadence: RingCadence, caller_id: Sequence[Frame] = (),
                   caller_id_timing: CallerIdTiming = CallerIdTiming.AFTER_FIRST_RING) -> None:
        """Start ringing with `cadence`, sending `caller_id` (FSK frames made by the firmware)
        at `caller_id_timing`. Returns at once; ringing stops by itself when the phone goes
        off-hook (ring trip) or on `stop_ringing()`. A port off-hook does not ring."""

    @abc.abstractmethod
    async def stop_ringing(self) -> None:
        """Stop ringing and any caller ID in progress; harmless when not ringing."""

    @abc.abstractmethod
    async def send_caller_id(self, frames: Sequence[Frame]) -> bool:
        """Send `frames` in the on-hook transmission state without ringing (a message-waiting
        or a before-ring announcement the firmware sequences itself). Returns at once, False
        when the phone is off-hook (nothing sent)."""

    @abc.abstractmethod
    async def set_polarity(self, reversed: bool) -> None:
        """Drive the line reversed (True) or forward; no effect on an open or ringing line
        beyond remembering it for afterwards."""

    @property
    @abc.abstractmethod
    def polarity_reversed(self) -> bool: ...

    @abc.abstractmethod
    async def set_message_waiting(self, on: bool) -> None:
        """Light (flash) or clear the phone's message-waiting lamp."""

    @property
    @abc.abstractmethod
    def message_waiting(self) -> bool: ...
