"""Settings of the Interactive Brokers venue (``live_trading.ibkr``), read and checked once.

``IBKRSettings.load(**overrides)`` reads the section through the schema
(``CONFIG.schema.IBKRConfig``; keyword argument > config file) and raises one
``ConfigError`` naming every problem. The safety rule lives here too: the
live-account ports (7496 TWS live, 4001 IB Gateway live) are refused unless
``allow_live`` is true. (Once connected, ``connection.py`` applies the same
rule to the account code: paper accounts start with ``D``.)

The ``contracts`` table (checked by ``CONFIG/ibkr_contracts.py``) maps our symbols to IB contracts for everything the
plain-string rules of ``contracts.py`` do not cover (futures, options, stocks
outside the US)::

    contracts:
      ESZ6: {secType: FUT, symbol: ES, exchange: CME, currency: USD,
             lastTradeDateOrContractMonth: "202612"}
      SAP:  {secType: STK, symbol: SAP, exchange: SMART, primaryExchange: IBIS, currency: EUR}
"""

from __future__ import annotations

from typing import Any

from CONFIG.ibkr_contracts import CONTRACT_FIELDS, RIGHTS, SEC_TYPES
from CONFIG.schema import CASH_TAGS, IBKRConfig
from LIVE_TRADING.common.exceptions import ConfigError
from LIVE_TRADING.common.settings import section

#: ports of live (real money) accounts -> what listens there
LIVE_PORTS = {7496: "TWS live", 4001: "IB Gateway live"}
#: ports of paper accounts (for messages)
PAPER_PORTS = {7497: "TWS paper", 4002: "IB Gateway paper"}
#: reqMarketDataType values: 1 live, 2 frozen, 3 delayed, 4 delayed frozen
MARKET_DATA_TYPES = (1, 2, 3, 4)


class IBKRSettings(IBKRConfig):
    """Every ``live_trading.ibkr`` setting, typed and checked (the schema's ``IBKRConfig``)."""

    @property
    def is_live_port(self) -> bool:
        return self.port in LIVE_PORTS

    @classmethod
    def load(cls, **overrides: Any) -> IBKRSettings:
        """Read ``live_trading.ibkr`` with ``overrides`` (``None`` = use the config).

        An ``ib_module`` that is a module object (not a name) is checked by
        ``_ib.load_ib_module`` instead. Raises ``ConfigError`` listing every problem,
        including a live-account port without ``allow_live``.
        """
        if not isinstance(overrides.get("ib_module"), str | None):
            overrides["ib_module"] = None
        cfg: IBKRConfig = section("ibkr", overrides)
        if cfg.port in LIVE_PORTS and not cfg.allow_live:
            raise ConfigError(
                f"live_trading.ibkr.port {cfg.port} is the {LIVE_PORTS[cfg.port]} port (a real-money account); "
                "set live_trading.ibkr.allow_live: true to trade it, or use 7497 (TWS paper) / 4002 (IB Gateway paper)"
            )
        return cls.model_validate(cfg.model_dump())


__all__ = ["CASH_TAGS", "CONTRACT_FIELDS", "LIVE_PORTS", "PAPER_PORTS", "RIGHTS", "SEC_TYPES", "IBKRSettings"]
