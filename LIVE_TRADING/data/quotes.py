"""Building and checking ``Quote`` dicts (pure functions).

A quote is a plain mapping ``{symbol, bid, ask, bid_size, ask_size,
timestamp, spread_bps}``. ``make_quote`` checks its inputs once and returns a
``Quote``: a ``dict`` subclass that marks the contents as already validated,
so a consumer (``PaperBroker.apply_quotes``) can take it as it is instead of
checking it again. Any other mapping (a plain ``dict`` built by hand, a copy
made with ``dict(quote)``) is still checked. Treat a ``Quote`` as read-only:
changing one after it was built defeats the mark.

A provider that builds many quotes at once (the ``sim`` provider's batch
path) returns a ``QuoteBatch`` instead: ``{symbol: quote}`` whose quotes are
plain dicts, all checked as ``make_quote`` checks them when the batch was
built, with their earliest and latest timestamps. A consumer checks the mark
once for the whole batch, and reads its quotes at plain-``dict`` speed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from LIVE_TRADING.common.clock import ensure_utc
from LIVE_TRADING.common.exceptions import InvalidQuoteError

_isfinite = math.isfinite


class Quote(dict[str, Any]):
    """A quote dict built (and so validated) by ``make_quote``; behaves exactly like a ``dict``."""

    __slots__ = ()


class QuoteBatch(dict[str, dict[str, Any]]):
    """``{symbol: quote}`` from one provider call, every quote checked as ``make_quote`` checks it.

    The quotes are plain dicts with ``make_quote``'s keys (``market_open``
    included) and float values; ``oldest`` and ``newest`` are the earliest and
    the latest of their timestamps (aware UTC). Behaves exactly like a
    ``dict``; ``dict(batch)`` is an ordinary dict again (checked as any other).
    Treat it and its quotes as read-only, like a ``Quote``.
    """

    __slots__ = ("newest", "oldest")

    def __init__(self, quotes: dict[str, dict[str, Any]], oldest: datetime, newest: datetime) -> None:
        super().__init__(quotes)
        self.oldest = oldest
        self.newest = newest


#: ``quote_field(quote, "bid")`` is ``quote["bid"]`` for any ``dict`` (a ``Quote`` included), read about twice as
#: fast on a ``Quote``: CPython subscripts an instance of a ``dict`` subclass through a method lookup by
#: name, this calls ``dict``'s own lookup directly. For the hot paths that read every quote of a step.
quote_field = dict.__getitem__


def _num(value: Any, what: str, symbol: str) -> float:
    if type(value) is float:  # the common case: no conversion, only the finiteness check
        if _isfinite(value):
            return value
        raise InvalidQuoteError(f"Invalid quote for {symbol}: {what} {value!r} is not finite", symbol=symbol)
    if isinstance(value, bool):
        raise InvalidQuoteError(f"Invalid quote for {symbol}: {what} {value!r} is not a number", symbol=symbol)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidQuoteError(
            f"Invalid quote for {symbol}: {what} {value!r} is not a number", symbol=symbol
        ) from None
    if not _isfinite(number):
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
) -> Quote:
    """A validated ``Quote``.

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
    if type(timestamp) is datetime and timestamp.tzinfo is UTC:
        ts = timestamp  # already aware UTC: nothing to convert
    else:
        try:
            ts = ensure_utc(timestamp, "quote timestamp")
        except (TypeError, ValueError) as exc:
            raise InvalidQuoteError(f"Invalid quote for {sym}: {exc}", symbol=sym) from None
    quote = Quote(
        symbol=sym, bid=b, ask=a, bid_size=bs, ask_size=az, timestamp=ts, spread_bps=(a - b) / ((a + b) / 2.0) * 1e4
    )
    if market_open is not None:
        if not isinstance(market_open, bool):
            raise InvalidQuoteError(
                f"Invalid quote for {sym}: market_open must be true or false, got {market_open!r}", symbol=sym
            )
        quote["market_open"] = market_open
    return quote


def is_checked(quote: Any) -> bool:
    """True for a ``Quote`` built by ``make_quote`` (already validated)."""
    return type(quote) is Quote


def finite_or_none(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` if it is not one (bools are not numbers).

    For venue payloads where a missing or odd figure means "not given".
    """
    if isinstance(value, bool):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def mid_price(quote: Mapping[str, Any]) -> float:
    """The mid of a quote: ``(bid + ask) / 2``."""
    return (float(quote["bid"]) + float(quote["ask"])) / 2.0


def synthetic_quote(
    symbol: str, price: Any, spread_bps: float, size: float, timestamp: datetime, market_open: bool | None = None
) -> Quote:
    """A quote around a last/close ``price`` with a symmetric synthetic spread of ``spread_bps``."""
    p = _num(price, "price", symbol)
    half = p * spread_bps / 2e4
    return make_quote(symbol, p - half, p + half, size, size, timestamp, market_open)


__all__ = ["Quote", "QuoteBatch", "finite_or_none", "is_checked", "make_quote", "mid_price", "quote_field", "synthetic_quote"]
