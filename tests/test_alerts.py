"""Alerts: webhook (real HTTP on 127.0.0.1), e-mail (a real SMTP conversation), dedup, storms, failing sinks."""

from __future__ import annotations

import email
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fakes.smtp_server import FakeSMTP

from LIVE_TRADING.brokers import get_broker
from LIVE_TRADING.common import alerting
from LIVE_TRADING.common.exceptions import ConfigError, InsufficientFundsError, RiskLimitError
from LIVE_TRADING.monitoring.alerts import AlertManager, AlertSettings, EmailSink, WebhookSink


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records each POST (and answers ``status``)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.posts: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.posts.append({"path": self.path, "type": self.headers["Content-Type"],
                                    "json": json.loads(body)})
                self.send_response(owner.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook/secret"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def settings(**kw: Any) -> AlertSettings:
    base = {"backoff_base_s": 0.0, "backoff_max_s": 0.0, "timeout_s": 5.0}
    base.update(kw)
    return AlertSettings(**base)


@pytest.fixture
def manager_factory():
    made: list[AlertManager] = []

    def make(*args: Any, **kw: Any) -> AlertManager:
        m = AlertManager(*args, **kw)
        made.append(m)
        return m

    yield make
    for m in made:
        m.close(1.0)


@pytest.mark.parametrize("fmt", ["generic", "slack", "discord"])
def test_webhook_payload_shapes(fmt, manager_factory):
    with Receiver() as rx:
        m = manager_factory(settings(), account="acct1", sinks=[WebhookSink(rx.url, fmt)])
        m.emit("circuit_opened", venue="binance", reason="5 consecutive failures")
        assert m.flush(5)
    assert len(rx.posts) == 1
    post = rx.posts[0]
    assert post["path"] == "/hook/secret" and post["type"] == "application/json"
    body = post["json"]
    if fmt == "generic":
        assert set(body) == {"account", "venue", "event", "time", "details"}
        assert (body["account"], body["venue"], body["event"]) == ("acct1", "binance", "circuit_opened")
        assert body["details"]["reason"] == "5 consecutive failures" and body["time"].endswith("+00:00")
    elif fmt == "slack":
        assert set(body) == {"text"} and "[acct1/binance] circuit_opened" in body["text"]
    else:
        assert set(body) == {"content"} and "[acct1/binance] circuit_opened" in body["content"]
    assert m.stats["sent"] == 1


def test_email_through_a_local_smtp_server(manager_factory):
    with FakeSMTP() as smtp:
        sink = EmailSink("127.0.0.1", smtp.port, "bot@example.com", ["ops@example.com", "me@example.com"])
        m = manager_factory(settings(), account="acct1", sinks=[sink])
        m.emit("kill_switch", venue="paper", symbol="AAPL", limit="trading_enabled")
        assert m.flush(5)
        messages = smtp.messages
    assert len(messages) == 1
    msg = messages[0]
    assert msg["from"] == "bot@example.com" and msg["to"] == ["ops@example.com", "me@example.com"]
    parsed = email.message_from_bytes(msg["data"])
    assert parsed["Subject"] == "[LIVE_TRADING] kill_switch (acct1/paper)"
    text = parsed.get_payload(decode=True).decode()
    assert '"event": "kill_switch"' in text and "AAPL" in text


def test_sinks_built_from_the_config(write_config):
    with FakeSMTP() as smtp, Receiver() as rx:
        write_config({"alerts": {"account": "main", "webhook": {"url": rx.url, "format": "slack"},
                                 "email": {"host": "127.0.0.1", "port": smtp.port, "sender": "a@b.c",
                                           "to": ["ops@b.c"]}}})
        m = AlertManager()
        try:
            m.emit("journal_error", venue="paper", message="disk full")
            assert m.flush(5)
        finally:
            m.close()
        assert [type(s).__name__ for s in m.sinks] == ["WebhookSink", "EmailSink"]
        assert len(rx.posts) == 1 and "[main/paper] journal_error" in rx.posts[0]["json"]["text"]
        assert len(smtp.messages) == 1


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "example.com/hook", "http://"])
def test_webhook_url_must_be_http(write_config, url):
    write_config({"alerts": {"webhook": {"url": url}}})
    with pytest.raises(ConfigError) as info:
        AlertSettings.from_config()
    assert "live_trading.alerts.webhook.url must be an http:// or https:// URL" in str(info.value)


def test_bad_alert_settings_are_all_reported(write_config):
    write_config({"alerts": {"queue_size": 0, "webhook": {"format": "teams"}, "email": {"host": "smtp.x"}}})
    with pytest.raises(ConfigError) as info:
        AlertSettings.from_config()
    text = str(info.value)
    assert "queue_size" in text and "webhook.format" in text and "needs sender and to" in text


def test_repeats_are_deduplicated_within_the_window(manager_factory):
    now = [0.0]
    m = manager_factory(settings(dedup_window_s=60), sinks=[], monotonic=lambda: now[0])
    assert m.emit("circuit_opened", venue="binance") is not None
    assert m.emit("circuit_opened", venue="binance") is None
    assert m.emit("circuit_opened", venue="binance") is None
    assert m.emit("circuit_opened", venue="ibkr") is not None  # another key
    assert m.emit("circuit_closed", venue="binance") is not None  # another event
    now[0] = 61
    again = m.emit("circuit_opened", venue="binance")
    assert again is not None and again.suppressed == 2 and again.to_dict()["suppressed_repeats"] == 2
    assert m.stats["suppressed"] == 2 and m.stats["emitted"] == 4


def test_a_storm_of_rejects_makes_one_alert(manager_factory):
    now = [0.0]
    m = manager_factory(settings(reject_storm_count=3, reject_storm_window_s=10), sinks=[],
                        monotonic=lambda: now[0])
    assert m.emit("order_rejected", venue="paper", reason="InsufficientFundsError") is None
    now[0] = 20  # the first one is out of the window
    assert m.emit("order_rejected", venue="paper", reason="x") is None
    assert m.emit("order_rejected", venue="paper", reason="x") is None
    storm = m.emit("order_rejected", venue="paper", reason="y", symbol="AAPL")
    assert storm is not None and storm.event == "reject_storm"
    assert storm.details["rejections"] == 3 and storm.details["last_reason"] == "y"
    assert [a.event for a in m.recent] == ["reject_storm"]


def test_a_refused_connection_never_raises_and_is_retried_with_backoff(manager_factory):
    waits: list[float] = []
    sink = WebhookSink(f"http://127.0.0.1:{closed_port()}/hook", timeout_s=2)
    m = manager_factory(settings(max_retries=3, backoff_base_s=0.5, backoff_max_s=1.5), sinks=[sink],
                        sleep=waits.append)
    alert = m.emit("circuit_opened", venue="binance")  # returns at once, never raises
    assert alert is not None
    assert m.flush(10)
    assert waits == [0.5, 1.0, 1.5]
    assert m.stats["retries"] == 3 and m.stats["failed"] == 1 and m.stats["sent"] == 0


def test_a_webhook_error_status_is_retried_then_given_up(manager_factory):
    with Receiver(status=500) as rx:
        m = manager_factory(settings(max_retries=2), sinks=[WebhookSink(rx.url)], sleep=lambda s: None)
        m.emit("journal_error", venue="paper")
        assert m.flush(5)
    assert len(rx.posts) == 3 and m.stats["failed"] == 1


class Blocking:
    """A sink that waits until released, so the queue fills up."""

    name = "blocking"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.got: list[str] = []

    def send(self, alert: Any) -> None:
        self.release.wait(5)
        self.got.append(alert.event)


def test_a_full_queue_drops_and_counts(manager_factory, caplog):
    sink = Blocking()
    m = manager_factory(settings(queue_size=2, dedup_window_s=0), sinks=[sink])
    for i in range(6):
        m.emit(f"event{i}", venue="paper")
    sink.release.set()
    assert m.flush(5)
    # one is being sent, two wait in the queue: the rest were dropped
    assert m.stats["dropped"] >= 2 and m.stats["dropped"] + len(sink.got) == 6
    assert "Alert queue full" in caplog.text


def test_every_alert_is_logged(manager_factory, caplog):
    m = manager_factory(settings(), account="acct", sinks=[])
    m.emit("order_status_unknown", venue="binance", client_order_id="abc")
    assert "ALERT [acct/binance] order_status_unknown: client_order_id=abc" in caplog.text


def test_disabled_alerts_send_nothing(manager_factory):
    m = manager_factory(settings(enabled=False), sinks=[])
    assert m.emit("circuit_opened", venue="x") is None and not m.recent


# -- wiring: events raised by the trading code reach the installed manager ----------------------------


@pytest.fixture
def installed(manager_factory):
    m = manager_factory(settings(dedup_window_s=0, reject_storm_count=3), account="acct", sinks=[])
    previous = alerting.install(m.emit)
    yield m
    alerting.install(previous)


def test_kill_switch_and_risk_limits_raise_alerts(write_config, installed):
    write_config({"risk": {"trading_enabled": False}})
    b = get_broker("paper", initial_cash=1000)
    b.set_quote("AAPL", 10, 10)
    with pytest.raises(RiskLimitError):
        b.submit_order("AAPL", "BUY", 1)
    b.close()  # one writer per account
    write_config({"risk": {"trading_enabled": True, "max_order_qty": 5}})
    b2 = get_broker("paper", initial_cash=1000)
    b2.set_quote("AAPL", 10, 10)
    with pytest.raises(RiskLimitError):
        b2.submit_order("AAPL", "BUY", 10)
    b2.close()
    events = [(a.event, a.venue, a.details.get("limit")) for a in installed.recent]
    assert ("kill_switch", "paper", "trading_enabled") in events and ("risk_limit", "paper", "max_order_qty") in events


def test_rejections_from_the_broker_make_a_storm(installed):
    b = get_broker("paper", initial_cash=10)
    b.set_quote("AAPL", 10, 10)
    for _ in range(3):
        with pytest.raises(InsufficientFundsError):
            b.submit_order("AAPL", "BUY", 100)
    storms = [a for a in installed.recent if a.event == "reject_storm"]
    assert len(storms) == 1 and storms[0].details["last_reason"] == "InsufficientFundsError"


def test_emit_without_a_manager_only_logs(caplog):
    previous = alerting.install(None)
    try:
        alerting.emit("journal_error", venue="paper", message="disk full")
    finally:
        alerting.install(previous)
    assert "ALERT journal_error" in caplog.text


def test_a_broken_handler_never_breaks_the_caller():
    previous = alerting.install(lambda event, details: 1 / 0)
    try:
        alerting.emit("circuit_opened", venue="x")  # no exception
    finally:
        alerting.install(previous)


def test_an_order_of_unknown_status_raises_an_alert(installed, clock):
    from fakes.binance_server import FakeBinance
    from fakes.binance_support import Sleeper, make_broker

    from LIVE_TRADING.common.exceptions import OrderStatusUnknownError

    with FakeBinance(clock=clock) as fake:
        broker = make_broker(fake, clock, Sleeper(clock))
        try:
            fake.inject("POST", "/api/v3/order", "drop_before", count=2)
            with pytest.raises(OrderStatusUnknownError):
                broker.submit_order("BTCUSDT", "BUY", 0.001, client_order_id="unknown-9")
        finally:
            broker.unwrap().close()
    unknown = [a for a in installed.recent if a.event == "order_status_unknown"]
    assert len(unknown) == 1
    assert unknown[0].venue == "binance" and unknown[0].details["client_order_id"] == "unknown-9"


def test_a_failing_journal_write_raises_a_journal_error_alert(installed, tmp_path, monkeypatch):
    """Issue 15: the disk refusing a record is an alert, and the order is refused with ``JournalError``."""
    import os

    from LIVE_TRADING.common.exceptions import JournalError
    from LIVE_TRADING.common.journal import writer as journal_writer

    b = get_broker("paper", initial_cash=10_000, log_dir=tmp_path)
    try:
        b.set_quote("AAPL", 10, 10.02)
        fd = b.unwrap().journal._fd
        real_write = os.write

        def full_disk(target, data):
            if target == fd:
                raise OSError(28, "No space left on device")
            return real_write(target, data)

        monkeypatch.setattr(journal_writer.os, "write", full_disk)
        with pytest.raises(JournalError):
            b.submit_order("AAPL", "BUY", 5)
        monkeypatch.setattr(journal_writer.os, "write", real_write)
        assert b.get_positions() == {}  # the order never happened
    finally:
        b.close()
    alerts = [a for a in installed.recent if a.event == "journal_error"]
    assert len(alerts) == 1
    assert alerts[0].venue == "paper" and "No space left on device" in alerts[0].details["message"]
