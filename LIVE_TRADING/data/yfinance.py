"""``yfinance``: quotes and history from Yahoo Finance (extra ``yfinance``).

**Batched quotes.** ``get_multiple_quotes`` asks Yahoo once for every symbol
it has no fresh quote for: one ``yf.download`` of recent bars
(``quote_period`` of ``quote_interval`` bars, pre/post-market included) for
all of them. yfinance fans that call out over its own threads; we never loop
over symbols ourselves. A quote is the last bar's close with a synthetic
spread of ``spread_bps`` and ``size`` displayed on each side (the seed's
rule: Yahoo's bars have no bid/ask). With ``bid_ask: true`` one more batched
request, to Yahoo's quote endpoint through yfinance's session, fetches
bid/ask/sizes for the same symbols; they replace the synthetic spread when
they are positive, not crossed, and their spread and their mid's distance
from the last price are within ``max_spread_bps`` (outside trading hours
Yahoo often reports zeros or stale books). That request goes through
yfinance internals (``yfinance.data.YfData``); when it fails the synthetic
spread is used and a warning logged.

**Timestamps** are the market data's own time: the start of the bar the
price comes from (UTC), never the time of the call. A paper broker with a
``max_quote_age_s`` therefore refuses Yahoo quotes when the market is shut.

**Cache.** Each symbol's quote is reused for ``cache_ttl_s`` seconds of the
injected clock (0: never reused). Failures are not cached.

**Failures.** A failed request, an empty frame or an unknown ticker raise
``DataProviderError`` naming the symbol from ``get_quote``; in
``get_multiple_quotes`` the symbols that worked are returned and the failures
listed in ``last_errors``.

Every Yahoo request passes a circuit breaker (``self.circuit``, from
``live_trading.circuit``): after repeated failures, requests are not sent and
the symbols report "No quote ... Circuit open" until a probe succeeds.

``yf`` is the yfinance module, imported on first use (so importing
LIVE_TRADING never imports yfinance); inject ``FakeYFinance`` from
``LIVE_TRADING.testing.yfinance`` to run offline.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from CONFIG.schema import QUOTE_INTERVALS, QUOTE_PERIODS, YFinanceSettings
from LIVE_TRADING.common.circuit import breaker_from_config
from LIVE_TRADING.common.clock import Clock, ensure_utc, utc_now
from LIVE_TRADING.common.exceptions import CircuitOpenError, DataProviderError
from LIVE_TRADING.common.settings import section
from LIVE_TRADING.common.symbols import configured_asset_classes
from LIVE_TRADING.data import calendar
from LIVE_TRADING.data.provider import DataProvider, history_window, normalize_ohlcv, normalize_symbol
from LIVE_TRADING.data.quotes import finite_or_none, make_quote, synthetic_quote

logger = logging.getLogger(__name__)

#: Yahoo's batched quote endpoint (bid/ask/sizes for many symbols in one request)
QUOTE_URL = "https://query1.finance.yahoo.com/v7/finance/quote"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _symbol_bars(frame: Any, symbol: str, *, alone: bool) -> pd.DataFrame:
    """The columns of ``symbol`` in a ``yf.download`` frame (``alone``: it was the only ticker asked)."""
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise DataProviderError(f"No quote for {symbol} from Yahoo: empty answer", symbol=symbol)
    columns = frame.columns
    if isinstance(columns, pd.MultiIndex):
        for level in range(columns.nlevels):
            if symbol in columns.get_level_values(level):
                return frame.xs(symbol, axis=1, level=level)
        raise DataProviderError(f"No quote for {symbol} from Yahoo: not in the answer", symbol=symbol)
    if alone:
        return frame
    raise DataProviderError(f"No quote for {symbol} from Yahoo: answer not split by ticker", symbol=symbol)


def last_price(frame: Any, symbol: str, *, alone: bool = False) -> tuple[float, datetime]:
    """The last close of ``symbol`` in a ``yf.download`` frame, and the (UTC) start of its bar."""
    bars = _symbol_bars(frame, symbol, alone=alone)
    close = next((bars[c] for c in bars.columns if str(c).strip().lower() == "close"), None)
    if close is None:
        raise DataProviderError(f"No quote for {symbol} from Yahoo: no Close column", symbol=symbol)
    close = pd.to_numeric(close, errors="coerce").dropna()
    if close.empty:
        raise DataProviderError(
            f"No quote for {symbol} from Yahoo: no recent price (unknown or delisted ticker, "
            "no recent trading, or its request failed)",
            symbol=symbol,
        )
    when = pd.Timestamp(close.index[-1])
    when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
    return float(close.iloc[-1]), when.to_pydatetime()


class YFinanceProvider(DataProvider):
    """Yahoo Finance quotes (batched, cached) and history.

    Args:
        cache_ttl_s: seconds a quote is reused (``data.yfinance.cache_ttl_s``, default 30).
        spread_bps: synthetic spread around the last price (``data.yfinance.spread_bps``).
        clock: callable returning an aware UTC datetime, for the cache (default: system time).
        yf: the yfinance module or a stand-in (default: ``import yfinance`` on first use).
        size, quote_period, quote_interval, timeout_s, bid_ask, max_spread_bps:
            override ``data.yfinance.*`` (see CONFIG/live_trading.yaml).

    Raises:
        ConfigError: a setting is invalid (every problem listed).
    """

    def __init__(
        self,
        cache_ttl_s: float | None = None,
        spread_bps: float | None = None,
        clock: Clock | None = None,
        yf: Any = None,
        *,
        size: float | None = None,
        quote_period: str | None = None,
        quote_interval: str | None = None,
        timeout_s: float | None = None,
        bid_ask: bool | None = None,
        max_spread_bps: float | None = None,
    ) -> None:
        super().__init__()
        cfg: YFinanceSettings = section("data.yfinance", {
            "cache_ttl_s": cache_ttl_s, "spread_bps": spread_bps, "size": size, "quote_period": quote_period,
            "quote_interval": quote_interval, "timeout_s": timeout_s, "bid_ask": bid_ask,
            "max_spread_bps": max_spread_bps,
        })
        self.cache_ttl_s: float = cfg.cache_ttl_s
        self.spread_bps: float = cfg.spread_bps
        self.size: float = cfg.size
        self.quote_period: str = cfg.quote_period
        self.quote_interval: str = cfg.quote_interval
        self.timeout_s: float = cfg.timeout_s
        self.bid_ask: bool = cfg.bid_ask
        self.max_spread_bps: float = cfg.max_spread_bps
        self._clock: Clock = clock or utc_now
        self._asset_classes = configured_asset_classes()
        self._yf = yf
        self._cache: dict[str, tuple[datetime, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        #: the breaker in front of every Yahoo request: any exception from yfinance counts as a failure
        self.circuit = breaker_from_config("yfinance", counts=lambda exc: True)

    @property
    def yf(self) -> Any:
        """The yfinance module (imported on first use) or the injected stand-in."""
        if self._yf is None:
            try:
                import yfinance
            except ImportError as exc:
                raise DataProviderError(
                    "The yfinance data provider needs the yfinance package: pip install 'live-trading[yfinance]'"
                ) from exc
            self._yf = yfinance
        return self._yf

    # -- quotes ----------------------------------------------------------------
    def get_quote(self, symbol: str) -> dict[str, Any]:
        """The quote of ``symbol`` (cached up to ``cache_ttl_s``); ``DataProviderError`` naming it if none."""
        sym = normalize_symbol(symbol)
        quotes, errors = self._quotes([sym])
        if sym in errors:
            raise errors[sym]
        return quotes[sym]

    def get_multiple_quotes(self, symbols: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Quotes of ``symbols``: cached ones, the rest from one batched request; failures in ``last_errors``."""
        quotes, errors = self._quotes(symbols)
        self.last_errors = {sym: str(exc) for sym, exc in errors.items()}
        return quotes

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def _quotes(self, symbols: Iterable[str]) -> tuple[dict[str, dict[str, Any]], dict[str, DataProviderError]]:
        wanted: list[str] = []
        errors: dict[str, DataProviderError] = {}
        for symbol in symbols:
            try:
                sym = normalize_symbol(symbol)
            except DataProviderError as exc:
                errors[str(symbol).strip().upper()] = exc
                continue
            if sym not in wanted:
                wanted.append(sym)
        now = ensure_utc(self._clock(), "clock()")
        found: dict[str, dict[str, Any]] = {}
        with self._lock:
            for sym in wanted:
                hit = self._cache.get(sym)
                if hit is not None and (now - hit[0]).total_seconds() < self.cache_ttl_s:
                    found[sym] = hit[1]
        missing = [sym for sym in wanted if sym not in found]
        if missing:
            fetched, failed = self._fetch(missing)
            with self._lock:
                for sym, quote in fetched.items():
                    self._cache[sym] = (now, quote)
            found.update(fetched)
            errors.update(failed)
        return {
            sym: {**found[sym], "market_open": calendar.is_open(sym, now, self._asset_classes)}
            for sym in wanted
            if sym in found
        }, errors

    def _fetch(self, symbols: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, DataProviderError]]:
        """One batched download for ``symbols`` (plus one bid/ask request if enabled)."""
        yf = self.yf
        try:
            self.circuit.before_call()
        except CircuitOpenError as exc:
            errors = {}
            for sym in symbols:
                errors[sym] = DataProviderError(f"No quote for {sym} from Yahoo: {exc}", symbol=sym)
                errors[sym].__cause__ = exc
            return {}, errors
        try:
            frame = yf.download(
                tickers=symbols,
                period=self.quote_period,
                interval=self.quote_interval,
                group_by="ticker",
                auto_adjust=False,
                actions=False,
                prepost=True,
                threads=True,
                progress=False,
                timeout=self.timeout_s,
                multi_level_index=True,
            )
        except Exception as exc:  # whatever the HTTP stack raises: the batch failed
            self.circuit.record_failure(exc)
            logger.warning("Yahoo download of %d symbol(s) failed: %s", len(symbols), exc)
            errors = {}
            for sym in symbols:
                errors[sym] = DataProviderError(f"No quote for {sym} from Yahoo: request failed: {exc}", symbol=sym)
                errors[sym].__cause__ = exc
            return {}, errors
        self.circuit.record_success()
        prices: dict[str, tuple[float, datetime]] = {}
        errors = {}
        for sym in symbols:
            try:
                prices[sym] = last_price(frame, sym, alone=len(symbols) == 1)
            except DataProviderError as exc:
                errors[sym] = exc
        books = self._books(list(prices)) if self.bid_ask and prices else {}
        quotes = {}
        for sym, (price, when) in prices.items():
            try:
                quotes[sym] = self._quote(sym, price, when, books.get(sym))
            except DataProviderError as exc:  # e.g. a non-positive price
                errors[sym] = exc
        if errors:
            logger.info("Yahoo gave no quote for %s", ", ".join(sorted(errors)))
        return quotes, errors

    def _books(self, symbols: list[str]) -> dict[str, dict[str, Any]]:
        """Yahoo's quote-endpoint rows (bid/ask/sizes) for ``symbols``, one request; ``{}`` on failure."""
        try:
            payload = self.yf.data.YfData().get_raw_json(
                QUOTE_URL,
                params={"symbols": ",".join(symbols), "formatted": "false", "fields": "bid,ask,bidSize,askSize"},
                timeout=self.timeout_s,
            )
            rows = payload["quoteResponse"]["result"] or []
            return {str(row["symbol"]).upper(): row for row in rows if isinstance(row, dict) and "symbol" in row}
        except Exception as exc:  # internals or endpoint changed, network: fall back to the synthetic spread
            logger.warning("Yahoo bid/ask request failed, using a synthetic spread: %s", exc)
            return {}

    def _quote(self, sym: str, price: float, when: datetime, book: dict[str, Any] | None) -> dict[str, Any]:
        if book:
            bid, ask = finite_or_none(book.get("bid")), finite_or_none(book.get("ask"))
            if bid is not None and ask is not None and 0 < bid <= ask:
                mid = (bid + ask) / 2.0
                if (ask - bid) / mid * 1e4 <= self.max_spread_bps and abs(mid / price - 1) * 1e4 <= self.max_spread_bps:
                    bid_size, ask_size = finite_or_none(book.get("bidSize")), finite_or_none(book.get("askSize"))
                    return make_quote(
                        sym,
                        bid,
                        ask,
                        bid_size if bid_size is not None and bid_size >= 0 else self.size,
                        ask_size if ask_size is not None and ask_size >= 0 else self.size,
                        when,
                    )
        return synthetic_quote(sym, price, self.spread_bps, self.size, when)

    # -- history ---------------------------------------------------------------
    def get_historical(self, symbol: str, period: str = "1mo", interval: str = "1d") -> pd.DataFrame:
        """``Ticker(symbol).history(period, interval)`` (split/dividend adjusted) in the common shape."""
        sym = normalize_symbol(symbol)
        history_window(period, interval, ensure_utc(self._clock(), "clock()"), earliest=_EPOCH)
        try:
            self.circuit.before_call()
        except CircuitOpenError as exc:
            raise DataProviderError(f"No historical data for {sym} from Yahoo: {exc}", symbol=sym) from exc
        try:
            frame = self.yf.Ticker(sym).history(
                period=period, interval=interval, auto_adjust=True, actions=False, timeout=self.timeout_s
            )
        except DataProviderError:
            self.circuit.record_success()  # an answer about the symbol, not a sign Yahoo is down
            raise
        except Exception as exc:
            self.circuit.record_failure(exc)
            raise DataProviderError(f"No historical data for {sym} from Yahoo: {exc}", symbol=sym) from exc
        self.circuit.record_success()
        if not isinstance(frame, pd.DataFrame) or frame.empty:
            raise DataProviderError(
                f"No historical data for {sym} from Yahoo ({period} of {interval} bars): "
                "unknown or delisted ticker, or the request failed",
                symbol=sym,
            )
        return normalize_ohlcv(frame, sym)


__all__ = ["QUOTE_INTERVALS", "QUOTE_PERIODS", "QUOTE_URL", "YFinanceProvider", "last_price"]
