"""DECT: a base station (a DECT module on a UART) and the handsets subscribed to it.

The base opens a registration window for new handsets (GAP, EN 300 444: the handset's user
enters the base's PIN), keeps a table of subscribed handsets, and controls calls per handset:
page (ring, with caller-ID text), connect (a PCM slot carries the call's audio), release. It
writes display text and the message-waiting indication. What handsets do arrives on `events()`:
registration, talk and end keys, keypad, and handovers — with several bases, a handset in a
call moves from one base to another (`HandoverStarted` then `HandoverCompleted` on the new base).

This module is the interface only; `hal.sim` and `drivers/dect` implement it.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

from hal.audio import AudioPort
from hal.eventqueue import DEFAULT_MAXLEN, EventDevice
from hal.events import DectEvent


@dataclass(frozen=True, slots=True)
class Handset:
    """A subscribed handset: its slot number on the base, identity and where it is."""

    number: int
    ipui: str
    in_range: bool = True


@dataclass(frozen=True, slots=True)
class CallerIdText:
    """What a paged handset displays about the caller (either part may be empty)."""

    number: str
    name: str = ""


class DectBase(EventDevice[DectEvent], abc.ABC):
    """One DECT base. Commands raise `hal.errors.DeviceError` when the module fails, KeyError
    for a handset number not subscribed, RuntimeError when the base is not open."""

    def __init__(self, name: str, audio_ports: Sequence[AudioPort],
                 queue_maxlen: int = DEFAULT_MAXLEN) -> None:
        super().__init__(name, queue_maxlen)
        self.audio_ports = tuple(audio_ports)
        """The base's PCM slots: how many calls it carries at once. Each is named
        "<base>.<n>" (n from 1), so that the PCM bus's channel map keeps them all."""

    @property
    @abc.abstractmethod
    def registration_open(self) -> bool: ...

    @abc.abstractmethod
    async def open_registration(self, duration_s: float, pin: str) -> None:
        """Accept new handsets for `duration_s` with `pin` (4 digits, GAP)."""

    @abc.abstractmethod
    async def close_registration(self) -> None: ...

    @abc.abstractmethod
    def handsets(self) -> Sequence[Handset]:
        """The subscribed handsets, by number."""

    @abc.abstractmethod
    async def deregister(self, handset: int) -> None: ...

    @abc.abstractmethod
    async def page(self, handset: int, caller_id: CallerIdText | None = None) -> None:
        """Ring `handset`, showing `caller_id`."""

    @abc.abstractmethod
    async def stop_paging(self, handset: int) -> None: ...

    @abc.abstractmethod
    async def connect(self, handset: int) -> AudioPort:
        """Give the handset's call a speech path; returns the PCM slot carrying it. Raises
        DeviceError when every slot is busy."""

    @abc.abstractmethod
    async def release(self, handset: int) -> None:
        """End the handset's call and free its slot; harmless when idle."""

    @abc.abstractmethod
    async def show(self, handset: int, text: str) -> None:
        """Display `text` on the handset (truncated to its display)."""

    @abc.abstractmethod
    async def set_message_waiting(self, handset: int, on: bool) -> None: ...
