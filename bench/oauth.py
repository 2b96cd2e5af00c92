"""OAuth function benchmarks: the token endpoint through the real handler
(API Gateway events in, moto in-process for DynamoDB and KMS), and one KMS sign.

The ID-JAG grant (enterprise-managed authorization) is measured beside
authorization_code, in alternating batches, against make dev's enterprise IdP on
loopback (its JWKS fetched once, then cached).

The KMS figure is moto's, so it is only indicative: a real Sign is a network call
(typically a few ms). It is printed next to a local ES256 sign of the same input
to show what KMS adds over the cryptography itself.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlencode

import boto3
from gistgate_dev.local.enterprise_idp import EnterpriseIdp
from gistgate_dev.local.provision import provision_from_file
from moto import mock_aws

from bench.util import ROOT, cold_start, quiet_stdout, summary, timed
from tests.fixtures.events import proxy_event

N_CALLS = 500
BASE = "https://abc123.execute-api.us-east-1.amazonaws.com/prod"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
OPERATOR_IAT = "bench-operator-iat-" + "b" * 24


def _token_event(form: dict[str, str], authorization: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if authorization:
        headers["Authorization"] = authorization
    event = proxy_event(
        "/oauth/token",
        method="POST",
        headers=headers,
        domain="abc123.execute-api.us-east-1.amazonaws.com",
    )
    event["body"] = urlencode(form)
    return event


def token_endpoint() -> dict[str, Any]:
    """p50/p99 of authorization_code and refresh_token grants through the handler, and of
    the ID-JAG grant beside authorization_code."""
    # The base URL comes from each event (the default execute-api URL), as deployed: an
    # earlier section's PUBLIC_BASE_URL would move the token endpoint the assertions name.
    os.environ.pop("PUBLIC_BASE_URL", None)
    os.environ.update(
        AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench"
    )
    idp = EnterpriseIdp().start()
    try:
        return _token_endpoint(idp)
    finally:
        idp.stop()


def _token_endpoint(idp: EnterpriseIdp) -> dict[str, Any]:
    with mock_aws():
        ids = provision_from_file(ROOT / "template.yaml", boto3.session.Session())
        os.environ.update(
            AUTH_MODE="builtin",
            TABLE_NAME=ids["Table"],
            GISTGATE_KMS_KEY_ID=ids["TokenKey"],
            GISTGATE_SIGNING_KEY_ID=ids["SigningKey"],
            # The enterprise IdP, trusted; its clients registered with the operator's token.
            EMA_TRUSTED_ISSUERS=idp.issuer,
            OAUTH_INITIAL_ACCESS_TOKEN=OPERATOR_IAT,
        )
        from gistgate.oauth import pkce
        from gistgate.oauth.grants import Grant

        app = cold_start("oauth")
        server = app.SERVER
        client = server.clients.register(
            {
                "client_name": "bench",
                "redirect_uris": ["http://127.0.0.1:9/cb"],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "scope": "read:gists write:gists",
            }
        )
        client_id = client["client_id"]
        verifier, challenge = pkce.new_pair()
        grant = Grant("github|1", client_id, "read:gists write:gists", BASE + "/mcp")
        context = _Context()
        pending: list[str] = []

        def next_code() -> None:
            pending.append(server.grants.new_code(grant, "http://127.0.0.1:9/cb", challenge))

        def redeem() -> None:
            form = {
                "grant_type": "authorization_code",
                "code": pending.pop(),
                "redirect_uri": "http://127.0.0.1:9/cb",
                "code_verifier": verifier,
                "client_id": client_id,
            }
            result = app.handler(_token_event(form), context)
            assert result["statusCode"] == 200, result["body"]
            refresh.append(json.loads(result["body"])["refresh_token"])

        refresh: list[str] = []

        def rotate() -> None:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": refresh[-1],
                "client_id": client_id,
            }
            result = app.handler(_token_event(form), context)
            assert result["statusCode"] == 200, result["body"]
            refresh.append(json.loads(result["body"])["refresh_token"])

        next_code()
        with quiet_stdout():
            stats = {
                "authorization_code": summary(timed(redeem, N_CALLS, warmup=20, between=next_code)),
                "refresh_token": summary(timed(rotate, N_CALLS, warmup=20)),
            }
        with quiet_stdout():
            stats.update(_client_auth(app, server, grant, context))
        with quiet_stdout():
            stats.update(_id_jag(app, server, idp, grant, context))
        stats["kms_sign"], stats["local_sign"] = _signing(server.signer)
        with quiet_stdout():
            stats.update(_authorize(app, client_id, challenge, context))
        stats.update(_decoding())
        return stats


def _client_auth(app: Any, server: Any, grant: Any, context: Any) -> dict[str, Any]:
    """refresh_token grants of a public client (none) and of a private_key_jwt client (an
    RS256 assertion verified with its registered key, its jti spent in DynamoDB), measured
    in alternating batches. The assertions are signed before the clock starts: signing is
    the client's cost, not the server's."""
    import dataclasses
    import time
    import uuid

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from bench.util import interleaved

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "b1"}
    keyed = server.clients.register(
        {
            "client_name": "bench keyed",
            "redirect_uris": ["http://127.0.0.1:9/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "scope": "read:gists write:gists",
            "application_type": "native",
            "jwks": {"keys": [jwk]},
        }
    )["client_id"]
    rounds = N_CALLS + 2 * 250  # interleaved's warmup and batches
    now = int(time.time())
    assertions = [
        jwt.encode(
            {
                "iss": keyed,
                "sub": keyed,
                "aud": BASE + "/oauth/token",
                "iat": now,
                "exp": now + 290,
                "jti": uuid.uuid4().hex,
            },
            key,
            algorithm="RS256",
            headers={"kid": "b1"},
        )
        for _ in range(rounds)
    ]
    chains: dict[str, list[str]] = {}
    for name, client_id in (("none", grant.client_id), ("private_key_jwt", keyed)):
        family = server.grants.redeem_code(
            server.grants.new_code(
                dataclasses.replace(grant, client_id=client_id),
                "http://127.0.0.1:9/cb",
                _CHALLENGE[1],
            ),
            client_id,
            "http://127.0.0.1:9/cb",
            _CHALLENGE[0],
            None,
            BASE,
            True,
        )
        chains[name] = [family.refresh_token]

    def rotate(name: str, auth: dict[str, str]) -> None:
        form = {"grant_type": "refresh_token", "refresh_token": chains[name][-1], **auth}
        result = app.handler(_token_event(form), context)
        assert result["statusCode"] == 200, result["body"]
        chains[name].append(json.loads(result["body"])["refresh_token"])

    samples = interleaved(
        {
            "token_none": lambda: rotate("none", {"client_id": grant.client_id}),
            "token_private_key_jwt": lambda: rotate(
                "private_key_jwt",
                {
                    "client_assertion_type": (
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                    ),
                    "client_assertion": assertions.pop(),
                },
            ),
        },
        N_CALLS,
        warmup=20,
    )
    return {name: summary(values) for name, values in samples.items()}


def _id_jag(app: Any, server: Any, idp: EnterpriseIdp, grant: Any, context: Any) -> dict[str, Any]:
    """The ID-JAG grant (jwt-bearer: client_secret_basic, the IdP's RS256 signature checked
    with its cached JWKS, the claims, one KMS sign, one conditional put of the jti) beside
    authorization_code (the public client of the main figures: the code's get, PKCE, one
    KMS sign, the code's conditional update, the refresh family's put), in alternating
    batches.

    The codes are written and the ID-JAGs signed before the clock starts (untimed: the
    authorization flow's and the IdP's cost, not the token endpoint's); both are good for
    300 seconds, and the whole comparison takes a few. The first ID-JAG, before the warmup,
    fetches the IdP's metadata and JWKS; the counts say no later call fetched again.
    """
    import base64
    import time
    import uuid

    from bench.util import interleaved

    enterprise = server.registration.register(
        {
            "client_name": "bench enterprise agent",
            "grant_types": [JWT_BEARER],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "read:gists write:gists",
        },
        "127.0.0.1",
        f"Bearer {OPERATOR_IAT}",
    )
    enterprise_id = enterprise["client_id"]
    credentials = f"{enterprise_id}:{enterprise['client_secret']}".encode()
    basic = "Basic " + base64.b64encode(credentials).decode()
    warmup = 20
    rounds = N_CALLS + warmup + 1
    now = int(time.time())
    assertions = [
        idp.sign(
            {
                "iss": idp.issuer,
                "sub": f"00u-bench-{i}",
                "aud": BASE,
                "resource": BASE + "/mcp",
                "client_id": enterprise_id,
                "jti": uuid.uuid4().hex,
                "iat": now,
                "exp": now + 300,
                "scope": "read:gists write:gists",
            }
        )
        for i in range(rounds)
    ]
    verifier, challenge = _CHALLENGE
    codes = [
        server.grants.new_code(grant, "http://127.0.0.1:9/cb", challenge) for _ in range(rounds)
    ]

    def redeem() -> None:
        form = {
            "grant_type": "authorization_code",
            "code": codes.pop(),
            "redirect_uri": "http://127.0.0.1:9/cb",
            "code_verifier": verifier,
            "client_id": grant.client_id,
        }
        result = app.handler(_token_event(form), context)
        assert result["statusCode"] == 200, result["body"]

    def trade() -> None:
        form = {"grant_type": JWT_BEARER, "assertion": assertions.pop()}
        result = app.handler(_token_event(form, basic), context)
        assert result["statusCode"] == 200, result["body"]

    trade()  # the first: discovery and the JWKS fetch, untimed
    redeem()
    fetched = idp.jwks_fetches
    samples = interleaved(
        {"side_authorization_code": redeem, "id_jag": trade}, N_CALLS, batch=100, warmup=warmup
    )
    stats: dict[str, Any] = {name: summary(values) for name, values in samples.items()}
    stats["id_jag_jwks_fetches"] = {"first_use": fetched, "after": idp.jwks_fetches - fetched}
    return stats


def _pkce_pair() -> tuple[str, str]:
    from gistgate.oauth import pkce

    return pkce.new_pair()


_CHALLENGE = _pkce_pair()


def _authorize_event(query: dict[str, str], cookie: str | None) -> dict[str, Any]:
    event = proxy_event(
        "/oauth/authorize",
        headers={"Cookie": cookie} if cookie else None,
        domain="abc123.execute-api.us-east-1.amazonaws.com",
    )
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return event


def _authorize(app: Any, client_id: str, challenge: str, context: Any) -> dict[str, Any]:
    """GET /oauth/authorize: the consent page (signed out: the page comes before any
    upstream contact) and the remembered approval of a signed-in user (a code at once)."""
    from gistgate.oauth.consents import Consents
    from gistgate.oauth.sessions import Sessions

    store = app.SERVER.store
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": "http://127.0.0.1:9/cb",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": "read:gists write:gists",
        "state": "bench",
    }
    _, cookie = Sessions(store).open("github|1", "bench", BASE)
    Consents(store).remember("github|1", client_id, "read:gists write:gists")
    page = _authorize_event(query, None)
    remembered = _authorize_event(query, f"{cookie.name}={cookie.value}")

    def consent_page() -> None:
        result = app.handler(page, context)
        assert result["statusCode"] == 200, result["body"][:200]

    def code_at_once() -> None:
        result = app.handler(remembered, context)
        assert result["statusCode"] == 302, result["body"][:200]

    return {
        "authorize_consent_page": summary(timed(consent_page, N_CALLS, warmup=20)),
        "authorize_remembered": summary(timed(code_at_once, N_CALLS, warmup=20)),
    }


def _decoding() -> dict[str, Any]:
    """The strict form decoder (repeats refused, strict UTF-8) next to parse_qsl."""
    from urllib.parse import parse_qsl

    from bench.util import interleaved
    from gistgate.core import inbound

    event = _token_event(
        {
            "grant_type": "authorization_code",
            "code": "c" * 43,
            "redirect_uri": "http://127.0.0.1:9/cb",
            "code_verifier": "v" * 43,
            "client_id": "client-" + "x" * 20,
            "resource": BASE + "/mcp",
        }
    )
    samples = interleaved(
        {
            "inbound_form": lambda: inbound.form(event),
            "parse_qsl": lambda: dict(parse_qsl(event["body"])),
        },
        20_000,
    )
    return {name: summary(values) for name, values in samples.items()}


def _signing(signer: Any) -> tuple[dict[str, float], dict[str, float]]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    claims = {"iss": BASE, "aud": BASE + "/mcp", "sub": "github|1", "scope": "read:gists"}
    key = ec.generate_private_key(ec.SECP256R1())
    message = json.dumps(claims).encode()
    kms = summary(timed(lambda: signer.sign(claims), N_CALLS, warmup=20))
    local = summary(timed(lambda: key.sign(message, ec.ECDSA(hashes.SHA256())), N_CALLS, warmup=20))
    return kms, local


class _Context:
    function_name = "gistgate-oauth"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:gistgate-oauth"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000
