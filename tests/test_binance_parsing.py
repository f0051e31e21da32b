"""Pure Binance translation: filters with Decimal, status/type tables, order records, the error table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from LIVE_TRADING.brokers.binance.errors import ExecutionUnknownError, is_duplicate_order, translate
from LIVE_TRADING.brokers.binance.parsing import (
    STATUS_MAP,
    SymbolRules,
    binance_order_type,
    fmt_decimal,
    parse_order,
    parse_order_fills,
    parse_trade,
    round_price,
    round_qty_down,
    split_order_key,
    to_binance_symbol,
)
from LIVE_TRADING.common.exceptions import (
    AuthenticationError,
    BrokerConnectionError,
    BrokerError,
    InsufficientFundsError,
    OrderNotFoundError,
    OrderRejectedError,
    RateLimitError,
)

# The filters of a BTCUSDT-like symbol, in exchangeInfo format (filters.md)
BTCUSDT_INFO = {
    "symbol": "BTCUSDT",
    "status": "TRADING",
    "baseAsset": "BTC",
    "baseAssetPrecision": 8,
    "quoteAsset": "USDT",
    "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
    "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
        {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
        {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "100.00000000", "stepSize": "0.00010000"},
        {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
         "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
    ],
}


@pytest.fixture
def rules() -> SymbolRules:
    return SymbolRules.from_exchange_info(BTCUSDT_INFO)


def test_rules_are_read_from_exchange_info(rules):
    assert (rules.symbol, rules.base_asset, rules.quote_asset) == ("BTCUSDT", "BTC", "USDT")
    assert rules.tick == Decimal("0.01") and rules.lot.step == Decimal("0.00001")
    assert rules.market_lot.step == Decimal("0.0001") and rules.min_notional == Decimal("5")


def test_quantity_rounds_down_exactly():
    assert round_qty_down(0.123456789, "0.00001") == Decimal("0.12345")
    assert round_qty_down(0.3, "0.1") == Decimal("0.3")  # no float artefact (0.1 * 3)
    assert round_qty_down("7", "0.001") == Decimal("7")


def test_prices_round_in_the_safe_direction():
    assert round_price(100.019, "0.01", "BUY") == Decimal("100.01")  # never pay more than asked
    assert round_price(100.011, "0.01", "SELL") == Decimal("100.02")  # never receive less than asked
    assert round_price(100.01, "0.01", "SELL") == Decimal("100.01")  # on the grid: unchanged


def test_prepare_rounds_and_formats(rules):
    limit = rules.prepare("LIMIT", "BUY", 0.0123456, 49000.129)
    assert (limit.quantity, limit.price) == ("0.01234", "49000.12")
    assert limit.adjusted  # says what changed
    sell = rules.prepare("LIMIT", "SELL", 0.01, 49000.121)
    assert sell.price == "49000.13"
    market = rules.prepare("MARKET", "BUY", 0.01237)
    assert (market.quantity, market.price) == ("0.0123", None)  # MARKET_LOT_SIZE step applies too
    stop = rules.prepare("STOP_LOSS_LIMIT", "SELL", 0.01, 48000.004, 48100.001)
    assert (stop.price, stop.stop_price) == ("48000.01", "48100.01")


@pytest.mark.parametrize(
    "btype, side, qty, price, stop, filter_name",
    [
        ("LIMIT", "BUY", 0.000004, 50000, None, "LOT_SIZE"),  # rounds down to 0
        ("LIMIT", "BUY", 9001, 1, None, "LOT_SIZE"),  # above maxQty
        ("MARKET", "BUY", 101, None, None, "MARKET_LOT_SIZE"),
        ("MARKET", "BUY", 0.00005, None, None, "MARKET_LOT_SIZE"),  # rounds down to 0 on the market step
        ("LIMIT", "BUY", 1, 0.004, None, "PRICE_FILTER"),  # rounds down to 0.00
        ("LIMIT", "SELL", 0.001, 2_000_000, None, "PRICE_FILTER"),
        ("LIMIT", "BUY", 0.0001, 40000, None, "NOTIONAL"),  # 4 USDT < 5
        ("STOP_LOSS_LIMIT", "BUY", 0.01, 50000, 0.004, "PRICE_FILTER"),  # stop price rounds to 0
    ],
)
def test_prepare_rejects_naming_the_filter(rules, btype, side, qty, price, stop, filter_name):
    with pytest.raises(OrderRejectedError) as info:
        rules.prepare(btype, side, qty, price, stop)
    assert info.value.filter == filter_name
    assert f"Filter failure: {filter_name}" in str(info.value)


def test_fmt_decimal_has_no_exponent():
    assert fmt_decimal(Decimal("1E+1")) == "10"
    assert fmt_decimal(Decimal("0.00001000")) == "0.00001"
    assert fmt_decimal(Decimal("5")) == "5"


def test_symbol_spellings():
    assert to_binance_symbol("btc/usdt") == "BTCUSDT"
    assert to_binance_symbol(" BTC-USDT ") == "BTCUSDT"
    assert split_order_key("btc/usdt:28") == ("BTCUSDT", "28")
    assert split_order_key("28") == (None, "28")


def test_every_documented_order_status_is_mapped():
    documented = ["NEW", "PENDING_NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "PENDING_CANCEL", "REJECTED",
                  "EXPIRED", "EXPIRED_IN_MATCH"]  # enums.md
    assert {s: STATUS_MAP[s] for s in documented} == {
        "NEW": "new", "PENDING_NEW": "new", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled",
        "CANCELED": "cancelled", "PENDING_CANCEL": "cancelled", "REJECTED": "rejected", "EXPIRED": "expired",
        "EXPIRED_IN_MATCH": "expired",
    }


@pytest.mark.parametrize(
    "order_type, side, stop, ref, expected",
    [
        ("market", "BUY", None, None, "MARKET"),
        ("limit", "SELL", None, None, "LIMIT"),
        ("stop", "BUY", 110.0, 100.0, "STOP_LOSS"),  # price above market: STOP_LOSS BUY
        ("stop", "SELL", 110.0, 100.0, "TAKE_PROFIT"),  # price above market: TAKE_PROFIT SELL
        ("stop", "SELL", 90.0, 100.0, "STOP_LOSS"),  # price below market: STOP_LOSS SELL
        ("stop", "BUY", 90.0, 100.0, "TAKE_PROFIT"),  # price below market: TAKE_PROFIT BUY
        ("stop_limit", "SELL", 90.0, 100.0, "STOP_LOSS_LIMIT"),
        ("stop_limit", "BUY", 90.0, 100.0, "TAKE_PROFIT_LIMIT"),
        ("stop_limit", "BUY", 90.0, None, "STOP_LOSS_LIMIT"),
    ],
)
def test_binance_order_type_follows_the_trigger_rules(order_type, side, stop, ref, expected):
    assert binance_order_type(order_type, side, stop, ref) == expected


def test_parse_full_new_order_answer():
    raw = {  # rest-api.md, "Response FULL" (shortened)
        "symbol": "BTCUSDT", "orderId": 28, "orderListId": -1, "clientOrderId": "6gCrw2kRUAF9CvJDGP16IP",
        "transactTime": 1507725176595, "price": "0.00000000", "origQty": "10.00000000",
        "executedQty": "10.00000000", "cummulativeQuoteQty": "39990.00000000", "status": "FILLED",
        "timeInForce": "GTC", "type": "MARKET", "side": "SELL", "workingTime": 1507725176595,
        "fills": [
            {"price": "4000.00000000", "qty": "1.00000000", "commission": "4.00000000", "commissionAsset": "USDT",
             "tradeId": 56},
            {"price": "3999.00000000", "qty": "9.00000000", "commission": "35.99100000", "commissionAsset": "USDT",
             "tradeId": 57},
        ],
    }
    fills = parse_order_fills(raw)
    result = parse_order(raw, fee=sum(f["fee"] for f in fills))
    assert result["order_id"] == "BTCUSDT:28" and result["client_order_id"] == "6gCrw2kRUAF9CvJDGP16IP"
    assert (result["status"], result["order_type"], result["side"]) == ("filled", "market", "SELL")
    assert result["fill_price"] == pytest.approx(3999.0)
    assert result["fee"] == pytest.approx(39.991)
    assert result["limit_price"] is None and result["stop_price"] is None
    assert result["timestamp"].isoformat() == "2017-10-11T12:32:56.595000+00:00"
    assert [f["fill_id"] for f in fills] == ["BTCUSDT:56", "BTCUSDT:57"]
    assert fills[1]["notional"] == pytest.approx(35991.0) and fills[1]["fee_currency"] == "USDT"


def test_parse_query_answer_and_trade():
    raw = {  # rest-api.md, "Query order" response
        "symbol": "LTCBTC", "orderId": 1, "orderListId": -1, "clientOrderId": "myOrder1", "price": "0.1",
        "origQty": "1.0", "executedQty": "0.0", "cummulativeQuoteQty": "0.0", "status": "NEW",
        "timeInForce": "GTC", "type": "LIMIT", "side": "BUY", "stopPrice": "0.0", "icebergQty": "0.0",
        "time": 1499827319559, "updateTime": 1499827319559, "isWorking": True,
    }
    result = parse_order(raw)
    assert (result["status"], result["order_type"], result["limit_price"], result["fill_price"]) == (
        "new", "limit", 0.1, None
    )
    trade = parse_trade({  # rest-api.md, "Account trade list" response
        "symbol": "BNBBTC", "id": 28457, "orderId": 100234, "orderListId": -1, "price": "4.00000100",
        "qty": "12.00000000", "quoteQty": "48.000012", "commission": "10.10000000", "commissionAsset": "BNB",
        "time": 1499865549590, "isBuyer": True, "isMaker": False, "isBestMatch": True,
    })
    assert trade["order_id"] == "BNBBTC:100234" and trade["fill_id"] == "BNBBTC:28457"
    assert (trade["side"], trade["qty"], trade["notional"], trade["fee"], trade["fee_currency"]) == (
        "BUY", 12.0, 48.000012, 10.1, "BNB"
    )


@pytest.mark.parametrize(
    "code, msg, status, expected",
    [
        (-2010, "Account has insufficient balance for requested action.", 400, InsufficientFundsError),
        (-2010, "Order would trigger immediately.", 400, OrderRejectedError),
        (-1013, "Filter failure: LOT_SIZE", 400, OrderRejectedError),
        (-1111, "Precision is over the maximum defined for this asset.", 400, OrderRejectedError),
        (-1121, "Invalid symbol.", 400, OrderRejectedError),
        (-1100, "Illegal characters found in a parameter.", 400, OrderRejectedError),
        (-1102, "Mandatory parameter 'price' was not sent.", 400, OrderRejectedError),
        (-2011, "Unknown order sent.", 400, OrderNotFoundError),
        (-2013, "Order does not exist.", 400, OrderNotFoundError),
        (-1022, "Signature for this request is not valid.", 400, AuthenticationError),
        (-2014, "API-key format invalid.", 401, AuthenticationError),
        (-2015, "Invalid API-key, IP, or permissions for action.", 401, AuthenticationError),
        (None, "Unauthorized", 401, AuthenticationError),
        (-1003, "Too much request weight used", 429, RateLimitError),
        (None, "banned", 418, RateLimitError),
        (-1007, "Timeout waiting for response from backend server.", 408, ExecutionUnknownError),
        (None, "Bad gateway", 502, ExecutionUnknownError),
        (-1000, "An unknown error occurred while processing the request.", 400, BrokerError),
    ],
)
def test_error_table(code, msg, status, expected):
    err = translate(code, msg, http_status=status, symbol="BTCUSDT", order_id="BTCUSDT:1")
    assert type(err) is expected
    assert err.code == code and err.venue_message == msg
    if isinstance(err, OrderRejectedError):
        assert err.symbol == "BTCUSDT" and msg in err.reason


def test_unknown_execution_is_a_connection_error_and_duplicates_are_recognised():
    assert issubclass(ExecutionUnknownError, BrokerConnectionError)
    assert is_duplicate_order(translate(-2010, "Duplicate order sent.", http_status=400))
    assert not is_duplicate_order(translate(-2010, "Market is closed.", http_status=400))
    assert translate(-1003, "x", http_status=429, retry_after_s=7).retry_after_s == 7
