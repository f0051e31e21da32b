"""The paper broker's settings: ``PaperConfig``, read from ``live_trading.paper`` once, at construction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from LIVE_TRADING.brokers.paper import costs
from LIVE_TRADING.common.constants import QTY_EPSILON
from LIVE_TRADING.common.settings import SettingsReader

_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
_ACCOUNT = r"^[A-Za-z0-9_.-]{1,64}$"


@dataclass(frozen=True)
class PaperConfig:
    """The paper broker's settings, validated once (``from_config``)."""

    initial_cash: float
    slippage_bps: float
    fee_bps: float
    log_dir: str
    resume: bool
    durability: str
    slippage_model: str
    slippage_base_bps: float
    slippage_impact_bps: float
    fee_model: str
    fee_per_share: float
    fee_min_per_order: float
    fee_max_pct_of_notional: float
    fee_maker_bps: float
    fee_taker_bps: float
    respect_quote_size: bool
    allow_short: bool
    margin_requirement: float
    end_of_day_utc: str
    max_quote_age_s: float
    data_provider: str | None
    currency: str
    account: str
    min_qty: float
    max_quote_future_s: float
    lock_timeout_s: float
    snapshot_every: int
    segment_max_bytes: int
    keep_terminal_orders: int

    @classmethod
    def from_config(cls, **kw: Any) -> PaperConfig:
        """Settings from ``live_trading.paper`` and ``live_trading.journal``; keyword arguments override.

        ``fsync=True`` is the older spelling of ``durability="fsync"``.

        Raises ``ConfigError`` listing every invalid value.
        """
        r = SettingsReader("paper", kw)
        slip_model = kw.get("slippage_model")
        fee_model = kw.get("fee_model")
        values = dict(
            initial_cash=r.number("initial_cash", ge=0),
            slippage_bps=r.number("slippage_bps", ge=0, le=9_999),
            fee_bps=r.number("fee_bps", ge=0),
            log_dir=r.string("log_dir", None if kw.get("log_dir") is None else str(kw["log_dir"])),
            resume=r.boolean("resume"),
            slippage_model=r.choice(
                "slippage.model", costs.SLIPPAGE_MODELS, slip_model if isinstance(slip_model, str) else None
            ),
            slippage_base_bps=r.number("slippage.base_bps", ge=0),
            slippage_impact_bps=r.number("slippage.impact_bps", ge=0),
            fee_model=r.choice("fees.model", costs.FEE_MODELS, fee_model if isinstance(fee_model, str) else None),
            fee_per_share=r.number("fees.per_share", ge=0),
            fee_min_per_order=r.number("fees.min_per_order", ge=0),
            fee_max_pct_of_notional=r.number("fees.max_pct_of_notional", ge=0),
            fee_maker_bps=r.number("fees.maker_bps"),
            fee_taker_bps=r.number("fees.taker_bps", ge=0),
            respect_quote_size=r.boolean("respect_quote_size"),
            allow_short=r.boolean("allow_short"),
            margin_requirement=r.number("margin_requirement", ge=0),
            end_of_day_utc=r.string(
                "end_of_day_utc", pattern=_HHMM, allowed="a time HH:MM (UTC, 24-hour clock)"
            ),
            max_quote_age_s=r.number("max_quote_age_s", gt=0),
            # a provider object passed in is used as is; a name is validated like any setting
            data_provider=r.string("data_provider", optional=True)
            if kw.get("data_provider") is None or isinstance(kw.get("data_provider"), str) else None,
            currency=r.string("currency"),
            account=r.string("account", pattern=_ACCOUNT, allowed="1-64 letters, digits, '_', '.' or '-'"),
            # below QTY_EPSILON the engine treats a quantity as zero: an order would end "filled" with nothing
            min_qty=r.number("min_qty", ge=QTY_EPSILON),
            max_quote_future_s=r.number("max_quote_future_s", ge=0),
        )
        durability = "fsync" if kw.get("fsync") else kw.get("durability")
        j = SettingsReader("journal", {**kw, "durability": durability})
        values.update(
            durability=j.choice("durability", ("fsync", "flush", "none")),
            lock_timeout_s=j.number("lock_timeout_s", ge=0),
            snapshot_every=j.integer("snapshot_every", ge=1),
            segment_max_bytes=j.integer("segment_max_bytes", ge=4096),
            keep_terminal_orders=j.integer("keep_terminal_orders", ge=0),
        )
        r.problems.extend(j.problems)
        maker = values["fee_maker_bps"]
        if isinstance(maker, float | int) and maker < -100:
            r.problems.append(f"live_trading.paper.fees.maker_bps must be a number >= -100 (a rebate), got {maker!r}")
        r.finish()
        return cls(**values)  # type: ignore[arg-type]

    def make_slippage_model(self) -> costs.SlippageModel:
        if self.slippage_model == "spread_only":
            return costs.SpreadOnly()
        if self.slippage_model == "sqrt_impact":
            return costs.SqrtImpact(self.slippage_base_bps, self.slippage_impact_bps)
        return costs.FixedBps(self.slippage_bps)

    def make_fee_model(self) -> costs.FeeModel:
        if self.fee_model == "per_share":
            return costs.PerShareFee(self.fee_per_share, self.fee_min_per_order, self.fee_max_pct_of_notional)
        if self.fee_model == "maker_taker":
            return costs.MakerTakerFee(self.fee_maker_bps, self.fee_taker_bps)
        return costs.BpsFee(self.fee_bps)



__all__ = ["PaperConfig"]
