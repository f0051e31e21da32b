"""LIVE_TRADING: one synchronous ``Broker`` interface for paper, Binance and IBKR.

The public face, everything a pipeline needs::

    from LIVE_TRADING import get_broker, get_data_provider, run_loop, OrderRejectedError
    broker = get_broker()          # venue from live_trading.venue (default: paper)
    provider = get_data_provider() # quotes from live_trading.data.provider (default: sim)
    LIVE_TRADING.report("logs/paper_trades", benchmark="buy-and-hold")   # performance report

Names are loaded on first use, so importing this package imports no venue client
(ib_async, yfinance, the Binance HTTP client) and not even pandas.

==================  =================================================================
``get_broker``      build the configured venue behind its guards (risk limits, metrics)
``Broker``          the protocol every venue satisfies (``LIVE_TRADING.brokers.interface``)
``get_data_provider``, ``DataProvider``   quote sources (``LIVE_TRADING.data.provider``)
``run_loop``, ``Strategy``                the reference loop (``LIVE_TRADING.pipeline``)
``report``, ``Report``                    performance report of an account (``LIVE_TRADING.monitoring``)
errors              the one error tree (``LIVE_TRADING.common.exceptions``)
==================  =================================================================
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from LIVE_TRADING.common import exceptions as _exceptions
from LIVE_TRADING.common.exceptions import *  # noqa: F403 - the error tree is part of the public face (pure, light)

__version__ = "0.1.0"

#: public name -> module it lives in (imported on first use)
_LAZY: dict[str, str] = {
    "get_broker": "LIVE_TRADING.brokers.interface",
    "Broker": "LIVE_TRADING.brokers.interface",
    "get_data_provider": "LIVE_TRADING.data.provider",
    "DataProvider": "LIVE_TRADING.data.provider",
    "run_loop": "LIVE_TRADING.pipeline.loop",
    "Strategy": "LIVE_TRADING.pipeline.strategies",
    "report": "LIVE_TRADING.monitoring.report",
    "Report": "LIVE_TRADING.monitoring.report",
}

if TYPE_CHECKING:
    from LIVE_TRADING.brokers.interface import Broker, get_broker
    from LIVE_TRADING.data.provider import DataProvider, get_data_provider
    from LIVE_TRADING.monitoring.report import Report, report
    from LIVE_TRADING.pipeline.loop import run_loop
    from LIVE_TRADING.pipeline.strategies import Strategy


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "Broker",
    "DataProvider",
    "Report",
    "Strategy",
    "__version__",
    "get_broker",
    "get_data_provider",
    "report",
    "run_loop",
    *_exceptions.__all__,
]
