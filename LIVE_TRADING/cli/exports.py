"""``fills`` and ``orders`` exports: ``--format table|csv|json|parquet [--output FILE] [--since T]``.

The rows come from ``broker.fills_frame()`` / ``broker.orders_frame()``
(typed DataFrames, ``LIVE_TRADING.monitoring.exports``). ``table`` prints
the usual table; ``csv`` and ``json`` go to stdout or ``--output``;
``parquet`` is binary and needs ``--output``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from LIVE_TRADING.cli.errors import UsageError
from LIVE_TRADING.cli.render import Output

if TYPE_CHECKING:
    import pandas as pd

EXPORT_FORMATS = ("table", "csv", "json", "parquet")


def add_export_options(parser: argparse.ArgumentParser, *, since: bool) -> None:
    """Add ``--format``, ``--output`` (and ``--since``) to a listing command."""
    parser.add_argument("--format", dest="fmt", choices=EXPORT_FORMATS, default=None,
                        help="table (default), csv, json or parquet (parquet needs --output)")
    parser.add_argument("--output", metavar="FILE", help="write the export to FILE instead of stdout")
    if since:
        parser.add_argument("--since", metavar="ISO",
                            help="only rows at or after this time (ISO-8601; no offset: UTC)")


def export_format(args: argparse.Namespace, out: Output) -> str:
    """The format asked for (``--json`` alone means json); checks ``--output`` against it."""
    fmt = getattr(args, "fmt", None) or ("json" if out.json_mode else "table")
    output = getattr(args, "output", None)
    if fmt == "parquet" and not output:
        raise UsageError("--format parquet writes a binary file: give --output FILE")
    if output:
        if fmt == "table":
            raise UsageError("--output needs --format csv, json or parquet")
        parent = Path(output).expanduser().parent
        if not parent.is_dir():
            raise UsageError(f"--output: directory {str(parent)!r} does not exist")
    return fmt


def write_export(frame: pd.DataFrame, fmt: str, args: argparse.Namespace, out: Output, what: str) -> int:
    """Write ``frame`` as ``fmt`` to ``--output`` or stdout; returns the exit code (0)."""
    from LIVE_TRADING.monitoring.exports import frame_bytes

    data = frame_bytes(frame, fmt)
    if args.output:
        path = Path(args.output).expanduser()
        path.write_bytes(data)
        out.note(f"{len(frame)} {what} written to {path} ({fmt})")
    else:
        sys.stdout.write(data.decode("utf-8"))
        sys.stdout.flush()
    return 0


__all__ = ["EXPORT_FORMATS", "add_export_options", "export_format", "write_export"]
