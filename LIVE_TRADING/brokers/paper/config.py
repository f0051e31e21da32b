"""The paper broker's settings: ``PaperConfig``, read from ``live_trading.paper`` once, at construction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from CONFIG.schema import JournalSettings, PaperSettings
from LIVE_TRADING.brokers.paper import costs
from LIVE_TRADING.common.exceptions import ConfigError
from LIVE_TRADING.common.settings import section

#: flat keyword name -> dotted key inside live_trading.paper
_NESTED = {
    "slippage_model": "slippage.model",
    "slippage_base_bps": "slippage.base_bps",
    "slippage_impact_bps": "slippage.impact_bps",
    "fee_model": "fees.model",
    "fee_per_share": "fees.per_share",
    "fee_min_per_order": "fees.min_per_order",
    "fee_max_pct_of_notional": "fees.max_pct_of_notional",
    "fee_maker_bps": "fees.maker_bps",
    "fee_taker_bps": "fees.taker_bps",
}
#: keyword names that belong to live_trading.journal
_JOURNAL_KEYS = ("durability", "lock_timeout_s", "snapshot_every", "segment_max_bytes", "keep_terminal_orders")


@dataclass(frozen=True)
class PaperConfig:
    """The paper broker's settings, validated once (``from_config``) by ``CONFIG.schema.PaperSettings``."""

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
    trading_hours: str
    outside_hours: str
    lock_timeout_s: float
    snapshot_every: int
    segment_max_bytes: int
    keep_terminal_orders: int

    @classmethod
    def from_config(cls, **kw: Any) -> PaperConfig:
        """Settings from ``live_trading.paper`` and ``live_trading.journal``; keyword arguments override.

        Keyword names are the flat field names of this class (``fee_model`` for
        ``fees.model``, ``slippage_base_bps`` for ``slippage.base_bps``); ``None`` means
        "use the config". A model or provider *object* passed in is used as is by the
        broker and not validated here. ``fsync=True`` is the older spelling of
        ``durability="fsync"`` (``fsync=False`` leaves the configured durability).
        Raises ``ConfigError`` listing every invalid value.
        """
        overrides: dict[str, Any] = {}
        for name, value in kw.items():
            if name == "fsync" or name in _JOURNAL_KEYS:
                continue
            if name in ("slippage_model", "fee_model", "data_provider") and not (value is None or isinstance(value, str)):
                continue  # an object: the broker uses it directly
            overrides[_NESTED.get(name, name)] = str(value) if name == "log_dir" and value is not None else value
        if kw.get("fsync") is not None and not isinstance(kw["fsync"], bool):
            raise ConfigError(f"fsync must be true or false, got {kw['fsync']!r} (keyword argument)")
        journal_kw = {name: kw.get(name) for name in _JOURNAL_KEYS}
        if kw.get("fsync") is True and kw.get("durability") is None:
            journal_kw["durability"] = "fsync"
        paper: PaperSettings = section("paper", overrides)
        journal: JournalSettings = section("journal", journal_kw)
        return cls(
            initial_cash=paper.initial_cash,
            slippage_bps=paper.slippage_bps,
            fee_bps=paper.fee_bps,
            log_dir=paper.log_dir,
            resume=paper.resume,
            durability=journal.durability,
            lock_timeout_s=journal.lock_timeout_s,
            snapshot_every=journal.snapshot_every,
            segment_max_bytes=journal.segment_max_bytes,
            keep_terminal_orders=journal.keep_terminal_orders,
            slippage_model=paper.slippage.model,
            slippage_base_bps=paper.slippage.base_bps,
            slippage_impact_bps=paper.slippage.impact_bps,
            fee_model=paper.fees.model,
            fee_per_share=paper.fees.per_share,
            fee_min_per_order=paper.fees.min_per_order,
            fee_max_pct_of_notional=paper.fees.max_pct_of_notional,
            fee_maker_bps=paper.fees.maker_bps,
            fee_taker_bps=paper.fees.taker_bps,
            respect_quote_size=paper.respect_quote_size,
            allow_short=paper.allow_short,
            margin_requirement=paper.margin_requirement,
            end_of_day_utc=paper.end_of_day_utc,
            max_quote_age_s=paper.max_quote_age_s,
            data_provider=paper.data_provider,
            currency=paper.currency,
            account=paper.account,
            min_qty=paper.min_qty,
            max_quote_future_s=paper.max_quote_future_s,
            trading_hours=paper.trading_hours,
            outside_hours=paper.outside_hours,
        )

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
