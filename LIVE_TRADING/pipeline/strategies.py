"""Example strategies for the reference loop (``LIVE_TRADING.pipeline.run_loop``).

A strategy is any callable ``strategy(quotes, positions, history) -> targets``:

* ``quotes``: ``{symbol: Quote}`` for this step (symbols without a quote are missing);
* ``positions``: ``{symbol: qty}`` held now (``broker.get_positions()``);
* ``history``: ``{symbol: [price, ...]}`` for every symbol of the run, oldest
  first, the last entry being this step's mid (warmed up from the data
  provider's bars where possible). Treat it as read-only.

It returns target positions for the symbols it wants to change: quantities,
or fractions of portfolio value when the strategy has ``mode = "weights"``.
Symbols it leaves out are not traded this step. Optional attributes that the
loop reads: ``mode`` (``"qty"`` or ``"weights"``, default ``"qty"``) and
``lookback`` (how many prices of history it needs).

``get_strategy("ma_crossover", fast=10)`` builds one by name (``STRATEGIES``
lists them); ``strategy_params(name)`` names the parameters each accepts.

Your own strategy: subclass ``Strategy`` (declare ``lookback`` and ``mode``,
write ``on_bar``), then ``live-trading run --strategy mymodule:MyStrategy``
(``load_strategy``) or ``run_loop(broker, provider, MyStrategy(), steps, ...)``::

    class BuyAndHold(Strategy):
        lookback = 1
        mode = "weights"

        def on_bar(self, ctx, quotes):
            return {sym: 0.9 / len(ctx.symbols) for sym in quotes}
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: what the loop calls: ``strategy(quotes, positions, history) -> targets``
StrategyFn = Callable[[Mapping[str, Any], Mapping[str, float], Mapping[str, Sequence[float]]], Mapping[str, float]]


@dataclass
class StrategyContext:
    """What a ``Strategy`` sees besides this bar's quotes.

    Attributes:
        symbols: the run's symbols.
        positions: ``{symbol: qty}`` held now.
        history: ``{symbol: [price, ...]}`` oldest first, up to ``lookback`` long, the last entry
            this bar's mid. Read-only.
        step: 1 for the first bar, 2 for the next, ...
        state: a dict the strategy may keep anything in between bars.
    """

    symbols: list[str]
    positions: Mapping[str, float]
    history: Mapping[str, Sequence[float]]
    step: int = 0
    state: dict[str, Any] = field(default_factory=dict)


class Strategy:
    """Base class of a strategy: declare ``lookback`` and ``mode``, write ``on_bar``.

    * ``lookback``: how many prices of history per symbol ``on_bar`` needs (the loop warms them up).
    * ``mode``: ``"qty"`` (targets are quantities to hold) or ``"weights"`` (fractions of portfolio value).
    * ``on_start(ctx)``: called once, before the first ``on_bar``.
    * ``on_bar(ctx, quotes) -> {symbol: target}``: this bar's targets; symbols left out are not traded.

    An instance is also the callable ``run_loop`` expects (``strategy(quotes, positions, history)``).
    """

    lookback: int = 1
    mode: str = "qty"

    def on_start(self, ctx: StrategyContext) -> None:
        """Called once before the first bar (optional)."""

    def on_bar(self, ctx: StrategyContext, quotes: Mapping[str, Any]) -> Mapping[str, float]:
        """Target positions for this bar."""
        raise NotImplementedError(f"{type(self).__name__} must define on_bar(ctx, quotes)")

    def __call__(
        self,
        quotes: Mapping[str, Any],
        positions: Mapping[str, float],
        history: Mapping[str, Sequence[float]],
    ) -> Mapping[str, float]:
        ctx = self.__dict__.get("_ctx")
        if ctx is None:
            ctx = self.__dict__["_ctx"] = StrategyContext(list(history) or list(quotes), positions, history)
            self.on_start(ctx)
        ctx.positions, ctx.history, ctx.step = positions, history, ctx.step + 1
        return self.on_bar(ctx, quotes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (0.0 <= value < 1.0):
        raise ValueError(f"{name} must be a number >= 0 and < 1, got {value!r}")
    return float(value)


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


class MovingAverageCrossover:
    """Long when the fast moving average of the price is above the slow one, flat otherwise.

    Each symbol of the run gets an equal slice ``(1 - cash_buffer) / n`` of
    portfolio value while its signal is long. It trades only when a signal
    changes (flat -> long buys the slice, long -> flat sells everything), so a
    held position is not topped up every step as prices drift. Symbols with
    fewer than ``slow`` prices of history are left alone.

    Args:
        fast: bars in the fast average (default 5).
        slow: bars in the slow average (default 20, > fast).
        cash_buffer: fraction of portfolio value kept in cash for fees and slippage (default 0.02).
    """

    name = "ma_crossover"
    mode = "weights"

    def __init__(self, fast: int = 5, slow: int = 20, cash_buffer: float = 0.02) -> None:
        self.fast = _int(fast, "fast", 1)
        self.slow = _int(slow, "slow", 2)
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
        self.cash_buffer = _fraction(cash_buffer, "cash_buffer")
        self.lookback = self.slow

    def signal(self, prices: Sequence[float]) -> bool | None:
        """True (long) / False (flat), or None without enough history."""
        if len(prices) < self.slow:
            return None
        recent = list(prices)[-self.slow :]
        return _mean(recent[-self.fast :]) > _mean(recent)

    def __call__(
        self,
        quotes: Mapping[str, Any],
        positions: Mapping[str, float],
        history: Mapping[str, Sequence[float]],
    ) -> dict[str, float]:
        universe = len(history) or len(quotes)
        if not universe:
            return {}
        weight = (1.0 - self.cash_buffer) / universe
        targets: dict[str, float] = {}
        for sym in quotes:
            long = self.signal(history.get(sym, ()))
            if long is None:
                continue
            held = positions.get(sym, 0.0)
            if long and held <= 0:
                targets[sym] = weight
            elif not long and held != 0:
                targets[sym] = 0.0
        return targets

    def __repr__(self) -> str:
        return f"MovingAverageCrossover(fast={self.fast}, slow={self.slow}, cash_buffer={self.cash_buffer:g})"


class EqualWeight:
    """Hold every quoted symbol at the same fraction of portfolio value.

    Targets ``(1 - cash_buffer) / n`` for each of the run's ``n`` symbols,
    every ``every`` steps (the loop's ``min_trade_value`` keeps it from
    chasing small drifts).

    Args:
        cash_buffer: fraction kept in cash for fees and slippage (default 0.02).
        every: rebalance every this many steps (default 1: every step).
    """

    name = "equal_weight"
    mode = "weights"
    lookback = 1

    def __init__(self, cash_buffer: float = 0.02, every: int = 1) -> None:
        self.cash_buffer = _fraction(cash_buffer, "cash_buffer")
        self.every = _int(every, "every", 1)
        self._calls = 0

    def __call__(
        self,
        quotes: Mapping[str, Any],
        positions: Mapping[str, float],
        history: Mapping[str, Sequence[float]],
    ) -> dict[str, float]:
        due = self._calls % self.every == 0
        self._calls += 1
        universe = len(history) or len(quotes)
        if not due or not universe:
            return {}
        weight = (1.0 - self.cash_buffer) / universe
        return {sym: weight for sym in quotes}

    def __repr__(self) -> str:
        return f"EqualWeight(cash_buffer={self.cash_buffer:g}, every={self.every})"


#: strategy name -> class (or any factory taking keyword parameters)
STRATEGIES: dict[str, Callable[..., StrategyFn]] = {
    MovingAverageCrossover.name: MovingAverageCrossover,
    EqualWeight.name: EqualWeight,
}


def strategy_params(name: str) -> list[str]:
    """The keyword parameters strategy ``name`` accepts."""
    factory = STRATEGIES[name]
    return [p for p in inspect.signature(factory).parameters if p != "self"]


def get_strategy(name: str, **params: Any) -> StrategyFn:
    """Build the strategy registered as ``name`` with ``params``.

    Raises ``ValueError`` for an unknown name, an unknown parameter or a bad
    value (the message lists what is allowed).
    """
    key = str(name).strip().lower()
    factory = STRATEGIES.get(key)
    if factory is None:
        raise ValueError(f"Unknown strategy {name!r} (known: {', '.join(sorted(STRATEGIES))})")
    allowed = strategy_params(key)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"Strategy {key} has no parameter {', '.join(unknown)} (allowed: {', '.join(allowed) or 'none'})"
        )
    return factory(**params)


def _import_target(spec: str) -> Any:
    """``module:Attr`` or ``path/to/file.py:Attr`` -> the attribute (the current directory is importable)."""
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise ValueError(f"A strategy class is given as module:Class or path/to/file.py:Class, got {spec!r}")
    if module_name.endswith(".py"):
        path = Path(module_name).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"Strategy file {path} does not exist")
        mod_spec = importlib.util.spec_from_file_location(f"_live_trading_user_{path.stem}", path)
        if mod_spec is None or mod_spec.loader is None:
            raise ValueError(f"Cannot load {path} as a Python module")
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[mod_spec.name] = module
        mod_spec.loader.exec_module(module)
    else:
        cwd = str(Path.cwd())
        added = cwd not in sys.path
        if added:
            sys.path.insert(0, cwd)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ValueError(f"Cannot import strategy module {module_name!r}: {exc}") from exc
        finally:
            if added:
                sys.path.remove(cwd)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"Module {module_name!r} has no {attr!r}") from None


def load_strategy(spec: str, **params: Any) -> StrategyFn:
    """A strategy by name (``ma_crossover``) or a user's class (``module:Class``, ``file.py:Class``) built with ``params``.

    A user's class must subclass ``Strategy`` (or be a callable factory of a
    ``strategy(quotes, positions, history)`` callable). Raises ``ValueError``
    naming what is wrong (``TypeError`` for parameters its constructor refuses).
    """
    if ":" not in spec:
        return get_strategy(spec, **params)
    target = _import_target(spec)
    if not callable(target):
        raise ValueError(f"{spec} is not a class or factory")
    strategy = target(**params)
    if not callable(strategy):
        raise ValueError(f"{spec}(...) did not give a strategy (a Strategy instance or a callable)")
    mode = getattr(strategy, "mode", "qty")
    if mode not in ("qty", "weights"):
        raise ValueError(f"{spec}.mode must be 'qty' or 'weights', got {mode!r}")
    lookback = getattr(strategy, "lookback", 1)
    if isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 1:
        raise ValueError(f"{spec}.lookback must be an integer >= 1, got {lookback!r}")
    return strategy  # type: ignore[no-any-return]


__all__ = [
    "STRATEGIES",
    "EqualWeight",
    "MovingAverageCrossover",
    "Strategy",
    "StrategyContext",
    "StrategyFn",
    "get_strategy",
    "load_strategy",
    "strategy_params",
]
