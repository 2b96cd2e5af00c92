"""The builtin authorization server, driven end to end by the MCP Python SDK's
OAuthClientProvider over real HTTP through the local gateway: 401 challenge →
PRM → AS metadata → DCR → PKCE authorize → fake GitHub login → consent → token →
whoami (github|<id>, delegated) → refresh."""

from __future__ import annotations

import time

import anyio
import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.fixtures.mcp_client import structured
from tests.fixtures.oauth_stack import (
    ALICE_GITHUB_ID,
    ALICE_GITHUB_TOKEN,
    Browser,
    MemoryTokens,
    sdk_provider,
)


async def _call(stack, provider, tool: str, arguments: dict | None = None):
    async with (
        httpx2.AsyncClient(auth=provider, timeout=20) as http,
        streamable_http_client(stack.mcp_url, http_client=http, terminate_on_close=False) as (
            read,
            write,
        ),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        return await session.call_tool(tool, arguments or {})


def test_sdk_client_connects_with_no_manual_token(oauth_stack):
    stack = oauth_stack
    with stack.http() as http:
        challenge = http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert challenge.status_code == 401
    assert (
        f'resource_metadata="{stack.base}/.well-known/oauth-protected-resource/mcp"'
        in (challenge.headers["www-authenticate"])
    )

    browser, storage = Browser(), MemoryTokens()
    provider = sdk_provider(stack.mcp_url, browser, storage)
    result = anyio.run(_call, stack, provider, "whoami")
    assert not result.is_error, result
    who = structured(result)
    assert who["sub"] == f"github|{ALICE_GITHUB_ID}"
    assert who["credential"] == "delegated"
    assert who["github_connected"] is True
    assert who["github_login"] == "alice"
    assert who["client_id"] == storage.client.client_id

    # The flow went through discovery, DCR, our authorize, GitHub and the consent page.
    assert storage.client is not None
    assert storage.client.client_id
    assert any("/login/oauth/authorize" in url for url in browser.visited)
    assert len(browser.pages) == 1
    assert "SDK test client" in browser.pages[0]
    # The GitHub token from the login is in the vault, not the MCP token.
    assert storage.tokens.access_token.count(".") == 2
    assert ALICE_GITHUB_TOKEN not in storage.tokens.access_token

    # Refresh: an expired access token is renewed with the rotated refresh token.
    first_refresh = storage.tokens.refresh_token
    provider.context.token_expiry_time = time.time() - 1
    again = anyio.run(_call, stack, provider, "whoami")
    assert not again.is_error
    assert storage.tokens.refresh_token != first_refresh
