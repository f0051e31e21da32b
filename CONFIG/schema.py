"""The one configuration schema: every key, its type, bounds, default and meaning, written once.

``Config`` is the whole file; each section of ``live_trading`` is its own model
(``PaperSettings`` for ``live_trading.paper``, ...). The packaged
``CONFIG/live_trading.yaml`` holds the same defaults with comments (a test keeps them
equal); ``live-trading config schema`` prints ``Config``'s JSON Schema for editors, and
``live-trading config show`` the effective values.

Every model forbids unknown keys. Numbers must be finite and within their bounds,
bools real YAML booleans, choices one of their words. Rules that compare settings
with each other or with the outside world (the live-money guards of Binance and
IBKR, whether a replay file exists) live with the component that needs them, so a
keyword argument can still settle them.

This module is long because it is the list of every setting; it has no logic besides
the per-key checks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, field_validator, model_validator

from CONFIG.ibkr_contracts import check_contract_table
from CONFIG.types import Bool, Integer, Number, Section, Text, TextList, choice, model_schema, problem

#: choices shared with the code that uses them (tests check they stay equal)
SLIPPAGE_MODELS = ("fixed_bps", "spread_only", "sqrt_impact")
FEE_MODELS = ("bps", "per_share", "maker_taker")
BARS = ("1m", "2m", "5m", "15m", "30m", "60m", "90m", "1h", "1d", "5d", "1wk", "1mo", "3mo")
QUOTE_PERIODS = ("1d", "5d")
QUOTE_INTERVALS = ("1m", "2m", "5m", "15m", "30m", "60m", "90m", "1h")
BAR_TIMES = ("end", "start")
REBALANCE_ORDER_TYPES = ("market", "limit")
STRATEGY_NAMES = ("equal_weight", "ma_crossover")
DURABILITY = ("fsync", "flush", "none")
TRADING_HOURS = ("quotes", "calendar", "always")
OUTSIDE_HOURS = ("queue", "reject")
ASSET_CLASSES = ("equity", "crypto", "forex")
CASH_TAGS = ("TotalCashValue", "AvailableFunds")

_NAME = r"^[a-z][a-z0-9_]*$"
_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
_ACCOUNT = r"^[A-Za-z0-9_.-]{1,64}$"
MiB = 1024 * 1024


def _name(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _cash_tag(value: Any) -> Any:
    if isinstance(value, str):
        return next((tag for tag in CASH_TAGS if tag.lower() == value.strip().lower()), value)
    return value


Name = Annotated[str, BeforeValidator(_name), Field(pattern=_NAME, strict=True)]
Bps = Annotated[Number, Field(ge=0, lt=10_000)]


# --- live_trading.paper ---------------------------------------------------------
class SlippageSettings(Section):
    model: choice(*SLIPPAGE_MODELS) = Field(  # type: ignore[valid-type]
        "fixed_bps",
        description="fixed_bps (slippage_bps on every fill) | spread_only (none beyond the spread) | "
        "sqrt_impact (base_bps + impact_bps * sqrt(qty / displayed size))",
    )
    base_bps: Bps = Field(1.0, description="sqrt_impact: slippage at zero size, in bps.")
    impact_bps: Bps = Field(10.0, description="sqrt_impact: slippage added when qty equals the displayed size, in bps.")


class FeeSettings(Section):
    model: choice(*FEE_MODELS) = Field(  # type: ignore[valid-type]
        "bps", description="bps (fee_bps of notional) | per_share (IB tiered style) | maker_taker"
    )
    per_share: Number = Field(0.005, ge=0, description="per_share: fee per share/unit.")
    min_per_order: Number = Field(1.0, ge=0, description="per_share: minimum fee per order.")
    max_pct_of_notional: Number = Field(1.0, ge=0, description="per_share: maximum fee per order, in percent of notional.")
    maker_bps: Number = Field(0.0, ge=-100, lt=10_000,
                              description="maker_taker: bps on fills of resting orders (negative = a rebate).")
    taker_bps: Bps = Field(1.0, description="maker_taker: bps on orders that take liquidity.")


class PaperSettings(Section):
    initial_cash: Number = Field(100000.0, ge=0, description="Starting cash of a new paper account (reset() returns to it).")
    slippage_bps: Bps = Field(5.0, description="Slippage of the fixed_bps model, in basis points (1 bp = 0.01%).")
    fee_bps: Bps = Field(1.0, description="Fee of the bps fee model, in basis points of notional.")
    log_dir: Text = Field("logs/paper_trades", description="Where the paper accounts' journals are written.")
    resume: Bool = Field(False, description="Continue the account found in log_dir (cash, positions, orders, fills).")
    account: Annotated[str, Field(pattern=_ACCOUNT, strict=True)] = Field(
        "default", description="Name of the paper account (a directory under log_dir).")
    slippage: SlippageSettings = Field(SlippageSettings(), description="How fills are slipped.")
    fees: FeeSettings = Field(FeeSettings(), description="How fees are charged.")
    respect_quote_size: Bool = Field(False, description="A fill takes at most the displayed size on the other side.")
    allow_short: Bool = Field(False, description="Allow selling more than is held (short) while equity covers the margin.")
    margin_requirement: Number = Field(0.5, ge=0, description="Shorts need equity >= margin_requirement * gross short value.")
    end_of_day_utc: Annotated[str, Field(pattern=_HHMM, strict=True)] = Field(
        "00:00", description="End of the trading day for time_in_force day orders, HH:MM in UTC.",
        json_schema_extra={"x-allowed": "a time HH:MM (UTC, 24-hour clock)"})
    data_provider: Name | None = Field(
        None, description="Data provider to price orders from when no fresh quote was set: "
        "null | sim | replay | yfinance | binance | ibkr")
    max_quote_age_s: Number = Field(60.0, gt=0, description="Quotes older than this (seconds) are refused as stale.")
    max_quote_future_s: Number = Field(
        5.0, ge=0, description="Quotes stamped more than this many seconds ahead of the broker clock are refused.")
    # >= 1e-9 (QTY_EPSILON): below it the paper engine treats a quantity as zero and an order would end
    # "filled" having filled nothing
    min_qty: Number = Field(1e-8, ge=1e-9, description="Smallest order quantity accepted (at least 1e-9).")
    trading_hours: choice(*TRADING_HOURS) = Field(  # type: ignore[valid-type]
        "quotes", description="When the market is open: quotes (whenever fresh quotes come) | "
        "calendar (the exchange calendar of the symbol's asset class) | always")
    outside_hours: choice(*OUTSIDE_HOURS) = Field(  # type: ignore[valid-type]
        "queue", description="Orders sent while the market is closed: queue (until it opens) | reject")
    currency: Text = Field("USD", description="Currency the paper account is kept in (cash, fees).")


# --- live_trading.journal -------------------------------------------------------
class JournalSettings(Section):
    durability: choice(*DURABILITY) = Field(  # type: ignore[valid-type]
        "flush", description="fsync (every record reaches the disk: survives power loss; slower) | "
        "flush (every record reaches the OS: survives a crash of the process) | none (buffered)")
    lock_timeout_s: Number = Field(5.0, ge=0, description="Seconds to wait for the account lock held by another process.")
    snapshot_every: Integer = Field(10000, ge=1, description="Write a snapshot every this many records.")
    segment_max_bytes: Integer = Field(64 * MiB, ge=4096,
                                       description="Start a new journal segment when the current one reaches this size.")
    keep_terminal_orders: Integer = Field(10000, ge=0,
                                          description="Finished orders kept in memory (older ones are read from the journal).")

    @model_validator(mode="before")
    @classmethod
    def _old_fsync_key(cls, value: Any) -> Any:
        """``fsync: true`` (the old key) still means ``durability: fsync``."""
        if isinstance(value, dict) and "fsync" in value:
            value = dict(value)
            old = value.pop("fsync")
            if not isinstance(old, bool):
                raise problem([f"live_trading.journal.fsync (replaced by durability) must be true or false, got {old!r}"])
            if "durability" in value and old and value["durability"] != "fsync":
                raise problem(["live_trading.journal.fsync: true contradicts durability; keep only durability"])
            if old:
                value["durability"] = "fsync"
        return value


# --- live_trading.circuit / monitoring / alerts -----------------------------------
class CircuitSettings(Section):
    enabled: Bool = Field(True, description="Put a circuit breaker in front of every external service.")
    failure_threshold: Integer = Field(5, ge=1, description="Consecutive connection failures that open it.")
    error_rate_threshold: Number = Field(0.5, gt=0, le=1, description="Error rate over window_s that opens it.")
    window_s: Number = Field(60.0, gt=0, description="Seconds the error rate is measured over.")
    min_calls: Integer = Field(10, ge=1, description="Calls in the window before the error rate is judged.")
    cooldown_s: Number = Field(30.0, gt=0, description="Seconds open before one probe call goes through.")


class MonitoringSettings(Section):
    host: Text = Field("127.0.0.1", description="Address `live-trading serve` binds.")
    port: Integer = Field(9108, ge=0, le=65535, description="Port (0 = a free one).")
    token: str | None = Field(None, description="Bearer token guarding everything but /health (an ${ENV} reference).")
    health_check_s: Number = Field(15.0, gt=0, description="Seconds between background health checks.")
    max_quote_age_s: Number = Field(300.0, gt=0, description="A last quote older than this makes the status degraded.")
    degraded_headroom: Number = Field(0.2, ge=0, le=1, description="Degraded below this fraction of rate limit left.")
    degraded_reject_rate: Number = Field(0.5, ge=0, le=1, description="Degraded above this fraction of rejections.")

    @field_validator("token", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


class WebhookSettings(Section):
    url: Text | None = Field(None, description="http(s) URL receiving a JSON POST per alert; null = none.")
    format: choice("generic", "slack", "discord") = Field("generic", description="Payload shape.")  # type: ignore[valid-type]

    @field_validator("url", mode="before")
    @classmethod
    def _http_url(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip():
            parts = urlsplit(value.strip())
            if parts.scheme not in ("http", "https") or not parts.netloc:
                shown = f"{parts.scheme}://{parts.netloc}/..." if parts.netloc else value[:8] + "..."
                raise problem([f"live_trading.alerts.webhook.url must be an http:// or https:// URL, got {shown!r}"])
        return value


class EmailSettings(Section):
    host: Text | None = Field(None, description="SMTP server; null = no e-mail.")
    port: Integer = Field(25, ge=1, le=65535, description="SMTP port.")
    sender: Text | None = Field(None, description="From address.")
    to: TextList | None = Field(None, description="Recipients.")
    username: Text | None = Field(None, description="SMTP user (an ${ENV} reference).")
    password: Text | None = Field(None, description="SMTP password (only as an ${ENV} reference).")
    starttls: Bool = Field(False, description="Upgrade the connection with STARTTLS before logging in.")

    @model_validator(mode="after")
    def _complete(self) -> EmailSettings:
        if self.host is not None and (not self.sender or not self.to):
            raise problem(["live_trading.alerts.email needs sender and to when email.host is set"])
        return self


class AlertsSettings(Section):
    enabled: Bool = Field(True, description="Send alerts (they always go to the log).")
    account: Text | None = Field(None, description="Account name carried by every alert.")
    dedup_window_s: Number = Field(300.0, ge=0, description="The same alert is sent at most once per this many seconds.")
    queue_size: Integer = Field(1000, ge=1, description="Alerts waiting for a slow sink.")
    max_retries: Integer = Field(5, ge=0, description="Retries of a failing sink.")
    backoff_base_s: Number = Field(1.0, ge=0, description="First wait between retries.")
    backoff_max_s: Number = Field(60.0, ge=0, description="Longest wait between retries.")
    timeout_s: Number = Field(10.0, gt=0, description="Seconds each webhook POST / SMTP conversation may take.")
    reject_storm_count: Integer = Field(10, ge=1, description="Rejections within reject_storm_window_s that alert.")
    reject_storm_window_s: Number = Field(60.0, gt=0, description="Window of the reject storm, seconds.")
    reconnect_alert_after_s: Number = Field(120.0, ge=0, description="IBKR: alert after reconnecting fails this long.")
    webhook: WebhookSettings = Field(WebhookSettings(), description="Webhook sink.")
    email: EmailSettings = Field(EmailSettings(), description="E-mail sink.")


# --- live_trading.risk ----------------------------------------------------------
class RiskSettings(Section):
    trading_enabled: Bool = Field(True, description="Kill switch: false refuses every new order on every venue.")
    max_order_value: Number | None = Field(None, gt=0, description="Largest notional (qty * price) of one order; null = no limit.")
    max_order_qty: Number | None = Field(None, gt=0, description="Largest quantity of one order; null = no limit.")
    max_position_value: Number | None = Field(
        None, gt=0, description="Largest absolute position value per symbol after the order; null = no limit.")
    allowed_symbols: TextList | None = Field(None, description="Only these symbols may be traded; null = any.")


# --- live_trading.data ----------------------------------------------------------
class SimSymbol(Section):
    start_price: Number | None = Field(None, gt=0, description="Price at start_time.")
    drift: Number | None = Field(None, description="Annualised drift.")
    volatility: Number | None = Field(None, ge=0, description="Annualised volatility.")
    spread_bps: Bps | None = Field(None, description="Quoted spread, in bps.")
    size: Number | None = Field(None, ge=0, description="Displayed size on each side.")


def _iso_time(value: Any) -> Any:
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("not an ISO-8601 time")
    return datetime.fromisoformat(value.strip())


class SimSettings(Section):
    seed: Integer = Field(42, ge=0, description="Random seed: same seed, same prices, on every machine.")
    start_price: Number = Field(100.0, gt=0, description="Price of every symbol at start_time.")
    drift: Number = Field(0.05, description="Annualised drift of the geometric Brownian motion.")
    volatility: Number = Field(0.2, ge=0, description="Annualised volatility of the geometric Brownian motion.")
    spread_bps: Bps = Field(2.0, description="Quoted spread in bps.")
    size: Number = Field(1000.0, ge=0, description="Displayed size on each side.")
    symbols: dict[Text, SimSymbol] = Field(default_factory=dict, description="Per-symbol overrides, e.g. AAPL: {start_price: 190.0}.")
    universe: Literal["default", "any"] | list[Text] = Field(
        "default", description="Symbols the simulator knows (orders for others are refused with a suggestion): "
        "default (common US equities, ETFs and crypto pairs), any, or a list; symbols under `symbols` are added.")
    start_time: Annotated[datetime | None, BeforeValidator(_iso_time)] = Field(
        None, description="When every path is at its start_price, ISO-8601 with offset; null = the clock's time "
        "when the provider is built.",
        json_schema_extra={"x-allowed": "an ISO-8601 time with a UTC offset (e.g. 2026-01-05T14:30:00+00:00) or null"})

    @field_validator("start_time")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("the time has no UTC offset")
        return value

    @field_validator("symbols")
    @classmethod
    def _upper(cls, value: dict[str, SimSymbol]) -> dict[str, SimSymbol]:
        return {k.upper(): v for k, v in value.items()}


class ReplaySettings(Section):
    path: Text | None = Field(None, description="CSV or Parquet file of quotes (timestamp,symbol,bid,ask[,bid_size,"
                              "ask_size]) or bars (timestamp,symbol,open,high,low,close[,volume]).")
    spread_bps: Bps = Field(2.0, description="Synthetic spread (bps) around a bar's close.")
    size: Number = Field(1000.0, ge=0, description="Displayed size for bars and for quotes without sizes.")
    bar_time: choice(*BAR_TIMES) = Field(  # type: ignore[valid-type]
        "end", description="What a bar row's timestamp marks: end (its close is known then) | start.")


class YFinanceSettings(Section):
    cache_ttl_s: Number = Field(30.0, ge=0, description="Seconds a fetched quote is reused before asking Yahoo again.")
    spread_bps: Bps = Field(10.0, description="Synthetic spread (bps) around the last price when Yahoo gives no bid/ask.")
    size: Number = Field(100.0, ge=0, description="Displayed size on each side of a synthetic quote.")
    quote_period: choice(*QUOTE_PERIODS) = Field("1d", description="Period of the download quotes come from.")  # type: ignore[valid-type]
    quote_interval: choice(*QUOTE_INTERVALS) = Field("1m", description="Bar interval of that download.")  # type: ignore[valid-type]
    timeout_s: Number = Field(10.0, gt=0, description="Seconds each Yahoo request may take.")
    bid_ask: Bool = Field(False, description="Also ask Yahoo's quote endpoint for bid/ask/sizes.")
    max_spread_bps: Bps = Field(50.0, description="Yahoo bid/ask are used only within this spread (bps).")


class DataSettings(Section):
    provider: Name = Field("sim", description="Quote source for pipelines: sim | replay | yfinance | binance | ibkr")
    sim: SimSettings = Field(SimSettings(), description="The offline simulator.")
    replay: ReplaySettings = Field(ReplaySettings(), description="Replay of a recorded file.")
    yfinance: YFinanceSettings = Field(YFinanceSettings(), description="Yahoo Finance.")


# --- live_trading.pipeline ------------------------------------------------------
class PipelineSettings(Section):
    symbols: TextList = Field(["AAPL", "MSFT", "GOOG"], min_length=1, description="Symbols `live-trading run` trades.")
    strategy: choice(*STRATEGY_NAMES) = Field("ma_crossover", description="Strategy by name.")  # type: ignore[valid-type]
    steps: Integer = Field(100, ge=1, description="Number of steps (one per bar).")
    bar: choice(*BARS) = Field("1h", description="Bar length, one step per bar.")  # type: ignore[valid-type]
    interval_s: Number | None = Field(None, ge=0, description="Real seconds between steps; null = none on the "
                                      "offline simulator, one bar everywhere else.")
    min_trade_value: Number = Field(100.0, ge=0, description="Trades worth less than this are skipped.")
    qty_step: Number | None = Field(None, gt=0, description="Round every trade toward zero to a multiple of this.")
    order_type: choice(*REBALANCE_ORDER_TYPES) = Field("market", description="market | limit (at the touch).")  # type: ignore[valid-type]
    cancel_open_on_exit: Bool = Field(True, description="Cancel the run's open orders when it stops.")

    @field_validator("symbols")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        return [s.upper() for s in value]


# --- live_trading.binance -------------------------------------------------------
class BinanceSettings(Section):
    api_key: str | None = Field(None, description="API key: only as an environment reference such as ${BINANCE_API_KEY}.")
    api_secret: str | None = Field(None, description="API secret: only as an environment reference.")
    testnet: Bool = Field(True, description="true = Spot Testnet; false = real money (needs allow_live).")
    base_url: Text | None = Field(None, description="Override the REST base URL (null = chosen by testnet).")
    quote_asset: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{2,20}$", strict=True)] = Field(
        "USDT", description="The asset cash is counted in.", json_schema_extra={"x-allowed": "an asset code such as USDT"})
    recv_window_ms: Integer = Field(5000, ge=1, le=60000, description="recvWindow of signed requests, ms.")
    order_timeout_s: Number = Field(10.0, ge=0, description="How long submit_order polls an order that is not final yet.")
    allow_live: Bool = Field(False, description="Must be true to trade a live (non-testnet) account.")
    log_dir: Text = Field("logs/binance", description="Where the Binance journal is written.")
    request_timeout_s: Number = Field(10.0, gt=0, description="Seconds to wait for each HTTP answer.")
    max_retries: Integer = Field(3, ge=0, le=20, description="Retries of requests that are safe to repeat.")
    backoff_base_s: Number = Field(0.5, ge=0, description="Backoff base between retries, seconds.")
    backoff_max_s: Number = Field(8.0, ge=0, description="Backoff cap between retries, seconds.")
    max_retry_after_s: Number = Field(60.0, ge=0, description="Longest Retry-After of a 429/418 waited out.")
    poll_interval_s: Number = Field(0.5, gt=0, description="Seconds between polls of an order that is not final yet.")
    weight_headroom: Number = Field(0.8, gt=0, le=1, description="Slow down before used weight reaches this fraction.")
    exchange_info_ttl_s: Number = Field(3600.0, ge=0, description="Seconds exchangeInfo is reused.")
    reconcile_attempts: Integer = Field(2, ge=1, le=20, description="Look-ups of an order whose answer was lost.")
    reconcile_delay_s: Number = Field(1.0, ge=0, description="Seconds between those look-ups.")

    @field_validator("quote_asset")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


# --- live_trading.ibkr ----------------------------------------------------------
class IBKRConfig(Section):
    host: Text = Field("127.0.0.1", description="TWS / IB Gateway API host.")
    port: Integer = Field(7497, ge=1, le=65535, description="7497 TWS paper, 7496 TWS live, 4002/4001 Gateway paper/live.")
    client_id: Integer = Field(1, ge=0, le=2**31 - 1, description="API client id (another is tried if in use).")
    account: Text | None = Field(None, description="Account code (null = the first managed account).")
    connect_timeout_s: Number = Field(10.0, gt=0, description="Seconds to wait for the connection.")
    order_timeout_s: Number = Field(10.0, gt=0, description="Seconds to wait for an order to reach a reportable state.")
    market_data_type: Integer = Field(1, ge=1, le=4, description="1 live, 2 frozen, 3 delayed, 4 delayed frozen.")
    readonly: Bool = Field(False, description="Connect read-only (no orders).")
    allow_live: Bool = Field(False, description="Must be true to use a live-account port (7496, 4001).")
    log_dir: Text = Field("logs/ibkr", description="Where the IBKR journal is written.")
    request_timeout_s: Number = Field(15.0, gt=0, description="Seconds to wait for a read.")
    delayed_fallback: Bool = Field(True, description="Switch to delayed data when live data is not subscribed.")
    cash_tag: Annotated[Literal["TotalCashValue", "AvailableFunds"], BeforeValidator(_cash_tag)] = Field(
        "TotalCashValue", description="Account value get_cash() reports.")
    contracts: dict[str, Any] = Field(default_factory=dict, description="Symbols that are not plain US stocks, "
                                      "forex or PAXOS crypto: symbol -> IB contract fields.")
    client_id_retries: Integer = Field(5, ge=0, le=100, description="Other client ids tried when ours is in use.")
    reconnect_attempts: Integer = Field(3, ge=1, le=1000, description="Reconnect attempts after a dropped connection.")
    reconnect_backoff_s: Number = Field(1.0, ge=0, description="First wait between reconnect attempts, seconds.")
    reconnect_backoff_max_s: Number = Field(30.0, ge=0, description="Longest wait between reconnect attempts.")
    ack_grace_s: Number = Field(0.25, ge=0, description="Wait for an immediate fill after IB acknowledged an order.")
    commission_wait_s: Number = Field(2.0, ge=0, description="Seconds to wait for commission reports after a fill.")
    pacing_retries: Integer = Field(2, ge=0, le=100, description="Retries after a historical-data pacing violation.")
    pacing_backoff_s: Number = Field(15.0, ge=0, description="Wait before each of those retries, seconds.")
    use_rth: Bool = Field(True, description="Historical bars from regular trading hours only.")
    quote_batch_size: Integer = Field(50, ge=1, le=100, description="Snapshot quotes requested at once.")
    ib_module: Name | None = Field(None, description="IB client library: null = ib_async if installed, else ib_insync.")

    @field_validator("account")
    @classmethod
    def _upper_account(cls, value: str | None) -> str | None:
        return value.upper() if value else None

    @field_validator("contracts", mode="before")
    @classmethod
    def _contracts(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        table, found = check_contract_table(value, "live_trading.ibkr.contracts")
        if found:
            raise problem(found)
        return table


# --- live_trading ---------------------------------------------------------------
class LiveTradingSettings(Section):
    venue: Name = Field("paper", description="Which broker get_broker() builds: paper | binance | ibkr")
    confirm: Bool = Field(True, description="Live runs ask for confirmation before trading.")
    asset_classes: dict[Text, choice(*ASSET_CLASSES)] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="Asset class of symbols the code cannot tell on its own: "
        "SYMBOL: equity | crypto | forex.")
    paper: PaperSettings = Field(PaperSettings(), description="The paper broker.")
    journal: JournalSettings = Field(JournalSettings(), description="The write-ahead journal.")
    risk: RiskSettings = Field(RiskSettings(), description="Pre-trade risk limits on every venue.")
    circuit: CircuitSettings = Field(CircuitSettings(), description="Circuit breakers in front of external services.")
    monitoring: MonitoringSettings = Field(MonitoringSettings(), description="`live-trading serve` endpoints.")
    alerts: AlertsSettings = Field(AlertsSettings(), description="Alerts and their sinks.")
    data: DataSettings = Field(DataSettings(), description="Quote sources.")
    pipeline: PipelineSettings = Field(PipelineSettings(), description="`live-trading run` defaults.")
    binance: BinanceSettings = Field(BinanceSettings(), description="The Binance spot venue.")
    ibkr: IBKRConfig = Field(IBKRConfig(), description="Interactive Brokers (TWS / IB Gateway).")

    @field_validator("asset_classes")
    @classmethod
    def _upper(cls, value: dict[str, str]) -> dict[str, str]:
        return {k.upper(): v for k, v in value.items()}


class Config(Section):
    """The whole file: everything lives under ``live_trading``."""

    live_trading: LiveTradingSettings = Field(LiveTradingSettings(), description="LIVE_TRADING settings.")

    @model_validator(mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        if isinstance(value, dict) and "live_trading" in value and value["live_trading"] is None:
            return {**value, "live_trading": {}}
        return value


#: dotted section name (below ``live_trading``) -> its model
SECTIONS: dict[str, type[Section]] = {
    "": LiveTradingSettings,
    "paper": PaperSettings,
    "journal": JournalSettings,
    "risk": RiskSettings,
    "circuit": CircuitSettings,
    "monitoring": MonitoringSettings,
    "alerts": AlertsSettings,
    "data": DataSettings,
    "data.sim": SimSettings,
    "data.replay": ReplaySettings,
    "data.yfinance": YFinanceSettings,
    "pipeline": PipelineSettings,
    "binance": BinanceSettings,
    "ibkr": IBKRConfig,
}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the whole file (what ``live-trading config schema`` prints)."""
    schema = model_schema(Config)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "LIVE_TRADING configuration"
    return schema


__all__ = [
    "SECTIONS",
    "BinanceSettings",
    "Config",
    "DataSettings",
    "IBKRConfig",
    "JournalSettings",
    "LiveTradingSettings",
    "PaperSettings",
    "PipelineSettings",
    "ReplaySettings",
    "RiskSettings",
    "SimSettings",
    "YFinanceSettings",
    "json_schema",
]
