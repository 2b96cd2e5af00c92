"""The account tools: whoami, and linking or unlinking the user's own GitHub account."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import InputRequiredResult, ToolAnnotations

from gistgate.core.config import Settings
from gistgate.core.observability import logger
from gistgate.mcp.credentials import NotConnected
from gistgate.mcp.elicitation import rounds, supports_url
from gistgate.mcp.github import GitHubError
from gistgate.mcp.identity import Identity
from gistgate.mcp.services import Services
from gistgate.mcp.tools.kit import LINK_TTL, Toolkit

__all__ = ["register"]


def register(server: MCPServer, services: Services) -> None:
    """Add whoami, connect_github and disconnect_github to ``server``."""
    kit = Toolkit(services)
    runner, who, needs = kit.runner, kit.who, kit.needs

    @server.tool(
        description=(
            "Describe the caller: subject, client id, granted scopes, issuer and token expiry; "
            "whether a GitHub account is connected (and its login); and which credential gist "
            "calls would use now ('service' or 'delegated'). Use it first when unsure what you "
            "may do. Needs no scope."
        ),
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
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

        return runner.run(identity, "whoami", needs["whoami"], body)

    @server.tool(
        description=(
            "Get a one-time URL (valid 10 minutes) that the user opens in a browser to link "
            "their own GitHub account, so gist calls act as them. Show the URL to the user: "
            "the browser first proves it is this same user (an existing sign-in to this "
            "server, or a new one), then GitHub asks for approval. The link works only for "
            "the user who asked for it: opened by anyone else, it links nothing. "
            "Needs no scope."
        ),
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False),
    )
    def connect_github(ctx: Context) -> dict[str, Any] | InputRequiredResult:
        identity, _ = who(ctx)
        if supports_url(ctx):
            return _connect_in_the_call(ctx, kit, identity)

        def body() -> dict[str, Any]:
            return {
                "url": kit.connect_link(ctx, identity),
                "expires_in": LINK_TTL,
                "instructions": (
                    "Open this URL in your browser. It works only for your account: if the "
                    "browser is not signed in to this server yet, you sign in first to "
                    "confirm it is you, then approve access on GitHub. Opened by anyone "
                    "else, it links nothing."
                ),
            }

        return runner.run(identity, "connect_github", needs["connect_github"], body)

    @server.tool(
        description=(
            "Unlink the user's GitHub account: deletes the stored authorization and revokes it "
            "at GitHub. Afterwards gist calls use the service account (if this server has one). "
            "Needs no scope."
        ),
        annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True),
    )
    def disconnect_github(ctx: Context) -> dict[str, Any]:
        identity, _ = who(ctx)
        return runner.run(
            identity,
            "disconnect_github",
            needs["disconnect_github"],
            lambda: _disconnect(services, identity),
        )


def _connect_in_the_call(
    ctx: Context, kit: Toolkit, identity: Identity
) -> dict[str, Any] | InputRequiredResult:
    """connect_github for a client with URL elicitation: the link is an input request,
    and the retry (after the browser flow) reports the linked account."""
    vault = kit.services.vault

    def linked() -> dict[str, Any]:
        status = vault.status(identity.sub) if rounds(ctx) > 0 else None
        if status is None:
            raise NotConnected("the link has not been completed in the browser yet")
        return {"connected": True, "github_login": status.login}

    return kit.run(ctx, identity, "connect_github", linked)


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
