"""The one asset-class rule (common/symbols.py) and its use by the IBKR contract mapping."""

from __future__ import annotations

import pytest

from LIVE_TRADING.brokers.ibkr.contracts import UnknownSymbolError, canonical_symbol, contract_spec
from LIVE_TRADING.common.exceptions import ConfigError
from LIVE_TRADING.common.symbols import (
    asset_class,
    check_asset_classes,
    configured_asset_classes,
    crypto_pair,
    forex_pair,
)


@pytest.mark.parametrize(
    "symbol",
    ["BTC/USD", "BTC/USDT", "BTCUSDT", "ETHBTC", "BTC-USD", "btc-usd", " eth/usdc ", "SOL_USDT", "ETH.USD",
     "DOGEUSDT", "BTC/EUR"],
)
def test_crypto_in_any_spelling(symbol):
    assert asset_class(symbol) == "crypto"


def test_crypto_pairs_split_at_the_longest_known_quote_asset():
    assert crypto_pair("BTCUSDT") == ("BTC", "USDT")  # not BTCUSD + T
    assert crypto_pair("ETHBTC") == ("ETH", "BTC")
    assert crypto_pair("BTC-USD") == ("BTC", "USD")
    assert crypto_pair("AAPL") is None


@pytest.mark.parametrize("symbol", ["EUR/USD", "EURUSD", "usd/jpy", "EUR.GBP", "GBP-CHF", "EURUSD=X"])
def test_forex_pairs_of_iso_currencies(symbol):
    assert asset_class(symbol) == "forex"


@pytest.mark.parametrize(
    "symbol",
    ["AAPL", "MSFT", "BRK.B", "BRK B", "ESZ6", "A", "USD/USD", "ABC/XYZ", "BTC/XYZ", "ABC/USD", "EURUSDX", "BTC",
     "SPY"],
)
def test_everything_else_is_an_equity(symbol):
    assert asset_class(symbol) == "equity"


def test_forex_pair_parts():
    assert forex_pair("EURUSD") == ("EUR", "USD")
    assert forex_pair("EUR/USD") == ("EUR", "USD")
    assert forex_pair("USDUSD") is None


def test_overrides_win_over_the_rule():
    overrides = check_asset_classes({"eurusd": "Equity", "XYZ": "crypto"})
    assert overrides == {"EURUSD": "equity", "XYZ": "crypto"}
    assert asset_class("EURUSD", overrides) == "equity"
    assert asset_class("xyz", overrides) == "crypto"
    assert asset_class("AAPL", overrides) == "equity"


@pytest.mark.parametrize("bad", [{"AAPL": "bond"}, {"AAPL": 1}, ["AAPL"], {"": "equity"}])
def test_bad_overrides_are_a_config_error(bad):
    with pytest.raises(ConfigError, match="asset_classes"):
        check_asset_classes(bad)


def test_overrides_come_from_the_config(write_config):
    write_config({"asset_classes": {"EURUSD": "equity"}})
    assert configured_asset_classes() == {"EURUSD": "equity"}
    write_config({"asset_classes": {"EURUSD": "stock"}})
    with pytest.raises(ConfigError, match=r"asset_classes\.EURUSD must be one of equity, crypto, forex"):
        configured_asset_classes()


# --------------------------------------------------------------- the IBKR mapping follows the same rule
def test_ibkr_contracts_follow_the_shared_rule():
    assert contract_spec("EURUSD") == {"secType": "CASH", "symbol": "EUR", "exchange": "IDEALPRO", "currency": "USD"}
    assert contract_spec("BTC-USD") == {"secType": "CRYPTO", "symbol": "BTC", "exchange": "PAXOS", "currency": "USD"}
    assert canonical_symbol("EURUSD") == "EUR/USD"
    assert canonical_symbol("btc-usd") == "BTC/USD"


def test_ibkr_refuses_crypto_it_does_not_trade_with_a_clear_reason():
    with pytest.raises(UnknownSymbolError, match="PAXOS"):
        contract_spec("BTCUSDT")


def test_ibkr_honours_the_asset_class_overrides():
    assert contract_spec("EURUSD", asset_classes={"EURUSD": "equity"})["secType"] == "STK"


class _Knows:
    def __init__(self, answer):
        self.answer = answer

    def knows(self, symbol):
        return self.answer

    def known_symbols(self):
        return frozenset({"AAPL", "MSFT"})


class _KnowsOnly:
    def knows(self, symbol):
        return False


class _Blocked(_Knows):
    known_symbols = None  # a method blocked by setting it to None: not a KnowsSymbols


@pytest.mark.parametrize("provider", [_Knows(False), _Knows(True), _Knows(None), _KnowsOnly(), _Blocked(False),
                                      object(), None])
def test_require_known_refuses_a_symbol_only_when_a_provider_that_can_tell_says_no(provider):
    """``require_known`` asks only providers that are ``KnowsSymbols`` (a method set to ``None`` is not one), and
    refuses only on a ``False``, suggesting what the provider knows."""
    from LIVE_TRADING.common.exceptions import UnknownSymbolError as CommonUnknownSymbolError
    from LIVE_TRADING.data.provider import KnowsSymbols, require_known

    refuses = isinstance(provider, KnowsSymbols) and provider.knows("AAPLE") is False
    assert refuses == (type(provider) is _Knows and provider.answer is False)
    if refuses:
        with pytest.raises(CommonUnknownSymbolError, match="AAPL"):
            require_known(provider, "AAPLE")
    else:
        require_known(provider, "AAPLE")
