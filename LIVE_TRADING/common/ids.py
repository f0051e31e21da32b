"""Client order ids shared by the venues."""

from __future__ import annotations

import hashlib


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


__all__ = ["derive_client_id"]
