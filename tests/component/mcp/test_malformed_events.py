"""The MCP function on events Mangum cannot turn into an ASGI request: each is a 400
``invalid_request`` from gistgate.mcp.http.check_event, never Mangum's exception
(a 502 behind API Gateway)."""

from __future__ import annotations

import base64
import json

import pytest

from tests.fixtures.handlers import load_handler
from tests.fixtures.lambda_runtime import (
    LambdaInstance,
    authorizer_context,
    http_api_event,
    response_json,
    rest_event,
)

HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}
PING = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"})


@pytest.fixture
def instance(aws, github, monkeypatch):
    from tests.fixtures.mcp_stack import SERVICE_TOKEN

    aws.client("secretsmanager").put_secret_value(
        SecretId=aws.service_secret_arn, SecretString=SERVICE_TOKEN
    )
    module = load_handler(
        "mcp",
        {
            "AUTH_MODE": "builtin",
            "GITHUB_API_URL": github.url,
            "GITHUB_SERVICE_SECRET_ARN": aws.service_secret_arn,
            "TABLE_NAME": aws.table,
            "GISTGATE_KMS_KEY_ID": aws.token_key,
        },
        monkeypatch,
    )
    lam = LambdaInstance(module.handler)
    yield lam
    lam.close()
    module.SERVICES.github.close()


def rest(**changes) -> dict:
    event = rest_event("POST", "/mcp", body=PING, headers=HEADERS, authorizer=authorizer_context())
    event.update(changes)
    return event


def assert_invalid_request(result: dict) -> None:
    assert result["statusCode"] == 400, result
    assert response_json(result)["error"] == "invalid_request"


def test_a_well_formed_event_still_reaches_the_sdk(instance):
    assert instance.invoke(rest())["statusCode"] == 200


@pytest.mark.parametrize(
    "changes",
    [
        {"body": "\udcff"},  # the local gateway's escape for a byte that is not UTF-8
        {"body": chr(0xD800)},  # any other lone surrogate
        {"body": "***", "isBase64Encoded": True},
        {"body": base64.b64encode(b"\xff").decode(), "isBase64Encoded": True},
        {"multiValueQueryStringParameters": {"x": ["\udcff"]}},
        {"queryStringParameters": {"x": "\ud800"}},
    ],
)
def test_a_body_or_query_mangum_cannot_encode_is_invalid_request(instance, changes):
    assert_invalid_request(instance.invoke(rest(**changes)))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Host", "a:b"),  # Mangum: int("b")
        ("Host", "a:1:2"),  # Mangum: too many values to unpack
        ("Host", "[::1]:443"),  # valid, but Mangum cannot split it
        ("Host", 'a"b'),
        ("X-Forwarded-Port", "eighty"),
        ("X-Forwarded-Port", "1" * 5000),  # int() refuses more than 4300 digits
        ("Accept", "\ud800"),
        ("X-Odd", "a\x00b"),
    ],
)
def test_a_header_mangum_cannot_carry_is_invalid_request(instance, name, value):
    event = rest()
    event["headers"] = {**event["headers"], name: value}
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    assert_invalid_request(instance.invoke(event))


def test_http_api_events_are_checked_too(instance):
    ok = http_api_event("POST", "/mcp", body=PING, headers=HEADERS, authorizer=authorizer_context())
    assert instance.invoke(ok)["statusCode"] == 200
    for changes in ({"rawQueryString": "a=%ff"}, {"cookies": ["a=\ud800"]}, {"body": "\udcff"}):
        assert_invalid_request(instance.invoke({**ok, **changes}))


def test_a_body_that_is_text_but_not_json_is_the_sdks_parse_error(instance):
    result = instance.invoke(rest(body="[" * 10_000))
    assert result["statusCode"] == 400
    assert response_json(result)["error"]["code"] == -32700
