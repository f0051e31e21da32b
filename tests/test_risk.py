"""Pre-trade risk limits: on paper and on any venue get_broker builds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from LIVE_TRADING.brokers import get_broker, register_venue
from LIVE_TRADING.brokers import interface as interface_mod
from LIVE_TRADING.brokers.guard.risk import RiskLimits
from LIVE_TRADING.common.exceptions import ConfigError, OrderRejectedError, RiskLimitError
from LIVE_TRADING.common.journal import iter_records


class FakeVenue:
    """A minimal Broker that records what reaches it."""

    def __init__(self, **kw):
        self.submitted = []
        self.positions = {"BTCUSDT": 0.5}

    def submit_order(self, symbol, side, qty, order_type="market", limit_price=None, **kw):
        self.submitted.append((symbol, side, qty, order_type, limit_price, kw))
        return {"order_id": str(len(self.submitted)), "status": "new"}

    def cancel_order(self, order_id):
        return {"order_id": order_id, "status": "cancelled"}

    def get_order(self, order_id):
        return {"order_id": order_id}

    def get_open_orders(self):
        return []

    def get_positions(self):
        return dict(self.positions)

    def get_cash(self):
        return 1e6

    def get_fills(self, since=None):
        return []

    def get_quote(self, symbol):
        return {"symbol": symbol, "bid": 100.0, "ask": 101.0, "bid_size": 1, "ask_size": 1,
                "timestamp": datetime.now(UTC), "spread_bps": 99.5}

    def now(self):
        return datetime.now(UTC)


@pytest.fixture
def fake_venue():
    register_venue("fakevenue", FakeVenue)
    yield
    interface_mod._VENUES.pop("fakevenue", None)


def _paper():
    b = get_broker("paper", initial_cash=1e6, slippage_bps=0, fee_bps=0)
    b.set_quote("AAPL", 100.0, 101.0)
    b.set_quote("MSFT", 300.0, 301.0)
    return b


def test_kill_switch_on_paper(write_config):
    write_config({"risk": {"trading_enabled": False}})
    b = _paper()
    with pytest.raises(RiskLimitError) as err:
        b.submit_order("AAPL", "BUY", 1)
    assert err.value.limit == "trading_enabled" and isinstance(err.value, OrderRejectedError)
    assert b.get_fills() == [] and b.get_positions() == {}
    # nothing reached the venue's journal either
    assert [r["event"] for r in iter_records(b.unwrap().journal.log_dir)] == ["open", "session"]
    assert b.cancel_order is not None and b.get_cash() == 1e6  # reads still work


def test_allowed_symbols(write_config):
    write_config({"risk": {"allowed_symbols": ["AAPL"]}})
    b = _paper()
    assert b.submit_order("aapl", "BUY", 1)["status"] == "filled"
    with pytest.raises(RiskLimitError, match="allowed_symbols") as err:
        b.submit_order("MSFT", "BUY", 1)
    assert err.value.limit == "allowed_symbols"


def test_max_order_qty_and_value(write_config):
    write_config({"risk": {"max_order_qty": 100, "max_order_value": 5_000}})
    b = _paper()
    with pytest.raises(RiskLimitError) as err:
        b.submit_order("AAPL", "BUY", 101)
    assert err.value.limit == "max_order_qty"
    with pytest.raises(RiskLimitError) as err:
        b.submit_order("AAPL", "BUY", 50)  # 50 x ask 101 = 5,050
    assert err.value.limit == "max_order_value" and "5,050.00" in str(err.value)
    assert b.submit_order("AAPL", "BUY", 49)["status"] == "filled"
    with pytest.raises(RiskLimitError):  # limit orders priced at their limit
        b.submit_order("AAPL", "BUY", 40, "limit", 126.0)
    assert b.submit_order("AAPL", "BUY", 40, "limit", 99.0)["status"] == "new"


def test_max_position_value_allows_reductions(write_config):
    write_config({"risk": {"max_position_value": 10_000}})
    b = _paper()
    b.submit_order("AAPL", "BUY", 90)
    with pytest.raises(RiskLimitError) as err:
        b.submit_order("AAPL", "BUY", 10)  # 100 x 101 = 10,100
    assert err.value.limit == "max_position_value"
    b.set_quote("AAPL", 200.0, 201.0)  # now 90 x 200 is over the limit already
    assert b.submit_order("AAPL", "SELL", 10)["status"] == "filled"  # reducing is fine


def test_invalid_input_still_order_rejected(write_config):
    write_config({"risk": {"max_order_qty": 100}})
    b = _paper()
    with pytest.raises(OrderRejectedError, match="Invalid quantity"):
        b.submit_order("AAPL", "BUY", float("nan"))


def test_limits_guard_any_venue(fake_venue, write_config):
    write_config({"risk": {"max_order_value": 1_000, "allowed_symbols": ["BTC/USDT", "ETHUSDT"],
                           "max_position_value": 60}})
    b = get_broker("fakevenue")
    venue = b.unwrap()
    with pytest.raises(RiskLimitError):
        b.submit_order("BTCUSDT", "BUY", 10)  # 10 x 101 > 1,000
    with pytest.raises(RiskLimitError, match="allowed_symbols"):
        b.submit_order("SOLUSDT", "BUY", 1)
    with pytest.raises(RiskLimitError, match="max_position_value"):
        b.submit_order("BTC/USDT", "BUY", 0.1)  # (0.5 + 0.1) x 101 = 60.6 > 60; BTC/USDT is BTCUSDT
    assert venue.submitted == []
    b.submit_order("ETHUSDT", "BUY", 0.5, client_order_id="x1")
    assert venue.submitted == [("ETHUSDT", "BUY", 0.5, "market", None, {"client_order_id": "x1"})]


def test_bad_risk_config(write_config):
    write_config({"risk": {"max_order_value": -5, "trading_enabled": "perhaps"}})
    with pytest.raises(ConfigError) as err:
        RiskLimits.from_config()
    assert len(err.value.problems) == 2
    with pytest.raises(ConfigError):
        get_broker("paper")
