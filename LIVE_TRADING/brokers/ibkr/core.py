"""Core of ``IBKRBroker``: finding orders, building ``OrderResult`` / ``Fill`` dicts, the journal.

See ``broker.py`` for the whole adapter; ``orders.py`` and ``broker.py`` build on this class.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from LIVE_TRADING.brokers.ibkr import parsing
from LIVE_TRADING.brokers.ibkr.config import IBKRSettings
from LIVE_TRADING.brokers.ibkr.connection import IBConnection, IBError
from LIVE_TRADING.brokers.ibkr.contracts import ContractResolver
from LIVE_TRADING.brokers.ibkr.data import MarketData
from LIVE_TRADING.common.clock import Clock, ensure_utc
from LIVE_TRADING.common.constants import (
    EVENT_CANCEL,
    EVENT_EXPIRE,
    EVENT_FILL,
    QTY_EPSILON,
    STATUS_CANCELLED,
    STATUS_EXPIRED,
)
from LIVE_TRADING.common.ids import new_client_order_id as make_client_order_id
from LIVE_TRADING.common.journal import Journal

logger = logging.getLogger(__name__)

VENUE = parsing.VENUE
_MAX_ERRORS = 5000


def new_client_order_id() -> str:
    """A fresh ``client_order_id`` (``lt-`` + 24 hex digits; fits every venue's rule)."""
    return make_client_order_id("lt-", 24)


@dataclass
class _OrderMeta:
    """What we know about an order we placed, beyond what IB echoes back."""

    client_order_id: str
    symbol: str
    side: str
    order_type: str
    qty: float
    limit_price: float | None
    stop_price: float | None
    time_in_force: str
    created: datetime
    generation: int
    ib_order_id: int
    client_id: int
    perm_id: int = 0
    cancel_requested: bool = False
    journaled_status: str | None = None
    trail_amount: float | None = None
    trail_percent: float | None = None
    limit_offset: float | None = None
    parent_order_id: str | None = None  # bracket exit: the entry's order id (permId)
    order_list_id: str | None = None  # bracket / OCO: the group (IB ocaGroup)


class IBKRCore:
    """Order lookups, results and journaling of an IB account (state set up by ``IBKRBroker``)."""

    venue = VENUE
    # state set up by ``IBKRBroker.__init__``
    settings: IBKRSettings
    clock: Clock
    conn: IBConnection
    journal: Journal
    resolver: ContractResolver
    market: MarketData
    client_id_prefix: str
    last_reconcile: dict[str, Any] | None
    _lock: Any  # threading.RLock
    _remote_lock: asyncio.Lock
    _meta_by_perm: dict[int, _OrderMeta]
    _meta_by_ref: dict[str, _OrderMeta]
    _order_errors: dict[tuple[int, int], list[IBError]]
    _status_override: dict[int, str]
    _confirmed_rejects: dict[tuple[int, int], IBError]
    _journaled_fills: set[str]
    _journal_refs: dict[str, str]
    _journal_orders: dict[str, dict[str, Any]]  # order id -> last order / cancel / expire record

    def _run(self, coro_fn: Any) -> Any:
        return self.conn.run(coro_fn)

    @staticmethod
    def _perm(trade: Any) -> int:
        return int(getattr(trade.order, "permId", 0) or getattr(trade.orderStatus, "permId", 0) or 0)

    def _account_ok(self, account: str | None) -> bool:
        mine = self.conn.account
        return not mine or not account or account == mine

    def _find_by_perm(self, perm: int, trades: list[Any] | None = None) -> Any:
        for trade in trades if trades is not None else self.conn.ib.trades():
            if self._perm(trade) == perm:
                return trade
        return None

    def _find_by_ref(self, ref: str, trades: list[Any] | None = None) -> Any:
        found = None
        for trade in trades if trades is not None else self.conn.ib.trades():
            if getattr(trade.order, "orderRef", "") == ref and (
                found is None or (self._perm(trade) and not self._perm(found))
            ):
                found = trade
        return found

    async def _find_remote(self, *, perm: int | None = None, ref: str | None = None) -> Any:
        """Ask IB for every open order (all clients) and today's completed orders, then search."""
        ib = self.conn.ib
        async with self._remote_lock:
            open_trades = await self.conn.request(ib.reqAllOpenOrdersAsync(), "the open orders")
            completed = await self.conn.request(ib.reqCompletedOrdersAsync(False), "the completed orders")
        for pool in (list(ib.trades()), list(open_trades), list(completed)):
            trade = self._find_by_perm(perm, pool) if perm else self._find_by_ref(ref or "", pool)
            # only an order IB has numbered (permId) proves that IB has it: our own record of an
            # order TWS never acknowledged does not
            if trade is not None and self._perm(trade):
                return trade
        return None

    def _meta_for(self, trade: Any) -> _OrderMeta | None:
        perm = self._perm(trade)
        meta = self._meta_by_perm.get(perm) if perm else None
        if meta is None:
            meta = self._meta_by_ref.get(getattr(trade.order, "orderRef", "") or "")
            if meta is not None and perm and meta.perm_id in (0, perm):
                meta.perm_id = perm
                self._meta_by_perm[perm] = meta
            elif meta is not None and perm and meta.perm_id != perm:
                meta = None
        return meta

    def _errors_of(self, meta: _OrderMeta | None) -> list[IBError]:
        if meta is None:
            return []
        return self._order_errors.get((meta.generation, meta.ib_order_id), [])

    def _reject_error(self, meta: _OrderMeta | None) -> IBError | None:
        if meta is not None and (meta.generation, meta.ib_order_id) in self._confirmed_rejects:
            return self._confirmed_rejects[(meta.generation, meta.ib_order_id)]
        for err in self._errors_of(meta):
            if parsing.order_error_kind(err.code) == "reject":
                return err
        return None

    def _fills_of(self, perm: int) -> list[Any]:
        fills = [f for f in self.conn.ib.fills() if int(f.execution.permId or 0) == perm]
        keep = parsing.latest_executions([f.execution.execId for f in fills])
        return [f for f in fills if f.execution.execId in keep]

    @staticmethod
    def _commission(fill: Any) -> float:
        value = float(getattr(fill.commissionReport, "commission", 0.0) or 0.0)
        return value if math.isfinite(value) and abs(value) < 1e300 else 0.0

    def _result(self, trade: Any) -> dict[str, Any]:
        order, status = trade.order, trade.orderStatus
        unset = float(self.conn.module.util.UNSET_DOUBLE)
        perm = self._perm(trade)
        meta = self._meta_for(trade)
        fills = self._fills_of(perm) if perm else []
        from_fills = sum(float(f.execution.shares) for f in fills)
        filled = max(float(status.filled or 0.0), from_fills)
        filled_quantity = float(getattr(order, "filledQuantity", unset) or 0.0)
        if 0 < filled_quantity < unset:
            filled = max(filled, filled_quantity)
        qty = meta.qty if meta else float(order.totalQuantity)
        tif = meta.time_in_force if meta else parsing.tif_from_ib(order.tif)
        ib_status = self._status_override.get(perm) or status.status
        status_word = parsing.derive_status(
            ib_status,
            qty=qty,
            filled=filled,
            rejected=self._reject_error(meta) is not None,
            cancel_requested=bool(meta and meta.cancel_requested),
            time_in_force=tif,
        )
        if fills and from_fills > 0:
            fill_price: float | None = sum(float(f.execution.shares) * float(f.execution.price) for f in fills) / from_fills
        else:
            avg = float(status.avgFillPrice or 0.0)
            fill_price = avg if filled > QTY_EPSILON and 0 < avg < unset else None
        if meta is not None:
            created = meta.created
        else:
            times = [ensure_utc(f.execution.time) for f in fills if isinstance(f.execution.time, datetime)]
            times += [ensure_utc(e.time) for e in trade.log if isinstance(e.time, datetime) and e.time.tzinfo]
            created = min(times) if times else self.clock()
        return {
            "order_id": str(perm) if perm else "",
            "client_order_id": (meta.client_order_id if meta else getattr(order, "orderRef", "")) or None,
            "symbol": meta.symbol if meta else self.resolver.symbol_for(trade.contract),
            "side": meta.side if meta else str(order.action).upper(),
            "order_type": meta.order_type if meta else parsing.order_type_from_ib(order.orderType),
            "qty": qty,
            "filled_qty": filled,
            "status": status_word,
            "fill_price": fill_price,
            "fee": sum((self._commission(f) for f in fills), 0.0),
            "limit_price": meta.limit_price if meta else parsing.clean_price(order.lmtPrice, unset),
            "stop_price": meta.stop_price if meta else parsing.clean_price(order.auxPrice, unset),
            "time_in_force": tif,
            "timestamp": created,
            "venue": VENUE,
            **self._extras(trade, meta, unset),
        }

    def _extras(self, trade: Any, meta: _OrderMeta | None, unset: float) -> dict[str, Any]:
        """The optional ``OrderResult`` keys: trailing fields, bracket parent, group (only when they apply)."""
        order = trade.order
        out: dict[str, Any] = {}
        if str(getattr(order, "orderType", "")).upper() in ("TRAIL", "TRAIL LIMIT"):
            pct = parsing.clean_price(getattr(order, "trailingPercent", None), unset)
            out["trail_percent"] = meta.trail_percent if meta else pct
            out["trail_amount"] = meta.trail_amount if meta else (
                None if pct else parsing.clean_price(order.auxPrice, unset))
            out["limit_offset"] = meta.limit_offset if meta else parsing.clean_price(
                getattr(order, "lmtPriceOffset", None), unset)
            out["trigger_price"] = parsing.clean_price(getattr(order, "trailStopPrice", None), unset)
        parent = meta.parent_order_id if meta else None
        if parent is None and int(getattr(order, "parentId", 0) or 0) > 0:
            found = next((t for t in self.conn.ib.trades() if int(t.order.orderId or 0) == int(order.parentId)
                          and int(t.order.clientId or 0) == int(order.clientId or 0) and self._perm(t)), None)
            parent = str(self._perm(found)) if found is not None else None
        journaled = self._journal_orders.get(str(self._perm(trade))) or {}
        parent = parent or journaled.get("parent_order_id")  # an exit placed by an earlier session
        if parent is not None:
            out["parent_order_id"] = parent
        group = ((meta.order_list_id if meta else None) or (getattr(order, "ocaGroup", "") or None)
                 or journaled.get("order_list_id"))
        if group:
            out["order_list_id"] = group
        return out

    def _fill_dict(self, fill: Any) -> dict[str, Any]:
        ex, report = fill.execution, fill.commissionReport
        qty = float(ex.shares)
        price = float(ex.price)
        when = ex.time if isinstance(ex.time, datetime) and ex.time.tzinfo else fill.time
        return {
            "order_id": str(int(ex.permId or 0)),
            "fill_id": str(ex.execId),
            "timestamp": ensure_utc(when),
            "symbol": self.resolver.symbol_for(fill.contract),
            "side": parsing.EXEC_SIDE.get(str(ex.side).upper(), str(ex.side).upper()),
            "qty": qty,
            "fill_price": price,
            "notional": qty * price,
            "fee": self._commission(fill),
            "fee_currency": str(getattr(report, "currency", "") or getattr(fill.contract, "currency", "")),
            "venue": VENUE,
        }

    def _journal_order_event(self, event: str, result: dict[str, Any], trade: Any, **extra: Any) -> None:
        record = dict(result)
        record.update(
            ib_order_id=int(getattr(trade.order, "orderId", 0) or 0),
            perm_id=self._perm(trade),
            client_id=int(getattr(trade.order, "clientId", 0) or self.conn.client_id),
            account=getattr(trade.order, "account", "") or self.conn.account,
            ib_status=trade.orderStatus.status,
        )
        record.update(extra)
        self.journal.write(event, record)
        if record.get("order_id"):
            self._journal_orders[str(record["order_id"])] = record

    def _journal_status(self, meta: _OrderMeta | None, result: dict[str, Any], trade: Any) -> None:
        """A cancel / expire record the first time an order is seen in that final state."""
        status = result["status"]
        event = {STATUS_CANCELLED: EVENT_CANCEL, STATUS_EXPIRED: EVENT_EXPIRE}.get(status)
        if event is None or meta is None or meta.journaled_status == status:
            return
        self._journal_order_event(event, result, trade)
        meta.journaled_status = status

    def _fill_ready(self, fill: Any, now: datetime) -> bool:
        if getattr(fill.commissionReport, "execId", ""):
            return True
        when = fill.time if isinstance(fill.time, datetime) and fill.time.tzinfo else None
        return when is None or (now - when) >= timedelta(seconds=self.conn.settings.commission_wait_s)

    async def _journal_new_fills(self, *, wait: bool) -> None:
        """Journal every execution not journaled yet (waiting up to ``commission_wait_s`` for fees)."""
        def pending() -> list[Any]:
            return [
                f for f in self.conn.ib.fills()
                if f.execution.execId not in self._journaled_fills and self._account_ok(f.execution.acctNumber)
            ]

        if wait:
            await self.conn.wait_until(
                lambda: all(getattr(f.commissionReport, "execId", "") for f in pending()),
                self.conn.settings.commission_wait_s,
            )
        now = datetime.now(UTC)
        seen_bases = {parsing.exec_base_id(e) for e in self._journaled_fills}
        for fill in sorted(pending(), key=lambda f: (f.execution.execId)):
            if not wait and not self._fill_ready(fill, now):
                continue
            record = self._fill_dict(fill)
            record.update(
                exec_id=fill.execution.execId,
                perm_id=int(fill.execution.permId or 0),
                ib_order_id=int(fill.execution.orderId or 0),
                account=fill.execution.acctNumber,
                exchange=fill.execution.exchange,
                fee_reported=bool(getattr(fill.commissionReport, "execId", "")),
                correction=parsing.exec_base_id(fill.execution.execId) in seen_bases,
            )
            self.journal.write(EVENT_FILL, record)
            self._journaled_fills.add(fill.execution.execId)


__all__ = ["VENUE", "IBKRCore", "_OrderMeta", "new_client_order_id"]
