"""Order lists, cancel-replace, amend and trailing stops of the loopback Binance stand-in.

A mixin of ``FakeBinance`` (``binance_server.py``), following rest-api.md:

* ``POST /api/v3/orderList/oco`` (the ``aboveType`` / ``belowType`` form): two
  legs; one side ``LIMIT_MAKER`` (or ``TAKE_PROFIT[_LIMIT]``), the other
  ``STOP_LOSS[_LIMIT]``; SELL: above price > last > below stop, BUY: mirrored,
  else -2010 "The relationship of the prices for the orders is not correct.".
  A fill or a trigger of one leg expires the other; cancelling one cancels both.
* ``POST /api/v3/orderList/otoco``: a LIMIT / LIMIT_MAKER working order and two
  pending legs (status ``PENDING_NEW``) that become an OCO once the working
  order is fully filled; cancelling the working order cancels the list.
* ``GET /api/v3/orderList`` (``orderListId`` or ``origClientOrderId``; unknown:
  -2011 "Order list does not exist.") and ``GET /api/v3/openOrderList``.
* ``POST /api/v3/order/cancelReplace``: filters of the new order are checked
  first (a failure changes nothing); with ``STOP_ON_FAILURE`` a cancel that
  fails answers -2022 with ``data`` (``newOrderResult: NOT_ATTEMPTED``); a new
  order that fails after the cancel answers HTTP 409 -2021 with ``data``
  (``cancelResult: SUCCESS``, ``newOrderResult: FAILURE``).
* ``PUT /api/v3/order/amend/keepPriority``: ``newQty`` below the order's
  quantity, in place (same ``orderId``), answer ``{transactTime, executionId,
  amendedOrder}``; not below: -2038.
* Trailing stops: ``STOP_LOSS[_LIMIT]`` with ``trailingDelta`` (bips) and no
  ``stopPrice`` trail the best price since placement (highest for SELL,
  lowest for BUY) and trigger ``trailingDelta`` bips behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

D = Decimal
EXIT_LIMIT_TYPES = ("LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
EXIT_STOP_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT")


class ApiError(Exception):
    def __init__(self, status: int, code: int | None, msg: str, headers: dict[str, str] | None = None,
                 data: Any = None) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg
        self.headers = headers or {}
        self.data = data


@dataclass
class OrderList:
    list_id: int
    client_id: str
    contingency: str  # OCO | OTO
    symbol: str
    order_ids: list[int]
    time: int
    working_id: int | None = None  # OTOCO: the working order
    pending_ids: list[int] = field(default_factory=list)


class ListsMixin:
    """Endpoints and matching hooks for order lists (see the module docstring)."""

    orders: dict[tuple[str, int], Any]
    order_lists: dict[int, OrderList]
    _next_list: int

    # -- hooks called by the matching code of FakeBinance ------------------------
    def _trail(self, order: Any, last: Decimal) -> Decimal:
        """Move a trailing stop's reference with the market; return its current trigger."""
        if order.trail_ref is None:
            order.trail_ref = last
        if order.side == "SELL":
            order.trail_ref = max(order.trail_ref, last)
            return order.trail_ref * (1 - D(order.trailing_delta) / 10000)
        order.trail_ref = min(order.trail_ref, last)
        return order.trail_ref * (1 + D(order.trailing_delta) / 10000)

    def _list_event(self, order: Any, what: str) -> None:
        """A leg of a list filled, triggered or was cancelled: apply the list's contingency."""
        ol = self.order_lists.get(order.order_list_id)
        if ol is None:
            return
        legs = [self.orders[(ol.symbol, i)] for i in ol.order_ids]
        if what == "cancel":  # cancelling any leg cancels the whole list
            for leg in legs:
                if leg.is_open:
                    self._close(leg, "CANCELED")  # type: ignore[attr-defined]
            return
        if ol.working_id == order.order_id:
            if what == "fill" and order.status == "FILLED":
                for leg in legs:
                    if leg.status == "PENDING_NEW":
                        self._activate(leg)
            return
        siblings = [leg for leg in legs if leg is not order and leg.order_id != ol.working_id and leg.is_open]
        for leg in siblings:
            self._close(leg, "CANCELED" if what == "cancel" else "EXPIRED")  # type: ignore[attr-defined]

    def _activate(self, leg: Any) -> None:
        """A pending OTOCO leg goes on the book; the limit leg locks what it sells (or buys with)."""
        spec = self.symbols[leg.symbol]  # type: ignore[attr-defined]
        leg.status = "NEW"
        if leg.type in EXIT_LIMIT_TYPES and leg.type != "TAKE_PROFIT":
            asset, need = (spec.base, leg.qty) if leg.side == "SELL" else (spec.quote, leg.price * leg.qty)
            bal = self.balances.setdefault(asset, [D(0), D(0)])  # type: ignore[attr-defined]
            take = min(bal[0], need)
            bal[0] -= take
            bal[1] += take
            leg.locked_left = take
        if leg.type == "LIMIT_MAKER":
            self._match_limit(leg, self.books[leg.symbol], taker=False)  # type: ignore[attr-defined]

    # -- list views ----------------------------------------------------------------
    def _list_view(self, ol: OrderList, *, reports: bool) -> dict[str, Any]:
        legs = [self.orders[(ol.symbol, i)] for i in ol.order_ids]
        done = all(not leg.is_open for leg in legs)
        out: dict[str, Any] = {
            "orderListId": ol.list_id, "contingencyType": ol.contingency,
            "listStatusType": "ALL_DONE" if done else "EXEC_STARTED",
            "listOrderStatus": "ALL_DONE" if done else "EXECUTING",
            "listClientOrderId": ol.client_id, "transactionTime": ol.time, "symbol": ol.symbol,
            "orders": [{"symbol": leg.symbol, "orderId": leg.order_id, "clientOrderId": leg.client_order_id}
                       for leg in legs],
        }
        if reports:
            out["orderReports"] = [
                {**{k: v for k, v in leg.view().items() if k not in ("time", "updateTime", "isWorking")},
                 "transactTime": ol.time} for leg in legs
            ]
        return out

    def _list_by(self, p: dict[str, str]) -> OrderList:
        ol = None
        if "orderListId" in p:
            ol = self.order_lists.get(int(p["orderListId"]))
        elif "origClientOrderId" in p:
            found = [x for x in self.order_lists.values() if x.client_id == p["origClientOrderId"]]
            ol = found[-1] if found else None
        else:
            raise ApiError(400, -1102, "Param 'origClientOrderId' or 'orderListId' must be sent, but both were empty/null!")
        if ol is None:
            raise ApiError(400, -2011, "Order list does not exist.")
        return ol

    # -- dispatch --------------------------------------------------------------------
    def _dispatch_lists(self, method: str, path: str, p: dict[str, str]) -> Any:
        if path == "/api/v3/orderList/oco":
            return self._new_oco(p)
        if path == "/api/v3/orderList/otoco":
            return self._new_otoco(p)
        if path == "/api/v3/orderList":
            return self._list_view(self._list_by(p), reports=False)
        if path == "/api/v3/openOrderList":
            return [self._list_view(ol, reports=False) for ol in self.order_lists.values()
                    if any(self.orders[(ol.symbol, i)].is_open for i in ol.order_ids)]
        if path == "/api/v3/order/cancelReplace":
            return self._cancel_replace(p)
        if path == "/api/v3/order/amend/keepPriority":
            return self._amend(p)
        raise ApiError(404, -1000, "not implemented")

    # -- OCO / OTOCO -------------------------------------------------------------------
    def _leg_params(self, p: dict[str, str], prefix: str, side: str, qty: str) -> dict[str, str]:
        kind = p.get(prefix + "Type") or p.get(prefix[0].lower() + prefix[1:] + "Type")
        if not kind:
            raise ApiError(400, -1102, f"Mandatory parameter '{prefix}Type' was not sent, was empty/null, or malformed.")
        leg = {"symbol": p.get("symbol", ""), "side": side, "type": kind, "quantity": qty}
        for ours, theirs in (("price", "Price"), ("stopPrice", "StopPrice"), ("trailingDelta", "TrailingDelta"),
                             ("timeInForce", "TimeInForce")):
            if p.get(prefix + theirs):
                leg[ours] = p[prefix + theirs]
        if kind in ("STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT") and "timeInForce" not in leg:
            raise ApiError(400, -1102, f"Mandatory parameter '{prefix}TimeInForce' was not sent, was empty/null, "
                                       "or malformed.")
        return leg

    def _check_pair(self, symbol: str, side: str, above: dict[str, Any], below: dict[str, Any]) -> None:
        book = self.books[symbol]  # type: ignore[attr-defined]
        last = (book.bid + book.ask) / 2
        if side == "SELL":
            ok_types = above["type"] in EXIT_LIMIT_TYPES and below["type"] in EXIT_STOP_TYPES
            hi = above["price"] if above["type"] == "LIMIT_MAKER" else above["stop"]
            lo = below["stop"]
        else:
            ok_types = above["type"] in EXIT_STOP_TYPES and below["type"] in EXIT_LIMIT_TYPES
            hi = above["stop"]
            lo = below["price"] if below["type"] == "LIMIT_MAKER" else below["stop"]
        if not ok_types:
            raise ApiError(400, -1116, "Invalid orderType.")
        if lo and hi and not lo < last < hi:
            raise ApiError(400, -2010, "The relationship of the prices for the orders is not correct.")

    def _new_list(self, p: dict[str, str], contingency: str) -> OrderList:
        cid = p.get("listClientOrderId") or uuid_hex()
        if any(ol.client_id == cid and any(self.orders[(ol.symbol, i)].is_open for i in ol.order_ids)
               for ol in self.order_lists.values()):
            raise ApiError(400, -2010, "Duplicate order sent.")
        self._next_list += 1
        return OrderList(self._next_list, cid, contingency, p.get("symbol", ""), [], self.now_ms())  # type: ignore[attr-defined]

    def _new_oco(self, p: dict[str, str]) -> dict[str, Any]:
        for name in ("symbol", "side", "quantity"):
            if not p.get(name):
                raise ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
        above = self._check_new(self._leg_params(p, "above", p["side"], p["quantity"]))  # type: ignore[attr-defined]
        below = self._check_new(self._leg_params(p, "below", p["side"], p["quantity"]))  # type: ignore[attr-defined]
        self._check_pair(p["symbol"], p["side"], above, below)
        ol = self._new_list(p, "OCO")
        spec = above["spec"]
        # one balance for both legs: the limit leg locks it
        asset, need = ((spec.base, above["qty"]) if p["side"] == "SELL"
                       else (spec.quote, below["price"] * below["qty"]))
        if self.balances.setdefault(asset, [D(0), D(0)])[0] < need:  # type: ignore[attr-defined]
            raise ApiError(400, -2010, "Account has insufficient balance for requested action.")
        limit_first = (above, below) if p["side"] == "BUY" else (below, above)  # order ids: stop leg first
        made = []
        for leg, prefix in ((limit_first[0], "above" if p["side"] == "BUY" else "below"),
                            (limit_first[1], "below" if p["side"] == "BUY" else "above")):
            cid = p.get(prefix + "ClientOrderId") or uuid_hex()
            made.append(self._create(leg, cid, list_id=ol.list_id, lock=leg["type"] not in EXIT_STOP_TYPES))  # type: ignore[attr-defined]
        ol.order_ids = [o.order_id for o in made]
        self.order_lists[ol.list_id] = ol
        return self._list_view(ol, reports=True)

    def _new_otoco(self, p: dict[str, str]) -> dict[str, Any]:
        for name in ("symbol", "workingType", "workingSide", "workingPrice", "workingQuantity", "pendingSide",
                     "pendingQuantity"):
            if not p.get(name):
                raise ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
        if p["workingType"] not in ("LIMIT", "LIMIT_MAKER"):
            raise ApiError(400, -1116, "Invalid orderType.")
        working_p = {"symbol": p["symbol"], "side": p["workingSide"], "type": p["workingType"],
                     "quantity": p["workingQuantity"], "price": p["workingPrice"]}
        if p.get("workingTimeInForce"):
            working_p["timeInForce"] = p["workingTimeInForce"]
        elif p["workingType"] == "LIMIT":
            raise ApiError(400, -1102, "Mandatory parameter 'workingTimeInForce' was not sent, was empty/null, "
                                       "or malformed.")
        working = self._check_new(working_p)  # type: ignore[attr-defined]
        above = self._check_new(self._leg_params(p, "pendingAbove", p["pendingSide"], p["pendingQuantity"]))  # type: ignore[attr-defined]
        below = self._check_new(self._leg_params(p, "pendingBelow", p["pendingSide"], p["pendingQuantity"]))  # type: ignore[attr-defined]
        ref = working["price"]
        hi = above["price"] if above["type"] == "LIMIT_MAKER" else above["stop"]
        lo = below["price"] if below["type"] == "LIMIT_MAKER" else below["stop"]
        if hi and lo and not lo < ref < hi:
            raise ApiError(400, -2010, "The relationship of the prices for the orders is not correct.")
        ol = self._new_list(p, "OTO")
        w = self._create(working, p.get("workingClientOrderId") or uuid_hex(), list_id=ol.list_id,  # type: ignore[attr-defined]
                         pending=True)
        legs = [self._create(leg, p.get(prefix + "ClientOrderId") or uuid_hex(), list_id=ol.list_id, pending=True)  # type: ignore[attr-defined]
                for leg, prefix in ((above, "pendingAbove"), (below, "pendingBelow"))]
        ol.order_ids = [w.order_id] + [leg.order_id for leg in legs]
        ol.working_id = w.order_id
        ol.pending_ids = [leg.order_id for leg in legs]
        self.order_lists[ol.list_id] = ol
        # the working order goes live now: lock its funds, match it
        spec = working["spec"]
        asset, need = (spec.quote, w.price * w.qty) if w.side == "BUY" else (spec.base, w.qty)
        bal = self.balances.setdefault(asset, [D(0), D(0)])  # type: ignore[attr-defined]
        if bal[0] < need:
            for o in (w, *legs):
                del self.orders[(o.symbol, o.order_id)]
            del self.order_lists[ol.list_id]
            raise ApiError(400, -2010, "Account has insufficient balance for requested action.")
        bal[0] -= need
        bal[1] += need
        w.locked_left = need
        w.status = "NEW"
        self._start(w)  # type: ignore[attr-defined]
        return self._list_view(ol, reports=True)

    # -- cancel-replace and amend ---------------------------------------------------------
    def _cancel_replace(self, p: dict[str, str]) -> dict[str, Any]:
        if p.get("cancelReplaceMode") not in ("STOP_ON_FAILURE", "ALLOW_FAILURE"):
            raise ApiError(400, -1102, "Mandatory parameter 'cancelReplaceMode' was not sent, was empty/null, or "
                                       "malformed.")
        new_p = {k: v for k, v in p.items() if k in ("symbol", "side", "type", "timeInForce", "quantity", "price",
                                                       "stopPrice", "trailingDelta", "newClientOrderId")}
        checked = self._check_new(new_p)  # type: ignore[attr-defined]
        find = {"symbol": p.get("symbol", "")}
        if "cancelOrderId" in p:
            find["orderId"] = p["cancelOrderId"]
        elif "cancelOrigClientOrderId" in p:
            find["origClientOrderId"] = p["cancelOrigClientOrderId"]
        try:
            cancel_view = self._cancel(find)  # type: ignore[attr-defined]
        except ApiError as err:
            raise ApiError(400, -2022, "Order cancel-replace failed.", data={
                "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
                "cancelResponse": {"code": err.code, "msg": err.msg}, "newOrderResponse": None}) from None
        try:
            order = self._create(checked, p.get("newClientOrderId") or uuid_hex())  # type: ignore[attr-defined]
        except ApiError as err:
            raise ApiError(409, -2021, "Order cancel-replace partially failed.", data={
                "cancelResult": "SUCCESS", "newOrderResult": "FAILURE", "cancelResponse": cancel_view,
                "newOrderResponse": {"code": err.code, "msg": err.msg}}) from None
        answer = self._order_answer(order, p.get("newOrderRespType") or "FULL", order.time)  # type: ignore[attr-defined]
        return {"cancelResult": "SUCCESS", "newOrderResult": "SUCCESS", "cancelResponse": cancel_view,
                "newOrderResponse": answer}

    def _amend(self, p: dict[str, str]) -> dict[str, Any]:
        if not p.get("newQty"):
            raise ApiError(400, -1102, "Mandatory parameter 'newQty' was not sent, was empty/null, or malformed.")
        order = self._find(p, query=True)  # type: ignore[attr-defined]
        if not order.is_open:
            raise ApiError(400, -2013, "Order does not exist.")
        new_qty = D(p["newQty"])
        spec = self.symbols[order.symbol]  # type: ignore[attr-defined]
        if new_qty % spec.step != 0 or new_qty < spec.min_qty:
            raise ApiError(400, -1013, "Filter failure: LOT_SIZE")
        if new_qty >= order.qty:
            raise ApiError(400, -2038, "Order amend (quantity increase) rejected.")
        if order.locked_left > 0:
            per_unit = order.locked_left / order.remaining if order.remaining > 0 else D(0)
            release = per_unit * (order.qty - new_qty)
            asset = spec.quote if order.side == "BUY" else spec.base
            order.locked_left -= release
            self.balances[asset][1] -= release  # type: ignore[attr-defined]
            self.balances[asset][0] += release  # type: ignore[attr-defined]
        order.qty = new_qty
        if p.get("newClientOrderId"):
            order.client_order_id = p["newClientOrderId"]
        if order.executed >= order.qty:
            order.status = "FILLED"
            self._release(order)  # type: ignore[attr-defined]
        view = order.view()
        amended = {k: view[k] for k in ("symbol", "orderId", "orderListId", "clientOrderId", "price", "executedQty",
                                        "status", "timeInForce", "type", "side", "workingTime",
                                        "selfTradePreventionMode")}
        amended["origClientOrderId"] = p.get("origClientOrderId") or order.client_order_id
        amended["qty"] = view["origQty"]
        amended["cumulativeQuoteQty"] = view["cummulativeQuoteQty"]
        amended["preventedQty"] = "0.00000000"
        amended["quoteOrderQty"] = "0.00000000"
        now = self.now_ms()  # type: ignore[attr-defined]
        return {"transactTime": now, "executionId": now, "amendedOrder": amended}


def uuid_hex() -> str:
    import uuid

    return uuid.uuid4().hex[:22]


__all__ = ["ApiError", "ListsMixin", "OrderList"]
