"""PaperBroker fed by a DataProvider: fresh quotes on demand, stale refusal, update_quotes."""

from __future__ import annotations

import pytest

from LIVE_TRADING.brokers.paper import PaperBroker
from LIVE_TRADING.common.exceptions import BrokerError, DataProviderError, QuoteUnavailableError
from LIVE_TRADING.data.provider import DataProvider, register_data_provider
from LIVE_TRADING.data.quotes import make_quote


class ScriptedProvider(DataProvider):
    """Quotes from a dict the test edits; counts calls."""

    def __init__(self, clock, prices=None, lag_s=0.0):
        super().__init__()
        self.clock = clock
        self.prices = dict(prices or {})
        self.lag_s = lag_s
        self.calls = []

    def _quote(self, symbol):
        if symbol not in self.prices:
            raise DataProviderError(f"unknown symbol {symbol}", symbol=symbol)
        bid, ask = self.prices[symbol]
        from datetime import timedelta

        return make_quote(symbol, bid, ask, 500, 500, self.clock() - timedelta(seconds=self.lag_s))

    def get_quote(self, symbol):
        self.calls.append(("one", symbol))
        return self._quote(symbol)

    def get_multiple_quotes(self, symbols):
        self.calls.append(("many", tuple(symbols)))
        out, errors = {}, {}
        for s in symbols:
            try:
                out[s] = self._quote(s)
            except DataProviderError as exc:
                errors[s] = str(exc)
        self.last_errors = errors
        return out

    def get_historical(self, symbol, period="1mo", interval="1d"):  # pragma: no cover - unused here
        raise DataProviderError("no history")


def test_order_pulls_quote_from_provider(clock):
    p = ScriptedProvider(clock, {"AAPL": (100.0, 100.2)})
    b = PaperBroker(data_provider=p, clock=clock, slippage_bps=0, fee_bps=0)
    r = b.submit_order("AAPL", "BUY", 1)
    assert r["fill_price"] == 100.2 and p.calls == [("one", "AAPL")]
    b.submit_order("AAPL", "BUY", 1)  # fresh quote cached: no second call
    assert len(p.calls) == 1
    clock.advance(seconds=61)  # older than max_quote_age_s (60): asks again
    p.prices["AAPL"] = (101.0, 101.2)
    assert b.submit_order("AAPL", "BUY", 1)["fill_price"] == 101.2
    assert len(p.calls) == 2


def test_stale_quote_refused(clock):
    b = PaperBroker(clock=clock, max_quote_age_s=30)
    b.set_quote("AAPL", 100, 100.1)
    clock.advance(seconds=31)
    before = (b.get_cash(), b.get_positions())
    with pytest.raises(QuoteUnavailableError, match=r"No quote for AAPL is stale: 31\.0s old"):
        b.submit_order("AAPL", "BUY", 1)
    assert (b.get_cash(), b.get_positions()) == before


def test_provider_with_stale_data_refused(clock):
    p = ScriptedProvider(clock, {"AAPL": (100.0, 100.2)}, lag_s=900)  # e.g. 15-minute delayed data
    b = PaperBroker(data_provider=p, clock=clock)
    with pytest.raises(QuoteUnavailableError, match=r"is stale: 900\.0s old"):
        b.submit_order("AAPL", "BUY", 1)


def test_provider_failure_is_quote_unavailable(clock):
    b = PaperBroker(data_provider=ScriptedProvider(clock), clock=clock)
    with pytest.raises(QuoteUnavailableError, match="No quote for NOPE") as err:
        b.submit_order("NOPE", "BUY", 1)
    assert isinstance(err.value.__cause__, DataProviderError)


def test_update_quotes_fills_resting_limit(clock, caplog):
    p = ScriptedProvider(clock, {"AAPL": (100.0, 100.2), "MSFT": (300.0, 300.5)})
    b = PaperBroker(data_provider=p, clock=clock, slippage_bps=0, fee_bps=0)
    r = b.submit_order("AAPL", "BUY", 10, "limit", 99.0)
    assert r["status"] == "new"
    quotes = b.update_quotes(["AAPL", "MSFT", "BAD"])
    assert set(quotes) == {"AAPL", "MSFT"} and p.calls[-1] == ("many", ("AAPL", "MSFT", "BAD"))
    assert "BAD" in caplog.text  # the failure is reported, the others still apply
    assert b.get_order(r["order_id"])["status"] == "new"
    clock.advance(seconds=5)
    p.prices["AAPL"] = (98.5, 98.9)
    b.update_quotes(["AAPL"])
    o = b.get_order(r["order_id"])
    assert o["status"] == "filled" and o["fill_price"] == 98.9
    assert b.get_quote("MSFT")["bid"] == 300.0


def test_update_quotes_without_provider(clock):
    with pytest.raises(BrokerError, match="needs a data provider"):
        PaperBroker(clock=clock).update_quotes(["AAPL"])


def test_provider_by_name_from_config(write_config, clock):
    register_data_provider("scripted_test", lambda clock=None: ScriptedProvider(clock, {"X": (1.0, 1.1)}))
    try:
        write_config({"paper": {"data_provider": "scripted_test"}})
        b = PaperBroker(clock=clock, slippage_bps=0)
        assert isinstance(b.data_provider, ScriptedProvider) and b.data_provider.clock is clock
        assert b.submit_order("X", "BUY", 1)["fill_price"] == 1.1
    finally:
        from LIVE_TRADING.data import provider as data_provider

        data_provider._PROVIDERS.pop("scripted_test", None)


def test_set_quote_still_works_with_provider(clock):
    p = ScriptedProvider(clock, {"AAPL": (100.0, 100.2)})
    b = PaperBroker(data_provider=p, clock=clock, slippage_bps=0)
    b.set_quote("AAPL", 50.0, 50.1)
    assert b.submit_order("AAPL", "BUY", 1)["fill_price"] == 50.1 and p.calls == []


def test_apply_quotes_feeds_a_broker_without_provider(clock):
    p = ScriptedProvider(clock, {"AAPL": (100.0, 100.2), "MSFT": (300.0, 300.5)})
    b = PaperBroker(clock=clock, slippage_bps=0, fee_bps=0)
    r = b.submit_order("AAPL", "BUY", 10, "limit", 99.0)
    b.apply_quotes(p.get_multiple_quotes(["AAPL", "MSFT"]))
    assert b.get_quote("MSFT")["ask"] == 300.5
    assert b.submit_order("MSFT", "BUY", 1)["fill_price"] == 300.5
    p.prices["AAPL"] = (98.0, 98.5)
    b.apply_quotes(list(p.get_multiple_quotes(["AAPL"]).values()))
    assert b.get_order(r["order_id"])["status"] == "filled"


def test_apply_quotes_all_or_nothing(clock):
    b = PaperBroker(clock=clock)
    good = make_quote("AAPL", 1.0, 1.1, 1, 1, clock())
    bad = {"symbol": "MSFT", "bid": 2.0, "ask": 1.0, "timestamp": clock()}
    with pytest.raises(ValueError, match="crossed"):
        b.apply_quotes([good, bad])
    with pytest.raises(QuoteUnavailableError):
        b.get_quote("AAPL")


def test_run_loop_feeds_paper_from_the_pipeline_provider(clock):
    from LIVE_TRADING.brokers import get_broker
    from LIVE_TRADING.pipeline import run_loop

    p = ScriptedProvider(clock, {"AAPL": (100.0, 100.2)})
    b = get_broker("paper", clock=clock, slippage_bps=0, fee_bps=0)  # no provider of its own
    result = run_loop(b, p, lambda quotes, positions, history: {"AAPL": 10}, steps=1, symbols=["AAPL"])
    assert b.get_positions() == {"AAPL": 10}
    assert result is not None
