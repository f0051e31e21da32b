"""A loopback stand-in for TWS / IB Gateway that speaks the real TWS API wire protocol.

The real ib_async (and ib_insync) client connects to it over TCP on 127.0.0.1,
so tests exercise the same code paths as against TWS: the ``API\\0`` handshake,
4-byte big-endian length prefixes, NUL-separated fields, server versions 164
to 178 (the client's maximum is used: 178 for ib_async 2.x, 176 for ib_insync
0.9.86), and the message layouts of the TWS API decoder.

What it does
    * handshake, ``startApi`` -> ``nextValidId`` + ``managedAccounts`` (+ the usual
      2104/2106/2158 farm messages); a client id already in use -> error 326
      and the socket is closed;
    * the start-up synchronisation: positions, open orders, completed orders,
      account updates (single and multi), executions (+ commission reports),
      each with its ``...End`` message;
    * contract details (error 200 for unknown symbols, several answers for an
      ambiguous request);
    * market data snapshots: ``tickPrice`` / ``tickSize`` + ``tickSnapshotEnd``;
      error 354 when live data is not subscribed for the symbol and the session
      asked for live data, delayed ticks (66/67/69/70) + warning 10167 after
      ``reqMarketDataType(3)``;
    * orders: market orders fill at the quote, marketable limit orders fill,
      others rest (``Submitted``; untriggered stops ``PreSubmitted``), IOC/FOK
      semantics, partial fills (``max_fill_qty``), cancels (10147 unknown,
      10148 already done), rejects (error 201 + ``Inactive``), commissions;
      every fill sends ``execDetails``, ``orderStatus``, ``commissionReport`` and
      position / account value updates;
    * historical bars (error 162 pacing violations on demand), current time;
    * test controls: move the market, fill a resting order (optionally without
      telling the client, to stage a fill/cancel race), drop every connection,
      stop and restart listening on the same port, swallow orders (no answer).
"""

from __future__ import annotations

import itertools
import logging
import math
import socket
import struct
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fakes.tws_orders import OrderExtrasMixin, extras

logger = logging.getLogger("fake_tws")

UNSET_DOUBLE = sys.float_info.max
MIN_SERVER_VERSION = 164
MAX_SERVER_VERSION = 178
DONE = ("Filled", "Cancelled", "ApiCancelled", "Inactive")


# ----------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------


@dataclass
class FakeContract:
    con_id: int
    symbol: str
    sec_type: str
    exchange: str
    currency: str
    local_symbol: str
    trading_class: str
    primary_exchange: str = ""
    last_trade_date: str = ""
    multiplier: str = ""
    strike: float = 0.0
    right: str = ""
    valid_exchanges: str = ""
    long_name: str = ""
    min_tick: float = 0.01


@dataclass
class FakeQuote:
    bid: float | None
    ask: float | None
    bid_size: float = 100.0
    ask_size: float = 100.0
    last: float | None = None


@dataclass
class FakeOrder:
    perm_id: int
    order_id: int
    client_id: int
    contract: FakeContract
    exchange: str
    action: str
    qty: float
    order_type: str
    lmt: float | None
    aux: float | None
    tif: str
    account: str
    order_ref: str
    status: str = "PendingSubmit"
    filled: float = 0.0
    avg_price: float = 0.0
    last_fill_price: float = 0.0
    triggered: bool = False
    completed_time: str = ""
    completed_status: str = ""
    oca_group: str = ""
    oca_type: int = 0
    parent_id: int = 0
    held: bool = False  # placed with transmit=False: TWS holds it until its family is transmitted
    waiting: bool = False  # a child waiting for its parent's fill
    trail_pct: float | None = None
    trail_stop: float | None = None  # current trigger of a trailing stop
    lmt_offset: float | None = None
    best: float | None = None  # best price since a trailing stop was accepted

    @property
    def remaining(self) -> float:
        return max(self.qty - self.filled, 0.0)

    @property
    def is_open(self) -> bool:
        return self.status not in DONE


@dataclass
class FakeExecution:
    exec_id: str
    order: FakeOrder
    side: str
    qty: float
    price: float
    time: datetime
    cum_qty: float
    avg_price: float
    commission: float
    currency: str


def default_contracts() -> list[FakeContract]:
    return [
        FakeContract(265598, "AAPL", "STK", "SMART", "USD", "AAPL", "NMS", "NASDAQ",
                     valid_exchanges="SMART,NASDAQ,NYSE,ARCA", long_name="APPLE INC"),
        FakeContract(272093, "MSFT", "STK", "SMART", "USD", "MSFT", "NMS", "NASDAQ",
                     valid_exchanges="SMART,NASDAQ,NYSE,ARCA", long_name="MICROSOFT CORP"),
        FakeContract(72063691, "BRK B", "STK", "SMART", "USD", "BRK B", "BRK B", "NYSE",
                     valid_exchanges="SMART,NYSE,ARCA", long_name="BERKSHIRE HATHAWAY INC-CL B"),
        FakeContract(12087792, "EUR", "CASH", "IDEALPRO", "USD", "EUR.USD", "EUR.USD",
                     valid_exchanges="IDEALPRO", long_name="European Monetary Union Euro", min_tick=0.00005),
        FakeContract(479624278, "BTC", "CRYPTO", "PAXOS", "USD", "BTC.USD", "BTC",
                     valid_exchanges="PAXOS", long_name="Bitcoin", min_tick=0.25),
        FakeContract(649180695, "ES", "FUT", "CME", "USD", "ESZ6", "ES", last_trade_date="20261218",
                     multiplier="50", valid_exchanges="CME", long_name="E-mini S&P 500", min_tick=0.25),
        FakeContract(649180700, "ES", "FUT", "CME", "USD", "ESH7", "ES", last_trade_date="20270319",
                     multiplier="50", valid_exchanges="CME", long_name="E-mini S&P 500", min_tick=0.25),
    ]


def default_quotes() -> dict[int, FakeQuote]:
    return {
        265598: FakeQuote(189.98, 190.02, 300, 400, 190.0),
        272093: FakeQuote(409.95, 410.05, 200, 200, 410.0),
        72063691: FakeQuote(455.10, 455.30, 100, 100, 455.2),
        12087792: FakeQuote(1.08495, 1.08505, 1_000_000, 1_000_000, 1.085),
        479624278: FakeQuote(64_990.0, 65_010.0, 1.5, 2.0, 65_000.0),
        649180695: FakeQuote(5_999.75, 6_000.25, 20, 25, 6_000.0),
        649180700: FakeQuote(6_049.75, 6_050.25, 10, 10, 6_050.0),
    }


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if value == UNSET_DOUBLE or math.isnan(value):
            return ""
        return repr(value)
    return str(value)


def _num(text: str) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return None if value == UNSET_DOUBLE or math.isnan(value) else value


_BAR_SECONDS = {
    "1 secs": 1, "5 secs": 5, "10 secs": 10, "15 secs": 15, "30 secs": 30, "1 min": 60, "2 mins": 120,
    "3 mins": 180, "5 mins": 300, "10 mins": 600, "15 mins": 900, "20 mins": 1200, "30 mins": 1800,
    "1 hour": 3600, "2 hours": 7200, "3 hours": 10800, "4 hours": 14400, "8 hours": 28800,
    "1 day": 86400, "1 week": 604800, "1 month": 2592000,
}
_DURATION_SECONDS = {"S": 1, "D": 86400, "W": 604800, "M": 2592000, "Y": 31536000}


# ----------------------------------------------------------------------------
# one client connection
# ----------------------------------------------------------------------------


class _Session(threading.Thread):
    def __init__(self, server: FakeTWS, sock: socket.socket, number: int) -> None:
        super().__init__(name=f"fake-tws-session-{number}", daemon=True)
        self.server = server
        self.sock = sock
        self.send_lock = threading.Lock()
        self.version = 0
        self.client_id: int | None = None
        self.alive = True
        self.market_data_type = 1
        self.positions_subscribed = False
        self.account_subscribed = False
        self.multi_subscriptions: dict[int, str] = {}

    # -- socket ---------------------------------------------------------------
    def _recv_exact(self, n: int) -> bytes | None:
        chunks = b""
        while len(chunks) < n:
            try:
                chunk = self.sock.recv(n - len(chunks))
            except OSError:
                return None
            if not chunk:
                return None
            chunks += chunk
        return chunks

    def _recv_msg(self) -> list[str] | None:
        header = self._recv_exact(4)
        if header is None:
            return None
        (size,) = struct.unpack(">I", header)
        payload = self._recv_exact(size) if size else b""
        if payload is None:
            return None
        fields = payload.decode(errors="backslashreplace").split("\0")
        if fields and fields[-1] == "":
            fields.pop()
        return fields

    def send_raw(self, payload: bytes) -> None:
        with self.send_lock:
            if not self.alive:
                return
            try:
                self.sock.sendall(struct.pack(">I", len(payload)) + payload)
            except OSError:
                self.alive = False

    def send(self, *fields: Any) -> None:
        self.send_raw("".join(_fmt(f) + "\0" for f in fields).encode())

    def error(self, req_id: int, code: int, message: str) -> None:
        fields: list[Any] = [4, 2, req_id, code, message]
        if self.version >= 166:
            fields.append("")
        self.send(*fields)

    def close(self) -> None:
        self.alive = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    # -- main loop --------------------------------------------------------------
    def run(self) -> None:
        try:
            if not self._handshake():
                return
            while self.alive:
                fields = self._recv_msg()
                if fields is None:
                    break
                if not fields:
                    continue
                try:
                    self.server._dispatch(self, fields)
                except Exception:  # a bug in the fake must be loud in the test log
                    logger.exception("fake TWS failed on %s", fields)
        finally:
            self.close()
            self.server._session_ended(self)

    def _handshake(self) -> bool:
        prefix = self._recv_exact(4)
        if prefix != b"API\0":
            return False
        fields = self._recv_msg()
        if not fields:
            return False
        text = fields[0].split(" ")[0]
        try:
            low, high = (int(x) for x in text.lstrip("v").split(".."))
        except ValueError:
            return False
        version = min(high, self.server.server_version)
        if version < max(low, MIN_SERVER_VERSION):
            return False
        self.version = version
        when = self.server.clock().strftime("%Y%m%d %H:%M:%S UTC")
        self.send_raw(f"{version}\0{when}\0".encode())
        return True


# ----------------------------------------------------------------------------
# the server
# ----------------------------------------------------------------------------


class FakeTWS(OrderExtrasMixin):
    """TWS on 127.0.0.1: ``with FakeTWS() as tws: IB().connect("127.0.0.1", tws.port, 1)``."""

    def __init__(
        self,
        *,
        accounts: tuple[str, ...] = ("DU1234567",),
        server_version: int = MAX_SERVER_VERSION,
        cash: float = 100_000.0,
        commission_per_share: float = 0.005,
        min_commission: float = 1.0,
        clock: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not MIN_SERVER_VERSION <= server_version <= MAX_SERVER_VERSION:
            raise ValueError(f"server_version must be {MIN_SERVER_VERSION}..{MAX_SERVER_VERSION}")
        self.accounts = tuple(accounts)
        self.server_version = server_version
        self.clock = clock or (lambda: datetime.now(UTC))
        self.host = host
        self._port = port
        self.lock = threading.RLock()
        self.contracts = default_contracts()
        self.quotes = default_quotes()
        self.not_live: set[int] = set()
        self.cash = float(cash)
        self.commission_per_share = commission_per_share
        self.min_commission = min_commission
        self.positions: dict[int, tuple[float, float]] = {}
        self.orders: list[FakeOrder] = []
        self.executions: list[FakeExecution] = []
        self.busy_client_ids: set[int] = set()
        self.reject_symbols: dict[str, str] = {}
        #: symbol -> (code, message) of an informational error sent on every accepted order
        self.order_notices: dict[str, tuple[int, str]] = {}
        #: symbol -> (code, message): orders are refused with only this error (no status, no permId)
        self.order_errors: dict[str, tuple[int, str]] = {}
        self.max_fill_qty: dict[int, float] = {}
        #: IB order types refused with error 201 (to stage a refused bracket leg)
        self.refuse_order_types: set[str] = set()
        #: permId -> reason: a modification of that order is refused (error 201), the order unchanged
        self.refuse_modify: dict[int, str] = {}
        self.ack_orders = True
        self.pacing_violations = 0
        self.history_requests: list[dict[str, Any]] = []
        self.received: list[tuple[int | None, int, list[str]]] = []
        self.connections = 0
        self._sessions: list[_Session] = []
        self._next_order_ids: dict[int, int] = {}
        self._perm_ids = itertools.count(1_900_000_001)
        self._exec_numbers = itertools.count(1)
        self._session_numbers = itertools.count(1)
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    def start(self) -> FakeTWS:
        self.start_listening()
        return self

    def start_listening(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        sock.listen(16)
        self._port = sock.getsockname()[1]
        self._listener = sock
        self._accept_thread = threading.Thread(target=self._accept, args=(sock,), name="fake-tws-accept",
                                               daemon=True)
        self._accept_thread.start()

    def stop_listening(self) -> None:
        sock, self._listener = self._listener, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept() (Linux)
            except OSError:
                pass
            try:
                sock.close()
            except OSError:
                pass
        if self._accept_thread is not None:
            self._accept_thread.join(2)

    def drop_connections(self) -> None:
        """Close every client socket (what the nightly TWS restart looks like to a client)."""
        with self.lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.close()
        for session in sessions:
            session.join(2)

    def stop(self) -> None:
        self.stop_listening()
        self.drop_connections()

    def __enter__(self) -> FakeTWS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            if self._listener is not listener:
                sock.close()
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session = _Session(self, sock, next(self._session_numbers))
            with self.lock:
                self._sessions.append(session)
                self.connections += 1
            session.start()

    def _session_ended(self, session: _Session) -> None:
        with self.lock:
            if session in self._sessions:
                self._sessions.remove(session)

    @property
    def client_ids(self) -> list[int]:
        """Client ids of the live sessions."""
        with self.lock:
            return [s.client_id for s in self._sessions if s.alive and s.client_id is not None]

    # -- test controls ---------------------------------------------------------
    def contract(self, symbol: str) -> FakeContract:
        """The contract for a symbol (``AAPL``, ``EUR``, ``ESZ6``...) or conId."""
        for c in self.contracts:
            if str(c.con_id) == str(symbol) or c.local_symbol == symbol or c.symbol == symbol:
                return c
        raise KeyError(symbol)

    def set_quote(self, symbol: str, bid: float | None, ask: float | None, bid_size: float = 100.0,
                  ask_size: float = 100.0, last: float | None = None) -> None:
        with self.lock:
            c = self.contract(symbol)
            mid = (bid + ask) / 2 if bid is not None and ask is not None else None
            self.quotes[c.con_id] = FakeQuote(bid, ask, bid_size, ask_size, last if last is not None else mid)

    def move_market(self, symbol: str, bid: float, ask: float) -> None:
        """New quote; resting orders that became marketable (or triggered) fill."""
        with self.lock:
            self.set_quote(symbol, bid, ask)
            con_id = self.contract(symbol).con_id
            for order in list(self.orders):
                if order.is_open and order.contract.con_id == con_id and order.perm_id and not order.waiting:
                    self._match(order)

    def set_live_subscription(self, symbol: str, subscribed: bool) -> None:
        """``False``: live data requests for the symbol get error 354 (delayed still works)."""
        with self.lock:
            con_id = self.contract(symbol).con_id
            if subscribed:
                self.not_live.discard(con_id)
            else:
                self.not_live.add(con_id)

    def set_position(self, symbol: str, qty: float, avg_cost: float) -> None:
        with self.lock:
            self.positions[self.contract(symbol).con_id] = (float(qty), float(avg_cost))

    def order_by_ref(self, order_ref: str) -> FakeOrder:
        with self.lock:
            for order in self.orders:
                if order.order_ref == order_ref:
                    return order
        raise KeyError(order_ref)

    def order_by_perm(self, perm_id: int | str) -> FakeOrder:
        with self.lock:
            for order in self.orders:
                if order.perm_id == int(perm_id):
                    return order
        raise KeyError(perm_id)

    def fill_order(self, perm_id: int | str, qty: float | None = None, price: float | None = None, *,
                   notify: bool = True) -> None:
        """Fill a resting order (all of it by default) at ``price`` (default: its limit or the quote).

        ``notify=False`` fills it at "IB" without telling the client: the next
        cancel then meets error 10148, as in a fill/cancel race.
        """
        with self.lock:
            order = self.order_by_perm(perm_id)
            q = self.quotes[order.contract.con_id]
            fill_price = price or order.lmt or (q.ask if order.action == "BUY" else q.bid)
            self._execute(order, qty if qty is not None else order.remaining, float(fill_price), notify=notify)

    def ib_connectivity(self, ok: bool) -> None:
        """Broadcast error 1100 (TWS lost IB's servers) or 1102 (restored)."""
        with self.lock:
            sessions = [s for s in self._sessions if s.alive and s.client_id is not None]
        for s in sessions:
            if ok:
                s.error(-1, 1102, "Connectivity between IB and Trader Workstation has been restored - data "
                                  "maintained. All data farms are connected.")
            else:
                s.error(-1, 1100, "Connectivity between IB and Trader Workstation has been lost.")

    def requests(self, msg_id: int) -> list[list[str]]:
        """Every message of that type the clients sent, oldest first."""
        with self.lock:
            return [fields for _, mid, fields in self.received if mid == msg_id]

    # -- dispatch ---------------------------------------------------------------
    def _dispatch(self, s: _Session, fields: list[str]) -> None:
        msg_id = int(fields[0])
        with self.lock:
            self.received.append((s.client_id, msg_id, list(fields)))
            if s.client_id is None and msg_id != 71:
                return
            handler = self._handlers().get(msg_id)
            if handler is None:
                logger.debug("fake TWS ignores message %s", fields)
                return
            handler(s, fields)

    def _handlers(self) -> dict[int, Callable[[_Session, list[str]], None]]:
        return {
            71: self._start_api,
            1: self._req_mkt_data,
            3: self._place_order,
            4: self._cancel_order,
            5: self._req_open_orders,
            6: self._req_account_updates,
            7: self._req_executions,
            8: self._req_ids,
            9: self._req_contract_details,
            16: self._req_all_open_orders,
            17: lambda s, f: s.send(15, 1, ",".join(self.accounts)),
            20: self._req_historical_data,
            49: lambda s, f: s.send(49, 1, int(self.clock().timestamp())),
            59: self._req_market_data_type,
            61: self._req_positions,
            62: self._req_account_summary,
            76: self._req_account_updates_multi,
            99: self._req_completed_orders,
        }

    # -- connection -------------------------------------------------------------------
    def _start_api(self, s: _Session, fields: list[str]) -> None:
        client_id = int(fields[2])
        in_use = client_id in self.busy_client_ids or any(
            o is not s and o.alive and o.client_id == client_id for o in self._sessions
        )
        if in_use:
            s.error(-1, 326, "Unable to connect as the client id is already in use. Retry with a unique "
                             "client id.")
            s.close()
            return
        s.client_id = client_id
        s.send(9, 1, self._next_order_ids.get(client_id, 1))
        s.send(15, 1, ",".join(self.accounts))
        s.error(-1, 2104, "Market data farm connection is OK:usfarm")
        s.error(-1, 2106, "HMDS data farm connection is OK:ushmds")
        s.error(-1, 2158, "Sec-def data farm connection is OK:secdefnj")

    def _req_ids(self, s: _Session, fields: list[str]) -> None:
        s.send(9, 1, self._next_order_ids.get(s.client_id or 0, 1))

    def _req_market_data_type(self, s: _Session, fields: list[str]) -> None:
        s.market_data_type = int(fields[2])

    # -- contracts ----------------------------------------------------------------------
    def _match_contracts(self, con_id: int, symbol: str, sec_type: str, expiry: str, exchange: str,
                         currency: str, local_symbol: str) -> list[FakeContract]:
        if con_id:
            return [c for c in self.contracts if c.con_id == con_id]
        out = []
        for c in self.contracts:
            if local_symbol and c.local_symbol != local_symbol:
                continue
            if symbol and c.symbol != symbol:
                continue
            if not symbol and not local_symbol:
                continue
            if sec_type and c.sec_type != sec_type:
                continue
            if currency and c.currency != currency:
                continue
            if expiry and not c.last_trade_date.startswith(expiry):
                continue
            if exchange and exchange not in c.valid_exchanges.split(",") and exchange != c.exchange:
                continue
            out.append(c)
        return out

    def _contract_from(self, fields: list[str], at: int) -> list[FakeContract]:
        con_id = int(fields[at] or 0)
        symbol, sec_type, expiry = fields[at + 1], fields[at + 2], fields[at + 3]
        exchange, currency, local_symbol = fields[at + 7], fields[at + 9], fields[at + 10]
        return self._match_contracts(con_id, symbol, sec_type, expiry, exchange, currency, local_symbol)

    def _req_contract_details(self, s: _Session, fields: list[str]) -> None:
        req_id = int(fields[2])
        matches = self._contract_from(fields, 3)
        if not matches:
            s.error(req_id, 200, "No security definition has been found for the request")
            return
        requested_exchange = fields[10]
        for c in matches:
            exchange = "SMART" if requested_exchange == "SMART" and c.sec_type == "STK" else c.exchange
            s.send(
                10, req_id, c.symbol, c.sec_type, c.last_trade_date, c.strike, c.right, exchange, c.currency,
                c.local_symbol, c.trading_class, c.trading_class, c.con_id, c.min_tick, c.multiplier,
                "ACTIVETIM,AD,ALERT,ALLOC,LMT,MKT,STP,STPLMT", c.valid_exchanges, 1, 0, c.long_name,
                c.primary_exchange, c.last_trade_date[:6], "", "", "", "US/Eastern",
                "20260105:0400-20260105:2000", "20260105:0930-20260105:1600", "", "", 0,
                1, "", "", "26", c.last_trade_date, "COMMON" if c.sec_type == "STK" else "", "1", "1", "100",
            )
        s.send(52, 1, req_id)

    # -- market data ----------------------------------------------------------------------
    def _req_mkt_data(self, s: _Session, fields: list[str]) -> None:
        req_id = int(fields[2])
        matches = self._contract_from(fields, 3)
        snapshot = fields[17] == "1" if len(fields) > 17 else False
        if len(matches) != 1:
            s.error(req_id, 200, "No security definition has been found for the request")
            return
        c = matches[0]
        live = c.con_id not in self.not_live
        if s.market_data_type in (1, 2) and not live:
            s.error(req_id, 354, f"Requested market data is not subscribed.Delayed market data is available."
                                 f"{c.symbol} {c.primary_exchange or c.exchange}/TOP/ALL")
            return
        delayed = not live
        if delayed:
            s.error(req_id, 10167, "Requested market data is not subscribed. Displaying delayed market data.")
        s.send(58, 1, req_id, 3 if delayed else 1)
        q = self.quotes.get(c.con_id) or FakeQuote(None, None, 0, 0, None)
        bid_t, ask_t, last_t, bid_sz_t, ask_sz_t = (66, 67, 68, 69, 70) if delayed else (1, 2, 4, 0, 3)
        s.send(1, 6, req_id, bid_t, q.bid if q.bid is not None else -1.0, q.bid_size if q.bid else 0, 0)
        s.send(1, 6, req_id, ask_t, q.ask if q.ask is not None else -1.0, q.ask_size if q.ask else 0, 0)
        if q.bid:
            s.send(2, 6, req_id, bid_sz_t, q.bid_size)
        if q.ask:
            s.send(2, 6, req_id, ask_sz_t, q.ask_size)
        if q.last is not None:
            s.send(1, 6, req_id, last_t, q.last, 1, 0)
        if snapshot:
            s.send(57, 1, req_id)

    def bars(self, symbol: str, duration: str, bar_size: str, what: str, format_date: int) -> list[tuple]:
        """The bars the fake answers a historical data request with (deterministic)."""
        c = self.contract(symbol)
        step = _BAR_SECONDS[bar_size]
        n, unit = duration.split()
        span = int(n) * _DURATION_SECONDS[unit]
        count = max(1, min(span // step, 60))
        now = self.clock()
        if step >= 86400:
            end = now.replace(hour=0, minute=0, second=0, microsecond=0)
        else:
            end = datetime.fromtimestamp(int(now.timestamp()) // step * step, UTC)
        q = self.quotes[c.con_id]
        base = q.last or ((q.bid or 0) + (q.ask or 0)) / 2 or 100.0
        out = []
        for i in range(count):
            t = end - timedelta(seconds=step * (count - 1 - i))
            o = round(base * (1 + 0.001 * math.sin(i)), 6)
            cl = round(base * (1 + 0.001 * math.sin(i + 1)), 6)
            hi = round(max(o, cl) * 1.0005, 6)
            lo = round(min(o, cl) * 0.9995, 6)
            if step >= 86400:
                stamp = t.strftime("%Y%m%d")
            elif format_date == 2:
                stamp = str(int(t.timestamp()))
            else:
                stamp = t.strftime("%Y%m%d %H:%M:%S UTC")
            volume = -1 if what == "MIDPOINT" else 1000 + 10 * i
            out.append((stamp, o, hi, lo, cl, volume, round((o + cl) / 2, 6), 5 + i))
        return out

    def _req_historical_data(self, s: _Session, fields: list[str]) -> None:
        req_id = int(fields[1])
        matches = self._contract_from(fields, 2)
        if len(matches) != 1:
            s.error(req_id, 200, "No security definition has been found for the request")
            return
        c = matches[0]
        bar_size, duration, use_rth, what, fmt = fields[16], fields[17], fields[18], fields[19], fields[20]
        self.history_requests.append({"symbol": c.local_symbol, "bar_size": bar_size, "duration": duration,
                                      "use_rth": use_rth == "1", "what_to_show": what, "format_date": fmt})
        if self.pacing_violations > 0:
            self.pacing_violations -= 1
            s.error(req_id, 162, "Historical Market Data Service error message:Historical data request pacing "
                                 "violation")
            return
        if bar_size not in _BAR_SECONDS:
            s.error(req_id, 321, f"Error validating request.-'bP' : cause - Invalid bar size {bar_size!r}")
            return
        bars = self.bars(c.con_id and str(c.con_id), duration, bar_size, what, int(fmt or 1))
        start = bars[0][0]
        end = bars[-1][0]
        flat: list[Any] = [17, req_id, start, end, len(bars)]
        for bar in bars:
            flat.extend(bar)
        s.send(*flat)

    # -- account ----------------------------------------------------------------------------
    def _mid(self, con_id: int) -> float:
        q = self.quotes.get(con_id)
        if q is None or q.bid is None or q.ask is None:
            return 0.0
        return (q.bid + q.ask) / 2

    def account_values(self) -> list[tuple[str, str, str]]:
        reserved = sum(
            o.remaining * (o.lmt or 0.0) for o in self.orders if o.is_open and o.action == "BUY" and o.perm_id
        )
        positions_value = sum(q * self._mid(cid) for cid, (q, _) in self.positions.items())
        available = self.cash - reserved
        return [
            ("AccountCode", self.accounts[0], ""),
            ("AccountType", "INDIVIDUAL", ""),
            ("Currency", "USD", "USD"),
            ("Currency", "BASE", "BASE"),
            ("CashBalance", f"{self.cash:.2f}", "USD"),
            ("CashBalance", f"{self.cash:.2f}", "BASE"),
            ("TotalCashValue", f"{self.cash:.2f}", "USD"),
            ("AvailableFunds", f"{available:.2f}", "USD"),
            ("BuyingPower", f"{4 * available:.2f}", "USD"),
            ("NetLiquidation", f"{self.cash + positions_value:.2f}", "USD"),
        ]

    def _req_account_updates(self, s: _Session, fields: list[str]) -> None:
        subscribe = fields[2] == "1"
        account = fields[3] or self.accounts[0]
        s.account_subscribed = subscribe
        if not subscribe:
            return
        for tag, value, currency in self.account_values():
            s.send(6, 2, tag, value, currency, account)
        for con_id, (qty, cost) in self.positions.items():
            self._send_portfolio(s, con_id, qty, cost, account)
        s.send(8, 1, self.clock().strftime("%H:%M"))
        s.send(54, 1, account)

    def _send_portfolio(self, s: _Session, con_id: int, qty: float, cost: float, account: str) -> None:
        c = self.contract(str(con_id))
        price = self._mid(con_id)
        s.send(7, 8, c.con_id, c.symbol, c.sec_type, c.last_trade_date, c.strike, c.right, c.multiplier,
               c.primary_exchange, c.currency, c.local_symbol, c.trading_class, qty, price, qty * price, cost,
               (price - cost) * qty, 0.0, account)

    def _req_account_updates_multi(self, s: _Session, fields: list[str]) -> None:
        req_id, account, model = int(fields[2]), fields[3], fields[4]
        s.multi_subscriptions[req_id] = account
        for tag, value, currency in self.account_values():
            s.send(73, 1, req_id, account, model, tag, value, currency)
        s.send(74, 1, req_id)

    def _req_account_summary(self, s: _Session, fields: list[str]) -> None:
        req_id = int(fields[2])
        for tag, value, currency in self.account_values():
            s.send(63, 1, req_id, self.accounts[0], tag, value, currency)
        s.send(64, 1, req_id)

    def _send_position(self, s: _Session, con_id: int) -> None:
        c = self.contract(str(con_id))
        qty, cost = self.positions.get(con_id, (0.0, 0.0))
        s.send(61, 3, self.accounts[0], c.con_id, c.symbol, c.sec_type, c.last_trade_date, c.strike, c.right,
               c.multiplier, c.exchange, c.currency, c.local_symbol, c.trading_class, qty, cost)

    def _req_positions(self, s: _Session, fields: list[str]) -> None:
        s.positions_subscribed = True
        for con_id in self.positions:
            self._send_position(s, con_id)
        s.send(62, 1)

    def _broadcast_account(self, con_id: int | None) -> None:
        for s in list(self._sessions):
            if not s.alive or s.client_id is None:
                continue
            if con_id is not None and s.positions_subscribed:
                self._send_position(s, con_id)
            if s.account_subscribed:
                for tag, value, currency in self.account_values():
                    s.send(6, 2, tag, value, currency, self.accounts[0])
            for req_id, account in s.multi_subscriptions.items():
                for tag, value, currency in self.account_values():
                    s.send(73, 1, req_id, account, "", tag, value, currency)

    # -- orders: messages ---------------------------------------------------------------------
    def _owner(self, order: FakeOrder) -> _Session | None:
        for s in reversed(self._sessions):
            if s.alive and s.client_id == order.client_id:
                return s
        return None

    def _open_order_fields(self, o: FakeOrder, status: str, version: int) -> list[Any]:
        c = o.contract
        f: list[Any] = [
            5, o.order_id, c.con_id, c.symbol, c.sec_type, c.last_trade_date, c.strike, c.right, c.multiplier,
            o.exchange, c.currency, c.local_symbol, c.trading_class,
            o.action, o.qty, o.order_type, o.lmt, o.aux, o.tif, o.oca_group, o.account, "", 0, o.order_ref,
            o.client_id, o.perm_id, 0, 0, 0.0, "", "", "", "", "",
        ]
        if version < 177:
            f.append("")  # faProfile
        f += [
            "", "", "", "", "", 0, "", -1, 0, "", "", "", "", "", "", 0, 0, 0, "", o.oca_type or 3, 0, 0, "",
            o.parent_id, 0, "", 0, "", "",
        ]
        f += [0, 0, o.trail_stop, o.trail_pct, "", "", "", 0, 0, 0, "", "", "", "", 0, "", "", 0, 0, "", 0, 0, status]
        f += ["", "", "", "", "", "", "", "", "", "", "", "", "", "", 0, 0]
        f += [0]  # conditions
        f += ["", "", o.trail_stop, o.lmt_offset, "", "", "", 0, "", "", "", "", 0, 0, 0, 0]
        if version >= 159:
            f.append("")
        if version >= 160:
            f.append("")
        if version >= 162:
            f.append(0)
        if version >= 170:
            f += ["", "", "", "", ""]
        return f

    def _completed_order_fields(self, o: FakeOrder, version: int) -> list[Any]:
        c = o.contract
        f: list[Any] = [
            101, c.con_id, c.symbol, c.sec_type, c.last_trade_date, c.strike, c.right, c.multiplier, o.exchange,
            c.currency, c.local_symbol, c.trading_class,
            o.action, o.qty, o.order_type, o.lmt, o.aux, o.tif, o.oca_group, o.account, "", 0, o.order_ref,
            o.perm_id, 0, 0, 0.0, "", "", "", "",
        ]
        if version < 177:
            f.append("")
        f += ["", "", "", "", "", 0, "", -1, "", "", "", "", "", "", 0, 0, "", o.oca_type or 3, 0, "", 0, "", ""]
        f += [0, 0, o.trail_stop, o.trail_pct, "", 0, 0, 0, "", "", "", "", "", "", 0, 0, "", 0, o.status, 0, 0, 0]
        f += [o.trail_stop, o.lmt_offset, "", 0, 0, "", o.filled, 0, 0, "", 0, 0, 0, o.completed_time, o.completed_status]
        if version >= 170:
            f += ["", "", "", "", ""]
        return f

    def _send_status(self, s: _Session | None, o: FakeOrder, *, open_order: bool = True) -> None:
        if s is None:
            return
        if open_order:
            s.send(*self._open_order_fields(o, o.status, s.version))
        s.send(3, o.order_id, o.status, o.filled, o.remaining, o.avg_price, o.perm_id, 0, o.last_fill_price,
               o.client_id, "", 0.0)

    def _exec_fields(self, e: FakeExecution, req_id: int, version: int) -> list[Any]:
        o, c = e.order, e.order.contract
        f: list[Any] = [
            11, req_id, o.order_id, c.con_id, c.symbol, c.sec_type, c.last_trade_date, c.strike, c.right,
            c.multiplier, c.primary_exchange or c.exchange, c.currency, c.local_symbol, c.trading_class,
            e.exec_id, e.time.strftime("%Y%m%d %H:%M:%S UTC"), o.account, c.primary_exchange or c.exchange,
            "BOT" if e.side == "BUY" else "SLD", e.qty, e.price, o.perm_id, o.client_id, 0, e.cum_qty,
            e.avg_price, o.order_ref, "", "", "", 2,
        ]
        if version >= 178:
            f.append(0)
        return f

    def _send_commission(self, s: _Session, e: FakeExecution) -> None:
        s.send(59, 1, e.exec_id, e.commission, e.currency, "", "", "")

    # -- orders: requests ---------------------------------------------------------------------
    def _place_order(self, s: _Session, fields: list[str]) -> None:
        order_id = int(fields[1])
        client_id = s.client_id or 0
        x = extras(fields, s.version)
        self._next_order_ids[client_id] = max(self._next_order_ids.get(client_id, 1), order_id + 1)
        existing = next((o for o in self.orders if o.client_id == client_id and o.order_id == order_id), None)
        if existing is not None:
            refusal = self.refuse_modify.get(existing.perm_id)
            if existing.is_open and refusal is not None:  # TWS keeps the order as it was
                s.error(order_id, 201, f"Order rejected - reason:{refusal}")
                self._send_status(s, existing)
                return
            if existing.is_open:  # modification
                existing.qty = float(fields[17])
                existing.lmt = _num(fields[19])
                existing.aux = _num(fields[20])
                existing.trail_pct = x["trail_pct"]
                existing.lmt_offset = x["lmt_offset"]
                if existing.held and x["transmit"]:
                    self._transmit(s, existing)
                    return
                if existing.held:
                    return
                self._send_status(s, existing)
                if not existing.waiting:
                    self._match(existing)
            else:
                s.error(order_id, 103, f"Duplicate order id {order_id}")
            return
        matches = self._contract_from(fields, 2)
        if len(matches) != 1:
            s.error(order_id, 200, "No security definition has been found for the request")
            return
        if not self.ack_orders:
            return
        c = matches[0]
        refusal = self.order_errors.get(c.local_symbol) or self.order_errors.get(c.symbol)
        if refusal is not None:
            s.error(order_id, *refusal)
            return
        order = FakeOrder(
            perm_id=0,
            order_id=order_id,
            client_id=client_id,
            contract=c,
            exchange=fields[9] or c.exchange,
            action=fields[16],
            qty=float(fields[17]),
            order_type=fields[18],
            lmt=_num(fields[19]),
            aux=_num(fields[20]),
            tif=fields[21] or "DAY",
            account=fields[23] or self.accounts[0],
            order_ref=fields[26],
            oca_group=x["oca_group"],
            oca_type=x["oca_type"],
            parent_id=x["parent_id"],
            trail_pct=x["trail_pct"],
            lmt_offset=x["lmt_offset"],
        )
        reason = self.reject_symbols.get(c.local_symbol) or self.reject_symbols.get(c.symbol)
        if reason is None and order.order_type not in ("MKT", "LMT", "STP", "STP LMT", "TRAIL", "TRAIL LIMIT"):
            reason = f"Unsupported order type {order.order_type}"
        if reason is None and order.order_type in self.refuse_order_types:
            reason = f"Order type {order.order_type} is not allowed for this account"
        if reason is None and order.order_type.startswith("TRAIL") and not (order.trail_pct or order.aux):
            reason = "A trailing order needs a trailing amount or percent"
        if reason is None and order.parent_id and self._parent_of(order) is None:
            reason = f"Parent order {order.parent_id} not found"
        if reason is not None:
            order.perm_id = next(self._perm_ids)
            self.orders.append(order)
            order.status = "Inactive"
            self._complete(order, "Rejected")
            s.error(order_id, 201, f"Order rejected - reason:{reason}")
            self._send_status(s, order)
            return
        self.orders.append(order)
        if not x["transmit"]:
            order.held = True  # TWS keeps it until its family is transmitted
            order.status = "PendingSubmit"
            return
        if order.parent_id:
            self._transmit(s, order)
            return
        order.perm_id = next(self._perm_ids)
        order.status = "PreSubmitted" if order.order_type in ("STP", "STP LMT", "TRAIL", "TRAIL LIMIT") else "Submitted"
        self._broadcast_account(None)  # a resting buy reserves funds
        self._send_status(s, order)
        notice = self.order_notices.get(c.local_symbol) or self.order_notices.get(c.symbol)
        if notice is not None:
            s.error(order_id, *notice)
        self._match(order)

    def _complete(self, order: FakeOrder, completed_status: str) -> None:
        order.completed_time = self.clock().strftime("%Y%m%d %H:%M:%S UTC")
        order.completed_status = completed_status

    def _cancel_remaining(self, order: FakeOrder, reason: str = "") -> None:
        order.status = "Cancelled"
        self._complete(order, reason or "Cancelled by Trader")
        self._broadcast_account(None)
        owner = self._owner(order)
        self._send_status(owner, order)
        if owner is not None:
            owner.error(order.order_id, 202, f"Order Canceled - reason:{reason}")

    def _match(self, order: FakeOrder) -> None:
        if not order.is_open or order.held or order.waiting:
            return
        q = self.quotes.get(order.contract.con_id)
        if q is None or q.bid is None or q.ask is None:
            return
        kind = order.order_type
        if kind in ("TRAIL", "TRAIL LIMIT") and not order.triggered:
            if not self._trail(order, q):
                return
            order.triggered = True
            order.status = "Submitted"
            self._send_status(self._owner(order), order)
            kind = "STP" if kind == "TRAIL" else "STP LMT"
        if kind in ("STP", "STP LMT") and not order.triggered:
            stop = order.aux or 0.0
            hit = q.ask >= stop if order.action == "BUY" else q.bid <= stop
            if not hit:
                return
            order.triggered = True
            order.status = "Submitted"
            self._send_status(self._owner(order), order)
        if kind in ("MKT", "STP"):
            price: float | None = q.ask if order.action == "BUY" else q.bid
        else:
            limit = order.lmt or 0.0
            if order.action == "BUY":
                price = q.ask if q.ask <= limit else None
            else:
                price = q.bid if q.bid >= limit else None
        if price is None:
            if order.tif in ("IOC", "FOK"):
                self._cancel_remaining(order)
            return
        available = self.max_fill_qty.get(order.contract.con_id, math.inf)
        qty = min(order.remaining, available)
        if order.tif == "FOK" and qty < order.remaining - 1e-9:
            self._cancel_remaining(order)
            return
        if qty > 0:
            self._execute(order, qty, float(price))
        if order.is_open and order.remaining > 1e-9 and order.tif == "IOC":
            self._cancel_remaining(order)

    def _execute(self, order: FakeOrder, qty: float, price: float, *, notify: bool = True) -> None:
        c = order.contract
        n = next(self._exec_numbers)
        notional = qty * price
        commission = round(min(max(self.min_commission, qty * self.commission_per_share), notional * 0.01), 6)
        total = order.avg_price * order.filled + notional
        order.filled += qty
        order.avg_price = total / order.filled
        order.last_fill_price = price
        if order.remaining <= 1e-9:
            order.status = "Filled"
            self._complete(order, "Filled")
        else:
            order.status = "Submitted"
        execution = FakeExecution(
            exec_id=f"0000e0d5.{order.perm_id:08x}.{n:02d}.01",
            order=order,
            side=order.action,
            qty=qty,
            price=price,
            time=self.clock(),
            cum_qty=order.filled,
            avg_price=order.avg_price,
            commission=commission,
            currency=c.currency,
        )
        self.executions.append(execution)
        signed = qty if order.action == "BUY" else -qty
        held, cost = self.positions.get(c.con_id, (0.0, 0.0))
        new_qty = held + signed
        if abs(new_qty) < 1e-9:
            self.positions[c.con_id] = (0.0, 0.0)
        elif held == 0 or (held > 0) == (signed > 0):
            self.positions[c.con_id] = (new_qty, (held * cost + signed * price) / new_qty)
        else:
            self.positions[c.con_id] = (new_qty, cost if (held > 0) == (new_qty > 0) else price)
        multiplier = float(c.multiplier or 1)
        self.cash += (-notional if order.action == "BUY" else notional) * multiplier - commission
        if not notify:
            return
        # position and account updates first: a client that saw the fill has seen them too
        self._broadcast_account(c.con_id)
        owner = self._owner(order)
        if owner is not None:
            owner.send(*self._exec_fields(execution, -1, owner.version))
            self._send_status(owner, order)
            self._send_commission(owner, execution)
        self._after_fill(order, qty)

    def _cancel_order(self, s: _Session, fields: list[str]) -> None:
        order_id = int(fields[2])
        order = next((o for o in self.orders if o.client_id == s.client_id and o.order_id == order_id), None)
        if order is None:
            s.error(order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found.")
        elif not order.is_open:
            s.error(order_id, 10148,
                    f"OrderId {order_id} that needs to be cancelled cannot be cancelled, state: {order.status}.")
        else:
            self._cancel_remaining(order)
            self._after_cancel(order)

    def _req_open_orders(self, s: _Session, fields: list[str]) -> None:
        for o in self.orders:
            if o.is_open and o.client_id == s.client_id and not o.held:
                self._send_status(s, o)
        s.send(53, 1)

    def _req_all_open_orders(self, s: _Session, fields: list[str]) -> None:
        for o in self.orders:
            if o.is_open and not o.held:
                self._send_status(s, o)
        s.send(53, 1)

    def _req_completed_orders(self, s: _Session, fields: list[str]) -> None:
        for o in self.orders:
            if not o.is_open:
                s.send(*self._completed_order_fields(o, s.version))
        s.send(102)

    def _req_executions(self, s: _Session, fields: list[str]) -> None:
        req_id = int(fields[2])
        client_filter = int(fields[3] or 0)
        account_filter = fields[4]
        for e in self.executions:
            if client_filter and e.order.client_id != client_filter:
                continue
            if account_filter and e.order.account != account_filter:
                continue
            s.send(*self._exec_fields(e, req_id, s.version))
            self._send_commission(s, e)
        s.send(55, 1, req_id)


__all__ = ["FakeContract", "FakeExecution", "FakeOrder", "FakeQuote", "FakeTWS"]
