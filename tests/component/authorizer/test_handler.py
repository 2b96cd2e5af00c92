"""functions/authorizer/app.py as Lambda runs it: cold start, then warm calls."""

from __future__ import annotations

from tests.fixtures.events import authorizer_event
from tests.fixtures.handlers import load_handler
from tests.fixtures.tokens import claims


def test_cold_start_prefetches_the_jwks_once_then_serves_from_cache(
    idp, keyring, monkeypatch
) -> None:
    app = load_handler(
        "authorizer",
        {"AUTH_MODE": "jwt", "OAUTH_ISSUER": idp.issuer, "OAUTH_JWKS_URI": idp.jwks_uri},
        monkeypatch,
    )
    assert idp.jwks_fetches == 1  # fetched during the import, before any request
    for key in (keyring.rsa, keyring.ec, keyring.rsa):
        result = app.handler(authorizer_event(f"Bearer {key.sign(claims(idp.issuer))}"), None)
        assert result["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert idp.jwks_fetches == 1


def test_allow_output_is_a_whole_api_policy_with_string_context(idp, keyring, monkeypatch) -> None:
    app = load_handler(
        "authorizer",
        {"AUTH_MODE": "jwt", "OAUTH_ISSUER": idp.issuer, "OAUTH_JWKS_URI": idp.jwks_uri},
        monkeypatch,
    )
    token = keyring.ec.sign(claims(idp.issuer, scp="ignored", scope="read:gists  write:gists"))
    result = app.handler(authorizer_event(f"Bearer {token}"), None)
    assert result["principalId"] == "user-123"
    assert result["policyDocument"]["Statement"] == [
        {
            "Action": "execute-api:Invoke",
            "Effect": "Allow",
            "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123defg/prod/*/*",
        }
    ]
    context = result["context"]
    assert set(context) == {"sub", "client_id", "scope", "iss", "exp", "token_kind"}
    assert all(isinstance(v, str) for v in context.values())
    assert context["scope"] == "read:gists write:gists ignored"
    assert context["iss"] == idp.issuer
    assert context["token_kind"] == "jwt"
    assert int(context["exp"]) > 0


def test_builtin_mode_without_base_url_does_not_fetch_at_import(idp, monkeypatch) -> None:
    load_handler(
        "authorizer",
        {"AUTH_MODE": "builtin", "OAUTH_ISSUER": "", "OAUTH_JWKS_URI": "", "PUBLIC_BASE_URL": ""},
        monkeypatch,
    )
    assert idp.jwks_fetches == 0
