"""Slippage and fee models for the paper broker (pure, no state, no I/O).

Slippage models answer "how many basis points worse than the quote does a
*taking* fill of ``qty`` get, when ``displayed`` is shown on that side?":

``FixedBps(bps)``                 every taking fill pays ``bps`` (the seed's model)
``SpreadOnly()``                  0: crossing the spread is the only cost
``SqrtImpact(base_bps, impact_bps)``
                                  ``base_bps + impact_bps * sqrt(qty / displayed)``,
                                  the square-root market impact law

A BUY fills at ``ask * (1 + bps / 1e4)``, a SELL at ``bid * (1 - bps / 1e4)``
(``apply_slippage``).

Fee models answer "what does an order cost in fees?". Fees can depend on the
whole order (minimums, caps), so a model gives the fee for an order's
*cumulative* filled quantity and notional; each fill is charged the difference
(``fill_fee``), which charges a per-order minimum exactly once however many
partial fills there are:

``BpsFee(bps)``                   ``notional * bps / 1e4`` (the seed's model)
``PerShareFee(per_share, min_per_order, max_pct_of_notional)``
                                  IB tiered style: ``qty * per_share``, at least
                                  ``min_per_order``, at most ``max_pct_of_notional``
                                  percent of notional
``MakerTakerFee(maker_bps, taker_bps)``
                                  resting (maker) fills pay ``maker_bps``, taking
                                  fills ``taker_bps`` (negative maker = rebate)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

MAKER = "maker"
TAKER = "taker"


@runtime_checkable
class SlippageModel(Protocol):
    def bps(self, qty: float, displayed: float) -> float:
        """Slippage in bps for a taking fill of ``qty`` with ``displayed`` shown on that side."""
        ...


@runtime_checkable
class FeeModel(Protocol):
    def order_fee(self, qty: float, notional: float, liquidity: str) -> float:
        """Fee for an order whose fills add up to ``qty`` and ``notional``."""
        ...

    def max_fee(self, qty: float, notional: float) -> float:
        """An upper bound of ``order_fee`` (what an open order reserves)."""
        ...


@dataclass(frozen=True, slots=True)
class FixedBps:
    value: float = 5.0

    def bps(self, qty: float, displayed: float) -> float:
        return self.value


@dataclass(frozen=True, slots=True)
class SpreadOnly:
    def bps(self, qty: float, displayed: float) -> float:
        return 0.0


@dataclass(frozen=True, slots=True)
class SqrtImpact:
    """``base_bps + impact_bps * sqrt(qty / displayed)``; an empty side counts as ``displayed == qty``."""

    base_bps: float = 1.0
    impact_bps: float = 10.0

    def bps(self, qty: float, displayed: float) -> float:
        ratio = qty / displayed if displayed > 0 else 1.0
        return self.base_bps + self.impact_bps * math.sqrt(ratio)


#: the most slippage any model may charge: a SELL never fills below 1% of its reference price
MAX_SLIPPAGE_BPS = 9_900.0


def apply_slippage(reference: float, is_buy: bool, bps: float) -> float:
    """The fill price ``bps`` worse than ``reference`` for the given side (capped at ``MAX_SLIPPAGE_BPS``).

    Every slippage model goes through here, so a fill price is always > 0.
    """
    if bps > MAX_SLIPPAGE_BPS:
        bps = MAX_SLIPPAGE_BPS
    return reference * (1.0 + bps * 1e-4) if is_buy else reference * (1.0 - bps * 1e-4)


@dataclass(frozen=True, slots=True)
class BpsFee:
    value: float = 1.0

    def order_fee(self, qty: float, notional: float, liquidity: str) -> float:
        return notional * self.value * 1e-4

    def max_fee(self, qty: float, notional: float) -> float:
        return max(0.0, notional * self.value * 1e-4)


@dataclass(frozen=True, slots=True)
class PerShareFee:
    per_share: float = 0.005
    min_per_order: float = 1.0
    max_pct_of_notional: float = 1.0

    def order_fee(self, qty: float, notional: float, liquidity: str) -> float:
        if qty <= 0:
            return 0.0
        fee = max(qty * self.per_share, self.min_per_order)
        return min(fee, notional * self.max_pct_of_notional / 100.0)

    def max_fee(self, qty: float, notional: float) -> float:
        return self.order_fee(qty, notional, TAKER)


@dataclass(frozen=True, slots=True)
class MakerTakerFee:
    maker_bps: float = 0.0
    taker_bps: float = 1.0

    def order_fee(self, qty: float, notional: float, liquidity: str) -> float:
        return notional * (self.maker_bps if liquidity == MAKER else self.taker_bps) * 1e-4

    def max_fee(self, qty: float, notional: float) -> float:
        return max(0.0, notional * max(self.maker_bps, self.taker_bps) * 1e-4)


def fill_fee(
    model: FeeModel, prior_qty: float, prior_notional: float, qty: float, notional: float, liquidity: str
) -> float:
    """Fee of one fill: the order's fee after it minus the order's fee before it.

    For linear models this is just the fill's own fee; for ``PerShareFee`` it
    charges the per-order minimum on the first fill and caps the order's total.
    """
    if type(model) in _LINEAR:  # linear: skip the subtraction
        return model.order_fee(qty, notional, liquidity)
    after = model.order_fee(prior_qty + qty, prior_notional + notional, liquidity)
    before = model.order_fee(prior_qty, prior_notional, liquidity) if prior_qty > 0 else 0.0
    return after - before


#: fee models whose fee of a fill is just its own fee (``fill_fee`` skips the subtraction for them)
LINEAR_FEES = frozenset({BpsFee, MakerTakerFee})
_LINEAR = LINEAR_FEES

SLIPPAGE_MODELS = ("fixed_bps", "spread_only", "sqrt_impact")
FEE_MODELS = ("bps", "per_share", "maker_taker")

__all__ = [
    "FEE_MODELS",
    "LINEAR_FEES",
    "MAKER",
    "MAX_SLIPPAGE_BPS",
    "SLIPPAGE_MODELS",
    "TAKER",
    "BpsFee",
    "FeeModel",
    "FixedBps",
    "MakerTakerFee",
    "PerShareFee",
    "SlippageModel",
    "SpreadOnly",
    "SqrtImpact",
    "apply_slippage",
    "fill_fee",
]
