"""The rebalance nets the account's open orders (issue 14, section 4): it does not buy again while an
earlier buy for the same symbol still rests; a partly filled order counts its remaining quantity only;
an order on the other side is netted (and left working); protective exits are not counted.
Checked on ``rebalance``, through ``run_loop``, and in the plan ``live-trading run --dry-run`` prints
for a live venue (the loopback Binance stand-in).
"""

from __future__ import annotations

import json

import pytest
from fakes.binance_server import FakeBinance

from LIVE_TRADING.brokers.paper import PaperBroker
from LIVE_TRADING.cli import main
from LIVE_TRADING.data.sim import SimDataProvider
from LIVE_TRADING.pipeline import rebalance, run_loop
from LIVE_TRADING.pipeline.pending import pending_by_symbol


def paper(clock, **kw):
    kw.setdefault("fee_bps", 0)
    kw.setdefault("slippage_bps", 0)
    return PaperBroker(clock=clock, **kw)


def placed(result):
    return [(o["symbol"], o["side"], o["qty"]) for o in result.orders]


# -- rebalance on the paper broker -----------------------------------------------------------


def test_a_resting_buy_is_not_bought_a_second_time(clock):
    b = paper(clock)
    b.set_quote("AAA", 99.9, 100.1)
    first = rebalance(b, {"AAA": 10}, order_type="limit", limit_offset_bps=-500)  # 5% below the ask: rests
    ((_, side, qty),) = placed(first)
    assert (side, qty) == ("BUY", 10.0) and first.orders[0]["status"] == "new"
    again = rebalance(b, {"AAA": 10})
    assert again.orders == [] and again.pending == {"AAA": 10.0}
    assert b.get_positions() == {} and len(b.get_open_orders()) == 1
    more = rebalance(b, {"AAA": 14})  # only the difference
    assert placed(more) == [("AAA", "BUY", 4.0)] and b.get_positions() == {"AAA": 4.0}


def test_a_partly_filled_order_counts_only_what_is_left(clock):
    b = paper(clock, respect_quote_size=True)
    b.set_quote("AAA", 99.9, 100.1, bid_size=3, ask_size=3)
    order = b.submit_order("AAA", "BUY", 10, "limit", 100.1)
    assert order["status"] == "partially_filled" and order["filled_qty"] == 3.0
    assert b.get_positions() == {"AAA": 3.0}
    assert rebalance(b, {"AAA": 10}).orders == []  # 3 held + 7 resting
    res = rebalance(b, {"AAA": 12})
    assert placed(res) == [("AAA", "BUY", 2.0)] and res.pending == {"AAA": 7.0}


def test_a_resting_order_on_the_other_side_is_netted_and_left_working(clock):
    b = paper(clock)
    b.set_quote("AAA", 99.9, 100.1)
    b.submit_order("AAA", "BUY", 10)
    sell = b.submit_order("AAA", "SELL", 4, "limit", 120.0)  # above the market: rests
    res = rebalance(b, {"AAA": 10})
    # 10 held - 4 to be sold = 6: buy 4 so the account holds 10 once the sale fills too.
    assert placed(res) == [("AAA", "BUY", 4.0)] and res.pending == {"AAA": -4.0}
    assert b.get_order(sell["order_id"])["status"] == "new"  # not cancelled behind the user's back
    assert rebalance(b, {"AAA": 10}).orders == []


def test_stops_bracket_exits_and_oco_legs_are_not_counted_but_a_bracket_entry_is(clock):
    b = paper(clock)
    b.set_quote("AAA", 99.9, 100.1)
    b.submit_order("AAA", "BUY", 10)
    b.submit_order("AAA", "SELL", 10, "stop", stop_price=80.0)  # a stop-loss is not a sale already made
    b.set_quote("BBB", 49.9, 50.1)
    b.submit_order("BBB", "BUY", 5)
    b.submit_oco("BBB", "SELL", 5, limit_price=60.0, stop_price=40.0)
    b.set_quote("CCC", 19.9, 20.1)
    b.submit_bracket("CCC", "BUY", 8, entry_type="limit", limit_price=15.0, take_profit=30.0, stop_loss=10.0)
    assert pending_by_symbol(b.get_open_orders()) == {"CCC": 8.0}
    assert rebalance(b, {"AAA": 10, "BBB": 5, "CCC": 8}).orders == []


def test_pending_by_symbol_reads_the_order_results():
    def order(oid, side, qty, filled=0.0, **kw):
        return {"order_id": oid, "symbol": "aaa", "side": side, "qty": qty, "filled_qty": filled,
                "order_type": "limit", "status": "partially_filled" if filled else "new", **kw}

    assert pending_by_symbol([]) == {}
    assert pending_by_symbol([order("1", "BUY", 5, 2), order("2", "SELL", 1)]) == {"AAA": 2.0}
    assert pending_by_symbol([order("1", "BUY", 5), order("2", "SELL", 5)]) == {}  # nets to nothing
    assert pending_by_symbol([order("1", "BUY", 5, status="filled")]) == {}


# -- through run_loop ------------------------------------------------------------------------


class Hold:
    """A strategy holding a fixed quantity per symbol; records how many times it was asked."""

    mode = "qty"
    lookback = 1

    def __init__(self, targets):
        self.targets = targets
        self.calls = 0

    def __call__(self, quotes, positions, history):
        self.calls += 1
        return dict(self.targets)


def test_run_loop_does_not_buy_again_while_an_earlier_buy_rests(clock):
    provider = SimDataProvider(seed=11, clock=clock, universe="any")
    broker = paper(clock, data_provider=provider)
    mid = broker.get_quote("AAA")["bid"]
    resting = broker.submit_order("AAA", "BUY", 10, "limit", round(mid * 0.5, 2))  # far below: rests
    strategy = Hold({"AAA": 10})
    result = run_loop(broker, provider, strategy, 2, symbols=["AAA"], warmup=False,
                      advance=lambda: clock.advance(minutes=1))
    assert strategy.calls == 2 and result.steps_done == 2 and not result.failed
    assert result.orders == [] and result.positions == {}
    # Not the loop's order: it is left working, neither cancelled each step nor at exit.
    assert result.cancelled == [] and [o["order_id"] for o in broker.get_open_orders()] == [resting["order_id"]]

    strategy.targets = {"AAA": 15}
    result = run_loop(broker, provider, strategy, 2, symbols=["AAA"], warmup=False,
                      advance=lambda: clock.advance(minutes=1))
    assert placed(result) == [("AAA", "BUY", 5.0)] and result.positions == {"AAA": 5.0}


# -- the plan a live run prints ---------------------------------------------------------------


@pytest.fixture
def binance_env(tmp_path, write_config, monkeypatch):
    with FakeBinance() as fake:
        write_config({"venue": "binance", "binance": {"base_url": fake.url, "testnet": True},
                      "pipeline": {"symbols": ["BTCUSDT", "ETHUSDT"], "strategy": "equal_weight"}})
        monkeypatch.setenv("BINANCE_API_KEY", fake.api_key)
        monkeypatch.setenv("BINANCE_API_SECRET", fake.api_secret)
        yield fake


STRATEGY = """
from LIVE_TRADING.pipeline.strategies import Strategy


class Hold(Strategy):
    lookback = 1
    mode = "qty"

    def on_bar(self, ctx, quotes):
        return {"BTCUSDT": 0.08, "ETHUSDT": 1.0}
"""


def _plan(capsys, strategy):
    code = main(["run", "--steps", "1", "--interval-s", "0", "--strategy", f"{strategy}:Hold", "--dry-run", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return sorted((o["symbol"], o["side"], o["qty"]) for o in json.loads(captured.out)["orders"])


def test_the_live_dry_run_plan_shows_the_netted_orders(binance_env, tmp_path, capsys):
    fake = binance_env
    strategy = tmp_path / "hold.py"
    strategy.write_text(STRATEGY)
    assert _plan(capsys, strategy) == [("BTCUSDT", "BUY", 0.08), ("ETHUSDT", "BUY", 1.0)]
    assert main(["order", "BTCUSDT", "BUY", "0.05", "--limit", "40000", "--json"]) == 0  # below the market: rests
    assert main(["order", "ETHUSDT", "BUY", "1", "--limit", "2000", "--json"]) == 0
    capsys.readouterr()
    posted = len(fake.calls("POST", "/api/v3/order"))
    assert _plan(capsys, strategy) == [("BTCUSDT", "BUY", pytest.approx(0.03))]  # ETH: all of it already rests
    assert main(["run", "--steps", "1", "--interval-s", "0", "--strategy", f"{strategy}:Hold", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "open orders count as filled" in text and "+0.05" in text and "BUY 0.03 BTCUSDT" in text
    assert len(fake.calls("POST", "/api/v3/order")) == posted  # a dry run sends nothing
