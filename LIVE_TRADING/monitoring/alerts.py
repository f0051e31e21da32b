"""Alerts: what an operator must hear about, sent to the log, a webhook and e-mail.

An ``AlertManager`` receives every alert raised with
``LIVE_TRADING.common.alerting.emit`` once it is installed
(``alerting.install(manager.emit)``, done by ``live-trading serve`` and
``run --serve``). Each alert carries the account, the venue, the event, the
time (UTC) and the details.

Sinks (``live_trading.alerts``)
    ``log``      always: one WARNING line per alert (logger ``LIVE_TRADING.monitoring.alerts``).
    ``webhook``  a JSON POST to ``webhook.url`` (http or https, else ``ConfigError``);
                 ``webhook.format``: ``generic`` (the alert as a JSON object),
                 ``slack`` (``{"text": ...}``, an incoming-webhook message) or
                 ``discord`` (``{"content": ...}``).
    ``email``    one message per alert through ``email.host`` (``smtplib``), optional
                 STARTTLS and login.

Noise control
    The same alert, keyed by ``(event, venue, symbol, limit, key)``, is sent at
    most once per ``dedup_window_s`` seconds; the repeats are counted
    (``stats["suppressed"]``) and the next alert sent says how many were
    suppressed. ``order_rejected`` is a signal, not an alert: when
    ``reject_storm_count`` of them arrive within ``reject_storm_window_s``
    seconds, one ``reject_storm`` alert is raised.

A failing sink never breaks trading
    ``emit`` only logs and puts the alert on a bounded queue
    (``queue_size``); a worker thread delivers it to the webhook / e-mail sinks,
    retrying a failed delivery ``max_retries`` times with exponential backoff
    (``backoff_base_s * 2**attempt``, capped at ``backoff_max_s``). A full queue
    drops the new alert, an alert still failing after its retries is given up;
    both are counted (``stats["dropped"]``, ``stats["failed"]``) and logged.
    ``emit`` never raises and never waits for a network.

Why one module of ~420 lines: settings, the alert record, two ~30-line sinks and the manager with
its queue, rate limit and de-duplication, which only make sense together.
"""

from __future__ import annotations

import json
import logging
import queue
import smtplib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from LIVE_TRADING.common import alerting
from LIVE_TRADING.common.clock import Clock, utc_now
from LIVE_TRADING.common.exceptions import ConfigError
from LIVE_TRADING.common.settings import section

logger = logging.getLogger(__name__)

WEBHOOK_FORMATS = ("generic", "slack", "discord")
#: detail keys that make two alerts of one event different alerts (for deduplication)
DEDUP_KEYS = ("venue", "symbol", "limit", "key", "client_order_id")


# -- settings -------------------------------------------------------------------------
@dataclass(frozen=True)
class AlertSettings:
    """``live_trading.alerts.*`` (see CONFIG/live_trading.yaml)."""

    enabled: bool = True
    account: str | None = None
    dedup_window_s: float = 300.0
    queue_size: int = 1000
    max_retries: int = 5
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    timeout_s: float = 10.0
    reject_storm_count: int = 10
    reject_storm_window_s: float = 60.0
    reconnect_alert_after_s: float = 120.0
    webhook_url: str | None = None
    webhook_format: str = "generic"
    email_host: str | None = None
    email_port: int = 25
    email_sender: str | None = None
    email_to: tuple[str, ...] = ()
    email_username: str | None = None
    email_password: str | None = field(default=None, repr=False)
    email_starttls: bool = False

    @classmethod
    def from_config(cls, **overrides: Any) -> AlertSettings:
        """Read and check ``live_trading.alerts`` (keyword arguments override); ``ConfigError`` lists every problem."""
        nested: dict[str, Any] = {}
        for name, value in overrides.items():  # webhook_url -> webhook.url, email_host -> email.host
            group, _, rest = name.partition("_")
            nested[f"{group}.{rest}" if group in ("webhook", "email") else name] = value
        cfg = section("alerts", nested)
        s = cls(
            enabled=cfg.enabled,
            account=cfg.account,
            dedup_window_s=cfg.dedup_window_s,
            queue_size=cfg.queue_size,
            max_retries=cfg.max_retries,
            backoff_base_s=cfg.backoff_base_s,
            backoff_max_s=cfg.backoff_max_s,
            timeout_s=cfg.timeout_s,
            reject_storm_count=cfg.reject_storm_count,
            reject_storm_window_s=cfg.reject_storm_window_s,
            reconnect_alert_after_s=cfg.reconnect_alert_after_s,
            webhook_url=cfg.webhook.url,
            webhook_format=cfg.webhook.format,
            email_host=cfg.email.host,
            email_port=cfg.email.port,
            email_sender=cfg.email.sender,
            email_to=tuple(cfg.email.to or ()),
            email_username=cfg.email.username,
            email_password=cfg.email.password,
            email_starttls=cfg.email.starttls,
        )
        problems: list[str] = []
        if s.webhook_url is not None:
            parts = urlsplit(s.webhook_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                problems.append(
                    f"live_trading.alerts.webhook.url must be an http:// or https:// URL, got "
                    f"{_redact_url(s.webhook_url)!r}"
                )
        if s.email_host is not None and (not s.email_sender or not s.email_to):
            problems.append("live_trading.alerts.email needs sender and to when email.host is set")
        if problems:
            raise ConfigError(problems=problems)
        return s


def _redact_url(url: str) -> str:
    """A URL safe to print: scheme and host only (webhook paths are secrets)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/..." if parts.netloc else url[:8] + "..."


# -- the alert --------------------------------------------------------------------------
@dataclass(frozen=True)
class Alert:
    """One alert as every sink sees it."""

    account: str
    venue: str | None
    event: str
    time: datetime
    details: dict[str, Any]
    suppressed: int = 0  # repeats of this alert not sent since the last one

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"account": self.account, "venue": self.venue, "event": self.event,
                               "time": self.time.isoformat(),
               "details": self.details}
        if self.suppressed:
            out["suppressed_repeats"] = self.suppressed
        return out

    def summary(self) -> str:
        """One human line: ``[account/venue] event: key=value, ...``."""
        where = f"{self.account}/{self.venue}" if self.venue else self.account
        facts = ", ".join(f"{k}={v}" for k, v in self.details.items() if k != "venue")
        extra = f" ({self.suppressed} repeats suppressed)" if self.suppressed else ""
        return f"[{where}] {self.event}: {facts}{extra}"


def webhook_payload(alert: Alert, fmt: str) -> dict[str, Any]:
    """The JSON body POSTed for ``alert`` in format ``generic``, ``slack`` or ``discord``."""
    if fmt == "slack":
        return {"text": f":rotating_light: {alert.summary()} at {alert.time.isoformat()}"}
    if fmt == "discord":
        return {"content": f"\N{POLICE CARS REVOLVING LIGHT} {alert.summary()} at {alert.time.isoformat()}"[:2000]}
    return alert.to_dict()


# -- sinks --------------------------------------------------------------------------------
class Sink(Protocol):
    name: str

    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` or raise."""


class WebhookSink:
    """POST each alert as JSON to a URL (``generic`` / ``slack`` / ``discord`` body)."""

    name = "webhook"

    def __init__(self, url: str, fmt: str = "generic", *, timeout_s: float = 10.0,
                 session: requests.Session | None = None) -> None:
        if fmt not in WEBHOOK_FORMATS:
            raise ConfigError(f"webhook format must be one of {', '.join(WEBHOOK_FORMATS)}, got {fmt!r}")
        self.url = url
        self.format = fmt
        self.timeout_s = timeout_s
        self.session = session or requests.Session()

    def send(self, alert: Alert) -> None:
        body = json.dumps(webhook_payload(alert, self.format), default=str)
        resp = self.session.post(self.url, data=body, headers={"Content-Type": "application/json"},
                                 timeout=self.timeout_s)
        if resp.status_code >= 300:
            raise OSError(f"webhook answered HTTP {resp.status_code}")

    def __repr__(self) -> str:
        return f"WebhookSink({_redact_url(self.url)!r}, format={self.format!r})"


class EmailSink:
    """Send each alert as a plain-text e-mail through an SMTP server (``smtplib``)."""

    name = "email"

    def __init__(self, host: str, port: int, sender: str, to: tuple[str, ...] | list[str], *,
                 username: str | None = None, password: str | None = None, starttls: bool = False,
                 timeout_s: float = 10.0) -> None:
        self.host, self.port, self.sender, self.to = host, int(port), sender, tuple(to)
        self.username, self._password, self.starttls, self.timeout_s = username, password, starttls, timeout_s

    def send(self, alert: Alert) -> None:
        msg = EmailMessage()
        msg["Subject"] = f"[LIVE_TRADING] {alert.event} ({alert.account}/{alert.venue or '-'})"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg.set_content(alert.summary() + "\n\n" + json.dumps(alert.to_dict(), indent=2, default=str) + "\n")
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self._password or "")
            smtp.send_message(msg)

    def __repr__(self) -> str:
        return f"EmailSink({self.host}:{self.port} -> {', '.join(self.to)})"


# -- the manager ----------------------------------------------------------------------------
class AlertManager:
    """Deduplicate, rate-limit and deliver alerts (see the module docstring). Thread-safe.

    Args:
        settings: ``AlertSettings`` (default: from the config).
        account: the account name every alert carries (default ``settings.account`` or ``"default"``).
        sinks: extra delivery sinks (default: built from the settings' webhook / email).
        clock: aware-UTC clock for alert times; ``monotonic`` for the windows.
        sleep: how the worker waits between retries (default: an interruptible wait).
    """

    def __init__(
        self,
        settings: AlertSettings | None = None,
        *,
        account: str | None = None,
        sinks: list[Any] | None = None,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.settings = s = settings if settings is not None else AlertSettings.from_config()
        self.account = account or s.account or "default"
        self.sinks: list[Any] = list(sinks) if sinks is not None else self._sinks_from(s)
        self._clock = clock
        self._mono = monotonic
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._lock = threading.Lock()
        self._last_sent: dict[tuple[Any, ...], float] = {}
        self._suppressed: dict[tuple[Any, ...], int] = {}
        self._rejects: dict[str | None, deque[float]] = {}
        self._queue: queue.Queue[Alert | None] = queue.Queue(maxsize=s.queue_size)
        self.stats = {"emitted": 0, "suppressed": 0, "queued": 0, "sent": 0, "retries": 0, "failed": 0, "dropped": 0}
        #: the last alerts accepted (newest last), for /health/detailed and tests
        self.recent: deque[Alert] = deque(maxlen=50)
        self._worker: threading.Thread | None = None
        if self.sinks:
            self._worker = threading.Thread(target=self._run, name="alert-sender", daemon=True)
            self._worker.start()

    @staticmethod
    def _sinks_from(s: AlertSettings) -> list[Any]:
        sinks: list[Any] = []
        if s.webhook_url:
            sinks.append(WebhookSink(s.webhook_url, s.webhook_format, timeout_s=s.timeout_s))
        if s.email_host and s.email_sender and s.email_to:
            sinks.append(EmailSink(s.email_host, s.email_port, s.email_sender, s.email_to,
                                   username=s.email_username, password=s.email_password,
                                   starttls=s.email_starttls, timeout_s=s.timeout_s))
        return sinks

    # -- receiving ------------------------------------------------------------------
    def emit(self, event: str, details: dict[str, Any] | None = None, **more: Any) -> Alert | None:
        """Accept one alert; returns it when it goes out, ``None`` when suppressed. Never raises."""
        try:
            return self._emit(event, {**(details or {}), **more})
        except Exception:
            logger.exception("Alert %s could not be processed", event)
            return None

    def _emit(self, event: str, details: dict[str, Any]) -> Alert | None:
        if not self.settings.enabled:
            return None
        if event == alerting.ORDER_REJECTED:
            return self._count_reject(details)
        key = (event, *(str(details.get(k)) for k in DEDUP_KEYS))
        now = self._mono()
        with self._lock:
            last = self._last_sent.get(key)
            if last is not None and now - last < self.settings.dedup_window_s:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                self.stats["suppressed"] += 1
                return None
            self._last_sent[key] = now
            suppressed = self._suppressed.pop(key, 0)
            self.stats["emitted"] += 1
        venue = details.get("venue")
        alert = Alert(self.account, str(venue) if venue is not None else None, event, self._clock(),
                      dict(details), suppressed)
        self.recent.append(alert)
        logger.warning("ALERT %s", alert.summary())
        if self.sinks:
            try:
                self._queue.put_nowait(alert)
                with self._lock:
                    self.stats["queued"] += 1
            except queue.Full:
                with self._lock:
                    self.stats["dropped"] += 1
                logger.error("Alert queue full (%d): dropped %s", self.settings.queue_size, alert.summary())
        return alert

    def _count_reject(self, details: dict[str, Any]) -> Alert | None:
        venue = details.get("venue")
        now = self._mono()
        window = self.settings.reject_storm_window_s
        with self._lock:
            times = self._rejects.setdefault(venue, deque())
            times.append(now)
            while times and times[0] < now - window:
                times.popleft()
            storm = len(times) >= self.settings.reject_storm_count
            count = len(times)
            if storm:
                times.clear()
        if not storm:
            return None
        return self._emit(alerting.REJECT_STORM, {
            "venue": venue, "rejections": count, "window_s": window,
            "last_reason": details.get("reason"), "last_symbol": details.get("symbol"),
        })

    # -- delivering --------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            alert = self._queue.get()
            try:
                if alert is None:
                    return
                for sink in self.sinks:
                    self._deliver(sink, alert)
            finally:
                self._queue.task_done()

    def _deliver(self, sink: Any, alert: Alert) -> None:
        s = self.settings
        for attempt in range(s.max_retries + 1):
            if self._stop.is_set() and attempt:
                break
            try:
                sink.send(alert)
            except Exception as exc:
                if attempt < s.max_retries:
                    delay = min(s.backoff_max_s, s.backoff_base_s * 2**attempt)
                    with self._lock:
                        self.stats["retries"] += 1
                    logger.warning("Alert sink %s failed (%s: %s); retry %d/%d in %.2fs", sink.name,
                                   type(exc).__name__, exc, attempt + 1, s.max_retries, delay)
                    self._sleep(delay)
                    continue
                logger.error("Alert sink %s gave up on %s after %d attempts: %s: %s", sink.name, alert.event,
                             attempt + 1, type(exc).__name__, exc)
                break
            with self._lock:
                self.stats["sent"] += 1
            return
        with self._lock:
            self.stats["failed"] += 1

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued alert was delivered or given up (True) or ``timeout_s`` passed (False)."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout_s``), then stop the worker."""
        if self._worker is None:
            return
        self.flush(timeout_s)
        self._stop.set()
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
        self._worker.join(timeout_s)
        self._worker = None

    def __repr__(self) -> str:
        return f"AlertManager(account={self.account!r}, sinks={self.sinks!r})"


__all__ = ["Alert", "AlertManager", "AlertSettings", "EmailSink", "WebhookSink", "webhook_payload"]
