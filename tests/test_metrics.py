"""Broker metrics and health()."""

from __future__ import annotations

import pytest

from LIVE_TRADING.brokers import get_broker
from LIVE_TRADING.brokers.guard.metrics import BrokerMetrics, InstrumentedBroker, _percentile
from LIVE_TRADING.common.exceptions import BrokerConnectionError, InsufficientFundsError, RateLimitError


def test_percentile_nearest_rank():
    values = sorted(float(i) for i in range(1, 101))
    assert _percentile(values, 50) == 50.0
    assert _percentile(values, 95) == 95.0
    assert _percentile(values, 99) == 99.0
    assert _percentile([], 50) == 0.0


def test_paper_broker_metrics_and_health():
    b = get_broker("paper", initial_cash=1_000)
    b.set_quote("A", 10.0, 10.0)
    b.submit_order("A", "BUY", 1)
    b.submit_order("A", "BUY", 5, "limit", 9.0)
    with pytest.raises(InsufficientFundsError):
        b.submit_order("A", "BUY", 1_000)
    b.get_positions()
    h = b.health()
    assert h["healthy"] is True and h["reasons"] == [] and h["venue"] == "paper"
    assert h["orders"] == {"submitted": 2, "filled": 1, "rejected": 1, "open": 1}
    assert h["errors"] == {"InsufficientFundsError": 1}
    assert h["calls"]["submit_order"]["count"] == 3 and h["calls"]["submit_order"]["errors"] == 1
    assert h["calls"]["submit_order"]["p99_ms"] >= h["calls"]["submit_order"]["p50_ms"] > 0
    assert h["calls"]["get_positions"]["count"] == 1
    assert h["last_success"] is not None and h["reconnects"] == 0


class Flaky:
    """A venue whose calls fail on demand, with a venue_health() probe."""

    def __init__(self):
        self.fail: Exception | None = None
        self.status = {"connected": True, "reconnects": 2, "rate_limit_headroom": 0.5}

    def get_cash(self):
        if self.fail:
            raise self.fail
        return 1.0

    def venue_health(self):
        return dict(self.status)


def test_health_reasons():
    venue = Flaky()
    b = InstrumentedBroker(venue, venue="flaky")
    b.get_cash()
    h = b.health()
    assert h["healthy"] and h["reconnects"] == 2 and h["rate_limit_headroom"] == 0.5
    venue.fail = BrokerConnectionError("connection refused")
    with pytest.raises(BrokerConnectionError):
        b.get_cash()
    h = b.health()
    assert not h["healthy"] and "BrokerConnectionError" in h["reasons"][0]
    venue.fail = None
    b.get_cash()
    assert b.health()["healthy"]  # recovered
    venue.status = {"connected": False, "rate_limit_headroom": 0.05}
    h = b.health()
    assert not h["healthy"]
    assert "not connected to the venue" in h["reasons"] and any("rate limit" in r for r in h["reasons"])


def test_many_failures_unhealthy():
    venue = Flaky()
    b = InstrumentedBroker(venue)
    venue.fail = RateLimitError("slow down")
    for _ in range(10):
        with pytest.raises(RateLimitError):
            b.get_cash()
    h = b.health()
    assert not h["healthy"] and "100% of the last 10 calls failed" in h["reasons"]
    assert h["errors"] == {"RateLimitError": 10}


def test_broken_probe_never_raises():
    class Broken(Flaky):
        def venue_health(self):
            raise RuntimeError("boom")

    h = InstrumentedBroker(Broken()).health()
    assert not h["healthy"] and "venue health probe failed" in h["reasons"][0]


def test_latency_window_bounded():
    m = BrokerMetrics(window=10)
    for i in range(100):
        m.record("get_cash", i / 1000)
    assert len(m.latency["get_cash"]) == 10 and m.calls["get_cash"] == 100
