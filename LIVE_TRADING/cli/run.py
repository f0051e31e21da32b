"""``live-trading run``: the reference loop with a progress bar, a summary and an optional chart.

Before trading on a live venue (anything but paper, testnets included) the
run prints its plan — the strategy's targets at the first step, the orders
that would place them and their notional — and goes on only with ``--yes``,
``live_trading.confirm: false`` or a "y" typed at the terminal.
``--dry-run`` prints the same plan on any venue and stops there.

Exit codes: 0 the run completed; 1 a step or an order failed (more than
``--allow-failures N`` of them) or the run stopped after repeated errors; 2
usage or config error, or the plan was not confirmed; 130 stopped by Ctrl-C
(or SIGTERM) after a clean stop, the summary still printed and the journal
consistent (every record written before its call returned).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import logging
import math
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from LIVE_TRADING.brokers.interface import SupportsAccountSummary, SupportsQuotes, supports, venue_broker
from LIVE_TRADING.cli.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, UsageError
from LIVE_TRADING.cli.plot import PlotUnavailableError, require_matplotlib, save_equity_plot
from LIVE_TRADING.cli.progress import progress_bar
from LIVE_TRADING.cli.render import Output, amount, error_line, money, pct, price, qty, signed_money, when
from LIVE_TRADING.cli.safety import (
    DryRunBroker,
    confirm,
    confirmation_required,
    is_live,
    print_planned_orders,
)
from LIVE_TRADING.cli.session import RunSession, announce_opened, open_run_session
from LIVE_TRADING.common.exceptions import UnknownSymbolError
from LIVE_TRADING.common.heap import freeze_startup_heap
from LIVE_TRADING.data.provider import require_known
from LIVE_TRADING.data.quotes import mid_price
from LIVE_TRADING.pipeline import PipelineConfig, RunResult, StepInfo, rebalance, run_loop, warm_history
from LIVE_TRADING.pipeline.loop import _fetch_quotes
from LIVE_TRADING.pipeline.strategies import Strategy, load_strategy

logger = logging.getLogger(__name__)


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``--param KEY=VALUE`` pairs; values are read as int, float, true/false, or kept as text."""
    params: dict[str, Any] = {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--param must look like KEY=VALUE, got {item!r}")
        value: Any = raw.strip()
        low = value.lower()
        if low in ("true", "false"):
            value = low == "true"
        else:
            for cast in (int, float):
                try:
                    value = cast(value)
                    break
                except ValueError:
                    continue
        params[key] = value
    return params


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Let ``kill <pid>`` stop a run as cleanly as Ctrl-C does."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _load_strategy(spec: str, params: dict[str, Any]) -> Strategy:
    try:
        return load_strategy(spec, **params)
    except (ValueError, TypeError, ImportError, SyntaxError) as exc:
        raise UsageError(f"--strategy {spec}: {exc}") from None


def cmd_run(args: argparse.Namespace, out: Output, venue: str) -> int:
    custom = args.strategy is not None and ":" in args.strategy
    overrides = {
        "symbols": args.symbols,
        "strategy": None if custom else args.strategy,
        "steps": args.steps,
        "bar": args.bar,
        "interval_s": args.interval_s,
        "min_trade_value": args.min_trade_value,
        "qty_step": args.qty_step,
        "order_type": args.order_type,
        "cancel_open_on_exit": False if args.keep_open else None,
    }
    cfg = PipelineConfig.from_config(**overrides)
    strategy = _load_strategy(args.strategy if custom else cfg.strategy, parse_params(args.param))
    plot_path = _check_plot_path(args.plot) if args.plot else None

    scratch = tempfile.TemporaryDirectory(prefix="live-trading-dry-run-") if args.dry_run else None
    session = open_run_session(venue, cfg, seed=args.seed, log_dir=scratch.name if scratch else None)
    if scratch is None or venue != "paper":  # a paper dry run uses a throw-away account: nothing to name
        announce_opened(venue)
    try:
        _check_symbols(session, cfg)
        if session.note:
            out.note(session.note)
        if args.dry_run or is_live(venue):
            plan = make_plan(session, cfg, strategy)
            if args.dry_run:
                _show_plan(out, plan, venue, cfg, json_too=True)
                return EXIT_OK
            if not out.json_mode:
                _show_plan(out, plan, venue, cfg, json_too=False)
            confirm(out, f"Run {strategy!r} on {venue} for {session.steps} step(s), starting with these orders?",
                    yes=args.yes, needed=confirmation_required())
        if not session.simulated and not out.json_mode:
            out.note(f"Real-time run on {venue}: {session.steps} steps, one every {session.interval_s:g} s "
                     "(--interval-s to change). Ctrl-C stops cleanly.")
        freeze_startup_heap()  # setup is done: the collector leaves the start-up objects alone from here on
        with _monitoring(args, session), _progress(out, session.steps) as on_step, _sigterm_as_interrupt():
            result = run_loop(
                session.broker, session.provider, strategy, session.steps,
                symbols=cfg.symbols, order_type=cfg.order_type, min_trade_value=cfg.min_trade_value,
                qty_step=cfg.qty_step,
                bar=cfg.bar, history_provider=session.history_provider, advance=session.advance,
                interval_s=session.interval_s, cancel_open_on_exit=cfg.cancel_open_on_exit, on_step=on_step,
            )
        plot_report = _plot_report(result, session.history_provider) if plot_path is not None else None
    finally:
        session.close()
        if scratch is not None:
            scratch.cleanup()

    if plot_path is not None:
        save_equity_plot(result, plot_path, title=f"{strategy!r} on {venue} ({', '.join(cfg.symbols)})",
                         report=plot_report)
    if out.json_mode:
        out.json(_as_json(result, session, cfg, strategy, plot_path))
    else:
        _print_summary(out, result, session, cfg, strategy, plot_path)
    return _exit_code(result, args.allow_failures)


def _exit_code(result: RunResult, allowed: int) -> int:
    """130 interrupted; 1 stopped on errors or more than ``allowed`` failures (steps + orders); else 0."""
    where = (f"after {result.steps_done} of {result.steps_requested} steps"
             + (f", at {when(result.ended_at)} UTC" if result.ended_at else "")
             + (f"; journal {result.journal_path}, run id {result.run_id}" if result.journal_path else ""))
    if result.interrupted:
        error_line(f"interrupted {where} (stopped cleanly: every order and fill is in the journal)")
        return EXIT_INTERRUPTED
    if result.stop_reason == "errors":
        last = result.errors[-1] if result.errors else {"error": "?", "message": "?"}
        error_line(f"run stopped after repeated broker errors ({where}): {last['error']}: {last['message']}")
        return EXIT_FAILURE
    failures = len(result.errors) + len(result.failed)
    if failures > allowed:
        first = (result.failed or result.errors)[0]
        error_line(f"{failures} failure(s) during the run ({len(result.failed)} order(s), {len(result.errors)} "
                   f"step(s); --allow-failures {allowed}); first: {first.get('error')}: {first.get('message')}")
        return EXIT_FAILURE
    return EXIT_OK


def _check_symbols(session: RunSession, cfg: PipelineConfig) -> None:
    """Refuse a run whose symbols the quote source does not know (a typo), before anything is traded."""
    provider = session.provider
    if provider is None and isinstance(inner := venue_broker(session.broker), SupportsQuotes):
        provider = inner.data_provider
    if provider is None:
        return
    for sym in cfg.symbols:
        try:
            require_known(provider, sym)
        except UnknownSymbolError as exc:
            raise UsageError(f"--symbols: {exc.reason}") from None


def make_plan(session: RunSession, cfg: PipelineConfig, strategy: Strategy) -> dict[str, Any]:
    """What the first step would do, computed on a copy of the strategy and a ``DryRunBroker``: nothing is sent."""
    broker = session.broker
    syms = list(cfg.symbols)
    quotes = _fetch_quotes(broker, session.provider, syms, {s: s for s in syms})
    lookback = strategy.lookback
    source = session.history_provider if session.history_provider is not None else session.provider
    history = warm_history(source, syms, cfg.bar, lookback - 1, broker.now())
    for sym, quote in quotes.items():
        history.setdefault(sym, []).append(mid_price(quote))
    positions = dict(broker.get_positions())
    try:
        probe = copy.deepcopy(strategy)
    except Exception:  # a strategy that cannot be copied is not asked twice
        probe = None
    targets = dict(probe(quotes, positions, history)) if probe is not None else {}
    dry = DryRunBroker(broker)
    mode = strategy.mode
    rb = rebalance(dry, targets, mode=mode, order_type=cfg.order_type, min_trade_value=cfg.min_trade_value,
                   quotes=quotes, qty_step=cfg.qty_step) if targets else None
    return {"targets": targets, "mode": mode, "positions": positions, "open_orders": rb.pending if rb else {},
            "prices": {s: mid_price(q) for s, q in quotes.items()}, "orders": dry.planned,
            "skipped": rb.skipped if rb else [], "failed": rb.failed if rb else [],
            "notional": math.fsum(o["notional"] for o in dry.planned if o.get("notional") is not None),
            "lookback": lookback}


def _show_plan(out: Output, plan: dict[str, Any], venue: str, cfg: PipelineConfig, *, json_too: bool) -> None:
    if out.json_mode:
        if json_too:
            out.json({"dry_run": True, "venue": venue, **plan})
        return
    weights = plan["mode"] == "weights"
    if plan["targets"]:
        pending = plan["open_orders"]
        out.table(("symbol", "target", "held now", "open orders", "price"),
                  [(s, pct(t) if weights else qty(t), qty(plan["positions"].get(s, 0.0)),
                    ("+" if pending[s] > 0 else "") + qty(pending[s]) if s in pending else "", price(plan["prices"].get(s)))
                   for s, t in sorted(plan["targets"].items())],
                  title=f"Plan on {venue}: targets at the first step" + (" (of portfolio value)" if weights else "")
                  + (" (open orders count as filled)" if pending else ""),
                  right=("target", "held now", "open orders", "price"), no_wrap=("symbol",))
    else:
        out.line(f"Plan on {venue}: the strategy asks for no trade at the first step "
                 f"(it may need {plan['lookback']} bars of history first).")
    print_planned_orders(out, plan["orders"], "Orders the first step would place")
    for f in plan["failed"]:
        out.line(f"would fail: {f.get('symbol')}: {f.get('message')}")


def _monitoring(args: argparse.Namespace, session: RunSession) -> contextlib.AbstractContextManager[Any]:
    """``--serve PORT``: the monitoring endpoints for the run's broker while it runs."""
    if getattr(args, "serve", None) is None:
        return contextlib.nullcontext()
    from LIVE_TRADING.cli.serve import serving

    return serving(session.venue, broker=session.broker, port=args.serve,
                   providers=(session.provider, session.history_provider))


def _plot_report(result: RunResult, provider: Any) -> Any:
    """The run's report against buy-and-hold for ``--plot`` (None when it cannot be made: plain chart)."""
    from LIVE_TRADING.common.exceptions import LiveTradingError
    from LIVE_TRADING.monitoring.report import report

    if not result.equity_curve or result.initial_equity is None:
        return None
    try:
        return report(result, benchmark="buy-and-hold", data_provider=provider)
    except (LiveTradingError, ValueError) as exc:
        logger.warning("No benchmark on the plot: %s", exc)
        return None


def _check_plot_path(text: str) -> Path:
    path = Path(text).expanduser()
    if path.suffix.lower() != ".png":
        raise UsageError(f"--plot must name a .png file, got {text!r}")
    if not path.parent.is_dir():
        raise UsageError(f"--plot: directory {str(path.parent)!r} does not exist")
    try:
        require_matplotlib()
    except PlotUnavailableError as exc:
        raise UsageError(str(exc)) from None
    return path


@contextlib.contextmanager
def _progress(out: Output, steps: int) -> Iterator[Any]:
    """The run's progress bar (``cli/progress.py``: a terminal only, never with ``--json``); yields ``on_step``."""
    with progress_bar(out, steps, "run") as update:

        def on_step(info: StepInfo) -> None:
            update(info.step, f"equity {money(info.equity)}" + (f"  [red]{info.error}[/]" if info.error else ""))

        yield on_step


def _data_label(session: RunSession) -> str:
    if session.venue != "paper":
        return "venue quotes" + (f", history from {session.data_name}" if session.data_name else "")
    return f"{session.data_name} ({'simulated time' if session.simulated else 'real time'})"


def _print_summary(
    out: Output, r: RunResult, session: RunSession, cfg: PipelineConfig, strategy: Any, plot: Path | None
) -> None:
    steps = f"{r.steps_done} of {r.steps_requested}"
    if r.stop_reason != "completed":
        steps += f" ({r.stop_reason})"
    pace = (f"one per {cfg.bar} bar of simulated time" if session.simulated
            else f"one every {session.interval_s:g} s, history in {cfg.bar} bars")
    if r.fees_by_currency and not supports(session.broker, SupportsAccountSummary):
        fees = ", ".join(amount(v, c or None) for c, v in sorted(r.fees_by_currency.items()))
    else:
        fees = money(r.fees)
    rejected = len(r.failed)
    out.fields(
        [
            ("venue", session.venue),
            ("data", _data_label(session)),
            ("strategy", repr(strategy)),
            ("symbols", ", ".join(cfg.symbols)),
            ("steps", f"{steps}, {pace}"),
            ("period (UTC)", f"{when(r.started_at)} -> {when(r.ended_at)}"),
            ("orders", f"{len(r.orders)} placed, {r.count('filled')} filled, {rejected} failed, "
                       f"{len(r.skipped)} trades skipped (below {money(cfg.min_trade_value)} or no cash)"),
            ("fills", len(r.fills)),
            ("fees", fees),
            ("realized P&L", signed_money(r.realized_pnl)),
            ("unrealized P&L", signed_money(r.unrealized_pnl)),
            ("equity", f"{money(r.initial_equity)} -> {money(r.final_equity)} ({pct(r.total_return)})"),
            ("max drawdown", f"{pct(r.max_drawdown)} ({money(r.max_drawdown_value)})"),
            ("cash", money(r.cash)),
            ("open orders at exit", f"{len(r.cancelled)} cancelled, {len(r.left_open)} left open"),
            ("step errors", len(r.errors)),
            ("journal", r.journal_path or "-"),
            ("run id", r.run_id or "-"),
            *([("plot", str(plot))] if plot is not None else []),
        ],
        title="Run summary",
    )
    if r.positions:
        details = r.position_details or {}
        out.table(
            ("symbol", "qty", "avg cost", "price", "value", "unrealized P&L"),
            [(s, qty(q), price(details.get(s, {}).get("avg_cost")), price(details.get(s, {}).get("market_price")),
              money(details.get(s, {}).get("market_value")), signed_money(details.get(s, {}).get("unrealized_pnl")))
             for s, q in sorted(r.positions.items())],
            title="Final positions", right=("qty", "avg cost", "price", "value", "unrealized P&L"),
        )
    else:
        out.line("Final positions: none")
    if r.failed:
        shown = r.failed[:10]
        out.table(("step", "symbol", "side", "qty", "error", "message"),
                  [(f.get("step", "-"), f["symbol"], f.get("side") or "-", qty(f.get("qty")), f["error"],
                    f["message"]) for f in shown],
                  title=f"Failed orders ({len(r.failed)}{', first 10' if len(r.failed) > 10 else ''})")


def _as_json(r: RunResult, session: RunSession, cfg: PipelineConfig, strategy: Any, plot: Path | None) -> dict:
    return {
        "venue": session.venue,
        "data": session.data_name,
        "simulated": session.simulated,
        "strategy": repr(strategy),
        "symbols": list(cfg.symbols),
        "bar": cfg.bar,
        **r.summary(),
        "position_details": r.position_details,
        "failed": r.failed,
        "skipped": list(r.skipped),  # the first and last few; the count is trades_skipped
        "errors": r.errors,
        "equity_curve": [{"timestamp": t, "equity": v} for t, v in r.equity_curve],
        "plot": str(plot) if plot is not None else None,
    }


__all__ = ["cmd_run", "make_plan", "parse_params"]
