"""The API Gateway *gateway responses* that carry our challenges.

A Lambda proxy integration cannot set ``WWW-Authenticate`` (API Gateway renames
it), and the authorizer's 401 never reaches a Lambda at all. So the 401/403/5xx
challenges live in gateway responses. Their header needs the absolute PRM URL,
which contains the API id; see ``docs/gateway-responses.md`` for how the
template gets it there on a single ``sam deploy``. This module is the single
definition of what those responses contain: the custom resource that installs
them, the local gateway and the tests all use it.

The 403's challenge is per request (the scopes of the tool being called), so
ACCESS_DENIED takes its whole ``WWW-Authenticate`` value from the authorizer's
Deny context (``context.authorizer.www_authenticate``, a parameter-mapping
source of gateway responses; docs/step-up.md has the evidence).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from gistgate.core.challenge import bearer_challenge

__all__ = [
    "CORS_ALLOW_HEADERS",
    "DENY_CHALLENGE_SOURCE",
    "GatewayResponse",
    "build_gateway_responses",
]

# MCP 2026-07-28 clients send Mcp-Method and Mcp-Name on every POST (a browser needs
# them allowed); the 2025 revisions' Mcp-Session-Id and Last-Event-ID stay.
CORS_ALLOW_HEADERS = (
    "Authorization,Content-Type,Mcp-Protocol-Version,Mcp-Method,Mcp-Name,"
    "Mcp-Session-Id,Last-Event-ID"
)
# The Deny context value the ACCESS_DENIED response sends as WWW-Authenticate.
DENY_CHALLENGE_SOURCE = "context.authorizer.www_authenticate"
CORS_EXPOSE_HEADERS = "WWW-Authenticate,Mcp-Session-Id"


@dataclass(frozen=True)
class GatewayResponse:
    """One response type as API Gateway's PutGatewayResponse takes it."""

    response_type: str
    status_code: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    # Headers whose value is a parameter-mapping source, not a static string.
    mapped: dict[str, str] = field(default_factory=dict)

    def as_put_kwargs(self, rest_api_id: str) -> dict[str, object]:
        """Arguments for ``apigateway.put_gateway_response``: statics quoted, sources not."""
        parameters = {
            f"gatewayresponse.header.{name}": f"'{value}'" for name, value in self.headers.items()
        }
        parameters.update(
            {f"gatewayresponse.header.{name}": source for name, source in self.mapped.items()}
        )
        return {
            "restApiId": rest_api_id,
            "responseType": self.response_type,
            "statusCode": self.status_code,
            "responseParameters": parameters,
            "responseTemplates": {"application/json": self.body},
        }


def build_gateway_responses(
    prm_url: str, required_scopes: str = "", allow_origin: str = "*", default_scopes: str = ""
) -> list[GatewayResponse]:
    """The four challenge-carrying responses for an API whose PRM lives at ``prm_url``.

    ``default_scopes`` go in the 401's ``scope`` (MCP: SHOULD), what a client asks for
    when it has no token yet; the 403's challenge comes from the authorizer.
    """
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
    first_scopes = " ".join(dict.fromkeys((required_scopes + " " + default_scopes).split()))
    return [
        # No `error`: the gateway answers a missing and an invalid token alike (RFC 6750 §3.1).
        response(
            "UNAUTHORIZED",
            401,
            bearer_challenge(prm_url, scope=first_scopes or None),
            {"message": "Unauthorized", "resource_metadata": prm_url},
        ),
        GatewayResponse(
            "ACCESS_DENIED",
            "403",
            cors,
            json.dumps(
                {"error": "insufficient_scope", "resource_metadata": prm_url}, sort_keys=True
            ),
            mapped={"WWW-Authenticate": DENY_CHALLENGE_SOURCE},
        ),
        # An authorizer that raises anything but "Unauthorized" (ours does only when the
        # keys or the introspection endpoint cannot be reached, or at a broken init) or
        # times out is answered as AUTHORIZER_CONFIGURATION_ERROR, 500 by default
        # (docs/gateway-responses.md): we make it the retryable 503 it is. Both types
        # fail closed with the challenge.
        response(
            "AUTHORIZER_FAILURE",
            503,
            unauthorized,
            {"error": "temporarily_unavailable", "resource_metadata": prm_url},
        ),
        response(
            "AUTHORIZER_CONFIGURATION_ERROR",
            503,
            unauthorized,
            {"error": "temporarily_unavailable", "resource_metadata": prm_url},
        ),
    ]
