"""Trading calendars: when the market of a symbol is open.

One calendar per asset class (``LIVE_TRADING.common.symbols.asset_class``):

==========  ================================================================================
``equity``  US equities: the NYSE regular session (09:30-16:00 America/New_York) with its
            holidays and early closes (13:00 on e.g. the day after Thanksgiving, Christmas
            Eve), from the maintained ``exchange_calendars`` package (calendar ``XNYS``).
            Pre- and post-market are *not* sessions.
``crypto``  around the clock, every day: always open, no session close.
``forex``   24/5: from Sunday 17:00 to Friday 17:00 America/New_York. Each trading day is
            one session, 17:00 to 17:00 New York time (the daily rollover), so a ``day``
            order placed on Tuesday 10:00 New York ends at Tuesday 17:00. Bank holidays
            are not modelled.
==========  ================================================================================

The API takes either a symbol (``"AAPL"``, ``"BTC/USDT"``, ``"EURUSD"``) or an asset
class name (``"equity"``, ``"crypto"``, ``"forex"``, lower case), and an aware
``datetime`` (naive ones raise ``ValueError``); it returns aware UTC datetimes:

* ``is_open(x, ts)``: is ``ts`` inside a session (open <= ts < close)?
* ``next_open(x, ts)``: the open of the first session that starts *after* ``ts``
  (for crypto, ``ts`` itself: it never closes).
* ``session_close(x, ts)``: the close of the session containing ``ts``, early closes
  included; when ``ts`` is outside a session, the close of the next session (the
  session an order placed then would trade in). ``None`` for crypto.
* ``previous_close(x, ts)``: the close of the last session that ended at or before
  ``ts`` (``None`` for crypto).

>>> from datetime import datetime, UTC
>>> is_open("AAPL", datetime(2025, 12, 25, 15, 0, tzinfo=UTC))    # Christmas Day
False
>>> session_close("AAPL", datetime(2025, 11, 28, 15, 0, tzinfo=UTC)).isoformat()  # early close
'2025-11-28T18:00:00+00:00'

Speed: the NYSE schedule is loaded once (about 0.2 s, 1990-2040, extended on demand)
into sorted lists of epoch seconds; each call is then a ``bisect`` (a microsecond or
two, see ``benchmarks/bench_calendar.py``), cheap enough to call for every order and
every quote.
"""

from __future__ import annotations

import threading
import warnings
from bisect import bisect_right
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from LIVE_TRADING.common.clock import ensure_utc
from LIVE_TRADING.common.symbols import ASSET_CLASSES, CRYPTO, EQUITY, AssetClass, asset_class

NEW_YORK = ZoneInfo("America/New_York")
#: the exchange_calendars calendar US equities follow
EQUITY_CALENDAR = "XNYS"
#: forex trading days roll over at this New York hour
FOREX_ROLLOVER_HOUR = 17
_FIRST_YEAR = 1990
_LAST_YEAR = 2040
_DAY = timedelta(days=1)


def resolve_class(symbol_or_class: str, overrides: Mapping[str, str] | None = None) -> AssetClass:
    """An asset class name as given (``"equity"``...), else the class of the symbol."""
    if symbol_or_class in ASSET_CLASSES:
        return symbol_or_class  # type: ignore[return-value]
    return asset_class(symbol_or_class, overrides)


# ---------------------------------------------------------------------------
# US equities: sessions from exchange_calendars, searched with bisect
# ---------------------------------------------------------------------------
class _Sessions:
    """Sorted session opens and closes (epoch seconds) of one exchange, loaded once, extended on demand."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self.opens: list[float] = []
        self.closes: list[float] = []
        self.first_year = self.last_year = 0
        # epoch seconds between which a call needs no loading: [start of first_year + 1, start of last_year)
        self._safe_lo = self._safe_hi = 0.0

    def _load(self, first_year: int, last_year: int) -> None:
        import exchange_calendars as xcals  # heavy import (about 2 s), paid once, on first use

        try:
            with warnings.catch_warnings():  # exchange_calendars 4.x trips a pandas 3 deprecation notice
                warnings.filterwarnings("ignore", message=r"Series\.values returning an ndarray")
                cal = xcals.get_calendar(self.name, start=f"{first_year}-01-01", end=f"{last_year}-12-31")
        except Exception as exc:  # exchange_calendars raises its own errors for out-of-range dates
            raise ValueError(
                f"No {self.name} trading calendar for {first_year}-{last_year}: {exc}"
            ) from exc
        schedule = cal.schedule
        self.opens = [float(x) for x in schedule["open"].astype("int64").to_numpy() // 10**9]
        self.closes = [float(x) for x in schedule["close"].astype("int64").to_numpy() // 10**9]
        self.first_year, self.last_year = first_year, last_year
        self._safe_lo = datetime(first_year + 1, 1, 1, tzinfo=UTC).timestamp()
        self._safe_hi = datetime(last_year, 1, 1, tzinfo=UTC).timestamp()

    def covering(self, ts: float) -> _Sessions:
        """``self``, with whole years loaded from the year before ``ts`` to the year after it.

        So the sessions just before and after any ``ts`` are always in the lists
        (no US market closure lasts a year), and an extension never moves an
        index computed for ``ts`` (it only adds years at the ends).
        """
        if not (self._safe_lo <= ts < self._safe_hi):
            year = datetime.fromtimestamp(ts, UTC).year
            with self._lock:
                if not self.opens:
                    self._load(min(_FIRST_YEAR, year - 1), max(_LAST_YEAR, year + 1))
                elif not (self.first_year < year < self.last_year):
                    self._load(min(self.first_year, year - 1), max(self.last_year, year + 1))
        return self

    def index(self, ts: float) -> int:
        """Index of the last session opening at or before ``ts`` (-1 if none)."""
        return bisect_right(self.covering(ts).opens, ts) - 1


_EQUITY = _Sessions(EQUITY_CALENDAR)


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# ---------------------------------------------------------------------------
# Forex: 17:00 New York to 17:00 New York, Sunday evening to Friday evening
# ---------------------------------------------------------------------------
def _rollover_after(ny: datetime) -> datetime:
    """The first 17:00 New York strictly after the New York time ``ny``."""
    roll = ny.replace(hour=FOREX_ROLLOVER_HOUR, minute=0, second=0, microsecond=0)
    if roll <= ny:
        roll = (roll.replace(tzinfo=None) + _DAY).replace(tzinfo=NEW_YORK)
    return roll


def _forex_open(ny: datetime) -> bool:
    wd = ny.weekday()  # Monday 0 ... Sunday 6
    if wd == 5:
        return False
    if wd == 4:
        return ny.hour < FOREX_ROLLOVER_HOUR
    if wd == 6:
        return ny.hour >= FOREX_ROLLOVER_HOUR
    return True


def _forex_next_open(ny: datetime) -> datetime:
    """The first session open (a 17:00 New York that starts a trading day) strictly after ``ny``."""
    roll = _rollover_after(ny)
    while roll.weekday() in (4, 5):  # Friday and Saturday 17:00 start no session
        roll = (roll.replace(tzinfo=None) + _DAY).replace(tzinfo=NEW_YORK)
    return roll


def _forex_previous_close(ny: datetime) -> datetime:
    """The last 17:00 New York at or before ``ny`` that ended a session (Monday to Friday)."""
    roll = ny.replace(hour=FOREX_ROLLOVER_HOUR, minute=0, second=0, microsecond=0)
    if roll > ny:
        roll = (roll.replace(tzinfo=None) - _DAY).replace(tzinfo=NEW_YORK)
    while roll.weekday() in (5, 6):
        roll = (roll.replace(tzinfo=None) - _DAY).replace(tzinfo=NEW_YORK)
    return roll


# ---------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------
def is_open(symbol_or_class: str, ts: datetime, overrides: Mapping[str, str] | None = None) -> bool:
    """Whether the market of ``symbol_or_class`` is in a regular session at ``ts``."""
    cls = resolve_class(symbol_or_class, overrides)
    if cls == CRYPTO:
        ensure_utc(ts, "ts")
        return True
    if cls == EQUITY:
        t = ensure_utc(ts, "ts").timestamp()
        i = _EQUITY.index(t)
        return i >= 0 and t < _EQUITY.closes[i]
    return _forex_open(ensure_utc(ts, "ts").astimezone(NEW_YORK))


def next_open(symbol_or_class: str, ts: datetime, overrides: Mapping[str, str] | None = None) -> datetime:
    """The open of the first session starting after ``ts`` (crypto: ``ts``, it never closes)."""
    cls = resolve_class(symbol_or_class, overrides)
    when = ensure_utc(ts, "ts")
    if cls == CRYPTO:
        return when
    if cls == EQUITY:
        i = _EQUITY.index(when.timestamp()) + 1  # index first: the first call loads the lists
        return _utc(_EQUITY.opens[i])
    return _forex_next_open(when.astimezone(NEW_YORK)).astimezone(UTC)


def session_close(
    symbol_or_class: str, ts: datetime, overrides: Mapping[str, str] | None = None
) -> datetime | None:
    """Close of the session containing ``ts`` (early closes included), or of the next one when closed.

    ``None`` for crypto, which has no sessions.
    """
    cls = resolve_class(symbol_or_class, overrides)
    when = ensure_utc(ts, "ts")
    if cls == CRYPTO:
        return None
    if cls == EQUITY:
        t = when.timestamp()
        i = _EQUITY.index(t)
        if i < 0 or t >= _EQUITY.closes[i]:
            i += 1  # closed: the next session's close
        return _utc(_EQUITY.closes[i])
    ny = when.astimezone(NEW_YORK)
    start = ny if _forex_open(ny) else _forex_next_open(ny)
    return _rollover_after(start).astimezone(UTC)


def previous_close(
    symbol_or_class: str, ts: datetime, overrides: Mapping[str, str] | None = None
) -> datetime | None:
    """Close of the last session that ended at or before ``ts`` (``None`` for crypto)."""
    cls = resolve_class(symbol_or_class, overrides)
    when = ensure_utc(ts, "ts")
    if cls == CRYPTO:
        return None
    if cls == EQUITY:
        t = when.timestamp()
        i = _EQUITY.index(t)
        if i >= 0 and t < _EQUITY.closes[i]:
            i -= 1  # inside session i: the one before it
        return _utc(_EQUITY.closes[i])
    return _forex_previous_close(when.astimezone(NEW_YORK)).astimezone(UTC)


def session_open(
    symbol_or_class: str, ts: datetime, overrides: Mapping[str, str] | None = None
) -> datetime:
    """Open of the session containing ``ts``, else of the last session that opened before it (crypto: ``ts``)."""
    cls = resolve_class(symbol_or_class, overrides)
    when = ensure_utc(ts, "ts")
    if cls == CRYPTO:
        return when
    if cls == EQUITY:
        i = _EQUITY.index(when.timestamp())  # index first: the first call loads the lists
        return _utc(_EQUITY.opens[i])
    ny = when.astimezone(NEW_YORK)
    start = ny.replace(hour=FOREX_ROLLOVER_HOUR, minute=0, second=0, microsecond=0)
    if start > ny:
        start = (start.replace(tzinfo=None) - _DAY).replace(tzinfo=NEW_YORK)
    while start.weekday() in (4, 5):  # Friday and Saturday 17:00 start no session
        start = (start.replace(tzinfo=None) - _DAY).replace(tzinfo=NEW_YORK)
    return start.astimezone(UTC)


__all__ = [
    "EQUITY_CALENDAR",
    "NEW_YORK",
    "is_open",
    "next_open",
    "previous_close",
    "resolve_class",
    "session_close",
    "session_open",
]
