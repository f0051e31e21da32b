"""Start-up reconciliation of a Binance account with its journal (``BinanceBroker.reconcile``).

While the process was down, orders may have filled, been cancelled or been
placed by hand. ``reconcile()`` (run once at construction, and whenever called)
compares what Binance reports with what the journal holds and writes the
difference to the journal:

==================  =====================================================================
fills_added         trades of the account (``GET myTrades``, the last 24 h, on every symbol
                    the journal or our open orders mention) the journal lacked, now
                    journaled (as ``get_fills`` would)
orders_adopted      open orders (``GET openOrders``) the journal did not know whose client
                    id starts with this account's prefix (``client_id_prefix``, ``lt``
                    by default) or that the journal knew by client id: journaled
orders_resolved     orders the journal had open that Binance no longer lists: their final
                    state from ``GET order`` (fills, cancel, expiry) journaled
unknown             open orders of the account that are not ours (another prefix, not in
                    the journal): reported, never touched
==================  =====================================================================

Open order lists (``GET /api/v3/openOrderList``) are read first, so that the
exits of a bracket placed by an earlier run carry their ``parent_order_id``.
Reconciling twice in a row changes nothing the second time (every list empty).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from LIVE_TRADING.common.constants import (
    EVENT_CANCEL,
    EVENT_EXPIRE,
    EVENT_FILL,
    EVENT_ORDER,
    EVENT_REJECT,
    OPEN_STATUSES,
    STATUS_CANCELLED,
)
from LIVE_TRADING.common.exceptions import OrderNotFoundError
from LIVE_TRADING.common.journal import read_records

logger = logging.getLogger(__name__)

#: how far back ``reconcile`` reads trades (Binance bounds a myTrades time window to 24 h)
LOOKBACK_MS = 24 * 3600 * 1000
W_OPEN_ORDERS_ALL = 80


@dataclass
class JournalView:
    """What the journal says about the venue's orders: last state per order, fill ids, bracket parents."""

    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # order id -> last order record
    fill_ids: set[str] = field(default_factory=set)
    client_ids: set[str] = field(default_factory=set)
    parents: dict[str, str] = field(default_factory=dict)  # exit leg -> entry

    @property
    def open_orders(self) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.orders.items() if r.get("status") in OPEN_STATUSES}


def journal_view(log_dir: str | Path, records: Iterable[dict[str, Any]] | None = None) -> JournalView:
    """Read the journal once and keep what reconciliation needs."""
    view = JournalView()
    for rec in records if records is not None else read_records(log_dir, verify=False):
        event = rec.get("event")
        if event == EVENT_FILL and rec.get("fill_id"):
            view.fill_ids.add(str(rec["fill_id"]))
        elif event in (EVENT_ORDER, EVENT_CANCEL, EVENT_EXPIRE) and rec.get("order_id"):
            key = str(rec["order_id"])
            view.orders[key] = rec
            if rec.get("client_order_id"):
                view.client_ids.add(str(rec["client_order_id"]))
            if rec.get("parent_order_id"):
                view.parents[key] = str(rec["parent_order_id"])
        elif event == EVENT_REJECT and rec.get("client_order_id"):
            view.client_ids.add(str(rec["client_order_id"]))
    return view


def _ours(broker: Any, result: dict[str, Any]) -> bool:
    cid = str(result.get("client_order_id") or "")
    return cid.startswith(broker.client_id_prefix) or cid in broker._journal_view.client_ids


def _same(journaled: dict[str, Any], result: dict[str, Any]) -> bool:
    return journaled.get("status") == result["status"] and abs(
        float(journaled.get("filled_qty") or 0.0) - float(result["filled_qty"])
    ) <= 1e-12


def _note(broker: Any, result: dict[str, Any], fills: list[dict[str, Any]], event: str) -> None:
    """Journal an order state (and its new fills) the journal lacks; remember it."""
    broker._commit(result, fills, event=event, force=True, extra={"reconciled": True})
    broker._journal_view.orders[result["order_id"]] = dict(result)


def reconcile(broker: Any) -> dict[str, Any]:
    """Compare Binance's open orders and recent trades with the journal; journal the difference."""
    summary: dict[str, list[dict[str, Any]]] = {
        "fills_added": [], "orders_adopted": [], "orders_resolved": [], "unknown": []}
    view = broker._journal_view
    before = set(broker._journaled_fills)
    from LIVE_TRADING.brokers.binance.lists import learn_open_lists

    learn_open_lists(broker)  # bracket structure of open order lists, before their legs are journaled
    raws = broker.http.request("GET", "/api/v3/openOrders", signed=True, weight=W_OPEN_ORDERS_ALL)
    listed: set[str] = set()
    symbols: set[str] = set()
    for raw in raws:
        result, fills = broker._collect(raw)
        key = result["order_id"]
        listed.add(key)
        journaled = view.orders.get(key)
        if journaled is not None:
            symbols.add(result["symbol"])
            if _same(journaled, result):
                broker._commit(result, fills, event=None)
            else:
                _note(broker, result, fills, EVENT_ORDER)
        elif _ours(broker, result):
            symbols.add(result["symbol"])
            _note(broker, result, fills, EVENT_ORDER)
            summary["orders_adopted"].append(dict(result))
        else:
            summary["unknown"].append(dict(result))
    for key, journaled in sorted(view.open_orders.items()):
        if key in listed:
            continue
        symbols.add(str(journaled.get("symbol") or key.rpartition(":")[0]))
        try:
            raw = broker.http.request(
                "GET", "/api/v3/order", {"symbol": key.rpartition(":")[0], "orderId": key.rpartition(":")[2]},
                signed=True, weight=4, symbol=key.rpartition(":")[0], order_id=key,
            )
        except OrderNotFoundError:
            logger.warning("Journal has order %s open; Binance does not know it", key)
            summary["unknown"].append(dict(journaled))
            continue
        result, fills = broker._collect(raw)
        _note(broker, result, fills, EVENT_CANCEL if result["status"] == STATUS_CANCELLED else EVENT_ORDER)
        summary["orders_resolved"].append(dict(result))
    since = int(broker.now().timestamp() * 1000) - LOOKBACK_MS
    symbols |= {str(r.get("symbol")) for r in view.orders.values() if r.get("symbol")}
    for symbol in sorted(s for s in symbols if s):
        broker._sync_trades(symbol, since)
    # every fill journaled during this call: trades while we were down, fills of resolved orders
    added = broker._journaled_fills - before
    summary["fills_added"] = [dict(broker._fills[f]) for f in sorted(added) if f in broker._fills]
    if any(summary.values()):
        logger.info("Binance reconciliation: %s", {k: len(v) for k, v in summary.items()})
    return summary


__all__ = ["JournalView", "journal_view", "reconcile"]
