"""The reference loop: rebalance, run_loop, strategies, and the helpers they report with."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import pytest

from LIVE_TRADING.brokers.guard.base import BrokerWrapper
from LIVE_TRADING.brokers.guard.risk import RiskGuard, RiskLimits
from LIVE_TRADING.brokers.paper import PaperBroker
from LIVE_TRADING.brokers.paper.recovery import iter_fills
from LIVE_TRADING.common.exceptions import (
    ConfigError,
    DataProviderError,
    OrderNotFoundError,
    QuoteUnavailableError,
)
from LIVE_TRADING.data.provider import DataProvider
from LIVE_TRADING.data.quotes import make_quote
from LIVE_TRADING.data.sim import SimDataProvider
from LIVE_TRADING.pipeline import (
    PipelineConfig,
    max_drawdown,
    pnl_from_fills,
    portfolio_value,
    rebalance,
    run_loop,
    warm_history,
    warmup_period,
)
from LIVE_TRADING.pipeline.strategies import EqualWeight, MovingAverageCrossover, get_strategy

# --------------------------------------------------------------------------
# Test doubles
# --------------------------------------------------------------------------


def paper(clock, **kw):
    """A cost-free paper broker (exact arithmetic) on the test clock."""
    kw.setdefault("fee_bps", 0)
    kw.setdefault("slippage_bps", 0)
    return PaperBroker(clock=clock, **kw)


class Recorder(BrokerWrapper):
    """Records every submit_order call in order."""

    def __init__(self, inner):
        super().__init__(inner)
        self.calls = []

    def submit_order(self, symbol, side, qty, order_type="market", limit_price=None, **kw):
        self.calls.append((symbol, side, qty, order_type, limit_price, kw))
        return self._inner.submit_order(symbol, side, qty, order_type, limit_price, **kw)


class MiniBroker:
    """Only the Broker protocol (no update_quotes, P&L or portfolio value): fills at the touch, no fees."""

    def __init__(self, clock, quotes, cash=10_000.0):
        self.clock = clock
        self.quotes = quotes  # symbol -> (bid, ask)
        self.cash = cash
        self.positions = {}
        self.fills = []
        self.n = 0

    def submit_order(self, symbol, side, qty, order_type="market", limit_price=None, *, stop_price=None,
                     time_in_force="gtc", client_order_id=None):
        bid, ask = self.quotes[symbol]
        px = ask if side == "BUY" else bid
        self.n += 1
        oid = f"m-{self.n}"
        signed = qty if side == "BUY" else -qty
        self.cash -= signed * px
        self.positions[symbol] = self.positions.get(symbol, 0.0) + signed
        if abs(self.positions[symbol]) < 1e-12:
            del self.positions[symbol]
        self.fills.append({"order_id": oid, "fill_id": f"{oid}-f1", "timestamp": self.clock(), "symbol": symbol,
                           "side": side, "qty": qty, "fill_price": px, "notional": qty * px, "fee": 0.0})
        return {"order_id": oid, "symbol": symbol, "side": side, "qty": qty, "filled_qty": qty,
                "status": "filled", "fill_price": px, "order_type": order_type, "client_order_id": client_order_id}

    def cancel_order(self, order_id):
        raise OrderNotFoundError(order_id)

    def get_order(self, order_id):
        raise OrderNotFoundError(order_id)

    def get_open_orders(self):
        return []

    def get_positions(self):
        return dict(self.positions)

    def get_cash(self):
        return self.cash

    def get_fills(self, since=None):
        return [f for f in self.fills if since is None or f["timestamp"] >= since]

    def get_quote(self, symbol):
        if symbol not in self.quotes:
            raise QuoteUnavailableError(symbol)
        bid, ask = self.quotes[symbol]
        return make_quote(symbol, bid, ask, 100, 100, self.clock())

    def now(self):
        return self.clock()


class FlakyProvider(DataProvider):
    """Fails while ``failing`` is positive (counting down per call), then quotes 100/100.02."""

    def __init__(self, clock, failing):
        super().__init__()
        self.clock = clock
        self.failing = failing

    def get_quote(self, symbol):
        if self.failing > 0:
            raise DataProviderError(f"feed down for {symbol}", symbol=symbol)
        return make_quote(symbol, 100.0, 100.02, 1000, 1000, self.clock())

    def get_multiple_quotes(self, symbols):
        out = self._collect(symbols, self.get_quote)
        self.failing -= 1
        return out

    def get_historical(self, symbol, period="1mo", interval="1d"):
        raise DataProviderError("no history here")


class Scripted:
    """A strategy that returns a scripted target per step and records what it was shown."""

    def __init__(self, plan, mode="qty", lookback=4, raise_at=None, exc=KeyboardInterrupt):
        self.plan = plan
        self.mode = mode
        self.lookback = lookback
        self.calls = []
        self.raise_at = raise_at
        self.exc = exc

    def __call__(self, quotes, positions, history):
        self.calls.append({"quotes": dict(quotes), "positions": dict(positions),
                           "history": {k: list(v) for k, v in history.items()}})
        if self.raise_at == len(self.calls):
            raise self.exc()
        return self.plan[len(self.calls) - 1] if len(self.calls) <= len(self.plan) else {}


# --------------------------------------------------------------------------
# rebalance
# --------------------------------------------------------------------------


def test_rebalance_quantities_moves_positions_to_targets(clock):
    b = paper(clock)
    b.set_quote("AAA", 99.9, 100.1)
    b.set_quote("BBB", 49.9, 50.1)
    res = rebalance(b, {"AAA": 10, "bbb": 5})
    assert res.ok and [o["status"] for o in res.orders] == ["filled", "filled"]
    assert b.get_positions() == {"AAA": 10.0, "BBB": 5.0}
    res = rebalance(b, {"AAA": 4})  # BBB not listed: left alone
    assert [(o["symbol"], o["side"], o["qty"]) for o in res.orders] == [("AAA", "SELL", 6.0)]
    assert b.get_positions() == {"AAA": 4.0, "BBB": 5.0}
    assert rebalance(b, {"AAA": 4}).orders == []  # already there: nothing to do


def test_rebalance_sells_before_buys_so_the_buy_is_paid_for(clock):
    b = Recorder(paper(clock, initial_cash=1000))
    b.set_quote("AAA", 100, 100)
    b.set_quote("BBB", 100, 100)
    rebalance(b, {"AAA": 9})
    b.calls.clear()
    # Listed buy-first: the sale of AAA must still go first, or 100 of cash could not buy 9 BBB.
    res = rebalance(b, {"BBB": 9, "AAA": 0}, fit_to_cash=False)
    assert [(c[0], c[1]) for c in b.calls] == [("AAA", "SELL"), ("BBB", "BUY")]
    assert res.ok and b.get_positions() == {"BBB": 9.0}


def test_rebalance_skips_trades_below_minimum_value(clock):
    b = paper(clock)
    b.set_quote("AAA", 100, 100)
    b.set_quote("BBB", 100, 100)
    rebalance(b, {"AAA": 9})
    res = rebalance(b, {"AAA": 9.5, "BBB": 2}, min_trade_value=100)
    assert [o["symbol"] for o in res.orders] == ["BBB"]
    assert len(res.skipped) == 1
    skip = res.skipped[0]
    assert skip["symbol"] == "AAA" and skip["side"] == "BUY" and skip["qty"] == 0.5 and skip["value"] == 50.0
    assert "below min_trade_value" in skip["reason"]
    assert b.get_positions() == {"AAA": 9.0, "BBB": 2.0}


def test_rebalance_weights_of_portfolio_value(clock):
    b = paper(clock, initial_cash=100_000)
    b.set_quote("AAA", 99.99, 100.01)  # mid 100
    b.set_quote("BBB", 49.99, 50.01)  # mid 50
    res = rebalance(b, {"AAA": 0.5, "BBB": 0.25}, mode="weights")
    assert res.portfolio_value == pytest.approx(100_000)
    assert b.get_positions() == pytest.approx({"AAA": 500.0, "BBB": 500.0})
    cash = 100_000 - 500 * 100.01 - 500 * 50.01
    assert b.get_cash() == pytest.approx(cash)

    b.set_quote("AAA", 119.99, 120.01)  # AAA rallies: now over its half
    value = cash + 500 * 120 + 500 * 50
    res = rebalance(b, {"AAA": 0.5}, mode="weights")
    assert res.portfolio_value == pytest.approx(value)
    (order,) = res.orders
    assert order["side"] == "SELL" and order["qty"] == pytest.approx(500 - 0.5 * value / 120)

    b.set_quote("AAA", 99.99, 100.01)
    before = b.get_positions()["AAA"]
    res = rebalance(b, {"AAA": 0.5}, mode="weights", qty_step=1)  # whole shares, rounded toward zero
    exact = 0.5 * portfolio_value(b) / 100 - before  # (value unchanged by a cost-free trade)
    assert res.orders[0]["side"] == "BUY" and res.orders[0]["qty"] == math.floor(exact)


def test_rebalance_one_refusal_does_not_stop_the_others(clock):
    inner = paper(clock, initial_cash=1000)
    b = RiskGuard(inner, RiskLimits(allowed_symbols=frozenset({"AAA", "CCC", "DDD"})))
    for sym in ("AAA", "BBB", "CCC"):
        b.set_quote(sym, 10, 10)
    res = rebalance(b, {"AAA": 1, "BBB": 1, "CCC": 1, "DDD": 1, "EEE": 0}, fit_to_cash=False)
    assert sorted(o["symbol"] for o in res.orders) == ["AAA", "CCC"]
    failed = {f["symbol"]: f["error"] for f in res.failed}
    # BBB refused by the risk limit; DDD and EEE have no quote at all (nothing to price them with).
    assert failed == {"BBB": "RiskLimitError", "DDD": "QuoteUnavailableError", "EEE": "QuoteUnavailableError"}
    assert not res.ok
    assert b.get_positions() == {"AAA": 1.0, "CCC": 1.0}
    # Not enough cash for one buy (fit_to_cash off): it fails, the sell still happens.
    res = rebalance(b, {"AAA": 0, "CCC": 500}, fit_to_cash=False)
    assert [(o["symbol"], o["side"]) for o in res.orders] == [("AAA", "SELL")]
    assert [(f["symbol"], f["error"]) for f in res.failed] == [("CCC", "InsufficientFundsError")]
    assert b.get_positions() == {"CCC": 1.0}


def test_rebalance_fits_a_buy_to_the_cash_available(clock):
    b = paper(clock, initial_cash=1000)
    b.set_quote("AAA", 100, 100)
    res = rebalance(b, {"AAA": 20}, qty_step=1)
    assert res.ok and res.orders[0]["qty"] == 9.0  # 1000 / (100 * 1.005) = 9.95 -> 9 whole shares
    assert res.adjusted == [{"symbol": "AAA", "side": "BUY", "wanted": 20.0, "qty": 9.0,
                             "reason": res.adjusted[0]["reason"]}]
    assert "not enough cash" in res.adjusted[0]["reason"]
    res = rebalance(b, {"AAA": 30}, qty_step=1)  # 100 cash left: less than one share with headroom
    assert res.orders == [] and "not enough cash" in res.skipped[0]["reason"]


def test_rebalance_limit_orders_at_the_touch_and_client_ids(clock):
    b = paper(clock)
    b.set_quote("AAA", 99.0, 101.0)
    res = rebalance(b, {"AAA": 3}, order_type="limit", limit_offset_bps=10, client_id_prefix="step7")
    (o,) = res.orders
    assert o["order_type"] == "limit" and o["limit_price"] == pytest.approx(101.0 * 1.001)
    assert o["client_order_id"] == "step7-1" and o["status"] == "filled"
    res = rebalance(b, {"AAA": 0}, order_type="limit", limit_offset_bps=10)
    assert res.orders[0]["limit_price"] == pytest.approx(99.0 * 0.999)


@pytest.mark.parametrize(
    ("targets", "kw", "match"),
    [
        ({"AAA": float("nan")}, {}, "finite"),
        ({"AAA": "ten"}, {}, "number"),
        ({"AAA": True}, {}, "number"),
        ({"AAA": 0.7, "BBB": 0.4}, {"mode": "weights"}, "max_gross_weight"),
        ({"AAA": 1}, {"mode": "value"}, "mode"),
        ({"AAA": 1}, {"order_type": "stop"}, "order_type"),
        ({"AAA": 1}, {"min_trade_value": -1}, "min_trade_value"),
        ({"AAA": 1, "aaa": 2}, {}, "twice"),
        ({"": 1}, {}, "symbol"),
    ],
)
def test_rebalance_refuses_bad_input_before_trading(clock, targets, kw, match):
    b = paper(clock)
    b.set_quote("AAA", 100, 100)
    b.set_quote("BBB", 100, 100)
    with pytest.raises(ValueError, match=match):
        rebalance(b, targets, **kw)
    assert b.get_positions() == {} and b.get_fills() == []


def test_portfolio_value_without_broker_support_is_cash_plus_positions_at_mid(clock):
    b = MiniBroker(clock, {"AAA": (99.0, 101.0)}, cash=1000.0)
    b.submit_order("AAA", "BUY", 2)
    assert portfolio_value(b) == pytest.approx(1000 - 2 * 101 + 2 * 100)
    res = rebalance(b, {"AAA": 0.5}, mode="weights")  # value 998 -> 4.99 shares at mid 100
    assert b.get_positions()["AAA"] == pytest.approx(998 * 0.5 / 100)
    assert res.portfolio_value == pytest.approx(998)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def test_max_drawdown_fraction_and_amount():
    frac, amount = max_drawdown([100, 120, 90, 130, 117])
    assert frac == pytest.approx(0.25) and amount == pytest.approx(30)
    assert max_drawdown([1, 2, 3]) == (0.0, 0.0)
    assert max_drawdown([]) == (0.0, 0.0)


def test_pnl_from_fills_average_cost_realized_and_unrealized():
    usd, bnb = {"fee_currency": "USD"}, {"fee_currency": "BNB"}
    fills = [
        {"symbol": "A", "side": "BUY", "qty": 10, "fill_price": 100.0, "fee": 1.0, **usd},
        {"symbol": "A", "side": "BUY", "qty": 10, "fill_price": 110.0, "fee": 1.0, **usd},  # avg 105
        {"symbol": "A", "side": "SELL", "qty": 5, "fill_price": 120.0, "fee": 0.5, **usd},  # +75
        {"symbol": "B", "side": "SELL", "qty": 2, "fill_price": 50.0, "fee": 0.01, **bnb},  # short 2 @ 50
        {"symbol": "B", "side": "BUY", "qty": 3, "fill_price": 40.0, "fee": 0.02, **bnb},  # cover +20, long 1 @ 40
    ]
    pnl = pnl_from_fills(fills, {"A": 100.0, "B": 45.0})
    assert pnl["realized_pnl"] == pytest.approx(95.0)
    assert pnl["unrealized_pnl"] == pytest.approx(15 * (100 - 105) + 1 * (45 - 40))
    assert pnl["fees_by_currency"] == pytest.approx({"USD": 2.5, "BNB": 0.03})
    assert pnl["fees"] == pytest.approx(2.53)
    assert pnl["positions"] == {"A": 15.0, "B": 1.0}


def test_warm_history_takes_complete_bars_before_now(clock):
    provider = SimDataProvider(seed=3, clock=clock)
    closes = warm_history(provider, ["AAA"], "1h", 10, clock())["AAA"]
    frame = provider.get_historical("AAA", period=warmup_period("1h", 10), interval="1h")
    complete = frame[frame.index + timedelta(hours=1) <= clock()]
    assert closes == list(complete["close"].to_numpy()[-10:]) and len(closes) == 10
    # A provider without history leaves the symbol empty instead of failing the run.
    assert warm_history(FlakyProvider(clock, 0), ["AAA"], "1h", 10, clock()) == {"AAA": []}
    assert warmup_period("1m", 100000) == "5d"  # capped by the 1m intraday limit


# --------------------------------------------------------------------------
# run_loop
# --------------------------------------------------------------------------


def sim_setup(clock, **paper_kw):
    # made-up symbols (AAA, BBB): a universe of any symbol
    provider = SimDataProvider(seed=11, clock=clock, **{"universe": "any", **paper_kw.pop("sim", {})})
    broker = paper(clock, data_provider=provider, **paper_kw)
    return broker, provider


def test_run_loop_drives_strategy_rebalance_and_equity(clock):
    broker, provider = sim_setup(clock)
    start = clock()
    strategy = Scripted([{"AAA": 10}, {}, {"BBB": 5, "AAA": 0}, {}])
    result = run_loop(broker, provider, strategy, 4, symbols=["aaa", "BBB"], bar="1h",
                      advance=lambda: clock.advance(hours=1))

    assert result.stop_reason == "completed" and result.steps_done == 4 and not result.interrupted
    assert len(strategy.calls) == 4
    first, second = strategy.calls[0], strategy.calls[1]
    # Warm-up: lookback - 1 complete bars from the provider, then this step's mid.
    assert all(len(h) == 4 for h in first["history"].values())
    q = first["quotes"]["AAA"]
    assert first["history"]["AAA"][-1] == pytest.approx((q["bid"] + q["ask"]) / 2)
    assert q["timestamp"] == start
    assert second["quotes"]["AAA"]["timestamp"] == start + timedelta(hours=1)
    assert second["positions"] == {"AAA": 10.0}

    assert [(o["symbol"], o["side"], o["qty"]) for o in result.orders] == [
        ("AAA", "BUY", 10.0), ("AAA", "SELL", 10.0), ("BBB", "BUY", 5.0)]
    assert len(result.fills) == 3 and result.positions == {"BBB": 5.0}
    assert [t for t, _ in result.equity_curve] == [start + timedelta(hours=h) for h in range(4)]
    assert result.initial_equity == pytest.approx(100_000)
    assert result.final_equity == pytest.approx(broker.get_portfolio_value())
    buy, sell = result.fills[0]["fill_price"], result.fills[1]["fill_price"]
    assert result.realized_pnl == pytest.approx(10 * (sell - buy))
    assert result.realized_pnl == pytest.approx(pnl_from_fills(result.fills, {})["realized_pnl"])
    assert result.max_drawdown >= 0 and math.isfinite(result.max_drawdown)

    journal_fills = list(iter_fills(Path(result.journal_path).parent, result.run_id))
    assert [r["fill_id"] for r in journal_fills] == [f["fill_id"] for f in result.fills]


def test_run_loop_stops_cleanly_on_ctrl_c_from_the_strategy(clock):
    broker, provider = sim_setup(clock)
    strategy = Scripted([{"AAA": 3}, {"AAA": 6}], raise_at=3)
    steps_seen = []
    result = run_loop(broker, provider, strategy, 10, symbols=["AAA"], advance=lambda: clock.advance(hours=1),
                      on_step=lambda info: steps_seen.append(info.step))
    assert result.interrupted and result.stop_reason == "interrupted"
    assert result.steps_done == 2 and steps_seen == [1, 2] and len(strategy.calls) == 3
    assert result.positions == {"AAA": 6.0} and len(result.fills) == 2
    assert result.summary()["steps_done"] == 2 and result.summary()["stop_reason"] == "interrupted"
    assert len(result.equity_curve) == 2


def _resting_remainder_setup(clock):
    """Quotes show 300 a side and fills respect it: a limit buy of 900 leaves 600 resting."""
    return sim_setup(clock, respect_quote_size=True, sim={"size": 300})


def _interrupt_after(step):
    def on_step(info):
        if info.step == step:
            raise KeyboardInterrupt

    return on_step


def test_ctrl_c_cancels_the_loops_open_orders(clock):
    broker, provider = _resting_remainder_setup(clock)
    result = run_loop(broker, provider, Scripted([{"AAA": 900}]), 5, symbols=["AAA"], order_type="limit",
                      advance=lambda: clock.advance(hours=1), on_step=_interrupt_after(1))
    assert result.interrupted and result.steps_done == 1
    (order,) = result.orders
    assert order["status"] == "partially_filled" and order["filled_qty"] == 300
    assert result.cancelled == [order["order_id"]] and result.left_open == []
    assert broker.get_open_orders() == [] and broker.get_order(order["order_id"])["status"] == "cancelled"


def test_ctrl_c_can_leave_open_orders_working(clock):
    broker, provider = _resting_remainder_setup(clock)
    result = run_loop(broker, provider, Scripted([{"AAA": 900}]), 5, symbols=["AAA"], order_type="limit",
                      advance=lambda: clock.advance(hours=1), on_step=_interrupt_after(1),
                      cancel_open_on_exit=False)
    oid = result.orders[0]["order_id"]
    assert result.cancelled == [] and result.left_open == [oid]
    assert [o["order_id"] for o in broker.get_open_orders()] == [oid]


def test_each_step_cancels_the_previous_steps_leftovers(clock):
    broker, provider = _resting_remainder_setup(clock)
    # Leave open orders at exit: whatever was cancelled, step 2 cancelled before asking the strategy.
    result = run_loop(broker, provider, Scripted([{"AAA": 900}, {}]), 2, symbols=["AAA"], order_type="limit",
                      advance=lambda: clock.advance(hours=1), cancel_open_on_exit=False)
    oid = result.orders[0]["order_id"]
    assert result.cancelled == [oid] and result.left_open == [] and result.stop_reason == "completed"
    assert broker.get_open_orders() == [] and result.positions == {"AAA": 300.0}


def test_a_bug_in_the_strategy_is_raised_after_clean_up(clock):
    broker, provider = _resting_remainder_setup(clock)
    strategy = Scripted([{"AAA": 900}], raise_at=2, exc=ZeroDivisionError)
    with pytest.raises(ZeroDivisionError):
        run_loop(broker, provider, strategy, 5, symbols=["AAA"], order_type="limit",
                 advance=lambda: clock.advance(hours=1))
    assert broker.get_open_orders() == []


def test_repeated_data_failures_stop_the_loop(clock):
    provider = FlakyProvider(clock, failing=100)
    broker = paper(clock, data_provider=provider)
    strategy = Scripted([])
    result = run_loop(broker, provider, strategy, 10, symbols=["AAA", "BBB"], max_consecutive_errors=3,
                      advance=lambda: clock.advance(hours=1))
    assert result.stop_reason == "errors" and result.steps_done == 3
    assert [e["error"] for e in result.errors] == ["DataProviderError"] * 3
    assert strategy.calls == []
    assert len(result.equity_curve) == 3  # equity is still recorded (cash only)


def test_a_passing_failure_is_recorded_and_the_loop_goes_on(clock):
    provider = FlakyProvider(clock, failing=1)
    broker = paper(clock, data_provider=provider)
    result = run_loop(broker, provider, Scripted([{"AAA": 1}]), 3, symbols=["AAA"], warmup=False,
                      advance=lambda: clock.advance(hours=1))
    assert result.stop_reason == "completed" and result.steps_done == 3
    assert [e["step"] for e in result.errors] == [1]
    assert result.positions == {"AAA": 1.0}  # the strategy's first call came at step 2
    assert result.initial_equity is None and len(result.equity_curve) == 3  # step 1 had no prices


def test_interval_paces_steps_from_start_to_start(clock):
    now = [0.0]
    sleeps = []

    def sleep(s):
        sleeps.append(s)
        now[0] += s

    class Slow(Scripted):
        def __call__(self, *a):
            now[0] += 4.0  # each step takes 4 "seconds"
            return super().__call__(*a)

    broker, provider = sim_setup(clock)
    run_loop(broker, provider, Slow([]), 3, symbols=["AAA"], interval_s=10.0, sleep=sleep,
             monotonic=lambda: now[0])
    assert sleeps == [6.0, 6.0]


def test_run_loop_on_a_protocol_only_broker_computes_pnl_from_fills(clock):
    b = MiniBroker(clock, {"AAA": (100.0, 100.2)}, cash=10_000.0)

    def advance():
        clock.advance(hours=1)
        b.quotes["AAA"] = (110.0, 110.2)

    result = run_loop(b, None, Scripted([{"AAA": 10}, {"AAA": 0}]), 2, symbols=["AAA"], warmup=False,
                      advance=advance)
    assert [(o["side"], o["fill_price"]) for o in result.orders] == [("BUY", 100.2), ("SELL", 110.0)]
    assert result.realized_pnl == pytest.approx(98.0) and result.unrealized_pnl == 0
    assert result.fees == 0 and result.positions == {}
    assert result.journal_path is None
    assert result.initial_equity == pytest.approx(10_000.0)
    assert result.final_equity == pytest.approx(10_098.0)


@pytest.mark.parametrize(
    ("args", "kw", "match"),
    [((0,), {"symbols": []}, "symbol"), ((-1,), {"symbols": ["A"]}, "steps"),
     ((1,), {"symbols": ["A"], "bar": "7m"}, "bar"), ((1,), {"symbols": ["A"], "interval_s": -1}, "interval_s")],
)
def test_run_loop_refuses_bad_arguments(clock, args, kw, match):
    broker, provider = sim_setup(clock)
    with pytest.raises(ValueError, match=match):
        run_loop(broker, provider, Scripted([]), *args, **kw)


# --------------------------------------------------------------------------
# strategies
# --------------------------------------------------------------------------


def test_moving_average_crossover_trades_only_on_signal_changes():
    s = MovingAverageCrossover(fast=2, slow=4, cash_buffer=0.2)
    quotes = {"UP": {}, "DOWN": {}, "NEW": {}}
    history = {"UP": [1, 2, 3, 4], "DOWN": [4, 3, 2, 1], "NEW": [1, 2]}
    # Flat and rising: buy a slice of (1 - 0.2) / 3; falling and held: sell out; short history: leave alone.
    assert s(quotes, {"DOWN": 5.0}, history) == {"UP": pytest.approx(0.8 / 3), "DOWN": 0.0}
    assert s(quotes, {"UP": 7.0}, history) == {}  # already long UP, already flat DOWN
    with pytest.raises(ValueError):
        MovingAverageCrossover(fast=5, slow=5)
    with pytest.raises(ValueError):
        MovingAverageCrossover(cash_buffer=1.0)


def test_equal_weight_every_n_steps():
    s = EqualWeight(cash_buffer=0.0, every=2)
    quotes = {"A": {}, "B": {}}
    history = {"A": [1], "B": [1]}
    assert s(quotes, {}, history) == {"A": 0.5, "B": 0.5}
    assert s(quotes, {}, history) == {}
    assert s(quotes, {}, history) == {"A": 0.5, "B": 0.5}


def test_get_strategy_by_name_and_its_errors():
    s = get_strategy("ma_crossover", fast=3, slow=9)
    assert isinstance(s, MovingAverageCrossover) and s.lookback == 9
    with pytest.raises(ValueError, match="known: equal_weight, ma_crossover"):
        get_strategy("momentum")
    with pytest.raises(ValueError, match="allowed: cash_buffer, every"):
        get_strategy("equal_weight", fast=1)


# --------------------------------------------------------------------------
# PipelineConfig
# --------------------------------------------------------------------------


def test_pipeline_config_defaults_and_overrides():
    cfg = PipelineConfig.from_config()
    assert cfg.symbols == ("AAPL", "MSFT", "GOOG") and cfg.strategy == "ma_crossover" and cfg.steps == 100
    assert cfg.bar == "1h" and cfg.interval_s is None and cfg.cancel_open_on_exit is True and cfg.qty_step is None
    cfg = PipelineConfig.from_config(symbols=["btcusdt"], steps=5, interval_s=0)
    assert cfg.symbols == ("BTCUSDT",) and cfg.steps == 5 and cfg.interval_s == 0


def test_pipeline_config_lists_every_problem(write_config):
    write_config({"pipeline": {"symbols": [], "strategy": "magic", "steps": 1.5, "bar": "7m",
                               "interval_s": -1, "min_trade_value": "x", "qty_step": 0, "order_type": "stop"}})
    with pytest.raises(ConfigError) as err:
        PipelineConfig.from_config()
    keys = [p.split(" ")[0] for p in err.value.problems]
    assert keys == [f"live_trading.pipeline.{k}" for k in
                    ("symbols", "strategy", "steps", "bar", "interval_s", "min_trade_value", "qty_step",
                     "order_type")]


def test_run_result_counts_every_skip_but_keeps_only_the_first_and_last_few(clock):
    broker, provider = sim_setup(clock)
    strategy = EqualWeight(cash_buffer=0.5)
    # the first step buys; afterwards every drift is below the (large) minimum trade value and is skipped
    result = run_loop(broker, provider, strategy, 40, symbols=["AAA", "BBB", "CCC"], bar="1m",
                      min_trade_value=2_000, advance=lambda: clock.advance(minutes=1))
    assert len(result.orders) == 3
    assert len(result.skipped) == 39 * 3 == result.summary()["trades_skipped"]
    kept = list(result.skipped)
    assert len(kept) == 10 and result.skipped.dropped == 107
    assert [k["step"] for k in kept] == [2, 2, 2, 3, 3, 39, 39, 40, 40, 40]
    assert all(k["reason"] == "trade value below min_trade_value" and k["value"] < 2_000 for k in kept)
    assert {k["symbol"] for k in kept[-3:]} == {"AAA", "BBB", "CCC"}


def test_on_many_symbols_the_loop_keeps_each_quotes_mid_and_sizes_orders_at_it(clock, tmp_path):
    """Enough symbols for the sim to quote them as one ``QuoteBatch``: each step's history gets every quote's
    ``mid_price``, the paper account takes the batch as it is, and a weights rebalance sizes each order as
    weight x portfolio value / that mid (the mids worked out once, by the loop)."""
    from LIVE_TRADING.data.quotes import QuoteBatch, mid_price
    from LIVE_TRADING.pipeline import Strategy

    symbols = [f"S{i:02d}" for i in range(20)]

    class Probe(Strategy):
        mode = "weights"
        lookback = 5

        def __init__(self):
            self.seen = []

        def on_bar(self, ctx, quotes):
            self.seen.append((quotes, {s: ctx.history[s][-1] for s in symbols}))
            return {s: 0.04 for s in symbols} if ctx.step == 2 else {}

    broker, provider = sim_setup(clock, log_dir=tmp_path)
    probe = Probe()
    result = run_loop(broker, provider, probe, 3, symbols=symbols, bar="1m", warmup=False,
                      advance=lambda: clock.advance(minutes=1))
    assert result.steps_done == 3 and not result.errors
    assert all(type(quotes) is QuoteBatch for quotes, _ in probe.seen[1:])  # (asked along a stride)
    for quotes, last in probe.seen:
        assert last == {s: mid_price(quotes[s]) for s in symbols}
    newest = probe.seen[-1][0]
    assert {s: broker.get_quote(s) for s in symbols} == {s: newest[s] for s in symbols}  # the batch, as it was
    step2 = probe.seen[1][0]
    value = result.equity_curve[0][1]  # nothing traded before step 2: the value it was weighted with
    assert len(result.orders) == len(symbols)
    for order in result.orders:
        assert order["qty"] == pytest.approx(0.04 * value / mid_price(step2[order["symbol"]]), rel=1e-12)


def test_a_strategy_subclass_gets_its_lookback_on_start_and_the_context(clock):
    from LIVE_TRADING.pipeline import Strategy

    class Probe(Strategy):
        mode = "qty"
        lookback = 3

        def __init__(self):
            self.started = None
            self.bars = []

        def on_start(self, ctx):
            self.started = {s: list(h) for s, h in ctx.history.items()}

        def on_bar(self, ctx, quotes):
            self.bars.append((ctx.step, ctx.now, {s: list(h) for s, h in ctx.history.items()}, dict(ctx.positions),
                              ctx.cash))
            return {"AAA": 2} if ctx.step == 1 else {}

    broker, provider = sim_setup(clock)
    probe = Probe()
    start = clock()
    bars = provider.get_historical("AAA", period="1d", interval="1h")  # the last one is still forming
    run_loop(broker, provider, probe, 3, symbols=["AAA"], bar="1h", advance=lambda: clock.advance(hours=1))
    # warm-up: lookback - 1 complete hourly bars, as the provider gives them
    assert probe.started == {"AAA": list(bars["close"].iloc[-3:-1])}
    steps = [b[0] for b in probe.bars]
    assert steps == [1, 2, 3] and probe.bars[0][1] == start and probe.bars[2][1] == start + timedelta(hours=2)
    assert all(len(b[2]["AAA"]) == 3 for b in probe.bars)  # bounded to the lookback
    assert probe.bars[0][3] == {} and probe.bars[1][3] == {"AAA": 2.0}
    assert probe.bars[1][4] == pytest.approx(broker.get_cash())


# -- bulk checks (many symbols) give what the per-symbol checks give ----------------------------------


def _check_one_by_one(targets, mode, max_gross_weight=1.0):
    """check_targets without ``known``: the per-symbol loop, the reference for the bulk path."""
    from LIVE_TRADING.pipeline.rebalance import check_targets

    return check_targets(targets, mode, max_gross_weight)


@pytest.mark.parametrize("mode", ["qty", "weights"])
@pytest.mark.parametrize(
    "bad",
    [math.nan, math.inf, -math.inf, 1e308, 0.5, 1, True, "0.01", None],
    ids=["nan", "inf", "-inf", "huge", "over-weight", "int", "bool", "str", "none"],
)
def test_bulk_target_check_matches_the_per_symbol_check(mode, bad):
    from LIVE_TRADING.pipeline.rebalance import check_targets

    syms = [f"S{i:03d}" for i in range(20)]
    known = {s: s for s in syms}
    targets = {s: 0.01 for s in syms}
    targets["S007"] = bad
    try:
        expected: object = _check_one_by_one(targets, mode)
    except ValueError as exc:
        expected = str(exc)
    try:
        got: object = check_targets(targets, mode, known=known)
    except ValueError as exc:
        got = str(exc)
    assert got == expected
    if not isinstance(got, str):
        assert list(got) == syms and all(type(v) is float for v in got.values())


def test_positions_read_in_bulk_match_the_per_symbol_conversion():
    from LIVE_TRADING.pipeline.rebalance import _held

    clean = {f"S{i:03d}": float(i) for i in range(20)}
    assert _held(clean) is clean  # already in normal form: taken as it is (rebalance only reads it)
    for odd in ({**clean, "aapl": 1.0}, {**clean, "S001": 2}, {**clean, "ß": 1.0}, {"aapl": 1.0}):
        assert _held(odd) == {str(s).upper(): float(q) for s, q in odd.items()}
        assert all(type(q) is float and s == s.upper() for s, q in _held(odd).items())
