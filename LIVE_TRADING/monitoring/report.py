"""The performance report: ``report(source, benchmark=...)`` -> ``Report``.

``source`` is one of

* an **account directory** (a journal; ``str`` or ``Path``): the latest run
  in it (the account a resumed paper broker continues), read by
  ``load_account``, the one place this module reads the journal;
* a **broker**: a paper broker (possibly inside the guard wrappers) is read
  from its journal like a directory; any other broker from ``get_fills()``
  plus ``initial_cash=`` (or its ``get_account_summary()["initial_cash"]``);
* a **RunResult** of ``run_loop``: its equity curve is used as it is and
  its fills give the trades.

**Prices.** Positions are valued over time (the equity curve of a journal or
broker, exposure, the benchmark) from, in this order of preference:
``prices=`` (a DataFrame of prices, UTC index = when each price was known,
one column per symbol), else bar closes from ``data_provider=``'s
``get_historical`` (a broker's own provider when the source is a broker),
else fill prices only. A bar's close counts from the bar's end (bars are
labelled by their start; the still-forming last bar's close counts at the end
of the report). ``Report.pricing`` says which was used. With fill prices
only, equity moves only when something fills: figures such as volatility are
then computed on that coarse curve.

All position maths is the ledger's (``LIVE_TRADING.monitoring.trades``);
the figures are defined in ``LIVE_TRADING.monitoring.performance``.

Benchmark: ``"buy-and-hold"`` invests the initial equity in equal parts in
the traded symbols at their first price and holds; a symbol (``"SPY"``)
invests all of it in that symbol. No fees. It is valued on the strategy's
time grid from the same prices.

Why one module of ~560 lines: reading the source, pricing positions, the benchmark and the
statistics are small functions that only ``report()`` uses; they stay beside it so the whole
computation reads top to bottom.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from LIVE_TRADING.brokers.interface import (
    Broker,
    SupportsAccountHistory,
    SupportsAccountSummary,
    SupportsQuotes,
    find_layer,
    venue_broker,
)
from LIVE_TRADING.common.constants import EVENT_FILL, EVENT_SESSION
from LIVE_TRADING.common.exceptions import ConfigError, DataProviderError
from LIVE_TRADING.monitoring.performance import Performance, drawdown_series, monthly_returns, performance
from LIVE_TRADING.monitoring.trades import Replay, replay_fills
from LIVE_TRADING.pipeline.results import RunResult

logger = logging.getLogger(__name__)

BUY_AND_HOLD = "buy-and-hold"
#: bar lengths tried for price history, shortest first, and the most bars wanted
_HISTORY_INTERVALS = ("1m", "5m", "15m", "1h", "1d")
_MAX_BARS = 500


# -- the journal: read in one place ----------------------------------------------------
@dataclass
class AccountHistory:
    """What the report takes from an account's journal."""

    account_dir: Path
    run_id: str | None
    initial_cash: float | None
    started_at: datetime | None
    currency: str | None
    fills: list[dict[str, Any]]


def load_account(account_dir: str | Path, run_id: str | None = None, *, all_runs: bool = False) -> AccountHistory:
    """Read an account's journal: the first ``session`` record and every fill of the run.

    The run is ``run_id``, else the latest in the directory (the account a
    resumed paper broker continues); ``all_runs=True`` reads every run (a live
    venue's journal, where each process starts a run on the same account).
    A fill id seen twice counts once. Fill timestamps become aware datetimes. This is
    the only function of the report that reads the journal, so a new journal
    format is wired in here alone. ``ConfigError`` if the directory holds no journal.
    """
    from LIVE_TRADING.brokers.paper.recovery import extra_fills, order_fills
    from LIVE_TRADING.common.journal import iter_records, list_segments

    path = Path(account_dir)
    if not list_segments(path) and list_segments(path / "default"):  # a journal root: its default account
        path = path / "default"
    records = list(iter_records(path)) if path.is_dir() else []
    if not records:
        raise ConfigError(f"no journal records in {path} (nothing was traded on this account yet?)")
    # A run: what follows an ``open``/``reset`` record (paper), or the records carrying its run_id (venues).
    current = None
    for rec in records:
        if rec.get("event") in ("open", "reset"):
            current = rec.get("run_id")
        rec.setdefault("run_id", current)
    run = None if all_runs else run_id or current or records[-1].get("run_id")
    initial = started = currency = None
    fills: list[dict[str, Any]] = []
    seen: set[Any] = set()
    for rec in records:
        event = rec.get("event")
        if event == "open":
            currency = rec.get("currency")
        if run is not None and rec.get("run_id") != run:
            continue
        new: list[dict[str, Any]] = []
        if event in ("open", "reset") or (event == EVENT_SESSION and started is None):
            if started is None or (event != EVENT_SESSION and not all_runs):
                started = _time(rec.get("ts"))
            if rec.get("initial_cash") is not None and (initial is None or not all_runs):
                initial = float(rec["initial_cash"])
            currency = (rec.get("settings") or {}).get("currency") or rec.get("currency") or currency
        elif event == "order":
            new = order_fills(rec, currency or "")
        elif event in ("bracket", "oco", "modify"):  # paper order management: fills taken at once
            new = extra_fills(rec, currency or "")
        elif event == EVENT_FILL:
            fill = {k: v for k, v in rec.items() if k not in ("event", "run_id", "ts", "status", "seq", "rest",
                                                              "triggered", "links")}
            fill["timestamp"] = _time(rec.get("timestamp") or rec.get("ts"))
            new = [fill]
        for fill in new:
            fill_id = fill.get("fill_id")
            if fill_id is not None:
                if fill_id in seen:  # journaled again by a later run (a live venue's catch-up): once
                    continue
                seen.add(fill_id)
            fills.append(fill)
    return AccountHistory(path, run, initial, started, currency, fills)


def _time(value: Any) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


# -- prices ---------------------------------------------------------------------------
def prices_from_frame(frame: pd.DataFrame) -> dict[str, list[tuple[datetime, float]]]:
    """``{symbol: [(time, price), ...]}`` from a DataFrame with a time index and one column per symbol."""
    index = pd.DatetimeIndex(pd.to_datetime(frame.index, utc=True))
    out: dict[str, list[tuple[datetime, float]]] = {}
    for col in frame.columns:
        obs = [(t.to_pydatetime(), float(v)) for t, v in zip(index, frame[col], strict=True)
               if v is not None and math.isfinite(float(v))]
        out[str(col).upper()] = obs
    return out


def history_interval(start: datetime, end: datetime) -> tuple[str, str]:
    """``(period, interval)`` of a ``get_historical`` request covering ``start .. end`` in at most 500 bars."""
    from LIVE_TRADING.data.provider import INTERVALS, INTRADAY_LIMITS, PERIODS

    span = max(end - start, timedelta(minutes=1))
    periods = [(p, d) for p, d in PERIODS.items() if d is not None]
    for interval in _HISTORY_INTERVALS:
        step = INTERVALS[interval]
        reach = span + step
        period = next((p for p, d in periods if d >= reach), None)
        limit = INTRADAY_LIMITS.get(interval)
        if period is None or span / step > _MAX_BARS or (limit is not None and PERIODS[period] > limit):  # type: ignore[operator]
            continue
        return period, interval
    return "max", "1d"


def prices_from_provider(
    provider: Any, symbols: Sequence[str], start: datetime, end: datetime
) -> dict[str, list[tuple[datetime, float]]]:
    """Bar closes of ``symbols`` from ``provider.get_historical``, each at the time it was known.

    A bar labelled ``t`` closes at ``t + interval``; closes after ``end`` (the
    still-forming bar) count at ``end``. Raises ``DataProviderError``.
    """
    from LIVE_TRADING.data.provider import INTERVALS

    period, interval = history_interval(start, end)
    step = INTERVALS[interval]
    out: dict[str, list[tuple[datetime, float]]] = {}
    for sym in symbols:
        bars = provider.get_historical(sym, period=period, interval=interval)
        obs = []
        for label, close in zip(bars.index, bars["close"], strict=True):
            known = min(label.to_pydatetime() + step, end)
            if known >= start - step:
                obs.append((known, float(close)))
        out[sym] = obs
    return out


# -- the report ---------------------------------------------------------------------------
@dataclass
class Report:
    """The performance of an account (or a run), with its benchmark beside it.

    Equity figures are in ``performance`` (and ``benchmark``, same fields);
    trade figures are attributes of the report. Money is in the account
    currency. DataFrames: ``equity`` (index time; columns ``equity``,
    ``drawdown``, ``gross_exposure``, ``benchmark``, ``benchmark_drawdown``),
    ``monthly_returns`` (years x months), ``per_symbol`` and ``trades`` (the
    round trips, see ``LIVE_TRADING.monitoring.trades``).

    * ``win_rate``: share of round trips with ``pnl > 0``;
    * ``profit_factor``: sum of winning trips' ``pnl`` over minus the sum of
      losing ones' (``inf`` with wins and no loss; None without trips);
    * ``avg_win`` / ``avg_loss``: mean ``pnl`` of winning / losing trips;
    * ``turnover``: traded notional over the time-weighted mean equity;
    * ``exposure``: share of the time with a position open;
      ``avg_gross_exposure``: time-weighted mean of gross position value / equity;
    * ``fees``: fees paid; ``slippage``: what slippage cost (paper fills record
      it; None when no fill carries ``slippage_bps``).
    """

    source: str
    start: datetime
    end: datetime
    currency: str | None
    pricing: str
    performance: Performance
    benchmark_name: str | None
    benchmark: Performance | None
    round_trips: int
    win_rate: float | None
    profit_factor: float | None
    avg_win: float | None
    avg_loss: float | None
    turnover: float | None
    exposure: float | None
    avg_gross_exposure: float | None
    fees: float
    slippage: float | None
    traded_notional: float
    fills: int
    realized_pnl: float
    unrealized_pnl: float
    equity: pd.DataFrame = field(repr=False)
    monthly_returns: pd.DataFrame = field(repr=False)
    per_symbol: pd.DataFrame = field(repr=False)
    trades: pd.DataFrame = field(repr=False)

    def figures(self) -> dict[str, Any]:
        """The headline figures as a flat dict (no DataFrames)."""
        out: dict[str, Any] = {
            "source": self.source, "start": self.start, "end": self.end, "currency": self.currency,
            "pricing": self.pricing, "benchmark_name": self.benchmark_name,
            "performance": self.performance.to_dict(),
            "benchmark": self.benchmark.to_dict() if self.benchmark else None,
        }
        for name in ("round_trips", "win_rate", "profit_factor", "avg_win", "avg_loss", "turnover", "exposure",
                     "avg_gross_exposure", "fees", "slippage", "traded_notional", "fills", "realized_pnl",
                     "unrealized_pnl"):
            out[name] = getattr(self, name)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready: the figures plus the tables as lists of records (times ISO-8601)."""
        out = self.figures()
        eq = self.equity.reset_index()
        out["equity"] = _records(eq)
        monthly = self.monthly_returns.reset_index()
        out["monthly_returns"] = _records(monthly)
        out["per_symbol"] = _records(self.per_symbol)
        trades = self.trades.copy()
        if len(trades):
            trades["duration"] = trades["duration"].map(lambda d: d.total_seconds())
        out["trades"] = _records(trades)
        return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for rec in frame.to_dict(orient="records"):
        clean = {}
        for k, v in rec.items():
            if isinstance(v, pd.Timestamp):
                v = v.to_pydatetime()
            elif isinstance(v, float) and math.isnan(v):
                v = None
            elif isinstance(v, timedelta):
                v = v.total_seconds()
            clean[str(k)] = v
        rows.append(clean)
    return rows


@dataclass
class _Source:
    """What ``report()`` needs from its source, whatever that was."""

    label: str
    fills: list[dict[str, Any]]
    initial_cash: float
    start: datetime | None
    end: datetime | None
    currency: str | None
    provider: Any
    curve: list[tuple[datetime, float]] | None = None


def _read_source(source: Any, initial_cash: float | None, provider: Any, end: datetime | None,
                 all_runs: bool = False) -> _Source:
    """Fills, initial cash, start (and a RunResult's curve) of a directory, a broker or a RunResult."""
    curve: list[tuple[datetime, float]] | None = None
    currency: str | None = None
    if isinstance(source, RunResult):
        fills = [dict(f, timestamp=_time(f["timestamp"])) for f in source.fills]
        start = _time(source.started_at) if source.started_at else (
            _time(source.equity_curve[0][0]) if source.equity_curve else None)
        initial = source.initial_equity if initial_cash is None else initial_cash
        curve = [(_time(t), float(v)) for t, v in source.equity_curve]
        if initial is not None and start is not None:
            curve.insert(0, (start, float(initial)))
        label = f"run {source.run_id or ''}".strip()
    elif isinstance(source, str | Path):
        hist = load_account(source, all_runs=all_runs)
        fills, start, currency, label = hist.fills, hist.started_at, hist.currency, str(hist.account_dir)
        initial = initial_cash if initial_cash is not None else hist.initial_cash
    elif isinstance(source, Broker):
        inner = venue_broker(source)
        if provider is None and isinstance(inner, SupportsQuotes):
            provider = inner.data_provider
        if isinstance(inner, SupportsAccountHistory):
            hist = load_account(inner.account_dir, inner.run_id)  # the journal is the account's truth
            fills, start, currency, label = hist.fills, hist.started_at, hist.currency, str(hist.account_dir)
            initial = initial_cash if initial_cash is not None else hist.initial_cash
        else:
            fills = [dict(f, timestamp=_time(f["timestamp"])) for f in source.get_fills()]
            start = min((f["timestamp"] for f in fills), default=None)
            initial = initial_cash
            if initial is None and (summary := find_layer(source, SupportsAccountSummary)) is not None:
                initial = summary.get_account_summary().get("initial_cash")
            label = type(inner).__name__
        if end is None:
            end = _time(source.now())
    else:
        raise ConfigError(
            f"report() needs an account directory, a broker or a RunResult, got {type(source).__name__}"
        )
    if initial is None or not math.isfinite(float(initial)) or float(initial) <= 0:
        raise ConfigError(
            f"report() needs the initial cash of {label}: the source does not record it: "
            "pass initial_cash=... (live-trading report --initial-cash X)"
        )
    return _Source(label, fills, float(initial), start, end, currency, provider, curve)


def report(
    source: Any,
    *,
    benchmark: str | None = None,
    prices: pd.DataFrame | None = None,
    data_provider: Any = None,
    initial_cash: float | None = None,
    end: datetime | None = None,
    periods_per_year: float | None = None,
    all_runs: bool = False,
) -> Report:
    """The performance report of ``source`` (see the module docstring).

    ``benchmark``: None, ``"buy-and-hold"`` or a symbol. ``end`` closes the
    report; by default ``broker.now()`` for a broker, the last point of a
    RunResult's curve, the current time for a journal priced from a data
    provider, else the latest fill or given price. ``all_runs``: a directory's
    every run, not only the latest (live venues). Raises ``ConfigError`` for
    a source or argument it cannot use, ``DataProviderError`` when prices
    cannot be had for a benchmark symbol.
    """
    bench = _check_benchmark(benchmark)
    periods_per_year = _positive("periods_per_year", periods_per_year)
    initial_cash = _positive("initial_cash", initial_cash)
    if prices is not None and not isinstance(prices, pd.DataFrame):
        raise ConfigError(f"prices must be a pandas DataFrame (time index, one column per symbol), "
                          f"got {type(prices).__name__}")
    src = _read_source(source, initial_cash, data_provider, end, all_runs)
    fills, start, curve, provider, end = src.fills, src.start, src.curve, src.provider, src.end
    initial = src.initial_cash
    if start is None:
        start = min((f["timestamp"] for f in fills), default=None) or end or datetime.now(UTC)
    symbols = sorted({f["symbol"] for f in fills})
    wanted = symbols + ([bench] if bench not in (None, BUY_AND_HOLD) and bench not in symbols else [])

    if end is None and curve is None and prices is None and provider is not None:
        end = datetime.now(UTC)  # an account is reported as of now, priced from the provider's latest bars
    last_fill = max((f["timestamp"] for f in fills), default=start)
    stop = end or (curve[-1][0] if curve else last_fill)
    stop = max(stop, last_fill, start)
    obs: dict[str, list[tuple[datetime, float]]] = {}
    if prices is not None:
        obs, pricing = prices_from_frame(prices), "prices given"
        if end is None and curve is None:
            stop = max([stop] + [o[-1][0] for o in obs.values() if o])
    elif provider is not None and wanted:
        try:
            obs = prices_from_provider(provider, wanted, start, stop)
            pricing = f"bar closes from {type(provider).__name__}"
        except DataProviderError as exc:
            if bench in wanted and bench != BUY_AND_HOLD:
                raise
            logger.warning("No price history (%s): valuing positions at fill prices", exc)
            obs, pricing = {}, "fill prices"
    else:
        pricing = "fill prices"
    if bench not in (None, BUY_AND_HOLD) and not obs.get(bench):  # type: ignore[arg-type]
        raise DataProviderError(f"no prices for the benchmark {bench}: pass prices= or a data provider",
                                symbol=bench)

    if curve is not None:
        grid = [t for t, _ in curve]
    else:
        times = {start, stop} | {f["timestamp"] for f in fills}
        times |= {t for o in obs.values() for t, _ in o}
        grid = sorted(t for t in times if start <= t <= stop)
    replay = replay_fills(fills, initial, grid, obs)
    values = [v for _, v in curve] if curve is not None else [p.equity for p in replay.points]
    perf = performance(grid, values, periods_per_year=periods_per_year)

    bench_values = _benchmark_values(bench, symbols, initial, grid, obs, fills) if bench else None
    bench_perf = (performance(grid, bench_values, periods_per_year=periods_per_year)
                  if bench_values is not None else None)

    equity = pd.DataFrame(
        {
            "equity": values,
            "drawdown": drawdown_series(values),
            "gross_exposure": [p.gross for p in replay.points],
            "benchmark": bench_values if bench_values is not None else [math.nan] * len(grid),
            "benchmark_drawdown": drawdown_series(bench_values) if bench_values is not None else [math.nan] * len(grid),
        },
        index=pd.DatetimeIndex(grid, name="time").tz_convert("UTC"),
    )
    exposure, gross_avg, mean_equity = _time_weighted(replay, values, grid)
    trades = replay.trades
    n, win_rate, profit_factor, avg_win, avg_loss = _trade_stats(trades)
    return Report(
        source=src.label,
        start=grid[0],
        end=grid[-1],
        currency=src.currency,
        pricing=pricing,
        performance=perf,
        benchmark_name=bench,
        benchmark=bench_perf,
        round_trips=n,
        win_rate=win_rate,
        profit_factor=profit_factor,
        avg_win=avg_win,
        avg_loss=avg_loss,
        turnover=replay.traded_notional / mean_equity if mean_equity else None,
        exposure=exposure,
        avg_gross_exposure=gross_avg,
        fees=replay.fees,
        slippage=replay.slippage,
        traded_notional=replay.traded_notional,
        fills=replay.n_fills,
        realized_pnl=float(replay.per_symbol["realized_pnl"].sum()) if len(replay.per_symbol) else 0.0,
        unrealized_pnl=float(replay.per_symbol["unrealized_pnl"].sum()) if len(replay.per_symbol) else 0.0,
        equity=equity,
        monthly_returns=monthly_returns(grid, values),
        per_symbol=replay.per_symbol,
        trades=trades,
    )


def _trade_stats(trades: pd.DataFrame) -> tuple[int, float | None, float | None, float | None, float | None]:
    """``(round trips, win rate, profit factor, average win, average loss)`` of the round trips."""
    n = len(trades)
    if n == 0:
        return 0, None, None, None, None
    pnl = trades["pnl"]
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    if len(losses) == 0:
        profit_factor = math.inf if len(wins) else None
    else:
        profit_factor = float(wins.sum() / -losses.sum())
    return (n, len(wins) / n, profit_factor, float(wins.mean()) if len(wins) else None,
            float(losses.mean()) if len(losses) else None)


def _positive(name: str, value: Any) -> float | None:
    """``value`` as a finite float > 0 (None stays None), else ``ConfigError`` naming ``name``."""
    if value is None:
        return None
    try:
        number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    except OverflowError:
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(f"{name} must be a number > 0, got {value!r}")
    return number


def _check_benchmark(benchmark: Any) -> str | None:
    if benchmark is None:
        return None
    if not isinstance(benchmark, str) or not benchmark.strip():
        raise ConfigError(f"benchmark must be 'buy-and-hold' or a symbol, got {benchmark!r}")
    name = benchmark.strip()
    return BUY_AND_HOLD if name.lower() == BUY_AND_HOLD else name.upper()


def _benchmark_values(
    bench: str, symbols: Sequence[str], initial: float, grid: Sequence[datetime],
    obs: Mapping[str, Sequence[tuple[datetime, float]]], fills: Sequence[Mapping[str, Any]],
) -> list[float] | None:
    """The benchmark's value at each grid time (see the module docstring)."""
    from LIVE_TRADING.monitoring.trades import price_at

    legs = list(symbols) if bench == BUY_AND_HOLD else [bench]
    if not legs:
        return None
    series: dict[str, list[tuple[datetime, float]]] = {s: list(obs.get(s, [])) for s in legs}
    if bench == BUY_AND_HOLD:
        for f in fills:  # fill prices are observations too
            series[f["symbol"]].append((f["timestamp"], float(f["fill_price"])))
    index = {s: (sorted(o)) for s, o in series.items()}
    index2 = {s: ([t for t, _ in o], [p for _, p in o]) for s, o in index.items()}
    budget = initial / len(legs)
    entry: dict[str, float] = {}
    out = []
    for when in grid:
        value = 0.0
        for s in legs:
            px = price_at(index2, s, when)
            if px is not None and s not in entry:
                entry[s] = px
            value += budget if s not in entry else budget / entry[s] * (px if px is not None else entry[s])
        out.append(value)
    return out


def _time_weighted(replay: Replay, values: Sequence[float], grid: Sequence[datetime]) -> tuple[
        float | None, float | None, float | None]:
    """``(exposure, average gross exposure, mean equity)``, each time-weighted (state held until the next point)."""
    if len(grid) < 2:
        eq = values[0] if values else None
        return None, None, eq
    total = (grid[-1] - grid[0]).total_seconds()
    if total <= 0:
        return None, None, float(sum(values) / len(values))
    held = gross = equity = 0.0
    for i in range(len(grid) - 1):
        dt = (grid[i + 1] - grid[i]).total_seconds()
        p = replay.points[i]
        if p.positions:
            held += dt
        if values[i]:
            gross += dt * p.gross / values[i]
        equity += dt * values[i]
    return held / total, gross / total, equity / total


__all__ = ["BUY_AND_HOLD", "AccountHistory", "Report", "history_interval", "load_account",
           "prices_from_frame", "prices_from_provider", "report"]
