"""Helpers for the Binance tests: a sleep that advances a manual clock, and broker construction.

The broker and the stand-in share one ``ManualClock``: every wait of the
adapter (backoff, Retry-After, weight windows, polling) goes through
``Sleeper``, which records the wait and moves the clock instead of sleeping,
so tests are fast and can count waits.
"""

from __future__ import annotations

from typing import Any

from fakes.binance_server import FakeBinance
from LIVE_TRADING.brokers.interface import get_broker
from LIVE_TRADING.common.clock import ManualClock


class Sleeper:
    """A ``sleep`` that advances ``clock`` and remembers each wait."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.advance(seconds=seconds)


def make_broker(fake: FakeBinance, clock: ManualClock, sleeper: Sleeper, **kw: Any) -> Any:
    """``get_broker("binance", ...)`` pointed at the stand-in, with real requests and fake time.

    Start-up reconciliation is off unless asked for (``reconcile_on_start=True``):
    most tests count the requests of a fresh broker; reconciliation has its own tests.
    """
    kw.setdefault("reconcile_on_start", False)
    kw.setdefault("api_key", fake.api_key)
    kw.setdefault("api_secret", fake.api_secret)
    return get_broker("binance", base_url=fake.url, clock=clock, sleep=sleeper, **kw)
