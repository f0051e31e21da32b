"""Paper broker order management (issue 14): modify, trailing stops, brackets and OCO — worked numbers,
bad input (typed error, memory and journal untouched), time priority, and restarts in the middle of a
trailing stop's and a bracket's life giving the same results as without the restart."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from LIVE_TRADING.brokers.paper import PaperBroker
from LIVE_TRADING.brokers.paper.verify import verify_account
from LIVE_TRADING.common.exceptions import (
    DuplicateClientOrderIdError,
    InsufficientFundsError,
    OrderNotFoundError,
    OrderRejectedError,
)
from LIVE_TRADING.common.journal import iter_records


@pytest.fixture
def make(clock, tmp_path):
    """A broker without slippage or fees (prices in the tests are exact), quote A 99 / 101."""

    def _make(name: str = "j", **kw):
        args = dict(initial_cash=100_000, slippage_bps=0, fee_bps=0, clock=clock, log_dir=tmp_path / name)
        args.update(kw)
        b = PaperBroker(**args)
        if not kw.get("resume"):
            b.set_quote("A", 99.0, 101.0, 1_000, 1_000)
        return b

    return _make


@pytest.fixture
def b(make):
    return make()


def seq(br) -> int:
    return br.journal.seq


def records(br, event):
    return [r for r in iter_records(br.account_dir) if r["event"] == event]


def untouched(br, call, exc, journal=True):
    """``call()`` raises ``exc`` and changes neither memory nor the journal.

    ``journal=False``: a refusal on the merits of a new order (funds), which the
    paper broker journals as a ``reject`` record (nothing else changes).
    """
    n = seq(br)
    before = (br.get_cash(), br.get_positions(), br.get_open_orders(), br.get_fills())
    with pytest.raises(exc):
        call()
    assert (br.get_cash(), br.get_positions(), br.get_open_orders(), br.get_fills()) == before
    if journal:
        assert seq(br) == n
    else:
        assert [r["event"] for r in iter_records(br.account_dir) if r["seq"] > n] == ["reject"]


def verified(br):
    report = verify_account(br.account_dir)
    assert report["ok"], report["problem"]


# ============================================================ modify
def test_modify_lowering_qty_keeps_time_priority(make):
    b = make(respect_quote_size=True)
    first = b.submit_order("A", "BUY", 10, "limit", 100.0)
    second = b.submit_order("A", "BUY", 10, "limit", 100.0)
    r = b.modify_order(first["order_id"], qty=6)
    assert r["qty"] == 6 and r["order_id"] == first["order_id"] and r["status"] == "new"
    assert records(b, "modify")[-1]["keep_priority"] is True
    b.set_quote("A", 99.0, 100.0, 1_000, 6)  # 6 offered at 100: the first in line takes them
    assert b.get_order(first["order_id"])["status"] == "filled"
    assert b.get_order(second["order_id"])["filled_qty"] == 0
    verified(b)


def test_modify_raising_qty_or_moving_price_loses_time_priority(make):
    b = make(respect_quote_size=True)
    first = b.submit_order("A", "BUY", 10, "limit", 100.0)
    second = b.submit_order("A", "BUY", 10, "limit", 100.0)
    b.modify_order(first["order_id"], qty=12)  # more: to the back of the 100 level
    assert records(b, "modify")[-1]["keep_priority"] is False
    b.set_quote("A", 99.0, 100.0, 1_000, 10)
    assert b.get_order(second["order_id"])["status"] == "filled"
    assert b.get_order(first["order_id"])["filled_qty"] == 0
    third = b.submit_order("A", "BUY", 5, "limit", 99.5)
    b.modify_order(first["order_id"], limit_price=99.5)  # new price: behind the order already at 99.5
    b.set_quote("A", 99.0, 99.5, 1_000, 5)
    assert b.get_order(third["order_id"])["status"] == "filled"
    assert b.get_order(first["order_id"])["filled_qty"] == 0
    verified(b)


def test_modify_partially_filled_keeps_fills_and_recomputes_reservation(make):
    b = make(respect_quote_size=True)
    o = b.submit_order("A", "BUY", 10, "limit", 100.0)
    assert b.get_cash() == pytest.approx(100_000 - 1_000)  # 10 x 100 reserved
    b.set_quote("A", 99.0, 100.0, 1_000, 4)  # 4 fill at 100
    assert b.get_order(o["order_id"])["filled_qty"] == 4
    assert b.get_cash() == pytest.approx(100_000 - 400 - 600)
    r = b.modify_order(o["order_id"], qty=7, limit_price=99.0)
    assert (r["qty"], r["filled_qty"], r["limit_price"], r["status"]) == (7, 4, 99.0, "partially_filled")
    assert b.get_cash() == pytest.approx(100_000 - 400 - 3 * 99.0)  # 3 left x 99 reserved
    assert len(b.get_fills()) == 1
    untouched(b, lambda: b.modify_order(o["order_id"], qty=3), OrderRejectedError)  # below the 4 filled
    r = b.modify_order(o["order_id"], qty=4)  # down to what filled: done
    assert r["status"] == "filled" and b.get_cash() == pytest.approx(100_000 - 400)
    verified(b)


def test_modify_to_marketable_limit_fills_at_once(b):
    o = b.submit_order("A", "BUY", 10, "limit", 95.0)
    n = seq(b)
    r = b.modify_order(o["order_id"], limit_price=102.0)
    assert r["status"] == "filled" and r["fill_price"] == pytest.approx(101.0)  # ask, as a taker
    assert seq(b) == n + 1  # one record: the modify with its fill
    assert b.get_positions() == {"A": 10} and b.get_cash() == pytest.approx(100_000 - 1_010)
    assert [f["order_id"] for f in b.get_fills()] == [o["order_id"]]
    assert b.get_orders()[-1]["status"] == "filled"  # the journal reader sees the modify too
    verified(b)


def test_modify_stop_through_the_market_triggers_at_once(b):
    b.submit_order("A", "BUY", 10)
    o = b.submit_order("A", "SELL", 10, "stop", stop_price=90.0)
    r = b.modify_order(o["order_id"], stop_price=99.5)  # bid 99 <= 99.5
    assert r["status"] == "filled" and r["fill_price"] == pytest.approx(99.0)
    assert b.get_positions() == {}


def test_modify_bad_input_is_a_typed_error_and_changes_nothing(b):
    o = b.submit_order("A", "BUY", 10, "limit", 95.0)
    filled = b.submit_order("A", "BUY", 1)
    untouched(b, lambda: b.modify_order("nope-1", qty=5), OrderNotFoundError)
    untouched(b, lambda: b.modify_order(None, qty=5), OrderNotFoundError)
    untouched(b, lambda: b.modify_order(filled["order_id"], qty=5), OrderRejectedError)
    untouched(b, lambda: b.modify_order(o["order_id"]), OrderRejectedError)  # nothing to change
    for bad in (-1, 0, math.nan, math.inf, 10**400, "x", True):
        untouched(b, lambda bad=bad: b.modify_order(o["order_id"], qty=bad), OrderRejectedError)
    untouched(b, lambda: b.modify_order(o["order_id"], stop_price=90.0), OrderRejectedError)  # a limit has no stop
    untouched(b, lambda: b.modify_order(o["order_id"], qty=10_000), InsufficientFundsError)
    b.cancel_order(o["order_id"])
    with pytest.raises(OrderRejectedError, match="already cancelled"):
        b.modify_order(o["order_id"], qty=5)


def test_modify_survives_restart(make, clock):
    b = make()
    o = b.submit_order("A", "BUY", 10, "limit", 95.0)
    b.modify_order(o["order_id"], qty=8, limit_price=96.0)
    b.close()
    b2 = make(resume=True)
    r = b2.get_order(o["order_id"])
    assert (r["qty"], r["limit_price"]) == (8, 96.0)
    assert b2.get_cash() == pytest.approx(100_000 - 8 * 96.0)


# ============================================================ trailing stops
def test_trailing_sell_amount_follows_bid_up_only_and_triggers(b):
    b.submit_order("A", "BUY", 10)  # at 101
    t = b.submit_order("A", "SELL", 10, "trailing_stop", trail_amount=2.0)
    assert t["trigger_price"] == pytest.approx(97.0) and t["trail_amount"] == 2.0 and t["status"] == "new"
    b.set_quote("A", 100.0, 100.5)
    assert b.get_order(t["order_id"])["trigger_price"] == pytest.approx(98.0)
    n = seq(b)
    b.set_quote("A", 99.5, 100.0)  # bid fell: the trigger stays
    b.set_quote("A", 98.5, 99.0)
    assert b.get_order(t["order_id"])["trigger_price"] == pytest.approx(98.0)
    assert seq(b) == n  # no record for quotes that move nothing
    assert len(records(b, "trail")) == 1
    b.set_quote("A", 97.9, 98.2)  # bid <= 98: triggers, fills at the bid
    r = b.get_order(t["order_id"])
    assert r["status"] == "filled" and r["fill_price"] == pytest.approx(97.9)
    assert b.get_positions() == {}
    verified(b)


def test_trailing_buy_percent_follows_ask_down(b):
    t = b.submit_order("A", "BUY", 10, "trailing_stop", trail_percent=1.0)
    assert t["trigger_price"] == pytest.approx(101.0 * 1.01)
    b.set_quote("A", 99.0, 100.0)
    assert b.get_order(t["order_id"])["trigger_price"] == pytest.approx(101.0)
    b.set_quote("A", 99.5, 100.5)  # ask up, below the trigger: nothing
    assert b.get_order(t["order_id"])["status"] == "new"
    b.set_quote("A", 100.5, 101.2)  # ask >= 101: buys at the ask
    r = b.get_order(t["order_id"])
    assert r["status"] == "filled" and r["fill_price"] == pytest.approx(101.2)


def test_trailing_stop_limit_rests_at_trigger_minus_offset(b):
    b.submit_order("A", "BUY", 10)
    t = b.submit_order("A", "SELL", 10, "trailing_stop", trail_amount=2.0, limit_offset=0.5)
    assert t["limit_offset"] == 0.5 and t["trigger_price"] == pytest.approx(97.0)
    b.set_quote("A", 96.0, 96.5)  # gapped through the trigger 97 and below the limit 96.5: rests
    r = b.get_order(t["order_id"])
    assert r["status"] == "new" and r["limit_price"] == pytest.approx(96.5)
    b.set_quote("A", 96.6, 97.0)  # bid >= 96.5: a maker fill at the bid
    r = b.get_order(t["order_id"])
    assert r["status"] == "filled" and r["fill_price"] == pytest.approx(96.6)
    verified(b)


@pytest.mark.parametrize("kw", [
    dict(trail_amount=-1.0), dict(trail_amount=0), dict(trail_percent=-5), dict(trail_percent=100),
    dict(trail_amount=1.0, trail_percent=1.0), dict(), dict(trail_amount=math.nan),
    dict(trail_amount=1.0, limit_offset=-0.5), dict(trail_amount=1.0, stop_price=90.0),
    dict(trail_amount=1.0, limit_price=90.0),
])
def test_trailing_bad_input(b, kw):
    b.submit_order("A", "BUY", 10)
    untouched(b, lambda: b.submit_order("A", "SELL", 10, "trailing_stop", **kw), OrderRejectedError)


def test_trailing_amount_beyond_the_price_is_refused(b):
    b.submit_order("A", "BUY", 10)
    untouched(b, lambda: b.submit_order("A", "SELL", 10, "trailing_stop", trail_amount=150.0), OrderRejectedError,
              journal=False)


def test_trail_fields_on_other_types_are_refused(b):
    untouched(b, lambda: b.submit_order("A", "BUY", 1, "limit", 90.0, trail_amount=1.0), OrderRejectedError)


def _trail_story(br, clock, restart_after: int | None, make):
    br.submit_order("A", "BUY", 10)
    t = br.submit_order("A", "SELL", 10, "trailing_stop", trail_percent=2.0)
    path = [(100.0, 100.5), (102.0, 102.5), (101.0, 101.5), (104.0, 104.2), (102.5, 103.0), (101.9, 102.0)]
    for i, (bid, ask) in enumerate(path):
        if i == restart_after:
            br.close()
            br = make(resume=True)
        clock.advance(1)
        br.set_quote("A", bid, ask)
    return br, t["order_id"]


def test_trailing_stop_restart_gives_the_same_result(make, clock, tmp_path):
    plain, oid = _trail_story(make("plain"), clock, None, lambda **kw: make("plain", **kw))
    clock.set(clock() - timedelta(seconds=6))
    resumed, oid2 = _trail_story(make("resumed"), clock, 4, lambda **kw: make("resumed", **kw))
    a, c = plain.get_order(oid), resumed.get_order(oid2)
    assert a["status"] == c["status"] == "filled"
    assert a["trigger_price"] == c["trigger_price"] == pytest.approx(104.0 * 0.98)
    assert a["fill_price"] == c["fill_price"] == pytest.approx(101.9)
    assert plain.get_cash() == pytest.approx(resumed.get_cash())
    verified(resumed)


# ============================================================ brackets
def test_market_bracket_life(b):
    br = b.submit_bracket("A", "BUY", 10, take_profit=110.0, stop_loss=95.0)
    p, tp, sl = br["parent"], br["take_profit"], br["stop_loss"]
    assert p["status"] == "filled" and p["fill_price"] == pytest.approx(101.0)
    assert tp["order_list_id"] == sl["order_list_id"] == p["order_list_id"] == br["bracket_id"]
    assert tp["parent_order_id"] == sl["parent_order_id"] == p["order_id"]
    assert (tp["qty"], tp["order_type"], tp["side"], sl["qty"], sl["order_type"]) == (10, "limit", "SELL", 10, "stop")
    # the exits share one reservation: the 10 held are all reserved, nothing else can sell them
    untouched(b, lambda: b.submit_order("A", "SELL", 1, "limit", 120.0), InsufficientFundsError, journal=False)
    b.set_quote("A", 110.0, 110.5)
    assert b.get_order(tp["order_id"])["status"] == "filled"
    assert b.get_order(sl["order_id"])["status"] == "cancelled"
    assert b.get_positions() == {} and b.get_cash() == pytest.approx(100_000 + 90)
    assert b.get_open_orders() == []
    verified(b)


def test_limit_bracket_partial_fills_and_restart(make, clock):
    """Entry fills 4, the stop-loss exits those 4, the entry fills 6 more, the take-profit exits them."""

    def story(name, restart_at):
        br = make(name, respect_quote_size=True)
        res = br.submit_bracket("A", "BUY", 10, entry_type="limit", limit_price=99.0, take_profit=110.0,
                                stop_loss=95.0, client_order_id="brk-1")
        ids = [res["parent"]["order_id"], res["take_profit"]["order_id"], res["stop_loss"]["order_id"]]
        assert res["take_profit"]["qty"] == 0 and res["parent"]["status"] == "new"  # exits wait for the entry
        quotes = [(98.5, 99.0, 100, 4), (94.9, 95.0, 100, 0), (98.5, 99.0, 100, 100), (110.0, 110.2, 100, 100)]
        seen = []
        for i, (bid, ask, bs, asz) in enumerate(quotes):
            if i == restart_at:
                br.close()
                br = make(name, resume=True, respect_quote_size=True)
            clock.advance(1)
            br.set_quote("A", bid, ask, bs, asz)
            seen.append([(o["status"], o["qty"], o["filled_qty"]) for o in map(br.get_order, ids)])
        return br, seen

    t0 = clock()
    plain, seen = story("plain", None)
    assert seen[0] == [("partially_filled", 10, 4), ("new", 4, 0), ("new", 4, 0)]
    assert seen[1] == [("partially_filled", 10, 4), ("new", 0, 0), ("partially_filled", 4, 4)]  # sl sold 4 at 94.9
    assert seen[2] == [("filled", 10, 10), ("new", 6, 0), ("partially_filled", 10, 4)]  # exits grow by 6
    assert seen[3] == [("filled", 10, 10), ("filled", 6, 6), ("cancelled", 4, 4)]
    assert plain.get_positions() == {}
    assert plain.get_cash() == pytest.approx(100_000 - 990 + 4 * 94.9 + 6 * 110.0)
    for restart_at in (1, 2, 3):
        clock.set(t0)
        resumed, seen2 = story(f"r{restart_at}", restart_at)
        assert seen2 == seen
        assert resumed.get_cash() == pytest.approx(plain.get_cash())
        verified(resumed)
    assert [o["status"] for o in plain.get_orders()] == ["filled", "filled", "cancelled"]
    verified(plain)


def test_cancel_parent_cancels_children_and_exit_cancels_other(b):
    br = b.submit_bracket("A", "BUY", 10, entry_type="limit", limit_price=98.0, take_profit=110.0, stop_loss=95.0)
    r = b.cancel_order(br["parent"]["order_id"])
    assert r["status"] == "cancelled"
    assert [b.get_order(br[k]["order_id"])["status"] for k in ("take_profit", "stop_loss")] == ["cancelled"] * 2
    assert b.get_open_orders() == [] and b.get_cash() == pytest.approx(100_000)
    br = b.submit_bracket("A", "BUY", 10, take_profit=110.0, stop_loss=95.0)
    b.cancel_order(br["stop_loss"]["order_id"])
    assert b.get_order(br["take_profit"]["order_id"])["status"] == "cancelled"
    assert b.get_positions() == {"A": 10}
    assert b.submit_order("A", "SELL", 10)["status"] == "filled"  # the position is free again
    verified(b)


def test_bracket_client_order_id_is_idempotent(b):
    kw = dict(entry_type="limit", limit_price=98.0, take_profit=110.0, stop_loss=95.0, client_order_id="b-7")
    first = b.submit_bracket("A", "BUY", 10, **kw)
    assert first["parent"]["client_order_id"] == "b-7-e" and first["take_profit"]["client_order_id"] == "b-7-tp"
    n = seq(b)
    again = b.submit_bracket("A", "BUY", 10, **kw)
    assert again == first and seq(b) == n and len(b.get_open_orders()) == 3
    untouched(b, lambda: b.submit_bracket("A", "BUY", 11, **kw), DuplicateClientOrderIdError)


@pytest.mark.parametrize("kw", [
    dict(take_profit=95.0, stop_loss=90.0, entry_type="limit", limit_price=98.0),  # take-profit below the entry
    dict(take_profit=110.0, stop_loss=99.0, entry_type="limit", limit_price=98.0),  # stop above the entry
    dict(take_profit=90.0, stop_loss=95.0),  # market entry: tp below sl
    dict(take_profit=110.0, stop_loss=-1.0),
    dict(take_profit=110.0, stop_loss=95.0, entry_type="limit"),  # no limit price
    dict(take_profit=110.0, stop_loss=95.0, stop_loss_limit=96.0),  # stop-limit above its stop
])
def test_bracket_bad_input(b, kw):
    untouched(b, lambda: b.submit_bracket("A", "BUY", 10, **kw), OrderRejectedError)


def test_bracket_with_stop_limit_exit_and_short_entry(make):
    b = make(allow_short=True)
    br = b.submit_bracket("A", "SELL", 5, take_profit=90.0, stop_loss=105.0, stop_loss_limit=106.0)
    assert br["parent"]["fill_price"] == pytest.approx(99.0)
    sl = br["stop_loss"]
    assert (sl["side"], sl["order_type"], sl["stop_price"], sl["limit_price"]) == ("BUY", "stop_limit", 105.0, 106.0)
    b.set_quote("A", 105.0, 105.5)  # ask >= 105 triggers; 105.5 <= 106 fills
    assert b.get_order(sl["order_id"])["status"] == "filled"
    assert b.get_order(br["take_profit"]["order_id"])["status"] == "cancelled"
    assert b.get_positions() == {}
    verified(b)


# ============================================================ OCO
def test_oco_partial_fill_reduces_the_other(make):
    b = make(respect_quote_size=True)
    b.submit_order("A", "BUY", 10)
    oco = b.submit_oco("A", "SELL", 10, limit_price=110.0, stop_price=95.0, client_order_id="oco-1")
    lim, stp = oco["limit"], oco["stop"]
    assert lim["order_list_id"] == stp["order_list_id"] == oco["oco_id"]
    assert lim["client_order_id"] == "oco-1-lim" and stp["client_order_id"] == "oco-1-stp"
    assert b.get_cash() == pytest.approx(100_000 - 1_010)  # SELL legs reserve position, not cash
    b.set_quote("A", 110.0, 110.5, 4, 100)  # 4 sold at 110
    assert b.get_order(lim["order_id"])["filled_qty"] == 4
    assert b.get_order(stp["order_id"])["qty"] == 6
    b.set_quote("A", 94.0, 94.5, 100, 100)  # the stop sells the 6 left
    assert b.get_order(stp["order_id"])["status"] == "filled"
    r = b.get_order(lim["order_id"])
    assert (r["status"], r["qty"], r["filled_qty"]) == ("cancelled", 4, 4)
    assert b.get_positions() == {}
    assert b.submit_oco("A", "SELL", 10, limit_price=110.0, stop_price=95.0, client_order_id="oco-1") == {
        "oco_id": oco["oco_id"], "limit": b.get_order(lim["order_id"]), "stop": b.get_order(stp["order_id"])}
    verified(b)


def test_oco_bad_input_and_immediate_legs(b):
    b.submit_order("A", "BUY", 10)
    untouched(b, lambda: b.submit_oco("A", "SELL", 10, limit_price=90.0, stop_price=95.0), OrderRejectedError)
    untouched(b, lambda: b.submit_oco("A", "SELL", 10, limit_price=98.0, stop_price=95.0), OrderRejectedError)
    untouched(b, lambda: b.submit_oco("A", "SELL", 10, limit_price=110.0, stop_price=99.5), OrderRejectedError)
    untouched(b, lambda: b.submit_oco("A", "SELL", 11, limit_price=110.0, stop_price=95.0),
              InsufficientFundsError, journal=False)


def test_oco_cancel_one_cancels_both_and_restart_keeps_links(make):
    b = make()
    b.submit_order("A", "BUY", 10)
    oco = b.submit_oco("A", "SELL", 10, limit_price=110.0, stop_price=95.0)
    b.close()
    b = make(resume=True)
    b.set_quote("A", 99.0, 101.0)
    b.cancel_order(oco["stop"]["order_id"])
    assert b.get_order(oco["limit"]["order_id"])["status"] == "cancelled"
    assert b.get_open_orders() == []
    verified(b)


def test_modify_of_a_leg_price_ok_qty_refused(b):
    br = b.submit_bracket("A", "BUY", 10, take_profit=110.0, stop_loss=95.0)
    untouched(b, lambda: b.modify_order(br["take_profit"]["order_id"], qty=5), OrderRejectedError)
    r = b.modify_order(br["take_profit"]["order_id"], limit_price=108.0)
    assert r["limit_price"] == 108.0
    b.set_quote("A", 108.0, 108.5)
    assert b.get_order(br["stop_loss"]["order_id"])["status"] == "cancelled"
    assert b.get_positions() == {}


def test_replay_without_snapshot_matches_the_live_broker(make, tmp_path):
    """A crash (no closing snapshot) in the middle of a bracket and a trailing stop: replaying the journal
    (read-only, nothing written) gives the live broker's orders, triggers, cash and positions."""
    b = make(respect_quote_size=True)
    b.submit_order("A", "BUY", 10)
    b.submit_order("A", "SELL", 10, "trailing_stop", trail_amount=3.0)
    b.submit_bracket("A", "BUY", 10, entry_type="limit", limit_price=99.0, take_profit=110.0, stop_loss=95.0)
    b.set_quote("A", 100.0, 99.0 + 1.0, 100, 100)  # bid up: trail moves to 97
    b.set_quote("A", 98.5, 99.0, 100, 3)  # entry fills 3: exits of 3
    view = PaperBroker(read_only=True, log_dir=tmp_path / "j", resume=True, slippage_bps=0, fee_bps=0)
    assert view.get_open_orders() == b.get_open_orders()
    assert view.get_cash() == pytest.approx(b.get_cash()) and view.get_positions() == b.get_positions()
    assert [o["qty"] for o in b.get_open_orders()] == [10, 10, 3, 3]
    assert b.get_open_orders()[0]["trigger_price"] == pytest.approx(97.0)


def test_readme_paper_order_management_examples_run(tmp_path):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text[text.index("### Modify, trailing stops"):text.index("## Accounts and the journal")]
    code = "\n".join(re.findall(r"```python\n(.*?)```", section, re.S))
    assert "submit_bracket" in code and "modify_order" in code and "trailing_stop" in code
    exec(compile(code.replace('"/tmp/paper-demo"', repr(str(tmp_path))), "README.md", "exec"), {})


def test_journal_readers_see_fills_of_brackets_and_modifies(b):
    """The report and ``iter_fills`` read fills taken at once inside ``bracket`` and ``modify`` records."""
    from LIVE_TRADING.brokers.paper.recovery import iter_fills
    from LIVE_TRADING.monitoring.report import load_account

    b.submit_bracket("A", "BUY", 10, take_profit=110.0, stop_loss=95.0)  # entry fills in the bracket record
    o = b.submit_order("A", "BUY", 5, "limit", 95.0)
    b.modify_order(o["order_id"], limit_price=101.0)  # fills in the modify record
    b.set_quote("A", 110.0, 110.5)  # take-profit: a fill record with links
    ids = [f["fill_id"] for f in b.get_fills()]
    assert len(ids) == 3
    assert [f["fill_id"] for f in iter_fills(b.account_dir)] == ids
    history = load_account(b.account_dir)
    assert [f["fill_id"] for f in history.fills] == ids
    assert all("links" not in f for f in history.fills)


def test_order_management_through_get_broker_layers(tmp_path, clock):
    """The risk-limit and metrics layers pass trailing stops, modify, brackets and OCOs through."""
    from LIVE_TRADING.brokers.interface import get_broker

    b = get_broker("paper", initial_cash=100_000, slippage_bps=0, fee_bps=0, log_dir=tmp_path / "g", clock=clock)
    b.set_quote("A", 99.0, 101.0)
    b.submit_order("A", "BUY", 10)
    t = b.submit_order("A", "SELL", 10, "trailing_stop", trail_percent=1.0)
    assert t["trigger_price"] == pytest.approx(98.01)
    assert b.modify_order(t["order_id"], qty=5)["qty"] == 5
    br = b.submit_bracket("A", "BUY", 5, take_profit=110.0, stop_loss=95.0)
    assert br["take_profit"]["qty"] == 5
    oco = b.submit_oco("A", "SELL", 5, limit_price=120.0, stop_price=90.0)
    assert oco["limit"]["order_list_id"] == oco["oco_id"]
    assert len(b.get_open_orders()) == 5


def test_trailing_client_order_id_is_idempotent_across_restart(make):
    b = make()
    b.submit_order("A", "BUY", 10)
    t = b.submit_order("A", "SELL", 10, "trailing_stop", trail_amount=2.0, client_order_id="trail-1")
    b.set_quote("A", 100.0, 100.5)  # the trigger moves: the request stays the same
    assert b.submit_order("A", "SELL", 10, "trailing_stop", trail_amount=2.0, client_order_id="trail-1") == \
        b.get_order(t["order_id"])
    b.close()
    b = make(resume=True)
    again = b.submit_order("A", "SELL", 10, "trailing_stop", trail_amount=2.0, client_order_id="trail-1")
    assert again["order_id"] == t["order_id"] and again["trigger_price"] == pytest.approx(98.0)
    untouched(b, lambda: b.submit_order("A", "SELL", 10, "trailing_stop", trail_amount=3.0,
                                        client_order_id="trail-1"), DuplicateClientOrderIdError)


def test_legs_that_left_memory_are_read_back_from_the_journal(make):
    b = make(keep_terminal_orders=1)
    br = b.submit_bracket("A", "BUY", 10, take_profit=110.0, stop_loss=95.0, client_order_id="old-1")
    b.set_quote("A", 110.0, 110.5)  # take-profit fills, stop-loss cancelled
    for _ in range(3):
        b.submit_order("A", "BUY", 1)  # pushes the legs out of memory
    assert br["stop_loss"]["order_id"] not in b._state.orders
    tp, sl = b.get_order(br["take_profit"]["order_id"]), b.get_order(br["stop_loss"]["order_id"])
    assert (tp["status"], tp["filled_qty"], sl["status"]) == ("filled", 10, "cancelled")
    assert sl["order_list_id"] == br["bracket_id"] and sl["parent_order_id"] == br["parent"]["order_id"]
    again = b.submit_bracket("A", "BUY", 10, take_profit=110.0, stop_loss=95.0, client_order_id="old-1")
    assert again["bracket_id"] == br["bracket_id"] and again["stop_loss"]["status"] == "cancelled"


def _random_session(br, rng, steps, restart_at, reopen):
    """Random quotes, brackets, OCOs, trailing stops, modifies and cancels; the same for the same ``rng``.

    At each step in ``restart_at`` the broker is closed and ``reopen()``-ed (``reopen=None``: not),
    then the last quote is set again. Returns the broker and the outcome of every call.
    """
    from LIVE_TRADING.common.exceptions import BrokerError

    mid, outcomes, last = 100.0, [], ("A", 99.0, 101.0, 1_000, 1_000)  # the ``make`` fixture's quote
    for step in range(steps):
        if step in restart_at:  # a restarted broker knows no quote: both runs get the last one again here
            if reopen is not None:
                br.close()
                br = reopen()
            br.set_quote(*last)
        op = rng.random()
        mid = max(50.0, mid + rng.uniform(-2.0, 2.0))
        bid = round(mid - 0.05, 2)
        try:
            if op < 0.45:
                last = ("A", bid, round(mid + 0.05, 2), rng.choice([0, 3, 20]), rng.choice([0, 3, 20]))
                br.set_quote(*last)
                res = None
            elif op < 0.6:
                res = br.submit_bracket("A", "BUY", rng.choice([5, 10]), entry_type="limit",
                                        limit_price=round(mid - 1, 2), take_profit=round(mid + 3, 2),
                                        stop_loss=round(mid - 4, 2))["bracket_id"]
            elif op < 0.7:
                res = br.submit_order("A", "SELL", 3, "trailing_stop", trail_amount=1.5)["order_id"]
            elif op < 0.78:
                res = br.submit_oco("A", "SELL", 2, limit_price=round(mid + 5, 2), stop_price=round(mid - 5, 2))
                res = res["oco_id"]
            elif op < 0.9:
                opens = br.get_open_orders()
                if opens:
                    o = rng.choice(opens)
                    field = "limit_price" if o["limit_price"] is not None else "stop_price"
                    if o["order_type"] == "trailing_stop" or (o["stop_price"] is None and field == "stop_price"):
                        res = br.modify_order(o["order_id"], qty=max(o["filled_qty"], o["qty"] - 1) or 1)["qty"]
                    else:
                        res = br.modify_order(o["order_id"], **{field: round(o[field] * rng.uniform(0.98, 1.02), 2)})
                        res = res["status"]
                else:
                    res = None
            else:
                opens = br.get_open_orders()
                res = br.cancel_order(rng.choice(opens)["order_id"])["status"] if opens else None
        except BrokerError as exc:
            res = type(exc).__name__
        outcomes.append(res)
    return br, outcomes


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_sessions_with_restarts_match_the_uninterrupted_run(make, clock, seed):
    import random

    marks = {17, 40, 41, 77, 100}

    def run(name, restart):
        return _random_session(make(name, respect_quote_size=True), random.Random(seed), 120, marks,
                               (lambda: make(name, resume=True, respect_quote_size=True)) if restart else None)

    t0 = clock()
    plain, out_plain = run("plain", False)
    clock.set(t0)
    resumed, out_resumed = run("resumed", True)

    def norm(br, outcomes):
        """Everything observable, order ids renamed by first appearance (a restart writes records: ids shift)."""
        import re

        rows = [sorted(d.items()) for d in br.get_open_orders() + br.get_fills()]  # (key order may differ)
        text = repr([outcomes, rows])
        names: dict[str, str] = {}
        return re.sub(re.escape(br._state.tag) + r"-(\d+)", lambda m: names.setdefault(m.group(1), f"O{len(names)}"),
                      text)

    assert "trailing_stop" in repr(plain.get_orders()) and "-tp" in repr(out_plain + plain.get_orders())
    assert norm(plain, out_plain) == norm(resumed, out_resumed)
    assert plain.get_cash() == pytest.approx(resumed.get_cash())
    assert plain.get_positions() == resumed.get_positions()
    verified(plain)
    verified(resumed)
