"""``modify_order`` on Binance: amend in place (keep priority) or cancel-replace.

=================================  ==========================================================
change                             request
=================================  ==========================================================
only a lower quantity              ``PUT /api/v3/order/amend/keepPriority`` (``newQty``): same
                                   ``orderId`` and client id, time priority kept
anything else (price, stop, a      ``POST /api/v3/order/cancelReplace`` with
higher quantity)                   ``cancelReplaceMode=STOP_ON_FAILURE``: the old order is
                                   cancelled and a new one placed under a client id derived
                                   from the old (``x`` -> ``x-r1`` -> ``x-r2``); the result is
                                   the **new** order (new ``order_id``)
=================================  ==========================================================

Quantities are totals, as everywhere: a partly filled order keeps its fills on
the old order, and the replacement carries what is left (new qty - filled).

Binance's partial failures are translated, the journal following what Binance says:

* -2022 (``cancelResult: FAILURE``, new order not attempted): nothing changed;
  ``OrderRejectedError`` with the cancel's reason (an order that became final
  meanwhile is reported as such), the original order re-read.
* -2021 (cancel done, new order refused): the original order **is cancelled**
  (journaled); ``OrderRejectedError`` says so and gives the refusal.
* a lost answer: the replacement is looked up by its client id; found is
  success, otherwise ``OrderStatusUnknownError`` naming that id.

Legs of an order list (bracket / OCO) can only be reduced in quantity (amend);
other changes are refused before anything is sent.
"""

from __future__ import annotations

import logging
from typing import Any

from LIVE_TRADING.brokers.binance.errors import ExecutionUnknownError
from LIVE_TRADING.brokers.binance.parsing import (
    LIMIT_TYPES,
    STOP_TYPES,
    binance_order_type,
    dec,
    derive_client_id,
    normalize_amended,
    order_key,
)
from LIVE_TRADING.brokers.validation import check_modify, validate_modify
from LIVE_TRADING.common.constants import EVENT_CANCEL, EVENT_ORDER, QTY_EPSILON
from LIVE_TRADING.common.exceptions import (
    BrokerError,
    OrderNotFoundError,
    OrderRejectedError,
    OrderStatusUnknownError,
)
from LIVE_TRADING.data.quotes import mid_price

logger = logging.getLogger(__name__)

CANCEL_REPLACE_PARTIAL = -2021  # cancel succeeded, new order failed
CANCEL_REPLACE_FAILED = -2022  # cancel failed, new order not attempted
W_ORDER_QUERY = 4
W_AMEND = 4
W_CANCEL_REPLACE = 1


def _same_price(a: Any, b: float | None) -> bool:
    return b is None or (a is not None and abs(float(a) - b) <= 1e-12 * max(1.0, abs(b)))


def modify_order(broker: Any, order_id: str, *, qty: Any = None, limit_price: Any = None,
                 stop_price: Any = None) -> dict[str, Any]:
    """See the module docstring. Raises ``OrderNotFoundError`` / ``OrderRejectedError`` as the protocol says."""
    req = validate_modify(order_id, qty, limit_price, stop_price)
    symbol, oid = broker._resolve(req.order_id)
    raw = broker.http.request("GET", "/api/v3/order", {"symbol": symbol, "orderId": oid}, signed=True,
                              weight=W_ORDER_QUERY, symbol=symbol, order_id=req.order_id)
    current, fills = broker._collect(raw)
    broker._commit(current, fills)
    check_modify(current, req)
    btype = str(raw.get("type", "")).upper()
    new_qty = req.qty if req.qty is not None else float(current["qty"])
    price_same = _same_price(current.get("limit_price"), req.limit_price) and _same_price(
        current.get("stop_price"), req.stop_price)
    in_list = int(raw.get("orderListId", -1) or -1) >= 0
    if price_same and new_qty < float(current["qty"]) - QTY_EPSILON:
        return _amend(broker, symbol, oid, raw, current, new_qty)
    if in_list:
        raise OrderRejectedError(symbol, f"order {current['order_id']} is a leg of an order list (bracket / OCO); "
                                         "Binance only lets such a leg's quantity be reduced")
    if price_same and abs(new_qty - float(current["qty"])) <= QTY_EPSILON:
        return dict(current)  # nothing to change
    if req.stop_price is not None and btype in STOP_TYPES:
        quote = broker.get_quote(symbol)
        mid = mid_price(quote)
        kind = binance_order_type("stop", current["side"], req.stop_price, mid)
        if not btype.startswith(kind):
            # Binance would cancel the order, then refuse the new one ("would trigger immediately")
            raise OrderRejectedError(symbol, f"new stop price {req.stop_price:g} is on the wrong side of the market "
                                             f"({mid:g}) for this {btype} order: it would trigger at once")
    rules = broker.symbol_info(symbol)
    price = req.limit_price if req.limit_price is not None else current.get("limit_price")
    stop = req.stop_price if req.stop_price is not None else current.get("stop_price")
    remaining = dec(new_qty) - dec(current["filled_qty"])  # exact: 0.03 - 0.005 is 0.025, not 0.02499...
    prepared = rules.prepare(btype, current["side"], remaining, price if btype in LIMIT_TYPES else None,
                             stop if btype in STOP_TYPES else None)
    new_cid = derive_client_id(str(current.get("client_order_id") or oid), "r")
    params: dict[str, Any] = {
        "symbol": symbol, "side": current["side"], "type": btype, "cancelReplaceMode": "STOP_ON_FAILURE",
        "cancelOrderId": oid, "quantity": prepared.quantity, "newClientOrderId": new_cid,
        "newOrderRespType": "FULL",
    }
    if btype in LIMIT_TYPES and btype != "LIMIT_MAKER":
        params["timeInForce"] = raw.get("timeInForce") or "GTC"
    if prepared.price is not None:
        params["price"] = prepared.price
    if prepared.stop_price is not None and float(prepared.stop_price) > 0:
        params["stopPrice"] = prepared.stop_price
    if raw.get("trailingDelta"):
        params["trailingDelta"] = raw["trailingDelta"]
    return _cancel_replace(broker, symbol, current, params)


def _amend(broker: Any, symbol: str, oid: str, raw: dict[str, Any], current: dict[str, Any],
           new_qty: float) -> dict[str, Any]:
    rules = broker.symbol_info(symbol)
    lot = rules.prepare("LIMIT", current["side"], new_qty, None, None).quantity  # lot rounding only
    try:
        answer = broker.http.request(
            "PUT", "/api/v3/order/amend/keepPriority",
            {"symbol": symbol, "orderId": oid, "newQty": lot,
             "newClientOrderId": current.get("client_order_id") or None},
            signed=True, weight=W_AMEND, idempotent=False, symbol=symbol, order_id=current["order_id"],
        )
    except OrderNotFoundError as exc:  # -2013: no longer open (filled or cancelled meanwhile)
        latest = broker.get_order(current["order_id"])
        raise OrderRejectedError(
            symbol, f"order {current['order_id']} is already {latest['status']}; it cannot be modified",
            code=exc.code, venue_message=exc.venue_message) from exc
    amended = normalize_amended(answer.get("amendedOrder") or {})
    amended.setdefault("time", raw.get("time"))
    if raw.get("trailingDelta"):
        amended.setdefault("trailingDelta", raw["trailingDelta"])
        amended.setdefault("stopPrice", raw.get("stopPrice"))
    result, fills = broker._collect(amended)
    broker._commit(result, fills, event=EVENT_ORDER, force=True,
                   extra={"modified": "amend_keep_priority", "previous_qty": current["qty"]})
    return dict(result)


def _cancel_replace(broker: Any, symbol: str, current: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    old_key = current["order_id"]
    try:
        answer = broker.http.request("POST", "/api/v3/order/cancelReplace", params, signed=True,
                                     weight=W_CANCEL_REPLACE, idempotent=False, symbol=symbol, order_id=old_key)
    except ExecutionUnknownError as exc:
        found = broker._lookup_after_loss(symbol, params["newClientOrderId"])
        if found is None:
            broker.get_order(old_key)
            raise OrderStatusUnknownError(
                params["newClientOrderId"],
                f"The answer to replacing order {old_key} was lost and the replacement "
                f"{params['newClientOrderId']!r} is not at Binance; check get_order({old_key!r})",
            ) from exc
        broker.get_order(old_key)  # journal the cancel of the original
        result, fills = broker._collect(found)
        broker._commit(result, fills, force=True, extra={"replaces": old_key})
        return dict(result)
    except BrokerError as exc:
        data = exc.venue_data or {}
        if exc.code == CANCEL_REPLACE_FAILED:
            cancel = data.get("cancelResponse") or {}
            latest = broker.get_order(old_key)
            state = f" (it is {latest['status']})" if latest["status"] != current["status"] else ""
            raise OrderRejectedError(
                symbol, f"Binance could not cancel order {old_key} to replace it{state}: "
                f"{cancel.get('msg') or exc.venue_message}; nothing was changed",
                code=cancel.get("code", exc.code), venue_message=cancel.get("msg") or exc.venue_message,
            ) from exc
        if exc.code == CANCEL_REPLACE_PARTIAL:
            cancel = data.get("cancelResponse") or {}
            new = data.get("newOrderResponse") or {}
            if cancel.get("orderId") is not None:
                result, fills = broker._collect(cancel)
                broker._commit(result, fills, event=EVENT_CANCEL, force=True,
                               extra={"cancel_replace": "new order refused"})
            else:
                broker.get_order(old_key)
            raise OrderRejectedError(
                symbol, f"order {old_key} was cancelled but Binance refused its replacement: "
                f"{new.get('msg') or exc.venue_message} (the original is no longer working)",
                code=new.get("code", exc.code), venue_message=new.get("msg") or exc.venue_message,
            ) from exc
        raise
    cancel = answer.get("cancelResponse") or {}
    if cancel:
        result, fills = broker._collect(cancel)
        broker._commit(result, fills, event=EVENT_CANCEL, force=True, extra={"replaced_by_client_id":
                                                                             params["newClientOrderId"]})
    new = answer.get("newOrderResponse") or {}
    result, fills = broker._collect(new)
    broker._commit(result, fills, force=True, extra={"replaces": old_key})
    logger.info("Order %s replaced by %s", old_key, order_key(symbol, new.get("orderId")))
    return dict(result)


__all__ = ["modify_order"]
