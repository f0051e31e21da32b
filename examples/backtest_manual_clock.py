"""A backtest from Python on a simulated clock: every timestamp is simulated time, not the wall clock.

    python examples/backtest_manual_clock.py

The paper broker and the ``sim`` market share one ``ManualClock``; the loop
moves it one bar per step (``advance``), so 500 hourly bars take well under a
second and the journal, fills and equity curve carry the simulated times.
``get_broker("paper", clock="sim", data_provider="sim")`` does the same and
hands the clock back as ``broker.clock``.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta

from LIVE_TRADING.brokers import get_broker
from LIVE_TRADING.common.clock import ManualClock
from LIVE_TRADING.data.provider import get_data_provider
from LIVE_TRADING.pipeline import run_loop
from LIVE_TRADING.pipeline.strategies import Strategy


class MeanReversion(Strategy):
    """Buy a fixed quantity when the price is below its recent average, sell it back when above."""

    lookback = 24
    mode = "qty"

    def on_bar(self, ctx, quotes):
        targets = {}
        for sym in quotes:
            prices = ctx.history.get(sym, [])
            if len(prices) < self.lookback:
                continue
            average = sum(prices) / len(prices)
            targets[sym] = 50.0 if prices[-1] < average else 0.0
        return targets


def main() -> None:
    clock = ManualClock("2025-01-06T00:00:00+00:00")
    provider = get_data_provider("sim", clock=clock, seed=7)
    with tempfile.TemporaryDirectory() as journal:
        broker = get_broker("paper", clock=clock, data_provider=provider, log_dir=journal)
        result = run_loop(broker, provider, MeanReversion(), 500, symbols=["AAPL", "MSFT"], bar="1h",
                          advance=lambda: clock.advance(hours=1))
        broker.close()
    print(f"{result.steps_done} bars from {result.started_at} to {result.ended_at}: "
          f"{len(result.fills)} fills, equity {result.initial_equity:,.2f} -> {result.final_equity:,.2f}")
    assert result.ended_at - result.started_at == timedelta(hours=499)  # simulated time, not wall-clock time
    assert all(f["timestamp"] <= result.ended_at for f in result.fills)
    print("OK")


if __name__ == "__main__":
    main()
