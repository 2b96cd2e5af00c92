"""gistgate/oauth/signing.py against moto KMS (real boto3 calls), then end to end
through the authorizer Lambda, with the JWKS served over HTTP on loopback. The parts
that need no KMS are in tests/unit/oauth/test_signing.py."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key
from moto.core import DEFAULT_ACCOUNT_ID
from moto.kms.models import kms_backends

from gistgate.oauth import signing
from gistgate.oauth.signing import (
    RAW_MESSAGE_LIMIT,
    KmsSigner,
    SigningUnavailable,
    UnsupportedSigningKey,
)
from tests.fixtures.aws import REGION
from tests.fixtures.events import authorizer_event
from tests.fixtures.handlers import load_handler
from tests.fixtures.loopback import LoopbackIdP
from tests.fixtures.tokens import RESOURCE, claims

ISSUER = "https://gistgate.example"


def b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def new_key(aws: Any, spec: str = "ECC_NIST_P256", usage: str = "SIGN_VERIFY") -> str:
    return aws.client("kms").create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]


def kms_public_key(aws: Any, key_id: str) -> ec.EllipticCurvePublicKey:
    """The key's public half straight from KMS, without going through the signer."""
    der = aws.client("kms").get_public_key(KeyId=key_id)["PublicKey"]
    key = load_der_public_key(der)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def decode(token: str, jwk: dict[str, Any]) -> dict[str, Any]:
    return jwt.decode(
        token, jwt.PyJWK(jwk).key, algorithms=["ES256"], audience=RESOURCE, issuer=ISSUER
    )


@pytest.fixture
def kms_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every AWS call the signer makes; each still goes to moto through the real ``call``."""
    calls: list[tuple[str, dict[str, Any]]] = []
    real = signing.call

    def counting(service: str, operation: str, **params: Any) -> Any:
        calls.append((operation, params))
        return real(service, operation, **params)

    monkeypatch.setattr(signing, "call", counting)
    return calls


def test_token_verifies_with_the_published_jwk_and_has_a_compact_at_jwt_header(aws) -> None:
    signer = KmsSigner((aws.signing_key,))
    token = signer.sign(claims(ISSUER, sub="user-9"))
    (jwk,) = signer.public_jwks()["keys"]
    assert decode(token, jwk)["sub"] == "user-9"
    assert (jwk["use"], jwk["alg"], jwk["kid"]) == ("sig", "ES256", signer.kid)
    assert set(jwk) == {"kty", "crv", "x", "y", "kid", "use", "alg"}  # nothing private
    header = b64decode(token.split(".")[0])
    assert (
        header
        == json.dumps(
            {"alg": "ES256", "typ": "at+jwt", "kid": signer.kid}, separators=(",", ":")
        ).encode()
    )
    assert "=" not in token
    assert jwt.get_unverified_header(signer.sign({"sub": "x"}, typ="JWT"))["typ"] == "JWT"


def test_signature_is_64_raw_bytes_r_then_s(aws) -> None:
    signer = KmsSigner((aws.signing_key,))
    token = signer.sign(claims(ISSUER))
    signing_input, _, signature = token.rpartition(".")
    raw = b64decode(signature)
    assert len(raw) == 64  # R || S; the DER form is a SEQUENCE, usually 70-72 bytes
    # Re-encode R || S as DER and check it independently with cryptography.
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    kms_public_key(aws, aws.signing_key).verify(
        encode_dss_signature(r, s), signing_input.encode(), ec.ECDSA(hashes.SHA256())
    )


def test_kid_is_the_rfc7638_thumbprint_and_stable_across_instances(aws) -> None:
    numbers = kms_public_key(aws, aws.signing_key).public_numbers()

    def coordinate(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()

    x, y = coordinate(numbers.x), coordinate(numbers.y)
    canonical = f'{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}'
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=")

    first = KmsSigner((aws.signing_key,))
    arn = aws.client("kms").describe_key(KeyId=aws.signing_key)["KeyMetadata"]["Arn"]
    second = KmsSigner((arn,))  # another process, naming the same key by its ARN
    assert first.kid == expected.decode() == second.kid
    (jwk,) = first.public_jwks()["keys"]
    assert (jwk["x"], jwk["y"]) == (x, y)
    assert first.public_jwks() == second.public_jwks()


def test_with_a_next_key_both_are_published_and_only_the_current_one_signs(aws) -> None:
    next_key = new_key(aws)
    signer = KmsSigner((aws.signing_key, next_key))
    current_jwk, next_jwk = signer.public_jwks()["keys"]
    assert current_jwk["kid"] != next_jwk["kid"]
    assert current_jwk["kid"] == KmsSigner((aws.signing_key,)).kid
    assert next_jwk["kid"] == KmsSigner((next_key,)).kid
    token = signer.sign(claims(ISSUER))
    assert jwt.get_unverified_header(token)["kid"] == current_jwk["kid"]
    assert decode(token, current_jwk)["iss"] == ISSUER
    with pytest.raises(jwt.InvalidSignatureError):
        decode(token, next_jwk)


def test_the_same_key_named_twice_is_published_once(aws) -> None:
    arn = aws.client("kms").describe_key(KeyId=aws.signing_key)["KeyMetadata"]["Arn"]
    assert len(KmsSigner((aws.signing_key, arn)).public_jwks()["keys"]) == 1


def test_an_alias_moved_after_the_cold_start_does_not_change_the_signing_key(aws) -> None:
    kms = aws.client("kms")
    kms.create_alias(AliasName="alias/gistgate-signing", TargetKeyId=aws.signing_key)
    signer = KmsSigner(("alias/gistgate-signing",))
    (jwk,) = signer.public_jwks()["keys"]
    kms.update_alias(AliasName="alias/gistgate-signing", TargetKeyId=new_key(aws))
    token = signer.sign(claims(ISSUER))  # signs under the kid it published
    assert decode(token, jwk)["iss"] == ISSUER


def test_public_keys_are_fetched_once_per_key(aws, kms_calls) -> None:
    signer = KmsSigner((aws.signing_key, new_key(aws)))
    for _ in range(3):
        signer.public_jwks()
        signer.sign(claims(ISSUER))
    assert signer.kid
    operations = [operation for operation, _ in kms_calls]
    assert operations.count("get_public_key") == 2
    assert operations.count("sign") == 3


def test_small_inputs_go_raw_and_large_ones_as_their_sha256_digest(aws, kms_calls) -> None:
    signer = KmsSigner((aws.signing_key,))
    small = signer.sign(claims(ISSUER))
    large = signer.sign(claims(ISSUER, scope=" ".join(f"scope:{i}" for i in range(600))))
    (_, small_call), (_, large_call) = [c for c in kms_calls if c[0] == "sign"]
    assert small_call["MessageType"] == "RAW"
    assert small_call["Message"] == small.rpartition(".")[0].encode()
    large_input = large.rpartition(".")[0].encode()
    assert len(large_input) > RAW_MESSAGE_LIMIT
    assert large_call["MessageType"] == "DIGEST"
    assert large_call["Message"] == hashlib.sha256(large_input).digest()
    assert large_call["SigningAlgorithm"] == "ECDSA_SHA_256"
    # moto hashes a DIGEST again (getmoto/moto#10202), so only the shape is checked here.
    assert len(b64decode(large.rpartition(".")[2])) == 64


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("RSA_2048", "SIGN_VERIFY"),
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
        ("ECC_NIST_P384", "SIGN_VERIFY"),
        ("ECC_SECG_P256K1", "SIGN_VERIFY"),  # offers ECDSA_SHA_256, but not on P-256
    ],
)
def test_keys_that_cannot_sign_es256_are_refused(aws, kms_calls, spec: str, usage: str) -> None:
    signer = KmsSigner((new_key(aws, spec, usage),))
    with pytest.raises(UnsupportedSigningKey):
        signer.public_jwks()
    with pytest.raises(UnsupportedSigningKey):
        signer.sign(claims(ISSUER))
    assert all(operation == "get_public_key" for operation, _ in kms_calls)


def test_the_template_token_key_is_refused_too(aws) -> None:
    with pytest.raises(UnsupportedSigningKey):
        KmsSigner((aws.signing_key, aws.token_key)).public_jwks()


def test_a_missing_key_is_unavailable_and_the_error_names_only_operation_and_code(aws) -> None:
    missing = "11111111-2222-3333-4444-555555555555"
    with pytest.raises(SigningUnavailable) as caught:
        KmsSigner((missing,)).public_jwks()
    assert str(caught.value) == "kms GetPublicKey failed: NotFoundException"
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_a_sign_failure_does_not_leak_the_claims_or_the_signing_input(aws) -> None:
    key_id = new_key(aws)
    signer = KmsSigner((key_id,))
    signer.public_jwks()  # public half cached; then the key is deleted behind our back
    kms_backends[DEFAULT_ACCOUNT_ID][REGION].delete_key(key_id)
    with pytest.raises(SigningUnavailable) as caught:
        signer.sign(claims(ISSUER, sub="secret-subject"))
    assert str(caught.value) == "kms Sign failed: NotFoundException"


# ------------------------------------------------- end to end with the authorizer


@pytest.fixture
def published(aws) -> Iterator[tuple[KmsSigner, LoopbackIdP]]:
    """Our JWKS over HTTP on loopback; the base URL is the builtin issuer."""
    signer = KmsSigner((aws.signing_key, new_key(aws)))
    server = LoopbackIdP(signer.public_jwks())
    yield signer, server
    server.close()


def test_authorizer_accepts_kms_signed_tokens_and_refuses_a_flipped_signature(
    published, monkeypatch, decisions
) -> None:
    signer, server = published
    base = server.url
    app = load_handler(
        "authorizer",
        {
            "AUTH_MODE": "builtin",
            "PUBLIC_BASE_URL": base,
            "OAUTH_ISSUER": "",
            "OAUTH_JWKS_URI": "",
            "OAUTH_TOKEN_TYPE": "at+jwt",
            "OAUTH_ALGORITHMS": "ES256",
        },
        monkeypatch,
    )
    assert server.hits == {"/.well-known/jwks.json": 1}  # builtin mode: base + the JWKS path
    token = signer.sign(claims(base, aud=f"{base}/mcp", sub="user-7", client_id="client-7"))
    result = app.handler(authorizer_event(f"Bearer {token}"), None)
    assert result["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert result["context"]["sub"] == "user-7"
    assert result["context"]["client_id"] == "client-7"
    assert result["context"]["iss"] == base
    assert result["context"]["scope"] == "read:gists write:gists"

    head, _, signature = token.rpartition(".")
    raw = bytearray(b64decode(signature))
    raw[10] ^= 0x01
    flipped = f"{head}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        app.handler(authorizer_event(f"Bearer {flipped}"), None)

    wrong_type = signer.sign(claims(base, aud=f"{base}/mcp"), typ="JWT")
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        app.handler(authorizer_event(f"Bearer {wrong_type}"), None)
    assert decisions.reasons == ["ok", "bad_signature", "bad_type"]
    assert server.hits == {"/.well-known/jwks.json": 1}
