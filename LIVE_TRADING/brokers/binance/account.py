"""Account views of ``BinanceBroker``: balances, cash, positions, and fills from ``myTrades``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from LIVE_TRADING.brokers.binance.core import (
    MY_TRADES_PAGE,
    W_ACCOUNT,
    W_MY_TRADES,
    BinanceCore,
)
from LIVE_TRADING.brokers.binance.parsing import dt_to_ms, parse_trade
from LIVE_TRADING.common.clock import ensure_utc
from LIVE_TRADING.common.constants import QTY_EPSILON

logger = logging.getLogger(__name__)


class AccountMixin(BinanceCore):
    """Balances, positions and the incremental trade history (a ``fromId`` cursor per symbol)."""

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
