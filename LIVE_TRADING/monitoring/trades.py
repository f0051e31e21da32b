"""Replay fills through the ledger: positions and cash over time, round-trip trades, per-symbol P&L.

All position maths (average cost, realized P&L) is ``Position.apply`` of
``LIVE_TRADING.brokers.paper.ledger``, the one implementation; this module
only walks fills in time order and records what the ledger says.

Round trips
-----------
A round trip runs per symbol **from flat to flat**: it opens with the fill
that takes the position away from zero and closes with the fill that brings
it back to zero. In between:

* adding to the position stays in the same trip;
* a **partial close** stays in the same trip; its realized P&L (the ledger's,
  against the average cost at that moment) is added to the trip's;
* a **flip** (one fill that crosses zero, e.g. SELL 15 while long 10) closes
  the trip with the part that reaches zero and opens a new trip, in the other
  direction, with the rest at the fill's price. The fill's fee is split
  between the two trips in proportion to quantity (10/15 and 5/15 here).

A trip's ``gross_pnl`` is the ledger's realized P&L over the trip, ``fees``
the fees of its fills, ``pnl = gross_pnl - fees``; ``entry_price`` and
``exit_price`` are the quantity-weighted averages of its opening and closing
fills; ``return_pct`` is ``pnl`` over the entry notional. A trip still open
at the end is not a round trip (its P&L shows as unrealized per symbol).

Equity at a time ``t`` is cash after the fills at or before ``t`` plus every
position marked at the latest price observed at or before ``t``: a price
from the price table, or the symbol's latest fill price when that is more
recent (so a position is never unpriced).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from LIVE_TRADING.brokers.paper.ledger import Position
from LIVE_TRADING.common.constants import QTY_EPSILON, SIDE_BUY

TRADE_COLUMNS = ("symbol", "direction", "opened_at", "closed_at", "duration", "qty", "entry_price",
                 "exit_price", "gross_pnl", "fees", "pnl", "return_pct")
SYMBOL_COLUMNS = ("symbol", "fills", "traded_notional", "qty", "last_price", "realized_pnl",
                  "unrealized_pnl", "fees", "pnl", "round_trips")


@dataclass
class _Trip:
    symbol: str
    direction: str
    opened_at: datetime
    entry_qty: float = 0.0
    entry_notional: float = 0.0
    exit_qty: float = 0.0
    exit_notional: float = 0.0
    gross_pnl: float = 0.0
    fees: float = 0.0

    def row(self, closed_at: datetime) -> dict[str, Any]:
        pnl = self.gross_pnl - self.fees
        return {
            "symbol": self.symbol, "direction": self.direction, "opened_at": self.opened_at,
            "closed_at": closed_at, "duration": closed_at - self.opened_at, "qty": self.entry_qty,
            "entry_price": self.entry_notional / self.entry_qty,
            "exit_price": self.exit_notional / self.exit_qty if self.exit_qty else float("nan"),
            "gross_pnl": self.gross_pnl, "fees": self.fees, "pnl": pnl,
            "return_pct": pnl / self.entry_notional if self.entry_notional else float("nan"),
        }


@dataclass
class Point:
    """The account at one time of the grid."""

    time: datetime
    cash: float
    equity: float
    gross: float  # sum of |position value|
    positions: dict[str, float]


@dataclass
class Replay:
    """What ``replay_fills`` found."""

    points: list[Point]
    trades: pd.DataFrame
    per_symbol: pd.DataFrame
    fees: float
    slippage: float | None
    traded_notional: float
    n_fills: int
    last_prices: dict[str, float] = field(default_factory=dict)


def slippage_cost(fill: Mapping[str, Any]) -> float | None:
    """What a fill's slippage cost, in money (None when the fill carries no ``slippage_bps``).

    Paper fills record ``slippage_bps`` against the reference price ``ref``
    (ask for a BUY, bid for a SELL): a BUY filled at ``ref * (1 + b)`` cost
    ``qty * (price - ref) = notional * b / (1 + b)``, a SELL filled at
    ``ref * (1 - b)`` cost ``qty * (ref - price) = notional * b / (1 - b)``.
    """
    bps = fill.get("slippage_bps")
    if bps is None:
        return None
    b = float(bps) / 1e4
    notional = float(fill.get("notional") or float(fill["qty"]) * float(fill["fill_price"]))
    return notional * b / (1.0 + b) if fill["side"] == SIDE_BUY else notional * b / (1.0 - b)


def _price_index(observations: Mapping[str, Sequence[tuple[datetime, float]]]) -> dict[str, tuple[list, list]]:
    out = {}
    for sym, obs in observations.items():
        ordered = sorted(obs, key=lambda o: o[0])
        out[sym] = ([t for t, _ in ordered], [p for _, p in ordered])
    return out


def price_at(index: Mapping[str, tuple[list, list]], symbol: str, when: datetime) -> float | None:
    """The latest observed price of ``symbol`` at or before ``when`` (None if none)."""
    series = index.get(symbol)
    if series is None:
        return None
    i = bisect.bisect_right(series[0], when)
    return series[1][i - 1] if i else None


def replay_fills(
    fills: Iterable[Mapping[str, Any]],
    initial_cash: float,
    grid: Sequence[datetime],
    prices: Mapping[str, Sequence[tuple[datetime, float]]] | None = None,
) -> Replay:
    """Walk ``fills`` (any order; sorted by time here) through the ledger; value the account at ``grid``.

    ``prices`` maps a symbol to ``(time, price)`` observations (when the
    price was known). Fill prices are observations too (see the module
    docstring). The first grid point is the opening value: fills at exactly
    that time show from the second point on. Fills after the last grid time
    still count in trades and per-symbol figures.
    """
    ordered = sorted(fills, key=lambda f: f["timestamp"])
    observations: dict[str, list[tuple[datetime, float]]] = {s: list(o) for s, o in (prices or {}).items()}
    for f in ordered:
        observations.setdefault(f["symbol"], []).append((f["timestamp"], float(f["fill_price"])))
    index = _price_index(observations)

    book: dict[str, Position] = {}
    trips: dict[str, _Trip] = {}
    closed: list[dict[str, Any]] = []
    stats: dict[str, dict[str, float]] = {}
    cash = float(initial_cash)
    slip_total: float | None = None
    fees = notional_total = 0.0
    points: list[Point] = []
    fi = 0
    grid = sorted(grid)

    def value(when: datetime) -> Point:
        equity, gross, held = cash, 0.0, {}
        for sym, pos in book.items():
            if pos.qty:
                mark = price_at(index, sym, when)
                mv = pos.qty * (mark if mark is not None else pos.avg_cost)
                equity += mv
                gross += abs(mv)
                held[sym] = pos.qty
        return Point(when, cash, equity, gross, held)

    for i, when in enumerate([*grid, None]):
        # the first point is the opening value: fills at exactly that time count from the next point
        while fi < len(ordered) and (when is None or ordered[fi]["timestamp"] < when
                                     or (i and ordered[fi]["timestamp"] == when)):
            f = ordered[fi]
            fi += 1
            sym, is_buy = f["symbol"], f["side"] == SIDE_BUY
            qty, price, fee = float(f["qty"]), float(f["fill_price"]), float(f.get("fee") or 0.0)
            notional = qty * price
            cash += -(notional + fee) if is_buy else notional - fee
            fees += fee
            notional_total += notional
            slip = slippage_cost(f)
            if slip is not None:
                slip_total = (slip_total or 0.0) + slip
            s = stats.setdefault(sym, {"fills": 0, "traded_notional": 0.0, "round_trips": 0})
            s["fills"] += 1
            s["traded_notional"] += notional
            pos = book.setdefault(sym, Position())
            held, realized = pos.qty, pos.realized_pnl
            pos.apply(is_buy, qty, price, fee)
            _track_trip(trips, closed, stats, f, held, pos.qty, pos.realized_pnl - realized, qty, price, fee)
        if when is not None:
            points.append(value(when))

    per_symbol = []
    for sym in sorted(book):
        pos = book[sym]
        last = price_at(index, sym, grid[-1]) if grid else None
        if last is None:
            last = index[sym][1][-1]
        unreal = (last - pos.avg_cost) * pos.qty if pos.qty else 0.0
        per_symbol.append({
            "symbol": sym, "fills": int(stats[sym]["fills"]), "traded_notional": stats[sym]["traded_notional"],
            "qty": pos.qty, "last_price": last, "realized_pnl": pos.realized_pnl, "unrealized_pnl": unreal,
            "fees": pos.fees, "pnl": pos.realized_pnl + unreal - pos.fees,
            "round_trips": int(stats[sym]["round_trips"]),
        })
    trades = pd.DataFrame(closed, columns=list(TRADE_COLUMNS))
    if not closed:
        trades = trades.astype({"qty": "float64", "gross_pnl": "float64", "fees": "float64", "pnl": "float64"})
    return Replay(points, trades, pd.DataFrame(per_symbol, columns=list(SYMBOL_COLUMNS)), fees, slip_total,
                  notional_total, len(ordered), {s: index[s][1][-1] for s in index})


def _track_trip(trips: dict[str, _Trip], closed: list[dict[str, Any]], stats: dict[str, dict[str, float]],
                f: Mapping[str, Any], held: float, now_qty: float, realized: float, qty: float, price: float,
                fee: float) -> None:
    """Update the open round trip of ``f``'s symbol (see the module docstring)."""
    sym, when, is_buy = f["symbol"], f["timestamp"], f["side"] == SIDE_BUY
    trip = trips.get(sym)
    if trip is None or held == 0.0:
        trip = trips[sym] = _Trip(sym, "long" if is_buy else "short", when)
    if held == 0.0 or (held > 0) == is_buy:  # opening or adding
        trip.entry_qty += qty
        trip.entry_notional += qty * price
        trip.fees += fee
        return
    closing = min(qty, abs(held))
    share = closing / qty
    trip.exit_qty += closing
    trip.exit_notional += closing * price
    trip.gross_pnl += realized
    trip.fees += fee * share
    if abs(now_qty) > QTY_EPSILON and (now_qty > 0) == (held > 0):
        return  # partial close: the trip goes on
    closed.append(trip.row(when))
    stats[sym]["round_trips"] += 1
    del trips[sym]
    if now_qty != 0.0:  # flipped: the rest opens a new trip at this price
        rest = abs(now_qty)
        trips[sym] = _Trip(sym, "long" if now_qty > 0 else "short", when, rest, rest * price,
                           fees=fee * (1.0 - share))


__all__ = ["SYMBOL_COLUMNS", "TRADE_COLUMNS", "Point", "Replay", "price_at", "replay_fills", "slippage_cost"]
