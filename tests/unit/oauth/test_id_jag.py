"""gistgate/oauth/id_jag.py without a network: ID-JAGs checked against an in-memory JWK
Set (the real JwksCache with a fetch that returns it) and a clock the tests move. The
DynamoDB single-use store, the handlers and the IdP over HTTP are
tests/component/oauth/test_id_jag.py and tests/e2e/test_enterprise.py."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt import PyJWS

from gistgate.core.config import Settings, SettingsError, load_settings
from gistgate.core.discovery import Discovery
from gistgate.oauth.errors import InvalidGrant, InvalidScope, OAuthError, ServerError
from gistgate.oauth.id_jag import (
    EnterpriseGrant,
    IdJag,
    IdJagRejected,
    granted_scopes,
    issuer_id,
    map_subject,
    spent_key,
)
from gistgate.storage.table import Table
from gistgate.tokens.jwks import JwksCache
from gistgate.tokens.keys import KeySet
from gistgate.tokens.signatures import IssuerKeys
from tests.fixtures.clock import T0, FakeClock
from tests.fixtures.tokens import KeyRing, SigningKey, segment

IDP = "https://acme.okta.example/oauth2/default"
OTHER_IDP = "https://login.partner.example"
AS = "https://mcp.example.com"
MCP = f"{AS}/mcp"
CLIENT = "client-123"
NOW = int(T0)
JWT_SHAPED = r"[A-Za-z0-9_-]{0,40}\.[A-Za-z0-9_-]{0,40}\.[A-Za-z0-9_=-]{0,40}"
CHARSET = re.compile(r"^[\x20\x21\x23-\x5b\x5d-\x7e]+$")


def ema_settings(**env: str) -> Settings:
    return load_settings({"EMA_TRUSTED_ISSUERS": f"{IDP},{OTHER_IDP}", **env})


def claims(**overrides: Any) -> dict[str, Any]:
    base = {
        "iss": IDP,
        "sub": "00u-alice",
        "aud": AS,
        "resource": MCP,
        "client_id": CLIENT,
        "jti": "jti-1",
        "iat": NOW,
        "exp": NOW + 300,
        "scope": "read:gists write:gists",
        **overrides,
    }
    return {k: v for k, v in base.items() if v is not None}


def sign(key: SigningKey, body: dict[str, Any], **headers: Any) -> str:
    """A JWS of exactly ``body`` (PyJWS: pyjwt's JWT encoder would refuse odd claim types)."""
    header = {"kid": key.kid, "typ": "oauth-id-jag+jwt", **headers}
    header = {k: v for k, v in header.items() if v is not None}
    payload = json.dumps(body, separators=(",", ":")).encode()
    return PyJWS().encode(payload, key.private, algorithm=key.alg, headers=header)


class Fixture:
    def __init__(self, keyring: KeyRing, **env: str) -> None:
        self.keyring = keyring
        self.clock = FakeClock()
        self.fetches: list[str] = []
        self.down = False

        def fetch(uri: str) -> KeySet:
            self.fetches.append(uri)
            if self.down:
                from gistgate.core.fetch import FetchError

                raise FetchError("unreachable")
            return KeySet.from_document(keyring.jwks(keyring.rsa, keyring.ec))

        self.settings = ema_settings(EMA_JWKS_URIS=f"{IDP}/keys,{OTHER_IDP}/keys", **env)
        keys = IssuerKeys(JwksCache(fetch, clock=self.clock), Discovery(clock=self.clock))
        self.grant = EnterpriseGrant(self.settings, keys, Table(None), clock=self.clock)

    def verify(self, assertion: str, client_id: str = CLIENT) -> IdJag:
        return self.grant.verify(assertion, client_id=client_id, issuer=AS, resource=MCP)


@pytest.fixture
def ema(keyring: KeyRing) -> Fixture:
    return Fixture(keyring)


def reason(ema: Fixture, assertion: str) -> tuple[str, str]:
    with pytest.raises(IdJagRejected) as caught:
        ema.verify(assertion)
    assert caught.value.error == "invalid_grant"
    assert CHARSET.match(caught.value.description)
    return caught.value.reason, caught.value.description


# -- the good case -------------------------------------------------------------------------


def test_a_valid_id_jag_yields_the_mapped_subject_and_its_scopes(ema: Fixture) -> None:
    grant = ema.verify(sign(ema.keyring.rsa, claims()))

    assert grant == IdJag(
        IDP,
        f"ema|{issuer_id(IDP)}|00u-alice",
        CLIENT,
        ("read:gists", "write:gists"),
        "jti-1",
        float(NOW + 300),
    )


def test_es256_and_an_aud_list_of_exactly_our_issuer_are_accepted(ema: Fixture) -> None:
    grant = ema.verify(sign(ema.keyring.ec, claims(aud=[AS])))

    assert grant.issuer == IDP


def test_typ_is_compared_as_a_media_type(ema: Fixture) -> None:
    assert ema.verify(sign(ema.keyring.rsa, claims(), typ="application/OAUTH-ID-JAG+JWT"))


def test_verify_writes_nothing_and_fetches_each_jwks_once(ema: Fixture) -> None:
    ema.verify(sign(ema.keyring.rsa, claims(jti="a")))
    ema.verify(sign(ema.keyring.rsa, claims(jti="b")))

    assert ema.fetches == [f"{IDP}/keys"]  # Table(None) would fail on any write


# -- each failure, precisely -------------------------------------------------------------------


CASES: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    # name: (claim overrides, header overrides, reason)
    "typ JWT": ({}, {"typ": "JWT"}, "bad_typ"),
    "typ at+jwt": ({}, {"typ": "at+jwt"}, "bad_typ"),
    "no typ": ({}, {"typ": None}, "bad_typ"),
    "unknown issuer": ({"iss": "https://evil.example"}, {}, "bad_issuer"),
    "issuer with a trailing slash": ({"iss": IDP + "/"}, {}, "bad_issuer"),
    "no iss": ({"iss": None}, {}, "bad_issuer"),
    "iss a list": ({"iss": [IDP]}, {}, "bad_issuer"),
    "aud with a trailing slash": ({"aud": AS + "/"}, {}, "bad_aud"),
    "aud the MCP URL": ({"aud": MCP}, {}, "bad_aud"),
    "aud two values": ({"aud": [AS, "https://x.example"]}, {}, "bad_aud"),
    "no aud": ({"aud": None}, {}, "bad_aud"),
    "resource the issuer": ({"resource": AS}, {}, "bad_resource"),
    "resource a list": ({"resource": [MCP]}, {}, "bad_resource"),
    "no resource": ({"resource": None}, {}, "bad_resource"),
    "another client": ({"client_id": "client-999"}, {}, "client_mismatch"),
    "no client_id": ({"client_id": None}, {}, "client_mismatch"),
    "expired": ({"iat": NOW - 400, "exp": NOW - 61}, {}, "expired"),
    "iat ahead": ({"iat": NOW + 61, "exp": NOW + 200}, {}, "not_yet_valid"),
    "nbf ahead": ({"nbf": NOW + 61}, {}, "not_yet_valid"),
    "lives 301 s": ({"exp": NOW + 301}, {}, "too_long"),
    "exp far ahead, iat late": ({"iat": NOW + 3000, "exp": NOW + 3100}, {}, "not_yet_valid"),
    "no exp": ({"exp": None}, {}, "bad_times"),
    "no iat": ({"iat": None}, {}, "bad_times"),
    "exp a string": ({"exp": str(NOW + 60)}, {}, "bad_times"),
    "exp a bool": ({"exp": True}, {}, "bad_times"),
    "exp huge": ({"exp": 10**400}, {}, "bad_times"),
    "nbf a string": ({"nbf": "soon"}, {}, "bad_times"),
    "no jti": ({"jti": None}, {}, "bad_jti"),
    "empty jti": ({"jti": ""}, {}, "bad_jti"),
    "long jti": ({"jti": "j" * 256}, {}, "bad_jti"),
    "no sub": ({"sub": None}, {}, "bad_sub"),
    "sub with a newline": ({"sub": "a\nb"}, {}, "bad_sub"),
    "sub a number": ({"sub": 42}, {}, "bad_sub"),
    "scope a list": ({"scope": ["read:gists"]}, {}, "bad_scope"),
}


@pytest.mark.parametrize("case", CASES)
def test_each_failure_names_its_check(ema: Fixture, case: str) -> None:
    overrides, headers, expected = CASES[case]

    got, description = reason(ema, sign(ema.keyring.rsa, claims(**overrides), **headers))

    assert got == expected, description


def test_checks_run_in_order_typ_then_issuer_then_signature(ema: Fixture) -> None:
    wrong_everything = claims(iss="https://evil.example", aud="x", exp=NOW - 999)

    assert reason(ema, sign(ema.keyring.other_rsa, wrong_everything, typ="JWT"))[0] == "bad_typ"
    assert reason(ema, sign(ema.keyring.other_rsa, wrong_everything))[0] == "bad_issuer"
    assert reason(ema, sign(ema.keyring.other_rsa, claims(aud="x")))[0] == "bad_signature"
    assert ema.fetches == [f"{IDP}/keys"]  # the unknown issuer cost no fetch


def test_another_issuers_key_does_not_verify(ema: Fixture) -> None:
    assert reason(ema, sign(ema.keyring.other_rsa, claims()))[0] == "bad_signature"


def test_an_algorithm_off_the_allow_list_is_refused_before_any_key(keyring: KeyRing) -> None:
    ema = Fixture(keyring, OAUTH_ALGORITHMS="RS256")

    assert reason(ema, sign(keyring.ec, claims()))[0] == "bad_alg"
    assert ema.fetches == []


def test_alg_none_and_embedded_keys_are_refused(ema: Fixture) -> None:
    header = segment({"alg": "none", "typ": "oauth-id-jag+jwt"})
    unsigned = f"{header}.{segment(claims())}."
    embedded = sign(ema.keyring.rsa, claims(), jku="https://evil.example/keys")

    assert reason(ema, unsigned)[0] == "bad_alg"
    assert reason(ema, embedded)[0] == "forbidden_header"


def test_oversized_and_malformed_assertions_are_malformed(ema: Fixture) -> None:
    big = sign(ema.keyring.rsa, claims(pad="x" * 9000))

    assert reason(ema, big)[0] == "malformed"
    assert reason(ema, "not-a-jwt")[0] == "malformed"
    assert reason(ema, "a.b.c")[0] == "malformed"


def test_the_leeway_is_the_configured_one(keyring: KeyRing) -> None:
    ema = Fixture(keyring, OAUTH_LEEWAY_SECONDS="0")

    assert reason(ema, sign(keyring.rsa, claims(iat=NOW - 300, exp=NOW)))[0] == "expired"
    assert ema.verify(sign(keyring.rsa, claims(iat=NOW - 299, exp=NOW + 1)))


def test_an_unreachable_jwks_is_a_retryable_server_error(ema: Fixture) -> None:
    ema.down = True

    with pytest.raises(ServerError) as caught:
        ema.verify(sign(ema.keyring.rsa, claims()))

    assert caught.value.status == 503
    assert caught.value.error == "temporarily_unavailable"


def test_descriptions_never_echo_the_assertion_or_its_claims(ema: Fixture) -> None:
    secretish = "sub-" + "s" * 40
    assertion = sign(ema.keyring.rsa, claims(sub=secretish, aud="https://attacker.example"))

    _, description = reason(ema, assertion)

    assert secretish not in description
    assert "attacker" not in description
    assert assertion[:40] not in description


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.sampled_from(
            ["iss", "sub", "aud", "resource", "client_id", "jti", "iat", "exp", "nbf", "scope"]
        ),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(allow_nan=False),
            st.text(max_size=40),
            st.lists(st.text(max_size=10), max_size=3),
            st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
        ),
    )
)
def test_any_signed_claim_set_is_a_grant_or_invalid_grant(
    ema: Fixture, changes: dict[str, Any]
) -> None:
    assertion = sign(ema.keyring.rsa, claims(**changes))

    outcome: IdJag | InvalidGrant
    try:
        outcome = ema.verify(assertion)
    except InvalidGrant as exc:
        outcome = exc
    if isinstance(outcome, InvalidGrant):
        assert CHARSET.match(outcome.description)
    else:
        assert outcome.issuer in (IDP, OTHER_IDP)
        assert outcome.subject.startswith("ema|")


@settings(max_examples=150)
@given(
    st.text(max_size=300)
    | st.from_regex(r"[A-Za-z0-9_-]{0,40}\.[A-Za-z0-9_-]{0,40}\.[A-Za-z0-9_=-]{0,40}")
)
def test_any_text_is_invalid_grant(text: str) -> None:
    grant = EnterpriseGrant(
        ema_settings(), IssuerKeys(JwksCache(lambda uri: KeySet([])), Discovery()), Table(None)
    )
    with pytest.raises(OAuthError) as caught:
        grant.verify(text, client_id=CLIENT, issuer=AS, resource=MCP)
    assert caught.value.error == "invalid_grant"


# -- subjects and scopes --------------------------------------------------------------------


def test_issuer_id_is_16_hex_digits_of_the_issuers_sha256() -> None:
    assert issuer_id(IDP) == hashlib.sha256(IDP.encode()).hexdigest()[:16]
    assert issuer_id(IDP) != issuer_id(OTHER_IDP)


def test_subjects_never_collide_with_github_clients_or_another_idp() -> None:
    settings = ema_settings()

    ours = {map_subject(settings, idp, sub) for idp in (IDP, OTHER_IDP) for sub in ("1", "2")}

    assert len(ours) == 4
    assert all(s.startswith("ema|") for s in ours)
    assert map_subject(settings, IDP, "github|1").startswith(f"ema|{issuer_id(IDP)}|")


def test_subject_mode_subject_is_ema_and_the_raw_sub() -> None:
    settings = load_settings({"EMA_TRUSTED_ISSUERS": IDP, "EMA_SUBJECT_MODE": "subject"})

    assert map_subject(settings, IDP, "00u-alice") == "ema|00u-alice"


def grant_with(scopes: tuple[str, ...] | None, subject: str = "ema|x|alice") -> IdJag:
    return IdJag(IDP, subject, CLIENT, scopes, "j", float(NOW))


def test_scopes_are_the_id_jag_s_within_the_client_s() -> None:
    settings = ema_settings()
    registered = ("read:gists", "write:gists")

    assert granted_scopes(settings, grant_with(("read:gists",)), registered, ()) == ("read:gists",)
    assert granted_scopes(settings, grant_with(None), registered, ()) == registered
    with pytest.raises(InvalidScope):
        granted_scopes(settings, grant_with(("write:gists", "x:y")), ("read:gists",), ())


def test_requested_scopes_must_fit() -> None:
    settings = ema_settings()
    registered = ("read:gists", "write:gists")

    assert granted_scopes(settings, grant_with(None), registered, ("read:gists",)) == (
        "read:gists",
    )
    with pytest.raises(InvalidScope):
        granted_scopes(settings, grant_with(("read:gists",)), registered, ("write:gists",))


def test_admin_only_for_admin_subjects() -> None:
    admin = "ema|x|boss"
    settings = ema_settings(OAUTH_ADMIN_SUBJECTS=admin)
    registered = ("read:gists", "admin:server")

    assert "admin:server" in granted_scopes(settings, grant_with(None, admin), registered, ())
    assert granted_scopes(settings, grant_with(None), registered, ()) == ("read:gists",)


def test_spent_keys_are_per_issuer_and_jti() -> None:
    assert spent_key(IDP, "j") != spent_key(OTHER_IDP, "j")
    assert spent_key(IDP, "j") != spent_key(IDP, "k")
    assert spent_key(IDP, "a|b")["pk"].startswith("IDJAG#")


# -- settings -------------------------------------------------------------------------------


def test_settings_default_to_no_enterprise_idp() -> None:
    settings = load_settings({})

    assert settings.ema_trusted_issuers == ()
    assert settings.ema_subject_mode == "issuer"
    assert settings.ema_max_assertion_lifetime == 300
    assert settings.ema_refresh_tokens is False


def test_jwks_uris_follow_issuer_order_and_may_be_blank() -> None:
    settings = ema_settings(EMA_JWKS_URIS=f",{OTHER_IDP}/keys")

    assert settings.ema_jwks_uris == (None, f"{OTHER_IDP}/keys")


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"EMA_TRUSTED_ISSUERS": "http://idp.example"}, "EMA_TRUSTED_ISSUERS"),
        ({"EMA_TRUSTED_ISSUERS": f"{IDP},{IDP}"}, "EMA_TRUSTED_ISSUERS"),
        (
            {"EMA_TRUSTED_ISSUERS": IDP, "AUTH_MODE": "jwt", "OAUTH_ISSUER": IDP},
            "EMA_TRUSTED_ISSUERS",
        ),
        ({"EMA_TRUSTED_ISSUERS": IDP, "EMA_JWKS_URIS": "a,b"}, "EMA_JWKS_URIS"),
        ({"EMA_TRUSTED_ISSUERS": IDP, "EMA_JWKS_URIS": "http://k.example/"}, "EMA_JWKS_URIS"),
        (
            {"EMA_TRUSTED_ISSUERS": f"{IDP},{OTHER_IDP}", "EMA_SUBJECT_MODE": "subject"},
            "EMA_SUBJECT_MODE",
        ),
        ({"EMA_SUBJECT_MODE": "email"}, "EMA_SUBJECT_MODE"),
        ({"EMA_MAX_ASSERTION_LIFETIME": "7200"}, "EMA_MAX_ASSERTION_LIFETIME"),
        ({"EMA_REFRESH_TOKENS": "maybe"}, "EMA_REFRESH_TOKENS"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert caught.value.variable == variable
