"""Trading-calendar figures: the cost of one calendar question, per asset class, and of the
paper broker's per-order trading-hours decision.

Run from the repository root::

    python benchmarks/bench_calendar.py [--calls 200000]

Prints figures; asserts nothing about time. The first call loads the NYSE schedule
(``exchange_calendars``, once per process); it is timed separately.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from LIVE_TRADING.brokers.paper import hours
from LIVE_TRADING.data import calendar


def per_call(fn, args_list) -> float:
    started = time.perf_counter()
    for args in args_list:
        fn(*args)
    return (time.perf_counter() - started) / len(args_list) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    n = parser.parse_args().calls

    started = time.perf_counter()
    calendar.is_open("AAPL", datetime(2025, 12, 5, 15, tzinfo=UTC))
    print(f"first call (loads the XNYS schedule 1990-2040): {(time.perf_counter() - started) * 1e3:.0f} ms")

    base = datetime(2025, 1, 1, tzinfo=UTC)
    times = [base + timedelta(minutes=37 * i) for i in range(n)]  # spread over ~14 years
    for label, target in (("AAPL (equity)", "AAPL"), ("BTCUSDT (crypto)", "BTCUSDT"), ("EUR/USD (forex)", "EUR/USD")):
        for name in ("is_open", "next_open", "session_close"):
            fn = getattr(calendar, name)
            us = per_call(fn, [(target, t) for t in times])
            print(f"{name:>14}  {label:<18} {us:6.2f} us/call")

    quote = {"symbol": "AAPL", "bid": 99.0, "ask": 101.0, "market_open": True}
    for mode in ("quotes", "calendar"):
        us = per_call(
            lambda t, m=mode: hours.decide(m, "queue", "AAPL", t, quote, order_type="market", time_in_force="gtc"),
            [(t,) for t in times],
        )
        print(f"hours.decide  mode={mode:<9} {us:6.2f} us/call (per order, closed markets included)")
    us = per_call(lambda t: hours.day_expiry("AAPL", t, "calendar"), [(t,) for t in times])
    print(f"hours.day_expiry calendar      {us:6.2f} us/call")


if __name__ == "__main__":
    main()
