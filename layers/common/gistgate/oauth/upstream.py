"""The upstream identity provider the facade sends users to: GitHub or any OIDC IdP.

We are a confidential client there, with our own state and our own PKCE. The
user is identified by what the IdP vouches for: GitHub's numeric user id
(``github|<id>``, stable across login renames) or the OIDC userinfo ``sub``,
fetched over TLS from the discovered endpoint with the token just issued to us.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from urllib.parse import urlencode

from gistgate.core.config import Settings
from gistgate.core.observability import logger
from gistgate.oauth.errors import ServerError, UpstreamLoginFailed
from gistgate.storage.vault import GitHubGrant

if TYPE_CHECKING:
    from gistgate.core.discovery import Discovery

__all__ = [
    "GITHUB_SCOPES",
    "OIDC_SCOPES",
    "GitHubLogin",
    "OidcLogin",
    "Upstream",
    "UpstreamIdentity",
]

GITHUB_SCOPES = "gist read:user"
OIDC_SCOPES = "openid profile email"
TIMEOUT = 8.0


class UpstreamIdentity(NamedTuple):
    """Who logged in, and (GitHub) their token for the vault."""

    sub: str
    name: str
    github: GitHubGrant | None = None

    def __repr__(self) -> str:
        return f"UpstreamIdentity(sub={self.sub!r}, name={self.name!r})"


class Upstream(Protocol):
    def authorize_url(
        self, state: str, challenge: str, redirect_uri: str, *, select_account: bool = False
    ) -> str: ...

    def identify(self, code: str, verifier: str, redirect_uri: str) -> UpstreamIdentity: ...


def _post_form(url: str, form: dict[str, str], auth: tuple[str, str] | None = None) -> Any:
    """POST a form to a token endpoint; its JSON answer, a success or an OAuth error.

    GitHub answers errors with a 200, OIDC providers with a 400 or 401: the caller
    tells them apart by the presence of ``access_token``.
    """
    from gistgate.core.fetch import FetchError, request_json

    try:
        return request_json(
            url, method="POST", form=form, auth=auth, timeout=TIMEOUT, statuses=(200, 400, 401)
        )
    except FetchError:
        raise UpstreamLoginFailed("the identity provider's token endpoint did not answer") from None


def _get_json(url: str, token: str) -> Any:
    """GET with the token just issued to us (GitHub /user, OIDC userinfo)."""
    from gistgate.core.fetch import FetchError, request_json

    try:
        return request_json(url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
    except FetchError as exc:
        raise UpstreamLoginFailed(f"the identity provider did not answer ({exc.reason})") from None


def _token_error(body: Any) -> UpstreamLoginFailed:
    """The IdP's own error text is not ours to pass on: it reaches the client's redirect."""
    code = body.get("error") if isinstance(body, dict) else None
    logger.info("upstream token error", extra={"upstream_error": str(code)[:64]})
    return UpstreamLoginFailed("the identity provider refused the code")


class GitHubLogin:
    """GitHub's web application flow (OAuth App or GitHub App user tokens)."""

    def __init__(self, settings: Settings, client_secret: str) -> None:
        if not settings.github_oauth_client_id:
            raise ServerError("GitHub login needs GITHUB_OAUTH_CLIENT_ID")
        self._client_id = settings.github_oauth_client_id
        self._secret = client_secret
        self._web = settings.github_web_url
        self._api = settings.github_api_url

    def authorize_url(
        self, state: str, challenge: str, redirect_uri: str, *, select_account: bool = False
    ) -> str:
        query = {
            "client_id": self._client_id,
            "redirect_uri": redirect_uri,
            "scope": GITHUB_SCOPES,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "allow_signup": "true",
        }
        if select_account:
            query["prompt"] = "select_account"  # GitHub's account picker
        return f"{self._web}/login/oauth/authorize?{urlencode(query)}"

    def identify(self, code: str, verifier: str, redirect_uri: str) -> UpstreamIdentity:
        body = _post_form(
            f"{self._web}/login/oauth/access_token",
            {
                "client_id": self._client_id,
                "client_secret": self._secret,
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
        )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str):
            raise _token_error(body)
        user = _get_json(f"{self._api}/user", token)
        if not isinstance(user, dict) or not isinstance(user.get("id"), int):
            raise UpstreamLoginFailed("GitHub's /user answer has no numeric id")
        login = str(user.get("login") or user["id"])
        expires_in = body.get("expires_in")
        grant = GitHubGrant(
            access_token=token,
            login=login,
            github_id=user["id"],
            scopes=str(body.get("scope") or ""),
            refresh_token=body.get("refresh_token"),
            expires_at=int(time.time() + expires_in) if isinstance(expires_in, int) else None,
        )
        return UpstreamIdentity(f"github|{user['id']}", login, grant)


class OidcLogin:
    """Any OpenID Connect provider, found by discovery (Cognito, Auth0, Okta, Entra, Keycloak)."""

    def __init__(
        self,
        issuer: str | None,
        client_id: str | None,
        client_secret: str | None,
        discovery: Discovery,
        subject: Callable[[str], str] | None = None,
    ) -> None:
        """``subject`` maps the IdP's ``sub`` to ours (an enterprise IdP's users are
        ``ema|…``, the subject its ID-JAGs map to); None keeps it as it is."""
        if not (issuer and client_id):
            raise ServerError("OIDC login needs UPSTREAM_OIDC_ISSUER and UPSTREAM_OIDC_CLIENT_ID")
        self._issuer = issuer
        self._client_id = client_id
        self._secret = client_secret
        self._discovery = discovery
        self._subject = subject

    def _endpoint(self, name: str) -> str:
        from gistgate.core.fetch import FetchError
        from gistgate.core.netguard import UnsafeUrlError, check_outbound_url

        try:
            value = self._discovery.metadata(self._issuer).get(name)
        except FetchError:
            raise UpstreamLoginFailed("the identity provider's metadata is unavailable") from None
        if not isinstance(value, str):
            raise UpstreamLoginFailed(f"the identity provider's metadata has no {name}")
        try:
            return check_outbound_url(value)
        except UnsafeUrlError:
            raise UpstreamLoginFailed(f"the identity provider's {name} is not https") from None

    def authorize_url(
        self, state: str, challenge: str, redirect_uri: str, *, select_account: bool = False
    ) -> str:
        query = {
            "response_type": "code",
            "client_id": self._client_id,
            "redirect_uri": redirect_uri,
            "scope": OIDC_SCOPES,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if select_account:
            query["prompt"] = "select_account"
        return f"{self._endpoint('authorization_endpoint')}?{urlencode(query)}"

    def identify(self, code: str, verifier: str, redirect_uri: str) -> UpstreamIdentity:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": self._client_id,
        }
        auth = (self._client_id, self._secret) if self._secret else None
        body = _post_form(self._endpoint("token_endpoint"), form, auth)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str):
            raise _token_error(body)
        info = _get_json(self._endpoint("userinfo_endpoint"), token)
        sub = info.get("sub") if isinstance(info, dict) else None
        if not isinstance(sub, str) or not sub:
            raise UpstreamLoginFailed("the identity provider's userinfo has no sub")
        name = info.get("preferred_username") or info.get("email") or info.get("name") or sub
        return UpstreamIdentity(self._subject(sub) if self._subject else sub, str(name))
