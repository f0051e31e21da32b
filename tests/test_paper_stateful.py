"""A hypothesis state machine: whatever the paper broker is asked, its journal alone rebuilds it.

Random orders (market, limit, stop, stop-limit; both sides; gtc/day/ioc/fok),
quotes, cancels, clock steps (forward, and sometimes back), day-order
expiries, ``reset`` and restarts (close + reopen with ``resume=True``), with a
tiny ``keep_terminal_orders`` and ``snapshot_every`` so that eviction from
memory and snapshots happen all the time. After EVERY step a read-only broker
opened on a COPY of the journal directory must show exactly what the live one
shows: cash, account summary, positions and P&L, open orders and the order in
which they would fill, fills, and ``get_order`` of every order id ever returned.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from LIVE_TRADING.brokers.paper import PaperBroker
from LIVE_TRADING.common.clock import ManualClock
from LIVE_TRADING.common.exceptions import LiveTradingError, OrderNotFoundError

#: tmpfs where there is one: the check copies the journal after every step
_FAST_TMP = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
SETTINGS: dict[str, Any] = dict(initial_cash=50_000.0, slippage_bps=5, fee_bps=1, respect_quote_size=True,
                                keep_terminal_orders=3, snapshot_every=7)
SYMBOLS = ("AAA", "BBB")
sides = st.sampled_from(["BUY", "SELL"])
symbols = st.sampled_from(SYMBOLS)
qtys = st.integers(min_value=1, max_value=60)
tifs = st.sampled_from(["gtc", "day", "ioc", "fok"])
offsets = st.integers(min_value=-30, max_value=30).map(lambda n: n / 1000)  # within +-3% of the mid


def same(a: Any, b: Any, where: str = "") -> None:
    """Equal, floats within 1e-9 relative (a snapshot sums reservations in another order)."""
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-7), f"{where}: {a!r} != {b!r}"
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b), f"{where}: {len(a)} items != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def books(b: PaperBroker) -> dict[str, dict[str, list[str]]]:
    """Each symbol's resting orders in the order they would fill (empty books left out)."""
    out = {}
    for sym, book in b._state.books.items():
        queues = {k: v for k, v in book.priority().items() if v}
        if queues:
            out[sym] = queues
    return out


class PaperAccountMachine(RuleBasedStateMachine):
    SETTINGS: ClassVar[dict[str, Any]] = SETTINGS

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="paper-stateful-", dir=_FAST_TMP))
        self.root = self.tmp / "live"
        self.clock = ManualClock("2026-01-05T22:00:00+00:00")  # day orders expire at 00:00 UTC
        self.broker = PaperBroker(log_dir=self.root, clock=self.clock, **self.SETTINGS)
        self.mid = {"AAA": 100.0, "BBB": 40.0}
        self.ids: list[str] = []

    # -- what a user does -----------------------------------------------------------------------
    def _submit(self, *args: Any, **kw: Any) -> None:
        try:
            self.ids.append(self.broker.submit_order(*args, **kw)["order_id"])
        except LiveTradingError:  # refused (funds, no quote, fok, ...): nothing changed
            pass

    @rule(sym=symbols, side=sides, qty=qtys)
    def market(self, sym: str, side: str, qty: int) -> None:
        self._submit(sym, side, qty)

    @rule(sym=symbols, side=sides, qty=qtys, off=offsets, tif=tifs)
    def limit(self, sym: str, side: str, qty: int, off: float, tif: str) -> None:
        self._submit(sym, side, qty, "limit", round(self.mid[sym] * (1 + off), 2), time_in_force=tif)

    @rule(sym=symbols, side=sides, qty=qtys, off=offsets, tif=tifs)
    def stop(self, sym: str, side: str, qty: int, off: float, tif: str) -> None:
        self._submit(sym, side, qty, "stop", stop_price=round(self.mid[sym] * (1 + off), 2), time_in_force=tif)

    @rule(sym=symbols, side=sides, qty=qtys, off=offsets, gap=offsets, tif=tifs)
    def stop_limit(self, sym: str, side: str, qty: int, off: float, gap: float, tif: str) -> None:
        stop = round(self.mid[sym] * (1 + off), 2)
        self._submit(sym, side, qty, "stop_limit", round(stop * (1 + gap), 2), stop_price=stop, time_in_force=tif)

    @rule(sym=symbols, move=offsets, bid_size=st.integers(0, 80), ask_size=st.integers(0, 80))
    def quote(self, sym: str, move: float, bid_size: int, ask_size: int) -> None:
        m = self.mid[sym] = round(self.mid[sym] * (1 + move), 2)
        self.broker.set_quote(sym, round(m - 0.05, 2), round(m + 0.05, 2), bid_size, ask_size)

    @rule(pick=st.integers(min_value=0, max_value=10_000))
    def cancel(self, pick: int) -> None:
        if self.ids:
            try:
                self.broker.cancel_order(self.ids[pick % len(self.ids)])
            except OrderNotFoundError:  # an order of a run before the last reset()
                pass

    @rule(seconds=st.sampled_from([1, 30, 600, 3600, 4 * 3600]))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)

    @rule(seconds=st.integers(min_value=1, max_value=10))
    def step_back(self, seconds: int) -> None:  # NTP
        self.clock.advance(seconds=-seconds)

    @rule()
    def reset(self) -> None:
        self.broker.reset()

    @rule()
    def restart(self) -> None:
        self.broker.close()
        self.broker = PaperBroker(log_dir=self.root, clock=self.clock, resume=True, **self.SETTINGS)

    # -- the check ---------------------------------------------------------------------------------
    @invariant()
    def a_copy_of_the_journal_rebuilds_the_same_account(self) -> None:
        copy_root = self.tmp / "copy"
        copy_dir = copy_root / "default"
        copy_dir.mkdir(parents=True, exist_ok=True)
        for old in copy_dir.iterdir():  # the same directory every step: no mkdir/rmdir (slow on ext4)
            old.unlink()
        for f in (self.root / "default").iterdir():
            shutil.copy2(f, copy_dir / f.name)
        live = self.broker
        ro = PaperBroker(log_dir=copy_root, clock=self.clock, read_only=True, **self.SETTINGS)
        ro._quotes.update(live._quotes)  # market data is not account state: give it the same marks
        for name in ("get_cash", "get_account_summary", "get_positions", "get_position_details",
                     "get_open_orders", "get_fills", "get_portfolio_value"):
            same(getattr(live, name)(), getattr(ro, name)(), name)
        same(books(live), books(ro), "books")
        same(ro.run_id, live.run_id, "run_id")
        for oid in self.ids:
            try:
                mine = live.get_order(oid)
            except OrderNotFoundError:
                mine = None
            try:
                theirs = ro.get_order(oid)
            except OrderNotFoundError:
                theirs = None
            same(mine, theirs, f"get_order({oid})")

    def teardown(self) -> None:
        self.broker.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class ShortingAccountMachine(PaperAccountMachine):
    """The same with shorting (margin checks, flips through zero) and maker/taker fees (rebates)."""

    SETTINGS: ClassVar[dict[str, Any]] = {**SETTINGS, "allow_short": True, "margin_requirement": 0.5, "fee_model": "maker_taker"}


_BOUNDED = settings(max_examples=30, stateful_step_count=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
PaperAccountMachine.TestCase.settings = _BOUNDED
ShortingAccountMachine.TestCase.settings = _BOUNDED
test_paper_account_recovers_from_its_journal_after_every_step = PaperAccountMachine.TestCase
test_shorting_account_recovers_from_its_journal_after_every_step = ShortingAccountMachine.TestCase
