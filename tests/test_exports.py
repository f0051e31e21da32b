"""Exports: typed fills/orders DataFrames, every file format round-trips, the CLI's --format/--output/--since."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pandas.testing as pdt
import pytest

from LIVE_TRADING.brokers.guard.base import BrokerWrapper
from LIVE_TRADING.brokers.interface import get_broker
from LIVE_TRADING.brokers.paper import PaperBroker
from LIVE_TRADING.cli import main
from LIVE_TRADING.common.clock import ManualClock
from LIVE_TRADING.common.exceptions import ConfigError
from LIVE_TRADING.monitoring.exports import (
    FILE_FORMATS,
    fills_frame,
    orders_frame,
    read_frame,
    since_filter,
    write_frame,
)

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)

FILL_DTYPES = {
    "timestamp": "datetime64[ns, UTC]", "fill_id": "string", "order_id": "string", "symbol": "string",
    "side": "category", "qty": "float64", "fill_price": "float64", "notional": "float64", "fee": "float64",
    "fee_currency": "string", "venue": "string", "slippage_bps": "float64", "fee_bps": "float64",
    "liquidity": "category",
}
ORDER_DTYPES = {
    "timestamp": "datetime64[ns, UTC]", "order_id": "string", "client_order_id": "string", "symbol": "string",
    "side": "category", "order_type": "category", "time_in_force": "category", "status": "category",
    "qty": "float64", "filled_qty": "float64", "fill_price": "float64", "fee": "float64",
    "limit_price": "float64", "stop_price": "float64", "venue": "string",
}


@pytest.fixture
def broker(tmp_path):
    """A paper account with two fills an hour apart, a resting limit and a cancelled one."""
    clock = ManualClock(T0)
    b = PaperBroker(initial_cash=100_000, slippage_bps=5, fee_bps=1, log_dir=tmp_path / "acct", clock=clock)
    b.set_quote("AAPL", 99.9, 100.1)
    b.submit_order("AAPL", "BUY", 10, client_order_id="first")
    clock.advance(seconds=3600)
    b.set_quote("AAPL", 101.9, 102.1)
    b.submit_order("AAPL", "SELL", 4)
    b.submit_order("AAPL", "BUY", 5, "limit", 90.0)
    cancelled = b.submit_order("AAPL", "BUY", 1, "limit", 80.0)
    b.cancel_order(cancelled["order_id"])
    return b


def test_fills_frame_has_typed_columns(broker):
    frame = broker.fills_frame()
    assert {c: str(t) for c, t in frame.dtypes.items()} == FILL_DTYPES
    assert list(frame["timestamp"]) == [pd.Timestamp(T0), pd.Timestamp(T0 + timedelta(hours=1))]
    assert list(frame["side"]) == ["BUY", "SELL"] and list(frame["side"].cat.categories) == ["BUY", "SELL"]
    fills = broker.get_fills()
    assert list(frame["fill_price"]) == [f["fill_price"] for f in fills]
    assert list(frame["fee"]) == [f["fee"] for f in fills]
    assert list(frame["slippage_bps"]) == pytest.approx([5.0, 5.0])


def test_orders_frame_lists_every_order_with_typed_columns(broker):
    frame = broker.orders_frame()
    assert {c: str(t) for c, t in frame.dtypes.items()} == ORDER_DTYPES
    assert list(frame["status"]) == ["filled", "filled", "new", "cancelled"]
    assert "expired" in frame["status"].cat.categories and "rejected" in frame["status"].cat.categories
    assert list(frame["client_order_id"].isna()) == [False, True, True, True]
    assert frame["fill_price"].isna().tolist() == [False, False, True, True]  # nothing filled: NaN
    assert list(frame["limit_price"])[2:] == [90.0, 80.0]


def test_every_venue_has_the_frames_through_the_guard_wrapper(tmp_path):
    class Bare:  # a venue without frame methods of its own
        def get_fills(self, since=None):
            return [{"order_id": "1", "fill_id": "1-1", "timestamp": T0, "symbol": "BTCUSDT", "side": "BUY",
                     "qty": 0.5, "fill_price": 40_000.0, "notional": 20_000.0, "fee": 0.0005,
                     "fee_currency": "BTC", "venue": "binance"}]

        def get_open_orders(self):
            return [{"order_id": "2", "client_order_id": None, "symbol": "BTCUSDT", "side": "SELL",
                     "order_type": "limit", "qty": 0.1, "filled_qty": 0.0, "status": "new", "fill_price": None,
                     "fee": 0.0, "limit_price": 50_000.0, "stop_price": None, "time_in_force": "gtc",
                     "timestamp": T0, "venue": "binance"}]

    wrapped = BrokerWrapper(Bare())
    fills, orders = wrapped.fills_frame(), wrapped.orders_frame()
    assert {c: str(t) for c, t in fills.dtypes.items()} == FILL_DTYPES
    assert fills["slippage_bps"].isna().all() and fills.loc[0, "fee_currency"] == "BTC"
    assert {c: str(t) for c, t in orders.dtypes.items()} == ORDER_DTYPES and orders.loc[0, "status"] == "new"

    paper = get_broker("paper", log_dir=tmp_path / "p")  # the guard layers of get_broker reach the paper frames
    assert isinstance(paper, BrokerWrapper)
    assert paper.orders_frame().empty and list(paper.fills_frame().columns) == list(FILL_DTYPES)


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_every_format_round_trips_dtypes_and_values(broker, tmp_path, fmt):
    for kind, frame in (("fills", broker.fills_frame()), ("orders", broker.orders_frame())):
        path = write_frame(frame, fmt, tmp_path / f"{kind}.{fmt}")
        back = read_frame(path, fmt, kind)
        pdt.assert_frame_equal(back, frame)  # same dtypes, same values (floats exactly)


def test_files_are_readable_without_our_reader(broker, tmp_path):
    frame = broker.fills_frame()
    write_frame(frame, "csv", tmp_path / "f.csv")
    raw = pd.read_csv(tmp_path / "f.csv")
    assert raw.loc[0, "timestamp"] == "2026-01-05T14:30:00.000000+00:00"
    assert list(raw["fill_price"]) == list(frame["fill_price"])
    write_frame(frame, "json", tmp_path / "f.json")
    records = json.loads((tmp_path / "f.json").read_text())
    assert records[1]["timestamp"] == "2026-01-05T15:30:00+00:00" and records[1]["side"] == "SELL"
    assert [r["qty"] for r in records] == list(frame["qty"])
    write_frame(broker.orders_frame(), "parquet", tmp_path / "o.parquet")
    parquet = pd.read_parquet(tmp_path / "o.parquet")  # pandas metadata keeps categories and the UTC zone
    assert str(parquet["timestamp"].dtype) == "datetime64[ns, UTC]" and str(parquet["status"].dtype) == "category"


def test_since_filter_and_empty_frames(broker, tmp_path):
    later = broker.fills_frame(T0 + timedelta(minutes=30))
    assert list(later["side"]) == ["SELL"]
    assert len(since_filter(broker.orders_frame(), T0 + timedelta(minutes=30))) == 3
    empty = fills_frame([])
    assert len(empty) == 0 and {c: str(t) for c, t in empty.dtypes.items()} == FILL_DTYPES
    for fmt in FILE_FORMATS:
        pdt.assert_frame_equal(read_frame(write_frame(empty, fmt, tmp_path / f"e.{fmt}"), fmt, "fills"), empty)
    pdt.assert_frame_equal(read_frame(write_frame(orders_frame([]), "csv", tmp_path / "o.csv"), "csv", "orders"),
                           orders_frame([]))
    with pytest.raises(ConfigError, match="unknown export format 'xml'"):
        write_frame(empty, "xml", tmp_path / "x.xml")


# -- the command line ---------------------------------------------------------------------
def run_main(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def traded(capsys, write_config):
    # one-shot commands run on the real clock: a market that never closes keeps this the same on any day
    write_config({"paper": {"trading_hours": "always"}})
    for args in (("order", "AAPL", "BUY", "3"), ("order", "MSFT", "BUY", "2"), ("order", "AAPL", "BUY", "1",
                                                                                 "--limit", "1")):
        assert run_main(capsys, *args)[0] == 0
    account = get_broker("paper", resume=True, data_provider="sim")
    yield account
    account.close()


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_cli_exports_round_trip(capsys, tmp_path, traded, fmt):
    fills_file, orders_file = tmp_path / f"fills.{fmt}", tmp_path / f"orders.{fmt}"
    code, out, err = run_main(capsys, "fills", "--format", fmt, "--output", str(fills_file))
    assert code == 0 and out == "" and f"2 fills written to {fills_file}" in err
    pdt.assert_frame_equal(read_frame(fills_file, fmt, "fills"), traded.fills_frame())
    code, _, err = run_main(capsys, "orders", "--all", "--format", fmt, "--output", str(orders_file))
    assert code == 0 and "3 orders written" in err
    pdt.assert_frame_equal(read_frame(orders_file, fmt, "orders"), traded.orders_frame())
    code, _, err = run_main(capsys, "orders", "--format", fmt, "--output", str(orders_file))  # open ones only
    assert code == 0 and "1 orders written" in err
    assert list(read_frame(orders_file, fmt, "orders")["limit_price"]) == [1.0]


def test_cli_csv_and_json_to_stdout_and_since(capsys, traded):
    code, out, _ = run_main(capsys, "fills", "--format", "json")
    assert code == 0 and [(r["symbol"], r["qty"]) for r in json.loads(out)] == [("AAPL", 3.0), ("MSFT", 2.0)]
    code, out, _ = run_main(capsys, "fills", "--format", "csv", "--since", "2000-01-01")
    assert code == 0 and out.splitlines()[0].startswith("timestamp,fill_id,order_id") and len(out.splitlines()) == 3
    code, out, _ = run_main(capsys, "fills", "--format", "csv", "--since", "2999-01-01T00:00:00+00:00")
    assert code == 0 and len(out.splitlines()) == 1  # the header only
    code, out, _ = run_main(capsys, "orders", "--all", "--format", "json", "--since", "2999-01-01")
    assert code == 0 and json.loads(out) == []
    code, out, _ = run_main(capsys, "orders", "--all")
    assert code == 0 and "Orders (3)" in out and "filled" in out and "new" in out
    code, out, _ = run_main(capsys, "orders", "--all", "--since", "2999-01-01")
    assert code == 0 and "No orders since" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("fills", "--format", "xml"), "argument --format: invalid choice: 'xml'"),
        (("orders", "--format", "xlsx"), "argument --format: invalid choice: 'xlsx'"),
        (("fills", "--since", "last tuesday", "--format", "csv"), "--since must be an ISO-8601 date or time"),
        (("orders", "--all", "--since", "soon"), "--since must be an ISO-8601 date or time"),
        (("fills", "--format", "parquet"), "--format parquet writes a binary file: give --output FILE"),
        (("fills", "--output", "x.csv"), "--output needs --format csv, json or parquet"),
        (("fills", "--format", "csv", "--output", "no/such/dir/x.csv"), "--output: directory 'no/such/dir'"),
    ],
)
def test_cli_bad_export_input_is_exit_2_with_one_line(capsys, args, message):
    code, out, err = run_main(capsys, *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err
