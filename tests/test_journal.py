"""The JSONL journal: format, one open file, day rotation, torn lines, failures."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

import pytest

from LIVE_TRADING.common.clock import ManualClock
from LIVE_TRADING.common.exceptions import BrokerError
from LIVE_TRADING.common.journal import Journal, iter_records, journal_files, latest_run_id, new_run_id


def test_records_are_whole_json_lines(tmp_path, clock):
    j = Journal(tmp_path / "j", clock=clock)
    j.write("order", {"order_id": "a", "qty": 1.5, "when": datetime(2026, 1, 5, tzinfo=UTC)})
    j.write_batch([("order", {"order_id": "b"}), ("fill", {"order_id": "b", "qty": 2})])
    lines = (tmp_path / "j" / "2026-01-05.jsonl").read_text().splitlines()
    assert len(lines) == 3
    recs = [json.loads(line) for line in lines]
    assert [r["event"] for r in recs] == ["order", "order", "fill"]
    assert all(r["run_id"] == j.run_id for r in recs)
    assert recs[0]["ts"] == "2026-01-05T14:30:00+00:00"
    assert recs[0]["when"] == "2026-01-05T00:00:00+00:00"


def test_file_opened_once(tmp_path, clock, monkeypatch):
    opened = []
    real_open = os.open

    def counting_open(path, *a, **kw):
        opened.append(path)
        return real_open(path, *a, **kw)

    monkeypatch.setattr(os, "open", counting_open)
    j = Journal(tmp_path, clock=clock)
    for i in range(50):
        j.write("fill", {"i": i})
    assert len(opened) == 1


def test_one_file_per_utc_day(tmp_path):
    clock = ManualClock("2026-01-05T23:59:59+00:00")
    j = Journal(tmp_path, clock=clock)
    j.write("order", {"n": 1})
    clock.advance(seconds=2)
    j.write("order", {"n": 2})
    assert [p.name for p in journal_files(tmp_path)] == ["2026-01-05.jsonl", "2026-01-06.jsonl"]
    assert [r["n"] for r in iter_records(tmp_path)] == [1, 2]


def test_nan_is_refused_not_written(tmp_path, clock):
    j = Journal(tmp_path, clock=clock)
    with pytest.raises(BrokerError, match="cannot be encoded"):
        j.write("fill", {"qty": float("nan")})
    assert list(iter_records(tmp_path)) == []


def test_torn_last_line_skipped_with_warning_and_next_record_intact(tmp_path, clock, caplog):
    j = Journal(tmp_path, clock=clock)
    j.write("order", {"n": 1})
    j.close()
    path = journal_files(tmp_path)[0]
    with open(path, "ab") as fh:
        fh.write(b'{"event": "fill", "run_id": "x", "qt')  # crash mid-write
    j2 = Journal(tmp_path, run_id=j.run_id, clock=clock)
    j2.write("order", {"n": 2})
    with caplog.at_level(logging.WARNING):
        recs = list(iter_records(tmp_path))
    assert [r["n"] for r in recs] == [1, 2]
    assert "torn" in caplog.text


def test_write_failure_raises_broker_error(tmp_path, clock, monkeypatch):
    j = Journal(tmp_path, clock=clock)
    j.write("order", {"n": 1})

    def full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(BrokerError, match="No space left"):
        j.write("order", {"n": 2})


def test_unwritable_directory(tmp_path, clock):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BrokerError, match="cannot be created"):
        Journal(blocker / "sub", clock=clock)


def test_fsync_option_calls_fsync(tmp_path, clock, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd))
    j = Journal(tmp_path, clock=clock, fsync=True)
    j.write("order", {})
    j.write_batch([("order", {}), ("fill", {})])
    assert len(calls) == 2


def test_latest_run_and_filter(tmp_path, clock):
    a = Journal(tmp_path, clock=clock)
    a.write("session", {})
    clock.advance(seconds=1)
    b = Journal(tmp_path, clock=clock)
    b.write("session", {})
    assert latest_run_id(tmp_path) == b.run_id
    assert len(list(iter_records(tmp_path, a.run_id))) == 1
    assert latest_run_id(tmp_path / "nothing") is None


def test_run_ids_unique(clock):
    assert len({new_run_id(clock) for _ in range(2000)}) == 2000
