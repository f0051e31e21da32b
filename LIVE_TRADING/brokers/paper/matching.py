"""Resting-order books for the paper broker (pure data structures, no I/O).

Each symbol has one ``SymbolBook`` with four price-ordered queues (binary
heaps, price then time priority), and one first-come first-served queue of
market orders placed while the market was closed (``at_open``: they fill at
the first quote after the open, see ``LIVE_TRADING.brokers.paper.hours``):

=============  ==========================  ================================
queue          fires when                  first in line
=============  ==========================  ================================
buy_limits     ask <= limit                highest limit
sell_limits    bid >= limit                lowest limit
buy_stops      ask >= stop                 lowest stop
sell_stops     bid <= stop                 highest stop
at_open        the market is open          the oldest
=============  ==========================  ================================

So a quote update looks only at the top of four heaps and pops what fires:
O(log n + fills) however many orders rest elsewhere or out of reach.
Removal (cancel, expiry, fill) is lazy: the broker marks the order and the
queue drops it when it reaches the top; a queue rebuilds itself when dead
entries outnumber live ones, so memory stays bounded under cancel churn.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

#: what an order is resting as (``RestingOrder.resting``)
AS_LIMIT = "limit"
AS_STOP = "stop"
AS_OPEN = "at_open"


class PriceQueue:
    """A heap of resting orders keyed by ``key(order)`` (smaller first), then ``order.rest_seq`` (time)."""

    __slots__ = ("_heap", "_key", "_kind", "_live", "_seq")

    def __init__(self, key: Callable[[Any], float], kind: str) -> None:
        self._heap: list[tuple[float, int, int, Any]] = []
        self._key = key
        self._kind = kind
        self._live = 0
        self._seq = 0

    def __len__(self) -> int:
        return self._live

    def push(self, order: Any) -> None:
        """Queue ``order`` behind orders at its price with a smaller ``order.rest_seq`` (time priority)."""
        self._seq += 1
        heapq.heappush(self._heap, (self._key(order), order.rest_seq, self._seq, order))
        order.queue = self
        order.queue_token = self._seq  # an order queued again (modify, trail) leaves a dead entry behind
        order.resting = self._kind
        self._live += 1
        if len(self._heap) > 64 and len(self._heap) > 2 * self._live:
            self._compact()

    def discard(self, order: Any) -> None:
        """Mark ``order`` as gone from this queue (it is dropped lazily)."""
        if order.queue is self:
            order.queue = None
            order.resting = None
            self._live -= 1

    def top(self) -> Any | None:
        """The first live order, or ``None``."""
        heap = self._heap
        while heap:
            entry = heap[0]
            order = entry[3]
            if order.queue is self and order.queue_token == entry[2]:
                return order
            heapq.heappop(heap)
        return None

    def _compact(self) -> None:
        self._heap = [e for e in self._heap if e[3].queue is self and e[3].queue_token == e[2]]
        heapq.heapify(self._heap)

    def orders(self) -> list[Any]:
        return [e[3] for e in self._heap if e[3].queue is self and e[3].queue_token == e[2]]

    def in_priority(self) -> list[Any]:
        """The live orders in the order they would fill: price, then time (``rest_seq``)."""
        return [e[3] for e in sorted(e for e in self._heap if e[3].queue is self)]


class SymbolBook:
    """The resting orders of one symbol."""

    __slots__ = ("at_open", "buy_limits", "buy_stops", "sell_limits", "sell_stops")

    def __init__(self) -> None:
        self.buy_limits = PriceQueue(lambda o: -o.limit_price, AS_LIMIT)
        self.sell_limits = PriceQueue(lambda o: o.limit_price, AS_LIMIT)
        self.buy_stops = PriceQueue(lambda o: o.stop_price, AS_STOP)
        self.sell_stops = PriceQueue(lambda o: -o.stop_price, AS_STOP)
        self.at_open = PriceQueue(lambda o: 0.0, AS_OPEN)  # FIFO: equal keys keep arrival order

    def __len__(self) -> int:
        return (len(self.buy_limits) + len(self.sell_limits) + len(self.buy_stops) + len(self.sell_stops)
                + len(self.at_open))

    def rest_at_open(self, order: Any) -> None:
        """A market order placed while the market was closed: it waits for the first open quote."""
        self.at_open.push(order)

    def rest_limit(self, order: Any, is_buy: bool) -> None:
        (self.buy_limits if is_buy else self.sell_limits).push(order)

    def rest_stop(self, order: Any, is_buy: bool) -> None:
        (self.buy_stops if is_buy else self.sell_stops).push(order)

    def priority(self) -> dict[str, list[str]]:
        """Order ids of each queue in fill order (for checks: a recovered book must queue the same)."""
        return {name: [o.order_id for o in getattr(self, name).in_priority()]
                for name in ("buy_limits", "sell_limits", "buy_stops", "sell_stops")}

    # -- what fires at a quote ---------------------------------------------
    def next_triggered_stop(self, bid: float, ask: float) -> tuple[Any, bool] | None:
        """A stop order whose trigger the quote reached, and whether it is a buy."""
        o = self.buy_stops.top()
        if o is not None and ask >= o.stop_price:
            return o, True
        o = self.sell_stops.top()
        if o is not None and bid <= o.stop_price:
            return o, False
        return None

    def next_crossing_buy(self, ask: float) -> Any | None:
        o = self.buy_limits.top()
        return o if o is not None and ask <= o.limit_price else None

    def next_crossing_sell(self, bid: float) -> Any | None:
        o = self.sell_limits.top()
        return o if o is not None and bid >= o.limit_price else None


def limit_marketable(is_buy: bool, limit_price: float, quote: dict[str, Any]) -> bool:
    """A BUY limit can take liquidity when ask <= limit, a SELL limit when bid >= limit."""
    return quote["ask"] <= limit_price if is_buy else quote["bid"] >= limit_price


def stop_triggered(is_buy: bool, stop_price: float, bid: float, ask: float) -> bool:
    """A BUY stop triggers when ask >= stop, a SELL stop when bid <= stop."""
    return ask >= stop_price if is_buy else bid <= stop_price


__all__ = [
    "AS_LIMIT",
    "AS_STOP",
    "PriceQueue",
    "SymbolBook",
    "limit_marketable",
    "stop_triggered",
]
