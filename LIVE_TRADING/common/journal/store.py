"""The journal on disk: segment files, their summaries, and strict scanning.

An account directory holds segments named by the ``seq`` of their first record
(``00000000000000000001.jsonl``, ...), rolled by size. When a segment is closed
the writer puts a summary beside it (``<name>.sum``: first/last seq, records,
bytes, CRC-32 of the whole file, where its newest snapshot is), so that opening
an account checks a closed segment with one checksum over its bytes instead of
line by line. A segment without a valid summary is checked line by line.

``scan`` is strict. Every ``seq`` must follow the one before (from 1), every
line must pass its checksum, every segment must be there. The one repairable
fault is a *torn* last line (a crash mid-write): ``scan(repair=True)`` moves it
to ``<segment>.torn`` and truncates the segment, with a warning. Anything else
raises ``JournalCorruptError`` naming the file, line and seq.
"""

from __future__ import annotations

import logging
import mmap
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from LIVE_TRADING.common.exceptions import JournalCorruptError, JournalError
from LIVE_TRADING.common.journal.format import check_line, decode_line, line_event

logger = logging.getLogger(__name__)

_SEGMENT_RE = re.compile(r"^(\d{20})\.jsonl$")
SNAPSHOT = b"snapshot"


def segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}.jsonl"


def summary_path(segment: Path) -> Path:
    return segment.with_suffix(".sum")


def list_segments(account_dir: str | Path) -> list[tuple[int, Path]]:
    """The account's segments as ``(first_seq, path)``, in order (other files are ignored)."""
    d = Path(account_dir)
    if not d.is_dir():
        return []
    out = []
    for p in d.iterdir():
        m = _SEGMENT_RE.match(p.name)
        if m and p.is_file():
            out.append((int(m.group(1)), p))
    out.sort()
    return out


@dataclass
class Segment:
    """What a scan learned about one segment file."""

    first_seq: int
    path: Path
    last_seq: int = 0  # first_seq - 1 when empty
    size: int = 0
    snapshot: tuple[int, int] | None = None  # (seq, byte offset) of its newest snapshot
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scan:
    """The result of ``scan``: the segments, the last seq, the newest snapshot, a torn tail."""

    account_dir: Path
    segments: list[Segment]
    last_seq: int
    torn: bytes = b""

    @property
    def newest_snapshot(self) -> tuple[int, int, int] | None:
        """``(segment index, byte offset, seq)`` of the newest snapshot, or ``None``."""
        for i in range(len(self.segments) - 1, -1, -1):
            snap = self.segments[i].snapshot
            if snap is not None:
                return i, snap[1], snap[0]
        return None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise JournalError(f"Cannot read journal segment {path}: {exc}") from exc


def crc_of(path: Path, length: int) -> int:
    """CRC-32 of the first ``length`` bytes of ``path`` (memory-mapped: no copy)."""
    if length == 0:
        return 0
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
        return zlib.crc32(memoryview(m)[:length])


def _summary_ok(seg: Segment, *, partial: bool) -> bool:
    """The segment's summary holds: the file (``partial``: its first ``bytes``) has that size and checksum.

    A closed segment's summary covers the whole file; the open segment's
    (written at each snapshot) covers the file up to the end of that snapshot.
    """
    try:
        summary = orjson.loads(summary_path(seg.path).read_bytes())
        size = seg.path.stat().st_size
    except (OSError, orjson.JSONDecodeError):
        return False
    if not isinstance(summary, dict) or summary.get("first_seq") != seg.first_seq:
        return False
    covered = summary.get("bytes")
    if not isinstance(covered, int) or (covered > size if partial else covered != size):
        return False
    try:
        if crc_of(seg.path, covered) != summary.get("crc32"):
            return False
    except (OSError, ValueError):
        return False
    seg.last_seq = int(summary["last_seq"])
    seg.size = covered
    snap = summary.get("snapshot")
    seg.snapshot = (int(snap[0]), int(snap[1])) if snap else None
    seg.summary = summary
    return True


def _check_lines(seg: Segment, data: bytes, expected: int, last: bool, base: int = 0,
                 line0: int = 0) -> tuple[int, bytes]:
    """Check every line of ``data`` (the segment's bytes from offset ``base``, its line ``line0 + 1`` on).

    Returns (next expected seq, torn tail bytes); sets the segment's last seq, size and newest snapshot.
    """
    pos, lineno, n = 0, line0, len(data)
    snap = seg.snapshot
    while pos < n:
        lineno += 1
        end = data.find(b"\n", pos)
        if end < 0:  # no newline: the write did not complete
            if last:
                seg.last_seq, seg.size, seg.snapshot = expected - 1, base + pos, snap
                return expected, data[pos:]
            raise JournalCorruptError("line without its end (not the journal's last line)",
                                      path=str(seg.path), line=lineno, seq=expected)
        raw = data[pos: end + 1]
        seq = check_line(raw)
        if seq is None:
            if last and end + 1 == n:
                logger.debug("torn final line in %s", seg.path)
            raise JournalCorruptError("checksum or format check failed", path=str(seg.path), line=lineno,
                                      seq=expected)
        if seq != expected:
            what = "a gap in seq (missing records)" if seq > expected else "seq out of order"
            raise JournalCorruptError(f"{what}: expected {expected}, found {seq}", path=str(seg.path),
                                      line=lineno, seq=seq)
        if line_event(raw) == SNAPSHOT:
            snap = (seq, base + pos)
        expected += 1
        pos = end + 1
    seg.last_seq, seg.size, seg.snapshot = expected - 1, base + n, snap
    return expected, b""


def scan(account_dir: str | Path, *, repair: bool = False) -> Scan:
    """Check the whole journal of ``account_dir`` (see the module docstring)."""
    d = Path(account_dir)
    found = list_segments(d)
    segments: list[Segment] = []
    expected = 1
    torn = b""
    for i, (first, path) in enumerate(found):
        last = i == len(found) - 1
        if first != expected:
            if first > expected:
                raise JournalCorruptError(
                    f"missing segment: records {expected}..{first - 1} are not in the journal",
                    path=str(path), line=1, seq=expected)
            raise JournalCorruptError(f"segment starts at seq {first}, expected {expected}",
                                      path=str(path), line=1, seq=first)
        seg = Segment(first, path)
        if _summary_ok(seg, partial=last):
            expected = seg.last_seq + 1
            if last:  # the open segment: its lines after the summary are checked one by one
                with open(path, "rb") as fh:
                    fh.seek(seg.size)
                    rest = fh.read()
                expected, torn = _check_lines(seg, rest, expected, last, base=seg.size,
                                              line0=seg.last_seq - seg.first_seq + 1)
        else:
            seg.snapshot = None
            expected, torn = _check_lines(seg, _read(path), expected, last)
        segments.append(seg)
    if torn:
        seg = segments[-1]
        if repair:
            aside = seg.path.with_suffix(".torn")
            logger.warning("Journal %s ends with a torn record (%d bytes, a crash mid-write): "
                           "moved aside to %s and truncated", seg.path, len(torn), aside)
            try:
                with open(aside, "ab") as fh:
                    fh.write(torn)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.truncate(seg.path, seg.size)
            except OSError as exc:
                raise JournalError(f"Cannot repair the torn end of {seg.path}: {exc}") from exc
        else:
            logger.warning("Journal %s ends with a torn record (%d bytes); ignored (read-only)",
                           seg.path, len(torn))
    return Scan(d, segments, expected - 1, torn)


def iter_lines(scan_: Scan, start: tuple[int, int] = (0, 0)) -> Iterator[bytes]:
    """The raw checked lines from ``(segment index, byte offset)`` to the end (torn tail excluded)."""
    si, offset = start
    for seg in scan_.segments[si:]:
        with open(seg.path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(seg.size - offset)
        pos = 0
        offset = 0
        while pos < len(data):
            end = data.find(b"\n", pos)
            if end < 0:
                break
            yield data[pos: end + 1]
            pos = end + 1


def expand(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A ``batch`` record's inner records (each given the batch's seq); any other record alone."""
    if record.get("event") != "batch":
        return [record]
    seq = record["seq"]
    return [{**r, "seq": seq} for r in record.get("records", ())]


def read_records(account_dir: str | Path, *, since_seq: int = 0, verify: bool = True) -> Iterator[dict[str, Any]]:
    """Every record of the account in ``seq`` order (batches expanded), from ``since_seq`` on.

    Read-only: takes no lock and writes nothing. With ``verify`` the whole
    journal is checked first (``JournalCorruptError``); a torn tail is ignored.
    """
    s = scan(account_dir) if verify else _quick_scan(account_dir)
    start = (0, 0)
    if since_seq > 1:
        for i, seg in enumerate(s.segments):
            if seg.first_seq <= since_seq <= max(seg.last_seq, seg.first_seq):
                start = (i, 0)
                break
    for raw in iter_lines(s, start):
        rec = decode_line(raw)
        if rec["seq"] >= since_seq:
            yield from expand(rec)


def _quick_scan(account_dir: str | Path) -> Scan:
    segs = [Segment(first, path, size=path.stat().st_size) for first, path in list_segments(account_dir)]
    return Scan(Path(account_dir), segs, 0)


__all__ = [
    "Scan",
    "Segment",
    "crc_of",
    "expand",
    "iter_lines",
    "list_segments",
    "read_records",
    "scan",
    "segment_name",
    "summary_path",
]
