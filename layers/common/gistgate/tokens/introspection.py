"""RFC 7662 token introspection for opaque access tokens.

* The request is a bounded POST with client authentication (HTTP Basic).
* ``active`` must be the JSON boolean ``true``; then ``exp``, ``aud`` and the
  token type are checked as for a JWT.
* Only positive results are cached, keyed by the SHA-256 of the token (never
  the token itself) and the resource it was accepted for, until ``min(exp, 60 s)``.
* Any failure of the endpoint (5xx, timeout, TLS, non-JSON, oversize) raises
  VerifierUnavailable: the gateway fails closed with a 5xx, never Allow.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from gistgate.core.cache import Clock, ExpiringMap
from gistgate.core.fetch import FetchError, request_json
from gistgate.tokens.claims import check_audience, check_times, first_string, scopes_from
from gistgate.tokens.errors import (
    BadIssuer,
    InactiveToken,
    InvalidClaim,
    VerifierUnavailable,
)
from gistgate.tokens.presets import IdpPreset
from gistgate.tokens.principal import Principal
from gistgate.tokens.trust import Trust

__all__ = ["CACHE_SECONDS", "INTROSPECTION_MAX_BYTES", "Introspector", "token_digest"]

CACHE_SECONDS = 60
CACHE_MAX_ENTRIES = 10_000
INTROSPECTION_TIMEOUT = 2.0
INTROSPECTION_MAX_BYTES = 64_000
ACCESS_TOKEN_TYPES = frozenset(
    {"bearer", "access_token", "urn:ietf:params:oauth:token-type:access_token"}
)


def token_digest(token: str) -> bytes:
    """The cache key and fingerprint source: SHA-256 of the token."""
    return hashlib.sha256(token.encode()).digest()


class Introspector:
    """Validates opaque tokens at an RFC 7662 endpoint, caching positive answers."""

    def __init__(
        self,
        url: str,
        client_id: str | None,
        client_secret: Callable[[], str | None],
        preset: IdpPreset,
        *,
        leeway: float = 60,
        timeout: float = INTROSPECTION_TIMEOUT,
        clock: Clock = time.time,
    ) -> None:
        self.url = url
        self._client_id = client_id
        self._client_secret = client_secret
        self._preset = preset
        self._leeway = leeway
        self._timeout = timeout
        self._clock = clock
        # Keyed by (token digest, resource): an answer accepted for one public URL
        # (say the execute-api URL) is never reused, unchecked, for another.
        self._cache: ExpiringMap[tuple[bytes, str], Principal] = ExpiringMap(
            max_entries=CACHE_MAX_ENTRIES, clock=clock
        )

    def _introspect(self, token: str) -> Any:
        secret = self._client_secret() if self._client_id else None
        auth = (self._client_id, secret or "") if self._client_id else None
        try:
            return request_json(
                self.url,
                method="POST",
                form={"token": token, "token_type_hint": "access_token"},
                auth=auth,
                timeout=self._timeout,
                max_bytes=INTROSPECTION_MAX_BYTES,
            )
        except FetchError as exc:
            raise VerifierUnavailable(f"introspection failed ({exc.reason})") from None

    def validate(self, token: str, trust: Trust, digest: bytes | None = None) -> Principal:
        """The principal for an active token meant for us; TokenError otherwise."""
        key = (digest or token_digest(token), trust.resource)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        answer = self._introspect(token)
        if not isinstance(answer, dict):
            raise VerifierUnavailable("introspection answered with no JSON object")
        principal = self._principal(answer, trust)
        now = self._clock()
        until = min(principal.expires_at or now + CACHE_SECONDS, now + CACHE_SECONDS)
        self._cache.put(key, principal, until)
        return principal

    def _principal(self, answer: dict[str, Any], trust: Trust) -> Principal:
        if answer.get("active") is not True:
            raise InactiveToken("token is not active")
        token_type = answer.get("token_type")
        if token_type is not None and (
            not isinstance(token_type, str) or token_type.lower() not in ACCESS_TOKEN_TYPES
        ):
            raise InvalidClaim("token_type is not an access token")
        iss = first_string(answer, ("iss",))
        if iss is not None and trust.issuers and iss not in trust.issuers:
            raise BadIssuer("issuer not trusted")
        exp = check_times(answer, self._clock(), self._leeway, require_exp=False)
        check_audience(answer, self._preset.audience_claim, trust.audiences_for(iss))
        client_id = first_string(answer, ("client_id", *self._preset.client_id_claims)) or ""
        sub = first_string(answer, ("sub",)) or client_id
        if not sub:
            raise InvalidClaim("sub is required")
        scopes = scopes_from(answer, self._preset)
        issuer = iss or (next(iter(trust.issuers)) if trust.issuers else "")
        return Principal(sub, client_id, scopes, issuer, exp, "introspection")

    def clear(self) -> None:
        """Forget cached answers."""
        self._cache.clear()
