"""The one import point for the Interactive Brokers client library.

LIVE_TRADING talks to TWS / IB Gateway through **ib_async** (the maintained
fork of ib_insync, extra ``ibkr``). ib_insync 0.9.86 (frozen since 2024) is
still supported: it has the same API under another import name. Which one is
used, in order of precedence:

1. ``ib_module=`` given to ``IBKRBroker`` / ``IBKRDataProvider`` (a name or
   the module itself),
2. the config key ``live_trading.ibkr.ib_module``,
3. the environment variable ``LIVE_TRADING_IB_MODULE`` (``ib_async`` or
   ``ib_insync``; the test suite uses it to run against each),
4. ``ib_async`` if it is installed, else ``ib_insync``.

Nothing else in LIVE_TRADING imports either library: adapters receive the
module object from ``load_ib_module`` and use ``module.IB``, ``module.Contract``,
``module.Order``, ``module.ExecutionFilter`` and ``module.util``.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from LIVE_TRADING.common.exceptions import ConfigError

ENV_VAR = "LIVE_TRADING_IB_MODULE"
SUPPORTED = ("ib_async", "ib_insync")
_INSTALL_HINT = "install it with: pip install 'live-trading[ibkr]' (or pip install ib_async)"


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(f"The IB client library {name!r} is not installed; {_INSTALL_HINT}") from exc


def load_ib_module(choice: str | ModuleType | None = None) -> ModuleType:
    """The IB client module to use (see the module docstring for the order of precedence).

    ``choice`` may be a module object (returned as is), a module name, or
    ``None``. Raises ``ConfigError`` for an unsupported name or when no
    supported library is installed.
    """
    if isinstance(choice, ModuleType):
        if not hasattr(choice, "IB"):
            raise ConfigError(f"ib_module {choice.__name__!r} has no IB class (expected ib_async or ib_insync)")
        return choice
    name = choice if choice is not None else os.environ.get(ENV_VAR) or None
    if name is not None:
        name = str(name).strip().lower()
        if name not in SUPPORTED:
            raise ConfigError(
                f"ib_module must be one of {', '.join(SUPPORTED)}, got {choice if choice is not None else name!r}"
                + ("" if choice is not None else f" (from ${ENV_VAR})")
            )
        return _import(name)
    for candidate in SUPPORTED:
        try:
            return importlib.import_module(candidate)
        except ImportError:
            continue
    raise ConfigError(f"Interactive Brokers needs the ib_async library; {_INSTALL_HINT}")


def library_name(module: ModuleType) -> str:
    """``"ib_async"`` / ``"ib_insync"`` (the top-level package name of ``module``)."""
    return module.__name__.split(".")[0]


def unset_double(module: ModuleType) -> float:
    """The library's "no value" marker for floats (``sys.float_info.max``)."""
    return float(module.util.UNSET_DOUBLE)


__all__ = ["ENV_VAR", "SUPPORTED", "library_name", "load_ib_module", "unset_double"]
