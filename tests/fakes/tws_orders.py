"""Order management of the fake TWS: brackets (parentId, transmit), OCA groups, trailing stops.

A mixin of ``FakeTWS`` (``fake_tws.py``), following the TWS API's order model:

* **transmit**: an order placed with ``transmit=False`` is held by TWS (no
  permId, no message); the next order of its family (same ``parentId``) placed
  with ``transmit=True`` sends the whole family at once. A refused order of a
  family (error 201) leaves the held orders held: nothing goes live half-built.
* **parentId**: a child is ``PreSubmitted`` until its parent is filled, then
  ``Submitted`` and matched; cancelling the parent cancels its children.
* **ocaGroup / ocaType**: when an order of a group fills, the others are
  cancelled (ocaType 1) or reduced by the filled quantity (ocaType 2, 3).
* **TRAIL / TRAIL LIMIT**: ``auxPrice`` (amount) or ``trailingPercent``; the
  trigger follows the bid (SELL) or ask (BUY) in the order's favour only and is
  reported as ``trailStopPrice``; once hit, ``TRAIL`` fills at the touch and
  ``TRAIL LIMIT`` becomes a limit at trigger -/+ ``lmtPriceOffset``.

The placeOrder fields beyond the fixed head sit at offsets that depend on the
server version (``extras``).
"""

from __future__ import annotations

import math
import sys
from typing import Any

UNSET_DOUBLE = sys.float_info.max


def _num(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return None if value == UNSET_DOUBLE or math.isnan(value) else value


def extras(fields: list[str], version: int) -> dict[str, Any]:
    """ocaGroup, transmit, parentId, ocaType, trailStopPrice, trailingPercent, lmtPriceOffset of a placeOrder."""
    base = 42 if version >= 177 else 43  # after faPercentage (and faProfile below v177)
    tail = sum(version >= v for v in (158, 160, 162, 166, 169))
    return {
        "oca_group": fields[22],
        "transmit": fields[27] not in ("0", "", "False"),
        "parent_id": int(fields[28] or 0),
        "oca_type": int(fields[base + 4] or 0),
        "trail_stop": _num(fields[base + 26]),
        "trail_pct": _num(fields[base + 27]),
        "lmt_offset": _num(fields[len(fields) - tail - 17]),
    }


class OrderExtrasMixin:
    """Brackets, OCA groups and trailing stops for ``FakeTWS`` (see the module docstring)."""

    orders: list[Any]
    quotes: dict[int, Any]
    refuse_order_types: set[str]

    # -- families ---------------------------------------------------------------------
    def _family(self, order: Any) -> list[Any]:
        """The held orders that go out with ``order``: its parent and the parent's other children."""
        if not order.parent_id:
            return []
        return [o for o in self.orders if o.held and o.client_id == order.client_id and o is not order
                and (o.order_id == order.parent_id or o.parent_id == order.parent_id)]

    def _transmit(self, s: Any, order: Any) -> None:
        """Send a held family: the parent goes live, its children wait for its fill."""
        family = sorted([*self._family(order), order], key=lambda o: o.order_id)
        for o in family:
            o.held = False
            o.perm_id = next(self._perm_ids)  # type: ignore[attr-defined]
            parent = self._parent_of(o)
            o.waiting = parent is not None and parent.status != "Filled"
            o.status = "PreSubmitted" if o.waiting or o.order_type in ("STP", "STP LMT", "TRAIL", "TRAIL LIMIT") \
                else "Submitted"
            self._send_status(s, o)  # type: ignore[attr-defined]
        for o in family:
            if not o.waiting:
                self._match(o)  # type: ignore[attr-defined]

    def _parent_of(self, order: Any) -> Any:
        if not order.parent_id:
            return None
        return next((o for o in self.orders if o.client_id == order.client_id and o.order_id == order.parent_id),
                    None)

    def _children_of(self, order: Any) -> list[Any]:
        return [o for o in self.orders if o.parent_id == order.order_id and o.client_id == order.client_id]

    # -- hooks -----------------------------------------------------------------------------
    def _after_fill(self, order: Any, qty: float) -> None:
        """OCA group and child activation after ``order`` filled ``qty``."""
        if order.oca_group:
            for other in [o for o in self.orders if o is not order and o.is_open and o.perm_id
                          and o.oca_group == order.oca_group and o.account == order.account]:
                if order.oca_type in (2, 3):
                    other.qty = max(other.qty - qty, other.filled)
                    if other.remaining <= 1e-9:
                        self._cancel_remaining(other, "OCA group")  # type: ignore[attr-defined]
                    else:
                        self._send_status(self._owner(other), other)  # type: ignore[attr-defined]
                else:
                    self._cancel_remaining(other, "OCA group")  # type: ignore[attr-defined]
        if order.status == "Filled":
            for child in self._children_of(order):
                if child.waiting and child.is_open:
                    child.waiting = False
                    child.status = "PreSubmitted" if child.order_type in ("STP", "STP LMT", "TRAIL",
                                                                           "TRAIL LIMIT") else "Submitted"
                    self._send_status(self._owner(child), child)  # type: ignore[attr-defined]
                    self._match(child)  # type: ignore[attr-defined]

    def _after_cancel(self, order: Any) -> None:
        for child in self._children_of(order):
            if child.is_open:
                self._cancel_remaining(child, "parent cancelled")  # type: ignore[attr-defined]

    def _trail(self, order: Any, q: Any) -> bool:
        """Move a trailing stop with the market; True once it is hit (it then acts as a market / limit)."""
        touch = q.bid if order.action == "SELL" else q.ask
        if order.best is None:
            order.best = touch
        order.best = max(order.best, touch) if order.action == "SELL" else min(order.best, touch)
        distance = order.best * order.trail_pct / 100 if order.trail_pct else (order.aux or 0.0)
        order.trail_stop = order.best - distance if order.action == "SELL" else order.best + distance
        hit = q.bid <= order.trail_stop if order.action == "SELL" else q.ask >= order.trail_stop
        if hit and order.order_type == "TRAIL LIMIT":
            offset = order.lmt_offset or 0.0
            order.lmt = order.trail_stop - offset if order.action == "SELL" else order.trail_stop + offset
        return hit


__all__ = ["OrderExtrasMixin", "extras"]
