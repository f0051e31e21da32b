"""``Journal``: the one writer of an account's write-ahead log.

Opening a journal takes the account's lock (one writer per account, see
``lock``), checks the whole journal (``store.scan``, repairing only a torn
last line) and continues after its last ``seq``. ``write`` appends one record
and returns it with its ``seq``; the caller changes its in-memory state only
after ``write`` returned, so memory never runs ahead of the disk.

Durability (``journal.durability``):

``flush`` (default)
    each record is handed to the operating system by one ``write`` before the
    call returns: it survives the process dying, not the machine losing power.
``fsync``
    each record is also forced to the disk (``os.fsync``) before returning.
``none``
    records are buffered in the process and written in blocks (and on
    ``flush()``/``close()``): for simulated backtests, where a crash loses
    at most the last block and nothing of value.

A failed write (disk full, I/O error) raises ``JournalError`` and the file is
cut back to its last whole record, so a later write never lands after garbage.
"""

from __future__ import annotations

import os
import threading
import uuid
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from LIVE_TRADING.common.clock import Clock, utc_now
from LIVE_TRADING.common.exceptions import JournalCorruptError, JournalError
from LIVE_TRADING.common.journal.format import check_line, encode_line, encode_payload
from LIVE_TRADING.common.journal.lock import AccountLock
from LIVE_TRADING.common.journal.store import Scan, crc_of, list_segments, scan, segment_name, summary_path

DURABILITY = ("fsync", "flush", "none")
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
_BUFFER_BYTES = 1 << 20
#: written bytes are added to the segment's CRC-32 in blocks of this size
_CRC_CHUNK = 1 << 16
_crc32 = zlib.crc32


def new_run_id(clock: Clock = utc_now) -> str:
    """A run id that sorts by time and does not collide: ``20260105T143000Z-1a2b3c4d5e6f``."""
    return clock().strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:12]


class Journal:
    """Append-only, checksummed, segmented JSONL journal of one account; thread-safe.

    Args:
        account_dir: the account's directory (created if missing).
        durability: ``fsync`` | ``flush`` | ``none`` (see the module docstring).
        clock: time for ``ts`` of records written with ``write`` (aware UTC).
        run_id: this writer's run id (a new one by default).
        segment_max_bytes: a segment is closed and a new one started past this size.
        lock_timeout_s: how long to wait for another writer to finish (``AccountLockedError``).
        fsync: ``True`` is ``durability="fsync"`` (older keyword).
        exclusive: hold the account lock for the journal's life (the paper broker: its state must
            have one writer). ``False`` (the live venues, whose state lives at the venue) takes the
            lock around each write instead and first catches up with what other processes appended,
            so several processes can journal to one directory with one strictly increasing ``seq``.
    """

    def __init__(
        self,
        account_dir: str | Path,
        *,
        durability: str = "flush",
        clock: Clock = utc_now,
        run_id: str | None = None,
        segment_max_bytes: int = DEFAULT_SEGMENT_BYTES,
        lock_timeout_s: float = 5.0,
        fsync: bool | None = None,
        exclusive: bool = True,
    ) -> None:
        if fsync:
            durability = "fsync"
        if durability not in DURABILITY:
            raise ValueError(f"durability must be one of {', '.join(DURABILITY)}, got {durability!r}")
        self.log_dir = self.account_dir = Path(account_dir)
        self.durability = durability
        self.clock = clock
        self.run_id = run_id or new_run_id(clock)
        self.segment_max_bytes = int(segment_max_bytes)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._buf = bytearray()
        self._broken: str | None = None
        try:
            self.account_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(f"Journal directory {self.account_dir} cannot be created: {exc}") from exc
        self.exclusive = exclusive
        self.lock_timeout_s = lock_timeout_s
        #: ``close()`` was called (a plain attribute: the paper broker reads it on every order)
        self.closed = False
        self._account_lock = AccountLock(self.account_dir)
        self._account_lock.acquire(lock_timeout_s)
        try:
            self.scan: Scan = scan(self.account_dir, repair=True)
        finally:
            if not exclusive:
                self._account_lock.release()
        self.seq = self.scan.last_seq
        newest = self.scan.newest_snapshot
        self.last_snapshot_seq = newest[2] if newest else 0
        if self.scan.segments:
            seg = self.scan.segments[-1]
            self.path: Path = seg.path
            self._seg_first = seg.first_seq
            self._size = seg.size
            self._seg_snapshot: tuple[int, int] | None = seg.snapshot
        else:
            self._seg_first = 1
            self.path = self.account_dir / segment_name(1)
            self._size = 0
            self._seg_snapshot = None
        #: CRC-32 of the open segment's bytes so far but ``_crc_pending`` (for its summary); None: compute it
        #: from the file when needed. Written bytes wait in ``_crc_pending`` (up to ``_CRC_CHUNK``) and are
        #: added in one call: a CRC of 64 KiB costs much less than one per record (see ``_crc_add``).
        self._crc: int | None = crc_of(self.path, self._size) if self._size else 0
        self._crc_pending = bytearray()

    @property
    def fsync(self) -> bool:
        return self.durability == "fsync"

    # -- writing ---------------------------------------------------------------
    def write(self, event: str, record: dict[str, Any] | None = None, *, ts: datetime | None = None) -> dict[str, Any]:
        """Append one record (``event``, ``run_id``, ``ts`` and ``record``'s fields); return it with its ``seq``."""
        full = {"event": event, "run_id": self.run_id, "ts": ts or self.clock()}
        if record:
            full.update(record)
        return self.append(full)

    def append(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Append a complete payload (its first key should be ``event``); set and return its ``seq``."""
        payload["seq"] = self.append_seq(payload)
        return payload

    def append_seq(self, payload: dict[str, Any]) -> int:
        """``append`` that returns the ``seq`` and leaves ``payload`` as it is (the paper broker's hot path).

        The common case (the one writer, durability ``flush`` or ``fsync``, not a
        snapshot, room left in the segment) goes straight to ``_put``.
        """
        try:
            body = encode_payload(payload)
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise JournalError(f"Journal record {payload.get('event')!r} cannot be encoded: {exc}") from exc
        with self._lock:
            if not self.exclusive:
                return self._append_shared(body, payload.get("event") == "snapshot")
            seq = self.seq + 1
            line = encode_line(seq, body)
            if (self._broken or self.durability == "none" or payload["event"] == "snapshot"
                    or self._size + len(line) > self.segment_max_bytes):
                self._write(seq, line, payload["event"] == "snapshot")
            else:  # the common case of ``_write``: one line to the open segment, handed to the OS now
                self._put(line)
            self.seq = seq
        return seq

    def _append_shared(self, body: bytes, is_snapshot: bool) -> int:
        """``append_seq`` of a shared journal (``exclusive=False``): catch up, then write, under the account lock."""
        self._account_lock.acquire(self.lock_timeout_s)
        try:
            self._catch_up()
            seq = self.seq + 1
            self._write(seq, encode_line(seq, body), is_snapshot)
            self.seq = seq
            self._flush_buffer()
        finally:
            self._account_lock.release()
        return seq

    def write_batch(self, items: list[tuple[str, dict[str, Any]]], *, ts: datetime | None = None) -> None:
        """Several records that belong together as ONE ``batch`` record: all of them or none survive."""
        when = ts or self.clock()
        records = [{"event": e, "run_id": self.run_id, "ts": when, **r} for e, r in items]
        self.append({"event": "batch", "run_id": self.run_id, "ts": when, "records": records})

    def _catch_up(self) -> None:
        """Shared journals: take in what other processes appended since our last write (under the lock)."""
        segs = list_segments(self.account_dir)
        if segs and segs[-1][1] != self.path:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._seg_first, self.path = segs[-1]
            self._size = 0
            self._crc = None
            self._crc_pending.clear()
            self.seq = self._seg_first - 1
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return
        if size == self._size:
            return
        with open(self.path, "rb") as fh:
            fh.seek(self._size)
            data = fh.read(size - self._size)
        pos = 0
        while (end := data.find(b"\n", pos)) >= 0:
            seq = check_line(data[pos: end + 1])
            if seq is None or seq != self.seq + 1:
                raise JournalCorruptError("a record appended by another process fails its checks",
                                          path=str(self.path), seq=self.seq + 1)
            self.seq = seq
            pos = end + 1
        self._size += pos
        self._crc = None  # other processes wrote: recompute when a summary is needed
        self._crc_pending.clear()
        if pos < len(data):  # another writer died mid-write: cut its torn record off
            os.truncate(self.path, self._size)

    def _open(self) -> int:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise JournalError(f"Journal segment {self.path} cannot be opened: {exc}") from exc
        self._fd = fd
        return fd

    def _write(self, seq: int, line: bytes, is_snapshot: bool) -> None:
        if self._broken:
            raise JournalError(f"Journal {self.account_dir} is unusable after an earlier failure: {self._broken}")
        if (self._size or self._buf) and self._size + len(self._buf) + len(line) > self.segment_max_bytes:
            self._roll(seq)  # (records still buffered count: a segment never grows past its size)
        if is_snapshot:
            self._seg_snapshot = (seq, self._size + len(self._buf))
        if self.durability == "none":
            self._buf += line
            if len(self._buf) >= _BUFFER_BYTES or is_snapshot:
                self._flush_buffer()
        else:
            self._put(line)
        if is_snapshot:
            self._write_summary(seq)

    def _put(self, data: bytes) -> None:
        fd = self._fd if self._fd is not None else self._open()
        try:
            written = os.write(fd, data)
            while written < len(data):
                written += os.write(fd, data[written:])
            if self.durability == "fsync":
                os.fsync(fd)
        except OSError as exc:
            self._cut_back()
            raise JournalError(f"Journal write to {self.path} failed: {exc}") from exc
        self._size += len(data)
        self._crc_add(data)

    def _crc_add(self, data: bytes) -> None:
        """Count ``data`` (just written to the open segment) in its CRC-32, in blocks of ``_CRC_CHUNK``."""
        if self._crc is not None:
            pending = self._crc_pending
            pending += data
            if len(pending) >= _CRC_CHUNK:
                self._crc = _crc32(pending, self._crc)
                pending.clear()

    def _crc_so_far(self) -> int:
        """The CRC-32 of the open segment's ``_size`` bytes (pending bytes added now; from the file if unknown)."""
        if self._crc is None:
            self._crc = crc_of(self.path, self._size)
        elif self._crc_pending:
            self._crc = _crc32(self._crc_pending, self._crc)
        self._crc_pending.clear()
        return self._crc

    def _cut_back(self) -> None:
        """After a failed write: remove any partial record so the file ends on a whole line."""
        try:
            os.truncate(self.path, self._size)
        except OSError as exc:
            self._broken = f"cannot cut {self.path} back to {self._size} bytes: {exc}"

    def _flush_buffer(self) -> None:
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            self._put(data)

    def flush(self) -> None:
        """Hand buffered records (durability ``none``) to the operating system."""
        with self._lock:
            self._flush_buffer()

    def _write_summary(self, last_seq: int) -> None:
        """The segment's summary: size, CRC-32 and newest snapshot of its first ``_size`` bytes.

        Written when a segment is closed (covering all of it) and after each
        snapshot (covering the open segment up to there), so opening the account
        checks those bytes with one CRC instead of line by line. Best effort:
        without it the next open checks line by line.
        """
        try:
            summary = {"first_seq": self._seg_first, "last_seq": last_seq, "bytes": self._size,
                       "crc32": self._crc_so_far(),
                       "snapshot": list(self._seg_snapshot) if self._seg_snapshot else None}
            tmp = summary_path(self.path).with_suffix(".sum.tmp")
            tmp.write_bytes(orjson.dumps(summary))
            os.replace(tmp, summary_path(self.path))
        except OSError:
            pass

    def _roll(self, next_seq: int) -> None:
        """Close the current segment (with its summary) and start ``segment_name(next_seq)``."""
        self._flush_buffer()
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None
        self._write_summary(next_seq - 1)
        self._seg_first = next_seq
        self.path = self.account_dir / segment_name(next_seq)
        self._size = 0
        self._crc = 0
        self._crc_pending.clear()
        self._seg_snapshot = None

    def close(self) -> None:
        """Write out buffered records, close the file and release the account lock."""
        with self._lock:
            try:
                self._flush_buffer()
            finally:
                self.closed = True
                if self._fd is not None:
                    try:
                        os.close(self._fd)
                    finally:
                        self._fd = None
                self._account_lock.release()

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
        return f"Journal({str(self.account_dir)!r}, seq={self.seq}, durability={self.durability!r})"


__all__ = ["DURABILITY", "Journal", "new_run_id"]
