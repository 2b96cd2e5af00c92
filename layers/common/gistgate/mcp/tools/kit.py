"""What every tool module needs: the guard rails, the caller, and the GitHub link.

The SDK evaluates the tools' type hints, so the ``Context`` type is imported at
module level by every tool module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import InputRequiredResult

from gistgate.core.tool_scopes import TOOL_SCOPES, tool_scope
from gistgate.mcp.connect import connect_url, issue_ticket
from gistgate.mcp.credentials import NotConnected, ReconnectRequired
from gistgate.mcp.elicitation import MAX_ROUNDS, answer, connect_request, rounds, supports_url
from gistgate.mcp.errors import NotConfigured
from gistgate.mcp.gists import Caller
from gistgate.mcp.identity import Identity
from gistgate.mcp.runner import ToolRunner
from gistgate.mcp.sdk import SCOPE_BASE_URL, SCOPE_IDENTITY, request_scope
from gistgate.mcp.services import Services

__all__ = ["LINK_TTL", "Toolkit", "scoped"]

T = TypeVar("T")
LINK_TTL = 600
_UNLINKED = (NotConnected, ReconnectRequired)


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

    def connect_link(self, ctx: Context, identity: Identity) -> str:
        """A one-time connect URL for this caller (the ticket is bound to ``identity``)."""
        settings = self.services.settings
        if not (settings.github_oauth_client_id and settings.table_name):
            raise NotConfigured(
                "Not configured: this deployment has no GitHub OAuth app for linking "
                "accounts (GITHUB_OAUTH_CLIENT_ID), so connect_github is unavailable; "
                f"gist calls use the {self.services.credentials.mode} credential."
            )
        base = request_scope(ctx)[SCOPE_BASE_URL]
        if base is None:
            raise NotConfigured(
                "Not configured: this deployment cannot tell its public URL "
                "(set PUBLIC_BASE_URL), so it cannot build the connect link."
            )
        return connect_url(
            base, issue_ticket(settings.table_name, identity.sub, identity.client_id)
        )

    def run(
        self,
        ctx: Context,
        identity: Identity,
        tool: str,
        body: Callable[[], T],
        *,
        gist_id: str | None = None,
    ) -> T | InputRequiredResult:
        """Run ``tool`` under the guard rails. Missing the user's GitHub link, a client
        that can open URLs (2026-07-28) is asked to send the user to the connect page,
        and its retry runs the tool (gistgate/mcp/elicitation.py); any other client gets
        the tool error that names connect_github."""
        scope = self.needs[tool]
        if not supports_url(ctx):
            return self.runner.run(identity, tool, scope, body, gist_id=gist_id)
        if answer(ctx) in ("decline", "cancel"):
            raise ToolError(
                "GitHub not connected: you did not open the link. Call connect_github "
                "again when you want to link your account."
                if tool == "connect_github"
                else f"GitHub not connected: you did not open the link, so {tool} cannot run "
                "with your GitHub account. Call connect_github when you want to link it."
            )
        if answer(ctx) == "accept":
            # The user says the browser flow is done: the OAuth function (another Lambda)
            # wrote the grant, so what this instance remembers about it is stale.
            self.services.vault.forget(identity.sub)
        passthrough = _UNLINKED if rounds(ctx) < MAX_ROUNDS else ()
        try:
            return self.runner.run(
                identity, tool, scope, body, gist_id=gist_id, passthrough=passthrough
            )
        except _UNLINKED:
            try:
                link = self.connect_link(ctx, identity)
            except NotConfigured as missing:
                raise ToolError(str(missing)) from None
            if rounds(ctx) > 0:
                reason = "Your GitHub account is not linked yet: the link was not completed."
            elif tool == "connect_github":
                reason = "Link (or link again) your GitHub account."
            else:
                reason = "This call uses your own GitHub account, which is not linked yet."
            return connect_request(ctx, link, reason)


def scoped(scope: str | None) -> dict[str, Any]:
    """The tool's ``_meta``: the scope it needs, for clients that show it."""
    return {"gistgate/requiredScope": scope} if scope else {}
