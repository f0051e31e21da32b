"""Exit codes: the one table every ``live-trading`` command uses.

======  ==========================================================================
code    meaning
======  ==========================================================================
0       success
1       a trading or venue failure: an order rejected, the venue unreachable, a
        ``run`` step failed (unless ``--allow-failures N``), ``health`` unhealthy
2       a usage or configuration error: bad arguments, a bad config file, missing
        or wrong credentials (a missing Binance key is 2 in every command), an
        optional dependency not installed, a confirmation not given
3       the account is locked by another process (``AccountLockedError``)
130     interrupted (Ctrl-C / SIGTERM); an interrupted ``run`` stops cleanly
======  ==========================================================================

``exit_code_for(exc)`` maps an exception to its code by the first matching row
of ``EXIT_CODES`` (most specific first). Kept free of heavy imports so
``--help`` stays quick.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad command-line input (exit code 2)."""


class NotConfirmedError(UsageError):
    """An action that needs confirmation was not confirmed: nothing was done (exit code 2)."""


def _table() -> list[tuple[type[BaseException], int]]:
    from LIVE_TRADING.common.exceptions import (
        AccountLockedError,
        AuthenticationError,
        BrokerError,
        ConfigError,
        DataProviderError,
    )

    return [
        (KeyboardInterrupt, EXIT_INTERRUPTED),
        (UsageError, EXIT_USAGE),
        (ConfigError, EXIT_USAGE),
        (AuthenticationError, EXIT_USAGE),  # missing or wrong credentials: fix the config / environment
        (ImportError, EXIT_USAGE),  # a venue adapter or optional dependency that is not installed
        (AccountLockedError, EXIT_LOCKED),
        (BrokerError, EXIT_FAILURE),
        (DataProviderError, EXIT_FAILURE),
    ]


def exit_code_for(exc: BaseException) -> int:
    """The exit code for ``exc`` (1 for anything the table does not name)."""
    for kind, code in _table():
        if isinstance(exc, kind):
            return code
    return EXIT_FAILURE


__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_USAGE",
    "NotConfirmedError",
    "UsageError",
    "exit_code_for",
]
