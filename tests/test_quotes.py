"""``make_quote`` builds a checked ``Quote`` once; the paper broker takes those as they are and checks the rest."""

from __future__ import annotations

import math

import pytest

from LIVE_TRADING.brokers.paper import PaperBroker
from LIVE_TRADING.common.exceptions import InvalidQuoteError
from LIVE_TRADING.data.quotes import Quote, is_checked, make_quote


def test_make_quote_returns_a_checked_quote_that_is_a_plain_dict_to_everyone_else(clock):
    quote = make_quote(" aapl ", 99.0, 101, 5, 6, clock())
    assert isinstance(quote, dict) and is_checked(quote) and type(quote) is Quote
    assert quote == {"symbol": "AAPL", "bid": 99.0, "ask": 101.0, "bid_size": 5.0, "ask_size": 6.0,
                     "timestamp": clock(), "spread_bps": pytest.approx(200.0)}
    assert not is_checked(dict(quote))  # a copy is an ordinary dict again


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, "x", True, 10**400])
def test_make_quote_refuses_bad_prices(clock, bad):
    with pytest.raises(InvalidQuoteError):
        make_quote("AAPL", bad, 101.0, 1, 1, clock())


def test_apply_quotes_takes_checked_quotes_and_still_checks_plain_dicts(clock, tmp_path):
    broker = PaperBroker(clock=clock, log_dir=tmp_path, fee_bps=0, slippage_bps=0)
    broker.apply_quotes({"AAPL": make_quote("AAPL", 99.0, 101.0, 5, 5, clock())})
    assert broker.get_quote("AAPL")["bid"] == 99.0
    crossed = {"symbol": "MSFT", "bid": 11.0, "ask": 10.0, "timestamp": clock()}
    with pytest.raises(InvalidQuoteError, match="crossed"):
        broker.apply_quotes([make_quote("AAPL", 98.0, 100.0, 5, 5, clock()), crossed])
    assert broker.get_quote("AAPL")["bid"] == 99.0  # nothing applied when one is invalid
    broker.apply_quotes([{"symbol": "msft", "bid": "10", "ask": 10.5, "timestamp": clock()}])
    assert broker.get_quote("MSFT")["ask"] == 10.5
    broker.close()
