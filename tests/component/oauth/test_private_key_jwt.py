"""private_key_jwt (RFC 7523) at /oauth/token and /oauth/revoke, through the local gateway:
a ChatGPT-shaped metadata-document client, and a DCR client with inline keys."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx
import jwt as pyjwt
import pytest

from tests.fixtures.key_clients import ASSERTION_TYPE, KeyClient, public_jwk, rsa_key
from tests.fixtures.loopback import MetadataDocuments
from tests.fixtures.oauth_stack import CLIENT_REDIRECT, Flow

OPERATOR_IAT = "operator-iat-" + "p" * 20


@pytest.fixture
def flow(oauth_stack: Any) -> Flow:
    return Flow(oauth_stack)


@pytest.fixture
def documents():
    served = MetadataDocuments()
    yield served
    served.close()


@pytest.fixture
def chatgpt(documents: MetadataDocuments) -> KeyClient:
    return KeyClient(documents)


def token_endpoint(flow: Flow) -> str:
    return flow.stack.base + "/oauth/token"


def redeem(flow: Flow, client: KeyClient, code: str, **auth: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CLIENT_REDIRECT,
        "code_verifier": flow.verifier,
        **(auth or client.form(token_endpoint(flow))),
    }
    return flow.api.post("/oauth/token", data=form)


def test_a_chatgpt_shaped_client_signs_in_with_a_client_assertion(
    flow: Flow, chatgpt: KeyClient
) -> None:
    code = flow.code(chatgpt.client_id)["code"]

    tokens = redeem(flow, chatgpt, code)

    assert tokens.status_code == 200, tokens.text
    refreshed = flow.api.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens.json()["refresh_token"],
            **chatgpt.form(flow.stack.base),  # the issuer is an accepted audience too
        },
    )
    assert refreshed.status_code == 200, refreshed.text
    revoked = flow.api.post(
        "/oauth/revoke",
        data={"token": refreshed.json()["refresh_token"], **chatgpt.form(token_endpoint(flow))},
    )
    assert revoked.status_code == 200


def test_a_replayed_assertion_is_refused(flow: Flow, chatgpt: KeyClient) -> None:
    auth = chatgpt.form(token_endpoint(flow))
    first = redeem(flow, chatgpt, flow.code(chatgpt.client_id)["code"], **auth)
    assert first.status_code == 200
    again = redeem(flow, chatgpt, flow.code(chatgpt.client_id)["code"], **auth)
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("case", "claims"),
    [
        ("wrong audience", {"aud": "https://other.example/oauth/token"}),
        ("expired", {"exp": int(time.time()) - 120, "iat": int(time.time()) - 180}),
        ("too long-lived", {"exp": int(time.time()) + 3600}),
        ("no jti", {"jti": None}),
        ("someone else's iss", {"iss": "https://evil.example/client.json"}),
    ],
)
def test_a_bad_assertion_is_invalid_client_and_spends_nothing(
    flow: Flow, chatgpt: KeyClient, case: str, claims: dict[str, Any]
) -> None:
    code = flow.code(chatgpt.client_id)["code"]
    auth = {
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": chatgpt.assertion(token_endpoint(flow), **claims),
    }
    refused = redeem(flow, chatgpt, code, **auth)
    assert refused.status_code in (400, 401), case
    assert refused.json()["error"] in ("invalid_client", "invalid_request"), case
    # The code was not spent: the real client still redeems it.
    assert redeem(flow, chatgpt, code).status_code == 200, case


def test_an_assertion_signed_with_another_key_is_refused(flow: Flow, chatgpt: KeyClient) -> None:
    code = flow.code(chatgpt.client_id)["code"]
    forged = {
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": chatgpt.assertion(token_endpoint(flow), key=rsa_key()),
    }
    refused = redeem(flow, chatgpt, code, **forged)
    assert refused.status_code == 401
    assert refused.json() == {
        "error": "invalid_client",
        "error_description": "client authentication failed",
    }


def test_a_key_client_may_not_fall_back_to_no_authentication(
    flow: Flow, chatgpt: KeyClient
) -> None:
    code = flow.code(chatgpt.client_id)["code"]
    public = flow.redeem(chatgpt.client_id, code)  # client_id only, as a public client
    assert public.status_code == 401
    assert public.json()["error"] == "invalid_client"


def test_a_jwks_uri_that_times_out_fails_closed(flow: Flow, documents: MetadataDocuments) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts, never answers
    try:
        client = KeyClient(
            documents,
            "/slow/client.json",
            jwks_uri=f"http://127.0.0.1:{silent.getsockname()[1]}/jwks",
        )
        code = flow.code(client.client_id)["code"]
        started = time.monotonic()
        refused = redeem(flow, client, code)
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_client"
        assert time.monotonic() - started < 15  # bounded by the fetcher's deadline
    finally:
        silent.close()


def test_a_dcr_client_with_inline_keys_registers_and_authenticates(flow: Flow) -> None:
    key = rsa_key()
    registered = flow.api.post(
        "/oauth/register",
        json={
            "client_name": "Keyed",
            "redirect_uris": [CLIENT_REDIRECT],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [public_jwk(key, "k1")]},
        },
    )
    assert registered.status_code == 201, registered.text
    body = registered.json()
    assert "client_secret" not in body  # keys, not a shared secret
    assert body["jwks"]["keys"][0]["kid"] == "k1"
    client_id = body["client_id"]

    now = int(time.time())
    assertion = pyjwt.encode(
        {
            "iss": client_id,
            "sub": client_id,
            "aud": token_endpoint(flow),
            "exp": now + 60,
            "iat": now,
            "jti": "j-1",
        },
        key,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    code = flow.code(client_id)["code"]
    tokens = flow.api.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CLIENT_REDIRECT,
            "code_verifier": flow.verifier,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )
    assert tokens.status_code == 200, tokens.text


@pytest.mark.parametrize(
    "keys",
    [
        {},
        {"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}},
        {"jwks_uri": "http://evil.example/jwks"},
    ],
)
def test_registration_refuses_unusable_keys(flow: Flow, keys: dict[str, Any]) -> None:
    response = flow.api.post(
        "/oauth/register",
        json={
            "redirect_uris": [CLIENT_REDIRECT],
            "token_endpoint_auth_method": "private_key_jwt",
            **keys,
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"


def test_a_machine_client_uses_keys_for_client_credentials(make_oauth_stack: Any) -> None:
    from tests.fixtures.oauth_stack import MACHINE_CLIENT

    flow = Flow(make_oauth_stack(OAUTH_INITIAL_ACCESS_TOKEN=OPERATOR_IAT))
    key = rsa_key()
    metadata = {
        **{k: v for k, v in MACHINE_CLIENT.items() if k != "token_endpoint_auth_method"},
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [public_jwk(key, "m1")]},
    }
    client_id = flow.register_as_operator(OPERATOR_IAT, **metadata)["client_id"]
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": token_endpoint(flow)}
    assertion = pyjwt.encode(
        {**claims, "exp": now + 60, "iat": now, "jti": "m-1"},
        key,
        algorithm="RS256",
        headers={"kid": "m1"},
    )
    tokens = flow.api.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )
    assert tokens.status_code == 200, tokens.text
    assert "refresh_token" not in tokens.json()
