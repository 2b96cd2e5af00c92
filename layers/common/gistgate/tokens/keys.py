"""JWK → verification key, with the algorithm bound to the key's type and curve.

Keys are built once, when a JWKS is loaded, as pyjwt/cryptography public-key
objects; verifying a token then costs only the signature check. A key is
usable for an ``alg`` only if its ``kty``/``crv`` fit that algorithm and, when
the JWK declares an ``alg``, that is the same one.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, get_default_algorithms
from jwt.exceptions import InvalidKeyError

from gistgate.tokens.errors import AmbiguousKey, UnknownKid, UnsupportedAlgorithm

__all__ = ["ALGORITHMS", "KeySet", "VerificationKey"]

# alg -> (kty, allowed curves or None)
ALG_KEY_TYPES: dict[str, tuple[str, frozenset[str] | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}
# Only the public members are passed on, so a JWKS that leaks private parts
# still yields public keys.
_PUBLIC_MEMBERS = {
    "RSA": ("kty", "n", "e"),
    "EC": ("kty", "crv", "x", "y"),
    "OKP": ("kty", "crv", "x"),
}
_LOADERS = {"RSA": RSAAlgorithm.from_jwk, "EC": ECAlgorithm.from_jwk, "OKP": OKPAlgorithm.from_jwk}
MIN_RSA_BITS = 2048

ALGORITHMS = get_default_algorithms()


class VerificationKey(NamedTuple):
    """One public key from a JWKS, ready for pyjwt's algorithm objects."""

    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    key: Any

    def fits(self, alg: str) -> bool:
        """Can this key verify ``alg``? (kty, curve and any declared alg must agree.)"""
        kty, curves = ALG_KEY_TYPES.get(alg, ("", None))
        if self.kty != kty or (curves is not None and self.crv not in curves):
            return False
        return self.alg is None or self.alg == alg


def load_jwk(jwk: Any) -> VerificationKey | None:
    """A usable signature key, or None for keys we ignore (oct, enc, malformed, weak)."""
    if not isinstance(jwk, dict):
        return None
    kty = jwk.get("kty")
    if kty not in _LOADERS:
        return None  # includes "oct": a shared secret never verifies our tokens
    if jwk.get("use", "sig") != "sig":
        return None
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    kid, alg, crv = jwk.get("kid"), jwk.get("alg"), jwk.get("crv")
    if (kid is not None and not isinstance(kid, str)) or (
        alg is not None and alg not in ALG_KEY_TYPES
    ):
        return None
    public = {name: jwk[name] for name in _PUBLIC_MEMBERS[kty] if name in jwk}
    try:
        key = _LOADERS[kty](public)
    except (InvalidKeyError, ValueError, TypeError, KeyError):
        return None
    if isinstance(key, RSAPublicKey | RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        return None
    return VerificationKey(kid, kty, crv if isinstance(crv, str) else None, alg, key)


class KeySet(NamedTuple):
    """An immutable, parsed JWKS."""

    keys: tuple[VerificationKey, ...]

    @classmethod
    def from_document(cls, document: Any) -> KeySet:
        """Parse a JWKS document; raise ValueError if it is not one."""
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("not a JWKS document")
        loaded = (load_jwk(jwk) for jwk in document["keys"])
        return cls(tuple(key for key in loaded if key is not None))

    def select(self, kid: str | None, alg: str) -> VerificationKey:
        """The one key for (kid, alg); UnknownKid or AmbiguousKey otherwise."""
        candidates = (
            [k for k in self.keys if k.kid == kid and k.fits(alg)]
            if kid
            else [k for k in self.keys if k.fits(alg)]
        )
        if len(candidates) == 1:
            return candidates[0]
        if not candidates and kid and any(k.kid == kid for k in self.keys):
            # The kid exists but its key cannot verify this alg (RSA key for ES256,
            # P-384 for ES256, declared alg differs): a forgery, not a rotation.
            raise UnsupportedAlgorithm("algorithm does not fit the key")
        if not candidates:
            raise UnknownKid("no key for this kid and algorithm")
        raise AmbiguousKey("several keys match this kid and algorithm")
