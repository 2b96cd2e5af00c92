"""gistgate/mcp/server.py: the SEP-2133 extensions a deployment advertises."""

from __future__ import annotations

from gistgate.core.config import load_settings
from gistgate.mcp.server import ENTERPRISE_AUTH, extensions


def test_enterprise_managed_authorization_is_advertised_only_with_a_trusted_idp() -> None:
    assert extensions(load_settings({})) == {}
    assert extensions(load_settings({"EMA_TRUSTED_ISSUERS": "https://idp.example"})) == {
        ENTERPRISE_AUTH: {}
    }
    assert ENTERPRISE_AUTH == "io.modelcontextprotocol/enterprise-managed-authorization"
