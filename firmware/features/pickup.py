"""Call pickup: answer, from your own phone, a call ringing at a colleague's.

What installers expect (Panasonic KX-TDA/NS "Call Pickup — group / directed", Asterisk's
`namedcallgroup` / `namedpickupgroup` split, architecture only):

- every device belongs to pickup groups; a call ringing at a device can be picked up by any
  device of one of those groups, and by devices that *listen* to the group without being in
  it (a receptionist listening to "sales" and "support"); a device may be in several groups;
- group pickup (`*8` on many boxes) takes the call that has rung longest at a device in the
  picker's groups — never a call that rings at the picker itself or that the picker placed;
- directed pickup (`**201`) takes the longest-ringing call at the named extension's devices;
  by default any phone may (Panasonic allows it unless class of service denies it; pass
  `directed_within_groups=True` to restrict it to the picker's groups as Asterisk does);
- a picked-up call is claimed at once, so two colleagues pressing pickup together never get
  the same call: the second gets the next call or nothing.

Pure: no I/O; `now` is the board's monotonic clock in seconds. The controller reports ringing
and stopping legs and, on a pickup, answers the call at the picker's device and cancels the
other legs (cause answered_elsewhere).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from firmware.calls.events import CallId

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PickupMember:
    """A device's pickup groups."""

    device: str
    groups: frozenset[str] = frozenset()
    """Groups the device belongs to: its ringing calls can be picked up by these groups, and it
    picks up theirs."""
    listens: frozenset[str] = frozenset()
    """Further groups whose calls it may pick up, without its own calls being picked up by them."""

    @property
    def picks_up(self) -> frozenset[str]:
        return self.groups | self.listens


@dataclass(slots=True)
class _Ringing:
    caller_device: str | None
    since: dict[str, float] = field(default_factory=dict)
    """Device → when it started ringing."""


class PickupGroups:
    """Which calls ring where, and who may take them."""

    def __init__(self, members: Iterable[PickupMember], *,
                 directed_within_groups: bool = False) -> None:
        self._members: Mapping[str, PickupMember] = {m.device: m for m in members}
        self._directed_within_groups = directed_within_groups
        self._calls: dict[CallId, _Ringing] = {}

    # -- inputs --

    def ringing(self, call: CallId, device: str, now: float,
                caller_device: str | None = None) -> None:
        """`device` started ringing for `call` (placed by `caller_device`, if a local phone)."""
        entry = self._calls.setdefault(call, _Ringing(caller_device))
        if caller_device is not None:
            entry.caller_device = caller_device
        entry.since.setdefault(device, now)

    def stopped(self, call: CallId, device: str | None = None) -> None:
        """`device` stopped ringing for `call`; None: the call stopped ringing everywhere
        (answered or ended)."""
        entry = self._calls.get(call)
        if entry is None:
            return
        if device is not None:
            entry.since.pop(device, None)
        if device is None or not entry.since:
            del self._calls[call]

    def group_pickup(self, by_device: str) -> CallId | None:
        """Claim the longest-ringing call rung at a device in `by_device`'s groups."""
        picker = self._members.get(by_device)
        if picker is None or not picker.picks_up:
            return None
        devices = {d for d, m in self._members.items() if m.groups & picker.picks_up}
        return self._claim(by_device, devices)

    def directed_pickup(self, by_device: str, target_device_ids: Iterable[str]) -> CallId | None:
        """Claim the longest-ringing call at any of `target_device_ids` (an extension's
        devices)."""
        targets = set(target_device_ids)
        if self._directed_within_groups:
            picker = self._members.get(by_device)
            allowed = picker.picks_up if picker is not None else frozenset()
            targets = {d for d in targets
                       if d in self._members and self._members[d].groups & allowed}
        return self._claim(by_device, targets)

    # -- outputs --

    def handle_timers(self, now: float) -> None:
        """Nothing expires: ringing ends when the controller says so. Present for the uniform
        core interface."""

    def next_deadline(self) -> float | None:
        return None

    def ringing_at(self, device: str) -> tuple[CallId, ...]:
        """Calls ringing at `device`, longest first (for a BLF key's pickup)."""
        found = [(e.since[device], c) for c, e in self._calls.items() if device in e.since]
        return tuple(c for _, c in sorted(found, key=lambda x: x[0]))

    # -- internals --

    def _claim(self, by_device: str, devices: set[str]) -> CallId | None:
        best: tuple[float, CallId] | None = None
        for call, entry in self._calls.items():
            if by_device in entry.since or entry.caller_device == by_device:
                continue  # the picker's own call: it can answer or hang up instead
            times = [t for d, t in entry.since.items() if d in devices]
            if times and (best is None or min(times) < best[0]):
                best = (min(times), call)
        if best is None:
            return None
        del self._calls[best[1]]
        log.info("call %s picked up by %r", best[1], by_device)
        return best[1]
