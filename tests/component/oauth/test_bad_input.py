"""Regression tests for "No 5xx on any input": one per finding, over real HTTP through
the local gateway (moto, the fake GitHub). Each once answered a 5xx or dropped the
connection where a 4xx belongs. tests/fuzz generalizes them."""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import httpx
import pytest

from gistgate.oauth.errors import InvalidRequest, from_storage
from gistgate.storage.aws import AwsCallFailed
from gistgate.storage.errors import StorageRejected
from gistgate.storage.table import Table
from gistgate.storage.tickets import TicketRecord
from tests.fixtures.oauth_stack import CLIENT_REDIRECT, FORM_ACTION, FORM_TOKEN, Flow, OAuthStack
from tests.fixtures.wire import exchange

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def flow(oauth_stack: OAuthStack) -> Flow:
    return Flow(oauth_stack)


def _invalid_request(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


def _page_400(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers


def _registration(**metadata: object) -> dict[str, object]:
    return {
        "client_name": "Bad input client",
        "redirect_uris": [CLIENT_REDIRECT],
        "token_endpoint_auth_method": "none",
        **metadata,
    }


# -- /oauth/register: JSON ------------------------------------------------------------------


def test_deeply_nested_registration_is_invalid_request(flow):
    body = b"[" * 100_000 + b"]" * 100_000  # was a RecursionError: 502
    _invalid_request(flow.api.post("/oauth/register", content=body, headers=JSON))


def test_lone_surrogate_in_client_name_is_invalid_request(flow):
    body = json.dumps(_registration(client_name="\ud800")).encode()  # the escape "\ud800"
    assert b"\\ud800" in body
    # was 503 "storage is not answering" (DynamoDB refuses it), 502 with moto in process
    _invalid_request(flow.api.post("/oauth/register", content=body, headers=JSON))


def test_repeated_member_in_registration_is_invalid_request(flow):
    body = (
        b'{"redirect_uris": ["http://127.0.0.1:1/a"], "token_endpoint_auth_method": "none",'
        b' "redirect_uris": ["%s"]}' % CLIENT_REDIRECT.encode()
    )
    _invalid_request(flow.api.post("/oauth/register", content=body, headers=JSON))


# -- /oauth/token and /oauth/revoke: forms -------------------------------------------------


def test_raw_non_utf8_bytes_in_a_token_form_field_are_invalid_request(flow):
    client = flow.register(grant_types=["authorization_code", "refresh_token"])
    body = b"grant_type=refresh_token&client_id=%s&refresh_token=\xff\xfe" % (
        client["client_id"].encode()
    )
    _invalid_request(flow.api.post("/oauth/token", content=body, headers=FORM))  # was 502


def test_percent_encoded_surrogate_in_a_token_form_field_is_invalid_request(flow):
    client = flow.register()
    body = b"grant_type=refresh_token&client_id=%s&refresh_token=%%ed%%a0%%80" % (
        client["client_id"].encode()
    )
    _invalid_request(flow.api.post("/oauth/token", content=body, headers=FORM))


def test_a_repeated_grant_type_is_invalid_request(flow):
    client = flow.register()
    refresh = flow.tokens(client["client_id"])["refresh_token"]
    body = {
        "grant_type": "refresh_token",
        "refresh_token": refresh,
        "client_id": client["client_id"],
    }
    # the last one used to win: this refreshed
    repeated = [("grant_type", "password"), *body.items()]
    _invalid_request(flow.api.post("/oauth/token", content=urlencode(repeated), headers=FORM))


@pytest.mark.parametrize("name", ["redirect_uri", "resource", "code", "code_verifier"])
def test_a_repeated_token_parameter_is_invalid_request(flow, name):
    client = flow.register()
    code = flow.code(client["client_id"])["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CLIENT_REDIRECT,
        "code_verifier": flow.verifier,
        "client_id": client["client_id"],
        "resource": flow.stack.mcp_url,
    }
    # the first is wrong, the last right: the last one used to win, and a token was issued
    repeated = [(name, "wrong"), *form.items()]
    _invalid_request(flow.api.post("/oauth/token", content=urlencode(repeated), headers=FORM))


def test_a_repeated_revoke_parameter_is_invalid_request(flow):
    client = flow.register()
    body = b"token=a&token=b&client_id=" + client["client_id"].encode()
    _invalid_request(flow.api.post("/oauth/revoke", content=body, headers=FORM))


# -- the browser endpoints: pages -----------------------------------------------------------


def test_raw_non_utf8_bytes_in_the_consent_form_are_a_400_page(flow):
    response = flow.api.post("/oauth/consent", content=b"form_token=\xff", headers=FORM)
    _page_400(response)  # was 502


@pytest.mark.parametrize("name", ["redirect_uri", "resource", "state", "client_id"])
def test_a_repeated_authorize_parameter_is_a_400_page(flow, name):
    client = flow.register()
    url = httpx.URL(flow.authorize_url(client["client_id"]))
    # the first is wrong, the last right: the last one used to win
    params = [(name, "wrong"), *url.params.multi_items()]
    _page_400(flow.browser.http.get(url.copy_with(params=params)))
    assert flow.stack.github.count("GET", "/login/oauth/authorize") == 0


@pytest.mark.parametrize("value", ["%ff", "%ed%a0%80", "%00"])
def test_a_query_value_that_is_not_text_is_a_400_page(flow, value):
    client = flow.register()
    url = flow.authorize_url(client["client_id"]).replace("state=client-state-1", "state=" + value)
    response = flow.browser.http.get(url)
    _page_400(response)
    assert "the query" in response.text


def test_a_repeated_consent_parameter_is_a_400_page(flow):
    client = flow.register()
    page = flow.browser.follow(flow.authorize_url(client["client_id"]), until=CLIENT_REDIRECT)
    token, action = FORM_TOKEN.search(page.text), FORM_ACTION.search(page.text)
    assert token, page.text
    assert action, page.text
    form = [
        ("form_token", html.unescape(token.group(1))),
        ("decision", "deny"),
        ("decision", "approve"),  # the last one used to win
    ]
    response = flow.browser.http.post(
        html.unescape(action.group(1)), content=urlencode(form), headers=FORM
    )
    _page_400(response)


# -- the local gateway ------------------------------------------------------------------------


def test_a_quote_in_host_on_an_unauthenticated_mcp_call_is_answered(oauth_stack):
    answer = exchange(oauth_stack.server.port, "POST", b"/prod/mcp", host=b'a"b', body=b"{}")
    assert answer.status is not None, "the connection was dropped"  # it was
    assert 400 <= answer.status < 500


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1 2"])
def test_a_malformed_content_length_is_answered(oauth_stack, length):
    answer = exchange(
        oauth_stack.server.port, "POST", b"/prod/oauth/token", [(b"Content-Length", length)]
    )
    assert answer.status is not None, "the connection was dropped"
    assert 400 <= answer.status < 500


# -- a client metadata document with a lone surrogate -------------------------------------


class _Document:
    """Serves one client metadata document, bytes as given."""

    def __init__(self) -> None:
        self.body = b"{}"
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(served.body)))
                self.end_headers()
                self.wfile.write(served.body)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/client.json"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def document() -> Iterator[_Document]:
    served = _Document()
    yield served
    served.close()


def test_cimd_client_name_with_a_lone_surrogate_still_renders(flow, document):
    document.body = json.dumps(
        {
            "client_id": document.url,
            "client_name": "Odd \ud800 name",
            "redirect_uris": [CLIENT_REDIRECT],
        }
    ).encode()
    url = flow.authorize_url(document.url)
    # was a dropped connection: encoding the consent page failed
    response = flow.browser.follow(url, until=CLIENT_REDIRECT)
    assert response.status_code < 500, response.text
    response.content.decode("utf-8")  # whatever the page is, it is UTF-8


# -- storage: input it cannot hold is the client's error ---------------------------------


def test_dynamodb_validation_exception_is_invalid_request_not_503(monkeypatch):
    def refuse(service, operation, **params):
        raise AwsCallFailed(service, operation, "ValidationException", {})

    monkeypatch.setattr("gistgate.storage.table.call", refuse)
    with pytest.raises(StorageRejected) as caught:
        Table("table").get({"pk": "x", "sk": "y"}, TicketRecord)
    answer = from_storage(caught.value)  # what the OAuth function answers
    assert isinstance(answer, InvalidRequest)
    assert answer.status == 400


def test_a_value_storage_cannot_encode_is_invalid_request_before_any_call(monkeypatch):
    calls = []
    monkeypatch.setattr("gistgate.storage.table.call", lambda *a, **k: calls.append(a))
    with pytest.raises(StorageRejected):
        Table("table").put({"pk": "CLIENT#\udcff", "sk": "CLIENT"}, TicketRecord("x", "c"), ttl=60)
    assert calls == []
