"""PaperBroker foundation: market orders, validation, idempotency, journal, resume, threads."""

from __future__ import annotations

import json
import os
import threading
from datetime import timedelta

import pytest

from LIVE_TRADING.brokers import Broker, PaperBroker, get_broker
from LIVE_TRADING.common.exceptions import (
    BrokerError,
    ConfigError,
    InsufficientFundsError,
    InvalidQuoteError,
    OrderNotFoundError,
    OrderRejectedError,
    QuoteUnavailableError,
)
from LIVE_TRADING.common.journal import iter_records, list_segments


@pytest.fixture
def broker(clock, tmp_path):
    b = PaperBroker(initial_cash=100_000, slippage_bps=5, fee_bps=1, clock=clock, log_dir=tmp_path / "j")
    b.set_quote("AAPL", bid=150.0, ask=150.10)
    return b


def snapshot(b):
    return (b.get_cash(), b.get_positions(), b.get_fills(), b.get_open_orders(), b.get_portfolio_value())


def test_is_a_broker(broker):
    assert isinstance(broker, Broker)
    assert isinstance(get_broker("paper"), Broker)


def test_buy_fill_price_fee_and_cash_worked_numbers(broker, clock):
    r = broker.submit_order("aapl", "buy", 100)
    # ask 150.10 * (1 + 5bp) = 150.175050; notional 15017.505; fee 1bp = 1.5017505
    assert r["status"] == "filled" and r["symbol"] == "AAPL" and r["side"] == "BUY"
    assert r["fill_price"] == pytest.approx(150.17505)
    assert r["fee"] == pytest.approx(1.5017505)
    assert r["filled_qty"] == 100 and r["venue"] == "paper" and r["timestamp"] == clock()
    assert broker.get_cash() == pytest.approx(100_000 - 15017.505 - 1.5017505)
    fill = broker.get_fills()[0]
    assert fill["notional"] == pytest.approx(15017.505)
    assert fill["slippage_bps"] == pytest.approx(5.0)
    assert fill["fee_bps"] == pytest.approx(1.0)
    assert fill["fee_currency"] == "USD"


def test_sell_fill_price(broker):
    broker.submit_order("AAPL", "BUY", 100)
    r = broker.submit_order("AAPL", "SELL", 100)
    assert r["fill_price"] == pytest.approx(150.0 * (1 - 5e-4))
    assert broker.get_positions() == {}


def test_portfolio_value_marks_at_mid(broker):
    broker.submit_order("AAPL", "BUY", 100)
    cash = broker.get_cash()
    assert broker.get_portfolio_value() == pytest.approx(cash + 100 * 150.05)


BAD_ORDERS = [
    ({"side": "HOLD"}, "Invalid side"),
    ({"side": None}, "Invalid side"),
    ({"side": ["BUY"]}, "Invalid side"),
    ({"qty": [1]}, r"\[1\]"),
    ({"order_type": ["market"]}, "Invalid order type"),
    ({"time_in_force": {}}, "Invalid time in force"),
    ({"qty": float("nan")}, "nan"),
    ({"qty": float("inf")}, "inf"),
    ({"qty": 0}, "Invalid quantity: 0"),
    ({"qty": -5}, "Invalid quantity: -5"),
    ({"qty": "ten"}, "'ten'"),
    ({"qty": None}, "None"),
    ({"qty": True}, "True"),
    ({"symbol": ""}, "Invalid symbol"),
    ({"symbol": "   "}, "Invalid symbol"),
    ({"symbol": None}, "Invalid symbol"),
    ({"symbol": 123}, "Invalid symbol"),
    ({"order_type": "iceberg"}, "Invalid order type"),
    ({"order_type": "limit"}, "needs a limit_price"),
    ({"order_type": "limit", "limit_price": float("nan")}, "Invalid limit price"),
    ({"order_type": "limit", "limit_price": -1}, "Invalid limit price"),
    ({"order_type": "stop"}, "needs a stop_price"),
    ({"order_type": "stop", "stop_price": 0}, "Invalid stop price"),
    ({"limit_price": 150.0}, "takes no limit_price"),
    ({"time_in_force": "forever"}, "Invalid time in force"),
    ({"client_order_id": "has space"}, "Invalid client_order_id"),
    ({"client_order_id": "x" * 37}, "Invalid client_order_id"),
    ({"client_order_id": 42}, "Invalid client_order_id"),
]


@pytest.mark.parametrize(("override", "match"), BAD_ORDERS)
def test_bad_input_rejected_with_state_untouched(broker, override, match):
    broker.submit_order("AAPL", "BUY", 10)
    before = snapshot(broker)
    args = {"symbol": "AAPL", "side": "BUY", "qty": 10, "order_type": "market", "limit_price": None}
    args.update(override)
    with pytest.raises(OrderRejectedError, match=match):
        broker.submit_order(args.pop("symbol"), args.pop("side"), args.pop("qty"), args.pop("order_type"),
                            args.pop("limit_price"), **args)
    assert snapshot(broker) == before


def test_rejections_leave_state_untouched_and_are_journaled(broker):
    broker.submit_order("AAPL", "BUY", 10)
    before = snapshot(broker)
    with pytest.raises(InsufficientFundsError):
        broker.submit_order("AAPL", "BUY", 10_000)
    with pytest.raises(InsufficientFundsError, match="Insufficient position"):
        broker.submit_order("AAPL", "SELL", 11)
    with pytest.raises(QuoteUnavailableError, match=r"^No quote"):
        broker.submit_order("MSFT", "BUY", 1)
    assert snapshot(broker) == before
    rejects = [r for r in iter_records(broker.journal.log_dir) if r["event"] == "reject"]
    assert [r["error"] for r in rejects] == ["InsufficientFundsError", "InsufficientFundsError",
                                             "QuoteUnavailableError"]


def test_rejected_error_keeps_symbol_and_reason(broker):
    with pytest.raises(OrderRejectedError) as err:
        broker.submit_order("AAPL", "SIDEWAYS", 1)
    assert err.value.symbol == "AAPL" and "Invalid side" in err.value.reason


@pytest.mark.parametrize(
    ("bid", "ask", "sizes", "match"),
    [
        (float("nan"), 1.0, (1, 1), "not finite"),
        (1.0, float("inf"), (1, 1), "not finite"),
        (0.0, 1.0, (1, 1), "must be > 0"),
        (-1.0, 1.0, (1, 1), "must be > 0"),
        (101.0, 100.0, (1, 1), "crossed"),
        (100.0, 101.0, (-1, 1), "sizes must be >= 0"),
        ("abc", 101.0, (1, 1), "not a number"),
    ],
)
def test_set_quote_rejects_bad_quotes(broker, bid, ask, sizes, match):
    before = broker.get_quote("AAPL")
    with pytest.raises(InvalidQuoteError, match=match):
        broker.set_quote("AAPL", bid, ask, *sizes)
    with pytest.raises(ValueError):
        broker.set_quote("AAPL", bid, ask, *sizes)
    assert broker.get_quote("AAPL") == before


def test_zero_slippage_and_fees_honoured(clock):
    b = PaperBroker(initial_cash=1000, slippage_bps=0, fee_bps=0, clock=clock)
    b.set_quote("X", 9.9, 10.0)
    r = b.submit_order("X", "BUY", 10)
    assert r["fill_price"] == 10.0 and r["fee"] == 0.0 and b.get_cash() == 900.0


def test_client_order_id_idempotent(broker):
    first = broker.submit_order("AAPL", "BUY", 10, client_order_id="abc-1")
    again = broker.submit_order("AAPL", "BUY", 10, client_order_id="abc-1")
    assert again == first
    assert len(broker.get_fills()) == 1 and broker.get_positions() == {"AAPL": 10}
    assert first["client_order_id"] == "abc-1"


def test_rejected_client_order_id_can_be_retried(broker):
    with pytest.raises(InsufficientFundsError):
        broker.submit_order("AAPL", "BUY", 10_000, client_order_id="retry-me")
    r = broker.submit_order("AAPL", "BUY", 10, client_order_id="retry-me")
    assert r["status"] == "filled"


def test_order_ids_unique_over_100k_orders(clock, tmp_path):
    b = PaperBroker(initial_cash=1e12, clock=clock, log_dir=tmp_path)
    b.set_quote("A", 10, 10.01, 1e9, 1e9)
    ids = set()
    for i in range(100_000):
        ids.add(b.submit_order("A", "BUY" if i % 2 == 0 else "SELL", 1)["order_id"])
    assert len(ids) == 100_000
    b.close()
    # ... and across runs sharing a journal
    b2 = PaperBroker(initial_cash=1e12, clock=clock, log_dir=tmp_path)
    b2.set_quote("A", 10, 10.01)
    assert b2.submit_order("A", "BUY", 1)["order_id"] not in ids


def test_get_fills_since(broker, clock):
    broker.submit_order("AAPL", "BUY", 1)
    clock.advance(seconds=10)
    broker.set_quote("AAPL", 150, 150.1)
    t = clock()
    broker.submit_order("AAPL", "BUY", 2)
    clock.advance(seconds=10)
    broker.set_quote("AAPL", 150, 150.1)
    broker.submit_order("AAPL", "BUY", 3)
    assert [f["qty"] for f in broker.get_fills(since=t)] == [2, 3]
    assert [f["qty"] for f in broker.get_fills(since=t + timedelta(seconds=1))] == [3]
    with pytest.raises(ValueError, match="timezone-aware"):
        broker.get_fills(since=t.replace(tzinfo=None))


def test_get_fills_returns_copies(broker):
    broker.submit_order("AAPL", "BUY", 1)
    broker.get_fills()[0]["qty"] = 999
    assert broker.get_fills()[0]["qty"] == 1


def test_now_uses_injected_clock(broker, clock):
    assert broker.now() == clock()
    clock.advance(seconds=5)
    assert broker.now() == clock()


def test_reset_returns_to_constructor_cash(clock, tmp_path, write_config):
    write_config({"paper": {"initial_cash": 5}})
    b = PaperBroker(initial_cash=50_000, clock=clock)
    b.set_quote("A", 10, 10)
    b.submit_order("A", "BUY", 10)
    b.reset()
    assert b.get_cash() == 50_000 and b.get_positions() == {} and b.get_fills() == []
    b.reset(initial_cash=0)
    assert b.get_cash() == 0
    with pytest.raises(ConfigError, match="initial_cash"):
        b.reset(initial_cash=float("nan"))
    assert b.get_cash() == 0


def test_cancel_unknown_order_raises(broker):
    with pytest.raises(OrderNotFoundError):
        broker.cancel_order("nope")
    with pytest.raises(OrderNotFoundError):
        broker.get_order("nope")


def test_cancel_filled_order_returns_final_status(broker):
    r = broker.submit_order("AAPL", "BUY", 1)
    before = snapshot(broker)
    assert broker.cancel_order(r["order_id"])["status"] == "filled"
    assert snapshot(broker) == before


# -- journal -----------------------------------------------------------------
def test_journal_round_trip(broker):
    r = broker.submit_order("AAPL", "BUY", 5, client_order_id="c1")
    records = list(iter_records(broker.journal.log_dir))
    events = [x["event"] for x in records]
    assert events == ["open", "session", "order"]  # a market order and its fill: ONE record
    assert [x["seq"] for x in records] == [1, 2, 3]
    order = records[-1]
    assert order["order"]["order_id"] == r["order_id"] and order["status"] == "filled"
    assert order["order"]["client_order_id"] == "c1" and "limit_price" not in order["order"]  # compact
    (fill,) = order["fills"]  # compact: order id, symbol, side and time come from the order record
    assert fill["fill_id"] == f"{r['order_id']}-f1" and fill["qty"] == 5
    assert fill["fill_price"] == pytest.approx(r["fill_price"])
    assert order["ts"].endswith("+00:00")
    assert len(list(iter_records(broker.journal.log_dir, broker.run_id))) == 3  # all of this run
    assert broker.get_fills()[0]["timestamp"].isoformat() == order["ts"]


def test_journal_written_before_return_and_file_kept_open(broker):
    broker.submit_order("AAPL", "BUY", 1)
    path = broker.journal.path
    n = len(path.read_text().splitlines())
    broker.submit_order("AAPL", "BUY", 1)
    assert len(path.read_text().splitlines()) == n + 1  # visible to another reader immediately


def test_journal_failure_raises_and_state_not_advanced(broker, monkeypatch):
    broker.submit_order("AAPL", "BUY", 1)
    before = snapshot(broker)

    def fail(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", fail)
    with pytest.raises(BrokerError, match="Journal write"):
        broker.submit_order("AAPL", "BUY", 1)
    assert snapshot(broker) == before
    monkeypatch.undo()
    r = broker.submit_order("AAPL", "BUY", 1)  # the broker keeps working once the disk does
    assert r["status"] == "filled"


def test_resume_rebuilds_state_and_continues_run(clock, tmp_path):
    b = PaperBroker(initial_cash=10_000, slippage_bps=0, fee_bps=10, clock=clock, log_dir=tmp_path)
    b.set_quote("A", 10, 10)
    b.set_quote("B", 20, 20)
    b.submit_order("A", "BUY", 100)
    b.submit_order("B", "BUY", 50, client_order_id="keep")
    b.submit_order("A", "SELL", 40)
    state = (b.get_cash(), b.get_positions(), b.get_fills(), b.get_position_details())
    ids = [f["order_id"] for f in b.get_fills()]
    b.close()

    r = PaperBroker(resume=True, clock=clock, log_dir=tmp_path)
    assert r.run_id == b.run_id
    assert (r.get_cash(), r.get_positions(), r.get_fills()) == state[:3]
    assert r.get_position_details()["A"]["realized_pnl"] == state[3]["A"]["realized_pnl"]
    # idempotency survives the restart
    assert r.submit_order("B", "BUY", 50, client_order_id="keep")["order_id"] == ids[1]
    r.set_quote("A", 10, 10)
    new = r.submit_order("A", "BUY", 1)
    assert new["order_id"] not in ids
    r.close()
    # and the continued run resumes again with everything
    r2 = PaperBroker(resume=True, clock=clock, log_dir=tmp_path)
    assert r2.get_positions() == {"A": 61, "B": 50}
    assert len(r2.get_fills()) == 4


def test_resume_moves_torn_last_line_aside(clock, tmp_path, caplog):
    b = PaperBroker(initial_cash=1000, slippage_bps=0, fee_bps=0, clock=clock, log_dir=tmp_path)
    b.set_quote("A", 10, 10)
    b.submit_order("A", "BUY", 10)
    b.close()
    path = list_segments(tmp_path / "default")[-1][1]
    torn = b'{"seq":9,"event":"fill","order_id":"x","qty":5'
    with open(path, "ab") as fh:
        fh.write(torn)  # crash mid-write
    r = PaperBroker(resume=True, clock=clock, log_dir=tmp_path)
    assert r.get_positions() == {"A": 10} and r.get_cash() == 900
    assert "torn" in caplog.text
    assert path.with_suffix(".torn").read_bytes() == torn and not path.read_bytes().endswith(torn)
    r.set_quote("A", 10, 10)
    r.submit_order("A", "SELL", 5)
    r.close()
    # the record written after the torn line is intact
    r2 = PaperBroker(resume=True, clock=clock, log_dir=tmp_path)
    assert r2.get_positions() == {"A": 5}


def test_resume_with_empty_dir_starts_fresh(clock, tmp_path):
    b = PaperBroker(resume=True, initial_cash=123, clock=clock, log_dir=tmp_path / "new")
    assert b.get_cash() == 123


def test_reset_starts_a_new_run(clock, tmp_path):
    b = PaperBroker(initial_cash=1000, clock=clock, log_dir=tmp_path)
    b.set_quote("A", 10, 10)
    b.submit_order("A", "BUY", 10)
    old = b.run_id
    b.reset()
    assert b.run_id != old
    b.close()
    r = PaperBroker(resume=True, clock=clock, log_dir=tmp_path)
    assert r.get_positions() == {} and r.get_cash() == 1000


def test_journal_lines_are_strict_json(broker):
    broker.submit_order("AAPL", "BUY", 3)
    for line in broker.journal.path.read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"non-standard constant {c}"))


# -- threads -----------------------------------------------------------------
def test_concurrent_submits_keep_cash_and_positions_consistent(clock, tmp_path):
    b = PaperBroker(initial_cash=1_000_000, slippage_bps=0, fee_bps=0, clock=clock, log_dir=tmp_path)
    b.set_quote("A", 10, 10)
    n_threads, per = 8, 250
    errors = []

    def worker(k):
        try:
            for i in range(per):
                b.submit_order("A", "BUY", 1, client_order_id=f"t{k}-{i}")
                if i % 2:
                    b.submit_order("A", "SELL", 1)
        except Exception as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    buys, sells = n_threads * per, n_threads * per // 2
    assert b.get_positions() == {"A": buys - sells}
    assert b.get_cash() == pytest.approx(1_000_000 - 10 * (buys - sells))
    assert len(b.get_fills()) == buys + sells
    assert len({f["order_id"] for f in b.get_fills()}) == buys + sells
    b.close()
    r = PaperBroker(resume=True, clock=clock, log_dir=tmp_path)
    assert r.get_positions() == {"A": buys - sells}
