"""The hot path of a plain market order gives exactly what the general path gives.

``submit_order`` of a market order (gtc, no client id, no prices) goes through
``hotpath.MarketHotPath``, a direct path written for speed
(issue 13). These tests run the same orders through it and through the general
path (forced by spelling the order type ``"MARKET"``, which validation accepts
as ``market`` but the hot path leaves alone) and compare everything a caller or
a later recovery can see: results, errors, journal records, cash, positions,
fills, summaries, and the state rebuilt from the journal.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from LIVE_TRADING.brokers.paper import PaperBroker
from LIVE_TRADING.brokers.paper.verify import verify_account
from LIVE_TRADING.common.clock import ManualClock
from LIVE_TRADING.common.journal import read_records
from LIVE_TRADING.data.quotes import make_quote

#: what each step does: ("order", symbol, side, qty) | ("quote", symbol, bid, ask) | ("wait", seconds)
#: | ("closed", symbol) (a provider quote saying the market is closed)
STEPS: list[tuple[Any, ...]] = [
    ("order", "AAPL", "BUY", 10),
    ("order", "aapl ", "BUY", 2.5),  # spelled loosely: the clean symbol
    ("order", "AAPL", "SELL", 4),
    ("order", "MSFT", "BUY", 1),
    ("order", "AAPL", "SELL", 100),  # more than held: refused (or a short where allowed)
    ("order", "AAPL", "BUY", 10**7),  # more than the cash: refused
    ("order", "NOPE", "BUY", 1),  # no quote
    ("order", "AAPL", "BUY", 0.0001),  # below min_qty
    ("order", "AAPL", "BUY", float("nan")),
    ("order", "AAPL", "BUY", True),
    ("order", "AAPL", "HOLD", 1),
    ("order", "", "BUY", 1),
    ("order", 42, "BUY", 1),
    ("order", "AAPL", "buy", 3),  # a side spelled in lower case
    ("order", "AAPL", "BUY", 10**400),
    ("wait", 120),  # the quotes go stale
    ("order", "AAPL", "BUY", 1),
    ("quote", "AAPL", 101.0, 101.2),
    ("order", "AAPL", "BUY", 3),
    ("closed", "MSFT"),
    ("order", "MSFT", "BUY", 2),  # queued for the open
    ("order", "MSFT", "SELL", 1),
    ("order", "AAPL", "SELL", 1),
]


class _Provider:
    """A data provider whose quotes say the market is closed (``market_open=False``)."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock

    def get_quote(self, symbol: str) -> Any:
        return make_quote(symbol, 50.0, 50.1, 1000, 1000, self.clock(), market_open=False)

    def get_multiple_quotes(self, symbols: Any) -> dict[str, Any]:
        return {s: self.get_quote(s) for s in symbols}


def _tagless(value: Any, tag: str, run_id: str) -> Any:
    """``value`` with the account's random tag (the prefix of order ids) and run id replaced by ``T`` and ``R``."""
    if isinstance(value, str):
        return value.replace(run_id, "R").replace(tag, "T")
    if isinstance(value, dict):
        return {k: _tagless(v, tag, run_id) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_tagless(v, tag, run_id) for v in value]
    return value


def _run(root: Path, order_type: str, **kw: Any) -> dict[str, Any]:
    clock = ManualClock()
    kw.update(initial_cash=10_000, slippage_bps=5, fee_bps=2, min_qty=0.001, max_quote_age_s=60)
    b = PaperBroker(log_dir=root, clock=clock, data_provider=_Provider(clock), **kw)
    b.set_quote("AAPL", 100.0, 100.04, 500, 400)
    b.set_quote("MSFT", 300.0, 300.3, 50, 60)
    outcomes = []
    for step in STEPS:
        kind = step[0]
        if kind == "order":
            try:
                outcomes.append(("ok", b.submit_order(step[1], step[2], step[3], order_type)))
            except Exception as exc:  # every refusal: its type and message are part of the behaviour
                outcomes.append(("error", type(exc).__name__, str(exc)))
        elif kind == "quote":
            b.set_quote(step[1], step[2], step[3])
        elif kind == "wait":
            clock.advance(seconds=step[1])
        else:
            b.update_quotes([step[1]])
        clock.advance(seconds=1)
    tag, run_id = b._state.tag, b.run_id
    view = {
        "outcomes": outcomes, "keys": [list(o[1]) for o in outcomes if o[0] == "ok"], "cash": b.get_cash(), "positions": b.get_positions(), "fills": b.get_fills(),
        "orders": b.get_orders(), "open": b.get_open_orders(), "summary": b.get_account_summary(),
        "details": b.get_position_details(),
        "by_id": [b.get_order(o[1]["order_id"]) for o in outcomes if o[0] == "ok"],
    }
    b.close()
    skip = {"run_id", "wall", "pid", "host", "tag", "crc", "settings"}
    records = [{k: v for k, v in r.items() if k not in skip} for r in read_records(root / "default")]
    again = PaperBroker(log_dir=root, clock=clock, resume=True, read_only=True, **kw)
    rebuilt = {"cash": again.get_cash(), "positions": again.get_positions(), "fills": again.get_fills()}
    return _tagless({"view": view, "records": records, "rebuilt": rebuilt, "live": {k: view[k] for k in rebuilt}}, tag, run_id)


@pytest.mark.parametrize("settings", [
    {},
    {"trading_hours": "always"},
    {"trading_hours": "calendar"},
    {"respect_quote_size": True},
    {"allow_short": True, "margin_requirement": 0.5},
    {"slippage_model": "sqrt_impact", "fee_model": "per_share"},
], ids=["default", "always", "calendar", "respect_size", "short", "other_costs"])
def test_hot_path_gives_what_the_general_path_gives(tmp_path: Path, settings: dict[str, Any]) -> None:
    fast = _run(tmp_path / "fast", "market", **settings)
    general = _run(tmp_path / "general", "MARKET", **settings)
    assert fast == general
    assert fast["rebuilt"] == fast["live"]  # recovery of what the hot path wrote equals the live state
    assert any(o[0] == "ok" for o in fast["view"]["outcomes"])
    assert any(o[0] == "error" for o in fast["view"]["outcomes"])


def test_the_hot_path_is_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above compares two paths: plain market orders do skip the general ``_submit``."""
    b = PaperBroker(log_dir=tmp_path, initial_cash=10_000)
    b.set_quote("AAPL", 100.0, 100.1)
    calls = []
    original = PaperBroker._submit
    monkeypatch.setattr(PaperBroker, "_submit", lambda self, *a: calls.append(a) or original(self, *a))
    b.submit_order("AAPL", "BUY", 1)
    assert calls == []
    b.submit_order("AAPL", "BUY", 1, "MARKET")
    assert len(calls) == 1
    b.close()


def _window_run(root: Path, order_type: str, resume: bool = False) -> dict[str, Any]:
    """Market orders past a terminal window of 3 (plus a resting limit), then what a caller can read back."""
    clock = ManualClock()
    b = PaperBroker(log_dir=root, clock=clock, initial_cash=100_000, slippage_bps=5, fee_bps=2,
                    keep_terminal_orders=3, snapshot_every=4, resume=resume)
    b.set_quote("AAPL", 100.0, 100.04)
    b.set_quote("MSFT", 300.0, 300.3)
    if not resume:
        b.submit_order("AAPL", "BUY", 1, "limit", 90.0)  # rests: stays in memory whatever the window
        for i in range(8):
            b.submit_order("AAPL" if i % 2 else "MSFT", "BUY" if i < 5 else "SELL", 1 + i % 3 if i < 5 else 1, order_type)
            clock.advance(seconds=1)
    st = b._state
    ids = [f"{st.tag}-{seq}" for seq in range(st.epoch_seq + 1, b.journal.seq + 1)]
    view = {
        "orders": [b.get_order(oid) for oid in ids if _is_order(b, oid)],
        "fills": b.get_fills(), "cash": b.get_cash(), "positions": b.get_positions(),
        "in_memory": (len(st.terminal), len(st.fills)), "open": b.get_open_orders(),
    }
    tag, run_id = st.tag, b.run_id
    b.close()
    return _tagless(view, tag, run_id)


def _is_order(b: PaperBroker, oid: str) -> bool:
    try:
        b.get_order(oid)
    except Exception:
        return False
    return True


def test_compact_orders_leave_memory_and_come_back_like_any_order(tmp_path: Path) -> None:
    """Hot-path orders are kept compact (``PaperState.apply_market``): the window, reads and recovery match."""
    fast = _window_run(tmp_path / "fast", "market")
    general = _window_run(tmp_path / "general", "MARKET")
    assert fast == general
    assert len(fast["orders"]) == 9 and len(fast["fills"]) == 8 and len(fast["open"]) == 1
    assert fast["in_memory"] == [3, 3]  # older ended orders and fills are read back from the journal
    resumed = _window_run(tmp_path / "fast", "market", resume=True)  # rebuilt from snapshot + records
    assert {k: v for k, v in resumed.items() if k != "in_memory"} == {k: v for k, v in fast.items() if k != "in_memory"}
    assert verify_account(tmp_path / "fast" / "default")["ok"]  # replays with a window of 0


def test_compact_orders_leave_the_garbage_collectors_care(tmp_path: Path) -> None:
    """What the window keeps of a hot-path order holds plain values only, so the collector stops tracking it.

    (A tuple holding a dict stays tracked as long as it lives: a window of them made every full collection
    longer and more frequent.) A tuple of tuples goes within two passes: the inner one at the first, the outer
    one at the next. What a caller reads back is unchanged.
    """
    b = PaperBroker(log_dir=tmp_path, initial_cash=100_000, slippage_bps=5, fee_bps=2)
    b.set_quote("AAPL", 100.0, 100.04)
    results = [b.submit_order("AAPL", "BUY" if i % 3 else "SELL", 2) if i else b.submit_order("AAPL", "BUY", 5)
               for i in range(12)]
    gc.collect()
    gc.collect()
    st = b._state
    kept = [st.orders[r["order_id"]] for r in results]
    assert all(type(k) is tuple for k in kept)  # the compact form, not a PaperOrder
    assert not any(gc.is_tracked(k) for k in kept)
    assert not any(gc.is_tracked(entry) for entry in st.fills)
    assert [b.get_order(r["order_id"]) for r in results] == results
    fills = b.get_fills()
    assert [f["order_id"] for f in fills] == [r["order_id"] for r in results]
    assert [f["fill_price"] for f in fills] == [r["fill_price"] for r in results]
    assert {f["liquidity"] for f in fills} == {"taker"}
    b.close()
