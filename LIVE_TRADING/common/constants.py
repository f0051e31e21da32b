"""Vocabulary shared by every venue (configuration defaults live in ``CONFIG/schema.py``).

The same words mean the same thing on paper, Binance and IBKR: adapters map
their venue's vocabulary onto these at their boundary.
"""

from __future__ import annotations

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
