"""``BinanceBroker``: a Binance spot account behind the ``Broker`` protocol (polling, synchronous).

Built by ``get_broker("binance", ...)`` (the keyword arguments are those of
``__init__``; ``None`` means "use live_trading.binance"). The Spot Testnet is
the default; a live account needs ``testnet=False`` *and* ``allow_live=True``.

What each call does on the wire (``/api/v3`` endpoints, rest-api.md):

=====================  ==============================================================
construction           ``GET time`` (clock offset), ``GET exchangeInfo`` (filters, limits)
``submit_order``       ``POST order`` with ``newOrderRespType=FULL`` (one request fills a
                       market order); polls ``GET order`` while a market order is not
                       final, up to ``order_timeout_s``; resting orders return at once
``cancel_order``       ``DELETE order`` (an order already final: ``GET order``)
``get_order``          ``GET order``
``get_open_orders``    ``GET openOrders``
``get_positions``      ``GET account``: non-zero base-asset balances (free + locked) of
                       symbols quoted in ``quote_asset``, as ``{"BTCUSDT": qty}``
``get_cash``           ``GET account``: free balance of ``quote_asset``
``get_fills``          ``GET myTrades`` per symbol traded or held, incrementally
                       (a ``fromId`` cursor per symbol; old trades are not refetched)
``get_quote``          ``GET ticker/bookTicker``
``now``                local clock + the measured server-time offset
=====================  ==============================================================

Orders
    Symbols are accepted as ``BTCUSDT`` or ``BTC/USDT``; results use ``BTCUSDT``.
    ``order_id`` is ``"SYMBOL:orderId"`` (e.g. ``"BTCUSDT:28"``; Binance order
    ids are unique per symbol only); ``get_order``/``cancel_order`` also accept
    the bare number for orders this broker has seen. Types: ``market``,
    ``limit``, ``stop`` (``STOP_LOSS``/``TAKE_PROFIT``) and ``stop_limit``
    (``STOP_LOSS_LIMIT``/``TAKE_PROFIT_LIMIT``), chosen by side and where the
    stop lies against the current book. Time in force ``gtc``, ``ioc``, ``fok``;
    **``day`` does not exist on Binance spot and is rejected** with
    ``OrderRejectedError``. Quantities and prices are rounded and checked
    against the symbol's filters before sending (see ``parsing``).

No doubled orders
    Every order carries a ``newClientOrderId`` (yours, or a generated one). When
    the answer to the order POST is lost (timeout, dropped connection, 5xx,
    -1006/-1007) the order is looked up by that id: found -> that is the result;
    not found -> it is re-sent once with the same id; still unknown ->
    ``OrderStatusUnknownError`` carrying the id. A ``client_order_id`` you pass
    that Binance already knows returns that order instead of placing another.
    The lookup is tried ``reconcile_attempts`` times, ``reconcile_delay_s``
    apart, before concluding "not found": Binance accepts a client id again once
    its first order is no longer open, so re-sending is only safe when the first
    order really never arrived; the delay covers Binance's own propagation lag.

Order management (issue 14)
    ``trailing_stop`` -> ``STOP_LOSS[_LIMIT]`` + ``trailingDelta`` (percent
    trails only); ``modify_order`` -> amend keepPriority / cancelReplace
    (``modify.py``); ``submit_bracket`` / ``submit_oco`` -> order lists
    (``lists.py``); ``reconcile`` (``reconcile.py``) runs at construction.
    Code layout: ``core.py`` (rules, bookkeeping), ``account.py`` (balances,
    fills), ``orders.py`` (submit, cancel), this module (construction, health).

Fees are as Binance charges them: in the asset received (base asset on buys,
quote asset on sells) unless paid in BNB; ``OrderResult.fee`` sums the
commissions of the order's trades, ``Fill.fee_currency`` names the asset.

Journal: every order, fill, cancel, rejection and expiry is written to the
JSONL journal under ``log_dir`` before the call returns. No secret is ever
journaled, logged or put in a message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import requests

from LIVE_TRADING.brokers.binance import lists, modify, reconcile
from LIVE_TRADING.brokers.binance.config import BinanceConfig, load_binance_config
from LIVE_TRADING.brokers.binance.core import (  # noqa: F401  (re-exported)
    MY_TRADES_PAGE,
    VENUE,
    W_ACCOUNT,
    W_BOOK_TICKER,
    W_EXCHANGE_INFO,
    W_MY_TRADES,
    W_MY_TRADES_BY_ORDER,
    W_OPEN_ORDERS_ALL,
    W_ORDER_CANCEL,
    W_ORDER_NEW,
    W_ORDER_QUERY,
    W_TIME,
    new_client_order_id,
)
from LIVE_TRADING.brokers.binance.http import BinanceHTTP
from LIVE_TRADING.brokers.binance.orders import OrdersMixin
from LIVE_TRADING.brokers.binance.parsing import SymbolRules
from LIVE_TRADING.brokers.binance.reconcile import JournalView, journal_view
from LIVE_TRADING.common.clock import Clock, utc_now
from LIVE_TRADING.common.constants import EVENT_SESSION, OPEN_STATUSES
from LIVE_TRADING.common.journal import Journal

logger = logging.getLogger(__name__)


class BinanceBroker(OrdersMixin):
    """The ``Broker`` protocol over Binance spot's signed REST API (see the module docstring)."""

    venue = VENUE

    def __init__(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        base_url: str | None = None,
        testnet: bool | None = None,
        quote_asset: str | None = None,
        recv_window_ms: int | None = None,
        order_timeout_s: float | None = None,
        allow_live: bool | None = None,
        log_dir: str | None = None,
        request_timeout_s: float | None = None,
        max_retries: int | None = None,
        backoff_base_s: float | None = None,
        backoff_max_s: float | None = None,
        max_retry_after_s: float | None = None,
        poll_interval_s: float | None = None,
        weight_headroom: float | None = None,
        exchange_info_ttl_s: float | None = None,
        reconcile_attempts: int | None = None,
        reconcile_delay_s: float | None = None,
        *,
        session: requests.Session | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], None] | None = None,
        journal: Journal | None = None,
        client_id_prefix: str = "lt",
        reconcile_on_start: bool = True,
    ) -> None:
        """Check the configuration, measure the server clock, load the trading rules.

        ``session`` (a ``requests.Session``), ``clock`` (aware-UTC callable) and
        ``sleep`` are injectable; every wait (polling, backoff, rate limits) goes
        through ``sleep``. Raises ``ConfigError`` (bad settings, ``allow_live``
        guard), ``AuthenticationError`` (missing credentials) before any request,
        and ``BrokerConnectionError`` if Binance cannot be reached.

        ``client_id_prefix`` marks this account's orders (generated client ids
        start with it); ``reconcile_on_start`` runs ``reconcile()`` once the
        rules are loaded (see ``reconcile.py``).
        """
        self.config: BinanceConfig = load_binance_config(
            api_key=api_key, api_secret=api_secret, base_url=base_url, testnet=testnet,
            quote_asset=quote_asset, recv_window_ms=recv_window_ms, order_timeout_s=order_timeout_s,
            allow_live=allow_live, log_dir=log_dir, request_timeout_s=request_timeout_s,
            max_retries=max_retries, backoff_base_s=backoff_base_s, backoff_max_s=backoff_max_s,
            max_retry_after_s=max_retry_after_s, poll_interval_s=poll_interval_s,
            weight_headroom=weight_headroom, exchange_info_ttl_s=exchange_info_ttl_s,
            reconcile_attempts=reconcile_attempts, reconcile_delay_s=reconcile_delay_s,
        )
        cfg = self.config
        self._clock: Clock = clock or utc_now
        self._sleep: Callable[[float], None] = sleep or time.sleep
        self.http = BinanceHTTP(
            cfg.base_url,
            api_key=cfg.api_key,
            api_secret=cfg.api_secret,
            recv_window_ms=cfg.recv_window_ms,
            timeout_s=cfg.request_timeout_s,
            max_retries=cfg.max_retries,
            backoff_base_s=cfg.backoff_base_s,
            backoff_max_s=cfg.backoff_max_s,
            max_retry_after_s=cfg.max_retry_after_s,
            weight_headroom=cfg.weight_headroom,
            session=session,
            clock=self._clock,
            sleep=self._sleep,
        )
        self.quote_asset = cfg.quote_asset
        self._lock = threading.RLock()
        self._rules: dict[str, SymbolRules] = {}
        self._pairs: dict[tuple[str, str], str] = {}
        self._rules_loaded_at: datetime | None = None
        self._orders: dict[str, dict[str, Any]] = {}  # order key -> last OrderResult seen
        self._created: dict[str, datetime] = {}  # order key -> creation time
        self._by_cid: dict[str, str] = {}  # client order id -> order key
        self._bare: dict[str, set[str]] = {}  # Binance orderId -> order keys
        self._traded: set[str] = set()
        self._fills: dict[str, dict[str, Any]] = {}  # fill id -> Fill
        self._trade_cursor: dict[str, int] = {}  # symbol -> next myTrades fromId
        self._trade_covered: dict[str, int] = {}  # symbol -> ms from which history is complete (0 = all)
        self.client_id_prefix = str(client_id_prefix)
        self._journaled_fills: set[str] = set()  # fill ids already in the journal (from earlier runs)
        self._parents: dict[str, str] = {}  # bracket exit leg -> entry order key
        self._lists_seen: set[str] = set()  # order lists whose structure is known
        self._journal_view = JournalView()  # filled from the journal once it is open (below)
        try:
            self.http.sync_time()
            self._load_rules()
        except BaseException:
            self.http.close()
            raise
        self.journal = journal or Journal(cfg.log_dir, fsync=cfg.journal_fsync, clock=self._clock, exclusive=False)
        self.journal.write(
            EVENT_SESSION,
            {
                "venue": VENUE,
                "testnet": cfg.testnet,
                "base_url": cfg.base_url,
                "quote_asset": cfg.quote_asset,
                "server_offset_ms": self.http.offset_ms,
            },
        )
        self._journal_view = journal_view(self.journal.log_dir)
        self._journaled_fills = set(self._journal_view.fill_ids)
        self._parents.update(self._journal_view.parents)
        self.last_reconcile: dict[str, Any] | None = None
        if reconcile_on_start:
            self.last_reconcile = self.reconcile()

    def __repr__(self) -> str:
        return f"BinanceBroker(base_url={self.config.base_url!r}, testnet={self.config.testnet}, api_key='***')"

    # -- order management (issue 14): modules modify / lists / reconcile -----------------

    def modify_order(
        self, order_id: str, *, qty: float | None = None, limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> dict[str, Any]:
        """Change an open order; see ``binance.modify``. A replaced order has a new ``order_id``."""
        return modify.modify_order(self, order_id, qty=qty, limit_price=limit_price, stop_price=stop_price)

    def submit_bracket(self, symbol: str, side: str, qty: float, **kwargs: Any) -> dict[str, Any]:
        """Entry + take-profit + stop-loss (``orderList/otoco``, or market entry + OCO); see ``binance.lists``."""
        return lists.submit_bracket(self, symbol, side, qty, **kwargs)

    def submit_oco(self, symbol: str, side: str, qty: float, **kwargs: Any) -> dict[str, Any]:
        """A limit and a stop leg, one cancelling the other (``orderList/oco``); see ``binance.lists``."""
        return lists.submit_oco(self, symbol, side, qty, **kwargs)

    def reconcile(self) -> dict[str, Any]:
        """Bring the journal in line with Binance; see ``binance.reconcile``."""
        return reconcile.reconcile(self)

    def venue_health(self) -> dict[str, Any]:
        """What this adapter knows about its link to Binance, without a request (for ``health()``).

        ``connected`` is false after a request finally failed to reach Binance;
        ``rate_limit_headroom`` is the unused fraction of the tightest request
        weight budget; ``open_orders`` counts the orders last seen open.
        """
        http = self.http
        with self._lock:
            open_orders = sum(1 for o in self._orders.values() if o["status"] in OPEN_STATUSES)
        return {
            "connected": http.connected,
            "rate_limit_headroom": http.headroom(),
            "blocked_for_s": http.blocked_for_s(),
            "open_orders": open_orders,
            "server_offset_ms": http.offset_ms,
            "testnet": self.config.testnet,
            "circuit": http.circuit.snapshot(),
            **http.stats,
        }

    def close(self) -> None:
        """Close the HTTP session (if we opened it) and the journal."""
        self.http.close()
        self.journal.close()

    def __enter__(self) -> BinanceBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["BinanceBroker", "new_client_order_id"]


__all__ = ["BinanceBroker", "new_client_order_id"]
