"""The health verdict behind ``GET /health`` and the report behind ``GET /health/detailed``.

Status
    ``unhealthy`` (HTTP 503) when the account cannot be trusted to trade:
    the venue is not connected, the venue's circuit breaker is open, the
    broker's own verdict (``InstrumentedBroker.health()``: the last call failed
    with a connection error, most recent calls failed, the rate limit is
    nearly used up) is not healthy, or the journal cannot be read.

    ``degraded`` (HTTP 200) when trading works but needs a look: a circuit is
    half-open, or another breaker (a data provider's) is open; less than
    ``degraded_headroom`` of the rate limit is left; more than
    ``degraded_reject_rate`` of the recent order submissions were rejected;
    the last quote is older than ``max_quote_age_s``.

    ``ok`` otherwise. Every non-ok status lists its ``reasons``.

``HealthMonitor.check()`` computes the verdict and raises a
``health_unhealthy`` alert when the status turns unhealthy (once per turn;
the alert manager deduplicates further).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from LIVE_TRADING.common import alerting
from LIVE_TRADING.common.circuit import HALF_OPEN, OPEN
from LIVE_TRADING.common.exceptions import LiveTradingError
from LIVE_TRADING.monitoring.account import AccountFigures
from LIVE_TRADING.monitoring.source import MonitorSource

OK, DEGRADED, UNHEALTHY = "ok", "degraded", "unhealthy"
STATUS_VALUES = {OK: 0, DEGRADED: 1, UNHEALTHY: 2}


@dataclass
class HealthReport:
    """A verdict, its reasons and the facts behind it."""

    status: str
    reasons: list[str] = field(default_factory=list)
    detailed: dict[str, Any] = field(default_factory=dict)
    figures: AccountFigures | None = None


def _age(now: datetime, then: Any) -> float | None:
    if isinstance(then, str):
        try:
            then = datetime.fromisoformat(then)
        except ValueError:
            return None
    if not isinstance(then, datetime):
        return None
    return max(0.0, (now - then).total_seconds())


class HealthMonitor:
    """Computes ``HealthReport``s for one ``MonitorSource`` and alerts when it turns unhealthy."""

    def __init__(self, source: MonitorSource, *, max_quote_age_s: float = 300.0, degraded_headroom: float = 0.2,
                 degraded_reject_rate: float = 0.5) -> None:
        self.source = source
        self.max_quote_age_s = max_quote_age_s
        self.degraded_headroom = degraded_headroom
        self.degraded_reject_rate = degraded_reject_rate
        self._lock = threading.Lock()
        self._last_status: str | None = None
        self._journal_failing = False

    def check(self) -> HealthReport:
        """The verdict now (never raises); alerts on a turn to unhealthy or a journal that cannot be read."""
        report = self._evaluate()
        with self._lock:
            turned = report.status == UNHEALTHY and self._last_status != UNHEALTHY
            self._last_status = report.status
        if turned:
            alerting.emit(alerting.HEALTH_UNHEALTHY, venue=self.source.venue, reasons=list(report.reasons))
        return report

    # -- the rules --------------------------------------------------------------------
    def _evaluate(self) -> HealthReport:
        src = self.source
        now = src.now()
        bad: list[str] = []
        meh: list[str] = []

        status = src.venue_status()
        broker_health = src.broker_health()
        metrics = src.metrics()
        circuits = src.circuit_snapshots(status)

        if "error" in status:
            bad.append(f"venue health probe failed: {status['error']}")
        if status.get("connected") is False:
            bad.append(f"not connected to {src.venue}")
        if broker_health is not None and not broker_health.get("healthy", True):
            bad.extend(r for r in broker_health.get("reasons", [])
                       if r not in bad and r != "not connected to the venue")  # said above, with its name
        for c in circuits:
            if c["state"] == OPEN and c["venue"] == src.venue:
                bad.append(f"circuit for {c['venue']} is open ({c.get('last_reason', '')})")
            elif c["state"] == OPEN:
                meh.append(f"circuit for {c['venue']} is open ({c.get('last_reason', '')})")
            elif c["state"] == HALF_OPEN:
                meh.append(f"circuit for {c['venue']} is half-open (probing)")

        headroom = status.get("rate_limit_headroom")
        if isinstance(headroom, int | float) and headroom < self.degraded_headroom:
            meh.append(f"rate limit: only {headroom:.0%} left")

        snap = metrics.snapshot() if metrics is not None else None
        orders = snap["orders"] if snap else {}
        counts = metrics.order_snapshot()["orders"] if metrics is not None else {}
        attempts = sum(counts.values())
        rejected = sum(n for (_, _, st), n in counts.items() if st == "rejected")
        reject_rate = rejected / attempts if attempts else 0.0
        if attempts >= 5 and reject_rate > self.degraded_reject_rate:
            meh.append(f"{reject_rate:.0%} of order submissions were rejected")

        quote_age = _age(now, status.get("last_quote_at"))
        if quote_age is None and metrics is not None:
            quote_age = metrics.age_s("get_quote")
        if quote_age is not None and quote_age > self.max_quote_age_s:
            meh.append(f"last quote is {quote_age:.0f}s old (max {self.max_quote_age_s:g}s)")

        figures: AccountFigures | None = None
        journal: dict[str, Any] = {"log_dir": str(src.log_dir)}
        try:
            figures = src.figures()
        except (LiveTradingError, OSError, ValueError) as exc:
            bad.append(f"journal cannot be read: {type(exc).__name__}: {exc}")
            journal["error"] = f"{type(exc).__name__}: {exc}"
            if not self._journal_failing:
                alerting.emit(alerting.JOURNAL_ERROR, venue=src.venue, log_dir=str(src.log_dir), message=str(exc))
            self._journal_failing = True
        else:
            self._journal_failing = False
            journal.update(run_id=figures.run_id, records=figures.records, last_seq=figures.last_seq,
                           last_record_at=figures.last_record_time,
                           lag_s=_age(now, figures.last_record_time))

        calls = snap["calls"] if snap else {}
        submit = calls.get("submit_order") or {}
        all_calls = sum(c["count"] for c in calls.values())
        all_errors = sum(c["errors"] for c in calls.values())
        venue_detail = {
            "connection": {
                "connected": status.get("connected"),
                "reconnects": int(status.get("reconnects", 0) or 0),
                "status": {k: v for k, v in status.items() if k != "circuit"},
            },
            "latency_ms": {k: submit.get(k) for k in ("p50_ms", "p95_ms", "p99_ms")} if submit else None,
            "calls": calls,
            "error_rate": all_errors / all_calls if all_calls else 0.0,
            "recent_failure_rate": snap["recent_failure_rate"] if snap else None,
            "reject_rate": reject_rate,
            "orders": orders,
            "rate_limit": {"headroom": headroom,
                           "used_ratio": (1.0 - headroom) if isinstance(headroom, int | float) else None},
            "circuit": next((c for c in circuits if c["venue"] == src.venue), None),
            "last_quote_age_s": quote_age,
            "last_fill_age_s": _age(now, figures.last_fill_time) if figures else None,
            "last_error": snap["last_error"] if snap else None,
        }
        state = UNHEALTHY if bad else DEGRADED if meh else OK
        reasons = bad + meh
        detailed = {
            "status": state,
            "reasons": reasons,
            "account": src.account,
            "time": now,
            "venues": {src.venue: venue_detail},
            "circuits": circuits,
            "journal": journal,
            "account_figures": figures.as_dict() if figures else None,
            "alerts": dict(src.alerts.stats) if src.alerts is not None else None,
        }
        return HealthReport(state, reasons, detailed, figures)


__all__ = ["DEGRADED", "OK", "STATUS_VALUES", "UNHEALTHY", "HealthMonitor", "HealthReport"]
