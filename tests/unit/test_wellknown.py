"""functions/wellknown/app.py (and gistgate/oauth/wellknown.py) through the real Lambda handler."""

from __future__ import annotations

import json

import pytest

from tests.conftest import load_handler
from tests.fixtures.events import proxy_event
from tests.fixtures.tokens import BASE_URL, RESOURCE

PRM = "/.well-known/oauth-protected-resource"
PRM_MCP = "/.well-known/oauth-protected-resource/mcp"
AS_METADATA = "/.well-known/oauth-authorization-server"
OIDC_METADATA = "/.well-known/openid-configuration"
ORIGIN = "https://inspector.example.com"

# Every variable the function reads, cleared so the host environment cannot leak in.
SETTINGS_VARIABLES = (
    "AUTH_MODE",
    "OAUTH_ISSUER",
    "OAUTH_JWKS_URI",
    "OAUTH_AUDIENCE",
    "OAUTH_ALGORITHMS",
    "OAUTH_REQUIRED_SCOPES",
    "OAUTH_TOKEN_TYPE",
    "OAUTH_IDP_PRESET",
    "OAUTH_INTROSPECTION_URL",
    "OAUTH_INTROSPECTION_CLIENT_ID",
    "OAUTH_INTROSPECTION_SECRET_ARN",
    "OAUTH_INTROSPECTION_CLIENT_SECRET",
    "PUBLIC_BASE_URL",
    "SCOPE_READ",
    "SCOPE_WRITE",
    "SCOPE_ADMIN",
    "RESOURCE_NAME",
    "RESOURCE_DOCUMENTATION",
    "OAUTH_MAX_TOKEN_BYTES",
    "OAUTH_LEEWAY_SECONDS",
)


class LambdaContextStub:
    """What Powertools' inject_lambda_context reads from a Lambda context."""

    function_name = "gistgate-wellknown"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:gistgate-wellknown"
    aws_request_id = "7a3c2f0e-0000-4000-8000-000000000001"


class Function:
    """One cold-started copy of the function; call it with a path or a whole event."""

    def __init__(self, module):
        self.module = module

    def __call__(self, path, **event_kw):
        return self.invoke(proxy_event(path, **event_kw))

    def invoke(self, event):
        return self.module.handler(event, LambdaContextStub())


@pytest.fixture
def wellknown(monkeypatch):
    """Cold-start the function with ``env`` (and nothing from the host environment)."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def start(env):
        return Function(load_handler("wellknown", env, monkeypatch))

    return start


def headers(response):
    """Response headers, case-insensitively, from either API Gateway v1 shape."""
    found = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        found[key.lower()] = ",".join(values)
    return found


def body(response):
    return json.loads(response["body"])


@pytest.fixture
def builtin(wellknown):
    return wellknown({"AUTH_MODE": "builtin"})


@pytest.fixture
def jwt_mode(wellknown, idp):
    return wellknown({"AUTH_MODE": "jwt", "OAUTH_ISSUER": idp.issuer})


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
    }
    assert document["scopes_supported"] == ["read:gists", "write:gists", "admin:server"]
    assert document["client_id_metadata_document_supported"] is True
    assert document["authorization_response_iss_parameter_supported"] is True


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
