"""What a run of the loop produced: ``RunResult`` (equity curve, orders, failures) and drawdown maths."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from LIVE_TRADING.common.constants import (
    STATUS_FILLED,
)


def max_drawdown(values: Iterable[float]) -> tuple[float, float]:
    """The largest peak-to-trough fall of ``values``: ``(fraction of the peak, amount)``."""
    peak = -math.inf
    worst_frac = worst_abs = 0.0
    for v in values:
        peak = max(peak, v)
        drop = peak - v
        if drop > worst_abs:
            worst_abs = drop
        if peak > 0 and drop / peak > worst_frac:
            worst_frac = drop / peak
    return worst_frac, worst_abs


def drawdowns(values: Sequence[float]) -> list[float]:
    """Drawdown at each point, as a fraction of the running peak (0 at a new high)."""
    out = []
    peak = -math.inf
    for v in values:
        peak = max(peak, v)
        out.append((peak - v) / peak if peak > 0 else 0.0)
    return out



def below_min_skip(symbol: str, side: str, qty: float, value: float, min_value: float, **extra: Any) -> dict[str, Any]:
    """The record of a trade not placed because it is worth less than ``min_trade_value``."""
    return {"symbol": symbol, "side": side, "qty": qty, "value": value, "min_trade_value": min_value,
            "reason": "trade value below min_trade_value", **extra}


class BoundedLog:
    """Counts items and keeps only the first ``head`` and the last ``tail`` of them (bounded memory).

    ``len()`` is the total count; iterating yields the kept items, first ones
    then last ones (``dropped`` of them in between are not kept).
    """

    __slots__ = ("count", "first", "head", "last")

    def __init__(self, head: int = 5, tail: int = 5) -> None:
        self.head = head
        self.count = 0
        self.first: list[dict[str, Any]] = []
        self.last: deque[dict[str, Any]] = deque(maxlen=tail)

    def add_below_min(self, symbol: str, side: str, qty: float, value: float, min_value: float, step: int) -> None:
        """Count a trade skipped as worth less than ``min_value``; its dict is built only if it is kept."""
        self.count += 1
        if len(self.first) < self.head:
            self.first.append(below_min_skip(symbol, side, qty, value, min_value, step=step))
        else:
            self.last.append((symbol, side, qty, value, min_value, step))  # type: ignore[arg-type]  # built when read

    def add_below_min_many(self, items: list[tuple[str, str, float, float, float, int]]) -> None:
        """``add_below_min(*item)`` for each of ``items`` in turn (``(symbol, side, qty, value, min_value, step)``)."""
        n = len(items)
        self.count += n
        start = min(max(self.head - len(self.first), 0), n)
        for symbol, side, qty, value, min_value, step in items[:start]:
            self.first.append(below_min_skip(symbol, side, qty, value, min_value, step=step))
        maxlen = self.last.maxlen
        self.last.extend(items[start:] if maxlen is None else items[max(start, n - maxlen):])  # type: ignore[arg-type]

    def append(self, item: dict[str, Any]) -> None:
        self.count += 1
        if len(self.first) < self.head:
            self.first.append(item)
        else:
            self.last.append(item)

    def extend(self, items: Iterable[dict[str, Any]], **extra: Any) -> None:
        """Count ``items`` and keep those that fall in the head or the tail; ``extra`` fields are added to the kept ones."""
        batch = items if isinstance(items, list) else list(items)
        n = len(batch)
        self.count += n
        room = self.head - len(self.first)
        start = 0
        if room > 0:
            start = min(room, n)
            kept = batch[:start]
            for item in kept:
                item.update(extra)
            self.first.extend(kept)
        maxlen = self.last.maxlen or 0
        tail = batch[max(start, n - maxlen):]
        for item in tail:
            item.update(extra)
        self.last.extend(tail)

    @property
    def dropped(self) -> int:
        """Items counted but not kept."""
        return self.count - len(self.first) - len(self.last)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        yield from self.first
        for item in self.last:
            if isinstance(item, tuple):
                symbol, side, qty, value, min_value, step = item
                yield below_min_skip(symbol, side, qty, value, min_value, step=step)
            else:
                yield item

    def __repr__(self) -> str:
        return f"BoundedLog(count={self.count}, kept={len(self.first) + len(self.last)})"


@dataclass
class RunResult:
    """What ``run_loop`` did. Money amounts are in the account currency.

    ``fees`` is the broker's total (paper: account currency) or the plain sum
    of the fills' fees; ``fees_by_currency`` splits the fills' fees by
    currency (Binance charges in the asset received or in BNB).
    ``equity_curve`` holds ``(time, equity)`` after each completed step;
    ``initial_equity`` is the value before the first trade. ``orders`` are the
    orders the loop placed; ``fills`` are the broker's fills since the run
    started (on a live account shared with other activity, those fills too).
    P&L and fees are the broker's (``get_account_summary``) when it reports
    them, else computed from ``fills`` as if the account had started flat.
    ``skipped`` (trades not placed: below ``min_trade_value``, no cash) counts
    them all (``len``) but keeps only the first and last few, each with its ``step``.
    """

    steps_requested: int
    steps_done: int = 0
    stop_reason: str = "completed"  # completed | interrupted | errors
    started_at: datetime | None = None
    ended_at: datetime | None = None
    initial_equity: float | None = None
    equity_curve: list[tuple[datetime, float]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    skipped: BoundedLog = field(default_factory=BoundedLog)
    failed: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    left_open: list[str] = field(default_factory=list)
    positions: dict[str, float] = field(default_factory=dict)
    position_details: dict[str, dict[str, Any]] | None = None
    cash: float | None = None
    fees: float = 0.0
    fees_by_currency: dict[str, float] = field(default_factory=dict)
    realized_pnl: float | None = None
    unrealized_pnl: float | None = None
    journal_path: str | None = None
    run_id: str | None = None

    @property
    def interrupted(self) -> bool:
        return self.stop_reason == "interrupted"

    @property
    def final_equity(self) -> float | None:
        return self.equity_curve[-1][1] if self.equity_curve else self.initial_equity

    def equity_values(self) -> list[float]:
        head = [self.initial_equity] if self.initial_equity is not None else []
        return head + [v for _, v in self.equity_curve]

    @property
    def max_drawdown(self) -> float:
        """Largest peak-to-trough fall of equity, as a fraction of the peak."""
        return max_drawdown(self.equity_values())[0]

    @property
    def max_drawdown_value(self) -> float:
        return max_drawdown(self.equity_values())[1]

    @property
    def total_return(self) -> float | None:
        if not self.initial_equity or self.final_equity is None:
            return None
        return self.final_equity / self.initial_equity - 1.0

    def count(self, status: str) -> int:
        return sum(1 for o in self.orders if o.get("status") == status)

    def summary(self) -> dict[str, Any]:
        """The headline numbers as a plain dict (what ``live-trading run`` prints)."""
        return {
            "stop_reason": self.stop_reason,
            "steps_done": self.steps_done,
            "steps_requested": self.steps_requested,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "orders": len(self.orders),
            "orders_filled": self.count(STATUS_FILLED),
            "orders_failed": len(self.failed),
            "trades_skipped": len(self.skipped),
            "fills": len(self.fills),
            "fees": self.fees,
            "fees_by_currency": dict(self.fees_by_currency),
            "realized_pnl": self.realized_pnl,
            "unrealized_pnl": self.unrealized_pnl,
            "initial_equity": self.initial_equity,
            "final_equity": self.final_equity,
            "total_return": self.total_return,
            "max_drawdown": self.max_drawdown,
            "max_drawdown_value": self.max_drawdown_value,
            "cash": self.cash,
            "positions": dict(self.positions),
            "cancelled_on_exit": list(self.cancelled),
            "left_open": list(self.left_open),
            "errors": len(self.errors),
            "journal_path": self.journal_path,
            "run_id": self.run_id,
        }


@dataclass(frozen=True)
class StepInfo:
    """Passed to ``on_step`` after each completed step."""

    step: int  # 1-based
    steps: int
    timestamp: datetime
    equity: float
    orders: int  # orders placed in this step
    failed: int
    error: str | None = None

