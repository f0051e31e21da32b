"""The paper broker's order management: modify, trailing stops, brackets and OCO.

A mixin of ``PaperBroker`` (``broker.py``): every change is one journal record
applied through ``PaperState`` (``state.py``), like the rest of the broker.

Why one module of ~440 lines: modify, trailing, bracket and OCO are each validate -> one journal
record -> apply, and they share the links between orders (parent, OCO group) that this mixin keeps.
"""

# The methods below run on a ``PaperBroker`` (this class is one of its bases): the attributes they use are
# set by ``PaperBroker.__init__``, which mypy cannot see from here.
# mypy: disable-error-code="attr-defined"

from __future__ import annotations

import copy
import functools
import logging
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from LIVE_TRADING.brokers.paper.flow import _compact
from LIVE_TRADING.brokers.paper.matching import AS_LIMIT, AS_STOP, limit_marketable, stop_triggered
from LIVE_TRADING.brokers.paper.orders import PaperOrder
from LIVE_TRADING.brokers.paper.state import trail_trigger
from LIVE_TRADING.brokers.validation import (
    OrderRequest,
    check_modify,
    validate_bracket,
    validate_modify,
    validate_oco,
)
from LIVE_TRADING.common.constants import (
    FINAL_STATUSES,
    ORDER_TYPE_LIMIT,
    ORDER_TYPE_MARKET,
    ORDER_TYPE_STOP,
    ORDER_TYPE_STOP_LIMIT,
    QTY_EPSILON,
    STATUS_CANCELLED,
    STATUS_FILLED,
    STATUS_NEW,
    STATUS_PARTIALLY_FILLED,
    TIF_DAY,
    TIF_FOK,
    TIF_IOC,
)
from LIVE_TRADING.common.exceptions import (
    DuplicateClientOrderIdError,
    InsufficientFundsError,
    OrderRejectedError,
    QuoteUnavailableError,
)
from LIVE_TRADING.common.ids import derive_client_id

logger = logging.getLogger(__name__)


class OrderManagement:
    """``modify_order``, trailing stops, ``submit_bracket`` and ``submit_oco`` on paper."""

    # ======================================================================
    # Order management (issue 14): modify, trailing stops, brackets, OCO
    # ======================================================================
    def modify_order(self, order_id: str, *, qty: float | None = None, limit_price: float | None = None,
                     stop_price: float | None = None) -> dict[str, Any]:
        """Change an open order's quantity and/or prices; returns its new ``OrderResult`` (same order id).

        Only lowering the quantity keeps the order's place in its queue (time
        priority); any other change sends it to the back of its new price level.
        The new quantity may not go below what already filled (the fills stay).
        A limit that becomes marketable fills at once as a taker, like a new
        marketable limit; a stop moved through the market triggers at once.
        One ``modify`` record. Raises ``OrderNotFoundError`` (unknown id),
        ``OrderRejectedError`` (final order, bad values, a qty change on a
        bracket / OCO leg, a stop change on a triggered stop),
        ``InsufficientFundsError``; state and journal are then untouched.
        """
        mreq = validate_modify(order_id, qty, limit_price, stop_price)
        with self._lock:
            self._writable("modify orders")
            now = self._clock()
            self._expire_due(now)
            order = self._state.open.get(mreq.order_id)
            if order is None:
                check_modify(self._order_result(mreq.order_id), mreq)  # unknown or final: typed error
                raise OrderRejectedError("", f"order {mreq.order_id} is not open; it cannot be modified")
            check_modify(order.result(), mreq)
            sym = order.symbol
            if mreq.qty is not None and mreq.qty < self.config.min_qty:
                raise OrderRejectedError(sym, f"qty {mreq.qty:g} is below the minimum {self.config.min_qty:g}")
            if order.order_list_id is not None and mreq.qty is not None and mreq.qty != order.qty:
                raise OrderRejectedError(sym, f"order {order.order_id} is a leg of {order.order_list_id}: its "
                                              "quantity follows the group (cancel the group and place a new one)")
            if order.triggered and mreq.stop_price is not None:
                raise OrderRejectedError(sym, f"order {order.order_id} already triggered: its stop price no "
                                              "longer applies")
            return self._modify(order, mreq.qty, mreq.limit_price, mreq.stop_price, now)

    def _modify(self, order: PaperOrder, qty: float | None, limit_price: float | None,
                stop_price: float | None, now: datetime) -> dict[str, Any]:
        st = self._state
        new_qty = order.qty if qty is None else qty
        lp = order.limit_price if limit_price is None else limit_price
        sp = order.stop_price if stop_price is None else stop_price
        if new_qty == order.qty and lp == order.limit_price and sp == order.stop_price:
            return order.result()  # nothing changes: no record
        keep = lp == order.limit_price and sp == order.stop_price and new_qty < order.qty
        shadow = copy.copy(order)  # the order as it would be: decide on it, change nothing
        shadow.qty, shadow.limit_price, shadow.stop_price, shadow.queue = new_qty, lp, sp, None
        if order.order_list_id is None:
            self._check_modify_funds(shadow, order)
        fills: list[dict[str, Any]] = []
        triggered = False
        status = order.status
        rest: str | None = None
        if new_qty - order.filled_qty <= QTY_EPSILON:
            status = STATUS_FILLED  # lowered to what already filled: nothing left to do
        elif order.resting is not None or order.order_list_id is None:
            rest = st.rest_kind(order)
            quote = None if keep else self._quote_for(order.symbol, now, required=False)
            if quote is not None and rest == AS_LIMIT and limit_marketable(order.is_buy, lp, quote):
                status = self._take_now(shadow, quote, now, fills, lp)
            elif quote is not None and rest == AS_STOP and stop_triggered(order.is_buy, sp, quote["bid"], quote["ask"]):
                shadow.triggered = triggered = True
                status, rest = self._at_trigger(shadow, quote, now, fills)
        if status in FINAL_STATUSES:
            rest = None
        links = None
        if order.order_list_id is not None and fills:
            status = self._leg_status(shadow, status)
            links = self._links_after(shadow, sum(f["qty"] for f in fills), status)
        payload: dict[str, Any] = {
            "event": "modify", "ts": now, "order_id": order.order_id, "symbol": order.symbol, "side": order.side,
            "qty": new_qty, "limit_price": lp,
            "stop_price": sp, "keep_priority": keep, "status": status, "rest": rest, "triggered": triggered,
            "fills": [_compact(f) for f in fills]}
        if links:
            payload["links"] = links
        self._commit(payload, lambda seq: self._apply_with_links(
            lambda: st.apply_modify(order.order_id, new_qty, lp, sp, fills, status, rest, keep, triggered, seq),
            links, seq))
        self._after_fills(order, fills)
        return order.result()

    def _check_modify_funds(self, new: PaperOrder, old: PaperOrder) -> None:
        """The modified order must be affordable in full, counting what the order already holds back."""
        st = self._state
        remaining = new.qty - new.filled_qty
        if remaining <= QTY_EPSILON:
            return
        if new.is_buy:
            notional = st.buy_cap(new, remaining) * remaining
            need = notional + self._engine.fees.max_fee(remaining, notional)
            have = st.cash - st.reserved_cash + old.reserved_cash
            if need > have + 1e-9:
                raise InsufficientFundsError(
                    new.symbol, f"Insufficient cash: the modified order needs ${need:,.2f} reserved, have ${have:,.2f}")
            return
        pos = st.positions.get(new.symbol)
        free = (pos.qty if pos else 0.0) - st.reserved_sell.get(new.symbol, 0.0) + old.reserved_qty
        if remaining > free + QTY_EPSILON or (free <= 0.0 and remaining > 0.0):
            if not self.config.allow_short:
                raise InsufficientFundsError(
                    new.symbol, f"Insufficient position: need {remaining:g}, have {max(free, 0.0):g} available")
            price = new.limit_price if new.limit_price is not None else new.stop_price
            self._engine.check_margin(new.symbol, free - remaining, price, 0.0, self._mark)

    # -- trailing stops ----------------------------------------------------
    def _submit_trailing(self, req: OrderRequest, now: datetime) -> dict[str, Any]:
        """Accept a trailing stop: its trigger starts from the current quote (one ``order`` record)."""
        journal = self._journal
        assert journal is not None
        order = PaperOrder(f"{self._state.tag}-{journal.seq + 1}", req, now)
        quote = self._quote_for(order.symbol, now)  # the trail is measured from the market: a quote is needed
        if order.tif == TIF_DAY:
            order.expires_at = self._day_expiry(order.symbol, now, quote)
        order.stop_price = trail_trigger(order, quote["bid"], quote["ask"])
        if not (math.isfinite(order.stop_price) and order.stop_price > 0):
            raise OrderRejectedError(order.symbol, f"trail_amount {order.trail_amount:g} puts the trigger at "
                                                   f"{order.stop_price:g} (bid {quote['bid']:g}): it must stay above 0")
        self._engine.check_can_open(order, self._mark)
        self._commit({"event": "order", "ts": now, "order": order.spec(), "fills": [], "status": STATUS_NEW,
                      "rest": AS_STOP},
                     lambda seq: self._state.apply_order(order, [], STATUS_NEW, AS_STOP, seq))
        return order.result()

    def _move_trails(self, trails: dict[str, PaperOrder], quote: dict[str, Any], now: datetime) -> None:
        """Move the triggers of a symbol's trailing stops that the quote improves: one ``trail`` record each.

        O(trailing stops of this symbol); a quote that moves no trigger writes nothing.
        """
        bid, ask = quote["bid"], quote["ask"]
        for order in list(trails.values()):
            trigger = trail_trigger(order, bid, ask)
            if (trigger < order.stop_price) if order.is_buy else (trigger > order.stop_price):
                self._commit({"event": "trail", "ts": now, "order_id": order.order_id, "trigger": trigger},
                             functools.partial(self._state.apply_trail, order.order_id, trigger))

    # -- brackets and OCOs ---------------------------------------------------
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
        """An entry with a take-profit limit and a stop-loss exit (one ``bracket`` record); a ``BracketResult``.

        The exits work for what the entry has filled: each exit's ``qty`` is its
        own fills plus the entry's fills not yet exited (0 until the entry fills).
        An exit's fill reduces the other exit at once; once the entry is done and
        nothing is left to exit, the other exit is cancelled. Cancelling (or the
        expiry of) the entry cancels both exits; cancelling an exit cancels the
        other. ``client_order_id`` names the bracket (legs ``-e``, ``-tp``, ``-sl``):
        the same call again returns the same bracket, other parameters raise
        ``DuplicateClientOrderIdError``.
        """
        req = validate_bracket(symbol, side, qty, entry_type=entry_type, limit_price=limit_price,
                               take_profit=take_profit, stop_loss=stop_loss, stop_loss_limit=stop_loss_limit,
                               time_in_force=time_in_force, client_order_id=client_order_id)
        self._check_min_qty(req)
        with self._lock:
            self._writable("submit orders")
            now, known, list_id = self._open_list(req, "bracket")
            if known is not None:
                return known
            cid = req.client_order_id
            ids = {"entry": list_id, "tp": f"{list_id}-tp", "sl": f"{list_id}-sl"}
            entry = self._leg(ids["entry"], OrderRequest(req.symbol, req.side, req.qty, req.entry_type,
                                                         req.limit_price, None, req.time_in_force,
                                                         derive_client_id(cid, "e") if cid else None),
                              now, list_id, "entry", None)
            tp = self._leg(ids["tp"], OrderRequest(req.symbol, req.exit_side, req.qty, ORDER_TYPE_LIMIT,
                                                   req.take_profit, None, req.time_in_force,
                                                   derive_client_id(cid, "tp") if cid else None),
                           now, list_id, "tp", entry.order_id)
            sl_type = ORDER_TYPE_STOP_LIMIT if req.stop_loss_limit is not None else ORDER_TYPE_STOP
            sl = self._leg(ids["sl"], OrderRequest(req.symbol, req.exit_side, req.qty, sl_type,
                                                   req.stop_loss_limit, req.stop_loss, req.time_in_force,
                                                   derive_client_id(cid, "sl") if cid else None),
                           now, list_id, "sl", entry.order_id)
            fills: list[dict[str, Any]] = []
            try:
                status, rest = self._decide_entry(entry, now, fills)
            except (OrderRejectedError, QuoteUnavailableError) as exc:
                self._journal_reject(exc, entry.request(), now)
                raise
            got = float(sum(f["qty"] for f in fills))
            for leg in (tp, sl):
                leg.qty = got  # the exits cover what the entry filled so far
            exit_status = STATUS_CANCELLED if status in FINAL_STATUSES and got <= QTY_EPSILON else STATUS_NEW
            legs = [(entry, status, rest), (tp, exit_status, AS_LIMIT if got > QTY_EPSILON else None),
                    (sl, exit_status, AS_STOP if got > QTY_EPSILON else None)]
            self._write_list("bracket", list_id, legs, fills, cid, list(req), now)
            return self._list_result(list_id, "bracket")

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
        """A limit and a stop (or stop-limit) on the same side; one filling reduces / cancels the other.

        One ``oco`` record; returns an ``OcoResult``. Both legs rest at once and
        must not be executable at the current quote (``OrderRejectedError``).
        The limit leg holds the one reservation both legs share. Cancelling a
        leg cancels the other. ``client_order_id`` names the OCO (legs ``-lim``, ``-stp``).
        """
        req = validate_oco(symbol, side, qty, limit_price=limit_price, stop_price=stop_price,
                           stop_limit_price=stop_limit_price, time_in_force=time_in_force,
                           client_order_id=client_order_id)
        self._check_min_qty(req)
        with self._lock:
            self._writable("submit orders")
            now, known, list_id = self._open_list(req, "oco")
            if known is not None:
                return known
            cid = req.client_order_id
            lim = self._leg(list_id, OrderRequest(req.symbol, req.side, req.qty, ORDER_TYPE_LIMIT, req.limit_price,
                                                  None, req.time_in_force,
                                                  derive_client_id(cid, "lim") if cid else None),
                            now, list_id, "limit", None)
            stp_type = ORDER_TYPE_STOP_LIMIT if req.stop_limit_price is not None else ORDER_TYPE_STOP
            stp = self._leg(f"{list_id}-stp", OrderRequest(req.symbol, req.side, req.qty, stp_type,
                                                           req.stop_limit_price, req.stop_price, req.time_in_force,
                                                           derive_client_id(cid, "stp") if cid else None),
                            now, list_id, "stop", None)
            quote = self._quote_for(req.symbol, now, required=False)
            if quote is not None and limit_marketable(lim.is_buy, req.limit_price, quote):
                raise OrderRejectedError(req.symbol, f"the OCO's limit {req.limit_price:g} would fill at once "
                                                     f"(bid {quote['bid']:g}, ask {quote['ask']:g}); it must rest")
            if quote is not None and stop_triggered(stp.is_buy, req.stop_price, quote["bid"], quote["ask"]):
                raise OrderRejectedError(req.symbol, f"the OCO's stop {req.stop_price:g} would trigger at once "
                                                     f"(bid {quote['bid']:g}, ask {quote['ask']:g})")
            try:
                self._engine.check_can_open(lim, self._mark)
                self._engine.check_can_open(stp, self._mark)
            except OrderRejectedError as exc:
                self._journal_reject(exc, lim.request(), now)
                raise
            self._write_list("oco", list_id, [(lim, STATUS_NEW, AS_LIMIT), (stp, STATUS_NEW, AS_STOP)], [],
                             cid, list(req), now)
            return self._list_result(list_id, "oco")

    def _open_list(self, req: Any, kind: str) -> tuple[datetime, dict[str, Any] | None, str]:
        """Start a bracket / OCO: the time, the list already placed under its client id (or None), its id."""
        now = self._clock()
        self._expire_due(now)
        journal = self._journal
        assert journal is not None
        return now, self._same_list(req, kind), f"{self._state.tag}-{journal.seq + 1}"

    def _leg(self, order_id: str, req: OrderRequest, now: datetime, list_id: str, role: str,
             parent: str | None) -> PaperOrder:
        leg = PaperOrder(order_id, req, now)
        leg.order_list_id, leg.list_role, leg.parent_order_id = list_id, role, parent
        if leg.tif == TIF_DAY:
            leg.expires_at = self._day_expiry(leg.symbol, now, self._quote_for(leg.symbol, now, required=False))
        return leg

    def _decide_entry(self, entry: PaperOrder, now: datetime, fills: list[dict[str, Any]]) -> tuple[str, str | None]:
        """What a bracket's entry does now, decided like ``submit_order``'s market / limit (nothing changes)."""
        if entry.order_type == ORDER_TYPE_MARKET:
            return self._take_now(entry, self._quote_for(entry.symbol, now), now, fills, None), None
        self._engine.check_can_open(entry, self._mark)
        quote = self._quote_for(entry.symbol, now, required=False)
        if quote is not None and limit_marketable(entry.is_buy, entry.limit_price, quote):
            return self._take_now(entry, quote, now, fills, entry.limit_price), AS_LIMIT
        if entry.tif == TIF_FOK:
            raise OrderRejectedError(entry.symbol, "FOK order cannot be filled in full now (limit not marketable)")
        if entry.tif == TIF_IOC:
            return STATUS_CANCELLED, None
        return STATUS_NEW, AS_LIMIT

    def _write_list(self, kind: str, list_id: str, legs: list[tuple[PaperOrder, str, str | None]],
                    fills: list[dict[str, Any]], cid: str | None, request: list[Any], now: datetime) -> None:
        payload: dict[str, Any] = {
            "event": kind, "ts": now, "list_id": list_id,
            "legs": [{"order": o.spec(), "status": status, "rest": rest} for o, status, rest in legs],
            "fills": [_compact(f) for f in fills]}
        if cid is not None:
            payload["client_order_id"] = cid
            payload["request"] = request
        self._commit(payload, lambda seq: self._state.apply_list(list_id, legs, fills, seq, cid, request))
        self._after_fills(legs[0][0], fills)

    def _same_list(self, req: Any, kind: str) -> dict[str, Any] | None:
        """A repeated bracket / OCO client_order_id: the first group if the request is the same, else an error."""
        cid = req.client_order_id
        if cid is None:
            return None
        known = self._state.list_cids.get(cid)
        if known is None:
            return None
        list_id, first = known[0], known[1:]
        if list(req) != list(first):  # (a bracket's request and an OCO's never compare equal)
            diff = ", ".join(f"{f} {a!r} != {b!r}" for f, a, b in zip(req._fields, first, req, strict=False)
                             if a != b) or f"{list_id} is not a {kind}"
            raise DuplicateClientOrderIdError(req.symbol, cid, list_id, diff)
        return self._list_result(list_id, kind)

    def _list_result(self, list_id: str, kind: str) -> dict[str, Any]:
        if kind == "bracket":
            return {"bracket_id": list_id, "parent": self._order_result(list_id),
                    "take_profit": self._order_result(f"{list_id}-tp"),
                    "stop_loss": self._order_result(f"{list_id}-sl")}
        return {"oco_id": list_id, "limit": self._order_result(list_id), "stop": self._order_result(f"{list_id}-stp")}

    # -- links between legs -------------------------------------------------
    def _leg_status(self, order: PaperOrder, status: str) -> str:
        """An exit filled to its current size while its entry still works stays open (more may come)."""
        if status == STATUS_FILLED and order.list_role in ("tp", "sl"):
            entry = self._state.lists.get(order.order_list_id or "", {}).get("entry")
            if entry is not None and entry.is_open:
                return STATUS_PARTIALLY_FILLED
        return status

    def _links_after(self, order: PaperOrder, qty: float, status: str) -> list[dict[str, Any]]:
        """What happens to the other legs of ``order``'s group when it fills ``qty`` and ends up ``status``.

        Pure: the record carries the answer and ``PaperState.apply_links`` applies it.
        """
        st = self._state
        group = st.lists.get(order.order_list_id or "")
        if group is None:
            return []
        entry = group.get("entry")
        others = [leg for role, leg in group.items() if role != "entry" and leg is not order and leg.is_open]
        ended = status in FINAL_STATUSES and status != STATUS_FILLED
        out: list[dict[str, Any]] = []

        def link(leg: PaperOrder, new_qty: float, new_status: str, rest: str | None) -> None:
            out.append({"order_id": leg.order_id, "qty": new_qty, "status": new_status, "rest": rest})

        if order.list_role == "entry":
            for leg in others:
                if ended:  # the entry was cancelled / expired / rejected: its exits go with it
                    link(leg, leg.qty, STATUS_CANCELLED, None)
                elif qty > 0:  # the exits grow with the entry's fills
                    link(leg, leg.qty + qty, leg.status, AS_STOP if leg.order_type == ORDER_TYPE_STOP else
                         st.rest_kind(leg))
            return out
        entry_done = entry is None or not entry.is_open
        for leg in others:
            if ended:  # one exit cancelled / expired / rejected: the other too
                link(leg, leg.qty, STATUS_CANCELLED, None)
                continue
            new_qty = max(leg.filled_qty, leg.qty - qty)
            if new_qty - leg.filled_qty > QTY_EPSILON:
                link(leg, new_qty, leg.status, leg.resting or st.rest_kind(leg))
            elif entry_done:
                link(leg, new_qty, STATUS_CANCELLED, None)
            else:  # nothing to exit for now: out of the books until the entry fills more
                link(leg, new_qty, leg.status, None)
        if status == STATUS_PARTIALLY_FILLED and order.qty - order.filled_qty - qty <= QTY_EPSILON:
            link(order, order.qty, status, None)  # this exit too waits for more entry fills
        return out

    def _apply_with_links(self, apply: Callable[[], Any], links: list[dict[str, Any]] | None, seq: int) -> None:
        apply()
        if links:
            self._state.apply_links(links, seq)


__all__ = ["OrderManagement"]
