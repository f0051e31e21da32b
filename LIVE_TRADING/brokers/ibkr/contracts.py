"""Our symbols <-> IB contracts.

Plain strings map to contracts by rule (``contract_spec``, pure):

=====================  ===============================================
``AAPL``               Stock, SMART routing, USD
``BRK.B`` / ``BRK B``  Stock ``BRK B`` (IB writes share classes with a space)
``EUR/USD``, ``EURUSD``  Forex on IDEALPRO (both sides ISO currencies)
``BTC/USD``            Crypto on PAXOS (BTC, ETH, LTC, BCH against USD)
=====================  ===============================================

Whether a string is a stock, a currency pair or crypto is decided by the rule
shared with the paper broker's trading calendars,
``LIVE_TRADING.common.symbols.asset_class`` (overridable per symbol with
``live_trading.asset_classes``); IB then trades only part of each class
(IDEALPRO pairs, PAXOS coins against USD), and refuses the rest by name.

Anything else (futures, options, stocks outside the US) comes from the
``live_trading.ibkr.contracts`` table, from ``register_contract(symbol,
contract)``, or is passed in as a ``Contract`` object. The table wins over the
rules, so a table entry can also override how ``AAPL`` is routed.

``ContractResolver`` qualifies contracts with IB (``qualifyContractsAsync``:
fills in ``conId``, which ib_async needs for market data) and caches them.
ib_async returns ``None`` for a contract it cannot qualify and ib_insync
leaves it out of the result, so success is judged the same way for both:
a qualified contract has ``conId > 0``. Why one failed is taken from the
error IB sent for that request (200: no security definition) or from an
ambiguous answer.

The symbol we report for a contract (positions, fills) is the symbol it was
resolved from when known, else the table key it matches, else the rule's
form (``AAPL``, ``BRK.B``, ``EUR/USD``, ``BTC/USD``, or IB's localSymbol).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from LIVE_TRADING.common.symbols import (
    CRYPTO,
    FOREX,
    asset_class,
    configured_asset_classes,
    crypto_pair,
    forex_pair,
    split_pair,
)

if TYPE_CHECKING:
    from LIVE_TRADING.brokers.ibkr.connection import IBConnection

logger = logging.getLogger(__name__)

#: ISO currencies traded as pairs on IDEALPRO (a subset of the shared rule's ISO table)
FX_CURRENCIES = frozenset(
    {
        "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK", "HKD", "SGD",
        "CNH", "MXN", "ZAR", "PLN", "CZK", "HUF", "ILS", "TRY", "KRW",
    }
)
#: crypto IB trades on PAXOS, and the currency it is quoted in
CRYPTO_BASES = frozenset({"BTC", "ETH", "LTC", "BCH"})
CRYPTO_QUOTES = frozenset({"USD"})
_STOCK = re.compile(r"^[A-Z0-9][A-Z0-9 .\-]{0,19}$")
#: Contract fields compared when matching a contract to a table entry
_MATCH_FIELDS = ("secType", "symbol", "currency", "localSymbol", "strike", "right", "conId")


class UnknownSymbolError(ValueError):
    """A symbol that cannot be turned into a contract, or that IB does not know."""

    def __init__(self, symbol: str, reason: str, *, code: int | None = None, venue_message: str | None = None):
        super().__init__(f"{symbol}: {reason}")
        self.symbol = symbol
        self.reason = reason
        self.code = code
        self.venue_message = venue_message


def _pair(symbol: str, asset_classes: Mapping[str, str] | None) -> tuple[str, str, str] | None:
    """``(kind, base, quote)`` for a crypto or forex pair by the shared rule (``common.symbols``), else None."""
    kind = asset_class(symbol, asset_classes)
    if kind == CRYPTO:
        pair = crypto_pair(symbol) or split_pair(symbol)
    elif kind == FOREX:
        pair = forex_pair(symbol) or split_pair(symbol)
    else:
        return None
    return (kind, *pair) if pair is not None else (kind, symbol, "")


def contract_spec(
    symbol: str,
    table: dict[str, dict[str, Any]] | None = None,
    asset_classes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Contract fields for one of our symbols (pure). Raises ``UnknownSymbolError``.

    Whether a symbol is a stock, a currency pair or crypto is decided by the
    shared rule ``LIVE_TRADING.common.symbols.asset_class`` (with the
    ``asset_classes`` overrides); IB then supports only some of each class.
    """
    s = str(symbol).strip().upper()
    table = table or {}
    if s in table:
        return dict(table[s])
    canon = canonical_symbol(s, table, asset_classes)
    if canon in table:
        return dict(table[canon])
    pair = _pair(s, asset_classes)
    if pair is not None:
        kind, base, quote = pair
        if kind == CRYPTO:
            if base in CRYPTO_BASES and quote in CRYPTO_QUOTES:
                return {"secType": "CRYPTO", "symbol": base, "exchange": "PAXOS", "currency": quote}
            raise UnknownSymbolError(
                s, "crypto that IB does not trade: PAXOS has only BTC, ETH, LTC, BCH against USD; "
                "add it to live_trading.ibkr.contracts",
            )
        if base in FX_CURRENCIES and quote in FX_CURRENCIES:
            return {"secType": "CASH", "symbol": base, "exchange": "IDEALPRO", "currency": quote}
        raise UnknownSymbolError(
            s, "a currency pair IDEALPRO does not quote; add it to live_trading.ibkr.contracts"
        )
    if "/" in s:
        raise UnknownSymbolError(
            s,
            "not a forex pair of ISO currencies nor PAXOS crypto (BTC, ETH, LTC, BCH /USD); "
            "add it to live_trading.ibkr.contracts",
        )
    ib_symbol = s.replace(".", " ")
    if not _STOCK.match(s):
        raise UnknownSymbolError(s, "not a valid stock symbol; add it to live_trading.ibkr.contracts")
    return {"secType": "STK", "symbol": ib_symbol, "exchange": "SMART", "currency": "USD"}


def canonical_symbol(
    symbol: str, table: dict[str, dict[str, Any]] | None = None, asset_classes: Mapping[str, str] | None = None
) -> str:
    """The one spelling we report for ``symbol``: ``EUR.USD`` -> ``EUR/USD``, ``BRK B`` -> ``BRK.B``."""
    s = str(symbol).strip().upper()
    if table and s in table:
        return s
    pair = _pair(s, asset_classes)
    if pair is not None and pair[2]:
        return f"{pair[1]}/{pair[2]}"
    return " ".join(s.split()).replace(" ", ".")


def default_symbol(sec_type: str, symbol: str, currency: str, local_symbol: str = "") -> str:
    """Our symbol for a contract nobody told us about (pure)."""
    sec_type = (sec_type or "").upper()
    if sec_type == "STK":
        return " ".join(symbol.upper().split()).replace(" ", ".")
    if sec_type in ("CASH", "CRYPTO"):
        return f"{symbol.upper()}/{currency.upper()}"
    local = " ".join((local_symbol or "").split())
    return (local or symbol).upper()


def is_contract(obj: Any) -> bool:
    """Duck-typed check for an ib_async / ib_insync ``Contract``."""
    return hasattr(obj, "secType") and hasattr(obj, "conId") and hasattr(obj, "symbol")


def _same(spec_value: Any, value: Any, name: str) -> bool:
    if name == "strike":
        try:
            return abs(float(spec_value) - float(value)) < 1e-9
        except (TypeError, ValueError):
            return False
    return str(spec_value).upper() == str(value or "").upper()


def table_key_for(contract: Any, table: dict[str, dict[str, Any]]) -> str | None:
    """The key of the ``contracts`` table entry that describes ``contract``, if one does."""
    for key, spec in table.items():
        fields = [n for n in _MATCH_FIELDS if n in spec]
        if not fields and "lastTradeDateOrContractMonth" not in spec:
            continue
        if not all(_same(spec[n], getattr(contract, n, None), n) for n in fields):
            continue
        expiry = spec.get("lastTradeDateOrContractMonth")
        if expiry and not str(getattr(contract, "lastTradeDateOrContractMonth", "") or "").startswith(expiry):
            continue
        return key
    return None


@dataclass
class Resolved:
    """A qualified contract and the symbol we call it."""

    symbol: str
    contract: Any


class ContractResolver:
    """Turns symbols (or Contract objects) into qualified IB contracts, with a cache.

    Runs on the connection's I/O loop (``resolve_many`` is a coroutine).
    """

    def __init__(
        self,
        conn: IBConnection,
        table: dict[str, dict[str, Any]] | None = None,
        asset_classes: Mapping[str, str] | None = None,
    ) -> None:
        self.conn = conn
        self.table = {str(k).upper(): dict(v) for k, v in (table or {}).items()}
        #: per-symbol overrides of the shared asset-class rule (default: config ``live_trading.asset_classes``)
        self.asset_classes = dict(asset_classes) if asset_classes is not None else configured_asset_classes()
        self._cache: dict[str, Any] = {}
        self._symbol_by_conid: dict[int, str] = {}
        self._registered: dict[str, Any] = {}

    # -- naming ----------------------------------------------------------------
    def symbol_for(self, contract: Any) -> str:
        """Our symbol for an IB contract (see the module docstring)."""
        con_id = int(getattr(contract, "conId", 0) or 0)
        if con_id and con_id in self._symbol_by_conid:
            return self._symbol_by_conid[con_id]
        key = table_key_for(contract, self.table)
        if key is not None:
            return key
        return default_symbol(
            getattr(contract, "secType", ""),
            getattr(contract, "symbol", ""),
            getattr(contract, "currency", ""),
            getattr(contract, "localSymbol", ""),
        )

    def symbol_of(self, item: Any) -> str:
        """Our symbol for a string or Contract given by a caller (no I/O; raises ``UnknownSymbolError``)."""
        if is_contract(item):
            return self.symbol_for(item)
        if not isinstance(item, str) or not item.strip():
            raise UnknownSymbolError(str(item), "a symbol must be a non-empty string or an IB Contract")
        s = item.strip().upper()
        if s in self._registered or s in self.table:
            return s
        contract_spec(s, self.table, self.asset_classes)  # validates
        return canonical_symbol(s, self.table, self.asset_classes)

    def register(self, symbol: str, contract: Any) -> str:
        """Trade ``symbol`` as ``contract`` from now on (it is qualified on first use)."""
        if not is_contract(contract):
            raise TypeError(f"register_contract needs an IB Contract, got {type(contract).__name__}")
        s = str(symbol).strip().upper()
        if not s:
            raise ValueError("register_contract needs a non-empty symbol")
        self._registered[s] = copy.copy(contract)
        self._cache.pop(s, None)
        return s

    # -- resolving --------------------------------------------------------------
    def _build(self, symbol: str) -> Any:
        if symbol in self._registered:
            return copy.copy(self._registered[symbol])
        spec = contract_spec(symbol, self.table, self.asset_classes)
        return self.conn.module.Contract(**spec)

    async def resolve_many(self, items: list[Any]) -> tuple[dict[str, Resolved], dict[str, UnknownSymbolError]]:
        """Qualify every item not cached yet, in one batch.

        Returns ``(resolved, failed)`` keyed by our symbol of each item.
        """
        resolved: dict[str, Resolved] = {}
        failed: dict[str, UnknownSymbolError] = {}
        pending: dict[str, Any] = {}
        for item in items:
            try:
                symbol = self.symbol_of(item)
            except UnknownSymbolError as exc:
                failed[str(item).strip().upper() if isinstance(item, str) else str(item)] = exc
                continue
            cache_key = f"conid:{item.conId}" if is_contract(item) and item.conId else symbol
            cached = self._cache.get(cache_key)
            if cached is not None:
                resolved[symbol] = Resolved(symbol, copy.copy(cached))
                continue
            if symbol in pending:
                continue
            try:
                pending[symbol] = copy.copy(item) if is_contract(item) else self._build(symbol)
            except UnknownSymbolError as exc:
                failed[symbol] = exc
        if not pending:
            return resolved, failed
        ib = self.conn.ib
        contracts = list(pending.values())
        with self.conn.collect_errors() as errors:
            try:
                await asyncio.wait_for(
                    ib.qualifyContractsAsync(*contracts), self.conn.settings.request_timeout_s
                )
            except TimeoutError:
                logger.warning("Contract lookup timed out for %s", ", ".join(pending))
        for symbol, contract in pending.items():
            if int(getattr(contract, "conId", 0) or 0) > 0:
                self._remember(symbol, contract)
                resolved[symbol] = Resolved(symbol, copy.copy(contract))
                continue
            errs = errors.for_contract(contract)
            if errs:
                err = errs[-1]
                failed[symbol] = UnknownSymbolError(
                    symbol,
                    f"IB does not know this contract (error {err.code}: {err.message})",
                    code=err.code,
                    venue_message=err.message,
                )
            else:
                failed[symbol] = UnknownSymbolError(
                    symbol,
                    "IB found no unique contract (unknown, ambiguous, or lookup timed out); "
                    "describe it fully in live_trading.ibkr.contracts",
                )
        return resolved, failed

    def _remember(self, symbol: str, contract: Any) -> None:
        con_id = int(contract.conId)
        self._cache[symbol] = copy.copy(contract)
        self._cache[f"conid:{con_id}"] = copy.copy(contract)
        self._symbol_by_conid.setdefault(con_id, symbol)

    async def resolve(self, item: Any) -> Resolved:
        """One item; raises ``UnknownSymbolError``."""
        resolved, failed = await self.resolve_many([item])
        if failed:
            raise next(iter(failed.values()))
        return next(iter(resolved.values()))


__all__ = [
    "CRYPTO_BASES",
    "FX_CURRENCIES",
    "ContractResolver",
    "Resolved",
    "UnknownSymbolError",
    "canonical_symbol",
    "contract_spec",
    "default_symbol",
    "is_contract",
    "table_key_for",
]
