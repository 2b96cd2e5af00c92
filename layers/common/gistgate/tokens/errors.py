"""Typed token errors. Each class maps to exactly one outcome at the gateway.

* :class:`TokenError` and its subclasses: 401 ``invalid_token`` (the authorizer
  raises ``Unauthorized``).
* :class:`InsufficientScope`: 403 ``insufficient_scope`` (the authorizer returns a Deny).
* :class:`VerifierUnavailable`: the key or introspection service cannot be
  reached and nothing usable is cached, so we fail closed with
  AUTHORIZER_CONFIGURATION_ERROR (installed as a 503 carrying the challenge), never Allow.

``reason`` is the short code that goes into logs and metrics. Messages never
contain the token or any part of it.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousKey",
    "BadAudience",
    "BadIssuer",
    "BadSignature",
    "ForbiddenHeader",
    "InactiveToken",
    "InsufficientScope",
    "InvalidClaim",
    "MalformedToken",
    "MissingToken",
    "NotBearer",
    "NotYetValid",
    "TokenError",
    "TokenExpired",
    "TokenTooLarge",
    "UnknownKid",
    "UnsupportedAlgorithm",
    "VerifierUnavailable",
    "WrongTokenType",
]


class AuthError(Exception):
    """Base of every authorization failure."""

    reason = "invalid_token"
    status = 401

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.reason)


class TokenError(AuthError):
    """The token is missing, malformed, unverifiable or not for us: 401."""


class MissingToken(TokenError):
    reason = "missing_token"


class NotBearer(TokenError):
    """An Authorization header with another scheme (Basic…), or several of them."""

    reason = "not_bearer"


class TokenTooLarge(TokenError):
    reason = "too_large"


class MalformedToken(TokenError):
    reason = "malformed"


class UnsupportedAlgorithm(TokenError):
    reason = "bad_algorithm"


class ForbiddenHeader(TokenError):
    """The JOSE header names a key or an extension we never honour (jwk, jku, x5u, crit…)."""

    reason = "forbidden_header"


class WrongTokenType(TokenError):
    reason = "bad_type"


class UnknownKid(TokenError):
    reason = "unknown_kid"


class AmbiguousKey(TokenError):
    reason = "ambiguous_key"


class BadSignature(TokenError):
    reason = "bad_signature"


class TokenExpired(TokenError):
    reason = "expired"


class NotYetValid(TokenError):
    reason = "not_yet_valid"


class BadIssuer(TokenError):
    reason = "bad_issuer"


class BadAudience(TokenError):
    reason = "bad_audience"


class InvalidClaim(TokenError):
    """A claim is missing or has the wrong type or value; the message names the claim."""

    reason = "invalid_claim"


class InactiveToken(TokenError):
    reason = "inactive"


class InsufficientScope(AuthError):
    """The token is valid but lacks scopes the API requires: 403."""

    reason = "insufficient_scope"
    status = 403

    def __init__(self, required: tuple[str, ...], held: tuple[str, ...]) -> None:
        super().__init__(f"requires scopes {' '.join(required)}")
        self.required = required
        self.held = held


class VerifierUnavailable(AuthError):
    """Keys or introspection could not be obtained and nothing usable is cached."""

    reason = "verifier_unavailable"
    status = 503
