"""The paper account's state and the one way it changes: ``apply_*``.

Every change is first written to the journal as one record, then applied here
by the same methods that recovery uses to replay the journal, so a broker
rebuilt from its journal cannot differ from the one that wrote it. Nothing
here does I/O, reads a clock or decides anything: deciding what fills is the
engine's job (``engine``), writing is the broker's.

Memory stays bounded: open orders are always here; orders that ended and
fills are kept for a window (``journal.keep_terminal_orders``) and older ones
are read back from the journal when asked for (``recovery``).
"""

from __future__ import annotations

import heapq
from collections import deque
from datetime import datetime
from typing import Any

from LIVE_TRADING.brokers.paper import costs
from LIVE_TRADING.brokers.paper.ledger import Position
from LIVE_TRADING.brokers.paper.matching import AS_LIMIT, AS_OPEN, AS_STOP, SymbolBook
from LIVE_TRADING.brokers.paper.orders import PaperOrder
from LIVE_TRADING.brokers.validation import OrderRequest
from LIVE_TRADING.common.constants import FINAL_STATUSES, ORDER_TYPE_LIMIT, ORDER_TYPE_MARKET, QTY_EPSILON


class PaperState:
    """Cash, positions, orders, fills and books of one paper account."""

    def __init__(self, initial_cash: float, slippage: costs.SlippageModel, fees: costs.FeeModel,
                 keep_terminal: int = 10_000) -> None:
        self.slippage = slippage
        self.fees = fees
        self.keep_terminal = max(0, int(keep_terminal))
        self.tag = ""
        self.currency = "USD"
        self.reset(initial_cash, 0, "", None)

    def reset(self, initial_cash: float, seq: int, run_id: str, started: datetime | None) -> None:
        """Start a run ``run_id`` with ``initial_cash`` (an ``open`` or ``reset`` record at ``seq``, time ``started``)."""
        self.run_id = run_id
        self.run_started = started
        self.initial_cash = float(initial_cash)
        self.cash = float(initial_cash)
        self.reserved_cash = 0.0
        self.reserved_sell: dict[str, float] = {}
        self.positions: dict[str, Position] = {}
        self.orders: dict[str, PaperOrder] = {}
        self.open: dict[str, PaperOrder] = {}
        #: client_order_id -> (order_id, the request it was placed with), kept for the account's life
        self.by_cid: dict[str, tuple[str, OrderRequest]] = {}
        self.fills: deque[tuple[int, dict[str, Any]]] = deque()
        self.terminal: deque[str] = deque()
        self.books: dict[str, SymbolBook] = {}
        self.expiries: list[tuple[datetime, int, PaperOrder]] = []
        self.epoch_seq = seq
        #: fills with a seq below this are no longer in memory (read them from the journal)
        self.fills_from_seq = seq + 1

    # -- applying records ----------------------------------------------------------------
    def apply_order(self, order: PaperOrder, fills: list[dict[str, Any]], status: str, rest: str | None,
                    seq: int) -> None:
        """An order was accepted (record ``order``), with the fills it took at once and where it rests."""
        order.seq = seq
        oid = order.order_id
        self.orders[oid] = order
        if order.client_order_id is not None:
            self.by_cid[order.client_order_id] = (oid, order.request())
        for fill in fills:
            self._fill(order, fill, seq)
        if status in FINAL_STATUSES:  # done at once (a market order): it never rests or reserves
            order.status = status
            self._ended(oid)
            return
        self.open[oid] = order
        self._settle(order, status, rest, seq)
        if order.is_open and order.expires_at is not None:
            heapq.heappush(self.expiries, (order.expires_at, order.seq, order))

    def apply_fill(self, order_id: str, fill: dict[str, Any], status: str, rest: str | None, seq: int,
                   triggered: bool = False) -> None:
        """A resting order filled (record ``fill``); ``status`` is its status after the fill."""
        order = self.open[order_id]
        if triggered:
            self._trigger(order)
        self._fill(order, fill, seq)
        self._settle(order, status, rest, seq)

    def apply_trigger(self, order_id: str, seq: int) -> None:
        """A stop-limit reached its stop and rests as a limit from now on (record ``trigger``)."""
        order = self.open[order_id]
        self._trigger(order)
        self._settle(order, order.status, AS_LIMIT, seq)

    def apply_end(self, order_id: str, status: str) -> None:
        """An open order was cancelled, expired or rejected (records ``cancel``, ``expire``, ``reject``)."""
        self._close(self.open[order_id], status)

    # -- internals ------------------------------------------------------------------------
    def _trigger(self, order: PaperOrder) -> None:
        order.triggered = True
        if order.queue is not None and order.resting == AS_STOP:
            order.queue.discard(order)

    def _fill(self, order: PaperOrder, fill: dict[str, Any], seq: int) -> None:
        qty, notional, fee = fill["qty"], fill["notional"], fill["fee"]
        if order.is_buy:
            self.cash -= notional + fee
        else:
            self.cash += notional - fee
        pos = self.positions.get(order.symbol)
        if pos is None:
            pos = self.positions[order.symbol] = Position()
        pos.apply(order.is_buy, qty, fill["fill_price"], fee)
        order.filled_qty += qty
        order.filled_notional += notional
        order.fee += fee
        order.nfills += 1
        fills = self.fills
        fills.append((seq, fill))
        if len(fills) > self.keep_terminal:
            self.fills_from_seq = fills.popleft()[0] + 1
            while fills and fills[0][0] < self.fills_from_seq:
                fills.popleft()

    def _settle(self, order: PaperOrder, status: str, rest: str | None, seq: int) -> None:
        """After a change: close a final order, else recompute its reservation and (re)queue it."""
        if status in FINAL_STATUSES:
            self._close(order, status)
            return
        order.status = status
        self.reserve(order)
        if rest is not None and order.resting != rest:
            if order.queue is not None:
                order.queue.discard(order)
            order.rest_seq = seq
            self._queue(order, rest)

    def _queue(self, order: PaperOrder, rest: str) -> None:
        book = self.books.get(order.symbol)
        if book is None:
            book = self.books[order.symbol] = SymbolBook()
        if rest == AS_LIMIT:
            book.rest_limit(order, order.is_buy)
        elif rest == AS_OPEN:
            book.rest_at_open(order)
        else:
            book.rest_stop(order, order.is_buy)

    def _close(self, order: PaperOrder, status: str) -> None:
        order.status = status
        if order.queue is not None:
            order.queue.discard(order)
        self.release(order)
        self.open.pop(order.order_id, None)
        self._ended(order.order_id)

    def _ended(self, order_id: str) -> None:
        """An order ended: it stays in memory for the window, then only the journal has it."""
        terminal = self.terminal
        terminal.append(order_id)
        if len(terminal) > self.keep_terminal:
            self.orders.pop(terminal.popleft(), None)

    # -- reservations ------------------------------------------------------------------------
    def buy_cap(self, order: PaperOrder, qty: float) -> float:
        """The most a BUY can cost per unit: its limit, or its stop plus slippage."""
        if order.limit_price is not None:
            return order.limit_price
        if order.cap_price is not None:  # a market order queued for the open
            return order.cap_price
        assert order.stop_price is not None  # a buy without a limit is a stop
        return costs.apply_slippage(order.stop_price, True, self.slippage.bps(qty, qty))

    def reserve(self, order: PaperOrder) -> None:
        """(Re)compute what the open ``order`` holds back for its remaining quantity."""
        self.release(order)
        remaining = order.qty - order.filled_qty
        if remaining <= QTY_EPSILON:
            return
        if order.is_buy:
            notional = self.buy_cap(order, remaining) * remaining
            order.reserved_cash = notional + self.fees.max_fee(remaining, notional)
            self.reserved_cash += order.reserved_cash
        else:
            order.reserved_qty = remaining
            self.reserved_sell[order.symbol] = self.reserved_sell.get(order.symbol, 0.0) + remaining

    def release(self, order: PaperOrder) -> None:
        if order.reserved_cash:
            self.reserved_cash -= order.reserved_cash
            if abs(self.reserved_cash) < 1e-9:
                self.reserved_cash = 0.0
            order.reserved_cash = 0.0
        if order.reserved_qty:
            left = self.reserved_sell.get(order.symbol, 0.0) - order.reserved_qty
            if left <= QTY_EPSILON:
                self.reserved_sell.pop(order.symbol, None)
            else:
                self.reserved_sell[order.symbol] = left
            order.reserved_qty = 0.0

    # -- snapshots -----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The whole state as plain data (a ``snapshot`` record's ``state``)."""
        orders = []
        for o in sorted(self.open.values(), key=lambda o: o.seq):
            d = o.state()
            d["resting"] = o.resting
            orders.append(d)
        return {
            "tag": self.tag,
            "currency": self.currency,
            "run_id": self.run_id,
            "run_started": self.run_started,
            "initial_cash": self.initial_cash,
            "cash": self.cash,
            "epoch_seq": self.epoch_seq,
            "positions": {s: [p.qty, p.avg_cost, p.realized_pnl, p.fees] for s, p in self.positions.items()},
            "open_orders": orders,
            "client_order_ids": {cid: [oid, *req] for cid, (oid, req) in self.by_cid.items()},
        }

    def restore(self, snap: dict[str, Any], seq: int) -> None:
        """Replace the state with a snapshot taken at ``seq``."""
        started = snap.get("run_started")
        self.reset(snap["initial_cash"], snap["epoch_seq"], snap["run_id"],
                   datetime.fromisoformat(started) if isinstance(started, str) else started)
        self.tag, self.currency = snap["tag"], snap["currency"]
        self.cash = snap["cash"]
        self.fills_from_seq = seq + 1
        for sym, (qty, avg, realized, fees) in snap["positions"].items():
            p = self.positions[sym] = Position()
            p.qty, p.avg_cost, p.realized_pnl, p.fees = qty, avg, realized, fees
        for cid, (oid, *req) in snap["client_order_ids"].items():
            self.by_cid[cid] = (oid, OrderRequest(*req))
        for d in snap["open_orders"]:
            order = PaperOrder.from_record(d)
            self.orders[order.order_id] = order
            self.open[order.order_id] = order
            self.reserve(order)
            if d.get("resting"):
                self._queue(order, d["resting"])
            if order.expires_at is not None:
                heapq.heappush(self.expiries, (order.expires_at, order.seq, order))

    # -- reading ---------------------------------------------------------------------------------
    def rest_kind(self, order: PaperOrder) -> str:
        """Where an accepted, unfilled order rests: the at-open, limit or stop queue."""
        if order.order_type == ORDER_TYPE_MARKET:
            return AS_OPEN
        return AS_LIMIT if order.order_type == ORDER_TYPE_LIMIT or order.triggered else AS_STOP


__all__ = ["PaperState"]
