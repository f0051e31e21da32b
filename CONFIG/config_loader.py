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

The whole file is checked against ``CONFIG/schema.py`` when it is first read
(by any command or constructor): duplicate keys, unknown keys, wrong types,
out-of-range numbers, a file that is not UTF-8 or nests absurdly deep are each a
``ConfigError`` naming the key and what is allowed. ``get_cfg`` returns values
as written (after expansion); ``validated_config()`` returns the typed model
and ``LIVE_TRADING.common.settings.section()`` one section with keyword overrides.
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
from pydantic import ValidationError

from CONFIG.schema import Config
from CONFIG.types import problems, secret_like
from LIVE_TRADING.common.exceptions import ConfigError

ENV_VAR = "LIVE_TRADING_CONFIG"
PACKAGED_CONFIG = Path(__file__).with_name("live_trading.yaml")

_MISSING: Any = object()
_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")

#: deepest nesting a config file may have (the schema needs 5; protects against recursion limits)
MAX_DEPTH = 32

_lock = threading.RLock()
_cache: dict[Path, tuple[dict[str, Any], Config]] = {}


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


def _check_tree(root: yaml.Node, path: Path) -> None:
    """Refuse duplicate keys and nesting deeper than ``MAX_DEPTH`` (walked without recursion)."""
    stack: list[tuple[yaml.Node, str, int]] = [(root, "", 0)]
    while stack:
        node, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigError(
                f"{where or 'the top level'} is nested more than {MAX_DEPTH} levels deep in {path} "
                f"(line {node.start_mark.line + 1}); settings are at most a few levels deep"
            )
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                name = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
                dotted = f"{where}.{name}" if where else name
                line = key_node.start_mark.line + 1
                if isinstance(key_node, yaml.ScalarNode) and name in seen and name != "<<":
                    raise ConfigError(
                        f"duplicate key {dotted} at line {line} of {path} (first at line {seen[name]}); "
                        "each key may appear once per section"
                    )
                seen[name] = line
                stack.append((key_node, dotted, depth + 1))
                stack.append((value_node, dotted, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(node.value))


def _parse(text: str, path: Path) -> Any:
    """The YAML document in ``text``: every way it can be bad is a ``ConfigError``."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_tree(node, path)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"Malformed YAML in {path}{where}: {problem}") from exc
    except RecursionError:
        raise ConfigError(
            f"{path} is nested too deeply to read (more than {MAX_DEPTH} levels are never needed)"
        ) from None
    except (ValueError, OverflowError, TypeError) as exc:  # e.g. an impossible date like 2026-13-45
        raise ConfigError(f"Malformed YAML in {path}: a value cannot be read: {exc}") from exc
    finally:
        loader.dispose()


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"Config file not found: {path} (check {ENV_VAR})") from None
    except OSError as exc:
        raise ConfigError(f"Config file {path} cannot be read: {exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"Config file {path} is not UTF-8 text (byte {exc.start}, line {line}); save it as UTF-8"
        ) from None
    data = _parse(text, path)
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


def read_config_file(path: str | Path | None = None) -> dict[str, Any]:
    """The file parsed but *not* checked against the schema (for tools that report on a bad file)."""
    return _read(Path(path).expanduser() if path is not None else config_path())


def _expand_known(value: Any) -> Any:
    """``value`` with every ``${VAR}`` whose variable is set (or has a default) expanded; others left as written."""
    if isinstance(value, str) and "${" in value:
        def sub(match: re.Match[str]) -> str:
            env = os.environ.get(match.group(1))
            if env is not None:
                return env
            return match.group(2) if match.group(2) is not None else match.group(0)

        return _REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand_known(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_known(v) for v in value]
    return value


def _validate(data: dict[str, Any], path: Path) -> Config:
    """The whole file checked against the schema: one ``ConfigError`` listing every problem."""
    try:
        return Config.model_validate(_expand_known(data))
    except ValidationError as exc:
        raise ConfigError(problems=problems(exc, Config, "", lambda loc: f"in {path}")) from None


def _entry(path: Path) -> tuple[dict[str, Any], Config]:
    with _lock:
        entry = _cache.get(path)
        if entry is None:
            data = _read(path)
            entry = (data, _validate(data, path))
            _cache[path] = entry
    return entry


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """Return the whole configuration as a dict (a copy; ``${VAR}`` references unexpanded).

    ``path=None`` means the file ``config_path()`` names. The file is parsed and
    validated against the schema once and cached (``reload_config()`` forgets it);
    anything wrong with it is a ``ConfigError`` listing every problem.
    """
    p = Path(path).expanduser() if path is not None else config_path()
    return copy.deepcopy(_entry(p)[0])


def validated_config(path: str | Path | None = None) -> Config:
    """The whole configuration as the validated ``CONFIG.schema.Config`` (defaults filled in)."""
    p = Path(path).expanduser() if path is not None else config_path()
    return _entry(p)[1]


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


def _key_parts(key: Any) -> list[str]:
    if not isinstance(key, str):
        raise ConfigError(f"get_cfg needs a dotted key such as 'live_trading.venue', got {key!r} ({type(key).__name__})")
    parts = key.split(".")
    if not key.strip() or any(not p.strip() for p in parts):
        raise ConfigError(f"get_cfg needs a dotted key such as 'live_trading.venue', got {key!r}")
    return parts


def get_cfg(key: str, default: Any = _MISSING, *, expand: bool = True) -> Any:
    """Read a dotted key such as ``"live_trading.paper.fee_bps"``.

    Returns ``default`` when the key (or a parent) is absent or ``null``;
    raises ``KeyError`` if there is no such key and no default was given.
    With ``expand=False`` the raw value is returned (``${VAR}`` unexpanded),
    which lets callers check that a secret is an environment reference.
    A key that is not a dotted string is a ``ConfigError``; so is a file that
    does not pass the schema (checked once, on first read).
    """
    parts = _key_parts(key)
    path = config_path()
    node: Any = _entry(path)[0]
    for part in parts:
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
    "read_config_file",
    "reload_config",
    "secret_like",
    "validated_config",
]
