"""BinanceBroker under faults, end to end against the loopback stand-in (real requests).

Clock skew and -1021, lost answers after an order was accepted (never two
orders), 5xx and timeouts, 429/418 and Retry-After, request weight over a
burst, every mapped Binance error, and secrets kept out of logs and errors.
Every wait goes through an injected sleep that advances a manual clock.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from fakes.binance_server import FakeBinance
from fakes.binance_support import Sleeper, make_broker

from LIVE_TRADING.common.exceptions import (
    AuthenticationError,
    BrokerConnectionError,
    BrokerError,
    InsufficientFundsError,
    OrderNotFoundError,
    OrderRejectedError,
    OrderStatusUnknownError,
    RateLimitError,
)


@pytest.fixture
def sleeper(clock):
    return Sleeper(clock)


@pytest.fixture
def fake(clock):
    with FakeBinance(clock=clock) as server:
        yield server


@pytest.fixture
def broker(fake, clock, sleeper):
    b = make_broker(fake, clock, sleeper)
    yield b
    b.unwrap().close()


def posts(fake):
    return fake.calls("POST", "/api/v3/order")


def lookups(fake):
    return [c for c in fake.calls("GET", "/api/v3/order") if "origClientOrderId" in c["params"]]


# -- clock ------------------------------------------------------------------------


@pytest.mark.parametrize("skew_ms", [15_000, -15_000])
def test_a_15_second_clock_skew_at_start_is_survived(fake, clock, sleeper, skew_ms):
    fake.skew_ms = skew_ms  # the server's clock is 15 s ahead of / behind ours
    broker = make_broker(fake, clock, sleeper)
    venue = broker.unwrap()
    assert venue.http.offset_ms == skew_ms
    assert broker.now() == clock() + timedelta(milliseconds=skew_ms)
    assert broker.submit_order("BTCUSDT", "BUY", 0.001)["status"] == "filled"
    assert broker.get_cash() > 0
    assert len(fake.calls("GET", "/api/v3/time")) == 1  # measured once, never needed again
    # without the offset the stand-in refuses our timestamps (-1021): the adapter re-measures and retries
    venue.http.offset_ms = 0
    assert broker.get_cash() > 0
    assert len(fake.calls("GET", "/api/v3/time")) == 2 and venue.http.offset_ms == skew_ms


def test_a_clock_jump_mid_session_resyncs_and_retries_once(fake, broker):
    fake.skew_ms = -15_000  # our timestamps are now 15 s ahead: Binance answers -1021
    assert broker.get_cash() == 10000.0
    assert len(fake.calls("GET", "/api/v3/time")) == 2
    assert len(fake.calls("GET", "/api/v3/account")) == 2  # refused once, then accepted
    fake.skew_ms = 20_000
    assert broker.submit_order("BTCUSDT", "BUY", 0.001)["status"] == "filled"
    assert len(posts(fake)) == 2 and len(fake.orders) == 1  # the refused POST was never executed


def test_a_persistent_timestamp_error_is_raised_after_one_resync(fake, broker):
    fake.inject("GET", "/api/v3/account", "status", status=400, code=-1021, count=2,
                msg="Timestamp for this request is outside of the recvWindow.")
    with pytest.raises(BrokerError) as info:
        broker.get_cash()
    assert info.value.code == -1021
    assert len(fake.calls("GET", "/api/v3/account")) == 2


# -- lost answers: never two orders --------------------------------------------------------


@pytest.mark.parametrize("mode", ["drop_after", "error_after"])
def test_lost_answer_after_accept_gives_exactly_one_order(fake, broker, mode):
    fake.inject("POST", "/api/v3/order", mode, status=502)
    result = broker.submit_order("BTCUSDT", "BUY", 0.001, client_order_id="lost-1")
    assert (result["status"], result["client_order_id"], result["filled_qty"]) == ("filled", "lost-1", 0.001)
    assert result["fee"] == pytest.approx(0.000001)  # from the order's trades
    assert len(posts(fake)) == 1 and len(fake.orders) == 1
    # one lookup before sending (a caller's id might already be placed), one to reconcile the lost answer
    assert [c["params"]["origClientOrderId"] for c in lookups(fake)] == ["lost-1", "lost-1"]


def test_lost_answer_of_a_resting_order_gives_exactly_one_order(fake, broker):
    fake.inject("POST", "/api/v3/order", "drop_after")
    result = broker.submit_order("BTCUSDT", "BUY", 0.001, "limit", 49000)
    assert result["status"] == "new"
    assert len(posts(fake)) == 1 and len(fake.orders) == 1


def test_timeout_after_accept_gives_exactly_one_order(fake, clock, sleeper):
    broker = make_broker(fake, clock, sleeper, request_timeout_s=0.3)
    fake.inject("POST", "/api/v3/order", "delay_after", delay_s=1.0)
    result = broker.submit_order("BTCUSDT", "BUY", 0.001)
    assert result["status"] == "filled"
    assert len(posts(fake)) == 1 and len(fake.orders) == 1


def test_order_lost_before_accept_is_sent_once_more_with_the_same_client_id(fake, broker, sleeper):
    fake.inject("POST", "/api/v3/order", "drop_before")
    result = broker.submit_order("BTCUSDT", "BUY", 0.001)
    assert result["status"] == "filled"
    sent = posts(fake)
    assert len(sent) == 2 and len(fake.orders) == 1
    assert sent[0]["params"]["newClientOrderId"] == sent[1]["params"]["newClientOrderId"] == result["client_order_id"]
    assert len(lookups(fake)) == 2  # reconcile_attempts lookups before re-sending
    assert sleeper.calls == [1.0]  # reconcile_delay_s between them


def test_still_unknown_after_the_resend_raises_with_the_client_id(fake, broker):
    fake.inject("POST", "/api/v3/order", "drop_before", count=2)
    with pytest.raises(OrderStatusUnknownError) as info:
        broker.submit_order("BTCUSDT", "BUY", 0.001, client_order_id="unknown-7")
    assert info.value.client_order_id == "unknown-7"
    assert len(posts(fake)) == 2 and fake.orders == {}


def test_when_the_lookup_fails_the_order_is_never_resent(fake, broker):
    fake.inject("POST", "/api/v3/order", "drop_after")
    fake.inject("GET", "/api/v3/order", "status", status=503, code=None, msg="Service Unavailable", count=50)
    with pytest.raises(OrderStatusUnknownError) as info:
        broker.submit_order("BTCUSDT", "BUY", 0.001)
    assert info.value.client_order_id
    assert len(posts(fake)) == 1 and len(fake.orders) == 1


def test_a_resend_answered_duplicate_returns_the_first_order(fake, broker):
    # the answer is lost, the lookup misses the (resting) order, the resend is refused as a duplicate
    fake.inject("POST", "/api/v3/order", "drop_after")
    fake.inject("GET", "/api/v3/order", "status", status=400, code=-2013, msg="Order does not exist.", count=2)
    result = broker.submit_order("BTCUSDT", "BUY", 0.001, "limit", 49000)
    assert result["status"] == "new"
    assert len(posts(fake)) == 2 and len(fake.orders) == 1


# -- retries, 5xx, network ----------------------------------------------------------------


def test_reads_are_retried_with_exponential_backoff(fake, broker, sleeper):
    fake.inject("GET", "/api/v3/account", "status", status=503, code=None, msg="unavailable", count=2)
    assert broker.get_cash() == 10000.0
    assert sleeper.calls == [0.5, 1.0]
    assert len(fake.calls("GET", "/api/v3/account")) == 3


def test_reads_give_up_after_max_retries(fake, clock, sleeper):
    broker = make_broker(fake, clock, sleeper, max_retries=2, backoff_base_s=0.1)
    fake.inject("GET", "/api/v3/account", "drop_before", count=10)
    with pytest.raises(BrokerConnectionError):
        broker.get_cash()
    assert len(fake.calls("GET", "/api/v3/account")) == 3
    assert sleeper.calls == [0.1, 0.2]


def test_read_timeouts_are_retried(fake, clock, sleeper):
    broker = make_broker(fake, clock, sleeper, request_timeout_s=0.3)
    fake.inject("GET", "/api/v3/ticker/bookTicker", "delay", delay_s=1.0)
    assert broker.get_quote("BTCUSDT")["bid"] == 50000.0


def test_a_cancel_whose_answer_was_lost_is_retried_safely(fake, broker):
    order = broker.submit_order("BTCUSDT", "BUY", 0.001, "limit", 49000)
    fake.inject("DELETE", "/api/v3/order", "error_after", status=500)
    result = broker.cancel_order(order["order_id"])
    assert result["status"] == "cancelled"
    assert len(fake.calls("DELETE", "/api/v3/order")) == 2  # the retry got -2011; GET order told the truth


def test_unreachable_venue_is_a_connection_error(clock, sleeper):
    server = FakeBinance(clock=clock).start()
    url = server.url
    server.stop()
    from LIVE_TRADING.brokers.interface import get_broker

    with pytest.raises(BrokerConnectionError):
        get_broker("binance", base_url=url, api_key="k", api_secret="s", clock=clock, sleep=sleeper,
                   max_retries=1)
    assert sleeper.calls == [0.5]


# -- rate limits ----------------------------------------------------------------------------


def test_429_honours_retry_after_then_succeeds(fake, broker, sleeper):
    fake.inject("GET", "/api/v3/ticker/bookTicker", "status", status=429, code=-1003, retry_after=2,
                msg="Too much request weight used")
    assert broker.get_quote("BTCUSDT")["ask"] == 50010.0
    assert sleeper.calls == [2.0]
    assert len(fake.calls("GET", "/api/v3/ticker/bookTicker")) == 2


def test_a_retry_after_beyond_the_bound_raises_and_blocks_further_requests(fake, broker, clock):
    fake.inject("GET", "/api/v3/account", "status", status=429, code=-1003, retry_after=120, msg="slow down")
    with pytest.raises(RateLimitError) as info:
        broker.get_cash()
    assert info.value.retry_after_s == 120 and info.value.code == -1003
    seen = len(fake.requests)
    with pytest.raises(RateLimitError):
        broker.get_quote("BTCUSDT")  # still inside the Retry-After: refused without a request
    assert len(fake.requests) == seen
    clock.advance(seconds=121)
    assert broker.get_quote("BTCUSDT")["bid"] == 50000.0


def test_a_short_418_ban_is_waited_out(fake, broker, sleeper):
    fake.inject("GET", "/api/v3/account", "status", status=418, code=-1003, retry_after=30, msg="IP banned")
    assert broker.get_cash() == 10000.0
    assert sleeper.calls == [30.0]


def test_418_without_retry_after_is_not_retried(fake, broker):
    fake.inject("GET", "/api/v3/account", "status", status=418, code=None, msg="I'm a teapot")
    with pytest.raises(RateLimitError):
        broker.get_cash()
    assert len(fake.calls("GET", "/api/v3/account")) == 1


def test_418_ban_is_a_rate_limit_error_without_retry(fake, broker):
    fake.inject("GET", "/api/v3/account", "status", status=418, code=-1003, retry_after=3600,
                msg="Way too much request weight used; IP banned")
    with pytest.raises(RateLimitError) as info:
        broker.get_cash()
    assert "418" in str(info.value) and info.value.retry_after_s == 3600
    assert len(fake.calls("GET", "/api/v3/account")) == 1


def test_429_on_an_order_is_not_resent(fake, broker):
    fake.inject("POST", "/api/v3/order", "status", status=429, code=-1015, retry_after=1,
                msg="Too many new orders; current limit is 100 orders per 10 SECOND.")
    with pytest.raises(RateLimitError):
        broker.submit_order("BTCUSDT", "BUY", 0.001)
    assert len(posts(fake)) == 1 and fake.orders == {}


def test_venue_health_reports_link_weight_and_blocks(fake, broker, clock, sleeper):
    venue = broker.unwrap()
    health = venue.venue_health()
    assert health["connected"] is True and health["blocked_for_s"] == 0
    assert 0.99 < health["rate_limit_headroom"] <= 1.0  # 21 of 6000 used by start-up
    fake.inject("GET", "/api/v3/account", "status", status=429, code=-1003, retry_after=120, msg="slow")
    with pytest.raises(RateLimitError):
        broker.get_cash()
    assert venue.venue_health()["blocked_for_s"] == pytest.approx(120, abs=1)
    clock.advance(seconds=121)
    fake.inject("GET", "/api/v3/account", "drop_before", count=10)
    with pytest.raises(BrokerConnectionError):
        broker.get_cash()
    assert venue.venue_health()["connected"] is False
    broker.get_quote("BTCUSDT")
    assert venue.venue_health()["connected"] is True


def test_request_weight_stays_under_a_low_limit_over_a_burst_of_200_requests(clock, sleeper):
    with FakeBinance(clock=clock, weight_limit=100) as fake:
        broker = make_broker(fake, clock, sleeper)
        quotes = [broker.get_quote("BTCUSDT") for _ in range(200)]  # 200 x weight 2 = 4 windows' worth
        assert len(quotes) == 200 and all(q["bid"] == 50000.0 for q in quotes)
        assert fake.rejected_429 == 0
        assert fake.max_used_weight <= 100 * 0.8  # weight_headroom
        venue = broker.unwrap()
        assert venue.http.stats["weight_waits"] >= 4 and len(sleeper.calls) == venue.http.stats["weight_waits"]
        assert len(fake.calls("GET", "/api/v3/ticker/bookTicker")) == 200


# -- every mapped error ---------------------------------------------------------------------

ORDER_ERRORS = [
    (400, -2010, "Account has insufficient balance for requested action.", InsufficientFundsError),
    (400, -2010, "Market is closed.", OrderRejectedError),
    (400, -1013, "Filter failure: PERCENT_PRICE_BY_SIDE", OrderRejectedError),
    (400, -1111, "Parameter 'quantity' has too much precision.", OrderRejectedError),
    (400, -1121, "Invalid symbol.", OrderRejectedError),
    (400, -1100, "Illegal characters found in parameter 'newClientOrderId'.", OrderRejectedError),
    (400, -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.", OrderRejectedError),
    (400, -1022, "Signature for this request is not valid.", AuthenticationError),
    (401, -2014, "API-key format invalid.", AuthenticationError),
    (401, -2015, "Invalid API-key, IP, or permissions for action.", AuthenticationError),
    (401, None, "Unauthorized", AuthenticationError),
    (429, -1003, "Too much request weight used", RateLimitError),
    (418, -1003, "IP banned until 1700000000000", RateLimitError),
]


@pytest.mark.parametrize("status, code, msg, expected", ORDER_ERRORS)
def test_binance_order_errors_map_to_our_tree(fake, broker, status, code, msg, expected):
    fake.inject("POST", "/api/v3/order", "status", status=status, code=code, msg=msg)
    with pytest.raises(expected) as info:
        broker.submit_order("BTCUSDT", "BUY", 0.001)
    assert type(info.value) is expected
    assert info.value.code == code and info.value.venue_message == msg
    assert msg in str(info.value)
    assert fake.orders == {} and len(posts(fake)) == 1


@pytest.mark.parametrize(
    "method, path, code, msg, call",
    [
        ("GET", "/api/v3/order", -2013, "Order does not exist.", lambda b: b.get_order("BTCUSDT:1")),
        ("DELETE", "/api/v3/order", -2011, "Unknown order sent.", lambda b: b.cancel_order("BTCUSDT:1")),
    ],
)
def test_unknown_order_codes_map_to_order_not_found(fake, broker, method, path, code, msg, call):
    with pytest.raises(OrderNotFoundError) as info:
        call(broker)
    assert info.value.code == -2013  # the cancel's -2011 is checked with GET order, which says -2013
    assert any(c["path"] == path and c["method"] == method for c in fake.requests)


def test_a_wrong_secret_fails_binance_s_signature_check(fake, clock, sleeper):
    broker = make_broker(fake, clock, sleeper, api_secret="not-the-secret")  # public start-up calls work
    with pytest.raises(AuthenticationError) as info:
        broker.get_cash()
    assert info.value.code == -1022


def test_a_wrong_key_is_refused(fake, clock, sleeper):
    broker = make_broker(fake, clock, sleeper, api_key="not-the-key")
    with pytest.raises(AuthenticationError) as info:
        broker.submit_order("BTCUSDT", "BUY", 0.001)
    assert info.value.code == -2015


# -- secrets ----------------------------------------------------------------------------------


def _texts(exc: BaseException) -> list[str]:
    out = []
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        out += [str(exc), repr(exc), str(getattr(exc, "venue_message", ""))]
        exc = exc.__cause__ or exc.__context__
    return out


def test_secrets_never_reach_logs_errors_or_the_journal(clock, sleeper, caplog, tmp_path):
    key, secret = "KEY-0b7f3c9e1d2a", "SECRET-6f1e8d2c4b3a"
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    with FakeBinance(clock=clock, api_key=key, api_secret=secret) as fake:
        broker = make_broker(fake, clock, sleeper, log_dir=str(tmp_path / "journal"))
        broker.submit_order("BTCUSDT", "BUY", 0.001)
        fake.inject("POST", "/api/v3/order", "drop_after")
        broker.submit_order("BTCUSDT", "BUY", 0.001, "limit", 49000)
        fake.inject("POST", "/api/v3/order", "drop_before", count=2)
        fake.inject("GET", "/api/v3/account", "status", status=429, code=-1003, retry_after=999, msg="slow")
        fake.inject("POST", "/api/v3/order", "status", status=400, code=-2010,
                    msg="Account has insufficient balance for requested action.")
        for call in (
            lambda: broker.submit_order("BTCUSDT", "BUY", 0.001),
            lambda: broker.get_cash(),
            lambda: broker.submit_order("BTCUSDT", "BUY", 0.002),
            lambda: broker.submit_order("BTCUSDT", "BUY", 1e-9),
            lambda: broker.cancel_order("BTCUSDT:99999"),
            lambda: make_broker(fake, clock, sleeper, api_secret=secret + "x").get_cash(),
            lambda: make_broker(fake, clock, sleeper, api_key=key + "x").get_cash(),
        ):
            clock.advance(seconds=1000)
            try:
                call()
            except BrokerError as exc:
                errors.append(exc)
        broker.get_fills()
        signed = [r for r in fake.requests if r["path"] in ("/api/v3/order", "/api/v3/account", "/api/v3/myTrades")]
        public = [r for r in fake.requests if r["path"] in ("/api/v3/time", "/api/v3/exchangeInfo",
                                                          "/api/v3/ticker/bookTicker")]
    assert len(errors) == 7
    texts = [caplog.text, repr(broker), repr(broker.unwrap().config), repr(broker.unwrap().http)]
    texts += [t for exc in errors for t in _texts(exc)]
    texts += [p.read_text() for p in Path(tmp_path / "journal").glob("*.jsonl")]
    for text in texts:
        assert key not in text and secret not in text
    assert caplog.text  # something was logged
    # the key travels only in the X-MBX-APIKEY header of signed requests
    assert all(r["api_key_header"] in (key, key + "x") for r in signed)
    assert all(r["api_key_header"] is None for r in public)
