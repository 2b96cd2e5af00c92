"""gistgate/core/discovery.py without a network: the metadata URLs tried for an issuer,
in the order MCP clients use. Fetching and caching them is
tests/component/core/test_discovery.py."""

from __future__ import annotations

import pytest

from gistgate.core.discovery import metadata_urls


@pytest.mark.parametrize("issuer", ["https://auth.example.com", "https://auth.example.com/"])
def test_metadata_urls_for_a_root_issuer(issuer):
    assert metadata_urls(issuer) == [
        "https://auth.example.com/.well-known/oauth-authorization-server",
        "https://auth.example.com/.well-known/openid-configuration",
    ]


@pytest.mark.parametrize(
    "issuer", ["https://auth.example.com/tenant/v2", "https://auth.example.com/tenant/v2/"]
)
def test_metadata_urls_for_a_path_issuer_in_mcp_order(issuer):
    assert metadata_urls(issuer) == [
        "https://auth.example.com/.well-known/oauth-authorization-server/tenant/v2",
        "https://auth.example.com/.well-known/openid-configuration/tenant/v2",
        "https://auth.example.com/tenant/v2/.well-known/openid-configuration",
    ]


def test_metadata_urls_keep_the_port_and_drop_query_and_fragment():
    assert metadata_urls("http://127.0.0.1:8080/realms/dev?x=1#f") == [
        "http://127.0.0.1:8080/.well-known/oauth-authorization-server/realms/dev",
        "http://127.0.0.1:8080/.well-known/openid-configuration/realms/dev",
        "http://127.0.0.1:8080/realms/dev/.well-known/openid-configuration",
    ]
