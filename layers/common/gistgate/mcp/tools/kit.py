"""What every tool module needs: the guard rails and the caller of the request.

The SDK evaluates the tools' type hints, so the ``Context`` type is imported at
module level by every tool module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from gistgate.core.tool_scopes import TOOL_SCOPES, tool_scope
from gistgate.mcp.gists import Caller
from gistgate.mcp.identity import Identity
from gistgate.mcp.runner import ToolRunner
from gistgate.mcp.sdk import SCOPE_IDENTITY, request_scope
from gistgate.mcp.services import Services

__all__ = ["Toolkit", "scoped"]


class Toolkit:
    """The runner (scope, rate limit, errors, audit) and the scopes, for one tool module."""

    def __init__(self, services: Services) -> None:
        settings = services.settings
        self.services = services
        self.read, self.write, self.admin = (
            settings.scope_read,
            settings.scope_write,
            settings.scope_admin,
        )
        self.runner = ToolRunner(services.limiter, error_factory=ToolError)
        # The scope each tool needs, from the table the authorizer reads too.
        self.needs: Mapping[str, str | None] = {
            tool: tool_scope(settings, tool) for tool in TOOL_SCOPES
        }

    def who(self, ctx: Context) -> tuple[Identity, Caller]:
        """The request's identity, and the caller the gist operations act for."""
        identity = request_scope(ctx)[SCOPE_IDENTITY]
        return identity, Caller(identity.sub, identity.has(self.admin))


def scoped(scope: str | None) -> dict[str, Any]:
    """The tool's ``_meta``: the scope it needs, for clients that show it."""
    return {"gistgate/requiredScope": scope} if scope else {}
