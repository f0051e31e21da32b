"""The journal: the durable, append-only record of orders and fills.

One JSON object per line (JSONL), one file per UTC day (``YYYY-MM-DD.jsonl``)
under ``log_dir``. Every record carries ``event`` (``session``, ``order``,
``fill``, ``cancel``, ``reject``, ``expire``), ``run_id`` and ``ts`` (ISO-8601
UTC). The journal is not a log: a broker writes the record *before* the call
that caused it returns, and before it changes its in-memory state, so the
state never runs ahead of what is on disk.

Durability:
    each record is encoded whole and handed to the OS in a single ``write``
    on a file opened once (``O_APPEND``), so a reader never sees half a record
    unless the process or machine died mid-write. ``fsync=True`` also forces
    each record to the disk before returning (slower; survives power loss).

Crash recovery:
    a torn last line (a crash mid-write) is skipped with a logged warning when
    the journal is read back, and the writer starts the next record on a fresh
    line, so one torn record never corrupts the next.

Failures:
    any ``OSError`` (disk full, permission) becomes ``BrokerError``; the caller
    must not advance its state past the last record that was written.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from LIVE_TRADING.common.clock import Clock, utc_now
from LIVE_TRADING.common.exceptions import BrokerError

logger = logging.getLogger(__name__)

_encoder = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=lambda o: _default(o)
)


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def new_run_id(clock: Clock = utc_now) -> str:
    """A run id that sorts by time and does not collide: ``20260105T143000Z-1a2b3c4d5e6f``."""
    return clock().strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:12]


def encode_record(record: dict[str, Any]) -> bytes:
    """One record as one line of UTF-8 JSON (strict JSON: NaN and inf are refused)."""
    return (_encoder.encode(record) + "\n").encode("utf-8")


class Journal:
    """Append-only JSONL journal; thread-safe; one open file descriptor at a time."""

    def __init__(
        self,
        log_dir: str | Path,
        *,
        run_id: str | None = None,
        fsync: bool = False,
        clock: Clock = utc_now,
    ) -> None:
        self.log_dir = Path(log_dir)
        self.clock = clock
        self.run_id = run_id or new_run_id(clock)
        self.fsync = bool(fsync)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._day: str | None = None
        self._needs_newline = False
        self.path: Path | None = None
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BrokerError(f"Journal directory {self.log_dir} cannot be created: {exc}") from exc

    # -- writing ------------------------------------------------------------
    def write(self, event: str, record: dict[str, Any] | None = None, *, ts: datetime | None = None) -> dict[str, Any]:
        """Append one record and return it (as written, with ``event``, ``run_id`` and ``ts``)."""
        when = ts or self.clock()
        full = {"event": event, "run_id": self.run_id, "ts": when.isoformat()}
        if record:
            full.update(record)
        try:
            data = encode_record(full)
        except (TypeError, ValueError) as exc:
            raise BrokerError(f"Journal record for {event!r} cannot be encoded: {exc}") from exc
        day = full["ts"][:10]
        with self._lock:
            self._write(day, data)
        return full

    def write_batch(self, items: list[tuple[str, dict[str, Any]]], *, ts: datetime | None = None) -> None:
        """Append several records (``(event, record)`` pairs) in one ``write``, all or nothing.

        Used when records belong together (an order and its immediate fill):
        either every line reaches the OS or an error is raised.
        """
        when = ts or self.clock()
        stamp = when.isoformat()
        lines = []
        try:
            for event, record in items:
                full = {"event": event, "run_id": self.run_id, "ts": stamp}
                full.update(record)
                lines.append(encode_record(full))
        except (TypeError, ValueError) as exc:
            raise BrokerError(f"Journal record cannot be encoded: {exc}") from exc
        with self._lock:
            self._write(stamp[:10], b"".join(lines))

    def write_records(self, records: list[dict[str, Any]]) -> None:
        """Append complete records (each already holding ``event``, ``run_id`` and ``ts``) in one ``write``.

        The fast path for callers that build their records whole (the paper
        broker's hot path); the file is chosen by the first record's ``ts``.
        """
        try:
            data = b"".join([encode_record(r) for r in records])
        except (TypeError, ValueError) as exc:
            raise BrokerError(f"Journal record cannot be encoded: {exc}") from exc
        with self._lock:
            self._write(records[0]["ts"][:10], data)

    def _open(self, day: str) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        path = self.log_dir / f"{day}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        # A torn last line from an earlier crash must not swallow our first record.
        size = os.fstat(fd).st_size
        if size:
            with open(path, "rb") as fh:
                fh.seek(size - 1)
                self._needs_newline = fh.read(1) != b"\n"
        self._fd, self._day, self.path = fd, day, path

    def _write(self, day: str, data: bytes) -> None:
        try:
            if day != self._day or self._fd is None:
                self._open(day)
            assert self._fd is not None
            if self._needs_newline:
                data = b"\n" + data
            written = os.write(self._fd, data)
            while written < len(data):  # short write: rare, but never leave half a line silently
                self._needs_newline = True
                written += os.write(self._fd, data[written:])
            self._needs_newline = False
            if self.fsync:
                os.fsync(self._fd)
        except OSError as exc:
            self._needs_newline = True
            raise BrokerError(f"Journal write to {self.log_dir} failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                try:
                    os.close(self._fd)
                finally:
                    self._fd = None
                    self._day = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            if self._fd is not None:
                os.close(self._fd)
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"Journal(log_dir={str(self.log_dir)!r}, run_id={self.run_id!r}, fsync={self.fsync})"


# -- reading ----------------------------------------------------------------
def journal_files(log_dir: str | Path) -> list[Path]:
    """The journal's day files, oldest first."""
    d = Path(log_dir)
    if not d.is_dir():
        return []
    return sorted(p for p in d.glob("*.jsonl") if p.is_file())


def iter_records(log_dir: str | Path, run_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Every readable record, oldest first, optionally only those of ``run_id``.

    Lines that are not whole JSON objects (a torn last line after a crash) are
    skipped with a warning.
    """
    for path in journal_files(log_dir):
        with open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except ValueError:
                    logger.warning("Journal %s line %d is torn or corrupt; skipped", path, lineno)
                    continue
                if not isinstance(record, dict) or "event" not in record:
                    logger.warning("Journal %s line %d is not a journal record; skipped", path, lineno)
                    continue
                if run_id is None or record.get("run_id") == run_id:
                    yield record


def latest_run_id(log_dir: str | Path) -> str | None:
    """The run id of the most recent readable record in the journal, if any."""
    for path in reversed(journal_files(log_dir)):
        last = None
        for record in read_file(path):
            last = record.get("run_id") or last
        if last:
            return str(last)
    return None


def read_file(path: str | Path) -> Iterator[dict[str, Any]]:
    """The whole JSON records of one journal file, quietly skipping lines that are not (a torn last line)."""
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


__all__ = ["Journal", "encode_record", "iter_records", "journal_files", "latest_run_id", "new_run_id", "read_file"]
