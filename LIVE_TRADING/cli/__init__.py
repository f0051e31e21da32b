"""The ``live-trading`` command line (also ``python -m LIVE_TRADING``).

::

    live-trading init [PATH]               # a starter config (with comments) and its paper account
    live-trading run                       # offline paper session: sim quotes, MA crossover, summary table
    live-trading run --steps 200 --strategy equal_weight --plot equity.png
    live-trading run --strategy mymodule:MyStrategy   # your own Strategy subclass
    live-trading quote AAPL MSFT
    live-trading order AAPL BUY 10 [--limit 99.5] [--stop 101] [--tif day] [--client-id my-1] [--dry-run]
    live-trading orders | positions | fills [--since 2026-01-05] | cash
    live-trading fills --format csv|json|parquet --output fills.csv   # also: orders --all --format ...
    live-trading data fetch AAPL MSFT --period 1y --bar 1d [--format parquet --output bars.parquet]
    live-trading report --benchmark buy-and-hold --format html --output report.html
    live-trading cancel ORDER_ID | cancel --all [--symbol S] [--dry-run]
    live-trading flatten [--dry-run]      # close every position with market orders
    live-trading reset                     # a fresh paper account (the old one is kept, renamed)
    live-trading check-config              # every config problem at once; live venues: read-only check
    live-trading config schema | show      # the config's JSON Schema / the effective config, secrets masked
    live-trading health                    # the broker's call metrics, the journal's counts, the verdict
    live-trading accounts                  # paper accounts: created, last active, records, cash, equity
    live-trading journal verify|repair     # check a paper account's journal / move a torn tail aside
    live-trading serve [--port 9108]       # /health, /health/detailed, /metrics (Prometheus) until Ctrl-C
    live-trading run --serve 9108          # the same, for the run's broker, while it runs

Global options (before or after the command): ``--config PATH`` (sets
``LIVE_TRADING_CONFIG`` for this process), ``--venue NAME`` (overrides
``live_trading.venue``), ``--json`` (machine-readable output), ``--wide``
(whole ids in tables), ``--yes`` (do not ask before acting on a live venue),
``--debug`` (tracebacks and debug logging).

Also ``--account NAME`` (the paper account, default ``paper.account``; on a
live venue the journal directory ``NAME`` under its ``log_dir``) and
``--lock-timeout S`` (how long to wait for another process using it).

Every command that touches an account says which one on stderr, once
(``account: NAME at PATH``). Exit codes: see ``LIVE_TRADING.cli.errors``
(0 ok, 1 trading or venue failure, 2 usage or config error, 3 account
locked, 130 interrupted).
"""

from __future__ import annotations

import argparse
import math
import os
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from CONFIG.schema import BARS
from LIVE_TRADING import __version__
from LIVE_TRADING.cli.data import add_data_parser
from LIVE_TRADING.cli.errors import EXIT_INTERRUPTED, EXIT_USAGE, UsageError, exit_code_for
from LIVE_TRADING.cli.exports import add_export_options
from LIVE_TRADING.cli.render import PROG, Output, error_line
from LIVE_TRADING.cli.report import add_report_parser

_BARS = ("1m", "2m", "5m", "15m", "30m", "60m", "90m", "1h", "1d", "5d", "1wk", "1mo", "3mo")
_TIFS = ("gtc", "day", "ioc", "fok")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors raised as ``UsageError`` (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# -- argument types ------------------------------------------------------------------
def _number(text: str, *, positive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise argparse.ArgumentTypeError(f"must be a number {'> 0' if positive else '>= 0'}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    return _number(text, positive=True)


def nonneg_float(text: str) -> float:
    return _number(text, positive=False)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return value


def symbol(text: str) -> str:
    value = text.strip().upper()
    if not value:
        raise argparse.ArgumentTypeError("must be a non-empty symbol")
    return value


def side(text: str) -> str:
    value = text.strip().upper()
    if value not in ("BUY", "SELL"):
        raise argparse.ArgumentTypeError(f"must be BUY or SELL, got {text!r}")
    return value


def _symbols(values: list[str] | None) -> list[str] | None:
    """``--symbols A B`` and ``--symbols A,B`` both work."""
    if values is None:
        return None
    out = [s.strip().upper() for v in values for s in v.split(",") if s.strip()]
    if not out:
        raise UsageError("--symbols needs at least one symbol")
    return out


# -- parser ---------------------------------------------------------------------------
def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    flag_default: Any = argparse.SUPPRESS if suppress else False
    parser.add_argument("--config", metavar="PATH", default=default,
                        help="config file (default: $LIVE_TRADING_CONFIG, else the packaged defaults)")
    parser.add_argument("--venue", metavar="NAME", default=default,
                        help="paper, binance or ibkr (overrides live_trading.venue)")
    parser.add_argument("--account", metavar="NAME", default=default,
                        help="account: on paper a directory under paper.log_dir (default: paper.account, 'default'); "
                             "on binance/ibkr its journal, a directory under the venue's log_dir (default: the "
                             "log_dir itself)")
    parser.add_argument("--lock-timeout", type=nonneg_float, metavar="S", default=default,
                        help="seconds to wait for another process using the account (default: journal.lock_timeout_s)")
    parser.add_argument("--json", action="store_true", default=flag_default, help="print results as JSON")
    parser.add_argument("--wide", action="store_true", default=flag_default,
                        help="show whole ids in tables (they are shortened to fit the terminal)")
    parser.add_argument("-y", "--yes", action="store_true", default=flag_default,
                        help="do not ask for confirmation (live-venue runs, flatten, reset)")
    parser.add_argument("--debug", action="store_true", default=flag_default,
                        help="show tracebacks and debug logging")


def build_parser() -> argparse.ArgumentParser:
    from LIVE_TRADING.pipeline.strategies import STRATEGIES

    parser = _Parser(
        prog=PROG,
        description="Trade through one Broker interface: the offline paper simulator, Binance or IBKR. "
        "The venue comes from the config (live_trading.venue) or --venue.",
        epilog="Exit codes: 0 ok, 1 trading or venue failure, 2 usage or config error, 3 account locked, "
        "130 interrupted. Start with: live-trading run",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _global_options(parser, suppress=False)
    common = _Parser(add_help=False)
    _global_options(common, suppress=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, help_text: str, description: str | None = None) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=description or help_text, parents=[common])

    run = add(
        "run", "run the reference trading loop (offline paper session by default)",
        "Run the reference loop: each step pulls quotes, asks the strategy for target positions, "
        "places the orders that get there (sells first), and records equity. On venue paper with the sim "
        "or replay data provider the run is simulated (a fresh account, one bar of simulated time per step, "
        "no waiting) and ends at the current time, so 'positions' afterwards shows where it ended; elsewhere "
        "it runs on the real clock, one step per --interval-s. Defaults come from live_trading.pipeline. "
        "Ctrl-C stops cleanly: the run's open orders are cancelled (unless --keep-open) and the summary printed.",
    )
    run.add_argument("--steps", type=positive_int, help="number of steps (default: pipeline.steps, 100)")
    run.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="symbols to trade (default: pipeline.symbols)")
    run.add_argument("--strategy", metavar="NAME|MODULE:CLASS",
                     help=f"strategy: {', '.join(sorted(STRATEGIES))}, or your own Strategy class as "
                          "module:Class or path/to/file.py:Class (default: pipeline.strategy)")
    run.add_argument("--param", action="append", metavar="KEY=VALUE",
                     help="strategy parameter, repeatable: ma_crossover fast, slow, cash_buffer; "
                          "equal_weight cash_buffer, every")
    run.add_argument("--bar", choices=BARS, help="bar length: one step per bar (default: pipeline.bar, 1h)")
    run.add_argument("--interval-s", type=nonneg_float, metavar="S",
                     help="real seconds between steps (default: none when simulated, else one bar)")
    run.add_argument("--min-trade-value", type=nonneg_float, metavar="V",
                     help="skip trades worth less (default: pipeline.min_trade_value)")
    run.add_argument("--qty-step", type=positive_float, metavar="Q",
                     help="round trades toward zero to a multiple of Q, e.g. 1 for whole shares")
    run.add_argument("--order-type", choices=("market", "limit"), help="market, or limit at the touch")
    run.add_argument("--keep-open", action="store_true", help="leave the run's open orders working when it stops")
    run.add_argument("--seed", type=int, help="sim data provider seed (default: data.sim.seed)")
    run.add_argument("--plot", metavar="FILE.png", help='save an equity and drawdown chart (needs "live-trading[plot]")')
    run.add_argument("--dry-run", action="store_true",
                     help="print the plan (targets, the orders of the first step, their notional) and stop")
    run.add_argument("--allow-failures", type=nonneg_int, default=0, metavar="N",
                     help="exit 0 even if up to N steps or orders failed (default 0: any failure exits 1)")

    quote = add("quote", "show quotes")
    quote.add_argument("symbols", nargs="+", type=symbol, metavar="SYMBOL")

    order = add(
        "order", "place an order",
        "Place an order. Market by default; --limit makes it a limit order, --stop a stop, both a stop-limit. "
        "On paper the account persists between commands through the journal.",
    )
    order.add_argument("symbol", type=symbol, metavar="SYMBOL")
    order.add_argument("side", type=side, metavar="BUY|SELL")
    order.add_argument("qty", type=positive_float, metavar="QTY")
    order.add_argument("--limit", type=positive_float, metavar="P", help="limit price")
    order.add_argument("--stop", type=positive_float, metavar="P", help="stop (trigger) price")
    order.add_argument("--tif", choices=_TIFS, default="gtc", help="time in force (default gtc)")
    order.add_argument("--client-id", metavar="ID", help="client order id: the same id twice places one order")
    order.add_argument("--dry-run", action="store_true", help="check the order and show its notional; send nothing")

    cancel = add("cancel", "cancel an open order (or --all of them)",
                 "Cancel an open order by id (a short id as tables show it, e.g. ...3ca19157-2, works when it is "
                 "the unique ending of an open order's id), or every open order with --all.")
    cancel.add_argument("order_id", nargs="?", metavar="ORDER_ID")
    cancel.add_argument("--all", action="store_true", help="cancel every open order")
    cancel.add_argument("--symbol", type=symbol, metavar="SYMBOL", help="with --all: only this symbol's orders")
    cancel.add_argument("--dry-run", action="store_true", help="show what would be cancelled; cancel nothing")
    flatten = add("flatten", "close every position with market orders (asks first on a live venue)")
    flatten.add_argument("--dry-run", action="store_true", help="show the closing orders; send nothing")
    reset = add("reset", "start a fresh paper account (the old one is kept, renamed; asks first)")
    reset.add_argument("--initial-cash", type=nonneg_float, metavar="CASH", help="cash of the new account")
    init = add("init", "write a starter config (with comments) and create its paper account",
               "Write a starter config file (the packaged defaults, every key commented) and create its paper "
               "account next to it. Refuses to overwrite an existing file.")
    init.add_argument("path", nargs="?", default="live_trading.yaml", metavar="PATH",
                      help="where to write the config (default: ./live_trading.yaml)")
    orders = add("orders", "list open orders (--all: every order the venue keeps); export them")
    orders.add_argument("--all", action="store_true", help="every order the venue keeps, not only open ones")
    add_export_options(orders, since=True)
    add("positions", "list positions (with P&L where the venue reports it)")
    fills = add("fills", "list fills; export them")
    add_export_options(fills, since=True)
    add("cash", "show cash (and account summary where the venue reports it)")
    add("check-config", "validate the config (every problem at once); live venues: read-only connection check")
    config = add("config", "print the config's JSON Schema, or the effective config (secrets masked)")
    config_sub = config.add_subparsers(dest="config_command", metavar="schema|show", parser_class=_Parser,
                                       required=True)
    config_sub.add_parser("schema", help="the JSON Schema of the config file (for editors)", parents=[common])
    config_sub.add_parser("show", help="the effective config: the file with every default, secrets masked",
                          parents=[common])
    health = add("health", "probe the venue with read-only calls and show the broker's metrics and verdict",
                 "Probe the venue with read-only calls and show the broker's metrics and verdict. "
                 "Exit code 1 when unhealthy.")
    health.add_argument("--symbols", nargs="+", type=symbol, metavar="SYMBOL", help="also time a quote for these")
    add("accounts", "list the paper accounts: created, last active, records, cash, equity (reads only)")
    journal = add("journal", "check or repair a paper account's journal",
                  "verify: check seq, checksums and segments, recompute cash and positions from the fills and "
                  "compare them with every snapshot (exit 1 on a problem). repair: move a torn last record "
                  "aside (the only repair that is safe) and say what was done.")
    journal.add_argument("action", choices=("verify", "repair"))
    add_report_parser(add)
    add_data_parser(add, common, _Parser)
    from LIVE_TRADING.cli.serve import add_arguments as add_serve_arguments

    add_serve_arguments(add, run)
    return parser


# -- dispatch ---------------------------------------------------------------------------
def _handlers() -> dict[str, Any]:
    from LIVE_TRADING.cli import accounts, commands
    from LIVE_TRADING.cli.data import cmd_data
    from LIVE_TRADING.cli.report import cmd_report
    from LIVE_TRADING.cli.run import cmd_run
    from LIVE_TRADING.cli.serve import cmd_serve

    return {
        "run": cmd_run,
        "quote": commands.cmd_quote,
        "order": commands.cmd_order,
        "cancel": commands.cmd_cancel,
        "orders": commands.cmd_orders,
        "positions": commands.cmd_positions,
        "fills": commands.cmd_fills,
        "cash": commands.cmd_cash,
        "health": commands.cmd_health,
        "flatten": commands.cmd_flatten,
        "reset": commands.cmd_reset,
        "accounts": accounts.cmd_accounts,
        "journal": accounts.cmd_journal,
        "report": cmd_report,
        "serve": cmd_serve,
        "data": cmd_data,
    }


def _config_message(exc: Exception) -> str:
    from LIVE_TRADING.common.exceptions import ConfigError

    problems = (exc.problems if isinstance(exc, ConfigError) else None) or [str(exc)]
    if len(problems) == 1:
        return f"config error: {problems[0]}"
    return f"{len(problems)} config problems (run '{PROG} check-config' for the list): " + "; ".join(problems)


def _report(exc: BaseException, debug: bool) -> int:
    """Print the one line for ``exc`` (and its traceback with ``--debug``); return its exit code."""
    from LIVE_TRADING.common.exceptions import ConfigError, LiveTradingError

    code = exit_code_for(exc)
    if isinstance(exc, KeyboardInterrupt):
        error_line("interrupted")
    elif isinstance(exc, ConfigError):
        error_line(_config_message(exc))
    elif isinstance(exc, ImportError):
        error_line(f"cannot load what this command needs: {exc}")
    elif isinstance(exc, UsageError | LiveTradingError):
        error_line(str(exc))
    else:
        error_line(f"unexpected {type(exc).__name__}: {exc}" + ("" if debug else " (run with --debug for details)"))
    if debug:
        traceback.print_exception(exc)
    return code


#: commands that open an account (they say which one on stderr)
ACCOUNT_COMMANDS = frozenset({"run", "quote", "order", "cancel", "orders", "positions", "fills", "cash", "health", "journal",
                              "flatten", "reset", "report"})


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    from CONFIG.config_loader import ENV_VAR, load_config, reload_config
    from LIVE_TRADING.cli.logs import setup_logging

    parser = build_parser()
    debug = False
    log = None
    try:
        args = parser.parse_args(argv)
        debug = bool(args.debug)
        log = setup_logging(debug, hold=args.command != "run")
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        if args.config:
            os.environ[ENV_VAR] = str(Path(args.config).expanduser().resolve())
            reload_config()
        out = Output(json_mode=args.json, wide=args.wide)
        if args.command == "init":
            from LIVE_TRADING.cli.setup import cmd_init

            return cmd_init(args, out)
        if args.command == "check-config":
            from LIVE_TRADING.cli.checks import cmd_check_config

            return cmd_check_config(args, out, args.venue)
        if args.command == "config":
            from LIVE_TRADING.cli.config_cmd import cmd_config

            return cmd_config(args, out)
        load_config()  # a malformed file fails here, before anything else
        from LIVE_TRADING.cli import session
        from LIVE_TRADING.cli.session import announce_account_when_opened, resolve_venue

        session.options.account = args.account
        session.options.lock_timeout_s = args.lock_timeout

        venue = resolve_venue(args.venue)
        if args.command == "run":
            args.symbols = _symbols(args.symbols)
        if args.command in ACCOUNT_COMMANDS:
            announce_account_when_opened(out)
        code = int(_handlers()[args.command](args, out, venue))
        if log is not None:
            log.finish()
        return code
    except (Exception, KeyboardInterrupt) as exc:  # every failure becomes one line and an exit code
        if log is not None:
            log.finish(str(exc))
        return _report(exc, debug)
    finally:
        if log is not None:
            log.close_handler()


__all__ = ["ACCOUNT_COMMANDS", "EXIT_INTERRUPTED", "build_parser", "main"]
