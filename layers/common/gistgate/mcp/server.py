"""What gistgate serves over MCP, and that exactly is what it advertises, at every revision.

gistgate offers tools and nothing else: no prompts, no resources, no completions or
logging, and nothing to subscribe to (the tool list is fixed per deployment). ``MCPServer``
registers a handler for every primitive, and the SDK derives the capabilities from the
registered handlers, so ``initialize`` (2025-06-18, 2025-11-25) and ``server/discover``
(2026-07-28) would advertise prompts and resources; at 2026-07-28 also ``listChanged`` and
``resources.subscribe``, because ``subscriptions/listen`` is registered, and a listen
request then never ends (Mangum buffers the whole response until the function times out).
:func:`serve` keeps only what we implement:

* Every other spec method is unregistered, so it is Method not found (-32601; HTTP 404 at
  2026-07-28, which streamable HTTP requires for a method a server does not implement),
  ``subscriptions/listen`` included: refused at once. The capabilities the SDK derives
  are then ``{"tools": {"listChanged": false}}`` at every revision.
* A ``tools/call`` naming a tool we do not have is the protocol error -32602
  ``Unknown tool: <name>`` (server/tools, Error Handling), not a tool result with
  ``isError``: retrying cannot fix it, and for a client that cached ``tools/list`` it is
  the signal that its copy is stale (server/utilities/caching).
* ``tools/list`` and ``server/discover`` carry a deliberate cache hint, :data:`LIST_CACHE`.
* Extensions (SEP-2133) are advertised under ``capabilities.extensions``: only
  :data:`ENTERPRISE_AUTH`, and only when the deployment trusts an enterprise IdP.

The order of ``tools/list`` is registration order (``gistgate.mcp.tools``: the account
tools, ``whoami`` first, then the gist tools), fixed by the code and the same in every
process; ``whoami`` first is also what a client that calls the first tool blind should hit
(it needs no scope and changes nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp.server.caching import CacheHint
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolRequestParams
from mcp_types.methods import SPEC_CLIENT_METHODS

from gistgate.mcp.sdk import drop_request_handlers, lowlevel_server, request_methods

if TYPE_CHECKING:
    from mcp.server.context import HandlerResult, ServerRequestContext
    from mcp.server.lowlevel import Server
    from mcp.server.lowlevel.server import RequestHandler
    from mcp.server.mcpserver import MCPServer

    from gistgate.core.config import Settings

__all__ = ["ENTERPRISE_AUTH", "LIST_CACHE", "SERVED_METHODS", "extensions", "serve"]

# Enterprise-managed authorization: the authorization server takes ID-JAGs (no settings).
ENTERPRISE_AUTH = "io.modelcontextprotocol/enterprise-managed-authorization"

# The spec methods gistgate answers; ``initialize`` (2025 revisions) is the SDK runner's own.
SERVED_METHODS = frozenset({"ping", "server/discover", "tools/list", "tools/call"})

# ``tools/list`` is the same for every caller: the tools do not depend on who asks (the
# scope each one needs is enforced per call, by the authorizer and the tool), and the
# descriptions depend only on the deployment's settings (its scope names). Nothing in it is
# private, so "public" (a shared cache may serve it to anyone). It changes only with a
# deployment, so a client may keep it an hour; one that calls a tool a newer deployment
# removed gets -32602 Unknown tool, which tells it to refetch. ``server/discover`` (the
# capabilities, versions and instructions) is fixed per deployment in the same way.
LIST_CACHE = CacheHint(ttl_ms=3_600_000, scope="public")
_CACHED = ("tools/list", "server/discover")


class _KnownToolsOnly:
    """``tools/call``: an unknown tool name is -32602, before the SDK's handler runs."""

    def __init__(self, server: MCPServer, handler: RequestHandler[Any, Any]) -> None:
        self.server = server
        self.handler = handler

    async def __call__(
        self, ctx: ServerRequestContext[Any], params: CallToolRequestParams
    ) -> HandlerResult:
        known = {tool.name for tool in await self.server.list_tools()}
        if params.name not in known:
            # The spec's own message; the name is the caller's (tool names are <= 128).
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown tool: {params.name[:128]}")
        return await self.handler(ctx, params)


def extensions(settings: Settings) -> dict[str, dict[str, Any]]:
    """The extensions this deployment serves (identifier -> settings)."""
    return {ENTERPRISE_AUTH: {}} if settings.ema_trusted_issuers else {}


def serve(server: MCPServer, settings: Settings | None = None) -> Server[Any]:
    """The low-level server behind ``server``, serving (and advertising) tools only, and
    the extensions ``settings`` turn on.

    Idempotent; the tools must be registered first.
    """
    low = lowlevel_server(server)
    low.extensions = extensions(settings) if settings is not None else {}
    drop_request_handlers(
        low, {m for m in request_methods(low) if m in SPEC_CLIENT_METHODS - SERVED_METHODS}
    )
    call = low.get_request_handler("tools/call")
    if call is None or call.params_type is not CallToolRequestParams:
        raise RuntimeError("mcp SDK changed: no tools/call handler taking CallToolRequestParams")
    if not isinstance(call.handler, _KnownToolsOnly):
        low.add_request_handler(
            "tools/call", CallToolRequestParams, _KnownToolsOnly(server, call.handler)
        )
    for method in _CACHED:
        low.cache_hints[method] = LIST_CACHE
    return low
