"""Which issuers, keys and audiences a request trusts.

Resolved from settings and the request's base URL, and memoised per base URL:
with ``PUBLIC_BASE_URL`` set there is exactly one. Each issuer keeps its own
audiences, so issuer A's audience is never accepted for issuer B.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from gistgate.core.config import IssuerConfig, Settings
from gistgate.core.urls import resource_url

__all__ = ["BUILTIN_JWKS_PATH", "Trust", "TrustedIssuer", "jwks_source", "resolve_trust"]

BUILTIN_JWKS_PATH = "/.well-known/jwks.json"


class TrustedIssuer(NamedTuple):
    """One issuer we accept tokens from, with its key source and audiences."""

    issuer: str
    jwks_uri: str | None
    audiences: frozenset[str]


class Trust(NamedTuple):
    """Everything a validator needs to accept a token for one resource."""

    resource: str
    issuers: dict[str, TrustedIssuer]

    def audiences_for(self, issuer: str | None) -> frozenset[str]:
        """Audiences of ``issuer``; with none named, those of the first (primary) issuer.

        An introspection answer may omit ``iss``: the endpoint then speaks for
        the first configured issuer, whose authorization server it belongs to.
        """
        if issuer is None and self.issuers:
            return next(iter(self.issuers.values())).audiences
        found = self.issuers.get(issuer) if issuer is not None else None
        return found.audiences if found else frozenset()


def jwks_source(settings: Settings, cfg: IssuerConfig) -> str | None:
    """The issuer's JWKS URI if known without discovery (configured, or ours in builtin)."""
    if cfg.jwks_uri is None and settings.auth_mode == "builtin":
        return cfg.issuer.rstrip("/") + BUILTIN_JWKS_PATH
    return cfg.jwks_uri


@lru_cache(maxsize=32)
def resolve_trust(settings: Settings, base: str) -> Trust:
    """The trust for requests whose public base URL is ``base``."""
    resource = resource_url(base)
    configured = settings.issuers
    issuers: dict[str, TrustedIssuer] = {}
    if settings.auth_mode == "builtin" and not configured:
        # Our own authorization server: issuer is the base URL, keys at our JWKS.
        issuers[base] = TrustedIssuer(base, base + BUILTIN_JWKS_PATH, frozenset({resource}))
    for cfg in configured:
        issuers[cfg.issuer] = TrustedIssuer(
            cfg.issuer, jwks_source(settings, cfg), frozenset(cfg.audiences or (resource,))
        )
    return Trust(resource, issuers)
