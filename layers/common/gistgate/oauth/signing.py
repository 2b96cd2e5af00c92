"""ES256 access tokens signed by a KMS asymmetric key, and the JWKS that verifies them.

Why KMS: the private key is generated inside KMS and never leaves it. We only
ask KMS to sign, and publish the public half (``kms:GetPublicKey``) as a JWK,
so no function, log or environment ever holds anything that can mint tokens.

* ``kid`` is the key's RFC 7638 JWK thumbprint: derived from the key itself,
  so it is the same in every process and for every alias of the key.
* Rotation: ``key_ids`` is ``(current, next)``. Both are published, so
  verifiers already hold the next key when it starts signing; only the current
  one signs.
* Public keys never change for a key, so each is fetched once per signer: one
  ``GetPublicKey`` per key per cold start with a module-level signer.
* KMS returns an ECDSA signature DER-encoded (an ASN.1 SEQUENCE of r and s);
  a JWS carries the fixed-length ``R || S`` octets of RFC 7518 §3.4 (32 + 32
  bytes for P-256), so the signature is re-encoded.
* MessageType: ``RAW`` messages are capped at 4096 bytes, so a larger signing
  input is sent as ``DIGEST`` (its SHA-256, computed here). For
  ``ECDSA_SHA_256`` both yield a signature over the same SHA-256 hash. Small
  inputs (nearly every token) still go ``RAW`` because moto, which backs the
  tests and ``make dev``, ignores MessageType and would hash a DIGEST again
  (getmoto/moto#10202), making locally minted tokens unverifiable.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Mapping
from typing import Any, NamedTuple

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key

from gistgate.core.observability import log_with_metric
from gistgate.core.tracing import annotate, span
from gistgate.storage.aws import AwsCallFailed, call

__all__ = [
    "RAW_MESSAGE_LIMIT",
    "KmsSigner",
    "SigningUnavailable",
    "UnsupportedSigningKey",
    "der_to_raw",
]

ALG = "ES256"
KEY_SPEC = "ECC_NIST_P256"
KMS_SIGNING_ALGORITHM = "ECDSA_SHA_256"
RAW_MESSAGE_LIMIT = 4096  # kms:Sign's cap on a RAW Message
COORDINATE_BYTES = 32  # P-256: x, y, r and s are each 32 bytes
MAX_KEYS = 2  # current and next
# GetPublicKey's answers for keys that can never sign: symmetric, HMAC, ENCRYPT_DECRYPT.
_UNSUPPORTED_CODES = frozenset({"UnsupportedOperationException", "InvalidKeyUsageException"})


class SigningUnavailable(Exception):
    """A KMS call failed or answered with nothing usable.

    The message names only the operation and AWS's error code: never key
    material, the token or its claims.
    """


class UnsupportedSigningKey(Exception):
    """The KMS key cannot sign ES256: not an ECC_NIST_P256 key with ECDSA_SHA_256."""


class PublicSigningKey(NamedTuple):
    """One KMS key's public half, as published."""

    key_id: str  # what kms:Sign is called with (the key's ARN as GetPublicKey named it)
    kid: str
    jwk: dict[str, str]


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(value: Mapping[str, Any]) -> str:
    # Compact JSON; NaN/Infinity are refused here rather than minted into a token
    # our own validator would reject.
    return b64url(json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8"))


def jwk_thumbprint(jwk: Mapping[str, str]) -> str:
    """The RFC 7638 thumbprint of an EC public JWK: base64url SHA-256 of the
    required members (crv, kty, x, y) as JSON, in lexicographic order, no whitespace."""
    if jwk.get("kty") != "EC":
        raise ValueError("only EC keys are supported")
    required = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def public_jwk(der: bytes) -> dict[str, str]:
    """The public JWK (kty, crv, x, y, kid, use, alg) of a DER SubjectPublicKeyInfo."""
    try:
        key = load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):
        raise UnsupportedSigningKey("the public key is not a readable EC P-256 key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise UnsupportedSigningKey("the public key is not an EC P-256 key")
    numbers = key.public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(COORDINATE_BYTES, "big")),
        "y": b64url(numbers.y.to_bytes(COORDINATE_BYTES, "big")),
    }
    return {**jwk, "kid": jwk_thumbprint(jwk), "use": "sig", "alg": ALG}


def der_to_raw(der: bytes) -> bytes:
    """An ECDSA P-256 signature, DER → the 64-byte ``R || S`` of RFC 7518 §3.4."""
    r, s = decode_dss_signature(der)
    return r.to_bytes(COORDINATE_BYTES, "big") + s.to_bytes(COORDINATE_BYTES, "big")


class KmsSigner:
    """Signs JWTs with the current KMS key; publishes the current and next keys.

    Thread-safe. Build one per execution environment and reuse it: that is
    what makes the public-key cache a per-cold-start cache.
    """

    def __init__(self, key_ids: tuple[str, ...]) -> None:
        if isinstance(key_ids, str):
            raise TypeError("key_ids is a tuple of key ids, not one string")
        ids = tuple(key_ids)
        if not 1 <= len(ids) <= MAX_KEYS or not all(isinstance(k, str) and k for k in ids):
            raise ValueError("key_ids must be one or two non-empty KMS key ids (current, next)")
        self.key_ids = ids
        self._keys: dict[str, PublicSigningKey] = {}
        self._lock = threading.Lock()

    def _key(self, key_id: str) -> PublicSigningKey:
        found = self._keys.get(key_id)
        if found is not None:
            return found
        with self._lock:  # concurrent first uses make one call, not several
            found = self._keys.get(key_id)
            if found is None:
                found = self._keys[key_id] = _fetch_public_key(key_id)
        return found

    @property
    def kid(self) -> str:
        """The ``kid`` of the current (signing) key."""
        return self._key(self.key_ids[0]).kid

    def public_jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWKS to publish: current key first, then the next one (if any).

        Two ids naming the same key (an alias and its ARN) yield one entry: a
        repeated kid would make verifiers refuse the token as ambiguous.
        """
        keys: dict[str, dict[str, str]] = {}
        for key_id in self.key_ids:
            key = self._key(key_id)
            keys.setdefault(key.kid, dict(key.jwk))
        return {"keys": list(keys.values())}

    def sign(self, claims: Mapping[str, Any], *, typ: str = "at+jwt") -> str:
        """A compact ES256 JWS of ``claims``, signed by the current key."""
        if not isinstance(typ, str) or not typ:
            raise ValueError("typ must be a non-empty string")
        try:
            with span("## kms sign"):
                key = self._key(self.key_ids[0])
                header = {"alg": ALG, "typ": typ, "kid": key.kid}
                signing_input = f"{_segment(header)}.{_segment(claims)}".encode("ascii")
                signature = _kms_sign(key.key_id, signing_input)
        except (SigningUnavailable, UnsupportedSigningKey) as exc:
            _count_failure(exc)
            raise
        return f"{signing_input.decode('ascii')}.{b64url(signature)}"


def _fetch_public_key(key_id: str) -> PublicSigningKey:
    try:
        answer = call("kms", "get_public_key", KeyId=key_id)
    except AwsCallFailed as exc:
        if exc.code in _UNSUPPORTED_CODES:
            raise UnsupportedSigningKey(f"kms GetPublicKey refused the key: {exc.code}") from None
        raise SigningUnavailable(f"kms GetPublicKey failed: {exc.code}") from None
    # KeySpec is the current name; moto (and old responses) only send CustomerMasterKeySpec.
    spec = answer.get("KeySpec") or answer.get("CustomerMasterKeySpec")
    if spec != KEY_SPEC:
        raise UnsupportedSigningKey(f"the key spec is {spec!r}, not {KEY_SPEC}")
    if answer.get("KeyUsage", "SIGN_VERIFY") != "SIGN_VERIFY":
        raise UnsupportedSigningKey("the key is not a SIGN_VERIFY key")
    if KMS_SIGNING_ALGORITHM not in (answer.get("SigningAlgorithms") or ()):
        raise UnsupportedSigningKey(f"the key does not offer {KMS_SIGNING_ALGORITHM}")
    der = answer.get("PublicKey")
    if not isinstance(der, bytes):
        raise SigningUnavailable("kms GetPublicKey returned no public key")
    jwk = public_jwk(der)
    # Sign with the key GetPublicKey described (its ARN), not the configured
    # name: an alias moved later must not sign under the kid published now.
    resolved = answer.get("KeyId")
    return PublicSigningKey(
        resolved if isinstance(resolved, str) and resolved else key_id, jwk["kid"], jwk
    )


def _count_failure(exc: Exception) -> None:
    """The KmsSignFailures metric (template.yaml's KmsSignFailuresAlarm), in its log line.

    The message names only the KMS operation and AWS's error code (see SigningUnavailable).
    """
    log_with_metric(
        "kms sign failed",
        {"error": type(exc).__name__, "detail": str(exc)},
        "KmsSignFailures",
        warning=True,
    )


def _kms_sign(key_id: str, signing_input: bytes) -> bytes:
    if len(signing_input) <= RAW_MESSAGE_LIMIT:
        message, message_type = signing_input, "RAW"
    else:
        message, message_type = hashlib.sha256(signing_input).digest(), "DIGEST"
    annotate(alg=ALG, message_type=message_type)
    try:
        answer = call(
            "kms",
            "sign",
            KeyId=key_id,
            Message=message,
            MessageType=message_type,
            SigningAlgorithm=KMS_SIGNING_ALGORITHM,
        )
    except AwsCallFailed as exc:
        raise SigningUnavailable(f"kms Sign failed: {exc.code}") from None
    der = answer.get("Signature")
    try:
        if not isinstance(der, bytes):
            raise ValueError("no signature")
        return der_to_raw(der)
    except (ValueError, OverflowError):
        raise SigningUnavailable("kms Sign returned a malformed signature") from None
