"""``live-trading report``: the performance report of an account (table, JSON or HTML).

::

    live-trading report                                  # the configured venue's account, as tables
    live-trading report --benchmark buy-and-hold --format html --output report.html
    live-trading report --account default --benchmark SPY --format json

The account is a journal directory: on paper the account chosen by the
global ``--account NAME`` (default ``paper.account``) under ``paper.log_dir``
(a path to a journal directory works too); on a live venue its ``log_dir``, or with ``--account NAME``
the account's directory ``NAME`` under it (only that account's journal is read). On paper the account is the
latest run in the directory (what a resumed paper broker continues); on a
live venue every run in it (each process journals a run of the same venue
account), and ``--initial-cash`` is needed: live journals do not record it.
The report reads the journal and
writes nothing to it (no broker is opened). Positions are priced from bar
closes of the venue's data provider (on paper: ``paper.data_provider``, else
``data.provider``; the ``sim`` market anchored where the account's run
started, as one-shot commands do) and fall back to fill prices when no
history can be had; the report says which.
"""

from __future__ import annotations

import argparse
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from CONFIG.config_loader import get_cfg
from LIVE_TRADING.brokers.interface import SupportsClose
from LIVE_TRADING.cli.errors import UsageError
from LIVE_TRADING.cli.render import Output, money, to_json
from LIVE_TRADING.common.exceptions import ConfigError, DataProviderError

logger = logging.getLogger(__name__)

REPORT_FORMATS = ("table", "json", "html")


def add_report_parser(add: Any) -> argparse.ArgumentParser:
    """Register ``report`` with the CLI's ``add(name, help, description)``."""
    p: argparse.ArgumentParser = add(
        "report", "performance report of an account: returns, risk, trades, benchmark",
        "Performance report of an account, read from its journal: total return, CAGR, volatility, Sharpe, "
        "Sortino, max drawdown and its duration, Calmar, win rate, profit factor, round trips, turnover, "
        "exposure, fees and slippage, P&L by symbol, and a benchmark beside it. Writes nothing to the account.",
    )
    p.add_argument("--benchmark", metavar="buy-and-hold|SYMBOL",
                   help="compare with buying and holding the traded symbols, or one symbol")
    p.add_argument("--format", dest="fmt", choices=REPORT_FORMATS, default=None,
                   help="table (default), json or html (self-contained file with charts)")
    p.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument("--initial-cash", type=float, metavar="X",
                   help="starting cash, for journals that do not record it (live venues)")
    return p


def account_dir(venue: str, name: str | None) -> Path:
    """The journal directory to report on: the account of the global ``--account`` (``session.venue_account_dir``).

    ``name`` may also be a path to a journal directory.
    """
    if name is not None and (Path(name).expanduser().is_dir() or len(Path(name).parts) > 1):
        return Path(name).expanduser()
    from LIVE_TRADING.cli import session

    return session.venue_account_dir(venue)


def history_provider(venue: str, anchor: datetime | None) -> Any:
    """The provider whose bars price the account (None: fill prices only); never opens a broker.

    ``anchor``: when the account's run started, where its ``sim`` market started too.
    """
    from LIVE_TRADING.cli.session import SIMULATED_PROVIDERS, paper_provider_name
    from LIVE_TRADING.data.provider import get_data_provider

    if venue == "paper":
        name = paper_provider_name()
        if name == "sim" and get_cfg("live_trading.data.sim.start_time", default=None) is None:
            return get_data_provider("sim", start_time=anchor) if anchor is not None else get_data_provider("sim")
        return get_data_provider(name)
    name = get_cfg("live_trading.data.provider", default="sim")
    if isinstance(name, str) and name.strip().lower() not in SIMULATED_PROVIDERS:
        return get_data_provider(name)
    return None


def cmd_report(args: argparse.Namespace, out: Output, venue: str) -> int:
    from LIVE_TRADING.monitoring.report import load_account, report

    fmt = args.fmt or ("json" if out.json_mode else "table")
    if fmt == "html":
        from LIVE_TRADING.cli.plot import PlotUnavailableError, require_matplotlib

        try:
            require_matplotlib("--format html")
        except PlotUnavailableError as exc:
            raise UsageError(str(exc)) from None
    output = Path(args.output).expanduser() if args.output else None
    if output is not None and not output.parent.is_dir():
        raise UsageError(f"--output: directory {str(output.parent)!r} does not exist")
    path = account_dir(venue, args.account)
    if not path.is_dir():
        raise UsageError(f"no account at {path} (--account names a directory beside the venue's log_dir, or a path)")
    account = load_account(path, all_runs=venue != "paper")  # ConfigError when there is no journal
    try:
        provider = history_provider(venue, account.started_at)
    except (ConfigError, DataProviderError, ImportError) as exc:
        logger.warning("No data provider for prices (%s): valuing positions at fill prices", exc)
        provider = None
    try:
        rep = report(path, benchmark=args.benchmark, data_provider=provider, initial_cash=args.initial_cash,
                     all_runs=venue != "paper")
    finally:
        if isinstance(provider, SupportsClose):
            provider.close()
    if fmt == "json":
        text = to_json(rep.to_dict()) + "\n"
    elif fmt == "html":
        from LIVE_TRADING.monitoring.report_html import render_html

        text = render_html(rep)
    else:
        if output is None:
            print_report(out, rep)
            return 0
        from rich.console import Console

        with open(output, "w", encoding="utf-8") as fh:
            to_file = Output()
            to_file.out = Console(file=fh, width=140, highlight=False, soft_wrap=False)
            print_report(to_file, rep)
        out.note(f"report written to {output}")
        return 0
    if output is None:
        out.out.file.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        out.note(f"report written to {output}")
    return 0


def print_report(out: Output, rep: Any) -> None:
    """The report as tables: performance beside the benchmark, trading figures, P&L by symbol, round trips."""
    from LIVE_TRADING.monitoring.report_html import (
        fmt_duration,
        fmt_num,
        fmt_pct,
        performance_rows,
        trade_rows,
    )

    out.line(f"{rep.source}: {rep.start:%Y-%m-%d %H:%M} to {rep.end:%Y-%m-%d %H:%M} UTC, priced from {rep.pricing}")
    out.table(("figure", "strategy", f"benchmark ({rep.benchmark_name or 'none'})"), performance_rows(rep),
              title="Performance", right=("strategy", f"benchmark ({rep.benchmark_name or 'none'})"))
    out.table(("figure", "value"), trade_rows(rep), title="Trading", right=("value",))
    months = rep.monthly_returns
    if len(months):
        cols = [str(c) for c in months.columns]
        out.table(("year", *cols), [(str(y), *[fmt_pct(v) if v == v else "" for v in row])
                                    for y, row in zip(months.index, months.itertuples(index=False), strict=True)],
                  title="Monthly returns", right=cols)
    if len(rep.per_symbol):
        out.table(
            ("symbol", "fills", "traded", "qty", "realized", "unrealized", "fees", "P&L"),
            [(r.symbol, r.fills, money(r.traded_notional), fmt_num(r.qty, 4), money(r.realized_pnl),
              money(r.unrealized_pnl), money(r.fees), money(r.pnl)) for r in rep.per_symbol.itertuples()],
            title="P&L by symbol", right=("fills", "traded", "qty", "realized", "unrealized", "fees", "P&L"),
        )
    if len(rep.trades):
        out.table(
            ("symbol", "side", "opened (UTC)", "closed (UTC)", "held", "qty", "entry", "exit", "P&L", "return"),
            [(r.symbol, r.direction, f"{r.opened_at:%Y-%m-%d %H:%M}", f"{r.closed_at:%Y-%m-%d %H:%M}",
              fmt_duration(r.duration), fmt_num(r.qty, 4), fmt_num(r.entry_price, 4), fmt_num(r.exit_price, 4),
              money(r.pnl), fmt_pct(r.return_pct)) for r in rep.trades.itertuples()],
            title=f"Round trips ({rep.round_trips})",
            right=("held", "qty", "entry", "exit", "P&L", "return"),
        )


__all__ = ["REPORT_FORMATS", "account_dir", "add_report_parser", "cmd_report", "history_provider", "print_report"]
