"""The signed Binance REST client: signing, server time, request weight, retries.

One ``BinanceHTTP`` wraps one ``requests.Session`` (keep-alive; injectable) and
does everything the rest-api.md "General API Information", "LIMITS" and
"SIGNED Endpoint security" sections ask of a client:

Signing
    ``totalParams`` is the query string concatenated with the request body, each
    percent-encoded (RFC 3986: everything but ``A-Z a-z 0-9 - _ . ~`` is
    escaped, UTF-8); the signature is the hex HMAC-SHA256 of ``totalParams``
    keyed with the secret, appended as the last parameter. The exact encoded
    string that was signed is the one sent. GET and DELETE carry their
    parameters in the query string, POST in a form-encoded body. The API key
    goes in the ``X-MBX-APIKEY`` header of signed requests only.

Time
    ``timestamp`` is the local clock plus a server-time offset measured at
    start (``GET /api/v3/time``, midpoint of the round trip). A ``-1021``
    (timestamp outside recvWindow) re-measures the offset and retries that
    request once: the request was refused, so repeating it is safe.

Request weight
    ``X-MBX-USED-WEIGHT-<n><unit>`` is read from every response. Once the
    ``REQUEST_WEIGHT`` limits of ``exchangeInfo.rateLimits`` are known
    (``set_rate_limits``), a request that would take the used weight past
    ``weight_headroom`` of a limit waits for the next window instead. A 429 or
    418 blocks every request until its ``Retry-After`` has passed; a wait
    longer than ``max_retry_after_s`` raises ``RateLimitError`` instead.

Retries
    Only requests that are safe to repeat (``idempotent``: reads and cancels)
    are retried, with exponential backoff ``backoff_base_s * 2**attempt``
    (capped at ``backoff_max_s``), after a network error, a 5xx, a -1001/-1008,
    or a 429/418 whose ``Retry-After`` is within ``max_retry_after_s`` (waited
    out exactly; a 429 without one backs off, a 418 without one is not
    retried). A non-idempotent request (an order POST) is never re-sent here: a
    lost answer, a 5xx, -1006 or -1007 raise ``ExecutionUnknownError`` and the
    caller reconciles by client order id; a 429/418 on it raises
    ``RateLimitError`` (the order was refused, nothing was placed).

Circuit breaker
    Every request passes ``circuit`` (a ``CircuitBreaker``, default from
    ``live_trading.circuit``) first: while it is open the request raises
    ``CircuitOpenError`` before anything is signed or sent, so an order placed
    during an outage never becomes an order of unknown status. The final
    outcome of each request (after its retries) is recorded once: network
    errors, lost answers and 5xx count as failures, Binance's business answers
    (rejections, filter failures, unknown orders, rate limits) do not.

Every call has a timeout. Nothing secret is logged: log lines name the method,
path, status and weight only, and exception messages never include URLs.

Why this module is over 400 lines: it is one class, ``BinanceHTTP``, whose
signing, server-time offset, request-weight accounting and retry loop share
the state of one session; split up, the path of one request would be spread
over several files.

Why one module of ~520 lines: signing, server-time sync, the weight budget, retries and error
translation are steps of one request path, and each needs the others' state (server offset, weight
used, circuit).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import requests

from LIVE_TRADING.brokers.binance.errors import (
    INVALID_TIMESTAMP,
    RATE_LIMIT_CODES,
    ExecutionUnknownError,
    translate,
)
from LIVE_TRADING.common.circuit import CircuitBreaker, breaker_from_config
from LIVE_TRADING.common.clock import Clock, utc_now
from LIVE_TRADING.common.exceptions import BrokerConnectionError, BrokerError, RateLimitError

logger = logging.getLogger(__name__)

#: codes that mean "not processed, try again" for requests that are safe to repeat
RETRYABLE_CODES = frozenset({-1001, -1008})
_INTERVAL_MS = {"SECOND": 1_000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}
_INTERVAL_LETTER = {"SECOND": "S", "MINUTE": "M", "HOUR": "H", "DAY": "D"}
#: safety margin after a weight window rolls over before sending again
WINDOW_MARGIN_S = 0.05


# ---------------------------------------------------------------------------
# Pure helpers (signing and encoding)
# ---------------------------------------------------------------------------


def param_to_str(value: Any) -> str:
    """A parameter value as Binance expects it (booleans lower case, lists as compact JSON)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list | tuple):
        return json.dumps(list(value), separators=(",", ":"))
    return str(value)


def encode_params(params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> str:
    """Percent-encode parameters (RFC 3986 unreserved characters kept), in the given order; ``None`` skipped."""
    if not params:
        return ""
    items = params.items() if isinstance(params, Mapping) else params
    pairs = [(str(k), param_to_str(v)) for k, v in items if v is not None]
    return urlencode(pairs, quote_via=quote, safe="")


def sign_payload(secret: str, total_params: str) -> str:
    """Hex HMAC-SHA256 of ``total_params`` (query string + body) keyed with ``secret``."""
    return hmac.new(secret.encode("utf-8"), total_params.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WeightLimit:
    """One REQUEST_WEIGHT limiter: the header that reports it, its window and its limit."""

    header: str
    window_ms: int
    limit: int


def parse_weight_limits(rate_limits: Iterable[Mapping[str, Any]]) -> list[WeightLimit]:
    """The ``REQUEST_WEIGHT`` entries of ``exchangeInfo.rateLimits`` (others are ignored)."""
    out: list[WeightLimit] = []
    for item in rate_limits or []:
        if item.get("rateLimitType") != "REQUEST_WEIGHT":
            continue
        interval = str(item.get("interval", "")).upper()
        num = int(item.get("intervalNum", 1) or 1)
        if interval not in _INTERVAL_MS:
            continue
        out.append(
            WeightLimit(
                header=f"x-mbx-used-weight-{num}{_INTERVAL_LETTER[interval]}".lower(),
                window_ms=_INTERVAL_MS[interval] * num,
                limit=int(item["limit"]),
            )
        )
    return out


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


# ---------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------


class BinanceHTTP:
    """Signed, weight-aware, retrying access to one Binance REST base URL."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        recv_window_ms: int = 5000,
        timeout_s: float = 10.0,
        max_retries: int = 3,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        max_retry_after_s: float = 60.0,
        weight_headroom: float = 0.8,
        session: requests.Session | None = None,
        clock: Clock = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        circuit: CircuitBreaker | None = None,
    ) -> None:
        #: the breaker every request passes first (see the module docstring)
        self.circuit = circuit if circuit is not None else breaker_from_config("binance")
        self.base_url = base_url.rstrip("/")
        self.__key = api_key or ""
        self.__secret = api_secret or ""
        self.recv_window_ms = int(recv_window_ms)
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_base_s = float(backoff_base_s)
        self.backoff_max_s = float(backoff_max_s)
        self.max_retry_after_s = float(max_retry_after_s)
        self.weight_headroom = float(weight_headroom)
        self._own_session = session is None
        self.session = session if session is not None else requests.Session()
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.RLock()
        self.offset_ms = 0
        self.limits: list[WeightLimit] = []
        #: header -> (window index, used weight) as last reported by Binance
        self._used: dict[str, tuple[int, int]] = {}
        self._blocked_until_ms = 0
        #: counters for monitoring and tests
        self.stats = {"requests": 0, "retries": 0, "weight_waits": 0, "time_syncs": 0}
        #: False after a request finally failed to reach Binance; True once any answer arrives
        self.connected = True

    def __repr__(self) -> str:
        return f"BinanceHTTP(base_url={self.base_url!r}, api_key='***')"

    @property
    def has_credentials(self) -> bool:
        return bool(self.__key and self.__secret)

    # -- time -----------------------------------------------------------------
    def local_ms(self) -> int:
        return int(self._clock().timestamp() * 1000)

    def server_ms(self) -> int:
        """Binance's clock as we estimate it (local clock + measured offset), in ms."""
        return self.local_ms() + self.offset_ms

    def sync_time(self) -> int:
        """Measure the server-time offset (GET /api/v3/time); returns it in ms."""
        before = self.local_ms()
        data = self.request("GET", "/api/v3/time", weight=1)
        return self._adopt_time(before, data)

    def _adopt_time(self, before: int, data: Any) -> int:
        after = self.local_ms()
        try:
            server = int(data["serverTime"])
        except (KeyError, TypeError, ValueError):
            raise BrokerError("Binance /api/v3/time answer has no serverTime") from None
        with self._lock:
            self.offset_ms = server - (before + after) // 2
            self.stats["time_syncs"] += 1
        logger.info("Binance server time offset %+d ms", self.offset_ms)
        return self.offset_ms

    # -- request weight -------------------------------------------------------
    def set_rate_limits(self, rate_limits: Iterable[Mapping[str, Any]]) -> None:
        """Adopt the REQUEST_WEIGHT limits of ``exchangeInfo.rateLimits``."""
        limits = parse_weight_limits(rate_limits)
        with self._lock:
            self.limits = limits

    def used_weight(self, header: str = "x-mbx-used-weight-1m") -> int:
        """The used weight Binance last reported for ``header`` in the current window."""
        with self._lock:
            window_ms = next((lim.window_ms for lim in self.limits if lim.header == header), 60_000)
            window, used = self._used.get(header, (-1, 0))
            return used if window == self.server_ms() // window_ms else 0

    def headroom(self) -> float | None:
        """The fraction of the tightest REQUEST_WEIGHT budget still unused (``None`` before limits are known)."""
        with self._lock:
            if not self.limits:
                return None
            now = self.server_ms()
            left = []
            for lim in self.limits:
                window, used = self._used.get(lim.header, (-1, 0))
                used = used if window == now // lim.window_ms else 0
                left.append(max(0.0, 1.0 - used / lim.limit) if lim.limit > 0 else 1.0)
            return min(left)

    def blocked_for_s(self) -> float:
        """Seconds until a Retry-After block ends (0 when not blocked)."""
        with self._lock:
            return max(0.0, (self._blocked_until_ms - self.server_ms()) / 1000)

    def _wait_for_capacity(self, weight: int) -> None:
        with self._lock:
            now = self.server_ms()
            if self._blocked_until_ms > now:
                wait = (self._blocked_until_ms - now) / 1000
                if wait > self.max_retry_after_s:
                    raise RateLimitError(
                        f"Binance asked us to stop for {wait:.0f} s more (Retry-After), longer than "
                        f"max_retry_after_s={self.max_retry_after_s:g}",
                        retry_after_s=wait,
                    )
                logger.warning("Binance Retry-After: waiting %.2f s", wait)
                self._sleep(wait)
            for lim in self.limits:
                now = self.server_ms()
                window = now // lim.window_ms
                seen_window, used = self._used.get(lim.header, (window, 0))
                if seen_window != window:
                    used = 0
                budget = lim.limit * self.weight_headroom
                if used == 0 or used + weight <= budget:
                    continue
                wait = ((window + 1) * lim.window_ms - now) / 1000 + WINDOW_MARGIN_S
                if wait > self.max_retry_after_s and lim.window_ms > 60_000:
                    raise RateLimitError(
                        f"Binance request weight {used}/{lim.limit} of the {lim.header} window is "
                        f"used up; the window resets in {wait:.0f} s",
                        retry_after_s=wait,
                    )
                logger.info(
                    "Binance request weight %d/%d (%s): waiting %.2f s for the next window",
                    used, lim.limit, lim.header, wait,
                )
                self.stats["weight_waits"] += 1
                self._sleep(wait)
                self._used[lim.header] = (self.server_ms() // lim.window_ms, 0)

    def _note_weight(self, headers: Mapping[str, str], weight: int) -> None:
        with self._lock:
            now = self.server_ms()
            limits = self.limits or [WeightLimit("x-mbx-used-weight-1m", 60_000, 0)]
            for lim in limits:
                window = now // lim.window_ms
                raw = headers.get(lim.header)
                if raw is not None:
                    try:
                        self._used[lim.header] = (window, int(raw))
                        continue
                    except ValueError:
                        pass
                seen, used = self._used.get(lim.header, (window, 0))
                self._used[lim.header] = (window, (used if seen == window else 0) + weight)

    def _block(self, retry_after: float | None) -> None:
        if retry_after is None:
            return
        with self._lock:
            self._blocked_until_ms = max(self._blocked_until_ms, self.server_ms() + int(retry_after * 1000))

    # -- requests -------------------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_max_s, self.backoff_base_s * (2**attempt))

    def _prepare(self, method: str, path: str, params: Mapping[str, Any] | None, signed: bool) -> tuple[
        str, str | None, dict[str, str]
    ]:
        items = [(k, v) for k, v in (params or {}).items() if v is not None]
        headers: dict[str, str] = {}
        if signed:
            if not self.has_credentials:
                raise BrokerError("This Binance client has no API credentials for signed requests")
            items.append(("recvWindow", self.recv_window_ms))
            items.append(("timestamp", self.server_ms()))
            headers["X-MBX-APIKEY"] = self.__key
        encoded = encode_params(items)
        if signed:
            encoded = (encoded + "&" if encoded else "") + "signature=" + sign_payload(self.__secret, encoded)
        url = self.base_url + path
        if method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            return url, encoded, headers
        return (url + "?" + encoded if encoded else url), None, headers

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        signed: bool = False,
        weight: int = 1,
        idempotent: bool | None = None,
        symbol: str | None = None,
        order_id: str | None = None,
        force: bool = False,
    ) -> Any:
        """Send one request and return its decoded JSON; raise a translated error otherwise.

        ``idempotent`` (default: true for GET and DELETE) allows retries; a
        non-idempotent request whose outcome is unknown raises
        ``ExecutionUnknownError``. ``symbol`` / ``order_id`` only label errors.
        ``CircuitOpenError`` (nothing sent) while the circuit is open, unless
        ``force``: reads that settle the state of an order already sent (polling
        it, looking it up after a lost answer, fetching its trades) go through
        even then, so a placed order is never reported as "nothing was sent".
        """
        if not force:
            self.circuit.before_call()
        try:
            result = self._request(method, path, params, signed=signed, weight=weight, idempotent=idempotent,
                                   symbol=symbol, order_id=order_id)
        except BaseException as exc:
            self.circuit.record_failure(exc)
            raise
        self.circuit.record_success()
        return result

    def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        *,
        signed: bool,
        weight: int,
        idempotent: bool | None,
        symbol: str | None,
        order_id: str | None,
    ) -> Any:
        """``request`` without the circuit breaker (its retries and re-syncs stay inside one call)."""
        method = method.upper()
        if idempotent is None:
            idempotent = method in ("GET", "DELETE")
        attempt = 0
        resynced = False
        while True:
            self._wait_for_capacity(weight)
            url, body, headers = self._prepare(method, path, params, signed)
            self.stats["requests"] += 1
            try:
                resp = self.session.request(
                    method, url, data=body, headers=headers, timeout=(self.timeout_s, self.timeout_s)
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                kind = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
                message = f"Binance {method} {path} {kind} ({type(exc).__name__})"
                if not idempotent:
                    logger.warning("%s: execution status unknown", message)
                    raise ExecutionUnknownError(message + ": execution status unknown") from None
                if attempt < self.max_retries:
                    delay = self._backoff(attempt)
                    logger.warning("%s; retry %d/%d in %.2f s", message, attempt + 1, self.max_retries, delay)
                    self.stats["retries"] += 1
                    attempt += 1
                    self._sleep(delay)
                    continue
                self.connected = False
                raise BrokerConnectionError(message) from None
            except requests.RequestException as exc:  # invalid URL, too many redirects, ...
                raise BrokerConnectionError(f"Binance {method} {path} failed ({type(exc).__name__})") from None

            self.connected = True
            self._note_weight(resp.headers, weight)
            status = resp.status_code
            logger.debug("Binance %s %s -> %d (weight %d)", method, path, status, weight)
            if 200 <= status < 300:
                try:
                    return resp.json()
                except ValueError:
                    message = f"Binance {method} {path} answered {status} with a body that is not JSON"
                    if not idempotent:
                        raise ExecutionUnknownError(message) from None
                    raise BrokerError(message) from None

            code, msg, data = self._error_body(resp)
            retry_after = _retry_after(resp.headers)
            if code == INVALID_TIMESTAMP and signed and not resynced:
                logger.warning("Binance -1021 (%s): re-measuring server time and retrying once", msg)
                resynced = True
                before = self.local_ms()
                self._adopt_time(before, self._request("GET", "/api/v3/time", None, signed=False, weight=1,
                                                       idempotent=True, symbol=None, order_id=None))
                continue
            err = translate(code, msg, http_status=status, symbol=symbol, order_id=order_id,
                            retry_after_s=retry_after)
            # Binance's own detail of a partly failed request (cancelReplace -2021 / -2022)
            err.venue_data = data
            if status in (429, 418) or code in RATE_LIMIT_CODES:
                self._block(retry_after)
                # wait out a Retry-After within the bound; without one, back off on 429 but never
                # hammer a 418 (an IP ban grows with every request sent during it)
                waitable = retry_after <= self.max_retry_after_s if retry_after is not None else status != 418
                if idempotent and attempt < self.max_retries and waitable:
                    delay = retry_after if retry_after is not None else self._backoff(attempt)
                    logger.warning("Binance %d on %s %s; retry in %.2f s", status, method, path, delay)
                    self.stats["retries"] += 1
                    attempt += 1
                    if retry_after is None:
                        self._sleep(delay)
                    continue  # _wait_for_capacity waits out the Retry-After block
                raise err
            retryable = isinstance(err, ExecutionUnknownError) or code in RETRYABLE_CODES
            if retryable and idempotent and attempt < self.max_retries:
                delay = self._backoff(attempt)
                logger.warning("Binance %d (%s) on %s %s; retry in %.2f s", status, code, method, path, delay)
                self.stats["retries"] += 1
                attempt += 1
                self._sleep(delay)
                continue
            if isinstance(err, ExecutionUnknownError) and idempotent:
                raise BrokerConnectionError(str(err), code=code, venue_message=msg)
            raise err

    @staticmethod
    def _error_body(resp: requests.Response) -> tuple[Any, str, Any]:
        """``(code, msg, data)`` of an error answer; ``data`` is Binance's detail object, if any."""
        try:
            data = resp.json()
        except ValueError:
            text = " ".join((resp.text or "").split())[:200]
            return None, text or resp.reason or f"HTTP {resp.status_code}", None
        if isinstance(data, dict):
            return data.get("code"), str(data.get("msg", "")), data.get("data")
        return None, str(data)[:200], None

    def close(self) -> None:
        if self._own_session:
            self.session.close()


__all__ = [
    "BinanceHTTP",
    "WeightLimit",
    "encode_params",
    "param_to_str",
    "parse_weight_limits",
    "sign_payload",
]
