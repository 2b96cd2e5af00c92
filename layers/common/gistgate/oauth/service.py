"""The wiring of the OAuth function: every endpoint and flow, and what they share,
built on first use once per cold start. The endpoint logic lives in one module per
endpoint (registration, token_endpoint, revocation, browser, connect_flow).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from gistgate.core.config import Settings
from gistgate.oauth.browser import BrowserFlow
from gistgate.oauth.clients import ClientRegistry
from gistgate.oauth.errors import ServerError
from gistgate.oauth.grants import Grants
from gistgate.storage.table import Table

if TYPE_CHECKING:
    from gistgate.core.discovery import Discovery
    from gistgate.oauth.connect_flow import ConnectFlow
    from gistgate.oauth.id_jag import EnterpriseGrant
    from gistgate.oauth.registration import RegistrationEndpoint
    from gistgate.oauth.revocation import RevocationEndpoint
    from gistgate.oauth.sessions import Sessions
    from gistgate.oauth.signin import SignIn
    from gistgate.oauth.signing import KmsSigner
    from gistgate.oauth.token_endpoint import TokenEndpoint
    from gistgate.oauth.upstream import GitHubLogin, Upstream
    from gistgate.storage.ratelimit import RateLimiter
    from gistgate.storage.vault import TokenVault

__all__ = ["AuthorizationServer"]


class AuthorizationServer:
    """One per process; every dependency is created on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Table(settings.table_name)

    # -- composition ------------------------------------------------------------

    @cached_property
    def signer(self) -> KmsSigner:
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
        from gistgate.oauth.client_assertion import ClientAssertionVerifier, TableJtiStore
        from gistgate.oauth.client_keys import ClientKeyResolver

        assertions = ClientAssertionVerifier(
            ClientKeyResolver(allow_loopback=self.settings.dev_mode), TableJtiStore(self.store)
        )
        return ClientRegistry(
            self.store,
            self.settings.client_registration_ttl_days,
            cimd,
            dev=self.settings.dev_mode,
            assertions=assertions,
        )

    @cached_property
    def grants(self) -> Grants:
        return Grants(
            self.store,
            self.signer,
            access_ttl=self.settings.access_token_ttl,
            refresh_ttl=self.settings.refresh_token_ttl,
            refresh_max_lifetime=self.settings.refresh_token_max_lifetime,
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

    def _github(self) -> GitHubLogin:
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

    def _login(self) -> Upstream:
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
        issuer = self._oidc_issuer()
        return OidcLogin(
            issuer,
            self.settings.upstream_oidc_client_id,
            secret,
            self._discovery,
            subject=self._enterprise_subject(issuer),
        )

    def _enterprise_subject(self, issuer: str | None) -> Callable[[str], str] | None:
        """Signing in at a trusted enterprise IdP makes the same subject as its ID-JAGs
        (``ema|<issuer id>|<sub>``): one person, one subject, whichever way they came,
        so a connect link issued to an ID-JAG user is proven by signing in there."""
        if issuer is None or issuer not in self.settings.ema_trusted_issuers:
            return None
        from gistgate.oauth.id_jag import map_subject

        settings = self.settings
        return lambda sub: map_subject(settings, issuer, sub)

    @cached_property
    def _discovery(self) -> Discovery:
        from gistgate.core.discovery import Discovery

        return Discovery()

    @cached_property
    def _registration_limit(self) -> RateLimiter:
        from gistgate.storage.ratelimit import RateLimiter

        return RateLimiter(self.settings.table_name, self.settings.registration_rate_per_minute)

    # -- the endpoints ---------------------------------------------------------------

    @cached_property
    def registration(self) -> RegistrationEndpoint:
        from gistgate.oauth.registration import RegistrationEndpoint

        return RegistrationEndpoint(self.settings, self.clients, lambda: self._registration_limit)

    @cached_property
    def token_endpoint(self) -> TokenEndpoint:
        from gistgate.oauth.token_endpoint import TokenEndpoint

        enterprise = (lambda: self._enterprise) if self.settings.ema_trusted_issuers else None
        return TokenEndpoint(self.settings, self.clients, self.grants, enterprise)

    @cached_property
    def _enterprise(self) -> EnterpriseGrant:
        """The ID-JAG grant: the IdPs' keys through the authorizer's cache and discovery."""
        from gistgate.oauth.id_jag import EnterpriseGrant
        from gistgate.tokens.jwks import JwksCache
        from gistgate.tokens.signatures import IssuerKeys

        return EnterpriseGrant(self.settings, IssuerKeys(JwksCache(), self._discovery), self.store)

    @cached_property
    def revocation(self) -> RevocationEndpoint:
        from gistgate.oauth.revocation import RevocationEndpoint

        return RevocationEndpoint(self.settings, self.clients, self.grants)
