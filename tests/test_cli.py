"""The ``live-trading`` command line.

The acceptance checks drive ``python -m LIVE_TRADING`` in a subprocess, on the
test's own config (journal under tmp_path); the rest call ``main()`` in-process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from LIVE_TRADING.brokers import interface
from LIVE_TRADING.brokers.interface import register_venue
from LIVE_TRADING.brokers.paper.recovery import iter_fills
from LIVE_TRADING.cli import main
from LIVE_TRADING.cli.render import short_id
from LIVE_TRADING.common.clock import utc_now
from LIVE_TRADING.common.exceptions import BrokerConnectionError
from LIVE_TRADING.common.journal import iter_records

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli(tmp_path):
    """``cli(*args)`` runs ``python -m LIVE_TRADING *args`` in tmp_path on the test's config."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def run(*args, extra_path=None):
        e = dict(env)
        if extra_path is not None:
            e["PYTHONPATH"] = str(extra_path) + os.pathsep + e["PYTHONPATH"]
        return subprocess.run([sys.executable, "-m", "LIVE_TRADING", *args], capture_output=True, text=True,
                              env=e, cwd=tmp_path, timeout=120)

    return run


@pytest.fixture
def journal_dir(tmp_path):
    """The default paper account's directory (journal root / account name)."""
    return tmp_path / "logs" / "paper_trades" / "default"


def one_error_line(stderr: str) -> str:
    """The one error line (besides the ``account: ...`` line commands print first)."""
    lines = [ln for ln in stderr.strip().splitlines() if not ln.startswith("account: ")]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("live-trading: error: ") and "Traceback" not in stderr
    return lines[0]


def events(journal_dir, run_id=None, event=None):
    if event == "fill":  # fills are in "order" records (taken at once) and "fill" records (resting orders)
        return list(iter_fills(journal_dir, run_id))
    return [r for r in iter_records(journal_dir, run_id) if event is None or r["event"] == event]


# --------------------------------------------------------------------------
# Acceptance: subprocess
# --------------------------------------------------------------------------


def test_run_with_no_arguments_trades_offline_and_journals_fills(cli, journal_dir):
    proc = cli("run")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [f"account: default at {journal_dir} (paper)"]  # said once, nothing else
    out = proc.stdout
    assert "Run summary" in out and "100 of 100" in out and "sim (simulated time)" in out
    run_id = re.search(r"run id\s+(\S+)", out).group(1)
    fills = events(journal_dir, run_id, "fill")
    assert fills, "the default run should trade"
    assert re.search(rf"fills\s+{len(fills)}\s", out)


def test_run_json_summary_agrees_with_the_journal(cli, journal_dir):
    proc = cli("run", "--steps", "30", "--strategy", "equal_weight", "--symbols", "AAPL,MSFT", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["stop_reason"] == "completed" and data["steps_done"] == 30 and data["simulated"] is True
    assert data["symbols"] == ["AAPL", "MSFT"] and len(data["equity_curve"]) == 30
    fills = events(journal_dir, data["run_id"], "fill")
    assert len(fills) == data["fills"] > 0
    assert sorted(data["positions"]) == ["AAPL", "MSFT"]
    assert data["fees"] == pytest.approx(sum(f["fee"] for f in fills))
    assert Path(data["journal_path"]).parent == journal_dir


def test_order_then_positions_across_processes(cli, write_config):
    # one-shot commands run on the real clock: a market that never closes keeps this test the same on any day
    write_config({"paper": {"trading_hours": "always"}})
    bought = cli("order", "AAPL", "buy", "10", "--json")
    assert bought.returncode == 0, bought.stderr
    assert json.loads(bought.stdout)["status"] == "filled"
    resting = json.loads(cli("order", "AAPL", "SELL", "4", "--limit", "1000", "--json").stdout)
    assert resting["status"] == "new"

    positions = cli("positions")
    assert positions.returncode == 0, positions.stderr
    assert re.search(r"AAPL\s+10\s", positions.stdout)

    cancelled = cli("cancel", resting["order_id"], "--json")  # the resting order carried over too
    assert json.loads(cancelled.stdout)["status"] == "cancelled"


@pytest.mark.parametrize(
    "args",
    [
        ["order", "AAPL", "BUY", "abc"],
        ["order", "AAPL", "HOLD", "1"],
        ["run", "--steps", "0"],
        ["run", "--strategy", "astrology"],
        ["frobnicate"],
        ["--venue", "nowhere", "positions"],
        ["run", "--param", "fast=50"],
        ["fills", "--since", "last tuesday"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(cli, args):
    proc = cli(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    one_error_line(proc.stderr)


def test_malformed_config_exits_2_with_one_line(cli, write_config, tmp_path):
    write_config(raw="live_trading:\n  venue: paper\n  paper: {fee_bps: [1\n")
    proc = cli("positions")
    assert proc.returncode == 2
    assert "Malformed YAML" in one_error_line(proc.stderr) and "at line" in proc.stderr
    proc = cli("--config", str(tmp_path / "nope.yaml"), "cash")
    assert proc.returncode == 2 and "Config file not found" in one_error_line(proc.stderr)


def test_check_config_lists_every_problem_at_once(cli, write_config):
    assert cli("check-config").returncode == 0
    write_config({"venue": "papr", "paper": {"fee_bps": -1, "slippage": {"model": "magic"}},
                  "risk": {"max_order_qty": 0}, "pipeline": {"bar": "7m"}, "data": {"provider": "teletext"},
                  "paperr": {"fee_bps": 1}})
    proc = cli("check-config")
    assert proc.returncode == 2
    out = proc.stdout
    for key, bad in [("live_trading.venue", "'papr'"), ("live_trading.paper.fee_bps", "-1"),
                     ("live_trading.paper.slippage.model", "'magic'"), ("live_trading.risk.max_order_qty", "0"),
                     ("live_trading.pipeline.bar", "'7m'"), ("live_trading.data.provider", "'teletext'")]:
        line = next(ln for ln in out.splitlines() if f" {key} " in ln)
        assert f"got {bad}" in line and ("one of" in line or "must be" in line)
    # the unknown section is a problem too, with the nearest valid key
    assert "unknown key live_trading.paperr in section live_trading (did you mean live_trading.paper?)" in out
    assert "7 configuration problems" in out
    assert "7 configuration problems" in one_error_line(proc.stderr)


def test_plot_writes_a_png(cli, tmp_path):
    target = tmp_path / "equity.png"
    proc = cli("run", "--steps", "12", "--plot", str(target))
    assert proc.returncode == 0, proc.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(target) in re.sub(r"\s+", "", proc.stdout)  # a long path may wrap in the table


def test_plot_without_matplotlib_says_how_to_install_and_does_not_run(cli, tmp_path, journal_dir):
    blocker = tmp_path / "no_mpl" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('No module named matplotlib')\n")
    proc = cli("run", "--plot", str(tmp_path / "x.png"), extra_path=blocker.parent)
    assert proc.returncode == 2
    assert 'pip install "live-trading[plot]"' in one_error_line(proc.stderr)
    assert not journal_dir.exists()


def test_ctrl_c_stops_a_run_cleanly(tmp_path, journal_dir):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "LIVE_TRADING", "run", "--steps", "100000", "--interval-s", "0.01",
         "--strategy", "equal_weight", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while not (journal_dir.exists() and events(journal_dir, event="fill")):  # the loop is trading
            assert proc.poll() is None and time.monotonic() < deadline, "run did not start trading"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    data = json.loads(out)
    assert data["stop_reason"] == "interrupted" and 0 < data["steps_done"] < 100000
    assert len(events(journal_dir, data["run_id"], "fill")) == data["fills"]
    assert err.strip().splitlines()[-1].startswith("live-trading: error: interrupted after")


# --------------------------------------------------------------------------
# In-process
# --------------------------------------------------------------------------


def run_main(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_quote_cash_fills_and_health(capsys, write_config):
    # one-shot commands run on the real clock: a market that never closes keeps this test the same on any day
    write_config({"paper": {"trading_hours": "always"}})
    code, out, _ = run_main(capsys, "quote", "aapl", "MSFT", "--json")
    quotes = json.loads(out)["quotes"]
    assert code == 0 and [q["symbol"] for q in quotes] == ["AAPL", "MSFT"]
    assert all(q["bid"] <= q["ask"] for q in quotes)

    assert run_main(capsys, "order", "AAPL", "BUY", "3", "--client-id", "once-1")[0] == 0
    code, out, _ = run_main(capsys, "order", "AAPL", "BUY", "3", "--client-id", "once-1", "--json")
    assert code == 0 and json.loads(out)["filled_qty"] == 3  # the same client id: the first order again

    code, out, _ = run_main(capsys, "fills", "--json")
    assert code == 0 and [(f["symbol"], f["qty"]) for f in json.loads(out)] == [("AAPL", 3.0)]
    code, out, _ = run_main(capsys, "fills", "--since", "2999-01-01")
    assert code == 0 and "No fills since" in out

    code, out, _ = run_main(capsys, "cash", "--json")
    account = json.loads(out)["account"]
    assert account["initial_cash"] == 100_000 and account["cash"] < 100_000 - 3 * 99

    code, out, _ = run_main(capsys, "health", "--symbols", "AAPL", "--json")
    report = json.loads(out)
    assert code == 0 and report["healthy"] is True and report["venue"] == "paper"
    assert {"now", "get_cash", "get_positions", "get_open_orders", "get_quote"} <= set(report["calls"])


def test_positions_and_open_orders(capsys, write_config):
    # one-shot commands run on the real clock: a market that never closes keeps this test the same on any day
    write_config({"paper": {"trading_hours": "always"}})
    assert run_main(capsys, "order", "MSFT", "BUY", "2")[0] == 0
    code, out, _ = run_main(capsys, "order", "MSFT", "SELL", "1", "--limit", "500", "--tif", "day", "--json")
    resting = json.loads(out)
    assert code == 0 and resting["status"] == "new" and resting["time_in_force"] == "day"
    code, out, _ = run_main(capsys, "positions", "--json")
    data = json.loads(out)
    assert code == 0 and data["positions"] == {"MSFT": 2.0} and data["details"]["MSFT"]["qty"] == 2.0
    code, out, _ = run_main(capsys, "orders", "--json")
    assert code == 0 and [o["order_id"] for o in json.loads(out)] == [resting["order_id"]]
    code, out, _ = run_main(capsys, "orders")
    short = short_id(resting["order_id"])
    assert code == 0 and short in out and "Open orders (1)" in out
    assert (resting["order_id"] in out) == (short == resting["order_id"])  # long ids are shortened
    code, out, _ = run_main(capsys, "orders", "--wide")
    assert code == 0 and resting["order_id"] in out
    assert run_main(capsys, "cancel", short)[0] == 0  # the short id a table shows is enough to cancel
    assert "No open orders." in run_main(capsys, "orders")[1]


def test_broker_errors_exit_1_with_one_line(capsys):
    code, out, err = run_main(capsys, "order", "AAPL", "SELL", "5")
    assert code == 1 and out == ""
    assert "Insufficient position" in one_error_line(err)
    code, _, err = run_main(capsys, "cancel", "no-such-order")
    assert code == 1 and "Order not found" in one_error_line(err)
    code, _, err = run_main(capsys, "--debug", "cancel", "no-such-order")
    assert code == 1 and "Traceback" in err and "OrderNotFoundError" in err


def test_config_option_points_at_another_file(capsys, tmp_path, isolated_config, monkeypatch):
    other = tmp_path / "other.yaml"
    other.write_text(isolated_config.read_text().replace("initial_cash: 100000.0", "initial_cash: 5000.0"))
    monkeypatch.setenv("LIVE_TRADING_CONFIG", str(isolated_config))  # restored after the test
    code, out, _ = run_main(capsys, "cash", "--json", "--config", str(other))
    assert code == 0 and json.loads(out)["cash"] == 5000.0


class FakeVenue:
    """A protocol broker with a venue_health probe, for the read-only check of check-config."""

    def __init__(self, fail=False):
        self.fail = fail
        self.closed = False

    def now(self):
        if self.fail:
            raise BrokerConnectionError("connection refused by 127.0.0.1:9")
        return utc_now()

    def get_cash(self):
        return 1234.5

    def venue_health(self):
        return {"connected": True, "account": "DU123", "rate_limit_headroom": 0.9, "reconnects": 2,
                "server_offset_ms": 12.5, "testnet": True, "nested": {"not": "shown"}}

    def close(self):
        self.closed = True


@pytest.fixture
def fake_venues():
    made = []

    def factory(fail):
        def build(**kw):
            made.append(FakeVenue(fail))
            return made[-1]

        return build

    register_venue("fakelive", factory(False))
    register_venue("fakedown", factory(True))
    yield made
    interface._VENUES.pop("fakelive", None)
    interface._VENUES.pop("fakedown", None)


def test_check_config_connects_read_only_to_live_venues(capsys, fake_venues):
    code, out, _ = run_main(capsys, "--venue", "fakelive", "check-config", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["problems"] == []
    facts = report["connection"]
    assert facts["account"] == "DU123" and facts["rate limit headroom"] == 0.9 and facts["reconnects"] == 2
    assert facts["cash available"] == 1234.5 and facts["testnet"] is True
    assert facts["server offset ms"] == 12.5 and "server time offset ms" not in facts  # the venue's own figure
    assert "nested" not in facts
    assert fake_venues[-1].closed

    code, out, err = run_main(capsys, "--venue", "fakedown", "check-config")
    assert code == 1 and "connection refused" in out
    assert "BrokerConnectionError" in one_error_line(err)


def test_no_command_prints_help(capsys):
    code, out, _ = run_main(capsys)
    assert code == 2 and "run" in out and "check-config" in out


def test_run_on_replay_data_is_simulated_and_stops_at_the_end_of_the_file(capsys, write_config, tmp_path):
    rows = ["timestamp,symbol,open,high,low,close,volume"]
    for h in range(12):
        for sym, base in (("AAA", 100.0), ("BBB", 50.0)):
            px = base * (1 + 0.01 * (h % 5))
            rows.append(f"2025-03-03T{h:02d}:00:00Z,{sym},{px},{px},{px},{px},1000")
    data = tmp_path / "bars.csv"
    data.write_text("\n".join(rows) + "\n")
    # rows around the clock: markets that trade then (equities would wait for the NYSE open)
    write_config({"data": {"provider": "replay", "replay": {"path": str(data)}},
                  "asset_classes": {"AAA": "crypto", "BBB": "crypto"}})

    code, out, err = run_main(capsys, "run", "--steps", "50", "--symbols", "AAA", "BBB", "--strategy",
                              "equal_weight", "--qty-step", "1", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["simulated"] is True and report["data"] == "replay"
    assert report["steps_done"] == 12 and "running 12 of 50 steps" in err
    assert report["started_at"].startswith("2025-03-03T00:00:00")
    assert all(float(q).is_integer() for q in report["positions"].values()) and report["fills"] > 0

    code, _, err = run_main(capsys, "run", "--seed", "3")
    assert code == 2 and "--seed only applies to the sim data provider" in one_error_line(err)


def test_one_shot_sim_prices_continue_from_the_run(capsys, tmp_path):
    from datetime import datetime

    from LIVE_TRADING.cli.session import sim_anchor
    from LIVE_TRADING.data.sim import SimDataProvider

    assert sim_anchor(tmp_path / "empty") is None
    code, out, _ = run_main(capsys, "run", "--steps", "5", "--strategy", "equal_weight", "--json")
    started = datetime.fromisoformat(json.loads(out)["started_at"])
    assert code == 0 and sim_anchor(tmp_path / "logs" / "paper_trades" / "default") == started

    code, out, _ = run_main(capsys, "quote", "AAPL", "--json")
    (quote,) = json.loads(out)["quotes"]
    at = datetime.fromisoformat(quote["timestamp"])
    same_market = SimDataProvider(seed=42, start_time=started, clock=lambda: at).get_quote("AAPL")
    assert quote["bid"] == pytest.approx(same_market["bid"]) and quote["ask"] == pytest.approx(same_market["ask"])


def test_check_config_counts_missing_credentials_as_a_config_problem():
    from LIVE_TRADING.cli.checks import _collect
    from LIVE_TRADING.common.exceptions import AuthenticationError, ConfigError

    problems: list[str] = []

    def no_credentials():
        raise AuthenticationError("API credentials are missing: set BINANCE_API_KEY")

    def two_problems():
        raise ConfigError(problems=["a.b must be x", "a.c must be y"])

    assert _collect(problems, "live_trading.binance", no_credentials) is None
    assert _collect(problems, "live_trading.ibkr", two_problems) is None
    assert problems == ["live_trading.binance: API credentials are missing: set BINANCE_API_KEY",
                        "a.b must be x", "a.c must be y"]


def test_number_formats_for_stocks_and_crypto():
    from LIVE_TRADING.cli.render import amount, price, qty

    assert [price(50010), price(123.456), price(0.00001234), price(None)] == ["50,010.00", "123.4560", "0.00001234", "-"]
    assert [qty(320.33384672), qty(0.04995), qty(10.0), qty(-0.0)] == ["320.3338", "0.04995", "10", "0"]
    assert [amount(1e-05, "BTC"), amount(3.271, "USD"), amount(0)] == ["0.00001 BTC", "3.27 USD", "0.00"]
    assert [amount(0.1038025119), amount(0.0008331), amount(-0.5)] == ["0.103803", "0.0008331", "-0.5"]


class TouchVenue:
    """A protocol-only live venue stand-in: market orders fill at the touch, fees 0.1% in the quote asset."""

    def __init__(self, **kw):
        self.quotes = {"AAA": (10.0, 10.02), "BBB": (20.0, 20.04)}
        self.cash, self.positions, self.fills, self.n = 1000.0, {}, [], 0

    def submit_order(self, symbol, side, qty, order_type="market", limit_price=None, **kw):
        bid, ask = self.quotes[symbol]
        px = ask if side == "BUY" else bid
        fee = qty * px * 0.001
        self.cash -= (qty * px if side == "BUY" else -qty * px) + fee
        self.positions[symbol] = self.positions.get(symbol, 0.0) + (qty if side == "BUY" else -qty)
        self.n += 1
        self.fills.append({"order_id": str(self.n), "fill_id": f"{self.n}-1", "timestamp": utc_now(),
                           "symbol": symbol, "side": side, "qty": qty, "fill_price": px, "fee": fee,
                           "fee_currency": "USDT"})
        return {"order_id": str(self.n), "symbol": symbol, "side": side, "qty": qty, "filled_qty": qty,
                "status": "filled", "fill_price": px, "fee": fee, "order_type": order_type}

    def get_open_orders(self):
        return []

    def get_positions(self):
        return {s: q for s, q in self.positions.items() if q}

    def get_cash(self):
        return self.cash

    def get_fills(self, since=None):
        return [f for f in self.fills if since is None or f["timestamp"] >= since]

    def get_quote(self, symbol):
        from LIVE_TRADING.data.quotes import make_quote

        bid, ask = self.quotes[symbol]
        return make_quote(symbol, bid, ask, 10, 10, utc_now())

    def now(self):
        return utc_now()


def test_run_on_a_live_venue_uses_its_quotes_and_the_real_clock(capsys):
    register_venue("touchvenue", TouchVenue)
    try:
        code, out, err = run_main(capsys, "--venue", "touchvenue", "run", "--steps", "2", "--interval-s", "0",
                                  "--symbols", "AAA", "BBB", "--strategy", "equal_weight", "--qty-step", "1",
                                  "--min-trade-value", "1", "--json", "--yes")
    finally:
        interface._VENUES.pop("touchvenue", None)
    assert code == 0, err
    report = json.loads(out)
    assert report["simulated"] is False and report["data"] is None and report["steps_done"] == 2
    # 98% of 1000 split in two, whole units, bought at the ask: 48 AAA at 10.02, 24 BBB at 20.04.
    assert report["positions"] == {"AAA": 48.0, "BBB": 24.0}
    assert report["fees_by_currency"] == pytest.approx({"USDT": 0.001 * (48 * 10.02 + 24 * 20.04)})
    assert report["unrealized_pnl"] == pytest.approx(48 * (10.01 - 10.02) + 24 * (20.02 - 20.04))
    assert report["journal_path"] is None


def test_config_schema_prints_the_json_schema(cli, write_config):
    write_config({"paper": {"fee_bps": "not a number"}})  # the schema needs no valid file
    proc = cli("config", "schema")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    paper = schema["$defs"]["PaperSettings"]
    assert paper["additionalProperties"] is False
    assert paper["properties"]["fee_bps"]["minimum"] == 0 and paper["properties"]["fee_bps"]["description"]


def test_config_show_prints_the_effective_config_with_secrets_masked(cli, write_config, tmp_path):
    write_config({"binance": {"api_key": "${LT_TEST_KEY}", "api_secret": "${LT_TEST_SECRET:}"},
                  "paper": {"fee_bps": 0}})
    env_key = "k3y-VALUE-should-not-show"
    proc = subprocess.run([sys.executable, "-m", "LIVE_TRADING", "config", "show", "--json"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "LT_TEST_KEY": env_key})
    assert proc.returncode == 0, proc.stderr
    assert env_key not in proc.stdout + proc.stderr
    shown = json.loads(proc.stdout)["effective"]["live_trading"]
    assert shown["binance"]["api_key"] == "***" and shown["binance"]["api_secret"] == ""
    assert shown["paper"]["fee_bps"] == 0.0 and shown["journal"]["durability"] == "flush"  # defaults filled in
    yaml_proc = cli("config", "show")
    assert yaml_proc.returncode == 0 and "durability: flush" in yaml_proc.stdout


def test_every_command_validates_the_whole_file(cli, write_config):
    write_config({"pipeline": {"steps": "many"}, "journal": {"durabilty": "fsync"}})
    for args in (("cash",), ("config", "show"), ("quote", "AAPL")):
        proc = cli(*args)
        assert proc.returncode == 2, args
        line = one_error_line(proc.stderr)
        assert "live_trading.pipeline.steps" in line and "did you mean live_trading.journal.durability" in line


def test_duplicate_key_is_a_config_error_on_the_command_line(cli, write_config):
    write_config(raw="live_trading:\n  venue: paper\n  venue: binance\n")
    proc = cli("cash")
    assert proc.returncode == 2
    assert "duplicate key live_trading.venue at line 3" in one_error_line(proc.stderr)
