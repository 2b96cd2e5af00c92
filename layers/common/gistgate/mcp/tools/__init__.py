"""The gist tools, as an MCP server (the SDK's ``MCPServer``), built once per process.

Tools are grouped by domain, each module with a ``register(server, services)``:
``gists`` (the gists and the GitHub profile) and ``account`` (who am I, and
linking or unlinking the user's GitHub account). Tool bodies are plain
synchronous functions: the SDK runs them on a worker thread, and everything
they call (httpx, boto3) is synchronous and thread-safe with pooled
connections reused across warm invocations.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from gistgate import __version__
from gistgate.mcp.request_state import request_state_security
from gistgate.mcp.services import Services
from gistgate.mcp.tools import account, gists

__all__ = ["INSTRUCTIONS", "SERVER_NAME", "build_server"]

SERVER_NAME = "gistgate"
INSTRUCTIONS = (
    "Tools for GitHub gists. Call whoami first to see your scopes and which GitHub "
    "credential gist calls will use. Gists are secret (unlisted) unless public=true."
)


def build_server(services: Services) -> MCPServer:
    """An ``MCPServer`` with every gist tool registered."""
    # The SDK calls logging.basicConfig at this level (a no-op on Lambda, whose runtime has
    # configured the root logger); INFO there would log every outbound HTTP request.
    server = MCPServer(
        SERVER_NAME,
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level="WARNING",
        # A requestState sealed by one instance must open on another (elicitation.py).
        request_state_security=request_state_security(services.settings),
    )
    account.register(server, services)
    gists.register(server, services)
    return server
