"""What the account's open orders will still buy or sell, per symbol: the rebalance nets it.

``rebalance`` computes each symbol's trade as ``target - (position + pending)``,
where ``pending`` is the signed quantity the account's open orders have still
to fill (BUY positive, SELL negative; ``qty - filled_qty`` of each order). So a
limit buy resting below the market is not bought a second time by the next
rebalance to the same target, and a partly filled one counts only its rest.

Which open orders count: plain ``market`` and ``limit`` orders, and the entry
of a bracket — orders that will trade when the market comes to them. Stops
(``stop``, ``stop_limit``, ``trailing_stop``), the exits of a bracket (they
carry ``parent_order_id``) and the legs of an OCO are protective exits that may
never trade: counting a stop-loss as a sale already made would make the
rebalance buy the position a second time, so they are left out.

An open order on the other side of the new trade still counts (the net is
position + open orders, whatever their side) and is not cancelled: with 10
held, a SELL 4 resting and a target of 10, the rebalance buys 4, so the
account holds 10 once both have filled. Cancel an order you no longer want
(``live-trading cancel --all --symbol S``, or ``broker.cancel_order``);
``run_loop`` cancels its own unfilled orders at the start of each step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from LIVE_TRADING.common.constants import (
    OPEN_STATUSES,
    ORDER_TYPE_LIMIT,
    ORDER_TYPE_MARKET,
    SIDE_BUY,
    SIDE_SELL,
)

#: order types whose remaining quantity counts as pending
NETTED_ORDER_TYPES = frozenset({ORDER_TYPE_MARKET, ORDER_TYPE_LIMIT})


def pending_by_symbol(orders: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """``{SYMBOL: signed remaining qty}`` of the open orders that count (see the module docstring).

    ``orders`` is what ``broker.get_open_orders()`` returned (``OrderResult``
    dicts). Symbols with nothing pending are left out.
    """
    orders = list(orders)
    parents = {str(o["parent_order_id"]) for o in orders if o.get("parent_order_id")}
    pending: dict[str, float] = {}
    for order in orders:
        if order.get("status") not in OPEN_STATUSES or order.get("order_type") not in NETTED_ORDER_TYPES:
            continue
        if order.get("parent_order_id"):
            continue  # a bracket's exit
        if order.get("order_list_id") and str(order.get("order_id")) not in parents:
            continue  # an OCO leg (a bracket's entry is the parent of its exits)
        side = order.get("side")
        if side not in (SIDE_BUY, SIDE_SELL):
            continue
        remaining = float(order.get("qty") or 0.0) - float(order.get("filled_qty") or 0.0)
        if remaining <= 0.0:
            continue
        sym = str(order.get("symbol", "")).upper()
        pending[sym] = pending.get(sym, 0.0) + (remaining if side == SIDE_BUY else -remaining)
    return {s: q for s, q in pending.items() if q != 0.0}


def net_holdings(held: Mapping[str, float], pending: Mapping[str, float]) -> dict[str, float]:
    """``held`` plus ``pending``, symbol by symbol: what the account holds once its open orders have filled."""
    if not pending:
        return dict(held)
    net = dict(held)
    for sym, qty in pending.items():
        net[sym] = net.get(sym, 0.0) + qty
    return net


__all__ = ["NETTED_ORDER_TYPES", "net_holdings", "pending_by_symbol"]
