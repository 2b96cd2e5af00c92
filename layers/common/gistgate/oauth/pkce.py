"""PKCE (RFC 7636), S256 only: ``plain`` gives no protection once the request leaks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

__all__ = ["new_pair", "verify", "well_formed_challenge"]

_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")


def challenge_of(verifier: str) -> str:
    """BASE64URL(SHA256(verifier)), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_pair() -> tuple[str, str]:
    """A fresh (verifier, challenge) for our own upstream requests."""
    verifier = secrets.token_urlsafe(48)
    return verifier, challenge_of(verifier)


def well_formed_challenge(challenge: str) -> bool:
    """An S256 challenge is exactly 43 base64url characters."""
    return bool(_CHALLENGE.fullmatch(challenge))


def verify(verifier: str, challenge: str) -> bool:
    """True when ``verifier`` is well formed and hashes to ``challenge`` (constant time)."""
    if not _VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(challenge_of(verifier), challenge)
