"""Figures of an equity curve: return, CAGR, volatility, Sharpe, Sortino, drawdown, Calmar, monthly returns.

Definitions (``E_0 .. E_n`` the equity at times ``t_0 .. t_n``; ``r_i = E_i / E_(i-1) - 1``):

* total return ``E_n / E_0 - 1``;
* CAGR ``(E_n / E_0) ** (1 / years) - 1`` with ``years = (t_n - t_0) / 365.25 days``
  (the compounded yearly rate; it explodes over very short spans, as it should);
* periods per year: ``365.25 days / median(t_i - t_(i-1))`` unless given
  (calendar time, like CAGR; pass 252 for daily bars of a stock market);
* volatility ``stdev(r, ddof=1) * sqrt(periods per year)``;
* Sharpe ``mean(r) / stdev(r, ddof=1) * sqrt(periods per year)`` (risk-free rate 0);
* Sortino ``mean(r) / sqrt(mean(min(r, 0) ** 2)) * sqrt(periods per year)``
  (downside deviation against 0, over every period);
* max drawdown: the largest fall from a running peak, as a fraction of that
  peak; its duration runs from that peak to the first time equity is back at
  or above it, or to ``t_n`` when it never is (``max_drawdown_recovered`` False);
* Calmar ``CAGR / max drawdown``.

A figure that cannot be computed (too few points, zero variance, no
drawdown) is ``None``, never a made-up 0 or inf.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from LIVE_TRADING.pipeline.results import drawdowns

YEAR = timedelta(days=365.25)


@dataclass(frozen=True)
class Performance:
    """The equity-curve figures of a strategy or its benchmark (see the module docstring)."""

    initial_equity: float
    final_equity: float
    total_return: float | None
    cagr: float | None
    volatility: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    max_drawdown_duration: timedelta
    max_drawdown_recovered: bool
    calmar: float | None
    periods_per_year: float | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["max_drawdown_duration"] = self.max_drawdown_duration.total_seconds()
        return out


def returns(values: Sequence[float]) -> list[float]:
    """Period returns ``E_i / E_(i-1) - 1`` (a period starting at 0 equity is left out)."""
    return [b / a - 1.0 for a, b in itertools.pairwise(values) if a]


def infer_periods_per_year(times: Sequence[datetime]) -> float | None:
    """``365.25 days / median spacing`` of ``times`` (None with fewer than two distinct times)."""
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    gaps = [g for g in gaps if g > 0]
    if not gaps:
        return None
    return YEAR.total_seconds() / statistics.median(gaps)


def drawdown_episode(times: Sequence[datetime], values: Sequence[float]) -> tuple[float, timedelta, bool]:
    """``(max drawdown, its duration, recovered?)``: peak of the deepest fall to recovery (or the end)."""
    worst = 0.0
    peak_i = 0
    worst_peak_i: int | None = None
    for i, v in enumerate(values):
        if v >= values[peak_i]:
            peak_i = i
        elif values[peak_i] > 0:
            dd = (values[peak_i] - v) / values[peak_i]
            if dd > worst:
                worst, worst_peak_i = dd, peak_i
    if worst_peak_i is None:
        return 0.0, timedelta(0), True
    peak = values[worst_peak_i]
    trough_i = min(range(worst_peak_i, len(values)), key=lambda i: values[i])
    for j in range(trough_i + 1, len(values)):
        if values[j] >= peak:
            return worst, times[j] - times[worst_peak_i], True
    return worst, times[-1] - times[worst_peak_i], False


def performance(
    times: Sequence[datetime], values: Sequence[float], *, periods_per_year: float | None = None
) -> Performance:
    """The figures of the equity curve ``(times, values)`` (at least one point; see the module docstring)."""
    if not values or len(times) != len(values):
        raise ValueError("performance() needs one or more (time, equity) points")
    e0, en = float(values[0]), float(values[-1])
    total = en / e0 - 1.0 if e0 > 0 else None
    years = (times[-1] - times[0]) / YEAR
    cagr = (en / e0) ** (1.0 / years) - 1.0 if e0 > 0 and en > 0 and years > 0 else None
    ppy = periods_per_year if periods_per_year is not None else infer_periods_per_year(times)
    r = returns(values)
    vol = sharpe = sortino = None
    if len(r) >= 2 and ppy:
        sd = statistics.stdev(r)
        mean = statistics.fmean(r)
        if sd > 0:
            vol = sd * math.sqrt(ppy)
            sharpe = mean / sd * math.sqrt(ppy)
        downside = math.sqrt(statistics.fmean([min(x, 0.0) ** 2 for x in r]))
        if downside > 0:
            sortino = mean / downside * math.sqrt(ppy)
    mdd, duration, recovered = drawdown_episode(times, values)
    calmar = cagr / mdd if cagr is not None and mdd > 0 else None
    return Performance(e0, en, total, cagr, vol, sharpe, sortino, mdd, duration, recovered, calmar, ppy)


def drawdown_series(values: Sequence[float]) -> list[float]:
    """Drawdown at each point as a fraction of the running peak (``pipeline.results.drawdowns``)."""
    return drawdowns(values)


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def monthly_returns(times: Sequence[datetime], values: Sequence[float]) -> pd.DataFrame:
    """Returns by calendar month (UTC): one row per year, columns ``Jan .. Dec`` and ``Year``.

    A month's return is its last equity over the previous month's last equity
    (the first month's over the first point), minus 1; ``Year`` compounds the
    months shown. Months without data are NaN.
    """
    columns = [*MONTHS, "Year"]
    if not values:
        return pd.DataFrame(columns=columns, dtype="float64")
    series = pd.Series(list(values), index=pd.DatetimeIndex(list(times)).tz_convert("UTC"), dtype="float64")
    month_end = series.groupby(series.index.to_period("M") if series.index.tz is None
                               else series.index.tz_localize(None).to_period("M")).last()
    prev = month_end.shift(1)
    prev.iloc[0] = series.iloc[0]
    monthly = month_end / prev - 1.0
    table = pd.DataFrame(index=sorted({p.year for p in monthly.index}), columns=columns, dtype="float64")
    table.index.name = "year"
    for period, value in monthly.items():
        table.loc[period.year, MONTHS[period.month - 1]] = value
    for year in table.index:
        row = table.loc[year, list(MONTHS)].dropna()
        table.loc[year, "Year"] = float((1.0 + row).prod() - 1.0)
    return table


__all__ = [
    "MONTHS",
    "Performance",
    "drawdown_episode",
    "drawdown_series",
    "infer_periods_per_year",
    "monthly_returns",
    "performance",
    "returns",
]
