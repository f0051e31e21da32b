"""LIVE_TRADING: one synchronous ``Broker`` interface for paper, Binance and IBKR.

    from LIVE_TRADING.brokers import get_broker
    broker = get_broker()          # venue from live_trading.venue (default: paper)

    import LIVE_TRADING
    LIVE_TRADING.report("logs/paper_trades", benchmark="buy-and-hold")   # performance report

Importing this package imports no venue client (ib_async, yfinance, ...).
"""

from typing import Any

__version__ = "0.1.0"

#: names imported on first use (``LIVE_TRADING.report`` pulls in pandas only when called for)
_LAZY = {"report": "LIVE_TRADING.monitoring.report", "Report": "LIVE_TRADING.monitoring.report"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'LIVE_TRADING' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
