"""``replay``: quotes or bars from a CSV or Parquet file, stepped by the clock.

The file (``data.replay.path``) holds one row per symbol and time, either

* **quotes**: ``timestamp, symbol, bid, ask[, bid_size, ask_size]``, or
* **bars**: ``timestamp, symbol, open, high, low, close[, volume]``.

Column names are matched case-insensitively. Timestamps are ISO-8601
strings (no offset means UTC) or numbers since the Unix epoch (seconds,
milliseconds, microseconds or nanoseconds, told apart by magnitude). The
file is read and checked once, when the provider is built: missing columns
and bad rows (unparseable time, empty symbol, a price that is not a positive
number, a crossed quote, a high below the low, a negative size) raise
``DataProviderError`` naming them. Two rows for the same symbol and time
keep the later one in the file.

**Stepping.** The quote for a symbol is the latest row known at or before
the clock's now (found by bisection); its ``timestamp`` is that row's time,
so it ages as the clock moves past the end of the data. Before a symbol's
first row, and for symbols not in the file, ``DataProviderError`` names the
symbol. Bars become quotes around their close with a synthetic spread of
``spread_bps`` and ``size`` displayed on each side (also the size of quotes
rows without sizes).

**When is a bar known?** ``bar_time: end`` (default) takes a bar row's
timestamp as the time its close was known. Files labelled by the bar's
*start* (yfinance, Binance klines) need ``bar_time: start``: a bar's close
then counts as known when the symbol's next bar starts (the last bar: one
typical bar length after its start), so replay never looks ahead.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from LIVE_TRADING.common.clock import Clock, ensure_utc, utc_now
from LIVE_TRADING.common.exceptions import DataProviderError
from LIVE_TRADING.common.settings import SettingsReader
from LIVE_TRADING.data.provider import (
    OHLCV_COLUMNS,
    DataProvider,
    history_window,
    normalize_ohlcv,
    normalize_symbol,
)
from LIVE_TRADING.data.quotes import make_quote

logger = logging.getLogger(__name__)

QUOTE_COLUMNS = ("timestamp", "symbol", "bid", "ask")
BAR_COLUMNS = ("timestamp", "symbol", "open", "high", "low", "close")
SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
BAR_TIMES = ("end", "start")
_SHOWN = 5  # bad rows named per problem
_INF = float("inf")


@dataclass
class _Series:
    """The rows of one symbol, in the order they become known."""

    known: list[datetime]  # when each row's prices are known (ascending)
    bids: list[float]
    asks: list[float]
    bid_sizes: list[float]
    ask_sizes: list[float]
    frame: pd.DataFrame  # for history: OHLCV (bars) or bid/ask (quotes), plus "known"


def _read_table(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except ImportError as exc:
        raise DataProviderError(f"Replay file {path} needs pyarrow to read Parquet: {exc}") from exc
    except Exception as exc:  # pandas/pyarrow parse errors have no common base
        raise DataProviderError(f"Replay file {path} cannot be read: {exc}") from exc


def _parse_times(column: pd.Series) -> pd.Series:
    """Timestamps as aware UTC (NaT where unparseable); numbers are Unix epoch times."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        biggest = column.abs().max()
        unit = "s" if biggest < 1e11 else "ms" if biggest < 1e14 else "us" if biggest < 1e17 else "ns"
        return pd.to_datetime(column, unit=unit, utc=True, errors="coerce")
    return pd.to_datetime(column, utc=True, errors="coerce", format="ISO8601")


def _check_columns(path: Path, columns: Iterable[str]) -> str:
    """``"quotes"`` or ``"bars"``; ``DataProviderError`` naming the missing columns otherwise."""
    have = set(columns)
    needed: tuple[str, ...]
    if have & {"bid", "ask"}:
        kind, needed = "quotes", QUOTE_COLUMNS
    elif have & {"open", "high", "low", "close"}:
        kind, needed = "bars", BAR_COLUMNS
    else:
        raise DataProviderError(
            f"Replay file {path} is neither quotes (missing: "
            f"{', '.join(c for c in QUOTE_COLUMNS if c not in have)}) nor bars (missing: "
            f"{', '.join(c for c in BAR_COLUMNS if c not in have)}); it has columns: {', '.join(sorted(have))}"
        )
    missing = [c for c in needed if c not in have]
    if missing:
        raise DataProviderError(
            f"Replay file {path} of {kind} lacks column(s): {', '.join(missing)} "
            f"(a {kind} file needs {', '.join(needed)})"
        )
    return kind


class ReplayDataProvider(DataProvider):
    """Replays a file of quotes or bars (see module docstring).

    Args:
        path: the CSV / Parquet file (``None``: ``data.replay.path``).
        clock: callable returning an aware UTC datetime (default: system time).
        spread_bps: synthetic spread around a bar's close (``data.replay.spread_bps``).
        size: displayed size where the file gives none (``data.replay.size``).
        bar_time: ``end`` or ``start``: what a bar row's timestamp marks (``data.replay.bar_time``).

    Raises:
        ConfigError: no path set, no such file, unsupported suffix, bad settings.
        DataProviderError: the file cannot be read, lacks columns or has bad rows.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        clock: Clock | None = None,
        spread_bps: float | None = None,
        size: float | None = None,
        bar_time: str | None = None,
    ) -> None:
        super().__init__()
        self._clock: Clock = clock or utc_now
        r = SettingsReader("data.replay")
        raw_path, source = r.raw("path", None if path is None else str(path))
        self.spread_bps = r.number("spread_bps", spread_bps, ge=0)
        self.size = r.number("size", size, ge=0)
        self.bar_time = r.choice("bar_time", BAR_TIMES, bar_time)
        file = Path(str(raw_path)).expanduser() if raw_path is not None and str(raw_path).strip() else None
        if file is None:
            r.problems.append(
                f"{r.key('path')} must name a CSV or Parquet file of quotes or bars to replay, got {raw_path!r} "
                f"({source})"
            )
        elif not file.name.lower().endswith(SUFFIXES):
            r.problems.append(f"{r.key('path')} must end in one of {', '.join(SUFFIXES)}, got {str(raw_path)!r} ({source})")
        elif not file.is_file():
            r.problems.append(f"{r.key('path')} names no file: {str(raw_path)!r} ({source})")
        r.finish()  # raises unless file is set
        self.path: Path = file  # type: ignore[assignment]
        self.kind, self._series = self._load(self.path)
        logger.info("Replaying %s of %d symbol(s) from %s", self.kind, len(self._series), self.path)

    # -- loading ---------------------------------------------------------------
    def _load(self, path: Path) -> tuple[str, dict[str, _Series]]:
        table = _read_table(path)
        table.columns = [str(c).strip().lower() for c in table.columns]
        kind = _check_columns(path, table.columns)
        if table.empty:
            raise DataProviderError(f"Replay file {path} has no rows")
        df = pd.DataFrame({"timestamp": _parse_times(table["timestamp"])})
        df["symbol"] = table["symbol"].astype("string").str.strip().str.upper()
        prices = ("bid", "ask") if kind == "quotes" else ("open", "high", "low", "close")
        for column in prices:
            df[column] = pd.to_numeric(table[column], errors="coerce")
        sizes = ("bid_size", "ask_size") if kind == "quotes" else ("volume",)
        for column in sizes:  # optional: missing columns and cells mean "not given"
            df[column] = pd.to_numeric(table[column], errors="coerce") if column in table else float("nan")

        problems = {
            "unparseable timestamp": df["timestamp"].isna(),
            "empty symbol": df["symbol"].isna() | (df["symbol"] == ""),
        }
        for column in prices:
            problems[f"{column} is not a positive number"] = ~df[column].between(0, _INF, inclusive="neither")
        if kind == "quotes":
            problems["crossed quote (bid > ask)"] = df["bid"] > df["ask"]
        else:
            problems["high below open, low or close"] = df["high"] < df[["open", "low", "close"]].max(axis=1)
            problems["low above open or close"] = df["low"] > df[["open", "close"]].min(axis=1)
        for column in sizes:
            problems[f"{column} is negative or infinite"] = df[column].notna() & ~df[column].between(0, _INF, inclusive="left")
        self._raise_bad_rows(path, problems)

        if kind == "quotes":
            df["bid_size"] = df["bid_size"].fillna(self.size)
            df["ask_size"] = df["ask_size"].fillna(self.size)
        else:
            df["volume"] = df["volume"].fillna(0.0)
        df = df.sort_values(["symbol", "timestamp"], kind="stable")
        df = df.drop_duplicates(["symbol", "timestamp"], keep="last")
        return kind, {str(sym): self._series_of(kind, rows) for sym, rows in df.groupby("symbol", sort=False)}

    @staticmethod
    def _raise_bad_rows(path: Path, problems: dict[str, pd.Series]) -> None:
        lines = []
        for what, mask in problems.items():
            bad = list(mask.fillna(True).to_numpy().nonzero()[0])
            if bad:
                rows = ", ".join(str(i + 1) for i in bad[:_SHOWN])
                more = ", ..." if len(bad) > _SHOWN else ""
                lines.append(f"{what} in row {rows}" if len(bad) == 1 else f"{what} in {len(bad)} rows: {rows}{more}")
        if lines:
            raise DataProviderError(
                f"Replay file {path} has bad rows (data rows counted from 1 after the header): " + "; ".join(lines)
            )

    def _series_of(self, kind: str, rows: pd.DataFrame) -> _Series:
        rows = rows.set_index("timestamp").drop(columns="symbol")
        if kind == "quotes":
            rows["known"] = rows.index
            bids, asks = rows["bid"], rows["ask"]
            bid_sizes, ask_sizes = rows["bid_size"], rows["ask_size"]
        else:
            if self.bar_time == "start" and len(rows) > 1:
                starts = rows.index.to_series()
                nxt = starts.shift(-1)
                nxt.iloc[-1] = starts.iloc[-1] + starts.diff().median()
                rows["known"] = nxt
            else:
                rows["known"] = rows.index
            half = rows["close"] * (self.spread_bps / 2e4)  # type: ignore[operator]
            bids, asks = rows["close"] - half, rows["close"] + half
            bid_sizes = ask_sizes = pd.Series(self.size, index=rows.index)
        return _Series(
            known=[ts.to_pydatetime() for ts in rows["known"]],
            bids=bids.tolist(),
            asks=asks.tolist(),
            bid_sizes=bid_sizes.tolist(),
            ask_sizes=ask_sizes.tolist(),
            frame=rows,
        )

    # -- what the file holds ---------------------------------------------------
    @property
    def symbols(self) -> list[str]:
        """The symbols in the file, sorted."""
        return sorted(self._series)

    def known_symbols(self) -> frozenset[str]:
        """The file's symbols: orders for any other are refused on paper."""
        return frozenset(self._series)

    @property
    def first_timestamp(self) -> datetime:
        """When the earliest row in the file is known (set a ManualClock here to start a replay)."""
        return min(series.known[0] for series in self._series.values())

    @property
    def last_timestamp(self) -> datetime:
        return max(series.known[-1] for series in self._series.values())

    def _series_for(self, sym: str) -> _Series:
        series = self._series.get(sym)
        if series is None:
            known = ", ".join(self.symbols[:10]) + (", ..." if len(self._series) > 10 else "")
            raise DataProviderError(f"No data for {sym} in replay file {self.path} (it has: {known})", symbol=sym)
        return series

    # -- quotes ----------------------------------------------------------------
    def _quote_at(self, symbol: str, now: datetime) -> dict[str, Any]:
        sym = normalize_symbol(symbol)
        series = self._series_for(sym)
        i = bisect.bisect_right(series.known, now) - 1
        if i < 0:
            raise DataProviderError(
                f"No quote for {sym} at {now.isoformat()}: its replay data starts at {series.known[0].isoformat()}",
                symbol=sym,
            )
        return make_quote(
            sym, series.bids[i], series.asks[i], series.bid_sizes[i], series.ask_sizes[i], series.known[i]
        )

    def _now(self) -> datetime:
        return ensure_utc(self._clock(), "clock()")

    def get_quote(self, symbol: str) -> dict[str, Any]:
        """The latest row of ``symbol`` known at the clock's now, as a quote."""
        return self._quote_at(symbol, self._now())

    def get_multiple_quotes(self, symbols: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Quotes for ``symbols`` at one clock reading; failures go to ``last_errors``."""
        now = self._now()
        return self._collect(symbols, lambda symbol: self._quote_at(symbol, now))

    # -- history ---------------------------------------------------------------
    def get_historical(self, symbol: str, period: str = "1mo", interval: str = "1d") -> pd.DataFrame:
        """Bars from the file known at the clock's now, at ``interval``, over ``period``.

        Bars files give their own bars (resampled when ``interval`` differs
        from their spacing); quotes files give bars of their mid prices with
        volume 0, from the rows in the window. Resampled bars start on
        multiples of ``interval`` since the Unix epoch and are labelled by
        their start (the first may hold only the part of its span inside the
        window). ``period="max"`` covers the whole file. Empty if nothing falls
        in the window; ``DataProviderError`` before the symbol's first row.
        """
        sym = normalize_symbol(symbol)
        series = self._series_for(sym)
        now = self._now()
        start, step = history_window(period, interval, now, earliest=series.known[0], intraday_limits=False)
        if series.known[0] > now:
            raise DataProviderError(
                f"No history for {sym} at {now.isoformat()}: its replay data starts at {series.known[0].isoformat()}",
                symbol=sym,
            )
        frame = series.frame
        rows = frame[(frame["known"] <= now) & (frame.index >= start)]
        if self.kind == "quotes":
            bars = ((rows["bid"] + rows["ask"]) / 2.0).resample(step, origin="epoch", label="left", closed="left").ohlc()
            bars["volume"] = 0.0
        else:
            bars = rows[list(OHLCV_COLUMNS)]
            spacing = bars.index.to_series().diff().median()
            if len(bars) < 2 or spacing != step:
                bars = bars.resample(step, origin="epoch", label="left", closed="left").agg(
                    {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
                )
        return normalize_ohlcv(bars.dropna(subset=["close"]), sym)


__all__ = ["BAR_COLUMNS", "QUOTE_COLUMNS", "ReplayDataProvider"]
