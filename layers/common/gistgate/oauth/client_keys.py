"""A client's public keys for ``private_key_jwt``: its inline ``jwks`` or its ``jwks_uri``.

A client that authenticates with a signed assertion (RFC 7523 §2.2, OpenID Connect Core
§9) registers its public keys, either inline (``jwks``, a JWK Set) or as a URL we fetch
(``jwks_uri``, RFC 7591 §2). Both come from the client, so both are hostile input:

* only asymmetric signing keys that fit our algorithms are kept: RSA (2048 bits or more)
  for RS256/PS256 and EC P-256 for ES256; a key that declares another ``alg``, another
  ``use`` than ``sig``, ``key_ops`` without ``verify``, another curve or type is skipped.
  A key is bound to the algorithms it fits when the set is loaded (a PyJWT ``PyJWK`` per
  algorithm), so an assertion can never pick the algorithm a key is used with;
* a set that holds private key material (``d`` and the other private members) or a
  symmetric key (``kty: oct``) is refused whole: a client that publishes its secret has
  none left, and no key from that set is worth trusting;
* ``jwks_uri`` is fetched behind the same SSRF fence as client metadata documents
  (:mod:`gistgate.oauth.untrusted_fetch`), at most 16 KB within 5 s.

Fetched sets are cached per ``jwks_uri`` for 5 minutes, or the response's max-age
(capped at 24 h, and at least 30 s, so a ``no-store`` server still costs one fetch per
window); failures are cached for 30 s. An unknown ``kid`` refetches the set at once,
but at most once per 60 s per ``jwks_uri``: a key rotation is picked up by the first
assertion that uses it, and a storm of made-up kids costs one fetch a minute.

Every failure is a :class:`ClientKeysError` (:class:`JwksUnavailable` when the
``jwks_uri`` could not be fetched) with a fixed message of ours.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial
from types import MappingProxyType
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from gistgate.core.cache import Clock, ExpiringMap
from gistgate.oauth.untrusted_fetch import Fetched, UntrustedFetchError, fetch_untrusted_json

__all__ = [
    "ALGORITHMS",
    "JWKS_MAX_BYTES",
    "JWKS_TIMEOUT",
    "KID_REFETCH_COOLDOWN",
    "MAX_KEYS",
    "ClientKey",
    "ClientKeyResolver",
    "ClientKeySet",
    "ClientKeysError",
    "JwksUnavailable",
    "KeyFetch",
    "UnknownKey",
    "parse_jwks",
]

# The signature algorithms a client assertion may be signed with.
ALGORITHMS = ("RS256", "PS256", "ES256")
MAX_KEYS = 32
MAX_KID_LENGTH = 256
MIN_RSA_BITS = 2048
JWKS_MAX_BYTES = 16 * 1024
JWKS_TIMEOUT = 5.0
DEFAULT_TTL = 300.0
MIN_TTL = 30.0
MAX_TTL = 24 * 3600.0
FAILURE_TTL = 30.0
KID_REFETCH_COOLDOWN = 60.0
CACHE_ENTRIES = 1024

# RFC 7518 §6.2.2 / §6.3.2 / §6.4.1: the members only a private or symmetric key has.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# The members a public key is built from: nothing else of the JWK reaches PyJWT.
_PUBLIC_MEMBERS = {"RSA": ("kty", "n", "e"), "EC": ("kty", "crv", "x", "y")}
_ALGORITHMS_FOR = {"RSA": ("RS256", "PS256"), "EC": ("ES256",)}
_CURVES = {"RSA": None, "EC": "P-256"}

# url -> the decoded document and its max-age; raises UntrustedFetchError.
KeyFetch = Callable[[str], Fetched]


class ClientKeysError(Exception):
    """The client's keys cannot verify this assertion; ``message`` is fixed text of ours.

    ``reason``: no_keys, both_keys, bad_jwks, too_many_keys, private_key, symmetric_key,
    no_usable_keys, bad_alg, unknown_kid, key_alg_mismatch, ambiguous_key, kid_required,
    and for :class:`JwksUnavailable` the fetch's (unsafe_url, private_address, timeout,
    too_large, http_status, transport, not_json).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class JwksUnavailable(ClientKeysError):
    """The ``jwks_uri`` could not be fetched (the client's problem, not a 503)."""


class UnknownKey(ClientKeysError):
    """No key has the assertion's ``kid`` (or, without one, none fits its ``alg``): the
    one failure a refetch of the ``jwks_uri`` can cure (a rotated key)."""


class ClientKey(NamedTuple):
    """One public signing key, bound to each algorithm it may verify."""

    kid: str | None
    kty: str
    verifiers: Mapping[str, PyJWK]  # alg -> a PyJWK bound to that alg

    def fits(self, alg: str) -> bool:
        """May this key verify ``alg``?"""
        return alg in self.verifiers

    def verifier(self, alg: str) -> PyJWK:
        """The key as PyJWT verifies ``alg`` with it (KeyError if it does not fit)."""
        return self.verifiers[alg]


class ClientKeySet(NamedTuple):
    """A client's usable public keys, parsed once."""

    keys: tuple[ClientKey, ...]

    def select(self, kid: str | None, alg: str) -> ClientKey:
        """The key that verifies an assertion with this ``kid`` and ``alg``.

        With a kid: the one key of that kid fitting ``alg``. Without: the one key of the
        set that fits ``alg``; with several, the assertion must say which (``kid``).
        """
        if alg not in ALGORITHMS:
            raise ClientKeysError("bad_alg", "The signature algorithm is not allowed.")
        if kid is not None:
            named = [key for key in self.keys if key.kid == kid]
            fitting = [key for key in named if key.fits(alg)]
            if not named:
                raise UnknownKey("unknown_kid", "No key of the client has this kid.")
            if not fitting:
                raise ClientKeysError(
                    "key_alg_mismatch", "The client's key of this kid does not fit the algorithm."
                )
        else:
            fitting = [key for key in self.keys if key.fits(alg)]
            if not fitting:
                raise UnknownKey("unknown_kid", "No key of the client fits the algorithm.")
            if len(fitting) > 1:
                raise ClientKeysError(
                    "kid_required", "The client has several keys, so the assertion must name one."
                )
        if len(fitting) > 1:
            raise ClientKeysError(
                "ambiguous_key", "Several keys of the client have this kid and algorithm."
            )
        return fitting[0]


def _load(jwk: Any) -> ClientKey | None:
    """A usable public signing key, or None for a key we skip (not refused: just unusable)."""
    if not isinstance(jwk, Mapping):
        return None
    kty = jwk.get("kty")
    if not isinstance(kty, str) or kty not in _PUBLIC_MEMBERS:
        return None  # OKP, unknown, or not a string
    use, key_ops = jwk.get("use"), jwk.get("key_ops")
    if use is not None and use != "sig":
        return None
    if key_ops is not None and not (isinstance(key_ops, list) and "verify" in key_ops):
        return None
    kid = jwk.get("kid")
    if kid is not None and not (isinstance(kid, str) and 0 < len(kid) <= MAX_KID_LENGTH):
        return None
    if _CURVES[kty] is not None and jwk.get("crv") != _CURVES[kty]:
        return None
    declared = jwk.get("alg")
    algorithms = _ALGORITHMS_FOR[kty]
    if declared is not None:
        algorithms = tuple(alg for alg in algorithms if alg == declared)
    if not algorithms:
        return None
    public = {name: jwk[name] for name in _PUBLIC_MEMBERS[kty] if name in jwk}
    try:
        verifiers = {alg: PyJWK(public, algorithm=alg) for alg in algorithms}
    except (PyJWTError, ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return None  # malformed members: PyJWT or cryptography refused them
    key = next(iter(verifiers.values())).key
    if kty == "RSA" and not (isinstance(key, RSAPublicKey) and key.key_size >= MIN_RSA_BITS):
        return None
    if kty == "EC" and not isinstance(key, EllipticCurvePublicKey):
        return None
    return ClientKey(kid, kty, MappingProxyType(verifiers))


def parse_jwks(document: Any) -> ClientKeySet:
    """The usable keys of a JWK Set (inline ``jwks`` or a fetched one); else ClientKeysError.

    Also the check for a client's registered ``jwks`` at registration time.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ClientKeysError("bad_jwks", "The client's JWK Set is not an object with keys.")
    entries = document["keys"]
    if len(entries) > MAX_KEYS:
        raise ClientKeysError(
            "too_many_keys", f"The client's JWK Set has more than {MAX_KEYS} keys."
        )
    for jwk in entries:
        if not isinstance(jwk, Mapping):
            continue
        if PRIVATE_MEMBERS.intersection(jwk):
            raise ClientKeysError("private_key", "The client's JWK Set holds private key material.")
        if jwk.get("kty") == "oct":
            raise ClientKeysError("symmetric_key", "The client's JWK Set holds a symmetric key.")
    keys = tuple(key for key in map(_load, entries) if key is not None)
    if not keys:
        raise ClientKeysError(
            "no_usable_keys",
            "The client's JWK Set has no RSA (2048 bits or more) or EC P-256 signing key.",
        )
    return ClientKeySet(keys)


class ClientKeyResolver:
    """Finds the key for an assertion in a client's inline ``jwks`` or ``jwks_uri``.

    ``fetch`` (url -> :class:`Fetched`, raising :class:`UntrustedFetchError`) defaults to
    the fenced fetch; tests pass their own. ``allow_loopback`` (dev mode and tests only)
    admits plain http to loopback and loopback addresses, nothing else.
    """

    def __init__(
        self,
        *,
        fetch: KeyFetch | None = None,
        allow_loopback: bool = False,
        timeout: float = JWKS_TIMEOUT,
        max_bytes: int = JWKS_MAX_BYTES,
        ttl: float = DEFAULT_TTL,
        min_ttl: float = MIN_TTL,
        failure_ttl: float = FAILURE_TTL,
        kid_cooldown: float = KID_REFETCH_COOLDOWN,
        clock: Clock = time.time,
    ) -> None:
        self._fetch: KeyFetch = fetch or partial(
            fetch_untrusted_json,
            what="client's JWK Set",
            url_name="jwks_uri",
            allow_loopback=allow_loopback,
            timeout=timeout,
            max_bytes=max_bytes,
        )
        self.ttl = ttl
        self.min_ttl = min_ttl
        self.failure_ttl = failure_ttl
        self.kid_cooldown = kid_cooldown
        self._clock = clock
        self._sets: ExpiringMap[str, ClientKeySet] = ExpiringMap(
            max_entries=CACHE_ENTRIES, clock=clock
        )
        self._failures: ExpiringMap[str, tuple[type[ClientKeysError], str, str]] = ExpiringMap(
            max_entries=CACHE_ENTRIES, clock=clock
        )
        self._refetched: ExpiringMap[str, bool] = ExpiringMap(
            max_entries=CACHE_ENTRIES, clock=clock
        )

    def key_for(
        self,
        *,
        kid: str | None,
        alg: str,
        jwks: Mapping[str, Any] | None = None,
        jwks_uri: str | None = None,
    ) -> ClientKey:
        """The key for (``kid``, ``alg``) from exactly one of ``jwks`` and ``jwks_uri``."""
        if jwks is not None and jwks_uri is not None:
            raise ClientKeysError("both_keys", "The client registered both jwks and jwks_uri.")
        if jwks is not None:
            return parse_jwks(jwks).select(kid, alg)
        if jwks_uri is None:
            raise ClientKeysError("no_keys", "The client registered no keys.")
        cached = self._sets.get(jwks_uri)
        keyset = cached if cached is not None else self.key_set(jwks_uri)
        try:
            return keyset.select(kid, alg)
        except UnknownKey:
            if cached is None:
                raise  # fetched just now: a second fetch would say the same
            if self._refetched.get(jwks_uri):
                raise  # refetched within the cooldown: the kid stays unknown until it ends
            self._refetched.put(jwks_uri, True, self._clock() + self.kid_cooldown)
        return self._load(jwks_uri).select(kid, alg)

    def key_set(self, jwks_uri: str) -> ClientKeySet:
        """The keys at ``jwks_uri``: cached, or fetched (a recent failure is raised again)."""
        cached = self._sets.get(jwks_uri)
        if cached is not None:
            return cached
        failed = self._failures.get(jwks_uri)
        if failed is not None:
            kind, reason, message = failed
            raise kind(reason, message)
        return self._load(jwks_uri)

    def clear(self) -> None:
        """Forget every cached set, failure and cooldown."""
        self._sets.clear()
        self._failures.clear()
        self._refetched.clear()

    def _load(self, jwks_uri: str) -> ClientKeySet:
        try:
            try:
                data, max_age = self._fetch(jwks_uri)
            except UntrustedFetchError as exc:
                raise JwksUnavailable(exc.reason, exc.message) from None
            keyset = parse_jwks(data)
        except ClientKeysError as exc:
            expires = self._clock() + self.failure_ttl
            self._failures.put(jwks_uri, (type(exc), exc.reason, exc.message), expires)
            raise
        ttl = self.ttl if max_age is None else min(max_age, MAX_TTL)
        self._sets.put(jwks_uri, keyset, self._clock() + max(ttl, self.min_ttl))
        self._failures.pop(jwks_uri)
        return keyset
