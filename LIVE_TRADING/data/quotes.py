"""Building and checking ``Quote`` dicts (pure functions)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from LIVE_TRADING.common.clock import ensure_utc
from LIVE_TRADING.common.exceptions import InvalidQuoteError


def _num(value: Any, what: str, symbol: str) -> float:
    if isinstance(value, bool):
        raise InvalidQuoteError(f"Invalid quote for {symbol}: {what} {value!r} is not a number", symbol=symbol)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidQuoteError(
            f"Invalid quote for {symbol}: {what} {value!r} is not a number", symbol=symbol
        ) from None
    if not math.isfinite(number):
        raise InvalidQuoteError(f"Invalid quote for {symbol}: {what} {value!r} is not finite", symbol=symbol)
    return number


def make_quote(
    symbol: str,
    bid: Any,
    ask: Any,
    bid_size: Any = 100.0,
    ask_size: Any = 100.0,
    timestamp: datetime | None = None,
    market_open: bool | None = None,
) -> dict[str, Any]:
    """A validated ``Quote`` dict.

    ``market_open`` (set by data providers) says whether the symbol's market
    was in session when the quote was taken; ``None`` leaves the key out (a
    market that trades, as for quotes set by hand).

    Raises ``InvalidQuoteError`` (a ``ValueError``) for a non-finite or
    non-positive bid/ask, a negative or non-finite size, a crossed quote
    (bid > ask) or a naive timestamp. ``timestamp`` is required in practice;
    it is the time of the market data, not of the call.
    """
    if not isinstance(symbol, str) or not symbol.strip():
        raise InvalidQuoteError(f"Invalid quote: symbol {symbol!r} must be a non-empty string")
    sym = symbol.strip().upper()
    b = _num(bid, "bid", sym)
    a = _num(ask, "ask", sym)
    if b <= 0 or a <= 0:
        raise InvalidQuoteError(f"Invalid quote for {sym}: bid {b:g} and ask {a:g} must be > 0", symbol=sym)
    if b > a:
        raise InvalidQuoteError(f"Invalid quote for {sym}: crossed (bid {b:g} > ask {a:g})", symbol=sym)
    bs = _num(bid_size, "bid_size", sym)
    az = _num(ask_size, "ask_size", sym)
    if bs < 0 or az < 0:
        raise InvalidQuoteError(f"Invalid quote for {sym}: sizes must be >= 0, got {bs:g} / {az:g}", symbol=sym)
    if timestamp is None:
        raise InvalidQuoteError(f"Invalid quote for {sym}: no timestamp", symbol=sym)
    try:
        ts = ensure_utc(timestamp, "quote timestamp")
    except (TypeError, ValueError) as exc:
        raise InvalidQuoteError(f"Invalid quote for {sym}: {exc}", symbol=sym) from None
    mid = (a + b) / 2.0
    quote = {
        "symbol": sym,
        "bid": b,
        "ask": a,
        "bid_size": bs,
        "ask_size": az,
        "timestamp": ts,
        "spread_bps": (a - b) / mid * 1e4,
    }
    if market_open is not None:
        if not isinstance(market_open, bool):
            raise InvalidQuoteError(
                f"Invalid quote for {sym}: market_open must be true or false, got {market_open!r}", symbol=sym
            )
        quote["market_open"] = market_open
    return quote


def mid_price(quote: dict[str, Any]) -> float:
    return (quote["bid"] + quote["ask"]) / 2.0


def synthetic_quote(
    symbol: str, price: Any, spread_bps: float, size: float, timestamp: datetime, market_open: bool | None = None
) -> dict[str, Any]:
    """A quote around a last/close ``price`` with a symmetric synthetic spread of ``spread_bps``."""
    p = _num(price, "price", symbol)
    half = p * spread_bps / 2e4
    return make_quote(symbol, p - half, p + half, size, size, timestamp, market_open)


__all__ = ["make_quote", "mid_price", "synthetic_quote"]
