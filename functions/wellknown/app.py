"""Well-known endpoints: protected-resource and authorization-server metadata.

No authorizer in front; CORS on every answer so browser-based MCP clients can
discover us. The documents come from gistgate.oauth.wellknown.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response

from gistgate.core.config import get_settings
from gistgate.core.discovery import Discovery
from gistgate.core.observability import logger
from gistgate.core.responses import json_response
from gistgate.core.urls import BaseUrlUnknown, base_url
from gistgate.oauth.wellknown import (
    AS_METADATA_CACHE_CONTROL,
    JWKS_CACHE_CONTROL,
    PRM_CACHE_CONTROL,
    PublishedKeys,
    WellKnownError,
    authorization_server_metadata,
    protected_resource_metadata,
)

SETTINGS = get_settings()
DISCOVERY = Discovery()
JWKS = PublishedKeys(SETTINGS)
app = APIGatewayRestResolver(
    cors=CORSConfig(allow_origin="*", expose_headers=["WWW-Authenticate"], max_age=600)
)


@app.get("/.well-known/oauth-protected-resource")
@app.get("/.well-known/oauth-protected-resource/mcp")
def protected_resource() -> Response[str]:
    base = base_url(SETTINGS, app.current_event.raw_event)
    return json_response(200, protected_resource_metadata(SETTINGS, base), PRM_CACHE_CONTROL)


@app.get("/.well-known/oauth-authorization-server")
@app.get("/.well-known/openid-configuration")
def authorization_server() -> Response[str]:
    base = base_url(SETTINGS, app.current_event.raw_event)
    document = authorization_server_metadata(SETTINGS, DISCOVERY, base)
    return json_response(200, document, AS_METADATA_CACHE_CONTROL)


@app.get("/.well-known/jwks.json")
def jwks() -> Response[str]:
    return json_response(200, JWKS.public_jwks(), JWKS_CACHE_CONTROL)


@app.exception_handler(WellKnownError)
def well_known_error(exc: WellKnownError) -> Response[str]:
    return json_response(
        exc.status, {"error": exc.error, "error_description": str(exc)}, "no-store"
    )


@app.exception_handler(BaseUrlUnknown)
def unknown_base(exc: BaseUrlUnknown) -> Response[str]:
    return json_response(
        400, {"error": "invalid_request", "error_description": str(exc)}, "no-store"
    )


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Route one API Gateway (REST) proxy event."""
    return app.resolve(event, context)
