"""One config section as its validated model, with keyword overrides: ``section(name, overrides)``.

Every component reads its settings once, at construction::

    cfg = section("paper", {"fee_bps": 0, "slippage.model": None})   # -> CONFIG.schema.PaperSettings
    cfg.fee_bps        # 0.0: an explicit 0 is zero
    cfg.slippage.model # None means "use the config file"

The file itself was checked against ``CONFIG/schema.py`` when it was first read;
overrides are checked by the same model, so a bad keyword argument gives the same
``ConfigError`` as a bad file value, naming the full key, the bad value, what is
allowed and ``(keyword argument)`` as its source.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from CONFIG.config_loader import config_path, validated_config
from CONFIG.schema import SECTIONS
from CONFIG.types import problems
from LIVE_TRADING.common.exceptions import ConfigError


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        node[part] = child = dict(child) if isinstance(child, dict) else {}
        node = child
    node[last] = value


def section(name: str, overrides: Mapping[str, Any] | None = None) -> Any:
    """The validated settings of ``live_trading.<name>`` (``name`` like ``"paper"`` or ``"data.sim"``).

    ``overrides`` maps dotted keys inside the section (``"fees.model"``) to values;
    ``None`` values mean "use the config". Returns the section's model from
    ``CONFIG.schema`` (``PaperSettings``, ``RiskSettings``, ...). Raises ``ConfigError``
    listing every problem.
    """
    if name not in SECTIONS:
        raise ConfigError(f"no config section live_trading.{name} (known: {', '.join(s for s in SECTIONS if s)})")
    model = SECTIONS[name]
    node: BaseModel = validated_config().live_trading
    for part in name.split(".") if name else ():
        node = getattr(node, part)
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if not given:
        return node
    data = node.model_dump()
    for dotted, value in given.items():
        _set(data, dotted, value)
    prefix = f"live_trading.{name}" if name else "live_trading"

    def source(loc: tuple[Any, ...]) -> str:
        dotted = ".".join(map(str, loc))
        if any(dotted == k or dotted.startswith(k + ".") or k.startswith(dotted + ".") for k in given):
            return "keyword argument"
        return f"in {config_path()}"

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems=problems(exc, model, prefix, source)) from None


__all__ = ["section"]
