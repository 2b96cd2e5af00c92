"""The Custom::GatewayResponses handler against moto's API Gateway and a real ResponseURL.

CloudFormation's pre-signed ResponseURL is played by an HTTP server on
127.0.0.1 that records each PUT, so the exact bytes the handler sends are checked.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from gistgate.cfn.custom_resource import DEPLOYMENT_DESCRIPTION, handle_event, physical_id
from gistgate.cfn.responses import build_gateway_responses

ROOT = Path(__file__).resolve().parents[3]
REGION = "us-east-1"
STAGE = "prod"
EXPECTED_STATUS = {
    "UNAUTHORIZED": "401",
    "ACCESS_DENIED": "403",
    "AUTHORIZER_FAILURE": "503",
    "AUTHORIZER_CONFIGURATION_ERROR": "503",
}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class ResponseSink:
    """Plays CloudFormation's S3 pre-signed URL."""

    url: str
    requests: list[Recorded] = field(default_factory=list)

    def only(self) -> Recorded:
        assert len(self.requests) == 1, self.requests
        return self.requests[0]


@pytest.fixture
def sink() -> Iterator[ResponseSink]:
    recorded: list[Recorded] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            recorded.append(Recorded("PUT", self.path, dict(self.headers.items()), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        yield ResponseSink(f"http://127.0.0.1:{port}/cfn-response?X-Amz-Signature=abc", recorded)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SECURITY_TOKEN",
        "AWS_SESSION_TOKEN",
    ):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def apigateway(aws: None) -> Any:
    return boto3.client("apigateway", region_name=REGION)


@pytest.fixture
def rest_api(apigateway: Any) -> str:
    """A REST API deployed to ``prod`` the way SAM leaves it: one method, proxy integration."""
    api_id = apigateway.create_rest_api(name="gistgate")["id"]
    root = apigateway.get_resources(restApiId=api_id)["items"][0]["id"]
    resource = apigateway.create_resource(restApiId=api_id, parentId=root, pathPart="mcp")["id"]
    apigateway.put_method(
        restApiId=api_id, resourceId=resource, httpMethod="POST", authorizationType="NONE"
    )
    apigateway.put_integration(
        restApiId=api_id,
        resourceId=resource,
        httpMethod="POST",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri="arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
        "arn:aws:lambda:us-east-1:123456789012:function:mcp/invocations",
    )
    apigateway.create_deployment(restApiId=api_id, stageName=STAGE, description="SAM")
    return api_id


def prm_for(api_id: str) -> str:
    return (
        f"https://{api_id}.execute-api.{REGION}.amazonaws.com/{STAGE}"
        "/.well-known/oauth-protected-resource/mcp"
    )


def cfn_event(
    request_type: str, response_url: str, props: dict[str, Any], physical: str | None = None
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:gw",
        "ResponseURL": response_url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/gistgate/1234",
        "RequestId": "5d5e2a5c-0000-4000-8000-000000000001",
        "LogicalResourceId": "GatewayResponses",
        "ResourceType": "Custom::GatewayResponses",
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:...", **props},
    }
    if physical is not None:
        event["PhysicalResourceId"] = physical
    return event


def properties(api_id: str, **overrides: str) -> dict[str, str]:
    return {
        "RestApiId": api_id,
        "StageName": STAGE,
        "DeploymentId": "abc123",
        "PrmUrl": prm_for(api_id),
        "RequiredScopes": "read:gists,write:gists",
        "DefaultScopes": "read:gists write:gists admin:server",
        "AllowOrigin": "*",
        **overrides,
    }


def responses_by_type(apigateway: Any, api_id: str) -> dict[str, dict[str, Any]]:
    """The gateway responses moto holds (only the ones put; AWS would list defaults too)."""
    items = apigateway.get_gateway_responses(restApiId=api_id)["items"]
    return {item["responseType"]: item for item in items}


class LambdaContext:
    """The attributes of Lambda's context object the handler reads."""

    log_stream_name = "2025/11/22/[$LATEST]0123456789abcdef"

    def __init__(self, remaining_ms: int = 60_000) -> None:
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms


def load_app() -> ModuleType:
    """functions/gateway_responses/app.py as Lambda loads it (by path, not as a package)."""
    path = ROOT / "functions/gateway_responses/app.py"
    spec = importlib.util.spec_from_file_location("gateway_responses_app", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_create_puts_the_four_responses_and_redeploys_the_stage(
    apigateway: Any, rest_api: str, sink: ResponseSink
):
    before = {d["id"] for d in apigateway.get_deployments(restApiId=rest_api)["items"]}

    load_app().handler(cfn_event("Create", sink.url, properties(rest_api)), LambdaContext())

    reply = sink.only()
    assert reply.method == "PUT"
    assert reply.path == "/cfn-response?X-Amz-Signature=abc"
    assert reply.headers.get("Content-Type", "") == ""
    assert reply.body["Status"] == "SUCCESS", reply.body
    assert reply.body["PhysicalResourceId"] == f"{rest_api}-gateway-responses"
    assert reply.body["LogicalResourceId"] == "GatewayResponses"
    assert reply.body["RequestId"] == "5d5e2a5c-0000-4000-8000-000000000001"
    assert reply.body["StackId"].endswith("stack/gistgate/1234")

    items = responses_by_type(apigateway, rest_api)
    assert {t: items[t]["statusCode"] for t in EXPECTED_STATUS} == EXPECTED_STATUS
    prm = prm_for(rest_api)
    for response_type, response in items.items():
        header = response["responseParameters"]["gatewayresponse.header.WWW-Authenticate"]
        assert (
            response["responseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"]
            == "'*'"
        )
        body = json.loads(response["responseTemplates"]["application/json"])
        assert body["resource_metadata"] == prm, response_type
        if response_type == "ACCESS_DENIED":
            continue  # the authorizer's Deny context holds the 403's challenge
        assert header.startswith("'Bearer "), response_type
        assert header.endswith("'"), response_type
        assert f'resource_metadata="{prm}"' in header, response_type
    denied = items["ACCESS_DENIED"]["responseParameters"]["gatewayresponse.header.WWW-Authenticate"]
    assert denied == "context.authorizer.www_authenticate"
    unauthorized = items["UNAUTHORIZED"]["responseParameters"][
        "gatewayresponse.header.WWW-Authenticate"
    ]
    # Commas normalised to RFC 6750 spaces; the required scopes first, each once.
    assert 'scope="read:gists write:gists admin:server"' in unauthorized

    # Exactly what the shared definition says, nothing hand-built here.
    expected = build_gateway_responses(
        prm, "read:gists write:gists", "*", "read:gists write:gists admin:server"
    )
    for response in expected:
        kwargs = response.as_put_kwargs(rest_api)
        assert items[response.response_type]["responseParameters"] == kwargs["responseParameters"]

    deployments = apigateway.get_deployments(restApiId=rest_api)["items"]
    new = [d for d in deployments if d["id"] not in before]
    assert len(new) == 1
    assert new[0]["description"] == DEPLOYMENT_DESCRIPTION
    assert apigateway.get_stage(restApiId=rest_api, stageName=STAGE)["deploymentId"] == new[0]["id"]
    assert reply.body["Data"]["DeploymentId"] == new[0]["id"]


def test_update_reinstalls_after_the_body_overwrite_dropped_them(
    apigateway: Any, rest_api: str, sink: ResponseSink
):
    """What a later sam deploy does: PUT mode=overwrite removes responses, then we run again."""
    handle_event(
        cfn_event("Create", sink.url, properties(rest_api)), LambdaContext(), apigateway=apigateway
    )
    for response_type in EXPECTED_STATUS:
        apigateway.delete_gateway_response(restApiId=rest_api, responseType=response_type)
    assert apigateway.get_gateway_responses(restApiId=rest_api)["items"] == []

    status = handle_event(
        cfn_event(
            "Update",
            sink.url,
            properties(rest_api, DeploymentId="def456"),
            physical=physical_id(rest_api),
        ),
        LambdaContext(),
        apigateway=apigateway,
    )

    assert status == "SUCCESS"
    assert [r.body["Status"] for r in sink.requests] == ["SUCCESS", "SUCCESS"]
    assert set(responses_by_type(apigateway, rest_api)) == set(EXPECTED_STATUS)
    deployments = apigateway.get_deployments(restApiId=rest_api)["items"]
    assert [d.get("description") for d in deployments].count(DEPLOYMENT_DESCRIPTION) == 2


def test_custom_domain_prm_url_is_used_verbatim(apigateway: Any, rest_api: str, sink: ResponseSink):
    prm = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    handle_event(
        cfn_event("Create", sink.url, properties(rest_api, PrmUrl=prm)),
        LambdaContext(),
        apigateway=apigateway,
    )
    assert sink.only().body["Status"] == "SUCCESS"
    response = apigateway.get_gateway_response(restApiId=rest_api, responseType="UNAUTHORIZED")
    header = response["responseParameters"]["gatewayresponse.header.WWW-Authenticate"]
    assert header.endswith(f'resource_metadata="{prm}"\'')


def test_delete_succeeds_without_touching_the_api(
    apigateway: Any, rest_api: str, sink: ResponseSink
):
    handle_event(
        cfn_event("Create", sink.url, properties(rest_api)), LambdaContext(), apigateway=apigateway
    )
    responses = apigateway.get_gateway_responses(restApiId=rest_api)["items"]
    deployments = apigateway.get_deployments(restApiId=rest_api)["items"]
    stage = apigateway.get_stage(restApiId=rest_api, stageName=STAGE)["deploymentId"]

    status = handle_event(
        cfn_event("Delete", sink.url, properties(rest_api), physical=physical_id(rest_api)),
        LambdaContext(),
        apigateway=apigateway,
    )

    assert status == "SUCCESS"
    reply = sink.requests[-1].body
    assert reply["Status"] == "SUCCESS"
    assert reply["PhysicalResourceId"] == f"{rest_api}-gateway-responses"
    assert apigateway.get_gateway_responses(restApiId=rest_api)["items"] == responses
    assert apigateway.get_deployments(restApiId=rest_api)["items"] == deployments
    assert apigateway.get_stage(restApiId=rest_api, stageName=STAGE)["deploymentId"] == stage


def test_delete_of_a_failed_create_needs_no_api(aws: None, sink: ResponseSink):
    """CloudFormation deletes a resource whose create failed; that must not fail too."""
    event = cfn_event("Delete", sink.url, {}, physical="GatewayResponses")
    assert handle_event(event, LambdaContext()) == "SUCCESS"
    assert sink.only().body["PhysicalResourceId"] == "GatewayResponses"


def test_unknown_api_sends_failed_with_a_reason(apigateway: Any, sink: ResponseSink):
    status = handle_event(
        cfn_event("Create", sink.url, properties("nosuchapi1")),
        LambdaContext(),
        apigateway=apigateway,
    )
    assert status == "FAILED"
    reply = sink.only().body
    assert reply["Status"] == "FAILED"
    assert reply["PhysicalResourceId"] == "nosuchapi1-gateway-responses"
    assert "NotFoundException" in reply["Reason"]
    assert "log stream 2025/11/22" in reply["Reason"]
    assert "testing" not in reply["Reason"]  # no credentials echo


def test_missing_property_fails_with_its_name(apigateway: Any, rest_api: str, sink: ResponseSink):
    props = properties(rest_api)
    del props["PrmUrl"]
    assert (
        handle_event(cfn_event("Create", sink.url, props), LambdaContext(), apigateway=apigateway)
        == "FAILED"
    )
    assert "PrmUrl" in sink.only().body["Reason"]
    assert apigateway.get_gateway_responses(restApiId=rest_api)["items"] == []


def test_relative_prm_url_is_refused(apigateway: Any, rest_api: str, sink: ResponseSink):
    props = properties(rest_api, PrmUrl="/prod/.well-known/oauth-protected-resource/mcp")
    assert (
        handle_event(cfn_event("Create", sink.url, props), LambdaContext(), apigateway=apigateway)
        == "FAILED"
    )
    assert "absolute" in sink.only().body["Reason"]


def test_quote_in_allow_origin_fails_instead_of_breaking_the_header(
    apigateway: Any, rest_api: str, sink: ResponseSink
):
    props = properties(rest_api, AllowOrigin="https://a'b")
    assert (
        handle_event(cfn_event("Create", sink.url, props), LambdaContext(), apigateway=apigateway)
        == "FAILED"
    )
    assert sink.only().body["Status"] == "FAILED"


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An endpoint that accepts connections and never answers: a hung control plane."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        listener.close()


def test_watchdog_answers_failed_before_lambda_times_out(
    monkeypatch: pytest.MonkeyPatch, silent_endpoint: str, sink: ResponseSink
):
    """A hung control-plane call must not leave the stack waiting for ServiceTimeout."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    hung = boto3.client(
        "apigateway",
        region_name=REGION,
        endpoint_url=silent_endpoint,
        config=Config(read_timeout=1, connect_timeout=1, retries={"total_max_attempts": 1}),
    )
    context = LambdaContext(remaining_ms=3_300)  # the watchdog fires after ~0.3 s
    started = time.monotonic()

    status = handle_event(
        cfn_event("Create", sink.url, properties("abcdef1234")), context, apigateway=hung
    )

    assert [r.body["Status"] for r in sink.requests] == ["FAILED"]
    assert sink.requests[0].body["Reason"] == "timed out"
    assert status == "FAILED"  # the read timeout came later and was not sent twice
    assert time.monotonic() - started >= 1


def test_response_url_must_be_https_or_loopback(sink: ResponseSink):
    event = cfn_event("Delete", "http://example.com/cfn", properties("abcdef1234"))
    # Nothing is delivered anywhere; the handler still returns instead of raising.
    assert handle_event(event, LambdaContext()) == "SUCCESS"
    assert sink.requests == []
