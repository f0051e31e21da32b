"""Symbols: the one normaliser every edge uses (order validation, pipeline, data providers).

``normalize_symbol("  aapl ")`` is ``"AAPL"``; anything but a non-empty string is an
error of the caller's kind (``OrderRejectedError`` at the broker edge,
``DataProviderError`` in a provider, ``ValueError`` in the pipeline).
``symbol_key`` compares symbols across spellings (``BTC/USDT`` = ``btcusdt``).

It also decides what kind of market a symbol trades in: ``asset_class`` (pure, shared by every venue).

One rule decides whether a symbol is **crypto**, **forex** or an **equity**;
the paper broker's trading hours (``LIVE_TRADING.data.calendar``) and the
Interactive Brokers contract mapping (``LIVE_TRADING.brokers.ibkr.contracts``)
both use it, so a symbol is never a stock to one and a currency pair to the other.

* **crypto**: a known crypto base and a known quote asset, with a separator
  (``BTC/USD``, ``BTC-USD``, ``BTC.USD``, ``btc_usdt``) or without one
  (``BTCUSDT``, ``ETHBTC``, ``SOLUSDC``: split at the longest known quote asset);
* **forex**: two different ISO 4217 currencies (``EUR/USD``, ``EURUSD``,
  ``USD-JPY``, Yahoo's ``EURUSD=X``);
* **equity**: everything else (``AAPL``, ``BRK.B``, ``ESZ6``): the default.

A pair needs *both* sides known: ``BTC/XYZ`` and ``ABC/USD`` are equities (so a
venue that cannot trade them says so), ``BTC/EUR`` is crypto. Crypto wins over
forex, which only matters for a base in both tables (none today).

Per-symbol overrides come from the config key ``live_trading.asset_classes``
(``{SYMBOL: equity|crypto|forex}``), read by ``configured_asset_classes()``;
callers read it once and pass it as ``overrides`` so the rule itself stays pure
and fast (results are cached per spelling).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Literal

from LIVE_TRADING.common.exceptions import ConfigError


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



AssetClass = Literal["equity", "crypto", "forex"]
EQUITY: AssetClass = "equity"
CRYPTO: AssetClass = "crypto"
FOREX: AssetClass = "forex"
ASSET_CLASSES: tuple[AssetClass, ...] = (EQUITY, CRYPTO, FOREX)

#: ISO 4217 currencies traded as spot pairs (majors, crosses and the usual emerging markets;
#: precious metals such as XAU are left out on purpose: they are not currencies to a calendar)
ISO_CURRENCIES = frozenset(
    {
        "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK", "HKD", "SGD",
        "CNH", "CNY", "MXN", "ZAR", "PLN", "CZK", "HUF", "ILS", "TRY", "KRW", "INR", "BRL", "RUB",
        "THB", "TWD", "IDR", "MYR", "PHP", "CLP", "COP", "PEN", "ARS", "SAR", "AED", "KWD", "QAR",
        "RON", "BGN", "ISK", "HRK",
    }
)
#: crypto assets that are the base of a pair (the left side of BTC/USDT)
CRYPTO_BASES = frozenset(
    {
        "BTC", "ETH", "LTC", "BCH", "XRP", "SOL", "ADA", "DOGE", "DOT", "BNB", "AVAX", "MATIC", "POL",
        "LINK", "TRX", "SHIB", "UNI", "ATOM", "XLM", "ETC", "FIL", "APT", "ARB", "OP", "NEAR", "ICP",
        "PEPE", "SUI", "TON", "AAVE", "ALGO", "XTZ", "EOS", "XMR", "ZEC", "DASH", "SAND", "MANA",
        "AXS", "CRV", "MKR", "COMP", "SNX", "GRT", "INJ", "SEI", "TIA", "WIF", "BONK", "HBAR", "VET",
        "FTM", "KAS", "RNDR", "RENDER", "IMX", "STX", "LDO", "WBTC", "USDT", "USDC", "DAI",
    }
)
#: what crypto is quoted in: stablecoins, the big coins, and fiat currencies
CRYPTO_QUOTES = frozenset(
    {"USDT", "USDC", "BUSD", "FDUSD", "TUSD", "DAI", "USDP", "BTC", "ETH", "BNB", "USD", "EUR", "GBP",
     "TRY", "BRL", "JPY", "AUD"}
)
_SEPARATORS = ("/", "-", "_", ".", " ")
#: quote assets tried as a suffix of an unseparated symbol, longest first (BTCUSDT is BTC + USDT, not BTCUSD + T)
_QUOTE_SUFFIXES = tuple(sorted(CRYPTO_QUOTES, key=len, reverse=True))


def split_pair(symbol: str) -> tuple[str, str] | None:
    """``(base, quote)`` of a symbol written with a separator (``/ - _ .`` or a space), else None.

    Pure spelling: ``BRK.B`` gives ``("BRK", "B")``; whether that is a pair is ``asset_class``'s call.
    """
    s = str(symbol).strip().upper()
    for sep in _SEPARATORS:
        if sep in s:
            base, _, quote = s.partition(sep)
            return base.strip(), quote.strip()
    return None


def crypto_pair(symbol: str) -> tuple[str, str] | None:
    """``(base, quote)`` if ``symbol`` is a crypto pair in any spelling (``BTC/USD``, ``BTCUSDT``), else None."""
    return _crypto_pair(str(symbol).strip().upper())


def forex_pair(symbol: str) -> tuple[str, str] | None:
    """``(base, quote)`` if ``symbol`` is a pair of two different ISO currencies (``EUR/USD``, ``EURUSD``)."""
    return _forex_pair(str(symbol).strip().upper())


@lru_cache(maxsize=4096)
def _crypto_pair(s: str) -> tuple[str, str] | None:
    pair = split_pair(s)
    if pair is not None:
        base, quote = pair
        return pair if base in CRYPTO_BASES and quote in CRYPTO_QUOTES and base != quote else None
    for quote in _QUOTE_SUFFIXES:
        if len(s) > len(quote) and s.endswith(quote):
            base = s[: -len(quote)]
            if base in CRYPTO_BASES and base != quote:
                return base, quote
    return None


@lru_cache(maxsize=4096)
def _forex_pair(s: str) -> tuple[str, str] | None:
    if s.endswith("=X"):  # Yahoo's spelling of a currency pair: EURUSD=X
        s = s[:-2]
    pair = split_pair(s)
    if pair is None and len(s) == 6 and s.isalpha():
        pair = (s[:3], s[3:])
    if pair is None:
        return None
    base, quote = pair
    return pair if base in ISO_CURRENCIES and quote in ISO_CURRENCIES and base != quote else None


@lru_cache(maxsize=4096)
def _rule(s: str) -> AssetClass:
    if _crypto_pair(s) is not None:
        return CRYPTO
    if _forex_pair(s) is not None:
        return FOREX
    return EQUITY


def asset_class(symbol: str, overrides: Mapping[str, str] | None = None) -> AssetClass:
    """``"crypto"``, ``"forex"`` or ``"equity"`` for ``symbol`` (see the module docstring).

    ``overrides`` maps upper-case symbols to a class and wins over the rule
    (pass ``configured_asset_classes()`` for the config's table).
    """
    s = str(symbol).strip().upper()
    if overrides:
        forced = overrides.get(s)
        if forced is not None:
            return forced  # type: ignore[return-value]  # checked by check_asset_classes
    return _rule(s)


def check_asset_classes(raw: Any, key: str = "live_trading.asset_classes") -> dict[str, AssetClass]:
    """Validate an overrides table (``{SYMBOL: equity|crypto|forex}``); ``ConfigError`` names the bad entry."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{key} must be a mapping of SYMBOL: {'|'.join(ASSET_CLASSES)}, got {raw!r}")
    out: dict[str, AssetClass] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{key} keys must be symbols, got {name!r}")
        cls = value.strip().lower() if isinstance(value, str) else value
        if cls not in ASSET_CLASSES:
            raise ConfigError(f"{key}.{name} must be one of {', '.join(ASSET_CLASSES)}, got {value!r}")
        out[name.strip().upper()] = cls
    return out


def configured_asset_classes() -> dict[str, AssetClass]:
    """The validated ``live_trading.asset_classes`` table of the current config (``{}`` when unset)."""
    from CONFIG.config_loader import get_cfg

    return check_asset_classes(get_cfg("live_trading.asset_classes", default=None))


__all__ = [
    "ASSET_CLASSES",
    "CRYPTO",
    "CRYPTO_BASES",
    "CRYPTO_QUOTES",
    "EQUITY",
    "FOREX",
    "ISO_CURRENCIES",
    "AssetClass",
    "asset_class",
    "check_asset_classes",
    "configured_asset_classes",
    "crypto_pair",
    "forex_pair",
    "normalize_symbol",
    "split_pair",
    "symbol_key",
]
