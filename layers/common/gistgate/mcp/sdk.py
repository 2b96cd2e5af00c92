"""Every place gistgate touches the MCP SDK beyond its documented surface.

mcp 2.x keeps the low-level server (which a per-request
``StreamableHTTPSessionManager`` needs) behind a private attribute, and hands
tools the HTTP request only through the request context. Both are reached
here and nowhere else; ``tests/unit/mcp/test_sdk.py`` fails loudly when
the SDK moves them.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp.server.lowlevel import Server
    from mcp.server.mcpserver import Context, MCPServer

__all__ = ["SCOPE_BASE_URL", "SCOPE_IDENTITY", "lowlevel_server", "quiet_sdk_logs", "request_scope"]

# Where the HTTP layer leaves the caller for the tools, in the ASGI scope.
SCOPE_IDENTITY = "gistgate.identity"
SCOPE_BASE_URL = "gistgate.base_url"

# The SDK (and Mangum) log every request and session start/stop at INFO: noise (and cost) per
# invocation on Lambda. Warnings and errors still come through.
_CHATTY_LOGGERS = ("mcp", "httpx2", "sse_starlette", "uvicorn", "mangum")


def lowlevel_server(server: MCPServer) -> Server[Any]:
    """The low-level ``Server`` behind an ``MCPServer`` (private in mcp 2.x)."""
    from mcp.server.lowlevel import Server

    low = getattr(server, "_lowlevel_server", None)
    if not isinstance(low, Server):
        raise RuntimeError("mcp SDK changed: MCPServer._lowlevel_server is not a lowlevel Server")
    return low


def request_scope(ctx: Context) -> MutableMapping[str, Any]:
    """The ASGI scope of the HTTP request that carried this tool call."""
    request = ctx.request_context.request
    scope = getattr(request, "scope", None)
    if not isinstance(scope, MutableMapping):
        raise RuntimeError("mcp SDK changed: the request context carries no Starlette request")
    return scope


def quiet_sdk_logs() -> None:
    """Raise the SDK's loggers to WARNING."""
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
