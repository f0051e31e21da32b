"""Brackets and OCOs on Interactive Brokers (``submit_bracket``, ``submit_oco``).

Bracket (IB's "bracket order"): three orders placed in one go:

====================  ===================================================================
parent (entry)        ``MKT`` or ``LMT``, ``orderRef`` = client id + ``-e``, ``transmit=False``
take-profit           ``LMT`` on the other side, ``parentId`` = the parent's ``orderId``,
                      ``ocaGroup`` = the bracket id, ``transmit=False``
stop-loss             ``STP`` (``STP LMT`` with ``stop_loss_limit``), ``parentId``,
                      ``ocaGroup``, ``transmit=True``: this last order sends all three
====================  ===================================================================

Nothing goes live half-built: TWS holds the first two until the last arrives.
If IB refuses a leg, the held legs are cancelled and ``OrderRejectedError``
names the leg and IB's reason. The exits work once the parent is filled; the
children's OCA group has ``ocaType`` 3 (a fill of one reduces the other).

OCO: two orders (``LMT`` and ``STP`` / ``STP LMT``, same side) sharing an
``ocaGroup`` with ``ocaType`` 1 (a fill of one cancels the other); if IB
refuses the second, the first is cancelled.

Ids: ``bracket_id`` / ``oco_id`` is the ``ocaGroup`` (the ``client_order_id``
given, or a generated one); each leg's ``OrderResult`` carries it as
``order_list_id`` and the exits carry the parent's ``order_id`` as
``parent_order_id`` - also after a restart, from IB's own ``parentId`` /
``ocaGroup``. Calling again with the same ``client_order_id`` returns the
existing legs (or ``DuplicateClientOrderIdError`` when the parameters differ).
"""

from __future__ import annotations

import logging
from typing import Any

from LIVE_TRADING.brokers.ibkr import parsing
from LIVE_TRADING.brokers.ibkr.contracts import UnknownSymbolError, is_contract
from LIVE_TRADING.brokers.ibkr.core import _OrderMeta, new_client_order_id
from LIVE_TRADING.brokers.validation import OrderRequest, client_id_conflict, validate_bracket, validate_oco
from LIVE_TRADING.common.constants import EVENT_ORDER, EVENT_REJECT, QTY_EPSILON
from LIVE_TRADING.common.exceptions import (
    BrokerConnectionError,
    DuplicateClientOrderIdError,
    OrderRejectedError,
    OrderStatusUnknownError,
)
from LIVE_TRADING.common.ids import derive_client_id

logger = logging.getLogger(__name__)

OCA_CANCEL_OTHERS = 1
OCA_REDUCE_OTHERS = 3


def _symbol(broker: Any, symbol: Any) -> tuple[Any, str]:
    contract_in = symbol if is_contract(symbol) else None
    label = broker.resolver.symbol_for(contract_in) if contract_in is not None else symbol
    return contract_in, label


def _resolve(broker: Any, contract_in: Any, label: str) -> str:
    try:
        return str(broker.resolver.symbol_of(contract_in if contract_in is not None else label))
    except UnknownSymbolError as exc:
        raise OrderRejectedError(str(label), exc.reason) from exc


def submit_bracket(broker: Any, symbol: Any, side: Any, qty: Any, *, entry_type: Any = "market",
                   limit_price: Any = None, take_profit: Any, stop_loss: Any, stop_loss_limit: Any = None,
                   time_in_force: Any = "gtc", client_order_id: Any = None) -> dict[str, Any]:
    """See the module docstring; returns a ``BracketResult``."""
    contract_in, label = _symbol(broker, symbol)
    req = validate_bracket(label, side, qty, entry_type=entry_type, limit_price=limit_price,
                           take_profit=take_profit, stop_loss=stop_loss, stop_loss_limit=stop_loss_limit,
                           time_in_force=time_in_force, client_order_id=client_order_id)
    sym = _resolve(broker, contract_in, req.symbol)
    if broker.settings.readonly:
        raise OrderRejectedError(sym, "the IBKR broker is read-only (live_trading.ibkr.readonly is true)")
    group = req.client_order_id or new_client_order_id()
    tif = req.time_in_force
    stop_type = "stop_limit" if req.stop_loss_limit is not None else "stop"
    legs = [
        OrderRequest(sym, req.side, req.qty, req.entry_type, req.limit_price, None, tif, derive_client_id(group, "e")),
        OrderRequest(sym, req.exit_side, req.qty, "limit", req.take_profit, None, tif, derive_client_id(group, "tp")),
        OrderRequest(sym, req.exit_side, req.qty, stop_type, req.stop_loss_limit, req.stop_loss, tif,
                     derive_client_id(group, "sl")),
    ]
    with broker._lock:
        results = broker._run(lambda: _place_group(broker, contract_in, sym, group, legs, bracket=True,
                                                   user_cid=req.client_order_id is not None))
    return {"bracket_id": group, "parent": results[0], "take_profit": results[1], "stop_loss": results[2]}


def submit_oco(broker: Any, symbol: Any, side: Any, qty: Any, *, limit_price: Any, stop_price: Any,
               stop_limit_price: Any = None, time_in_force: Any = "gtc", client_order_id: Any = None) -> dict[str, Any]:
    """See the module docstring; returns an ``OcoResult``."""
    contract_in, label = _symbol(broker, symbol)
    req = validate_oco(label, side, qty, limit_price=limit_price, stop_price=stop_price,
                       stop_limit_price=stop_limit_price, time_in_force=time_in_force,
                       client_order_id=client_order_id)
    sym = _resolve(broker, contract_in, req.symbol)
    if broker.settings.readonly:
        raise OrderRejectedError(sym, "the IBKR broker is read-only (live_trading.ibkr.readonly is true)")
    group = req.client_order_id or new_client_order_id()
    stop_type = "stop_limit" if req.stop_limit_price is not None else "stop"
    legs = [
        OrderRequest(sym, req.side, req.qty, "limit", req.limit_price, None, req.time_in_force,
                     derive_client_id(group, "lim")),
        OrderRequest(sym, req.side, req.qty, stop_type, req.stop_limit_price, req.stop_price, req.time_in_force,
                     derive_client_id(group, "stp")),
    ]
    with broker._lock:
        results = broker._run(lambda: _place_group(broker, contract_in, sym, group, legs, bracket=False,
                                                   user_cid=req.client_order_id is not None))
    return {"oco_id": group, "limit": results[0], "stop": results[1]}


async def _existing_group(broker: Any, legs: list[OrderRequest], user_cid: bool) -> list[Any] | None:
    trades: list[Any] = []
    for leg in legs:
        trade = await broker._existing(leg.client_order_id, user_cid)
        if trade is None:
            return None if not trades else trades + [None] * (len(legs) - len(trades))
        trades.append(trade)
    return trades


async def _place_group(broker: Any, contract_in: Any, sym: str, group: str, legs: list[OrderRequest], *,
                       bracket: bool, user_cid: bool) -> list[dict[str, Any]]:
    conn = broker.conn
    await conn.ensure_connected()
    found = await _existing_group(broker, legs, user_cid)
    if found is not None:
        if any(t is None for t in found):
            raise OrderStatusUnknownError(group, f"Only some legs of group {group!r} exist at IB; check "
                                                 "get_open_orders() before placing it again")
        results = [broker._result(t) for t in found]
        for leg, result in zip(legs, results, strict=True):
            detail = client_id_conflict(result, symbol=sym, side=leg.side, qty=leg.qty, order_type=leg.order_type,
                                        limit_price=leg.limit_price, stop_price=leg.stop_price)
            if detail:
                raise DuplicateClientOrderIdError(sym, group, result["order_id"], detail)
        return results
    if not conn.ib_servers_ok:
        raise BrokerConnectionError("TWS has lost its connection to IB's servers (error 1100); nothing was sent",
                                    code=parsing.ERR_IB_CONNECTIVITY_LOST)
    try:
        resolved = await broker.resolver.resolve(contract_in if contract_in is not None else sym)
    except UnknownSymbolError as exc:
        raise OrderRejectedError(sym, exc.reason, code=exc.code, venue_message=exc.venue_message) from exc
    trades: list[Any] = []
    metas: list[Any] = []
    for i, leg in enumerate(legs):
        order = broker._build_order(leg, leg.client_order_id)
        order.ocaGroup = group if (not bracket or i > 0) else ""
        order.ocaType = OCA_REDUCE_OTHERS if bracket else OCA_CANCEL_OTHERS
        if bracket:
            order.transmit = i == len(legs) - 1
            if i > 0:
                order.parentId = trades[0].order.orderId
        try:
            trades.append(conn.ib.placeOrder(resolved.contract, order))
        except ConnectionError as exc:
            raise BrokerConnectionError(f"Connection to IB lost while placing group {group}: {exc}") from exc
        meta = _OrderMeta(
            client_order_id=leg.client_order_id or "", symbol=sym, side=leg.side, order_type=leg.order_type,
            qty=leg.qty, limit_price=leg.limit_price, stop_price=leg.stop_price, time_in_force=leg.time_in_force,
            created=broker.clock(), generation=conn.generation, ib_order_id=int(order.orderId),
            client_id=conn.client_id, order_list_id=group,
        )
        broker._meta_by_ref[meta.client_order_id] = meta
        metas.append(meta)

    def refused() -> list[tuple[int, Any]]:
        return [(i, err) for i, m in enumerate(metas) if (err := broker._reject_error(m)) is not None]

    def acknowledged() -> bool:
        return all(broker._perm(t) > 0 for t in trades)

    entry_market = bracket and legs[0].order_type == "market"

    def settled() -> bool:
        if refused():
            return True
        if not acknowledged():
            return False
        if entry_market:
            t = trades[0]
            return t.orderStatus.status in parsing.IB_DONE or float(t.orderStatus.filled or 0) >= legs[0].qty - QTY_EPSILON
        return True

    await conn.wait_until(settled, broker.settings.order_timeout_s)
    bad = refused()
    if bad:
        index, err = bad[0]
        for t in trades:
            if t.orderStatus.status not in parsing.IB_DONE:
                try:
                    conn.ib.cancelOrder(t.order)
                except ConnectionError:
                    logger.warning("Could not cancel leg %s of refused group %s", t.order.orderRef, group)
        await conn.wait_until(lambda: all(t.orderStatus.status in parsing.IB_DONE for t in trades), 1.0)
        error = parsing.rejection_error(sym, err.code, err.message)
        which = ("entry", "take-profit", "stop-loss")[index] if bracket else ("limit", "stop")[index]
        broker.journal.write(EVENT_REJECT, {"symbol": sym, "client_order_id": group, "leg": which,
                                            "reason": error.reason, "code": err.code, "venue": parsing.VENUE})
        raise OrderRejectedError(
            sym, f"IB refused the {which} leg of {'bracket' if bracket else 'OCO'} {group}: {error.reason}; "
            "the other legs were cancelled", code=err.code, venue_message=err.message) from None
    if not acknowledged():
        raise OrderStatusUnknownError(group, f"IB did not acknowledge every leg of {group} within "
                                             f"{broker.settings.order_timeout_s:g}s; check get_open_orders()")
    for meta, trade in zip(metas, trades, strict=True):
        meta.perm_id = broker._perm(trade)
        broker._meta_by_perm[meta.perm_id] = meta
    if bracket:
        for meta in metas[1:]:
            meta.parent_order_id = str(metas[0].perm_id)
    results = []
    for trade in trades:
        result = broker._result(trade)
        broker._journal_order_event(EVENT_ORDER, result, trade, contingency="bracket" if bracket else "OCO")
        results.append(result)
    await broker._journal_new_fills(wait=False)
    return results


__all__ = ["submit_bracket", "submit_oco"]
