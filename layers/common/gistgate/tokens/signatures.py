"""Signature checks for JWTs from trusted issuers: the one JWS verifier gistgate has.

The authorizer's access-token validator and the authorization server's ID-JAG grant
both come here after :func:`gistgate.tokens.jws.parse_jws`: the key comes from the
issuer's JWKS only (configured, or named by its metadata), through the shared
:class:`~gistgate.tokens.jwks.JwksCache` (TTL, stale-if-error, unknown-kid cooldown,
bounded fetches), and the algorithm is bound to the key's type.
"""

from __future__ import annotations

from collections.abc import Iterable

from gistgate.core.discovery import Discovery
from gistgate.core.fetch import FetchError
from gistgate.tokens.errors import BadSignature, VerifierUnavailable
from gistgate.tokens.jwks import JwksCache
from gistgate.tokens.jws import ParsedJws
from gistgate.tokens.keys import ALGORITHMS
from gistgate.tokens.trust import TrustedIssuer

__all__ = ["IssuerKeys"]


class IssuerKeys:
    """Each trusted issuer's keys, and the signature check against them."""

    def __init__(self, jwks: JwksCache, discovery: Discovery) -> None:
        self.jwks = jwks
        self.discovery = discovery

    def jwks_uri(self, issuer: TrustedIssuer) -> str:
        """The configured JWKS URI, or the one the issuer's metadata names."""
        if issuer.jwks_uri:
            return issuer.jwks_uri
        try:
            return self.discovery.jwks_uri(issuer.issuer)
        except FetchError as exc:
            raise VerifierUnavailable(f"issuer metadata unavailable ({exc.reason})") from None

    def prefetch(self, issuers: Iterable[TrustedIssuer]) -> None:
        """Warm discovery and keys at cold start; failures are retried on first use."""
        for issuer in issuers:
            try:
                self.jwks.prefetch(self.jwks_uri(issuer))
            except VerifierUnavailable:
                continue

    def verify(self, jws: ParsedJws, issuer: TrustedIssuer) -> None:
        """Raise unless ``jws`` is signed by a key of ``issuer`` that fits its ``alg``.

        UnknownKid/AmbiguousKey/BadSignature (401-class) or VerifierUnavailable.
        """
        key = self.jwks.key_for(self.jwks_uri(issuer), jws.kid, jws.alg)
        try:
            valid = ALGORITHMS[jws.alg].verify(jws.signing_input, key.key, jws.signature)
        except (ValueError, TypeError):
            valid = False
        if not valid:
            raise BadSignature("signature does not verify")
