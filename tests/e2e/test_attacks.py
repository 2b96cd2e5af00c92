"""An attacker's view of ``make dev``: black-box attacks over real HTTP against the whole
local stack (the local gateway from template.yaml with process-isolated function
workers, moto, the fake GitHub), one stack for the module.

The stack is only reached over HTTP, as an attacker would. The test reaches past
HTTP for two things: choosing who is signed in at the (in-process) fake GitHub, and,
where no tool shows it, reading the table in moto to confirm that nothing was stored.

Cast: ``mallory`` asks ``connect_github`` for a link and sends it to ``octocat`` (the
dev stack's GitHub user) hoping octocat's GitHub account ends up linked under
mallory's gistgate account (account-linking CSRF). ``victor`` is a GitHub user who
never signed in here.
"""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import pytest
from gistgate_dev.local.dev import DevStack

from gistgate.storage import keys
from tests.fixtures.dev_stack import start_stack
from tests.fixtures.oauth_stack import CLIENT_REDIRECT, FORM_TOKEN, ONE_SHOT, Browser, Flow
from tests.fixtures.wire import WireAnswer, exchange, parse_answer

MALLORY_TOKEN = "gho_mallorylogin_" + "m" * 23
MALLORY_ID = 6666
VICTOR_TOKEN = "gho_victorlogin_" + "v" * 24
VICTOR_ID = 7777
EVIL_REDIRECT = "https://evil.example/cb"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
DESCRIPTION_CHARSET = re.compile(r"^[\x20\x21\x23-\x5B\x5D-\x7E]*$")
# Quotes, a backslash, markup, non-ASCII and a right-to-left override: text, but not text
# an error description may carry. INJECTION adds a header-splitting attempt.
HOSTILE = "x\"\\'<script>alert(1)</script>\u00e9\u2603\u202e"
INJECTION = HOSTILE + "\r\nSet-Cookie: a=b"
CONNECT = "/oauth/github/connect"


# -- the target -----------------------------------------------------------------------------


class Target:
    """The dev stack as the test fixtures' ``Flow`` and ``Browser`` expect a stack."""

    def __init__(self, dev: DevStack) -> None:
        self.dev = dev
        self.github = dev.github
        self.octocat_token = dev.github.login_user  # the dev user the stack signs in
        self.api = self.http()  # for the JSON endpoints (they set no cookies)
        self._table: Any = None

    @property
    def base(self) -> str:
        return self.dev.base_url

    @property
    def mcp_url(self) -> str:
        return self.base + "/mcp"

    @property
    def port(self) -> int:
        return self.dev.port

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=10, follow_redirects=False, limits=ONE_SHOT)

    def github_authorizations(self) -> int:
        """How often a browser was sent to GitHub's authorization endpoint."""
        return self.github.count("GET", "/login/oauth/authorize")

    def has_github_grant(self, sub: str) -> bool:
        """Is a GitHub authorization stored for ``sub`` (the vault's item)?"""
        return bool(self.table_item(keys.github_grant(sub)))

    def table_item(self, key: dict[str, str]) -> dict[str, Any] | None:
        found = self._dynamodb().get_item(
            TableName=self.dev.resources["Table"], Key={k: {"S": v} for k, v in key.items()}
        )
        return found.get("Item")

    def table_items(self) -> set[str]:
        """Every item in the table, each as canonical JSON."""
        client, items, start = self._dynamodb(), [], None
        while True:
            extra = {"ExclusiveStartKey": start} if start else {}
            page = client.scan(TableName=self.dev.resources["Table"], **extra)
            items += page["Items"]
            start = page.get("LastEvaluatedKey")
            if not start:
                return {json.dumps(i, sort_keys=True, default=_b64) for i in items}

    def _dynamodb(self) -> Any:
        if self._table is None:
            import boto3

            host, port = self.dev.moto.get_host_and_port()
            self._table = boto3.client(
                "dynamodb",
                endpoint_url=f"http://{host}:{port}",
                region_name="us-east-1",
                aws_access_key_id="local",
                aws_secret_access_key="local",
            )
        return self._table


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """``make dev``'s stack, once for the module. The attacks register many clients from
    one address and make many tool calls as one user, so the two rate limits (``make dev``
    settings) are raised; every other setting is the default."""
    dev = start_stack(
        Path(tmp_path_factory.mktemp("attacks")),
        REGISTRATION_RATE_PER_MINUTE="10000",
        RATE_LIMIT_PER_MINUTE="10000",
        LOG_LEVEL="WARNING",
    )
    try:
        dev.github.add_user(MALLORY_TOKEN, "mallory", MALLORY_ID)
        dev.github.add_user(VICTOR_TOKEN, "victor", VICTOR_ID)
        target = Target(dev)
        yield target
        target.api.close()
    finally:
        dev.stop()


@contextmanager
def at_github(stack: Target, token: str) -> Iterator[None]:
    """Whoever is signed in at GitHub in the browser that goes there meanwhile."""
    before = stack.github.login_user
    stack.github.login_user = token
    try:
        yield
    finally:
        stack.github.login_user = before


@pytest.fixture(scope="module")
def app(stack: Target) -> dict[str, Any]:
    """A public client (open DCR) the people below sign in with."""
    return Flow(stack).register(client_name="Honest app")


@pytest.fixture(scope="module")
def evil(stack: Target) -> dict[str, Any]:
    """A client anyone could register: its redirect URI is the attacker's site."""
    return Flow(stack).register(client_name="Evil app", redirect_uris=[EVIL_REDIRECT])


class Person:
    """A user with a browser signed in to gistgate (a session cookie), signed in at
    GitHub as themselves, and an MCP access token from the authorization-code flow."""

    def __init__(self, stack: Target, github_token: str, client_id: str) -> None:
        self.stack = stack
        self.github_token = github_token
        self.client_id = client_id
        with at_github(stack, github_token):
            self.flow = Flow(stack)
            self.tokens = self.flow.tokens(client_id)
        self.token = self.tokens["access_token"]

    @property
    def browser(self) -> Browser:
        return self.flow.browser

    def tool(self, name: str) -> dict[str, Any]:
        response = self.flow.mcp(self.token, params={"name": name, "arguments": {}})
        assert response.status_code == 200, response.text
        result = response.json()["result"]
        assert not result["isError"], result
        return result["structuredContent"]

    def whoami(self) -> dict[str, Any]:
        return self.tool("whoami")

    def disconnected(self) -> Person:
        self.tool("disconnect_github")
        assert self.whoami()["github_connected"] is False
        return self

    def connect_link(self) -> str:
        url = self.tool("connect_github")["url"]
        assert url.startswith(self.stack.base + CONNECT + "?ticket=")
        return url

    def open(self, url: str) -> httpx.Response:
        """Open ``url`` in this person's browser and follow every redirect."""
        return visit(self.stack, self.browser, url, self.github_token)


def visit(stack: Target, browser: Browser, url: str, github_token: str) -> httpx.Response:
    with at_github(stack, github_token):
        return browser.follow(url, until="never")


@pytest.fixture
def mallory(stack: Target, app: dict[str, Any]) -> Person:
    return Person(stack, MALLORY_TOKEN, app["client_id"])


@pytest.fixture
def octocat(stack: Target, app: dict[str, Any]) -> Person:
    return Person(stack, stack.octocat_token, app["client_id"])


@pytest.fixture(scope="module")
def regular(stack: Target, app: dict[str, Any]) -> Person:
    """octocat, signed in once for the module: the app's approval is remembered, so a
    new authorization code costs one request."""
    return Person(stack, stack.octocat_token, app["client_id"])


def _ticket_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["ticket"][0]


def _page(response: httpx.Response, status: int = 400) -> str:
    """An HTML page of ours with ``status``, and no redirect anywhere."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers
    assert "http-equiv" not in response.text.lower()  # no meta refresh either
    return response.text


def _oauth_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """A JSON OAuth error answer whose description stays in RFC 6749 §5.2's charset."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert DESCRIPTION_CHARSET.match(body.get("error_description", "")), body
    assert "access_token" not in body
    return body


def _basic(client_id: str, secret: str) -> dict[str, str]:
    credentials = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


# == 1. Connect links are bound to the person who asked for them ===========================


def test_a_victim_signed_in_here_opening_the_attackers_link_links_nothing(stack, mallory, octocat):
    mallory.disconnected()
    link = mallory.connect_link()
    asked = stack.github_authorizations()
    page = _page(octocat.open(link), 403)
    assert "different account" in page
    assert stack.github_authorizations() == asked  # refused before GitHub
    assert mallory.whoami()["github_connected"] is False
    # The link was not spent by the refusal: its owner can still use it.
    assert "is connected" in _page(mallory.open(link), 200)
    assert mallory.whoami()["github_login"] == "mallory"


def test_a_victim_with_no_session_here_opening_the_attackers_link_links_nothing(stack, mallory):
    mallory.disconnected()
    link = mallory.connect_link()
    # victor never used gistgate; his browser is signed in at GitHub only.
    page = _page(visit(stack, Browser(), link, VICTOR_TOKEN), 403)
    assert "different account" in page
    assert mallory.whoami()["github_connected"] is False
    assert not stack.has_github_grant(f"github|{VICTOR_ID}")  # his sign-in proved who he is
    # octocat, also without a session here (a fresh browser): the same.
    _page(visit(stack, Browser(), link, stack.octocat_token), 403)
    assert mallory.whoami()["github_connected"] is False
    assert "is connected" in _page(mallory.open(link), 200)
    assert mallory.whoami()["github_login"] == "mallory"


def test_an_already_connected_attacker_keeps_her_own_login(stack, mallory, octocat):
    assert mallory.whoami()["github_login"] == "mallory"  # connected at sign-in
    link = mallory.connect_link()
    _page(octocat.open(link), 403)
    _page(visit(stack, Browser(), link, stack.octocat_token), 403)
    who = mallory.whoami()
    assert who["github_connected"] is True
    assert who["github_login"] == "mallory"


def test_forwarding_the_github_authorization_url_instead_of_the_link_links_nothing(
    stack, mallory, octocat
):
    """mallory opens her own link, stops at the redirect to GitHub and sends *that* URL:
    octocat's browser gets a GitHub code for octocat and brings it to our callback."""
    mallory.disconnected()
    with at_github(stack, MALLORY_TOKEN):
        to_github = mallory.browser.http.get(mallory.connect_link())
    assert to_github.status_code == 302
    location = to_github.headers["location"]
    assert location.startswith(stack.github.url + "/login/oauth/authorize")
    for browser in (octocat.browser, Browser()):
        answer = visit(stack, browser, location, stack.octocat_token)
        assert 400 <= answer.status_code < 500, answer.text[:300]
        assert "is connected" not in answer.text
    assert mallory.whoami()["github_connected"] is False


def test_a_github_callback_replayed_in_another_browser_links_nothing(stack, mallory, octocat):
    mallory.disconnected()
    with at_github(stack, MALLORY_TOKEN):
        callback = mallory.browser.follow(
            mallory.connect_link(), until=stack.base + "/oauth/github/callback"
        )
    assert callback.is_redirect
    replay = callback.headers["location"]
    assert replay.startswith(stack.base + "/oauth/github/callback?")
    for browser in (Browser(), octocat.browser):
        answer = browser.http.get(replay)
        _page(answer, answer.status_code)
        assert answer.status_code in (400, 403)
    assert mallory.whoami()["github_connected"] is False
    assert octocat.whoami()["github_login"] == "octocat"


def test_a_spent_ticket_is_dead_for_everyone(stack, mallory, octocat):
    mallory.disconnected()
    link = mallory.connect_link()
    assert "is connected" in _page(mallory.open(link), 200)
    asked = stack.github_authorizations()
    for answer in (
        mallory.open(link),
        octocat.open(link),
        visit(stack, Browser(), link, stack.octocat_token),
    ):
        assert "expired" in _page(answer, 400)
    assert stack.github_authorizations() == asked
    assert mallory.whoami()["github_login"] == "mallory"


def test_a_ticket_spent_by_a_sign_in_without_a_session_is_dead_too(stack, mallory):
    mallory.disconnected()
    link = mallory.connect_link()
    # mallory herself, in a fresh browser: the GitHub sign-in proves it is her and connects.
    assert "is connected" in _page(visit(stack, Browser(), link, MALLORY_TOKEN), 200)
    assert mallory.whoami()["github_login"] == "mallory"
    assert "expired" in _page(visit(stack, Browser(), link, stack.octocat_token), 400)
    assert mallory.whoami()["github_login"] == "mallory"


FORGED_TICKETS: dict[str, Callable[[str], str]] = {
    "random, well formed": lambda _live: "ticket=" + secrets.token_urlsafe(32),
    "empty": lambda _live: "ticket=",
    "missing": lambda _live: "",
    "other parameter name": lambda live: "Ticket=" + live,
    "the stored hash of a live ticket": lambda live: "ticket=" + keys.digest(live),
    "a live ticket with one more character": lambda live: "ticket=" + live + "A",
    "a live ticket, upper-cased": lambda live: "ticket=" + live.upper(),
    "markup": lambda _live: "ticket=" + quote("<script>alert(1)</script>"),
    "129 characters": lambda _live: "ticket=" + "A" * 129,
    "8000 characters": lambda _live: "ticket=" + "A" * 8000,
    "not UTF-8": lambda _live: "ticket=%ff%fe",
    "a NUL byte": lambda live: "ticket=" + live + "%00",
    "an encoded surrogate": lambda _live: "ticket=%ed%a0%80",
}


@pytest.mark.parametrize("forge", FORGED_TICKETS.values(), ids=FORGED_TICKETS.keys())
def test_a_forged_ticket_is_a_page_and_contacts_no_one(stack, mallory, octocat, forge):
    live = _ticket_of(mallory.connect_link())
    asked = stack.github_authorizations()
    url = f"{stack.base}{CONNECT}?{forge(live)}"
    page = _page(octocat.browser.http.get(url), 400)
    assert "<script>alert" not in page
    _page(Browser().http.get(url), 400)
    assert stack.github_authorizations() == asked
    assert octocat.whoami()["github_login"] == "octocat"
    # The forgeries did not spend (or unlock) the live ticket: it works for its owner.
    mallory.disconnected()
    assert "is connected" in _page(mallory.open(f"{stack.base}{CONNECT}?ticket={live}"), 200)


SECOND_TICKET = {
    "junk, then the live one": lambda live: [("ticket", "junk" * 11), ("ticket", live)],
    "the live one, then junk": lambda live: [("ticket", live), ("ticket", "junk" * 11)],
    "the live one twice": lambda live: [("ticket", live), ("ticket", live)],
    "the victim's own, then the attacker's": None,  # filled in by the test
}


@pytest.mark.parametrize("case", SECOND_TICKET.keys())
def test_a_second_ticket_parameter_is_refused_before_anything_happens(
    stack, mallory, octocat, case
):
    mallory.disconnected()
    octocat.disconnected()
    live = _ticket_of(mallory.connect_link())
    if SECOND_TICKET[case] is None:
        own = _ticket_of(octocat.connect_link())
        params = [("ticket", own), ("ticket", live)]
    else:
        params = SECOND_TICKET[case](live)
    url = f"{stack.base}{CONNECT}?{urlencode(params)}"
    asked = stack.github_authorizations()
    for person in (octocat, mallory):  # the victim, and even the owner
        _page(person.browser.http.get(url), 400)
    _page(Browser().http.get(url), 400)
    assert stack.github_authorizations() == asked
    assert mallory.whoami()["github_connected"] is False
    assert octocat.whoami()["github_connected"] is False
    # Refused outright: the live ticket was not spent.
    assert "is connected" in _page(mallory.open(f"{stack.base}{CONNECT}?ticket={live}"), 200)


# == 2. Consent comes before the upstream ==================================================


def test_the_first_authorization_shows_our_page_and_github_hears_nothing(stack, app, regular):
    fresh = Flow(stack).register(client_name="Brand new app")
    asked = stack.github_authorizations()
    flow = Flow(stack)
    page = flow.consent_page(fresh["client_id"])  # no session: the page
    assert "Approve" in page.text
    assert "Deny" in page.text
    # Signed in here already, but this client was never approved: the page again.
    signed = regular.browser.http.get(flow.authorize_url(fresh["client_id"]))
    assert "form_token" in _page(signed, 200)
    assert "signed in as <strong>octocat</strong>" in signed.text
    assert stack.github_authorizations() == asked


def test_the_consent_page_cannot_be_framed_or_cached(stack, app):
    page = Flow(stack).consent_page(app["client_id"])
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


def test_deny_goes_back_with_access_denied_and_stores_nothing(stack):
    flow = Flow(stack)
    client = flow.register(client_name="Denied app")
    before = stack.table_items()
    asked = stack.github_authorizations()
    page = flow.consent_page(client["client_id"])
    denied = flow.answer(page, "deny")
    assert denied.status_code == 302
    location = denied.headers["location"]
    assert location.startswith(CLIENT_REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["client-state-1"]
    assert query["iss"] == [stack.base]
    assert "code" not in query
    assert stack.github_authorizations() == asked
    assert stack.table_items() == before  # the consent request came and went
    # The answered form cannot be answered again, the other way.
    _page(flow.answer(page, "approve"), 400)
    assert stack.github_authorizations() == asked


def test_deny_by_a_signed_in_user_does_not_relink_github(stack, mallory):
    mallory.disconnected()
    other = Flow(stack).register(client_name="Another app")
    asked = stack.github_authorizations()
    page = mallory.flow.consent_page(other["client_id"])
    denied = mallory.flow.answer(page, "deny")
    assert parse_qs(urlsplit(denied.headers["location"]).query)["error"] == ["access_denied"]
    assert stack.github_authorizations() == asked
    assert mallory.whoami()["github_connected"] is False


def test_approve_then_github_with_our_state_and_our_callback(stack):
    flow = Flow(stack)
    client = flow.register(client_name="Approved app")
    page = flow.consent_page(client["client_id"])
    asked = stack.github_authorizations()
    approved = flow.answer(page)
    assert approved.status_code == 302
    upstream = approved.headers["location"]
    assert upstream.startswith(stack.github.url + "/login/oauth/authorize?")
    assert stack.github_authorizations() == asked  # the browser has not gone yet
    sent = parse_qs(urlsplit(upstream).query)
    assert sent["redirect_uri"] == [stack.base + "/oauth/callback"]  # not the client's
    assert sent["state"] != ["client-state-1"]  # not the client's state either
    assert sent["code_challenge_method"] == ["S256"]
    query = flow.browser.authorize(upstream)
    assert stack.github_authorizations() == asked + 1
    assert flow.redeem(client["client_id"], query["code"]).status_code == 200


def test_a_consent_form_answered_from_another_browser_is_refused(stack, app):
    victim = Flow(stack)
    page = victim.consent_page(app["client_id"])
    token = html.unescape(FORM_TOKEN.search(page.text).group(1))
    attacker = Browser()
    asked = stack.github_authorizations()
    stolen = attacker.http.post(
        stack.base + "/oauth/consent", data={"form_token": token, "decision": "approve"}
    )
    _page(stolen, 403)
    assert stack.github_authorizations() == asked
    for forged in ("", "x" * 200, secrets.token_urlsafe(32)):
        _page(
            victim.browser.http.post(
                stack.base + "/oauth/consent", data={"form_token": forged, "decision": "approve"}
            ),
            400,
        )
    # The victim's own answer still works, once.
    assert victim.answer(page).status_code == 302
    _page(victim.answer(page), 400)


# == 3. Not an open redirector ==============================================================


def _authorize(stack: Target, client_id: str, **params: str | None) -> str:
    """An authorization URL for ``client_id`` that sends the browser to the attacker."""
    params = {"redirect_uri": EVIL_REDIRECT, **params}
    return Flow(stack).authorize_url(client_id, **params)


BAD_AUTHORIZE = {
    "implicit grant": {"response_type": "token"},
    "no response_type": {"response_type": None},
    "unknown response_type": {"response_type": "code id_token"},
    "no PKCE": {"code_challenge": None, "code_challenge_method": None},
    "PKCE plain": {"code_challenge_method": "plain"},
    "PKCE without a method": {"code_challenge_method": None},
    "a short challenge": {"code_challenge": "abc"},
    "another resource": {"resource": "https://evil.example/mcp"},
    "our resource with a suffix": {"resource": "RESOURCE/../wellknown"},
    "an unknown scope": {"scope": "read:gists repo"},
    "the admin scope": {"scope": "admin:server read:gists"},
    "a 2000-character state": {"state": "s" * 2000},
}


@pytest.mark.parametrize("params", BAD_AUTHORIZE.values(), ids=BAD_AUTHORIZE.keys())
def test_an_invalid_request_for_an_open_registration_client_is_our_page(stack, evil, params):
    params = {
        k: (v.replace("RESOURCE", stack.mcp_url) if isinstance(v, str) else v)
        for k, v in params.items()
    }
    asked = stack.github_authorizations()
    response = Browser().http.get(_authorize(stack, evil["client_id"], **params))
    page = _page(response, 400)
    assert "evil.example" not in page
    assert "form_token" not in page
    assert stack.github_authorizations() == asked


UNREGISTERED_REDIRECTS = [
    "https://evil.example/other",
    "https://evil.example/cb/../other",
    "https://evil.example/cb?next=https://evil.example/x",
    "https://evil.example/cb#frag",
    "https://EVIL.example/cb",
    "https://evil.example:443/cb",
    "https://evil.example/cb/",
    "https://evil.example.attacker.test/cb",
    "http://evil.example/cb",
    "javascript:alert(1)//https://evil.example/cb",
    "https://evil.example/CB",
]


@pytest.mark.parametrize("redirect_uri", UNREGISTERED_REDIRECTS)
def test_an_unregistered_redirect_uri_is_our_page(stack, evil, app, redirect_uri):
    asked = stack.github_authorizations()
    for client_id in (evil["client_id"], app["client_id"]):
        url = _authorize(stack, client_id, redirect_uri=redirect_uri)
        assert "form_token" not in _page(Browser().http.get(url), 400)
    assert stack.github_authorizations() == asked


def test_an_unknown_client_with_any_redirect_uri_is_our_page(stack):
    for client_id in ("no-such-client", "", "x" * 3000, secrets.token_urlsafe(16)):
        response = Browser().http.get(_authorize(stack, client_id))
        _page(response, 400)


# == 4. Repeated parameters (RFC 6749 §3.1) =================================================


REPEATED_AUTHORIZE = {
    "redirect_uri": EVIL_REDIRECT,
    "resource": "https://evil.example/mcp",
    "client_id": "EVIL",
    "scope": "read:gists",
    "state": "attacker-state",
    "response_type": "token",
    "code_challenge": "A" * 43,
    "code_challenge_method": "plain",
}


@pytest.mark.parametrize("where", ["first", "last", "same"])
@pytest.mark.parametrize("name", REPEATED_AUTHORIZE.keys())
def test_a_repeated_authorize_parameter_is_a_400_page(stack, app, evil, name, where):
    url = httpx.URL(Flow(stack).authorize_url(app["client_id"]))
    good = url.params[name]
    other = REPEATED_AUTHORIZE[name].replace("EVIL", evil["client_id"])
    extra = (name, good if where == "same" else other)
    params = url.params.multi_items()
    params = [extra, *params] if where == "first" else [*params, extra]
    asked = stack.github_authorizations()
    page = _page(Browser().http.get(url.copy_with(params=params)), 400)
    assert "form_token" not in page
    assert stack.github_authorizations() == asked


def test_a_repeated_consent_decision_is_a_400_page(stack, app):
    flow = Flow(stack)
    page = flow.consent_page(app["client_id"])
    token = html.unescape(FORM_TOKEN.search(page.text).group(1))
    asked = stack.github_authorizations()
    body = urlencode([("form_token", token), ("decision", "deny"), ("decision", "approve")])
    _page(flow.browser.http.post(stack.base + "/oauth/consent", content=body, headers=FORM))
    assert stack.github_authorizations() == asked


REPEATED_CODE = {
    "grant_type": "client_credentials",
    "code": "not-the-code",
    "redirect_uri": "https://evil.example/cb",
    "code_verifier": "v" * 43,
    "client_id": "EVIL",
    "resource": "https://evil.example/mcp",
}


@pytest.mark.parametrize("where", ["first", "last", "same"])
@pytest.mark.parametrize("name", REPEATED_CODE.keys())
def test_a_repeated_parameter_in_a_code_redemption_is_invalid_request(
    stack, app, evil, regular, name, where
):
    code = regular.flow.code(app["client_id"])["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CLIENT_REDIRECT,
        "code_verifier": regular.flow.verifier,
        "client_id": app["client_id"],
        "resource": stack.mcp_url,
    }
    other = (
        form[name] if where == "same" else REPEATED_CODE[name].replace("EVIL", evil["client_id"])
    )
    pairs = list(form.items())
    pairs = [(name, other), *pairs] if where == "first" else [*pairs, (name, other)]
    response = stack.api.post("/oauth/token", content=urlencode(pairs), headers=FORM)
    _oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("where", ["first", "last"])
@pytest.mark.parametrize("name", ["grant_type", "refresh_token", "scope", "client_id"])
def test_a_repeated_parameter_in_a_refresh_is_invalid_request(
    stack, app, evil, regular, name, where
):
    refresh = regular.flow.tokens(app["client_id"])["refresh_token"]
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh,
        "client_id": app["client_id"],
        "scope": "read:gists",
    }
    other = {
        "grant_type": "client_credentials",
        "refresh_token": "nosuchfamily.secret",
        "scope": "read:gists write:gists",
        "client_id": evil["client_id"],
    }[name]
    pairs = list(form.items())
    pairs = [(name, other), *pairs] if where == "first" else [*pairs, (name, other)]
    response = stack.api.post("/oauth/token", content=urlencode(pairs), headers=FORM)
    _oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("name", ["token", "client_id", "token_type_hint"])
def test_a_repeated_revocation_parameter_is_invalid_request_and_revokes_nothing(
    stack, app, evil, regular, name
):
    refresh = regular.flow.tokens(app["client_id"])["refresh_token"]
    form = {"token": refresh, "client_id": app["client_id"], "token_type_hint": "refresh_token"}
    other = {"token": "nosuchfamily.secret", "client_id": evil["client_id"]}.get(
        name, "access_token"
    )
    for pairs in ([(name, other), *form.items()], [*form.items(), (name, other)]):
        response = stack.api.post("/oauth/revoke", content=urlencode(pairs), headers=FORM)
        _oauth_error(response, 400, "invalid_request")
    # Refused outright: the refresh token still works.
    assert regular.flow.refresh(app["client_id"], refresh).status_code == 200


# == 5. Revocation: the hint is only a hint (RFC 7009 §2.1) ===============================


@pytest.mark.parametrize(
    "hint",
    ["access_token", "no_such_type", "", HOSTILE],
    ids=["access", "bogus", "blank", "hostile"],
)
def test_a_refresh_token_revoked_under_any_hint_is_dead(stack, app, regular, hint):
    tokens = regular.flow.tokens(app["client_id"])
    rotated = regular.flow.refresh(app["client_id"], tokens["refresh_token"])
    assert rotated.status_code == 200
    current = rotated.json()["refresh_token"]
    response = stack.api.post(
        "/oauth/revoke",
        data={"token": current, "token_type_hint": hint, "client_id": app["client_id"]},
    )
    assert response.status_code == 200, response.text
    assert "<script>" not in response.text
    for dead in (current, tokens["refresh_token"]):  # the whole family ends
        _oauth_error(regular.flow.refresh(app["client_id"], dead), 400, "invalid_grant")


def test_another_client_cannot_revoke_my_refresh_token(stack, app, regular):
    refresh = regular.flow.tokens(app["client_id"])["refresh_token"]
    thief = Flow(stack).register(client_name="Thief")
    for hint in ("refresh_token", "access_token"):
        response = stack.api.post(
            "/oauth/revoke",
            data={"token": refresh, "token_type_hint": hint, "client_id": thief["client_id"]},
        )
        assert response.status_code < 500
    assert regular.flow.refresh(app["client_id"], refresh).status_code == 200


# == 6. Client authentication ===============================================================


@pytest.fixture(scope="module")
def basic_client(stack: Target) -> dict[str, Any]:
    return Flow(stack).register(
        client_name="Basic app", token_endpoint_auth_method="client_secret_basic"
    )


@pytest.fixture(scope="module")
def post_client(stack: Target) -> dict[str, Any]:
    return Flow(stack).register(
        client_name="Post app", token_endpoint_auth_method="client_secret_post"
    )


def _refresh(**form: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": "nosuchfamily.secret", **form}


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke"])
def test_a_basic_client_authenticating_in_the_form_is_invalid_client(stack, basic_client, path):
    machine = stack.dev.dev_client  # the stack's client_credentials client (Basic)
    base = _refresh() if path == "/oauth/token" else {"token": "nosuchfamily.secret"}
    attempts = [
        {"client_id": basic_client["client_id"], "client_secret": basic_client["client_secret"]},
        {"client_id": machine["client_id"], "client_secret": machine["client_secret"]},
    ]
    for credentials in attempts:
        response = stack.api.post(path, data={**base, **credentials})
        _oauth_error(response, 401, "invalid_client")
    cc = stack.api.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": machine["client_id"],
            "client_secret": machine["client_secret"],
        },
    )
    _oauth_error(cc, 401, "invalid_client")
    # The right secret, the right way, works (so the refusals above are about the method).
    ok = stack.api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=_basic(machine["client_id"], machine["client_secret"]),
    )
    assert ok.status_code == 200, ok.text


def test_two_authentication_methods_at_once_are_invalid_client(stack, basic_client, post_client):
    both = stack.api.post(
        "/oauth/token",
        data=_refresh(client_secret=basic_client["client_secret"]),
        headers=_basic(basic_client["client_id"], basic_client["client_secret"]),
    )
    _oauth_error(both, 401, "invalid_client")
    post_as_basic = stack.api.post(
        "/oauth/token",
        data=_refresh(),
        headers=_basic(post_client["client_id"], post_client["client_secret"]),
    )
    _oauth_error(post_as_basic, 401, "invalid_client")
    mismatched = stack.api.post(
        "/oauth/token",
        data=_refresh(client_id=post_client["client_id"]),
        headers=_basic(basic_client["client_id"], basic_client["client_secret"]),
    )
    _oauth_error(mismatched, 401, "invalid_client")


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke"])
def test_an_unknown_client_and_a_wrong_secret_get_byte_identical_answers(
    stack, basic_client, post_client, path
):
    machine = stack.dev.dev_client
    base = {"grant_type": "client_credentials"} if path == "/oauth/token" else {"token": "t.t"}
    with_basic = {
        "unknown id": _basic("no-such-client", "some-secret"),
        "wrong secret": _basic(machine["client_id"], "wrong-secret"),
        "another client's secret": _basic(machine["client_id"], basic_client["client_secret"]),
        "empty secret": _basic(basic_client["client_id"], ""),
        "id of a post client": _basic(post_client["client_id"], post_client["client_secret"]),
    }
    in_form = {
        "unknown id": {"client_id": "no-such-client", "client_secret": "s"},
        "unknown id, no secret": {"client_id": "no-such-client"},
        "wrong secret": {"client_id": post_client["client_id"], "client_secret": "wrong"},
        "missing secret": {"client_id": machine["client_id"]},
        "unreachable metadata document": {"client_id": "http://127.0.0.1:9/client.json"},
        "private metadata document": {"client_id": "https://10.0.0.1/client.json"},
    }
    answers: dict[str, tuple[Any, ...]] = {}
    for name, headers in with_basic.items():
        response = stack.api.post(path, data=base, headers=headers)
        answers["Basic: " + name] = (
            response.status_code,
            response.content,
            response.headers.get("www-authenticate"),
            response.headers.get("content-type"),
        )
    for name, form in in_form.items():
        response = stack.api.post(path, data={**base, **form})
        answers["form: " + name] = (
            response.status_code,
            response.content,
            response.headers.get("www-authenticate"),
            response.headers.get("content-type"),
        )
    basic = {v for k, v in answers.items() if k.startswith("Basic")}
    form = {v for k, v in answers.items() if k.startswith("form")}
    assert len(basic) == 1, answers
    assert len(form) == 1, answers
    ((status, content, challenge, _),) = basic
    assert status == 401
    assert str(challenge).startswith("Basic")
    assert next(iter(form))[1] == content  # the same body either way
    assert json.loads(content)["error"] == "invalid_client"


HOSTILE_TOKEN_REQUESTS: dict[str, tuple[str, dict[str, str], bool]] = {
    "grant_type": ("/oauth/token", {"grant_type": HOSTILE}, False),
    "header splitting": ("/oauth/token", _refresh(client_id=INJECTION, scope=INJECTION), False),
    "client_id": ("/oauth/token", _refresh(client_id=HOSTILE), False),
    "client_id URL": ("/oauth/token", _refresh(client_id="https://127.0.0.1/" + HOSTILE), False),
    "Basic credentials": ("/oauth/token", _refresh(), True),
    "resource": ("/oauth/token", _refresh(client_id="APP", resource=HOSTILE), False),
    "refresh_token": ("/oauth/token", _refresh(client_id="APP", refresh_token=HOSTILE), False),
    "scope": ("/oauth/token", _refresh(client_id="APP", scope=HOSTILE), False),
    "code": (
        "/oauth/token",
        {
            "grant_type": "authorization_code",
            "client_id": "APP",
            "code": HOSTILE,
            "code_verifier": HOSTILE,
            "redirect_uri": HOSTILE,
        },
        False,
    ),
    "revoke client_id": ("/oauth/revoke", {"token": "t", "client_id": HOSTILE}, False),
    "revoke Basic": ("/oauth/revoke", {"token": "t"}, True),
    "revoke without a token": ("/oauth/revoke", {"token": "", "client_id": "APP"}, False),
}


@pytest.mark.parametrize(
    "request_", HOSTILE_TOKEN_REQUESTS.values(), ids=HOSTILE_TOKEN_REQUESTS.keys()
)
def test_error_descriptions_keep_the_charset_and_never_echo(stack, app, request_):
    path, form, basic = request_
    form = {k: app["client_id"] if v == "APP" else v for k, v in form.items()}
    headers = _basic(HOSTILE, HOSTILE) if basic else {}
    response = stack.api.post(path, data=form, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert DESCRIPTION_CHARSET.match(body.get("error_description", "")), body
    for piece in (HOSTILE, "<script>", "alert(1)", "Set-Cookie", "\u2603", "\u202e"):
        assert piece not in response.text
        assert piece not in body.get("error_description", "")
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "body",
    [
        {"redirect_uris": [f"https://app.example/{HOSTILE}"]},
        {"redirect_uris": [CLIENT_REDIRECT], "grant_types": [HOSTILE]},
        {"redirect_uris": [CLIENT_REDIRECT], "scope": HOSTILE},
        {"redirect_uris": [CLIENT_REDIRECT], "token_endpoint_auth_method": HOSTILE},
        {"redirect_uris": [CLIENT_REDIRECT], "client_uri": HOSTILE},
        {"redirect_uris": HOSTILE},
    ],
    ids=["redirect_uri", "grant_types", "scope", "auth method", "client_uri", "not a list"],
)
def test_registration_errors_keep_the_charset_and_never_echo(stack, body):
    response = stack.api.post("/oauth/register", json=body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert DESCRIPTION_CHARSET.match(answer.get("error_description", "")), answer
    for piece in ("<script>", "alert(1)", "Set-Cookie", "app.example"):
        assert piece not in response.text


def test_hostile_authorize_parameters_are_escaped_on_our_page(stack, app):
    cases = [
        (name, value)
        for name in ("client_id", "redirect_uri", "scope", "resource", "response_type", "state")
        for value in (HOSTILE, INJECTION)
    ]
    for name, value in cases:
        params: dict[str, str] = {"client_id": app["client_id"], name: value}
        if name == "state":
            params["response_type"] = "token"  # an error for a client with a hostile state
        url = Flow(stack).authorize_url(**params)
        response = Browser().http.get(url)
        assert response.status_code == 400, (name, response.text[:300])
        assert "<script>alert" not in response.text
        assert "a=b" not in response.headers.get("set-cookie", "")
        assert "location" not in response.headers


# == 7. SSRF through a client ID metadata document ========================================

PRIVATE_CLIENT_IDS = [
    "https://10.0.0.1/c.json",
    "https://169.254.169.254/latest/meta-data/x",
    "https://[::ffff:10.0.0.1]/c",
    "https://[::ffff:169.254.169.254]/latest/meta-data/x",
    "https://192.0.0.8/c",
    "http://100.64.0.1/c",
    "https://100.64.0.1/c",
    "https://[fd00::1]/c",
    "https://[fe80::1]/c",
    "https://[64:ff9b::a00:1]/c",
    "https://172.16.0.1/c.json",
    "https://192.168.1.1/c.json",
    "https://0.0.0.0/c.json",
    "https://167772161/c.json",  # 10.0.0.1 as one decimal number
    "https://10.0.0.1:8443/c.json",
    "https://user:pw@10.0.0.1/c.json",
]


@pytest.fixture(scope="module")
def document_server() -> Iterator[str]:
    """A loopback origin that serves every path as a client metadata document naming it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            client_id = f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"
            body = json.dumps(
                {
                    "client_id": client_id,
                    "client_name": "Loopback document",
                    "redirect_uris": [CLIENT_REDIRECT],
                    "token_endpoint_auth_method": "none",
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_loopback_metadata_document_is_fetched_in_dev_mode(stack, document_server):
    """The control for the refusals below: metadata documents are on, and loopback (only)
    is allowed in dev mode."""
    page = Flow(stack).consent_page(document_server + "/client.json")
    assert "Loopback document" in page.text


@pytest.mark.parametrize("client_id", PRIVATE_CLIENT_IDS)
def test_a_private_metadata_document_url_is_refused_at_once(stack, client_id):
    url = Flow(stack).authorize_url(client_id)
    began = time.perf_counter()
    response = Browser().http.get(url)
    took = time.perf_counter() - began
    page = _page(response, 400)
    assert "form_token" not in page
    assert took < 3.0, f"{took:.1f} s: was a connection attempted?"
    began = time.perf_counter()
    token = stack.api.post("/oauth/token", data=_refresh(client_id=client_id))
    assert time.perf_counter() - began < 3.0
    _oauth_error(token, 401, "invalid_client")


# == 8. No 5xx, and no dropped connection, on malformed input =============================

ROUTES = [
    ("POST", "/mcp"),
    ("GET", "/mcp"),
    ("DELETE", "/mcp"),
    ("GET", "/.well-known/oauth-protected-resource"),
    ("GET", "/.well-known/oauth-protected-resource/mcp"),
    ("GET", "/.well-known/oauth-authorization-server"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/oauth/authorize"),
    ("GET", "/oauth/callback"),
    ("POST", "/oauth/consent"),
    ("POST", "/oauth/register"),
    ("POST", "/oauth/token"),
    ("POST", "/oauth/revoke"),
    ("GET", CONNECT),
    ("GET", "/oauth/github/callback"),
]
FORM_TYPE = (b"Content-Type", b"application/x-www-form-urlencoded")
JSON_TYPE = (b"Content-Type", b"application/json")


class Malformed(NamedTuple):
    """One raw request's parts beyond its method and path."""

    query: bytes = b""
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = b"{}"
    host: bytes | None = b"127.0.0.1"  # None: no Host header at all


def _form(body: bytes) -> Malformed:
    return Malformed(headers=(FORM_TYPE,), body=body)


def _json(body: bytes) -> Malformed:
    return Malformed(headers=(JSON_TYPE,), body=body)


def _header(name: bytes, *values: bytes) -> Malformed:
    return Malformed(headers=tuple((name, value) for value in values))


BATTERY: dict[str, Malformed] = {
    "raw bytes body": _form(b"\xff\xfe\x00\x80garbage=\xc3"),
    "raw bytes in a form value": _form(
        b"grant_type=refresh_token&client_id=x&refresh_token=\xff\xfe&token=\xff"
    ),
    "encoded non-UTF-8 form": _form(b"a=%ff&token=%c3&form_token=%80"),
    "encoded surrogate in a form": _form(b"token=%ed%a0%80&client_id=%ed%b0%80"),
    "bad percent escapes": _form(b"token=%zz&client_id=%&x=%4"),
    "deep JSON array": _json(b"[" * 100_000 + b"]" * 100_000),
    "deep JSON object": _json(b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    "lone surrogates in JSON": _json(
        b'{"client_name": "\\ud800", "redirect_uris": ["http://127.0.0.1:1/\\udfff"],'
        b' "jsonrpc": "2.0", "method": "\\ud800", "id": 1}'
    ),
    "a huge JSON number": _json(b'{"jsonrpc": "2.0", "id": 1' + b"0" * 5000 + b"}"),
    "NaN in JSON": _json(b'{"jsonrpc": "2.0", "id": NaN, "method": Infinity}'),
    "non-UTF-8 JSON": _json(b'{"client_name": "\xff\xfe", "jsonrpc": "2.0"}'),
    "a repeated JSON member": _json(
        b'{"redirect_uris": ["http://127.0.0.1:1/a"], "redirect_uris": 5, "id": 1, "id": 2}'
    ),
    "non-UTF-8 query": Malformed(query=b"?client_id=%ff&ticket=%fe&state=%c3&code=%80"),
    "raw bytes in the query": Malformed(query=b"?ticket=\xff\xfe&state=\xc3"),
    "encoded surrogate in the query": Malformed(query=b"?client_id=%ed%a0%80&state=%ed%b0%80"),
    "bad escapes in the query": Malformed(query=b"?ticket=%zz&state=%&client_id=%4"),
    "repeated query parameters": Malformed(query=b"?state=a&state=b&ticket=a&ticket=b"),
    "a quote in Host": Malformed(host=b'a"b'),
    "an attacker's Host": Malformed(host=b"evil.example"),
    "an empty Host": Malformed(host=b""),
    "no Host": Malformed(host=None),
    "a broken IPv6 Host": Malformed(host=b"[::1"),
    "a Host port out of range": Malformed(host=b"127.0.0.1:99999"),
    "a very long Host": Malformed(host=b"h" * 5000),
    "raw bytes in Host": Malformed(host=b"\xff\xfe.example"),
    "two Host headers": _header(b"Host", b"evil.example"),
    "a garbage bearer": _header(b"Authorization", b"Bearer \xff\xfe\x80"),
    "a very long bearer": _header(b"Authorization", b"Bearer " + b"A" * 9000),
    "a JWT-shaped bearer of garbage": _header(b"Authorization", b"Bearer e30.e30.!!!"),
    "two Authorization headers": _header(b"Authorization", b"Bearer a", b"Basic Og=="),
    "Basic that is not base64": _header(b"Authorization", b"Basic !!!***"),
    "Basic of non-UTF-8 bytes": _header(
        b"Authorization", b"Basic " + base64.b64encode(b"\xff\xfe:\x80")
    ),
    "garbage cookies": _header(
        b"Cookie", b'gg-session=\xff\xfe; gg-flow="; ;=; gg-session=' + b"x" * 5000
    ),
    "a malformed Content-Length": _header(b"Content-Length", b"abc"),
    "a negative Content-Length": _header(b"Content-Length", b"-1"),
    "a non-UTF-8 Content-Type": Malformed(
        headers=((b"Content-Type", b"\xff/\xfe; charset=nope"),), body=b"a=b"
    ),
}


@pytest.fixture(scope="module")
def bearer(stack: Target) -> bytes:
    """A real access token (the dev client's), so /mcp's handler sees the battery too."""
    client = stack.dev.dev_client
    response = stack.api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=_basic(client["client_id"], client["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"].encode()


def _send(stack: Target, method: str, path: str, case: Malformed, auth: bytes | None) -> WireAnswer:
    headers = list(case.headers)
    if auth is not None and not any(name == b"Authorization" for name, _ in headers):
        headers.insert(0, (b"Authorization", b"Bearer " + auth))
    target = path.encode() + case.query
    if any(name == b"Content-Length" for name, _ in headers):
        return _raw(stack, method, target, headers, case.host)
    return exchange(stack.port, method, target, headers, case.body, host=case.host)


def _raw(
    stack: Target,
    method: str,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    host: bytes | None,
) -> WireAnswer:
    """A request with no body and the test's own Content-Length (``exchange`` adds one)."""
    lines = [method.encode() + b" " + target + b" HTTP/1.1"]
    if host is not None:
        lines.append(b"Host: " + host)
    lines += [name + b": " + value for name, value in headers]
    lines.append(b"Connection: close")
    chunks = []
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)  # a server that reads "to the end" finds the end
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return parse_answer(b"".join(chunks))


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_no_malformed_request_gets_a_5xx_or_a_dropped_connection(stack, bearer, method, path):
    failures = []
    authenticated = [None, bearer] if path == "/mcp" else [None]
    for name, case in BATTERY.items():
        for auth in authenticated:
            answer = _send(stack, method, path, case, auth)
            label = name + (" (with a valid token)" if auth else "")
            if answer.status is None:
                failures.append(f"{label}: connection dropped")
            elif answer.status >= 500:
                failures.append(f"{label}: {answer.status} {answer.body[:120]!r}")
    assert failures == [], "\n".join(failures)
    # And the stack still serves.
    assert stack.api.get("/.well-known/oauth-authorization-server").status_code == 200
