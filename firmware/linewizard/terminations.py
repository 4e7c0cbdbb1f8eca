"""AC terminations the line wizard tries, as data, and the optional port capability that sets one.

The impedance an FXO port presents to the line decides how much of what the box sends comes
back as echo: a two-wire line reflects by ρ(f) = (Z_line − Z_term) / (Z_line + Z_term), so the
better the termination matches the line, the higher the echo return loss. Exchanges differ:
600 Ω resistive (Russia, North America), the TBR21/CTR21 complex network 270 Ω + (750 Ω ‖
150 nF) (EU), 370 Ω + (620 Ω ‖ 310 nF) (New Zealand, India), 320 Ω + (1050 Ω ‖ 230 nF) (UK)…

`TERMINATIONS` lists every network the Si3019 line side synthesises (ACIM codes 0–14 of the
Si3050 family, as the ProSLIC API's `tAC_Z` table names them; code 15, the unspecified "global
complex impedance", is left out). Firmware must not import drivers, so the list is repeated
here as data; the names are the driver's `Acim` member names in lower case, which is how a
driver maps them back. A port that can switch its termination says so by implementing
`AcTerminationControl` (duck-typed until `hal.fxo.FxoPort` declares it); on any other port the
wizard measures the echo return loss at the termination in use and reports it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Network:
    """`series_ohm` + (`parallel_ohm` ‖ `parallel_f`), or with `series_f` a resistor in
    series with a capacitor. A pure resistance has neither capacitor."""

    series_ohm: float
    parallel_ohm: float | None = None
    parallel_f: float | None = None
    series_f: float | None = None

    def impedance(self, frequencies_hz: npt.NDArray[np.float64]) -> npt.NDArray[np.complex128]:
        """Z(f) in ohms at each frequency (f > 0)."""
        s = 2j * np.pi * frequencies_hz
        z = np.full(frequencies_hz.shape, self.series_ohm, dtype=np.complex128)
        if self.series_f is not None:
            z = z + 1.0 / (s * self.series_f)
        if self.parallel_ohm is not None and self.parallel_f is not None:
            zc = 1.0 / (s * self.parallel_f)
            z = z + self.parallel_ohm * zc / (self.parallel_ohm + zc)
        return z

    def describe(self) -> str:
        """The network as an installer reads it: "270 Ω + (750 Ω ‖ 150 nF)"."""
        text = f"{self.series_ohm:g} Ω"
        if self.series_f is not None:
            text += f" + {self.series_f * 1e6:g} µF"
        if self.parallel_ohm is not None and self.parallel_f is not None:
            text += f" + ({self.parallel_ohm:g} Ω ‖ {self.parallel_f * 1e9:g} nF)"
        return text


TERMINATIONS: Mapping[str, Network] = MappingProxyType({
    "r600": Network(600.0),
    "r900": Network(900.0),
    "ctr21": Network(270.0, 750.0, 150e-9),
    "australia": Network(220.0, 820.0, 120e-9),
    "nz_india": Network(370.0, 620.0, 310e-9),
    "uk": Network(320.0, 1050.0, 230e-9),
    "z370_820_110": Network(370.0, 820.0, 110e-9),
    "z275_780_115": Network(275.0, 780.0, 115e-9),
    "z120_820_110": Network(120.0, 820.0, 110e-9),
    "z350_1000_210": Network(350.0, 1000.0, 210e-9),
    "china": Network(200.0, 680.0, 100e-9),
    "r600_c2160": Network(600.0, series_f=2.16e-6),
    "r900_c1000": Network(900.0, series_f=1e-6),
    "r900_c2160": Network(900.0, series_f=2.16e-6),
    "r600_c1000": Network(600.0, series_f=1e-6),
})
"""Termination name → network: the Si3019 ACIM codes 0–14 in code order."""


@runtime_checkable
class AcTerminationControl(Protocol):
    """An FXO port that can change the AC impedance it presents to the line.

    `ac_terminations` are the names (keys of `TERMINATIONS`) it can synthesise;
    `set_ac_termination` takes effect within one 20 ms tick and raises ValueError for a name
    it cannot, RuntimeError when the port is not open, `hal.errors.DeviceError` when the chip
    fails.
    """

    @property
    def ac_terminations(self) -> tuple[str, ...]: ...

    @property
    def ac_termination(self) -> str: ...

    async def set_ac_termination(self, name: str) -> None: ...
