"""Dynamic registration by application_type (RFC 8252, OIDC Registration §2) through
/oauth/register, and a native app's private-use-scheme redirect through the whole flow."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.oauth_stack import Flow

CURSOR = "cursor://anysphere.cursor-retrieval/oauth/user-gistgate/callback"


@pytest.fixture
def flow(oauth_stack: Any) -> Flow:
    return Flow(oauth_stack)


def register(flow: Flow, **metadata: Any) -> Any:
    body = {"client_name": "App", "token_endpoint_auth_method": "none", **metadata}
    return flow.api.post("/oauth/register", json=body)


def test_a_cursor_shaped_client_registers_as_native_without_saying_so(flow: Flow) -> None:
    response = register(flow, redirect_uris=[CURSOR])

    assert response.status_code == 201, response.text
    assert response.json()["application_type"] == "native"  # inferred, stored, returned
    assert response.json()["redirect_uris"] == [CURSOR]


@pytest.mark.parametrize(
    ("application_type", "uris"),
    [
        ("web", [CURSOR]),  # a web client may not claim an app's scheme
        ("web", ["http://127.0.0.1:33418/callback"]),  # nor a loopback port
        ("native", ["myapp://callback"]),  # not reverse-domain: any app could claim it
        ("native", ["javascript://cursor.example/%0aalert(1)"]),
        (None, ["file://host.example/cb"]),
    ],
)
def test_redirects_outside_the_clients_type_are_refused(
    flow: Flow, application_type: str | None, uris: list[str]
) -> None:
    metadata: dict[str, Any] = {"redirect_uris": uris}
    if application_type:
        metadata["application_type"] = application_type
    response = register(flow, **metadata)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"
    assert uris[0] not in response.text  # the reason is ours, never the URI echoed


@pytest.mark.parametrize("bad", ["desktop", 1, ["native"], ""])
def test_an_unknown_application_type_is_invalid_client_metadata(flow: Flow, bad: Any) -> None:
    response = register(flow, application_type=bad, redirect_uris=["https://app.example/cb"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"


def test_a_claude_shaped_web_client_registers_as_web(flow: Flow) -> None:
    response = register(
        flow,
        application_type="web",
        redirect_uris=["https://claude.ai/api/mcp/auth_callback"],
    )
    assert response.status_code == 201, response.text
    assert response.json()["application_type"] == "web"


def test_a_native_app_gets_its_code_at_its_own_scheme_after_a_warned_consent(flow: Flow) -> None:
    client = register(flow, application_type="native", redirect_uris=[CURSOR]).json()
    url = flow.authorize_url(client["client_id"], redirect_uri=CURSOR)

    page = flow.browser.http.get(url)
    assert "opens an app on your device (cursor:)" in page.text  # the consent page warns
    answer = flow.browser.authorize(url, redirect_uri=CURSOR)
    tokens = flow.redeem(client["client_id"], answer["code"], redirect_uri=CURSOR)

    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["token_type"] == "Bearer"
