"""Paper broker: market-order cost against its I/O floor and the seed design, memory, GC pauses, quotes, resume.

Run:  python benchmarks/bench_paper.py [--orders 20000] [--rounds 5] [--big 1000000] [--resume 10000,100000,1000000] [--cpu]

Prints, from one run (figures are medians over interleaved rounds, so a busy
machine skews every contender alike; nothing here asserts a time):

* market orders through ``PaperBroker.submit_order`` with the journal on
  (durability ``flush``: every record handed to the OS before returning),
  timed in wall-clock time, or with ``--cpu`` in CPU time of the process
  (user + system: the writes' kernel time counts), steadier on a busy machine;
* the floor: a bare loop that serialises the very records the broker wrote
  with the same serialiser (orjson, seq + CRC-32 line) and writes them, one
  ``write`` per order, file opened once — and the ratio broker / floor;
* the seed 004 reference design (``seed004_reference.py``) doing the same
  orders — and the ratio broker / seed;
* the least logic: the seed design's order logic (no input checks beyond its
  own, no lock, no quote age, no reservations, no order window) with order ids
  from a counter and its line written as the floor writes (seq + CRC line, one
  ``write``, file opened once) — and its ratio to the floor of ITS records:
  what even that much Python costs over serialise + write;
* ``get_broker("paper")``: the same with the risk-limit and metrics layers;
* memory: RSS after 10k and after ``--big`` market orders (terminal orders and
  fills leave memory after ``journal.keep_terminal_orders``), and the longest
  garbage-collector pause in that run (``gc.callbacks``);
* ``set_quote`` with 0 and with 10,000 resting orders;
* resume: opening an account of 10k / 100k / 1M records (newest snapshot + tail).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("LIVE_TRADING_CONFIG", str(ROOT / "CONFIG" / "live_trading.yaml"))

from seed004_reference import SeedPaperBroker  # noqa: E402

from LIVE_TRADING.brokers import get_broker  # noqa: E402
from LIVE_TRADING.brokers.paper import PaperBroker  # noqa: E402
from LIVE_TRADING.common.journal import decode_line, encode_line, encode_payload, list_segments  # noqa: E402

SYMBOLS = ["AAPL", "MSFT", "SPY", "QQQ"]
#: what the market-order figures (ours, floor, seed) are timed with: wall clock, or ``--cpu`` the process's CPU time
TIMER = time.perf_counter
KW = dict(initial_cash=1e12, slippage_bps=5, fee_bps=1)


def _quotes(b) -> None:
    for s in SYMBOLS:
        b.set_quote(s, 100.0, 100.02, 1e9, 1e9)


def run_orders(b, n: int) -> float:
    submit = b.submit_order
    t0 = TIMER()
    for i in range(n):
        submit(SYMBOLS[i % 4], "BUY" if (i // 4) % 2 == 0 else "SELL", 10)
    return TIMER() - t0


def ours(n: int, layers: bool = False) -> tuple[float, list[dict]]:
    with tempfile.TemporaryDirectory() as d:
        b = get_broker("paper", log_dir=d, **KW) if layers else PaperBroker(log_dir=d, **KW)
        _quotes(b)
        gc.collect()
        per = run_orders(b, n) / n
        (b.unwrap() if layers else b).close()
        records = []
        if not layers:
            for _, path in list_segments(Path(d) / "default"):
                records += [decode_line(raw) for raw in path.read_bytes().splitlines(keepends=True)]
            records = [r for r in records if r["event"] == "order"]
    return per, records


def floor(records: list[dict]) -> float:
    """Serialise (same serialiser, same line format) and write the same records: one write each."""
    payloads = [{k: v for k, v in r.items() if k != "seq"} for r in records]
    with tempfile.TemporaryDirectory() as d:
        fd = os.open(Path(d) / "floor.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        gc.collect()
        t0 = TIMER()
        for seq, p in enumerate(payloads, 1):
            os.write(fd, encode_line(seq, encode_payload(p)))
        dt = TIMER() - t0
        os.close(fd)
    return dt / len(payloads)


class SeedOnFloorWrite(SeedPaperBroker):
    """The seed design's order logic, its ids from a counter, its line written as ``floor`` writes one."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.path = self._log_dir / "seed.jsonl"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._seq = 0

    def _new_order_id(self) -> str:
        return str(self._seq + 1)

    def _append_log(self, record: dict) -> None:
        self._seq += 1
        os.write(self._fd, encode_line(self._seq, encode_payload(record)))


def least_logic(n: int) -> tuple[float, float]:
    """``SeedOnFloorWrite`` doing the orders, then ``floor`` on the records it wrote: (per order, its floor)."""
    with tempfile.TemporaryDirectory() as d:
        b = SeedOnFloorWrite(log_dir=d, **KW)
        _quotes(b)
        gc.collect()
        per = run_orders(b, n) / n
        os.close(b._fd)
        records = [decode_line(raw) for raw in b.path.read_bytes().splitlines(keepends=True)]
    return per, floor(records)


def seed(n: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        b = SeedPaperBroker(log_dir=d, **KW)
        _quotes(b)
        gc.collect()
        return run_orders(b, n) / n


def bench_throughput(n: int, rounds: int) -> None:
    rows: dict[str, list[float]] = {"ours": [], "floor": [], "seed": [], "layers": [], "least": [],
                                    "least_floor": []}
    for _ in range(rounds):
        per, records = ours(n)
        rows["ours"].append(per)
        rows["floor"].append(floor(records))
        rows["seed"].append(seed(n))
        rows["layers"].append(ours(n, layers=True)[0])
        least, least_floor = least_logic(n)
        rows["least"].append(least)
        rows["least_floor"].append(least_floor)
    m = {k: statistics.median(v) for k, v in rows.items()}
    least_ratio = statistics.median(a / b for a, b in zip(rows["least"], rows["least_floor"], strict=True))
    # each round's ratio compares contenders timed back to back; their median is what a drifting machine skews least
    paired = {k: statistics.median(o / x for o, x in zip(rows["ours"], rows[k], strict=True)) for k in ("floor", "seed")}
    print(f"market orders                : {n:,} x {rounds} interleaved rounds, journal on (medians; the ratios are "
          "medians of each round's ratio)")
    print(f"PaperBroker.submit_order     : {m['ours'] * 1e6:8.2f} us/order ({1 / m['ours']:,.0f}/s)")
    print(f"floor: orjson line + write   : {m['floor'] * 1e6:8.2f} us/order   ratio ours/floor {paired['floor']:.2f}x")
    print(f"seed 004 reference design    : {m['seed'] * 1e6:8.2f} us/order   ratio ours/seed  {paired['seed']:.2f}x")
    print(f"least logic: seed's + floor's: {m['least'] * 1e6:8.2f} us/order   ratio to its own floor "
          f"({m['least_floor'] * 1e6:.2f} us) {least_ratio:.2f}x (no lock, no checks of ours, ids from a counter)")
    print(f"get_broker('paper') (layers) : {m['layers'] * 1e6:8.2f} us/order   (+{(m['layers'] / m['ours'] - 1) * 100:.0f}%"
          " for risk limits + metrics)")


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_memory(big: int) -> None:
    pauses: list[float] = []
    start = [0.0]

    def cb(phase: str, info: dict) -> None:
        if phase == "start":
            start[0] = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - start[0])

    with tempfile.TemporaryDirectory() as d:
        b = PaperBroker(log_dir=d, **KW)
        _quotes(b)
        gc.collect()
        gc.freeze()  # what a long-running process does after setup: start-up objects leave the collector's scans
        gc.callbacks.append(cb)
        run_orders(b, 10_000)
        after_10k = rss_mib()
        t0 = time.perf_counter()
        run_orders(b, big - 10_000)
        dt = time.perf_counter() - t0
        after_big = rss_mib()
        gc.callbacks.remove(cb)
        gc.unfreeze()
        b.close()
    print(f"memory: RSS after 10k orders : {after_10k:8.1f} MiB; after {big:,}: {after_big:.1f} MiB "
          f"(+{after_big - after_10k:.1f} MiB); {dt / (big - 10_000) * 1e6:.1f} us/order on the way")
    print(f"GC: {len(pauses):,} collections, longest pause {max(pauses, default=0) * 1e3:.1f} ms, "
          f"median {statistics.median(pauses) * 1e3 if pauses else 0:.2f} ms")


def bench_quote_scaling(rounds: int = 20_000, repeats: int = 7) -> None:
    """``set_quote`` on a broker with no resting order and on one with 10,000: both built first, then timed
    alternately ``repeats`` times (medians), so a busy moment of the machine skews both alike."""
    brokers, dirs = {}, []
    syms = [f"S{i:03d}" for i in range(100)]
    for resting in (0, 10_000):
        d = tempfile.TemporaryDirectory()
        dirs.append(d)
        b = PaperBroker(initial_cash=1e12, log_dir=d.name)
        for s in syms:
            b.set_quote(s, 100.0, 100.1, 1e6, 1e6)
        for i in range(resting):
            s = syms[i % 100]
            if i % 2:
                b.submit_order(s, "BUY", 1, "limit", 50.0 - (i % 7))  # far below the market
            else:
                b.submit_order(s, "BUY", 1, "stop", stop_price=200.0 + (i % 7))  # far above
        brokers[resting] = b
    times: dict[int, list[float]] = {0: [], 10_000: []}
    for _ in range(repeats):
        for resting, b in brokers.items():
            set_quote = b.set_quote
            gc.collect()
            t0 = time.perf_counter()
            for k in range(rounds):
                px = 100.0 + (k % 10) * 0.01
                set_quote("S000", px, px + 0.1, 1e6, 1e6)
            times[resting].append((time.perf_counter() - t0) / rounds)
    for b in brokers.values():
        b.close()
    for d in dirs:
        d.cleanup()
    results = {k: statistics.median(v) for k, v in times.items()}
    print(f"set_quote, 0 / 10,000 resting: {results[0] * 1e6:8.2f} / {results[10_000] * 1e6:.2f} us"
          f"   ratio {results[10_000] / results[0]:.2f}x (100 symbols, none crossing; medians of {repeats})")


def bench_resume(sizes: list[int]) -> None:
    for n in sizes:
        with tempfile.TemporaryDirectory() as d:
            b = PaperBroker(log_dir=d, durability="none", **KW)  # durability none: only to build it fast
            _quotes(b)
            run_orders(b, n)
            b.close()
            size = sum(p.stat().st_size for _, p in list_segments(Path(d) / "default"))
            times = []
            for _ in range(3):
                gc.collect()
                t0 = time.perf_counter()
                r = PaperBroker(log_dir=d, resume=True, **KW)
                times.append(time.perf_counter() - t0)
                r._journal.close()  # close without the closing snapshot: the next open does the same work
            print(f"resume {n:>9,} records : {statistics.median(times):8.3f} s  ({size / 2**20:,.0f} MiB of journal)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=20_000, help="orders per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--big", type=int, default=1_000_000, help="orders of the memory run (0: skip it)")
    ap.add_argument("--resume", default="10000,100000,1000000", help="journal sizes to resume")
    ap.add_argument("--cpu", action="store_true",
                    help="time the market orders (ours, floor, seed) in CPU time of the process (user + system, "
                         "so the writes' kernel time counts): steadier than wall clock on a busy machine")
    args = ap.parse_args()
    global TIMER
    if args.cpu:
        TIMER = time.process_time
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores; market orders timed in "
          f"{'CPU time' if args.cpu else 'wall-clock time'}")
    bench_throughput(args.orders, args.rounds)
    bench_quote_scaling()
    bench_resume([int(x) for x in args.resume.split(",") if x])
    if args.big > 10_000:  # ``--big 0``: skip the memory run
        bench_memory(args.big)
    print(f"peak RSS of this benchmark   : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:8.1f} MiB")


if __name__ == "__main__":
    main()
