"""The journal: an account's write-ahead log, its source of truth.

Layout of an account directory (``<journal root>/<account name>/``)::

    LOCK                          held by the one writing process (pid, host inside)
    00000000000000000001.jsonl    segment: records 1..N, named by its first seq
    00000000000000000001.sum      summary of a closed segment (size, CRC-32, snapshot)
    00000000000000012345.jsonl    the open segment (appended to)

Rooms: ``format`` (one line: seq first, CRC-32 last), ``store`` (segments,
strict scanning, reading), ``writer`` (``Journal``: lock, append, roll),
``lock`` (one writer per account). The README's "Journal format" section
documents the records for other programs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from LIVE_TRADING.common.journal.format import check_line, decode_line, encode_line, encode_payload
from LIVE_TRADING.common.journal.lock import AccountLock, holder_of
from LIVE_TRADING.common.journal.store import Scan, list_segments, read_records, scan
from LIVE_TRADING.common.journal.writer import DURABILITY, Journal, new_run_id


def iter_records(account_dir: str | Path, run_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Every record of the account in seq order (optionally only run ``run_id``'s); read-only, strict.

    A run is what follows an ``open`` or ``reset`` record carrying its ``run_id``
    (records that carry a ``run_id`` of their own, like ``session``, count by it).
    """
    run = None
    for record in read_records(account_dir):
        if record.get("event") in ("open", "reset"):
            run = record.get("run_id")
        if run_id is None or record.get("run_id", run) == run_id:
            yield record


__all__ = [
    "DURABILITY",
    "AccountLock",
    "Journal",
    "Scan",
    "check_line",
    "decode_line",
    "encode_line",
    "encode_payload",
    "holder_of",
    "iter_records",
    "list_segments",
    "new_run_id",
    "read_records",
    "scan",
]
