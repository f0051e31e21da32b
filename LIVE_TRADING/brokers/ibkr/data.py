"""Market data from Interactive Brokers: snapshot quotes and historical bars.

``IBKRDataProvider`` is the ``ibkr`` data provider (``get_data_provider("ibkr")``);
``IBKRBroker.get_quote`` uses the same ``MarketData`` on its own connection.

Quotes
    ``reqTickersAsync`` asks IB for one snapshot per contract, all at once
    (``quote_batch_size`` per batch), and returns when every snapshot ended.
    When IB answers error 354 (or 10089-10091: "requested market data is not
    subscribed, delayed market data is available") and ``delayed_fallback``
    is on, the session switches to delayed data (``reqMarketDataType(3)``;
    IB still sends live data for the contracts that are subscribed) and the
    failed symbols are asked again. A quote needs a positive bid and ask that
    arrived during this request: a ticker object IB reuses may still hold an
    old snapshot's values, which are never reported as current.

Historical bars
    ``reqHistoricalDataAsync`` with yfinance's ``period`` / ``interval``
    mapped to IB's ``durationStr`` / ``barSizeSetting`` (``parsing.py``),
    ``TRADES`` (``MIDPOINT`` for forex, ``AGGTRADES`` for crypto), UTC
    timestamps (``formatDate=2``), returned in the common frame shape
    (``normalize_ohlcv``). A pacing violation (error 162 "... pacing
    violation") is retried ``pacing_retries`` times after ``pacing_backoff_s``;
    then ``DataProviderError``.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from LIVE_TRADING.brokers.ibkr import parsing
from LIVE_TRADING.brokers.ibkr.config import IBKRSettings
from LIVE_TRADING.brokers.ibkr.connection import IBConnection
from LIVE_TRADING.brokers.ibkr.contracts import ContractResolver, Resolved, UnknownSymbolError
from LIVE_TRADING.common.clock import Clock, utc_now
from LIVE_TRADING.common.exceptions import BrokerConnectionError, DataProviderError, InvalidQuoteError
from LIVE_TRADING.data.provider import (
    DataProvider,
    check_interval,
    check_period,
    normalize_ohlcv,
)
from LIVE_TRADING.data.quotes import make_quote

logger = logging.getLogger(__name__)


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _size(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) and number > 0 else 0.0


def _aware(ts: Any) -> datetime | None:
    if not isinstance(ts, datetime):
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


class MarketData:
    """Quotes and bars over an ``IBConnection`` (coroutines, run on its I/O loop)."""

    def __init__(self, conn: IBConnection, resolver: ContractResolver, clock: Clock = utc_now) -> None:
        self.conn = conn
        self.resolver = resolver
        self.clock = clock
        #: symbols whose last quote came while the session was on delayed data
        self.delayed_symbols: set[str] = set()

    # -- quotes ---------------------------------------------------------------
    async def quotes(self, items: Iterable[Any]) -> tuple[dict[str, dict[str, Any]], dict[str, DataProviderError]]:
        """Quotes for ``items`` (symbols or Contracts): ``(quotes, errors)``, both keyed by our symbol."""
        await self.conn.ensure_connected()
        resolved, failed = await self.resolver.resolve_many(list(items))
        errors: dict[str, DataProviderError] = {
            sym: DataProviderError(f"No quote for {sym}: {exc.reason}", symbol=sym) for sym, exc in failed.items()
        }
        quotes: dict[str, dict[str, Any]] = {}
        pending = dict(resolved)
        for attempt in range(2):
            if not pending:
                break
            got, bad = await self._snapshots(pending)
            quotes.update(got)
            retry: dict[str, Resolved] = {}
            for sym, (code, message) in bad.items():
                can_fall_back = (
                    attempt == 0
                    and code in parsing.DELAYED_FALLBACK_CODES
                    and self.conn.settings.delayed_fallback
                    and self.conn.market_data_type in (1, 2)
                )
                if can_fall_back:
                    retry[sym] = pending[sym]
                else:
                    where = f"IB error {code}: {message}" if code else message
                    errors[sym] = DataProviderError(f"No quote for {sym}: {where}", symbol=sym)
            if retry:
                new_type = 3 if self.conn.market_data_type == 1 else 4
                logger.warning(
                    "Live market data is not subscribed for %s (IB error %s); switching to delayed data "
                    "(market data type %d)", ", ".join(sorted(retry)),
                    ", ".join(sorted({str(bad[s][0]) for s in retry})), new_type,
                )
                await self.conn.set_market_data_type(new_type)
            pending = retry
        return quotes, errors

    async def _snapshots(
        self, pending: dict[str, Resolved]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[int | None, str]]]:
        quotes: dict[str, dict[str, Any]] = {}
        bad: dict[str, tuple[int | None, str]] = {}
        items = list(pending.items())
        size = self.conn.settings.quote_batch_size
        for start in range(0, len(items), size):
            batch = items[start : start + size]
            contracts = [copy.copy(r.contract) for _, r in batch]
            started = datetime.now(UTC)
            with self.conn.collect_errors() as errors:
                try:
                    tickers = await self.conn.request(
                        self.conn.ib.reqTickersAsync(*contracts), "a quote snapshot"
                    )
                except BrokerConnectionError as exc:
                    for sym, _ in batch:
                        bad[sym] = (None, str(exc))
                    continue
            delayed = self.conn.market_data_type in (3, 4)
            for (sym, _), contract, ticker in zip(batch, contracts, tickers, strict=False):
                errs = [e for e in errors.for_contract(contract) if e.code != parsing.DELAYED_DISPLAYED]
                fresh = _aware(getattr(ticker, "time", None))
                bid, ask = _positive(ticker.bid), _positive(ticker.ask)
                if fresh is None or fresh < started or bid is None or ask is None:
                    if errs:
                        bad[sym] = (errs[-1].code, errs[-1].message)
                    else:
                        bad[sym] = (None, "IB sent no bid/ask in the snapshot (market closed, or no data)")
                    continue
                try:
                    quote = make_quote(sym, bid, ask, _size(ticker.bidSize), _size(ticker.askSize), fresh)
                except InvalidQuoteError as exc:
                    bad[sym] = (None, str(exc))
                    continue
                quotes[sym] = quote
                if delayed or int(getattr(ticker, "marketDataType", 1) or 1) in (3, 4):
                    self.delayed_symbols.add(sym)
                else:
                    self.delayed_symbols.discard(sym)
        return quotes, bad

    # -- historical bars ----------------------------------------------------------
    async def historical(self, item: Any, period: str = "1mo", interval: str = "1d") -> pd.DataFrame:
        check_period(period)
        check_interval(interval)
        label = str(item).strip().upper() if isinstance(item, str) else str(item)
        bar_size = parsing.bar_size_for(interval, label)
        duration = parsing.duration_for(period, self.clock().date())
        await self.conn.ensure_connected()
        try:
            resolved = await self.resolver.resolve(item)
        except UnknownSymbolError as exc:
            raise DataProviderError(f"No historical data for {exc.symbol}: {exc.reason}", symbol=exc.symbol) from exc
        sym = resolved.symbol
        show = parsing.what_to_show(getattr(resolved.contract, "secType", ""))
        settings = self.conn.settings
        for attempt in range(settings.pacing_retries + 1):
            contract = copy.copy(resolved.contract)
            with self.conn.collect_errors() as errors:
                bars = await self.conn.request(
                    self.conn.ib.reqHistoricalDataAsync(
                        contract,
                        endDateTime="",
                        durationStr=duration,
                        barSizeSetting=bar_size,
                        whatToShow=show,
                        useRTH=settings.use_rth,
                        formatDate=2,
                        keepUpToDate=False,
                        timeout=settings.request_timeout_s,
                    ),
                    f"historical data for {sym}",
                )
            errs = errors.for_contract(contract)
            pacing = [e for e in errs if parsing.is_pacing_violation(e.code, e.message)]
            if pacing:
                if attempt < settings.pacing_retries:
                    logger.warning(
                        "IB historical data pacing violation for %s (error %d); retrying in %.3gs",
                        sym, pacing[-1].code, settings.pacing_backoff_s,
                    )
                    await asyncio.sleep(settings.pacing_backoff_s)
                    continue
                raise DataProviderError(
                    f"IB refused historical data for {sym}: pacing violation (error {pacing[-1].code}: "
                    f"{pacing[-1].message}) after {settings.pacing_retries} retr"
                    f"{'y' if settings.pacing_retries == 1 else 'ies'}; wait and ask less often",
                    symbol=sym,
                )
            if not bars:
                detail = f"IB error {errs[-1].code}: {errs[-1].message}" if errs else "IB returned no bars"
                raise DataProviderError(
                    f"No historical data for {sym} ({period}, {interval}): {detail}", symbol=sym
                )
            return self._frame(bars, sym)
        raise DataProviderError(f"No historical data for {sym}", symbol=sym)  # pragma: no cover

    @staticmethod
    def _frame(bars: Any, symbol: str) -> pd.DataFrame:
        index = [pd.Timestamp(b.date) for b in bars]
        frame = pd.DataFrame(
            {
                "open": [float(b.open) for b in bars],
                "high": [float(b.high) for b in bars],
                "low": [float(b.low) for b in bars],
                "close": [float(b.close) for b in bars],
                # IB sends volume -1 where it has none (MIDPOINT bars)
                "volume": [max(float(b.volume), 0.0) for b in bars],
            },
            index=pd.DatetimeIndex(index).as_unit("ns"),
        )
        return normalize_ohlcv(frame, symbol)


class IBKRDataProvider(DataProvider):
    """The ``ibkr`` data provider: quotes and bars from TWS / IB Gateway.

    Keyword arguments are the ``live_trading.ibkr`` settings (``host``,
    ``port``, ``client_id``, ``market_data_type``, ...; ``None`` = config),
    plus ``ib`` (an unconnected IB object), ``ib_module`` and ``clock``. It
    opens its own read-only API session on first use (another client id is
    taken if the broker already uses the configured one), or shares a
    broker's with ``connection=broker.connection``.
    """

    def __init__(
        self,
        *,
        connection: IBConnection | None = None,
        resolver: ContractResolver | None = None,
        ib: Any = None,
        ib_module: Any = None,
        clock: Clock | None = None,
        **settings: Any,
    ) -> None:
        super().__init__()
        self.clock = clock or utc_now
        if connection is None:
            unknown = sorted(set(settings) - set(IBKRSettings.model_fields))
            if unknown:
                raise TypeError(f"IBKRDataProvider got unknown setting(s): {', '.join(unknown)}")
            connection = IBConnection(
                IBKRSettings.load(**settings), ib=ib, ib_module=ib_module, readonly=True, name="ibkr-data"
            )
            self._owns_connection = True
        else:
            self._owns_connection = False
        self.connection = connection
        self.resolver = resolver or ContractResolver(connection, connection.settings.contracts)
        self.market = MarketData(connection, self.resolver, self.clock)

    @property
    def delayed_symbols(self) -> set[str]:
        """Symbols whose last quote was delayed data."""
        return set(self.market.delayed_symbols)

    def get_quote(self, symbol: Any) -> dict[str, Any]:
        quotes, errors = self.connection.run(lambda: self.market.quotes([symbol]))
        if quotes:
            return next(iter(quotes.values()))
        if errors:
            raise next(iter(errors.values()))
        raise DataProviderError(f"No quote for {symbol}", symbol=str(symbol))  # pragma: no cover

    def get_multiple_quotes(self, symbols: Iterable[Any]) -> dict[str, dict[str, Any]]:
        """One batched snapshot request for every symbol; failures go to ``last_errors``."""
        quotes, errors = self.connection.run(lambda: self.market.quotes(list(symbols)))
        self.last_errors = {sym: str(exc) for sym, exc in errors.items()}
        return quotes

    def get_historical(self, symbol: Any, period: str = "1mo", interval: str = "1d") -> pd.DataFrame:
        return self.connection.run(lambda: self.market.historical(symbol, period, interval))

    def close(self) -> None:
        if self._owns_connection:
            self.connection.close()

    def __enter__(self) -> IBKRDataProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["IBKRDataProvider", "MarketData"]
