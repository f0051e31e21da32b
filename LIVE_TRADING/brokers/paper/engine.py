"""The paper fill engine: what an order or a quote *would* do, decided without changing anything.

Every function here reads the state and returns a decision (a fill's size and
price, or the reason it cannot happen); the broker journals the decision and
then applies it (``state``). Fill rules:

* a taker fill (market order, marketable limit, triggered stop) is priced at
  the far side of the quote plus slippage (BUY ``ask * (1 + s)``, SELL
  ``bid * (1 - s)``), never worse than a limit;
* a resting limit fills as a maker at ``min(limit, ask)`` / ``max(limit, bid)``;
* with ``respect_quote_size`` a fill takes at most the displayed size, and a
  market order bigger than it walks the book at the square-root impact price.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from LIVE_TRADING.brokers.paper import costs
from LIVE_TRADING.brokers.paper.costs import TAKER, apply_slippage, fill_fee
from LIVE_TRADING.brokers.paper.orders import PaperOrder
from LIVE_TRADING.brokers.paper.state import PaperState
from LIVE_TRADING.common.constants import QTY_EPSILON, TIF_FOK, TIF_IOC
from LIVE_TRADING.common.exceptions import InsufficientFundsError

Mark = Callable[[str], float]


class Take(NamedTuple):
    """A taker fill decision: ``qty`` at ``price`` (``ref`` is the quote side it came from)."""

    qty: float
    price: float
    ref: float
    reason: str = ""  # why nothing can be taken (fok short of size)


class Engine:
    """Fill rules and pre-trade checks of one paper account (see the module docstring)."""

    def __init__(self, state: PaperState, *, slippage: costs.SlippageModel, fees: costs.FeeModel,
                 impact: costs.SqrtImpact, respect_size: bool, allow_short: bool,
                 margin_requirement: float) -> None:
        self.state = state
        self.slippage = slippage
        self.fees = fees
        self.impact = impact
        self.respect_size = respect_size
        self.allow_short = allow_short
        self.margin_requirement = margin_requirement

    # -- prices ------------------------------------------------------------------------
    def take(self, order: PaperOrder, quote: dict[str, Any], available: float | None,
             limit: float | None = None) -> Take:
        """Fill ``order``'s remainder as a taker against ``quote`` (``available``: displayed size left)."""
        is_buy = order.is_buy
        ref = quote["ask"] if is_buy else quote["bid"]
        displayed = quote["ask_size"] if is_buy else quote["bid_size"]
        qty = order.qty - order.filled_qty
        bps = self.slippage.bps(qty, displayed)
        if available is not None and qty > available + QTY_EPSILON:
            if order.tif == TIF_FOK:
                return Take(0.0, 0.0, ref, f"fok: only {available:g} displayed of {qty:g} wanted")
            if limit is not None or order.tif == TIF_IOC:
                qty = available
            else:  # a market order walks the book: worse price through the impact model
                bps = max(bps, self.impact.bps(qty, available))
        price = apply_slippage(ref, is_buy, bps)
        if limit is not None:
            price = min(price, limit) if is_buy else max(price, limit)
        return Take(qty, price, ref)

    # -- money checks --------------------------------------------------------------------
    def fill_fee(self, order: PaperOrder, qty: float, price: float, liquidity: str, mark: Mark) -> float:
        """The fee of a fill of ``qty`` at ``price``; ``InsufficientFundsError`` if it cannot be paid for."""
        st = self.state
        notional = qty * price
        fee = fill_fee(self.fees, order.filled_qty, order.filled_notional, qty, notional, liquidity)
        held_cash, held_qty = order.reserved_cash, order.reserved_qty
        if order.list_role is not None:  # a bracket exit / OCO leg: the pair's one reservation is its own too
            other = st.sibling(order)
            if other is not None:
                held_cash += other.reserved_cash
                held_qty += other.reserved_qty
        if order.is_buy:
            available = st.cash - st.reserved_cash + held_cash
            if notional + fee > available + 1e-9:
                raise InsufficientFundsError(
                    order.symbol, f"Insufficient cash: need ${notional + fee:,.2f}, have ${available:,.2f}")
        else:
            pos = st.positions.get(order.symbol)
            held = pos.qty if pos is not None else 0.0
            free = held - st.reserved_sell.get(order.symbol, 0.0) + held_qty
            if qty > free + QTY_EPSILON or (free <= 0.0 and qty > 0.0):
                if not self.allow_short:
                    raise InsufficientFundsError(
                        order.symbol, f"Insufficient position: need {qty:g}, have {max(free, 0.0):g} available")
                cost = fee + max(0.0, (mark(order.symbol) - price) * qty)
                self.check_margin(order.symbol, free - qty, price, cost, mark)
        return fee

    def check_can_open(self, order: PaperOrder, mark: Mark) -> None:
        """A resting order must be affordable in full (cash, position or margin) when placed."""
        st = self.state
        remaining = order.qty
        if order.is_buy:
            notional = st.buy_cap(order, remaining) * remaining
            need = notional + self.fees.max_fee(remaining, notional)
            have = st.cash - st.reserved_cash
            if need > have + 1e-9:
                raise InsufficientFundsError(
                    order.symbol, f"Insufficient cash: need ${need:,.2f} reserved, have ${have:,.2f}")
            return
        pos = st.positions.get(order.symbol)
        free = (pos.qty if pos else 0.0) - st.reserved_sell.get(order.symbol, 0.0)
        if remaining > free + QTY_EPSILON or (free <= 0.0 and remaining > 0.0):
            if not self.allow_short:
                raise InsufficientFundsError(
                    order.symbol, f"Insufficient position: need {remaining:g}, have {max(free, 0.0):g} available")
            price = order.limit_price if order.limit_price is not None else order.stop_price
            if price is None:  # a market order queued for the open
                price = order.cap_price
            assert price is not None  # a resting order has a limit, a stop or a cap
            self.check_margin(order.symbol, free - remaining, price, 0.0, mark)

    def check_margin(self, symbol: str, short_after: float, price: float, cost: float, mark: Mark) -> None:
        """Shorting: equity must stay >= margin_requirement x gross short value."""
        st = self.state
        gross = 0.0
        for sym, pos in st.positions.items():
            if sym == symbol:
                continue
            exposure = pos.qty - st.reserved_sell.get(sym, 0.0)
            if exposure < 0:
                gross += -exposure * mark(sym)
        if short_after < 0:
            gross += -short_after * price
        equity = self.equity(mark) - cost
        if equity < self.margin_requirement * gross - 1e-9:
            raise InsufficientFundsError(
                symbol,
                f"Insufficient margin: equity ${equity:,.2f} < {self.margin_requirement:g} x gross short value "
                f"${gross:,.2f}")

    def equity(self, mark: Mark | Mapping[str, Mapping[str, Any]]) -> float:
        """Cash plus each position valued at ``mark``: a function of the symbol, or the held quotes.

        Given the quotes (``{symbol: quote}``, checked floats), a position is
        valued as ``OrderFlow._mark`` values it, inline: its quote's mid
        (``mid_price``'s arithmetic), its average cost where there is no quote.
        """
        st = self.state
        value = st.cash
        if callable(mark):
            for sym, pos in st.positions.items():
                if pos.qty:
                    value += pos.qty * mark(sym)
            return value
        quote_of = mark.get
        for sym, pos in st.positions.items():
            qty = pos.qty
            if qty:
                quote = quote_of(sym)
                value += qty * ((quote["bid"] + quote["ask"]) / 2.0 if quote is not None else pos.avg_cost)
        return value


__all__ = ["TAKER", "Engine", "Take"]
