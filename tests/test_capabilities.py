"""Optional broker capabilities are protocols, asked with ``supports()`` through the guard layers."""

from __future__ import annotations

from datetime import UTC, datetime

from LIVE_TRADING.brokers import get_broker
from LIVE_TRADING.brokers.guard.base import BrokerWrapper
from LIVE_TRADING.brokers.interface import (
    SupportsAccountHistory,
    SupportsAccountSummary,
    SupportsClose,
    SupportsHealth,
    SupportsJournal,
    SupportsMetrics,
    SupportsPortfolioValue,
    SupportsPositionDetails,
    SupportsQuotes,
    SupportsVenueHealth,
    find_layer,
    layers,
    supports,
    venue_broker,
)
from LIVE_TRADING.brokers.paper import PaperBroker
from LIVE_TRADING.data.provider import quote_errors
from LIVE_TRADING.pipeline.rebalance import portfolio_value

ALL = (SupportsAccountHistory, SupportsAccountSummary, SupportsClose, SupportsHealth, SupportsJournal,
       SupportsMetrics, SupportsPortfolioValue, SupportsPositionDetails, SupportsQuotes, SupportsVenueHealth)


class MinimalBroker:
    """Only the protocol's methods: no optional capability."""

    def submit_order(self, *a, **k): raise NotImplementedError
    def cancel_order(self, order_id): raise NotImplementedError
    def get_order(self, order_id): raise NotImplementedError
    def get_open_orders(self): return []
    def get_positions(self): return {"AAA": 2.0}
    def get_cash(self): return 50.0
    def get_fills(self, since=None): return []
    def get_quote(self, symbol): return {"symbol": symbol, "bid": 9.0, "ask": 11.0}
    def now(self): return datetime(2026, 1, 5, tzinfo=UTC)


def test_the_paper_broker_behind_its_guards_has_every_capability():
    broker = get_broker("paper")
    try:
        assert isinstance(venue_broker(broker), PaperBroker) and len(layers(broker)) >= 2
        for capability in ALL:
            assert supports(broker, capability), capability.__name__
        assert "healthy" in broker.health()  # called through the outer layer
    finally:
        broker.close()


def test_a_minimal_broker_has_none_and_the_fallbacks_are_used():
    broker = BrokerWrapper(MinimalBroker())
    for capability in ALL:
        assert not supports(broker, capability), capability.__name__
    assert portfolio_value(broker) == 50.0 + 2.0 * 10.0  # cash + positions at mid


def test_quote_errors_of_a_duck_typed_provider_is_empty():
    class Duck:
        def get_multiple_quotes(self, symbols):
            return {}

    class Reporting(Duck):
        def __init__(self) -> None:
            self.last_errors = {"X": "no quote"}

    assert quote_errors(Duck()) == {} and quote_errors(Reporting()) == {"X": "no quote"}


def test_a_read_only_paper_broker_has_no_journal_capability(tmp_path):
    PaperBroker(log_dir=tmp_path).close()  # create the account
    broker = PaperBroker(log_dir=tmp_path, read_only=True)
    try:
        assert not supports(broker, SupportsJournal) and supports(broker, SupportsAccountSummary)
    finally:
        broker.close()


def test_find_layer_returns_the_layer_that_has_the_capability(tmp_path):
    broker = get_broker("paper", log_dir=tmp_path)
    try:
        metrics_layer = find_layer(broker, SupportsMetrics)
        assert metrics_layer is broker  # the outermost layer that answers (the guards pass calls through)
        broker.get_cash()
        assert metrics_layer.metrics.snapshot()["calls"]["get_cash"]["count"] == 1
        history = find_layer(broker, SupportsAccountHistory)
        assert history is not None and history.account_dir == tmp_path / "default"
        assert find_layer(venue_broker(broker), SupportsMetrics) is None  # the paper broker keeps no metrics
    finally:
        broker.close()
    assert find_layer(BrokerWrapper(MinimalBroker()), SupportsMetrics) is None
    assert find_layer(None, SupportsMetrics) is None
