"""The authorization server's JSON endpoints (register, token, revoke), and the
composition of everything the OAuth function needs, built once per cold start.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from gistgate.core.config import Settings
from gistgate.core.urls import resource_url
from gistgate.oauth import scopes
from gistgate.oauth.browser import BrowserFlow
from gistgate.oauth.clients import ClientRegistry, validate_registration
from gistgate.oauth.errors import (
    InvalidRequest,
    InvalidTarget,
    NotServed,
    ServerError,
    TooManyRequests,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from gistgate.oauth.grants import Grant, Grants, Issued
from gistgate.oauth.store import Store

if TYPE_CHECKING:
    from gistgate.oauth.connect_flow import ConnectFlow
    from gistgate.oauth.sessions import Sessions
    from gistgate.oauth.signin import SignIn
    from gistgate.storage.vault import TokenVault

MAX_FORM_FIELD = 4096
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


def _field(form: Mapping[str, str], name: str, *, required: bool = False) -> str | None:
    """A form value, bounded; ``name`` is always one of our parameter names, never input."""
    value = form.get(name)
    if value is not None and len(value) > MAX_FORM_FIELD:
        raise InvalidRequest(f"{name} is too long")
    if required and not value:
        raise InvalidRequest(f"{name} is required")
    return value


class AuthorizationServer:
    """One per process; every dependency is created on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.table_name)

    # -- composition ------------------------------------------------------------

    @cached_property
    def signer(self) -> Any:
        from gistgate.oauth.signing import KmsSigner

        if not self.settings.signing_key_ids:
            raise ServerError("the authorization server needs GISTGATE_SIGNING_KEY_ID")
        return KmsSigner(self.settings.signing_key_ids)

    @cached_property
    def clients(self) -> ClientRegistry:
        cimd = None
        if self.settings.cimd_enabled:
            from gistgate.oauth.cimd import CimdFetcher

            cimd = CimdFetcher(allow_loopback=self.settings.dev_mode)
        return ClientRegistry(
            self.store, self.settings.client_registration_ttl_days, cimd, dev=self.settings.dev_mode
        )

    @cached_property
    def grants(self) -> Grants:
        return Grants(
            self.store,
            self.signer,
            access_ttl=self.settings.access_token_ttl,
            refresh_ttl=self.settings.refresh_token_ttl,
        )

    @cached_property
    def browser(self) -> BrowserFlow:
        """/oauth/authorize, /oauth/consent and the sign-in callback."""
        from gistgate.oauth.consents import Consents

        return BrowserFlow(
            self.settings,
            self.store,
            self.clients,
            self.grants,
            self._signin,
            self._sessions,
            Consents(self.store),
            self._vault,
            self.connect,
        )

    @cached_property
    def connect(self) -> ConnectFlow:
        """The GitHub connect link and its callback."""
        from gistgate.oauth.connect_flow import ConnectFlow

        signin = self._signin if self._can_sign_in() else None
        return ConnectFlow(self.store, self._sessions, signin, self._github, self._vault)

    @cached_property
    def _sessions(self) -> Sessions:
        from gistgate.oauth.sessions import Sessions

        return Sessions(self.store)

    @cached_property
    def _signin(self) -> SignIn:
        from gistgate.oauth.signin import SignIn

        return SignIn(self.store, self._login)

    @cached_property
    def _vault(self) -> TokenVault:
        from gistgate.storage.vault import TokenVault

        return TokenVault(self.settings.table_name, self.settings.kms_key_id)

    def _github(self) -> Any:
        from gistgate.core.secrets import configured_secret
        from gistgate.oauth.upstream import GitHubLogin

        secret = configured_secret(
            self.settings.github_oauth_client_secret,
            self.settings.github_oauth_secret_arn,
            "client_secret",
        )
        if not secret:
            raise ServerError("GitHub login needs GITHUB_OAUTH_SECRET_ARN")
        return GitHubLogin(self.settings, secret)

    def _oidc_issuer(self) -> str | None:
        """Where people sign in with OIDC: the upstream, else (jwt/introspection) our issuer."""
        if self.settings.upstream_oidc_issuer:
            return self.settings.upstream_oidc_issuer
        if self.settings.auth_mode != "builtin" and self.settings.issuers:
            return self.settings.issuers[0].issuer
        return None

    def _can_sign_in(self) -> bool:
        """Is there a provider to sign people in with (to prove who opens a connect link)?"""
        if self.settings.auth_mode == "builtin" and self.settings.upstream_idp == "github":
            return bool(self.settings.github_oauth_client_id)
        return bool(self._oidc_issuer() and self.settings.upstream_oidc_client_id)

    def _login(self) -> Any:
        """The sign-in provider: the builtin server's upstream, or the operator's OIDC client
        at the trusted issuer in jwt/introspection mode (for connect links only)."""
        if self.settings.auth_mode == "builtin" and self.settings.upstream_idp == "github":
            return self._github()
        from gistgate.core.secrets import configured_secret
        from gistgate.oauth.upstream import OidcLogin

        secret = configured_secret(
            self.settings.upstream_oidc_client_secret,
            self.settings.upstream_oidc_secret_arn,
            "client_secret",
        )
        return OidcLogin(
            self._oidc_issuer(), self.settings.upstream_oidc_client_id, secret, self._discovery
        )

    @cached_property
    def _discovery(self) -> Any:
        from gistgate.core.discovery import Discovery

        return Discovery()

    @cached_property
    def _registration_limit(self) -> Any:
        from gistgate.storage.ratelimit import RateLimiter

        return RateLimiter(self.settings.table_name, self.settings.registration_rate_per_minute)

    # -- POST /oauth/register (RFC 7591) -------------------------------------------------

    def _privileged(self, authorization: str | None) -> bool:
        """Does the request carry the operator's initial access token?"""
        if not authorization or authorization[:7].lower() != "bearer ":
            return False
        from gistgate.core.secrets import configured_secret

        expected = configured_secret(
            self.settings.initial_access_token,
            self.settings.initial_access_token_arn,
            "token",
        )
        return bool(expected) and hmac.compare_digest(
            authorization[7:].strip().encode(), str(expected).encode()
        )

    def serving(self) -> None:
        """Only AUTH_MODE=builtin runs an authorization server; elsewhere its endpoints are off
        (the connect flow stays: it proves identity at the external issuer)."""
        if self.settings.auth_mode != "builtin":
            raise NotServed("this server takes tokens from its external issuer, not from here")

    def register(self, body: Any, source_ip: str, authorization: str | None) -> dict[str, Any]:
        from gistgate.storage.ratelimit import RateLimited, RateLimiterUnavailable

        self.serving()
        try:
            self._registration_limit.acquire(f"register:{source_ip}")
        except RateLimited as exc:
            raise TooManyRequests(
                "too many registrations from this address", retry_after=exc.retry_after
            ) from None
        except RateLimiterUnavailable:
            raise ServerError("storage is not answering; try again") from None
        privileged = self._privileged(authorization)
        metadata = validate_registration(
            body,
            supported_scopes=scopes.supported(self.settings),
            default_scopes=self.settings.basic_scopes,
            privileged=privileged,
            admin_scope=self.settings.scope_admin,
        )
        return self.clients.register(metadata, operator_registered=privileged)

    # -- POST /oauth/token -------------------------------------------------------------

    def token(self, form: Mapping[str, str], authorization: str | None, base: str) -> Issued:
        """RFC 6749 §3.2. Checks that do not depend on the client come before its
        authentication, and everything that does after it, so no answer tells
        whether a client_id exists."""
        self.serving()
        grant_type = _field(form, "grant_type", required=True)
        if grant_type not in GRANT_TYPES:
            raise UnsupportedGrantType(
                "grant_type must be authorization_code, refresh_token or client_credentials"
            )
        client = self.clients.authenticate(form, authorization)
        if grant_type not in client.grant_types:
            raise UnauthorizedClient("this client is not registered for this grant_type")
        resource = _field(form, "resource")
        if resource is not None and resource != resource_url(base):
            # Not the URL itself: the base may come from the request's Host.
            raise InvalidTarget("resource must be this server's MCP endpoint URL")
        if grant_type == "authorization_code":
            return self.grants.redeem_code(
                _field(form, "code", required=True) or "",
                client.client_id,
                _field(form, "redirect_uri"),
                _field(form, "code_verifier", required=True) or "",
                resource,
                base,
                with_refresh="refresh_token" in client.grant_types,
            )
        requested = scopes.parse(_field(form, "scope"))
        if grant_type == "refresh_token":
            return self.grants.refresh(
                _field(form, "refresh_token", required=True) or "",
                client.client_id,
                requested or None,
                resource,
                base,
            )
        if client.public:
            # Not reachable through registration (a public client cannot register this
            # grant). Its authentication, by its registered method, succeeded: the grant
            # is what it may not use (RFC 6749 §4.4, §5.2), so unauthorized_client.
            raise UnauthorizedClient("client_credentials needs a confidential client")
        granted = scopes.within(requested or client.scope, client.scope)
        sub = f"client|{client.client_id}"
        if self.settings.scope_admin in granted and sub not in self.settings.admin_subjects:
            granted = tuple(s for s in granted if s != self.settings.scope_admin)
        grant = Grant(sub, client.client_id, scopes.join(granted), resource_url(base))
        return self.grants.client_token(grant, base)

    # -- POST /oauth/revoke (RFC 7009) ---------------------------------------------------

    def revoke(self, form: Mapping[str, str], authorization: str | None) -> None:
        """Refresh tokens end their family; access tokens expire on their own (documented).

        ``token_type_hint`` is only a hint (RFC 7009 §2.1): a refresh token sent
        as ``access_token`` (or with any other hint) is still revoked, so the hint is
        not read at all.
        """
        self.serving()
        token = _field(form, "token", required=True) or ""
        client = self.clients.authenticate(form, authorization)
        self.grants.revoke_refresh(token, client.client_id)

    # -- documents ------------------------------------------------------------------------

    def metadata(self, base: str) -> dict[str, Any]:
        from gistgate.oauth.metadata import authorization_server_metadata

        return authorization_server_metadata(self.settings, base)

    def jwks(self) -> dict[str, Any]:
        return self.signer.public_jwks()
