"""Clocks: callables returning a timezone-aware UTC ``datetime``.

Everything that needs the time takes a ``clock`` argument so tests and
simulations control it. ``ManualClock`` is the one tests use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The system time, timezone-aware UTC (the default clock)."""
    return datetime.now(UTC)


def ensure_utc(value: datetime, what: str = "timestamp") -> datetime:
    """``value`` as an aware UTC datetime; naive datetimes are refused (ambiguous)."""
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


class ManualClock:
    """A clock that only moves when told to: ``clock.advance(seconds=5)``."""

    def __init__(self, start: datetime | str = "2026-01-05T14:30:00+00:00") -> None:
        if isinstance(start, str):
            start = datetime.fromisoformat(start)
        self._now = ensure_utc(start, "start")
        self._lock = threading.Lock()
        self._step: tuple[float, timedelta] = (0.0, timedelta(0))  # the last ``advance(seconds)`` and its timedelta

    def __call__(self) -> datetime:
        return self._now  # one reference read: atomic, so no lock (``advance``/``set`` replace it whole)

    def advance(self, seconds: float = 0.0, **kw: float) -> datetime:
        """Move the clock on by ``timedelta(seconds=seconds, **kw)``; the new time."""
        if kw:
            delta = timedelta(seconds=seconds, **kw)
        else:  # a simulated run moves by the same step each time: its timedelta is kept
            step = self._step
            if step[0] == seconds and type(seconds) is type(step[0]):
                delta = step[1]
            else:
                delta = timedelta(seconds=seconds)
                self._step = (seconds, delta)
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = ensure_utc(when, "when")


#: names ``get_broker(clock=...)`` accepts: a simulated clock for backtests, or the system time
CLOCK_NAMES = ("sim", "real")


def make_clock(name: str, start: datetime | str | None = None) -> Clock:
    """``"sim"``: a new ``ManualClock`` (at ``start``, default 2026-01-05 14:30 UTC); ``"real"``: ``utc_now``.

    A backtest moves a ``"sim"`` clock itself (``clock.advance(hours=1)``), so
    every timestamp (orders, fills, journal, quotes) is simulated time, not wall-clock time.
    """
    key = str(name).strip().lower()
    if key == "sim":
        return ManualClock(start) if start is not None else ManualClock()
    if key == "real":
        return utc_now
    raise ValueError(f"clock must be a callable or one of {', '.join(CLOCK_NAMES)}, got {name!r}")


__all__ = ["CLOCK_NAMES", "Clock", "ManualClock", "ensure_utc", "make_clock", "utc_now"]
