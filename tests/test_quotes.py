"""``make_quote`` builds a checked ``Quote`` once; the paper broker takes those as they are and checks the rest."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest

from LIVE_TRADING.brokers.paper import PaperBroker
from LIVE_TRADING.common.exceptions import InvalidQuoteError
from LIVE_TRADING.data.quotes import Quote, QuoteBatch, is_checked, make_quote


def test_make_quote_returns_a_checked_quote_that_is_a_plain_dict_to_everyone_else(clock):
    quote = make_quote(" aapl ", 99.0, 101, 5, 6, clock())
    assert isinstance(quote, dict) and is_checked(quote) and type(quote) is Quote
    assert quote == {"symbol": "AAPL", "bid": 99.0, "ask": 101.0, "bid_size": 5.0, "ask_size": 6.0,
                     "timestamp": clock(), "spread_bps": pytest.approx(200.0)}
    assert not is_checked(dict(quote))  # a copy is an ordinary dict again


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, "x", True, 10**400])
def test_make_quote_refuses_bad_prices(clock, bad):
    with pytest.raises(InvalidQuoteError):
        make_quote("AAPL", bad, 101.0, 1, 1, clock())


def test_apply_quotes_takes_checked_quotes_and_still_checks_plain_dicts(clock, tmp_path):
    broker = PaperBroker(clock=clock, log_dir=tmp_path, fee_bps=0, slippage_bps=0)
    broker.apply_quotes({"AAPL": make_quote("AAPL", 99.0, 101.0, 5, 5, clock())})
    assert broker.get_quote("AAPL")["bid"] == 99.0
    crossed = {"symbol": "MSFT", "bid": 11.0, "ask": 10.0, "timestamp": clock()}
    with pytest.raises(InvalidQuoteError, match="crossed"):
        broker.apply_quotes([make_quote("AAPL", 98.0, 100.0, 5, 5, clock()), crossed])
    assert broker.get_quote("AAPL")["bid"] == 99.0  # nothing applied when one is invalid
    broker.apply_quotes([{"symbol": "msft", "bid": "10", "ask": 10.5, "timestamp": clock()}])
    assert broker.get_quote("MSFT")["ask"] == 10.5
    broker.close()


def _closed_state(broker: PaperBroker) -> dict:
    """What a run can observe of the account (orders and fills with ids left out, positions, cash, held quotes,
    the journal), read before the broker is closed."""
    from LIVE_TRADING.common.journal import iter_records

    records = list(iter_records(broker.account_dir))
    tag = records[0]["tag"]  # the account's id prefix: different in each account

    def strip(record: dict) -> dict:
        text = json.dumps({k: v for k, v in record.items() if k not in ("wall", "settings", "run_id")}, default=str)
        return json.loads(text.replace(tag, "TAG"))

    state = {
        "open": sorted((o["symbol"], o["status"], o["filled_qty"]) for o in broker.get_open_orders()),
        "fills": [(f["symbol"], f["side"], f["qty"], f["fill_price"], f["timestamp"]) for f in broker.get_fills()],
        "positions": broker.get_positions(),
        "cash": broker.get_cash(),
        "equity": broker.get_portfolio_value(),
        "quotes": {s: broker.get_quote(s)["bid"] for s in ("AAPL", "MSFT", "TSLA")},
        "journal": [strip(r) for r in records],
    }
    broker.close()
    return state


def as_batch(quotes: dict[str, Quote]) -> QuoteBatch:
    """The same quotes as a provider's ``QuoteBatch``: plain dicts, with their earliest and latest timestamps."""
    stamps = [q["timestamp"] for q in quotes.values()]
    return QuoteBatch({s: dict(q) for s, q in quotes.items()}, min(stamps), max(stamps))


def _feed(broker: PaperBroker, quotes: list[Quote] | dict[str, Quote], one_at_a_time: bool | str) -> None:
    """Give ``broker`` these quotes in one ``apply_quotes`` call (``"batch"``: as a ``QuoteBatch``), or one
    ``set_quote`` each, in order."""
    if one_at_a_time == "batch":
        assert isinstance(quotes, dict)
        broker.apply_quotes(as_batch(quotes))
        return
    if not one_at_a_time:
        broker.apply_quotes(quotes)
        return
    for q in quotes.values() if isinstance(quotes, dict) else quotes:
        broker.set_quote(q["symbol"], q["bid"], q["ask"], q["bid_size"], q["ask_size"], timestamp=q["timestamp"])


def test_a_batch_of_quotes_does_what_the_same_quotes_one_at_a_time_do(clock, tmp_path):
    """apply_quotes' batch intake (quotes stored without matching when nothing can react) leaves the account
    and its journal exactly as the same quotes set one by one: fills, a triggered stop, an older quote ignored."""
    from datetime import timedelta

    def run(one_at_a_time: bool, where: str) -> dict:
        clock.set(datetime(2026, 1, 5, 15, 0, tzinfo=UTC))
        broker = PaperBroker(clock=clock, log_dir=tmp_path / where, fee_bps=1, slippage_bps=0)
        t0 = clock()

        def feed(quotes: list[Quote]) -> None:
            _feed(broker, quotes, one_at_a_time)

        feed([make_quote(s, p, p + 0.1, 50, 50, t0) for s, p in (("AAPL", 100.0), ("MSFT", 300.0), ("TSLA", 200.0))])
        broker.submit_order("AAPL", "BUY", 10, "limit", 99.0)
        broker.submit_order("TSLA", "BUY", 5, "stop", stop_price=201.0)
        broker.submit_order("MSFT", "BUY", 3)
        clock.advance(seconds=1)
        t1 = clock()
        feed([make_quote("MSFT", 301.0, 301.1, 50, 50, t1),
              make_quote("AAPL", 98.5, 98.6, 4, 4, t1),      # fills 4 of the resting limit (displayed size)
              make_quote("TSLA", 190.0, 190.1, 50, 50, t0 - timedelta(seconds=5))])  # older: ignored
        clock.advance(seconds=1)
        t2 = clock()
        feed([make_quote("TSLA", 201.5, 201.6, 50, 50, t2), make_quote("AAPL", 98.0, 98.1, 50, 50, t2),
              make_quote("MSFT", 290.0, 290.1, 50, 50, t0)])  # older than the held one, no order: ignored too
        return _closed_state(broker)

    batch, single = run(False, "batch"), run(True, "single")
    assert batch == single
    assert batch["positions"] == {"AAPL": 10.0, "MSFT": 3.0, "TSLA": 5.0}
    assert batch["quotes"] == {"AAPL": 98.0, "MSFT": 301.0, "TSLA": 201.5} and not batch["open"]


@pytest.mark.parametrize("as_given", ["dict", "batch"])
@pytest.mark.parametrize("respect_size", [False, True])
def test_a_dict_of_quotes_with_nothing_resting_does_what_the_same_quotes_one_at_a_time_do(clock, tmp_path,
                                                                                       respect_size, as_given):
    """The intake of a provider's ``{symbol: Quote}`` or ``QuoteBatch`` when no order rests (the quotes are only
    stored; a batch none older than the quotes held in one update): the same account as one quote at a time, an
    older quote ignored, and with ``respect_quote_size`` the displayed size of the newest quote prices the next
    market order."""
    from datetime import timedelta

    def run(one_at_a_time: bool | str, where: str) -> dict:
        clock.set(datetime(2026, 1, 5, 15, 0, tzinfo=UTC))
        broker = PaperBroker(clock=clock, log_dir=tmp_path / where, fee_bps=1, slippage_bps=0,
                             respect_quote_size=respect_size)
        t0 = clock()

        def feed(quotes: dict[str, Quote]) -> None:
            _feed(broker, quotes, one_at_a_time)

        feed({s: make_quote(s, p, p + 0.1, 50, 50, t0) for s, p in (("AAPL", 100.0), ("MSFT", 300.0),
                                                                      ("TSLA", 200.0))})
        broker.submit_order("AAPL", "BUY", 30)
        clock.advance(seconds=1)
        t1 = clock()
        feed({"AAPL": make_quote("AAPL", 101.0, 101.1, 20, 20, t1),
              "MSFT": make_quote("MSFT", 250.0, 250.1, 50, 50, t0 - timedelta(seconds=5))})  # older: ignored
        broker.submit_order("AAPL", "BUY", 30)  # 20 displayed: with respect_quote_size, a worse price
        broker.submit_order("MSFT", "BUY", 2)
        clock.advance(seconds=1)
        feed({"TSLA": make_quote("TSLA", 210.0, 210.1, 50, 50, clock())})  # all newer than the held ones
        return _closed_state(broker)

    batch, single = run(False if as_given == "dict" else "batch", "batch"), run(True, "single")
    assert batch == single
    assert batch["quotes"] == {"AAPL": 101.0, "MSFT": 300.0, "TSLA": 210.0}
    assert batch["positions"]["AAPL"] == 60.0
    second_aapl = [f for f in batch["fills"] if f[0] == "AAPL"][1]
    if respect_size:  # bigger than the 20 displayed: filled in full at a worse price than the ask
        assert second_aapl[3] > 101.1
    else:
        assert second_aapl[3] == 101.1


def test_a_quote_batch_is_taken_whole_only_when_none_of_it_is_older_or_from_the_future(clock, tmp_path):
    """A ``QuoteBatch`` is checked once as a whole: one from the future is refused and nothing of it is kept; one
    whose quotes are older than a held quote keeps the newer held quote and takes the others."""
    from datetime import timedelta

    broker = PaperBroker(clock=clock, log_dir=tmp_path, fee_bps=0, slippage_bps=0)
    now = clock()
    broker.set_quote("AAPL", 100.0, 100.1, 5, 5, timestamp=now)
    earlier = now - timedelta(seconds=10)
    broker.apply_quotes(as_batch({"AAPL": make_quote("AAPL", 90.0, 90.1, 5, 5, earlier),
                                  "MSFT": make_quote("MSFT", 300.0, 300.1, 5, 5, earlier)}))
    assert broker.get_quote("AAPL")["bid"] == 100.0  # the held one is newer: kept
    assert broker.get_quote("MSFT")["bid"] == 300.0
    future = now + timedelta(hours=1)
    with pytest.raises(InvalidQuoteError, match="after the broker's clock"):
        broker.apply_quotes(as_batch({"TSLA": make_quote("TSLA", 200.0, 200.1, 5, 5, now),
                                      "MSFT": make_quote("MSFT", 310.0, 310.1, 5, 5, future)}))
    assert broker.get_quote("MSFT")["bid"] == 300.0
    with pytest.raises(Exception, match="TSLA"):
        broker.get_quote("TSLA")  # nothing of the refused batch was taken
    broker.close()


def test_the_sim_provider_gives_a_batch_of_checked_plain_quotes(clock):
    """A batch from the sim provider: plain dicts with ``make_quote``'s keys and the values ``make_quote``
    would give them, stamped at the clock's second, which are the batch's oldest and newest."""
    from LIVE_TRADING.data.sim import SimDataProvider

    provider = SimDataProvider(seed=3, clock=clock)
    symbols = [f"S{i:02d}" for i in range(12)]
    batch = provider.get_multiple_quotes(symbols)
    assert type(batch) is QuoteBatch and list(batch) == symbols
    assert batch.oldest == batch.newest == clock().replace(microsecond=0)
    for sym, quote in batch.items():
        assert type(quote) is dict
        rebuilt = make_quote(sym, quote["bid"], quote["ask"], quote["bid_size"], quote["ask_size"],
                             quote["timestamp"], quote["market_open"])
        assert quote == rebuilt
