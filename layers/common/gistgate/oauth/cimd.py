"""Client ID Metadata Documents (CIMD): a URL ``client_id`` names its own metadata.

MCP (2025-11-25 authorization) lets a client use an https URL as its
``client_id`` instead of registering; the authorization server fetches that URL
to learn the client's name and redirect URIs
(draft-ietf-oauth-client-id-metadata-document).

That makes our server fetch URLs chosen by anyone on the internet, so the fetch
is an SSRF surface and is fenced accordingly:

* https only (plain http to loopback only with ``allow_loopback``, for dev/tests);
* the host is resolved once and refused if *any* address is not public by
  :func:`gistgate.core.netguard.is_public_address` (every IANA special-purpose block:
  private, loopback, link-local/metadata, CGNAT, documentation, multicast,
  reserved, and IPv6 forms that embed or tunnel to IPv4). Dev mode
  (``allow_loopback``) admits loopback addresses as well, and nothing else:
  10/8 or 169.254.169.254 stay refused there too. The connection is then made
  to the vetted address itself, while TLS SNI, certificate checks and ``Host``
  keep the hostname, so DNS rebinding between check and connect has no window;
* no proxies from the environment, no redirects, at most 5 KB and 5 s in total
  (a deadline on every socket operation, see :func:`gistgate.core.fetch.within`);
* the document must name itself (``client_id`` byte-identical to the URL), list
  only https or loopback-http redirect URIs, and use no shared-secret auth.

Documents are cached for ``ttl`` (or the response's ``max-age``, capped at 24 h)
and failures for 30 s, so a hostile URL costs one fetch per window, not one per
request. Every failure is a :class:`CimdError`, which callers map to OAuth
``invalid_client``; its message never contains anything the remote server sent.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from gistgate.core.cache import Clock, ExpiringMap
from gistgate.core.netguard import is_loopback_host
from gistgate.oauth.errors import InvalidClientMetadata
from gistgate.oauth.key_metadata import KeyMetadata, key_metadata
from gistgate.oauth.names import client_name_problem
from gistgate.oauth.redirects import (
    APPLICATION_TYPES,
    ApplicationType,
    infer_application_type,
    redirect_uri_problem,
    uri_characters_ok,
)
from gistgate.oauth.untrusted_fetch import (
    UntrustedFetchError,
    fetch_untrusted_json,
    is_vetted_address,
)

__all__ = [
    "CimdError",
    "CimdFetcher",
    "ClientMetadataDocument",
    "is_cimd_client_id",
    "parse_document",
]

MAX_URL_LENGTH = 2048
MAX_CACHE_TTL = 24 * 3600.0
FAILURE_TTL = 30.0
CACHE_ENTRIES = 1024

# Token endpoint auth methods a CIMD client may use: none that rests on a shared secret.
ALLOWED_AUTH_METHODS = frozenset({"none", "private_key_jwt"})
_PRIVATE_MESSAGE = "The client_id URL points at a private or reserved network address."


class CimdError(Exception):
    """A client metadata document could not be used.

    ``reason`` is one of: unsafe_url, private_address, timeout, too_large,
    http_status, transport, not_json, bad_metadata, client_id_mismatch,
    bad_redirect_uris, bad_auth_method. The message is safe to show a user.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class ClientMetadataDocument(NamedTuple):
    """The validated parts of a client's metadata document."""

    client_id: str
    client_name: str
    redirect_uris: tuple[str, ...]
    token_endpoint_auth_method: str = "none"  # noqa: S105 - a method name, not a secret
    grant_types: tuple[str, ...] = ("authorization_code",)
    response_types: tuple[str, ...] = ("code",)
    scope: str | None = None
    client_uri: str | None = None
    logo_uri: str | None = None
    fetched_at: float = 0.0
    # What the document says, or what its redirect URIs imply (https only: web).
    application_type: ApplicationType = "web"
    # private_key_jwt: the keys its assertions are checked with.
    keys: KeyMetadata = KeyMetadata()


def is_cimd_client_id(client_id: str, *, allow_http_loopback: bool = False) -> bool:
    """True if ``client_id`` is a URL naming a metadata document.

    That is an https URL with a path (not just an origin), no fragment, no
    credentials and no dot segments. ``allow_http_loopback`` also admits plain
    http to a loopback host (dev mode).
    """
    if not isinstance(client_id, str) or not 0 < len(client_id) <= MAX_URL_LENGTH:
        return False
    # urlsplit silently drops tabs and newlines, so refuse them (and spaces) first.
    if not uri_characters_ok(client_id):
        return False
    try:
        parts = urlsplit(client_id)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    if not client_id.startswith(("https://", "http://")):  # the scheme exactly, lower case
        return False
    if parts.scheme == "http" and not (allow_http_loopback and host and is_loopback_host(host)):
        return False
    if not host or "#" in client_id or parts.username is not None or parts.password is not None:
        return False
    if parts.path in ("", "/"):
        return False
    segments = [unquote(segment) for segment in parts.path.split("/")]
    return not any(segment in (".", "..") for segment in segments)


def _string_list(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def _https_or_none(value: Any) -> str | None:
    """An https URL worth showing on a consent page, or None (dropped, not an error)."""
    if isinstance(value, str) and value.startswith("https://") and uri_characters_ok(value):
        return value
    return None


def parse_document(
    client_id: str, data: Any, *, fetched_at: float, allow_loopback: bool = False
) -> ClientMetadataDocument:
    """Validate a decoded metadata document fetched from ``client_id``.

    ``allow_loopback`` (dev mode): a ``jwks_uri`` may be plain http on a loopback host.
    """
    if not isinstance(data, dict):
        raise CimdError("bad_metadata", "The client metadata document is not a JSON object.")
    if data.get("client_id") != client_id:
        raise CimdError(
            "client_id_mismatch", "The client metadata document names a different client_id."
        )
    declared = data.get("application_type")
    if declared is not None and declared not in APPLICATION_TYPES:
        raise CimdError("bad_metadata", "The application_type must be web or native.")
    redirect_uris = _string_list(data.get("redirect_uris"))
    # An app's private-use scheme only when the document says native: a document that
    # does not say its type gets https or loopback http (RFC 8252 §7.3) only.
    if not redirect_uris or any(redirect_uri_problem(uri, declared) for uri in redirect_uris):
        raise CimdError(
            "bad_redirect_uris",
            "The client metadata document must list redirect_uris, each https, http on a "
            "loopback host, or (application_type native) an app's reverse-domain scheme; "
            "a web client's are https only.",
        )
    method = data.get("token_endpoint_auth_method", "none")
    if method not in ALLOWED_AUTH_METHODS or "client_secret" in data:
        raise CimdError(
            "bad_auth_method",
            "The client metadata document must not use a shared client secret "
            "(token_endpoint_auth_method must be none or private_key_jwt).",
        )
    try:
        keys = key_metadata(data, method, allow_loopback=allow_loopback)
    except InvalidClientMetadata as exc:  # fixed text of ours
        raise CimdError("bad_keys", f"The client metadata document: {exc.description}.") from None
    name = data.get("client_name", urlsplit(client_id).hostname or client_id)
    if client_name_problem(name):
        raise CimdError(
            "bad_metadata", "The client_name is not printable text of at most 200 characters."
        )
    grant_types = _string_list(data.get("grant_types", ["authorization_code"]))
    response_types = _string_list(data.get("response_types", ["code"]))
    scope = data.get("scope")
    if grant_types is None or response_types is None or not isinstance(scope, str | None):
        raise CimdError(
            "bad_metadata", "The client's grant_types, response_types or scope are malformed."
        )
    return ClientMetadataDocument(
        client_id=client_id,
        client_name=name,
        redirect_uris=redirect_uris,
        token_endpoint_auth_method=method,
        grant_types=grant_types,
        response_types=response_types,
        scope=scope,
        client_uri=_https_or_none(data.get("client_uri")),
        logo_uri=_https_or_none(data.get("logo_uri")),
        fetched_at=fetched_at,
        application_type=declared or infer_application_type(redirect_uris),
        keys=keys,
    )


class CimdFetcher:
    """Fetches, validates and caches client metadata documents.

    ``allow_loopback`` (dev mode and tests only) admits loopback addresses
    (127.0.0.0/8, ::1) and plain http to loopback hosts; every other
    non-public address stays refused.
    """

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        timeout: float = 5.0,
        max_bytes: int = 5 * 1024,
        ttl: float = 300.0,
        failure_ttl: float = FAILURE_TTL,
        clock: Clock = time.time,
    ) -> None:
        self.allow_loopback = allow_loopback
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.failure_ttl = failure_ttl
        self._clock = clock
        self._documents: ExpiringMap[str, ClientMetadataDocument] = ExpiringMap(
            max_entries=CACHE_ENTRIES, clock=clock
        )
        self._failures: ExpiringMap[str, tuple[str, str]] = ExpiringMap(
            max_entries=CACHE_ENTRIES, clock=clock
        )

    def get(self, client_id: str) -> ClientMetadataDocument:
        """The client's validated metadata, from cache or fetched; else :class:`CimdError`."""
        cached = self._documents.get(client_id)
        if cached is not None:
            return cached
        failed = self._failures.get(client_id)
        if failed is not None:
            raise CimdError(*failed)
        try:
            doc, max_age = self._fetch(client_id)
        except CimdError as exc:
            self._failures.put(
                client_id, (exc.reason, exc.message), self._clock() + self.failure_ttl
            )
            raise
        ttl = self.ttl if max_age is None else min(max_age, MAX_CACHE_TTL)
        self._documents.put(client_id, doc, doc.fetched_at + ttl)
        return doc

    def clear(self) -> None:
        """Forget every cached document and failure."""
        self._documents.clear()
        self._failures.clear()

    def _check_url(self, client_id: str) -> None:
        if not is_cimd_client_id(client_id, allow_http_loopback=self.allow_loopback):
            raise CimdError(
                "unsafe_url",
                "The client_id is not an https URL with a path (no fragment, "
                "credentials or dot segments).",
            )
        host = urlsplit(client_id).hostname or ""
        if "%" in host:  # an IPv6 zone id or a percent-encoded name: never a public host
            raise CimdError("unsafe_url", "The client_id's host is not a plain name or address.")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return  # a name: vetted after resolution, at connect time
        if not is_vetted_address(host, allow_loopback=self.allow_loopback):
            raise CimdError("private_address", _PRIVATE_MESSAGE)

    def _fetch(self, client_id: str) -> tuple[ClientMetadataDocument, float | None]:
        self._check_url(client_id)
        try:
            fetched = fetch_untrusted_json(
                client_id,
                what="client metadata document",
                url_name="client_id URL",
                max_bytes=self.max_bytes,
                allow_loopback=self.allow_loopback,
                timeout=self.timeout,
            )
        except UntrustedFetchError as exc:
            raise CimdError(exc.reason, exc.message) from None
        document = parse_document(
            client_id, fetched.data, fetched_at=self._clock(), allow_loopback=self.allow_loopback
        )
        return document, fetched.max_age
