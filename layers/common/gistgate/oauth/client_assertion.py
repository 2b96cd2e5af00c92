"""Client authentication with a signed JWT: ``private_key_jwt``.

RFC 7523 §2.2 and §3, RFC 7521 §4.2, OpenID Connect Core §9. The client sends
``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` and
``client_assertion``, a JWT it signed with a key it registered (``jwks``/``jwks_uri``).

Two steps, because the key depends on who the client claims to be:

1. :func:`peek_client_id` reads the claimed client id (``iss``, which must equal
   ``sub``) without verifying anything, within a strict size limit, so the caller can
   look the client up;
2. :meth:`ClientAssertionVerifier.verify` checks everything, cheapest first, so a stale
   or misaddressed assertion never costs a JWKS fetch or a write: the algorithm (RS256,
   PS256, ES256, and the client's registered ``token_endpoint_auth_signing_alg``),
   ``iss`` = ``sub`` = the client, ``aud``, ``exp`` (present, not past, at most 5 minutes
   ahead), ``nbf``/``iat`` when present and ``jti``; then the signature, with the key the
   ``kid`` names (PyJWT, the key bound to its algorithm); and last the ``jti``, spent
   once in a :class:`JtiStore`, so a replay is refused while the assertion could still
   be accepted. Spending it last means only a validly signed assertion is remembered.

The JOSE header is parsed strictly (:func:`gistgate.tokens.jws.parse_jws`): repeated
members, NaN, and headers that name their own key (``jwk``, ``jku``, ``x5u``, ``x5c``)
or change the signing input (``crit``, ``b64``) are refused before any key is looked up.

Every failure is an :class:`AssertionRejected` (an ``invalid_client``) with a fixed
message that never echoes the assertion, its claims or anything a server sent; its
``reason`` is a short code for logs. A storage failure while spending the ``jti``
propagates as the storage error (a 503), never as a pass.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from jwt import PyJWS
from jwt.exceptions import PyJWTError

from gistgate.core.cache import Clock
from gistgate.oauth.client_keys import (
    ALGORITHMS,
    ClientKeyResolver,
    ClientKeysError,
    JwksUnavailable,
)
from gistgate.oauth.errors import InvalidClient
from gistgate.storage import keys
from gistgate.storage.records import Record
from gistgate.storage.table import Conflict, Key, Table
from gistgate.tokens.claims import is_numeric_date
from gistgate.tokens.errors import (
    ForbiddenHeader,
    TokenError,
    TokenTooLarge,
    UnsupportedAlgorithm,
)
from gistgate.tokens.jws import parse_jws

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "LEEWAY",
    "MAX_ASSERTION_BYTES",
    "MAX_JTI_LENGTH",
    "MAX_LIFETIME",
    "AssertionRejected",
    "ClientAssertionVerifier",
    "JtiRecord",
    "JtiStore",
    "TableJtiStore",
    "VerifiedAssertion",
    "jti_key",
    "peek_client_id",
]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_BYTES = 8 * 1024
MAX_CLIENT_ID_LENGTH = 2048
MAX_JTI_LENGTH = 256
LEEWAY = 30.0  # seconds of clock skew allowed on exp, nbf and iat
MAX_LIFETIME = 300.0  # exp may be at most this far ahead of now (plus the leeway)

# Signature only: the claims are checked here, against our clock. Keys under 2048 bits
# never get this far (client_keys), and PyJWT refuses them too.
_JWS = PyJWS(options={"enforce_minimum_key_length": True})


# ClientKeysError reasons that mean: the keys are fine, none of them fits this assertion.
_NO_KEY_FITS = frozenset(
    {"unknown_kid", "key_alg_mismatch", "ambiguous_key", "kid_required", "bad_alg"}
)


class AssertionRejected(InvalidClient):
    """The client assertion does not authenticate the client (401 ``invalid_client``).

    ``reason`` (for logs, never shown as a description): bad_assertion_type, missing,
    too_large, malformed, forbidden_header, bad_alg, bad_iss_sub, client_mismatch,
    alg_mismatch, bad_aud, missing_exp, expired, exp_too_far, not_yet_valid,
    issued_in_future, bad_jti, keys_unavailable, bad_signature, replayed, or a
    :class:`gistgate.oauth.client_keys.ClientKeysError` reason.
    """

    def __init__(self, description: str, *, reason: str = "invalid_client") -> None:
        super().__init__(description)
        self.reason = reason


class JtiStore(Protocol):
    """Remembers each (client, jti) it has seen until the assertion has expired."""

    def use_once(self, client_id: str, jti: str, *, until: float) -> bool:
        """True the first time (and remember it until ``until``, epoch seconds); False
        when it is remembered already. Storage failures propagate."""
        ...


@dataclass(frozen=True)
class JtiRecord(Record):
    """``JTI#<sha256(client_id, jti)>``: an accepted client assertion, until it expires."""

    client_id: str


def jti_key(client_id: str, jti: str) -> Key:
    """The item of one (client, jti) pair; the pair is JSON-encoded, so it is unambiguous.

    Built here from :func:`gistgate.storage.keys.digest` (storage/keys.py and STORAGE.md
    are to list it beside the other items).
    """
    pair = json.dumps([client_id, jti])  # ASCII: lone surrogates are escaped, not raised
    return {keys.PK: f"JTI#{keys.digest(pair)}", keys.SK: "JTI"}


class TableJtiStore:
    """The :class:`JtiStore` on the table: one conditional put per assertion.

    ``Table.put(new=True)`` writes only where no live item is, so of two concurrent
    uses of one assertion exactly one wins. The item outlives ``until`` by a second,
    since the table stores whole seconds.
    """

    def __init__(self, table: Table) -> None:
        self._table = table

    def use_once(self, client_id: str, jti: str, *, until: float) -> bool:
        ttl = max(math.ceil(until - self._table.clock()) + 1, 1)
        try:
            self._table.put(jti_key(client_id, jti), JtiRecord(client_id), ttl=ttl, new=True)
        except Conflict:
            return False
        return True


class VerifiedAssertion(NamedTuple):
    """What a verified assertion established."""

    client_id: str
    alg: str
    kid: str | None
    jti: str
    expires_at: float


class _Parsed(NamedTuple):
    token: str
    alg: str
    kid: str | None
    claims: dict[str, Any]
    client_id: str


def _parse(assertion_type: Any, assertion: Any) -> _Parsed:
    """The unverified header and claims, with ``iss`` = ``sub`` as the claimed client."""
    if assertion_type != CLIENT_ASSERTION_TYPE:
        raise AssertionRejected(
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            reason="bad_assertion_type",
        )
    if not isinstance(assertion, str) or not assertion:
        raise AssertionRejected("client_assertion is missing", reason="missing")
    try:  # the size first, before any decoding
        parsed = parse_jws(assertion, algorithms=ALGORITHMS, max_bytes=MAX_ASSERTION_BYTES)
    except UnsupportedAlgorithm:
        raise AssertionRejected(
            "client_assertion must be signed with RS256, PS256 or ES256", reason="bad_alg"
        ) from None
    except ForbiddenHeader:
        raise AssertionRejected(
            "client_assertion has a JOSE header parameter we do not accept",
            reason="forbidden_header",
        ) from None
    except TokenTooLarge:
        raise AssertionRejected(
            "client_assertion is larger than 8 KB", reason="too_large"
        ) from None
    except TokenError:
        raise AssertionRejected(
            "client_assertion is not a signed JWT", reason="malformed"
        ) from None
    claims = parsed.payload
    iss, sub = claims.get("iss"), claims.get("sub")
    if not (isinstance(iss, str) and 0 < len(iss) <= MAX_CLIENT_ID_LENGTH and sub == iss):
        raise AssertionRejected(
            "client_assertion must have iss and sub, both the client_id", reason="bad_iss_sub"
        )
    return _Parsed(assertion, parsed.alg, parsed.kid, claims, iss)


def peek_client_id(
    assertion_type: str | None, assertion: str | None, *, client_id: str | None = None
) -> str:
    """The client id the assertion claims to be from, NOT verified: only to look it up.

    ``assertion_type`` and ``assertion`` are the form's ``client_assertion_type`` and
    ``client_assertion``; ``client_id`` the form's, when it sent one (RFC 7521 §4.2: it
    must then name the same client). Raises :class:`AssertionRejected`.
    """
    claimed = _parse(assertion_type, assertion).client_id
    if client_id is not None and client_id != claimed:
        raise AssertionRejected(
            "client_id does not match client_assertion", reason="client_mismatch"
        )
    return claimed


class ClientAssertionVerifier:
    """Verifies client assertions with the client's keys and spends their ``jti``.

    One per process: ``resolver`` caches JWK Sets, ``jti_store`` is shared (the table).
    """

    def __init__(
        self,
        resolver: ClientKeyResolver,
        jti_store: JtiStore,
        *,
        leeway: float = LEEWAY,
        max_lifetime: float = MAX_LIFETIME,
        clock: Clock = time.time,
    ) -> None:
        self._keys = resolver
        self._jti_store = jti_store
        self.leeway = leeway
        self.max_lifetime = max_lifetime
        self._clock = clock

    def verify(
        self,
        assertion_type: str | None,
        assertion: str | None,
        *,
        client_id: str,
        audiences: Collection[str],
        jwks: Mapping[str, Any] | None = None,
        jwks_uri: str | None = None,
        signing_alg: str | None = None,
    ) -> VerifiedAssertion:
        """Authenticate ``client_id`` by its assertion, or raise :class:`AssertionRejected`.

        ``client_id`` is the registered client the caller looked up (by
        :func:`peek_client_id`); ``audiences`` what ``aud`` may name (our token endpoint
        URL and our issuer); ``jwks``/``jwks_uri`` the client's registered keys (exactly
        one); ``signing_alg`` its registered ``token_endpoint_auth_signing_alg``, if any.
        Storage errors from the jti store propagate unchanged.
        """
        if isinstance(audiences, str) or not audiences:
            raise ValueError("audiences must be a non-empty collection of URLs")
        parsed = _parse(assertion_type, assertion)
        if parsed.client_id != client_id:
            raise AssertionRejected(
                "client_assertion was not issued by this client", reason="client_mismatch"
            )
        if signing_alg is not None and parsed.alg != signing_alg:
            raise AssertionRejected(
                "client_assertion is not signed with the registered algorithm",
                reason="alg_mismatch",
            )
        self._check_audience(parsed.claims, audiences)
        expires_at = self._check_times(parsed.claims)
        jti = parsed.claims.get("jti")
        if not (isinstance(jti, str) and 0 < len(jti) <= MAX_JTI_LENGTH):
            raise AssertionRejected(
                "client_assertion must have a jti of at most 256 characters", reason="bad_jti"
            )
        try:
            key = self._keys.key_for(kid=parsed.kid, alg=parsed.alg, jwks=jwks, jwks_uri=jwks_uri)
        except JwksUnavailable as exc:
            raise AssertionRejected(
                "the client's jwks_uri could not be fetched", reason="keys_unavailable"
            ) from exc
        except ClientKeysError as exc:
            if exc.reason in _NO_KEY_FITS:
                raise AssertionRejected(
                    "no registered key of the client verifies client_assertion", reason=exc.reason
                ) from exc
            raise AssertionRejected(
                "the client has no usable registered keys", reason=exc.reason
            ) from exc
        try:
            _JWS.decode(parsed.token, key=key.verifier(parsed.alg), algorithms=[parsed.alg])
        except (PyJWTError, KeyError, ValueError, TypeError):
            raise AssertionRejected(
                "client_assertion signature does not verify", reason="bad_signature"
            ) from None
        if not self._jti_store.use_once(client_id, jti, until=expires_at + self.leeway):
            raise AssertionRejected("client_assertion has been used already", reason="replayed")
        return VerifiedAssertion(client_id, parsed.alg, parsed.kid, jti, expires_at)

    @staticmethod
    def _check_audience(claims: Mapping[str, Any], audiences: Collection[str]) -> None:
        aud = claims.get("aud")
        named = [aud] if isinstance(aud, str) else aud
        if not (
            isinstance(named, list)
            and all(isinstance(item, str) for item in named)
            and any(item in audiences for item in named)
        ):
            raise AssertionRejected(
                "client_assertion aud must name this server's token endpoint", reason="bad_aud"
            )

    def _check_times(self, claims: Mapping[str, Any]) -> float:
        """``exp`` (required), ``nbf`` and ``iat`` (if present) against our clock."""
        now = self._clock()
        exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
        if not is_numeric_date(exp):
            raise AssertionRejected(
                "client_assertion must have a numeric exp", reason="missing_exp"
            )
        if now >= exp + self.leeway:
            raise AssertionRejected("client_assertion has expired", reason="expired")
        if exp > now + self.max_lifetime + self.leeway:
            raise AssertionRejected(
                "client_assertion must expire within 5 minutes", reason="exp_too_far"
            )
        for value in (nbf, iat):
            if value is not None and not is_numeric_date(value):
                raise AssertionRejected(
                    "client_assertion has a malformed nbf or iat", reason="malformed"
                )
        if nbf is not None and nbf > now + self.leeway:
            raise AssertionRejected("client_assertion is not valid yet", reason="not_yet_valid")
        if iat is not None and iat > now + self.leeway:
            raise AssertionRejected(
                "client_assertion was issued in the future", reason="issued_in_future"
            )
        return float(exp)
