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

from firmware.calls.numbers import NumberClass
from firmware.media.dsp.tones import RingKind


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
    """What kind of endpoint a device is."""

    SIP = "sip"
    """A SIP phone, softphone, SIP-DECT base or door intercom on the network."""
    FXS = "fxs"
    """An analog phone (or door station, fax) on an FXS port of the board; trusted by its
    port, so it has no username or password."""
    DECT = "dect"
    """A handset subscribed to a DECT base of the board, named by base and handset number."""


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
    class_of_service: str = field(
        default="standard",
        metadata=setting("`name` of the class of service that decides which numbers and trunk "
                         "groups the user's phones may call: `standard`, `internal_only` or "
                         "one under `classes_of_service`.", pattern=ID_PATTERN,
                         pattern_hint=ID_HINT, example="standard")
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
    port: str | None = field(
        default=None,
        metadata=setting("`fxs` and `dect` devices: the board's device name of the FXS port "
                         "(`fxs1`) or of the DECT base (`dect1`) the device is on.",
                         pattern=r"(fxs|dect)[1-9][0-9]*",
                         pattern_hint="fxs or dect and a number, e.g. fxs1 or dect1",
                         example="fxs1")
    )
    handset: int | None = field(
        default=None,
        metadata=setting("`dect` devices: the handset's number on its base (as the base "
                         "shows it after subscription).", minimum=1, maximum=999, example="1")
    )
    hotline: str | None = field(
        default=None,
        metadata=setting("`fxs` and `dect` devices: number dialled as soon as the phone goes "
                         "off-hook (door stations, lift and emergency phones); the phone can "
                         "dial nothing else.", minimum=2, maximum=20, pattern=r"[0-9*#]+",
                         pattern_hint="digits, * and #", example='"201"')
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


# --------------------------------------------------------------------------- telephony


FEATURE_CODE_PATTERN = r"[*#][0-9*#]{0,5}"
FEATURE_CODE_HINT = "* or # then up to 5 of 0-9, *, #"


def _code(doc: str, example: str) -> Mapping[str, Any]:
    return setting(doc, pattern=FEATURE_CODE_PATTERN, pattern_hint=FEATURE_CODE_HINT,
                   example=example)


@dataclass(frozen=True, slots=True)
class TrunkAccessSettings:
    """Digits that take a caller to a group of city lines."""

    code: str = field(
        metadata=setting("The access code, dialled before the outside number as it would be "
                         "dialled from a city phone (`9 8 495 1234567`). With `8`, as Russian "
                         "installers often choose, no extension may start with 8.",
                         pattern=r"[0-9]{1,3}", pattern_hint="1 to 3 digits", example='"9"')
    )
    trunk_group: str = field(
        metadata=setting("`id` of the trunk group the code takes (`city` when no "
                         "`trunk_groups` are configured).", pattern=ID_PATTERN,
                         pattern_hint=ID_HINT, example="city")
    )


@dataclass(frozen=True, slots=True)
class FeatureCodeSettings:
    """The `*` codes phones dial for features; null turns a feature's code off.

    Quote every code: YAML reads a leading `*` as an alias and `#` as a comment. The defaults
    are prefix-free (no code is the start of another, so none waits for a timeout); the
    forwarding codes follow the GSM/ETSI supplementary-service codes (21 unconditional,
    67 busy, 61 no reply) that office phones and mobiles share.
    """

    pickup: str | None = field(
        default="*8", metadata=_code("Answer a call ringing in the caller's pickup group.",
                                     '"*8"'))
    directed_pickup: str | None = field(
        default="**", metadata=_code("Followed by an extension: answer the call ringing "
                                     "there (`**201`).", '"**"'))
    park: str | None = field(
        default="*71", metadata=_code("Followed by a slot digit 0-9: park the call in "
                                      "progress there (`*713`); announced by paging.",
                                      '"*71"'))
    unpark: str | None = field(
        default="*72", metadata=_code("Followed by a slot digit 0-9: take the call parked "
                                      "there, from any phone (`*723`).", '"*72"'))
    forward_always: str | None = field(
        default="*21*", metadata=_code("Followed by a destination (an extension, or an "
                                       "outside number with its access code) and # or a "
                                       "pause: forward every call (`*21*98495…#`).",
                                       '"*21*"'))
    forward_busy: str | None = field(
        default="*67*", metadata=_code("Followed by a destination: forward calls while "
                                       "busy.", '"*67*"'))
    forward_no_answer: str | None = field(
        default="*61*", metadata=_code("Followed by a destination: forward calls not "
                                       "answered in time.", '"*61*"'))
    forward_cancel: str | None = field(
        default="#21#", metadata=_code("Cancel every forward of the caller's extension.",
                                       '"#21#"'))
    dnd_on: str | None = field(
        default="*26", metadata=_code("Do not disturb: the caller's phones stop ringing; "
                                      "their callers are treated as if they were busy.",
                                      '"*26"'))
    dnd_off: str | None = field(
        default="#26", metadata=_code("End do not disturb.", '"#26"'))
    mode: str | None = field(
        default="*4", metadata=_code("Followed by one digit, from an authorised phone: switch "
                                     "the operating mode (1 day, 2 night, 3 lunch, 4 holiday, "
                                     "0 back to the schedule).", '"*4"'))
    door_open: str | None = field(
        default="*1", metadata=_code("Open the door lock (pulse its relay), from an "
                                     "authorised phone; logged with who opened.", '"*1"'))
    voicemail: str | None = field(
        default="*9", metadata=_code("Listen to the caller's voice mailbox.", '"*9"'))
    intercom: str | None = field(
        default="*3", metadata=_code("Followed by an extension: call it with auto-answer "
                                     "(speakerphones answer at once).", '"*3"'))
    page: str | None = field(
        default="*5", metadata=_code("Followed by a zone digit 0-9 (0: every zone): a one-way "
                                     "announcement to the zone's phones and loudspeakers.",
                                     '"*5"'))
    programming: str | None = field(
        default="*0", metadata=_code("Installer mode with voice prompts, from an authorised "
                                     "analog or DECT phone.", '"*0"'))


@dataclass(frozen=True, slots=True)
class DialTimeoutSettings:
    """How long overlap dialling (analog, DECT) waits for digits."""

    first_digit_s: float = field(
        default=15.0,
        metadata=setting("Dial tone without a digit for this long: the caller hears the "
                         "howler.", unit="s", minimum=3.0, maximum=120.0))
    inter_digit_s: float = field(
        default=4.0,
        metadata=setting("Wait for the next digit while the number cannot be whole yet.",
                         unit="s", minimum=1.0, maximum=60.0))
    maybe_complete_s: float = field(
        default=2.0,
        metadata=setting("Wait for the next digit once the digits could already be a whole "
                         "number; then they are dialled. Must not exceed inter_digit_s.",
                         unit="s", minimum=0.5, maximum=30.0))


@dataclass(frozen=True, slots=True)
class NumberingSettings:
    """The numbering plan: how digits dialled on any phone become a call.

    The country is `office.country`; its emergency numbers (RU: 112, 101–104 and 01–04) always
    go out, with or without an access code, whatever the class of service.
    """

    city_code: str = field(
        default="",
        metadata=setting("Area code of the city lines, without the national prefix (495 "
                         "Moscow, 812 St Petersburg); empty: outside numbers are dialled with "
                         "their area code (9 8 495 …).", pattern=r"[0-9]{0,5}",
                         pattern_hint="up to 5 digits", example='"495"'))
    local_codes: tuple[str, ...] = field(
        default=(),
        metadata=setting("Further area codes billed as local calls (Moscow: 499).",
                         maximum=20, unique=True, example='["499"]'))
    emergency: tuple[str, ...] = field(
        default=(),
        metadata=setting("Further numbers that always go out like emergency numbers (a site's "
                         "own security desk), 2 to 6 digits each.", maximum=20, unique=True,
                         example='["0911"]'))
    legacy_emergency: bool = field(
        default=True,
        metadata=setting("Keep the legacy emergency numbers (RU 01–04); turn off to use 0 "
                         "as a trunk access code in Russia."))
    trunk_access: tuple[TrunkAccessSettings, ...] = field(
        default_factory=lambda: (TrunkAccessSettings("9", "city"),),
        metadata=setting("Trunk access codes; default: 9 to the `city` group.", maximum=10))
    feature_codes: FeatureCodeSettings = field(
        default_factory=FeatureCodeSettings,
        metadata=setting("Feature codes."))
    timeouts: DialTimeoutSettings = field(
        default_factory=DialTimeoutSettings,
        metadata=setting("Overlap dialling timeouts."))
    terminator: str = field(
        default="#",
        metadata=setting("Dialled after a number: dial it now without waiting; empty: none.",
                         pattern=r"[#*]?", pattern_hint="#, * or empty", example='"#"'))


class Hunting(StrEnum):
    """Which free line of a trunk group an outgoing call takes."""

    FIRST = "first"
    """The first free line in the order listed: the later lines stay free for incoming calls."""
    ROUND_ROBIN = "round_robin"
    """The free line after the one used last: spreads wear and per-line charges."""


@dataclass(frozen=True, slots=True)
class TrunkGroupSettings:
    """City lines that outgoing calls share."""

    id: str = field(
        metadata=setting("Identifier that trunk access codes and classes of service name.",
                         minimum=1, maximum=32, pattern=ID_PATTERN, pattern_hint=ID_HINT,
                         example="city"))
    lines: tuple[str, ...] = field(
        metadata=setting("FXO ports of the group, as the board names them, in hunting order.",
                         minimum=1, maximum=64, unique=True, example="[fxo1, fxo2]"))
    hunting: Hunting = field(
        default=Hunting.FIRST,
        metadata=setting("Which free line a call takes: first or round_robin."))
    caller_id: str | None = field(
        default=None,
        metadata=setting("Number presented to the called party, in E.164, where the exchange "
                         "lets the box choose; null: the line's own number.",
                         pattern=r"\+[1-9][0-9]{6,14}", pattern_hint="+ and 7 to 15 digits",
                         example='"+74951234567"'))


@dataclass(frozen=True, slots=True)
class ClassOfServiceSettings:
    """Which numbers and trunk groups its holders may call, and how many calls before their
    outside calls lock. `standard` and `internal_only` exist unless redefined here."""

    name: str = field(
        metadata=setting("Name that users' `class_of_service` refers to.", minimum=1,
                         maximum=32, pattern=ID_PATTERN, pattern_hint=ID_HINT,
                         example="managers"))
    number_classes: tuple[NumberClass, ...] = field(
        default=(NumberClass.INTERNAL, NumberClass.LOCAL, NumberClass.LONG_DISTANCE,
                 NumberClass.MOBILE, NumberClass.TOLL_FREE, NumberClass.SERVICE),
        metadata=setting("Number classes its holders may call. Emergency numbers are always "
                         "allowed; international, premium, shared_cost and unknown only when "
                         "listed (toll-fraud guard).", unique=True))
    trunk_groups: tuple[str, ...] | None = field(
        default=None,
        metadata=setting("Trunk groups its holders may use; null: every group.", unique=True,
                         example="[city]"))
    calls_per_hour: int | None = field(
        default=30,
        metadata=setting("Outside calls per holder per hour before their outside calls lock "
                         "until the hour is over; null: no limit.", minimum=1,
                         maximum=100000))
    calls_per_day: int | None = field(
        default=200,
        metadata=setting("Outside calls per holder per day; null: no limit.", minimum=1,
                         maximum=1000000))
    cost_per_hour_minor: int | None = field(
        default=None,
        metadata=setting("Estimated cost of outside calls per holder per hour, in minor "
                         "currency units (kopecks); null: no limit.", minimum=1))
    cost_per_day_minor: int | None = field(
        default=None,
        metadata=setting("Estimated cost per holder per day, in minor units; null: no limit.",
                         minimum=1))


@dataclass(frozen=True, slots=True)
class InboundRoute:
    """Where a ringing city line goes, per operating mode (see `schedule` and `modes`).

    `destination` is the day route and the fallback: lunch without its own route rings it,
    holiday without its own rings the night route, else `destination`. A route with only
    `destination` rings it around the clock."""

    line: str = field(
        metadata=setting("The FXO port, as the board names it.", pattern=r"fxo[1-9][0-9]*",
                         pattern_hint="fxo and the port number, e.g. fxo1", example="fxo1"))
    destination: str = field(
        metadata=setting("Extension (or department) number its calls ring in day mode, and "
                         "in every mode without a route of its own.",
                         pattern=r"[0-9]{2,5}", pattern_hint="2 to 5 digits",
                         example='"201"'))
    night: str | None = field(
        default=None,
        metadata=setting("Number its calls ring in night mode (and on holidays without a "
                         "`holiday` route); null: `destination`.", pattern=r"[0-9]{2,5}",
                         pattern_hint="2 to 5 digits", example='"290"'))
    lunch: str | None = field(
        default=None,
        metadata=setting("Number its calls ring in lunch mode; null: `destination`.",
                         pattern=r"[0-9]{2,5}", pattern_hint="2 to 5 digits",
                         example='"202"'))
    holiday: str | None = field(
        default=None,
        metadata=setting("Number its calls ring in holiday mode; null: `night`, else "
                         "`destination`.", pattern=r"[0-9]{2,5}",
                         pattern_hint="2 to 5 digits", example='"290"'))


# --------------------------------------------------------------------------- operating modes


class WeekdayName(StrEnum):
    """Days of the week as installers write them."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


TIME_PATTERN = r"([01][0-9]|2[0-3]):[0-5][0-9]"
TIME_HINT = "HH:MM local wall time, 00:00 to 23:59"
DATE_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
DATE_HINT = "a date as YYYY-MM-DD"


def _time(doc: str, example: str) -> Mapping[str, Any]:
    return setting(doc, pattern=TIME_PATTERN, pattern_hint=TIME_HINT, example=example)


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """Hours in day mode on some weekdays, with an optional lunch break in lunch mode.

    Hours whose `end` is not after `start` run past midnight into the next day. The rest of
    the week is night mode; public holidays and `closures` are holiday mode all day."""

    days: tuple[WeekdayName, ...] = field(
        default=(WeekdayName.MON, WeekdayName.TUE, WeekdayName.WED, WeekdayName.THU,
                 WeekdayName.FRI),
        metadata=setting("Weekdays these hours apply to.", minimum=1, maximum=7, unique=True,
                         example="[mon, tue, wed, thu, fri]"))
    start: str = field(default="09:00", metadata=_time("Day mode begins.", '"09:00"'))
    end: str = field(default="18:00",
                     metadata=_time("Day mode ends (night mode begins).", '"18:00"'))
    lunch_start: str | None = field(
        default="13:00",
        metadata=_time("Lunch mode begins; null (with `lunch_end`): no lunch break.",
                       '"13:00"'))
    lunch_end: str | None = field(
        default="14:00", metadata=_time("Lunch mode ends and day mode resumes.", '"14:00"'))


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """When the office is in day, lunch, night and holiday mode (issue 5 item 8). Off by
    default: without a schedule the office is in day mode unless switched by hand."""

    enabled: bool = field(
        default=False,
        metadata=setting("Switch modes by this schedule; false: always day mode (manual "
                         "switching still works)."))
    time_zone: str = field(
        default="Europe/Moscow",
        metadata=setting("IANA time zone the hours are wall time in.", minimum=1, maximum=64,
                         pattern=r"[A-Za-z0-9_+./-]+",
                         pattern_hint="an IANA name such as Europe/Moscow",
                         example="Europe/Moscow"))
    public_holidays: bool = field(
        default=True,
        metadata=setting("Public holidays of `country` are holiday mode all day (with the "
                         "government's transferred working days, RU included); false: only "
                         "`closures`."))
    country: str | None = field(
        default=None,
        metadata=setting("ISO 3166-1 alpha-2 country whose public holidays apply; null: "
                         "`office.country`.", pattern=r"[A-Z]{2}",
                         pattern_hint="two upper-case letters, e.g. RU", example="RU"))
    subdivision: str | None = field(
        default=None,
        metadata=setting("Region of `country` with its own holidays (DE `BY`); null: the "
                         "national holidays only.", minimum=1, maximum=8,
                         pattern=r"[A-Z0-9-]+", pattern_hint="upper-case letters and digits",
                         example="BY"))
    working_hours: tuple[WorkingHours, ...] = field(
        default_factory=lambda: (WorkingHours(),),
        metadata=setting("Day-mode hours; default Monday to Friday 09:00–18:00 with lunch "
                         "13:00–14:00. Entries must not overlap.", maximum=50))
    closures: tuple[str, ...] = field(
        default=(),
        metadata=setting("Extra whole days in holiday mode (company holidays, a decree the "
                         "holiday calendar does not have yet).", maximum=1000, unique=True,
                         pattern=DATE_PATTERN, pattern_hint=DATE_HINT,
                         example='["2026-12-31"]'))
    working_days: tuple[str, ...] = field(
        default=(),
        metadata=setting("Days worked although public holidays or weekends (a transferred "
                         "working Saturday); they follow `weekend_workday_as`'s hours.",
                         maximum=1000, unique=True, pattern=DATE_PATTERN,
                         pattern_hint=DATE_HINT, example='["2026-11-07"]'))
    weekend_workday_as: WeekdayName = field(
        default=WeekdayName.MON,
        metadata=setting("Whose hours a working weekend day follows."))


@dataclass(frozen=True, slots=True)
class ModeSettings:
    """Switching the operating mode by hand: the `mode` feature code (`*4` and 1 day, 2 night,
    3 lunch, 4 holiday, 0 back to the schedule), the front panel and the web page."""

    authorised_users: tuple[str, ...] | None = field(
        default=None,
        metadata=setting("`id`s of the users whose phones may switch the mode by feature "
                         "code; null: every user with `role: admin`; []: nobody (panel and "
                         "web only).", maximum=1000, unique=True, example="[alice, reception]"))


@dataclass(frozen=True, slots=True)
class DisaUserPin:
    """A user's DISA PIN: calls placed with it carry that user's class of service."""

    user: str = field(metadata=setting("`id` of the user.", example="alice"))
    pin: str = field(
        metadata=setting("4 to 12 digits, known only to that user.", minimum=4, maximum=12,
                         pattern=r"[0-9]+", pattern_hint="digits only", fmt=Format.PASSWORD,
                         example='"482915"'))


@dataclass(frozen=True, slots=True)
class DisaSection:
    """Direct inward system access on city lines: the caller dials an extension from the
    greeting, or * and a PIN for the box's dial tone. Off until enabled (toll fraud)."""

    enabled: bool = field(default=False, metadata=setting(
        "Answer the `lines` with DISA. Off by default: DISA is the classic toll-fraud hole."))
    lines: tuple[str, ...] = field(default=(), metadata=setting(
        "FXO ports answered by DISA instead of their inbound route.", example="[fxo2]"))
    caller_allow: tuple[str, ...] = field(default=(), metadata=setting(
        "Caller-ID patterns allowed (`+7495*`, `?` one digit); empty: any caller.",
        example='["+7495*"]'))
    user_pins: tuple[DisaUserPin, ...] = field(default=(), metadata=setting(
        "PINs per user; a PIN gives dial tone with its user's class of service."))
    extensions_without_pin: bool = field(default=True, metadata=setting(
        "Callers may dial an extension from the greeting without a PIN."))
    max_attempts: int = field(default=3, metadata=setting(
        "Wrong PINs per call before hanging up.", minimum=1, maximum=5))
    caller_lockout_failures: int = field(default=3, metadata=setting(
        "Wrong PINs from one caller within `caller_window_s` that lock it out.",
        minimum=1, maximum=20))
    caller_window_s: float = field(default=3600.0, metadata=setting(
        "Window in which a caller's failures count.", unit="s", minimum=60.0,
        maximum=86400.0))
    caller_lockout_s: float = field(default=3600.0, metadata=setting(
        "How long a caller stays locked out.", unit="s", minimum=60.0, maximum=604800.0))
    global_lockout_failures: int = field(default=10, metadata=setting(
        "Wrong PINs from all callers within `global_window_s` that lock DISA for everyone.",
        minimum=1, maximum=200))
    global_window_s: float = field(default=600.0, metadata=setting(
        "Window in which all callers' failures count.", unit="s", minimum=60.0,
        maximum=86400.0))
    global_lockout_s: float = field(default=1800.0, metadata=setting(
        "How long DISA stays locked for everyone.", unit="s", minimum=60.0,
        maximum=604800.0))


@dataclass(frozen=True, slots=True)
class AnalogSettings:
    """How analog phones on FXS ports behave: the fields of calls.analog.LineSettings, whose
    module docstring says where each default comes from."""

    dial_tone_timeout_s: float = field(
        default=30.0,
        metadata=setting("Dial tone with no digit (also the consultation dial tone) lasts "
                         "this long.", unit="s", minimum=5.0, maximum=120.0))
    interdigit_fallback_s: float = field(
        default=15.0,
        metadata=setting("Dialling stops short after this when the dial plan names no "
                         "deadline.", unit="s", minimum=2.0, maximum=60.0))
    tone_timeout_s: float = field(
        default=30.0,
        metadata=setting("Busy, congestion and confirmation tones last this long before the "
                         "howler.", unit="s", minimum=5.0, maximum=120.0))
    howler_s: float = field(
        default=60.0,
        metadata=setting("The howler lasts this long; then the line parks until it goes "
                         "on-hook.", unit="s", minimum=5.0, maximum=300.0))
    recall_code_timeout_s: float = field(
        default=3.0,
        metadata=setting("After R (flash) with two calls, wait this long for a code digit; "
                         "none means R 2 (swap).", unit="s", minimum=1.0, maximum=10.0))
    call_waiting_timeout_s: float = field(
        default=30.0,
        metadata=setting("A waiting call not taken within this is released.", unit="s",
                         minimum=5.0, maximum=120.0))
    consult_failed_timeout_s: float = field(
        default=10.0,
        metadata=setting("Busy or congestion in a consultation lasts this long, then the held "
                         "call comes back.", unit="s", minimum=2.0, maximum=60.0))
    recall_ring_timeout_s: float = field(
        default=60.0,
        metadata=setting("The phone rings back with a held call this long, then releases it.",
                         unit="s", minimum=10.0, maximum=300.0))
    call_waiting: bool = field(
        default=True,
        metadata=setting("Offer a second call with the call-waiting tone; false: the caller "
                         "hears busy."))
    recall_ring: RingKind = field(
        default=RingKind.DISTINCTIVE_1,
        metadata=setting("How the phone rings when a held call calls back."))


@dataclass(frozen=True, slots=True)
class Door:
    """A door station on an FXS port, its lock relay and its bell. The phone that answers the
    door's call opens the lock by dialling `open_code`; every opening is logged with who opened.
    """

    # The fields of features.door.DoorSettings (tests/unit/calls/test_doors.py keeps them in
    # step); declared here because that module imports this one.

    id: str = field(
        metadata=setting("The door's name as installers say it; openings are logged with it.",
                         minimum=1, maximum=32, pattern=ID_PATTERN, pattern_hint=ID_HINT,
                         example="front"))
    station_device: str = field(
        metadata=setting("Device id of the door station: an `fxs` device (usually with a "
                         "`hotline`).", minimum=1, maximum=32, pattern=ID_PATTERN,
                         pattern_hint=ID_HINT, example="front-door"))
    rings: str = field(
        metadata=setting("Extension or department number the door station and the bell call.",
                         pattern=r"[0-9]{2,5}", pattern_hint="2 to 5 digits", example='"201"'))
    relay: str = field(
        default="relay1",
        metadata=setting("Relay output of the lock, as the board names it.",
                         pattern=r"relay[1-9][0-9]*",
                         pattern_hint="relay and the output number, e.g. relay1"))
    pulse_ms: int = field(
        default=3000,
        metadata=setting("How long the lock relay is energised per opening.", unit="ms",
                         minimum=100, maximum=30000))
    open_code: str = field(
        default="*1",
        metadata=setting("DTMF code the answering party dials during the door call to open; "
                         "the default has two keys so that a stray `*` cannot open.",
                         minimum=1, maximum=8,
                         pattern=r"[0-9*#A-D]+", pattern_hint="0-9, *, # and A-D",
                         example='"*1"'))
    bell_input: str | None = field(
        default=None,
        metadata=setting("Contact input of the door bell, which rings `rings`; null: no bell.",
                         pattern=r"input[1-9][0-9]*",
                         pattern_hint="input and the input number, e.g. input1",
                         example="input1"))


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
    numbering: NumberingSettings = field(
        default_factory=NumberingSettings,
        metadata=setting("The numbering plan: access codes, feature codes, dialling.")
    )
    trunk_groups: tuple[TrunkGroupSettings, ...] = field(
        default=(),
        metadata=setting("Groups of city lines; empty: one group `city` with every FXO port "
                         "of the board.", maximum=32)
    )
    classes_of_service: tuple[ClassOfServiceSettings, ...] = field(
        default=(),
        metadata=setting("Classes of service besides (or redefining) the built-in `standard` "
                         "(the defaults of a class below) and `internal_only` (internal and "
                         "emergency numbers only).", maximum=64)
    )
    inbound: tuple[InboundRoute, ...] = field(
        default=(),
        metadata=setting("Where ringing city lines go, per operating mode; a line not listed "
                         "rings the first admin user's extension (else the first user's) in "
                         "every mode.", maximum=64)
    )
    analog: AnalogSettings = field(
        default_factory=AnalogSettings,
        metadata=setting("Analog phone behaviour.")
    )
    disa: DisaSection = field(
        default_factory=DisaSection,
        metadata=setting("Direct inward system access on city lines (off by default).")
    )
    doors: tuple[Door, ...] = field(
        default=(),
        metadata=setting("Door stations, their locks and bells.", maximum=16)
    )
    schedule: ScheduleSettings = field(
        default_factory=ScheduleSettings,
        metadata=setting("Operating modes by time of day, weekday and public holiday.")
    )
    modes: ModeSettings = field(
        default_factory=ModeSettings,
        metadata=setting("Who may switch the operating mode by hand.")
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
