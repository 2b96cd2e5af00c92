"""MCP function: POST /mcp behind the authorizer (FastAPI + MCP SDK, via Mangum).

The tool registry, the FastAPI app and every client are built once per
execution environment; each invocation runs one stateless MCP request.
"""

from __future__ import annotations

from typing import Any

from mangum import Mangum

from gistgate.core.config import get_settings
from gistgate.core.inbound import MalformedRequest
from gistgate.core.observability import logger
from gistgate.mcp.http import build_app, check_event, malformed_response
from gistgate.mcp.sdk import quiet_sdk_logs
from gistgate.mcp.services import build_services
from gistgate.mcp.snapstart import register_snapstart_hooks
from gistgate.mcp.tools import build_server

SETTINGS = get_settings()
SERVICES = build_services(SETTINGS)
app = build_app(SETTINGS, build_server(SERVICES))
quiet_sdk_logs()
_mangum = Mangum(app, lifespan="off")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One API Gateway (REST v1 or HTTP API v2) event, one MCP request."""
    try:
        check_event(event)
    except MalformedRequest as exc:
        logger.info("malformed request", extra={"error": type(exc).__name__, "part": exc.part})
        return malformed_response(exc)
    return _mangum(event, context)


register_snapstart_hooks(_mangum)
