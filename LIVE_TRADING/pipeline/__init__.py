"""The reference trading loop: quotes -> strategy -> target positions -> orders.

Rooms: ``loop`` (``run_loop``, ``PipelineConfig``, warm-up), ``rebalance``
(targets -> orders), ``results`` (``RunResult``, drawdowns), ``strategies``
(the example strategies). Everything a user needs is importable from here.
"""

from LIVE_TRADING.brokers.paper.ledger import pnl_from_fills
from LIVE_TRADING.pipeline.loop import PipelineConfig, run_loop, warm_history, warmup_period
from LIVE_TRADING.pipeline.rebalance import (
    DEFAULT_MIN_TRADE_VALUE,
    MODES,
    RebalanceResult,
    portfolio_value,
    rebalance,
)
from LIVE_TRADING.pipeline.results import BoundedLog, RunResult, StepInfo, drawdowns, max_drawdown
from LIVE_TRADING.pipeline.strategies import Strategy, StrategyContext

__all__ = [
    "DEFAULT_MIN_TRADE_VALUE",
    "MODES",
    "BoundedLog",
    "PipelineConfig",
    "RebalanceResult",
    "RunResult",
    "StepInfo",
    "Strategy",
    "StrategyContext",
    "drawdowns",
    "max_drawdown",
    "pnl_from_fills",
    "portfolio_value",
    "rebalance",
    "run_loop",
    "warm_history",
    "warmup_period",
]
