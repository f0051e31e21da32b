"""What a monitoring server looks at: one account on one venue.

``MonitorSource`` gathers, without ever raising, the facts the endpoints
show:

- from the **journal** (``account.account_figures``): cash, equity, positions,
  fills, last fill time, last seq, journal lag: right across processes and
  restarts;
- from the **broker object** of this process, when there is one (``run
  --serve``, or ``serve`` on a live venue): the call metrics of
  ``InstrumentedBroker`` (latencies, errors, order counters), the adapter's
  ``venue_health()`` (connection, rate-limit headroom, circuit breaker), and
  quote marks for equity;
- extra circuit breakers (a data provider's), and the alert manager's counters.

Live venues journal no starting cash: their cash and positions come from the
broker (``get_cash`` / ``get_positions`` of the venue adapter) when one is
attached.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from LIVE_TRADING.brokers.capabilities import (
    SupportsHealth,
    SupportsMetrics,
    SupportsPositionDetails,
    SupportsVenueHealth,
    find_layer,
    venue_broker,
)
from LIVE_TRADING.common.circuit import CircuitBreaker
from LIVE_TRADING.common.clock import Clock, utc_now
from LIVE_TRADING.monitoring.account import AccountFigures, account_figures

logger = logging.getLogger(__name__)


@dataclass
class MonitorSource:
    """One account on one venue, as the monitoring endpoints see it."""

    venue: str
    log_dir: Path
    account: str = "default"
    broker: Any = None
    circuits: list[CircuitBreaker] = field(default_factory=list)
    alerts: Any = None  # an AlertManager (its stats are shown), or None
    clock: Clock = utc_now

    # -- the broker side (all optional) ----------------------------------------------
    def venue_broker(self) -> Any:
        """The innermost (venue adapter) broker, or None."""
        return venue_broker(self.broker) if self.broker is not None else None

    def metrics(self) -> Any:
        """The ``BrokerMetrics`` of this process's broker (``None`` without an instrumented broker)."""
        layer = find_layer(self.broker, SupportsMetrics)
        return layer.metrics if layer is not None else None

    def venue_status(self) -> dict[str, Any]:
        """``venue_health()`` of the venue adapter (``{}`` when none; ``{"error": ...}`` if it failed)."""
        inner = self.venue_broker()
        if not isinstance(inner, SupportsVenueHealth):
            return {}
        try:
            return dict(inner.venue_health())
        except Exception as exc:  # a probe must never break monitoring
            return {"error": f"{type(exc).__name__}: {exc}"}

    def broker_health(self) -> dict[str, Any] | None:
        """``InstrumentedBroker.health()`` (``None`` without one)."""
        layer = find_layer(self.broker, SupportsHealth)
        if layer is None:
            return None
        try:
            return dict(layer.health())
        except Exception as exc:
            return {"healthy": False, "reasons": [f"health() failed: {type(exc).__name__}: {exc}"]}

    def circuit_snapshots(self, status: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Snapshots of every breaker: the venue's (from ``venue_health()``) and the extra ones."""
        status = self.venue_status() if status is None else status
        out = []
        venue_circuit = status.get("circuit")
        if isinstance(venue_circuit, dict):
            out.append({**venue_circuit, "venue": self.venue})
        for breaker in self.circuits:
            out.append({**breaker.snapshot(), "venue": breaker.name})
        return out

    def marks(self) -> dict[str, float]:
        """Prices to mark positions at: the broker's quote mids where it has them."""
        inner = self.venue_broker()
        if not isinstance(inner, SupportsPositionDetails):
            return {}
        try:
            details = inner.get_position_details()
        except Exception:
            return {}
        return {s: float(mark) for s, d in details.items() if (mark := d.get("market_price")) is not None}

    # -- the journal side ------------------------------------------------------------------
    def figures(self) -> AccountFigures:
        """Account figures from the journal (raises when the journal cannot be read)."""
        figures = account_figures(self.log_dir, self.marks())
        inner = self.venue_broker()
        if figures.cash is None and inner is not None:  # a live venue: the venue knows cash and holdings
            try:
                cash = float(inner.get_cash())
                positions = {str(s): float(q) for s, q in inner.get_positions().items()}
            except Exception as exc:
                logger.warning("Monitoring could not read cash/positions from %s: %s", self.venue, exc)
            else:
                figures = replace(figures, cash=cash, positions=positions)
        return figures

    def now(self) -> datetime:
        return self.clock()


__all__ = ["MonitorSource"]
