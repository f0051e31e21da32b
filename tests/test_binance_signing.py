"""Signing and encoding of Binance requests, checked against the worked examples of the official docs.

rest-api.md, "SIGNED Endpoint Examples for POST /api/v3/order": with the
documented secret, the payload of examples 1 and 2 signs to c8db5682...,
and the mixed query-string + body payload of example 3 (no ``&`` between
them) signs to 0fd168b8....
"""

from __future__ import annotations

from fakes.binance_server import verify_signature

from LIVE_TRADING.brokers.binance.http import encode_params, param_to_str, parse_weight_limits, sign_payload

DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_PAYLOAD = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
DOC_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
DOC_MIXED_QUERY = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
DOC_MIXED_BODY = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
DOC_MIXED_SIGNATURE = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"


def test_client_signature_matches_the_documented_example():
    assert sign_payload(DOC_SECRET, DOC_PAYLOAD) == DOC_SIGNATURE


def test_client_signature_of_mixed_query_and_body_matches_the_documented_example():
    assert sign_payload(DOC_SECRET, DOC_MIXED_QUERY + DOC_MIXED_BODY) == DOC_MIXED_SIGNATURE


def test_encoding_the_documented_parameters_reproduces_the_documented_payload():
    params = {
        "symbol": "LTCBTC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
        "quantity": "1", "price": "0.1", "recvWindow": 5000, "timestamp": 1499827319559,
    }
    assert encode_params(params) == DOC_PAYLOAD


def test_stand_in_verifies_the_documented_examples_and_refuses_tampering():
    body = DOC_PAYLOAD + "&signature=" + DOC_SIGNATURE
    assert verify_signature(DOC_SECRET, "", body)
    assert verify_signature(DOC_SECRET, body, "")
    assert verify_signature(DOC_SECRET, DOC_MIXED_QUERY, DOC_MIXED_BODY + "&signature=" + DOC_MIXED_SIGNATURE)
    # the signature is not case sensitive (rest-api.md)
    assert verify_signature(DOC_SECRET, "", DOC_PAYLOAD + "&signature=" + DOC_SIGNATURE.upper())
    assert not verify_signature(DOC_SECRET, "", body.replace("quantity=1", "quantity=2"))
    assert not verify_signature("another-secret", "", body)
    assert not verify_signature(DOC_SECRET, "", DOC_PAYLOAD)  # no signature at all


def test_parameters_are_percent_encoded_before_signing():
    # RFC 3986: only A-Z a-z 0-9 - _ . ~ stay as they are; UTF-8 for the rest
    encoded = encode_params({"symbol": "这是测试币456", "newClientOrderId": "a b+c/d", "x": "-_.~"})
    assert encoded == (
        "symbol=%E8%BF%99%E6%98%AF%E6%B5%8B%E8%AF%95%E5%B8%81456&newClientOrderId=a%20b%2Bc%2Fd&x=-_.~"
    )


def test_list_and_bool_parameters_use_binance_formats():
    assert param_to_str(["BTCUSDT", "ETHUSDT"]) == '["BTCUSDT","ETHUSDT"]'
    assert param_to_str(True) == "true"
    assert encode_params({"symbols": ["BTCUSDT", "ETHUSDT"]}) == "symbols=%5B%22BTCUSDT%22%2C%22ETHUSDT%22%5D"
    assert encode_params({"a": None, "b": 1}) == "b=1"


def test_weight_limits_come_from_exchange_info_rate_limits():
    limits = parse_weight_limits(
        [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ]
    )
    assert [(lim.header, lim.window_ms, lim.limit) for lim in limits] == [("x-mbx-used-weight-1m", 60_000, 6000)]
