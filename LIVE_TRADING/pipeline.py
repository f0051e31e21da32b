"""The reference trading loop: quotes -> strategy -> target positions -> orders.

Two functions do the work, against any ``Broker`` (paper, Binance, IBKR):

``rebalance(broker, targets, mode="qty" | "weights", ...)``
    Turns target positions into the orders that move today's positions there.
    ``mode="qty"``: targets are quantities (``{"AAPL": 10}``: hold 10).
    ``mode="weights"``: fractions of portfolio value (``{"AAPL": 0.25}``:
    hold a quarter of the portfolio's value in AAPL, priced at the mid).
    Only the symbols in ``targets`` are traded (``0`` closes a position;
    symbols left out are left alone). Sells go first so their cash is there
    for the buys; trades worth less than ``min_trade_value`` are skipped; a
    buy bigger than the cash available is cut down to fit (``fit_to_cash``).
    A refused order (``OrderRejectedError``, no quote, ...) is recorded in
    ``failed`` and the other symbols still trade. Open orders are not
    netted: cancel them first (``run_loop`` does, for its own orders).

``run_loop(broker, provider, strategy, steps, symbols=...)``
    Per step: pull quotes (``broker.update_quotes`` when the broker has it,
    else the ``provider``, else ``broker.get_quote``), append each mid to the
    price history, ask ``strategy(quotes, positions, history)`` for targets
    (see ``LIVE_TRADING.strategies``), ``rebalance``, record equity. Between
    steps it calls ``advance()`` (simulated time) and/or waits until
    ``interval_s`` has passed since the previous step started (real time).
    Ctrl-C (``KeyboardInterrupt``) stops it cleanly: the loop's own open
    orders are cancelled (or left, ``cancel_open_on_exit=False``) and a
    ``RunResult`` is returned with ``interrupted=True``. Broker and data
    errors in a step are recorded and the loop goes on; after
    ``max_consecutive_errors`` failing steps in a row it stops
    (``stop_reason="errors"``). Any other exception (a bug in a strategy)
    is raised after the same clean-up. The journal is written by the broker
    before each call returns, so there is nothing to flush; the caller owns
    the broker and closes it.

The loop's settings have config defaults under ``live_trading.pipeline``
(``PipelineConfig``); ``live-trading run`` drives it from the command line.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from LIVE_TRADING.brokers.data_provider import INTERVALS, INTRADAY_LIMITS, PERIODS
from LIVE_TRADING.common.constants import (
    OPEN_STATUSES,
    ORDER_TYPE_LIMIT,
    ORDER_TYPE_MARKET,
    QTY_EPSILON,
    SIDE_BUY,
    SIDE_SELL,
    STATUS_FILLED,
    STATUS_REJECTED,
    TIME_IN_FORCE,
)
from LIVE_TRADING.common.exceptions import BrokerError, DataProviderError
from LIVE_TRADING.common.settings import SettingsReader
from LIVE_TRADING.strategies import STRATEGIES

logger = logging.getLogger(__name__)

MODES = ("qty", "weights")
REBALANCE_ORDER_TYPES = (ORDER_TYPE_MARKET, ORDER_TYPE_LIMIT)
#: default smallest trade worth placing, in the account currency
DEFAULT_MIN_TRADE_VALUE = 10.0
#: default headroom kept when fitting a buy to the cash available (fees, slippage), in bps
DEFAULT_CASH_MARGIN_BPS = 50.0


# --------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineConfig:
    """Defaults of ``live-trading run`` from ``live_trading.pipeline`` (keyword arguments override)."""

    symbols: tuple[str, ...]
    strategy: str
    steps: int
    bar: str
    interval_s: float | None
    min_trade_value: float
    qty_step: float | None
    order_type: str
    cancel_open_on_exit: bool

    @classmethod
    def from_config(cls, **kw: Any) -> PipelineConfig:
        """Read and check ``live_trading.pipeline``; ``ConfigError`` lists every problem."""
        r = SettingsReader("pipeline", kw)
        symbols = r.string_list("symbols", optional=False)
        if symbols is not None and not symbols:
            r.problems.append(f"{r.key('symbols')} must list at least one symbol, got []")
        values = dict(
            symbols=tuple(s.upper() for s in symbols or ()),
            strategy=r.choice("strategy", sorted(STRATEGIES)),
            steps=r.integer("steps", ge=1),
            bar=r.choice("bar", INTERVALS),
            interval_s=r.number("interval_s", ge=0, optional=True),
            min_trade_value=r.number("min_trade_value", ge=0),
            qty_step=r.number("qty_step", gt=0, optional=True),
            order_type=r.choice("order_type", REBALANCE_ORDER_TYPES),
            cancel_open_on_exit=r.boolean("cancel_open_on_exit"),
        )
        r.finish()
        return cls(**values)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def mid(quote: Mapping[str, Any]) -> float:
    return (float(quote["bid"]) + float(quote["ask"])) / 2.0


def _sym(symbol: Any) -> str:
    if not isinstance(symbol, str) or not symbol.strip():
        raise ValueError(f"Invalid symbol in targets: {symbol!r}")
    return symbol.strip().upper()


def _finite(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return number


def _toward_zero(qty: float, step: float | None) -> float:
    """``qty`` rounded toward zero to a multiple of ``step`` (unchanged without a step)."""
    if not step:
        return qty
    units = math.floor(abs(qty) / step + 1e-9)
    return math.copysign(round(units * step, 12), qty)


def _step_for(qty_step: float | Mapping[str, float] | None, symbol: str) -> float | None:
    if isinstance(qty_step, Mapping):
        return qty_step.get(symbol)
    return qty_step


def portfolio_value(broker: Any, quotes: Mapping[str, Mapping[str, Any]] | None = None) -> float:
    """The account's value: ``broker.get_portfolio_value()`` if it has one, else cash + positions at mid.

    The fallback prices positions with ``quotes`` (or ``broker.get_quote``);
    ``get_cash()`` is the cash available for new orders, so on a live venue
    cash locked in open orders is not counted.
    """
    fn = getattr(broker, "get_portfolio_value", None)
    if callable(fn):
        return float(fn())
    value = float(broker.get_cash())
    quotes = quotes or {}
    for sym, qty in broker.get_positions().items():
        if not qty:
            continue
        quote = quotes.get(str(sym).upper()) or broker.get_quote(sym)
        value += float(qty) * mid(quote)
    return value


def max_drawdown(values: Iterable[float]) -> tuple[float, float]:
    """The largest peak-to-trough fall of ``values``: ``(fraction of the peak, amount)``."""
    peak = -math.inf
    worst_frac = worst_abs = 0.0
    for v in values:
        peak = max(peak, v)
        drop = peak - v
        if drop > worst_abs:
            worst_abs = drop
        if peak > 0 and drop / peak > worst_frac:
            worst_frac = drop / peak
    return worst_frac, worst_abs


def drawdowns(values: Sequence[float]) -> list[float]:
    """Drawdown at each point, as a fraction of the running peak (0 at a new high)."""
    out = []
    peak = -math.inf
    for v in values:
        peak = max(peak, v)
        out.append((peak - v) / peak if peak > 0 else 0.0)
    return out


def pnl_from_fills(fills: Iterable[Mapping[str, Any]], marks: Mapping[str, float]) -> dict[str, Any]:
    """Average-cost P&L of a list of fills, as if the account started flat.

    Returns ``realized_pnl``, ``unrealized_pnl`` (open quantity at ``marks``;
    symbols without a mark count 0), ``fees`` (their plain sum),
    ``fees_by_currency`` and ``positions``. Used for venues that do not report
    P&L themselves (``get_account_summary``). Fees are not netted into the
    quantities: a venue that charges the fee in the asset bought (Binance)
    leaves slightly less in the account than ``positions`` says.
    """
    qty: dict[str, float] = {}
    cost: dict[str, float] = {}
    realized = fees = 0.0
    by_currency: dict[str, float] = {}
    for f in fills:
        sym, q, px = f["symbol"], float(f["qty"]), float(f["fill_price"])
        fee = float(f.get("fee") or 0.0)
        fees += fee
        currency = str(f.get("fee_currency") or "")
        by_currency[currency] = by_currency.get(currency, 0.0) + fee
        signed = q if f["side"] == SIDE_BUY else -q
        held, avg = qty.get(sym, 0.0), cost.get(sym, 0.0)
        if held == 0 or (held > 0) == (signed > 0):
            total = abs(held) + q
            cost[sym] = (abs(held) * avg + q * px) / total
            qty[sym] = held + signed
            continue
        closing = min(q, abs(held))
        realized += closing * (px - avg) * (1.0 if held > 0 else -1.0)
        qty[sym] = held + signed
        if abs(qty[sym]) <= QTY_EPSILON:
            qty[sym], cost[sym] = 0.0, 0.0
        elif (qty[sym] > 0) != (held > 0):
            cost[sym] = px
    unrealized = sum((marks[s] - cost[s]) * q for s, q in qty.items() if q and s in marks)
    return {
        "realized_pnl": realized,
        "unrealized_pnl": unrealized,
        "fees": fees,
        "fees_by_currency": by_currency,
        "positions": {s: q for s, q in qty.items() if q},
    }


# --------------------------------------------------------------------------
# rebalance
# --------------------------------------------------------------------------


@dataclass
class RebalanceResult:
    """What ``rebalance`` did.

    Attributes:
        orders: the ``OrderResult`` of every order placed, in the order placed.
        skipped: trades not placed, each ``{symbol, side, qty, value, reason}``
            (below ``min_trade_value``, no cash left).
        failed: trades that raised, each ``{symbol, side, qty, error, message}``
            (``error`` is the exception class name); also symbols that had no quote.
        adjusted: buys cut to the cash available, each ``{symbol, side, wanted, qty, reason}``.
        portfolio_value: the value weights were taken of (``mode="weights"``).
    """

    orders: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    adjusted: list[dict[str, Any]] = field(default_factory=list)
    portfolio_value: float | None = None

    @property
    def ok(self) -> bool:
        """True when nothing failed (skips are not failures)."""
        return not self.failed


def _failure(symbol: str, side: str | None, qty: float | None, exc: BaseException) -> dict[str, Any]:
    return {"symbol": symbol, "side": side, "qty": qty, "error": type(exc).__name__, "message": str(exc)}


def rebalance(
    broker: Any,
    targets: Mapping[str, float],
    *,
    mode: str = "qty",
    order_type: str = ORDER_TYPE_MARKET,
    min_trade_value: float = DEFAULT_MIN_TRADE_VALUE,
    quotes: Mapping[str, Mapping[str, Any]] | None = None,
    time_in_force: str | None = None,
    limit_offset_bps: float = 0.0,
    qty_step: float | Mapping[str, float] | None = None,
    fit_to_cash: bool = True,
    cash_margin_bps: float = DEFAULT_CASH_MARGIN_BPS,
    max_gross_weight: float = 1.0,
    client_id_prefix: str | None = None,
) -> RebalanceResult:
    """Place the orders that move ``broker``'s positions to ``targets`` (see the module docstring).

    Args:
        targets: ``{symbol: target}``, quantities (``mode="qty"``, negative =
            short) or fractions of portfolio value (``mode="weights"``).
        order_type: ``market``, or ``limit`` at the touch (BUY at the ask, SELL
            at the bid) moved ``limit_offset_bps`` toward the other side.
        min_trade_value: skip trades worth less than this (qty x mid).
        quotes: quotes to price with (``{symbol: Quote}``); missing ones come
            from ``broker.get_quote``.
        time_in_force: passed to ``submit_order`` (``None``: the venue default, gtc).
        qty_step: round each trade toward zero to a multiple of this (e.g. 1
            for whole shares), or ``{symbol: step}``.
        fit_to_cash: cut a buy that costs more than ``broker.get_cash()``
            (with ``cash_margin_bps`` of headroom for fees and slippage).
        max_gross_weight: ``mode="weights"`` refuses targets whose absolute
            weights add up to more (no leverage by default).
        client_id_prefix: give orders the client ids ``<prefix>-<n>`` (idempotent retries).

    Returns:
        A ``RebalanceResult``. Per-symbol broker failures are recorded there, never raised.

    Raises:
        ValueError: bad arguments or targets (non-numeric, NaN, weights over ``max_gross_weight``).
        BrokerError: reading positions, cash or portfolio value failed (nothing was placed).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if order_type not in REBALANCE_ORDER_TYPES:
        raise ValueError(f"order_type must be one of {', '.join(REBALANCE_ORDER_TYPES)}, got {order_type!r}")
    if time_in_force is not None and time_in_force not in TIME_IN_FORCE:
        raise ValueError(f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}, got {time_in_force!r}")
    min_value = _finite(min_trade_value, "min_trade_value")
    if min_value < 0:
        raise ValueError(f"min_trade_value must be >= 0, got {min_trade_value!r}")
    offset = _finite(limit_offset_bps, "limit_offset_bps") * 1e-4
    margin = _finite(cash_margin_bps, "cash_margin_bps") * 1e-4
    if not isinstance(targets, Mapping):
        raise ValueError(f"targets must be a mapping of symbol to target, got {type(targets).__name__}")
    wanted: dict[str, float] = {}
    for raw_sym, raw_target in targets.items():
        sym = _sym(raw_sym)
        if sym in wanted:
            raise ValueError(f"Symbol {sym} appears twice in targets")
        wanted[sym] = _finite(raw_target, f"target for {sym}")
    if mode == "weights":
        gross = math.fsum(abs(w) for w in wanted.values())
        if gross > max_gross_weight + 1e-9:
            raise ValueError(
                f"weights add up to {gross:g} (absolute), more than max_gross_weight {max_gross_weight:g}"
            )

    result = RebalanceResult()
    if not wanted:
        return result
    quotes = {str(k).upper(): v for k, v in (quotes or {}).items()}
    held = {str(s).upper(): float(q) for s, q in broker.get_positions().items()}

    priced: dict[str, Mapping[str, Any]] = {}
    for sym in wanted:
        quote = quotes.get(sym)
        if quote is None:
            try:
                quote = broker.get_quote(sym)
            except BrokerError as exc:
                logger.warning("rebalance: no quote for %s, not traded: %s", sym, exc)
                result.failed.append(_failure(sym, None, None, exc))
                continue
        priced[sym] = quote

    if mode == "weights":
        result.portfolio_value = value = portfolio_value(broker, {**quotes, **priced})

    plan: list[dict[str, Any]] = []
    for sym, quote in priced.items():
        price = mid(quote)
        target = wanted[sym] * value / price if mode == "weights" else wanted[sym]
        current = held.get(sym, 0.0)
        delta = _toward_zero(target - current, _step_for(qty_step, sym))
        if abs(delta) <= QTY_EPSILON:
            continue
        side = SIDE_BUY if delta > 0 else SIDE_SELL
        qty = abs(delta)
        trade = {"symbol": sym, "side": side, "qty": qty, "value": qty * price, "quote": quote}
        if trade["value"] < min_value:
            result.skipped.append(
                {"symbol": sym, "side": side, "qty": qty, "value": trade["value"],
                 "reason": f"trade value {trade['value']:,.2f} below min_trade_value {min_value:,.2f}"}
            )
            continue
        plan.append(trade)

    # Sells first: their proceeds pay for the buys.
    plan.sort(key=lambda t: (t["side"] != SIDE_SELL, t["symbol"]))
    for n, trade in enumerate(plan, 1):
        sym, side, qty, quote = trade["symbol"], trade["side"], trade["qty"], trade["quote"]
        limit = None
        if order_type == ORDER_TYPE_LIMIT:
            limit = float(quote["ask"]) * (1 + offset) if side == SIDE_BUY else float(quote["bid"]) * (1 - offset)
        if side == SIDE_BUY and fit_to_cash:
            try:
                cash = float(broker.get_cash())
            except BrokerError as exc:
                result.failed.append(_failure(sym, side, qty, exc))
                continue
            unit = (limit if limit is not None else float(quote["ask"])) * (1 + margin)
            if qty * unit > cash:
                fitted = _toward_zero(max(cash, 0.0) / unit, _step_for(qty_step, sym))
                reason = f"not enough cash: {qty:g} would cost about {qty * unit:,.2f}, {cash:,.2f} available"
                if fitted <= QTY_EPSILON or fitted * mid(quote) < min_value:
                    result.skipped.append({"symbol": sym, "side": side, "qty": qty, "value": trade["value"],
                                           "reason": reason})
                    continue
                result.adjusted.append({"symbol": sym, "side": side, "wanted": qty, "qty": fitted, "reason": reason})
                qty = fitted
        kwargs: dict[str, Any] = {}
        if time_in_force is not None:
            kwargs["time_in_force"] = time_in_force
        if client_id_prefix:
            kwargs["client_order_id"] = f"{client_id_prefix}-{n}"
        try:
            order = broker.submit_order(sym, side, qty, order_type, limit, **kwargs)
        except BrokerError as exc:
            logger.warning("rebalance: %s %g %s failed: %s", side, qty, sym, exc)
            result.failed.append(_failure(sym, side, qty, exc))
            continue
        result.orders.append(order)
        if order.get("status") == STATUS_REJECTED:
            result.failed.append({"symbol": sym, "side": side, "qty": qty, "error": "rejected",
                                  "message": f"order {order.get('order_id')} ended rejected"})
    return result


# --------------------------------------------------------------------------
# History warm-up
# --------------------------------------------------------------------------


def warmup_period(interval: str, bars: int) -> str | None:
    """The shortest ``get_historical`` period holding ``bars`` bars of ``interval`` with room for market closures.

    ``None`` when no period does (within the interval's intraday limit).
    """
    need = INTERVALS[interval] * max(bars, 1) * 3 + timedelta(days=4)
    limit = INTRADAY_LIMITS.get(interval)
    for period, span in PERIODS.items():
        if span is None or (limit is not None and span > limit):
            continue
        if span >= need:
            return period
    longest = [p for p, s in PERIODS.items() if s is not None and (limit is None or s <= limit)]
    return longest[-1] if longest else None


def warm_history(
    provider: Any, symbols: Sequence[str], interval: str, bars: int, now: datetime
) -> dict[str, list[float]]:
    """Up to ``bars`` closes per symbol of complete ``interval`` bars before ``now`` (best effort).

    A symbol whose history cannot be had starts empty (logged). Bars still
    forming at ``now`` are left out: the loop adds the current mid itself.
    """
    out: dict[str, list[float]] = {s: [] for s in symbols}
    if provider is None or bars <= 0:
        return out
    period = warmup_period(interval, bars)
    if period is None:
        return out
    step = INTERVALS[interval]
    for sym in symbols:
        try:
            frame = provider.get_historical(sym, period=period, interval=interval)
        except (DataProviderError, BrokerError) as exc:
            logger.warning("No history to warm up %s (%s %s): %s", sym, period, interval, exc)
            continue
        if frame is None or len(frame) == 0:
            continue
        complete = frame[frame.index + step <= now]
        out[sym] = [float(c) for c in complete["close"].to_numpy()[-bars:]]
    return out


# --------------------------------------------------------------------------
# run_loop
# --------------------------------------------------------------------------


@dataclass
class RunResult:
    """What ``run_loop`` did. Money amounts are in the account currency.

    ``fees`` is the broker's total (paper: account currency) or the plain sum
    of the fills' fees; ``fees_by_currency`` splits the fills' fees by
    currency (Binance charges in the asset received or in BNB).
    ``equity_curve`` holds ``(time, equity)`` after each completed step;
    ``initial_equity`` is the value before the first trade. ``orders`` are the
    orders the loop placed; ``fills`` are the broker's fills since the run
    started (on a live account shared with other activity, those fills too).
    P&L and fees are the broker's (``get_account_summary``) when it reports
    them, else computed from ``fills`` as if the account had started flat.
    """

    steps_requested: int
    steps_done: int = 0
    stop_reason: str = "completed"  # completed | interrupted | errors
    started_at: datetime | None = None
    ended_at: datetime | None = None
    initial_equity: float | None = None
    equity_curve: list[tuple[datetime, float]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    left_open: list[str] = field(default_factory=list)
    positions: dict[str, float] = field(default_factory=dict)
    position_details: dict[str, dict[str, Any]] | None = None
    cash: float | None = None
    fees: float = 0.0
    fees_by_currency: dict[str, float] = field(default_factory=dict)
    realized_pnl: float | None = None
    unrealized_pnl: float | None = None
    journal_path: str | None = None
    run_id: str | None = None

    @property
    def interrupted(self) -> bool:
        return self.stop_reason == "interrupted"

    @property
    def final_equity(self) -> float | None:
        return self.equity_curve[-1][1] if self.equity_curve else self.initial_equity

    def equity_values(self) -> list[float]:
        head = [self.initial_equity] if self.initial_equity is not None else []
        return head + [v for _, v in self.equity_curve]

    @property
    def max_drawdown(self) -> float:
        """Largest peak-to-trough fall of equity, as a fraction of the peak."""
        return max_drawdown(self.equity_values())[0]

    @property
    def max_drawdown_value(self) -> float:
        return max_drawdown(self.equity_values())[1]

    @property
    def total_return(self) -> float | None:
        if not self.initial_equity or self.final_equity is None:
            return None
        return self.final_equity / self.initial_equity - 1.0

    def count(self, status: str) -> int:
        return sum(1 for o in self.orders if o.get("status") == status)

    def summary(self) -> dict[str, Any]:
        """The headline numbers as a plain dict (what ``live-trading run`` prints)."""
        return {
            "stop_reason": self.stop_reason,
            "steps_done": self.steps_done,
            "steps_requested": self.steps_requested,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "orders": len(self.orders),
            "orders_filled": self.count(STATUS_FILLED),
            "orders_failed": len(self.failed),
            "trades_skipped": len(self.skipped),
            "fills": len(self.fills),
            "fees": self.fees,
            "fees_by_currency": dict(self.fees_by_currency),
            "realized_pnl": self.realized_pnl,
            "unrealized_pnl": self.unrealized_pnl,
            "initial_equity": self.initial_equity,
            "final_equity": self.final_equity,
            "total_return": self.total_return,
            "max_drawdown": self.max_drawdown,
            "max_drawdown_value": self.max_drawdown_value,
            "cash": self.cash,
            "positions": dict(self.positions),
            "cancelled_on_exit": list(self.cancelled),
            "left_open": list(self.left_open),
            "errors": len(self.errors),
            "journal_path": self.journal_path,
            "run_id": self.run_id,
        }


@dataclass(frozen=True)
class StepInfo:
    """Passed to ``on_step`` after each completed step."""

    step: int  # 1-based
    steps: int
    timestamp: datetime
    equity: float
    orders: int  # orders placed in this step
    failed: int
    error: str | None = None


def _fetch_quotes(broker: Any, provider: Any, symbols: Sequence[str]) -> dict[str, dict[str, Any]]:
    update = getattr(broker, "update_quotes", None)
    # A paper broker built without a data provider cannot update_quotes: it is fed the provider's quotes.
    if callable(update) and getattr(broker, "data_provider", True) is not None:
        quotes = update(list(symbols))
    elif provider is not None:
        quotes = provider.get_multiple_quotes(list(symbols))
        errors = getattr(provider, "last_errors", None)
        if errors:
            logger.warning("No quotes for %s: %s", ", ".join(sorted(errors)), errors)
        apply = getattr(broker, "apply_quotes", None)
        if callable(apply):  # a paper broker without a provider of its own trades on these quotes
            apply(quotes)
    else:
        quotes = {}
        for sym in symbols:
            try:
                quotes[sym] = broker.get_quote(sym)
            except BrokerError as exc:
                logger.warning("No quote for %s: %s", sym, exc)
    out = {str(k).upper(): v for k, v in quotes.items()}
    if symbols and not out:
        raise DataProviderError(f"No quote for any of {', '.join(symbols)}")
    return out


def _journal_of(broker: Any) -> Any:
    inner = broker.unwrap() if callable(getattr(broker, "unwrap", None)) else broker
    return getattr(inner, "journal", None)


def run_loop(
    broker: Any,
    provider: Any,
    strategy: Callable[..., Mapping[str, float]],
    steps: int,
    *,
    symbols: Sequence[str],
    mode: str | None = None,
    order_type: str = ORDER_TYPE_MARKET,
    min_trade_value: float = DEFAULT_MIN_TRADE_VALUE,
    qty_step: float | Mapping[str, float] | None = None,
    bar: str = "1h",
    warmup: bool = True,
    history_provider: Any = None,
    history_len: int | None = None,
    advance: Callable[[], Any] | None = None,
    interval_s: float = 0.0,
    sleep: Callable[[float], Any] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    cancel_open_on_exit: bool = True,
    max_consecutive_errors: int = 3,
    on_step: Callable[[StepInfo], Any] | None = None,
) -> RunResult:
    """Run ``strategy`` for ``steps`` steps on ``broker`` (see the module docstring).

    Args:
        provider: data provider for history warm-up and, for brokers without
            ``update_quotes``, quotes (``None``: quotes from ``broker.get_quote``).
        strategy: ``(quotes, positions, history) -> targets``; its ``mode``
            attribute (``"qty"``/``"weights"``) is used unless ``mode`` is given,
            its ``lookback`` sizes the history.
        symbols: the symbols quoted and tracked each step.
        bar: the bar length of the history (a yfinance interval such as ``1h``):
            warm-up bars come from ``get_historical(interval=bar)`` of
            ``history_provider`` (default: ``provider``).
        advance: called between steps to move simulated time (e.g. ``ManualClock.advance``).
        interval_s: real seconds from one step's start to the next (0: no waiting).
        cancel_open_on_exit: cancel the loop's still-open orders when it stops (else leave them).
        max_consecutive_errors: stop after this many steps in a row failed with a broker/data error.
        on_step: called with a ``StepInfo`` after each step (progress bars).

    Returns:
        A ``RunResult`` (also when interrupted by Ctrl-C).
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    syms = [_sym(s) for s in symbols]
    if not syms:
        raise ValueError("run_loop needs at least one symbol")
    mode = mode or getattr(strategy, "mode", "qty")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if bar not in INTERVALS:
        raise ValueError(f"bar must be one of {', '.join(INTERVALS)}, got {bar!r}")
    if interval_s < 0 or not math.isfinite(interval_s):
        raise ValueError(f"interval_s must be >= 0, got {interval_s!r}")
    lookback = int(history_len or getattr(strategy, "lookback", 0) or 50)

    result = RunResult(steps_requested=steps)
    result.started_at = broker.now()
    history: dict[str, deque[float]] = {s: deque(maxlen=lookback) for s in syms}
    token = uuid.uuid4().hex[:8]
    ours: set[str] = set()
    consecutive = 0
    next_start: float | None = None
    try:
        if warmup:  # inside the try: Ctrl-C during a slow (network) warm-up still ends with a summary
            source = history_provider if history_provider is not None else provider
            for sym, closes in warm_history(source, syms, bar, lookback - 1, result.started_at).items():
                history[sym].extend(closes)
        for step in range(1, steps + 1):
            if step > 1:
                if advance is not None:
                    advance()
                if interval_s > 0 and next_start is not None:
                    wait = next_start - monotonic()
                    if wait > 0:
                        sleep(wait)
            next_start = monotonic() + interval_s
            error: str | None = None
            placed = failed = 0
            quotes: dict[str, dict[str, Any]] = {}
            try:
                _cancel_ours(broker, ours, result, keep=False)
                quotes = _fetch_quotes(broker, provider, syms)
                if result.initial_equity is None and not result.equity_curve:  # before the first trade
                    result.initial_equity = portfolio_value(broker, quotes)
                for sym, quote in quotes.items():
                    if sym in history:
                        history[sym].append(mid(quote))
                positions = dict(broker.get_positions())
                targets = strategy(quotes, positions, {s: list(h) for s, h in history.items()})
                if targets:
                    rb = rebalance(
                        broker, targets, mode=mode, order_type=order_type, min_trade_value=min_trade_value,
                        quotes=quotes, qty_step=qty_step, client_id_prefix=f"lt{token}s{step}",
                    )
                    result.orders.extend(rb.orders)
                    result.skipped.extend({**s, "step": step} for s in rb.skipped)
                    result.failed.extend({**f, "step": step} for f in rb.failed)
                    ours.update(o["order_id"] for o in rb.orders if o.get("status") in OPEN_STATUSES)
                    placed, failed = len(rb.orders), len(rb.failed)
                consecutive = 0
            except (BrokerError, DataProviderError) as exc:
                consecutive += 1
                error = f"{type(exc).__name__}: {exc}"
                logger.warning("Step %d failed: %s", step, error)
                result.errors.append({"step": step, "error": type(exc).__name__, "message": str(exc)})
            try:
                equity = portfolio_value(broker, quotes)
            except (BrokerError, DataProviderError) as exc:
                logger.warning("Step %d: equity unavailable: %s", step, exc)
                equity = result.final_equity if result.final_equity is not None else math.nan
            now = broker.now()
            if math.isfinite(equity):
                result.equity_curve.append((now, equity))
            result.steps_done = step
            if on_step is not None:
                on_step(StepInfo(step, steps, now, equity, placed, failed, error))
            if consecutive >= max_consecutive_errors:
                result.stop_reason = "errors"
                logger.error("Stopping after %d failing steps in a row (last: %s)", consecutive, error)
                break
    except KeyboardInterrupt:
        result.stop_reason = "interrupted"
        logger.info("Interrupted after %d of %d steps; stopping cleanly", result.steps_done, steps)
    except BaseException:
        _finish(broker, result, ours, cancel_open_on_exit)
        raise
    _finish(broker, result, ours, cancel_open_on_exit)
    return result


def _cancel_ours(broker: Any, ours: set[str], result: RunResult, keep: bool) -> None:
    """Cancel the loop's orders that are still open (or, with ``keep``, list them as left open)."""
    if not ours:
        return
    open_ids = {o["order_id"] for o in broker.get_open_orders()} & ours
    ours.intersection_update(open_ids)
    for oid in sorted(open_ids):
        if keep:
            result.left_open.append(oid)
            continue
        try:
            broker.cancel_order(oid)
        except BrokerError as exc:
            logger.warning("Could not cancel order %s: %s", oid, exc)
            result.errors.append({"step": result.steps_done, "error": type(exc).__name__, "message": str(exc)})
            continue
        result.cancelled.append(oid)
        ours.discard(oid)


def _finish(broker: Any, result: RunResult, ours: set[str], cancel_open: bool) -> None:
    """Clean-up when the loop stops: open orders, final state, fills, P&L, journal location."""
    try:
        _cancel_ours(broker, ours, result, keep=not cancel_open)
    except BrokerError as exc:
        logger.warning("Could not list open orders at exit: %s", exc)
        result.errors.append({"step": result.steps_done, "error": type(exc).__name__, "message": str(exc)})
    try:
        result.ended_at = broker.now()
        result.positions = dict(broker.get_positions())
        result.cash = float(broker.get_cash())
        result.fills = broker.get_fills(since=result.started_at) if result.started_at else broker.get_fills()
    except BrokerError as exc:
        logger.warning("Could not read the final account state: %s", exc)
        result.errors.append({"step": result.steps_done, "error": type(exc).__name__, "message": str(exc)})
    by_currency = pnl_from_fills(result.fills, {})["fees_by_currency"]
    result.fees_by_currency = by_currency
    result.fees = math.fsum(by_currency.values())
    summary = getattr(broker, "get_account_summary", None)
    details = getattr(broker, "get_position_details", None)
    acct: dict[str, Any] | None = None
    if callable(summary):
        try:
            acct = dict(summary())
        except BrokerError as exc:
            logger.warning("Could not read the account summary: %s", exc)
    if acct is not None:
        result.realized_pnl = acct.get("realized_pnl")
        result.unrealized_pnl = acct.get("unrealized_pnl")
        result.fees = acct.get("fees", result.fees)
    else:
        marks = {}
        for sym in result.positions:
            try:
                marks[sym] = mid(broker.get_quote(sym))
            except BrokerError:
                pass
        pnl = pnl_from_fills(result.fills, marks)
        result.realized_pnl, result.unrealized_pnl = pnl["realized_pnl"], pnl["unrealized_pnl"]
    if callable(details):
        try:
            result.position_details = {s: d for s, d in details().items() if d.get("qty")}
        except BrokerError as exc:
            logger.warning("Could not read position details: %s", exc)
    journal = _journal_of(broker)
    if journal is not None:
        path = getattr(journal, "path", None) or getattr(journal, "log_dir", None)
        result.journal_path = str(path) if path is not None else None
        result.run_id = getattr(journal, "run_id", None)


__all__ = [
    "DEFAULT_MIN_TRADE_VALUE",
    "MODES",
    "PipelineConfig",
    "RebalanceResult",
    "RunResult",
    "StepInfo",
    "drawdowns",
    "max_drawdown",
    "pnl_from_fills",
    "portfolio_value",
    "rebalance",
    "run_loop",
    "warm_history",
]
