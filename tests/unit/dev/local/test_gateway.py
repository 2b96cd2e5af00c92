"""The local API Gateway emulator: routes and authorizer read from a template, REQUEST
authorizer events, the TTL cache, policy evaluation per method ARN, context passing,
gateway-response challenges, and Lambda-like function instances."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from gistgate_dev.local.gateway import LocalGateway, read_api
from gistgate_dev.local.template import load_template

ROOT = Path(__file__).resolve().parents[4]

AUTHORIZER = """
import json, os
CALLS = []
def handler(event, context):
    CALLS.append(event)
    token = event["headers"].get("Authorization", "")
    if token == "Bearer bad":
        raise Exception("Unauthorized")
    if token == "Bearer boom":
        raise RuntimeError("jwks down")
    context = {"sub": "user-1", "scope": "read:gists"}
    if token == "Bearer deny":
        effect, resource = "Deny", event["methodArn"]
        context["www_authenticate"] = 'Bearer error="insufficient_scope", scope="s:' + (
            event["headers"].get("Mcp-Name", "none") + '"')
    elif token == "Bearer post-only":
        effect, resource = "Allow", event["methodArn"]
    else:
        effect, resource = "Allow", event["methodArn"].rsplit("/", 2)[0] + "/*"
    return {
        "principalId": "user-1",
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]},
        "context": context,
    }
"""

APP = """
import json, pathlib, threading, time
with open(pathlib.Path(__file__).with_suffix(".imports"), "a") as log:
    log.write("imported" + chr(10))
ACTIVE = [0]
PEAK = [0]
LOCK = threading.Lock()
def handler(event, context):
    with LOCK:
        ACTIVE[0] += 1
        PEAK[0] = max(PEAK[0], ACTIVE[0])
    time.sleep(0.02)
    with LOCK:
        ACTIVE[0] -= 1
    if event["path"] == "/crash":
        raise RuntimeError("boom")
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"path": event["path"], "method": event["httpMethod"],
                                "authorizer": event["requestContext"].get("authorizer"),
                                "query": event["queryStringParameters"],
                                "body": event["body"]})}
"""


def _template(extra_route: bool = False) -> dict:
    events = {
        "Mcp": {"Type": "Api", "Properties": {"Path": "/mcp", "Method": "POST"}},
        "McpGet": {"Type": "Api", "Properties": {"Path": "/mcp", "Method": "GET"}},
        "Crash": {"Type": "Api", "Properties": {"Path": "/crash", "Method": "GET"}},
        "Open": {
            "Type": "Api",
            "Properties": {"Path": "/open", "Method": "GET", "Auth": {"Authorizer": "NONE"}},
        },
    }
    if extra_route:
        events["New"] = {
            "Type": "Api",
            "Properties": {"Path": "/new", "Method": "GET", "Auth": {"Authorizer": "NONE"}},
        }
    return {
        "Parameters": {"AuthorizerTtl": {"Type": "Number", "Default": 60}},
        "Resources": {
            "Api": {
                "Type": "AWS::Serverless::Api",
                "Properties": {
                    "Auth": {
                        "DefaultAuthorizer": "Auth",
                        "Authorizers": {
                            "Auth": {
                                "FunctionArn": {"Fn::GetAtt": ["AuthFn", "Arn"]},
                                "Identity": {
                                    "Headers": ["Authorization"],
                                    "ReauthorizeEvery": {"Ref": "AuthorizerTtl"},
                                },
                            }
                        },
                    }
                },
            },
            "AuthFn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "auth/", "Handler": "app.handler"},
            },
            "AppFn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "app/", "Handler": "app.handler", "Events": events},
            },
        },
    }


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "auth").mkdir()
    (tmp_path / "auth" / "app.py").write_text(AUTHORIZER)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "app.py").write_text(APP)
    return tmp_path


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gateway(root: Path, clock: Clock):
    made = LocalGateway(read_api(_template(), root), clock=clock)
    yield made
    made.close()


def call(gateway, method="POST", path="/prod/mcp", token="Bearer good", body=b"{}", headers=None):
    sent = [("Host", "127.0.0.1:3000"), ("Content-Type", "application/json")]
    if token:
        sent.append(("Authorization", token))
    sent += list((headers or {}).items())
    return gateway.handle(method, path, sent, body)


def module(gateway, name):
    """The module the function's instance imported (it has been invoked)."""
    return gateway.instances[name].module


def test_routes_and_authorizer_come_from_the_real_template():
    spec = read_api(load_template(ROOT / "template.yaml"), ROOT)
    routes = {(r.method, r.path): r for r in spec.routes}
    assert routes[("POST", "/mcp")].protected is True
    assert routes[("POST", "/oauth/token")].protected is False
    assert routes[("GET", "/.well-known/oauth-protected-resource/mcp")].protected is False
    assert spec.authorizer == "AuthorizerFunction"
    assert spec.identity_headers == ("Authorization",)
    assert spec.authorizer_ttl == 0  # per-tool decisions need every request (step-up)
    short = read_api(load_template(ROOT / "template.yaml"), ROOT, {"AuthorizerTtl": "7"})
    assert short.authorizer_ttl == 7


def test_a_route_added_to_the_template_is_served_with_no_other_change(root, clock):
    before = LocalGateway(read_api(_template(), root), clock=clock)
    after = LocalGateway(read_api(_template(extra_route=True), root), clock=clock)
    assert call(before, "GET", "/prod/new", token=None).status == 403
    answer = call(after, "GET", "/prod/new", token=None)
    assert answer.status == 200
    assert json.loads(answer.body)["path"] == "/new"
    before.close()
    after.close()


def test_no_authorization_header_is_401_without_calling_the_authorizer(gateway):
    answer = call(gateway, token=None)
    assert answer.status == 401
    headers = dict(answer.headers)
    assert headers["WWW-Authenticate"].startswith(
        'Bearer resource_metadata="http://127.0.0.1:3000/prod/'
    )
    assert gateway.authorizer_calls == 0


def test_allow_passes_the_context_and_principal_to_the_function(gateway):
    answer = call(gateway)
    assert answer.status == 200
    seen = json.loads(answer.body)
    assert seen["authorizer"] == {"sub": "user-1", "scope": "read:gists", "principalId": "user-1"}
    event = module(gateway, "AuthFn").CALLS[0]
    assert event["type"] == "REQUEST"
    assert event["methodArn"].endswith("/prod/POST/mcp")
    assert event["headers"]["Authorization"] == "Bearer good"


def test_the_result_is_cached_per_token_for_the_ttl(gateway, clock):
    call(gateway)
    call(gateway, "GET", "/prod/mcp")
    assert gateway.authorizer_calls == 1
    call(gateway, token="Bearer other")
    assert gateway.authorizer_calls == 2
    clock.now += 61
    call(gateway)
    assert gateway.authorizer_calls == 3


def test_a_cached_policy_is_evaluated_against_each_method_arn(gateway):
    assert call(gateway, token="Bearer post-only").status == 200
    denied = call(gateway, "GET", "/prod/mcp", token="Bearer post-only")
    assert denied.status == 403  # the cached policy only names POST /mcp
    assert gateway.authorizer_calls == 1


def test_unauthorized_deny_and_failure_map_to_the_gateway_responses(gateway):
    unauthorized = call(gateway, token="Bearer bad")
    assert unauthorized.status == 401
    assert "resource_metadata=" in dict(unauthorized.headers)["WWW-Authenticate"]
    denied = call(gateway, token="Bearer deny")
    assert denied.status == 403
    assert 'error="insufficient_scope"' in dict(denied.headers)["WWW-Authenticate"]
    failed = call(gateway, token="Bearer boom")
    assert failed.status >= 500
    assert "WWW-Authenticate" in dict(failed.headers)


def test_a_deny_sends_the_challenge_its_context_carries(gateway):
    # ACCESS_DENIED maps context.authorizer.www_authenticate onto WWW-Authenticate.
    denied = call(gateway, token="Bearer deny", headers={"Mcp-Name": "create_gist"})
    assert denied.status == 403
    assert dict(denied.headers)["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", scope="s:create_gist"'
    )


def test_a_deny_without_the_context_value_sends_no_challenge_header(gateway):
    # As API Gateway: a mapping whose source is absent sets nothing (never a stale value).
    assert call(gateway, token="Bearer post-only").status == 200
    denied = call(gateway, token="Bearer post-only", method="GET", path="/prod/mcp")
    assert denied.status == 403
    assert "WWW-Authenticate" not in dict(denied.headers)


def test_unknown_paths_and_paths_outside_the_stage_are_403(gateway):
    assert call(gateway, path="/prod/nope").status == 403
    assert call(gateway, path="/mcp").status == 403
    assert b"Missing Authentication Token" in call(gateway, path="/prod/nope").body


def test_a_function_error_is_a_502(gateway):
    assert call(gateway, "GET", "/prod/crash").status == 502


def test_an_instance_imports_once_and_runs_one_invocation_at_a_time(gateway):
    threads = [
        threading.Thread(target=call, args=(gateway, "GET", "/prod/open", None)) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    app = module(gateway, "AppFn")
    assert Path(app.__file__).with_suffix(".imports").read_text().count("imported") == 1
    assert app.PEAK[0] == 1
    assert gateway.instances["AppFn"].invocations == 8


def test_query_and_body_reach_the_function(gateway):
    answer = call(gateway, "GET", "/prod/open?a=1&b=two", token=None, body=b"")
    seen = json.loads(answer.body)
    assert seen["query"] == {"a": "1", "b": "two"}
    answer = call(gateway, "POST", "/prod/mcp", body=b'{"x": 1}')
    assert json.loads(json.loads(answer.body)["body"]) == {"x": 1}


def test_preflight_is_answered_by_the_gateway(gateway):
    answer = gateway.handle("OPTIONS", "/prod/mcp", [("Host", "127.0.0.1:3000")], b"")
    assert answer.status == 200
    assert "Authorization" in dict(answer.headers)["Access-Control-Allow-Headers"]
    assert gateway.authorizer_calls == 0
