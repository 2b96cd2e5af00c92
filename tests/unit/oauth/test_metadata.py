"""gistgate/oauth/metadata.py: the token lifetimes a client or an operator can read."""

from __future__ import annotations

from gistgate.core.config import load_settings
from gistgate.oauth.metadata import authorization_server_metadata


def test_the_metadata_shows_every_token_lifetime() -> None:
    settings = load_settings(
        {
            "ACCESS_TOKEN_TTL": "900",
            "REFRESH_TOKEN_TTL": "86400",
            "REFRESH_TOKEN_MAX_LIFETIME": "604800",
        }
    )
    document = authorization_server_metadata(settings, "https://as.example")
    assert document["access_token_lifetime"] == 900
    assert document["refresh_token_idle_lifetime"] == 86400
    assert document["refresh_token_max_lifetime"] == 604800


def test_the_advertised_client_auth_is_what_the_server_accepts() -> None:
    from gistgate.oauth import client_keys, clients, metadata

    document = authorization_server_metadata(load_settings({}), "https://as.example")
    assert tuple(document["token_endpoint_auth_methods_supported"]) == clients.AUTH_METHODS
    assert document["token_endpoint_auth_methods_supported"][0] == "none"  # first-class
    assert "private_key_jwt" in document["revocation_endpoint_auth_methods_supported"]
    assert set(document["token_endpoint_auth_signing_alg_values_supported"]) == set(
        client_keys.ALGORITHMS
    )
    assert metadata.ALGORITHMS == client_keys.ALGORITHMS
    assert document["client_id_metadata_document_supported"] is True


def test_the_advertised_grants_are_what_the_token_endpoint_serves() -> None:
    from gistgate.oauth import clients, metadata
    from gistgate.oauth.token_endpoint import grant_types

    plain = load_settings({})
    enterprise = load_settings({"EMA_TRUSTED_ISSUERS": "https://idp.example"})
    for settings in (plain, enterprise):
        document = authorization_server_metadata(settings, "https://as.example")
        assert tuple(document["grant_types_supported"]) == grant_types(settings)
    assert metadata.JWT_BEARER == clients.JWT_BEARER
    assert clients.JWT_BEARER in grant_types(enterprise)
    assert clients.JWT_BEARER not in grant_types(plain)
