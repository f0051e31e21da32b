"""``live-trading config schema`` and ``live-trading config show``.

``schema`` prints the JSON Schema of the config file (from ``CONFIG/schema.py``),
so editors can complete and check ``live_trading.yaml``; it needs no valid file.
``show`` prints the effective configuration (the file checked and completed with
every default) as YAML, or JSON with ``--json``. Secrets never appear: a value
under a key named like ``*key*``, ``*secret*``, ``*token*`` or ``*password*`` shows
as ``***`` (only empty or null ones are shown as they are).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import yaml

from CONFIG.config_loader import config_path, secret_like, validated_config
from CONFIG.schema import json_schema
from LIVE_TRADING.cli.render import Output

MASK = "***"


def masked(node: Any, name: str = "") -> Any:
    """``node`` with every secret-like key's non-empty value replaced by ``***``."""
    if isinstance(node, dict):
        return {k: masked(v, str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [masked(v, name) for v in node]
    if name and secret_like(name) and node not in (None, ""):
        return MASK
    return node


def effective_config() -> dict[str, Any]:
    """The whole validated configuration, defaults filled in, secrets masked."""
    return masked(validated_config().model_dump(mode="json"))  # type: ignore[no-any-return]


def cmd_config(args: argparse.Namespace, out: Output) -> int:
    if args.config_command == "schema":
        print(json.dumps(json_schema(), indent=2))
        return 0
    data = effective_config()
    if out.json_mode:
        out.json({"config": str(config_path()), "effective": data})
    else:
        print(f"# effective configuration of {config_path()} (defaults filled in, secrets masked)")
        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")
    return 0


__all__ = ["MASK", "cmd_config", "effective_config", "masked"]
