"""The project's replay -> run_loop backtest against backtrader: same bars, same strategy, same costs.

Run from the repository root (backtrader is an optional benchmark dependency:
``pip install -e .[bench]``)::

    python benchmarks/bench_backtrader.py [--symbols 3] [--bars 2000] [--repeat 5]

Data: ``--symbols`` x ``--bars`` daily bars generated deterministically
(geometric Brownian motion from a fixed seed), one bar per calendar day,
labelled by their end. Strategy: the SMA crossover 10/30 of
``MovingAverageCrossover`` (long ``(1 - 0.02) / n`` of portfolio value while
the 10-bar mean of closes is above the 30-bar mean, flat otherwise, trading
only when the signal changes). Costs: slippage 5 bps, fee 1 bps of notional,
no spread. Cash 100,000.

Conventions made equal (the project's are the reference):

* **Fill at this bar's close.** The project trades on the quote it has when
  the bar's close is known, i.e. at the close (plus slippage). backtrader
  fills market orders at the *next* bar's open by default; ``cheat-on-close``
  (``broker.set_coc(True)``) makes it fill at the close of the bar the order
  was placed on. backtrader executes those orders at the start of the next
  cycle, so its feed gets one extra copy of the last bar (on which the
  strategy does not trade) to let the last bar's orders through.
* **Slippage outside the bar.** backtrader caps a slipped price at the bar's
  high/low unless ``slip_out=True``; the paper broker does not cap.
* **Fractional sizes, sized like ``rebalance``:** quantity = weight x
  portfolio value (cash + positions at the close, before this bar's trades) /
  close; trades worth less than 10 are skipped; sells go first; a buy costing
  more than the cash available (with 50 bps of headroom) is cut to fit. With
  cheat-on-close backtrader's sells are not executed yet when the buy is
  sized, so the backtrader strategy adds their proceeds to the cash itself.
* **Daily equity after the bar's trades**, valued at its close.

Both runs must give identical trades (same bars, sides, quantities, prices,
fees) and daily equity (checked to 1e-9 relative; the largest difference is
printed). Timing: the project's figure includes reading the CSV file, the
paper broker and its journal (on, default durability); backtrader's includes
building its feeds from in-memory DataFrames. Each figure is the median of
``--repeat`` runs, the two measured alternately in one process, in CPU time of
the process (``time.process_time``: steadier than wall time on a shared
machine; wall time is printed too).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LIVE_TRADING_CONFIG", str(ROOT / "CONFIG" / "live_trading.yaml"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from LIVE_TRADING.brokers.paper import PaperBroker  # noqa: E402
from LIVE_TRADING.common.clock import ManualClock  # noqa: E402
from LIVE_TRADING.data.replay import ReplayDataProvider  # noqa: E402
from LIVE_TRADING.pipeline import run_loop  # noqa: E402
from LIVE_TRADING.pipeline.strategies import MovingAverageCrossover  # noqa: E402

FAST, SLOW, CASH_BUFFER = 10, 30, 0.02
SLIPPAGE_BPS, FEE_BPS = 5.0, 1.0
CASH = 100_000.0
MIN_TRADE_VALUE = 10.0
CASH_MARGIN = 50e-4  # rebalance's default headroom when fitting a buy to the cash
START = datetime(2018, 1, 1, tzinfo=UTC)


def make_bars(n_symbols: int, n_bars: int, seed: int = 2026) -> dict[str, pd.DataFrame]:
    """Deterministic daily OHLCV bars, indexed by the bar's end (tz-aware UTC)."""
    rng = np.random.default_rng(seed)
    out = {}
    index = pd.DatetimeIndex([START + timedelta(days=d + 1) for d in range(n_bars)])
    for k in range(n_symbols):
        returns = rng.normal(0.0003, 0.015, n_bars)
        close = np.round(50.0 * (1 + k) * np.exp(np.cumsum(returns)), 4)
        open_ = np.concatenate([[close[0]], close[:-1]])
        high = np.round(np.maximum(open_, close) * 1.004, 4)
        low = np.round(np.minimum(open_, close) * 0.996, 4)
        out[f"SYM{k}"] = pd.DataFrame(
            {"open": open_, "high": high, "low": low, "close": close, "volume": 1e6}, index=index
        )
    return out


def write_csv(bars: dict[str, pd.DataFrame], path: Path) -> Path:
    frames = [df.assign(symbol=sym) for sym, df in bars.items()]
    table = pd.concat(frames).rename_axis("timestamp").reset_index().sort_values(["timestamp", "symbol"])
    table["timestamp"] = table["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    table.to_csv(path, index=False)
    return path


# -- the project ---------------------------------------------------------------------


def run_project(csv: Path, n_bars: int, log_dir: str) -> dict[str, Any]:
    clock = ManualClock()
    provider = ReplayDataProvider(csv, clock=clock, spread_bps=0.0, size=1e12, bar_time="end")
    clock.set(provider.first_timestamp)
    broker = PaperBroker(initial_cash=CASH, slippage_bps=SLIPPAGE_BPS, fee_bps=FEE_BPS, clock=clock,
                         data_provider=provider, log_dir=log_dir, respect_quote_size=False)
    try:
        result = run_loop(broker, provider, MovingAverageCrossover(FAST, SLOW, CASH_BUFFER), n_bars,
                          symbols=provider.symbols, bar="1d", min_trade_value=MIN_TRADE_VALUE,
                          advance=lambda: clock.advance(days=1))
    finally:
        broker.close()
    first = provider.first_timestamp
    trades = [((f["timestamp"] - first).days, f["symbol"], f["side"], f["qty"], f["fill_price"], f["fee"])
              for f in result.fills]
    return {"trades": trades, "equity": [v for _, v in result.equity_curve], "final": result.final_equity}


# -- backtrader ----------------------------------------------------------------------


def run_backtrader(bars: dict[str, pd.DataFrame], n_bars: int) -> dict[str, Any]:
    import backtrader as bt

    class SmaCross(bt.Strategy):
        def __init__(self) -> None:
            self.fast = {d: bt.indicators.SMA(d.close, period=FAST) for d in self.datas}
            self.slow = {d: bt.indicators.SMA(d.close, period=SLOW) for d in self.datas}
            self.trades: list[tuple] = []
            self.equity: list[float] = []
            self.weight = (1.0 - CASH_BUFFER) / len(self.datas)

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                ex = order.executed
                self.trades.append((len(self) - 2, order.data._name, "BUY" if order.isbuy() else "SELL",
                                    abs(ex.size), ex.price, ex.comm))

        def _record_equity(self) -> None:
            # after the previous bar's orders (executed at its close): value them at that close
            value = self.broker.getcash() + sum(self.getposition(d).size * d.close[-1] for d in self.datas)
            self.equity.append(value)

        def prenext(self) -> None:
            if len(self) > 1:
                self._record_equity()

        def next(self) -> None:
            if len(self) > 1:
                self._record_equity()
            if len(self) > n_bars:  # the extra copy of the last bar: no trading
                return
            value = self.broker.getvalue()  # cash + positions at this close, before this bar's trades
            plan = []
            for d in sorted(self.datas, key=lambda d: d._name):
                long = self.fast[d][0] > self.slow[d][0]
                held = self.getposition(d).size
                if long and held <= 0:
                    target = self.weight
                elif not long and held != 0:
                    target = 0.0
                else:
                    continue
                price = d.close[0]
                delta = target * value / price - held
                if abs(delta) <= 1e-9 or abs(delta) * price < MIN_TRADE_VALUE:
                    continue
                plan.append((delta > 0, d, delta))
            cash = self.broker.getcash()
            for is_buy, d, delta in sorted(plan, key=lambda t: (t[0], t[1]._name)):  # sells first
                price = d.close[0]
                if not is_buy:
                    self.sell(data=d, size=-delta)
                    proceeds = -delta * price * (1 - SLIPPAGE_BPS / 1e4)
                    cash += proceeds - proceeds * FEE_BPS / 1e4  # what the sell will bring at this close
                    continue
                unit = price * (1 + CASH_MARGIN)
                if delta * unit > cash:
                    fitted = max(cash, 0.0) / unit
                    if fitted <= 1e-9 or fitted * price < MIN_TRADE_VALUE:
                        continue
                    delta = fitted
                self.buy(data=d, size=delta)
                cost = delta * price * (1 + SLIPPAGE_BPS / 1e4)
                cash -= cost + cost * FEE_BPS / 1e4

    cerebro = bt.Cerebro(stdstats=False)
    for sym, df in bars.items():
        extra = df.iloc[[-1]].copy()
        extra.index = extra.index + pd.Timedelta(days=1)
        feed = pd.concat([df, extra])
        feed.index = feed.index.tz_localize(None)
        cerebro.adddata(bt.feeds.PandasData(dataname=feed), name=sym)
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(CASH)
    cerebro.broker.set_coc(True)
    cerebro.broker.set_checksubmit(False)
    cerebro.broker.set_slippage_perc(SLIPPAGE_BPS / 1e4, slip_open=True, slip_limit=True, slip_match=True,
                                     slip_out=True)
    cerebro.broker.setcommission(commission=FEE_BPS / 1e4)
    strategy = cerebro.run()[0]
    return {"trades": strategy.trades, "equity": strategy.equity, "final": strategy.equity[-1]}


# -- comparison --------------------------------------------------------------------


def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> tuple[bool, str]:
    def rel(a: float, b: float) -> float:
        return abs(a - b) / max(abs(a), abs(b), 1e-12)

    worst = 0.0
    if len(ours["trades"]) != len(theirs["trades"]):
        return False, f"{len(ours['trades'])} trades vs {len(theirs['trades'])}"
    for a, b in zip(ours["trades"], theirs["trades"], strict=True):
        if a[:3] != b[:3]:
            return False, f"trade differs: {a} vs {b}"
        worst = max(worst, *(rel(x, y) for x, y in zip(a[3:], b[3:], strict=True)))
    if len(ours["equity"]) != len(theirs["equity"]):
        return False, f"{len(ours['equity'])} equity points vs {len(theirs['equity'])}"
    worst = max(worst, *(rel(a, b) for a, b in zip(ours["equity"], theirs["equity"], strict=True)))
    return worst <= 1e-9, f"largest relative difference {worst:.2e} over trades and daily equity"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=3)
    parser.add_argument("--bars", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each (the median is printed)")
    args = parser.parse_args()
    try:
        import backtrader
    except ImportError:
        sys.exit("backtrader is not installed: pip install -e .[bench]")

    bars = make_bars(args.symbols, args.bars)
    total = args.symbols * args.bars
    ours_s: list[float] = []  # CPU seconds of this process (steadier than wall time on a shared machine)
    theirs_s: list[float] = []
    ours_wall: list[float] = []
    theirs_wall: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        csv = write_csv(bars, Path(tmp) / "bars.csv")
        for i in range(args.repeat):
            log_dir = Path(tmp) / f"log{i}"
            wall, cpu = time.perf_counter(), time.process_time()
            ours = run_project(csv, args.bars, str(log_dir))
            ours_s.append(time.process_time() - cpu)
            ours_wall.append(time.perf_counter() - wall)
            wall, cpu = time.perf_counter(), time.process_time()
            theirs = run_backtrader(bars, args.bars)
            theirs_s.append(time.process_time() - cpu)
            theirs_wall.append(time.perf_counter() - wall)
    same, detail = compare(ours, theirs)
    mine, bt_med = statistics.median(ours_s), statistics.median(theirs_s)
    mine_wall, bt_wall = statistics.median(ours_wall), statistics.median(theirs_wall)
    print(f"backtest: {args.symbols} symbols x {args.bars} daily bars, SMA crossover {FAST}/{SLOW}, "
          f"slippage {SLIPPAGE_BPS:g} bps, fee {FEE_BPS:g} bps, median of {args.repeat}")
    print(f"  project (replay CSV -> run_loop -> PaperBroker, journal on): {total / mine:>9,.0f} bars/s of CPU "
          f"({mine * 1e3:,.0f} ms CPU, {mine_wall * 1e3:,.0f} ms wall)")
    print(f"  backtrader {backtrader.__version__} (PandasData, cheat-on-close):     {total / bt_med:>9,.0f} bars/s of CPU "
          f"({bt_med * 1e3:,.0f} ms CPU, {bt_wall * 1e3:,.0f} ms wall)")
    print(f"  ratio project / backtrader: {bt_med / mine:.2f}x CPU, {bt_wall / mine_wall:.2f}x wall  (target >= 5x)")
    print(f"  trades: {len(ours['trades'])} each; final equity {ours['final']:,.6f} vs {theirs['final']:,.6f}; "
          f"identical: {'yes' if same else 'NO'} ({detail})")
    if not same or not math.isfinite(ours["final"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
