"""Where an account's journal lives: one rule, never the current directory.

``journal_root(venue)`` answers "which directory holds this venue's journal"
for every command and every broker, so ``live-trading positions`` shows the
same account whichever directory it is started from.

The directory is ``live_trading.<venue>.log_dir``. An absolute value is used
as is. A relative one is resolved against:

1. the directory of the config file it was read from, when that file is the
   user's own (``LIVE_TRADING_CONFIG`` / ``--config``): a config and its
   accounts travel together;
2. for the packaged default config, a *home*:

   * ``$LIVE_TRADING_HOME`` when set;
   * else the top of the source checkout the package runs from (the folder
     holding ``pyproject.toml`` next to ``LIVE_TRADING/``), so the default
     ``logs/paper_trades`` is the checkout's ``logs/`` as it always was;
   * else (an installed package) the user data directory
     (``platformdirs.user_data_dir("live-trading")``, e.g.
     ``~/.local/share/live-trading`` on Linux) — never inside the installed
     package, never the current directory.

A path given as a keyword argument (``PaperBroker(log_dir="x")``) is the
caller's own and is used as given.
"""

from __future__ import annotations

import os
from pathlib import Path

from CONFIG.config_loader import PACKAGED_CONFIG, config_path, get_cfg

HOME_ENV = "LIVE_TRADING_HOME"
APP_NAME = "live-trading"
_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # .../LIVE_TRADING


def _checkout_root() -> Path | None:
    """The source checkout the package runs from, or None for an installed package."""
    root = _PACKAGE_DIR.parent
    if (root / "pyproject.toml").is_file() and "site-packages" not in root.parts:
        return root
    return None


def default_home() -> Path:
    """Where relative paths of the packaged default config resolve (see the module docstring)."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    root = _checkout_root()
    if root is not None:
        return root
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def journal_root(venue: str = "paper", value: str | Path | None = None) -> Path:
    """The absolute journal directory of ``venue`` (``live_trading.<venue>.log_dir``).

    ``value`` is the raw setting when the caller already read it (it is then
    resolved by the same rule as the config's); ``None`` reads the config.
    """
    if value is None:
        value = get_cfg(f"live_trading.{venue}.log_dir", default=None) or (
            "logs/paper_trades" if venue == "paper" else f"logs/{venue}")  # the schema's defaults
    path = Path(str(value)).expanduser()
    if path.is_absolute():
        return path
    cfg = config_path()
    base = default_home() if cfg.resolve() == PACKAGED_CONFIG.resolve() else cfg.resolve().parent
    return base / path


def account_name(venue: str = "paper") -> str:
    """The account's name: ``live_trading.paper.account`` on paper (default ``default``), else the venue."""
    if venue == "paper":
        name = get_cfg("live_trading.paper.account", default="default")
        return str(name).strip() or "default"
    return venue


__all__ = ["HOME_ENV", "account_name", "default_home", "journal_root"]
