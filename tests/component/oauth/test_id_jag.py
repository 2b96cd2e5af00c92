"""The ID-JAG grant (enterprise-managed authorization) at /oauth/token, through the local
gateway and the real handlers, against make dev's local enterprise IdP over HTTP."""

from __future__ import annotations

import time
from typing import Any

import jwt as pyjwt
import pytest

from gistgate.oauth.id_jag import issuer_id
from tests.fixtures.enterprise import (
    ENTERPRISE_USER,
    JWT_BEARER,
    OPERATOR_IAT,
    Enterprise,
    basic,
    register_enterprise_client,
)


def claims_of(token: str) -> dict[str, Any]:
    return pyjwt.decode(token, options={"verify_signature": False})


def refused(response: Any, error: str = "invalid_grant") -> str:
    assert response.status_code in (400, 401), response.text
    body = response.json()
    assert body["error"] == error, body
    assert response.headers["cache-control"] == "no-store"
    return str(body["error_description"])


# -- the happy path ---------------------------------------------------------------------------


def test_an_id_jag_becomes_an_access_token_that_calls_a_tool(enterprise: Enterprise) -> None:
    response = enterprise.trade(enterprise.mint())

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "read:gists write:gists"
    assert "refresh_token" not in body  # EMA_REFRESH_TOKENS is off by default
    claims = claims_of(body["access_token"])
    expected_sub = f"ema|{issuer_id(enterprise.idp.issuer)}|{ENTERPRISE_USER}"
    assert claims["sub"] == expected_sub
    assert claims["aud"] == enterprise.stack.mcp_url
    assert claims["iss"] == enterprise.stack.base
    assert claims["client_id"] == enterprise.client_id
    assert "act" not in claims
    whoami = enterprise.flow.mcp(body["access_token"])
    assert whoami.status_code == 200, whoami.text
    result = whoami.json()["result"]
    assert not result.get("isError"), result
    assert expected_sub in str(result)


def test_the_scope_is_what_the_id_jag_grants(enterprise: Enterprise) -> None:
    body = enterprise.trade(enterprise.mint(scope="read:gists")).json()

    assert body["scope"] == "read:gists"
    token = body["access_token"]
    create = enterprise.flow.mcp(
        token,
        params={
            "name": "create_gist",
            "arguments": {"files": {"a.txt": "hello"}, "description": "x"},
        },
    )
    # Refused for want of write:gists: a step-up 403 at the gateway, or the tool's own check.
    refusal = create.status_code == 403 or create.json()["result"].get("isError")
    assert refusal, create.text
    assert "write:gists" in (create.headers.get("www-authenticate", "") + create.text)


def test_a_narrower_scope_may_be_requested(enterprise: Enterprise) -> None:
    body = enterprise.trade(enterprise.mint(), scope="read:gists").json()

    assert body["scope"] == "read:gists"


def test_a_scope_beyond_the_id_jag_is_invalid_scope(enterprise: Enterprise) -> None:
    response = enterprise.trade(enterprise.mint(scope="read:gists"), scope="write:gists")

    assert "scope" in refused(response, "invalid_scope")


def test_a_scope_beyond_the_client_registration_is_invalid_scope(
    enterprise: Enterprise,
) -> None:
    reader = register_enterprise_client(enterprise.flow, scope="read:gists")
    assertion = enterprise.mint(client_id=reader["client_id"])

    response = enterprise.trade(
        assertion,
        authorization=basic(reader["client_id"], reader["client_secret"]),
        scope="read:gists write:gists",
    )

    refused(response, "invalid_scope")


def test_no_scope_left_is_invalid_scope(enterprise: Enterprise) -> None:
    response = enterprise.trade(enterprise.mint(scope="admin:server other:thing"))

    assert "no scope" in refused(response, "invalid_scope")


def test_the_admin_scope_goes_only_to_admin_subjects(
    make_enterprise: Any, enterprise_idp: Any
) -> None:
    admin = f"ema|{issuer_id(enterprise_idp.issuer)}|the-admin"
    ent = make_enterprise(OAUTH_ADMIN_SUBJECTS=admin)
    privileged = register_enterprise_client(ent.flow, scope="read:gists admin:server")
    auth = basic(privileged["client_id"], privileged["client_secret"])
    scope = "read:gists admin:server"

    as_admin = ent.trade(
        ent.mint(sub="the-admin", client_id=privileged["client_id"], scope=scope),
        authorization=auth,
    )
    as_other = ent.trade(
        ent.mint(sub="someone", client_id=privileged["client_id"], scope=scope),
        authorization=auth,
    )

    assert as_admin.json()["scope"] == "read:gists admin:server"
    assert as_other.json()["scope"] == "read:gists"


def test_subject_mode_subject_maps_to_ema_and_the_raw_sub(make_enterprise: Any) -> None:
    ent = make_enterprise(EMA_SUBJECT_MODE="subject")

    token = ent.trade(ent.mint()).json()["access_token"]

    assert claims_of(token)["sub"] == f"ema|{ENTERPRISE_USER}"


def test_a_github_shaped_subject_stays_an_enterprise_subject(enterprise: Enterprise) -> None:
    token = enterprise.trade(enterprise.mint(sub="github|583231")).json()["access_token"]

    sub = claims_of(token)["sub"]
    assert sub.startswith("ema|")
    assert not sub.startswith("github|")


def test_refresh_tokens_when_the_operator_allows_them(make_enterprise: Any) -> None:
    ent = make_enterprise(EMA_REFRESH_TOKENS="true")
    refreshing = register_enterprise_client(ent.flow, grant_types=[JWT_BEARER, "refresh_token"])
    auth = basic(refreshing["client_id"], refreshing["client_secret"])

    first = ent.trade(ent.mint(client_id=refreshing["client_id"]), authorization=auth).json()
    again = ent.flow.api.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers={"Authorization": auth},
    )
    plain = ent.trade(ent.mint()).json()  # a client not registered for refresh_token

    assert again.status_code == 200, again.text
    assert claims_of(again.json()["access_token"])["sub"].startswith("ema|")
    assert "refresh_token" not in plain


def test_the_idjag_lifetime_may_be_set_up_to_the_configured_maximum(
    make_enterprise: Any,
) -> None:
    ent = make_enterprise(EMA_MAX_ASSERTION_LIFETIME="900")

    assert ent.trade(ent.mint(lifetime=900)).status_code == 200
    assert "at most 900 seconds" in refused(ent.trade(ent.mint(lifetime=1200)))


# -- every assertion failure is invalid_grant, precisely -----------------------------------


def _wrong_typ(ent: Enterprise) -> str:
    return ent.mint(headers={"typ": "JWT"})


def _no_typ(ent: Enterprise) -> str:
    return ent.mint(headers={"typ": None})


def _unknown_issuer(ent: Enterprise) -> str:
    return ent.mint(iss="https://idp.attacker.example")


def _bad_signature(ent: Enterprise) -> str:
    head, _body, sig = ent.mint().split(".")
    forged = ent.mint(sub="someone-else").split(".")[1]
    return f"{head}.{forged}.{sig}"


def _wrong_aud(ent: Enterprise) -> str:
    return ent.mint(audience=ent.stack.base + "/")


def _aud_list_with_another(ent: Enterprise) -> str:
    return ent.mint(aud=[ent.stack.base, "https://other.example"])


def _wrong_resource(ent: Enterprise) -> str:
    return ent.mint(resource=ent.stack.base + "/other")


def _other_client(ent: Enterprise) -> str:
    return ent.mint(client_id="someone-elses-client")


def _expired(ent: Enterprise) -> str:
    now = int(time.time())
    return ent.mint(iat=now - 400, exp=now - 120)


def _issued_in_future(ent: Enterprise) -> str:
    now = int(time.time())
    return ent.mint(iat=now + 600, exp=now + 700)


def _not_before(ent: Enterprise) -> str:
    return ent.mint(nbf=int(time.time()) + 600)


def _too_long(ent: Enterprise) -> str:
    return ent.mint(lifetime=3600)


def _no_jti(ent: Enterprise) -> str:
    return ent.mint(jti=None)


def _no_iat(ent: Enterprise) -> str:
    return ent.mint(iat=None)


def _string_exp(ent: Enterprise) -> str:
    return ent.mint(exp=str(int(time.time()) + 60))


def _scope_list(ent: Enterprise) -> str:
    return ent.mint(scope=["read:gists"])


def _control_chars_in_sub(ent: Enterprise) -> str:
    return ent.mint(sub="alice\nadmin")


def _embedded_jwk(ent: Enterprise) -> str:
    return ent.mint(headers={"jwk": ent.idp.jwks()["keys"][0]})


def _hs256(ent: Enterprise) -> str:
    return pyjwt.encode(
        {"iss": ent.idp.issuer}, "k" * 32, algorithm="HS256", headers={"typ": "oauth-id-jag+jwt"}
    )


FAILURES = {
    "wrong typ": (_wrong_typ, "typ"),
    "no typ": (_no_typ, "typ"),
    "HS256": (_hs256, "algorithm"),
    "embedded jwk": (_embedded_jwk, "header"),
    "unknown issuer": (_unknown_issuer, "issuer is not a trusted"),
    "bad signature": (_bad_signature, "signature"),
    "wrong aud": (_wrong_aud, "aud"),
    "aud naming another": (_aud_list_with_another, "aud"),
    "wrong resource": (_wrong_resource, "resource"),
    "another client": (_other_client, "another client"),
    "expired": (_expired, "expired"),
    "issued in the future": (_issued_in_future, "not valid yet"),
    "nbf in the future": (_not_before, "not valid yet"),
    "lives too long": (_too_long, "at most 300 seconds"),
    "no jti": (_no_jti, "jti"),
    "no iat": (_no_iat, "iat"),
    "string exp": (_string_exp, "numeric exp"),
    "scope not a string": (_scope_list, "scope"),
    "control characters in sub": (_control_chars_in_sub, "sub"),
}


@pytest.mark.parametrize("case", FAILURES)
def test_each_assertion_failure_is_invalid_grant_naming_the_check(
    enterprise: Enterprise, case: str
) -> None:
    make, words = FAILURES[case]
    assertion = make(enterprise)

    description = refused(enterprise.trade(assertion))

    assert words in description, description
    assert assertion not in description
    assert ENTERPRISE_USER not in description


def test_a_replayed_id_jag_is_refused(enterprise: Enterprise) -> None:
    assertion = enterprise.mint()
    assert enterprise.trade(assertion).status_code == 200

    assert "used already" in refused(enterprise.trade(assertion))


def test_a_failed_trade_does_not_spend_the_id_jag(enterprise: Enterprise) -> None:
    """Only an assertion that earned a token is remembered: asking too much scope first
    leaves it usable."""
    assertion = enterprise.mint(scope="read:gists")
    refused(enterprise.trade(assertion, scope="write:gists"), "invalid_scope")

    assert enterprise.trade(assertion).status_code == 200


def test_the_same_jti_from_another_trusted_issuer_is_not_a_replay(
    make_oauth_stack: Any, enterprise_idp: Any
) -> None:
    from gistgate_dev.local.enterprise_idp import EnterpriseIdp

    from tests.fixtures.oauth_stack import Flow

    second = EnterpriseIdp().start()
    try:
        stack = make_oauth_stack(
            EMA_TRUSTED_ISSUERS=f"{enterprise_idp.issuer},{second.issuer}",
            OAUTH_INITIAL_ACCESS_TOKEN=OPERATOR_IAT,
        )
        flow = Flow(stack)
        client = register_enterprise_client(flow)
        auth = basic(client["client_id"], client["client_secret"])
        fields = {
            "sub": ENTERPRISE_USER,
            "client_id": client["client_id"],
            "audience": stack.base,
            "resource": stack.mcp_url,
            "jti": "shared-jti-1",
        }
        answers = [
            flow.api.post(
                "/oauth/token",
                data={"grant_type": JWT_BEARER, "assertion": idp.mint(**fields)},
                headers={"Authorization": auth},
            )
            for idp in (enterprise_idp, second)
        ]
        subs = {claims_of(a.json()["access_token"])["sub"] for a in answers}
    finally:
        second.stop()

    assert [a.status_code for a in answers] == [200, 200]
    assert len(subs) == 2  # one user name at two IdPs: two people


def test_a_rotated_idp_key_is_picked_up_through_the_jwks_cache(enterprise: Enterprise) -> None:
    assert enterprise.trade(enterprise.mint()).status_code == 200
    fetches = enterprise.idp.jwks_fetches

    enterprise.idp.rotate()
    response = enterprise.trade(enterprise.mint())

    assert response.status_code == 200, response.text
    assert enterprise.idp.jwks_fetches == fetches + 1  # one refetch, for the unknown kid


def test_an_unreachable_idp_is_temporarily_unavailable_never_a_token(
    make_oauth_stack: Any,
) -> None:
    from gistgate_dev.local.enterprise_idp import EnterpriseIdp

    from tests.fixtures.oauth_stack import Flow

    idp = EnterpriseIdp().start()
    stack = make_oauth_stack(
        EMA_TRUSTED_ISSUERS=idp.issuer, OAUTH_INITIAL_ACCESS_TOKEN=OPERATOR_IAT
    )
    flow = Flow(stack)
    client = register_enterprise_client(flow)
    assertion = idp.mint(
        sub=ENTERPRISE_USER,
        client_id=client["client_id"],
        audience=stack.base,
        resource=stack.mcp_url,
    )
    idp.stop()  # its metadata and keys are gone before the first trade

    response = flow.api.post(
        "/oauth/token",
        data={"grant_type": JWT_BEARER, "assertion": assertion},
        headers={"Authorization": basic(client["client_id"], client["client_secret"])},
    )

    assert response.status_code == 503, response.text
    assert response.json()["error"] == "temporarily_unavailable"
    assert response.headers["retry-after"] == "10"
    assert "access_token" not in response.text


def test_configured_jwks_uri_is_used_instead_of_discovery(
    make_enterprise: Any, enterprise_idp: Any
) -> None:
    ent = make_enterprise(EMA_JWKS_URIS=f"{enterprise_idp.issuer}/jwks")

    assert ent.trade(ent.mint()).status_code == 200


# -- client authentication and who may use the grant ----------------------------------------


def test_client_authentication_failures_are_invalid_client(enterprise: Enterprise) -> None:
    response = enterprise.trade(
        enterprise.mint(), authorization=basic(enterprise.client_id, "wrong-secret")
    )

    assert refused(response, "invalid_client")
    assert response.status_code == 401


def test_a_client_not_registered_for_the_grant_is_unauthorized_client(
    enterprise: Enterprise,
) -> None:
    machine = enterprise.flow.register_as_operator(
        OPERATOR_IAT,
        client_name="machine",
        grant_types=["client_credentials"],
        token_endpoint_auth_method="client_secret_basic",
    )
    response = enterprise.trade(
        enterprise.mint(client_id=machine["client_id"]),
        authorization=basic(machine["client_id"], machine["client_secret"]),
    )

    refused(response, "unauthorized_client")


def test_registering_the_grant_needs_the_operator_and_a_confidential_client(
    enterprise: Enterprise,
) -> None:
    api = enterprise.flow.api
    body = {"client_name": "x", "grant_types": [JWT_BEARER]}
    anonymous = api.post(
        "/oauth/register", json={**body, "token_endpoint_auth_method": "client_secret_basic"}
    )
    public = api.post(
        "/oauth/register",
        json={**body, "token_endpoint_auth_method": "none"},
        headers={"Authorization": f"Bearer {OPERATOR_IAT}"},
    )

    assert anonymous.status_code == 400
    assert "initial access token" in anonymous.text
    assert public.status_code == 400
    assert "confidential" in public.text


def test_without_trusted_issuers_the_grant_is_not_served(oauth_stack: Any) -> None:
    from tests.fixtures.oauth_stack import Flow

    flow = Flow(oauth_stack)
    token = flow.api.post("/oauth/token", data={"grant_type": JWT_BEARER, "assertion": "a.b.c"})
    register = flow.api.post(
        "/oauth/register",
        json={"grant_types": [JWT_BEARER], "token_endpoint_auth_method": "client_secret_basic"},
    )

    metadata = flow.api.get("/.well-known/oauth-authorization-server").json()
    assert token.status_code == 400
    assert token.json()["error"] == "unsupported_grant_type"
    assert JWT_BEARER not in metadata["grant_types_supported"]
    assert register.status_code == 400
    assert "EMA_TRUSTED_ISSUERS" in register.text


def test_a_missing_assertion_is_invalid_request(enterprise: Enterprise) -> None:
    refused(enterprise.trade(None), "invalid_request")


# -- discovery ---------------------------------------------------------------------------------


def test_metadata_lists_the_grant(enterprise: Enterprise) -> None:
    path = "/.well-known/oauth-authorization-server"

    assert JWT_BEARER in enterprise.flow.api.get(path).json()["grant_types_supported"]


def test_server_discover_advertises_the_extension(enterprise: Enterprise) -> None:
    ema = "io.modelcontextprotocol/enterprise-managed-authorization"
    from tests.fixtures.dev_clients import capabilities

    token = enterprise.trade(enterprise.mint()).json()["access_token"]

    assert capabilities(enterprise.stack.base, token)["extensions"] == {ema: {}}


# -- account linking: an enterprise user's GitHub connect link ---------------------------------


@pytest.fixture
def linked(make_oauth_stack: Any, enterprise_idp: Any) -> Enterprise:
    """The enterprise IdP is also gistgate's sign-in (UPSTREAM_IDP=oidc at that issuer)."""
    from tests.fixtures.oauth_stack import Flow

    client_id, secret = enterprise_idp.add_login_client()
    stack = make_oauth_stack(
        EMA_TRUSTED_ISSUERS=enterprise_idp.issuer,
        OAUTH_INITIAL_ACCESS_TOKEN=OPERATOR_IAT,
        UPSTREAM_IDP="oidc",
        UPSTREAM_OIDC_ISSUER=enterprise_idp.issuer,
        UPSTREAM_OIDC_CLIENT_ID=client_id,
        UPSTREAM_OIDC_CLIENT_SECRET=secret,
        GITHUB_CREDENTIALS="delegated",
    )
    flow = Flow(stack)
    return Enterprise(stack, enterprise_idp, flow, register_enterprise_client(flow))


def _connect_link(ent: Enterprise) -> str:
    token = ent.trade(ent.mint()).json()["access_token"]
    answer = ent.flow.mcp(token, params={"name": "connect_github", "arguments": {}})
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert not result.get("isError"), result
    url = result["structuredContent"]["url"]
    assert url.startswith(ent.stack.base + "/oauth/github/connect?ticket=")
    return str(url)


def _vault_login(ent: Enterprise, sub: str) -> str | None:
    from gistgate.storage.vault import TokenVault

    grant = TokenVault(ent.stack.aws.table, ent.stack.aws.token_key).get(sub)
    return grant.login if grant else None


def test_an_enterprise_user_connects_github_after_signing_in_at_their_idp(
    linked: Enterprise,
) -> None:
    from tests.fixtures.oauth_stack import Browser

    subject = f"ema|{issuer_id(linked.idp.issuer)}|{ENTERPRISE_USER}"
    linked.idp.login_subject = ENTERPRISE_USER  # the link's owner opens it
    url = _connect_link(linked)

    page = Browser().follow(url, until="never")

    assert page.status_code == 200, page.text
    assert linked.idp.authorize_requests, "the sign-in at the enterprise IdP came first"
    assert _vault_login(linked, subject) == "alice"  # the fake GitHub's signed-in user


def test_an_enterprise_link_opened_by_another_employee_links_nothing(
    linked: Enterprise, log_output: Any
) -> None:
    from tests.fixtures.oauth_stack import Browser

    subject = f"ema|{issuer_id(linked.idp.issuer)}|{ENTERPRISE_USER}"
    url = _connect_link(linked)
    linked.idp.login_subject = "00u-mallory"  # someone else opens the stolen link

    page = Browser().follow(url, until="never")

    assert page.status_code == 403, page.text
    assert linked.stack.github.count("GET", "/login/oauth/authorize") == 0
    assert _vault_login(linked, subject) is None
    assert '"identity_mismatch"' in log_output.getvalue()


# -- the audit trail -----------------------------------------------------------------------------


def _lines(log_output: Any, message: str) -> list[dict[str, Any]]:
    import json

    lines = [json.loads(x) for x in log_output.getvalue().splitlines() if x.startswith("{")]
    return [line for line in lines if line.get("message") == message]


def test_each_trade_is_one_audit_line_and_an_enterprise_grants_count(
    enterprise: Enterprise, log_output: Any
) -> None:
    assertion = enterprise.mint()
    enterprise.trade(assertion)
    enterprise.trade(assertion)  # the replay

    accepted = _lines(log_output, "ID-JAG accepted")
    rejected = _lines(log_output, "ID-JAG rejected")

    assert len(accepted) == 1
    assert accepted[0]["sub"] == f"ema|{issuer_id(enterprise.idp.issuer)}|{ENTERPRISE_USER}"
    assert accepted[0]["client_id"] == enterprise.client_id
    assert accepted[0]["outcome"] == "issued"
    assert [line["reason"] for line in rejected] == ["replayed"]
    for line in (*accepted, *rejected):
        directive = line["_aws"]["CloudWatchMetrics"][0]
        assert directive["Metrics"] == [{"Name": "EnterpriseGrants", "Unit": "Count"}]
        assert line["EnterpriseGrants"] == [1.0]
    assert assertion not in log_output.getvalue()
