"""``run_loop`` throughput: steps per second with 1 and with 100 symbols.

Run from the repository root::

    python benchmarks/bench_loop.py [--steps 20000] [--steps-100 2000] [--repeat 5] [--profile]

Setup (what ``live-trading run`` does for a simulated paper run): the ``sim``
provider and a ``PaperBroker`` sharing a ``ManualClock`` moved one minute per
step, the journal on (a temp log dir, default durability), the
``equal_weight`` strategy re-targeting every symbol every step (a rebalance
every step; trades below ``min_trade_value`` are skipped, the others are market
orders), warm-up on. The symbols ``S000`` ... ``S099`` are declared crypto and
the sim universe ``any`` in a copy of the repository's config made for the run,
so every step trades: no market hours, no unknown-symbol refusals. Each figure
is the median of ``--repeat`` runs, each on a fresh broker, after a short
first run (it builds the sim's table of normal quantiles, a few tenths of a
second) and after freezing the start-up heap as the CLI's ``run`` does before
its loop (``LIVE_TRADING.common.heap.freeze_startup_heap``; ``--no-freeze``
measures without it); the targets of issue 13 (>= 60,000 steps/s at 1
symbol, >= 5,000 at 100) are printed next to it.

``--baseline DIR`` also runs the very same measurement on another checkout
(e.g. ``/path/to/main`` before a change), in a subprocess, alternating with
this one, and prints the ratio: both sides see the same machine load.
``--profile`` prints the top of a cProfile of one run of each size (where the
time goes: provider, broker, journal, loop). Times are CPU seconds of the
process (``time.process_time``, steadier than wall time on a shared machine;
the journal's system calls are included). Figures only: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import gc
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: the checkout whose package is measured (``--baseline`` runs this script against another one)
ROOT = Path(os.environ.get("BENCH_LOOP_PACKAGE_ROOT") or Path(__file__).resolve().parents[1])
sys.path.insert(0, str(ROOT))
#: the most symbols a run uses (S000 ... S099)
MAX_SYMBOLS = 100


def bench_config() -> str:
    """A copy of the repository's config in which S000..S099 trade around the clock (crypto) and the sim
    provider knows any symbol: every step is a trading step (no market hours, no unknown-symbol refusals)."""
    import yaml

    data = yaml.safe_load((ROOT / "CONFIG" / "live_trading.yaml").read_text())
    live = data.setdefault("live_trading", {})
    live["asset_classes"] = {f"S{i:03d}": "crypto" for i in range(MAX_SYMBOLS)}
    live.setdefault("data", {}).setdefault("sim", {})["universe"] = "any"
    fd, path = tempfile.mkstemp(prefix="bench_loop_", suffix=".yaml")
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(data, handle, sort_keys=False)
    return path


if "BENCH_LOOP_CONFIG" not in os.environ:  # made once, shared with --baseline subprocesses
    os.environ["BENCH_LOOP_CONFIG"] = bench_config()
    atexit.register(os.unlink, os.environ["BENCH_LOOP_CONFIG"])
os.environ["LIVE_TRADING_CONFIG"] = os.environ["BENCH_LOOP_CONFIG"]

from LIVE_TRADING.brokers.paper import PaperBroker  # noqa: E402
from LIVE_TRADING.common.clock import ManualClock  # noqa: E402
from LIVE_TRADING.data.sim import SimDataProvider  # noqa: E402
from LIVE_TRADING.pipeline import run_loop  # noqa: E402
from LIVE_TRADING.pipeline.strategies import EqualWeight  # noqa: E402

TARGETS = {1: 60_000, 100: 5_000}


def one_run(n_symbols: int, steps: int, log_dir: str, profile: cProfile.Profile | None = None) -> tuple[float, int]:
    """Seconds for ``steps`` steps of ``run_loop`` on ``n_symbols`` symbols, and the orders placed."""
    clock = ManualClock("2026-01-05T00:00:00+00:00")
    provider = SimDataProvider(seed=7, clock=clock)
    broker = PaperBroker(log_dir=log_dir, clock=clock, data_provider=provider,
                         slippage_bps=5, fee_bps=1)
    symbols = [f"S{i:03d}" for i in range(n_symbols)]

    def advance() -> None:
        clock.advance(seconds=60)  # as the CLI's simulated session moves its clock (``cli/session.py``)

    try:
        started = time.process_time()
        if profile is not None:
            profile.enable()
        result = run_loop(broker, provider, EqualWeight(), steps, symbols=symbols, bar="1m", advance=advance)
        if profile is not None:
            profile.disable()
        elapsed = time.process_time() - started
    finally:
        broker.close()
    assert result.steps_done == steps and not result.errors, result.errors[:3]
    return elapsed, len(result.orders)


def settle(freeze: bool) -> None:
    """What the CLI's ``run`` does once its setup is done, before the loop: ``freeze_startup_heap``
    (``LIVE_TRADING/common/heap.py``: a last full collection, then ``gc.freeze()``), written out here so
    that a ``--baseline`` checkout without it is measured under the same conditions."""
    if freeze:
        gc.collect()
        gc.freeze()


def run_elsewhere(checkout: str, n_symbols: int, steps: int, freeze: bool) -> float:
    """CPU seconds of ``one_run`` executed against the package in ``checkout`` (a subprocess).

    The subprocess first makes a short run (as the first run of this process builds the sim's table of
    normal quantiles outside the timed runs), then settles its heap as this process did."""
    code = (
        "import sys, tempfile; sys.path.insert(0, sys.argv[2]);"
        "import bench_loop as b; assert b.run_loop.__code__.co_filename.startswith(sys.argv[1]);"
        "n, steps, freeze = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == '1';"
        "b.one_run(n, 20, tempfile.mkdtemp()); b.settle(freeze);"
        "print(b.one_run(n, steps, tempfile.mkdtemp())[0])"
    )
    env = {**os.environ, "PYTHONPATH": checkout, "BENCH_LOOP_PACKAGE_ROOT": checkout}
    out = subprocess.run(
        [sys.executable, "-c", code, checkout, str(Path(__file__).resolve().parent), str(n_symbols), str(steps),
         "1" if freeze else "0"],
        capture_output=True, text=True, env=env, check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="steps per run with 1 symbol")
    parser.add_argument("--steps-100", type=int, default=2_000, help="steps per run with 100 symbols")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (the median is printed)")
    parser.add_argument("--baseline", help="another checkout to measure side by side (e.g. main before a change)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of one run of each size")
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave the start-up heap in the collector's scans (the CLI's run freezes it)")
    args = parser.parse_args()
    freeze = not args.no_freeze

    print(f"run_loop, sim provider + PaperBroker (journal on), 1m bars, equal_weight every step, "
          f"median of {args.repeat} (CPU time); start-up heap "
          f"{'frozen after setup, as the CLI run does' if freeze else 'not frozen (--no-freeze)'}")
    with tempfile.TemporaryDirectory() as tmp:
        one_run(1, 20, tmp)  # the first run of a process builds the sim's table of normal quantiles
    settle(freeze)
    for n_symbols, steps in ((1, args.steps), (100, args.steps_100)):
        rates, base_rates, orders = [], [], 0
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                elapsed, orders = one_run(n_symbols, steps, tmp)
            rates.append(steps / elapsed)
            if args.baseline:
                base_rates.append(steps / run_elsewhere(args.baseline, n_symbols, steps, freeze))
        median = statistics.median(rates)
        target = TARGETS[n_symbols]
        print(
            f"  {n_symbols:>3} symbol(s): {median:>9,.0f} steps/s  (min {min(rates):,.0f}, max {max(rates):,.0f}; "
            f"{steps:,} steps, {orders:,} orders per run)  target >= {target:,}: {median / target:.2f}x of target"
        )
        if base_rates:
            base = statistics.median(base_rates)
            print(f"      baseline {args.baseline}: {base:>9,.0f} steps/s -> this checkout is {median / base:.2f}x")
    if args.profile:
        for n_symbols, steps in ((1, args.steps), (100, args.steps_100)):
            prof = cProfile.Profile(time.process_time)
            with tempfile.TemporaryDirectory() as tmp:
                one_run(n_symbols, steps, tmp, prof)
            print(f"\n--- cProfile, {n_symbols} symbol(s), {steps:,} steps (tottime) ---")
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
