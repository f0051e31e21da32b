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

Order management (issue 14)
    ``trailing_stop`` -> ``TRAIL`` / ``TRAIL LIMIT``; ``modify_order`` ->
    ``placeOrder`` with the same ``orderId`` (``modify.py``); ``submit_bracket``
    / ``submit_oco`` -> ``parentId`` + ``transmit`` + ``ocaGroup`` (``lists.py``);
    ``reconcile`` (``reconcile.py``) runs once after the first connect.

Limits (IB's, documented rather than hidden)
    * An order placed under another API client id (say a reconnect had to
      take ``client_id + 1`` because TWS still held the old session) is
      visible, but IB lets only that client id - or TWS's "Master API client
      ID" - cancel it: ``cancel_order`` raises ``BrokerError`` saying so.
    * ``get_fills`` covers the executions IB reports: today's (TWS keeps up
      to 7 days when so configured) plus this session's.
    * Positions and account values are IB's pushed view: positions change
      with every fill, account values (cash) when TWS sends them.

Why one module of ~440 lines: it is the ``IBKRBroker`` class, the ``Broker`` contract translated
into ib_async calls; its order bookkeeping is in ``core.py`` and modify, order lists and
reconciliation have modules of their own.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from LIVE_TRADING.brokers.ibkr import lists, modify, parsing, reconcile
from LIVE_TRADING.brokers.ibkr.config import IBKRSettings
from LIVE_TRADING.brokers.ibkr.connection import IBConnection, IBError
from LIVE_TRADING.brokers.ibkr.contracts import ContractResolver, UnknownSymbolError
from LIVE_TRADING.brokers.ibkr.core import (
    _MAX_ERRORS,
    VENUE,
    _OrderMeta,
    new_client_order_id,
)
from LIVE_TRADING.brokers.ibkr.data import MarketData
from LIVE_TRADING.brokers.ibkr.orders import OrdersMixin
from LIVE_TRADING.common.clock import Clock, ensure_utc, utc_now
from LIVE_TRADING.common.constants import (
    EVENT_CANCEL,
    EVENT_EXPIRE,
    EVENT_FILL,
    EVENT_ORDER,
    EVENT_SESSION,
    OPEN_STATUSES,
    QTY_EPSILON,
)
from LIVE_TRADING.common.exceptions import (
    BrokerConnectionError,
    BrokerError,
    OrderNotFoundError,
    QuoteUnavailableError,
)
from LIVE_TRADING.common.journal import Journal, read_records
from LIVE_TRADING.common.settings import section

logger = logging.getLogger(__name__)


class IBKRBroker(OrdersMixin):
    """The Broker protocol on Interactive Brokers (see the module docstring).

    Keyword arguments: every ``live_trading.ibkr`` setting (``host``,
    ``port``, ``client_id``, ``account``, ``connect_timeout_s``,
    ``order_timeout_s``, ``market_data_type``, ``readonly``, ``allow_live``,
    ``log_dir``, ``cash_tag``, ``contracts``, reconnect and pacing settings;
    ``None`` = use the config), plus

    * ``ib``: an IB object (not connected yet) to use instead of a new one;
    * ``ib_module``: ``"ib_async"`` / ``"ib_insync"`` or the module itself;
    * ``clock``: callable returning aware UTC datetimes (journal times);
    * ``connect``: connect now (default) or on the first call;
    * ``client_id_prefix``: ``orderRef`` prefix of this account's orders (``lt``),
      used by ``reconcile`` to adopt open orders the journal does not know;
    * ``reconcile_on_start``: run ``reconcile()`` after connecting (default;
      the summary is kept as ``last_reconcile``).

    Code layout: ``core.py`` (lookups, results, journal), ``orders.py``
    (submit, cancel), ``modify.py``, ``lists.py`` (brackets, OCO),
    ``reconcile.py``; this class adds the session plumbing and the reads.
    """

    venue = VENUE

    def __init__(
        self,
        *,
        ib: Any = None,
        ib_module: Any = None,
        clock: Clock | None = None,
        connect: bool = True,
        client_id_prefix: str = "lt",
        reconcile_on_start: bool = True,
        **settings: Any,
    ) -> None:
        unknown = sorted(set(settings) - set(IBKRSettings.model_fields))
        if unknown:
            raise TypeError(
                f"IBKRBroker got unknown setting(s) {', '.join(unknown)} "
                f"(known: {', '.join(IBKRSettings.model_fields)})"
            )
        self.settings = IBKRSettings.load(ib_module=ib_module if isinstance(ib_module, str) else None, **settings)
        fsync = section("journal").durability == "fsync"
        self.clock: Clock = clock or utc_now
        self._lock = threading.RLock()
        self._meta_by_perm: dict[int, _OrderMeta] = {}
        self._meta_by_ref: dict[str, _OrderMeta] = {}
        self._order_errors: dict[tuple[int, int], list[IBError]] = {}
        self._status_override: dict[int, str] = {}
        self._confirmed_rejects: dict[tuple[int, int], IBError] = {}
        self._journaled_fills: set[str] = set()
        self._journal_refs: dict[str, str] = {}
        self._journal_orders: dict[str, dict[str, Any]] = {}  # order id -> last order / cancel / expire record
        self.client_id_prefix = str(client_id_prefix)
        self.last_reconcile: dict[str, Any] | None = None
        self.journal = Journal(self.settings.log_dir, fsync=fsync, clock=self.clock, exclusive=False)
        self._load_journal_index()
        fills_before = set(self._journaled_fills)
        self.conn = IBConnection(self.settings, ib=ib, ib_module=ib_module, name="ibkr")
        self._remote_lock: asyncio.Lock = self.conn.call(asyncio.Lock)
        self.resolver = ContractResolver(self.conn, self.settings.contracts)
        self.market = MarketData(self.conn, self.resolver, self.clock)
        self.conn.on_connect(self._on_connect)
        self.conn.call(self._install_handlers)
        if connect:
            try:
                self.conn.run(self.conn.ensure_connected)
                if reconcile_on_start and not self.settings.readonly:
                    self.last_reconcile = reconcile.reconcile(self, fills_before=fills_before)
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
            "circuit": conn.circuit.snapshot(),
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
        if event in (EVENT_ORDER, EVENT_CANCEL, EVENT_EXPIRE) and record.get("order_id"):
            self._journal_orders[str(record["order_id"])] = record

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

    # -- order management (issue 14): modules modify / lists / reconcile -----------------

    def modify_order(
        self, order_id: str, *, qty: float | None = None, limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> dict[str, Any]:
        """Change an open order: ``placeOrder`` with the same ``orderId`` (see ``ibkr.modify``)."""
        return modify.modify_order(self, order_id, qty=qty, limit_price=limit_price, stop_price=stop_price)

    def submit_bracket(self, symbol: Any, side: str, qty: float, **kwargs: Any) -> dict[str, Any]:
        """Parent + take-profit + stop-loss with ``parentId`` and ``transmit`` (see ``ibkr.lists``)."""
        return lists.submit_bracket(self, symbol, side, qty, **kwargs)

    def submit_oco(self, symbol: Any, side: str, qty: float, **kwargs: Any) -> dict[str, Any]:
        """Two orders in one ``ocaGroup`` (ocaType 1) (see ``ibkr.lists``)."""
        return lists.submit_oco(self, symbol, side, qty, **kwargs)

    def reconcile(self) -> dict[str, Any]:
        """Compare IB's open orders and executions with the journal (see ``ibkr.reconcile``)."""
        return reconcile.reconcile(self)

    # ------------------------------------------------------------------
    # reads
    # ------------------------------------------------------------------

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


__all__ = ["IBKRBroker", "new_client_order_id"]
