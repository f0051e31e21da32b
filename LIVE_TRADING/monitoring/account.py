"""Account figures for monitoring, read from the journal: the one place monitoring reads it.

``account_figures(account_dir, marks)`` reads an account's journal (read
only: no lock taken, nothing written) and returns cash, equity, positions,
fill and order counts, the last fill time and the last ``seq``. Because it
reads the journal and not a broker object's memory, the figures are the same
in every process and after a restart: ``live-trading serve`` in one terminal
shows what ``live-trading run`` in another has done.

``account_dir`` is the directory the account's ``Journal`` writes to: on
paper ``<paper.log_dir>/<account>``, on Binance and IBKR their ``log_dir``.

Paper accounts (the journal starts with an ``open`` record)
    Cash, positions and average costs are the paper broker's own recovery of
    the account (``PaperBroker(read_only=True)``: newest snapshot plus the
    records after it, the very code that rebuilds the account on resume), so
    there is no second copy of the ledger here. ``cash`` is the ledger's cash
    (open orders' reservations are not subtracted). Fill and order counts are
    those of the current run (since the last ``open`` / ``reset``).

Live venues
    They journal no starting cash: ``cash`` and ``equity`` are ``None`` (the
    venue itself is the truth; ``MonitorSource`` asks the broker). Fills are
    counted over every session, once per ``fill_id``.

Marks
    ``equity`` marks each position at ``marks[symbol]`` when given, else at its
    average cost (as the paper broker does without a quote).

Cost
    An unchanged journal costs a directory listing and a ``stat`` per segment.
    After a change, the counts are brought up to date from the last seen
    ``seq`` (``read_records(since_seq=...)``, which today still reads the
    segment holding that seq from its start) and, on paper, the read-only
    recovery runs again (it checks the open segment). Figures:
    ``benchmarks/bench_monitoring.py``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from LIVE_TRADING.common.journal import list_segments, read_records


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


def _ts(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None


class _Tally:
    """Counts kept up to date from the records appended since the last look."""

    def __init__(self) -> None:
        self.seq = 0
        self.paper = False
        self.venue: str | None = None
        self.run_id: str | None = None
        self.fills = 0
        self.orders: set[str] = set()
        self.rejects = 0
        self.fill_ids: set[Any] = set()
        self.last_fill: datetime | None = None
        self.last_time: datetime | None = None
        self.signature: tuple[Any, ...] = ()
        self.base: AccountFigures | None = None

    def add(self, rec: dict[str, Any]) -> None:
        self.seq = max(self.seq, int(rec.get("seq") or 0))
        self.last_time = _ts(rec.get("ts")) or self.last_time
        event = rec.get("event")
        if event in ("open", "reset"):  # a paper account (re)starts: counts are the run's
            self.paper = True
            self.venue = self.venue or "paper"
            self.run_id = rec.get("run_id") or self.run_id
            self.fills, self.rejects, self.last_fill = 0, 0, None
            self.orders.clear()
            self.fill_ids.clear()
        elif event == "session":
            self.venue = rec.get("venue") or self.venue
            self.run_id = rec.get("run_id") or self.run_id
        elif event == "order":
            inner = rec.get("order") if isinstance(rec.get("order"), dict) else rec
            oid = inner.get("order_id") if isinstance(inner, dict) else None
            if isinstance(oid, str):
                self.orders.add(oid)
            for f in rec.get("fills", ()) or ():  # fills taken at once: at the order record's time
                self._fill(f, rec.get("ts"))
        elif event == "fill":
            self._fill(rec, rec.get("ts"))
        elif event == "reject":
            self.rejects += 1

    def _fill(self, f: dict[str, Any], ts: Any) -> None:
        fid = f.get("fill_id")
        if not self.paper and fid is not None:  # a live venue may journal a fill again in a later session
            if fid in self.fill_ids:
                return
            self.fill_ids.add(fid)
        self.fills += 1
        self.last_fill = _ts(f.get("timestamp")) or _ts(ts) or self.last_fill


def _signature(account_dir: Path) -> tuple[Any, ...]:
    out = []
    for first, path in list_segments(account_dir):
        try:
            st = path.stat()
        except OSError:
            continue
        out.append((first, st.st_size, st.st_mtime_ns))
    return tuple(out)


def _paper_view(account_dir: Path) -> dict[str, Any]:
    """Cash, positions and costs by the paper broker's own read-only recovery of the account."""
    from LIVE_TRADING.brokers.paper import PaperBroker

    view = PaperBroker(log_dir=account_dir.parent, account=account_dir.name, read_only=True)
    try:
        summary = view.get_account_summary()
        details = view.get_position_details()
    finally:
        view.close()
    return {
        "initial_cash": summary.get("initial_cash"),
        "cash": summary["cash"],
        "positions": {s: float(d["qty"] or 0.0) for s, d in details.items() if d.get("qty")},
        "avg_costs": {s: float(d["avg_cost"] or 0.0) for s, d in details.items() if d.get("qty")},
        "realized_pnl": float(summary.get("realized_pnl") or 0.0),
        "fees": float(summary.get("fees") or 0.0),
    }


_lock = threading.Lock()
_tallies: dict[str, _Tally] = {}


def account_figures(log_dir: str | Path, marks: dict[str, float] | None = None) -> AccountFigures:
    """Cash, equity, positions and journal facts of the account journaled in ``log_dir`` (read only).

    Raises ``JournalCorruptError`` / ``JournalError`` for a journal that cannot be read.
    """
    path = Path(log_dir)
    key = str(path.resolve())
    with _lock:
        tally = _tallies.setdefault(key, _Tally())
        sig = _signature(path)
        if tally.base is None or sig != tally.signature:
            if sig[:1] != tally.signature[:1] or len(sig) < len(tally.signature):
                tally = _tallies[key] = _Tally()  # a new or rewritten journal: start over
            for rec in read_records(path, since_seq=tally.seq + 1, verify=False):
                tally.add(rec)  # only records after the last seen seq (a batch's members share its seq)
            paper = _paper_view(path) if tally.paper else {}
            tally.base = AccountFigures(
                log_dir=str(path), run_id=tally.run_id, venue=tally.venue,
                fills=tally.fills, orders=len(tally.orders), rejects=tally.rejects, records=tally.seq,
                last_seq=tally.seq or None, last_record_time=tally.last_time, last_fill_time=tally.last_fill,
                **paper,
            )
            tally.signature = sig
        base = tally.base
    if base.cash is None:
        return base
    marks = marks or {}
    equity = base.cash + sum(q * float(marks.get(s, base.avg_costs.get(s, 0.0))) for s, q in base.positions.items())
    return replace(base, equity=equity)


__all__ = ["AccountFigures", "account_figures"]
