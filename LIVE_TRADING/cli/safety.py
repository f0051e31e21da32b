"""Safe by default: plans instead of orders (``--dry-run``) and confirmation before acting on a live venue.

``DryRunBroker(broker)`` reads through to the real broker but only *records*
``submit_order`` / ``cancel_order``: it is what ``--dry-run`` hands to the same
code that would trade, so the plan shown is the plan that would be carried out.
A shadow cash figure goes down with each planned buy (up with each sell) so
``rebalance`` fits later buys to what would be left.

``confirm(out, question, yes=...)`` asks on a terminal; without one (a script,
a pipe) it refuses unless ``--yes`` was given or ``live_trading.confirm`` is
false, raising ``NotConfirmedError`` (exit code 2: nothing was done).
"""

from __future__ import annotations

import math
import sys
from typing import Any

from CONFIG.config_loader import get_cfg
from LIVE_TRADING.brokers.capabilities import SupportsQuotes, venue_broker
from LIVE_TRADING.cli.errors import NotConfirmedError
from LIVE_TRADING.common.constants import SIDE_BUY
from LIVE_TRADING.common.exceptions import BrokerError

#: venues where orders spend real (or testnet) money and ``run`` / ``flatten`` ask first
SIMULATED_VENUES = frozenset({"paper"})
STATUS_PLANNED = "planned"


def is_live(venue: str) -> bool:
    """True for every venue but the paper simulator (testnets included)."""
    return venue not in SIMULATED_VENUES


def confirmation_required() -> bool:
    """``live_trading.confirm`` (default true): ask before acting on a live venue."""
    value = get_cfg("live_trading.confirm", default=True)
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "no", "off", "0")
    return bool(value)


def confirm(out: Any, question: str, *, yes: bool, needed: bool = True, live: bool = True) -> None:
    """Go on if ``yes``, if not ``needed``, or if the user answers y on a terminal; else ``NotConfirmedError``.

    ``live``: the question is about a live venue (the message then names ``live_trading.confirm``).
    """
    if yes or not needed:
        return
    if not sys.stdin.isatty() or out.json_mode:
        how = "pass --yes (or set live_trading.confirm: false)" if live else "pass --yes"
        raise NotConfirmedError(f"{question} needs confirmation: {how}; nothing was done")
    out.err.print(f"{question} [y/N] ", end="", markup=False)
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise NotConfirmedError("not confirmed; nothing was done")


class DryRunBroker:
    """A broker that reads from ``broker`` and records the orders and cancels it is asked for."""

    def __init__(self, broker: Any) -> None:
        self._broker = broker
        self.planned: list[dict[str, Any]] = []
        self.cancels: list[str] = []
        self._cash_delta = 0.0

    def __getattr__(self, name: str) -> Any:  # reads (quotes, positions, now, ...) go to the real broker
        return getattr(self._broker, name)

    def get_cash(self) -> float:
        return float(self._broker.get_cash()) + self._cash_delta

    def submit_order(self, symbol: str, side: str, qty: float, order_type: str = "market",
                     limit_price: float | None = None, **kw: Any) -> dict[str, Any]:
        from LIVE_TRADING.brokers.validation import validate_order

        req = validate_order(symbol, side, qty, order_type, limit_price, kw.get("stop_price"),
                             kw.get("time_in_force", "gtc"), kw.get("client_order_id"))
        inner = venue_broker(self._broker)
        if isinstance(inner, SupportsQuotes) and inner.data_provider is not None:
            from LIVE_TRADING.data.provider import require_known

            require_known(inner.data_provider, req.symbol)
        price = limit_price
        if price is None:
            try:
                quote = self._broker.get_quote(req.symbol)
                price = float(quote["ask"] if req.side == SIDE_BUY else quote["bid"])
            except BrokerError:
                price = None
        notional = req.qty * price if price is not None and math.isfinite(price) else None
        if notional is not None:
            self._cash_delta += -notional if req.side == SIDE_BUY else notional
        order = {"order_id": f"dry-run-{len(self.planned) + 1}", "client_order_id": req.client_order_id,
                 "symbol": req.symbol, "side": req.side, "qty": req.qty, "order_type": req.order_type,
                 "limit_price": req.limit_price, "stop_price": req.stop_price, "time_in_force": req.time_in_force,
                 "status": STATUS_PLANNED, "filled_qty": 0.0, "fill_price": None, "fee": 0.0,
                 "price": price, "notional": notional}
        self.planned.append(order)
        return order

    def cancel_order(self, order_id: str) -> dict[str, Any]:
        order = dict(self._broker.get_order(order_id))
        self.cancels.append(order_id)
        order["status"] = "would cancel"
        return order


def print_planned_orders(out: Any, planned: list[dict[str, Any]], title: str) -> None:
    """The planned orders as a table, with their total notional."""
    from LIVE_TRADING.cli.render import money, price, qty

    if not planned:
        out.line(f"{title}: none")
        return
    total = math.fsum(o["notional"] for o in planned if o.get("notional") is not None)
    out.table(("order", "type", "price", "notional"),
              [(f"{o['side']} {qty(o['qty'])} {o['symbol']}", o["order_type"], price(o.get("price")),
                money(o.get("notional"))) for o in planned],
              title=f"{title} ({len(planned)}, notional {money(total)})", right=("price", "notional"))


__all__ = ["STATUS_PLANNED", "DryRunBroker", "confirm", "confirmation_required", "is_live", "print_planned_orders"]
