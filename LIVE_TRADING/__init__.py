"""LIVE_TRADING: one synchronous ``Broker`` interface for paper, Binance and IBKR.

    from LIVE_TRADING.brokers import get_broker
    broker = get_broker()          # venue from live_trading.venue (default: paper)

Importing this package imports no venue client (ib_async, yfinance, ...).
"""

__version__ = "0.1.0"
