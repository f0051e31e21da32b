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
* **Time in force** ``gtc`` (default); ``day`` expires at the first
  ``paper.end_of_day_utc`` (HH:MM UTC, default 00:00) after it was placed;
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
Every accepted order, fill, cancel, expiry and reject is written to the JSONL
journal (``LIVE_TRADING.common.journal``) *before* the in-memory state changes
and before the call returns; if the journal cannot be written the call raises
``BrokerError`` and the state stays as journaled. ``PaperBroker(resume=True)``
rebuilds cash, positions, P&L, orders (open ones back in the book, with their
reservations), fills and the id counter from the latest run in ``log_dir`` and
continues that run.

Quotes
------
``set_quote`` feeds quotes by hand (tests, simulations). With a data provider
(``data_provider=`` or config ``paper.data_provider``), an order that needs a
quote and has none fresher than ``paper.max_quote_age_s`` asks the provider;
``update_quotes(symbols)`` pulls a batch and matches resting orders (call it
once per pipeline step). A quote older than the limit is refused with
``QuoteUnavailableError`` ("No quote for X is stale: ...").

Cancels
-------
``cancel_order`` of an open order returns it ``cancelled`` and releases what it
reserved. Cancelling an order that already ended returns its final state (no
error, nothing changes); an unknown id raises ``OrderNotFoundError``.

All state changes happen under one lock: one PaperBroker may be shared by
several threads.
"""

from __future__ import annotations

import heapq
import inspect
import logging
import threading
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from LIVE_TRADING.brokers.paper import costs
from LIVE_TRADING.brokers.paper.config import PaperConfig
from LIVE_TRADING.brokers.paper.costs import MAKER, TAKER, apply_slippage, fill_fee
from LIVE_TRADING.brokers.paper.ledger import Position
from LIVE_TRADING.brokers.paper.matching import SymbolBook, limit_marketable, stop_triggered
from LIVE_TRADING.brokers.paper.orders import VENUE, PaperOrder
from LIVE_TRADING.brokers.paper.recovery import replay_run
from LIVE_TRADING.brokers.validation import OrderRequest, clean_symbol, validate_order
from LIVE_TRADING.common.clock import Clock, ensure_utc, utc_now
from LIVE_TRADING.common.constants import (
    EVENT_CANCEL,
    EVENT_EXPIRE,
    EVENT_FILL,
    EVENT_REJECT,
    EVENT_SESSION,
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
    STATUS_PARTIALLY_FILLED,
    STATUS_REJECTED,
    TIF_DAY,
    TIF_FOK,
    TIF_IOC,
)
from LIVE_TRADING.common.exceptions import (
    BrokerError,
    DataProviderError,
    InsufficientFundsError,
    OrderNotFoundError,
    OrderRejectedError,
    QuoteUnavailableError,
)
from LIVE_TRADING.common.journal import Journal, latest_run_id
from LIVE_TRADING.common.settings import SettingsReader
from LIVE_TRADING.data.provider import require_known
from LIVE_TRADING.data.quotes import make_quote, mid_price

logger = logging.getLogger(__name__)


class PaperBroker:
    """Simulated broker implementing the Broker protocol (see the module docstring).

    Keyword arguments override the config (``live_trading.paper.*``); ``None``
    means "use the config", ``0`` means zero.

    Args:
        initial_cash: starting cash (``reset()`` returns to it).
        slippage_bps: slippage of the ``fixed_bps`` model.
        fee_bps: fee of the ``bps`` model.
        log_dir: journal directory (default ``logs/paper_trades``).
        clock: callable returning an aware UTC datetime (default: system time).
        data_provider: a ``DataProvider`` or the name of one (``"sim"``, ...).
        resume: continue the latest run journaled in ``log_dir``.
        fsync: fsync each journal record.
        slippage_model / fee_model: a model name (see ``costs``) or a model object.
        respect_quote_size, allow_short, margin_requirement, end_of_day_utc,
        max_quote_age_s: see the module docstring.
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
    ) -> None:
        self.config = cfg = PaperConfig.from_config(
            slippage_bps=slippage_bps,
            fee_bps=fee_bps,
            initial_cash=initial_cash,
            log_dir=log_dir,
            resume=resume,
            fsync=fsync,
            slippage_model=slippage_model,
            fee_model=fee_model,
            respect_quote_size=respect_quote_size,
            allow_short=allow_short,
            margin_requirement=margin_requirement,
            end_of_day_utc=end_of_day_utc,
            max_quote_age_s=max_quote_age_s,
            data_provider=data_provider,
            currency=currency,
        )
        self._clock: Clock = clock or utc_now
        self._slippage: costs.SlippageModel = (
            slippage_model if slippage_model is not None and not isinstance(slippage_model, str)
            else cfg.make_slippage_model()
        )
        self._fees: costs.FeeModel = (
            fee_model if fee_model is not None and not isinstance(fee_model, str) else cfg.make_fee_model()
        )
        self._impact = costs.SqrtImpact(cfg.slippage_base_bps, cfg.slippage_impact_bps)
        self._slippage_bps = cfg.slippage_bps  # seed attribute names, kept for compatibility
        self._fee_bps = cfg.fee_bps
        self._initial_cash = cfg.initial_cash
        self._respect_size = cfg.respect_quote_size
        self._allow_short = cfg.allow_short
        self._max_age = cfg.max_quote_age_s
        hh, mm = (int(x) for x in cfg.end_of_day_utc.split(":"))
        self._eod = time(hh, mm)
        self._provider = self._make_provider(data_provider if data_provider is not None else cfg.data_provider)
        self._lock = threading.RLock()
        self._log_dir = Path(cfg.log_dir)
        self._init_state(cfg.initial_cash)
        run_id = latest_run_id(self._log_dir) if cfg.resume else None
        self._journal = Journal(self._log_dir, run_id=run_id, fsync=cfg.fsync, clock=self._clock)
        if run_id is not None:
            replay_run(self, run_id)
        self._journal.write(
            EVENT_SESSION,
            {
                "venue": VENUE,
                "initial_cash": self._initial_cash,
                "resumed": run_id is not None,
                "settings": {k: v for k, v in asdict(cfg).items() if k != "data_provider"},
            },
        )

    # -- construction helpers ----------------------------------------------
    def _init_state(self, cash: float) -> None:
        self._cash = float(cash)
        self._reserved_cash = 0.0
        self._reserved_sell: dict[str, float] = {}
        self._positions: dict[str, Position] = {}
        self._orders: dict[str, PaperOrder] = {}
        self._open: dict[str, PaperOrder] = {}
        self._by_cid: dict[str, PaperOrder] = {}
        self._fills: list[dict[str, Any]] = []
        self._books: dict[str, SymbolBook] = {}
        self._expiries: list[tuple[datetime, int, PaperOrder]] = []
        self._seq = 0
        self._quotes: dict[str, dict[str, Any]] = getattr(self, "_quotes", {})
        self._avail: dict[str, list[float]] = getattr(self, "_avail", {})

    def _make_provider(self, spec: Any) -> Any:
        if spec is None:
            return None
        if not isinstance(spec, str):
            return spec
        from LIVE_TRADING.data.provider import get_data_provider

        kwargs: dict[str, Any] = {}
        try:
            from LIVE_TRADING.brokers.interface import resolve_target
            from LIVE_TRADING.data.provider import _PROVIDERS

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
        return self._journal

    @property
    def run_id(self) -> str:
        return self._journal.run_id

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
    ) -> dict[str, Any]:
        """Place an order (see the module docstring for how each type fills)."""
        try:
            req = validate_order(
                symbol, side, qty, order_type, limit_price, stop_price, time_in_force, client_order_id
            )
            require_known(self._provider, req.symbol)  # issue 16: "did you mean AAPL?"
        except OrderRejectedError as exc:
            self._journal_reject(exc, {"symbol": repr(symbol), "side": repr(side), "qty": repr(qty),
                                       "order_type": repr(order_type)})
            raise
        with self._lock:
            now = self._clock()
            if self._expiries:
                self._expire_due(now)
            if req.client_order_id is not None:
                existing = self._by_cid.get(req.client_order_id)
                if existing is not None:
                    return existing.result()
            try:
                return self._submit(req, now)
            except (OrderRejectedError, QuoteUnavailableError) as exc:
                self._journal_reject(exc, {"symbol": req.symbol, "side": req.side, "qty": req.qty,
                                           "order_type": req.order_type,
                                           "client_order_id": req.client_order_id})
                raise

    def cancel_order(self, order_id: str) -> dict[str, Any]:
        """Cancel an open order. A final order's result is returned unchanged; unknown ids raise."""
        with self._lock:
            self._expire_due(self._clock())
            order = self._orders.get(order_id)
            if order is None:
                raise OrderNotFoundError(order_id)
            if order.status in FINAL_STATUSES:
                return order.result()
            self._end(order, STATUS_CANCELLED, EVENT_CANCEL, "cancelled by user")
            return order.result()

    def get_order(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            self._expire_due(self._clock())
            order = self._orders.get(order_id)
            if order is None:
                raise OrderNotFoundError(order_id)
            return order.result()

    def get_open_orders(self) -> list[dict[str, Any]]:
        with self._lock:
            self._expire_due(self._clock())
            return [o.result() for o in self._open.values()]

    def get_positions(self) -> dict[str, float]:
        with self._lock:
            return {s: p.qty for s, p in self._positions.items() if p.qty != 0.0}

    def get_cash(self) -> float:
        """Cash available for new orders: cash minus what open BUY orders reserve."""
        with self._lock:
            return float(self._cash - self._reserved_cash)

    def get_fills(self, since: datetime | None = None) -> list[dict[str, Any]]:
        with self._lock:
            if since is None:
                return [dict(f) for f in self._fills]
            since = ensure_utc(since, "since")
            i = bisect_left(self._fills, since, key=lambda f: f["timestamp"])
            return [dict(f) for f in self._fills[i:]]

    def get_quote(self, symbol: str) -> dict[str, Any]:
        """The latest quote if fresh, else one from the data provider; ``QuoteUnavailableError`` otherwise."""
        sym = clean_symbol(symbol)
        with self._lock:
            return dict(self._quote_for(sym, self._clock()))

    def now(self) -> datetime:
        return self._clock()

    # ======================================================================
    # Extras
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
        non-positive or crossed (bid > ask) prices or negative sizes.
        """
        quote = make_quote(symbol, bid, ask, bid_size, ask_size, timestamp or self._clock())
        with self._lock:
            self._on_quote(quote, self._clock())

    def update_quotes(self, symbols: list[str] | tuple[str, ...]) -> dict[str, dict[str, Any]]:
        """Pull quotes for ``symbols`` from the data provider and match resting orders.

        Returns the quotes received. Symbols the provider could not quote are
        logged and listed in ``data_provider.last_errors``; the others still apply.
        """
        if self._provider is None:
            raise BrokerError(
                "update_quotes needs a data provider: PaperBroker(data_provider=...) or live_trading.paper.data_provider"
            )
        quotes = self._provider.get_multiple_quotes(list(symbols))
        errors = getattr(self._provider, "last_errors", None)
        if errors:
            logger.warning("No quotes for %s: %s", ", ".join(sorted(errors)), errors)
        self.apply_quotes(quotes)
        return quotes

    def apply_quotes(self, quotes: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]]) -> None:
        """Take quotes fetched elsewhere (``{symbol: Quote}`` or a list of ``Quote``) and match resting orders.

        For pipelines that pull quotes from their own provider: the paper
        broker then prices and fills against the very same quotes. Each quote
        is checked like ``set_quote``'s (``InvalidQuoteError``); none is applied
        if one is invalid.
        """
        items = quotes.values() if isinstance(quotes, Mapping) else quotes
        checked = [
            make_quote(q["symbol"], q["bid"], q["ask"], q.get("bid_size", 0.0), q.get("ask_size", 0.0),
                       q.get("timestamp") or self._clock())
            for q in items
        ]
        with self._lock:
            now = self._clock()
            for quote in checked:
                self._on_quote(quote, now)

    def get_portfolio_value(self) -> float:
        """Cash plus positions marked at mid (at average cost where no quote is known)."""
        with self._lock:
            return self._equity()

    def get_position_details(self) -> dict[str, dict[str, float | None]]:
        """Per symbol: qty, avg_cost, market_price (mid), market_value, unrealized_pnl, realized_pnl, fees.

        Symbols that were traded and are now flat are included (their realized P&L stays).
        """
        with self._lock:
            out: dict[str, dict[str, float | None]] = {}
            for sym, p in self._positions.items():
                quote = self._quotes.get(sym)
                mark = mid_price(quote) if quote else None
                unreal = (mark - p.avg_cost) * p.qty if (mark is not None and p.qty) else 0.0
                out[sym] = {
                    "qty": p.qty,
                    "avg_cost": p.avg_cost if p.qty else None,
                    "market_price": mark,
                    "market_value": p.qty * (mark if mark is not None else p.avg_cost),
                    "unrealized_pnl": unreal,
                    "realized_pnl": p.realized_pnl,
                    "fees": p.fees,
                }
            return out

    def get_account_summary(self) -> dict[str, float]:
        """Cash, reserved cash, equity, realized/unrealized P&L and fees paid, account-wide."""
        with self._lock:
            details = self.get_position_details()
            return {
                "cash": self._cash,
                "reserved_cash": self._reserved_cash,
                "available_cash": self._cash - self._reserved_cash,
                "equity": self._equity(),
                "realized_pnl": sum(d["realized_pnl"] or 0.0 for d in details.values()),
                "unrealized_pnl": sum(d["unrealized_pnl"] or 0.0 for d in details.values()),
                "fees": sum(d["fees"] or 0.0 for d in details.values()),
                "initial_cash": self._initial_cash,
            }

    def venue_health(self) -> dict[str, Any]:
        """Status for ``health()``: the simulator is always connected."""
        with self._lock:
            return {"connected": True, "open_orders": len(self._open), "quotes": len(self._quotes),
                    "journal": str(self._journal.path or self._log_dir)}

    def reset(self, initial_cash: float | None = None) -> None:
        """Start over with the constructor's initial cash (or ``initial_cash``), as a new journal run.

        Positions, orders, fills and P&L are cleared; quotes are kept.
        """
        if initial_cash is not None:
            reader = SettingsReader("paper", {"initial_cash": initial_cash})
            cash = reader.number("initial_cash", ge=0)
            reader.finish()  # ConfigError naming the bad value
            assert cash is not None
            self._initial_cash = cash
        with self._lock:
            old = self._journal
            self._journal = Journal(self._log_dir, fsync=old.fsync, clock=self._clock)
            old.close()
            self._journal.write(EVENT_SESSION, {"venue": VENUE, "initial_cash": self._initial_cash,
                                                "resumed": False, "reset_of": old.run_id})
            self._init_state(self._initial_cash)

    def close(self) -> None:
        """Close the journal file now (a later write opens it again); call when done with the broker."""
        self._journal.close()

    def __enter__(self) -> PaperBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PaperBroker(run_id={self.run_id!r}, cash={self._cash:.2f}, log_dir={str(self._log_dir)!r})"

    # ======================================================================
    # Order flow
    # ======================================================================
    def _next_id(self) -> str:
        self._seq += 1
        return f"{self._journal.run_id}-{self._seq}"

    def _submit(self, req: OrderRequest, now: datetime) -> dict[str, Any]:
        order = PaperOrder(self._next_id(), req, now, now.isoformat())
        if order.tif == TIF_DAY:
            order.expires_at = self._end_of_day(now)
        if order.order_type == ORDER_TYPE_MARKET:
            quote = self._quote_for(order.symbol, now)
            if self._respect_size:
                self._take(order, quote, now, new=True)
            else:  # the hot path: fills in full at the quote plus slippage
                if order.is_buy:
                    ref = quote["ask"]
                    price = ref * (1.0 + self._slippage.bps(order.qty, quote["ask_size"]) * 1e-4)
                else:
                    ref = quote["bid"]
                    price = ref * (1.0 - self._slippage.bps(order.qty, quote["bid_size"]) * 1e-4)
                self._execute(order, order.qty, price, TAKER, ref, now, new=True)
        else:
            self._check_can_open(order)
            quote = self._quote_for(order.symbol, now, required=False)
            if order.order_type == ORDER_TYPE_LIMIT:
                self._accept_limit(order, quote, now)
            else:
                self._accept_stop(order, quote, now)
        return order.result()

    def _accept_limit(self, order: PaperOrder, quote: dict[str, Any] | None, now: datetime) -> None:
        marketable = quote is not None and limit_marketable(order.is_buy, order.limit_price, quote)
        if marketable:
            assert quote is not None
            self._take(order, quote, now, new=True, limit=order.limit_price)
            return
        if order.tif == TIF_FOK:
            raise OrderRejectedError(order.symbol, "FOK order cannot be filled in full now (limit not marketable)")
        if order.tif == TIF_IOC:
            self._register(order)
            self._end(order, STATUS_CANCELLED, EVENT_CANCEL, "ioc: nothing fillable now")
            return
        self._rest(order)

    def _accept_stop(self, order: PaperOrder, quote: dict[str, Any] | None, now: datetime) -> None:
        if quote is not None and stop_triggered(order.is_buy, order.stop_price, quote["bid"], quote["ask"]):
            self._register(order, reserve=True)
            self._trigger(order, quote, now)
            return
        self._rest(order)

    def _trigger(self, order: PaperOrder, quote: dict[str, Any], now: datetime) -> None:
        """A stop reached its trigger: journal it, then act as a market order (stop) or a limit (stop-limit)."""
        if order.queue is not None:
            order.queue.discard(order)
        order.triggered = True
        self._journal.write_records([order.record(self._journal.run_id, now.isoformat())])
        try:
            if order.order_type == ORDER_TYPE_STOP:
                self._take(order, quote, now)
            elif limit_marketable(order.is_buy, order.limit_price, quote):
                self._take(order, quote, now, limit=order.limit_price)
            elif order.tif == TIF_IOC:
                self._end(order, STATUS_CANCELLED, EVENT_CANCEL, "ioc: nothing fillable at trigger")
            elif order.tif == TIF_FOK:
                self._end(order, STATUS_REJECTED, EVENT_REJECT, "fok: cannot fill in full at trigger")
            else:
                self._book(order.symbol).rest_limit(order, order.is_buy)
        except OrderRejectedError as exc:
            self._end(order, STATUS_REJECTED, EVENT_REJECT, exc.reason)

    def _take(
        self,
        order: PaperOrder,
        quote: dict[str, Any],
        now: datetime,
        *,
        new: bool = False,
        limit: float | None = None,
    ) -> None:
        """Fill ``order`` against ``quote`` as a taker (market, marketable limit, triggered stop).

        ``new``: the order is being submitted (its ``order`` record goes in the
        same journal write as its first fill, and a refusal raises instead of
        ending the order).
        """
        is_buy = order.is_buy
        ref = quote["ask"] if is_buy else quote["bid"]
        displayed = quote["ask_size"] if is_buy else quote["bid_size"]
        remaining = order.qty - order.filled_qty
        qty = remaining
        bps = self._slippage.bps(qty, displayed)
        if self._respect_size:
            avail = self._available(order.symbol, quote, is_buy)
            if remaining > avail + QTY_EPSILON:
                if order.tif == TIF_FOK:
                    reason = f"fok: only {avail:g} displayed of {remaining:g} wanted"
                    if new:
                        raise OrderRejectedError(order.symbol, reason)
                    self._end(order, STATUS_REJECTED, EVENT_REJECT, reason)
                    return
                if limit is not None or order.tif == TIF_IOC:
                    qty = avail
                else:  # a market order walks the book: worse price through the impact model
                    bps = max(bps, self._impact.bps(qty, avail))
        price = apply_slippage(ref, is_buy, bps)
        if limit is not None:
            price = min(price, limit) if is_buy else max(price, limit)
        if qty > QTY_EPSILON:
            self._execute(order, qty, price, TAKER, ref, now, new=new)
        elif new:
            self._register(order)
        if not order.is_open:
            return
        if order.tif == TIF_IOC or (limit is None and order.order_type != ORDER_TYPE_STOP_LIMIT):
            self._end(order, STATUS_CANCELLED, EVENT_CANCEL, "ioc: remainder cancelled"
                      if order.tif == TIF_IOC else "no liquidity for the remainder")
        elif order.queue is None:
            if new:
                self._reserve(order)
            self._book(order.symbol).rest_limit(order, is_buy)
            if order.tif == TIF_DAY and new:
                self._schedule_expiry(order)

    def _register(self, order: PaperOrder, reserve: bool = False, journal: bool = True, is_open: bool = True) -> None:
        """Journal the order's acceptance (unless already done) and make the order known."""
        if journal:
            self._journal.write_records([order.record(self._journal.run_id, order.created_iso)])
        self._orders[order.order_id] = order
        if is_open:
            self._open[order.order_id] = order
        if order.client_order_id is not None:
            self._by_cid[order.client_order_id] = order
        if reserve:
            self._reserve(order)
            if order.tif == TIF_DAY:
                self._schedule_expiry(order)

    def _rest(self, order: PaperOrder) -> None:
        """Accept an order that rests (limit not marketable, stop not triggered)."""
        self._register(order, reserve=True)
        book = self._book(order.symbol)
        if order.order_type == ORDER_TYPE_LIMIT or order.triggered:
            book.rest_limit(order, order.is_buy)
        else:
            book.rest_stop(order, order.is_buy)

    def _end(self, order: PaperOrder, status: str, event: str, reason: str) -> None:
        """Journal and apply the end of an open order (cancel, expiry, reject)."""
        self._journal.write(event, {"order_id": order.order_id, "status": status, "reason": reason,
                                    "filled_qty": order.filled_qty})
        self._close(order, status)

    def _close(self, order: PaperOrder, status: str) -> None:
        order.status = status
        if order.queue is not None:
            order.queue.discard(order)
        self._release(order)
        self._open.pop(order.order_id, None)

    # -- fills ---------------------------------------------------------------
    def _check_fill_funds(self, order: PaperOrder, qty: float, price: float, liquidity: str) -> float:
        """Raise ``InsufficientFundsError`` unless ``order`` can take a fill of ``qty`` at ``price``; return its fee."""
        notional = qty * price
        fee = fill_fee(self._fees, order.filled_qty, order.filled_notional, qty, notional, liquidity)
        if order.is_buy:
            available = self._cash - self._reserved_cash + order.reserved_cash
            if notional + fee > available + 1e-9:
                raise InsufficientFundsError(
                    order.symbol, f"Insufficient cash: need ${notional + fee:,.2f}, have ${available:,.2f}"
                )
        else:
            pos = self._positions.get(order.symbol)
            held = pos.qty if pos is not None else 0.0
            free = held - self._reserved_sell.get(order.symbol, 0.0) + order.reserved_qty
            if qty > free + QTY_EPSILON:
                if not self._allow_short:
                    raise InsufficientFundsError(
                        order.symbol, f"Insufficient position: need {qty:g}, have {max(free, 0.0):g} available"
                    )
                cost = fee + max(0.0, (self._mark(order.symbol) - price) * qty)
                self._check_margin(order.symbol, free - qty, price, cost)
        return fee

    def _check_margin(self, symbol: str, short_after: float, price: float, cost: float) -> None:
        """Shorting: equity must stay >= margin_requirement x gross short value."""
        req = self.config.margin_requirement
        gross = 0.0
        for sym, pos in self._positions.items():
            if sym == symbol:
                continue
            exposure = pos.qty - self._reserved_sell.get(sym, 0.0)
            if exposure < 0:
                gross += -exposure * self._mark(sym)
        if short_after < 0:
            gross += -short_after * price
        equity = self._equity() - cost
        if equity < req * gross - 1e-9:
            raise InsufficientFundsError(
                symbol,
                f"Insufficient margin: equity ${equity:,.2f} < {req:g} x gross short value ${gross:,.2f}",
            )

    def _execute(
        self, order: PaperOrder, qty: float, price: float, liquidity: str, ref: float, now: datetime, new: bool = False
    ) -> None:
        """Journal one fill of ``order`` and apply it (cash, position, P&L, order, reservations).

        Funds are checked first (``InsufficientFundsError``, nothing written).
        ``new``: the order is being accepted by this fill; its ``order`` record
        is written in the same journal write as the fill.
        """
        fee = self._check_fill_funds(order, qty, price, liquidity)
        notional = qty * price
        filled = order.filled_qty + qty
        status = STATUS_FILLED if filled >= order.qty - QTY_EPSILON else STATUS_PARTIALLY_FILLED
        ts = order.created_iso if new else now.isoformat()
        run_id = self._journal.run_id
        fill_id = f"{order.order_id}-f{order.nfills + 1}"
        slippage = (price / ref - 1.0) * 1e4 if order.is_buy else (1.0 - price / ref) * 1e4
        fee_bps = fee / notional * 1e4 if notional else 0.0
        currency = self.config.currency
        record = {
            "event": EVENT_FILL, "run_id": run_id, "ts": ts,
            "order_id": order.order_id, "fill_id": fill_id, "timestamp": ts, "symbol": order.symbol,
            "side": order.side, "qty": qty, "fill_price": price, "notional": notional, "fee": fee,
            "fee_currency": currency, "venue": VENUE, "slippage_bps": slippage, "fee_bps": fee_bps,
            "liquidity": liquidity, "status": status,
        }
        if new:
            self._journal.write_records([order.record(run_id, ts), record])
            self._register(order, journal=False, is_open=status != STATUS_FILLED)
        else:
            self._journal.write_records([record])
        fill = {
            "order_id": order.order_id, "fill_id": fill_id, "timestamp": now, "symbol": order.symbol,
            "side": order.side, "qty": qty, "fill_price": price, "notional": notional, "fee": fee,
            "fee_currency": currency, "venue": VENUE, "slippage_bps": slippage, "fee_bps": fee_bps,
            "liquidity": liquidity,
        }
        self._apply_fill(order, fill, status)
        if self._respect_size:
            avail = self._avail.get(order.symbol)
            if avail is not None:
                side = 1 if order.is_buy else 0
                avail[side] = max(0.0, avail[side] - qty)

    def _apply_fill(self, order: PaperOrder, fill: dict[str, Any], status: str) -> None:
        qty, notional, fee = fill["qty"], fill["notional"], fill["fee"]
        if order.is_buy:
            self._cash -= notional + fee
        else:
            self._cash += notional - fee
        pos = self._positions.get(order.symbol)
        if pos is None:
            pos = self._positions[order.symbol] = Position()
        pos.apply(order.is_buy, qty, fill["fill_price"], fee)
        order.filled_qty += qty
        order.filled_notional += notional
        order.fee += fee
        order.nfills += 1
        self._fills.append(fill)
        if status == STATUS_FILLED:
            self._close(order, STATUS_FILLED)
        else:
            order.status = status
            if order.reserved_cash or order.reserved_qty:
                self._reserve(order)

    # -- reservations ----------------------------------------------------------
    def _reserve(self, order: PaperOrder) -> None:
        """(Re)compute what the open ``order`` holds back for its remaining quantity."""
        self._release(order)
        remaining = order.qty - order.filled_qty
        if remaining <= QTY_EPSILON:
            return
        if order.is_buy:
            cap = order.limit_price if order.limit_price is not None else apply_slippage(
                order.stop_price, True, self._slippage.bps(remaining, remaining)
            )
            notional = cap * remaining
            order.reserved_cash = notional + self._fees.max_fee(remaining, notional)
            self._reserved_cash += order.reserved_cash
        else:
            order.reserved_qty = remaining
            self._reserved_sell[order.symbol] = self._reserved_sell.get(order.symbol, 0.0) + remaining

    def _release(self, order: PaperOrder) -> None:
        if order.reserved_cash:
            self._reserved_cash -= order.reserved_cash
            if abs(self._reserved_cash) < 1e-9:
                self._reserved_cash = 0.0
            order.reserved_cash = 0.0
        if order.reserved_qty:
            left = self._reserved_sell.get(order.symbol, 0.0) - order.reserved_qty
            if left <= QTY_EPSILON:
                self._reserved_sell.pop(order.symbol, None)
            else:
                self._reserved_sell[order.symbol] = left
            order.reserved_qty = 0.0

    def _check_can_open(self, order: PaperOrder) -> None:
        """A resting order must be affordable in full (cash, position or margin) when placed."""
        remaining = order.qty
        if order.is_buy:
            cap = order.limit_price if order.limit_price is not None else apply_slippage(
                order.stop_price, True, self._slippage.bps(remaining, remaining)
            )
            notional = cap * remaining
            need = notional + self._fees.max_fee(remaining, notional)
            have = self._cash - self._reserved_cash
            if need > have + 1e-9:
                raise InsufficientFundsError(
                    order.symbol, f"Insufficient cash: need ${need:,.2f} reserved, have ${have:,.2f}"
                )
        else:
            pos = self._positions.get(order.symbol)
            free = (pos.qty if pos else 0.0) - self._reserved_sell.get(order.symbol, 0.0)
            if remaining > free + QTY_EPSILON:
                if not self._allow_short:
                    raise InsufficientFundsError(
                        order.symbol, f"Insufficient position: need {remaining:g}, have {max(free, 0.0):g} available"
                    )
                price = order.limit_price if order.limit_price is not None else order.stop_price
                self._check_margin(order.symbol, free - remaining, price, 0.0)

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
            self._on_quote(fresh, now)
            quote = self._quotes.get(symbol)
            if quote is not None and (now - quote["timestamp"]).total_seconds() <= self._max_age:
                return quote
        if not required:
            return None
        if quote is None:
            raise QuoteUnavailableError(symbol)
        age = (now - quote["timestamp"]).total_seconds()
        raise QuoteUnavailableError(
            symbol, f"is stale: {age:.1f}s old (max_quote_age_s {self._max_age:g})"
        )

    def _on_quote(self, quote: dict[str, Any], now: datetime) -> None:
        sym = quote["symbol"]
        held = self._quotes.get(sym)
        if held is not None and quote["timestamp"] < held["timestamp"]:
            logger.debug("Ignoring out-of-order quote for %s (%s < %s)", sym, quote["timestamp"], held["timestamp"])
            return
        if self._expiries:
            self._expire_due(now)
        self._quotes[sym] = quote
        self._avail[sym] = [quote["bid_size"], quote["ask_size"]]
        book = self._books.get(sym)
        if book is not None and len(book):
            self._match(book, quote, now)

    def _available(self, symbol: str, quote: dict[str, Any], is_buy: bool) -> float:
        avail = self._avail.get(symbol)
        if avail is None:
            avail = self._avail[symbol] = [quote["bid_size"], quote["ask_size"]]
        return avail[1] if is_buy else avail[0]

    def _match(self, book: SymbolBook, quote: dict[str, Any], now: datetime) -> None:
        """Trigger stops and fill resting limits that the quote reaches (O(log n + fills))."""
        bid, ask = quote["bid"], quote["ask"]
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
                    self._execute(order, qty, price, MAKER, ask if is_buy else bid, now)
                except InsufficientFundsError as exc:  # e.g. a short sell that margin no longer covers
                    self._end(order, STATUS_REJECTED, EVENT_REJECT, exc.reason)
                if order.is_open:
                    break  # liquidity used up; the rest waits for the next quote

    def _book(self, symbol: str) -> SymbolBook:
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = SymbolBook()
        return book

    # -- time ----------------------------------------------------------------
    def _end_of_day(self, when: datetime) -> datetime:
        """The first end-of-day (``paper.end_of_day_utc``) strictly after ``when``."""
        eod = when.replace(hour=self._eod.hour, minute=self._eod.minute, second=0, microsecond=0)
        return eod if eod > when else eod + timedelta(days=1)

    def _schedule_expiry(self, order: PaperOrder) -> None:
        if order.expires_at is not None:
            heapq.heappush(self._expiries, (order.expires_at, id(order), order))

    def _expire_due(self, now: datetime) -> None:
        heap = self._expiries
        while heap and heap[0][0] <= now:
            order = heapq.heappop(heap)[2]
            if order.is_open:
                self._end(order, STATUS_EXPIRED, EVENT_EXPIRE, f"day order expired at {order.expires_at.isoformat()}")

    # -- valuation -------------------------------------------------------------
    def _mark(self, symbol: str) -> float:
        quote = self._quotes.get(symbol)
        if quote is not None:
            return (quote["bid"] + quote["ask"]) / 2.0
        pos = self._positions.get(symbol)
        return pos.avg_cost if pos is not None else 0.0

    def _equity(self) -> float:
        value = self._cash
        for sym, pos in self._positions.items():
            if pos.qty:
                value += pos.qty * self._mark(sym)
        return value

    # -- journal ---------------------------------------------------------------
    def _journal_reject(self, exc: BrokerError, details: dict[str, Any]) -> None:
        """Record a refused order; a journal failure here is logged, the refusal still raised."""
        reason = getattr(exc, "reason", None) or str(exc)
        try:
            self._journal.write(EVENT_REJECT, {**details, "reason": reason, "error": type(exc).__name__})
        except BrokerError:
            logger.exception("Could not journal the rejection of an order (%s)", reason)


__all__ = ["SIDE_BUY", "SIDE_SELL", "PaperBroker", "PaperConfig"]
