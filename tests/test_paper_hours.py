"""The paper broker's trading-hours policy (brokers/paper/hours.py), as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from LIVE_TRADING.brokers.paper import hours
from LIVE_TRADING.common.exceptions import ConfigError, OrderRejectedError

SATURDAY = datetime(2025, 12, 6, 15, 0, tzinfo=UTC)
MONDAY_OPEN = datetime(2025, 12, 8, 14, 30, tzinfo=UTC)
FRIDAY_MIDDAY = datetime(2025, 12, 5, 17, 0, tzinfo=UTC)
CHRISTMAS = datetime(2025, 12, 25, 15, 0, tzinfo=UTC)
BLACK_FRIDAY = datetime(2025, 11, 28, 15, 0, tzinfo=UTC)  # closes early, 13:00 New York
CRYPTO_SUNDAY = datetime(2025, 12, 7, 4, 0, tzinfo=UTC)
FOREX_SUNDAY_EVENING = datetime(2025, 12, 7, 23, 0, tzinfo=UTC)  # 18:00 New York

HAND = {"symbol": "AAPL", "bid": 99.0, "ask": 101.0}  # set_quote: no market_open
CLOSED = {**HAND, "market_open": False}
OPEN = {**HAND, "market_open": True}


def decide(mode, policy, symbol, now, quote=None, order_type="market", tif="gtc"):
    return hours.decide(mode, policy, symbol, now, quote, order_type=order_type, time_in_force=tif)


# ---------------------------------------------------------------- is the market open?
@pytest.mark.parametrize(
    ("mode", "quote", "now", "expected"),
    [
        ("quotes", HAND, SATURDAY, True),  # a quote set by hand is a market that trades
        ("quotes", None, SATURDAY, True),
        ("quotes", CLOSED, FRIDAY_MIDDAY, False),  # the provider's word wins over the calendar
        ("quotes", OPEN, SATURDAY, True),
        ("calendar", HAND, SATURDAY, False),  # the calendar, whatever the quote
        ("calendar", OPEN, CHRISTMAS, False),
        ("calendar", CLOSED, FRIDAY_MIDDAY, True),
        ("always", CLOSED, SATURDAY, True),
    ],
)
def test_market_is_open_by_mode(mode, quote, now, expected):
    assert hours.market_is_open(mode, "AAPL", now, quote) is expected


def test_calendar_mode_per_asset_class():
    assert hours.market_is_open("calendar", "BTC/USDT", CRYPTO_SUNDAY)
    assert not hours.market_is_open("calendar", "EUR/USD", SATURDAY)
    assert hours.market_is_open("calendar", "EUR/USD", FOREX_SUNDAY_EVENING)
    assert not hours.market_is_open("calendar", "EUR/USD", datetime(2025, 12, 7, 20, 0, tzinfo=UTC))  # 15:00 NY
    assert hours.market_is_open("calendar", "AAPL", SATURDAY, asset_classes={"AAPL": "crypto"})


# ---------------------------------------------------------------- what an order does
def test_open_market_trades():
    d = decide("calendar", "reject", "AAPL", FRIDAY_MIDDAY)
    assert (d.action, d.market_open, d.next_open) == ("trade", True, None)
    assert decide("calendar", "queue", "BTCUSDT", CRYPTO_SUNDAY).action == "trade"


@pytest.mark.parametrize("order_type", ["market", "limit", "stop", "stop_limit"])
def test_closed_market_queues_until_the_next_open(order_type):
    d = decide("calendar", "queue", "AAPL", SATURDAY, order_type=order_type)
    assert (d.action, d.market_open, d.next_open) == ("queue", False, MONDAY_OPEN)


def test_queue_over_a_holiday_waits_for_the_day_after():
    d = decide("calendar", "queue", "AAPL", CHRISTMAS)
    assert d.next_open == datetime(2025, 12, 26, 14, 30, tzinfo=UTC)


def test_reject_names_the_market_and_its_next_open():
    with pytest.raises(OrderRejectedError) as info:
        decide("calendar", "reject", "AAPL", SATURDAY)
    assert info.value.symbol == "AAPL"
    assert "Market closed" in info.value.reason
    assert "2025-12-08T14:30:00+00:00" in info.value.reason
    assert "outside_hours is reject" in info.value.reason


def test_forex_saturday_is_closed_sunday_evening_open():
    with pytest.raises(OrderRejectedError, match=r"forex market of EUR/USD is closed \(next open 2025-12-07T22:00"):
        decide("calendar", "reject", "EUR/USD", SATURDAY)
    assert decide("calendar", "reject", "EUR/USD", FOREX_SUNDAY_EVENING).action == "trade"


@pytest.mark.parametrize("tif", ["ioc", "fok"])
def test_ioc_and_fok_cannot_wait_for_the_open(tif):
    with pytest.raises(OrderRejectedError, match=f"a {tif} limit order cannot wait for the open"):
        decide("calendar", "queue", "AAPL", SATURDAY, order_type="limit", tif=tif)


def test_quotes_mode_follows_the_provider_flag():
    assert decide("quotes", "reject", "AAPL", SATURDAY, HAND).action == "trade"  # set by hand: trades
    with pytest.raises(OrderRejectedError, match="next open 2025-12-08T14:30"):
        decide("quotes", "reject", "AAPL", SATURDAY, CLOSED)
    assert decide("always", "reject", "AAPL", SATURDAY, CLOSED).action == "trade"


# ---------------------------------------------------------------- day orders
def test_day_order_expires_at_the_session_close():
    assert hours.day_expiry("AAPL", FRIDAY_MIDDAY, "calendar") == datetime(2025, 12, 5, 21, 0, tzinfo=UTC)


def test_day_order_on_an_early_close_day_expires_at_the_early_close():
    assert hours.day_expiry("AAPL", BLACK_FRIDAY, "calendar") == datetime(2025, 11, 28, 18, 0, tzinfo=UTC)
    assert hours.day_expiry("AAPL", BLACK_FRIDAY, "quotes", quote=OPEN) == datetime(2025, 11, 28, 18, 0, tzinfo=UTC)


def test_day_order_placed_while_closed_lives_through_the_next_session():
    assert hours.day_expiry("AAPL", SATURDAY, "calendar") == datetime(2025, 12, 8, 21, 0, tzinfo=UTC)
    assert hours.day_expiry("AAPL", CHRISTMAS, "calendar") == datetime(2025, 12, 26, 21, 0, tzinfo=UTC)


def test_day_order_without_sessions_keeps_the_end_of_day_utc_rule():
    eod = time(21, 0)
    # crypto has no sessions
    assert hours.day_expiry("BTCUSDT", CRYPTO_SUNDAY, "calendar", eod=eod) == datetime(2025, 12, 7, 21, tzinfo=UTC)
    # a quote set by hand in quotes mode (and no quote at all), and always mode
    assert hours.day_expiry("AAPL", BLACK_FRIDAY, "quotes", quote=HAND) == datetime(2025, 11, 29, 0, tzinfo=UTC)
    assert hours.day_expiry("AAPL", BLACK_FRIDAY, "quotes") == datetime(2025, 11, 29, 0, tzinfo=UTC)
    assert hours.day_expiry("AAPL", BLACK_FRIDAY, "always", eod=eod) == datetime(2025, 11, 28, 21, tzinfo=UTC)
    # at the cut itself: the next day's
    assert hours.end_of_day_utc(datetime(2025, 12, 5, 21, tzinfo=UTC), eod) == datetime(2025, 12, 6, 21, tzinfo=UTC)


def test_day_order_in_forex_ends_at_the_17_new_york_rollover():
    tuesday = datetime(2025, 12, 9, 15, 0, tzinfo=UTC)
    assert hours.day_expiry("EUR/USD", tuesday, "calendar") == datetime(2025, 12, 9, 22, 0, tzinfo=UTC)
    assert hours.day_expiry("EUR/USD", SATURDAY, "calendar") == datetime(2025, 12, 8, 22, 0, tzinfo=UTC)


# ---------------------------------------------------------------- settings
def test_settings_are_validated():
    assert hours.check_mode(" Calendar ", "REJECT") == ("calendar", "reject")
    with pytest.raises(ConfigError) as info:
        hours.check_mode("sometimes", 3)
    assert len(info.value.problems) == 2
    assert "trading_hours must be one of quotes, calendar, always, got 'sometimes'" in str(info.value)
    assert "outside_hours must be one of queue, reject, got 3" in str(info.value)
