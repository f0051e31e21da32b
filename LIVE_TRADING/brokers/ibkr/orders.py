"""Orders of ``IBKRBroker``: submit (idempotent by ``orderRef``), verify IB's verdict, cancel.

See ``broker.py``'s docstring for the rules on errors, order ids and idempotency.
"""

from __future__ import annotations

import logging
from typing import Any

from LIVE_TRADING.brokers.ibkr import parsing
from LIVE_TRADING.brokers.ibkr.connection import IBError
from LIVE_TRADING.brokers.ibkr.contracts import UnknownSymbolError, is_contract
from LIVE_TRADING.brokers.ibkr.core import VENUE, IBKRCore, _OrderMeta, new_client_order_id
from LIVE_TRADING.brokers.validation import OrderRequest, client_id_conflict, validate_order
from LIVE_TRADING.common.constants import (
    EVENT_ORDER,
    EVENT_REJECT,
    FINAL_STATUSES,
    ORDER_TYPE_MARKET,
    ORDER_TYPE_TRAILING_STOP,
    QTY_EPSILON,
    STATUS_REJECTED,
    TIF_FOK,
    TIF_IOC,
)
from LIVE_TRADING.common.exceptions import (
    BrokerConnectionError,
    BrokerError,
    DuplicateClientOrderIdError,
    OrderNotFoundError,
    OrderRejectedError,
    OrderStatusUnknownError,
)

logger = logging.getLogger(__name__)


class OrdersMixin(IBKRCore):
    """Placing and cancelling orders."""

    def submit_order(
        self,
        symbol: Any,
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
        """Place an order (see the module docstring); ``symbol`` may also be an IB ``Contract``.

        ``trailing_stop`` is IB's ``TRAIL`` (``auxPrice`` = ``trail_amount``, or
        ``trailingPercent``), ``TRAIL LIMIT`` with ``limit_offset``
        (``lmtPriceOffset``). A ``client_order_id`` already used with other
        parameters raises ``DuplicateClientOrderIdError``.
        """
        contract_in = symbol if is_contract(symbol) else None
        label = self.resolver.symbol_for(contract_in) if contract_in is not None else symbol
        req = validate_order(label, side, qty, order_type, limit_price, stop_price, time_in_force, client_order_id,
                             trail_amount, trail_percent, limit_offset)
        try:
            sym = self.resolver.symbol_of(contract_in if contract_in is not None else req.symbol)
        except UnknownSymbolError as exc:
            raise OrderRejectedError(req.symbol, exc.reason) from exc
        if self.settings.readonly:
            raise OrderRejectedError(sym, "the IBKR broker is read-only (live_trading.ibkr.readonly is true)")
        cid = client_order_id or new_client_order_id()
        with self._lock:
            return self._run(lambda: self._submit(req, sym, contract_in, cid, client_order_id is not None))

    async def _submit(
        self, req: OrderRequest, sym: str, contract_in: Any, cid: str, user_cid: bool
    ) -> dict[str, Any]:
        conn = self.conn
        await conn.ensure_connected()
        existing = await self._existing(cid, user_cid)
        if existing is not None:
            logger.info("client_order_id %s is order %s already; not placing it again", cid, self._perm(existing))
            result = self._result(existing)
            if result["status"] == STATUS_REJECTED:
                raise OrderRejectedError(
                    result["symbol"], f"IB rejected the order with client_order_id {cid} earlier; use a new id"
                )
            wanted: dict[str, Any] = {"symbol": sym, "side": req.side, "qty": req.qty, "order_type": req.order_type,
                                      "limit_price": req.limit_price, "stop_price": req.stop_price}
            if req.order_type == ORDER_TYPE_TRAILING_STOP:
                wanted = {**wanted, "trail_amount": req.trail_amount, "trail_percent": req.trail_percent}
                del wanted["limit_price"], wanted["stop_price"]
            detail = client_id_conflict(result, **wanted)
            if detail:
                raise DuplicateClientOrderIdError(sym, cid, result["order_id"], detail)
            return result
        if not conn.ib_servers_ok:
            raise BrokerConnectionError(
                "TWS has lost its connection to IB's servers (error 1100); the order was not sent",
                code=parsing.ERR_IB_CONNECTIVITY_LOST,
            )
        try:
            resolved = await self.resolver.resolve(contract_in if contract_in is not None else sym)
        except UnknownSymbolError as exc:
            self.journal.write(
                EVENT_REJECT,
                {"symbol": sym, "side": req.side, "qty": req.qty, "client_order_id": cid, "reason": exc.reason,
                 "code": exc.code, "venue": VENUE},
            )
            raise OrderRejectedError(sym, exc.reason, code=exc.code, venue_message=exc.venue_message) from exc
        order = self._build_order(req, cid)
        ib = conn.ib
        try:
            trade = ib.placeOrder(resolved.contract, order)
        except ConnectionError as exc:  # raised by the client before anything is written
            raise BrokerConnectionError(f"Connection to IB lost; order {cid} was not sent: {exc}") from exc
        meta = _OrderMeta(
            client_order_id=cid,
            symbol=sym,
            side=req.side,
            order_type=req.order_type,
            qty=req.qty,
            limit_price=req.limit_price,
            stop_price=req.stop_price,
            time_in_force=req.time_in_force,
            created=self.clock(),
            generation=conn.generation,
            ib_order_id=int(order.orderId),
            client_id=conn.client_id,
            trail_amount=req.trail_amount,
            trail_percent=req.trail_percent,
            limit_offset=req.limit_offset,
        )
        self._meta_by_ref[cid] = meta
        logger.info("Placed %s %s %g %s (orderRef %s, orderId %d)", req.order_type, req.side, req.qty, sym, cid,
                    meta.ib_order_id)
        immediate = req.order_type == ORDER_TYPE_MARKET or req.time_in_force in (TIF_IOC, TIF_FOK)

        def filled() -> float:
            return max(float(trade.orderStatus.filled or 0.0),
                       sum(float(f.execution.shares) for f in trade.fills))

        def done() -> bool:
            return (
                self._reject_error(meta) is not None
                or (trade.orderStatus.status in parsing.IB_DONE and not self._library_cancelled(trade))
                or filled() >= req.qty - QTY_EPSILON
            )

        def settled() -> bool:
            if done():
                return True
            if self._library_cancelled(trade) and not self._perm(trade):
                return True  # an error before TWS acknowledged the order: go and ask IB at once
            if immediate:
                return False
            return trade.orderStatus.status in parsing.IB_ACKNOWLEDGED and self._perm(trade) > 0

        await conn.wait_until(settled, self.settings.order_timeout_s)
        if not done() and settled() and self._perm(trade) and self.settings.ack_grace_s > 0:
            await conn.wait_until(lambda: done() or filled() > 0, self.settings.ack_grace_s)

        if not ib.isConnected():
            trade = await self._after_drop(cid)
        elif self._library_cancelled(trade) and self._reject_error(meta) is None:
            # the library marked the order Cancelled on an error code we do not know; IB's word decides
            trade = await self._verify_library_cancel(trade, meta, cid)
        reject = self._reject_error(meta)
        result = self._result(trade)
        if reject is not None or result["status"] == STATUS_REJECTED:
            if self._perm(trade):
                meta.perm_id = self._perm(trade)
                self._meta_by_perm[meta.perm_id] = meta
            if reject is not None:
                error = parsing.rejection_error(sym, reject.code, reject.message)
            else:
                reason = self._inactive_reason(trade)
                error = OrderRejectedError(sym, reason, venue_message=reason)
            self._journal_order_event(
                EVENT_REJECT, result, trade, reason=error.reason, code=error.code
            )
            raise error
        perm = self._perm(trade)
        if not perm:
            found = await self._find_remote(ref=cid)
            if found is None or not self._perm(found):
                raise OrderStatusUnknownError(
                    cid,
                    f"IB did not acknowledge order {cid} ({req.side} {req.qty:g} {sym}) within "
                    f"{self.settings.order_timeout_s:g}s; it may or may not exist. Check get_open_orders() / "
                    "get_fills() later; resubmitting with the same client_order_id never places a second order",
                )
            trade = found
            perm = self._perm(trade)
        meta.perm_id = perm
        self._meta_by_perm[perm] = meta
        if self._fills_of(perm):
            await conn.wait_until(
                lambda: all(getattr(f.commissionReport, "execId", "") for f in self._fills_of(perm)),
                self.settings.commission_wait_s,
            )
        result = self._result(trade)
        self._journal_order_event(EVENT_ORDER, result, trade)
        await self._journal_new_fills(wait=False)
        self._journal_status(meta, result, trade)
        return result

    @staticmethod
    def _library_cancelled(trade: Any) -> bool:
        """``Cancelled`` set by ib_async / ib_insync on an error, not by an orderStatus from TWS."""
        if trade.orderStatus.status != "Cancelled" or not trade.log:
            return False
        last = trade.log[-1]
        return last.status == "Cancelled" and bool(getattr(last, "errorCode", 0))

    async def _verify_library_cancel(self, trade: Any, meta: _OrderMeta, cid: str) -> Any:
        errors = [e for e in self._errors_of(meta) if parsing.order_error_kind(e.code) == "unknown"]
        # asking for the open orders also refreshes this trade's status from TWS's orderStatus
        remote = await self._find_remote(ref=cid)
        if remote is not None:
            return remote
        if errors:
            # IB does not list the order at all: it never took it, and that error says why
            self._confirmed_rejects[(meta.generation, meta.ib_order_id)] = errors[-1]
        return trade

    async def _existing(self, cid: str, user_cid: bool) -> Any:
        """The order already placed with this client order id, if any (idempotency)."""
        trade = self._find_by_ref(cid)
        if trade is not None and self._perm(trade):
            return trade
        meta = self._meta_by_ref.get(cid)
        if trade is not None:  # sent earlier in this session, never acknowledged
            remote = await self._find_remote(ref=cid)
            if remote is not None:
                return remote
            if self._reject_error(meta) is not None:
                return trade
            raise OrderStatusUnknownError(
                cid, f"An order with client_order_id {cid} was sent earlier in this session and IB never "
                "acknowledged it; it is not sent again under this id. Check get_open_orders() / get_fills(), "
                "and use a new client_order_id if it is not there",
            )
        if meta is not None and meta.perm_id:
            trade = self._find_by_perm(meta.perm_id)
            if trade is not None:
                return trade
        if user_cid and (meta is not None or cid in self._journal_refs or self.conn.generation > 1):
            return await self._find_remote(ref=cid)
        return None

    async def _after_drop(self, cid: str) -> Any:
        """The connection dropped while an order was in flight: reconnect and find it by orderRef."""
        try:
            await self.conn.ensure_connected()
            found = self._find_by_ref(cid) or await self._find_remote(ref=cid)
        except BrokerError as exc:
            raise OrderStatusUnknownError(
                cid, f"The connection to IB dropped while order {cid} was in flight and could not be "
                f"re-established ({exc}); look the order up later by its client_order_id",
            ) from exc
        if found is None:
            raise OrderStatusUnknownError(
                cid, f"The connection to IB dropped while order {cid} was in flight and IB does not list it; "
                "it was probably not placed. Resubmit with the same client_order_id",
            )
        return found

    def _inactive_reason(self, trade: Any) -> str:
        for entry in reversed(trade.log):
            if getattr(entry, "errorCode", 0) and entry.message:
                return str(entry.message)
        why = getattr(trade.orderStatus, "whyHeld", "")
        return f"IB set the order Inactive{': ' + why if why else ''}"

    def _build_order(self, req: OrderRequest, cid: str) -> Any:
        order = self.conn.module.Order(
            action=req.side,
            totalQuantity=req.qty,
            orderType=parsing.ORDER_TYPE_TO_IB[req.order_type],
            tif=parsing.TIF_TO_IB[req.time_in_force],
            orderRef=cid,
            account=self.conn.account or "",
            transmit=True,
        )
        if req.limit_price is not None:
            order.lmtPrice = req.limit_price
        if req.stop_price is not None:
            order.auxPrice = req.stop_price
        if req.order_type == ORDER_TYPE_TRAILING_STOP:
            order.orderType = "TRAIL LIMIT" if req.limit_offset is not None else "TRAIL"
            if req.trail_amount is not None:
                order.auxPrice = req.trail_amount
            else:
                order.trailingPercent = req.trail_percent
            if req.limit_offset is not None:
                order.lmtPriceOffset = req.limit_offset
        return order

    def cancel_order(self, order_id: str) -> dict[str, Any]:
        """Cancel an open order; an order already final comes back with its final status."""
        perm = parsing.parse_order_id(order_id)
        if self.settings.readonly:
            raise BrokerError("the IBKR broker is read-only (live_trading.ibkr.readonly is true); cannot cancel")
        with self._lock:
            return self._run(lambda: self._cancel(perm, order_id))

    async def _cancel(self, perm: int, order_id: Any) -> dict[str, Any]:
        conn = self.conn
        await conn.ensure_connected()
        trade = self._find_by_perm(perm) or await self._find_remote(perm=perm)
        if trade is None:
            raise OrderNotFoundError(str(order_id))
        result = self._result(trade)
        if result["status"] in FINAL_STATUSES:
            await self._journal_new_fills(wait=False)
            return result
        order = trade.order
        if int(order.orderId or 0) <= 0 or int(order.clientId or 0) != conn.client_id:
            raise BrokerError(
                f"Order {perm} was placed by API client {order.clientId} (this session is client "
                f"{conn.client_id}); IB lets only that client (or the master client) cancel it"
            )
        meta = self._meta_for(trade)
        if meta is None:
            meta = _OrderMeta(
                client_order_id=order.orderRef or "",
                symbol=result["symbol"],
                side=result["side"],
                order_type=result["order_type"],
                qty=result["qty"],
                limit_price=result["limit_price"],
                stop_price=result["stop_price"],
                time_in_force=result["time_in_force"],
                created=result["timestamp"],
                generation=conn.generation,
                ib_order_id=int(order.orderId),
                client_id=conn.client_id,
                perm_id=perm,
            )
            self._meta_by_perm[perm] = meta
        meta.cancel_requested = True
        key = (conn.generation, int(order.orderId))
        mark = len(self._order_errors.get(key, []))

        def new_errors() -> list[IBError]:
            return self._order_errors.get(key, [])[mark:]

        def answered() -> bool:
            if any(parsing.order_error_kind(e.code) in ("not_found", "not_cancellable") for e in new_errors()):
                return True
            return trade.orderStatus.status in parsing.IB_DONE

        try:
            conn.ib.cancelOrder(order)
        except ConnectionError as exc:
            meta.cancel_requested = False
            raise BrokerConnectionError(f"Connection to IB lost; cancel of order {perm} was not sent: {exc}") from exc
        await conn.wait_until(answered, self.settings.order_timeout_s)
        errors = new_errors()
        not_found = [e for e in errors if parsing.order_error_kind(e.code) == "not_found"]
        not_cancellable = [e for e in errors if parsing.order_error_kind(e.code) == "not_cancellable"]
        if not_found or not_cancellable:
            # IB says the order is already done (10148) or unknown (10147); ib_async and ib_insync mark
            # the trade Cancelled on such errors, which may be false: ask IB what really happened.
            state = parsing.state_from_cancel_error(not_cancellable[-1].message) if not_cancellable else None
            async with self._remote_lock:
                completed = await conn.request(conn.ib.reqCompletedOrdersAsync(False), "the completed orders")
                await conn.request(conn.ib.reqExecutionsAsync(), "the executions")
            done = self._find_by_perm(perm, list(completed))
            if done is not None:
                self._status_override[perm] = done.orderStatus.status
            elif state:
                self._status_override[perm] = state
            else:
                err = not_found[-1] if not_found else not_cancellable[-1]
                meta.cancel_requested = False
                raise OrderNotFoundError(
                    str(order_id),
                    f"IB cannot cancel order {perm}: {err.message} (error {err.code})",
                    code=err.code,
                    venue_message=err.message,
                )
            if self._status_override[perm] not in ("Cancelled", "ApiCancelled"):
                meta.cancel_requested = False
        result = self._result(trade)
        await self._journal_new_fills(wait=False)
        self._journal_status(meta, result, trade)
        return result


__all__ = ["OrdersMixin"]
