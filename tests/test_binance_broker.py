"""BinanceBroker end to end: get_broker("binance") -> real requests -> the loopback Binance stand-in.

Market and limit trading with fees in the asset received, fills through
myTrades with a fromId cursor, cancels, filters (rounding and rejection before
sending), idempotent client order ids, account views and the journal.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from fakes.binance_server import FakeBinance
from fakes.binance_support import Sleeper, make_broker

from LIVE_TRADING.brokers.interface import Broker
from LIVE_TRADING.common.exceptions import (
    InsufficientFundsError,
    OrderNotFoundError,
    OrderRejectedError,
    QuoteUnavailableError,
)
from LIVE_TRADING.common.journal import iter_records

ORDER_KEYS = {"order_id", "client_order_id", "symbol", "side", "order_type", "qty", "filled_qty", "status",
              "fill_price", "fee", "limit_price", "stop_price", "time_in_force", "timestamp", "venue"}
FILL_KEYS = {"order_id", "fill_id", "timestamp", "symbol", "side", "qty", "fill_price", "notional", "fee",
             "fee_currency", "venue"}


@pytest.fixture
def sleeper(clock):
    return Sleeper(clock)


@pytest.fixture
def fake(clock):
    with FakeBinance(clock=clock) as server:
        yield server


@pytest.fixture
def broker(fake, clock, sleeper):
    b = make_broker(fake, clock, sleeper)
    yield b
    b.unwrap().close()


def journal_events(broker, event=None):
    records = list(iter_records(broker.unwrap().config.log_dir))
    return [r for r in records if event is None or r["event"] == event]


def posts(fake):
    return fake.calls("POST", "/api/v3/order")


# -- the protocol ------------------------------------------------------------------


def test_satisfies_the_broker_protocol(broker):
    assert isinstance(broker, Broker)
    assert isinstance(broker.unwrap(), Broker)


def test_start_measures_server_time_and_loads_rules(fake, broker, clock):
    assert [r["path"] for r in fake.requests[:2]] == ["/api/v3/time", "/api/v3/exchangeInfo"]
    assert broker.now() == clock()  # same clock, no skew: offset 0
    assert journal_events(broker, "session")[0]["venue"] == "binance"


# -- market orders -----------------------------------------------------------------


def test_market_buy_fills_in_one_request_with_fee_in_the_base_asset(fake, broker):
    result = broker.submit_order("BTC/USDT", "buy", 0.01)
    assert set(result) == ORDER_KEYS
    assert (result["symbol"], result["side"], result["order_type"], result["status"]) == (
        "BTCUSDT", "BUY", "market", "filled"
    )
    assert result["filled_qty"] == 0.01 and result["fill_price"] == 50010.0
    assert result["fee"] == pytest.approx(0.00001)  # 0.1 % of 0.01 BTC, charged in BTC
    assert result["order_id"].startswith("BTCUSDT:") and result["venue"] == "binance"
    assert result["timestamp"].tzinfo is not None
    # one order request; no polling and no trade lookup needed
    assert len(posts(fake)) == 1
    assert posts(fake)[0]["params"]["newOrderRespType"] == "FULL"
    assert not fake.calls("GET", "/api/v3/order") and not fake.calls("GET", "/api/v3/myTrades")
    assert fake.balance("BTC") == (Decimal("0.00999"), 0)
    assert fake.balance("USDT") == (Decimal("9499.9"), 0)


def test_market_sell_fee_in_the_quote_asset_and_account_views(fake, broker):
    broker.submit_order("BTCUSDT", "BUY", 0.01)
    assert broker.get_positions() == {"BTCUSDT": pytest.approx(0.00999)}  # BNB (no BNBUSDT) and XYZ ignored
    assert broker.get_cash() == pytest.approx(9499.9)
    sold = broker.submit_order("BTCUSDT", "SELL", 0.00999)
    assert sold["status"] == "filled" and sold["fill_price"] == 50000.0
    assert sold["fee"] == pytest.approx(0.00999 * 50000 * 0.001)  # USDT
    assert broker.get_positions() == {}
    assert broker.get_cash() == pytest.approx(9499.9 + 499.5 - 0.4995)
    fills = broker.get_fills()
    assert [f["fee_currency"] for f in fills] == ["BTC", "USDT"]
    assert all(set(f) == FILL_KEYS for f in fills)
    assert [e["event"] for e in journal_events(broker) if e["event"] != "session"] == [
        "order", "fill", "order", "fill"
    ]


def test_market_order_beyond_displayed_size_expires_partially_filled(fake, broker):
    fake.set_book("BTCUSDT", "50000", "50010", ask_qty="0.004")
    result = broker.submit_order("BTCUSDT", "BUY", 0.01)
    assert result["status"] == "expired" and result["filled_qty"] == pytest.approx(0.004)
    assert [e["event"] for e in journal_events(broker) if e["event"] != "session"] == ["order", "fill", "expire"]


def test_market_order_not_final_in_the_answer_is_polled_until_filled(fake, clock, sleeper):
    broker = make_broker(fake, clock, sleeper, poll_interval_s=0.25)
    fake.defer_market_fills = 3  # answers NEW; fills on the third query
    result = broker.submit_order("BTCUSDT", "BUY", 0.01)
    assert result["status"] == "filled" and result["fee"] == pytest.approx(0.00001)
    assert len(fake.calls("GET", "/api/v3/order")) == 3
    assert sleeper.calls == [0.25, 0.25, 0.25]
    assert len(posts(fake)) == 1


def test_market_order_still_open_at_the_timeout_is_returned_as_it_stands(fake, clock, sleeper):
    broker = make_broker(fake, clock, sleeper, poll_interval_s=0.5, order_timeout_s=2)
    fake.defer_market_fills = 100
    result = broker.submit_order("BTCUSDT", "BUY", 0.01)
    assert result["status"] == "new" and result["filled_qty"] == 0
    assert sum(sleeper.calls) == pytest.approx(2.0)
    assert len(posts(fake)) == 1


# -- limit orders, fills, cancels ---------------------------------------------------


def test_limit_rests_then_fills_on_a_book_move_and_fills_come_from_my_trades(fake, broker):
    order = broker.submit_order("BTCUSDT", "BUY", 0.001, "limit", 49000)
    assert (order["status"], order["filled_qty"], order["limit_price"]) == ("new", 0, 49000.0)
    assert order["time_in_force"] == "gtc" and len(fake.requests) == 3  # time, exchangeInfo, one POST
    assert [o["order_id"] for o in broker.get_open_orders()] == [order["order_id"]]
    assert fake.balance("USDT") == (Decimal("9951"), Decimal("49"))  # funds locked by the resting order

    fake.set_book("BTCUSDT", "48900", "48950")  # the ask crosses 49000: the order fills as maker
    fills = broker.get_fills()
    assert len(fills) == 1
    fill = fills[0]
    assert (fill["order_id"], fill["side"], fill["qty"], fill["fill_price"]) == (order["order_id"], "BUY", 0.001, 49000)
    assert (fill["fee"], fill["fee_currency"]) == (pytest.approx(0.000001), "BTC")
    trades_calls = fake.calls("GET", "/api/v3/myTrades")
    assert trades_calls[0]["params"]["symbol"] == "BTCUSDT"
    assert broker.get_open_orders() == []
    done = broker.get_order(order["order_id"])
    assert (done["status"], done["filled_qty"], done["fee"]) == ("filled", 0.001, pytest.approx(0.000001))
    assert fake.balance("USDT") == (Decimal("9951"), 0)


def test_get_fills_is_incremental_with_a_from_id_cursor(fake, broker, clock):
    broker.submit_order("BTCUSDT", "BUY", 0.001)
    first = broker.get_fills()
    assert len(first) == 1
    last_id = int(first[0]["fill_id"].split(":")[1])
    before = len(fake.calls("GET", "/api/v3/myTrades"))
    assert broker.get_fills() == first  # nothing new
    again = fake.calls("GET", "/api/v3/myTrades")[before:]
    assert [c["params"].get("fromId") for c in again] == [str(last_id + 1)]
    clock.advance(seconds=5)
    broker.submit_order("BTCUSDT", "SELL", 0.0005)
    both = broker.get_fills()
    assert len(both) == 2 and both[0] == first[0]
    since = broker.get_fills(since=clock() - timedelta(seconds=1))
    assert [f["side"] for f in since] == ["SELL"]


def test_get_fills_reads_trades_placed_outside_this_session(fake, clock, sleeper):
    first = make_broker(fake, clock, sleeper)
    first.submit_order("ETHUSDT", "BUY", 0.01)
    fresh = make_broker(fake, clock, sleeper)  # knows nothing; ETH is held, so ETHUSDT is read
    fills = fresh.get_fills()
    assert [(f["symbol"], f["side"], f["fee_currency"]) for f in fills] == [("ETHUSDT", "BUY", "ETH")]
    assert fresh.get_fills(since=clock() + timedelta(seconds=1)) == []


def test_cancel_releases_funds_and_is_journaled(fake, broker):
    order = broker.submit_order("BTCUSDT", "BUY", 0.001, "limit", 49000)
    cancelled = broker.cancel_order(order["order_id"])
    assert cancelled["status"] == "cancelled" and cancelled["order_id"] == order["order_id"]
    assert cancelled["timestamp"] == order["timestamp"]  # creation time, not the cancel's
    assert cancelled["client_order_id"] == order["client_order_id"]
    assert fake.balance("USDT") == (Decimal("10000"), 0)
    assert [e["order_id"] for e in journal_events(broker, "cancel")] == [order["order_id"]]
    again = broker.cancel_order(order["order_id"])  # already final: not an error
    assert again["status"] == "cancelled"


def test_cancel_of_a_filled_order_returns_it_filled(fake, broker):
    order = broker.submit_order("BTCUSDT", "BUY", 0.001, "limit", 49000)
    fake.set_book("BTCUSDT", "48000", "48010")
    result = broker.cancel_order(order["order_id"].split(":")[1])  # the bare id works for known orders
    assert result["status"] == "filled" and result["fee"] == pytest.approx(0.000001)


def test_unknown_orders_raise_order_not_found(broker):
    with pytest.raises(OrderNotFoundError):
        broker.cancel_order("BTCUSDT:999999")
    with pytest.raises(OrderNotFoundError):
        broker.get_order("BTCUSDT:999999")
    with pytest.raises(OrderNotFoundError):
        broker.get_order("424242")  # bare id this broker never saw
    with pytest.raises(OrderNotFoundError):
        broker.get_order("FOOBAR:1")


def test_a_partially_filled_limit_order_rests_and_returns_at_once(fake, broker):
    fake.set_book("BTCUSDT", "50000", "50010", ask_qty="0.004")
    order = broker.submit_order("BTCUSDT", "BUY", 0.01, "limit", 50010)
    assert (order["status"], order["filled_qty"], order["fee"]) == (
        "partially_filled", pytest.approx(0.004), pytest.approx(0.000004)
    )
    assert [o["status"] for o in broker.get_open_orders()] == ["partially_filled"]
    assert not fake.calls("GET", "/api/v3/order")  # no polling for an order that rests
    fake.set_book("BTCUSDT", "49000", "49010")
    done = broker.get_order(order["order_id"])
    assert (done["status"], done["filled_qty"]) == ("filled", pytest.approx(0.01))
    assert done["fill_price"] == pytest.approx((0.004 * 50010 + 0.006 * 50010) / 0.01)
    assert len(broker.get_fills()) == 2


def test_ioc_and_fok_limit_orders(fake, broker):
    fake.set_book("BTCUSDT", "50000", "50010", ask_qty="0.004")
    ioc = broker.submit_order("BTCUSDT", "BUY", 0.01, "limit", 50010, time_in_force="ioc")
    assert (ioc["status"], ioc["filled_qty"], ioc["time_in_force"]) == ("expired", pytest.approx(0.004), "ioc")
    fok = broker.submit_order("BTCUSDT", "BUY", 0.01, "limit", 50010, time_in_force="fok")
    assert (fok["status"], fok["filled_qty"]) == ("expired", 0)
    assert posts(fake)[-1]["params"]["timeInForce"] == "FOK"


def test_stop_orders_pick_the_binance_type_from_side_and_market(fake, broker):
    fake.set_balance("BTC", "1")
    protective = broker.submit_order("BTCUSDT", "SELL", 0.01, "stop", stop_price=45000)
    assert (protective["order_type"], protective["stop_price"], protective["status"]) == ("stop", 45000.0, "new")
    assert posts(fake)[-1]["params"]["type"] == "STOP_LOSS"
    assert "timeInForce" not in posts(fake)[-1]["params"]
    take = broker.submit_order("BTCUSDT", "SELL", 0.01, "stop_limit", 55000, stop_price=55000)
    assert posts(fake)[-1]["params"]["type"] == "TAKE_PROFIT_LIMIT"
    assert (take["order_type"], take["limit_price"], take["stop_price"]) == ("stop_limit", 55000.0, 55000.0)
    fake.set_book("BTCUSDT", "44000", "44010")  # the protective stop triggers and sells at the bid
    assert broker.get_order(protective["order_id"])["status"] == "filled"


# -- filters --------------------------------------------------------------------------


def test_quantities_and_prices_are_rounded_before_sending(fake, broker):
    fake.set_balance("BTC", "1")
    buy = broker.submit_order("BTCUSDT", "BUY", 0.0123456, "limit", 49000.129)
    sent = posts(fake)[-1]["params"]
    assert (sent["quantity"], sent["price"]) == ("0.01234", "49000.12")
    assert (buy["qty"], buy["limit_price"]) == (0.01234, 49000.12)
    broker.submit_order("BTCUSDT", "SELL", 0.01, "limit", 51000.121)
    assert posts(fake)[-1]["params"]["price"] == "51000.13"
    order_records = journal_events(broker, "order")
    assert order_records[0]["adjusted"] == ["quantity 0.0123456 -> 0.01234", "price 49000.129 -> 49000.12"]


@pytest.mark.parametrize(
    "args, filter_name",
    [
        (("BTCUSDT", "BUY", 0.000004, "limit", 50000), "LOT_SIZE"),
        (("BTCUSDT", "BUY", 10000, "limit", 1), "LOT_SIZE"),
        (("BTCUSDT", "BUY", 200, "market"), "MARKET_LOT_SIZE"),
        (("BTCUSDT", "BUY", 1, "limit", 0.004), "PRICE_FILTER"),
        (("BTCUSDT", "BUY", 0.0001, "limit", 40000), "NOTIONAL"),
    ],
)
def test_certain_filter_failures_never_reach_binance(fake, broker, args, filter_name):
    with pytest.raises(OrderRejectedError) as info:
        broker.submit_order(*args)
    assert f"Filter failure: {filter_name}" in str(info.value)
    assert posts(fake) == []
    assert journal_events(broker, "reject")[-1]["reason"] == info.value.reason


def test_day_orders_and_bad_input_are_rejected_before_sending(fake, broker):
    venue = broker.unwrap()  # the adapter itself: wrappers of get_broker may validate input earlier
    with pytest.raises(OrderRejectedError, match="'day' does not exist on Binance spot"):
        venue.submit_order("BTCUSDT", "BUY", 0.001, "limit", 49000, time_in_force="day")
    with pytest.raises(OrderRejectedError, match="fok"):
        venue.submit_order("BTCUSDT", "BUY", 0.001, time_in_force="fok")
    with pytest.raises(OrderRejectedError, match="Unknown symbol"):
        venue.submit_order("FOOUSDT", "BUY", 1)
    with pytest.raises(OrderRejectedError, match="quantity"):
        venue.submit_order("BTCUSDT", "BUY", float("nan"))
    with pytest.raises(OrderRejectedError, match="client_order_id"):
        venue.submit_order("BTCUSDT", "BUY", 0.001, client_order_id="has space")
    with pytest.raises(OrderRejectedError, match="'day'"):
        broker.submit_order("BTCUSDT", "BUY", 0.001, "limit", 49000, time_in_force="day")  # through get_broker
    assert posts(fake) == []
    rejects = journal_events(broker, "reject")
    assert len(rejects) == 6 and rejects[3]["qty"] == "nan"


def test_insufficient_balance_is_binance_s_answer(fake, broker):
    with pytest.raises(InsufficientFundsError) as info:
        broker.submit_order("BTCUSDT", "BUY", 1)  # 50 010 USDT > 10 000
    assert info.value.code == -2010
    assert info.value.venue_message == "Account has insufficient balance for requested action."
    assert len(posts(fake)) == 1 and fake.orders == {}
    assert journal_events(broker, "reject")[-1]["code"] == -2010


# -- idempotency ----------------------------------------------------------------------


def test_the_same_client_order_id_twice_places_one_order(fake, broker):
    first = broker.submit_order("BTCUSDT", "BUY", 0.001, client_order_id="pipeline-42")
    second = broker.submit_order("BTCUSDT", "BUY", 0.001, client_order_id="pipeline-42")
    assert first["client_order_id"] == "pipeline-42" and second["order_id"] == first["order_id"]
    assert len(posts(fake)) == 1 and len(fake.orders_with_client_id("pipeline-42")) == 1


def test_a_client_order_id_known_to_binance_but_not_to_this_broker(fake, clock, sleeper):
    make_broker(fake, clock, sleeper).submit_order("BTCUSDT", "BUY", 0.001, "limit", 49000, client_order_id="abc-1")
    other = make_broker(fake, clock, sleeper)
    again = other.submit_order("BTCUSDT", "BUY", 0.001, "limit", 49000, client_order_id="abc-1")
    assert again["status"] == "new" and len(fake.orders_with_client_id("abc-1")) == 1
    assert len(posts(fake)) == 1


def test_generated_client_order_ids_follow_binance_s_rule(fake, broker):
    result = broker.submit_order("BTCUSDT", "BUY", 0.001)
    cid = posts(fake)[0]["params"]["newClientOrderId"]
    assert result["client_order_id"] == cid
    assert 1 <= len(cid) <= 36 and all(c.isalnum() or c in "-_" for c in cid)


# -- quotes and time --------------------------------------------------------------------


def test_quote_from_book_ticker(fake, broker, clock):
    quote = broker.get_quote("ETH/USDT")
    assert (quote["symbol"], quote["bid"], quote["ask"], quote["bid_size"]) == ("ETHUSDT", 3000.0, 3001.0, 5.0)
    assert quote["timestamp"] == clock()
    with pytest.raises(QuoteUnavailableError, match="No quote for FOOUSDT"):
        broker.get_quote("FOOUSDT")
    fake.set_book("ETHUSDT", "0", "0", "0", "0")
    with pytest.raises(QuoteUnavailableError):
        broker.get_quote("ETHUSDT")


# -- plumbing ---------------------------------------------------------------------------


class CountingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.sent = 0
        self.closed = False

    def request(self, *args, **kwargs):
        self.sent += 1
        return super().request(*args, **kwargs)

    def close(self) -> None:
        self.closed = True
        super().close()


def test_an_injected_session_carries_every_request_and_stays_open(fake, clock, sleeper):
    session = CountingSession()
    broker = make_broker(fake, clock, sleeper, session=session)
    broker.get_quote("BTCUSDT")
    broker.submit_order("BTCUSDT", "BUY", 0.001)
    assert session.sent == len(fake.requests) == 4
    broker.unwrap().close()
    assert not session.closed  # the caller owns it
    session.close()


def test_balances_and_journal_of_a_session(fake, broker):
    broker.submit_order("BTCUSDT", "BUY", 0.001)
    assert broker.get_balances()["BTC"] == {"free": pytest.approx(0.000999), "locked": 0.0}
    assert "ETH" not in broker.get_balances()  # zero balances are left out
    session = journal_events(broker, "session")[0]
    assert session["testnet"] is True and session["quote_asset"] == "USDT"
    assert all(r["run_id"] == session["run_id"] for r in journal_events(broker))
