"""gistgate/tokens/jwks.py (and keys.py) against the real IdP fixture over HTTP. What
needs no fetch is tests/unit/tokens/test_jwks.py and test_keys.py.

Time only moves when a test moves the injected clock; the fetch is the real one.
"""

from __future__ import annotations

import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from gistgate.core.config import SUPPORTED_ALGORITHMS
from gistgate.tokens.errors import (
    AmbiguousKey,
    UnknownKid,
    UnsupportedAlgorithm,
    VerifierUnavailable,
)
from gistgate.tokens.jwks import (
    JWKS_MAX_BYTES,
    JWKS_STALE_FOR,
    JWKS_TTL,
    KID_REFETCH_COOLDOWN,
    UNKNOWN_KID_TTL,
    JwksCache,
)
from gistgate.tokens.jws import parse_jws
from gistgate.tokens.keys import ALGORITHMS
from tests.fixtures.clock import T0, FakeClock
from tests.fixtures.tokens import make_key


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def cache(clock):
    return JwksCache(clock=clock)


@pytest.fixture(scope="module")
def shared_kid_keys():
    """An RSA and an EC key published under the same kid."""
    return make_key("RS256", "shared"), make_key("ES256", "shared")


def verifies(cache, uri, signing_key, alg=None):
    """Sign a token with ``signing_key`` and check it with the key the cache selects."""
    token = signing_key.sign({"sub": "user-123"}, alg=alg)
    jws = parse_jws(token, algorithms=SUPPORTED_ALGORITHMS, max_bytes=8192)
    key = cache.key_for(uri, jws.kid, jws.alg)
    return ALGORITHMS[jws.alg].verify(jws.signing_input, key.key, jws.signature)


def random_kid():
    return secrets.token_hex(8)


def test_keys_are_fetched_once_and_verify(cache, idp, keyring):
    assert verifies(cache, idp.jwks_uri, keyring.rsa)
    assert verifies(cache, idp.jwks_uri, keyring.ec)
    assert verifies(cache, idp.jwks_uri, keyring.rsa)

    assert idp.jwks_fetches == 1


def test_prefetch_warms_the_cache(cache, idp, keyring):
    assert cache.prefetch(idp.jwks_uri) is True
    assert verifies(cache, idp.jwks_uri, keyring.ec)

    assert idp.jwks_fetches == 1


def test_ttl_expiry_refetches_exactly_once(cache, idp, keyring, clock):
    verifies(cache, idp.jwks_uri, keyring.rsa)
    clock.advance(JWKS_TTL - 1)
    verifies(cache, idp.jwks_uri, keyring.rsa)
    assert idp.jwks_fetches == 1

    clock.advance(1)
    for _ in range(5):
        assert verifies(cache, idp.jwks_uri, keyring.rsa)

    assert idp.jwks_fetches == 2


def test_stale_keys_serve_during_an_outage_until_the_stale_cap(cache, idp, keyring, clock):
    verifies(cache, idp.jwks_uri, keyring.rsa)
    idp.serve_jwks(status=500)

    clock.advance(JWKS_TTL + 1)
    assert verifies(cache, idp.jwks_uri, keyring.rsa)
    assert idp.jwks_fetches == 2  # the refresh was tried, and failed

    clock.now = T0 + JWKS_STALE_FOR - 1
    assert verifies(cache, idp.jwks_uri, keyring.ec)

    clock.now = T0 + JWKS_STALE_FOR + 1
    with pytest.raises(VerifierUnavailable, match="http_status"):
        verifies(cache, idp.jwks_uri, keyring.rsa)


def test_outage_costs_one_fetch_per_backoff_window(cache, idp, keyring, clock):
    verifies(cache, idp.jwks_uri, keyring.rsa)
    idp.serve_jwks(status=500)
    clock.advance(JWKS_TTL)

    for _ in range(60):  # one request a second for a minute
        assert verifies(cache, idp.jwks_uri, keyring.rsa)
        clock.advance(1)

    # error_backoff is a third of the kid cooldown: 10 s -> 6 tries in 60 s.
    assert idp.jwks_fetches == 1 + 6


def test_cold_cache_with_failing_endpoint_fails_closed(cache, idp, keyring, clock):
    idp.serve_jwks(status=500)

    assert cache.prefetch(idp.jwks_uri) is False
    with pytest.raises(VerifierUnavailable):
        verifies(cache, idp.jwks_uri, keyring.rsa)

    idp.serve_jwks(keyring.jwks())
    clock.advance(KID_REFETCH_COOLDOWN)
    assert verifies(cache, idp.jwks_uri, keyring.rsa)


def test_unknown_kid_storm_causes_one_fetch_per_cooldown_window(cache, idp, keyring, clock):
    cache.prefetch(idp.jwks_uri)
    assert idp.jwks_fetches == 1

    # 1,000 random kids spread over 29 s: one refetch.
    for _ in range(1000):
        with pytest.raises(UnknownKid):
            cache.key_for(idp.jwks_uri, random_kid(), "RS256")
        clock.advance(0.029)
    assert idp.jwks_fetches == 2

    # Past the cooldown (counted from that refetch), exactly one more.
    clock.now = T0 + KID_REFETCH_COOLDOWN
    for _ in range(1000):
        with pytest.raises(UnknownKid):
            cache.key_for(idp.jwks_uri, random_kid(), "ES256")
    assert idp.jwks_fetches == 3

    # Known keys are unaffected by the storm.
    assert verifies(cache, idp.jwks_uri, keyring.rsa)
    assert idp.jwks_fetches == 3


def test_the_same_unknown_kid_is_not_refetched_until_its_marker_expires(cache, idp, keyring, clock):
    cache.prefetch(idp.jwks_uri)
    kid = random_kid()

    with pytest.raises(UnknownKid):
        cache.key_for(idp.jwks_uri, kid, "RS256")
    assert idp.jwks_fetches == 2

    clock.advance(KID_REFETCH_COOLDOWN + 1)  # cooldown over, but the kid is remembered
    with pytest.raises(UnknownKid):
        cache.key_for(idp.jwks_uri, kid, "RS256")
    assert idp.jwks_fetches == 2

    clock.now = T0 + UNKNOWN_KID_TTL
    with pytest.raises(UnknownKid):
        cache.key_for(idp.jwks_uri, kid, "RS256")
    assert idp.jwks_fetches == 3


def test_removed_key_is_rejected_once_the_ttl_has_passed(cache, idp, keyring, clock):
    assert verifies(cache, idp.jwks_uri, keyring.rsa)
    idp.serve_jwks(keyring.jwks(keyring.ec))

    clock.advance(JWKS_TTL - 1)
    assert verifies(cache, idp.jwks_uri, keyring.rsa)

    clock.advance(1)
    with pytest.raises(UnknownKid):
        verifies(cache, idp.jwks_uri, keyring.rsa)
    assert verifies(cache, idp.jwks_uri, keyring.ec)


def test_new_kid_is_picked_up_with_one_refetch(cache, idp, keyring):
    idp.serve_jwks(keyring.jwks(keyring.rsa))
    assert verifies(cache, idp.jwks_uri, keyring.rsa)
    idp.serve_jwks(keyring.jwks(keyring.rsa, keyring.ec))

    assert verifies(cache, idp.jwks_uri, keyring.ec)
    assert verifies(cache, idp.jwks_uri, keyring.ec)
    assert idp.jwks_fetches == 2


def test_duplicate_kid_across_rsa_and_ec_is_selected_by_alg(cache, idp, shared_kid_keys):
    rsa_key, ec_key = shared_kid_keys
    idp.serve_jwks({"keys": [rsa_key.jwk, ec_key.jwk]})

    assert cache.key_for(idp.jwks_uri, "shared", "RS256").kty == "RSA"
    assert cache.key_for(idp.jwks_uri, "shared", "ES256").kty == "EC"
    assert verifies(cache, idp.jwks_uri, rsa_key)
    assert verifies(cache, idp.jwks_uri, ec_key)
    assert idp.jwks_fetches == 1


def test_two_rsa_keys_with_the_same_kid_are_ambiguous(cache, idp, keyring):
    assert keyring.rsa.kid == keyring.other_rsa.kid
    idp.serve_jwks(keyring.jwks(keyring.rsa, keyring.other_rsa))

    with pytest.raises(AmbiguousKey):
        verifies(cache, idp.jwks_uri, keyring.rsa)
    assert idp.jwks_fetches == 1  # ambiguity is not a reason to refetch


def test_no_kid_selects_the_only_fitting_key_or_is_ambiguous(cache, idp, keyring):
    assert cache.key_for(idp.jwks_uri, None, "ES256").kid == keyring.ec.kid

    idp.serve_jwks(keyring.jwks(keyring.rsa, keyring.ec, keyring.other_rsa))
    cache.clear()
    with pytest.raises(AmbiguousKey):
        cache.key_for(idp.jwks_uri, None, "RS256")


def test_oct_and_encryption_keys_are_ignored(cache, idp, keyring):
    enc = {**keyring.rsa.jwk, "kid": "enc-1", "use": "enc"}
    wrap = {k: v for k, v in keyring.rsa.jwk.items() if k != "use"}
    wrap.update(kid="wrap-1", key_ops=["wrapKey"])
    oct_key = {"kty": "oct", "kid": "oct-1", "k": secrets.token_urlsafe(32), "alg": "RS256"}
    idp.serve_jwks({"keys": [oct_key, enc, wrap, keyring.ec.jwk]})

    for kid in ("oct-1", "enc-1", "wrap-1"):
        with pytest.raises(UnknownKid):
            cache.key_for(idp.jwks_uri, kid, "RS256")
    assert verifies(cache, idp.jwks_uri, keyring.ec)


def test_jwk_alg_rs256_does_not_verify_rs384(cache, idp, keyring):
    assert keyring.rsa.jwk["alg"] == "RS256"

    with pytest.raises(UnsupportedAlgorithm):
        verifies(cache, idp.jwks_uri, keyring.rsa, alg="RS384")
    assert idp.jwks_fetches == 1  # a known kid with the wrong alg is not a rotation


def test_es256_with_a_p384_key_is_rejected(cache, idp, keyring):
    p384 = {k: v for k, v in keyring.ec384.jwk.items() if k != "alg"}
    assert p384["crv"] == "P-384"
    idp.serve_jwks({"keys": [p384]})

    with pytest.raises(UnsupportedAlgorithm):
        cache.key_for(idp.jwks_uri, keyring.ec384.kid, "ES256")
    assert cache.key_for(idp.jwks_uri, keyring.ec384.kid, "ES384").crv == "P-384"


def test_es256_with_an_rsa_kid_is_rejected(cache, idp, keyring):
    with pytest.raises(UnsupportedAlgorithm):
        cache.key_for(idp.jwks_uri, keyring.rsa.kid, "ES256")


def test_jwks_over_150kb_is_rejected(cache, idp, keyring):
    document = {**keyring.jwks(), "padding": "x" * JWKS_MAX_BYTES}
    idp.serve_jwks(document)

    with pytest.raises(VerifierUnavailable, match="too_large"):
        verifies(cache, idp.jwks_uri, keyring.rsa)


def test_jwks_just_under_150kb_is_accepted(cache, idp, keyring):
    document = {**keyring.jwks(), "padding": "x" * (JWKS_MAX_BYTES - 5_000)}
    idp.serve_jwks(document)

    assert verifies(cache, idp.jwks_uri, keyring.rsa)


def test_jwks_redirect_to_another_host_is_rejected(cache, idp, keyring):
    # Same server, other netloc (127.0.0.1 instead of localhost): the target is
    # reachable, so a followed redirect would show up in the log.
    elsewhere = f"http://127.0.0.1:{idp.server.port}/elsewhere/jwks.json"
    idp.server.clear_all_handlers()
    idp.server.expect_request("/jwks.json").respond_with_data(
        "", status=302, headers={"Location": elsewhere}
    )
    idp.server.expect_request("/elsewhere/jwks.json").respond_with_json(keyring.jwks())

    with pytest.raises(VerifierUnavailable, match="redirect_off_host"):
        verifies(cache, idp.jwks_uri, keyring.rsa)
    assert idp.hits("/elsewhere/jwks.json") == 0


def test_jwks_redirect_on_the_same_host_is_followed(cache, idp, keyring):
    idp.server.clear_all_handlers()
    idp.server.expect_request("/jwks.json").respond_with_data(
        "", status=301, headers={"Location": "/v2/jwks.json"}
    )
    idp.server.expect_request("/v2/jwks.json").respond_with_json(keyring.jwks())

    assert verifies(cache, idp.jwks_uri, keyring.rsa)


def test_rsa_keys_under_2048_bits_are_ignored(cache, idp, keyring):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak_jwk = {**RSAAlgorithm.to_jwk(weak.public_key(), as_dict=True), "kid": "weak"}
    idp.serve_jwks({"keys": [weak_jwk, keyring.rsa.jwk]})

    with pytest.raises(UnknownKid):
        cache.key_for(idp.jwks_uri, "weak", "RS256")
    assert verifies(cache, idp.jwks_uri, keyring.rsa)


def test_private_members_in_a_jwk_are_ignored(cache, idp, keyring):
    # A JWKS that leaks the private parts (pyjwt marks those key_ops ["sign"]; an
    # IdP's JWKS would say "verify" or nothing).
    rsa_private = RSAAlgorithm.to_jwk(keyring.rsa.private, as_dict=True)
    ec_private = ECAlgorithm.to_jwk(keyring.ec.private, as_dict=True)
    rsa_private.update(kid="rsa-priv", key_ops=["verify"])
    ec_private.update(kid="ec-priv", key_ops=["verify"])
    assert "d" in rsa_private
    assert "d" in ec_private
    idp.serve_jwks({"keys": [rsa_private, ec_private]})

    rsa_key = cache.key_for(idp.jwks_uri, "rsa-priv", "RS256").key
    ec_key = cache.key_for(idp.jwks_uri, "ec-priv", "ES256").key

    assert isinstance(rsa_key, rsa.RSAPublicKey)
    assert isinstance(ec_key, ec.EllipticCurvePublicKey)


def test_non_jwks_document_from_the_endpoint_fails_closed(cache, idp, keyring):
    idp.serve_jwks({"issuer": idp.issuer})

    with pytest.raises(VerifierUnavailable, match="invalid_jwks"):
        verifies(cache, idp.jwks_uri, keyring.rsa)
