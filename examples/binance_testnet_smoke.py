"""Smoke test of the Binance adapter against the Spot Testnet, with your own testnet keys.

Not part of the test suite (it needs the internet and real testnet keys)::

    # keys from https://testnet.binance.vision (log in with GitHub, "Generate HMAC_SHA256 Key")
    export BINANCE_API_KEY=...
    export BINANCE_API_SECRET=...
    python examples/binance_testnet_smoke.py            # BTCUSDT by default
    python examples/binance_testnet_smoke.py --symbol ETHUSDT

What it does, printing each result:

1. balances of the quote and base assets, and the current quote;
2. places a tiny limit buy far below the market (it rests), lists open
   orders, cancels it;
3. buys the smallest market order the symbol's filters allow, then sells
   back what was received (the buy's fee is charged in the base asset);
4. prints the fills of the session and the balances again.

It refuses to run against a live account: ``testnet`` must be true (the
default). The journal goes to ``logs/binance`` unless ``--log-dir`` says
otherwise.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from LIVE_TRADING.brokers.interface import get_broker
from LIVE_TRADING.common.exceptions import BrokerError, LiveTradingError


def smallest_qty(rules, price: Decimal, margin: Decimal = Decimal("1.2")) -> Decimal:
    """The smallest quantity passing LOT_SIZE and the notional minimum at ``price`` (with a margin)."""
    step = rules.lot.step if rules.lot and rules.lot.step > 0 else Decimal("0.00000001")
    qty = rules.lot.min_qty if rules.lot else step
    if rules.min_notional:
        qty = max(qty, rules.min_notional * margin / price)
    return (qty / step).to_integral_value(rounding=ROUND_UP) * step


def balances(broker, *assets: str) -> str:
    held = broker.get_balances()
    empty = {"free": 0.0, "locked": 0.0}
    return ", ".join(
        f"{a} free {held.get(a, empty)['free']:.8f} locked {held.get(a, empty)['locked']:.8f}" for a in assets
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbol", default="BTCUSDT", help="spot symbol quoted in the quote asset (default BTCUSDT)")
    parser.add_argument("--log-dir", default=None, help="journal directory (default: live_trading.binance.log_dir)")
    args = parser.parse_args(argv)

    try:
        broker = get_broker("binance", testnet=True, log_dir=args.log_dir)
    except LiveTradingError as exc:
        print(f"Cannot start: {exc}", file=sys.stderr)
        return 2
    venue = broker.unwrap()
    if not venue.config.testnet:
        print("Refusing to run: this script is for the Spot Testnet only.", file=sys.stderr)
        return 2
    start = broker.now()
    try:
        rules = venue.symbol_info(args.symbol)
        symbol, base, quote_asset = rules.symbol, rules.base_asset, rules.quote_asset
        print(f"Connected to {venue.config.base_url} (server time {start.isoformat()})")
        print("Balances:", balances(broker, quote_asset, base))
        quote = broker.get_quote(symbol)
        print(f"Quote {symbol}: bid {quote['bid']} / ask {quote['ask']} (spread {quote['spread_bps']:.1f} bps)")

        # 1. a tiny limit buy far below the market rests; cancel it
        far = (Decimal(str(quote["bid"])) * Decimal("0.8"))
        if rules.tick > 0:
            far = (far / rules.tick).to_integral_value(rounding=ROUND_DOWN) * rules.tick
        qty = smallest_qty(rules, far)
        order = broker.submit_order(symbol, "BUY", float(qty), "limit", float(far))
        print(f"Limit order: {order['order_id']} {order['status']} {order['qty']} @ {order['limit_price']}")
        print(f"Open orders: {len(broker.get_open_orders())}")
        cancelled = broker.cancel_order(order["order_id"])
        print(f"Cancelled: {cancelled['order_id']} -> {cancelled['status']}")

        # 2. the smallest market buy, then sell back what was received
        qty = smallest_qty(rules, Decimal(str(quote["ask"])))
        bought = broker.submit_order(symbol, "BUY", float(qty))
        print(f"Market buy: {bought['status']} {bought['filled_qty']} @ {bought['fill_price']} fee {bought['fee']}")
        received = Decimal(str(bought["filled_qty"])) - Decimal(str(bought["fee"]))
        step = rules.lot.step if rules.lot and rules.lot.step > 0 else Decimal("0.00000001")
        back = (received / step).to_integral_value(rounding=ROUND_DOWN) * step
        if back > 0:
            sold = broker.submit_order(symbol, "SELL", float(back))
            print(f"Market sell: {sold['status']} {sold['filled_qty']} @ {sold['fill_price']} fee {sold['fee']}")
        else:
            print("Nothing to sell back after the fee")

        for fill in broker.get_fills(since=start - timedelta(seconds=5)):
            print(f"Fill {fill['fill_id']}: {fill['side']} {fill['qty']} @ {fill['fill_price']} "
                  f"fee {fill['fee']} {fill['fee_currency']}")
        print("Balances:", balances(broker, quote_asset, base))
    except BrokerError as exc:
        print(f"Binance error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        venue.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
