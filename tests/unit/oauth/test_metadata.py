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
