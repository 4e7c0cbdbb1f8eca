"""Country settings for the Si3050's line interface, as a table: AC termination (line
impedance), DC termination, current limit and on-hook speed, per country code.

Each row says where its values come from. The Si3050 data sheet's own country table (§5.x,
"Country Specific Register Settings") was not found in the searched corpus, so:

- "us": Silicon Labs' ProSLIC API preset COU_USA (`vdaa_constants.c`): 600 Ω, DCV 3.5 V,
  MINI 10 mA, no current limit, on-hook < 0.5 ms. DAHDI's `fxo_modes.h` "FCC"/"USA" rows agree.
- "eu" (alias "ctr21"): the API preset COU_GERMANY, which is the TBR21/CTR21 profile:
  270 Ω + (750 Ω ‖ 150 nF), DCV 3.5 V, MINI 10 mA, current limit on (≤ 60 mA on a 50 V /
  230 Ω feed, data sheet §5.16), on-hook 3 ms (ETSI). DAHDI's "TBR21" row agrees on ILIM,
  DCV and ACIM.
- "ru": DAHDI's `fxo_modes.h` "RUSSIA" row (600 Ω, DCV 3.1 V, MINI 16 mA, no current limit,
  on-hook < 0.5 ms). UNVERIFIED: no Silicon Labs document with a Russian row was found, and
  DAHDI's table serves the DAAs of Digium's FXO modules, which use the same register fields.

A Si3018 line side has no ACIM; its ACT2:ACT pair selects 600 Ω or a "global complex"
impedance instead (Si3056 data sheet, Register 16), hence `act` per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType

from drivers.si3050.registers import (
    ACIM_MASK,
    DCR,
    DCV_SHIFT,
    ILIM,
    MINI_SHIFT,
    SQ_BITS,
    Acim,
    DaaCtrl5,
    Dcv,
    IntlCtrl1,
    LineSideDevice,
    Mini,
    Register,
    Si3018Act,
)


class OnHookSpeed(Enum):
    """How fast the loop current falls to zero after OH is cleared (Si3056 data sheet,
    Registers 16 and 31: OHS, OHS2 and SQ[1:0] together)."""

    UNDER_0_5_MS = "under_0_5_ms"
    MS_3 = "3_ms"
    """ETSI."""
    MS_26 = "26_ms"
    """Australian spark quenching."""

    @property
    def seconds(self) -> float:
        return {OnHookSpeed.UNDER_0_5_MS: 0.0005, OnHookSpeed.MS_3: 0.003,
                OnHookSpeed.MS_26: 0.026}[self]


@dataclass(frozen=True, slots=True)
class CountrySettings:
    """One row of the country table."""

    code: str
    name: str
    acim: Acim
    """AC termination on a Si3019."""
    act: Si3018Act
    """AC termination on a Si3018."""
    dcv: Dcv
    mini: Mini
    ilim: bool
    on_hook_speed: OnHookSpeed
    dcr_800_ohm: bool = False
    ringer_impedance_synthesized: bool = False
    source: str = ""


@dataclass(frozen=True, slots=True)
class Field:
    """Bits `mask` of register `register` must read `value` (already shifted)."""

    register: Register
    mask: int
    value: int


COUNTRIES: Mapping[str, CountrySettings] = MappingProxyType({
    "ru": CountrySettings(
        "ru", "Russia", Acim.R600, Si3018Act.REAL_600, Dcv.V3_1, Mini.MA_16, False,
        OnHookSpeed.UNDER_0_5_MS,
        source="DAHDI fxo_modes.h RUSSIA (unverified against the Si3050 country table)"),
    "eu": CountrySettings(
        "eu", "Europe (TBR21/CTR21)", Acim.CTR21, Si3018Act.GLOBAL_COMPLEX, Dcv.V3_5,
        Mini.MA_10, True, OnHookSpeed.MS_3,
        source="ProSLIC API vdaa_constants.c COU_GERMANY; DAHDI TBR21"),
    "us": CountrySettings(
        "us", "USA/Canada (FCC)", Acim.R600, Si3018Act.REAL_600, Dcv.V3_5, Mini.MA_10,
        False, OnHookSpeed.UNDER_0_5_MS,
        source="ProSLIC API vdaa_constants.c COU_USA; DAHDI FCC"),
})
"""Country code → settings; "ctr21" is an alias of "eu" (see `country`)."""

ALIASES: Mapping[str, str] = MappingProxyType({"ctr21": "eu", "tbr21": "eu", "fcc": "us"})


def country(code: str) -> CountrySettings:
    """The settings for `code` (case-insensitive). Raises KeyError naming the known codes."""
    key = ALIASES.get(code.lower(), code.lower())
    if key not in COUNTRIES:
        known = ", ".join(sorted({*COUNTRIES, *ALIASES}))
        raise KeyError(f"no Si3050 country settings for {code!r}; known: {known}")
    return COUNTRIES[key]


def country_fields(settings: CountrySettings, line_side: LineSideDevice) -> tuple[Field, ...]:
    """The register fields that put `settings` into effect on a `line_side` device, in the
    order the ProSLIC API's Vdaa_CountrySetup writes them (16, 26, 30, 59, 16, 31)."""
    speed = settings.on_hook_speed
    intl1 = IntlCtrl1.RZ if settings.ringer_impedance_synthesized else 0
    intl1_mask = IntlCtrl1.RZ | IntlCtrl1.OHS
    if speed is OnHookSpeed.MS_26:
        intl1 |= IntlCtrl1.OHS
    if line_side is LineSideDevice.SI3018:
        intl1_mask |= IntlCtrl1.ACT2 | IntlCtrl1.ACT
        act = settings.act.value
        intl1 |= (IntlCtrl1.ACT2 if act & 0b10 else 0) | (IntlCtrl1.ACT if act & 0b01 else 0)
    dc = (settings.dcv << DCV_SHIFT | settings.mini << MINI_SHIFT
          | (ILIM if settings.ilim else 0) | (DCR if settings.dcr_800_ohm else 0))
    fields = [
        Field(Register.INTL_CTRL1, int(intl1_mask), int(intl1)),
        Field(Register.DC_TERMINATION, 0xF3, dc),  # bits 3:2 reserved
        Field(Register.SPARK_QUENCHING, SQ_BITS[0] | SQ_BITS[1],
              SQ_BITS[0] | SQ_BITS[1] if speed is OnHookSpeed.MS_26 else 0),
        Field(Register.DAA_CTRL5, int(DaaCtrl5.OHS2),
              int(DaaCtrl5.OHS2) if speed is OnHookSpeed.MS_3 else 0),
    ]
    if line_side is LineSideDevice.SI3019:
        fields.insert(2, Field(Register.AC_TERMINATION, ACIM_MASK, settings.acim.value))
    return tuple(fields)
