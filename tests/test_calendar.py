"""Trading calendars per asset class (data/calendar.py): NYSE sessions with holidays and early
closes, crypto around the clock, forex 24/5 (Sunday 17:00 to Friday 17:00 New York)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from LIVE_TRADING.data import calendar


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---------------------------------------------------------------- US equities
@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (utc(2025, 12, 5, 14, 29, 59), False),  # Friday, a second before the 09:30 New York open
        (utc(2025, 12, 5, 14, 30), True),  # the open itself
        (utc(2025, 12, 5, 20, 59, 59), True),
        (utc(2025, 12, 5, 21, 0), False),  # 16:00 New York: the close is not in the session
        (utc(2025, 12, 6, 15, 0), False),  # Saturday
        (utc(2025, 12, 25, 15, 0), False),  # Christmas Day
        (utc(2025, 11, 28, 17, 59), True),  # day after Thanksgiving: closes at 13:00 New York
        (utc(2025, 11, 28, 18, 0), False),
        (utc(2025, 7, 3, 16, 0), True),  # summer time: the open is 13:30 UTC
        (utc(2025, 7, 3, 13, 29), False),
        (utc(2025, 7, 4, 15, 0), False),  # Independence Day
    ],
)
def test_nyse_regular_session(ts, expected):
    assert calendar.is_open("AAPL", ts) is expected
    assert calendar.is_open("equity", ts) is expected


def test_next_open_skips_weekends_and_holidays():
    assert calendar.next_open("AAPL", utc(2025, 12, 6, 15)) == utc(2025, 12, 8, 14, 30)  # Saturday -> Monday
    assert calendar.next_open("AAPL", utc(2025, 12, 24, 19)) == utc(2025, 12, 26, 14, 30)  # over Christmas
    assert calendar.next_open("AAPL", utc(2025, 12, 5, 13)) == utc(2025, 12, 5, 14, 30)  # same morning
    assert calendar.next_open("AAPL", utc(2025, 12, 5, 15)) == utc(2025, 12, 8, 14, 30)  # open now: the next one


def test_session_close_includes_early_closes():
    assert calendar.session_close("AAPL", utc(2025, 11, 28, 15)) == utc(2025, 11, 28, 18)  # 13:00 New York
    assert calendar.session_close("AAPL", utc(2025, 12, 24, 15)) == utc(2025, 12, 24, 18)  # Christmas Eve
    assert calendar.session_close("AAPL", utc(2025, 12, 5, 15)) == utc(2025, 12, 5, 21)


def test_session_close_when_closed_is_the_next_sessions_close():
    assert calendar.session_close("AAPL", utc(2025, 12, 6, 15)) == utc(2025, 12, 8, 21)  # Saturday
    assert calendar.session_close("AAPL", utc(2025, 12, 25, 15)) == utc(2025, 12, 26, 21)  # Christmas
    assert calendar.session_close("AAPL", utc(2025, 12, 5, 21)) == utc(2025, 12, 8, 21)  # at the close


def test_previous_close_and_session_open():
    assert calendar.previous_close("AAPL", utc(2025, 11, 29, 15)) == utc(2025, 11, 28, 18)
    assert calendar.previous_close("AAPL", utc(2025, 11, 28, 15)) == utc(2025, 11, 26, 21)  # inside: the one before
    assert calendar.session_open("AAPL", utc(2025, 12, 6, 15)) == utc(2025, 12, 5, 14, 30)
    assert calendar.session_open("AAPL", utc(2025, 12, 5, 15)) == utc(2025, 12, 5, 14, 30)


def test_any_timezone_in_utc_out():
    new_york = timezone(timedelta(hours=-5))
    assert calendar.is_open("AAPL", datetime(2025, 12, 5, 9, 30, tzinfo=new_york))
    assert calendar.next_open("AAPL", datetime(2025, 12, 6, tzinfo=new_york)).tzinfo is UTC


def test_dates_far_from_today_load_more_years():
    assert calendar.is_open("AAPL", utc(2045, 1, 3, 15))  # a Tuesday
    assert not calendar.is_open("AAPL", utc(2045, 1, 2, 15))  # New Year's Day observed (Monday)
    assert not calendar.is_open("AAPL", utc(1985, 12, 25, 15))


def test_naive_or_non_datetime_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.is_open("AAPL", datetime(2025, 12, 5, 15))
    with pytest.raises(TypeError, match="datetime"):
        calendar.is_open("AAPL", "2025-12-05")  # type: ignore[arg-type]


# ---------------------------------------------------------------- crypto
def test_crypto_trades_around_the_clock():
    sunday = utc(2025, 12, 7, 3)
    assert calendar.is_open("BTC/USDT", sunday)
    assert calendar.is_open("crypto", utc(2025, 12, 25, 15))
    assert calendar.next_open("BTCUSDT", sunday) == sunday
    assert calendar.session_close("BTCUSDT", sunday) is None
    assert calendar.previous_close("ETHBTC", sunday) is None


# ---------------------------------------------------------------- forex 24/5
@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (utc(2025, 12, 6, 15), False),  # Saturday
        (utc(2025, 12, 7, 21, 59), False),  # Sunday 16:59 New York
        (utc(2025, 12, 7, 22, 0), True),  # Sunday 17:00 New York: the week opens
        (utc(2025, 12, 9, 3), True),  # Tuesday night
        (utc(2025, 12, 5, 21, 59), True),  # Friday 16:59 New York
        (utc(2025, 12, 5, 22, 0), False),  # Friday 17:00 New York: the week closes
        (utc(2025, 7, 6, 21, 0), True),  # Sunday 17:00 New York in summer time is 21:00 UTC
        (utc(2025, 7, 6, 20, 59), False),
    ],
)
def test_forex_is_open_sunday_evening_to_friday_evening(ts, expected):
    assert calendar.is_open("EUR/USD", ts) is expected
    assert calendar.is_open("forex", ts) is expected


def test_forex_sessions_are_trading_days_rolling_over_at_17_new_york():
    saturday = utc(2025, 12, 6, 15)
    assert calendar.next_open("EURUSD", saturday) == utc(2025, 12, 7, 22)  # Sunday 17:00 New York
    assert calendar.session_close("EURUSD", saturday) == utc(2025, 12, 8, 22)  # first day of the week
    assert calendar.previous_close("EURUSD", saturday) == utc(2025, 12, 5, 22)  # Friday 17:00
    tuesday = utc(2025, 12, 9, 15)
    assert calendar.session_close("EURUSD", tuesday) == utc(2025, 12, 9, 22)
    assert calendar.session_open("EURUSD", tuesday) == utc(2025, 12, 8, 22)
    assert calendar.session_open("EURUSD", saturday) == utc(2025, 12, 4, 22)  # the week's last day began Thursday


def test_asset_class_overrides_change_the_calendar():
    saturday = utc(2025, 12, 6, 15)
    assert not calendar.is_open("XYZ", saturday)
    assert calendar.is_open("XYZ", saturday, {"XYZ": "crypto"})


def test_first_call_of_each_function_loads_the_schedule(monkeypatch):
    """Each entry point works as the very first call in a process (the lists start empty)."""
    for name in ("is_open", "next_open", "session_close", "previous_close", "session_open"):
        monkeypatch.setattr(calendar, "_EQUITY", calendar._Sessions(calendar.EQUITY_CALENDAR))
        assert getattr(calendar, name)("AAPL", utc(2025, 12, 6, 15)) is not None
