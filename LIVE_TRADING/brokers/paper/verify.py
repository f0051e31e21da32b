"""``verify_account``: is a paper account's journal whole, and do its snapshots agree with its fills?

Checks what ``store.scan`` checks (seq, checksums, segments), then replays
every record from the first one — cash and positions recomputed from the
fills — and compares the result with each snapshot on the way instead of
loading it. Reads only; used by ``live-trading journal verify``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from LIVE_TRADING.brokers.paper import costs
from LIVE_TRADING.brokers.paper.recovery import apply_record
from LIVE_TRADING.brokers.paper.state import PaperState
from LIVE_TRADING.common.exceptions import JournalCorruptError
from LIVE_TRADING.common.journal.format import decode_line
from LIVE_TRADING.common.journal.store import iter_lines, scan

_TOL = 1e-6


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=_TOL)


def _compare(state: PaperState, snap: dict[str, Any]) -> str | None:
    """The first difference between the replayed state and a snapshot, or None."""
    if not _close(state.cash, snap["cash"]):
        return f"cash {state.cash!r} recomputed from the fills, {snap['cash']!r} in the snapshot"
    mine = {s: p.qty for s, p in state.positions.items() if p.qty}
    theirs = {s: v[0] for s, v in snap["positions"].items() if v[0]}
    if mine.keys() != theirs.keys() or any(not _close(mine[s], theirs[s]) for s in mine):
        return f"positions {mine} recomputed from the fills, {theirs} in the snapshot"
    open_ids = sorted(state.open)
    snap_ids = sorted(o["order_id"] for o in snap["open_orders"])
    if open_ids != snap_ids:
        return f"open orders {open_ids} recomputed, {snap_ids} in the snapshot"
    return None


def verify_account(account_dir: str | Path) -> dict[str, Any]:
    """A report: ``ok``, ``records``, ``segments``, ``snapshots``, ``cash``, ``positions``, ``problem``."""
    report: dict[str, Any] = {"account": str(account_dir), "ok": False, "records": 0, "segments": 0,
                              "snapshots": 0, "cash": None, "positions": {}, "problem": None}
    try:
        found = scan(account_dir)
    except JournalCorruptError as exc:
        report["problem"] = str(exc)
        return report
    report.update(records=found.last_seq, segments=len(found.segments))
    state = PaperState(0.0, costs.FixedBps(0.0), costs.BpsFee(0.0), keep_terminal=0)
    try:
        for raw in iter_lines(found):
            rec = decode_line(raw)
            if rec["event"] == "snapshot":
                report["snapshots"] += 1
                diff = _compare(state, rec["state"])
                if diff:
                    report["problem"] = f"snapshot at seq {rec['seq']} disagrees with the records before it: {diff}"
                    return report
                continue
            apply_record(state, rec)
    except JournalCorruptError as exc:
        report["problem"] = str(exc)
        return report
    if found.torn:
        report["problem"] = (f"the last record is torn ({len(found.torn)} bytes, a crash mid-write): "
                             "'live-trading journal repair' moves it aside")
        return report
    report.update(ok=True, cash=state.cash, positions={s: p.qty for s, p in state.positions.items() if p.qty})
    return report


__all__ = ["verify_account"]
