"""Pure translation tables between IB's vocabulary and ours (no I/O, no IB library).

Everything the IBKR adapter decides from IB's words lives here, in tables a
reviewer can read at a glance:

* order types, time in force, sides (``BOT``/``SLD`` on executions);
* order statuses -> ours (``STATUS_MAP``), refined by ``derive_status``;
* TWS error codes -> what they mean for an order, a quote, a bar request or
  the connection (``ORDER_ERROR_KIND``, ``DELAYED_FALLBACK_CODES`` ...);
* yfinance ``period`` / ``interval`` -> IB ``durationStr`` / ``barSizeSetting``;
* execution corrections (``execId`` suffixes) -> the latest version of each fill.

Order ids: our ``order_id`` is IB's **permId** as a decimal string. IB's
``orderId`` is only unique per API client id and per session numbering; the
permId is assigned by TWS, is unique across clients and survives reconnects,
client-id changes and TWS restarts, so an id a pipeline stored yesterday
still finds the order today.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from LIVE_TRADING.common.constants import (
    ORDER_TYPE_LIMIT,
    ORDER_TYPE_MARKET,
    ORDER_TYPE_STOP,
    ORDER_TYPE_STOP_LIMIT,
    ORDER_TYPE_TRAILING_STOP,
    QTY_EPSILON,
    SIDE_BUY,
    SIDE_SELL,
    STATUS_CANCELLED,
    STATUS_EXPIRED,
    STATUS_FILLED,
    STATUS_NEW,
    STATUS_PARTIALLY_FILLED,
    STATUS_REJECTED,
    TIF_DAY,
    TIF_FOK,
    TIF_GTC,
    TIF_IOC,
)
from LIVE_TRADING.common.exceptions import (
    DataProviderError,
    InsufficientFundsError,
    OrderNotFoundError,
    OrderRejectedError,
)

VENUE = "ibkr"

# --------------------------------------------------------------------------
# Orders
# --------------------------------------------------------------------------

#: our order type -> IB orderType
ORDER_TYPE_TO_IB = {
    ORDER_TYPE_MARKET: "MKT",
    ORDER_TYPE_LIMIT: "LMT",
    ORDER_TYPE_STOP: "STP",
    ORDER_TYPE_STOP_LIMIT: "STP LMT",
    ORDER_TYPE_TRAILING_STOP: "TRAIL",  # "TRAIL LIMIT" with a limit_offset
}
ORDER_TYPE_FROM_IB = {v: k for k, v in ORDER_TYPE_TO_IB.items()} | {"TRAIL LIMIT": ORDER_TYPE_TRAILING_STOP}

#: our time in force -> IB tif
TIF_TO_IB = {TIF_GTC: "GTC", TIF_DAY: "DAY", TIF_IOC: "IOC", TIF_FOK: "FOK"}
TIF_FROM_IB = {v: k for k, v in TIF_TO_IB.items()}

#: execution side -> ours (orders use BUY / SELL already)
EXEC_SIDE = {"BOT": SIDE_BUY, "SLD": SIDE_SELL, "BUY": SIDE_BUY, "SELL": SIDE_SELL}

#: IB order status -> ours, before the refinements of ``derive_status``.
#: ``ValidationError`` is ib_async's own status for a warning on a live order.
STATUS_MAP = {
    "PendingSubmit": STATUS_NEW,
    "ApiPending": STATUS_NEW,
    "PreSubmitted": STATUS_NEW,
    "Submitted": STATUS_NEW,
    "PendingCancel": STATUS_NEW,
    "ValidationError": STATUS_NEW,
    "Filled": STATUS_FILLED,
    "Cancelled": STATUS_CANCELLED,
    "ApiCancelled": STATUS_CANCELLED,
    "Inactive": STATUS_REJECTED,
}
#: IB statuses after which an order can change no more
IB_DONE = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})
#: IB statuses that mean "TWS has the order" (vs. PendingSubmit / ApiPending: only we know it)
IB_ACKNOWLEDGED = frozenset({"PreSubmitted", "Submitted", "PendingCancel", "ValidationError"}) | IB_DONE


def order_type_from_ib(ib_type: str) -> str:
    """``MKT`` -> ``market`` ...; unknown types (``TRAIL``, ``MOC``) come back lower-cased."""
    return ORDER_TYPE_FROM_IB.get(ib_type.strip().upper(), ib_type.strip().lower())


def tif_from_ib(tif: str) -> str:
    """``GTC`` -> ``gtc`` ...; an empty tif is IB's default, DAY."""
    t = (tif or "DAY").strip().upper()
    return TIF_FROM_IB.get(t, t.lower())


def derive_status(
    ib_status: str,
    *,
    qty: float,
    filled: float,
    rejected: bool = False,
    cancel_requested: bool = False,
    time_in_force: str = TIF_GTC,
) -> str:
    """Our status of an order from IB's status and what we know besides.

    * Everything filled is ``filled`` whatever the status says (a late status
      message, or ib_async / ib_insync marking an order ``Cancelled`` after a
      10148 "cannot be cancelled, state: Filled").
    * ``Inactive``, or ``Cancelled`` after a reject error with nothing filled,
      is ``rejected`` (``rejected`` is the caller's verdict from the error
      codes: a code of ``ORDER_ERROR_KIND`` meaning reject).
    * An ``ioc`` / ``fok`` order cancelled by IB (not by us) is ``expired``,
      like the unfilled rest of an IOC order on the other venues.
    * Open statuses with a partial fill are ``partially_filled``.
    """
    if qty > 0 and filled >= qty - QTY_EPSILON:
        return STATUS_FILLED
    mapped = STATUS_MAP.get(ib_status, STATUS_NEW)
    if mapped == STATUS_REJECTED:
        return STATUS_CANCELLED if filled > QTY_EPSILON else STATUS_REJECTED
    if mapped == STATUS_CANCELLED:
        if rejected and filled <= QTY_EPSILON and not cancel_requested:
            return STATUS_REJECTED
        if time_in_force in (TIF_IOC, TIF_FOK) and not cancel_requested:
            return STATUS_EXPIRED
        return STATUS_CANCELLED
    if mapped == STATUS_FILLED:  # "Filled" with less than qty filled: trust IB's status
        return STATUS_FILLED
    if rejected and filled <= QTY_EPSILON and ib_status in ("", "PendingSubmit", "ApiPending"):
        return STATUS_REJECTED
    return STATUS_PARTIALLY_FILLED if filled > QTY_EPSILON else STATUS_NEW


def clean_price(value: Any, unset: float) -> float | None:
    """A price field of an IB order as ``float`` or ``None`` (unset, empty, NaN or <= 0)."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or number >= unset or number <= 0:
        return None
    return number


def parse_order_id(order_id: Any) -> int:
    """Our ``order_id`` (IB permId as a string or int) -> int; ``OrderNotFoundError`` if it cannot be one."""
    if isinstance(order_id, bool):
        raise OrderNotFoundError(str(order_id), f"Order not found: {order_id!r} (IBKR order ids are IB permIds)")
    if isinstance(order_id, int):
        perm = order_id
    else:
        text = str(order_id).strip() if order_id is not None else ""
        if not text.isdigit():
            raise OrderNotFoundError(
                str(order_id), f"Order not found: {order_id!r} (IBKR order ids are IB permIds, digits only)"
            )
        perm = int(text)
    if perm <= 0:
        raise OrderNotFoundError(str(order_id), f"Order not found: {order_id!r} (IBKR order ids are positive)")
    return perm


# --------------------------------------------------------------------------
# TWS error codes
# --------------------------------------------------------------------------
# https://www.interactivebrokers.com/campus/ibkr-api-page/tws-api-error-codes/

ERR_CLIENT_ID_IN_USE = 326
ERR_NO_SECURITY = 200
ERR_ORDER_REJECTED = 201
ERR_ORDER_CANCELLED = 202
ERR_CANCEL_NOT_FOUND = 10147
ERR_CANCEL_NOT_CANCELLABLE = 10148
ERR_HMDS = 162
ERR_IB_CONNECTIVITY_LOST = 1100
IB_CONNECTIVITY_RESTORED = frozenset({1101, 1102})

#: what an error with an order's id means for that order
ORDER_ERROR_KIND: dict[int, str] = {
    103: "reject",  # duplicate order id
    110: "reject",  # price does not conform to the minimum price variation
    200: "reject",  # no security definition found
    201: "reject",  # order rejected - reason: ...
    203: "reject",  # security not available / allowed for this account
    382: "reject",  # order size exceeds limits
    383: "reject",  # order size x price exceeds limits
    387: "reject",  # unsupported order type for this exchange and security type
    388: "reject",  # order size is smaller than the minimum
    434: "reject",  # the order size cannot be zero
    435: "reject",  # account must be specified / not valid
    463: "reject",  # you must enter a valid price
    10006: "reject",  # missing parent order
    202: "cancelled",  # order cancelled - reason: ...
    161: "not_cancellable",  # cancel attempted when order is not in a cancellable state
    10147: "not_found",  # OrderId that needs to be cancelled is not found
    10148: "not_cancellable",  # OrderId that needs to be cancelled cannot be cancelled, state: X
    399: "warning",  # order message: e.g. will not be placed until market opens
    404: "warning",  # shares for a short sale not available yet: order held
    2109: "warning",  # outside regular trading hours flag ignored
}

#: live data not subscribed but delayed data is available: fall back to market data type 3
DELAYED_FALLBACK_CODES = frozenset({354, 10089, 10090, 10091, 10186})
#: no market data at all (delayed not enabled, or no permissions)
NO_MARKET_DATA_CODES = frozenset({10168, 10197, 322})
#: informational: delayed data is being displayed
DELAYED_DISPLAYED = 10167
#: unknown contract
UNKNOWN_CONTRACT_CODES = frozenset({200})

_REJECT_REASON = re.compile(r"reason:\s*(.*)$", re.IGNORECASE | re.DOTALL)
_FUNDS = re.compile(
    r"insufficient|margin|buying power|available funds|equity with loan|cash available|not enough",
    re.IGNORECASE,
)
_STATE = re.compile(r"state:\s*([A-Za-z]+)")


def order_error_kind(code: int) -> str:
    """What an error with an order's id means: ``reject``, ``cancelled``, ``not_found``,
    ``not_cancellable``, ``warning``, ``info`` or ``unknown``.

    Only the codes of ``ORDER_ERROR_KIND`` are trusted to mean a rejection.
    Any other code is ``unknown``: IB sends many informational codes on live
    orders (ib_async and ib_insync even mark the order ``Cancelled`` on
    them), so an unknown code counts as a rejection only if IB itself ends
    the order without a fill (see ``IBKRBroker``), never on its own.
    """
    if 2100 <= code < 2200 or code == DELAYED_DISPLAYED:
        return "info"
    return ORDER_ERROR_KIND.get(code, "unknown")


def reject_reason(message: str) -> str:
    """IB's reason out of "Order rejected - reason:XYZ" (the whole message otherwise)."""
    match = _REJECT_REASON.search(message or "")
    reason = match.group(1).strip() if match else (message or "").strip()
    return reason or "rejected by IB"


def rejection_error(symbol: str, code: int, message: str) -> OrderRejectedError:
    """The exception for an order IB refused: ``InsufficientFundsError`` when the reason is money."""
    reason = reject_reason(message)
    cls = InsufficientFundsError if _FUNDS.search(reason) else OrderRejectedError
    return cls(symbol, f"{reason} (IB error {code})", code=code, venue_message=message)


def state_from_cancel_error(message: str) -> str | None:
    """The IB status named by a 10148 message ("... cannot be cancelled, state: Filled.")."""
    match = _STATE.search(message or "")
    return match.group(1) if match else None


def is_pacing_violation(code: int, message: str) -> bool:
    """Error 162 (or 420) about request pacing, not "HMDS query returned no data"."""
    return code in (162, 420) and "pacing" in (message or "").lower()


# --------------------------------------------------------------------------
# Historical bars
# --------------------------------------------------------------------------

#: yfinance period -> IB durationStr ("ytd" is computed; "max" asks for 20 years)
PERIOD_TO_DURATION = {
    "1d": "1 D",
    "5d": "5 D",
    "1mo": "1 M",
    "3mo": "3 M",
    "6mo": "6 M",
    "1y": "1 Y",
    "2y": "2 Y",
    "5y": "5 Y",
    "10y": "10 Y",
    "max": "20 Y",
}
#: yfinance interval -> IB barSizeSetting (IB has no 90-minute, 5-day or quarterly bars)
INTERVAL_TO_BAR = {
    "1m": "1 min",
    "2m": "2 mins",
    "5m": "5 mins",
    "15m": "15 mins",
    "30m": "30 mins",
    "60m": "1 hour",
    "1h": "1 hour",
    "1d": "1 day",
    "1wk": "1 week",
    "1mo": "1 month",
}
#: what to show per secType (forex has no trades; PAXOS crypto reports aggregated trades)
WHAT_TO_SHOW = {"CASH": "MIDPOINT", "CRYPTO": "AGGTRADES", "CMDTY": "MIDPOINT"}


def duration_for(period: str, today: date) -> str:
    """IB durationStr for a yfinance period (already checked by ``check_period``)."""
    if period == "ytd":
        days = (today - date(today.year, 1, 1)).days + 1
        return f"{days} D"
    return PERIOD_TO_DURATION[period]


def bar_size_for(interval: str, symbol: str | None = None) -> str:
    """IB barSizeSetting for a yfinance interval; ``DataProviderError`` for the ones IB lacks."""
    try:
        return INTERVAL_TO_BAR[interval]
    except KeyError:
        raise DataProviderError(
            f"Interval {interval!r} is not available from IB (IB bar sizes: {', '.join(INTERVAL_TO_BAR)})",
            symbol=symbol,
        ) from None


def what_to_show(sec_type: str) -> str:
    return WHAT_TO_SHOW.get(sec_type, "TRADES")


# --------------------------------------------------------------------------
# Executions
# --------------------------------------------------------------------------


def exec_base_id(exec_id: str) -> str:
    """The id shared by an execution and its corrections.

    IB execIds end in a revision number (``0000e0d5.6571bd3b.01.01``); a
    correction of an execution has the same id with a higher revision and
    replaces it.
    """
    head, sep, tail = exec_id.rpartition(".")
    return head if sep and tail.isdigit() else exec_id


def _revision(exec_id: str) -> int:
    tail = exec_id.rpartition(".")[2]
    return int(tail) if tail.isdigit() else 0


def latest_executions(exec_ids: list[str]) -> set[str]:
    """The execIds to keep: for each execution, only its latest correction."""
    best: dict[str, str] = {}
    for exec_id in exec_ids:
        base = exec_base_id(exec_id)
        current = best.get(base)
        if current is None or _revision(exec_id) > _revision(current):
            best[base] = exec_id
    return set(best.values())


__all__ = [
    "DELAYED_FALLBACK_CODES",
    "EXEC_SIDE",
    "IB_ACKNOWLEDGED",
    "IB_DONE",
    "INTERVAL_TO_BAR",
    "ORDER_ERROR_KIND",
    "ORDER_TYPE_TO_IB",
    "PERIOD_TO_DURATION",
    "STATUS_MAP",
    "TIF_TO_IB",
    "bar_size_for",
    "clean_price",
    "derive_status",
    "duration_for",
    "exec_base_id",
    "is_pacing_violation",
    "latest_executions",
    "order_error_kind",
    "order_type_from_ib",
    "parse_order_id",
    "reject_reason",
    "rejection_error",
    "state_from_cancel_error",
    "tif_from_ib",
    "what_to_show",
]
