"""RFC 8414 authorization-server metadata for the builtin facade.

The issuer is the deployment's base URL (with the stage path on the default
execute-api URL), so every endpoint is derived from it. The same document is
served at ``/.well-known/oauth-authorization-server`` and at
``/.well-known/openid-configuration``: on a stage-path issuer the latter is
the only discovery URL a client can reach (RFC 8414's path-inserted form
would sit at the host root, which API Gateway's default domain cannot serve).
"""

from __future__ import annotations

from typing import Any

from gistgate.core.config import Settings
from gistgate.oauth import scopes
from gistgate.tokens.trust import BUILTIN_JWKS_PATH

# What oauth/clients.py accepts (AUTH_METHODS) and oauth/client_keys.py verifies
# (ALGORITHMS), restated so the well-known function does not import the client code;
# tests/unit/oauth/test_metadata.py holds them equal.
AUTH_METHODS = ("none", "client_secret_post", "client_secret_basic", "private_key_jwt")
ALGORITHMS = ("RS256", "PS256", "ES256")
# The ID-JAG grant (RFC 7523 §2.1; oauth/clients.py JWT_BEARER), served only when an
# enterprise IdP is trusted.
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

__all__ = ["ALGORITHMS", "AUTH_METHODS", "JWT_BEARER", "authorization_server_metadata"]


def authorization_server_metadata(settings: Settings, issuer: str) -> dict[str, Any]:
    """Every field the MCP authorization spec expects of an authorization server."""
    document: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "registration_endpoint": f"{issuer}/oauth/register",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "jwks_uri": issuer + BUILTIN_JWKS_PATH,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        # none first: public clients (CIMD, native apps) are first-class; private_key_jwt
        # for clients with keys (ChatGPT's metadata document, machine clients).
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "scopes_supported": list(scopes.supported(settings)),
        "authorization_response_iss_parameter_supported": True,
        "service_documentation": settings.resource_documentation,
        # Extension members (RFC 8414 §2 allows more): how long a session lasts, so a
        # client or an operator can see it without reading the deployment.
        "access_token_lifetime": settings.access_token_ttl,
        "refresh_token_idle_lifetime": settings.refresh_token_ttl,
        "refresh_token_max_lifetime": settings.refresh_token_max_lifetime,
    }
    if settings.ema_trusted_issuers:
        # Enterprise-managed authorization: clients trade an ID-JAG here (no browser).
        document["grant_types_supported"].append(JWT_BEARER)
    if settings.cimd_enabled:
        document["client_id_metadata_document_supported"] = True
    return {k: v for k, v in document.items() if v is not None}
