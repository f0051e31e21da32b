"""Brackets and OCOs on Binance: order lists (``submit_bracket``, ``submit_oco``).

=====================  ===================================================================
call                   requests
=====================  ===================================================================
``submit_oco``         ``POST /api/v3/orderList/oco`` (the ``aboveType`` / ``belowType``
                       form): a ``LIMIT_MAKER`` leg and a ``STOP_LOSS`` (or
                       ``STOP_LOSS_LIMIT``) leg; SELL: limit above, stop below; BUY: the
                       mirror. When one leg fills or triggers, Binance expires the other.
``submit_bracket``     limit entry: ``POST /api/v3/orderList/otoco`` (working ``LIMIT``
  (``entry_type``)     entry + pending take-profit / stop-loss OCO). Binance puts the exits
                       on the book only once the entry is **fully** filled.
                       market entry: ``POST /api/v3/order`` (MARKET), then an OCO for what
                       filled (less a fee Binance took in the base asset).
=====================  ===================================================================

Ids: ``bracket_id`` / ``oco_id`` is the order list, ``"BTCUSDT:list-12"``; every
leg's ``OrderResult`` carries it as ``order_list_id``, and the exits of a
bracket carry the entry as ``parent_order_id``. ``get_order`` works for each leg.

Idempotency: ``client_order_id`` becomes the ``listClientOrderId`` (the legs'
client ids are derived from it: ``-e`` entry, ``-tp``, ``-sl``, ``-lim``, ``-stp``).
Calling again with the same id returns the existing list (after checking the
parameters match, else ``DuplicateClientOrderIdError``); a lost answer is
looked up by that id and never re-sent blindly.
"""

from __future__ import annotations

import logging
from typing import Any

from LIVE_TRADING.brokers.binance.core import new_client_order_id
from LIVE_TRADING.brokers.binance.errors import ExecutionUnknownError, is_duplicate_order
from LIVE_TRADING.brokers.binance.parsing import (
    TIF_TO_BINANCE,
    derive_client_id,
    list_key,
    order_key,
    round_qty_down,
    to_binance_symbol,
)
from LIVE_TRADING.brokers.validation import client_id_conflict, validate_bracket, validate_oco
from LIVE_TRADING.common.constants import EVENT_ORDER, QTY_EPSILON, TIF_DAY
from LIVE_TRADING.common.exceptions import (
    DuplicateClientOrderIdError,
    OrderNotFoundError,
    OrderRejectedError,
    OrderStatusUnknownError,
)
from LIVE_TRADING.data.quotes import mid_price

logger = logging.getLogger(__name__)

W_LIST = 1
W_LIST_QUERY = 4


def new_list_client_id(broker: Any) -> str:
    """A generated ``listClientOrderId``, short enough for the legs' derived ids."""
    return new_client_order_id()[:28]


def _no_day(sym: str, tif: str) -> None:
    if tif == TIF_DAY:
        raise OrderRejectedError(sym, "time_in_force 'day' does not exist on Binance spot; use gtc, ioc or fok")


def _exit_legs(prefix: str, exit_side: str, rules: Any, qty: float, limit: float, stop: float,
               stop_limit: float | None, tif: str, cid: str, tags: tuple[str, str]) -> dict[str, Any]:
    """Parameters of an OCO pair (``prefix`` ``""`` for an OCO, ``"pending"`` for an OTOCO's exits)."""
    stop_type = "STOP_LOSS_LIMIT" if stop_limit is not None else "STOP_LOSS"
    lim = rules.prepare("LIMIT_MAKER", exit_side, qty, limit, None)
    stp = rules.prepare(stop_type, exit_side, qty, stop_limit, stop)
    limit_pos, stop_pos = ("Above", "Below") if exit_side == "SELL" else ("Below", "Above")

    def name(pos: str, field: str) -> str:
        key = f"{prefix}{pos}{field}"
        return key[0].lower() + key[1:]

    params = {
        name(limit_pos, "Type"): "LIMIT_MAKER", name(limit_pos, "Price"): lim.price,
        name(limit_pos, "ClientOrderId"): derive_client_id(cid, tags[0]),
        name(stop_pos, "Type"): stop_type, name(stop_pos, "StopPrice"): stp.stop_price,
        name(stop_pos, "ClientOrderId"): derive_client_id(cid, tags[1]),
    }
    if stop_limit is not None:
        params[name(stop_pos, "Price")] = stp.price
        params[name(stop_pos, "TimeInForce")] = TIF_TO_BINANCE.get(tif, "GTC")
    return {"params": params, "quantity": lim.quantity}


def _existing_list(broker: Any, symbol: str, cid: str) -> dict[str, Any] | None:
    try:
        return broker.http.request("GET", "/api/v3/orderList", {"origClientOrderId": cid}, signed=True,
                                   weight=W_LIST_QUERY, symbol=symbol, order_id=cid)
    except OrderNotFoundError:
        return None


def _post_list(broker: Any, path: str, symbol: str, cid: str, params: dict[str, Any]) -> dict[str, Any]:
    try:
        return broker.http.request("POST", path, params, signed=True, weight=W_LIST, idempotent=False,
                                   symbol=symbol, order_id=cid)
    except ExecutionUnknownError as exc:
        for attempt in range(broker.config.reconcile_attempts):
            if attempt:
                broker._sleep(broker.config.reconcile_delay_s)
            found = _existing_list(broker, symbol, cid)
            if found is not None:
                return found
        raise OrderStatusUnknownError(
            cid, f"The answer to order list {cid!r} on {symbol} was lost and Binance does not list it (yet); "
            "check get_open_orders() before retrying with the same client_order_id",
        ) from exc
    except OrderRejectedError as exc:
        if is_duplicate_order(exc):
            found = _existing_list(broker, symbol, cid)
            if found is not None:
                return found
        raise


def _legs(broker: Any, answer: dict[str, Any], *, parent: str | None = None,
          contingency: str, fresh: bool = True) -> list[dict[str, Any]]:
    """Each leg's ``OrderResult`` (from the answer's ``orderReports``, or ``GET order``), journaled."""
    symbol = str(answer.get("symbol", "")).upper()
    reports = {int(r["orderId"]): r for r in answer.get("orderReports") or []}
    lid = list_key(symbol, answer.get("orderListId"))
    broker._lists_seen.add(lid)
    out = []
    for leg in answer.get("orders") or []:
        raw = reports.get(int(leg["orderId"]))
        if raw is None or "origQty" not in raw:
            raw = broker.http.request("GET", "/api/v3/order", {"symbol": symbol, "orderId": leg["orderId"]},
                                      signed=True, weight=4, symbol=symbol)
        key = order_key(symbol, leg["orderId"])
        if parent is not None and key != parent:
            broker._parents[key] = parent
        result, fills = broker._collect(raw)
        broker._commit(result, fills, event=EVENT_ORDER, force=fresh,
                       extra={"contingency": contingency, "list_client_order_id": answer.get("listClientOrderId")})
        out.append(dict(broker._orders[key]))
    return out


def _check_same(sym: str, cid: str, legs: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> None:
    for have, want in zip(legs, wanted, strict=False):
        detail = client_id_conflict(have, **want)
        if detail:
            raise DuplicateClientOrderIdError(sym, cid, have["order_id"], detail)


def submit_oco(broker: Any, symbol: Any, side: Any, qty: Any, *, limit_price: Any, stop_price: Any,
               stop_limit_price: Any = None, time_in_force: Any = "gtc", client_order_id: Any = None) -> dict[str, Any]:
    """See the module docstring; returns an ``OcoResult``."""
    req = validate_oco(symbol, side, qty, limit_price=limit_price, stop_price=stop_price,
                       stop_limit_price=stop_limit_price, time_in_force=time_in_force,
                       client_order_id=client_order_id)
    sym = to_binance_symbol(req.symbol)
    _no_day(sym, req.time_in_force)
    rules = broker.symbol_info(sym)
    cid = req.client_order_id or new_list_client_id(broker)
    legs = _exit_legs("", req.side, rules, req.qty, req.limit_price, req.stop_price, req.stop_limit_price,
                      req.time_in_force, cid, ("lim", "stp"))
    params = {"symbol": sym, "side": req.side, "quantity": legs["quantity"], "listClientOrderId": cid,
              "newOrderRespType": "FULL", **legs["params"]}
    existing = _existing_list(broker, sym, cid) if req.client_order_id else None
    answer = existing or _post_list(broker, "/api/v3/orderList/oco", sym, cid, params)
    results = _legs(broker, answer, contingency="OCO", fresh=existing is None)
    limit = next(r for r in results if r["order_type"] == "limit")
    stop = next(r for r in results if r is not limit)
    if existing is not None:
        q = float(legs["quantity"])
        _check_same(sym, cid, [limit, stop], [
            {"symbol": sym, "side": req.side, "qty": q, "limit_price": float(params.get("abovePrice") or
                                                                               params.get("belowPrice") or 0)},
            {"symbol": sym, "side": req.side, "qty": q, "stop_price": req.stop_price}])
    return {"oco_id": list_key(sym, answer.get("orderListId")), "limit": limit, "stop": stop}


def submit_bracket(broker: Any, symbol: Any, side: Any, qty: Any, *, entry_type: Any = "market",
                   limit_price: Any = None, take_profit: Any, stop_loss: Any, stop_loss_limit: Any = None,
                   time_in_force: Any = "gtc", client_order_id: Any = None) -> dict[str, Any]:
    """See the module docstring; returns a ``BracketResult``."""
    req = validate_bracket(symbol, side, qty, entry_type=entry_type, limit_price=limit_price,
                           take_profit=take_profit, stop_loss=stop_loss, stop_loss_limit=stop_loss_limit,
                           time_in_force=time_in_force, client_order_id=client_order_id)
    sym = to_binance_symbol(req.symbol)
    _no_day(sym, req.time_in_force)
    rules = broker.symbol_info(sym)
    cid = req.client_order_id or new_list_client_id(broker)
    if req.entry_type == "market":
        return _market_bracket(broker, req, sym, rules, cid)
    entry = rules.prepare("LIMIT", req.side, req.qty, req.limit_price, None)
    legs = _exit_legs("pending", req.exit_side, rules, float(entry.quantity), req.take_profit, req.stop_loss,
                      req.stop_loss_limit, req.time_in_force, cid, ("tp", "sl"))
    params = {"symbol": sym, "listClientOrderId": cid, "newOrderRespType": "FULL",
              "workingType": "LIMIT", "workingSide": req.side, "workingClientOrderId": derive_client_id(cid, "e"),
              "workingPrice": entry.price, "workingQuantity": entry.quantity,
              "workingTimeInForce": TIF_TO_BINANCE[req.time_in_force],
              "pendingSide": req.exit_side, "pendingQuantity": legs["quantity"], **legs["params"]}
    existing = _existing_list(broker, sym, cid) if req.client_order_id else None
    answer = existing or _post_list(broker, "/api/v3/orderList/otoco", sym, cid, params)
    first = min(int(o["orderId"]) for o in answer.get("orders") or [{"orderId": 0}])
    parent_key = order_key(sym, first)  # the working order is placed (and numbered) first
    results = _legs(broker, answer, parent=parent_key, contingency="OTOCO", fresh=existing is None)
    parent = next(r for r in results if r["order_id"] == parent_key)
    exits = [r for r in results if r is not parent]
    if existing is not None:
        _check_same(sym, cid, [parent], [{"symbol": sym, "side": req.side, "qty": float(entry.quantity),
                                          "order_type": "limit", "limit_price": float(entry.price or 0)}])
    return _bracket_result(list_key(sym, answer.get("orderListId")), parent, exits)


def _bracket_result(bracket_id: str, parent: dict[str, Any], exits: list[dict[str, Any]]) -> dict[str, Any]:
    take = next(r for r in exits if r["order_type"] == "limit")
    stop = next(r for r in exits if r is not take)
    return {"bracket_id": bracket_id, "parent": parent, "take_profit": take, "stop_loss": stop}


def _market_bracket(broker: Any, req: Any, sym: str, rules: Any, cid: str) -> dict[str, Any]:
    quote = broker.get_quote(sym)
    mid = mid_price(quote)
    buy = req.side == "BUY"
    if (not req.take_profit > mid > req.stop_loss) if buy else (not req.take_profit < mid < req.stop_loss):
        raise OrderRejectedError(
            sym, f"the exits must lie on either side of the market ({mid:g}) for a market entry: "
            f"take_profit {req.take_profit:g}, stop_loss {req.stop_loss:g}; nothing was sent")
    entry = broker.submit_order(sym, req.side, req.qty, "market", client_order_id=derive_client_id(cid, "e"))
    filled = float(entry["filled_qty"])
    base = rules.base_asset
    if req.side == "BUY":
        filled -= sum(f["fee"] for f in broker._fills.values()
                      if f["order_id"] == entry["order_id"] and f["fee_currency"].upper() == base)
    exit_qty = float(round_qty_down(max(filled, 0.0), rules.lot.step if rules.lot else 0))
    if exit_qty <= QTY_EPSILON:
        raise OrderRejectedError(sym, f"the market entry {entry['order_id']} filled nothing "
                                      f"(status {entry['status']}); no exits were placed")
    existing = _existing_list(broker, sym, cid)
    fresh = existing is None
    if existing is None:
        legs = _exit_legs("", req.exit_side, rules, exit_qty, req.take_profit, req.stop_loss, req.stop_loss_limit,
                          req.time_in_force, cid, ("tp", "sl"))
        params = {"symbol": sym, "side": req.exit_side, "quantity": legs["quantity"], "listClientOrderId": cid,
                  "newOrderRespType": "FULL", **legs["params"]}
        try:
            existing = _post_list(broker, "/api/v3/orderList/oco", sym, cid, params)
        except OrderRejectedError as exc:
            raise OrderRejectedError(
                sym, f"the market entry {entry['order_id']} filled {entry['filled_qty']:g} but Binance refused "
                f"its exits ({exc.reason}); the position is open without them. Retry submit_bracket with "
                f"client_order_id {cid!r} to place them (the entry is not bought again)",
                code=exc.code, venue_message=exc.venue_message) from exc
    broker._parents.update({order_key(sym, o["orderId"]): entry["order_id"] for o in existing.get("orders") or []})
    results = _legs(broker, existing, parent=entry["order_id"], contingency="OCO", fresh=fresh)
    return _bracket_result(list_key(sym, existing.get("orderListId")), entry, results)


def learn_open_lists(broker: Any) -> None:
    """Learn the entry of every open OTOCO (``GET /api/v3/openOrderList``): its exits get ``parent_order_id``."""
    for info in broker.http.request("GET", "/api/v3/openOrderList", signed=True, weight=6) or []:
        symbol = str(info.get("symbol", "")).upper()
        lid = list_key(symbol, info.get("orderListId"))
        broker._lists_seen.add(lid)
        if info.get("contingencyType") != "OTO":
            continue
        ids = sorted(int(o["orderId"]) for o in info.get("orders") or [])
        for i in ids[1:]:
            broker._parents.setdefault(order_key(symbol, i), order_key(symbol, ids[0]))


def annotate_leg(broker: Any, result: dict[str, Any]) -> dict[str, Any]:
    """Add ``parent_order_id`` to a leg of an OTOCO this broker has not seen placed (after a restart)."""
    lid = result.get("order_list_id")
    if not lid or lid in broker._lists_seen or result["order_id"] in broker._parents:
        return result
    symbol, _, tail = str(lid).rpartition(":list-")
    broker._lists_seen.add(lid)
    try:
        info = broker.http.request("GET", "/api/v3/orderList", {"orderListId": tail}, signed=True,
                                   weight=W_LIST_QUERY, symbol=symbol)
    except OrderNotFoundError:
        return result
    if info.get("contingencyType") == "OTO":
        ids = sorted(int(o["orderId"]) for o in info.get("orders") or [])
        parent = order_key(symbol, ids[0])
        for i in ids[1:]:
            broker._parents[order_key(symbol, i)] = parent
        if result["order_id"] != parent:
            result["parent_order_id"] = parent
    return result


__all__ = ["annotate_leg", "learn_open_lists", "submit_bracket", "submit_oco"]
