"""Who is who: users with extensions and the devices they ring, as call control needs them.

Built from one configuration revision and replaced whole when a new revision is applied, so a
call in progress keeps the entries it looked up (applying a revision never drops calls).
Users, extensions and devices are separate records; a device is never named by its number.
A device is a SIP endpoint (found by username or source address), an analog phone on an FXS
port (found by its port) or a DECT handset (found by base and handset number).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from firmware.config.schema import DeviceKind
from firmware.sip.uri import SipUri

__all__ = ["DeviceEntry", "DeviceKind", "Directory", "UserEntry"]


@dataclass(frozen=True, slots=True)
class UserEntry:
    id: str
    name: str
    extension: str


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    """One endpoint of a user.

    SIP: registering devices have `username`/`password`; fixed devices (SIP-DECT bases, door
    intercoms) have a `contact` and are trusted by source address when `password` is None.
    FXS: `port` is the hal device name (`fxs1`); trusted by the port, no credentials.
    DECT: `port` is the base's hal device name (`dect1`), `handset` its number on the base.
    """

    id: str
    user: str
    username: str | None = None
    password: str | None = None
    contact: SipUri | None = None
    kind: DeviceKind = DeviceKind.SIP
    port: str | None = None
    handset: int | None = None
    hotline: str | None = None
    """FXS/DECT: the number dialled on lifting the handset (door stations, lift phones)."""

    @property
    def registers(self) -> bool:
        """A SIP device that must REGISTER to be reached (no fixed contact)."""
        return self.kind is DeviceKind.SIP and self.contact is None


class Directory:
    """Lookups by extension, SIP username, user, source host, FXS port and DECT handset;
    O(1) each. Duplicates (which the configuration validator refuses) keep the last entry for
    users and devices by id, the first for ports and handsets."""

    def __init__(self, users: Iterable[UserEntry], devices: Iterable[DeviceEntry]) -> None:
        self.users: dict[str, UserEntry] = {u.id: u for u in users}
        self._by_extension = {u.extension: u for u in self.users.values()}
        self.devices: dict[str, DeviceEntry] = {d.id: d for d in devices}
        self._by_username = {d.username: d for d in self.devices.values() if d.username}
        self._by_user: dict[str, list[DeviceEntry]] = {}
        self._by_port: dict[str, DeviceEntry] = {}
        self._by_handset: dict[tuple[str, int], DeviceEntry] = {}
        for device in self.devices.values():
            self._by_user.setdefault(device.user, []).append(device)
            if device.kind is DeviceKind.FXS and device.port is not None:
                self._by_port.setdefault(device.port, device)
            elif (device.kind is DeviceKind.DECT and device.port is not None
                  and device.handset is not None):
                self._by_handset.setdefault((device.port, device.handset), device)
        self._fixed_by_host: dict[str, DeviceEntry] = {
            d.contact.host: d for d in self.devices.values() if d.contact and d.password is None
        }

    def user_by_extension(self, extension: str) -> UserEntry | None:
        return self._by_extension.get(extension)

    def device_by_username(self, username: str) -> DeviceEntry | None:
        return self._by_username.get(username)

    def devices_of(self, user_id: str) -> list[DeviceEntry]:
        return list(self._by_user.get(user_id, ()))

    def trusted_device_at(self, host: str) -> DeviceEntry | None:
        """A fixed-contact device without credentials, identified by its source address."""
        return self._fixed_by_host.get(host)

    def device_at_port(self, port: str) -> DeviceEntry | None:
        """The analog device on FXS port `port` (hal device name), or None (a port with no
        device configured: lifting its handset gives no dial tone)."""
        return self._by_port.get(port)

    def device_of_handset(self, base: str, handset: int) -> DeviceEntry | None:
        """The DECT device that is handset `handset` of base `base` (hal device name)."""
        return self._by_handset.get((base, handset))

    def user_of_device(self, device_id: str) -> UserEntry | None:
        """The user a device rings for (and whose extension and class of service its calls
        carry), or None for an unknown device."""
        device = self.devices.get(device_id)
        return None if device is None else self.users.get(device.user)
