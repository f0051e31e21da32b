"""PaperBroker realism: order types x side x time in force, partial fills, reservations,
cancels, expiry, shorting, P&L, cost models and resume with open orders — with worked numbers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from LIVE_TRADING.brokers.paper import PaperBroker
from LIVE_TRADING.common.exceptions import InsufficientFundsError, OrderNotFoundError, OrderRejectedError
from LIVE_TRADING.common.journal import iter_records

SLIP = 10.0  # bps


@pytest.fixture
def make(clock, tmp_path):
    def _make(**kw):
        args = dict(initial_cash=100_000, slippage_bps=SLIP, fee_bps=0, clock=clock, log_dir=tmp_path / "j")
        args.update(kw)
        b = PaperBroker(**args)
        b.set_quote("A", 99.0, 101.0, 1_000, 1_000)
        return b

    return _make


@pytest.fixture
def b(make):
    return make()


@pytest.fixture
def long_b(make):
    """A broker holding 500 A (bought at 101.101)."""
    br = make()
    br.submit_order("A", "BUY", 500)
    return br


def state(br):
    return br.get_cash(), br.get_positions(), br.get_fills(), br.get_open_orders()


# ---------------------------------------------------------------- market orders
@pytest.mark.parametrize("tif", ["gtc", "day", "ioc", "fok"])
def test_market_buy_every_tif(b, tif):
    r = b.submit_order("A", "BUY", 10, time_in_force=tif)
    assert r["status"] == "filled" and r["fill_price"] == pytest.approx(101.0 * 1.001)
    assert b.get_open_orders() == []


@pytest.mark.parametrize("tif", ["gtc", "day", "ioc", "fok"])
def test_market_sell_every_tif(long_b, tif):
    r = long_b.submit_order("A", "SELL", 10, time_in_force=tif)
    assert r["status"] == "filled" and r["fill_price"] == pytest.approx(99.0 * 0.999)


# ---------------------------------------------------------------- limit orders
@pytest.mark.parametrize("tif", ["gtc", "day", "ioc", "fok"])
def test_marketable_limit_buy_fills_never_worse_than_limit(b, tif):
    r = b.submit_order("A", "BUY", 10, "limit", 102.0, time_in_force=tif)
    assert r["status"] == "filled" and r["fill_price"] == pytest.approx(101.101)  # ask + 10bp < limit
    r = b.submit_order("A", "BUY", 10, "limit", 101.05, time_in_force=tif)
    assert r["fill_price"] == pytest.approx(101.05)  # slippage capped by the limit


@pytest.mark.parametrize("tif", ["gtc", "day", "ioc", "fok"])
def test_marketable_limit_sell(long_b, tif):
    r = long_b.submit_order("A", "SELL", 10, "limit", 98.0, time_in_force=tif)
    assert r["fill_price"] == pytest.approx(98.901)
    r = long_b.submit_order("A", "SELL", 10, "limit", 98.95, time_in_force=tif)
    assert r["fill_price"] == pytest.approx(98.95)


@pytest.mark.parametrize("tif", ["gtc", "day"])
def test_resting_limit_buy_fills_when_ask_reaches_it(b, tif):
    r = b.submit_order("A", "BUY", 10, "limit", 100.0, time_in_force=tif)
    assert r["status"] == "new" and r["filled_qty"] == 0 and r["fill_price"] is None
    assert b.get_cash() == pytest.approx(100_000 - 1000)  # reserved
    b.set_quote("A", 99.4, 100.2)
    assert b.get_order(r["order_id"])["status"] == "new"
    b.set_quote("A", 99.0, 99.5)
    o = b.get_order(r["order_id"])
    assert o["status"] == "filled" and o["fill_price"] == pytest.approx(99.5)  # min(limit, ask), no slippage
    assert b.get_cash() == pytest.approx(100_000 - 995)
    assert b.get_fills()[-1]["liquidity"] == "maker"


@pytest.mark.parametrize("tif", ["gtc", "day"])
def test_resting_limit_sell_fills_when_bid_reaches_it(long_b, tif):
    r = long_b.submit_order("A", "SELL", 10, "limit", 100.0, time_in_force=tif)
    assert r["status"] == "new"
    long_b.set_quote("A", 100.5, 101.5)
    o = long_b.get_order(r["order_id"])
    assert o["status"] == "filled" and o["fill_price"] == pytest.approx(100.5)  # max(limit, bid)


def test_non_marketable_ioc_limit_is_cancelled(b):
    before = b.get_cash()
    r = b.submit_order("A", "BUY", 10, "limit", 100.0, time_in_force="ioc")
    assert r["status"] == "cancelled" and r["filled_qty"] == 0
    assert b.get_cash() == before and b.get_open_orders() == []


def test_non_marketable_fok_limit_is_rejected(b):
    before = state(b)
    with pytest.raises(OrderRejectedError, match="FOK"):
        b.submit_order("A", "BUY", 10, "limit", 100.0, time_in_force="fok")
    assert state(b) == before


def test_sell_side_ioc_and_fok_not_marketable(long_b):
    r = long_b.submit_order("A", "SELL", 10, "limit", 100.0, time_in_force="ioc")
    assert r["status"] == "cancelled"
    with pytest.raises(OrderRejectedError):
        long_b.submit_order("A", "SELL", 10, "limit", 100.0, time_in_force="fok")
    assert long_b.get_positions() == {"A": 500}


def test_limit_without_quote_rests(b):
    r = b.submit_order("ZZZ", "BUY", 1, "limit", 5.0)
    assert r["status"] == "new"
    b.set_quote("ZZZ", 4.0, 4.5)
    assert b.get_order(r["order_id"])["fill_price"] == pytest.approx(4.5)


def test_price_time_priority(b):
    low = b.submit_order("A", "BUY", 5, "limit", 99.0)
    high = b.submit_order("A", "BUY", 5, "limit", 100.0)
    first_at_100 = b.submit_order("A", "BUY", 5, "limit", 100.0)
    b2 = b  # quote reaching 100 fills both 100s, not the 99
    b2.set_quote("A", 98.0, 100.0)
    assert b.get_order(high["order_id"])["status"] == "filled"
    assert b.get_order(first_at_100["order_id"])["status"] == "filled"
    assert b.get_order(low["order_id"])["status"] == "new"
    assert [f["order_id"] for f in b.get_fills()] == [high["order_id"], first_at_100["order_id"]]


# ---------------------------------------------------------------- stop orders
@pytest.mark.parametrize("tif", ["gtc", "day"])
def test_buy_stop_triggers_on_ask_and_fills_as_market(b, tif):
    r = b.submit_order("A", "BUY", 10, "stop", stop_price=105.0, time_in_force=tif)
    assert r["status"] == "new"
    b.set_quote("A", 103.0, 104.9)
    assert b.get_order(r["order_id"])["status"] == "new"
    b.set_quote("A", 105.0, 105.5)
    o = b.get_order(r["order_id"])
    assert o["status"] == "filled" and o["fill_price"] == pytest.approx(105.5 * 1.001)


@pytest.mark.parametrize("tif", ["gtc", "day"])
def test_sell_stop_triggers_on_bid(long_b, tif):
    r = long_b.submit_order("A", "SELL", 10, "stop", stop_price=95.0, time_in_force=tif)
    long_b.set_quote("A", 95.1, 96.0)
    assert long_b.get_order(r["order_id"])["status"] == "new"
    long_b.set_quote("A", 94.0, 94.5)
    o = long_b.get_order(r["order_id"])
    assert o["status"] == "filled" and o["fill_price"] == pytest.approx(94.0 * 0.999)


def test_stop_already_through_triggers_at_once(b):
    r = b.submit_order("A", "BUY", 10, "stop", stop_price=100.0)
    assert r["status"] == "filled" and r["fill_price"] == pytest.approx(101.101)


def test_buy_stop_limit_triggers_into_marketable_limit(b):
    r = b.submit_order("A", "BUY", 10, "stop_limit", 106.0, stop_price=105.0)
    b.set_quote("A", 105.0, 105.5)
    o = b.get_order(r["order_id"])
    assert o["status"] == "filled" and o["fill_price"] == pytest.approx(105.5 * 1.001)


def test_buy_stop_limit_gap_rests_as_limit_then_fills(b):
    r = b.submit_order("A", "BUY", 10, "stop_limit", 106.0, stop_price=105.0)
    b.set_quote("A", 106.5, 107.0)  # triggers, but ask > limit: rests as a limit
    assert b.get_order(r["order_id"])["status"] == "new"
    b.set_quote("A", 104.0, 104.5)  # below the stop again: already triggered, it is a limit now
    o = b.get_order(r["order_id"])
    assert o["status"] == "filled" and o["fill_price"] == pytest.approx(104.5)


def test_sell_stop_limit(long_b):
    r = long_b.submit_order("A", "SELL", 10, "stop_limit", 94.0, stop_price=95.0)
    long_b.set_quote("A", 94.5, 95.5)
    o = long_b.get_order(r["order_id"])
    assert o["status"] == "filled" and o["fill_price"] == pytest.approx(94.5 * 0.999)


@pytest.mark.parametrize(("tif", "status"), [("ioc", "cancelled"), ("fok", "rejected")])
def test_stop_limit_ioc_fok_at_trigger_not_marketable(b, tif, status):
    r = b.submit_order("A", "BUY", 10, "stop_limit", 106.0, stop_price=105.0, time_in_force=tif)
    assert r["status"] == "new"
    cash = b.get_cash()
    b.set_quote("A", 106.5, 107.0)
    assert b.get_order(r["order_id"])["status"] == status
    assert b.get_cash() > cash  # reservation released


def test_stop_ioc_triggers_and_fills(b):
    r = b.submit_order("A", "BUY", 10, "stop", stop_price=105.0, time_in_force="ioc")
    b.set_quote("A", 105.0, 105.5)
    assert b.get_order(r["order_id"])["status"] == "filled"


# ---------------------------------------------------------------- partial fills
def test_respect_quote_size_limit_partial_then_rest(make):
    b = make(respect_quote_size=True)
    b.set_quote("A", 99.0, 101.0, 100, 100)
    r = b.submit_order("A", "BUY", 300, "limit", 102.0)
    assert r["status"] == "partially_filled" and r["filled_qty"] == 100
    assert r["fill_price"] == pytest.approx(101.101)
    b.set_quote("A", 99.0, 101.0, 100, 150)
    o = b.get_order(r["order_id"])
    assert o["status"] == "partially_filled" and o["filled_qty"] == 250
    b.set_quote("A", 99.0, 101.0, 100, 150)
    o = b.get_order(r["order_id"])
    assert o["status"] == "filled" and o["filled_qty"] == 300
    # 100 @ 101.101 (taker) + 150 @ 101 + 50 @ 101 (maker: min(limit, ask))
    assert o["fill_price"] == pytest.approx((100 * 101.101 + 200 * 101.0) / 300)
    assert [f["qty"] for f in b.get_fills()] == [100, 150, 50]


def test_respect_quote_size_ioc_cancels_rest(make):
    b = make(respect_quote_size=True)
    b.set_quote("A", 99.0, 101.0, 100, 100)
    r = b.submit_order("A", "BUY", 300, "limit", 102.0, time_in_force="ioc")
    assert r["status"] == "cancelled" and r["filled_qty"] == 100
    r = b.submit_order("A", "BUY", 300, time_in_force="ioc")  # market ioc: displayed size used up
    assert r["status"] == "cancelled" and r["filled_qty"] == 0


def test_respect_quote_size_fok_rejected(make):
    b = make(respect_quote_size=True)
    b.set_quote("A", 99.0, 101.0, 100, 100)
    before = state(b)
    with pytest.raises(OrderRejectedError, match="fok"):
        b.submit_order("A", "BUY", 300, "limit", 102.0, time_in_force="fok")
    with pytest.raises(OrderRejectedError, match="fok"):
        b.submit_order("A", "BUY", 300, time_in_force="fok")
    assert state(b) == before
    assert b.submit_order("A", "BUY", 100, time_in_force="fok")["status"] == "filled"


def test_respect_quote_size_market_walks_through_impact(make):
    b = make(respect_quote_size=True)
    b.set_quote("A", 99.0, 101.0, 100, 100)
    r = b.submit_order("A", "BUY", 300)
    # max(fixed 10bp, 1 + 10 * sqrt(300 / 100) = 18.3205bp)
    assert r["status"] == "filled" and r["filled_qty"] == 300
    assert r["fill_price"] == pytest.approx(101.0 * (1 + 18.320508075688775e-4))


def test_without_respect_quote_size_size_is_ignored(b):
    b.set_quote("A", 99.0, 101.0, 1, 1)
    r = b.submit_order("A", "BUY", 300, "limit", 102.0)
    assert r["status"] == "filled" and r["filled_qty"] == 300


def test_displayed_size_shared_by_resting_orders(make):
    b = make(respect_quote_size=True)
    o1 = b.submit_order("A", "BUY", 100, "limit", 100.0)
    o2 = b.submit_order("A", "BUY", 100, "limit", 100.0)
    b.set_quote("A", 98.0, 99.5, 100, 150)
    assert b.get_order(o1["order_id"])["filled_qty"] == 100
    assert b.get_order(o2["order_id"])["filled_qty"] == 50


# ---------------------------------------------------------------- reservations
def test_two_limits_cannot_overspend(make):
    b = make(initial_cash=10_000)
    b.submit_order("A", "BUY", 60, "limit", 100.0)
    assert b.get_cash() == pytest.approx(4_000)
    before = state(b)
    with pytest.raises(InsufficientFundsError):
        b.submit_order("A", "BUY", 50, "limit", 100.0)
    with pytest.raises(InsufficientFundsError):
        b.submit_order("A", "BUY", 50)  # a market order cannot use reserved cash either
    assert state(b) == before


def test_reservation_includes_fee(make):
    b = make(initial_cash=10_000, fee_bps=10)
    b.submit_order("A", "BUY", 50, "limit", 100.0)
    assert b.get_cash() == pytest.approx(10_000 - 5_000 - 5.0)


def test_sell_orders_reserve_position(long_b):
    long_b.submit_order("A", "SELL", 300, "limit", 110.0)
    with pytest.raises(InsufficientFundsError, match="Insufficient position"):
        long_b.submit_order("A", "SELL", 201, "limit", 111.0)
    assert long_b.submit_order("A", "SELL", 200)["status"] == "filled"


def test_partial_fill_shrinks_reservation(make):
    b = make(initial_cash=10_000, respect_quote_size=True)
    b.set_quote("A", 99.0, 101.0, 100, 10)
    r = b.submit_order("A", "BUY", 50, "limit", 100.0)
    b.set_quote("A", 99.0, 100.0, 100, 20)
    assert b.get_order(r["order_id"])["filled_qty"] == 20
    # cash 10_000 - 20 * 100 paid; 30 * 100 still reserved
    assert b.get_cash() == pytest.approx(10_000 - 2_000 - 3_000)


# ---------------------------------------------------------------- cancels
def test_cancel_open_releases(b):
    r = b.submit_order("A", "BUY", 10, "limit", 100.0)
    assert b.get_cash() == pytest.approx(99_000)
    c = b.cancel_order(r["order_id"])
    assert c["status"] == "cancelled" and b.get_cash() == 100_000
    assert b.get_open_orders() == []
    assert b.cancel_order(r["order_id"])["status"] == "cancelled"  # final: returned, nothing changes
    b.set_quote("A", 98.0, 99.0)
    assert b.get_fills() == []  # a cancelled order never fills
    with pytest.raises(OrderNotFoundError):
        b.cancel_order("unknown")
    records = [x for x in iter_records(b.journal.log_dir) if x["event"] == "cancel"]
    assert len(records) == 1 and records[0]["order_id"] == r["order_id"]


def test_cancel_partially_filled_keeps_fills(make):
    b = make(respect_quote_size=True)
    b.set_quote("A", 99.0, 101.0, 100, 100)
    r = b.submit_order("A", "BUY", 300, "limit", 102.0)
    c = b.cancel_order(r["order_id"])
    assert c["status"] == "cancelled" and c["filled_qty"] == 100
    assert b.get_positions() == {"A": 100}


def test_open_orders_listing(b):
    r1 = b.submit_order("A", "BUY", 1, "limit", 90.0)
    r2 = b.submit_order("A", "BUY", 1, "stop", stop_price=120.0)
    b.submit_order("A", "BUY", 1)
    assert [o["order_id"] for o in b.get_open_orders()] == [r1["order_id"], r2["order_id"]]


# ---------------------------------------------------------------- expiry
def test_day_order_expires_at_midnight_utc(b, clock):
    r = b.submit_order("A", "BUY", 10, "limit", 100.0, time_in_force="day")
    g = b.submit_order("A", "BUY", 10, "limit", 100.0)
    clock.set(clock().replace(hour=23, minute=59))
    assert b.get_order(r["order_id"])["status"] == "new"
    clock.advance(minutes=1)
    assert b.get_order(r["order_id"])["status"] == "expired"
    assert [o["order_id"] for o in b.get_open_orders()] == [g["order_id"]]
    assert b.get_cash() == pytest.approx(100_000 - 1_000)  # only the gtc still reserves
    b.set_quote("A", 98.0, 99.0)
    assert b.get_order(r["order_id"])["filled_qty"] == 0  # expired before the quote arrived
    assert any(x["event"] == "expire" and x["order_id"] == r["order_id"] for x in iter_records(b.journal.log_dir))


def test_end_of_day_configurable(make, clock):
    b = make(end_of_day_utc="21:00")
    r = b.submit_order("A", "BUY", 10, "limit", 100.0, time_in_force="day")  # placed 14:30
    clock.set(clock().replace(hour=20, minute=59))
    assert b.get_order(r["order_id"])["status"] == "new"
    clock.advance(minutes=1)
    assert b.get_order(r["order_id"])["status"] == "expired"
    clock.advance(minutes=30)  # placed after 21:00: expires the next day
    r2 = b.submit_order("A", "BUY", 10, "limit", 100.0, time_in_force="day")
    clock.advance(hours=23)
    assert b.get_order(r2["order_id"])["status"] == "new"
    clock.advance(hours=1)
    assert b.get_order(r2["order_id"])["status"] == "expired"


# ---------------------------------------------------------------- shorting and P&L
def test_short_refused_by_default(b):
    with pytest.raises(InsufficientFundsError, match="position"):
        b.submit_order("A", "SELL", 1)


def test_short_allowed_within_margin(make):
    b = make(initial_cash=10_000, allow_short=True, margin_requirement=0.5, slippage_bps=0)
    r = b.submit_order("A", "SELL", 100)  # short 100 @ 99: gross 9,900 x 0.5 <= equity ~9,800
    assert r["status"] == "filled" and b.get_positions() == {"A": -100}
    before = state(b)
    with pytest.raises(InsufficientFundsError, match="margin"):
        b.submit_order("A", "SELL", 200)  # gross 29,700 x 0.5 > equity
    assert state(b) == before
    with pytest.raises(InsufficientFundsError, match="margin"):
        b.submit_order("A", "SELL", 200, "limit", 120.0)  # resting shorts count too
    assert b.submit_order("A", "SELL", 50)["status"] == "filled"


def test_realized_and_unrealized_pnl_through_a_flip(make):
    b = make(allow_short=True, slippage_bps=0)
    b.set_quote("A", 100.0, 100.0)
    b.submit_order("A", "BUY", 100)
    b.set_quote("A", 110.0, 110.0)
    b.submit_order("A", "SELL", 150)  # closes 100 (+1,000) and opens -50 @ 110
    d = b.get_position_details()["A"]
    assert d["qty"] == -50 and d["avg_cost"] == 110.0
    assert d["realized_pnl"] == pytest.approx(1_000)
    b.set_quote("A", 104.0, 106.0)  # mid 105
    d = b.get_position_details()["A"]
    assert d["unrealized_pnl"] == pytest.approx(250.0)
    assert b.get_portfolio_value() == pytest.approx(100_000 + 1_000 + 250)
    b.set_quote("A", 100.0, 100.0)
    b.submit_order("A", "BUY", 50)  # covers: +500
    d = b.get_position_details()["A"]
    assert d["qty"] == 0 and d["realized_pnl"] == pytest.approx(1_500) and d["unrealized_pnl"] == 0
    assert b.get_positions() == {}
    s = b.get_account_summary()
    assert s["realized_pnl"] == pytest.approx(1_500) and s["equity"] == pytest.approx(101_500)


def test_fees_tracked_per_symbol(make):
    b = make(fee_bps=10, slippage_bps=0)
    b.set_quote("A", 100.0, 100.0)
    b.submit_order("A", "BUY", 10)
    b.submit_order("A", "SELL", 10)
    d = b.get_position_details()["A"]
    assert d["fees"] == pytest.approx(2.0)
    assert b.get_account_summary()["fees"] == pytest.approx(2.0)
    assert d["realized_pnl"] == 0  # P&L before fees; fees reported apart


# ---------------------------------------------------------------- cost models in the broker
def test_spread_only_model(make):
    b = make(slippage_model="spread_only")
    assert b.submit_order("A", "BUY", 10)["fill_price"] == 101.0


def test_sqrt_impact_model(make):
    b = make(slippage_model="sqrt_impact")
    b.set_quote("A", 99.0, 101.0, 100, 100)
    r = b.submit_order("A", "BUY", 400)  # 1 + 10 * sqrt(4) = 21bp
    assert r["fill_price"] == pytest.approx(101.0 * 1.0021)


def test_per_share_fee_model(make):
    b = make(fee_model="per_share", slippage_bps=0)
    b.set_quote("A", 10.0, 10.0)
    assert b.submit_order("A", "BUY", 100)["fee"] == pytest.approx(1.0)  # $0.50 -> $1 minimum
    assert b.submit_order("A", "BUY", 1000)["fee"] == pytest.approx(5.0)
    b.set_quote("A", 0.1, 0.1)
    assert b.submit_order("A", "BUY", 1000)["fee"] == pytest.approx(1.0)  # capped at 1% of $100


def test_maker_taker_fee_model(make, write_config):
    write_config({"paper": {"fees": {"maker_bps": 0.5, "taker_bps": 3.0}}})
    b = make(fee_model="maker_taker", slippage_bps=0)
    b.set_quote("A", 100.0, 100.0)
    assert b.submit_order("A", "BUY", 10)["fee"] == pytest.approx(0.3)  # taker 3bp of 1,000
    r = b.submit_order("A", "BUY", 10, "limit", 99.0)
    b.set_quote("A", 98.0, 99.0)
    assert b.get_order(r["order_id"])["fee"] == pytest.approx(990 * 0.5e-4)  # maker


# ---------------------------------------------------------------- resume with open orders
def test_resume_restores_open_orders_and_reservations(make, clock, tmp_path):
    b = make(respect_quote_size=True)
    b.set_quote("A", 99.0, 101.0, 100, 100)
    partial = b.submit_order("A", "BUY", 300, "limit", 102.0)  # 100 filled, 200 resting
    resting = b.submit_order("A", "BUY", 10, "limit", 95.0, client_order_id="rest-1")
    stop = b.submit_order("A", "BUY", 5, "stop_limit", 111.0, stop_price=110.0, time_in_force="day")
    sell = b.submit_order("A", "SELL", 50, "limit", 120.0)
    gone = b.submit_order("A", "BUY", 1, "limit", 90.0)
    b.cancel_order(gone["order_id"])
    snap = (b.get_cash(), b.get_positions(), b.get_open_orders(), b.get_fills())
    b.close()

    r = PaperBroker(resume=True, clock=clock, log_dir=tmp_path / "j", slippage_bps=SLIP, fee_bps=0,
                    respect_quote_size=True)
    assert (r.get_cash(), r.get_positions(), r.get_open_orders(), r.get_fills()) == snap
    assert {o["order_id"] for o in r.get_open_orders()} == {
        partial["order_id"], resting["order_id"], stop["order_id"], sell["order_id"]}
    assert r.get_order(gone["order_id"])["status"] == "cancelled"
    # the restored book still works: the partial order fills on the next quote, the stop triggers
    r.set_quote("A", 110.0, 110.5, 1000, 1000)
    assert r.get_order(partial["order_id"])["status"] == "partially_filled"  # ask 110.5 > limit 102
    assert r.get_order(stop["order_id"])["status"] == "filled"
    r.set_quote("A", 120.0, 121.0, 1000, 1000)
    assert r.get_order(sell["order_id"])["status"] == "filled"
    # the day order's expiry survives too
    late = r.submit_order("A", "BUY", 1, "limit", 50.0, time_in_force="day")
    r.close()
    r2 = PaperBroker(resume=True, clock=clock, log_dir=tmp_path / "j")
    clock.advance(days=1)
    assert r2.get_order(late["order_id"])["status"] == "expired"


def test_resume_restores_partially_filled_order_then_fills_it(make, clock, tmp_path):
    b = make(respect_quote_size=True)
    b.set_quote("A", 99.0, 101.0, 100, 100)
    r = b.submit_order("A", "BUY", 300, "limit", 102.0)
    b.close()
    r2 = PaperBroker(resume=True, clock=clock, log_dir=tmp_path / "j", respect_quote_size=True)
    o = r2.get_order(r["order_id"])
    assert o["status"] == "partially_filled" and o["filled_qty"] == 100
    r2.set_quote("A", 99.0, 100.0, 1000, 1000)
    o = r2.get_order(r["order_id"])
    assert o["status"] == "filled" and o["filled_qty"] == 300
    assert r2.get_positions() == {"A": 300}


def test_set_quote_after_expiry_day_advance(b, clock):
    clock.advance(timedelta(days=2).total_seconds())
    with pytest.raises(Exception, match="stale"):
        b.submit_order("A", "BUY", 1)


# ---------------------------------------------------------------- the full stop matrix
STOP_CASES = {
    # (order_type, side): (submit kwargs, triggering quote, expected fill price)
    ("stop", "BUY"): ({"stop_price": 105.0}, (104.5, 105.5), 105.5 * 1.001),
    ("stop", "SELL"): ({"stop_price": 95.0}, (94.0, 95.5), 94.0 * 0.999),
    ("stop_limit", "BUY"): ({"limit_price": 106.0, "stop_price": 105.0}, (104.5, 105.5), 105.5 * 1.001),
    ("stop_limit", "SELL"): ({"limit_price": 94.0, "stop_price": 95.0}, (94.5, 95.5), 94.5 * 0.999),
}


@pytest.mark.parametrize("tif", ["gtc", "day", "ioc", "fok"])
@pytest.mark.parametrize(("order_type", "side"), list(STOP_CASES))
def test_stop_matrix_order_type_side_tif(long_b, order_type, side, tif):
    kwargs, (bid, ask), price = STOP_CASES[(order_type, side)]
    r = long_b.submit_order("A", side, 10, order_type, time_in_force=tif, **kwargs)
    assert r["status"] == "new"  # the quote (99 / 101) has not reached the stop
    long_b.set_quote("A", bid, ask, 1_000, 1_000)
    o = long_b.get_order(r["order_id"])
    assert o["status"] == "filled" and o["filled_qty"] == 10
    assert o["fill_price"] == pytest.approx(price)
    assert o["time_in_force"] == tif and o["order_type"] == order_type
