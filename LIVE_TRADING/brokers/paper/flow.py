"""The paper broker's order flow: decide, journal, apply; quotes matching resting orders; expiry.

A mixin of ``PaperBroker`` (``broker.py``). Every state change is decided here
(with ``engine``), written as one journal record, then applied by ``PaperState``.
"""

# The methods below run on a ``PaperBroker`` (this class is one of its bases): the attributes they use are
# set by ``PaperBroker.__init__``, which mypy cannot see from here.
# mypy: disable-error-code="attr-defined"

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from LIVE_TRADING.brokers.paper import costs, hours
from LIVE_TRADING.brokers.paper.costs import MAKER, TAKER, apply_slippage
from LIVE_TRADING.brokers.paper.matching import AS_LIMIT, AS_STOP, limit_marketable, stop_triggered
from LIVE_TRADING.brokers.paper.orders import VENUE, PaperOrder
from LIVE_TRADING.brokers.paper.state import trail_limit
from LIVE_TRADING.brokers.validation import (
    OrderRequest,
)
from LIVE_TRADING.common.constants import (
    FINAL_STATUSES,
    ORDER_TYPE_LIMIT,
    ORDER_TYPE_MARKET,
    ORDER_TYPE_STOP,
    QTY_EPSILON,
    STATUS_CANCELLED,
    STATUS_EXPIRED,
    STATUS_FILLED,
    STATUS_NEW,
    STATUS_PARTIALLY_FILLED,
    STATUS_REJECTED,
    TIF_DAY,
    TIF_FOK,
    TIF_IOC,
)
from LIVE_TRADING.common.exceptions import (
    DataProviderError,
    InsufficientFundsError,
    OrderNotFoundError,
    OrderRejectedError,
    QuoteUnavailableError,
)
from LIVE_TRADING.data.quotes import QuoteBatch, mid_price, quote_field

logger = logging.getLogger(__name__)


class OrderFlow:
    """The write path: submission, fills, triggers, ends, matching on quotes, expiries."""

    _newest_quote: datetime | None  # (set by ``PaperBroker.__init__``)

    # ======================================================================
    # Order flow: decide, journal, apply
    # ======================================================================
    def _submit(self, req: OrderRequest, now: datetime) -> dict[str, Any]:
        journal = self._journal
        assert journal is not None
        order = PaperOrder(f"{self._state.tag}-{journal.seq + 1}", req, now)
        quote = None if self._hours == "always" else self._quote_for(order.symbol, now, required=False)
        if order.tif == TIF_DAY:
            order.expires_at = self._day_expiry(order.symbol, now, quote)
        fills: list[dict[str, Any]] = []
        rest: str | None = None
        status = STATUS_NEW
        queue = (quote is not None or self._hours == "calendar") and hours.decide(
            self._hours, self._outside, order.symbol, now, quote, order_type=order.order_type,
            time_in_force=order.tif, asset_classes=self._asset_classes).action == hours.QUEUE
        if queue:  # the market is closed: the order rests until it opens (a market order at the first open quote)
            if order.order_type == ORDER_TYPE_MARKET:
                if quote is None:
                    raise QuoteUnavailableError(order.symbol, "available to price a market order queued for the open")
                ref, size = (quote["ask"], quote["ask_size"]) if order.is_buy else (quote["bid"], quote["bid_size"])
                order.cap_price = costs.apply_slippage(ref, order.is_buy, self._engine.slippage.bps(order.qty, size))
            self._engine.check_can_open(order, self._mark)
            rest = self._state.rest_kind(order)
        elif order.order_type == ORDER_TYPE_MARKET:
            quote = self._quote_for(order.symbol, now)
            if self._respect_size:
                status = self._take_now(order, quote, now, fills, None)
            else:  # the hot path: fills in full at the quote plus slippage
                qty, is_buy = order.qty, order.is_buy
                ref = quote["ask"] if is_buy else quote["bid"]
                price = apply_slippage(ref, is_buy, self._slippage.bps(qty, quote["ask_size" if is_buy else "bid_size"]))
                fee = self._engine.fill_fee(order, qty, price, TAKER, self._mark)
                fills.append(self._fill(order, qty, price, fee, TAKER, ref, now, 0))
                status = STATUS_FILLED
        else:
            self._engine.check_can_open(order, self._mark)
            quote = self._quote_for(order.symbol, now, required=False)
            if order.order_type == ORDER_TYPE_LIMIT:
                if quote is not None and limit_marketable(order.is_buy, order.limit_price, quote):
                    status = self._take_now(order, quote, now, fills, order.limit_price)
                    rest = AS_LIMIT
                elif order.tif == TIF_FOK:
                    raise OrderRejectedError(order.symbol, "FOK order cannot be filled in full now (limit not marketable)")
                elif order.tif == TIF_IOC:
                    status = STATUS_CANCELLED
                else:
                    rest = AS_LIMIT
            elif quote is not None and stop_triggered(order.is_buy, order.stop_price, quote["bid"], quote["ask"]):
                order.triggered = True
                status, rest = self._at_trigger(order, quote, now, fills)
            else:
                rest = AS_STOP
        payload = {"event": "order", "ts": now, "order": order.spec(), "fills": [_compact(f) for f in fills],
                   "status": status}
        if rest is not None:
            payload["rest"] = rest
        seq = journal.append(payload)["seq"]
        self._state.apply_order(order, fills, status, rest, seq)
        self._changed(now)
        if fills and self._respect_size:
            self._after_fills(order, fills)
        return order.result()

    def _take_now(self, order: PaperOrder, quote: dict[str, Any], now: datetime, fills: list[dict[str, Any]],
                  limit: float | None) -> str:
        """Decide a taker fill of ``order`` now; append it to ``fills``; return the status after it.

        A refusal raises ``OrderRejectedError`` (a new order is then refused; a triggered one ends rejected).
        """
        avail = self._available(order.symbol, quote, order.is_buy) if self._respect_size else None
        take = self._engine.take(order, quote, avail, limit)
        if take.reason:
            raise OrderRejectedError(order.symbol, take.reason)
        if take.qty > QTY_EPSILON:
            fee = self._engine.fill_fee(order, take.qty, take.price, TAKER, self._mark)
            fills.append(self._fill(order, take.qty, take.price, fee, TAKER, take.ref, now, len(fills)))
        filled = order.filled_qty + sum(f["qty"] for f in fills)
        if filled >= order.qty - QTY_EPSILON:
            return STATUS_FILLED
        if order.tif == TIF_IOC or limit is None:
            return STATUS_CANCELLED
        return STATUS_PARTIALLY_FILLED if filled > 0 else STATUS_NEW

    def _at_trigger(self, order: PaperOrder, quote: dict[str, Any], now: datetime,
                    fills: list[dict[str, Any]]) -> tuple[str, str | None]:
        """What a stop does when triggered: (status, where it rests)."""
        if order.order_type == ORDER_TYPE_STOP or (order.is_trailing and order.limit_offset is None):
            return self._take_now(order, quote, now, fills, None), None
        limit = order.limit_price if order.limit_price is not None else trail_limit(order)
        if limit_marketable(order.is_buy, limit, quote):
            return self._take_now(order, quote, now, fills, limit), AS_LIMIT
        if order.tif == TIF_IOC:
            return STATUS_CANCELLED, None
        if order.tif == TIF_FOK:
            return STATUS_REJECTED, None
        return order.status, AS_LIMIT

    def _fill(self, order: PaperOrder, qty: float, price: float, fee: float, liquidity: str, ref: float,
              now: datetime, k: int) -> dict[str, Any]:
        if not (math.isfinite(price) and price > 0):
            raise OrderRejectedError(order.symbol, f"no valid fill price ({price!r})")
        notional = qty * price
        oid = order.order_id
        return {
            "order_id": oid, "fill_id": f"{oid}-f{order.nfills + k + 1}", "timestamp": now,
            "symbol": order.symbol, "side": order.side, "qty": qty, "fill_price": price, "notional": notional,
            "fee": fee, "fee_currency": self._state.currency, "venue": VENUE,
            "slippage_bps": (price / ref - 1.0) * 1e4 if order.is_buy else (1.0 - price / ref) * 1e4,
            "fee_bps": fee / notional * 1e4 if notional else 0.0, "liquidity": liquidity,
        }

    def _after_fills(self, order: PaperOrder, fills: list[dict[str, Any]]) -> None:
        """Displayed size used up by these fills (``respect_quote_size``)."""
        if self._respect_size and fills:
            avail = self._avail.get(order.symbol)
            if avail is not None:
                side = 1 if order.is_buy else 0
                avail[side] = max(0.0, avail[side] - sum(f["qty"] for f in fills))

    def _end(self, order: PaperOrder, status: str, event: str, reason: str) -> None:
        """Journal and apply the end of an open order (cancel, expiry, reject)."""
        payload = {"event": event, "ts": self._clock(), "order_id": order.order_id, "status": status,
                   "reason": reason, "filled_qty": order.filled_qty}
        links = self._links_after(order, 0.0, status) if order.order_list_id is not None else None
        if links:
            payload["links"] = links
        self._commit(payload, lambda seq: self._apply_with_links(
            lambda: self._state.apply_end(order.order_id, status), links, seq))

    # -- quotes and matching -----------------------------------------------------
    def _quote_for(self, symbol: str, now: datetime, required: bool = True) -> Any:
        quote = self._quotes.get(symbol)
        if quote is not None and (now - quote["timestamp"]).total_seconds() <= self._max_age:
            return quote
        if self._provider is not None:
            try:
                fresh = self._provider.get_quote(symbol)
            except DataProviderError as exc:
                if not required:
                    return None
                raise QuoteUnavailableError(symbol, f"available from the data provider: {exc}") from exc
            self._check_future(fresh, now)
            self._on_quote(fresh, now)
            quote = self._quotes.get(symbol)
            if quote is not None and (now - quote["timestamp"]).total_seconds() <= self._max_age:
                return quote
        if not required:
            return None
        if quote is None:
            raise QuoteUnavailableError(symbol)
        age = (now - quote["timestamp"]).total_seconds()
        raise QuoteUnavailableError(symbol, f"is stale: {age:.1f}s old (max_quote_age_s {self._max_age:g})")

    def _on_quote(self, quote: dict[str, Any], now: datetime) -> None:
        sym = quote["symbol"]
        held = self._quotes.get(sym)
        if held is not None and quote["timestamp"] < held["timestamp"]:
            logger.debug("Ignoring out-of-order quote for %s (%s < %s)", sym, quote["timestamp"], held["timestamp"])
            return
        if self._state.expiries:
            self._expire_due(now)
        self._quotes[sym] = quote
        if self._newest_quote is None or quote["timestamp"] > self._newest_quote:
            self._newest_quote = quote["timestamp"]
        self._avail[sym] = [quote["bid_size"], quote["ask_size"]]
        trails = self._state.trailing.get(sym)
        if trails and self._journal is not None:
            self._move_trails(trails, quote, now)
        book = self._state.books.get(sym)
        if book is not None and len(book) and self._journal is not None and hours.market_is_open(
                self._hours, sym, now, quote, asset_classes=self._asset_classes):
            self._match(book, quote, now)

    def _on_quotes(self, quotes: Iterable[dict[str, Any]], now: datetime) -> None:
        """``_on_quote`` for each of ``quotes`` in turn, with the same effects; a batch's cheap path.

        A quote for a symbol with nothing that can react to it (no order book, no
        trailing stop, no order waiting to expire) and not older than the held one
        only becomes the symbol's quote: stored here without the call. Any other
        goes through ``_on_quote`` (the one place that matches, moves trails and
        expires orders).
        """
        held_quotes, avail, st = self._quotes, self._avail, self._state
        books, trailing = st.books, st.trailing
        get = quote_field  # quote fields, read fast (the batch is dicts: Quote or make_quote's)
        newest = self._newest_quote
        if not (st.expiries or books or trailing or self._respect_size):
            # nothing in the account can react to a quote, and displayed sizes are not tracked: store them
            for quote in quotes:
                sym = get(quote, "symbol")
                held = held_quotes.get(sym)
                ts = get(quote, "timestamp")
                if held is not None and ts < held["timestamp"]:
                    self._on_quote(quote, now)  # out of order: ignored there, saying so
                else:
                    held_quotes[sym] = quote
                    if newest is None or ts > newest:
                        newest = self._newest_quote = ts
            return
        for quote in quotes:
            sym = get(quote, "symbol")
            held = held_quotes.get(sym)
            ts = get(quote, "timestamp")
            if (st.expiries or sym in books or sym in trailing
                    or (held is not None and ts < held["timestamp"])):
                self._on_quote(quote, now)
                newest = self._newest_quote
                continue
            held_quotes[sym] = quote
            if newest is None or ts > newest:
                newest = self._newest_quote = ts
            avail[sym] = [get(quote, "bid_size"), get(quote, "ask_size")]

    def _on_batch(self, batch: QuoteBatch, now: datetime) -> None:
        """``_on_quotes`` of a ``QuoteBatch`` (checked, not from the future), with the same effects.

        When nothing in the account can react to a quote, displayed sizes are
        not tracked and none of the batch is older than any quote held (its
        oldest is not before the newest ever taken), the batch is stored in
        one ``dict.update``; otherwise quote by quote (``_on_quotes``).
        """
        st = self._state
        newest = self._newest_quote
        if (not (st.expiries or st.books or st.trailing or self._respect_size)
                and (newest is None or batch.oldest >= newest)):
            self._quotes.update(batch)
            self._newest_quote = batch.newest
            return
        self._on_quotes(batch.values(), now)

    def _available(self, symbol: str, quote: dict[str, Any], is_buy: bool) -> float:
        avail = self._avail.get(symbol)
        if avail is None:
            avail = self._avail[symbol] = [quote["bid_size"], quote["ask_size"]]
        return avail[1] if is_buy else avail[0]

    def _match(self, book: Any, quote: dict[str, Any], now: datetime) -> None:
        """Trigger stops and fill resting limits that the quote reaches (O(log n + fills))."""
        bid, ask = quote["bid"], quote["ask"]
        while (queued := book.at_open.top()) is not None:  # market orders placed while the market was closed
            self._fill_at_open(queued, quote, now)
        while (hit := book.next_triggered_stop(bid, ask)) is not None:
            self._trigger(hit[0], quote, now)
        for is_buy in (True, False):
            while True:
                order = book.next_crossing_buy(ask) if is_buy else book.next_crossing_sell(bid)
                if order is None:
                    break
                qty = order.qty - order.filled_qty
                if self._respect_size:
                    qty = min(qty, self._available(order.symbol, quote, is_buy))
                    if qty <= QTY_EPSILON:
                        break
                price = min(order.limit_price, ask) if is_buy else max(order.limit_price, bid)
                try:
                    fee = self._engine.fill_fee(order, qty, price, MAKER, self._mark)
                except InsufficientFundsError as exc:  # e.g. a short sell that margin no longer covers
                    self._end(order, STATUS_REJECTED, "reject", exc.reason)
                    continue
                fill = self._fill(order, qty, price, fee, MAKER, ask if is_buy else bid, now, 0)
                status = STATUS_FILLED if order.filled_qty + qty >= order.qty - QTY_EPSILON else STATUS_PARTIALLY_FILLED
                self._write_fill(order, fill, status, None, now, triggered=False)
                if order.is_open:
                    break  # liquidity used up; the rest waits for the next quote

    def _fill_at_open(self, order: PaperOrder, quote: dict[str, Any], now: datetime) -> None:
        """A market order queued while the market was closed meets the first quote after the open."""
        fills: list[dict[str, Any]] = []
        try:
            status = self._take_now(order, quote, now, fills, None)
        except OrderRejectedError as exc:  # e.g. the open gapped beyond the cash it reserved
            self._end(order, STATUS_REJECTED, "reject", exc.reason)
            return
        if fills:
            self._write_fill(order, fills[0], status, None, now, triggered=False)
        else:
            self._end(order, STATUS_CANCELLED, "cancel", "nothing fillable at the open")

    def _trigger(self, order: PaperOrder, quote: dict[str, Any], now: datetime) -> None:
        """A resting stop reached its trigger: one record says what happened."""
        fills: list[dict[str, Any]] = []
        try:
            status, rest = self._at_trigger(order, quote, now, fills)
            reason = "ioc: nothing fillable at trigger" if status == STATUS_CANCELLED else (
                "fok: cannot fill in full at trigger" if status == STATUS_REJECTED else "")
        except OrderRejectedError as exc:
            fills, status, rest, reason = [], STATUS_REJECTED, None, exc.reason
        if fills:
            self._write_fill(order, fills[0], status, rest, now, triggered=True)
        elif status in FINAL_STATUSES:
            self._end(order, status, "cancel" if status == STATUS_CANCELLED else "reject", reason)
        else:
            self._commit({"event": "trigger", "ts": now, "order_id": order.order_id, "rest": AS_LIMIT},
                         lambda seq: self._state.apply_trigger(order.order_id, seq))

    def _write_fill(self, order: PaperOrder, fill: dict[str, Any], status: str, rest: str | None,
                    now: datetime, triggered: bool) -> None:
        links = None
        if order.order_list_id is not None:
            status = self._leg_status(order, status)
            links = self._links_after(order, fill["qty"], status)
        payload = {"event": "fill", "ts": now, **fill, "status": status, "rest": rest, "triggered": triggered}
        if links:
            payload["links"] = links
        self._commit(payload, lambda seq: self._apply_with_links(
            lambda: self._state.apply_fill(order.order_id, fill, status, rest, seq, triggered), links, seq))
        self._after_fills(order, [fill])

    def _mark(self, symbol: str) -> float:
        """The price a position is valued at: its quote's mid, else its average cost."""
        quote = self._quotes.get(symbol)
        if quote is not None:
            return mid_price(quote)
        pos = self._state.positions.get(symbol)
        return pos.avg_cost if pos is not None else 0.0

    # -- time ----------------------------------------------------------------
    def _expire_due(self, now: datetime) -> None:
        heap = self._state.expiries
        while heap and heap[0][0] <= now:
            order = heapq.heappop(heap)[2]
            if order.is_open and self._journal is not None:
                assert order.expires_at is not None
                self._end(order, STATUS_EXPIRED, "expire", f"day order expired at {order.expires_at.isoformat()}")
            elif order.is_open:  # read-only: show the expiry without writing it
                self._state.apply_end(order.order_id, STATUS_EXPIRED)
                self._expired_here[order.order_id] = order


#: the id suffixes of the legs of a bracket / OCO that are not its first order (``PaperBroker.submit_bracket``)
_LEG_SUFFIXES = frozenset({"tp", "sl", "stp"})


def _compact(f: dict[str, Any]) -> dict[str, Any]:
    """A fill as an ``order`` record holds it (``orders.COMPACT_FILL_KEYS``: the rest comes from the order)."""
    return {"fill_id": f["fill_id"], "qty": f["qty"], "fill_price": f["fill_price"], "notional": f["notional"],
            "fee": f["fee"], "slippage_bps": f["slippage_bps"], "fee_bps": f["fee_bps"], "liquidity": f["liquidity"]}


def _order_id(order_id: Any) -> str:
    if not isinstance(order_id, str) or not order_id:
        raise OrderNotFoundError(str(order_id), f"Order not found: order ids are non-empty strings, got {order_id!r}")
    return order_id


__all__ = ["OrderFlow"]
