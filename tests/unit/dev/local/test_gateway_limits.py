"""The local gateway is as strict as the deployment: each function cut at its template
``Timeout`` (502) or given up at the route's integration timeout (504) and its instance
replaced, the authorizer likewise (AUTHORIZER_CONFIGURATION_ERROR), header values trimmed and
repeated headers kept, and the quotas: URL and header bytes (414/431), a CR/LF/NUL in a
value (400), Lambda's 6 MB for the event (500) and the answer (502).

In-process instances (no network); tests/component/dev/local/test_gateway_limits.py
runs the same limits through process workers on a loopback port.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from gistgate_dev.local.gateway import (
    DEFAULT_TIMEOUT,
    INTEGRATION_TIMEOUT,
    LAMBDA_PAYLOAD,
    MAX_HEADER_BYTES,
    MAX_URL_LENGTH,
    FunctionError,
    LocalGateway,
    decode_event,
    encode_event,
    marshal_response,
    read_api,
    screen,
)
from gistgate_dev.local.template import load_template
from gistgate_dev.local.workers import process_function

ROOT = Path(__file__).resolve().parents[4]

# Every import leaves a line in a file next to the module: the cold starts, counted.
APP = """
import json, os, pathlib, time
IMPORTS = pathlib.Path(__file__).with_suffix(".imports")
with open(IMPORTS, "a") as log:
    log.write("imported" + chr(10))
IMPORT_NUMBER = IMPORTS.read_text().count("imported")
def handler(event, context):
    path = event["path"]
    if path == "/sleep":
        time.sleep(float(event["queryStringParameters"]["s"]))
        pathlib.Path(__file__).with_suffix(".finished").write_text("yes")
    if path == "/big":
        return {"statusCode": 200, "body": "x" * int(event["queryStringParameters"]["n"])}
    if path == "/accents":
        return {"statusCode": 200, "body": "\\u00e9" * int(event["queryStringParameters"]["n"])}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"import": IMPORT_NUMBER,
                                "headers": event["headers"],
                                "multi": event["multiValueHeaders"],
                                "remaining": context.get_remaining_time_in_millis(),
                                "body_length": len(event["body"] or "")})}
"""

AUTHORIZER = """
import pathlib, time
IMPORTS = pathlib.Path(__file__).with_suffix(".imports")
with open(IMPORTS, "a") as log:
    log.write("imported" + chr(10))
def handler(event, context):
    token = event["headers"]["Authorization"]
    if token == "Bearer slow":
        time.sleep(30)
    elif token != "Bearer fine":
        raise Exception("Unauthorized")
    return {"principalId": "u", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}]}}
"""


def _template(
    *,
    app_timeout: int | None = 1,
    globals_timeout: int | None = None,
    route_millis: int | None = None,
    authorizer_timeout: int = 1,
) -> dict[str, Any]:
    def route(path: str, millis: int | None = None) -> dict[str, Any]:
        props: dict[str, Any] = {"Path": path, "Method": "GET", "Auth": {"Authorizer": "NONE"}}
        if millis is not None:
            props["TimeoutInMillis"] = millis
        return {"Type": "Api", "Properties": props}

    app: dict[str, Any] = {
        "CodeUri": "app/",
        "Handler": "app.handler",
        "Events": {
            "Echo": route("/echo"),
            "Sleep": route("/sleep", route_millis),
            "Big": route("/big"),
            "Accents": route("/accents"),
            "Guarded": {"Type": "Api", "Properties": {"Path": "/guarded", "Method": "GET"}},
        },
    }
    if app_timeout is not None:
        app["Timeout"] = app_timeout
    template: dict[str, Any] = {
        "Resources": {
            "Api": {
                "Type": "AWS::Serverless::Api",
                "Properties": {
                    "Auth": {
                        "DefaultAuthorizer": "Auth",
                        "Authorizers": {
                            "Auth": {
                                "FunctionArn": {"Fn::GetAtt": ["AuthFn", "Arn"]},
                                "Identity": {"ReauthorizeEvery": 0},
                            }
                        },
                    }
                },
            },
            "AuthFn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "auth/",
                    "Handler": "app.handler",
                    "Timeout": authorizer_timeout,
                },
            },
            "AppFn": {"Type": "AWS::Serverless::Function", "Properties": app},
        },
    }
    if globals_timeout is not None:
        template["Globals"] = {"Function": {"Timeout": globals_timeout}}
    return template


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for folder, code in (("app", APP), ("auth", AUTHORIZER)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "app.py").write_text(code)
    return tmp_path


def _imports(root: Path, folder: str = "app") -> int:
    marks = root / folder / "app.imports"
    return marks.read_text().count("imported") if marks.exists() else 0


def make(root: Path, **template: Any) -> LocalGateway:
    return LocalGateway(read_api(_template(**template), root))


@pytest.fixture
def gateway(root: Path):
    made = make(root)
    yield made
    made.close()


def get(
    gateway: LocalGateway,
    path: str,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    token: str | None = None,
):
    sent = [("Host", "127.0.0.1:3000"), *(headers or [])]
    if token:
        sent.append(("Authorization", token))
    return gateway.handle("GET", "/prod" + path, sent, body)


# -- timeouts from the template -------------------------------------------------------------


def test_each_function_timeout_comes_from_the_template(root: Path):
    own = read_api(_template(app_timeout=7, globals_timeout=4), root)
    assert own.timeouts == {"AuthFn": 1.0, "AppFn": 7.0}
    inherited = read_api(_template(app_timeout=None, globals_timeout=4), root)
    assert inherited.timeouts["AppFn"] == 4.0
    unset = read_api(_template(app_timeout=None), root)
    assert unset.timeouts["AppFn"] == DEFAULT_TIMEOUT == 3.0


def test_a_timeout_given_by_a_parameter_is_resolved(root: Path):
    template = _template(app_timeout=None)
    template["Parameters"] = {"FnTimeout": {"Type": "Number", "Default": 12}}
    template["Globals"] = {"Function": {"Timeout": {"Ref": "FnTimeout"}}}
    assert read_api(template, root).timeouts["AppFn"] == 12.0
    assert read_api(template, root, {"FnTimeout": "20"}).timeouts["AppFn"] == 20.0


def test_the_real_templates_timeouts():
    spec = read_api(load_template(ROOT / "template.yaml"), ROOT)
    assert spec.timeouts["McpFunction"] == 28.0
    assert spec.timeouts["AuthorizerFunction"] == 5.0
    assert spec.timeouts["OAuthFunction"] == 10.0  # Globals


def test_the_local_stack_runs_each_function_with_its_template_timeout():
    spec = read_api(load_template(ROOT / "template.yaml"), ROOT)
    function = process_function(spec, "McpFunction", {})  # no process until invoked
    assert function.timeout == 28.0
    function.close()


def test_a_routes_integration_timeout_is_its_timeout_in_millis(root: Path):
    spec = read_api(_template(route_millis=250), root)
    timeouts = {route.path: route.timeout for route in spec.routes}
    assert timeouts["/sleep"] == 0.25
    assert timeouts["/echo"] == INTEGRATION_TIMEOUT == 29.0


@pytest.mark.parametrize("millis", [49, 29001])
def test_a_timeout_in_millis_api_gateway_would_refuse_is_refused(root: Path, millis: int):
    with pytest.raises(ValueError, match="TimeoutInMillis"):
        read_api(_template(route_millis=millis), root)


# -- the function's timeout: 502, and a fresh instance -------------------------------------


def test_a_function_past_its_timeout_is_cut_502_and_replaced(gateway, root: Path):
    assert json.loads(get(gateway, "/echo").body)["import"] == 1
    began = time.monotonic()
    answer = get(gateway, "/sleep?s=30")  # Timeout: 1 in the template
    assert answer.status == 502
    assert json.loads(answer.body) == {"message": "Internal server error"}
    assert time.monotonic() - began < 20  # cut, not waited out
    again = json.loads(get(gateway, "/echo").body)
    assert again["import"] == 2  # a fresh instance: the module imported again
    assert gateway.instances["AppFn"].cold_starts == 2


def test_a_function_within_its_timeout_keeps_its_warm_instance(gateway, root: Path):
    assert get(gateway, "/sleep?s=0.05").status == 200
    assert json.loads(get(gateway, "/echo").body)["import"] == 1


def test_the_context_counts_down_from_the_template_timeout(root: Path):
    gateway = make(root, app_timeout=7)
    remaining = json.loads(get(gateway, "/echo").body)["remaining"]
    assert 0 < remaining <= 7000
    assert remaining > 1000  # it is the function's 7 s, not a constant
    gateway.close()


# -- the integration timeout: 504, the function runs on to its own ---------------------------


def test_past_the_integration_timeout_the_answer_is_504(root: Path):
    # TimeoutInMillis 200 and a 2 s function: API Gateway stops waiting first.
    gateway = make(root, app_timeout=2, route_millis=200)
    began = time.monotonic()
    answer = get(gateway, "/sleep?s=1")
    assert answer.status == 504
    assert json.loads(answer.body) == {"message": "Endpoint request timed out"}
    assert time.monotonic() - began < 1  # did not wait for the function
    # The function was not cut: it finishes within its own Timeout, on its warm instance.
    finished = root / "app" / "app.finished"
    deadline = time.monotonic() + 10
    while not finished.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert finished.exists()
    assert json.loads(get(gateway, "/echo").body)["import"] == 1
    gateway.close()


def test_after_a_504_the_instance_is_still_cut_at_the_function_timeout(root: Path):
    gateway = make(root, app_timeout=1, route_millis=100)
    assert get(gateway, "/sleep?s=30").status == 504
    # The next request waits for the one instance, which is cut at 1 s and replaced.
    answer = get(gateway, "/echo")
    assert answer.status == 200
    assert json.loads(answer.body)["import"] == 2
    gateway.close()


def test_a_timeout_below_the_integrations_is_a_502_not_a_504(root: Path):
    gateway = make(root, app_timeout=1, route_millis=29000)
    assert get(gateway, "/sleep?s=30").status == 502
    gateway.close()


# -- the authorizer's timeout ---------------------------------------------------------------


def test_an_authorizer_past_its_timeout_fails_closed_and_is_replaced(gateway, root):
    assert get(gateway, "/guarded", token="Bearer fine").status == 200
    failed = get(gateway, "/guarded", token="Bearer slow")  # Timeout: 1 in the template
    # What an authorizer that raised gets: AUTHORIZER_CONFIGURATION_ERROR, installed as 503.
    assert failed.status == 503
    assert json.loads(failed.body)["error"] == "temporarily_unavailable"
    assert "resource_metadata=" in dict(failed.headers)["WWW-Authenticate"]
    assert get(gateway, "/guarded", token="Bearer fine").status == 200
    assert _imports(root, "auth") == 2


# -- headers as API Gateway passes them ----------------------------------------------------


def test_header_values_are_trimmed_and_repeated_headers_kept(gateway):
    headers = [("X-Pad", " \t padded value \t "), ("X-Multi", "one"), ("X-Multi", " two ")]
    seen = json.loads(get(gateway, "/echo", headers).body)
    assert seen["headers"]["X-Pad"] == "padded value"
    assert seen["headers"]["X-Multi"] == "two"  # the last one
    assert seen["multi"]["X-Multi"] == ["one", "two"]  # every one, in order
    assert seen["multi"]["X-Pad"] == ["padded value"]


def test_the_authorizer_sees_trimmed_headers_too(gateway):
    # The authorizer allows exactly "Bearer fine" and answers anything else Unauthorized.
    answer = get(gateway, "/guarded", [("Authorization", "  Bearer fine \t")])
    assert answer.status == 200
    assert json.loads(answer.body)["headers"]["Authorization"] == "Bearer fine"


def test_screen_passes_requests_within_the_quotas():
    pairs = [("Host", "h"), ("X-A", "b" * 100)]
    assert screen("/prod/" + "a" * (MAX_URL_LENGTH - 6), pairs) is None


def test_a_url_over_the_quota_is_414():
    answer = screen("/prod/" + "a" * (MAX_URL_LENGTH - 5), [("Host", "h")])
    assert answer is not None
    assert answer.status == 414


def test_headers_over_10240_bytes_are_431_and_at_it_pass():
    # Each line counts as "name: value" + CRLF.
    name = "X-Big"
    at_limit = [(name, "v" * (MAX_HEADER_BYTES - len(name) - 4))]
    assert screen("/prod/echo", at_limit) is None
    over = [(name, "v" * (MAX_HEADER_BYTES - len(name) - 3))]
    answer = screen("/prod/echo", over)
    assert answer is not None
    assert answer.status == 431
    spread = [(f"X-{i:03}", "v" * 100) for i in range(100)]  # the total counts, not a line
    assert screen("/prod/echo", spread) is not None


def test_the_gateway_screens_before_routing(gateway):
    assert get(gateway, "/echo", [("X-Big", "v" * MAX_HEADER_BYTES)]).status == 431
    assert get(gateway, "/nope", [("X-Big", "v" * MAX_HEADER_BYTES)]).status == 431


@pytest.mark.parametrize("value", ["first\r\n continued", "a\nb", "a\rb", "a\0b"])
def test_a_header_value_with_cr_lf_or_nul_is_400(gateway, value):
    assert get(gateway, "/echo", [("X-Odd", value)]).status == 400


# -- Lambda's 6 MB ------------------------------------------------------------------------------


def test_an_event_over_lambdas_6_mb_is_refused_500_without_running_the_function(gateway, root):
    answer = get(gateway, "/echo", body=b"a" * LAMBDA_PAYLOAD)  # the event is larger still
    assert answer.status == 500
    assert json.loads(answer.body) == {"message": "Internal server error"}
    assert _imports(root) == 0  # never invoked


def test_an_event_just_under_6_mb_is_delivered(gateway):
    answer = get(gateway, "/echo", body=b"a" * (LAMBDA_PAYLOAD - 4096))
    assert answer.status == 200
    assert json.loads(answer.body)["body_length"] == LAMBDA_PAYLOAD - 4096


def test_an_answer_over_6_mb_is_502(gateway):
    assert get(gateway, f"/big?n={LAMBDA_PAYLOAD}").status == 502
    ok = get(gateway, f"/big?n={LAMBDA_PAYLOAD - 4096}")
    assert ok.status == 200
    assert len(ok.body) == LAMBDA_PAYLOAD - 4096


def test_the_answer_is_measured_as_utf8_json_as_the_python_313_runtime_sends_it(gateway):
    # 2.5 M "é" are 5 MB as UTF-8 (fine) but 15 MB as \\u00e9 escapes (too large).
    assert get(gateway, "/accents?n=2500000").status == 200
    # 3.5 M are 7 MB as UTF-8.
    assert get(gateway, "/accents?n=3500000").status == 502


def test_marshal_response_refuses_what_lambda_cannot_serialize():
    assert marshal_response({"body": "é"}) == '{"body": "é"}'.encode()
    for unusable in ({"body": "\ud800"}, {"body": b"bytes"}, {1, 2}):
        with pytest.raises(FunctionError, match=r"Runtime\.MarshalError"):
            marshal_response(unusable)
    with pytest.raises(FunctionError, match=r"Function\.ResponseSizeTooLarge"):
        marshal_response({"body": "x" * LAMBDA_PAYLOAD})


def test_the_event_round_trip_keeps_bytes_that_are_not_utf8():
    body = b"ok \xff\xc3( \xe2\x98\x83".decode("utf-8", "surrogateescape")
    event = {"body": body, "headers": {"X-Name": "Zo\u00eb"}}
    payload = encode_event(event)
    assert b"\xff\xc3(" in payload  # the client's bytes, not escapes: sized as sent
    assert decode_event(payload) == event
