"""The journal as a write-ahead log: checksummed lines, seq, segments, strict recovery, one writer."""

from __future__ import annotations

import json
import os
import zlib
from datetime import UTC, datetime

import pytest

from LIVE_TRADING.common.exceptions import AccountLockedError, JournalCorruptError, JournalError
from LIVE_TRADING.common.journal import (
    Journal,
    check_line,
    holder_of,
    iter_records,
    list_segments,
    new_run_id,
    read_records,
    scan,
)


def lines_of(account):
    out = []
    for _, path in list_segments(account):
        out.extend(path.read_bytes().splitlines(keepends=True))
    return out


def test_line_format_seq_first_crc_last_checkable_by_any_program(tmp_path, clock):
    j = Journal(tmp_path / "a", clock=clock)
    rec = j.write("order", {"order_id": "a", "qty": 1.5, "when": datetime(2026, 1, 5, tzinfo=UTC)})
    assert rec["seq"] == 1
    (raw,) = lines_of(tmp_path / "a")
    parsed = json.loads(raw)  # plain JSON
    keys = list(parsed)
    assert keys[0] == "seq" and keys[-1] == "crc"
    assert parsed["event"] == "order" and parsed["qty"] == 1.5 and parsed["when"] == "2026-01-05T00:00:00+00:00"
    # the documented check: CRC-32 of the bytes before ,"crc":"
    i = raw.rindex(b',"crc":"')
    assert int(parsed["crc"], 16) == zlib.crc32(raw[:i])
    assert check_line(raw) == 1
    assert check_line(raw.replace(b"1.5", b"2.5")) is None


def test_seq_strictly_increases_across_writers_and_segments(tmp_path, clock):
    acct = tmp_path / "a"
    with Journal(acct, clock=clock, segment_max_bytes=4096) as j:
        for i in range(200):
            j.write("x", {"i": i, "pad": "p" * 40})
    with Journal(acct, clock=clock, segment_max_bytes=4096) as j:
        assert j.seq == 200
        j.write("x", {"i": 200})
    segs = list_segments(acct)
    assert len(segs) > 3 and segs[0][0] == 1
    assert [p.name for _, p in segs][1] == f"{segs[1][0]:020d}.jsonl"  # named by first seq
    assert all(p.with_suffix(".sum").exists() for _, p in segs[:-1])  # closed segments carry a summary
    assert [r["seq"] for r in read_records(acct)] == list(range(1, 202))
    assert [r["i"] for r in read_records(acct)] == list(range(201))


def test_batch_is_one_record_all_or_nothing(tmp_path, clock):
    j = Journal(tmp_path / "a", clock=clock)
    j.write_batch([("order", {"order_id": "b"}), ("fill", {"order_id": "b", "qty": 2})])
    assert len(lines_of(tmp_path / "a")) == 1
    assert [(r["event"], r["seq"]) for r in iter_records(tmp_path / "a")] == [("order", 1), ("fill", 1)]


def test_torn_last_line_is_moved_aside_by_the_writer_only(tmp_path, clock, caplog):
    acct = tmp_path / "a"
    with Journal(acct, clock=clock) as j:
        j.write("x", {"n": 1})
    path = list_segments(acct)[0][1]
    good = path.read_bytes()
    with open(path, "ab") as fh:
        fh.write(b'{"seq":2,"event":"x","n')  # crash mid-write
    assert [r["n"] for r in read_records(acct)] == [1]  # a reader ignores it, changes nothing
    assert path.read_bytes() != good and "torn" in caplog.text
    with Journal(acct, clock=clock) as j:  # the writer repairs: aside + truncate
        assert j.seq == 1
        j.write("x", {"n": 2})
    assert path.with_suffix(".torn").read_bytes() == b'{"seq":2,"event":"x","n'
    assert [r["n"] for r in read_records(acct)] == [1, 2]


@pytest.mark.parametrize("damage", ["flip", "garbage", "gap", "reorder"])
def test_damage_in_the_middle_is_corruption_naming_file_line_seq(tmp_path, clock, damage):
    acct = tmp_path / "a"
    with Journal(acct, clock=clock) as j:
        for n in range(5):
            j.write("x", {"n": n})
    path = list_segments(acct)[0][1]
    lines = path.read_bytes().splitlines(keepends=True)
    if damage == "flip":
        lines[2] = lines[2].replace(b'"n":2', b'"n":7')
    elif damage == "garbage":
        lines[2] = b"not json at all\n"
    elif damage == "gap":
        del lines[2]
    else:
        lines[1], lines[2] = lines[2], lines[1]
    path.write_bytes(b"".join(lines))
    with pytest.raises(JournalCorruptError) as err:
        Journal(acct, clock=clock)
    assert err.value.path == str(path) and err.value.seq is not None
    assert err.value.line == (2 if damage == "reorder" else 3)
    assert str(path) in str(err.value)
    with pytest.raises(JournalCorruptError):
        list(read_records(acct))


def test_missing_segment_is_corruption(tmp_path, clock):
    acct = tmp_path / "a"
    with Journal(acct, clock=clock, segment_max_bytes=4096) as j:
        for i in range(100):
            j.write("x", {"pad": "p" * 60, "i": i})
    segs = list_segments(acct)
    segs[0][1].unlink()  # log rotation took the first file
    with pytest.raises(JournalCorruptError, match="missing segment"):
        scan(acct)
    acct2 = tmp_path / "b"
    with Journal(acct2, clock=clock, segment_max_bytes=4096) as j:
        for i in range(100):
            j.write("x", {"pad": "p" * 60, "i": i})
    segs = list_segments(acct2)
    segs[1][1].unlink()
    with pytest.raises(JournalCorruptError, match="missing segment"):
        scan(acct2)


def test_a_closed_segment_changed_after_its_summary_is_found_line_by_line(tmp_path, clock):
    acct = tmp_path / "a"
    with Journal(acct, clock=clock, segment_max_bytes=4096) as j:
        for i in range(100):
            j.write("x", {"pad": "p" * 60, "i": i})
    path = list_segments(acct)[0][1]
    data = bytearray(path.read_bytes())
    data[200] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorruptError) as err:
        scan(acct)
    assert err.value.path == str(path) and err.value.line is not None


def test_failed_write_raises_and_leaves_no_partial_line(tmp_path, clock, monkeypatch):
    acct = tmp_path / "a"
    j = Journal(acct, clock=clock)
    j.write("x", {"n": 1})
    real_write = os.write

    def half(fd, data):
        real_write(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half)
    with pytest.raises(JournalError, match="No space"):
        j.write("x", {"n": 2})
    monkeypatch.undo()
    assert j.seq == 1
    j.write("x", {"n": 3})
    j.close()
    assert [(r["seq"], r["n"]) for r in read_records(acct)] == [(1, 1), (2, 3)]


def test_one_writer_per_account_names_the_holder(tmp_path, clock):
    acct = tmp_path / "a"
    j = Journal(acct, clock=clock)
    with pytest.raises(AccountLockedError) as err:
        Journal(acct, clock=clock, lock_timeout_s=0.2)
    assert err.value.pid == os.getpid() and err.value.host and "locked by pid" in str(err.value)
    assert holder_of(acct)["pid"] == os.getpid()
    j.close()
    Journal(acct, clock=clock, lock_timeout_s=0).close()  # free again


def test_readers_take_no_lock_and_work_on_a_read_only_directory(tmp_path, clock):
    acct = tmp_path / "a"
    with Journal(acct, clock=clock) as j:
        j.write("x", {"n": 1})
    writer = Journal(acct, clock=clock)  # held by a writer: readers still read
    assert [r["n"] for r in read_records(acct)] == [1]
    writer.close()
    os.chmod(acct, 0o555)
    try:
        before = sorted(p.name for p in acct.iterdir())
        assert [r["n"] for r in read_records(acct)] == [1]
        assert sorted(p.name for p in acct.iterdir()) == before
    finally:
        os.chmod(acct, 0o755)


@pytest.mark.parametrize("durability", ["fsync", "flush", "none"])
def test_segments_stay_within_their_size_whatever_the_durability(tmp_path, clock, durability):
    acct = tmp_path / "a"
    with Journal(acct, clock=clock, segment_max_bytes=4096, durability=durability) as j:
        for i in range(300):
            j.write("x", {"i": i, "pad": "p" * 40})
    segs = list_segments(acct)
    assert len(segs) > 3 and all(p.stat().st_size <= 4096 for _, p in segs)
    assert [r["i"] for r in read_records(acct)] == list(range(300))


def test_durability_none_buffers_until_flush_and_close(tmp_path, clock):
    acct = tmp_path / "a"
    j = Journal(acct, clock=clock, durability="none")
    j.write("x", {"n": 1})
    assert lines_of(acct) == []
    j.flush()
    assert len(lines_of(acct)) == 1
    j.write("x", {"n": 2})
    j.close()
    assert [r["n"] for r in read_records(acct)] == [1, 2]


def test_durability_is_checked(tmp_path, clock):
    with pytest.raises(ValueError, match="durability"):
        Journal(tmp_path / "a", clock=clock, durability="sometimes")


def test_records_that_cannot_be_encoded_raise_journal_error_and_write_nothing(tmp_path, clock):
    j = Journal(tmp_path / "a", clock=clock)
    with pytest.raises(JournalError, match="cannot be encoded"):
        j.write("x", {"bad": object()})
    assert j.seq == 0 and lines_of(tmp_path / "a") == []


def test_run_ids_unique(clock):
    assert len({new_run_id(clock) for _ in range(2000)}) == 2000


def test_damage_before_the_newest_snapshot_of_the_open_segment_is_still_found(tmp_path, clock):
    """The open segment's summary (written at each snapshot) covers its prefix: a flipped byte there is found."""
    acct = tmp_path / "a"
    with Journal(acct, clock=clock) as j:
        for n in range(20):
            j.write("x", {"n": n})
        j.write("snapshot", {"state": {}})
        j.write("x", {"n": 99})
    path = list_segments(acct)[0][1]
    assert path.with_suffix(".sum").exists()
    assert scan(acct).newest_snapshot is not None
    data = bytearray(path.read_bytes())
    data[30] ^= 0x01  # inside record 1, long before the snapshot
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorruptError) as err:
        scan(acct)
    assert err.value.line == 1


def test_lines_after_the_summary_are_checked_one_by_one_with_true_line_numbers(tmp_path, clock):
    acct = tmp_path / "a"
    with Journal(acct, clock=clock) as j:
        for n in range(5):
            j.write("x", {"n": n})
        j.write("snapshot", {"state": {}})
        for n in range(5):
            j.write("x", {"n": n})
    path = list_segments(acct)[0][1]
    lines = path.read_bytes().splitlines(keepends=True)
    lines[8] = lines[8].replace(b'"n":2', b'"n":3')
    path.write_bytes(b"".join(lines))
    with pytest.raises(JournalCorruptError) as err:
        scan(acct)
    assert err.value.line == 9 and err.value.seq == 9


def test_summaries_cover_the_exact_bytes_across_crc_blocks_and_reopening(tmp_path, clock):
    """The open segment's CRC-32 is counted in 64 KiB blocks (``_crc_add``): each summary still matches its bytes."""
    acct = tmp_path / "a"

    def summary_matches() -> None:
        path = list_segments(acct)[-1][1]
        summary = json.loads(path.with_suffix(".sum").read_bytes())
        assert summary["crc32"] == zlib.crc32(path.read_bytes()[: summary["bytes"]])

    with Journal(acct, clock=clock) as j:
        for n in range(1500):  # ~150 KiB: more than two blocks
            j.write("x", {"n": n, "pad": "p" * 40})
            if n in (3, 700, 1499):
                j.write("snapshot", {"state": {"n": n}})
                summary_matches()
    with Journal(acct, clock=clock, segment_max_bytes=200_000) as j:  # reopened: continues the open segment
        for n in range(1500):
            j.write("x", {"n": n, "pad": "p" * 40})
            if n == 100:
                j.write("snapshot", {"state": {"n": n}})
                summary_matches()
    segs = list_segments(acct)
    assert len(segs) >= 2 and all(p.with_suffix(".sum").exists() for _, p in segs[:-1])
    for _, path in segs[:-1]:  # closed segments: the summary covers the whole file
        summary = json.loads(path.with_suffix(".sum").read_bytes())
        assert summary["bytes"] == path.stat().st_size
        assert summary["crc32"] == zlib.crc32(path.read_bytes())
    assert scan(acct).last_seq == j.seq
