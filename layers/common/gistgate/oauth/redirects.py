"""The redirect URIs we accept, from a registration or a client metadata document.

https, or plain http on a loopback host with any port (RFC 8252 §7.3, native
apps). No fragment, no credentials, and nothing urlsplit would silently drop
(tabs, newlines) or that is not printable ASCII.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from gistgate.core.netguard import is_loopback_host

__all__ = ["redirect_uri_problem", "redirect_warning", "uri_characters_ok"]

MAX_LENGTH = 2000
# Printable ASCII that RFC 3986 never allows in a URI. Browsers read "\\" as "/", so
# "https://evil.example\\.good.example/" would show one host and reach another.
_NOT_IN_URIS = frozenset('"<>\\^`{|}')


def uri_characters_ok(value: str) -> bool:
    """Only the printable ASCII an RFC 3986 URI may hold (no space, no backslash)."""
    return all("!" <= ch <= "~" and ch not in _NOT_IN_URIS for ch in value)


def redirect_uri_problem(uri: Any) -> str | None:
    """Why ``uri`` cannot be a redirect URI, or None."""
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
    if not parts.hostname:
        return "has no host"
    if parts.username or parts.password:
        return "must not carry credentials"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return None
    return "must use https, or http on a loopback host (127.0.0.1, [::1], localhost)"


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
