"""Journaling a refused order: the one way every venue writes its ``reject`` record."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from LIVE_TRADING.common.constants import EVENT_REJECT
from LIVE_TRADING.common.exceptions import BrokerError, OrderRejectedError

logger = logging.getLogger(__name__)


def journal_rejection(journal: Any, exc: BrokerError, details: Mapping[str, Any]) -> None:
    """Write a ``reject`` record for a refused order: ``details`` plus the reason, error class and venue code.

    A journal failure here is logged, never raised: the caller raises the refusal itself.
    """
    reason = exc.reason if isinstance(exc, OrderRejectedError) else str(exc)
    record = {**details, "reason": reason, "error": type(exc).__name__}
    if isinstance(exc.code, int | str):
        record["code"] = exc.code
    try:
        journal.write(EVENT_REJECT, record)
    except BrokerError:
        logger.exception("Could not journal the rejection of an order (%s)", reason)


__all__ = ["journal_rejection"]
