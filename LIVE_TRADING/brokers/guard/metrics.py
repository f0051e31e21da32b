"""Per-broker metrics and a health verdict (seed "BrokerMetrics" / "health score").

``get_broker`` puts every broker behind an ``InstrumentedBroker``: each
protocol call is timed and counted, failures are counted by error class, and
order outcomes are tallied. ``broker.health()`` turns that into a verdict::

    {
      "healthy": True, "reasons": [],
      "venue": "paper",
      "calls": {"submit_order": {"count": 120, "errors": 2, "p50_ms": 0.02, "p95_ms": ..., "p99_ms": ...}, ...},
      "orders": {"submitted": 118, "filled": 110, "rejected": 2, "open": 6},
      "errors": {"InsufficientFundsError": 2},
      "reconnects": 0,
      "last_success": datetime | None, "last_error": {"at": ..., "error": "...", "message": "..."} | None,
      "rate_limit_headroom": 0.93 | None,      # fraction of the venue's request budget left
      "venue_status": {...},                    # whatever the venue adapter reports (venue_health())
    }

Unhealthy when: the venue says it is not connected; the most recent call failed
with a connection or authentication error; more than half of the last 20
calls failed for reasons other than order rejections; or less than 10% of the
rate limit is left. Venue adapters may expose ``venue_health() -> dict`` with
``connected``, ``reconnects`` and ``rate_limit_headroom`` keys.

Cost: two ``perf_counter`` calls and a few counter updates per call.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import Any

from LIVE_TRADING.brokers.guard.base import BrokerWrapper
from LIVE_TRADING.common.constants import STATUS_FILLED, STATUS_REJECTED
from LIVE_TRADING.common.exceptions import AuthenticationError, BrokerConnectionError, OrderRejectedError

#: latencies kept per method (a ring buffer) for the percentiles
WINDOW = 1024
RECENT = 20


def _percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (``q`` in 0..100)."""
    if not sorted_values:
        return 0.0
    k = max(0, min(len(sorted_values) - 1, math.ceil(q / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


class _MethodStats:
    __slots__ = ("count", "errors", "latency")

    def __init__(self, window: int) -> None:
        self.count = 0
        self.errors = 0
        self.latency: deque[float] = deque(maxlen=window)


class BrokerMetrics:
    """Counters and latency windows of one broker. Thread-safe (one lock, held briefly)."""

    def __init__(self, window: int = WINDOW) -> None:
        self._lock = threading.Lock()
        self._window = window
        self._stats: dict[str, _MethodStats] = {}
        self.errors: Counter[str] = Counter()
        self.submitted = 0
        self.filled = 0
        self.rejected = 0
        self.recent: deque[bool] = deque(maxlen=RECENT)  # True = the call failed (not a rejection)
        self._last_success: float | None = None  # perf_counter() of the last successful call
        self.last_error: dict[str, Any] | None = None
        self.last_call_failed_hard = False

    def _stat(self, method: str) -> _MethodStats:
        st = self._stats.get(method)
        if st is None:
            st = self._stats[method] = _MethodStats(self._window)
        return st

    def ok(self, method: str, t0: float, t1: float, status: str | None = None) -> None:
        """Count a successful call of ``method`` that ran from ``t0`` to ``t1`` (``perf_counter``).

        ``status`` marks an order submission and is the order's status.
        """
        with self._lock:
            st = self._stats.get(method) or self._stat(method)
            st.count += 1
            st.latency.append(t1 - t0)
            self._last_success = t1
            self.recent.append(False)
            self.last_call_failed_hard = False
            if status is not None:
                self.submitted += 1
                if status == STATUS_FILLED:
                    self.filled += 1
                elif status == STATUS_REJECTED:
                    self.rejected += 1

    def failed(self, method: str, seconds: float, error: BaseException, order: bool = False) -> None:
        """Count a call of ``method`` that raised ``error`` (``order``: a submission, so a rejection counts)."""
        name = type(error).__name__
        rejection = isinstance(error, OrderRejectedError)
        with self._lock:
            st = self._stat(method)
            st.count += 1
            st.errors += 1
            st.latency.append(seconds)
            self.errors[name] += 1
            if order and rejection:
                self.rejected += 1
            self.recent.append(not rejection)
            self.last_call_failed_hard = isinstance(error, BrokerConnectionError | AuthenticationError)
            self.last_error = {"at": datetime.now(UTC), "method": method, "error": name, "message": str(error)}

    def record(self, method: str, seconds: float, error: BaseException | None = None) -> None:
        """Count one call of ``method`` that took ``seconds`` (and raised ``error``, if given)."""
        if error is not None:
            self.failed(method, seconds, error)
        else:
            t1 = time.perf_counter()
            self.ok(method, t1 - seconds, t1)

    @property
    def calls(self) -> dict[str, int]:
        return {m: st.count for m, st in self._stats.items()}

    @property
    def latency(self) -> dict[str, deque[float]]:
        return {m: st.latency for m, st in self._stats.items()}

    @property
    def last_success(self) -> datetime | None:
        t = self._last_success
        if t is None:
            return None
        return datetime.now(UTC) - timedelta(seconds=time.perf_counter() - t)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            calls = {}
            for method, st in self._stats.items():
                values = sorted(st.latency)
                calls[method] = {
                    "count": st.count,
                    "errors": st.errors,
                    "p50_ms": _percentile(values, 50) * 1e3,
                    "p95_ms": _percentile(values, 95) * 1e3,
                    "p99_ms": _percentile(values, 99) * 1e3,
                }
            return {
                "calls": calls,
                "orders": {"submitted": self.submitted, "filled": self.filled, "rejected": self.rejected},
                "errors": dict(self.errors),
                "last_success": self.last_success,
                "last_error": dict(self.last_error) if self.last_error else None,
                "recent_failure_rate": (sum(self.recent) / len(self.recent)) if self.recent else 0.0,
                "last_call_failed_hard": self.last_call_failed_hard,
            }


class InstrumentedBroker(BrokerWrapper):
    """A Broker that times and counts every call of the broker it wraps; adds ``health()``."""

    def __init__(self, inner: Any, venue: str | None = None) -> None:
        super().__init__(inner)
        self.metrics = BrokerMetrics()
        self.venue = venue or type(self.unwrap()).__name__

    def _timed(self, method: str, fn: Any, *args: Any) -> Any:
        t0 = perf_counter()
        try:
            result = fn(*args)
        except Exception as exc:
            self.metrics.failed(method, perf_counter() - t0, exc)
            raise
        self.metrics.ok(method, t0, perf_counter())
        return result

    def submit_order(self, symbol: str, side: str, qty: float, order_type: str = "market",
                     limit_price: float | None = None, **kwargs: Any) -> dict[str, Any]:
        t0 = perf_counter()
        try:
            result = self._inner.submit_order(symbol, side, qty, order_type, limit_price, **kwargs)
        except Exception as exc:
            self.metrics.failed("submit_order", perf_counter() - t0, exc, order=True)
            raise
        self.metrics.ok("submit_order", t0, perf_counter(), result.get("status", "") if type(result) is dict else "")
        return result

    def _timed_order(self, method: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = perf_counter()
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            self.metrics.failed(method, perf_counter() - t0, exc, order=True)
            raise
        # a bracket / OCO is timed, not counted as one submission (its legs have their own statuses)
        self.metrics.ok(method, t0, perf_counter())
        return result

    def modify_order(self, order_id: str, **kwargs: Any) -> dict[str, Any]:
        return self._timed("modify_order", lambda: self._inner.modify_order(order_id, **kwargs))

    def submit_bracket(self, symbol: str, side: str, qty: float, **kwargs: Any) -> dict[str, Any]:
        return self._timed_order("submit_bracket", self._inner.submit_bracket, symbol, side, qty, **kwargs)

    def submit_oco(self, symbol: str, side: str, qty: float, **kwargs: Any) -> dict[str, Any]:
        return self._timed_order("submit_oco", self._inner.submit_oco, symbol, side, qty, **kwargs)

    def reconcile(self) -> dict[str, Any]:
        return self._timed("reconcile", self._inner.reconcile)

    def cancel_order(self, order_id: str) -> dict[str, Any]:
        return self._timed("cancel_order", self._inner.cancel_order, order_id)

    def get_order(self, order_id: str) -> dict[str, Any]:
        return self._timed("get_order", self._inner.get_order, order_id)

    def get_open_orders(self) -> list[dict[str, Any]]:
        return self._timed("get_open_orders", self._inner.get_open_orders)

    def get_positions(self) -> dict[str, float]:
        return self._timed("get_positions", self._inner.get_positions)

    def get_cash(self) -> float:
        return self._timed("get_cash", self._inner.get_cash)

    def get_fills(self, since: datetime | None = None) -> list[dict[str, Any]]:
        return self._timed("get_fills", self._inner.get_fills, since)

    def get_quote(self, symbol: str) -> dict[str, Any]:
        return self._timed("get_quote", self._inner.get_quote, symbol)

    def now(self) -> datetime:
        return self._timed("now", self._inner.now)

    def health(self) -> dict[str, Any]:
        """Metrics plus a ``healthy`` verdict and the ``reasons`` for it (see the module docstring)."""
        snap = self.metrics.snapshot()
        venue_status: dict[str, Any] = {}
        probe = getattr(self.unwrap(), "venue_health", None)
        reasons: list[str] = []
        if callable(probe):
            try:
                venue_status = dict(probe())
            except Exception as exc:  # a health probe must never raise
                reasons.append(f"venue health probe failed: {type(exc).__name__}: {exc}")
        if venue_status.get("connected") is False:
            reasons.append("not connected to the venue")
        if snap["last_call_failed_hard"] and snap["last_error"]:
            reasons.append(f"last call failed: {snap['last_error']['error']}: {snap['last_error']['message']}")
        if len(self.metrics.recent) >= 5 and snap["recent_failure_rate"] > 0.5:
            reasons.append(f"{snap['recent_failure_rate']:.0%} of the last {len(self.metrics.recent)} calls failed")
        headroom = venue_status.get("rate_limit_headroom")
        if headroom is not None and headroom < 0.10:
            reasons.append(f"rate limit nearly used up ({headroom:.0%} left)")
        snap["orders"]["open"] = venue_status.get("open_orders")
        return {
            "healthy": not reasons,
            "reasons": reasons,
            "venue": self.venue,
            **snap,
            "reconnects": int(venue_status.get("reconnects", 0) or 0),
            "rate_limit_headroom": headroom,
            "venue_status": venue_status,
        }


__all__ = ["BrokerMetrics", "InstrumentedBroker"]
