"""``GET /metrics``: the Prometheus text format, made by ``prometheus_client``.

Each server has its own ``CollectorRegistry`` (never the library's global
default one) holding one custom collector, ``LiveTradingCollector``, which
reads fresh figures at every scrape; nothing is copied into a second set of
counters:

==========================================  =======  =====================================================
metric                                      type     source
==========================================  =======  =====================================================
live_trading_orders_total{venue,side,       counter  ``BrokerMetrics.order_counts`` (this process)
  type,status}
live_trading_rejects_total{venue,reason}    counter  ``BrokerMetrics.reject_reasons`` (this process)
live_trading_order_latency_seconds{venue}   histo.   ``BrokerMetrics`` submit_order histogram
live_trading_fills_total{venue}             counter  the journal (every process, across restarts)
live_trading_cash{venue}                    gauge    the journal (live venues: the venue)
live_trading_equity{venue}                  gauge    the journal, positions marked at quote mids
live_trading_position{venue,symbol}         gauge    the journal (live venues: the venue)
live_trading_journal_last_seq{venue}        gauge    the journal
live_trading_journal_lag_seconds{venue}     gauge    age of the last journal record
live_trading_last_fill_age_seconds{venue}   gauge    age of the last fill
live_trading_circuit_state{venue}           gauge    0 closed, 1 half-open, 2 open (one per breaker)
live_trading_circuit_opened_total{venue}    counter  times each breaker opened
live_trading_rate_limit_used_ratio{venue}   gauge    1 - the venue's rate-limit headroom
live_trading_health_status{venue}           gauge    0 ok, 1 degraded, 2 unhealthy
live_trading_alerts_total{outcome}          counter  the alert manager's counters
==========================================  =======  =====================================================

Order counters cover the process that serves them (``run --serve``); the
account figures come from the journal and so are right in any process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from LIVE_TRADING.brokers.guard.metrics import LATENCY_BUCKETS
from LIVE_TRADING.common.circuit import STATE_VALUES
from LIVE_TRADING.monitoring.health import STATUS_VALUES, HealthMonitor

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class LiveTradingCollector(Collector):
    """Reads a ``HealthMonitor``'s source at scrape time (see the module docstring)."""

    def __init__(self, monitor: HealthMonitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Metric]:
        src = self.monitor.source
        venue = src.venue
        report = self.monitor.check()
        detail = report.detailed["venues"][venue]

        yield from self._orders(src, venue)

        figures = report.figures
        fills = CounterMetricFamily("live_trading_fills", "Fills in the account's journal", labels=["venue"])
        cash = GaugeMetricFamily("live_trading_cash", "Cash of the account", labels=["venue"])
        equity = GaugeMetricFamily("live_trading_equity", "Cash plus positions at their marks", labels=["venue"])
        position = GaugeMetricFamily("live_trading_position", "Signed position (units)", labels=["venue", "symbol"])
        seq = GaugeMetricFamily("live_trading_journal_last_seq", "Sequence number of the last journal record",
                                labels=["venue"])
        lag = GaugeMetricFamily("live_trading_journal_lag_seconds", "Age of the last journal record",
                                labels=["venue"])
        fill_age = GaugeMetricFamily("live_trading_last_fill_age_seconds", "Age of the last fill", labels=["venue"])
        if figures is not None:
            fills.add_metric([venue], figures.fills)
            if figures.cash is not None:
                cash.add_metric([venue], figures.cash)
            if figures.equity is not None:
                equity.add_metric([venue], figures.equity)
            for sym, qty in sorted(figures.positions.items()):
                position.add_metric([venue, sym], qty)
            if figures.last_seq is not None:
                seq.add_metric([venue], figures.last_seq)
            if report.detailed["journal"].get("lag_s") is not None:
                lag.add_metric([venue], report.detailed["journal"]["lag_s"])
            if detail["last_fill_age_s"] is not None:
                fill_age.add_metric([venue], detail["last_fill_age_s"])
        yield from (fills, cash, equity, position, seq, lag, fill_age)

        state = GaugeMetricFamily("live_trading_circuit_state", "Circuit breaker: 0 closed, 1 half-open, 2 open",
                                  labels=["venue"])
        opened = CounterMetricFamily("live_trading_circuit_opened", "Times the circuit breaker opened",
                                     labels=["venue"])
        for c in report.detailed["circuits"]:
            state.add_metric([c["venue"]], STATE_VALUES[c["state"]])
            opened.add_metric([c["venue"]], c["opened"])
        yield from (state, opened)

        used = GaugeMetricFamily("live_trading_rate_limit_used_ratio", "Fraction of the venue's rate limit used",
                                 labels=["venue"])
        ratio = detail["rate_limit"]["used_ratio"]
        if ratio is not None:
            used.add_metric([venue], ratio)
        yield used

        health = GaugeMetricFamily("live_trading_health_status", "0 ok, 1 degraded, 2 unhealthy", labels=["venue"])
        health.add_metric([venue], STATUS_VALUES[report.status])
        yield health

        if src.alerts is not None:
            alerts = CounterMetricFamily("live_trading_alerts", "Alerts by outcome", labels=["outcome"])
            for outcome, n in sorted(src.alerts.stats.items()):
                alerts.add_metric([outcome], n)
            yield alerts

    @staticmethod
    def _orders(src: Any, venue: str) -> Iterator[Metric]:
        orders = CounterMetricFamily("live_trading_orders", "Order submissions by side, type and status",
                                     labels=["venue", "side", "type", "status"])
        rejects = CounterMetricFamily("live_trading_rejects", "Order rejections by reason",
                                      labels=["venue", "reason"])
        latency = HistogramMetricFamily("live_trading_order_latency_seconds", "submit_order latency",
                                        labels=["venue"])
        metrics = src.metrics()
        if metrics is not None:
            snap = metrics.order_snapshot()
            for (side, otype, status), n in sorted(snap["orders"].items()):
                orders.add_metric([venue, side, otype, status], n)
            for reason, n in sorted(snap["rejects"].items()):
                rejects.add_metric([venue, reason], n)
            cumulative = 0
            buckets = []
            for bound, n in zip((*LATENCY_BUCKETS, float("inf")), snap["buckets"], strict=True):
                cumulative += n
                buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), cumulative))
            latency.add_metric([venue], buckets, snap["sum"])
        yield from (orders, rejects, latency)


def make_registry(monitor: HealthMonitor) -> CollectorRegistry:
    """A fresh registry holding one ``LiveTradingCollector`` (never the global default registry)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LiveTradingCollector(monitor))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(registry)


__all__ = ["CONTENT_TYPE", "LiveTradingCollector", "make_registry", "render"]
