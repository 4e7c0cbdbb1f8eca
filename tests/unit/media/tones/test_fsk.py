"""1200 baud FSK: framing, tone frequencies, receiver robustness (level, noise, block sizes)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from firmware.media.dsp.fsk import (
    FskDemodulator,
    FskStandard,
    data_bits,
    mark_bits,
    modulate,
    seizure_bits,
    uart_bits,
)
from firmware.media.frame import SampleRate

from .conftest import add_noise, frames_of

MESSAGE = bytes.fromhex("041230393330313232343630393535353132313251")  # melabs SDMF example


def demodulate(
    samples: npt.NDArray[np.int16],
    size: int = 160,
    rate: SampleRate = SampleRate.NARROWBAND,
) -> tuple[bytes, FskStandard | None]:
    demod = FskDemodulator(rate)
    got = [b.value for chunk in frames_of(samples, size) for b in demod.process(chunk)]
    return bytes(got), demod.standard


def burst(
    standard: FskStandard,
    level_dbm0: float = -13.5,
    rate: SampleRate = SampleRate.NARROWBAND,
) -> npt.NDArray[np.int16]:
    pad = np.zeros(int(rate) // 20, dtype=np.int16)
    return np.concatenate([pad, modulate(data_bits(MESSAGE), standard, rate, level_dbm0), pad])


def test_uart_framing_is_start_lsb_first_stop() -> None:
    # 0x31 = 0b00110001 → data bits LSB first 1,0,0,0,1,1,0,0.
    assert uart_bits(b"\x31").tolist() == [0, 1, 0, 0, 0, 1, 1, 0, 0, 1]
    # 0x55 framed 8-N-1 is perfectly alternating: the GR-30 seizure is 30 such bytes.
    assert uart_bits(b"\x55" * 30).tolist() == seizure_bits().tolist()
    assert seizure_bits(4).tolist() == [0, 1, 0, 1]


@pytest.mark.parametrize(
    ("standard", "mark_hz", "space_hz"),
    [(FskStandard.BELL_202, 1200, 2200), (FskStandard.V23, 1300, 2100)],
)
def test_mark_and_space_frequencies(standard: FskStandard, mark_hz: int, space_hz: int) -> None:
    for bits, want in ((mark_bits(1200), mark_hz), (np.zeros(1200, dtype=np.uint8), space_hz)):
        x = modulate(bits, standard)
        assert x.size == 8000  # 1200 bits at 1200 baud = 1 s
        spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
        assert np.fft.rfftfreq(x.size, 1 / 8000)[spec.argmax()] == pytest.approx(want, abs=1)


def test_modulator_is_phase_continuous_at_bit_edges() -> None:
    x = modulate(seizure_bits(1200), FskStandard.BELL_202, level_dbm0=0.0).astype(np.float64)
    # A jump in phase would show as a sample step larger than the 2200 Hz sine's steepest one.
    peak = np.abs(x).max()
    assert np.abs(np.diff(x)).max() <= peak * 2 * np.sin(np.pi * 2200 / 8000) * 1.001


@pytest.mark.parametrize("standard", list(FskStandard))
@pytest.mark.parametrize("level_dbm0", [0.0, -13.5, -30.0, -45.0])
def test_receiver_decodes_over_the_level_range(standard: FskStandard, level_dbm0: float) -> None:
    got, heard = demodulate(burst(standard, level_dbm0))
    assert MESSAGE in got
    assert heard is standard


@pytest.mark.parametrize("standard", list(FskStandard))
@pytest.mark.parametrize("snr_db", [20.0, 10.0])
def test_receiver_decodes_in_white_noise(standard: FskStandard, snr_db: float) -> None:
    for seed in range(5):
        got, heard = demodulate(add_noise(burst(standard), snr_db, seed))
        assert MESSAGE in got, f"seed {seed}"
        assert heard is standard


def test_receiver_does_not_decode_below_its_floor() -> None:
    got, _ = demodulate(burst(FskStandard.BELL_202, -60.0))
    assert got == b""


@pytest.mark.parametrize("size", [5, 7, 160, 333, 4000])
def test_receiver_result_does_not_depend_on_block_size(size: int) -> None:
    signal = burst(FskStandard.V23)
    assert demodulate(signal, size) == demodulate(signal, 160)
    assert MESSAGE in demodulate(signal, size)[0]


def test_receiver_tolerates_one_percent_baud_error() -> None:
    # GR-30 allows 1200 ± 12 baud: resample the burst to stretch it by 1 %.
    x = burst(FskStandard.BELL_202).astype(np.float64)
    stretched = np.interp(np.arange(0, x.size, 0.99), np.arange(x.size), x)
    got, _ = demodulate(np.rint(stretched).astype(np.int16))
    assert MESSAGE in got


def test_wideband_receiver_decodes_wideband_burst() -> None:
    wide = burst(FskStandard.V23, rate=SampleRate.WIDEBAND)
    got, heard = demodulate(wide, 320, SampleRate.WIDEBAND)
    assert MESSAGE in got
    assert heard is FskStandard.V23


def test_white_noise_alone_makes_almost_no_bytes() -> None:
    rng = np.random.default_rng(7)
    noise = np.rint(rng.normal(0.0, 3000.0, 8000 * 5)).astype(np.int16)  # 5 s at about −20 dBm0
    got, _ = demodulate(noise)
    assert len(got) < 20
