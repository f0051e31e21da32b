"""CONFIG.config_loader, the schema (CONFIG/schema.py) and section() overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from CONFIG.config_loader import (
    PACKAGED_CONFIG,
    EnvVarMissingError,
    get_cfg,
    load_config,
    reload_config,
    validated_config,
)
from CONFIG.schema import Config
from LIVE_TRADING.brokers.paper import PaperBroker, PaperConfig
from LIVE_TRADING.common.exceptions import ConfigError
from LIVE_TRADING.common.settings import section


def _leaves(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict) and v:
            yield from _leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def test_packaged_defaults_match_the_schema_defaults():
    data = yaml.safe_load(PACKAGED_CONFIG.read_text())["live_trading"]
    file_leaves = dict(_leaves(data))
    code_leaves = dict(_leaves(Config().model_dump(mode="json")["live_trading"]))
    assert set(file_leaves) == set(code_leaves)
    for key, value in code_leaves.items():
        if isinstance(file_leaves[key], str) and file_leaves[key].startswith("${"):
            continue  # secrets: environment references in the file, None in code
        assert file_leaves[key] == value, key


def test_packaged_defaults_document_every_key():
    """Every setting line sits in a run of settings that a comment line introduces."""
    lines = PACKAGED_CONFIG.read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.endswith(":"):
            continue  # blank, comment, or a section header
        j = i - 1
        while lines[j].strip() and not lines[j].strip().startswith("#") and not lines[j].strip().endswith(":"):
            j -= 1
        assert lines[j].strip().startswith("#"), f"setting without a comment: {line!r}"


def test_default_venue_is_paper():
    assert get_cfg("live_trading.venue") == "paper"


def test_dotted_keys_and_defaults(write_config):
    write_config({"paper": {"fee_bps": 2.5}})
    assert get_cfg("live_trading.paper.fee_bps") == 2.5
    assert get_cfg("live_trading.paper.nope", default=7) == 7
    assert get_cfg("live_trading.nope.deeper", default=None) is None
    with pytest.raises(KeyError):
        get_cfg("live_trading.paper.nope")


def test_explicit_zero_is_zero_not_default(write_config):
    write_config({"paper": {"fee_bps": 0, "slippage_bps": 0}})
    assert get_cfg("live_trading.paper.fee_bps", default=99) == 0
    b = PaperBroker(initial_cash=1000)
    b.set_quote("AAPL", 100, 100)
    r = b.submit_order("AAPL", "BUY", 1)
    assert r["fill_price"] == 100.0 and r["fee"] == 0.0
    assert b.get_cash() == 900.0


def test_zero_kwargs_override_config(write_config):
    write_config({"paper": {"fee_bps": 10, "slippage_bps": 10}})
    b = PaperBroker(initial_cash=1000, fee_bps=0, slippage_bps=0)
    b.set_quote("AAPL", 100, 100)
    r = b.submit_order("AAPL", "BUY", 2)
    assert r["fill_price"] == 100.0 and r["fee"] == 0.0


def test_initial_cash_zero_is_honoured():
    b = PaperBroker(initial_cash=0)
    assert b.get_cash() == 0.0


def test_env_expansion(write_config, monkeypatch):
    write_config(raw="live_trading:\n  venue: ${LT_VENUE:paper}\n  binance:\n    api_key: ${LT_KEY}\n"
                 "  paper:\n    log_dir: ${LT_DIR}/x\n")
    monkeypatch.setenv("LT_DIR", "/tmp/abc")
    assert get_cfg("live_trading.venue") == "paper"
    monkeypatch.setenv("LT_VENUE", "binance")
    assert get_cfg("live_trading.venue") == "binance"
    assert get_cfg("live_trading.paper.log_dir") == "/tmp/abc/x"
    # the unset variable is only an error for the key that uses it
    with pytest.raises(EnvVarMissingError) as err:
        get_cfg("live_trading.binance.api_key")
    assert "LT_KEY" in str(err.value) and "live_trading.binance.api_key" in str(err.value)
    assert isinstance(err.value, ConfigError)
    assert get_cfg("live_trading.binance.api_key", expand=False) == "${LT_KEY}"


def test_env_default_may_be_empty(write_config):
    write_config(raw="live_trading:\n  binance:\n    api_key: ${SURELY_UNSET_VAR_X:}\n")
    assert get_cfg("live_trading.binance.api_key") == ""


def test_malformed_yaml_names_file_and_line(write_config):
    path = write_config(raw="live_trading:\n  venue: paper\n  paper: [1, 2\n  x: 1\n")
    with pytest.raises(ConfigError) as err:
        get_cfg("live_trading.venue")
    msg = str(err.value)
    assert str(path) in msg and "line" in msg


def test_top_level_not_a_mapping(write_config):
    write_config(raw="- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config()


def test_live_trading_not_a_mapping(write_config):
    write_config(raw="live_trading: 5\n")
    with pytest.raises(ConfigError, match="live_trading must be a mapping"):
        load_config()


def test_missing_file(monkeypatch, tmp_path):
    monkeypatch.setenv("LIVE_TRADING_CONFIG", str(tmp_path / "nope.yaml"))
    reload_config()
    with pytest.raises(ConfigError, match="not found"):
        get_cfg("live_trading.venue")


def test_cache_and_reload(write_config, isolated_config: Path):
    write_config({"paper": {"fee_bps": 3}})
    assert get_cfg("live_trading.paper.fee_bps") == 3
    data = yaml.safe_load(isolated_config.read_text())
    data["live_trading"]["paper"]["fee_bps"] = 4
    isolated_config.write_text(yaml.safe_dump(data))
    assert get_cfg("live_trading.paper.fee_bps") == 3  # cached
    reload_config()
    assert get_cfg("live_trading.paper.fee_bps") == 4


def test_load_config_returns_copy():
    a = load_config()
    a["live_trading"]["venue"] = "mutated"
    assert load_config()["live_trading"]["venue"] == "paper"


# --- the schema: every error is one ConfigError naming the key ------------------------------------------


def _problems(exc_info) -> str:
    assert isinstance(exc_info.value, ConfigError)
    return "\n".join(exc_info.value.problems) or str(exc_info.value)


def test_wrong_type_message_names_key_value_and_allowed(write_config, isolated_config):
    write_config({"paper": {"fee_bps": "abc"}})
    with pytest.raises(ConfigError) as err:
        PaperBroker()
    assert "live_trading.paper.fee_bps must be a number >= 0 and < 10000, got 'abc'" in str(err.value)
    assert str(isolated_config) in str(err.value)


def test_every_problem_reported_at_once(write_config):
    write_config({"paper": {"fee_bps": -1, "slippage_bps": "x", "allow_short": "maybe",
                            "end_of_day_utc": "25:00", "slippage": {"model": "magic"}}})
    with pytest.raises(ConfigError) as err:
        PaperConfig.from_config()
    problems = err.value.problems
    assert len(problems) == 5
    joined = "\n".join(problems)
    for key in ("fee_bps", "slippage_bps", "allow_short", "end_of_day_utc", "slippage.model"):
        assert f"live_trading.paper.{key}" in joined
    assert "one of fixed_bps, spread_only, sqrt_impact" in joined


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -5, "abc", True, [1], 10**400])
def test_bad_kwargs_are_config_errors_naming_the_key_and_the_source(bad):
    with pytest.raises(ConfigError) as err:
        PaperBroker(initial_cash=bad)
    text = _problems(err)
    assert "live_trading.paper.initial_cash must be a number >= 0" in text and "(keyword argument)" in text


def test_unknown_key_names_section_and_nearest_valid_key(write_config, isolated_config):
    write_config({"paper": {"fee_bsp": 2}})
    with pytest.raises(ConfigError) as err:
        load_config()
    text = _problems(err)
    assert "unknown key live_trading.paper.fee_bsp in section live_trading.paper" in text
    assert "did you mean live_trading.paper.fee_bps?" in text and str(isolated_config) in text


def test_unknown_section_is_an_error(write_config):
    write_config({"paperr": {"fee_bps": 1}})
    with pytest.raises(ConfigError, match=r"unknown key live_trading\.paperr .*did you mean live_trading\.paper\?"):
        get_cfg("live_trading.venue")


def test_duplicate_key_names_the_full_key_and_both_lines(write_config):
    write_config(raw="live_trading:\n  paper:\n    fee_bps: 1\n    fee_bps: 2\n")
    with pytest.raises(ConfigError) as err:
        load_config()
    msg = str(err.value)
    assert "duplicate key live_trading.paper.fee_bps at line 4" in msg and "first at line 3" in msg


def test_a_section_that_is_not_a_mapping(write_config):
    write_config(raw="live_trading:\n  paper: 5\n")
    with pytest.raises(ConfigError, match=r"live_trading\.paper must be a mapping, got 5"):
        load_config()


@pytest.mark.parametrize(
    ("yaml_value", "key", "allowed"),
    [
        ("initial_cash: 1" + "0" * 400, "live_trading.paper.initial_cash", "too large for a float"),
        ("initial_cash: .inf", "live_trading.paper.initial_cash", "a number >= 0"),
        ("initial_cash: .nan", "live_trading.paper.initial_cash", "a number >= 0"),
        ("resume: yes-please", "live_trading.paper.resume", "true or false"),
        ("resume: 'true'", "live_trading.paper.resume", "true or false"),
        ("allow_short: 1", "live_trading.paper.allow_short", "true or false"),
        ("fee_bps: true", "live_trading.paper.fee_bps", "a number"),
        ("slippage_bps: 10000", "live_trading.paper.slippage_bps", "< 10000"),
        ("min_qty: 0", "live_trading.paper.min_qty", "a number >= 1e-09"),
        ("account: 'a/b'", "live_trading.paper.account", "^[A-Za-z0-9_.-]{1,64}$"),
        ("trading_hours: sometimes", "live_trading.paper.trading_hours", "one of quotes, calendar, always"),
        ("outside_hours: drop", "live_trading.paper.outside_hours", "one of queue, reject"),
    ],
)
def test_bad_values_in_the_file_name_the_key_and_what_is_allowed(write_config, yaml_value, key, allowed):
    write_config(raw=f"live_trading:\n  paper:\n    {yaml_value}\n")
    with pytest.raises(ConfigError) as err:
        load_config()
    line = next(p for p in err.value.problems if key in p)
    assert allowed in line and "must be" in line


@pytest.mark.parametrize(
    ("section", "yaml_value", "key"),
    [
        ("journal", "durability: sometimes", "live_trading.journal.durability"),
        ("journal", "lock_timeout_s: -1", "live_trading.journal.lock_timeout_s"),
        ("journal", "snapshot_every: 0", "live_trading.journal.snapshot_every"),
        ("journal", "segment_max_bytes: 100", "live_trading.journal.segment_max_bytes"),
        ("journal", "keep_terminal_orders: -1", "live_trading.journal.keep_terminal_orders"),
        ("ibkr", "port: 70000", "live_trading.ibkr.port"),
        ("ibkr", "port: 7497.5", "live_trading.ibkr.port"),
        ("risk", "max_order_qty: 0", "live_trading.risk.max_order_qty"),
        ("pipeline", "symbols: []", "live_trading.pipeline.symbols"),
        ("data", "sim: {start_time: '2026-01-05T14:30:00'}", "live_trading.data.sim.start_time"),
    ],
)
def test_bounds_of_other_sections(write_config, section, yaml_value, key):
    write_config(raw=f"live_trading:\n  {section}:\n    {yaml_value}\n")
    with pytest.raises(ConfigError) as err:
        load_config()
    assert key in _problems(err)


def test_top_level_keys_confirm_and_asset_classes(write_config):
    write_config(raw="live_trading:\n  confirm: maybe\n  asset_classes: {btcusd: crypto, XAU: metal}\n")
    with pytest.raises(ConfigError) as err:
        load_config()
    text = _problems(err)
    assert "live_trading.confirm must be true or false" in text
    assert "live_trading.asset_classes.XAU must be one of equity, crypto, forex, got 'metal'" in text
    write_config(raw="live_trading:\n  asset_classes: {btcusd: crypto}\n")
    assert validated_config().live_trading.asset_classes == {"BTCUSD": "crypto"}


def test_new_keys_have_their_defaults(write_config):
    write_config(raw=PACKAGED_CONFIG.read_text())  # the packaged defaults, not the tests' config
    cfg = validated_config().live_trading
    assert (cfg.journal.durability, cfg.journal.lock_timeout_s, cfg.journal.snapshot_every) == ("flush", 5.0, 10000)
    assert (cfg.journal.segment_max_bytes, cfg.journal.keep_terminal_orders) == (64 * 1024 * 1024, 10000)
    assert (cfg.paper.account, cfg.paper.min_qty, cfg.paper.max_quote_future_s) == ("default", 1e-8, 5.0)
    assert (cfg.paper.trading_hours, cfg.paper.outside_hours) == ("quotes", "queue")
    assert cfg.asset_classes == {} and cfg.confirm is True


def test_file_that_is_not_utf8(write_config, isolated_config):
    isolated_config.write_bytes(b"live_trading:\n  venue: p\xe4per\n")
    reload_config()
    with pytest.raises(ConfigError, match=r"not UTF-8 text .*line 2"):
        load_config()


def test_nesting_deep_enough_to_exhaust_recursion(write_config):
    write_config(raw="live_trading: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nested"):
        load_config()


def test_nesting_deeper_than_any_setting_names_the_key(write_config):
    write_config(raw="live_trading:\n  data:\n    sim:\n      symbols:\n        X: " + "{a: " * 40 + "1" + "}" * 40 + "\n")
    with pytest.raises(ConfigError, match=r"live_trading\.data\.sim\.symbols\.X\.a.* nested more than"):
        load_config()


@pytest.mark.parametrize("key", [None, 5, ["live_trading", "venue"], "", "live_trading..venue", ".venue"])
def test_get_cfg_needs_a_dotted_string_key(key):
    with pytest.raises(ConfigError, match="dotted key"):
        get_cfg(key)  # type: ignore[arg-type]


def test_every_constructor_validates_the_whole_file(write_config):
    """A bad pipeline value stops the paper broker too: the file is checked once, as a whole."""
    write_config({"pipeline": {"steps": 0}})
    with pytest.raises(ConfigError, match=r"live_trading\.pipeline\.steps"):
        PaperBroker()


def test_override_none_uses_config_and_zero_is_zero(write_config):
    write_config({"paper": {"fee_bps": 7, "slippage": {"model": "sqrt_impact", "base_bps": 3}}})
    cfg = section("paper", {"fee_bps": None, "slippage.base_bps": 0})
    assert cfg.fee_bps == 7.0 and cfg.slippage.base_bps == 0.0 and cfg.slippage.model == "sqrt_impact"


def test_unknown_override_is_an_error():
    with pytest.raises(ConfigError, match=r"unknown key live_trading\.paper\.fee_bp .*\(keyword argument\)"):
        section("paper", {"fee_bp": 1})


def test_old_journal_fsync_key_and_keyword_mean_durability_fsync(write_config):
    write_config(raw="live_trading:\n  journal:\n    fsync: true\n")
    assert validated_config().live_trading.journal.durability == "fsync"
    reload_config()
    write_config(raw="live_trading: {}\n")
    assert PaperConfig.from_config().durability == "flush"
    cfg = PaperConfig.from_config(fsync=True)
    assert cfg.durability == "fsync"
    assert PaperConfig.from_config(fsync=False).durability == "flush"  # False: the configured durability


def test_secret_values_are_never_echoed_in_messages(write_config):
    write_config({"binance": {"api_key": 123456789}})
    with pytest.raises(ConfigError) as err:
        load_config()
    text = _problems(err)
    assert "live_trading.binance.api_key" in text and "123456789" not in text


def test_schema_choices_are_the_code_choices():
    from CONFIG import schema
    from LIVE_TRADING.brokers.paper import costs
    from LIVE_TRADING.common.journal import DURABILITY
    from LIVE_TRADING.data.provider import INTERVALS
    from LIVE_TRADING.pipeline.rebalance import REBALANCE_ORDER_TYPES
    from LIVE_TRADING.pipeline.strategies import STRATEGIES

    assert schema.SLIPPAGE_MODELS == costs.SLIPPAGE_MODELS and schema.FEE_MODELS == costs.FEE_MODELS
    assert set(schema.BARS) == set(INTERVALS)
    assert schema.REBALANCE_ORDER_TYPES == REBALANCE_ORDER_TYPES
    assert tuple(sorted(STRATEGIES)) == schema.STRATEGY_NAMES
    assert set(schema.DURABILITY) == set(DURABILITY)


def test_json_schema_has_every_key_with_description_and_standard_bounds():
    from CONFIG.schema import json_schema

    schema = json_schema()
    paper = schema["$defs"]["PaperSettings"]["properties"]
    assert paper["fee_bps"]["minimum"] == 0 and paper["fee_bps"]["exclusiveMaximum"] == 10000
    assert "ge" not in paper["fee_bps"]
    for name, model in schema["$defs"].items():
        for key, prop in model.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{key} has no description"
