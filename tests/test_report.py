"""The performance report: every figure against a small case worked out by hand.

The case (10 bps fees, no slippage, bid == ask so every fill is at the listed
price; one day between points, D0 = 2025-12-31 00:00 UTC):

    day  prices (AAA, BBB, SPY)   fills                               cash after      equity
    D0   -                        (session, 10,000 cash)              10,000.00       10,000.00
    D1   100, 50, 400             BUY 10 AAA @100  fee 1.00            8,999.00        9,999.00 = 8,999 + 10*100
    D2   110, 50, 404             SELL 4 AAA @110  fee 0.44            9,438.56       10,098.56 = 9,438.56 + 6*110
    D3   105, 40, 396             BUY 20 BBB @40   fee 0.80            8,637.76       10,067.76 = 8,637.76 + 6*105 + 20*40
    D4   120, 45, 408             SELL 6 AAA @120  fee 0.72            9,357.04
                                  SELL 30 BBB @45  fee 1.35 (flip)    10,705.69       10,255.69 = 10,705.69 - 10*45
    D5   115, 60, 412             BUY 10 BBB @60   fee 0.60           10,105.09       10,105.09 (flat)

Round trips (flat to flat):
    AAA long  D1 -> D4: qty 10, entry 100, exit (4*110 + 6*120)/10 = 116, gross 4*10 + 6*20 = 160,
              fees 1 + 0.44 + 0.72 = 2.16, pnl 157.84, return 157.84 / 1000
    BBB long  D3 -> D4: qty 20, entry 40, exit 45, gross 20*5 = 100, fees 0.80 + 1.35*20/30 = 1.70, pnl 98.30
    BBB short D4 -> D5: qty 10, entry 45, exit 60, gross 10*(45-60) = -150, fees 1.35*10/30 + 0.60 = 1.05,
              pnl -151.05, return -151.05 / 450
Buy and hold (5,000 in each of AAA and BBB at D1's prices: 50 AAA, 100 BBB):
    D0 10,000 (cash)  D1 10,000  D2 50*110+100*50 = 10,500  D3 50*105+100*40 = 9,250
    D4 50*120+100*45 = 10,500  D5 50*115+100*60 = 11,750
SPY (25 shares at 400): 10,000  10,000  10,100  9,900  10,200  10,300
"""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

import LIVE_TRADING
from LIVE_TRADING.brokers.paper import PaperBroker
from LIVE_TRADING.common.clock import ManualClock
from LIVE_TRADING.common.exceptions import ConfigError, DataProviderError
from LIVE_TRADING.monitoring.performance import monthly_returns, performance
from LIVE_TRADING.monitoring.report import load_account, prices_from_provider, report
from LIVE_TRADING.monitoring.trades import replay_fills, slippage_cost
from LIVE_TRADING.pipeline.results import RunResult, max_drawdown

D = [datetime(2025, 12, 31, tzinfo=UTC) + timedelta(days=i) for i in range(6)]
PRICES = pd.DataFrame(
    {"AAA": [100.0, 110, 105, 120, 115], "BBB": [50.0, 50, 40, 45, 60], "SPY": [400.0, 404, 396, 408, 412]},
    index=pd.DatetimeIndex(D[1:]),
)
EQUITY = [10_000.0, 9_999.0, 10_098.56, 10_067.76, 10_255.69, 10_105.09]
BUY_AND_HOLD = [10_000.0, 10_000.0, 10_500.0, 9_250.0, 10_500.0, 11_750.0]
SPY = [10_000.0, 10_000.0, 10_100.0, 9_900.0, 10_200.0, 10_300.0]
TRADES = [  # (day, side, symbol, qty)
    (1, "BUY", "AAA", 10), (2, "SELL", "AAA", 4), (3, "BUY", "BBB", 20),
    (4, "SELL", "AAA", 6), (4, "SELL", "BBB", 30), (5, "BUY", "BBB", 10),
]


def traded_broker(log_dir) -> PaperBroker:
    clock = ManualClock(D[0])
    broker = PaperBroker(initial_cash=10_000, slippage_bps=0, fee_bps=10, allow_short=True, log_dir=log_dir,
                         clock=clock, resume=False)
    for day in range(1, 6):
        clock.set(D[day])
        for sym in ("AAA", "BBB"):
            p = float(PRICES.loc[D[day], sym])
            broker.set_quote(sym, p, p)
        for d, side, sym, qty in TRADES:
            if d == day:
                broker.submit_order(sym, side, qty)
    return broker


@pytest.fixture
def account(tmp_path):
    broker = traded_broker(tmp_path / "acct")
    yield broker
    broker.close() if hasattr(broker, "close") else None


def stats(values, ppy=365.25):
    r = [b / a - 1 for a, b in itertools.pairwise(values)]
    mean, sd = statistics.fmean(r), statistics.stdev(r)
    down = math.sqrt(statistics.fmean([min(x, 0.0) ** 2 for x in r]))
    return mean / sd * math.sqrt(ppy), mean / down * math.sqrt(ppy), sd * math.sqrt(ppy)


def check_strategy_figures(rep):
    p = rep.performance
    assert list(rep.equity["equity"]) == pytest.approx(EQUITY)
    assert p.initial_equity == 10_000 and p.final_equity == pytest.approx(10_105.09)
    assert p.total_return == pytest.approx(0.010509)
    cagr = 1.010509 ** (365.25 / 5) - 1  # 5 days of 365.25
    assert p.cagr == pytest.approx(cagr)
    sharpe, sortino, vol = stats(EQUITY)  # returns 9999/10000-1, 10098.56/9999-1, ... one per day
    assert p.periods_per_year == pytest.approx(365.25)
    assert (p.sharpe, p.sortino, p.volatility) == pytest.approx((sharpe, sortino, vol))
    assert p.max_drawdown == pytest.approx(150.6 / 10_255.69)  # peak D4 10,255.69 -> D5 10,105.09
    assert p.max_drawdown_duration == timedelta(days=1) and p.max_drawdown_recovered is False
    assert p.calmar == pytest.approx(cagr / (150.6 / 10_255.69))

    assert rep.round_trips == 3
    assert rep.win_rate == pytest.approx(2 / 3)
    assert rep.profit_factor == pytest.approx((157.84 + 98.30) / 151.05)
    assert rep.avg_win == pytest.approx((157.84 + 98.30) / 2) and rep.avg_loss == pytest.approx(-151.05)
    assert rep.fills == 6 and rep.traded_notional == pytest.approx(1000 + 440 + 800 + 720 + 1350 + 600)
    assert rep.turnover == pytest.approx(4910 / statistics.fmean(EQUITY[:5]))  # each point held one day
    assert rep.exposure == pytest.approx(4 / 5)  # flat only from D0 to D1
    gross = [0.0, 1000 / 9_999, 660 / 10_098.56, (630 + 800) / 10_067.76, 450 / 10_255.69]
    assert rep.avg_gross_exposure == pytest.approx(statistics.fmean(gross))
    assert rep.fees == pytest.approx(4.91)
    assert rep.slippage == pytest.approx(0.0)  # paper fills carry slippage_bps = 0 here
    assert rep.realized_pnl == pytest.approx(110.0) and rep.unrealized_pnl == 0.0

    t = rep.trades
    assert list(t["symbol"]) == ["AAA", "BBB", "BBB"] and list(t["direction"]) == ["long", "long", "short"]
    assert list(t["opened_at"]) == [D[1], D[3], D[4]] and list(t["closed_at"]) == [D[4], D[4], D[5]]
    assert list(t["qty"]) == pytest.approx([10, 20, 10])
    assert list(t["entry_price"]) == pytest.approx([100, 40, 45])
    assert list(t["exit_price"]) == pytest.approx([116, 45, 60])
    assert list(t["gross_pnl"]) == pytest.approx([160, 100, -150])
    assert list(t["fees"]) == pytest.approx([2.16, 1.70, 1.05])
    assert list(t["pnl"]) == pytest.approx([157.84, 98.30, -151.05])
    assert list(t["return_pct"]) == pytest.approx([157.84 / 1000, 98.30 / 800, -151.05 / 450])

    s = rep.per_symbol.set_index("symbol")
    assert list(s.index) == ["AAA", "BBB"]
    assert list(s["fills"]) == [3, 3] and list(s["round_trips"]) == [1, 2]
    assert list(s["traded_notional"]) == pytest.approx([2160, 2750])
    assert list(s["realized_pnl"]) == pytest.approx([160, -50]) and list(s["unrealized_pnl"]) == [0, 0]
    assert list(s["fees"]) == pytest.approx([2.16, 2.75]) and list(s["pnl"]) == pytest.approx([157.84, -52.75])
    assert list(s["last_price"]) == pytest.approx([115, 60])
    assert s["pnl"].sum() == pytest.approx(p.final_equity - p.initial_equity)

    m = rep.monthly_returns
    assert m.loc[2025, "Dec"] == 0.0 and m.loc[2026, "Jan"] == pytest.approx(0.010509)
    assert m.loc[2026, "Year"] == pytest.approx(0.010509) and math.isnan(m.loc[2026, "Feb"])


def test_every_figure_from_the_journal_matches_the_hand_computed_case(account, tmp_path):
    rep = report(tmp_path / "acct", benchmark="buy-and-hold", prices=PRICES)
    check_strategy_figures(rep)
    assert rep.start == D[0] and rep.end == D[5] and rep.currency == "USD" and rep.pricing == "prices given"

    b = rep.benchmark
    assert rep.benchmark_name == "buy-and-hold"
    assert list(rep.equity["benchmark"]) == pytest.approx(BUY_AND_HOLD)
    assert b.total_return == pytest.approx(0.175)
    assert b.cagr == pytest.approx(1.175 ** (365.25 / 5) - 1)
    sharpe, sortino, vol = stats(BUY_AND_HOLD)
    assert (b.sharpe, b.sortino, b.volatility) == pytest.approx((sharpe, sortino, vol))
    assert b.max_drawdown == pytest.approx(1250 / 10_500)  # D2 10,500 -> D3 9,250, back at 10,500 on D4
    assert b.max_drawdown_duration == timedelta(days=2) and b.max_drawdown_recovered
    assert b.calmar == pytest.approx(b.cagr / (1250 / 10_500))


def test_the_broker_itself_gives_the_same_report(account):
    check_strategy_figures(report(account, prices=PRICES))
    # and through the guard wrappers of get_broker: the innermost broker's journal is read
    from LIVE_TRADING.brokers.guard.base import BrokerWrapper

    check_strategy_figures(report(BrokerWrapper(account), prices=PRICES))


def test_a_symbol_benchmark(account, tmp_path):
    rep = LIVE_TRADING.report(tmp_path / "acct", benchmark="spy", prices=PRICES)
    assert rep.benchmark_name == "SPY"
    assert list(rep.equity["benchmark"]) == pytest.approx(SPY)
    assert rep.benchmark.total_return == pytest.approx(0.03)
    assert rep.benchmark.max_drawdown == pytest.approx(200 / 10_100)
    with pytest.raises(DataProviderError, match="no prices for the benchmark QQQ"):
        report(tmp_path / "acct", benchmark="QQQ", prices=PRICES)


def test_a_run_result_uses_its_own_equity_curve(account):
    result = RunResult(steps_requested=5, steps_done=5, started_at=D[0], initial_equity=10_000.0,
                       equity_curve=list(zip(D[1:], EQUITY[1:], strict=True)), fills=account.get_fills())
    check_strategy_figures(report(result, prices=PRICES))
    rep = report(result)  # fill prices only: the curve is the run's, trades the same
    assert list(rep.equity["equity"]) == pytest.approx(EQUITY) and rep.round_trips == 3
    assert rep.pricing == "fill prices"


def test_open_position_is_unrealized_and_no_round_trip(tmp_path):
    clock = ManualClock(D[0])
    broker = PaperBroker(initial_cash=1_000, slippage_bps=0, fee_bps=0, log_dir=tmp_path / "a", clock=clock)
    clock.set(D[1])
    broker.set_quote("AAA", 100.0, 100.0)
    broker.submit_order("AAA", "BUY", 5)
    prices = pd.DataFrame({"AAA": [100.0, 90.0, 110.0]}, index=pd.DatetimeIndex(D[1:4]))
    rep = report(tmp_path / "a", prices=prices)
    # 1,000 cash -> 500 cash + 5 AAA: equity 1,000 (D1), 950 (D2), 1,050 (D3)
    assert list(rep.equity["equity"]) == pytest.approx([1_000, 1_000, 950, 1_050])
    assert rep.unrealized_pnl == pytest.approx(50.0) and rep.realized_pnl == 0.0
    assert rep.round_trips == 0 and rep.win_rate is None and rep.profit_factor is None
    assert rep.avg_win is None and rep.avg_loss is None and len(rep.trades) == 0
    assert rep.performance.max_drawdown == pytest.approx(0.05)  # 1,000 -> 950
    assert rep.performance.max_drawdown_recovered and rep.performance.max_drawdown_duration == timedelta(days=2)
    assert rep.exposure == pytest.approx(2 / 3)  # D1..D3 of D0..D3


def test_partial_closes_and_adds_stay_in_one_round_trip():
    t0 = D[0]

    def f(i, side, qty, price, fee=0.0):
        return {"timestamp": t0 + timedelta(hours=i), "symbol": "X", "side": side, "qty": qty,
                "fill_price": price, "fee": fee}

    # BUY 10 @100, BUY 10 @110 (average cost 105), SELL 5 @120 (realizes 5*15 = 75),
    # SELL 15 @100 (realizes 15*-5 = -75): one long trip, gross 0, fees 4
    fills = [f(0, "BUY", 10, 100.0, 1), f(1, "BUY", 10, 110.0, 1), f(2, "SELL", 5, 120.0, 1), f(3, "SELL", 15, 100.0, 1)]
    r = replay_fills(fills, 10_000.0, [t0, t0 + timedelta(hours=3)])
    (trip,) = r.trades.to_dict("records")
    assert trip["gross_pnl"] == pytest.approx(0.0) and trip["fees"] == pytest.approx(4.0)
    assert trip["pnl"] == pytest.approx(-4.0) and trip["qty"] == 20
    assert trip["entry_price"] == pytest.approx(105.0) and trip["exit_price"] == pytest.approx((600 + 1500) / 20)
    assert r.points[-1].equity == pytest.approx(10_000 - 4)


def test_slippage_paid_from_the_fills_slippage_bps(tmp_path):
    clock = ManualClock(D[1])
    broker = PaperBroker(initial_cash=10_000, slippage_bps=10, fee_bps=0, log_dir=tmp_path / "s", clock=clock)
    broker.set_quote("AAA", 100.0, 100.0)
    broker.submit_order("AAA", "BUY", 10)  # at 100 * 1.001 = 100.1: 10 * 0.1 = 1.00 of slippage
    broker.submit_order("AAA", "SELL", 10)  # at 100 * 0.999 = 99.9: another 1.00
    rep = report(broker)
    assert rep.slippage == pytest.approx(2.0)
    assert [slippage_cost(f) for f in broker.get_fills()] == pytest.approx([1.0, 1.0])
    assert slippage_cost({"side": "BUY", "qty": 1, "fill_price": 1.0}) is None  # live venues: unknown


def test_drawdown_and_monthly_returns_helpers():
    times = [D[0] + timedelta(days=31 * i) for i in range(4)]  # Dec 31, Jan 31, Mar 3, Apr 3
    values = [100.0, 110.0, 99.0, 121.0]
    p = performance(times, values)
    assert p.max_drawdown == pytest.approx(max_drawdown(values)[0]) == pytest.approx(0.1)
    assert p.max_drawdown_duration == times[3] - times[1] and p.max_drawdown_recovered
    m = monthly_returns(times, values)
    # Dec: 100/100-1 = 0; Jan: 110/100-1; Feb: none; Mar: 99/110-1; Apr: 121/99-1
    assert m.loc[2026, "Jan"] == pytest.approx(0.10) and math.isnan(m.loc[2026, "Feb"])
    assert m.loc[2026, "Mar"] == pytest.approx(-0.1) and m.loc[2026, "Apr"] == pytest.approx(121 / 99 - 1)
    assert m.loc[2026, "Year"] == pytest.approx(1.21 - 1)
    one = performance([D[0]], [100.0])
    assert one.sharpe is None and one.cagr is None and one.volatility is None and one.calmar is None


END = D[3] + timedelta(hours=6, minutes=2)
LABELS = [D[3] + timedelta(hours=5, minutes=30), D[3] + timedelta(hours=5, minutes=45), D[3] + timedelta(hours=6)]


class Bars:
    """A provider whose bars are labelled by their start, like yfinance's and Binance's."""

    def __init__(self):
        self.asked = []

    def get_historical(self, symbol, period="1mo", interval="1d"):
        self.asked.append((symbol, period, interval))
        return pd.DataFrame({"open": 1.0, "high": 1.0, "low": 1.0, "close": [101.0, 102.0, 103.0],
                             "volume": 0.0}, index=pd.DatetimeIndex(LABELS))


def test_bar_closes_count_from_the_bars_end():
    bars = Bars()
    obs = prices_from_provider(bars, ["AAA"], D[1], END)
    # 2 days 6 h: 5m bars would be 648 (> 500), so 15m bars (216) over the 5d period
    assert bars.asked == [("AAA", "5d", "15m")]
    # a bar's close is known at its end (label + 15m); the forming last bar's at the report's end
    assert obs["AAA"] == [(LABELS[0] + timedelta(minutes=15), 101.0), (LABELS[1] + timedelta(minutes=15), 102.0),
                          (END, 103.0)]


def test_bad_sources_and_arguments_are_clear_errors(tmp_path, account):
    with pytest.raises(ConfigError, match="account directory, a broker or a RunResult"):
        report(42)
    with pytest.raises(ConfigError, match="no journal records"):
        report(tmp_path / "nothing-here")
    with pytest.raises(ConfigError, match="benchmark must be"):
        report(tmp_path / "acct", benchmark="  ")
    with pytest.raises(ConfigError, match="initial cash"):
        report(RunResult(steps_requested=1))
    for bad in (0, -1.0, math.nan, math.inf, 10**400, "252", True):
        with pytest.raises(ConfigError, match="periods_per_year must be a number > 0"):
            report(tmp_path / "acct", periods_per_year=bad)
    for bad in (0, -5.0, math.nan, "1000", True):
        with pytest.raises(ConfigError, match="initial_cash must be a number > 0"):
            report(tmp_path / "acct", initial_cash=bad)
    with pytest.raises(ConfigError, match="prices must be a pandas DataFrame"):
        report(tmp_path / "acct", prices={"AAA": [1.0]})
    hist = load_account(tmp_path / "acct")
    assert hist.initial_cash == 10_000 and len(hist.fills) == 6 and hist.started_at == D[0]
    assert all(f["timestamp"].tzinfo is not None for f in hist.fills)


def test_report_to_dict_is_json_ready(account, tmp_path):
    import json

    from LIVE_TRADING.cli.render import to_json

    data = json.loads(to_json(report(tmp_path / "acct", benchmark="buy-and-hold", prices=PRICES).to_dict()))
    assert data["round_trips"] == 3 and len(data["trades"]) == 3 and len(data["equity"]) == 6
    assert data["performance"]["max_drawdown_duration"] == 86400.0
    assert data["trades"][0]["duration"] == 3 * 86400.0
    assert data["monthly_returns"][1]["Jan"] == pytest.approx(0.010509)


def test_latest_run_by_default_every_run_on_request(tmp_path):
    clock = ManualClock(D[0])
    first = PaperBroker(initial_cash=1_000, slippage_bps=0, fee_bps=0, log_dir=tmp_path / "j", clock=clock)
    first.set_quote("AAA", 10.0, 10.0)
    first.submit_order("AAA", "BUY", 1)
    assert [f["symbol"] for f in load_account(tmp_path / "j").fills] == ["AAA"]
    first.close()  # one writer per account: the next run opens it after this one
    clock.set(D[1])
    second = PaperBroker(initial_cash=2_000, slippage_bps=0, fee_bps=0, log_dir=tmp_path / "j", clock=clock,
                         resume=False)
    second.set_quote("BBB", 20.0, 20.0)
    second.submit_order("BBB", "BUY", 2)

    latest = load_account(tmp_path / "j")
    assert latest.initial_cash == 2_000 and [f["symbol"] for f in latest.fills] == ["BBB"]
    every = load_account(tmp_path / "j", all_runs=True)
    assert every.initial_cash == 1_000 and every.started_at == D[0]
    assert sorted(f["symbol"] for f in every.fills) == ["AAA", "BBB"]
    rep = report(tmp_path / "j", all_runs=True)
    assert rep.fills == 2 and rep.traded_notional == pytest.approx(10 + 40)


def test_a_fill_journaled_again_by_a_later_live_run_counts_once(tmp_path):
    from LIVE_TRADING.common.journal import Journal

    fill = {"order_id": "o1", "fill_id": "t1", "timestamp": D[0].isoformat(), "symbol": "AAA", "side": "BUY",
            "qty": 1.0, "fill_price": 10.0, "notional": 10.0, "fee": 0.0, "fee_currency": "USD", "venue": "binance"}
    for run in ("r1", "r2"):  # a live venue's catch-up journals what it finds at the venue again
        with Journal(tmp_path / "venue", run_id=run, clock=ManualClock(D[0]), exclusive=False) as j:
            j.write("session", {"venue": "binance"})
            j.write("fill", fill)
    every = load_account(tmp_path / "venue", all_runs=True)
    assert [f["fill_id"] for f in every.fills] == ["t1"]
