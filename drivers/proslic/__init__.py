"""Silicon Labs ProSLIC Si3210/Si3215 FXS driver (user space: `spidev` + a GPIO interrupt).

- `registers`: the register map, bit fields, units and AN35 values, each with its source.
- `chip`: register access over an injected `SpiBus` and the AN35 initialisation/calibration.
- `port`: `ProSlicFxsPort`, the `hal.fxs.FxsPort` (hook, flash and pulse decoding through
  `hal.linesignal`, ringing, caller ID, polarity, message waiting, faults and retries).
- `board`: the "proslic" board-description factory and the spidev/gpiozero adapters.
- `emulator`: `ProSlicEmulator`, the chip and the phone line behind it, for the tests.
"""

from drivers.proslic.chip import PcmLaw, ProSlicSettings, SpiBus
from drivers.proslic.port import InterruptLine, ProSlicFxsPort, ProSlicProbe, ResetLine

__all__ = ["InterruptLine", "PcmLaw", "ProSlicFxsPort", "ProSlicProbe", "ProSlicSettings",
           "ResetLine", "SpiBus"]
