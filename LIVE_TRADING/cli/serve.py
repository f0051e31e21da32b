"""``live-trading serve`` and ``live-trading run --serve PORT``: the monitoring endpoints.

``serve [--host 127.0.0.1] [--port 9108]`` (with the global ``--account NAME``
for the paper account) serves
``/health``, ``/health/detailed`` and ``/metrics`` for the configured venue
until Ctrl-C. On ``paper`` it only reads the account's journal (no broker, no
lock, nothing written), so it can watch a ``run`` going on in another
process. On live venues it also connects a broker, for the connection state,
rate-limit headroom and circuit breaker (and cash and positions, which live
venues do not journal).

``run --serve PORT`` serves the same for the run's own broker while it runs
(with its order counters and latencies).

Both install an ``AlertManager`` (``live_trading.alerts``) for the process.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from CONFIG.config_loader import get_cfg
from LIVE_TRADING.brokers.capabilities import SupportsAccountHistory, SupportsJournal, venue_broker
from LIVE_TRADING.cli.errors import UsageError
from LIVE_TRADING.cli.render import Output
from LIVE_TRADING.common import alerting
from LIVE_TRADING.common.circuit import HasCircuit

if TYPE_CHECKING:
    from LIVE_TRADING.monitoring.server import MonitorServer

DEFAULT_LOG_DIRS = {"paper": "logs/paper_trades", "binance": "logs/binance", "ibkr": "logs/ibkr"}


def port_number(text: str) -> int:
    """``--port`` / ``--serve``: a TCP port 0..65535 (0: any free port)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0..65535, got {text!r}")
    return value


def add_arguments(add: Callable[..., argparse.ArgumentParser], run: argparse.ArgumentParser) -> None:
    """Add the ``serve`` command and ``run --serve`` to the parser."""
    serve = add("serve", "serve /health, /health/detailed and /metrics (Prometheus) for the venue",
                "Serve GET /health, /health/detailed and /metrics (Prometheus text format) for the configured "
                "venue until Ctrl-C. Account figures come from the journal, so this can watch a run in another "
                "process. Settings: live_trading.monitoring and live_trading.alerts.")
    serve.add_argument("--host", metavar="HOST", help="address to bind (default: monitoring.host, 127.0.0.1)")
    serve.add_argument("--port", type=port_number, metavar="PORT", help="port (default: monitoring.port, 9108)")
    run.add_argument("--serve", type=port_number, metavar="PORT",
                     help="serve /health, /health/detailed and /metrics on this port while running")


def venue_log_dir(venue: str, broker: Any = None) -> Path:
    """The account's journal directory: the broker's own when given; else on paper the account of
    ``--account`` / ``paper.account`` under ``paper.log_dir``, elsewhere ``live_trading.<venue>.log_dir``."""
    inner = venue_broker(broker) if broker is not None else None
    if isinstance(inner, SupportsAccountHistory):  # a paper broker (also read-only: it has no journal open)
        return Path(inner.account_dir)
    if isinstance(inner, SupportsJournal) and inner.journal is not None:
        return Path(inner.journal.account_dir)
    if venue == "paper":
        from LIVE_TRADING.cli.session import account_dir

        return account_dir()
    return Path(str(get_cfg(f"live_trading.{venue}.log_dir", default=DEFAULT_LOG_DIRS.get(venue, "logs"))))


def _data_circuits(*providers: Any) -> list[Any]:
    return [p.circuit for p in providers if isinstance(p, HasCircuit) and p.circuit is not None]


@contextlib.contextmanager
def serving(venue: str, *, broker: Any = None, host: str | None = None, port: int | None = None,
            providers: tuple[Any, ...] = ()) -> Iterator[MonitorServer]:
    """Alerts installed and the monitoring server running for the block; both stopped after."""
    # imported here: the other commands never pay for prometheus_client and http.server
    from LIVE_TRADING.monitoring.alerts import AlertManager
    from LIVE_TRADING.monitoring.server import MonitoringSettings, MonitorServer
    from LIVE_TRADING.monitoring.source import MonitorSource

    settings = MonitoringSettings.from_config()
    log_dir = venue_log_dir(venue, broker)
    alerts = AlertManager(account=get_cfg("live_trading.alerts.account", default=None) or log_dir.name)
    source = MonitorSource(venue, log_dir, account=alerts.account, broker=broker,
                           circuits=_data_circuits(*providers), alerts=alerts)
    server = MonitorServer(source, settings, host=host, port=port)
    previous = alerting.install(alerts.emit)
    try:
        try:
            server.start()
        except OSError as exc:
            raise UsageError(f"cannot serve on {server.host}:{server.port}: {exc.strerror or exc}") from None
        yield server
    finally:
        server.stop()
        alerting.install(previous)
        alerts.close()


def cmd_serve(args: argparse.Namespace, out: Output, venue: str) -> int:
    """Serve until Ctrl-C / SIGTERM (exit code 130, after a clean stop)."""
    from LIVE_TRADING.cli.run import _sigterm_as_interrupt
    from LIVE_TRADING.cli.session import close_quietly, open_broker
    from LIVE_TRADING.common.journal import list_segments

    broker = open_broker(venue) if venue != "paper" else None
    try:
        with serving(venue, broker=broker, host=args.host, port=args.port) as server:
            if out.json_mode:
                out.json({"url": server.url, "venue": venue, "log_dir": str(server.source.log_dir)})
            else:
                out.line(f"Serving {venue} monitoring on {server.url}  (/health, /health/detailed, /metrics); "
                         "Ctrl-C stops.")
            if not list_segments(server.source.log_dir):
                out.note(f"No journal in {server.source.log_dir} yet: account figures appear once it is written.")
            with _sigterm_as_interrupt():
                threading.Event().wait()
    finally:
        if broker is not None:
            close_quietly(broker)
    return 0  # pragma: no cover - only Ctrl-C / SIGTERM end the wait


__all__ = ["add_arguments", "cmd_serve", "port_number", "serving", "venue_log_dir"]
