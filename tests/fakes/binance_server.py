"""A loopback stand-in for the Binance Spot REST API (``/api/v3``), for tests.

A real HTTP server (stdlib ``http.server``, HTTP/1.1 keep-alive) on 127.0.0.1
in a background thread, implementing, from the official docs (rest-api.md,
errors.md, filters.md, enums.md), the endpoints the adapter uses::

    GET  /api/v3/time                 GET  /api/v3/exchangeInfo
    GET  /api/v3/ticker/bookTicker    GET  /api/v3/klines
    GET  /api/v3/account              GET  /api/v3/myTrades
    GET  /api/v3/openOrders           GET|POST|DELETE /api/v3/order
    POST /api/v3/order/cancelReplace  PUT  /api/v3/order/amend/keepPriority
    POST /api/v3/orderList/oco        POST /api/v3/orderList/otoco
    GET  /api/v3/orderList            GET  /api/v3/openOrderList

Order lists, cancel-replace, amends and trailing stops live in
``binance_lists.py`` (a mixin of ``FakeBinance``).

What it enforces like Binance does:

* SIGNED requests: the ``X-MBX-APIKEY`` header (missing -> -2014, wrong ->
  -2015, HTTP 401), the HMAC-SHA256 signature over the raw query string
  concatenated with the raw body, both without the trailing ``signature``
  parameter (-1022), and the timing rule ``timestamp < serverTime + 1000 and
  serverTime - timestamp <= recvWindow`` (-1021; recvWindow > 60000 -> -1131).
  Signature checking here is its own implementation (``verify_signature``),
  tested against the worked example of the docs.
* Request weight per one-minute window (``X-MBX-USED-WEIGHT-1M`` on every
  answer; over the limit -> 429 with ``Retry-After`` and -1003).
* Filters (PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, NOTIONAL; -1013 "Filter
  failure: X"), precision (-1111), unknown symbol (-1121), missing or
  superfluous parameters (-1102 / -1106), balances (-2010 "Account has
  insufficient balance for requested action."), duplicate client ids among
  open orders (-2010 "Duplicate order sent."), unknown orders (-2013 on query,
  -2011 on cancel).
* Matching against a settable top of book: market orders take the touch (up to
  its size; the rest EXPIRED), marketable limit orders take, the rest rests
  (GTC), expires (IOC) or the whole order expires (FOK); ``set_book`` moves the
  book and fills resting limit orders it crosses (as maker) and triggers stop
  orders. Commission is charged in the asset received (base on buys, quote on
  sells) at ``taker_rate`` / ``maker_rate``.

Faults, injected per endpoint with ``inject(method, path, mode, ...)``:
``"status"`` (answer ``status``/``code``/``msg``, optional ``retry_after``,
without processing: 429, 418, -1121, -2010, -2015, ...), ``"drop_before"``
(close the connection without processing), ``"drop_after"`` (process, then
close without answering), ``"error_after"`` (process, then answer a 5xx),
``"delay"`` (sleep ``delay_s`` real seconds before processing),
``"delay_after"`` (process, then sleep ``delay_s`` before answering: a client
timeout after acceptance). Clock skew: ``skew_ms`` shifts the server clock.
``defer_market_fills = n`` makes market orders answer ``NEW`` and fill on the
n-th query of the order (to exercise polling).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fakes.binance_lists import ApiError, ListsMixin

D = Decimal
ZERO = D(0)
QTY_5 = D("5")
MARKET_MAX = D("100")
MIN_PRICE = D("0.01")
MAX_PRICE = D("1000000")
MAX_RECV_WINDOW = 60_000

#: request weights (rest-api.md); (method, path) -> weight(params)
WEIGHTS: dict[tuple[str, str], Callable[[dict[str, str]], int]] = {
    ("GET", "/api/v3/time"): lambda p: 1,
    ("GET", "/api/v3/exchangeInfo"): lambda p: 20,
    ("GET", "/api/v3/ticker/bookTicker"): lambda p: 2 if "symbol" in p else 4,
    ("GET", "/api/v3/klines"): lambda p: 2,
    ("GET", "/api/v3/account"): lambda p: 20,
    ("GET", "/api/v3/myTrades"): lambda p: 5 if "orderId" in p else 20,
    ("GET", "/api/v3/openOrders"): lambda p: 6 if "symbol" in p else 80,
    ("GET", "/api/v3/order"): lambda p: 4,
    ("POST", "/api/v3/order"): lambda p: 1,
    ("DELETE", "/api/v3/order"): lambda p: 1,
    ("POST", "/api/v3/order/cancelReplace"): lambda p: 1,
    ("PUT", "/api/v3/order/amend/keepPriority"): lambda p: 4,
    ("POST", "/api/v3/orderList/oco"): lambda p: 1,
    ("POST", "/api/v3/orderList/otoco"): lambda p: 1,
    ("GET", "/api/v3/orderList"): lambda p: 4,
    ("GET", "/api/v3/openOrderList"): lambda p: 6,
}
SIGNED = {
    ("GET", "/api/v3/account"),
    ("GET", "/api/v3/myTrades"),
    ("GET", "/api/v3/openOrders"),
    ("GET", "/api/v3/order"),
    ("POST", "/api/v3/order"),
    ("DELETE", "/api/v3/order"),
    ("POST", "/api/v3/order/cancelReplace"),
    ("PUT", "/api/v3/order/amend/keepPriority"),
    ("POST", "/api/v3/orderList/oco"),
    ("POST", "/api/v3/orderList/otoco"),
    ("GET", "/api/v3/orderList"),
    ("GET", "/api/v3/openOrderList"),
}
KLINE_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
            "2h": 7_200_000, "4h": 14_400_000, "1d": 86_400_000, "1w": 604_800_000, "1M": 2_592_000_000}
LISTING_MS = 1_577_836_800_000  # 2020-01-01: no klines before it


def f8(value: Decimal) -> str:
    """Binance's decimal format (8 places)."""
    return f"{value.quantize(D('0.00000001'), rounding=ROUND_DOWN):f}"


def hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def strip_signature(raw: str) -> tuple[str, str | None]:
    """``raw`` without its ``signature=`` parameter, and that signature."""
    if not raw:
        return "", None
    parts = raw.split("&")
    kept = [p for p in parts if not p.startswith("signature=")]
    sig = next((p.partition("=")[2] for p in parts if p.startswith("signature=")), None)
    return "&".join(kept), sig


def verify_signature(secret: str, raw_query: str, raw_body: str) -> bool:
    """Binance's rule: HMAC-SHA256(secret, query string + request body), signature excluded."""
    query, sig_q = strip_signature(raw_query)
    body, sig_b = strip_signature(raw_body)
    sig = sig_q or sig_b
    if not sig:
        return False
    return hmac.compare_digest(hmac_hex(secret, query + body), sig.lower())


@dataclass
class SymbolSpec:
    symbol: str
    base: str
    quote: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    market_step: Decimal | None = None
    market_max_qty: Decimal = MARKET_MAX
    min_price: Decimal = MIN_PRICE
    max_price: Decimal = MAX_PRICE
    status: str = "TRADING"
    base_precision: int = 8
    order_types: tuple[str, ...] = ("LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT",
                                    "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")

    def info(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "status": self.status,
            "baseAsset": self.base,
            "baseAssetPrecision": self.base_precision,
            "quoteAsset": self.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "orderTypes": list(self.order_types),
            "icebergAllowed": True,
            "ocoAllowed": True,
            "isSpotTradingAllowed": True,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": f8(self.min_price), "maxPrice": f8(self.max_price),
                 "tickSize": f8(self.tick)},
                {"filterType": "LOT_SIZE", "minQty": f8(self.min_qty), "maxQty": f8(self.max_qty),
                 "stepSize": f8(self.step)},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": f8(self.market_max_qty),
                 "stepSize": f8(self.market_step if self.market_step is not None else self.step)},
                {"filterType": "NOTIONAL", "minNotional": f8(self.min_notional), "applyMinToMarket": True,
                 "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
            ],
            "permissions": ["SPOT"],
        }


@dataclass
class Book:
    bid: Decimal
    ask: Decimal
    bid_qty: Decimal = QTY_5
    ask_qty: Decimal = QTY_5


@dataclass
class Fault:
    method: str
    path: str
    mode: str
    count: int = 1
    status: int = 500
    code: int | None = None
    msg: str = ""
    retry_after: float | None = None
    delay_s: float = 0.0
    data: Any = None  # "status" mode: Binance's detail object (cancelReplace -2021 / -2022)


@dataclass
class Order:
    symbol: str
    order_id: int
    client_order_id: str
    side: str
    type: str
    tif: str
    qty: Decimal
    price: Decimal
    stop_price: Decimal
    time: int
    status: str = "NEW"
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    update_time: int = 0
    locked_left: Decimal = ZERO  # funds still locked for this order
    triggered: bool = False
    deferred: int = 0  # market order: fill on the n-th query
    fills: list[dict[str, Any]] = field(default_factory=list)
    order_list_id: int = -1
    trailing_delta: int = 0  # bips; a trailing stop when > 0
    trail_ref: Decimal | None = None  # best price since placement (trailing stops)
    trailing_time: int = -1

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.executed

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED", "PENDING_NEW")

    def view(self) -> dict[str, Any]:
        out = {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": self.order_list_id,
            "clientOrderId": self.client_order_id,
            "price": f8(self.price),
            "origQty": f8(self.qty),
            "executedQty": f8(self.executed),
            "cummulativeQuoteQty": f8(self.cum_quote),
            "status": self.status,
            "timeInForce": self.tif,
            "type": self.type,
            "side": self.side,
            "time": self.time,
            "updateTime": self.update_time or self.time,
            "isWorking": True,
            "workingTime": self.time,
            "origQuoteOrderQty": "0.00000000",
            "selfTradePreventionMode": "NONE",
        }
        if self.type in ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"):
            out["stopPrice"] = f8(self.stop_price)
        if self.trailing_delta:
            out["trailingDelta"] = self.trailing_delta
            out["trailingTime"] = self.trailing_time
        return out


def default_symbols() -> dict[str, SymbolSpec]:
    return {
        "BTCUSDT": SymbolSpec("BTCUSDT", "BTC", "USDT", tick=D("0.01"), step=D("0.00001"), min_qty=D("0.00001"),
                              max_qty=D("9000"), min_notional=D("5")),
        "ETHUSDT": SymbolSpec("ETHUSDT", "ETH", "USDT", tick=D("0.01"), step=D("0.0001"), min_qty=D("0.0001"),
                              max_qty=D("9000"), min_notional=D("5")),
        "BNBBTC": SymbolSpec("BNBBTC", "BNB", "BTC", tick=D("0.000001"), step=D("0.001"), min_qty=D("0.001"),
                             max_qty=D("90000"), min_notional=D("0.0001"), min_price=D("0.000001")),
    }


class FakeBinance(ListsMixin):
    """The stand-in server. ``with FakeBinance() as fake: ... fake.url ...``."""

    def __init__(
        self,
        *,
        api_key: str = "fake-api-key-0123456789",
        api_secret: str = "fake-api-secret-9876543210",
        clock: Callable[[], datetime] | None = None,
        weight_limit: int = 6000,
        taker_rate: str = "0.001",
        maker_rate: str = "0.001",
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.clock = clock or (lambda: datetime.now(UTC))
        self.skew_ms = 0
        self.weight_limit = weight_limit
        self.taker_rate = D(taker_rate)
        self.maker_rate = D(maker_rate)
        self.symbols = default_symbols()
        self.books: dict[str, Book] = {
            "BTCUSDT": Book(D("50000.00"), D("50010.00")),
            "ETHUSDT": Book(D("3000.00"), D("3001.00")),
            "BNBBTC": Book(D("0.010000"), D("0.010100"), D("100"), D("100")),
        }
        self.balances: dict[str, list[Decimal]] = {
            "USDT": [D("10000"), ZERO],
            "BTC": [ZERO, ZERO],
            "ETH": [ZERO, ZERO],
            "BNB": [D("3"), ZERO],
            "XYZ": [D("5"), ZERO],
        }
        self.orders: dict[tuple[str, int], Order] = {}
        self.order_lists: dict[int, Any] = {}
        self._next_list = 700
        self.trades: list[dict[str, Any]] = []
        self._next_order = 1000
        self._next_trade = 5000
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self._weight_window = -1
        self.used_weight = 0
        self.max_used_weight = 0
        self.rejected_429 = 0
        self.defer_market_fills = 0
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> FakeBinance:
        fake = self

        class Handler(_Handler):
            server_state = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-binance", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeBinance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- test controls ------------------------------------------------------
    def now_ms(self) -> int:
        return int(self.clock().timestamp() * 1000) + self.skew_ms

    def inject(self, method: str, path: str, mode: str, **kw: Any) -> Fault:
        fault = Fault(method.upper(), path, mode, **kw)
        with self.lock:
            self.faults.append(fault)
        return fault

    def set_balance(self, asset: str, free: str | Decimal, locked: str | Decimal = "0") -> None:
        with self.lock:
            self.balances[asset] = [D(str(free)), D(str(locked))]

    def balance(self, asset: str) -> tuple[Decimal, Decimal]:
        with self.lock:
            free, locked = self.balances.get(asset, [ZERO, ZERO])
            return free, locked

    def set_book(self, symbol: str, bid: str, ask: str, bid_qty: str = "5", ask_qty: str = "5") -> None:
        """Move the top of book; resting orders it crosses fill (maker), stops it reaches trigger."""
        with self.lock:
            self.books[symbol] = Book(D(bid), D(ask), D(bid_qty), D(ask_qty))
            self._on_book_move(symbol)

    def calls(self, method: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if (method is None or r["method"] == method)
                    and (path is None or r["path"] == path)]

    def orders_with_client_id(self, cid: str) -> list[Order]:
        with self.lock:
            return [o for o in self.orders.values() if o.client_order_id == cid]

    # -- request handling ---------------------------------------------------
    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method == method and fault.path == path and fault.count > 0:
                    fault.count -= 1
                    if fault.count == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def _charge_weight(self, weight: int) -> None:
        with self.lock:
            now = self.now_ms()
            window = now // 60_000
            if window != self._weight_window:
                self._weight_window, self.used_weight = window, 0
            self.used_weight += weight
            if self.used_weight > self.weight_limit:
                self.rejected_429 += 1
                retry = math.ceil(((window + 1) * 60_000 - now) / 1000)
                raise ApiError(
                    429, -1003,
                    f"Too much request weight used; current limit is {self.weight_limit} request weight per "
                    "1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
                    {"Retry-After": str(retry)},
                )
            self.max_used_weight = max(self.max_used_weight, self.used_weight)

    def _check_signed(self, headers: Any, params: dict[str, str], raw_query: str, raw_body: str) -> None:
        key = headers.get("X-MBX-APIKEY")
        if not key:
            raise ApiError(401, -2014, "API-key format invalid.")
        if key != self.api_key:
            raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        if "timestamp" not in params:
            raise ApiError(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
        if not verify_signature(self.api_secret, raw_query, raw_body):
            raise ApiError(400, -1022, "Signature for this request is not valid.")
        recv = int(float(params.get("recvWindow", 5000)))
        if recv > MAX_RECV_WINDOW:
            raise ApiError(400, -1131, "recvWindow must be less than 60000")
        ts = int(params["timestamp"])
        server = self.now_ms()
        if ts >= server + 1000:
            raise ApiError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if server - ts > recv:
            raise ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    def handle(self, method: str, path: str, raw_query: str, raw_body: str, headers: Any) -> tuple[
        int, Any, dict[str, str], str
    ]:
        """Return (status, json body, extra headers, action) where action is 'reply' or 'drop'."""
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        params.update({k: v for k, v in parse_qsl(raw_body, keep_blank_values=True) if k not in params})
        with self.lock:
            self.requests.append({"method": method, "path": path, "params": dict(params),
                                  "api_key_header": headers.get("X-MBX-APIKEY")})
        endpoint = (method, path)
        if endpoint not in WEIGHTS:
            return 404, {"code": -1000, "msg": f"Unknown endpoint {method} {path}"}, {}, "reply"
        fault = self._take_fault(method, path)
        try:
            if fault is not None and fault.mode == "drop_before":
                return 0, None, {}, "drop"
            if fault is not None and fault.mode == "status":
                extra = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
                raise ApiError(fault.status, fault.code, fault.msg, extra, data=fault.data)
            if fault is not None and fault.mode == "delay":
                threading.Event().wait(fault.delay_s)
            self._charge_weight(WEIGHTS[endpoint](params))
            if endpoint in SIGNED:
                self._check_signed(headers, params, raw_query, raw_body)
            with self.lock:
                body = self._dispatch(method, path, params)
        except ApiError as err:
            payload = {"code": err.code, "msg": err.msg} if err.code is not None else {"msg": err.msg}
            if err.data is not None:
                payload["data"] = err.data
            return err.status, payload, err.headers, "reply"
        if fault is not None and fault.mode == "drop_after":
            return 0, None, {}, "drop"
        if fault is not None and fault.mode == "delay_after":
            threading.Event().wait(fault.delay_s)
        if fault is not None and fault.mode == "error_after":
            return fault.status, {"code": fault.code or -1000,
                                  "msg": fault.msg or "An unknown error occurred while processing the request."}, {}, "reply"
        return 200, body, {}, "reply"

    def _dispatch(self, method: str, path: str, p: dict[str, str]) -> Any:
        if path == "/api/v3/time":
            return {"serverTime": self.now_ms()}
        if path == "/api/v3/exchangeInfo":
            return self._exchange_info(p)
        if path == "/api/v3/ticker/bookTicker":
            return self._book_ticker(p)
        if path == "/api/v3/klines":
            return self._klines(p)
        if path == "/api/v3/account":
            return self._account()
        if path == "/api/v3/myTrades":
            return self._my_trades(p)
        if path == "/api/v3/openOrders":
            sym = p.get("symbol")
            if sym is not None:
                self._spec(sym)
            return [o.view() for o in self.orders.values() if o.is_open and (sym is None or o.symbol == sym)]
        if path == "/api/v3/order" and method == "GET":
            order = self._find(p, query=True)
            if order.deferred > 0:
                order.deferred -= 1
                if order.deferred == 0:
                    self._take(order, self.books[order.symbol])
                    if order.is_open:
                        self._close(order, "EXPIRED")
            return order.view()
        if path == "/api/v3/order" and method == "POST":
            return self._new_order(p)
        if path == "/api/v3/order" and method == "DELETE":
            return self._cancel(p)
        return self._dispatch_lists(method, path, p)

    # -- endpoints ----------------------------------------------------------
    def _spec(self, symbol: str) -> SymbolSpec:
        spec = self.symbols.get(symbol)
        if spec is None:
            raise ApiError(400, -1121, "Invalid symbol.")
        return spec

    def _exchange_info(self, p: dict[str, str]) -> dict[str, Any]:
        names: list[str] | None = None
        if "symbol" in p:
            names = [p["symbol"]]
        elif "symbols" in p:
            names = json.loads(p["symbols"])
        specs = [self._spec(n) for n in names] if names is not None else list(self.symbols.values())
        return {
            "timezone": "UTC",
            "serverTime": self.now_ms(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": self.weight_limit},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
            ],
            "exchangeFilters": [],
            "symbols": [s.info() for s in specs],
        }

    def _ticker(self, symbol: str) -> dict[str, Any]:
        book = self.books[symbol]
        return {"symbol": symbol, "bidPrice": f8(book.bid), "bidQty": f8(book.bid_qty),
                "askPrice": f8(book.ask), "askQty": f8(book.ask_qty)}

    def _book_ticker(self, p: dict[str, str]) -> Any:
        if "symbol" in p and "symbols" in p:
            raise ApiError(400, -1128, "Combination of optional parameters invalid.")
        if "symbol" in p:
            self._spec(p["symbol"])
            return self._ticker(p["symbol"])
        names = json.loads(p["symbols"]) if "symbols" in p else list(self.symbols)
        for n in names:
            self._spec(n)
        return [self._ticker(n) for n in names]

    def _klines(self, p: dict[str, str]) -> list[list[Any]]:
        self._spec(p["symbol"])
        step = KLINE_MS.get(p.get("interval", ""))
        if step is None:
            raise ApiError(400, -1120, "Invalid interval.")
        limit = min(int(p.get("limit", 500)), 1000)
        end = int(p.get("endTime", self.now_ms()))
        start = max(int(p.get("startTime", end - step * limit)), LISTING_MS)
        first = -(-start // step) * step
        out = []
        t = first
        while t <= end and len(out) < limit:
            price = D(100) + D(t // step % 50)
            out.append([t, f8(price), f8(price + 2), f8(price - 1), f8(price + 1), "10.00000000",
                        t + step - 1, f8(price * 10), 7, "5.00000000", f8(price * 5), "0"])
            t += step
        return out

    def _account(self) -> dict[str, Any]:
        return {
            "makerCommission": int(self.maker_rate * 10000),
            "takerCommission": int(self.taker_rate * 10000),
            "commissionRates": {"maker": f8(self.maker_rate), "taker": f8(self.taker_rate),
                                "buyer": "0.00000000", "seller": "0.00000000"},
            "canTrade": True, "canWithdraw": True, "canDeposit": True,
            "updateTime": self.now_ms(), "accountType": "SPOT",
            "balances": [{"asset": a, "free": f8(v[0]), "locked": f8(v[1])} for a, v in self.balances.items()],
            "permissions": ["SPOT"],
        }

    def _my_trades(self, p: dict[str, str]) -> list[dict[str, Any]]:
        sym = p.get("symbol")
        if not sym:
            raise ApiError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        self._spec(sym)
        limit = min(int(p.get("limit", 500)), 1000)
        rows = [t for t in self.trades if t["symbol"] == sym]
        if "orderId" in p:
            rows = [t for t in rows if t["orderId"] == int(p["orderId"])]
        if "fromId" in p:
            rows = [t for t in rows if t["id"] >= int(p["fromId"])][:limit]
        elif "startTime" in p or "endTime" in p:
            lo, hi = int(p.get("startTime", 0)), int(p.get("endTime", 2**62))
            rows = [t for t in rows if lo <= t["time"] <= hi][:limit]
        else:
            rows = rows[-limit:]
        return [dict(t) for t in rows]

    def _find(self, p: dict[str, str], *, query: bool) -> Order:
        sym = p.get("symbol", "")
        self._spec(sym)
        order = None
        if "orderId" in p:
            order = self.orders.get((sym, int(p["orderId"])))
        elif "origClientOrderId" in p:
            matches = [o for o in self.orders.values() if o.symbol == sym and o.client_order_id == p["origClientOrderId"]]
            order = matches[-1] if matches else None
        else:
            raise ApiError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        if order is None:
            if query:
                raise ApiError(400, -2013, "Order does not exist.")
            raise ApiError(400, -2011, "Unknown order sent.")
        return order

    def _cancel(self, p: dict[str, str]) -> dict[str, Any]:
        order = self._find(p, query=False)
        if not order.is_open:
            raise ApiError(400, -2011, "Unknown order sent.")
        self._close(order, "CANCELED")
        self._list_event(order, "cancel")
        view = order.view()
        for k in ("time", "updateTime", "isWorking", "workingTime", "origQuoteOrderQty"):
            view.pop(k, None)
        view["origClientOrderId"] = order.client_order_id
        view["clientOrderId"] = p.get("newClientOrderId") or uuid.uuid4().hex[:22]
        view["transactTime"] = self.now_ms()
        return view

    def _new_order(self, p: dict[str, str]) -> dict[str, Any]:
        checked = self._check_new(p)
        order = self._create(checked, p.get("newClientOrderId") or uuid.uuid4().hex[:22])
        otype = order.type
        return self._order_answer(order, p.get("newOrderRespType") or ("FULL" if otype in ("MARKET", "LIMIT") else "ACK"),
                                  order.time)

    def _check_new(self, p: dict[str, str]) -> dict[str, Any]:
        """Every check of a new order that does not depend on the account (parameters, filters)."""
        for name in ("symbol", "side", "type"):
            if not p.get(name):
                raise ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
        spec = self._spec(p["symbol"])
        side, otype = p["side"], p["type"]
        if side not in ("BUY", "SELL"):
            raise ApiError(400, -1117, "Invalid side.")
        if otype not in spec.order_types:
            raise ApiError(400, -1116, "Invalid orderType.")
        limit_type = otype in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT", "LIMIT_MAKER")
        stop_type = otype.startswith(("STOP_LOSS", "TAKE_PROFIT"))
        if limit_type:
            for name in ("price",) if otype == "LIMIT_MAKER" else ("timeInForce", "price"):
                if not p.get(name):
                    raise ApiError(400, -1102,
                                   f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
            if p.get("timeInForce", "GTC") not in ("GTC", "IOC", "FOK"):
                raise ApiError(400, -1115, "Invalid timeInForce.")
        elif "timeInForce" in p:
            raise ApiError(400, -1106, "Parameter 'timeInForce' sent when not required.")
        trailing = int(p["trailingDelta"]) if p.get("trailingDelta") else 0
        if "trailingDelta" in p and not stop_type:
            raise ApiError(400, -1106, "Parameter 'trailingDelta' sent when not required.")
        if trailing and not 10 <= trailing <= 2000:
            raise ApiError(400, -1013, "Filter failure: TRAILING_DELTA")
        if stop_type and not p.get("stopPrice") and not trailing:
            raise ApiError(400, -1102, "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed.")
        if not p.get("quantity"):
            raise ApiError(400, -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.")
        qty_text = p["quantity"]
        qty = D(qty_text)
        if "." in qty_text and len(qty_text.split(".")[1].rstrip("0")) > spec.base_precision:
            raise ApiError(400, -1111, "Parameter 'quantity' has too much precision.")
        price = D(p["price"]) if limit_type else ZERO
        stop = D(p["stopPrice"]) if stop_type and p.get("stopPrice") else ZERO
        book = self.books[spec.symbol]
        # filters
        if qty < spec.min_qty or qty > spec.max_qty or qty % spec.step != 0:
            raise ApiError(400, -1013, "Filter failure: LOT_SIZE")
        if otype == "MARKET":
            mstep = spec.market_step if spec.market_step is not None else spec.step
            if qty > spec.market_max_qty or (mstep > 0 and qty % mstep != 0):
                raise ApiError(400, -1013, "Filter failure: MARKET_LOT_SIZE")
        for value in ([price] if limit_type else []) + ([stop] if stop else []):
            if value < spec.min_price or value > spec.max_price or value % spec.tick != 0:
                raise ApiError(400, -1013, "Filter failure: PRICE_FILTER")
        ref = price if limit_type else (book.bid + book.ask) / 2
        if ref * qty < spec.min_notional:
            raise ApiError(400, -1013, "Filter failure: NOTIONAL")
        return {"spec": spec, "side": side, "type": otype, "qty": qty, "price": price, "stop": stop,
                "trailing": trailing, "limit_type": limit_type, "stop_type": stop_type,
                "tif": p.get("timeInForce", "GTC")}

    def _create(self, c: dict[str, Any], cid: str, *, list_id: int = -1, pending: bool = False,
                lock: bool = True) -> Order:
        """Account checks (duplicate id, immediate trigger, balance), then the order, matched at once."""
        spec, side, otype, qty, price, stop = c["spec"], c["side"], c["type"], c["qty"], c["price"], c["stop"]
        limit_type, stop_type, trailing = c["limit_type"], c["stop_type"], c["trailing"]
        book = self.books[spec.symbol]
        mid = (book.bid + book.ask) / 2
        if any(o.client_order_id == cid and o.is_open for o in self.orders.values()):
            raise ApiError(400, -2010, "Duplicate order sent.")
        if stop_type and stop and not pending and self._stop_reached(side, otype, stop, mid):
            raise ApiError(400, -2010, "Order would trigger immediately.")
        if otype == "LIMIT_MAKER" and not pending and (price >= book.ask if side == "BUY" else price <= book.bid):
            raise ApiError(400, -2010, "Order would immediately match and take.")
        # balances
        need_asset, need = (spec.quote, (price if limit_type else book.ask) * qty) if side == "BUY" else (spec.base, qty)
        if stop_type and not limit_type and side == "BUY":
            need = (stop or book.ask * (1 + D(trailing) / 10000)) * qty
        if lock and not pending and self.balances.setdefault(need_asset, [ZERO, ZERO])[0] < need:
            raise ApiError(400, -2010, "Account has insufficient balance for requested action.")
        now = self.now_ms()
        self._next_order += 1
        order = Order(spec.symbol, self._next_order, cid, side, otype, c["tif"] if limit_type else "GTC", qty, price,
                      stop, now, order_list_id=list_id, trailing_delta=trailing)
        if trailing:
            order.trail_ref = mid
            order.trailing_time = now if not stop else -1
        if pending:
            order.status = "PENDING_NEW"
        self.orders[(spec.symbol, order.order_id)] = order
        if pending:
            return order
        if otype != "MARKET" and lock:  # resting orders lock their funds
            self.balances[need_asset][0] -= need
            self.balances[need_asset][1] += need
            order.locked_left = need
        self._start(order)
        return order

    def _start(self, order: Order) -> None:
        """Match a new (or newly activated) order against the book."""
        book = self.books[order.symbol]
        if order.type == "MARKET" and self.defer_market_fills > 0:
            order.deferred = self.defer_market_fills
        elif order.type == "MARKET":
            self._take(order, book)
            if order.is_open:
                self._close(order, "EXPIRED")
        elif order.type == "LIMIT":
            self._match_limit(order, book, taker=True)

    def _order_answer(self, order: Order, resp_type: str, now: int) -> dict[str, Any]:
        ack = {"symbol": order.symbol, "orderId": order.order_id, "orderListId": -1,
               "clientOrderId": order.client_order_id, "transactTime": now}
        if resp_type == "ACK":
            return ack
        view = order.view()
        for k in ("time", "updateTime", "isWorking", "origQuoteOrderQty"):
            view.pop(k, None)
        out = {**ack, **view, "transactTime": now}
        if resp_type == "FULL":
            out["fills"] = [dict(f) for f in order.fills]
        return out

    # -- matching -----------------------------------------------------------
    @staticmethod
    def _stop_reached(side: str, otype: str, stop: Decimal, last: Decimal) -> bool:
        above = otype.startswith("STOP_LOSS") == (side == "BUY")  # triggers when the price rises to stop
        return last >= stop if above else last <= stop

    def _fill(self, order: Order, qty: Decimal, price: Decimal, maker: bool) -> None:
        spec = self.symbols[order.symbol]
        rate = self.maker_rate if maker else self.taker_rate
        quote_amount = qty * price
        self._next_trade += 1
        base_bal = self.balances.setdefault(spec.base, [ZERO, ZERO])
        quote_bal = self.balances.setdefault(spec.quote, [ZERO, ZERO])
        if order.side == "BUY":
            commission, asset = qty * rate, spec.base
            if order.locked_left > 0:
                release = min(order.locked_left, (order.price if order.price > 0 else order.stop_price) * qty)
                order.locked_left -= release
                quote_bal[1] -= release
                quote_bal[0] += release - quote_amount
            else:
                quote_bal[0] -= quote_amount
            base_bal[0] += qty - commission
        else:
            commission, asset = quote_amount * rate, spec.quote
            if order.locked_left > 0:
                release = min(order.locked_left, qty)
                order.locked_left -= release
                base_bal[1] -= release
                base_bal[0] += release - qty
            else:
                base_bal[0] -= qty
            quote_bal[0] += quote_amount - commission
        order.executed += qty
        order.cum_quote += quote_amount
        now = self.now_ms()
        order.update_time = now
        order.status = "FILLED" if order.remaining <= 0 else "PARTIALLY_FILLED"
        order.fills.append({"price": f8(price), "qty": f8(qty), "commission": f8(commission),
                            "commissionAsset": asset, "tradeId": self._next_trade})
        self.trades.append({
            "symbol": order.symbol, "id": self._next_trade, "orderId": order.order_id, "orderListId": -1,
            "price": f8(price), "qty": f8(qty), "quoteQty": f8(quote_amount), "commission": f8(commission),
            "commissionAsset": asset, "time": now, "isBuyer": order.side == "BUY", "isMaker": maker,
            "isBestMatch": True,
        })
        if order.status == "FILLED":
            self._release(order)
        self._list_event(order, "fill")

    def _release(self, order: Order) -> None:
        if order.locked_left > 0:
            spec = self.symbols[order.symbol]
            asset = spec.quote if order.side == "BUY" else spec.base
            self.balances[asset][1] -= order.locked_left
            self.balances[asset][0] += order.locked_left
            order.locked_left = ZERO

    def _close(self, order: Order, status: str) -> None:
        order.status = status
        order.update_time = self.now_ms()
        self._release(order)

    def _take(self, order: Order, book: Book) -> None:
        """Take the touch as taker, up to its displayed size."""
        price, size = (book.ask, book.ask_qty) if order.side == "BUY" else (book.bid, book.bid_qty)
        qty = min(order.remaining, size)
        if qty > 0:
            self._fill(order, qty, price, maker=False)

    def _match_limit(self, order: Order, book: Book, *, taker: bool) -> None:
        touch, size = (book.ask, book.ask_qty) if order.side == "BUY" else (book.bid, book.bid_qty)
        marketable = order.price >= touch if order.side == "BUY" else order.price <= touch
        if order.tif == "FOK" and (not marketable or size < order.remaining):
            self._close(order, "EXPIRED")
            return
        if marketable:
            qty = min(order.remaining, size)
            self._fill(order, qty, touch if taker else order.price, maker=not taker)
        if order.is_open and order.tif in ("IOC", "FOK"):
            self._close(order, "EXPIRED")

    def _on_book_move(self, symbol: str) -> None:
        book = self.books[symbol]
        last = (book.bid + book.ask) / 2
        for order in sorted(self.orders.values(), key=lambda o: o.order_id):
            if order.symbol != symbol or not order.is_open or order.status == "PENDING_NEW":
                continue
            if order.type in ("STOP_LOSS", "TAKE_PROFIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT") and not order.triggered:
                trigger = self._trail(order, last) if order.trailing_delta else order.stop_price
                if not trigger or not self._stop_reached(order.side, order.type, trigger, last):
                    continue
                order.triggered = True
                self._list_event(order, "trigger")
                if order.type in ("STOP_LOSS", "TAKE_PROFIT"):
                    self._take(order, book)
                    if order.is_open:
                        self._close(order, "EXPIRED")
                    continue
                self._match_limit(order, book, taker=True)
                continue
            if order.is_open and (order.type in ("LIMIT", "LIMIT_MAKER") or order.triggered):
                self._match_limit(order, book, taker=False)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024  # headers and body leave in one write (no Nagle / delayed-ACK stalls)
    server_state: FakeBinance

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        status, payload, extra, action = self.server_state.handle(method, parts.path, parts.query, body, self.headers)
        if action == "drop":
            self.close_connection = True
            return
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-MBX-USED-WEIGHT-1M", str(self.server_state.used_weight))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PUT(self) -> None:
        self._serve("PUT")


__all__ = ["ApiError", "FakeBinance", "Order", "hmac_hex", "strip_signature", "verify_signature"]
