"""``sim``: an offline, deterministic market simulator (the default data provider).

Every symbol follows its own geometric Brownian motion::

    mid(t) = start_price * exp((drift - volatility**2 / 2) * tau + volatility * W(tau))

with ``tau`` the time since ``start_time`` in years (365.25 days; the
simulated market trades around the clock) and ``W`` a standard Brownian
motion sampled on a one-second grid. Quotes are ``mid`` plus/minus half of
``spread_bps``, with ``size`` displayed on each side.

**Deterministic.** ``W`` is a pure function of ``(seed, symbol, second)``:
the price at a given clock time is the same whatever was asked before, in
every run and on every machine. Randomness is counter-based (a keyed BLAKE2b
hash of the seed, the symbol and the position on the grid, turned into a
normal variate), never Python's salted ``hash()`` nor global random state.
``W`` is built as a Brownian bridge over blocks of 2**16 seconds: the value
at the block ends is a running sum, the value inside a block is found by
halving the block at most 16 times. So a quote for any time costs at most 16
hashes, usually 1-2 when the clock moved a little since the last quote (the
last descent is kept per symbol), and a year of daily bars needs no walk
through the 31 million seconds in between.

**Clock-driven.** Prices move when the injected ``clock`` moves (one step
per whole second). The quote's ``timestamp`` is the grid second it was
taken at. ``start_time`` (config ``data.sim.start_time``) is where each path
starts at ``start_price``; by default the clock's time when the provider is
built, so a new run starts at the configured prices. Set it to a fixed time
to make prices a function of absolute time across runs.

Config (``live_trading.data.sim``; keyword arguments override): ``seed``,
``start_price``, ``drift``, ``volatility`` (annualised), ``spread_bps``,
``size``, ``start_time``, and ``symbols`` with per-symbol overrides of the
five market parameters, e.g. ``{"AAPL": {"start_price": 190.0}}``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import struct
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from statistics import NormalDist
from typing import Any

import pandas as pd

from LIVE_TRADING.common.clock import Clock, ensure_utc, utc_now
from LIVE_TRADING.common.constants import SIM_DEFAULT_UNIVERSE
from LIVE_TRADING.common.exceptions import DataProviderError
from LIVE_TRADING.common.settings import SettingsReader, to_float
from LIVE_TRADING.data.provider import (
    PERIODS,
    DataProvider,
    history_window,
    normalize_ohlcv,
    normalize_symbol,
)
from LIVE_TRADING.data.quotes import make_quote

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_YEAR_S = 365.25 * 86400.0
_BLOCK = 1 << 16  # seconds per bridge block (~18.2 hours)
_SQRT_BLOCK = math.sqrt(_BLOCK)
#: bridge scale sqrt(length / 4) for every power-of-two interval length
_HALF_SD = {1 << i: math.sqrt((1 << i) / 4.0) for i in range(1, 17)}
_PACK = struct.Struct("<qq").pack
_INV_CDF = NormalDist().inv_cdf
_U53 = 1.0 / (1 << 53)
#: how far back period="max" reaches
_MAX_SPAN: timedelta = PERIODS["10y"]  # type: ignore[assignment]  # "10y" always has a span
#: price samples inside a bar (besides open and close) for its high and low
_BAR_SAMPLES = 8

#: the market parameters that can be set by default and per symbol, with their bounds
_MARKET_KEYS: dict[str, dict[str, float]] = {
    "start_price": {"gt": 0.0},
    "drift": {},
    "volatility": {"ge": 0.0},
    "spread_bps": {"ge": 0.0},
    "size": {"ge": 0.0},
}
_OVERRIDES = frozenset({*_MARKET_KEYS, "symbols", "start_time", "universe"})


@dataclasses.dataclass(frozen=True)
class SymbolParams:
    """The market parameters of one simulated symbol."""

    start_price: float
    drift: float
    volatility: float
    spread_bps: float
    size: float


class _Path:
    """A standard Brownian motion ``w(n)`` (variance ``n``) on the one-second grid of one symbol.

    ``w(0) = 0``. Block ends ``w(k * B)`` are a running sum of independent
    ``N(0, B)`` steps (extended lazily in both directions); inside a block,
    the value at the midpoint of ``[lo, hi]`` is the bridge mean plus
    ``sqrt((hi - lo) / 4)`` times a normal keyed by ``(block, midpoint)``.
    Every value is computed by the same arithmetic from the same inputs
    whatever the order of the calls, so the path is a pure function of the key.
    """

    __slots__ = ("_blocks", "_hash", "_hi", "_k", "_lo", "_stack")

    def __init__(self, key: bytes) -> None:
        self._hash = hashlib.blake2b(key=key, digest_size=8)
        self._blocks: dict[int, float] = {0: 0.0}
        self._lo = self._hi = 0  # blocks[lo..hi] are known
        self._k: int | None = None  # block of the kept descent
        self._stack: list[tuple[int, int, float, float]] = []

    def uniform(self, a: int, b: int) -> float:
        """A uniform in (0, 1), a pure function of the key and ``(a, b)``."""
        h = self._hash.copy()
        h.update(_PACK(a, b))
        return ((int.from_bytes(h.digest(), "little") >> 11) + 0.5) * _U53

    def _block(self, k: int) -> float:
        blocks = self._blocks
        while self._hi < k:  # step k is w(kB) - w((k-1)B), keyed (k, -1)
            self._hi += 1
            blocks[self._hi] = blocks[self._hi - 1] + _SQRT_BLOCK * _INV_CDF(self.uniform(self._hi, -1))
        while self._lo > k:
            blocks[self._lo - 1] = blocks[self._lo] - _SQRT_BLOCK * _INV_CDF(self.uniform(self._lo, -1))
            self._lo -= 1
        return blocks[k]

    def at(self, n: int) -> float:
        """``w(n)`` for the integer second ``n`` (negative allowed)."""
        k, j = divmod(n, _BLOCK)
        stack = self._stack
        if k != self._k:
            stack.clear()
            stack.append((0, _BLOCK, self._block(k), self._block(k + 1)))
            self._k = k
        else:
            while len(stack) > 1 and not (stack[-1][0] <= j < stack[-1][1]):
                stack.pop()
        lo, hi, wlo, whi = stack[-1]
        while j != lo:
            mid = (lo + hi) >> 1
            wmid = (wlo + whi) * 0.5 + _HALF_SD[hi - lo] * _INV_CDF(self.uniform(k, mid))
            if j < mid:
                hi, whi = mid, wmid
            else:
                lo, wlo = mid, wmid
            stack.append((lo, hi, wlo, whi))
        return wlo


class _Symbol:
    """Parameters and path of one symbol, with the GBM coefficients precomputed."""

    __slots__ = ("drift_per_s", "half_spread", "params", "path", "symbol", "vol_per_sqrt_s")

    def __init__(self, symbol: str, params: SymbolParams, key: bytes) -> None:
        self.symbol = symbol
        self.params = params
        self.path = _Path(key)
        self.drift_per_s = (params.drift - params.volatility**2 / 2.0) / _YEAR_S
        self.vol_per_sqrt_s = params.volatility / math.sqrt(_YEAR_S)
        self.half_spread = params.spread_bps / 2e4

    def mid(self, n: int) -> float:
        try:
            return self.params.start_price * math.exp(self.drift_per_s * n + self.vol_per_sqrt_s * self.path.at(n))
        except OverflowError:
            raise DataProviderError(
                f"No quote for {self.symbol}: its simulated price overflowed (drift/volatility too large)",
                symbol=self.symbol,
            ) from None


def _symbol_key(seed: int, symbol: str) -> bytes:
    """The stable 32-byte hash key of a (seed, symbol) pair (same on every machine and run)."""
    return hashlib.blake2b(f"live_trading.sim\x00{seed}\x00{symbol}".encode(), digest_size=32).digest()


def _unix_seconds(when: datetime) -> int:
    """Whole seconds since the Unix epoch, rounded down."""
    delta = when - _EPOCH
    return delta.days * 86400 + delta.seconds


class SimDataProvider(DataProvider):
    """Seeded GBM quotes and bars for any symbol, driven by ``clock``.

    Quotes are made for any symbol, but ``knows()`` answers for the configured
    ``universe`` only, so the paper broker refuses an order for a typo.

    Args:
        seed: random seed (``None``: ``data.sim.seed``). Same seed, same prices.
        clock: callable returning an aware UTC datetime (default: system time).
        **overrides: ``start_price``, ``drift``, ``volatility``, ``spread_bps``,
            ``size``, ``symbols``, ``start_time``, ``universe``: override ``data.sim.*``.

    Raises:
        ConfigError: a setting is invalid (every problem listed).
        TypeError: an unknown keyword argument.
    """

    def __init__(self, seed: int | None = None, clock: Clock | None = None, **overrides: Any) -> None:
        super().__init__()
        unknown = sorted(set(overrides) - _OVERRIDES)
        if unknown:
            raise TypeError(
                f"SimDataProvider got unexpected keyword argument(s) {', '.join(unknown)} "
                f"(allowed: seed, clock, {', '.join(sorted(_OVERRIDES))})"
            )
        self._clock: Clock = clock or utc_now
        r = SettingsReader("data.sim", overrides)
        self.seed = r.integer("seed", seed)
        defaults = {name: r.number(name, **bounds) for name, bounds in _MARKET_KEYS.items()}  # type: ignore[arg-type]
        per_symbol = self._read_symbols(r, r.mapping("symbols"))
        start_time = self._read_start_time(r)
        self.universe = self._read_universe(r, per_symbol)
        r.finish()
        self._defaults = SymbolParams(**defaults)  # type: ignore[arg-type]
        self._per_symbol = per_symbol
        origin = start_time if start_time is not None else ensure_utc(self._clock(), "clock()")
        self.start_time = origin.replace(microsecond=0)
        self._origin_s = _unix_seconds(self.start_time)
        self._symbols: dict[str, _Symbol] = {}
        self._lock = threading.Lock()

    # -- configuration -------------------------------------------------------
    @staticmethod
    def _read_symbols(r: SettingsReader, raw: Mapping[str, Any]) -> dict[str, dict[str, float]]:
        """Validate ``symbols: {SYM: {param: value}}``; problems go to ``r.problems``."""
        out: dict[str, dict[str, float]] = {}
        for name, entry in raw.items():
            key = r.key(f"symbols.{name}")
            if not isinstance(name, str) or not name.strip():
                r.problems.append(f"{r.key('symbols')} keys must be symbols, got {name!r}")
                continue
            if not isinstance(entry, Mapping):
                r.problems.append(f"{key} must be a mapping of {', '.join(_MARKET_KEYS)}, got {entry!r}")
                continue
            values: dict[str, float] = {}
            for param, value in entry.items():
                if param not in _MARKET_KEYS:
                    r.problems.append(f"{key} has unknown setting {param!r} (allowed: {', '.join(_MARKET_KEYS)})")
                    continue
                number = to_float(value)
                gt, ge = _MARKET_KEYS[param].get("gt"), _MARKET_KEYS[param].get("ge")
                if number is None or (gt is not None and number <= gt) or (ge is not None and number < ge):
                    bound = f" > {gt:g}" if gt is not None else f" >= {ge:g}" if ge is not None else ""
                    r.problems.append(f"{key}.{param} must be a number{bound}, got {value!r}")
                    continue
                values[param] = number
            out[name.strip().upper()] = values
        return out

    @staticmethod
    def _read_universe(r: SettingsReader, per_symbol: Mapping[str, Any]) -> frozenset[str] | None:
        """``universe``: ``default``, ``any`` (None: every symbol) or a list; configured symbols are added."""
        value, source = r.raw("universe")
        if isinstance(value, str) and value.strip().lower() in ("default", "any"):
            if value.strip().lower() == "any":
                return None
            return frozenset(SIM_DEFAULT_UNIVERSE) | frozenset(per_symbol)
        if isinstance(value, list | tuple | set | frozenset) and all(isinstance(v, str) and v.strip() for v in value):
            return frozenset(v.strip().upper() for v in value) | frozenset(per_symbol)
        r.problems.append(f"{r.key('universe')} must be default, any or a list of symbols, got {value!r} ({source})")
        return None

    def known_symbols(self) -> frozenset[str] | None:
        """The simulated universe (``data.sim.universe``); ``None`` when it is ``any``."""
        return self.universe

    @staticmethod
    def _read_start_time(r: SettingsReader) -> datetime | None:
        value, source = r.raw("start_time")
        if value is None:
            return None
        try:
            when = datetime.fromisoformat(value) if isinstance(value, str) else value
            return ensure_utc(when, "start_time")
        except (TypeError, ValueError):
            r.problems.append(
                f"{r.key('start_time')} must be an ISO-8601 time with a UTC offset "
                f"(e.g. 2026-01-05T14:30:00+00:00) or null, got {value!r} ({source})"
            )
            return None

    def params(self, symbol: str) -> SymbolParams:
        """The market parameters ``symbol`` is simulated with."""
        return self._symbol(normalize_symbol(symbol)).params

    def _symbol(self, sym: str) -> _Symbol:
        state = self._symbols.get(sym)
        if state is None:
            params = self._defaults
            if sym in self._per_symbol:
                params = dataclasses.replace(params, **self._per_symbol[sym])
            state = self._symbols[sym] = _Symbol(sym, params, _symbol_key(self.seed, sym))  # type: ignore[arg-type]
        return state

    # -- quotes --------------------------------------------------------------
    def _step(self) -> tuple[int, datetime]:
        """The current grid second (relative to ``start_time``) and its time."""
        now = ensure_utc(self._clock(), "clock()")
        n = _unix_seconds(now) - self._origin_s
        return n, self.start_time + timedelta(seconds=n)

    def _quote(self, sym: str, n: int, when: datetime) -> dict[str, Any]:
        state = self._symbol(sym)
        mid = state.mid(n)
        half = mid * state.half_spread
        size = state.params.size
        return make_quote(sym, mid - half, mid + half, size, size, when)

    def get_quote(self, symbol: str) -> dict[str, Any]:
        """The quote at the clock's current second."""
        sym = normalize_symbol(symbol)
        with self._lock:
            n, when = self._step()
            return self._quote(sym, n, when)

    def get_multiple_quotes(self, symbols: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Quotes for all ``symbols`` at one clock reading (one consistent snapshot)."""
        with self._lock:
            n, when = self._step()
            return self._collect(symbols, lambda symbol: self._quote(normalize_symbol(symbol), n, when))

    # -- history -------------------------------------------------------------
    def get_historical(self, symbol: str, period: str = "1mo", interval: str = "1d") -> pd.DataFrame:
        """OHLCV bars of the simulated path, the last one ending at the clock's now.

        Bars start on multiples of ``interval`` since the Unix epoch (daily
        bars at 00:00 UTC) and are labelled by their start; the last one is
        still forming and its close is the current mid. Open and close are the
        path at the bar's first and last second, high and low the extremes of
        those and a few evenly spaced samples in between. Volume is a
        deterministic draw around ``size`` per minute. ``period="max"`` reaches
        back ten years; intraday intervals keep yfinance's limits.
        """
        sym = normalize_symbol(symbol)
        with self._lock:
            now = ensure_utc(self._clock(), "clock()")
            start, step = history_window(period, interval, now, earliest=now - _MAX_SPAN)
            step_s = int(step.total_seconds())
            now_s = _unix_seconds(now)
            first = -(-_unix_seconds(start) // step_s) * step_s
            state = self._symbol(sym)
            origin = self._origin_s
            rows = []
            for bar in range(first, now_s + 1, step_s):
                end = min(bar + step_s - 1, now_s)
                span = end - bar
                prices = [state.mid(bar - origin)]
                prices.extend(
                    state.mid(bar + span * i // (_BAR_SAMPLES + 1) - origin)
                    for i in range(1, _BAR_SAMPLES + 1)
                    if span > 1
                )
                close = state.mid(end - origin)
                prices.append(close)
                volume = state.params.size * (span + 1) / 60.0 * (0.5 + state.path.uniform(bar, -2 - step_s))
                rows.append((bar, prices[0], max(prices), min(prices), close, float(round(volume))))
        frame = pd.DataFrame(rows, columns=["timestamp", "open", "high", "low", "close", "volume"])
        frame.index = pd.to_datetime(frame.pop("timestamp"), unit="s", utc=True)
        return normalize_ohlcv(frame, sym)


__all__ = ["SimDataProvider", "SymbolParams"]
