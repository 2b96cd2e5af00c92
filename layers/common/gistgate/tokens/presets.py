"""IdP presets: where each identity provider puts the audience, scopes and client.

A preset is data, not a fork of the validator. ``required_values`` are claims
that must hold an exact value (Cognito marks access tokens ``token_use=access``,
which is what tells them apart from its ID tokens).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["IdpPreset", "get_preset"]


class IdpPreset(NamedTuple):
    """The claim mapping of one identity provider."""

    name: str
    audience_claim: str = "aud"
    scope_claims: tuple[str, ...] = ("scope",)
    client_id_claims: tuple[str, ...] = ("client_id", "azp")
    required_values: tuple[tuple[str, str], ...] = ()


PRESETS: dict[str, IdpPreset] = {
    # RFC 9068 tokens carry `scope`; some servers use `scp`.
    "generic": IdpPreset("generic", scope_claims=("scope", "scp")),
    # Cognito access tokens have no `aud`: the app client id is in `client_id`.
    "cognito": IdpPreset(
        "cognito",
        audience_claim="client_id",
        client_id_claims=("client_id",),
        required_values=(("token_use", "access"),),
    ),
    # Auth0 puts RBAC permissions in `permissions` next to `scope`.
    "auth0": IdpPreset(
        "auth0", scope_claims=("scope", "permissions"), client_id_claims=("azp", "client_id")
    ),
    # Okta: `scp` is a list, the client is `cid`.
    "okta": IdpPreset("okta", scope_claims=("scp",), client_id_claims=("cid", "client_id")),
    # Entra ID: delegated scopes in `scp`, application permissions in `roles`.
    "entra": IdpPreset("entra", scope_claims=("scp", "roles"), client_id_claims=("azp", "appid")),
    # Keycloak: the client is the authorized party, `azp`.
    "keycloak": IdpPreset(
        "keycloak", scope_claims=("scope",), client_id_claims=("azp", "client_id")
    ),
}


def get_preset(name: str) -> IdpPreset:
    """The preset called ``name`` (settings have already validated it)."""
    return PRESETS[name]
