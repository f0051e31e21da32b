"""``BrokerWrapper``: a Broker that forwards to another one.

Base for the layers ``get_broker`` puts around every venue (risk limits,
metrics). Subclasses override the calls they care about; everything else,
including venue extras such as ``PaperBroker.set_quote``, passes through.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from LIVE_TRADING.brokers.interface import SupportsFillsFrame, SupportsOrdersFrame


class BrokerWrapper:
    """Forward the Broker protocol (and any other attribute) to ``inner``."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    @property
    def inner(self) -> Any:
        """The wrapped broker."""
        return self._inner

    def unwrap(self) -> Any:
        """The innermost (venue) broker."""
        inner = self._inner
        while isinstance(inner, BrokerWrapper):
            inner = inner._inner
        return inner

    def submit_order(self, symbol: str, side: str, qty: float, order_type: str = "market",
                     limit_price: float | None = None, **kwargs: Any) -> dict[str, Any]:
        return self._inner.submit_order(symbol, side, qty, order_type, limit_price, **kwargs)

    def cancel_order(self, order_id: str) -> dict[str, Any]:
        return self._inner.cancel_order(order_id)

    def get_order(self, order_id: str) -> dict[str, Any]:
        return self._inner.get_order(order_id)

    def get_open_orders(self) -> list[dict[str, Any]]:
        return self._inner.get_open_orders()

    def get_positions(self) -> dict[str, float]:
        return self._inner.get_positions()

    def get_cash(self) -> float:
        return self._inner.get_cash()

    def get_fills(self, since: datetime | None = None) -> list[dict[str, Any]]:
        return self._inner.get_fills(since)

    def get_quote(self, symbol: str) -> dict[str, Any]:
        return self._inner.get_quote(symbol)

    def now(self) -> datetime:
        return self._inner.now()

    def modify_order(self, order_id: str, **kwargs: Any) -> dict[str, Any]:
        return self._inner.modify_order(order_id, **kwargs)

    def submit_bracket(self, symbol: str, side: str, qty: float, **kwargs: Any) -> dict[str, Any]:
        return self._inner.submit_bracket(symbol, side, qty, **kwargs)

    def submit_oco(self, symbol: str, side: str, qty: float, **kwargs: Any) -> dict[str, Any]:
        return self._inner.submit_oco(symbol, side, qty, **kwargs)

    def reconcile(self) -> dict[str, Any]:
        """Live venues: compare the venue with the journal (``AttributeError`` on a venue without it)."""
        return self._inner.reconcile()

    def fills_frame(self, since: datetime | None = None) -> Any:
        """The venue's fills as a typed DataFrame (``LIVE_TRADING.monitoring.exports.fills_frame``)."""
        if isinstance(self._inner, SupportsFillsFrame):
            return self._inner.fills_frame(since)
        from LIVE_TRADING.monitoring.exports import fills_frame

        return fills_frame(self._inner.get_fills(since))

    def orders_frame(self) -> Any:
        """The venue's orders as a typed DataFrame: every order where the venue keeps them
        (paper), else the open ones (``get_open_orders``)."""
        if isinstance(self._inner, SupportsOrdersFrame):
            return self._inner.orders_frame()
        from LIVE_TRADING.monitoring.exports import orders_frame

        return orders_frame(self._inner.get_open_orders())

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not found normally: venue extras.
        if name == "_inner":
            raise AttributeError(name)
        return getattr(self._inner, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._inner!r})"
