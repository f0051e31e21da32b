"""CONFIG.config_loader and the typed SettingsReader."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from CONFIG.config_loader import PACKAGED_CONFIG, EnvVarMissingError, get_cfg, load_config, reload_config
from LIVE_TRADING.brokers.paper import PaperBroker, PaperConfig
from LIVE_TRADING.common.constants import DEFAULT_CONFIG, default_for
from LIVE_TRADING.common.exceptions import ConfigError
from LIVE_TRADING.common.settings import SettingsReader


def _leaves(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict) and v:
            yield from _leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def test_packaged_defaults_match_default_config():
    data = yaml.safe_load(PACKAGED_CONFIG.read_text())["live_trading"]
    file_leaves = dict(_leaves(data))
    code_leaves = dict(_leaves(DEFAULT_CONFIG))
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


def test_wrong_type_message_names_key_value_and_allowed(write_config, isolated_config):
    write_config({"paper": {"fee_bps": "abc"}})
    with pytest.raises(ConfigError) as err:
        PaperBroker()
    assert "live_trading.paper.fee_bps must be a number >= 0, got 'abc'" in str(err.value)
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


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -5, "abc", True, [1]])
def test_bad_kwargs_are_config_errors(bad):
    with pytest.raises(ConfigError, match="initial_cash"):
        PaperBroker(initial_cash=bad)


def test_settings_reader_kinds(write_config):
    write_config({"ibkr": {"port": "7497", "readonly": "yes"}})
    r = SettingsReader("ibkr")
    assert r.integer("port", ge=1, le=65535) == 7497
    assert r.boolean("readonly") is True
    assert r.integer("client_id", 1.5) is None
    assert r.string("host") == "127.0.0.1"
    assert r.string_list("nope_list", "A, B") == ["A", "B"]
    assert len(r.problems) == 1 and "live_trading.ibkr.client_id must be an integer" in r.problems[0]
    with pytest.raises(ConfigError):
        r.finish()


def test_default_for():
    assert default_for("live_trading.paper.fee_bps") == 1.0
    assert default_for("paper.slippage.model") == "fixed_bps"
    with pytest.raises(KeyError):
        default_for("live_trading.paper.nope")
