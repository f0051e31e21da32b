"""The yfinance provider against FakeYFinance (no network): batching, TTL, spreads, failures."""

from __future__ import annotations

import inspect
import logging
import warnings
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from LIVE_TRADING.common.clock import ManualClock
from LIVE_TRADING.common.exceptions import ConfigError, DataProviderError
from LIVE_TRADING.data.quotes import mid_price
from LIVE_TRADING.data.yfinance import QUOTE_URL, YFinanceProvider, last_price
from LIVE_TRADING.testing.yfinance import FakeYFinance

BAR = datetime(2026, 1, 5, 14, 29, tzinfo=UTC)
SYMBOLS = [f"S{i:02d}" for i in range(40)]


@pytest.fixture
def fake() -> FakeYFinance:
    return FakeYFinance({s: 10.0 + i for i, s in enumerate(SYMBOLS)} | {"AAPL": 190.0, "MSFT": 400.0}, last_bar=BAR)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock("2026-01-05T14:30:20+00:00")


def provider_for(fake, clock, **kw) -> YFinanceProvider:
    return YFinanceProvider(clock=clock, yf=fake, **kw)


# -- batching and cache ----------------------------------------------------------


def test_all_uncached_symbols_in_one_request(fake, clock):
    provider = provider_for(fake, clock)
    quotes = provider.get_multiple_quotes([s.lower() for s in SYMBOLS])
    assert list(quotes) == SYMBOLS
    assert fake.counts == {"download": 1}
    assert fake.calls[0][0] == "download"
    args = fake.calls[0][1]
    assert sorted(args["tickers"]) == SYMBOLS
    assert (args["period"], args["interval"], args["group_by"]) == ("1d", "1m", "ticker")


def test_cached_symbols_are_not_asked_again_within_the_ttl(fake, clock):
    provider = provider_for(fake, clock, cache_ttl_s=30)
    first = provider.get_multiple_quotes(SYMBOLS[:10])
    clock.advance(29.9)
    fake.prices["S00"] = 99.0
    again = provider.get_multiple_quotes(SYMBOLS[:10])
    assert again == first
    assert fake.counts["download"] == 1
    # a mix: only the uncached ones are fetched, in one request
    provider.get_multiple_quotes(SYMBOLS[:15])
    assert fake.counts["download"] == 2
    assert sorted(fake.calls[-1][1]["tickers"]) == SYMBOLS[10:15]
    # get_quote uses the same cache
    provider.get_quote("s03")
    assert fake.counts["download"] == 2
    # past the TTL: fetched again, and the new price shows
    clock.advance(0.1)
    assert mid_price(provider.get_quote("S00")) == pytest.approx(99.0)
    assert fake.counts["download"] == 3


def test_ttl_zero_never_reuses(fake, clock):
    provider = provider_for(fake, clock, cache_ttl_s=0)
    provider.get_quote("AAPL")
    provider.get_quote("AAPL")
    assert fake.counts["download"] == 2


def test_ttl_from_config(fake, clock, write_config):
    write_config({"data": {"yfinance": {"cache_ttl_s": 5}}})
    provider = provider_for(fake, clock)
    assert provider.cache_ttl_s == 5
    provider.get_quote("AAPL")
    clock.advance(5)
    provider.get_quote("AAPL")
    assert fake.counts["download"] == 2


def test_returned_quotes_are_copies(fake, clock):
    provider = provider_for(fake, clock)
    provider.get_quote("AAPL")["bid"] = -1.0
    assert provider.get_quote("AAPL")["bid"] > 0


# -- quote contents --------------------------------------------------------------


def test_synthetic_spread_around_the_last_price(fake, clock):
    provider = provider_for(fake, clock, spread_bps=20, size=7)
    quote = provider.get_quote("AAPL")
    assert mid_price(quote) == pytest.approx(190.0)
    assert quote["spread_bps"] == pytest.approx(20.0)
    assert quote["ask"] - quote["bid"] == pytest.approx(190.0 * 20 / 1e4)
    assert (quote["bid_size"], quote["ask_size"]) == (7.0, 7.0)


def test_default_spread_is_the_seeds_ten_bps(fake, clock):
    assert provider_for(fake, clock).get_quote("MSFT")["spread_bps"] == pytest.approx(10.0)


def test_timestamp_is_the_market_datas_time_not_the_call_time(fake, clock):
    clock.advance(hours=3)
    quote = provider_for(fake, clock).get_quote("AAPL")
    assert quote["timestamp"] == BAR
    assert quote["timestamp"].tzinfo is UTC


def test_bid_ask_from_yahoo_when_enabled_and_sane(fake, clock):
    fake.bid_ask = {
        "AAPL": {"bid": 189.95, "ask": 190.05, "bidSize": 3, "askSize": 4},  # used
        "MSFT": {"bid": 0.0, "ask": 0.0},  # closed market: synthetic
        "S00": {"bid": 10.5, "ask": 10.4},  # crossed: synthetic
        "S01": {"bid": 10.0, "ask": 12.0},  # far too wide: synthetic
        "S02": {"bid": 14.0, "ask": 14.01},  # mid far from the last price (12.0): synthetic
        "S03": {"bid": 13.0, "ask": 13.01},  # no sizes: configured size
    }
    provider = provider_for(fake, clock, bid_ask=True, size=9)
    quotes = provider.get_multiple_quotes(["AAPL", "MSFT", "S00", "S01", "S02", "S03", "S04"])
    assert fake.counts == {"download": 1, "quote_api": 1}
    request = fake.calls[-1][1]
    assert request["url"] == QUOTE_URL
    assert sorted(request["params"]["symbols"].split(",")) == sorted(quotes)
    aapl = quotes["AAPL"]
    assert (aapl["bid"], aapl["ask"], aapl["bid_size"], aapl["ask_size"]) == (189.95, 190.05, 3.0, 4.0)
    assert aapl["timestamp"] == BAR
    for synthetic in ("MSFT", "S00", "S01", "S02", "S04"):
        assert quotes[synthetic]["spread_bps"] == pytest.approx(10.0), synthetic
    assert (quotes["S03"]["bid"], quotes["S03"]["bid_size"]) == (13.0, 9.0)


def test_bid_ask_request_failure_falls_back_to_synthetic(fake, clock, caplog):
    fake.bid_ask = {"AAPL": {"bid": 189.95, "ask": 190.05}}
    fake.fail_quote_api = ConnectionError("401 Unauthorized")
    provider = provider_for(fake, clock, bid_ask=True)
    with caplog.at_level(logging.WARNING):
        quote = provider.get_quote("AAPL")
    assert quote["spread_bps"] == pytest.approx(10.0)
    assert "401 Unauthorized" in caplog.text


# -- failures --------------------------------------------------------------------


def test_network_failure_names_the_symbol(fake, clock):
    fake.fail_download = ConnectionError("Failed to resolve query2.finance.yahoo.com")
    provider = provider_for(fake, clock)
    with pytest.raises(DataProviderError, match="No quote for AAPL from Yahoo: request failed") as err:
        provider.get_quote("AAPL")
    assert err.value.symbol == "AAPL"
    assert isinstance(err.value.__cause__, ConnectionError)
    assert provider.get_multiple_quotes(["AAPL", "MSFT"]) == {}
    assert sorted(provider.last_errors) == ["AAPL", "MSFT"]
    assert "Failed to resolve" in provider.last_errors["MSFT"]


def test_unknown_ticker_names_the_symbol(fake, clock):
    provider = provider_for(fake, clock)
    with pytest.raises(DataProviderError, match="NOPE") as err:
        provider.get_quote("nope")
    assert err.value.symbol == "NOPE"


def test_one_bad_symbol_does_not_lose_the_others(fake, clock):
    provider = provider_for(fake, clock)
    quotes = provider.get_multiple_quotes(["AAPL", "NOPE", "MSFT", " "])
    assert sorted(quotes) == ["AAPL", "MSFT"]
    assert sorted(provider.last_errors) == ["", "NOPE"]
    assert "No quote for NOPE from Yahoo: no recent price" in provider.last_errors["NOPE"]
    assert fake.counts["download"] == 1


def test_failures_are_not_cached(fake, clock):
    provider = provider_for(fake, clock)
    with pytest.raises(DataProviderError):
        provider.get_quote("NEWCO")
    fake.prices["NEWCO"] = 5.0
    assert mid_price(provider.get_quote("NEWCO")) == pytest.approx(5.0)


@pytest.mark.parametrize(
    "frame",
    [
        None,
        pd.DataFrame(),
        pd.DataFrame({("AAPL", "Open"): [1.0]}, index=pd.DatetimeIndex([BAR])),  # no Close
        pd.DataFrame({("AAPL", "Close"): [float("nan")]}, index=pd.DatetimeIndex([BAR])),
    ],
)
def test_empty_or_broken_frames_name_the_symbol(clock, frame):
    class Broken(FakeYFinance):
        def download(self, tickers, **kw):
            self._record("download", tickers=tickers)
            return frame

    provider = provider_for(Broken(), clock)
    with pytest.raises(DataProviderError, match="No quote for AAPL from Yahoo") as err:
        provider.get_quote("AAPL")
    assert err.value.symbol == "AAPL"


def test_non_positive_price_is_refused(fake, clock):
    fake.prices["ZERO"] = 0.0
    provider = provider_for(fake, clock)
    quotes = provider.get_multiple_quotes(["ZERO", "AAPL"])
    assert list(quotes) == ["AAPL"]
    assert "ZERO" in provider.last_errors


def test_last_price_reads_single_level_frames_and_naive_times():
    frame = pd.DataFrame({"Close": [1.0, 2.0, float("nan")]}, index=pd.DatetimeIndex(["2026-01-05 14:28", "2026-01-05 14:29", "2026-01-05 14:30"]))
    assert last_price(frame, "X", alone=True) == (2.0, BAR)
    with pytest.raises(DataProviderError, match="not split by ticker"):
        last_price(frame, "X")


# -- history ---------------------------------------------------------------------


def test_history_through_ticker_history(fake, clock):
    frame = provider_for(fake, clock).get_historical("aapl", period="5d", interval="1d")
    assert fake.calls[-1] == ("history", {"ticker": "AAPL", "period": "5d", "interval": "1d"})
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert str(frame.index.tz) == "UTC"
    assert frame["close"].iloc[-1] == pytest.approx(190.0)
    assert frame.index[-1] == pd.Timestamp("2026-01-05 05:00", tz="UTC")  # midnight New York


def test_history_failures_name_the_symbol(fake, clock):
    provider = provider_for(fake, clock)
    with pytest.raises(DataProviderError, match="No historical data for NOPE from Yahoo"):
        provider.get_historical("NOPE")

    class Down(FakeYFinance):
        def Ticker(self, ticker, session=None):
            raise OSError("network down")

    with pytest.raises(DataProviderError, match="No historical data for AAPL from Yahoo: network down"):
        provider_for(Down(), clock).get_historical("AAPL")


def test_unsupported_history_requests_never_reach_yahoo(fake, clock):
    provider = provider_for(fake, clock)
    with pytest.raises(DataProviderError, match="allowed: 1d, 5d, 1mo, 3mo"):
        provider.get_historical("AAPL", period="1w")
    with pytest.raises(DataProviderError, match="allowed: 1m, 2m, 5m"):
        provider.get_historical("AAPL", interval="10m")
    with pytest.raises(DataProviderError, match="allowed with 1m: 1d, 5d"):
        provider.get_historical("AAPL", period="1y", interval="1m")
    assert fake.counts == {}


# -- config ----------------------------------------------------------------------


def test_bad_settings_listed_together(fake, clock):
    with pytest.raises(ConfigError) as err:
        provider_for(fake, clock, cache_ttl_s=-1, spread_bps="x", quote_period="1mo", quote_interval="1d", timeout_s=0)
    text = str(err.value)
    assert len(err.value.problems) == 5
    assert "live_trading.data.yfinance.quote_period must be one of 1d, 5d, got '1mo'" in text
    assert "live_trading.data.yfinance.timeout_s must be a number > 0, got 0" in text


def test_quote_window_is_configurable(fake, clock):
    provider_for(fake, clock, quote_period="5d", quote_interval="5m").get_quote("AAPL")
    assert (fake.calls[-1][1]["period"], fake.calls[-1][1]["interval"]) == ("5d", "5m")


# -- the fake is faithful to yfinance 1.7 -----------------------------------------


def _params(func) -> list[tuple[str, object]]:
    return [(p.name, p.default) for p in inspect.signature(func).parameters.values() if p.name != "self"]


def test_fake_signatures_match_yfinance():
    yf = pytest.importorskip("yfinance")
    from yfinance.data import YfData
    from yfinance.scrapers.history import PriceHistory

    assert _params(FakeYFinance.download) == _params(yf.download)
    assert _params(FakeYFinance({}).Ticker("X").history) == _params(PriceHistory.history)
    assert _params(FakeYFinance({}).data.YfData().get_raw_json) == _params(YfData.get_raw_json)


def test_real_yfinance_download_builds_the_frames_the_fake_builds(fake, clock, monkeypatch):
    """Run yfinance's own download() with its per-ticker fetch replaced by the fake's (no network)."""
    yf = pytest.importorskip("yfinance")
    import yfinance.multi

    monkeypatch.setattr(yfinance.multi, "Ticker", fake.Ticker)
    real_provider = provider_for(yf, clock)
    fake_provider = provider_for(FakeYFinance(dict(fake.prices), last_bar=BAR), clock)
    symbols = ["AAPL", "NOPE", "MSFT", "S07"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # yfinance's own pandas deprecation warnings
        assert real_provider.get_multiple_quotes(symbols) == fake_provider.get_multiple_quotes(symbols)
        assert real_provider.last_errors == fake_provider.last_errors == {
            "NOPE": fake_provider.last_errors["NOPE"]
        }
        kw = {
            "period": "1d",
            "interval": "1m",
            "group_by": "ticker",
            "auto_adjust": False,
            "progress": False,
            "threads": False,
        }
        real = yf.download(symbols, **kw)
        pd.testing.assert_frame_equal(real.sort_index(axis=1), fake.download(symbols, **kw).sort_index(axis=1))
    assert fake.counts["history"] == 2 * len(symbols)  # yfinance itself goes ticker by ticker


def test_default_yf_is_imported_lazily(clock):
    provider = YFinanceProvider(clock=clock)
    assert provider._yf is None
    assert provider.yf.__name__ == "yfinance"


def test_clock_moves_do_not_leak_between_providers(fake):
    a, b = ManualClock(), ManualClock()
    pa, pb = provider_for(fake, a), provider_for(fake, b)
    pa.get_quote("AAPL")
    b.advance(timedelta(minutes=5).total_seconds())
    pb.get_quote("AAPL")
    pa.get_quote("AAPL")
    assert fake.counts["download"] == 2
