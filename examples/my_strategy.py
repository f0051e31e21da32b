"""A user's own strategy, for ``live-trading run --strategy examples/my_strategy.py:Momentum``.

Subclass ``Strategy``, declare how much history you need (``lookback``) and
what your targets mean (``mode``), and return targets from ``on_bar``.
"""

from __future__ import annotations

from LIVE_TRADING.pipeline.strategies import Strategy


class Momentum(Strategy):
    """Hold an equal slice of every symbol whose price rose over the last ``lookback`` bars; flat otherwise."""

    lookback = 10
    mode = "weights"

    def __init__(self, cash_buffer: float = 0.05) -> None:
        self.cash_buffer = cash_buffer

    def on_start(self, ctx):
        ctx.state["slice"] = (1.0 - self.cash_buffer) / len(ctx.symbols)

    def on_bar(self, ctx, quotes):
        targets = {}
        for sym in quotes:
            prices = ctx.history.get(sym, [])
            if len(prices) < self.lookback:
                continue  # not enough history yet: leave the symbol alone
            targets[sym] = ctx.state["slice"] if prices[-1] > prices[0] else 0.0
        return targets

    def __repr__(self) -> str:
        return f"Momentum(lookback={self.lookback}, cash_buffer={self.cash_buffer})"
