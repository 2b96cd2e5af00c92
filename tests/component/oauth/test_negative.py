"""Every negative case of the authorization server (mcp-auth-requirements.md), over
real HTTP through the local gateway, with moto and the fake GitHub login."""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fixtures.loopback import MetadataDocuments
from tests.fixtures.oauth_stack import (
    ALICE_GITHUB_ID,
    CLIENT_REDIRECT,
    FORM_TOKEN,
    MACHINE_CLIENT,
    Browser,
    Flow,
)

OPERATOR_IAT = "operator-iat-" + "k" * 20


@pytest.fixture
def flow(oauth_stack) -> Flow:
    return Flow(oauth_stack)


def _query(response: httpx.Response) -> dict[str, str]:
    location = response.headers["location"]
    return {k: v[-1] for k, v in parse_qs(urlsplit(location).query).items()}


def _jwt_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


# -- the happy path's guarantees ---------------------------------------------------------


def test_issued_access_token_is_an_rfc9068_jwt_the_authorizer_accepts(flow):
    client = flow.register()
    tokens = flow.tokens(client["client_id"])
    header = json.loads(base64.urlsafe_b64decode(tokens["access_token"].split(".")[0] + "=="))
    claims = _jwt_claims(tokens["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert claims["iss"] == flow.stack.base
    assert claims["aud"] == flow.stack.mcp_url
    assert claims["sub"] == f"github|{ALICE_GITHUB_ID}"
    assert claims["client_id"] == client["client_id"]
    assert claims["scope"] == "read:gists write:gists"
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["jti"]
    assert tokens["token_type"] == "Bearer"
    response = flow.mcp(tokens["access_token"])
    assert response.status_code == 200
    assert f"github|{ALICE_GITHUB_ID}" in response.text


def test_redirect_carries_code_state_and_iss(flow):
    client = flow.register()
    query = flow.code(client["client_id"])
    assert query["state"] == "client-state-1"
    assert query["iss"] == flow.stack.base
    assert len(query["code"]) >= 40


def test_consent_is_remembered_per_browser_and_client(flow):
    client = flow.register()
    flow.code(client["client_id"])
    flow.code(client["client_id"])
    assert len(flow.browser.pages) == 1
    other = Browser()
    other.authorize(flow.authorize_url(client["client_id"]))
    assert len(other.pages) == 1


def test_denied_consent_redirects_with_access_denied(oauth_stack):
    flow = Flow(oauth_stack)
    flow.browser = Browser(decision="deny")
    client = flow.register()
    query = flow.code(client["client_id"])
    assert query["error"] == "access_denied"
    assert query["state"] == "client-state-1"
    assert "code" not in query


# -- PKCE ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"code_challenge": None}, "code_challenge is required"),
        ({"code_challenge_method": "plain"}, "must be S256"),
        ({"code_challenge_method": None}, "must be S256"),
        ({"code_challenge": "short"}, "not a S256 challenge"),
    ],
)
def test_authorize_without_an_s256_challenge_is_refused(flow, params, fragment):
    """An open-registration client's bad request is our page, never a redirect."""
    client = flow.register()
    response = flow.browser.http.get(flow.authorize_url(client["client_id"], **params))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert fragment in html.unescape(response.text)
    assert response.headers["content-type"].startswith("text/html")
    assert flow.stack.github.count("GET", "/login/oauth/authorize") == 0


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"resource": "https://other.example/mcp"}, "invalid_target"),
    ],
)
def test_an_operator_registered_client_gets_errors_at_its_redirect_uri(
    make_oauth_stack, params, error
):
    flow = Flow(make_oauth_stack(OAUTH_INITIAL_ACCESS_TOKEN=OPERATOR_IAT))
    registered = flow.register_as_operator(
        OPERATOR_IAT,
        client_name="Operator app",
        redirect_uris=[CLIENT_REDIRECT],
        token_endpoint_auth_method="none",
    )
    response = flow.browser.http.get(flow.authorize_url(registered["client_id"], **params))
    assert response.status_code == 302
    query = _query(response)
    assert query["error"] == error
    assert query["state"] == "client-state-1"
    assert query["iss"] == flow.stack.base
    assert flow.stack.github.count("GET", "/login/oauth/authorize") == 0


def test_wrong_code_verifier_is_invalid_grant(flow):
    client = flow.register()
    code = flow.code(client["client_id"])["code"]
    response = flow.redeem(client["client_id"], code, code_verifier="x" * 50)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "code_verifier" in response.json()["error_description"]


# -- redirect URIs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        CLIENT_REDIRECT + "/extra",
        "http://127.0.0.1:33419/callback",
        CLIENT_REDIRECT + "?next=https://evil.example",
    ],
)
def test_unregistered_redirect_uri_renders_a_page_and_never_redirects(flow, redirect_uri):
    client = flow.register()
    response = flow.browser.http.get(
        flow.authorize_url(client["client_id"], redirect_uri=redirect_uri)
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "redirect_uri" in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"


def test_unknown_client_renders_a_page(flow):
    response = flow.browser.http.get(flow.authorize_url("no-such-client"))
    assert response.status_code == 400
    assert "location" not in response.headers


def test_redirect_uri_mismatch_at_the_token_endpoint(flow):
    client = flow.register(redirect_uris=[CLIENT_REDIRECT, "http://127.0.0.1:9999/cb"])
    code = flow.code(client["client_id"])["code"]
    response = flow.redeem(client["client_id"], code, redirect_uri="http://127.0.0.1:9999/cb")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


# -- resource indicators --------------------------------------------------------------------


def test_a_resource_that_is_not_ours_is_invalid_target(flow):
    client = flow.register()
    response = flow.browser.http.get(
        flow.authorize_url(client["client_id"], resource="https://other.example/mcp")
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "resource" in response.text

    code = flow.code(client["client_id"])["code"]
    token = flow.redeem(client["client_id"], code, resource="https://other.example/mcp")
    assert token.status_code == 400
    assert token.json()["error"] == "invalid_target"


# -- single use ------------------------------------------------------------------------------


def test_code_replay_is_refused_and_revokes_the_tokens_issued_from_it(flow):
    client = flow.register()
    code = flow.code(client["client_id"])["code"]
    first = flow.redeem(client["client_id"], code)
    assert first.status_code == 200
    replay = flow.redeem(client["client_id"], code)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    refreshed = flow.refresh(client["client_id"], first.json()["refresh_token"])
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"


def test_refresh_token_of_another_client_is_refused(flow):
    mine, theirs = flow.register(), flow.register()
    refresh = flow.tokens(mine["client_id"])["refresh_token"]
    response = flow.refresh(theirs["client_id"], refresh)
    assert response.json()["error"] == "invalid_grant"


def test_state_replay_on_the_callback_is_refused(flow):
    client = flow.register()
    url = flow.to_callback(client["client_id"]).headers["location"]
    first = flow.browser.http.get(url)
    assert first.status_code == 302
    assert "code" in _query(first)
    again = flow.browser.http.get(url)
    assert again.status_code == 400
    assert "expired or was already used" in again.text


def test_callback_from_another_browser_is_refused(flow):
    client = flow.register()
    callback = flow.to_callback(client["client_id"])
    response = httpx.get(callback.headers["location"])
    assert response.status_code == 403
    assert "location" not in response.headers


def test_consent_post_without_the_browser_cookie_is_refused(flow):
    client = flow.register()
    page = flow.consent_page(client["client_id"])
    token = FORM_TOKEN.search(page.text).group(1)
    forged = httpx.post(
        flow.stack.base + "/oauth/consent", data={"form_token": token, "decision": "approve"}
    )
    assert forged.status_code == 403
    assert "location" not in forged.headers
    assert flow.stack.github.count("GET", "/login/oauth/authorize") == 0
    # The real browser can still answer it: on to the sign-in, then back with a code.
    real = flow.answer(page)
    assert real.status_code == 302
    back = flow.browser.follow(real.headers["location"], until=CLIENT_REDIRECT)
    assert "code" in _query(back)


# -- dynamic client registration ------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://evil.example/callback",
        "javascript:alert(1)",
        "https://app.example/cb#fragment",
        "not a url",
        "",
        "https://app.example/c\tb",
    ],
)
def test_dcr_refuses_a_bad_redirect_uri(flow, redirect_uri):
    response = flow.api.post(
        "/oauth/register",
        json={"redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            {"redirect_uris": [CLIENT_REDIRECT], "grant_types": ["implicit"]},
            "invalid_client_metadata",
        ),
        (
            {"redirect_uris": [CLIENT_REDIRECT], "response_types": ["token"]},
            "invalid_client_metadata",
        ),
        ({"redirect_uris": [CLIENT_REDIRECT], "scope": "root"}, "invalid_client_metadata"),
        ({"redirect_uris": [CLIENT_REDIRECT], "scope": "admin:server"}, "invalid_client_metadata"),
        ({"grant_types": ["client_credentials"]}, "invalid_client_metadata"),
        ({"redirect_uris": []}, "invalid_redirect_uri"),
        ([], "invalid_client_metadata"),
    ],
)
def test_dcr_refuses_bad_metadata(flow, body, error):
    response = flow.api.post("/oauth/register", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_dcr_confidential_client_secret_is_shown_once_and_stored_hashed(flow):
    client = flow.register(token_endpoint_auth_method="client_secret_basic")
    assert client["client_secret"]
    table = flow.stack.aws.client("dynamodb").scan(TableName=flow.stack.aws.table)["Items"]
    assert client["client_secret"] not in json.dumps(table)


def test_dcr_is_rate_limited_per_address(make_oauth_stack):
    flow = Flow(make_oauth_stack(REGISTRATION_RATE_PER_MINUTE="2"))
    flow.register()
    flow.register()
    response = flow.api.post("/oauth/register", json={"redirect_uris": [CLIENT_REDIRECT]})
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1


# -- client credentials ---------------------------------------------------------------------


@pytest.fixture
def machine(make_oauth_stack):
    flow = Flow(make_oauth_stack(OAUTH_INITIAL_ACCESS_TOKEN=OPERATOR_IAT))
    return flow, flow.register_as_operator(OPERATOR_IAT, **MACHINE_CLIENT)


def test_client_credentials_token_carries_the_client_as_subject(machine):
    flow, client = machine
    response = flow.api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "refresh_token" not in body
    claims = _jwt_claims(body["access_token"])
    assert claims["sub"] == f"client|{client['client_id']}"
    assert claims["scope"] == "read:gists"
    assert flow.mcp(body["access_token"]).status_code == 200


def test_client_credentials_with_a_wrong_secret_is_invalid_client(machine):
    flow, client = machine
    response = flow.api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], "wrong-secret"),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


def test_client_credentials_with_an_unregistered_scope_is_invalid_scope(machine):
    flow, client = machine
    response = flow.api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "write:gists"},
        auth=(client["client_id"], client["client_secret"]),  # its registered method
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_a_public_client_cannot_use_client_credentials(flow):
    client = flow.register()
    response = flow.api.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": client["client_id"]}
    )
    assert response.json()["error"] == "unauthorized_client"


def test_unsupported_grant_type(flow):
    response = flow.api.post("/oauth/token", data={"grant_type": "password"})
    assert response.json()["error"] == "unsupported_grant_type"


# -- revocation -------------------------------------------------------------------------------


def test_revoking_a_refresh_token_ends_its_family(flow):
    client = flow.register()
    refresh = flow.tokens(client["client_id"])["refresh_token"]
    response = flow.api.post(
        "/oauth/revoke", data={"token": refresh, "client_id": client["client_id"]}
    )
    assert response.status_code == 200
    assert flow.refresh(client["client_id"], refresh).json()["error"] == "invalid_grant"


def test_revoking_an_unknown_token_is_still_200(flow):
    client = flow.register()
    response = flow.api.post(
        "/oauth/revoke", data={"token": "nonsense", "client_id": client["client_id"]}
    )
    assert response.status_code == 200


# -- client ID metadata documents ----------------------------------------------------------


@pytest.fixture
def documents():
    served = MetadataDocuments()
    yield served
    served.close()


def test_cimd_client_authorizes_without_registration(flow, documents):
    client_id = documents.url + "/client.json"
    documents.add(
        "/client.json",
        {"client_id": client_id, "client_name": "Docs client", "redirect_uris": [CLIENT_REDIRECT]},
    )
    query = flow.code(client_id)
    assert "Docs client" in flow.browser.pages[0]
    response = flow.redeem(client_id, query["code"])
    assert response.status_code == 200
    assert _jwt_claims(response.json()["access_token"])["client_id"] == client_id
    assert "refresh_token" not in response.json()  # the document declares no refresh grant


def test_cimd_client_gets_the_grants_its_document_declares(flow, documents):
    client_id = documents.url + "/refreshing.json"
    documents.add(
        "/refreshing.json",
        {
            "client_id": client_id,
            "redirect_uris": [CLIENT_REDIRECT],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        },
    )
    response = flow.redeem(client_id, flow.code(client_id)["code"])
    assert response.status_code == 200
    assert flow.refresh(client_id, response.json()["refresh_token"]).status_code == 200
    machine = flow.api.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id}
    )
    assert machine.json()["error"] == "unauthorized_client"


@pytest.mark.parametrize(
    "document",
    [
        {
            "client_id": "https://someone-else.example/client.json",
            "redirect_uris": [CLIENT_REDIRECT],
        },
        {"client_id": "SELF", "redirect_uris": ["http://127.0.0.1:1/other"]},
        {
            "client_id": "SELF",
            "redirect_uris": [CLIENT_REDIRECT],
            "token_endpoint_auth_method": "client_secret_post",
        },
        {"client_id": "SELF", "redirect_uris": [CLIENT_REDIRECT], "client_name": "x" * 6000},
    ],
)
def test_cimd_document_that_does_not_vouch_for_the_request_renders_a_page(
    flow, documents, document
):
    client_id = documents.url + "/bad.json"
    documents.add(
        "/bad.json",
        {
            **document,
            "client_id": client_id if document["client_id"] == "SELF" else document["client_id"],
        },
    )
    response = flow.browser.http.get(flow.authorize_url(client_id))
    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize(
    "client_id",
    [
        "https://127.0.0.1/client.json",
        "https://10.0.0.1/client.json",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/client.json",
        "https://localhost/client.json",
    ],
)
def test_cimd_refuses_private_addresses_outside_dev_mode(make_oauth_stack, client_id):
    flow = Flow(make_oauth_stack(GISTGATE_DEV_MODE="false"))
    response = flow.browser.http.get(flow.authorize_url(client_id))
    assert response.status_code == 400
    assert "location" not in response.headers
