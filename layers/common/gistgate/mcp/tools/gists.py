"""The gist tools: create, list, get, update and delete gists, and the GitHub profile.

Descriptions are written for the model that picks the tool: what it does, when
to use it, the scope it needs. Input schemas come from the type hints.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import InputRequiredResult, ToolAnnotations

from gistgate.mcp.services import Services
from gistgate.mcp.tools.kit import Toolkit, scoped

__all__ = ["register"]


def register(server: MCPServer, services: Services) -> None:
    """Add the gist tools to ``server``."""
    kit = Toolkit(services)
    admin, needs = kit.admin, kit.needs
    who, gists = kit.who, services.gists

    @server.tool(
        description=(
            "Create a GitHub gist from one or more files. `files` maps each file name to its "
            "text content (at least one file; 1 MB per file, 4 MB in all). `public` defaults "
            "to false (a secret, unlisted gist), as in GitHub's API. Returns the gist id and "
            f"html_url. Requires scope '{needs['create_gist']}'."
        ),
        annotations=ToolAnnotations(destructive_hint=False, idempotent_hint=False),
        meta=scoped(needs["create_gist"]),
    )
    def create_gist(
        files: dict[str, str], ctx: Context, description: str = "", public: bool = False
    ) -> dict[str, Any] | InputRequiredResult:
        identity, caller = who(ctx)
        return kit.run(
            ctx,
            identity,
            "create_gist",
            lambda: gists.create(caller, description, files, public),
        )

    @server.tool(
        description=(
            "List gists, newest first. `limit` is 1-100 (default 10); `since` (ISO 8601, e.g. "
            "2026-01-31T00:00:00Z) keeps only gists updated at or after it; pass the returned "
            "`next_cursor` as `cursor` for the next page. With the user's own GitHub account "
            "these are the user's gists; with the service account, the gists this caller created "
            f"(all of them with scope '{admin}'). Requires scope '{needs['list_gists']}'."
        ),
        annotations=ToolAnnotations(read_only_hint=True),
        meta=scoped(needs["list_gists"]),
    )
    def list_gists(
        ctx: Context, limit: int = 10, since: str | None = None, cursor: str | None = None
    ) -> dict[str, Any] | InputRequiredResult:
        identity, caller = who(ctx)
        return kit.run(
            ctx,
            identity,
            "list_gists",
            lambda: gists.list(caller, limit, since, cursor),
        )

    @server.tool(
        description=(
            "Get one gist by `gist_id`, with the content of every file. Files GitHub truncated "
            "(over 1 MB) are flagged with their raw_url. With the service account, only gists "
            f"you created (or any with scope '{admin}'). Requires scope '{needs['get_gist']}'."
        ),
        annotations=ToolAnnotations(read_only_hint=True),
        meta=scoped(needs["get_gist"]),
    )
    def get_gist(gist_id: str, ctx: Context) -> dict[str, Any] | InputRequiredResult:
        identity, caller = who(ctx)
        return kit.run(
            ctx,
            identity,
            "get_gist",
            lambda: gists.get(caller, gist_id),
            gist_id=gist_id,
        )

    @server.tool(
        description=(
            "Change a gist: a new `description`, and/or `files` mapping file names to new "
            "content (adds or replaces that file) or to null (deletes that file). Other files "
            "are kept. With the service account, only gists you created (or any with scope "
            f"'{admin}'). Requires scope '{needs['update_gist']}'."
        ),
        annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True),
        meta=scoped(needs["update_gist"]),
    )
    def update_gist(
        gist_id: str,
        ctx: Context,
        description: str | None = None,
        files: dict[str, str | None] | None = None,
    ) -> dict[str, Any] | InputRequiredResult:
        identity, caller = who(ctx)
        return kit.run(
            ctx,
            identity,
            "update_gist",
            lambda: gists.update(caller, gist_id, description, files),
            gist_id=gist_id,
        )

    @server.tool(
        description=(
            "Delete a gist by `gist_id`. This cannot be undone. With the service account, only "
            f"gists you created (or any with scope '{admin}'). "
            f"Requires scope '{needs['delete_gist']}'."
        ),
        annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True),
        meta=scoped(needs["delete_gist"]),
    )
    def delete_gist(gist_id: str, ctx: Context) -> dict[str, Any] | InputRequiredResult:
        identity, caller = who(ctx)
        return kit.run(
            ctx,
            identity,
            "delete_gist",
            lambda: gists.delete(caller, gist_id),
            gist_id=gist_id,
        )

    @server.tool(
        description=(
            "The GitHub profile (login, name, bio, public_gists, followers) of the GitHub "
            "account gist calls use: the user's own when connected, else the service account. "
            f"Requires scope '{needs['get_my_profile']}'."
        ),
        annotations=ToolAnnotations(read_only_hint=True),
        meta=scoped(needs["get_my_profile"]),
    )
    def get_my_profile(ctx: Context) -> dict[str, Any] | InputRequiredResult:
        identity, caller = who(ctx)
        return kit.run(ctx, identity, "get_my_profile", lambda: gists.profile(caller))
