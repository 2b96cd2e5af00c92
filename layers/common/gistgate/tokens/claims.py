"""Claim checks with our own type checks.

pyjwt coerces a numeric string ``exp`` with ``int()`` and accepts tokens
without ``exp``. Here every time claim must be a real, finite JSON number,
``exp`` is required, and ``iss``/``aud`` must match exactly.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any, TypeGuard

from gistgate.tokens.errors import (
    BadAudience,
    BadIssuer,
    InvalidClaim,
    NotYetValid,
    TokenExpired,
)
from gistgate.tokens.presets import IdpPreset

__all__ = [
    "check_audience",
    "check_issuer",
    "check_required_values",
    "check_times",
    "first_string",
    "is_numeric_date",
    "scopes_from",
]


def is_numeric_date(value: Any) -> TypeGuard[float]:
    """A JSON NumericDate: an int of sane size or a finite float, not a bool or a string
    (a 400-digit int would overflow float arithmetic)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) < 2**53
    return isinstance(value, float) and math.isfinite(value)


def numeric_date(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    """A NumericDate claim: int or float, finite, not a bool or a string."""
    value = claims.get(name)
    if value is None:
        if required or name in claims:
            raise InvalidClaim(f"{name} is required" if required else f"{name} is null")
        return None
    if not is_numeric_date(value):
        raise InvalidClaim(f"{name} is not a number")
    return float(value)


def check_times(claims: Mapping[str, Any], now: float, leeway: float, *, require_exp: bool) -> int:
    """exp (past + leeway), nbf and iat (future - leeway). Returns exp (0 if absent)."""
    exp = numeric_date(claims, "exp", required=require_exp)
    if exp is not None and exp + leeway <= now:
        raise TokenExpired("token expired")
    for name in ("nbf", "iat"):
        value = numeric_date(claims, name, required=False)
        if value is not None and value - leeway > now:
            raise NotYetValid(f"{name} is in the future")
    return int(exp) if exp is not None else 0


def check_issuer(claims: Mapping[str, Any], trusted: Collection[str]) -> str:
    """The exact ``iss`` if it is one we trust."""
    iss = claims.get("iss")
    if not isinstance(iss, str):
        raise InvalidClaim("iss is required")
    if iss not in trusted:
        raise BadIssuer("issuer not trusted")
    return iss


def check_audience(claims: Mapping[str, Any], claim: str, accepted: Collection[str]) -> None:
    """``aud`` (or the preset's claim) is a string or a list of strings that names us."""
    value = claims.get(claim)
    if isinstance(value, str):
        values: list[Any] = [value]
    elif isinstance(value, list) and value:
        values = value
    else:
        raise InvalidClaim(f"{claim} is required")
    if not all(isinstance(v, str) for v in values):
        raise InvalidClaim(f"{claim} must hold strings")
    if not any(v in accepted for v in values):
        raise BadAudience("token is not for this resource")


def scopes_from(claims: Mapping[str, Any], preset: IdpPreset) -> tuple[str, ...]:
    """Scopes from ``scope`` (a string) or ``scp``/``permissions``/``roles`` (string or list)."""
    found: list[str] = []
    for name in preset.scope_claims:
        value = claims.get(name)
        if value is None:
            continue
        if isinstance(value, str):
            found.extend(value.split())
        elif isinstance(value, list) and all(
            isinstance(v, str) and v and " " not in v for v in value
        ):
            found.extend(value)
        else:
            raise InvalidClaim(f"{name} has the wrong type")
    return tuple(dict.fromkeys(found))


def first_string(claims: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    """The first of ``names`` present as a non-empty string; a wrong type is an error."""
    for name in names:
        value = claims.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise InvalidClaim(f"{name} must be a string")
        return value
    return None


def check_required_values(claims: Mapping[str, Any], preset: IdpPreset) -> None:
    """Claims the preset pins to one value (Cognito ``token_use=access``)."""
    for name, expected in preset.required_values:
        if claims.get(name) != expected:
            raise InvalidClaim(f"{name} must be {expected}")
