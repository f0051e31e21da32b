"""The connection to TWS / IB Gateway: one I/O thread, connect, reconnect.

Threading model
    ib_async and ib_insync are asyncio libraries: an ``IB`` object belongs to
    the event loop it connected on, and its blocking helpers (``ib.sleep``,
    ``ib.connect``) run that loop with ``run_until_complete``. Used from
    several threads, or from code that already runs an event loop (Jupyter,
    an async pipeline), that breaks: "There is no current event loop in
    thread", "This event loop is already running" (ib_insync #33, #167, #631).
    The cure its author recommends is to use the library from one thread of
    its own. ``IBConnection`` does exactly that: it starts a daemon thread
    running an asyncio loop forever, creates the ``IB`` object there, and
    every broker / data call is a coroutine submitted to that loop
    (``run``) while the calling thread - any thread, even one inside a
    running loop - blocks on the result. The loop never stops while a call
    waits, so IB's messages keep being processed: waiting is
    ``wait_until(predicate)``, the asynchronous form of ``ib.waitOnUpdate``
    (woken by ``ib.updateEvent`` after every packet), never ``time.sleep``.

Connecting
    ``ensure_connected`` (called first by every operation) connects with
    ``connect_timeout_s``. Nothing listening raises ``BrokerConnectionError``
    "is TWS or IB Gateway running on host:port with API enabled?". TWS
    answers a client id that is already in use with error 326 and closes the
    socket; that is noticed at once and the next id (``client_id + 1`` ...,
    ``client_id_retries`` of them) is tried. Once connected, the library has
    already synchronised positions, open orders, completed orders, account
    values and today's executions (its ``connectAsync`` does that).

Reconnecting
    A dropped connection (``disconnectedEvent``: TWS's nightly restart, a
    network blip) is only logged; the next call reconnects, up to
    ``reconnect_attempts`` times with exponential backoff
    (``reconnect_backoff_s`` doubling up to ``reconnect_backoff_max_s``),
    re-synchronising orders and executions as above, and re-applying the
    market data type. A call that still cannot connect raises
    ``BrokerConnectionError``; the call after it tries again, so the broker
    never fails forever. Listeners registered with ``on_connect`` run after
    every successful (re)connect.

Circuit breaker and alerts
    Every call through ``run`` passes ``circuit`` (a ``CircuitBreaker`` from
    ``live_trading.circuit``) first: after repeated connection failures calls
    fail at once with ``CircuitOpenError`` until the cool-down lets one probe
    through. When (re)connecting has kept failing for
    ``live_trading.alerts.reconnect_alert_after_s`` seconds, a
    ``reconnect_failing`` alert is raised (again at each failed attempt; the
    alert manager deduplicates).

Safety
    Besides the live-port rule of ``config.py``, the account is checked once
    connected: paper accounts start with ``D`` (``DU1234567``); any other
    account is refused with ``ConfigError`` unless ``allow_live`` is true.

Why this module is over 400 lines: the I/O thread, the error collector and
``IBConnection`` (connect, client-id retries, reconnect, the paper/live account
guard) all work on the one event loop and connection state; they are kept
together so the threading rules are visible in one place.

Why one module of ~560 lines: the event-loop thread, the error collector and the connect / reconnect
logic share one asyncio loop and its lifetime; split apart, each would reach into the others' state.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import itertools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from LIVE_TRADING.brokers.ibkr import parsing
from LIVE_TRADING.brokers.ibkr._ib import library_name, load_ib_module
from LIVE_TRADING.brokers.ibkr.config import IBKRSettings
from LIVE_TRADING.common import alerting
from LIVE_TRADING.common.circuit import CircuitBreaker, breaker_from_config
from LIVE_TRADING.common.exceptions import BrokerConnectionError, ConfigError
from LIVE_TRADING.common.settings import section

logger = logging.getLogger(__name__)

T = TypeVar("T")
_thread_ids = itertools.count(1)


@dataclass(frozen=True)
class IBError:
    """One ``errorEvent`` from IB: request / order id, code, message, contract (if any)."""

    req_id: int
    code: int
    message: str
    contract: Any = None


class ErrorCollector:
    """Collects IB errors while a ``with`` block runs (on the I/O loop)."""

    def __init__(self, ib: Any) -> None:
        self._ib = ib
        self.errors: list[IBError] = []

    def _on_error(self, req_id: int, code: int, message: str, contract: Any = None, *_: Any) -> None:
        self.errors.append(IBError(int(req_id), int(code), str(message), contract))

    def __enter__(self) -> ErrorCollector:
        self._ib.errorEvent += self._on_error
        return self

    def __exit__(self, *exc: object) -> None:
        self._ib.errorEvent -= self._on_error

    def for_contract(self, contract: Any) -> list[IBError]:
        """Errors of the requests made with this very contract object."""
        return [e for e in self.errors if e.contract is contract]


class LoopThread:
    """A daemon thread running one asyncio event loop forever."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()
        self._ready.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        try:
            self.loop.run_forever()
        finally:
            try:
                pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            finally:
                self.loop.close()

    def in_thread(self) -> bool:
        return threading.current_thread() is self.thread

    def run(self, coro_fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``coro_fn()`` on the loop and block the calling thread until it is done."""
        if self.in_thread():
            raise RuntimeError(
                "IBKR calls cannot be made from the IB I/O thread itself (e.g. from an ib event handler)"
            )
        if not self.thread.is_alive() or self.loop.is_closed():
            raise BrokerConnectionError("The IBKR connection is closed")

        async def runner() -> T:
            return await coro_fn()

        future = asyncio.run_coroutine_threadsafe(runner(), self.loop)
        try:
            while True:
                try:
                    return future.result(timeout=1.0)
                except concurrent.futures.TimeoutError:
                    if not self.thread.is_alive():
                        raise BrokerConnectionError("The IBKR I/O thread stopped") from None
        except BaseException:
            future.cancel()
            raise

    def call(self, fn: Callable[[], T]) -> T:
        """Run a plain function on the loop thread and return its result."""

        async def wrapper() -> T:
            return fn()

        return self.run(wrapper)

    def stop(self, timeout: float = 5.0) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout)


class _ClientIdInUse(Exception):
    pass


class IBConnection:
    """One API session with TWS / IB Gateway, shared by a broker and its market data."""

    def __init__(
        self,
        settings: IBKRSettings,
        *,
        ib: Any = None,
        ib_module: Any = None,
        readonly: bool | None = None,
        name: str = "ibkr",
        circuit: CircuitBreaker | None = None,
    ) -> None:
        self.settings = settings
        self.module = load_ib_module(ib_module if ib_module is not None else settings.ib_module)
        self.library = library_name(self.module)
        self.readonly = settings.readonly if readonly is None else bool(readonly)
        self.client_id = settings.client_id
        self.account: str | None = settings.account
        self.accounts: list[str] = []
        self.server_version = 0
        #: increases by one at every successful (re)connect
        self.generation = 0
        #: market data type in force for this session (1 live, 3 delayed, ...)
        self.market_data_type = settings.market_data_type
        #: False between error 1100 (TWS lost IB's servers) and 1101/1102 (restored)
        self.ib_servers_ok = True
        self._closed = False
        self._expect_disconnect = False
        self._on_connect: list[Callable[[bool], Any]] = []
        self._thread = LoopThread(f"{name}-io-{next(_thread_ids)}")
        #: the breaker every call through ``run`` passes first
        self.circuit = circuit if circuit is not None else breaker_from_config(name)
        self._failing_since: float | None = None
        self.reconnect_alert_after_s = section("alerts").reconnect_alert_after_s
        try:
            if ib is not None and ib.isConnected():
                raise ConfigError(
                    "ib= must be an IB object that is not connected yet: IBKRBroker connects it on its own "
                    "I/O thread (an IB object cannot be shared between event loops)"
                )
            self.ib = ib if ib is not None else self._thread.call(self.module.IB)
            self._connect_lock: asyncio.Lock = self._thread.call(asyncio.Lock)
            self._thread.call(self._install_handlers)
        except BaseException:
            self._thread.stop()
            raise

    # -- plumbing ------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    @property
    def closed(self) -> bool:
        return self._closed

    def run(self, coro_fn: Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine function on the I/O loop; blocks the calling thread (any thread).

        ``CircuitOpenError`` at once, nothing sent, while the circuit is open.
        """
        if self._closed:
            raise BrokerConnectionError("The IBKR connection is closed")
        self.circuit.before_call()
        try:
            result = self._thread.run(coro_fn)
        except BaseException as exc:
            self.circuit.record_failure(exc)
            raise
        self.circuit.record_success()
        return result

    def call(self, fn: Callable[[], T]) -> T:
        """Run a plain function on the I/O thread (e.g. to create asyncio objects bound to its loop)."""
        return self._thread.call(fn)

    def on_connect(self, callback: Callable[[bool], Any]) -> None:
        """Call ``callback(reconnected)`` (may be async) after every successful connect, on the I/O loop."""
        self._on_connect.append(callback)

    def collect_errors(self) -> ErrorCollector:
        return ErrorCollector(self.ib)

    def _install_handlers(self) -> None:
        self.ib.errorEvent += self._on_error
        self.ib.disconnectedEvent += self._on_disconnected

    def _on_error(self, req_id: int, code: int, message: str, *_: Any) -> None:
        if code == parsing.ERR_IB_CONNECTIVITY_LOST:
            self.ib_servers_ok = False
            logger.warning("TWS lost its connection to IB's servers (1100): %s", message)
        elif code in parsing.IB_CONNECTIVITY_RESTORED:
            self.ib_servers_ok = True
            logger.info("TWS connection to IB's servers restored (%d): %s", code, message)

    def _on_disconnected(self, *_: Any) -> None:
        if not self._expect_disconnect and not self._closed:
            logger.warning(
                "Connection to IB at %s (client id %s) lost; the next call reconnects", self.address, self.client_id
            )

    def _disconnect_quietly(self) -> None:
        self._expect_disconnect = True
        try:
            self.ib.disconnect()
        except Exception:  # pragma: no cover - best effort
            logger.debug("ib.disconnect() failed", exc_info=True)
        try:
            client = self.ib.client
            if client.connState != client.DISCONNECTED:
                client.disconnect()
        except Exception:  # pragma: no cover - best effort
            logger.debug("client.disconnect() failed", exc_info=True)
        finally:
            self._expect_disconnect = False

    # -- waiting ---------------------------------------------------------------
    async def wait_until(self, predicate: Callable[[], Any], timeout: float) -> bool:
        """Let IB's messages flow until ``predicate()`` is true or ``timeout`` passes.

        Returns the last value of the predicate's truth. Stops early (and
        returns ``False``) if the connection drops.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        while True:
            if predicate():
                return True
            remaining = deadline - loop.time()
            if remaining <= 0 or not self.ib.isConnected():
                return bool(predicate())
            woke = loop.create_future()

            def on_update(*_: Any, _f: asyncio.Future = woke) -> None:
                if not _f.done():
                    _f.set_result(None)

            self.ib.updateEvent += on_update
            self.ib.disconnectedEvent += on_update
            try:
                await asyncio.wait_for(woke, min(remaining, 0.5))
            except TimeoutError:
                pass
            finally:
                self.ib.updateEvent -= on_update
                self.ib.disconnectedEvent -= on_update

    async def request(self, awaitable: Awaitable[T], what: str) -> T:
        """Await one library request with ``request_timeout_s``; failures become ``BrokerConnectionError``."""
        try:
            return await asyncio.wait_for(awaitable, self.settings.request_timeout_s)
        except TimeoutError:
            raise BrokerConnectionError(
                f"IB did not answer {what} within {self.settings.request_timeout_s:g}s ({self.address})"
            ) from None
        except ConnectionError as exc:
            raise BrokerConnectionError(f"Connection to IB lost during {what}: {exc}") from exc

    # -- connecting --------------------------------------------------------------
    async def ensure_connected(self) -> None:
        """Connect (or reconnect after a drop) unless connected; see the module docstring."""
        if self._closed:
            raise BrokerConnectionError("The IBKR connection is closed")
        if self.ib.isConnected():
            return
        async with self._connect_lock:
            if self.ib.isConnected():
                return
            reconnect = self.generation > 0
            attempts = self.settings.reconnect_attempts if reconnect else 1
            last: BrokerConnectionError | None = None
            for attempt in range(attempts):
                if attempt:
                    delay = min(
                        self.settings.reconnect_backoff_s * 2 ** (attempt - 1),
                        self.settings.reconnect_backoff_max_s,
                    )
                    logger.info("Reconnecting to IB at %s in %.3gs (attempt %d/%d)", self.address, delay,
                                attempt + 1, attempts)
                    await asyncio.sleep(delay)
                try:
                    await self._connect_client_ids()
                except BrokerConnectionError as exc:
                    last = exc
                    logger.warning("Connecting to IB at %s failed: %s", self.address, exc)
                    continue
                break
            else:
                assert last is not None
                self._note_connect_failure(last)
                raise last
            self._failing_since = None
            await self._after_connect(reconnect)

    def _note_connect_failure(self, exc: BrokerConnectionError) -> None:
        """Alert when connecting has been failing for longer than ``reconnect_alert_after_s``."""
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        failing_for = now - self._failing_since
        if failing_for >= self.reconnect_alert_after_s:
            alerting.emit(alerting.RECONNECT_FAILING, venue="ibkr", address=self.address,
                          failing_for_s=round(failing_for, 1), error=str(exc))

    async def _connect_client_ids(self) -> None:
        first = self.client_id
        ids = [first + i for i in range(self.settings.client_id_retries + 1)]
        for client_id in ids:
            try:
                await self._connect_once(client_id)
            except _ClientIdInUse:
                logger.warning("IB client id %d is in use at %s (error 326); trying another", client_id,
                               self.address)
                continue
            if client_id != self.settings.client_id:
                logger.warning("Connected to IB with client id %d instead of %d", client_id,
                               self.settings.client_id)
            self.client_id = client_id
            return
        raise BrokerConnectionError(
            f"IB client ids {ids[0]}..{ids[-1]} are all in use at {self.address} (error 326); close other API "
            "sessions or choose another live_trading.ibkr.client_id",
            code=parsing.ERR_CLIENT_ID_IN_USE,
        )

    async def _connect_once(self, client_id: int) -> None:
        ib = self.ib
        busy = asyncio.Event()
        closed = asyncio.Event()

        def on_error(req_id: int, code: int, *_: Any) -> None:
            if code == parsing.ERR_CLIENT_ID_IN_USE:
                busy.set()

        def on_api_error(*_: Any) -> None:
            closed.set()

        ib.errorEvent += on_error
        ib.client.apiError += on_api_error
        self._expect_disconnect = True
        tasks: list[asyncio.Future[Any]] = []
        try:
            connect = asyncio.ensure_future(
                ib.connectAsync(
                    self.settings.host,
                    self.settings.port,
                    clientId=client_id,
                    timeout=self.settings.connect_timeout_s,
                    readonly=self.readonly,
                    account=self.account or "",
                )
            )
            watch_busy = asyncio.ensure_future(busy.wait())
            watch_closed = asyncio.ensure_future(closed.wait())
            tasks = [connect, watch_busy, watch_closed]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if connect.done() and connect.exception() is None and ib.isConnected():
                return
            if not connect.done():
                # TWS said no (326) or closed the socket mid-handshake: do not wait for the timeout.
                await asyncio.sleep(0)  # let a 326 that arrived with the close be processed
                connect.cancel()
                await asyncio.gather(connect, return_exceptions=True)
                self._disconnect_quietly()
                if busy.is_set():
                    raise _ClientIdInUse(client_id)
                raise BrokerConnectionError(
                    f"IB at {self.address} closed the API connection during the handshake (client id "
                    f"{client_id}); check that API connections are accepted (Trusted IPs, max connections)"
                )
            if busy.is_set():
                self._disconnect_quietly()
                raise _ClientIdInUse(client_id)
            exc = connect.exception() or ConnectionError("connection not ready")
            self._disconnect_quietly()
            raise self._translate(exc, client_id) from exc
        finally:
            self._expect_disconnect = False
            for task in tasks:
                if not task.done():
                    task.cancel()
            ib.errorEvent -= on_error
            ib.client.apiError -= on_api_error

    def _translate(self, exc: BaseException, client_id: int) -> BrokerConnectionError:
        where = self.address
        hint = (
            f"is TWS or IB Gateway running on {where} with API enabled? (TWS: Configure > API > Settings > "
            "Enable ActiveX and Socket Clients; ports 7497 TWS paper, 4002 IB Gateway paper)"
        )
        if isinstance(exc, TimeoutError):
            return BrokerConnectionError(
                f"Timed out after {self.settings.connect_timeout_s:g}s connecting to IB at {where} (client id "
                f"{client_id}): the API handshake did not complete; {hint} Is a confirmation dialog waiting in TWS?"
            )
        if isinstance(exc, ConnectionRefusedError):
            return BrokerConnectionError(f"Cannot connect to IB at {where} (connection refused): {hint}")
        if isinstance(exc, OSError):
            return BrokerConnectionError(f"Cannot connect to IB at {where} ({exc}): {hint}")
        return BrokerConnectionError(f"Cannot connect to IB at {where} ({exc!r}): {hint}")

    async def _after_connect(self, reconnect: bool) -> None:
        ib = self.ib
        accounts = [a for a in ib.managedAccounts() if a]
        self.accounts = accounts
        if self.settings.account:
            if self.settings.account not in accounts:
                self._disconnect_quietly()
                raise ConfigError(
                    f"live_trading.ibkr.account {self.settings.account!r} is not managed by this IB login "
                    f"(managed accounts: {', '.join(accounts) or 'none'})"
                )
            account = self.settings.account
        elif accounts:
            account = accounts[0]
            if len(accounts) > 1:
                logger.warning("IB login manages %s; using %s (set live_trading.ibkr.account to choose)",
                               ", ".join(accounts), account)
        else:
            self._disconnect_quietly()
            raise BrokerConnectionError(f"IB at {self.address} reported no managed account")
        if not self.settings.allow_live and not account.upper().startswith("D"):
            self._disconnect_quietly()
            raise ConfigError(
                f"IB account {account} is a live (real-money) account (paper accounts start with D); "
                "set live_trading.ibkr.allow_live: true to trade it"
            )
        self.account = account
        self.server_version = int(ib.client.serverVersion())
        self.ib_servers_ok = True
        if self.market_data_type != 1:
            ib.reqMarketDataType(self.market_data_type)
        self.generation += 1
        logger.info(
            "%s to IB at %s: client id %d, account %s, server version %d, %s",
            "Reconnected" if reconnect else "Connected", self.address, self.client_id, account,
            self.server_version, self.library,
        )
        for callback in list(self._on_connect):
            try:
                result = callback(reconnect)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("on_connect callback failed")

    async def set_market_data_type(self, market_data_type: int) -> None:
        """Switch this session's market data type (kept across reconnects)."""
        self.market_data_type = market_data_type
        if self.ib.isConnected():
            try:
                self.ib.reqMarketDataType(market_data_type)
            except ConnectionError:  # dropped just now: applied again at the reconnect
                pass

    # -- closing -----------------------------------------------------------------
    def close(self) -> None:
        """Disconnect and stop the I/O thread (idempotent)."""
        if self._closed:
            return
        try:
            self._thread.call(self._disconnect_quietly)
        except Exception:  # pragma: no cover - best effort
            logger.debug("disconnect on close failed", exc_info=True)
        finally:
            self._closed = True
            self._thread.stop()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("connected" if self.ib.isConnected() else "not connected")
        return f"IBConnection({self.address}, client_id={self.client_id}, {self.library}, {state})"


__all__ = ["ErrorCollector", "IBConnection", "IBError", "LoopThread"]
