"""Strict parsing of a compact JWS before any key is looked up.

pyjwt verifies signatures well, but it is lenient about what surrounds them:
duplicate JSON keys, header parameters that name a key (``jwk``, ``jku``,
``x5u``, ``x5c``), ``crit`` extensions and ``b64: false``. This module rejects
all of those, with size limits applied before any decoding, so the key
lookup and the signature check only ever see a well-formed token.
"""

from __future__ import annotations

import binascii
import json
import re
from typing import Any, NamedTuple

from gistgate.tokens.errors import (
    ForbiddenHeader,
    MalformedToken,
    TokenTooLarge,
    UnsupportedAlgorithm,
    WrongTokenType,
)

__all__ = ["ParsedJws", "looks_like_jwt", "parse_jws"]

_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_KID = re.compile(r"[\x21-\x7e]{1,256}")
# Header parameters that would let the token choose its own key, or that change
# how the signature is computed. We support none of them, so we refuse them all.
FORBIDDEN_HEADER_PARAMS = frozenset({"jwk", "jku", "x5u", "x5c", "crit", "b64"})


class ParsedJws(NamedTuple):
    """A structurally valid JWS: decoded header and payload, and what to verify."""

    header: dict[str, Any]
    payload: dict[str, Any]
    alg: str
    kid: str | None
    signing_input: bytes
    signature: bytes


def looks_like_jwt(token: str) -> bool:
    """Three dot-separated segments: a JWT, as opposed to an opaque token."""
    return token.count(".") == 2


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise MalformedToken("duplicate JSON member")
    return result


def _reject_constant(name: str) -> Any:
    raise MalformedToken(f"non-finite number {name}")


_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")  # bytes.translate is C; str.translate is not


def b64url_decode(segment: str) -> bytes:
    """Decode one unpadded base64url segment (its alphabet already checked by ``_SEGMENT``).

    binascii directly: ``base64.urlsafe_b64decode`` adds two type-conversion
    passes per call, and this runs three times per token.
    """
    try:
        padded = (segment + "=" * (-len(segment) % 4)).encode("ascii")
        return binascii.a2b_base64(padded.translate(_FROM_URLSAFE))
    except (binascii.Error, ValueError):  # UnicodeEncodeError is a ValueError
        raise MalformedToken("bad base64url") from None


# One decoder, built once: json.loads() with hooks would build a new one per call.
_STRICT_JSON = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)


def strict_json_object(raw: bytes, what: str) -> dict[str, Any]:
    """A JSON object with unique member names and no NaN/Infinity."""
    try:
        value = _STRICT_JSON.decode(raw.decode("utf-8"))
    except MalformedToken:
        raise
    except (ValueError, RecursionError):  # includes UnicodeDecodeError
        raise MalformedToken(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise MalformedToken(f"{what} is not a JSON object")
    return value


def _normalise_typ(value: str) -> str:
    value = value.lower()
    return value[len("application/") :] if value.startswith("application/") else value


def parse_jws(
    token: str,
    *,
    algorithms: tuple[str, ...],
    max_bytes: int,
    token_type: str | None = None,
) -> ParsedJws:
    """Parse and check the parts of ``token`` that do not need a key."""
    if len(token) > max_bytes:
        raise TokenTooLarge(f"token over {max_bytes} bytes")
    parts = token.split(".")
    if len(parts) != 3 or not _SEGMENT.fullmatch(parts[0]):
        raise MalformedToken("not a compact JWS")
    # The header first, so an `alg: none` token is logged as what it is.
    header = strict_json_object(b64url_decode(parts[0]), "header")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise UnsupportedAlgorithm("algorithm not allowed")
    forbidden = FORBIDDEN_HEADER_PARAMS.intersection(header)
    if forbidden:
        raise ForbiddenHeader(f"header parameter {sorted(forbidden)[0]} is not accepted")
    if token_type is not None:
        typ = header.get("typ")
        if not isinstance(typ, str) or _normalise_typ(typ) != _normalise_typ(token_type):
            raise WrongTokenType(f"typ must be {token_type}")
    kid = header.get("kid")
    if kid is not None and not (isinstance(kid, str) and _KID.fullmatch(kid)):
        raise MalformedToken("kid is not a short printable string")
    if not (_SEGMENT.fullmatch(parts[1]) and _SEGMENT.fullmatch(parts[2])):
        raise MalformedToken("payload or signature is not base64url")
    payload = strict_json_object(b64url_decode(parts[1]), "payload")
    signature = b64url_decode(parts[2])
    return ParsedJws(
        header=header,
        payload=payload,
        alg=alg,
        kid=kid,
        signing_input=f"{parts[0]}.{parts[1]}".encode("ascii"),
        signature=signature,
    )
