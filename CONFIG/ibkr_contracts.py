"""Checking the ``live_trading.ibkr.contracts`` table (symbol -> IB contract fields).

It maps our symbols to IB contracts for everything the plain-string rules of
``LIVE_TRADING/brokers/ibkr/contracts.py`` do not cover (futures, options, stocks
outside the US)::

    contracts:
      ESZ6: {secType: FUT, symbol: ES, exchange: CME, currency: USD,
             lastTradeDateOrContractMonth: "202612"}
      SAP:  {secType: STK, symbol: SAP, exchange: SMART, primaryExchange: IBIS, currency: EUR}

``check_contract_table`` returns the normalised table (keys and codes upper-cased)
and the list of problems, each naming its key; the schema turns those into a
``ConfigError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from LIVE_TRADING.data.quotes import finite_or_none

#: Contract fields a ``contracts`` table entry may set
CONTRACT_FIELDS = (
    "secType",
    "symbol",
    "exchange",
    "primaryExchange",
    "currency",
    "lastTradeDateOrContractMonth",
    "strike",
    "right",
    "multiplier",
    "localSymbol",
    "tradingClass",
    "conId",
    "includeExpired",
)
SEC_TYPES = ("STK", "CASH", "CRYPTO", "FUT", "CONTFUT", "OPT", "FOP", "IND", "CFD", "BOND", "CMDTY", "WAR", "FUND")
RIGHTS = {"C": "C", "CALL": "C", "P": "P", "PUT": "P"}
_TEXT_FIELDS = ("symbol", "exchange", "primaryExchange", "currency", "localSymbol", "tradingClass", "multiplier")


def _entry(entry: Mapping[str, Any], where: str, problems: list[str]) -> dict[str, Any] | None:
    unknown = [k for k in entry if k not in CONTRACT_FIELDS]
    if unknown:
        problems.append(
            f"{where} has unknown field(s) {', '.join(map(str, unknown))} (allowed: {', '.join(CONTRACT_FIELDS)})"
        )
        return None
    spec: dict[str, Any] = {}
    sec_type = str(entry.get("secType", "")).strip().upper()
    if sec_type not in SEC_TYPES:
        problems.append(f"{where}.secType must be one of {', '.join(SEC_TYPES)}, got {entry.get('secType')!r}")
        return None
    spec["secType"] = sec_type
    for name in _TEXT_FIELDS:
        value = entry.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float) or not str(value).strip():
            problems.append(f"{where}.{name} must be a non-empty string, got {value!r}")
            continue
        text = str(value).strip()
        spec[name] = text if name == "multiplier" else text.upper()
    expiry = entry.get("lastTradeDateOrContractMonth")
    if expiry is not None:
        text = str(expiry).strip()
        if not (text.isdigit() and len(text) in (6, 8)):
            problems.append(f"{where}.lastTradeDateOrContractMonth must be YYYYMM or YYYYMMDD, got {expiry!r}")
        else:
            spec["lastTradeDateOrContractMonth"] = text
    if entry.get("strike") is not None:
        strike = finite_or_none(entry.get("strike"))
        if strike is None or strike <= 0:
            problems.append(f"{where}.strike must be a number > 0, got {entry.get('strike')!r}")
        else:
            spec["strike"] = strike
    if entry.get("right") is not None:
        right = RIGHTS.get(str(entry.get("right")).strip().upper())
        if right is None:
            problems.append(f"{where}.right must be C, P, CALL or PUT, got {entry.get('right')!r}")
        else:
            spec["right"] = right
    if entry.get("conId") is not None:
        con_id = finite_or_none(entry.get("conId"))
        if con_id is None or con_id != int(con_id) or con_id <= 0:
            problems.append(f"{where}.conId must be a positive integer, got {entry.get('conId')!r}")
        else:
            spec["conId"] = int(con_id)
    if entry.get("includeExpired") is not None:
        if not isinstance(entry.get("includeExpired"), bool):
            problems.append(f"{where}.includeExpired must be true or false, got {entry.get('includeExpired')!r}")
        else:
            spec["includeExpired"] = entry["includeExpired"]
    if "conId" not in spec:
        if "symbol" not in spec and "localSymbol" not in spec:
            problems.append(f"{where} needs symbol (or localSymbol or conId)")
        if "exchange" not in spec:
            problems.append(f"{where} needs exchange (e.g. SMART, CME, IDEALPRO) or conId")
    if sec_type in ("OPT", "FOP") and "conId" not in spec and "localSymbol" not in spec:
        missing = [n for n in ("lastTradeDateOrContractMonth", "strike", "right") if n not in spec]
        if missing:
            problems.append(f"{where} ({sec_type}) needs {', '.join(missing)} (or localSymbol or conId)")
    return spec


def check_contract_table(table: Mapping[Any, Any], base: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """``(normalised table, problems)`` for a ``contracts`` table; ``base`` is its dotted key."""
    out: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for raw_key, entry in table.items():
        key = str(raw_key).strip().upper()
        where = f"{base}.{raw_key}"
        if not key:
            problems.append(f"{base} has an empty symbol as key")
            continue
        if not isinstance(entry, Mapping):
            problems.append(f"{where} must be a mapping of contract fields, got {entry!r}")
            continue
        spec = _entry(entry, where, problems)
        if spec is not None:
            out[key] = spec
    return out, problems


__all__ = ["CONTRACT_FIELDS", "RIGHTS", "SEC_TYPES", "check_contract_table"]
