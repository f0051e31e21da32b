"""End-to-end tests of ``IBKRDataProvider`` against the loopback fake TWS (ib_async and ib_insync)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest
from fakes.fake_tws import FakeTWS

from LIVE_TRADING.brokers.ibkr.data import IBKRDataProvider
from LIVE_TRADING.brokers.interface import get_broker
from LIVE_TRADING.common.clock import ManualClock
from LIVE_TRADING.common.exceptions import DataProviderError, InvalidQuoteError
from LIVE_TRADING.data.provider import OHLCV_COLUMNS, DataProvider, get_data_provider

LIBS = ["ib_async", "ib_insync"]
AAPL, MSFT, EURUSD = 265598, 272093, 12087792
FAST = {"connect_timeout_s": 10.0, "request_timeout_s": 5.0, "pacing_backoff_s": 0.01}


@pytest.fixture(params=LIBS)
def ib_lib(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def tws():
    with FakeTWS() as fake:
        yield fake


@pytest.fixture
def provider_for(tws: FakeTWS, ib_lib: str):
    """``provider_for(**settings)`` -> an ``ibkr`` data provider on the fake (closed after the test)."""
    made = []

    def _make(fake: FakeTWS | None = None, **settings):
        provider = get_data_provider(
            "ibkr", host="127.0.0.1", port=(fake or tws).port, ib_module=ib_lib, **{**FAST, **settings}
        )
        made.append(provider)
        return provider

    yield _make
    for provider in made:
        provider.close()


def expected_frame(bars: list[tuple]) -> pd.DataFrame:
    """The common frame shape, built independently from the fake's raw bars."""
    def when(stamp: str) -> pd.Timestamp:
        if len(stamp) == 8:
            return pd.Timestamp(datetime.strptime(stamp, "%Y%m%d").replace(tzinfo=UTC))
        return pd.Timestamp(datetime.fromtimestamp(int(stamp), UTC))

    frame = pd.DataFrame(
        [[b[1], b[2], b[3], b[4], max(float(b[5]), 0.0)] for b in bars],
        columns=list(OHLCV_COLUMNS),
        index=pd.DatetimeIndex([when(b[0]) for b in bars], name="timestamp").as_unit("ns"),
    )
    return frame.astype("float64")


def test_provider_is_a_data_provider_and_quotes_one_symbol(provider_for, tws):
    provider = provider_for()
    assert isinstance(provider, IBKRDataProvider) and isinstance(provider, DataProvider)
    quote = provider.get_quote("AAPL")
    q = tws.quotes[AAPL]
    assert (quote["symbol"], quote["bid"], quote["ask"]) == ("AAPL", q.bid, q.ask)
    assert (quote["bid_size"], quote["ask_size"]) == (q.bid_size, q.ask_size)
    assert quote["timestamp"].tzinfo is not None
    assert quote["spread_bps"] == pytest.approx((q.ask - q.bid) / ((q.ask + q.bid) / 2) * 1e4)


def test_many_quotes_in_one_batch_with_failures_listed(provider_for, tws):
    provider = provider_for()
    quotes = provider.get_multiple_quotes(["AAPL", "msft", "EUR.USD", "NOPE"])
    assert sorted(quotes) == ["AAPL", "EUR/USD", "MSFT"]
    assert quotes["EUR/USD"]["bid"] == tws.quotes[EURUSD].bid
    assert list(provider.last_errors) == ["NOPE"] and "200" in provider.last_errors["NOPE"]
    snapshots = tws.requests(1)
    assert len(snapshots) == 3 and all(req[17] == "1" for req in snapshots)  # snapshot flag set


def test_small_batches_still_answer_every_symbol(provider_for):
    provider = provider_for(quote_batch_size=2)
    assert sorted(provider.get_multiple_quotes(["AAPL", "MSFT", "EUR/USD", "BTC/USD", "BRK.B"])) == [
        "AAPL", "BRK.B", "BTC/USD", "EUR/USD", "MSFT"
    ]


def test_delayed_fallback_when_live_is_not_subscribed(provider_for, tws):
    tws.set_live_subscription("MSFT", False)
    provider = provider_for()
    quotes = provider.get_multiple_quotes(["AAPL", "MSFT"])
    assert sorted(quotes) == ["AAPL", "MSFT"] and provider.last_errors == {}
    assert quotes["MSFT"]["bid"] == tws.quotes[MSFT].bid
    assert provider.delayed_symbols == {"MSFT"}
    assert [request[2] for request in tws.requests(59)] == ["3"]
    # the session stays on delayed data: no second switch, no error
    assert provider.get_quote("MSFT")["ask"] == tws.quotes[MSFT].ask
    assert len(tws.requests(59)) == 1


def test_configured_delayed_data_type_is_requested_at_connect(provider_for, tws):
    tws.set_live_subscription("AAPL", False)
    provider = provider_for(market_data_type=3)
    assert provider.get_quote("AAPL")["bid"] == tws.quotes[AAPL].bid
    assert [request[2] for request in tws.requests(59)] == ["3"]


def test_an_old_snapshot_is_never_reported_as_current(provider_for, tws):
    provider = provider_for()
    provider.get_quote("AAPL")
    tws.set_quote("AAPL", None, None)  # IB now has no bid / ask (market closed)
    with pytest.raises(DataProviderError) as info:
        provider.get_quote("AAPL")
    assert info.value.symbol == "AAPL" and "no bid/ask" in str(info.value)


def test_crossed_quote_is_refused(provider_for, tws):
    tws.set_quote("AAPL", 191.0, 190.0)
    provider = provider_for()
    with pytest.raises(DataProviderError, match="crossed"):
        provider.get_quote("AAPL")
    assert issubclass(InvalidQuoteError, DataProviderError)


def test_unknown_symbol_names_it(provider_for):
    provider = provider_for()
    with pytest.raises(DataProviderError) as info:
        provider.get_quote("NOPE")
    assert info.value.symbol == "NOPE" and "NOPE" in str(info.value)
    with pytest.raises(DataProviderError) as history:
        provider.get_historical("NOPE")
    assert history.value.symbol == "NOPE" and "200" in str(history.value)


def test_daily_bars_in_the_common_frame_shape(provider_for, tws):
    provider = provider_for()
    frame = provider.get_historical("AAPL", period="5d", interval="1d")

    request = tws.history_requests[-1]
    assert request == {"symbol": "AAPL", "bar_size": "1 day", "duration": "5 D", "use_rth": True,
                       "what_to_show": "TRADES", "format_date": "2"}
    expected = expected_frame(tws.bars("AAPL", "5 D", "1 day", "TRADES", 2))
    pd.testing.assert_frame_equal(frame, expected)
    assert list(frame.columns) == list(OHLCV_COLUMNS) and str(frame.index.tz) == "UTC"
    assert frame.index.is_monotonic_increasing and len(frame) == 5


def test_intraday_bars_have_utc_timestamps(provider_for, tws):
    provider = provider_for(use_rth=False)
    frame = provider.get_historical("MSFT", period="1d", interval="1h")
    assert tws.history_requests[-1]["bar_size"] == "1 hour" and tws.history_requests[-1]["use_rth"] is False
    pd.testing.assert_frame_equal(frame, expected_frame(tws.bars("MSFT", "1 D", "1 hour", "TRADES", 2)))
    assert frame.index[-1] - frame.index[-2] == pd.Timedelta(hours=1)


def test_forex_bars_use_midpoint_and_crypto_aggregated_trades(provider_for, tws):
    provider = provider_for()
    fx = provider.get_historical("EUR/USD", period="1mo", interval="1d")
    assert tws.history_requests[-1]["what_to_show"] == "MIDPOINT"
    assert (fx["volume"] == 0.0).all()  # IB sends -1 where there is no volume
    provider.get_historical("BTC/USD", period="5d", interval="1d")
    assert tws.history_requests[-1]["what_to_show"] == "AGGTRADES"


def test_ytd_period_counts_days_from_january_first(tws, ib_lib):
    clock = ManualClock("2026-03-01T12:00:00+00:00")
    provider = IBKRDataProvider(port=tws.port, ib_module=ib_lib, clock=clock, **FAST)
    try:
        provider.get_historical("AAPL", period="ytd", interval="1d")
        assert tws.history_requests[-1]["duration"] == f"{(date(2026, 3, 1) - date(2026, 1, 1)).days + 1} D"
    finally:
        provider.close()


def test_bad_period_and_interval_are_refused_before_asking_ib(provider_for, tws):
    provider = provider_for()
    with pytest.raises(DataProviderError, match="allowed"):
        provider.get_historical("AAPL", period="7d")
    with pytest.raises(DataProviderError, match="not available from IB"):
        provider.get_historical("AAPL", period="1mo", interval="90m")
    assert tws.history_requests == []


def test_pacing_violation_is_retried(provider_for, tws):
    tws.pacing_violations = 1
    provider = provider_for(pacing_retries=2)
    frame = provider.get_historical("AAPL", period="5d", interval="1d")
    assert len(frame) == 5 and len(tws.history_requests) == 2


def test_persistent_pacing_violation_is_a_clear_error(provider_for, tws):
    tws.pacing_violations = 10
    provider = provider_for(pacing_retries=2)
    with pytest.raises(DataProviderError) as info:
        provider.get_historical("AAPL", period="5d", interval="1d")
    assert "pacing violation" in str(info.value) and "162" in str(info.value) and info.value.symbol == "AAPL"
    assert len(tws.history_requests) == 3


def test_provider_can_share_a_brokers_connection(tws, ib_lib):
    broker = get_broker("ibkr", port=tws.port, ib_module=ib_lib, **FAST)
    try:
        provider = IBKRDataProvider(connection=broker.connection)
        assert provider.get_quote("EUR/USD")["ask"] == tws.quotes[EURUSD].ask
        provider.close()  # does not close the broker's session
        assert tws.connections == 1
        assert broker.get_quote("AAPL")["bid"] == tws.quotes[AAPL].bid
    finally:
        broker.close()


def test_provider_connects_lazily_and_read_only(tws, ib_lib):
    provider = IBKRDataProvider(port=tws.port, ib_module=ib_lib, **FAST)
    try:
        assert tws.connections == 0
        provider.get_quote("AAPL")
        assert tws.connections == 1
        assert tws.requests(5) == [] and tws.requests(99) == []  # read-only: no order synchronisation
    finally:
        provider.close()
