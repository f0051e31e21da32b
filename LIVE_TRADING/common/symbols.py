"""Symbols: the one normaliser every edge uses (order validation, pipeline, data providers).

``normalize_symbol("  aapl ")`` is ``"AAPL"``; anything but a non-empty string is an
error of the caller's kind (``OrderRejectedError`` at the broker edge,
``DataProviderError`` in a provider, ``ValueError`` in the pipeline).
``symbol_key`` compares symbols across spellings (``BTC/USDT`` = ``btcusdt``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def normalize_symbol(symbol: Any, error: Callable[[str], Exception] = ValueError) -> str:
    """``symbol`` stripped and upper-cased; ``error(message)`` is raised if it is not a non-empty string."""
    if isinstance(symbol, str):
        sym = symbol.strip().upper()
        if sym:
            return sym
    raise error(f"Invalid symbol: {symbol!r} (must be a non-empty string)")


def symbol_key(symbol: str) -> str:
    """Compare symbols across spellings: ``BTC/USDT``, ``btcusdt`` and ``BTC.USDT`` are one."""
    return symbol.strip().upper().replace("/", "").replace(".", "").replace("-", "")


__all__ = ["normalize_symbol", "symbol_key"]
