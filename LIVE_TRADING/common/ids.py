"""Client order ids: making them, deriving related ones and checking them, the same way on every venue.

The rule is the strictest venue's (Binance: ``^[A-Za-z0-9_-]{1,36}$``), so an id
that works on paper works everywhere. Ids we make ourselves start with ``lt`` so
they can be told from the user's.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

from LIVE_TRADING.common.constants import CLIENT_ORDER_ID_PATTERN

_CID = re.compile(CLIENT_ORDER_ID_PATTERN)


def new_client_order_id(prefix: str = "lt-", hex_chars: int = 24) -> str:
    """A fresh random client order id: ``prefix`` and ``hex_chars`` hex digits (at most 36 characters)."""
    cid = prefix + uuid.uuid4().hex[:hex_chars]
    if not _CID.match(cid):
        raise ValueError(f"prefix {prefix!r} with {hex_chars} hex digits does not make a valid client order id")
    return cid


def derive_client_id(base: str, tag: str) -> str:
    """A client order id derived from ``base`` for a related order (``tag``: ``e``, ``tp``, ``sl``, ``r1``...).

    ``"rebal-7"`` + ``"tp"`` -> ``"rebal-7-tp"``. A replacement of a replacement
    counts up (``"x-r1"`` + ``"r"`` -> ``"x-r2"``). Ids stay within Binance's 36
    characters: a long base is shortened to a prefix plus a hash of it.
    """
    if tag == "r":
        stem, dash, last = base.rpartition("-")
        if dash and last[:1] == "r" and last[1:].isdigit():
            base, tag = stem, f"r{int(last[1:]) + 1}"
        else:
            tag = "r1"
    out = f"{base}-{tag}"
    if len(out) <= 36:
        return out
    digest = hashlib.sha1(base.encode()).hexdigest()[:8]
    return f"{base[: 36 - len(tag) - 10]}{digest}-{tag}"[:36]


def is_client_order_id(value: Any) -> bool:
    """Whether ``value`` is a valid client order id (a string matching ``CLIENT_ORDER_ID_PATTERN``)."""
    return isinstance(value, str) and _CID.match(value) is not None


__all__ = ["CLIENT_ORDER_ID_PATTERN", "derive_client_id", "is_client_order_id", "new_client_order_id"]
