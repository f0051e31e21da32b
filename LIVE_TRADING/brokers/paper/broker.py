"""PaperBroker: a realistic simulated venue behind the Broker protocol.

This module is the facade (construction, the Broker protocol, account views,
the journal commit); the write path is ``flow.OrderFlow`` and order
management ``management.OrderManagement``. It is longer than 400 lines because
this docstring is the paper venue's reference documentation (about 170 lines).

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

import functools
import inspect
import logging
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
from LIVE_TRADING.brokers.paper.engine import Engine
from LIVE_TRADING.brokers.paper.flow import _LEG_SUFFIXES, OrderFlow, _order_id
from LIVE_TRADING.brokers.paper.hotpath import MarketHotPath
from LIVE_TRADING.brokers.paper.management import OrderManagement
from LIVE_TRADING.brokers.paper.orders import VENUE, PaperOrder
from LIVE_TRADING.brokers.paper.recovery import (
    find_order,
    read_fills,
    read_orders,
    recover,
)
from LIVE_TRADING.brokers.paper.state import PaperState
from LIVE_TRADING.brokers.validation import (
    OrderRequest,
    clean_symbol,
    validate_order,
)
from LIVE_TRADING.common.clock import Clock, ensure_utc, utc_now
from LIVE_TRADING.common.constants import (
    ORDER_TYPE_MARKET,
    SIDE_BUY,
    SIDE_SELL,
    STATUS_CANCELLED,
    TIF_GTC,
)
from LIVE_TRADING.common.exceptions import (
    BrokerError,
    ConfigError,
    DataProviderError,
    DuplicateClientOrderIdError,
    InvalidQuoteError,
    OrderNotFoundError,
    OrderRejectedError,
    QuoteUnavailableError,
)
from LIVE_TRADING.common.journal import Journal, new_run_id, scan
from LIVE_TRADING.common.settings import section
from LIVE_TRADING.common.symbols import configured_asset_classes
from LIVE_TRADING.data.provider import KnowsSymbols, QuoteSource, check_known, quote_errors
from LIVE_TRADING.data.quotes import Quote, QuoteBatch, make_quote, mid_price, quote_field

logger = logging.getLogger(__name__)

_READ_ONLY = "This paper broker was opened read-only (read_only=True): it cannot {what}"


class PaperBroker(MarketHotPath, OrderManagement, OrderFlow):
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
        #: the provider, if it can tell an unknown symbol (``KnowsSymbols``; asked once, not for every order)
        self._knows = self._provider if isinstance(self._provider, KnowsSymbols) else None
        self._lock = threading.RLock()
        self._quotes: dict[str, dict[str, Any]] = {}
        #: the latest timestamp of any quote taken (``OrderFlow._on_batch``: a batch none older stores at once)
        self._newest_quote: datetime | None = None
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
        #: raw symbol -> its clean form (``validation.clean_symbol``), for the hot path of ``submit_order``
        self._clean_symbols: dict[str, str] = {}
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
        if ((order_type is ORDER_TYPE_MARKET or (type(order_type) is str and order_type == ORDER_TYPE_MARKET))
                and (time_in_force is TIF_GTC or (type(time_in_force) is str and time_in_force == TIF_GTC))
                and limit_price is None and stop_price is None and client_order_id is None
                and trail_amount is None and trail_percent is None and limit_offset is None):
            done = self._plain_market(symbol, side, qty)  # the hot path (``hotpath.MarketHotPath``)
            if done is not None:
                return done
        req = validate_order(symbol, side, qty, order_type, limit_price, stop_price, time_in_force,
                             client_order_id, trail_amount, trail_percent, limit_offset)
        if self._knows is not None:  # an unknown symbol is bad input: "did you mean AAPL?"
            check_known(self._knows, req.symbol)
        self._check_min_qty(req)
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

    def _check_min_qty(self, req: Any) -> None:
        """Orders below ``paper.min_qty`` are bad input: refused before anything is written."""
        if req.qty < self.config.min_qty:
            raise OrderRejectedError(req.symbol, f"qty {req.qty:g} is below the minimum {self.config.min_qty:g}")

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
            if self._state.expiries:  # (a day order may have expired since)
                self._expire_due(self._clock())
            return [o.result() for o in self._state.open.values()]

    def get_positions(self) -> dict[str, float]:
        with self._lock:
            return {s: qty for s, p in self._state.positions.items() if (qty := p.qty) != 0.0}

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
            mem = st.fills_in_memory()
            if st.fills_from_seq > st.epoch_seq + 1 and (since is None or not mem or mem[0]["timestamp"] >= since):
                mem = read_fills(self.account_dir, st.epoch_seq + 1, st.fills_from_seq, st.currency) + mem
            return mem if since is None else [f for f in mem if f["timestamp"] >= since]

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

    def _day_expiry(self, symbol: str, now: datetime, quote: Any) -> datetime:
        """When a ``day`` order placed now expires (``hours.day_expiry``: session close or end_of_day_utc)."""
        return hours.day_expiry(symbol, now, self._hours, quote=quote, eod=self._eod,
                                asset_classes=self._asset_classes)

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
        is taken as it is (only its time is checked against the clock); so is
        a whole ``QuoteBatch`` (one look at its newest time).
        """
        if type(quotes) is QuoteBatch:  # checked when it was built: only its time is looked at, once
            with self._lock:
                now = self._clock()
                if quotes.newest <= now + self._max_future:
                    self._on_batch(quotes, now)
                    return
            # (one is from the future: the general path below names it)
        if type(quotes) is dict:  # what providers return
            items: Iterable[Any] = quotes.values()
        elif isinstance(quotes, str | bytes) or not isinstance(quotes, Mapping | Iterable):
            raise InvalidQuoteError(f"apply_quotes takes a mapping or a list of quotes, got {type(quotes).__name__}")
        else:
            items = quotes.values() if isinstance(quotes, Mapping) else quotes
        with self._lock:
            now = self._clock()
            latest = now + self._max_future  # a later timestamp is refused (_check_future says why)
            if type(quotes) is dict:  # what providers return: usually all ``Quote``, none from the future
                for q in items:
                    if type(q) is not Quote or quote_field(q, "timestamp") > latest:
                        break
                else:
                    self._on_quotes(items, now)
                    return
            checked = []
            for q in items:
                if type(q) is Quote:  # built, and so checked, by make_quote
                    if quote_field(q, "timestamp") > latest:
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
            self._on_quotes(checked, now)

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
            return self._engine.equity(self._quotes)

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
                "equity": self._engine.equity(self._quotes),
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
        known = self._state.order_result(oid)
        if known is not None:
            return known
        order = self._expired_here.get(oid)
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


#: ``utc_now`` without its Python frame (the clock is read once per order): ``datetime.now(UTC)`` itself
_UTC_NOW: Clock = functools.partial(datetime.now, UTC)
_SYSTEM_CLOCK = utc_now


def _checked_clock(clock: Any) -> Clock:
    """``clock`` if it is a callable returning an aware datetime; ``ConfigError`` otherwise.

    No clock is the system clock, ``utc_now`` (read from this module when called, so a
    test may stand a fixed time in for it); the real one is replaced by ``_UTC_NOW``.
    """
    if clock is None:
        clock = utc_now
    if clock is _SYSTEM_CLOCK:
        return _UTC_NOW
    if not callable(clock):
        raise ConfigError(f"clock must be a callable returning an aware UTC datetime, got {clock!r}")
    try:
        now = clock()
        ensure_utc(now, "clock()")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"clock must return an aware UTC datetime: {exc}") from None
    return clock

__all__ = ["SIDE_BUY", "SIDE_SELL", "PaperBroker", "PaperConfig"]
