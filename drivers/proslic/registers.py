"""Silicon Labs ProSLIC Si3210/Si3215 register map, bit fields, units and AN35 initial values.

Pure data and conversions; no I/O. The driver (`chip.py`, `port.py`) and the emulator
(`emulator.py`) both use these names, so a register number is written down exactly once.

Where the numbers come from. The stored copy of the Si3210/Si3211 datasheet [DS] that our
search could reach holds its front matter only (features, pin list), not the register pages,
so every register fact below is taken from code that quotes the datasheet or application note
AN35 and is cross-checked between independent sources:

- [DS]     Si3210/Si3211 datasheet (silabs.com SI3210-E-FM, rev 1.45): front page only.
- [SLAPI]  Silicon Labs ProSLIC API for Si321x, `Si321x_Intf.c` rev 1.43 (2007),
           `si321x_constants.c`, `Si321x.h` (as vendored in github.com/phidevlab/
           AC495L_Latest_Station, drivers/silabs/proslic/) — comments number the AN35 steps.
- [SLREF]  Silicon Labs reference `ProSLIC.c` (RDL, 8/22/02): indirect access, Si3215 address
           map, oscillator timer-enable bits, SPI clock polarity.
- [DAHDI]  Digium `wctdm.c`: sanity checks, indirect register table with Si3215 addresses.
- [OUF]    OpenUSBFXS `openusbfxs.c` ("follows closely the guidelines of AN35"), with AN47
           (Si3201 power-alarm values) quoted.
- [ARD]    an Arduino Si3210 driver derived from OpenUSBFXS, with unit comments.
- [DS3220] Si3220/25 datasheet rev 1.3 §3.3.2 Table 18 (the same LF[2:0] linefeed codes) and
           Table 50 (automatic linefeed transitions).

Each item says "verified" (two or more sources agree), "one source", or "assumed" (found in
none; chosen to be consistent with what was found). The brief that commissioned this driver
listed "96–97 calibration, 105–107 ring": 96–97 are calibration control indeed, but 98–107
are calibration *results* ([SLAPI] Si321x_Cal_ACL writes 98–107, [OUF] reads 107 as the
DC-DC calibration result); ringing lives in DR34 and DR48–51 and IR19–22.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, IntFlag, StrEnum
from types import MappingProxyType

# --- SPI framing -------------------------------------------------------------------------------

SPI_READ = 0x80
"""Control byte bit 7 = 1 reads, 0 writes; bits 6:0 address the direct register; one data
byte follows ([SLREF] readDirectReg `addr | 0x80`, writeDirectReg `addr & 0x7F`; [ARD] the
same, two bytes inside one chip-select frame). Verified."""
SPI_ADDRESS_MASK = 0x7F
SPI_MODE = 3
"""Clock idles high, input sampled on the rising edge: SPI mode 3 ([SLREF] SifTimingRegSet
SI_TIMING_RISING, SO_TIMING_FALLING, CLK_POL_IDLE1). One source."""


def control_byte(register: int, read: bool) -> int:
    """The control byte that addresses direct register `register` (0–127)."""
    if not 0 <= register <= SPI_ADDRESS_MASK:
        raise ValueError(f"direct register {register} outside 0-127")
    return register | SPI_READ if read else register


# --- direct registers --------------------------------------------------------------------------


class DR(IntEnum):
    """Direct registers (number = datasheet register number)."""

    SPI_MODE = 0
    """[7] daisy-chain enable ([SLAPI] setDaisyChainMode writes 0x80); [5:4] part number,
    [3:0] revision ([DAHDI] "product %d, version %d"; [SLAPI] chipType/chipRev). Verified."""
    PCM_MODE = 1
    """[7] reads 1 on the Si3215/16 ([DAHDI], [SLAPI], [SLREF]: verified); [5] PCM enable,
    [4:3] format 0 A-law, 1 µ-law ([OUF] 0x20/0x28; [SLAPI] pcmf << 3): verified."""
    PCM_TX_START_LO = 2
    """PCM transmit start count, 1 PCLK cycle/LSB ([SLAPI] PCMTimeSlotSetup). Verified."""
    PCM_TX_START_HI = 3
    PCM_RX_START_LO = 4
    PCM_RX_START_HI = 5
    LOOPBACK = 8
    """Reads 0x02 (digital loopback) after reset: the SPI sanity check ([DAHDI], [SLAPI] step
    8, [ARD]). Verified. Written 0 to leave loopback (AN35 step 10)."""
    HYBRID = 11
    """Reads 0x33 after reset: second sanity check ([DAHDI], [SLAPI], [ARD]). Verified."""
    POWERDOWN1 = 14
    """0x10 powers the DC-DC converter down, 0 up ([OUF], [SLAPI] "Enable DC-DC"). Verified."""
    IRQ_STATUS1 = 18
    IRQ_STATUS2 = 19
    IRQ_STATUS3 = 20
    IRQ_ENABLE1 = 21
    IRQ_ENABLE2 = 22
    IRQ_ENABLE3 = 23
    IDA_LO = 28
    """Indirect data access, low byte ([SLREF], [DAHDI], [ARD]). Verified."""
    IDA_HI = 29
    IAA = 30
    """Indirect address: writing it starts the access."""
    IAS = 31
    """Indirect access status: nonzero while an access is pending ([SLREF]
    waitForIndirectReg polls until 0; [ARD] the same). Verified."""
    OSC1_CONTROL = 32
    OSC2_CONTROL = 33
    RING_OSC_CONTROL = 34
    """0x18 enables the ring active and inactive timers ([ARD] "Enable ringing timers"; the
    datasheet init table quoted in a DAHDI-derived proslic.h: INIT_DR34 0x18). Verified as a
    value; which of bits 4/3 is the active timer is assumed from OSC1 control, where [SLREF]
    genTone uses 0x10 for the on-timer and 0x08 for the off-timer."""
    RING_ACTIVE_LO = 48
    """Ring active (burst) timer, 125 µs/LSB ([ARD] "1 s = 8000 × 125 µs = 0x1F40";
    [SLAPI] preset 0x3E80/0x7D00 = 2 s/4 s). Verified."""
    RING_ACTIVE_HI = 49
    RING_INACTIVE_LO = 50
    RING_INACTIVE_HI = 51
    LOOP_DEBOUNCE_SILENT = 63
    """Loop-closure debounce during the ringing silent period, 1.25 ms/LSB (0x54 = 105 ms:
    [OUF], [ARD]). Verified."""
    LINEFEED = 64
    """[2:0] LF written; [6:4] LFS, the state actually applied, read-only. Reads 0 after reset
    ([DAHDI] sanity check; OpenVox si321x.c "LFS and LF is OPEN"). Verified."""
    EXT_TRANSISTOR = 65
    """External bipolar transistor control, 0x61 ([OUF], [ARD] "left to default 0x61")."""
    BATTERY_FEED = 66
    """0x01: VOV low, VBAT tracks the ring voltage ([OUF], [ARD]). Verified."""
    AUTO_MANUAL = 67
    """0x1F: every automatic transition on ([OUF], [ARD] "all auto"). Verified as a value; the
    meaning of the single bits is not known to us (assumed: ring trip → active, power alarm
    → open, which [DS3220] Table 50 shows for the ProSLIC family)."""
    LOOP_STATUS = 68
    """[0] LCR loop closure, [1] RTP ring trip ([SLAPI] ReadHookStatus, [DAHDI], a
    DAHDI-derived proslic.h). Verified."""
    LOOP_DEBOUNCE = 69
    """Loop-closure debounce, 1.25 ms/LSB (0x0A = 12.5 ms: [OUF], [ARD]). Verified."""
    RING_TRIP_DEBOUNCE = 70
    """Ring-trip debounce, 1.25 ms/LSB (0x0A = 12.5 ms). Verified."""
    LOOP_CURRENT_LIMIT = 71
    """20 mA + 3 mA/LSB, 0–7 ([OUF] dr71 = (mA − 20)/3; [DAHDI] "20 to 41 mA in steps of 3
    (according to datasheet)"). Verified."""
    ON_HOOK_VOLTAGE = 72
    """1.5 V/LSB, 0x20 = 48 V ([OUF], [ARD]); 0x3F for a neon message-waiting lamp
    ([SLAPI] Si321x_MWI "High Neon"). Verified."""
    COMMON_MODE_VOLTAGE = 73
    """1.5 V/LSB, 0x02 = 3 V ([OUF], [ARD])."""
    VBAT_HIGH = 74
    """High battery target, 1.5 V/LSB (44 = 66 V: [OUF]; [SLAPI] target = DR74 × 15/10).
    Verified."""
    VBAT_LOW = 75
    TIP_SENSE = 80
    """Tip voltage magnitude; before the DC-DC converter starts, > 0x11 on tip or ring means a
    foreign voltage ([SLAPI] powerUp → FOREIGNSOURCE). LSB assumed 0.376 V as DR82."""
    RING_SENSE = 81
    VBAT_SENSE = 82
    """Battery voltage magnitude, 0.376 V/LSB ([OUF] × 376/1000; [SLAPI] (V − 6) × 200/75).
    Verified."""
    Q5_CURRENT_SENSE = 88
    """Reads 0 once the manual RING-gain calibration point is reached ([SLAPI] step 16,
    [OUF]). Verified."""
    Q6_CURRENT_SENSE = 89
    DCDC_PWM_PERIOD = 92
    """61.035 ns/LSB ([SLAPI] constants comment). Board dependent (inductor)."""
    DCDC_SWITCH_DELAY = 93
    """Min off time, 61.035 ns/LSB; [7] DCCAL starts the DC-DC calibration and reads 1 until
    done ([SLAPI] powerUp, [ARD]). Verified."""
    CAL_CONTROL1 = 96
    """[6] CAL starts; reads nonzero until every selected calibration is done. 0x47 = CAL +
    differential DAC, common-mode and ILIM calibrations ([SLAPI] step 14–15, [OUF]); 0x40 with
    DR97 = 0x01 runs the longitudinal balance calibration ([SLAPI] steps 17–19). Verified."""
    CAL_CONTROL2 = 97
    """0x1E = monitor ADC 1 & 2, DAC and ADC calibrations; [0] CALCM longitudinal balance
    ([SLAPI], [OUF] "set CALCM bit"). Verified."""
    RING_GAIN_CAL = 98
    """Manual RING gain mismatch calibration, stepped down from 0x1F until DR88 reads 0
    ([SLAPI] step 16, [OUF]). Verified."""
    TIP_GAIN_CAL = 99
    DCDC_CAL_RESULT = 107
    """DC-DC calibration result, sane 2–13 ([OUF]). One source."""
    ENHANCEMENT = 108
    """0xEB turns on the revision-E enhancements (AN35 step 10: [SLAPI], [OUF]). Verified."""


class Irq1(IntFlag):
    """DR18/DR21, timer interrupts ([SLAPI] Si321x.h: OSC1_T1 = bit 0 … PM_T2 = bit 7; one
    source). T1 = active timer expired (a burst ended), T2 = inactive timer expired (assumed)."""

    OSC1_T1 = 0x01
    OSC1_T2 = 0x02
    OSC2_T1 = 0x04
    OSC2_T2 = 0x08
    RING_T1 = 0x10
    RING_T2 = 0x20
    PULSE_T1 = 0x40
    PULSE_T2 = 0x80


class Irq2(IntFlag):
    """DR19/DR22: [0] ring trip, [1] loop closure, [7:2] power alarms Q1–Q6 ([SLAPI],
    DAHDI-derived proslic.h: RING_TRIP_INT_POS 0, LOOP_CLOSURE_INT_POS 1, POWER_ALARM 2..7).
    Verified. Write 1 to clear ([SLAPI] GetInterrupts writes the read value back; [ARD]
    writes 0x02 to clear the loop-closure interrupt)."""

    RING_TRIP = 0x01
    LOOP_CLOSURE = 0x02
    POWER_ALARM_Q1 = 0x04
    POWER_ALARM_Q2 = 0x08
    POWER_ALARM_Q3 = 0x10
    POWER_ALARM_Q4 = 0x20
    POWER_ALARM_Q5 = 0x40
    POWER_ALARM_Q6 = 0x80


POWER_ALARMS = 0xFC
"""DR19 bits 7:2: a power alarm on any of Q1–Q6."""


class Irq3(IntFlag):
    """DR20/DR23: [0] DTMF, [1] indirect access done, [2] common-mode balance calibration
    error ([SLAPI] Si321x.h and Si321x_Cal checks `DR20 & 0x4`). Verified."""

    DTMF = 0x01
    INDIRECT = 0x02
    CM_BALANCE = 0x04


class LoopStatus(IntFlag):
    """DR68."""

    LCR = 0x01
    RTP = 0x02


class LinefeedCode(IntEnum):
    """LF[2:0] of DR64. 0–5 from [DS3220] Table 18 (same family), used with these values on
    the Si3210 by [DAHDI], [OUF] (1 forward, 4 ring, 5 reverse) and [SLAPI] (LF_RINGING,
    LF_FWD_ACTIVE; PolRev 5/1); 6 = reverse on-hook transmission ([OUF] "rev/fwd oht" 6/2);
    7 = ring open (assumed by symmetry with 3)."""

    OPEN = 0
    FORWARD_ACTIVE = 1
    FORWARD_OHT = 2
    TIP_OPEN = 3
    RINGING = 4
    REVERSE_ACTIVE = 5
    REVERSE_OHT = 6
    RING_OPEN = 7


LF_MASK = 0x07
LFS_SHIFT = 4

RING_TIMERS_ON = 0x18
"""DR34 value that lets the chip time the cadence (see `DR.RING_OSC_CONTROL`)."""
RING_ACTIVE_TIMER_ENABLE = 0x10
RING_INACTIVE_TIMER_ENABLE = 0x08
DCDC_POWERED_DOWN = 0x10
DCDC_CAL = 0x80
CAL_START = 0x40
CAL1_STANDARD = 0x47
CAL2_STANDARD = 0x1E
CAL2_LONGITUDINAL = 0x01
LOOPBACK_RESET_VALUE = 0x02
HYBRID_RESET_VALUE = 0x33
ENHANCEMENT_REV_E = 0xEB
AUTO_ALL = 0x1F
PCM_ENABLE = 0x20
PCM_FORMAT_SHIFT = 3
SI3215_FAMILY = 0x80
FOREIGN_VOLTAGE_SENSE_MAX = 0x11
"""DR80/DR81 above this before the DC-DC converter starts: foreign voltage ([SLAPI])."""
MANUAL_CAL_START = 0x1F
DCDC_CAL_RESULT_SANE = range(2, 14)

# --- units ---------------------------------------------------------------------------------------

TIMER_LSB_S = 125e-6
"""Ring and tone timers: 125 µs per count, 16 bits (≤ 8.191875 s)."""
DEBOUNCE_LSB_S = 1.25e-3
VOLTS_PER_STEP = 1.5
"""DR72–DR75 programming step."""
SENSE_VOLTS_PER_LSB = 0.376
LOOP_CURRENT_MIN_MA = 20
LOOP_CURRENT_STEP_MA = 3
RING_OSC_RATE_HZ = 1000.0
"""The ring oscillator's update rate implied by published coefficients (see below)."""
RING_VPK_FULL_SCALE = 96.0
MAX_RING_VPK = 90.0
"""[DS] front page: "internal balanced ringing up to 90 VPK"."""


def timer_counts(duration_ms: float) -> int:
    """A 125 µs timer value for `duration_ms`. Raises ValueError beyond 8191.875 ms."""
    counts = round(duration_ms / 1000.0 / TIMER_LSB_S)
    if not 0 <= counts <= 0xFFFF:
        raise ValueError(f"{duration_ms:g} ms does not fit a 16-bit 125 µs timer")
    return counts


def debounce_counts(duration_ms: float) -> int:
    """A 1.25 ms debounce register value for `duration_ms` (0–318.75 ms)."""
    counts = round(duration_ms / 1000.0 / DEBOUNCE_LSB_S)
    if not 0 <= counts <= 0xFF:
        raise ValueError(f"{duration_ms:g} ms does not fit a 1.25 ms debounce register")
    return counts


def volts_register(volts: float) -> int:
    """A 1.5 V/LSB voltage register value (DR72–DR75), 0–94.5 V (6 bits assumed)."""
    value = round(volts / VOLTS_PER_STEP)
    if not 0 <= value <= 0x3F:
        raise ValueError(f"{volts:g} V outside 0-94.5 V")
    return value


def ring_coefficient(frequency_hz: float) -> int:
    """RCO (IR20) for a ring frequency: ⌊2¹⁵ · cos(2π f / 1000 Hz)⌋.

    Derived, not read: it gives 0x7E6C for 25 Hz, exactly the value [ARD] writes with the
    comment "25 Hz ringing frequency", and 0x7EFD for 20 Hz, between the published 20 Hz
    values 0x7EF0 ([DAHDI]) and 0x7F00 ([SLAPI] preset)."""
    if not 10.0 <= frequency_hz <= 100.0:
        raise ValueError(f"ring frequency {frequency_hz:g} Hz outside 10-100 Hz")
    return math.floor(32768.0 * math.cos(2.0 * math.pi * frequency_hz / RING_OSC_RATE_HZ))


def ring_amplitude(frequency_hz: float, vpk: float) -> int:
    """RNGX (IR21) for `vpk` peak volts: 2¹³ · tan(π f / 1000 Hz) · Vpk / 96 V.

    Derived: at 25 Hz it is the "RNGX = 645 · Vpk / 96" that [ARD] quotes."""
    if not 0.0 < vpk <= MAX_RING_VPK:
        raise ValueError(f"ring voltage {vpk:g} Vpk outside 0-{MAX_RING_VPK:g}")
    tangent = math.tan(math.pi * frequency_hz / RING_OSC_RATE_HZ)
    return round(8192.0 * tangent * vpk / RING_VPK_FULL_SCALE)


def ring_frequency_hz(coefficient: int) -> float:
    """The inverse of `ring_coefficient` (the emulator uses it to hear the ring)."""
    return math.acos(max(-1.0, min(1.0, coefficient / 32768.0))) * RING_OSC_RATE_HZ / (
        2.0 * math.pi)


def ring_vpk(frequency_hz: float, amplitude: int) -> float:
    """The inverse of `ring_amplitude`."""
    tangent = math.tan(math.pi * frequency_hz / RING_OSC_RATE_HZ)
    return 0.0 if tangent <= 0.0 else amplitude * RING_VPK_FULL_SCALE / (8192.0 * tangent)


# --- chip identity -------------------------------------------------------------------------------


class Part(StrEnum):
    """What DR0[5:4] and DR1[7] say the chip is ([SLAPI] chipType)."""

    SI3210 = "Si3210"
    SI3211 = "Si3211"
    SI3212 = "Si3212"
    SI3210M = "Si3210M"
    SI3215 = "Si3215"


_PART_BITS = {0: Part.SI3210, 1: Part.SI3211, 2: Part.SI3212, 3: Part.SI3210M}


@dataclass(frozen=True, slots=True)
class ChipIdentity:
    """Part and silicon revision ("E" for revision 5: [SLAPI] chipRev = 'A' − 1 + DR0[3:0])."""

    part: Part
    revision: int

    @property
    def revision_letter(self) -> str:
        return chr(ord("A") - 1 + self.revision) if 1 <= self.revision <= 26 else "?"

    @property
    def indirect_map(self) -> Mapping[IR, int | None]:
        return SI3215_ADDRESSES if self.part is Part.SI3215 else SI3210_ADDRESSES


MIN_REVISION = 2
"""[DAHDI]: "ProSLIC 3210 version %d is too old" below 2."""


def identify(dr0: int, dr1: int) -> ChipIdentity | None:
    """The chip from DR0 and DR1, or None when nothing answered (revision 0 or 0xF: a floating
    or grounded MISO; [DAHDI] "SLIC not loaded")."""
    revision = dr0 & 0x0F
    if revision in (0x0, 0xF):
        return None
    part = Part.SI3215 if dr1 & SI3215_FAMILY else _PART_BITS[(dr0 >> 4) & 0x03]
    return ChipIdentity(part, revision)


# --- indirect registers --------------------------------------------------------------------------


class IR(IntEnum):
    """Indirect registers, by their Si3210 number ([DAHDI] table, [SLREF], [SLAPI])."""

    DTMF_ROW0_PEAK = 0
    DTMF_ROW1_PEAK = 1
    DTMF_ROW2_PEAK = 2
    DTMF_ROW3_PEAK = 3
    DTMF_COL1_PEAK = 4
    DTMF_FWD_TWIST = 5
    DTMF_RVS_TWIST = 6
    DTMF_ROW_RATIO = 7
    DTMF_COL_RATIO = 8
    DTMF_ROW_2ND_ARM = 9
    DTMF_COL_2ND_ARM = 10
    DTMF_PWR_MIN = 11
    DTMF_OT_LIM = 12
    OSC1_COEF = 13
    OSC1X = 14
    OSC1Y = 15
    OSC2_COEF = 16
    OSC2X = 17
    OSC2Y = 18
    RING_V_OFF = 19
    """Ring oscillator DC offset (RNGOFF)."""
    RING_OSC = 20
    """Ring oscillator frequency coefficient (RCO)."""
    RING_X = 21
    """Ring oscillator amplitude (RNGX)."""
    RING_Y = 22
    """Ring oscillator initial phase (RNGY)."""
    PULSE_ENVEL = 23
    PULSE_X = 24
    PULSE_Y = 25
    RX_DIGITAL_GAIN = 26
    TX_DIGITAL_GAIN = 27
    LOOP_CLOSE_THRESH = 28
    RING_TRIP_THRESH = 29
    COMMON_MIN_THRESH = 30
    COMMON_MAX_THRESH = 31
    PWR_ALARM_Q1Q2 = 32
    PWR_ALARM_Q3Q4 = 33
    PWR_ALARM_Q5Q6 = 34
    LOOP_CLOSURE_FILTER = 35
    RING_TRIP_FILTER = 36
    THERM_LP_POLE_Q1Q2 = 37
    THERM_LP_POLE_Q3Q4 = 38
    THERM_LP_POLE_Q5Q6 = 39
    CM_BIAS_RINGING = 40
    DCDC_MIN_V = 41
    LOOP_CLOSE_THRESH_LOW = 43


_SI3215_SHIFTED = {ir: ir - 13 for ir in IR if IR.OSC1_COEF <= ir <= IR.CM_BIAS_RINGING
                   and not IR.PULSE_ENVEL <= ir <= IR.PULSE_Y}
SI3210_ADDRESSES: Mapping[IR, int | None] = MappingProxyType({ir: int(ir) for ir in IR})
SI3215_ADDRESSES: Mapping[IR, int | None] = MappingProxyType({
    **{ir: None for ir in IR},  # DTMF and pulse metering: not on the Si3215
    **_SI3215_SHIFTED,
    IR.DCDC_MIN_V: 64,
    IR.LOOP_CLOSE_THRESH_LOW: 66,
})
"""Si3215 indirect addresses ([DAHDI] second column: OSC1_COEF 13→0 … CM_BIAS_RINGING 40→27,
DCDC_MIN_V 41→64, LOOP_CLOSE_TRES_LOW 43→66; [SLREF] possibleAddressCorrect: the same
offsets). Verified."""

ACCUMULATORS_SI3210 = (*range(88, 96), 97, *range(193, 212))
"""AN35 step 20, "flush energy accumulators" ([SLAPI] 88–211; [OUF] 88–95, 97, 194–211; the
union of what both clear and the datasheet calls undocumented)."""
ACCUMULATORS_SI3215 = tuple(range(75, 81))
"""Si3210 IR88–93 sit at 75–80 on the Si3215 ([SLREF] possibleAddressCorrect); the rest of
the Si3210 list has no Si3215 counterpart we could find (assumed: nothing to flush)."""


class LinefeedCircuit(StrEnum):
    """What drives the line: the power-alarm thresholds depend on it."""

    DISCRETE = "discrete"
    """Discrete bipolar transistors ([SLREF]/[DAHDI]/[SLAPI] defaults)."""
    SI3201 = "si3201"
    """Silicon Labs Si3201 linefeed IC (AN47 p. 4, as quoted by [OUF] and [ARD])."""


INDIRECT_INITIAL: Mapping[IR, int] = MappingProxyType({
    # AN35 step 9; values as in [SLREF]/[SLAPI]/[DAHDI] (identical where all three list them).
    IR.DTMF_ROW0_PEAK: 0x55C2, IR.DTMF_ROW1_PEAK: 0x51E6, IR.DTMF_ROW2_PEAK: 0x4B85,
    IR.DTMF_ROW3_PEAK: 0x4937, IR.DTMF_COL1_PEAK: 0x3333, IR.DTMF_FWD_TWIST: 0x0202,
    IR.DTMF_RVS_TWIST: 0x0202, IR.DTMF_ROW_RATIO: 0x0198, IR.DTMF_COL_RATIO: 0x0198,
    IR.DTMF_ROW_2ND_ARM: 0x0611, IR.DTMF_COL_2ND_ARM: 0x0202, IR.DTMF_PWR_MIN: 0x00E5,
    IR.DTMF_OT_LIM: 0x0A1C,
    IR.OSC1_COEF: 0x7B30, IR.OSC1X: 0x0063, IR.OSC1Y: 0x0000,
    IR.OSC2_COEF: 0x7870, IR.OSC2X: 0x007D, IR.OSC2Y: 0x0000,
    IR.RING_V_OFF: 0x0000, IR.RING_OSC: 0x7EF0, IR.RING_X: 0x0160, IR.RING_Y: 0x0000,
    IR.PULSE_ENVEL: 0x2000, IR.PULSE_X: 0x2000, IR.PULSE_Y: 0x0000,
    IR.RX_DIGITAL_GAIN: 0x4000, IR.TX_DIGITAL_GAIN: 0x4000,
    IR.LOOP_CLOSE_THRESH: 0x1000, IR.RING_TRIP_THRESH: 0x3600,
    IR.COMMON_MIN_THRESH: 0x1000,
    IR.COMMON_MAX_THRESH: 0x0080,  # [ARD] "AN35: 0x0080"; [SLAPI] 0x080 (DAHDI uses 0x0200)
    # AN35: IR35–39 are held at 0x8000 until the end of initialisation, then set (step 21).
    IR.LOOP_CLOSURE_FILTER: 0x8000, IR.RING_TRIP_FILTER: 0x8000,
    IR.THERM_LP_POLE_Q1Q2: 0x8000, IR.THERM_LP_POLE_Q3Q4: 0x8000,
    IR.THERM_LP_POLE_Q5Q6: 0x8000,
    IR.CM_BIAS_RINGING: 0x0C00, IR.DCDC_MIN_V: 0x0C00, IR.LOOP_CLOSE_THRESH_LOW: 0x1000,
})
"""Indirect registers loaded before the DC-DC converter starts (ring ones are replaced by the
port's ring settings afterwards; the power-alarm thresholds come from `power_alarm_values`)."""

FILTERS_FINAL: Mapping[LinefeedCircuit, Mapping[IR, int]] = MappingProxyType({
    LinefeedCircuit.DISCRETE: MappingProxyType({
        IR.LOOP_CLOSURE_FILTER: 0x8000, IR.RING_TRIP_FILTER: 0x0320,
        IR.THERM_LP_POLE_Q1Q2: 0x008C, IR.THERM_LP_POLE_Q3Q4: 0x0100,
        IR.THERM_LP_POLE_Q5Q6: 0x0010}),
    LinefeedCircuit.SI3201: MappingProxyType({
        IR.LOOP_CLOSURE_FILTER: 0x8000, IR.RING_TRIP_FILTER: 0x0320,
        IR.THERM_LP_POLE_Q1Q2: 0x0010, IR.THERM_LP_POLE_Q3Q4: 0x0010,
        IR.THERM_LP_POLE_Q5Q6: 0x0010}),
})
"""IR35–39 after calibration ([SLAPI] ramInitTable2; Si3201: AN47 p. 4 via [OUF])."""

POWER_ALARM_THRESHOLDS: Mapping[LinefeedCircuit, Mapping[IR, int]] = MappingProxyType({
    LinefeedCircuit.DISCRETE: MappingProxyType({
        IR.PWR_ALARM_Q1Q2: 0x07C0, IR.PWR_ALARM_Q3Q4: 0x2600, IR.PWR_ALARM_Q5Q6: 0x1B80}),
    LinefeedCircuit.SI3201: MappingProxyType({
        IR.PWR_ALARM_Q1Q2: 0x0FF0, IR.PWR_ALARM_Q3Q4: 0x7F80, IR.PWR_ALARM_Q5Q6: 0x0FF0}),
})
"""IR32–34 ([SLREF]/[SLAPI]/[DAHDI] for discrete transistors; AN47 p. 4 for the Si3201)."""
