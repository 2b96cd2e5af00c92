"""POST /oauth/register (RFC 7591): open registration, rate-limited per source address;
``client_credentials`` and the admin scope need the operator's initial access token."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from gistgate.core.config import Settings
from gistgate.oauth import scopes
from gistgate.oauth.clients import ClientRegistry, validate_registration
from gistgate.oauth.errors import TooManyRequests
from gistgate.oauth.requests import require_builtin
from gistgate.storage.ratelimit import RateLimited, RateLimiter

__all__ = ["RegistrationEndpoint"]


class RegistrationEndpoint:
    """Register one client per request."""

    def __init__(
        self,
        settings: Settings,
        clients: ClientRegistry,
        limiter: Callable[[], RateLimiter],
    ) -> None:
        self._settings = settings
        self._clients = clients
        self._limiter = limiter  # built on first use

    def _privileged(self, authorization: str | None) -> bool:
        """Does the request carry the operator's initial access token?"""
        if not authorization or authorization[:7].lower() != "bearer ":
            return False
        from gistgate.core.secrets import configured_secret

        expected = configured_secret(
            self._settings.initial_access_token,
            self._settings.initial_access_token_arn,
            "token",
        )
        return bool(expected) and hmac.compare_digest(
            authorization[7:].strip().encode(), str(expected).encode()
        )

    def register(self, body: Any, source_ip: str, authorization: str | None) -> dict[str, Any]:
        """The registration response (with the client secret, shown only now)."""
        require_builtin(self._settings)
        try:
            self._limiter().acquire(f"register:{source_ip}")
        except RateLimited as exc:
            raise TooManyRequests(
                "too many registrations from this address", retry_after=exc.retry_after
            ) from None
        privileged = self._privileged(authorization)
        metadata = validate_registration(
            body,
            supported_scopes=scopes.supported(self._settings),
            default_scopes=self._settings.basic_scopes,
            privileged=privileged,
            admin_scope=self._settings.scope_admin,
            enterprise=bool(self._settings.ema_trusted_issuers),
        )
        return self._clients.register(metadata, operator_registered=privileged)
