"""What a browser endpoint answers: a redirect or a page, with the cookies to set.

Kept apart from the flows so every browser flow (sign-in, consent, connect)
shapes its answers and its cookies the same way. Every cookie we set is
``__Host-`` (Secure, no Domain, Path=/) on https, HttpOnly and SameSite=Lax;
on loopback http (``make dev``) browsers refuse ``__Host-`` without Secure, so
there the prefix is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlencode

from gistgate.oauth.pages import Page
from gistgate.storage import keys

__all__ = [
    "ClientRedirectError",
    "Cookie",
    "PageError",
    "PageOut",
    "Redirect",
    "client_redirect",
    "cookie",
    "cookie_name",
    "error_redirect",
    "same_browser",
]


class Cookie(NamedTuple):
    name: str
    value: str
    max_age: int | None = None  # None: a session cookie; 0: delete it
    secure: bool = True


class Redirect(NamedTuple):
    location: str
    cookies: tuple[Cookie, ...] = ()


class PageOut(NamedTuple):
    page: Page
    cookies: tuple[Cookie, ...] = ()


class PageError(Exception):
    """Shown to the user as a page: the client cannot safely be redirected to."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ClientRedirectError(Exception):
    """Sent back to the client's redirect URI (RFC 6749 §4.1.2.1)."""

    def __init__(self, location: str) -> None:
        super().__init__("redirect with error")
        self.location = location


def cookie_name(base: str, name: str) -> str:
    """``__Host-`` cookies need https; on loopback http they drop the prefix."""
    return f"__Host-gg-{name}" if base.startswith("https://") else f"gg-{name}"


def cookie(base: str, name: str, value: str, max_age: int | None) -> Cookie:
    """One of our cookies, Secure whenever the deployment is https."""
    return Cookie(cookie_name(base, name), value, max_age, base.startswith("https://"))


def client_redirect(uri: str, params: Mapping[str, str | None]) -> str:
    """``uri`` with ``params`` appended to its query (RFC 6749 §3.1.2)."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


def error_redirect(uri: str, state: str | None, issuer: str, error: str, description: str) -> str:
    """An error back to the client (RFC 6749 §4.1.2.1), with ``iss`` (RFC 9207)."""
    return client_redirect(
        uri, {"error": error, "error_description": description, "state": state, "iss": issuer}
    )


def same_browser(cookies: Mapping[str, str], base: str, bound: str) -> bool:
    """Does this request carry the flow cookie whose hash the state was bound to?"""
    flow = cookies.get(cookie_name(base, "flow"))
    return bool(flow) and keys.digest(flow or "") == bound
