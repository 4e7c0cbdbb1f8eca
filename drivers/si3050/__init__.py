"""Silicon Labs Si3050 + Si3018/19 voice DAA: the FXO port driver (`port`), its register map
(`registers`), country settings (`countries`), board factory (`board`, driver name "si3050")
and the chip-and-line emulator the tests run it against (`emulator`)."""

from drivers.si3050.countries import COUNTRIES, CountrySettings, country
from drivers.si3050.port import ChipInfo, InterruptLine, Si3050FxoPort, SpiBus

__all__ = ["COUNTRIES", "ChipInfo", "CountrySettings", "InterruptLine", "Si3050FxoPort",
           "SpiBus", "country"]
