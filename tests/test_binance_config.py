"""Binance settings and safety: testnet by default, the allow_live guard, secrets only from the environment.

Each guard is checked against the loopback stand-in: the point is that
nothing reaches the venue when the configuration is refused.
"""

from __future__ import annotations

import pytest
from fakes.binance_server import FakeBinance

from LIVE_TRADING.brokers.binance.config import LIVE_URL, TESTNET_URL, load_binance_config
from LIVE_TRADING.brokers.interface import get_broker
from LIVE_TRADING.common.exceptions import AuthenticationError, ConfigError

KEY, SECRET = "cfg-test-key-abcdef", "cfg-test-secret-uvwxyz"


@pytest.fixture
def fake():
    with FakeBinance(api_key=KEY, api_secret=SECRET) as server:
        yield server


@pytest.fixture(autouse=True)
def no_binance_env(monkeypatch):
    monkeypatch.delenv("BINANCE_API_KEY", raising=False)
    monkeypatch.delenv("BINANCE_API_SECRET", raising=False)


def test_testnet_is_the_default():
    cfg = load_binance_config(api_key=KEY, api_secret=SECRET)
    assert cfg.testnet is True
    assert cfg.base_url == TESTNET_URL
    assert cfg.quote_asset == "USDT"
    assert cfg.recv_window_ms == 5000


def test_live_url_needs_allow_live():
    cfg = load_binance_config(api_key=KEY, api_secret=SECRET, testnet=False, allow_live=True)
    assert cfg.base_url == LIVE_URL
    with pytest.raises(ConfigError, match="allow_live"):
        load_binance_config(api_key=KEY, api_secret=SECRET, testnet=False)


def test_live_without_allow_live_is_refused_before_any_request(fake):
    with pytest.raises(ConfigError, match="allow_live"):
        get_broker("binance", base_url=fake.url, testnet=False, api_key=KEY, api_secret=SECRET)
    assert fake.requests == []


def test_live_without_allow_live_in_the_config_file_is_refused(fake, write_config):
    write_config({"binance": {"testnet": False, "base_url": fake.url}})
    with pytest.raises(ConfigError, match="allow_live"):
        get_broker("binance", api_key=KEY, api_secret=SECRET)
    assert fake.requests == []


def test_live_with_allow_live_connects(fake):
    broker = get_broker("binance", base_url=fake.url, testnet=False, allow_live=True, api_key=KEY, api_secret=SECRET)
    assert broker.unwrap().config.testnet is False
    assert fake.calls("GET", "/api/v3/time")


def test_live_host_labelled_testnet_is_refused():
    with pytest.raises(ConfigError, match="live exchange but testnet is true"):
        load_binance_config(api_key=KEY, api_secret=SECRET, base_url="https://api.binance.com")


def test_plain_http_only_for_loopback():
    with pytest.raises(ConfigError, match="https"):
        load_binance_config(api_key=KEY, api_secret=SECRET, base_url="http://example.com")
    assert load_binance_config(api_key=KEY, api_secret=SECRET, base_url="http://127.0.0.1:9/").base_url == (
        "http://127.0.0.1:9"
    )


@pytest.mark.parametrize("value", [0, 60001, "abc"])
def test_recv_window_must_be_within_binance_limits(value):
    with pytest.raises(ConfigError, match="recv_window_ms"):
        load_binance_config(api_key=KEY, api_secret=SECRET, recv_window_ms=value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        load_binance_config(api_key=KEY, api_secret=SECRET, recv_window_ms=0, max_retries=-1, weight_headroom=2)
    assert len(info.value.problems) == 3


def test_missing_credentials_name_the_environment_variables(fake):
    with pytest.raises(AuthenticationError) as info:
        get_broker("binance", base_url=fake.url)
    assert "BINANCE_API_KEY" in str(info.value) and "BINANCE_API_SECRET" in str(info.value)
    assert fake.requests == []


def test_missing_secret_only_names_the_secret_variable(monkeypatch):
    monkeypatch.setenv("BINANCE_API_KEY", KEY)
    with pytest.raises(AuthenticationError) as info:
        load_binance_config()
    assert "BINANCE_API_SECRET" in str(info.value)
    assert "variable(s) BINANCE_API_SECRET " in str(info.value)


def test_credentials_come_from_the_environment_through_the_config_references(fake, monkeypatch):
    monkeypatch.setenv("BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BINANCE_API_SECRET", SECRET)
    broker = get_broker("binance", base_url=fake.url)
    assert broker.get_cash() == 10000.0  # a signed request the stand-in accepted


def test_a_custom_reference_names_its_variable(write_config):
    write_config({"binance": {"api_key": "${MY_SPOT_KEY}", "api_secret": "${MY_SPOT_SECRET}"}})
    with pytest.raises(AuthenticationError) as info:
        load_binance_config()
    assert "MY_SPOT_KEY" in str(info.value) and "MY_SPOT_SECRET" in str(info.value)


def test_a_literal_secret_in_the_config_file_is_refused_without_echoing_it(write_config):
    write_config({"binance": {"api_key": "literal-key-AAAA1111", "api_secret": "${BINANCE_API_SECRET}"}})
    with pytest.raises(ConfigError) as info:
        load_binance_config()
    assert "api_key" in str(info.value)
    assert "literal-key-AAAA1111" not in str(info.value)


def test_a_literal_default_inside_the_reference_is_refused(write_config):
    write_config({"binance": {"api_secret": "${BINANCE_API_SECRET:hunter2-secret}"}})
    with pytest.raises(ConfigError) as info:
        load_binance_config(api_key=KEY)
    assert "hunter2-secret" not in str(info.value)


def test_explicit_keyword_credentials_are_accepted(write_config):
    write_config({"binance": {"api_key": None, "api_secret": None}})
    cfg = load_binance_config(api_key=KEY, api_secret=SECRET)
    assert (cfg.api_key, cfg.api_secret) == (KEY, SECRET)


def test_reprs_hide_the_secrets(fake):
    broker = get_broker("binance", base_url=fake.url, api_key=KEY, api_secret=SECRET)
    venue = broker.unwrap()
    for text in (repr(broker), str(venue.config), repr(venue.config), repr(venue.http), repr(venue)):
        assert KEY not in text and SECRET not in text


def test_keyword_arguments_override_the_config_file(fake, write_config):
    write_config({"binance": {"quote_asset": "BTC", "order_timeout_s": 99}})
    broker = get_broker("binance", base_url=fake.url, api_key=KEY, api_secret=SECRET, quote_asset="usdt")
    venue = broker.unwrap()
    assert venue.config.quote_asset == "USDT"
    assert venue.config.order_timeout_s == 99


def test_unknown_keyword_argument_is_an_error(fake):
    with pytest.raises(TypeError):
        get_broker("binance", base_url=fake.url, api_key=KEY, api_secret=SECRET, testnett=True)
