"""The command line as a new user meets it (issue 16): where the account lives, tables that fit,
unknown symbols refused, plans and confirmation before live trading, the exit-code table,
init / reset / cancel --all / flatten, health from the journal, and the runnable examples.

CLI checks run the real entry point (``python -m LIVE_TRADING``) in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fakes.binance_server import FakeBinance

from CONFIG.config_loader import PACKAGED_CONFIG
from LIVE_TRADING.brokers import interface
from LIVE_TRADING.brokers.interface import register_venue
from LIVE_TRADING.brokers.paper.recovery import iter_fills
from LIVE_TRADING.brokers.validation import validate_order
from LIVE_TRADING.cli import main
from LIVE_TRADING.cli.errors import exit_code_for
from LIVE_TRADING.cli.render import short_id
from LIVE_TRADING.common import paths
from LIVE_TRADING.common.exceptions import (
    AccountLockedError,
    AuthenticationError,
    BrokerConnectionError,
    ConfigError,
    OrderRejectedError,
    UnknownSymbolError,
)
from LIVE_TRADING.common.journal import iter_records

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd, env=None, columns=None, stdin=subprocess.DEVNULL):
    e = {**os.environ, **(env or {})}
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    if columns is not None:
        e["COLUMNS"] = str(columns)
    return subprocess.run([sys.executable, "-m", "LIVE_TRADING", *args], capture_output=True, text=True,
                          env=e, cwd=cwd, timeout=120, stdin=stdin)


@pytest.fixture
def cli_in(capsys):
    """``cli_in(*args)`` runs ``main(args)`` in this process (fast): ``(code, stdout, stderr)``."""

    def run(*args):
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def error_lines(stderr):
    return [ln for ln in stderr.splitlines() if not ln.startswith("account: ")]


def records(account, event=None):
    """The account directory's records (fills: wherever recorded, in ``order`` or ``fill`` records)."""
    if not Path(account).is_dir():
        return []
    if event == "fill":
        return list(iter_fills(account))
    return [r for r in iter_records(account) if event is None or r["event"] == event]


# -- where the account lives ------------------------------------------------------------


def test_a_user_config_keeps_its_account_next_to_it_whatever_the_cwd(tmp_path):
    cfg_dir = tmp_path / "project"
    cfg_dir.mkdir()
    config = cfg_dir / "my.yaml"
    config.write_text(yaml.safe_dump({"live_trading": {"paper": {"log_dir": "accounts/paper"}}}))
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    env = {"LIVE_TRADING_CONFIG": str(config)}
    # a crypto symbol: it trades around the clock, so the order fills whatever the time the test runs at
    bought = run_cli("order", "BTC/USDT", "BUY", "7", cwd=a, env=env)
    assert bought.returncode == 0, bought.stderr
    shown = run_cli("positions", "--json", cwd=b, env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["positions"] == {"BTC/USDT": 7.0}
    account = cfg_dir / "accounts" / "paper" / "default"
    assert records(account, "fill") and not (a / "accounts").exists() and not (b / "accounts").exists()
    assert shown.stderr.splitlines() == [f"account: default at {account} (paper)"]


def test_the_packaged_config_uses_live_trading_home_not_the_cwd(tmp_path, monkeypatch, cli_in):
    home = tmp_path / "home"
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    monkeypatch.setenv("LIVE_TRADING_CONFIG", str(PACKAGED_CONFIG))
    monkeypatch.setenv("LIVE_TRADING_HOME", str(home))
    monkeypatch.chdir(a)
    assert cli_in("order", "ETH/USDT", "BUY", "3")[0] == 0  # crypto: fills at any hour
    monkeypatch.chdir(b)
    code, out, err = cli_in("positions", "--json")
    assert code == 0 and json.loads(out)["positions"] == {"ETH/USDT": 3.0}
    assert records(home / "logs" / "paper_trades" / "default", "fill")
    assert not (a / "logs").exists() and not (b / "logs").exists()
    assert err.splitlines() == [f"account: default at {home / 'logs' / 'paper_trades' / 'default'} (paper)"]


def test_journal_root_rules(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVE_TRADING_CONFIG", str(PACKAGED_CONFIG))
    monkeypatch.delenv("LIVE_TRADING_HOME", raising=False)
    assert paths.journal_root("paper") == ROOT / "logs" / "paper_trades"  # a source checkout: its logs/
    monkeypatch.setattr(paths, "_checkout_root", lambda: None)  # an installed package: the user data dir
    import platformdirs

    installed = paths.journal_root("paper")
    assert installed == Path(platformdirs.user_data_dir("live-trading")) / "logs" / "paper_trades"
    assert ROOT / "LIVE_TRADING" not in installed.parents and tmp_path not in installed.parents
    assert paths.journal_root("paper", "/abs/dir") == Path("/abs/dir")


# -- output ---------------------------------------------------------------------------


@pytest.fixture
def busy_account(isolated_config, cli_in):
    env = {"LIVE_TRADING_CONFIG": str(isolated_config)}
    ids = []
    for args in (("BTC/USDT", "BUY", "0.12345678"), ("BRK.B", "BUY", "12"), ("MSFT", "SELL", "1", "--limit", "9999"),
                 ("MSFT", "BUY", "1", "--limit", "1", "--tif", "day")):
        code, out, err = cli_in("order", *args, "--json")
        if args[1] == "SELL":  # nothing held: refused
            assert code == 1
            continue
        assert code == 0, err
        ids.append(json.loads(out)["order_id"])
    return env, ids


@pytest.mark.parametrize("width", [80, 200])
def test_tables_fit_the_terminal_without_cutting_ids(tmp_path, busy_account, width):
    env, ids = busy_account
    fills = records(tmp_path / "logs" / "paper_trades" / "default", "fill")
    for command in ("orders", "fills", "positions"):
        args = (command,)
        for wide in (("--wide",),) if width == 200 else ((),):
            proc = run_cli(*args, *wide, cwd=tmp_path, env=env, columns=width)
            assert proc.returncode == 0, proc.stderr
            assert max(len(line) for line in proc.stdout.splitlines()) <= width, proc.stdout
            text = proc.stdout
            if command == "orders":
                shown = ids[-1] if wide else short_id(ids[-1])
                assert shown in text
            if command == "fills":
                for f in fills:
                    assert (f["fill_id"] if wide else short_id(f["fill_id"])) in text
            if command == "positions":
                assert "BTC/USDT" in text and "BRK.B" in text


# -- safe by default --------------------------------------------------------------------


def test_an_unknown_symbol_is_refused_with_a_suggestion_and_nothing_journaled(tmp_path, isolated_config):
    env = {"LIVE_TRADING_CONFIG": str(isolated_config)}
    proc = run_cli("order", "APPL", "BUY", "1", cwd=tmp_path, env=env)
    assert proc.returncode == 1
    (line,) = error_lines(proc.stderr)
    assert "unknown symbol 'APPL'" in line and "did you mean AAPL" in line
    log_dir = tmp_path / "logs" / "paper_trades" / "default"
    assert not records(log_dir, "order") and not records(log_dir, "fill")

def test_an_absurd_symbol_is_refused_in_one_short_line(tmp_path, cli_in):
    code, _, err = cli_in("order", "A" * 300, "BUY", "1")
    assert code == 1 and "at most 32 characters" in err
    assert len(error_lines(err)[0]) < 200
    assert not records(tmp_path / "logs" / "paper_trades" / "default", "order")


def test_paper_broker_refuses_unknown_symbols_and_keeps_its_state(tmp_path):
    from LIVE_TRADING.brokers.paper import PaperBroker
    from LIVE_TRADING.data.sim import SimDataProvider

    broker = PaperBroker(log_dir=tmp_path / "j", data_provider=SimDataProvider())
    with pytest.raises(UnknownSymbolError) as info:
        broker.submit_order("MSTF", "BUY", 1)
    assert info.value.suggestions[0] == "MSFT" and isinstance(info.value, OrderRejectedError)
    assert broker.get_positions() == {} and broker.get_cash() == 100_000 and broker.get_open_orders() == []
    assert broker.submit_order("MSFT", "BUY", 1)["status"] == "filled"
    custom = PaperBroker(log_dir=tmp_path / "k", data_provider=SimDataProvider(universe=["AAA"]))
    assert custom.submit_order("AAA", "BUY", 1)["status"] == "filled"
    with pytest.raises(UnknownSymbolError):
        custom.submit_order("AAPL", "BUY", 1)
    anything = PaperBroker(log_dir=tmp_path / "l", data_provider=SimDataProvider(universe="any"))
    assert anything.submit_order("ZZZZ", "BUY", 1)["status"] == "filled"


def test_replay_knows_the_symbols_of_its_file(tmp_path):
    from LIVE_TRADING.data.replay import ReplayDataProvider

    data = tmp_path / "q.csv"
    data.write_text("timestamp,symbol,bid,ask\n2026-01-05T14:00:00Z,AAA,10,10.1\n2026-01-05T14:00:00Z,BBB,5,5.1\n")
    provider = ReplayDataProvider(path=data)
    assert provider.known_symbols() == {"AAA", "BBB"}
    assert provider.knows("aaa") is True and provider.knows("AAB") is False


@pytest.mark.parametrize("bad", ["A" * 33, "AP PL", "AAPL;rm", "ÄPFEL", "\x00"])
def test_absurd_symbols_are_refused_by_the_shared_validation(bad):
    with pytest.raises(OrderRejectedError, match="Invalid symbol"):
        validate_order(bad, "BUY", 1)
    assert validate_order("brk.b", "BUY", 1).symbol == "BRK.B"
    assert validate_order("BTC/USDT", "BUY", 1).symbol == "BTC/USDT"


@pytest.fixture
def binance_cli(tmp_path, write_config):
    with FakeBinance() as fake:
        write_config({"venue": "binance", "binance": {"base_url": fake.url, "testnet": True},
                      "pipeline": {"symbols": ["BTCUSDT", "ETHUSDT"], "strategy": "equal_weight"}})
        env = {"LIVE_TRADING_CONFIG": str(tmp_path / "live_trading.yaml"), "BINANCE_API_KEY": fake.api_key,
               "BINANCE_API_SECRET": fake.api_secret}
        yield fake, env


def test_run_on_binance_prints_the_plan_and_sends_nothing_without_yes(tmp_path, binance_cli, monkeypatch, cli_in):
    fake, env = binance_cli
    args = ("run", "--steps", "1", "--interval-s", "0", "--min-trade-value", "10")
    proc = run_cli(*args, cwd=tmp_path, env=env, columns=80)
    assert proc.returncode == 2, proc.stderr
    assert "Orders the first step would place (2" in proc.stdout and "BTCUSDT" in proc.stdout
    assert "needs confirmation: pass --yes" in error_lines(proc.stderr)[0]
    assert fake.calls("POST", "/api/v3/order") == []

    for key in ("BINANCE_API_KEY", "BINANCE_API_SECRET"):
        monkeypatch.setenv(key, env[key])
    code, out, err = cli_in(*args, "--dry-run", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert sorted(o["symbol"] for o in plan["orders"]) == ["BTCUSDT", "ETHUSDT"]
    assert 0 < plan["notional"] <= 10_000
    assert fake.calls("POST", "/api/v3/order") == []

    code, _, err = cli_in(*args, "--yes", "--json")
    assert code == 0, err
    assert len(fake.calls("POST", "/api/v3/order")) == 2


def test_confirm_false_in_the_config_lets_a_live_run_go_on(binance_cli, write_config, monkeypatch, cli_in):
    fake, env = binance_cli
    for key in ("BINANCE_API_KEY", "BINANCE_API_SECRET"):
        monkeypatch.setenv(key, env[key])
    write_config({"confirm": False})
    code, _, err = cli_in("run", "--steps", "1", "--interval-s", "0", "--json")
    assert code == 0, err
    assert len(fake.calls("POST", "/api/v3/order")) == 2


def test_flatten_on_a_live_venue_asks_first(binance_cli, monkeypatch, cli_in):
    fake, env = binance_cli
    for key in ("BINANCE_API_KEY", "BINANCE_API_SECRET"):
        monkeypatch.setenv(key, env[key])
    fake.set_balance("BTC", "0.01")
    code, _, err = cli_in("flatten")
    assert code == 2 and "needs confirmation" in err
    code, out, _ = cli_in("flatten", "--dry-run")
    assert code == 0 and "SELL 0.01 BTCUSDT" in out
    assert fake.calls("POST", "/api/v3/order") == []


@pytest.mark.parametrize("command", [["run", "--steps", "1"], ["positions"], ["order", "BTCUSDT", "BUY", "0.01"],
                                     ["cash"], ["check-config"]])
def test_a_missing_binance_key_exits_2_in_every_command(tmp_path, write_config, command, monkeypatch, cli_in):
    write_config({"venue": "binance", "pipeline": {"symbols": ["BTCUSDT"]}})
    monkeypatch.setenv("BINANCE_API_KEY", "")
    monkeypatch.setenv("BINANCE_API_SECRET", "")
    if command == ["positions"]:  # once through the real entry point
        proc = run_cli(*command, cwd=tmp_path, env={"LIVE_TRADING_CONFIG": str(tmp_path / "live_trading.yaml")})
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    else:
        code, out, err = cli_in(*command)
    assert code == 2, (out, err)
    assert "BINANCE_API_KEY" in err + out


# -- dry runs and the new commands on paper ----------------------------------------------


def test_dry_runs_change_nothing(tmp_path, cli_in):
    log_dir = tmp_path / "logs" / "paper_trades" / "default"
    assert cli_in("order", "AAPL", "BUY", "5")[0] == 0
    resting = json.loads(cli_in("order", "MSFT", "BUY", "1", "--limit", "1", "--json")[1])
    before = len(records(log_dir)) - len(records(log_dir, "session"))
    outputs = {}
    for args in (("order", "AAPL", "BUY", "1", "--dry-run"), ("cancel", resting["order_id"], "--dry-run"),
                 ("cancel", "--all", "--dry-run"), ("flatten", "--dry-run"), ("run", "--steps", "3", "--dry-run")):
        code, out, err = cli_in(*args)
        assert code == 0, (args, err)
        outputs[args[0] + (" --all" if "--all" in args else "")] = out
    assert "BUY 1 AAPL" in outputs["order"] and "SELL 5 AAPL" in outputs["flatten"]
    assert short_id(resting["order_id"]) in outputs["cancel"] and "Would cancel" in outputs["cancel --all"]
    after = len(records(log_dir)) - len(records(log_dir, "session"))
    assert after == before  # only session records (a broker was opened), no order, fill or cancel
    assert json.loads(cli_in("positions", "--json")[1])["positions"] == {"AAPL": 5.0}  # the same account


def test_cancel_all_by_symbol_and_flatten(cli_in):
    cli_in("order", "AAPL", "BUY", "4")
    for sym in ("MSFT", "MSFT", "GOOG"):
        assert cli_in("order", sym, "BUY", "1", "--limit", "1")[0] == 0
    code, out, _ = cli_in("cancel", "--all", "--symbol", "MSFT", "--json")
    assert code == 0 and len(json.loads(out)["cancelled"]) == 2
    left = json.loads(cli_in("orders", "--json")[1])
    assert [o["symbol"] for o in left] == ["GOOG"]
    assert cli_in("cancel", "--all")[0] == 0
    assert json.loads(cli_in("orders", "--json")[1]) == []
    code, out, err = cli_in("flatten", "--json")  # paper: no question asked
    assert code == 0, err
    assert [(o["symbol"], o["side"], o["qty"]) for o in json.loads(out)["orders"]] == [("AAPL", "SELL", 4.0)]
    assert json.loads(cli_in("positions", "--json")[1])["positions"] == {}
    assert cli_in("cancel")[0] == 2  # neither an id nor --all


def test_reset_keeps_the_old_account_and_asks_first(tmp_path, cli_in):
    log_dir = tmp_path / "logs" / "paper_trades" / "default"
    cli_in("order", "AAPL", "BUY", "2")
    code, _, err = cli_in("reset")
    assert code == 2 and "needs confirmation: pass --yes" in err
    assert records(log_dir, "fill")
    code, out, err = cli_in("reset", "--yes", "--json")
    assert code == 0, err
    kept = Path(json.loads(out)["kept_as"])
    assert kept.parent == log_dir.parent and kept.name.startswith("default.reset-")
    assert records(kept, "fill") and not records(log_dir, "fill")
    assert json.loads(cli_in("positions", "--json")[1])["positions"] == {}


def test_init_writes_a_commented_config_and_its_account_and_never_overwrites(tmp_path):
    where = tmp_path / "new"
    where.mkdir()
    env = {"LIVE_TRADING_CONFIG": ""}
    proc = run_cli("init", cwd=where, env=env)
    assert proc.returncode == 0, proc.stderr
    config = where / "live_trading.yaml"
    text = config.read_text()
    assert text.startswith("# LIVE_TRADING configuration") and "# Starting cash" in text
    assert records(where / "logs" / "paper_trades" / "default", "session")
    again = run_cli("init", cwd=where, env=env)
    assert again.returncode == 2 and "never overwrites" in again.stderr and config.read_text() == text
    elsewhere = run_cli("--config", str(config), "order", "BTC/USDT", "BUY", "0.5", cwd=tmp_path, env=env)
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert records(where / "logs" / "paper_trades" / "default", "fill")


# -- exit codes -----------------------------------------------------------------------------


def test_the_exit_code_table():
    assert exit_code_for(KeyboardInterrupt()) == 130
    assert exit_code_for(AccountLockedError("default", pid=1, host="h")) == 3
    assert exit_code_for(ConfigError("bad")) == 2
    assert exit_code_for(AuthenticationError("Binance API credentials are missing")) == 2
    assert exit_code_for(UnknownSymbolError("APPL", ["AAPL"])) == 1
    assert exit_code_for(BrokerConnectionError("down")) == 1
    assert exit_code_for(RuntimeError("bug")) == 1


class LockedVenue:
    def __init__(self, **kw):
        raise AccountLockedError("default", pid=4242, host="box")


def test_a_locked_account_exits_3(capsys):
    register_venue("lockedvenue", LockedVenue)
    try:
        code = main(["--venue", "lockedvenue", "positions"])
    finally:
        interface._VENUES.pop("lockedvenue", None)
    err = capsys.readouterr().err
    assert code == 3 and "locked by pid 4242" in err


def test_run_exits_1_when_orders_fail_unless_allowed(write_config, cli_in):
    write_config({"risk": {"max_order_qty": 1}})
    code, out, err = cli_in("run", "--steps", "3", "--strategy", "equal_weight", "--json")
    assert code == 1
    failed = len(json.loads(out)["failed"])
    assert failed > 0 and "failure(s) during the run" in error_lines(err)[-1]
    code, _, err = cli_in("run", "--steps", "3", "--strategy", "equal_weight", "--allow-failures", str(failed + 10))
    assert code == 0, err


# -- health from the journal -----------------------------------------------------------------


def test_health_counts_every_process_from_the_journal(tmp_path, isolated_config, cli_in):
    env = {"LIVE_TRADING_CONFIG": str(isolated_config)}
    assert run_cli("order", "AAPL", "BUY", "1", cwd=tmp_path, env=env).returncode == 0  # another process
    assert cli_in("order", "MSFT", "BUY", "1")[0] == 0
    assert cli_in("order", "MSFT", "SELL", "5")[0] == 1  # a reject
    code, out, err = cli_in("health", "--json")
    assert code == 0, err
    journal = json.loads(out)["journal"]
    assert (journal["orders"], journal["fills"], journal["rejects"]) == (2, 2, 1)
    assert json.loads(out)["calls"]["get_cash"]["count"] == 1  # this process's own metrics stay separate


# -- the library path and the examples -----------------------------------------------------


def test_get_broker_accepts_a_simulated_clock(tmp_path):
    from LIVE_TRADING.brokers import get_broker

    broker = get_broker("paper", clock="sim", data_provider="sim", log_dir=tmp_path / "bt")
    start = broker.clock()
    first = broker.submit_order("AAPL", "BUY", 1)
    broker.clock.advance(hours=5)
    second = broker.submit_order("AAPL", "BUY", 1)
    assert first["timestamp"] == start and (second["timestamp"] - start).total_seconds() == 5 * 3600
    with pytest.raises(ValueError, match="clock"):
        get_broker("paper", clock="sundial", log_dir=tmp_path / "x")


def test_strategy_base_class_and_loading_errors(tmp_path, capsys):
    from LIVE_TRADING.pipeline.strategies import Strategy, load_strategy

    class Probe(Strategy):
        lookback = 2
        mode = "qty"

        def on_bar(self, ctx, quotes):
            return {s: len(ctx.history[s]) for s in quotes}

    probe = Probe()
    assert probe({"A": {}}, {}, {"A": [1.0, 2.0]}) == {"A": 2}  # also the plain (quotes, positions, history) call
    assert isinstance(load_strategy("ma_crossover"), Strategy)
    (tmp_path / "good_strategy.py").write_text(
        "from LIVE_TRADING.pipeline.strategies import Strategy\n"
        "class Good(Strategy):\n    lookback = 3\n    def on_bar(self, ctx, quotes):\n        return {}\n")
    loaded = load_strategy(f"{tmp_path / 'good_strategy.py'}:Good")
    assert isinstance(loaded, Strategy) and loaded.lookback == 3
    (tmp_path / "bad_strategy.py").write_text("class Bad:\n    mode = 'leverage'\n    def __call__(self, *a):\n"
                                               "        return {}\n")
    with pytest.raises(ValueError, match="mode"):
        load_strategy(f"{tmp_path / 'bad_strategy.py'}:Bad")
    with pytest.raises(ValueError, match="Cannot import"):
        load_strategy("no_such_module_xyz:Thing")
    code = main(["run", "--strategy", "no_such_module_xyz:Thing"])
    assert code == 2 and "Cannot import" in capsys.readouterr().err


def test_progress_bar_shows_an_eta_on_a_terminal():
    import io

    from rich.console import Console

    from LIVE_TRADING.cli.render import Output
    from LIVE_TRADING.cli.run import _progress
    from LIVE_TRADING.pipeline import StepInfo

    out = Output()
    buffer = io.StringIO()
    out.err = Console(file=buffer, force_terminal=True, width=100)
    with _progress(out, 4) as on_step:
        on_step(StepInfo(1, 4, None, 100.0, 0, 0, None))
        out.err.file.flush()
    assert "eta" in buffer.getvalue() and "1/4" in buffer.getvalue()
    piped = Output()
    piped.err = Console(file=io.StringIO(), force_terminal=False)
    with _progress(piped, 4) as on_step:
        on_step(StepInfo(1, 4, None, 100.0, 0, 0, None))
    assert piped.err.file.getvalue() == ""


@pytest.mark.parametrize("script", ["backtest_manual_clock.py", "custom_strategy_cli.py"])
def test_examples_run(tmp_path, script):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "LIVE_TRADING_HOME": str(tmp_path / "home")}
    env.pop("LIVE_TRADING_CONFIG", None)
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / script)], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK" in proc.stdout.splitlines()[-1]


# -- third-party noise -------------------------------------------------------------------------


def test_a_connection_failure_prints_one_line_with_the_remedy(tmp_path, write_config):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    write_config({"venue": "ibkr", "ibkr": {"port": port, "connect_timeout_s": 2, "reconnect_attempts": 1}})
    env = {"LIVE_TRADING_CONFIG": str(tmp_path / "live_trading.yaml")}
    proc = run_cli("positions", cwd=tmp_path, env=env)
    assert proc.returncode == 1
    (line,) = error_lines(proc.stderr)  # no ib_async dump, no second copy from our own logging
    assert line.startswith("live-trading: error: Cannot connect to IB") and "is TWS or IB Gateway running" in line


def test_vendor_details_show_with_debug(tmp_path, write_config, cli_in):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    write_config({"venue": "ibkr", "ibkr": {"port": port, "connect_timeout_s": 2, "reconnect_attempts": 1}})
    code, _, err = cli_in("--debug", "positions")
    assert code == 1 and "LIVE_TRADING.vendor.ib_async" in err  # the vendor's details, relayed, with --debug


def test_vendor_logging_is_relayed_once_at_a_lower_level(caplog):
    import logging

    from LIVE_TRADING.common.vendor_logs import route_vendor_logging, vendor_output

    route_vendor_logging(("fakevendor",))
    with caplog.at_level(logging.DEBUG, logger="LIVE_TRADING.vendor"):
        for _ in range(3):
            logging.getLogger("fakevendor.client").error("Error 200, reqId 5: no security definition")
        with vendor_output("fakevendor"):
            print("1 Failed download:")
            print("1 Failed download:")
    relayed = [(r.name, r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("LIVE_TRADING.vendor")]
    assert relayed == [
        ("LIVE_TRADING.vendor.fakevendor", logging.INFO, "fakevendor.client: Error 200, reqId 5: no security definition"),
        ("LIVE_TRADING.vendor.fakevendor", logging.INFO, "1 Failed download:"),
    ]


def test_the_readme_lists_every_command_and_the_exit_codes():
    import argparse

    from LIVE_TRADING.cli import build_parser

    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The command line"):text.index("## Use it from a pipeline")]
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command in sub.choices:
        assert f"| `{command}" in section, f"README's command table lacks {command}"
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 130 |"):
        assert code in section
