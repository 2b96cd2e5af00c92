"""Getting the bearer token out of a REQUEST authorizer event.

Only the ``Authorization`` header is read (RFC 6750 §2.1): a token in the
query string or body is never looked at. The scheme is case-insensitive, the
size limit is applied before anything else looks at the token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gistgate.tokens.errors import MalformedToken, MissingToken, NotBearer, TokenTooLarge

__all__ = ["extract_bearer"]

# RFC 6750 b64token, widened to any visible ASCII: no spaces, no control characters.
_TOKEN = re.compile(r"[\x21-\x7e]+")


def _authorization_values(event: Mapping[str, Any]) -> list[Any]:
    multi = event.get("multiValueHeaders") or {}
    values = [v for k, vs in multi.items() if k.lower() == "authorization" for v in (vs or [])]
    if values:
        return values
    headers = event.get("headers") or {}
    return [v for k, v in headers.items() if k.lower() == "authorization"]


def extract_bearer(event: Mapping[str, Any], max_bytes: int) -> str:
    """The bearer token, or a TokenError saying why there is none."""
    values = _authorization_values(event)
    if not values:
        raise MissingToken("no Authorization header")
    if len(values) > 1:
        raise NotBearer("several Authorization headers")
    value = values[0]
    if not isinstance(value, str):
        raise MalformedToken("Authorization header is not text")
    if len(value) > max_bytes + 16:
        raise TokenTooLarge(f"token over {max_bytes} bytes")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise NotBearer("Authorization scheme is not Bearer")
    token = token.strip()
    if not token:
        raise MissingToken("empty bearer token")
    if len(token) > max_bytes:
        raise TokenTooLarge(f"token over {max_bytes} bytes")
    if not _TOKEN.fullmatch(token):
        raise MalformedToken("bearer token has spaces or non-ASCII characters")
    return token
