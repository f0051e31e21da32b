"""Typed, validated settings: keyword argument > config file > built-in default.

Every component reads its settings once, at construction, through a
``SettingsReader``::

    r = SettingsReader("paper", source_kwargs)      # keys under live_trading.paper
    fee = r.number("fee_bps", ge=0)                  # float
    model = r.choice("slippage.model", ("fixed_bps", "spread_only"))
    r.finish()                                       # raises ConfigError listing *every* problem

Overrides are looked up by the key's name with dots as underscores
(``slippage.model`` -> ``slippage_model``). A keyword argument that is ``None`` means "use the config"; any other value,
``0`` included, is used as given. Problems are collected rather than raised one
at a time, so ``check-config`` can report them all at once; each names the key,
the bad value, what is allowed and where the value came from, e.g.
``live_trading.paper.fee_bps must be a number >= 0, got 'abc' (in /etc/lt.yaml)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from CONFIG.config_loader import config_path, get_cfg
from LIVE_TRADING.common.constants import default_for
from LIVE_TRADING.common.exceptions import ConfigError

_MISSING: Any = object()
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _fmt(bound: str, value: float | None) -> str | None:
    return None if value is None else f"{bound} {value:g}"


class SettingsReader:
    """Reads the settings of one config section (``live_trading.<section>``)."""

    def __init__(self, section: str, overrides: Mapping[str, Any] | None = None) -> None:
        self.section = section
        self.overrides = dict(overrides or {})
        self.problems: list[str] = []

    # -- plumbing -----------------------------------------------------------
    def key(self, name: str) -> str:
        return f"live_trading.{self.section}.{name}" if self.section else f"live_trading.{name}"

    def raw(self, name: str, override: Any = _MISSING) -> tuple[Any, str]:
        """The value for ``name`` and where it came from (for messages)."""
        if override is _MISSING:
            override = self.overrides.get(name.replace(".", "_"))
        if override is not None:
            return override, "keyword argument"
        key = self.key(name)
        try:
            default = default_for(key)
        except KeyError:
            default = None
        try:
            value = get_cfg(key)
        except KeyError:
            return default, "built-in default"
        except ConfigError as exc:
            self.problems.append(str(exc))
            return default, "built-in default"
        return value, f"in {config_path()}"

    def _problem(self, name: str, allowed: str, value: Any, source: str) -> None:
        self.problems.append(f"{self.key(name)} must be {allowed}, got {value!r} ({source})")

    def finish(self) -> None:
        """Raise one ``ConfigError`` naming every problem found so far (if any)."""
        if self.problems:
            raise ConfigError(problems=self.problems)

    # -- typed readers ------------------------------------------------------
    def number(
        self,
        name: str,
        override: Any = _MISSING,
        *,
        ge: float | None = None,
        gt: float | None = None,
        le: float | None = None,
        optional: bool = False,
    ) -> float | None:
        """A finite float within the bounds (``None`` allowed only if ``optional``)."""
        value, source = self.raw(name, override)
        parts = [p for p in (_fmt(">=", ge), _fmt(">", gt), _fmt("<=", le)) if p]
        allowed = "a number" + (" " + " and ".join(parts) if parts else "")
        if optional:
            allowed += " (or null)"
        if value is None:
            if not optional:
                self._problem(name, allowed, value, source)
            return None
        number = to_float(value)
        if (
            number is None
            or (ge is not None and number < ge)
            or (gt is not None and number <= gt)
            or (le is not None and number > le)
        ):
            self._problem(name, allowed, value, source)
            return None
        return number

    def integer(
        self,
        name: str,
        override: Any = _MISSING,
        *,
        ge: int | None = None,
        le: int | None = None,
        optional: bool = False,
    ) -> int | None:
        value, source = self.raw(name, override)
        parts = [p for p in (_fmt(">=", ge), _fmt("<=", le)) if p]
        allowed = "an integer" + (" " + " and ".join(parts) if parts else "")
        if value is None:
            if not optional:
                self._problem(name, allowed, value, source)
            return None
        number = to_float(value)
        if number is None or number != int(number) or (ge is not None and number < ge) or (
            le is not None and number > le
        ):
            self._problem(name, allowed, value, source)
            return None
        return int(number)

    def boolean(self, name: str, override: Any = _MISSING) -> bool:
        value, source = self.raw(name, override)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        self._problem(name, "true or false", value, source)
        return False

    def choice(self, name: str, choices: Iterable[str], override: Any = _MISSING) -> str:
        options = tuple(choices)
        value, source = self.raw(name, override)
        if isinstance(value, str) and value.strip().lower() in options:
            return value.strip().lower()
        self._problem(name, "one of " + ", ".join(options), value, source)
        return options[0]

    def string(
        self,
        name: str,
        override: Any = _MISSING,
        *,
        optional: bool = False,
        pattern: str | None = None,
        allowed: str = "a non-empty string",
    ) -> str | None:
        value, source = self.raw(name, override)
        if value is None and optional:
            return None
        if (
            not isinstance(value, str)
            or not value.strip()
            or (pattern is not None and not re.fullmatch(pattern, value.strip()))
        ):
            self._problem(name, allowed, value, source)
            return None
        return value.strip()

    def string_list(self, name: str, override: Any = _MISSING, *, optional: bool = True) -> list[str] | None:
        """A list of non-empty strings (a single comma-separated string is accepted too)."""
        value, source = self.raw(name, override)
        if value is None:
            if not optional:
                self._problem(name, "a list of strings", value, source)
            return None
        if isinstance(value, str):
            value = [v for v in (s.strip() for s in value.split(",")) if v]
        if not isinstance(value, list | tuple | set | frozenset) or not all(
            isinstance(v, str) and v.strip() for v in value
        ):
            self._problem(name, "a list of strings", value, source)
            return None
        return [v.strip() for v in value]

    def mapping(self, name: str, override: Any = _MISSING) -> dict[str, Any]:
        value, source = self.raw(name, override)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self._problem(name, "a mapping", value, source)
            return {}
        return dict(value)


def to_float(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` if it is not one (bools are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        try:
            number = float(value)  # Decimal, numpy scalars
        except (TypeError, ValueError):
            return None
    return number if math.isfinite(number) else None


__all__ = ["SettingsReader", "to_float"]
