"""The offline simulator: determinism, clock-driven movement, calibration, bars, config."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from LIVE_TRADING.common.clock import ManualClock
from LIVE_TRADING.common.exceptions import ConfigError, DataProviderError
from LIVE_TRADING.data.quotes import mid_price
from LIVE_TRADING.data.sim import SimDataProvider

REPO = Path(__file__).resolve().parents[1]
START = "2026-01-05T14:30:00+00:00"
OFFSETS = [0, 1, 59, 3600, 65535, 65536, 65537, 86400 * 3 + 17, -1, -86400 * 40]


def mids(provider: SimDataProvider, clock: ManualClock, symbol: str, offsets) -> list[float]:
    origin = datetime.fromisoformat(START)
    out = []
    for offset in offsets:
        clock.set(origin + timedelta(seconds=offset))
        out.append(mid_price(provider.get_quote(symbol)))
    return out


# -- determinism -----------------------------------------------------------------


def test_same_seed_same_numbers():
    a, b = ManualClock(START), ManualClock(START)
    pa, pb = SimDataProvider(seed=7, clock=a), SimDataProvider(seed=7, clock=b)
    assert mids(pa, a, "AAPL", OFFSETS) == mids(pb, b, "AAPL", OFFSETS)
    pd.testing.assert_frame_equal(pa.get_historical("AAPL", "1y", "1d"), pb.get_historical("AAPL", "1y", "1d"))


def test_different_seed_or_symbol_different_numbers():
    clock = ManualClock(START)
    base = mids(SimDataProvider(seed=7, clock=clock), clock, "AAPL", OFFSETS[1:])
    other_seed = mids(SimDataProvider(seed=8, clock=clock), clock, "AAPL", OFFSETS[1:])
    other_symbol = mids(SimDataProvider(seed=7, clock=clock), clock, "MSFT", OFFSETS[1:])
    assert all(x != y for x, y in zip(base, other_seed, strict=True))
    assert all(x != y for x, y in zip(base, other_symbol, strict=True))


def test_price_depends_only_on_time_not_on_call_history():
    clock_a, clock_b = ManualClock(START), ManualClock(START)
    in_order = SimDataProvider(seed=3, clock=clock_a)
    scrambled = SimDataProvider(seed=3, clock=clock_b)
    expected = dict(zip(OFFSETS, mids(in_order, clock_a, "AAPL", OFFSETS), strict=True))
    # another order, with history requests and other symbols in between
    order = list(reversed(OFFSETS))
    got = {}
    for offset in order:
        scrambled.get_historical("AAPL", "1d", "1h")
        scrambled.get_multiple_quotes(["MSFT", "AAPL", "XOM"])
        got[offset] = mids(scrambled, clock_b, "AAPL", [offset])[0]
    assert got == expected


def test_same_numbers_in_another_process_with_another_hash_seed():
    clock = ManualClock(START)
    expected = mids(SimDataProvider(seed=11, clock=clock), clock, "BTCUSDT", OFFSETS)
    code = f"""
import json, sys
sys.path.insert(0, {str(REPO)!r})
from datetime import datetime, timedelta
from LIVE_TRADING.data.sim import SimDataProvider
from LIVE_TRADING.data.quotes import mid_price
from LIVE_TRADING.common.clock import ManualClock
clock = ManualClock({START!r})
provider = SimDataProvider(seed=11, clock=clock)
out = []
for offset in {OFFSETS!r}:
    clock.set(datetime.fromisoformat({START!r}) + timedelta(seconds=offset))
    out.append(mid_price(provider.get_quote("BTCUSDT")))
print(json.dumps(out))
"""
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(result.stdout) == expected


# -- the clock drives prices ------------------------------------------------------


def test_prices_move_only_when_the_clock_moves(clock):
    provider = SimDataProvider(clock=clock)
    first = provider.get_quote("AAPL")
    assert provider.get_quote("AAPL") == first
    clock.advance(0.4)  # same second on the grid
    assert provider.get_quote("AAPL") == first
    clock.advance(1)
    moved = provider.get_quote("AAPL")
    assert moved["bid"] != first["bid"]
    assert moved["timestamp"] == first["timestamp"] + timedelta(seconds=1)


def test_starts_at_start_price_with_configured_spread_and_size(clock):
    provider = SimDataProvider(
        clock=clock, start_price=250.0, spread_bps=8.0, size=42.0, symbols={"msft": {"start_price": 400.0}}
    )
    quote = provider.get_quote("aapl")
    assert quote["symbol"] == "AAPL"
    assert mid_price(quote) == pytest.approx(250.0, rel=1e-12)
    assert quote["spread_bps"] == pytest.approx(8.0, rel=1e-9)
    assert quote["bid_size"] == quote["ask_size"] == 42.0
    assert quote["timestamp"] == clock()
    assert mid_price(provider.get_quote("MSFT")) == pytest.approx(400.0, rel=1e-12)


def test_quote_timestamp_is_the_grid_second():
    clock = ManualClock("2026-01-05T14:30:00.250000+00:00")
    provider = SimDataProvider(clock=clock)
    clock.advance(2.5)
    assert provider.get_quote("AAPL")["timestamp"] == datetime(2026, 1, 5, 14, 30, 2, tzinfo=UTC)


def test_multiple_quotes_are_one_snapshot_and_report_bad_symbols(clock):
    provider = SimDataProvider(clock=clock)
    clock.advance(30)
    quotes = provider.get_multiple_quotes(["aapl", "msft", None, "aapl"])
    assert sorted(quotes) == ["AAPL", "MSFT"]
    assert {q["timestamp"] for q in quotes.values()} == {clock()}
    assert list(provider.last_errors) == ["NONE"]
    assert quotes["AAPL"] == provider.get_quote("AAPL")


def test_fixed_start_time_makes_prices_independent_of_when_the_provider_was_built():
    early, late = ManualClock(START), ManualClock("2026-01-06T09:00:00+00:00")
    a = SimDataProvider(clock=early, start_time="2026-01-01T00:00:00+00:00")
    b = SimDataProvider(clock=late, start_time="2026-01-01T00:00:00+00:00")
    early.set(late())
    assert a.get_quote("AAPL") == b.get_quote("AAPL")
    # by default each run starts at start_price
    assert mid_price(SimDataProvider(clock=late).get_quote("AAPL")) == pytest.approx(100.0)


def test_volatility_zero_gives_pure_drift(clock):
    provider = SimDataProvider(clock=clock, volatility=0, drift=0.1)
    clock.advance(days=365.25)
    assert mid_price(provider.get_quote("AAPL")) == pytest.approx(100.0 * math.exp(0.1), rel=1e-9)


def test_absurd_parameters_give_a_data_error_not_a_crash(clock):
    provider = SimDataProvider(clock=clock, drift=1e9)
    clock.advance(days=1)
    with pytest.raises(DataProviderError, match="No quote for AAPL"):
        provider.get_quote("AAPL")
    assert provider.get_multiple_quotes(["AAPL"]) == {}
    assert "AAPL" in provider.last_errors


# -- calibration -----------------------------------------------------------------


@pytest.mark.parametrize(("period", "interval", "seconds"), [("10y", "1d", 86400), ("5d", "1m", 60)])
def test_log_returns_have_the_configured_volatility(clock, period, interval, seconds):
    provider = SimDataProvider(clock=clock, volatility=0.3, drift=0.0)
    closes = provider.get_historical("AAPL", period, interval)["close"].iloc[:-1]  # last bar is partial
    returns = [math.log(b / a) for a, b in zip(closes.iloc[:-1], closes.iloc[1:], strict=True)]
    expected = 0.3 * math.sqrt(seconds / (365.25 * 86400))
    assert len(returns) > 3000
    assert statistics.stdev(returns) == pytest.approx(expected, rel=0.08)
    assert abs(statistics.fmean(returns)) < 4 * expected / math.sqrt(len(returns))


# -- bars ------------------------------------------------------------------------


def test_bars_end_at_now_and_agree_with_quotes(clock):
    provider = SimDataProvider(clock=clock)
    clock.advance(hours=5, seconds=13)
    bars = provider.get_historical("AAPL", "1mo", "1d")
    assert bars["close"].iloc[-1] == pytest.approx(mid_price(provider.get_quote("AAPL")), rel=1e-12)
    assert bars.index[-1] == pd.Timestamp("2026-01-05", tz="UTC")
    assert (bars.index.hour == 0).all()
    assert len(bars) == 30
    assert (bars["volume"] > 0).all()
    # each bar's open is the path at its start: a quote taken then (crypto: AAPL's market was
    # closed then, a Saturday, and its quote stands at Friday's close; history is the unbroken path)
    crypto = provider.get_historical("BTC/USD", "1mo", "1d")
    clock.set(bars.index[-3].to_pydatetime())
    assert crypto["open"].iloc[-3] == pytest.approx(mid_price(provider.get_quote("BTC/USD")), rel=1e-12)
    assert provider.get_quote("AAPL")["market_open"] is False


def test_completed_bars_do_not_change_as_time_passes(clock):
    provider = SimDataProvider(clock=clock)
    before = provider.get_historical("AAPL", "1d", "5m")
    clock.advance(minutes=17)
    after = provider.get_historical("AAPL", "1d", "5m")
    common = before.index[:-1].intersection(after.index)
    assert len(common) > 200
    pd.testing.assert_frame_equal(before.loc[common], after.loc[common])
    assert after.index[-1] > before.index[-1]


def test_intraday_limits_apply(clock):
    provider = SimDataProvider(clock=clock)
    with pytest.raises(DataProviderError, match="allowed with 1m: 1d, 5d"):
        provider.get_historical("AAPL", "1mo", "1m")
    assert len(provider.get_historical("AAPL", "max", "1wk")) == 522


# -- config ----------------------------------------------------------------------


def test_config_file_sets_defaults_and_per_symbol_parameters(write_config, clock):
    write_config(
        {
            "data": {
                "sim": {
                    "seed": 5,
                    "start_price": 20.0,
                    "spread_bps": 4.0,
                    "symbols": {"aapl": {"start_price": 190.0, "volatility": 0.5, "size": 7}},
                }
            }
        }
    )
    provider = SimDataProvider(clock=clock)
    assert provider.seed == 5
    params = provider.params("AAPL")
    assert (params.start_price, params.volatility, params.size, params.spread_bps) == (190.0, 0.5, 7.0, 4.0)
    assert provider.params("MSFT").start_price == 20.0
    # keyword arguments win over the file
    assert SimDataProvider(seed=6, clock=clock, spread_bps=0).params("AAPL").spread_bps == 0.0


def test_bad_config_lists_every_problem(write_config, clock):
    write_config(
        {
            "data": {
                "sim": {
                    "volatility": -1,
                    "start_price": 0,
                    "seed": "x",
                    "start_time": "yesterday",
                    "symbols": {"AAPL": {"volatilty": 0.2, "spread_bps": "wide"}, "MSFT": 3},
                }
            }
        }
    )
    with pytest.raises(ConfigError) as err:
        SimDataProvider(clock=clock)
    problems = "\n".join(err.value.problems)
    assert len(err.value.problems) == 7
    for fragment in (
        "live_trading.data.sim.volatility must be a number >= 0, got -1",
        "live_trading.data.sim.start_price must be a number > 0, got 0",
        "live_trading.data.sim.seed must be an integer >= 0, got 'x'",
        "live_trading.data.sim.start_time must be an ISO-8601 time",
        "unknown key live_trading.data.sim.symbols.AAPL.volatilty",
        "live_trading.data.sim.symbols.AAPL.spread_bps must be a number >= 0 and < 10000 (or null), got 'wide'",
        "live_trading.data.sim.symbols.MSFT must be a mapping",
    ):
        assert fragment in problems


def test_naive_start_time_refused(clock):
    with pytest.raises(ConfigError, match="start_time"):
        SimDataProvider(clock=clock, start_time=datetime(2026, 1, 1))


def test_unknown_keyword_refused(clock):
    with pytest.raises(TypeError, match="volatilty"):
        SimDataProvider(clock=clock, volatilty=0.2)


# -- the numpy batch path ----------------------------------------------------------


def _same_as_one_at_a_time(batched, single, clocks, symbols, seconds) -> dict:
    """At each of ``seconds`` after START (all ``clocks`` set to it), ``batched.get_multiple_quotes`` gives
    exactly ``single.get_quote`` of each symbol; returns the last batch of quotes."""
    origin = datetime.fromisoformat(START)
    quotes: dict = {}
    for second in seconds:
        for clock in clocks:
            clock.set(origin + timedelta(seconds=second))
        quotes = batched.get_multiple_quotes(symbols)
        assert list(quotes) == symbols and not batched.last_errors
        for sym in symbols:
            assert quotes[sym] == single.get_quote(sym), (second, sym)
    return quotes


def test_batch_of_many_symbols_gives_the_same_bits_as_one_symbol_at_a_time():
    from LIVE_TRADING.data.sim import VECTOR_MIN_SYMBOLS

    symbols = [f"S{i:02d}" for i in range(VECTOR_MIN_SYMBOLS * 3)] + ["AAPL"]
    batch_clock, one_clock = ManualClock(START), ManualClock(START)
    batched = SimDataProvider(seed=5, clock=batch_clock, symbols={"S03": {"start_price": 7.0, "volatility": 0.9}})
    single = SimDataProvider(seed=5, clock=one_clock, symbols={"S03": {"start_price": 7.0, "volatility": 0.9}})
    origin = datetime.fromisoformat(START)
    # forward in small and big jumps, across block ends, and back before the start
    quotes = _same_as_one_at_a_time(batched, single, (batch_clock, one_clock), symbols,
                                    [0, 1, 60, 61, 3600, 65535, 65536, 65537, 200_000, 90, -1, -86400 * 40,
                                     86400 * 3 + 17])
    # and a fresh provider asked only once, far away, agrees with both
    fresh_clock = ManualClock(START)
    fresh = SimDataProvider(seed=5, clock=fresh_clock, symbols={"S03": {"start_price": 7.0, "volatility": 0.9}})
    fresh_clock.set(origin + timedelta(seconds=86400 * 3 + 17))
    assert fresh.get_multiple_quotes(symbols) == quotes


@pytest.mark.parametrize("count", [1, 4, 16])
def test_batch_quotes_computed_ahead_along_a_stride_are_the_same_bits(count):
    """``get_multiple_quotes`` asked along a fixed stride (a run) computes quotes ahead, for few symbols as for
    many: the same bits as one symbol at a time, across a block end, after a jump and on a new stride."""
    symbols = [f"S{i:02d}" for i in range(count)] if count > 1 else ["S03"]
    params = {"S03": {"start_price": 7.0, "volatility": 0.9}}
    origin = datetime.fromisoformat(START)
    batch_clock, one_clock = ManualClock(START), ManualClock(START)
    batched = SimDataProvider(seed=3, clock=batch_clock, symbols=params)
    single = SimDataProvider(seed=3, clock=one_clock, symbols=params)
    # a run: one minute per step, across a block end (2**16 s), then a jump back and a new stride
    _same_as_one_at_a_time(batched, single, (batch_clock, one_clock), symbols,
                           [65_000 + 60 * step for step in range(300)] + [10, 3610, 7210, 10_810])
    # the same seconds asked of fresh providers, by plain descent, agree
    for second in (65_000 + 60 * 255, 65_000 + 60 * 256, 10_810):
        clock = ManualClock(START)
        fresh = SimDataProvider(seed=3, clock=clock, symbols=params)
        clock.set(origin + timedelta(seconds=second))
        one = fresh.get_quote("S03")
        batch_clock.set(origin + timedelta(seconds=second))
        assert batched.get_multiple_quotes(symbols)["S03"] == one


def test_batch_computed_ahead_still_names_a_symbol_whose_price_overflows(clock):
    provider = SimDataProvider(clock=clock, symbols={"HOT": {"drift": 1e6}})
    symbols = ["HOT", *[f"S{i}" for i in range(10)]]
    seen_error = False
    for _ in range(40):  # a stride: quotes are computed ahead until HOT overflows, then one by one
        clock.advance(hours=6)
        quotes = provider.get_multiple_quotes(symbols)
        assert {f"S{i}" for i in range(10)} <= set(quotes)
        if "HOT" not in quotes:
            seen_error = True
            assert "overflowed" in provider.last_errors["HOT"]
        else:
            assert not provider.last_errors
    assert seen_error


def test_batch_reports_bad_symbols_and_overflow_per_symbol(clock):
    provider = SimDataProvider(clock=clock, symbols={"HOT": {"drift": 1e9}})
    clock.advance(days=1)
    symbols = ["HOT", " ", *[f"S{i}" for i in range(10)]]
    quotes = provider.get_multiple_quotes(symbols)
    assert sorted(quotes) == sorted(f"S{i}" for i in range(10))
    assert set(provider.last_errors) == {"HOT", ""}
    assert "overflowed" in provider.last_errors["HOT"]


def test_prices_computed_ahead_along_a_stride_are_the_same_bits():
    origin = datetime.fromisoformat(START)
    stepping_clock = ManualClock(START)
    stepping = SimDataProvider(seed=9, clock=stepping_clock)
    seen = []
    for step in range(300):  # a run: one minute per step, across a block end (2**16 s)
        stepping_clock.set(origin + timedelta(seconds=65_000 + 60 * step))
        seen.append(stepping.get_quote("AAPL"))
    for step in (0, 1, 17, 255, 256, 299):  # each asked of a fresh provider, by plain descent
        clock = ManualClock(START)
        fresh = SimDataProvider(seed=9, clock=clock)
        clock.set(origin + timedelta(seconds=65_000 + 60 * step))
        assert fresh.get_quote("AAPL") == seen[step]
