"""Replay provider load time: 1M rows of bars from CSV and from Parquet.

Run from the repository root::

    python benchmarks/bench_replay.py [--rows 1000000] [--symbols 100] [--repeat 5]

Generates ``--rows`` rows of 1-minute bars (``--symbols`` symbols, rows in
time order, ISO-8601 UTC timestamps) into a temporary directory, once as CSV
and once as Parquet, then times building a ``ReplayDataProvider`` on each
(read, check every row, sort, split by symbol). Side by side, in the same
run: the bare pyarrow read of the same file (the I/O and parsing floor) and
pandas' ``read_csv`` + ``to_datetime`` (what a pandas-based reader pays
before any checking). ``--baseline DIR`` also times the ``ReplayDataProvider``
of another checkout (e.g. main before a change) on the same files, in a
subprocess, alternating with this one. Target (issue 13): <= 0.5 s per 1M
rows. Figures are wall-clock medians of ``--repeat`` runs (pyarrow reads on
several threads).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LIVE_TRADING_CONFIG", str(ROOT / "CONFIG" / "live_trading.yaml"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pa_csv  # noqa: E402
import pyarrow.parquet as pa_parquet  # noqa: E402

from LIVE_TRADING.common.clock import ManualClock  # noqa: E402
from LIVE_TRADING.data.replay import ReplayDataProvider  # noqa: E402

TARGET_S_PER_M = 0.5


def generate(rows: int, n_symbols: int, directory: Path) -> tuple[Path, Path]:
    """The same bars as ``bars.csv`` and ``bars.parquet`` (deterministic)."""
    steps = rows // n_symbols
    rng = np.random.default_rng(13)
    start = np.datetime64("2024-01-02T00:00:00")
    times = np.repeat(start + np.arange(steps).astype("timedelta64[m]"), n_symbols)
    symbols = np.tile(np.array([f"S{i:03d}" for i in range(n_symbols)]), steps)
    close = np.round(100.0 * np.exp(np.cumsum(rng.normal(0, 1e-3, (steps, n_symbols)), axis=0)).ravel(), 4)
    table = pa.table({
        "timestamp": pa.array(np.datetime_as_string(times, unit="s").astype(object) + "Z", pa.string()),
        "symbol": symbols,
        "open": close, "high": np.round(close * 1.001, 4), "low": np.round(close * 0.999, 4), "close": close,
        "volume": np.full(len(close), 1000.0),
    })
    csv, parquet = directory / "bars.csv", directory / "bars.parquet"
    pa_csv.write_csv(table, csv)
    # Parquet keeps typed timestamps (what pandas / pyarrow writers produce)
    typed = table.set_column(0, "timestamp", pa.array(times.astype("datetime64[s]"), pa.timestamp("s", tz="UTC")))
    pa_parquet.write_table(typed, parquet)
    return csv, parquet


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def time_elsewhere(checkout: str, path: Path) -> float:
    """Seconds to build ``ReplayDataProvider(path)`` with the package in ``checkout`` (a subprocess)."""
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1]);"
        "from LIVE_TRADING.common.clock import ManualClock;"
        "from LIVE_TRADING.data.replay import ReplayDataProvider as R;"
        "assert R.__module__ and sys.modules[R.__module__].__file__.startswith(sys.argv[1]);"
        "from CONFIG.config_loader import get_cfg; get_cfg('live_trading.data.replay.size', default=None);"
        "t = time.perf_counter(); R(sys.argv[2], clock=ManualClock(), spread_bps=2.0, size=100.0, bar_time='end');"
        "print(time.perf_counter() - t)"
    )
    env = {**os.environ, "PYTHONPATH": checkout}
    out = subprocess.run([sys.executable, "-c", code, checkout, str(path)], capture_output=True, text=True, env=env,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", help="another checkout whose ReplayDataProvider is timed side by side")
    args = parser.parse_args()
    clock = ManualClock()

    with tempfile.TemporaryDirectory() as tmp:
        csv, parquet = generate(args.rows, args.symbols, Path(tmp))
        rows = (args.rows // args.symbols) * args.symbols
        per_m = 1e6 / rows

        def provider(path: Path) -> Callable[[], object]:
            return lambda: ReplayDataProvider(path, clock=clock, spread_bps=2.0, size=100.0, bar_time="end")

        def pandas_csv() -> object:
            frame = pd.read_csv(csv)
            return pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")

        check = ReplayDataProvider(csv, clock=clock, spread_bps=2.0, size=100.0, bar_time="end")
        assert len(check.symbols) == args.symbols
        print(f"replay load: {rows:,} rows of 1m bars, {args.symbols} symbols, median of {args.repeat} "
              f"(seconds per 1M rows; target <= {TARGET_S_PER_M} s)")
        figures = {}
        for name, fn in (
            ("ReplayDataProvider, CSV", provider(csv)),
            ("  floor: pyarrow.csv.read_csv alone", lambda: pa_csv.read_csv(csv)),
            ("  pandas read_csv + to_datetime", pandas_csv),
            ("ReplayDataProvider, Parquet", provider(parquet)),
            ("  floor: pyarrow.parquet.read_table alone", lambda: pa_parquet.read_table(parquet)),
        ):
            figures[name] = median_time(fn, args.repeat) * per_m
            print(f"  {name:<44} {figures[name]:6.3f} s")
        if args.baseline:
            for kind, path in (("CSV", csv), ("Parquet", parquet)):
                mine, theirs = [], []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    provider(path)()
                    mine.append(time.perf_counter() - started)
                    theirs.append(time_elsewhere(args.baseline, path))
                ours_s, base_s = statistics.median(mine) * per_m, statistics.median(theirs) * per_m
                print(f"  {kind}: baseline {args.baseline}: {base_s:.3f} s vs {ours_s:.3f} s here "
                      f"(this checkout {base_s / ours_s:.1f}x faster, measured alternately)")
        for kind, floor in (("CSV", "  floor: pyarrow.csv.read_csv alone"),
                            ("Parquet", "  floor: pyarrow.parquet.read_table alone")):
            mine = figures[f"ReplayDataProvider, {kind}"]
            print(f"  {kind}: provider / bare read {mine / figures[floor]:.2f}x; "
                  f"target {'met' if mine <= TARGET_S_PER_M else 'NOT met'} ({mine / TARGET_S_PER_M:.2f}x of 0.5 s)")
        print(f"  CSV: provider / pandas read_csv + to_datetime "
              f"{figures['ReplayDataProvider, CSV'] / figures['  pandas read_csv + to_datetime']:.2f}x")


if __name__ == "__main__":
    main()
