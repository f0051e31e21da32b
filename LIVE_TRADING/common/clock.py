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

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0.0, **kw: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds, **kw)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = ensure_utc(when, "when")


__all__ = ["Clock", "ManualClock", "ensure_utc", "utc_now"]
