"""Authorization-server metadata discovery (RFC 8414 and OpenID Connect Discovery).

Used to find an issuer's ``jwks_uri`` when ``OAUTH_JWKS_URI`` is not set, and
to serve the external server's metadata from our well-known endpoint. The
candidate URLs follow the order the MCP 2025-11-25 specification gives
clients; the document's ``issuer`` must equal the issuer exactly (RFC 8414 §3.3).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gistgate.core.cache import Clock, RefreshingCache
from gistgate.core.fetch import FetchError, request_json
from gistgate.core.netguard import UnsafeUrlError, check_outbound_url

__all__ = [
    "METADATA_MAX_BYTES",
    "METADATA_STALE_FOR",
    "METADATA_TTL",
    "Discovery",
    "fetch_metadata",
    "metadata_urls",
]

METADATA_TTL = 3600.0
METADATA_STALE_FOR = 86_400.0
METADATA_MAX_BYTES = 64_000


def metadata_urls(issuer: str) -> list[str]:
    """Where to look for an issuer's metadata, in the order MCP clients try."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")

    def at(p: str) -> str:
        return urlunsplit((parts.scheme, parts.netloc, p, "", ""))

    if not path:
        return [
            at("/.well-known/oauth-authorization-server"),
            at("/.well-known/openid-configuration"),
        ]
    return [
        at(f"/.well-known/oauth-authorization-server{path}"),
        at(f"/.well-known/openid-configuration{path}"),
        at(f"{path}/.well-known/openid-configuration"),
    ]


def fetch_metadata(issuer: str) -> dict[str, Any]:
    """The first metadata document whose ``issuer`` is exactly ``issuer``."""
    last: FetchError = FetchError("not_found")
    mismatch: FetchError | None = None
    for url in metadata_urls(issuer):
        try:
            document = request_json(url, max_bytes=METADATA_MAX_BYTES)
        except FetchError as exc:
            last = exc
            continue
        if isinstance(document, dict) and document.get("issuer") == issuer:
            return document
        mismatch = FetchError("issuer_mismatch", url)
    # A document found for another issuer says more than the 404s after it.
    raise mismatch or last


class Discovery:
    """Cached issuer metadata (1 h TTL, 24 h stale-if-error)."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._cache: RefreshingCache[str, dict[str, Any]] = RefreshingCache(
            fetch_metadata, ttl=METADATA_TTL, stale_for=METADATA_STALE_FOR, clock=clock
        )

    def metadata(self, issuer: str) -> dict[str, Any]:
        """The issuer's metadata; FetchError if it cannot be had."""
        return self._cache.get(issuer)

    def jwks_uri(self, issuer: str) -> str:
        """The issuer's ``jwks_uri``, checked against the outbound-URL rule."""
        uri = self.metadata(issuer).get("jwks_uri")
        if not isinstance(uri, str):
            raise FetchError("no_jwks_uri", issuer)
        try:
            return check_outbound_url(uri)
        except UnsafeUrlError as exc:
            raise FetchError("unsafe_url", str(exc)) from None

    def clear(self) -> None:
        """Forget every document."""
        self._cache.clear()
