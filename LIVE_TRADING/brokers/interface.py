"""The Broker protocol: the one interface a trading pipeline talks to.

A pipeline gets a broker with ``get_broker()`` (the venue comes from the
config key ``live_trading.venue``: ``paper``, ``binance`` or ``ibkr``) and
calls the methods below (the nine basic calls, plus ``modify_order``,
``submit_bracket`` and ``submit_oco``; live venues add ``reconcile``). Every venue implements the same contract:

* **Synchronous.** A call returns when its work is done. Live adapters poll
  the venue until the order reaches a state worth reporting (filled, resting
  and acknowledged, rejected) or their ``order_timeout_s`` passes.
* **Plain dicts.** Results are dicts whose keys are documented by the
  ``OrderResult``, ``Fill`` and ``Quote`` TypedDicts. Timestamps are aware
  UTC ``datetime`` objects; symbols are upper case.
* **One vocabulary.** Sides ``BUY``/``SELL``; order types ``market``,
  ``limit``, ``stop``, ``stop_limit``, ``trailing_stop``; time in force ``gtc``, ``day``,
  ``ioc``, ``fok``; statuses ``new``, ``partially_filled``, ``filled``,
  ``cancelled``, ``rejected``, ``expired``.
* **Idempotent submission.** The same ``client_order_id`` twice returns the
  first order, never a second one.
* **One error tree** (``LIVE_TRADING.common.exceptions``): a refused order
  raises ``OrderRejectedError`` and changes nothing.

Adding a venue is one line: ``register_venue("name", "package.module:Factory")``.

Why one module of ~430 lines: most of it is the documented contract (the ``Broker`` protocol's
docstrings and the result ``TypedDict``s); the factory is about 60 lines.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, NotRequired, Protocol, TypedDict, runtime_checkable

from CONFIG.config_loader import get_cfg
from LIVE_TRADING.brokers.capabilities import (
    SupportsAccountHistory,
    SupportsAccountSummary,
    SupportsClose,
    SupportsFillsFrame,
    SupportsHealth,
    SupportsJournal,
    SupportsMetrics,
    SupportsOrdersFrame,
    SupportsPortfolioValue,
    SupportsPositionDetails,
    SupportsQuotes,
    SupportsVenueHealth,
    Wrapper,
    find_layer,
    layers,
    supports,
    venue_broker,
)

# --------------------------------------------------------------------------
# Result shapes
# --------------------------------------------------------------------------


class OrderResult(TypedDict):
    """What ``submit_order``, ``cancel_order`` and ``get_order`` return."""

    order_id: str
    client_order_id: str | None
    symbol: str
    side: str  # BUY | SELL
    order_type: str  # market | limit | stop | stop_limit | trailing_stop
    qty: float  # ordered quantity
    filled_qty: float
    status: str  # new | partially_filled | filled | cancelled | rejected | expired
    fill_price: float | None  # average price of what filled; None if nothing did
    fee: float  # total fees charged so far (in fee currency; quote currency on paper)
    limit_price: float | None
    stop_price: float | None
    time_in_force: str  # gtc | day | ioc | fok
    timestamp: datetime  # when the order was created (venue time)
    venue: str
    # -- optional keys, present when they apply ------------------------------
    trail_amount: NotRequired[float | None]  # trailing_stop: trail distance in price units
    trail_percent: NotRequired[float | None]  # trailing_stop: trail distance in percent
    limit_offset: NotRequired[float | None]  # trailing stop-limit: limit = trigger -/+ offset
    trigger_price: NotRequired[float | None]  # trailing_stop: the current trigger, when the venue says
    parent_order_id: NotRequired[str | None]  # a bracket's exit leg: the entry's order_id
    order_list_id: NotRequired[str | None]  # a bracket / OCO leg: the group's id (bracket_id / oco_id)


class BracketResult(TypedDict):
    """What ``submit_bracket`` returns: the group id and its three orders."""

    bracket_id: str
    parent: OrderResult  # the entry
    take_profit: OrderResult  # limit exit (opposite side)
    stop_loss: OrderResult  # stop or stop-limit exit (opposite side)


class OcoResult(TypedDict):
    """What ``submit_oco`` returns: the group id and its two legs (one filling cancels the other)."""

    oco_id: str
    limit: OrderResult
    stop: OrderResult


class Fill(TypedDict, total=False):
    """One execution. ``get_fills()`` returns these, oldest first."""

    order_id: str
    fill_id: str
    timestamp: datetime
    symbol: str
    side: str
    qty: float
    fill_price: float
    notional: float  # qty * fill_price
    fee: float
    fee_currency: str
    venue: str
    slippage_bps: float  # paper only: slippage applied on this fill
    fee_bps: float  # paper only: fee / notional in bps


class Quote(TypedDict):
    """Top of book for one symbol.

    ``market_open`` is set by data providers (sim, replay, yfinance): whether
    the symbol's market was in a regular session when the quote was taken. A
    quote without it (e.g. one set by hand with ``PaperBroker.set_quote``)
    stands for a market that trades.
    """

    symbol: str
    bid: float
    ask: float
    bid_size: float
    ask_size: float
    timestamp: datetime
    spread_bps: float  # (ask - bid) / mid * 1e4
    market_open: NotRequired[bool]


# --------------------------------------------------------------------------
# The protocol
# --------------------------------------------------------------------------


@runtime_checkable
class Broker(Protocol):
    """Protocol every venue adapter satisfies (paper, Binance, IBKR)."""

    def submit_order(
        self,
        symbol: str,
        side: str,
        qty: float,
        order_type: str = "market",
        limit_price: float | None = None,
        *,
        stop_price: float | None = None,
        time_in_force: str = "gtc",
        client_order_id: str | None = None,
        trail_amount: float | None = None,
        trail_percent: float | None = None,
        limit_offset: float | None = None,
    ) -> dict[str, Any]:
        """Place an order and return its ``OrderResult``.

        Market orders return once filled (or as far as they got within the
        venue's timeout); orders that rest return once the venue accepted them
        (status ``new``). ``limit_price`` is required for ``limit`` and
        ``stop_limit``, ``stop_price`` for ``stop`` and ``stop_limit``.
        ``client_order_id`` (``[A-Za-z0-9_-]{1,36}``) makes the call idempotent;
        the same id with other parameters raises ``DuplicateClientOrderIdError``.
        A ``trailing_stop`` takes exactly one of ``trail_amount`` / ``trail_percent``
        and optionally ``limit_offset`` (a trailing stop-limit).

        Raises:
            OrderRejectedError: invalid input or the venue refused (nothing placed).
            DuplicateClientOrderIdError: ``client_order_id`` names an order with other parameters.
            InsufficientFundsError: not enough cash / position.
            RiskLimitError: a pre-trade risk limit refused it.
            QuoteUnavailableError: no (fresh) quote to price a market order (paper).
            OrderStatusUnknownError: the venue's answer was lost; reconcile by client id.
            BrokerError: any other failure.
        """
        ...

    def cancel_order(self, order_id: str) -> dict[str, Any]:
        """Cancel an open order; returns its ``OrderResult`` with status ``cancelled``.

        An order that already reached a final state is not an error: its
        ``OrderResult`` is returned with that final status (``filled``, ...).
        Raises ``OrderNotFoundError`` for an id the venue does not know.
        """
        ...

    def get_order(self, order_id: str) -> dict[str, Any]:
        """The current ``OrderResult`` of an order; ``OrderNotFoundError`` if unknown."""
        ...

    def get_open_orders(self) -> list[dict[str, Any]]:
        """``OrderResult`` of every order still ``new`` or ``partially_filled``."""
        ...

    def get_positions(self) -> dict[str, float]:
        """Non-zero positions by symbol; positive long, negative short."""
        ...

    def get_cash(self) -> float:
        """Cash available for new orders (net of what open orders reserve)."""
        ...

    def get_fills(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Fills (``Fill`` dicts) at or after ``since`` (aware UTC), oldest first."""
        ...

    def get_quote(self, symbol: str) -> dict[str, Any]:
        """Current ``Quote``; ``QuoteUnavailableError`` if none can be had."""
        ...

    def now(self) -> datetime:
        """The broker's current time (aware UTC)."""
        ...

    def modify_order(
        self,
        order_id: str,
        *,
        qty: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> dict[str, Any]:
        """Change an open order (at least one field) and return its new ``OrderResult``.

        The ``order_id`` may change on venues that replace rather than amend
        (Binance ``cancelReplace``): use the one returned. A pure quantity
        decrease keeps time priority where the venue allows it.

        Raises:
            OrderNotFoundError: unknown order id.
            OrderRejectedError: the order is already final (filled / cancelled / ...),
                the new qty is below what already filled, bad values, or the venue refused
                (the original order is then as the venue reports it).
        """
        ...

    def submit_bracket(
        self,
        symbol: str,
        side: str,
        qty: float,
        *,
        entry_type: str = "market",
        limit_price: float | None = None,
        take_profit: float,
        stop_loss: float,
        stop_loss_limit: float | None = None,
        time_in_force: str = "gtc",
        client_order_id: str | None = None,
    ) -> dict[str, Any]:
        """An entry order with a take-profit limit and a stop-loss exit; returns a ``BracketResult``.

        The exits work once the entry fills (in proportion to partial fills);
        one exit filling reduces or cancels the other. ``client_order_id``
        names the whole bracket: retrying never creates a second one.
        BUY: ``take_profit > limit_price (entry) > stop_loss``; SELL mirrored.
        """
        ...

    def submit_oco(
        self,
        symbol: str,
        side: str,
        qty: float,
        *,
        limit_price: float,
        stop_price: float,
        stop_limit_price: float | None = None,
        time_in_force: str = "gtc",
        client_order_id: str | None = None,
    ) -> dict[str, Any]:
        """A limit and a stop (stop-limit with ``stop_limit_price``) on one side; one fill cancels the other.

        Returns an ``OcoResult``. SELL: limit above stop; BUY: limit below stop.
        """
        ...


@runtime_checkable
class LiveBroker(Broker, Protocol):
    """A broker on a real venue: it can compare the venue's view with its journal."""

    def reconcile(self) -> dict[str, Any]:
        """Bring the journal in line with the venue; return what changed.

        ``{"fills_added": [Fill...], "orders_adopted": [OrderResult...],
        "orders_resolved": [OrderResult...], "unknown": [OrderResult...]}``:
        fills the journal lacked (now journaled), open orders of this account's
        client-id prefix the journal did not know (now journaled), orders the
        journal had open that the venue no longer lists (final state from the
        venue's order query, journaled), and open orders without our prefix
        (reported, left alone). Also run once at construction.
        """
        ...


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def normalize_order(
    symbol: str,
    side: str,
    qty: float,
    px: float | None = None,
) -> dict[str, Any]:
    """Normalize order parameters to the standard form (upper-case symbol and side, float qty/px)."""
    return {
        "symbol": str(symbol).strip().upper(),
        "side": str(side).strip().upper(),
        "qty": float(qty),
        "px": float(px) if px is not None else None,
    }


# --------------------------------------------------------------------------
# Venue registry
# --------------------------------------------------------------------------

#: venue name -> "module:attribute" of a callable ``(**kwargs) -> Broker``,
#: imported only when that venue is asked for (``import LIVE_TRADING`` never
#: imports ib_async, yfinance or the Binance client).
_VENUES: dict[str, str] = {
    "paper": "LIVE_TRADING.brokers.paper:PaperBroker",
    "binance": "LIVE_TRADING.brokers.binance.broker:BinanceBroker",
    "ibkr": "LIVE_TRADING.brokers.ibkr.broker:IBKRBroker",
}


def register_venue(name: str, target: str | Callable[..., Any]) -> None:
    """Make ``get_broker(name)`` build brokers with ``target``.

    ``target`` is a callable taking keyword arguments, or a ``"module:attr"``
    string naming one (imported on first use).
    """
    _VENUES[name.strip().lower()] = target  # type: ignore[assignment]


def known_venues() -> list[str]:
    return sorted(_VENUES)


def resolve_target(target: str | Callable[..., Any]) -> Callable[..., Any]:
    """Import a ``"module:attr"`` target (or return a callable as is)."""
    if callable(target):
        return target
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def get_broker(venue: str | None = None, *, risk: bool = True, metrics: bool = True, **kwargs: Any) -> Broker:
    """Build the broker for ``venue`` (``None``: the config key ``live_trading.venue``).

    Keyword arguments go to the venue's constructor and override the config
    (``None`` means "use the config"). Every broker is wrapped in the
    pre-trade risk limits of ``live_trading.risk`` (``risk=False`` to skip) and,
    outermost, in call metrics with a ``health()`` method (``metrics=False``).
    ``broker.unwrap()`` returns the venue broker itself.

    ``clock="sim"`` builds a ``ManualClock`` for a backtest (``clock="real"``:
    the system time); it is shared with a data provider given by name
    (``data_provider="sim"``) and returned as ``broker.clock``, to be moved
    with ``broker.clock.advance(hours=1)``.

    Raises:
        ValueError: unknown venue (names the known ones), or unknown clock name.
        ConfigError: invalid configuration for that venue.
    """
    made_clock = None
    if isinstance(kwargs.get("clock"), str):
        from LIVE_TRADING.common.clock import make_clock

        kwargs["clock"] = made_clock = make_clock(kwargs["clock"])
    if venue is None:
        venue = get_cfg("live_trading.venue", default="paper")
    name = str(venue).strip().lower()
    target = _VENUES.get(name)
    if target is None:
        raise ValueError(f"Unknown broker venue: {venue!r} (known: {', '.join(known_venues())})")
    broker = resolve_target(target)(**kwargs)
    if risk:
        from LIVE_TRADING.brokers.guard.risk import wrap_with_risk_limits

        broker = wrap_with_risk_limits(broker, venue=name)
    if metrics:
        from LIVE_TRADING.brokers.guard.metrics import InstrumentedBroker

        broker = InstrumentedBroker(broker, venue=name)
    if made_clock is not None:
        broker.clock = made_clock  # type: ignore[attr-defined]
    return broker


__all__ = [
    "BracketResult",
    "Broker",
    "Fill",
    "LiveBroker",
    "OcoResult",
    "OrderResult",
    "Quote",
    "SupportsAccountHistory",
    "SupportsAccountSummary",
    "SupportsClose",
    "SupportsFillsFrame",
    "SupportsHealth",
    "SupportsJournal",
    "SupportsMetrics",
    "SupportsOrdersFrame",
    "SupportsPortfolioValue",
    "SupportsPositionDetails",
    "SupportsQuotes",
    "SupportsVenueHealth",
    "Wrapper",
    "find_layer",
    "get_broker",
    "known_venues",
    "layers",
    "normalize_order",
    "register_venue",
    "supports",
    "venue_broker",
]
