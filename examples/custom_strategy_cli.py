"""Run your own Strategy through the command line (an offline paper session on simulated time).

    python examples/custom_strategy_cli.py

is the same as typing::

    live-trading run --strategy examples/my_strategy.py:Momentum --param cash_buffer=0.1 --steps 60 --json

The run's account goes where your config puts it (``LIVE_TRADING_HOME`` or
the checkout's ``logs/`` with the packaged config).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    command = [sys.executable, "-m", "LIVE_TRADING", "run", "--strategy", f"{HERE / 'my_strategy.py'}:Momentum",
               "--param", "cash_buffer=0.1", "--steps", "60", "--symbols", "AAPL,MSFT,NVDA", "--json"]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return proc.returncode
    report = json.loads(proc.stdout)
    print(f"strategy {report['strategy']}: {report['steps_done']} steps, {report['fills']} fills, "
          f"equity {report['initial_equity']:,.2f} -> {report['final_equity']:,.2f}")
    assert report["strategy"].startswith("Momentum") and report["steps_done"] == 60
    print("OK")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
