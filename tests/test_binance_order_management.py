"""Issue 14 on Binance, end to end through real requests against the loopback stand-in.

Trailing stops (trailingDelta), modify (amend keepPriority / cancelReplace and its
partial failures), OCO and bracket order lists, duplicate client ids, and a
restart in the middle of a bracket's life.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from fakes.binance_server import FakeBinance
from fakes.binance_support import Sleeper, make_broker

from LIVE_TRADING.common.exceptions import (
    DuplicateClientOrderIdError,
    OrderNotFoundError,
    OrderRejectedError,
)
from LIVE_TRADING.common.journal import iter_records

MUTATING = {"POST", "PUT", "DELETE"}


@pytest.fixture
def sleeper(clock):
    return Sleeper(clock)


@pytest.fixture
def fake(clock):
    with FakeBinance(clock=clock, taker_rate="0", maker_rate="0") as server:
        server.set_balance("BTC", "1")
        yield server


@pytest.fixture
def broker(fake, clock, sleeper):
    b = make_broker(fake, clock, sleeper)
    yield b
    b.unwrap().close()


def mutations(fake):
    return [(r["method"], r["path"]) for r in fake.requests if r["method"] in MUTATING]


def journal(broker, event=None):
    return [r for r in iter_records(broker.unwrap().config.log_dir) if event is None or r["event"] == event]


# -- trailing stops ----------------------------------------------------------------------


def test_percent_trailing_stop_is_a_stop_loss_with_trailing_delta_and_triggers_behind_the_peak(fake, broker):
    order = broker.submit_order("BTCUSDT", "SELL", 0.01, "trailing_stop", trail_percent=2.5)
    sent = fake.calls("POST", "/api/v3/order")[-1]["params"]
    assert (sent["type"], sent["trailingDelta"]) == ("STOP_LOSS", "250") and "stopPrice" not in sent
    assert (order["order_type"], order["trail_percent"], order["status"]) == ("trailing_stop", 2.5, "new")
    fake.set_book("BTCUSDT", "52000.00", "52010.00")  # peak 52005: trigger 50704.875
    fake.set_book("BTCUSDT", "50800.00", "50810.00")
    assert broker.get_order(order["order_id"])["status"] == "new"
    fake.set_book("BTCUSDT", "50600.00", "50610.00")
    done = broker.get_order(order["order_id"])
    assert (done["status"], done["filled_qty"], done["fill_price"]) == ("filled", 0.01, 50600.0)


def test_trailing_stop_limit_holds_its_limit_at_the_initial_trigger_minus_offset(fake, broker):
    order = broker.submit_order("BTCUSDT", "SELL", 0.01, "trailing_stop", trail_percent=1, limit_offset=10)
    sent = fake.calls("POST", "/api/v3/order")[-1]["params"]
    assert (sent["type"], sent["trailingDelta"], sent["price"]) == ("STOP_LOSS_LIMIT", "100", "49490")
    assert order["limit_price"] == 49490.0 and order["order_type"] == "trailing_stop"


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"trail_amount": 100}, "percentage only"),
        ({"trail_percent": -1}, "trail_percent"),
        ({"trail_percent": 1, "trail_amount": 5}, "exactly one"),
        ({}, "exactly one"),
        ({"trail_percent": 0.015}, "whole number of basis points"),
        ({"trail_percent": float("nan")}, "trail_percent"),
        ({"trail_percent": 1, "time_in_force": "fok"}, "limit orders only"),
        ({"trail_percent": 1, "time_in_force": "day"}, "'day' does not exist"),
    ],
)
def test_bad_trailing_input_is_refused_before_anything_is_sent(fake, broker, kw, match):
    with pytest.raises(OrderRejectedError, match=match):
        broker.submit_order("BTCUSDT", "SELL", 0.01, "trailing_stop", **kw)
    assert mutations(fake) == [] and fake.orders == {}


# -- modify ----------------------------------------------------------------------------------


def test_quantity_decrease_amends_in_place_keeping_the_order_id(fake, broker):
    order = broker.submit_order("BTCUSDT", "BUY", 0.05, "limit", 49000, client_order_id="amend-1")
    usdt_locked = fake.balance("USDT")[1]
    out = broker.modify_order(order["order_id"], qty=0.02)
    assert (out["order_id"], out["qty"], out["client_order_id"], out["status"]) == (
        order["order_id"], 0.02, "amend-1", "new")
    assert mutations(fake)[-1] == ("PUT", "/api/v3/order/amend/keepPriority")
    assert fake.balance("USDT")[1] == usdt_locked * Decimal("0.4")
    assert broker.get_order(order["order_id"])["qty"] == 0.02
    assert journal(broker, "order")[-1]["modified"] == "amend_keep_priority"


def test_price_change_cancel_replaces_under_a_derived_client_id(fake, broker):
    order = broker.submit_order("BTCUSDT", "BUY", 0.02, "limit", 49000, client_order_id="cr-1")
    new = broker.modify_order(order["order_id"], limit_price=49500)
    sent = fake.calls("POST", "/api/v3/order/cancelReplace")[-1]["params"]
    assert (sent["cancelReplaceMode"], sent["newClientOrderId"], sent["price"]) == ("STOP_ON_FAILURE", "cr-1-r1",
                                                                                    "49500")
    assert new["order_id"] != order["order_id"] and (new["limit_price"], new["qty"]) == (49500.0, 0.02)
    assert broker.get_order(order["order_id"])["status"] == "cancelled"
    again = broker.modify_order(new["order_id"], limit_price=49600, qty=0.03)
    assert again["client_order_id"] == "cr-1-r2" and again["qty"] == 0.03
    assert [o["order_id"] for o in broker.get_open_orders()] == [again["order_id"]]
    assert journal(broker, "order")[-1]["replaces"] == new["order_id"]


def test_replacing_a_partly_filled_order_keeps_its_fills_and_places_the_rest(fake, broker):
    order = broker.submit_order("BTCUSDT", "BUY", 0.02, "limit", 49000)
    fake.set_book("BTCUSDT", "48990.00", "49000.00", ask_qty="0.005")
    part = broker.get_order(order["order_id"])
    assert (part["status"], part["filled_qty"]) == ("partially_filled", 0.005)
    new = broker.modify_order(order["order_id"], limit_price=48500, qty=0.03)
    assert new["qty"] == pytest.approx(0.025)  # 0.03 in all, 0.005 already bought
    old = broker.get_order(order["order_id"])
    assert (old["status"], old["filled_qty"]) == ("cancelled", 0.005)


def test_modify_refuses_filled_unknown_and_below_filled_without_sending(fake, broker):
    filled = broker.submit_order("BTCUSDT", "BUY", 0.01)
    resting = broker.submit_order("BTCUSDT", "BUY", 0.02, "limit", 49000)
    fake.set_book("BTCUSDT", "48990.00", "49000.00", ask_qty="0.01")
    before = mutations(fake)
    with pytest.raises(OrderRejectedError, match="already filled"):
        broker.modify_order(filled["order_id"], qty=0.005)
    with pytest.raises(OrderNotFoundError):
        broker.modify_order("BTCUSDT:987654", qty=1)
    with pytest.raises(OrderNotFoundError):
        broker.modify_order(12345, qty=1)
    with pytest.raises(OrderRejectedError, match=r"below the 0\.01 already filled"):
        broker.modify_order(resting["order_id"], qty=0.005)
    with pytest.raises(OrderRejectedError, match="no stop price"):
        broker.modify_order(resting["order_id"], stop_price=48000)
    with pytest.raises(OrderRejectedError, match="at least one"):
        broker.modify_order(resting["order_id"])
    assert mutations(fake) == before
    assert broker.get_order(resting["order_id"])["qty"] == 0.02


def test_moving_a_stop_through_the_market_is_refused_before_the_cancel(fake, broker):
    stop = broker.submit_order("BTCUSDT", "SELL", 0.01, "stop", stop_price=49000)
    moved = broker.modify_order(stop["order_id"], stop_price=49500)
    assert moved["stop_price"] == 49500.0 and broker.get_order(stop["order_id"])["status"] == "cancelled"
    before = mutations(fake)
    with pytest.raises(OrderRejectedError, match="wrong side of the market"):
        broker.modify_order(moved["order_id"], stop_price=50500)  # above the market: a SELL stop would fire
    assert mutations(fake) == before and broker.get_order(moved["order_id"])["status"] == "new"


def test_cancel_replace_that_cannot_cancel_changes_nothing(fake, broker):
    order = broker.submit_order("BTCUSDT", "BUY", 0.02, "limit", 49000)
    fake.inject("POST", "/api/v3/order/cancelReplace", "status", status=400, code=-2022,
                msg="Order cancel-replace failed.",
                data={"cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
                      "cancelResponse": {"code": -2011, "msg": "Unknown order sent."}, "newOrderResponse": None})
    with pytest.raises(OrderRejectedError, match="could not cancel") as info:
        broker.modify_order(order["order_id"], limit_price=49500)
    assert info.value.code == -2011 and info.value.venue_message == "Unknown order sent."
    assert broker.get_order(order["order_id"])["status"] == "new" and len(fake.orders) == 1


def test_cancel_replace_whose_new_order_is_refused_reports_the_original_cancelled(fake, broker):
    order = broker.submit_order("BTCUSDT", "BUY", 0.1, "limit", 49000)  # locks 4,900 of 10,000 USDT
    with pytest.raises(OrderRejectedError, match="was cancelled but Binance refused its replacement") as info:
        broker.modify_order(order["order_id"], qty=0.3)  # 14,700 USDT: more than the account has
    assert info.value.code == -2010 and "insufficient balance" in info.value.venue_message
    assert broker.get_order(order["order_id"])["status"] == "cancelled"
    assert journal(broker, "cancel")[-1]["order_id"] == order["order_id"]
    assert fake.balance("USDT") == (Decimal("10000"), Decimal("0"))


# -- duplicate client ids ------------------------------------------------------------------


def test_reused_client_order_id_with_other_parameters_is_refused(fake, broker):
    first = broker.submit_order("BTCUSDT", "BUY", 0.01, "limit", 49000, client_order_id="dup-1")
    assert broker.submit_order("BTCUSDT", "BUY", 0.01, "limit", 49000, client_order_id="dup-1") == first
    for kw in ({"qty": 0.02}, {"side": "SELL"}, {"price": 48000}):
        args = {"symbol": "BTCUSDT", "side": "BUY", "qty": 0.01, "price": 49000} | kw
        with pytest.raises(DuplicateClientOrderIdError) as info:
            broker.submit_order(args["symbol"], args["side"], args["qty"], "limit", args["price"],
                                client_order_id="dup-1")
        assert info.value.existing_order_id == first["order_id"]
    assert len(fake.calls("POST", "/api/v3/order")) == 1


# -- OCO ---------------------------------------------------------------------------------------


def test_sell_oco_places_one_list_and_the_limit_fill_expires_the_stop(fake, broker):
    oco = broker.submit_oco("BTC/USDT", "SELL", 0.01, limit_price=51000, stop_price=49000, client_order_id="oco-1")
    sent = fake.calls("POST", "/api/v3/orderList/oco")[-1]["params"]
    assert (sent["aboveType"], sent["abovePrice"], sent["belowType"], sent["belowStopPrice"]) == (
        "LIMIT_MAKER", "51000", "STOP_LOSS", "49000")
    assert sent["listClientOrderId"] == "oco-1"
    limit, stop = oco["limit"], oco["stop"]
    assert oco["oco_id"].startswith("BTCUSDT:list-") and limit["order_list_id"] == stop["order_list_id"] == oco["oco_id"]
    assert (limit["order_type"], limit["limit_price"], stop["order_type"], stop["stop_price"]) == (
        "limit", 51000.0, "stop", 49000.0)
    fake.set_book("BTCUSDT", "51000.00", "51010.00")
    assert broker.get_order(limit["order_id"])["status"] == "filled"
    assert broker.get_order(stop["order_id"])["status"] == "expired"
    again = broker.submit_oco("BTCUSDT", "SELL", 0.01, limit_price=51000, stop_price=49000, client_order_id="oco-1")
    assert again["oco_id"] == oco["oco_id"] and len(fake.order_lists) == 1


def test_buy_oco_stop_trigger_expires_the_limit(fake, broker):
    oco = broker.submit_oco("BTCUSDT", "BUY", 0.01, limit_price=49000, stop_price=51000, stop_limit_price=51100)
    sent = fake.calls("POST", "/api/v3/orderList/oco")[-1]["params"]
    assert (sent["belowType"], sent["aboveType"], sent["abovePrice"], sent["aboveTimeInForce"]) == (
        "LIMIT_MAKER", "STOP_LOSS_LIMIT", "51100", "GTC")
    fake.set_book("BTCUSDT", "51040.00", "51050.00")
    assert broker.get_order(oco["limit"]["order_id"])["status"] == "expired"
    assert broker.get_order(oco["stop"]["order_id"])["status"] == "filled"


def test_oco_bad_input_and_venue_refusal(fake, broker):
    with pytest.raises(OrderRejectedError, match="must be above stop_price"):
        broker.submit_oco("BTCUSDT", "SELL", 0.01, limit_price=48000, stop_price=49000)
    with pytest.raises(OrderRejectedError, match="'day' does not exist"):
        broker.submit_oco("BTCUSDT", "SELL", 0.01, limit_price=51000, stop_price=49000, time_in_force="day")
    assert mutations(fake) == []
    with pytest.raises(OrderRejectedError, match="relationship of the prices") as info:
        broker.submit_oco("BTCUSDT", "SELL", 0.01, limit_price=49800, stop_price=49000)  # limit below the market
    assert info.value.code == -2010 and fake.order_lists == {}
    broker.submit_oco("BTCUSDT", "SELL", 0.01, limit_price=51000, stop_price=49000, client_order_id="oco-2")
    with pytest.raises(DuplicateClientOrderIdError):
        broker.submit_oco("BTCUSDT", "SELL", 0.01, limit_price=52000, stop_price=49000, client_order_id="oco-2")
    assert len(fake.order_lists) == 1


# -- brackets ----------------------------------------------------------------------------------


def test_limit_bracket_is_an_otoco_whose_exits_work_once_the_entry_fills(fake, broker):
    b = broker.submit_bracket("BTCUSDT", "BUY", 0.01, entry_type="limit", limit_price=49900, take_profit=52000,
                              stop_loss=48000, client_order_id="br-1")
    sent = fake.calls("POST", "/api/v3/orderList/otoco")[-1]["params"]
    assert (sent["workingType"], sent["workingPrice"], sent["pendingSide"], sent["pendingAboveType"],
            sent["pendingAbovePrice"], sent["pendingBelowType"], sent["pendingBelowStopPrice"]) == (
        "LIMIT", "49900", "SELL", "LIMIT_MAKER", "52000", "STOP_LOSS", "48000")
    parent, tp, sl = b["parent"], b["take_profit"], b["stop_loss"]
    assert parent["status"] == "new" and parent["client_order_id"] == "br-1-e"
    assert tp["parent_order_id"] == sl["parent_order_id"] == parent["order_id"]
    assert {parent["order_list_id"], tp["order_list_id"], sl["order_list_id"]} == {b["bracket_id"]}
    assert fake.orders[("BTCUSDT", int(tp["order_id"].split(":")[1]))].status == "PENDING_NEW"
    fake.set_book("BTCUSDT", "49890.00", "49900.00")  # entry fills; exits go live
    assert broker.get_order(parent["order_id"])["status"] == "filled"
    fake.set_book("BTCUSDT", "52000.00", "52010.00")
    assert broker.get_order(tp["order_id"])["status"] == "filled"
    assert broker.get_order(sl["order_id"])["status"] == "expired"
    assert broker.get_positions().get("BTCUSDT", 0) == pytest.approx(1.0)  # bought 0.01, sold 0.01
    retry = broker.submit_bracket("BTCUSDT", "BUY", 0.01, entry_type="limit", limit_price=49900,
                                  take_profit=52000, stop_loss=48000, client_order_id="br-1")
    assert retry["bracket_id"] == b["bracket_id"] and len(fake.order_lists) == 1


def test_market_bracket_places_an_oco_for_what_filled(fake, broker):
    b = broker.submit_bracket("BTCUSDT", "BUY", 0.01, take_profit=52000, stop_loss=48000, stop_loss_limit=47900)
    assert b["parent"]["status"] == "filled" and b["parent"]["order_type"] == "market"
    assert (b["take_profit"]["qty"], b["stop_loss"]["order_type"], b["stop_loss"]["limit_price"]) == (
        0.01, "stop_limit", 47900.0)
    assert b["take_profit"]["parent_order_id"] == b["parent"]["order_id"]
    fake.set_book("BTCUSDT", "47950.00", "47960.00")  # stop at 48000 triggers, limit 47900 fills
    assert broker.get_order(b["stop_loss"]["order_id"])["status"] == "filled"
    assert broker.get_order(b["take_profit"]["order_id"])["status"] == "expired"


def test_market_bracket_whose_exits_are_refused_can_be_completed_by_retrying(fake, broker):
    fake.inject("POST", "/api/v3/orderList/oco", "status", status=400, code=-2010,
                msg="Account has insufficient balance for requested action.")
    with pytest.raises(OrderRejectedError, match="position is open without them") as info:
        broker.submit_bracket("BTCUSDT", "BUY", 0.01, take_profit=52000, stop_loss=48000, client_order_id="mb-1")
    assert info.value.code == -2010 and fake.order_lists == {}
    b = broker.submit_bracket("BTCUSDT", "BUY", 0.01, take_profit=52000, stop_loss=48000, client_order_id="mb-1")
    assert len(fake.calls("POST", "/api/v3/order")) == 1  # the entry was not bought twice
    assert b["parent"]["client_order_id"] == "mb-1-e" and len(fake.order_lists) == 1
    assert b["stop_loss"]["parent_order_id"] == b["parent"]["order_id"]


def test_bracket_client_id_reused_with_other_prices_is_refused(fake, broker):
    broker.submit_bracket("BTCUSDT", "BUY", 0.01, entry_type="limit", limit_price=49900, take_profit=52000,
                          stop_loss=48000, client_order_id="br-dup")
    with pytest.raises(DuplicateClientOrderIdError):
        broker.submit_bracket("BTCUSDT", "BUY", 0.01, entry_type="limit", limit_price=49800, take_profit=52000,
                              stop_loss=48000, client_order_id="br-dup")
    assert len(fake.order_lists) == 1


def test_bracket_bad_input_sends_nothing(fake, broker):
    with pytest.raises(OrderRejectedError, match="take_profit 48000 must be above"):
        broker.submit_bracket("BTCUSDT", "BUY", 0.01, entry_type="limit", limit_price=49900, take_profit=48000,
                              stop_loss=47000)
    with pytest.raises(OrderRejectedError, match="stop_loss 50000 must be below the entry limit"):
        broker.submit_bracket("BTCUSDT", "BUY", 0.01, entry_type="limit", limit_price=49900, take_profit=52000,
                              stop_loss=50000)
    with pytest.raises(OrderRejectedError, match="take_profit 54000 must be below"):
        broker.submit_bracket("BTCUSDT", "SELL", 0.01, take_profit=54000, stop_loss=53000)
    with pytest.raises(OrderRejectedError, match="either side of the market"):
        broker.submit_bracket("BTCUSDT", "SELL", 0.01, take_profit=52000, stop_loss=53000)  # tp above the market
    with pytest.raises(OrderRejectedError, match="quantity"):
        broker.submit_bracket("BTCUSDT", "BUY", -1, take_profit=52000, stop_loss=48000)
    assert mutations(fake) == [] and fake.orders == {}


def test_restart_in_the_middle_of_a_bracket_sees_its_legs(fake, clock, sleeper):
    first = make_broker(fake, clock, sleeper)
    b = first.submit_bracket("BTCUSDT", "BUY", 0.01, entry_type="limit", limit_price=49900, take_profit=52000,
                             stop_loss=48000, client_order_id="br-restart")
    first.unwrap().close()
    fake.set_book("BTCUSDT", "49890.00", "49900.00")  # the entry fills while no process runs
    second = make_broker(fake, clock, sleeper, reconcile_on_start=True)
    try:
        summary = second.unwrap().last_reconcile
        assert [o["order_id"] for o in summary["orders_resolved"]] == [b["parent"]["order_id"]]
        assert [f["order_id"] for f in summary["fills_added"]] == [b["parent"]["order_id"]]
        tp = second.get_order(b["take_profit"]["order_id"])
        assert (tp["status"], tp["parent_order_id"], tp["order_list_id"]) == (
            "new", b["parent"]["order_id"], b["bracket_id"])
        assert {o["order_id"] for o in second.get_open_orders()} == {b["take_profit"]["order_id"],
                                                                     b["stop_loss"]["order_id"]}
        assert second.reconcile() == {"fills_added": [], "orders_adopted": [], "orders_resolved": [], "unknown": []}
        retry = second.submit_bracket("BTCUSDT", "BUY", 0.01, entry_type="limit", limit_price=49900,
                                      take_profit=52000, stop_loss=48000, client_order_id="br-restart")
        assert retry["bracket_id"] == b["bracket_id"] and len(fake.order_lists) == 1
    finally:
        second.unwrap().close()


# -- reconciliation -----------------------------------------------------------------------------


def test_reconcile_adopts_our_open_orders_and_reports_foreign_ones(fake, clock, sleeper, tmp_path):
    other = make_broker(fake, clock, sleeper, log_dir=str(tmp_path / "elsewhere"))
    ours = other.submit_order("BTCUSDT", "BUY", 0.01, "limit", 49000)  # generated id: our "lt" prefix
    foreign = other.submit_order("BTCUSDT", "BUY", 0.01, "limit", 48000, client_order_id="manual-7")
    other.unwrap().close()
    broker = make_broker(fake, clock, sleeper, reconcile_on_start=True)
    try:
        summary = broker.unwrap().last_reconcile
        assert [o["order_id"] for o in summary["orders_adopted"]] == [ours["order_id"]]
        assert [o["order_id"] for o in summary["unknown"]] == [foreign["order_id"]]
        assert [r["order_id"] for r in journal(broker, "order")] == [ours["order_id"]]
        assert broker.reconcile()["orders_adopted"] == []
    finally:
        broker.unwrap().close()


def test_reconcile_resolves_orders_that_closed_while_down(fake, clock, sleeper):
    first = make_broker(fake, clock, sleeper)
    gone = first.submit_order("BTCUSDT", "BUY", 0.01, "limit", 49000)
    filled = first.submit_order("BTCUSDT", "SELL", 0.01, "limit", 50500)
    first.unwrap().close()
    with fake.lock:
        fake._cancel({"symbol": "BTCUSDT", "orderId": gone["order_id"].split(":")[1]})
    fake.set_book("BTCUSDT", "50500.00", "50510.00")
    broker = make_broker(fake, clock, sleeper, reconcile_on_start=True)
    try:
        summary = broker.unwrap().last_reconcile
        assert {o["order_id"]: o["status"] for o in summary["orders_resolved"]} == {
            gone["order_id"]: "cancelled", filled["order_id"]: "filled"}
        fills = [r for r in journal(broker, "fill") if r["order_id"] == filled["order_id"]]
        assert len(fills) == 1 and fills[0]["qty"] == 0.01
        assert broker.reconcile() == {"fills_added": [], "orders_adopted": [], "orders_resolved": [], "unknown": []}
        broker.get_fills()
        assert len([r for r in journal(broker, "fill") if r["order_id"] == filled["order_id"]]) == 1
    finally:
        broker.unwrap().close()


# -- the guard (risk limits, metrics) and the protocol -------------------------------------------


def test_guard_checks_the_new_calls_and_counts_them(fake, clock, sleeper, write_config):
    from LIVE_TRADING.brokers.interface import LiveBroker
    from LIVE_TRADING.common.exceptions import RiskLimitError

    write_config({"risk": {"max_order_qty": 0.015}})
    broker = make_broker(fake, clock, sleeper)
    try:
        assert isinstance(broker.unwrap(), LiveBroker)
        with pytest.raises(RiskLimitError, match="max_order_qty"):
            broker.submit_bracket("BTCUSDT", "BUY", 0.02, take_profit=52000, stop_loss=48000)
        with pytest.raises(RiskLimitError, match="max_order_qty"):
            broker.submit_oco("BTCUSDT", "SELL", 0.02, limit_price=51000, stop_price=49000)
        order = broker.submit_order("BTCUSDT", "BUY", 0.01, "limit", 49000)
        with pytest.raises(RiskLimitError, match="max_order_qty"):
            broker.modify_order(order["order_id"], qty=0.02)
        assert broker.modify_order(order["order_id"], qty=0.005)["qty"] == 0.005
        assert mutations(fake) == [("POST", "/api/v3/order"), ("PUT", "/api/v3/order/amend/keepPriority")]
        calls = broker.metrics.calls
        assert calls["submit_bracket"] == 1 and calls["submit_oco"] == 1 and calls["modify_order"] == 2
        assert broker.reconcile() == {"fills_added": [], "orders_adopted": [], "orders_resolved": [], "unknown": []}
    finally:
        broker.unwrap().close()
