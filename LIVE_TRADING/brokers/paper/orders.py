"""One paper order: what it asked for, what it filled, what it holds back, where it rests.

``PaperOrder`` is internal to the paper broker; callers see ``result()`` dicts
(the ``OrderResult`` shape of ``LIVE_TRADING.brokers.interface``). ``spec()`` is
what an ``order`` journal record holds, ``state()`` what a snapshot holds;
``from_record`` rebuilds an order from either.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from LIVE_TRADING.brokers.validation import OrderRequest
from LIVE_TRADING.common.constants import (
    ORDER_TYPE_TRAILING_STOP,
    SIDE_BUY,
    STATUS_NEW,
    STATUS_PARTIALLY_FILLED,
)

VENUE = "paper"

#: what a snapshot adds: how far it got
STATE_FIELDS = ("status", "filled_qty", "filled_notional", "fee", "nfills", "rest_seq", "seq")
#: issue 14 fields, journaled (in ``spec()``) only when set: a trailing stop's distance, a bracket / OCO leg's links
LINK_FIELDS = ("trail_amount", "trail_percent", "limit_offset", "parent_order_id", "order_list_id", "list_role")
#: the keys of a fill inside an ``order`` record, its compact form (the rest comes from the order and the record)
COMPACT_FILL_KEYS = ("fill_id", "qty", "fill_price", "notional", "fee", "slippage_bps", "fee_bps", "liquidity")


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def public_fill(compact: dict[str, Any], order: Any, timestamp: datetime, currency: str) -> dict[str, Any]:
    """The public ``Fill`` of a compact fill (``COMPACT_FILL_KEYS``, as an ``order`` record holds it).

    ``order`` is a mapping with the order's ``order_id``, ``symbol`` and ``side``
    (an ``order`` record's spec, or those three of a ``state.CompactMarket``);
    ``timestamp`` is when the fill took place.
    """
    return {"order_id": order["order_id"], "timestamp": timestamp, "symbol": order["symbol"], "side": order["side"],
            **compact, "fee_currency": currency, "venue": VENUE}

class PaperOrder:
    """One order's live state."""

    __slots__ = (
        "cap_price",
        "client_order_id",
        "created",
        "expires_at",
        "fee",
        "filled_notional",
        "filled_qty",
        "is_buy",
        "limit_offset",
        "limit_price",
        "list_role",
        "nfills",
        "order_id",
        "order_list_id",
        "order_type",
        "parent_order_id",
        "qty",
        "queue",
        "queue_token",
        "reserved_cash",
        "reserved_qty",
        "rest_seq",
        "resting",
        "seq",
        "side",
        "status",
        "stop_price",
        "symbol",
        "tif",
        "trail_amount",
        "trail_percent",
        "triggered",
    )

    def __init__(self, order_id: str, req: OrderRequest, created: datetime, seq: int = 0) -> None:
        self.order_id = order_id
        self.client_order_id = req.client_order_id
        self.symbol = req.symbol
        self.side = req.side
        self.is_buy = req.side == SIDE_BUY
        self.order_type = req.order_type
        self.qty = req.qty
        self.limit_price: Any = req.limit_price  # float, set for the types that need one
        self.stop_price: Any = req.stop_price
        self.tif = req.time_in_force
        self.created = created
        self.expires_at: datetime | None = None
        self.status = STATUS_NEW
        self.filled_qty = 0.0
        self.filled_notional = 0.0
        self.fee = 0.0
        self.nfills = 0
        self.triggered = False
        self.reserved_cash = 0.0
        self.reserved_qty = 0.0
        self.queue: Any = None
        self.queue_token = 0  # which entry of its queue's heap is the live one (``matching.PriceQueue``)
        self.resting: str | None = None
        self.seq = seq  # journal seq of the record that accepted it
        self.rest_seq = 0  # journal seq at which it (last) joined a book queue: its time priority
        #: a market order queued until the open (see ``hours``): the price its reservation is counted at
        self.cap_price: float | None = None
        # trailing_stop: the distance; ``stop_price`` holds the current trigger
        self.trail_amount: float | None = req.trail_amount
        self.trail_percent: float | None = req.trail_percent
        self.limit_offset: float | None = req.limit_offset
        # bracket / OCO legs: the group, the entry (exits of a bracket), the leg's role
        # (``entry``, ``tp``, ``sl`` of a bracket; ``limit``, ``stop`` of an OCO)
        self.parent_order_id: str | None = None
        self.order_list_id: str | None = None
        self.list_role: str | None = None

    @property
    def is_trailing(self) -> bool:
        return self.order_type == ORDER_TYPE_TRAILING_STOP

    @property
    def remaining(self) -> float:
        return self.qty - self.filled_qty

    @property
    def is_open(self) -> bool:
        return self.status == STATUS_NEW or self.status == STATUS_PARTIALLY_FILLED

    def request(self) -> OrderRequest:
        """The request as placed (a trailing stop's moving trigger and limit are not part of it)."""
        if self.is_trailing:
            return OrderRequest(self.symbol, self.side, self.qty, self.order_type, None, None, self.tif,
                                self.client_order_id, self.trail_amount, self.trail_percent, self.limit_offset)
        return OrderRequest(self.symbol, self.side, self.qty, self.order_type, self.limit_price,
                            self.stop_price, self.tif, self.client_order_id)

    def result(self) -> dict[str, Any]:
        """The order as callers see it (``OrderResult``)."""
        filled = self.filled_qty
        out = {
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "symbol": self.symbol,
            "side": self.side,
            "order_type": self.order_type,
            "qty": self.qty,
            "filled_qty": filled,
            "status": self.status,
            "fill_price": self.filled_notional / filled if filled > 0 else None,
            "fee": self.fee,
            "limit_price": self.limit_price,
            "stop_price": self.stop_price,
            "time_in_force": self.tif,
            "timestamp": self.created,
            "venue": VENUE,
        }
        if self.order_type == ORDER_TYPE_TRAILING_STOP:
            out["stop_price"] = None
            out["trigger_price"] = self.stop_price
            out["trail_amount"] = self.trail_amount
            out["trail_percent"] = self.trail_percent
            out["limit_offset"] = self.limit_offset
        if self.order_list_id is not None:
            out["order_list_id"] = self.order_list_id
            out["parent_order_id"] = self.parent_order_id
        return out

    def spec(self) -> dict[str, Any]:
        """The order as accepted: the ``order`` field of an ``order`` journal record.

        Compact: optional fields appear only when set, and the creation time is the record's ``ts``.
        """
        out: dict[str, Any] = {"order_id": self.order_id, "symbol": self.symbol, "side": self.side,
                               "order_type": self.order_type, "qty": self.qty, "time_in_force": self.tif}
        if self.client_order_id is not None:
            out["client_order_id"] = self.client_order_id
        if self.limit_price is not None:
            out["limit_price"] = self.limit_price
        if self.stop_price is not None:
            out["stop_price"] = self.stop_price
        if self.expires_at is not None:
            out["expires_at"] = self.expires_at
        if self.triggered:
            out["triggered"] = True
        if self.cap_price is not None:  # a market order queued for the open (see ``hours``)
            out["cap_price"] = self.cap_price
        for name in LINK_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def state(self) -> dict[str, Any]:
        """``spec()`` plus its creation time and progress: what a snapshot holds of an open order."""
        out = self.spec()
        out["created"] = self.created
        for name in STATE_FIELDS:
            out[name] = getattr(self, name)
        return out

    @classmethod
    def from_record(cls, d: dict[str, Any], created: Any = None) -> PaperOrder:
        """An order from ``spec()`` (an ``order`` record, created at its ``ts``) or ``state()`` (a snapshot)."""
        req = OrderRequest(d["symbol"], d["side"], float(d["qty"]), d["order_type"], d.get("limit_price"),
                           d.get("stop_price"), d["time_in_force"], d.get("client_order_id"),
                           d.get("trail_amount"), d.get("trail_percent"), d.get("limit_offset"))
        when = _dt(d.get("created", created))
        assert when is not None
        order = cls(d["order_id"], req, when)
        order.expires_at = _dt(d.get("expires_at"))
        order.triggered = bool(d.get("triggered"))
        order.cap_price = d.get("cap_price")
        order.parent_order_id = d.get("parent_order_id")
        order.order_list_id = d.get("order_list_id")
        order.list_role = d.get("list_role")
        if "status" in d:
            for name in STATE_FIELDS:
                setattr(order, name, d[name])
        return order


__all__ = ["LINK_FIELDS", "STATE_FIELDS", "VENUE", "PaperOrder", "public_fill"]
