"""Order input validation shared by every venue.

``validate_order`` turns the raw arguments of ``submit_order`` into an
``OrderRequest`` or raises ``OrderRejectedError`` naming the bad value, before
any state is touched or anything is sent. Every venue calls it first, so an
order a pipeline got past paper is well formed on Binance and IBKR too.
"""

from __future__ import annotations

import math
import re
import sys
from typing import Any, NamedTuple

from LIVE_TRADING.common.constants import (
    CLIENT_ORDER_ID_PATTERN,
    NEEDS_LIMIT_PRICE,
    NEEDS_STOP_PRICE,
    ORDER_TYPES,
    SIDES,
    TIME_IN_FORCE,
)
from LIVE_TRADING.common.exceptions import OrderRejectedError

_CID = re.compile(CLIENT_ORDER_ID_PATTERN)
_INF = math.inf
_MAX = sys.float_info.max  # an int above it (10**400) has no float: refused, not OverflowError
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


def clean_symbol(symbol: Any) -> str:
    """``symbol`` stripped and upper-cased; ``OrderRejectedError`` if it is not a non-empty string."""
    if type(symbol) is str:
        sym = symbol.strip().upper()
        if sym:
            return sym
    elif isinstance(symbol, str) and symbol.strip():
        return symbol.strip().upper()
    raise OrderRejectedError(
        str(symbol) if symbol is not None else "", f"Invalid symbol: {symbol!r} (must be a non-empty string)"
    )


def positive_number(value: Any, what: str, symbol: str) -> float:
    """``value`` as a positive finite float, or ``OrderRejectedError`` naming it."""
    cls = type(value)
    if cls is float or cls is int:  # the common case, without the generic checks
        if 0 < value <= _MAX:
            return float(value)
    elif cls is not bool and value is not None:
        try:
            number = float(value)
        except (TypeError, ValueError):
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
) -> OrderRequest:
    """Check every argument of ``submit_order``; return the clean ``OrderRequest``."""
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
    if client_order_id is not None and (not isinstance(client_order_id, str) or not _CID.match(client_order_id)):
        raise OrderRejectedError(
            sym, f"Invalid client_order_id: {client_order_id!r} (must match {CLIENT_ORDER_ID_PATTERN})"
        )
    return OrderRequest(sym, s, quantity, ot, lp, sp, tif, client_order_id)


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


__all__ = ["OrderRequest", "clean_symbol", "positive_number", "validate_order"]
