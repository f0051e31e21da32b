"""``--account`` on a live venue (issue 16): each named account keeps its own journal under the venue's
``log_dir``, and ``health`` / ``report`` count that account's orders and fills only, across processes.

Two Binance accounts are two loopback stand-ins (two sets of credentials, as two sub-accounts would be);
each account's orders are placed by separate ``python -m LIVE_TRADING`` processes.
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

from LIVE_TRADING.cli import main
from LIVE_TRADING.common.journal import list_segments

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, config, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "LIVE_TRADING_CONFIG": str(config), "BINANCE_API_KEY": FakeBinance().api_key,
           "BINANCE_API_SECRET": FakeBinance().api_secret}  # the stand-ins' default credentials
    return subprocess.run([sys.executable, "-m", "LIVE_TRADING", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


@pytest.fixture
def two_accounts(tmp_path, isolated_config):
    """``{name: (fake, config path)}`` for accounts A and B of venue binance, one journal root."""
    base = yaml.safe_load(isolated_config.read_text())
    with FakeBinance() as fake_a, FakeBinance() as fake_b:
        out = {}
        for name, fake in (("A", fake_a), ("B", fake_b)):
            data = {**base, "live_trading": {**base["live_trading"], "venue": "binance"}}
            data["live_trading"]["binance"] = {**data["live_trading"]["binance"], "base_url": fake.url,
                                               "testnet": True}
            path = tmp_path / f"{name}.yaml"
            path.write_text(yaml.safe_dump(data, sort_keys=False))
            out[name] = (fake, path)
        yield out


def test_health_and_report_count_only_the_named_live_account(tmp_path, two_accounts):
    (fake_a, cfg_a), (fake_b, cfg_b) = two_accounts["A"], two_accounts["B"]
    root = tmp_path / "logs" / "binance"
    # Account A: a market buy (filled) and a resting limit buy, each from its own process.
    for args in (("order", "BTCUSDT", "BUY", "0.001"), ("order", "BTCUSDT", "BUY", "0.001", "--limit", "40000")):
        proc = cli(*args, "--account", "A", config=cfg_a, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert f"account: A at {root / 'A'} (binance)" in proc.stderr
    # Account B: three filled market buys, from three processes.
    for _ in range(3):
        proc = cli("order", "ETHUSDT", "BUY", "0.01", "--account", "B", config=cfg_b, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    assert len(fake_a.calls("POST", "/api/v3/order")) == 2 and len(fake_b.calls("POST", "/api/v3/order")) == 3
    assert list_segments(root / "A") and list_segments(root / "B") and not list_segments(root)

    proc = cli("health", "--account", "A", "--json", config=cfg_a, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    journal = json.loads(proc.stdout)["journal"]
    assert (journal["orders"], journal["fills"]) == (2, 1)

    proc = cli("health", "--account", "B", "--json", config=cfg_b, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    journal = json.loads(proc.stdout)["journal"]
    assert (journal["orders"], journal["fills"]) == (3, 3)

    proc = cli("report", "--account", "A", "--initial-cash", "10000", "--json", config=cfg_a, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["fills"] == 1 and report["source"].endswith(str(root / "A")), report


def test_without_account_a_live_venue_keeps_its_journal_in_log_dir(tmp_path, two_accounts, monkeypatch, capsys):
    fake_a, cfg_a = two_accounts["A"]
    monkeypatch.setenv("LIVE_TRADING_CONFIG", str(cfg_a))
    monkeypatch.setenv("BINANCE_API_KEY", fake_a.api_key)
    monkeypatch.setenv("BINANCE_API_SECRET", fake_a.api_secret)
    from CONFIG.config_loader import reload_config

    reload_config()
    root = tmp_path / "logs" / "binance"
    assert main(["order", "BTCUSDT", "BUY", "0.001"]) == 0
    assert f"account: binance at {root} (binance)" in capsys.readouterr().err
    assert list_segments(root)
    assert main(["health", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["journal"]["orders"] == 1
    assert main(["health", "--account", "A", "--json"]) == 0  # a named account with no journal yet
    assert json.loads(capsys.readouterr().out)["journal"]["orders"] == 0
    assert main(["health", "--account", "../escape"]) == 2
    assert "--account must be" in capsys.readouterr().err
