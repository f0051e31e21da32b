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
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import requests

from LIVE_TRADING.brokers.binance.config import BinanceConfig, load_binance_config
from LIVE_TRADING.brokers.binance.errors import INVALID_SYMBOL, ExecutionUnknownError, is_duplicate_order
from LIVE_TRADING.brokers.binance.http import BinanceHTTP
from LIVE_TRADING.brokers.binance.parsing import (
    LIMIT_TYPES,
    STOP_TYPES,
    TIF_TO_BINANCE,
    SymbolRules,
    binance_order_type,
    dt_to_ms,
    ms_to_dt,
    order_key,
    parse_order,
    parse_order_fills,
    parse_trade,
    split_order_key,
    to_binance_symbol,
)
from LIVE_TRADING.brokers.validation import validate_order
from LIVE_TRADING.common.clock import Clock, ensure_utc, utc_now
from LIVE_TRADING.common.constants import (
    EVENT_CANCEL,
    EVENT_EXPIRE,
    EVENT_FILL,
    EVENT_ORDER,
    EVENT_REJECT,
    EVENT_SESSION,
    OPEN_STATUSES,
    ORDER_TYPE_MARKET,
    ORDER_TYPE_STOP,
    ORDER_TYPE_STOP_LIMIT,
    QTY_EPSILON,
    STATUS_EXPIRED,
    TIF_DAY,
    TIF_FOK,
)
from LIVE_TRADING.common.exceptions import (
    BrokerError,
    InvalidQuoteError,
    OrderNotFoundError,
    OrderRejectedError,
    OrderStatusUnknownError,
    QuoteUnavailableError,
)
from LIVE_TRADING.common.journal import Journal
from LIVE_TRADING.data.quotes import make_quote

logger = logging.getLogger(__name__)

VENUE = "binance"

#: request weights (rest-api.md); Binance's own count comes back in X-MBX-USED-WEIGHT-* headers
W_TIME = 1
W_EXCHANGE_INFO = 20
W_ORDER_NEW = 1
W_ORDER_QUERY = 4
W_ORDER_CANCEL = 1
W_OPEN_ORDERS_ALL = 80
W_ACCOUNT = 20
W_MY_TRADES = 20
W_MY_TRADES_BY_ORDER = 5
W_BOOK_TICKER = 2
MY_TRADES_PAGE = 1000


def new_client_order_id() -> str:
    """A fresh id matching Binance's ``^[a-zA-Z0-9-_]{1,36}$`` (34 characters)."""
    return "lt" + uuid.uuid4().hex


class BinanceBroker:
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
    ) -> None:
        """Check the configuration, measure the server clock, load the trading rules.

        ``session`` (a ``requests.Session``), ``clock`` (aware-UTC callable) and
        ``sleep`` are injectable; every wait (polling, backoff, rate limits) goes
        through ``sleep``. Raises ``ConfigError`` (bad settings, ``allow_live``
        guard), ``AuthenticationError`` (missing credentials) before any request,
        and ``BrokerConnectionError`` if Binance cannot be reached.
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

    def __repr__(self) -> str:
        return f"BinanceBroker(base_url={self.config.base_url!r}, testnet={self.config.testnet}, api_key='***')"

    # ------------------------------------------------------------------
    # Trading rules
    # ------------------------------------------------------------------
    def _load_rules(self) -> None:
        info = self.http.request("GET", "/api/v3/exchangeInfo", weight=W_EXCHANGE_INFO)
        rules: dict[str, SymbolRules] = {}
        pairs: dict[tuple[str, str], str] = {}
        for raw in info.get("symbols", []):
            try:
                r = SymbolRules.from_exchange_info(raw)
            except (KeyError, TypeError, ValueError, ArithmeticError):
                logger.warning("Skipping malformed exchangeInfo entry for %r", raw.get("symbol"))
                continue
            rules[r.symbol] = r
            pairs[(r.base_asset, r.quote_asset)] = r.symbol
        self.http.set_rate_limits(info.get("rateLimits", []))
        with self._lock:
            self._rules, self._pairs = rules, pairs
            self._rules_loaded_at = self._clock()

    def _rules_stale(self, max_age_s: float) -> bool:
        loaded = self._rules_loaded_at
        return loaded is None or (self._clock() - loaded).total_seconds() > max_age_s

    def symbol_info(self, symbol: str) -> SymbolRules:
        """The trading rules (filters, assets, status) of ``symbol``; ``OrderRejectedError`` if unknown."""
        sym = to_binance_symbol(symbol)
        if self._rules_stale(self.config.exchange_info_ttl_s):
            self._load_rules()
        rules = self._rules.get(sym)
        if rules is None and self._rules_stale(min(60.0, self.config.exchange_info_ttl_s)):
            self._load_rules()  # a symbol listed since we loaded the rules
            rules = self._rules.get(sym)
        if rules is None:
            raise OrderRejectedError(sym, f"Unknown symbol {sym!r} on Binance (not in exchangeInfo)")
        return rules

    # ------------------------------------------------------------------
    # Bookkeeping
    # ------------------------------------------------------------------
    def _write(self, records: list[tuple[str, dict[str, Any]]]) -> None:
        """Journal records that belong together (an order and its fills) in one write when possible."""
        if not records:
            return
        batch = getattr(self.journal, "write_batch", None)
        if batch is not None and len(records) > 1:
            batch(records)
            return
        for event, record in records:
            self.journal.write(event, record)

    def _commit(
        self,
        result: dict[str, Any],
        fills: list[dict[str, Any]],
        *,
        event: str | None = EVENT_ORDER,
        force: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Journal what is new about an order (its record if changed, then its new fills), then cache it.

        ``event`` is the record to write for the order (``order``, ``cancel``;
        ``None`` for none); it is written when the order is new to this broker,
        changed since last seen, or ``force``. The journal is written before
        the in-memory state changes.
        """
        key = result["order_id"]
        with self._lock:
            previous = self._orders.get(key)
            if result.get("timestamp") is None:
                result["timestamp"] = self._created.get(key) or self.now()
            new_fills = [f for f in fills if f["fill_id"] not in self._fills]
        changed = previous is None or any(previous.get(k) != result.get(k) for k in ("status", "filled_qty", "fee"))
        records: list[tuple[str, dict[str, Any]]] = []
        if event is not None and (changed or force):
            records.append((event, {**result, **(extra or {})}))
        records.extend((EVENT_FILL, dict(f)) for f in sorted(new_fills, key=lambda f: f["fill_id"]))
        if result["status"] == STATUS_EXPIRED and (previous is None or previous.get("status") != STATUS_EXPIRED):
            records.append((EVENT_EXPIRE, dict(result)))
        self._write(records)
        with self._lock:
            self._orders[key] = result
            self._created.setdefault(key, result["timestamp"])
            if result.get("client_order_id"):
                self._by_cid[result["client_order_id"]] = key
            self._bare.setdefault(key.rpartition(":")[2], set()).add(key)
            self._traded.add(result["symbol"])
            for f in new_fills:
                self._fills[f["fill_id"]] = f
        return result

    def _commit_fills(self, fills: list[dict[str, Any]]) -> None:
        """Journal, then cache, fills not seen before (from ``myTrades``)."""
        with self._lock:
            new = [f for f in fills if f["fill_id"] not in self._fills]
        self._write([(EVENT_FILL, dict(f)) for f in new])
        with self._lock:
            for f in new:
                self._fills[f["fill_id"]] = f
                self._traded.add(f["symbol"])

    def _collect(self, raw: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """``OrderResult`` of a Binance order object and the order's fills (fees from its trades).

        The fills come from the FULL answer, from what this broker has already
        seen, and, when those do not add up to ``executedQty``, from
        ``GET /api/v3/myTrades?orderId=``. Nothing is cached or journaled here.
        """
        symbol = str(raw.get("symbol", "")).upper()
        binance_id = raw.get("orderId")
        key = order_key(symbol, binance_id)
        with self._lock:
            fills = {f["fill_id"]: f for f in self._fills.values() if f["order_id"] == key}
        for f in parse_order_fills(raw):
            fills.setdefault(f["fill_id"], f)
        executed = float(raw.get("executedQty") or 0)
        if executed > QTY_EPSILON and sum(f["qty"] for f in fills.values()) + QTY_EPSILON < executed:
            trades = self.http.request(
                "GET", "/api/v3/myTrades", {"symbol": symbol, "orderId": binance_id, "limit": MY_TRADES_PAGE},
                signed=True, weight=W_MY_TRADES_BY_ORDER, symbol=symbol,
            )
            for t in trades:
                f = parse_trade(t)
                fills.setdefault(f["fill_id"], f)
        fee = sum(f["fee"] for f in fills.values())
        created = None
        if not raw.get("time") and "origClientOrderId" in raw:
            # a cancel answer: its transactTime is the cancel's, not the order's creation time
            created = self._created.get(key)
        return parse_order(raw, fee=fee, created=created), list(fills.values())

    def _resolve(self, order_id: str) -> tuple[str, str]:
        symbol, oid = split_order_key(order_id)
        if not oid.isdigit():
            raise OrderNotFoundError(str(order_id), f"Order not found: {order_id!r} (expected 'SYMBOL:orderId')")
        if symbol is None:
            keys = self._bare.get(oid, set())
            if len(keys) != 1:
                raise OrderNotFoundError(
                    str(order_id),
                    f"Order not found: {order_id!r} (unknown to this broker or ambiguous; use 'SYMBOL:{oid}')",
                )
            symbol = next(iter(keys)).rpartition(":")[0]
        return symbol, oid

    # ------------------------------------------------------------------
    # Orders
    # ------------------------------------------------------------------
    def submit_order(
        self,
        symbol: str,
        side: str,
        qty: float,
        order_type: str = "market",
        limit_price: float | None = None,
        *,
        stop_price: float | None = None,
        time_in_force: str = "gtc",
        client_order_id: str | None = None,
    ) -> dict[str, Any]:
        """Place an order on Binance and return its ``OrderResult``.

        Market orders return filled (or as far as they got within
        ``order_timeout_s``); orders that rest return once Binance accepted
        them (status ``new``). ``time_in_force="day"`` is rejected: Binance spot
        has no day orders (use ``gtc``, ``ioc`` or ``fok``); ``fok`` applies to
        limit orders only.

        Raises:
            OrderRejectedError: bad input, a filter failure (checked before sending),
                or Binance refused the order (its code and message are on the error).
            InsufficientFundsError: Binance -2010 "insufficient balance".
            OrderStatusUnknownError: the answer was lost twice; reconcile by ``client_order_id``.
            RateLimitError, AuthenticationError, BrokerConnectionError: see ``errors``.
        """
        try:
            req = validate_order(symbol, side, qty, order_type, limit_price, stop_price, time_in_force,
                                 client_order_id)
        except OrderRejectedError as exc:
            raw_request = {"symbol": repr(symbol), "side": repr(side), "qty": repr(qty),
                           "order_type": repr(order_type), "limit_price": repr(limit_price),
                           "stop_price": repr(stop_price), "time_in_force": repr(time_in_force),
                           "client_order_id": repr(client_order_id)}
            self._safe_journal(EVENT_REJECT, {"venue": VENUE, **raw_request, "reason": exc.reason, "code": None})
            raise
        sym = to_binance_symbol(req.symbol)
        try:
            if req.time_in_force == TIF_DAY:
                raise OrderRejectedError(
                    sym, "time_in_force 'day' does not exist on Binance spot; use gtc, ioc or fok"
                )
            if req.time_in_force == TIF_FOK and req.order_type in (ORDER_TYPE_MARKET, ORDER_TYPE_STOP):
                raise OrderRejectedError(
                    sym, f"time_in_force 'fok' applies to limit orders only on Binance, not to {req.order_type}"
                )
            rules = self.symbol_info(sym)
            if rules.status != "TRADING":
                raise OrderRejectedError(sym, f"{sym} is not trading on Binance (status {rules.status})")
            reference = None
            if req.order_type in (ORDER_TYPE_STOP, ORDER_TYPE_STOP_LIMIT):
                quote = self.get_quote(sym)
                reference = (quote["bid"] + quote["ask"]) / 2
            btype = binance_order_type(req.order_type, req.side, req.stop_price, reference)
            if rules.order_types and btype not in rules.order_types:
                raise OrderRejectedError(sym, f"{btype} orders are not enabled on {sym}")
            prepared = rules.prepare(btype, req.side, req.qty, req.limit_price, req.stop_price)
        except OrderRejectedError as exc:
            self._journal_reject(req, sym, exc)
            raise

        if req.client_order_id is not None:
            existing = self._existing_order(sym, req.client_order_id)
            if existing is not None:
                logger.info("client_order_id %s already placed as %s", req.client_order_id, existing["order_id"])
                return existing
        cid = req.client_order_id or new_client_order_id()
        params: dict[str, Any] = {
            "symbol": sym,
            "side": req.side,
            "type": btype,
            "quantity": prepared.quantity,
            "newClientOrderId": cid,
            "newOrderRespType": "FULL",
        }
        if btype in LIMIT_TYPES:
            params["timeInForce"] = TIF_TO_BINANCE[req.time_in_force]
            params["price"] = prepared.price
        if btype in STOP_TYPES:
            params["stopPrice"] = prepared.stop_price
        if prepared.adjusted:
            logger.info("Order %s %s adjusted to Binance filters: %s", sym, cid, "; ".join(prepared.adjusted))
        try:
            raw = self._place(sym, cid, params)
        except OrderRejectedError as exc:
            self._journal_reject(req, sym, exc, client_order_id=cid)
            raise
        result, fills = self._collect(raw)
        if btype == "MARKET" and result["status"] in OPEN_STATUSES:
            result, fills = self._poll_until_final(sym, raw.get("orderId"), result, fills)
        extra: dict[str, Any] = {"binance_type": btype}
        if prepared.adjusted:
            extra["adjusted"] = list(prepared.adjusted)
        self._commit(result, fills, force=True, extra=extra)
        return dict(result)

    def _safe_journal(self, event: str, record: dict[str, Any]) -> None:
        """Journal a record about a refusal; a journal failure is logged and the refusal still raised."""
        try:
            self.journal.write(event, record)
        except BrokerError:
            logger.exception("Could not journal a %s record (%s)", event, record.get("reason"))

    def _journal_reject(self, req: Any, sym: str, exc: OrderRejectedError, client_order_id: str | None = None) -> None:
        self._safe_journal(
            EVENT_REJECT,
            {
                "venue": VENUE,
                "symbol": sym,
                "side": req.side,
                "qty": req.qty,
                "order_type": req.order_type,
                "limit_price": req.limit_price,
                "stop_price": req.stop_price,
                "time_in_force": req.time_in_force,
                "client_order_id": client_order_id or req.client_order_id,
                "reason": exc.reason,
                "code": exc.code if isinstance(exc.code, int | str) else None,
            },
        )

    def _existing_order(self, symbol: str, cid: str) -> dict[str, Any] | None:
        """The order Binance already has under ``cid`` on ``symbol`` (idempotent submission)."""
        with self._lock:
            key = self._by_cid.get(cid)
        if key is not None:
            try:
                return self.get_order(key)
            except OrderNotFoundError:
                pass
        raw = self._query_by_cid(symbol, cid)
        if raw is None:
            return None
        result, fills = self._collect(raw)
        return dict(self._commit(result, fills))

    def _query_by_cid(self, symbol: str, cid: str) -> dict[str, Any] | None:
        """``GET order`` by ``origClientOrderId``; ``None`` when Binance does not know it."""
        try:
            return self.http.request(
                "GET", "/api/v3/order", {"symbol": symbol, "origClientOrderId": cid},
                signed=True, weight=W_ORDER_QUERY, symbol=symbol, order_id=cid,
            )
        except OrderNotFoundError:
            return None

    def _lookup_after_loss(self, symbol: str, cid: str) -> dict[str, Any] | None:
        """Look an order with a lost answer up, ``reconcile_attempts`` times; ``None`` if never found.

        Raises ``OrderStatusUnknownError`` if the lookups themselves fail.
        """
        cfg = self.config
        for attempt in range(cfg.reconcile_attempts):
            if attempt:
                self._sleep(cfg.reconcile_delay_s)
            try:
                raw = self._query_by_cid(symbol, cid)
            except BrokerError as exc:
                raise OrderStatusUnknownError(
                    cid,
                    f"Order {cid!r} on {symbol}: the answer was lost and looking it up failed "
                    f"({type(exc).__name__}); check get_open_orders() / get_order() before resubmitting "
                    "(resubmit only with the same client_order_id)",
                ) from exc
            if raw is not None:
                return raw
        return None

    def _place(self, symbol: str, cid: str, params: dict[str, Any]) -> dict[str, Any]:
        """POST the order; reconcile a lost answer by client order id. Never two orders."""

        def post() -> dict[str, Any]:
            return self.http.request(
                "POST", "/api/v3/order", params, signed=True, weight=W_ORDER_NEW, idempotent=False,
                symbol=symbol, order_id=cid,
            )

        try:
            return post()
        except ExecutionUnknownError as exc:
            logger.warning("Order %s on %s: %s; looking it up by client order id", cid, symbol, exc)
        except OrderRejectedError as exc:
            if not is_duplicate_order(exc):
                raise
            found = self._query_by_cid(symbol, cid)
            if found is None:
                raise
            return found
        found = self._lookup_after_loss(symbol, cid)
        if found is not None:
            logger.info("Order %s on %s was placed (found after a lost answer)", cid, symbol)
            return found
        logger.warning("Order %s on %s not found after a lost answer; sending it once more", cid, symbol)
        try:
            return post()
        except ExecutionUnknownError:
            pass
        except OrderRejectedError as exc:
            if not is_duplicate_order(exc):
                raise
        try:
            found = self._lookup_after_loss(symbol, cid)
        except OrderStatusUnknownError:
            found = None
        if found is not None:
            return found
        raise OrderStatusUnknownError(
            cid,
            f"Status of order with client_order_id {cid!r} on {symbol} is unknown: the answer was lost twice. "
            "Check get_open_orders() / get_order() before resubmitting (resubmit only with the same "
            "client_order_id)",
        )

    def _poll_until_final(
        self, symbol: str, binance_id: Any, result: dict[str, Any], fills: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        deadline = self._clock() + timedelta(seconds=self.config.order_timeout_s)
        while result["status"] in OPEN_STATUSES and self._clock() < deadline:
            self._sleep(self.config.poll_interval_s)
            raw = self.http.request(
                "GET", "/api/v3/order", {"symbol": symbol, "orderId": binance_id},
                signed=True, weight=W_ORDER_QUERY, symbol=symbol, order_id=str(binance_id),
            )
            result, more = self._collect(raw)
            fills = list({f["fill_id"]: f for f in [*fills, *more]}.values())
        if result["status"] in OPEN_STATUSES:
            logger.warning("Market order %s not final after %.1f s (status %s); returning it as it stands",
                           result["order_id"], self.config.order_timeout_s, result["status"])
        return result, fills

    def get_order(self, order_id: str) -> dict[str, Any]:
        """The current ``OrderResult`` of ``order_id`` (``"SYMBOL:id"``); ``OrderNotFoundError`` if unknown."""
        symbol, oid = self._resolve(order_id)
        try:
            raw = self.http.request(
                "GET", "/api/v3/order", {"symbol": symbol, "orderId": oid},
                signed=True, weight=W_ORDER_QUERY, symbol=symbol, order_id=str(order_id),
            )
        except OrderRejectedError as exc:
            if exc.code == INVALID_SYMBOL:
                raise OrderNotFoundError(str(order_id), f"Order not found: {order_id!r} (unknown symbol)",
                                         code=exc.code, venue_message=exc.venue_message) from exc
            raise
        result, fills = self._collect(raw)
        return dict(self._commit(result, fills))

    def cancel_order(self, order_id: str) -> dict[str, Any]:
        """Cancel an open order; an order already final is returned with its final status.

        Raises ``OrderNotFoundError`` for an order Binance does not know.
        """
        symbol, oid = self._resolve(order_id)
        key = order_key(symbol, oid)
        try:
            raw = self.http.request(
                "DELETE", "/api/v3/order", {"symbol": symbol, "orderId": oid},
                signed=True, weight=W_ORDER_CANCEL, symbol=symbol, order_id=key,
            )
        except OrderNotFoundError:
            # -2011: not open (already final) or unknown; GET tells which.
            return self.get_order(key)
        except OrderRejectedError as exc:
            if exc.code == INVALID_SYMBOL:
                raise OrderNotFoundError(key, f"Order not found: {key!r} (unknown symbol)",
                                         code=exc.code, venue_message=exc.venue_message) from exc
            raise
        result, fills = self._collect(raw)
        return dict(self._commit(result, fills, event=EVENT_CANCEL, force=True))

    def get_open_orders(self) -> list[dict[str, Any]]:
        """``OrderResult`` of every open order on the account (all symbols)."""
        raws = self.http.request("GET", "/api/v3/openOrders", signed=True, weight=W_OPEN_ORDERS_ALL)
        out = []
        for raw in raws:
            result, fills = self._collect(raw)
            out.append(dict(self._commit(result, fills)))
        return out

    # ------------------------------------------------------------------
    # Account
    # ------------------------------------------------------------------
    def _balances(self) -> dict[str, tuple[float, float]]:
        data = self.http.request("GET", "/api/v3/account", signed=True, weight=W_ACCOUNT)
        out = {}
        for b in data.get("balances", []):
            out[str(b.get("asset", "")).upper()] = (float(b.get("free") or 0), float(b.get("locked") or 0))
        return out

    def get_balances(self) -> dict[str, dict[str, float]]:
        """Every non-zero balance of the account: ``{"BTC": {"free": 0.5, "locked": 0.1}, ...}``."""
        return {
            asset: {"free": free, "locked": locked}
            for asset, (free, locked) in sorted(self._balances().items())
            if free or locked
        }

    def get_cash(self) -> float:
        """Free balance of ``quote_asset`` (what is not locked by open orders)."""
        return self._balances().get(self.quote_asset, (0.0, 0.0))[0]

    def get_positions(self) -> dict[str, float]:
        """Non-zero base-asset balances (free + locked) of symbols quoted in ``quote_asset``."""
        balances = self._balances()
        if self._rules_stale(self.config.exchange_info_ttl_s):
            self._load_rules()
        out: dict[str, float] = {}
        for asset, (free, locked) in sorted(balances.items()):
            total = free + locked
            if asset == self.quote_asset or abs(total) <= QTY_EPSILON:
                continue
            symbol = self._pairs.get((asset, self.quote_asset))
            if symbol is not None:
                out[symbol] = total
        return out

    def get_fills(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Fills at or after ``since`` (aware UTC), oldest first, for every symbol traded or held.

        Trades are fetched incrementally from ``GET /api/v3/myTrades`` (a
        ``fromId`` cursor per symbol); fee and fee currency are Binance's.
        """
        since_ms = dt_to_ms(ensure_utc(since, "since")) if since is not None else None
        symbols = set(self._traded) | set(self.get_positions())
        for symbol in sorted(symbols):
            self._sync_trades(symbol, since_ms)
        fills = [f for f in self._fills.values() if since is None or f["timestamp"] >= since]
        fills.sort(key=lambda f: (f["timestamp"], f["symbol"], int(f["fill_id"].rpartition(":")[2] or 0)))
        return [dict(f) for f in fills]

    def _trades_page(self, symbol: str, **params: Any) -> list[dict[str, Any]]:
        page = self.http.request(
            "GET", "/api/v3/myTrades", {"symbol": symbol, "limit": MY_TRADES_PAGE, **params},
            signed=True, weight=W_MY_TRADES, symbol=symbol,
        )
        if page:
            self._commit_fills([parse_trade(t) for t in page])
            top = max(int(t["id"]) for t in page) + 1
            self._trade_cursor[symbol] = max(self._trade_cursor.get(symbol, 0), top)
        return list(page or [])

    def _walk_trades(self, symbol: str, from_id: int) -> None:
        """Fetch every trade with id >= ``from_id``, page by page."""
        while len(self._trades_page(symbol, fromId=from_id)) == MY_TRADES_PAGE:
            from_id = self._trade_cursor[symbol]

    def _trades_from_time(self, symbol: str, start_ms: int) -> None:
        """Fetch every trade at or after ``start_ms``."""
        page = self._trades_page(symbol, startTime=start_ms)
        if page:
            # continue by id: complete even if Binance bounds a startTime query to a window
            self._walk_trades(symbol, self._trade_cursor[symbol])
            return
        # nothing right after ``start_ms``: the most recent trades tell whether anything happened
        # since; only if all of a full page are newer than ``start_ms`` is the whole history read.
        recent = self._trades_page(symbol)
        if len(recent) == MY_TRADES_PAGE and min(int(t["time"]) for t in recent) >= start_ms:
            self._walk_trades(symbol, 0)

    def _sync_trades(self, symbol: str, since_ms: int | None) -> None:
        """Bring the fills of ``symbol`` up to date, complete from ``since_ms`` (``None``: all history).

        The first call for a symbol reads its history from ``since`` on; later
        calls only ask for trades after the last one seen (``fromId`` cursor),
        unless an earlier ``since`` than ever asked needs a backfill.
        """
        start = since_ms or 0
        covered = self._trade_covered.get(symbol)
        cursor = self._trade_cursor.get(symbol)
        if covered is not None and start >= covered and cursor is not None:
            self._walk_trades(symbol, cursor)
            return
        begin = start if covered is None else min(start, covered)
        if begin <= 0:
            self._walk_trades(symbol, 0)
        else:
            self._trades_from_time(symbol, begin)
        self._trade_covered[symbol] = begin

    # ------------------------------------------------------------------
    # Market data and time
    # ------------------------------------------------------------------
    def get_quote(self, symbol: str) -> dict[str, Any]:
        """Top of book from ``GET /api/v3/ticker/bookTicker``; ``QuoteUnavailableError`` if none."""
        sym = to_binance_symbol(str(symbol))
        try:
            raw = self.http.request("GET", "/api/v3/ticker/bookTicker", {"symbol": sym}, weight=W_BOOK_TICKER,
                                    symbol=sym)
        except OrderRejectedError as exc:  # -1121 invalid symbol
            raise QuoteUnavailableError(sym, f"from Binance ({exc.reason})", code=exc.code,
                                        venue_message=exc.venue_message) from exc
        try:
            return make_quote(sym, raw["bidPrice"], raw["askPrice"], raw["bidQty"], raw["askQty"], self.now())
        except (KeyError, InvalidQuoteError) as exc:
            raise QuoteUnavailableError(sym, f"from Binance (empty or invalid book: {exc})") from exc

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
            **http.stats,
        }

    def now(self) -> datetime:
        """Binance's time (local clock + the measured offset), aware UTC."""
        return ms_to_dt(self.http.server_ms())

    def close(self) -> None:
        """Close the HTTP session (if we opened it) and the journal."""
        self.http.close()
        self.journal.close()

    def __enter__(self) -> BinanceBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["BinanceBroker", "new_client_order_id"]
