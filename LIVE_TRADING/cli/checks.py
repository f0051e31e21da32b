"""``live-trading check-config``: every configuration problem at once, then a read-only venue check.

1. The file must parse (``Malformed YAML ... at line L, column C``).
2. Each settings group is built the way the code builds it, collecting every
   problem instead of stopping at the first: ``live_trading.venue``, the
   paper broker (``PaperConfig``), risk limits (``RiskLimits``), the run
   defaults (``PipelineConfig``), the data provider(s) named by
   ``data.provider`` and ``paper.data_provider`` (constructed, no network),
   and, for venue ``binance`` / ``ibkr``, that venue's own settings.
   Keys the package does not know are reported as warnings (a typo is
   otherwise silently ignored).
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
import importlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from CONFIG.config_loader import config_path, get_cfg, load_config
from LIVE_TRADING.brokers.interface import get_broker, known_venues
from LIVE_TRADING.cli.render import Output, error_line, money, when
from LIVE_TRADING.cli.session import close_quietly
from LIVE_TRADING.common.clock import utc_now
from LIVE_TRADING.common.constants import DEFAULT_CONFIG
from LIVE_TRADING.common.exceptions import BrokerError, ConfigError, LiveTradingError
from LIVE_TRADING.data.provider import get_data_provider, known_data_providers

logger = logging.getLogger(__name__)

LIVE_VENUES = ("binance", "ibkr")
#: providers whose construction is offline (the others connect to a venue)
OFFLINE_PROVIDERS = ("sim", "replay", "yfinance")
#: venue -> (config module, loaders tried in turn: "function" or "Class.method", each called without arguments)
VENUE_CONFIG_LOADERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "binance": ("LIVE_TRADING.brokers.binance.config",
                ("load_binance_config", "BinanceConfig.from_config", "BinanceConfig.load")),
    "ibkr": ("LIVE_TRADING.brokers.ibkr.config",
             ("IBKRSettings.load", "IBKRSettings.from_config", "IBKRConfig.from_config", "load_ibkr_config")),
}
#: venue_health() keys shown first by the read-only check (the rest follow alphabetically)
_SHOWN_FIRST = ("connected", "account", "testnet", "server_time_offset_ms", "server_offset_ms",
                "rate_limit_headroom", "reconnects")
_OFFSET_KEYS = ("server_time_offset_ms", "server_offset_ms")
#: free-form mappings (symbols as keys) and sections owned by venue adapters: no unknown-key warnings inside
_FREE_FORM = frozenset({"live_trading.data.sim.symbols", "live_trading.binance", "live_trading.ibkr"})


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


def unknown_keys(node: Mapping[str, Any], defaults: Mapping[str, Any], prefix: str = "live_trading") -> list[str]:
    """Dotted keys in ``node`` that ``defaults`` does not have (free-form mappings skipped)."""
    found = []
    for key, value in node.items():
        dotted = f"{prefix}.{key}"
        if key not in defaults:
            found.append(dotted)
        elif isinstance(value, Mapping) and isinstance(defaults[key], Mapping) and dotted not in _FREE_FORM:
            found.extend(unknown_keys(value, defaults[key], dotted))
    return found


def _venue_config(venue: str, problems: list[str], warnings: list[str]) -> None:
    module_name, loaders = VENUE_CONFIG_LOADERS[venue]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = ' (pip install "live-trading[ibkr]")' if venue == "ibkr" else ""
        problems.append(f"venue {venue}: its adapter cannot be loaded: {exc}{hint}")
        return
    for dotted in loaders:
        target: Any = module
        for part in dotted.split("."):
            target = getattr(target, part, None)
            if target is None:
                break
        if callable(target):
            _collect(problems, f"live_trading.{venue}", target)
            return
    warnings.append(f"no settings validator found in {module_name}; the connection check below builds the broker")


def validate(venue_override: str | None) -> tuple[str | None, list[str], list[str]]:
    """``(venue, problems, warnings)`` for the current config file."""
    problems: list[str] = []
    warnings: list[str] = []
    path = config_path()
    try:
        data = load_config()
    except ConfigError as exc:
        return None, exc.problems or [str(exc)], warnings
    section = data.get("live_trading") or {}
    if not data.get("live_trading"):
        warnings.append(f"{path} has no live_trading section: every setting is the built-in default")
    warnings.extend(f"unknown key {k} (ignored)" for k in unknown_keys(section, DEFAULT_CONFIG))

    venues = known_venues()
    raw_venue = venue_override if venue_override is not None else get_cfg("live_trading.venue", default="paper")
    venue = raw_venue.strip().lower() if isinstance(raw_venue, str) else None
    if venue not in venues:
        where = "--venue" if venue_override is not None else f"in {path}"
        problems.append(f"live_trading.venue must be one of {', '.join(venues)}, got {raw_venue!r} ({where})")
        venue = None

    from LIVE_TRADING.brokers.guard.risk import RiskLimits
    from LIVE_TRADING.brokers.paper import PaperConfig
    from LIVE_TRADING.pipeline import PipelineConfig

    paper = _collect(problems, "live_trading.paper", PaperConfig.from_config)
    _collect(problems, "live_trading.risk", RiskLimits.from_config)
    _collect(problems, "live_trading.pipeline", PipelineConfig.from_config)
    from LIVE_TRADING.common.circuit import CircuitSettings
    from LIVE_TRADING.monitoring.alerts import AlertSettings
    from LIVE_TRADING.monitoring.server import MonitoringSettings

    _collect(problems, "live_trading.circuit", CircuitSettings.from_config)
    _collect(problems, "live_trading.monitoring", MonitoringSettings.from_config)
    _collect(problems, "live_trading.alerts", AlertSettings.from_config)

    providers = {"live_trading.data.provider": get_cfg("live_trading.data.provider", default="sim")}
    if paper is not None and paper.data_provider:
        providers["live_trading.paper.data_provider"] = paper.data_provider
    known = known_data_providers()
    checked: set[str] = set()
    for key, name in providers.items():
        if not isinstance(name, str) or name.strip().lower() not in known:
            problems.append(f"{key} must be one of {', '.join(known)}, got {name!r} (in {path})")
            continue
        name = name.strip().lower()
        if name in checked or name not in OFFLINE_PROVIDERS:
            continue
        checked.add(name)
        provider = _collect(problems, f"live_trading.data.{name}", lambda n=name: get_data_provider(n))
        if provider is not None:
            close_quietly(provider)

    if venue in LIVE_VENUES:
        _venue_config(venue, problems, warnings)
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
        unwrap = getattr(broker, "unwrap", None)
        inner = unwrap() if callable(unwrap) else broker
        probe = getattr(inner, "venue_health", None)
        if callable(probe):
            status = {k: v for k, v in dict(probe()).items() if v is None or isinstance(v, str | int | float | bool)}
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


__all__ = ["VENUE_CONFIG_LOADERS", "cmd_check_config", "connection_check", "unknown_keys", "validate"]
