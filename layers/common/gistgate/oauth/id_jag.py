"""The Identity Assertion JWT Authorization Grant (ID-JAG) at /oauth/token.

Enterprise-managed authorization (the MCP extension
``io.modelcontextprotocol/enterprise-managed-authorization``): a client trades an ID-JAG,
which an enterprise IdP issued to it by RFC 8693 token exchange, for our access token with
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` (RFC 7523 §2.1) and its own
client authentication. Checked in this order, with the authorizer's JWT machinery
(:func:`~gistgate.tokens.jws.parse_jws`, :class:`~gistgate.tokens.signatures.IssuerKeys`):

1. the header: ``alg`` on the allow-list (``OAUTH_ALGORITHMS``), no header that names its
   own key, ``typ`` = ``oauth-id-jag+jwt``;
2. ``iss`` is one of ``EMA_TRUSTED_ISSUERS``, exactly (an unknown issuer costs no fetch);
3. the signature, with that issuer's keys (``EMA_JWKS_URIS`` or its metadata's
   ``jwks_uri``; the shared JWKS cache, cooldown and outbound-URL fence);
4. ``aud`` is exactly our issuer; ``resource`` exactly our MCP endpoint URL;
5. ``client_id`` is the client that authenticated;
6. ``exp`` (not past), ``iat`` (required, not future), ``nbf``, within the leeway, and
   the assertion lives at most ``EMA_MAX_ASSERTION_LIFETIME``;
7. ``jti`` present; ``sub`` a short printable string;
8. the scope (:func:`granted_scopes`), then the token is signed, and only then the
   ``jti`` is spent: one conditional put in the table, so a second use anywhere (another
   Lambda instance) loses. Only an assertion that earned a token is remembered.

Every failure is an :class:`IdJagRejected` (``invalid_grant``) with a fixed description
naming the check; an IdP whose keys cannot be had is a :class:`ServerError` (503
``temporarily_unavailable``, retryable), never a pass.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from gistgate.core.cache import Clock
from gistgate.core.config import Settings
from gistgate.oauth import scopes
from gistgate.oauth.errors import InvalidGrant, InvalidScope, ServerError
from gistgate.storage import keys
from gistgate.storage.records import Record
from gistgate.storage.table import Conflict, Key, Table
from gistgate.tokens.claims import is_numeric_date
from gistgate.tokens.errors import (
    ForbiddenHeader,
    TokenError,
    UnsupportedAlgorithm,
    VerifierUnavailable,
    WrongTokenType,
)
from gistgate.tokens.jws import parse_jws
from gistgate.tokens.signatures import IssuerKeys
from gistgate.tokens.trust import TrustedIssuer

__all__ = [
    "ID_JAG_TYPE",
    "MAX_ASSERTION_BYTES",
    "EnterpriseGrant",
    "IdJag",
    "IdJagRejected",
    "SpentAssertion",
    "granted_scopes",
    "issuer_id",
    "map_subject",
    "spent_key",
]

ID_JAG_TYPE = "oauth-id-jag+jwt"
MAX_ASSERTION_BYTES = 8 * 1024
# The JWKS cache waits this long (its error backoff) before it asks the IdP again.
KEYS_RETRY_AFTER = 10
MAX_CLAIM_LENGTH = 255  # sub, jti, client_id: identifiers, not documents


class IdJagRejected(InvalidGrant):
    """The assertion is not a grant we honour (400 ``invalid_grant``); ``reason`` is the
    short code for logs and metrics, the description the fixed text the client sees."""

    def __init__(self, description: str, *, reason: str) -> None:
        super().__init__(description)
        self.reason = reason


class IdJag(NamedTuple):
    """A verified ID-JAG: who, through which client, for which scopes, until when."""

    issuer: str
    subject: str  # ours: ``ema|<issuer id>|<sub>`` (or ``ema|<sub>``)
    client_id: str
    scopes: tuple[str, ...] | None  # None: the IdP named none
    jti: str
    expires_at: float


@dataclass(frozen=True)
class SpentAssertion(Record):
    """``IDJAG#<sha256(json([iss, jti]))>``: an ID-JAG that earned a token, until it expires."""

    issuer: str


def spent_key(issuer: str, jti: str) -> Key:
    """The item of one (issuer, jti) pair: a jti is unique per issuer (RFC 7519 §4.1.7)."""
    pair = json.dumps([issuer, jti])  # ASCII: lone surrogates are escaped, not raised
    return {keys.PK: f"IDJAG#{keys.digest(pair)}", keys.SK: "IDJAG"}


def issuer_id(issuer: str) -> str:
    """A short, stable name for an issuer in our subjects: 16 hex digits of its SHA-256.

    Stable across reordering ``EMA_TRUSTED_ISSUERS``, free of ``|``, and the same for
    everyone who computes it (docs/identity-providers/enterprise.md shows how).
    """
    return hashlib.sha256(issuer.encode()).hexdigest()[:16]


def map_subject(settings: Settings, issuer: str, sub: str) -> str:
    """Our ``sub`` for the IdP's: never ``github|…`` or ``client|…``, never another IdP's."""
    if settings.ema_subject_mode == "subject":
        return f"ema|{sub}"
    return f"ema|{issuer_id(issuer)}|{sub}"


def granted_scopes(
    settings: Settings,
    grant: IdJag,
    registered: tuple[str, ...],
    requested: tuple[str, ...],
) -> tuple[str, ...]:
    """What the token may carry: within the ID-JAG's scope (all of the client's when the
    IdP named none), the client's registration and what we serve; the admin scope only
    for ``OAUTH_ADMIN_SUBJECTS``. A request beyond that is ``invalid_scope``."""
    allowed = tuple(s for s in registered if s in scopes.supported(settings))
    if grant.scopes is not None:
        allowed = tuple(s for s in allowed if s in grant.scopes)
    if grant.subject not in settings.admin_subjects:
        allowed = tuple(s for s in allowed if s != settings.scope_admin)
    if requested:
        return scopes.within(requested, allowed, what="this client under this enterprise grant")
    if not allowed:
        raise InvalidScope("the enterprise grant leaves no scope this client may use")
    return allowed


def _identifier(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if isinstance(value, str) and 0 < len(value) <= MAX_CLAIM_LENGTH and value.isprintable():
        return value
    return None


class EnterpriseGrant:
    """Verifies ID-JAGs for one deployment and spends their ``jti`` once.

    One per process: ``keys`` holds the IdPs' JWK Sets (shared cache), ``table`` the
    spent assertions (shared by every instance).
    """

    def __init__(
        self, settings: Settings, keys: IssuerKeys, table: Table, *, clock: Clock = time.time
    ) -> None:
        self._settings = settings
        self._keys = keys
        self._table = table
        self._clock = clock
        self.issuers = {
            issuer: TrustedIssuer(issuer, jwks_uri, frozenset())
            for issuer, jwks_uri in zip(
                settings.ema_trusted_issuers, settings.ema_jwks_uris, strict=True
            )
        }

    def verify(self, assertion: str, *, client_id: str, issuer: str, resource: str) -> IdJag:
        """The verified grant, or :class:`IdJagRejected` / :class:`ServerError`.

        ``issuer`` is our issuer (the base URL), ``resource`` our MCP endpoint URL.
        Nothing is written: :meth:`spend` does that once the token is signed.
        """
        claims, trusted = self._signed_claims(assertion)
        self._check_audience(claims, issuer)
        if claims.get("resource") != resource:
            raise IdJagRejected(
                "the assertion's resource must be this server's MCP endpoint URL",
                reason="bad_resource",
            )
        if claims.get("client_id") != client_id:
            raise IdJagRejected(
                "the assertion was issued to another client (client_id)",
                reason="client_mismatch",
            )
        expires_at = self._check_times(claims)
        jti = _identifier(claims, "jti")
        if jti is None:
            raise IdJagRejected(
                "the assertion must have a jti of at most 255 characters", reason="bad_jti"
            )
        sub = _identifier(claims, "sub")
        if sub is None:
            raise IdJagRejected(
                "the assertion must have a sub of at most 255 printable characters",
                reason="bad_sub",
            )
        return IdJag(
            trusted.issuer,
            map_subject(self._settings, trusted.issuer, sub),
            client_id,
            self._scopes(claims),
            jti,
            expires_at,
        )

    def spend(self, grant: IdJag) -> None:
        """Remember the assertion until it expires; :class:`IdJagRejected` if it was used.

        ``Table.put(new=True)`` writes only where no live item is, so of two uses of one
        assertion, in any two processes, exactly one wins. Storage failures propagate
        (a 503), never as a pass.
        """
        leeway = self._settings.leeway_seconds
        ttl = max(math.ceil(grant.expires_at + leeway - self._table.clock()) + 1, 1)
        try:
            self._table.put(
                spent_key(grant.issuer, grant.jti), SpentAssertion(grant.issuer), ttl=ttl, new=True
            )
        except Conflict:
            raise IdJagRejected("the assertion has been used already", reason="replayed") from None

    # -- the checks, in order ------------------------------------------------------------

    def _signed_claims(self, assertion: str) -> tuple[dict[str, Any], TrustedIssuer]:
        try:
            jws = parse_jws(
                assertion,
                algorithms=self._settings.algorithms,
                max_bytes=MAX_ASSERTION_BYTES,
                token_type=ID_JAG_TYPE,
            )
        except WrongTokenType:
            raise IdJagRejected(
                "the assertion's typ header must be oauth-id-jag+jwt", reason="bad_typ"
            ) from None
        except UnsupportedAlgorithm:
            raise IdJagRejected(
                "the assertion is not signed with an algorithm this server accepts",
                reason="bad_alg",
            ) from None
        except ForbiddenHeader:
            raise IdJagRejected(
                "the assertion has a JOSE header parameter we do not accept",
                reason="forbidden_header",
            ) from None
        except TokenError:
            raise IdJagRejected(
                "the assertion is not a signed JWT of at most 8 KB", reason="malformed"
            ) from None
        iss = jws.payload.get("iss")
        trusted = self.issuers.get(iss) if isinstance(iss, str) else None
        if trusted is None:
            raise IdJagRejected(
                "the assertion's issuer is not a trusted enterprise IdP", reason="bad_issuer"
            )
        try:
            self._keys.verify(jws, trusted)
        except VerifierUnavailable:
            raise ServerError(
                "the enterprise IdP's signing keys cannot be fetched now; try again",
                retry_after=KEYS_RETRY_AFTER,
            ) from None
        except TokenError:  # no key for the kid, none that fits the alg, or a bad signature
            raise IdJagRejected(
                "the assertion's signature does not verify with the IdP's keys",
                reason="bad_signature",
            ) from None
        return jws.payload, trusted

    @staticmethod
    def _check_audience(claims: Mapping[str, Any], issuer: str) -> None:
        """``aud`` is our issuer: the string, or a list of exactly it."""
        aud = claims.get("aud")
        if aud != issuer and aud != [issuer]:
            raise IdJagRejected(
                "the assertion's aud must be this authorization server's issuer",
                reason="bad_aud",
            )

    def _check_times(self, claims: Mapping[str, Any]) -> float:
        now, leeway = self._clock(), self._settings.leeway_seconds
        most = self._settings.ema_max_assertion_lifetime
        exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf")
        if not (
            is_numeric_date(exp) and is_numeric_date(iat) and (nbf is None or is_numeric_date(nbf))
        ):
            raise IdJagRejected(
                "the assertion must have numeric exp and iat (and nbf, if any)",
                reason="bad_times",
            )
        if now >= exp + leeway:
            raise IdJagRejected("the assertion has expired", reason="expired")
        if iat > now + leeway or (nbf is not None and nbf > now + leeway):
            raise IdJagRejected("the assertion is not valid yet", reason="not_yet_valid")
        if exp - iat > most or exp > now + most + leeway:
            raise IdJagRejected(f"the assertion may live at most {most} seconds", reason="too_long")
        return float(exp)

    @staticmethod
    def _scopes(claims: Mapping[str, Any]) -> tuple[str, ...] | None:
        raw = claims.get("scope")
        if raw is None:
            return None
        if not isinstance(raw, str):
            raise IdJagRejected(
                "the assertion's scope must be a space-separated string", reason="bad_scope"
            )
        return scopes.parse(raw)
