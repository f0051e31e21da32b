"""Logging for the command line: warnings once each, never a second copy of the error line.

``CommandLog`` is the stderr handler of a ``live-trading`` process. Each
distinct message is shown once. For one-shot commands (``hold=True``) the
records are held until the command ends, then written — except those that
only repeat the error the command ends with, which ``main`` prints as its one
line (e.g. an adapter's "connecting ... failed" warning before it raises the
same message). ``run`` streams its warnings as they come (``hold=False``).
Vendors' logging is relayed first (``route_vendor_logging``).
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from LIVE_TRADING.common.vendor_logs import route_vendor_logging

FORMAT = "%(levelname)s %(name)s: %(message)s"


class CommandLog(logging.Handler):
    def __init__(self, stream: TextIO | None = None, *, hold: bool = True) -> None:
        super().__init__(logging.DEBUG)
        self.stream = stream
        self.hold = hold
        self.setFormatter(logging.Formatter(FORMAT))
        self._seen: set[str] = set()
        self._held: list[logging.LogRecord] = []

    def _write(self, record: logging.LogRecord) -> None:
        stream = self.stream or sys.stderr
        stream.write(self.format(record) + "\n")
        stream.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            key = f"{record.levelno}:{record.getMessage()}"
        except Exception:
            key = str(record.msg)
        if key in self._seen:
            return
        self._seen.add(key)
        if self.hold:
            self._held.append(record)
        else:
            self._write(record)

    def finish(self, error_text: str | None = None) -> None:
        """Write the held records, leaving out those the final error line repeats."""
        held, self._held = self._held, []
        for record in held:
            message = record.getMessage()
            if error_text and (error_text in message or message in error_text):
                continue
            self._write(record)


    def close_handler(self) -> None:
        """Write what is still held and take this handler off the root logger."""
        self.finish()
        logging.getLogger().removeHandler(self)


def setup_logging(debug: bool, *, hold: bool) -> CommandLog:
    """Install the command's stderr handler (replacing any earlier one) and relay vendor logging."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, CommandLog):
            root.removeHandler(h)
    handler = CommandLog(hold=hold)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("LIVE_TRADING").setLevel(logging.DEBUG if debug else logging.NOTSET)
    route_vendor_logging()
    return handler


__all__ = ["CommandLog", "setup_logging"]
