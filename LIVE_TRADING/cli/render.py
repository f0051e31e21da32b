"""Output for the command line: rich tables on a terminal, JSON with ``--json``, one-line errors.

Results go to stdout; progress bars, warnings and errors to stderr. When
stdout is not a terminal (a pipe, a test) tables are drawn 140 columns wide
(or ``$COLUMNS``) so long order ids are not folded.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

PROG = "live-trading"


def _console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 140
    return console


def _json_default(obj: Any) -> Any:
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return str(obj)


def to_json(obj: Any) -> str:
    """``obj`` as JSON (datetimes as ISO-8601; NaN/inf as null)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(obj), default=_json_default, indent=2)


# -- formatting -----------------------------------------------------------------
def money(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{float(value):,.2f}"


def amount(value: Any, currency: str | None = None) -> str:
    """A fee or other amount: 2 decimals from 1 up, up to 8 significant digits below (crypto fees)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    v = float(value)
    text = f"{v:,.2f}" if abs(v) >= 1 or v == 0 else _small(v)
    return f"{text} {currency}" if currency else text


def _small(v: float, digits: int = 6) -> str:
    """A number below 1 in plain decimals (no exponent), up to ``digits`` significant digits."""
    if v == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(v))))
    if decimals > 20:
        return f"{v:.{digits}g}"
    return f"{v:.{decimals}f}".rstrip("0").rstrip(".")


def signed_money(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{float(value):+,.2f}"


def qty(value: Any) -> str:
    """Up to 4 decimals from 1 up, up to 8 below (crypto lots), trailing zeros dropped."""
    if value is None:
        return "-"
    v = float(value)
    text = f"{v:,.{4 if abs(v) >= 1 else 8}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def price(value: Any) -> str:
    """2 decimals from 1000 up, 4 from 1 up, up to 8 significant digits below."""
    if value is None:
        return "-"
    v = float(value)
    if abs(v) >= 1000:
        return f"{v:,.2f}"
    return f"{v:,.4f}" if abs(v) >= 1 else _small(v, 8)


def pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{float(value) * 100:.2f}%"


def when(value: Any) -> str:
    """A time as ``YYYY-MM-DD HH:MM:SS`` in UTC (tables say so in their headers)."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


# -- output ---------------------------------------------------------------------
#: ids longer than this are shortened in tables (``--wide`` and ``--json`` show them whole)
SHORT_ID_LEN = 12


def short_id(value: Any) -> str:
    """The last ``SHORT_ID_LEN - 1`` characters of a long id after an ellipsis (the part that differs).

    ``cancel`` accepts such a short id (any unique ending of an open order's id).
    """
    text = str(value)
    return text if len(text) <= SHORT_ID_LEN else "…" + text[-(SHORT_ID_LEN - 1):]


class Output:
    """Where a command's results go: tables (default) or JSON (``--json``).

    Tables fit the terminal (80 columns included): text columns wrap, id
    columns are never cut — long ids are shortened (``short_id``) unless
    ``wide`` (``--wide``).
    """

    def __init__(self, json_mode: bool = False, wide: bool = False) -> None:
        self.json_mode = json_mode
        self.wide = wide
        self.out = _console()
        self.err = _console(stderr=True)

    def json(self, obj: Any) -> None:
        sys.stdout.write(to_json(obj) + "\n")
        sys.stdout.flush()

    def table(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        title: str | None = None,
        right: Iterable[str] = (),
        no_wrap: Iterable[str] = (),
        ids: Iterable[str] = (),
    ) -> None:
        """Rows under ``columns``; columns empty ("-") in every row are left out.

        ``ids`` name id columns: shortened unless ``wide``, never wrapped nor cut.
        ``no_wrap`` columns (symbols, times) are kept whole too; the others wrap.
        """
        right_set, id_set = set(right), set(ids)
        no_wrap_set = set(no_wrap) | id_set
        cells = [[str(c) for c in row] for row in rows]
        if not self.wide:
            for i, col in enumerate(columns):
                if col in id_set:
                    for r in cells:
                        r[i] = short_id(r[i])
        keep = [i for i, _ in enumerate(columns) if not cells or any(r[i] not in ("-", "") for r in cells)]
        table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", title_style="bold",
                      collapse_padding=True, pad_edge=False, min_width=len(title or "") + 4)
        for i in keep:
            col = columns[i]
            whole = col in no_wrap_set
            longest = max([len(col)] + [len(r[i]) for r in cells]) if whole else None
            table.add_column(col, justify="right" if col in right_set else "left", no_wrap=whole,
                             min_width=longest, overflow="fold")
        for row in cells:
            table.add_row(*[row[i] for i in keep])
        self.out.print(table)

    def fields(self, pairs: Iterable[tuple[str, Any]], *, title: str | None = None) -> None:
        """A two-column table of ``(label, value)`` pairs."""
        table = Table(title=title, box=box.SIMPLE_HEAD, show_header=False, title_justify="left",
                      title_style="bold", min_width=len(title or "") + 4)
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        for label, value in pairs:
            table.add_row(label, str(value))
        self.out.print(table)

    def line(self, text: str = "") -> None:
        """One line of plain text, never wrapped (so it stays greppable)."""
        self.out.print(text, markup=False, soft_wrap=True)

    def note(self, text: str) -> None:
        """A remark on stderr (not part of the result)."""
        self.err.print(text, markup=False, soft_wrap=True)


def error_line(message: str) -> None:
    """The one line an error prints (stderr, never wrapped)."""
    text = " ".join(str(message).split())
    sys.stderr.write(f"{PROG}: error: {text}\n")
    sys.stderr.flush()


ORDER_COLUMNS = ("order_id", "status", "order", "type", "filled", "limit", "stop")


def order_row(o: Mapping[str, Any]) -> list[str]:
    filled = qty(o.get("filled_qty"))
    if o.get("fill_price") is not None:
        filled += f" @ {price(o.get('fill_price'))}"
    return [
        str(o.get("order_id")), str(o.get("status")), f"{o.get('side')} {qty(o.get('qty'))} {o.get('symbol')}",
        f"{o.get('order_type')} {o.get('time_in_force')}", filled, price(o.get("limit_price")),
        price(o.get("stop_price")),
    ]


def print_orders(out: Output, orders: Sequence[Mapping[str, Any]], title: str) -> None:
    """Orders as a table (one row each)."""
    out.table(ORDER_COLUMNS, [order_row(o) for o in orders], title=title,
              right=("filled", "limit", "stop"), ids=("order_id",))


def print_order(out: Output, o: Mapping[str, Any], title: str) -> None:
    """One order, one field per line."""
    out.fields(
        [
            ("order id", o.get("order_id")),
            ("client order id", o.get("client_order_id") or "-"),
            ("status", o.get("status")),
            ("order", f"{o.get('side')} {qty(o.get('qty'))} {o.get('symbol')} {o.get('order_type')}"
                      f" {str(o.get('time_in_force') or '').upper()}"),
            ("limit price", price(o.get("limit_price"))),
            ("stop price", price(o.get("stop_price"))),
            ("filled", f"{qty(o.get('filled_qty'))} at {price(o.get('fill_price'))}"),
            ("fee", amount(o.get("fee"))),
            ("created (UTC)", when(o.get("timestamp"))),
            ("venue", o.get("venue")),
        ],
        title=title,
    )


__all__ = ["PROG", "SHORT_ID_LEN", "Output", "amount", "error_line", "money", "order_row", "pct", "price", "print_order", "print_orders", "qty", "short_id", "to_json", "when"]
