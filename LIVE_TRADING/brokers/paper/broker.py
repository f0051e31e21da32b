"""PaperBroker: a realistic simulated venue behind the Broker protocol.

What it simulates
-----------------
* **Order types** ``market``, ``limit``, ``stop``, ``stop_limit``. Market
  orders fill at once at the quote plus slippage (BUY at ``ask * (1 + s)``,
  SELL at ``bid * (1 - s)``). A marketable limit fills at once the same way but
  never worse than its limit; a non-marketable one rests. Resting orders are
  matched on every quote (``set_quote``, ``update_quotes``, or a quote pulled
  from the data provider): a resting BUY limit fills when ``ask <= limit`` at
  ``min(limit, ask)`` (a maker fill, no slippage), a SELL limit when
  ``bid >= limit`` at ``max(limit, bid)``; a BUY stop triggers when
  ``ask >= stop`` and then behaves as a market order (a stop-limit becomes a
  limit); SELL stops trigger when ``bid <= stop``.
* **Trading hours** (``paper.trading_hours``: ``quotes`` | ``calendar`` |
  ``always``; ``paper.outside_hours``: ``queue`` | ``reject``): see
  ``LIVE_TRADING.brokers.paper.hours``. While a symbol's market is closed,
  new orders are queued (or refused) and resting orders are not matched; a
  queued market order rests in the book (``at_open``) and fills at the first
  quote after the open.
* **Time in force** ``gtc`` (default); ``day`` expires at the close of its
  session (``hours.day_expiry``: early closes included) or, for markets
  without sessions, at the first ``paper.end_of_day_utc`` (HH:MM UTC,
  default 00:00) after it was placed;
  ``ioc`` fills what it can now and cancels the rest; ``fok`` fills in full now
  or is refused with ``OrderRejectedError`` (nothing happens). For stop orders
  the time in force applies from the moment they trigger (a stop ``fok`` that
  cannot fill in full at its trigger ends ``rejected``).
* **Partial fills** with ``paper.respect_quote_size``: a fill takes at most the
  displayed size on the other side of the quote (each quote's size is used up
  by the fills against it). A limit order's remainder keeps resting, an ioc's
  is cancelled, a fok is refused; a market order bigger than the displayed size
  fills in full at a worse price: its slippage is the larger of the configured
  model's and the square-root impact ``base_bps + impact_bps * sqrt(qty / size)``.
* **Costs** from ``LIVE_TRADING.brokers.paper.costs``: slippage models ``fixed_bps``,
  ``spread_only``, ``sqrt_impact``; fee models ``bps``, ``per_share``,
  ``maker_taker`` (resting fills are maker fills, everything else takes).
* **Reservations.** Open BUY orders reserve cash (their price cap x remaining
  quantity + the most fee they can cost; a stop's cap is its stop price plus
  slippage), open SELL orders reserve position. ``get_cash()`` is the cash
  available for new orders, so two open orders can never spend the same money.
* **Shorting** (``paper.allow_short``, default off): sells beyond the position
  are refused unless shorting is allowed, and then only while equity stays at
  or above ``paper.margin_requirement`` x the gross short value (counting the
  short that open sell orders could create).
* **P&L.** Per-symbol average cost, realized P&L on reductions and flips,
  unrealized P&L at mid, fees: ``get_position_details()`` and
  ``get_account_summary()``.

Durability
----------
Every state change (an accepted order with the fills it took at once, a fill
of a resting order, a trigger, a cancel, an expiry) is ONE journal record
(``LIVE_TRADING.common.journal``), written before the in-memory state changes
and before the call returns; if the journal cannot be written the call raises
``JournalError`` and neither memory nor a later recovery shows the change. The
account (``log_dir/<account>``) has one writer at a time (an OS lock; a second
process waits ``journal.lock_timeout_s`` then gets ``AccountLockedError``).
``resume=True`` continues the account's state (newest snapshot + the records
after it); ``resume=False`` starts it afresh with a ``reset`` record (the
history stays in the journal). ``read_only=True`` shows the state without
taking the lock or writing anything.

Quotes
------
``set_quote`` feeds quotes by hand (tests, simulations). With a data provider
(``data_provider=`` or config ``paper.data_provider``), an order that needs a
quote and has none fresher than ``paper.max_quote_age_s`` asks the provider;
``update_quotes(symbols)`` pulls a batch and matches resting orders (call it
once per pipeline step). A quote older than the limit is refused with
``QuoteUnavailableError`` ("No quote for X is stale: ...").

Order management (issue 14)
---------------------------
``modify_order`` (one ``modify`` record: only a lower quantity keeps time
priority), ``trailing_stop`` orders (the trigger, kept in ``stop_price``
internally and shown as ``trigger_price``, moves with one ``trail`` record per
move; only the symbol's trailing stops are looked at on a quote), and
``submit_bracket`` / ``submit_oco`` (one ``bracket`` / ``oco`` record; what a
leg's fill or end does to the other legs travels as ``links`` in the record
that caused it, applied by ``PaperState.apply_links``). See the methods.

Cancels
-------
``cancel_order`` of an open order returns it ``cancelled`` and releases what it
reserved. Cancelling an order that already ended returns its final state (no
error, nothing changes); an unknown id raises ``OrderNotFoundError``.

All state changes happen under one lock: one PaperBroker may be shared by
several threads.
"""

from __future__ import annotations

import copy
import functools
import heapq
import inspect
import logging
import math
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from LIVE_TRADING.brokers.paper import costs, hours
from LIVE_TRADING.brokers.paper.config import PaperConfig
from LIVE_TRADING.brokers.paper.costs import MAKER, TAKER, apply_slippage
from LIVE_TRADING.brokers.paper.engine import Engine
from LIVE_TRADING.brokers.paper.matching import AS_LIMIT, AS_STOP, limit_marketable, stop_triggered
from LIVE_TRADING.brokers.paper.orders import VENUE, PaperOrder
from LIVE_TRADING.brokers.paper.recovery import (
    find_order,
    read_fills,
    read_orders,
    recover,
)
from LIVE_TRADING.brokers.paper.state import PaperState, trail_limit, trail_trigger
from LIVE_TRADING.brokers.validation import (
    OrderRequest,
    check_modify,
    clean_symbol,
    validate_bracket,
    validate_modify,
    validate_oco,
    validate_order,
)
from LIVE_TRADING.common.clock import Clock, ensure_utc, utc_now
from LIVE_TRADING.common.constants import (
    FINAL_STATUSES,
    ORDER_TYPE_LIMIT,
    ORDER_TYPE_MARKET,
    ORDER_TYPE_STOP,
    ORDER_TYPE_STOP_LIMIT,
    QTY_EPSILON,
    SIDE_BUY,
    SIDE_SELL,
    STATUS_CANCELLED,
    STATUS_EXPIRED,
    STATUS_FILLED,
    STATUS_NEW,
    STATUS_PARTIALLY_FILLED,
    STATUS_REJECTED,
    TIF_DAY,
    TIF_FOK,
    TIF_IOC,
)
from LIVE_TRADING.common.exceptions import (
    BrokerError,
    ConfigError,
    DataProviderError,
    DuplicateClientOrderIdError,
    InsufficientFundsError,
    InvalidQuoteError,
    OrderNotFoundError,
    OrderRejectedError,
    QuoteUnavailableError,
)
from LIVE_TRADING.common.ids import derive_client_id
from LIVE_TRADING.common.journal import Journal, new_run_id, scan
from LIVE_TRADING.common.settings import section
from LIVE_TRADING.common.symbols import configured_asset_classes
from LIVE_TRADING.data.provider import QuoteSource, quote_errors, require_known
from LIVE_TRADING.data.quotes import Quote, make_quote, mid_price

logger = logging.getLogger(__name__)

_READ_ONLY = "This paper broker was opened read-only (read_only=True): it cannot {what}"


class PaperBroker:
    """Simulated broker implementing the Broker protocol (see the module docstring).

    Keyword arguments override the config (``live_trading.paper.*`` and
    ``live_trading.journal.*``); ``None`` means "use the config", ``0`` means zero.

    Args:
        initial_cash: starting cash of a fresh account (``reset()`` returns to it).
        slippage_bps: slippage of the ``fixed_bps`` model.
        fee_bps: fee of the ``bps`` model.
        log_dir: the journal root: accounts are directories under it (default ``logs/paper_trades``).
        account: the account's name (default ``default``).
        clock: callable returning an aware UTC datetime (default: system time).
        data_provider: a ``DataProvider`` or the name of one (``"sim"``, ...).
        resume: continue the account's state (default: start it afresh, keeping its history).
        read_only: show the account without locking or writing (``submit_order`` etc. raise).
        durability: ``flush`` | ``fsync`` | ``none`` (``fsync=True`` is the same as ``"fsync"``).
        lock_timeout_s: how long to wait for another process that holds the account.
        slippage_model / fee_model: a model name (see ``costs``) or a model object.
        respect_quote_size, allow_short, margin_requirement, end_of_day_utc,
        max_quote_age_s, max_quote_future_s, min_qty: see the module docstring.
    """

    def __init__(
        self,
        *,
        slippage_bps: float | None = None,
        fee_bps: float | None = None,
        initial_cash: float | None = None,
        log_dir: str | Path | None = None,
        clock: Clock | None = None,
        data_provider: Any = None,
        resume: bool | None = None,
        fsync: bool | None = None,
        slippage_model: Any = None,
        fee_model: Any = None,
        respect_quote_size: bool | None = None,
        allow_short: bool | None = None,
        margin_requirement: float | None = None,
        end_of_day_utc: str | None = None,
        max_quote_age_s: float | None = None,
        currency: str | None = None,
        account: str | None = None,
        read_only: bool = False,
        durability: str | None = None,
        lock_timeout_s: float | None = None,
        min_qty: float | None = None,
        max_quote_future_s: float | None = None,
        snapshot_every: int | None = None,
        segment_max_bytes: int | None = None,
        keep_terminal_orders: int | None = None,
        trading_hours: str | None = None,
        outside_hours: str | None = None,
    ) -> None:
        self.config = cfg = PaperConfig.from_config(
            slippage_bps=slippage_bps, fee_bps=fee_bps, initial_cash=initial_cash, log_dir=log_dir,
            resume=resume, fsync=fsync, slippage_model=slippage_model, fee_model=fee_model,
            respect_quote_size=respect_quote_size, allow_short=allow_short,
            margin_requirement=margin_requirement, end_of_day_utc=end_of_day_utc,
            max_quote_age_s=max_quote_age_s, data_provider=data_provider, currency=currency, account=account,
            durability=durability, lock_timeout_s=lock_timeout_s, min_qty=min_qty,
            max_quote_future_s=max_quote_future_s, snapshot_every=snapshot_every,
            segment_max_bytes=segment_max_bytes, keep_terminal_orders=keep_terminal_orders,
            trading_hours=trading_hours, outside_hours=outside_hours,
        )
        self._clock: Clock = _checked_clock(clock)
        slippage = (slippage_model if slippage_model is not None and not isinstance(slippage_model, str)
                    else cfg.make_slippage_model())
        fees = fee_model if fee_model is not None and not isinstance(fee_model, str) else cfg.make_fee_model()
        self._slippage_bps = cfg.slippage_bps  # seed attribute names, kept for compatibility
        self._fee_bps = cfg.fee_bps
        self._initial_cash = cfg.initial_cash
        self._respect_size = cfg.respect_quote_size
        self._max_age = cfg.max_quote_age_s
        self._max_future = timedelta(seconds=cfg.max_quote_future_s)
        self._snapshot_every = cfg.snapshot_every
        self._slippage = slippage
        hh, mm = (int(x) for x in cfg.end_of_day_utc.split(":"))
        self._eod = time(hh, mm)
        self._hours, self._outside = cfg.trading_hours, cfg.outside_hours  # see brokers/paper/hours.py
        self._asset_classes = configured_asset_classes()
        self._provider = self._make_provider(data_provider if data_provider is not None else cfg.data_provider)
        self._lock = threading.RLock()
        self._quotes: dict[str, dict[str, Any]] = {}
        self._avail: dict[str, list[float]] = {}
        self._log_dir = Path(cfg.log_dir)
        self.account_dir = self._log_dir / cfg.account
        self._state = PaperState(cfg.initial_cash, slippage, fees, cfg.keep_terminal_orders)
        self._engine = Engine(self._state, slippage=slippage, fees=fees,
                              impact=costs.SqrtImpact(cfg.slippage_base_bps, cfg.slippage_impact_bps),
                              respect_size=cfg.respect_quote_size, allow_short=cfg.allow_short,
                              margin_requirement=cfg.margin_requirement)
        self.read_only = bool(read_only)
        self._journal: Journal | None = None
        #: read-only views: orders this view saw expire (the journal does not say so, and memory may evict them)
        self._expired_here: dict[str, PaperOrder] = {}
        if self.read_only:
            self._seq = 0
            if self.account_dir.is_dir():
                found = scan(self.account_dir)
                recover(self._state, found)
                self._seq = found.last_seq
            return
        self._journal = Journal(self.account_dir, durability=cfg.durability, clock=self._clock,
                                segment_max_bytes=cfg.segment_max_bytes, lock_timeout_s=cfg.lock_timeout_s)
        try:
            self._open_account(cfg)
        except BaseException:
            self._journal.close()
            raise

    def _open_account(self, cfg: PaperConfig) -> None:
        """Recover the account; open it (first use) or start a new run (``resume=False``); note the session."""
        journal = self._journal
        assert journal is not None
        n = recover(self._state, journal.scan)
        now = self._clock()
        wall = datetime.now(UTC)
        st = self._state
        if journal.seq == 0:
            tag, run_id = uuid.uuid4().hex[:8], journal.run_id

            def opened(seq: int) -> None:
                st.reset(self._initial_cash, seq, run_id, now)
                st.tag, st.currency = tag, cfg.currency

            self._commit({"event": "open", "run_id": run_id, "ts": now, "wall": wall, "account": cfg.account,
                          "tag": tag, "initial_cash": self._initial_cash, "currency": cfg.currency}, opened)
        elif not cfg.resume or not st.run_id:
            self._new_run(now)
        else:
            journal.run_id = st.run_id
        self._commit({"event": "session", "run_id": journal.run_id, "ts": now, "wall": wall, "pid": os.getpid(),
                      "host": socket.gethostname(), "resumed": bool(cfg.resume), "venue": VENUE,
                      "settings": {k: v for k, v in asdict(cfg).items() if k != "data_provider"}})
        if cfg.resume:
            logger.info("Resumed paper account %s (%d records replayed): cash %.2f, %d positions, %d open orders",
                        self.account_dir, n, st.cash, len(self.get_positions()), len(st.open))

    def _new_run(self, now: datetime) -> None:
        """A ``reset`` record: the account starts a new run with the initial cash (history stays)."""
        journal = self._journal
        assert journal is not None
        run_id = new_run_id(self._clock)
        cash = self._initial_cash
        journal.run_id = run_id
        self._commit({"event": "reset", "run_id": run_id, "ts": now, "wall": datetime.now(UTC),
                      "initial_cash": cash, "currency": self._state.currency}, lambda seq: self._state.reset(cash, seq, run_id, now))

    @property
    def run_started(self) -> datetime | None:
        """When (on the broker's clock) the current run began: the account's opening or last reset."""
        return self._state.run_started

    @property
    def run_id(self) -> str:
        """The current run: records since the account was opened or last reset."""
        return self._journal.run_id if self._journal is not None else self._state.run_id

    # -- construction helpers ----------------------------------------------
    def _make_provider(self, spec: Any) -> Any:
        if spec is None:
            return None
        if not isinstance(spec, str):
            if not isinstance(spec, QuoteSource):
                raise ConfigError(f"data_provider {type(spec).__name__} lacks get_quote() or get_multiple_quotes(): "
                                  "pass a DataProvider (LIVE_TRADING.data.provider) or a provider name")
            return spec
        from LIVE_TRADING.brokers.interface import resolve_target
        from LIVE_TRADING.data.provider import _PROVIDERS, get_data_provider

        kwargs: dict[str, Any] = {}
        try:
            target = resolve_target(_PROVIDERS[spec.strip().lower()])
            if "clock" in inspect.signature(target).parameters:
                kwargs["clock"] = self._clock
        except (KeyError, TypeError, ValueError, ImportError):
            pass
        return get_data_provider(spec, **kwargs)

    @property
    def data_provider(self) -> Any:
        return self._provider

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            raise BrokerError(_READ_ONLY.format(what="write a journal"))
        return self._journal

    # ======================================================================
    # Broker protocol
    # ======================================================================
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
        """Place an order (see the module docstring for how each type fills).

        Bad input raises ``OrderRejectedError`` and leaves memory and journal
        untouched; a refusal on the merits (funds, no quote, fok) is journaled
        as a ``reject`` record and raised.
        """
        req = validate_order(symbol, side, qty, order_type, limit_price, stop_price, time_in_force,
                             client_order_id, trail_amount, trail_percent, limit_offset)
        require_known(self._provider, req.symbol)  # an unknown symbol is bad input: "did you mean AAPL?"
        if req.qty < self.config.min_qty:
            raise OrderRejectedError(req.symbol, f"qty {req.qty:g} is below the minimum {self.config.min_qty:g}")
        with self._lock:
            self._writable("submit orders")
            now = self._clock()
            if self._state.expiries:
                self._expire_due(now)
            if req.client_order_id is not None:
                known = self._state.by_cid.get(req.client_order_id)
                if known is not None:
                    return self._same_order(req, *known)
            try:
                if req.trail_amount is not None or req.trail_percent is not None:
                    return self._submit_trailing(req, now)
                return self._submit(req, now)
            except (OrderRejectedError, QuoteUnavailableError) as exc:
                self._journal_reject(exc, req, now)
                raise

    def _same_order(self, req: OrderRequest, order_id: str, first: OrderRequest) -> dict[str, Any]:
        """A repeated client_order_id: the first order if the request is the same, else an error."""
        if req != first:
            diff = ", ".join(f"{f} {getattr(first, f)!r} != {getattr(req, f)!r}"
                             for f in OrderRequest._fields if getattr(first, f) != getattr(req, f))
            raise DuplicateClientOrderIdError(req.symbol, req.client_order_id or "", order_id, diff)
        return self._order_result(order_id)

    def cancel_order(self, order_id: str) -> dict[str, Any]:
        """Cancel an open order. A final order's result is returned unchanged; unknown ids raise."""
        with self._lock:
            self._writable("cancel orders")
            self._expire_due(self._clock())
            order = self._state.open.get(_order_id(order_id))
            if order is None:
                return self._order_result(order_id)
            self._end(order, STATUS_CANCELLED, "cancel", "cancelled by user")
            return order.result()

    def get_order(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            self._expire_due(self._clock())
            return self._order_result(order_id)

    def get_open_orders(self) -> list[dict[str, Any]]:
        with self._lock:
            self._expire_due(self._clock())
            return [o.result() for o in self._state.open.values()]

    def get_positions(self) -> dict[str, float]:
        with self._lock:
            return {s: p.qty for s, p in self._state.positions.items() if p.qty != 0.0}

    def get_cash(self) -> float:
        """Cash available for new orders: cash minus what open BUY orders reserve."""
        with self._lock:
            self._expire_due(self._clock())
            return float(self._state.cash - self._state.reserved_cash)

    def get_fills(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Fills of the account's current run, oldest first (``since``: at or after that time).

        Fills that left memory (``journal.keep_terminal_orders``) are read back from the journal.
        """
        if since is not None:
            since = ensure_utc(since, "since")
        with self._lock:
            st = self._state
            mem = [f for _, f in st.fills]
            if st.fills_from_seq > st.epoch_seq + 1 and (since is None or not mem or mem[0]["timestamp"] >= since):
                mem = read_fills(self.account_dir, st.epoch_seq + 1, st.fills_from_seq, st.currency) + mem
            return [dict(f) for f in mem if since is None or f["timestamp"] >= since]

    def fills_frame(self, since: datetime | None = None) -> Any:
        """``get_fills(since)`` as a typed DataFrame (``LIVE_TRADING.monitoring.exports.fills_frame``)."""
        from LIVE_TRADING.monitoring.exports import fills_frame

        return fills_frame(self.get_fills(since))

    def get_orders(self) -> list[dict[str, Any]]:
        """Every order of the current run, open and ended, oldest first (read back from the journal)."""
        with self._lock:
            self._expire_due(self._clock())
            st = self._state
            upto = self._journal.seq if self._journal is not None else self._seq
            return read_orders(self.account_dir, st.epoch_seq + 1, upto)

    def orders_frame(self) -> Any:
        """Every order of the current run, open and ended, oldest first, as a typed DataFrame."""
        from LIVE_TRADING.monitoring.exports import orders_frame

        return orders_frame(self.get_orders())

    def get_quote(self, symbol: str) -> dict[str, Any]:
        """The latest quote if fresh, else one from the data provider; ``QuoteUnavailableError`` otherwise."""
        sym = clean_symbol(symbol)
        with self._lock:
            return dict(self._quote_for(sym, self._clock()))

    def now(self) -> datetime:
        return self._clock()

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
        if req.qty < self.config.min_qty:
            raise OrderRejectedError(req.symbol, f"qty {req.qty:g} is below the minimum {self.config.min_qty:g}")
        with self._lock:
            self._writable("submit orders")
            now = self._clock()
            self._expire_due(now)
            known = self._same_list(req, "bracket")
            if known is not None:
                return known
            cid = req.client_order_id
            journal = self._journal
            assert journal is not None
            list_id = f"{self._state.tag}-{journal.seq + 1}"
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
        if req.qty < self.config.min_qty:
            raise OrderRejectedError(req.symbol, f"qty {req.qty:g} is below the minimum {self.config.min_qty:g}")
        with self._lock:
            self._writable("submit orders")
            now = self._clock()
            self._expire_due(now)
            known = self._same_list(req, "oco")
            if known is not None:
                return known
            cid = req.client_order_id
            journal = self._journal
            assert journal is not None
            list_id = f"{self._state.tag}-{journal.seq + 1}"
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

    def _leg(self, order_id: str, req: OrderRequest, now: datetime, list_id: str, role: str,
             parent: str | None) -> PaperOrder:
        leg = PaperOrder(order_id, req, now)
        leg.order_list_id, leg.list_role, leg.parent_order_id = list_id, role, parent
        if leg.tif == TIF_DAY:
            leg.expires_at = self._day_expiry(leg.symbol, now, self._quote_for(leg.symbol, now, required=False))
        return leg

    def _day_expiry(self, symbol: str, now: datetime, quote: Any) -> datetime:
        """When a ``day`` order placed now expires (``hours.day_expiry``: session close or end_of_day_utc)."""
        return hours.day_expiry(symbol, now, self._hours, quote=quote, eod=self._eod,
                                asset_classes=self._asset_classes)

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

    # ======================================================================
    # Quotes
    # ======================================================================
    def set_quote(
        self,
        symbol: str,
        bid: float,
        ask: float,
        bid_size: float = 100,
        ask_size: float = 100,
        *,
        timestamp: datetime | None = None,
    ) -> None:
        """Set the quote for a symbol (tests, simulations) and match resting orders against it.

        Raises ``InvalidQuoteError`` (a ``ValueError``) for non-finite,
        non-positive or crossed (bid > ask) prices, negative sizes, or a
        timestamp more than ``max_quote_future_s`` after the broker's clock.
        """
        with self._lock:
            now = self._clock()
            quote = make_quote(symbol, bid, ask, bid_size, ask_size, timestamp or now)
            self._check_future(quote, now)
            self._on_quote(quote, now)

    def update_quotes(self, symbols: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Pull quotes for ``symbols`` from the data provider and match resting orders.

        Returns the quotes received. Symbols the provider could not quote are
        logged and listed in ``data_provider.last_errors``; the others still apply.
        """
        if self._provider is None:
            raise BrokerError(
                "update_quotes needs a data provider: PaperBroker(data_provider=...) or live_trading.paper.data_provider"
            )
        if isinstance(symbols, str) or not isinstance(symbols, Iterable):
            raise DataProviderError(f"update_quotes takes a list of symbols, got {symbols!r}"
                                    + (f" (did you mean [{symbols!r}]?)" if isinstance(symbols, str) else ""))
        quotes = self._provider.get_multiple_quotes([clean_symbol(s) for s in symbols])
        errors = quote_errors(self._provider)
        if errors:
            logger.warning("No quotes for %s: %s", ", ".join(sorted(errors)), errors)
        self.apply_quotes(quotes)
        return quotes

    def apply_quotes(self, quotes: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]]) -> None:
        """Take quotes fetched elsewhere (``{symbol: Quote}`` or a list of ``Quote``) and match resting orders.

        Each quote is checked like ``set_quote``'s (``InvalidQuoteError``);
        none is applied if one is invalid. A ``Quote`` built by ``make_quote``
        (what every data provider returns) was checked when it was built and
        is taken as it is (only its time is checked against the clock).
        """
        if isinstance(quotes, str | bytes) or not isinstance(quotes, Mapping | Iterable):
            raise InvalidQuoteError(f"apply_quotes takes a mapping or a list of quotes, got {type(quotes).__name__}")
        items = quotes.values() if isinstance(quotes, Mapping) else quotes
        with self._lock:
            now = self._clock()
            checked = []
            for q in items:
                if type(q) is Quote:  # built, and so checked, by make_quote
                    self._check_future(q, now)
                    checked.append(q)
                    continue
                if not isinstance(q, Mapping):
                    raise InvalidQuoteError(f"apply_quotes: a quote must be a mapping, got {q!r}")
                try:
                    quote = make_quote(q["symbol"], q["bid"], q["ask"], q.get("bid_size", 0.0),
                                       q.get("ask_size", 0.0), q.get("timestamp") or now, q.get("market_open"))
                except KeyError as exc:
                    raise InvalidQuoteError(f"apply_quotes: quote {dict(q)!r} has no {exc.args[0]!r}") from None
                self._check_future(quote, now)
                checked.append(quote)
            for quote in checked:
                self._on_quote(quote, now)

    def _check_future(self, quote: dict[str, Any], now: datetime) -> None:
        if quote["timestamp"] > now + self._max_future:
            raise InvalidQuoteError(
                f"Invalid quote for {quote['symbol']}: stamped {quote['timestamp'].isoformat()}, more than "
                f"{self.config.max_quote_future_s:g}s after the broker's clock ({now.isoformat()})",
                symbol=quote["symbol"])

    # ======================================================================
    # Account
    # ======================================================================
    def get_portfolio_value(self) -> float:
        """Cash plus positions marked at mid (at average cost where no quote is known)."""
        with self._lock:
            return self._engine.equity(self._mark)

    def get_position_details(self) -> dict[str, dict[str, float | None]]:
        """Per symbol: qty, avg_cost, market_price (mid), market_value, unrealized_pnl, realized_pnl, fees.

        Symbols that were traded and are now flat are included (their realized P&L stays).
        """
        with self._lock:
            out: dict[str, dict[str, float | None]] = {}
            for sym, p in self._state.positions.items():
                quote = self._quotes.get(sym)
                mark = mid_price(quote) if quote else None
                out[sym] = {
                    "qty": p.qty,
                    "avg_cost": p.avg_cost if p.qty else None,
                    "market_price": mark,
                    "market_value": p.qty * (mark if mark is not None else p.avg_cost),
                    "unrealized_pnl": (mark - p.avg_cost) * p.qty if (mark is not None and p.qty) else 0.0,
                    "realized_pnl": p.realized_pnl,
                    "fees": p.fees,
                }
            return out

    def get_account_summary(self) -> dict[str, float]:
        """Cash, reserved cash, equity, realized/unrealized P&L and fees paid, account-wide."""
        with self._lock:
            self._expire_due(self._clock())
            st = self._state
            details = self.get_position_details()
            return {
                "cash": st.cash,
                "reserved_cash": st.reserved_cash,
                "available_cash": st.cash - st.reserved_cash,
                "equity": self._engine.equity(self._mark),
                "realized_pnl": sum(d["realized_pnl"] or 0.0 for d in details.values()),
                "unrealized_pnl": sum(d["unrealized_pnl"] or 0.0 for d in details.values()),
                "fees": sum(d["fees"] or 0.0 for d in details.values()),
                "initial_cash": st.initial_cash,
            }

    def venue_health(self) -> dict[str, Any]:
        """Status for ``health()``: the simulator is always connected."""
        with self._lock:
            return {"connected": True, "open_orders": len(self._state.open), "quotes": len(self._quotes),
                    "last_quote_at": max((q["timestamp"] for q in self._quotes.values()), default=None),
                    "journal": str(self.account_dir),
                    "journal_seq": self._journal.seq if self._journal else self._seq}

    def reset(self, initial_cash: float | None = None) -> None:
        """Start over with the constructor's initial cash (or ``initial_cash``): a ``reset`` record.

        Positions, orders, fills and P&L are cleared (their history stays in the journal); quotes are kept.
        """
        if initial_cash is not None:
            self._initial_cash = section("paper", {"initial_cash": initial_cash}).initial_cash  # ConfigError if bad
        with self._lock:
            self._writable("reset")
            self._new_run(self._clock())

    def snapshot(self) -> None:
        """Write a snapshot of the whole account now (done every ``journal.snapshot_every`` records)."""
        with self._lock:
            self._writable("write snapshots")
            self._snapshot_now(self._clock())

    def close(self) -> None:
        """Write a final snapshot, close the journal and release the account (idempotent)."""
        with self._lock:
            journal = self._journal
            if journal is None or journal.closed:
                return
            try:
                if journal.seq > journal.last_snapshot_seq:
                    self.snapshot()
            except BrokerError:
                logger.exception("Could not write the closing snapshot of %s", self.account_dir)
            finally:
                journal.close()

    def __enter__(self) -> PaperBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PaperBroker(account={str(self.account_dir)!r}, cash={self._state.cash:.2f})"

    # ======================================================================
    # Journal: write one record, then apply it
    # ======================================================================
    def _writable(self, what: str) -> None:
        if self._journal is None:
            raise BrokerError(_READ_ONLY.format(what=what))
        if self._journal.closed:
            raise BrokerError(f"This paper broker was closed: it cannot {what}")

    def _commit(self, payload: dict[str, Any], apply: Callable[[int], Any] | None = None) -> dict[str, Any]:
        """Journal ``payload``, then ``apply(seq)`` the change to the state; snapshot when one is due.

        ``apply`` calls the very ``PaperState.apply_*`` method that recovery
        calls for this record (``recovery.apply_record``), with the same values.
        (``_submit``, the hot path, does the same three steps inline.)
        """
        journal = self._journal
        assert journal is not None
        rec = journal.append(payload)
        if apply is not None:
            apply(rec["seq"])
        self._changed(rec["ts"])
        return rec

    def _changed(self, ts: datetime) -> None:
        """After a change was applied: a snapshot every ``journal.snapshot_every`` records."""
        journal = self._journal
        assert journal is not None
        if journal.seq - journal.last_snapshot_seq >= self._snapshot_every:
            self._snapshot_now(ts)

    def _snapshot_now(self, ts: datetime) -> None:
        journal = self._journal
        assert journal is not None
        journal.append({"event": "snapshot", "ts": ts, "state": self._state.snapshot()})
        journal.last_snapshot_seq = journal.seq

    def _journal_reject(self, exc: BrokerError, req: OrderRequest, now: datetime) -> None:
        """Record a refused order (no state changes); a journal failure here is logged, the refusal still raised."""
        reason = exc.reason if isinstance(exc, OrderRejectedError) else str(exc)
        try:
            self._commit({"event": "reject", "ts": now, "symbol": req.symbol, "side": req.side, "qty": req.qty,
                         "order_type": req.order_type, "client_order_id": req.client_order_id,
                         "reason": reason, "error": type(exc).__name__})
        except BrokerError:
            logger.exception("Could not journal the rejection of an order (%s)", reason)

    def _order_result(self, order_id: Any) -> dict[str, Any]:
        """An order's result from memory, or from the journal if it left memory; ``OrderNotFoundError``."""
        oid = _order_id(order_id)
        order = self._state.orders.get(oid) or self._expired_here.get(oid)
        if order is not None:
            return order.result()
        tag, _, seq = oid.rpartition("-")
        if seq in _LEG_SUFFIXES:  # a bracket exit / OCO stop leg: "<tag>-<seq>-tp"
            tag, _, seq = tag.rpartition("-")
        if tag == self._state.tag and seq.isdigit() and self._state.epoch_seq < int(seq):
            upto = self._journal.seq if self._journal else self._seq
            found = find_order(self.account_dir, oid, int(seq), upto)
            if found is not None:
                return found
        raise OrderNotFoundError(oid)

    # ======================================================================
    # Order flow: decide, journal, apply
    # ======================================================================
    def _submit(self, req: OrderRequest, now: datetime) -> dict[str, Any]:
        journal = self._journal
        assert journal is not None
        order = PaperOrder(f"{self._state.tag}-{journal.seq + 1}", req, now)
        quote = None if self._hours == "always" else self._quote_for(order.symbol, now, required=False)
        if order.tif == TIF_DAY:
            order.expires_at = self._day_expiry(order.symbol, now, quote)
        fills: list[dict[str, Any]] = []
        rest: str | None = None
        status = STATUS_NEW
        queue = (quote is not None or self._hours == "calendar") and hours.decide(
            self._hours, self._outside, order.symbol, now, quote, order_type=order.order_type,
            time_in_force=order.tif, asset_classes=self._asset_classes).action == hours.QUEUE
        if queue:  # the market is closed: the order rests until it opens (a market order at the first open quote)
            if order.order_type == ORDER_TYPE_MARKET:
                if quote is None:
                    raise QuoteUnavailableError(order.symbol, "available to price a market order queued for the open")
                ref, size = (quote["ask"], quote["ask_size"]) if order.is_buy else (quote["bid"], quote["bid_size"])
                order.cap_price = costs.apply_slippage(ref, order.is_buy, self._engine.slippage.bps(order.qty, size))
            self._engine.check_can_open(order, self._mark)
            rest = self._state.rest_kind(order)
        elif order.order_type == ORDER_TYPE_MARKET:
            quote = self._quote_for(order.symbol, now)
            if self._respect_size:
                status = self._take_now(order, quote, now, fills, None)
            else:  # the hot path: fills in full at the quote plus slippage
                qty, is_buy = order.qty, order.is_buy
                ref = quote["ask"] if is_buy else quote["bid"]
                price = apply_slippage(ref, is_buy, self._slippage.bps(qty, quote["ask_size" if is_buy else "bid_size"]))
                fee = self._engine.fill_fee(order, qty, price, TAKER, self._mark)
                fills.append(self._fill(order, qty, price, fee, TAKER, ref, now, 0))
                status = STATUS_FILLED
        else:
            self._engine.check_can_open(order, self._mark)
            quote = self._quote_for(order.symbol, now, required=False)
            if order.order_type == ORDER_TYPE_LIMIT:
                if quote is not None and limit_marketable(order.is_buy, order.limit_price, quote):
                    status = self._take_now(order, quote, now, fills, order.limit_price)
                    rest = AS_LIMIT
                elif order.tif == TIF_FOK:
                    raise OrderRejectedError(order.symbol, "FOK order cannot be filled in full now (limit not marketable)")
                elif order.tif == TIF_IOC:
                    status = STATUS_CANCELLED
                else:
                    rest = AS_LIMIT
            elif quote is not None and stop_triggered(order.is_buy, order.stop_price, quote["bid"], quote["ask"]):
                order.triggered = True
                status, rest = self._at_trigger(order, quote, now, fills)
            else:
                rest = AS_STOP
        payload = {"event": "order", "ts": now, "order": order.spec(), "fills": [_compact(f) for f in fills],
                   "status": status}
        if rest is not None:
            payload["rest"] = rest
        seq = journal.append(payload)["seq"]
        self._state.apply_order(order, fills, status, rest, seq)
        self._changed(now)
        if fills and self._respect_size:
            self._after_fills(order, fills)
        return order.result()

    def _take_now(self, order: PaperOrder, quote: dict[str, Any], now: datetime, fills: list[dict[str, Any]],
                  limit: float | None) -> str:
        """Decide a taker fill of ``order`` now; append it to ``fills``; return the status after it.

        A refusal raises ``OrderRejectedError`` (a new order is then refused; a triggered one ends rejected).
        """
        avail = self._available(order.symbol, quote, order.is_buy) if self._respect_size else None
        take = self._engine.take(order, quote, avail, limit)
        if take.reason:
            raise OrderRejectedError(order.symbol, take.reason)
        if take.qty > QTY_EPSILON:
            fee = self._engine.fill_fee(order, take.qty, take.price, TAKER, self._mark)
            fills.append(self._fill(order, take.qty, take.price, fee, TAKER, take.ref, now, len(fills)))
        filled = order.filled_qty + sum(f["qty"] for f in fills)
        if filled >= order.qty - QTY_EPSILON:
            return STATUS_FILLED
        if order.tif == TIF_IOC or limit is None:
            return STATUS_CANCELLED
        return STATUS_PARTIALLY_FILLED if filled > 0 else STATUS_NEW

    def _at_trigger(self, order: PaperOrder, quote: dict[str, Any], now: datetime,
                    fills: list[dict[str, Any]]) -> tuple[str, str | None]:
        """What a stop does when triggered: (status, where it rests)."""
        if order.order_type == ORDER_TYPE_STOP or (order.is_trailing and order.limit_offset is None):
            return self._take_now(order, quote, now, fills, None), None
        limit = order.limit_price if order.limit_price is not None else trail_limit(order)
        if limit_marketable(order.is_buy, limit, quote):
            return self._take_now(order, quote, now, fills, limit), AS_LIMIT
        if order.tif == TIF_IOC:
            return STATUS_CANCELLED, None
        if order.tif == TIF_FOK:
            return STATUS_REJECTED, None
        return order.status, AS_LIMIT

    def _fill(self, order: PaperOrder, qty: float, price: float, fee: float, liquidity: str, ref: float,
              now: datetime, k: int) -> dict[str, Any]:
        if not (math.isfinite(price) and price > 0):
            raise OrderRejectedError(order.symbol, f"no valid fill price ({price!r})")
        notional = qty * price
        oid = order.order_id
        return {
            "order_id": oid, "fill_id": f"{oid}-f{order.nfills + k + 1}", "timestamp": now,
            "symbol": order.symbol, "side": order.side, "qty": qty, "fill_price": price, "notional": notional,
            "fee": fee, "fee_currency": self._state.currency, "venue": VENUE,
            "slippage_bps": (price / ref - 1.0) * 1e4 if order.is_buy else (1.0 - price / ref) * 1e4,
            "fee_bps": fee / notional * 1e4 if notional else 0.0, "liquidity": liquidity,
        }

    def _after_fills(self, order: PaperOrder, fills: list[dict[str, Any]]) -> None:
        """Displayed size used up by these fills (``respect_quote_size``)."""
        if self._respect_size and fills:
            avail = self._avail.get(order.symbol)
            if avail is not None:
                side = 1 if order.is_buy else 0
                avail[side] = max(0.0, avail[side] - sum(f["qty"] for f in fills))

    def _end(self, order: PaperOrder, status: str, event: str, reason: str) -> None:
        """Journal and apply the end of an open order (cancel, expiry, reject)."""
        payload = {"event": event, "ts": self._clock(), "order_id": order.order_id, "status": status,
                   "reason": reason, "filled_qty": order.filled_qty}
        links = self._links_after(order, 0.0, status) if order.order_list_id is not None else None
        if links:
            payload["links"] = links
        self._commit(payload, lambda seq: self._apply_with_links(
            lambda: self._state.apply_end(order.order_id, status), links, seq))

    # -- quotes and matching -----------------------------------------------------
    def _quote_for(self, symbol: str, now: datetime, required: bool = True) -> Any:
        quote = self._quotes.get(symbol)
        if quote is not None and (now - quote["timestamp"]).total_seconds() <= self._max_age:
            return quote
        if self._provider is not None:
            try:
                fresh = self._provider.get_quote(symbol)
            except DataProviderError as exc:
                if not required:
                    return None
                raise QuoteUnavailableError(symbol, f"available from the data provider: {exc}") from exc
            self._check_future(fresh, now)
            self._on_quote(fresh, now)
            quote = self._quotes.get(symbol)
            if quote is not None and (now - quote["timestamp"]).total_seconds() <= self._max_age:
                return quote
        if not required:
            return None
        if quote is None:
            raise QuoteUnavailableError(symbol)
        age = (now - quote["timestamp"]).total_seconds()
        raise QuoteUnavailableError(symbol, f"is stale: {age:.1f}s old (max_quote_age_s {self._max_age:g})")

    def _on_quote(self, quote: dict[str, Any], now: datetime) -> None:
        sym = quote["symbol"]
        held = self._quotes.get(sym)
        if held is not None and quote["timestamp"] < held["timestamp"]:
            logger.debug("Ignoring out-of-order quote for %s (%s < %s)", sym, quote["timestamp"], held["timestamp"])
            return
        if self._state.expiries:
            self._expire_due(now)
        self._quotes[sym] = quote
        self._avail[sym] = [quote["bid_size"], quote["ask_size"]]
        trails = self._state.trailing.get(sym)
        if trails and self._journal is not None:
            self._move_trails(trails, quote, now)
        book = self._state.books.get(sym)
        if book is not None and len(book) and self._journal is not None and hours.market_is_open(
                self._hours, sym, now, quote, asset_classes=self._asset_classes):
            self._match(book, quote, now)

    def _available(self, symbol: str, quote: dict[str, Any], is_buy: bool) -> float:
        avail = self._avail.get(symbol)
        if avail is None:
            avail = self._avail[symbol] = [quote["bid_size"], quote["ask_size"]]
        return avail[1] if is_buy else avail[0]

    def _match(self, book: Any, quote: dict[str, Any], now: datetime) -> None:
        """Trigger stops and fill resting limits that the quote reaches (O(log n + fills))."""
        bid, ask = quote["bid"], quote["ask"]
        while (queued := book.at_open.top()) is not None:  # market orders placed while the market was closed
            self._fill_at_open(queued, quote, now)
        while (hit := book.next_triggered_stop(bid, ask)) is not None:
            self._trigger(hit[0], quote, now)
        for is_buy in (True, False):
            while True:
                order = book.next_crossing_buy(ask) if is_buy else book.next_crossing_sell(bid)
                if order is None:
                    break
                qty = order.qty - order.filled_qty
                if self._respect_size:
                    qty = min(qty, self._available(order.symbol, quote, is_buy))
                    if qty <= QTY_EPSILON:
                        break
                price = min(order.limit_price, ask) if is_buy else max(order.limit_price, bid)
                try:
                    fee = self._engine.fill_fee(order, qty, price, MAKER, self._mark)
                except InsufficientFundsError as exc:  # e.g. a short sell that margin no longer covers
                    self._end(order, STATUS_REJECTED, "reject", exc.reason)
                    continue
                fill = self._fill(order, qty, price, fee, MAKER, ask if is_buy else bid, now, 0)
                status = STATUS_FILLED if order.filled_qty + qty >= order.qty - QTY_EPSILON else STATUS_PARTIALLY_FILLED
                self._write_fill(order, fill, status, None, now, triggered=False)
                if order.is_open:
                    break  # liquidity used up; the rest waits for the next quote

    def _fill_at_open(self, order: PaperOrder, quote: dict[str, Any], now: datetime) -> None:
        """A market order queued while the market was closed meets the first quote after the open."""
        fills: list[dict[str, Any]] = []
        try:
            status = self._take_now(order, quote, now, fills, None)
        except OrderRejectedError as exc:  # e.g. the open gapped beyond the cash it reserved
            self._end(order, STATUS_REJECTED, "reject", exc.reason)
            return
        if fills:
            self._write_fill(order, fills[0], status, None, now, triggered=False)
        else:
            self._end(order, STATUS_CANCELLED, "cancel", "nothing fillable at the open")

    def _trigger(self, order: PaperOrder, quote: dict[str, Any], now: datetime) -> None:
        """A resting stop reached its trigger: one record says what happened."""
        fills: list[dict[str, Any]] = []
        try:
            status, rest = self._at_trigger(order, quote, now, fills)
            reason = "ioc: nothing fillable at trigger" if status == STATUS_CANCELLED else (
                "fok: cannot fill in full at trigger" if status == STATUS_REJECTED else "")
        except OrderRejectedError as exc:
            fills, status, rest, reason = [], STATUS_REJECTED, None, exc.reason
        if fills:
            self._write_fill(order, fills[0], status, rest, now, triggered=True)
        elif status in FINAL_STATUSES:
            self._end(order, status, "cancel" if status == STATUS_CANCELLED else "reject", reason)
        else:
            self._commit({"event": "trigger", "ts": now, "order_id": order.order_id, "rest": AS_LIMIT},
                         lambda seq: self._state.apply_trigger(order.order_id, seq))

    def _write_fill(self, order: PaperOrder, fill: dict[str, Any], status: str, rest: str | None,
                    now: datetime, triggered: bool) -> None:
        links = None
        if order.order_list_id is not None:
            status = self._leg_status(order, status)
            links = self._links_after(order, fill["qty"], status)
        payload = {"event": "fill", "ts": now, **fill, "status": status, "rest": rest, "triggered": triggered}
        if links:
            payload["links"] = links
        self._commit(payload, lambda seq: self._apply_with_links(
            lambda: self._state.apply_fill(order.order_id, fill, status, rest, seq, triggered), links, seq))
        self._after_fills(order, [fill])

    def _mark(self, symbol: str) -> float:
        quote = self._quotes.get(symbol)
        if quote is not None:
            return (quote["bid"] + quote["ask"]) / 2.0
        pos = self._state.positions.get(symbol)
        return pos.avg_cost if pos is not None else 0.0

    # -- time ----------------------------------------------------------------
    def _expire_due(self, now: datetime) -> None:
        heap = self._state.expiries
        while heap and heap[0][0] <= now:
            order = heapq.heappop(heap)[2]
            if order.is_open and self._journal is not None:
                assert order.expires_at is not None
                self._end(order, STATUS_EXPIRED, "expire", f"day order expired at {order.expires_at.isoformat()}")
            elif order.is_open:  # read-only: show the expiry without writing it
                self._state.apply_end(order.order_id, STATUS_EXPIRED)
                self._expired_here[order.order_id] = order


#: the id suffixes of the legs of a bracket / OCO that are not its first order (``PaperBroker.submit_bracket``)
_LEG_SUFFIXES = frozenset({"tp", "sl", "stp"})


def _compact(f: dict[str, Any]) -> dict[str, Any]:
    """A fill as an ``order`` record holds it (``recovery.COMPACT_FILL_KEYS``: the rest comes from the order)."""
    return {"fill_id": f["fill_id"], "qty": f["qty"], "fill_price": f["fill_price"], "notional": f["notional"],
            "fee": f["fee"], "slippage_bps": f["slippage_bps"], "fee_bps": f["fee_bps"], "liquidity": f["liquidity"]}


def _order_id(order_id: Any) -> str:
    if not isinstance(order_id, str) or not order_id:
        raise OrderNotFoundError(str(order_id), f"Order not found: order ids are non-empty strings, got {order_id!r}")
    return order_id


def _checked_clock(clock: Any) -> Clock:
    """``clock`` if it is a callable returning an aware datetime; ``ConfigError`` otherwise."""
    if clock is None:
        return utc_now
    if not callable(clock):
        raise ConfigError(f"clock must be a callable returning an aware UTC datetime, got {clock!r}")
    try:
        now = clock()
        ensure_utc(now, "clock()")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"clock must return an aware UTC datetime: {exc}") from None
    return clock


__all__ = ["SIDE_BUY", "SIDE_SELL", "PaperBroker", "PaperConfig"]
