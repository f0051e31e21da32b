"""Rebuild a paper account's state from its journal (``PaperBroker(resume=True)``)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from LIVE_TRADING.brokers.paper.orders import PaperOrder
from LIVE_TRADING.brokers.validation import OrderRequest
from LIVE_TRADING.common.constants import (
    EVENT_CANCEL,
    EVENT_EXPIRE,
    EVENT_FILL,
    EVENT_ORDER,
    EVENT_REJECT,
    EVENT_SESSION,
    ORDER_TYPE_LIMIT,
    ORDER_TYPE_MARKET,
    ORDER_TYPE_STOP,
    ORDER_TYPE_STOP_LIMIT,
    STATUS_CANCELLED,
    STATUS_EXPIRED,
    STATUS_FILLED,
    STATUS_REJECTED,
    TIF_DAY,
)
from LIVE_TRADING.common.journal import iter_records

if TYPE_CHECKING:
    from LIVE_TRADING.brokers.paper.broker import PaperBroker

logger = logging.getLogger(__name__)


def replay_run(self: PaperBroker, run_id: str) -> None:
    """Rebuild state from the journal records of ``run_id`` (resume)."""
    first_session = True
    max_seq = 0
    count = 0
    for rec in iter_records(self._log_dir, run_id):
        count += 1
        event = rec["event"]
        if event == EVENT_SESSION:
            if first_session:
                self._initial_cash = float(rec.get("initial_cash", self._initial_cash))
                self._cash = self._initial_cash
                first_session = False
        elif event == EVENT_ORDER:
            order = self._orders.get(rec["order_id"])
            if order is None:
                req = OrderRequest(
                    rec["symbol"], rec["side"], float(rec["qty"]), rec["order_type"], rec.get("limit_price"),
                    rec.get("stop_price"), rec["time_in_force"], rec.get("client_order_id"),
                )
                order = PaperOrder(rec["order_id"], req, datetime.fromisoformat(rec["created"]), rec["created"])
                self._orders[order.order_id] = order
                self._open[order.order_id] = order
                if order.client_order_id:
                    self._by_cid[order.client_order_id] = order
                seq = rec["order_id"].rsplit("-", 1)[-1]
                if seq.isdigit():
                    max_seq = max(max_seq, int(seq))
            order.triggered = bool(rec.get("triggered"))
            order.cap_price = rec.get("cap_price")
            order.expires_at = datetime.fromisoformat(rec["expires_at"]) if rec.get("expires_at") else None
        elif event == EVENT_FILL:
            order = self._orders.get(rec["order_id"])
            if order is None:
                logger.warning("Journal fill %s refers to unknown order %s; skipped", rec.get("fill_id"),
                               rec.get("order_id"))
                continue
            fill: dict[str, Any] = {k: rec[k] for k in (
                "order_id", "fill_id", "symbol", "side", "qty", "fill_price", "notional", "fee",
                "fee_currency", "venue", "slippage_bps", "fee_bps", "liquidity") if k in rec}
            fill["timestamp"] = datetime.fromisoformat(rec["timestamp"])
            self._apply_fill(order, fill, rec.get("status", STATUS_FILLED))
        elif event in (EVENT_CANCEL, EVENT_EXPIRE, EVENT_REJECT) and rec.get("order_id"):
            order = self._orders.get(rec["order_id"])
            if order is not None and order.is_open:
                self._close(order, rec.get("status") or {
                    EVENT_CANCEL: STATUS_CANCELLED, EVENT_EXPIRE: STATUS_EXPIRED}.get(event, STATUS_REJECTED))
    self._seq = max_seq
    # Open orders go back into the book with their reservations.
    for order in list(self._open.values()):
        self._reserve(order)
        if order.tif == TIF_DAY:
            self._schedule_expiry(order)
        book = self._book(order.symbol)
        if order.order_type == ORDER_TYPE_MARKET:  # queued while the market was closed
            book.rest_at_open(order)
        elif order.order_type in (ORDER_TYPE_LIMIT,) or (order.order_type == ORDER_TYPE_STOP_LIMIT and order.triggered):
            book.rest_limit(order, order.is_buy)
        elif order.order_type in (ORDER_TYPE_STOP, ORDER_TYPE_STOP_LIMIT) and not order.triggered:
            book.rest_stop(order, order.is_buy)
    logger.info("Resumed paper run %s from %d journal records: cash %.2f, %d positions, %d open orders",
                run_id, count, self._cash, len(self.get_positions()), len(self._open))



__all__ = ["replay_run"]
