"""The ``live-trading`` command line (``python -m LIVE_TRADING``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="live-trading",
        description="Place and track orders through one Broker interface (paper, Binance, IBKR).",
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default: $LIVE_TRADING_CONFIG or the packaged one)")
    parser.add_argument("--venue", metavar="NAME", help="override live_trading.venue")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0
