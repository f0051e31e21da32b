"""A circuit breaker for calls to an external service (Binance REST, the IB connection, Yahoo).

When a venue is down, hammering it makes things worse: every call waits for a
timeout, retries pile up, and an order sent into a dying connection may end
with an unknown status. A ``CircuitBreaker`` watches the outcomes of the calls
to one service and, once they keep failing, refuses new calls at once::

              N consecutive failures, or
              error rate >= threshold over window_s (at least min_calls calls)
    CLOSED ────────────────────────────────────────────────► OPEN
      ▲                                                      │  every call: CircuitOpenError,
      │ the probe succeeds                                   │  nothing is sent
      │                            cooldown_s have passed    ▼
      └──────────────────────────────────────────────── HALF_OPEN: one probe call goes through;
                           the probe fails: back to OPEN ──┘       the others still get CircuitOpenError

Which failures count (``is_connection_failure``)
    Only signs that the *service* is unwell: ``BrokerConnectionError`` (network
    errors, timeouts, lost answers, 5xx: the adapters translate all of these to
    it), and raw ``TimeoutError`` / ``ConnectionError`` / ``OSError`` (which
    includes ``requests.RequestException``). Business answers never count, they
    prove the service is up: ``OrderRejectedError`` and its subclasses
    (insufficient funds, filter failures, risk limits), ``OrderNotFoundError``,
    ``QuoteUnavailableError``, ``AuthenticationError``. ``RateLimitError`` does
    not count either: the venue answered, and the HTTP client already honours
    its ``Retry-After`` and weight budget (opening the circuit on a 429 would
    only hide that answer behind a less precise one). A failure that does not
    count is recorded as a healthy call.

Using it::

    breaker = CircuitBreaker("binance", failure_threshold=5, cooldown_s=30)
    breaker.before_call()          # CircuitOpenError if open: check BEFORE sending anything
    try:
        answer = send()
    except Exception as exc:
        breaker.record_failure(exc)  # counted only if is_connection_failure(exc)
        raise
    breaker.record_success()

or ``breaker.call(send)`` which does exactly that. Transitions call the
``on_transition(breaker, old_state, new_state, reason)`` listeners (logging,
alerts); a listener that raises is logged and ignored. Thread-safe.

``clock`` is a float-seconds monotonic clock (default ``time.monotonic``;
tests inject a manual one). Settings: ``live_trading.circuit.*`` (see
``CircuitSettings.from_config``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from LIVE_TRADING.common import alerting
from LIVE_TRADING.common.exceptions import (
    BrokerConnectionError,
    BrokerError,
    CircuitOpenError,
)
from LIVE_TRADING.common.settings import section

logger = logging.getLogger(__name__)

T = TypeVar("T")

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
STATES = (CLOSED, HALF_OPEN, OPEN)
#: numeric value of each state for Prometheus (``live_trading_circuit_state``)
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}

TransitionListener = Callable[["CircuitBreaker", str, str, str], Any]


def is_connection_failure(exc: BaseException) -> bool:
    """True when ``exc`` says the service is unwell (see the module docstring); business answers are False."""
    if isinstance(exc, CircuitOpenError):
        return False  # our own refusal, not an outcome of the service
    if isinstance(exc, BrokerConnectionError):
        return True
    if isinstance(exc, BrokerError):
        return False  # rejections, not found, rate limits, authentication, ...
    return isinstance(exc, TimeoutError | ConnectionError | OSError)


@dataclass(frozen=True)
class CircuitSettings:
    """``live_trading.circuit.*``: when a breaker opens and how long it stays open."""

    enabled: bool = True
    failure_threshold: int = 5
    error_rate_threshold: float = 0.5
    window_s: float = 60.0
    min_calls: int = 10
    cooldown_s: float = 30.0

    @classmethod
    def from_config(cls, **overrides: Any) -> CircuitSettings:
        """The settings of ``live_trading.circuit`` (keyword arguments override); ``ConfigError`` if bad."""
        cfg = section("circuit", overrides)
        return cls(cfg.enabled, cfg.failure_threshold, cfg.error_rate_threshold, cfg.window_s, cfg.min_calls,
                   cfg.cooldown_s)

    def breaker(self, name: str, *, clock: Callable[[], float] = time.monotonic,
                counts: Callable[[BaseException], bool] = is_connection_failure) -> CircuitBreaker:
        """A ``CircuitBreaker`` named ``name`` with these settings, whose transitions raise alerts."""
        breaker = CircuitBreaker(
            name, failure_threshold=self.failure_threshold, error_rate_threshold=self.error_rate_threshold,
            window_s=self.window_s, min_calls=self.min_calls, cooldown_s=self.cooldown_s, clock=clock,
            enabled=self.enabled, counts=counts,
        )
        breaker.on_transition(alert_on_transition)
        return breaker


def alert_on_transition(breaker: CircuitBreaker, old: str, new: str, reason: str) -> None:
    """Transition listener: ``circuit_opened`` / ``circuit_closed`` alerts (half-open is only logged)."""
    if new == OPEN:
        alerting.emit(alerting.CIRCUIT_OPENED, venue=breaker.name, previous=old, reason=reason,
                      cooldown_s=breaker.cooldown_s)
    elif new == CLOSED:
        alerting.emit(alerting.CIRCUIT_CLOSED, venue=breaker.name, previous=old, reason=reason)


def breaker_from_config(name: str, **kw: Any) -> CircuitBreaker:
    """A breaker for service ``name`` set up from ``live_trading.circuit`` (``kw`` as for ``breaker``)."""
    return CircuitSettings.from_config().breaker(name, **kw)


class CircuitBreaker:
    """Closed / open / half-open breaker in front of one external service (see the module docstring).

    Args:
        name: the service, e.g. ``"binance"``; shown in errors, logs, metrics.
        failure_threshold: consecutive counted failures that open the circuit.
        error_rate_threshold: fraction of failed calls in the window that opens it (0 < x <= 1).
        window_s: length of the sliding window for the error rate, seconds.
        min_calls: the error rate is only judged on at least this many calls in the window.
        cooldown_s: how long the circuit stays open before one probe call is let through.
        clock: monotonic seconds (default ``time.monotonic``).
        enabled: ``False`` makes a breaker that records but never opens.
        counts: which exceptions count as failures (default ``is_connection_failure``).
    """

    def __init__(
        self,
        name: str,
        failure_threshold: int = 5,
        error_rate_threshold: float = 0.5,
        window_s: float = 60.0,
        min_calls: int = 10,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        enabled: bool = True,
        counts: Callable[[BaseException], bool] = is_connection_failure,
    ) -> None:
        if failure_threshold < 1 or min_calls < 1:
            raise ValueError("failure_threshold and min_calls must be >= 1")
        if not 0 < error_rate_threshold <= 1 or window_s <= 0 or cooldown_s <= 0:
            raise ValueError("error_rate_threshold must be in (0, 1]; window_s and cooldown_s > 0")
        self.name = name
        self.failure_threshold = int(failure_threshold)
        self.error_rate_threshold = float(error_rate_threshold)
        self.window_s = float(window_s)
        self.min_calls = int(min_calls)
        self.cooldown_s = float(cooldown_s)
        self.enabled = bool(enabled)
        self._clock = clock
        self._counts = counts
        self._lock = threading.Lock()
        self._state = CLOSED
        self._consecutive = 0
        self._window: deque[tuple[float, bool]] = deque()  # (time, failed)
        self._opened_at = 0.0
        self._probe_in_flight = False
        self._listeners: list[TransitionListener] = []
        #: totals since creation, for metrics
        self.calls = 0
        self.failures = 0
        self.rejected = 0  # calls refused because the circuit was open
        self.opened = 0  # times the circuit opened
        self.last_reason = ""

    # -- listeners -------------------------------------------------------------
    def on_transition(self, listener: TransitionListener) -> None:
        """Call ``listener(breaker, old_state, new_state, reason)`` after every state change."""
        self._listeners.append(listener)

    def _notify(self, old: str, new: str, reason: str) -> None:
        log = logger.warning if new == OPEN else logger.info
        log("Circuit %s: %s -> %s (%s)", self.name, old, new, reason)
        for listener in list(self._listeners):
            try:
                listener(self, old, new, reason)
            except Exception:  # a listener must never break the call it observes
                logger.exception("Circuit %s transition listener failed", self.name)

    # -- state -----------------------------------------------------------------
    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open`` (an open circuit past its cool-down reads ``half_open``)."""
        with self._lock:
            if self._state == OPEN and self._clock() - self._opened_at >= self.cooldown_s:
                return HALF_OPEN
            return self._state

    def retry_in_s(self) -> float:
        """Seconds until an open circuit lets a probe through (0 when not open)."""
        with self._lock:
            if self._state != OPEN:
                return 0.0
            return max(0.0, self.cooldown_s - (self._clock() - self._opened_at))

    def snapshot(self) -> dict[str, Any]:
        """State and counters, for ``/health/detailed`` and ``/metrics``."""
        state = self.state
        with self._lock:
            now = self._clock()
            self._trim(now)
            in_window = len(self._window)
            failed = sum(1 for _, f in self._window if f)
            return {
                "name": self.name,
                "state": state,
                "consecutive_failures": self._consecutive,
                "window_calls": in_window,
                "window_error_rate": failed / in_window if in_window else 0.0,
                "calls": self.calls,
                "failures": self.failures,
                "rejected": self.rejected,
                "opened": self.opened,
                "retry_in_s": max(0.0, self.cooldown_s - (now - self._opened_at)) if self._state == OPEN else 0.0,
                "last_reason": self.last_reason,
            }

    # -- the protocol ----------------------------------------------------------
    def before_call(self) -> None:
        """Raise ``CircuitOpenError`` unless a call may go out now (call it before sending anything)."""
        transition = None
        with self._lock:
            if self._state == CLOSED:
                return
            now = self._clock()
            if self._state == OPEN:
                left = self.cooldown_s - (now - self._opened_at)
                if left > 0:
                    self.rejected += 1
                    raise CircuitOpenError(self.name, retry_in_s=left)
                self._state = HALF_OPEN
                self._probe_in_flight = False
                transition = (OPEN, HALF_OPEN, f"cool-down of {self.cooldown_s:g}s over: letting one probe through")
            if self._probe_in_flight:  # half-open and the probe is still out
                self.rejected += 1
                raise CircuitOpenError(self.name, retry_in_s=None)
            self._probe_in_flight = True
        if transition:
            self._notify(*transition)

    def record_success(self) -> None:
        """The call reached the service and got an answer (a business rejection is one too)."""
        transition = None
        with self._lock:
            now = self._clock()
            self.calls += 1
            self._consecutive = 0
            self._window.append((now, False))
            self._trim(now)
            if self._state == HALF_OPEN:
                self._state = CLOSED
                self._probe_in_flight = False
                self._window.clear()
                self.last_reason = "probe call succeeded"
                transition = (HALF_OPEN, CLOSED, self.last_reason)
        if transition:
            self._notify(*transition)

    def record_failure(self, exc: BaseException) -> bool:
        """Record the outcome of a call that raised ``exc``; returns whether it counted as a failure.

        A failure that does not count (a rejection) is recorded as a success.
        """
        if not self._counts(exc):
            self.record_success()
            return False
        transition = None
        with self._lock:
            now = self._clock()
            self.calls += 1
            self.failures += 1
            self._consecutive += 1
            self._window.append((now, True))
            self._trim(now)
            what = f"{type(exc).__name__}: {exc}"
            if self._state == HALF_OPEN:
                transition = self._open(now, HALF_OPEN, f"probe call failed ({what})")
            elif self._state == CLOSED and self.enabled:
                failed = sum(1 for _, f in self._window if f)
                total = len(self._window)
                if self._consecutive >= self.failure_threshold:
                    transition = self._open(now, CLOSED, f"{self._consecutive} consecutive failures, last {what}")
                elif total >= self.min_calls and failed / total >= self.error_rate_threshold:
                    transition = self._open(
                        now, CLOSED, f"{failed} of the last {total} calls in {self.window_s:g}s failed, last {what}"
                    )
        if transition:
            self._notify(*transition)
        return True

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` behind the breaker: refused at once while open, outcome recorded."""
        self.before_call()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            self.record_failure(exc)
            raise
        self.record_success()
        return result

    def reset(self) -> None:
        """Close the circuit and forget every outcome (an operator's decision)."""
        with self._lock:
            old = self._state
            self._state = CLOSED
            self._consecutive = 0
            self._window.clear()
            self._probe_in_flight = False
        if old != CLOSED:
            self._notify(old, CLOSED, "reset")

    # -- internals ---------------------------------------------------------------
    def _open(self, now: float, old: str, reason: str) -> tuple[str, str, str]:
        self._state = OPEN
        self._opened_at = now
        self._probe_in_flight = False
        self.opened += 1
        self.last_reason = reason
        return (old, OPEN, reason)

    def _trim(self, now: float) -> None:
        horizon = now - self.window_s
        window = self._window
        while window and window[0][0] < horizon:
            window.popleft()

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self.state!r})"


@runtime_checkable
class HasCircuit(Protocol):
    """An object that guards its calls with a ``CircuitBreaker`` (a venue client, a data provider)."""

    circuit: CircuitBreaker | None


__all__ = [
    "CLOSED",
    "HALF_OPEN",
    "OPEN",
    "STATES",
    "STATE_VALUES",
    "CircuitBreaker",
    "CircuitSettings",
    "HasCircuit",
    "alert_on_transition",
    "breaker_from_config",
    "is_connection_failure",
]

