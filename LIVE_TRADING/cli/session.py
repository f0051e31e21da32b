"""Building the broker (and data provider, and clock) a command runs against.

One-shot commands (``quote``, ``order``, ``positions``, ...)
    ``open_broker(venue)``. On ``paper`` the broker resumes the latest run in
    ``paper.log_dir`` (``resume=True``), so the account carries over from
    one command to the next through the journal, and prices orders from
    ``paper.data_provider`` or, when that is null, ``data.provider``
    (``sim`` by default) on the real clock. The ``sim`` market of a resumed
    account starts where that account's run started (``sim_anchor``), so
    its prices move on continuously from one command to the next, and from
    the end of a ``run`` to the ``positions`` after it (with the run's seed
    from the config; ``data.sim.start_time``, when set, wins).

``run``
    ``open_run_session(venue, config)``. On ``paper`` with the ``sim`` or
    ``replay`` provider the run is *simulated*: a fresh account (never
    resumed) whose broker and provider share a ``ManualClock`` moved one bar
    per step, so a 100-step run of hourly bars takes well under a second.
    ``sim`` runs end at the current time at the latest (the clock starts
    ``steps - 1`` bars before the last bar boundary, moved back to the last
    session's open if the market is closed then: ``sim_run_start``), so the
    journal stays in time order, a later ``positions`` resumes the run's
    account, and a run started on a weekend still trades; ``replay`` runs start at the
    file's first row and stop at its end. On ``paper`` with another provider
    (``yfinance``) and on live venues the run uses the real clock and waits
    ``interval_s`` (default: one bar) between steps. Live venues take quotes
    from the venue itself; ``data.provider`` is used only to warm up the
    strategy's history, and only when it is a real market data source (not
    ``sim``/``replay``).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from CONFIG.config_loader import config_path, get_cfg
from LIVE_TRADING.brokers.interface import SupportsClose, get_broker, known_venues
from LIVE_TRADING.cli.errors import UsageError
from LIVE_TRADING.common.clock import ManualClock, utc_now
from LIVE_TRADING.common.exceptions import ConfigError
from LIVE_TRADING.common.symbols import CRYPTO, EQUITY, FOREX, asset_class, configured_asset_classes
from LIVE_TRADING.data import calendar
from LIVE_TRADING.data.provider import INTERVALS, get_data_provider
from LIVE_TRADING.pipeline import PipelineConfig

logger = logging.getLogger(__name__)

#: what an account name may be (``paper.account``'s rule, for ``--account`` on every venue)
ACCOUNT_NAME = r"[A-Za-z0-9_.-]{1,64}"
SIMULATED_PROVIDERS = ("sim", "replay")


def resolve_venue(override: str | None) -> str:
    """The venue to use: ``--venue`` if given, else ``live_trading.venue``."""
    venues = known_venues()
    if override is not None:
        name = override.strip().lower()
        if name not in venues:
            raise UsageError(f"unknown venue {override!r} for --venue (known: {', '.join(venues)})")
        return name
    raw = get_cfg("live_trading.venue", default="paper")
    name = raw.strip().lower() if isinstance(raw, str) else raw
    if name not in venues:
        raise ConfigError(f"live_trading.venue must be one of {', '.join(venues)}, got {raw!r} (in {config_path()})")
    return name


_announcer: Callable[[str], None] | None = None


def announce_account_when_opened(out: Any) -> None:
    """Say which account the command works on (on stderr), once, when its broker is first opened.

    Commands that fail before opening an account (bad input) stay one line.
    """
    global _announcer
    _announcer = lambda venue: announce_account(out, venue)  # noqa: E731


def announce_opened(venue: str) -> None:
    """Print the pending account line (if ``announce_account_when_opened`` set one up), once."""
    global _announcer
    fn, _announcer = _announcer, None
    if fn is not None:
        fn(venue)


def announce_account(out: Any, venue: str) -> None:
    """Say which account the command works on, once, on stderr: ``account: NAME at PATH (venue)``."""
    if venue == "paper":
        path = account_dir()
        out.note(f"account: {path.name} at {path} (paper)")
    else:
        out.note(f"account: {options.account or venue} at {venue_account_dir(venue)} ({venue})")


def _paper_run_kwargs(log_dir: str | Path | None) -> dict[str, Any]:
    """``--account`` / ``--lock-timeout``, and the journal root of a ``--dry-run`` (a throw-away directory)."""
    kwargs = options.paper_kwargs()
    if log_dir is not None:
        kwargs["log_dir"] = log_dir
    return kwargs


def paper_provider_name() -> str:
    """The paper broker's quote source: ``paper.data_provider``, else ``data.provider`` (default ``sim``)."""
    name = get_cfg("live_trading.paper.data_provider", default=None) or get_cfg(
        "live_trading.data.provider", default="sim"
    )
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"live_trading.data.provider must be a provider name, got {name!r} (in {config_path()})")
    return name.strip().lower()


def close_quietly(obj: Any) -> None:
    if isinstance(obj, SupportsClose):
        try:
            obj.close()
        except Exception as exc:  # closing must not hide the command's own outcome
            logger.warning("Closing %s failed: %s", type(obj).__name__, exc)


@dataclass
class SessionOptions:
    """Global command-line choices every command's broker honours (``--account``, ``--lock-timeout``)."""

    account: str | None = None
    lock_timeout_s: float | None = None

    def paper_kwargs(self) -> dict[str, Any]:
        return {"account": self.account, "lock_timeout_s": self.lock_timeout_s}


options = SessionOptions()


def account_dir() -> Path:
    """The paper account the commands use: ``paper.log_dir`` / (``--account`` or ``paper.account``)."""
    from LIVE_TRADING.brokers.paper import PaperConfig

    cfg = PaperConfig.from_config(account=options.account)
    return Path(cfg.log_dir) / cfg.account


def venue_account_dir(venue: str) -> Path:
    """The journal directory of the account the commands use on ``venue``.

    Paper: ``account_dir()``. A live venue (Binance, IBKR): its ``log_dir``
    (``live_trading.<venue>.log_dir``, resolved by ``common/paths.journal_root``),
    or with ``--account NAME`` the directory ``NAME`` under it, so several
    venue accounts (each with its own credentials) keep separate journals and
    ``health`` / ``report`` count each one alone.
    """
    if venue == "paper":
        return account_dir()
    from LIVE_TRADING.common.paths import journal_root

    root = journal_root(venue)
    if options.account is None:
        return root
    if not re.fullmatch(ACCOUNT_NAME, options.account) or options.account in (".", ".."):
        raise UsageError(f"--account must be 1-64 letters, digits, '_', '.' or '-', got {options.account!r}")
    return root / options.account


def live_broker_kwargs(venue: str) -> dict[str, Any]:
    """``get_broker`` keywords of a live venue for ``--account``: its journal directory (nothing without it)."""
    return {"log_dir": str(venue_account_dir(venue))} if options.account is not None else {}


def sim_anchor(account: str | Path) -> datetime | None:
    """When the account's current run began (its ``open`` or last ``reset`` record), or None.

    One-shot commands start the ``sim`` market there (unless ``data.sim.start_time``
    is set), so prices continue where the account's run left them instead of
    restarting at ``start_price`` in every process. Reads only (no lock).
    """
    from LIVE_TRADING.brokers.paper import PaperBroker

    path = Path(account)
    if not path.is_dir():
        return None
    view = PaperBroker(log_dir=path.parent, account=path.name, read_only=True)
    return view.run_started


def open_broker(venue: str, *, read_only: bool = False) -> Any:
    """The broker a one-shot command uses (see the module docstring).

    ``read_only``: a paper account is shown without taking its lock or writing
    anything (``positions``, ``orders``, ``fills``, ``cash``, ``health``, ``quote``).
    """
    broker = _open_broker(venue, read_only=read_only)
    announce_opened(venue)
    return broker


def _open_broker(venue: str, *, read_only: bool) -> Any:
    if venue != "paper":
        return get_broker(venue, **live_broker_kwargs(venue))
    name = paper_provider_name()
    provider: Any = name
    if name == "sim" and get_cfg("live_trading.data.sim.start_time", default=None) is None:
        anchor = sim_anchor(account_dir())
        if anchor is not None:
            provider = get_data_provider("sim", start_time=anchor)
    if read_only:
        return get_broker("paper", read_only=True, data_provider=provider, **options.paper_kwargs())
    return get_broker("paper", resume=True, data_provider=provider, **options.paper_kwargs())


@contextlib.contextmanager
def broker_session(venue: str, *, read_only: bool = False) -> Iterator[Any]:
    broker = open_broker(venue, read_only=read_only)
    try:
        yield broker
    finally:
        close_quietly(broker)


@dataclass
class RunSession:
    """Everything ``run`` needs besides the strategy."""

    venue: str
    broker: Any
    provider: Any  # quote source for brokers without update_quotes (None: broker.get_quote)
    history_provider: Any  # warm-up history (None: none)
    data_name: str | None
    simulated: bool
    steps: int
    interval_s: float
    advance: Callable[[], Any] | None
    note: str | None = None

    def close(self) -> None:
        close_quietly(self.broker)
        for p in {id(self.provider): self.provider, id(self.history_provider): self.history_provider}.values():
            if p is not None:
                close_quietly(p)


def _bar_aligned(now: datetime, bar: timedelta) -> datetime:
    """The last multiple of ``bar`` since the Unix epoch at or before ``now``."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    step = int(bar.total_seconds())
    secs = int((now - epoch).total_seconds())
    return epoch + timedelta(seconds=secs - secs % step)


def sim_run_start(now: datetime, bar: timedelta, steps: int, symbols: Iterable[str]) -> datetime:
    """Where a simulated ``sim`` run's clock starts: ``steps - 1`` bars before the last bar boundary,
    moved back to the open of the last session when that falls while the market is closed.

    The sim market follows the trading calendar (equities trade in the NYSE
    session, forex 24/5), so a run started on a Saturday, or one whose window
    begins at night, still begins with its market open and trades; it never
    ends after ``now``. Runs of crypto symbols only are not moved.
    """
    start = _bar_aligned(now, bar) - bar * (steps - 1)
    overrides = configured_asset_classes()
    classes = {asset_class(sym, overrides) for sym in symbols} - {CRYPTO}
    if not classes:
        return start
    cls = EQUITY if EQUITY in classes else FOREX
    if calendar.is_open(cls, start):
        return start
    return calendar.session_open(cls, start)


def open_run_session(
    venue: str, cfg: PipelineConfig, *, seed: int | None = None, log_dir: str | Path | None = None
) -> RunSession:
    """Broker, provider and clock for ``run`` (see the module docstring).

    ``log_dir`` puts a paper run's journal elsewhere (``run --dry-run`` uses a
    throw-away directory, so the account's journal is not touched).
    """
    bar = INTERVALS[cfg.bar]
    bar_s = bar.total_seconds()
    steps = cfg.steps
    if venue != "paper":
        if seed is not None:
            raise UsageError("--seed only applies to the sim data provider (venue paper)")
        data_name = get_cfg("live_trading.data.provider", default="sim")
        history = None
        if isinstance(data_name, str) and data_name.strip().lower() not in SIMULATED_PROVIDERS:
            history = get_data_provider(data_name)
        broker = get_broker(venue, **live_broker_kwargs(venue))
        interval = cfg.interval_s if cfg.interval_s is not None else bar_s
        return RunSession(venue, broker, None, history, data_name if history else None, False, steps, interval, None)

    name = paper_provider_name()
    if seed is not None and name != "sim":
        raise UsageError(f"--seed only applies to the sim data provider (this config uses {name!r})")
    if name not in SIMULATED_PROVIDERS:
        provider: Any = get_data_provider(name)
        broker = get_broker("paper", resume=False, data_provider=provider, **_paper_run_kwargs(log_dir))
        interval = cfg.interval_s if cfg.interval_s is not None else bar_s
        return RunSession(venue, broker, provider, provider, name, False, steps, interval, None)

    note = None
    if name == "sim":
        clock = ManualClock(sim_run_start(utc_now(), bar, steps, cfg.symbols))
        provider = get_data_provider("sim", clock=clock, **({"seed": seed} if seed is not None else {}))
    else:
        clock = ManualClock()
        from LIVE_TRADING.data.replay import ReplayDataProvider

        replay = ReplayDataProvider(clock=clock)
        provider = replay
        first, last = replay.first_timestamp, replay.last_timestamp
        clock.set(first)
        available = int((last - first) / bar) + 1
        if available < steps:
            note = f"replay data covers {available} bar(s) of {cfg.bar}: running {available} of {steps} steps"
            steps = available
    broker = get_broker("paper", resume=False, clock=clock, data_provider=provider, **_paper_run_kwargs(log_dir))
    interval = cfg.interval_s or 0.0

    def advance() -> None:
        clock.advance(seconds=bar_s)

    return RunSession(venue, broker, provider, provider, name, True, steps, interval, advance, note)


__all__ = [
    "SIMULATED_PROVIDERS",
    "RunSession",
    "SessionOptions",
    "UsageError",
    "account_dir",
    "announce_account",
    "announce_account_when_opened",
    "announce_opened",
    "broker_session",
    "close_quietly",
    "live_broker_kwargs",
    "open_broker",
    "open_run_session",
    "options",
    "paper_provider_name",
    "resolve_venue",
    "sim_anchor",
    "sim_run_start",
    "venue_account_dir",
]
