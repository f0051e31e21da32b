"""Trading hours of the paper broker: pure functions deciding what an order may do *now*.

Two settings (``live_trading.paper``; constructor keywords of the same names):

``trading_hours`` — how the broker knows whether a symbol's market is open:

* ``quotes`` (default): ask the quote. Quotes from a data provider (sim, replay,
  yfinance) carry ``market_open``; a quote without it (set by hand with
  ``set_quote``, or no quote at all) stands for a market that trades. So a bare
  ``PaperBroker()`` fed by ``set_quote`` trades at any hour of any day, and one
  fed by the sim provider trades AAPL only in the NYSE session.
* ``calendar``: ask the asset class's trading calendar (``LIVE_TRADING.data.calendar``)
  for every order and quote, whatever the quote says.
* ``always``: the market never closes (the behaviour before trading hours existed).

``outside_hours`` — what an order placed while the market is closed does:

* ``queue`` (default, as Alpaca's paper account does): the order is accepted and
  rests. Resting orders are not matched against quotes taken while the market is
  closed; a market order fills at the first quote after the next open (at that
  quote's price plus slippage, like any market order). ``ioc`` and ``fok`` orders
  cannot wait for the open and are refused.
* ``reject``: ``OrderRejectedError`` naming the market and its next open.

``day`` orders expire at the close of their session (``day_expiry``): the session
they were placed in, or the next one if placed while closed, early closes
included. Markets without sessions (crypto, a quote set by hand in ``quotes``
mode, and everything in ``always`` mode) keep the ``paper.end_of_day_utc`` rule.

>>> from datetime import datetime, UTC
>>> saturday = datetime(2025, 12, 6, 15, 0, tzinfo=UTC)
>>> market_is_open("calendar", "AAPL", saturday)
False
>>> decide("calendar", "queue", "AAPL", saturday, order_type="market", time_in_force="gtc").action
'queue'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal, cast

from LIVE_TRADING.common.clock import ensure_utc
from LIVE_TRADING.common.constants import TIF_FOK, TIF_IOC
from LIVE_TRADING.common.exceptions import ConfigError, OrderRejectedError
from LIVE_TRADING.common.symbols import CRYPTO
from LIVE_TRADING.data import calendar

TradingHours = Literal["quotes", "calendar", "always"]
OutsideHours = Literal["queue", "reject"]
TRADING_HOURS: tuple[TradingHours, ...] = ("quotes", "calendar", "always")
OUTSIDE_HOURS: tuple[OutsideHours, ...] = ("queue", "reject")
#: what ``decide`` tells the broker to do with an order
TRADE, QUEUE = "trade", "queue"


@dataclass(frozen=True)
class HoursDecision:
    """What an order may do now: ``action`` is ``"trade"`` (market open) or ``"queue"`` (rest until ``next_open``)."""

    action: str
    market_open: bool
    next_open: datetime | None = None


def check_mode(trading_hours: Any, outside_hours: Any) -> tuple[TradingHours, OutsideHours]:
    """Validate the two settings; ``ConfigError`` names the bad one and what is allowed."""
    th = trading_hours.strip().lower() if isinstance(trading_hours, str) else trading_hours
    oh = outside_hours.strip().lower() if isinstance(outside_hours, str) else outside_hours
    problems = []
    if th not in TRADING_HOURS:
        problems.append(f"live_trading.paper.trading_hours must be one of {', '.join(TRADING_HOURS)}, got {trading_hours!r}")
    if oh not in OUTSIDE_HOURS:
        problems.append(f"live_trading.paper.outside_hours must be one of {', '.join(OUTSIDE_HOURS)}, got {outside_hours!r}")
    if problems:
        raise ConfigError(problems=problems)
    return cast(TradingHours, th), cast(OutsideHours, oh)


def market_is_open(
    mode: str,
    symbol: str,
    now: datetime,
    quote: Mapping[str, Any] | None = None,
    *,
    asset_classes: Mapping[str, str] | None = None,
) -> bool:
    """Whether ``symbol``'s market trades at ``now`` under ``mode`` (see the module docstring)."""
    if mode == "always":
        return True
    if mode == "calendar":
        return calendar.is_open(symbol, now, asset_classes)
    if quote is None:
        return True
    flag = quote.get("market_open")
    return True if flag is None else bool(flag)


def next_open(symbol: str, now: datetime, *, asset_classes: Mapping[str, str] | None = None) -> datetime:
    """When a closed market opens again (the calendar's next session open; crypto: ``now``)."""
    return calendar.next_open(symbol, now, asset_classes)


def decide(
    mode: str,
    outside_hours: str,
    symbol: str,
    now: datetime,
    quote: Mapping[str, Any] | None = None,
    *,
    order_type: str,
    time_in_force: str,
    asset_classes: Mapping[str, str] | None = None,
) -> HoursDecision:
    """What a new order may do at ``now``: trade, or queue until the next open.

    Raises ``OrderRejectedError`` (nothing placed) when the market is closed and
    ``outside_hours`` is ``reject``, or the order is ``ioc``/``fok`` (they cannot
    wait); the message names the market and its next open.
    """
    if market_is_open(mode, symbol, now, quote, asset_classes=asset_classes):
        return HoursDecision(TRADE, True)
    opens = next_open(symbol, now, asset_classes=asset_classes)
    cls = calendar.resolve_class(symbol, asset_classes)
    where = f"the {cls} market of {symbol} is closed (next open {opens.isoformat()})"
    if outside_hours == "reject":
        raise OrderRejectedError(symbol, f"Market closed: {where}; paper.outside_hours is reject")
    if time_in_force in (TIF_IOC, TIF_FOK):
        raise OrderRejectedError(
            symbol, f"Market closed: {where}; a {time_in_force} {order_type} order cannot wait for the open"
        )
    return HoursDecision(QUEUE, False, opens)


def end_of_day_utc(when: datetime, eod: time) -> datetime:
    """The first ``eod`` (UTC wall time) strictly after ``when``: the rule for markets without sessions."""
    when = ensure_utc(when, "when")
    cut = when.replace(hour=eod.hour, minute=eod.minute, second=0, microsecond=0)
    return cut if cut > when else cut + timedelta(days=1)


def day_expiry(
    symbol: str,
    placed_at: datetime,
    mode: str,
    *,
    quote: Mapping[str, Any] | None = None,
    eod: time = time(0, 0),
    asset_classes: Mapping[str, str] | None = None,
) -> datetime:
    """When a ``day`` order placed at ``placed_at`` expires.

    * ``calendar`` mode, and ``quotes`` mode with a quote that carries
      ``market_open`` (it comes from a data provider): the close of the session
      containing ``placed_at`` or, when placed while closed, of the next session
      (early closes included). Equities and forex.
    * crypto (no sessions), ``always`` mode, and ``quotes`` mode with a quote set
      by hand or none: the first ``eod`` (``paper.end_of_day_utc``) after ``placed_at``.
    """
    uses_sessions = mode == "calendar" or (
        mode == "quotes" and quote is not None and quote.get("market_open") is not None
    )
    if uses_sessions and calendar.resolve_class(symbol, asset_classes) != CRYPTO:
        close = calendar.session_close(symbol, placed_at, asset_classes)
        if close is not None:
            return close
    return end_of_day_utc(placed_at, eod)


__all__ = [
    "OUTSIDE_HOURS",
    "QUEUE",
    "TRADE",
    "TRADING_HOURS",
    "HoursDecision",
    "OutsideHours",
    "TradingHours",
    "check_mode",
    "day_expiry",
    "decide",
    "end_of_day_utc",
    "market_is_open",
    "next_open",
]
