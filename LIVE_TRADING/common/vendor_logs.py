"""Third-party noise through our logging, once, at a level that matches.

ib_async / ib_insync log every API error they see (``Error 200, reqId 5: ...``,
``API connection failed: ConnectionRefusedError(...)``, ``Make sure API port
on TWS/IBG is open``) and yfinance logs (and sometimes prints) failed
downloads. Our adapters already turn those into one typed error with a remedy,
so the vendors' own lines are details: ``route_vendor_logging()`` relays them
to ``LIVE_TRADING.vendor.<library>`` — ERROR and above at INFO, the rest at
DEBUG — each distinct message once, and stops them reaching the root logger
directly. ``vendor_output(name)`` does the same for what a library *prints* (stdout)
while it runs (a ``with`` block around the call).

The command line calls ``route_vendor_logging()`` at start-up (``--debug``
shows the relayed lines); library users may call it too.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from collections.abc import Iterator
from typing import TextIO

#: libraries whose logging is relayed
VENDORS = ("ib_async", "ib_insync", "yfinance", "peewee", "eventkit")


class _Relay(logging.Handler):
    """Re-emits a vendor's records under ``LIVE_TRADING.vendor.<name>`` at a demoted level, each message once."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.DEBUG)
        self.target = logging.getLogger(f"LIVE_TRADING.vendor.{name}")
        self._seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a vendor's malformed log call must not break ours
            message = str(record.msg)
        key = f"{record.name}:{message}"
        if key in self._seen:
            return
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen.add(key)
        level = logging.INFO if record.levelno >= logging.ERROR else logging.DEBUG
        self.target.log(level, "%s: %s", record.name, message)


def route_vendor_logging(vendors: tuple[str, ...] = VENDORS) -> None:
    """Relay the vendors' loggers through ours (idempotent)."""
    for name in vendors:
        vendor = logging.getLogger(name)
        if any(isinstance(h, _Relay) for h in vendor.handlers):
            continue
        vendor.addHandler(_Relay(name))
        vendor.propagate = False
        vendor.setLevel(logging.DEBUG)


class _LogWriter(io.TextIOBase):
    def __init__(self, logger: logging.Logger, real: TextIO) -> None:
        self.logger = logger
        self.real = real
        self._seen: set[str] = set()
        self._busy = False

    def write(self, text: str) -> int:
        if self._busy:  # a handler writing to stdout while we log: let it through
            return self.real.write(text)
        self._busy = True
        try:
            for line in text.splitlines():
                line = line.strip()
                if line and line not in self._seen:
                    self._seen.add(line)
                    self.logger.info("%s", line)
        finally:
            self._busy = False
        return len(text)


@contextlib.contextmanager
def vendor_output(name: str) -> Iterator[None]:
    """Inside the block, what is printed to stdout goes to ``LIVE_TRADING.vendor.<name>`` at INFO."""
    writer = _LogWriter(logging.getLogger(f"LIVE_TRADING.vendor.{name}"), sys.stdout)
    with contextlib.redirect_stdout(writer):
        yield


__all__ = ["VENDORS", "route_vendor_logging", "vendor_output"]
