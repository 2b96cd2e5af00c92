"""functions/wellknown/app.py (and gistgate/oauth/wellknown.py) through the real Lambda
handler, in builtin mode: nothing to fetch. An external issuer (jwt mode, its metadata
over HTTP) is tests/component/oauth/test_wellknown.py."""

from __future__ import annotations

import pytest

from tests.fixtures.events import proxy_event
from tests.fixtures.tokens import BASE_URL, RESOURCE
from tests.fixtures.wellknown import AS_METADATA, OIDC_METADATA, ORIGIN, PRM, PRM_MCP, body, headers


@pytest.mark.parametrize("path", [PRM, PRM_MCP])
def test_prm_resource_is_the_mcp_url_from_the_event(builtin, path):
    response = builtin(path)

    assert response["statusCode"] == 200
    document = body(response)
    assert document["resource"] == RESOURCE
    assert document["resource"] == "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod/mcp"
    assert f'"resource": "{RESOURCE}"' in response["body"]
    assert headers(response)["content-type"] == "application/json"


def test_both_prm_paths_serve_the_same_document(builtin):
    assert builtin(PRM)["body"] == builtin(PRM_MCP)["body"]


@pytest.mark.parametrize(
    "configured", ["https://mcp.example.com/v1", "https://mcp.example.com/v1/"]
)
@pytest.mark.parametrize("path", [PRM, PRM_MCP])
def test_prm_resource_uses_public_base_url_when_set(wellknown, configured, path):
    call = wellknown({"AUTH_MODE": "builtin", "PUBLIC_BASE_URL": configured})

    document = body(call(path))

    assert document["resource"] == "https://mcp.example.com/v1/mcp"
    assert document["authorization_servers"] == ["https://mcp.example.com/v1"]


def test_prm_in_builtin_mode_names_this_deployment_as_authorization_server(builtin):
    document = body(builtin(PRM_MCP))

    assert document["authorization_servers"] == [BASE_URL]


def test_prm_advertises_scopes_bearer_methods_and_name(builtin):
    document = body(builtin(PRM_MCP))

    assert document["scopes_supported"] == ["read:gists", "write:gists"]
    assert document["bearer_methods_supported"] == ["header"]
    assert document["resource_name"] == "gistgate"
    assert "resource_documentation" not in document


def test_prm_follows_scope_name_and_documentation_settings(wellknown):
    call = wellknown(
        {
            "SCOPE_READ": "gists.read",
            "SCOPE_WRITE": "gists.write",
            "RESOURCE_NAME": "Team gists",
            "RESOURCE_DOCUMENTATION": "https://docs.example.com/gistgate",
        }
    )

    document = body(call(PRM_MCP))

    assert document["scopes_supported"] == ["gists.read", "gists.write"]
    assert document["resource_name"] == "Team gists"
    assert document["resource_documentation"] == "https://docs.example.com/gistgate"


def test_prm_is_cacheable(builtin):
    assert headers(builtin(PRM_MCP))["cache-control"] == "public, max-age=300"


def test_prm_has_cors_for_browser_clients(builtin):
    response = builtin(PRM_MCP, headers={"Origin": ORIGIN})

    found = headers(response)
    assert found["access-control-allow-origin"] in ("*", ORIGIN)
    exposed = [h.strip().lower() for h in found["access-control-expose-headers"].split(",")]
    assert "www-authenticate" in exposed


def test_cors_preflight_is_answered(builtin):
    response = builtin(
        PRM_MCP,
        method="OPTIONS",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
    )

    assert response["statusCode"] in (200, 204)
    assert "access-control-allow-origin" in headers(response)


def test_prm_on_loopback_is_http(wellknown):
    call = wellknown({})

    document = body(call(PRM_MCP, domain="localhost:3000"))

    assert document["resource"] == "http://localhost:3000/prod/mcp"


def test_request_without_a_host_is_a_400(builtin):
    event = proxy_event(PRM_MCP)
    event["requestContext"].pop("domainName")
    event["headers"].pop("Host")
    event["multiValueHeaders"].pop("Host")

    response = builtin.invoke(event)

    assert response["statusCode"] == 400
    assert body(response)["error"] == "invalid_request"


@pytest.mark.parametrize("path", [AS_METADATA, OIDC_METADATA])
def test_builtin_mode_serves_our_own_authorization_server_metadata(builtin, path):
    """RFC 8414 with every field the MCP spec lists; the issuer is the stage base URL."""
    response = builtin(path)

    assert response["statusCode"] == 200
    document = body(response)
    assert document["issuer"] == BASE_URL
    assert document["authorization_endpoint"] == f"{BASE_URL}/oauth/authorize"
    assert document["token_endpoint"] == f"{BASE_URL}/oauth/token"
    assert document["registration_endpoint"] == f"{BASE_URL}/oauth/register"
    assert document["revocation_endpoint"] == f"{BASE_URL}/oauth/revoke"
    assert document["jwks_uri"] == f"{BASE_URL}/.well-known/jwks.json"
    assert document["response_types_supported"] == ["code"]
    assert set(document["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
    }
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert set(document["token_endpoint_auth_methods_supported"]) == {
        "none",
        "client_secret_post",
        "client_secret_basic",
        "private_key_jwt",
    }
    assert document["scopes_supported"] == ["read:gists", "write:gists", "admin:server"]
    assert document["client_id_metadata_document_supported"] is True
    assert document["authorization_response_iss_parameter_supported"] is True
