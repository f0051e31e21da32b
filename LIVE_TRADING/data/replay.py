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

Why one module of ~640 lines: loading and checking the two file shapes (quotes and bars) and
stepping through them by the clock share the column checks and the time index.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pa_parquet

from CONFIG.config_loader import config_path
from CONFIG.schema import ReplaySettings
from LIVE_TRADING.common.clock import Clock, ensure_utc, utc_now
from LIVE_TRADING.common.exceptions import ConfigError, DataProviderError, InvalidQuoteError
from LIVE_TRADING.common.settings import section
from LIVE_TRADING.common.symbols import configured_asset_classes
from LIVE_TRADING.data import calendar
from LIVE_TRADING.data.provider import (
    INTERVALS,
    OHLCV_COLUMNS,
    DataProvider,
    check_interval,
    history_window,
    normalize_ohlcv,
    normalize_symbol,
)
from LIVE_TRADING.data.quotes import Quote

logger = logging.getLogger(__name__)

QUOTE_COLUMNS = ("timestamp", "symbol", "bid", "ask")
BAR_COLUMNS = ("timestamp", "symbol", "open", "high", "low", "close")
SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
_SHOWN = 5  # bad rows named per problem
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAT = np.iinfo(np.int64).min


@dataclass
class _Series:
    """The rows of one symbol in time order: times as int64 ns arrays, prices taken from the file's columns lazily."""

    known: np.ndarray  # int64 ns since the epoch: when each row's prices are known (ascending)
    labels: np.ndarray  # int64 ns: the row's own timestamp (a bar's label)
    rows: np.ndarray  # positions of this symbol's rows in ``source``, in time order
    source: dict[str, np.ndarray]  # the file's checked columns (all symbols; shared, read-only)
    kind: str  # quotes | bars
    spread_bps: float
    size: float
    _columns: dict[str, np.ndarray] | None = None
    _frame: pd.DataFrame | None = None
    _last: tuple[int, Quote] | None = None  # the last quote served: (row, quote)
    _daily: bool | None = None

    @property
    def daily(self) -> bool:
        """Rows a day or more apart (daily bars): each one is a session's result, so its market traded."""
        if self._daily is None:
            gaps = np.diff(self.known)
            self._daily = bool(len(gaps)) and float(np.median(gaps)) >= 20 * 3600 * 1e9
        return self._daily
    _lists: tuple[list[int], list[float], list[float], list[float], list[float]] | None = None

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """This symbol's columns (bars: open, high, low, close, volume; quotes: bid, ask, sizes), in time order."""
        if self._columns is None:
            self._columns = {c: v[self.rows] for c, v in self.source.items()}
        return self._columns

    def as_frame(self) -> pd.DataFrame:
        """The rows as a DataFrame indexed by their timestamp, plus ``known`` (built on first use)."""
        if self._frame is None:
            index = pd.DatetimeIndex(self.labels.view("datetime64[ns]"), name="timestamp").tz_localize("UTC")
            frame = pd.DataFrame(dict(self.columns), index=index)
            frame["known"] = pd.DatetimeIndex(self.known.view("datetime64[ns]")).tz_localize("UTC")
            self._frame = frame
        return self._frame

    def on_grid(self, lo: int, hi: int, step_ns: int) -> bool:
        """Whether rows ``lo:hi`` are labelled on the ``step_ns`` grid since the epoch, one step apart.

        Such rows are their own bars at that interval: resampling them would give them back unchanged.
        """
        labels = self.labels[lo:hi]
        return bool(len(labels)) and not (labels % step_ns).any() and not (np.diff(labels) != step_ns).any()

    def bars_frame(self, lo: int, hi: int) -> pd.DataFrame:
        """Rows ``lo:hi`` as bars in the common OHLCV shape (``normalize_ohlcv``'s; the rows were checked when read)."""
        cols = self.columns
        index = pd.DatetimeIndex(self.labels[lo:hi].view("datetime64[ns]"), name="timestamp").tz_localize("UTC")
        return pd.DataFrame({c: cols[c][lo:hi] for c in OHLCV_COLUMNS}, index=index)

    def _as_lists(self) -> tuple[list[int], list[float], list[float], list[float], list[float]]:
        """``known``, bids, asks and sizes as Python lists (built on the first quote, for fast lookups).

        Bars become quotes around their close: ``close -/+ close * spread_bps / 2e4``, ``size`` on each side.
        """
        if self._lists is None:
            cols = self.columns
            if self.kind == "quotes":
                bids, asks = cols["bid"].tolist(), cols["ask"].tolist()
                bid_sizes, ask_sizes = cols["bid_size"].tolist(), cols["ask_size"].tolist()
            else:
                close = cols["close"]
                half = close * (self.spread_bps / 2e4)
                bids, asks = (close - half).tolist(), (close + half).tolist()
                bid_sizes = ask_sizes = [self.size] * len(close)
            self._lists = (self.known.tolist(), bids, asks, bid_sizes, ask_sizes)
        return self._lists

    def row_at(self, now_ns: int, known: list[int]) -> int:
        """The last row known at ``now_ns`` (-1 before the first); O(1) when time moved to the next row.

        ``known`` is ``self.known`` as a list (``_as_lists()[0]``).
        """
        last = self._last
        if last is not None:  # a replay steps forward: try the row after the last one served first
            i = last[0]
            n = len(known)
            if known[i] <= now_ns:
                if i + 1 == n or known[i + 1] > now_ns:
                    return i
                if i + 2 == n or known[i + 2] > now_ns:
                    return i + 1
        return bisect.bisect_right(known, now_ns) - 1


def _ns(when: datetime) -> int:
    """Nanoseconds since the Unix epoch of an aware datetime (exact)."""
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _when(ns: int) -> datetime:
    """The aware UTC datetime of ``ns`` nanoseconds since the epoch (to the microsecond)."""
    return _EPOCH + timedelta(microseconds=ns // 1_000)


def _read_table(path: Path) -> pa.Table:
    """The file as an arrow table; the symbol column dictionary-encoded while it is read (few distinct values)."""
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            symbol = [n for n in pa_parquet.read_schema(path).names if str(n).strip().lower() == "symbol"]
            return pa_parquet.read_table(path, read_dictionary=symbol)
        table = pa_csv.read_csv(
            path, convert_options=pa_csv.ConvertOptions(auto_dict_encode=True, auto_dict_max_cardinality=1 << 20)
        )
    except (pa.ArrowException, OSError, ValueError) as exc:  # parse errors, bad files
        raise DataProviderError(f"Replay file {path} cannot be read: {exc}") from exc
    for i, field in enumerate(table.schema):  # only the symbol and timestamp columns stay dictionary-encoded
        if pa.types.is_dictionary(field.type) and str(field.name).strip().lower() not in ("symbol", "timestamp"):
            table = table.set_column(i, field.name, table.column(i).cast(field.type.value_type))
    return table


def _filled(column: pa.ChunkedArray, missing: Any) -> np.ndarray:
    """``column`` as a numpy array, ``missing`` where it is null (no copy spent on filling when nothing is)."""
    return (column if column.null_count == 0 else column.fill_null(missing)).to_numpy()


def _times_ns(column: pa.ChunkedArray) -> np.ndarray:
    """Timestamps as int64 ns since the epoch, UTC (``_NAT`` where missing or unparseable), vectorised.

    Arrow timestamps (naive ones are UTC) and dates convert directly; numbers
    are Unix epoch times in s / ms / us / ns told apart by magnitude; text is
    parsed as ISO-8601 by arrow's vectorised parser, or pandas' if arrow's refuses
    a cell. A dictionary-encoded column (CSV text: many rows share a time) has
    only its distinct values converted, then spread to the rows.
    """
    kind = column.type
    if pa.types.is_dictionary(kind):
        encoded = column.unify_dictionaries().combine_chunks()
        distinct = _times_ns(pa.chunked_array([encoded.dictionary]))
        if encoded.null_count == 0:
            return distinct[encoded.indices.to_numpy(zero_copy_only=False)]
        out = distinct[encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)]
        out[encoded.is_null().to_numpy(zero_copy_only=False)] = _NAT
        return out
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        arr = column.cast(pa.timestamp("ns", tz="UTC") if pa.types.is_timestamp(kind) and kind.tz else pa.timestamp("ns"))
        return _filled(arr.cast(pa.int64()), _NAT)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        values = column.cast(pa.float64()).fill_null(np.nan).to_numpy()
        finite = np.isfinite(values)
        biggest = np.abs(values[finite]).max() if finite.any() else 0.0
        scale = 1e9 if biggest < 1e11 else 1e6 if biggest < 1e14 else 1e3 if biggest < 1e17 else 1.0
        if pa.types.is_integer(kind):  # exact integer arithmetic
            ints = column.cast(pa.int64()).fill_null(_NAT).to_numpy()
            out = ints * np.int64(int(scale)) if scale != 1.0 else ints.copy()
            out[ints == _NAT] = _NAT
            return out
        out = np.full(len(values), _NAT, dtype=np.int64)
        out[finite] = np.round(values[finite] * scale).astype(np.int64)
        return out
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:  # arrow's vectorised ISO-8601 parser; any unparseable cell sends the column to pandas below
            return _filled(column.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()), _NAT)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    parsed = pd.to_datetime(column.to_pandas(), utc=True, errors="coerce", format="ISO8601")
    return _as_ns(parsed.array.asi8, parsed.dt.unit)


#: nanoseconds per unit of a pandas datetime resolution
_NS_PER = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def _as_ns(ticks: np.ndarray, unit: str) -> np.ndarray:
    """int64 ``ticks`` of ``unit`` (pandas' resolution: pandas 3 parses text to microseconds) as nanoseconds.

    ``_NAT`` stays ``_NAT``; a time too far out for int64 nanoseconds (beyond 1677-2262) becomes ``_NAT``
    (an unparseable timestamp to the caller).
    """
    scale = _NS_PER[unit]
    if scale == 1:
        return ticks.copy()
    limit = np.iinfo(np.int64).max // scale
    bad = (ticks == _NAT) | (ticks > limit) | (ticks < -limit)
    out = np.where(bad, 0, ticks) * np.int64(scale)
    out[bad] = _NAT
    return out


def _numbers(table: pa.Table, name: str) -> np.ndarray:
    """Column ``name`` as float64 (NaN where missing or not a number); all NaN if the column is absent."""
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    column = table.column(name)
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_decimal(column.type):
        return _filled(column.cast(pa.float64()), np.nan)
    return pd.to_numeric(column.to_pandas(), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _symbols(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Row codes into a list of normalised symbols (stripped, upper-case); code -1 for a missing or empty one.

    Only the distinct values are normalised (dictionary encoding), not every row.
    """
    if pa.types.is_dictionary(column.type):
        encoded = column.unify_dictionaries().combine_chunks()
    else:
        encoded = pc.dictionary_encode(column.cast(pa.string())).combine_chunks()
    names = [str(v).strip().upper() if v is not None else "" for v in encoded.dictionary.to_pylist()]
    distinct = sorted({n for n in names if n})
    position = {n: i for i, n in enumerate(distinct)}
    remap = np.array([position.get(n, -1) for n in names] or [-1], dtype=np.int64)
    if encoded.null_count == 0:
        return remap[encoded.indices.to_numpy(zero_copy_only=False)], distinct
    raw_codes = encoded.indices.to_numpy(zero_copy_only=False)
    codes = np.where(encoded.is_null().to_numpy(zero_copy_only=False), -1, raw_codes).astype(np.int64)
    return np.where(codes >= 0, remap[np.maximum(codes, 0)], -1), distinct


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
        self._asset_classes = configured_asset_classes()
        cfg: ReplaySettings = section(
            "data.replay",
            {"path": None if path is None else str(path), "spread_bps": spread_bps, "size": size, "bar_time": bar_time},
        )
        self.spread_bps = cfg.spread_bps
        self.size = cfg.size
        self.bar_time = cfg.bar_time
        source = "keyword argument" if path is not None else f"in {config_path()}"
        key = "live_trading.data.replay.path"
        file = Path(cfg.path).expanduser() if cfg.path else None
        if file is None:
            raise ConfigError(
                f"{key} must name a CSV or Parquet file of quotes or bars to replay, got {cfg.path!r} ({source})"
            )
        if not file.name.lower().endswith(SUFFIXES):
            raise ConfigError(f"{key} must end in one of {', '.join(SUFFIXES)}, got {cfg.path!r} ({source})")
        if not file.is_file():
            raise ConfigError(f"{key} names no file: {cfg.path!r} ({source})")
        self.path: Path = file
        self.kind, self._series = self._load(self.path)
        logger.info("Replaying %s of %d symbol(s) from %s", self.kind, len(self._series), self.path)

    # -- loading ---------------------------------------------------------------
    def _load(self, path: Path) -> tuple[str, dict[str, _Series]]:
        table = _read_table(path)
        table = table.rename_columns([str(c).strip().lower() for c in table.column_names])
        kind = _check_columns(path, table.column_names)
        if table.num_rows == 0:
            raise DataProviderError(f"Replay file {path} has no rows")
        times = _times_ns(table.column("timestamp"))
        codes, names = _symbols(table.column("symbol"))
        prices = ("bid", "ask") if kind == "quotes" else ("open", "high", "low", "close")
        sizes = ("bid_size", "ask_size") if kind == "quotes" else ("volume",)
        cols = {c: _numbers(table, c) for c in (*prices, *sizes)}  # optional sizes: NaN means "not given"
        del table

        if not self._all_good(kind, times, codes, cols, prices, sizes):
            self._raise_bad_rows(path, self._problems(kind, times, codes, cols, prices, sizes))

        if kind == "quotes":
            for column in sizes:
                cols[column] = np.where(np.isnan(cols[column]), self.size, cols[column])
        else:
            volume = cols["volume"]  # checked above: NaN (not given) or finite and >= 0
            nan = np.isnan(volume)
            if nan.any():
                cols["volume"] = np.where(nan, 0.0, volume)
        # by symbol, then time, then file order: a stable sort by symbol is enough when each
        # symbol's rows are already in time order (the usual file); a full sort otherwise
        small = codes.astype(np.int16) if len(names) < 32_000 else codes  # 16-bit keys: numpy's radix sort
        order = np.argsort(small, kind="stable")
        sorted_times, sorted_codes = times[order], small[order]
        gaps = np.diff(sorted_times)
        new_symbol = sorted_codes[1:] != sorted_codes[:-1]
        if ((gaps < 0) & ~new_symbol).any():  # some symbol's rows are out of time order
            order = np.lexsort((np.arange(len(times)), times, codes))
            sorted_times, sorted_codes = times[order], small[order]
            gaps = np.diff(sorted_times)
            new_symbol = sorted_codes[1:] != sorted_codes[:-1]
        # two rows for one symbol and time: keep the later one in the file (the last of its run after sorting)
        repeated = (gaps == 0) & ~new_symbol
        if repeated.any():
            keep = np.ones(len(sorted_times), dtype=bool)
            keep[:-1] = ~repeated
            order = order[keep]
            sorted_codes, sorted_times = sorted_codes[keep], sorted_times[keep]
            new_symbol = sorted_codes[1:] != sorted_codes[:-1]
        codes, times = sorted_codes, sorted_times
        bounds = np.flatnonzero(new_symbol) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [len(codes)]])
        series = {}
        for first, last in zip(starts.tolist(), ends.tolist(), strict=True):
            series[names[int(codes[first])]] = self._series_of(kind, times[first:last], order[first:last], cols)
        return kind, series

    @staticmethod
    def _all_good(
        kind: str, times: np.ndarray, codes: np.ndarray, cols: dict[str, np.ndarray], prices: tuple[str, ...],
        sizes: tuple[str, ...],
    ) -> bool:
        """True when ``_problems`` would find nothing, checked with reductions (no mask per problem).

        False may still mean no problem: ``_problems`` then has the last word.
        """
        with np.errstate(invalid="ignore"):
            if times.min() == _NAT or codes.min() < 0:
                return False
            for column in prices:  # NaN makes min() NaN: not > 0
                values = cols[column]
                if not (values.min() > 0 and values.max() < np.inf):
                    return False
            if kind == "quotes":
                if (cols["bid"] > cols["ask"]).any():
                    return False
            else:
                o, h, lo, c = cols["open"], cols["high"], cols["low"], cols["close"]
                if (h < np.maximum(np.maximum(o, lo), c)).any() or (lo > np.minimum(o, c)).any():
                    return False
            for column in sizes:  # NaN (not given) is fine: fmin / fmax skip it (NaN if all are)
                values = cols[column]
                if np.fmin.reduce(values) < 0 or np.fmax.reduce(values) == np.inf:
                    return False
        return True

    @staticmethod
    def _problems(
        kind: str, times: np.ndarray, codes: np.ndarray, cols: dict[str, np.ndarray], prices: tuple[str, ...],
        sizes: tuple[str, ...],
    ) -> dict[str, np.ndarray]:
        """Each kind of bad row and the mask of the rows that have it."""
        with np.errstate(invalid="ignore"):
            problems = {"unparseable timestamp": times == _NAT, "empty symbol": codes < 0}
            for column in prices:
                values = cols[column]
                problems[f"{column} is not a positive number"] = ~((values > 0) & (values < np.inf))
            if kind == "quotes":
                problems["crossed quote (bid > ask)"] = cols["bid"] > cols["ask"]
            else:
                o, h, lo, c = cols["open"], cols["high"], cols["low"], cols["close"]
                problems["high below open, low or close"] = h < np.maximum(np.maximum(o, lo), c)
                problems["low above open or close"] = lo > np.minimum(o, c)
            for column in sizes:
                values = cols[column]
                problems[f"{column} is negative or infinite"] = ~np.isnan(values) & ~((values >= 0) & (values < np.inf))
        return problems

    @staticmethod
    def _raise_bad_rows(path: Path, problems: dict[str, np.ndarray]) -> None:
        lines = []
        for what, mask in problems.items():
            bad = np.flatnonzero(mask)
            if len(bad):
                rows = ", ".join(str(i + 1) for i in bad[:_SHOWN].tolist())
                more = ", ..." if len(bad) > _SHOWN else ""
                lines.append(f"{what} in row {rows}" if len(bad) == 1 else f"{what} in {len(bad)} rows: {rows}{more}")
        if lines:
            raise DataProviderError(
                f"Replay file {path} has bad rows (data rows counted from 1 after the header): " + "; ".join(lines)
            )

    def _series_of(self, kind: str, labels: np.ndarray, rows: np.ndarray, cols: dict[str, np.ndarray]) -> _Series:
        known = labels
        if kind == "bars" and self.bar_time == "start" and len(labels) > 1:
            known = np.empty_like(labels)
            known[:-1] = labels[1:]  # a bar's close is known when the next bar starts
            known[-1] = labels[-1] + int(np.median(np.diff(labels)))  # the last: one typical bar later
        return _Series(known=known, labels=labels, rows=rows, source=cols, kind=kind, spread_bps=self.spread_bps,
                       size=self.size)

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
        return _when(min(int(series.known[0]) for series in self._series.values()))

    @property
    def last_timestamp(self) -> datetime:
        return _when(max(int(series.known[-1]) for series in self._series.values()))

    def _series_for(self, sym: str) -> _Series:
        series = self._series.get(sym)
        if series is None:
            known = ", ".join(self.symbols[:10]) + (", ..." if len(self._series) > 10 else "")
            raise DataProviderError(f"No data for {sym} in replay file {self.path} (it has: {known})", symbol=sym)
        return series

    # -- quotes ----------------------------------------------------------------
    def _quote_at(self, symbol: str, now_ns: int) -> Quote:
        series = self._series.get(symbol)
        if series is None:
            sym = normalize_symbol(symbol)
            series = self._series_for(sym)
        else:
            sym = symbol
        known, bids, asks, bid_sizes, ask_sizes = series._lists or series._as_lists()
        i = series.row_at(now_ns, known)
        if i < 0:
            raise DataProviderError(
                f"No quote for {sym} at {_when(now_ns).isoformat()}: its replay data starts at "
                f"{_when(int(series.known[0])).isoformat()}",
                symbol=sym,
            )
        # intraday data follows the symbol's trading calendar; a daily bar is a session that traded
        market_open = series.daily or calendar.is_open(sym, _when(now_ns), self._asset_classes)
        last = series._last
        if last is not None and last[0] == i and last[1]["market_open"] is market_open:
            return last[1]  # the same row and session as last time: the same (read-only) quote
        bid, ask = bids[i], asks[i]
        if not bid > 0.0:  # rows were checked when the file was read; a huge spread_bps can still push the bid to 0
            raise InvalidQuoteError(f"Invalid quote for {sym}: bid {bid:g} must be > 0 (spread_bps too large)",
                                    symbol=sym)
        quote = Quote(symbol=sym, bid=bid, ask=ask, bid_size=bid_sizes[i], ask_size=ask_sizes[i],
                      timestamp=_when(known[i]), spread_bps=(ask - bid) / ((ask + bid) / 2.0) * 1e4,
                      market_open=market_open)
        series._last = (i, quote)
        return quote

    def _now_ns(self) -> int:
        return _ns(ensure_utc(self._clock(), "clock()"))

    def get_quote(self, symbol: str) -> Quote:
        """The latest row of ``symbol`` known at the clock's now, as a quote."""
        return self._quote_at(symbol, self._now_ns())

    def get_multiple_quotes(self, symbols: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Quotes for ``symbols`` at one clock reading; failures go to ``last_errors``."""
        now_ns = self._now_ns()
        return self._collect(symbols, lambda symbol: self._quote_at(symbol, now_ns))

    # -- history ---------------------------------------------------------------
    def get_historical(self, symbol: str, period: str = "1mo", interval: str = "1d") -> pd.DataFrame:
        """Bars from the file known at the clock's now, at ``interval``, over ``period``.

        Bars files give their own bars (resampled when ``interval`` differs
        from their spacing), labelled by the file's timestamps; quotes files
        give bars of their mid prices with volume 0, from the rows in the
        window. Resampled bars start on multiples of ``interval`` since the
        Unix epoch and are labelled by their start (the first may hold only
        the part of its span inside the window). ``period="max"`` covers the
        whole file. Empty if nothing falls in the window; ``DataProviderError``
        before the symbol's first row.
        """
        sym = normalize_symbol(symbol)
        series = self._series_for(sym)
        now = ensure_utc(self._clock(), "clock()")
        first_known = _when(int(series.known[0]))
        start, step = history_window(period, interval, now, earliest=first_known, intraday_limits=False)
        if first_known > now:
            raise DataProviderError(
                f"No history for {sym} at {now.isoformat()}: its replay data starts at {first_known.isoformat()}",
                symbol=sym,
            )
        frame = series.as_frame()
        rows = frame[(frame["known"] <= now) & (frame.index >= start)]
        return self._as_bars(rows, step, sym)

    def get_recent_bars(self, symbol: str, interval: str = "1d", count: int = 1) -> pd.DataFrame:
        """The last ``count`` bars known at the clock's now; the last one holds the current quote.

        What the loop's warm-up asks for. Whether the file labels bars by
        their start or their end, the last bar returned is the one whose
        close is the quote ``get_quote`` gives now (the loop adds that price
        itself and drops this bar), so the same bars labelled either way warm
        up to the same history.
        """
        sym = normalize_symbol(symbol)
        check_interval(interval)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise DataProviderError(f"count must be an integer >= 1, got {count!r}", symbol=sym)
        series = self._series_for(sym)
        now_ns = self._now_ns()
        end = int(np.searchsorted(series.known, now_ns, side="right"))
        if end == 0:
            raise DataProviderError(
                f"No history for {sym} at {_when(now_ns).isoformat()}: its replay data starts at "
                f"{_when(int(series.known[0])).isoformat()}",
                symbol=sym,
            )
        step = INTERVALS[interval]
        lo = max(0, end - count)
        if self.kind == "bars" and series.on_grid(lo, end, step // timedelta(microseconds=1) * 1_000):
            return series.bars_frame(lo, end)  # the file's own bars, as they are: nothing to resample
        frame = series.as_frame()
        if self.kind == "bars" and end >= 2 and int(np.median(np.diff(series.labels[:end]))) == step // timedelta(
            microseconds=1
        ) * 1_000:
            return self._as_bars(frame.iloc[max(0, end - count):end], step, sym)
        # other spacing, or quotes: resample what is known, the current quote's row closes the last bar
        bars = self._as_bars(frame.iloc[:end], step, sym, force_resample=True)
        return bars.iloc[-count:]

    def _as_bars(self, rows: pd.DataFrame, step: timedelta, sym: str, force_resample: bool = False) -> pd.DataFrame:
        if self.kind == "quotes":
            bars = ((rows["bid"] + rows["ask"]) / 2.0).resample(step, origin="epoch", label="left", closed="left").ohlc()
            bars["volume"] = 0.0
        else:
            bars = rows[list(OHLCV_COLUMNS)]
            spacing = bars.index.to_series().diff().median()
            if force_resample or len(bars) < 2 or spacing != step:
                bars = bars.resample(step, origin="epoch", label="left", closed="left").agg(
                    {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
                )
        return normalize_ohlcv(bars.dropna(subset=["close"]), sym)


__all__ = ["BAR_COLUMNS", "QUOTE_COLUMNS", "ReplayDataProvider"]
