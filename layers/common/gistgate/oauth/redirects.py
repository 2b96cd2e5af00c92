"""The redirect URIs we accept, from a registration or a client metadata document.

By the client's ``application_type`` (OpenID Connect Registration §2; MCP
2026-07-28 clients send it):

* ``web``: https only.
* ``native`` (RFC 8252): https (claimed URLs, §7.2), plain http on a loopback
  host with any port (§7.3), or a private-use URI scheme (§7.1) in reverse-domain
  form: the scheme holds a period (``com.example.app:/cb``), or, as Cursor sends
  it, the domain is the authority (``cursor://anysphere.cursor-retrieval/cb``).
  Schemes with a meaning of their own (``javascript``, ``data``, ``file`` …) are
  never private-use.

Always: no fragment, no credentials, and nothing urlsplit would silently drop
(tabs, newlines) or that is not printable ASCII. A client that does not say its
type gets the one its redirect URIs imply (:func:`infer_application_type`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import SplitResult, urlsplit

from gistgate.core.netguard import is_loopback_host

__all__ = [
    "APPLICATION_TYPES",
    "ApplicationType",
    "infer_application_type",
    "redirect_uri_problem",
    "redirect_warning",
    "uri_characters_ok",
]

ApplicationType = Literal["web", "native"]
APPLICATION_TYPES: tuple[ApplicationType, ...] = ("web", "native")

MAX_LENGTH = 2000
# Printable ASCII that RFC 3986 never allows in a URI. Browsers read "\\" as "/", so
# "https://evil.example\\.good.example/" would show one host and reach another.
_NOT_IN_URIS = frozenset('"<>\\^`{|}')
# RFC 3986 §3.1 scheme syntax.
_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*")
# Schemes that mean something to a browser or an OS besides "open this app": never an
# app's private-use scheme, whatever a client claims.
_NOT_PRIVATE_USE = frozenset(
    {
        "about", "blob", "chrome", "chrome-extension", "content", "data", "file", "filesystem",
        "ftp", "http", "https", "intent", "javascript", "jar", "mailto", "moz-extension",
        "ms-appx", "resource", "sms", "tel", "urn", "vbscript", "view-source", "ws", "wss",
    }
)  # fmt: skip


def uri_characters_ok(value: str) -> bool:
    """Only the printable ASCII an RFC 3986 URI may hold (no space, no backslash)."""
    return all("!" <= ch <= "~" and ch not in _NOT_IN_URIS for ch in value)


def _private_use(parts: SplitResult) -> bool:
    """An app's own scheme in reverse-domain form (RFC 8252 §7.1)."""
    scheme = parts.scheme
    if not _SCHEME.fullmatch(scheme) or scheme in _NOT_PRIVATE_USE:
        return False
    if "." in scheme:
        return True
    host = parts.hostname or ""
    return "." in host.strip(".") and not host.replace(".", "").isdigit()


def _loopback_http(parts: SplitResult) -> bool:
    return parts.scheme == "http" and is_loopback_host(parts.hostname or "")


def redirect_uri_problem(uri: Any, application_type: ApplicationType | None = None) -> str | None:
    """Why ``uri`` cannot be a redirect URI of a client of ``application_type``, or None.

    ``None`` (callers that do not know the type yet): https or loopback http.
    """
    if not isinstance(uri, str) or not uri or len(uri) > MAX_LENGTH:
        return "must be a non-empty string"
    if not uri_characters_ok(uri):
        return "must be printable ASCII URI characters (no spaces, quotes or backslashes)"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return "is not a valid URL"
    if parts.fragment or "#" in uri:
        return "must not have a fragment"
    if parts.username or parts.password:
        return "must not carry credentials"
    if application_type == "native" and _private_use(parts):
        return None
    if not parts.hostname:
        return "has no host"
    if parts.scheme == "https":
        return None
    if application_type == "web":
        return "must use https (a web client)"
    if _loopback_http(parts):
        return None
    if application_type == "native":
        return (
            "must use https, http on a loopback host, or an app's private-use scheme in "
            "reverse-domain form (com.example.app:/callback)"
        )
    return "must use https, or http on a loopback host (127.0.0.1, [::1], localhost)"


def infer_application_type(uris: Iterable[str]) -> ApplicationType:
    """What redirect URIs imply when a client does not say: native if any leaves the web."""
    for uri in uris:
        try:
            parts = urlsplit(uri)
        except ValueError:
            continue
        if parts.scheme != "https":
            return "native"
    return "web"


def redirect_warning(uri: str) -> str | None:
    """What a person should know about where a redirect URI sends them, if anything."""
    parts = urlsplit(uri)
    if parts.scheme == "http" and is_loopback_host(parts.hostname or ""):
        return (
            "This address is on your own computer: whatever program listens there "
            "receives the answer. Approve only if you just started this from an app here."
        )
    if parts.scheme not in ("http", "https"):
        return (
            f"This address opens an app on your device ({parts.scheme}:). Any app can claim "
            "such an address: approve only if you just started this from that app."
        )
    return None
