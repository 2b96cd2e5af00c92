"""functions/wellknown/app.py (and gistgate/oauth/wellknown.py) through the real Lambda handler,
with an external issuer served over HTTP on loopback. Builtin mode is
tests/unit/oauth/test_wellknown.py."""

from __future__ import annotations

import pytest

from tests.fixtures.tokens import RESOURCE
from tests.fixtures.wellknown import AS_METADATA, OIDC_METADATA, ORIGIN, PRM_MCP, body, headers


@pytest.fixture
def jwt_mode(wellknown, idp):
    return wellknown({"AUTH_MODE": "jwt", "OAUTH_ISSUER": idp.issuer})


def test_prm_in_jwt_mode_lists_the_configured_issuers(wellknown, idp):
    call = wellknown(
        {
            "AUTH_MODE": "jwt",
            "OAUTH_ISSUER": f"{idp.issuer},https://login.example.org/tenant",
            "OAUTH_JWKS_URI": idp.jwks_uri,
        }
    )

    document = body(call(PRM_MCP))

    assert document["authorization_servers"] == [idp.issuer, "https://login.example.org/tenant"]
    assert document["resource"] == RESOURCE


def test_errors_carry_cors_too(builtin, jwt_mode, idp):
    idp.server.expect_request(AS_METADATA).respond_with_data("down", status=500)
    idp.server.expect_request(OIDC_METADATA).respond_with_data("down", status=500)

    for response in (
        jwt_mode("/.well-known/jwks.json", headers={"Origin": ORIGIN}),
        jwt_mode(AS_METADATA, headers={"Origin": ORIGIN}),
    ):
        assert response["statusCode"] in (404, 502)
        assert "access-control-allow-origin" in headers(response)
        assert "WWW-Authenticate" in headers(response)["access-control-expose-headers"]


def test_jwks_is_not_served_for_an_external_issuer(jwt_mode):
    response = jwt_mode("/.well-known/jwks.json")

    assert response["statusCode"] == 404
    assert body(response)["error"] == "not_found"
    assert headers(response)["cache-control"] == "no-store"


def test_jwt_mode_passes_the_idp_metadata_through_and_caches_it(jwt_mode, idp):
    metadata = {
        "issuer": idp.issuer,
        "authorization_endpoint": f"{idp.issuer}/authorize",
        "token_endpoint": f"{idp.issuer}/token",
        "jwks_uri": idp.jwks_uri,
        "code_challenge_methods_supported": ["S256"],
    }
    idp.serve_metadata(AS_METADATA, metadata)

    first = jwt_mode(AS_METADATA)
    second = jwt_mode(AS_METADATA)

    assert first["statusCode"] == second["statusCode"] == 200
    assert body(first) == body(second) == metadata
    assert body(first)["issuer"] == idp.issuer
    assert headers(first)["cache-control"] == "public, max-age=3600"
    assert idp.hits(AS_METADATA) == 1


def test_jwt_mode_serves_metadata_on_the_oidc_path_too(jwt_mode, idp):
    idp.serve_metadata(AS_METADATA, {"issuer": idp.issuer, "jwks_uri": idp.jwks_uri})

    response = jwt_mode(OIDC_METADATA)

    assert response["statusCode"] == 200
    assert body(response)["issuer"] == idp.issuer


def test_jwt_mode_with_the_idp_down_is_a_502(jwt_mode, idp):
    for path in (AS_METADATA, OIDC_METADATA):
        idp.server.expect_request(path).respond_with_data("down", status=500)

    response = jwt_mode(AS_METADATA)

    assert response["statusCode"] == 502
    assert headers(response)["content-type"] == "application/json"
    assert headers(response)["cache-control"] == "no-store"
    document = body(response)
    assert document["error"] == "temporarily_unavailable"
    assert "http_status" in document["error_description"]
