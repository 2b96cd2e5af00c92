"""gistgate/tokens/introspection.py against a real RFC 7662 endpoint on loopback."""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time

import pytest
from werkzeug import Response

from gistgate.core.config import load_settings
from gistgate.tokens.errors import (
    BadAudience,
    BadIssuer,
    InactiveToken,
    InvalidClaim,
    TokenError,
    TokenExpired,
    VerifierUnavailable,
)
from gistgate.tokens.introspection import (
    CACHE_SECONDS,
    INTROSPECTION_MAX_BYTES,
    Introspector,
    token_digest,
)
from gistgate.tokens.presets import get_preset
from gistgate.tokens.principal import Principal
from gistgate.tokens.trust import resolve_trust
from tests.fixtures.clock import FakeClock
from tests.fixtures.tokens import BASE_URL, RESOURCE

CLIENT_ID = "gistgate-rs"
PATH = "/introspect"


@pytest.fixture
def clock():
    return FakeClock(float(int(time.time())))


@pytest.fixture
def client_secret():
    return secrets.token_urlsafe(24)


@pytest.fixture
def settings(idp):
    return load_settings(
        {
            "AUTH_MODE": "introspection",
            "OAUTH_ISSUER": idp.issuer,
            "OAUTH_INTROSPECTION_URL": idp.server.url_for(PATH),
            "OAUTH_INTROSPECTION_CLIENT_ID": CLIENT_ID,
        }
    )


@pytest.fixture
def trust(settings):
    return resolve_trust(settings, BASE_URL)


@pytest.fixture
def introspector(settings, client_secret, clock):
    return Introspector(
        settings.introspection_url,
        settings.introspection_client_id,
        lambda: client_secret,
        get_preset(settings.idp_preset),
        leeway=settings.leeway_seconds,
        clock=clock,
    )


@pytest.fixture
def token():
    return secrets.token_urlsafe(32)


@pytest.fixture
def serve(idp):
    """Make the endpoint answer ``body`` (JSON) to every POST."""

    def answer(body, *, status=200):
        idp.server.clear_all_handlers()
        handler = idp.server.expect_request(PATH, method="POST")
        if status == 200:
            handler.respond_with_json(body)
        else:
            handler.respond_with_data(body, status=status)

    return answer


def active(idp, clock, **overrides):
    """An active answer for a token meant for us; ``None`` drops a member."""
    body = {
        "active": True,
        "iss": idp.issuer,
        "aud": RESOURCE,
        "sub": "user-123",
        "client_id": "client-abc",
        "scope": "read:gists write:gists",
        "token_type": "Bearer",
        "exp": int(clock.now) + 300,
        "iat": int(clock.now) - 5,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def requests(idp):
    return [request for request, _ in idp.server.log if request.path == PATH]


def test_active_token_gives_a_principal(introspector, trust, idp, clock, serve, token):
    body = active(idp, clock)
    serve(body)

    principal = introspector.validate(token, trust)

    assert principal == Principal(
        sub="user-123",
        client_id="client-abc",
        scopes=("read:gists", "write:gists"),
        issuer=idp.issuer,
        expires_at=body["exp"],
        token_kind="introspection",
    )


def test_request_is_a_form_post_with_basic_client_auth(
    introspector, trust, idp, clock, serve, token, client_secret
):
    serve(active(idp, clock))

    introspector.validate(token, trust)

    (request,) = requests(idp)
    assert request.method == "POST"
    assert request.mimetype == "application/x-www-form-urlencoded"
    assert request.form.to_dict() == {"token": token, "token_type_hint": "access_token"}
    expected = base64.b64encode(f"{CLIENT_ID}:{client_secret}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert token not in request.full_path


def test_answer_without_iss_speaks_for_the_first_issuer(
    introspector, trust, idp, clock, serve, token
):
    serve(active(idp, clock, iss=None, sub=None, scope=None))

    principal = introspector.validate(token, trust)

    assert principal.issuer == idp.issuer
    assert principal.sub == "client-abc"
    assert principal.scopes == ()


@pytest.mark.parametrize("body", [{"active": False}, {}], ids=["active-false", "empty"])
def test_inactive_answers_are_rejected(introspector, trust, serve, token, body):
    serve(body)

    with pytest.raises(InactiveToken):
        introspector.validate(token, trust)


@pytest.mark.parametrize(
    "value", [False, "true", "True", 1, None], ids=["false", "string", "title", "one", "absent"]
)
def test_active_must_be_the_json_boolean_true(introspector, trust, idp, clock, serve, token, value):
    # Every other member is valid: only `active` decides.
    serve(active(idp, clock, active=value))

    with pytest.raises(InactiveToken):
        introspector.validate(token, trust)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        pytest.param({"aud": "https://other.example.com/mcp"}, BadAudience, id="wrong-aud"),
        pytest.param({"aud": [CLIENT_ID, "api://upstream"]}, BadAudience, id="aud-list-without-us"),
        pytest.param({"aud": RESOURCE + "/"}, BadAudience, id="aud-trailing-slash"),
        pytest.param({"aud": None}, InvalidClaim, id="aud-missing"),
        pytest.param({"aud": 7}, InvalidClaim, id="aud-number"),
        pytest.param({"exp": lambda now: now - 61}, TokenExpired, id="exp-past-leeway"),
        pytest.param({"exp": "9999999999"}, InvalidClaim, id="exp-string"),
        pytest.param({"token_type": "refresh_token"}, InvalidClaim, id="refresh-token"),
        pytest.param({"token_type": 1}, InvalidClaim, id="token-type-number"),
        pytest.param({"iss": "https://evil.example.com"}, BadIssuer, id="untrusted-iss"),
        pytest.param({"sub": None, "client_id": None}, InvalidClaim, id="no-subject"),
        pytest.param({"scope": ["read:gists", 3]}, InvalidClaim, id="scope-bad-type"),
    ],
)
def test_active_but_not_for_us_is_a_token_error(
    introspector, trust, idp, clock, serve, token, overrides, error
):
    now = int(clock.now)
    overrides = {k: v(now) if callable(v) else v for k, v in overrides.items()}
    serve(active(idp, clock, **overrides))

    with pytest.raises(error) as caught:
        introspector.validate(token, trust)

    assert isinstance(caught.value, TokenError)
    assert len(introspector._cache) == 0


def test_exp_inside_the_leeway_is_accepted(introspector, trust, idp, clock, serve, token):
    serve(active(idp, clock, exp=int(clock.now) - 30))

    assert introspector.validate(token, trust).sub == "user-123"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param("upstream exploded", 500, id="http-500"),
        pytest.param("unavailable", 503, id="http-503"),
        pytest.param("unauthorized", 401, id="http-401"),
        pytest.param("<html>not json</html>", 200, id="not-json"),
    ],
)
def test_endpoint_failure_fails_closed(idp, introspector, trust, token, body, status):
    idp.server.expect_request(PATH, method="POST").respond_with_data(body, status=status)

    with pytest.raises(VerifierUnavailable):
        introspector.validate(token, trust)


@pytest.mark.parametrize(
    "body", [[{"active": True}], "active", True, None], ids=["list", "string", "bool", "null"]
)
def test_json_that_is_not_an_object_fails_closed(introspector, trust, serve, token, body):
    serve(body)

    with pytest.raises(VerifierUnavailable):
        introspector.validate(token, trust)


def test_body_over_64kb_fails_closed(introspector, trust, idp, clock, serve, token):
    serve(active(idp, clock, padding="x" * INTROSPECTION_MAX_BYTES))

    with pytest.raises(VerifierUnavailable, match="too_large"):
        introspector.validate(token, trust)


def test_body_under_64kb_is_accepted(introspector, trust, idp, clock, serve, token):
    serve(active(idp, clock, padding="x" * (INTROSPECTION_MAX_BYTES - 2_000)))

    assert introspector.validate(token, trust).sub == "user-123"


def test_timeout_fails_closed(idp, settings, client_secret, clock, trust, token):
    # The endpoint holds the request until released; the client gives up first.
    introspector = Introspector(
        settings.introspection_url,
        settings.introspection_client_id,
        lambda: client_secret,
        get_preset(settings.idp_preset),
        timeout=0.2,
        clock=clock,
    )
    release = threading.Event()

    def hold(request):
        release.wait(2)
        return Response("{}", content_type="application/json")

    idp.server.expect_request(PATH, method="POST").respond_with_handler(hold)
    started = time.monotonic()
    try:
        with pytest.raises(VerifierUnavailable, match="timeout"):
            introspector.validate(token, trust)
        assert time.monotonic() - started < 0.6
    finally:
        release.set()
        # The held request is logged when its handler returns: wait for it here, or it
        # lands in a later test's request log (a cache test then counts two requests).
        deadline = time.monotonic() + 5
        while not requests(idp) and time.monotonic() < deadline:
            time.sleep(0.01)


def test_unreachable_endpoint_fails_closed(trust, token, clock):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = Introspector(
        f"http://127.0.0.1:{port}{PATH}", CLIENT_ID, lambda: "s", get_preset("generic"), clock=clock
    )

    with pytest.raises(VerifierUnavailable, match="transport"):
        dead.validate(token, trust)


def test_positive_result_is_cached(introspector, trust, idp, clock, serve, token):
    serve(active(idp, clock))

    first = introspector.validate(token, trust)
    second = introspector.validate(token, trust)

    assert second == first
    assert len(requests(idp)) == 1


def test_cache_is_per_token(introspector, trust, idp, clock, serve, token):
    serve(active(idp, clock))

    introspector.validate(token, trust)
    introspector.validate(secrets.token_urlsafe(32), trust)

    assert len(requests(idp)) == 2


@pytest.mark.parametrize(
    ("case", "error"),
    [("inactive", InactiveToken), ("wrong-aud", BadAudience), ("down", VerifierUnavailable)],
)
def test_negative_results_are_not_cached(
    introspector, trust, idp, clock, serve, token, case, error
):
    if case == "inactive":
        serve({"active": False})
    elif case == "wrong-aud":
        serve(active(idp, clock, aud="https://other.example.com/mcp"))
    else:
        serve("down", status=500)

    for _ in range(2):
        with pytest.raises(error):
            introspector.validate(token, trust)

    assert len(requests(idp)) == 2


def test_cache_never_outlives_exp(introspector, trust, idp, clock, serve, token):
    serve(active(idp, clock, exp=int(clock.now) + 30))
    introspector.validate(token, trust)

    clock.advance(29)
    introspector.validate(token, trust)
    assert len(requests(idp)) == 1

    clock.advance(2)
    introspector.validate(token, trust)
    assert len(requests(idp)) == 2


def test_cache_is_capped_at_60_seconds(introspector, trust, idp, clock, serve, token):
    serve(active(idp, clock, exp=int(clock.now) + 3600))
    introspector.validate(token, trust)

    clock.advance(CACHE_SECONDS - 1)
    introspector.validate(token, trust)
    assert len(requests(idp)) == 1

    clock.advance(2)
    introspector.validate(token, trust)
    assert len(requests(idp)) == 2


def test_answer_without_exp_is_cached_for_60_seconds(introspector, trust, idp, clock, serve, token):
    serve(active(idp, clock, exp=None))
    assert introspector.validate(token, trust).expires_at == 0

    clock.advance(CACHE_SECONDS - 1)
    introspector.validate(token, trust)
    clock.advance(2)
    introspector.validate(token, trust)

    assert len(requests(idp)) == 2


def test_cache_key_is_the_sha256_of_the_token(introspector, trust, idp, clock, serve, token):
    serve(active(idp, clock))

    introspector.validate(token, trust)

    keys = list(introspector._cache._items)
    assert keys == [(hashlib.sha256(token.encode()).digest(), trust.resource)]
    assert keys == [(token_digest(token), trust.resource)]
    assert all(isinstance(key[0], bytes) and len(key[0]) == 32 for key in keys)
    assert all(token not in key and token.encode() not in key for key in keys)


def test_a_given_digest_is_used_as_the_key(introspector, trust, idp, clock, serve, token):
    serve(active(idp, clock))
    digest = token_digest(token)

    introspector.validate(token, trust, digest)
    introspector.validate(token, trust)

    assert list(introspector._cache._items) == [(digest, trust.resource)]
    assert len(requests(idp)) == 1


def test_cached_answer_is_not_reused_for_another_resource(
    introspector, settings, trust, idp, clock, serve, token
):
    # Same warm authorizer, two public URLs (custom domain and execute-api, or two stages).
    serve(active(idp, clock))
    introspector.validate(token, trust)
    other = resolve_trust(settings, "https://other-api.example.com/dev")
    assert RESOURCE not in other.audiences_for(idp.issuer)

    with pytest.raises(BadAudience):
        introspector.validate(token, other)


def test_clear_forgets_cached_answers(introspector, trust, idp, clock, serve, token):
    serve(active(idp, clock))
    introspector.validate(token, trust)

    introspector.clear()
    introspector.validate(token, trust)

    assert len(requests(idp)) == 2
