"""POST /oauth/token (RFC 6749 §3.2): the grants, after the client authenticated.

Checks that do not depend on the client come before its authentication, and
everything that does after it, so no answer tells whether a client_id exists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from gistgate.core.config import Settings
from gistgate.core.urls import resource_url
from gistgate.oauth import scopes
from gistgate.oauth.clients import JWT_BEARER, Client, ClientRegistry
from gistgate.oauth.errors import (
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from gistgate.oauth.grants import Grant, Grants, Issued
from gistgate.oauth.requests import field, require_builtin

if TYPE_CHECKING:
    from gistgate.oauth.id_jag import EnterpriseGrant

__all__ = ["TokenEndpoint", "grant_types"]

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


def grant_types(settings: Settings) -> tuple[str, ...]:
    """The grants this deployment serves: the ID-JAG grant only with a trusted IdP."""
    return (*GRANT_TYPES, JWT_BEARER) if settings.ema_trusted_issuers else GRANT_TYPES


class TokenEndpoint:
    """Issue tokens for a code, a refresh token or a confidential client's credentials."""

    def __init__(
        self,
        settings: Settings,
        clients: ClientRegistry,
        grants: Grants,
        enterprise: Callable[[], EnterpriseGrant] | None = None,
    ) -> None:
        self._settings = settings
        self._clients = clients
        self._grants = grants
        self._enterprise = enterprise  # built on first use
        self._grant_types = grant_types(settings)

    def token(self, form: Mapping[str, str], authorization: str | None, base: str) -> Issued:
        """RFC 6749 §3.2. Checks that do not depend on the client come before its
        authentication, and everything that does after it, so no answer tells
        whether a client_id exists."""
        require_builtin(self._settings)
        grant_type = field(form, "grant_type", required=True)
        if grant_type not in self._grant_types:
            raise UnsupportedGrantType(f"grant_type must be {', '.join(self._grant_types)}")
        assertion = None
        if grant_type == JWT_BEARER:
            # Bounded by the ID-JAG check (8 KB, invalid_grant), not the 4 KB form-field one.
            assertion = form.get("assertion")
            if not assertion:
                raise InvalidRequest("assertion is required")
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
        if assertion is not None:
            return self._id_jag(assertion, client, requested, base)
        if grant_type == "refresh_token":
            return self._grants.refresh(
                field(form, "refresh_token", required=True) or "",
                client.client_id,
                requested or None,
                resource,
                base,
            )
        return self._grants.client_credentials(client, requested, self._settings, base)

    def _id_jag(
        self, assertion: str, client: Client, requested: tuple[str, ...], base: str
    ) -> Issued:
        """The enterprise grant: the assertion names the user, the IdP signed it for this
        client, and the token is our usual one for ``ema|…`` (docs/identity-providers/
        enterprise.md). Only confidential clients the operator registered get here."""
        from gistgate.oauth.id_jag import IdJagRejected, granted_scopes

        if client.public or not client.operator_registered or self._enterprise is None:
            raise UnauthorizedClient(
                "the enterprise grant needs a confidential client the operator registered"
            )
        enterprise, resource = self._enterprise(), resource_url(base)
        try:
            verified = enterprise.verify(
                assertion, client_id=client.client_id, issuer=base, resource=resource
            )
            granted = granted_scopes(self._settings, verified, client.scope, requested)
            grant = Grant(verified.subject, client.client_id, scopes.join(granted), resource)
            with_refresh = (
                self._settings.ema_refresh_tokens and "refresh_token" in client.grant_types
            )
            issued = self._grants.asserted(
                grant, base, lambda: enterprise.spend(verified), with_refresh=with_refresh
            )
        except (IdJagRejected, InvalidScope) as exc:
            reason = exc.reason if isinstance(exc, IdJagRejected) else "scope"
            _audit("ID-JAG rejected", client.client_id, "rejected", reason)
            raise
        # The audit trail an enterprise asks for: who (our subject), through which client,
        # with which scopes; never the assertion.
        _audit(
            "ID-JAG accepted", client.client_id, "issued", "ok", sub=grant.sub, scope=grant.scope
        )
        return issued


def _audit(message: str, client_id: str, outcome: str, reason: str, **fields: str) -> None:
    """One log line per ID-JAG trade, also the ``EnterpriseGrants`` metric (outcome, reason)."""
    from gistgate.core.observability import log_with_metric

    log_with_metric(
        message,
        {"client_id": client_id, "reason": reason, **fields},
        "EnterpriseGrants",
        outcome=outcome,
        reason=reason,
    )
