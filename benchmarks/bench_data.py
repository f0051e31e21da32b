"""Data provider figures: sim quote throughput, and yfinance requests with a cold and a warm cache.

Run from the repository root::

    python benchmarks/bench_data.py [--symbols 500] [--rounds 40]

Prints figures; asserts nothing about time. The yfinance part runs against
``FakeYFinance`` (no network) and counts the calls the provider makes to it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from LIVE_TRADING.common.clock import ManualClock
from LIVE_TRADING.data.sim import SimDataProvider
from LIVE_TRADING.data.yfinance import YFinanceProvider
from LIVE_TRADING.testing.yfinance import FakeYFinance


def bench_sim(n_symbols: int, rounds: int) -> None:
    clock = ManualClock()
    provider = SimDataProvider(seed=42, clock=clock)
    symbols = [f"SYM{i:04d}" for i in range(n_symbols)]
    provider.get_multiple_quotes(symbols)  # first sight of each symbol: key setup
    clock.advance(1)
    started = time.perf_counter()
    for _ in range(rounds):
        quotes = provider.get_multiple_quotes(symbols)
        clock.advance(1)
    elapsed = time.perf_counter() - started
    assert len(quotes) == n_symbols and not provider.last_errors
    total = n_symbols * rounds
    print(
        f"sim: {total / elapsed:,.0f} quotes/s ({n_symbols} symbols x {rounds} rounds, "
        f"clock +1 s per round, {elapsed * 1e3 / rounds:.2f} ms per round)"
    )

    clock.advance(hours=6)  # a long jump: every path descends afresh
    started = time.perf_counter()
    provider.get_multiple_quotes(symbols)
    print(f"sim: {n_symbols / (time.perf_counter() - started):,.0f} quotes/s after a 6 h clock jump")

    started = time.perf_counter()
    frame = provider.get_historical(symbols[0], period="1y", interval="1d")
    print(f"sim: get_historical 1y of 1d bars: {len(frame)} bars in {(time.perf_counter() - started) * 1e3:.1f} ms")


def bench_yfinance(n_symbols: int) -> None:
    symbols = [f"T{i:03d}" for i in range(n_symbols)]
    fake = FakeYFinance({s: 10.0 + i for i, s in enumerate(symbols)})
    clock = ManualClock()
    provider = YFinanceProvider(clock=clock, yf=fake, cache_ttl_s=30)

    def requests() -> int:
        return sum(fake.counts.values())

    provider.get_multiple_quotes(symbols)
    cold = requests()
    clock.advance(10)
    provider.get_multiple_quotes(symbols)
    warm = requests() - cold
    clock.advance(25)  # past the TTL
    provider.get_multiple_quotes(symbols)
    expired = requests() - cold - warm
    print(
        f"yfinance: {n_symbols} symbols -> {cold} request(s) cold, {warm} warm (within the TTL), "
        f"{expired} after the TTL; calls: {dict(fake.counts)}"
    )
    print("          (one yf.download per refresh; yfinance fetches its tickers on parallel threads)")

    fake.counts.clear()
    with_book = YFinanceProvider(clock=clock, yf=fake, bid_ask=True)
    with_book.get_multiple_quotes(symbols)
    print(f"yfinance with bid_ask: {n_symbols} symbols -> {sum(fake.counts.values())} request(s): {dict(fake.counts)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500, help="symbols quoted by sim per round")
    parser.add_argument("--rounds", type=int, default=40, help="rounds of get_multiple_quotes")
    parser.add_argument("--yf-symbols", type=int, default=100, help="symbols asked of yfinance")
    args = parser.parse_args()
    bench_sim(args.symbols, args.rounds)
    bench_yfinance(args.yf_symbols)


if __name__ == "__main__":
    main()
