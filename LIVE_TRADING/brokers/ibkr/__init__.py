"""Interactive Brokers venue (``get_broker("ibkr")``) and data provider (``get_data_provider("ibkr")``).

Modules, one job each:

=================  ==========================================================
``_ib.py``         the one import point for ib_async (or ib_insync)
``config.py``      ``live_trading.ibkr`` settings, the live-account guard
``connection.py``  the I/O thread, connect / reconnect, client-id retries
``contracts.py``   our symbols <-> IB contracts, qualification cache
``parsing.py``     status / order type / error-code tables (pure)
``broker.py``      ``IBKRBroker``: the Broker protocol
``data.py``        ``IBKRDataProvider``: snapshot quotes and historical bars
=================  ==========================================================

Importing this package does not import the IB library; building a broker or
provider does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from LIVE_TRADING.brokers.ibkr.broker import IBKRBroker
    from LIVE_TRADING.brokers.ibkr.data import IBKRDataProvider


def __getattr__(name: str) -> Any:
    if name == "IBKRBroker":
        from LIVE_TRADING.brokers.ibkr.broker import IBKRBroker

        return IBKRBroker
    if name == "IBKRDataProvider":
        from LIVE_TRADING.brokers.ibkr.data import IBKRDataProvider

        return IBKRDataProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["IBKRBroker", "IBKRDataProvider"]
