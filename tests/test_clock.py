"""``ManualClock``: the simulated clock a backtest moves itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from LIVE_TRADING.common.clock import ManualClock


def test_advance_moves_by_each_step_asked_whatever_came_before():
    """``advance`` keeps the timedelta of a repeated step; a different step, keyword units or a step of another
    numeric type are each their own (and a bad step is still refused, the clock left where it was)."""
    start = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
    clock = ManualClock(start)
    steps = [(60, {}), (60, {}), (30, {}), (60, {}), (0.5, {}), (0.5, {}), (0, {"minutes": 2}), (60.0, {}),
             (True, {}), (1, {}), (60, {"hours": 1})]
    expected = start
    for seconds, kw in steps:
        expected += timedelta(seconds=seconds, **kw)
        assert clock.advance(seconds, **kw) == expected == clock()
    with pytest.raises(ValueError):
        clock.advance(float("nan"))
    assert clock() == expected
