"""``run --plot FILE.png``: equity curve and drawdown, drawn with matplotlib (extra ``plot``).

The chart is the one the HTML report draws (``monitoring.report_html.equity_figure``).

matplotlib is imported only here, and only when a plot is asked for. The
figure is drawn on matplotlib's ``Figure`` object (the Agg renderer, no GUI,
no global pyplot state), so it works on headless machines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from LIVE_TRADING.pipeline import RunResult, drawdowns

INSTALL_HINT = 'pip install "live-trading[plot]"'


class PlotUnavailableError(RuntimeError):
    """matplotlib is not installed."""


def require_matplotlib(what: str = "--plot") -> None:
    """Raise ``PlotUnavailableError`` (naming the install command) unless matplotlib imports."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    except ImportError as exc:
        raise PlotUnavailableError(f"{what} needs matplotlib, which is not installed: {INSTALL_HINT}") from exc


def save_equity_plot(result: RunResult, path: str | Path, title: str = "Equity", report: Any = None) -> Path:
    """Write the equity curve (top) and drawdown in percent (bottom) of ``result`` to ``path`` (PNG).

    With ``report`` (a ``monitoring.report.Report`` of the run) the chart also
    shows its benchmark and the monthly-returns table.
    """
    from LIVE_TRADING.monitoring.report_html import equity_figure, report_figure

    if report is not None:
        fig = report_figure(report, monthly=True, title=title)
    else:
        times: list[Any] = [t for t, _ in result.equity_curve]
        values = [v for _, v in result.equity_curve]
        if result.initial_equity is not None and result.started_at is not None:
            times.insert(0, result.started_at)
            values.insert(0, result.initial_equity)
        fig = equity_figure(times, values, drawdowns(values), title=title)
    out = Path(path)
    fig.savefig(out, dpi=100, format="png")
    return out


__all__ = ["INSTALL_HINT", "PlotUnavailableError", "require_matplotlib", "save_equity_plot"]
