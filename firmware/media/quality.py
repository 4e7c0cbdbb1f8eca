"""Per-call voice quality for the call record: loss, jitter, round trip and an E-model MOS.

The rating follows the ITU-T G.107 (06/2015) E-model, R = Ro − Is − Id − Ie,eff + A, with every
parameter at its G.107 Table 3 default except the ones a call measures:

* the mean one-way delay T = Ta (talker echo path and absolute delay taken as equal, as for a
  VoIP leg with echo cancelled to the default TELR of 65 dB) and the listener-echo round trip
  Tr = 2T. Id = Idte(T) + Idle(Tr) + Idd(Ta) per §7.3 (Idd with the default mT = 100 ms);
* Ie,eff = Ie + (95 − Ie) · Ppl / (Ppl / BurstR + Bpl) (§7.4) with random loss (BurstR = 1)
  and the codec's Ie and Bpl from ITU-T G.113 Appendix I: G.711 with the Appendix I PLC Ie = 0,
  Bpl = 25.1; G.711 without PLC Ie = 0, Bpl = 4.3; G.729A Ie = 11, Bpl = 19.0.

With all defaults R = 93.2, the value G.107 states for them; the MOS is G.107 Annex B:
MOS = 1 + 0.035 R + R (R − 60)(100 − R) · 7·10⁻⁶, so R = 93.2 → 4.41 and the G.109 category
limits R = 90/80/70/60/50 → 4.34/4.03/3.60/3.10/2.58.

The one-way delay is estimated as half the RTCP round trip, plus the jitter-buffer delay, the
packetisation time (one frame) and the PLC look-ahead; a leg without a round trip measured yet
counts only the local parts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import Enum

from firmware.media.rtcp import ReportBlock
from firmware.media.rtp_session import ReceptionStatistics

# G.107 Table 3 defaults.
SLR_DB = 8.0
RLR_DB = 2.0
STMR_DB = 15.0
LSTR_DB = 18.0
DS_DB = 3.0
TELR_DB = 65.0
WEPL_DB = 110.0
QDU = 1.0
NC_DBM0P = -70.0
NFOR_DBMP = -64.0
PS_DBA = 35.0
PR_DBA = 35.0
ADVANTAGE = 0.0


class EModelCodec(Enum):
    """Codecs with G.113 Appendix I planning values: (Ie, Bpl for random loss)."""

    G711_PLC = (0.0, 25.1)
    G711 = (0.0, 4.3)
    G729A = (11.0, 19.0)

    @property
    def ie(self) -> float:
        """Equipment impairment factor without loss."""
        return self.value[0]

    @property
    def bpl(self) -> float:
        """Packet-loss robustness factor."""
        return self.value[1]


def _basic_terms() -> tuple[float, float]:
    """No (dBm0p) and Ro − Is for the default parameters (G.107 §7.1, §7.2)."""
    olr = SLR_DB + RLR_DB
    nfo = NFOR_DBMP + RLR_DB
    pre = PR_DBA + 10 * math.log10(1 + 10 ** ((10 - LSTR_DB) / 10))
    nor = RLR_DB - 121 + pre + 0.008 * (pre - 35) ** 2
    nos = PS_DBA - SLR_DB - DS_DB - 100 + 0.004 * (PS_DBA - olr - DS_DB - 14) ** 2
    no = 10 * math.log10(
        10 ** (NC_DBM0P / 10) + 10 ** (nos / 10) + 10 ** (nor / 10) + 10 ** (nfo / 10)
    )
    ro = 15 - 1.5 * (SLR_DB + no)
    xolr = olr + 0.2 * (64 + no - RLR_DB)
    iolr = 20 * ((1 + (xolr / 8) ** 8) ** (1 / 8) - xolr / 8)
    q = 37 - 15 * math.log10(QDU)
    g = 1.07 + 0.258 * q + 0.0602 * q**2
    z = 46 / 30 - g / 40
    y = (ro - 100) / 15 + 46 / 8.4 - g / 9
    iq = 15 * math.log10(1 + 10**y + 10**z)
    return no, ro - iolr - iq


_NO, _RO_MINUS_IS_WITHOUT_IST = _basic_terms()
_RO = 15 - 1.5 * (SLR_DB + _NO)


def _sidetone_impairment(t_ms: float) -> float:
    """Ist (G.107 §7.2), whose STMRo depends on the echo delay T."""
    stmro = -10 * math.log10(10 ** (-STMR_DB / 10) + math.exp(-t_ms / 4) * 10 ** (-TELR_DB / 10))
    return float(
        12 * (1 + ((stmro - 13) / 6) ** 8) ** (1 / 8)
        - 28 * (1 + ((stmro + 1) / 19.4) ** 35) ** (1 / 35)
        - 13 * (1 + ((stmro - 3) / 33) ** 13) ** (1 / 13)
        + 29
    )


def delay_impairment(one_way_delay_ms: float) -> float:
    """Id = Idte + Idle + Idd (G.107 §7.3) for T = Ta = `one_way_delay_ms`, Tr = 2T."""
    t = max(one_way_delay_ms, 0.0)
    terv = TELR_DB - 40 * math.log10((1 + t / 10) / (1 + t / 150)) + 6 * math.exp(-0.3 * t**2)
    roe = -1.5 * (_NO - RLR_DB)
    re = 80 + 2.5 * (terv - 14)
    idte = ((roe - re) / 2 + math.sqrt((roe - re) ** 2 / 4 + 100) - 1) * (1 - math.exp(-t))
    rle = 10.5 * (WEPL_DB + 7) * (2 * t + 1) ** -0.25
    idle = (_RO - rle) / 2 + math.sqrt((_RO - rle) ** 2 / 4 + 169)
    idd = 0.0
    if t > 100:
        x = math.log10(t / 100) / math.log10(2)
        idd = 25 * ((1 + x**6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2)
    return float(idte + idle + idd)


def effective_equipment_impairment(codec: EModelCodec, loss_pct: float) -> float:
    """Ie,eff (G.107 §7.4) for random loss of `loss_pct` percent (BurstR = 1)."""
    ppl = min(max(loss_pct, 0.0), 100.0)
    return codec.ie + (95 - codec.ie) * ppl / (ppl + codec.bpl)


def r_factor(codec: EModelCodec, loss_pct: float, one_way_delay_ms: float) -> float:
    """The transmission rating R (G.107 §7) for a leg, clamped to [0, 100]."""
    r = (
        _RO_MINUS_IS_WITHOUT_IST
        - _sidetone_impairment(one_way_delay_ms)
        - delay_impairment(one_way_delay_ms)
        - effective_equipment_impairment(codec, loss_pct)
        + ADVANTAGE
    )
    return min(max(r, 0.0), 100.0)


def mos_from_r(r: float) -> float:
    """Estimated conversational MOS from R (G.107 Annex B, formula B-4)."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6


@dataclass(frozen=True, slots=True)
class CallQuality:
    """Voice quality of one leg's received stream, as the call record keeps it.

    `remote_*` are what the peer reported about the stream we sent (RTCP), None if it never
    reported. `r_factor` and `mos` rate the received direction.
    """

    codec: str
    packets_expected: int
    packets_lost: int
    loss_pct: float
    jitter_ms: float
    max_jitter_ms: float
    rtt_ms: float | None
    one_way_delay_ms: float
    remote_loss_pct: float | None
    remote_jitter_ms: float | None
    r_factor: float
    mos: float

    def as_dict(self) -> dict[str, str | int | float | None]:
        """Plain values for the CDR (JSON-ready), figures rounded to what they mean."""
        out: dict[str, str | int | float | None] = asdict(self)
        for key, value in out.items():
            if isinstance(value, float):
                out[key] = round(value, 2)
        return out


def call_quality(
    stats: ReceptionStatistics,
    *,
    codec: EModelCodec = EModelCodec.G711_PLC,
    rtt_s: float | None = None,
    jitter_buffer_ms: float = 0.0,
    frame_ms: float = 20.0,
    lookahead_ms: float = 3.75,
    remote_block: ReportBlock | None = None,
    packets_sent: int = 0,
    clock_rate_hz: int = 8000,
) -> CallQuality:
    """Figures for the call record from the receiver's statistics and the RTCP exchange.

    `lookahead_ms` is the PLC output delay (3.75 ms for G.711 Appendix I); `packets_sent` turns
    the peer's cumulative loss count into a percentage.
    """
    loss_pct = stats.loss_fraction * 100
    one_way_ms = jitter_buffer_ms + frame_ms + lookahead_ms
    if rtt_s is not None:
        one_way_ms += rtt_s * 1000 / 2
    remote_loss_pct: float | None = None
    remote_jitter_ms: float | None = None
    if remote_block is not None:
        remote_jitter_ms = remote_block.jitter * 1000 / clock_rate_hz
        if packets_sent > 0:
            remote_loss_pct = min(max(remote_block.cumulative_lost / packets_sent, 0.0), 1.0) * 100
        else:
            remote_loss_pct = remote_block.fraction_lost / 256 * 100
    r = r_factor(codec, loss_pct, one_way_ms)
    return CallQuality(
        codec=codec.name,
        packets_expected=stats.expected,
        packets_lost=max(stats.lost, 0),
        loss_pct=loss_pct,
        jitter_ms=stats.mean_jitter_ms,
        max_jitter_ms=stats.max_jitter_ms,
        rtt_ms=None if rtt_s is None else rtt_s * 1000,
        one_way_delay_ms=one_way_ms,
        remote_loss_pct=remote_loss_pct,
        remote_jitter_ms=remote_jitter_ms,
        r_factor=r,
        mos=mos_from_r(r),
    )
