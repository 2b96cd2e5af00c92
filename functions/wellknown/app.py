"""Well-known endpoints: protected-resource and authorization-server metadata.

No authorizer in front; CORS on every answer so browser-based MCP clients can
discover us. The documents come from gistgate.wellknown.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response

from gistgate.config import get_settings
from gistgate.discovery import Discovery
from gistgate.observability import logger
from gistgate.urls import BaseUrlUnknown, base_url
from gistgate.wellknown import (
    AS_METADATA_CACHE_CONTROL,
    PRM_CACHE_CONTROL,
    WellKnownError,
    authorization_server_metadata,
    protected_resource_metadata,
)

SETTINGS = get_settings()
DISCOVERY = Discovery()
app = APIGatewayRestResolver(
    cors=CORSConfig(allow_origin="*", expose_headers=["WWW-Authenticate"], max_age=600)
)


def _json(status: int, body: dict[str, Any], cache_control: str) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body),
        headers={"Cache-Control": cache_control},
    )


@app.get("/.well-known/oauth-protected-resource")
@app.get("/.well-known/oauth-protected-resource/mcp")
def protected_resource() -> Response:
    base = base_url(SETTINGS, app.current_event.raw_event)
    return _json(200, protected_resource_metadata(SETTINGS, base), PRM_CACHE_CONTROL)


@app.get("/.well-known/oauth-authorization-server")
@app.get("/.well-known/openid-configuration")
def authorization_server() -> Response:
    return _json(200, authorization_server_metadata(SETTINGS, DISCOVERY), AS_METADATA_CACHE_CONTROL)


@app.exception_handler(WellKnownError)
def well_known_error(exc: WellKnownError) -> Response:
    return _json(exc.status, {"error": exc.error, "error_description": str(exc)}, "no-store")


@app.exception_handler(BaseUrlUnknown)
def unknown_base(exc: BaseUrlUnknown) -> Response:
    return _json(400, {"error": "invalid_request", "error_description": str(exc)}, "no-store")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Route one API Gateway (REST) proxy event."""
    return app.resolve(event, context)
