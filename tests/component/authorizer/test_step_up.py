"""The authorizer's per-tool decision: a step-up 403 for a tools/call the token lacks scope for.

MCP 2026-07-28 names the tool in ``Mcp-Name``; the authorizer answers Deny with the
whole challenge in its context, which the ACCESS_DENIED gateway response sends as
``WWW-Authenticate`` (docs/step-up.md). Through functions/authorizer/app.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.events import authorizer_event
from tests.fixtures.handlers import load_handler
from tests.fixtures.tokens import API_DOMAIN, STAGE, claims

PRM = f"https://{API_DOMAIN}/{STAGE}/.well-known/oauth-protected-resource/mcp"
CALL_CREATE = {"Mcp-Method": "tools/call", "Mcp-Name": "create_gist"}


@pytest.fixture
def make_app(idp: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    def make(**env: str) -> Any:
        base = {"AUTH_MODE": "jwt", "OAUTH_ISSUER": idp.issuer, "OAUTH_JWKS_URI": idp.jwks_uri}
        return load_handler("authorizer", {**base, **env}, monkeypatch)

    return make


def decide(app: Any, token: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    event = authorizer_event(f"Bearer {token}")
    for name, value in (headers or {}).items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    result: dict[str, Any] = app.handler(event, None)
    return result


def effect(result: dict[str, Any]) -> str:
    return str(result["policyDocument"]["Statement"][0]["Effect"])


def test_a_read_only_token_calling_a_write_tool_gets_the_step_up_challenge(
    make_app: Any, keyring: Any, idp: Any
) -> None:
    app = make_app()
    token = keyring.rsa.sign(claims(idp.issuer, scope="read:gists"))

    result = decide(app, token, CALL_CREATE)

    assert effect(result) == "Deny"
    assert result["context"]["www_authenticate"] == (
        f'Bearer error="insufficient_scope", scope="write:gists", resource_metadata="{PRM}"'
    )
    # The Deny is a whole-API policy too, and the context stays strings only.
    assert result["policyDocument"]["Statement"][0]["Resource"].endswith(f"/{STAGE}/*/*")
    assert all(isinstance(v, str) for v in result["context"].values())


def test_the_challenge_lists_the_baseline_scopes_too(make_app: Any, keyring: Any, idp: Any) -> None:
    app = make_app(OAUTH_REQUIRED_SCOPES="read:gists")
    token = keyring.rsa.sign(claims(idp.issuer, scope="read:gists"))

    result = decide(app, token, CALL_CREATE)

    assert 'scope="read:gists write:gists"' in result["context"]["www_authenticate"]


@pytest.mark.parametrize(
    ("scope", "headers"),
    [
        ("read:gists write:gists", CALL_CREATE),  # the token has the scope
        ("read:gists", {"Mcp-Method": "tools/call", "Mcp-Name": "get_gist"}),
        ("read:gists", {"Mcp-Method": "tools/call", "Mcp-Name": "whoami"}),  # needs none
        ("read:gists", {"Mcp-Method": "tools/list"}),
        ("read:gists", None),  # a 2025-revision request: no headers, no per-tool decision
        ("read:gists", {"Mcp-Method": "tools/call", "Mcp-Name": "no_such_tool"}),
    ],
)
def test_other_requests_are_allowed(
    make_app: Any, keyring: Any, idp: Any, scope: str, headers: dict[str, str] | None
) -> None:
    app = make_app()
    token = keyring.ec.sign(claims(idp.issuer, scope=scope))

    result = decide(app, token, headers)

    assert effect(result) == "Allow"
    assert "www_authenticate" not in result["context"]


def test_with_a_cached_authorizer_the_answer_never_depends_on_the_tool(
    make_app: Any, keyring: Any, idp: Any
) -> None:
    # API Gateway would reuse this answer for every tool called with the token: an Allow
    # computed for get_gist must not be cached for create_gist, nor a Deny for get_gist.
    app = make_app(AUTHORIZER_RESULT_TTL="30")
    token = keyring.rsa.sign(claims(idp.issuer, scope="read:gists"))

    assert effect(decide(app, token, CALL_CREATE)) == "Allow"


def test_a_token_without_the_baseline_scopes_is_denied_with_a_challenge(
    make_app: Any, keyring: Any, idp: Any
) -> None:
    app = make_app(OAUTH_REQUIRED_SCOPES="read:gists,write:gists")
    token = keyring.rsa.sign(claims(idp.issuer, scope="read:gists"))

    result = decide(app, token)

    assert effect(result) == "Deny"
    assert result["context"]["www_authenticate"] == (
        'Bearer error="insufficient_scope", scope="read:gists write:gists", '
        f'resource_metadata="{PRM}"'
    )
