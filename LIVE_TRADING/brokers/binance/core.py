"""Core of ``BinanceBroker``: trading rules, the order / fill bookkeeping (journal first), quotes, time.

See ``broker.py`` for the whole adapter; ``account.py`` and ``orders.py`` build on this class.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from LIVE_TRADING.brokers.binance.config import BinanceConfig
from LIVE_TRADING.brokers.binance.http import BinanceHTTP
from LIVE_TRADING.brokers.binance.parsing import (
    SymbolRules,
    ms_to_dt,
    order_key,
    parse_order,
    parse_order_fills,
    parse_trade,
    split_order_key,
    to_binance_symbol,
)
from LIVE_TRADING.brokers.binance.reconcile import JournalView
from LIVE_TRADING.common.clock import Clock
from LIVE_TRADING.common.constants import (
    EVENT_EXPIRE,
    EVENT_FILL,
    EVENT_ORDER,
    QTY_EPSILON,
    STATUS_EXPIRED,
)
from LIVE_TRADING.common.exceptions import (
    InvalidQuoteError,
    OrderNotFoundError,
    OrderRejectedError,
    QuoteUnavailableError,
)
from LIVE_TRADING.common.ids import new_client_order_id as make_client_order_id
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
    return make_client_order_id("lt", 32)


class BinanceCore:
    """Rules, bookkeeping, quotes and time of a Binance account (state set up by ``BinanceBroker``)."""

    venue = VENUE
    # state set up by ``BinanceBroker.__init__``
    config: BinanceConfig
    http: BinanceHTTP
    journal: Journal
    quote_asset: str
    client_id_prefix: str
    last_reconcile: dict[str, Any] | None
    _clock: Clock
    _sleep: Callable[[float], None]
    _lock: Any  # threading.RLock
    _rules: dict[str, SymbolRules]
    _pairs: dict[tuple[str, str], str]
    _rules_loaded_at: datetime | None
    _orders: dict[str, dict[str, Any]]  # order key -> last OrderResult seen
    _created: dict[str, datetime]  # order key -> creation time
    _by_cid: dict[str, str]  # client order id -> order key
    _bare: dict[str, set[str]]  # Binance orderId -> order keys
    _traded: set[str]
    _fills: dict[str, dict[str, Any]]  # fill id -> Fill
    _trade_cursor: dict[str, int]  # symbol -> next myTrades fromId
    _trade_covered: dict[str, int]  # symbol -> ms from which history is complete (0 = all)
    _journaled_fills: set[str]  # fill ids already in the journal
    _parents: dict[str, str]  # bracket exit leg -> entry order key
    _lists_seen: set[str]  # order lists whose structure is known
    _journal_view: JournalView

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

    def _write(self, records: list[tuple[str, dict[str, Any]]]) -> None:
        """Journal records that belong together (an order and its fills) in one write when possible."""
        if not records:
            return
        if len(records) > 1:
            self.journal.write_batch(records)
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
            parent = self._parents.get(key)
            if parent is not None:
                result["parent_order_id"] = parent
        changed = previous is None or any(previous.get(k) != result.get(k) for k in ("status", "filled_qty", "fee"))
        records: list[tuple[str, dict[str, Any]]] = []
        if event is not None and (changed or force):
            records.append((event, {**result, **(extra or {})}))
        fresh = [f for f in sorted(new_fills, key=lambda f: f["fill_id"]) if f["fill_id"] not in self._journaled_fills]
        records.extend((EVENT_FILL, dict(f)) for f in fresh)
        if result["status"] == STATUS_EXPIRED and (previous is None or previous.get("status") != STATUS_EXPIRED):
            records.append((EVENT_EXPIRE, dict(result)))
        self._write(records)
        with self._lock:
            self._journaled_fills.update(f["fill_id"] for f in fresh)
            view = self._journal_view
            if any(e != EVENT_FILL for e, _ in records):
                view.orders[key] = dict(result)  # what the journal now says about this order
                if result.get("client_order_id"):
                    view.client_ids.add(str(result["client_order_id"]))
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
        fresh = [f for f in new if f["fill_id"] not in self._journaled_fills]
        self._write([(EVENT_FILL, dict(f)) for f in fresh])
        self._journaled_fills.update(f["fill_id"] for f in fresh)
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
                signed=True, weight=W_MY_TRADES_BY_ORDER, symbol=symbol, force=True,
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

    def now(self) -> datetime:
        """Binance's time (local clock + the measured offset), aware UTC."""
        return ms_to_dt(self.http.server_ms())
