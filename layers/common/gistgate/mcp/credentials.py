"""Which GitHub token a tool call uses, and what to do when GitHub rejects it.

* **service**: the deployment's token, from the Secrets Manager secret
  ``GITHUB_SERVICE_SECRET_ARN`` (a plain string or ``{"token": ...}``) through
  Powertools Parameters with ``max_age`` caching. ``GITHUB_SERVICE_TOKEN``
  holds it directly for local development only.
* **delegated**: the caller's own token from the vault.
* **hybrid**: delegated when the caller has connected GitHub, else service.

The client's MCP access token is never one of these: it is not even visible
here (the authorizer consumed it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Literal, NamedTuple, Protocol, TypeVar

from gistgate.core.config import Settings
from gistgate.core.secrets import get_secret
from gistgate.mcp.github import GitHubUnauthorized
from gistgate.storage.vault import GitHubGrant, GrantUndecryptable, TokenVault

__all__ = [
    "Credential",
    "CredentialError",
    "Credentials",
    "Kind",
    "NotConnected",
    "ReconnectRequired",
    "SecretReader",
    "ServiceCredentialUnavailable",
    "parse_service_secret",
]

Kind = Literal["service", "delegated"]
T = TypeVar("T")


class SecretReader(Protocol):
    """Reads a Secrets Manager secret, cached unless ``force`` (``core.secrets.get_secret``)."""

    def __call__(self, arn: str, *, force: bool = False) -> str: ...


class CredentialError(Exception):
    """No usable GitHub credential; the message tells the user what to do."""


class NotConnected(CredentialError):
    """Delegated mode and the user has no stored GitHub grant."""


class ReconnectRequired(CredentialError):
    """The user's grant was rejected by GitHub (and deleted) or cannot be decrypted."""


class ServiceCredentialUnavailable(CredentialError):
    """The service token is not configured, malformed, or rejected by GitHub."""


class Credential(NamedTuple):
    """A GitHub token and where it came from. ``repr`` hides the token."""

    kind: Kind
    token: str
    login: str | None = None

    def __repr__(self) -> str:
        return f"Credential(kind={self.kind!r}, login={self.login!r}, token=***)"


def parse_service_secret(value: str) -> str:
    """The token in a secret stored as a plain string or as JSON ``{"token": ...}``."""
    text = value.strip()
    if text.startswith("{"):
        try:
            token = json.loads(text).get("token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token.strip():
            raise ServiceCredentialUnavailable(
                'the service secret is JSON without a "token" string member'
            )
        return token.strip()
    if not text:
        raise ServiceCredentialUnavailable("the service secret is empty")
    return text


class Credentials:
    """Resolve the credential for a subject; recover from GitHub 401s."""

    def __init__(
        self,
        settings: Settings,
        vault: TokenVault,
        secret_reader: SecretReader = get_secret,
    ) -> None:
        self._mode = settings.github_credentials
        self._secret_arn = settings.github_service_secret_arn
        self._local_token = settings.github_service_token
        self._vault = vault
        self._read_secret = secret_reader

    @property
    def mode(self) -> str:
        """service, delegated or hybrid."""
        return self._mode

    @property
    def service_configured(self) -> bool:
        """Whether a service token source is set."""
        return bool(self._secret_arn or self._local_token)

    def _service(self, *, force: bool = False) -> Credential:
        if self._secret_arn:
            try:
                value = self._read_secret(self._secret_arn, force=force)
            except Exception as exc:
                raise ServiceCredentialUnavailable(
                    f"cannot read the service secret {self._secret_arn} ({type(exc).__name__})"
                ) from None
            return Credential("service", parse_service_secret(value))
        if self._local_token:
            return Credential("service", self._local_token)
        raise ServiceCredentialUnavailable(
            "no service GitHub token is configured (GITHUB_SERVICE_SECRET_ARN)"
        )

    def _delegated(self, sub: str) -> Credential | None:
        try:
            grant: GitHubGrant | None = self._vault.get(sub)
        except GrantUndecryptable:
            raise ReconnectRequired(
                "your stored GitHub authorization cannot be decrypted; "
                "call connect_github to link your account again"
            ) from None
        if grant is None:
            return None
        if grant.expired():
            self._vault.forget(sub)
            raise ReconnectRequired(
                "your GitHub authorization has expired; call connect_github to renew it"
            )
        return Credential("delegated", grant.access_token, grant.login)

    def would_use(self, sub: str, connected: bool) -> Kind:
        """The kind a gist call would use now, given whether ``sub`` has a grant."""
        if self._mode == "service":
            return "service"
        if self._mode == "delegated":
            return "delegated"
        return "delegated" if connected else "service"

    def resolve(self, sub: str) -> Credential:
        """The credential a gist call uses for ``sub`` now."""
        if self._mode != "service":
            credential = self._delegated(sub)
            if credential is not None:
                return credential
            if self._mode == "delegated":
                raise NotConnected(
                    "this server uses your own GitHub account and you have not connected one; "
                    "call connect_github first"
                )
        return self._service()

    def run(self, sub: str, call: Callable[[Credential], T]) -> tuple[T, Credential]:
        """Run ``call`` with the resolved credential, handling a GitHub 401 once.

        Service: the secret may have rotated, so it is read again bypassing the
        cache and the call retried; an unchanged value is reported as a broken
        secret (named by ARN, never by value). Delegated: the grant is deleted
        and the user told to reconnect.
        """
        credential = self.resolve(sub)
        try:
            return call(credential), credential
        except GitHubUnauthorized:
            if credential.kind == "delegated":
                self._vault.delete(sub)
                raise ReconnectRequired(
                    "GitHub rejected your stored authorization (revoked or expired); "
                    "it has been removed. Call connect_github to link your account again"
                ) from None
            fresh = self._service(force=True)
            where = self._secret_arn or "GITHUB_SERVICE_TOKEN"
            if fresh.token == credential.token:
                raise ServiceCredentialUnavailable(
                    f"GitHub rejected the service token stored in {where}; "
                    "an administrator must update that secret"
                ) from None
        try:
            return call(fresh), fresh
        except GitHubUnauthorized:
            raise ServiceCredentialUnavailable(
                f"GitHub rejected the service token stored in {where}, "
                "also after reading it again; an administrator must update that secret"
            ) from None
