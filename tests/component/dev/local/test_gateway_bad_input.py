"""What the local gateway answers before any function runs, as API Gateway's edge would:
a Host that is not ``host[:port]`` or a broken Content-Length is a 400, a function
answer Lambda could not return is a 502; nothing drops the connection."""

from __future__ import annotations

from pathlib import Path

import pytest
from gistgate_dev.local.gateway import GatewayServer, LocalGateway, read_api

from tests.fixtures.wire import exchange

APP = """
import json
def handler(event, context):
    if event["path"] == "/surrogate":
        return {"statusCode": 200, "headers": {"Content-Type": "text/html"}, "body": "\\ud800"}
    if event["path"] == "/header":
        return {"statusCode": 200, "headers": {"X-Name": "Zo\\u00eb \\u2603"}, "body": ""}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"domain": event["requestContext"]["domainName"],
                                "query": event["multiValueQueryStringParameters"]})}
"""


@pytest.fixture
def server(tmp_path: Path):
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text(APP)
    events = {
        name: {"Type": "Api", "Properties": {"Path": f"/{name}", "Method": "GET"}}
        for name in ("ok", "surrogate", "header")
    }
    template = {
        "Resources": {
            "Api": {"Type": "AWS::Serverless::Api", "Properties": {}},
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Handler": "app.handler", "CodeUri": "fn/", "Events": events},
            },
        }
    }
    running = GatewayServer(LocalGateway(read_api(template, tmp_path))).start()
    yield running
    running.stop()


@pytest.mark.parametrize("host", [b'a"b', b"a b", b"a:b", b"\xff", b"h/x", b"a:99999"])
def test_a_host_that_is_not_an_authority_is_400(server, host):
    answer = exchange(server.port, "GET", b"/prod/ok", host=host)
    assert answer.status == 400


def test_two_hosts_are_400(server):
    answer = exchange(server.port, "GET", b"/prod/ok", [(b"Host", b"b.example")])
    assert answer.status == 400


def test_a_valid_host_is_the_domain_name(server):
    answer = exchange(server.port, "GET", b"/prod/ok", host=b"api.example.com:8443")
    assert answer.status == 200
    assert b'"domain": "api.example.com:8443"' in answer.body


@pytest.mark.parametrize("length", [b"x", b"-1", b"1, 2", b"9" * 30])
def test_a_broken_content_length_is_answered(server, length):
    answer = exchange(server.port, "GET", b"/prod/ok", [(b"Content-Length", length)])
    assert answer.status in (400, 413)


def test_query_bytes_that_are_not_utf8_reach_the_function_as_surrogate_escapes(server):
    answer = exchange(server.port, "GET", b"/prod/ok?a=%ff")
    assert answer.status == 200
    assert b'"a": ["\\udcff"]' in answer.body


def test_a_body_lambda_could_not_serialize_is_502_not_a_dropped_connection(server):
    assert exchange(server.port, "GET", b"/prod/surrogate").status == 502


def test_header_values_go_out_as_utf8(server):
    answer = exchange(server.port, "GET", b"/prod/header")
    assert answer.status == 200
    assert answer.header("X-Name").encode("latin-1").decode() == "Zoë ☃"


@pytest.mark.parametrize("method", ["PATCH", "HEAD", "PUT"])
def test_other_methods_are_routed_not_501(server, method):
    assert exchange(server.port, method, b"/prod/ok").status == 403
