"""The paper account's state and the one way it changes: ``apply_*``.

Every change is first written to the journal as one record, then applied here
by the same methods that recovery uses to replay the journal, so a broker
rebuilt from its journal cannot differ from the one that wrote it. Nothing
here does I/O, reads a clock or decides anything: deciding what fills is the
engine's job (``engine``), writing is the broker's.

Memory stays bounded: open orders are always here; orders that ended and
fills are kept for a window (``journal.keep_terminal_orders``) and older ones
are read back from the journal when asked for (``recovery``).

A market order that filled in full at once (most orders of a pipeline or a
backtest) is kept compact: ``apply_market`` stores a ``CompactMarket`` tuple in
``orders`` (instead of a ``PaperOrder``), its fill as the values of the journal
record's compact fill; ``order_result`` and ``fills_in_memory`` give the public
shapes. Tuples of plain values only, so the garbage collector stops tracking
them within its first two passes, before they reach its oldest generation (a
tuple holding a dict is tracked for as long as it lives, and a window of them
makes every full collection longer and more frequent).

Why one module of ~510 lines: every change of the paper account's state is an ``apply_*`` method of
this one class, on purpose: live trading and recovery both call these and nothing else changes
state.
"""

from __future__ import annotations

import heapq
import operator
from collections import deque
from datetime import datetime
from typing import Any

from LIVE_TRADING.brokers.paper import costs
from LIVE_TRADING.brokers.paper.ledger import Position
from LIVE_TRADING.brokers.paper.matching import AS_LIMIT, AS_OPEN, AS_STOP, SymbolBook
from LIVE_TRADING.brokers.paper.orders import COMPACT_FILL_KEYS, VENUE, PaperOrder, public_fill
from LIVE_TRADING.brokers.validation import OrderRequest
from LIVE_TRADING.common.constants import (
    FINAL_STATUSES,
    ORDER_TYPE_LIMIT,
    ORDER_TYPE_MARKET,
    QTY_EPSILON,
    STATUS_FILLED,
    TIF_GTC,
)

#: the exit of a pair that holds no reservation of its own (its sibling holds one for both)
SECONDARY_ROLES = frozenset({"sl", "stop"})
#: ``PaperOrder.result()`` of a market order (gtc, no client id) that filled at once: the fields all such share
MARKET_RESULT: dict[str, Any] = {
    "order_id": None, "client_order_id": None, "symbol": None, "side": None, "order_type": ORDER_TYPE_MARKET,
    "qty": None, "filled_qty": None, "status": STATUS_FILLED, "fill_price": None, "fee": None, "limit_price": None,
    "stop_price": None, "time_in_force": TIF_GTC, "timestamp": None, "venue": VENUE,
}
#: a market order ``apply_market`` applied, as kept in memory: (order_id, symbol, side, qty, timestamp,
#: its fill's values in ``COMPACT_FILL_KEYS`` order)
CompactMarket = tuple[str, str, str, float, datetime, tuple[Any, ...]]
#: a compact fill dict's values, in ``COMPACT_FILL_KEYS`` order
fill_values = operator.itemgetter(*COMPACT_FILL_KEYS)
_FILL_QTY, _FILL_NOTIONAL, _FILL_FEE = (COMPACT_FILL_KEYS.index(k) for k in ("qty", "notional", "fee"))


def market_result(
    order_id: str, symbol: str, side: str, qty: float, ts: datetime, fill: tuple[Any, ...]
) -> dict[str, Any]:
    """``PaperOrder.result()`` (a new dict) of a market order (gtc, no client id) filled in full at once.

    ``fill``: its fill's values (``fill_values``). Its sums start at 0.0, as an order's do;
    ``*CompactMarket`` are its arguments.
    """
    out = MARKET_RESULT.copy()
    out["order_id"] = order_id
    out["symbol"] = symbol
    out["side"] = side
    out["qty"] = qty
    out["filled_qty"] = filled = 0.0 + fill[_FILL_QTY]
    out["fill_price"] = (0.0 + fill[_FILL_NOTIONAL]) / filled
    out["fee"] = 0.0 + fill[_FILL_FEE]
    out["timestamp"] = ts
    return out


def trail_trigger(order: PaperOrder, bid: float, ask: float) -> float:
    """A trailing stop's trigger for a quote: ``bid - trail`` for a SELL, ``ask + trail`` for a BUY."""
    if order.is_buy:
        return ask + order.trail_amount if order.trail_amount is not None else ask * (1 + (order.trail_percent or 0.0) / 100)
    return bid - order.trail_amount if order.trail_amount is not None else bid * (1 - (order.trail_percent or 0.0) / 100)


def trail_limit(order: PaperOrder) -> float:
    """A trailing stop-limit's limit once triggered: trigger - offset (SELL), trigger + offset (BUY)."""
    assert order.stop_price is not None and order.limit_offset is not None
    return order.stop_price + order.limit_offset if order.is_buy else order.stop_price - order.limit_offset


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
        #: order id -> the order; an order that ``apply_market`` applied is a ``CompactMarket`` (``order_result``)
        self.orders: dict[str, PaperOrder | CompactMarket] = {}
        self.open: dict[str, PaperOrder] = {}
        #: client_order_id -> (order_id, the request it was placed with), kept for the account's life
        self.by_cid: dict[str, tuple[str, OrderRequest]] = {}
        #: a bracket's / OCO's client_order_id -> [list id, kind, *its validated request], kept for the account's life
        self.list_cids: dict[str, list[Any]] = {}
        #: (seq, fill, order): a public ``Fill`` dict and ``None``, or (``apply_market``) ``None`` and the
        #: ``CompactMarket`` that holds the fill; ``fills_in_memory`` gives the public ones
        self.fills: deque[tuple[int, dict[str, Any] | None, CompactMarket | None]] = deque()
        self.terminal: deque[str] = deque()
        self.books: dict[str, SymbolBook] = {}
        self.expiries: list[tuple[datetime, int, PaperOrder]] = []
        #: open trailing stops by symbol (order_id -> order): the only orders a quote may move
        self.trailing: dict[str, dict[str, PaperOrder]] = {}
        #: open bracket / OCO groups: list id -> {role: leg}
        self.lists: dict[str, dict[str, PaperOrder]] = {}
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
        if order.is_trailing and order.is_open and not order.triggered:
            self.trailing.setdefault(order.symbol, {})[order.order_id] = order

    def apply_market(self, order_id: str, symbol: str, side: str, is_buy: bool, qty: float, ts: datetime,
                     fill: dict[str, Any], seq: int) -> dict[str, Any]:
        """A market order (gtc, no client id) that filled in full at once with one fill (record ``order``).

        What ``apply_order`` does for such an order, without building a
        ``PaperOrder``: the order is kept as a ``CompactMarket`` tuple that
        holds the values of the record's compact ``fill`` (``COMPACT_FILL_KEYS``);
        it stays for the terminal window like any ended order. Returns the
        order's result (``market_result``: a new dict, the caller's).
        """
        self._book(symbol, is_buy, fill["qty"], fill["fill_price"], fill["notional"], fill["fee"])
        kept = (order_id, symbol, side, qty, ts, fill_values(fill))
        self.orders[order_id] = kept
        self._remember_fill((seq, None, kept))
        self._ended(order_id)
        return market_result(*kept)

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

    # -- issue 14: modify, trailing stops, brackets and OCOs ------------------------------
    def apply_modify(self, order_id: str, qty: float, limit_price: float | None, stop_price: float | None,
                     fills: list[dict[str, Any]], status: str, rest: str | None, keep_priority: bool,
                     triggered: bool, seq: int) -> None:
        """An open order was modified (record ``modify``), with the fills it took at once.

        ``keep_priority``: only the quantity went down, the order keeps its place
        (``rest_seq``); otherwise it joins its queue again at ``seq``.
        """
        order = self.open[order_id]
        order.qty, order.limit_price, order.stop_price = qty, limit_price, stop_price
        if triggered and not order.triggered:
            self._trigger(order)
        if not keep_priority and order.queue is not None:
            order.queue.discard(order)
        for fill in fills:
            self._fill(order, fill, seq)
        self._settle(order, status, rest, seq)  # kept priority: same price, same rest_seq, same place
        self._reserve_group(order)

    def apply_trail(self, order_id: str, trigger: float, seq: int) -> None:
        """A trailing stop's trigger moved in its favour (record ``trail``); it keeps its time priority."""
        order = self.open[order_id]
        order.stop_price = trigger
        if order.queue is not None:
            order.queue.discard(order)
            self._queue(order, AS_STOP)
        self.reserve(order)

    def apply_list(self, list_id: str, legs: list[tuple[PaperOrder, str, str | None]],
                   fills: list[dict[str, Any]], seq: int, client_order_id: str | None = None,
                   request: list[Any] | None = None) -> None:
        """A bracket or OCO was accepted (record ``bracket`` / ``oco``): its legs with status and rest.

        ``fills`` are the first leg's fills taken at once (a bracket's entry);
        ``client_order_id`` names the whole group (``request``: what it asked for).
        """
        if client_order_id is not None:
            self.list_cids[client_order_id] = [list_id, *(request or [])]
        group = self.lists[list_id] = {}
        for order, _status, _rest in legs:
            assert order.list_role is not None
            group[order.list_role] = order
        for i, (order, status, rest) in enumerate(legs):  # (the group is complete before the entry settles)
            self.apply_order(order, fills if i == 0 else [], status, rest, seq)
        self._reserve_group(legs[-1][0])
        if not any(o.is_open for o in group.values()):
            self.lists.pop(list_id, None)

    def apply_links(self, links: list[dict[str, Any]], seq: int) -> None:
        """The other legs of a group after one leg changed (``links`` of a ``fill`` / end / ``modify`` record).

        Each entry sets a leg's ``qty`` (its fills plus what it may still fill),
        its ``status`` and where it ``rest``s (``None``: waiting, out of the books).
        """
        last = None
        for link in links:
            order = self.open.get(link["order_id"])
            if order is None:
                continue
            order.qty = link["qty"]
            status, rest = link["status"], link.get("rest")
            if status in FINAL_STATUSES:
                self._close(order, status)
                continue
            if rest is None and order.queue is not None:
                order.queue.discard(order)
            elif rest == AS_STOP and order.triggered:  # a stop exit that fired re-arms for a later entry fill
                order.triggered = False
            self._settle(order, status, rest, seq)
            last = order
        if last is not None:
            self._reserve_group(last)

    def _reserve_group(self, order: PaperOrder) -> None:
        """Recompute the reservations of ``order``'s group (its exits share one)."""
        if order.order_list_id is None:
            return
        group = self.lists.get(order.order_list_id)
        if group is None:
            return
        for leg in group.values():
            if leg.is_open:
                self.reserve(leg)
        if not any(o.is_open for o in group.values()):
            self.lists.pop(order.order_list_id, None)

    def sibling(self, order: PaperOrder) -> PaperOrder | None:
        """The other exit of ``order``'s pair (bracket exits, OCO legs), if it is open."""
        if order.list_role is None or order.list_role == "entry":
            return None
        group = self.lists.get(order.order_list_id or "")
        if group is None:
            return None
        for role, leg in group.items():
            if role != "entry" and leg is not order and leg.is_open:
                return leg
        return None

    # -- internals ------------------------------------------------------------------------
    def _trigger(self, order: PaperOrder) -> None:
        order.triggered = True
        if order.is_trailing:
            self._untrail(order)
            if order.limit_offset is not None and order.limit_price is None:
                order.limit_price = trail_limit(order)
        if order.queue is not None and order.resting == AS_STOP:
            order.queue.discard(order)

    def _fill(self, order: PaperOrder, fill: dict[str, Any], seq: int) -> None:
        qty, notional, fee = fill["qty"], fill["notional"], fill["fee"]
        self._book(order.symbol, order.is_buy, qty, fill["fill_price"], notional, fee)
        order.filled_qty += qty
        order.filled_notional += notional
        order.fee += fee
        order.nfills += 1
        self._remember_fill((seq, fill, None))

    def _book(self, symbol: str, is_buy: bool, qty: float, price: float, notional: float, fee: float) -> None:
        """A fill's money: cash pays (or receives) the notional and the fee, the position moves."""
        if is_buy:
            self.cash -= notional + fee
        else:
            self.cash += notional - fee
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position()
        pos.apply(is_buy, qty, price, fee)

    def _remember_fill(self, entry: tuple[int, dict[str, Any] | None, CompactMarket | None]) -> None:
        """Keep a fill (``fills``' ``(seq, fill, order)``) for the window; older ones leave memory."""
        fills = self.fills
        fills.append(entry)
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
        if order.is_trailing:
            self._untrail(order)
        if order.order_list_id is not None:
            group = self.lists.get(order.order_list_id)
            if group is not None and not any(o.is_open for o in group.values()):
                del self.lists[order.order_list_id]
        self.open.pop(order.order_id, None)
        self._ended(order.order_id)

    def _ended(self, order_id: str) -> None:
        """An order ended: it stays in memory for the window, then only the journal has it."""
        terminal = self.terminal
        terminal.append(order_id)
        if len(terminal) > self.keep_terminal:
            self.orders.pop(terminal.popleft(), None)

    def _untrail(self, order: PaperOrder) -> None:
        trails = self.trailing.get(order.symbol)
        if trails is not None:
            trails.pop(order.order_id, None)
            if not trails:
                del self.trailing[order.symbol]

    # -- reservations ------------------------------------------------------------------------
    def buy_cap(self, order: PaperOrder, qty: float) -> float:
        """The most a BUY can cost per unit: its limit, or its stop plus slippage.

        A trailing stop-limit not triggered yet: its trigger plus its limit offset.
        """
        if order.limit_price is not None:
            return order.limit_price
        if order.cap_price is not None:  # a market order queued for the open
            return order.cap_price
        if order.limit_offset is not None and order.stop_price is not None:
            return order.stop_price + order.limit_offset
        assert order.stop_price is not None  # a buy without a limit is a stop
        return costs.apply_slippage(order.stop_price, True, self.slippage.bps(qty, qty))

    def reserve(self, order: PaperOrder) -> None:
        """(Re)compute what the open ``order`` holds back for its remaining quantity."""
        self.release(order)
        remaining = order.qty - order.filled_qty
        if remaining <= QTY_EPSILON:
            return
        cap = None
        if order.list_role is not None and order.list_role != "entry":
            # the two exits of a pair can never both fill: the primary (take-profit / limit leg)
            # holds one reservation for both, the other leg holds none
            if order.list_role in SECONDARY_ROLES:
                return
            other = self.sibling(order)
            if order.is_buy and other is not None:
                cap = max(self.buy_cap(order, remaining), self.buy_cap(other, remaining))
        if order.is_buy:
            notional = (cap if cap is not None else self.buy_cap(order, remaining)) * remaining
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
            "list_client_order_ids": dict(self.list_cids),
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
        self.list_cids.update(snap.get("list_client_order_ids") or {})
        for d in snap["open_orders"]:
            order = PaperOrder.from_record(d)
            self.orders[order.order_id] = order
            self.open[order.order_id] = order
            self.reserve(order)
            if d.get("resting"):
                self._queue(order, d["resting"])
            if order.expires_at is not None:
                heapq.heappush(self.expiries, (order.expires_at, order.seq, order))
            if order.is_trailing and not order.triggered:
                self.trailing.setdefault(order.symbol, {})[order.order_id] = order
            if order.order_list_id is not None and order.list_role is not None:
                self.lists.setdefault(order.order_list_id, {})[order.list_role] = order
        for group in list(self.lists.values()):
            for leg in group.values():
                self.reserve(leg)

    # -- reading ---------------------------------------------------------------------------------
    def order_result(self, order_id: str) -> dict[str, Any] | None:
        """The result (``PaperOrder.result()``, a new dict) of an order in memory, or ``None``."""
        order = self.orders.get(order_id)
        if order is None:
            return None
        return market_result(*order) if type(order) is tuple else order.result()  # type: ignore[union-attr]

    def fills_in_memory(self) -> list[dict[str, Any]]:
        """The fills in memory as public ``Fill`` dicts (new ones), oldest first."""
        currency = self.currency
        out = []
        for _seq, f, order in self.fills:
            if order is None:  # a public ``Fill`` kept as it is
                out.append(dict(f))  # type: ignore[arg-type]  # (never None without an order)
            else:
                out.append(public_fill(dict(zip(COMPACT_FILL_KEYS, order[5], strict=True)),
                                       {"order_id": order[0], "symbol": order[1], "side": order[2]}, order[4], currency))
        return out

    def rest_kind(self, order: PaperOrder) -> str:
        """Where an accepted, unfilled order rests: the at-open, limit or stop queue."""
        if order.order_type == ORDER_TYPE_MARKET:
            return AS_OPEN
        return AS_LIMIT if order.order_type == ORDER_TYPE_LIMIT or order.triggered else AS_STOP


__all__ = [
    "MARKET_RESULT", "SECONDARY_ROLES", "CompactMarket", "PaperState", "fill_values", "market_result", "trail_limit",
    "trail_trigger",
]
