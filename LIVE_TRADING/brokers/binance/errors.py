"""Binance error codes -> the LIVE_TRADING error tree (one table, applied at the boundary).

Binance answers an error with an HTTP status and a JSON body ``{"code": -1121,
"msg": "Invalid symbol."}`` (errors.md). ``translate`` turns that into one of
our exceptions; the Binance code and message stay on it as ``.code`` and
``.venue_message``. The mapping:

=======================================  ==============================================
Binance                                  LIVE_TRADING
=======================================  ==============================================
-2010 "...insufficient balance..."       ``InsufficientFundsError``
-2010 (other), -1013 (filter failure),   ``OrderRejectedError`` with Binance's message
-1111, -1121, -1100, -1102, -1014,
-1106, -1115, -1116, -1117, -1130,
-1131
-2011, -2013, -2026                      ``OrderNotFoundError``
-1022, -2014, -2015, -1002, HTTP 401     ``AuthenticationError``
-1003, -1015, HTTP 429, HTTP 418         ``RateLimitError`` (``retry_after_s`` from Retry-After)
-1006, -1007, HTTP 5xx                   ``ExecutionUnknownError`` (execution status unknown)
network failure / timeout                ``BrokerConnectionError``
anything else                            ``BrokerError``
=======================================  ==============================================

``ExecutionUnknownError`` (a ``BrokerConnectionError``) is how the HTTP layer
says "the request may or may not have been executed": Binance documents 5xx,
-1006 and -1007 as *execution status UNKNOWN*, and a timeout or dropped
connection after sending says the same. Reads may simply be retried; an order
POST must be reconciled (looked up by its client order id) instead.
"""

from __future__ import annotations

from typing import Any

from LIVE_TRADING.common.exceptions import (
    AuthenticationError,
    BrokerConnectionError,
    BrokerError,
    InsufficientFundsError,
    OrderNotFoundError,
    OrderRejectedError,
    RateLimitError,
)

VENUE = "binance"

#: codes meaning "the order was refused; nothing happened"
REJECT_CODES = frozenset({-2010, -1013, -1111, -1121, -1100, -1102, -1014, -1106, -1115, -1116, -1117,
                          -1130, -1131})
NOT_FOUND_CODES = frozenset({-2011, -2013, -2026})
AUTH_CODES = frozenset({-1022, -2014, -2015, -1002})
RATE_LIMIT_CODES = frozenset({-1003, -1015})
UNKNOWN_EXECUTION_CODES = frozenset({-1006, -1007})
INVALID_TIMESTAMP = -1021
INVALID_SYMBOL = -1121
#: -2010 messages (errors.md, "Messages for -1010, -2010 and -2011")
INSUFFICIENT_BALANCE_TEXT = "insufficient balance"
DUPLICATE_ORDER_TEXT = "duplicate order sent"


class ExecutionUnknownError(BrokerConnectionError):
    """The request may or may not have been executed (5xx, -1006, -1007, lost answer)."""


def translate(
    code: Any,
    msg: str | None,
    *,
    http_status: int | None = None,
    symbol: str | None = None,
    order_id: str | None = None,
    retry_after_s: float | None = None,
) -> BrokerError:
    """The LIVE_TRADING exception for one Binance error answer (not raised; the caller raises it)."""
    text = (msg or "").strip() or "no message"
    kw: dict[str, Any] = {"code": code, "venue_message": msg}
    label = f"Binance {code}: {text}" if code is not None else f"Binance HTTP {http_status}: {text}"
    if code == -2010 and INSUFFICIENT_BALANCE_TEXT in text.lower():
        return InsufficientFundsError(symbol or "", label, **kw)
    if code in REJECT_CODES:
        return OrderRejectedError(symbol or "", label, **kw)
    if code in NOT_FOUND_CODES:
        return OrderNotFoundError(order_id or "?", f"Order not found: {order_id!r} ({label})", **kw)
    if code in AUTH_CODES or http_status == 401:
        return AuthenticationError(
            f"{label} (check the API key, its permissions and IP restrictions)", **kw
        )
    if code in RATE_LIMIT_CODES or http_status in (429, 418):
        what = "IP banned by Binance (HTTP 418)" if http_status == 418 else "Rate limited by Binance"
        after = f"; retry after {retry_after_s:g} s" if retry_after_s is not None else ""
        return RateLimitError(f"{what}: {label}{after}", retry_after_s=retry_after_s, **kw)
    if code in UNKNOWN_EXECUTION_CODES or (http_status is not None and http_status >= 500):
        return ExecutionUnknownError(f"Binance execution status unknown: {label}", **kw)
    return BrokerError(label, **kw)


def is_duplicate_order(exc: BaseException) -> bool:
    """True for the -2010 "Duplicate order sent." answer (client order id already in use)."""
    return isinstance(exc, OrderRejectedError) and exc.code == -2010 and (
        DUPLICATE_ORDER_TEXT in (exc.venue_message or "").lower()
    )


__all__ = ["ExecutionUnknownError", "is_duplicate_order", "translate"]
