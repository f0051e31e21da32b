"""Pre-trade risk limits, applied in front of every venue.

``get_broker`` wraps whichever broker it builds in a ``RiskGuard`` configured
from ``live_trading.risk``, so the same limits guard paper and live trading.
A breach raises ``RiskLimitError`` (an ``OrderRejectedError``) naming the limit,
before anything reaches the venue or the journal, and raises an alert
(``kill_switch`` for ``trading_enabled``, ``risk_limit`` for the others).

Limits (``null`` = no limit):

``trading_enabled``     kill switch: ``false`` refuses every new order
``allowed_symbols``     only these symbols may be traded
``max_order_qty``       largest quantity of one order
``max_order_value``     largest ``qty * price`` of one order
``max_position_value``  largest ``|position after the order| * price`` per symbol
                        (orders that shrink a position are always allowed)

The price used is the order's limit price (stop price for stop orders), and
for market orders the side of the quote the order would take (ask for buys,
bid for sells): the quote is only fetched when a value limit is set.
Cancels and reads are never limited. Brackets and OCOs are checked on their
entry quantity (at the entry limit, or the quote for a market entry; an OCO at
its limit price); a modification with a new quantity or price is checked as the
order it would become.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from CONFIG.schema import RiskSettings
from LIVE_TRADING.brokers.guard.base import BrokerWrapper
from LIVE_TRADING.brokers.validation import (
    OrderRequest,
    validate_bracket,
    validate_modify,
    validate_oco,
    validate_order,
)
from LIVE_TRADING.common import alerting
from LIVE_TRADING.common.constants import SIDE_BUY
from LIVE_TRADING.common.exceptions import RiskLimitError
from LIVE_TRADING.common.settings import section
from LIVE_TRADING.common.symbols import symbol_key


@dataclass(frozen=True)
class RiskLimits:
    trading_enabled: bool = True
    max_order_value: float | None = None
    max_order_qty: float | None = None
    max_position_value: float | None = None
    allowed_symbols: frozenset[str] | None = None

    @classmethod
    def from_config(cls, **overrides: Any) -> RiskLimits:
        """Limits from ``live_trading.risk`` (keyword arguments override)."""
        cfg: RiskSettings = section("risk", overrides)
        allowed = cfg.allowed_symbols
        return cls(
            trading_enabled=cfg.trading_enabled,
            max_order_value=cfg.max_order_value,
            max_order_qty=cfg.max_order_qty,
            max_position_value=cfg.max_position_value,
            allowed_symbols=frozenset(symbol_key(s) for s in allowed) if allowed is not None else None,
        )

    def check(self, order: OrderRequest, price: float | None = None, position: float = 0.0) -> None:
        """Raise ``RiskLimitError`` if ``order`` breaks a limit.

        ``price`` is needed only for the value limits; ``position`` is the
        current signed position in the order's symbol.
        """
        sym = order.symbol
        if not self.trading_enabled:
            raise RiskLimitError(
                sym, "trading is disabled (live_trading.risk.trading_enabled is false)", limit="trading_enabled"
            )
        if self.allowed_symbols is not None and symbol_key(sym) not in self.allowed_symbols:
            raise RiskLimitError(
                sym,
                f"{sym} is not in live_trading.risk.allowed_symbols ({', '.join(sorted(self.allowed_symbols))})",
                limit="allowed_symbols",
            )
        if self.max_order_qty is not None and order.qty > self.max_order_qty:
            raise RiskLimitError(
                sym, f"quantity {order.qty:g} exceeds max_order_qty {self.max_order_qty:g}", limit="max_order_qty"
            )
        if price is None:
            return
        value = order.qty * price
        if self.max_order_value is not None and value > self.max_order_value:
            raise RiskLimitError(
                sym,
                f"order value {value:,.2f} exceeds max_order_value {self.max_order_value:,.2f}",
                limit="max_order_value",
            )
        if self.max_position_value is not None:
            after = position + (order.qty if order.side == SIDE_BUY else -order.qty)
            after_value = abs(after) * price
            if after_value > self.max_position_value and abs(after) > abs(position):
                raise RiskLimitError(
                    sym,
                    f"position value after the order {after_value:,.2f} exceeds "
                    f"max_position_value {self.max_position_value:,.2f}",
                    limit="max_position_value",
                )

    @property
    def inactive(self) -> bool:
        """True when no limit is set (every order passes; the guard can step aside)."""
        return self.trading_enabled and self.allowed_symbols is None and self.max_order_qty is None and (
            not self.needs_price
        )

    @property
    def needs_price(self) -> bool:
        return self.max_order_value is not None or self.max_position_value is not None


class RiskGuard(BrokerWrapper):
    """A Broker that checks ``RiskLimits`` before passing an order on."""

    def __init__(self, inner: Any, limits: RiskLimits, venue: str | None = None) -> None:
        super().__init__(inner)
        self.limits = limits
        #: the venue's name, for alerts (default: the venue broker's class name)
        self.venue = venue or type(self.unwrap()).__name__
        self._inactive = limits.inactive

    def submit_order(self, symbol: str, side: str, qty: float, order_type: str = "market",
                     limit_price: float | None = None, **kwargs: Any) -> dict[str, Any]:
        if self._inactive:
            return self._inner.submit_order(symbol, side, qty, order_type, limit_price, **kwargs)
        order = validate_order(symbol, side, qty, order_type, limit_price, kwargs.get("stop_price"),
                               kwargs.get("time_in_force", "gtc"), kwargs.get("client_order_id"),
                               kwargs.get("trail_amount"), kwargs.get("trail_percent"), kwargs.get("limit_offset"))
        self._check(order)
        return self._inner.submit_order(symbol, side, qty, order_type, limit_price, **kwargs)

    def _check(self, order: OrderRequest) -> None:
        limits = self.limits
        price = position = None
        if limits.trading_enabled and limits.needs_price:
            price = order.limit_price or order.stop_price
            if price is None:
                quote = self._inner.get_quote(order.symbol)
                price = quote["ask"] if order.side == SIDE_BUY else quote["bid"]
            if limits.max_position_value is not None:
                key = symbol_key(order.symbol)
                position = next(
                    (q for s, q in self._inner.get_positions().items() if symbol_key(s) == key), 0.0
                )
        try:
            limits.check(order, price, position or 0.0)
        except RiskLimitError as exc:
            event = alerting.KILL_SWITCH if exc.limit == "trading_enabled" else alerting.RISK_LIMIT
            alerting.emit(event, venue=self.venue, symbol=order.symbol, limit=exc.limit, reason=exc.reason)
            raise

    def submit_bracket(self, symbol: str, side: str, qty: float, **kwargs: Any) -> dict[str, Any]:
        if not self._inactive:
            b = validate_bracket(symbol, side, qty, **kwargs)
            self._check(OrderRequest(b.symbol, b.side, b.qty, b.entry_type, b.limit_price))
        return self._inner.submit_bracket(symbol, side, qty, **kwargs)

    def submit_oco(self, symbol: str, side: str, qty: float, **kwargs: Any) -> dict[str, Any]:
        if not self._inactive:
            o = validate_oco(symbol, side, qty, **kwargs)
            self._check(OrderRequest(o.symbol, o.side, o.qty, "limit", o.limit_price))
        return self._inner.submit_oco(symbol, side, qty, **kwargs)

    def modify_order(self, order_id: str, **kwargs: Any) -> dict[str, Any]:
        if not self._inactive:
            m = validate_modify(order_id, **kwargs)
            if m.qty is not None or m.limit_price is not None or m.stop_price is not None:
                current = self._inner.get_order(m.order_id)
                qty = m.qty if m.qty is not None else float(current["qty"])
                price = m.limit_price or m.stop_price or current.get("limit_price") or current.get("stop_price")
                otype = "limit" if price is not None else "market"
                self._check(OrderRequest(str(current["symbol"]), str(current["side"]), qty, otype, price))
        return self._inner.modify_order(order_id, **kwargs)


def wrap_with_risk_limits(broker: Any, limits: RiskLimits | None = None, venue: str | None = None) -> RiskGuard:
    """``broker`` behind the limits of ``live_trading.risk`` (or the ``limits`` given)."""
    return RiskGuard(broker, limits if limits is not None else RiskLimits.from_config(), venue)


__all__ = ["RiskGuard", "RiskLimits", "symbol_key", "wrap_with_risk_limits"]
