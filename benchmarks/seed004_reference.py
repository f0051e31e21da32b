"""The seed 004 reference design's market-order path, kept only as a benchmark baseline.

This is the user's planning document's ``PaperBroker.submit_order`` (seed 004)
reduced to what a market order does there — checks, price with slippage, fee,
cash and position update, a fill dict, and a journal line written by opening
the day file, ``json.dumps`` and closing it (``_append_log``, as in the seed) —
so ``bench_paper.py`` can measure our broker against it side by side. Not used
by the package. The order id comes from ``_new_order_id`` (the seed's
``str(uuid.uuid4())[:8]``, in a method so a benchmark variant can replace it).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class SeedPaperBroker:
    def __init__(self, *, slippage_bps: float, fee_bps: float, initial_cash: float, log_dir: str | Path) -> None:
        self._slippage_bps, self._fee_bps = slippage_bps, fee_bps
        self._slip, self._fee = slippage_bps * 1e-4, fee_bps * 1e-4
        self._positions: dict[str, float] = {}
        self._cash = float(initial_cash)
        self._fills: list[dict[str, Any]] = []
        self._orders: dict[str, dict[str, Any]] = {}
        self._quotes: dict[str, dict[str, Any]] = {}
        self._log_dir = Path(log_dir)
        self._log_dir.mkdir(parents=True, exist_ok=True)

    def set_quote(self, symbol: str, bid: float, ask: float, bid_size: float = 100, ask_size: float = 100) -> None:
        self._quotes[symbol.upper()] = {"symbol": symbol.upper(), "bid": float(bid), "ask": float(ask),
                                        "bid_size": float(bid_size), "ask_size": float(ask_size),
                                        "timestamp": datetime.now(UTC)}

    def submit_order(self, symbol: str, side: str, qty: float) -> dict[str, Any]:
        symbol, side, qty = symbol.upper(), side.upper(), float(qty)
        if side not in ("BUY", "SELL") or qty <= 0:
            raise ValueError("bad order")
        quote = self._quotes[symbol]
        fill_price = quote["ask"] * (1 + self._slip) if side == "BUY" else quote["bid"] * (1 - self._slip)
        notional = qty * fill_price
        fee = notional * self._fee
        if side == "BUY" and notional + fee > self._cash:
            raise ValueError("insufficient cash")
        if side == "SELL" and qty > self._positions.get(symbol, 0.0):
            raise ValueError("insufficient shares")
        order_id = self._new_order_id()
        timestamp = datetime.now(UTC)
        if side == "BUY":
            self._positions[symbol] = self._positions.get(symbol, 0.0) + qty
            self._cash -= notional + fee
        else:
            self._positions[symbol] = self._positions.get(symbol, 0.0) - qty
            self._cash += notional - fee
            if abs(self._positions[symbol]) < 1e-9:
                del self._positions[symbol]
        fill = {"order_id": order_id, "timestamp": timestamp.isoformat(), "symbol": symbol, "side": side, "qty": qty,
                "fill_price": fill_price, "notional": notional, "fee": fee, "slippage_bps": self._slippage_bps,
                "fee_bps": self._fee_bps}
        self._fills.append(fill)
        self._orders[order_id] = fill
        self._append_log(fill)
        return {"order_id": order_id, "status": "filled", "fill_price": fill_price, "qty": qty, "timestamp": timestamp}

    def _new_order_id(self) -> str:
        return str(uuid.uuid4())[:8]

    def _append_log(self, record: dict[str, Any]) -> None:
        log_file = self._log_dir / f"{datetime.now(UTC).strftime('%Y-%m-%d')}.jsonl"
        with log_file.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=str) + "\n")
