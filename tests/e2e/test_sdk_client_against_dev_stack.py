"""End to end against ``make dev``'s stack over real HTTP: the MCP Python SDK client with
OAuthClientProvider logs in through the builtin server (fake GitHub login, consent
submitted by the test), then uses every gist tool, refreshes, and is revoked."""

from __future__ import annotations

import time

import anyio
import httpx

from tests.fixtures.mcp_client import structured
from tests.fixtures.oauth_stack import Browser, MemoryTokens, sdk_provider, sdk_session


def test_sdk_client_full_flow_and_every_gist_tool(dev_stack):
    mcp_url = dev_stack.base_url + "/mcp"
    challenge = httpx.post(mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert challenge.status_code == 401
    assert "resource_metadata=" in challenge.headers["www-authenticate"]

    browser, storage = Browser(), MemoryTokens()
    provider = sdk_provider(mcp_url, browser, storage)

    async def work(session):
        results = {}
        results["whoami"] = structured(await session.call_tool("whoami", {}))
        made = structured(
            await session.call_tool(
                "create_gist", {"description": "e2e", "files": {"e2e.txt": "hello"}}
            )
        )
        results["create"] = made
        results["list"] = structured(await session.call_tool("list_gists", {"limit": 10}))
        results["get"] = structured(await session.call_tool("get_gist", {"gist_id": made["id"]}))
        results["update"] = structured(
            await session.call_tool(
                "update_gist",
                {"gist_id": made["id"], "files": {"e2e.txt": "changed", "more.txt": "new"}},
            )
        )
        results["get2"] = structured(await session.call_tool("get_gist", {"gist_id": made["id"]}))
        results["delete"] = structured(
            await session.call_tool("delete_gist", {"gist_id": made["id"]})
        )
        gone = await session.call_tool("get_gist", {"gist_id": made["id"]})
        results["gone"] = gone.is_error
        return results

    results = anyio.run(sdk_session, mcp_url, provider, work)
    who = results["whoami"]
    assert who["sub"] == "github|583231"  # the fake GitHub's dev user, octocat
    assert who["credential"] == "delegated"
    assert who["github_login"] == "octocat"
    gist_id = results["create"]["id"]
    assert results["create"]["credential"] == "delegated"
    assert gist_id in [g["id"] for g in results["list"]["gists"]]
    assert results["get"]["files"]["e2e.txt"]["content"] == "hello"
    updated = results["get2"]["files"]
    assert updated["e2e.txt"]["content"] == "changed"
    assert updated["more.txt"]["content"] == "new"
    assert results["gone"] is True
    assert gist_id not in dev_stack.github.gists
    assert len(browser.pages) == 1  # one consent page

    # Refresh: the access token has expired; the SDK rotates the refresh token.
    first_refresh = storage.tokens.refresh_token
    provider.context.token_expiry_time = time.time() - 1

    async def whoami(session):
        return structured(await session.call_tool("whoami", {}))

    assert anyio.run(sdk_session, mcp_url, provider, whoami)["sub"] == "github|583231"
    latest = storage.tokens.refresh_token
    assert latest != first_refresh

    # Revocation (RFC 7009): the refresh token's family ends.
    client_id = storage.client.client_id
    revoked = httpx.post(
        dev_stack.base_url + "/oauth/revoke", data={"token": latest, "client_id": client_id}
    )
    assert revoked.status_code == 200
    refresh = httpx.post(
        dev_stack.base_url + "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": latest, "client_id": client_id},
    )
    assert refresh.status_code == 400
    assert refresh.json()["error"] == "invalid_grant"
