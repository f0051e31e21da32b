"""Account figures for monitoring, read from the journal: the one place monitoring reads it.

``account_figures(log_dir, marks)`` replays the journal of an account (read
only: no lock taken, nothing written) and returns cash, equity, positions,
fill and order counts, the last fill time and the last sequence number. Because
it reads the journal and not a broker object's memory, the figures are the
same in every process and after a restart: ``live-trading serve`` in one
terminal shows what ``live-trading run`` in another has done.

What is replayed
    On paper, the account's current run: the records of the journal's latest
    run id (today's layout, where ``resume`` continues the latest run). On a
    live venue every session in the journal (fills counted once by
    ``fill_id``). Cash starts
    at the run's first ``session`` record's ``initial_cash`` and moves with
    every ``fill`` (buys pay notional + fee, sells receive notional - fee);
    positions use the paper ledger's position maths (``brokers.paper.ledger.Position``), not a
    copy of it. Live venues journal no starting cash, so ``cash`` and
    ``equity`` are ``None`` there (the venue itself is the truth for them);
    fills, positions traded in the run, last fill and last seq are still given.

Marks
    ``equity`` marks each position at ``marks[symbol]`` when given, else at its
    average cost (as the paper broker does without a quote).

Cost
    The journal is re-read only when its files changed (size or mtime); a
    scrape of an idle account costs a few ``stat`` calls.

When the journal gains ``seq``, segments and snapshots (issue 12), only this
module changes: ``last_seq`` already prefers a record's ``seq`` field.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from LIVE_TRADING.brokers.paper.ledger import Position
from LIVE_TRADING.common.constants import (
    EVENT_FILL,
    EVENT_ORDER,
    EVENT_REJECT,
    EVENT_SESSION,
    SIDE_BUY,
)
from LIVE_TRADING.common.journal import iter_records, journal_files


@dataclass(frozen=True)
class AccountFigures:
    """What the journal says about an account (see the module docstring)."""

    log_dir: str
    run_id: str | None = None
    venue: str | None = None
    initial_cash: float | None = None
    cash: float | None = None
    equity: float | None = None
    positions: dict[str, float] = field(default_factory=dict)
    avg_costs: dict[str, float] = field(default_factory=dict)
    realized_pnl: float = 0.0
    fees: float = 0.0
    fills: int = 0
    orders: int = 0
    rejects: int = 0
    records: int = 0
    last_seq: int | None = None
    last_record_time: datetime | None = None
    last_fill_time: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "log_dir": self.log_dir, "run_id": self.run_id, "venue": self.venue, "initial_cash": self.initial_cash,
            "cash": self.cash, "equity": self.equity, "positions": dict(self.positions),
            "realized_pnl": self.realized_pnl, "fees": self.fees, "fills": self.fills, "orders": self.orders,
            "rejects": self.rejects, "records": self.records, "last_seq": self.last_seq,
            "last_record_time": self.last_record_time, "last_fill_time": self.last_fill_time,
        }


def account_dir(log_dir: str | Path, account: str | None = None) -> Path:
    """The journal directory of ``account`` under ``log_dir`` (``None``: ``log_dir`` itself, today's layout)."""
    base = Path(log_dir)
    return base / account if account else base


def _ts(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None


def _replay(log_dir: Path) -> tuple[str | None, list[dict[str, Any]]]:
    """The latest run id and the records that make the account, oldest first (one pass over the journal).

    A run that starts with its own cash (a paper run: its first ``session``
    record has ``initial_cash``) is an account of its own: only its records. A
    live venue's runs are sessions of one account at the venue: all records.
    """
    by_run: dict[str, list[dict[str, Any]]] = {}
    everything: list[dict[str, Any]] = []
    latest: str | None = None
    for rec in iter_records(log_dir):
        run = rec.get("run_id")
        if not isinstance(run, str):
            continue
        by_run.setdefault(run, []).append(rec)
        everything.append(rec)
        latest = run
    if latest is None:
        return None, []
    own = by_run[latest]
    first_session = next((r for r in own if r.get("event") == EVENT_SESSION), None)
    if first_session is not None and isinstance(first_session.get("initial_cash"), int | float):
        return latest, own
    return latest, everything


def _figures(log_dir: Path) -> AccountFigures:
    run_id, records = _replay(log_dir)
    positions: dict[str, Position] = {}
    initial_cash: float | None = None
    cash: float | None = None
    venue = None
    fills = orders = rejects = 0
    last_fill = last_time = None
    last_seq: int | None = None
    seen_orders: set[str] = set()
    seen_fills: set[Any] = set()
    for i, rec in enumerate(records, 1):
        event = rec.get("event")
        seq = rec.get("seq")
        last_seq = int(seq) if isinstance(seq, int) else i
        last_time = _ts(rec.get("ts")) or last_time
        if event == EVENT_SESSION:
            venue = rec.get("venue") or venue
            if initial_cash is None and isinstance(rec.get("initial_cash"), int | float):
                initial_cash = cash = float(rec["initial_cash"])
        elif event == EVENT_ORDER:
            oid = rec.get("order_id")
            if isinstance(oid, str) and oid not in seen_orders:
                seen_orders.add(oid)
                orders += 1
        elif event == EVENT_REJECT:
            rejects += 1
        elif event == EVENT_FILL:
            try:
                qty = float(rec["qty"])
                price = float(rec["fill_price"])
                fee = float(rec.get("fee") or 0.0)
                notional = float(rec.get("notional") or qty * price)
                is_buy = str(rec["side"]).upper() == SIDE_BUY
                symbol = str(rec["symbol"])
            except (KeyError, TypeError, ValueError):
                continue
            fill_id = rec.get("fill_id")
            if fill_id is not None:
                if fill_id in seen_fills:  # a fill journaled again by a later session
                    continue
                seen_fills.add(fill_id)
            fills += 1
            last_fill = _ts(rec.get("timestamp")) or _ts(rec.get("ts")) or last_fill
            pos = positions.get(symbol)
            if pos is None:
                pos = positions[symbol] = Position()
            pos.apply(is_buy, qty, price, fee)
            if cash is not None:  # the paper broker's cash rule (PaperBroker._apply_fill)
                cash += -(notional + fee) if is_buy else notional - fee
    return AccountFigures(
        log_dir=str(log_dir), run_id=run_id, venue=venue, initial_cash=initial_cash, cash=cash,
        positions={s: p.qty for s, p in positions.items() if p.qty != 0.0},
        avg_costs={s: p.avg_cost for s, p in positions.items() if p.qty != 0.0},
        realized_pnl=sum(p.realized_pnl for p in positions.values()),
        fees=sum(p.fees for p in positions.values()),
        fills=fills, orders=orders, rejects=rejects, records=len(records), last_seq=last_seq,
        last_record_time=last_time, last_fill_time=last_fill,
    )


def _signature(log_dir: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for p in journal_files(log_dir):
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((p.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


_cache_lock = threading.Lock()
_cache: dict[str, tuple[tuple[tuple[str, int, int], ...], AccountFigures]] = {}


def account_figures(log_dir: str | Path, marks: dict[str, float] | None = None) -> AccountFigures:
    """Cash, equity, positions and journal facts of the account journaled in ``log_dir`` (read only).

    Raises what the journal reader raises for a journal it cannot read
    (``JournalError`` / ``JournalCorruptError`` once issue 12 lands).
    """
    path = Path(log_dir)
    sig = _signature(path)
    key = str(path.resolve())
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == sig:
        base = hit[1]
    else:
        base = _figures(path)
        with _cache_lock:
            _cache[key] = (sig, base)
    if base.cash is None:
        return base
    marks = marks or {}
    equity = base.cash + sum(q * float(marks.get(s, base.avg_costs.get(s, 0.0))) for s, q in base.positions.items())
    return AccountFigures(**{**base.__dict__, "equity": equity})


__all__ = ["AccountFigures", "account_dir", "account_figures"]
