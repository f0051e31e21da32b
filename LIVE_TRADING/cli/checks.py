"""``live-trading check-config``: every configuration problem at once, then a read-only venue check.

1. The file must parse (``Malformed YAML ... at line L, column C``).
2. The whole file is checked against the schema (``CONFIG/schema.py``):
   unknown keys (with "did you mean"), wrong types, out-of-range values, all
   listed at once, together with names looked up in registries
   (``live_trading.venue``, ``data.provider``, ``paper.data_provider``). If the
   file passes, each settings group is built the way the code builds it: the
   paper broker (``PaperConfig``), risk limits (``RiskLimits``), the run defaults
   (``PipelineConfig``), the offline data provider(s) (constructed, no network),
   and, for venue ``binance`` / ``ibkr``, that venue's own checks (live-money
   guards, credentials).
3. With no problems, live venues (any venue but paper) get a read-only connection check: the
   broker is built and asked for its time and cash, and what its
   ``venue_health()`` reports is shown (connected, account, server time
   offset, rate-limit headroom, reconnects first, then any other figures). Paper needs no connection; its journal
   is not touched.

Exit codes: 0 all good; 2 configuration problems (all listed); 1 the
configuration is valid but the venue check failed.
"""

from __future__ import annotations

import argparse
import functools
import logging
from collections.abc import Callable
from typing import Any

from CONFIG.config_loader import config_path, load_config, read_config_file
from LIVE_TRADING.brokers.interface import SupportsVenueHealth, get_broker, known_venues, venue_broker
from LIVE_TRADING.cli.render import Output, error_line, money, when
from LIVE_TRADING.cli.session import close_quietly
from LIVE_TRADING.common.clock import utc_now
from LIVE_TRADING.common.exceptions import BrokerError, ConfigError, LiveTradingError
from LIVE_TRADING.data.provider import get_data_provider, known_data_providers

logger = logging.getLogger(__name__)

LIVE_VENUES = ("binance", "ibkr")
#: providers whose construction is offline (the others connect to a venue)
OFFLINE_PROVIDERS = ("sim", "replay", "yfinance")
#: venue_health() keys shown first by the read-only check (the rest follow alphabetically)
_SHOWN_FIRST = ("connected", "account", "testnet", "server_time_offset_ms", "server_offset_ms",
                "rate_limit_headroom", "reconnects")
_OFFSET_KEYS = ("server_time_offset_ms", "server_offset_ms")


def _collect(problems: list[str], label: str, build: Callable[[], Any]) -> Any:
    """Run ``build``; add what it complains about to ``problems``."""
    try:
        return build()
    except ConfigError as exc:
        problems.extend(exc.problems or [str(exc)])
    except (LiveTradingError, ValueError, TypeError) as exc:  # e.g. AuthenticationError: no credentials
        problems.append(f"{label}: {exc}")
    except ImportError as exc:
        problems.append(f"{label}: cannot be loaded ({exc})")
    return None


def _venue_settings(venue: str) -> Callable[[], Any]:
    """What validates a live venue's own settings (its live-money guards, credentials)."""
    if venue == "binance":
        from LIVE_TRADING.brokers.binance.config import load_binance_config

        return load_binance_config
    from LIVE_TRADING.brokers.ibkr.config import IBKRSettings

    return IBKRSettings.load


def _registered(problems: list[str], key: str, value: Any, known: tuple[str, ...], where: str) -> str | None:
    """``value`` lower-cased if it names one of ``known``, else a problem and ``None``."""
    name = value.strip().lower() if isinstance(value, str) else None
    if name not in known:
        problems.append(f"{key} must be one of {', '.join(known)}, got {value!r} ({where})")
        return None
    return name


def validate(venue_override: str | None) -> tuple[str | None, list[str], list[str]]:
    """``(venue, problems, warnings)`` for the current config file.

    The schema check (``CONFIG/schema.py``) and the names looked up in registries
    (venue, data providers) are reported together; the components are built only
    when the file passed the schema.
    """
    problems: list[str] = []
    warnings: list[str] = []
    path = config_path()
    schema_ok = True
    try:
        data = load_config()
    except ConfigError as exc:
        problems.extend(exc.problems or [str(exc)])
        schema_ok = False
        try:
            data = read_config_file(path)  # parsed without the schema: the names below are still checked
        except ConfigError:
            return None, problems, warnings
    section = data.get("live_trading") or {}
    if not section:
        warnings.append(f"{path} has no live_trading section: every setting is the built-in default")

    def sub(name: str) -> dict[str, Any]:
        value = section.get(name)
        return value if isinstance(value, dict) else {}

    raw_venue = venue_override if venue_override is not None else (section.get("venue") or "paper")
    where = "--venue" if venue_override is not None else f"in {path}"
    venue = _registered(problems, "live_trading.venue", raw_venue, tuple(known_venues()), where)
    known = tuple(known_data_providers())
    providers = {"live_trading.data.provider": sub("data").get("provider") or "sim"}
    if sub("paper").get("data_provider"):
        providers["live_trading.paper.data_provider"] = sub("paper")["data_provider"]
    names = [_registered(problems, key, name, known, f"in {path}") for key, name in providers.items()]
    if not schema_ok:
        return venue, problems, warnings

    from LIVE_TRADING.brokers.guard.risk import RiskLimits
    from LIVE_TRADING.brokers.paper import PaperConfig
    from LIVE_TRADING.pipeline import PipelineConfig

    _collect(problems, "live_trading.paper", PaperConfig.from_config)
    _collect(problems, "live_trading.risk", RiskLimits.from_config)
    _collect(problems, "live_trading.pipeline", PipelineConfig.from_config)
    from LIVE_TRADING.common.circuit import CircuitSettings
    from LIVE_TRADING.monitoring.alerts import AlertSettings
    from LIVE_TRADING.monitoring.server import MonitoringSettings

    _collect(problems, "live_trading.circuit", CircuitSettings.from_config)
    _collect(problems, "live_trading.monitoring", MonitoringSettings.from_config)
    _collect(problems, "live_trading.alerts", AlertSettings.from_config)
    for name in dict.fromkeys(n for n in names if n in OFFLINE_PROVIDERS):
        provider = _collect(problems, f"live_trading.data.{name}", functools.partial(get_data_provider, name))
        if provider is not None:
            close_quietly(provider)
    if venue in LIVE_VENUES:
        try:
            build = _venue_settings(venue)
        except ImportError as exc:
            hint = ' (pip install "live-trading[ibkr]")' if venue == "ibkr" else ""
            problems.append(f"venue {venue}: its adapter cannot be loaded: {exc}{hint}")
        else:
            _collect(problems, f"live_trading.{venue}", build)
    return venue, problems, warnings


def connection_check(venue: str) -> tuple[dict[str, Any], list[str], int]:
    """Build the live broker and make read-only calls: ``(facts, problems, exit code)``."""
    facts: dict[str, Any] = {"venue": venue}
    try:
        broker = get_broker(venue)
    except ConfigError as exc:
        return facts, exc.problems or [str(exc)], 2
    except ImportError as exc:
        return facts, [f"venue {venue} cannot be loaded: {exc} (is its optional dependency installed?)"], 2
    except BrokerError as exc:
        return facts, [f"connecting to {venue} failed: {type(exc).__name__}: {exc}"], 1
    try:
        before = utc_now()
        venue_now = broker.now()
        after = utc_now()
        facts["venue time (UTC)"] = venue_now
        facts["server time offset ms"] = round((venue_now - (before + (after - before) / 2)).total_seconds() * 1e3, 1)
        facts["cash available"] = broker.get_cash()
        inner = venue_broker(broker)
        if isinstance(inner, SupportsVenueHealth):
            status = {k: v for k, v in dict(inner.venue_health()).items() if v is None or isinstance(v, str | int | float | bool)}
            if any(k in status for k in _OFFSET_KEYS):  # the venue measured it: show its figure
                facts.pop("server time offset ms", None)
            for key in sorted(status, key=lambda k: (_SHOWN_FIRST.index(k) if k in _SHOWN_FIRST else 99, k)):
                facts[key.replace("_", " ")] = status[key]
    except BrokerError as exc:
        return facts, [f"read-only check on {venue} failed: {type(exc).__name__}: {exc}"], 1
    finally:
        close_quietly(broker)
    return facts, [], 0


def _paper_facts() -> dict[str, Any]:
    from LIVE_TRADING.brokers.paper import PaperConfig
    from LIVE_TRADING.cli.session import paper_provider_name

    cfg = PaperConfig.from_config()
    return {
        "venue": "paper (offline simulator, no connection needed)",
        "journal": cfg.log_dir,
        "initial cash": money(cfg.initial_cash),
        "quotes from": paper_provider_name(),
        "fees": cfg.fee_model,
        "slippage": cfg.slippage_model,
    }


def cmd_check_config(args: argparse.Namespace, out: Output, venue_override: str | None) -> int:
    path = config_path()
    venue, problems, warnings = validate(venue_override)
    facts: dict[str, Any] = {}
    code = 0
    if problems:
        code = 2
    elif venue == "paper":
        facts = _paper_facts()
    elif venue is not None:
        facts, problems, code = connection_check(venue)
    if out.json_mode:
        out.json({"config": str(path), "venue": venue, "ok": code == 0, "problems": problems,
                  "warnings": warnings, "connection": facts})
    else:
        out.line(f"Config: {path}")
        for w in warnings:
            out.line(f"warning: {w}")
        if problems:
            what = "configuration problem" if code == 2 else "connection problem"
            out.line(f"{len(problems)} {what}{'s' if len(problems) != 1 else ''}:")
            for p in problems:
                out.line(f"  - {p}")
        if len(facts) > 1:  # more than the venue's name
            out.fields([(k, when(v) if k == "venue time (UTC)" else v) for k, v in facts.items()],
                       title="Venue" if venue == "paper" else "Venue check (read-only)")
        if code == 0:
            out.line("Configuration OK.")
    if code == 2:
        error_line(f"{len(problems)} configuration problem{'s' if len(problems) != 1 else ''} in {path}")
    elif code == 1:
        error_line(problems[0] if problems else "venue check failed")
    return code


__all__ = ["cmd_check_config", "connection_check", "validate"]
