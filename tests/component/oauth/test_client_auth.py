"""Client authentication at /oauth/token and /oauth/revoke, revocation hints, and what
error descriptions may say, over real HTTP through the local gateway (moto, fake GitHub).

- A client authenticates only by the method it registered (RFC 6749 §2.3).
- Every failure that depends on what is registered is one answer, so the endpoints do
  not tell whether a client_id exists.
- ``token_type_hint`` is only a hint (RFC 7009 §2.1).
- ``error_description`` stays in RFC 6749 §5.2's character set and never echoes input.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from gistgate.oauth.clients import AUTH_FAILED
from tests.fixtures.oauth_stack import CLIENT_REDIRECT, MACHINE_CLIENT, Flow

IAT = "operator-iat-" + "c" * 24
CHARSET = re.compile(r"^[\x20\x21\x23-\x5B\x5D-\x7E]*$")
HOSTILE = "x\"\\'<script>alert(1)</script>\u00e9\u2603\u202e"
UNIFORM = {"error": "invalid_client", "error_description": AUTH_FAILED}


@pytest.fixture
def flow(make_oauth_stack) -> Flow:
    return Flow(make_oauth_stack(OAUTH_INITIAL_ACCESS_TOKEN=IAT))


@pytest.fixture
def missing_documents() -> Iterator[str]:
    """A loopback origin that answers 404 for every client metadata document."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _machine(flow: Flow) -> dict[str, Any]:
    """A client_credentials client, registered with the operator's initial access token."""
    return flow.register_as_operator(IAT, **MACHINE_CLIENT)


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _post(flow: Flow, path: str, form: dict[str, str], authorization: str | None) -> httpx.Response:
    headers = {"Authorization": authorization} if authorization else {}
    return flow.api.post(path, data=form, headers=headers)


def _refresh_form(**form: str) -> dict[str, str]:
    """A refresh with a token that does not exist: authentication decides the error."""
    return {"grant_type": "refresh_token", "refresh_token": "nosuchfamily.secret", **form}


# -- revocation: the hint is only a hint -----------------------------------------------------


@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "no_such_type"])
def test_a_refresh_token_is_revoked_whatever_the_hint_says(flow, hint):
    client = flow.register()
    refresh = flow.tokens(client["client_id"])["refresh_token"]
    response = flow.api.post(
        "/oauth/revoke",
        data={"token": refresh, "token_type_hint": hint, "client_id": client["client_id"]},
    )
    assert response.status_code == 200
    refreshed = flow.refresh(client["client_id"], refresh)
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"


# -- the registered method, and only it ------------------------------------------------------


def test_each_client_authenticates_by_its_registered_method(flow):
    basic = flow.register(token_endpoint_auth_method="client_secret_basic")
    post = flow.register(token_endpoint_auth_method="client_secret_post")
    public = flow.register()
    attempts = [
        (_refresh_form(), _basic(basic["client_id"], basic["client_secret"])),
        (
            _refresh_form(client_id=post["client_id"], client_secret=post["client_secret"]),
            None,
        ),
        (_refresh_form(client_id=public["client_id"]), None),
    ]
    for form, authorization in attempts:
        response = _post(flow, "/oauth/token", form, authorization)
        # Authenticated: the (made-up) refresh token is what fails.
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke"])
def test_a_method_other_than_the_registered_one_is_invalid_client(flow, path):
    basic = flow.register(token_endpoint_auth_method="client_secret_basic")
    post = flow.register(token_endpoint_auth_method="client_secret_post")
    public = flow.register()
    base = _refresh_form() if path == "/oauth/token" else {"token": "nosuchfamily.secret"}
    attempts = [
        # client_secret_basic sent as client_secret_post
        ({"client_id": basic["client_id"], "client_secret": basic["client_secret"]}, None),
        # client_secret_post sent as client_secret_basic
        ({}, _basic(post["client_id"], post["client_secret"])),
        # a public client sends only its client_id: no Basic header, no secret
        ({}, _basic(public["client_id"], "")),
        ({"client_id": public["client_id"], "client_secret": "made-up"}, None),
    ]
    for extra, authorization in attempts:
        response = _post(flow, path, {**base, **extra}, authorization)
        assert response.status_code == 401, response.text
        assert response.json() == UNIFORM
        if authorization:
            assert response.headers["www-authenticate"].startswith("Basic")


# -- no client-id enumeration ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke"])
def test_unknown_client_and_wrong_secret_get_the_same_answer(flow, missing_documents, path):
    basic = flow.register(token_endpoint_auth_method="client_secret_basic")
    post = flow.register(token_endpoint_auth_method="client_secret_post")
    machine = _machine(flow)
    base = (
        {"grant_type": "client_credentials"}
        if path == "/oauth/token"
        else {"token": "nosuchfamily.secret"}
    )
    cases = {
        "unknown id, Basic": ({}, _basic("no-such-client", "some-secret")),
        "unknown id, post": ({"client_id": "no-such-client", "client_secret": "s"}, None),
        "unknown id, public": ({"client_id": "no-such-client"}, None),
        "wrong secret, Basic": ({}, _basic(machine["client_id"], "wrong-secret")),
        "wrong secret, post": ({"client_id": post["client_id"], "client_secret": "wrong"}, None),
        "missing secret": ({"client_id": machine["client_id"]}, None),
        "empty Basic secret": ({}, _basic(basic["client_id"], "")),
        "registered method mismatch": (
            {"client_id": machine["client_id"], "client_secret": machine["client_secret"]},
            None,
        ),
        "metadata document not found": (
            {"client_id": missing_documents + "/client.json"},
            None,
        ),
    }
    answers = {}
    for name, (extra, authorization) in cases.items():
        response = _post(flow, path, {**base, **extra}, authorization)
        answers[name] = (response.status_code, response.json())
        assert ("www-authenticate" in response.headers) == bool(authorization), name
    assert set(map(str, answers.values())) == {str((401, UNIFORM))}, answers


def test_a_valid_grant_type_with_failing_authentication_does_not_reveal_the_client(flow):
    """The grant type is checked before the client, its fit to the client after."""
    public = flow.register()  # registered for authorization_code and refresh_token only
    for client_id in (public["client_id"], "no-such-client"):
        response = _post(
            flow,
            "/oauth/token",
            {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "s"},
            None,
        )
        assert (response.status_code, response.json()) == (401, UNIFORM)


# -- error_description: the charset, and no echo -----------------------------------------------


def _assert_clean(response: httpx.Response, *sent: str) -> dict[str, Any]:
    body = response.json()
    description = body.get("error_description", "")
    assert CHARSET.match(description), description
    assert "<script>" not in response.text
    for value in sent:
        assert value not in description
        assert value not in response.text
    return body


def test_token_endpoint_errors_never_echo_hostile_values(flow):
    public = flow.register()
    machine = _machine(flow)
    cases = [
        ({"grant_type": HOSTILE}, None, "unsupported_grant_type"),
        (_refresh_form(client_id=HOSTILE), None, "invalid_client"),
        (_refresh_form(client_id="http://127.0.0.1:9/" + HOSTILE), None, "invalid_client"),
        ({"grant_type": "refresh_token"}, _basic(HOSTILE, HOSTILE), "invalid_client"),
        (
            _refresh_form(client_id=public["client_id"], resource=HOSTILE),
            None,
            "invalid_target",
        ),
        (
            {"grant_type": "client_credentials", "scope": f"read:gists {HOSTILE}"},
            _basic(machine["client_id"], machine["client_secret"]),
            "invalid_scope",
        ),
        (
            _refresh_form(client_id=public["client_id"], refresh_token=HOSTILE),
            None,
            "invalid_grant",
        ),
        (
            {
                "grant_type": "authorization_code",
                "client_id": public["client_id"],
                "code": HOSTILE,
                "code_verifier": HOSTILE,
                "redirect_uri": HOSTILE,
            },
            None,
            "invalid_grant",
        ),
    ]
    for form, authorization, error in cases:
        response = _post(flow, "/oauth/token", form, authorization)
        assert _assert_clean(response, HOSTILE)["error"] == error, response.text


def test_refresh_with_a_wider_hostile_scope_does_not_echo_it(flow):
    public = flow.register()
    refresh = flow.tokens(public["client_id"])["refresh_token"]
    response = _post(
        flow,
        "/oauth/token",
        _refresh_form(
            client_id=public["client_id"], refresh_token=refresh, scope=f"read:gists {HOSTILE}"
        ),
        None,
    )
    assert _assert_clean(response, HOSTILE)["error"] == "invalid_scope"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"redirect_uris": [f"https://app.example/{HOSTILE}"]}, "invalid_redirect_uri"),
        ({"redirect_uris": [CLIENT_REDIRECT, f"javascript:{HOSTILE}"]}, "invalid_redirect_uri"),
        ({"redirect_uris": [CLIENT_REDIRECT], "grant_types": [HOSTILE]}, "invalid_client_metadata"),
        (
            {"redirect_uris": [CLIENT_REDIRECT], "response_types": [HOSTILE]},
            "invalid_client_metadata",
        ),
        (
            {"redirect_uris": [CLIENT_REDIRECT], "scope": f"read:gists {HOSTILE}"},
            "invalid_client_metadata",
        ),
        (
            {"redirect_uris": [CLIENT_REDIRECT], "token_endpoint_auth_method": HOSTILE},
            "invalid_client_metadata",
        ),
        (
            {"redirect_uris": [CLIENT_REDIRECT], "client_uri": f"http://{HOSTILE}"},
            "invalid_client_metadata",
        ),
        (
            {"redirect_uris": [CLIENT_REDIRECT], "client_id": HOSTILE, "grant_types": HOSTILE},
            "invalid_client_metadata",
        ),
    ],
)
def test_registration_errors_never_echo_hostile_values(flow, body, error):
    response = flow.api.post("/oauth/register", json=body)
    assert response.status_code == 400
    answer = _assert_clean(response, HOSTILE, "app.example", "javascript:")
    assert answer["error"] == error


def test_revocation_errors_never_echo_hostile_values(flow):
    public = flow.register()
    invalid = _post(flow, "/oauth/revoke", {"token": "t", "client_id": HOSTILE}, None)
    assert invalid.status_code == 401
    assert _assert_clean(invalid, HOSTILE) == UNIFORM
    basic = _post(flow, "/oauth/revoke", {"token": "t"}, _basic(HOSTILE, HOSTILE))
    assert _assert_clean(basic, HOSTILE) == UNIFORM
    # An unknown token and an unknown hint are not errors (RFC 7009 §2.2).
    ignored = _post(
        flow,
        "/oauth/revoke",
        {"token": HOSTILE, "token_type_hint": HOSTILE, "client_id": public["client_id"]},
        None,
    )
    assert ignored.status_code == 200
    assert HOSTILE not in ignored.text


# -- operator-registered clients ---------------------------------------------------------------


def test_only_a_client_registered_with_the_initial_access_token_is_operator_registered(flow):
    from gistgate.oauth.clients import ClientRegistry
    from gistgate.storage.table import Table

    operator = _machine(flow)
    privileged_app = flow.api.post(
        "/oauth/register",
        json={"redirect_uris": [CLIENT_REDIRECT], "token_endpoint_auth_method": "none"},
        headers={"Authorization": f"Bearer {IAT}"},
    ).json()
    anyone = flow.register()
    wrong_token = flow.api.post(
        "/oauth/register",
        json={"redirect_uris": [CLIENT_REDIRECT], "token_endpoint_auth_method": "none"},
        headers={"Authorization": "Bearer not-the-operator-token"},
    ).json()
    assert "operator_registered" not in operator  # stored, not part of the metadata
    registry = ClientRegistry(Table(flow.stack.aws.table), 90)
    assert registry.get(operator["client_id"]).operator_registered is True
    assert registry.get(privileged_app["client_id"]).operator_registered is True
    assert registry.get(anyone["client_id"]).operator_registered is False
    assert registry.get(wrong_token["client_id"]).operator_registered is False
