"""One-shot commands: ``quote``, ``order``, ``cancel``, ``orders``, ``positions``, ``fills``, ``cash``,
``health``, ``flatten``, ``reset``.

Each takes the parsed arguments, an ``Output`` and the venue, and returns the
exit code. Broker errors are not caught here: ``main`` turns them into one
line and the exit code of ``LIVE_TRADING.cli.errors``.

Why one module of ~490 lines: one short function (20-40 lines) per everyday command, all built on
the same session and output helpers; the longer commands (``run``, ``report``, ``serve``,
``journal``, ``setup``) have modules of their own.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from typing import Any

from LIVE_TRADING.brokers.interface import (
    SupportsAccountSummary,
    SupportsHealth,
    SupportsOrdersFrame,
    SupportsPositionDetails,
    SupportsQuotes,
    supports,
)
from LIVE_TRADING.cli.errors import UsageError
from LIVE_TRADING.cli.exports import export_format, write_export
from LIVE_TRADING.cli.render import (
    Output,
    amount,
    error_line,
    money,
    pct,
    price,
    print_order,
    print_orders,
    qty,
    signed_money,
    when,
)
from LIVE_TRADING.cli.safety import (
    DryRunBroker,
    confirm,
    confirmation_required,
    is_live,
    print_planned_orders,
)
from LIVE_TRADING.cli.session import account_dir, broker_session
from LIVE_TRADING.common.constants import (
    EVENT_CANCEL,
    EVENT_EXPIRE,
    EVENT_FILL,
    EVENT_ORDER,
    EVENT_REJECT,
    ORDER_TYPE_LIMIT,
    ORDER_TYPE_MARKET,
    ORDER_TYPE_STOP,
    ORDER_TYPE_STOP_LIMIT,
    SIDE_BUY,
    SIDE_SELL,
    STATUS_REJECTED,
)
from LIVE_TRADING.common.exceptions import BrokerError, DataProviderError, OrderNotFoundError
from LIVE_TRADING.monitoring.exports import fills_frame, frame_records, orders_frame, since_filter

logger = logging.getLogger(__name__)


def parse_since(text: str) -> datetime:
    """``--since``: an ISO-8601 date or time; without an offset it is taken as UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--since must be an ISO-8601 date or time such as 2026-01-05 or 2026-01-05T14:30:00+00:00, got {text!r}"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def order_type_for(limit: float | None, stop: float | None) -> str:
    """``--limit`` and ``--stop`` pick the order type: neither market, both stop_limit."""
    if limit is not None and stop is not None:
        return ORDER_TYPE_STOP_LIMIT
    if stop is not None:
        return ORDER_TYPE_STOP
    if limit is not None:
        return ORDER_TYPE_LIMIT
    return ORDER_TYPE_MARKET


# -- commands ---------------------------------------------------------------------
def cmd_quote(args: argparse.Namespace, out: Output, venue: str) -> int:
    quotes, failures = [], []
    with broker_session(venue, read_only=True) as broker:
        for sym in args.symbols:
            try:
                quotes.append(broker.get_quote(sym))
            except BrokerError as exc:
                failures.append({"symbol": sym.upper(), "error": type(exc).__name__, "message": str(exc)})
    if out.json_mode:
        out.json({"quotes": quotes, "errors": failures})
    else:
        if quotes:
            out.table(
                ("symbol", "bid", "ask", "spread bps", "bid size", "ask size", "time (UTC)"),
                [(q["symbol"], price(q["bid"]), price(q["ask"]), f"{q.get('spread_bps', 0.0):.2f}",
                  qty(q.get("bid_size")), qty(q.get("ask_size")), when(q.get("timestamp"))) for q in quotes],
                right=("bid", "ask", "spread bps", "bid size", "ask size"), no_wrap=("symbol",),
            )
        for f in failures:
            error_line(f["message"])
    return 1 if failures else 0


def cmd_order(args: argparse.Namespace, out: Output, venue: str) -> int:
    order_type = order_type_for(args.limit, args.stop)
    kwargs: dict[str, Any] = {"time_in_force": args.tif}
    if args.stop is not None:
        kwargs["stop_price"] = args.stop
    if args.client_id is not None:
        kwargs["client_order_id"] = args.client_id
    with broker_session(venue, read_only=args.dry_run) as broker:
        if args.dry_run:
            dry = DryRunBroker(broker)
            dry.submit_order(args.symbol, args.side, args.qty, order_type, args.limit, **kwargs)
            if out.json_mode:
                out.json({"dry_run": True, "orders": dry.planned})
            else:
                print_planned_orders(out, dry.planned, "Would place (dry run, nothing sent)")
            return 0
        result = broker.submit_order(args.symbol, args.side, args.qty, order_type, args.limit, **kwargs)
    if out.json_mode:
        out.json(result)
    else:
        print_order(out, result, title="Order")
    if result.get("status") == STATUS_REJECTED:
        error_line(f"order {result.get('order_id')} for {result.get('symbol')} was rejected by the venue")
        return 1
    return 0


def resolve_order_id(broker: Any, text: str) -> str:
    """``text`` as given if the broker knows it, else the one open order whose id ends with it (a short id)."""
    try:
        broker.get_order(text)
        return text
    except (OrderNotFoundError, AttributeError):
        pass
    tail = text.lstrip("…").lstrip(".")
    matches = [o["order_id"] for o in broker.get_open_orders() if tail and str(o["order_id"]).endswith(tail)]
    if len(matches) == 1:
        return str(matches[0])
    if len(matches) > 1:
        raise UsageError(f"{text!r} matches {len(matches)} open orders ({', '.join(matches)}): give more of the id")
    return text  # the broker says "Order not found"


def cmd_cancel(args: argparse.Namespace, out: Output, venue: str) -> int:
    if args.all == (args.order_id is not None):
        raise UsageError("cancel takes an ORDER_ID or --all (not both)")
    if args.symbol is not None and not args.all:
        raise UsageError("--symbol only applies with --all")
    with broker_session(venue, read_only=args.dry_run) as broker:
        if args.all:
            return _cancel_all(args, out, broker)
        order_id = resolve_order_id(broker, args.order_id)
        if args.dry_run:
            result = dict(broker.get_order(order_id))
            if out.json_mode:
                out.json({"dry_run": True, "would_cancel": [result]})
            else:
                print_orders(out, [result], title="Would cancel (dry run, nothing sent)")
            return 0
        result = broker.cancel_order(order_id)
    if out.json_mode:
        out.json(result)
    else:
        print_order(out, result, title="Cancel")
    return 0


def _cancel_all(args: argparse.Namespace, out: Output, broker: Any) -> int:
    """``cancel --all [--symbol S]``: every open order (of S); exit 1 if any cancel failed."""
    targets = [o for o in broker.get_open_orders() if args.symbol is None or o.get("symbol") == args.symbol]
    if args.dry_run:
        if out.json_mode:
            out.json({"dry_run": True, "would_cancel": targets})
        elif targets:
            print_orders(out, targets, title=f"Would cancel (dry run, nothing sent) ({len(targets)})")
        else:
            out.line("No open orders to cancel.")
        return 0
    done, failed = [], []
    for o in targets:
        try:
            done.append(broker.cancel_order(o["order_id"]))
        except BrokerError as exc:
            failed.append({"order_id": o["order_id"], "error": type(exc).__name__, "message": str(exc)})
    if out.json_mode:
        out.json({"cancelled": done, "errors": failed})
    elif done:
        print_orders(out, done, title=f"Cancelled ({len(done)})")
    elif not failed:
        out.line("No open orders to cancel.")
    for f in failed:
        error_line(f"cancel {f['order_id']}: {f['message']}")
    return 1 if failed else 0


def cmd_flatten(args: argparse.Namespace, out: Output, venue: str) -> int:
    """Close every position with market orders (sells for longs, buys for shorts); asks first on a live venue."""
    with broker_session(venue, read_only=args.dry_run) as broker:
        positions = {s: float(q) for s, q in broker.get_positions().items() if float(q) != 0}
        dry = DryRunBroker(broker)
        for sym, q in sorted(positions.items()):
            dry.submit_order(sym, SIDE_SELL if q > 0 else SIDE_BUY, abs(q), "market")
        if args.dry_run or not positions:
            if out.json_mode:
                out.json({"dry_run": bool(args.dry_run), "orders": dry.planned})
            elif positions:
                print_planned_orders(out, dry.planned, "Would place (dry run, nothing sent)")
            else:
                out.line("No positions to close.")
            return 0
        if not out.json_mode:
            print_planned_orders(out, dry.planned, "Closing orders")
        confirm(out, f"Close {len(positions)} position(s) on {venue}?", yes=args.yes,
                needed=is_live(venue) and confirmation_required())
        results, failed = [], []
        for o in dry.planned:
            try:
                result = broker.submit_order(o["symbol"], o["side"], o["qty"], "market")
            except BrokerError as exc:
                failed.append({"symbol": o["symbol"], "error": type(exc).__name__, "message": str(exc)})
                continue
            results.append(result)
            if result.get("status") == STATUS_REJECTED:
                failed.append({"symbol": o["symbol"], "error": "rejected", "message": f"order {result.get('order_id')} rejected"})
    if out.json_mode:
        out.json({"orders": results, "errors": failed})
    else:
        print_orders(out, results, title=f"Flatten orders ({len(results)})")
    for f in failed:
        error_line(f"flatten {f['symbol']}: {f['message']}")
    return 1 if failed else 0


def cmd_reset(args: argparse.Namespace, out: Output, venue: str) -> int:
    """A fresh paper account: the old account directory is kept under a new name; asks first."""
    from LIVE_TRADING.cli.setup import reset_paper_account

    if venue != "paper":
        raise UsageError(f"reset only applies to paper accounts (venue is {venue})")
    return reset_paper_account(args, out)


def cmd_orders(args: argparse.Namespace, out: Output, venue: str) -> int:
    """Open orders (``--all``: every order the venue keeps), listed or exported (``--format``)."""
    since = parse_since(args.since) if getattr(args, "since", None) else None
    fmt = export_format(args, out) if getattr(args, "fmt", None) or getattr(args, "output", None) else None
    every = bool(getattr(args, "all", False))
    if fmt is None and not every and since is None:  # the plain listing, as it always was
        with broker_session(venue, read_only=True) as broker:
            orders = broker.get_open_orders()
    else:
        with broker_session(venue, read_only=True) as broker:
            frame = since_filter(_orders_frame(broker, every), since)
        if fmt is not None and fmt != "table":
            return write_export(frame, fmt, args, out, "orders")
        orders = frame_records(frame)
    what = "Orders" if every else "Open orders"
    if out.json_mode and fmt is None:
        out.json(orders)
    elif orders:
        print_orders(out, orders, title=f"{what} ({len(orders)})")
    else:
        out.line(f"No {what.lower()}" + (f" since {since.isoformat()}." if since else "."))
    return 0


def _orders_frame(broker: Any, every: bool) -> Any:
    """Every order the venue keeps (``--all``: ``broker.orders_frame()``) or the open ones, as a typed DataFrame."""
    if every and supports(broker, SupportsOrdersFrame):
        return broker.orders_frame()
    return orders_frame(broker.get_open_orders())


def _refresh_quotes(broker: Any, symbols: list[str]) -> None:
    """Mark positions to fresh quotes where the broker can pull them (best effort)."""
    if not symbols or not supports(broker, SupportsQuotes) or broker.data_provider is None:
        return
    try:
        broker.update_quotes(symbols)
    except (BrokerError, DataProviderError) as exc:
        logger.warning("Could not refresh quotes for %s: %s", ", ".join(symbols), exc)


def _account(broker: Any) -> dict[str, Any] | None:
    return dict(broker.get_account_summary()) if supports(broker, SupportsAccountSummary) else None


def cmd_positions(args: argparse.Namespace, out: Output, venue: str) -> int:
    with broker_session(venue, read_only=True) as broker:
        positions = broker.get_positions()
        _refresh_quotes(broker, sorted(positions))
        details = broker.get_position_details() if supports(broker, SupportsPositionDetails) else None
        account = _account(broker)
    if out.json_mode:
        out.json({"positions": positions, "details": details, "account": account})
        return 0
    if not positions:
        out.line("No positions.")
    elif details is None:
        out.table(("symbol", "qty"), [(s, qty(q)) for s, q in sorted(positions.items())], title="Positions",
                  right=("qty",))
    else:
        rows = []
        for sym in sorted(positions):
            d = details.get(sym, {})
            rows.append((sym, qty(positions[sym]), price(d.get("avg_cost")), price(d.get("market_price")),
                         money(d.get("market_value")), signed_money(d.get("unrealized_pnl")),
                         signed_money(d.get("realized_pnl")), money(d.get("fees"))))
        out.table(("symbol", "qty", "avg cost", "price", "value", "unrealized P&L", "realized P&L", "fees"), rows,
                  title="Positions", right=("qty", "avg cost", "price", "value", "unrealized P&L", "realized P&L",
                                            "fees"))
    if account is not None:
        _print_account(out, account, title=None)
    return 0


def _print_account(out: Output, account: dict[str, Any], title: str | None) -> None:
    initial = account.get("initial_cash")
    equity = account.get("equity")
    ret = equity / initial - 1.0 if initial and equity is not None else None
    out.fields(
        [
            ("cash", money(account.get("cash"))),
            ("reserved by open orders", money(account.get("reserved_cash"))),
            ("available cash", money(account.get("available_cash"))),
            ("equity", f"{money(equity)}  ({pct(ret)} on {money(initial)})" if ret is not None else money(equity)),
            ("realized P&L", signed_money(account.get("realized_pnl"))),
            ("unrealized P&L", signed_money(account.get("unrealized_pnl"))),
            ("fees paid", money(account.get("fees"))),
        ],
        title=title,
    )


def cmd_fills(args: argparse.Namespace, out: Output, venue: str) -> int:
    since = parse_since(args.since) if args.since else None
    fmt = export_format(args, out) if getattr(args, "fmt", None) or getattr(args, "output", None) else None
    with broker_session(venue, read_only=True) as broker:
        fills = broker.get_fills(since)
    if fmt is not None and fmt != "table":
        return write_export(fills_frame(fills), fmt, args, out, "fills")
    if out.json_mode and fmt is None:
        out.json(fills)
    elif fills:
        currencies = {f.get("fee_currency") or "" for f in fills}
        one = currencies.pop() if len(currencies) == 1 else None  # one currency: named in the header
        fee_col = f"fee {one}".strip() if one is not None else "fee"
        out.table(
            ("time (UTC)", "fill_id", "fill", "price", fee_col),
            [(when(f.get("timestamp")), f.get("fill_id"), f"{f.get('side')} {qty(f.get('qty'))} {f.get('symbol')}",
              price(f.get("fill_price")), amount(f.get("fee"), None if one is not None else f.get("fee_currency")))
             for f in fills],
            title=f"Fills ({len(fills)})", right=("price", fee_col), ids=("fill_id",),
        )
    else:
        out.line("No fills" + (f" since {since.isoformat()}." if since else "."))
    return 0


def cmd_cash(args: argparse.Namespace, out: Output, venue: str) -> int:
    with broker_session(venue, read_only=True) as broker:
        cash = broker.get_cash()
        positions = broker.get_positions()
        _refresh_quotes(broker, sorted(positions))
        account = _account(broker)
    if out.json_mode:
        out.json({"cash": cash, "account": account})
    elif account is not None:
        _print_account(out, account, title="Account")
    else:
        out.fields([("available cash", money(cash))], title="Account")
    return 0


def cmd_health(args: argparse.Namespace, out: Output, venue: str) -> int:
    """Probe the venue with read-only calls, then print ``broker.health()``; exit 1 when unhealthy."""
    with broker_session(venue, read_only=True) as broker:
        if not supports(broker, SupportsHealth):
            raise UsageError(f"the {venue} broker reports no health metrics")
        probes: list[tuple[str, Any]] = [("now", broker.now), ("get_cash", broker.get_cash),
                                         ("get_positions", broker.get_positions),
                                         ("get_open_orders", broker.get_open_orders)]
        probes += [("get_quote", lambda s=s: broker.get_quote(s)) for s in args.symbols or ()]
        for name, call in probes:
            try:
                call()
            except BrokerError as exc:  # counted by the metrics; health() reports it
                logger.warning("health probe %s failed: %s", name, exc)
        report = dict(broker.health())
    report["journal"] = journal_counts(venue)
    if out.json_mode:
        out.json(report)
        return 0 if report.get("healthy") else 1
    verdict = "healthy" if report.get("healthy") else "UNHEALTHY"
    orders = report.get("orders") or {}
    out.fields(
        [
            ("venue", report.get("venue")),
            ("verdict", verdict),
            *[("reason", r) for r in report.get("reasons") or ()],
            ("orders", ", ".join(f"{k} {v}" for k, v in orders.items() if v is not None) or "-"),
            ("errors", ", ".join(f"{k} {v}" for k, v in (report.get("errors") or {}).items()) or "none"),
            ("reconnects", report.get("reconnects")),
            ("rate limit headroom", pct(report.get("rate_limit_headroom"))),
            ("last success (UTC)", when(report.get("last_success"))),
            ("last error", _last_error(report.get("last_error"))),
            *[(f"venue: {k}", v) for k, v in (report.get("venue_status") or {}).items()],
            ("journal (all processes)", ", ".join(f"{k} {v}" for k, v in report["journal"].items())),
        ],
        title="Health",
    )
    calls = report.get("calls") or {}
    if calls:
        out.table(
            ("call", "count", "errors", "p50 ms", "p95 ms", "p99 ms"),
            [(name, c["count"], c["errors"], f"{c['p50_ms']:.3f}", f"{c['p95_ms']:.3f}", f"{c['p99_ms']:.3f}")
             for name, c in sorted(calls.items())],
            title="Calls (this process)", right=("count", "errors", "p50 ms", "p95 ms", "p99 ms"),
        )
    return 0 if report.get("healthy") else 1


#: journal events counted by ``health`` (every process that wrote to the account)
_COUNTED = {EVENT_ORDER: "orders", EVENT_REJECT: "rejects", EVENT_CANCEL: "cancels", EVENT_EXPIRE: "expiries"}


def journal_counts(venue: str) -> dict[str, int]:
    """Counts of the account's journal records by kind, across every process and run (read-only, no lock).

    Paper fills are counted wherever they are recorded (in ``order`` records for
    orders taken at once, in ``fill`` records for resting ones).
    """
    from LIVE_TRADING.common.journal import list_segments, read_records
    from LIVE_TRADING.common.paths import journal_root

    account = account_dir() if venue == "paper" else journal_root(venue)
    counts = dict.fromkeys(["orders", "fills", "rejects", "cancels", "expiries"], 0)
    if not list_segments(account):
        return counts
    for record in read_records(account):
        event = record.get("event", "")
        name = _COUNTED.get(event)
        if name is not None:
            counts[name] += 1
        if event == EVENT_FILL:
            counts["fills"] += 1
        elif event == EVENT_ORDER and venue == "paper":
            counts["fills"] += len(record.get("fills") or ())
    return counts


def _last_error(err: dict[str, Any] | None) -> str:
    if not err:
        return "none"
    return f"{when(err.get('at'))} {err.get('method', '')} {err.get('error')}: {err.get('message')}".strip()


__all__ = [
    "cmd_cancel",
    "cmd_cash",
    "cmd_fills",
    "cmd_flatten",
    "cmd_health",
    "cmd_order",
    "cmd_orders",
    "cmd_positions",
    "cmd_quote",
    "cmd_reset",
    "journal_counts",
    "order_type_for",
    "parse_since",
    "resolve_order_id",
]
