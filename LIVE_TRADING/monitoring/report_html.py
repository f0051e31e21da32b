"""The performance report as one self-contained HTML file (figures embedded as base64 PNG).

Needs matplotlib (extra ``plot``), imported only when a chart is drawn.
Charts are drawn on matplotlib's ``Figure`` object with the Agg renderer
(no GUI, no global pyplot state). ``equity_figure`` is shared with
``live-trading run --plot``.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from LIVE_TRADING.monitoring.performance import MONTHS, Performance
from LIVE_TRADING.monitoring.report import Report


def equity_figure(
    times: Sequence[datetime],
    values: Sequence[float],
    drawdown: Sequence[float],
    *,
    benchmark: Sequence[float] | None = None,
    benchmark_drawdown: Sequence[float] | None = None,
    benchmark_name: str = "benchmark",
    title: str = "Equity",
    monthly: Any = None,
) -> Any:
    """A matplotlib ``Figure``: equity (and the benchmark) on top, drawdown in percent below,
    and, when ``monthly`` (``Report.monthly_returns``) is given, the monthly-returns table under them."""
    from LIVE_TRADING.cli.plot import require_matplotlib

    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = len(monthly) if monthly is not None else 0
    fig = Figure(figsize=(10, 6 + (0.6 + 0.3 * rows if rows else 0)), layout="constrained")
    FigureCanvasAgg(fig)
    if rows:
        top, bottom, under = fig.subplots(3, 1, height_ratios=[3, 1, 0.4 + 0.3 * rows])
        bottom.sharex(top)
        top.tick_params(labelbottom=False)
        _monthly_axes(under, monthly)
    else:
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot(times, values, color="tab:blue", linewidth=1.5, label="strategy")
    if benchmark is not None:
        top.plot(times, benchmark, color="tab:gray", linewidth=1.2, linestyle="--", label=benchmark_name)
        top.legend(loc="best")
    top.set_title(title)
    top.set_ylabel("equity")
    top.grid(True, alpha=0.3)
    bottom.fill_between(times, [-100.0 * d for d in drawdown], 0.0, color="tab:red", alpha=0.4, step="post",
                        label="strategy")
    if benchmark_drawdown is not None:
        bottom.plot(times, [-100.0 * d for d in benchmark_drawdown], color="tab:gray", linewidth=1.0,
                    linestyle="--", drawstyle="steps-post", label=benchmark_name)
    bottom.set_ylabel("drawdown %")
    bottom.grid(True, alpha=0.3)
    for label in bottom.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")
    return fig


def _monthly_axes(ax: Any, monthly: Any) -> None:
    """Draw the monthly-returns table (percent, green up, red down) on ``ax``."""
    ax.axis("off")
    columns = [str(c) for c in monthly.columns]
    cells = [[fmt_pct(v) if v == v else "" for v in row] for row in monthly.itertuples(index=False)]
    colours = [["#e6f4ea" if v == v and v > 0 else "#fdecea" if v == v and v < 0 else "white" for v in row]
               for row in monthly.itertuples(index=False)]
    table = ax.table(cellText=cells, cellColours=colours, colLabels=columns,
                     rowLabels=[str(y) for y in monthly.index], loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    ax.set_title("Monthly returns", fontsize=10)


def report_figure(rep: Report, *, monthly: bool = False, title: str | None = None) -> Any:
    """The equity-and-drawdown figure of a report (the benchmark dashed, when there is one)."""
    eq = rep.equity
    times = [t.to_pydatetime() for t in eq.index]
    has_bench = rep.benchmark is not None
    return equity_figure(
        times, list(eq["equity"]), list(eq["drawdown"]),
        benchmark=list(eq["benchmark"]) if has_bench else None,
        benchmark_drawdown=list(eq["benchmark_drawdown"]) if has_bench else None,
        benchmark_name=rep.benchmark_name or "benchmark",
        title=title or f"Equity: {rep.source}",
        monthly=rep.monthly_returns if monthly else None,
    )


def figure_png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, dpi=100, format="png")
    return buf.getvalue()


# -- formatting ------------------------------------------------------------------------
def fmt_pct(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{100.0 * v:.2f}%"


def fmt_num(v: Any, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    if isinstance(v, float) and math.isnan(v):
        return "-"
    return f"{float(v):,.{digits}f}"


def fmt_duration(d: timedelta | None) -> str:
    if d is None:
        return "-"
    secs = int(d.total_seconds())
    days, rest = divmod(secs, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    return f"{days}d {hours}h" if days else f"{hours}h {minutes}m"


def performance_rows(rep: Report) -> list[tuple[str, str, str]]:
    """``(figure, strategy, benchmark)`` rows shared by the table and HTML outputs."""
    def both(fn: Any) -> tuple[str, str]:
        return fn(rep.performance), (fn(rep.benchmark) if rep.benchmark is not None else "-")

    def dd(p: Performance) -> str:
        return fmt_duration(p.max_drawdown_duration) + ("" if p.max_drawdown_recovered else " (not recovered)")

    rows: list[tuple[str, Any]] = [
        ("initial equity", lambda p: fmt_num(p.initial_equity)),
        ("final equity", lambda p: fmt_num(p.final_equity)),
        ("total return", lambda p: fmt_pct(p.total_return)),
        ("CAGR", lambda p: fmt_pct(p.cagr)),
        ("volatility (annualised)", lambda p: fmt_pct(p.volatility)),
        ("Sharpe", lambda p: fmt_num(p.sharpe)),
        ("Sortino", lambda p: fmt_num(p.sortino)),
        ("max drawdown", lambda p: fmt_pct(p.max_drawdown)),
        ("max drawdown duration", dd),
        ("Calmar", lambda p: fmt_num(p.calmar)),
    ]
    return [(name, *both(fn)) for name, fn in rows]


def trade_rows(rep: Report) -> list[tuple[str, str]]:
    """``(figure, value)`` rows of the trade statistics."""
    return [
        ("round trips", str(rep.round_trips)),
        ("win rate", fmt_pct(rep.win_rate)),
        ("profit factor", fmt_num(rep.profit_factor)),
        ("average win", fmt_num(rep.avg_win)),
        ("average loss", fmt_num(rep.avg_loss)),
        ("fills", str(rep.fills)),
        ("traded notional", fmt_num(rep.traded_notional)),
        ("turnover", fmt_num(rep.turnover)),
        ("exposure (time in market)", fmt_pct(rep.exposure)),
        ("average gross exposure", fmt_pct(rep.avg_gross_exposure)),
        ("realized P&L", fmt_num(rep.realized_pnl)),
        ("unrealized P&L", fmt_num(rep.unrealized_pnl)),
        ("fees paid", fmt_num(rep.fees)),
        ("slippage paid", fmt_num(rep.slippage)),
    ]


# -- HTML --------------------------------------------------------------------------------
_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
p.meta{color:#666;margin-top:0} table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{padding:4px 10px;border-bottom:1px solid #eee;text-align:right} th{background:#f6f6f6}
td:first-child,th:first-child{text-align:left} .pos{color:#1a7f37} .neg{color:#c62828}
.grid{display:flex;gap:32px;flex-wrap:wrap} img{max-width:100%}
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], classes: Sequence[Sequence[str]] | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cells = []
        for j, cell in enumerate(row):
            cls = classes[i][j] if classes else ""
            attr = f' class="{cls}"' if cls else ""
            cells.append(f"<td{attr}>{html.escape(str(cell))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _sign(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    return "pos" if v > 0 else "neg" if v < 0 else ""


def monthly_table_html(rep: Report) -> str:
    table = rep.monthly_returns
    headers = ["year", *MONTHS, "Year"]
    rows, classes = [], []
    for year, row in table.iterrows():
        values = [row[c] for c in (*MONTHS, "Year")]
        rows.append([str(year), *[fmt_pct(v) if not math.isnan(v) else "" for v in values]])
        classes.append(["", *[_sign(v) for v in values]])
    return _table(headers, rows, classes)


def render_html(rep: Report) -> str:
    """The whole report as one HTML document (charts inline as base64 PNG)."""
    png = base64.b64encode(figure_png(report_figure(rep))).decode("ascii")
    bench = rep.benchmark_name or "none"
    perf = _table(("figure", "strategy", f"benchmark ({bench})"), performance_rows(rep))
    trades_stats = _table(("figure", "value"), trade_rows(rep))
    sym = rep.per_symbol
    sym_rows = [[r.symbol, r.fills, fmt_num(r.traded_notional), fmt_num(r.qty, 4), fmt_num(r.last_price, 4),
                 fmt_num(r.realized_pnl), fmt_num(r.unrealized_pnl), fmt_num(r.fees), fmt_num(r.pnl)]
                for r in sym.itertuples()]
    sym_cls = [["", "", "", "", "", _sign(r.realized_pnl), _sign(r.unrealized_pnl), "", _sign(r.pnl)]
               for r in sym.itertuples()]
    per_symbol = _table(("symbol", "fills", "traded", "qty", "last price", "realized", "unrealized", "fees",
                         "P&L"), sym_rows, sym_cls)
    tr = rep.trades
    trade_list = [[r.symbol, r.direction, r.opened_at.strftime("%Y-%m-%d %H:%M"),
                   r.closed_at.strftime("%Y-%m-%d %H:%M"), fmt_duration(r.duration), fmt_num(r.qty, 4),
                   fmt_num(r.entry_price, 4), fmt_num(r.exit_price, 4), fmt_num(r.fees), fmt_num(r.pnl),
                   fmt_pct(r.return_pct)] for r in tr.itertuples()]
    trade_cls = [[""] * 9 + [_sign(r.pnl), _sign(r.return_pct)] for r in tr.itertuples()]
    trades = _table(("symbol", "side", "opened (UTC)", "closed (UTC)", "held", "qty", "entry", "exit", "fees",
                     "P&L", "return"), trade_list, trade_cls) if trade_list else "<p>No round trips.</p>"
    meta = (f"{rep.start:%Y-%m-%d %H:%M} to {rep.end:%Y-%m-%d %H:%M} UTC &middot; priced from "
            f"{html.escape(rep.pricing)}" + (f" &middot; {html.escape(rep.currency)}" if rep.currency else ""))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Performance report: {html.escape(rep.source)}</title>
<style>{_CSS}</style></head><body>
<h1>Performance report</h1>
<p class="meta">{html.escape(rep.source)} &middot; {meta}</p>
<img alt="equity against the benchmark, and drawdown" src="data:image/png;base64,{png}">
<div class="grid"><div><h2>Performance</h2>{perf}</div><div><h2>Trading</h2>{trades_stats}</div></div>
<h2>Monthly returns</h2>{monthly_table_html(rep)}
<h2>P&amp;L by symbol</h2>{per_symbol}
<h2>Round trips ({rep.round_trips})</h2>{trades}
</body></html>
"""


__all__ = ["equity_figure", "figure_png", "performance_rows", "render_html", "report_figure", "trade_rows"]
