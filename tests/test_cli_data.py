"""``live-trading data fetch`` (issue 16): bars from the configured provider to CSV / JSON / Parquet, with the
progress bar (and its ETA) on a terminal and nothing but the data when piped.

The terminal is a real pseudo-terminal (``pty``) in front of a real ``python -m LIVE_TRADING`` process;
the provider is the offline ``sim`` one (no network).
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from LIVE_TRADING.cli import main

ROOT = Path(__file__).resolve().parents[1]
SYMBOLS = ("AAPL", "MSFT", "BTCUSDT", "SPY")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _env(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "LIVE_TRADING_HOME": str(tmp_path / "home"), "COLUMNS": "100"}
    env.pop("LIVE_TRADING_CONFIG", None)
    return env


def _args(out):
    return [sys.executable, "-m", "LIVE_TRADING", "data", "fetch", *SYMBOLS, "--period", "1mo", "--bar", "1d",
            "--provider", "sim", "--output", str(out)]


def test_on_a_terminal_the_download_shows_a_progress_bar_with_an_eta(tmp_path):
    out = tmp_path / "bars.csv"
    master, slave = pty.openpty()
    proc = subprocess.Popen(_args(out), stdin=slave, stdout=slave, stderr=slave, env=_env(tmp_path), cwd=tmp_path)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=120) == 0
    screen = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))
    assert "fetch" in screen and f"0/{len(SYMBOLS)}" in screen
    # An estimate while symbols are still to come (not only the 0:00:00 of the finished bar).
    etas = re.findall(rf"(\d)/{len(SYMBOLS)} +\d+:\d\d:\d\d +eta +(\d+:\d\d:\d\d)", screen)
    assert any(int(done) < len(SYMBOLS) for done, _ in etas), screen[-2000:]
    assert f"bars of {len(SYMBOLS)} symbol(s) written to" in screen
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["timestamp", "symbol", "open", "high", "low", "close", "volume"]
    assert list(dict.fromkeys(frame["symbol"])) == list(SYMBOLS)


def test_piped_the_download_prints_only_the_data(tmp_path):
    args = _args(tmp_path / "unused.csv")[:-2]  # to stdout
    proc = subprocess.run(args, capture_output=True, text=True, env=_env(tmp_path), cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and "\x1b" not in proc.stdout
    frame = pd.read_csv(io.StringIO(proc.stdout))
    assert set(frame["symbol"]) == set(SYMBOLS) and len(frame) >= 4 * 20
    assert (frame["high"] >= frame["low"]).all()
    per_symbol = frame.groupby("symbol")["timestamp"].apply(lambda s: s.is_monotonic_increasing)
    assert per_symbol.all()


def test_parquet_and_json_and_refusals(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LIVE_TRADING_HOME", str(tmp_path / "home"))
    out = tmp_path / "bars.parquet"
    assert main(["data", "fetch", "AAPL", "--period", "5d", "--bar", "1d", "--provider", "sim", "--format",
                 "parquet", "--output", str(out)]) == 0
    frame = pd.read_parquet(out)
    assert list(frame["symbol"].unique()) == ["AAPL"] and str(frame["timestamp"].dt.tz) == "UTC"
    capsys.readouterr()
    assert main(["data", "fetch", "AAPL", "--period", "5d", "--provider", "sim", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and set(rows[0]) == {"timestamp", "symbol", "open", "high", "low", "close", "volume"}

    assert main(["data", "fetch", "APPL", "--provider", "sim"]) == 2  # a typo: refused before fetching
    assert "did you mean AAPL" in capsys.readouterr().err
    assert main(["data", "fetch", "AAPL", "--provider", "teletext"]) == 2
    assert "Unknown data provider" in capsys.readouterr().err
    assert main(["data", "fetch", "AAPL", "--provider", "sim", "--format", "parquet"]) == 2
    assert "--output" in capsys.readouterr().err


def test_a_symbol_that_fails_is_named_and_the_others_are_written(tmp_path, capsys, monkeypatch):
    from LIVE_TRADING.common.exceptions import DataProviderError
    from LIVE_TRADING.data.sim import SimDataProvider

    real = SimDataProvider.get_historical

    def flaky(self, symbol, period="1mo", interval="1d"):
        if symbol == "MSFT":
            raise DataProviderError("feed down", symbol=symbol)
        return real(self, symbol, period=period, interval=interval)

    monkeypatch.setattr(SimDataProvider, "get_historical", flaky)
    out = tmp_path / "bars.csv"
    code = main(["data", "fetch", "AAPL", "MSFT", "--period", "5d", "--provider", "sim", "--output", str(out)])
    assert code == 1
    assert "MSFT: no bars: feed down" in capsys.readouterr().err
    assert set(pd.read_csv(out)["symbol"]) == {"AAPL"}


@pytest.mark.parametrize(("bad", "says"), [(["--period", "7y"], "allowed: 1d, 5d, 1mo"),
                                           (["--bar", "7m"], "invalid choice: '7m'")])
def test_bad_period_or_bar_is_a_usage_error(bad, says, capsys):
    assert main(["data", "fetch", "AAPL", "--provider", "sim", *bad]) == 2
    assert says in capsys.readouterr().err
