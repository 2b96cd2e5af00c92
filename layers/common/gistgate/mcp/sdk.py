"""Every place gistgate touches the MCP SDK beyond its documented surface.

mcp 2.x keeps the low-level server (which a per-request
``StreamableHTTPSessionManager`` needs) behind a private attribute, hands
tools the HTTP request only through the request context, and registers a
handler for every spec method ``MCPServer`` knows (prompts, resources,
``subscriptions/listen``) with no public way to take one back, although the
capabilities it advertises are derived from exactly that registry. All three
are reached here and nowhere else; ``tests/unit/mcp/test_sdk.py`` fails loudly
when the SDK moves them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp.server.lowlevel import Server
    from mcp.server.mcpserver import Context, MCPServer

__all__ = [
    "SCOPE_BASE_URL",
    "SCOPE_IDENTITY",
    "drop_request_handlers",
    "lowlevel_server",
    "quiet_sdk_logs",
    "request_methods",
    "request_scope",
]

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


def _handlers(low: Server[Any]) -> dict[str, Any]:
    """The low-level server's request-handler registry (private in mcp 2.x)."""
    handlers = getattr(low, "_request_handlers", None)
    # The registry the public getter reads, not a stale copy of it.
    same = isinstance(handlers, dict) and all(
        low.get_request_handler(method) is handlers.get(method)
        for method in {*handlers, "tools/list", "tools/call"}
    )
    if not same:
        raise RuntimeError("mcp SDK changed: Server._request_handlers is not the handler registry")
    return handlers  # type: ignore[return-value]


def request_methods(low: Server[Any]) -> frozenset[str]:
    """Every request method ``low`` has a handler for (``initialize`` is the runner's)."""
    return frozenset(_handlers(low))


def drop_request_handlers(low: Server[Any], methods: Iterable[str]) -> None:
    """Unregister ``methods``: they answer -32601 (404 at 2026-07-28), and the capabilities
    the SDK derives from the registry (``initialize``, ``server/discover``) stop naming them."""
    handlers = _handlers(low)
    for method in methods:
        handlers.pop(method, None)
        if low.get_request_handler(method) is not None:
            raise RuntimeError(f"mcp SDK changed: {method} is still served after removal")


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
