"""The circuit breaker: unit tests on a manual clock, then end to end against the Binance stand-in."""

from __future__ import annotations

import pytest
from fakes.binance_server import FakeBinance
from fakes.binance_support import Sleeper, make_broker

from LIVE_TRADING.common import alerting
from LIVE_TRADING.common.circuit import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    CircuitBreaker,
    CircuitSettings,
    is_connection_failure,
)
from LIVE_TRADING.common.exceptions import (
    AuthenticationError,
    BrokerConnectionError,
    CircuitOpenError,
    ConfigError,
    InsufficientFundsError,
    OrderNotFoundError,
    OrderRejectedError,
    RateLimitError,
    RiskLimitError,
)


class Tick:
    """A monotonic clock that only moves when told."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


def boom() -> None:
    raise BrokerConnectionError("connection refused")


def ok() -> str:
    return "ok"


@pytest.fixture
def tick() -> Tick:
    return Tick()


def make(tick: Tick, **kw) -> CircuitBreaker:
    kw.setdefault("failure_threshold", 3)
    kw.setdefault("cooldown_s", 30.0)
    return CircuitBreaker("venue", clock=tick, **kw)


def test_opens_after_n_consecutive_failures_and_then_fails_fast(tick):
    cb = make(tick)
    sent = []

    def send():
        sent.append(1)
        boom()

    for _ in range(3):
        with pytest.raises(BrokerConnectionError):
            cb.call(send)
    assert cb.state == OPEN and len(sent) == 3
    with pytest.raises(CircuitOpenError) as info:
        cb.call(send)
    assert len(sent) == 3  # refused before calling
    assert isinstance(info.value, BrokerConnectionError)
    assert info.value.service == "venue" and info.value.retry_in_s == pytest.approx(30.0)
    assert cb.snapshot()["rejected"] == 1 and cb.snapshot()["opened"] == 1


def test_a_success_resets_the_consecutive_count(tick):
    cb = make(tick, min_calls=100)
    for _ in range(2):
        with pytest.raises(BrokerConnectionError):
            cb.call(boom)
    cb.call(ok)
    for _ in range(2):
        with pytest.raises(BrokerConnectionError):
            cb.call(boom)
    assert cb.state == CLOSED


def test_opens_on_error_rate_over_the_window(tick):
    cb = make(tick, failure_threshold=100, error_rate_threshold=0.5, min_calls=6, window_s=60)
    for i in range(6):
        if i % 2:
            with pytest.raises(BrokerConnectionError):
                cb.call(boom)
        else:
            cb.call(ok)
        tick.advance(1)
    assert cb.state == OPEN
    assert "3 of the last 6 calls" in cb.snapshot()["last_reason"]


def test_error_rate_forgets_calls_older_than_the_window(tick):
    cb = make(tick, failure_threshold=100, error_rate_threshold=0.5, min_calls=4, window_s=10)
    for _ in range(3):
        with pytest.raises(BrokerConnectionError):
            cb.call(boom)
    tick.advance(11)  # those three fall out of the window
    cb.call(ok)
    cb.call(ok)
    cb.call(ok)
    with pytest.raises(BrokerConnectionError):
        cb.call(boom)
    assert cb.state == CLOSED  # 1 of 4 in the window


def test_half_open_lets_one_probe_through_and_success_closes(tick):
    cb = make(tick)
    for _ in range(3):
        with pytest.raises(BrokerConnectionError):
            cb.call(boom)
    tick.advance(29.9)
    with pytest.raises(CircuitOpenError):
        cb.call(ok)
    tick.advance(0.2)
    assert cb.state == HALF_OPEN
    cb.before_call()  # the probe is out ...
    with pytest.raises(CircuitOpenError):  # ... and nobody else gets through meanwhile
        cb.before_call()
    cb.record_success()
    assert cb.state == CLOSED
    assert cb.call(ok) == "ok"


def test_a_failed_probe_reopens_for_another_cooldown(tick):
    cb = make(tick)
    for _ in range(3):
        with pytest.raises(BrokerConnectionError):
            cb.call(boom)
    tick.advance(30)
    with pytest.raises(BrokerConnectionError):
        cb.call(boom)
    assert cb.state == OPEN and cb.snapshot()["opened"] == 2
    assert cb.retry_in_s() == pytest.approx(30.0)


@pytest.mark.parametrize("exc", [
    OrderRejectedError("X", "Filter failure: LOT_SIZE"),
    InsufficientFundsError("X", "Account has insufficient balance"),
    RiskLimitError("X", "too big", limit="max_order_qty"),
    OrderNotFoundError("1"),
    RateLimitError("slow down", retry_after_s=5),
    AuthenticationError("bad key"),
    ValueError("a bug, not an outage"),
])
def test_business_answers_never_open_it(tick, exc):
    cb = make(tick, failure_threshold=1, min_calls=1)

    def refuse():
        raise exc

    for _ in range(5):
        with pytest.raises(type(exc)):
            cb.call(refuse)
    assert cb.state == CLOSED and cb.snapshot()["failures"] == 0 and not is_connection_failure(exc)


def test_a_rejection_during_the_probe_proves_the_service_is_up(tick):
    cb = make(tick)
    for _ in range(3):
        with pytest.raises(BrokerConnectionError):
            cb.call(boom)
    tick.advance(30)

    def refuse():
        raise InsufficientFundsError("X", "no money")

    with pytest.raises(InsufficientFundsError):
        cb.call(refuse)
    assert cb.state == CLOSED


@pytest.mark.parametrize("exc", [BrokerConnectionError("x"), TimeoutError(), ConnectionResetError(), OSError("x")])
def test_connection_type_failures_count(exc):
    assert is_connection_failure(exc)
    assert not is_connection_failure(CircuitOpenError("x"))


def test_transitions_call_listeners_and_raise_alerts(tick):
    seen, alerts = [], []
    previous = alerting.install(lambda event, details: alerts.append((event, details)))
    try:
        cb = CircuitSettings(failure_threshold=2, cooldown_s=5).breaker("binance", clock=tick)
        cb.on_transition(lambda b, old, new, reason: seen.append((old, new)))
        cb.on_transition(lambda *a: 1 / 0)  # a broken listener changes nothing
        for _ in range(2):
            with pytest.raises(BrokerConnectionError):
                cb.call(boom)
        tick.advance(5)
        cb.call(ok)
    finally:
        alerting.install(previous)
    assert seen == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]
    assert [e for e, _ in alerts] == ["circuit_opened", "circuit_closed"]
    assert alerts[0][1]["venue"] == "binance" and "2 consecutive failures" in alerts[0][1]["reason"]


def test_disabled_breaker_never_opens(tick):
    cb = make(tick, failure_threshold=1, enabled=False)
    for _ in range(5):
        with pytest.raises(BrokerConnectionError):
            cb.call(boom)
    assert cb.state == CLOSED and cb.snapshot()["failures"] == 5


def test_settings_from_config_are_checked(write_config):
    write_config({"circuit": {"failure_threshold": 0, "error_rate_threshold": 1.5, "cooldown_s": -1}})
    with pytest.raises(ConfigError) as info:
        CircuitSettings.from_config()
    text = str(info.value)
    assert "failure_threshold" in text and "error_rate_threshold" in text and "cooldown_s" in text


def test_settings_defaults():
    s = CircuitSettings.from_config()
    assert (s.failure_threshold, s.cooldown_s, s.enabled) == (5, 30.0, True)


# -- end to end: Binance REST -----------------------------------------------------------------


@pytest.fixture
def fake(clock):
    with FakeBinance(clock=clock) as server:
        yield server


def test_binance_open_circuit_sends_nothing_then_a_probe_closes_it(fake, clock, tick):
    broker = make_broker(fake, clock, Sleeper(clock), max_retries=0)
    http = broker.unwrap().http
    http.circuit = CircuitBreaker("binance", failure_threshold=3, cooldown_s=30, clock=tick)
    fake.inject("GET", "/api/v3/account", "drop_before", count=3)
    for _ in range(3):
        with pytest.raises(BrokerConnectionError) as info:
            broker.get_cash()
        assert not isinstance(info.value, CircuitOpenError)
    assert http.circuit.state == OPEN
    before = len(fake.calls())
    with pytest.raises(CircuitOpenError):
        broker.submit_order("BTCUSDT", "BUY", 0.001, "limit", 49000, client_order_id="cb-1")
    with pytest.raises(CircuitOpenError):
        broker.get_cash()
    assert len(fake.calls()) == before  # nothing reached the venue
    assert fake.calls("POST", "/api/v3/order") == [] and fake.orders_with_client_id("cb-1") == []
    assert broker.venue_health()["circuit"]["state"] == OPEN

    tick.advance(30)
    assert broker.get_cash() == 10000.0  # the probe
    assert http.circuit.state == CLOSED
    order = broker.submit_order("BTCUSDT", "BUY", 0.001, "limit", 49000, client_order_id="cb-2")
    assert order["status"] == "new"
    broker.unwrap().close()


def test_binance_business_rejections_never_open_it(fake, clock, tick):
    broker = make_broker(fake, clock, Sleeper(clock))
    http = broker.unwrap().http
    http.circuit = CircuitBreaker("binance", failure_threshold=2, min_calls=2, cooldown_s=30, clock=tick)
    for _ in range(4):
        with pytest.raises(InsufficientFundsError):
            broker.submit_order("BTCUSDT", "BUY", 50, "limit", 49000)
    fake.inject("POST", "/api/v3/order", "status", status=400, code=-1013, msg="Filter failure: LOT_SIZE", count=3)
    for _ in range(3):
        with pytest.raises(OrderRejectedError):
            broker.submit_order("BTCUSDT", "BUY", 0.001, "limit", 49000)
    assert http.circuit.state == CLOSED and http.circuit.snapshot()["failures"] == 0
    broker.unwrap().close()


def test_binance_breaker_comes_from_the_config(fake, clock, write_config):
    write_config({"circuit": {"failure_threshold": 7, "cooldown_s": 12}})
    broker = make_broker(fake, clock, Sleeper(clock))
    circuit = broker.unwrap().http.circuit
    assert (circuit.name, circuit.failure_threshold, circuit.cooldown_s) == ("binance", 7, 12.0)
    broker.unwrap().close()


# -- end to end: the IB connection ---------------------------------------------------------------


def test_ibkr_reconnect_failing_alerts_and_opens_the_circuit(write_config):
    import time

    from fakes.fake_tws import FakeTWS

    from LIVE_TRADING.brokers import get_broker

    write_config({"circuit": {"failure_threshold": 2}, "alerts": {"reconnect_alert_after_s": 0}})
    alerts: list[tuple[str, dict]] = []
    previous = alerting.install(lambda event, details: alerts.append((event, details)))
    try:
        with FakeTWS() as tws:
            broker = get_broker("ibkr", host="127.0.0.1", port=tws.port, ib_module="ib_async",
                                connect_timeout_s=5.0, request_timeout_s=5.0, reconnect_attempts=1,
                                reconnect_backoff_s=0.01, reconnect_backoff_max_s=0.02)
            try:
                assert broker.get_cash() is not None
                tws.stop()  # TWS goes away: no listener, sessions dropped
                deadline = time.monotonic() + 5
                while broker.unwrap().ib.isConnected() and time.monotonic() < deadline:
                    time.sleep(0.01)
                for _ in range(2):
                    with pytest.raises(BrokerConnectionError) as info:
                        broker.get_cash()
                    assert not isinstance(info.value, CircuitOpenError)
                with pytest.raises(CircuitOpenError):
                    broker.get_cash()
                assert broker.venue_health()["circuit"]["state"] == OPEN
            finally:
                broker.close()
    finally:
        alerting.install(previous)
    events = [e for e, _ in alerts]
    assert "reconnect_failing" in events and "circuit_opened" in events
    detail = dict(alerts)["reconnect_failing"]
    assert detail["venue"] == "ibkr" and "127.0.0.1" in detail["address"]


# -- Yahoo downloads ------------------------------------------------------------------------------


def test_yfinance_downloads_stop_while_the_circuit_is_open(clock, tick):
    from datetime import timedelta

    from LIVE_TRADING.common.exceptions import DataProviderError
    from LIVE_TRADING.data.yfinance import YFinanceProvider
    from LIVE_TRADING.testing.yfinance import FakeYFinance

    fake = FakeYFinance({"AAPL": 190.0}, last_bar=clock() - timedelta(minutes=1))
    provider = YFinanceProvider(clock=clock, yf=fake, cache_ttl_s=0)
    provider.circuit = CircuitBreaker("yfinance", failure_threshold=2, cooldown_s=60, clock=tick,
                                      counts=lambda exc: True)
    fake.fail_download = ConnectionResetError("reset by peer")
    for _ in range(2):
        with pytest.raises(DataProviderError):
            provider.get_quote("AAPL")
    assert provider.circuit.state == OPEN
    downloads = fake.counts["download"]
    with pytest.raises(DataProviderError, match="Circuit open for yfinance"):
        provider.get_quote("AAPL")
    assert fake.counts["download"] == downloads  # nothing was requested
    fake.fail_download = None
    tick.advance(60)
    assert provider.get_quote("AAPL")["bid"] > 0
    assert provider.circuit.state == CLOSED


def test_binance_an_order_sent_is_settled_even_if_its_lost_answer_opens_the_circuit(fake, clock, tick):
    """The POST went out and its answer was lost: that failure opens the circuit, yet the lookup by
    client order id still goes through, so the order is found and journaled, never reported as unsent."""
    broker = make_broker(fake, clock, Sleeper(clock))
    http = broker.unwrap().http
    http.circuit = CircuitBreaker("binance", failure_threshold=1, cooldown_s=30, clock=tick)
    fake.inject("POST", "/api/v3/order", "drop_after")
    result = broker.submit_order("BTCUSDT", "BUY", 0.001, client_order_id="lost-1")
    assert http.circuit.state == OPEN
    assert result["status"] == "filled" and result["client_order_id"] == "lost-1"
    assert len(fake.orders_with_client_id("lost-1")) == 1
    with pytest.raises(CircuitOpenError):  # new work is refused
        broker.submit_order("BTCUSDT", "BUY", 0.001)
    broker.unwrap().close()


def test_binance_resend_refused_by_an_open_circuit_is_an_unknown_status(fake, clock, tick):
    from LIVE_TRADING.common.exceptions import OrderStatusUnknownError

    broker = make_broker(fake, clock, Sleeper(clock))
    http = broker.unwrap().http
    http.circuit = CircuitBreaker("binance", failure_threshold=1, cooldown_s=30, clock=tick)
    fake.inject("POST", "/api/v3/order", "drop_before")  # not placed, answer lost
    with pytest.raises(OrderStatusUnknownError) as info:
        broker.submit_order("BTCUSDT", "BUY", 0.001, client_order_id="lost-2")
    assert info.value.client_order_id == "lost-2" and isinstance(info.value.__cause__, CircuitOpenError)
    assert len(fake.calls("POST", "/api/v3/order")) == 1  # the resend was not sent
    broker.unwrap().close()
