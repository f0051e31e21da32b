"""get_broker: config-driven venue choice, the registry, lazy imports, risk wrapping."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from LIVE_TRADING.brokers import Broker, PaperBroker, get_broker, register_venue
from LIVE_TRADING.brokers.guard.metrics import InstrumentedBroker
from LIVE_TRADING.brokers.guard.risk import RiskGuard
from LIVE_TRADING.brokers.interface import known_venues


def test_unknown_venue_message_lists_known():
    with pytest.raises(ValueError) as err:
        get_broker("x")
    assert str(err.value) == "Unknown broker venue: 'x' (known: binance, ibkr, paper)"


def test_venue_from_config(write_config):
    write_config({"venue": "nowhere"})
    with pytest.raises(ValueError, match="'nowhere'"):
        get_broker()
    write_config({"venue": "PAPER"})
    b = get_broker()
    assert isinstance(b.unwrap(), PaperBroker)


def test_kwargs_reach_the_constructor():
    b = get_broker("paper", initial_cash=1234)
    assert b.get_cash() == 1234


def test_every_broker_is_wrapped_in_risk_limits_and_metrics_and_is_a_broker():
    b = get_broker("paper")
    assert isinstance(b, InstrumentedBroker) and isinstance(b.inner, RiskGuard) and isinstance(b, Broker)
    assert isinstance(b.unwrap(), PaperBroker)
    b.set_quote("A", 1, 1.01)  # venue extras pass through
    assert b.get_quote("A")["bid"] == 1.0
    b.unwrap().close()  # one writer per account: the next broker opens it after this one closed
    assert isinstance(get_broker("paper", risk=False, metrics=False), PaperBroker)


def test_register_venue_is_one_line():
    class Fake:
        def __init__(self, **kw):
            self.kw = kw

    register_venue("fake_venue_for_test", Fake)
    try:
        b = get_broker("fake_venue_for_test", risk=False, metrics=False, answer=42)
        assert isinstance(b, Fake) and b.kw == {"answer": 42}
        assert "fake_venue_for_test" in known_venues()
    finally:
        from LIVE_TRADING.brokers import interface

        interface._VENUES.pop("fake_venue_for_test")


def test_import_does_not_pull_venue_clients():
    code = (
        "import sys, LIVE_TRADING, LIVE_TRADING.brokers, LIVE_TRADING.brokers.interface\n"
        "from LIVE_TRADING.brokers import get_broker, PaperBroker\n"
        "bad = [m for m in ('ib_async', 'ib_insync', 'yfinance', 'LIVE_TRADING.brokers.binance') if m in sys.modules]\n"
        "print(bad)\n"
    )
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"


def test_the_package_is_the_public_face_and_stays_light():
    code = (
        "import sys, LIVE_TRADING\n"
        "heavy = [m for m in ('pandas', 'requests', 'ib_async', 'ib_insync', 'yfinance') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from LIVE_TRADING import (Broker, ConfigError, DataProvider, OrderRejectedError, get_broker,\n"
        "                          get_data_provider, run_loop)\n"
        "from LIVE_TRADING.common.exceptions import OrderRejectedError as Original\n"
        "assert OrderRejectedError is Original and callable(run_loop) and callable(get_data_provider)\n"
        "assert set(LIVE_TRADING.__all__) <= set(dir(LIVE_TRADING))\n"
        "assert isinstance(get_broker('paper'), Broker)\n"
        "assert not [m for m in ('ib_async', 'ib_insync', 'yfinance') if m in sys.modules]\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
