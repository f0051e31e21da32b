"""Load the LIVE_TRADING YAML configuration and read dotted keys from it.

Which file:
    the path in the ``LIVE_TRADING_CONFIG`` environment variable if set, else
    the packaged ``CONFIG/live_trading.yaml`` (offline paper trading defaults).

Reading keys::

    get_cfg("live_trading.paper.fee_bps", default=1.0)

Values are cached per file; ``reload_config()`` drops the cache. String values
may reference the environment: ``${VAR}`` or ``${VAR:default}``. References are
expanded when a key is *read*, so a ``${BINANCE_API_KEY}`` with no such
variable is only an error for the code that needs that key (``EnvVarMissingError``,
a ``ConfigError``). Secrets belong in the environment, never literally in the file.

Values are returned as written (after expansion); typing and range checks
happen once, where they are used (see ``LIVE_TRADING.common.settings``).
An explicit ``0`` is zero, never "use the default": only a missing key or a
YAML ``null`` falls back to ``default``.
"""

from __future__ import annotations

import copy
import os
import re
import threading
from pathlib import Path
from typing import Any

import yaml

from LIVE_TRADING.common.exceptions import ConfigError

ENV_VAR = "LIVE_TRADING_CONFIG"
PACKAGED_CONFIG = Path(__file__).with_name("live_trading.yaml")

_MISSING: Any = object()
_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")

_lock = threading.Lock()
_cache: dict[Path, dict[str, Any]] = {}


class EnvVarMissingError(ConfigError):
    """A ``${VAR}`` reference without default names a variable that is not set."""

    def __init__(self, key: str, variable: str, path: Path | str) -> None:
        self.key = key
        self.variable = variable
        super().__init__(
            f"{key} refers to environment variable {variable}, which is not set "
            f"(set it, or give a default as ${{{variable}:default}}) in {path}"
        )


def config_path() -> Path:
    """The file the configuration is read from (``LIVE_TRADING_CONFIG`` or the packaged one)."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else PACKAGED_CONFIG


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"Config file not found: {path} (check {ENV_VAR})") from None
    except OSError as exc:
        raise ConfigError(f"Config file {path} cannot be read: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"Malformed YAML in {path}{where}: {problem}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {path} must hold a mapping at the top level, got {type(data).__name__}")
    section = data.get("live_trading")
    if section is not None and not isinstance(section, dict):
        raise ConfigError(
            f"live_trading must be a mapping of settings, got {section!r} in {path}"
        )
    return data


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """Return the whole configuration as a dict (a copy; ``${VAR}`` references unexpanded).

    ``path=None`` means the file ``config_path()`` names. The file is parsed
    once and cached; ``reload_config()`` forgets it.
    """
    p = Path(path).expanduser() if path is not None else config_path()
    with _lock:
        data = _cache.get(p)
        if data is None:
            data = _read(p)
            _cache[p] = data
    return copy.deepcopy(data)


def reload_config() -> None:
    """Forget every cached file: the next read parses the file again."""
    with _lock:
        _cache.clear()


def _expand(value: Any, key: str, path: Path) -> Any:
    if isinstance(value, str) and "${" in value:
        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            env = os.environ.get(name)
            if env is not None:
                return env
            if default is not None:
                return default
            raise EnvVarMissingError(key, name, path)

        return _REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand(v, f"{key}.{k}", path) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{key}[{i}]", path) for i, v in enumerate(value)]
    return value


def get_cfg(key: str, default: Any = _MISSING, *, expand: bool = True) -> Any:
    """Read a dotted key such as ``"live_trading.paper.fee_bps"``.

    Returns ``default`` when the key (or a parent) is absent or ``null``;
    raises ``KeyError`` if there is no such key and no default was given.
    With ``expand=False`` the raw value is returned (``${VAR}`` unexpanded),
    which lets callers check that a secret is an environment reference.
    """
    path = config_path()
    with _lock:
        data = _cache.get(path)
        if data is None:
            data = _read(path)
            _cache[path] = data
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or node.get(part) is None:
            if default is _MISSING:
                raise KeyError(key)
            return default
        node = node[part]
    node = copy.deepcopy(node) if isinstance(node, dict | list) else node
    return _expand(node, key, path) if expand else node


__all__ = [
    "ENV_VAR",
    "PACKAGED_CONFIG",
    "ConfigError",
    "EnvVarMissingError",
    "config_path",
    "get_cfg",
    "load_config",
    "reload_config",
]
