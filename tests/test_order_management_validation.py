"""The shared validation of issue 14's inputs (trailing stops, modify, brackets, OCO, duplicate client ids)."""

from __future__ import annotations

import math

import pytest

from LIVE_TRADING.brokers.validation import (
    check_modify,
    client_id_conflict,
    validate_bracket,
    validate_modify,
    validate_oco,
    validate_order,
)
from LIVE_TRADING.common.exceptions import OrderNotFoundError, OrderRejectedError


def test_trailing_stop_needs_exactly_one_trail() -> None:
    req = validate_order("btcusdt", "sell", 1, "trailing_stop", trail_percent=2.5)
    assert (req.order_type, req.trail_percent, req.trail_amount, req.limit_offset) == ("trailing_stop", 2.5, None, None)
    req = validate_order("AAPL", "SELL", 1, "trailing_stop", trail_amount=1.5, limit_offset=0)
    assert (req.trail_amount, req.limit_offset) == (1.5, 0.0)
    with pytest.raises(OrderRejectedError, match="exactly one"):
        validate_order("AAPL", "SELL", 1, "trailing_stop")
    with pytest.raises(OrderRejectedError, match="exactly one"):
        validate_order("AAPL", "SELL", 1, "trailing_stop", trail_amount=1, trail_percent=1)


@pytest.mark.parametrize("bad", [-1, 0, math.nan, math.inf, 10**400, "x", True])
def test_bad_trail_values(bad: object) -> None:
    with pytest.raises(OrderRejectedError, match="trail_amount"):
        validate_order("AAPL", "SELL", 1, "trailing_stop", trail_amount=bad)


def test_trail_percent_below_100_and_offset_not_negative() -> None:
    with pytest.raises(OrderRejectedError, match="below 100"):
        validate_order("AAPL", "SELL", 1, "trailing_stop", trail_percent=100)
    with pytest.raises(OrderRejectedError, match="limit_offset"):
        validate_order("AAPL", "SELL", 1, "trailing_stop", trail_percent=1, limit_offset=-0.5)


def test_trail_fields_only_on_trailing_stops() -> None:
    for kw in ({"trail_amount": 1}, {"trail_percent": 1}, {"limit_offset": 1}):
        with pytest.raises(OrderRejectedError, match="only a trailing_stop"):
            validate_order("AAPL", "SELL", 1, "limit", 10, **kw)
    with pytest.raises(OrderRejectedError, match="no limit_price"):
        validate_order("AAPL", "SELL", 1, "trailing_stop", 10, trail_percent=1)


def test_huge_int_quantity_is_a_typed_rejection() -> None:
    with pytest.raises(OrderRejectedError, match="quantity"):
        validate_order("AAPL", "BUY", 10**400)


def test_validate_modify() -> None:
    assert validate_modify(" X:1 ", qty=2) == ("X:1", 2.0, None, None)
    with pytest.raises(OrderRejectedError, match="at least one"):
        validate_modify("X:1")
    with pytest.raises(OrderNotFoundError):
        validate_modify(17, qty=1)
    with pytest.raises(OrderRejectedError, match="limit price"):
        validate_modify("X:1", limit_price=-3)


def _order(**kw: object) -> dict[str, object]:
    base = {"order_id": "X:1", "symbol": "X", "status": "new", "filled_qty": 0.0, "order_type": "limit",
            "limit_price": 10.0, "stop_price": None}
    base.update(kw)
    return base


def test_check_modify() -> None:
    check_modify(_order(), validate_modify("X:1", qty=5, limit_price=11))
    with pytest.raises(OrderRejectedError, match="already filled"):
        check_modify(_order(status="filled"), validate_modify("X:1", qty=5))
    with pytest.raises(OrderRejectedError, match="already cancelled"):
        check_modify(_order(status="cancelled"), validate_modify("X:1", qty=5))
    with pytest.raises(OrderRejectedError, match="below the 3 already filled"):
        check_modify(_order(status="partially_filled", filled_qty=3.0), validate_modify("X:1", qty=2))
    with pytest.raises(OrderRejectedError, match="no stop price"):
        check_modify(_order(), validate_modify("X:1", stop_price=9))
    with pytest.raises(OrderRejectedError, match="no limit price"):
        check_modify(_order(order_type="stop", limit_price=None, stop_price=9.0), validate_modify("X:1", limit_price=9))


def test_validate_bracket_sides() -> None:
    b = validate_bracket("aapl", "buy", 10, entry_type="limit", limit_price=100, take_profit=110, stop_loss=95,
                         stop_loss_limit=94.5, client_order_id="br-1")
    assert (b.symbol, b.side, b.exit_side, b.entry_type, b.stop_loss_limit) == ("AAPL", "BUY", "SELL", "limit", 94.5)
    s = validate_bracket("AAPL", "SELL", 10, take_profit=90, stop_loss=105)
    assert s.exit_side == "BUY" and s.limit_price is None
    with pytest.raises(OrderRejectedError, match="take_profit 90 must be above stop_loss"):
        validate_bracket("AAPL", "BUY", 10, take_profit=90, stop_loss=95)
    with pytest.raises(OrderRejectedError, match="must be above the entry limit"):
        validate_bracket("AAPL", "BUY", 10, entry_type="limit", limit_price=100, take_profit=99, stop_loss=95)
    with pytest.raises(OrderRejectedError, match="stop_loss 101 must be below the entry limit"):
        validate_bracket("AAPL", "BUY", 10, entry_type="limit", limit_price=100, take_profit=110, stop_loss=101)
    with pytest.raises(OrderRejectedError, match="take_profit 110 must be below"):
        validate_bracket("AAPL", "SELL", 10, take_profit=110, stop_loss=105)
    with pytest.raises(OrderRejectedError, match="stop_loss_limit 96 must be at or below"):
        validate_bracket("AAPL", "BUY", 10, take_profit=110, stop_loss=95, stop_loss_limit=96)
    with pytest.raises(OrderRejectedError, match="needs a limit_price"):
        validate_bracket("AAPL", "BUY", 10, entry_type="limit", take_profit=110, stop_loss=95)
    with pytest.raises(OrderRejectedError, match="entry_type"):
        validate_bracket("AAPL", "BUY", 10, entry_type="stop", take_profit=110, stop_loss=95)
    with pytest.raises(OrderRejectedError, match="take_profit"):
        validate_bracket("AAPL", "BUY", 10, take_profit=math.nan, stop_loss=95)


def test_validate_oco_sides() -> None:
    o = validate_oco("AAPL", "SELL", 5, limit_price=110, stop_price=95, stop_limit_price=94)
    assert (o.limit_price, o.stop_price, o.stop_limit_price) == (110.0, 95.0, 94.0)
    validate_oco("AAPL", "BUY", 5, limit_price=90, stop_price=105)
    with pytest.raises(OrderRejectedError, match="must be above stop_price"):
        validate_oco("AAPL", "SELL", 5, limit_price=90, stop_price=95)
    with pytest.raises(OrderRejectedError, match="must be below stop_price"):
        validate_oco("AAPL", "BUY", 5, limit_price=110, stop_price=95)
    with pytest.raises(OrderRejectedError, match="stop_limit_price"):
        validate_oco("AAPL", "SELL", 5, limit_price=110, stop_price=95, stop_limit_price=96)


def test_client_id_conflict() -> None:
    existing = {"symbol": "AAPL", "side": "BUY", "qty": 10.0, "order_type": "limit", "limit_price": 100.0}
    assert client_id_conflict(existing, symbol="AAPL", side="BUY", qty=10, order_type="limit", limit_price=100) == ""
    detail = client_id_conflict(existing, symbol="AAPL", side="SELL", qty=11, order_type="limit", limit_price=100)
    assert "side" in detail and "qty" in detail and "limit_price" not in detail
