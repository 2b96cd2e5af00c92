"""The MCP function's HTTP contract, through the real handler module (functions/mcp/app.py)
and real API Gateway events: warm invocations, exact route, 405s, Host/Origin, identity."""

from __future__ import annotations

import json
import time

import pytest

from tests.fixtures.handlers import load_handler
from tests.fixtures.lambda_runtime import (
    LambdaInstance,
    authorizer_context,
    http_api_event,
    response_json,
    rest_event,
)
from tests.fixtures.mcp_client import MangumTransport, McpCaller, with_session
from tests.fixtures.tokens import API_DOMAIN

HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}


def rpc(method: str, params: dict | None = None, id_: int = 1) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": id_, "method": method, "params": params or {}})


@pytest.fixture
def handler_module(aws, github, monkeypatch):
    from tests.fixtures.mcp_stack import SERVICE_TOKEN

    aws.client("secretsmanager").put_secret_value(
        SecretId=aws.service_secret_arn, SecretString=SERVICE_TOKEN
    )
    env = {
        "AUTH_MODE": "builtin",
        "GITHUB_API_URL": github.url,
        "GITHUB_SERVICE_SECRET_ARN": aws.service_secret_arn,
        "TABLE_NAME": aws.table,
        "GISTGATE_KMS_KEY_ID": aws.token_key,
        "MCP_ALLOWED_ORIGINS": "https://app.example.com",
        "POWERTOOLS_SERVICE_NAME": "gistgate",
    }
    return load_handler("mcp", env, monkeypatch)


@pytest.fixture
def instance(handler_module):
    lam = LambdaInstance(handler_module.handler)
    yield lam
    lam.close()
    handler_module.SERVICES.github.close()


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_warm_invocations_in_a_row_all_succeed(instance, kind):
    """Mangum runs the lifespan per invocation; the session manager is per request."""
    transport = MangumTransport(instance, authorizer_context("user-alice"), kind=kind)

    async def work(session):
        results = []
        for _ in range(3):
            results.append(await session.call_tool("whoami", {}))
        return results

    import anyio

    for _ in range(2):
        results = anyio.run(with_session, transport, work)
        assert all(not r.is_error for r in results)
    # initialize + notifications/initialized + 3 calls, twice: at least 5 invocations
    assert instance.invocations >= 10
    assert all(
        e.get("version", "1.0") == ("2.0" if kind == "http" else "1.0") for e in transport.events
    )


def test_the_same_handler_serves_tool_calls_after_many_invocations(instance):
    caller = McpCaller(instance, authorizer_context("user-bob"))
    made = caller.ok("create_gist", {"files": {"a": "a"}})
    for _ in range(5):
        assert caller.ok("get_gist", {"gist_id": made["id"]})["id"] == made["id"]


def test_post_mcp_is_an_exact_route_without_redirects(instance):
    ok = instance.invoke(
        rest_event(
            "POST", "/mcp", body=rpc("tools/list"), headers=HEADERS, authorizer=authorizer_context()
        )
    )
    assert ok["statusCode"] == 200
    assert {t["name"] for t in response_json(ok)["result"]["tools"]} >= {"whoami"}
    slash = instance.invoke(
        rest_event(
            "POST",
            "/mcp/",
            body=rpc("tools/list"),
            headers=HEADERS,
            authorizer=authorizer_context(),
        )
    )
    assert slash["statusCode"] != 307
    assert "location" not in {k.lower() for k in (slash.get("headers") or {})}


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_get_and_delete_are_405_on_a_stateless_server(instance, method):
    result = instance.invoke(
        rest_event(
            method, "/mcp", headers={"Accept": "text/event-stream"}, authorizer=authorizer_context()
        )
    )
    assert result["statusCode"] == 405
    assert result["headers"]["allow"] == "POST"


def test_api_gateway_host_is_not_rejected_with_421(instance):
    for domain in (API_DOMAIN, "mcp.example.com"):
        result = instance.invoke(
            rest_event(
                "POST",
                "/mcp",
                body=rpc("tools/list"),
                headers=HEADERS,
                authorizer=authorizer_context(),
                domain=domain,
            )
        )
        assert result["statusCode"] == 200


@pytest.mark.parametrize(
    ("origin", "status"),
    [(None, 200), ("https://app.example.com", 200), ("https://evil.example", 403)],
)
def test_origin_is_checked_against_the_allow_list(instance, github, origin, status):
    headers = dict(HEADERS)
    if origin:
        headers["Origin"] = origin
    result = instance.invoke(
        rest_event(
            "POST",
            "/mcp",
            headers=headers,
            authorizer=authorizer_context(),
            body=rpc("tools/call", {"name": "get_my_profile", "arguments": {}}),
        )
    )
    assert result["statusCode"] == status
    assert github.count("GET", "/user") == (1 if status == 200 else 0)


def test_without_authorizer_context_it_is_401_and_no_tool_runs(instance, github, log_output):
    result = instance.invoke(
        rest_event(
            "POST",
            "/mcp",
            headers={**HEADERS, "X-Sub": "user-alice"},
            body=rpc("tools/call", {"name": "get_my_profile", "arguments": {}}),
        )
    )
    assert result["statusCode"] == 401
    challenge = result["headers"]["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token"')
    assert 'resource_metadata="https://' in challenge
    assert "/.well-known/oauth-protected-resource/mcp" in challenge
    assert response_json(result)["error"] == "invalid_token"
    assert github.requests == []
    assert "tool call" not in log_output.getvalue()


def test_an_expired_token_behind_a_cached_allow_gets_401(instance, github):
    expired = authorizer_context("user-alice", exp=int(time.time()) - 5)
    result = instance.invoke(
        rest_event(
            "POST",
            "/mcp",
            headers=HEADERS,
            authorizer=expired,
            body=rpc("tools/call", {"name": "create_gist", "arguments": {"files": {"a": "a"}}}),
        )
    )
    assert result["statusCode"] == 401
    assert "expired" in response_json(result)["error_description"]
    assert 'error="invalid_token"' in result["headers"]["www-authenticate"]
    assert github.requests == []


def test_identity_comes_from_the_authorizer_not_from_headers(instance):
    spoof = {**HEADERS, "X-Sub": "user-admin", "sub": "user-admin", "X-Scope": "admin:server"}
    result = instance.invoke(
        rest_event(
            "POST",
            "/mcp",
            headers=spoof,
            authorizer=authorizer_context("user-alice"),
            body=rpc("tools/call", {"name": "whoami", "arguments": {}}),
        )
    )
    me = json.loads(response_json(result)["result"]["content"][0]["text"])
    assert me["sub"] == "user-alice"
    assert "admin:server" not in me["scopes"]


def test_http_api_v2_lambda_authorizer_context_is_read(instance):
    result = instance.invoke(
        http_api_event(
            "POST",
            "/mcp",
            headers=HEADERS,
            authorizer=authorizer_context("user-v2"),
            body=rpc("tools/call", {"name": "whoami", "arguments": {}}),
        )
    )
    assert result["statusCode"] == 200
    me = json.loads(response_json(result)["result"]["content"][0]["text"])
    assert me["sub"] == "user-v2"
