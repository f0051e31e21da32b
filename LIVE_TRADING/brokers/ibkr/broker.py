"""``IBKRBroker``: the Broker protocol on an Interactive Brokers account (TWS / IB Gateway).

::

    broker = get_broker("ibkr", host="127.0.0.1", port=7497)   # TWS paper
    broker.submit_order("AAPL", "BUY", 10)                        # returns once filled
    broker.submit_order("AAPL", "BUY", 10, "limit", 150.0, client_order_id="rebal-42")

Every call runs on the connection's I/O thread (``connection.py``) and first
makes sure the session is up, reconnecting after a drop. Calls may come from
any thread, including one that runs an asyncio loop.

Orders
    ``submit_order`` validates, resolves the contract (``contracts.py``),
    places the order with ``orderRef = client_order_id`` (one is generated
    when none is given) and lets IB's messages flow until the order is done,
    or - for an order that rests - until IB acknowledged it (plus
    ``ack_grace_s`` for an immediate fill), or ``order_timeout_s`` passes.
    Then it waits up to ``commission_wait_s`` for the commission reports and
    returns the common ``OrderResult``. IB's verdicts map through the tables
    of ``parsing.py``: error 201 / status ``Inactive`` -> ``OrderRejectedError``
    (``InsufficientFundsError`` when the reason is money) with IB's reason;
    an order IB never acknowledged -> ``OrderStatusUnknownError`` after a
    last lookup by ``orderRef``.

Errors on an order
    Only the codes of ``parsing.ORDER_ERROR_KIND`` count as a rejection.
    ib_async and ib_insync mark an order ``Cancelled`` on any error code
    they do not list as a warning - including informational ones on a live
    order - so such a ``Cancelled`` is checked with IB (all open and today's
    completed orders) before it is believed; an order IB does not list after
    an unknown error is reported rejected with that error.

Order ids
    ``order_id`` is IB's permId (see ``parsing.py``): it survives reconnects,
    client-id changes and TWS restarts.

Idempotency
    ``client_order_id`` travels in ``Order.orderRef``. Before placing, the
    broker looks for an order with that ``orderRef`` among the session's
    orders (which include today's completed orders, synchronised at every
    connect), and - when the id was seen in the journal or the session was
    re-established - among all open and completed orders at IB. Found: that
    order is returned and nothing is placed.

Journal
    JSONL under ``live_trading.ibkr.log_dir``: ``session`` at every
    (re)connect, ``order`` when an order is placed, ``reject`` / ``cancel`` /
    ``expire`` as they happen, ``fill`` once per execution (with its
    commission), all written before the call that learnt of them returns.
    Fills that happened while disconnected are journaled at the reconnect.

Limits (IB's, documented rather than hidden)
    * An order placed under another API client id (say a reconnect had to
      take ``client_id + 1`` because TWS still held the old session) is
      visible, but IB lets only that client id - or TWS's "Master API client
      ID" - cancel it: ``cancel_order`` raises ``BrokerError`` saying so.
    * ``get_fills`` covers the executions IB reports: today's (TWS keeps up
      to 7 days when so configured) plus this session's.
    * Positions and account values are IB's pushed view: positions change
      with every fill, account values (cash) when TWS sends them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from LIVE_TRADING.brokers.ibkr import parsing
from LIVE_TRADING.brokers.ibkr.config import IBKRSettings
from LIVE_TRADING.brokers.ibkr.connection import IBConnection, IBError
from LIVE_TRADING.brokers.ibkr.contracts import ContractResolver, UnknownSymbolError, is_contract
from LIVE_TRADING.brokers.ibkr.data import MarketData
from LIVE_TRADING.brokers.validation import OrderRequest, validate_order
from LIVE_TRADING.common.clock import Clock, ensure_utc, utc_now
from LIVE_TRADING.common.constants import (
    EVENT_CANCEL,
    EVENT_EXPIRE,
    EVENT_FILL,
    EVENT_ORDER,
    EVENT_REJECT,
    EVENT_SESSION,
    FINAL_STATUSES,
    OPEN_STATUSES,
    ORDER_TYPE_MARKET,
    QTY_EPSILON,
    STATUS_CANCELLED,
    STATUS_EXPIRED,
    STATUS_REJECTED,
    TIF_FOK,
    TIF_IOC,
)
from LIVE_TRADING.common.exceptions import (
    BrokerConnectionError,
    BrokerError,
    OrderNotFoundError,
    OrderRejectedError,
    OrderStatusUnknownError,
    QuoteUnavailableError,
)
from LIVE_TRADING.common.journal import Journal, read_records
from LIVE_TRADING.common.settings import SettingsReader

logger = logging.getLogger(__name__)

VENUE = parsing.VENUE
#: journal day files read at start-up to know which fills / client order ids were recorded
_MAX_ERRORS = 5000


def new_client_order_id() -> str:
    """A fresh ``client_order_id`` (``lt-`` + 24 hex digits; fits every venue's rule)."""
    return "lt-" + uuid.uuid4().hex[:24]


@dataclass
class _OrderMeta:
    """What we know about an order we placed, beyond what IB echoes back."""

    client_order_id: str
    symbol: str
    side: str
    order_type: str
    qty: float
    limit_price: float | None
    stop_price: float | None
    time_in_force: str
    created: datetime
    generation: int
    ib_order_id: int
    client_id: int
    perm_id: int = 0
    cancel_requested: bool = False
    journaled_status: str | None = None


class IBKRBroker:
    """The Broker protocol on Interactive Brokers (see the module docstring).

    Keyword arguments: every ``live_trading.ibkr`` setting (``host``,
    ``port``, ``client_id``, ``account``, ``connect_timeout_s``,
    ``order_timeout_s``, ``market_data_type``, ``readonly``, ``allow_live``,
    ``log_dir``, ``cash_tag``, ``contracts``, reconnect and pacing settings;
    ``None`` = use the config), plus

    * ``ib``: an IB object (not connected yet) to use instead of a new one;
    * ``ib_module``: ``"ib_async"`` / ``"ib_insync"`` or the module itself;
    * ``clock``: callable returning aware UTC datetimes (journal times);
    * ``connect``: connect now (default) or on the first call.
    """

    venue = VENUE

    def __init__(
        self,
        *,
        ib: Any = None,
        ib_module: Any = None,
        clock: Clock | None = None,
        connect: bool = True,
        **settings: Any,
    ) -> None:
        unknown = sorted(set(settings) - set(IBKRSettings.__dataclass_fields__))
        if unknown:
            raise TypeError(
                f"IBKRBroker got unknown setting(s) {', '.join(unknown)} "
                f"(known: {', '.join(IBKRSettings.__dataclass_fields__)})"
            )
        self.settings = IBKRSettings.load(ib_module=ib_module if isinstance(ib_module, str) else None, **settings)
        jr = SettingsReader("journal")
        fsync = jr.choice("durability", ("fsync", "flush", "none")) == "fsync"
        jr.finish()
        self.clock: Clock = clock or utc_now
        self._lock = threading.RLock()
        self._meta_by_perm: dict[int, _OrderMeta] = {}
        self._meta_by_ref: dict[str, _OrderMeta] = {}
        self._order_errors: dict[tuple[int, int], list[IBError]] = {}
        self._status_override: dict[int, str] = {}
        self._confirmed_rejects: dict[tuple[int, int], IBError] = {}
        self._journaled_fills: set[str] = set()
        self._journal_refs: dict[str, str] = {}
        self.journal = Journal(self.settings.log_dir, fsync=fsync, clock=self.clock, exclusive=False)
        self._load_journal_index()
        self.conn = IBConnection(self.settings, ib=ib, ib_module=ib_module, name="ibkr")
        self._remote_lock: asyncio.Lock = self.conn.call(asyncio.Lock)
        self.resolver = ContractResolver(self.conn, self.settings.contracts)
        self.market = MarketData(self.conn, self.resolver, self.clock)
        self.conn.on_connect(self._on_connect)
        self.conn.call(self._install_handlers)
        if connect:
            try:
                self.conn.run(self.conn.ensure_connected)
            except BaseException:
                self.close()
                raise

    # ------------------------------------------------------------------
    # plumbing
    # ------------------------------------------------------------------
    @property
    def connection(self) -> IBConnection:
        """The API session (share it with ``IBKRDataProvider(connection=...)``)."""
        return self.conn

    @property
    def ib(self) -> Any:
        """The underlying ib_async / ib_insync ``IB`` object (use it only via ``connection.run``)."""
        return self.conn.ib

    @property
    def client_id(self) -> int:
        """The API client id of the current session (may differ from the configured one after error 326)."""
        return self.conn.client_id

    @property
    def account(self) -> str | None:
        return self.conn.account

    def venue_health(self) -> dict[str, Any]:
        """Connection status for ``health()`` / ``check-config``; sends nothing to IB."""
        conn = self.conn
        connected = not conn.closed and bool(conn.ib.isConnected())
        return {
            "connected": connected,
            "address": conn.address,
            "account": conn.account,
            "client_id": conn.client_id,
            "reconnects": max(0, conn.generation - 1),
            "ib_servers_ok": conn.ib_servers_ok,
            "readonly": self.settings.readonly,
        }

    def _install_handlers(self) -> None:
        self.conn.ib.errorEvent += self._on_error

    def _on_error(self, req_id: int, code: int, message: str, contract: Any = None, *_: Any) -> None:
        if req_id is None or int(req_id) <= 0:
            return
        key = (self.conn.generation, int(req_id))
        self._order_errors.setdefault(key, []).append(IBError(int(req_id), int(code), str(message), contract))
        while len(self._order_errors) > _MAX_ERRORS:
            self._order_errors.pop(next(iter(self._order_errors)))

    def _load_journal_index(self) -> None:
        """Fill ids and client order ids already in the journal (checked when the journal was opened)."""
        for record in read_records(self.settings.log_dir, verify=False):
            self._index_record(record)

    def _index_record(self, record: dict[str, Any]) -> None:
        event = record.get("event")
        if event == EVENT_FILL and record.get("fill_id"):
            self._journaled_fills.add(str(record["fill_id"]))
        elif event == EVENT_ORDER and record.get("client_order_id"):
            self._journal_refs[str(record["client_order_id"])] = str(record.get("order_id"))

    async def _on_connect(self, reconnected: bool) -> None:
        conn = self.conn
        self.journal.write(
            EVENT_SESSION,
            {
                "venue": VENUE,
                "host": conn.settings.host,
                "port": conn.settings.port,
                "client_id": conn.client_id,
                "account": conn.account,
                "server_version": conn.server_version,
                "library": conn.library,
                "reconnect": reconnected,
            },
        )
        # fills IB reported at the synchronisation that the journal lacks (they happened while we were
        # disconnected, or before a crash): record them now
        await self._journal_new_fills(wait=True)

    def _run(self, coro_fn: Any) -> Any:
        return self.conn.run(coro_fn)

    def _read(self, coro_fn: Any) -> Any:
        """Run a read; if the connection dropped under it, reconnect and run it once more."""

        async def go() -> Any:
            try:
                return await coro_fn()
            except BrokerConnectionError:
                if self.conn.ib.isConnected() or self.conn.closed:
                    raise
                logger.info("Connection dropped during a read; reconnecting and retrying once")
                return await coro_fn()

        return self.conn.run(go)

    def close(self) -> None:
        """Disconnect from IB and close the journal (idempotent)."""
        try:
            conn = getattr(self, "conn", None)
            if conn is not None:
                conn.close()
        finally:
            self.journal.close()

    def __enter__(self) -> IBKRBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"IBKRBroker({self.conn!r}, account={self.conn.account!r})"

    def register_contract(self, symbol: str, contract: Any) -> str:
        """Trade (and quote) ``symbol`` as the IB ``contract`` from now on; returns the symbol."""
        return self.resolver.register(symbol, contract)

    # ------------------------------------------------------------------
    # looking orders up
    # ------------------------------------------------------------------
    @staticmethod
    def _perm(trade: Any) -> int:
        return int(getattr(trade.order, "permId", 0) or getattr(trade.orderStatus, "permId", 0) or 0)

    def _account_ok(self, account: str | None) -> bool:
        mine = self.conn.account
        return not mine or not account or account == mine

    def _find_by_perm(self, perm: int, trades: list[Any] | None = None) -> Any:
        for trade in trades if trades is not None else self.conn.ib.trades():
            if self._perm(trade) == perm:
                return trade
        return None

    def _find_by_ref(self, ref: str, trades: list[Any] | None = None) -> Any:
        found = None
        for trade in trades if trades is not None else self.conn.ib.trades():
            if getattr(trade.order, "orderRef", "") == ref and (
                found is None or (self._perm(trade) and not self._perm(found))
            ):
                found = trade
        return found

    async def _find_remote(self, *, perm: int | None = None, ref: str | None = None) -> Any:
        """Ask IB for every open order (all clients) and today's completed orders, then search."""
        ib = self.conn.ib
        async with self._remote_lock:
            open_trades = await self.conn.request(ib.reqAllOpenOrdersAsync(), "the open orders")
            completed = await self.conn.request(ib.reqCompletedOrdersAsync(False), "the completed orders")
        for pool in (list(ib.trades()), list(open_trades), list(completed)):
            trade = self._find_by_perm(perm, pool) if perm else self._find_by_ref(ref or "", pool)
            # only an order IB has numbered (permId) proves that IB has it: our own record of an
            # order TWS never acknowledged does not
            if trade is not None and self._perm(trade):
                return trade
        return None

    def _meta_for(self, trade: Any) -> _OrderMeta | None:
        perm = self._perm(trade)
        meta = self._meta_by_perm.get(perm) if perm else None
        if meta is None:
            meta = self._meta_by_ref.get(getattr(trade.order, "orderRef", "") or "")
            if meta is not None and perm and meta.perm_id in (0, perm):
                meta.perm_id = perm
                self._meta_by_perm[perm] = meta
            elif meta is not None and perm and meta.perm_id != perm:
                meta = None
        return meta

    def _errors_of(self, meta: _OrderMeta | None) -> list[IBError]:
        if meta is None:
            return []
        return self._order_errors.get((meta.generation, meta.ib_order_id), [])

    def _reject_error(self, meta: _OrderMeta | None) -> IBError | None:
        if meta is not None and (meta.generation, meta.ib_order_id) in self._confirmed_rejects:
            return self._confirmed_rejects[(meta.generation, meta.ib_order_id)]
        for err in self._errors_of(meta):
            if parsing.order_error_kind(err.code) == "reject":
                return err
        return None

    # ------------------------------------------------------------------
    # building results
    # ------------------------------------------------------------------
    def _fills_of(self, perm: int) -> list[Any]:
        fills = [f for f in self.conn.ib.fills() if int(f.execution.permId or 0) == perm]
        keep = parsing.latest_executions([f.execution.execId for f in fills])
        return [f for f in fills if f.execution.execId in keep]

    @staticmethod
    def _commission(fill: Any) -> float:
        value = float(getattr(fill.commissionReport, "commission", 0.0) or 0.0)
        return value if math.isfinite(value) and abs(value) < 1e300 else 0.0

    def _result(self, trade: Any) -> dict[str, Any]:
        order, status = trade.order, trade.orderStatus
        unset = float(self.conn.module.util.UNSET_DOUBLE)
        perm = self._perm(trade)
        meta = self._meta_for(trade)
        fills = self._fills_of(perm) if perm else []
        from_fills = sum(float(f.execution.shares) for f in fills)
        filled = max(float(status.filled or 0.0), from_fills)
        filled_quantity = float(getattr(order, "filledQuantity", unset) or 0.0)
        if 0 < filled_quantity < unset:
            filled = max(filled, filled_quantity)
        qty = meta.qty if meta else float(order.totalQuantity)
        tif = meta.time_in_force if meta else parsing.tif_from_ib(order.tif)
        ib_status = self._status_override.get(perm) or status.status
        status_word = parsing.derive_status(
            ib_status,
            qty=qty,
            filled=filled,
            rejected=self._reject_error(meta) is not None,
            cancel_requested=bool(meta and meta.cancel_requested),
            time_in_force=tif,
        )
        if fills and from_fills > 0:
            fill_price: float | None = sum(float(f.execution.shares) * float(f.execution.price) for f in fills) / from_fills
        else:
            avg = float(status.avgFillPrice or 0.0)
            fill_price = avg if filled > QTY_EPSILON and 0 < avg < unset else None
        if meta is not None:
            created = meta.created
        else:
            times = [ensure_utc(f.execution.time) for f in fills if isinstance(f.execution.time, datetime)]
            times += [ensure_utc(e.time) for e in trade.log if isinstance(e.time, datetime) and e.time.tzinfo]
            created = min(times) if times else self.clock()
        return {
            "order_id": str(perm) if perm else "",
            "client_order_id": (meta.client_order_id if meta else getattr(order, "orderRef", "")) or None,
            "symbol": meta.symbol if meta else self.resolver.symbol_for(trade.contract),
            "side": meta.side if meta else str(order.action).upper(),
            "order_type": meta.order_type if meta else parsing.order_type_from_ib(order.orderType),
            "qty": qty,
            "filled_qty": filled,
            "status": status_word,
            "fill_price": fill_price,
            "fee": sum((self._commission(f) for f in fills), 0.0),
            "limit_price": meta.limit_price if meta else parsing.clean_price(order.lmtPrice, unset),
            "stop_price": meta.stop_price if meta else parsing.clean_price(order.auxPrice, unset),
            "time_in_force": tif,
            "timestamp": created,
            "venue": VENUE,
        }

    def _fill_dict(self, fill: Any) -> dict[str, Any]:
        ex, report = fill.execution, fill.commissionReport
        qty = float(ex.shares)
        price = float(ex.price)
        when = ex.time if isinstance(ex.time, datetime) and ex.time.tzinfo else fill.time
        return {
            "order_id": str(int(ex.permId or 0)),
            "fill_id": str(ex.execId),
            "timestamp": ensure_utc(when),
            "symbol": self.resolver.symbol_for(fill.contract),
            "side": parsing.EXEC_SIDE.get(str(ex.side).upper(), str(ex.side).upper()),
            "qty": qty,
            "fill_price": price,
            "notional": qty * price,
            "fee": self._commission(fill),
            "fee_currency": str(getattr(report, "currency", "") or getattr(fill.contract, "currency", "")),
            "venue": VENUE,
        }

    # ------------------------------------------------------------------
    # journal
    # ------------------------------------------------------------------
    def _journal_order_event(self, event: str, result: dict[str, Any], trade: Any, **extra: Any) -> None:
        record = dict(result)
        record.update(
            ib_order_id=int(getattr(trade.order, "orderId", 0) or 0),
            perm_id=self._perm(trade),
            client_id=int(getattr(trade.order, "clientId", 0) or self.conn.client_id),
            account=getattr(trade.order, "account", "") or self.conn.account,
            ib_status=trade.orderStatus.status,
        )
        record.update(extra)
        self.journal.write(event, record)

    def _journal_status(self, meta: _OrderMeta | None, result: dict[str, Any], trade: Any) -> None:
        """A cancel / expire record the first time an order is seen in that final state."""
        status = result["status"]
        event = {STATUS_CANCELLED: EVENT_CANCEL, STATUS_EXPIRED: EVENT_EXPIRE}.get(status)
        if event is None or meta is None or meta.journaled_status == status:
            return
        self._journal_order_event(event, result, trade)
        meta.journaled_status = status

    def _fill_ready(self, fill: Any, now: datetime) -> bool:
        if getattr(fill.commissionReport, "execId", ""):
            return True
        when = fill.time if isinstance(fill.time, datetime) and fill.time.tzinfo else None
        return when is None or (now - when) >= timedelta(seconds=self.conn.settings.commission_wait_s)

    async def _journal_new_fills(self, *, wait: bool) -> None:
        """Journal every execution not journaled yet (waiting up to ``commission_wait_s`` for fees)."""
        def pending() -> list[Any]:
            return [
                f for f in self.conn.ib.fills()
                if f.execution.execId not in self._journaled_fills and self._account_ok(f.execution.acctNumber)
            ]

        if wait:
            await self.conn.wait_until(
                lambda: all(getattr(f.commissionReport, "execId", "") for f in pending()),
                self.conn.settings.commission_wait_s,
            )
        now = datetime.now(UTC)
        seen_bases = {parsing.exec_base_id(e) for e in self._journaled_fills}
        for fill in sorted(pending(), key=lambda f: (f.execution.execId)):
            if not wait and not self._fill_ready(fill, now):
                continue
            record = self._fill_dict(fill)
            record.update(
                exec_id=fill.execution.execId,
                perm_id=int(fill.execution.permId or 0),
                ib_order_id=int(fill.execution.orderId or 0),
                account=fill.execution.acctNumber,
                exchange=fill.execution.exchange,
                fee_reported=bool(getattr(fill.commissionReport, "execId", "")),
                correction=parsing.exec_base_id(fill.execution.execId) in seen_bases,
            )
            self.journal.write(EVENT_FILL, record)
            self._journaled_fills.add(fill.execution.execId)

    # ------------------------------------------------------------------
    # the Broker protocol
    # ------------------------------------------------------------------
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
    ) -> dict[str, Any]:
        """Place an order (see the module docstring); ``symbol`` may also be an IB ``Contract``."""
        contract_in = symbol if is_contract(symbol) else None
        label = self.resolver.symbol_for(contract_in) if contract_in is not None else symbol
        req = validate_order(label, side, qty, order_type, limit_price, stop_price, time_in_force, client_order_id)
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

    def get_order(self, order_id: str) -> dict[str, Any]:
        """The current ``OrderResult`` of an order (any order of the account IB still lists)."""
        perm = parsing.parse_order_id(order_id)

        async def go() -> dict[str, Any]:
            await self.conn.ensure_connected()
            trade = self._find_by_perm(perm) or await self._find_remote(perm=perm)
            if trade is None:
                raise OrderNotFoundError(str(order_id))
            await self._journal_new_fills(wait=False)
            result = self._result(trade)
            self._journal_status(self._meta_for(trade), result, trade)
            return result

        return self._read(go)

    def get_open_orders(self) -> list[dict[str, Any]]:
        async def go() -> list[dict[str, Any]]:
            await self.conn.ensure_connected()
            out = []
            for trade in self.conn.ib.openTrades():
                if not self._perm(trade) or not self._account_ok(getattr(trade.order, "account", "")):
                    continue
                result = self._result(trade)
                if result["status"] in OPEN_STATUSES:
                    out.append(result)
            return sorted(out, key=lambda r: (r["timestamp"], r["order_id"]))

        return self._read(go)

    def get_positions(self) -> dict[str, float]:
        async def go() -> dict[str, float]:
            await self.conn.ensure_connected()
            out: dict[str, float] = {}
            for pos in self.conn.ib.positions(self.conn.account or ""):
                qty = float(pos.position)
                if abs(qty) <= QTY_EPSILON:
                    continue
                sym = self.resolver.symbol_for(pos.contract)
                out[sym] = out.get(sym, 0.0) + qty
            return {s: q for s, q in out.items() if abs(q) > QTY_EPSILON}

        return self._read(go)

    def get_cash(self) -> float:
        """``cash_tag`` (TotalCashValue or AvailableFunds) of the account, in its base currency."""
        tag = self.settings.cash_tag

        def lookup() -> float | None:
            values = [v for v in self.conn.ib.accountValues(self.conn.account or "") if v.tag == tag and v.currency]
            values.sort(key=lambda v: v.currency == "BASE")  # the base currency's own code first
            for value in values:
                try:
                    return float(value.value)
                except (TypeError, ValueError):
                    continue
            return None

        async def go() -> float:
            await self.conn.ensure_connected()
            cash = lookup()
            if cash is None and self.conn.account:
                await self.conn.request(self.conn.ib.reqAccountUpdatesAsync(self.conn.account), "account values")
                cash = lookup()
            if cash is None:
                raise BrokerError(f"IB reported no {tag} for account {self.conn.account}")
            return cash

        return self._read(go)

    def get_fills(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Executions of the account (today's, as IB keeps them, plus this session's), oldest first."""
        start = ensure_utc(since, "since") if since is not None else None

        async def go() -> list[dict[str, Any]]:
            await self.conn.ensure_connected()
            await self._journal_new_fills(wait=True)
            fills = [f for f in self.conn.ib.fills() if self._account_ok(f.execution.acctNumber)]
            keep = parsing.latest_executions([f.execution.execId for f in fills])
            out = [self._fill_dict(f) for f in fills if f.execution.execId in keep]
            if start is not None:
                out = [f for f in out if f["timestamp"] >= start]
            return sorted(out, key=lambda f: (f["timestamp"], f["fill_id"]))

        return self._read(go)

    def get_quote(self, symbol: Any) -> dict[str, Any]:
        """A snapshot quote (delayed data when live is not subscribed; see ``data.py``)."""
        try:
            sym = self.resolver.symbol_of(symbol)
        except UnknownSymbolError as exc:
            raise QuoteUnavailableError(str(symbol).strip().upper(), f"({exc.reason})") from exc
        quotes, errors = self._read(lambda: self.market.quotes([symbol]))
        if sym in quotes:
            return quotes[sym]
        if quotes:
            return next(iter(quotes.values()))
        err = errors.get(sym) or next(iter(errors.values()), None)
        detail = str(err).split(": ", 1)[1] if err is not None and ": " in str(err) else "available"
        raise QuoteUnavailableError(sym, f"({detail})") from err

    def now(self) -> datetime:
        """TWS's clock (``reqCurrentTime``), aware UTC."""

        async def go() -> datetime:
            await self.conn.ensure_connected()
            when = await self.conn.request(self.conn.ib.reqCurrentTimeAsync(), "the current time")
            return ensure_utc(when if when.tzinfo else when.replace(tzinfo=UTC), "IB time")

        return self._read(go)


__all__ = ["IBKRBroker", "new_client_order_id"]
