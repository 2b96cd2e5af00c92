"""gistgate/oauth/client_keys.py and the URL fence of gistgate/oauth/untrusted_fetch.py
without a network: which JWKs a client may sign its assertions with, how a kid picks
one, and how a jwks_uri's set is cached and refetched (a fake fetch and a clock the tests
move). Fetching from a server on 127.0.0.1 is
tests/component/oauth/test_client_keys_fetch.py."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from gistgate.oauth.client_keys import (
    ClientKeyResolver,
    ClientKeysError,
    ClientKeySet,
    JwksUnavailable,
    UnknownKey,
    parse_jwks,
)
from gistgate.oauth.untrusted_fetch import (
    Fetched,
    UntrustedFetchError,
    cache_max_age,
    check_untrusted_url,
    fetch_untrusted_json,
)
from tests.fixtures.cimd import fake_dns, record_connects
from tests.fixtures.clock import FakeClock

JWKS_URI = "https://client.example.com/jwks.json"


def public_jwk(private: Any, **members: Any) -> dict[str, Any]:
    public = private.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    jwk.update(members)
    return {k: v for k, v in jwk.items() if v is not None}


@pytest.fixture(scope="module")
def rsa_private() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_private() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def rsa_jwk(rsa_private) -> dict[str, Any]:
    return public_jwk(rsa_private, kid="rsa-1")


@pytest.fixture
def ec_jwk(ec_private) -> dict[str, Any]:
    return public_jwk(ec_private, kid="ec-1")


def reason(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientKeysError) as info:
        call(*args, **kwargs)
    return info.value.reason


# --- which keys are usable ---------------------------------------------------------------


def test_rsa_fits_rs256_and_ps256_and_ec_p256_fits_es256(rsa_jwk, ec_jwk):
    keys = parse_jwks({"keys": [rsa_jwk, ec_jwk]})

    assert [(k.kid, k.kty, sorted(k.verifiers)) for k in keys.keys] == [
        ("rsa-1", "RSA", ["PS256", "RS256"]),
        ("ec-1", "EC", ["ES256"]),
    ]
    for key in keys.keys:
        for alg, verifier in key.verifiers.items():
            assert verifier.algorithm_name == alg  # PyJWT verifies with this alg only


def test_a_declared_alg_binds_the_key_to_it(rsa_private):
    keys = parse_jwks({"keys": [public_jwk(rsa_private, kid="k", alg="PS256")]})

    assert keys.keys[0].fits("PS256")
    assert not keys.keys[0].fits("RS256")


def test_only_public_members_reach_the_key(rsa_private, rsa_jwk):
    """Extra members (x5c, x5u, anything) are never interpreted."""
    keys = parse_jwks({"keys": [{**rsa_jwk, "x5c": ["garbage"], "x5u": "http://10.0.0.1/"}]})

    public = keys.keys[0].verifier("RS256").key
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.public_numbers() == rsa_private.public_key().public_numbers()


@pytest.mark.parametrize(
    "make",
    [
        lambda: public_jwk(ec.generate_private_key(ec.SECP384R1()), kid="p384"),
        lambda: public_jwk(ec.generate_private_key(ec.SECP521R1()), kid="p521"),
        lambda: public_jwk(ec.generate_private_key(ec.SECP256K1()), kid="k256"),
        lambda: public_jwk(ed25519.Ed25519PrivateKey.generate(), kid="ed"),
        lambda: public_jwk(
            rsa.generate_private_key(public_exponent=65537, key_size=1024), kid="weak"
        ),
        lambda: public_jwk(
            rsa.generate_private_key(public_exponent=65537, key_size=2048), kid="enc", use="enc"
        ),
        lambda: public_jwk(
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            kid="ops",
            key_ops=["encrypt"],
        ),
        lambda: public_jwk(
            rsa.generate_private_key(public_exponent=65537, key_size=2048), kid="rs384", alg="RS384"
        ),
        lambda: public_jwk(ec.generate_private_key(ec.SECP256R1()), kid="es-as-rs", alg="RS256"),
        lambda: {"kty": "RSA", "kid": "bad-n", "n": "!!!", "e": "AQAB"},
        lambda: {"kty": "RSA", "kid": "int-n", "n": 12345, "e": "AQAB"},
        lambda: {"kty": "EC", "kid": "off-curve", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        lambda: {"kty": "EC", "kid": "no-y", "crv": "P-256", "x": "AAAA"},
        lambda: public_jwk(ec.generate_private_key(ec.SECP256R1()), kid=7),
        lambda: public_jwk(ec.generate_private_key(ec.SECP256R1()), kid="x" * 257),
        lambda: {"kty": ["RSA"]},
        lambda: "not a jwk",
    ],
)
def test_unusable_keys_are_skipped(rsa_jwk, make):
    keys = parse_jwks({"keys": [make(), rsa_jwk]})

    assert [k.kid for k in keys.keys] == ["rsa-1"]
    with pytest.raises(ClientKeysError) as info:
        parse_jwks({"keys": [make()]})
    assert info.value.reason == "no_usable_keys"


def test_key_ops_with_verify_is_fine(rsa_private):
    keys = parse_jwks({"keys": [public_jwk(rsa_private, kid="k", key_ops=["verify"], use="sig")]})

    assert keys.keys[0].kid == "k"


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "oth"])
def test_a_set_with_private_key_material_is_refused_whole(rsa_private, ec_jwk, member):
    leaked = RSAAlgorithm.to_jwk(rsa_private, as_dict=True)  # the private JWK: d, p, q ...
    leaked.setdefault("oth", [])
    only = {k: v for k, v in leaked.items() if k in ("kty", "n", "e", member)}

    assert reason(parse_jwks, {"keys": [ec_jwk, only]}) == "private_key"


def test_an_ec_private_key_is_refused(ec_private, rsa_jwk):
    leaked = ECAlgorithm.to_jwk(ec_private, as_dict=True)
    assert "d" in leaked

    assert reason(parse_jwks, {"keys": [rsa_jwk, leaked]}) == "private_key"


def test_a_symmetric_key_is_refused_whole(rsa_jwk):
    assert reason(parse_jwks, {"keys": [rsa_jwk, {"kty": "oct", "kid": "h"}]}) == "symmetric_key"
    assert reason(parse_jwks, {"keys": [rsa_jwk, {"kty": "oct", "k": "c2VjcmV0"}]}) == "private_key"


@pytest.mark.parametrize(
    "document", [None, [], "keys", {}, {"keys": {}}, {"keys": "x"}, {"jwks": []}]
)
def test_a_jwks_must_be_an_object_with_a_keys_array(document):
    assert reason(parse_jwks, document) == "bad_jwks"


def test_an_empty_set_has_no_usable_keys():
    assert reason(parse_jwks, {"keys": []}) == "no_usable_keys"


def test_too_many_keys_are_refused(rsa_jwk):
    assert len(parse_jwks({"keys": [rsa_jwk] * 32}).keys) == 32
    assert reason(parse_jwks, {"keys": [rsa_jwk] * 33}) == "too_many_keys"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
jwk_like = st.dictionaries(
    st.sampled_from(["kty", "kid", "alg", "use", "key_ops", "crv", "n", "e", "x", "y", "d", "k"]),
    json_values | st.sampled_from(["RSA", "EC", "oct", "OKP", "P-256", "sig", "RS256", "AQAB"]),
)


@settings(max_examples=300, deadline=None)
@given(
    document=json_values
    | st.fixed_dictionaries({"keys": st.lists(jwk_like | json_values, max_size=4)})
)
def test_any_json_is_a_key_set_or_a_client_keys_error(document):
    refused: str | None = None
    try:
        keys = parse_jwks(document)
    except ClientKeysError as exc:
        refused = exc.reason
    else:
        assert keys.keys  # a set that parses has at least one usable key
    assert refused in (
        None,
        "bad_jwks",
        "too_many_keys",
        "private_key",
        "symmetric_key",
        "no_usable_keys",
    )


# --- which key an assertion gets ---------------------------------------------------------


@pytest.fixture
def keyset(rsa_jwk, ec_jwk) -> ClientKeySet:
    return parse_jwks({"keys": [rsa_jwk, ec_jwk]})


def test_the_kid_picks_the_key(keyset):
    assert keyset.select("rsa-1", "PS256").kid == "rsa-1"
    assert keyset.select("ec-1", "ES256").kid == "ec-1"


def test_an_unknown_kid_is_unknown(keyset):
    with pytest.raises(UnknownKey) as info:
        keyset.select("rotated", "RS256")
    assert info.value.reason == "unknown_kid"


def test_a_known_kid_with_an_alg_it_does_not_fit_is_not_unknown(keyset):
    """A forgery, not a rotation: no refetch for it."""
    with pytest.raises(ClientKeysError) as info:
        keyset.select("ec-1", "RS256")
    assert not isinstance(info.value, UnknownKey)
    assert info.value.reason == "key_alg_mismatch"


def test_without_a_kid_the_one_key_fitting_the_alg(keyset, rsa_private):
    assert keyset.select(None, "ES256").kid == "ec-1"
    assert keyset.select(None, "RS256").kid == "rsa-1"
    other = public_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048), kid="rsa-2")
    two = parse_jwks({"keys": [public_jwk(rsa_private, kid="rsa-1"), other]})
    assert reason(two.select, None, "RS256") == "kid_required"
    with pytest.raises(UnknownKey):
        parse_jwks({"keys": [public_jwk(rsa_private)]}).select(None, "ES256")


def test_one_kid_on_two_fitting_keys_is_ambiguous(rsa_private, rsa_jwk):
    twin = public_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048), kid="rsa-1")

    assert reason(parse_jwks({"keys": [rsa_jwk, twin]}).select, "rsa-1", "RS256") == "ambiguous_key"


@pytest.mark.parametrize("alg", ["HS256", "none", "RS384", "ES384", "EdDSA", ""])
def test_algorithms_outside_the_allow_list_are_refused(keyset, alg):
    assert reason(keyset.select, "rsa-1", alg) == "bad_alg"


# --- the resolver: inline jwks or jwks_uri ----------------------------------------------


class FakeFetch:
    """A jwks_uri's answers in order (a JWKS and a max-age, or an error), counting calls."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    def __call__(self, url: str) -> Fetched:
        self.calls.append(url)
        answer = self.answers[min(len(self.calls), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_inline_jwks_need_no_fetch(clock, rsa_jwk):
    fetch = FakeFetch()
    resolver = ClientKeyResolver(fetch=fetch, clock=clock)

    assert resolver.key_for(kid="rsa-1", alg="RS256", jwks={"keys": [rsa_jwk]}).kid == "rsa-1"
    assert fetch.calls == []


def test_exactly_one_of_jwks_and_jwks_uri(clock, rsa_jwk):
    resolver = ClientKeyResolver(fetch=FakeFetch(), clock=clock)

    assert reason(resolver.key_for, kid="rsa-1", alg="RS256") == "no_keys"
    assert (
        reason(
            resolver.key_for, kid="rsa-1", alg="RS256", jwks={"keys": [rsa_jwk]}, jwks_uri=JWKS_URI
        )
        == "both_keys"
    )


def test_a_jwks_uri_set_is_cached_for_five_minutes(clock, rsa_jwk):
    fetch = FakeFetch(Fetched({"keys": [rsa_jwk]}, None))
    resolver = ClientKeyResolver(fetch=fetch, clock=clock)

    resolver.key_for(kid="rsa-1", alg="RS256", jwks_uri=JWKS_URI)
    clock.advance(299)
    resolver.key_for(kid="rsa-1", alg="RS256", jwks_uri=JWKS_URI)
    assert fetch.calls == [JWKS_URI]

    clock.advance(2)
    resolver.key_for(kid="rsa-1", alg="RS256", jwks_uri=JWKS_URI)
    assert fetch.calls == [JWKS_URI] * 2


@pytest.mark.parametrize(
    ("max_age", "still_cached", "refetched"),
    [
        (3600.0, 3599, 3601),  # honoured
        (10**9, 86399, 86401),  # capped at 24 h
        (0.0, 29, 31),  # no-store: still one fetch per 30 s
        (5.0, 29, 31),  # likewise
    ],
)
def test_max_age_sets_the_cache_time(clock, rsa_jwk, max_age, still_cached, refetched):
    fetch = FakeFetch(Fetched({"keys": [rsa_jwk]}, max_age))
    resolver = ClientKeyResolver(fetch=fetch, clock=clock)

    resolver.key_set(JWKS_URI)
    clock.advance(still_cached)
    resolver.key_set(JWKS_URI)
    assert len(fetch.calls) == 1
    clock.advance(refetched - still_cached)
    resolver.key_set(JWKS_URI)
    assert len(fetch.calls) == 2


def test_failures_are_cached_for_thirty_seconds(clock, rsa_jwk):
    fetch = FakeFetch(
        UntrustedFetchError("http_status", "Fetching the client's JWK Set gave HTTP 500."),
        Fetched({"keys": [rsa_jwk]}, None),
    )
    resolver = ClientKeyResolver(fetch=fetch, clock=clock)

    for _ in range(3):
        with pytest.raises(JwksUnavailable) as info:
            resolver.key_for(kid="rsa-1", alg="RS256", jwks_uri=JWKS_URI)
        assert info.value.reason == "http_status"
        clock.advance(9)
    assert len(fetch.calls) == 1

    clock.advance(4)
    assert resolver.key_for(kid="rsa-1", alg="RS256", jwks_uri=JWKS_URI).kid == "rsa-1"
    assert len(fetch.calls) == 2


def test_a_set_without_usable_keys_is_a_cached_failure(clock, rsa_jwk):
    fetch = FakeFetch(Fetched({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, None))
    resolver = ClientKeyResolver(fetch=fetch, clock=clock)

    assert reason(resolver.key_set, JWKS_URI) == "private_key"
    clock.advance(29)
    assert reason(resolver.key_set, JWKS_URI) == "private_key"
    assert len(fetch.calls) == 1


def test_an_unknown_kid_refetches_once_then_waits_out_the_cooldown(clock, rsa_jwk, ec_jwk):
    old, new = Fetched({"keys": [rsa_jwk]}, None), Fetched({"keys": [rsa_jwk, ec_jwk]}, None)
    fetch = FakeFetch(old, old, new)
    resolver = ClientKeyResolver(fetch=fetch, clock=clock)
    resolver.key_set(JWKS_URI)

    clock.advance(10)
    with pytest.raises(UnknownKey):  # refetched at once: still not there
        resolver.key_for(kid="ec-1", alg="ES256", jwks_uri=JWKS_URI)
    assert len(fetch.calls) == 2

    clock.advance(59)
    for kid in ("ec-1", "made-up-1", "made-up-2"):  # within the cooldown: no fetch
        with pytest.raises(UnknownKey):
            resolver.key_for(kid=kid, alg="ES256", jwks_uri=JWKS_URI)
    assert len(fetch.calls) == 2

    clock.advance(2)  # the cooldown is over; the client has published its new key
    assert resolver.key_for(kid="ec-1", alg="ES256", jwks_uri=JWKS_URI).kid == "ec-1"
    assert len(fetch.calls) == 3
    assert resolver.key_for(kid="rsa-1", alg="RS256", jwks_uri=JWKS_URI).kid == "rsa-1"
    assert len(fetch.calls) == 3  # the refetched set is the cached one now


def test_a_rotated_key_is_picked_up_by_the_first_assertion_using_it(clock, rsa_jwk, ec_jwk):
    fetch = FakeFetch(Fetched({"keys": [rsa_jwk]}, None), Fetched({"keys": [ec_jwk]}, None))
    resolver = ClientKeyResolver(fetch=fetch, clock=clock)
    resolver.key_set(JWKS_URI)
    clock.advance(5)

    assert resolver.key_for(kid="ec-1", alg="ES256", jwks_uri=JWKS_URI).kid == "ec-1"
    assert len(fetch.calls) == 2


def test_a_set_fetched_just_now_is_not_fetched_again_for_an_unknown_kid(clock, rsa_jwk):
    fetch = FakeFetch(Fetched({"keys": [rsa_jwk]}, None))
    resolver = ClientKeyResolver(fetch=fetch, clock=clock)

    with pytest.raises(UnknownKey):
        resolver.key_for(kid="other", alg="RS256", jwks_uri=JWKS_URI)
    assert len(fetch.calls) == 1


def test_a_known_kid_with_the_wrong_alg_does_not_refetch(clock, rsa_jwk):
    fetch = FakeFetch(Fetched({"keys": [rsa_jwk]}, None))
    resolver = ClientKeyResolver(fetch=fetch, clock=clock)
    resolver.key_set(JWKS_URI)
    clock.advance(5)

    assert (
        reason(resolver.key_for, kid="rsa-1", alg="ES256", jwks_uri=JWKS_URI) == "key_alg_mismatch"
    )
    assert len(fetch.calls) == 1


def test_each_jwks_uri_has_its_own_cache_and_cooldown(clock, rsa_jwk):
    fetch = FakeFetch(Fetched({"keys": [rsa_jwk]}, None))
    resolver = ClientKeyResolver(fetch=fetch, clock=clock)
    other = "https://other.example.com/jwks.json"

    resolver.key_set(JWKS_URI)
    resolver.key_set(other)
    clock.advance(5)
    for uri in (JWKS_URI, other):
        with pytest.raises(UnknownKey):
            resolver.key_for(kid="new", alg="RS256", jwks_uri=uri)

    assert fetch.calls == [JWKS_URI, other, JWKS_URI, other]


def test_clear_forgets_everything(clock, rsa_jwk):
    fetch = FakeFetch(Fetched({"keys": [rsa_jwk]}, None))
    resolver = ClientKeyResolver(fetch=fetch, clock=clock)
    resolver.key_set(JWKS_URI)

    resolver.clear()
    resolver.key_set(JWKS_URI)

    assert len(fetch.calls) == 2


# --- the jwks_uri fence, before any connection --------------------------------------------


def unsafe(url: str, *, allow_loopback: bool = False) -> str:
    with pytest.raises(UntrustedFetchError) as info:
        check_untrusted_url(url, allow_loopback=allow_loopback, url_name="jwks_uri")
    assert "jwks_uri" in info.value.message
    return info.value.reason


@pytest.mark.parametrize(
    "url",
    [
        "https://client.example.com/jwks.json",
        "https://client.example.com",
        "https://client.example.com:8443/keys?v=2",
        "https://93.184.216.34/jwks.json",
    ],
)
def test_public_https_urls_pass_the_fence(url):
    check_untrusted_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://client.example.com/jwks.json",
        "http://127.0.0.1:8080/jwks.json",  # loopback http: dev mode only
        "HTTPS://client.example.com/jwks.json",
        "ftp://client.example.com/jwks.json",
        "file:///etc/passwd",
        "https:///jwks.json",
        "https://user:pw@client.example.com/jwks.json",
        "https://client.example.com/jwks.json#frag",
        "https://client.example.com/jw ks.json",
        "https://client.example.com/jwks\t.json",
        "https://client.example.com\\@evil.example/",
        "https://client.example.com:99999/jwks.json",
        "https://[fe80::1%25eth0]/jwks.json",
        "https://client.example.com/" + "a" * 2048,
        "",
    ],
)
def test_urls_outside_the_fence_are_unsafe(url):
    assert unsafe(url) == "unsafe_url"


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/jwks.json",
        "https://[::1]/jwks.json",
        "https://10.0.0.1/jwks.json",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/jwks.json",
        "https://[::ffff:10.0.0.1]/jwks.json",
        "https://0.0.0.0/jwks.json",
    ],
)
def test_private_address_literals_are_refused(url):
    assert unsafe(url) == "private_address"


def test_dev_mode_admits_loopback_and_nothing_else():
    check_untrusted_url("http://127.0.0.1:8080/jwks.json", allow_loopback=True)
    check_untrusted_url("http://localhost:8080/jwks.json", allow_loopback=True)
    check_untrusted_url("https://[::1]/jwks.json", allow_loopback=True)
    assert unsafe("https://10.0.0.1/jwks.json", allow_loopback=True) == "private_address"
    assert unsafe("http://10.0.0.1/jwks.json", allow_loopback=True) == "unsafe_url"


def test_a_name_that_resolves_to_a_private_address_is_refused_without_connecting(monkeypatch):
    connects = record_connects(monkeypatch)
    fake_dns(monkeypatch, {"jwks.internal.example": lambda: ["93.184.216.34", "10.1.2.3"]})

    with pytest.raises(UntrustedFetchError) as info:
        fetch_untrusted_json(
            "https://jwks.internal.example/jwks.json",
            what="client's JWK Set",
            url_name="jwks_uri",
            max_bytes=16 * 1024,
        )

    assert info.value.reason == "private_address"
    assert info.value.message == "The jwks_uri points at a private or reserved network address."
    assert connects == []


def test_the_resolver_fences_its_jwks_uri(clock):
    """The default fetch is the fenced one: a metadata address never gets a request."""
    resolver = ClientKeyResolver(clock=clock)

    with pytest.raises(JwksUnavailable) as info:
        resolver.key_for(kid=None, alg="RS256", jwks_uri="https://169.254.169.254/latest")
    assert info.value.reason == "private_address"


@pytest.mark.parametrize(
    ("header", "age"),
    [
        ("", None),
        ("max-age=60", 60.0),
        ('public, max-age="120"', 120.0),
        ("max-age=60, no-store", 0.0),
        ("no-cache", 0.0),
        ("max-age=-1", None),
        ("max-age=abc", None),
    ],
)
def test_cache_control_max_age(header, age):
    assert cache_max_age(header) == age
