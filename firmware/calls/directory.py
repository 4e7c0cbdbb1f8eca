"""Who is who: users with extensions and the devices they ring, as call control needs them.

Built from one configuration revision and replaced whole when a new revision is applied, so a
call in progress keeps the entries it looked up (applying a revision never drops calls).
Users, extensions and devices are separate records; a device is never named by its number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from firmware.sip.uri import SipUri


@dataclass(frozen=True, slots=True)
class UserEntry:
    id: str
    name: str
    extension: str


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    """A SIP endpoint. Registering devices have `username`/`password`; fixed devices (SIP-DECT
    bases, door intercoms) have a `contact` and are trusted by source address when `password`
    is None."""

    id: str
    user: str
    username: str | None = None
    password: str | None = None
    contact: SipUri | None = None

    @property
    def registers(self) -> bool:
        return self.contact is None


class Directory:
    """Lookups by extension, SIP username, user and source host; O(1) each."""

    def __init__(self, users: Iterable[UserEntry], devices: Iterable[DeviceEntry]) -> None:
        self.users: dict[str, UserEntry] = {u.id: u for u in users}
        self._by_extension = {u.extension: u for u in self.users.values()}
        self.devices: dict[str, DeviceEntry] = {d.id: d for d in devices}
        self._by_username = {d.username: d for d in self.devices.values() if d.username}
        self._by_user: dict[str, list[DeviceEntry]] = {}
        for device in self.devices.values():
            self._by_user.setdefault(device.user, []).append(device)
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
