"""``sim``: an offline, deterministic market simulator (the default data provider).

Every symbol follows its own geometric Brownian motion::

    mid(t) = start_price * exp((drift - volatility**2 / 2) * tau + volatility * W(tau))

with ``tau`` the time since ``start_time`` in years (365.25 days; the
simulated market trades around the clock) and ``W`` a standard Brownian
motion sampled on a one-second grid. Quotes are ``mid`` plus/minus half of
``spread_bps``, with ``size`` displayed on each side.

**Deterministic.** ``W`` is a pure function of ``(seed, symbol, second)``:
the price at a given clock time is the same whatever was asked before, in
every run and on every machine. Randomness is counter-based: a 64-bit
integer hash (SplitMix64's finaliser) of a per-symbol key (BLAKE2b of the
seed and the symbol) and the position on the grid, turned into a normal
variate through a fixed table of 65,537 normal quantiles (linear inside each
of its 2**16 bins; tails clipped at about 4.3 standard deviations), never
Python's salted ``hash()`` nor global random state. ``W`` is built as a
Brownian bridge over blocks of 2**16 seconds: the value at the block ends is
a running sum, the value inside a block is found by halving the block at
most 16 times. So a quote for any time costs at most 16 hashes, usually a
few when the clock moved a little since the last quote (the last descent is
kept), and a year of daily bars needs no walk through the 31 million
seconds in between.

**Vectorised.** ``get_multiple_quotes`` with many symbols computes all of
them in one numpy pass per step (they are asked at the same second, so they
share the descent); along a fixed stride (a simulated run) the quotes of the
next seconds are computed at once and served from memory. A batch comes
as a ``QuoteBatch`` (``data/quotes.py``): plain quote dicts, checked once
for the whole batch, which a paper broker takes after one look at its
time. The integer hash, the table lookup and the bridge arithmetic are
the same IEEE operations in the same order in the numpy and in the
one-symbol Python path, and the final ``exp`` is Python's ``math.exp`` in
both, so a price is bit-identical whichever path computed it.

**Clock-driven.** Prices move when the injected ``clock`` moves (one step
per whole second). The quote's ``timestamp`` is the grid second it was
taken at. ``start_time`` (config ``data.sim.start_time``) is where each path
starts at ``start_price``; by default the clock's time when the provider is
built, so a new run starts at the configured prices. Set it to a fixed time
to make prices a function of absolute time across runs.

**Trading hours.** Quotes follow the trading calendar of the symbol's asset
class (``LIVE_TRADING.data.calendar``; the class from
``LIVE_TRADING.common.symbols.asset_class`` and ``live_trading.asset_classes``):
crypto trades around the clock; an equity (NYSE regular session, holidays and
early closes included) or a forex pair (24/5) quoted while its market is closed
gets the *last session's closing quote* (the path at that close; at
``start_time`` if that close was earlier, so a run started while the market is
closed waits at ``start_price``), stamped with the current time and
``market_open: False``. Every quote carries
``market_open``. So prices stand still over nights, weekends and holidays, the
way a real closing quote does, and the paper broker can tell the market is
closed. History (``get_historical``) is the unbroken path.

Config (``live_trading.data.sim``; keyword arguments override): ``seed``,
``start_price``, ``drift``, ``volatility`` (annualised), ``spread_bps``,
``size``, ``start_time``, and ``symbols`` with per-symbol overrides of the
five market parameters, e.g. ``{"AAPL": {"start_price": 190.0}}``.

Why one module of ~850 lines: the one-symbol path (``_Path``) and the batch path (``_Batch``, numpy
over many symbols) must give identical prices from the same hash-based randomness; they sit beside
the shared helpers so a reader can check that they agree.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import math
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from CONFIG.schema import SimSettings, SimSymbol
from LIVE_TRADING.common.clock import Clock, ensure_utc, utc_now
from LIVE_TRADING.common.constants import SIM_DEFAULT_UNIVERSE
from LIVE_TRADING.common.exceptions import DataProviderError
from LIVE_TRADING.common.settings import section
from LIVE_TRADING.common.symbols import CRYPTO, AssetClass, asset_class, configured_asset_classes
from LIVE_TRADING.data import calendar
from LIVE_TRADING.data.provider import (
    INTERVALS,
    PERIODS,
    DataProvider,
    check_interval,
    history_window,
    normalize_ohlcv,
    normalize_symbol,
)
from LIVE_TRADING.data.quotes import Quote, QuoteBatch, make_quote

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_YEAR_S = 365.25 * 86400.0
_BLOCK = 1 << 16  # seconds per bridge block (~18.2 hours)
_SQRT_BLOCK = math.sqrt(_BLOCK)
#: bridge scale sqrt(length / 4) for every power-of-two interval length
_HALF_SD = {1 << i: math.sqrt((1 << i) / 4.0) for i in range(1, 17)}
_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_B_SHIFT = 25  # counter = (a << 25) + (b + 2**24): one-to-one for |a| < 2**38, -2**24 <= b < 2**24
_B_OFFSET = 1 << 24
_U53 = 1.0 / (1 << 53)
_TABLE_BITS = 16  # normal quantile table: 2**16 bins, linear inside a bin
_FRAC = 1.0 / (1 << 32)
#: how far back period="max" reaches
_MAX_SPAN: timedelta = PERIODS["10y"] or timedelta(days=3650)
#: price samples inside a bar (besides open and close) for its high and low
_BAR_SAMPLES = 8
#: get_multiple_quotes with at least this many symbols computes them as one numpy batch
VECTOR_MIN_SYMBOLS = 8
_BATCHES_KEPT = 4
#: seconds computed ahead along a fixed stride (one symbol's path; a batch's at most)
_AHEAD = 256
#: a batch computes ahead about this many (second, symbol) prices at once: more seconds for fewer symbols,
#: between 16 and ``_AHEAD_MAX`` seconds (numpy's cost per call is then spread over many seconds)
_AHEAD_CELLS = 1 << 16
_AHEAD_MAX = 4096

#: the market parameters that can be set by default and per symbol (bounds: CONFIG.schema.SimSymbol)
_MARKET_KEYS = tuple(SimSymbol.model_fields)
_OVERRIDES = frozenset({*_MARKET_KEYS, "symbols", "start_time", "universe"})


@dataclasses.dataclass(frozen=True)
class SymbolParams:
    """The market parameters of one simulated symbol."""

    start_price: float
    drift: float
    volatility: float
    spread_bps: float
    size: float


# -- randomness: one integer hash, computed the same way by Python ints and numpy uint64 ---------
def _counter(a: int, b: int) -> int:
    return ((a << _B_SHIFT) + b + _B_OFFSET) & _M64


def _hash(key: int, a: int, b: int) -> int:
    """A 64-bit hash of ``(key, a, b)`` (SplitMix64's finaliser of the golden-ratio-scaled counter, keyed)."""
    x = ((_counter(a, b) * _GOLDEN) & _M64) ^ key
    x ^= x >> 30
    x = (x * _MIX1) & _M64
    x ^= x >> 27
    x = (x * _MIX2) & _M64
    return x ^ (x >> 31)


def _hash_np(keys: np.ndarray | np.uint64, counters: np.ndarray) -> np.ndarray:
    """``_hash`` for arrays: ``keys`` and ``counters`` uint64 (broadcast), wrapping arithmetic."""
    x = (counters * np.uint64(_GOLDEN)) ^ keys
    x ^= x >> np.uint64(30)
    x *= np.uint64(_MIX1)
    x ^= x >> np.uint64(27)
    x *= np.uint64(_MIX2)
    x ^= x >> np.uint64(31)
    return x


@functools.cache
def _quantiles() -> tuple[list[float], np.ndarray]:
    """The standard normal quantile at ``i / 2**16`` for ``i = 0..2**16`` (ends clipped to half a bin).

    Computed once with ``statistics.NormalDist`` (pure Python), as a list for
    the scalar path and an array for the numpy path: both interpolate the same
    numbers with the same arithmetic.
    """
    inv = NormalDist().inv_cdf
    n = 1 << _TABLE_BITS
    table = [inv(min(max(i, 0.5), n - 0.5) / n) for i in range(n + 1)]
    return table, np.array(table, dtype=np.float64)


def _normal(x: int, table: list[float]) -> float:
    """A standard normal variate from the hash ``x``: the top 16 bits pick a quantile bin, the next 32 interpolate."""
    i = x >> 48
    lo = table[i]
    return lo + ((x >> 16) & 0xFFFFFFFF) * _FRAC * (table[i + 1] - lo)


def _normal_np(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    i = (x >> np.uint64(48)).astype(np.intp)
    frac = ((x >> np.uint64(16)) & np.uint64(0xFFFFFFFF)).astype(np.float64) * _FRAC
    lo = table[i]
    return lo + frac * (table[i + 1] - lo)


def _descent(j: int, lo: int, hi: int) -> list[tuple[int, int, int]]:
    """The intervals ``(lo, hi, mid)`` halved, from ``[lo, hi)``, until ``j`` is an interval's start."""
    steps = []
    while j != lo:
        mid = (lo + hi) >> 1
        steps.append((lo, hi, mid))
        if j < mid:
            hi = mid
        else:
            lo = mid
    return steps


def _price(start_price: float, exponent: float, symbol: str) -> float:
    try:
        price = start_price * math.exp(exponent)
    except OverflowError:
        price = math.inf
    if not math.isfinite(price) or price <= 0.0:
        raise DataProviderError(
            f"No quote for {symbol}: its simulated price overflowed (drift/volatility too large)", symbol=symbol
        )
    return price


class _Descent:
    """The kept descent of a path (``_Path`` for one symbol, ``_Batch`` for many): its stack of intervals.

    A value inside block ``k`` is found by halving ``[0, B)`` down to its
    second; the intervals halved on the way are kept, so the next second asked
    (usually the next one) starts from the smallest kept interval holding it.
    """

    __slots__ = ("_k", "_stack")

    def __init__(self) -> None:
        self._k: int | None = None  # block of the kept descent
        self._stack: list[tuple[int, int, Any, Any]] = []  # (lo, hi, w(lo), w(hi)), widest first

    def _block(self, k: int) -> Any:
        raise NotImplementedError

    def _frame(self, n: int) -> tuple[int, int, tuple[int, int, Any, Any]]:
        """``(k, j, (lo, hi, w(lo), w(hi)))``: second ``n``'s block and offset, and the smallest kept interval
        holding it (the whole block when ``n`` is in another block than the last one asked)."""
        k, j = divmod(n, _BLOCK)
        stack = self._stack
        if k != self._k:
            stack.clear()
            stack.append((0, _BLOCK, self._block(k), self._block(k + 1)))
            self._k = k
        else:
            while len(stack) > 1 and not (stack[-1][0] <= j < stack[-1][1]):
                stack.pop()
        return k, j, stack[-1]


class _Path(_Descent):
    """A standard Brownian motion ``w(n)`` (variance ``n``) on the one-second grid of one symbol.

    ``w(0) = 0``. Block ends ``w(k * B)`` are a running sum of independent
    ``N(0, B)`` steps (extended lazily in both directions); inside a block,
    the value at the midpoint of ``[lo, hi]`` is the bridge mean plus
    ``sqrt((hi - lo) / 4)`` times a normal keyed by ``(block, midpoint)``.
    Every value is computed by the same arithmetic from the same inputs
    whatever the order of the calls, so the path is a pure function of the key.
    ``_Batch`` computes the very same numbers for many symbols at once.
    """

    __slots__ = ("_ahead", "_blocks", "_hi", "_key", "_last", "_lo", "_table")

    def __init__(self, key: int) -> None:
        super().__init__()
        self._key = key
        self._table = _quantiles()[0]
        self._blocks: dict[int, float] = {0: 0.0}
        self._lo = self._hi = 0  # blocks[lo..hi] are known
        self._last: int | None = None  # the last second asked
        self._ahead: dict[int, float] = {}  # values computed ahead along the last stride

    def at(self, n: int) -> float:
        """``w(n)`` for the integer second ``n`` (negative allowed).

        A clock that moves by a fixed stride (a simulated run: one bar per
        step) is detected: the next ``_AHEAD`` seconds along the stride are
        then computed at once with numpy (``_values_np``, the same numbers) and
        served from memory.
        """
        value = self._ahead.get(n)
        if value is not None:
            self._last = n
            return value
        last, self._last = self._last, n
        if last is not None and 0 < n - last <= _BLOCK:
            stride = n - last
            points = [n + stride * i for i in range(_AHEAD)]
            self._ahead = dict(zip(points, self._values_np(points), strict=True))
            return self._ahead[n]
        return self._descend(n)

    def _values_np(self, points: list[int]) -> list[float]:
        """``w`` at many seconds at once: every point descends its block in step, one numpy pass per level.

        Each value is the midpoint formula applied to its dyadic parents, as in
        ``_descend``: bit-identical whichever way it is computed.
        """
        ks, js = np.divmod(np.array(points, dtype=np.int64), _BLOCK)
        lo_w = np.array([self._block(k) for k in ks.tolist()])
        hi_w = np.array([self._block(k + 1) for k in ks.tolist()])
        lo = np.zeros(len(points), dtype=np.int64)
        base = ((ks << _B_SHIFT) + _B_OFFSET).astype(np.uint64)
        key = np.uint64(self._key)
        table = _quantiles()[1]
        size = _BLOCK
        while size > 1:
            active = js != lo
            if not active.any():
                break
            half = size >> 1
            mid = lo + half
            z = _normal_np(_hash_np(key, base + mid.astype(np.uint64)), table)
            w_mid = (lo_w + hi_w) * 0.5 + _HALF_SD[size] * z
            left = js < mid
            go_right = active & ~left
            go_left = active & left
            hi_w = np.where(go_left, w_mid, hi_w)
            lo_w = np.where(go_right, w_mid, lo_w)
            lo = np.where(go_right, mid, lo)
            size = half
        return lo_w.tolist()

    def uniform(self, a: int, b: int) -> float:
        """A uniform in (0, 1), a pure function of the key and ``(a, b)``."""
        return ((_hash(self._key, a, b) >> 11) + 0.5) * _U53

    def _z(self, a: int, b: int) -> float:
        return _normal(_hash(self._key, a, b), self._table)

    def _block(self, k: int) -> float:
        blocks = self._blocks
        while self._hi < k:  # step k is w(kB) - w((k-1)B), keyed (k, -1)
            self._hi += 1
            blocks[self._hi] = blocks[self._hi - 1] + _SQRT_BLOCK * self._z(self._hi, -1)
        while self._lo > k:
            blocks[self._lo - 1] = blocks[self._lo] - _SQRT_BLOCK * self._z(self._lo, -1)
            self._lo -= 1
        return blocks[k]

    def _descend(self, n: int) -> float:
        """``w(n)`` by halving from the kept descent (a few hashes when ``n`` is near the last second asked)."""
        k, j, (lo, hi, wlo, whi) = self._frame(n)
        stack = self._stack
        if j == lo:
            return wlo
        key, table, base = self._key, self._table, (k << _B_SHIFT) + _B_OFFSET
        while j != lo:
            mid = (lo + hi) >> 1
            # _normal(_hash(key, k, mid)), inlined (the hot path of a one-symbol run)
            x = (((base + mid) & _M64) * _GOLDEN & _M64) ^ key
            x ^= x >> 30
            x = (x * _MIX1) & _M64
            x ^= x >> 27
            x = (x * _MIX2) & _M64
            x ^= x >> 31
            i = x >> 48
            t = table[i]
            wmid = (wlo + whi) * 0.5 + _HALF_SD[hi - lo] * (t + ((x >> 16) & 0xFFFFFFFF) * _FRAC * (table[i + 1] - t))
            if j < mid:
                hi, whi = mid, wmid
            else:
                lo, wlo = mid, wmid
            stack.append((lo, hi, wlo, whi))
        return wlo


class _Batch(_Descent):
    """The paths of several symbols evaluated together: one numpy computation per step for all of them.

    All symbols are asked at the same second, so they share the descent
    (which intervals are halved); only the values differ, kept as arrays.
    The hashes of all the levels a step needs are computed in one call.
    Same inputs, same IEEE operations in the same order as ``_Path``: the
    numbers are bit-identical to the scalar path's.
    """

    def __init__(self, states: list[_Symbol]) -> None:
        super().__init__()
        self.symbols = [s.symbol for s in states]
        self.states = states
        self._keys = np.array([s.path._key for s in states], dtype=np.uint64)
        self._table = _quantiles()[1]
        self.drift = np.array([s.drift_per_s for s in states], dtype=np.float64)
        self.vol = np.array([s.vol_per_sqrt_s for s in states], dtype=np.float64)
        self.start_prices = [s.params.start_price for s in states]
        #: per symbol, what a quote needs besides the path: (symbol, start price, half spread, size)
        self._fixed = [(s.symbol, s.params.start_price, s.half_spread, s.params.size) for s in states]
        self._start_arr = np.array([s.params.start_price for s in states], dtype=np.float64)
        self._half_arr = np.array([s.half_spread for s in states], dtype=np.float64)
        #: per symbol, its quote with the fields that never change filled in: ``_batch`` copies it and sets the
        #: rest (a copy of a dict is a block copy: a quarter fewer instructions than the same dict from a literal)
        self._templates: list[dict[str, Any]] = [
            {"symbol": s.symbol, "bid": 0.0, "ask": 0.0, "bid_size": s.params.size, "ask_size": s.params.size,
             "timestamp": None, "spread_bps": 0.0, "market_open": True}
            for s in states]
        #: the asset classes of the batch's symbols whose markets keep hours (all but crypto): their
        #: hours are looked up once per class
        self.sessions = sorted({s.asset_class for s in states} - {CRYPTO})
        self._blocks: dict[int, np.ndarray] = {0: np.zeros(len(states))}
        self._lo = self._hi = 0
        self.errors: dict[str, str] = {}  # symbols of the batch's list that are not valid symbols
        self._last: int | None = None  # the last second asked
        #: quotes computed ahead along the last stride: second -> row of ``_rows`` (its bids, asks and spreads)
        self._ahead: dict[int, int] = {}
        self._rows: np.ndarray | None = None  # shape (seconds, 3, symbols)
        self._ahead_len = max(16, min(_AHEAD_MAX, _AHEAD_CELLS // max(len(states), 1)))

    def _z(self, counters: list[int]) -> np.ndarray:
        """Normals of shape ``(len(counters), symbols)``."""
        c = np.array(counters, dtype=np.uint64)[:, None]
        return _normal_np(_hash_np(self._keys[None, :], c), self._table)

    def _block(self, k: int) -> np.ndarray:
        blocks = self._blocks
        if self._hi < k:
            ks = list(range(self._hi + 1, k + 1))
            steps = _SQRT_BLOCK * self._z([_counter(i, -1) for i in ks])
            values = np.cumsum(np.vstack([blocks[self._hi][None, :], steps]), axis=0)  # sequential sums
            for i, kk in enumerate(ks, 1):
                blocks[kk] = values[i]
            self._hi = k
        while self._lo > k:
            blocks[self._lo - 1] = blocks[self._lo] - _SQRT_BLOCK * self._z([_counter(self._lo, -1)])[0]
            self._lo -= 1
        return blocks[k]

    def at(self, n: int) -> np.ndarray:
        """``w(n)`` of every symbol."""
        k, j, (lo, hi, wlo, whi) = self._frame(n)
        stack = self._stack
        steps = _descent(j, lo, hi)
        if steps:
            z = self._z([_counter(k, mid) for _, _, mid in steps])
            # each level's bridge scale times its normals, all levels in one multiplication (same products)
            z *= np.array([_HALF_SD[hi - lo] for lo, hi, _ in steps])[:, None]
            for level, (lo, hi, mid) in enumerate(steps):
                wmid = (wlo + whi) * 0.5 + z[level]
                if j < mid:
                    hi, whi = mid, wmid
                else:
                    lo, wlo = mid, wmid
                stack.append((lo, hi, wlo, whi))
        return wlo

    def quotes(self, n: int, when: datetime, errors: dict[str, str]) -> QuoteBatch:
        """Every symbol's quote at second ``n``, ``market_open: True`` (symbols whose price overflowed go to ``errors``).

        Checked here, once, instead of by ``make_quote`` per symbol: the mid is
        finite and positive (as ``_price`` checks it), the half spread is ``mid * spread_bps
        / 2e4`` with ``spread_bps >= 0`` and the size ``>= 0`` (both checked
        with the settings), so the quote is never crossed; only a bid pushed
        to zero or below by a spread of 10,000 bps or more is left to refuse.
        The caller replaces the quotes of symbols whose market is closed.

        A clock moving by a fixed stride (a simulated run) is detected, as by
        ``_Path.at``: the quotes of the next seconds along the stride are then
        computed at once (``_look_ahead``, the same numbers) and served from memory.
        """
        row = self._ahead.get(n)
        last, self._last = self._last, n
        if row is None and last is not None and 0 < n - last <= _BLOCK:
            row = self._look_ahead(n, n - last)
        if row is not None:
            bids, asks, spreads = self._rows[row].tolist()  # type: ignore[index]  # (set with ``_ahead``)
            return self._batch(when, bids, asks, spreads)
        exponents = (self.drift * n + self.vol * self.at(n)).tolist()
        try:  # all symbols at once: the same IEEE operations, element by element, as the loop below
            growth = np.fromiter(map(math.exp, exponents), dtype=np.float64, count=len(exponents))
        except OverflowError:
            growth = None
        if growth is not None:
            mids = self._start_arr * growth
            halves = mids * self._half_arr
            bids, asks = mids - halves, mids + halves
            if bool(np.all((mids > 0.0) & (mids < math.inf) & (bids > 0.0))):
                spreads = (asks - bids) / ((asks + bids) / 2.0) * 1e4
                return self._batch(when, bids.tolist(), asks.tolist(), spreads.tolist())
        # some symbol has no valid quote: one at a time, naming each failure
        out = QuoteBatch({}, when, when)
        exp = math.exp
        inf = math.inf
        for (sym, start_price, half_spread, size), e in zip(self._fixed, exponents, strict=True):
            try:  # _price's arithmetic, inlined: start_price * exp(e), finite and > 0
                mid = start_price * exp(e)
            except OverflowError:
                mid = inf
            if not 0.0 < mid < inf:
                try:
                    _price(start_price, e, sym)  # raises the error that names the symbol
                except DataProviderError as exc:
                    errors[sym] = str(exc)
                    continue
            half = mid * half_spread
            bid, ask = mid - half, mid + half
            if not bid > 0.0:
                errors[sym] = f"Invalid quote for {sym}: bid {bid:g} must be > 0 (spread_bps too large)"
                continue
            out[sym] = {"symbol": sym, "bid": bid, "ask": ask, "bid_size": size, "ask_size": size, "timestamp": when,
                        "spread_bps": (ask - bid) / ((ask + bid) / 2.0) * 1e4, "market_open": True}
        return out

    def _batch(self, when: datetime, bids: list[float], asks: list[float], spreads: list[float]) -> QuoteBatch:
        """The ``QuoteBatch`` of checked bids, asks and spreads (one per symbol, in order) at ``when``.

        Plain dicts with ``make_quote``'s keys, each a copy of its symbol's
        template with the bid, ask, time and spread set (a ``Quote`` per symbol
        would cost a keyword call each): the batch carries the mark.
        """
        out = QuoteBatch({}, when, when)
        for sym, template, b, a, sp in zip(self.symbols, self._templates, bids, asks, spreads, strict=True):
            out[sym] = quote = template.copy()
            quote["bid"] = b
            quote["ask"] = a
            quote["timestamp"] = when
            quote["spread_bps"] = sp
        return out

    def _look_ahead(self, n: int, stride: int) -> int | None:
        """Compute the quotes of ``n, n + stride, ...`` (``_ahead_len`` seconds) at once; ``n``'s row, or ``None``.

        The same IEEE operations element by element as ``quotes`` at each
        second (``_values_ahead`` for ``w``, then ``math.exp`` and the same
        array arithmetic), so the numbers are bit-identical. A second whose
        quotes are not all valid (an overflowed price, a bid at or below zero)
        is left out: ``quotes`` computes it the usual way, naming each failure.
        """
        points = np.arange(self._ahead_len, dtype=np.int64) * stride + n
        w = self._values_ahead(points)
        exponents = self.drift[None, :] * points.astype(np.float64)[:, None] + self.vol[None, :] * w
        try:
            growth = np.fromiter(map(math.exp, exponents.ravel().tolist()), dtype=np.float64,
                                 count=exponents.size).reshape(exponents.shape)
        except OverflowError:
            self._ahead = {}
            return None
        mids = self._start_arr * growth
        halves = mids * self._half_arr
        bids, asks = mids - halves, mids + halves
        valid = np.all((mids > 0.0) & (mids < math.inf) & (bids > 0.0), axis=1).tolist()
        spreads = (asks - bids) / ((asks + bids) / 2.0) * 1e4
        # kept as arrays, a row made floats when its second is asked: lists of rows made here, in bulk, would be
        # cheaper per step, but the collector would walk all their floats at each of its next passes (~1 ms)
        self._rows = np.stack((bids, asks, spreads), axis=1)
        self._ahead = {p: i for i, (p, ok) in enumerate(zip(points.tolist(), valid, strict=True)) if ok}
        return self._ahead.get(n)

    def _values_ahead(self, points: np.ndarray) -> np.ndarray:
        """``w`` of every symbol at many seconds, shape ``(len(points), symbols)``: ``at`` for each, at once.

        Every point descends its block in step, one numpy pass per level (as
        ``_Path._values_np``); an interval that several points halve at the
        same level (the upper levels, shared by nearby seconds) is hashed once.
        Each value is the midpoint formula applied to its parents, as in ``at``.
        """
        ks, js = np.divmod(points, _BLOCK)
        blocks, which = np.unique(ks, return_inverse=True)  # the few blocks the points fall in
        wlo = np.array([self._block(k) for k in blocks.tolist()])[which]
        whi = np.array([self._block(k + 1) for k in blocks.tolist()])[which]
        lo = np.zeros(len(points), dtype=np.int64)
        base = ((ks << _B_SHIFT) + _B_OFFSET).astype(np.uint64)
        keys, table = self._keys[None, :], self._table
        dedupe = len(self._keys) >= VECTOR_MIN_SYMBOLS  # hashing an interval once pays only for many symbols
        size = _BLOCK
        while size > 1:
            active = np.flatnonzero(js != lo)
            if not len(active):
                break
            mid = lo[active] + (size >> 1)
            counters = base[active] + mid.astype(np.uint64)
            if dedupe:
                counters, first, inverse = np.unique(counters, return_index=True, return_inverse=True)
                owner = active[first]  # a point halving each distinct interval
            else:
                owner = active
            z = _HALF_SD[size] * _normal_np(_hash_np(keys, counters[:, None]), table)
            w_mid = (wlo[owner] + whi[owner]) * 0.5 + z
            if dedupe:
                w_mid = w_mid[inverse]
            left = js[active] < mid
            whi[active[left]] = w_mid[left]
            right = ~left
            wlo[active[right]] = w_mid[right]
            lo[active[right]] = mid[right]
            size >>= 1
        return wlo


class _Symbol:
    """Parameters and path of one symbol, with the GBM coefficients precomputed."""

    __slots__ = ("asset_class", "drift_per_s", "half_spread", "params", "path", "symbol", "vol_per_sqrt_s")

    def __init__(self, symbol: str, params: SymbolParams, key: int, asset_class: AssetClass = CRYPTO) -> None:
        self.symbol = symbol
        self.asset_class = asset_class
        self.params = params
        self.path = _Path(key)
        self.drift_per_s = (params.drift - params.volatility**2 / 2.0) / _YEAR_S
        self.vol_per_sqrt_s = params.volatility / math.sqrt(_YEAR_S)
        self.half_spread = params.spread_bps / 2e4

    def mid(self, n: int) -> float:
        return _price(self.params.start_price, self.drift_per_s * n + self.vol_per_sqrt_s * self.path.at(n), self.symbol)


def _symbol_key(seed: int, symbol: str) -> int:
    """The stable 64-bit hash key of a (seed, symbol) pair (same on every machine and run)."""
    digest = hashlib.blake2b(f"live_trading.sim\x00{seed}\x00{symbol}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


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
        cfg: SimSettings = section("data.sim", {"seed": seed, **overrides})
        self.seed = cfg.seed
        defaults = {name: getattr(cfg, name) for name in _MARKET_KEYS}
        per_symbol = {
            sym: {k: v for k, v in params.model_dump().items() if v is not None} for sym, params in cfg.symbols.items()
        }
        start_time = cfg.start_time
        #: the symbols it knows (``data.sim.universe``); None: any symbol
        self.universe: frozenset[str] | None = (
            None if cfg.universe == "any"
            else (frozenset(SIM_DEFAULT_UNIVERSE) if cfg.universe == "default"
                  else frozenset(s.strip().upper() for s in cfg.universe)) | frozenset(per_symbol)
        )
        self._defaults = SymbolParams(**defaults)
        self._per_symbol = per_symbol
        origin = start_time if start_time is not None else ensure_utc(self._clock(), "clock()")
        self.start_time = origin.replace(microsecond=0)
        self._origin_s = _unix_seconds(self.start_time)
        self._symbols: dict[str, _Symbol] = {}
        self._batches: dict[tuple[str, ...], _Batch] = {}  # symbol lists asked together, most recent last
        self._small_last: dict[tuple[str, ...], int] = {}  # short symbol lists: the second each was last asked at
        self._asset_classes = configured_asset_classes()
        self._lock = threading.Lock()

    # -- configuration -------------------------------------------------------
    def known_symbols(self) -> frozenset[str] | None:
        """The simulated universe (``data.sim.universe``); ``None`` when it is ``any``."""
        return self.universe

    def params(self, symbol: str) -> SymbolParams:
        """The market parameters ``symbol`` is simulated with."""
        return self._symbol(normalize_symbol(symbol)).params

    def _symbol(self, sym: str) -> _Symbol:
        state = self._symbols.get(sym)
        if state is None:
            params = self._defaults
            if sym in self._per_symbol:
                params = dataclasses.replace(params, **self._per_symbol[sym])
            state = self._symbols[sym] = _Symbol(
                sym, params, _symbol_key(self.seed, sym), asset_class(sym, self._asset_classes)  # type: ignore[arg-type]
            )
        return state

    # -- quotes --------------------------------------------------------------
    def _step(self) -> tuple[int, datetime]:
        """The current grid second (relative to ``start_time``) and its time."""
        now = self._clock()
        if type(now) is not datetime or now.tzinfo is not UTC:
            now = ensure_utc(now, "clock()")
        n = _unix_seconds(now) - self._origin_s
        return n, now if now.microsecond == 0 else self.start_time + timedelta(seconds=n)

    def _quote(self, sym: str, n: int, when: datetime) -> Quote:
        state = self._symbol(sym)
        market_open = True
        if state.asset_class != CRYPTO and not calendar.is_open(state.asset_class, when):
            # closed: the price stands still at the last session's close (see the module docstring)
            market_open = False
            last_close = calendar.previous_close(state.asset_class, when)
            assert last_close is not None  # only crypto has no sessions
            n_close = _unix_seconds(last_close) - self._origin_s
            n = n_close if n_close >= 0 or n < 0 else 0  # a path starting while closed waits at start_price
        mid = state.mid(n)
        half = mid * state.half_spread
        size = state.params.size
        bid, ask = mid - half, mid + half
        if bid > 0.0 and ask < math.inf and when.tzinfo is UTC:
            # what make_quote would build: the mid is finite and > 0 (_price), the spread and size are
            # finite and >= 0 (checked with the settings), so only the bid and the ask are left to check
            return Quote(symbol=sym, bid=bid, ask=ask, bid_size=size, ask_size=size, timestamp=when,
                         spread_bps=(ask - bid) / ((ask + bid) / 2.0) * 1e4, market_open=market_open)
        return make_quote(sym, bid, ask, size, size, when, market_open)  # refuses it, saying why

    def get_quote(self, symbol: str) -> Quote:
        """The quote at the clock's current second."""
        sym = normalize_symbol(symbol)
        with self._lock:
            n, when = self._step()
            return self._quote(sym, n, when)

    def get_multiple_quotes(self, symbols: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Quotes for all ``symbols`` at one clock reading (one consistent snapshot).

        With ``VECTOR_MIN_SYMBOLS`` or more symbols, or the same symbols asked
        again along a fixed stride, the prices of all of them are computed as
        one numpy batch (the same numbers as one at a time), returned as a
        ``QuoteBatch``.
        """
        names = symbols if type(symbols) is list or type(symbols) is tuple else list(symbols)
        with self._lock:
            n, when = self._step()
            if len(names) >= VECTOR_MIN_SYMBOLS:
                return self._batch_quotes(names, n, when)
            # a few symbols: one at a time, unless asked along a fixed stride (a simulated run), where the
            # batch computes them ahead (the same numbers)
            key = tuple(names)
            if key in self._batches:  # asked along a stride before
                return self._batch_quotes(names, n, when)
            last = self._small_last.pop(key, None)
            self._small_last[key] = n  # most recently asked last
            if len(self._small_last) > _BATCHES_KEPT:
                del self._small_last[next(iter(self._small_last))]
            if last is not None and 0 < n - last <= _BLOCK:
                return self._batch_quotes(names, n, when)
            out: dict[str, dict[str, Any]] = {}
            errors: dict[str, str] = {}
            for name in names:
                try:
                    sym = name if type(name) is str and name in self._symbols else normalize_symbol(name)
                    out[sym] = self._quote(sym, n, when)
                except DataProviderError as exc:
                    errors[str(name).strip().upper()] = str(exc)
            self.last_errors = errors
            return out

    def _batch_quotes(self, names: list[str] | tuple[str, ...], n: int, when: datetime) -> QuoteBatch:
        key = tuple(names)
        batches = self._batches
        batch = batches.get(key)
        errors: dict[str, str] = {}
        if batch is not None and next(reversed(batches)) != key:
            del batches[key]
            batches[key] = batch  # most recently used last
        elif batch is None:
            states: list[_Symbol] = []
            seen: set[str] = set()
            for name in names:
                try:
                    sym = normalize_symbol(name)
                except DataProviderError as exc:
                    errors[str(name).strip().upper()] = str(exc)
                    continue
                if sym not in seen:
                    seen.add(sym)
                    states.append(self._symbol(sym))
            batch = _Batch(states)
            batch.errors = errors
            batches[key] = batch  # most recently used last
            while len(batches) > _BATCHES_KEPT:
                del batches[next(iter(batches))]
        errors = dict(batch.errors) if batch.errors else {}
        out = batch.quotes(n, when, errors)
        # trading hours: one calendar look-up per asset class; a closed market's quotes stand at its close
        closed = [cls for cls in batch.sessions if not calendar.is_open(cls, when)] if batch.sessions else None
        if closed:
            for state in batch.states:
                if state.asset_class in closed and state.symbol in out:
                    out[state.symbol] = self._quote(state.symbol, n, when)
        self.last_errors = errors
        return out

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
            first = -(-_unix_seconds(start) // step_s) * step_s
            return self._bars(sym, first, _unix_seconds(now), step_s)

    def get_recent_bars(self, symbol: str, interval: str = "1d", count: int = 1) -> pd.DataFrame:
        """The last ``count`` bars of ``interval`` as ``get_historical`` builds them; the last one holds the current quote.

        What the loop's warm-up asks for: only the bars a strategy needs,
        however long or short the interval.
        """
        sym = normalize_symbol(symbol)
        check_interval(interval)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise DataProviderError(f"count must be an integer >= 1, got {count!r}", symbol=sym)
        with self._lock:
            now_s = _unix_seconds(ensure_utc(self._clock(), "clock()"))
            step_s = int(INTERVALS[interval].total_seconds())
            first = (now_s // step_s - (count - 1)) * step_s
            return self._bars(sym, first, now_s, step_s)

    def _bars(self, sym: str, first: int, now_s: int, step_s: int) -> pd.DataFrame:
        """Bars of ``step_s`` seconds starting at Unix second ``first`` up to the one holding ``now_s``."""
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
