"""The broker layer's public face: ``Broker``, ``get_broker``, ``PaperBroker``, ``normalize_order``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from LIVE_TRADING.brokers.interface import Broker, get_broker, normalize_order, register_venue

if TYPE_CHECKING:
    from LIVE_TRADING.brokers.paper import PaperBroker


def __getattr__(name: str) -> Any:
    if name == "PaperBroker":
        from LIVE_TRADING.brokers.paper import PaperBroker

        return PaperBroker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Broker", "PaperBroker", "get_broker", "normalize_order", "register_venue"]
