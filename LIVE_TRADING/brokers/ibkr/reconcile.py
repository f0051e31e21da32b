"""Start-up reconciliation of an IB account with its journal (``IBKRBroker.reconcile``).

At every connect the API synchronises open orders, today's completed orders
and executions; the broker already journals executions the journal lacks
(``_on_connect``). ``reconcile()`` (run once after the first connect, and
whenever called) adds the orders:

==================  =====================================================================
fills_added         executions journaled by this reconciliation (at construction: also
                    those journaled while connecting)
orders_adopted      open orders of the account (all API clients, ``reqAllOpenOrders``)
                    the journal did not know whose ``orderRef`` starts with this
                    account's prefix (``client_id_prefix``, ``lt``) or is a client id the
                    journal knows: journaled
orders_resolved     orders the journal had open that IB no longer lists as open: their
                    final state from the completed orders, journaled
unknown             open orders that are not ours (TWS / another prefix), and journal-open
                    orders IB lists nowhere (older than today's completed orders): reported
==================  =====================================================================

A second call right after changes nothing (every list empty).
"""

from __future__ import annotations

import logging
from typing import Any

from LIVE_TRADING.common.constants import EVENT_CANCEL, EVENT_ORDER, OPEN_STATUSES, STATUS_CANCELLED

logger = logging.getLogger(__name__)


def reconcile(broker: Any, *, fills_before: set[str] | None = None) -> dict[str, Any]:
    """See the module docstring."""
    with broker._lock:
        return broker._run(lambda: _reconcile(broker, fills_before))


def _same(journaled: dict[str, Any], result: dict[str, Any]) -> bool:
    return journaled.get("status") == result["status"] and abs(
        float(journaled.get("filled_qty") or 0.0) - float(result["filled_qty"])) <= 1e-9


async def _reconcile(broker: Any, fills_before: set[str] | None) -> dict[str, Any]:
    conn = broker.conn
    await conn.ensure_connected()
    before = set(broker._journaled_fills) if fills_before is None else set(fills_before)
    summary: dict[str, list[dict[str, Any]]] = {
        "fills_added": [], "orders_adopted": [], "orders_resolved": [], "unknown": []}
    ib = conn.ib
    async with broker._remote_lock:
        open_trades = await conn.request(ib.reqAllOpenOrdersAsync(), "the open orders")
        completed = await conn.request(ib.reqCompletedOrdersAsync(False), "the completed orders")
    await broker._journal_new_fills(wait=True)
    journal = broker._journal_orders
    listed: set[str] = set()
    for trade in list(open_trades):
        if not broker._perm(trade) or not broker._account_ok(getattr(trade.order, "account", "")):
            continue
        session = broker._find_by_perm(broker._perm(trade)) or trade
        result = broker._result(session)
        if result["status"] not in OPEN_STATUSES:
            continue
        key = result["order_id"]
        listed.add(key)
        ref = str(getattr(trade.order, "orderRef", "") or "")
        if key in journal:
            if not _same(journal[key], result):
                _note(broker, result, session, EVENT_ORDER)
        elif ref.startswith(broker.client_id_prefix) or ref in broker._journal_refs:
            _note(broker, result, session, EVENT_ORDER)
            summary["orders_adopted"].append(result)
        else:
            summary["unknown"].append(result)
    for key, record in sorted(journal.items()):
        if record.get("status") not in OPEN_STATUSES or key in listed or not str(key).isdigit():
            continue
        perm = int(key)
        trade = broker._find_by_perm(perm, list(completed)) or broker._find_by_perm(perm)
        if trade is None:
            summary["unknown"].append(dict(record))
            continue
        result = broker._result(trade)
        if result["status"] in OPEN_STATUSES:
            continue
        _note(broker, result, trade, EVENT_CANCEL if result["status"] == STATUS_CANCELLED else EVENT_ORDER)
        summary["orders_resolved"].append(result)
    fills = {f.execution.execId: f for f in ib.fills()}
    summary["fills_added"] = [broker._fill_dict(fills[e]) for e in sorted(broker._journaled_fills - before)
                              if e in fills]
    if any(summary.values()):
        logger.info("IBKR reconciliation: %s", {k: len(v) for k, v in summary.items()})
    return summary


def _note(broker: Any, result: dict[str, Any], trade: Any, event: str) -> None:
    broker._journal_order_event(event, result, trade, reconciled=True)
    broker._journal_orders[result["order_id"]] = dict(result)
    meta = broker._meta_for(trade)
    if meta is not None and event == EVENT_CANCEL:
        meta.journaled_status = result["status"]


__all__ = ["reconcile"]
