"""``live-trading accounts`` and ``live-trading journal verify|repair``: the paper accounts on disk.

Both read without taking an account's lock, except ``journal repair``, which
takes it (it may truncate a torn last record) and waits ``--lock-timeout``.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from LIVE_TRADING.brokers.paper import PaperBroker, PaperConfig
from LIVE_TRADING.brokers.paper.verify import verify_account
from LIVE_TRADING.cli import session
from LIVE_TRADING.cli.render import Output
from LIVE_TRADING.common.exceptions import JournalCorruptError
from LIVE_TRADING.common.journal import AccountLock, decode_line, list_segments, scan


def _first_record(account: Path) -> dict[str, Any]:
    segs = list_segments(account)
    if not segs:
        return {}
    with open(segs[0][1], "rb") as fh:
        line = fh.readline()
    try:
        return decode_line(line)
    except ValueError:
        return {}


def account_rows(root: Path) -> list[dict[str, Any]]:
    """One row per account under ``root``: name, created, last active, records, cash, equity (or the problem)."""
    rows = []
    for path in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        segs = list_segments(path)
        if not segs:
            continue
        first = _first_record(path)
        row: dict[str, Any] = {
            "account": path.name,
            "path": str(path),
            "created": first.get("wall"),
            "last_active": datetime.fromtimestamp(segs[-1][1].stat().st_mtime, UTC).isoformat(timespec="seconds"),
        }
        try:
            view = PaperBroker(log_dir=root, account=path.name, read_only=True)
            summary = view.get_account_summary()
            row.update(records=view.venue_health()["journal_seq"], cash=summary["cash"], equity=summary["equity"],
                       problem=None)
        except JournalCorruptError as exc:
            row.update(records=None, cash=None, equity=None, problem=str(exc))
        rows.append(row)
    return rows


def cmd_accounts(args: argparse.Namespace, out: Output, venue: str) -> int:
    root = Path(PaperConfig.from_config().log_dir)
    rows = account_rows(root)
    if out.json_mode:
        out.json({"root": str(root), "accounts": rows})
        return 0
    if not rows:
        out.line(f"No paper accounts under {root} yet (the first paper command creates 'default').")
        return 0
    out.table(
        ["account", "created", "last active", "records", "cash", "equity"],
        [[r["account"], (r["created"] or "-")[:19], r["last_active"][:19],
          r["records"] if r["records"] is not None else "CORRUPT",
          "-" if r["cash"] is None else f"{r['cash']:,.2f}", "-" if r["equity"] is None else f"{r['equity']:,.2f}"]
         for r in rows],
        title=f"Paper accounts in {root} (equity marks positions at their average cost)",
        right=("records", "cash", "equity"), no_wrap=("account",),
    )
    return 1 if any(r["problem"] for r in rows) else 0


def cmd_journal(args: argparse.Namespace, out: Output, venue: str) -> int:
    account = session.account_dir()
    if not list_segments(account):
        out.line(f"No journal in {account}: nothing to {args.action}.")
        return 0
    if args.action == "repair":
        return _repair(account, out)
    report = verify_account(account)
    if out.json_mode:
        out.json(report)
    elif report["ok"]:
        out.line(f"OK {account}: {report['records']} records in {report['segments']} segment(s), "
                 f"{report['snapshots']} snapshot(s) match; cash {report['cash']:,.2f}, "
                 f"{len(report['positions'])} position(s)")
    else:
        out.line(f"PROBLEM in {account}: {report['problem']}")
    return 0 if report["ok"] else 1


def _repair(account: Path, out: Output) -> int:
    cfg = PaperConfig.from_config(account=session.options.account, lock_timeout_s=session.options.lock_timeout_s)
    lock = AccountLock(account)
    lock.acquire(cfg.lock_timeout_s)
    try:
        found = scan(account, repair=True)
    except JournalCorruptError as exc:
        out.line(f"NOT REPAIRED {account}: {exc}. Only a torn last record can be repaired safely; "
                 "restore the journal from a backup or move the account aside.")
        return 1
    finally:
        lock.release()
    if found.torn:
        out.line(f"Repaired {account}: moved a torn last record ({len(found.torn)} bytes) to "
                 f"{found.segments[-1].path.with_suffix('.torn')} and truncated the segment; "
                 f"{found.last_seq} whole records remain.")
    else:
        out.line(f"Nothing to repair in {account}: {found.last_seq} whole records.")
    return 0


__all__ = ["account_rows", "cmd_accounts", "cmd_journal"]
