"""Slippage and fee models, with worked numbers."""

from __future__ import annotations

import pytest

from LIVE_TRADING.brokers.paper.costs import (
    MAKER,
    TAKER,
    BpsFee,
    FixedBps,
    MakerTakerFee,
    PerShareFee,
    SpreadOnly,
    SqrtImpact,
    apply_slippage,
    fill_fee,
)


def test_fixed_bps():
    assert FixedBps(5).bps(1, 100) == 5
    assert FixedBps(5).bps(10_000, 1) == 5  # size-independent


def test_spread_only():
    assert SpreadOnly().bps(1e6, 1) == 0.0


def test_sqrt_impact_worked_numbers():
    m = SqrtImpact(base_bps=1.0, impact_bps=10.0)
    assert m.bps(100, 100) == pytest.approx(11.0)  # 1 + 10 * sqrt(1)
    assert m.bps(400, 100) == pytest.approx(21.0)  # 1 + 10 * sqrt(4)
    assert m.bps(25, 100) == pytest.approx(6.0)  # 1 + 10 * sqrt(0.25)
    assert m.bps(50, 0) == pytest.approx(11.0)  # empty side: ratio 1


def test_apply_slippage():
    assert apply_slippage(100.0, True, 5) == pytest.approx(100.05)
    assert apply_slippage(100.0, False, 5) == pytest.approx(99.95)
    assert apply_slippage(100.0, True, 0) == 100.0


def test_bps_fee():
    assert BpsFee(1).order_fee(100, 15_000, TAKER) == pytest.approx(1.5)
    assert BpsFee(0).order_fee(100, 15_000, TAKER) == 0


def test_per_share_fee_min_max_and_middle():
    m = PerShareFee(per_share=0.005, min_per_order=1.0, max_pct_of_notional=1.0)
    assert m.order_fee(100, 15_000, TAKER) == pytest.approx(1.0)  # 0.50 -> minimum $1
    assert m.order_fee(1000, 150_000, TAKER) == pytest.approx(5.0)  # 1000 * 0.005
    assert m.order_fee(1000, 200, TAKER) == pytest.approx(2.0)  # penny stock: capped at 1% of $200
    assert m.order_fee(0, 0, TAKER) == 0.0


def test_per_share_minimum_charged_once_across_partial_fills():
    m = PerShareFee(0.005, 1.0, 1.0)
    f1 = fill_fee(m, 0, 0, 100, 10_000, TAKER)  # first 100 shares: min $1
    f2 = fill_fee(m, 100, 10_000, 100, 10_000, MAKER)  # 200 shares total still $1
    f3 = fill_fee(m, 200, 20_000, 300, 30_000, MAKER)  # 500 shares: $2.50 total
    assert (f1, f2, f3) == pytest.approx((1.0, 0.0, 1.5))
    assert f1 + f2 + f3 == pytest.approx(m.order_fee(500, 50_000, TAKER))


def test_maker_taker():
    m = MakerTakerFee(maker_bps=-0.5, taker_bps=2.0)
    assert m.order_fee(1, 10_000, MAKER) == pytest.approx(-0.5)  # rebate
    assert m.order_fee(1, 10_000, TAKER) == pytest.approx(2.0)
    assert m.max_fee(1, 10_000) == pytest.approx(2.0)
    assert fill_fee(m, 5, 50_000, 1, 10_000, MAKER) == pytest.approx(-0.5)
