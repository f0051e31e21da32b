"""``FakeYFinance``: an offline stand-in for the parts of yfinance that ``YFinanceProvider`` calls.

Pass it as ``YFinanceProvider(yf=FakeYFinance({...}))`` to run the provider
with no network: in tests, benchmarks and demos. It answers

* ``download(tickers, ...)`` with the frame yfinance 1.7 builds (per-ticker
  OHLCV frames in the exchange time zone, reindexed on the union of their
  timestamps and concatenated under a ``(Ticker, Price)`` column MultiIndex;
  unknown tickers come back as all-NaN columns, as yfinance does);
* ``Ticker(symbol).history(...)`` and ``Ticker(symbol).info``;
* ``data.YfData().get_raw_json(url, params=...)`` for Yahoo's batched quote
  endpoint (``quoteResponse.result``), used for bid/ask;

with the same signatures as yfinance, so a wrong keyword fails here as it
would there. Every call is recorded in ``calls`` (name, arguments) and
counted in ``counts``; ``fail_download`` / ``fail_quote_api`` make the next
calls raise, as a network failure would.
"""

from __future__ import annotations

import collections
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pandas as pd

from LIVE_TRADING.data.provider import INTERVALS

_PERIOD_DEFAULT = "1mo if start & end None"
_INTERVALS = INTERVALS  # yfinance's interval vocabulary is the common one


def _empty_frame() -> pd.DataFrame:
    """What yfinance returns for a ticker it has nothing for (``yfinance.utils.empty_df``)."""
    nan = float("nan")
    frame = pd.DataFrame(
        index=[], data={"Open": nan, "High": nan, "Low": nan, "Close": nan, "Adj Close": nan, "Volume": nan}
    )
    frame.index.name = "Date"
    return frame


class FakeTicker:
    """``yfinance.Ticker`` for one symbol of a ``FakeYFinance``."""

    def __init__(self, fake: FakeYFinance, ticker: str, session: Any = None) -> None:
        self._fake = fake
        self.ticker = ticker.upper()
        self._price_history = None  # yfinance.download reads it

    def history(
        self,
        period: str = _PERIOD_DEFAULT,
        interval: str = "1d",
        start: Any = None,
        end: Any = None,
        prepost: bool = False,
        actions: bool = True,
        auto_adjust: bool = True,
        back_adjust: bool = False,
        repair: bool = False,
        keepna: bool = False,
        rounding: bool = False,
        timeout: float | None = 10,
        raise_errors: bool = False,
    ) -> pd.DataFrame:
        self._fake._record("history", ticker=self.ticker, period=period, interval=interval)
        return self._fake.bars(self.ticker, interval, auto_adjust=auto_adjust, actions=actions)

    @property
    def info(self) -> dict[str, Any]:
        self._fake._record("info", ticker=self.ticker)
        row = self._fake.quote_row(self.ticker)
        return {} if row is None else dict(row)


class _FakeYfData:
    def __init__(self, fake: FakeYFinance) -> None:
        self._fake = fake

    def __call__(self, session: Any = None) -> _FakeYfData:  # YfData(...) is a singleton
        return self

    def get_raw_json(self, url: str, params: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
        fake = self._fake
        fake._record("quote_api", url=url, params=dict(params or {}))
        if fake.fail_quote_api is not None:
            raise fake.fail_quote_api
        symbols = [s for s in str((params or {}).get("symbols", "")).split(",") if s]
        rows = [row for row in (fake.quote_row(s.upper()) for s in symbols) if row is not None]
        return {"quoteResponse": {"result": rows, "error": None}}


class FakeYFinance:
    """An offline yfinance: ``prices`` (symbol -> last price) are the tickers it knows.

    Args:
        prices: last traded price per known ticker.
        bid_ask: per ticker, the ``bid``/``ask``/``bidSize``/``askSize`` its quote endpoint reports.
        last_bar: start time of the latest bar (aware); earlier bars step back by the interval.
        tz: exchange time zone of the bars' index (yfinance returns exchange time).
        n_bars: bars per ticker in each answer.
    """

    def __init__(
        self,
        prices: dict[str, float] | None = None,
        *,
        bid_ask: dict[str, dict[str, float]] | None = None,
        last_bar: datetime | None = None,
        tz: str = "America/New_York",
        n_bars: int = 3,
    ) -> None:
        self.prices = {k.upper(): float(v) for k, v in (prices or {}).items()}
        self.bid_ask = {k.upper(): dict(v) for k, v in (bid_ask or {}).items()}
        self.last_bar = last_bar or datetime(2026, 1, 5, 14, 29, tzinfo=UTC)
        self.tz = tz
        self.n_bars = n_bars
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.counts: collections.Counter[str] = collections.Counter()
        self.fail_download: BaseException | None = None
        self.fail_quote_api: BaseException | None = None
        self.data = SimpleNamespace(YfData=_FakeYfData(self))

    def _record(self, name: str, **arguments: Any) -> None:
        self.calls.append((name, arguments))
        self.counts[name] += 1

    # -- the data ------------------------------------------------------------
    def bars(self, ticker: str, interval: str, *, auto_adjust: bool = True, actions: bool = False) -> pd.DataFrame:
        """The per-ticker frame yfinance's ``history`` returns (exchange-time index, title-case columns)."""
        price = self.prices.get(ticker.upper())
        if price is None:
            return _empty_frame()
        step = _INTERVALS[interval]
        last = pd.Timestamp(self.last_bar).tz_convert(self.tz)
        if step >= timedelta(days=1):
            last = last.normalize()  # daily and longer bars start at midnight, exchange time
        starts = [last - step * i for i in range(self.n_bars - 1, -1, -1)]
        closes = [price * (1 + 0.001 * (i - self.n_bars + 1)) for i in range(self.n_bars)]
        frame = pd.DataFrame(
            {
                "Open": closes,
                "High": [c * 1.001 for c in closes],
                "Low": [c * 0.999 for c in closes],
                "Close": closes,
                "Volume": [1000.0 * (i + 1) for i in range(self.n_bars)],
            },
            index=pd.DatetimeIndex(starts),
        )
        if not auto_adjust:
            frame.insert(4, "Adj Close", closes)
        if actions:
            frame["Dividends"] = 0.0
            frame["Stock Splits"] = 0.0
        frame.index.name = "Datetime" if step < timedelta(days=1) else "Date"
        return frame

    def quote_row(self, ticker: str) -> dict[str, Any] | None:
        """What the quote endpoint reports for ``ticker`` (``None``: unknown)."""
        price = self.prices.get(ticker)
        if price is None:
            return None
        row: dict[str, Any] = {"symbol": ticker, "regularMarketPrice": price}
        row.update(self.bid_ask.get(ticker, {}))
        return row

    # -- the yfinance API ----------------------------------------------------
    def Ticker(self, ticker: str, session: Any = None) -> FakeTicker:  # yfinance spells it so
        return FakeTicker(self, ticker, session)

    def download(
        self,
        tickers: Any,
        start: Any = None,
        end: Any = None,
        actions: bool = False,
        threads: bool | int = True,
        ignore_tz: bool | None = None,
        group_by: str = "column",
        auto_adjust: bool = True,
        back_adjust: bool = False,
        repair: bool = False,
        keepna: bool = False,
        progress: bool = True,
        period: str = _PERIOD_DEFAULT,
        interval: str = "1d",
        prepost: bool = False,
        rounding: bool = False,
        timeout: float | None = 10,
        session: Any = None,
        multi_level_index: bool = True,
    ) -> pd.DataFrame:
        names = tickers if isinstance(tickers, list | set | tuple) else tickers.replace(",", " ").split()
        names = sorted({t.upper() for t in names})
        self._record("download", tickers=names, period=period, interval=interval, group_by=group_by)
        if self.fail_download is not None:
            raise self.fail_download
        if ignore_tz is None:
            ignore_tz = interval[-1] not in ("m", "h")
        frames = {t: self.bars(t, interval, auto_adjust=auto_adjust, actions=actions) for t in names}
        index = None
        for frame in frames.values():
            if not frame.empty:
                if ignore_tz:
                    frame.index = frame.index.tz_localize(None)
                index = frame.index if index is None else index.union(frame.index)
        if index is None:
            index = pd.DatetimeIndex([])
        frames = {t: frame.reindex(index) for t, frame in frames.items()}
        data = pd.concat(frames.values(), axis=1, sort=True, keys=frames.keys(), names=["Ticker", "Price"])
        if group_by == "column":
            data.columns = data.columns.swaplevel(0, 1)
            data = data.sort_index(level=0, axis=1)
        if not multi_level_index and len(names) == 1:
            data = data.droplevel(0 if group_by == "ticker" else 1, axis=1).rename_axis(None, axis=1)
        return data


__all__ = ["FakeTicker", "FakeYFinance"]
