"""One paper order's record and state: what it asked for, what it filled, what it holds back.

``PaperOrder`` is internal to the paper broker; callers see ``result()`` dicts
(the ``OrderResult`` shape of ``LIVE_TRADING.brokers.interface``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from LIVE_TRADING.brokers.validation import OrderRequest
from LIVE_TRADING.common.constants import (
    EVENT_ORDER,
    SIDE_BUY,
    STATUS_NEW,
    STATUS_PARTIALLY_FILLED,
)

VENUE = "paper"


class PaperOrder:
    """One order's live state (internal; callers get ``result()`` dicts)."""

    __slots__ = (
        "cap_price",
        "client_order_id",
        "created",
        "created_iso",
        "expires_at",
        "fee",
        "filled_notional",
        "filled_qty",
        "is_buy",
        "limit_price",
        "nfills",
        "order_id",
        "order_type",
        "qty",
        "queue",
        "reserved_cash",
        "reserved_qty",
        "resting",
        "side",
        "status",
        "stop_price",
        "symbol",
        "tif",
        "triggered",
    )

    def __init__(self, order_id: str, req: OrderRequest, created: datetime, created_iso: str) -> None:
        self.order_id = order_id
        self.client_order_id = req.client_order_id
        self.symbol = req.symbol
        self.side = req.side
        self.is_buy = req.side == SIDE_BUY
        self.order_type = req.order_type
        self.qty = req.qty
        self.limit_price = req.limit_price
        self.stop_price = req.stop_price
        self.tif = req.time_in_force
        self.created = created
        self.created_iso = created_iso
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
        self.resting: str | None = None
        #: a market order queued until the open: the price its reservation is counted at
        self.cap_price: float | None = None

    @property
    def remaining(self) -> float:
        return self.qty - self.filled_qty

    @property
    def is_open(self) -> bool:
        return self.status == STATUS_NEW or self.status == STATUS_PARTIALLY_FILLED

    def result(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "symbol": self.symbol,
            "side": self.side,
            "order_type": self.order_type,
            "qty": self.qty,
            "filled_qty": self.filled_qty,
            "status": self.status,
            "fill_price": self.filled_notional / self.filled_qty if self.filled_qty > 0 else None,
            "fee": self.fee,
            "limit_price": self.limit_price,
            "stop_price": self.stop_price,
            "time_in_force": self.tif,
            "timestamp": self.created,
            "venue": VENUE,
        }

    def record(self, run_id: str, ts: str) -> dict[str, Any]:
        """The journal's ``order`` record: everything needed to rebuild the order."""
        return {
            "event": EVENT_ORDER,
            "run_id": run_id,
            "ts": ts,
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "symbol": self.symbol,
            "side": self.side,
            "order_type": self.order_type,
            "qty": self.qty,
            "limit_price": self.limit_price,
            "stop_price": self.stop_price,
            "time_in_force": self.tif,
            "status": self.status,
            "created": self.created_iso,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "triggered": self.triggered,
            **({"cap_price": self.cap_price} if self.cap_price is not None else {}),
        }



__all__ = ["VENUE", "PaperOrder"]
