"""The well-known documents: RFC 9728 protected-resource metadata and, for an
external authorization server, its RFC 8414 metadata passed through unchanged.

Pure functions of settings and the request's base URL; the handler only maps
them, and the typed errors below, to HTTP responses.
"""

from __future__ import annotations

from typing import Any

from gistgate.config import Settings
from gistgate.discovery import Discovery
from gistgate.fetch import FetchError
from gistgate.urls import resource_url

PRM_CACHE_CONTROL = "public, max-age=300"
AS_METADATA_CACHE_CONTROL = "public, max-age=3600"


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


def authorization_server_metadata(settings: Settings, discovery: Discovery) -> dict[str, Any]:
    """The external AS's metadata (its own ``issuer`` unchanged), cached."""
    if settings.auth_mode == "builtin":
        raise NotServedHere("builtin authorization-server metadata is served by the OAuth function")
    issuer = settings.issuers[0].issuer
    try:
        return discovery.metadata(issuer)
    except FetchError as exc:
        raise UpstreamMetadataUnavailable(
            f"authorization server metadata unavailable ({exc.reason})"
        ) from None
