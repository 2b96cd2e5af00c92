"""POST /oauth/revoke (RFC 7009): a refresh token ends its family; access tokens are not
looked up on use, so they expire on their own (documented in docs/security.md)."""

from __future__ import annotations

from collections.abc import Mapping

from gistgate.core.config import Settings
from gistgate.oauth.clients import ClientRegistry
from gistgate.oauth.grants import Grants
from gistgate.oauth.requests import field, require_builtin

__all__ = ["RevocationEndpoint"]


class RevocationEndpoint:
    """Revoke what a client holds."""

    def __init__(self, settings: Settings, clients: ClientRegistry, grants: Grants) -> None:
        self._settings = settings
        self._clients = clients
        self._grants = grants

    def revoke(self, form: Mapping[str, str], authorization: str | None, base: str) -> None:
        """Refresh tokens end their family; access tokens expire on their own (documented).

        ``token_type_hint`` is only a hint (RFC 7009 §2.1): a refresh token sent
        as ``access_token`` (or with any other hint) is still revoked, so the hint is
        not read at all.
        """
        require_builtin(self._settings)
        token = field(form, "token", required=True) or ""
        client = self._clients.authenticate(form, authorization, base)
        self._grants.revoke_refresh(token, client.client_id)
