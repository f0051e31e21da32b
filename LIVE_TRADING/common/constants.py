"""Vocabulary shared by every venue, and the built-in configuration defaults.

The same words mean the same thing on paper, Binance and IBKR: adapters map
their venue's vocabulary onto these at their boundary.
"""

from __future__ import annotations

import copy
from typing import Any

# --- sides -------------------------------------------------------------------
SIDE_BUY = "BUY"
SIDE_SELL = "SELL"
SIDES = (SIDE_BUY, SIDE_SELL)

# --- order types -------------------------------------------------------------
ORDER_TYPE_MARKET = "market"
ORDER_TYPE_LIMIT = "limit"
ORDER_TYPE_STOP = "stop"
ORDER_TYPE_STOP_LIMIT = "stop_limit"
#: a stop whose trigger follows the market by ``trail_amount`` or ``trail_percent``;
#: with ``limit_offset`` it becomes a trailing stop-limit (limit = trigger -/+ offset)
ORDER_TYPE_TRAILING_STOP = "trailing_stop"
ORDER_TYPES = (ORDER_TYPE_MARKET, ORDER_TYPE_LIMIT, ORDER_TYPE_STOP, ORDER_TYPE_STOP_LIMIT, ORDER_TYPE_TRAILING_STOP)
#: order types that need a ``limit_price`` / a ``stop_price``
NEEDS_LIMIT_PRICE = frozenset({ORDER_TYPE_LIMIT, ORDER_TYPE_STOP_LIMIT})
NEEDS_STOP_PRICE = frozenset({ORDER_TYPE_STOP, ORDER_TYPE_STOP_LIMIT})
#: entry order types of ``submit_bracket``
BRACKET_ENTRY_TYPES = (ORDER_TYPE_MARKET, ORDER_TYPE_LIMIT)

# --- time in force -----------------------------------------------------------
TIF_GTC = "gtc"
TIF_DAY = "day"
TIF_IOC = "ioc"
TIF_FOK = "fok"
TIME_IN_FORCE = (TIF_GTC, TIF_DAY, TIF_IOC, TIF_FOK)

# --- order statuses ----------------------------------------------------------
STATUS_NEW = "new"
STATUS_PARTIALLY_FILLED = "partially_filled"
STATUS_FILLED = "filled"
STATUS_CANCELLED = "cancelled"
STATUS_REJECTED = "rejected"
STATUS_EXPIRED = "expired"
ORDER_STATUSES = (
    STATUS_NEW,
    STATUS_PARTIALLY_FILLED,
    STATUS_FILLED,
    STATUS_CANCELLED,
    STATUS_REJECTED,
    STATUS_EXPIRED,
)
OPEN_STATUSES = frozenset({STATUS_NEW, STATUS_PARTIALLY_FILLED})
FINAL_STATUSES = frozenset({STATUS_FILLED, STATUS_CANCELLED, STATUS_REJECTED, STATUS_EXPIRED})

# --- journal events ----------------------------------------------------------
EVENT_SESSION = "session"
EVENT_ORDER = "order"
EVENT_FILL = "fill"
EVENT_CANCEL = "cancel"
EVENT_REJECT = "reject"
EVENT_EXPIRE = "expire"
JOURNAL_EVENTS = (EVENT_SESSION, EVENT_ORDER, EVENT_FILL, EVENT_CANCEL, EVENT_REJECT, EVENT_EXPIRE)

#: ``client_order_id`` rule, the strictest venue's (Binance: ^[a-zA-Z0-9-_]{1,36}$),
#: so that an id that works on paper works everywhere.
CLIENT_ORDER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,36}$"

#: Quantities below this are treated as zero (positions are closed, orders done).
QTY_EPSILON = 1e-9

# --- built-in defaults -------------------------------------------------------
# The packaged CONFIG/live_trading.yaml holds the same values (a test keeps the
# two in step); these are what the code falls back to when a key is absent.
DEFAULT_CONFIG: dict[str, Any] = {
    "venue": "paper",
    "paper": {
        "initial_cash": 100_000.0,
        "slippage_bps": 5.0,
        "fee_bps": 1.0,
        "log_dir": "logs/paper_trades",
        "resume": False,
        "slippage": {"model": "fixed_bps", "base_bps": 1.0, "impact_bps": 10.0},
        "fees": {
            "model": "bps",
            "per_share": 0.005,
            "min_per_order": 1.0,
            "max_pct_of_notional": 1.0,
            "maker_bps": 0.0,
            "taker_bps": 1.0,
        },
        "respect_quote_size": False,
        "allow_short": False,
        "margin_requirement": 0.5,
        "end_of_day_utc": "00:00",
        "data_provider": None,
        "max_quote_age_s": 60.0,
        "currency": "USD",
        "account": "default",
        "min_qty": 1e-8,
        "max_quote_future_s": 5.0,
    },
    "journal": {
        "durability": "flush",
        "lock_timeout_s": 5.0,
        "snapshot_every": 10000,
        "segment_max_bytes": 67108864,
        "keep_terminal_orders": 10000,
    },
    "circuit": {
        "enabled": True,
        "failure_threshold": 5,
        "error_rate_threshold": 0.5,
        "window_s": 60.0,
        "min_calls": 10,
        "cooldown_s": 30.0,
    },
    "monitoring": {
        "host": "127.0.0.1",
        "port": 9108,
        "token": None,
        "health_check_s": 15.0,
        "max_quote_age_s": 300.0,
        "degraded_headroom": 0.2,
        "degraded_reject_rate": 0.5,
    },
    "alerts": {
        "enabled": True,
        "account": None,
        "dedup_window_s": 300.0,
        "queue_size": 1000,
        "max_retries": 5,
        "backoff_base_s": 1.0,
        "backoff_max_s": 60.0,
        "timeout_s": 10.0,
        "reject_storm_count": 10,
        "reject_storm_window_s": 60.0,
        "reconnect_alert_after_s": 120.0,
        "webhook": {"url": None, "format": "generic"},
        "email": {
            "host": None,
            "port": 25,
            "sender": None,
            "to": None,
            "username": None,
            "password": None,
            "starttls": False,
        },
    },
    "risk": {
        "trading_enabled": True,
        "max_order_value": None,
        "max_order_qty": None,
        "max_position_value": None,
        "allowed_symbols": None,
    },
    "data": {
        "provider": "sim",
        "sim": {
            "seed": 42,
            "start_price": 100.0,
            "drift": 0.05,
            "volatility": 0.2,
            "spread_bps": 2.0,
            "size": 1000.0,
            "symbols": {},
            "start_time": None,
        },
        "replay": {"path": None, "spread_bps": 2.0, "size": 1000.0, "bar_time": "end"},
        "yfinance": {
            "cache_ttl_s": 30.0,
            "spread_bps": 10.0,
            "size": 100.0,
            "quote_period": "1d",
            "quote_interval": "1m",
            "timeout_s": 10.0,
            "bid_ask": False,
            "max_spread_bps": 50.0,
        },
    },
    "pipeline": {
        "symbols": ["AAPL", "MSFT", "GOOG"],
        "strategy": "ma_crossover",
        "steps": 100,
        "bar": "1h",
        "interval_s": None,
        "min_trade_value": 100.0,
        "qty_step": None,
        "order_type": "market",
        "cancel_open_on_exit": True,
    },
    "binance": {
        "api_key": None,
        "api_secret": None,
        "testnet": True,
        "base_url": None,
        "quote_asset": "USDT",
        "recv_window_ms": 5000,
        "order_timeout_s": 10.0,
        "allow_live": False,
        "log_dir": "logs/binance",
        "request_timeout_s": 10.0,
        "max_retries": 3,
        "backoff_base_s": 0.5,
        "backoff_max_s": 8.0,
        "max_retry_after_s": 60.0,
        "poll_interval_s": 0.5,
        "weight_headroom": 0.8,
        "exchange_info_ttl_s": 3600.0,
        "reconcile_attempts": 2,
        "reconcile_delay_s": 1.0,
    },
    "ibkr": {
        "host": "127.0.0.1",
        "port": 7497,
        "client_id": 1,
        "account": None,
        "connect_timeout_s": 10.0,
        "order_timeout_s": 10.0,
        "market_data_type": 1,
        "readonly": False,
        "allow_live": False,
        "log_dir": "logs/ibkr",
        "request_timeout_s": 15.0,
        "delayed_fallback": True,
        "cash_tag": "TotalCashValue",
        "contracts": {},
        "client_id_retries": 5,
        "reconnect_attempts": 3,
        "reconnect_backoff_s": 1.0,
        "reconnect_backoff_max_s": 30.0,
        "ack_grace_s": 0.25,
        "commission_wait_s": 2.0,
        "pacing_retries": 2,
        "pacing_backoff_s": 15.0,
        "use_rth": True,
        "quote_batch_size": 50,
        "ib_module": None,
    },
}


def default_for(key: str) -> Any:
    """The built-in default for a dotted key such as ``"live_trading.paper.fee_bps"``.

    Raises ``KeyError`` for a key that has no built-in default.
    """
    parts = key.split(".")
    if parts and parts[0] == "live_trading":
        parts = parts[1:]
    node: Any = DEFAULT_CONFIG
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            raise KeyError(key)
        node = node[part]
    return copy.deepcopy(node)
