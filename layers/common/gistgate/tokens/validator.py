"""JWT access-token validation: strict parse, pinned key, pyjwt verify, typed claims.

Order matters for cost and safety: everything that needs no key is checked
first (size, structure, alg allow-list, forbidden headers, ``typ``, trusted
``iss``), so an unknown issuer never causes a fetch; then the key comes from
that issuer's JWKS only; then the signature; then the claims.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from gistgate.core.cache import Clock
from gistgate.core.config import Settings
from gistgate.core.discovery import Discovery
from gistgate.tokens.claims import (
    check_audience,
    check_issuer,
    check_required_values,
    check_times,
    first_string,
    scopes_from,
)
from gistgate.tokens.errors import InvalidClaim
from gistgate.tokens.jwks import JwksCache
from gistgate.tokens.jws import parse_jws
from gistgate.tokens.presets import get_preset
from gistgate.tokens.principal import Principal
from gistgate.tokens.signatures import IssuerKeys
from gistgate.tokens.trust import Trust, TrustedIssuer

__all__ = ["JwtValidator"]


class JwtValidator:
    """Validates JWT access tokens for one deployment's settings."""

    def __init__(
        self,
        settings: Settings,
        jwks: JwksCache,
        discovery: Discovery,
        *,
        clock: Clock = time.time,
    ) -> None:
        self.settings = settings
        self.preset = get_preset(settings.idp_preset)
        self.keys = IssuerKeys(jwks, discovery)
        self._clock = clock

    def prefetch(self, issuers: Iterable[TrustedIssuer]) -> None:
        """Warm discovery and keys at cold start; failures are retried on first use."""
        self.keys.prefetch(issuers)

    def validate(self, token: str, trust: Trust, digest: bytes | None = None) -> Principal:
        """The principal of a valid token; a TokenError (401) or VerifierUnavailable otherwise.

        ``digest`` is unused (a :class:`~gistgate.tokens.principal.Verifier`'s cache key):
        a JWT is verified locally every time, nothing is cached per token.
        """
        settings = self.settings
        jws = parse_jws(
            token,
            algorithms=settings.algorithms,
            max_bytes=settings.max_token_bytes,
            token_type=settings.token_type,
        )
        claims = jws.payload
        issuer = trust.issuers[check_issuer(claims, trust.issuers)]
        self.keys.verify(jws, issuer)
        preset = self.preset
        exp = check_times(claims, self._clock(), settings.leeway_seconds, require_exp=True)
        check_required_values(claims, preset)
        check_audience(claims, preset.audience_claim, issuer.audiences)
        scopes = scopes_from(claims, preset)
        client_id = first_string(claims, preset.client_id_claims) or ""
        sub = first_string(claims, ("sub",)) or client_id
        if not sub:
            raise InvalidClaim("sub is required")
        return Principal(sub, client_id, scopes, issuer.issuer, exp, "jwt")
