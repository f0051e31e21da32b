"""Paper broker throughput, journal floor, quote-matching scaling, memory.

Run:  python benchmarks/bench_paper.py [--orders N]

Prints, from one run:
  * market orders per second through PaperBroker.submit_order with the journal
    on (alternating BUY/SELL on a few symbols, temp log dir), and the same
    through get_broker("paper") (risk limits + metrics layers);
  * the floor: a bare loop that serialises and writes (one flushed write per
    order, file opened once) the very records the broker wrote, and the ratio
    broker cost / floor cost per order;
  * peak memory (process peak RSS, and Python heap per order via tracemalloc);
  * the cost of a non-crossing set_quote on one symbol with 0 and with 10,000
    resting orders spread over 100 symbols, and their ratio.
Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LIVE_TRADING_CONFIG", str(ROOT / "CONFIG" / "live_trading.yaml"))

from LIVE_TRADING.brokers import get_broker  # noqa: E402
from LIVE_TRADING.brokers.paper import PaperBroker  # noqa: E402
from LIVE_TRADING.common.journal import encode_record, journal_files  # noqa: E402

SYMBOLS = ["AAPL", "MSFT", "SPY", "QQQ"]


def make_broker(log_dir: str, layers: str = "none"):
    """``layers``: none (bare PaperBroker), metrics (metrics only), all (what get_broker builds)."""
    kw = dict(initial_cash=1e12, log_dir=log_dir, slippage_bps=5, fee_bps=1)
    if layers == "none":
        b = PaperBroker(**kw)
    else:
        b = get_broker("paper", risk=layers == "all", **kw)
    for s in SYMBOLS:
        b.set_quote(s, 100.0, 100.02, 1e9, 1e9)
    return b


def run_orders(b, n: int) -> float:
    submit = b.submit_order
    t0 = time.perf_counter()
    for i in range(n):
        submit(SYMBOLS[i % 4], "BUY" if (i // 4) % 2 == 0 else "SELL", 10)
    return time.perf_counter() - t0


def floor(records_per_order: list[list[dict]], out: Path) -> float:
    """Serialise + write (one write per order, fd opened once) the same records."""
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    t0 = time.perf_counter()
    for recs in records_per_order:
        os.write(fd, b"".join(encode_record(r) for r in recs))
    dt = time.perf_counter() - t0
    os.close(fd)
    return dt


def journal_records_per_order(log_dir: str) -> list[list[dict]]:
    per_order: list[list[dict]] = []
    for path in journal_files(log_dir):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            if rec["event"] == "order":
                per_order.append([rec])
            elif rec["event"] == "fill":
                per_order[-1].append(rec)
    return per_order


def timed_run(n: int, layers: str) -> tuple[float, list[list[dict]] | None]:
    """Seconds per order of one fresh broker (nothing else alive, garbage collected first)."""
    with tempfile.TemporaryDirectory() as d:
        b = make_broker(d, layers)
        gc.collect()
        per = run_orders(b, n) / n
        b.close()
        del b
        records = journal_records_per_order(d) if layers == "none" else None
    gc.collect()
    return per, records


def bench_throughput(n: int, rounds: int) -> None:
    """Best of ``rounds`` interleaved runs of each, so a busy machine skews them alike."""
    bare, metered, layered, floors = [], [], [], []
    for _ in range(rounds):
        per, records = timed_run(n, "none")
        bare.append(per)
        assert records is not None and len(records) == n
        with tempfile.TemporaryDirectory() as d:
            gc.collect()
            floors.append(floor(records, Path(d) / "floor.jsonl") / n)
        del records
        metered.append(timed_run(n, "metrics")[0])
        layered.append(timed_run(n, "all")[0])
    b_, m_, g_, f_ = min(bare), min(metered), min(layered), min(floors)
    print(f"orders                       : {n:,} market orders x {rounds} rounds, journal on (best round shown)")
    print(f"PaperBroker.submit_order     : {1 / b_:12,.0f} orders/s  ({b_ * 1e6:6.2f} us/order)")
    print(f"floor (encode + write)       : {1 / f_:12,.0f} orders/s  ({f_ * 1e6:6.2f} us/order)")
    print(f"ratio broker / floor         : {b_ / f_:12.2f} x")
    print(f"with metrics (health)        : {1 / m_:12,.0f} orders/s  ({m_ * 1e6:6.2f} us/order, "
          f"{(m_ / b_ - 1) * 100:+.1f}% vs bare PaperBroker)")
    print(f"get_broker('paper'), all     : {1 / g_:12,.0f} orders/s  ({g_ * 1e6:6.2f} us/order, "
          f"{(g_ / b_ - 1) * 100:+.1f}% vs bare: metrics + risk-limit layer)")


def bench_memory(n: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        b = make_broker(d)
        tracemalloc.start()
        run_orders(b, n)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        b.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    print(f"peak RSS after memory run    : {rss:12,.1f} MiB (whole process, interpreter and pandas included)")
    print(f"python heap after {n:,} orders: {peak / 2**20:9,.1f} MiB peak ({peak / n:,.0f} bytes/order kept: "
          "order + fill history)")


def bench_quote_scaling(rounds: int = 20_000) -> None:
    results = {}
    for resting in (0, 10_000):
        with tempfile.TemporaryDirectory() as d:
            b = PaperBroker(initial_cash=1e12, log_dir=d)
            syms = [f"S{i:03d}" for i in range(100)]
            for s in syms:
                b.set_quote(s, 100.0, 100.1, 1e6, 1e6)
            for i in range(resting):
                s = syms[i % 100]
                if i % 2:
                    b.submit_order(s, "BUY", 1, "limit", 50.0 - (i % 7))  # far below the market
                else:
                    b.submit_order(s, "BUY", 1, "stop", stop_price=200.0 + (i % 7))  # far above
            set_quote = b.set_quote
            t0 = time.perf_counter()
            for k in range(rounds):
                px = 100.0 + (k % 10) * 0.01
                set_quote("S000", px, px + 0.1, 1e6, 1e6)
            results[resting] = (time.perf_counter() - t0) / rounds
            b.close()
    print(f"set_quote, 0 resting orders  : {results[0] * 1e6:8.2f} us")
    print(f"set_quote, 10,000 resting    : {results[10_000] * 1e6:8.2f} us  (100 symbols, none crossing)")
    print(f"ratio 10,000 / 0             : {results[10_000] / results[0]:8.2f} x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=20_000, help="orders per round")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores")
    bench_memory(args.orders)
    bench_throughput(args.orders, args.rounds)
    bench_quote_scaling()


if __name__ == "__main__":
    main()
