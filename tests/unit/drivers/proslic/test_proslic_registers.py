"""Register conversions against values published by others (not by this driver)."""

from __future__ import annotations

import pytest

from drivers.proslic.registers import (
    IR,
    SI3215_ADDRESSES,
    Part,
    control_byte,
    debounce_counts,
    identify,
    ring_amplitude,
    ring_coefficient,
    ring_frequency_hz,
    ring_vpk,
    timer_counts,
    volts_register,
)


def test_ring_coefficient_matches_the_published_25_hz_value() -> None:
    # An Arduino Si3210 driver writes IR20 = 0x7E6C "25 Hz ringing frequency (Belgacom)".
    assert ring_coefficient(25.0) == 0x7E6C


def test_ring_coefficient_for_20_hz_lies_between_published_values() -> None:
    # DAHDI wctdm writes 0x7EF0 and the Silicon Labs API preset 0x7F00 for 20 Hz ringing.
    assert 0x7EF0 <= ring_coefficient(20.0) <= 0x7F00


def test_ring_amplitude_is_the_published_645_vpk_over_96_at_25_hz() -> None:
    # "RNGX = 645 * Vpk / 96": 0x160 gives 52 Vpk.
    assert ring_amplitude(25.0, 52.4) == pytest.approx(0x160, abs=1)


def test_ring_conversions_invert() -> None:
    coefficient = ring_coefficient(25.0)
    frequency = ring_frequency_hz(coefficient)
    assert frequency == pytest.approx(25.0, abs=0.05)
    assert ring_vpk(frequency, ring_amplitude(25.0, 65.0)) == pytest.approx(65.0, abs=0.5)


def test_ring_timers_count_125_us() -> None:
    # Silicon Labs ring preset: 0x3E80 / 0x7D00 for the 2 s / 4 s US cadence.
    assert timer_counts(2000) == 0x3E80
    assert timer_counts(4000) == 0x7D00
    assert timer_counts(1000) == 0x1F40  # "1 s = 8000 × 125 µs = 0x1F40"
    with pytest.raises(ValueError):
        timer_counts(8200)


def test_debounce_and_voltage_steps() -> None:
    assert debounce_counts(12.5) == 0x0A  # OpenUSBFXS: DR69 0x0A = 12.5 ms
    assert debounce_counts(105.0) == 0x54  # DR63 0x54 = 105 ms
    assert volts_register(48.0) == 0x20  # DR72 0x20 = 48 V
    assert volts_register(66.0) == 44  # DR74 44 = 66 V


def test_control_byte_sets_bit_7_to_read() -> None:
    assert control_byte(68, read=True) == 0x80 | 68
    assert control_byte(64, read=False) == 64
    with pytest.raises(ValueError):
        control_byte(128, read=True)


def test_identify_reads_part_revision_and_si3215_flag() -> None:
    assert identify(0x05, 0x00) is not None
    chip = identify(0x05, 0x00)
    assert chip is not None and chip.part is Part.SI3210 and chip.revision_letter == "E"
    si3215 = identify(0x03, 0x80)
    assert si3215 is not None and si3215.part is Part.SI3215
    assert identify(0xFF, 0xFF) is None  # floating MISO
    assert identify(0x00, 0x00) is None  # grounded MISO


def test_si3215_indirect_addresses_follow_the_dahdi_table() -> None:
    assert SI3215_ADDRESSES[IR.RING_OSC] == 7
    assert SI3215_ADDRESSES[IR.RING_X] == 8
    assert SI3215_ADDRESSES[IR.RX_DIGITAL_GAIN] == 13
    assert SI3215_ADDRESSES[IR.DCDC_MIN_V] == 64
    assert SI3215_ADDRESSES[IR.LOOP_CLOSE_THRESH_LOW] == 66
    assert SI3215_ADDRESSES[IR.DTMF_ROW0_PEAK] is None
