"""Headers and cookies of a Lambda proxy event (REST v1 or HTTP API v2).

A header that holds one value by definition (Authorization, Host) is refused
when sent twice rather than one copy picked at random. Cookies are different:
the browser sends every cookie it has for the domain, ours and anybody
else's, so a malformed cookie is skipped, never an error, and cookie parsing
never raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from gistgate.core.inbound.errors import BadAuthority, RepeatedHeader
from gistgate.core.inbound.text import is_text, require_text

__all__ = ["authority", "check_headers", "cookies", "header"]

MAX_COOKIE_VALUE = 4096  # browsers keep at most 4096 bytes per cookie

# RFC 6265 §4.1.1: cookie-name is an RFC 2616 token.
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# host[:port] with a reg-name of unreserved characters (RFC 3986 §3.2.2), an IPv4
# address (a reg-name too, syntactically), or a bracketed IPv6 literal.
_AUTHORITY = re.compile(r"(?:[A-Za-z0-9._~-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::([0-9]{1,5}))?")


def _listed(values: Any) -> list[Any]:
    return values if isinstance(values, list) else [values]


def _values(event: Mapping[str, Any], name: str) -> list[Any]:
    """Every value sent for header ``name`` (case-insensitive)."""
    wanted = name.lower()
    multi = event.get("multiValueHeaders")
    if isinstance(multi, Mapping):
        found = [
            value
            for key, values in multi.items()
            if str(key).lower() == wanted
            for value in _listed(values)
        ]
        if found:
            return found
    single = event.get("headers")
    if isinstance(single, Mapping):
        return [value for key, value in single.items() if str(key).lower() == wanted]
    return []


def header(event: Mapping[str, Any], name: str) -> str | None:
    """The one value of header ``name``, checked as text; None when it was not sent."""
    values = _values(event, name)
    if not values:
        return None
    if len(values) > 1:
        raise RepeatedHeader(f"{name} header")
    return require_text(values[0], f"{name} header")


def check_headers(event: Mapping[str, Any]) -> None:
    """Every header name and value (and an HTTP API's cookies) is text."""
    for field in ("headers", "multiValueHeaders"):
        found = event.get(field)
        if isinstance(found, Mapping):
            for name, values in found.items():
                require_text(name, "headers")
                for value in _listed(values):
                    require_text(value, "headers")
    for crumb in _listed(event.get("cookies") or []):
        require_text(crumb, "headers")


def _crumbs(event: Mapping[str, Any]) -> Iterator[str]:
    """``name=value`` strings: an HTTP API's ``cookies``, then every Cookie header's."""
    for crumb in _listed(event.get("cookies") or []):
        if isinstance(crumb, str):
            yield crumb
    for value in _values(event, "cookie"):
        if isinstance(value, str):
            yield from value.split(";")


def cookies(event: Mapping[str, Any]) -> dict[str, str]:
    """``{name: value}`` of the well-formed cookies; the first of a repeated name wins.

    RFC 6265 §5.4 sends the more specific path first. A cookie whose name is
    not a token, or whose value is too long or not text, is skipped.
    """
    found: dict[str, str] = {}
    for crumb in _crumbs(event):
        name, sep, value = crumb.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or name in found or not _COOKIE_NAME.fullmatch(name):
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if len(value) <= MAX_COOKIE_VALUE and is_text(value):
            found[name] = value
    return found


def authority(value: str | None, part: str = "Host header") -> str:
    """``value`` if it is ``host[:port]`` (safe to put in a URL or a quoted challenge)."""
    match = _AUTHORITY.fullmatch(value) if isinstance(value, str) else None
    if match is None or (match.group(1) is not None and int(match.group(1)) > 65535):
        raise BadAuthority(part)
    return match.group(0)
