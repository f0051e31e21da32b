"""``modify_order`` on Interactive Brokers: ``placeOrder`` again with the same ``orderId``.

TWS treats a ``placeOrder`` for an ``orderId`` it already has as a modification:
the changed quantity / limit price (``lmtPrice``) / stop price (``auxPrice``)
replace the old ones, the ``permId`` (our ``order_id``) stays. The call returns
once TWS answered (an ``orderStatus`` after the modification, or an error), or
``order_timeout_s`` passed.

A modification IB refuses (error 201, 103, ...) leaves the order as it was at
IB: the local copy of the order is put back, the order re-read from IB, and
``OrderRejectedError`` raised with IB's reason. Only the API client that placed
an order may modify it (as for cancels).
"""

from __future__ import annotations

import logging
from typing import Any

from LIVE_TRADING.brokers.ibkr import parsing
from LIVE_TRADING.brokers.validation import check_modify, validate_modify
from LIVE_TRADING.common.constants import EVENT_ORDER
from LIVE_TRADING.common.exceptions import BrokerConnectionError, OrderNotFoundError, OrderRejectedError

logger = logging.getLogger(__name__)

#: error kinds that mean "the modification was refused"
_REFUSED = ("reject", "not_found", "not_cancellable", "unknown")


def modify_order(broker: Any, order_id: Any, *, qty: Any = None, limit_price: Any = None,
                 stop_price: Any = None) -> dict[str, Any]:
    """See the module docstring."""
    req = validate_modify(order_id, qty, limit_price, stop_price)
    perm = parsing.parse_order_id(req.order_id)
    if broker.settings.readonly:
        raise OrderRejectedError("", "the IBKR broker is read-only (live_trading.ibkr.readonly is true)")
    with broker._lock:
        return broker._run(lambda: _modify(broker, perm, req))


async def _modify(broker: Any, perm: int, req: Any) -> dict[str, Any]:
    conn = broker.conn
    await conn.ensure_connected()
    trade = broker._find_by_perm(perm) or await broker._find_remote(perm=perm)
    if trade is None:
        raise OrderNotFoundError(req.order_id)
    current = broker._result(trade)
    check_modify(current, req)
    order = trade.order
    if int(order.orderId or 0) <= 0 or int(order.clientId or 0) != conn.client_id:
        raise OrderRejectedError(
            current["symbol"], f"order {perm} was placed by API client {order.clientId} (this session is client "
            f"{conn.client_id}); IB lets only that client modify it")
    saved = (order.totalQuantity, order.lmtPrice, order.auxPrice, order.transmit)
    if req.qty is not None:
        order.totalQuantity = req.qty
    if req.limit_price is not None:
        order.lmtPrice = req.limit_price
    if req.stop_price is not None:
        order.auxPrice = req.stop_price
    order.transmit = True
    key = (conn.generation, int(order.orderId))
    mark = len(broker._order_errors.get(key, []))

    def new_errors() -> list[Any]:
        return [e for e in broker._order_errors.get(key, [])[mark:]
                if parsing.order_error_kind(e.code) in _REFUSED]

    try:
        conn.ib.placeOrder(trade.contract, order)
    except ConnectionError as exc:
        order.totalQuantity, order.lmtPrice, order.auxPrice, order.transmit = saved
        raise BrokerConnectionError(f"Connection to IB lost; modification of order {perm} was not sent: {exc}") from exc
    log_mark = len(trade.log)  # includes the library's "Modify" entry
    await conn.wait_until(lambda: bool(new_errors()) or len(trade.log) > log_mark, broker.settings.order_timeout_s)
    errors = new_errors()
    if errors:
        order.totalQuantity, order.lmtPrice, order.auxPrice, order.transmit = saved
        await broker._find_remote(perm=perm)  # IB's own view of the (unchanged) order
        err = errors[-1]
        logger.warning("IB refused to modify order %s: %s (error %s)", perm, err.message, err.code)
        raise OrderRejectedError(
            current["symbol"], f"IB refused to modify order {perm}: {parsing.reject_reason(err.message)} "
            f"(IB error {err.code}); the order stands as before", code=err.code, venue_message=err.message)
    meta = broker._meta_for(trade)
    if meta is not None:
        if req.qty is not None:
            meta.qty = req.qty
        if req.limit_price is not None:
            meta.limit_price = req.limit_price
        if req.stop_price is not None:
            meta.stop_price = req.stop_price
    result = broker._result(trade)
    if meta is None:  # an order of an earlier session: IB's echo carries the new values
        result.update({k: v for k, v in (("qty", req.qty), ("limit_price", req.limit_price),
                                         ("stop_price", req.stop_price)) if v is not None})
    broker._journal_order_event(EVENT_ORDER, result, trade, modified=True, previous_qty=current["qty"],
                                previous_limit_price=current["limit_price"],
                                previous_stop_price=current["stop_price"])
    await broker._journal_new_fills(wait=False)
    return result


__all__ = ["modify_order"]
