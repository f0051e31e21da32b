"""The one place alerts are raised from: ``emit(event, **details)``.

Code that notices something an operator must hear about (a circuit opening,
the kill switch refusing orders, an order whose status is unknown, a journal
error) calls ``alerting.emit("circuit_opened", venue="binance", reason=...)``
and carries on: ``emit`` never raises and never blocks on a network.

What happens to an alert is decided once per process, by whoever starts it
(``live-trading serve`` / ``run --serve``): ``install(manager.emit)`` hands
every alert to a ``LIVE_TRADING.monitoring.alerts.AlertManager`` (log,
webhook, e-mail; rate-limited, deduplicated, queued). Until something is
installed an alert is only logged, at WARNING, by this module's logger.

This is deliberately like ``logging``: one process-wide hook, so the places
that raise alerts need no extra constructor argument threaded through every
venue adapter.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

#: the events raised by LIVE_TRADING itself (an AlertManager accepts others too)
CIRCUIT_OPENED = "circuit_opened"
CIRCUIT_CLOSED = "circuit_closed"
RECONNECT_FAILING = "reconnect_failing"
RISK_LIMIT = "risk_limit"
KILL_SWITCH = "kill_switch"
ORDER_REJECTED = "order_rejected"  # a signal: the AlertManager turns many of them into REJECT_STORM
REJECT_STORM = "reject_storm"
JOURNAL_ERROR = "journal_error"
HEALTH_UNHEALTHY = "health_unhealthy"
ORDER_STATUS_UNKNOWN = "order_status_unknown"

Handler = Callable[[str, dict[str, Any]], Any]

_lock = threading.Lock()
_handler: Handler | None = None


def install(handler: Handler | None) -> Handler | None:
    """Send every alert to ``handler(event, details)`` from now on (``None``: log only); returns the previous one."""
    global _handler
    with _lock:
        previous, _handler = _handler, handler
    return previous


def installed() -> Handler | None:
    """The handler alerts go to now (``None``: they are only logged)."""
    return _handler


def emit(event: str, **details: Any) -> None:
    """Raise alert ``event`` with ``details`` (venue, symbol, reason, ...). Never raises."""
    handler = _handler
    if handler is None:
        if event != ORDER_REJECTED:
            logger.warning("ALERT %s %s", event, details)
        return
    try:
        handler(event, details)
    except Exception:  # an alert must never break the code that raised it
        logger.exception("Alert handler failed for %s", event)


__all__ = [
    "CIRCUIT_CLOSED",
    "CIRCUIT_OPENED",
    "HEALTH_UNHEALTHY",
    "JOURNAL_ERROR",
    "KILL_SWITCH",
    "ORDER_REJECTED",
    "ORDER_STATUS_UNKNOWN",
    "RECONNECT_FAILING",
    "REJECT_STORM",
    "RISK_LIMIT",
    "emit",
    "install",
    "installed",
]
