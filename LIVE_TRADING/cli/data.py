"""``live-trading data fetch``: download historical bars from the configured data provider.

::

    live-trading data fetch AAPL MSFT --period 1y --bar 1d --format parquet --output bars.parquet
    live-trading data fetch BTCUSDT --period 5d --bar 1h > btc.csv

The provider is ``live_trading.data.provider`` (``sim``, ``replay``,
``yfinance``, ``binance``, ``ibkr``), or ``--provider NAME``. One row per bar:
``timestamp`` (UTC), ``symbol``, ``open``, ``high``, ``low``, ``close``,
``volume``, symbols in the order given, each oldest first. ``csv`` (default)
and ``json`` go to stdout or ``--output``; ``parquet`` needs ``--output``.

On a terminal a progress bar with an ETA counts the symbols
(``cli/progress.py``); piped, nothing but the data is printed. Symbols the
provider does not know are refused before anything is fetched (exit 2); a
symbol whose download fails is named on stderr, the others are still written,
and the command exits 1.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from CONFIG.schema import BARS
from LIVE_TRADING.cli.errors import EXIT_FAILURE, EXIT_OK, UsageError
from LIVE_TRADING.cli.render import Output, error_line

if TYPE_CHECKING:  # pandas and the providers load when the command runs, not with the command line
    import pandas as pd

DATA_FORMATS = ("csv", "json", "parquet")
COLUMNS = ("timestamp", "symbol", "open", "high", "low", "close", "volume")


def add_data_parser(add: Callable[..., argparse.ArgumentParser], common: argparse.ArgumentParser,
                    parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``data fetch`` to the command line (``add`` makes a top-level command)."""
    data = add("data", "download historical bars from the data provider (progress bar on a terminal)")
    sub = data.add_subparsers(dest="data_command", metavar="fetch", parser_class=parser_class, required=True)
    fetch = sub.add_parser("fetch", parents=[common], help="download OHLCV bars of symbols to CSV, JSON or Parquet",
                           description="Download OHLCV bars of SYMBOLs from the data provider "
                           "(live_trading.data.provider, or --provider): one row per bar (timestamp, symbol, "
                           "open, high, low, close, volume). A progress bar with an ETA on a terminal; piped, "
                           "only the data.")
    fetch.add_argument("symbols", nargs="+", metavar="SYMBOL", type=lambda s: s.strip().upper())
    fetch.add_argument("--period", default="1mo", metavar="P",
                       help="how far back: 1d, 5d, 1mo, 3mo, 6mo, 1y, 2y, 5y, 10y, ytd, max (default 1mo)")
    fetch.add_argument("--bar", choices=BARS, default="1d", help="bar length (default 1d)")
    fetch.add_argument("--provider", metavar="NAME", help="data provider (default: live_trading.data.provider)")
    fetch.add_argument("--format", dest="fmt", choices=DATA_FORMATS, default=None,
                       help="csv (default), json or parquet (parquet needs --output)")
    fetch.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")


def _check_output(args: argparse.Namespace, out: Output) -> str:
    fmt = args.fmt or ("json" if out.json_mode else "csv")
    if fmt == "parquet" and not args.output:
        raise UsageError("--format parquet writes a binary file: give --output FILE")
    if args.output:
        parent = Path(args.output).expanduser().parent
        if not parent.is_dir():
            raise UsageError(f"--output: directory {str(parent)!r} does not exist")
    return fmt


def _symbols(raw: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for sym in raw:
        if not sym:
            raise UsageError("symbols must not be empty")
        seen.setdefault(sym, None)
    return list(seen)


def _open_provider(name: str | None) -> Any:
    from LIVE_TRADING.data.provider import get_data_provider

    try:
        return get_data_provider(name)
    except ValueError as exc:
        raise UsageError(f"--provider: {exc}") from None


def bars_frame(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One long frame (``COLUMNS``) from ``{symbol: OHLCV frame}``, symbols in the given order."""
    import pandas as pd

    parts = []
    for sym, frame in frames.items():
        part = frame.reset_index()
        part.insert(1, "symbol", sym)
        parts.append(part[list(COLUMNS)])
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in COLUMNS})
    return pd.concat(parts, ignore_index=True)


def cmd_data(args: argparse.Namespace, out: Output, venue: str) -> int:
    """``data fetch``: the bars of every symbol, written in one file (or to stdout)."""
    from LIVE_TRADING.cli.exports import write_export
    from LIVE_TRADING.cli.progress import progress_bar
    from LIVE_TRADING.common.exceptions import DataProviderError, UnknownSymbolError
    from LIVE_TRADING.data.provider import check_period, require_known

    fmt = _check_output(args, out)
    symbols = _symbols(args.symbols)
    try:
        check_period(args.period)
    except DataProviderError as exc:
        raise UsageError(f"--period: {exc}") from None
    provider = _open_provider(args.provider)
    try:
        for sym in symbols:
            try:
                require_known(provider, sym)
            except UnknownSymbolError as exc:
                raise UsageError(f"{exc.reason}") from None
        frames: dict[str, pd.DataFrame] = {}
        failed: dict[str, str] = {}
        with progress_bar(out, len(symbols), "fetch", redraw_each=True) as update:
            for n, sym in enumerate(symbols):
                update(n, sym)
                try:
                    frames[sym] = provider.get_historical(sym, period=args.period, interval=args.bar)
                except DataProviderError as exc:
                    failed[sym] = str(exc)
                update(n + 1, sym)
    finally:
        provider.close()
    frame = bars_frame(frames)
    write_export(frame, fmt, args, out, f"bars of {len(frames)} symbol(s)")
    for sym, message in failed.items():
        error_line(f"{sym}: no bars: {message}")
    return EXIT_FAILURE if failed else EXIT_OK


__all__ = ["COLUMNS", "DATA_FORMATS", "add_data_parser", "bars_frame", "cmd_data"]
