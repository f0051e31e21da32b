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

Order counters for Prometheus: ``order_counts`` keyed by (side, order type,
status), ``reject_reasons`` keyed by reason (the error class, or
``risk:<limit>`` for a risk limit; ``venue`` when the venue answered with a
rejected order) and a cumulative latency histogram of ``submit_order``
(``LATENCY_BUCKETS``). ``LIVE_TRADING.monitoring.prometheus`` exports exactly
these counters at scrape time: there is no second set.

Alerts: a rejection raises the ``order_rejected`` signal (many of them make a
``reject_storm`` alert), ``OrderStatusUnknownError`` raises
``order_status_unknown`` and ``JournalError`` raises ``journal_error``
(``LIVE_TRADING.common.alerting``).

Cost: two ``perf_counter`` calls and a few counter updates per call.
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from collections import Counter, deque
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import Any

from LIVE_TRADING.brokers.guard.base import BrokerWrapper
from LIVE_TRADING.brokers.interface import SupportsVenueHealth
from LIVE_TRADING.common import alerting
from LIVE_TRADING.common.constants import STATUS_FILLED, STATUS_REJECTED
from LIVE_TRADING.common.exceptions import (
    AuthenticationError,
    BrokerConnectionError,
    JournalError,
    OrderRejectedError,
    OrderStatusUnknownError,
    RiskLimitError,
)

#: latencies kept per method (a ring buffer) for the percentiles
WINDOW = 1024
RECENT = 20
#: upper bounds (seconds) of the submit_order latency histogram buckets (+Inf is implied)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def reject_reason(error: BaseException) -> str:
    """A short, bounded label for a rejection: the error class, or ``risk:<limit>``."""
    if isinstance(error, RiskLimitError):
        return f"risk:{error.limit}"
    return type(error).__name__


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
        #: method -> perf_counter() of its last successful call (e.g. the last quote: see ``age_s``)
        self.last_ok_at: dict[str, float] = {}
        #: (side, order_type, status) -> submissions; status "error" when the call failed otherwise
        self.order_counts: Counter[tuple[str, str, str]] = Counter()
        self.reject_reasons: Counter[str] = Counter()
        #: submit_order latency histogram: counts per LATENCY_BUCKETS bucket (not cumulative), sum, count
        self.latency_buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.latency_count = 0

    def _observe_submit(self, seconds: float) -> None:
        i = bisect_left(LATENCY_BUCKETS, seconds)
        self.latency_buckets[i] += 1
        self.latency_sum += seconds
        self.latency_count += 1

    def order_outcome(self, side: str, order_type: str, status: str, seconds: float,
                      reason: str | None = None) -> None:
        """Count one order submission by side, type and status (``reason`` for a rejection)."""
        with self._lock:
            self.order_counts[(side, order_type, status)] += 1
            if reason is not None:
                self.reject_reasons[reason] += 1
            self._observe_submit(seconds)

    def order_snapshot(self) -> dict[str, Any]:
        """Copies of the order counters and the latency histogram (for Prometheus)."""
        with self._lock:
            return {
                "orders": dict(self.order_counts),
                "rejects": dict(self.reject_reasons),
                "buckets": list(self.latency_buckets),
                "sum": self.latency_sum,
                "count": self.latency_count,
            }

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
            self.last_ok_at[method] = t1
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

    def age_s(self, method: str) -> float | None:
        """Seconds since ``method`` last succeeded (``None``: never)."""
        t = self.last_ok_at.get(method)
        return None if t is None else max(0.0, time.perf_counter() - t)

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


def _label(value: Any) -> str:
    """A Prometheus label value for a side / order type given by the caller (bounded, lower risk of junk)."""
    text = str(value).strip()
    return text[:20] if text.replace("_", "").isalnum() else "invalid"


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
            if isinstance(exc, JournalError):
                alerting.emit(alerting.JOURNAL_ERROR, venue=self.venue, method=method, message=str(exc))
            raise
        self.metrics.ok(method, t0, perf_counter())
        return result

    def submit_order(self, symbol: str, side: str, qty: float, order_type: str = "market",
                     limit_price: float | None = None, **kwargs: Any) -> dict[str, Any]:
        t0 = perf_counter()
        try:
            result = self._inner.submit_order(symbol, side, qty, order_type, limit_price, **kwargs)
        except Exception as exc:
            seconds = perf_counter() - t0
            self.metrics.failed("submit_order", seconds, exc, order=True)
            self._order_failed(symbol, side, order_type, seconds, exc, kwargs.get("client_order_id"))
            raise
        t1 = perf_counter()
        status = result.get("status", "") if type(result) is dict else ""
        self.metrics.ok("submit_order", t0, t1, status)
        rejected = status == STATUS_REJECTED
        self.metrics.order_outcome(_label(side).upper(), _label(order_type).lower(), status or "unknown", t1 - t0,
                                   "venue" if rejected else None)
        if rejected:
            alerting.emit(alerting.ORDER_REJECTED, venue=self.venue, symbol=result.get("symbol", symbol),
                          reason="venue")
        return result

    def _order_failed(self, symbol: Any, side: Any, order_type: Any, seconds: float, exc: Exception,
                      client_order_id: Any) -> None:
        """Order counters and alerts for a submission that raised ``exc``."""
        if isinstance(exc, OrderRejectedError):
            reason = reject_reason(exc)
            self.metrics.order_outcome(_label(side).upper(), _label(order_type).lower(), STATUS_REJECTED, seconds, reason)
            alerting.emit(alerting.ORDER_REJECTED, venue=self.venue, symbol=getattr(exc, "symbol", symbol),
                          reason=reason)
            return
        self.metrics.order_outcome(_label(side).upper(), _label(order_type).lower(), "error", seconds)
        if isinstance(exc, OrderStatusUnknownError):
            alerting.emit(alerting.ORDER_STATUS_UNKNOWN, venue=self.venue, symbol=symbol, side=side,
                          client_order_id=exc.client_order_id, message=str(exc))
        elif isinstance(exc, JournalError):
            alerting.emit(alerting.JOURNAL_ERROR, venue=self.venue, message=str(exc))

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
        venue = self.unwrap()
        reasons: list[str] = []
        if isinstance(venue, SupportsVenueHealth):
            try:
                venue_status = dict(venue.venue_health())
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
