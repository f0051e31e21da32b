"""Settings of the Interactive Brokers venue (``live_trading.ibkr``), read and checked once.

``IBKRSettings.load(**overrides)`` reads every key through ``SettingsReader``
(keyword argument > config file > built-in default) and raises one
``ConfigError`` naming every problem. The safety rule lives here too: the
live-account ports (7496 TWS live, 4001 IB Gateway live) are refused unless
``allow_live`` is true. (Once connected, ``connection.py`` applies the same
rule to the account code: paper accounts start with ``D``.)

The ``contracts`` table maps our symbols to IB contracts for everything the
plain-string rules of ``contracts.py`` do not cover (futures, options, stocks
outside the US)::

    contracts:
      ESZ6: {secType: FUT, symbol: ES, exchange: CME, currency: USD,
             lastTradeDateOrContractMonth: "202612"}
      SAP:  {secType: STK, symbol: SAP, exchange: SMART, primaryExchange: IBIS, currency: EUR}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from LIVE_TRADING.common.paths import journal_root
from LIVE_TRADING.common.settings import SettingsReader, to_float

#: ports of live (real money) accounts -> what listens there
LIVE_PORTS = {7496: "TWS live", 4001: "IB Gateway live"}
#: ports of paper accounts (for messages)
PAPER_PORTS = {7497: "TWS paper", 4002: "IB Gateway paper"}
#: account values ``get_cash`` may report
CASH_TAGS = ("TotalCashValue", "AvailableFunds")
#: reqMarketDataType values: 1 live, 2 frozen, 3 delayed, 4 delayed frozen
MARKET_DATA_TYPES = (1, 2, 3, 4)

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


@dataclass(frozen=True)
class IBKRSettings:
    """Every ``live_trading.ibkr`` setting, typed and checked (see ``CONFIG/live_trading.yaml``)."""

    host: str = "127.0.0.1"
    port: int = 7497
    client_id: int = 1
    account: str | None = None
    connect_timeout_s: float = 10.0
    order_timeout_s: float = 10.0
    request_timeout_s: float = 15.0
    market_data_type: int = 1
    delayed_fallback: bool = True
    readonly: bool = False
    allow_live: bool = False
    log_dir: str = "logs/ibkr"
    cash_tag: str = "TotalCashValue"
    contracts: dict[str, dict[str, Any]] = field(default_factory=dict)
    client_id_retries: int = 5
    reconnect_attempts: int = 3
    reconnect_backoff_s: float = 1.0
    reconnect_backoff_max_s: float = 30.0
    ack_grace_s: float = 0.25
    commission_wait_s: float = 2.0
    pacing_retries: int = 2
    pacing_backoff_s: float = 15.0
    use_rth: bool = True
    quote_batch_size: int = 50
    ib_module: str | None = None

    @property
    def is_live_port(self) -> bool:
        return self.port in LIVE_PORTS

    @classmethod
    def load(cls, **overrides: Any) -> IBKRSettings:
        """Read ``live_trading.ibkr`` with ``overrides`` (``None`` = use the config)."""
        r = SettingsReader("ibkr", overrides)
        host = r.string("host")
        port = r.integer("port", ge=1, le=65535)
        client_id = r.integer("client_id", ge=0)
        account = r.string("account", optional=True)
        connect_timeout = r.number("connect_timeout_s", gt=0)
        order_timeout = r.number("order_timeout_s", gt=0)
        request_timeout = r.number("request_timeout_s", gt=0)
        mdt = r.integer("market_data_type", ge=1, le=4)
        delayed_fallback = r.boolean("delayed_fallback")
        readonly = r.boolean("readonly")
        allow_live = r.boolean("allow_live")
        log_dir = r.string("log_dir")
        if log_dir is not None and overrides.get("log_dir") is None:  # the one rule (common/paths.py)
            log_dir = str(journal_root("ibkr", log_dir))
        cash_tag = _exact_choice(r, "cash_tag", CASH_TAGS)
        contracts = validate_contract_table(r, r.mapping("contracts"))
        client_id_retries = r.integer("client_id_retries", ge=0, le=100)
        reconnect_attempts = r.integer("reconnect_attempts", ge=1)
        backoff = r.number("reconnect_backoff_s", ge=0)
        backoff_max = r.number("reconnect_backoff_max_s", ge=0)
        ack_grace = r.number("ack_grace_s", ge=0)
        commission_wait = r.number("commission_wait_s", ge=0)
        pacing_retries = r.integer("pacing_retries", ge=0)
        pacing_backoff = r.number("pacing_backoff_s", ge=0)
        use_rth = r.boolean("use_rth")
        batch = r.integer("quote_batch_size", ge=1, le=100)
        ib_module = overrides.get("ib_module")
        if ib_module is None or isinstance(ib_module, str):
            ib_module = r.string("ib_module", ib_module, optional=True)
        else:  # a module object given as keyword argument: _ib.load_ib_module checks it
            ib_module = None
        if port is not None and port in LIVE_PORTS and not allow_live:
            r.problems.append(
                f"live_trading.ibkr.port {port} is the {LIVE_PORTS[port]} port (a real-money account); "
                "set live_trading.ibkr.allow_live: true to trade it, or use 7497 (TWS paper) / 4002 (IB Gateway paper)"
            )
        r.finish()
        return cls(
            host=host,  # type: ignore[arg-type]
            port=port,  # type: ignore[arg-type]
            client_id=client_id,  # type: ignore[arg-type]
            account=account.upper() if account else None,
            connect_timeout_s=connect_timeout,  # type: ignore[arg-type]
            order_timeout_s=order_timeout,  # type: ignore[arg-type]
            request_timeout_s=request_timeout,  # type: ignore[arg-type]
            market_data_type=mdt,  # type: ignore[arg-type]
            delayed_fallback=delayed_fallback,
            readonly=readonly,
            allow_live=allow_live,
            log_dir=log_dir,  # type: ignore[arg-type]
            cash_tag=cash_tag,
            contracts=contracts,
            client_id_retries=client_id_retries,  # type: ignore[arg-type]
            reconnect_attempts=reconnect_attempts,  # type: ignore[arg-type]
            reconnect_backoff_s=backoff,  # type: ignore[arg-type]
            reconnect_backoff_max_s=backoff_max,  # type: ignore[arg-type]
            ack_grace_s=ack_grace,  # type: ignore[arg-type]
            commission_wait_s=commission_wait,  # type: ignore[arg-type]
            pacing_retries=pacing_retries,  # type: ignore[arg-type]
            pacing_backoff_s=pacing_backoff,  # type: ignore[arg-type]
            use_rth=use_rth,
            quote_batch_size=batch,  # type: ignore[arg-type]
            ib_module=ib_module,
        )


def _exact_choice(r: SettingsReader, name: str, options: tuple[str, ...]) -> str:
    """A case-insensitive choice returned in its canonical spelling (``TotalCashValue``)."""
    value, source = r.raw(name)
    if isinstance(value, str):
        for option in options:
            if value.strip().lower() == option.lower():
                return option
    r.problems.append(f"{r.key(name)} must be one of {', '.join(options)}, got {value!r} ({source})")
    return options[0]


def validate_contract_table(r: SettingsReader, table: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Check a ``contracts`` table; problems go to ``r.problems``. Keys come back upper-cased."""
    out: dict[str, dict[str, Any]] = {}
    base = r.key("contracts")
    for raw_key, entry in table.items():
        key = str(raw_key).strip().upper()
        where = f"{base}.{raw_key}"
        if not key:
            r.problems.append(f"{base} has an empty symbol as key")
            continue
        if not isinstance(entry, Mapping):
            r.problems.append(f"{where} must be a mapping of contract fields, got {entry!r}")
            continue
        unknown = [k for k in entry if k not in CONTRACT_FIELDS]
        if unknown:
            r.problems.append(
                f"{where} has unknown field(s) {', '.join(map(str, unknown))} (allowed: {', '.join(CONTRACT_FIELDS)})"
            )
            continue
        spec: dict[str, Any] = {}
        sec_type = str(entry.get("secType", "")).strip().upper()
        if sec_type not in SEC_TYPES:
            r.problems.append(f"{where}.secType must be one of {', '.join(SEC_TYPES)}, got {entry.get('secType')!r}")
            continue
        spec["secType"] = sec_type
        for name in ("symbol", "exchange", "primaryExchange", "currency", "localSymbol", "tradingClass", "multiplier"):
            value = entry.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, str | int | float) or not str(value).strip():
                r.problems.append(f"{where}.{name} must be a non-empty string, got {value!r}")
                continue
            text = str(value).strip()
            spec[name] = text if name == "multiplier" else text.upper()
        expiry = entry.get("lastTradeDateOrContractMonth")
        if expiry is not None:
            text = str(expiry).strip()
            if not (text.isdigit() and len(text) in (6, 8)):
                r.problems.append(
                    f"{where}.lastTradeDateOrContractMonth must be YYYYMM or YYYYMMDD, got {expiry!r}"
                )
            else:
                spec["lastTradeDateOrContractMonth"] = text
        if entry.get("strike") is not None:
            strike = to_float(entry.get("strike"))
            if strike is None or strike <= 0:
                r.problems.append(f"{where}.strike must be a number > 0, got {entry.get('strike')!r}")
            else:
                spec["strike"] = strike
        if entry.get("right") is not None:
            right = RIGHTS.get(str(entry.get("right")).strip().upper())
            if right is None:
                r.problems.append(f"{where}.right must be C, P, CALL or PUT, got {entry.get('right')!r}")
            else:
                spec["right"] = right
        if entry.get("conId") is not None:
            con_id = to_float(entry.get("conId"))
            if con_id is None or con_id != int(con_id) or con_id <= 0:
                r.problems.append(f"{where}.conId must be a positive integer, got {entry.get('conId')!r}")
            else:
                spec["conId"] = int(con_id)
        if entry.get("includeExpired") is not None:
            spec["includeExpired"] = bool(entry.get("includeExpired"))
        if "conId" not in spec:
            if "symbol" not in spec and "localSymbol" not in spec:
                r.problems.append(f"{where} needs symbol (or localSymbol or conId)")
            if "exchange" not in spec:
                r.problems.append(f"{where} needs exchange (e.g. SMART, CME, IDEALPRO) or conId")
        if sec_type in ("OPT", "FOP") and "conId" not in spec and "localSymbol" not in spec:
            missing = [n for n in ("lastTradeDateOrContractMonth", "strike", "right") if n not in spec]
            if missing:
                r.problems.append(f"{where} ({sec_type}) needs {', '.join(missing)} (or localSymbol or conId)")
        out[key] = spec
    return out


__all__ = ["CASH_TAGS", "CONTRACT_FIELDS", "LIVE_PORTS", "PAPER_PORTS", "SEC_TYPES", "IBKRSettings"]
