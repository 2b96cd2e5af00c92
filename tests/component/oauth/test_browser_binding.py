"""Every browser flow is bound to the person it was made for, and consent comes before
anything is stored or sent upstream. Black-box, over real HTTP through the local
gateway, with moto, the fake GitHub and a fake OIDC provider; the attacker's and the
victim's browsers are separate cookie jars."""

from __future__ import annotations

import html
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from gistgate.mcp.connect import issue_ticket
from gistgate.storage import keys
from gistgate.storage.vault import TokenVault
from tests.fixtures.loopback import MetadataDocuments
from tests.fixtures.oauth_stack import (
    ALICE_GITHUB_ID,
    CLIENT_REDIRECT,
    Browser,
    Flow,
)

ALICE = f"github|{ALICE_GITHUB_ID}"
BOB_GITHUB_TOKEN = "gho_boblogin_" + "b" * 27
BOB_GITHUB_ID = 5151
BOB = f"github|{BOB_GITHUB_ID}"


def _query(response: httpx.Response) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


def _items(stack, prefix: str) -> list[dict]:
    scan = stack.aws.client("dynamodb").scan(TableName=stack.aws.table)["Items"]
    return [i for i in scan if i["pk"]["S"].startswith(prefix) or i["sk"]["S"].startswith(prefix)]


def _vault(stack) -> TokenVault:
    return TokenVault(stack.aws.table, stack.aws.token_key)


def _github_authorizations(stack) -> int:
    return stack.github.count("GET", "/login/oauth/authorize")


def _as(stack, token: str) -> None:
    """Whoever signs in at the fake GitHub from now on."""
    stack.github.login_user = token


@pytest.fixture
def stack(oauth_stack):
    oauth_stack.github.add_user(BOB_GITHUB_TOKEN, "bob", BOB_GITHUB_ID)
    return oauth_stack


def _signed_in(stack, token: str) -> Flow:
    """A browser whose user went through our sign-in (so it has a gistgate session)."""
    _as(stack, token)
    flow = Flow(stack)
    flow.code(flow.register()["client_id"])
    return flow


def _ticket(stack, sub: str) -> str:
    return issue_ticket(stack.aws.table, sub, "some-client")


def _connect_url(stack, ticket: str) -> str:
    return f"{stack.base}/oauth/github/connect?ticket={ticket}"


# -- consent before the upstream --------------------------------------------------------


def test_the_consent_page_comes_before_any_upstream_contact(stack):
    flow = Flow(stack)
    page = flow.consent_page(flow.register()["client_id"])
    assert "Approve" in page.text
    assert _github_authorizations(stack) == 0
    assert _items(stack, "TXN#") == []


def test_deny_contacts_no_one_and_stores_nothing(stack):
    flow = Flow(stack)
    flow.browser = Browser(decision="deny")
    client = flow.register()
    before = {json.dumps(i, sort_keys=True) for i in _items(stack, "")}
    query = flow.code(client["client_id"])
    assert query["error"] == "access_denied"
    assert query["iss"] == stack.base
    assert _github_authorizations(stack) == 0
    after = {json.dumps(i, sort_keys=True) for i in _items(stack, "")}
    assert after == before  # the consent request came and went; nothing else was written
    assert _vault(stack).get(ALICE) is None


def test_deny_does_not_relink_a_github_account_the_user_disconnected(stack):
    flow = _signed_in(stack, stack.github.login_user)
    _vault(stack).delete(ALICE)  # disconnect_github
    other = flow.register()
    page = flow.consent_page(other["client_id"])  # a new client: the page, even signed in
    denied = flow.answer(page, "deny")
    assert _query(denied)["error"] == "access_denied"
    assert _vault(stack).get(ALICE) is None
    assert _github_authorizations(stack) == 1  # only the first sign-in


def test_the_upstream_token_is_stored_only_after_approve(stack):
    flow = Flow(stack)
    callback = flow.to_callback(flow.register()["client_id"])
    assert _vault(stack).get(ALICE) is None  # approved and at GitHub, not yet back
    flow.browser.http.get(callback.headers["location"])
    assert _vault(stack).get(ALICE) is not None


def test_a_remembered_approval_skips_the_page_and_the_upstream(stack):
    flow = Flow(stack)
    client = flow.register()
    flow.code(client["client_id"])
    assert _github_authorizations(stack) == 1
    again = flow.browser.http.get(flow.authorize_url(client["client_id"]))
    assert again.status_code == 302
    assert "code" in _query(again)
    assert _github_authorizations(stack) == 1
    # Another browser has no session: it sees the page again.
    Flow(stack).consent_page(client["client_id"])


def test_a_remembered_approval_does_not_cover_more_scopes(stack):
    flow = Flow(stack)
    client = flow.register()
    flow.code(client["client_id"], scope="read:gists")
    wider = flow.browser.http.get(flow.authorize_url(client["client_id"]))
    assert wider.status_code == 200
    assert "form_token" in wider.text


def test_prompt_consent_shows_the_page_to_a_signed_in_user(stack):
    flow = Flow(stack)
    client = flow.register()
    flow.code(client["client_id"])
    page = flow.consent_page(client["client_id"], prompt="consent")
    assert "signed in as <strong>alice</strong>" in page.text


def test_approve_with_another_account_asks_the_upstream_to_pick(stack):
    flow = _signed_in(stack, stack.github.login_user)
    page = flow.consent_page(flow.register()["client_id"])
    assert 'value="switch"' in page.text
    switched = flow.answer(page, "switch")
    location = switched.headers["location"]
    assert location.startswith(stack.github.url + "/login/oauth/authorize")
    assert parse_qs(urlsplit(location).query)["prompt"] == ["select_account"]


def test_a_signed_in_approval_needs_the_session_the_page_was_shown_to(stack):
    """The form was rendered for alice's session; a session swapped in meanwhile is not it."""
    flow = _signed_in(stack, stack.github.login_user)
    page = flow.consent_page(flow.register()["client_id"])
    for session in _items(stack, "SESSION#"):
        stack.aws.client("dynamodb").delete_item(
            TableName=stack.aws.table, Key={"pk": session["pk"], "sk": session["sk"]}
        )
    approved = flow.answer(page)
    # No code from a session that is gone: the approval goes through a fresh sign-in.
    assert approved.headers["location"].startswith(stack.github.url)


# -- what the consent page says ------------------------------------------------------------


def test_the_consent_page_says_what_a_person_needs_to_decide(stack):
    flow = Flow(stack)
    client = flow.register(client_name="Totally Official App")
    page = flow.consent_page(client["client_id"]).text
    assert "Totally Official App" in page
    assert "provided this name itself" in page
    assert "not verified" in page
    assert html.escape(CLIENT_REDIRECT) in page  # the whole redirect URI, not only its host
    assert "on your own computer" in page  # a loopback redirect is called out
    assert "read your gists" in page
    assert "create, change and delete gists" in page
    assert "your GitHub account" in page
    assert "<strong>gist</strong>" in page
    assert "<strong>read:user</strong>" in page
    assert "<script" not in page


def test_the_consent_page_names_the_verified_host_of_a_metadata_document_client(stack):
    documents = MetadataDocuments()
    try:
        client_id = documents.url + "/client.json"
        documents.add(
            "/client.json",
            {"client_id": client_id, "client_name": "Docs", "redirect_uris": [CLIENT_REDIRECT]},
        )
        page = Flow(stack).consent_page(client_id).text
    finally:
        documents.close()
    assert "verified: 127.0.0.1 serves this app" in page
    assert "not verified" not in page


def test_browser_cookies_are_host_only_http_only_and_lax_on_https(make_oauth_stack):
    stack = make_oauth_stack(PUBLIC_BASE_URL="https://gistgate.example")
    flow = Flow(stack)
    client = flow.register()
    response = flow.browser.http.get(
        flow.authorize_url(client["client_id"], resource="https://gistgate.example/mcp")
    )
    assert response.status_code == 200, response.text[:300]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-gg-flow=")
    for attribute in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"):
        assert attribute in cookie
    assert "Domain" not in cookie
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


def test_a_session_cookie_has_a_bounded_lifetime_and_a_server_side_record(stack):
    flow = Flow(stack)
    client = flow.register()
    callback = flow.to_callback(client["client_id"])
    response = flow.browser.http.get(callback.headers["location"])
    session = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("gg-session=")
    )
    assert "HttpOnly" in session
    assert "SameSite=Lax" in session
    assert "Max-Age=43200" in session
    value = session.split(";")[0].split("=", 1)[1]
    record = _items(stack, "SESSION#")
    assert [r["pk"]["S"] for r in record] == [f"SESSION#{keys.digest(value)}"]
    assert value not in json.dumps(record)


# -- the connect link is bound to the user who asked for it -------------------------------


def test_the_owner_with_a_session_connects(stack):
    flow = _signed_in(stack, stack.github.login_user)
    _vault(stack).delete(ALICE)
    page = flow.browser.follow(_connect_url(stack, _ticket(stack, ALICE)), until="never")
    assert page.status_code == 200, page.text
    assert "is connected" in page.text
    assert _vault(stack).get(ALICE).login == "alice"


def test_the_owner_without_a_session_signs_in_and_connects_in_one_round_trip(stack):
    browser = Browser()
    page = browser.follow(_connect_url(stack, _ticket(stack, ALICE)), until="never")
    assert page.status_code == 200, page.text
    assert _vault(stack).get(ALICE).login == "alice"
    assert _github_authorizations(stack) == 1


def test_a_stolen_link_opened_by_another_signed_in_user_stores_nothing(stack, log_output):
    bob = _signed_in(stack, BOB_GITHUB_TOKEN)
    ticket = _ticket(stack, ALICE)  # alice asked for it and sent it to bob
    before = _github_authorizations(stack)
    page = bob.browser.follow(_connect_url(stack, ticket), until="never")
    assert page.status_code == 403
    assert "different account" in page.text
    assert _github_authorizations(stack) == before  # GitHub was never contacted
    assert _vault(stack).get(ALICE) is None
    line = next(json.loads(x) for x in log_output.getvalue().splitlines() if "connect refused" in x)
    assert line["outcome"] == "identity_mismatch"
    assert line["ticket_sub"] == ALICE
    assert line["signed_in_sub"] == BOB
    assert ticket not in log_output.getvalue()
    # The link still works for its owner.
    _as(stack, "gho_alicelogin_" + "q" * 25)
    owner = Browser().follow(_connect_url(stack, ticket), until="never")
    assert owner.status_code == 200
    assert _vault(stack).get(ALICE).login == "alice"


def test_a_stolen_link_opened_by_someone_with_no_session_stores_nothing(stack, log_output):
    ticket = _ticket(stack, ALICE)
    _as(stack, BOB_GITHUB_TOKEN)  # bob is signed in at GitHub, not at gistgate
    page = Browser().follow(_connect_url(stack, ticket), until="never")
    assert page.status_code == 403
    assert "different account" in page.text
    assert _vault(stack).get(ALICE) is None
    assert _vault(stack).get(BOB) is None  # bob's sign-in proved who he is, nothing more
    assert '"identity_mismatch"' in log_output.getvalue()


def test_a_github_callback_replayed_in_another_browser_stores_nothing(stack):
    alice = _signed_in(stack, stack.github.login_user)
    _vault(stack).delete(ALICE)
    callback = alice.browser.follow(
        _connect_url(stack, _ticket(stack, ALICE)), until=stack.base + "/oauth/github/callback"
    )
    _as(stack, BOB_GITHUB_TOKEN)
    bob = _signed_in(stack, BOB_GITHUB_TOKEN)
    response = bob.browser.http.get(callback.headers["location"])
    assert response.status_code == 403
    assert _vault(stack).get(ALICE) is None


def test_a_session_ended_during_the_connect_flow_stores_nothing(stack):
    alice = _signed_in(stack, stack.github.login_user)
    _vault(stack).delete(ALICE)
    callback = alice.browser.follow(
        _connect_url(stack, _ticket(stack, ALICE)), until=stack.base + "/oauth/github/callback"
    )
    for session in _items(stack, "SESSION#"):  # signed out (revoked) meanwhile
        stack.aws.client("dynamodb").delete_item(
            TableName=stack.aws.table, Key={"pk": session["pk"], "sk": session["sk"]}
        )
    response = alice.browser.http.get(callback.headers["location"])
    assert response.status_code == 403
    assert _vault(stack).get(ALICE) is None


# -- external IdP modes: the proof is an OIDC sign-in at the trusted issuer -----------------


@pytest.fixture
def jwt_stack(make_oauth_stack, oidc):
    return make_oauth_stack(
        AUTH_MODE="jwt",
        OAUTH_ISSUER=oidc.issuer,
        UPSTREAM_OIDC_CLIENT_ID=oidc.CLIENT_ID,
        UPSTREAM_OIDC_CLIENT_SECRET=oidc.CLIENT_SECRET,
    )


def test_jwt_mode_connect_proves_the_subject_at_the_issuer_first(jwt_stack, oidc):
    ticket = _ticket(jwt_stack, "00u-dana")
    browser = Browser()
    page = browser.follow(_connect_url(jwt_stack, ticket), until="never")
    assert page.status_code == 200, page.text
    assert oidc.authorize_requests, "the OIDC sign-in came first"
    assert oidc.authorize_requests[0]["code_challenge_method"] == "S256"
    assert _vault(jwt_stack).get("00u-dana").login == "alice"


def test_jwt_mode_connect_refuses_another_subject_before_github(jwt_stack, oidc, log_output):
    ticket = _ticket(jwt_stack, "00u-erin")
    oidc.subject = "00u-dana"
    page = Browser().follow(_connect_url(jwt_stack, ticket), until="never")
    assert page.status_code == 403
    assert _github_authorizations(jwt_stack) == 0
    assert _vault(jwt_stack).get("00u-erin") is None
    assert '"identity_mismatch"' in log_output.getvalue()


def test_jwt_mode_without_a_sign_in_client_refuses_connect_links(
    make_oauth_stack, oidc, log_output
):
    stack = make_oauth_stack(AUTH_MODE="jwt", OAUTH_ISSUER=oidc.issuer)
    page = Browser().follow(_connect_url(stack, _ticket(stack, "00u-dana")), until="never")
    assert page.status_code == 403
    assert "cannot confirm who you are" in page.text
    assert _github_authorizations(stack) == 0
    assert oidc.authorize_requests == []
    assert _vault(stack).get("00u-dana") is None
    assert '"identity_mismatch"' in log_output.getvalue()


def test_jwt_mode_runs_no_authorization_server_of_its_own(jwt_stack):
    """Only the connect flow is served: nobody can register, sign in or get our tokens."""
    flow = Flow(jwt_stack)
    page = flow.browser.http.get(flow.authorize_url("any-client"))
    assert page.status_code == 404
    assert "location" not in page.headers
    register = flow.api.post("/oauth/register", json={"redirect_uris": [CLIENT_REDIRECT]})
    token = flow.api.post("/oauth/token", data={"grant_type": "client_credentials"})
    revoke = flow.api.post("/oauth/revoke", data={"token": "x"})
    for response in (register, token, revoke):
        assert response.status_code == 404
        assert response.json()["error"] == "invalid_request"


def test_prompt_login_signs_in_again_even_with_a_session(stack):
    flow = Flow(stack)
    client = flow.register()
    flow.code(client["client_id"])
    page = flow.consent_page(client["client_id"], prompt="login")
    assert "signed in as" not in page.text  # the page does not vouch for the old session
    approved = flow.answer(page)
    assert approved.headers["location"].startswith(stack.github.url + "/login/oauth/authorize")


def test_a_client_name_that_reorders_the_page_is_refused_at_registration(stack):
    response = Flow(stack).api.post(
        "/oauth/register",
        json={"client_name": "\u202eppA laiciffO", "redirect_uris": [CLIENT_REDIRECT]},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
