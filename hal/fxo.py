"""FXO: a port that takes a line from the exchange, as a phone would.

The port detects ringing and qualifies it (`hal.linesignal.RingDetector`: `RingDetected` with
the measured cadence, `RingEnded`, `RingStopped`), seizes and releases the line (closes and
opens the loop), dials by loop-disconnect pulses or DTMF, and supervises the line: loop current
(`LoopCurrentChanged`), polarity (`PolarityReversed`), another set on the line
(`LineInUse`). Speech and tones travel on the PCM bus (`audio`).

Caller ID arrives as audio while on-hook: with `monitor_on_hook(True)` the port's slot carries
the line's on-hook audio (the Si3050's on-hook line monitor), so the firmware's decoder can read
FSK sent before the first ring (after a `PolarityReversed`) or between the first and second
ring (after `RingEnded` 1). With it off, the slot carries silence while on-hook.
"""

from __future__ import annotations

import abc
from enum import StrEnum

from hal.audio import AudioPort
from hal.eventqueue import DEFAULT_MAXLEN, EventDevice
from hal.events import FxoEvent
from hal.linesignal import PulseTiming, RingValidation


class DialMethod(StrEnum):
    """How an FXO port sends digits."""

    PULSE = "pulse"
    """Loop-disconnect breaks (decadic), for exchanges without DTMF."""
    DTMF = "dtmf"
    """Q.23 tone pairs on the port's own audio (see `hal.tones.dtmf_frames`)."""


class FxoPort(EventDevice[FxoEvent], abc.ABC):
    """A line from the exchange. Commands raise `hal.errors.DeviceError` when the chip fails
    (and `LineFault` for no battery on the line) and RuntimeError when the port is not open."""

    def __init__(self, name: str, audio: AudioPort,
                 queue_maxlen: int = DEFAULT_MAXLEN) -> None:
        super().__init__(name, queue_maxlen)
        self.audio = audio
        """The port's slot on the PCM bus."""

    @property
    @abc.abstractmethod
    def seized(self) -> bool:
        """We hold the line (loop closed)."""

    @abc.abstractmethod
    async def seize(self) -> None:
        """Go off-hook: answer a ringing line or take it to dial. Idempotent."""

    @abc.abstractmethod
    async def release(self) -> None:
        """Go on-hook (ends any dialling). Idempotent."""

    @abc.abstractmethod
    async def dial(self, digits: str, method: DialMethod = DialMethod.DTMF,
                   pulse_timing: PulseTiming | None = None) -> None:
        """Send `digits` and return when the last one is out. Raises ValueError for a digit
        the method cannot send ("*" by pulses), RuntimeError when the line is not seized."""

    @property
    @abc.abstractmethod
    def ring_validation(self) -> RingValidation: ...

    @abc.abstractmethod
    def set_ring_validation(self, validation: RingValidation) -> None:
        """Qualify ringing with `validation` from the next burst on."""

    @abc.abstractmethod
    async def monitor_on_hook(self, enabled: bool) -> None:
        """Pass the line's audio to the PCM slot while on-hook (caller-ID capture)."""

    @property
    @abc.abstractmethod
    def loop_current_ma(self) -> float:
        """The loop current now (0 when on-hook or none flows)."""

    @property
    @abc.abstractmethod
    def polarity_reversed(self) -> bool:
        """Whether the line's polarity is reversed relative to its idle state."""

    @property
    @abc.abstractmethod
    def line_in_use(self) -> bool:
        """Another set on the line is off-hook (meaningful while we are on-hook)."""
