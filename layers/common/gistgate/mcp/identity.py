"""The caller, as the authorizer described it in ``requestContext.authorizer``.

Identity is never read from request headers: API Gateway puts the
authorizer's context into the event, and a client cannot write there. REST
APIs (v1) put the context members directly under ``authorizer``; HTTP APIs
(v2) put a Lambda authorizer's under ``authorizer.lambda`` and a JWT
authorizer's claims under ``authorizer.jwt.claims``. All three are read.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["Identity", "IdentityError", "identity_from_event"]


class IdentityError(Exception):
    """No usable identity: answered with a 401 challenge, and no tool runs."""

    description = "the request carries no caller identity"


class MissingIdentity(IdentityError):
    """The event has no authorizer context (the function was invoked around the API)."""

    description = "the request did not pass the authorizer"


class ExpiredIdentity(IdentityError):
    """The token expired after the authorizer's cached Allow was issued."""

    description = "the access token has expired"


class Identity(NamedTuple):
    """Who is calling, and with which grant."""

    sub: str
    client_id: str
    scopes: tuple[str, ...]
    issuer: str
    expires_at: int

    def has(self, scope: str) -> bool:
        """Whether the token carries ``scope``."""
        return scope in self.scopes


def _context(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    request = event.get("requestContext")
    if not isinstance(request, Mapping):
        return None
    authorizer = request.get("authorizer")
    if not isinstance(authorizer, Mapping):
        return None
    nested = authorizer.get("lambda")
    if isinstance(nested, Mapping):
        return nested
    jwt = authorizer.get("jwt")
    claims = jwt.get("claims") if isinstance(jwt, Mapping) else None
    if isinstance(claims, Mapping):
        return claims
    return authorizer


def _scopes(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        # HTTP API JWT authorizers render a list claim as "[a b]".
        return tuple(value.strip("[]").replace(",", " ").split())
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return ()


def identity_from_event(event: Mapping[str, Any], *, now: float | None = None) -> Identity:
    """The caller of ``event``; raise :class:`IdentityError` if absent or expired."""
    context = _context(event) or {}
    sub = context.get("sub")
    if not isinstance(sub, str) or not sub:
        raise MissingIdentity(MissingIdentity.description)
    try:
        expires_at = int(str(context.get("exp", "")))
    except ValueError:
        raise MissingIdentity("the authorizer context has no valid exp") from None
    if expires_at <= (time.time() if now is None else now):
        raise ExpiredIdentity(ExpiredIdentity.description)
    return Identity(
        sub=sub,
        client_id=str(context.get("client_id") or context.get("azp") or ""),
        scopes=_scopes(context.get("scope", context.get("scp", ""))),
        issuer=str(context.get("iss") or ""),
        expires_at=expires_at,
    )
