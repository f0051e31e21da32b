"""Optional broker capabilities: what some brokers can do beyond the ``Broker`` protocol.

Each is a small ``@runtime_checkable`` protocol. Ask with ``supports(broker, X)``
(it looks through the guard layers ``get_broker`` adds), then call the method on
the broker you have: the guard layers pass calls through::

    if supports(broker, SupportsAccountSummary):
        summary = broker.get_account_summary()

``LIVE_TRADING.brokers.interface`` re-exports every name here.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from LIVE_TRADING.common.exceptions import LiveTradingError


@runtime_checkable
class SupportsAccountSummary(Protocol):
    """Reports cash, equity, realized/unrealized P&L and fees in one dict (paper)."""

    def get_account_summary(self) -> dict[str, float]: ...


@runtime_checkable
class SupportsPositionDetails(Protocol):
    """Reports per-symbol qty, average price, market value and P&L (paper)."""

    def get_position_details(self) -> dict[str, dict[str, float | None]]: ...


@runtime_checkable
class SupportsPortfolioValue(Protocol):
    """Knows its own total value (cash + positions at its marks)."""

    def get_portfolio_value(self) -> float: ...


@runtime_checkable
class SupportsVenueHealth(Protocol):
    """Reports its connection state (``connected``, account, clock offset, ...) without raising."""

    def venue_health(self) -> dict[str, Any]: ...


@runtime_checkable
class SupportsHealth(Protocol):
    """Reports call metrics and a ``healthy`` verdict (the metrics guard ``get_broker`` adds)."""

    def health(self) -> dict[str, Any]: ...


@runtime_checkable
class SupportsMetrics(Protocol):
    """Keeps call and order counters (``BrokerMetrics``): the metrics guard ``get_broker`` adds."""

    metrics: Any


@runtime_checkable
class SupportsQuotes(Protocol):
    """Prices orders from quotes it is fed (paper): by its own provider or by the caller.

    ``data_provider`` is ``None`` when it has none; then ``update_quotes`` cannot be
    used and the caller feeds quotes with ``apply_quotes``.
    """

    @property
    def data_provider(self) -> Any: ...

    def update_quotes(self, symbols: list[str] | tuple[str, ...]) -> dict[str, dict[str, Any]]: ...

    def apply_quotes(self, quotes: Any) -> None: ...


@runtime_checkable
class SupportsJournal(Protocol):
    """Keeps a write-ahead journal of its orders and fills (every built-in venue)."""

    @property
    def journal(self) -> Any: ...


@runtime_checkable
class SupportsAccountHistory(Protocol):
    """Keeps the whole account, starting cash included, in a journal directory of its own (paper).

    Reports and monitoring then read the account from ``account_dir`` (every
    process's records), ``run_id`` naming the current run.
    """

    account_dir: Path

    @property
    def run_id(self) -> str: ...


@runtime_checkable
class SupportsOrdersFrame(Protocol):
    """Lists every order it keeps (not only the open ones) as a typed DataFrame (paper)."""

    def orders_frame(self) -> Any: ...


@runtime_checkable
class SupportsFillsFrame(Protocol):
    """Lists its fills as a typed DataFrame itself (faster than building one from ``get_fills``)."""

    def fills_frame(self, since: datetime | None = None) -> Any: ...


@runtime_checkable
class SupportsClose(Protocol):
    """Holds resources (files, connections) that ``close()`` releases."""

    def close(self) -> None: ...


@runtime_checkable
class Wrapper(Protocol):
    """A broker that forwards to another one (the guard layers)."""

    @property
    def inner(self) -> Any: ...


def layers(broker: Any) -> list[Any]:
    """``broker`` and every broker it wraps, outermost first."""
    out = [broker]
    while isinstance(out[-1], Wrapper) and len(out) < 32:
        out.append(out[-1].inner)
    return out


def venue_broker(broker: Any) -> Any:
    """The innermost (venue) broker under any guard layers."""
    return layers(broker)[-1]


def _has(layer: Any, capability: type) -> bool:
    try:
        return isinstance(layer, capability)
    except LiveTradingError:  # a property that refuses (e.g. the journal of a read-only broker): not available
        return False


def supports(broker: Any, capability: type) -> bool:
    """Whether ``broker`` or a broker it wraps has ``capability`` (one of the ``Supports*`` protocols)."""
    return any(_has(layer, capability) for layer in layers(broker))


def find_layer(broker: Any, capability: type) -> Any:
    """The outermost layer of ``broker`` that has ``capability``, or ``None`` (also for ``broker=None``)."""
    if broker is None:
        return None
    for layer in layers(broker):
        if _has(layer, capability):
            return layer
    return None


__all__ = [
    "SupportsAccountHistory",
    "SupportsAccountSummary",
    "SupportsClose",
    "SupportsFillsFrame",
    "SupportsHealth",
    "SupportsJournal",
    "SupportsMetrics",
    "SupportsOrdersFrame",
    "SupportsPortfolioValue",
    "SupportsPositionDetails",
    "SupportsQuotes",
    "SupportsVenueHealth",
    "Wrapper",
    "find_layer",
    "layers",
    "supports",
    "venue_broker",
]
