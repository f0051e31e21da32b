"""Tests for broker interface."""

import pytest
from datetime import datetime
from typing import Protocol, runtime_checkable

from LIVE_TRADING.brokers.interface import Broker, normalize_order, get_broker


class TestBrokerProtocol:
    def test_broker_is_protocol(self):
        assert hasattr(Broker, "__protocol_attrs__") or isinstance(Broker, type)

    def test_normalize_order(self):
        order = normalize_order("aapl", "buy", 100, 150.50)
        assert order["symbol"] == "AAPL"
        assert order["side"] == "BUY"
        assert order["qty"] == 100.0
        assert order["px"] == 150.50

    def test_normalize_order_no_price(self):
        order = normalize_order("SPY", "SELL", 50)
        assert order["px"] is None


class TestGetBroker:
    def test_get_paper_broker(self):
        broker = get_broker("paper")
        assert hasattr(broker, "submit_order")
        assert hasattr(broker, "get_positions")

    def test_unknown_venue_raises(self):
        with pytest.raises(ValueError, match="Unknown broker"):
            get_broker("unknown_venue")
