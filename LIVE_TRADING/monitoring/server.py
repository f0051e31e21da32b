"""The monitoring HTTP server: ``/health``, ``/health/detailed``, ``/metrics``.

::

    server = MonitorServer(source, port=0).start()   # port 0: a free port; server.port says which
    ... server.url + "/metrics" ...
    server.stop()

Endpoints (GET only):

``/health``            ``200 {"status": "ok"|"degraded", "reasons": [...]}`` or
                       ``503 {"status": "unhealthy", "reasons": [...]}``. Never needs a token
                       (load balancers and uptime checks call it).
``/health/detailed``   the full report as JSON (see ``health.py``).
``/metrics``           the Prometheus text format (see ``prometheus.py``).

Anything else is 404. With a token (``live_trading.monitoring.token``, best
given as ``${ENV_VAR}``) every endpoint but ``/health`` needs
``Authorization: Bearer <token>``; a missing or wrong one is 401.

The server is a stdlib ``ThreadingHTTPServer`` on a daemon thread, bound to
``127.0.0.1`` unless told otherwise. A second daemon thread runs a health
check every ``health_check_s`` seconds, so a turn to unhealthy raises its
alert even when nobody is scraping.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from LIVE_TRADING.common.exceptions import ConfigError
from LIVE_TRADING.common.settings import section
from LIVE_TRADING.monitoring.health import UNHEALTHY, HealthMonitor
from LIVE_TRADING.monitoring.prometheus import CONTENT_TYPE, make_registry, render
from LIVE_TRADING.monitoring.source import MonitorSource

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MonitoringSettings:
    """``live_trading.monitoring.*`` (see CONFIG/live_trading.yaml)."""

    host: str = "127.0.0.1"
    port: int = 9108
    token: str | None = None
    health_check_s: float = 15.0
    max_quote_age_s: float = 300.0
    degraded_headroom: float = 0.2
    degraded_reject_rate: float = 0.5

    @classmethod
    def from_config(cls, **overrides: Any) -> MonitoringSettings:
        """Read ``live_trading.monitoring`` (keyword arguments override; ``port=0`` picks a free port)."""
        cfg = section("monitoring", overrides)
        return cls(
            host=cfg.host,
            port=cfg.port,
            token=cfg.token.strip() if cfg.token and cfg.token.strip() else None,
            health_check_s=cfg.health_check_s,
            max_quote_age_s=cfg.max_quote_age_s,
            degraded_headroom=cfg.degraded_headroom,
            degraded_reject_rate=cfg.degraded_reject_rate,
        )

    def __repr__(self) -> str:  # never print the token
        return (f"MonitoringSettings(host={self.host!r}, port={self.port}, token={'***' if self.token else None}, "
                f"health_check_s={self.health_check_s:g})")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    return str(obj)


def _body(obj: Any) -> bytes:
    return json.dumps(obj, default=_json_default, allow_nan=False, separators=(",", ":")).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        try:
            if path == "/health":
                report = owner.monitor.check()
                code = 503 if report.status == UNHEALTHY else 200
                self._send(code, _body({"status": report.status, "reasons": report.reasons}))
                return
            if path not in ("/health/detailed", "/metrics"):
                self._send(404, _body({"error": f"no such endpoint: {path}",
                                       "endpoints": ["/health", "/health/detailed", "/metrics"]}))
                return
            if not owner.authorized(self.headers.get("Authorization")):
                self._send(401, _body({"error": "missing or wrong bearer token"}),
                           extra={"WWW-Authenticate": 'Bearer realm="live-trading"'})
                return
            if path == "/metrics":
                self._send(200, render(owner.registry), CONTENT_TYPE)
            else:
                self._send(200, _body(owner.monitor.check().detailed))
        except Exception as exc:  # a monitoring bug must not kill the server thread
            logger.exception("Monitoring request %s failed", path)
            self._send(500, _body({"error": f"{type(exc).__name__}: {exc}"}))

    def do_POST(self) -> None:
        self._send(405, _body({"error": "only GET is supported"}), extra={"Allow": "GET"})

    do_PUT = do_DELETE = do_POST

    def _send(self, code: int, body: bytes, content_type: str = "application/json",
              extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("monitoring %s - %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: MonitorServer


class MonitorServer:
    """Serves one ``MonitorSource`` over HTTP (see the module docstring)."""

    def __init__(self, source: MonitorSource, settings: MonitoringSettings | None = None, *,
                 host: str | None = None, port: int | None = None, token: str | None = None) -> None:
        s = settings if settings is not None else MonitoringSettings.from_config()
        self.settings = s
        self.host = host if host is not None else s.host
        self._port = port if port is not None else s.port
        if not 0 <= int(self._port) <= 65535:
            raise ConfigError(f"monitoring port must be 0..65535, got {self._port!r}")
        self._token = token if token is not None else s.token
        self.source = source
        self.monitor = HealthMonitor(source, max_quote_age_s=s.max_quote_age_s,
                                     degraded_headroom=s.degraded_headroom,
                                     degraded_reject_rate=s.degraded_reject_rate)
        self.registry = make_registry(self.monitor)
        self._httpd: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    @property
    def port(self) -> int:
        """The port served (the one the OS picked when started with port 0)."""
        return self._httpd.server_address[1] if self._httpd is not None else int(self._port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def authorized(self, header: str | None) -> bool:
        """True without a token, else when ``header`` is ``Bearer <token>`` (compared in constant time)."""
        if not self._token:
            return True
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[7:].strip().encode(), self._token.encode())

    def start(self) -> MonitorServer:
        """Bind and serve on daemon threads; ``OSError`` (e.g. port in use) if the address cannot be bound."""
        if self._httpd is not None:
            return self
        httpd = _Server((self.host, int(self._port)), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._stop.clear()
        serve = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                 name=f"monitoring-http-{self.port}", daemon=True)
        check = threading.Thread(target=self._check_loop, name="monitoring-health", daemon=True)
        self._threads = [serve, check]
        for t in self._threads:
            t.start()
        logger.info("Monitoring on %s (/health, /health/detailed, /metrics)", self.url)
        return self

    def _check_loop(self) -> None:
        while not self._stop.wait(self.settings.health_check_s):
            try:
                self.monitor.check()
            except Exception:
                logger.exception("Background health check failed")

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._stop.set()
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        for t in self._threads:
            t.join(5.0)
        self._threads = []

    def __enter__(self) -> MonitorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"MonitorServer({self.url}, venue={self.source.venue!r})"


__all__ = ["MonitorServer", "MonitoringSettings"]
