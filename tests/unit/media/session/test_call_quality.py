"""E-model rating and the call-record quality figures (ITU-T G.107, G.109, G.113)."""

from __future__ import annotations

import json

import pytest

from firmware.media.quality import (
    CallQuality,
    EModelCodec,
    call_quality,
    effective_equipment_impairment,
    mos_from_r,
    r_factor,
)
from firmware.media.rtcp import ReportBlock
from firmware.media.rtp_session import ReceptionStatistics


def test_default_connection_rates_93_2_and_mos_4_4() -> None:
    # G.107: with every parameter at its default, R = 93.2.
    r = r_factor(EModelCodec.G711_PLC, loss_pct=0.0, one_way_delay_ms=0.0)
    assert r == pytest.approx(93.2, abs=0.05)
    assert mos_from_r(r) == pytest.approx(4.41, abs=0.01)


@pytest.mark.parametrize(
    ("r", "mos"),
    # G.109 Table 1 category limits and the MOS G.107 Annex B gives for them.
    [(90.0, 4.34), (80.0, 4.03), (70.0, 3.60), (60.0, 3.10), (50.0, 2.58)],
)
def test_mos_at_the_g109_category_limits(r: float, mos: float) -> None:
    assert mos_from_r(r) == pytest.approx(mos, abs=0.01)  # G.109 prints 4.03 for 4.024


def test_mos_is_clamped_outside_0_to_100() -> None:
    assert mos_from_r(-5.0) == 1.0
    assert mos_from_r(120.0) == 4.5


@pytest.mark.parametrize("delay_ms", [50.0, 100.0, 150.0, 200.0, 250.0, 300.0])
def test_delay_impairment_agrees_with_the_cole_rosenbluth_fit(delay_ms: float) -> None:
    # Cole & Rosenbluth, "Voice over IP performance monitoring", ACM CCR 31(2), 2001: the G.107
    # default curve fitted as Id = 0.024 d + 0.11 (d − 177.3) H(d − 177.3). An independent
    # reference: our R comes from the full G.107 Idte + Idle + Idd formulas.
    fit = 93.2 - 0.024 * delay_ms - 0.11 * max(delay_ms - 177.3, 0.0)
    assert r_factor(EModelCodec.G711_PLC, 0.0, delay_ms) == pytest.approx(fit, abs=0.5)


def test_rating_falls_monotonically_with_loss_and_with_delay() -> None:
    losses = [0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0]
    delays = [0.0, 50.0, 100.0, 150.0, 200.0, 300.0, 400.0, 600.0]
    by_loss = [r_factor(EModelCodec.G711_PLC, loss, 40.0) for loss in losses]
    by_delay = [r_factor(EModelCodec.G711_PLC, 1.0, delay) for delay in delays]
    assert all(a > b for a, b in zip(by_loss, by_loss[1:], strict=False))
    assert all(a > b for a, b in zip(by_delay, by_delay[1:], strict=False))
    mos = [mos_from_r(r) for r in by_loss]
    assert mos == sorted(mos, reverse=True) and mos[0] > 4.3


def test_effective_impairment_uses_g113_bpl_for_g711_with_and_without_plc() -> None:
    # G.107 §7.4: Ie,eff = Ie + (95 − Ie) · Ppl / (Ppl / BurstR + Bpl); G.113 App. I:
    # G.711 with Appendix I PLC Bpl = 25.1, without PLC 4.3; G.729A Ie = 11, Bpl = 19.
    assert effective_equipment_impairment(EModelCodec.G711_PLC, 1.0) == pytest.approx(95 / 26.1)
    assert effective_equipment_impairment(EModelCodec.G711, 1.0) == pytest.approx(95 / 5.3)
    assert effective_equipment_impairment(EModelCodec.G729A, 2.0) == pytest.approx(
        11 + 84 * 2 / 21
    )
    # Concealment is worth a lot: 2 % loss costs ~7 R points with PLC, ~30 without.
    with_plc = r_factor(EModelCodec.G711_PLC, 2.0, 0.0)
    without = r_factor(EModelCodec.G711, 2.0, 0.0)
    assert with_plc - without > 20


def _stats(expected: int, lost: int, jitter_ms: float = 3.0) -> ReceptionStatistics:
    return ReceptionStatistics(
        ssrc=1,
        received=expected - lost,
        expected=expected,
        lost=lost,
        jitter_ms=jitter_ms,
        mean_jitter_ms=jitter_ms,
        max_jitter_ms=2 * jitter_ms,
        extended_highest_sequence=expected,
        sources=1,
    )


def test_call_quality_of_a_clean_lan_call() -> None:
    quality = call_quality(_stats(15_000, 0), rtt_s=0.002, jitter_buffer_ms=40.0)
    assert quality.loss_pct == 0.0
    assert quality.one_way_delay_ms == pytest.approx(1.0 + 40.0 + 20.0 + 3.75)
    assert quality.r_factor > 90 and quality.mos > 4.3
    assert quality.rtt_ms == pytest.approx(2.0)
    assert quality.remote_loss_pct is None


def test_call_quality_reflects_loss_and_the_peers_report() -> None:
    block = ReportBlock(ssrc=9, fraction_lost=13, cumulative_lost=300, jitter=160)
    quality = call_quality(
        _stats(10_000, 300), rtt_s=0.120, jitter_buffer_ms=60.0, remote_block=block,
        packets_sent=10_000,
    )
    assert quality.loss_pct == pytest.approx(3.0)
    assert quality.remote_loss_pct == pytest.approx(3.0)
    assert quality.remote_jitter_ms == pytest.approx(20.0)
    clean = call_quality(_stats(10_000, 0), rtt_s=0.120, jitter_buffer_ms=60.0)
    assert quality.mos < clean.mos - 0.3


def test_call_quality_serialises_to_a_json_ready_dict_for_the_cdr() -> None:
    quality = call_quality(_stats(1000, 10), rtt_s=None, jitter_buffer_ms=20.0)
    record = quality.as_dict()
    assert record["codec"] == "G711_PLC"
    assert record["rtt_ms"] is None
    assert record["loss_pct"] == 1.0
    assert set(record) == set(CallQuality.__dataclass_fields__)
    assert json.loads(json.dumps(record)) == record
