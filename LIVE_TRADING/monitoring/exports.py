"""Fills and orders as typed pandas DataFrames, and writing / reading them as CSV, JSON or Parquet.

``fills_frame(fills)`` and ``orders_frame(orders)`` are pure functions of the
plain dicts every broker returns (``Fill`` / ``OrderResult`` in
``LIVE_TRADING.brokers.interface``); ``broker.fills_frame()`` and
``broker.orders_frame()`` call them on every venue. Columns are typed the same
way whatever the venue:

* times: ``datetime64[ns, UTC]``;
* money, prices and quantities: ``float64`` (a missing value is ``NaN``:
  ``fill_price`` of an order that has not filled, ``slippage_bps`` on a live venue);
* ``side``, ``status``, ``order_type``, ``time_in_force``, ``liquidity``:
  ``category`` with the full vocabulary as categories (so two frames always agree);
* ids, symbols, currencies, venue: pandas ``string`` (missing is ``<NA>``).

``write_frame(frame, fmt, path)`` writes ``csv`` (ISO-8601 times with
``+00:00``), ``json`` (a list of records, ISO-8601 times) or ``parquet``
(needs pyarrow); ``read_frame(path, fmt, kind)`` reads such a file back
with the same dtypes, so an export round-trips exactly.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from LIVE_TRADING.common.constants import ORDER_STATUSES, ORDER_TYPES, SIDES, TIME_IN_FORCE
from LIVE_TRADING.common.exceptions import ConfigError

Kind = Literal["fills", "orders"]
FORMATS = ("table", "csv", "json", "parquet")
FILE_FORMATS = ("csv", "json", "parquet")

_LIQUIDITY = ("maker", "taker")

#: column -> dtype kind: "time", "float", "string" or a tuple of categories
FILL_COLUMNS: dict[str, Any] = {
    "timestamp": "time",
    "fill_id": "string",
    "order_id": "string",
    "symbol": "string",
    "side": SIDES,
    "qty": "float",
    "fill_price": "float",
    "notional": "float",
    "fee": "float",
    "fee_currency": "string",
    "venue": "string",
    "slippage_bps": "float",
    "fee_bps": "float",
    "liquidity": _LIQUIDITY,
}
ORDER_COLUMNS: dict[str, Any] = {
    "timestamp": "time",
    "order_id": "string",
    "client_order_id": "string",
    "symbol": "string",
    "side": SIDES,
    "order_type": ORDER_TYPES,
    "time_in_force": TIME_IN_FORCE,
    "status": ORDER_STATUSES,
    "qty": "float",
    "filled_qty": "float",
    "fill_price": "float",
    "fee": "float",
    "limit_price": "float",
    "stop_price": "float",
    "venue": "string",
}
SCHEMAS: dict[str, dict[str, Any]] = {"fills": FILL_COLUMNS, "orders": ORDER_COLUMNS}


def _float(value: Any) -> float:
    if value is None or value == "":
        return math.nan
    return float(value)


def _typed(frame: pd.DataFrame, schema: Mapping[str, Any]) -> pd.DataFrame:
    """``frame`` with exactly ``schema``'s columns, in order, each cast to its dtype."""
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for col, kind in schema.items():
        values = frame[col] if col in frame.columns else pd.Series([None] * len(frame), dtype=object)
        values = values.reset_index(drop=True)
        if kind == "time":
            out[col] = pd.to_datetime(values, utc=True, format="ISO8601").astype("datetime64[ns, UTC]")
        elif kind == "float":
            out[col] = pd.Series([_float(v) for v in values], dtype="float64")
        elif kind == "string":
            out[col] = pd.Series([None if _missing(v) else str(v) for v in values], dtype="string")
        else:
            cats = list(kind)
            clean = [None if _missing(v) else str(v) for v in values]
            unknown = sorted({v for v in clean if v is not None and v not in cats})
            out[col] = pd.Categorical(clean, categories=cats + unknown)
    return out


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _frame(rows: Iterable[Mapping[str, Any]], kind: Kind) -> pd.DataFrame:
    schema = SCHEMAS[kind]
    records = [dict(r) for r in rows]
    raw = pd.DataFrame.from_records(records, columns=list(schema)) if records else pd.DataFrame(columns=list(schema))
    return _typed(raw, schema)


def fills_frame(fills: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The fills (``Fill`` dicts, oldest first) as a typed DataFrame, one row each, in the given order."""
    return _frame(fills, "fills")


def orders_frame(orders: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The orders (``OrderResult`` dicts) as a typed DataFrame, one row each, in the given order."""
    return _frame(orders, "orders")


def since_filter(frame: pd.DataFrame, since: datetime | None) -> pd.DataFrame:
    """The rows of ``frame`` whose ``timestamp`` is at or after ``since`` (all rows when None)."""
    if since is None:
        return frame
    cut = pd.Timestamp(since)
    cut = cut.tz_localize("UTC") if cut.tzinfo is None else cut.tz_convert("UTC")
    return frame[frame["timestamp"] >= cut].reset_index(drop=True)


def check_format(fmt: str) -> str:
    """``fmt`` lower-cased if it is one of ``FORMATS``, else ``ConfigError`` naming the allowed ones."""
    name = str(fmt).strip().lower()
    if name not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r} (allowed: {', '.join(FORMATS)})")
    return name


def frame_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """``frame`` encoded as ``csv``, ``json`` (records) or ``parquet``."""
    fmt = check_format(fmt)
    if fmt == "csv":
        return frame.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S.%f+00:00").encode("utf-8")
    if fmt == "json":
        return (json.dumps(frame_records(frame), indent=2, allow_nan=False) + "\n").encode("utf-8")
    if fmt == "parquet":
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        return buf.getvalue()
    raise ConfigError(f"format {fmt!r} is not a file format (allowed: {', '.join(FILE_FORMATS)})")


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as JSON-ready dicts: ISO-8601 times, ``None`` for missing, exact floats."""
    out = []
    for row in frame.astype(object).itertuples(index=False):
        rec: dict[str, Any] = {}
        for col, value in zip(frame.columns, row, strict=True):
            if _missing(value) or value is pd.NaT:
                rec[col] = None
            elif isinstance(value, pd.Timestamp):
                rec[col] = value.isoformat()
            elif isinstance(value, float):
                rec[col] = value
            else:
                rec[col] = str(value)
        out.append(rec)
    return out


def write_frame(frame: pd.DataFrame, fmt: str, path: str | Path) -> Path:
    """Write ``frame`` to ``path`` as ``csv``, ``json`` or ``parquet``; returns the path."""
    data = frame_bytes(frame, fmt)
    out = Path(path)
    out.write_bytes(data)
    return out


def read_frame(path: str | Path, fmt: str, kind: Kind) -> pd.DataFrame:
    """Read back what ``write_frame`` wrote, with the dtypes of ``fills_frame`` / ``orders_frame``."""
    fmt = check_format(fmt)
    schema = SCHEMAS[kind]
    if fmt == "parquet":
        raw = pd.read_parquet(path)
    elif fmt == "csv":
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    elif fmt == "json":
        with open(path, encoding="utf-8") as fh:
            records = json.load(fh)
        raw = pd.DataFrame.from_records(records, columns=list(schema)) if records else pd.DataFrame()
    else:
        raise ConfigError(f"format {fmt!r} is not a file format (allowed: {', '.join(FILE_FORMATS)})")
    if raw.empty and not len(raw.columns):
        raw = pd.DataFrame(columns=list(schema))
    return _typed(raw, schema)


__all__ = [
    "FILE_FORMATS",
    "FILL_COLUMNS",
    "FORMATS",
    "ORDER_COLUMNS",
    "check_format",
    "fills_frame",
    "frame_bytes",
    "frame_records",
    "orders_frame",
    "read_frame",
    "since_filter",
    "write_frame",
]
