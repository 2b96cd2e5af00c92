"""gistgate/oauth/client_assertion.py without a network: private_key_jwt assertions
(RFC 7523 §3, RFC 7521 §4.2) checked against inline JWK Sets, with an in-memory jti
store and a clock the tests move. The DynamoDB jti store is
tests/component/oauth/test_client_assertion_store.py; keys from a jwks_uri served on
127.0.0.1 are tests/component/oauth/test_client_keys_fetch.py."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt import PyJWS
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from gistgate.oauth.client_assertion import (
    CLIENT_ASSERTION_TYPE,
    AssertionRejected,
    ClientAssertionVerifier,
    VerifiedAssertion,
    jti_key,
    peek_client_id,
)
from gistgate.oauth.client_keys import ClientKeyResolver
from gistgate.oauth.errors import InvalidClient
from gistgate.oauth.untrusted_fetch import Fetched, UntrustedFetchError
from gistgate.storage.errors import StorageUnavailable
from tests.fixtures.clock import T0, FakeClock
from tests.fixtures.tokens import b64, segment

CLIENT = "https://chatgpt.example.com/oauth/client.json"
TOKEN_ENDPOINT = "https://as.example.com/oauth/token"
ISSUER = "https://as.example.com"
AUDIENCES = (TOKEN_ENDPOINT, ISSUER)
NOW = int(T0)
# RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
CHARSET = re.compile(r"^[\x20\x21\x23-\x5b\x5d-\x7e]+$")


class Key:
    """A private key, its kid and its public JWK (with no ``alg``, unless declared)."""

    def __init__(self, private: Any, kid: str | None, alg: str | None = None) -> None:
        self.private = private
        self.kid = kid
        public = private.public_key()
        to_jwk = RSAAlgorithm.to_jwk if isinstance(public, rsa.RSAPublicKey) else ECAlgorithm.to_jwk
        self.jwk: dict[str, Any] = to_jwk(public, as_dict=True)
        if kid is not None:
            self.jwk["kid"] = kid
        if alg is not None:
            self.jwk["alg"] = alg


@pytest.fixture(scope="module")
def rsa_key() -> Key:
    return Key(rsa.generate_private_key(public_exponent=65537, key_size=2048), "rsa-1")


@pytest.fixture(scope="module")
def ec_key() -> Key:
    return Key(ec.generate_private_key(ec.SECP256R1()), "ec-1")


@pytest.fixture(scope="module")
def impostor() -> Key:
    """Another RSA key under the same kid: published nowhere."""
    return Key(rsa.generate_private_key(public_exponent=65537, key_size=2048), "rsa-1")


@pytest.fixture
def jwks(rsa_key: Key, ec_key: Key) -> dict[str, Any]:
    return {"keys": [rsa_key.jwk, ec_key.jwk]}


class FakeJtiStore:
    """The JtiStore protocol in memory: what the table does, minus the table."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.seen: dict[tuple[str, str], float] = {}
        self.calls: list[tuple[str, str, float]] = []
        self.failure: Exception | None = None

    def use_once(self, client_id: str, jti: str, *, until: float) -> bool:
        self.calls.append((client_id, jti, until))
        if self.failure is not None:
            raise self.failure
        if self.seen.get((client_id, jti), float("-inf")) > self.clock():
            return False
        self.seen[(client_id, jti)] = until
        return True


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> FakeJtiStore:
    return FakeJtiStore(clock)


def no_fetch(url: str) -> Fetched:
    raise AssertionError("inline jwks: nothing is fetched")


@pytest.fixture
def verifier(store: FakeJtiStore, clock: FakeClock) -> ClientAssertionVerifier:
    return ClientAssertionVerifier(
        ClientKeyResolver(fetch=no_fetch, clock=clock), store, clock=clock
    )


def claims(**overrides: Any) -> dict[str, Any]:
    """A valid claim set; ``None`` drops a claim."""
    base: dict[str, Any] = {
        "iss": CLIENT,
        "sub": CLIENT,
        "aud": TOKEN_ENDPOINT,
        "iat": NOW,
        "exp": NOW + 60,
        "jti": uuid.uuid4().hex,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(
    key: Key, alg: str = "RS256", *, headers: dict[str, Any] | None = None, **overrides: Any
) -> str:
    """Signed as given: PyJWS, since jwt.encode refuses some of the bad claims tested here."""
    header = {"kid": key.kid, **(headers or {})}
    body = json.dumps(claims(**overrides)).encode()
    return PyJWS().encode(
        body, key.private, algorithm=alg, headers={k: v for k, v in header.items() if v is not None}
    )


def verify(
    verifier: ClientAssertionVerifier, assertion: str, jwks: dict[str, Any], **kw: Any
) -> VerifiedAssertion:
    args: dict[str, Any] = {"client_id": CLIENT, "audiences": AUDIENCES, "jwks": jwks}
    args.update(kw)
    return verifier.verify(CLIENT_ASSERTION_TYPE, assertion, **args)


def rejected(
    verifier: ClientAssertionVerifier, assertion: str, jwks: dict[str, Any], **kw: Any
) -> str:
    """The reason the assertion is refused; the description must be safe to show."""
    with pytest.raises(AssertionRejected) as info:
        verify(verifier, assertion, jwks, **kw)
    assert isinstance(info.value, InvalidClient)
    assert info.value.status == 401
    assert info.value.error == "invalid_client"
    assert CHARSET.fullmatch(info.value.description)
    return info.value.reason


# --- valid assertions -------------------------------------------------------------------


@pytest.mark.parametrize(("alg", "which"), [("RS256", "rsa"), ("PS256", "rsa"), ("ES256", "ec")])
def test_a_valid_assertion_authenticates_the_client(
    verifier, store, jwks, rsa_key, ec_key, alg, which
):
    key = rsa_key if which == "rsa" else ec_key
    assertion = sign(key, alg, jti="jti-1")

    assert peek_client_id(CLIENT_ASSERTION_TYPE, assertion) == CLIENT
    result = verify(verifier, assertion, jwks)

    assert result == VerifiedAssertion(CLIENT, alg, key.kid, "jti-1", float(NOW + 60))
    assert store.calls == [(CLIENT, "jti-1", NOW + 60 + 30)]  # remembered past exp + leeway


@pytest.mark.parametrize("aud", [ISSUER, [ISSUER], ["https://elsewhere.example", TOKEN_ENDPOINT]])
def test_aud_may_be_the_issuer_or_an_array_naming_us(verifier, jwks, rsa_key, aud):
    assert verify(verifier, sign(rsa_key, aud=aud), jwks).client_id == CLIENT


def test_the_registered_signing_alg_is_accepted(verifier, jwks, rsa_key):
    assert verify(verifier, sign(rsa_key, "PS256"), jwks, signing_alg="PS256").alg == "PS256"


def test_without_a_kid_the_only_fitting_key_verifies(verifier, rsa_key, ec_key):
    alone = {"keys": [rsa_key.jwk]}
    assert verify(verifier, sign(rsa_key, headers={"kid": None}), alone).kid is None
    # RSA and EC side by side: only one fits ES256
    both = {"keys": [rsa_key.jwk, ec_key.jwk]}
    assert verify(verifier, sign(ec_key, "ES256", headers={"kid": None}), both).alg == "ES256"


def test_nbf_and_iat_within_the_leeway_are_fine(verifier, jwks, rsa_key):
    assert verify(verifier, sign(rsa_key, nbf=NOW + 29, iat=NOW + 29), jwks)


def test_iat_is_optional(verifier, jwks, rsa_key):
    assert verify(verifier, sign(rsa_key, iat=None), jwks)


# --- the signature and the key ----------------------------------------------------------


def test_an_assertion_signed_by_another_key_is_refused(verifier, store, jwks, impostor):
    assert rejected(verifier, sign(impostor), jwks) == "bad_signature"
    assert store.calls == []  # a forged assertion spends no jti


def test_a_tampered_payload_is_refused(verifier, jwks, rsa_key):
    header, _, signature = sign(rsa_key).split(".")
    forged = segment(claims(iss=CLIENT, sub=CLIENT, jti="forged"))

    assert rejected(verifier, f"{header}.{forged}.{signature}", jwks) == "bad_signature"


def test_a_tampered_signature_is_refused(verifier, jwks, rsa_key):
    header, payload, signature = sign(rsa_key).split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]

    assert rejected(verifier, f"{header}.{payload}.{flipped}", jwks) == "bad_signature"


def test_hs256_with_the_public_key_as_the_secret_is_refused(verifier, jwks, rsa_key):
    """The classic key-confusion forgery: HMAC keyed with the published public key."""
    pem = rsa_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{segment({'alg': 'HS256', 'kid': 'rsa-1'})}.{segment(claims())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64(mac)}"

    assert rejected(verifier, forged, jwks) == "bad_alg"
    with pytest.raises(AssertionRejected):
        peek_client_id(CLIENT_ASSERTION_TYPE, forged)


@pytest.mark.parametrize("signature", ["", "c2ln"])
def test_alg_none_is_refused(verifier, jwks, signature):
    unsigned = f"{segment({'alg': 'none'})}.{segment(claims())}.{signature}"

    assert rejected(verifier, unsigned, jwks) in ("bad_alg", "malformed")


@pytest.mark.parametrize("alg", ["RS384", "ES384", "HS256", "EdDSA"])
def test_only_rs256_ps256_es256_are_allowed(verifier, jwks, alg):
    token = f"{segment({'alg': alg, 'kid': 'rsa-1'})}.{segment(claims())}.c2ln"

    assert rejected(verifier, token, jwks) == "bad_alg"


def test_an_alg_other_than_the_registered_one_is_refused(verifier, jwks, rsa_key):
    assert rejected(verifier, sign(rsa_key, "RS256"), jwks, signing_alg="PS256") == "alg_mismatch"


def test_a_key_declared_for_one_alg_does_not_verify_another(verifier, rsa_key):
    declared = {"keys": [{**rsa_key.jwk, "alg": "RS256"}]}

    assert rejected(verifier, sign(rsa_key, "PS256"), declared) == "key_alg_mismatch"


def test_an_ec_key_does_not_verify_rs256(verifier, jwks, ec_key, rsa_key):
    assert rejected(verifier, sign(rsa_key, headers={"kid": "ec-1"}), jwks) == "key_alg_mismatch"


def test_an_unknown_kid_is_refused(verifier, jwks, rsa_key):
    assert rejected(verifier, sign(rsa_key, headers={"kid": "rotated-away"}), jwks) == "unknown_kid"


def test_without_a_kid_several_fitting_keys_are_ambiguous(verifier, rsa_key, impostor):
    two_rsa = {"keys": [{**rsa_key.jwk, "kid": "a"}, {**impostor.jwk, "kid": "b"}]}

    assert rejected(verifier, sign(rsa_key, headers={"kid": None}), two_rsa) == "kid_required"


def test_a_jwk_header_naming_its_own_key_is_refused(verifier, jwks, impostor):
    """The assertion must not choose its key: jwk/jku/x5u/x5c in the header are refused."""
    assertion = sign(impostor, headers={"jwk": impostor.jwk})

    assert rejected(verifier, assertion, jwks) == "forbidden_header"


def test_keys_the_jwks_uri_cannot_deliver_are_invalid_client(store, clock, rsa_key):
    def unreachable(url: str) -> Fetched:
        raise UntrustedFetchError("timeout", "The client's JWK Set took too long to fetch.")

    verifier = ClientAssertionVerifier(
        ClientKeyResolver(fetch=unreachable, clock=clock), store, clock=clock
    )
    with pytest.raises(AssertionRejected) as info:
        verifier.verify(
            CLIENT_ASSERTION_TYPE,
            sign(rsa_key),
            client_id=CLIENT,
            audiences=AUDIENCES,
            jwks_uri="https://chatgpt.example.com/jwks.json",
        )

    assert info.value.reason == "keys_unavailable"
    assert info.value.description == "the client's jwks_uri could not be fetched"
    assert store.calls == []


def test_a_client_without_registered_keys_is_refused(verifier, rsa_key):
    with pytest.raises(AssertionRejected) as info:
        verifier.verify(CLIENT_ASSERTION_TYPE, sign(rsa_key), client_id=CLIENT, audiences=AUDIENCES)

    assert info.value.reason == "no_keys"
    assert info.value.description == "the client has no usable registered keys"


def test_key_problems_have_fixed_descriptions(verifier, jwks, rsa_key):
    with pytest.raises(AssertionRejected) as info:
        verify(verifier, sign(rsa_key, headers={"kid": "rotated-away"}), jwks)

    assert info.value.description == "no registered key of the client verifies client_assertion"


# --- iss, sub, aud ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"sub": "https://someone.example/else"},
        {"sub": None},
        {"iss": None},
        {"iss": 42, "sub": 42},
        {"iss": "", "sub": ""},
        {"iss": ["x"], "sub": ["x"]},
    ],
)
def test_iss_and_sub_must_both_be_the_client_id(verifier, jwks, rsa_key, overrides):
    assertion = sign(rsa_key, **overrides)

    assert rejected(verifier, assertion, jwks) == "bad_iss_sub"
    with pytest.raises(AssertionRejected):
        peek_client_id(CLIENT_ASSERTION_TYPE, assertion)


def test_an_assertion_from_another_client_does_not_authenticate_this_one(verifier, jwks, rsa_key):
    other = "https://other.example/client.json"
    assertion = sign(rsa_key, iss=other, sub=other)

    assert peek_client_id(CLIENT_ASSERTION_TYPE, assertion) == other
    assert rejected(verifier, assertion, jwks) == "client_mismatch"  # verified as CLIENT


def test_a_form_client_id_must_name_the_same_client(rsa_key):
    assertion = sign(rsa_key)

    assert peek_client_id(CLIENT_ASSERTION_TYPE, assertion, client_id=CLIENT) == CLIENT
    with pytest.raises(AssertionRejected) as info:
        peek_client_id(CLIENT_ASSERTION_TYPE, assertion, client_id="someone-else")
    assert info.value.reason == "client_mismatch"


@pytest.mark.parametrize(
    "aud",
    [
        None,
        "https://as.example.com/oauth/token/",
        "https://as.example.com/mcp",
        [],
        ["https://elsewhere.example"],
        [TOKEN_ENDPOINT, 7],
        {"aud": TOKEN_ENDPOINT},
        7,
    ],
)
def test_aud_must_name_our_token_endpoint_or_issuer(verifier, jwks, rsa_key, aud):
    assert rejected(verifier, sign(rsa_key, aud=aud), jwks) == "bad_aud"


def test_the_caller_must_say_which_audiences_count(verifier, jwks, rsa_key):
    for audiences in ((), TOKEN_ENDPOINT):
        with pytest.raises(ValueError, match="audiences"):
            verify(verifier, sign(rsa_key), jwks, audiences=audiences)


# --- time -------------------------------------------------------------------------------


@pytest.mark.parametrize(("exp", "reason"), [(NOW - 30, "expired"), (NOW - 3600, "expired")])
def test_an_expired_assertion_is_refused(verifier, store, jwks, rsa_key, exp, reason):
    assert rejected(verifier, sign(rsa_key, exp=exp, iat=exp - 60), jwks) == reason
    assert store.calls == []


def test_an_assertion_just_expired_is_within_the_leeway(verifier, jwks, rsa_key):
    assert verify(verifier, sign(rsa_key, exp=NOW - 29, iat=NOW - 60), jwks)


def test_exp_at_most_five_minutes_ahead(verifier, jwks, rsa_key):
    assert verify(verifier, sign(rsa_key, exp=NOW + 330), jwks)  # 5 minutes + leeway
    assert rejected(verifier, sign(rsa_key, exp=NOW + 331), jwks) == "exp_too_far"
    assert rejected(verifier, sign(rsa_key, exp=NOW + 86400 * 365), jwks) == "exp_too_far"


@pytest.mark.parametrize("exp", [None, "1700000060", True, 10**400, 2**53, [NOW + 60]])
def test_exp_must_be_a_numeric_date(verifier, jwks, rsa_key, exp):
    assert rejected(verifier, sign(rsa_key, exp=exp), jwks) == "missing_exp"


def test_an_assertion_not_yet_valid_is_refused(verifier, jwks, rsa_key):
    assert rejected(verifier, sign(rsa_key, nbf=NOW + 31), jwks) == "not_yet_valid"


def test_an_assertion_issued_in_the_future_is_refused(verifier, jwks, rsa_key):
    assert rejected(verifier, sign(rsa_key, iat=NOW + 31), jwks) == "issued_in_future"


@pytest.mark.parametrize("overrides", [{"nbf": "soon"}, {"iat": "now"}, {"iat": False}])
def test_nbf_and_iat_must_be_numeric_dates(verifier, jwks, rsa_key, overrides):
    assert rejected(verifier, sign(rsa_key, **overrides), jwks) == "malformed"


def test_the_clock_moves_an_assertion_out_of_its_window(verifier, clock, jwks, rsa_key):
    assertion = sign(rsa_key, jti="late")
    clock.advance(90)  # exp was NOW + 60; 30 s of leeway

    assert rejected(verifier, assertion, jwks) == "expired"


# --- jti and replay ---------------------------------------------------------------------


@pytest.mark.parametrize("jti", [None, "", 7, ["a"], "x" * 257])
def test_jti_must_be_a_short_non_empty_string(verifier, store, jwks, rsa_key, jti):
    assert rejected(verifier, sign(rsa_key, jti=jti), jwks) == "bad_jti"
    assert store.calls == []


def test_a_jti_of_256_characters_is_fine(verifier, jwks, rsa_key):
    assert verify(verifier, sign(rsa_key, jti="x" * 256), jwks).jti == "x" * 256


def test_a_replayed_assertion_is_refused(verifier, jwks, rsa_key):
    assertion = sign(rsa_key, jti="once")
    verify(verifier, assertion, jwks)

    assert rejected(verifier, assertion, jwks) == "replayed"


def test_a_new_assertion_reusing_a_jti_is_refused(verifier, clock, jwks, rsa_key):
    verify(verifier, sign(rsa_key, jti="once"), jwks)
    clock.advance(10)

    assert (
        rejected(verifier, sign(rsa_key, jti="once", iat=NOW + 10, exp=NOW + 70), jwks)
        == "replayed"
    )


def test_jtis_are_per_client(verifier, jwks, rsa_key):
    other = "https://other.example/client.json"
    verify(verifier, sign(rsa_key, jti="same"), jwks)

    assert verify(verifier, sign(rsa_key, jti="same", iss=other, sub=other), jwks, client_id=other)


def test_storage_failure_propagates_and_never_passes(verifier, store, jwks, rsa_key):
    store.failure = StorageUnavailable("the table did not answer")

    with pytest.raises(StorageUnavailable):
        verify(verifier, sign(rsa_key), jwks)


def test_jti_key_is_a_hash_of_the_pair_unambiguously():
    assert jti_key("ab", "c") != jti_key("a", "bc")
    assert jti_key("a", "b") == jti_key("a", "b")
    key = jti_key(CLIENT, "secret-jti-value")
    assert key["pk"].startswith("JTI#")
    assert key["sk"] == "JTI"
    assert "secret-jti-value" not in json.dumps(key)
    assert jti_key("a", "\ud800")  # a lone surrogate hashes; it never raises


# --- the form parameters and the size limit ---------------------------------------------


@pytest.mark.parametrize(
    "assertion_type",
    [
        None,
        "",
        "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
        CLIENT_ASSERTION_TYPE + " ",
    ],
)
def test_client_assertion_type_must_be_jwt_bearer(verifier, jwks, rsa_key, assertion_type):
    assertion = sign(rsa_key)
    with pytest.raises(AssertionRejected) as info:
        peek_client_id(assertion_type, assertion)
    assert info.value.reason == "bad_assertion_type"
    with pytest.raises(AssertionRejected):
        verifier.verify(assertion_type, assertion, client_id=CLIENT, audiences=AUDIENCES, jwks=jwks)


@pytest.mark.parametrize("assertion", [None, ""])
def test_a_missing_assertion_is_refused(assertion):
    with pytest.raises(AssertionRejected) as info:
        peek_client_id(CLIENT_ASSERTION_TYPE, assertion)

    assert info.value.reason == "missing"


def test_an_oversized_assertion_is_refused_before_parsing(verifier, jwks, rsa_key):
    big = sign(rsa_key, padding="p" * 8192)
    assert len(big) > 8 * 1024

    with pytest.raises(AssertionRejected) as info:
        peek_client_id(CLIENT_ASSERTION_TYPE, big)
    assert info.value.reason == "too_large"
    assert rejected(verifier, big, jwks) == "too_large"


def test_an_assertion_just_under_the_limit_is_read(rsa_key):
    probe = sign(rsa_key, padding="")
    room = (8 * 1024 - len(probe) - 8) * 3 // 4  # base64url: 4 characters per 3 bytes
    assertion = sign(rsa_key, padding="p" * room)
    assert 8 * 1024 - 16 < len(assertion) <= 8 * 1024

    assert peek_client_id(CLIENT_ASSERTION_TYPE, assertion) == CLIENT


def test_repeated_claims_are_refused(rsa_key):
    """Which iss would we have looked up? Neither."""
    body = f'{{"iss":"{CLIENT}","sub":"{CLIENT}","iss":"https://other.example/c"}}'
    token = f"{segment({'alg': 'RS256', 'kid': 'rsa-1'})}.{segment(body)}.c2ln"

    with pytest.raises(AssertionRejected) as info:
        peek_client_id(CLIENT_ASSERTION_TYPE, token)
    assert info.value.reason == "malformed"


def test_descriptions_never_echo_the_assertion(verifier, jwks, rsa_key, impostor):
    marker = "SECRET-MARKER-7f3a"
    attempts = [
        sign(impostor, iss=CLIENT, sub=CLIENT, jti=marker),
        sign(rsa_key, aud=marker),
        sign(rsa_key, iss=marker, sub=marker),
        sign(rsa_key, headers={"kid": marker}),
        sign(rsa_key, exp=NOW - 3600, jti=marker),
        f"{segment({'alg': marker})}.{segment(claims())}.c2ln",
        marker,
    ]
    for assertion in attempts:
        with pytest.raises(AssertionRejected) as info:
            verify(verifier, assertion, jwks)
        assert marker not in str(info.value)
        assert marker not in info.value.description
        assert CHARSET.fullmatch(info.value.description)


# --- garbage in, invalid_client out ------------------------------------------------------

FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@FUZZ
@given(text=st.text(max_size=400) | st.from_regex(r"[A-Za-z0-9_.-]{0,300}", fullmatch=True))
def test_any_text_is_invalid_client_and_nothing_else(verifier, store, jwks, text):
    with pytest.raises(InvalidClient):
        peek_client_id(CLIENT_ASSERTION_TYPE, text)
    with pytest.raises(InvalidClient):
        verify(verifier, text, jwks)
    assert store.calls == []


@FUZZ
@given(
    header=st.dictionaries(st.sampled_from(["alg", "kid", "typ", "crit", "jwk"]), json_values)
    | st.fixed_dictionaries(
        {"alg": st.sampled_from(["RS256", "PS256", "ES256"])}, optional={"kid": json_values}
    ),
    payload=st.dictionaries(
        st.sampled_from(["iss", "sub", "aud", "exp", "nbf", "iat", "jti"]), json_values
    ),
    signature=st.binary(max_size=300),
)
def test_any_jws_shaped_input_is_invalid_client_and_nothing_else(
    verifier, store, jwks, header, payload, signature
):
    token = f"{segment(header)}.{segment(payload)}.{b64(signature)}"
    with contextlib.suppress(InvalidClient):
        peek_client_id(CLIENT_ASSERTION_TYPE, token)
    with pytest.raises(InvalidClient) as info:
        verify(verifier, token, jwks)
    assert CHARSET.fullmatch(info.value.description)
    assert store.calls == []  # nothing unsigned is remembered


@FUZZ
@given(
    payload=st.dictionaries(
        st.sampled_from(["iss", "sub", "aud", "exp", "nbf", "iat", "jti"]), json_values
    )
)
def test_validly_signed_garbage_claims_are_invalid_client_and_nothing_else(
    verifier, jwks, rsa_key, payload
):
    """Signed with the client's own key: only the claim checks stand between it and us."""
    body = json.dumps(payload).encode()
    token = PyJWS().encode(body, rsa_key.private, algorithm="RS256", headers={"kid": "rsa-1"})
    with pytest.raises(InvalidClient):
        verify(verifier, token, jwks)
