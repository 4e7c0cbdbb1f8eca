"""The register map's encodings against the values Silicon Labs' code and DAHDI write."""

from __future__ import annotations

import pytest

from drivers.si3050.countries import COUNTRIES, country, country_fields
from drivers.si3050.registers import (
    Acim,
    LineSideDevice,
    Register,
    channel_address,
    channel_of,
    line_voltage_v,
    loop_current_ma,
    lvs_byte,
    ring_validation_registers,
)


def test_channel_address_is_the_channel_bit_reversed_as_in_the_proslic_spi_table() -> None:
    # Silicon Labs' proslic_spi chanAddr[]: 0x00, 0x10, 0x08, 0x18, 0x04, 0x14, ..., 0x1E.
    table = [0x00, 0x10, 0x08, 0x18, 0x04, 0x14, 0x0C, 0x1C,
             0x02, 0x12, 0x0A, 0x1A, 0x06, 0x16, 0x0E, 0x1E]
    assert [channel_address(c) for c in range(16)] == table
    assert [channel_of(0x60 | a) for a in table] == list(range(16))
    with pytest.raises(ValueError):
        channel_address(16)


def test_lvs_is_twos_complement_volts_forced_to_zero_at_three_volts_or_less() -> None:
    assert line_voltage_v(0x3C) == 60
    assert line_voltage_v(0xC4) == -60
    assert lvs_byte(-48.4) == 0xD0
    assert lvs_byte(2.9) == 0 and lvs_byte(-3.0) == 0
    assert lvs_byte(200.0) == 0x7F


def test_lcs_counts_3_3_milliamps_per_step() -> None:
    assert loop_current_ma(10) == 33.0
    assert loop_current_ma(0xE0 | 0x1F) == 102.3  # only bits 4:0 are LCS


# Expected bytes worked out by hand from the field layout (DCV 7:6, MINI 5:4, ILIM 1, DCR 0;
# DAHDI's wctdm writes reg 26 = dcv << 6 | mini << 4 | ilim << 1 the same way).
@pytest.mark.parametrize(("code", "reg26", "acim", "ohs2"), [
    ("ru", 0x30, 0x0, 0x00),   # DCV 3.1 V, MINI 16 mA, 600 ohm
    ("eu", 0xC2, 0x2, 0x08),   # DCV 3.5 V, MINI 10 mA, ILIM, CTR21 network, 3 ms on-hook
    ("us", 0xC0, 0x0, 0x00),   # DCV 3.5 V, MINI 10 mA, 600 ohm
])
def test_country_fields_on_a_si3019(code: str, reg26: int, acim: int, ohs2: int) -> None:
    fields = {f.register: f for f in country_fields(COUNTRIES[code], LineSideDevice.SI3019)}
    assert fields[Register.DC_TERMINATION].value == reg26
    assert fields[Register.AC_TERMINATION].value == acim
    assert fields[Register.DAA_CTRL5].value == ohs2
    assert fields[Register.INTL_CTRL1].value == 0
    assert fields[Register.SPARK_QUENCHING].value == 0


def test_a_si3018_gets_act_bits_instead_of_acim() -> None:
    fields = {f.register: f for f in country_fields(COUNTRIES["eu"], LineSideDevice.SI3018)}
    assert Register.AC_TERMINATION not in fields
    assert fields[Register.INTL_CTRL1].value == 0x20  # ACT: global complex impedance
    assert fields[Register.INTL_CTRL1].mask & 0xA0 == 0xA0


def test_country_codes_and_aliases() -> None:
    assert country("CTR21") is COUNTRIES["eu"]
    assert country("fcc").acim is Acim.R600
    with pytest.raises(KeyError, match="known: ctr21, eu, fcc, ru, tbr21, us"):
        country("xx")


def test_ring_validation_packing_matches_vdaa_ringdetectsetup() -> None:
    # RDLY 0, RMX 12, RTO 1 (128 ms), RCC 0 (100 ms), RNGV on, RAS 17.
    assert ring_validation_registers(17, 12, 0, 1, 0) == {
        Register.RING_VALIDATION1: 0x0C,
        Register.RING_VALIDATION2: 0x08,
        Register.RING_VALIDATION3: 0x91,
    }
    # RDLY 5 = 0b101 splits into reg 22 bits 7:6 (01) and reg 23 bit 7 (1).
    regs = ring_validation_registers(17, 12, 5, 11, 6)
    assert regs[Register.RING_VALIDATION1] == 0x4C
    assert regs[Register.RING_VALIDATION2] == 0x80 | 11 << 3 | 6
    with pytest.raises(ValueError, match="rto"):
        ring_validation_registers(17, 12, 0, 0, 0)
