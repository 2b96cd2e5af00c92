"""``make dev``'s gateway and process workers keep the deployment's limits, on the wire:
a function is cut at its template ``Timeout`` (502) or given up at the route's integration
timeout (504), its process killed and the next request served by a fresh one; the
authorizer likewise (AUTHORIZER_CONFIGURATION_ERROR); Lambda's 6 MB for the event (500) and the
answer (502); API Gateway's 10 MB body (413), 10240 header bytes (431) and URL characters
(414); header values trimmed and repeated headers kept, as the handler's event has them.
The timeouts come from a template written per test (tiny ones, so the tests stay fast).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gistgate_dev.local.gateway import (
    LAMBDA_PAYLOAD,
    MAX_HEADER_BYTES,
    MAX_PAYLOAD,
    MAX_URL_LENGTH,
    GatewayServer,
    LocalGateway,
    read_api,
)
from gistgate_dev.local.workers import ProcessFunction, process_function

from tests.fixtures.wire import WireAnswer, exchange, parse_answer

APP = """
import json, os, time
def handler(event, context):
    query = event["queryStringParameters"] or {}
    if event["path"] == "/sleep":
        time.sleep(float(query["s"]))
    if event["path"] == "/big":
        return {"statusCode": 200, "body": "x" * int(query["n"])}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"pid": os.getpid(), "headers": event["headers"],
                                "multi": event["multiValueHeaders"],
                                "body_length": len(event["body"] or "")})}
"""

AUTHORIZER = """
import time
def handler(event, context):
    token = event["headers"]["Authorization"]
    if token == "Bearer slow":
        time.sleep(60)
    if token != "Bearer fine":
        raise Exception("Unauthorized")
    return {"principalId": "u", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}]}}
"""


def _template(app_timeout: int, route_millis: int | None) -> dict[str, Any]:
    def route(path: str, *, millis: int | None = None, open_: bool = True) -> dict[str, Any]:
        props: dict[str, Any] = {"Path": path, "Method": "GET"}
        if open_:
            props["Auth"] = {"Authorizer": "NONE"}
        if millis is not None:
            props["TimeoutInMillis"] = millis
        return {"Type": "Api", "Properties": props}

    events = {
        "Echo": route("/echo"),
        "Post": {
            "Type": "Api",
            "Properties": {"Path": "/echo", "Method": "POST", "Auth": {"Authorizer": "NONE"}},
        },
        "Sleep": route("/sleep", millis=route_millis),
        "Big": route("/big"),
        "Guarded": route("/guarded", open_=False),
    }
    return {
        "Globals": {"Function": {"Timeout": app_timeout}},
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
                "Properties": {"CodeUri": "auth/", "Handler": "app.handler", "Timeout": 1},
            },
            "AppFn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "app/", "Handler": "app.handler", "Events": events},
            },
        },
    }


class Stack:
    def __init__(self, root: Path, app_timeout: int, route_millis: int | None) -> None:
        spec = read_api(_template(app_timeout, route_millis), root)
        self.functions: dict[str, ProcessFunction] = {
            name: process_function(spec, name, {}) for name in spec.code
        }
        self.server = GatewayServer(LocalGateway(spec, instances=self.functions)).start()

    def get(self, target: str, headers: list[tuple[bytes, bytes]] | None = None) -> WireAnswer:
        return exchange(
            self.server.port, "GET", b"/prod" + target.encode(), headers or (), timeout=30
        )

    def pid(self) -> int:
        answer = self.get("/echo")
        assert answer.status == 200
        return int(json.loads(answer.body)["pid"])


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Any]:
    for folder, code in (("app", APP), ("auth", AUTHORIZER)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "app.py").write_text(code)
    made: list[Stack] = []

    def make(app_timeout: int = 1, route_millis: int | None = None) -> Stack:
        made.append(Stack(tmp_path, app_timeout, route_millis))
        return made[-1]

    yield make
    for stack in made:
        stack.server.stop()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_function_past_its_timeout_is_cut_502_and_the_next_request_gets_a_fresh_process(
    make_stack,
):
    stack = make_stack(app_timeout=1)  # Globals' Timeout in the template
    first = stack.pid()
    answer = stack.get("/sleep?s=60")  # would hold the instance for a minute
    assert answer.status == 502
    assert json.loads(answer.body) == {"message": "Internal server error"}
    assert _gone(first)  # killed, not left running
    assert stack.pid() != first
    assert stack.functions["AppFn"].cold_starts == 2


def test_past_the_integration_timeout_the_answer_is_504_and_the_function_is_cut_at_its_own(
    make_stack,
):
    stack = make_stack(app_timeout=2, route_millis=300)
    first = stack.pid()
    answer = stack.get("/sleep?s=60")
    assert answer.status == 504  # a 502 would mean the function's 2 s came first
    assert json.loads(answer.body) == {"message": "Endpoint request timed out"}
    # The one instance is busy until its Timeout cuts it; then a fresh process serves.
    assert stack.pid() != first
    assert _gone(first)


def test_an_authorizer_past_its_timeout_is_authorizer_failure_and_replaced(make_stack):
    stack = make_stack()
    fine = [(b"Authorization", b"Bearer fine")]
    assert stack.get("/guarded", fine).status == 200
    failed = stack.get("/guarded", [(b"Authorization", b"Bearer slow")])  # Timeout: 1
    assert failed.status == 503  # AUTHORIZER_CONFIGURATION_ERROR, as for one that raised
    assert "resource_metadata=" in (failed.header("WWW-Authenticate") or "")
    assert stack.get("/guarded", fine).status == 200
    assert stack.functions["AuthFn"].cold_starts == 2


def test_a_7_mb_body_is_refused_by_lambda_500(make_stack):
    stack = make_stack()
    body = b"a" * (7 * 1024 * 1024)  # under API Gateway's 10 MB, over Lambda's 6 MB
    answer = exchange(stack.server.port, "POST", b"/prod/echo", body=body, timeout=30)
    assert answer.status == 500
    assert json.loads(answer.body) == {"message": "Internal server error"}
    assert stack.functions["AppFn"].cold_starts == 0  # Lambda refused the Invoke


def test_a_body_just_under_lambdas_quota_reaches_the_function(make_stack):
    stack = make_stack()
    body = b"a" * (LAMBDA_PAYLOAD - 8192)
    answer = exchange(stack.server.port, "POST", b"/prod/echo", body=body, timeout=30)
    assert answer.status == 200
    assert json.loads(answer.body)["body_length"] == len(body)


def test_a_body_over_10_mb_is_413_before_it_is_read(make_stack):
    stack = make_stack()
    with socket.create_connection(("127.0.0.1", stack.server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /prod/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Content-Length: {MAX_PAYLOAD + 1}\r\n\r\n".encode()
        )
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    answer = parse_answer(raw)
    assert answer.status == 413
    assert json.loads(answer.body) == {"message": "Request Too Long"}


def test_an_answer_over_6_mb_is_502(make_stack):
    stack = make_stack()
    assert stack.get(f"/big?n={LAMBDA_PAYLOAD}").status == 502
    fits = stack.get(f"/big?n={LAMBDA_PAYLOAD - 4096}")
    assert fits.status == 200
    assert len(fits.body) == LAMBDA_PAYLOAD - 4096


def test_header_values_reach_the_handler_trimmed_and_repeated_headers_in_full(make_stack):
    stack = make_stack()
    answer = stack.get(
        "/echo",
        [(b"X-Pad", b"  \tpadded value \t "), (b"X-Multi", b"one"), (b"X-Multi", b"two ")],
    )
    seen = json.loads(answer.body)
    assert seen["headers"]["X-Pad"] == "padded value"
    assert seen["headers"]["X-Multi"] == "two"
    assert seen["multi"]["X-Multi"] == ["one", "two"]


def test_headers_over_10240_bytes_are_431(make_stack):
    stack = make_stack()
    assert stack.get("/echo", [(b"X-Big", b"v" * MAX_HEADER_BYTES)]).status == 431
    spread = [(f"X-{i:02}".encode(), b"v" * 200) for i in range(60)]  # the total counts
    assert stack.get("/echo", spread).status == 431
    assert stack.get("/echo", spread[:40]).status == 200


def test_a_url_over_10240_characters_is_414(make_stack):
    stack = make_stack()
    assert stack.get("/echo?q=" + "a" * MAX_URL_LENGTH).status == 414
    assert stack.get("/echo?q=" + "a" * 9000).status == 200


def test_an_obs_fold_is_400_not_a_value_with_a_line_break(make_stack):
    stack = make_stack()
    with socket.create_connection(("127.0.0.1", stack.server.port), timeout=10) as sock:
        sock.sendall(
            b"GET /prod/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Fold: first\r\n  continued\r\n"
            b"Connection: close\r\n\r\n"
        )
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    assert parse_answer(raw).status == 400
