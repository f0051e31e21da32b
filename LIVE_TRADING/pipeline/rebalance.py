"""``rebalance``: turn target positions into the orders that move today's positions there.

``mode="qty"``: targets are quantities (``{"AAPL": 10}``: hold 10).
``mode="weights"``: fractions of portfolio value (``{"AAPL": 0.25}``: hold a
quarter of the portfolio's value in AAPL, priced at the mid). Only the symbols
in ``targets`` are traded (``0`` closes a position; symbols left out are left
alone). Open orders count as if filled: each trade is ``target - (position +
what the account's open market/limit orders have still to fill)``, so an
earlier buy still resting is not bought again (``pipeline/pending.py`` says
which orders count and what happens to one on the other side: it stays, and
is netted). Sells go first so their cash is there for the buys; trades worth less
than ``min_trade_value`` are skipped; a buy bigger than the cash available is
cut down to fit (``fit_to_cash``). A refused order (``OrderRejectedError``, no
quote, ...) is recorded in ``failed`` and the other symbols still trade.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from LIVE_TRADING.brokers.interface import SupportsPortfolioValue, supports
from LIVE_TRADING.common.constants import (
    ORDER_TYPE_LIMIT,
    ORDER_TYPE_MARKET,
    QTY_EPSILON,
    SIDE_BUY,
    SIDE_SELL,
    STATUS_REJECTED,
    TIME_IN_FORCE,
)
from LIVE_TRADING.common.exceptions import BrokerError
from LIVE_TRADING.common.symbols import normalize_symbol
from LIVE_TRADING.data.quotes import Quote, mid_price, quote_field
from LIVE_TRADING.pipeline.pending import net_holdings, pending_by_symbol
from LIVE_TRADING.pipeline.results import BoundedLog, below_min_skip

logger = logging.getLogger(__name__)

MODES = ("qty", "weights")
#: from this many symbols on, checks made in bulk (C loops) beat a Python loop over the items
_BULK = 8
_STR = frozenset({str})
_FLOAT = frozenset({float})
REBALANCE_ORDER_TYPES = (ORDER_TYPE_MARKET, ORDER_TYPE_LIMIT)
#: default smallest trade worth placing, in the account currency
DEFAULT_MIN_TRADE_VALUE = 10.0
#: default headroom kept when fitting a buy to the cash available (fees, slippage), in bps
DEFAULT_CASH_MARGIN_BPS = 50.0


def _sym(symbol: Any) -> str:
    return normalize_symbol(symbol, ValueError)


def _finite(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
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


def portfolio_value(
    broker: Any, quotes: Mapping[str, Mapping[str, Any]] | None = None, *, direct: bool | None = None
) -> float:
    """The account's value: ``broker.get_portfolio_value()`` if it has one, else cash + positions at mid.

    The fallback prices positions with ``quotes`` (or ``broker.get_quote``);
    ``get_cash()`` is the cash available for new orders, so on a live venue
    cash locked in open orders is not counted. ``direct``: whether the broker
    has ``get_portfolio_value`` (``None``: find out; a loop asks once per run,
    the protocol check costs tens of microseconds).
    """
    if direct if direct is not None else supports(broker, SupportsPortfolioValue):
        return float(broker.get_portfolio_value())
    value = float(broker.get_cash())
    quotes = quotes or {}
    for sym, qty in broker.get_positions().items():
        if not qty:
            continue
        quote = quotes.get(str(sym).upper()) or broker.get_quote(sym)
        value += float(qty) * mid_price(quote)
    return value



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
        pending: ``{symbol: signed qty}`` the account's open orders had still to
            fill, netted with the positions (BUY positive, SELL negative).
    """

    orders: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    adjusted: list[dict[str, Any]] = field(default_factory=list)
    portfolio_value: float | None = None
    pending: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing failed (skips are not failures)."""
        return not self.failed


def _held(positions: Mapping[Any, Any]) -> dict[str, float]:
    """``{SYMBOL: qty}`` from a broker's ``get_positions()``: symbols upper-cased, quantities as floats.

    Positions already in that form (a paper broker's) are checked in bulk and returned as they are (not
    copied: ``rebalance_checked``, the one caller, only reads them).
    """
    if (len(positions) >= _BULK and type(positions) is dict and set(map(type, positions)) <= _STR
            and set(map(type, positions.values())) <= _FLOAT):
        joined = "\x00".join(positions)
        if joined == joined.upper():  # every symbol is its own upper case
            return positions
    return {str(s).upper(): float(q) for s, q in positions.items()}


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
        BrokerError: reading positions, open orders, cash or portfolio value failed (nothing was placed).
    """
    check_options(mode, order_type, time_in_force)
    min_value = _finite(min_trade_value, "min_trade_value")
    if min_value < 0:
        raise ValueError(f"min_trade_value must be >= 0, got {min_trade_value!r}")
    offset = _finite(limit_offset_bps, "limit_offset_bps") * 1e-4
    margin = _finite(cash_margin_bps, "cash_margin_bps") * 1e-4
    wanted = check_targets(targets, mode, max_gross_weight)
    quotes = {str(k).upper(): v for k, v in (quotes or {}).items()}
    return rebalance_checked(
        broker, wanted, mode=mode, order_type=order_type, min_value=min_value, quotes=quotes,
        time_in_force=time_in_force, offset=offset, qty_step=qty_step, fit_to_cash=fit_to_cash, margin=margin,
        client_id_prefix=client_id_prefix,
    )


def check_options(mode: str, order_type: str, time_in_force: str | None = None) -> None:
    """``ValueError`` unless ``mode``, ``order_type`` and ``time_in_force`` are ones ``rebalance`` knows."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if order_type not in REBALANCE_ORDER_TYPES:
        raise ValueError(f"order_type must be one of {', '.join(REBALANCE_ORDER_TYPES)}, got {order_type!r}")
    if time_in_force is not None and time_in_force not in TIME_IN_FORCE:
        raise ValueError(f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}, got {time_in_force!r}")


def check_targets(
    targets: Mapping[str, float],
    mode: str,
    max_gross_weight: float = 1.0,
    known: Mapping[str, str] | None = None,
) -> dict[str, float]:
    """``{SYMBOL: float}`` from a strategy's ``targets``; ``ValueError`` for a bad symbol or number.

    ``known`` maps symbols already in normal form to themselves (a shortcut
    for the loop's own symbols); weights adding up (in absolute value) to
    more than ``max_gross_weight`` are refused.
    """
    if type(targets) is not dict and not isinstance(targets, Mapping):
        raise ValueError(f"targets must be a mapping of symbol to target, got {type(targets).__name__}")
    if len(targets) >= _BULK and known and type(targets) is dict and targets.keys() <= known.keys():
        # the common case, checked in bulk: known str symbols, float targets, finite (their absolute sum is)
        values = targets.values()
        if set(map(type, targets)) <= _STR and set(map(type, values)) <= _FLOAT:
            try:
                gross = math.fsum(map(abs, values))
            except OverflowError:
                gross = math.inf
            if gross < math.inf:  # also False for NaN
                if mode == "weights" and gross > max_gross_weight + 1e-9:
                    raise ValueError(
                        f"weights add up to {gross:g} (absolute), more than max_gross_weight {max_gross_weight:g}"
                    )
                return dict(targets)  # its keys are in ``known``, which maps each to itself
    known = known or {}
    wanted: dict[str, float] = {}
    for raw_sym, raw_target in targets.items():
        sym = known.get(raw_sym) if type(raw_sym) is str else None
        if sym is None:
            sym = _sym(raw_sym)
        if sym in wanted:
            raise ValueError(f"Symbol {sym} appears twice in targets")
        if type(raw_target) is float and -math.inf < raw_target < math.inf:
            wanted[sym] = raw_target
        else:
            wanted[sym] = _finite(raw_target, f"target for {sym}")
    if mode == "weights":
        gross = math.fsum(map(abs, wanted.values()))
        if gross > max_gross_weight + 1e-9:
            raise ValueError(
                f"weights add up to {gross:g} (absolute), more than max_gross_weight {max_gross_weight:g}"
            )
    return wanted


def rebalance_checked(
    broker: Any,
    wanted: dict[str, float],
    *,
    mode: str,
    order_type: str,
    min_value: float,
    quotes: Mapping[str, Mapping[str, Any]],
    time_in_force: str | None = None,
    offset: float = 0.0,
    qty_step: float | Mapping[str, float] | None = None,
    fit_to_cash: bool = True,
    margin: float = DEFAULT_CASH_MARGIN_BPS * 1e-4,
    client_id_prefix: str | None = None,
    held: Mapping[str, float] | None = None,
    skip_log: BoundedLog | None = None,
    step: int = 0,
    direct_value: bool | None = None,
    mids: Mapping[str, float] | None = None,
) -> RebalanceResult:
    """``rebalance`` after its checks: ``wanted`` from ``check_targets``, ``quotes`` keyed by upper-case symbols,
    ``offset`` and ``margin`` as fractions (not bps); ``held``: ``{SYMBOL: qty}`` just read from the broker
    (``None``: read them here); the open orders are read here, once, and netted (``pipeline/pending.py``).
    With ``skip_log`` (the loop's ``RunResult.skipped``) trades below ``min_value`` are counted there,
    tagged with ``step``, instead of listed in ``result.skipped``.
    ``direct_value``: ``portfolio_value``'s ``direct`` (whether the broker has ``get_portfolio_value``);
    ``mids``: ``{SYMBOL: mid_price(quote)}`` of ``quotes`` already worked out (the loop's), used as they are."""
    result = RebalanceResult()
    if not wanted:
        return result
    if held is None:
        held = _held(broker.get_positions())
    open_orders = broker.get_open_orders()
    if open_orders:
        result.pending = pending_by_symbol(open_orders)
    if result.pending:
        held = net_holdings(held, result.pending)

    priced: Mapping[str, Mapping[str, Any]]
    missing: list[str] = []
    if wanted.keys() <= quotes.keys():  # every symbol has its quote (the loop's case): read from ``quotes``
        priced = quotes
    else:
        quote_of = quotes.get
        priced = {sym: quote for sym in wanted if (quote := quote_of(sym)) is not None}
        missing = [sym for sym in wanted if sym not in priced]
    for sym in missing:
        try:
            priced[sym] = broker.get_quote(sym)  # type: ignore[index]  # (a dict of its own here)
        except BrokerError as exc:
            logger.warning("rebalance: no quote for %s, not traded: %s", sym, exc)
            result.failed.append(_failure(sym, None, None, exc))

    value = 0.0
    by_weight = mode == "weights"
    if by_weight:
        result.portfolio_value = value = portfolio_value(broker, {**quotes, **priced} if missing else quotes,
                                                          direct=direct_value)
    steps = qty_step if qty_step is not None and isinstance(qty_step, Mapping) else None

    plan: list[dict[str, Any]] = []
    below: list[tuple[str, str, float, float, float, int]] = []  # for skip_log, added in one call
    held_of = held.get
    eps, buy, sell, get = QTY_EPSILON, SIDE_BUY, SIDE_SELL, quote_field
    mid_of = (mids if mids is not None else {}).get
    for sym, want in wanted.items():
        price = mid_of(sym)  # (a symbol of ``mids`` has its quote in ``priced``)
        if price is None:
            quote = priced.get(sym)
            if quote is None:  # no quote to be had (a failure, above)
                continue
            price = (get(quote, "bid") + get(quote, "ask")) / 2.0 if type(quote) is Quote else mid_price(quote)
        target = want * value / price if by_weight else want
        delta = target - held_of(sym, 0.0)
        if qty_step:
            delta = _toward_zero(delta, steps.get(sym) if steps is not None else qty_step)  # type: ignore[arg-type]
        if -eps <= delta <= eps:
            continue
        side = buy if delta > 0 else sell
        qty = abs(delta)
        trade_value = qty * price
        if trade_value < min_value:
            if skip_log is not None:
                below.append((sym, side, qty, trade_value, min_value, step))
            else:
                result.skipped.append(below_min_skip(sym, side, qty, trade_value, min_value))
            continue
        plan.append({"symbol": sym, "side": side, "qty": qty, "value": trade_value, "quote": priced[sym]})
    if below and skip_log is not None:
        if len(below) == 1:
            skip_log.add_below_min(*below[0])
        else:
            skip_log.add_below_min_many(below)

    # Sells first: their proceeds pay for the buys.
    if len(plan) > 1:
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
                if fitted <= QTY_EPSILON or fitted * mid_price(quote) < min_value:
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

