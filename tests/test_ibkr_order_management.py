"""Issue 14 on IBKR, end to end: the real ib_async / ib_insync client against the fake TWS.

Trailing stops (TRAIL / TRAIL LIMIT), modify (placeOrder with the same orderId),
brackets (parentId, transmit, ocaGroup), OCO (ocaType 1), duplicate client ids,
reconciliation and a restart in the middle of a bracket's life. Every test runs
once with each library.
"""

from __future__ import annotations

import time

import pytest
from fakes.fake_tws import FakeTWS

from LIVE_TRADING.brokers.interface import get_broker
from LIVE_TRADING.common.exceptions import (
    DuplicateClientOrderIdError,
    OrderNotFoundError,
    OrderRejectedError,
)
from LIVE_TRADING.common.journal import iter_records

AAPL = 265598
FAST = {
    "connect_timeout_s": 10.0, "order_timeout_s": 3.0, "request_timeout_s": 5.0, "ack_grace_s": 0.02,
    "commission_wait_s": 0.5, "reconnect_attempts": 2, "reconnect_backoff_s": 0.01,
    "reconnect_backoff_max_s": 0.02, "pacing_backoff_s": 0.01,
}
EMPTY = {"fills_added": [], "orders_adopted": [], "orders_resolved": [], "unknown": []}


@pytest.fixture(params=["ib_async", "ib_insync"])
def ib_lib(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def tws():
    with FakeTWS() as fake:
        yield fake


@pytest.fixture
def connect(tws: FakeTWS, ib_lib: str):
    made = []

    def _connect(**settings):
        broker = get_broker("ibkr", **{**FAST, "host": "127.0.0.1", "port": tws.port, "ib_module": ib_lib,
                                       **settings})
        made.append(broker)
        return broker

    yield _connect
    for broker in made:
        broker.close()


@pytest.fixture
def broker(connect):
    return connect()


def eventually(predicate, timeout: float = 5.0):
    """Poll until ``predicate()`` is truthy: synchronisation with the client's I/O thread, not a timing test."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.01)


def reaches(broker, order_id, status):
    """The order's result once it shows ``status`` (its last result otherwise)."""
    last = {}

    def check():
        last.update(broker.get_order(order_id))
        return last["status"] == status

    eventually(check)
    return last


def placed(tws):
    return tws.requests(3)


def journal(broker, event=None):
    return [r for r in iter_records(broker.unwrap().settings.log_dir) if event is None or r["event"] == event]


# -- trailing stops ------------------------------------------------------------------------


def test_amount_trailing_stop_is_a_trail_order_that_follows_the_bid(tws, broker):
    order = broker.submit_order("AAPL", "SELL", 10, "trailing_stop", trail_amount=1.0)
    fake = tws.order_by_perm(order["order_id"])
    assert (fake.order_type, fake.aux, fake.trail_pct) == ("TRAIL", 1.0, None)
    assert (order["order_type"], order["trail_amount"], order["trail_percent"], order["status"]) == (
        "trailing_stop", 1.0, None, "new")
    tws.move_market("AAPL", 195.0, 195.1)  # trigger follows up to 194.0
    tws.move_market("AAPL", 194.5, 194.6)  # not hit: the trigger never moves down
    assert fake.trail_stop == 194.0 and reaches(broker, order["order_id"], "new")["status"] == "new"
    tws.move_market("AAPL", 193.9, 194.0)
    done = reaches(broker, order["order_id"], "filled")
    assert (done["status"], done["filled_qty"], done["fill_price"]) == ("filled", 10, 193.9)


def test_percent_trailing_stop_limit_sends_trailing_percent_and_offset(tws, broker):
    order = broker.submit_order("AAPL", "BUY", 5, "trailing_stop", trail_percent=2, limit_offset=0.5)
    fake = tws.order_by_perm(order["order_id"])
    assert (fake.order_type, fake.trail_pct, fake.lmt_offset) == ("TRAIL LIMIT", 2.0, 0.5)
    assert (order["trail_percent"], order["limit_offset"]) == (2.0, 0.5)


@pytest.mark.parametrize(("kw", "match"), [
    ({"trail_amount": -1}, "trail_amount"),
    ({"trail_amount": 1, "trail_percent": 1}, "exactly one"),
    ({"trail_percent": 150}, "below 100"),
    ({"trail_amount": 1, "limit_offset": -0.1}, "limit_offset"),
])
def test_bad_trailing_input_sends_nothing(tws, broker, kw, match):
    with pytest.raises(OrderRejectedError, match=match):
        broker.submit_order("AAPL", "SELL", 10, "trailing_stop", **kw)
    assert placed(tws) == []


# -- modify ------------------------------------------------------------------------------------


def test_modify_places_the_same_order_id_with_the_new_fields(tws, broker):
    order = broker.submit_order("AAPL", "BUY", 10, "limit", 180.0, client_order_id="mod-1")
    out = broker.modify_order(order["order_id"], qty=5, limit_price=181.5)
    first, second = placed(tws)
    assert second[1] == first[1]  # same orderId: a modification
    assert (out["order_id"], out["qty"], out["limit_price"], out["status"]) == (order["order_id"], 5, 181.5, "new")
    fake = tws.order_by_perm(order["order_id"])
    assert (fake.qty, fake.lmt) == (5.0, 181.5)
    assert journal(broker, "order")[-1]["modified"] is True
    tws.move_market("AAPL", 181.0, 181.4)
    assert reaches(broker, order["order_id"], "filled")["status"] == "filled"


def test_modify_refused_by_ib_leaves_the_order_as_it_was(tws, broker):
    order = broker.submit_order("AAPL", "BUY", 10, "limit", 180.0)
    tws.refuse_modify[int(order["order_id"])] = "Order size exceeds the limit"
    with pytest.raises(OrderRejectedError, match="refused to modify") as info:
        broker.modify_order(order["order_id"], qty=5000)
    assert info.value.code == 201
    fake = tws.order_by_perm(order["order_id"])
    assert (fake.qty, fake.status) == (10.0, "Submitted")
    tws.refuse_modify.clear()
    assert broker.modify_order(order["order_id"], qty=8)["qty"] == 8


def test_modify_refuses_filled_unknown_and_below_filled_without_sending(tws, broker):
    filled = broker.submit_order("AAPL", "BUY", 10)
    resting = broker.submit_order("AAPL", "BUY", 10, "limit", 180.0)
    tws.fill_order(resting["order_id"], qty=4)
    count = len(placed(tws))
    with pytest.raises(OrderRejectedError, match="already filled"):
        broker.modify_order(filled["order_id"], qty=5)
    with pytest.raises(OrderNotFoundError):
        broker.modify_order("123456789", qty=5)
    with pytest.raises(OrderRejectedError, match="below the 4 already filled"):
        broker.modify_order(resting["order_id"], qty=3)
    with pytest.raises(OrderRejectedError, match="no stop price"):
        broker.modify_order(resting["order_id"], stop_price=170)
    assert len(placed(tws)) == count


# -- duplicate client ids ------------------------------------------------------------------------


def test_reused_client_order_id_with_other_parameters_is_refused(tws, broker):
    first = broker.submit_order("AAPL", "BUY", 10, "limit", 180.0, client_order_id="dup-1")
    assert broker.submit_order("AAPL", "BUY", 10, "limit", 180.0, client_order_id="dup-1")["order_id"] == \
        first["order_id"]
    with pytest.raises(DuplicateClientOrderIdError) as info:
        broker.submit_order("AAPL", "BUY", 11, "limit", 180.0, client_order_id="dup-1")
    assert info.value.existing_order_id == first["order_id"]
    with pytest.raises(DuplicateClientOrderIdError):
        broker.submit_order("MSFT", "BUY", 10, "limit", 180.0, client_order_id="dup-1")
    assert len(placed(tws)) == 1


# -- brackets ------------------------------------------------------------------------------------


def test_bracket_is_sent_as_one_family_and_the_take_profit_closes_it(tws, broker):
    b = broker.submit_bracket("AAPL", "BUY", 10, entry_type="limit", limit_price=189.0, take_profit=195.0,
                              stop_loss=185.0, client_order_id="br-1")
    parent_msg, tp_msg, sl_msg = placed(tws)
    assert [m[27] for m in (parent_msg, tp_msg, sl_msg)] == ["0", "0", "1"]  # transmit only with the last
    assert tp_msg[28] == sl_msg[28] == parent_msg[1]  # parentId
    assert tp_msg[22] == sl_msg[22] == "br-1"  # ocaGroup
    parent, tp, sl = b["parent"], b["take_profit"], b["stop_loss"]
    assert b["bracket_id"] == "br-1" and parent["client_order_id"] == "br-1-e"
    assert tp["parent_order_id"] == sl["parent_order_id"] == parent["order_id"]
    assert (tp["order_type"], tp["side"], sl["order_type"], sl["stop_price"]) == ("limit", "SELL", "stop", 185.0)
    assert tws.order_by_perm(tp["order_id"]).waiting  # exits wait for the entry
    tws.move_market("AAPL", 188.9, 189.0)
    assert reaches(broker, parent["order_id"], "filled")["status"] == "filled"
    tws.move_market("AAPL", 195.0, 195.1)
    assert reaches(broker, tp["order_id"], "filled")["status"] == "filled"
    assert reaches(broker, sl["order_id"], "cancelled")["status"] == "cancelled"
    assert eventually(lambda: broker.get_positions().get("AAPL", 0) == 0)
    again = broker.submit_bracket("AAPL", "BUY", 10, entry_type="limit", limit_price=189.0, take_profit=195.0,
                                  stop_loss=185.0, client_order_id="br-1")
    assert again["parent"]["order_id"] == parent["order_id"] and len(placed(tws)) == 3
    with pytest.raises(DuplicateClientOrderIdError):
        broker.submit_bracket("AAPL", "BUY", 12, entry_type="limit", limit_price=189.0, take_profit=195.0,
                              stop_loss=185.0, client_order_id="br-1")


def test_market_bracket_with_stop_limit_exit(tws, broker):
    b = broker.submit_bracket("AAPL", "BUY", 10, take_profit=195.0, stop_loss=185.0, stop_loss_limit=184.5)
    assert b["parent"]["status"] == "filled" and b["parent"]["fill_price"] == 190.02
    assert (b["stop_loss"]["order_type"], b["stop_loss"]["limit_price"]) == ("stop_limit", 184.5)
    tws.move_market("AAPL", 184.9, 185.0)  # stop at 185 triggers; limit 184.5 fills at the bid
    assert reaches(broker, b["stop_loss"]["order_id"], "filled")["status"] == "filled"
    assert reaches(broker, b["take_profit"]["order_id"], "cancelled")["status"] == "cancelled"


def test_a_refused_leg_leaves_nothing_live(tws, broker):
    tws.refuse_order_types = {"STP"}
    with pytest.raises(OrderRejectedError, match="stop-loss leg") as info:
        broker.submit_bracket("AAPL", "BUY", 10, take_profit=195.0, stop_loss=185.0, client_order_id="br-bad")
    assert info.value.code == 201
    assert tws.executions == [] and not [o for o in tws.orders if o.is_open]


def test_bracket_bad_input_sends_nothing(tws, broker):
    with pytest.raises(OrderRejectedError, match="take_profit 180 must be above"):
        broker.submit_bracket("AAPL", "BUY", 10, take_profit=180.0, stop_loss=185.0)
    with pytest.raises(OrderRejectedError, match="must be above the entry limit"):
        broker.submit_bracket("AAPL", "BUY", 10, entry_type="limit", limit_price=189.0, take_profit=188.0,
                              stop_loss=185.0)
    with pytest.raises(OrderRejectedError, match="must be below stop_price"):
        broker.submit_oco("AAPL", "BUY", 10, limit_price=195.0, stop_price=185.0)
    assert placed(tws) == []


def test_restart_in_the_middle_of_a_bracket_sees_its_legs(tws, connect):
    first = connect()
    b = first.submit_bracket("AAPL", "BUY", 10, entry_type="limit", limit_price=189.0, take_profit=195.0,
                             stop_loss=185.0, client_order_id="br-restart")
    first.close()
    tws.fill_order(b["parent"]["order_id"])  # the entry fills while no process runs
    second = connect()
    summary = second.unwrap().last_reconcile
    assert [o["order_id"] for o in summary["orders_resolved"]] == [b["parent"]["order_id"]]
    assert [f["order_id"] for f in summary["fills_added"]] == [b["parent"]["order_id"]]
    tp = second.get_order(b["take_profit"]["order_id"])
    assert (tp["status"], tp["parent_order_id"], tp["order_list_id"]) == ("new", b["parent"]["order_id"],
                                                                          "br-restart")
    assert {o["order_id"] for o in second.get_open_orders()} == {b["take_profit"]["order_id"],
                                                                 b["stop_loss"]["order_id"]}
    assert second.reconcile() == EMPTY
    again = second.submit_bracket("AAPL", "BUY", 10, entry_type="limit", limit_price=189.0, take_profit=195.0,
                                  stop_loss=185.0, client_order_id="br-restart")
    assert again["take_profit"]["order_id"] == b["take_profit"]["order_id"] and len(placed(tws)) == 3
    tws.move_market("AAPL", 184.9, 185.0)
    assert reaches(second, b["stop_loss"]["order_id"], "filled")["status"] == "filled"
    assert reaches(second, b["take_profit"]["order_id"], "cancelled")["status"] == "cancelled"


# -- OCO ---------------------------------------------------------------------------------------------


def test_oco_legs_share_a_group_and_one_fill_cancels_the_other(tws, broker):
    oco = broker.submit_oco("AAPL", "SELL", 10, limit_price=195.0, stop_price=185.0, client_order_id="oco-1")
    lim_msg, stp_msg = placed(tws)
    assert lim_msg[22] == stp_msg[22] == "oco-1" and lim_msg[27] == stp_msg[27] == "1"
    assert tws.order_by_perm(oco["stop"]["order_id"]).oca_type == 1
    assert oco["limit"]["order_list_id"] == oco["stop"]["order_list_id"] == "oco-1"
    tws.move_market("AAPL", 195.0, 195.1)
    assert reaches(broker, oco["limit"]["order_id"], "filled")["status"] == "filled"
    assert reaches(broker, oco["stop"]["order_id"], "cancelled")["status"] == "cancelled"


def test_oco_second_leg_refused_cancels_the_first(tws, broker):
    tws.refuse_order_types = {"STP LMT"}
    with pytest.raises(OrderRejectedError, match="stop leg"):
        broker.submit_oco("AAPL", "SELL", 10, limit_price=195.0, stop_price=185.0, stop_limit_price=184.0)
    assert not [o for o in tws.orders if o.is_open]


# -- reconciliation ------------------------------------------------------------------------------------


def test_reconcile_adopts_our_open_orders_and_reports_foreign_ones(tws, connect, tmp_path):
    other = connect(client_id=7, log_dir=str(tmp_path / "elsewhere"))
    ours = other.submit_order("AAPL", "BUY", 10, "limit", 180.0)  # generated id: the "lt" prefix
    foreign = other.submit_order("AAPL", "BUY", 10, "limit", 179.0, client_order_id="manual-1")
    broker = connect()
    summary = broker.unwrap().last_reconcile
    assert [o["order_id"] for o in summary["orders_adopted"]] == [ours["order_id"]]
    assert [o["order_id"] for o in summary["unknown"]] == [foreign["order_id"]]
    assert broker.reconcile()["orders_adopted"] == []


def test_live_broker_protocol_and_reconcile_after_own_orders_changes_nothing(tws, broker):
    from LIVE_TRADING.brokers.interface import LiveBroker

    assert isinstance(broker.unwrap(), LiveBroker)
    broker.submit_order("AAPL", "BUY", 10, "limit", 180.0)
    broker.submit_oco("AAPL", "SELL", 10, limit_price=195.0, stop_price=185.0)
    assert broker.reconcile() == EMPTY
    assert broker.metrics.calls["submit_oco"] == 1 and broker.metrics.calls["reconcile"] == 1


def test_trailing_trigger_is_visible_after_a_restart(tws, connect):
    first = connect()
    order = first.submit_order("AAPL", "SELL", 10, "trailing_stop", trail_percent=1.0, client_order_id="trail-r")
    tws.move_market("AAPL", 200.0, 200.1)  # the trigger follows up to 198.0
    first.close()
    second = connect()
    got = second.get_order(order["order_id"])
    assert (got["order_type"], got["trail_percent"], got["status"]) == ("trailing_stop", 1.0, "new")
    assert got["trigger_price"] == pytest.approx(198.0) == tws.order_by_perm(order["order_id"]).trail_stop
    assert second.unwrap().last_reconcile == EMPTY
