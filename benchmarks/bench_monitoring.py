"""Monitoring figures: the cost of a /metrics scrape against journals of growing size.

Run from the repository root::

    python benchmarks/bench_monitoring.py [--orders 1000 10000 50000]

For each size, a paper account with that many filled market orders is written,
then ``/metrics`` is fetched over real HTTP from a ``MonitorServer`` that has
no broker (the journal alone): the first scrape reads the journal, the next
find it unchanged (cached on segment sizes and mtimes); then one more order is
placed and the scrape after it reads only the tail (plus the paper broker's
read-only recovery: newest snapshot and the records after it). Also times the circuit
breaker's per-call overhead. Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from LIVE_TRADING.brokers.paper import PaperBroker
from LIVE_TRADING.common.circuit import CircuitBreaker
from LIVE_TRADING.monitoring.server import MonitorServer
from LIVE_TRADING.monitoring.source import MonitorSource


def scrape(url: str) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url + "/metrics") as resp:
        resp.read()
    return time.perf_counter() - t0


def bench_scrape(n_orders: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(tmp) / "j"
        b = PaperBroker(initial_cash=1e12, log_dir=log_dir)
        b.set_quote("AAA", 100.0, 100.1)
        for i in range(n_orders):
            b.submit_order("AAA", "SELL" if i % 3 == 2 else "BUY", 1)
        b.close()
        account = b.account_dir
        records = sum(1 for p in account.glob("*.jsonl") for _ in p.open("rb"))
        server = MonitorServer(MonitorSource("paper", account), port=0, host="127.0.0.1").start()
        try:
            cold = scrape(server.url)
            warm = min(scrape(server.url) for _ in range(5))
            b2 = PaperBroker(initial_cash=1e12, log_dir=log_dir, resume=True)
            b2.set_quote("AAA", 100.0, 100.1)
            b2.submit_order("AAA", "BUY", 1)
            b2.close()
            tail = scrape(server.url)
        finally:
            server.stop()
        print(f"{n_orders:>7} orders ({records:>7} journal lines): /metrics first {cold * 1e3:8.1f} ms, "
              f"unchanged {warm * 1e3:6.2f} ms, after one more order {tail * 1e3:8.1f} ms")


def bench_breaker(calls: int = 200_000) -> None:
    cb = CircuitBreaker("bench")
    t0 = time.perf_counter()
    for _ in range(calls):
        cb.before_call()
        cb.record_success()
    per = (time.perf_counter() - t0) / calls
    print(f"circuit breaker: {per * 1e6:.2f} us per call (before_call + record_success)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, nargs="+", default=[1000, 10000, 50000])
    args = parser.parse_args()
    for n in args.orders:
        bench_scrape(n)
    bench_breaker()


if __name__ == "__main__":
    main()
