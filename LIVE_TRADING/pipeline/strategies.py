"""Strategies for the reference loop (``LIVE_TRADING.pipeline.run_loop``).

Write a strategy as a subclass of ``Strategy``::

    class BuyTheDip(Strategy):
        name = "buy_the_dip"
        mode = "weights"          # on_bar returns fractions of portfolio value ("qty": quantities)
        lookback = 20             # bars of history it needs: warm-up fetches only these

        def on_bar(self, ctx, quotes):
            targets = {}
            for sym, prices in ctx.history.items():
                if len(prices) == self.lookback and prices[-1] < min(prices) * 1.001:
                    targets[sym] = 0.1
            return targets

``on_start(ctx)`` is called once before the first bar; ``on_bar(ctx, quotes)``
once per step with this step's ``{symbol: Quote}`` (symbols without a quote
are missing) and returns target positions for the symbols it wants to change.
Symbols it leaves out are not traded this step. ``ctx`` (a
``StrategyContext``) gives ``history`` (per symbol, a ``deque`` of mid prices,
oldest first, at most ``lookback`` long, the last being this step's mid),
``positions`` and ``cash`` (read from the broker when first asked in a step),
``now``, ``step`` and the ``broker`` itself. Treat ``history`` as read-only.

A plain callable ``strategy(quotes, positions, history) -> targets`` (the
older form) still works: ``run_loop`` wraps it in ``FunctionStrategy``, which
passes ``history`` as lists and reads ``mode`` / ``lookback`` attributes when
the callable has them. ``Strategy`` instances can be called that way too.

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

Why one module of ~400 lines: the ``Strategy`` base class and its context, the two built-in
strategies and the loader of a user's own strategy (``module:Class``).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

LegacyStrategy = Callable[[Mapping[str, Any], Mapping[str, float], Mapping[str, Sequence[float]]], Mapping[str, float]]
#: lookback given to plain callables that do not declare one
DEFAULT_LOOKBACK = 50


class StrategyContext:
    """What a strategy sees besides the quotes: history, account and time (see the module docstring)."""

    __slots__ = ("_cash", "_positions", "broker", "history", "now", "state", "step", "symbols")

    def __init__(
        self,
        broker: Any,
        symbols: Sequence[str],
        history: dict[str, deque[float]],
        now: datetime | None = None,
        positions: Mapping[str, float] | None = None,
        cash: float | None = None,
    ) -> None:
        self.broker = broker
        self.symbols = tuple(symbols)
        self.history = history
        self.now = now
        self.step = 0
        self._positions = positions
        self._cash = cash
        #: anything the strategy wants to keep between bars
        self.state: dict[str, Any] = {}

    def begin_step(self, step: int, now: datetime) -> None:
        """Move to ``step``: positions and cash are read afresh when next asked."""
        self.step = step
        self.now = now
        self._positions = None
        self._cash = None

    @property
    def positions(self) -> Mapping[str, float]:
        """``{symbol: qty}`` held now (the broker's ``get_positions()``, read once per step)."""
        if self._positions is None:
            self._positions = dict(self.broker.get_positions())
        return self._positions

    @property
    def positions_if_read(self) -> Mapping[str, float] | None:
        """The positions read this step, or None if nobody asked yet (the loop reuses them)."""
        return self._positions

    @property
    def cash(self) -> float:
        """Cash available for new orders (the broker's ``get_cash()``, read once per step)."""
        if self._cash is None:
            self._cash = float(self.broker.get_cash())
        return self._cash


class Strategy:
    """Base class of strategies: override ``on_bar`` (and optionally ``on_start``).

    Attributes:
        name: the name ``get_strategy`` knows it by.
        mode: ``"qty"`` (targets are quantities) or ``"weights"`` (fractions of portfolio value).
        lookback: bars of history ``on_bar`` needs (``ctx.history`` keeps this many).
    """

    name: str = ""
    mode: str = "qty"
    lookback: int = 1

    def on_start(self, ctx: StrategyContext) -> None:
        """Called once before the first bar (history is warmed up by then)."""

    def on_bar(self, ctx: StrategyContext, quotes: Mapping[str, Any]) -> Mapping[str, float]:
        """Target positions for this step (symbols left out are not traded)."""
        raise NotImplementedError

    def __call__(
        self,
        quotes: Mapping[str, Any],
        positions: Mapping[str, float],
        history: Mapping[str, Sequence[float]],
    ) -> Mapping[str, float]:
        """The older calling convention: ``on_bar`` with a context made of these arguments."""
        ctx = StrategyContext(None, list(history), dict(history), positions=positions)  # type: ignore[arg-type]
        return self.on_bar(ctx, quotes)


class FunctionStrategy(Strategy):
    """A plain callable ``fn(quotes, positions, history) -> targets`` as a ``Strategy``.

    ``history`` is passed as ``{symbol: list}`` (copies); ``mode`` and
    ``lookback`` come from the callable's attributes when it has them
    (default ``"qty"`` and ``DEFAULT_LOOKBACK``).
    """

    def __init__(self, fn: LegacyStrategy, mode: str | None = None, lookback: int | None = None) -> None:
        self.fn = fn
        self.mode = mode or (fn.mode if isinstance(fn, DeclaresMode) else None) or "qty"
        self.lookback = int(lookback or (fn.lookback if isinstance(fn, DeclaresLookback) else None)
                            or DEFAULT_LOOKBACK)
        self.name = str(getattr(fn, "name", None) or getattr(fn, "__name__", type(fn).__name__))  # for display

    def on_bar(self, ctx: StrategyContext, quotes: Mapping[str, Any]) -> Mapping[str, float]:
        return self.fn(quotes, ctx.positions, {s: list(h) for s, h in ctx.history.items()})

    def __repr__(self) -> str:
        return repr(self.fn)


def as_strategy(strategy: Strategy | LegacyStrategy) -> Strategy:
    """``strategy`` itself if it is a ``Strategy``, else a plain callable wrapped in ``FunctionStrategy``."""
    if isinstance(strategy, Strategy):
        return strategy
    if not callable(strategy):
        raise TypeError(f"strategy must be a Strategy or a callable, got {type(strategy).__name__}")
    return FunctionStrategy(strategy)


@runtime_checkable
class DeclaresMode(Protocol):
    """A strategy that says whether its targets are quantities or weights."""

    mode: str  # "qty" | "weights"


@runtime_checkable
class DeclaresLookback(Protocol):
    """A strategy that says how many prices of history it needs."""

    lookback: int


def _int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (0.0 <= value < 1.0):
        raise ValueError(f"{name} must be a number >= 0 and < 1, got {value!r}")
    return float(value)


class MovingAverageCrossover(Strategy):
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
        n = len(prices)
        if n < self.slow:
            return None
        # the loop's history is a deque of exactly ``slow`` prices: no copy needed
        recent = prices if n == self.slow else list(prices)[-self.slow :]
        fast = math.fsum(islice(recent, self.slow - self.fast, None)) / self.fast
        return fast > math.fsum(recent) / self.slow

    def on_bar(self, ctx: StrategyContext, quotes: Mapping[str, Any]) -> dict[str, float]:
        history = ctx.history
        universe = len(history) or len(quotes)
        if not universe:
            return {}
        weight = (1.0 - self.cash_buffer) / universe
        targets: dict[str, float] = {}
        positions: Mapping[str, float] | None = None
        for sym in quotes:
            long = self.signal(history.get(sym, ()))
            if long is None:
                continue
            if positions is None:
                positions = ctx.positions
            held = positions.get(sym, 0.0)
            if long and held <= 0:
                targets[sym] = weight
            elif not long and held != 0:
                targets[sym] = 0.0
        return targets

    def __repr__(self) -> str:
        return f"MovingAverageCrossover(fast={self.fast}, slow={self.slow}, cash_buffer={self.cash_buffer:g})"


class EqualWeight(Strategy):
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

    def on_bar(self, ctx: StrategyContext, quotes: Mapping[str, Any]) -> dict[str, float]:
        due = self._calls % self.every == 0
        self._calls += 1
        universe = len(ctx.history) or len(quotes)
        if not due or not universe:
            return {}
        weight = (1.0 - self.cash_buffer) / universe
        return dict.fromkeys(quotes, weight)

    def __repr__(self) -> str:
        return f"EqualWeight(cash_buffer={self.cash_buffer:g}, every={self.every})"


#: strategy name -> class (or any factory taking keyword parameters)
STRATEGIES: dict[str, Callable[..., Strategy]] = {
    MovingAverageCrossover.name: MovingAverageCrossover,
    EqualWeight.name: EqualWeight,
}


def strategy_params(name: str) -> list[str]:
    """The keyword parameters strategy ``name`` accepts."""
    factory = STRATEGIES[name]
    return [p for p in inspect.signature(factory).parameters if p != "self"]


def get_strategy(name: str, **params: Any) -> Strategy:
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


def load_strategy(spec: str, **params: Any) -> Strategy:
    """A strategy by name (``ma_crossover``) or a user's class (``module:Class``, ``file.py:Class``) built with ``params``.

    A user's class must subclass ``Strategy`` (or be a callable factory of a
    ``strategy(quotes, positions, history)`` callable). Raises ``ValueError``
    naming what is wrong (``TypeError`` for parameters its constructor refuses).
    """
    if ":" not in spec:
        return as_strategy(get_strategy(spec, **params))
    target = _import_target(spec)
    if not callable(target):
        raise ValueError(f"{spec} is not a class or factory")
    strategy = target(**params)
    if not callable(strategy):
        raise ValueError(f"{spec}(...) did not give a strategy (a Strategy instance or a callable)")
    mode = strategy.mode if isinstance(strategy, DeclaresMode) else "qty"
    if mode not in ("qty", "weights"):
        raise ValueError(f"{spec}.mode must be 'qty' or 'weights', got {mode!r}")
    lookback = strategy.lookback if isinstance(strategy, DeclaresLookback) else 1
    if isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 1:
        raise ValueError(f"{spec}.lookback must be an integer >= 1, got {lookback!r}")
    return as_strategy(strategy)


__all__ = [
    "DEFAULT_LOOKBACK",
    "STRATEGIES",
    "DeclaresLookback",
    "DeclaresMode",
    "EqualWeight",
    "FunctionStrategy",
    "LegacyStrategy",
    "MovingAverageCrossover",
    "Strategy",
    "StrategyContext",
    "as_strategy",
    "get_strategy",
    "load_strategy",
    "strategy_params",
]
