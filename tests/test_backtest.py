"""Backtests through replay -> run_loop: a hand-computed case, and bar labels that must not change trades."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from LIVE_TRADING.brokers.paper import PaperBroker
from LIVE_TRADING.common.clock import ManualClock
from LIVE_TRADING.data.replay import ReplayDataProvider
from LIVE_TRADING.pipeline import run_loop, warm_history
from LIVE_TRADING.pipeline.strategies import MovingAverageCrossover, Strategy, StrategyContext

DAY0 = datetime(2026, 1, 5, tzinfo=UTC)


def bars_csv(path: Path, closes: dict[str, list[float]], label: str) -> Path:
    """Daily bars, one per day from DAY0, labelled by their start (00:00 of the day) or their end (next 00:00)."""
    lines = ["timestamp,symbol,open,high,low,close,volume"]
    for day in range(max(len(c) for c in closes.values())):
        start = DAY0 + timedelta(days=day)
        stamp = start if label == "start" else start + timedelta(days=1)
        for sym, series in closes.items():
            c = series[day]
            lines.append(f"{stamp.isoformat()},{sym},{c},{c},{c},{c},1000")
    path.write_text("\n".join(lines) + "\n")
    return path


def backtest(path: Path, bar_time: str, strategy: Any, log_dir: Path, steps: int | None = None, **paper: Any):
    """replay -> PaperBroker -> run_loop on one ManualClock moved a day per step (what `live-trading run` does)."""
    clock = ManualClock()
    provider = ReplayDataProvider(path, clock=clock, spread_bps=0.0, size=1e9, bar_time=bar_time)
    clock.set(provider.first_timestamp)
    available = int((provider.last_timestamp - provider.first_timestamp) / timedelta(days=1)) + 1
    broker = PaperBroker(clock=clock, data_provider=provider, log_dir=log_dir, **paper)
    try:
        result = run_loop(broker, provider, strategy, steps or available, symbols=provider.symbols, bar="1d",
                          advance=lambda: clock.advance(days=1))
    finally:
        broker.close()
    return result


class Plan(Strategy):
    """Quantity targets by step number (1-based); records the history it was shown."""

    mode = "qty"
    lookback = 2

    def __init__(self, plan: Mapping[int, Mapping[str, float]]) -> None:
        self.plan = plan
        self.seen: list[dict[str, list[float]]] = []

    def on_bar(self, ctx: StrategyContext, quotes: Mapping[str, Any]) -> Mapping[str, float]:
        self.seen.append({s: list(h) for s, h in ctx.history.items()})
        return self.plan.get(ctx.step, {})


def test_loop_trades_and_equity_match_a_hand_computed_case(tmp_path):
    # One symbol, four daily closes 100, 110, 105, 120, no spread: bid = ask = close.
    # Costs: slippage 5 bps (a BUY fills at ask * 1.0005, a SELL at bid * 0.9995), fee 1 bps of notional.
    # Cash 10,000; the plan holds 10, then 10, then 4, then 0.
    path = bars_csv(tmp_path / "abc.csv", {"ABC": [100.0, 110.0, 105.0, 120.0]}, "end")
    plan = Plan({1: {"ABC": 10}, 3: {"ABC": 4}, 4: {"ABC": 0}})
    result = backtest(path, "end", plan, tmp_path / "log", initial_cash=10_000.0, slippage_bps=5, fee_bps=1)

    # Step 1 (close 100): BUY 10 at 100.05 -> notional 1,000.50, fee 0.10005;
    #   cash 10,000 - 1,000.50 - 0.10005 = 8,999.39995; equity 8,999.39995 + 10 x 100 = 9,999.39995.
    # Step 2 (close 110): no trade; equity 8,999.39995 + 10 x 110 = 10,099.39995.
    # Step 3 (close 105): SELL 6 at 104.9475 -> notional 629.685, fee 0.0629685;
    #   cash 8,999.39995 + 629.685 - 0.0629685 = 9,629.0219815; equity + 4 x 105 = 10,049.0219815.
    # Step 4 (close 120): SELL 4 at 119.94 -> notional 479.76, fee 0.047976;
    #   cash 9,629.0219815 + 479.76 - 0.047976 = 10,108.7340055 = equity (flat).
    fills = [(f["side"], f["qty"], f["fill_price"], f["timestamp"]) for f in result.fills]
    assert fills == [
        ("BUY", 10.0, pytest.approx(100.05), DAY0 + timedelta(days=1)),
        ("SELL", 6.0, pytest.approx(104.9475), DAY0 + timedelta(days=3)),
        ("SELL", 4.0, pytest.approx(119.94), DAY0 + timedelta(days=4)),
    ]
    assert [f["fee"] for f in result.fills] == [pytest.approx(0.10005), pytest.approx(0.0629685),
                                               pytest.approx(0.047976)]
    assert result.initial_equity == pytest.approx(10_000.0)
    assert [e for _, e in result.equity_curve] == [
        pytest.approx(9_999.39995), pytest.approx(10_099.39995), pytest.approx(10_049.0219815),
        pytest.approx(10_108.7340055),
    ]
    assert [t for t, _ in result.equity_curve] == [DAY0 + timedelta(days=d) for d in (1, 2, 3, 4)]
    assert result.cash == pytest.approx(10_108.7340055) and result.positions == {}
    # Realised: 6 x (104.9475 - 100.05) + 4 x (119.94 - 100.05) = 29.385 + 79.56 = 108.945 before fees;
    # the fees (0.2109945) make the equity gain 108.7340055.
    assert result.fees == pytest.approx(0.2109945)
    assert result.final_equity - result.initial_equity == pytest.approx(108.945 - 0.2109945)
    # History: warm-up has no bar before the first one; then one mid per step, lookback 2.
    assert plan.seen[0] == {"ABC": [100.0]} and plan.seen[1] == {"ABC": [100.0, 110.0]}
    assert plan.seen[3] == {"ABC": [105.0, 120.0]}


def _closes(n: int) -> dict[str, list[float]]:
    """Deterministic zig-zag prices that make a 3/8 crossover trade several times."""
    return {
        sym: [round(100 * (1 + k * 0.1) + 8 * math.sin(day / (4 + k)) + day * 0.05 * (k - 1), 4) for day in range(n)]
        for k, sym in enumerate(["AAA", "BBB"])
    }


def test_same_bars_labelled_by_start_or_end_give_identical_trades(tmp_path):
    closes = _closes(80)
    by_start = bars_csv(tmp_path / "start.csv", closes, "start")
    by_end = bars_csv(tmp_path / "end.csv", closes, "end")
    kw = {"initial_cash": 100_000.0, "slippage_bps": 5, "fee_bps": 1}
    # a partial run first: a start with warm-up, where the first bar used to be counted twice
    runs = {}
    for label, path in (("start", by_start), ("end", by_end)):
        runs[label] = backtest(path, label, MovingAverageCrossover(fast=3, slow=8), tmp_path / f"log-{label}", **kw)

    def trades(result):
        return [(f["symbol"], f["side"], f["qty"], f["fill_price"], f["timestamp"]) for f in result.fills]

    assert len(runs["start"].fills) >= 6  # the case trades both ways, several times
    assert trades(runs["start"]) == trades(runs["end"])
    assert runs["start"].equity_curve == runs["end"].equity_curve
    assert runs["start"].steps_done == runs["end"].steps_done == 80


def test_warm_up_never_counts_the_current_bar_twice(tmp_path):
    closes = _closes(30)
    histories = {}
    for label in ("start", "end"):
        clock = ManualClock()
        provider = ReplayDataProvider(bars_csv(tmp_path / f"{label}.csv", closes, label), clock=clock,
                                      spread_bps=0.0, bar_time=label)
        clock.set(provider.first_timestamp + timedelta(days=10))  # the quote now is the close of day 10
        assert provider.get_quote("AAA")["bid"] == closes["AAA"][10]
        histories[label] = warm_history(provider, ["AAA"], "1d", 5, clock())["AAA"]
    # five closes before the current one (days 5..9), whichever way the file labels its bars
    assert histories["start"] == histories["end"] == closes["AAA"][5:10]
