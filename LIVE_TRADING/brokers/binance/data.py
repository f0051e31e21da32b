"""``BinanceDataProvider``: quotes and klines from Binance's public market-data endpoints.

No API key is needed (the endpoints are security type NONE). The base URL
follows ``live_trading.binance`` (``testnet``/``base_url``, Spot Testnet by
default); market data is read-only, so the ``allow_live`` guard does not apply
here::

    provider = get_data_provider("binance")
    provider.get_quote("BTC/USDT")                     # GET /api/v3/ticker/bookTicker?symbol=BTCUSDT
    provider.get_multiple_quotes(["BTCUSDT", "ETHUSDT"])   # one request: symbols=["BTCUSDT","ETHUSDT"]
    provider.get_historical("BTCUSDT", period="5d", interval="1h")   # GET /api/v3/klines, paged

If a batch quote request is refused because one symbol is invalid (-1121
answers for the whole batch), the symbols are asked one by one so the good
ones still get quotes and the bad ones land in ``last_errors``.

Intervals (yfinance vocabulary -> Binance): 1m, 5m, 15m, 30m, 60m/1h, 1d,
1wk -> 1w, 1mo -> 1M. Binance has no 2m, 90m, 5d or 3mo bars; asking for them
raises ``DataProviderError``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import requests

from LIVE_TRADING.brokers.binance.config import load_connection_settings
from LIVE_TRADING.brokers.binance.http import BinanceHTTP
from LIVE_TRADING.brokers.binance.parsing import dt_to_ms, to_binance_symbol
from LIVE_TRADING.common.clock import Clock, utc_now
from LIVE_TRADING.common.exceptions import BrokerError, DataProviderError, InvalidQuoteError
from LIVE_TRADING.data.provider import (
    PERIODS,
    DataProvider,
    check_interval,
    check_period,
    normalize_ohlcv,
)
from LIVE_TRADING.data.quotes import make_quote

#: yfinance interval -> Binance kline interval
INTERVAL_MAP = {
    "1m": "1m",
    "5m": "5m",
    "15m": "15m",
    "30m": "30m",
    "60m": "1h",
    "1h": "1h",
    "1d": "1d",
    "1wk": "1w",
    "1mo": "1M",
}
KLINES_PAGE = 1000
W_BOOK_TICKER_ONE = 2
W_BOOK_TICKER_MANY = 4
W_KLINES = 2


class BinanceDataProvider(DataProvider):
    """Quotes (bookTicker) and bars (klines) from Binance; public endpoints, no keys."""

    def __init__(
        self,
        base_url: str | None = None,
        testnet: bool | None = None,
        request_timeout_s: float | None = None,
        max_retries: int | None = None,
        backoff_base_s: float | None = None,
        backoff_max_s: float | None = None,
        max_retry_after_s: float | None = None,
        *,
        session: requests.Session | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], None] | None = None,
        max_klines: int = 50_000,
    ) -> None:
        super().__init__()
        settings, _ = load_connection_settings(
            {
                "base_url": base_url,
                "testnet": testnet,
                "request_timeout_s": request_timeout_s,
                "max_retries": max_retries,
                "backoff_base_s": backoff_base_s,
                "backoff_max_s": backoff_max_s,
                "max_retry_after_s": max_retry_after_s,
            },
            require_live_ok=False,
        )
        self._clock: Clock = clock or utc_now
        self.max_klines = int(max_klines)
        self.http = BinanceHTTP(
            settings.base_url,
            timeout_s=settings.request_timeout_s,
            max_retries=settings.max_retries,
            backoff_base_s=settings.backoff_base_s,
            backoff_max_s=settings.backoff_max_s,
            max_retry_after_s=settings.max_retry_after_s,
            weight_headroom=settings.weight_headroom,
            session=session,
            clock=self._clock,
            sleep=sleep or time.sleep,
        )

    def __repr__(self) -> str:
        return f"BinanceDataProvider(base_url={self.http.base_url!r})"

    # -- quotes -------------------------------------------------------------
    def _quote_from(self, raw: dict[str, Any], when: datetime) -> dict[str, Any]:
        sym = str(raw.get("symbol", "")).upper()
        try:
            return make_quote(sym, raw["bidPrice"], raw["askPrice"], raw["bidQty"], raw["askQty"], when)
        except KeyError as exc:
            raise DataProviderError(f"No quote for {sym}: Binance answer lacks {exc}", symbol=sym) from None
        except InvalidQuoteError as exc:
            raise DataProviderError(f"No quote for {sym}: {exc} (empty book?)", symbol=sym) from exc

    def get_quote(self, symbol: str) -> dict[str, Any]:
        sym = to_binance_symbol(str(symbol))
        try:
            raw = self.http.request("GET", "/api/v3/ticker/bookTicker", {"symbol": sym},
                                    weight=W_BOOK_TICKER_ONE, symbol=sym)
        except BrokerError as exc:
            raise DataProviderError(f"No quote for {sym} from Binance: {exc}", symbol=sym) from exc
        return self._quote_from(raw, self._clock())

    def get_multiple_quotes(self, symbols: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Quotes for many symbols in one request (``symbols=[...]``); failures go to ``last_errors``."""
        wanted = list(dict.fromkeys(to_binance_symbol(str(s)) for s in symbols))
        if not wanted:
            self.last_errors = {}
            return {}
        if len(wanted) == 1:
            return super().get_multiple_quotes(wanted)
        try:
            raws = self.http.request("GET", "/api/v3/ticker/bookTicker", {"symbols": wanted},
                                     weight=W_BOOK_TICKER_MANY)
        except BrokerError as exc:
            if exc.code == -1121:  # one bad symbol refuses the batch: isolate it
                return super().get_multiple_quotes(wanted)
            self.last_errors = {s: f"No quote for {s} from Binance: {exc}" for s in wanted}
            return {}
        when = self._clock()
        out: dict[str, dict[str, Any]] = {}
        errors: dict[str, str] = {}
        for raw in raws:
            try:
                quote = self._quote_from(raw, when)
            except DataProviderError as exc:
                errors[str(raw.get("symbol", "")).upper()] = str(exc)
            else:
                out[quote["symbol"]] = quote
        for sym in wanted:
            if sym not in out and sym not in errors:
                errors[sym] = f"No quote for {sym}: missing from Binance's answer"
        self.last_errors = errors
        return out

    # -- history ------------------------------------------------------------
    def get_historical(self, symbol: str, period: str = "1mo", interval: str = "1d") -> pd.DataFrame:
        """OHLCV bars (``GET /api/v3/klines``, paged by 1000) in the common frame shape."""
        sym = to_binance_symbol(str(symbol))
        check_period(period)
        check_interval(interval)
        if interval not in INTERVAL_MAP:
            raise DataProviderError(
                f"Binance has no {interval!r} bars (supported: {', '.join(INTERVAL_MAP)})", symbol=sym
            )
        now = self._clock()
        if period == "max":
            start_ms = 0
        elif period == "ytd":
            start_ms = dt_to_ms(datetime(now.year, 1, 1, tzinfo=UTC))
        else:
            span = PERIODS[period]
            assert span is not None
            start_ms = dt_to_ms(now - span)
        end_ms = dt_to_ms(now)
        rows: list[list[Any]] = []
        cursor = start_ms
        while cursor <= end_ms:
            params = {"symbol": sym, "interval": INTERVAL_MAP[interval], "startTime": cursor,
                      "endTime": end_ms, "limit": KLINES_PAGE}
            try:
                page = self.http.request("GET", "/api/v3/klines", params, weight=W_KLINES, symbol=sym)
            except BrokerError as exc:
                raise DataProviderError(f"No historical data for {sym} from Binance: {exc}", symbol=sym) from exc
            rows.extend(page)
            if len(rows) > self.max_klines:
                raise DataProviderError(
                    f"{sym} {period} of {interval} bars is more than max_klines={self.max_klines}; "
                    "ask for a shorter period or a longer interval",
                    symbol=sym,
                )
            if len(page) < KLINES_PAGE:
                break
            cursor = int(page[-1][0]) + 1
        if not rows:
            raise DataProviderError(f"No historical data for {sym} ({period}, {interval}) from Binance", symbol=sym)
        frame = pd.DataFrame(
            [[float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5])] for r in rows],
            columns=["open", "high", "low", "close", "volume"],
            index=pd.to_datetime([int(r[0]) for r in rows], unit="ms", utc=True),
        )
        return normalize_ohlcv(frame, sym)

    def close(self) -> None:
        self.http.close()


__all__ = ["INTERVAL_MAP", "BinanceDataProvider"]
