"""The module-level JWKS cache, one entry per JWKS URI.

What it does better than PyJWKClient and aws-jwt-verify:
* a TTL (10 min): a key removed from the JWKS stops verifying once it passes;
* stale-if-error (24 h): when the IdP is down, keys already held keep working;
* an unknown ``kid`` triggers at most one refetch per 30 s cooldown per URI,
  and a kid that a refetch did not find is not retried for 60 s, so a storm of
  random kids cannot turn into a storm of fetches;
* fetches are bounded (2 s, 150 KB, same-host redirects, https or loopback).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from gistgate.core.cache import Clock, ExpiringMap, RefreshingCache
from gistgate.core.fetch import FetchError, request_json
from gistgate.core.tracing import annotate, span
from gistgate.tokens.errors import UnknownKid, VerifierUnavailable
from gistgate.tokens.keys import KeySet, VerificationKey

__all__ = [
    "JWKS_MAX_BYTES",
    "JWKS_STALE_FOR",
    "JWKS_TTL",
    "KID_REFETCH_COOLDOWN",
    "UNKNOWN_KID_TTL",
    "JwksCache",
]

JWKS_TTL = 600.0
JWKS_STALE_FOR = 86_400.0
KID_REFETCH_COOLDOWN = 30.0
UNKNOWN_KID_TTL = 60.0
JWKS_TIMEOUT = 2.0
JWKS_MAX_BYTES = 150_000


def fetch_keyset(uri: str) -> KeySet:
    """Fetch and parse one JWKS (bounded); FetchError or ValueError on failure.

    Traced (a remote subsegment annotated with the host only: no path, no query).
    """
    with span("JWKS fetch", namespace="remote"):
        annotate(host=urlsplit(uri).hostname)
        document = request_json(uri, timeout=JWKS_TIMEOUT, max_bytes=JWKS_MAX_BYTES)
        return KeySet.from_document(document)


class JwksCache:
    """Keys per JWKS URI, refreshed on TTL and (rate-limited) on an unknown kid."""

    def __init__(
        self,
        fetch: Callable[[str], KeySet] = fetch_keyset,
        *,
        ttl: float = JWKS_TTL,
        stale_for: float = JWKS_STALE_FOR,
        kid_cooldown: float = KID_REFETCH_COOLDOWN,
        unknown_kid_ttl: float = UNKNOWN_KID_TTL,
        clock: Clock = time.time,
    ) -> None:
        self._sets: RefreshingCache[str, KeySet] = RefreshingCache(
            fetch, ttl=ttl, stale_for=stale_for, error_backoff=kid_cooldown / 3, clock=clock
        )
        self._kid_cooldown = kid_cooldown
        self._unknown_kid_ttl = unknown_kid_ttl
        self._clock = clock
        self._last_kid_refetch: dict[str, float] = {}
        self._unknown: ExpiringMap[tuple[str, str | None], bool] = ExpiringMap(
            max_entries=4096, clock=clock
        )

    def _keyset(self, uri: str, *, force: bool = False) -> KeySet:
        try:
            return self._sets.reload(uri) if force else self._sets.get(uri)
        except (FetchError, ValueError) as exc:
            raise VerifierUnavailable(f"JWKS unavailable ({_reason(exc)})") from None

    def prefetch(self, uri: str) -> bool:
        """Warm the cache at cold start; a failure here is retried on first use.

        Not held against the first request: at a stack's first start the issuer (our own
        well-known function, itself cold) may answer too late for the prefetch, and a
        backoff would refuse every token for its whole window.
        """
        try:
            self._keyset(uri)
        except VerifierUnavailable:
            self._sets.forgive(uri)
            return False
        return True

    def key_for(self, uri: str, kid: str | None, alg: str) -> VerificationKey:
        """The verification key for (kid, alg) from the JWKS at ``uri``."""
        keyset = self._keyset(uri)
        try:
            return keyset.select(kid, alg)
        except UnknownKid:
            if not self._may_refetch(uri, kid):
                raise
        try:
            return self._keyset(uri, force=True).select(kid, alg)
        except UnknownKid:
            self._unknown.put((uri, kid), True, self._clock() + self._unknown_kid_ttl)
            raise

    def _may_refetch(self, uri: str, kid: str | None) -> bool:
        """One refetch per cooldown per URI, and never for a kid just found unknown."""
        if self._unknown.get((uri, kid)):
            return False
        now = self._clock()
        if now - self._last_kid_refetch.get(uri, float("-inf")) < self._kid_cooldown:
            # Not marked unknown: a key rotated in during the cooldown is picked up
            # by the first request after it, not a negative TTL later.
            return False
        self._last_kid_refetch[uri] = now
        return True

    def clear(self) -> None:
        """Forget every key set and marker."""
        self._sets.clear()
        self._unknown.clear()
        self._last_kid_refetch.clear()


def _reason(exc: Any) -> str:
    return getattr(exc, "reason", None) or "invalid_jwks"
