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
    price history (a deque per symbol, ``strategy.lookback`` long), ask
    ``strategy.on_bar(ctx, quotes)`` for targets (a ``Strategy``, or a plain
    callable ``(quotes, positions, history)``; see
    ``LIVE_TRADING.pipeline.strategies``), ``rebalance``, record equity.
    Warm-up fetches only the ``lookback - 1`` bars the strategy declares. Between
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

Why one module of ~450 lines: ``run_loop`` with its warm-up, quote fetching and shutdown (cancel our
orders, close the run), which run in one loop and share its state.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from CONFIG.schema import PipelineSettings
from LIVE_TRADING.brokers.interface import (
    SupportsAccountSummary,
    SupportsJournal,
    SupportsPortfolioValue,
    SupportsPositionDetails,
    SupportsQuotes,
    supports,
    venue_broker,
)
from LIVE_TRADING.brokers.paper.ledger import pnl_from_fills
from LIVE_TRADING.common.constants import (
    OPEN_STATUSES,
    ORDER_TYPE_MARKET,
)
from LIVE_TRADING.common.exceptions import BrokerError, DataProviderError
from LIVE_TRADING.common.journal import Journal
from LIVE_TRADING.common.settings import section
from LIVE_TRADING.data.provider import (
    INTERVALS,
    INTRADAY_LIMITS,
    PERIODS,
    ProvidesRecentBars,
    ReportsQuoteErrors,
    quote_errors,
)
from LIVE_TRADING.data.quotes import Quote, QuoteBatch, mid_price, quote_field
from LIVE_TRADING.pipeline.rebalance import (
    DEFAULT_CASH_MARGIN_BPS,
    DEFAULT_MIN_TRADE_VALUE,
    _finite,
    _sym,
    check_options,
    check_targets,
    portfolio_value,
    rebalance_checked,
)
from LIVE_TRADING.pipeline.results import RunResult, StepInfo
from LIVE_TRADING.pipeline.strategies import (
    LegacyStrategy,
    Strategy,
    StrategyContext,
    as_strategy,
)

logger = logging.getLogger(__name__)


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
        cfg: PipelineSettings = section("pipeline", kw)
        return cls(
            symbols=tuple(cfg.symbols),
            strategy=cfg.strategy,
            steps=cfg.steps,
            bar=cfg.bar,
            interval_s=cfg.interval_s,
            min_trade_value=cfg.min_trade_value,
            qty_step=cfg.qty_step,
            order_type=cfg.order_type,
            cancel_open_on_exit=cfg.cancel_open_on_exit,
        )



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
    recent = provider.get_recent_bars if isinstance(provider, ProvidesRecentBars) else None
    for sym in symbols:
        try:
            if recent is not None:  # only the bars needed, plus the last one: it holds the current quote
                frame = recent(sym, interval=interval, count=bars + 1)
                complete = frame.iloc[:-1] if frame is not None else None
            else:
                frame = provider.get_historical(sym, period=period, interval=interval)
                complete = frame[frame.index + step <= now] if frame is not None else None
        except (DataProviderError, BrokerError) as exc:
            logger.warning("No history to warm up %s (%s %s): %s", sym, period, interval, exc)
            continue
        if complete is None or len(complete) == 0:
            continue
        out[sym] = [float(c) for c in complete["close"].to_numpy()[-bars:]]
    return out



def _fetch_quotes(
    broker: Any, provider: Any, symbols: list[str], known: Mapping[str, str], fed: bool | None = None,
    reports: bool | None = None,
) -> dict[str, dict[str, Any]]:
    """This step's quotes keyed by the run's (upper-case) symbols; ``DataProviderError`` if there are none.

    ``fed``: whether the broker takes quotes (``SupportsQuotes``); ``reports``: whether the provider
    lists its failures (``ReportsQuoteErrors``); ``None``: find out.
    """
    if fed is None:
        fed = supports(broker, SupportsQuotes)
    own = broker.data_provider if fed else None
    # A paper broker built without a data provider cannot update_quotes: it is fed the provider's quotes.
    # When its provider is the loop's own, fetching and applying here is what update_quotes would do,
    # minus re-checking the loop's (already clean) symbols.
    if fed and own is not None and own is not provider:
        quotes = broker.update_quotes(symbols)
    elif provider is not None:
        quotes = provider.get_multiple_quotes(symbols)
        errors = quote_errors(provider, reports)
        if errors:
            logger.warning("No quotes for %s: %s", ", ".join(sorted(errors)), errors)
        if fed:  # a paper broker without a provider of its own trades on these quotes
            broker.apply_quotes(quotes)
    else:
        quotes = {}
        for sym in symbols:
            try:
                quotes[sym] = broker.get_quote(sym)
            except BrokerError as exc:
                logger.warning("No quote for %s: %s", sym, exc)
    if not quotes.keys() <= known.keys():  # providers key quotes by upper-case symbol; anything else is normalised
        quotes = {str(k).upper(): v for k, v in quotes.items()}
    if symbols and not quotes:
        raise DataProviderError(f"No quote for any of {', '.join(symbols)}")
    return quotes


def _mids(quotes: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """``{symbol: mid}`` of a step's quotes: ``mid_price`` of each, its arithmetic read directly from checked
    quotes (a ``QuoteBatch``'s plain dicts, a ``Quote``: floats already)."""
    if type(quotes) is QuoteBatch:
        return {sym: (q["bid"] + q["ask"]) / 2.0 for sym, q in quotes.items()}
    get = quote_field  # (a ``Quote`` is read faster through ``dict``'s own lookup)
    return {sym: (get(q, "bid") + get(q, "ask")) / 2.0 if type(q) is Quote else mid_price(q)
            for sym, q in quotes.items()}


def _journal_of(broker: Any) -> Journal | None:
    """The venue's journal, if it keeps one we can name (a read-only broker has none)."""
    venue = venue_broker(broker)
    try:
        journal = venue.journal if isinstance(venue, SupportsJournal) else None
    except BrokerError:
        return None
    return journal if isinstance(journal, Journal) else None


def run_loop(
    broker: Any,
    provider: Any,
    strategy: Strategy | LegacyStrategy,
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
        strategy: a ``Strategy`` (``on_start``/``on_bar``), or a plain callable
            ``(quotes, positions, history) -> targets`` (wrapped in
            ``FunctionStrategy``). Its ``mode`` (``"qty"``/``"weights"``) is used
            unless ``mode`` is given; its ``lookback`` sizes the history and the
            warm-up (``history_len`` overrides it).
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
    strat = as_strategy(strategy)
    syms = list(dict.fromkeys(_sym(s) for s in symbols))
    if not syms:
        raise ValueError("run_loop needs at least one symbol")
    mode = mode or strat.mode
    check_options(mode, order_type)
    if bar not in INTERVALS:
        raise ValueError(f"bar must be one of {', '.join(INTERVALS)}, got {bar!r}")
    if interval_s < 0 or not math.isfinite(interval_s):
        raise ValueError(f"interval_s must be >= 0, got {interval_s!r}")
    min_value = _finite(min_trade_value, "min_trade_value")
    if min_value < 0:
        raise ValueError(f"min_trade_value must be >= 0, got {min_trade_value!r}")
    lookback = int(history_len or strat.lookback or 1)
    if lookback < 1:
        raise ValueError(f"lookback must be >= 1, got {lookback!r}")

    result = RunResult(steps_requested=steps)
    result.started_at = broker.now()
    history: dict[str, deque[float]] = {s: deque(maxlen=lookback) for s in syms}
    history_of = history.get
    known = {s: s for s in syms}
    ctx = StrategyContext(broker, syms, history, now=result.started_at)
    token = uuid.uuid4().hex[:8]
    ours: set[str] = set()
    consecutive = 0
    next_start: float | None = None
    margin = DEFAULT_CASH_MARGIN_BPS * 1e-4
    skipped = result.skipped
    equity_curve = result.equity_curve
    # what the broker can do is asked once (a runtime protocol check costs tens of microseconds)
    fed = supports(broker, SupportsQuotes)
    direct_value = supports(broker, SupportsPortfolioValue)
    reports = isinstance(provider, ReportsQuoteErrors)
    try:
        if warmup:  # inside the try: Ctrl-C during a slow (network) warm-up still ends with a summary
            source = history_provider if history_provider is not None else provider
            for sym, closes in warm_history(source, syms, bar, lookback - 1, result.started_at).items():
                history[sym].extend(closes)
        strat.on_start(ctx)
        for step in range(1, steps + 1):
            if step > 1:
                if advance is not None:
                    advance()
                if interval_s > 0 and next_start is not None:
                    wait = next_start - monotonic()
                    if wait > 0:
                        sleep(wait)
            if interval_s > 0:
                next_start = monotonic() + interval_s
            error: str | None = None
            equity: float | None = None
            placed = failed = 0
            quotes: dict[str, dict[str, Any]] = {}
            try:
                if ours:
                    _cancel_ours(broker, ours, result, keep=False)
                quotes = _fetch_quotes(broker, provider, syms, known, fed, reports)
                if result.initial_equity is None and not equity_curve:  # before the first trade
                    result.initial_equity = portfolio_value(broker, quotes, direct=direct_value)
                mids = _mids(quotes)
                for sym, mid in mids.items():
                    prices = history_of(sym)
                    if prices is not None:
                        prices.append(mid)
                ctx.begin_step(step, broker.now())
                targets = strat.on_bar(ctx, quotes)
                if targets:
                    rb = rebalance_checked(
                        broker, check_targets(targets, mode, known=known), mode=mode, order_type=order_type,
                        min_value=min_value, quotes=quotes, qty_step=qty_step, margin=margin,
                        client_id_prefix=f"lt{token}s{step}", held=ctx.positions_if_read,
                        skip_log=skipped, step=step, direct_value=direct_value, mids=mids,
                    )
                    if rb.orders:
                        result.orders.extend(rb.orders)
                        ours.update(o["order_id"] for o in rb.orders if o.get("status") in OPEN_STATUSES)
                    elif not rb.failed:  # nothing placed since it was taken: the account's value is unchanged
                        equity = rb.portfolio_value
                    if rb.skipped:
                        skipped.extend(rb.skipped, step=step)
                    if rb.failed:
                        result.failed.extend({**f, "step": step} for f in rb.failed)
                    placed, failed = len(rb.orders), len(rb.failed)
                consecutive = 0
            except (BrokerError, DataProviderError) as exc:
                consecutive += 1
                error = f"{type(exc).__name__}: {exc}"
                logger.warning("Step %d failed: %s", step, error)
                result.errors.append({"step": step, "error": type(exc).__name__, "message": str(exc)})
            try:
                if equity is None:
                    equity = portfolio_value(broker, quotes, direct=direct_value)
            except (BrokerError, DataProviderError) as exc:
                logger.warning("Step %d: equity unavailable: %s", step, exc)
                equity = result.final_equity if result.final_equity is not None else math.nan
            now = broker.now()
            if math.isfinite(equity):
                equity_curve.append((now, equity))
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
    acct: dict[str, Any] | None = None
    if supports(broker, SupportsAccountSummary):
        try:
            acct = dict(broker.get_account_summary())
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
                marks[sym] = mid_price(broker.get_quote(sym))
            except BrokerError:
                pass
        pnl = pnl_from_fills(result.fills, marks)
        result.realized_pnl, result.unrealized_pnl = pnl["realized_pnl"], pnl["unrealized_pnl"]
    if supports(broker, SupportsPositionDetails):
        try:
            result.position_details = {s: d for s, d in broker.get_position_details().items() if d.get("qty")}
        except BrokerError as exc:
            logger.warning("Could not read position details: %s", exc)
    journal = _journal_of(broker)
    if journal is not None:
        result.journal_path = str(journal.path)
        result.run_id = journal.run_id


__all__ = ["PipelineConfig", "run_loop", "warm_history", "warmup_period"]
