"""The "alsa" driver: the PCM/TDM bus and the paging output from a board description.

Options, per section (every problem is named, `pcm[0].slots: …`):

    pcm     device = "hw:CARD=…,DEV=0"   capture_device = "hw:CARD=…,DEV=1" (default: device)
            slots = 8   channels = 8 (default: slots)
            channel_of_slot = [0, 1, …] (default: slot n on ALSA channel n)
            periods = 4 (ALSA buffer, 2-16)   prefill_periods = 2 (playback lead, 1…periods-1)
    paging  device = "plughw:CARD=Headphones,DEV=0"   amplifier_relay = "relay3"
            warmup_ms = 300 (0-5000)

The bus carries every FXS, FXO and DECT port created before it (sections are built in
`hal.board.DeviceKind` order, [[pcm]] last); the ports' slots come from their own drivers. The
paging output's amplifier relay is a relay of the board, by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from drivers.pcm.alsa import PcmOpener, open_alsaaudio
from drivers.pcm.bus import DEFAULT_PERIODS, DEFAULT_PREFILL_PERIODS, AlsaPcmBus
from drivers.pcm.paging import DEFAULT_WARMUP_MS, AlsaPagingOutput
from hal.audio import AudioPort
from hal.board import BoardEntry, BoardError, DeviceKind, EntryProblems, is_whole_number
from hal.dect import DectBase
from hal.device import Device
from hal.fxo import FxoPort
from hal.fxs import FxsPort
from hal.loader import BoardContext, DeviceFactory
from hal.relay import Relay

MAX_CHANNELS = 64
_OPTIONS: dict[DeviceKind, tuple[str, ...]] = {
    DeviceKind.PCM: ("device", "capture_device", "slots", "channels", "channel_of_slot", "periods",
                     "prefill_periods"),
    DeviceKind.PAGING: ("device", "amplifier_relay", "warmup_ms"),
}


class _Problems(EntryProblems):
    def __init__(self, entry: BoardEntry) -> None:
        super().__init__(entry, "alsa")

    def integer(self, key: str, default: int | None, lo: int, hi: int) -> int:
        value = self.entry.options.get(key, default)
        if value is None:
            self.add(key, f"missing: add `{key} = …` ({lo}-{hi})")
            return lo
        if not is_whole_number(value) or not lo <= value <= hi:
            self.add(key, f"must be a whole number {lo}-{hi}, not {value!r}")
            return lo if default is None else default
        return int(value)

    def device(self, example: str) -> str:
        value = self.entry.options.get("device")
        if not isinstance(value, str) or not value:
            self.add("device", f'missing: add the ALSA device, e.g. `device = "{example}"`')
            return ""
        return value



def audio_ports(devices: Sequence[Device]) -> list[AudioPort]:
    """The PCM slots of the board's FXS, FXO and DECT devices, in creation order."""
    ports: list[AudioPort] = []
    for device in devices:
        if isinstance(device, FxsPort | FxoPort):
            ports.append(device.audio)
        elif isinstance(device, DectBase):
            ports.extend(device.audio_ports)
    return ports


def make_create_devices(opener: PcmOpener) -> DeviceFactory:
    """An "alsa" factory whose streams come from `opener` (tests: a fake PCM)."""

    def create_devices(entry: BoardEntry, next_name: Callable[[], str],
                       context: BoardContext) -> Sequence[Device]:
        problems = _Problems(entry)
        allowed = _OPTIONS.get(entry.kind)
        if allowed is None:
            problems.add("driver", f"the alsa driver serves [[pcm]] and [[paging]]; "
                                   f"not [[{entry.kind.value}]]")
            problems.raise_if_any()
            return []
        for key in sorted(set(entry.options) - set(allowed)):
            takes = ", ".join(f"`{k}`" for k in allowed)
            problems.add(key, f"unknown option of the alsa driver; {entry.kind.value} takes "
                              f"only {takes}")
        if entry.kind is DeviceKind.PAGING:
            return _paging(problems, next_name, context, opener)
        return _bus(problems, next_name, context, opener)

    return create_devices


def _paging(problems: _Problems, next_name: Callable[[], str], context: BoardContext,
            opener: PcmOpener) -> Sequence[Device]:
    device = problems.device("plughw:CARD=Headphones,DEV=0")
    warmup_ms = problems.integer("warmup_ms", DEFAULT_WARMUP_MS, 0, 5000)
    relay_name = problems.entry.options.get("amplifier_relay")
    amplifier: Relay | None = None
    if relay_name is not None:
        relays = {d.name: d for d in context.devices if isinstance(d, Relay)}
        if not isinstance(relay_name, str) or relay_name not in relays:
            known = ", ".join(relays) or "none"
            problems.add("amplifier_relay", f"no relay {relay_name!r} on this board "
                                            f"(relays: {known})")
        else:
            amplifier = relays[relay_name]
    problems.raise_if_any()
    return [AlsaPagingOutput(next_name(), device, context.clock, amplifier, warmup_ms, opener)]


def _bus(problems: _Problems, next_name: Callable[[], str], context: BoardContext,
         opener: PcmOpener) -> Sequence[Device]:
    device = problems.device("hw:CARD=switchboxpcm,DEV=0")
    capture_device = problems.entry.options.get("capture_device", device)
    if not isinstance(capture_device, str) or not capture_device:
        problems.add("capture_device", f"must be an ALSA device name, not {capture_device!r}")
        capture_device = device
    slots = problems.integer("slots", None, 1, MAX_CHANNELS)
    channels = problems.integer("channels", slots, 1, MAX_CHANNELS)
    if channels < slots:
        problems.add("channels", f"must be ≥ slots ({slots}), not {channels}")
    mapping = problems.entry.options.get("channel_of_slot")
    if mapping is not None and (not isinstance(mapping, list) or len(mapping) != slots
                                or not all(is_whole_number(c) and 0 <= c < channels
                                           for c in mapping)
                                or len(set(mapping)) != len(mapping)):
        problems.add("channel_of_slot", f"must list {slots} distinct ALSA channels "
                                        f"0-{channels - 1}, one per slot")
        mapping = None
    periods = problems.integer("periods", DEFAULT_PERIODS, 2, 16)
    prefill = problems.integer("prefill_periods", DEFAULT_PREFILL_PERIODS, 1, 15)
    if prefill >= periods:
        problems.add("prefill_periods", f"must be less than periods ({periods}), not {prefill}")
    problems.raise_if_any()
    try:
        return [AlsaPcmBus(next_name(), device, slots, audio_ports(context.devices),
                           context.clock, opener, capture_device=capture_device,
                           channels=channels, channel_of_slot=mapping,
                           periods=periods, prefill_periods=prefill)]
    except ValueError as exc:  # a port's slot outside the bus, or two ports on one slot
        reason = str(exc).split(": ", 1)[-1]
        raise BoardError("alsa", [f"{problems.entry.path}.slots: {reason}"]) from exc


create_devices: DeviceFactory = make_create_devices(open_alsaaudio)
"""The registry's "alsa" factory: pyalsaaudio streams."""
