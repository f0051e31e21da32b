"""Order input validation shared by every venue.

``validate_order`` turns the raw arguments of ``submit_order`` into an
``OrderRequest`` or raises ``OrderRejectedError`` naming the bad value, before
any state is touched or anything is sent. Every venue calls it first, so an
order a pipeline got past paper is well formed on Binance and IBKR too.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A validated order: upper-case symbol and side, positive finite qty and prices."""

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
    if not isinstance(symbol, str) or not symbol.strip():
        raise OrderRejectedError(str(symbol) if symbol is not None else "", f"Invalid symbol: {symbol!r} (must be a non-empty string)")
    return symbol.strip().upper()


def positive_number(value: Any, what: str, symbol: str) -> float:
    """``value`` as a positive finite float, or ``OrderRejectedError`` naming it."""
    if isinstance(value, bool) or value is None:
        raise OrderRejectedError(symbol, f"Invalid {what}: {value!r} (must be a positive finite number)")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise OrderRejectedError(symbol, f"Invalid {what}: {value!r} (must be a positive finite number)") from None
    if not math.isfinite(number) or number <= 0:
        raise OrderRejectedError(symbol, f"Invalid {what}: {value!r} (must be a positive finite number)")
    return number


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
    s = side.strip().upper() if isinstance(side, str) else side
    if s not in SIDES:
        raise OrderRejectedError(sym, f"Invalid side: {side!r} (allowed: BUY, SELL)")
    quantity = positive_number(qty, "quantity", sym)
    ot = order_type.strip().lower() if isinstance(order_type, str) else order_type
    if ot not in ORDER_TYPES:
        raise OrderRejectedError(sym, f"Invalid order type: {order_type!r} (allowed: {', '.join(ORDER_TYPES)})")
    tif = time_in_force.strip().lower() if isinstance(time_in_force, str) else time_in_force
    if tif not in TIME_IN_FORCE:
        raise OrderRejectedError(
            sym, f"Invalid time in force: {time_in_force!r} (allowed: {', '.join(TIME_IN_FORCE)})"
        )
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
    if client_order_id is not None and (not isinstance(client_order_id, str) or not _CID.match(client_order_id)):
        raise OrderRejectedError(
            sym, f"Invalid client_order_id: {client_order_id!r} (must match {CLIENT_ORDER_ID_PATTERN})"
        )
    return OrderRequest(sym, s, quantity, ot, lp, sp, tif, client_order_id)


__all__ = ["OrderRequest", "clean_symbol", "positive_number", "validate_order"]
