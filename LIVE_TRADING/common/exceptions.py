"""The one error tree of LIVE_TRADING.

Every error the package raises on purpose is one of these. Venue adapters
translate their venue's errors into this tree at their boundary (a table of
venue codes -> classes) and chain the original with ``raise ... from exc``;
the venue's own code and message stay on the exception as ``.code`` and
``.venue_message``.

::

    LiveTradingError
    ├── BrokerError                      anything a broker call can fail with
    │   ├── OrderRejectedError           the order was refused (.symbol, .reason)
    │   │   ├── InsufficientFundsError   not enough cash / position / margin
    │   │   ├── RiskLimitError           a pre-trade risk limit said no (.limit)
    │   │   ├── UnknownSymbolError       the data provider does not know the symbol (.suggestions)
    │   │   └── DuplicateClientOrderIdError  a client_order_id reused with other parameters
    │   │                                    (.client_order_id, .existing_order_id)
    │   ├── OrderNotFoundError           no such order (or no longer open)
    │   ├── QuoteUnavailableError        "No quote ..." (missing or stale)
    │   ├── BrokerConnectionError        venue unreachable / connection dropped
    │   │   └── CircuitOpenError         calls refused at once: the venue's circuit is open
    │   ├── RateLimitError               venue throttled us (.retry_after_s)
    │   ├── AuthenticationError          missing / wrong credentials
    │   ├── OrderStatusUnknownError      we cannot tell whether an order exists
    │   │                                (.client_order_id: look it up later)
    │   ├── AccountLockedError           another process holds the account (.pid, .host)
    │   └── JournalError                 the journal cannot be written or read
    │       └── JournalCorruptError      a record fails its checks (.path, .line, .seq)
    ├── ConfigError (also a ValueError)  bad configuration (.problems)
    └── DataProviderError                market data could not be had (.symbol)
        └── InvalidQuoteError (also a ValueError)  non-finite, non-positive or crossed quote

Catch ``BrokerError`` around broker calls, ``OrderRejectedError`` for "the
venue said no, nothing happened", and treat ``OrderStatusUnknownError`` as
"something may have happened: reconcile by client order id before retrying".
"""

from __future__ import annotations

from typing import Any


class LiveTradingError(Exception):
    """Root of every error raised on purpose by LIVE_TRADING."""


class BrokerError(LiveTradingError):
    """A broker call failed.

    ``code`` and ``venue_message`` carry the venue's own error code and text
    when the error was translated from a venue error (``None`` otherwise);
    ``venue_data`` the rest of the venue's error body when it says more (for
    example Binance's cancel and new-order responses of a failed cancel-replace).
    """

    venue_data: dict[str, Any] | None = None

    def __init__(self, message: str = "", *, code: Any = None, venue_message: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.venue_message = venue_message


class OrderRejectedError(BrokerError):
    """The order was refused; nothing was placed and no state changed."""

    def __init__(
        self,
        symbol: str,
        reason: str,
        *,
        code: Any = None,
        venue_message: str | None = None,
    ) -> None:
        self.symbol = symbol
        self.reason = reason
        label = symbol if symbol else "<no symbol>"
        super().__init__(f"Order for {label} rejected: {reason}", code=code, venue_message=venue_message)


class InsufficientFundsError(OrderRejectedError):
    """Not enough cash (buys), position (sells) or margin (shorts)."""


class RiskLimitError(OrderRejectedError):
    """A pre-trade risk limit refused the order before it reached the venue."""

    def __init__(self, symbol: str, reason: str, *, limit: str) -> None:
        super().__init__(symbol, reason)
        self.limit = limit


class UnknownSymbolError(OrderRejectedError):
    """The symbol is not one the data provider knows (a typo such as ``APPL``); nothing was placed.

    ``suggestions`` lists close known symbols, best first ("did you mean AAPL?").
    """

    def __init__(self, symbol: str, suggestions: list[str] | None = None, *, source: str = "the data provider") -> None:
        self.suggestions = list(suggestions or [])
        hint = f"; did you mean {' or '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(symbol, f"unknown symbol {symbol!r} ({source} does not know it){hint}")


class OrderNotFoundError(BrokerError):
    """No order with that id (or it is no longer open, for cancels)."""

    def __init__(self, order_id: str, message: str | None = None, **kw: Any) -> None:
        self.order_id = order_id
        super().__init__(message or f"Order not found: {order_id!r}", **kw)


class QuoteUnavailableError(BrokerError):
    """No usable quote: none known, or the one known is stale. Messages start "No quote"."""

    def __init__(self, symbol: str, detail: str = "available", **kw: Any) -> None:
        self.symbol = symbol
        super().__init__(f"No quote for {symbol} {detail}".rstrip(), **kw)


class BrokerConnectionError(BrokerError):
    """The venue could not be reached, or the connection dropped."""


class RateLimitError(BrokerError):
    """The venue throttled us. ``retry_after_s`` says how long it asked us to wait, if it did."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s


class AuthenticationError(BrokerError):
    """Credentials are missing, wrong, or lack a permission."""


class OrderStatusUnknownError(BrokerError):
    """An order may or may not exist at the venue.

    Raised when a submission's answer was lost and looking the order up by
    its client order id did not settle the question. Do not resubmit with a
    new id: query ``get_order`` / ``get_open_orders`` later, or resubmit with
    the *same* ``client_order_id`` (submission is idempotent on it).
    """

    def __init__(self, client_order_id: str, message: str | None = None, **kw: Any) -> None:
        self.client_order_id = client_order_id
        super().__init__(
            message or f"Status of order with client_order_id {client_order_id!r} is unknown", **kw
        )


class DuplicateClientOrderIdError(OrderRejectedError):
    """A ``client_order_id`` already names an order with other parameters.

    Re-sending the *same* order with the same id returns the first order
    (idempotent submission); a different symbol, side, quantity, type or price
    under a used id is refused so that a bug never silently trades twice.
    """

    def __init__(self, symbol: str, client_order_id: str, existing_order_id: str, detail: str = "") -> None:
        self.client_order_id = client_order_id
        self.existing_order_id = existing_order_id
        reason = (
            f"client_order_id {client_order_id!r} is already used by order {existing_order_id}"
            + (f" ({detail})" if detail else "")
        )
        super().__init__(symbol, reason)


class CircuitOpenError(BrokerConnectionError):
    """The circuit breaker in front of a venue is open: the call failed at once, nothing was sent."""

    def __init__(self, service: str, retry_in_s: float | None = None) -> None:
        self.service = service
        self.retry_in_s = retry_in_s
        when = f"; next probe in {retry_in_s:.1f}s" if retry_in_s is not None else ""
        super().__init__(f"Circuit open for {service}: recent calls failed, nothing was sent{when}")


class AccountLockedError(BrokerError):
    """Another process holds the account's write lock (one writer per account)."""

    def __init__(self, account: str, pid: int | None = None, host: str | None = None, waited_s: float = 0.0) -> None:
        self.account = account
        self.pid = pid
        self.host = host
        holder = f"pid {pid} on {host}" if pid is not None else "another process"
        super().__init__(
            f"Account {account} is locked by {holder} (waited {waited_s:g}s); "
            "wait for it to finish or raise --lock-timeout"
        )


class JournalError(BrokerError):
    """The journal could not be written or read (disk full, permissions, ...)."""


class JournalCorruptError(JournalError):
    """A journal record fails its checks: bad checksum, unparseable line, gap in seq, missing segment.

    The broker does not start on a corrupt journal; ``live-trading journal verify`` shows the problem.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 seq: int | None = None) -> None:
        self.path = path
        self.line = line
        self.seq = seq
        where = ", ".join(x for x in (
            f"file {path}" if path else "", f"line {line}" if line is not None else "",
            f"seq {seq}" if seq is not None else "") if x)
        super().__init__(f"Journal corrupt: {message}" + (f" ({where})" if where else ""))


class ConfigError(LiveTradingError, ValueError):
    """Bad configuration. ``problems`` lists every problem found (one line each)."""

    def __init__(self, message: str | None = None, *, problems: list[str] | None = None) -> None:
        self.problems = list(problems) if problems else ([message] if message else [])
        if message is None:
            message = "; ".join(self.problems) if len(self.problems) == 1 else (
                f"{len(self.problems)} configuration problems:\n  - " + "\n  - ".join(self.problems)
            )
        super().__init__(message)


class DataProviderError(LiveTradingError):
    """Market data could not be had. ``symbol`` names the symbol when there is one."""

    def __init__(self, message: str, *, symbol: str | None = None) -> None:
        super().__init__(message)
        self.symbol = symbol


class InvalidQuoteError(DataProviderError, ValueError):
    """A quote that cannot be used: non-finite or non-positive prices, negative sizes, bid > ask."""


__all__ = [
    "AccountLockedError",
    "AuthenticationError",
    "BrokerConnectionError",
    "BrokerError",
    "CircuitOpenError",
    "ConfigError",
    "DataProviderError",
    "DuplicateClientOrderIdError",
    "InsufficientFundsError",
    "InvalidQuoteError",
    "JournalCorruptError",
    "JournalError",
    "LiveTradingError",
    "OrderNotFoundError",
    "OrderRejectedError",
    "OrderStatusUnknownError",
    "QuoteUnavailableError",
    "RateLimitError",
    "RiskLimitError",
    "UnknownSymbolError",
]
