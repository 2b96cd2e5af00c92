"""The gist tools, as an MCP server (the SDK's ``MCPServer``), built once per process.

The SDK evaluates the tools' type hints, so its types are imported at module level.
Tool bodies are plain synchronous functions: the SDK runs them on a worker
thread, and everything they call (httpx, boto3) is synchronous and thread-safe
with pooled connections reused across warm invocations. Input schemas come
from the type hints; descriptions are written for the model that picks the
tool: what it does, when to use it, the scope it needs.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

from gistgate.core.config import Settings
from gistgate.core.observability import logger
from gistgate.mcp.connect import connect_url, issue_ticket
from gistgate.mcp.errors import NotConfigured
from gistgate.mcp.gists import Caller
from gistgate.mcp.github import GitHubError
from gistgate.mcp.identity import Identity
from gistgate.mcp.runner import ToolRunner
from gistgate.mcp.sdk import SCOPE_BASE_URL, SCOPE_IDENTITY, request_scope
from gistgate.mcp.services import Services

SERVER_NAME = "gistgate"
INSTRUCTIONS = (
    "Tools for GitHub gists. Call whoami first to see your scopes and which GitHub "
    "credential gist calls will use. Gists are secret (unlisted) unless public=true."
)
TOOL_NAMES = (
    "whoami",
    "create_gist",
    "list_gists",
    "get_gist",
    "update_gist",
    "delete_gist",
    "get_my_profile",
    "connect_github",
    "disconnect_github",
)


def build_server(services: Services) -> MCPServer:
    """An ``MCPServer`` with every gist tool registered."""
    settings = services.settings
    read, write, admin = settings.scope_read, settings.scope_write, settings.scope_admin
    runner = ToolRunner(services.limiter, error_factory=ToolError)
    gists = services.gists
    # The SDK calls logging.basicConfig at this level (a no-op on Lambda, whose runtime has
    # configured the root logger); INFO there would log every outbound HTTP request.
    server = MCPServer(SERVER_NAME, instructions=INSTRUCTIONS, version="0.1.0", log_level="WARNING")

    def who(ctx: Context) -> tuple[Identity, Caller]:
        identity = request_scope(ctx)[SCOPE_IDENTITY]
        return identity, Caller(identity.sub, identity.has(admin))

    def scoped(scope: str | None) -> dict[str, Any]:
        return {"gistgate/requiredScope": scope} if scope else {}

    @server.tool(
        description=(
            "Describe the caller: subject, client id, granted scopes, issuer and token expiry; "
            "whether a GitHub account is connected (and its login); and which credential gist "
            "calls would use now ('service' or 'delegated'). Use it first when unsure what you "
            "may do. Needs no scope."
        ),
        annotations=ToolAnnotations(readOnlyHint=True, openWorldHint=False),
    )
    def whoami(ctx: Context) -> dict[str, Any]:
        identity, _ = who(ctx)

        def body() -> dict[str, Any]:
            status = services.vault.status(identity.sub) if services.vault.configured else None
            return {
                "sub": identity.sub,
                "client_id": identity.client_id,
                "scopes": list(identity.scopes),
                "issuer": identity.issuer,
                "expires_at": identity.expires_at,
                "github_connected": status is not None,
                "github_login": status.login if status else None,
                "credential": services.credentials.would_use(identity.sub, status is not None),
                "credential_mode": services.credentials.mode,
            }

        return runner.run(identity, "whoami", None, body)

    @server.tool(
        description=(
            "Create a GitHub gist from one or more files. `files` maps each file name to its "
            "text content (at least one file; 1 MB per file, 4 MB in all). `public` defaults "
            "to false (a secret, unlisted gist), as in GitHub's API. Returns the gist id and "
            f"html_url. Requires scope '{write}'."
        ),
        annotations=ToolAnnotations(destructiveHint=False, idempotentHint=False),
        meta=scoped(write),
    )
    def create_gist(
        files: dict[str, str], ctx: Context, description: str = "", public: bool = False
    ) -> dict[str, Any]:
        identity, caller = who(ctx)
        return runner.run(
            identity,
            "create_gist",
            write,
            lambda: gists.create(caller, description, files, public),
        )

    @server.tool(
        description=(
            "List gists, newest first. `limit` is 1-100 (default 10); `since` (ISO 8601, e.g. "
            "2026-01-31T00:00:00Z) keeps only gists updated at or after it; pass the returned "
            "`next_cursor` as `cursor` for the next page. With the user's own GitHub account "
            "these are the user's gists; with the service account, the gists this caller created "
            f"(all of them with scope '{admin}'). Requires scope '{read}'."
        ),
        annotations=ToolAnnotations(readOnlyHint=True),
        meta=scoped(read),
    )
    def list_gists(
        ctx: Context, limit: int = 10, since: str | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        identity, caller = who(ctx)
        return runner.run(
            identity, "list_gists", read, lambda: gists.list(caller, limit, since, cursor)
        )

    @server.tool(
        description=(
            "Get one gist by `gist_id`, with the content of every file. Files GitHub truncated "
            "(over 1 MB) are flagged with their raw_url. With the service account, only gists "
            f"you created (or any with scope '{admin}'). Requires scope '{read}'."
        ),
        annotations=ToolAnnotations(readOnlyHint=True),
        meta=scoped(read),
    )
    def get_gist(gist_id: str, ctx: Context) -> dict[str, Any]:
        identity, caller = who(ctx)
        return runner.run(
            identity, "get_gist", read, lambda: gists.get(caller, gist_id), gist_id=gist_id
        )

    @server.tool(
        description=(
            "Change a gist: a new `description`, and/or `files` mapping file names to new "
            "content (adds or replaces that file) or to null (deletes that file). Other files "
            "are kept. With the service account, only gists you created (or any with scope "
            f"'{admin}'). Requires scope '{write}'."
        ),
        annotations=ToolAnnotations(destructiveHint=True, idempotentHint=True),
        meta=scoped(write),
    )
    def update_gist(
        gist_id: str,
        ctx: Context,
        description: str | None = None,
        files: dict[str, str | None] | None = None,
    ) -> dict[str, Any]:
        identity, caller = who(ctx)
        return runner.run(
            identity,
            "update_gist",
            write,
            lambda: gists.update(caller, gist_id, description, files),
            gist_id=gist_id,
        )

    @server.tool(
        description=(
            "Delete a gist by `gist_id`. This cannot be undone. With the service account, only "
            f"gists you created (or any with scope '{admin}'). Requires scope '{write}'."
        ),
        annotations=ToolAnnotations(destructiveHint=True, idempotentHint=True),
        meta=scoped(write),
    )
    def delete_gist(gist_id: str, ctx: Context) -> dict[str, Any]:
        identity, caller = who(ctx)
        return runner.run(
            identity, "delete_gist", write, lambda: gists.delete(caller, gist_id), gist_id=gist_id
        )

    @server.tool(
        description=(
            "The GitHub profile (login, name, bio, public_gists, followers) of the GitHub "
            "account gist calls use: the user's own when connected, else the service account. "
            f"Requires scope '{read}'."
        ),
        annotations=ToolAnnotations(readOnlyHint=True),
        meta=scoped(read),
    )
    def get_my_profile(ctx: Context) -> dict[str, Any]:
        identity, caller = who(ctx)
        return runner.run(identity, "get_my_profile", read, lambda: gists.profile(caller))

    @server.tool(
        description=(
            "Get a one-time URL (valid 10 minutes) that the user opens in a browser to link "
            "their own GitHub account, so gist calls act as them. Show the URL to the user: "
            "the browser first proves it is this same user (an existing sign-in to this "
            "server, or a new one), then GitHub asks for approval. The link works only for "
            "the user who asked for it: opened by anyone else, it links nothing. "
            "Needs no scope."
        ),
        annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False),
    )
    def connect_github(ctx: Context) -> dict[str, Any]:
        scope = request_scope(ctx)
        identity: Identity = scope[SCOPE_IDENTITY]

        def body() -> dict[str, Any]:
            if not (settings.github_oauth_client_id and settings.table_name):
                raise NotConfigured(
                    "Not configured: this deployment has no GitHub OAuth app for linking "
                    "accounts (GITHUB_OAUTH_CLIENT_ID), so connect_github is unavailable; "
                    "gist calls "
                    f"use the {services.credentials.mode} credential."
                )
            base = scope[SCOPE_BASE_URL]
            if base is None:
                raise NotConfigured(
                    "Not configured: this deployment cannot tell its public URL "
                    "(set PUBLIC_BASE_URL), so it cannot build the connect link."
                )
            ticket = issue_ticket(settings.table_name, identity.sub, identity.client_id)
            return {
                "url": connect_url(base, ticket),
                "expires_in": 600,
                "instructions": (
                    "Open this URL in your browser. It works only for your account: if the "
                    "browser is not signed in to this server yet, you sign in first to "
                    "confirm it is you, then approve access on GitHub. Opened by anyone "
                    "else, it links nothing."
                ),
            }

        return runner.run(identity, "connect_github", None, body)

    @server.tool(
        description=(
            "Unlink the user's GitHub account: deletes the stored authorization and revokes it "
            "at GitHub. Afterwards gist calls use the service account (if this server has one). "
            "Needs no scope."
        ),
        annotations=ToolAnnotations(destructiveHint=True, idempotentHint=True),
    )
    def disconnect_github(ctx: Context) -> dict[str, Any]:
        identity, _ = who(ctx)
        return runner.run(
            identity, "disconnect_github", None, lambda: _disconnect(services, identity)
        )

    return server


def _disconnect(services: Services, identity: Identity) -> dict[str, Any]:
    """Revoke at GitHub (when the app's credentials are known), then delete the grant."""
    from gistgate.storage.vault import GrantUndecryptable

    settings = services.settings
    try:
        grant = services.vault.get(identity.sub)
    except GrantUndecryptable:
        services.vault.delete(identity.sub)
        return {
            "disconnected": True,
            "revoked_at_github": False,
            "note": "the stored authorization could not be decrypted; it was deleted",
        }
    if grant is None:
        return {"disconnected": False, "note": "no GitHub account was connected"}
    revoked = False
    note = None
    secret = _client_secret(settings)
    if settings.github_oauth_client_id and secret:
        try:
            services.github.revoke_grant(
                settings.github_oauth_client_id, secret, grant.access_token
            )
            revoked = True
        except GitHubError as exc:
            if exc.status in (404, 422):
                revoked = True  # already revoked or unknown to GitHub
            else:
                logger.warning(
                    "github grant revocation failed", extra={"github_status": exc.status}
                )
                note = (
                    "GitHub did not confirm the revocation; you can revoke gistgate at "
                    "https://github.com/settings/applications"
                )
    else:
        note = "this server cannot revoke at GitHub; revoke it at https://github.com/settings/applications"
    services.vault.delete(identity.sub)
    result: dict[str, Any] = {
        "disconnected": True,
        "github_login": grant.login,
        "revoked_at_github": revoked,
    }
    if note:
        result["note"] = note
    return result


def _client_secret(settings: Settings) -> str | None:
    from gistgate.core.secrets import configured_secret

    return configured_secret(
        settings.github_oauth_client_secret, settings.github_oauth_secret_arn, "client_secret"
    )
