"""Orders of ``BinanceBroker``: submit (never two orders for one client id), look up, cancel, list.

See the "No doubled orders" part of ``broker.py``'s docstring for the lost-answer rules.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from LIVE_TRADING.brokers.binance import lists
from LIVE_TRADING.brokers.binance.account import AccountMixin
from LIVE_TRADING.brokers.binance.core import (
    VENUE,
    W_OPEN_ORDERS_ALL,
    W_ORDER_CANCEL,
    W_ORDER_NEW,
    W_ORDER_QUERY,
    new_client_order_id,
)
from LIVE_TRADING.brokers.binance.errors import INVALID_SYMBOL, ExecutionUnknownError, is_duplicate_order
from LIVE_TRADING.brokers.binance.parsing import (
    LIMIT_TYPES,
    STOP_TYPES,
    TIF_TO_BINANCE,
    binance_order_type,
    order_key,
    to_binance_symbol,
    trailing_delta_bips,
)
from LIVE_TRADING.brokers.rejections import journal_rejection
from LIVE_TRADING.brokers.validation import client_id_conflict, validate_order
from LIVE_TRADING.common.constants import (
    EVENT_CANCEL,
    OPEN_STATUSES,
    ORDER_TYPE_MARKET,
    ORDER_TYPE_STOP,
    ORDER_TYPE_STOP_LIMIT,
    ORDER_TYPE_TRAILING_STOP,
    TIF_DAY,
    TIF_FOK,
)
from LIVE_TRADING.common.exceptions import (
    BrokerError,
    CircuitOpenError,
    DuplicateClientOrderIdError,
    OrderNotFoundError,
    OrderRejectedError,
    OrderStatusUnknownError,
)
from LIVE_TRADING.data.quotes import mid_price

logger = logging.getLogger(__name__)


class OrdersMixin(AccountMixin):
    """Placing, finding and cancelling single orders."""

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
        """Place an order on Binance and return its ``OrderResult``.

        Market orders return filled (or as far as they got within
        ``order_timeout_s``); orders that rest return once Binance accepted
        them (status ``new``). ``time_in_force="day"`` is rejected: Binance spot
        has no day orders (use ``gtc``, ``ioc`` or ``fok``); ``fok`` applies to
        limit orders only.

        ``trailing_stop`` becomes ``STOP_LOSS`` with ``trailingDelta`` (basis
        points: ``trail_percent`` * 100, a whole number); with ``limit_offset``
        it is a ``STOP_LOSS_LIMIT`` whose limit Binance holds fixed at the
        initial trigger -/+ the offset (it does not trail). ``trail_amount`` has
        no Binance equivalent and is refused before anything is sent.
        A ``client_order_id`` already used with other parameters raises
        ``DuplicateClientOrderIdError``.

        Raises:
            OrderRejectedError: bad input, a filter failure (checked before sending),
                or Binance refused the order (its code and message are on the error).
            InsufficientFundsError: Binance -2010 "insufficient balance".
            OrderStatusUnknownError: the answer was lost twice; reconcile by ``client_order_id``.
            RateLimitError, AuthenticationError, BrokerConnectionError: see ``errors``.
        """
        try:
            req = validate_order(symbol, side, qty, order_type, limit_price, stop_price, time_in_force,
                                 client_order_id, trail_amount, trail_percent, limit_offset)
        except OrderRejectedError as exc:
            raw_request = {"symbol": repr(symbol), "side": repr(side), "qty": repr(qty),
                           "order_type": repr(order_type), "limit_price": repr(limit_price),
                           "stop_price": repr(stop_price), "time_in_force": repr(time_in_force),
                           "client_order_id": repr(client_order_id)}
            journal_rejection(self.journal, exc, {"venue": VENUE, **raw_request})
            raise
        sym = to_binance_symbol(req.symbol)
        try:
            if req.time_in_force == TIF_DAY:
                raise OrderRejectedError(
                    sym, "time_in_force 'day' does not exist on Binance spot; use gtc, ioc or fok"
                )
            market_like = req.order_type in (ORDER_TYPE_MARKET, ORDER_TYPE_STOP) or (
                req.order_type == ORDER_TYPE_TRAILING_STOP and req.limit_offset is None)
            if req.time_in_force == TIF_FOK and market_like:
                raise OrderRejectedError(
                    sym, f"time_in_force 'fok' applies to limit orders only on Binance, not to {req.order_type}"
                )
            rules = self.symbol_info(sym)
            if rules.status != "TRADING":
                raise OrderRejectedError(sym, f"{sym} is not trading on Binance (status {rules.status})")
            reference = None
            trailing = req.order_type == ORDER_TYPE_TRAILING_STOP
            if trailing:
                btype, bips, limit = self._trailing_params(sym, req)
            else:
                if req.order_type in (ORDER_TYPE_STOP, ORDER_TYPE_STOP_LIMIT):
                    quote = self.get_quote(sym)
                    reference = mid_price(quote)
                btype = binance_order_type(req.order_type, req.side, req.stop_price, reference)
                bips, limit = 0, req.limit_price
            if rules.order_types and btype not in rules.order_types:
                raise OrderRejectedError(sym, f"{btype} orders are not enabled on {sym}")
            prepared = rules.prepare(btype, req.side, req.qty, limit, req.stop_price)
        except OrderRejectedError as exc:
            self._journal_reject(req, sym, exc)
            raise

        if req.client_order_id is not None:
            existing = self._existing_order(sym, req.client_order_id)
            if existing is not None:
                wanted: dict[str, Any] = {
                    "symbol": sym, "side": req.side, "qty": float(prepared.quantity), "order_type": req.order_type,
                    "stop_price": float(prepared.stop_price) if prepared.stop_price else None,
                }
                if not trailing:
                    wanted["limit_price"] = float(prepared.price) if prepared.price else None
                else:
                    wanted["trail_percent"] = req.trail_percent
                detail = client_id_conflict(existing, **wanted)
                if detail:
                    raise DuplicateClientOrderIdError(sym, req.client_order_id, existing["order_id"], detail)
                logger.info("client_order_id %s already placed as %s", req.client_order_id, existing["order_id"])
                return existing
        cid = req.client_order_id or new_client_order_id()
        params: dict[str, Any] = {
            "symbol": sym,
            "side": req.side,
            "type": btype,
            "quantity": prepared.quantity,
            "newClientOrderId": cid,
            "newOrderRespType": "FULL",
        }
        if btype in LIMIT_TYPES:
            params["timeInForce"] = TIF_TO_BINANCE[req.time_in_force]
            params["price"] = prepared.price
        if btype in STOP_TYPES and prepared.stop_price is not None:
            params["stopPrice"] = prepared.stop_price
        if bips:
            params["trailingDelta"] = bips
        if prepared.adjusted:
            logger.info("Order %s %s adjusted to Binance filters: %s", sym, cid, "; ".join(prepared.adjusted))
        try:
            raw = self._place(sym, cid, params)
        except OrderRejectedError as exc:
            self._journal_reject(req, sym, exc, client_order_id=cid)
            raise
        result, fills = self._collect(raw)
        if btype == "MARKET" and result["status"] in OPEN_STATUSES:
            result, fills = self._poll_until_final(sym, raw.get("orderId"), result, fills)
        extra: dict[str, Any] = {"binance_type": btype}
        if prepared.adjusted:
            extra["adjusted"] = list(prepared.adjusted)
        self._commit(result, fills, force=True, extra=extra)
        return dict(result)

    def _trailing_params(self, sym: str, req: Any) -> tuple[str, int, float | None]:
        """Binance type, ``trailingDelta`` (bips) and limit price of a trailing stop."""
        if req.trail_amount is not None:
            raise OrderRejectedError(
                sym, "Binance trails stops by a percentage only (trailingDelta, in basis points): "
                f"use trail_percent instead of trail_amount={req.trail_amount:g}"
            )
        bips = trailing_delta_bips(req.trail_percent, sym)
        if req.limit_offset is None:
            return "STOP_LOSS", bips, None
        quote = self.get_quote(sym)
        pct = req.trail_percent / 100
        if req.side == "SELL":
            limit = quote["bid"] * (1 - pct) - req.limit_offset
        else:
            limit = quote["ask"] * (1 + pct) + req.limit_offset
        if not limit > 0:
            raise OrderRejectedError(sym, f"limit_offset {req.limit_offset:g} puts the limit price at or below zero")
        return "STOP_LOSS_LIMIT", bips, limit

    def _safe_journal(self, event: str, record: dict[str, Any]) -> None:
        """Journal a record about a refusal; a journal failure is logged and the refusal still raised."""
        try:
            self.journal.write(event, record)
        except BrokerError:
            logger.exception("Could not journal a %s record (%s)", event, record.get("reason"))

    def _journal_reject(self, req: Any, sym: str, exc: OrderRejectedError, client_order_id: str | None = None) -> None:
        journal_rejection(self.journal, exc, {
            "venue": VENUE,
            "symbol": sym,
            "side": req.side,
            "qty": req.qty,
            "order_type": req.order_type,
            "limit_price": req.limit_price,
            "stop_price": req.stop_price,
            "time_in_force": req.time_in_force,
            "client_order_id": client_order_id or req.client_order_id,
        })

    def _existing_order(self, symbol: str, cid: str) -> dict[str, Any] | None:
        """The order Binance already has under ``cid`` on ``symbol`` (idempotent submission)."""
        with self._lock:
            key = self._by_cid.get(cid)
        if key is not None:
            try:
                return self.get_order(key)
            except OrderNotFoundError:
                pass
        raw = self._query_by_cid(symbol, cid)
        if raw is None:
            return None
        result, fills = self._collect(raw)
        return dict(self._commit(result, fills))

    def _query_by_cid(self, symbol: str, cid: str, *, force: bool = False) -> dict[str, Any] | None:
        """``GET order`` by ``origClientOrderId``; ``None`` when Binance does not know it.

        ``force``: also while the circuit breaker is open (settling an order already sent).
        """
        try:
            return self.http.request(
                "GET", "/api/v3/order", {"symbol": symbol, "origClientOrderId": cid},
                signed=True, weight=W_ORDER_QUERY, symbol=symbol, order_id=cid, force=force,
            )
        except OrderNotFoundError:
            return None

    def _lookup_after_loss(self, symbol: str, cid: str) -> dict[str, Any] | None:
        """Look an order with a lost answer up, ``reconcile_attempts`` times; ``None`` if never found.

        Raises ``OrderStatusUnknownError`` if the lookups themselves fail.
        """
        cfg = self.config
        for attempt in range(cfg.reconcile_attempts):
            if attempt:
                self._sleep(cfg.reconcile_delay_s)
            try:
                raw = self._query_by_cid(symbol, cid, force=True)
            except BrokerError as exc:
                raise OrderStatusUnknownError(
                    cid,
                    f"Order {cid!r} on {symbol}: the answer was lost and looking it up failed "
                    f"({type(exc).__name__}); check get_open_orders() / get_order() before resubmitting "
                    "(resubmit only with the same client_order_id)",
                ) from exc
            if raw is not None:
                return raw
        return None

    def _place(self, symbol: str, cid: str, params: dict[str, Any]) -> dict[str, Any]:
        """POST the order; reconcile a lost answer by client order id. Never two orders."""

        def post() -> dict[str, Any]:
            return self.http.request(
                "POST", "/api/v3/order", params, signed=True, weight=W_ORDER_NEW, idempotent=False,
                symbol=symbol, order_id=cid,
            )

        try:
            return post()
        except ExecutionUnknownError as exc:
            logger.warning("Order %s on %s: %s; looking it up by client order id", cid, symbol, exc)
        except OrderRejectedError as exc:
            if not is_duplicate_order(exc):
                raise
            found = self._query_by_cid(symbol, cid, force=True)
            if found is None:
                raise
            return found
        found = self._lookup_after_loss(symbol, cid)
        if found is not None:
            logger.info("Order %s on %s was placed (found after a lost answer)", cid, symbol)
            return found
        logger.warning("Order %s on %s not found after a lost answer; sending it once more", cid, symbol)
        try:
            return post()
        except ExecutionUnknownError:
            pass
        except CircuitOpenError as exc:  # the first POST was sent: never claim "nothing was sent"
            raise OrderStatusUnknownError(
                cid,
                f"Order {cid!r} on {symbol}: the answer was lost, it was not found, and the circuit breaker "
                "opened before it could be sent again; check get_open_orders() / get_order() before "
                "resubmitting (resubmit only with the same client_order_id)",
            ) from exc
        except OrderRejectedError as exc:
            if not is_duplicate_order(exc):
                raise
        try:
            found = self._lookup_after_loss(symbol, cid)
        except OrderStatusUnknownError:
            found = None
        if found is not None:
            return found
        raise OrderStatusUnknownError(
            cid,
            f"Status of order with client_order_id {cid!r} on {symbol} is unknown: the answer was lost twice. "
            "Check get_open_orders() / get_order() before resubmitting (resubmit only with the same "
            "client_order_id)",
        )

    def _poll_until_final(
        self, symbol: str, binance_id: Any, result: dict[str, Any], fills: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        deadline = self._clock() + timedelta(seconds=self.config.order_timeout_s)
        while result["status"] in OPEN_STATUSES and self._clock() < deadline:
            self._sleep(self.config.poll_interval_s)
            raw = self.http.request(
                "GET", "/api/v3/order", {"symbol": symbol, "orderId": binance_id},
                signed=True, weight=W_ORDER_QUERY, symbol=symbol, order_id=str(binance_id), force=True,
            )
            result, more = self._collect(raw)
            fills = list({f["fill_id"]: f for f in [*fills, *more]}.values())
        if result["status"] in OPEN_STATUSES:
            logger.warning("Market order %s not final after %.1f s (status %s); returning it as it stands",
                           result["order_id"], self.config.order_timeout_s, result["status"])
        return result, fills

    def get_order(self, order_id: str) -> dict[str, Any]:
        """The current ``OrderResult`` of ``order_id`` (``"SYMBOL:id"``); ``OrderNotFoundError`` if unknown."""
        symbol, oid = self._resolve(order_id)
        try:
            raw = self.http.request(
                "GET", "/api/v3/order", {"symbol": symbol, "orderId": oid},
                signed=True, weight=W_ORDER_QUERY, symbol=symbol, order_id=str(order_id),
            )
        except OrderRejectedError as exc:
            if exc.code == INVALID_SYMBOL:
                raise OrderNotFoundError(str(order_id), f"Order not found: {order_id!r} (unknown symbol)",
                                         code=exc.code, venue_message=exc.venue_message) from exc
            raise
        result, fills = self._collect(raw)
        committed = self._commit(result, fills)
        if committed.get("order_list_id"):
            lists.annotate_leg(self, committed)
        return dict(committed)

    def cancel_order(self, order_id: str) -> dict[str, Any]:
        """Cancel an open order; an order already final is returned with its final status.

        Raises ``OrderNotFoundError`` for an order Binance does not know.
        """
        symbol, oid = self._resolve(order_id)
        key = order_key(symbol, oid)
        try:
            raw = self.http.request(
                "DELETE", "/api/v3/order", {"symbol": symbol, "orderId": oid},
                signed=True, weight=W_ORDER_CANCEL, symbol=symbol, order_id=key,
            )
        except OrderNotFoundError:
            # -2011: not open (already final) or unknown; GET tells which.
            return self.get_order(key)
        except OrderRejectedError as exc:
            if exc.code == INVALID_SYMBOL:
                raise OrderNotFoundError(key, f"Order not found: {key!r} (unknown symbol)",
                                         code=exc.code, venue_message=exc.venue_message) from exc
            raise
        result, fills = self._collect(raw)
        return dict(self._commit(result, fills, event=EVENT_CANCEL, force=True))

    def get_open_orders(self) -> list[dict[str, Any]]:
        """``OrderResult`` of every open order on the account (all symbols)."""
        raws = self.http.request("GET", "/api/v3/openOrders", signed=True, weight=W_OPEN_ORDERS_ALL)
        out = []
        for raw in raws:
            result, fills = self._collect(raw)
            out.append(dict(self._commit(result, fills)))
        return out
