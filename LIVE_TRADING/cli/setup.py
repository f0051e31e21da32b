"""``init`` (a starter config and its account) and ``reset`` (a fresh paper account, the old one kept).

``init [PATH]`` writes the packaged defaults, every key commented, to PATH
(default ``./live_trading.yaml``) and opens its paper account once so the
account directory exists. Relative paths in that file (``paper.log_dir``)
resolve against the file's own directory (``LIVE_TRADING.common.paths``), so
the config and its account stay together wherever commands are run from. An
existing file is never overwritten.

``reset`` renames the paper account's directory (``<journal root>/<name>``)
to ``<name>.reset-<UTC time>`` — kept, never deleted, still listed by
``live-trading accounts`` and readable with ``--account`` — and starts a new,
empty account under the old name. It asks first unless ``--yes``, and holds
the account's lock while it renames (another process using it: exit code 3).
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path

from CONFIG.config_loader import ENV_VAR, PACKAGED_CONFIG, reload_config
from LIVE_TRADING.cli.errors import UsageError
from LIVE_TRADING.cli.render import Output, money
from LIVE_TRADING.cli.safety import confirm
from LIVE_TRADING.cli.session import close_quietly
from LIVE_TRADING.common.journal import AccountLock

_HEADER = """\
# LIVE_TRADING configuration, written by `live-trading init`.
#
# Use it with:  live-trading --config {path} positions
#          or:  export LIVE_TRADING_CONFIG={path}
# Relative paths below (log_dir) are relative to this file's directory.
#
"""


def _open_account(initial_cash: float | None = None) -> tuple[str, float]:
    """Build the paper broker once (it creates and journals the account); ``(run id, cash)``."""
    from LIVE_TRADING.brokers.paper import PaperBroker
    from LIVE_TRADING.cli.session import options

    broker = PaperBroker(initial_cash=initial_cash, **options.paper_kwargs())
    try:
        return broker.run_id, broker.get_cash()
    finally:
        close_quietly(broker)


def cmd_init(args: argparse.Namespace, out: Output) -> int:
    path = Path(args.path).expanduser().resolve()
    if path.exists():
        raise UsageError(f"{path} already exists: init never overwrites a file (choose another PATH)")
    if not path.parent.is_dir():
        raise UsageError(f"directory {path.parent} does not exist")
    text = PACKAGED_CONFIG.read_text(encoding="utf-8")
    body = text[text.index("live_trading:"):] if "live_trading:" in text else text
    try:
        with open(path, "x", encoding="utf-8") as fh:  # "x": fails rather than overwrite a file made meanwhile
            fh.write(_HEADER.format(path=path) + body)
    except FileExistsError:
        raise UsageError(f"{path} already exists: init never overwrites a file") from None
    os.environ[ENV_VAR] = str(path)
    reload_config()
    from LIVE_TRADING.cli.session import account_dir

    _, cash = _open_account()
    root = account_dir()
    account = root.name
    if out.json_mode:
        out.json({"config": str(path), "account": account, "account_path": str(root), "cash": cash})
        return 0
    out.fields([("config", str(path)), ("account", f"{account} at {root}"), ("cash", money(cash))],
               title="Initialised")
    out.line(f"Next: live-trading --config {path} run   (or export {ENV_VAR}={path})")
    return 0


def reset_paper_account(args: argparse.Namespace, out: Output) -> int:
    from LIVE_TRADING.cli.session import account_dir, options

    root = account_dir()
    account = root.name
    kept: Path | None = None
    if root.is_dir() and any(root.iterdir()):
        confirm(out, f"Start a fresh paper account {account!r} (the current one is kept, renamed)?", yes=args.yes,
                live=False)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = root.with_name(f"{root.name}.reset-{stamp}")
        n = 1
        while kept.exists():
            n += 1
            kept = root.with_name(f"{root.name}.reset-{stamp}-{n}")
        lock = AccountLock(root)
        lock.acquire(options.lock_timeout_s if options.lock_timeout_s is not None else 0.0)
        try:
            root.rename(kept)
        finally:
            lock.release()
    run_id, cash = _open_account(args.initial_cash)
    if out.json_mode:
        out.json({"account": account, "account_path": str(root), "kept_as": str(kept) if kept else None,
                  "run_id": run_id, "cash": cash})
        return 0
    out.fields([("account", f"{account} at {root}"), ("old account kept as", str(kept) if kept else "-"),
                ("cash", money(cash))], title="Fresh paper account")
    return 0


__all__ = ["cmd_init", "reset_paper_account"]
