"""Shared fixtures. Every test runs in its own temp directory with its own config.

The autouse fixture points ``LIVE_TRADING_CONFIG`` at a copy of the packaged
defaults whose journal directories live under the test's ``tmp_path``, so no
test writes to the repository's ``logs/`` or depends on the user's config, and
whose paper accounts trade at any hour (``paper.trading_hours: always``), so no
test depends on the time of day it runs at.
Use ``write_config(...)`` to run a test against other settings.
"""

from __future__ import annotations

import copy
import gc
from pathlib import Path
from typing import Any

import pytest
import yaml

from CONFIG.config_loader import PACKAGED_CONFIG, reload_config
from LIVE_TRADING.common.clock import ManualClock


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run each test in tmp_path with a config whose log dirs are inside it."""
    monkeypatch.chdir(tmp_path)
    base = yaml.safe_load(PACKAGED_CONFIG.read_text())
    logs = tmp_path / "logs"
    base = _merge(
        base,
        {
            "live_trading": {
                # the tests' paper accounts trade at any hour, so that the suite passes whatever the time
                # of day it runs at (a test of trading hours sets the mode it tests)
                "paper": {"log_dir": str(logs / "paper_trades"), "trading_hours": "always"},
                "binance": {"log_dir": str(logs / "binance")},
                "ibkr": {"log_dir": str(logs / "ibkr")},
            }
        },
    )
    path = tmp_path / "live_trading.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False))
    monkeypatch.setenv("LIVE_TRADING_CONFIG", str(path))
    reload_config()
    yield path
    reload_config()
    gc.unfreeze()  # a CLI run in this process froze its heap (``freeze_startup_heap``): the next test starts clean


@pytest.fixture
def write_config(isolated_config: Path):
    """``write_config({"paper": {"fee_bps": 0}})`` merges settings into the test's config file."""

    def _write(live_trading: dict[str, Any] | None = None, *, raw: str | None = None) -> Path:
        if raw is not None:
            isolated_config.write_text(raw)
        else:
            data = yaml.safe_load(isolated_config.read_text())
            data = _merge(data, {"live_trading": live_trading or {}})
            isolated_config.write_text(yaml.safe_dump(data, sort_keys=False))
        reload_config()
        return isolated_config

    return _write


@pytest.fixture
def clock() -> ManualClock:
    """A clock that only moves when the test says so (starts 2026-01-05 14:30 UTC)."""
    return ManualClock()
