"""Paper broker: the cost of trailing stops on ``set_quote`` (issue 14).

Run:  python benchmarks/bench_paper_trailing.py [--quotes 5000] [--resting 10000]

Prints the median microseconds per ``set_quote`` for one symbol A:
* with ``--resting`` resting limits on other symbols and no trailing stop;
* with 10 trailing stops on A and quotes that never move a trigger (bid falling);
* with 10 trailing stops on A and quotes that move every trigger (bid rising: one ``trail`` record each);
* with ``--resting`` trailing stops on another symbol B (they cost A's quotes nothing).
Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LIVE_TRADING_CONFIG", str(ROOT / "CONFIG" / "live_trading.yaml"))

from LIVE_TRADING.brokers.paper import PaperBroker  # noqa: E402


def _broker(tmp: str, name: str) -> PaperBroker:
    return PaperBroker(initial_cash=1e12, slippage_bps=0, fee_bps=0, log_dir=Path(tmp) / name,
                       snapshot_every=10**9)


def _time_quotes(b: PaperBroker, quotes: list[tuple[float, float]]) -> float:
    laps = []
    for bid, ask in quotes:
        t0 = time.perf_counter()
        b.set_quote("A", bid, ask, 1e9, 1e9)
        laps.append(time.perf_counter() - t0)
    return statistics.median(laps) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quotes", type=int, default=5000)
    ap.add_argument("--resting", type=int, default=10_000)
    args = ap.parse_args()
    n = args.quotes
    falling = [(100.0 - i * 1e-4, 100.1 - i * 1e-4) for i in range(n)]
    rising = [(100.0 + i * 1e-3, 100.1 + i * 1e-3) for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        b = _broker(tmp, "plain")
        b.set_quote("B", 100.0, 100.1, 1e9, 1e9)
        for _ in range(args.resting):
            b.submit_order("B", "BUY", 1, "limit", 50.0)
        print(f"no trailing stop ({args.resting} limits on B): {_time_quotes(b, falling):7.1f} us / quote")
        b.close()
        for label, quotes in (("10 trailing on A, no trigger moves", falling),
                              ("10 trailing on A, every trigger moves", rising)):
            b = _broker(tmp, label.replace(" ", "_").replace(",", ""))
            b.set_quote("A", 100.0, 100.1, 1e9, 1e9)
            b.submit_order("A", "BUY", 10)
            for _ in range(10):
                b.submit_order("A", "SELL", 1, "trailing_stop", trail_amount=50.0)
            print(f"{label}: {_time_quotes(b, quotes):7.1f} us / quote")
            b.close()
        b = _broker(tmp, "other")
        b.set_quote("B", 100.0, 100.1, 1e9, 1e9)
        b.submit_order("B", "BUY", args.resting)
        for _ in range(args.resting):
            b.submit_order("B", "SELL", 1, "trailing_stop", trail_amount=50.0)
        b.set_quote("A", 100.0, 100.1, 1e9, 1e9)
        print(f"{args.resting} trailing on B, quotes on A: {_time_quotes(b, falling):7.1f} us / quote")
        b.close()


if __name__ == "__main__":
    main()
