"""Order input validation shared by every venue.

``validate_order`` turns the raw arguments of ``submit_order`` into an
``OrderRequest`` or raises ``OrderRejectedError`` naming the bad value, before
any state is touched or anything is sent. Every venue calls it first, so an
order a pipeline got past paper is well formed on Binance and IBKR too.

The same holds for the order-management calls (``validate_modify`` /
``check_modify``, ``validate_bracket``, ``validate_oco``)
and for the duplicate-``client_order_id`` rule (``client_id_conflict``).

Why one module of ~410 lines: pure checks of every order-shaped input (order, modify, bracket, OCO,
client order id) shared by all venues, in one place so every venue refuses the same input the same
way.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any, NamedTuple

from LIVE_TRADING.common.constants import (
    BRACKET_ENTRY_TYPES,
    CLIENT_ORDER_ID_PATTERN,
    FINAL_STATUSES,
    NEEDS_LIMIT_PRICE,
    NEEDS_STOP_PRICE,
    ORDER_TYPE_TRAILING_STOP,
    ORDER_TYPES,
    QTY_EPSILON,
    SIDES,
    TIME_IN_FORCE,
)
from LIVE_TRADING.common.exceptions import OrderNotFoundError, OrderRejectedError
from LIVE_TRADING.common.ids import is_client_order_id
from LIVE_TRADING.common.symbols import normalize_symbol

logger = logging.getLogger(__name__)
#: the longest symbol accepted; venues' own symbols are far shorter
MAX_SYMBOL_LEN = 32
_SYMBOL = re.compile(rf"[A-Z0-9./_-]{{1,{MAX_SYMBOL_LEN}}}")
_INF = math.inf
_SIDES = frozenset(SIDES)
_TYPES = frozenset(ORDER_TYPES)
_TIFS = frozenset(TIME_IN_FORCE)


class OrderRequest(NamedTuple):
    """A validated order: upper-case symbol and side, positive finite qty and prices (immutable)."""

    symbol: str
    side: str
    qty: float
    order_type: str = "market"
    limit_price: float | None = None
    stop_price: float | None = None
    time_in_force: str = "gtc"
    client_order_id: str | None = None
    trail_amount: float | None = None  # trailing_stop: distance in price units
    trail_percent: float | None = None  # trailing_stop: distance in percent of the price (0 < p < 100)
    limit_offset: float | None = None  # trailing_stop: limit = trigger - offset (SELL) / + offset (BUY)


def clean_symbol(symbol: Any) -> str:
    """``symbol`` stripped and upper-cased; ``OrderRejectedError`` unless it is a plausible symbol.

    Plausible: a string of 1 to 32 characters from ``A-Z 0-9 . / _ -`` once
    upper-cased (``AAPL``, ``BRK.B``, ``BTC/USDT``, ``ESZ6``, ``AAPL_C200``).
    """
    sym = normalize_symbol(symbol, lambda message: OrderRejectedError(
        str(symbol)[:40] if symbol is not None else "", message))
    if _SYMBOL.fullmatch(sym):
        return sym
    shown = sym if len(sym) <= 40 else sym[:37] + "..."
    raise OrderRejectedError(
        shown, f"Invalid symbol: {shown!r} (at most {MAX_SYMBOL_LEN} characters from A-Z 0-9 . / _ -)"
    )


def positive_number(value: Any, what: str, symbol: str) -> float:
    """``value`` as a positive finite float, or ``OrderRejectedError`` naming it."""
    cls = type(value)
    if cls is float or cls is int:  # the common case, without the generic checks
        if 0 < value < _INF:
            try:
                return float(value)
            except OverflowError:  # an int too large for a float (10**400)
                pass
    elif cls is not bool and value is not None:
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            number = math.nan
        if math.isfinite(number) and number > 0:
            return number
    raise OrderRejectedError(symbol, f"Invalid {what}: {value!r} (must be a positive finite number)")


def validate_order(
    symbol: Any,
    side: Any,
    qty: Any,
    order_type: Any = "market",
    limit_price: Any = None,
    stop_price: Any = None,
    time_in_force: Any = "gtc",
    client_order_id: Any = None,
    trail_amount: Any = None,
    trail_percent: Any = None,
    limit_offset: Any = None,
) -> OrderRequest:
    """Check every argument of ``submit_order``; return the clean ``OrderRequest``.

    A ``trailing_stop`` takes exactly one of ``trail_amount`` / ``trail_percent``
    (positive, finite; a percent below 100) and optionally ``limit_offset``
    (>= 0, making it a trailing stop-limit); it takes no ``limit_price`` or
    ``stop_price`` (its trigger follows the market). Other types take none
    of the three trailing fields.
    """
    sym = clean_symbol(symbol)
    s = side if type(side) is str and side in _SIDES else (side.strip().upper() if isinstance(side, str) else None)
    if s not in _SIDES:
        raise OrderRejectedError(sym, f"Invalid side: {side!r} (allowed: BUY, SELL)")
    quantity = positive_number(qty, "quantity", sym)
    ot = order_type if type(order_type) is str and order_type in _TYPES else (
        order_type.strip().lower() if isinstance(order_type, str) else None
    )
    if ot not in _TYPES:
        raise OrderRejectedError(sym, f"Invalid order type: {order_type!r} (allowed: {', '.join(ORDER_TYPES)})")
    tif = time_in_force if type(time_in_force) is str and time_in_force in _TIFS else (
        time_in_force.strip().lower() if isinstance(time_in_force, str) else None
    )
    if tif not in _TIFS:
        raise OrderRejectedError(
            sym, f"Invalid time in force: {time_in_force!r} (allowed: {', '.join(TIME_IN_FORCE)})"
        )
    if ot == "market" and limit_price is None and stop_price is None:
        lp = sp = None
    else:
        lp, sp = _prices(sym, ot, limit_price, stop_price)
    if client_order_id is not None and not is_client_order_id(client_order_id):
        raise OrderRejectedError(
            sym, f"Invalid client_order_id: {client_order_id!r} (must match {CLIENT_ORDER_ID_PATTERN})"
        )
    ta, tp, lo = _trail(sym, ot, trail_amount, trail_percent, limit_offset)
    return OrderRequest(sym, s, quantity, ot, lp, sp, tif, client_order_id, ta, tp, lo)


def non_negative_number(value: Any, what: str, symbol: str) -> float:
    """``value`` as a finite float >= 0, or ``OrderRejectedError`` naming it."""
    if type(value) is not bool and value is not None:
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            number = math.nan
        if math.isfinite(number) and number >= 0:
            return number
    raise OrderRejectedError(symbol, f"Invalid {what}: {value!r} (must be a finite number >= 0)")


def _trail(sym: str, ot: str, trail_amount: Any, trail_percent: Any, limit_offset: Any) -> tuple[
    float | None, float | None, float | None
]:
    if ot != ORDER_TYPE_TRAILING_STOP:
        for name, value in (("trail_amount", trail_amount), ("trail_percent", trail_percent),
                            ("limit_offset", limit_offset)):
            if value is not None:
                raise OrderRejectedError(sym, f"A {ot} order takes no {name} (got {value!r}); "
                                              "only a trailing_stop does")
        return None, None, None
    if (trail_amount is None) == (trail_percent is None):
        raise OrderRejectedError(
            sym, "A trailing_stop needs exactly one of trail_amount or trail_percent "
                 f"(got trail_amount={trail_amount!r}, trail_percent={trail_percent!r})")
    ta = positive_number(trail_amount, "trail_amount", sym) if trail_amount is not None else None
    tp = positive_number(trail_percent, "trail_percent", sym) if trail_percent is not None else None
    if tp is not None and tp >= 100:
        raise OrderRejectedError(sym, f"Invalid trail_percent: {trail_percent!r} (must be below 100)")
    lo = non_negative_number(limit_offset, "limit_offset", sym) if limit_offset is not None else None
    return ta, tp, lo


def _prices(sym: str, ot: str, limit_price: Any, stop_price: Any) -> tuple[float | None, float | None]:
    if ot in NEEDS_LIMIT_PRICE:
        if limit_price is None:
            raise OrderRejectedError(sym, f"A {ot} order needs a limit_price")
        lp: float | None = positive_number(limit_price, "limit price", sym)
    elif limit_price is not None:
        raise OrderRejectedError(sym, f"A {ot} order takes no limit_price (got {limit_price!r})")
    else:
        lp = None
    if ot in NEEDS_STOP_PRICE:
        if stop_price is None:
            raise OrderRejectedError(sym, f"A {ot} order needs a stop_price")
        sp: float | None = positive_number(stop_price, "stop price", sym)
    elif stop_price is not None:
        raise OrderRejectedError(sym, f"A {ot} order takes no stop_price (got {stop_price!r})")
    else:
        sp = None
    return lp, sp


# ---------------------------------------------------------------------------
# Order management: modify, brackets, OCO, duplicate client ids
# ---------------------------------------------------------------------------


class ModifyRequest(NamedTuple):
    """A validated ``modify_order``: the order id and the fields to change (``None``: unchanged)."""

    order_id: str
    qty: float | None = None
    limit_price: float | None = None
    stop_price: float | None = None


class BracketRequest(NamedTuple):
    """A validated ``submit_bracket``: an entry and its two exits (take-profit limit, stop-loss stop)."""

    symbol: str
    side: str  # side of the entry; both exits take the other side
    qty: float
    entry_type: str  # market | limit
    limit_price: float | None
    take_profit: float
    stop_loss: float
    stop_loss_limit: float | None
    time_in_force: str
    client_order_id: str | None

    @property
    def exit_side(self) -> str:
        return "SELL" if self.side == "BUY" else "BUY"


class OcoRequest(NamedTuple):
    """A validated ``submit_oco``: a limit leg and a stop (or stop-limit) leg; one fill cancels the other."""

    symbol: str
    side: str
    qty: float
    limit_price: float
    stop_price: float
    stop_limit_price: float | None
    time_in_force: str
    client_order_id: str | None


def validate_modify(order_id: Any, qty: Any = None, limit_price: Any = None, stop_price: Any = None) -> ModifyRequest:
    """Check the arguments of ``modify_order`` (at least one field; each positive and finite).

    An ``order_id`` that is not a non-empty string is an ``OrderNotFoundError``;
    bad values an ``OrderRejectedError``. The order itself is checked by
    ``check_modify`` once the venue's view of it is known.
    """
    if not isinstance(order_id, str) or not order_id.strip():
        raise OrderNotFoundError(repr(order_id), f"Order not found: {order_id!r} (an order id is a non-empty string)")
    oid = order_id.strip()
    if qty is None and limit_price is None and stop_price is None:
        raise OrderRejectedError("", f"modify_order({oid!r}) needs at least one of qty, limit_price, stop_price")
    q = positive_number(qty, "quantity", "") if qty is not None else None
    lp = positive_number(limit_price, "limit price", "") if limit_price is not None else None
    sp = positive_number(stop_price, "stop price", "") if stop_price is not None else None
    return ModifyRequest(oid, q, lp, sp)


def check_modify(order: dict[str, Any], req: ModifyRequest) -> None:
    """Refuse a modification the order cannot take, given its current ``OrderResult``.

    A final order (filled, cancelled, ...): ``OrderRejectedError`` saying so.
    A new quantity below what already filled, a limit price on an order without
    one, a stop price on an order without one: ``OrderRejectedError``.
    """
    sym = str(order.get("symbol") or "")
    status = order.get("status")
    if status in FINAL_STATUSES:
        raise OrderRejectedError(sym, f"order {order.get('order_id')} is already {status}; it cannot be modified")
    filled = float(order.get("filled_qty") or 0.0)
    if req.qty is not None and req.qty < filled - QTY_EPSILON:
        raise OrderRejectedError(
            sym, f"new quantity {req.qty:g} is below the {filled:g} already filled of order {order.get('order_id')}"
        )
    otype = order.get("order_type")
    if req.limit_price is not None and order.get("limit_price") is None:
        raise OrderRejectedError(sym, f"a {otype} order has no limit price to modify")
    if req.stop_price is not None and order.get("stop_price") is None:
        raise OrderRejectedError(sym, f"a {otype} order has no stop price to modify")


def _side(side: Any, sym: str) -> str:
    s = side.strip().upper() if isinstance(side, str) else None
    if s not in _SIDES:
        raise OrderRejectedError(sym, f"Invalid side: {side!r} (allowed: BUY, SELL)")
    return s


def _tif(time_in_force: Any, sym: str) -> str:
    tif = time_in_force.strip().lower() if isinstance(time_in_force, str) else None
    if tif not in _TIFS:
        raise OrderRejectedError(sym, f"Invalid time in force: {time_in_force!r} (allowed: {', '.join(TIME_IN_FORCE)})")
    return tif


def _cid(client_order_id: Any, sym: str) -> str | None:
    if client_order_id is not None and not is_client_order_id(client_order_id):
        raise OrderRejectedError(sym, f"Invalid client_order_id: {client_order_id!r} (must match {CLIENT_ORDER_ID_PATTERN})")
    return client_order_id


def validate_bracket(
    symbol: Any, side: Any, qty: Any, *, entry_type: Any = "market", limit_price: Any = None,
    take_profit: Any, stop_loss: Any, stop_loss_limit: Any = None, time_in_force: Any = "gtc",
    client_order_id: Any = None,
) -> BracketRequest:
    """Check the arguments of ``submit_bracket``.

    For a BUY entry: ``take_profit > limit_price > stop_loss`` (a market entry:
    ``take_profit > stop_loss``); for a SELL entry the mirror image. A
    ``stop_loss_limit`` (making the loss exit a stop-limit) lies on the loss
    side of ``stop_loss`` (at or below it for a BUY entry, at or above for SELL).
    """
    sym = clean_symbol(symbol)
    s = _side(side, sym)
    q = positive_number(qty, "quantity", sym)
    et = entry_type.strip().lower() if isinstance(entry_type, str) else None
    if et not in BRACKET_ENTRY_TYPES:
        raise OrderRejectedError(sym, f"Invalid entry_type: {entry_type!r} (allowed: {', '.join(BRACKET_ENTRY_TYPES)})")
    if et == "limit":
        if limit_price is None:
            raise OrderRejectedError(sym, "A limit entry needs a limit_price")
        lp: float | None = positive_number(limit_price, "limit price", sym)
    elif limit_price is not None:
        raise OrderRejectedError(sym, f"A market entry takes no limit_price (got {limit_price!r})")
    else:
        lp = None
    tp = positive_number(take_profit, "take_profit", sym)
    sl = positive_number(stop_loss, "stop_loss", sym)
    sll = positive_number(stop_loss_limit, "stop_loss_limit", sym) if stop_loss_limit is not None else None
    buy = s == "BUY"
    word = "above" if buy else "below"
    if (tp <= sl) if buy else (tp >= sl):
        raise OrderRejectedError(sym, f"take_profit {tp:g} must be {word} stop_loss {sl:g} for a {s} entry")
    if lp is not None:
        if (tp <= lp) if buy else (tp >= lp):
            raise OrderRejectedError(sym, f"take_profit {tp:g} must be {word} the entry limit {lp:g} for a {s} entry")
        if (sl >= lp) if buy else (sl <= lp):
            other = "below" if buy else "above"
            raise OrderRejectedError(sym, f"stop_loss {sl:g} must be {other} the entry limit {lp:g} for a {s} entry")
    if sll is not None and ((sll > sl) if buy else (sll < sl)):
        other = "at or below" if buy else "at or above"
        raise OrderRejectedError(sym, f"stop_loss_limit {sll:g} must be {other} stop_loss {sl:g} for a {s} entry")
    return BracketRequest(sym, s, q, et, lp, tp, sl, sll, _tif(time_in_force, sym), _cid(client_order_id, sym))


def validate_oco(
    symbol: Any, side: Any, qty: Any, *, limit_price: Any, stop_price: Any, stop_limit_price: Any = None,
    time_in_force: Any = "gtc", client_order_id: Any = None,
) -> OcoRequest:
    """Check the arguments of ``submit_oco``.

    Both legs have ``side``. A SELL OCO (protecting a long) has its limit above
    its stop; a BUY OCO (protecting a short) its limit below its stop. A
    ``stop_limit_price`` lies on the loss side of ``stop_price``.
    """
    sym = clean_symbol(symbol)
    s = _side(side, sym)
    q = positive_number(qty, "quantity", sym)
    lp = positive_number(limit_price, "limit price", sym)
    sp = positive_number(stop_price, "stop price", sym)
    slp = positive_number(stop_limit_price, "stop_limit_price", sym) if stop_limit_price is not None else None
    sell = s == "SELL"
    if (lp <= sp) if sell else (lp >= sp):
        word = "above" if sell else "below"
        raise OrderRejectedError(sym, f"limit_price {lp:g} must be {word} stop_price {sp:g} for a {s} OCO")
    if slp is not None and ((slp > sp) if sell else (slp < sp)):
        word = "at or below" if sell else "at or above"
        raise OrderRejectedError(sym, f"stop_limit_price {slp:g} must be {word} stop_price {sp:g} for a {s} OCO")
    return OcoRequest(sym, s, q, lp, sp, slp, _tif(time_in_force, sym), _cid(client_order_id, sym))


def _differs(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(float(a) - float(b)) > 1e-9 * max(1.0, abs(float(a)), abs(float(b)))
    return str(a).upper() != str(b).upper()


def client_id_conflict(existing: dict[str, Any], **wanted: Any) -> str:
    """What differs between an order already under a client id and a new request for it ("" = same).

    ``wanted`` holds the request's fields by ``OrderResult`` key (``symbol``,
    ``side``, ``qty``, ``order_type``, ``limit_price``, ``stop_price``, ...), as
    the venue would record them (rounded to its filters). A non-empty answer
    means ``DuplicateClientOrderIdError``.
    """
    diffs = [f"{k} {existing.get(k)!r} != {v!r}" for k, v in wanted.items() if _differs(existing.get(k), v)]
    return "; ".join(diffs)


__all__ = [
    "MAX_SYMBOL_LEN",
    "BracketRequest",
    "ModifyRequest",
    "OcoRequest",
    "OrderRequest",
    "check_modify",
    "clean_symbol",
    "client_id_conflict",
    "non_negative_number",
    "positive_number",
    "validate_bracket",
    "validate_modify",
    "validate_oco",
    "validate_order",
]
