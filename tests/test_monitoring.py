"""The monitoring endpoints, through real HTTP requests to a server on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from LIVE_TRADING.brokers import get_broker
from LIVE_TRADING.brokers.guard.metrics import InstrumentedBroker
from LIVE_TRADING.common import alerting
from LIVE_TRADING.common.circuit import CircuitBreaker
from LIVE_TRADING.common.exceptions import (
    BrokerConnectionError,
    ConfigError,
    InsufficientFundsError,
    JournalCorruptError,
)
from LIVE_TRADING.monitoring.account import account_figures
from LIVE_TRADING.monitoring.alerts import AlertManager, AlertSettings
from LIVE_TRADING.monitoring.server import MonitoringSettings, MonitorServer
from LIVE_TRADING.monitoring.source import MonitorSource

ROOT = Path(__file__).resolve().parents[1]


def metrics(url: str, **kw: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` parsed back with prometheus_client: {(sample name, sorted labels): value}."""
    resp = requests.get(url + "/metrics", timeout=5, **kw)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture
def serve():
    servers: list[MonitorServer] = []

    def _serve(source: MonitorSource, **kw: Any) -> MonitorServer:
        kw.setdefault("port", 0)
        server = MonitorServer(source, **kw).start()
        servers.append(server)
        return server

    yield _serve
    for s in servers:
        s.stop()


def paper(tmp_path: Path, **kw: Any) -> Any:
    kw.setdefault("initial_cash", 10_000)
    return get_broker("paper", log_dir=tmp_path / "journal", **kw)


def test_metrics_after_three_paper_orders(tmp_path, serve):
    b = paper(tmp_path)
    b.set_quote("AAPL", 100.0, 100.2)
    for _ in range(3):
        b.submit_order("AAPL", "BUY", 2)
    with pytest.raises(InsufficientFundsError):
        b.submit_order("AAPL", "BUY", 1000)
    server = serve(MonitorSource("paper", tmp_path / "journal" / "default", broker=b))
    m = metrics(server.url)
    v = "paper"
    assert m[("live_trading_orders_total", (("side", "BUY"), ("status", "filled"), ("type", "market"),
                                            ("venue", v)))] == 3
    assert m[("live_trading_orders_total", (("side", "BUY"), ("status", "rejected"), ("type", "market"),
                                            ("venue", v)))] == 1
    assert m[("live_trading_rejects_total", (("reason", "InsufficientFundsError"), ("venue", v)))] == 1
    assert m[("live_trading_order_latency_seconds_count", (("venue", v),))] == 4
    assert m[("live_trading_order_latency_seconds_bucket", (("le", "+Inf"), ("venue", v)))] == 4
    assert m[("live_trading_fills_total", (("venue", v),))] == 3
    assert m[("live_trading_cash", (("venue", v),))] == pytest.approx(b.get_cash(), abs=1e-9)
    assert m[("live_trading_equity", (("venue", v),))] == pytest.approx(b.get_portfolio_value(), abs=1e-9)
    assert m[("live_trading_position", (("symbol", "AAPL"), ("venue", v)))] == 6
    assert m[("live_trading_health_status", (("venue", v),))] == 0
    assert m[("live_trading_journal_last_seq", (("venue", v),))] > 0


def test_health_endpoints(tmp_path, serve):
    b = paper(tmp_path)
    b.set_quote("AAPL", 100.0, 100.2)
    b.submit_order("AAPL", "BUY", 1)
    server = serve(MonitorSource("paper", tmp_path / "journal" / "default", broker=b, account="acct"))
    resp = requests.get(server.url + "/health", timeout=5)
    assert resp.status_code == 200 and resp.json() == {"status": "ok", "reasons": []}
    detailed = requests.get(server.url + "/health/detailed", timeout=5).json()
    assert detailed["status"] == "ok" and detailed["account"] == "acct"
    venue = detailed["venues"]["paper"]
    assert venue["connection"]["connected"] is True
    assert set(venue["latency_ms"]) == {"p50_ms", "p95_ms", "p99_ms"}
    assert venue["latency_ms"]["p99_ms"] >= venue["latency_ms"]["p50_ms"] > 0
    assert venue["error_rate"] == 0 and venue["reject_rate"] == 0
    assert venue["last_quote_age_s"] is not None and venue["last_fill_age_s"] is not None
    assert set(venue["rate_limit"]) == {"headroom", "used_ratio"}
    journal = detailed["journal"]
    assert journal["last_seq"] == journal["records"] > 0 and journal["lag_s"] >= 0
    assert detailed["account_figures"]["cash"] == pytest.approx(b.get_cash())


class Venue:
    """A venue adapter whose health is set by the test (behind the real InstrumentedBroker)."""

    def __init__(self) -> None:
        self.status: dict[str, Any] = {"connected": True, "rate_limit_headroom": 0.9}
        self.fail: Exception | None = None

    def get_cash(self) -> float:
        if self.fail:
            raise self.fail
        return 5.0

    def get_positions(self) -> dict[str, float]:
        return {"BTCUSDT": 0.5}

    def venue_health(self) -> dict[str, Any]:
        return dict(self.status)


def test_unhealthy_is_503_with_reasons_and_alerts_once(tmp_path, serve):
    venue = Venue()
    broker = InstrumentedBroker(venue, venue="binance")
    alerts: list[tuple[str, dict]] = []
    previous = alerting.install(lambda e, d: alerts.append((e, d)))
    try:
        server = serve(MonitorSource("binance", tmp_path / "none", broker=broker))
        assert requests.get(server.url + "/health", timeout=5).status_code == 200
        venue.status["connected"] = False
        for _ in range(2):
            resp = requests.get(server.url + "/health", timeout=5)
            assert resp.status_code == 503
            body = resp.json()
            assert body["status"] == "unhealthy" and body["reasons"] == ["not connected to binance"]
        m = metrics(server.url)
        assert m[("live_trading_health_status", (("venue", "binance"),))] == 2
    finally:
        alerting.install(previous)
    assert [e for e, _ in alerts].count("health_unhealthy") == 1  # once per turn


def test_live_venue_cash_and_positions_come_from_the_venue(tmp_path, serve):
    venue = Venue()
    server = serve(MonitorSource("binance", tmp_path / "none", broker=InstrumentedBroker(venue, venue="binance")))
    m = metrics(server.url)
    assert m[("live_trading_cash", (("venue", "binance"),))] == 5.0
    assert m[("live_trading_position", (("symbol", "BTCUSDT"), ("venue", "binance")))] == 0.5
    assert m[("live_trading_rate_limit_used_ratio", (("venue", "binance"),))] == pytest.approx(0.1)


def test_open_circuit_of_the_venue_is_unhealthy_and_of_a_data_provider_degraded(tmp_path, serve):
    t = [0.0]
    venue = Venue()
    venue_cb = CircuitBreaker("binance", failure_threshold=1, cooldown_s=10, clock=lambda: t[0])
    data_cb = CircuitBreaker("yfinance", failure_threshold=1, cooldown_s=10, clock=lambda: t[0])
    venue.status["circuit"] = None
    source = MonitorSource("binance", tmp_path / "none", broker=InstrumentedBroker(venue, venue="binance"),
                           circuits=[data_cb])
    server = serve(source)
    data_cb.record_failure(BrokerConnectionError("down"))
    resp = requests.get(server.url + "/health", timeout=5)
    assert resp.status_code == 200 and resp.json()["status"] == "degraded"
    assert "circuit for yfinance is open" in resp.json()["reasons"][0]
    venue_cb.record_failure(BrokerConnectionError("down"))
    venue.status["circuit"] = venue_cb.snapshot()
    resp = requests.get(server.url + "/health", timeout=5)
    assert resp.status_code == 503 and any("circuit for binance is open" in r for r in resp.json()["reasons"])
    m = metrics(server.url)
    assert m[("live_trading_circuit_state", (("venue", "binance"),))] == 2
    assert m[("live_trading_circuit_state", (("venue", "yfinance"),))] == 2
    assert m[("live_trading_circuit_opened_total", (("venue", "yfinance"),))] == 1
    t[0] = 10
    venue.status["circuit"] = venue_cb.snapshot()
    assert m and metrics(server.url)[("live_trading_circuit_state", (("venue", "binance"),))] == 1  # half-open


def test_degraded_when_many_orders_are_rejected(tmp_path, serve):
    b = paper(tmp_path, initial_cash=100)
    b.set_quote("AAPL", 100.0, 100.0)
    for _ in range(5):
        with pytest.raises(InsufficientFundsError):
            b.submit_order("AAPL", "BUY", 10)
    server = serve(MonitorSource("paper", tmp_path / "journal" / "default", broker=b))
    body = requests.get(server.url + "/health", timeout=5).json()
    assert body["status"] == "degraded" and "100% of order submissions were rejected" in body["reasons"]


class BrokenJournal(MonitorSource):
    def figures(self):
        raise JournalCorruptError("bad checksum", path="x.jsonl", line=3, seq=3)


def test_a_journal_that_cannot_be_read_is_unhealthy_and_alerted(tmp_path, serve):
    alerts: list[str] = []
    previous = alerting.install(lambda e, d: alerts.append(e))
    try:
        server = serve(BrokenJournal("paper", tmp_path))
        resp = requests.get(server.url + "/health", timeout=5)
        detailed = requests.get(server.url + "/health/detailed", timeout=5).json()
    finally:
        alerting.install(previous)
    assert resp.status_code == 503 and "journal cannot be read" in resp.json()["reasons"][0]
    assert "bad checksum" in detailed["journal"]["error"]
    assert alerts.count("journal_error") == 1 and "health_unhealthy" in alerts


def test_token_guards_everything_but_health(tmp_path, serve):
    server = serve(MonitorSource("paper", tmp_path), token="s3cret")
    assert requests.get(server.url + "/health", timeout=5).status_code == 200
    for path in ("/metrics", "/health/detailed"):
        assert requests.get(server.url + path, timeout=5).status_code == 401
        resp = requests.get(server.url + path, headers={"Authorization": "Bearer wrong"}, timeout=5)
        assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert requests.get(server.url + path, headers={"Authorization": "Bearer s3cret"},
                            timeout=5).status_code == 200


def test_token_from_the_environment(tmp_path, write_config, monkeypatch):
    monkeypatch.setenv("LT_MON_TOKEN", "from-env")
    write_config({"monitoring": {"token": "${LT_MON_TOKEN}"}})
    s = MonitoringSettings.from_config()
    assert s.token == "from-env" and "from-env" not in repr(s)


def test_unknown_path_is_404_and_other_methods_405(tmp_path, serve):
    server = serve(MonitorSource("paper", tmp_path))
    resp = requests.get(server.url + "/nope", timeout=5)
    assert resp.status_code == 404 and "/metrics" in resp.json()["endpoints"]
    assert requests.post(server.url + "/health", timeout=5).status_code == 405


def test_binds_to_loopback_by_default(tmp_path):
    server = MonitorServer(MonitorSource("paper", tmp_path), port=0)
    assert server.host == "127.0.0.1"


def test_bad_monitoring_settings(write_config):
    write_config({"monitoring": {"port": 70000, "health_check_s": 0}})
    with pytest.raises(ConfigError) as info:
        MonitoringSettings.from_config()
    assert "monitoring.port" in str(info.value) and "health_check_s" in str(info.value)


def test_each_server_has_its_own_registry(tmp_path, serve):
    import prometheus_client

    a = serve(MonitorSource("paper", tmp_path / "a"))
    b = serve(MonitorSource("paper", tmp_path / "b"))
    assert a.registry is not b.registry
    names = {f.name for f in prometheus_client.REGISTRY.collect()}
    assert not any(n.startswith("live_trading") for n in names)


def test_alert_counters_are_exported(tmp_path, serve):
    alerts = AlertManager(AlertSettings(), sinks=[])
    alerts.emit("circuit_opened", venue="x")
    server = serve(MonitorSource("paper", tmp_path, alerts=alerts))
    assert metrics(server.url)[("live_trading_alerts_total", (("outcome", "emitted"),))] == 1


# -- account figures from the journal, across objects and processes --------------------------------------


def test_figures_survive_closing_the_broker(tmp_path, serve):
    b = paper(tmp_path, fee_bps=5)
    b.set_quote("AAPL", 100.0, 100.2)
    b.set_quote("MSFT", 400.0, 400.4)
    b.submit_order("AAPL", "BUY", 10)
    b.submit_order("MSFT", "BUY", 3)
    b.submit_order("AAPL", "SELL", 4)
    cash, positions = b.get_cash(), b.get_positions()
    b.close()
    server = serve(MonitorSource("paper", tmp_path / "journal" / "default"))  # no broker: the journal alone
    m = metrics(server.url)
    assert m[("live_trading_cash", (("venue", "paper"),))] == pytest.approx(cash, abs=1e-9)
    assert {s: m[("live_trading_position", (("symbol", s), ("venue", "paper")))] for s in positions} == positions
    assert m[("live_trading_fills_total", (("venue", "paper"),))] == 3


def test_figures_written_by_another_process(tmp_path, serve):
    script = textwrap.dedent(f"""
        import json
        from LIVE_TRADING.brokers import get_broker
        b = get_broker("paper", initial_cash=50_000, log_dir={str(tmp_path / 'j')!r})
        b.set_quote("SPY", 500.0, 500.1)
        b.submit_order("SPY", "BUY", 20)
        b.submit_order("SPY", "SELL", 5)
        b.set_quote("QQQ", 400.0, 400.0)
        b.submit_order("QQQ", "BUY", 7, "limit", 399.0)  # rests: no fill
        print(json.dumps({{"cash": b.get_cash(), "reserved": b.get_account_summary()["reserved_cash"],
                          "positions": b.get_positions()}}))
        b.close()
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60,
                          check=True)
    theirs = json.loads(done.stdout)
    server = serve(MonitorSource("paper", tmp_path / "j" / "default"))
    detailed = requests.get(server.url + "/health/detailed", timeout=5).json()["account_figures"]
    # the journal's cash is the ledger's (open orders reserve, they do not spend)
    assert detailed["cash"] == pytest.approx(theirs["cash"] + theirs["reserved"], abs=1e-9)
    assert detailed["positions"] == theirs["positions"] and detailed["fills"] == 2 and detailed["orders"] == 3


def test_account_figures_follow_the_latest_run_and_reread_changes(tmp_path):
    b = paper(tmp_path)
    b.set_quote("AAPL", 100.0, 100.0)
    b.submit_order("AAPL", "BUY", 1)
    first = account_figures(tmp_path / "journal" / "default")
    assert first.positions == {"AAPL": 1.0}
    b.submit_order("AAPL", "BUY", 2)
    assert account_figures(tmp_path / "journal" / "default").positions == {"AAPL": 3.0}  # the journal grew: re-read
    b.reset()
    after = account_figures(tmp_path / "journal" / "default")
    assert after.positions == {} and after.cash == 10_000 and after.run_id != first.run_id
    assert account_figures(tmp_path / "missing").records == 0


# -- the command line ------------------------------------------------------------------------------


def _start_cli(args: list[str], config: Path) -> tuple[subprocess.Popen, dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LIVE_TRADING_CONFIG": str(config)}
    proc = subprocess.Popen([sys.executable, "-m", "LIVE_TRADING", "--json", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    text = ""
    while True:  # --json output is one (indented) JSON object, flushed once the server listens
        line = proc.stdout.readline()
        if not line:
            proc.wait(10)
            raise AssertionError(f"serve did not start: {proc.stderr.read() if proc.stderr else ''}")
        text += line
        if line.startswith("}"):
            return proc, json.loads(text)


def test_cli_serve_shows_the_paper_account_of_another_process(tmp_path, isolated_config, write_config):
    from LIVE_TRADING.cli import main

    # a one-shot order on the real clock: a market that never closes keeps this the same on any day
    write_config({"paper": {"trading_hours": "always"}})
    assert main(["order", "AAPL", "BUY", "3"]) == 0
    proc, info = _start_cli(["serve", "--port", "0"], isolated_config)
    try:
        assert info["url"].startswith("http://127.0.0.1:")
        m = metrics(info["url"])
        assert m[("live_trading_position", (("symbol", "AAPL"), ("venue", "paper")))] == 3
        assert m[("live_trading_fills_total", (("venue", "paper"),))] == 1
        assert requests.get(info["url"] + "/health", timeout=5).json()["status"] in ("ok", "degraded")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
    assert code == 130  # stopped cleanly by SIGTERM, like Ctrl-C


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_cli_bad_port_is_a_usage_error(port, capsys):
    from LIVE_TRADING.cli import main

    assert main(["serve", "--port", port]) == 2
    assert "must be a port number 0..65535" in capsys.readouterr().err
    assert main(["run", "--serve", port]) == 2


def test_cli_port_in_use_is_a_clear_error(tmp_path, serve, capsys):
    from LIVE_TRADING.cli import main

    busy = serve(MonitorSource("paper", tmp_path))
    assert main(["serve", "--port", str(busy.port)]) == 2
    assert f"cannot serve on 127.0.0.1:{busy.port}" in capsys.readouterr().err


def test_run_serve_serves_while_running(tmp_path, monkeypatch):
    """``run --serve 0``: scrape the run's server from inside the run, after the loop's last step."""
    from LIVE_TRADING.cli import main
    from LIVE_TRADING.cli import run as run_module

    started: list[MonitorServer] = []
    seen: dict[str, Any] = {}
    real_start, real_loop = MonitorServer.start, run_module.run_loop

    def start(self):  # observe the server the command starts (it still starts for real)
        started.append(self)
        return real_start(self)

    def loop_then_scrape(broker, *args, **kw):
        result = real_loop(broker, *args, **kw)
        seen["url"] = started[0].url
        seen["metrics"] = metrics(seen["url"])
        seen["cash"] = broker.get_cash()
        return result

    monkeypatch.setattr(MonitorServer, "start", start)
    monkeypatch.setattr(run_module, "run_loop", loop_then_scrape)
    assert main(["run", "--steps", "30", "--serve", "0", "--json"]) == 0
    m = seen["metrics"]
    assert sum(v for (name, _), v in m.items() if name == "live_trading_orders_total") > 0
    assert m[("live_trading_cash", (("venue", "paper"),))] == pytest.approx(seen["cash"], rel=1e-9)
    with pytest.raises(requests.ConnectionError):  # stopped with the run
        requests.get(seen["url"] + "/health", timeout=2)


def test_live_venue_fills_are_counted_over_every_session(tmp_path, clock):
    from fakes.binance_server import FakeBinance
    from fakes.binance_support import Sleeper, make_broker

    log_dir = tmp_path / "binance"
    with FakeBinance(clock=clock) as fake:
        for _ in range(2):  # two processes' sessions on one Binance account
            b = make_broker(fake, clock, Sleeper(clock), log_dir=str(log_dir))
            b.submit_order("BTCUSDT", "BUY", 0.001)
            b.get_fills()
            b.unwrap().close()
    figures = account_figures(log_dir)
    assert figures.fills == 2 and figures.orders == 2 and figures.cash is None and figures.venue == "binance"
    assert figures.last_fill_time is not None


def test_check_config_reports_monitoring_and_alert_problems(write_config, capsys):
    from LIVE_TRADING.cli import main

    write_config({"alerts": {"webhook": {"url": "ftp://x/y"}}, "circuit": {"cooldown_s": 0},
                  "monitoring": {"port": "abc"}})
    assert main(["check-config"]) == 2
    err = capsys.readouterr()
    text = err.out + err.err
    assert "webhook.url must be an http:// or https:// URL" in text
    assert "circuit.cooldown_s" in text and "monitoring.port" in text
