"""Unit tests of the IBKR adapter's pure parts: tables, symbol rules, settings, library choice."""

from __future__ import annotations

import sys
import types
from datetime import date

import pytest
import yaml

from CONFIG.config_loader import PACKAGED_CONFIG
from CONFIG.schema import IBKRConfig
from LIVE_TRADING.brokers.ibkr import parsing
from LIVE_TRADING.brokers.ibkr._ib import ENV_VAR, load_ib_module
from LIVE_TRADING.brokers.ibkr.config import IBKRSettings
from LIVE_TRADING.brokers.ibkr.contracts import (
    UnknownSymbolError,
    canonical_symbol,
    contract_spec,
    default_symbol,
    table_key_for,
)
from LIVE_TRADING.common.exceptions import (
    ConfigError,
    DataProviderError,
    InsufficientFundsError,
    OrderNotFoundError,
    OrderRejectedError,
)

UNSET = sys.float_info.max

# ---------------------------------------------------------------------------
# status table
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ib_status", "filled", "kwargs", "expected"),
    [
        ("PendingSubmit", 0, {}, "new"),
        ("ApiPending", 0, {}, "new"),
        ("PreSubmitted", 0, {}, "new"),
        ("Submitted", 0, {}, "new"),
        ("Submitted", 4, {}, "partially_filled"),
        ("PendingCancel", 4, {}, "partially_filled"),
        ("Filled", 10, {}, "filled"),
        ("Cancelled", 10, {}, "filled"),  # a late or wrong Cancelled after a complete fill
        ("Cancelled", 0, {}, "cancelled"),
        ("ApiCancelled", 0, {}, "cancelled"),
        ("Cancelled", 4, {"cancel_requested": True}, "cancelled"),
        ("Cancelled", 0, {"rejected": True}, "rejected"),
        ("Cancelled", 0, {"time_in_force": "ioc"}, "expired"),
        ("Cancelled", 4, {"time_in_force": "fok"}, "expired"),
        ("Cancelled", 0, {"time_in_force": "ioc", "cancel_requested": True}, "cancelled"),
        ("Inactive", 0, {}, "rejected"),
        ("Inactive", 4, {}, "cancelled"),
        ("PendingSubmit", 0, {"rejected": True}, "rejected"),
        ("ValidationError", 0, {}, "new"),
        ("SomethingNew", 0, {}, "new"),
    ],
)
def test_derive_status(ib_status, filled, kwargs, expected):
    assert parsing.derive_status(ib_status, qty=10, filled=filled, **kwargs) == expected


def test_every_ib_status_is_mapped_into_our_vocabulary():
    from LIVE_TRADING.common.constants import ORDER_STATUSES

    assert set(parsing.STATUS_MAP.values()) <= set(ORDER_STATUSES)
    assert parsing.IB_DONE.issubset(parsing.STATUS_MAP)


def test_order_type_and_tif_tables_round_trip():
    for ours, theirs in parsing.ORDER_TYPE_TO_IB.items():
        assert parsing.order_type_from_ib(theirs) == ours
    for ours, theirs in parsing.TIF_TO_IB.items():
        assert parsing.tif_from_ib(theirs) == ours
    assert parsing.order_type_from_ib("TRAIL LIMIT") == "trailing_stop"  # issue 14: a trailing stop-limit
    assert parsing.order_type_from_ib("MOC") == "moc"  # types we do not place come back lower-cased
    assert parsing.tif_from_ib("") == "day"  # IB's default


# ---------------------------------------------------------------------------
# error codes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (201, "reject"),
        (200, "reject"),
        (103, "reject"),
        (202, "cancelled"),
        (10147, "not_found"),
        (10148, "not_cancellable"),
        (161, "not_cancellable"),
        (399, "warning"),
        (2104, "info"),
        (10167, "info"),
        (10349, "unknown"),
        (1, "unknown"),
    ],
)
def test_order_error_kind(code, kind):
    assert parsing.order_error_kind(code) == kind


def test_rejection_error_keeps_ibs_reason_and_spots_money_problems():
    plain = parsing.rejection_error("MSFT", 201, "Order rejected - reason:Minimum of 100 shares")
    assert type(plain) is OrderRejectedError
    assert plain.reason == "Minimum of 100 shares (IB error 201)" and plain.code == 201
    assert plain.venue_message == "Order rejected - reason:Minimum of 100 shares"
    money = parsing.rejection_error("AAPL", 201, "Order rejected - reason:YOUR EQUITY WITH LOAN VALUE MUST EXCEED "
                                                 "THE INITIAL MARGIN")
    assert isinstance(money, InsufficientFundsError)
    assert parsing.reject_reason("no reason given here") == "no reason given here"
    assert parsing.reject_reason("") == "rejected by IB"


def test_state_from_cancel_error():
    msg = "OrderId 15073 that needs to be cancelled cannot be cancelled, state: Filled."
    assert parsing.state_from_cancel_error(msg) == "Filled"
    assert parsing.state_from_cancel_error("OrderId 1 that needs to be cancelled is not found.") is None


def test_pacing_violation_is_told_from_no_data():
    assert parsing.is_pacing_violation(162, "Historical Market Data Service error message:Historical data "
                                            "request pacing violation")
    assert not parsing.is_pacing_violation(162, "Historical Market Data Service error message:HMDS query "
                                                "returned no data")
    assert not parsing.is_pacing_violation(200, "pacing")


def test_market_data_code_sets_do_not_overlap():
    assert not parsing.DELAYED_FALLBACK_CODES & parsing.NO_MARKET_DATA_CODES
    assert 354 in parsing.DELAYED_FALLBACK_CODES and 10168 in parsing.NO_MARKET_DATA_CODES


# ---------------------------------------------------------------------------
# ids, prices, executions, bars
# ---------------------------------------------------------------------------


def test_parse_order_id():
    assert parsing.parse_order_id("1900000001") == 1900000001
    assert parsing.parse_order_id(" 42 ") == 42
    assert parsing.parse_order_id(7) == 7
    for bad in ("", "abc", "-3", None, True, 0, -1, "1.5"):
        with pytest.raises(OrderNotFoundError):
            parsing.parse_order_id(bad)


def test_clean_price():
    assert parsing.clean_price(150.0, UNSET) == 150.0
    assert parsing.clean_price(UNSET, UNSET) is None
    assert parsing.clean_price("", UNSET) is None
    assert parsing.clean_price(float("nan"), UNSET) is None
    assert parsing.clean_price(0.0, UNSET) is None


def test_execution_corrections_keep_the_latest_revision():
    ids = ["0000e0d5.6571bd3b.01.01", "0000e0d5.6571bd3b.01.02", "0000e0d5.6571bd3c.01.01", "plain"]
    assert parsing.exec_base_id(ids[1]) == "0000e0d5.6571bd3b.01"
    assert parsing.exec_base_id("plain") == "plain"
    assert parsing.latest_executions(ids) == {"0000e0d5.6571bd3b.01.02", "0000e0d5.6571bd3c.01.01", "plain"}
    assert parsing.latest_executions(list(reversed(ids))) == parsing.latest_executions(ids)


def test_periods_and_intervals():
    assert parsing.duration_for("5d", date(2026, 3, 1)) == "5 D"
    assert parsing.duration_for("1y", date(2026, 3, 1)) == "1 Y"
    assert parsing.duration_for("ytd", date(2026, 1, 1)) == "1 D"
    assert parsing.duration_for("ytd", date(2026, 3, 1)) == "60 D"
    assert parsing.bar_size_for("1h") == parsing.bar_size_for("60m") == "1 hour"
    assert parsing.bar_size_for("1wk") == "1 week"
    with pytest.raises(DataProviderError) as info:
        parsing.bar_size_for("90m", "AAPL")
    assert info.value.symbol == "AAPL" and "1 min" not in str(info.value) and "1m" in str(info.value)
    assert parsing.what_to_show("CASH") == "MIDPOINT" and parsing.what_to_show("STK") == "TRADES"


# ---------------------------------------------------------------------------
# symbols <-> contracts
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "spec"),
    [
        ("AAPL", {"secType": "STK", "symbol": "AAPL", "exchange": "SMART", "currency": "USD"}),
        ("aapl ", {"secType": "STK", "symbol": "AAPL", "exchange": "SMART", "currency": "USD"}),
        ("BRK.B", {"secType": "STK", "symbol": "BRK B", "exchange": "SMART", "currency": "USD"}),
        ("BRK B", {"secType": "STK", "symbol": "BRK B", "exchange": "SMART", "currency": "USD"}),
        ("EUR/USD", {"secType": "CASH", "symbol": "EUR", "exchange": "IDEALPRO", "currency": "USD"}),
        ("eur.usd", {"secType": "CASH", "symbol": "EUR", "exchange": "IDEALPRO", "currency": "USD"}),
        ("USD/JPY", {"secType": "CASH", "symbol": "USD", "exchange": "IDEALPRO", "currency": "JPY"}),
        ("BTC/USD", {"secType": "CRYPTO", "symbol": "BTC", "exchange": "PAXOS", "currency": "USD"}),
        ("ETH.USD", {"secType": "CRYPTO", "symbol": "ETH", "exchange": "PAXOS", "currency": "USD"}),
    ],
)
def test_contract_rules(symbol, spec):
    assert contract_spec(symbol) == spec


@pytest.mark.parametrize("bad", ["ABC/XYZ", "BTC/EUR", "USD/USD", "A$B", "", "/"])
def test_symbols_that_cannot_be_contracts(bad):
    with pytest.raises(UnknownSymbolError) as info:
        contract_spec(bad)
    assert info.value.symbol == bad.strip().upper()


def test_the_contracts_table_wins_over_the_rules():
    table = {"AAPL": {"secType": "STK", "symbol": "AAPL", "exchange": "ISLAND", "currency": "USD"},
             "ESZ6": {"secType": "FUT", "symbol": "ES", "exchange": "CME", "currency": "USD",
                      "lastTradeDateOrContractMonth": "202612"}}
    assert contract_spec("AAPL", table)["exchange"] == "ISLAND"
    assert contract_spec("esz6", table)["secType"] == "FUT"
    assert canonical_symbol("esz6", table) == "ESZ6"


def test_canonical_and_default_symbols():
    assert canonical_symbol("EUR.USD") == "EUR/USD"
    assert canonical_symbol("btc/usd") == "BTC/USD"
    assert canonical_symbol("BRK B") == canonical_symbol("brk.b") == "BRK.B"
    assert default_symbol("STK", "BRK B", "USD") == "BRK.B"
    assert default_symbol("CASH", "EUR", "USD", "EUR.USD") == "EUR/USD"
    assert default_symbol("CRYPTO", "BTC", "USD") == "BTC/USD"
    assert default_symbol("FUT", "ES", "USD", "ESZ6") == "ESZ6"
    assert default_symbol("OPT", "AAPL", "USD", "AAPL  261218C00200000") == "AAPL 261218C00200000"


def test_table_key_for_a_contract():
    table = {"ESZ6": {"secType": "FUT", "symbol": "ES", "exchange": "CME", "currency": "USD",
                      "lastTradeDateOrContractMonth": "202612"},
             "ESH7": {"secType": "FUT", "symbol": "ES", "exchange": "CME", "currency": "USD",
                      "lastTradeDateOrContractMonth": "202703"}}
    contract = types.SimpleNamespace(secType="FUT", symbol="ES", currency="USD", localSymbol="ESH7",
                                     lastTradeDateOrContractMonth="20270319", strike=0.0, right="", conId=1)
    assert table_key_for(contract, table) == "ESH7"
    contract.symbol = "NQ"
    assert table_key_for(contract, table) is None


# ---------------------------------------------------------------------------
# settings
# ---------------------------------------------------------------------------


def test_defaults_are_the_packaged_config_and_the_built_in_defaults():
    packaged = yaml.safe_load(PACKAGED_CONFIG.read_text())["live_trading"]["ibkr"]
    assert packaged == IBKRConfig().model_dump(mode="json")
    settings = IBKRSettings.load()
    assert (settings.host, settings.port, settings.client_id) == ("127.0.0.1", 7497, 1)
    assert settings.account is None and settings.ib_module is None and settings.contracts == {}
    assert settings.cash_tag == "TotalCashValue" and not settings.allow_live and not settings.is_live_port


def test_keyword_arguments_override_the_config(write_config):
    write_config({"ibkr": {"port": 4002, "cash_tag": "availablefunds", "account": "du111"}})
    settings = IBKRSettings.load(client_id=9, order_timeout_s=0.5)
    assert (settings.port, settings.client_id, settings.order_timeout_s) == (4002, 9, 0.5)
    assert settings.cash_tag == "AvailableFunds" and settings.account == "DU111"


def test_every_settings_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        IBKRSettings.load(
            port=0, market_data_type=7, cash_tag="NetLiquidation", order_timeout_s=-1, reconnect_attempts=0,
            contracts={
                "BAD1": {"secType": "XYZ", "symbol": "A", "exchange": "SMART"},
                "BAD2": {"secType": "OPT", "symbol": "AAPL", "exchange": "SMART", "strike": -5, "right": "X"},
                "BAD3": {"secType": "FUT", "symbol": "ES"},
                "BAD4": {"secType": "STK", "symbol": "A", "exchange": "SMART", "colour": "red"},
                "BAD5": "not a mapping",
                "BAD6": {"secType": "FUT", "symbol": "ES", "exchange": "CME", "lastTradeDateOrContractMonth": "Dec"},
            },
        )
    text = "\n".join(info.value.problems)
    for needle in ("live_trading.ibkr.port", "market_data_type", "cash_tag", "order_timeout_s",
                   "reconnect_attempts", "BAD1.secType", "BAD2.strike", "BAD2.right", "BAD2 (OPT) needs",
                   "BAD3 needs exchange", "unknown field(s) colour", "BAD5 must be a mapping",
                   "BAD6.lastTradeDateOrContractMonth"):
        assert needle in text, needle


def test_contracts_table_is_normalised():
    settings = IBKRSettings.load(contracts={
        "esz6": {"secType": "fut", "symbol": "es", "exchange": "cme", "currency": "usd",
                 "lastTradeDateOrContractMonth": 202612, "multiplier": 50},
        "AAPL_C200": {"secType": "OPT", "symbol": "AAPL", "exchange": "SMART", "currency": "USD",
                      "lastTradeDateOrContractMonth": "20261218", "strike": "200", "right": "call"},
    })
    assert settings.contracts["ESZ6"] == {"secType": "FUT", "symbol": "ES", "exchange": "CME", "currency": "USD",
                                          "lastTradeDateOrContractMonth": "202612", "multiplier": "50"}
    assert settings.contracts["AAPL_C200"]["right"] == "C" and settings.contracts["AAPL_C200"]["strike"] == 200.0


@pytest.mark.parametrize("port", [7496, 4001])
def test_live_ports_are_refused_unless_allowed(port):
    with pytest.raises(ConfigError, match="allow_live"):
        IBKRSettings.load(port=port)
    assert IBKRSettings.load(port=port, allow_live=True).is_live_port


# ---------------------------------------------------------------------------
# library choice
# ---------------------------------------------------------------------------


def test_library_choice(monkeypatch):
    import ib_async
    import ib_insync

    monkeypatch.delenv(ENV_VAR, raising=False)
    assert load_ib_module() is ib_async  # preferred when installed
    assert load_ib_module("ib_insync") is ib_insync
    assert load_ib_module(ib_insync) is ib_insync
    monkeypatch.setenv(ENV_VAR, "ib_insync")
    assert load_ib_module() is ib_insync
    assert load_ib_module("ib_async") is ib_async  # an explicit choice beats the environment
    monkeypatch.setenv(ENV_VAR, "ibapi")
    with pytest.raises(ConfigError, match=ENV_VAR):
        load_ib_module()
    with pytest.raises(ConfigError, match="ib_async, ib_insync"):
        load_ib_module("zipline")
    with pytest.raises(ConfigError, match="no IB class"):
        load_ib_module(types.ModuleType("fake_ib"))


def test_falls_back_to_ib_insync_when_ib_async_is_missing(monkeypatch):
    import ib_insync

    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setitem(sys.modules, "ib_async", None)  # "not installed": import raises ImportError
    assert load_ib_module() is ib_insync
    with pytest.raises(ConfigError, match="not installed"):
        load_ib_module("ib_async")
    monkeypatch.setitem(sys.modules, "ib_insync", None)
    with pytest.raises(ConfigError, match=r"pip install 'live-trading\[ibkr\]'"):
        load_ib_module()
