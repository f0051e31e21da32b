"""End-to-end tests of the IBKR venue against a loopback fake TWS.

Every test builds the broker with ``get_broker("ibkr", host="127.0.0.1",
port=<fake>)``: the real ib_async / ib_insync client talks the TWS wire
protocol to ``tests/fakes/fake_tws.py`` over TCP. The ``ib_lib`` fixture runs
each test once with ib_async and once with ib_insync.
"""

from __future__ import annotations

import asyncio
import importlib
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from fakes.fake_tws import FakeTWS

from LIVE_TRADING.brokers.interface import Broker, get_broker
from LIVE_TRADING.common.clock import ManualClock
from LIVE_TRADING.common.exceptions import (
    BrokerConnectionError,
    BrokerError,
    ConfigError,
    InsufficientFundsError,
    OrderNotFoundError,
    OrderRejectedError,
    OrderStatusUnknownError,
    QuoteUnavailableError,
    RiskLimitError,
)
from LIVE_TRADING.common.journal import iter_records

LIBS = ["ib_async", "ib_insync"]
AAPL, MSFT = 265598, 272093

#: short timeouts and backoffs: the fake answers at once
FAST = {
    "connect_timeout_s": 10.0,
    "order_timeout_s": 3.0,
    "request_timeout_s": 5.0,
    "ack_grace_s": 0.02,
    "commission_wait_s": 0.5,
    "reconnect_attempts": 2,
    "reconnect_backoff_s": 0.01,
    "reconnect_backoff_max_s": 0.02,
    "pacing_backoff_s": 0.01,
}


@pytest.fixture(params=LIBS)
def ib_lib(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def tws():
    with FakeTWS() as fake:
        yield fake


@pytest.fixture
def connect(tws: FakeTWS, ib_lib: str):
    """``connect(**settings)`` -> a broker from ``get_broker("ibkr", ...)`` on the fake (closed after the test)."""
    made = []

    def _connect(fake: FakeTWS | None = None, **settings):
        options = {**FAST, "host": "127.0.0.1", "port": (fake or tws).port, "ib_module": ib_lib, **settings}
        broker = get_broker("ibkr", **options)
        made.append(broker)
        return broker

    yield _connect
    for broker in made:
        broker.close()


def journal(tmp_path: Path) -> list[dict]:
    return list(iter_records(tmp_path / "logs" / "ibkr"))


def eventually(predicate, timeout: float = 5.0):
    """Wait (polling) until ``predicate()`` is truthy; synchronisation with the I/O thread, not a timing test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not reached")


def wait_disconnected(broker) -> None:
    eventually(lambda: not broker.unwrap().ib.isConnected())


# ---------------------------------------------------------------------------
# orders
# ---------------------------------------------------------------------------


def test_market_order_fills_with_fee_and_is_journaled(connect, tws, tmp_path):
    broker = connect()
    assert isinstance(broker, Broker) and isinstance(broker.unwrap(), Broker)

    result = broker.submit_order("aapl", "buy", 10)

    execution = tws.executions[-1]
    assert result["status"] == "filled"
    assert result["symbol"] == "AAPL" and result["side"] == "BUY" and result["order_type"] == "market"
    assert result["qty"] == 10 and result["filled_qty"] == 10
    assert result["fill_price"] == pytest.approx(tws.quotes[AAPL].ask)
    assert result["fee"] == pytest.approx(execution.commission) and result["fee"] > 0
    assert result["order_id"] == str(execution.order.perm_id)
    assert result["venue"] == "ibkr" and result["timestamp"].utcoffset() == timedelta(0)
    assert tws.order_by_ref(result["client_order_id"]).perm_id == int(result["order_id"])

    records = journal(tmp_path)
    assert records[0]["event"] == "session" and records[0]["client_id"] == 1
    order = [r for r in records if r["event"] == "order"][-1]
    fill = [r for r in records if r["event"] == "fill"][-1]
    assert order["order_id"] == result["order_id"] and order["status"] == "filled"
    assert fill["fill_id"] == execution.exec_id and fill["fee"] == pytest.approx(execution.commission)
    assert fill["order_id"] == result["order_id"] and fill["qty"] == 10


def test_sell_fills_at_the_bid(connect, tws):
    broker = connect()
    broker.submit_order("AAPL", "BUY", 10)
    sold = broker.submit_order("AAPL", "SELL", 4)
    assert sold["status"] == "filled" and sold["fill_price"] == pytest.approx(tws.quotes[AAPL].bid)
    assert broker.get_positions() == {"AAPL": 6.0}


def test_limit_order_rests_then_is_cancelled(connect, tws, tmp_path):
    broker = connect()
    placed = broker.submit_order("AAPL", "BUY", 5, "limit", 150.0, client_order_id="lim-1", time_in_force="day")

    assert placed["status"] == "new" and placed["filled_qty"] == 0 and placed["fill_price"] is None
    assert placed["limit_price"] == 150.0 and placed["time_in_force"] == "day"
    at_ib = tws.order_by_ref("lim-1")
    assert (at_ib.status, at_ib.tif, at_ib.lmt, at_ib.order_type) == ("Submitted", "DAY", 150.0, "LMT")
    assert [o["order_id"] for o in broker.get_open_orders()] == [placed["order_id"]]

    cancelled = broker.cancel_order(placed["order_id"])
    assert cancelled["status"] == "cancelled" and at_ib.status == "Cancelled"
    assert broker.get_open_orders() == []
    assert broker.get_order(placed["order_id"])["status"] == "cancelled"

    # cancelling an order that is already final returns it; nothing goes to IB
    again = broker.cancel_order(placed["order_id"])
    assert again["status"] == "cancelled"
    assert len(tws.requests(4)) == 1
    cancels = [r for r in journal(tmp_path) if r["event"] == "cancel"]
    assert [c["order_id"] for c in cancels] == [placed["order_id"]]


def test_marketable_limit_order_fills(connect, tws):
    broker = connect()
    result = broker.submit_order("AAPL", "BUY", 3, "limit", 191.0)
    assert result["status"] == "filled" and result["fill_price"] == pytest.approx(tws.quotes[AAPL].ask)


def test_stop_order_rests_presubmitted_until_triggered(connect, tws):
    broker = connect()
    stop = broker.submit_order("AAPL", "SELL", 2, "stop", stop_price=180.0)
    assert stop["status"] == "new" and stop["stop_price"] == 180.0 and stop["limit_price"] is None
    assert tws.order_by_perm(stop["order_id"]).status == "PreSubmitted"

    tws.move_market("AAPL", 179.0, 179.1)
    done = eventually(lambda: (r := broker.get_order(stop["order_id"]))["status"] == "filled" and r)
    assert done["fill_price"] == pytest.approx(179.0) and done["filled_qty"] == 2


def test_stop_limit_order_triggers_then_fills_within_its_limit(connect, tws):
    broker = connect()
    order = broker.submit_order("AAPL", "BUY", 2, "stop_limit", 196.0, stop_price=195.0)
    at_ib = tws.order_by_perm(order["order_id"])
    assert (order["status"], at_ib.order_type, at_ib.aux, at_ib.lmt) == ("new", "STP LMT", 195.0, 196.0)
    tws.move_market("AAPL", 195.4, 195.5)
    done = eventually(lambda: (r := broker.get_order(order["order_id"]))["status"] == "filled" and r)
    assert done["fill_price"] == pytest.approx(195.5)


def test_ioc_that_cannot_fill_expires(connect, tws, tmp_path):
    broker = connect()
    result = broker.submit_order("AAPL", "BUY", 5, "limit", 150.0, time_in_force="ioc")
    assert result["status"] == "expired" and result["filled_qty"] == 0
    assert tws.executions == []
    assert [r["order_id"] for r in journal(tmp_path) if r["event"] == "expire"] == [result["order_id"]]


def test_fok_without_enough_liquidity_expires_unfilled(connect, tws):
    tws.max_fill_qty[AAPL] = 4
    broker = connect()
    result = broker.submit_order("AAPL", "BUY", 10, time_in_force="fok")
    assert result["status"] == "expired" and result["filled_qty"] == 0 and tws.executions == []


def test_ioc_partial_fill_expires_the_rest(connect, tws):
    tws.max_fill_qty[AAPL] = 4
    broker = connect()
    result = broker.submit_order("AAPL", "BUY", 10, time_in_force="ioc")
    assert result["status"] == "expired" and result["filled_qty"] == 4
    assert result["fill_price"] == pytest.approx(tws.quotes[AAPL].ask)
    assert broker.get_positions() == {"AAPL": 4.0}


def test_partial_fill_is_reported_and_completes_later(connect, tws):
    tws.max_fill_qty[AAPL] = 4
    broker = connect(order_timeout_s=0.3)
    first = broker.submit_order("AAPL", "BUY", 10)
    assert first["status"] == "partially_filled" and first["filled_qty"] == 4
    assert [o["order_id"] for o in broker.get_open_orders()] == [first["order_id"]]

    tws.max_fill_qty.clear()
    tws.move_market("AAPL", 190.98, 191.02)
    done = eventually(lambda: (r := broker.get_order(first["order_id"]))["status"] == "filled" and r)
    assert done["filled_qty"] == 10
    assert done["fill_price"] == pytest.approx((4 * 190.02 + 6 * 191.02) / 10)
    assert done["fee"] == pytest.approx(sum(e.commission for e in tws.executions))


def test_rejected_order_raises_with_ibs_reason(connect, tws, tmp_path):
    tws.reject_symbols["MSFT"] = "YOUR ORDER IS NOT ACCEPTED. MINIMUM OF 100 SHARES"
    broker = connect()
    with pytest.raises(OrderRejectedError) as info:
        broker.submit_order("MSFT", "BUY", 10, client_order_id="rej-1")
    error = info.value
    assert not isinstance(error, InsufficientFundsError)
    assert error.symbol == "MSFT" and error.code == 201
    assert "MINIMUM OF 100 SHARES" in error.reason and "Order rejected" in error.venue_message
    rejects = [r for r in journal(tmp_path) if r["event"] == "reject"]
    assert len(rejects) == 1 and "MINIMUM OF 100 SHARES" in rejects[0]["reason"]
    assert broker.get_positions() == {} and broker.get_open_orders() == []

    # the same client order id again: refused again, and nothing new is placed
    with pytest.raises(OrderRejectedError):
        broker.submit_order("MSFT", "BUY", 10, client_order_id="rej-1")
    assert len([o for o in tws.orders if o.order_ref == "rej-1"]) == 1


def test_margin_rejection_is_insufficient_funds(connect, tws):
    tws.reject_symbols["AAPL"] = (
        "YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION YOUR EQUITY WITH LOAN VALUE "
        "[1000.00 USD] MUST EXCEED THE INITIAL MARGIN [9500.00 USD]"
    )
    broker = connect()
    with pytest.raises(InsufficientFundsError) as info:
        broker.submit_order("AAPL", "BUY", 100)
    assert info.value.code == 201 and "INITIAL MARGIN" in info.value.reason


def test_informational_error_does_not_reject_a_live_order(connect, tws):
    # ib_async and ib_insync mark an order Cancelled on codes they do not know; IB's word must win
    tws.order_notices["AAPL"] = (10349, "Order TIF was set to DAY based on order preset.")
    broker = connect()
    result = broker.submit_order("AAPL", "BUY", 5, "limit", 150.0)
    assert result["status"] == "new"
    assert [o["order_id"] for o in broker.get_open_orders()] == [result["order_id"]]


def test_error_without_acknowledgement_rejects_without_waiting_for_the_timeout(connect, tws):
    # e.g. fractional shares: IB answers only an error code that ib_async / ib_insync do not know
    tws.order_errors["AAPL"] = (10243, "Fractional-sized order cannot be placed via API.")
    broker = connect(order_timeout_s=30.0)  # a regression here would make this test slow, not wrong
    with pytest.raises(OrderRejectedError) as info:
        broker.submit_order("AAPL", "BUY", 0.5)
    assert info.value.code == 10243 and "Fractional" in info.value.reason
    assert tws.orders == [] and broker.get_open_orders() == []
    sent_ref = tws.requests(3)[0][26]  # the orderRef IB received: the generated client order id
    with pytest.raises(OrderRejectedError, match="earlier"):  # the same id again: still the rejected order
        broker.submit_order("AAPL", "BUY", 0.5, client_order_id=sent_ref)
    assert len(tws.requests(3)) == 1


def test_unknown_symbol_is_rejected_naming_it(connect, tws):
    broker = connect()
    with pytest.raises(OrderRejectedError) as info:
        broker.submit_order("NOPE", "BUY", 1)
    assert info.value.symbol == "NOPE" and info.value.code == 200 and "NOPE" in str(info.value)
    with pytest.raises(OrderRejectedError) as bad_pair:
        broker.submit_order("ABC/XYZ", "BUY", 1)
    assert "ABC/XYZ" in str(bad_pair.value)
    assert tws.requests(3) == []  # no order reached IB

    with pytest.raises(QuoteUnavailableError) as quote:
        broker.get_quote("NOPE")
    assert str(quote.value).startswith("No quote for NOPE")


def test_invalid_input_is_refused_before_anything_is_sent(connect, tws):
    broker = connect()
    for args, kwargs in [
        (("AAPL", "HOLD", 1), {}),
        (("AAPL", "BUY", -1), {}),
        (("AAPL", "BUY", float("nan")), {}),
        (("AAPL", "BUY", 1, "limit"), {}),
        (("AAPL", "BUY", 1, "stop"), {}),
        (("AAPL", "BUY", 1), {"time_in_force": "gtd"}),
        (("AAPL", "BUY", 1), {"client_order_id": "has space"}),
    ]:
        with pytest.raises(OrderRejectedError):
            broker.submit_order(*args, **kwargs)
    assert tws.requests(3) == []


def test_same_client_order_id_returns_the_first_order(connect, tws):
    broker = connect()
    first = broker.submit_order("AAPL", "BUY", 3, client_order_id="rebal-1")
    again = broker.submit_order("AAPL", "BUY", 3, client_order_id="rebal-1")
    assert again["order_id"] == first["order_id"] and again["status"] == "filled"

    # after a dropped connection ...
    tws.drop_connections()
    wait_disconnected(broker)
    assert broker.submit_order("AAPL", "BUY", 3, client_order_id="rebal-1")["order_id"] == first["order_id"]
    # ... and from a new process (a new broker on the same account and journal)
    broker.close()
    restarted = connect()
    assert restarted.submit_order("AAPL", "BUY", 3, client_order_id="rebal-1")["order_id"] == first["order_id"]
    assert len(tws.requests(3)) == 1
    assert restarted.get_positions() == {"AAPL": 3.0}


def test_unacknowledged_order_raises_status_unknown(connect, tws):
    broker = connect(order_timeout_s=0.3)
    tws.ack_orders = False
    with pytest.raises(OrderStatusUnknownError) as info:
        broker.submit_order("AAPL", "BUY", 1, client_order_id="lost-1")
    assert info.value.client_order_id == "lost-1"
    # retrying with the same id never sends a second order while the first one's fate is unknown
    with pytest.raises(OrderStatusUnknownError):
        broker.submit_order("AAPL", "BUY", 1, client_order_id="lost-1")
    assert len(tws.requests(3)) == 1


def test_readonly_refuses_orders_but_reads(connect, tws):
    broker = connect(readonly=True)
    with pytest.raises(OrderRejectedError) as info:
        broker.submit_order("AAPL", "BUY", 1)
    assert "read-only" in str(info.value)
    assert tws.requests(3) == []
    assert broker.get_positions() == {}


def test_orders_refused_while_tws_has_lost_ibs_servers(connect, tws):
    broker = connect()
    tws.ib_connectivity(False)
    eventually(lambda: not broker.unwrap().connection.ib_servers_ok)
    with pytest.raises(BrokerConnectionError) as info:
        broker.submit_order("AAPL", "BUY", 1)
    assert info.value.code == 1100 and tws.requests(3) == []
    tws.ib_connectivity(True)
    eventually(lambda: broker.unwrap().connection.ib_servers_ok)
    assert broker.submit_order("AAPL", "BUY", 1)["status"] == "filled"


def test_risk_limits_guard_ibkr_orders(write_config, connect, tws):
    write_config({"risk": {"max_order_value": 1000.0}})
    broker = connect()
    with pytest.raises(RiskLimitError):
        broker.submit_order("AAPL", "BUY", 10)  # priced from an IB quote: 10 x 190.02
    assert tws.requests(3) == []
    assert broker.submit_order("AAPL", "BUY", 5)["status"] == "filled"


# ---------------------------------------------------------------------------
# cancels
# ---------------------------------------------------------------------------


def test_cancel_after_an_unseen_fill_reports_the_fill(connect, tws, tmp_path):
    broker = connect()
    rest = broker.submit_order("AAPL", "BUY", 5, "limit", 150.0)
    tws.fill_order(rest["order_id"], notify=False)  # filled at IB; the client has not heard yet

    result = broker.cancel_order(rest["order_id"])  # IB answers 10148 "cannot be cancelled, state: Filled"

    assert result["status"] == "filled" and result["filled_qty"] == 5
    assert result["fill_price"] == pytest.approx(150.0)
    assert result["fee"] == pytest.approx(tws.executions[-1].commission)
    assert [r["fill_id"] for r in journal(tmp_path) if r["event"] == "fill"] == [tws.executions[-1].exec_id]
    assert broker.get_order(rest["order_id"])["status"] == "filled"


def test_cancel_of_an_order_ib_no_longer_knows(connect, tws):
    broker = connect()
    rest = broker.submit_order("AAPL", "BUY", 5, "limit", 150.0)
    tws.orders.remove(tws.order_by_perm(rest["order_id"]))
    with pytest.raises(OrderNotFoundError) as info:
        broker.cancel_order(rest["order_id"])
    assert info.value.code == 10147


def test_an_order_of_another_client_id_is_visible_but_only_its_owner_cancels_it(connect, tws):
    owner = connect(client_id=1)
    other = connect(client_id=2)
    rest = owner.submit_order("AAPL", "BUY", 5, "limit", 150.0, client_order_id="mine-1")
    seen = other.get_order(rest["order_id"])  # found at IB by permId (all clients' open orders)
    assert (seen["status"], seen["client_order_id"], seen["limit_price"]) == ("new", "mine-1", 150.0)
    with pytest.raises(BrokerError, match="placed by API client 1"):
        other.cancel_order(rest["order_id"])
    assert tws.requests(4) == []
    assert owner.cancel_order(rest["order_id"])["status"] == "cancelled"


def test_unknown_order_ids(connect, tws):
    broker = connect()
    for bad in ("123456789", "abc", "", None, -5):
        with pytest.raises(OrderNotFoundError):
            broker.get_order(bad)
    with pytest.raises(OrderNotFoundError):
        broker.cancel_order("42")


# ---------------------------------------------------------------------------
# account views
# ---------------------------------------------------------------------------


def test_positions_and_cash(connect, tws):
    tws.set_position("EUR", 20000, 1.08)
    tws.set_position("ESZ6", -2, 6000.0)
    broker = connect()
    broker.submit_order("AAPL", "BUY", 10)
    broker.submit_order("BTC/USD", "BUY", 0.5)

    assert broker.get_positions() == {"AAPL": 10.0, "EUR/USD": 20000.0, "ESZ6": -2.0, "BTC/USD": 0.5}
    assert broker.get_cash() == pytest.approx(tws.cash)
    assert tws.cash < 100_000.0

    funds = connect(cash_tag="AvailableFunds", client_id=7)
    funds.submit_order("AAPL", "BUY", 10, "limit", 100.0)  # a resting buy reserves 1,000 at IB
    values = {(tag, currency): value for tag, value, currency in tws.account_values()}
    assert funds.get_cash() == pytest.approx(float(values[("AvailableFunds", "USD")]))
    assert funds.get_cash() == pytest.approx(tws.cash - 1000.0)


def test_forex_and_crypto_symbols(connect, tws):
    broker = connect()
    fx = broker.submit_order("EUR.USD", "BUY", 20000)
    assert fx["symbol"] == "EUR/USD" and fx["fill_price"] == pytest.approx(tws.quotes[12087792].ask)
    assert tws.executions[-1].order.contract.sec_type == "CASH"
    btc = broker.submit_order("BTC/USD", "SELL", 0.25)
    assert btc["symbol"] == "BTC/USD" and tws.executions[-1].order.contract.sec_type == "CRYPTO"
    assert broker.get_positions() == {"EUR/USD": 20000.0, "BTC/USD": -0.25}


def test_futures_from_the_contracts_table(write_config, connect, tws):
    fut = {"secType": "FUT", "symbol": "ES", "exchange": "CME", "currency": "USD"}
    write_config({"ibkr": {"contracts": {"ESZ6": {**fut, "lastTradeDateOrContractMonth": "202612"}, "ES": fut}}})
    broker = connect()
    result = broker.submit_order("ESZ6", "BUY", 1)
    assert result["symbol"] == "ESZ6" and result["fill_price"] == pytest.approx(6000.25)
    assert tws.executions[-1].order.contract.local_symbol == "ESZ6"
    assert broker.get_positions() == {"ESZ6": 1.0}
    with pytest.raises(OrderRejectedError) as info:  # two expiries match: IB cannot choose for us
        broker.submit_order("ES", "BUY", 1)
    assert "no unique contract" in str(info.value)


def test_contract_objects_and_registered_contracts(connect, tws, ib_lib):
    module = importlib.import_module(ib_lib)
    broker = connect()
    direct = broker.unwrap().submit_order(module.Stock("MSFT", "SMART", "USD"), "BUY", 2)
    assert direct["symbol"] == "MSFT" and direct["status"] == "filled"
    broker.register_contract("berkshire", module.Stock("BRK B", "SMART", "USD"))
    registered = broker.submit_order("BERKSHIRE", "BUY", 1)
    assert registered["symbol"] == "BERKSHIRE" and tws.executions[-1].order.contract.con_id == 72063691
    assert broker.get_positions() == {"MSFT": 2.0, "BERKSHIRE": 1.0}
    assert broker.get_quote("BRK.B")["bid"] == pytest.approx(455.10)


def test_get_fills_since_and_now_use_ib_time(connect, ib_lib):
    clock = ManualClock("2026-01-05T14:30:00+00:00")
    with FakeTWS(clock=clock) as fake:
        broker = connect(fake)
        assert broker.now() == clock()
        first = broker.submit_order("AAPL", "BUY", 2)
        clock.advance(seconds=60)
        second = broker.submit_order("AAPL", "SELL", 1)

        fills = broker.get_fills()
        assert [f["order_id"] for f in fills] == [first["order_id"], second["order_id"]]
        assert [f["timestamp"] for f in fills] == [clock() - timedelta(seconds=60), clock()]
        assert [(f["side"], f["qty"]) for f in fills] == [("BUY", 2.0), ("SELL", 1.0)]
        assert fills[1]["fill_price"] == pytest.approx(189.98) and fills[1]["notional"] == pytest.approx(189.98)
        assert fills[0]["fee"] == pytest.approx(fake.executions[0].commission)
        assert fills[0]["fee_currency"] == "USD" and fills[0]["venue"] == "ibkr"
        assert [f["order_id"] for f in broker.get_fills(since=clock() - timedelta(seconds=1))] == [second["order_id"]]
        assert broker.get_fills(since=clock() + timedelta(seconds=1)) == []
        broker.close()


def test_quote_falls_back_to_delayed_data(connect, tws):
    tws.set_live_subscription("MSFT", False)
    broker = connect()
    quote = broker.get_quote("MSFT")
    assert (quote["bid"], quote["ask"]) == (tws.quotes[MSFT].bid, tws.quotes[MSFT].ask)
    assert quote["bid_size"] == 200 and quote["symbol"] == "MSFT"
    assert [request[2] for request in tws.requests(59)] == ["3"]  # reqMarketDataType(3)
    assert broker.unwrap().market.delayed_symbols == {"MSFT"}
    assert broker.get_quote("AAPL")["bid"] == tws.quotes[AAPL].bid  # subscribed symbols still answer


def test_quote_without_delayed_fallback_reports_354(connect, tws):
    tws.set_live_subscription("MSFT", False)
    broker = connect(delayed_fallback=False)
    with pytest.raises(QuoteUnavailableError) as info:
        broker.get_quote("MSFT")
    assert "354" in str(info.value) and tws.requests(59) == []


# ---------------------------------------------------------------------------
# connection
# ---------------------------------------------------------------------------


def test_dropped_connection_reconnects_and_resyncs_open_orders(connect, tws, tmp_path):
    broker = connect()
    rest = broker.submit_order("AAPL", "BUY", 5, "limit", 150.0, client_order_id="keep-1")
    tws.drop_connections()
    wait_disconnected(broker)

    open_orders = broker.get_open_orders()

    assert tws.connections == 2
    assert [(o["order_id"], o["client_order_id"], o["limit_price"], o["time_in_force"], o["status"])
            for o in open_orders] == [(rest["order_id"], "keep-1", 150.0, "gtc", "new")]
    sessions = [r for r in journal(tmp_path) if r["event"] == "session"]
    assert [s["reconnect"] for s in sessions] == [False, True]
    assert broker.cancel_order(rest["order_id"])["status"] == "cancelled"


def test_fill_while_disconnected_is_found_and_journaled(connect, tws, tmp_path):
    broker = connect()
    rest = broker.submit_order("AAPL", "BUY", 5, "limit", 150.0)
    tws.drop_connections()
    wait_disconnected(broker)
    tws.fill_order(rest["order_id"])  # nobody connected to hear it

    got = broker.get_order(rest["order_id"])

    assert got["status"] == "filled" and got["filled_qty"] == 5 and got["fill_price"] == pytest.approx(150.0)
    assert got["fee"] == pytest.approx(tws.executions[-1].commission)
    fills = [r for r in journal(tmp_path) if r["event"] == "fill"]
    assert [f["fill_id"] for f in fills] == [tws.executions[-1].exec_id]
    assert broker.get_positions() == {"AAPL": 5.0}


def test_calls_fail_clearly_while_tws_is_down_then_recover(connect, tws):
    broker = connect()
    tws.stop_listening()
    tws.drop_connections()
    wait_disconnected(broker)
    with pytest.raises(BrokerConnectionError) as info:
        broker.get_positions()
    assert f"is TWS or IB Gateway running on 127.0.0.1:{tws.port} with API enabled?" in str(info.value)
    tws.start_listening()  # TWS is back after its restart
    assert broker.get_positions() == {}
    assert broker.submit_order("AAPL", "BUY", 1)["status"] == "filled"


def test_nothing_listening_gives_a_clear_connection_error(ib_lib):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(BrokerConnectionError) as info:
        get_broker("ibkr", host="127.0.0.1", port=port, ib_module=ib_lib, **FAST)
    assert f"is TWS or IB Gateway running on 127.0.0.1:{port} with API enabled?" in str(info.value)


def test_busy_client_id_is_retried_with_the_next_one(connect, tws):
    tws.busy_client_ids = {1}
    broker = connect(client_id=1)
    assert broker.client_id == 2 and tws.client_ids == [2]
    second = connect(client_id=2)  # 2 is now taken by the first broker
    assert second.client_id == 3 and sorted(tws.client_ids) == [2, 3]
    assert second.submit_order("AAPL", "BUY", 1)["status"] == "filled"


def test_all_client_ids_busy(connect, tws):
    tws.busy_client_ids = {4, 5}
    with pytest.raises(BrokerConnectionError) as info:
        connect(client_id=4, client_id_retries=1)
    assert info.value.code == 326 and "4..5" in str(info.value)


@pytest.mark.parametrize("port", [7496, 4001])
def test_live_ports_need_allow_live(port):
    with pytest.raises(ConfigError) as info:
        get_broker("ibkr", host="127.0.0.1", port=port)
    assert "allow_live" in str(info.value) and str(port) in str(info.value)


def test_live_port_in_the_config_file_needs_allow_live(write_config, ib_lib):
    write_config({"ibkr": {"port": 4001}})
    with pytest.raises(ConfigError) as info:
        get_broker("ibkr")
    assert "live_trading.ibkr.port 4001" in str(info.value)
    broker = get_broker("ibkr", allow_live=True, connect=False, ib_module=ib_lib)  # the guard lifts
    broker.close()


def test_live_account_is_refused_without_allow_live(ib_lib):
    with FakeTWS(accounts=("U7654321",)) as live:
        with pytest.raises(ConfigError) as info:
            get_broker("ibkr", port=live.port, ib_module=ib_lib, **FAST)
        assert "U7654321" in str(info.value) and "allow_live" in str(info.value)
        broker = get_broker("ibkr", port=live.port, ib_module=ib_lib, allow_live=True, **FAST)
        assert broker.account == "U7654321"
        broker.close()


def test_calls_from_worker_threads_and_inside_an_event_loop(connect, tws):
    broker = connect()
    with ThreadPoolExecutor(4) as pool:
        orders = [pool.submit(broker.submit_order, "AAPL", "BUY", 1) for _ in range(4)]
        quote = pool.submit(broker.get_quote, "MSFT")
        results = [f.result() for f in orders]
        assert quote.result()["bid"] == tws.quotes[MSFT].bid
    assert all(r["status"] == "filled" for r in results) and len({r["order_id"] for r in results}) == 4
    assert broker.get_positions() == {"AAPL": 4.0}

    async def from_a_coroutine():
        return broker.get_positions(), broker.submit_order("AAPL", "SELL", 1)["status"]

    assert asyncio.run(from_a_coroutine()) == ({"AAPL": 4.0}, "filled")

    with ThreadPoolExecutor(1) as pool:  # a broker built inside a worker thread
        other = pool.submit(lambda: connect(client_id=9)).result()
    assert other.get_positions() == {"AAPL": 3.0}


def test_ib_module_from_the_environment(monkeypatch, tws, ib_lib):
    monkeypatch.setenv("LIVE_TRADING_IB_MODULE", ib_lib)
    broker = get_broker("ibkr", port=tws.port, **FAST)
    try:
        assert broker.connection.library == ib_lib
        assert broker.connection.server_version == (178 if ib_lib == "ib_async" else 176)
    finally:
        broker.close()


def test_injected_ib_object_is_used(tws, ib_lib):
    module = importlib.import_module(ib_lib)
    ib = module.IB()
    broker = get_broker("ibkr", port=tws.port, ib=ib, ib_module=ib_lib, **FAST)
    try:
        assert broker.ib is ib
        assert broker.submit_order("AAPL", "BUY", 1)["status"] == "filled"
    finally:
        broker.close()
    assert not ib.isConnected()


def test_a_connected_ib_object_is_refused(ib_lib):
    class Connected:
        def isConnected(self) -> bool:
            return True

    with pytest.raises(ConfigError, match="not connected yet"):
        get_broker("ibkr", ib=Connected(), ib_module=ib_lib, connect=False)


def test_older_server_version_resyncs_orders(ib_lib):
    # server version 176: openOrder / completedOrder carry the faProfile field (177 dropped it)
    with FakeTWS(server_version=176) as old:
        broker = get_broker("ibkr", port=old.port, ib_module=ib_lib, **FAST)
        try:
            rest = broker.submit_order("MSFT", "SELL", 3, "limit", 420.0, client_order_id="old-1")
            filled = broker.submit_order("AAPL", "BUY", 1)
            old.drop_connections()
            wait_disconnected(broker)
            assert [(o["order_id"], o["client_order_id"], o["limit_price"]) for o in broker.get_open_orders()] == [
                (rest["order_id"], "old-1", 420.0)
            ]
            assert broker.get_order(filled["order_id"])["status"] == "filled"
            assert broker.connection.server_version == 176
        finally:
            broker.close()


def test_unknown_setting_is_a_type_error(tws, ib_lib):
    with pytest.raises(TypeError, match="prot"):
        get_broker("ibkr", prot=7497, ib_module=ib_lib)


def test_lazy_connection_and_context_manager(tws, ib_lib):
    from LIVE_TRADING.brokers.ibkr.broker import IBKRBroker

    with IBKRBroker(port=tws.port, ib_module=ib_lib, connect=False, **FAST) as broker:
        assert tws.connections == 0 and "not connected" in repr(broker)
        assert broker.get_positions() == {}
        assert tws.connections == 1 and ", connected" in repr(broker)
    eventually(lambda: tws.client_ids == [])  # the API session was closed
    with pytest.raises(BrokerConnectionError, match="closed"):
        broker.get_positions()


def test_health_reports_connection_and_reconnects(connect, tws):
    broker = connect()
    broker.get_cash()
    h = broker.health()
    assert h["healthy"] and h["venue"] == "ibkr" and h["reconnects"] == 0
    assert h["venue_status"]["connected"] is True and h["venue_status"]["account"]
    tws.drop_connections()
    wait_disconnected(broker)
    h = broker.health()
    assert not h["healthy"] and "not connected to the venue" in h["reasons"]
    broker.get_cash()  # the next call reconnects
    h = broker.health()
    assert h["healthy"] and h["reconnects"] == 1
