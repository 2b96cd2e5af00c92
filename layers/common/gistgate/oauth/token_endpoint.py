"""POST /oauth/token (RFC 6749 §3.2): the three grants, after the client authenticated.

Checks that do not depend on the client come before its authentication, and
everything that does after it, so no answer tells whether a client_id exists.
"""

from __future__ import annotations

from collections.abc import Mapping

from gistgate.core.config import Settings
from gistgate.core.urls import resource_url
from gistgate.oauth import scopes
from gistgate.oauth.clients import ClientRegistry
from gistgate.oauth.errors import InvalidTarget, UnauthorizedClient, UnsupportedGrantType
from gistgate.oauth.grants import Grants, Issued
from gistgate.oauth.requests import field, require_builtin

__all__ = ["TokenEndpoint"]

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


class TokenEndpoint:
    """Issue tokens for a code, a refresh token or a confidential client's credentials."""

    def __init__(self, settings: Settings, clients: ClientRegistry, grants: Grants) -> None:
        self._settings = settings
        self._clients = clients
        self._grants = grants

    def token(self, form: Mapping[str, str], authorization: str | None, base: str) -> Issued:
        """RFC 6749 §3.2. Checks that do not depend on the client come before its
        authentication, and everything that does after it, so no answer tells
        whether a client_id exists."""
        require_builtin(self._settings)
        grant_type = field(form, "grant_type", required=True)
        if grant_type not in GRANT_TYPES:
            raise UnsupportedGrantType(
                "grant_type must be authorization_code, refresh_token or client_credentials"
            )
        client = self._clients.authenticate(form, authorization, base)
        if grant_type not in client.grant_types:
            raise UnauthorizedClient("this client is not registered for this grant_type")
        resource = field(form, "resource")
        if resource is not None and resource != resource_url(base):
            # Not the URL itself: the base may come from the request's Host.
            raise InvalidTarget("resource must be this server's MCP endpoint URL")
        if grant_type == "authorization_code":
            return self._grants.redeem_code(
                field(form, "code", required=True) or "",
                client.client_id,
                field(form, "redirect_uri"),
                field(form, "code_verifier", required=True) or "",
                resource,
                base,
                with_refresh="refresh_token" in client.grant_types,
            )
        requested = scopes.parse(field(form, "scope"))
        if grant_type == "refresh_token":
            return self._grants.refresh(
                field(form, "refresh_token", required=True) or "",
                client.client_id,
                requested or None,
                resource,
                base,
            )
        return self._grants.client_credentials(client, requested, self._settings, base)
