"""The hot path of the paper broker: a plain market order that fills at once.

A mixin of ``PaperBroker`` (``broker.py``). ``submit_order`` of a market
order (gtc, no client id, no prices) comes here first: most orders of a
pipeline or a backtest are such orders, and the general path (``flow``) pays
for generality they do not need. The decision is the same (same price, fee,
checks and journal record; ``PaperState.apply_market`` applies it, as recovery
does for such a record); anything not plain (no fresh quote, a closed market, fills limited by
the displayed size, short of cash or position, bad input) goes to the general
path untouched. ``tests/test_paper_hot_path.py`` runs the same orders both ways
and compares results, errors, records and state.
"""

# The methods below run on a ``PaperBroker`` (this class is one of its bases): the attributes they use are
# set by ``PaperBroker.__init__``, which mypy cannot see from here.
# mypy: disable-error-code="attr-defined"

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from LIVE_TRADING.brokers.paper import costs
from LIVE_TRADING.brokers.paper.costs import LINEAR_FEES, TAKER, apply_slippage
from LIVE_TRADING.brokers.validation import OrderRequest, clean_symbol
from LIVE_TRADING.common.constants import (
    ORDER_TYPE_MARKET,
    QTY_EPSILON,
    SIDE_BUY,
    SIDE_SELL,
    STATUS_FILLED,
    TIF_GTC,
)
from LIVE_TRADING.common.exceptions import OrderRejectedError, QuoteUnavailableError
from LIVE_TRADING.data.provider import check_known

_INF = math.inf
#: ints below this convert to a float exactly enough and never overflow (bigger ones take the general checks)
_BIG_INT = 1 << 53
#: how many raw symbol spellings ``_plain_market`` remembers the clean form of
_MAX_CLEAN_SYMBOLS = 4096
_IS_BUY = {SIDE_BUY: True, SIDE_SELL: False}


class MarketHotPath:
    """``submit_order``'s direct path for a plain market order (see the module docstring)."""

    def _plain_market(self, symbol: Any, side: Any, qty: Any) -> dict[str, Any] | None:
        """``submit_order`` of a market order, gtc, without client id or prices: its hot path.

        Checks the three arguments left (the symbol's clean form is remembered),
        then places the order with ``_market_now`` or, when anything is not
        plain (no fresh quote, a closed market, short of cash or position...),
        with the general ``_submit`` at the same ``now``. Returns ``None`` when
        an argument needs the general validation: ``submit_order`` then runs it
        from scratch, so bad input gets exactly the errors it always got.
        """
        if type(symbol) is not str:
            return None
        sym = self._clean_symbols.get(symbol)
        if sym is None:
            sym = clean_symbol(symbol)  # what ``validate_order`` checks (and raises) first
            if len(self._clean_symbols) < _MAX_CLEAN_SYMBOLS:
                self._clean_symbols[symbol] = sym
        is_buy = _IS_BUY.get(side) if type(side) is str else None
        if is_buy is None:
            return None
        cls = type(qty)
        if cls is float:
            if not 0.0 < qty < _INF:
                return None
        elif cls is int and 0 < qty < _BIG_INT:
            qty = float(qty)
        else:
            return None
        if self._knows is not None:
            check_known(self._knows, sym)
        if qty < self.config.min_qty:
            return None
        with self._lock:
            journal = self._journal
            if journal is None or journal.closed:
                self._writable("submit orders")  # raises
            now = self._clock()
            if self._state.expiries:
                self._expire_due(now)
            try:
                done = self._market_now(sym, side, is_buy, qty, now)
                return done if done is not None else self._submit(OrderRequest(sym, side, qty), now)
            except (OrderRejectedError, QuoteUnavailableError) as exc:
                self._journal_reject(exc, OrderRequest(sym, side, qty), now)
                raise

    def _market_now(self, sym: str, side: str, is_buy: bool, qty: float, now: datetime) -> dict[str, Any] | None:
        """Fill a plain market order in full at once, or ``None`` (nothing done) if it is not that simple.

        The same decision as ``_submit`` takes for such an order (same price, fee,
        checks and record), without its generality: a fresh quote of an open
        market, fills not limited by the displayed size, enough cash (BUY) or
        position (SELL). Anything else returns ``None`` and ``_submit`` decides.
        """
        quote = self._quotes.get(sym)
        if (quote is None or self._respect_size or self._hours == "calendar"
                or (now - quote["timestamp"]).total_seconds() > self._max_age):
            return None
        if self._hours != "always":  # ``quotes``: a quote from a provider may say its market is closed
            flag = quote.get("market_open")
            if flag is not None and not flag:
                return None
        if is_buy:
            ref, size = quote["ask"], quote["ask_size"]
        else:
            ref, size = quote["bid"], quote["bid_size"]
        price = apply_slippage(ref, is_buy, self._slippage.bps(qty, size))
        if not 0.0 < price < _INF:
            return None
        st = self._state
        notional = qty * price
        fees = st.fees
        fee = fees.order_fee(qty, notional, TAKER) if type(fees) in LINEAR_FEES else costs.fill_fee(
            fees, 0.0, 0.0, qty, notional, TAKER)  # (``costs.fill_fee`` of a first fill)
        if is_buy:
            if notional + fee > st.cash - st.reserved_cash + 1e-9:
                return None
        else:
            pos = st.positions.get(sym)
            free = (pos.qty if pos is not None else 0.0) - st.reserved_sell.get(sym, 0.0)
            if qty > free + QTY_EPSILON or (free <= 0.0 and qty > 0.0):
                return None
        journal = self._journal
        oid = f"{st.tag}-{journal.seq + 1}"
        fid = oid + "-f1"
        slip = (price / ref - 1.0) * 1e4 if is_buy else (1.0 - price / ref) * 1e4
        fee_bps = fee / notional * 1e4 if notional else 0.0
        fill = {"fill_id": fid, "qty": qty, "fill_price": price, "notional": notional, "fee": fee,
                "slippage_bps": slip, "fee_bps": fee_bps, "liquidity": TAKER}
        seq = journal.append_seq({
            "event": "order", "ts": now,
            "order": {"order_id": oid, "symbol": sym, "side": side, "order_type": ORDER_TYPE_MARKET, "qty": qty,
                      "time_in_force": TIF_GTC},
            "fills": [fill], "status": STATUS_FILLED})
        out = st.apply_market(oid, sym, side, is_buy, qty, now, fill, seq)
        if journal.seq - journal.last_snapshot_seq >= self._snapshot_every:
            self._snapshot_now(now)
        return out


__all__ = ["MarketHotPath"]
