"""Settings of the Binance venue, read and checked once, at construction.

Every key lives under ``live_trading.binance`` and is also a keyword argument of
``get_broker("binance", ...)`` (keyword > config file > built-in default)::

    cfg = load_binance_config(base_url="http://127.0.0.1:8080", api_key="...", api_secret="...")

Safety rules enforced here, before any request is made:

* ``testnet`` defaults to true (``https://testnet.binance.vision``). Trading the
  live exchange needs ``testnet: false`` *and* ``allow_live: true``; without the
  second a ``ConfigError`` is raised. A ``base_url`` pointing at a live Binance
  host while ``testnet`` is true is refused as well (it would trade real money
  under a testnet label).
* Plain ``http://`` is only accepted for loopback hosts (local stand-ins).
* Credentials come from the environment: in the config file ``api_key`` and
  ``api_secret`` may only be ``${ENV}`` references (a literal secret, or a
  reference with a literal default, is a ``ConfigError`` that never echoes the
  value). An explicit keyword argument is accepted as is. Missing credentials
  raise ``AuthenticationError`` naming the environment variables to set.
* Secrets never appear in ``repr``/``str`` of the config, in messages or logs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from CONFIG.config_loader import EnvVarMissingError, config_path, get_cfg
from CONFIG.schema import BinanceSettings, JournalSettings
from LIVE_TRADING.common.exceptions import AuthenticationError, ConfigError
from LIVE_TRADING.common.settings import section

TESTNET_URL = "https://testnet.binance.vision"
LIVE_URL = "https://api.binance.com"
#: hosts of the live (real money) spot REST API
LIVE_HOSTS = frozenset(
    {"api.binance.com", "api-gcp.binance.com", "api1.binance.com", "api2.binance.com",
     "api3.binance.com", "api4.binance.com"}
)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: Binance's maximum recvWindow (rest-api.md, "Timing security")
MAX_RECV_WINDOW_MS = 60_000

DEFAULT_KEY_ENV = "BINANCE_API_KEY"
DEFAULT_SECRET_ENV = "BINANCE_API_SECRET"
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)(:)?\}$")
_ENV_REF_WITH_DEFAULT = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*):(.+)\}$")


@dataclass(frozen=True)
class BinanceConfig:
    """Validated settings of one Binance connection. Secrets are kept out of ``repr``."""

    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    testnet: bool
    base_url: str
    quote_asset: str
    recv_window_ms: int
    order_timeout_s: float
    allow_live: bool
    log_dir: str
    request_timeout_s: float
    max_retries: int
    backoff_base_s: float
    backoff_max_s: float
    max_retry_after_s: float
    poll_interval_s: float
    weight_headroom: float
    exchange_info_ttl_s: float
    reconcile_attempts: int
    reconcile_delay_s: float
    journal_fsync: bool

    def __repr__(self) -> str:  # explicit, so no future field can leak a secret
        return (
            f"BinanceConfig(base_url={self.base_url!r}, testnet={self.testnet}, "
            f"quote_asset={self.quote_asset!r}, api_key='***', api_secret='***')"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class ConnectionSettings:
    """The settings that need no credentials (public market data, the data provider)."""

    testnet: bool
    base_url: str
    request_timeout_s: float
    max_retries: int
    backoff_base_s: float
    backoff_max_s: float
    max_retry_after_s: float
    weight_headroom: float
    recv_window_ms: int
    quote_asset: str


def _secret_env_name(key: str, default_env: str, problems: list[str]) -> str:
    """The environment variable the config file names for a secret (checking it is only a reference)."""
    try:
        raw = get_cfg(f"live_trading.binance.{key}", default=None, expand=False)
    except ConfigError as exc:  # malformed file: reported by the other readers too
        problems.append(str(exc))
        return default_env
    if raw is None or raw == "":
        return default_env
    if not isinstance(raw, str):
        problems.append(
            f"live_trading.binance.{key} must be an environment reference such as "
            f"${{{default_env}}}, not a literal value (in {config_path()})"
        )
        return default_env
    text = raw.strip()
    match = _ENV_REF.match(text)
    if match:
        return match.group(1)
    with_default = _ENV_REF_WITH_DEFAULT.match(text)
    name = with_default.group(1) if with_default else default_env
    # Never echo the value: it may be the secret itself.
    problems.append(
        f"live_trading.binance.{key} must be only an environment reference such as "
        f"${{{name}}} (a literal secret or a literal default is not allowed in the config file; "
        f"the value was not shown) (in {config_path()})"
    )
    return name


def _secret_from_env(key: str, env_name: str) -> str:
    """The expanded config value of a secret, '' when the variable is not set."""
    try:
        value = get_cfg(f"live_trading.binance.{key}", default=None)
    except EnvVarMissingError:
        return ""
    except ConfigError:
        return ""
    if value is None:  # key absent from the file: read the conventional variable directly
        value = os.environ.get(env_name, "")
    return str(value).strip()


def resolve_credentials(api_key: Any = None, api_secret: Any = None) -> tuple[str, str]:
    """``(api_key, api_secret)``: keyword arguments, else the environment via the config.

    Raises ``ConfigError`` if the config file holds a literal secret and
    ``AuthenticationError`` naming the environment variables if either is missing.
    """
    problems: list[str] = []
    key_env = _secret_env_name("api_key", DEFAULT_KEY_ENV, problems)
    secret_env = _secret_env_name("api_secret", DEFAULT_SECRET_ENV, problems)
    if problems:
        raise ConfigError(problems=problems)
    key = str(api_key).strip() if api_key is not None else _secret_from_env("api_key", key_env)
    secret = str(api_secret).strip() if api_secret is not None else _secret_from_env("api_secret", secret_env)
    missing = [name for name, value in ((key_env, key), (secret_env, secret)) if not value]
    if missing:
        raise AuthenticationError(
            "Binance API credentials are missing: set the environment variable(s) "
            + " and ".join(missing)
            + f" (referenced by live_trading.binance.api_key / api_secret as ${{{key_env}}} / "
            f"${{{secret_env}}}), or pass api_key= and api_secret= to get_broker('binance', ...)"
        )
    for name, value in (("api_key", key), ("api_secret", secret)):
        if any(c.isspace() or not c.isprintable() for c in value):
            raise AuthenticationError(f"Binance {name} contains whitespace or control characters")
    return key, secret


def _check_url(url: str, testnet: bool, allow_live: bool, problems: list[str]) -> str:
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        problems.append(f"live_trading.binance.base_url must be an http(s) URL, got {url!r}")
        return url
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        problems.append(
            f"live_trading.binance.base_url must use https (plain http only for 127.0.0.1/localhost), got {url!r}"
        )
    if testnet and host in LIVE_HOSTS:
        problems.append(
            f"live_trading.binance.base_url {url!r} is the live exchange but testnet is true; "
            "set testnet: false and allow_live: true to trade real money"
        )
    return url


def load_connection_settings(overrides: dict[str, Any] | None = None, *, require_live_ok: bool) -> tuple[
    ConnectionSettings, BinanceSettings
]:
    """The credential-free settings and the whole validated section (keyword arguments override).

    ``require_live_ok`` enforces the ``allow_live`` guard. Raises ``ConfigError``
    listing every problem.
    """
    cfg: BinanceSettings = section("binance", overrides)
    problems: list[str] = []
    if require_live_ok and not cfg.testnet and not cfg.allow_live:
        problems.append(
            "live_trading.binance.testnet is false (live trading with real money) but allow_live is not true; "
            "set live_trading.binance.allow_live: true (or pass allow_live=True) to trade a live account"
        )
    url = _check_url(cfg.base_url or (TESTNET_URL if cfg.testnet else LIVE_URL), cfg.testnet, cfg.allow_live, problems)
    if problems:
        raise ConfigError(problems=problems)
    settings = ConnectionSettings(
        testnet=cfg.testnet,
        base_url=url,
        request_timeout_s=cfg.request_timeout_s,
        max_retries=cfg.max_retries,
        backoff_base_s=cfg.backoff_base_s,
        backoff_max_s=cfg.backoff_max_s,
        max_retry_after_s=cfg.max_retry_after_s,
        weight_headroom=cfg.weight_headroom,
        recv_window_ms=cfg.recv_window_ms,
        quote_asset=cfg.quote_asset,
    )
    return settings, cfg


def load_binance_config(**overrides: Any) -> BinanceConfig:
    """The validated ``BinanceConfig`` (keyword arguments override the config file).

    Order of checks: configuration problems (including the ``allow_live`` guard and
    literal secrets) raise one ``ConfigError``; then missing credentials raise
    ``AuthenticationError``. Nothing here touches the network. ``journal_fsync=True``
    forces ``journal.durability: fsync``.
    """
    api_key = overrides.pop("api_key", None)
    api_secret = overrides.pop("api_secret", None)
    fsync = overrides.pop("journal_fsync", None)
    conn, cfg = load_connection_settings(overrides, require_live_ok=True)
    journal: JournalSettings = section("journal")
    key, secret = resolve_credentials(api_key, api_secret)
    return BinanceConfig(
        api_key=key,
        api_secret=secret,
        testnet=conn.testnet,
        base_url=conn.base_url,
        quote_asset=conn.quote_asset,
        recv_window_ms=conn.recv_window_ms,
        order_timeout_s=cfg.order_timeout_s,
        allow_live=cfg.allow_live,
        log_dir=cfg.log_dir,
        request_timeout_s=conn.request_timeout_s,
        max_retries=conn.max_retries,
        backoff_base_s=conn.backoff_base_s,
        backoff_max_s=conn.backoff_max_s,
        max_retry_after_s=conn.max_retry_after_s,
        poll_interval_s=cfg.poll_interval_s,
        weight_headroom=conn.weight_headroom,
        exchange_info_ttl_s=cfg.exchange_info_ttl_s,
        reconcile_attempts=cfg.reconcile_attempts,
        reconcile_delay_s=cfg.reconcile_delay_s,
        journal_fsync=bool(fsync) if fsync is not None else journal.durability == "fsync",
    )


__all__ = [
    "LIVE_URL",
    "TESTNET_URL",
    "BinanceConfig",
    "ConnectionSettings",
    "load_binance_config",
    "load_connection_settings",
    "resolve_credentials",
]
