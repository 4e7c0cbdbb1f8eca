"""The Si3050 voice DAA's register map and SPI framing, as data. Pure: no I/O.

Sources, cited per item below (read, never copied):

- [DS] Si3050 + Si3011/18/19 data sheet, Rev. 1.5 (and Rev. 1.31 for the Si3018/19 edition):
  §5.12.1 line voltage (LVS, p. 28), §5.16 DC termination (p. 31), Register 22 (p. 76).
- [VDAA] Silicon Labs ProSLIC API, `vdaa_registers.h` (register numbers 1–59), `vdaa.h`
  (field encodings: ACIM, DCV, MINI, ring validation, interrupt bits, LCS = 3.3 mA/bit) and
  `vdaa.c` (bit positions as the vendor code reads and writes them), as vendored in e.g.
  lukasz1992/asuswrt-xiaomi `.../drivers/char/pcm/proslic_api/{inc,src}`.
- [SPI] Silicon Labs' Linux `proslic_spi` driver: control byte 0x20 write, 0x60 read, 0x80
  broadcast, channel address in bits 4:0 sent bit-reversed; SPI mode 3.
- [RTK] Realtek's DAA glue over the same API (rtk_voip `daa.c`): register 11 LSID values
  (1 = Si3018, 3 = Si3019), register 19 DOD, register 33 PCM formats.
- [306x] Si306x data sheet Rev. 0.9, Register 4 (interrupt source bits and their clearing).
- [3056] Si3056 + Si3018/19/10 data sheet Rev. 1.05, Registers 16 and 31 (ACT/ACT2, OHS,
  OHS2, FOH, FILT, LVFD).

Items marked UNVERIFIED could not be checked against a Silicon Labs document; each says why it
is believed.
"""

from __future__ import annotations

from enum import Enum, IntEnum, IntFlag

# --- SPI framing ---------------------------------------------------------------------------------
# [SPI]: every access is three bytes, control, register address, data. Silicon Labs' 8-bit mode
# sends each byte in its own chip-select frame; the data byte of a read is clocked out on SDO
# while the host sends a dummy byte.

CONTROL_WRITE = 0x20
"""Control byte, register write ([SPI] PROSLIC_CW_WR)."""
CONTROL_READ = 0x60
"""Control byte, register read: bit 6 (R/W) set ([SPI] PROSLIC_CW_RD)."""
CONTROL_BROADCAST = 0x80
"""Broadcast bit: the write goes to every chip on the chain ([SPI] PROSLIC_CW_BCAST)."""
CONTROL_FIXED = 0x20
"""Bit 5 is set in every valid control byte ([SPI]: both opcodes carry it)."""
CHANNEL_MASK = 0x1F
MAX_CHANNELS = 16
"""Daisy-chaining for up to 16 devices ([DS] front page)."""
SPI_MODE = 3
"""CPOL = 1, CPHA = 1 ([SPI] spi->mode = SPI_MODE_3)."""
SPI_MAX_SPEED_HZ = 1_000_000
"""What the driver clocks; the chip allows more. UNVERIFIED maximum: kept conservative."""


def channel_address(channel: int) -> int:
    """The 5-bit channel field of the control byte: `channel` bit-reversed ([SPI] chanAddr
    table: 0 → 0x00, 1 → 0x10, 2 → 0x08, …). Raises ValueError outside 0–15."""
    if not 0 <= channel < MAX_CHANNELS:
        raise ValueError(f"Si3050 channel must be 0-{MAX_CHANNELS - 1}, not {channel}")
    return int(f"{channel:05b}"[::-1], 2)


def channel_of(control: int) -> int:
    """The channel a control byte addresses (inverse of `channel_address`)."""
    return int(f"{control & CHANNEL_MASK:05b}"[::-1], 2)


# --- registers -----------------------------------------------------------------------------------


class Register(IntEnum):
    """Register numbers ([VDAA] vdaa_registers.h enum REGISTERS)."""

    CTRL1 = 1
    CTRL2 = 2
    INTERRUPT_MASK = 3
    INTERRUPT_SOURCE = 4
    DAA_CTRL1 = 5
    DAA_CTRL2 = 6
    SAMPLE_RATE = 7
    DAA_CTRL3 = 10
    DEVICE_REVISION = 11
    """System- and line-side device revision."""
    LINE_SIDE_STATUS = 12
    LINE_SIDE_REVISION = 13
    DAA_CTRL4 = 14
    GAIN_CTRL1 = 15
    INTL_CTRL1 = 16
    INTL_CTRL2 = 17
    INTL_CTRL3 = 18
    INTL_CTRL4 = 19
    CALL_PROGRESS_RX = 20
    CALL_PROGRESS_TX = 21
    RING_VALIDATION1 = 22
    RING_VALIDATION2 = 23
    RING_VALIDATION3 = 24
    RESISTOR_CALIBRATION = 25
    DC_TERMINATION = 26
    LOOP_CURRENT_STATUS = 28
    LINE_VOLTAGE_STATUS = 29
    AC_TERMINATION = 30
    DAA_CTRL5 = 31
    GROUND_START = 32
    PCM_SPI_MODE = 33
    PCM_TX_COUNT_LOW = 34
    PCM_TX_COUNT_HIGH = 35
    PCM_RX_COUNT_LOW = 36
    PCM_RX_COUNT_HIGH = 37
    TX_GAIN2 = 38
    RX_GAIN2 = 39
    TX_GAIN3 = 40
    RX_GAIN3 = 41
    GCI_CTRL = 42
    LINE_THRESHOLD = 43
    LINE_THRESHOLD_CTRL = 44
    HYBRID1 = 45
    HYBRID2 = 46
    HYBRID3 = 47
    HYBRID4 = 48
    HYBRID5 = 49
    HYBRID6 = 50
    HYBRID7 = 51
    HYBRID8 = 52
    SPARK_QUENCHING = 59


READ_ONLY = frozenset({
    Register.DEVICE_REVISION, Register.LINE_SIDE_STATUS, Register.LINE_SIDE_REVISION,
    Register.INTL_CTRL4, Register.LOOP_CURRENT_STATUS, Register.LINE_VOLTAGE_STATUS,
})
"""Status registers the host only reads ([VDAA]: the API never writes them; [DS] §5.12)."""

PROBE_REGISTER = Register.PCM_TX_COUNT_LOW
"""A harmless read/write register for the bus check ([VDAA] Vdaa_Init writes 0x5A to
PCMRX_CNT_LO and reads it back; [SPI] proslic_detect_type uses register 34)."""
PROBE_PATTERN = 0x5A


class Ctrl1(IntFlag):
    """Register 1 ([VDAA] Vdaa_SoftReset writes 0x80; loopback code uses bit 1)."""

    SR = 0x80
    """Soft reset: every register returns to its reset value."""
    IDL = 0x02
    """Isolation digital loopback."""


class Ctrl2(IntFlag):
    """Register 2 ([VDAA] Vdaa_Init writes INTE<<7 | INTP<<6 | 0x03; RingDetectSetup puts RDI
    in bit 2; EnableWatchdog sets 0x10; SetHybridEnable uses 0x02; [RTK] 0x80 = INT pin)."""

    INTE = 0x80
    """Interrupt pin enable."""
    INTP = 0x40
    """Interrupt pin polarity: 0 = active low."""
    WDTEN = 0x10
    RDI = 0x04
    """Ring-detect interrupt at the beginning and at the end of a ring burst ([306x] Reg 4)."""
    HBE = 0x02
    """Hybrid enable."""
    RXE = 0x01
    """Receive path enable. UNVERIFIED name: [VDAA] sets this bit in every init."""


class Interrupt(IntFlag):
    """Registers 3 (mask, the …M bits) and 4 (source, the …I bits) ([VDAA] vdaaIntMask;
    [306x] Register 4: a source bit latches whatever the mask and is cleared by writing 0)."""

    RDT = 0x80
    """Ring detect: a burst began (and, with RDI, ended)."""
    ROV = 0x40
    """Receive overload."""
    FDT = 0x20
    """Frame detect lost: the isolation link has no frame lock."""
    BTD = 0x10
    """Billing tone."""
    DOD = 0x08
    """Drop-out: the line-side supply collapsed while off-hook (loop current went away)."""
    LCSO = 0x04
    """Loop current sense overload (LCS = 0x1F)."""
    TGD = 0x02
    """Tip ground detect (ground start). Si3050 only ([VDAA])."""
    POL = 0x01
    """Polarity: bit 7 of LVS changed ([DS] §5.12.1)."""


class DaaCtrl1(IntFlag):
    """Register 5 ([VDAA] Vdaa_ReadRingDetectStatus / Vdaa_SetHookStatus)."""

    RDTN = 0x40
    """A negative ring half-cycle is above threshold now."""
    RDTP = 0x20
    """A positive ring half-cycle is above threshold now."""
    ONHM = 0x08
    """On-hook line monitor (caller ID); clear it before setting OH."""
    RDT = 0x04
    """Ring detect: a (validated) ring burst is in progress."""
    OH = 0x01
    """Off-hook."""


class DaaCtrl2(IntFlag):
    """Register 6: PDL powers the line-side device down; reset value 0x10 ([VDAA]
    Vdaa_PowerupLineside writes 0, Vdaa_PowerdownLineside writes 0x10)."""

    PDL = 0x10
    PDN = 0x08
    """System-side power down. UNVERIFIED: position from the register's reset layout."""


class LineSideStatus(IntFlag):
    """Register 12: FDT = frame lock on the isolation link ([VDAA] spi_tests.c FDT_BIT 0x40 in
    register 12); LCS[4:0] = loop current."""

    FDT = 0x40


LCS_MASK = 0x1F
LCS_MA_PER_BIT = 3.3
"""[VDAA] LCS_SCALE_NUM / LCS_SCALE_DEN = 33/10 mA per bit; Si306x §6.11.2 the same."""
LCS_OVERLOAD = 0x1F
"""[VDAA] Vdaa_ReadLinefeedStatus: LCS = 0x1F is an overload."""

LINE_SIDE_REVISION_DAA = 0x40
"""Register 13 bit 6 always reads 1 on a DAA ([VDAA] isVerifiedDAA)."""
LREV_SHIFT, LREV_MASK = 2, 0x3C
"""Register 13 bits 5:2: line-side revision ([VDAA] Vdaa_PowerupLineside)."""
LSID_SHIFT = 4
"""Register 11 bits 7:4: line-side device id; bits 3:0 system-side revision ([VDAA], [RTK])."""
REVA_MASK = 0x0F


class LineSideDevice(Enum):
    """What register 11 LSID says is across the isolation barrier ([RTK] device_revision)."""

    SI3018 = 1
    SI3019 = 3

    @property
    def measures_line_voltage(self) -> bool:
        """LVS and POLI exist on the Si3011/Si3019 only ([DS] §5.12.1 title)."""
        return self is LineSideDevice.SI3019


class IntlCtrl1(IntFlag):
    """Register 16 ([3056] Register 16; [VDAA] CountrySetup)."""

    ACT2 = 0x80
    """AC termination select 2 (Si3018 only)."""
    OHS = 0x40
    """On-hook speed (with OHS2 and SQ[1:0])."""
    ACT = 0x20
    """AC termination select (Si3018 only)."""
    IIRE = 0x10
    RZ = 0x02
    """Synthesized ringer impedance."""
    RT = 0x01
    """Ring threshold: 0 = 13.5–16.5 Vrms, 1 = 19.35–23.65 Vrms."""


class IntlCtrl2(IntFlag):
    """Register 17 ([VDAA] Vdaa_ADCCal: CALZ 0x80, MCAL 0x40, CALD 0x20; RT2 in bit 4)."""

    CALZ = 0x80
    MCAL = 0x40
    CALD = 0x20
    """Auto-calibration disable ([RTK]: disable for pulse dialling)."""
    RT2 = 0x10


class IntlCtrl3(IntFlag):
    """Register 18 ([VDAA] RingDetectSetup writes RFWE << 1)."""

    RFWE = 0x02


class IntlCtrl4(IntFlag):
    """Register 19 (read only; [RTK] 0x02 = DOD, line not connected)."""

    OVL = 0x04
    DOD = 0x02
    OPD = 0x01


# Register 22–24, ring validation ([DS] Register 22 p. 76; [VDAA] Vdaa_RingDetectSetup packs
# reg 22 = RDLY[1:0] << 6 | RMX, reg 23 = RDLY[2] << 7 | RTO << 3 | RCC, reg 24 = RNGV << 7 | RAS).
RNGV = 0x80
RAS_STEP_MS = RMX_STEP_MS = 2.0
"""RAS and RMX count 2.0 ms steps ([DS] Register 22; Si3068 Register 24)."""
RDLY_STEP_MS = 256.0
"""RDLY: 0, 256, 512, … 1792 ms ([VDAA] tRDLY)."""
RTO_STEP_MS = 128.0
"""RTO n ≥ 1: n · 128 ms ([VDAA] tRTO: RTO_128MS = 1 … RTO_1920MS = 15)."""
RCC_MS: tuple[float, ...] = (100.0, 150.0, 200.0, 256.0, 384.0, 512.0, 640.0, 1024.0)
"""RCC code → ring confirmation time ([VDAA] tRCC)."""


def ring_validation_registers(ras: int, rmx: int, rdly: int, rto: int,
                              rcc: int) -> dict[Register, int]:
    """Registers 22–24 with ring validation on. Raises ValueError for a field out of range."""
    fields = {"ras": (ras, 63), "rmx": (rmx, 63), "rdly": (rdly, 7), "rto": (rto, 15),
              "rcc": (rcc, 7)}
    for name, (value, top) in fields.items():
        if not 0 <= value <= top:
            raise ValueError(f"ring validation {name} must be 0-{top}, not {value}")
    if rto == 0:
        raise ValueError("ring validation rto must be ≥ 1 (128 ms steps)")
    return {
        Register.RING_VALIDATION1: (rdly & 0x3) << 6 | rmx,
        Register.RING_VALIDATION2: (rdly >> 2) << 7 | rto << 3 | rcc,
        Register.RING_VALIDATION3: RNGV | ras,
    }


# Register 26, DC termination ([VDAA] CountrySetup: DCR bit 0, ILIM bit 1, MINI bits 5:4,
# DCV bits 7:6; [DS] §5.16).
DCR = 0x01
"""800 Ω DC slope instead of 50 Ω."""
ILIM = 0x02
"""TBR21 current limiting: 2000 Ω slope above 40 mA, ≤ 60 mA on a 50 V / 230 Ω feed."""
MINI_SHIFT, DCV_SHIFT = 4, 6


class Dcv(IntEnum):
    """DCV[1:0]: the DCT pin voltage that sets the TIP/RING voltage ([VDAA] tDCV)."""

    V3_1 = 0
    V3_2 = 1
    V3_35 = 2
    V3_5 = 3

    @property
    def volts(self) -> float:
        return (3.1, 3.2, 3.35, 3.5)[self.value]


class Mini(IntEnum):
    """MINI[1:0]: minimum operational loop current ([VDAA] tMINI)."""

    MA_10 = 0
    MA_12 = 1
    MA_14 = 2
    MA_16 = 3

    @property
    def milliamps(self) -> float:
        return 10.0 + 2.0 * self.value


class Acim(IntEnum):
    """ACIM[3:0], register 30 bits 3:0: the AC termination on a Si3019 ([VDAA] tAC_Z, whose
    comments name each network; `network` gives them as (series R, parallel R, parallel C) or
    (R, series C))."""

    R600 = 0
    R900 = 1
    CTR21 = 2
    """270 Ω + (750 Ω ‖ 150 nF), also covers 275 Ω + (780 Ω ‖ 150 nF): TBR21/CTR21."""
    AUSTRALIA = 3
    """220 Ω + (820 Ω ‖ 120 nF)."""
    NZ_INDIA = 4
    """370 Ω + (620 Ω ‖ 310 nF)."""
    UK = 5
    """320 Ω + (1050 Ω ‖ 230 nF)."""
    Z370_820_110 = 6
    Z275_780_115 = 7
    Z120_820_110 = 8
    Z350_1000_210 = 9
    CHINA = 10
    """200 Ω + (680 Ω ‖ 100 nF)."""
    R600_C2160 = 11
    R900_C1000 = 12
    R900_C2160 = 13
    R600_C1000 = 14
    GLOBAL = 15
    """'Global complex impedance': the network is not given ([VDAA]); not modelled."""


ACIM_MASK = 0x0F
FULL2 = 0x10
"""Register 30 bit 4 ([VDAA] Vdaa_Init writes full2 << 4)."""

SeriesParallel = tuple[float, float, float]
"""R_series + (R_parallel ‖ C_parallel), in Ω, Ω, F."""
SeriesRc = tuple[float, float]
"""R in series with C, in Ω, F."""

ACIM_NETWORKS: dict[Acim, float | SeriesParallel | SeriesRc] = {
    Acim.R600: 600.0,
    Acim.R900: 900.0,
    Acim.CTR21: (270.0, 750.0, 150e-9),
    Acim.AUSTRALIA: (220.0, 820.0, 120e-9),
    Acim.NZ_INDIA: (370.0, 620.0, 310e-9),
    Acim.UK: (320.0, 1050.0, 230e-9),
    Acim.Z370_820_110: (370.0, 820.0, 110e-9),
    Acim.Z275_780_115: (275.0, 780.0, 115e-9),
    Acim.Z120_820_110: (120.0, 820.0, 110e-9),
    Acim.Z350_1000_210: (350.0, 1000.0, 210e-9),
    Acim.CHINA: (200.0, 680.0, 100e-9),
    Acim.R600_C2160: (600.0, 2.16e-6),
    Acim.R900_C1000: (900.0, 1e-6),
    Acim.R900_C2160: (900.0, 2.16e-6),
    Acim.R600_C1000: (600.0, 1e-6),
}
"""The impedance each ACIM code synthesises ([VDAA] tAC_Z comments)."""


class Si3018Act(IntEnum):
    """ACT2:ACT on a Si3018 line side, which has no ACIM ([3056] Register 16)."""

    REAL_600 = 0
    GLOBAL_COMPLEX = 1
    GLOBAL_COMPLEX_EXCEPT_NZ = 2
    NZ_COMPLEX = 3


class DaaCtrl5(IntFlag):
    """Register 31 ([3056] Register 31; reset 0010_0000 = FOH 128 ms)."""

    FULL = 0x80
    OHS2 = 0x08
    FILT = 0x02
    """Receive high-pass at 200 Hz instead of 5 Hz."""
    LVFD = 0x01
    """Do not force LVS to 0 at ≤ 3 V."""


FOH_SHIFT, FOH_MASK = 5, 0x60


class Foh(IntEnum):
    """FOH[1:0]: length of the off-hook counter ([3056] Register 31)."""

    MS_512 = 0
    MS_128 = 1
    MS_64 = 2
    MS_8 = 3


SQ_BITS = (0x10, 0x40)
"""Register 59 SQ[0] and SQ[1]: spark quenching, with OHS for the 26 ms on-hook speed
([VDAA] CountrySetup writes ohs_sq bit 2 → reg 59 bit 4, bit 3 → reg 59 bit 6)."""


class PcmFormat(Enum):
    """PCMF[1:0], register 33 bits 4:3 ([VDAA] tPcmFormat; [RTK] 0x20 A-law, 0x28 µ-law,
    0x38 linear)."""

    ALAW = 0
    ULAW = 1
    LINEAR16 = 3

    @property
    def bits_per_slot(self) -> int:
        return 16 if self is PcmFormat.LINEAR16 else 8


class PcmSpiMode(IntFlag):
    """Register 33 ([VDAA] Vdaa_PCMSetup/PCMStart/SetLoopbackMode)."""

    PCML = 0x80
    """PCM loopback."""
    SPIM = 0x40
    PCME = 0x20
    """PCM transfers enabled."""
    PHCF = 0x02
    TRI = 0x01


PCMF_SHIFT, PCMF_MASK = 3, 0x18
PCM_COUNT_HIGH_MASK = 0x03
"""Registers 35/37 hold bits 9:8 of the 10-bit start counts ([VDAA] PCMTimeSlotSetup)."""


# --- conversions ---------------------------------------------------------------------------------


def line_voltage_v(lvs: int) -> int:
    """LVS (register 29) → volts: two's complement, 1 V per bit, the sign is the TIP/RING
    polarity; 0 means ≤ 3 V unless LVFD is set ([DS] §5.12.1)."""
    return lvs - 256 if lvs & 0x80 else lvs


def lvs_byte(volts: float) -> int:
    """Volts → the LVS byte a Si3019 reports (saturating at ±127 V, forced to 0 at ≤ 3 V)."""
    v = max(-127, min(127, round(volts)))
    if abs(v) <= 3:
        return 0
    return v & 0xFF


def loop_current_ma(lcs: int) -> float:
    """LCS[4:0] (register 12) → mA ([VDAA] 3.3 mA per bit)."""
    return round((lcs & LCS_MASK) * LCS_MA_PER_BIT, 1)
