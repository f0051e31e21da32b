"""Pure translation between Binance's vocabulary and ours: statuses, types, filters, records.

Nothing here does I/O. Tables follow enums.md and filters.md of the official
Binance Spot API docs.

Filters (``SymbolRules.prepare``), with ``Decimal`` so that step and tick
arithmetic is exact:

* quantity: rounded **down** to the ``LOT_SIZE`` step (and the ``MARKET_LOT_SIZE``
  step for market orders), then checked against ``minQty`` / ``maxQty``;
* prices (``price`` and ``stopPrice``): rounded to the ``PRICE_FILTER`` tick in
  the safe direction, never worse than asked: **down** for buys, **up** for
  sells; then checked against ``minPrice`` / ``maxPrice``;
* notional (``price * quantity``) of orders that carry a price, against
  ``NOTIONAL`` (min and max) and the older ``MIN_NOTIONAL``. Market and stop
  (market) orders are not checked here: Binance prices them with its own
  average price, which we do not know without another request, so a certain
  rejection cannot be told from a possible one.

An order that still fails raises ``OrderRejectedError`` naming the filter,
before anything is sent.

Why this module is over 400 lines: it is the whole Binance <-> ours vocabulary
(mapping tables, exact decimal rounding, the symbol filters and the order/trade
record parsers), all pure functions over the same tables; the filters
(``SymbolRules``) could move to a ``filters.py`` of their own once the Binance
adapter work in progress has landed (its broker imports them from here).

Why one module of ~500 lines: pure functions only (no I/O): Binance's trading-rule filters and every
answer shape it returns, in one place, so the adapter has one source of truth for the venue's
formats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from LIVE_TRADING.common.constants import (
    ORDER_TYPE_LIMIT,
    ORDER_TYPE_MARKET,
    ORDER_TYPE_STOP,
    ORDER_TYPE_STOP_LIMIT,
    ORDER_TYPE_TRAILING_STOP,
    SIDE_BUY,
    STATUS_CANCELLED,
    STATUS_EXPIRED,
    STATUS_FILLED,
    STATUS_NEW,
    STATUS_PARTIALLY_FILLED,
    STATUS_REJECTED,
    TIF_FOK,
    TIF_GTC,
    TIF_IOC,
)
from LIVE_TRADING.common.exceptions import OrderRejectedError
from LIVE_TRADING.common.ids import derive_client_id

VENUE = "binance"

#: Binance order status (enums.md) -> ours
STATUS_MAP: dict[str, str] = {
    "NEW": STATUS_NEW,
    "PENDING_NEW": STATUS_NEW,
    "PARTIALLY_FILLED": STATUS_PARTIALLY_FILLED,
    "FILLED": STATUS_FILLED,
    "CANCELED": STATUS_CANCELLED,
    "PENDING_CANCEL": STATUS_CANCELLED,
    "REJECTED": STATUS_REJECTED,
    "EXPIRED": STATUS_EXPIRED,
    "EXPIRED_IN_MATCH": STATUS_EXPIRED,
}
#: Binance order type -> ours
TYPE_MAP: dict[str, str] = {
    "MARKET": ORDER_TYPE_MARKET,
    "LIMIT": ORDER_TYPE_LIMIT,
    "LIMIT_MAKER": ORDER_TYPE_LIMIT,
    "STOP_LOSS": ORDER_TYPE_STOP,
    "TAKE_PROFIT": ORDER_TYPE_STOP,
    "STOP_LOSS_LIMIT": ORDER_TYPE_STOP_LIMIT,
    "TAKE_PROFIT_LIMIT": ORDER_TYPE_STOP_LIMIT,
}
#: our time in force -> Binance's (there is no DAY on Binance spot)
TIF_TO_BINANCE: dict[str, str] = {TIF_GTC: "GTC", TIF_IOC: "IOC", TIF_FOK: "FOK"}
TIF_FROM_BINANCE: dict[str, str] = {v: k for k, v in TIF_TO_BINANCE.items()}
#: Binance types that take price / timeInForce / stopPrice
LIMIT_TYPES = frozenset({"LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT", "LIMIT_MAKER"})
STOP_TYPES = frozenset({"STOP_LOSS", "TAKE_PROFIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
MARKET_TYPES = frozenset({"MARKET", "STOP_LOSS", "TAKE_PROFIT"})


# ---------------------------------------------------------------------------
# Small conversions
# ---------------------------------------------------------------------------


def to_binance_symbol(symbol: str) -> str:
    """``BTC/USDT``, ``btc-usdt`` or ``BTCUSDT`` -> ``BTCUSDT``."""
    return symbol.strip().upper().replace("/", "").replace("-", "").replace("_", "")


def ms_to_dt(ms: Any) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)


def dt_to_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def dec(value: Any) -> Decimal:
    """``value`` as an exact Decimal (floats go through ``repr`` so 0.1 stays 0.1)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


def fmt_decimal(value: Decimal) -> str:
    """Plain decimal notation without exponent or trailing zeros: ``Decimal('1.2300')`` -> ``'1.23'``."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _num(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def binance_order_type(order_type: str, side: str, stop_price: float | None, reference_price: float | None) -> str:
    """Binance's type for one of ours.

    ``stop`` and ``stop_limit`` become ``STOP_LOSS[_LIMIT]`` or ``TAKE_PROFIT[_LIMIT]``
    by side and where the stop is against the market (rest-api.md, "Trigger
    order price rules"): above the market -> ``STOP_LOSS`` for buys and
    ``TAKE_PROFIT`` for sells; below -> ``STOP_LOSS`` for sells and
    ``TAKE_PROFIT`` for buys. Without a reference price a stop is taken as the
    usual protective stop (buy above / sell below: ``STOP_LOSS``).
    """
    if order_type == ORDER_TYPE_MARKET:
        return "MARKET"
    if order_type == ORDER_TYPE_LIMIT:
        return "LIMIT"
    suffix = "_LIMIT" if order_type == ORDER_TYPE_STOP_LIMIT else ""
    kind = "STOP_LOSS"
    if stop_price is not None and reference_price is not None:
        above = stop_price > reference_price
        kind = "STOP_LOSS" if above == (side == SIDE_BUY) else "TAKE_PROFIT"
    return kind + suffix


# ---------------------------------------------------------------------------
# Symbol rules (exchangeInfo filters)
# ---------------------------------------------------------------------------


def filter_error(symbol: str, filter_name: str, detail: str) -> OrderRejectedError:
    """``OrderRejectedError`` for a local filter check; ``.filter`` names the filter."""
    exc = OrderRejectedError(symbol, f"Filter failure: {filter_name}: {detail} (checked before sending)")
    exc.filter = filter_name  # type: ignore[attr-defined]
    return exc


def _step_floor(value: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def _step_ceil(value: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def round_qty_down(qty: Any, step: Any) -> Decimal:
    """``qty`` rounded down to a multiple of ``step`` (``step`` 0: unchanged)."""
    return _step_floor(dec(qty), dec(step)).normalize()


def round_price(price: Any, tick: Any, side: str) -> Decimal:
    """``price`` on the tick grid, never worse than asked: down for buys, up for sells."""
    p, t = dec(price), dec(tick)
    out = _step_floor(p, t) if side == SIDE_BUY else _step_ceil(p, t)
    return out.normalize()


@dataclass(frozen=True)
class LotRule:
    min_qty: Decimal
    max_qty: Decimal
    step: Decimal


@dataclass(frozen=True)
class PreparedOrder:
    """Quantities and prices as Binance wants them (exact decimal strings)."""

    quantity: str
    price: str | None
    stop_price: str | None
    adjusted: tuple[str, ...] = ()  # human notes of what rounding changed


@dataclass(frozen=True)
class SymbolRules:
    """The trading rules of one symbol, from one ``exchangeInfo.symbols`` entry."""

    symbol: str
    base_asset: str
    quote_asset: str
    status: str
    order_types: frozenset[str]
    lot: LotRule | None = None
    market_lot: LotRule | None = None
    tick: Decimal = Decimal(0)
    min_price: Decimal = Decimal(0)
    max_price: Decimal = Decimal(0)
    min_notional: Decimal | None = None
    max_notional: Decimal | None = None
    base_precision: int = 8

    @classmethod
    def from_exchange_info(cls, raw: Mapping[str, Any]) -> SymbolRules:
        filters = {f.get("filterType"): f for f in raw.get("filters", []) if isinstance(f, Mapping)}

        def lot(name: str) -> LotRule | None:
            f = filters.get(name)
            if not f:
                return None
            return LotRule(dec(f.get("minQty", 0)), dec(f.get("maxQty", 0)), dec(f.get("stepSize", 0)))

        pf = filters.get("PRICE_FILTER", {})
        min_notional = max_notional = None
        if "NOTIONAL" in filters:
            min_notional = dec(filters["NOTIONAL"].get("minNotional", 0))
            max_notional = dec(filters["NOTIONAL"].get("maxNotional", 0)) or None
        if "MIN_NOTIONAL" in filters:
            older = dec(filters["MIN_NOTIONAL"].get("minNotional", 0))
            min_notional = older if min_notional is None else max(min_notional, older)
        return cls(
            symbol=str(raw["symbol"]).upper(),
            base_asset=str(raw.get("baseAsset", "")).upper(),
            quote_asset=str(raw.get("quoteAsset", "")).upper(),
            status=str(raw.get("status", "")),
            order_types=frozenset(raw.get("orderTypes", [])),
            lot=lot("LOT_SIZE"),
            market_lot=lot("MARKET_LOT_SIZE"),
            tick=dec(pf.get("tickSize", 0)),
            min_price=dec(pf.get("minPrice", 0)),
            max_price=dec(pf.get("maxPrice", 0)),
            min_notional=min_notional,
            max_notional=max_notional,
            base_precision=int(raw.get("baseAssetPrecision", 8) or 8),
        )

    def _check_lot(self, qty: Decimal, rule: LotRule | None, name: str) -> Decimal:
        if rule is None:
            return qty
        rounded = _step_floor(qty, rule.step)
        if rounded <= 0 or rounded < rule.min_qty:
            raise filter_error(
                self.symbol,
                name,
                f"quantity {fmt_decimal(qty)} is below minQty {fmt_decimal(rule.min_qty)} "
                f"(step {fmt_decimal(rule.step)}) after rounding down",
            )
        if rule.max_qty > 0 and rounded > rule.max_qty:
            raise filter_error(
                self.symbol, name, f"quantity {fmt_decimal(rounded)} is above maxQty {fmt_decimal(rule.max_qty)}"
            )
        return rounded

    def _check_price(self, price: Decimal, side: str, what: str) -> Decimal:
        rounded = round_price(price, self.tick, side) if self.tick > 0 else price
        if rounded <= 0 or (self.min_price > 0 and rounded < self.min_price):
            raise filter_error(
                self.symbol, "PRICE_FILTER", f"{what} {fmt_decimal(rounded)} is below minPrice "
                f"{fmt_decimal(self.min_price)}"
            )
        if self.max_price > 0 and rounded > self.max_price:
            raise filter_error(
                self.symbol, "PRICE_FILTER", f"{what} {fmt_decimal(rounded)} is above maxPrice "
                f"{fmt_decimal(self.max_price)}"
            )
        return rounded

    def prepare(
        self, binance_type: str, side: str, qty: Any, price: Any = None, stop_price: Any = None
    ) -> PreparedOrder:
        """Round and check one order against the filters; ``OrderRejectedError`` names the failing filter."""
        try:
            q = dec(qty)
            p = dec(price) if price is not None else None
            sp = dec(stop_price) if stop_price is not None else None
        except (InvalidOperation, ValueError):
            raise OrderRejectedError(self.symbol, "quantity and prices must be finite numbers") from None
        notes: list[str] = []
        rounded = self._check_lot(q, self.lot, "LOT_SIZE")
        if binance_type == "MARKET":
            rounded = self._check_lot(rounded, self.market_lot, "MARKET_LOT_SIZE")
        if rounded != q:
            notes.append(f"quantity {fmt_decimal(q)} -> {fmt_decimal(rounded)}")
        out_price = out_stop = None
        if p is not None and binance_type in LIMIT_TYPES:
            out_price = self._check_price(p, side, "price")
            if out_price != p:
                notes.append(f"price {fmt_decimal(p)} -> {fmt_decimal(out_price)}")
        if sp is not None and binance_type in STOP_TYPES:
            out_stop = self._check_price(sp, side, "stop price")
            if out_stop != sp:
                notes.append(f"stop price {fmt_decimal(sp)} -> {fmt_decimal(out_stop)}")
        if out_price is not None:
            notional = out_price * rounded
            if self.min_notional is not None and self.min_notional > 0 and notional < self.min_notional:
                raise filter_error(
                    self.symbol, "NOTIONAL", f"price * quantity = {fmt_decimal(notional)} is below "
                    f"minNotional {fmt_decimal(self.min_notional)}"
                )
            if self.max_notional is not None and notional > self.max_notional:
                raise filter_error(
                    self.symbol, "NOTIONAL", f"price * quantity = {fmt_decimal(notional)} is above "
                    f"maxNotional {fmt_decimal(self.max_notional)}"
                )
        return PreparedOrder(
            quantity=fmt_decimal(rounded),
            price=fmt_decimal(out_price) if out_price is not None else None,
            stop_price=fmt_decimal(out_stop) if out_stop is not None else None,
            adjusted=tuple(notes),
        )


# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------


def list_key(symbol: str, order_list_id: Any) -> str:
    """Our id of a Binance order list (a bracket or an OCO): ``"BTCUSDT:list-12"``."""
    return f"{symbol}:list-{order_list_id}"


def trailing_delta_bips(trail_percent: float, symbol: str) -> int:
    """``trail_percent`` as Binance's ``trailingDelta`` (basis points, a whole number).

    2.5 (%) -> 250. A percent that is not a whole number of basis points
    (0.015 %) is refused rather than silently rounded.
    """
    bips = dec(trail_percent) * 100
    if bips != bips.to_integral_value():
        raise OrderRejectedError(
            symbol, f"trail_percent {trail_percent:g} is not a whole number of basis points "
            "(Binance's trailingDelta is in whole bips: use steps of 0.01 %)"
        )
    return int(bips)


def normalize_amended(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The ``amendedOrder`` of an amend answer in the shape of an order object.

    The amend answer spells two fields differently (``qty``, ``cumulativeQuoteQty``)
    from the order query (``origQty``, ``cummulativeQuoteQty``).
    """
    out = dict(raw)
    if "qty" in out and "origQty" not in out:
        out["origQty"] = out.pop("qty")
    if "cumulativeQuoteQty" in out and "cummulativeQuoteQty" not in out:
        out["cummulativeQuoteQty"] = out.pop("cumulativeQuoteQty")
    out.pop("origClientOrderId", None)  # the order's id is clientOrderId (possibly a new one)
    return out


def order_key(symbol: str, order_id: Any) -> str:
    """Our ``order_id`` for a Binance order: ``"BTCUSDT:28"`` (Binance ids are unique per symbol)."""
    return f"{symbol}:{order_id}"


def split_order_key(order_id: str) -> tuple[str | None, str]:
    """``"BTCUSDT:28"`` -> ``("BTCUSDT", "28")``; a bare ``"28"`` -> ``(None, "28")``."""
    text = str(order_id).strip()
    if ":" in text:
        symbol, _, oid = text.rpartition(":")
        return to_binance_symbol(symbol), oid.strip()
    return None, text


def parse_order(raw: Mapping[str, Any], *, fee: float = 0.0, created: datetime | None = None) -> dict[str, Any]:
    """An ``OrderResult`` from a Binance order object (new-order, query, cancel or open-orders answer).

    ``fee`` is the commission charged so far (the order answers carry none
    except the FULL new-order answer; the caller sums trades). ``created``
    overrides the creation time when the answer lacks ``time`` (cancel answers).
    """
    symbol = str(raw.get("symbol", "")).upper()
    btype = str(raw.get("type", "")).upper()
    executed = _num(raw.get("executedQty"))
    cum_quote = _num(raw.get("cummulativeQuoteQty"), -1.0)
    fill_price = cum_quote / executed if executed > 0 and cum_quote >= 0 else None
    price = _num(raw.get("price"))
    stop = _num(raw.get("stopPrice"))
    if created is None:
        stamp = raw.get("time") or raw.get("transactTime") or raw.get("workingTime")
        created = ms_to_dt(stamp) if stamp and int(stamp) > 0 else None
    tif = TIF_FROM_BINANCE.get(str(raw.get("timeInForce", "")).upper(), TIF_GTC)
    result = {
        "order_id": order_key(symbol, raw.get("orderId")),
        "client_order_id": raw.get("origClientOrderId") or raw.get("clientOrderId"),
        "symbol": symbol,
        "side": str(raw.get("side", "")).upper(),
        "order_type": TYPE_MAP.get(btype, btype.lower()),
        "qty": _num(raw.get("origQty")),
        "filled_qty": executed,
        "status": STATUS_MAP.get(str(raw.get("status", "")).upper(), STATUS_NEW),
        "fill_price": fill_price,
        "fee": float(fee),
        "limit_price": price if btype in LIMIT_TYPES and price > 0 else None,
        "stop_price": stop if btype in STOP_TYPES and stop > 0 else None,
        "time_in_force": tif,
        "timestamp": created,
        "venue": VENUE,
    }
    delta = int(_num(raw.get("trailingDelta")))
    if delta > 0:
        result["order_type"] = ORDER_TYPE_TRAILING_STOP
        result["trail_percent"] = delta / 100
        result["trail_amount"] = None
        result["trigger_price"] = None  # Binance does not publish the current trailing trigger
    list_id = raw.get("orderListId")
    if list_id is not None and int(list_id) >= 0:
        result["order_list_id"] = list_key(symbol, list_id)
    return result


def parse_trade(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A ``Fill`` from one ``GET /api/v3/myTrades`` entry (fee as Binance reports it)."""
    symbol = str(raw.get("symbol", "")).upper()
    qty = _num(raw.get("qty"))
    price = _num(raw.get("price"))
    quote_qty = raw.get("quoteQty")
    return {
        "order_id": order_key(symbol, raw.get("orderId")),
        "fill_id": order_key(symbol, raw.get("id")),
        "timestamp": ms_to_dt(raw.get("time", 0)),
        "symbol": symbol,
        "side": SIDE_BUY if raw.get("isBuyer") else "SELL",
        "qty": qty,
        "fill_price": price,
        "notional": _num(quote_qty) if quote_qty is not None else qty * price,
        "fee": _num(raw.get("commission")),
        "fee_currency": str(raw.get("commissionAsset", "")),
        "venue": VENUE,
    }


def parse_order_fills(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``Fill`` dicts from the ``fills`` of a FULL new-order answer."""
    symbol = str(raw.get("symbol", "")).upper()
    side = str(raw.get("side", "")).upper()
    when = ms_to_dt(raw.get("transactTime") or 0)
    out = []
    for f in raw.get("fills") or []:
        qty, price = _num(f.get("qty")), _num(f.get("price"))
        out.append(
            {
                "order_id": order_key(symbol, raw.get("orderId")),
                "fill_id": order_key(symbol, f.get("tradeId")),
                "timestamp": when,
                "symbol": symbol,
                "side": side,
                "qty": qty,
                "fill_price": price,
                "notional": qty * price,
                "fee": _num(f.get("commission")),
                "fee_currency": str(f.get("commissionAsset", "")),
                "venue": VENUE,
            }
        )
    return out


__all__ = [
    "STATUS_MAP",
    "TIF_TO_BINANCE",
    "TYPE_MAP",
    "PreparedOrder",
    "SymbolRules",
    "binance_order_type",
    "dec",
    "derive_client_id",
    "dt_to_ms",
    "fmt_decimal",
    "list_key",
    "ms_to_dt",
    "normalize_amended",
    "order_key",
    "parse_order",
    "parse_order_fills",
    "parse_trade",
    "round_price",
    "round_qty_down",
    "split_order_key",
    "to_binance_symbol",
    "trailing_delta_bips",
]
