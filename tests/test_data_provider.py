"""The DataProvider abstraction: vocabulary, frame shape, registry, partial failures."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from CONFIG.config_loader import PACKAGED_CONFIG
from CONFIG.schema import DataSettings
from LIVE_TRADING.common.exceptions import DataProviderError
from LIVE_TRADING.data.provider import (
    INTERVALS,
    OHLCV_COLUMNS,
    PERIODS,
    DataProvider,
    check_interval,
    check_period,
    get_data_provider,
    history_window,
    known_data_providers,
    normalize_ohlcv,
    normalize_symbol,
    register_data_provider,
)
from LIVE_TRADING.data.quotes import make_quote
from LIVE_TRADING.data.replay import ReplayDataProvider
from LIVE_TRADING.data.sim import SimDataProvider
from LIVE_TRADING.data.yfinance import YFinanceProvider
from LIVE_TRADING.testing.yfinance import FakeYFinance

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


def assert_common_shape(frame: pd.DataFrame) -> None:
    """The one historical frame shape every provider returns."""
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(OHLCV_COLUMNS)
    assert all(str(dtype) == "float64" for dtype in frame.dtypes)
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.tz) == "UTC"
    assert str(frame.index.dtype) == "datetime64[ns, UTC]"
    assert frame.index.name == "timestamp"
    assert frame.index.is_monotonic_increasing
    assert not frame.index.has_duplicates
    assert not frame[["open", "high", "low", "close"]].isna().any().any()
    assert (frame["high"] >= frame[["open", "close", "low"]].max(axis=1) - 1e-9).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1) + 1e-9).all()


# -- vocabulary ------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["2d", "1M", "", None, "1 mo", "MAX"])
def test_unsupported_period_lists_allowed(bad):
    with pytest.raises(DataProviderError) as err:
        check_period(bad)
    for allowed in PERIODS:
        assert allowed in str(err.value)
    assert repr(bad) in str(err.value)


@pytest.mark.parametrize("bad", ["1s", "4h", "1y", "", None, "1D"])
def test_unsupported_interval_lists_allowed(bad):
    with pytest.raises(DataProviderError) as err:
        check_interval(bad)
    for allowed in INTERVALS:
        assert allowed in str(err.value)


def test_yfinance_vocabulary_accepted():
    for period in PERIODS:
        assert check_period(period) == period
    for interval in INTERVALS:
        assert check_interval(interval) == interval


def test_history_window_counts_back_from_now():
    start, step = history_window("5d", "1h", NOW)
    assert start == NOW - timedelta(days=5)
    assert step == timedelta(hours=1)
    assert history_window("ytd", "1d", NOW)[0] == datetime(2026, 1, 1, tzinfo=UTC)
    assert history_window("max", "1d", NOW, earliest=NOW - timedelta(days=3))[0] == NOW - timedelta(days=3)
    with pytest.raises(DataProviderError, match="max"):
        history_window("max", "1d", NOW)


@pytest.mark.parametrize(
    ("period", "interval", "allowed"),
    [("1mo", "1m", "1d, 5d"), ("3mo", "5m", "1d, 5d, 1mo"), ("5y", "1h", "1d, 5d, 1mo, 3mo, 6mo, 1y, 2y")],
)
def test_intraday_interval_refuses_long_periods(period, interval, allowed):
    with pytest.raises(DataProviderError) as err:
        history_window(period, interval, NOW)
    assert f"allowed with {interval}: {allowed})" in str(err.value)
    # the same request is fine without the limits (replay files)
    history_window(period, interval, NOW, intraday_limits=False)


def test_intraday_max_refused_and_ytd_measured():
    with pytest.raises(DataProviderError):
        history_window("max", "1m", NOW, earliest=NOW - timedelta(days=1))
    history_window("ytd", "5m", NOW)  # 4 days into the year: fine
    with pytest.raises(DataProviderError):
        history_window("ytd", "5m", datetime(2026, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize("bad", ["", "   ", None, 5])
def test_normalize_symbol_refuses_non_symbols(bad):
    with pytest.raises(DataProviderError, match="Invalid symbol"):
        normalize_symbol(bad)


def test_normalize_symbol_upper_cases():
    assert normalize_symbol("  aapl ") == "AAPL"


# -- frame shape -----------------------------------------------------------------


def test_normalize_ohlcv_brings_yahoo_style_frames_into_shape():
    index = pd.DatetimeIndex(
        ["2026-01-02 09:31", "2026-01-02 09:30", "2026-01-02 09:31"], name="Datetime"
    ).tz_localize("America/New_York")
    raw = pd.DataFrame(
        {
            "Open": [2, 1, 3],
            "High": [2, 1, 3],
            "Low": [2, 1, 3],
            "Close": [2, 1, 3],
            "Volume": [10, None, 30],
            "Dividends": [0, 0, 0],
        },
        index=index,
    )
    frame = normalize_ohlcv(raw, "X")
    assert_common_shape(frame)
    assert list(frame.index) == [pd.Timestamp("2026-01-02 14:30", tz="UTC"), pd.Timestamp("2026-01-02 14:31", tz="UTC")]
    assert frame["close"].tolist() == [1.0, 3.0]  # the later duplicate wins
    assert frame["volume"].tolist() == [0.0, 30.0]  # missing volume is zero


def test_normalize_ohlcv_naive_index_is_utc_and_volume_optional():
    raw = pd.DataFrame({"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0]}, index=[datetime(2026, 1, 2)])
    frame = normalize_ohlcv(raw)
    assert_common_shape(frame)
    assert frame.index[0] == pd.Timestamp("2026-01-02", tz="UTC")
    assert frame["volume"].tolist() == [0.0]


def test_normalize_ohlcv_names_missing_columns():
    with pytest.raises(DataProviderError) as err:
        normalize_ohlcv(pd.DataFrame({"Close": [1.0], "Open": [1.0]}), "XYZ")
    assert "XYZ" in str(err.value)
    assert "high, low" in str(err.value)


def _replay_bars(tmp_path: Path) -> Path:
    times = pd.date_range("2026-01-01", periods=5 * 24 * 60, freq="1min", tz="UTC")
    closes = [100 + (i % 37) * 0.1 for i in range(len(times))]
    frame = pd.DataFrame(
        {
            "timestamp": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "symbol": "AAPL",
            "open": closes,
            "high": [c + 0.2 for c in closes],
            "low": [c - 0.2 for c in closes],
            "close": closes,
            "volume": 10.0,
        }
    )
    path = tmp_path / "bars.csv"
    frame.to_csv(path, index=False)
    return path


def _replay_quotes(tmp_path: Path) -> Path:
    times = pd.date_range("2026-01-04", periods=2000, freq="37s", tz="UTC")
    bids = [50 + (i % 11) * 0.05 for i in range(len(times))]
    frame = pd.DataFrame({"timestamp": times, "symbol": "AAPL", "bid": bids, "ask": [b + 0.02 for b in bids]})
    path = tmp_path / "quotes.parquet"
    frame.to_parquet(path)
    return path


PROVIDERS = {
    "sim": lambda tmp_path, clock: SimDataProvider(clock=clock),
    "replay-bars": lambda tmp_path, clock: ReplayDataProvider(_replay_bars(tmp_path), clock=clock),
    "replay-quotes": lambda tmp_path, clock: ReplayDataProvider(_replay_quotes(tmp_path), clock=clock),
    "yfinance": lambda tmp_path, clock: YFinanceProvider(clock=clock, yf=FakeYFinance({"AAPL": 190.0}, n_bars=20)),
}


@pytest.mark.parametrize("name", sorted(PROVIDERS))
@pytest.mark.parametrize(("period", "interval"), [("1mo", "1d"), ("5d", "1h"), ("1d", "5m"), ("1d", "1m")])
def test_every_provider_returns_the_common_frame_shape(name, period, interval, tmp_path, clock):
    provider = PROVIDERS[name](tmp_path, clock)
    frame = provider.get_historical("aapl", period=period, interval=interval)
    assert_common_shape(frame)
    assert len(frame) > 0
    assert frame.index[-1] <= pd.Timestamp(clock())


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_every_provider_refuses_unsupported_period_and_interval(name, tmp_path, clock):
    provider = PROVIDERS[name](tmp_path, clock)
    with pytest.raises(DataProviderError, match="allowed: 1d, 5d, 1mo"):
        provider.get_historical("AAPL", period="2w")
    with pytest.raises(DataProviderError, match="allowed: 1m, 2m, 5m"):
        provider.get_historical("AAPL", interval="7m")


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_every_provider_quotes_are_valid_and_timestamped_by_the_data(name, tmp_path, clock):
    provider = PROVIDERS[name](tmp_path, clock)
    quote = provider.get_quote("aapl")
    assert isinstance(quote["market_open"], bool)  # every provider says whether the market is open
    assert quote == make_quote(
        "AAPL", quote["bid"], quote["ask"], quote["bid_size"], quote["ask_size"], quote["timestamp"],
        quote["market_open"],
    )
    assert quote["timestamp"] <= clock()
    quotes = provider.get_multiple_quotes(["AAPL", ""])
    assert set(quotes) == {"AAPL"}
    assert set(provider.last_errors) == {""}


# -- the base class's batch loop -------------------------------------------------


class _Flaky(DataProvider):
    def get_quote(self, symbol):
        if symbol.upper() == "BAD":
            raise DataProviderError("No quote for BAD", symbol="BAD")
        return make_quote(symbol, 1.0, 1.1, timestamp=NOW)

    def get_historical(self, symbol, period="1mo", interval="1d"):
        raise NotImplementedError


def test_default_get_multiple_quotes_keeps_good_symbols_and_reports_bad_ones():
    provider = _Flaky()
    quotes = provider.get_multiple_quotes(["a", "bad", "c"])
    assert sorted(quotes) == ["A", "C"]
    assert provider.last_errors == {"BAD": "No quote for BAD"}
    provider.get_multiple_quotes(["a"])
    assert provider.last_errors == {}


# -- registry --------------------------------------------------------------------


def test_default_provider_is_the_offline_simulator():
    assert isinstance(get_data_provider(), SimDataProvider)
    assert {"sim", "replay", "yfinance"} <= set(known_data_providers())


def test_provider_chosen_by_config(write_config, tmp_path):
    path = _replay_bars(tmp_path)
    write_config({"data": {"provider": "replay", "replay": {"path": str(path)}}})
    provider = get_data_provider()
    assert isinstance(provider, ReplayDataProvider)
    assert provider.path == path


def test_yfinance_provider_by_name_takes_kwargs():
    fake = FakeYFinance({"AAPL": 10.0})
    provider = get_data_provider("YFinance", yf=fake, cache_ttl_s=5)
    assert isinstance(provider, YFinanceProvider)
    assert provider.cache_ttl_s == 5
    assert provider.get_quote("AAPL")["symbol"] == "AAPL"


def test_unknown_provider_names_known_ones():
    with pytest.raises(ValueError, match="Unknown data provider backend: 'nope'") as err:
        get_data_provider("nope")
    assert "replay, sim, yfinance" in str(err.value)


def test_register_data_provider():
    register_data_provider("flaky-test", _Flaky)
    assert isinstance(get_data_provider("flaky-test"), _Flaky)


def test_importing_the_providers_does_not_import_yfinance():
    code = (
        "import sys, LIVE_TRADING, LIVE_TRADING.data.provider, LIVE_TRADING.data.yfinance, "
        "LIVE_TRADING.testing.yfinance, LIVE_TRADING.data.sim, LIVE_TRADING.data.replay\n"
        "assert 'yfinance' not in sys.modules, 'yfinance imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_data_config_defaults_match_the_packaged_yaml():
    packaged = yaml.safe_load(PACKAGED_CONFIG.read_text())["live_trading"]["data"]
    assert packaged == DataSettings().model_dump(mode="json")
