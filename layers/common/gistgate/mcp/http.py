"""The MCP function's HTTP surface: ``POST /mcp`` (stateless streamable HTTP, JSON).

FastAPI holds the routes, Mangum turns API Gateway events into ASGI. The
traps (aws-pitfalls.md) and how this module avoids them:

* Mangum runs the ASGI lifespan per invocation and a session manager runs
  once only, so the MCP server (tools) is module-global and a new stateless
  ``StreamableHTTPSessionManager`` is made and run per request.
* ``POST /mcp`` is an exact route (a mount would answer 307), and slashes are
  not redirected.
* The SDK's DNS-rebinding guard would answer 421 to API Gateway's Host; it is
  off, and the ``Origin`` header is checked here against
  ``MCP_ALLOWED_ORIGINS`` instead (no Origin, as from non-browser clients, is
  allowed).
* The caller comes from the authorizer's context, never from headers. No
  context, or an ``exp`` already past (a cached Allow can outlive its token),
  is answered 401 with the Bearer challenge and no tool runs.
* Mangum encodes every header, the query and a text body as UTF-8, splits
  Host on ``:`` and reads the port as an int, and raises (a 502) when it
  cannot. :func:`check_event` refuses such an event first, and a body that
  is not UTF-8 (JSON must be), as a 400 ``invalid_request`` (RFC 6750 §3.1);
  what the text says is the SDK's to judge (JSON-RPC -32700 with a 400).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from gistgate.core import inbound
from gistgate.core.challenge import bearer_challenge
from gistgate.core.config import LOOPBACK_ORIGINS, Settings
from gistgate.core.inbound import BadAuthority, MalformedRequest
from gistgate.core.urls import BaseUrlUnknown, base_url, prm_url
from gistgate.mcp.identity import IdentityError, identity_from_event
from gistgate.mcp.sdk import SCOPE_BASE_URL, SCOPE_IDENTITY
from gistgate.mcp.server import serve

if TYPE_CHECKING:
    from fastapi import FastAPI
    from mcp.server.mcpserver import MCPServer
    from starlette.types import Receive, Scope, Send

__all__ = ["build_app", "check_event", "malformed_response", "origin_allowed"]

JSON = "application/json"
# Lambda's request payload limit. The SDK's default (4 MiB) would answer 413 to a call the
# tools accept (4 MB of file content), before the tool could say what is too large.
MAX_REQUEST_BYTES = 6 * 1024 * 1024


async def _send_json(
    send: Send, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", JSON.encode()), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


def check_event(event: Mapping[str, Any]) -> None:
    """Raise :class:`MalformedRequest` for an event Mangum could not turn into ASGI."""
    inbound.check_headers(event)
    host = inbound.header(event, "Host")
    if host is not None and inbound.authority(host).count(":") > 1:
        # Mangum's split(":") needs one colon at most: an IPv6 literal with a port,
        # which API Gateway never sends (its Host is the API's domain name).
        raise BadAuthority("Host header")
    port = inbound.header(event, "X-Forwarded-Port")
    if port is not None and not (port.isascii() and port.isdigit() and len(port) <= 5):
        raise MalformedRequest("X-Forwarded-Port header")
    inbound.query_pairs(event)
    inbound.body_text(event)  # JSON-RPC is UTF-8 JSON; Mangum encodes a text body strictly


def malformed_response(exc: MalformedRequest) -> dict[str, Any]:
    """The proxy answer (REST and HTTP API alike) to an event :func:`check_event` refused."""
    return {
        "statusCode": exc.status,
        "headers": {"Content-Type": JSON, "Cache-Control": "no-store"},
        "body": json.dumps(exc.body()),
        "isBase64Encoded": False,
    }


def _is_loopback_origin(origin: str) -> bool:
    """``http://localhost|127.0.0.1|[::1][:port]`` exactly (RFC 6454 origin, no path)."""
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        return False
    return (
        parts.scheme == "http"
        and parts.hostname in ("localhost", "127.0.0.1", "::1")
        and not (parts.path or parts.query or parts.fragment or parts.username)
        and origin == f"http://{parts.netloc}"
    )


def origin_allowed(origin: str | None, allowed: tuple[str, ...]) -> bool:
    """No Origin (not a browser) is fine; a browser's must be listed (or ``*``, or a
    loopback one under ``loopback``)."""
    if origin is None:
        return True
    if "*" in allowed or origin.rstrip("/") in allowed:
        return True
    return LOOPBACK_ORIGINS in allowed and _is_loopback_origin(origin)


class McpEndpoint:
    """ASGI endpoint for ``POST /mcp``: checks, then one session manager per request."""

    def __init__(self, settings: Settings, server: MCPServer) -> None:
        self._settings = settings
        # Tools only, advertised as such at every revision (gistgate/mcp/server.py).
        self._low = serve(server, settings)
        # Our own Origin check replaces the SDK's Host/Origin guard (see module doc).
        self._security = TransportSecuritySettings(enable_dns_rebinding_protection=False)

    async def _unauthorized(
        self, send: Send, event: Mapping[str, Any], error: IdentityError
    ) -> None:
        description = str(error)
        try:
            challenge = bearer_challenge(
                prm_url(base_url(self._settings, event)),
                error="invalid_token",
                error_description=description,
            )
        except ValueError:  # no base URL (BaseUrlUnknown), or one that cannot be quoted
            challenge = f'Bearer error="invalid_token", error_description="{description}"'
        await _send_json(
            send,
            401,
            {"error": "invalid_token", "error_description": description},
            {"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        event = scope.get("aws.event") or {}
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin")
        if not origin_allowed(
            origin.decode("latin-1") if origin else None, self._settings.mcp_allowed_origins
        ):
            await _send_json(
                send,
                403,
                {"error": "forbidden_origin", "error_description": "this Origin is not allowed"},
            )
            return
        try:
            identity = identity_from_event(event)
        except IdentityError as exc:
            await self._unauthorized(send, event, exc)
            return
        scope[SCOPE_IDENTITY] = identity
        try:
            scope[SCOPE_BASE_URL] = base_url(self._settings, event)
        except BaseUrlUnknown:
            scope[SCOPE_BASE_URL] = None
        manager = StreamableHTTPSessionManager(
            app=self._low,
            stateless=True,
            json_response=True,
            security_settings=self._security,
            max_request_body_size=MAX_REQUEST_BYTES,
        )
        async with manager.run():
            await manager.handle_request(scope, receive, send)


class MethodNotAllowed:
    """GET (no SSE stream) and DELETE (no session) on a stateless server: 405.

    An ASGI class, not a function: Starlette would wrap a function as request/response.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _send_json(
            send,
            405,
            {
                "jsonrpc": "2.0",
                "id": None,
                "error": {
                    "code": -32000,
                    "message": "Method not allowed: this server is stateless; use POST",
                },
            },
            {"Allow": "POST"},
        )


def build_app(settings: Settings, server: MCPServer) -> FastAPI:
    """The ASGI app: exact ``/mcp`` routes only, no docs, no slash redirects."""
    from fastapi import FastAPI
    from starlette.routing import Route

    app = FastAPI(
        title="gistgate", openapi_url=None, docs_url=None, redoc_url=None, redirect_slashes=False
    )
    app.router.routes.append(Route("/mcp", McpEndpoint(settings, server), methods=["POST"]))
    app.router.routes.append(Route("/mcp", MethodNotAllowed(), methods=["GET", "DELETE"]))
    return app
