"""Trading hours in the PaperBroker: quotes | calendar | always, queue | reject, day orders at the close,
and the README's offline run trading on a Saturday."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from LIVE_TRADING.brokers.paper import PaperBroker
from LIVE_TRADING.common.clock import ManualClock
from LIVE_TRADING.common.exceptions import ConfigError, OrderRejectedError
from LIVE_TRADING.common.journal import iter_records
from LIVE_TRADING.data import calendar
from LIVE_TRADING.data.sim import SimDataProvider

SATURDAY = datetime(2025, 12, 6, 15, 0, tzinfo=UTC)
SUNDAY = datetime(2025, 12, 7, 15, 0, tzinfo=UTC)
MONDAY_OPEN = datetime(2025, 12, 8, 14, 30, tzinfo=UTC)
SLIP = 10.0  # bps


@pytest.fixture
def make(tmp_path):
    def _make(now=SATURDAY, sim=False, **kw):
        clock = ManualClock(now)
        if sim:
            kw["data_provider"] = SimDataProvider(clock=clock)
        args = dict(initial_cash=100_000, slippage_bps=SLIP, fee_bps=0, clock=clock, log_dir=tmp_path / "j",
                    trading_hours="quotes")  # the default mode (the tests' config trades at any hour)
        args.update(kw)
        return PaperBroker(**args), clock

    return _make


def records(broker, event):
    return [r for r in iter_records(broker.journal.log_dir) if r["event"] == event]


# ---------------------------------------------------------------- quotes mode (default)
def test_a_quote_set_by_hand_trades_on_a_saturday(make):
    broker, _ = make()
    broker.set_quote("AAPL", 99.0, 101.0)
    filled = broker.submit_order("AAPL", "BUY", 10)
    assert filled["status"] == "filled" and filled["fill_price"] == pytest.approx(101.0 * 1.001)


def test_sim_quotes_carry_market_open_and_the_broker_follows_them(make):
    broker, clock = make(sim=True)
    queued = broker.submit_order("AAPL", "BUY", 10)
    assert queued["status"] == "new" and queued["filled_qty"] == 0
    assert broker.get_quote("AAPL")["market_open"] is False
    crypto = broker.submit_order("BTC/USD", "BUY", 1)  # crypto trades on a Saturday
    assert crypto["status"] == "filled"

    clock.set(SUNDAY)
    broker.update_quotes(["AAPL"])
    assert broker.get_order(queued["order_id"])["status"] == "new"
    clock.set(MONDAY_OPEN)
    quotes = broker.update_quotes(["AAPL"])
    assert quotes["AAPL"]["market_open"] is True
    done = broker.get_order(queued["order_id"])
    assert done["status"] == "filled"
    assert done["fill_price"] == pytest.approx(quotes["AAPL"]["ask"] * 1.001)  # the open's quote + slippage
    assert broker.get_fills()[-1]["timestamp"] == MONDAY_OPEN


def test_apply_quotes_keeps_market_open(make):
    broker, _ = make(outside_hours="reject")
    broker.apply_quotes([{"symbol": "AAPL", "bid": 99.0, "ask": 101.0, "timestamp": SATURDAY, "market_open": False}])
    with pytest.raises(OrderRejectedError, match="next open 2025-12-08T14:30:00"):
        broker.submit_order("AAPL", "BUY", 1)


# ---------------------------------------------------------------- calendar mode, queue
def test_market_order_queued_on_a_saturday_reserves_cash_and_fills_at_the_first_open_quote(make):
    broker, clock = make(trading_hours="calendar")
    broker.set_quote("AAPL", 99.0, 101.0)
    r = broker.submit_order("AAPL", "BUY", 10)
    assert r["status"] == "new" and [o["order_id"] for o in broker.get_open_orders()] == [r["order_id"]]
    assert broker.get_cash() == pytest.approx(100_000 - 10 * 101.0 * 1.001)  # reserved at the ask + slippage
    assert broker.get_positions() == {}

    clock.set(SUNDAY)
    broker.set_quote("AAPL", 98.0, 100.0)  # quotes while closed fill nothing
    assert broker.get_order(r["order_id"])["status"] == "new"

    clock.set(MONDAY_OPEN - timedelta(seconds=1))
    broker.set_quote("AAPL", 98.0, 100.0)
    assert broker.get_order(r["order_id"])["status"] == "new"
    clock.set(MONDAY_OPEN)
    broker.set_quote("AAPL", 104.0, 105.0)  # a gap up at the open: the market order takes it
    done = broker.get_order(r["order_id"])
    assert done["status"] == "filled" and done["fill_price"] == pytest.approx(105.0 * 1.001)
    assert broker.get_positions() == {"AAPL": 10.0}
    assert broker.get_cash() == pytest.approx(100_000 - 10 * 105.0 * 1.001)


def test_resting_limit_is_not_matched_while_closed(make):
    broker, clock = make(trading_hours="calendar")
    broker.set_quote("AAPL", 99.0, 101.0)
    r = broker.submit_order("AAPL", "BUY", 5, "limit", 102.0)  # marketable, but the market is closed
    assert r["status"] == "new"
    broker.set_quote("AAPL", 95.0, 96.0)
    assert broker.get_order(r["order_id"])["status"] == "new"
    clock.set(MONDAY_OPEN)
    broker.set_quote("AAPL", 97.0, 98.0)
    done = broker.get_order(r["order_id"])
    assert done["status"] == "filled" and done["fill_price"] == pytest.approx(98.0)


def test_cancel_of_a_queued_market_order_releases_its_reservation(make):
    broker, clock = make(trading_hours="calendar")
    broker.set_quote("AAPL", 99.0, 101.0)
    r = broker.submit_order("AAPL", "BUY", 10)
    assert broker.cancel_order(r["order_id"])["status"] == "cancelled"
    assert broker.get_cash() == pytest.approx(100_000)
    clock.set(MONDAY_OPEN)
    broker.set_quote("AAPL", 99.0, 101.0)
    assert broker.get_positions() == {} and broker.get_fills() == []


def test_queued_sell_needs_the_position(make):
    broker, _ = make(trading_hours="calendar")
    broker.set_quote("AAPL", 99.0, 101.0)
    with pytest.raises(OrderRejectedError, match="Insufficient position"):
        broker.submit_order("AAPL", "SELL", 10)
    assert broker.get_open_orders() == []


def test_queued_market_order_survives_a_restart(make, tmp_path):
    broker, _ = make(trading_hours="calendar")
    broker.set_quote("AAPL", 99.0, 101.0)
    r = broker.submit_order("AAPL", "BUY", 10)
    cash = broker.get_cash()
    broker.close()
    again, clock = make(trading_hours="calendar", resume=True)
    assert [o["order_id"] for o in again.get_open_orders()] == [r["order_id"]]
    assert again.get_cash() == pytest.approx(cash)
    clock.set(MONDAY_OPEN)
    again.set_quote("AAPL", 100.0, 102.0)
    assert again.get_order(r["order_id"])["status"] == "filled"
    assert again.get_positions() == {"AAPL": 10.0}


@pytest.mark.parametrize("tif", ["ioc", "fok"])
def test_ioc_and_fok_are_refused_while_closed(make, tif):
    broker, _ = make(trading_hours="calendar")
    broker.set_quote("AAPL", 99.0, 101.0)
    with pytest.raises(OrderRejectedError, match="cannot wait for the open"):
        broker.submit_order("AAPL", "BUY", 1, time_in_force=tif)
    assert broker.get_open_orders() == [] and broker.get_cash() == pytest.approx(100_000)


def test_calendar_mode_uses_each_asset_class(make):
    broker, _ = make(now=SUNDAY, trading_hours="calendar", outside_hours="reject")
    broker.set_quote("BTCUSDT", 99.0, 101.0)
    broker.set_quote("EUR/USD", 1.1, 1.1002)
    assert broker.submit_order("BTCUSDT", "BUY", 1)["status"] == "filled"  # crypto on a Sunday
    with pytest.raises(OrderRejectedError, match="forex market of EUR/USD is closed"):
        broker.submit_order("EUR/USD", "BUY", 1000)


# ---------------------------------------------------------------- reject
def test_reject_outside_hours_changes_nothing_and_journals_the_refusal(make):
    broker, _ = make(trading_hours="calendar", outside_hours="reject")
    broker.set_quote("AAPL", 99.0, 101.0)
    for kwargs in ({}, {"order_type": "limit", "limit_price": 100.0}):
        with pytest.raises(OrderRejectedError) as info:
            broker.submit_order("AAPL", "BUY", 10, **kwargs)
        assert "Market closed" in info.value.reason and "2025-12-08T14:30:00+00:00" in info.value.reason
    assert broker.get_open_orders() == [] and broker.get_cash() == pytest.approx(100_000)
    assert records(broker, "order") == [] and len(records(broker, "reject")) == 2


def test_always_mode_trades_on_christmas(make):
    broker, _ = make(now=datetime(2025, 12, 25, 15, tzinfo=UTC), trading_hours="always", outside_hours="reject",
                     sim=True)
    assert broker.submit_order("AAPL", "BUY", 1)["status"] == "filled"


# ---------------------------------------------------------------- day orders
def test_day_order_expires_at_the_early_close(make):
    black_friday = datetime(2025, 11, 28, 15, 0, tzinfo=UTC)
    broker, clock = make(now=black_friday, trading_hours="calendar")
    broker.set_quote("AAPL", 99.0, 101.0)
    r = broker.submit_order("AAPL", "BUY", 1, "limit", 90.0, time_in_force="day")
    clock.set(datetime(2025, 11, 28, 17, 59, 59, tzinfo=UTC))
    assert broker.get_order(r["order_id"])["status"] == "new"
    clock.set(datetime(2025, 11, 28, 18, 0, tzinfo=UTC))  # 13:00 New York
    assert broker.get_order(r["order_id"])["status"] == "expired"


def test_day_order_from_a_provider_quote_expires_at_the_session_close(make):
    broker, clock = make(now=datetime(2025, 12, 3, 15, 0, tzinfo=UTC), sim=True)
    r = broker.submit_order("AAPL", "BUY", 1, "limit", 1.0, time_in_force="day")
    assert records(broker, "order")[-1]["order"]["expires_at"] == "2025-12-03T21:00:00+00:00"
    clock.set(datetime(2025, 12, 3, 21, 0, tzinfo=UTC))
    assert broker.get_order(r["order_id"])["status"] == "expired"


def test_day_order_queued_on_a_saturday_lives_through_mondays_session(make):
    broker, clock = make(trading_hours="calendar")
    broker.set_quote("AAPL", 99.0, 101.0)
    r = broker.submit_order("AAPL", "BUY", 1, "limit", 90.0, time_in_force="day")
    clock.set(datetime(2025, 12, 8, 20, 59, tzinfo=UTC))
    assert broker.get_order(r["order_id"])["status"] == "new"
    clock.set(datetime(2025, 12, 8, 21, 0, tzinfo=UTC))
    assert broker.get_order(r["order_id"])["status"] == "expired"


# ---------------------------------------------------------------- settings
def test_bad_settings_are_a_config_error(make):
    with pytest.raises(ConfigError, match="trading_hours must be one of quotes, calendar, always"):
        make(trading_hours="sometimes")
    with pytest.raises(ConfigError, match="outside_hours must be one of queue, reject"):
        make(outside_hours="wait")


def test_settings_come_from_the_config(write_config, make):
    write_config({"paper": {"trading_hours": "calendar", "outside_hours": "reject"}})
    broker, _ = make(trading_hours=None)  # None: from the config
    broker.set_quote("AAPL", 99.0, 101.0)
    with pytest.raises(OrderRejectedError, match="Market closed"):
        broker.submit_order("AAPL", "BUY", 1)


# ---------------------------------------------------------------- the README's offline run on a Saturday
def test_sim_run_start_moves_back_to_a_session_open():
    from LIVE_TRADING.cli.session import sim_run_start

    hour = timedelta(hours=1)
    start = sim_run_start(SATURDAY, hour, 100, ["AAPL", "MSFT"])
    assert calendar.is_open("AAPL", start) and start == calendar.session_open("AAPL", start)
    assert start + hour * 99 <= SATURDAY  # still ends by now
    assert sim_run_start(SATURDAY, hour, 100, ["BTC/USDT"]) == SATURDAY - hour * 99  # crypto: unchanged
    wednesday = datetime(2025, 12, 3, 20, 0, tzinfo=UTC)
    assert sim_run_start(wednesday, hour, 3, ["AAPL"]) == wednesday - 2 * hour  # already in session


def test_run_on_a_saturday_trades_and_fills_only_in_session(capsys, monkeypatch, tmp_path, write_config):
    import LIVE_TRADING.cli.session as session
    from LIVE_TRADING.cli import main

    write_config({"paper": {"trading_hours": "quotes"}})  # the default mode (the tests' config trades at any hour)
    monkeypatch.setattr(session, "utc_now", lambda: SATURDAY)
    code = main(["run", "--strategy", "equal_weight", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads(out)
    assert report["fills"] > 0
    fill_times = []  # a fill's time is its journal record's
    for rec in iter_records(tmp_path / "logs" / "paper_trades" / "default", report["run_id"]):
        n = len(rec["fills"]) if rec["event"] == "order" else 1 if rec["event"] == "fill" else 0
        fill_times += [datetime.fromisoformat(str(rec["ts"]))] * n
    assert len(fill_times) == report["fills"]
    assert all(calendar.is_open("AAPL", t) for t in fill_times)
