"""Replaying quotes and bars from CSV and Parquet files, stepped by the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from LIVE_TRADING.common.clock import ManualClock
from LIVE_TRADING.common.exceptions import ConfigError, DataProviderError
from LIVE_TRADING.data.provider import get_data_provider
from LIVE_TRADING.data.quotes import mid_price
from LIVE_TRADING.data.replay import ReplayDataProvider

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)

QUOTES_CSV = """timestamp,symbol,bid,ask,bid_size,ask_size
2026-01-05T14:30:00Z,AAPL,100.00,100.10,5,6
2026-01-05T14:30:30Z,msft,300.00,300.50,,
2026-01-05T14:31:00Z,AAPL,100.20,100.30,7,8
2026-01-05T14:32:00Z,AAPL,100.40,100.50,9,10
"""

BARS_CSV = """Timestamp,Symbol,Open,High,Low,Close,Volume
2026-01-05 14:30:00,AAPL,100.0,101.0,99.0,100.5,1000
2026-01-05 14:31:00,AAPL,100.5,101.5,100.0,101.0,2000
2026-01-05 14:32:00,AAPL,101.0,102.0,100.5,101.5,
2026-01-05 14:33:00,AAPL,101.5,103.0,101.0,102.5,500
2026-01-05 14:34:00,AAPL,102.5,102.5,99.5,100.0,100
"""


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def at(clock: ManualClock, when: str) -> ManualClock:
    clock.set(datetime.fromisoformat(when))
    return clock


# -- quotes files ----------------------------------------------------------------


def test_quotes_step_with_the_clock(tmp_path):
    clock = ManualClock("2026-01-05T14:29:59+00:00")
    provider = ReplayDataProvider(write(tmp_path, QUOTES_CSV), clock=clock)
    assert provider.kind == "quotes"
    assert provider.symbols == ["AAPL", "MSFT"]
    assert provider.first_timestamp == T0
    assert provider.last_timestamp == T0 + timedelta(minutes=2)

    with pytest.raises(DataProviderError, match=r"No quote for AAPL at .* starts at 2026-01-05T14:30:00") as err:
        provider.get_quote("AAPL")
    assert err.value.symbol == "AAPL"

    at(clock, "2026-01-05T14:30:00+00:00")  # exactly at a row
    quote = provider.get_quote("aapl")
    assert (quote["bid"], quote["ask"], quote["bid_size"], quote["ask_size"]) == (100.0, 100.1, 5.0, 6.0)
    assert quote["timestamp"] == T0

    at(clock, "2026-01-05T14:31:59+00:00")  # between rows: the latest before
    quote = provider.get_quote("AAPL")
    assert (quote["bid"], quote["timestamp"]) == (100.2, T0 + timedelta(minutes=1))

    at(clock, "2026-01-06T00:00:00+00:00")  # after the end: the last row, with its own (old) time
    quote = provider.get_quote("AAPL")
    assert (quote["bid"], quote["timestamp"]) == (100.4, T0 + timedelta(minutes=2))


def test_quotes_without_sizes_use_the_configured_size(tmp_path, clock):
    provider = ReplayDataProvider(write(tmp_path, QUOTES_CSV), clock=at(clock, "2026-01-05T14:31:00+00:00"), size=25)
    quote = provider.get_quote("MSFT")
    assert (quote["bid_size"], quote["ask_size"]) == (25.0, 25.0)


def test_multiple_quotes_keep_the_good_and_report_the_bad(tmp_path, clock):
    provider = ReplayDataProvider(write(tmp_path, QUOTES_CSV), clock=at(clock, "2026-01-05T14:30:10+00:00"))
    quotes = provider.get_multiple_quotes(["AAPL", "MSFT", "TSLA"])
    assert list(quotes) == ["AAPL"]
    assert set(provider.last_errors) == {"MSFT", "TSLA"}
    assert "starts at 2026-01-05T14:30:30" in provider.last_errors["MSFT"]
    assert "No data for TSLA in replay file" in provider.last_errors["TSLA"]
    assert "AAPL, MSFT" in provider.last_errors["TSLA"]


def test_duplicate_rows_keep_the_later_one(tmp_path, clock):
    text = QUOTES_CSV + "2026-01-05T14:30:00Z,AAPL,99.00,99.50,1,1\n"
    provider = ReplayDataProvider(write(tmp_path, text), clock=at(clock, "2026-01-05T14:30:00+00:00"))
    assert provider.get_quote("AAPL")["bid"] == 99.0


@pytest.mark.parametrize(("scale", "unit"), [(1, "s"), (1000, "ms")])
def test_numeric_epoch_timestamps(tmp_path, clock, scale, unit):
    epoch = int(T0.timestamp()) * scale
    text = f"timestamp,symbol,bid,ask\n{epoch},AAPL,1.0,1.1\n"
    provider = ReplayDataProvider(write(tmp_path, text), clock=at(clock, "2026-01-05T14:30:00+00:00"))
    assert provider.get_quote("AAPL")["timestamp"] == T0


def test_timestamps_with_offsets_are_converted_to_utc(tmp_path, clock):
    text = "timestamp,symbol,bid,ask\n2026-01-05T09:30:00-05:00,AAPL,1.0,1.1\n"
    provider = ReplayDataProvider(write(tmp_path, text), clock=at(clock, "2026-01-05T14:30:00+00:00"))
    assert provider.get_quote("AAPL")["timestamp"] == T0


# -- bars files ------------------------------------------------------------------


def test_bars_become_quotes_around_the_close(tmp_path, clock):
    provider = ReplayDataProvider(
        write(tmp_path, BARS_CSV), clock=at(clock, "2026-01-05T14:31:30+00:00"), spread_bps=10, size=300
    )
    assert provider.kind == "bars"
    quote = provider.get_quote("AAPL")
    assert mid_price(quote) == pytest.approx(101.0)
    assert quote["spread_bps"] == pytest.approx(10.0)
    assert (quote["bid_size"], quote["ask_size"]) == (300.0, 300.0)
    assert quote["timestamp"] == T0 + timedelta(minutes=1)


def test_bars_labelled_by_start_never_look_ahead(tmp_path, clock):
    provider = ReplayDataProvider(write(tmp_path, BARS_CSV), clock=clock, bar_time="start")
    at(clock, "2026-01-05T14:30:00+00:00")  # the first bar just opened: its close is not known
    with pytest.raises(DataProviderError, match="AAPL"):
        provider.get_quote("AAPL")
    at(clock, "2026-01-05T14:31:00+00:00")  # now it closed
    quote = provider.get_quote("AAPL")
    assert (mid_price(quote), quote["timestamp"]) == (pytest.approx(100.5), T0 + timedelta(minutes=1))
    at(clock, "2026-01-05T14:34:59+00:00")  # the last bar closes one bar length after it opened
    assert mid_price(provider.get_quote("AAPL")) == pytest.approx(102.5)
    at(clock, "2026-01-05T14:35:00+00:00")
    assert mid_price(provider.get_quote("AAPL")) == pytest.approx(100.0)
    # history shows only the bars closed by now
    at(clock, "2026-01-05T14:32:00+00:00")
    bars = provider.get_historical("AAPL", "1d", "1m")
    assert bars["close"].tolist() == [100.5, 101.0]


def test_parquet_replays_like_csv(tmp_path, clock):
    csv = write(tmp_path, BARS_CSV)
    frame = pd.read_csv(csv)
    frame["Timestamp"] = pd.to_datetime(frame["Timestamp"], utc=True)
    parquet = tmp_path / "bars.parquet"
    frame.to_parquet(parquet)
    at(clock, "2026-01-05T14:33:10+00:00")
    from_csv, from_parquet = ReplayDataProvider(csv, clock=clock), ReplayDataProvider(parquet, clock=clock)
    assert from_parquet.get_quote("AAPL") == from_csv.get_quote("AAPL")
    pd.testing.assert_frame_equal(
        from_parquet.get_historical("AAPL", "1d", "1m"), from_csv.get_historical("AAPL", "1d", "1m")
    )


# -- history ---------------------------------------------------------------------


def test_history_of_bars_native_and_resampled(tmp_path, clock):
    provider = ReplayDataProvider(write(tmp_path, BARS_CSV), clock=at(clock, "2026-01-05T14:33:30+00:00"))
    native = provider.get_historical("AAPL", "1d", "1m")
    assert native["close"].tolist() == [100.5, 101.0, 101.5, 102.5]  # nothing after now
    assert native["volume"].tolist() == [1000.0, 2000.0, 0.0, 500.0]
    at(clock, "2026-01-05T15:00:00+00:00")
    five = provider.get_historical("AAPL", "1d", "5m")
    assert len(five) == 1
    assert five.index[0] == pd.Timestamp("2026-01-05 14:30", tz="UTC")
    row = five.iloc[0]
    assert (row["open"], row["high"], row["low"], row["close"], row["volume"]) == (100.0, 103.0, 99.0, 100.0, 3600.0)


@pytest.mark.parametrize("bar_time", ["end", "start"])
@pytest.mark.parametrize("now", ["14:30:00", "14:31:00", "14:33:30", "15:00:00"])
def test_recent_bars_on_the_file_grid_are_the_bars_history_gives(tmp_path, clock, bar_time, now):
    """The warm-up's ``get_recent_bars``: bars already on the interval's grid come straight from the file,
    the same frame (values, labels, dtypes) as ``get_historical``'s last bars; off the grid they are resampled."""
    provider = ReplayDataProvider(write(tmp_path, BARS_CSV), clock=clock, bar_time=bar_time)
    at(clock, f"2026-01-05T{now}+00:00")
    try:
        history = provider.get_historical("AAPL", "1d", "1m")
    except DataProviderError:  # before the first bar is known: both refuse
        with pytest.raises(DataProviderError, match="AAPL"):
            provider.get_recent_bars("AAPL", "1m", 3)
        return
    for count in (1, 3, 10):
        # (``freq`` aside: pandas sets it on resampled indexes only, as it did before)
        pd.testing.assert_frame_equal(provider.get_recent_bars("AAPL", "1m", count), history.iloc[-count:],
                                      check_freq=False)
    # five-minute bars are not the file's: resampled, the last one holding the current quote
    five = provider.get_recent_bars("AAPL", "5m", 2)
    assert five["close"].iloc[-1] == history["close"].iloc[-1]
    assert five.index[-1] == pd.Timestamp("2026-01-05 14:30", tz="UTC")


def test_history_of_quotes_is_bars_of_the_mid(tmp_path, clock):
    provider = ReplayDataProvider(write(tmp_path, QUOTES_CSV), clock=at(clock, "2026-01-05T14:40:00+00:00"))
    bars = provider.get_historical("AAPL", "1d", "1m")
    assert bars["close"].tolist() == pytest.approx([100.05, 100.25, 100.45])
    assert (bars["volume"] == 0).all()
    two = provider.get_historical("AAPL", "1d", "2m")
    assert two["open"].tolist() == pytest.approx([100.05, 100.45])
    assert two["close"].tolist() == pytest.approx([100.25, 100.45])


def test_history_window_and_max(tmp_path, clock):
    times = pd.date_range("2025-12-01", "2026-01-05", freq="1D", tz="UTC")
    frame = pd.DataFrame({"timestamp": times, "symbol": "X", "bid": range(1, len(times) + 1)})
    frame["ask"] = frame["bid"] + 0.5
    path = tmp_path / "daily.parquet"
    frame.to_parquet(path)
    provider = ReplayDataProvider(path, clock=at(clock, "2026-01-05T12:00:00+00:00"))
    assert len(provider.get_historical("X", "5d", "1d")) == 5
    assert len(provider.get_historical("X", "max", "1d")) == len(times)
    weekly = provider.get_historical("X", "max", "1wk")
    assert weekly.index[0] <= times[0] < weekly.index[1]  # the first week holds the first day
    assert weekly["open"].iloc[0] == 1.25
    # a window after the data ended is empty, in the common shape
    at(clock, "2026-03-01T00:00:00+00:00")
    empty = provider.get_historical("X", "5d", "1d")
    assert empty.empty
    assert list(empty.columns) == ["open", "high", "low", "close", "volume"]
    assert str(empty.index.dtype) == "datetime64[ns, UTC]"
    # before the data starts
    at(clock, "2025-11-01T00:00:00+00:00")
    with pytest.raises(DataProviderError, match="No history for X"):
        provider.get_historical("X")
    with pytest.raises(DataProviderError, match="No data for Y"):
        provider.get_historical("Y")


# -- validation on load ----------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("timestamp,symbol,bid", "of quotes lacks column(s): ask"),
        ("time,symbol,bid,ask", "of quotes lacks column(s): timestamp"),
        ("timestamp,bid,ask", "of quotes lacks column(s): symbol"),
        ("timestamp,symbol,open,close", "of bars lacks column(s): high, low"),
        ("timestamp,ticker,price", "neither quotes (missing: symbol, bid, ask) nor bars (missing: symbol, open, high"),
    ],
)
def test_missing_columns_are_named(tmp_path, header, message):
    path = write(tmp_path, header + "\n")
    with pytest.raises(DataProviderError) as err:
        ReplayDataProvider(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_bad_rows_are_named(tmp_path):
    text = (
        "timestamp,symbol,bid,ask,bid_size\n"
        "not a time,AAPL,1,2,1\n"
        "2026-01-05T14:30:00Z,,1,2,1\n"
        "2026-01-05T14:30:00Z,AAPL,3,2,1\n"
        "2026-01-05T14:30:00Z,AAPL,abc,2,1\n"
        "2026-01-05T14:30:00Z,AAPL,-1,2,1\n"
        "2026-01-05T14:30:00Z,AAPL,1,2,-5\n"
        "2026-01-05T14:30:00Z,AAPL,1,2,1\n"
    )
    with pytest.raises(DataProviderError) as err:
        ReplayDataProvider(write(tmp_path, text))
    message = str(err.value)
    assert "unparseable timestamp in row 1" in message
    assert "empty symbol in row 2" in message
    assert "crossed quote (bid > ask) in row 3" in message
    assert "bid is not a positive number in 2 rows: 4, 5" in message
    assert "bid_size is negative or infinite in row 6" in message
    assert "row 7" not in message


def test_bad_bars_are_named(tmp_path):
    text = "timestamp,symbol,open,high,low,close\n2026-01-05T14:30:00Z,AAPL,10,9,8,10\n2026-01-05T14:31:00Z,AAPL,10,12,11,10.5\n"
    with pytest.raises(DataProviderError) as err:
        ReplayDataProvider(write(tmp_path, text))
    assert "high below open, low or close in row 1" in str(err.value)
    assert "low above open or close in row 2" in str(err.value)


def test_file_without_rows(tmp_path):
    with pytest.raises(DataProviderError, match="has no rows"):
        ReplayDataProvider(write(tmp_path, "timestamp,symbol,bid,ask\n"))


def test_infinite_prices_and_sizes_are_bad_rows(tmp_path):
    text = "timestamp,symbol,bid,ask,ask_size\n2026-01-05T14:30:00Z,AAPL,1,inf,1\n2026-01-05T14:30:00Z,AAPL,1,2,inf\n"
    with pytest.raises(DataProviderError) as err:
        ReplayDataProvider(write(tmp_path, text))
    assert "ask is not a positive number in row 1" in str(err.value)
    assert "ask_size is negative or infinite in row 2" in str(err.value)


def test_unreadable_file(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not parquet")
    with pytest.raises(DataProviderError, match="cannot be read"):
        ReplayDataProvider(path)


def test_path_must_be_set_and_exist(tmp_path, write_config):
    with pytest.raises(ConfigError, match=r"live_trading\.data\.replay\.path must name a CSV or Parquet file"):
        ReplayDataProvider()
    with pytest.raises(ConfigError, match=r"names no file: .*nowhere\.csv"):
        ReplayDataProvider(tmp_path / "nowhere.csv")
    with pytest.raises(ConfigError, match=r"must end in one of \.csv, \.csv\.gz, \.parquet, \.pq"):
        ReplayDataProvider(write(tmp_path, QUOTES_CSV, "quotes.txt"))
    write_config({"data": {"replay": {"path": str(tmp_path / "gone.csv")}}})
    with pytest.raises(ConfigError, match=r"gone.csv' \(in "):
        get_data_provider("replay")


def test_bad_settings_listed_together(tmp_path):
    with pytest.raises(ConfigError) as err:
        ReplayDataProvider(write(tmp_path, QUOTES_CSV), spread_bps=-1, size="big", bar_time="middle")
    assert len(err.value.problems) == 3
    assert "bar_time must be one of end, start, got 'middle'" in str(err.value)


def test_config_file_drives_the_provider(tmp_path, write_config, clock):
    path = write(tmp_path, BARS_CSV)
    write_config({"data": {"provider": "replay", "replay": {"path": str(path), "spread_bps": 20, "size": 5}}})
    provider = get_data_provider(clock=at(clock, "2026-01-05T14:30:00+00:00"))
    quote = provider.get_quote("AAPL")
    assert quote["spread_bps"] == pytest.approx(20.0)
    assert quote["bid_size"] == 5.0


@pytest.mark.parametrize("with_bad", [False, True])
def test_dictionary_encoded_timestamps_convert_like_plain_text(with_bad):
    """CSV text timestamps arrive dictionary-encoded (one value per distinct time): converting the distinct
    values and spreading them to the rows gives what converting every row gives (arrow's parser, or pandas'
    when arrow refuses a cell), nulls included."""
    import pyarrow as pa

    from LIVE_TRADING.data.replay import _NAT, _times_ns

    chunks = [["2026-01-05T14:30:00Z", None, "2026-01-05T09:31:00-05:00"],
              ["2026-01-05T14:30:00Z", "2026-01-05 14:32:00", "2026-01-05T14:31:00+00:00"]]
    if with_bad:
        chunks[1].append("not a time")
    plain = pa.chunked_array([pa.array(c, pa.string()) for c in chunks])
    encoded = pa.chunked_array([pa.array(c, pa.string()).dictionary_encode() for c in chunks])
    got, expected = _times_ns(encoded), _times_ns(plain)
    assert got.dtype == expected.dtype and got.tolist() == expected.tolist()
    assert got[1] == _NAT and got[0] == got[3] == int(T0.timestamp()) * 10**9
    assert bool(got[-1] == _NAT) is with_bad


def test_text_timestamps_arrow_cannot_read_are_not_shifted(tmp_path, clock):
    """A column arrow's parser refuses (mixed separators) goes through pandas, which parses text to
    microseconds: the rows still land at their own time, not 1000x closer to 1970."""
    text = "timestamp,symbol,bid,ask\n2026-01-05T14:30:00Z,AAPL,1.0,1.1\n2026-01-05 14:31:00,AAPL,2.0,2.1\n"
    provider = ReplayDataProvider(write(tmp_path, text), clock=at(clock, "2026-01-05T14:31:00+00:00"))
    assert provider.first_timestamp == T0
    quote = provider.get_quote("AAPL")
    assert quote["bid"] == 2.0 and quote["timestamp"] == T0 + timedelta(minutes=1)


def test_timestamps_beyond_the_nanosecond_range_are_unparseable(tmp_path):
    text = "timestamp,symbol,bid,ask\n2026-01-05T14:30:00Z,AAPL,1.0,1.1\n2500-01-05 14:31:00,AAPL,2.0,2.1\n"
    with pytest.raises(DataProviderError, match="unparseable timestamp in row 2"):
        ReplayDataProvider(write(tmp_path, text))
