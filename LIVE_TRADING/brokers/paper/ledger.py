"""Cash, positions and P&L: the one implementation of the position maths.

``Position.apply`` is the only place where average cost and realized P&L are
computed; the paper broker, the pipeline's P&L from fills and reports all use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from LIVE_TRADING.common.constants import QTY_EPSILON, SIDE_BUY


class Position:
    """One symbol's signed quantity, average cost, realized P&L and fees paid."""

    __slots__ = ("avg_cost", "fees", "qty", "realized_pnl")

    def __init__(self) -> None:
        self.qty = 0.0
        self.avg_cost = 0.0
        self.realized_pnl = 0.0
        self.fees = 0.0

    def apply(self, is_buy: bool, qty: float, price: float, fee: float) -> None:
        """Average cost and realized P&L after a fill (reductions and flips realize)."""
        held = self.qty
        self.fees += fee
        if held == 0.0 or (held > 0) == is_buy:  # opening or adding (the common case: kept lean)
            size = held if held >= 0.0 else -held  # abs(held)
            self.avg_cost = (size * self.avg_cost + qty * price) / (size + qty)
            self.qty = held + qty if is_buy else held - qty
            return
        closing = min(qty, abs(held))
        self.realized_pnl += closing * (price - self.avg_cost) * (1.0 if held > 0 else -1.0)
        self.qty = held + qty if is_buy else held - qty
        if abs(self.qty) <= QTY_EPSILON:
            self.qty = 0.0
            self.avg_cost = 0.0
        elif (self.qty > 0) != (held > 0):  # flipped: the rest opens at this price
            self.avg_cost = price



def pnl_from_fills(fills: Iterable[Mapping[str, Any]], marks: Mapping[str, float]) -> dict[str, Any]:
    """Average-cost P&L of a list of fills, as if the account started flat.

    Returns ``realized_pnl``, ``unrealized_pnl`` (open quantity at ``marks``;
    symbols without a mark count 0), ``fees`` (their plain sum),
    ``fees_by_currency`` and ``positions``. Used for venues that do not report
    P&L themselves (``get_account_summary``) and by reports. Fees are not
    netted into the quantities: a venue that charges the fee in the asset
    bought (Binance) leaves slightly less in the account than ``positions`` says.
    """
    book: dict[str, Position] = {}
    by_currency: dict[str, float] = {}
    for f in fills:
        fee = float(f.get("fee") or 0.0)
        currency = str(f.get("fee_currency") or "")
        by_currency[currency] = by_currency.get(currency, 0.0) + fee
        pos = book.get(f["symbol"])
        if pos is None:
            pos = book[f["symbol"]] = Position()
        pos.apply(f["side"] == SIDE_BUY, float(f["qty"]), float(f["fill_price"]), fee)
    return {
        "realized_pnl": sum(p.realized_pnl for p in book.values()),
        "unrealized_pnl": sum((marks[s] - p.avg_cost) * p.qty for s, p in book.items() if p.qty and s in marks),
        "fees": sum(p.fees for p in book.values()),
        "fees_by_currency": by_currency,
        "positions": {s: p.qty for s, p in book.items() if p.qty},
    }


__all__ = ["Position", "pnl_from_fills"]
