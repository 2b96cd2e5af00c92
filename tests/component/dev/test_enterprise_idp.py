"""gistgate_dev/local/enterprise_idp.py: make dev's local enterprise IdP over HTTP on 127.0.0.1.

Its sign-in (``POST /login``: an ID token for a user, issued to an IdP client), its RFC 8693
token exchange (``POST /token``: that ID token for an ID-JAG, with the checks the profile
asks of an IdP), its discovery documents and JWKS, and key rotation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from gistgate_dev.local.enterprise_idp import (
    ID_JAG_TOKEN_TYPE,
    ID_TOKEN_TYPE,
    TOKEN_EXCHANGE,
    EnterpriseIdp,
    IdpClient,
)

AS_ISSUER = "http://127.0.0.1:3000"
MCP_URL = AS_ISSUER + "/mcp"
USER = "alice@example.com"
ID_JAG_CLAIMS = {"iss", "sub", "aud", "resource", "client_id", "jti", "iat", "exp", "scope"}


@pytest.fixture(scope="module")
def local_idp() -> Iterator[EnterpriseIdp]:
    """One IdP for the module (a stop costs serve_forever's 0.5 s poll); each test adds
    its own clients. Tests that rotate its key take :func:`fresh_idp`."""
    idp = EnterpriseIdp().start()
    yield idp
    idp.stop()


@pytest.fixture
def fresh_idp() -> Iterator[EnterpriseIdp]:
    idp = EnterpriseIdp().start()
    yield idp
    idp.stop()


@pytest.fixture
def client(local_idp: EnterpriseIdp) -> IdpClient:
    return local_idp.add_client("mcp-client-1")


def login(idp: EnterpriseIdp, client: IdpClient, sub: str = USER) -> str:
    answer = httpx.post(f"{idp.issuer}/login", data={"sub": sub, "client_id": client.client_id})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id_token"])


def exchange_form(client: IdpClient, id_token: str, **overrides: str | None) -> dict[str, str]:
    form: dict[str, str | None] = {
        "grant_type": TOKEN_EXCHANGE,
        "requested_token_type": ID_JAG_TOKEN_TYPE,
        "subject_token": id_token,
        "subject_token_type": ID_TOKEN_TYPE,
        "audience": AS_ISSUER,
        "resource": MCP_URL,
        "scope": "read:gists write:gists",
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        **overrides,
    }
    return {k: v for k, v in form.items() if v is not None}


def exchange(idp: EnterpriseIdp, client: IdpClient, **overrides: str | None) -> httpx.Response:
    """The token exchange for ``client``'s dev user (``overrides`` change the form)."""
    id_token = login(idp, client)
    return httpx.post(idp.token_endpoint, data=exchange_form(client, id_token, **overrides))


def verified(idp: EnterpriseIdp, token: str, audience: str = AS_ISSUER) -> dict[str, Any]:
    """The claims, verified with the key the IdP publishes at its jwks_uri."""
    metadata = httpx.get(f"{idp.issuer}/.well-known/openid-configuration").json()
    jwks = httpx.get(metadata["jwks_uri"]).json()
    kid = jwt.get_unverified_header(token)["kid"]
    [jwk] = [k for k in jwks["keys"] if k["kid"] == kid]
    key = jwt.PyJWK(jwk).key
    claims: dict[str, Any] = jwt.decode(
        token, key, algorithms=["RS256"], audience=audience, issuer=idp.issuer
    )
    return claims


# -- the ID-JAG it issues ---------------------------------------------------------------------


def test_the_exchange_issues_an_id_jag_with_the_profile_header_and_claims(local_idp, client):
    answer = exchange(local_idp, client)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["issued_token_type"] == ID_JAG_TOKEN_TYPE
    assert body["token_type"] == "N_A"  # RFC 8693 §2.2.1: not an access token for the IdP
    assert body["expires_in"] == 300
    assert answer.headers["Cache-Control"] == "no-store"
    assertion = body["access_token"]
    header = jwt.get_unverified_header(assertion)
    assert header["typ"] == "oauth-id-jag+jwt"
    assert header["alg"] == "RS256"
    assert header["kid"] == local_idp.jwks()["keys"][0]["kid"]
    claims = verified(local_idp, assertion)
    assert set(claims) == ID_JAG_CLAIMS
    assert claims["iss"] == local_idp.issuer
    assert claims["sub"] == USER  # the signed-in user, from the ID token
    assert claims["aud"] == AS_ISSUER
    assert claims["resource"] == MCP_URL
    assert claims["client_id"] == "mcp-client-1"  # the client's id at the MCP AS, mapped
    assert claims["client_id"] != client.client_id
    assert claims["scope"] == "read:gists write:gists"
    assert claims["exp"] - claims["iat"] == 300
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 16


def test_every_id_jag_has_its_own_jti(local_idp, client):
    jtis = {verified(local_idp, exchange(local_idp, client).json()["access_token"])["jti"]}
    jtis.add(verified(local_idp, exchange(local_idp, client).json()["access_token"])["jti"])

    assert len(jtis) == 2


def test_the_scope_is_limited_to_what_add_client_allowed(local_idp):
    reader = local_idp.add_client("mcp-reader", scope="read:gists")

    asked_more = exchange(local_idp, reader, scope="read:gists write:gists admin:gists")
    asked_none = exchange(local_idp, reader, scope=None)

    assert asked_more.status_code == 200, asked_more.text
    assert asked_more.json()["scope"] == "read:gists"
    assert verified(local_idp, asked_more.json()["access_token"])["scope"] == "read:gists"
    # No scope asked: everything the policy allows, and still no more.
    assert verified(local_idp, asked_none.json()["access_token"])["scope"] == "read:gists"


def test_a_request_for_nothing_the_policy_allows_is_invalid_scope(local_idp):
    reader = local_idp.add_client("mcp-reader", scope="read:gists")

    answer = exchange(local_idp, reader, scope="write:gists")

    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_scope"}


def test_a_narrower_request_gets_only_what_it_asked_for(local_idp, client):
    answer = exchange(local_idp, client, scope="write:gists")

    assert verified(local_idp, answer.json()["access_token"])["scope"] == "write:gists"


# -- what the exchange refuses ------------------------------------------------------------------


def refused(answer: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert body["error"] == error
    assert "access_token" not in body
    return body


@pytest.mark.parametrize(
    "credentials",
    [
        {"client_secret": "not-the-secret"},
        {"client_secret": None},
        {"client_id": "idp-unknown"},
    ],
    ids=["wrong-secret", "no-secret", "unknown-client"],
)
def test_the_exchange_refuses_a_client_that_does_not_authenticate(local_idp, client, credentials):
    refused(exchange(local_idp, client, **credentials), 401, "invalid_client")


def test_the_exchange_refuses_another_clients_secret(local_idp, client):
    other = local_idp.add_client("mcp-client-2")

    answer = exchange(local_idp, client, client_secret=other.client_secret)

    refused(answer, 401, "invalid_client")


@pytest.mark.parametrize(
    "requested",
    [
        "urn:ietf:params:oauth:token-type:access_token",
        "urn:ietf:params:oauth:token-type:jwt",
        None,
    ],
    ids=["access_token", "jwt", "missing"],
)
def test_the_exchange_refuses_another_requested_token_type(local_idp, client, requested):
    body = refused(
        exchange(local_idp, client, requested_token_type=requested), 400, "invalid_request"
    )

    assert body["error_description"] == "requested_token_type"


def test_the_exchange_refuses_another_subject_token_type(local_idp, client):
    answer = exchange(
        local_idp, client, subject_token_type="urn:ietf:params:oauth:token-type:access_token"
    )

    assert refused(answer, 400, "invalid_request")["error_description"] == "subject_token_type"


def test_the_exchange_refuses_another_grant_type(local_idp, client):
    answer = exchange(local_idp, client, grant_type="client_credentials")

    refused(answer, 400, "unsupported_grant_type")


@pytest.mark.parametrize("missing", ["audience", "resource"])
def test_the_exchange_needs_an_audience_and_a_resource(local_idp, client, missing):
    answer = exchange(local_idp, client, **{missing: None})

    assert refused(answer, 400, "invalid_request")["error_description"] == "audience, resource"


def test_the_exchange_refuses_an_id_token_issued_to_another_client(local_idp, client):
    other = local_idp.add_client("mcp-client-2")
    theirs = login(local_idp, other)  # aud: the other client
    assert jwt.decode(theirs, options={"verify_signature": False})["aud"] == other.client_id

    answer = httpx.post(local_idp.token_endpoint, data=exchange_form(client, theirs))

    body = refused(answer, 400, "invalid_grant")
    assert body["error_description"] == "subject_token"
    # The other client can exchange it: the refusal is the audience, not the token.
    mine = httpx.post(local_idp.token_endpoint, data=exchange_form(other, theirs))
    assert mine.status_code == 200, mine.text


@pytest.mark.parametrize(
    "subject_token",
    ["", "not-a-jwt", "e30.e30.e30"],
    ids=["empty", "garbage", "unsigned"],
)
def test_the_exchange_refuses_a_subject_token_it_did_not_sign(local_idp, client, subject_token):
    answer = httpx.post(local_idp.token_endpoint, data=exchange_form(client, subject_token))

    refused(answer, 400, "invalid_grant")


def test_the_exchange_refuses_an_id_token_from_another_idp(local_idp, client):
    other_idp = EnterpriseIdp().start()
    try:
        other_idp.add_client("mcp-client-1")  # a client of the same name elsewhere
        foreign = other_idp.id_token(USER, client.client_id)  # right aud, wrong iss and key
    finally:
        other_idp.stop()

    answer = httpx.post(local_idp.token_endpoint, data=exchange_form(client, foreign))

    refused(answer, 400, "invalid_grant")


def test_the_exchange_refuses_an_id_token_signed_with_the_wrong_key(local_idp, client):
    # Our issuer and audience, but signed by a key the IdP does not hold.
    impostor = EnterpriseIdp().start()  # stop() waits for serve_forever: start it
    try:
        claims = jwt.decode(login(local_idp, client), options={"verify_signature": False})
        forged = impostor.sign(claims, {"typ": "JWT"})
    finally:
        impostor.stop()

    answer = httpx.post(local_idp.token_endpoint, data=exchange_form(client, forged))

    refused(answer, 400, "invalid_grant")


def test_an_expired_id_token_is_refused(local_idp, client):
    claims = jwt.decode(login(local_idp, client), options={"verify_signature": False})
    expired = local_idp.sign(
        {**claims, "iat": claims["iat"] - 1200, "exp": claims["iat"] - 600}, {"typ": "JWT"}
    )

    answer = httpx.post(local_idp.token_endpoint, data=exchange_form(client, expired))

    refused(answer, 400, "invalid_grant")


# -- sign-in ----------------------------------------------------------------------------------


def test_login_issues_an_id_token_for_the_user_to_the_client(local_idp, client):
    id_token = login(local_idp, client, sub="bob@example.com")

    header = jwt.get_unverified_header(id_token)
    claims = verified(local_idp, id_token, audience=client.client_id)
    assert header["typ"] == "JWT"  # an ID token, not an ID-JAG
    assert claims["sub"] == "bob@example.com"
    assert claims["aud"] == client.client_id
    assert claims["iss"] == local_idp.issuer


@pytest.mark.parametrize(
    "form",
    [{"client_id": "idp-unknown"}, {"sub": None}, {"sub": ""}, {"client_id": None}],
    ids=["unknown-client", "no-sub", "empty-sub", "no-client"],
)
def test_login_refuses_an_unknown_client_or_no_user(local_idp, client, form):
    data = {"sub": USER, "client_id": client.client_id, **form}
    data = {k: v for k, v in data.items() if v is not None}

    answer = httpx.post(f"{local_idp.issuer}/login", data=data)

    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_request"}


# -- discovery, keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
def test_metadata_is_served_at_both_names(local_idp, path):
    answer = httpx.get(local_idp.issuer + path)

    assert answer.status_code == 200
    metadata = answer.json()
    assert metadata["issuer"] == local_idp.issuer
    assert metadata["jwks_uri"] == f"{local_idp.issuer}/jwks"
    assert metadata["token_endpoint"] == f"{local_idp.issuer}/token"
    assert TOKEN_EXCHANGE in metadata["grant_types_supported"]
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]


def test_the_jwks_publishes_the_public_signing_key(local_idp):
    fetches = local_idp.jwks_fetches
    answer = httpx.get(f"{local_idp.issuer}/jwks")

    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    [key] = answer.json()["keys"]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert {"n", "e", "kid"} <= set(key)
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)  # no private part
    assert local_idp.jwks_fetches == fetches + 1


def test_an_unknown_path_is_404(local_idp):
    assert httpx.get(f"{local_idp.issuer}/nowhere").status_code == 404
    assert httpx.post(f"{local_idp.issuer}/register", data={}).status_code == 404


def test_rotate_changes_the_published_kid_and_the_signing_key(fresh_idp):
    client = fresh_idp.add_client("mcp-client-1")
    before = httpx.get(f"{fresh_idp.issuer}/jwks").json()["keys"][0]["kid"]
    old_id_token = login(fresh_idp, client)

    kid = fresh_idp.rotate()

    published = [k["kid"] for k in httpx.get(f"{fresh_idp.issuer}/jwks").json()["keys"]]
    assert published == [kid]
    assert kid != before
    fresh = exchange(fresh_idp, client).json()["access_token"]
    assert jwt.get_unverified_header(fresh)["kid"] == kid
    assert verified(fresh_idp, fresh)["sub"] == USER
    # The old key is gone: what it signed no longer verifies, at the IdP either.
    stale = httpx.post(fresh_idp.token_endpoint, data=exchange_form(client, old_id_token))
    refused(stale, 400, "invalid_grant")


def test_rotate_keep_previous_publishes_both_and_still_accepts_the_old(fresh_idp):
    client = fresh_idp.add_client("mcp-client-1")
    before = fresh_idp.jwks()["keys"][0]["kid"]
    old_id_token = login(fresh_idp, client)

    kid = fresh_idp.rotate(keep_previous=True)

    published = [k["kid"] for k in httpx.get(f"{fresh_idp.issuer}/jwks").json()["keys"]]
    assert published == [kid, before]  # the new one first: it signs
    answer = httpx.post(fresh_idp.token_endpoint, data=exchange_form(client, old_id_token))
    assert answer.status_code == 200, answer.text
    assert jwt.get_unverified_header(answer.json()["access_token"])["kid"] == kid


def test_mint_makes_an_id_jag_as_the_exchange_does_with_claims_replaced(local_idp):
    assertion = local_idp.mint(
        sub=USER, client_id="mcp-client-1", audience=AS_ISSUER, resource=MCP_URL, jti="fixed"
    )

    assert jwt.get_unverified_header(assertion)["typ"] == "oauth-id-jag+jwt"
    claims = verified(local_idp, assertion)
    assert set(claims) == ID_JAG_CLAIMS
    assert claims["jti"] == "fixed"
    assert claims["scope"] == "read:gists write:gists"
