"""The fake GitHub's OAuth web flow: /login/oauth/authorize and /login/oauth/access_token."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from gistgate_dev.local.fake_github import FakeGitHub

CLIENT_ID = "Iv1.fakeclient"
CLIENT_SECRET = "fake-client-secret-" + "x" * 21
CALLBACK = "https://gistgate.example/oauth/callback"
ALICE = "ghp_alice_" + "a" * 30
BOB = "ghp_bob_" + "b" * 32


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as github:
        github.add_user(ALICE, "alice", 1001)
        github.add_user(BOB, "bob", 1002)
        github.add_app(CLIENT_ID, CLIENT_SECRET, CALLBACK)
        yield github


@pytest.fixture
def http(fake: FakeGitHub) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, follow_redirects=False, timeout=5) as client:
        yield client


def authorize(http: httpx.Client, **overrides: str | None) -> httpx.Response:
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": CALLBACK,
        "scope": "gist read:user",
        "state": "st-123",
    }
    params.update(overrides)
    return http.get(
        "/login/oauth/authorize", params={k: v for k, v in params.items() if v is not None}
    )


def code_from(response: httpx.Response) -> str:
    assert response.status_code == 302
    return parse_qs(urlsplit(response.headers["location"]).query)["code"][0]


def exchange(http: httpx.Client, code: str, *, as_json: bool = True, **fields: str) -> dict:
    data = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code": code, **fields}
    headers = {"Accept": "application/json"} if as_json else {}
    response = http.post("/login/oauth/access_token", data=data, headers=headers)
    assert response.status_code == 200  # GitHub answers its OAuth errors with 200 too
    if as_json:
        assert response.headers["content-type"].startswith("application/json")
        return response.json()
    assert response.headers["content-type"].startswith("application/x-www-form-urlencoded")
    return {k: v[0] for k, v in parse_qs(response.text).items()}


def test_authorize_redirects_with_code_and_state(fake: FakeGitHub, http: httpx.Client) -> None:
    response = authorize(http, code_challenge=challenge_of("v" * 43), code_challenge_method="S256")

    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = parse_qs(location.query)
    assert query["state"] == ["st-123"]
    code = query["code"][0]
    grant = fake.codes[code]
    assert (grant.client_id, grant.redirect_uri, grant.login_token) == (CLIENT_ID, CALLBACK, BOB)
    assert grant.scope == "gist,read:user"
    assert grant.code_challenge == challenge_of("v" * 43)
    # Recorded without the query string: no code, state or challenge in the log.
    assert fake.requests == [("GET", "/login/oauth/authorize", None)]


def test_exchange_json_then_the_token_works_as_that_user(
    fake: FakeGitHub, http: httpx.Client
) -> None:
    verifier = secrets.token_urlsafe(40)
    code = code_from(
        authorize(http, code_challenge=challenge_of(verifier), code_challenge_method="S256")
    )

    answer = exchange(http, code, redirect_uri=CALLBACK, code_verifier=verifier)

    assert set(answer) == {"access_token", "token_type", "scope"}
    assert answer["token_type"] == "bearer"
    assert answer["scope"] == "gist,read:user"
    token = answer["access_token"]
    assert token.startswith("gho_")
    assert token not in (ALICE, BOB)
    me = http.get("/user", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["login"] == "bob"
    assert me.headers["x-oauth-scopes"] == "gist, read:user"
    created = http.post(
        "/gists",
        json={"files": {"a.txt": {"content": "hi"}}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.json()["owner"]["login"] == "bob"
    # Nothing secret was recorded.
    recorded = repr(fake.requests)
    assert CLIENT_SECRET not in recorded
    assert code not in recorded
    assert verifier not in recorded


def test_exchange_form_encoded_reply_and_json_request_body(
    fake: FakeGitHub, http: httpx.Client
) -> None:
    answer = exchange(http, code_from(authorize(http)), as_json=False)
    assert answer["token_type"] == "bearer"
    assert answer["scope"] == "gist,read:user"
    assert answer["access_token"] in fake.users

    body = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "code": code_from(authorize(http)),
    }
    response = http.post(
        "/login/oauth/access_token", json=body, headers={"Accept": "application/json"}
    )
    assert response.json()["access_token"].startswith("gho_")


def test_code_is_single_use(http: httpx.Client) -> None:
    code = code_from(authorize(http))
    assert "access_token" in exchange(http, code)

    replay = exchange(http, code)

    assert replay == {
        "error": "bad_verification_code",
        "error_description": "The code passed is incorrect or expired.",
        "error_uri": "https://docs.github.com/apps/managing-oauth-apps/"
        "troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code",
    }
    assert exchange(http, "0" * 20)["error"] == "bad_verification_code"


def test_expired_code(fake: FakeGitHub, http: httpx.Client) -> None:
    fake.code_ttl = 0
    assert exchange(http, code_from(authorize(http)))["error"] == "bad_verification_code"


def test_wrong_or_missing_pkce_verifier(http: httpx.Client) -> None:
    challenge = challenge_of("right-verifier-" + "r" * 30)
    pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}

    wrong = exchange(http, code_from(authorize(http, **pkce)), code_verifier="w" * 43)
    missing = exchange(http, code_from(authorize(http, **pkce)))

    assert wrong["error"] == "bad_verification_code"
    assert missing["error"] == "bad_verification_code"
    assert "access_token" not in wrong


def test_plain_pkce_is_refused_at_authorize(http: httpx.Client) -> None:
    response = authorize(http, code_challenge="x" * 43, code_challenge_method="plain")
    assert response.status_code == 400
    assert "location" not in response.headers


def test_wrong_client_secret_keeps_the_code(http: httpx.Client) -> None:
    code = code_from(authorize(http))

    wrong = exchange(http, code, client_secret="not-the-secret")

    assert wrong["error"] == "incorrect_client_credentials"
    assert wrong["error_description"] == "The client_id and/or client_secret passed are incorrect."
    assert "access_token" in exchange(http, code)  # a bad guess does not burn the code


def test_code_belongs_to_its_client(fake: FakeGitHub, http: httpx.Client) -> None:
    fake.add_app("Iv1.other", "other-secret")
    code = code_from(authorize(http))
    answer = exchange(http, code, client_id="Iv1.other", client_secret="other-secret")
    assert answer["error"] == "bad_verification_code"


def test_unknown_client_on_authorize_does_not_redirect(
    fake: FakeGitHub, http: httpx.Client
) -> None:
    response = authorize(http, client_id="Iv1.nobody")

    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert fake.codes == {}


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/oauth/callback",
        "https://gistgate.example/oauth/callbackx",  # a prefix is not a subdirectory
        "https://gistgate.example/other",
        "https://gistgate.example:8443/oauth/callback",
        "http://gistgate.example/oauth/callback",
    ],
)
def test_redirect_uri_mismatch_on_authorize(
    fake: FakeGitHub, http: httpx.Client, redirect_uri: str
) -> None:
    response = authorize(http, redirect_uri=redirect_uri)

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "redirect_uri_mismatch" in response.text
    assert fake.codes == {}


def test_redirect_uri_rules_that_pass(fake: FakeGitHub, http: httpx.Client) -> None:
    sub = CALLBACK + "/deeper"
    assert urlsplit(authorize(http, redirect_uri=sub).headers["location"]).path.endswith("/deeper")
    # Without redirect_uri, GitHub uses the registered callback.
    assert authorize(http, redirect_uri=None).headers["location"].startswith(CALLBACK + "?")
    # On a loopback callback the port may differ.
    fake.add_app("Iv1.cli", "cli-secret", "http://127.0.0.1:1234/cb")
    response = authorize(http, client_id="Iv1.cli", redirect_uri="http://127.0.0.1:5678/cb")
    assert response.headers["location"].startswith("http://127.0.0.1:5678/cb?code=")
    # With no registered callback any redirect_uri goes.
    fake.add_app("Iv1.open", "open-secret")
    response = authorize(http, client_id="Iv1.open", redirect_uri="http://localhost:9/x?keep=1")
    assert response.headers["location"].startswith("http://localhost:9/x?keep=1&code=")


def test_redirect_uri_mismatch_on_exchange(http: httpx.Client) -> None:
    code = code_from(authorize(http))
    answer = exchange(http, code, redirect_uri=CALLBACK + "/elsewhere")
    assert answer["error"] == "redirect_uri_mismatch"
    assert answer["error_description"] == (
        "The redirect_uri MUST match the registered callback URL for this application."
    )


def test_login_user_selection(fake: FakeGitHub, http: httpx.Client) -> None:
    def who() -> str:
        token = exchange(http, code_from(authorize(http)))["access_token"]
        return http.get("/user", headers={"Authorization": f"Bearer {token}"}).json()["login"]

    assert who() == "bob"  # the most recently added user
    fake.login_user = ALICE
    assert who() == "alice"
    fake.login_user = None
    fake.add_user("ghp_carol_" + "c" * 30, "carol", 1003)
    assert who() == "carol"


def test_no_user_to_sign_in() -> None:
    with FakeGitHub() as empty:
        empty.add_app(CLIENT_ID, CLIENT_SECRET)
        response = httpx.get(
            f"{empty.url}/login/oauth/authorize",
            params={"client_id": CLIENT_ID, "redirect_uri": CALLBACK},
        )
    assert response.status_code == 401
    assert "location" not in response.headers


def test_user_denies(fake: FakeGitHub, http: httpx.Client) -> None:
    fake.deny_authorization = True
    query = parse_qs(urlsplit(authorize(http).headers["location"]).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["st-123"]
    assert "code" not in query


def test_grant_revocation_kills_the_issued_tokens(fake: FakeGitHub, http: httpx.Client) -> None:
    first = exchange(http, code_from(authorize(http)))["access_token"]
    second = exchange(http, code_from(authorize(http)))["access_token"]
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()

    response = http.request(
        "DELETE",
        f"/applications/{CLIENT_ID}/grant",
        json={"access_token": first},
        headers={"Authorization": f"Basic {basic}"},
    )

    assert response.status_code == 204
    assert fake.revoked == [(CLIENT_ID, first), (CLIENT_ID, second)]
    for token in (first, second):
        assert http.get("/user", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert http.get("/user", headers={"Authorization": f"Bearer {BOB}"}).status_code == 200


def test_another_apps_token_is_not_revoked(fake: FakeGitHub, http: httpx.Client) -> None:
    token = exchange(http, code_from(authorize(http)))["access_token"]
    fake.add_app("Iv1.other", "other-secret")
    basic = base64.b64encode(b"Iv1.other:other-secret").decode()
    response = http.request(
        "DELETE",
        "/applications/Iv1.other/grant",
        json={"access_token": token},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 404
    assert token in fake.users
