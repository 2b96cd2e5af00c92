"""The API Gateway *gateway responses* that carry our challenges.

A Lambda proxy integration cannot set ``WWW-Authenticate`` (API Gateway renames
it), and the authorizer's 401 never reaches a Lambda at all. So the 401/403/5xx
challenges live in gateway responses. Their header needs the absolute PRM URL,
which contains the API id; see ``docs/gateway-responses.md`` for how the
template gets it there on a single ``sam deploy``. This module is the single
definition of what those responses contain: the custom resource that installs
them and the tests both use it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from gistgate.core.challenge import bearer_challenge

__all__ = ["CORS_ALLOW_HEADERS", "GatewayResponse", "build_gateway_responses"]

CORS_ALLOW_HEADERS = "Authorization,Content-Type,Mcp-Protocol-Version,Mcp-Session-Id,Last-Event-ID"
CORS_EXPOSE_HEADERS = "WWW-Authenticate,Mcp-Session-Id"


@dataclass(frozen=True)
class GatewayResponse:
    """One response type as API Gateway's PutGatewayResponse takes it."""

    response_type: str
    status_code: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    def as_put_kwargs(self, rest_api_id: str) -> dict[str, object]:
        """Arguments for ``apigateway.put_gateway_response``; header values are quoted statics."""
        return {
            "restApiId": rest_api_id,
            "responseType": self.response_type,
            "statusCode": self.status_code,
            "responseParameters": {
                f"gatewayresponse.header.{name}": f"'{value}'"
                for name, value in self.headers.items()
            },
            "responseTemplates": {"application/json": self.body},
        }


def build_gateway_responses(
    prm_url: str, required_scopes: str = "", allow_origin: str = "*"
) -> list[GatewayResponse]:
    """The four challenge-carrying responses for an API whose PRM lives at ``prm_url``."""
    if "'" in allow_origin:
        raise ValueError("allow_origin must not contain a quote")
    cors = {
        "Access-Control-Allow-Origin": allow_origin,
        "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
        "Access-Control-Expose-Headers": CORS_EXPOSE_HEADERS,
    }

    def response(kind: str, status: int, challenge: str, body: dict[str, str]) -> GatewayResponse:
        headers = {"WWW-Authenticate": challenge, **cors}
        return GatewayResponse(kind, str(status), headers, json.dumps(body, sort_keys=True))

    unauthorized = bearer_challenge(prm_url)
    scope = required_scopes.strip() or None
    return [
        # No `error`: the gateway answers a missing and an invalid token alike (RFC 6750 §3.1).
        response(
            "UNAUTHORIZED",
            401,
            unauthorized,
            {"message": "Unauthorized", "resource_metadata": prm_url},
        ),
        response(
            "ACCESS_DENIED",
            403,
            bearer_challenge(prm_url, error="insufficient_scope", scope=scope),
            {"error": "insufficient_scope", "scope": scope or "", "resource_metadata": prm_url},
        ),
        # The key or introspection service is down: fail closed, tell the client to retry.
        response(
            "AUTHORIZER_FAILURE",
            503,
            unauthorized,
            {"error": "temporarily_unavailable", "resource_metadata": prm_url},
        ),
        response(
            "AUTHORIZER_CONFIGURATION_ERROR",
            500,
            unauthorized,
            {"error": "server_error", "resource_metadata": prm_url},
        ),
    ]
