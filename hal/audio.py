"""The PCM bus: every analog port's audio, 20 ms at a time, all ports in one array.

On the box the ProSLIC and Si3050 chips share one PCM/TDM bus (each port owns a time slot);
the SoC reads and writes it through ALSA as one multi-channel stream. The firmware therefore
does one `exchange()` per 20 ms tick for all ports: it hands over what every port plays and
gets what every port captured, as `(slots, 160)` int16 arrays at 8 kHz — never per sample, so
DSP runs as array operations over all ports at once.

`Frame` here is the same alias as `firmware.media.frame.Frame` (hal must not import firmware):
`npt.NDArray[np.int16]`, shape `(samples,)` or `(channels, samples)`. Levels follow G.711: a
full-scale sine is +3.17 dBm0, so a 0 dBm0 sine peaks at 32767 · 10^(−3.17/20) ≈ 22776.

Each port holds an `AudioPort`: its slot, and a short queue of frames the port sends *itself*
— DTMF when an FXO port dials, caller-ID FSK when an FXS port transmits on-hook — which the
bus plays in place of the firmware's audio for that slot, one frame per tick.
"""

from __future__ import annotations

import abc
import collections
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from hal.device import Device

Frame: TypeAlias = npt.NDArray[np.int16]
"""Linear PCM, `(samples,)` or `(channels, samples)`; identical to firmware's `Frame`."""

RATE_HZ = 8000
FRAME_MS = 20
FRAME_SAMPLES = RATE_HZ * FRAME_MS // 1000
"""160 samples per port per tick."""
FULL_SCALE_DBM0 = 3.17
"""G.711: the level of a full-scale int16 sine."""


def silence(channels: int | None = None) -> Frame:
    """One tick of digital silence: `(160,)`, or `(channels, 160)`."""
    shape = (FRAME_SAMPLES,) if channels is None else (channels, FRAME_SAMPLES)
    return np.zeros(shape, dtype=np.int16)


def check_frame(frame: Frame, channels: int | None = None) -> None:
    """Raise ValueError unless `frame` is int16 of one tick (`channels` rows when given)."""
    shape = (FRAME_SAMPLES,) if channels is None else (channels, FRAME_SAMPLES)
    if not isinstance(frame, np.ndarray) or frame.dtype != np.int16 or frame.shape != shape:
        got = (f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray)
               else type(frame).__name__)
        raise ValueError(f"audio frame must be int16 of shape {shape}, not {got}")


class AudioPort:
    """One port's place on the PCM bus: its `slot`, and the frames it sends itself."""

    def __init__(self, device: str, slot: int) -> None:
        if slot < 0:
            raise ValueError(f"{device}: PCM slot must be ≥ 0, not {slot}")
        self.device = device
        self.slot = slot
        self._own: collections.deque[Frame] = collections.deque()

    def of(self, frames: Frame) -> Frame:
        """This port's row of a captured `(slots, 160)` array."""
        row: Frame = frames[self.slot]
        return row

    def put(self, frames: Frame, frame: Frame) -> None:
        """Write `frame` as this port's row of a playback array."""
        check_frame(frame)
        frames[self.slot] = frame

    def play(self, frames: Iterable[Frame]) -> None:
        """Queue frames the port sends itself; they replace the firmware's audio for this slot,
        one per tick, until used up. Raises ValueError for a malformed frame."""
        checked = []
        for frame in frames:
            check_frame(frame)
            checked.append(frame)
        self._own.extend(checked)

    @property
    def own_frames_queued(self) -> int:
        return len(self._own)

    def cancel(self) -> None:
        """Drop the port's own frames not yet played."""
        self._own.clear()

    def take_own_frame(self) -> Frame | None:
        """For bus implementations: the port's own frame for this tick, if any."""
        return self._own.popleft() if self._own else None

    def __repr__(self) -> str:
        return f"<AudioPort {self.device} slot {self.slot}>"


class PcmBus(Device, abc.ABC):
    """The multi-slot PCM stream; the ports on it are known when it is built.

    `exchange()` is called once per tick by the firmware's media loop; it paces the loop (it
    returns when the hardware has the next 20 ms). Slots without a port carry silence.
    """

    def __init__(self, name: str, slots: int, ports: Sequence[AudioPort]) -> None:
        super().__init__(name)
        if slots < 1:
            raise ValueError(f"{name}: a PCM bus needs ≥ 1 slot, not {slots}")
        owners: dict[int, str] = {}
        for port in ports:
            if port.slot >= slots:
                raise ValueError(f"{name}: {port.device} uses PCM slot {port.slot}; "
                                 f"the bus has slots 0-{slots - 1}")
            if port.slot in owners:
                raise ValueError(f"{name}: {owners[port.slot]} and {port.device} both use "
                                 f"PCM slot {port.slot}")
            owners[port.slot] = port.device
        self.slots = slots
        self._ports = MappingProxyType({p.device: p for p in ports})
        self.xruns = 0
        """Ticks the firmware missed (it called `exchange` too late); audio was lost."""

    @property
    def ports(self) -> Mapping[str, AudioPort]:
        """The channel map: device name → its AudioPort."""
        return self._ports

    def port(self, device: str) -> AudioPort:
        """The AudioPort of `device` ("fxs1"). Raises KeyError."""
        return self._ports[device]

    @abc.abstractmethod
    async def exchange(self, playback: Frame) -> Frame:
        """Play `playback` (`(slots, 160)` int16) on the next tick and return what was
        captured during it. Raises ValueError for a malformed array, DeviceError when the bus
        fails."""

    def _with_own_frames(self, playback: Frame) -> Frame:
        """For implementations: `playback` with each port's own frame for this tick in place."""
        check_frame(playback, self.slots)
        out = playback
        for port in self._ports.values():
            own = port.take_own_frame()
            if own is not None:
                if out is playback:
                    out = playback.copy()
                out[port.slot] = own
        return out
