"""The resting-order books (pure data structures)."""

from __future__ import annotations

from LIVE_TRADING.brokers.paper.matching import (
    AS_LIMIT,
    AS_STOP,
    PriceQueue,
    SymbolBook,
    limit_marketable,
    stop_triggered,
)

_arrivals = iter(range(1, 1_000_000))


class Rest:
    """A resting order as the books see it: prices, and ``rest_seq`` (its arrival: time priority)."""

    def __init__(self, name, limit_price=None, stop_price=None):
        self.name, self.limit_price, self.stop_price = name, limit_price, stop_price
        self.queue = self.resting = None
        self.rest_seq = next(_arrivals)


def test_price_then_time_priority():
    book = SymbolBook()
    a, b, c = Rest("a", 100.0), Rest("b", 101.0), Rest("c", 101.0)
    for o in (a, b, c):
        book.rest_limit(o, True)
    assert book.next_crossing_buy(ask=102.0) is None
    assert book.next_crossing_buy(ask=101.0) is b  # highest bid first, then the earlier of equals
    book.buy_limits.discard(b)
    assert book.next_crossing_buy(ask=101.0) is c
    assert b.queue is None and b.resting is None and c.resting == AS_LIMIT


def test_sell_side_and_stops():
    book = SymbolBook()
    s1, s2 = Rest("s1", 105.0), Rest("s2", 104.0)
    book.rest_limit(s1, False)
    book.rest_limit(s2, False)
    assert book.next_crossing_sell(bid=104.5) is s2
    up, down = Rest("up", stop_price=110.0), Rest("down", stop_price=90.0)
    book.rest_stop(up, True)
    book.rest_stop(down, False)
    assert up.resting == AS_STOP
    assert book.next_triggered_stop(bid=95.0, ask=105.0) is None
    assert book.next_triggered_stop(bid=95.0, ask=110.0) == (up, True)
    book.buy_stops.discard(up)
    assert book.next_triggered_stop(bid=90.0, ask=91.0) == (down, False)
    assert len(book) == 3


def test_lazy_deletion_compacts_under_churn():
    q = PriceQueue(lambda o: o.limit_price, AS_LIMIT)
    keep = Rest("keep", 1.0)
    q.push(keep)
    for i in range(1000):
        o = Rest(i, 2.0 + i)
        q.push(o)
        q.discard(o)
    assert len(q) == 1 and q.orders() == [keep]
    assert len(q._heap) <= 2 * 1 + 65  # rebuilt whenever dead entries outnumber live ones


def test_rules():
    quote = {"bid": 99.0, "ask": 101.0}
    assert limit_marketable(True, 101.0, quote) and not limit_marketable(True, 100.99, quote)
    assert limit_marketable(False, 99.0, quote) and not limit_marketable(False, 99.01, quote)
    assert stop_triggered(True, 101.0, 99.0, 101.0) and not stop_triggered(True, 101.01, 99.0, 101.0)
    assert stop_triggered(False, 99.0, 99.0, 101.0) and not stop_triggered(False, 98.99, 99.0, 101.0)
