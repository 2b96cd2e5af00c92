"""The ``Custom::GatewayResponses`` resource: install the challenges, redeploy the stage.

Why a custom resource: the ``WWW-Authenticate`` value needs the API's own URL,
which is circular inside the SAM Api, and separate ``AWS::ApiGateway::GatewayResponse``
resources are dropped whenever SAM overwrites the API body (docs/gateway-responses.md).
This runs after SAM's stage update on every deploy that changes the API, puts
the four responses from :mod:`gistgate.cfn.responses` and redeploys the stage.

CloudFormation waits for an answer on ``ResponseURL`` no matter what happens,
so every path (including a near-timeout) sends exactly one SUCCESS or FAILED.
Only stdlib and boto3 (from the Lambda runtime) are used.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from gistgate.cfn.responses import build_gateway_responses

__all__ = ["DEPLOYMENT_DESCRIPTION", "ApiGatewayClient", "handle_event", "physical_id"]

LOG = logging.getLogger(__name__)

DEPLOYMENT_DESCRIPTION = "gistgate gateway responses"
MAX_REASON_CHARS = 900  # the whole response body must stay under CloudFormation's 4 KiB
WATCHDOG_MARGIN_MS = 3000  # answer FAILED this long before Lambda would kill us
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

Sender = Callable[[str, bytes], None]


class PropertyError(ValueError):
    """A resource property is missing or malformed (the message is safe to show)."""


def physical_id(rest_api_id: str) -> str:
    """Stable per API, so an update never looks like a replacement to CloudFormation."""
    return f"{rest_api_id}-gateway-responses"


def _required(props: Mapping[str, Any], name: str) -> str:
    value = props.get(name)
    if not isinstance(value, str) or not value.strip():
        raise PropertyError(f"property {name} is required")
    return value.strip()


class ApiGatewayClient(Protocol):
    """The two calls made on boto3's ``apigateway`` client."""

    def put_gateway_response(self, **params: Any) -> Any: ...

    def create_deployment(self, **params: Any) -> Any: ...


def _normalise_scopes(raw: Any) -> str:
    """CloudFormation passes strings; the parameter allows commas, RFC 6750 wants spaces."""
    return " ".join(str(raw or "").replace(",", " ").split())


def install_gateway_responses(
    apigateway: ApiGatewayClient,
    *,
    rest_api_id: str,
    stage_name: str,
    prm_url: str,
    required_scopes: str = "",
    allow_origin: str = "*",
    default_scopes: str = "",
) -> str:
    """Put every gateway response, then redeploy ``stage_name``; return the deployment id.

    Gateway responses take effect only in a new deployment, hence the redeploy.
    """
    if not prm_url.startswith("https://"):
        raise PropertyError("property PrmUrl must be an absolute https URL")
    responses = build_gateway_responses(
        prm_url,
        _normalise_scopes(required_scopes),
        allow_origin,
        _normalise_scopes(default_scopes),
    )
    for response in responses:
        apigateway.put_gateway_response(**response.as_put_kwargs(rest_api_id))
    deployment = apigateway.create_deployment(
        restApiId=rest_api_id, stageName=stage_name, description=DEPLOYMENT_DESCRIPTION
    )
    return str(deployment["id"])


def _check_response_url(url: str) -> None:
    """Only CloudFormation's https pre-signed URL, or loopback http for local tests."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS):
        return
    raise ValueError("ResponseURL must be https (or http on a loopback host)")


def put_response_body(url: str, body: bytes) -> None:
    """HTTP PUT to the pre-signed URL. An empty Content-Type, as the signature expects."""
    _check_response_url(url)
    request = urllib.request.Request(  # noqa: S310 (scheme checked just above)
        url,
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
        reply.read()


def response_body(
    event: Mapping[str, Any],
    status: str,
    *,
    physical_resource_id: str,
    reason: str = "",
    data: Mapping[str, str] | None = None,
) -> bytes:
    """The JSON document CloudFormation expects on ``ResponseURL``."""
    document = {
        "Status": status,
        "Reason": reason[:MAX_REASON_CHARS],
        "PhysicalResourceId": physical_resource_id,
        "StackId": event.get("StackId", ""),
        "RequestId": event.get("RequestId", ""),
        "LogicalResourceId": event.get("LogicalResourceId", ""),
        "NoEcho": False,
        "Data": dict(data or {}),
    }
    return json.dumps(document).encode()


class _OneAnswer:
    """Sends at most one response, whichever of the handler and the watchdog comes first."""

    def __init__(self, event: Mapping[str, Any], send: Sender) -> None:
        self._event = event
        self._send = send
        self._lock = threading.Lock()
        self._sent = False

    def __call__(
        self,
        status: str,
        *,
        physical_resource_id: str,
        reason: str = "",
        data: Mapping[str, str] | None = None,
    ) -> bool:
        with self._lock:
            if self._sent:
                return False
            self._sent = True
        body = response_body(
            self._event, status, physical_resource_id=physical_resource_id, reason=reason, data=data
        )
        last_error: Exception | None = None
        for _ in range(3):
            try:
                self._send(str(self._event["ResponseURL"]), body)
                return True
            except Exception as exc:
                last_error = exc
        LOG.error("could not deliver the CloudFormation response: %r", last_error)
        return False


def _failure_reason(exc: Exception, context: Any) -> str:
    """Class and message only: properties hold no secrets, and AWS errors echo none."""
    stream = getattr(context, "log_stream_name", None)
    where = f" (log stream {stream})" if stream else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _default_client() -> ApiGatewayClient:
    import boto3  # the Lambda runtime's; imported here so tests can set up moto first
    from botocore.config import Config

    # The API Gateway control plane throttles hard (CreateDeployment especially).
    config = Config(retries={"mode": "standard", "max_attempts": 6}, read_timeout=15)
    client: ApiGatewayClient = boto3.client("apigateway", config=config)
    return client


def handle_event(
    event: Mapping[str, Any],
    context: Any,
    *,
    apigateway: ApiGatewayClient | None = None,
    send: Sender = put_response_body,
) -> str:
    """Process one custom-resource event and answer CloudFormation; return the status sent."""
    props: Mapping[str, Any] = event.get("ResourceProperties") or {}
    api_id = props.get("RestApiId")
    fallback_id = str(
        event.get("PhysicalResourceId") or event.get("LogicalResourceId") or "gateway-responses"
    )
    resource_id = physical_id(api_id) if isinstance(api_id, str) and api_id else fallback_id
    answer = _OneAnswer(event, send)

    watchdog = None
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        delay = max(0.0, (remaining() - WATCHDOG_MARGIN_MS) / 1000)
        watchdog = threading.Timer(
            delay,
            answer,
            args=("FAILED",),
            kwargs={"physical_resource_id": resource_id, "reason": "timed out"},
        )
        watchdog.daemon = True
        watchdog.start()
    try:
        request_type = event.get("RequestType")
        if request_type == "Delete":
            # Deleting the RestApi deletes its responses; a replaced API must keep its own.
            answer("SUCCESS", physical_resource_id=resource_id)
            return "SUCCESS"
        if request_type not in ("Create", "Update"):
            raise PropertyError(f"unknown RequestType {request_type!r}")
        deployment_id = install_gateway_responses(
            apigateway if apigateway is not None else _default_client(),
            rest_api_id=_required(props, "RestApiId"),
            stage_name=_required(props, "StageName"),
            prm_url=_required(props, "PrmUrl"),
            required_scopes=str(props.get("RequiredScopes") or ""),
            allow_origin=str(props.get("AllowOrigin") or "*"),
            default_scopes=str(props.get("DefaultScopes") or ""),
        )
        answer(
            "SUCCESS",
            physical_resource_id=resource_id,
            data={"DeploymentId": deployment_id, "PrmUrl": str(props["PrmUrl"])},
        )
        return "SUCCESS"
    except Exception as exc:
        LOG.exception("gateway responses %s failed", event.get("RequestType"))
        answer("FAILED", physical_resource_id=resource_id, reason=_failure_reason(exc, context))
        return "FAILED"
    finally:
        if watchdog is not None:
            watchdog.cancel()
