"""The outbound-URL rule: https everywhere, plain http only on loopback.

Every URL we fetch (JWKS, discovery, introspection) passes through here, at
configuration time and again before each request, including redirect targets.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


class UnsafeUrlError(ValueError):
    """The URL is not https, or is http on a host that is not loopback."""


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_outbound_url(url: str) -> str:
    """Return the URL unchanged, or raise :class:`UnsafeUrlError` saying why."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise UnsafeUrlError(f"{url!r} is not a valid URL") from None
    if not host:
        raise UnsafeUrlError(f"{url!r} has no host")
    if parts.username or parts.password:
        raise UnsafeUrlError(f"{url!r} must not carry credentials")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and is_loopback_host(host):
        return url
    raise UnsafeUrlError(f"{url!r} must use https (http is allowed only for loopback hosts)")
