"""BinanceDataProvider against the loopback stand-in: batch quotes, klines in the common frame shape."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from fakes.binance_server import FakeBinance
from fakes.binance_support import Sleeper

from LIVE_TRADING.brokers.binance.data import BinanceDataProvider
from LIVE_TRADING.common.exceptions import DataProviderError
from LIVE_TRADING.data.provider import get_data_provider


@pytest.fixture
def fake(clock):
    with FakeBinance(clock=clock) as server:
        yield server


@pytest.fixture
def provider(fake, clock):
    p = get_data_provider("binance", base_url=fake.url, clock=clock, sleep=Sleeper(clock))
    yield p
    p.close()


def test_registered_as_data_provider_binance(provider):
    assert isinstance(provider, BinanceDataProvider)


def test_quote_needs_no_api_key(fake, provider, clock):
    quote = provider.get_quote("btc/usdt")
    assert (quote["symbol"], quote["bid"], quote["ask"], quote["ask_size"]) == ("BTCUSDT", 50000.0, 50010.0, 5.0)
    assert quote["timestamp"] == clock()
    assert fake.requests[-1]["api_key_header"] is None


def test_many_quotes_in_one_request(fake, provider):
    quotes = provider.get_multiple_quotes(["BTCUSDT", "ETH/USDT"])
    assert sorted(quotes) == ["BTCUSDT", "ETHUSDT"] and provider.last_errors == {}
    calls = fake.calls("GET", "/api/v3/ticker/bookTicker")
    assert len(calls) == 1 and json.loads(calls[0]["params"]["symbols"]) == ["BTCUSDT", "ETHUSDT"]


def test_one_bad_symbol_does_not_lose_the_others(fake, provider):
    quotes = provider.get_multiple_quotes(["BTCUSDT", "NOPEUSDT", "ETHUSDT"])
    assert sorted(quotes) == ["BTCUSDT", "ETHUSDT"]
    assert list(provider.last_errors) == ["NOPEUSDT"]


def test_bad_symbol_and_empty_book_raise_data_provider_error(fake, provider):
    with pytest.raises(DataProviderError) as info:
        provider.get_quote("NOPEUSDT")
    assert info.value.symbol == "NOPEUSDT"
    fake.set_book("ETHUSDT", "0", "0", "0", "0")
    with pytest.raises(DataProviderError, match="ETHUSDT"):
        provider.get_quote("ETHUSDT")


def test_historical_bars_have_the_common_shape(fake, provider, clock):
    frame = provider.get_historical("BTCUSDT", period="5d", interval="1h")
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert frame.index.name == "timestamp" and str(frame.index.tz) == "UTC"
    assert frame.index.is_monotonic_increasing and not frame.index.has_duplicates
    assert len(frame) == 120  # hourly bars opening in the last 5 days
    assert frame.index[-1] <= pd.Timestamp(clock())
    assert (frame["high"] >= frame["low"]).all()
    call = fake.calls("GET", "/api/v3/klines")[0]["params"]
    assert call["interval"] == "1h" and call["limit"] == "1000"


def test_long_histories_are_paged(fake, provider):
    frame = provider.get_historical("ETHUSDT", period="3mo", interval="1h")
    assert len(frame) == 91 * 24
    assert len(fake.calls("GET", "/api/v3/klines")) == 3
    assert not frame.index.has_duplicates


def test_interval_vocabulary(fake, provider):
    provider.get_historical("BTCUSDT", period="1y", interval="1wk")
    assert fake.calls("GET", "/api/v3/klines")[-1]["params"]["interval"] == "1w"
    with pytest.raises(DataProviderError, match="no '90m' bars"):
        provider.get_historical("BTCUSDT", period="5d", interval="90m")
    with pytest.raises(DataProviderError, match="Unsupported period"):
        provider.get_historical("BTCUSDT", period="7d", interval="1d")


def test_too_many_bars_is_refused(fake, clock):
    small = BinanceDataProvider(base_url=fake.url, clock=clock, max_klines=500)
    with pytest.raises(DataProviderError, match="max_klines"):
        small.get_historical("BTCUSDT", period="1y", interval="1h")
    small.close()


def test_data_provider_follows_the_binance_section_and_needs_no_keys(fake, write_config, monkeypatch):
    monkeypatch.delenv("BINANCE_API_KEY", raising=False)
    write_config({"binance": {"base_url": fake.url}})
    provider = get_data_provider("binance")
    assert provider.get_quote("BTCUSDT")["bid"] == 50000.0
    provider.close()
