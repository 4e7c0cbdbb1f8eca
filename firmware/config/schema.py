"""The configuration document: one frozen dataclass per section, each setting declared once.

Every setting carries its meaning, unit and bounds in `field(metadata=setting(...))`. The same
declarations drive the YAML/dict validator (`firmware.config.validate`), the configuration
reference (`firmware.config.reference`, committed as docs/CONFIGURATION.md) and, later, the web
form. Adding a section (departments, inbound routes, schedules, trunks, DECT) means adding a
dataclass here and a field on `Config` with a default, so existing documents stay valid.

Cross-field rules (unique extensions, a device's user must exist, password strength, …) live in
the validator because they need the path and line of the offending value to report them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Format(StrEnum):
    """Value formats the validator checks beyond type, bounds and pattern."""

    IP_ADDRESS = "ip_address"
    """An IPv4 or IPv6 address literal."""
    HOST = "host"
    """An IP address literal or a DNS host name."""
    SIP_URI = "sip_uri"
    """A `sip:` or `sips:` URI with a host."""
    PASSWORD = "password"
    """A secret: never logged, never shown in the reference, checked for strength."""


def setting(
    doc: str,
    *,
    unit: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    pattern: str | None = None,
    pattern_hint: str | None = None,
    fmt: Format | None = None,
    example: str | None = None,
    unique: bool = False,
) -> Mapping[str, Any]:
    """Metadata for one setting: the single declaration of its meaning, unit and bounds.

    `minimum`/`maximum` bound numbers (inclusive) and the length of strings and lists;
    `pattern` is a full-match regular expression for strings and `pattern_hint` says it in words
    for error messages ("2 to 5 digits"); `unique` forbids repeated items in a list.
    """
    return MappingProxyType(
        {
            "doc": doc,
            "unit": unit,
            "minimum": minimum,
            "maximum": maximum,
            "pattern": pattern,
            "pattern_hint": pattern_hint,
            "format": fmt,
            "example": example,
            "unique": unique,
        }
    )


ID_PATTERN = r"[a-z0-9][a-z0-9_.-]*"
ID_HINT = "lower-case letters, digits, '.', '_' and '-', starting with a letter or digit"


class Transport(StrEnum):
    """SIP transports Switchbox listens on (TLS arrives with trunks)."""

    UDP = "udp"
    TCP = "tcp"


class DigestAlgorithm(StrEnum):
    """Digest algorithms offered in challenges (RFC 7616, RFC 8760)."""

    SHA256 = "sha-256"
    MD5 = "md5"


class Role(StrEnum):
    """What a user may do beyond calling: admins may edit the configuration."""

    USER = "user"
    ADMIN = "admin"


class DeviceKind(StrEnum):
    """What kind of endpoint a device is (analog ports and DECT handsets come later)."""

    SIP = "sip"


class DeviceAuth(StrEnum):
    """How Switchbox trusts a device's requests."""

    DIGEST = "digest"
    """The device registers and is challenged with its username and password (RFC 3261 §22)."""
    NONE = "none"
    """The device does not authenticate; it is reached at its fixed `contact` only."""


@dataclass(frozen=True, slots=True)
class OfficeSettings:
    """The office as a whole."""

    name: str = field(
        default="Switchbox office",
        metadata=setting("Name shown on phones, the web page and the front panel.",
                         minimum=1, maximum=64, pattern=r"[^\x00-\x1f\x7f]*",
                         pattern_hint="printable characters")
    )
    country: str = field(
        default="RU",
        metadata=setting("ISO 3166-1 alpha-2 country code; selects tones and number formats.",
                         pattern=r"[A-Z]{2}", pattern_hint="two upper-case letters, e.g. RU",
                         example="RU")
    )


@dataclass(frozen=True, slots=True)
class PortRange:
    """A range of UDP ports, both ends included."""

    start: int = field(
        default=10000,
        metadata=setting("First port; even, because RTP takes even ports and RTCP the next "
                         "odd one (RFC 3550 §11).", minimum=1024, maximum=65534)
    )
    end: int = field(
        default=20000,
        metadata=setting("Last port; the range holds (end - start + 1) / 2 media streams.",
                         minimum=1025, maximum=65535)
    )


@dataclass(frozen=True, slots=True)
class RegistrationSettings:
    """How long device registrations last (RFC 3261 §10.2.1.1, §10.3 step 7)."""

    min_expires_s: int = field(
        default=60,
        metadata=setting("Shortest registration accepted; shorter requests get 423 "
                         "Interval Too Brief.", unit="s", minimum=10, maximum=3600)
    )
    max_expires_s: int = field(
        default=3600,
        metadata=setting("Longest registration granted; longer requests are shortened.",
                         unit="s", minimum=60, maximum=86400)
    )
    default_expires_s: int = field(
        default=600,
        metadata=setting("Registration granted when the device asks for none.",
                         unit="s", minimum=10, maximum=86400)
    )


@dataclass(frozen=True, slots=True)
class SipSettings:
    """The SIP service: where it listens and what it tells peers."""

    listen: str = field(
        default="0.0.0.0",
        metadata=setting("Address to bind; 0.0.0.0 listens on all IPv4 interfaces, :: on all.",
                         fmt=Format.IP_ADDRESS)
    )
    port: int = field(
        default=5060,
        metadata=setting("Port for SIP over every transport (RFC 3261 §18: 5060).",
                         minimum=1, maximum=65535)
    )
    transports: tuple[Transport, ...] = field(
        default=(Transport.UDP, Transport.TCP),
        metadata=setting("Transports to listen on.", minimum=1, unique=True)
    )
    advertise: str | None = field(
        default=None,
        metadata=setting("Address put in Via, Contact and SDP; null: the primary IP address "
                         "detected at start. Set it when phones reach us through NAT.",
                         fmt=Format.HOST)
    )
    realm: str = field(
        default="switchbox",
        metadata=setting("Digest authentication realm (RFC 3261 §22.1); phones show it when "
                         "asking for a password.", minimum=1, maximum=64,
                         pattern=r"[A-Za-z0-9._-]+",
                         pattern_hint="letters, digits, '.', '_' and '-'")
    )
    digest_algorithms: tuple[DigestAlgorithm, ...] = field(
        default=(DigestAlgorithm.MD5,),
        metadata=setting("Digest algorithms offered, in order of preference (RFC 8760 §2.4). "
                         "MD5 alone by default: SIPp reads only the first challenge and "
                         "libre-based phones (baresip 1.0) give up when any challenge is not "
                         "MD5. Use [sha-256, md5] when every phone supports SHA-256.",
                         minimum=1, unique=True)
    )
    rtp_ports: PortRange = field(
        default_factory=PortRange,
        metadata=setting("UDP ports for RTP and RTCP media.")
    )
    kernel_forwarding: bool = field(
        default=True,
        metadata=setting("Let the Linux kernel (nftables) forward the audio of calls that no "
                         "feature needs to hear, instead of the service: a few times cheaper "
                         "per packet. Needs the nft command and root (CAP_NET_ADMIN); without "
                         "them media is relayed by the service, as with false. When phones "
                         "are on the network and IPv4 forwarding is off, it is switched on "
                         "with a guard that forwards nothing but this media.")
    )
    registration: RegistrationSettings = field(
        default_factory=RegistrationSettings,
        metadata=setting("Registration lifetimes.")
    )


@dataclass(frozen=True, slots=True)
class CallSettings:
    """How calls behave across the office."""

    ring_timeout_s: float = field(
        default=60.0,
        metadata=setting("Seconds a call rings before the caller hears 480 Temporarily "
                         "Unavailable (no answer).", unit="s", minimum=1.0, maximum=600.0)
    )
    media_timeout_s: float = field(
        default=120.0,
        metadata=setting("An answered call in which no RTP or RTCP has passed for this long "
                         "(both phones gone: power cut, network down) is hung up, so that "
                         "nobody stays busy for ever; calls on hold are exempt; 0 turns it "
                         "off.", unit="s", minimum=0.0, maximum=3600.0)
    )
    max_calls_per_source: int = field(
        default=100,
        metadata=setting("Calls in progress that may come from one IP address (a phone, a "
                         "SIP-DECT base, a trunk, a box of another office); more are refused "
                         "with 503 and Retry-After, so that one address gone mad cannot take "
                         "every RTP port and line.", minimum=1, maximum=10000)
    )


@dataclass(frozen=True, slots=True)
class User:
    """A person (or a door, a fax): has an extension and zero or more devices."""

    id: str = field(
        metadata=setting("Stable identifier that devices and, later, departments refer to.",
                         minimum=1, maximum=32, pattern=ID_PATTERN, pattern_hint=ID_HINT,
                         example="alice")
    )
    extension: str = field(
        metadata=setting("Internal number dialled to reach the user; unique in the office.",
                         pattern=r"[0-9]{2,5}", pattern_hint="2 to 5 digits", example='"201"')
    )
    name: str = field(
        default="",
        metadata=setting("Display name sent as caller name.", maximum=64,
                         pattern=r"[^\x00-\x1f\x7f]*", pattern_hint="printable characters",
                         example="Alice Smith")
    )
    role: Role = field(
        default=Role.USER,
        metadata=setting("What the user may do beyond calling.")
    )


@dataclass(frozen=True, slots=True)
class Device:
    """An endpoint that rings for a user. Never named by its number: the user has the number.

    A device with `auth: digest` registers with `username` and `password`. A device with
    `auth: none` does not register and is reached at its fixed `contact` (SIP-DECT bases,
    door intercoms). A digest device may also have a fixed contact.
    """

    id: str = field(
        metadata=setting("Stable identifier of the device.", minimum=1, maximum=32,
                         pattern=ID_PATTERN, pattern_hint=ID_HINT, example="alice-desk")
    )
    user: str = field(
        metadata=setting("`id` of the user this device belongs to.", example="alice")
    )
    kind: DeviceKind = field(
        default=DeviceKind.SIP,
        metadata=setting("Kind of endpoint.")
    )
    auth: DeviceAuth = field(
        default=DeviceAuth.DIGEST,
        metadata=setting("How the device's requests are trusted.")
    )
    username: str | None = field(
        default=None,
        metadata=setting("Digest username the device registers with; unique in the office.",
                         minimum=1, maximum=64, pattern=r"[A-Za-z0-9._~+-]+",
                         pattern_hint="letters, digits, '.', '_', '~', '+' and '-'",
                         example='"201"')
    )
    password: str | None = field(
        default=None,
        metadata=setting("Digest password; at least 8 characters, not a common or "
                         "guessable one.", minimum=8, maximum=128, fmt=Format.PASSWORD)
    )
    contact: str | None = field(
        default=None,
        metadata=setting("Fixed address the device is reached at, instead of registering.",
                         fmt=Format.SIP_URI, example="sip:door@192.0.2.10:5060")
    )


class CallerIdMethod(StrEnum):
    """How the exchange tells who is calling."""

    NONE = "none"
    """No caller ID was received on any test call."""
    BELL_202 = "bell202"
    """1200 baud FSK, 1200/2200 Hz (Telcordia GR-30), on hook."""
    V23 = "v23"
    """1200 baud FSK, 1300/2100 Hz (ETSI EN 300 659-1), on hook."""
    DTMF = "dtmf"
    """DTMF CLIP ('A' number 'C'), on hook."""
    AON = "aon"
    """Russian AON: MF "2 of 6" after the box answers and asks with 500 Hz."""


class DisconnectMethod(StrEnum):
    """How the exchange tells the box that the far end hung up."""

    POLARITY_REVERSAL = "polarity_reversal"
    LOOP_CURRENT_DROP = "loop_current_drop"
    """The loop current stops for a while (open-loop disconnect, "CPC")."""
    BUSY_TONE = "busy_tone"
    """Nothing electrical: only the busy (or congestion) tone."""
    NONE = "none"
    """Nothing within the time limit: the box can only time out on silence."""


class CallerIdTiming(StrEnum):
    """When on-hook caller ID arrives relative to ringing (ETSI EN 300 659-1, Telcordia GR-30)."""

    AFTER_FIRST_RING = "after_first_ring"
    BEFORE_RING_DT_AS = "before_ring_dt_as"
    """Line reversal, dual-tone alert, data, then ringing."""
    BEFORE_RING_RP_AS = "before_ring_rp_as"
    """A short ring pulse as alert, data, then ringing."""
    BEFORE_RING_REVERSAL = "before_ring_reversal"
    """Line reversal only, data, then ringing (usual with DTMF caller ID)."""


@dataclass(frozen=True, slots=True)
class FxoLineSettings:
    """A city line on an FXO port as its exchange runs it; `switchbox line learn PORT`
    measures it and writes it here."""

    port: str = field(
        default="fxo1",
        metadata=setting("The FXO port, as the board names it.", pattern=r"fxo[1-9][0-9]*",
                         pattern_hint="fxo and the port number, e.g. fxo1", example="fxo1")
    )

    ring_cadence_ms: tuple[int, ...] = field(
        default=(),
        metadata=setting("Ringing on/off times, ending with the longest pause; empty accepts "
                         "any cadence. Ring validation compares bursts with it (±20 %).",
                         unit="ms", maximum=8, example="[1000, 4000]"))
    caller_id: CallerIdMethod = field(
        default=CallerIdMethod.NONE,
        metadata=setting("How caller ID arrives: none, bell202, v23, dtmf (on hook) or aon "
                         "(Russian AON, asked for after answering)."))
    caller_id_timing: CallerIdTiming | None = field(
        default=None,
        metadata=setting("When on-hook caller ID arrives: after_first_ring, "
                         "before_ring_reversal, before_ring_dt_as or before_ring_rp_as; null "
                         "for none and aon."))
    disconnect: DisconnectMethod = field(
        default=DisconnectMethod.NONE,
        metadata=setting("The signal that ends a call when the far end hangs up: "
                         "polarity_reversal, loop_current_drop, busy_tone or none."))
    loop_drop_min_ms: int | None = field(
        default=None,
        metadata=setting("Shortest loop-current break taken as a disconnect (half the break "
                         "the exchange gives, so dialling glitches are not).", unit="ms",
                         minimum=10, maximum=2000))
    busy_tone_hz: tuple[float, ...] = field(
        default=(),
        metadata=setting("Frequencies of the busy tone this exchange plays.", unit="Hz",
                         maximum=2, example="[425]"))
    busy_tone_cadence_ms: tuple[int, ...] = field(
        default=(),
        metadata=setting("Busy tone on and off times.", unit="ms", maximum=2,
                         example="[350, 350]"))
    ac_termination: str | None = field(
        default=None,
        metadata=setting("AC impedance the port presents to the line (a name of "
                         "firmware.linewizard.terminations.TERMINATIONS); null keeps the "
                         "driver's country default.", example="ctr21"))
    tx_gain_db: float = field(
        default=0.0,
        metadata=setting("Gain towards the line; lowered when the hybrid's echo return loss is "
                         "under 6 dB, the least the echo canceller is built for (G.168).",
                         unit="dB", minimum=-12.0, maximum=6.0))


@dataclass(frozen=True, slots=True)
class Config:
    """One revision of the office configuration: the whole document."""

    # Lookups go through dictionaries built once per revision: the registrar asks for a device
    # on every REGISTER and the dialplan for a user on every call.

    office: OfficeSettings = field(
        default_factory=OfficeSettings,
        metadata=setting("The office as a whole.")
    )
    sip: SipSettings = field(
        default_factory=SipSettings,
        metadata=setting("The SIP service.")
    )
    calls: CallSettings = field(
        default_factory=CallSettings,
        metadata=setting("Call behaviour.")
    )
    users: tuple[User, ...] = field(
        default=(),
        metadata=setting("People and places with an extension.")
    )
    devices: tuple[Device, ...] = field(
        default=(),
        metadata=setting("Endpoints that ring for users.")
    )
    fxo_lines: tuple[FxoLineSettings, ...] = field(
        default=(),
        metadata=setting("City lines on FXO ports as their exchanges run them (learnt by "
                         "`switchbox line learn`); a port not listed keeps the defaults.",
                         maximum=64)
    )
    _by_extension: Mapping[str, User] = field(init=False, repr=False, compare=False)
    _by_user_id: Mapping[str, User] = field(init=False, repr=False, compare=False)
    _by_username: Mapping[str, Device] = field(init=False, repr=False, compare=False)
    _by_owner: Mapping[str, tuple[Device, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen: the indexes are set once here. Duplicates are the validator's business; a
        # Config built by hand with duplicates keeps the first of each.
        by_ext: dict[str, User] = {}
        by_id: dict[str, User] = {}
        for u in self.users:
            by_ext.setdefault(u.extension, u)
            by_id.setdefault(u.id, u)
        by_username: dict[str, Device] = {}
        owners: dict[str, list[Device]] = {}
        for d in self.devices:
            if d.username is not None:
                by_username.setdefault(d.username, d)
            owners.setdefault(d.user, []).append(d)
        object.__setattr__(self, "_by_extension", MappingProxyType(by_ext))
        object.__setattr__(self, "_by_user_id", MappingProxyType(by_id))
        object.__setattr__(self, "_by_username", MappingProxyType(by_username))
        object.__setattr__(
            self, "_by_owner", MappingProxyType({k: tuple(v) for k, v in owners.items()})
        )

    def user_by_extension(self, extension: str) -> User | None:
        """The user dialled as `extension`, or None."""
        return self._by_extension.get(extension)

    def user_by_id(self, user_id: str) -> User | None:
        """The user with `id` == `user_id`, or None."""
        return self._by_user_id.get(user_id)

    def devices_of(self, user_id: str) -> tuple[Device, ...]:
        """The devices of a user, in document order (empty for an unknown user)."""
        return self._by_owner.get(user_id, ())

    def device_by_username(self, username: str) -> Device | None:
        """The device that authenticates as `username` (case-sensitive), or None."""
        return self._by_username.get(username)
