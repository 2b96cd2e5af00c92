"""The well-known documents: RFC 9728 protected-resource metadata and, for an
external authorization server, its RFC 8414 metadata passed through unchanged.

Pure functions of settings and the request's base URL; the handler only maps
them, and the typed errors below, to HTTP responses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gistgate.core.config import Settings
from gistgate.core.discovery import Discovery
from gistgate.core.fetch import FetchError
from gistgate.core.urls import resource_url

if TYPE_CHECKING:
    from gistgate.oauth.signing import KmsSigner

__all__ = [
    "AS_METADATA_CACHE_CONTROL",
    "JWKS_CACHE_CONTROL",
    "PRM_CACHE_CONTROL",
    "PublishedKeys",
    "WellKnownError",
    "authorization_server_metadata",
    "protected_resource_metadata",
]

PRM_CACHE_CONTROL = "public, max-age=300"
AS_METADATA_CACHE_CONTROL = "public, max-age=3600"
# Short enough that a rotation's next key is seen well before it signs.
JWKS_CACHE_CONTROL = "public, max-age=300"


class WellKnownError(Exception):
    """A well-known request that cannot be answered with a document."""

    status = 500
    error = "server_error"


class NotServedHere(WellKnownError):
    """The document is not served by this function (in this mode)."""

    status = 404
    error = "not_found"


class UpstreamMetadataUnavailable(WellKnownError):
    """The external authorization server's metadata cannot be fetched."""

    status = 502
    error = "temporarily_unavailable"


def authorization_servers(settings: Settings, base: str) -> list[str]:
    """Issuers a client should get tokens from (builtin: ourselves)."""
    if settings.issuers:
        return [cfg.issuer for cfg in settings.issuers]
    return [base]


def protected_resource_metadata(settings: Settings, base: str) -> dict[str, Any]:
    """RFC 9728 metadata; ``resource`` is byte-identical to the MCP URL clients use."""
    document: dict[str, Any] = {
        "resource": resource_url(base),
        "authorization_servers": authorization_servers(settings, base),
        "scopes_supported": list(settings.basic_scopes),
        "bearer_methods_supported": ["header"],
        "resource_name": settings.resource_name,
    }
    if settings.resource_documentation:
        document["resource_documentation"] = settings.resource_documentation
    return document


class SigningKeysUnavailable(WellKnownError):
    """KMS did not give us the public signing keys."""

    status = 503
    error = "temporarily_unavailable"


def authorization_server_metadata(
    settings: Settings, discovery: Discovery, base: str
) -> dict[str, Any]:
    """Builtin: our own RFC 8414 document. Otherwise the external AS's, cached."""
    if settings.auth_mode == "builtin":
        from gistgate.oauth.metadata import authorization_server_metadata as ours

        return ours(settings, base)
    issuer = settings.issuers[0].issuer
    try:
        return discovery.metadata(issuer)
    except FetchError as exc:
        raise UpstreamMetadataUnavailable(
            f"authorization server metadata unavailable ({exc.reason})"
        ) from None


class PublishedKeys:
    """The builtin issuer's JWKS: the KMS signing keys' public halves, fetched once."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._signer: KmsSigner | None = None

    def public_jwks(self) -> dict[str, Any]:
        if self._settings.auth_mode != "builtin":
            raise NotServedHere("this deployment's tokens come from an external issuer")
        if not self._settings.signing_key_ids:
            raise SigningKeysUnavailable("GISTGATE_SIGNING_KEY_ID is not set")
        from gistgate.oauth.signing import KmsSigner, SigningUnavailable, UnsupportedSigningKey

        if self._signer is None:
            self._signer = KmsSigner(self._settings.signing_key_ids)
        try:
            return self._signer.public_jwks()
        except (SigningUnavailable, UnsupportedSigningKey) as exc:
            raise SigningKeysUnavailable(str(exc)) from None
