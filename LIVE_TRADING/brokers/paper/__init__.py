"""The paper venue: a realistic simulated broker behind the ``Broker`` protocol.

Rooms: ``broker`` (the facade), ``config`` (settings), ``orders`` (order
records), ``ledger`` (cash, positions, P&L), ``matching`` and ``costs`` (the
fill engine), ``recovery`` (journal -> state).
"""

from LIVE_TRADING.brokers.paper.broker import PaperBroker
from LIVE_TRADING.brokers.paper.config import PaperConfig
from LIVE_TRADING.common.constants import SIDE_BUY, SIDE_SELL

__all__ = ["SIDE_BUY", "SIDE_SELL", "PaperBroker", "PaperConfig"]
