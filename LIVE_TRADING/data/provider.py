"""Market data providers: quotes and historical bars behind one interface.

Every broker can be fed by a ``DataProvider``; the default (``sim``) runs
offline. ``get_data_provider()`` builds the one named by
``live_trading.data.provider`` through a registry like ``get_broker``'s::

    provider = get_data_provider()              # sim, unless configured otherwise
    provider.get_quote("AAPL")                  # -> Quote dict
    provider.get_multiple_quotes(["AAPL", "MSFT"])
    provider.get_historical("AAPL", period="1mo", interval="1d")   # -> DataFrame

Historical frames have one shape for every provider (``normalize_ohlcv``):
a tz-aware UTC ``DatetimeIndex`` (nanosecond unit) named ``timestamp``, float columns
``open, high, low, close, volume``, sorted, without duplicate timestamps.
``period`` and ``interval`` use the yfinance vocabulary; anything else raises
``DataProviderError`` listing the allowed values.

``get_multiple_quotes`` returns the quotes it could get; symbols that failed
are left out and listed in ``provider.last_errors`` (symbol -> message), so one
bad symbol never loses the others' quotes.
"""

from __future__ import annotations

import abc
import difflib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from CONFIG.config_loader import get_cfg
from LIVE_TRADING.brokers.interface import resolve_target
from LIVE_TRADING.common import symbols
from LIVE_TRADING.common.exceptions import DataProviderError, UnknownSymbolError

#: yfinance's vocabulary, with the length of each as a timedelta
#: (months and years approximate; "ytd" and "max" are resolved by providers).
PERIODS: dict[str, timedelta | None] = {
    "1d": timedelta(days=1),
    "5d": timedelta(days=5),
    "1mo": timedelta(days=30),
    "3mo": timedelta(days=91),
    "6mo": timedelta(days=182),
    "1y": timedelta(days=365),
    "2y": timedelta(days=730),
    "5y": timedelta(days=1826),
    "10y": timedelta(days=3652),
    "ytd": None,
    "max": None,
}
INTERVALS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "2m": timedelta(minutes=2),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "30m": timedelta(minutes=30),
    "60m": timedelta(hours=1),
    "90m": timedelta(minutes=90),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
    "5d": timedelta(days=5),
    "1wk": timedelta(weeks=1),
    "1mo": timedelta(days=30),
    "3mo": timedelta(days=91),
}
OHLCV_COLUMNS = ("open", "high", "low", "close", "volume")


#: The longest stretch of history each intraday interval covers (yfinance's limits:
#: 1m bars for about a week, other minute bars for 60 days, hourly bars for 730 days).
#: Providers apply them too, so a request that works on ``sim`` works on ``yfinance``.
INTRADAY_LIMITS: dict[str, timedelta] = {
    "1m": timedelta(days=7),
    "2m": timedelta(days=60),
    "5m": timedelta(days=60),
    "15m": timedelta(days=60),
    "30m": timedelta(days=60),
    "60m": timedelta(days=730),
    "90m": timedelta(days=60),
    "1h": timedelta(days=730),
}


def check_period(period: str) -> str:
    """``period`` if it is in the yfinance vocabulary, else ``DataProviderError`` listing the allowed ones."""
    if not isinstance(period, str) or period not in PERIODS:
        raise DataProviderError(f"Unsupported period {period!r} (allowed: {', '.join(PERIODS)})")
    return period


def check_interval(interval: str) -> str:
    """``interval`` if it is in the yfinance vocabulary, else ``DataProviderError`` listing the allowed ones."""
    if not isinstance(interval, str) or interval not in INTERVALS:
        raise DataProviderError(f"Unsupported interval {interval!r} (allowed: {', '.join(INTERVALS)})")
    return interval


def normalize_symbol(symbol: Any) -> str:
    """``symbol`` stripped and upper-cased; ``DataProviderError`` if it is not a non-empty string."""
    return symbols.normalize_symbol(symbol, DataProviderError)


def history_window(
    period: str,
    interval: str,
    now: datetime,
    *,
    earliest: datetime | None = None,
    intraday_limits: bool = True,
) -> tuple[datetime, timedelta]:
    """Where a ``get_historical(period, interval)`` request starts, and its bar length.

    ``period`` counts back from ``now``; ``"ytd"`` starts on January 1st (UTC)
    of ``now``'s year and ``"max"`` at ``earliest`` (the provider's first
    data). With ``intraday_limits`` an intraday ``interval`` refuses periods
    longer than ``INTRADAY_LIMITS`` allows, naming the periods it accepts.
    Raises ``DataProviderError`` for anything unsupported.
    """
    check_period(period)
    check_interval(interval)
    if period == "ytd":
        start = datetime(now.year, 1, 1, tzinfo=UTC)
    elif period == "max":
        if earliest is None:
            raise DataProviderError("Period 'max' needs a provider that knows its first data")
        start = earliest
    else:
        start = now - PERIODS[period]  # type: ignore[operator]
    limit = INTRADAY_LIMITS.get(interval) if intraday_limits else None
    if limit is not None and (period == "max" or now - start > limit):
        allowed = [p for p, span in PERIODS.items() if span is not None and span <= limit]
        raise DataProviderError(
            f"Interval {interval!r} covers at most {limit.days} days of history, "
            f"period {period!r} is longer (allowed with {interval}: {', '.join(allowed)})"
        )
    return start, INTERVALS[interval]


def normalize_ohlcv(frame: pd.DataFrame, symbol: str | None = None) -> pd.DataFrame:
    """Bring an OHLCV frame into the common shape (see module docstring).

    Column names are matched case-insensitively (``Open``/``open``); a naive
    index is taken as UTC; duplicates keep the last row; rows without a
    price are dropped and a missing volume counts as 0. Raises
    ``DataProviderError`` naming missing columns.
    """
    if frame is None or not isinstance(frame, pd.DataFrame):
        raise DataProviderError(f"No historical data for {symbol}", symbol=symbol)
    df = frame.copy()
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "volume" not in df.columns and {"open", "high", "low", "close"} <= set(df.columns):
        df["volume"] = 0.0
    missing = [c for c in OHLCV_COLUMNS if c not in df.columns]
    if missing:
        raise DataProviderError(
            f"Historical data for {symbol} lacks column(s): {', '.join(missing)}", symbol=symbol
        )
    df = df[list(OHLCV_COLUMNS)].astype("float64")
    df = df.dropna(subset=["open", "high", "low", "close"])
    df["volume"] = df["volume"].fillna(0.0)
    index = pd.DatetimeIndex(pd.to_datetime(df.index))
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    df.index = index.as_unit("ns")
    df.index.name = "timestamp"
    df = df[~df.index.duplicated(keep="last")].sort_index()
    return df


class DataProvider(abc.ABC):
    """Quotes and historical bars for symbols.

    Subclasses implement ``get_quote`` and ``get_historical``; the default
    ``get_multiple_quotes`` loops over ``get_quote`` (providers that can batch
    override it).
    """

    #: symbol -> error message for the symbols the last ``get_multiple_quotes`` could not get
    last_errors: dict[str, str]

    def __init__(self) -> None:
        self.last_errors = {}

    @abc.abstractmethod
    def get_quote(self, symbol: str) -> dict[str, Any]:
        """Current ``Quote``; ``DataProviderError`` naming the symbol if none can be had."""

    @abc.abstractmethod
    def get_historical(self, symbol: str, period: str = "1mo", interval: str = "1d") -> pd.DataFrame:
        """OHLCV bars in the common frame shape."""

    def get_multiple_quotes(self, symbols: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Quotes for every symbol that has one; failures go to ``last_errors``."""
        return self._collect(symbols, self.get_quote)

    def _collect(
        self, symbols: Iterable[str], quote: Callable[[str], dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """``{symbol: quote(symbol)}`` for the symbols that have one; the others' errors in ``last_errors``."""
        out: dict[str, dict[str, Any]] = {}
        errors: dict[str, str] = {}
        for symbol in symbols:
            try:
                result = quote(symbol)
            except DataProviderError as exc:
                errors[str(symbol).strip().upper()] = str(exc)
            else:
                out[result["symbol"]] = result
        self.last_errors = errors
        return out

    # -- which symbols exist ------------------------------------------------
    def known_symbols(self) -> frozenset[str] | None:
        """Every symbol this provider can quote, or ``None`` when it cannot list them (open-ended)."""
        return None

    def knows(self, symbol: str) -> bool | None:
        """Whether ``symbol`` is one this provider can quote: True, False, or ``None`` (cannot tell).

        The paper broker refuses orders for symbols its provider answers False for
        (``UnknownSymbolError``). The default looks ``symbol`` up in ``known_symbols()``.
        """
        known = self.known_symbols()
        if known is None:
            return None
        return str(symbol).strip().upper() in known

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections (optional)."""


@runtime_checkable
class QuoteSource(Protocol):
    """What a broker needs from a provider it is given as an object: quotes, one or many."""

    def get_quote(self, symbol: str) -> dict[str, Any]: ...

    def get_multiple_quotes(self, symbols: Iterable[str]) -> dict[str, dict[str, Any]]: ...


@runtime_checkable
class ReportsQuoteErrors(Protocol):
    """A provider that lists the symbols its last ``get_multiple_quotes`` could not quote
    (every ``DataProvider``; duck-typed providers may not)."""

    last_errors: dict[str, str]


@runtime_checkable
class KnowsSymbols(Protocol):
    """A provider that can tell whether it quotes a symbol (every ``DataProvider``)."""

    def knows(self, symbol: str) -> bool | None: ...

    def known_symbols(self) -> frozenset[str] | None: ...


@runtime_checkable
class ProvidesRecentBars(Protocol):
    """A provider that returns just the newest ``count`` bars (cheaper than a whole period)."""

    def get_recent_bars(self, symbol: str, interval: str = "1d", count: int = 1) -> pd.DataFrame: ...


def quote_errors(provider: Any, reports: bool | None = None) -> dict[str, str]:
    """``provider.last_errors`` if it keeps them, else ``{}``.

    ``reports``: ``isinstance(provider, ReportsQuoteErrors)`` if the caller already knows it (a
    runtime protocol check costs microseconds; the loop asks it once per run, not once per step).
    """
    if reports is None:
        reports = isinstance(provider, ReportsQuoteErrors)
    return dict(provider.last_errors) if reports and provider.last_errors else {}

def _edits(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (a swap of neighbours counts once): how many typos apart."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def suggest_symbols(symbol: str, known: Iterable[str], n: int = 2) -> list[str]:
    """Known symbols close to ``symbol`` (a typo such as ``APPL`` -> ``AAPL``), fewest typos first."""
    sym = str(symbol).strip().upper()
    close = difflib.get_close_matches(sym, sorted(known), n=10, cutoff=0.6)
    return sorted(close, key=lambda c: (_edits(sym, c), close.index(c)))[:n]


def require_known(provider: Any, symbol: str) -> None:
    """Raise ``UnknownSymbolError`` (with suggestions) if ``provider`` says it does not know ``symbol``.

    Providers that cannot tell (no ``knows``, or answering ``None``) are not checked.
    """
    if isinstance(provider, KnowsSymbols):
        check_known(provider, symbol)


def check_known(provider: KnowsSymbols, symbol: str) -> None:
    """``require_known`` for a provider already known to be ``KnowsSymbols`` (a caller that asks for every
    order checks that once: a runtime protocol check costs microseconds)."""
    if provider.knows(symbol) is not False:
        return
    known = provider.known_symbols()
    raise UnknownSymbolError(symbol, suggest_symbols(symbol, known or ()),
                             source=f"data provider {type(provider).__name__}")


#: provider name -> "module:attribute" of a callable ``(**kwargs) -> DataProvider``
_PROVIDERS: dict[str, str | Callable[..., Any]] = {
    "sim": "LIVE_TRADING.data.sim:SimDataProvider",
    "replay": "LIVE_TRADING.data.replay:ReplayDataProvider",
    "yfinance": "LIVE_TRADING.data.yfinance:YFinanceProvider",
    "binance": "LIVE_TRADING.brokers.binance.data:BinanceDataProvider",
    "ibkr": "LIVE_TRADING.brokers.ibkr.data:IBKRDataProvider",
}


def register_data_provider(name: str, target: str | Callable[..., Any]) -> None:
    """Make ``get_data_provider(name)`` build providers with ``target``."""
    _PROVIDERS[name.strip().lower()] = target


def known_data_providers() -> list[str]:
    return sorted(_PROVIDERS)


def get_data_provider(backend: str | None = None, **kwargs: Any) -> DataProvider:
    """Build the data provider ``backend`` (``None``: ``live_trading.data.provider``, default ``sim``).

    Raises ``ValueError`` for an unknown backend (naming the known ones).
    """
    if backend is None:
        backend = get_cfg("live_trading.data.provider", default="sim")
    name = str(backend).strip().lower()
    target = _PROVIDERS.get(name)
    if target is None:
        raise ValueError(
            f"Unknown data provider backend: {backend!r} (known: {', '.join(known_data_providers())})"
        )
    return resolve_target(target)(**kwargs)


__all__ = [
    "INTERVALS",
    "INTRADAY_LIMITS",
    "OHLCV_COLUMNS",
    "PERIODS",
    "DataProvider",
    "QuoteSource",
    "ReportsQuoteErrors",
    "check_interval",
    "check_known",
    "check_period",
    "get_data_provider",
    "history_window",
    "known_data_providers",
    "normalize_ohlcv",
    "normalize_symbol",
    "quote_errors",
    "register_data_provider",
    "require_known",
    "suggest_symbols",
]
